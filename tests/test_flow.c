/* tcpaudit - tests: flow table (pairing, reuse, timeouts, eviction, seeds,
 * attempts and refusals held as their packets, idle records packed, each
 * rebuilt exactly, every form handed on whole however many at once, packed
 * records moved between chunks as their sizes drift and packed again
 * against references, each word's every length packed and rebuilt by the
 * portable code and the build's own; the bucket array
 * growing, near tuples spread over it, many tuples in one bucket). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ta_flow.h"
#include "ta_test_util.h"

#define SEC 1000000000LL
#define MAX_SEEN 64
#define MAX_KEPT 4 /* whole records kept, to compare */

struct seen {
  size_t n;
  uint64_t id[MAX_SEEN];
  uint8_t why[MAX_SEEN];
  uint64_t pkts[MAX_SEEN];
  uint16_t orig_port[MAX_SEEN];
  struct ta_conn kept[MAX_KEPT];
};

static void collect(void *ctx, const struct ta_conn *c) {
  struct seen *s = ctx;
  if (s->n < MAX_SEEN) {
    s->id[s->n] = c->id;
    s->why[s->n] = c->end_reason;
    s->pkts[s->n] = c->side[0].pkts + c->side[1].pkts;
    s->orig_port[s->n] = c->side[0].port;
  }
  if (s->n < MAX_KEPT)
    memcpy(&s->kept[s->n], c, sizeof *c); /* padding too: compared whole */
  s->n++;
}

/* Decodes a segment built from real bytes into p. */
static void segment(struct ta_packet *p, const char *src, uint16_t sport,
                    const char *dst, uint16_t dport, uint32_t seq,
                    uint32_t ack, uint8_t flags, uint32_t len) {
  struct tt_seg s = {.src = src, .dst = dst, .sport = sport, .dport = dport,
                     .seq = seq, .ack = ack, .flags = flags, .win = 1000,
                     .payload_len = len};
  uint8_t buf[2048];
  size_t n = tt_build_ip(buf, sizeof buf, &s);
  assert_true(n > 0);
  ta_decode_frame(TA_LINK_RAW, buf, (uint32_t)n, (uint32_t)n, p);
  assert_int_equal(p->disposition, TA_DISP_TCP);
}

/* The same segment, fed at time ts. */
static void feed(struct ta_flow_table *t, int64_t ts, const char *src,
                 uint16_t sport, const char *dst, uint16_t dport, uint32_t seq,
                 uint32_t ack, uint8_t flags, uint32_t len) {
  struct ta_packet p;
  segment(&p, src, sport, dst, dport, seq, ack, flags, len);
  p.ts_ns = ts;
  ta_flow_table_packet(t, &p);
}

static struct ta_flow_table *table(struct seen *s, uint32_t max, uint64_t seed) {
  memset(s, 0, sizeof *s);
  struct ta_flow_config cfg = {.max_conns = max, .idle_timeout_ns = 300 * SEC,
                               .linger_ns = 10 * SEC,
                               .attempt_timeout_ns = 40 * SEC, .seed = seed,
                               .pack_min_held = 1, /* pack small tables too */
                               .pack_closed_min_held = 1};
  struct ta_flow_table *t = ta_flow_table_new(&cfg, collect, s);
  assert_non_null(t);
  return t;
}

static void handshake_and_close(struct ta_flow_table *t, int64_t t0,
                                uint16_t cport, uint32_t isn) {
  const char *c = "10.0.0.1", *s = "10.0.0.2";
  feed(t, t0, c, cport, s, 80, isn, 0, TA_TCP_SYN, 0);
  feed(t, t0 + 1000, s, 80, c, cport, 5000, isn + 1, TA_TCP_SYN | TA_TCP_ACK, 0);
  feed(t, t0 + 2000, c, cport, s, 80, isn + 1, 5001, TA_TCP_ACK, 0);
  feed(t, t0 + 3000, c, cport, s, 80, isn + 1, 5001, TA_TCP_FIN | TA_TCP_ACK, 0);
  feed(t, t0 + 4000, s, 80, c, cport, 5001, isn + 2, TA_TCP_FIN | TA_TCP_ACK, 0);
  feed(t, t0 + 5000, c, cport, s, 80, isn + 2, 5002, TA_TCP_ACK, 0);
}

static void test_flow_pairs_both_directions(void **state) {
  (void)state;
  struct seen s;
  struct ta_flow_table *t = table(&s, 16, 1);
  handshake_and_close(t, 10 * SEC, 40000, 100);
  assert_int_equal(ta_flow_table_open(t), 1);
  ta_flow_table_flush(t);
  assert_int_equal(s.n, 1);
  assert_int_equal(s.pkts[0], 6);
  assert_int_equal(s.orig_port[0], 40000);
  assert_int_equal(s.why[0], TA_END_CLOSED);
  ta_flow_table_free(t);
}

static void test_flow_closed_record_handed_on_after_linger(void **state) {
  (void)state;
  struct seen s;
  struct ta_flow_table *t = table(&s, 16, 1);
  handshake_and_close(t, 10 * SEC, 40000, 100);
  /* another connection 11 s later: the first is over and must be gone */
  feed(t, 21 * SEC, "10.0.0.3", 5555, "10.0.0.2", 80, 1, 0, TA_TCP_SYN, 0);
  assert_int_equal(s.n, 1);
  assert_int_equal(s.why[0], TA_END_CLOSED);
  assert_int_equal(ta_flow_table_open(t), 1);
  ta_flow_table_flush(t);
  assert_int_equal(s.n, 2);
  assert_int_equal(s.why[1], TA_END_CAPTURE_END);
  ta_flow_table_free(t);
}

static void test_flow_new_isn_after_close_is_new_connection(void **state) {
  (void)state;
  struct seen s;
  struct ta_flow_table *t = table(&s, 16, 1);
  handshake_and_close(t, 10 * SEC, 40000, 100);
  handshake_and_close(t, 11 * SEC, 40000, 900000);
  assert_int_equal(s.n, 1);
  assert_int_equal(s.why[0], TA_END_REUSED);
  ta_flow_table_flush(t);
  assert_int_equal(s.n, 2);
  assert_true(s.id[0] != s.id[1]);
  assert_int_equal(s.pkts[1], 6);
  ta_flow_table_free(t);
}

static void test_flow_idle_timeout(void **state) {
  (void)state;
  struct seen s;
  struct ta_flow_table *t = table(&s, 16, 1);
  /* answered, then silent: the idle timeout applies, not the attempt one */
  feed(t, 1 * SEC, "10.0.0.1", 1000, "10.0.0.2", 80, 1, 0, TA_TCP_SYN, 0);
  feed(t, 1 * SEC + 1000, "10.0.0.2", 80, "10.0.0.1", 1000, 9, 2,
       TA_TCP_SYN | TA_TCP_ACK, 0);
  feed(t, 200 * SEC, "10.0.0.1", 1001, "10.0.0.2", 80, 1, 0, TA_TCP_SYN, 0);
  feed(t, 200 * SEC + 1000, "10.0.0.2", 80, "10.0.0.1", 1001, 9, 2,
       TA_TCP_SYN | TA_TCP_ACK, 0);
  assert_int_equal(s.n, 0);
  feed(t, 302 * SEC, "10.0.0.1", 1002, "10.0.0.2", 80, 1, 0, TA_TCP_SYN, 0);
  assert_int_equal(s.n, 1);
  assert_int_equal(s.why[0], TA_END_IDLE);
  assert_int_equal(s.orig_port[0], 1000);
  struct ta_flow_stats st;
  ta_flow_table_stats(t, &st);
  assert_int_equal(st.idle_timeouts, 1);
  ta_flow_table_free(t);
}

static void test_flow_unanswered_attempt_ends_sooner(void **state) {
  (void)state;
  struct seen s;
  struct ta_flow_table *t = table(&s, 16, 1);
  /* Linux backoff: retries 1, 2, 4, 8, 16 and 32 s apart stay one attempt */
  int64_t at[] = {0, 1, 3, 7, 15, 31, 63};
  for (size_t i = 0; i < sizeof at / sizeof at[0]; i++)
    feed(t, (100 + at[i]) * SEC, "10.0.0.1", 1000, "10.0.0.2", 80, 7, 0,
         TA_TCP_SYN, 0);
  /* an answered connection, idle as long, is not an attempt */
  handshake_and_close(t, 100 * SEC, 2000, 1);
  feed(t, 100 * SEC + 10000, "10.0.0.1", 3000, "10.0.0.2", 80, 1, 0,
       TA_TCP_SYN, 0);
  feed(t, 100 * SEC + 20000, "10.0.0.2", 80, "10.0.0.1", 3000, 9, 2,
       TA_TCP_SYN | TA_TCP_ACK, 0);
  feed(t, 100 * SEC + 30000, "10.0.0.1", 3000, "10.0.0.2", 80, 2, 10,
       TA_TCP_ACK, 0);
  assert_int_equal(s.n, 0);
  /* 42 s after the last SYN: the closed one and the attempt are over */
  feed(t, 205 * SEC, "10.0.0.9", 4000, "10.0.0.2", 80, 1, 0, TA_TCP_SYN, 0);
  assert_int_equal(s.n, 2);
  /* due at the same packet: handed on in id (creation) order */
  assert_true(s.id[0] < s.id[1]);
  assert_int_equal(s.orig_port[0], 1000);
  assert_int_equal(s.why[0], TA_END_IDLE);
  assert_int_equal(s.pkts[0], 7);
  assert_int_equal(s.orig_port[1], 2000);
  assert_int_equal(s.why[1], TA_END_CLOSED);
  assert_int_equal(ta_flow_table_open(t), 2); /* port 3000 and 10.0.0.9 */
  ta_flow_table_free(t);
}

