/* tcpaudit - tests: the per-host aggregates (lib/hosts.c): counters past
 * 16 bits, peer sketches past their inline bits, OS evidence past its cap,
 * the scan flag, address order and a full table, and counts that wait a
 * few calls (for prefetching) yet read the same as counts made at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ta_conn.h"
#include "ta_hash.h"
#include "ta_hosts.h"
#include "ta_test_util.h"

/* A finalized connection as the host table reads it. */
static void conn_set(struct ta_conn *c, uint64_t id, uint32_t from,
                     uint32_t to, uint16_t port, int scenario) {
  memset(c, 0, sizeof *c);
  c->id = id;
  c->family = 4;
  for (int i = 0; i < 4; i++) {
    c->side[TA_DIR_ORIG].ip[i] = (uint8_t)(from >> (24 - 8 * i));
    c->side[TA_DIR_RESP].ip[i] = (uint8_t)(to >> (24 - 8 * i));
  }
  c->side[TA_DIR_ORIG].port = 40000;
  c->side[TA_DIR_RESP].port = port;
  c->scenario = (uint8_t)scenario;
  c->first_ts = 1000000000LL * (int64_t)(id + 1);
  c->last_ts = c->first_ts + 5;
}

#define MAX_SEEN 8

struct seen {
  size_t n;
  struct ta_host h[MAX_SEEN];
  struct ta_service svc[MAX_SEEN];
};

static void keep(void *ctx, const struct ta_host *h) {
  struct seen *s = ctx;
  assert_true(s->n < MAX_SEEN);
  s->h[s->n] = *h;
  if (h->n_services)
    s->svc[s->n] = h->services[0];
  s->n++;
}

static struct seen *read_all(struct ta_hosts *t) {
  struct seen *s = calloc(1, sizeof *s);
  assert_non_null(s);
  ta_hosts_each(t, keep, s);
  return s;
}

static const uint32_t A = 0x0a000001, B = 0x0a000002;

/* 16-bit counters move to 64 bits rather than stop or wrap. */
static void test_hosts_counters_pass_16_bits(void **state) {
  (void)state;
  struct ta_hosts *t = ta_hosts_new(16, 1);
  assert_non_null(t);
  struct ta_conn *c = malloc(sizeof *c);
  assert_non_null(c);
  for (uint64_t i = 0; i < 70000; i++) {
    conn_set(c, i, A, B, 80, TA_SC_COMPLETED);
    ta_hosts_add(t, c);
  }
  for (uint64_t i = 0; i < 3; i++) {
    conn_set(c, 70000 + i, A, B, 80, TA_SC_REFUSED);
    ta_hosts_add(t, c);
  }
  struct seen *s = read_all(t);
  assert_int_equal(s->n, 2);
  const struct ta_host *a = &s->h[0], *b = &s->h[1];
  assert_int_equal(a->as_orig.connections, 70003);
  assert_int_equal(a->as_orig.by_scenario[TA_SC_COMPLETED], 70000);
  assert_int_equal(a->as_orig.by_scenario[TA_SC_REFUSED], 3);
  assert_int_equal(a->failed_attempts, 3);
  assert_int_equal(a->as_orig.distinct_peers, 1);
  assert_int_equal(a->as_resp.connections, 0);
  assert_int_equal(a->n_services, 0);
  assert_int_equal(b->as_resp.connections, 70003);
  assert_int_equal(b->as_resp.by_scenario[TA_SC_COMPLETED], 70000);
  assert_int_equal(b->n_services, 1);
  assert_int_equal(s->svc[1].port, 80);
  assert_int_equal(s->svc[1].by_scenario[TA_SC_COMPLETED], 70000);
  assert_int_equal(s->svc[1].by_scenario[TA_SC_REFUSED], 3);
  assert_int_equal(a->first_ts, 1000000000LL);
  assert_int_equal(a->last_ts, 1000000000LL * 70003 + 5);
  free(s);
  free(c);
  ta_hosts_free(t);
}

/* The bit an IPv4 peer sets in a sketch, as the table hashes it. */
static unsigned reference_bit(uint32_t addr) {
  uint8_t ip[16] = {0};
  for (int k = 0; k < 4; k++)
    ip[k] = (uint8_t)(addr >> (24 - 8 * k));
  uint64_t a, b;
  memcpy(&a, ip, 8);
  memcpy(&b, ip + 8, 8);
  uint64_t key = ta_hash_mix64(a ^ ta_hash_mix64(b));
  return (unsigned)(ta_hash_mix64(key) % TA_HOST_SKETCH_BITS);
}

/* The estimate of a plain 512-bit bitmap, bit for bit as the table hashes
 * a peer: the inline bits and the records they move to count the same. */
static uint64_t reference_peers(uint32_t first, uint32_t n) {
  uint64_t bits[TA_HOST_SKETCH_BITS / 64] = {0};
  for (uint32_t i = 0; i < n; i++) {
    unsigned bit = reference_bit(first + i);
    bits[bit / 64] |= 1ull << (bit % 64);
  }
  unsigned set = 0;
  for (unsigned i = 0; i < TA_HOST_SKETCH_BITS / 64; i++)
    set += (unsigned)__builtin_popcountll(bits[i]);
  return ta_host_sketch_estimate(set);
}

