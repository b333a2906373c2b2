/* tcpaudit - shards: the flow table split over threads.
 * All packets of one connection go to one shard (by a hash of the
 * unordered tuple); the reading thread holds one shard and each other runs
 * on a worker thread. Records come back in exactly the order a single
 * ta_flow_table would hand them on, so the report does not depend on the
 * number of threads. Used by the pipeline only when asked for threads. */
#ifndef TA_SHARD_H
#define TA_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "ta_flow.h"
#include "ta_report.h"

/* Receives each record in order, on one thread at a time but not always
 * the same (any shard's; each call happens after the one before it). text
 * is what the reporter's format_connection wrote for it (NULL when it has
 * none). */
typedef void (*ta_shards_emit_fn)(void *ctx, const struct ta_conn *c,
                                  const char *text, size_t len);
/* Called after a batch's records, when it had some, as emit is. */
typedef void (*ta_shards_batch_fn)(void *ctx);

struct ta_shards;

/* Splits the table into `workers` (>= 1) shards: one on the calling
 * thread, which must be the one that queues packets, and `workers` - 1 on
 * threads started here. The flow cap in cfg is shared out between shards
 * in proportion to their shares of connections. rep and opts (may be NULL)
 * say how to format records on every shard's thread; both must outlive the
 * shards. Records are merged and handed to emit while packets are queued
 * and when the shards finish. Returns NULL when memory or threads run
 * out. */
struct ta_shards *ta_shards_new(unsigned workers,
                                const struct ta_flow_config *cfg,
                                const struct ta_reporter *rep,
                                const struct ta_report_opts *opts,
                                ta_shards_emit_fn emit,
                                ta_shards_batch_fn batch_done, void *ctx);
/* Queues one TCP packet (copied; its payload pointer is not kept). Every
 * so many packets, tracks the calling thread's share of them and merges
 * what the workers are done with; waits while they are a few batches
 * behind. Cannot fail. */
void ta_shards_packet(struct ta_shards *s, const struct ta_packet *pkt);
/* The same without the copy: room is where the next packet may be decoded
 * (valid until the next commit, finish or free); commit queues what is
 * there, as ta_shards_packet would, and returns the room for the next
 * one. A packet left in the room uncommitted is not queued. */
struct ta_packet *ta_shards_room(struct ta_shards *s);
struct ta_packet *ta_shards_commit(struct ta_shards *s);
/* Ends the capture: every record still held is handed on, and all threads
 * are joined. Returns 0, or TA_ENOMEM when some record could not be kept
 * for merging (it is then missing from the report). */
int ta_shards_finish(struct ta_shards *s);
/* Counters as one table would have them (valid after ta_shards_finish). */
void ta_shards_stats(const struct ta_shards *s, struct ta_flow_stats *out);
/* Records handed on so far (any thread; for progress display). */
uint64_t ta_shards_emitted(const struct ta_shards *s);
/* Stops the threads if ta_shards_finish was not called (records still
 * held are then dropped unreported) and frees everything. */
void ta_shards_free(struct ta_shards *s);

#endif