static void test_flow_eviction_oldest_idle_first(void **state) {
  (void)state;
  struct seen s;
  struct ta_flow_table *t = table(&s, 3, 1);
  for (uint16_t i = 0; i < 3; i++)
    feed(t, (1 + i) * SEC, "10.0.0.1", (uint16_t)(1000 + i), "10.0.0.2", 80, 1,
         0, TA_TCP_SYN, 0);
  /* touch the oldest so the second one becomes the least recently active */
  feed(t, 4 * SEC, "10.0.0.1", 1000, "10.0.0.2", 80, 1, 0, TA_TCP_SYN, 0);
  feed(t, 5 * SEC, "10.0.0.1", 2000, "10.0.0.2", 80, 1, 0, TA_TCP_SYN, 0);
  assert_int_equal(s.n, 1);
  assert_int_equal(s.why[0], TA_END_EVICTED);
  assert_int_equal(s.orig_port[0], 1001);
  assert_int_equal(ta_flow_table_open(t), 3);
  struct ta_flow_stats st;
  ta_flow_table_stats(t, &st);
  assert_int_equal(st.evicted, 1);
  assert_int_equal(st.peak_open, 3);
  assert_int_equal(st.max_open, 3);
  ta_flow_table_flush(t);
  assert_int_equal(s.n, 4);
  assert_int_equal(st.connections, 4);
  ta_flow_table_free(t);
}

static void test_flow_bounded_under_many_tuples(void **state) {
  (void)state;
  struct seen s;
  struct ta_flow_table *t = table(&s, 100, 0);
  char src[32];
  for (uint32_t i = 0; i < 5000; i++) {
    snprintf(src, sizeof src, "10.%u.%u.%u", (i >> 16) & 255, (i >> 8) & 255,
             i & 255);
    feed(t, SEC + i, src, 1234, "10.0.0.2", 80, i, 0, TA_TCP_SYN, 0);
    assert_true(ta_flow_table_open(t) <= 100);
  }
  ta_flow_table_flush(t);
  assert_int_equal(s.n, 5000);
  ta_flow_table_free(t);
}

static void test_flow_same_result_for_any_seed(void **state) {
  (void)state;
  struct seen a, b;
  struct ta_flow_table *ta = table(&a, 16, 1), *tb = table(&b, 16, 987654321);
  for (uint16_t i = 0; i < 8; i++) {
    handshake_and_close(ta, (10 + i) * SEC, (uint16_t)(40000 + i), 100u * i);
    handshake_and_close(tb, (10 + i) * SEC, (uint16_t)(40000 + i), 100u * i);
  }
  ta_flow_table_flush(ta);
  ta_flow_table_flush(tb);
  assert_int_equal(a.n, b.n);
  assert_memory_equal(a.orig_port, b.orig_port, sizeof a.orig_port);
  assert_memory_equal(a.why, b.why, sizeof a.why);
  ta_flow_table_free(ta);
  ta_flow_table_free(tb);
}

/* ---- attempts: held as their SYNs, rebuilt by replaying them ---- */

/* Packets of one test, decoded from real bytes, numbered as frames. */
struct script {
  size_t n;
  struct ta_packet p[128];
};

static const uint8_t syn_opts[20] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0,
                                     0, 7, 0, 0, 0, 0, 1, 3, 3, 7};

/* Appends a segment sent at ts; a SYN carries MSS, SACK, timestamps and
 * window scale, with a timestamp and IP id that change per packet. */
static struct ta_packet *add(struct script *sc, int64_t ts, const char *src,
                             uint16_t sport, const char *dst, uint16_t dport,
                             uint32_t seq, uint32_t ack, uint8_t flags,
                             uint32_t len) {
  assert_true(sc->n < sizeof sc->p / sizeof sc->p[0]);
  uint8_t opts[20];
  memcpy(opts, syn_opts, sizeof opts);
  opts[11] = (uint8_t)(sc->n + 1); /* TSval */
  bool syn = flags & TA_TCP_SYN;
  struct tt_seg s = {.src = src, .dst = dst, .sport = sport, .dport = dport,
                     .seq = seq, .ack = ack, .flags = flags, .win = 64240,
                     .opts = syn ? opts : NULL, .optlen = syn ? sizeof opts : 0,
                     .payload_len = len, .ttl = (uint8_t)(60 + sc->n),
                     .df = true, .ip_id = (uint16_t)(1000 + sc->n)};
  uint8_t buf[2048];
  size_t n = tt_build_ip(buf, sizeof buf, &s);
  assert_true(n > 0);
  struct ta_packet *p = &sc->p[sc->n++];
  ta_decode_frame(TA_LINK_RAW, buf, (uint32_t)n, (uint32_t)n, p);
  assert_int_equal(p->disposition, TA_DISP_TCP);
  p->payload = NULL; /* buf is gone; the tracker reads lengths only */
  p->ts_ns = ts;
  p->frame = sc->n;
  return p;
}

static void play(struct ta_flow_table *t, const struct script *sc, size_t from,
                 size_t to) {
  for (size_t i = from; i < to; i++)
    ta_flow_table_packet(t, &sc->p[i]);
}

/* What the tracker makes of the packets whose indices are listed (the
 * connection's, in order), handed on for why: what a table holding full
 * records all along would have emitted. */
static void assert_record(const struct ta_conn *got, const struct script *sc,
                          const size_t *idx, size_t n, enum ta_end_reason why) {
  struct ta_conn *want = malloc(sizeof *want);
  assert_non_null(want);
  ta_conn_init(want, sc->p[idx[0]].frame, &sc->p[idx[0]]);
  for (size_t i = 0; i < n; i++)
    ta_conn_update(want, &sc->p[idx[i]]);
  ta_conn_finalize(want, why);
  assert_int_equal(got->end_reason, why);
  assert_int_equal(got->side[0].pkts + got->side[1].pkts, n);
  assert_memory_equal(got, want, sizeof *want);
  free(want);
}

static void test_flow_attempt_materialized_by_synack(void **state) {
  (void)state;
  struct seen s;
  struct ta_flow_table *t = table(&s, 16, 1);
  struct script sc = {0};
  const char *c = "10.0.0.1", *v = "10.0.0.2";
  add(&sc, 1 * SEC, c, 4000, v, 80, 100, 0, TA_TCP_SYN, 0);
  add(&sc, 2 * SEC, c, 4000, v, 80, 100, 0, TA_TCP_SYN, 0);
  add(&sc, 2 * SEC + 500, v, 80, c, 4000, 900, 101, TA_TCP_SYN | TA_TCP_ACK, 0);
  add(&sc, 2 * SEC + 900, c, 4000, v, 80, 101, 901, TA_TCP_ACK, 0);
  add(&sc, 2 * SEC + 1000, c, 4000, v, 80, 101, 901, TA_TCP_ACK | TA_TCP_PSH,
      20);
  play(t, &sc, 0, sc.n);
  assert_int_equal(s.n, 0);
  assert_int_equal(ta_flow_table_open(t), 1);
  ta_flow_table_flush(t);
  assert_int_equal(s.n, 1);
  const size_t all[] = {0, 1, 2, 3, 4};
  assert_record(&s.kept[0], &sc, all, 5, TA_END_CAPTURE_END);
  ta_flow_table_free(t);
}

/* Records held as full ones (packed or not) and as their packets. */
static void assert_forms(const struct ta_flow_table *t, uint32_t full,
                         uint32_t packets) {
  struct ta_flow_forms f;
  ta_flow_table_forms(t, &f);
  assert_int_equal(f.full + f.packed, full);
  assert_int_equal(f.packets, packets);
}

/* ---- refusals: the SYNs and the responder's RSTs, held as packets ---- */

static void test_flow_refusal_held_as_packets(void **state) {
  (void)state;
  struct seen s;
  struct ta_flow_table *t = table(&s, 16, 1);
  struct script sc = {0};
  const char *c = "10.0.0.1", *v = "10.0.0.2";
  add(&sc, 1 * SEC, c, 4000, v, 23, 100, 0, TA_TCP_SYN, 0);
  add(&sc, 1 * SEC + 300, v, 23, c, 4000, 0, 101, TA_TCP_RST | TA_TCP_ACK, 0);
  /* a retry with the same ISN after the refusal stays in the record */
  add(&sc, 1 * SEC + SEC / 2, c, 4000, v, 23, 100, 0, TA_TCP_SYN, 0);
  add(&sc, 1 * SEC + SEC / 2 + 300, v, 23, c, 4000, 0, 101,
      TA_TCP_RST | TA_TCP_ACK, 0);
  /* an RST without ACK, carrying a few bytes, as some stacks send */
  add(&sc, 2 * SEC, c, 4000, v, 23, 100, 0, TA_TCP_SYN, 0);
  add(&sc, 2 * SEC + 300, v, 23, c, 4000, 101, 0, TA_TCP_RST, 6);
  play(t, &sc, 0, sc.n);
  assert_forms(t, 0, 1);
  /* another tuple, past the linger time of the refusal */
  add(&sc, 20 * SEC, "10.0.0.7", 5000, v, 23, 1, 0, TA_TCP_SYN, 0);
  play(t, &sc, sc.n - 1, sc.n);
  assert_int_equal(s.n, 1); /* closed, and over after the linger time */
  const size_t refused[] = {0, 1, 2, 3, 4, 5};
  assert_record(&s.kept[0], &sc, refused, 6, TA_END_CLOSED);
  assert_int_equal(s.kept[0].conn_state, TA_CS_REJ);
  ta_flow_table_flush(t);
  const size_t other[] = {6};
  assert_record(&s.kept[1], &sc, other, 1, TA_END_CAPTURE_END);
  ta_flow_table_free(t);
}