struct first {
  bool done;
  struct ta_host h;
};

static void first_only(void *ctx, const struct ta_host *h) {
  struct first *f = ctx;
  if (!f->done)
    f->h = *h;
  f->done = true;
}

static void test_hosts_sketch_past_inline_bits(void **state) {
  (void)state;
  static const uint32_t counts[] = {1, 5, 6, 7, 12, 14, 15, 16, 300, 5000};
  struct ta_conn *c = malloc(sizeof *c);
  struct first *f = malloc(sizeof *f);
  assert_non_null(c);
  assert_non_null(f);
  for (size_t k = 0; k < sizeof counts / sizeof counts[0]; k++) {
    struct ta_hosts *t = ta_hosts_new(1u << 14, 7);
    assert_non_null(t);
    for (uint32_t i = 0; i < counts[k]; i++) {
      conn_set(c, i, 0x01000000, 0x0b000000 + i, 443, TA_SC_COMPLETED);
      ta_hosts_add(t, c);
      ta_hosts_add(t, c); /* the same peer again counts once */
    }
    f->done = false;
    ta_hosts_each(t, first_only, f); /* 1.0.0.0 sorts first */
    assert_true(f->done);
    assert_int_equal(f->h.as_orig.connections, 2 * counts[k]);
    assert_int_equal(f->h.as_orig.distinct_peers,
                     reference_peers(0x0b000000, counts[k]));
    assert_true(f->h.as_orig.distinct_targets > 0);
    ta_hosts_free(t);
  }
  free(f);
  free(c);
}

/* Many hosts' sketches at once, each passing from inline bits to a list
 * to a bitmap at its own pace (so lists given up by one are taken by
 * another): after every round each host's estimate, as originator and as
 * responder, is that of a plain bitmap of the same peers. */
#define TIER_HOSTS 40

struct tiers {
  uint64_t orig[TIER_HOSTS], resp[TIER_HOSTS];
};

static void tiers_keep(void *ctx, const struct ta_host *h) {
  struct tiers *x = ctx;
  unsigned k = h->ip[3];
  if (h->ip[0] == 1)
    x->orig[k] = h->as_orig.distinct_peers;
  else
    x->resp[k] = h->as_resp.distinct_peers;
}

static uint64_t reference_of(const uint64_t bits[TA_HOST_SKETCH_BITS / 64]) {
  unsigned set = 0;
  for (unsigned i = 0; i < TA_HOST_SKETCH_BITS / 64; i++)
    set += (unsigned)__builtin_popcountll(bits[i]);
  return ta_host_sketch_estimate(set);
}

static void test_hosts_sketch_tiers_match_a_bitmap(void **state) {
  (void)state;
  struct ta_hosts *t = ta_hosts_new(1u << 10, 11);
  struct ta_conn *c = malloc(sizeof *c);
  struct tiers *x = calloc(1, sizeof *x);
  uint64_t(*ref_orig)[TA_HOST_SKETCH_BITS / 64] =
      calloc(TIER_HOSTS, sizeof *ref_orig);
  uint64_t(*ref_resp)[TA_HOST_SKETCH_BITS / 64] =
      calloc(TIER_HOSTS, sizeof *ref_resp);
  assert_non_null(t);
  assert_non_null(c);
  assert_non_null(x);
  assert_non_null(ref_orig);
  assert_non_null(ref_resp);
  uint64_t id = 0;
  /* host 1.0.0.k makes round r's connection to 11.0.0.r while r < k */
  for (unsigned r = 0; r < TIER_HOSTS; r++) {
    for (unsigned k = r + 1; k < TIER_HOSTS; k++) {
      uint32_t from = 0x01000000 + k, to = 0x0b000000 + r;
      conn_set(c, id++, from, to, 443, TA_SC_COMPLETED);
      ta_hosts_add(t, c);
      unsigned b = reference_bit(to);
      ref_orig[k][b / 64] |= 1ull << (b % 64);
      b = reference_bit(from);
      ref_resp[r][b / 64] |= 1ull << (b % 64);
    }
    ta_hosts_each(t, tiers_keep, x);
    for (unsigned k = 0; k < TIER_HOSTS; k++) {
      assert_int_equal(x->orig[k], reference_of(ref_orig[k]));
      assert_int_equal(x->resp[k], reference_of(ref_resp[k]));
    }
  }
  assert_true(x->orig[TIER_HOSTS - 1] > 30); /* past the list, too */
  free(ref_resp);
  free(ref_orig);
  free(x);
  free(c);
  ta_hosts_free(t);
}

/* A SYN of the given TTL from side dir. */
static void with_syn(struct ta_conn *c, int dir, uint8_t ttl) {
  struct ta_syn_features *syn = &c->side[dir].syn;
  syn->seen = true;
  syn->ttl = ttl;
  syn->flags = dir == TA_DIR_ORIG ? TA_TCP_SYN : TA_TCP_SYN | TA_TCP_ACK;
  syn->window = 64240;
}

/* Up to TA_FP_HOST_EVIDENCE shapes per host, each counted; the rest only
 * counted as overflow. */
