/* tcpaudit - shards: the flow table split over worker threads.
 * All packets of one connection go to one worker (by a hash of the
 * unordered tuple); records come back in exactly the order a single
 * ta_flow_table would hand them on, so the report does not depend on the
 * number of threads. Used by the pipeline only when asked for threads. */
#ifndef TA_SHARD_H
#define TA_SHARD_H

#include <stddef.h>
#include <stdint.h>

#include "ta_flow.h"
#include "ta_report.h"

/* Receives each record in order, on the merging thread. text is what the
 * reporter's format_connection wrote for it (NULL when it has none). */
typedef void (*ta_shards_emit_fn)(void *ctx, const struct ta_conn *c,
                                  const char *text, size_t len);
/* Called on the merging thread after a batch's records, when it had some. */
typedef void (*ta_shards_batch_fn)(void *ctx);

struct ta_shards;

/* Starts `workers` (>= 1) worker threads and a merging thread. The flow
 * cap in cfg is shared out evenly between workers. rep and opts (may be
 * NULL) say how to format records on the workers; both must outlive the
 * shards. Returns NULL when memory or threads run out. */
struct ta_shards *ta_shards_new(unsigned workers,
                                const struct ta_flow_config *cfg,
                                const struct ta_reporter *rep,
                                const struct ta_report_opts *opts,
                                ta_shards_emit_fn emit,
                                ta_shards_batch_fn batch_done, void *ctx);
/* Queues one TCP packet (copied; its payload pointer is not kept). Blocks
 * while the workers are a few batches behind. Cannot fail. */
void ta_shards_packet(struct ta_shards *s, const struct ta_packet *pkt);
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