/* Any other packet makes the refusal a full record, rebuilt exactly. */
static void test_flow_refusal_materialized(void **state) {
  (void)state;
  struct seen s;
  struct ta_flow_table *t = table(&s, 16, 1);
  struct script sc = {0};
  const char *c = "10.0.0.1", *v = "10.0.0.2";
  add(&sc, 1 * SEC, c, 4000, v, 23, 100, 0, TA_TCP_SYN, 0);
  add(&sc, 1 * SEC + 300, v, 23, c, 4000, 0, 101, TA_TCP_RST | TA_TCP_ACK, 0);
  add(&sc, 1 * SEC + 400, c, 4000, v, 23, 101, 0, TA_TCP_RST, 0);
  /* an RST with options is not held either */
  add(&sc, 2 * SEC, c, 4001, v, 23, 100, 0, TA_TCP_SYN, 0);
  struct ta_packet *rst = add(&sc, 2 * SEC + 300, v, 23, c, 4001, 0, 101,
                              TA_TCP_RST | TA_TCP_ACK, 0);
  rst->opt.has_ts = true;
  rst->opt.ts_val = 77;
  /* nor an RST from the originator's side of a connection to itself */
  add(&sc, 3 * SEC, c, 4002, c, 4002, 100, 0, TA_TCP_SYN, 0);
  add(&sc, 3 * SEC + 300, c, 4002, c, 4002, 0, 101, TA_TCP_RST | TA_TCP_ACK,
      0);
  play(t, &sc, 0, sc.n);
  assert_forms(t, 3, 0);
  ta_flow_table_flush(t);
  assert_int_equal(s.n, 3);
  const size_t a[] = {0, 1, 2}, b[] = {3, 4}, self[] = {5, 6};
  assert_record(&s.kept[0], &sc, a, 3, TA_END_CLOSED);
  assert_record(&s.kept[1], &sc, b, 2, TA_END_CLOSED);
  assert_record(&s.kept[2], &sc, self, 2, TA_END_CLOSED);
  ta_flow_table_free(t);
}

/* Past the close delay an RST starts a new record, and a SYN with a new
 * ISN does at once: the refusal is handed on as reused, in both cases as
 * the tracker would have built it. */
static void test_flow_refusal_then_new_connection(void **state) {
  (void)state;
  struct seen s;
  struct ta_flow_table *t = table(&s, 16, 1);
  struct script sc = {0};
  const char *c = "10.0.0.1", *v = "10.0.0.2";
  add(&sc, 1 * SEC, c, 4000, v, 23, 100, 0, TA_TCP_SYN, 0);
  add(&sc, 1 * SEC + 300, v, 23, c, 4000, 0, 101, TA_TCP_RST | TA_TCP_ACK, 0);
  add(&sc, 2 * SEC, c, 4000, v, 23, 100, 0, TA_TCP_SYN, 0);
  add(&sc, 4 * SEC, v, 23, c, 4000, 0, 101, TA_TCP_RST | TA_TCP_ACK, 0);
  /* over 5 s after the retry (the linger time of the test table is 10 s) */
  add(&sc, 7 * SEC + 1, v, 23, c, 4000, 0, 101, TA_TCP_RST | TA_TCP_ACK, 0);
  add(&sc, 8 * SEC, c, 4001, v, 23, 500, 0, TA_TCP_SYN, 0);
  add(&sc, 8 * SEC + 300, v, 23, c, 4001, 0, 501, TA_TCP_RST | TA_TCP_ACK, 0);
  add(&sc, 8 * SEC + SEC / 2, c, 4001, v, 23, 900, 0, TA_TCP_SYN, 0);
  play(t, &sc, 0, 5);
  assert_int_equal(s.n, 1);
  const size_t first[] = {0, 1, 2, 3}, late[] = {4};
  assert_record(&s.kept[0], &sc, first, 4, TA_END_REUSED);
  play(t, &sc, 5, sc.n);
  assert_int_equal(s.n, 2);
  const size_t refused[] = {5, 6}, fresh[] = {7};
  assert_record(&s.kept[1], &sc, refused, 2, TA_END_REUSED);
  assert_forms(t, 1, 1);
  ta_flow_table_flush(t);
  assert_int_equal(s.n, 4);
  assert_record(&s.kept[2], &sc, late, 1, TA_END_CLOSED);
  assert_record(&s.kept[3], &sc, fresh, 1, TA_END_CAPTURE_END);
  ta_flow_table_free(t);
}

/* A refusal held as packets goes first when room is needed, as closed. */
static void test_flow_refusal_evicted_first(void **state) {
  (void)state;
  struct seen s;
  struct ta_flow_table *t = table(&s, 2, 1);
  struct script sc = {0};
  const char *v = "10.0.0.2";
  add(&sc, 1 * SEC, "10.0.0.1", 4000, v, 80, 100, 0, TA_TCP_SYN, 0);
  add(&sc, 2 * SEC, "10.0.0.3", 4000, v, 80, 100, 0, TA_TCP_SYN, 0);
  add(&sc, 3 * SEC, v, 80, "10.0.0.3", 4000, 0, 101, TA_TCP_RST | TA_TCP_ACK,
      0);
  add(&sc, 4 * SEC, "10.0.0.4", 4000, v, 80, 100, 0, TA_TCP_SYN, 0);
  play(t, &sc, 0, sc.n);
  assert_int_equal(s.n, 1);
  const size_t refused[] = {1, 2}, a[] = {0}, b[] = {3};
  assert_record(&s.kept[0], &sc, refused, 2, TA_END_CLOSED);
  assert_int_equal(ta_flow_table_drain(t), 2);
  assert_record(ta_flow_table_take(t), &sc, a, 1, TA_END_CAPTURE_END);
  assert_record(ta_flow_table_take(t), &sc, b, 1, TA_END_CAPTURE_END);
  assert_null(ta_flow_table_take(t));
  ta_flow_table_free(t);
}

static void test_flow_attempt_retry_with_new_isn(void **state) {
  (void)state;
  struct seen s;
  struct ta_flow_table *t = table(&s, 16, 1);
  struct script sc = {0};
  const char *c = "10.0.0.1", *v = "10.0.0.2";
  add(&sc, 1 * SEC, c, 4000, v, 80, 100, 0, TA_TCP_SYN, 0);
  add(&sc, 2 * SEC, c, 4000, v, 80, 100, 0, TA_TCP_SYN, 0);
  add(&sc, 3 * SEC, c, 4000, v, 80, 77777, 0, TA_TCP_SYN, 0);
  add(&sc, 4 * SEC, c, 4000, v, 80, 77777, 0, TA_TCP_SYN, 0);
  play(t, &sc, 0, sc.n);
  assert_int_equal(s.n, 1);
  const size_t first[] = {0, 1}, second[] = {2, 3};
  assert_record(&s.kept[0], &sc, first, 2, TA_END_REUSED);
  ta_flow_table_flush(t);
  assert_int_equal(s.n, 2);
  assert_record(&s.kept[1], &sc, second, 2, TA_END_CAPTURE_END);
  ta_flow_table_free(t);
}

static void test_flow_attempt_evicted(void **state) {
  (void)state;
  struct seen s;
  struct ta_flow_table *t = table(&s, 2, 1);
  struct script sc = {0};
  const char *v = "10.0.0.2";
  add(&sc, 1 * SEC, "10.0.0.1", 4000, v, 80, 100, 0, TA_TCP_SYN, 0);
  add(&sc, 2 * SEC, "10.0.0.3", 4000, v, 80, 100, 0, TA_TCP_SYN, 0);
  add(&sc, 3 * SEC, "10.0.0.1", 4000, v, 80, 100, 0, TA_TCP_SYN, 0);
  add(&sc, 4 * SEC, "10.0.0.4", 4000, v, 80, 100, 0, TA_TCP_SYN, 0);
  add(&sc, 5 * SEC, "10.0.0.5", 4000, v, 80, 100, 0, TA_TCP_SYN, 0);
  play(t, &sc, 0, sc.n);
  assert_int_equal(s.n, 2);
  const size_t a[] = {1}, b[] = {0, 2};
  assert_record(&s.kept[0], &sc, a, 1, TA_END_EVICTED);
  assert_record(&s.kept[1], &sc, b, 2, TA_END_EVICTED);
  struct ta_flow_stats st;
  ta_flow_table_stats(t, &st);
  assert_int_equal(st.evicted, 2);
  assert_int_equal(ta_flow_table_open(t), 2);
  ta_flow_table_free(t);
}