static void test_hosts_evidence_cap(void **state) {
  (void)state;
  struct ta_hosts *t = ta_hosts_new(16, 3);
  struct ta_conn *c = malloc(sizeof *c);
  assert_non_null(t);
  assert_non_null(c);
  for (uint64_t i = 0; i < 20; i++) {
    conn_set(c, 100 + i, A, B, 22, TA_SC_COMPLETED);
    with_syn(c, TA_DIR_ORIG, (uint8_t)(50 + i % 8)); /* 8 shapes */
    with_syn(c, TA_DIR_RESP, 64);
    ta_hosts_add(t, c);
  }
  struct seen *s = read_all(t);
  assert_int_equal(s->n, 2);
  const struct ta_fp_host *a = &s->h[0].os, *b = &s->h[1].os;
  assert_int_equal(a->n, TA_FP_HOST_EVIDENCE);
  for (uint8_t i = 0; i < a->n; i++) {
    assert_int_equal(a->ev[i].conn_id, 100 + i);
    assert_int_equal(a->ev[i].packets, i < 4 ? 3 : 2);
    assert_int_equal(a->ev[i].dir, TA_DIR_ORIG);
    assert_int_equal(ta_fp_evidence_features(a, &a->ev[i])->ttl, 50 + i);
  }
  assert_int_equal(a->overflow, 4); /* ttl 56 and 57, twice each */
  assert_int_equal(b->n, 1);
  assert_int_equal(b->ev[0].packets, 20);
  assert_int_equal(b->ev[0].dir, TA_DIR_RESP);
  assert_true(ta_fp_evidence_features(b, &b->ev[0])->synack);
  free(s);
  free(c);
  ta_hosts_free(t);
}

/* The table's evidence reads as the plain form (ta_fp_host_add) of the
 * same SYNs: entries kept narrow while they fit, then wide when a
 * connection id passes 32 bits or a count 16 bits, or from the start. */
static void assert_same_evidence(const struct ta_fp_host *got,
                                 const struct ta_fp_host *want) {
  assert_int_equal(got->n, want->n);
  assert_int_equal(got->overflow, want->overflow);
  for (uint8_t i = 0; i < got->n; i++) {
    const struct ta_fp_evidence *g = &got->ev[i], *w = &want->ev[i];
    assert_int_equal(g->packets, w->packets);
    assert_int_equal(g->conn_id, w->conn_id);
    assert_int_equal(g->dir, w->dir);
    assert_int_equal(g->entry, w->entry);
    assert_int_equal(ta_fp_evidence_features(got, g)->ttl,
                     ta_fp_evidence_features(want, w)->ttl);
    assert_int_equal(ta_fp_evidence_features(got, g)->synack,
                     ta_fp_evidence_features(want, w)->synack);
    assert_int_equal(ta_fp_evidence_features(got, g)->n_layout,
                     ta_fp_evidence_features(want, w)->n_layout);
    assert_memory_equal(ta_fp_evidence_features(got, g)->layout,
                        ta_fp_evidence_features(want, w)->layout,
                        ta_fp_evidence_features(want, w)->n_layout);
  }
}

/* The connection of id from 10.0.0.from to B, its SYN of ttl. */
static void add_syn(struct ta_hosts *t, struct ta_fp_host *ref,
                    struct ta_fp_shapes *shapes, struct ta_conn *c,
                    uint64_t id, uint32_t from, uint8_t ttl) {
  conn_set(c, id, 0x0a000000 + from, B, 22, TA_SC_COMPLETED);
  with_syn(c, TA_DIR_ORIG, ttl);
  ta_hosts_add(t, c);
  ta_fp_host_add(ref, shapes, c, TA_DIR_ORIG);
}

static void test_hosts_evidence_narrow_and_wide(void **state) {
  (void)state;
  struct ta_hosts *t = ta_hosts_new(16, 13);
  struct ta_fp_shapes *shapes = ta_fp_shapes_new(13);
  struct ta_conn *c = malloc(sizeof *c);
  struct ta_fp_host *ref = calloc(3, sizeof *ref);
  assert_non_null(t);
  assert_non_null(shapes);
  assert_non_null(c);
  assert_non_null(ref);
  const uint64_t big = 1ull << 32;
  /* 10.0.0.3: an id past 32 bits at its second shape */
  add_syn(t, &ref[0], shapes, c, 5, 3, 50);
  add_syn(t, &ref[0], shapes, c, big + 7, 3, 51);
  add_syn(t, &ref[0], shapes, c, 6, 3, 50);
  for (uint8_t ttl = 52; ttl < 60; ttl++)
    add_syn(t, &ref[0], shapes, c, 100 + ttl, 3, ttl); /* past the cap */
  /* 10.0.0.4: wide from its first shape on */
  add_syn(t, &ref[1], shapes, c, big * 3, 4, 60);
  add_syn(t, &ref[1], shapes, c, 9, 4, 61);
  add_syn(t, &ref[1], shapes, c, 10, 4, 60);
  /* 10.0.0.5: a count past 16 bits, narrow run of three before */
  add_syn(t, &ref[2], shapes, c, 11, 5, 40);
  add_syn(t, &ref[2], shapes, c, 12, 5, 41);
  add_syn(t, &ref[2], shapes, c, 13, 5, 42);
  for (uint64_t i = 0; i < 65540; i++)
    add_syn(t, &ref[2], shapes, c, 20 + i, 5, 41);
  add_syn(t, &ref[2], shapes, c, big * 5, 5, 43);
  add_syn(t, &ref[2], shapes, c, 7, 5, 40);
  struct seen *s = read_all(t); /* 10.0.0.2 (B), then 3, 4, 5 */
  assert_int_equal(s->n, 4);
  for (int k = 0; k < 3; k++)
    assert_same_evidence(&s->h[k + 1].os, &ref[k]);
  assert_int_equal(s->h[3].os.ev[1].packets, 65541);
  free(s);
  free(ref);
  free(c);
  ta_fp_shapes_free(shapes);
  ta_hosts_free(t);
}

