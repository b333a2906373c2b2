/* tcpaudit - flow table: TCP packets to bidirectional connection records.
 * Keyed on the unordered (family, addresses, ports) tuple with a per-run
 * seeded hash; bounded: records are handed on (emitted) as soon as they are
 * over, idle, or evicted to make room. Never reaches into reporters. */
#ifndef TA_FLOW_H
#define TA_FLOW_H

#include <stddef.h>
#include <stdint.h>

#include "ta_conn.h"
#include "ta_packet.h"
#include "ta_report.h"

struct ta_flow_config {
  uint32_t max_conns;      /* cap on records held at once (>= 1) */
  int64_t idle_timeout_ns; /* an open record idle this long is over */
  int64_t linger_ns;       /* a closed record is kept this long */
  int64_t attempt_timeout_ns; /* SYNs alone, unanswered this long, are over
                                 (0: the idle timeout) */
  uint64_t seed;           /* hash seed; 0 picks one at random */
  uint32_t pack_min_held;  /* idle records are packed only while at least
                              this many are held (0: TA_PACK_MIN_HELD) */
  uint32_t pack_closed_min_held; /* closed ones only while at least this
                              many are (0: TA_PACK_CLOSED_MIN_HELD) */
};

/* Receives each finalized record; it is valid only during the call. */
typedef void (*ta_flow_emit_fn)(void *ctx, const struct ta_conn *c);

struct ta_flow_table;

/* New empty table; NULL on ENOMEM. */
struct ta_flow_table *ta_flow_table_new(const struct ta_flow_config *cfg,
                                        ta_flow_emit_fn emit, void *ctx);
/* Feeds one TCP packet (disposition TCP). Expires what is due at
 * pkt->ts_ns, then finds or creates its record (whose id is pkt->frame, or
 * the table's own count when that is 0) and updates it. Cannot fail: when
 * memory runs out the oldest record is evicted instead. */
void ta_flow_table_packet(struct ta_flow_table *t, const struct ta_packet *pkt);
/* The same in three steps, for a caller that has the next packets at hand
 * and hides the table's memory latency behind them: the hash pkt's record
 * is filed under; then, a few packets ahead, prefetch step 0 (its bucket)
 * and, once that has arrived, step 1 (the record the bucket leads to).
 * Prefetching is a hint: it changes nothing, whatever happens between. */
uint64_t ta_flow_table_hash(const struct ta_flow_table *t,
                            const struct ta_packet *pkt);
void ta_flow_table_prefetch(const struct ta_flow_table *t, uint64_t hash,
                            int step);
void ta_flow_table_packet_hashed(struct ta_flow_table *t,
                                 const struct ta_packet *pkt, uint64_t hash);
/* Hands on the records due at `now` (what ta_flow_table_packet does first
 * for each packet), in id order. Cannot fail. */
void ta_flow_table_expire(struct ta_flow_table *t, int64_t now);
/* The end of the capture in steps, for merging several tables' records:
 * drain sets aside every record still held, in id order, and returns how
 * many; each take finalizes and returns the next (valid until the next
 * call), NULL after the last. Cannot fail. */
size_t ta_flow_table_drain(struct ta_flow_table *t);
const struct ta_conn *ta_flow_table_take(struct ta_flow_table *t);
/* Finalizes and emits everything still held (end of capture), in id order. */
void ta_flow_table_flush(struct ta_flow_table *t);
/* No record is due before this time (INT64_MAX when none is held):
 * ta_flow_table_expire at an earlier time does nothing. */
int64_t ta_flow_table_next_due(const struct ta_flow_table *t);
/* Records held now. */
uint32_t ta_flow_table_open(const struct ta_flow_table *t);
/* Counters so far (connections, evictions, timeouts, peak). */
void ta_flow_table_stats(const struct ta_flow_table *t, struct ta_flow_stats *s);
void ta_flow_table_free(struct ta_flow_table *t);

/* For tests and diagnostics. The bucket pkt's tuple falls in under this
 * table's seed and its bucket array now (which grows with the records
 * held), and the longest bucket chain now (a walk of the whole table).
 * Cannot fail. */
uint64_t ta_flow_table_bucket(const struct ta_flow_table *t,
                              const struct ta_packet *pkt);
uint32_t ta_flow_table_longest_chain(const struct ta_flow_table *t);
/* Records held now in each form (lib/flow.c says why there are several):
 * full, held as their packets (attempts and refusals), packed (idle). A
 * walk of the table. Cannot fail. */
struct ta_flow_forms {
  uint32_t full, packets, packed;
};
void ta_flow_table_forms(const struct ta_flow_table *t, struct ta_flow_forms *f);
/* Packed records moved so far to empty a chunk that another size of
 * packed record then took (lib/flow.c). Cannot fail. */
uint64_t ta_flow_table_packed_moved(const struct ta_flow_table *t);
/* Bytes one record takes in the table: a full one when attempt_syns is 0,
 * else an IPv4 attempt holding that many SYNs (an IPv6 one takes 24 bytes
 * more; lib/flow.c). Cannot fail. */
size_t ta_flow_record_size(int attempt_syns);
/* For tests: packs c's words as an idle record's are packed and rebuilds
 * them in out, each step with the portable code when its bit is in
 * `portable`, else with the code this build uses (which may be another);
 * returns the bytes the words take packed, past their lengths. Cannot
 * fail. */
#define TA_FLOW_PORTABLE_PACK 1u
#define TA_FLOW_PORTABLE_UNPACK 2u
size_t ta__flow_pack_trial(const struct ta_conn *c, unsigned portable,
                           struct ta_conn *out);

#endif