static void test_flow_attempt_at_capture_end(void **state) {
  (void)state;
  struct seen s;
  struct ta_flow_table *t = table(&s, 16, 1);
  struct script sc = {0};
  const char *c = "2001:db8::1", *v = "2001:db8::2";
  /* a SYN with data (TCP Fast Open) and its retries, over IPv6 */
  add(&sc, 1 * SEC, c, 4000, v, 443, 100, 0, TA_TCP_SYN, 30);
  add(&sc, 1 * SEC + 100, "10.0.0.1", 5000, "10.0.0.2", 80, 1, 0,
      TA_TCP_ACK, 10);
  add(&sc, 2 * SEC, c, 4000, v, 443, 100, 0, TA_TCP_SYN, 30);
  add(&sc, 4 * SEC, c, 4000, v, 443, 100, 0, TA_TCP_SYN | TA_TCP_ECE, 30);
  play(t, &sc, 0, sc.n);
  assert_int_equal(ta_flow_table_drain(t), 2);
  const size_t attempt[] = {0, 2, 3}, midstream[] = {1};
  const struct ta_conn *got = ta_flow_table_take(t);
  assert_non_null(got);
  assert_record(got, &sc, attempt, 3, TA_END_CAPTURE_END);
  got = ta_flow_table_take(t);
  assert_non_null(got);
  assert_record(got, &sc, midstream, 1, TA_END_CAPTURE_END);
  assert_null(ta_flow_table_take(t));
  assert_int_equal(ta_flow_table_open(t), 0);
  ta_flow_table_free(t);
}

static void test_flow_attempt_over_the_syn_bound(void **state) {
  (void)state;
  struct seen s;
  struct ta_flow_table *t = table(&s, 16, 1);
  struct script sc = {0};
  size_t idx[TA_ATTEMPT_MAX_SYNS + 3];
  for (size_t i = 0; i < TA_ATTEMPT_MAX_SYNS + 3; i++) {
    add(&sc, (int64_t)(1 + i) * SEC, "10.0.0.1", 4000, "10.0.0.2", 80, 100, 0,
        TA_TCP_SYN, 0);
    idx[i] = i;
  }
  /* one SYN short of the bound and one past it, answered */
  for (size_t i = 0; i < 2; i++) {
    uint16_t port = (uint16_t)(5000 + i);
    size_t n = TA_ATTEMPT_MAX_SYNS - 1 + 2 * i;
    for (size_t k = 0; k < n; k++)
      add(&sc, (int64_t)(1 + k) * SEC + 1, "10.0.0.1", port, "10.0.0.2", 80,
          200, 0, TA_TCP_SYN, 0);
    add(&sc, (int64_t)(1 + n) * SEC, "10.0.0.2", 80, "10.0.0.1", port, 900,
        201, TA_TCP_SYN | TA_TCP_ACK, 0);
  }
  play(t, &sc, 0, sc.n);
  assert_int_equal(s.n, 0);
  /* still an attempt past the bound: over after the attempt timeout */
  add(&sc, (TA_ATTEMPT_MAX_SYNS + 3 + 41) * SEC, "10.0.0.9", 1, "10.0.0.2", 80,
      1, 0, TA_TCP_SYN, 0);
  play(t, &sc, sc.n - 1, sc.n);
  assert_int_equal(s.n, 1);
  assert_record(&s.kept[0], &sc, idx, TA_ATTEMPT_MAX_SYNS + 3, TA_END_IDLE);
  assert_int_equal(s.kept[0].syn_count, TA_ATTEMPT_MAX_SYNS + 3);
  ta_flow_table_flush(t);
  assert_int_equal(s.n, 4);
  size_t start = TA_ATTEMPT_MAX_SYNS + 3;
  for (size_t i = 0; i < 2; i++) {
    size_t n = TA_ATTEMPT_MAX_SYNS + 2 * i;
    for (size_t k = 0; k < n; k++)
      idx[k] = start + k;
    assert_record(&s.kept[1 + i], &sc, idx, n, TA_END_CAPTURE_END);
    start += n;
  }
  ta_flow_table_free(t);
}

/* A SYN whose option layout is longer than an attempt keeps is held as a
 * full record; one as long as it keeps is held as packets and rebuilt
 * exactly, over IPv6 too, with the responder's refusal. */
static void test_flow_attempt_long_option_layout(void **state) {
  (void)state;
  struct seen s;
  struct ta_flow_table *t = table(&s, 16, 1);
  struct script sc = {0};
  const char *c = "2001:db8::1", *v = "2001:db8::2";
  for (size_t i = 0; i < 3; i++) {
    struct ta_packet *p =
        add(&sc, (int64_t)(1 + i) * SEC, c, 4000, v, 443, 100, 0, TA_TCP_SYN,
            0);
    p->opt.n_layout = 8;
    for (uint8_t k = 0; k < 8; k++)
      p->opt.layout[k] = (uint8_t)(k == 7 ? 0 : 1 + k + i);
    p->opt.mss = (uint16_t)(1400 + i);
    p->opt.sack_ok = i != 1;
    p->opt.has_wscale = i != 2;
    p->opt.wscale = (uint8_t)(7 + i);
  }
  add(&sc, 3 * SEC + 300, v, 443, c, 4000, 0, 101, TA_TCP_RST | TA_TCP_ACK,
      0);
  struct ta_packet *p = add(&sc, 5 * SEC, "10.0.0.1", 4001, "10.0.0.2", 80,
                            100, 0, TA_TCP_SYN, 0);
  p->opt.n_layout = 9;
  for (uint8_t k = 0; k < 9; k++)
    p->opt.layout[k] = 1;
  play(t, &sc, 0, sc.n);
  assert_forms(t, 1, 1);
  ta_flow_table_flush(t);
  assert_int_equal(s.n, 2);
  const size_t held[] = {0, 1, 2, 3}, full[] = {4};
  assert_record(&s.kept[0], &sc, held, 4, TA_END_CLOSED);
  assert_int_equal(s.kept[0].conn_state, TA_CS_REJ);
  assert_record(&s.kept[1], &sc, full, 1, TA_END_CAPTURE_END);
  ta_flow_table_free(t);
}

/* ---- packed: full records idle for a while ---- */


static void assert_packed(const struct ta_flow_table *t, uint32_t full,
                          uint32_t packets, uint32_t packed) {
  struct ta_flow_forms f;
  ta_flow_table_forms(t, &f);
  assert_int_equal(f.full, full);
  assert_int_equal(f.packets, packets);
  assert_int_equal(f.packed, packed);
}

/* Closed records are packed only while the table holds its closed
 * threshold of records, idle open ones from the lower general one: a
 * closed record lingers a few seconds only, so packing it pays off only in
 * a table near its cap. Until then the closed list's packing cursor waits,
 * and once the table holds enough it packs every record idle long enough. */
static void test_flow_closed_packed_only_when_many(void **state) {
  (void)state;
  _Static_assert(TA_PACK_CLOSED_AFTER_MS < 1500, "the script's spacing");
  _Static_assert(TA_PACK_OPEN_AFTER_MS < 6500, "the script's spacing");
  struct seen s;
  memset(&s, 0, sizeof s);
  struct ta_flow_config cfg = {.max_conns = 16, .idle_timeout_ns = 300 * SEC,
                               .linger_ns = 10 * SEC,
                               .attempt_timeout_ns = 40 * SEC, .seed = 1,
                               .pack_min_held = 1, .pack_closed_min_held = 4};
  struct ta_flow_table *t = ta_flow_table_new(&cfg, collect, &s);
  assert_non_null(t);
  const char *c = "10.0.0.1", *v = "10.0.0.2";
  const int64_t ms = SEC / 1000;
  handshake_and_close(t, 10 * SEC, 4000, 100); /* a */
  feed(t, 10 * SEC, c, 4001, v, 80, 700, 0, TA_TCP_SYN, 0); /* e, left open */
  feed(t, 10 * SEC, v, 80, c, 4001, 9000, 701, TA_TCP_SYN | TA_TCP_ACK, 0);
  feed(t, 10 * SEC, c, 4001, v, 80, 701, 9001, TA_TCP_ACK, 0);
  /* both idle past their packing time, with two records held */
  feed(t, 16500 * ms, "10.0.0.3", 5000, v, 80, 1, 0, TA_TCP_SYN, 0);
  assert_packed(t, 1, 1, 1); /* e packed, a full */
  handshake_and_close(t, 18 * SEC, 4002, 300); /* b, the fourth held */
  feed(t, 19500 * ms, "10.0.0.4", 5000, v, 80, 1, 0, TA_TCP_SYN, 0);
  assert_packed(t, 0, 2, 3); /* a and b as well: the cursor waited at a */
  ta_flow_table_flush(t);
  assert_int_equal(s.n, 5);
  ta_flow_table_free(t);
}

/* A packed record keeps its times as distances from its first, which
 * may be before it (time going back) or equal to it: each comes back
 * exactly. */