/* SYNs that share some of the words telling a host's shapes apart and
 * not others (the entry, TTL, kind, layout and its length), with bytes
 * past the layout or not, matched or not, from hosts whose evidence fills
 * up, one of them wide: each host reads as the plain form, which compares
 * shapes field by field. */
static void test_hosts_evidence_varied(void **state) {
  (void)state;
  enum { HOSTS = 4 };
  struct ta_hosts *t = ta_hosts_new(16, 23);
  struct ta_fp_shapes *shapes = ta_fp_shapes_new(23);
  struct ta_conn *c = malloc(sizeof *c);
  struct ta_fp_host *ref = calloc(HOSTS, sizeof *ref);
  assert_non_null(t);
  assert_non_null(shapes);
  assert_non_null(c);
  assert_non_null(ref);
  static const uint16_t windows[] = {29200, 64240, 8192};
  uint32_t x = 7;
  for (uint64_t n = 0; n < 3000; n++) {
    x = x * 1103515245u + 12345u;
    uint32_t r = x >> 4;
    unsigned k = r % HOSTS;
    r /= HOSTS;
    /* a few shapes often, so that most SYNs find theirs */
    bool few = r % 4 != 0;
    r /= 4;
    uint64_t id = k == HOSTS - 1 ? (1ull << 40) + n : n + 1;
    conn_set(c, id, 0x0a000003 + k, B, 22, TA_SC_COMPLETED);
    struct ta_syn_features *syn = &c->side[TA_DIR_ORIG].syn;
    syn->seen = true;
    syn->ttl = (uint8_t)(few ? 62 : 62 + r % 4);
    r /= 4;
    syn->flags = r % 2 && !few ? TA_TCP_SYN | TA_TCP_ACK : TA_TCP_SYN;
    r /= 2;
    syn->window = few ? windows[0] : windows[r % 3];
    r /= 3;
    syn->opt.has_mss = true;
    syn->opt.mss = 1460;
    tt_varied_layout(&syn->opt, r % (few ? 2 : TT_VARIED_LAYOUTS));
    r /= TT_VARIED_LAYOUTS;
    if (r % 2 && syn->opt.n_layout < TA_MAX_OPT_LAYOUT)
      syn->opt.layout[TA_MAX_OPT_LAYOUT - 1] = 0x5a; /* past its end */
    r /= 2;
    if (r % 2)
      ta_fp_syn_match(syn, c->family);
    ta_hosts_add(t, c);
    ta_fp_host_add(&ref[k], shapes, c, TA_DIR_ORIG);
  }
  struct seen *s = read_all(t); /* 10.0.0.2 (B), then 3 to 6 */
  assert_int_equal(s->n, HOSTS + 1);
  for (int k = 0; k < HOSTS; k++) {
    assert_same_evidence(&s->h[k + 1].os, &ref[k]);
    assert_int_equal(ref[k].n, TA_FP_HOST_EVIDENCE);
    uint64_t counted = 0;
    for (uint8_t i = 0; i < ref[k].n; i++)
      counted += ref[k].ev[i].packets;
    assert_true(ref[k].overflow > 0);
    assert_true(counted > 2 * ref[k].overflow);
  }
  free(s);
  free(ref);
  free(c);
  ta_fp_shapes_free(shapes);
  ta_hosts_free(t);
}

/* Runs move to more room, and to the wide form, while other hosts take
 * the runs given up: after every new shape each host still reads as the
 * plain form. */
static void test_hosts_evidence_every_step(void **state) {
  (void)state;
  struct ta_hosts *t = ta_hosts_new(16, 19);
  struct ta_fp_shapes *shapes = ta_fp_shapes_new(19);
  struct ta_conn *c = malloc(sizeof *c);
  struct ta_fp_host *ref = calloc(4, sizeof *ref);
  assert_non_null(t);
  assert_non_null(shapes);
  assert_non_null(c);
  assert_non_null(ref);
  uint64_t id = 1;
  for (uint8_t step = 0; step < TA_FP_HOST_EVIDENCE + 1; step++) {
    for (uint32_t k = 0; k < 4; k++) {
      /* 10.0.0.4 goes wide at its fourth shape, 10.0.0.6 at its first */
      uint64_t at = (k == 1 && step == 3) || (k == 3 && step == 0)
                        ? (1ull << 40) + id
                        : id;
      add_syn(t, &ref[k], shapes, c, at, 3 + k, (uint8_t)(40 + step));
      add_syn(t, &ref[k], shapes, c, id + 1, 3 + k, (uint8_t)(40 + step / 2));
      id += 2;
    }
    struct seen *s = read_all(t); /* 10.0.0.2 (B), then 3 to 6 */
    assert_int_equal(s->n, 5);
    for (int k = 0; k < 4; k++)
      assert_same_evidence(&s->h[k + 1].os, &ref[k]);
    free(s);
  }
  free(ref);
  free(c);
  ta_fp_shapes_free(shapes);
  ta_hosts_free(t);
}

/* A responder's services as plain counts: ports moving through every
 * size of services record, counters past 8 bits next to measured latency,
 * ports past the cap counted as overflow. Each port's first connection is
 * one it took, since refusals alone make no service. */
#define SVC_PORTS (TA_MAX_SERVICES_PER_HOST + 6)

struct svc_ref {
  uint64_t by[SVC_PORTS][TA_SC_COUNT];
  uint64_t timed[SVC_PORTS]; /* connections with a response time */
  uint64_t overflow;
  bool seen[SVC_PORTS];
  bool checked;
};

static void check_services(void *ctx, const struct ta_host *h) {
  struct svc_ref *x = ctx;
  if (h->ip[3] != 2) /* B */
    return;
  assert_int_equal(ta_host_n_services(h), TA_MAX_SERVICES_PER_HOST);
  assert_int_equal(ta_host_services_overflow(h), x->overflow);
  const struct ta_service *svc = ta_host_services(h);
  for (uint32_t i = 0; i < TA_MAX_SERVICES_PER_HOST; i++) {
    assert_int_equal(svc[i].port, 1000 + i); /* in order first seen */
    for (int k = 0; k < TA_SC_COUNT; k++)
      assert_int_equal(svc[i].by_scenario[k], x->by[i][k]);
    if (x->timed[i]) {
      assert_non_null(svc[i].lat);
      assert_int_equal(svc[i].lat->response.count, x->timed[i]);
    } else {
      assert_null(svc[i].lat);
    }
  }
  x->checked = true;
}

static void add_service_conn(struct ta_hosts *t, struct svc_ref *x,
                             struct ta_conn *c, uint64_t id, uint32_t port) {
  int sc = (int)((id + port) % TA_SC_COUNT);
  if (port % 4 == 0 || !x->seen[port])
    sc = TA_SC_COMPLETED; /* past 255 in one counter, or the first */
  x->seen[port] = true;
  conn_set(c, id, A, B, (uint16_t)(1000 + port), sc);
  bool timed = port % 3 == 0;
  if (timed)
    ta_lat_small_add(&c->lat.response, 1000 + id % 7);
  ta_hosts_add(t, c);
  if (port >= TA_MAX_SERVICES_PER_HOST) {
    /* a port past the cap is no service either way: what it took counts */
    x->overflow += sc != TA_SC_REFUSED && sc != TA_SC_UNANSWERED;
    return;
  }
  x->by[port][sc]++;
  x->timed[port] += timed;
}

static void test_hosts_services_compact(void **state) {
  (void)state;
  struct ta_hosts *t = ta_hosts_new(16, 17);
  struct ta_conn *c = malloc(sizeof *c);
  struct svc_ref *x = calloc(1, sizeof *x);
  assert_non_null(t);
  assert_non_null(c);
  assert_non_null(x);
  uint64_t id = 0;
  /* port by port, so records move with counts (wide ones too) in them */
  for (uint32_t port = 0; port < SVC_PORTS; port++) {
    uint32_t n = port % 4 == 0 ? 300 : 1 + port % 5;
    for (uint32_t i = 0; i < n; i++)
      add_service_conn(t, x, c, id++, port);
  }
  /* then each once more, after the moves */
  for (uint32_t port = 0; port < SVC_PORTS; port++)
    add_service_conn(t, x, c, id++, port);
  ta_hosts_each(t, check_services, x);
  assert_true(x->checked);
  free(x);
  free(c);
  ta_hosts_free(t);
}

/* A host scanned on more ports than it has service slots still lists
 * the ports it serves, the ones reached after the scan too; a refusal on
 * a port that once took a connection counts in that service. */
static void check_scanned(void *ctx, const struct ta_host *h) {
  bool *checked = ctx;
  if (h->ip[3] != 2) /* B */
    return;
  assert_int_equal(h->as_resp.connections, 3 * TA_MAX_SERVICES_PER_HOST + 4);
  assert_int_equal(h->as_resp.by_scenario[TA_SC_REFUSED],
                   2 * TA_MAX_SERVICES_PER_HOST + 1);
  assert_int_equal(h->as_resp.by_scenario[TA_SC_UNANSWERED],
                   TA_MAX_SERVICES_PER_HOST);
  assert_int_equal(ta_host_n_services(h), 2);
  assert_int_equal(ta_host_services_overflow(h), 0);
  const struct ta_service *svc = ta_host_services(h);
  assert_int_equal(svc[0].port, 22);
  assert_int_equal(svc[0].by_scenario[TA_SC_COMPLETED], 1);
  assert_int_equal(svc[0].by_scenario[TA_SC_REFUSED], 1);
  assert_int_equal(svc[1].port, 443);
  assert_int_equal(svc[1].by_scenario[TA_SC_COMPLETED], 2);
  *checked = true;
}