static void test_flow_packed_times_going_back(void **state) {
  (void)state;
  _Static_assert(TA_PACK_OPEN_AFTER_MS < 7000, "the script's spacing");
  struct seen s;
  struct ta_flow_table *t = table(&s, 16, 1);
  struct script sc = {0};
  const char *c = "10.0.0.1", *v = "10.0.0.2";
  const int64_t ms = SEC / 1000;
  add(&sc, 1000 * ms, c, 4000, v, 80, 100, 0, TA_TCP_SYN, 0);
  add(&sc, 999 * ms, v, 80, c, 4000, 900, 101, TA_TCP_SYN | TA_TCP_ACK, 0);
  add(&sc, 1000 * ms, c, 4000, v, 80, 101, 901, TA_TCP_ACK, 0);
  add(&sc, 998 * ms, c, 4000, v, 80, 101, 901, TA_TCP_ACK | TA_TCP_PSH, 20);
  add(&sc, 1001 * ms, v, 80, c, 4000, 901, 121, TA_TCP_ACK | TA_TCP_PSH, 30);
  add(&sc, 7000 * ms, "10.0.0.3", 5000, v, 80, 1, 0, TA_TCP_SYN, 0);
  play(t, &sc, 0, sc.n);
  assert_packed(t, 0, 1, 1);
  ta_flow_table_flush(t);
  assert_int_equal(s.n, 2);
  const size_t a[] = {0, 1, 2, 3, 4};
  assert_record(&s.kept[0], &sc, a, 5, TA_END_CAPTURE_END);
  ta_flow_table_free(t);
}

/* With the default threshold a table holding few records packs none: the
 * work would cost more than the memory it saves. */
static void test_flow_small_table_not_packed(void **state) {
  (void)state;
  struct seen s;
  memset(&s, 0, sizeof s);
  struct ta_flow_config cfg = {.max_conns = 16, .idle_timeout_ns = 300 * SEC,
                               .linger_ns = 10 * SEC,
                               .attempt_timeout_ns = 40 * SEC, .seed = 1};
  struct ta_flow_table *t = ta_flow_table_new(&cfg, collect, &s);
  assert_non_null(t);
  handshake_and_close(t, 10 * SEC, 4000, 100);
  feed(t, 13 * SEC, "10.0.0.7", 5000, "10.0.0.2", 80, 1, 0, TA_TCP_SYN, 0);
  assert_int_equal(s.n, 0); /* the closed one lingers, idle for 3 s */
  assert_packed(t, 1, 1, 0);
  ta_flow_table_free(t);
}

/* A closed record is packed once idle for TA_PACK_CLOSED_AFTER_MS, an open
 * one for TA_PACK_OPEN_AFTER_MS; a packet unpacks it, and whether handed
 * on at its time or at the end, it is the record the tracker built. */
static void test_flow_idle_records_packed(void **state) {
  (void)state;
  _Static_assert(TA_PACK_CLOSED_AFTER_MS < 1490, "the script's spacing");
  _Static_assert(TA_PACK_OPEN_AFTER_MS > 1500, "the script's spacing");
  _Static_assert(TA_PACK_OPEN_AFTER_MS < 7900, "the script's spacing");
  struct seen s;
  struct ta_flow_table *t = table(&s, 16, 1);
  struct script sc = {0};
  const char *c = "10.0.0.1", *v = "10.0.0.2";
  const int64_t ms = SEC / 1000;
  /* a: a short exchange, closed */
  add(&sc, 1000 * ms, c, 4000, v, 80, 100, 0, TA_TCP_SYN, 0);
  add(&sc, 1001 * ms, v, 80, c, 4000, 900, 101, TA_TCP_SYN | TA_TCP_ACK, 0);
  add(&sc, 1002 * ms, c, 4000, v, 80, 101, 901, TA_TCP_ACK, 0);
  add(&sc, 1003 * ms, c, 4000, v, 80, 101, 901, TA_TCP_ACK | TA_TCP_PSH, 20);
  add(&sc, 1004 * ms, v, 80, c, 4000, 901, 121, TA_TCP_ACK | TA_TCP_PSH, 300);
  add(&sc, 1005 * ms, c, 4000, v, 80, 121, 1201, TA_TCP_FIN | TA_TCP_ACK, 0);
  add(&sc, 1006 * ms, v, 80, c, 4000, 1201, 122, TA_TCP_FIN | TA_TCP_ACK, 0);
  add(&sc, 1007 * ms, c, 4000, v, 80, 122, 1202, TA_TCP_ACK, 0);
  /* e: a connection left open */
  add(&sc, 1010 * ms, c, 4001, v, 80, 5000, 0, TA_TCP_SYN, 0);
  add(&sc, 1011 * ms, v, 80, c, 4001, 7000, 5001, TA_TCP_SYN | TA_TCP_ACK, 0);
  add(&sc, 1012 * ms, c, 4001, v, 80, 5001, 7001, TA_TCP_ACK, 0);
  add(&sc, 1013 * ms, c, 4001, v, 80, 5001, 7001, TA_TCP_ACK | TA_TCP_PSH,
      50);
  play(t, &sc, 0, sc.n);
  assert_packed(t, 2, 0, 0);
  add(&sc, 2500 * ms, "10.0.0.3", 5000, v, 80, 1, 0, TA_TCP_SYN, 0);
  play(t, &sc, sc.n - 1, sc.n);
  assert_packed(t, 1, 1, 1); /* a is packed, e not yet */
  /* a's last ACK again, late: a is unpacked */
  add(&sc, 3000 * ms, c, 4000, v, 80, 122, 1202, TA_TCP_ACK, 0);
  play(t, &sc, sc.n - 1, sc.n);
  assert_packed(t, 2, 1, 0);
  add(&sc, 9000 * ms, "10.0.0.4", 5000, v, 80, 1, 0, TA_TCP_SYN, 0);
  play(t, &sc, sc.n - 1, sc.n);
  assert_packed(t, 0, 2, 2);
  add(&sc, 9500 * ms, v, 80, c, 4001, 7001, 5051, TA_TCP_ACK | TA_TCP_PSH,
      100);
  play(t, &sc, sc.n - 1, sc.n);
  assert_packed(t, 1, 2, 1);
  /* past a's linger time; e is idle again, and packed */
  add(&sc, 20000 * ms, "10.0.0.5", 5000, v, 80, 1, 0, TA_TCP_SYN, 0);
  play(t, &sc, sc.n - 1, sc.n);
  assert_int_equal(s.n, 1);
  const size_t a[] = {0, 1, 2, 3, 4, 5, 6, 7, 13};
  assert_record(&s.kept[0], &sc, a, 9, TA_END_CLOSED);
  assert_packed(t, 0, 3, 1);
  ta_flow_table_flush(t);
  assert_int_equal(s.n, 5);
  const size_t e[] = {8, 9, 10, 11, 15}, b[] = {12}, d[] = {14};
  assert_record(&s.kept[1], &sc, e, 5, TA_END_CAPTURE_END);
  assert_record(&s.kept[2], &sc, b, 1, TA_END_CAPTURE_END);
  assert_record(&s.kept[3], &sc, d, 1, TA_END_CAPTURE_END);
  ta_flow_table_free(t);
}

/* A packed record evicted for room is handed on as the tracker built it:
 * a closed one, first. */
static void test_flow_packed_evicted(void **state) {
  (void)state;
  struct seen s;
  struct ta_flow_table *t = table(&s, 2, 1);
  struct script sc = {0};
  const char *c = "10.0.0.1", *v = "10.0.0.2";
  add(&sc, 1 * SEC, c, 4000, v, 80, 100, 0, TA_TCP_SYN, 0);
  add(&sc, 1 * SEC + 1, v, 80, c, 4000, 900, 101, TA_TCP_SYN | TA_TCP_ACK, 0);
  add(&sc, 1 * SEC + 2, c, 4000, v, 80, 101, 901, TA_TCP_ACK | TA_TCP_PSH, 9);
  add(&sc, 1 * SEC + 3, c, 4000, v, 80, 110, 901, TA_TCP_RST | TA_TCP_ACK, 0);
  add(&sc, 3 * SEC, "10.0.0.3", 5000, v, 80, 1, 0, TA_TCP_SYN, 0);
  add(&sc, 4 * SEC, "10.0.0.4", 5000, v, 80, 1, 0, TA_TCP_SYN, 0);
  play(t, &sc, 0, 5);
  assert_packed(t, 0, 1, 1);
  play(t, &sc, 5, 6);
  assert_int_equal(s.n, 1);
  const size_t a[] = {0, 1, 2, 3};
  assert_record(&s.kept[0], &sc, a, 4, TA_END_CLOSED);
  ta_flow_table_free(t);
}

/* The bucket array grows with the records held: each is still found. */
static void test_flow_buckets_grow(void **state) {
  (void)state;
  enum { N = 20000 }; /* more than the buckets a table begins with */
  struct seen s;
  struct ta_flow_table *t = table(&s, 2 * N, 1);
  char ip[32];
  for (uint32_t i = 0; i < N; i++) {
    snprintf(ip, sizeof ip, "10.1.%u.%u", i >> 8, i & 255);
    feed(t, SEC + i, ip, 1234, "10.0.0.2", 80, i, 0, TA_TCP_SYN, 0);
  }
  assert_forms(t, 0, N);
  for (uint32_t i = N; i-- > 0;) {
    snprintf(ip, sizeof ip, "10.1.%u.%u", i >> 8, i & 255);
    feed(t, 2 * SEC + i, "10.0.0.2", 80, ip, 1234, 7, i + 1,
         TA_TCP_SYN | TA_TCP_ACK, 0);
  }
  assert_forms(t, N, 0); /* every answer found its attempt */
  assert_int_equal(ta_flow_table_open(t), N);
  assert_true(ta_flow_table_longest_chain(t) < 16);
  ta_flow_table_flush(t);
  assert_int_equal(s.n, N);
  ta_flow_table_free(t);
}

/* Tuples that differ in a bit or two (neighbouring IPv6 addresses, one
 * differing in the top bit of its first half, the same hosts on nearby
 * ports) still spread over the buckets, and both directions of each find
 * one record. */
static void test_flow_near_tuples_spread(void **state) {
  (void)state;
  enum { N = 2048 };
  struct seen s;
  struct ta_flow_table *t = table(&s, 2 * N, 3);
  char ip[64];
  for (uint32_t i = 0; i < N; i++) {
    snprintf(ip, sizeof ip, "2001:db8:0:%x::%x", (i & 1) ? 0x80u : 0u,
             (i >> 1) & 63);
    feed(t, SEC + i, ip, (uint16_t)(1000 + (i >> 7)), "2001:db8::1", 443, i,
         0, TA_TCP_SYN, 0);
  }
  assert_int_equal(ta_flow_table_open(t), N);
  /* 2,048 tuples in 16,384 buckets: a chain of 8 would be astonishing */
  assert_true(ta_flow_table_longest_chain(t) < 8);
  for (uint32_t i = 0; i < N; i++) {
    snprintf(ip, sizeof ip, "2001:db8:0:%x::%x", (i & 1) ? 0x80u : 0u,
             (i >> 1) & 63);
    feed(t, 2 * SEC + i, "2001:db8::1", 443, ip, (uint16_t)(1000 + (i >> 7)),
         7, i + 1, TA_TCP_SYN | TA_TCP_ACK, 0);
  }
  assert_forms(t, N, 0); /* every answer found its attempt */
  ta_flow_table_flush(t);
  assert_int_equal(s.n, N);
  ta_flow_table_free(t);
}

/* Many tuples in one bucket: records of every form are created, found
 * (in both directions), packed and unpacked, closed and removed at every
 * place in their chain, while a plain model says which records are held
 * and what each saw. */
enum { CL_TUPLES = 12, CL_ROUNDS = 40 };
enum { CL_ABSENT, CL_SYNS, CL_OPEN, CL_CLOSING };

struct collide {
  uint16_t port[CL_TUPLES];      /* each tuple's client port */
  uint8_t state[CL_TUPLES];      /* CL_* */
  uint32_t isn[CL_TUPLES];
  uint32_t created[CL_TUPLES];   /* records the model made */
  uint64_t pkts[CL_TUPLES];      /* packets all of them saw */
  uint32_t emitted[CL_TUPLES];   /* records handed on */
  uint64_t emitted_pkts[CL_TUPLES];
};

static void collide_collect(void *ctx, const struct ta_conn *c) {
  struct collide *m = ctx;
  for (int i = 0; i < CL_TUPLES; i++)
    if (c->side[TA_DIR_ORIG].port == m->port[i]) {
      m->emitted[i]++;
      m->emitted_pkts[i] += c->side[0].pkts + c->side[1].pkts;
      return;
    }
  fail_msg("a record of no tuple: port %u", c->side[TA_DIR_ORIG].port);
}

/* Client ports whose tuples all fall in one bucket of t. */
static void collide_ports(const struct ta_flow_table *t, struct collide *m) {
  struct ta_packet p;
  segment(&p, "10.0.0.1", 1024, "10.0.0.2", 80, 1, 0, TA_TCP_SYN, 0);
  uint64_t want = ta_flow_table_bucket(t, &p);
  int n = 0;
  for (uint32_t port = 1024; port < 65536 && n < CL_TUPLES; port++) {
    segment(&p, "10.0.0.1", (uint16_t)port, "10.0.0.2", 80, 1, 0, TA_TCP_SYN,
            0);
    if (ta_flow_table_bucket(t, &p) == want)
      m->port[n++] = (uint16_t)port;
  }
  assert_int_equal(n, CL_TUPLES);
}

/* One packet for tuple i at ts, as the model's state and r pick. */
static void collide_step(struct ta_flow_table *t, struct collide *m, int i,
                         int64_t ts, uint32_t r) {
  const char *c = "10.0.0.1", *s = "10.0.0.2";
  uint16_t cp = m->port[i];
  uint32_t isn = m->isn[i];
  switch (m->state[i]) {
  case CL_ABSENT:
    if (r % 2)
      return;
    m->isn[i] = isn = r;
    feed(t, ts, c, cp, s, 80, isn, 0, TA_TCP_SYN, 0);
    m->state[i] = CL_SYNS;
    m->created[i]++;
    break;
  case CL_SYNS: /* retried, answered or refused */
    if (r % 3 == 0) {
      feed(t, ts, c, cp, s, 80, isn, 0, TA_TCP_SYN, 0);
    } else if (r % 3 == 1) {
      feed(t, ts, s, 80, c, cp, 5000, isn + 1, TA_TCP_SYN | TA_TCP_ACK, 0);
      m->state[i] = CL_OPEN;
    } else {
      feed(t, ts, s, 80, c, cp, 0, isn + 1, TA_TCP_RST | TA_TCP_ACK, 0);
      m->state[i] = CL_CLOSING;
    }
    break;
  case CL_OPEN: /* data either way, or reset */
    if (r % 4 < 2) {
      feed(t, ts, c, cp, s, 80, isn + 1, 5001, TA_TCP_ACK, 10);
    } else if (r % 4 == 2) {
      feed(t, ts, s, 80, c, cp, 5001, isn + 1, TA_TCP_ACK, 0);
    } else {
      feed(t, ts, c, cp, s, 80, isn + 1, 5001, TA_TCP_RST, 0);
      m->state[i] = CL_CLOSING;
    }
    break;
  default:
    return; /* left to linger */
  }
  m->pkts[i]++;
}

static void test_flow_colliding_tuples(void **state) {
  (void)state;
  struct collide m;
  memset(&m, 0, sizeof m);
  struct ta_flow_config cfg = {.max_conns = 256, .idle_timeout_ns = 300 * SEC,
                               .linger_ns = 10 * SEC,
                               .attempt_timeout_ns = 40 * SEC, .seed = 11,
                               .pack_min_held = 1,
                               .pack_closed_min_held = 1};
  struct ta_flow_table *t = ta_flow_table_new(&cfg, collide_collect, &m);
  assert_non_null(t);
  collide_ports(t, &m);
  for (int i = 0; i < CL_TUPLES; i++) /* every tuple held, one chain */
    collide_step(t, &m, i, SEC + i, 0);
  assert_int_equal(ta_flow_table_longest_chain(t), CL_TUPLES);
  uint64_t seed = 5;
  for (int round = 1; round <= CL_ROUNDS; round++) {
    /* what closed a round ago is over now (and packed before) */
    int64_t now = (int64_t)round * 20 * SEC;
    ta_flow_table_expire(t, now);
    uint32_t held = 0, created = 0;
    for (int k = 0; k < CL_TUPLES; k++) {
      int i = (k + round) % CL_TUPLES; /* each round begins elsewhere */
      if (m.state[i] == CL_CLOSING)
        m.state[i] = CL_ABSENT;
      seed = seed * 6364136223846793005ull + 1442695040888963407ull;
      collide_step(t, &m, i, now + 1000 * (k + 1), (uint32_t)(seed >> 33));
    }
    for (int i = 0; i < CL_TUPLES; i++) {
      held += m.state[i] != CL_ABSENT;
      created += m.created[i];
    }
    struct ta_flow_stats st;
    ta_flow_table_stats(t, &st);
    assert_int_equal(ta_flow_table_open(t), held);
    assert_int_equal(st.connections, created); /* each found, none doubled */
  }
  ta_flow_table_flush(t);
  for (int i = 0; i < CL_TUPLES; i++) {
    assert_int_equal(m.emitted[i], m.created[i]);
    assert_int_equal(m.emitted_pkts[i], m.pkts[i]);
  }
  ta_flow_table_free(t);
}

struct order {
  size_t n;
  uint64_t last;
  bool ascending;
};

static void check_order(void *ctx, const struct ta_conn *c) {
  struct order *o = ctx;
  if (o->n++ && c->id <= o->last)
    o->ascending = false;
  o->last = c->id;
}

/* Records are handed on in id order however their lists hold them: a
 * few due at one moment, and many at the end, with ids of one digit of
 * the sort and of several. */
static void test_flow_handed_on_in_id_order(void **state) {
  (void)state;
  static const uint64_t steps[] = {1, 3, 1u << 20, 1ull << 40};
  for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
    for (uint32_t n = 5; n <= 3000; n += 2995) {
      struct order o = {.ascending = true};
      struct ta_flow_config cfg = {.max_conns = 4 * n,
                                   .idle_timeout_ns = 300 * SEC,
                                   .linger_ns = 10 * SEC, .seed = 7};
      struct ta_flow_table *t = ta_flow_table_new(&cfg, check_order, &o);
      assert_non_null(t);
      struct script sc = {0};
      struct ta_packet *p =
          add(&sc, SEC, "10.0.0.1", 1, "10.0.0.2", 80, 5, 0, TA_TCP_ACK, 0);
      /* made in id order, then touched in reverse: the open list holds
       * them backwards */
      for (uint32_t i = 0; i < 2 * n; i++) {
        uint32_t j = i < n ? i : 2 * n - 1 - i;
        p->sport = (uint16_t)(1000 + j);
        p->frame = 1 + j * steps[k];
        p->ts_ns = SEC + i;
        ta_flow_table_packet(t, p);
      }
      /* all idle at one moment: the due ones are handed on together */
      p->sport = 1;
      p->ts_ns = 400 * SEC;
      p->frame = 1 + 2 * n * steps[k];
      ta_flow_table_packet(t, p);
      assert_int_equal(o.n, n);
      ta_flow_table_flush(t);
      assert_int_equal(o.n, n + 1);
      assert_true(o.ascending);
      ta_flow_table_free(t);
    }
  }
}