static void test_hosts_refusals_make_no_service(void **state) {
  (void)state;
  struct ta_hosts *t = ta_hosts_new(16, 23);
  struct ta_conn *c = malloc(sizeof *c);
  assert_non_null(t);
  assert_non_null(c);
  uint64_t id = 0;
  conn_set(c, id++, A, B, 22, TA_SC_COMPLETED);
  ta_hosts_add(t, c);
  for (uint16_t p = 0; p < 3 * TA_MAX_SERVICES_PER_HOST; p++) {
    int sc = p < 2 * TA_MAX_SERVICES_PER_HOST ? TA_SC_REFUSED
                                              : TA_SC_UNANSWERED;
    conn_set(c, id++, A, B, (uint16_t)(2000 + p), sc);
    ta_hosts_add(t, c);
  }
  conn_set(c, id++, A, B, 443, TA_SC_COMPLETED);
  ta_hosts_add(t, c);
  conn_set(c, id++, A, B, 22, TA_SC_REFUSED);
  ta_hosts_add(t, c);
  conn_set(c, id++, A, B, 443, TA_SC_COMPLETED);
  ta_hosts_add(t, c);
  bool checked = false;
  ta_hosts_each(t, check_scanned, &checked);
  assert_true(checked);
  free(c);
  ta_hosts_free(t);
}

/* The hosts' addresses, as ta_hosts_each gives them. */
struct addrs {
  size_t n;
  struct ta_host h[128];
};

static void keep_addr(void *ctx, const struct ta_host *h) {
  struct addrs *s = ctx;
  assert_true(s->n < 128);
  s->h[s->n].family = h->family;
  memcpy(s->h[s->n].ip, h->ip, 16);
  s->n++;
}

/* Hosts come out in address order (family, then the address's bytes),
 * whichever byte two addresses differ in and in whatever order they came:
 * 60 IPv6 hosts whose addresses differ in one random byte each, at either
 * end of the address, and 40 IPv4 ones. */
static void test_hosts_order_every_byte(void **state) {
  (void)state;
  struct ta_hosts *t = ta_hosts_new(256, 1);
  struct ta_conn *c = malloc(sizeof *c);
  assert_non_null(t);
  assert_non_null(c);
  uint64_t r = 0x9e3779b97f4a7c15u;
  for (uint64_t id = 0; id < 50; id++) {
    r = r * 6364136223846793005u + 1442695040888963407u;
    conn_set(c, id, (uint32_t)(r >> 32), (uint32_t)(r >> 8), 80,
             TA_SC_COMPLETED);
    if (id % 5) { /* four in five: IPv6, one byte apart from a base */
      c->family = 6;
      for (int d = 0; d < 2; d++) {
        memset(c->side[d].ip, 0x20, 16);
        c->side[d].ip[(r >> (40 + 4 * d)) % 16] = (uint8_t)(r >> (8 * d));
      }
    }
    ta_hosts_add(t, c);
  }
  struct addrs *s = calloc(1, sizeof *s);
  assert_non_null(s);
  ta_hosts_each(t, keep_addr, s);
  assert_int_equal(s->n, ta_hosts_count(t));
  assert_true(s->n > 80);
  for (size_t i = 1; i < s->n; i++) {
    const struct ta_host *a = &s->h[i - 1], *b = &s->h[i];
    assert_true(a->family < b->family ||
                (a->family == b->family && memcmp(a->ip, b->ip, 16) < 0));
  }
  free(s);
  free(c);
  ta_hosts_free(t);
}

/* Address order (IPv4 before IPv6), the scan flag, and a full table. */
static void test_hosts_order_scan_and_full(void **state) {
  (void)state;
  struct ta_hosts *t = ta_hosts_new(4, 5);
  struct ta_conn *c = malloc(sizeof *c);
  assert_non_null(t);
  assert_non_null(c);
  /* B tries 25 ports of A, 22 go unanswered */
  for (uint16_t p = 0; p < 25; p++) {
    conn_set(c, p, B, A, (uint16_t)(1000 + p),
             p < 22 ? TA_SC_UNANSWERED : TA_SC_COMPLETED);
    ta_hosts_add(t, c);
  }
  conn_set(c, 50, 0, 0, 80, TA_SC_COMPLETED); /* ::1 to itself */
  c->family = 6;
  c->side[TA_DIR_ORIG].ip[15] = 1;
  c->side[TA_DIR_RESP].ip[15] = 1;
  ta_hosts_add(t, c);
  conn_set(c, 51, 0x0a000003, A, 80, TA_SC_COMPLETED);
  ta_hosts_add(t, c);
  conn_set(c, 52, 0x0a000004, A, 80, TA_SC_COMPLETED); /* fifth host */
  ta_hosts_add(t, c);
  assert_int_equal(ta_hosts_count(t), 4);
  assert_int_equal(ta_hosts_overflow(t), 1);
  struct seen *s = read_all(t);
  assert_int_equal(s->n, 4);
  assert_int_equal(s->h[0].ip[3], 1); /* 10.0.0.1, 10.0.0.2, 10.0.0.3, ::1 */
  assert_int_equal(s->h[1].ip[3], 2);
  assert_int_equal(s->h[2].ip[3], 3);
  assert_int_equal(s->h[3].family, 6);
  assert_false(s->h[0].scan_suspect); /* it only answered */
  assert_true(s->h[1].scan_suspect);
  assert_int_equal(s->h[1].failed_attempts, 22);
  assert_true(s->h[1].as_orig.distinct_targets >= 20);
  /* the 22 unanswered ports are no services: 3 answered, and 80 */
  assert_int_equal(s->h[0].n_services, 4);
  assert_int_equal(s->h[0].as_resp.connections, 27); /* the fifth host's
                                                        side still counts */
  assert_int_equal(s->h[3].as_orig.connections, 1);
  assert_int_equal(s->h[3].as_resp.connections, 1);
  free(s);
  /* thresholds at zero: still only hosts that connected out */
  ta_hosts_set_scan_threshold(t, 0, 0);
  s = read_all(t);
  assert_false(s->h[0].scan_suspect);
  assert_true(s->h[2].scan_suspect);
  free(s);
  free(c);
  ta_hosts_free(t);
}