/* Every record handed on, kept whole, in the order handed on. */
struct all {
  size_t n;
  struct ta_conn *c[64];
};

static void keep_all(void *ctx, const struct ta_conn *c) {
  struct all *a = ctx;
  assert_true(a->n < sizeof a->c / sizeof a->c[0]);
  a->c[a->n] = malloc(sizeof *c);
  assert_non_null(a->c[a->n]);
  memcpy(a->c[a->n++], c, sizeof *c);
}

/* Connections of every form at once, one start a millisecond after the
 * other from t0: refusals held as their packets (IPv4 and IPv6, retried
 * or not) and closed exchanges packed once idle. Each one's packet
 * indices are listed in idx[k] (n[k] of them). */
enum { MIX = 12 };
static void add_mix(struct script *sc, int64_t t0, size_t idx[MIX][8],
                    size_t n[MIX]) {
  for (uint16_t k = 0; k < MIX; k++) {
    int64_t ts = t0 + k * (SEC / 1000);
    uint16_t port = (uint16_t)(6000 + k + (t0 / SEC) * 100);
    bool v6 = k % 4 == 1;
    const char *c = v6 ? "fd00::1" : "10.0.0.1", *v = v6 ? "fd00::2"
                                                         : "10.0.0.2";
    size_t first = sc->n;
    if (k % 4 == 2) {
      uint32_t isn = 1000u * k;
      add(sc, ts, c, port, v, 80, isn, 0, TA_TCP_SYN, 0);
      add(sc, ts + 100, v, 80, c, port, 9, isn + 1, TA_TCP_SYN | TA_TCP_ACK,
          0);
      add(sc, ts + 200, c, port, v, 80, isn + 1, 10, TA_TCP_ACK, 0);
      add(sc, ts + 300, c, port, v, 80, isn + 1, 10, TA_TCP_FIN | TA_TCP_ACK,
          0);
      add(sc, ts + 400, v, 80, c, port, 10, isn + 2, TA_TCP_FIN | TA_TCP_ACK,
          0);
      add(sc, ts + 500, c, port, v, 80, isn + 2, 11, TA_TCP_ACK, 0);
    } else {
      add(sc, ts, c, port, v, 23, 100, 0, TA_TCP_SYN, 0);
      add(sc, ts + 300, v, 23, c, port, 0, 101, TA_TCP_RST | TA_TCP_ACK, 0);
      if (k % 4 != 3) { /* retried, refused again */
        add(sc, ts + 600, c, port, v, 23, 100, 0, TA_TCP_SYN, 0);
        add(sc, ts + 900, v, 23, c, port, 0, 101, TA_TCP_RST | TA_TCP_ACK, 0);
      }
    }
    n[k] = sc->n - first;
    for (size_t i = 0; i < n[k]; i++)
      idx[k][i] = first + i;
  }
}

/* Records of every form due at one moment, more of them than are fetched
 * ahead of each other, and as many at the end of the capture: each is
 * handed on as the tracker built it, in id order. */
static void test_flow_every_form_handed_on_whole(void **state) {
  (void)state;
  struct all got = {0};
  struct ta_flow_config cfg = {.max_conns = 64, .idle_timeout_ns = 300 * SEC,
                               .linger_ns = 10 * SEC,
                               .attempt_timeout_ns = 40 * SEC, .seed = 3,
                               .pack_min_held = 1,
                               .pack_closed_min_held = 1};
  struct ta_flow_table *t = ta_flow_table_new(&cfg, keep_all, &got);
  assert_non_null(t);
  struct script sc = {0};
  size_t idx[2][MIX][8], n[2][MIX];
  const char *v = "10.0.0.2";
  add_mix(&sc, 1 * SEC, idx[0], n[0]);
  size_t lone[3];
  lone[0] = sc.n; /* packs what is idle, and stays */
  add(&sc, 5 * SEC, "10.0.0.7", 5000, v, 80, 1, 0, TA_TCP_SYN, 0);
  play(t, &sc, 0, sc.n);
  assert_int_equal(got.n, 0);
  assert_packed(t, 0, 3 * MIX / 4 + 1, MIX / 4);
  lone[1] = sc.n; /* past the linger time: the mix is due at once */
  add(&sc, 20 * SEC, "10.0.0.8", 5000, v, 80, 1, 0, TA_TCP_SYN, 0);
  play(t, &sc, sc.n - 1, sc.n);
  assert_int_equal(got.n, MIX);
  for (size_t k = 0; k < MIX; k++)
    assert_record(got.c[k], &sc, idx[0][k], n[0][k], TA_END_CLOSED);
  add_mix(&sc, 30 * SEC, idx[1], n[1]);
  lone[2] = sc.n;
  add(&sc, 33 * SEC, "10.0.0.9", 5000, v, 80, 1, 0, TA_TCP_SYN, 0);
  play(t, &sc, lone[1] + 1, sc.n);
  assert_packed(t, 0, 3 * MIX / 4 + 3, MIX / 4);
  ta_flow_table_flush(t);
  assert_int_equal(got.n, 2 * MIX + 3);
  assert_record(got.c[MIX], &sc, &lone[0], 1, TA_END_CAPTURE_END);
  assert_record(got.c[MIX + 1], &sc, &lone[1], 1, TA_END_CAPTURE_END);
  for (size_t k = 0; k < MIX; k++)
    assert_record(got.c[MIX + 2 + k], &sc, idx[1][k], n[1][k],
                  TA_END_CLOSED);
  assert_record(got.c[2 * MIX + 2], &sc, &lone[2], 1, TA_END_CAPTURE_END);
  for (size_t i = 0; i < got.n; i++)
    free(got.c[i]);
  ta_flow_table_free(t);
}

/* ---- packed records moved between chunks ---- */

/* Many long connections, each sent a few exchanges now and then: each
 * burst unpacks its record and grows it (more packets in its ladder,
 * bigger counters, retransmissions), and once idle again it is packed at
 * its new size, so packed records drift between sizes while some close,
 * linger and are handed on, and others time out idle. The sizes they
 * leave empty chunks for the sizes they reach (lib/flow.c, chunk_empty). */
enum { CHURN_CONNS = 3000, CHURN_ROUNDS = 30 };

struct churn_conn {
  uint32_t cseq, sseq; /* the client's and the server's next sequence */
  uint8_t gen;         /* connections this client opened before */
  bool closed;
};

/* The records handed on by a table that never packs, and how a packing
 * one's compare with them, in order. */
struct churn {
  struct ta_conn *want;
  size_t n_want, cap_want;
  size_t n_got, differ;
  bool reference;
};

static void churn_collect(void *ctx, const struct ta_conn *c) {
  struct churn *ch = ctx;
  if (ch->reference) {
    if (ch->n_want == ch->cap_want) {
      ch->cap_want = ch->cap_want ? 2 * ch->cap_want : 1024;
      ch->want = realloc(ch->want, ch->cap_want * sizeof *ch->want);
      assert_non_null(ch->want);
    }
    memcpy(&ch->want[ch->n_want++], c, sizeof *c); /* padding too */
    return;
  }
  if (ch->n_got >= ch->n_want ||
      memcmp(&ch->want[ch->n_got], c, sizeof *c) != 0)
    ch->differ++;
  ch->n_got++;
}

static uint32_t churn_rand(uint64_t *s) {
  *s = *s * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(*s >> 33);
}

/* One segment of connection i (from its client or its server). */
static void churn_seg(struct ta_flow_table *t, int64_t ts, uint32_t i,
                      const struct churn_conn *k, bool from_client,
                      uint32_t seq, uint32_t ack, uint8_t flags,
                      uint32_t len) {
  char client[32];
  snprintf(client, sizeof client, "10.%u.%u.%u", 1u + k->gen, i / 250,
           i % 250 + 1);
  const char *server = "10.200.0.1";
  uint16_t cport = (uint16_t)(20000 + i), sport = (uint16_t)(80 + i % 3);
  if (from_client)
    feed(t, ts, client, cport, server, sport, seq, ack, flags, len);
  else
    feed(t, ts, server, sport, client, cport, seq, ack, flags, len);
}

/* A few exchanges on connection i from ts: data one way or the other,
 * acknowledged, sometimes sent twice; now and then the close. */
static void churn_burst(struct ta_flow_table *t, int64_t ts, uint32_t i,
                        struct churn_conn *k, uint64_t *rng) {
  uint32_t n = 1 + churn_rand(rng) % 4;
  for (uint32_t j = 0; j < n; j++, ts += 4000) {
    uint32_t len = 1 + churn_rand(rng) % 1400;
    bool up = churn_rand(rng) % 3 != 0, again = churn_rand(rng) % 5 == 0;
    uint32_t *seq = up ? &k->cseq : &k->sseq, *ack = up ? &k->sseq : &k->cseq;
    churn_seg(t, ts, i, k, up, *seq, *ack, TA_TCP_ACK | TA_TCP_PSH, len);
    if (again)
      churn_seg(t, ts + 1000, i, k, up, *seq, *ack, TA_TCP_ACK | TA_TCP_PSH,
                len);
    *seq += len;
    churn_seg(t, ts + 2000, i, k, !up, *ack, *seq, TA_TCP_ACK, 0);
  }
  if (churn_rand(rng) % 8 == 0) {
    churn_seg(t, ts, i, k, true, k->cseq, k->sseq, TA_TCP_FIN | TA_TCP_ACK, 0);
    churn_seg(t, ts + 1000, i, k, false, k->sseq, k->cseq + 1,
              TA_TCP_FIN | TA_TCP_ACK, 0);
    churn_seg(t, ts + 2000, i, k, true, k->cseq + 1, k->sseq + 1, TA_TCP_ACK,
              0);
    k->closed = true;
  }
}