/* Folds what reporters read of a host into *d. */
static void fold(uint64_t *d, uint64_t v) { *d = ta_hash_mix64(*d ^ v); }

static void fold_role(uint64_t *d, const struct ta_host_role *r) {
  fold(d, r->connections);
  for (int i = 0; i < TA_SC_COUNT; i++)
    fold(d, r->by_scenario[i]);
  fold(d, r->distinct_peers);
  fold(d, r->distinct_targets);
}

static void fold_lat(uint64_t *d, const struct ta_lat_dist *l) {
  fold(d, l->count);
  fold(d, (uint64_t)ta_lat_dist_min(l));
  fold(d, (uint64_t)ta_lat_dist_max(l));
  fold(d, (uint64_t)ta_lat_dist_quantile(l, 0.5));
}

static void fold_host(void *ctx, const struct ta_host *h) {
  uint64_t *d = ctx, ip[2];
  memcpy(ip, h->ip, 16);
  fold(d, h->family);
  fold(d, ip[0]);
  fold(d, ip[1]);
  fold(d, (uint64_t)h->first_ts);
  fold(d, (uint64_t)h->last_ts);
  fold(d, h->scan_suspect);
  fold(d, h->failed_attempts);
  fold_role(d, &h->as_orig);
  fold_role(d, &h->as_resp);
  fold(d, h->n_services);
  fold(d, h->services_overflow);
  for (uint32_t i = 0; i < h->n_services; i++) {
    const struct ta_service *s = &h->services[i];
    fold(d, s->port);
    for (int k = 0; k < TA_SC_COUNT; k++)
      fold(d, s->by_scenario[k]);
    fold(d, s->lat != NULL);
    if (s->lat) {
      fold_lat(d, &s->lat->handshake);
      fold_lat(d, &s->lat->response);
    }
  }
  fold(d, h->os.n);
  fold(d, h->os.overflow);
  for (uint8_t i = 0; i < h->os.n; i++) {
    fold(d, h->os.ev[i].packets);
    fold(d, h->os.ev[i].conn_id);
    fold(d, h->os.ev[i].entry);
    fold(d, h->os.ev[i].dir);
    fold(d, ta_fp_evidence_features(&h->os, &h->os.ev[i])->ttl);
  }
}

static uint64_t digest(struct ta_hosts *t) {
  uint64_t d = ta_hosts_count(t);
  ta_hosts_each(t, fold_host, &d);
  fold(&d, ta_hosts_overflow(t));
  return d;
}

/* The i-th connection of a stream that keeps coming back to a few busy
 * hosts (so that a host, or a service of it, is often new while earlier
 * connections to it still wait) among many that grow the table. */
static void stream_conn(struct ta_conn *c, uint64_t i) {
  uint64_t r = ta_hash_mix64(i + 1);
  uint32_t from = r % 4 ? 0x0a000000 + (uint32_t)(r >> 8) % 24
                        : 0x0b000000 + (uint32_t)(r >> 8) % 3000;
  uint32_t to = 0x0c000000 + (uint32_t)(r >> 20) % 6;
  uint16_t port = (uint16_t)(1 + (r >> 28) % 90); /* past the 64 kept */
  conn_set(c, i, from, to, port, (int)((r >> 36) % TA_SC_COUNT));
  c->first_ts = 1000 + (int64_t)((r >> 40) % 5000);
  c->last_ts = c->first_ts + (int64_t)((r >> 44) % 100);
  if ((r >> 50) % 3 == 0)
    with_syn(c, TA_DIR_ORIG, (uint8_t)(60 + (r >> 52) % 9));
  if ((r >> 56) % 2 == 0)
    with_syn(c, TA_DIR_RESP, 64);
  if ((r >> 58) % 2 == 0) {
    c->lat.flags = TA_LAT_HS_DONE;
    c->lat.hs_us = (uint32_t)(100 + (r >> 30) % 900);
  }
  if ((r >> 60) % 2 == 0)
    ta_lat_small_add(&c->lat.response, (int64_t)(1000 * (1 + (r >> 34) % 50)));
}

/* Counts read the same whether each connection is counted at once (a read
 * after every one counts what waits), waits its turn, or is counted part
 * way (reads now and then), and whether the table is full or not. */
static void test_hosts_waiting_counts_read_the_same(void **state) {
  (void)state;
  struct ta_conn *c = malloc(sizeof *c);
  assert_non_null(c);
  for (uint32_t max = 64; max <= 8192; max *= 128) {
    struct ta_hosts *now = ta_hosts_new(max, 9), *later = ta_hosts_new(max, 9);
    struct ta_hosts *sometimes = ta_hosts_new(max, 9);
    assert_non_null(now);
    assert_non_null(later);
    assert_non_null(sometimes);
    uint64_t hosts_seen = 0;
    for (uint64_t i = 0; i < 20000; i++) {
      stream_conn(c, i);
      ta_hosts_add(now, c);
      uint64_t n = ta_hosts_count(now);
      assert_true(n >= hosts_seen && n - hosts_seen <= 2);
      hosts_seen = n;
      ta_hosts_add(later, c);
      ta_hosts_add(sometimes, c);
      if (ta_hash_mix64(i) % 5 == 0)
        ta_hosts_count(sometimes);
    }
    assert_int_equal(ta_hosts_count(later), hosts_seen);
    assert_int_equal(ta_hosts_overflow(later) > 0, max == 64);
    uint64_t d = digest(now);
    assert_true(digest(later) == d);
    assert_true(digest(sometimes) == d);
    ta_hosts_free(now);
    ta_hosts_free(later);
    ta_hosts_free(sometimes);
  }
  free(c);
}

/* Every read counts the connections still waiting: a host is there right
 * after its first connection, a service's figures right after each. */
static void test_hosts_reads_count_what_waits(void **state) {
  (void)state;
  struct ta_hosts *t = ta_hosts_new(16, 11);
  struct ta_conn *c = malloc(sizeof *c);
  assert_non_null(t);
  assert_non_null(c);
  assert_int_equal(ta_hosts_count(t), 0);
  conn_set(c, 1, A, B, 80, TA_SC_COMPLETED);
  ta_hosts_add(t, c);
  assert_int_equal(ta_hosts_count(t), 2);
  for (uint64_t i = 0; i < 5; i++) { /* fewer than wait at a time */
    conn_set(c, 2 + i, A, B, (uint16_t)(80 + i % 2), TA_SC_REFUSED);
    ta_hosts_add(t, c);
  }
  struct seen *s = read_all(t);
  assert_int_equal(s->n, 2);
  assert_int_equal(s->h[0].as_orig.connections, 6);
  assert_int_equal(s->h[1].n_services, 1); /* 81 only refused */
  assert_int_equal(s->svc[1].port, 80);
  assert_int_equal(s->svc[1].by_scenario[TA_SC_COMPLETED], 1);
  assert_int_equal(s->svc[1].by_scenario[TA_SC_REFUSED], 3);
  free(s);
  /* a full table: the overflow is there too, and adding goes on after */
  for (uint32_t h = 0; h < 20; h++) {
    conn_set(c, 100 + h, 0x0d000000 + h, B, 80, TA_SC_COMPLETED);
    ta_hosts_add(t, c);
  }
  assert_int_equal(ta_hosts_overflow(t), 6);
  assert_int_equal(ta_hosts_count(t), 16);
  conn_set(c, 200, A, B, 81, TA_SC_COMPLETED);
  ta_hosts_add(t, c);
  ta_hosts_flush(t);
  struct first *f = calloc(1, sizeof *f);
  assert_non_null(f);
  ta_hosts_each(t, first_only, f); /* A sorts first */
  assert_int_equal(f->h.as_orig.connections, 7);
  free(f);
  /* freed with connections waiting: they own nothing */
  for (uint64_t i = 0; i < 3; i++) {
    conn_set(c, 300 + i, A, B, 82, TA_SC_COMPLETED);
    ta_lat_small_add(&c->lat.response, 5000);
    ta_hosts_add(t, c);
  }
  free(c);
  ta_hosts_free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_hosts_counters_pass_16_bits),
      cmocka_unit_test(test_hosts_sketch_past_inline_bits),
      cmocka_unit_test(test_hosts_sketch_tiers_match_a_bitmap),
      cmocka_unit_test(test_hosts_evidence_cap),
      cmocka_unit_test(test_hosts_evidence_narrow_and_wide),
      cmocka_unit_test(test_hosts_evidence_every_step),
      cmocka_unit_test(test_hosts_evidence_varied),
      cmocka_unit_test(test_hosts_services_compact),
      cmocka_unit_test(test_hosts_refusals_make_no_service),
      cmocka_unit_test(test_hosts_order_scan_and_full),
      cmocka_unit_test(test_hosts_order_every_byte),
      cmocka_unit_test(test_hosts_waiting_counts_read_the_same),
      cmocka_unit_test(test_hosts_reads_count_what_waits),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