/* Connection i opened (by its client's next address once it closed) at
 * ts, with a burst most of the time. */
static void churn_open(struct ta_flow_table *t, int64_t ts, uint32_t i,
                       struct churn_conn *k, uint64_t *rng) {
  if (k->closed)
    k->gen++;
  k->closed = false;
  k->cseq = churn_rand(rng);
  k->sseq = churn_rand(rng);
  churn_seg(t, ts, i, k, true, k->cseq, 0, TA_TCP_SYN, 0);
  churn_seg(t, ts + 1000, i, k, false, k->sseq, k->cseq + 1,
            TA_TCP_SYN | TA_TCP_ACK, 0);
  k->cseq++;
  k->sseq++;
  churn_seg(t, ts + 2000, i, k, true, k->cseq, k->sseq, TA_TCP_ACK, 0);
  if (churn_rand(rng) % 5)
    churn_burst(t, ts + 3000, i, k, rng);
}

/* The whole capture: handshakes, then a round every 6 s (past the time an
 * open record is packed after) on a third of the connections: a burst, or
 * a new connection where the last one closed. New records start small
 * and grow as the old ones go, so the sizes drift all along. The same
 * packets whatever table takes them. */
static void churn_play(struct ta_flow_table *t) {
  struct churn_conn *k = calloc(CHURN_CONNS, sizeof *k);
  assert_non_null(k);
  uint64_t rng = 7;
  for (uint32_t i = 0; i < CHURN_CONNS; i++)
    churn_open(t, SEC + (int64_t)i * 100000, i, &k[i], &rng);
  for (int r = 1; r <= CHURN_ROUNDS; r++) {
    for (uint32_t i = 0; i < CHURN_CONNS; i++) {
      int64_t ts = SEC + r * 6 * SEC + (int64_t)i * 100000;
      if (churn_rand(&rng) % 3)
        continue;
      if (k[i].closed)
        churn_open(t, ts, i, &k[i], &rng);
      else
        churn_burst(t, ts, i, &k[i], &rng);
    }
  }
  free(k);
}

static struct ta_flow_table *churn_table(struct churn *ch, uint32_t min_held,
                                         int64_t idle) {
  struct ta_flow_config cfg = {.max_conns = 4096, .idle_timeout_ns = idle,
                               .linger_ns = 10 * SEC,
                               .attempt_timeout_ns = 40 * SEC, .seed = 5,
                               .pack_min_held = min_held,
                               .pack_closed_min_held = min_held};
  struct ta_flow_table *t = ta_flow_table_new(&cfg, churn_collect, ch);
  assert_non_null(t);
  return t;
}

/* Packed records moved out of chunks by the thousand are each found by
 * their next packet, rebuilt as they were, and handed on once, in the
 * order and as whole as by a table that packs nothing. With the longer
 * idle timeout, records idle for a tenth of it are packed again against
 * references (lib/flow.c, pack_ref) and moved as well. */
static void churn_check(int64_t idle) {
  struct churn ch = {.reference = true};
  struct ta_flow_table *t = churn_table(&ch, UINT32_MAX, idle); /* no packing */
  churn_play(t);
  ta_flow_table_flush(t);
  assert_int_equal(ta_flow_table_packed_moved(t), 0);
  ta_flow_table_free(t);
  assert_true(ch.n_want > CHURN_CONNS);

  ch.reference = false;
  t = churn_table(&ch, 1, idle);
  churn_play(t);
  struct ta_flow_forms f;
  ta_flow_table_forms(t, &f);
  uint64_t moved = ta_flow_table_packed_moved(t);
  print_message("packed records moved: %llu; held %u full, %u packed\n",
                (unsigned long long)moved, f.full, f.packed);
  assert_true(moved >= 500);
  assert_true(f.packed >= CHURN_CONNS / 4);
  ta_flow_table_flush(t);
  assert_int_equal(ch.n_got, ch.n_want);
  assert_int_equal(ch.differ, 0);
  ta_flow_table_free(t);
  free(ch.want);
}

static void test_flow_packed_records_moved(void **state) {
  (void)state;
  churn_check(60 * SEC); /* some time out idle */
  churn_check(300 * SEC);
}

/* Record sizes the memory figures in ta_limits.h and the README rest on. */
static void test_flow_record_sizes(void **state) {
  (void)state;
  size_t full = ta_flow_record_size(0), one = ta_flow_record_size(1);
  size_t most = ta_flow_record_size(TA_ATTEMPT_MAX_SYNS);
  print_message("flow records: full %zu B, attempt %zu B (+%zu per SYN, "
                "%zu B at most)\n", full, one, ta_flow_record_size(2) - one,
                most);
  assert_true(one <= 192);
  /* a flood of retries on one tuple still costs well under a full record */
  assert_true(most < full * 2 / 3);
}

/* ---- packing a record's words: every length, both codes ---- */

#define TRIAL_WORDS (sizeof(struct ta_conn) / 8)

/* A word whose highest non-zero byte in memory is its n-th (0: zero),
 * the bytes below it drawn from *seed (some zero). */
static void trial_word(unsigned char *w, unsigned n, uint32_t *seed) {
  memset(w, 0, 8);
  for (unsigned i = 0; i < n; i++) {
    *seed = *seed * 1103515245u + 12345u;
    w[i] = (unsigned char)(*seed >> 16 & 3 ? *seed >> 20 : 0);
  }
  if (n)
    w[n - 1] |= (unsigned char)(1u << (*seed >> 24) % 8);
}

/* c packed and rebuilt by each mix of the codes: the same bytes back,
 * the lengths the words have. */
static void assert_pack_trial(const struct ta_conn *c, size_t len) {
  for (unsigned how = 0; how < 4; how++) {
    struct ta_conn out;
    memset(&out, 0x5a, sizeof out);
    assert_int_equal(ta__flow_pack_trial(c, how, &out), len);
    assert_memory_equal(&out, c, sizeof out);
  }
}

/* Each word of a record takes each length from 0 to 8 in turn, beside
 * neighbours of every length (so both words of a pair, and the last one
 * alone, see all of them), then all zero and all 0xff. */
static void test_flow_pack_every_length(void **state) {
  (void)state;
  uint32_t seed = 7;
  struct ta_conn c;
  for (unsigned round = 0; round < 9 * 9; round++) {
    unsigned char *w = (unsigned char *)&c;
    size_t len = 0;
    for (size_t i = 0; i < TRIAL_WORDS; i++) {
      unsigned n = (unsigned)(i + round + (i % 2) * (round / 9)) % 9;
      trial_word(w + 8 * i, n, &seed);
      len += n;
    }
    assert_pack_trial(&c, len);
  }
  memset(&c, 0, sizeof c);
  assert_pack_trial(&c, 0);
  memset(&c, 0xff, sizeof c);
  assert_pack_trial(&c, sizeof c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_flow_pairs_both_directions),
      cmocka_unit_test(test_flow_closed_record_handed_on_after_linger),
      cmocka_unit_test(test_flow_new_isn_after_close_is_new_connection),
      cmocka_unit_test(test_flow_idle_timeout),
      cmocka_unit_test(test_flow_unanswered_attempt_ends_sooner),
      cmocka_unit_test(test_flow_eviction_oldest_idle_first),
      cmocka_unit_test(test_flow_bounded_under_many_tuples),
      cmocka_unit_test(test_flow_same_result_for_any_seed),
      cmocka_unit_test(test_flow_attempt_materialized_by_synack),
      cmocka_unit_test(test_flow_refusal_held_as_packets),
      cmocka_unit_test(test_flow_refusal_materialized),
      cmocka_unit_test(test_flow_refusal_then_new_connection),
      cmocka_unit_test(test_flow_refusal_evicted_first),
      cmocka_unit_test(test_flow_attempt_retry_with_new_isn),
      cmocka_unit_test(test_flow_attempt_evicted),
      cmocka_unit_test(test_flow_attempt_at_capture_end),
      cmocka_unit_test(test_flow_attempt_over_the_syn_bound),
      cmocka_unit_test(test_flow_attempt_long_option_layout),
      cmocka_unit_test(test_flow_idle_records_packed),
      cmocka_unit_test(test_flow_packed_times_going_back),
      cmocka_unit_test(test_flow_small_table_not_packed),
      cmocka_unit_test(test_flow_closed_packed_only_when_many),
      cmocka_unit_test(test_flow_packed_evicted),
      cmocka_unit_test(test_flow_buckets_grow),
      cmocka_unit_test(test_flow_near_tuples_spread),
      cmocka_unit_test(test_flow_colliding_tuples),
      cmocka_unit_test(test_flow_handed_on_in_id_order),
      cmocka_unit_test(test_flow_every_form_handed_on_whole),
      cmocka_unit_test(test_flow_packed_records_moved),
      cmocka_unit_test(test_flow_record_sizes),
      cmocka_unit_test(test_flow_pack_every_length),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
