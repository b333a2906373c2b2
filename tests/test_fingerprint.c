/* tcpaudit - tests: passive OS fingerprints (lib/fingerprint.c) and the
 * shipped signature table, from single packets up to the JSON report. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ta_analyze.h"
#include "ta_error.h"
#include "ta_fingerprint.h"
#include "ta_jsonw.h"
#include "ta_packet.h"
#include "ta_test_util.h"

#define TD(name) TA_TESTDATA "/" name

/* Option bytes of the SYNs used below. */
static const uint8_t OPT_MSS_NOP_NOP_SOK[] = {2, 4, 0x05, 0xb4, 1, 1, 4, 2};
/* mss 1460, sok, ts (val 1, ecr 0), nop, ws 7: a Linux SYN */
static const uint8_t OPT_LINUX[] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0,
                                    0, 1, 0, 0, 0, 0, 1, 3, 3, 7};

/* Decodes the segment as a raw IP packet, after poking bytes if asked, and
 * records it the way the tracker records a SYN. */
static void syn_of(const struct tt_seg *s, struct ta_syn_features *out,
                   uint8_t *family, void (*poke)(uint8_t *ip, size_t len)) {
  uint8_t buf[256];
  size_t n = tt_build_ip(buf, sizeof buf, s);
  assert_true(n > 0);
  if (poke)
    poke(buf, n);
  struct ta_packet p;
  ta_decode_frame(TA_LINK_RAW, buf, (uint32_t)n, (uint32_t)n, &p);
  assert_int_equal(p.disposition, TA_DISP_TCP);
  memset(out, 0, sizeof *out);
  out->seen = true;
  out->ttl = p.ttl;
  out->tos = p.tos;
  out->df = p.df;
  out->ip_id = p.ip_id;
  out->window = p.window;
  out->flags = p.flags;
  out->reserved = p.reserved;
  out->anomalies = p.anomalies;
  out->opt = p.opt;
  *family = p.family;
}

/* s's SYN matches through memo as it does without one; returns the match. */
static int16_t assert_memo_agrees(const struct tt_seg *s,
                                  struct ta_fp_memo *memo) {
  struct ta_syn_features plain, memoized;
  uint8_t family;
  syn_of(s, &plain, &family, NULL);
  memoized = plain;
  ta_fp_syn_match(&plain, family);
  ta_fp_syn_match_memo(&memoized, family, memo);
  assert_int_equal(memoized.fp_match, plain.fp_match);
  return plain.fp_match;
}

/* Connection id whose originator sent SYN s, and a host holding that SYN
 * as its evidence (in new shapes, the caller's to free). */
static struct ta_fp_shapes *host_of_syn(const struct tt_seg *s, uint64_t id,
                                        struct ta_conn *c,
                                        struct ta_fp_host *h) {
  memset(c, 0, sizeof *c);
  c->id = id;
  c->family = 4;
  syn_of(s, &c->side[TA_DIR_ORIG].syn, &c->family, NULL);
  struct ta_fp_shapes *shapes = ta_fp_shapes_new(1);
  assert_non_null(shapes);
  memset(h, 0, sizeof *h);
  ta_fp_host_add(h, shapes, c, TA_DIR_ORIG);
  return shapes;
}

static void features_of(const struct tt_seg *s, struct ta_fp_features *f,
                        void (*poke)(uint8_t *ip, size_t len)) {
  struct ta_syn_features syn;
  uint8_t family;
  syn_of(s, &syn, &family, poke);
  ta_fp_features_from_syn(f, &syn, family);
}

static const struct ta_fp_entry *match(const struct ta_fp_features *f) {
  const struct ta_fp_db *db = ta_fp_db_default();
  return ta_fp_db_entry(db, ta_fp_match(db, f));
}

/* The two packets of the article: a Windows 2000/XP-era client SYN and a
 * Linux 2.2/2.4-era server SYN/ACK. */
static const struct tt_seg article_syn = {
    .src = "192.168.2.10", .dst = "192.168.2.20", .sport = 1060, .dport = 80,
    .seq = 1000, .flags = TA_TCP_SYN, .win = 16384,
    .opts = OPT_MSS_NOP_NOP_SOK, .optlen = sizeof OPT_MSS_NOP_NOP_SOK,
    .ttl = 128, .df = true, .ip_id = 0x1a2b};
static const struct tt_seg article_synack = {
    .src = "192.168.2.20", .dst = "192.168.2.10", .sport = 80, .dport = 1060,
    .seq = 5000, .ack = 1001, .flags = TA_TCP_SYN | TA_TCP_ACK, .win = 32120,
    .opts = OPT_MSS_NOP_NOP_SOK, .optlen = sizeof OPT_MSS_NOP_NOP_SOK,
    .ttl = 64, .ip_id = 0x0311};

static void test_fingerprint_default_table_parses(void **state) {
  (void)state;
  const struct ta_fp_db *db = ta_fp_db_default();
  if (!db)
    fail_msg("embedded table: %s", ta_fp_db_default_error());
  assert_string_equal(ta_fp_db_default_error(), "");
  assert_true(ta_fp_db_count(db) >= 20);
  for (size_t i = 0; i < ta_fp_db_count(db); i++) {
    const struct ta_fp_entry *e = ta_fp_db_entry(db, (int)i);
    assert_non_null(e->id);
    assert_non_null(e->os);
    assert_non_null(e->note);
    assert_true(strlen(e->note) > 40); /* a real note, not a placeholder */
  }
  assert_null(ta_fp_db_entry(db, -1));
  assert_null(ta_fp_db_entry(db, (int)ta_fp_db_count(db)));
}

static void test_fingerprint_initial_ttl_and_hops(void **state) {
  (void)state;
  static const uint8_t in[] = {1, 32, 33, 64, 65, 128, 129, 255};
  static const uint8_t want[] = {32, 32, 64, 64, 128, 128, 255, 255};
  for (size_t i = 0; i < sizeof in; i++)
    assert_int_equal(ta_fp_initial_ttl(in[i]), want[i]);

  struct tt_seg s = article_syn;
  s.ttl = 117;
  struct ta_fp_features f;
  features_of(&s, &f, NULL);
  assert_int_equal(f.ttl, 117);
  assert_int_equal(f.initial_ttl, 128);
  assert_int_equal(f.hops, 11);
}

static void test_fingerprint_article_client_is_windows_xp_era(void **state) {
  (void)state;
  struct ta_fp_features f;
  features_of(&article_syn, &f, NULL);
  assert_false(f.synack);
  assert_int_equal(f.initial_ttl, 128);
  assert_int_equal(f.hops, 0);
  assert_int_equal(f.mss, 1460);
  assert_false(f.has_wscale);
  assert_int_equal(f.quirks, TA_FPQ_DF);
  char buf[160];
  ta_fp_layout(buf, sizeof buf, &f);
  assert_string_equal(buf, "mss,nop,nop,sok");
  ta_fp_window_rel(buf, sizeof buf, &f);
  assert_string_equal(buf, ""); /* 16384 is no multiple of 1460 */

  const struct ta_fp_entry *e = match(&f);
  assert_non_null(e);
  assert_string_equal(e->os, "Windows");
  assert_string_equal(e->version, "2000-XP");
  assert_false(e->generic);
}

static void test_fingerprint_article_server_is_linux_2_2_era(void **state) {
  (void)state;
  struct ta_fp_features f;
  features_of(&article_synack, &f, NULL);
  assert_true(f.synack);
  assert_int_equal(f.initial_ttl, 64);
  char buf[160];
  ta_fp_window_rel(buf, sizeof buf, &f);
  assert_string_equal(buf, "mss*22");
  const struct ta_fp_entry *e = match(&f);
  assert_non_null(e);
  assert_string_equal(e->os, "Linux");
  assert_string_equal(e->version, "2.2-2.4");
}

static void test_fingerprint_window_relations(void **state) {
  (void)state;
  struct ta_fp_features f;
  char buf[32];
  struct tt_seg s = article_syn;

  s.win = 64240; /* 44 * 1460 */
  features_of(&s, &f, NULL);
  ta_fp_window_rel(buf, sizeof buf, &f);
  assert_string_equal(buf, "mss*44");

  s.opts = OPT_LINUX;
  s.optlen = sizeof OPT_LINUX;
  s.win = 65160; /* 45 * (1460 - 12): a SYN/ACK sized on data segments */
  features_of(&s, &f, NULL);
  ta_fp_window_rel(buf, sizeof buf, &f);
  assert_string_equal(buf, "(mss-12)*45");

  s.win = 3000; /* 2 * (1460 + 40) */
  features_of(&s, &f, NULL);
  ta_fp_window_rel(buf, sizeof buf, &f);
  assert_string_equal(buf, "mtu*2");

  s.win = 0;
  features_of(&s, &f, NULL);
  ta_fp_window_rel(buf, sizeof buf, &f);
  assert_string_equal(buf, "");

  /* a router clamped the MSS option to 1360 on the way; the window still
   * counts the sender's Ethernet segments */
  static const uint8_t mss1360[] = {2, 4, 0x05, 0x50};
  s = article_synack;
  s.win = 14600;
  s.ttl = 52;
  s.df = true;
  s.opts = mss1360;
  s.optlen = sizeof mss1360;
  features_of(&s, &f, NULL);
  ta_fp_window_rel(buf, sizeof buf, &f);
  assert_string_equal(buf, "1460*10");
  const struct ta_fp_entry *e = match(&f);
  assert_non_null(e);
  assert_string_equal(e->id, "linux-2.6.39");
}

static void set_tos_ect(uint8_t *ip, size_t len) {
  (void)len;
  ip[1] = 0x02; /* ECT(0) */
}
static void set_tcp_oddities(uint8_t *ip, size_t len) {
  (void)len;
  uint8_t *tcp = ip + 20;
  tcp[12] |= 0x01;            /* AE, a reserved bit */
  tcp[13] |= TA_TCP_ECE | TA_TCP_CWR | TA_TCP_PSH;
  tcp[18] = 0;                /* urgent pointer 7 without URG */
  tcp[19] = 7;
}

static void test_fingerprint_quirks(void **state) {
  (void)state;
  struct ta_fp_features f;
  struct tt_seg s = article_syn;

  s.ip_id = 0;
  features_of(&s, &f, set_tos_ect);
  assert_int_equal(f.quirks, TA_FPQ_DF | TA_FPQ_ID0 | TA_FPQ_ECT);

  s = article_syn;
  s.df = false;
  features_of(&s, &f, set_tcp_oddities);
  assert_int_equal(f.quirks, TA_FPQ_RESERVED | TA_FPQ_ECN | TA_FPQ_PUSH |
                                 TA_FPQ_URG_PTR);

  /* timestamps: own value zero, and an echo on a bare SYN */
  static const uint8_t ts_opts[] = {2, 4, 0x05, 0xb4, 1, 1, 8, 10, 0, 0,
                                    0, 0, 0, 0, 0, 9};
  s = article_syn;
  s.opts = ts_opts;
  s.optlen = sizeof ts_opts;
  features_of(&s, &f, NULL);
  assert_int_equal(f.quirks, TA_FPQ_DF | TA_FPQ_TS_VAL0 | TA_FPQ_TS_ECR);

  /* data after the end-of-options mark */
  static const uint8_t eol_opts[] = {2, 4, 0x05, 0xb4, 0, 0x33, 0, 0};
  s = article_syn;
  s.opts = eol_opts;
  s.optlen = sizeof eol_opts;
  features_of(&s, &f, NULL);
  assert_true(f.quirks & TA_FPQ_AFTER_EOL);
  char buf[64];
  ta_fp_layout(buf, sizeof buf, &f);
  assert_string_equal(buf, "mss,eol");

  /* IPv6 has neither DF nor an IP ID */
  s = article_syn;
  s.src = "2001:db8::1";
  s.dst = "2001:db8::2";
  s.ip_id = 0;
  features_of(&s, &f, NULL);
  assert_int_equal(f.family, 6);
  assert_int_equal(f.quirks, 0);

  for (int i = 0; i < TA_FPQ_COUNT; i++)
    assert_true(strlen(ta_fp_quirk_name(i)) > 1);
}

static void test_fingerprint_known_stacks(void **state) {
  (void)state;
  struct {
    uint8_t ttl;
    uint16_t win;
    bool df, synack;
    uint8_t opts[40], optlen;
    const char *os, *version;
  } cases[] = {
      /* Linux 4.19+ on Ethernet: 44 * 1460 */
      {64, 64240, true, false, {2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0,
       0, 0, 1, 3, 3, 7}, 20, "Linux", "4.19 and later"},
      /* its SYN/ACK: 45 * (1460 - 12) */
      {64, 65160, true, true, {2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0,
       0, 1, 1, 3, 3, 7}, 20, "Linux", "4.19 and later"},
      /* Linux 3.11-4.18: 20 * 1460 */
      {64, 29200, true, false, {2, 4, 5, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0,
       0, 0, 1, 3, 3, 7}, 20, "Linux", "3.11-4.18"},
      /* Windows 10: 64240, ws 8 */
      {128, 64240, true, false, {2, 4, 5, 0xb4, 1, 3, 3, 8, 1, 1, 4, 2}, 12,
       "Windows", "10-11"},
      /* Windows 7: 8192, ws 8 */
      {128, 8192, true, false, {2, 4, 5, 0xb4, 1, 3, 3, 8, 1, 1, 4, 2}, 12,
       "Windows", "Vista-8.1"},
      /* macOS: mss,nop,ws,nop,nop,ts,sok,eol,eol */
      {64, 65535, true, false, {2, 4, 5, 0xb4, 1, 3, 3, 6, 1, 1, 8, 10, 0, 0,
       0, 1, 0, 0, 0, 0, 4, 2, 0, 0}, 24, "macOS/iOS", NULL},
      /* FreeBSD: mss,nop,ws,sok,ts with scale 6 */
      {64, 65535, true, false, {2, 4, 5, 0xb4, 1, 3, 3, 6, 4, 2, 8, 10, 0, 0,
       0, 1, 0, 0, 0, 0}, 20, "FreeBSD", "9 and later"},
      /* OpenBSD: every option padded on its own */
      {64, 16384, true, false, {2, 4, 5, 0xb4, 1, 1, 4, 2, 1, 3, 3, 3, 1, 1,
       8, 10, 0, 0, 0, 1, 0, 0, 0, 0}, 24, "OpenBSD", NULL},
      /* Cisco IOS router session */
      {255, 4128, false, false, {2, 4, 2, 0x18}, 4, "Cisco IOS", NULL},
      /* masscan */
      {255, 1024, false, false, {0}, 0, "masscan", NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct tt_seg s = {.src = "10.0.0.1", .dst = "10.0.0.2", .sport = 40000,
                       .dport = 80, .seq = 1, .win = cases[i].win,
                       .flags = cases[i].synack ? TA_TCP_SYN | TA_TCP_ACK
                                                : TA_TCP_SYN,
                       .ack = cases[i].synack ? 77 : 0,
                       .opts = cases[i].opts, .optlen = cases[i].optlen,
                       .ttl = cases[i].ttl, .df = cases[i].df, .ip_id = 4321};
    struct ta_fp_features f;
    features_of(&s, &f, NULL);
    const struct ta_fp_entry *e = match(&f);
    if (!e)
      fail_msg("case %zu: no match, want %s", i, cases[i].os);
    assert_string_equal(e->os, cases[i].os);
    if (cases[i].version)
      assert_string_equal(e->version, cases[i].version);
    else
      assert_null(e->version);
  }
}

/* A memo must never change a match: SYNs of several stacks, each at many
 * TTLs and windows (more shapes than the memo has slots, so slots are
 * reused), matched twice over through one memo and once without. */
static void test_fingerprint_memo_matches_as_without(void **state) {
  (void)state;
  static const uint8_t win10[] = {2, 4, 5, 0xb4, 1, 3, 3, 8, 1, 1, 4, 2};
  static const struct {
    const uint8_t *opts;
    uint8_t len;
  } layouts[] = {{OPT_LINUX, sizeof OPT_LINUX},
                 {OPT_MSS_NOP_NOP_SOK, sizeof OPT_MSS_NOP_NOP_SOK},
                 {win10, sizeof win10},
                 {NULL, 0}};
  static const uint16_t windows[] = {64240, 65160, 29200, 8192, 1024, 65535};
  struct ta_fp_memo *memo = calloc(1, sizeof *memo);
  assert_non_null(memo);
  unsigned matched = 0, shapes = 0;
  for (int pass = 0; pass < 2; pass++)
    for (size_t l = 0; l < sizeof layouts / sizeof layouts[0]; l++)
      for (size_t w = 0; w < sizeof windows / sizeof windows[0]; w++)
        for (unsigned ttl = 20; ttl < 256; ttl += 3)
          for (int bits = 0; bits < 4; bits++) {
            struct tt_seg s = {.src = "10.0.0.1", .dst = "10.0.0.2",
                               .sport = 40000, .dport = 80, .seq = 1,
                               .win = windows[w], .ttl = (uint8_t)ttl,
                               .opts = layouts[l].opts,
                               .optlen = layouts[l].len, .df = bits & 1,
                               .ip_id = 4321};
            s.flags = bits & 2 ? TA_TCP_SYN | TA_TCP_ACK : TA_TCP_SYN;
            s.ack = bits & 2 ? 77 : 0;
            int16_t match = assert_memo_agrees(&s, memo);
            shapes++;
            matched += match >= 2;
          }
  assert_true(shapes > 8 * TA_FP_MEMO_SLOTS);
  assert_true(matched > 0 && matched < shapes);
  free(memo);
}

/* Nor in any order: many more SYN shapes than slots, matched in a
 * scrambled order over and over, so that keys meet in their first slots
 * and move to their second ones, each time as without the memo. */
static void test_fingerprint_memo_any_order(void **state) {
  (void)state;
  enum { N = 3 * TA_FP_MEMO_SLOTS };
  struct ta_syn_features *plain = calloc(N, sizeof *plain);
  uint8_t *family = calloc(N, 1);
  struct ta_fp_memo *memo = calloc(1, sizeof *memo);
  assert_non_null(plain);
  assert_non_null(family);
  assert_non_null(memo);
  for (unsigned i = 0; i < N; i++) {
    struct tt_seg s = article_syn;
    s.ttl = (uint8_t)(1 + i % 255);
    s.win = (uint16_t)(1460 * (1 + i / 255));
    if (i & 1) {
      s.opts = OPT_LINUX;
      s.optlen = sizeof OPT_LINUX;
    }
    syn_of(&s, &plain[i], &family[i], NULL);
    ta_fp_syn_match(&plain[i], family[i]);
  }
  /* a few keys often, the others seldom, as a capture has them */
  uint32_t x = 12345;
  for (unsigned n = 0; n < 20 * N; n++) {
    x = x * 1103515245u + 12345u;
    unsigned i = (x >> 16) % (n & 1 ? N : 7);
    struct ta_syn_features memoized = plain[i];
    memoized.fp_match = 0;
    ta_fp_syn_match_memo(&memoized, family[i], memo);
    assert_int_equal(memoized.fp_match, plain[i].fp_match);
  }
  free(memo);
  free(family);
  free(plain);
}

/* The memo finds its first cache line wherever it lies: at each word of a
 * line it matches as without and writes nothing outside itself. */
static void test_fingerprint_memo_anywhere(void **state) {
  (void)state;
  size_t size = sizeof(struct ta_fp_memo);
  uint64_t *buf = aligned_alloc(64, size + 128);
  assert_non_null(buf);
  for (size_t off = 0; off < 8; off++) {
    memset(buf, 0xa5, size + 128);
    struct ta_fp_memo *memo = (struct ta_fp_memo *)(buf + off);
    memset(memo, 0, size);
    for (int pass = 0; pass < 2; pass++)
      for (unsigned ttl = 1; ttl < 256; ttl++) {
        struct tt_seg s = article_syn;
        s.ttl = (uint8_t)ttl;
        s.win = (uint16_t)(1024 * (ttl % 7 + 1));
        assert_memo_agrees(&s, memo);
      }
    const uint8_t *bytes = (const uint8_t *)buf;
    for (size_t i = 0; i < off * 8; i++)
      assert_int_equal(bytes[i], 0xa5);
    for (size_t i = off * 8 + size; i < size + 128; i++)
      assert_int_equal(bytes[i], 0xa5);
  }
  free(buf);
}

/* Nor its JSON: SYNs that differ in each fact their "syn" object shows
 * (flags, a zero IP id, timestamp values, a bad option length, the
 * family), at many TTLs, more of them than the memo holds, with the
 * record's match and without, written twice over through one memo and
 * once without. */
static void test_fingerprint_json_memo_writes_as_without(void **state) {
  (void)state;
  /* mss, sok, ts (val 0, ecr 9), nop, ws 7 */
  static const uint8_t ts_zero[] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0,
                                    0, 0, 0, 0, 0, 9, 1, 3, 3, 7};
  /* mss, a sack-permitted option one byte too long, nop */
  static const uint8_t bad_sok[] = {2, 4, 0x05, 0xb4, 4, 3, 0, 1};
  static const struct {
    const uint8_t *opts;
    uint8_t len;
  } layouts[] = {{OPT_LINUX, sizeof OPT_LINUX},
                 {OPT_MSS_NOP_NOP_SOK, sizeof OPT_MSS_NOP_NOP_SOK},
                 {ts_zero, sizeof ts_zero},
                 {bad_sok, sizeof bad_sok},
                 {NULL, 0}};
  static const char *const src[] = {"10.0.0.1", "2001:db8::1"};
  static const char *const dst[] = {"10.0.0.2", "2001:db8::2"};
  static const uint8_t flags[] = {
      TA_TCP_SYN, TA_TCP_SYN | TA_TCP_ACK, TA_TCP_SYN | TA_TCP_ECE | TA_TCP_CWR,
      TA_TCP_SYN | TA_TCP_PSH, TA_TCP_SYN | TA_TCP_ACK | TA_TCP_ECE,
      TA_TCP_SYN | TA_TCP_URG};
  struct ta_jsonw_memo *memo = calloc(1, sizeof *memo);
  assert_non_null(memo);
  unsigned shapes = 0;
  for (int pass = 0; pass < 2; pass++)
    for (size_t l = 0; l < sizeof layouts / sizeof layouts[0]; l++)
      for (int fam = 0; fam < 2; fam++)
        for (size_t f = 0; f < sizeof flags; f++)
          for (unsigned ttl = 30; ttl < 256; ttl += 25)
            for (int bits = 0; bits < 4; bits++) {
              struct tt_seg s = {.src = src[fam], .dst = dst[fam],
                                 .sport = 40000, .dport = 80, .seq = 1,
                                 .flags = flags[f],
                                 .ack = flags[f] & TA_TCP_ACK ? 77 : 0,
                                 .win = bits & 1 ? 64240 : 8192,
                                 .ttl = (uint8_t)ttl, .opts = layouts[l].opts,
                                 .optlen = layouts[l].len, .df = true,
                                 .ip_id = bits & 2 ? 4321 : 0};
              struct ta_syn_features syn;
              uint8_t family;
              syn_of(&s, &syn, &family, NULL);
              if ((ttl / 25 + pass) & 1)
                ta_fp_syn_match(&syn, family);
              char plain[TA_FP_JSON_SIDE_MAX + 1], memoized[TA_FP_JSON_SIDE_MAX + 1];
              *ta__fp_json_side_put(plain, &syn, family, NULL) = 0;
              *ta__fp_json_side_put(memoized, &syn, family, memo) = 0;
              assert_string_equal(memoized, plain);
              shapes++;
            }
  assert_true(shapes > 4 * TA_JSONW_MEMO_SLOTS);
  free(memo);
}

/* v % n of the value *r, which moves on past it. */
static unsigned pick(uint64_t *r, unsigned n) {
  unsigned v = (unsigned)(*r % n);
  *r /= n;
  return v;
}

/* Field `field` of a record (0..18; any other: every field) set from r
 * to one of a few values, of those the features or the "syn" object read
 * and those they do not, bytes past the layout included. */
static void varied_field(struct ta_syn_features *s, uint8_t *family,
                         unsigned field, uint64_t r) {
  static const uint8_t ttls[] = {20, 63, 64, 100, 128, 255};
  static const uint16_t windows[] = {0, 1460, 29200, 64240, 65535};
  static const uint16_t msses[] = {0, 1440, 1460};
  static const uint8_t flags[] = {
      TA_TCP_SYN, TA_TCP_SYN | TA_TCP_ACK, TA_TCP_SYN | TA_TCP_ECE | TA_TCP_CWR,
      TA_TCP_SYN | TA_TCP_URG, TA_TCP_SYN | TA_TCP_PSH};
  static const uint32_t anomalies[] = {
      0, TA_ANOM_TCP_OPT_BAD, TA_ANOM_TS_ECR_ON_SYN, TA_ANOM_IP_OPTIONS,
      TA_ANOM_TCP_TRUNCATED, TA_ANOM_URG_PTR_NO_URG, TA_ANOM_IP_PADDED};
  struct ta_tcp_options *o = &s->opt;
  bool all = field > 18;
  if (all || field == 0) s->ttl = ttls[pick(&r, sizeof ttls)];
  if (all || field == 1) s->tos = (uint8_t)pick(&r, 6);
  if (all || field == 2) s->df = pick(&r, 2);
  if (all || field == 3) s->ip_id = (uint16_t)(pick(&r, 2) * 77);
  if (all || field == 4) s->window = windows[pick(&r, 5)];
  if (all || field == 5) s->flags = flags[pick(&r, sizeof flags)];
  if (all || field == 6) s->reserved = (uint8_t)pick(&r, 2);
  if (all || field == 7)
    s->anomalies = anomalies[pick(&r, sizeof anomalies / sizeof *anomalies)];
  if (all || field == 8) o->mss = msses[pick(&r, 3)];
  if (all || field == 9) o->has_mss = pick(&r, 2);
  if (all || field == 10) o->wscale = (uint8_t)(pick(&r, 3) * 4);
  if (all || field == 11) o->has_wscale = pick(&r, 2);
  if (all || field == 12) o->sack_ok = pick(&r, 2);
  if (all || field == 13) o->has_ts = pick(&r, 2);
  if (all || field == 14) o->ts_val = pick(&r, 2) * 5;
  if (all || field == 15) o->ts_ecr = pick(&r, 2) * 9;
  if (all || field == 16) {
    tt_varied_layout(o, pick(&r, TT_VARIED_LAYOUTS));
  }
  if ((all || field == 17) && o->n_layout < TA_MAX_OPT_LAYOUT)
    o->layout[TA_MAX_OPT_LAYOUT - 1] = (uint8_t)(pick(&r, 2) * 0x5a);
  if (all || field == 18) *family = pick(&r, 2) ? 6 : 4;
}

static uint64_t splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

/* The memos' keys take bytes as they are where the features take a fact
 * of them (a zero IP id, zero timestamp values, the layout's kinds up to
 * its length): records that differ in one field from one seen before,
 * any field, meet it in the memos, and each gets the match, the "syn"
 * object and the evidence features it has without them. */
static void test_fingerprint_memo_keys_tell_apart(void **state) {
  (void)state;
  enum { POOL = 300, DRAWS = 40 * POOL };
  struct ta_syn_features *pool = calloc(POOL, sizeof *pool);
  uint8_t *fam = calloc(POOL, 1);
  struct ta_fp_memo *memo = calloc(1, sizeof *memo);
  struct ta_jsonw_memo *jmemo = calloc(1, sizeof *jmemo);
  struct ta_fp_shapes *shapes = ta_fp_shapes_new(3);
  assert_non_null(pool);
  assert_non_null(fam);
  assert_non_null(memo);
  assert_non_null(jmemo);
  assert_non_null(shapes);
  uint64_t x = 42;
  for (unsigned i = 0; i < POOL; i++) {
    pool[i].seen = true;
    varied_field(&pool[i], &fam[i], ~0u, splitmix(&x));
  }
  unsigned differ = 0;
  for (unsigned n = 0; n < DRAWS; n++) {
    uint64_t r = splitmix(&x);
    unsigned i = pick(&r, POOL);
    struct ta_syn_features syn = pool[i], plain;
    uint8_t family = fam[i];
    if (pick(&r, 4)) /* mostly one field changed, else as drawn */
      varied_field(&syn, &family, pick(&r, 19), r);
    differ += memcmp(&syn, &pool[i], sizeof syn) != 0;
    plain = syn;
    ta_fp_syn_match(&plain, family);
    ta_fp_syn_match_memo(&syn, family, memo);
    assert_int_equal(syn.fp_match, plain.fp_match);

    char a[TA_FP_JSON_SIDE_MAX + 1], b[TA_FP_JSON_SIDE_MAX + 1];
    *ta__fp_json_side_put(a, &plain, family, NULL) = 0;
    *ta__fp_json_side_put(b, &syn, family, jmemo) = 0;
    assert_string_equal(b, a);

    struct ta__fp_ev e;
    struct ta_fp_evidence ev;
    struct ta_fp_host h = {.shapes = shapes};
    struct ta_fp_features want;
    assert_true(ta__fp_ev_start(&e, shapes, &syn, family, 1, 0));
    ta__fp_ev_unpack(&ev, shapes, &e);
    ta_fp_features_from_syn(&want, &plain, family);
    const struct ta_fp_features *got = ta_fp_evidence_features(&h, &ev);
    ta_fp_summary(a, sizeof a, got);
    ta_fp_summary(b, sizeof b, &want);
    assert_string_equal(a, b);
    assert_int_equal(got->family, want.family);
    assert_int_equal(ev.entry, plain.fp_match - 2);
  }
  assert_true(differ > DRAWS / 4);
  ta_fp_shapes_free(shapes);
  free(jmemo);
  free(memo);
  free(fam);
  free(pool);
}

/* Option layouts of SYNs for the evidence tests: two common ones and
 * none at all. */
static const struct {
  const uint8_t *opts;
  uint8_t len;
} ev_layouts[] = {{OPT_LINUX, sizeof OPT_LINUX},
               {OPT_MSS_NOP_NOP_SOK, sizeof OPT_MSS_NOP_NOP_SOK},
               {NULL, 0}};

/* The host table's evidence: a new shape's features and entry are its
 * first packet's however many SYNs came before (more keys than the
 * shapes' memo holds, twice over, matched and not), and a packet finds
 * the evidence of its group: not when its TTL or a kind of its layout
 * differs, yet whatever lies past its layout's length. */
static void test_fingerprint_evidence_shapes(void **state) {
  (void)state;
  struct ta_fp_shapes *shapes = ta_fp_shapes_new(7);
  assert_non_null(shapes);
  struct ta_fp_host h = {.shapes = shapes};
  unsigned started = 0;
  for (int pass = 0; pass < 2; pass++)
    for (size_t l = 0; l < sizeof ev_layouts / sizeof ev_layouts[0]; l++)
      for (unsigned ttl = 20; ttl < 250; ttl += 2)
        for (int bits = 0; bits < 4; bits++) {
          struct tt_seg s = {.src = bits & 2 ? "2001:db8::1" : "10.0.0.1",
                             .dst = bits & 2 ? "2001:db8::2" : "10.0.0.2",
                             .sport = 40000, .dport = 80, .seq = 1,
                             .flags = bits & 1 ? TA_TCP_SYN | TA_TCP_ACK
                                               : TA_TCP_SYN,
                             .ack = bits & 1 ? 77 : 0, .win = 29200,
                             .ttl = (uint8_t)ttl, .opts = ev_layouts[l].opts,
                             .optlen = ev_layouts[l].len, .df = true,
                             .ip_id = (uint16_t)(ttl & 4)};
          struct ta_syn_features syn;
          uint8_t family;
          syn_of(&s, &syn, &family, NULL);
          if ((ttl / 2 + pass) & 1)
            ta_fp_syn_match(&syn, family);
          struct ta_fp_features want;
          ta_fp_features_from_syn(&want, &syn, family);
          int entry = ta_fp_match(ta_fp_db_default(), &want);

          struct ta__fp_ev e;
          assert_true(ta__fp_ev_start(&e, shapes, &syn, family, 5, 1));
          struct ta_fp_evidence ev;
          ta__fp_ev_unpack(&ev, shapes, &e);
          assert_int_equal(ev.entry, entry);
          assert_int_equal(ev.conn_id, 5);
          assert_int_equal(ev.dir, 1);
          const struct ta_fp_features *got = ta_fp_evidence_features(&h, &ev);
          char a[200], b[200];
          ta_fp_summary(a, sizeof a, got);
          ta_fp_summary(b, sizeof b, &want);
          assert_string_equal(a, b);
          assert_int_equal(got->family, want.family);
          started++;

          uint32_t shape = e.shape_dir >> 1;
          assert_int_equal(ta__fp_shape_find(shapes, &shape, 0, &syn, family), 0);
          assert_int_equal(ta__fp_shape_find(shapes, &shape, 1, &syn, family), 0);
          struct ta_syn_features other = syn;
          other.opt.layout[TA_MAX_OPT_LAYOUT - 1] ^= 0x5a; /* past its end */
          assert_int_equal(ta__fp_shape_find(shapes, &shape, 1, &other, family), 0);
          other = syn;
          other.ttl++;
          assert_int_equal(ta__fp_shape_find(shapes, &shape, 1, &other, family), 1);
          if (syn.opt.n_layout) {
            other = syn;
            other.opt.layout[syn.opt.n_layout - 1] ^= 0x40;
            assert_int_equal(ta__fp_shape_find(shapes, &shape, 1, &other, family), 1);
          }
        }
  assert_true(started > 4 * 256);
  ta_fp_shapes_free(shapes);
}

static void test_fingerprint_unknown_stays_unknown(void **state) {
  (void)state;
  /* TTL 64, odd window, ws before mss: nothing we know */
  static const uint8_t odd[] = {3, 3, 5, 2, 4, 5, 0xb4, 0};
  struct tt_seg s = article_syn;
  s.ttl = 64;
  s.win = 12345;
  s.opts = odd;
  s.optlen = sizeof odd;
  struct ta_fp_features f;
  features_of(&s, &f, NULL);
  assert_int_equal(ta_fp_match(ta_fp_db_default(), &f), -1);
  /* TTL 128 alone does not make a Windows guess */
  static const uint8_t mss_only[] = {2, 4, 5, 0xb4};
  s.ttl = 128;
  s.opts = mss_only;
  s.optlen = sizeof mss_only;
  features_of(&s, &f, NULL);
  assert_int_equal(ta_fp_match(ta_fp_db_default(), &f), -1);
  assert_int_equal(ta_fp_match(NULL, &f), -1);


  /* a host that only sent unknown shapes: no family, no confidence */
  struct ta_conn c;
  struct ta_fp_host h;
  struct ta_fp_shapes *shapes = host_of_syn(&s, 9, &c, &h);
  ta_fp_host_add(&h, shapes, &c, TA_DIR_RESP); /* sent no SYN/ACK: ignored */
  struct ta_fp_verdict v;
  ta_fp_host_verdict(&h, &v);
  assert_true(v.any);
  assert_null(v.family);
  assert_null(v.version);
  assert_true(v.confidence == 0);
  assert_int_equal(h.n, 1);
  assert_int_equal(h.ev[0].entry, -1);
  assert_int_equal(h.ev[0].conn_id, 9);

  char label[64];
  ta_fp_host_label(label, sizeof label, &h);
  assert_string_equal(label, "unknown");
  char line[400];
  ta_fp_evidence_line(line, sizeof line, &h, 0);
  assert_string_equal(line, "no signature: 1 x syn, first in connection 9 "
                            "(orig): syn ttl 128 (initial 128, 0 hops) win "
                            "12345 ws - mss 1460 opts mss quirks df");

  struct ta_fp_host none;
  memset(&none, 0, sizeof none);
  ta_fp_host_verdict(&none, &v);
  assert_false(v.any);
  ta_fp_host_label(label, sizeof label, &none);
  assert_string_equal(label, "");
  ta_fp_host_free(&h);
  ta_fp_shapes_free(shapes);

  /* TTL 87: 41 hops below 128 is no real path, so no TTL-based guess,
   * however Linux-like the rest looks */
  struct tt_seg t = article_syn;
  t.ttl = 87;
  t.win = 29200;
  t.opts = OPT_LINUX;
  t.optlen = sizeof OPT_LINUX;
  features_of(&t, &f, NULL);
  assert_int_equal(f.hops, 41);
  assert_int_equal(ta_fp_match(ta_fp_db_default(), &f), -1);

  /* a Windows 10 SYN/ACK (65535, scale 8) is no XP one */
  static const uint8_t win10sa[] = {2, 4, 5, 0xb4, 1, 3, 3, 8, 1, 1, 4, 2};
  t = article_synack;
  t.ttl = 128;
  t.df = true;
  t.win = 65535;
  t.opts = win10sa;
  t.optlen = sizeof win10sa;
  features_of(&t, &f, NULL);
  const struct ta_fp_entry *e = match(&f);
  assert_non_null(e);
  assert_string_equal(e->id, "windows");
  assert_true(e->generic);
}

/* ta__fp_json_host of h as a parsed JSON value. */
static json_t *os_guess_json(const struct ta_fp_host *h) {
  struct ta_sink mem;
  struct ta_jsonw w;
  size_t len;
  ta_sink_init_mem(&mem);
  ta_jsonw_init(&w, &mem, 0, 6);
  ta_jsonw_arr_begin(&w);
  ta__fp_json_host(&w, h);
  ta_jsonw_arr_end(&w);
  json_error_t jerr;
  json_t *doc = json_loads(ta_sink_mem(&mem, &len), 0, &jerr);
  ta_sink_close(&mem);
  if (!doc)
    fail_msg("not JSON: %s", jerr.text);
  json_t *v = json_incref(json_array_get(doc, 0));
  json_decref(doc);
  return v;
}

/* The keys of an evidence object, in order, joined by spaces. */
static void evidence_keys(json_t *ev, char *buf, size_t len) {
  const char *k;
  json_t *v;
  buf[0] = 0;
  json_object_foreach(ev, k, v) {
    strncat(buf, k, len - strlen(buf) - 1);
    strncat(buf, " ", len - strlen(buf) - 1);
  }
}

/* An evidence object is written from its shape's shared text, or key by
 * key when the host's entry is not the shape's: both say the same in the
 * same order. */
static void test_fingerprint_evidence_json_both_ways(void **state) {
  (void)state;
  struct tt_seg s = article_syn;
  s.ttl = 64;
  s.win = 12345;
  struct ta_conn c;
  struct ta_fp_host h;
  struct ta_fp_shapes *shapes = host_of_syn(&s, 77, &c, &h);
  assert_int_equal(h.n, 1);
  char summary[320], fast_keys[256], slow_keys[256];
  ta_fp_summary(summary, sizeof summary, ta_fp_evidence_features(&h, &h.ev[0]));

  json_t *fast = os_guess_json(&h);
  json_t *ev = json_array_get(json_object_get(fast, "evidence"), 0);
  assert_string_equal(json_string_value(json_object_get(ev, "features")),
                      summary);
  assert_int_equal(json_integer_value(json_object_get(ev, "connection")), 77);
  evidence_keys(ev, fast_keys, sizeof fast_keys);

  /* another entry than the shape's: the object is written key by key */
  int other = h.ev[0].entry == 0 ? 1 : 0;
  const struct ta_fp_entry *e = ta_fp_db_entry(ta_fp_db_default(), other);
  assert_non_null(e);
  h.ev[0].entry = (int16_t)other;
  h.ev[0].packets = 12345678901ull;
  h.ev[0].dir = TA_DIR_RESP;
  json_t *slow = os_guess_json(&h);
  ev = json_array_get(json_object_get(slow, "evidence"), 0);
  evidence_keys(ev, slow_keys, sizeof slow_keys);
  assert_string_equal(slow_keys, fast_keys);
  assert_string_equal(json_string_value(json_object_get(ev, "signature")),
                      e->id);
  char os[128];
  snprintf(os, sizeof os, "%s%s%s", e->os, e->version ? " " : "",
           e->version ? e->version : "");
  assert_string_equal(json_string_value(json_object_get(ev, "os")), os);
  assert_string_equal(json_string_value(json_object_get(ev, "class")),
                      e->generic ? "generic" : "specific");
  assert_string_equal(json_string_value(json_object_get(ev, "packet")), "syn");
  assert_int_equal(json_integer_value(json_object_get(ev, "count")),
                   12345678901ll);
  assert_int_equal(json_integer_value(json_object_get(ev, "connection")), 77);
  assert_string_equal(json_string_value(json_object_get(ev, "direction")),
                      "resp");
  assert_string_equal(json_string_value(json_object_get(ev, "features")),
                      summary);
  json_decref(fast);
  json_decref(slow);
  ta_fp_host_free(&h);
  ta_fp_shapes_free(shapes);
}

/* A host whose SYNs come from two different stacks: NAT or a balancer. */
static void test_fingerprint_several_stacks(void **state) {
  (void)state;
  struct ta_fp_shapes *shapes = ta_fp_shapes_new(1);
  assert_non_null(shapes);
  struct ta_fp_host h;
  memset(&h, 0, sizeof h);
  struct ta_conn c;
  memset(&c, 0, sizeof c);
  struct tt_seg win = article_syn, lin = article_syn;
  lin.ttl = 64;
  lin.win = 64240;
  lin.opts = OPT_LINUX;
  lin.optlen = sizeof OPT_LINUX;
  for (int i = 0; i < 4; i++) {
    c.id = (uint64_t)i + 1;
    syn_of(i < 3 ? &win : &lin, &c.side[TA_DIR_ORIG].syn, &c.family, NULL);
    ta_fp_host_add(&h, shapes, &c, TA_DIR_ORIG);
  }
  assert_int_equal(h.n, 2);
  assert_int_equal(h.ev[0].packets, 3);
  assert_int_equal(h.ev[0].conn_id, 1);
  assert_int_equal(h.ev[1].conn_id, 4);
  struct ta_fp_verdict v;
  ta_fp_host_verdict(&h, &v);
  assert_string_equal(v.family, "Windows");
  assert_string_equal(v.version, "2000-XP");
  assert_true(v.stacks & TA_FP_STACK_FAMILIES);
  assert_true(v.stacks & TA_FP_STACK_TTL);
  assert_true(v.stacks & TA_FP_STACK_SYN_LAYOUT);
  assert_true(v.confidence > 0.6 && v.confidence < 0.7); /* 0.9 * 3/4 */
  char label[96], hints[128];
  ta_fp_host_label(label, sizeof label, &h);
  assert_string_equal(label, "Windows 2000-XP (0.68), several stacks");
  ta_fp_stack_hints(hints, sizeof hints, v.stacks);
  assert_string_equal(hints, "os families differ, initial ttls differ, "
                             "syn option layouts differ");

  /* one stack seen at two distances is two machines too */
  ta_fp_host_free(&h);
  struct tt_seg far = win;
  far.ttl = 127;
  syn_of(&win, &c.side[TA_DIR_ORIG].syn, &c.family, NULL);
  ta_fp_host_add(&h, shapes, &c, TA_DIR_ORIG);
  syn_of(&far, &c.side[TA_DIR_ORIG].syn, &c.family, NULL);
  ta_fp_host_add(&h, shapes, &c, TA_DIR_ORIG);
  ta_fp_host_verdict(&h, &v);
  assert_int_equal(v.stacks, TA_FP_STACK_HOPS);
  assert_true(v.confidence > 0.89);

  /* far away, a hop or two is route churn; three is not */
  static const uint8_t far_ttls[][2] = {{116, 115}, {116, 113}};
  for (int k = 0; k < 2; k++) {
    ta_fp_host_free(&h);
    for (int i = 0; i < 2; i++) {
      struct tt_seg t = win;
      t.ttl = far_ttls[k][i];
      syn_of(&t, &c.side[TA_DIR_ORIG].syn, &c.family, NULL);
      ta_fp_host_add(&h, shapes, &c, TA_DIR_ORIG);
    }
    ta_fp_host_verdict(&h, &v);
    assert_int_equal(h.n, 2);
    assert_int_equal(v.stacks, k ? TA_FP_STACK_HOPS : 0);
  }

  /* shapes past the cap are counted, not kept */
  ta_fp_host_free(&h);
  for (int i = 0; i < TA_FP_HOST_EVIDENCE + 3; i++) {
    struct tt_seg s = win;
    s.ttl = (uint8_t)(128 - i);
    syn_of(&s, &c.side[TA_DIR_ORIG].syn, &c.family, NULL);
    ta_fp_host_add(&h, shapes, &c, TA_DIR_ORIG);
  }
  assert_int_equal(h.n, TA_FP_HOST_EVIDENCE);
  assert_int_equal(h.overflow, 3);
  ta_fp_host_free(&h);
  ta_fp_shapes_free(shapes);
}

/* A host of one shape gets the verdict of the general case: the same
 * evidence counted as two entries of that shape goes through it, for
 * shapes of specific entries, generic ones and none, SYNs and SYN/ACKs. */
static void test_fingerprint_one_shape_verdict(void **state) {
  (void)state;
  static const uint16_t windows[] = {64240, 65535, 16384, 8192, 1024, 12345};
  static const uint8_t ttls[] = {32, 60, 64, 120, 128, 250, 255};
  unsigned kinds[3] = {0, 0, 0}; /* specific, generic, none */
  for (size_t l = 0; l < sizeof ev_layouts / sizeof ev_layouts[0]; l++)
    for (size_t w = 0; w < sizeof windows / sizeof windows[0]; w++)
      for (size_t t = 0; t < sizeof ttls; t++)
        for (int synack = 0; synack < 2; synack++) {
          struct tt_seg s = article_syn;
          s.win = windows[w];
          s.ttl = ttls[t];
          s.opts = ev_layouts[l].opts;
          s.optlen = ev_layouts[l].len;
          s.flags = synack ? TA_TCP_SYN | TA_TCP_ACK : TA_TCP_SYN;
          s.ack = synack ? 77 : 0;
          struct ta_conn c;
          struct ta_fp_host one;
          struct ta_fp_shapes *shapes = host_of_syn(&s, 3, &c, &one);
          for (int i = 0; i < 4; i++)
            ta_fp_host_add(&one, shapes, &c, TA_DIR_ORIG);
          assert_int_equal(one.n, 1);
          struct ta_fp_host two = one;
          two.ev[1] = two.ev[0];
          two.ev[0].packets = 2;
          two.ev[1].packets = 3;
          two.n = 2;
          struct ta_fp_verdict a, b;
          ta_fp_host_verdict(&one, &a);
          ta_fp_host_verdict(&two, &b);
          assert_true(a.any && b.any);
          assert_ptr_equal(a.family, b.family);
          assert_ptr_equal(a.version, b.version);
          assert_true(a.confidence == b.confidence);
          assert_int_equal(a.stacks, 0);
          assert_int_equal(b.stacks, 0);
          const struct ta_fp_entry *e =
              ta_fp_db_entry(ta_fp_db_default(), one.ev[0].entry);
          kinds[!e ? 2 : e->generic ? 1 : 0]++;
          ta_fp_shapes_free(shapes);
        }
  assert_true(kinds[0] > 0 && kinds[1] > 0 && kinds[2] > 0);
}

/* ---- the table parser ---- */

static int parse(const char *text, char *err, size_t errlen,
                 struct ta_fp_db **db) {
  return ta_fp_db_parse(text, strlen(text), db, err, errlen);
}

static void expect_error(const char *text, const char *want) {
  struct ta_fp_db *db = (struct ta_fp_db *)1;
  char err[256] = "";
  int rc = parse(text, err, sizeof err, &db);
  if (rc != TA_EINVAL || !strstr(err, want))
    fail_msg("table %s: rc %d, err '%s', want '%s'", text, rc, err, want);
  assert_null(db);
}

static void test_fingerprint_table_errors(void **state) {
  (void)state;
  const char *head = "[a]\nos A\nnote n\n";
  char buf[512];
  expect_error("", "no entries");
  expect_error("os A\n", "line 1: line before the first [entry]");
  expect_error("[a]\nos A\nsyn 64 * * * mss -\n", "no 'note'");
  expect_error("[a]\nnote n\nsyn 64 * * * mss -\n", "no 'os'");
  expect_error("[a]\nos A\nnote n\n", "no match line");
  expect_error("[A b]\n", "entry id");
  expect_error("[a\n", "bad entry header");
  snprintf(buf, sizeof buf, "%ssyn 63 * * * mss -\n", head);
  expect_error(buf, "line 4: ttl must be");
  snprintf(buf, sizeof buf, "%ssyn 64 mss*x * * mss -\n", head);
  expect_error(buf, "bad window 'mss*x'");
  snprintf(buf, sizeof buf, "%ssyn 64 70000 * * mss -\n", head);
  expect_error(buf, "bad window");
  snprintf(buf, sizeof buf, "%ssyn 64 * 15 * mss -\n", head);
  expect_error(buf, "bad wscale");
  snprintf(buf, sizeof buf, "%ssyn 64 * 0,x * mss -\n", head);
  expect_error(buf, "bad wscale 'x'");
  snprintf(buf, sizeof buf, "%ssyn 64 * * 1,y mss -\n", head);
  expect_error(buf, "bad mss 'y'");
  snprintf(buf, sizeof buf, "%ssyn 64 * * * mss,tcpmd5 -\n", head);
  expect_error(buf, "unknown option 'tcpmd5'");
  snprintf(buf, sizeof buf, "%ssyn 64 * * * mss fancy\n", head);
  expect_error(buf, "unknown quirk 'fancy'");
  snprintf(buf, sizeof buf, "%ssyn 64 * * * mss df,!df\n", head);
  expect_error(buf, "both required and forbidden");
  snprintf(buf, sizeof buf, "%ssyn 64 * * * mss\n", head);
  expect_error(buf, "needs 6 fields");
  snprintf(buf, sizeof buf, "%ssyn 64 * * * mss - extra\n", head);
  expect_error(buf, "needs 6 fields");
  snprintf(buf, sizeof buf, "%ssyn 64 * * * mss - a b c\n", head);
  expect_error(buf, "needs 6 fields");
  snprintf(buf, sizeof buf, "%sfoo bar\n", head);
  expect_error(buf, "unknown key 'foo'");
  snprintf(buf, sizeof buf, "%sos B\n", head);
  expect_error(buf, "repeated key 'os'");
  snprintf(buf, sizeof buf, "%ssyn 64 * * * mss -\n[a]\n", head);
  expect_error(buf, "duplicate entry id 'a'");
  snprintf(buf, sizeof buf, "%sclass odd\n", head);
  expect_error(buf, "class must be");
  char longline[1100]; /* the parser takes lines up to 1024 bytes */
  memset(longline, 'n', sizeof longline - 1);
  longline[sizeof longline - 1] = 0;
  expect_error(longline, "line too long");
}

static void test_fingerprint_table_semantics(void **state) {
  (void)state;
  /* a generic entry listed first still loses to a specific one; forbidden
   * quirks exclude; IPv4-only quirks are ignored for IPv6 */
  const char *table =
      "# comment\n"
      "[broad]\nos Broad\nversion -\nclass generic\nnote n\n"
      "syn * * * * * -\n"
      "[narrow]\nos Narrow\nversion 1.0\nnote first line\n"
      "note second line\n"
      "syn   128  16384  -,0  1460  mss,nop,nop,sok  df,!id0\n"
      "[v6]\nos Six\nnote n\n"
      "any   64   %1000  2,7  *  mss,k99,ws,nop,nop,nop  !df\n"
      "syn   64   *      *    *  -  -\n";
  struct ta_fp_db *db = NULL;
  char err[256];
  assert_int_equal(parse(table, err, sizeof err, &db), 0);
  assert_int_equal(ta_fp_db_count(db), 3);
  const struct ta_fp_entry *e = ta_fp_db_entry(db, 1);
  assert_string_equal(e->note, "first line second line");
  assert_null(ta_fp_db_entry(db, 0)->version);
  assert_true(ta_fp_db_entry(db, 0)->generic);

  struct ta_fp_features f;
  features_of(&article_syn, &f, NULL);
  assert_int_equal(ta_fp_match(db, &f), 1);
  struct tt_seg s = article_syn;
  s.ip_id = 0; /* forbidden id0 */
  features_of(&s, &f, NULL);
  assert_int_equal(ta_fp_match(db, &f), 0);
  static const uint8_t ws3[] = {2, 4, 0x05, 0xb4, 1, 1, 4, 2, 1, 3, 3, 3};
  s.ip_id = 7;
  s.opts = ws3; /* a scale other than the listed "none or 0" */
  s.optlen = sizeof ws3;
  features_of(&s, &f, NULL);
  assert_int_equal(ta_fp_match(db, &f), 0);
  s = article_syn;
  s.ip_id = 0;
  s.src = "2001:db8::1"; /* v6: df and id0 do not apply */
  s.dst = "2001:db8::2";
  features_of(&s, &f, NULL);
  assert_int_equal(ta_fp_match(db, &f), 1);

  /* %N windows, scale lists, an unknown option kind, "no options" */
  uint8_t k99[] = {2, 4, 5, 0xb4, 99, 2, 3, 3, 7, 1, 1, 1};
  s = article_syn;
  s.ttl = 60;
  s.win = 5000;
  s.df = false;
  s.opts = k99;
  s.optlen = sizeof k99;
  features_of(&s, &f, NULL);
  assert_int_equal(ta_fp_match(db, &f), 2);
  s.win = 5001; /* not a multiple of 1000 */
  features_of(&s, &f, NULL);
  assert_int_equal(ta_fp_match(db, &f), 0);
  s.win = 5000;
  k99[8] = 3; /* scale 3 is not listed */
  features_of(&s, &f, NULL);
  assert_int_equal(ta_fp_match(db, &f), 0);
  s.optlen = 0;
  features_of(&s, &f, NULL);
  assert_int_equal(ta_fp_match(db, &f), 2);
  ta_fp_db_free(db);
  ta_fp_db_free(NULL);
}

/* ---- through the whole pipeline ---- */

/* The report on one capture in a format (caller frees). */
static char *report_text_of(const char *path, const char *format) {
  struct ta_sink sink;
  ta_sink_init_mem(&sink);
  const char *in[] = {path};
  struct ta_config cfg = {.inputs = in, .n_inputs = 1,
                          .reporter = ta_reporter_find(format), .out = &sink,
                          .report = {.ts_precision = 6}};
  assert_non_null(cfg.reporter);
  struct ta_result res;
  char err[256];
  assert_int_equal(ta_analyze(&cfg, &res, err, sizeof err), 0);
  char *text = strdup(ta_sink_mem(&sink, NULL));
  assert_non_null(text);
  ta_result_free(&res);
  ta_sink_close(&sink);
  return text;
}

static json_t *report_of(const char *path) {
  char *text = report_text_of(path, "json");
  json_error_t jerr;
  json_t *doc = json_loads(text, 0, &jerr);
  if (!doc)
    fail_msg("report is not JSON: %s", jerr.text);
  free(text);
  return doc;
}

static json_t *host_by_ip(json_t *doc, const char *ip) {
  size_t i;
  json_t *h;
  json_array_foreach(json_object_get(doc, "hosts"), i, h) {
    if (strcmp(json_string_value(json_object_get(h, "ip")), ip) == 0)
      return h;
  }
  return NULL;
}

static const char *jstr(json_t *o, const char *k) {
  return json_string_value(json_object_get(o, k));
}

static void test_fingerprint_article_report(void **state) {
  (void)state;
  char *path = tt_tmpfile(".pcap");
  FILE *f = tt_pcap_create(path, 1, 65535);
  assert_non_null(f);
  struct tt_seg ack = article_syn;
  ack.seq = 1001;
  ack.ack = 5001;
  ack.flags = TA_TCP_ACK;
  ack.opts = NULL;
  ack.optlen = 0;
  const struct tt_seg *segs[] = {&article_syn, &article_synack, &ack};
  const char *times[] = {"20:06:32.000000", "20:06:32.010000",
                         "20:06:32.020000"};
  for (int i = 0; i < 3; i++) {
    uint8_t buf[256];
    size_t n = tt_build_eth(buf, sizeof buf, segs[i]);
    tt_pcap_write(f, tt_clock_ns(times[i]), buf, (uint32_t)n, (uint32_t)n);
  }
  fclose(f);
  json_t *doc = report_of(path);

  json_t *c = json_array_get(json_object_get(doc, "connections"), 0);
  json_t *ofp = json_object_get(json_object_get(c, "orig"), "syn");
  json_t *rfp = json_object_get(json_object_get(c, "resp"), "syn");
  assert_string_equal(jstr(ofp, "packet"), "syn");
  /* the initial TTL is ttl + hops */
  assert_int_equal(json_integer_value(json_object_get(ofp, "ttl")) +
                       json_integer_value(json_object_get(ofp, "hops")),
                   128);
  assert_true(json_is_true(json_object_get(ofp, "sack_ok")));
  assert_false(json_is_true(json_object_get(ofp, "timestamps")));
  assert_string_equal(jstr(ofp, "options"), "mss,nop,nop,sok");
  assert_true(json_is_null(json_object_get(ofp, "window_rel")));
  assert_true(json_is_null(json_object_get(ofp, "wscale")));
  json_t *q = json_object_get(ofp, "quirks");
  assert_int_equal(json_array_size(q), 1);
  assert_string_equal(json_string_value(json_array_get(q, 0)), "df");
  assert_string_equal(jstr(ofp, "match"), "windows-xp");
  assert_string_equal(jstr(rfp, "packet"), "syn+ack");
  assert_string_equal(jstr(rfp, "window_rel"), "mss*22");
  assert_string_equal(jstr(rfp, "match"), "linux-2.2");

  json_t *cli = json_object_get(host_by_ip(doc, "192.168.2.10"), "os_guess");
  json_t *srv = json_object_get(host_by_ip(doc, "192.168.2.20"), "os_guess");
  assert_string_equal(jstr(cli, "family"), "Windows");
  assert_string_equal(jstr(cli, "version"), "2000-XP");
  assert_string_equal(jstr(srv, "family"), "Linux");
  assert_string_equal(jstr(srv, "version"), "2.2-2.4");
  assert_true(json_real_value(json_object_get(cli, "confidence")) > 0.85);
  assert_false(json_is_true(json_object_get(cli, "several_stacks")));
  json_t *ev = json_array_get(json_object_get(cli, "evidence"), 0);
  assert_string_equal(jstr(ev, "signature"), "windows-xp");
  assert_string_equal(jstr(ev, "direction"), "orig");
  assert_string_equal(jstr(ev, "packet"), "syn");
  assert_int_equal(json_integer_value(json_object_get(ev, "connection")),
                   json_integer_value(json_object_get(c, "id")));
  ev = json_array_get(json_object_get(srv, "evidence"), 0);
  assert_string_equal(jstr(ev, "direction"), "resp");
  assert_non_null(strstr(jstr(ev, "features"), "win 32120 (mss*22)"));
  json_decref(doc);

  /* the HTML host table: the guess, its evidence folded in <details> */
  char *html = report_text_of(path, "html");
  assert_non_null(strstr(html, "<th>OS guess</th>"));
  assert_non_null(strstr(html, "<details><summary>Windows 2000-XP (0.90)"
                               "</summary>"));
  assert_non_null(strstr(html, "<li>windows-xp (Windows 2000-XP): 1 x syn, "
                               "first in connection 1 (orig): syn ttl 128"));
  assert_non_null(strstr(html, "<summary>Linux 2.2-2.4 (0.90)</summary>"));
  free(html);

  /* the text summary: a line per guess */
  char *text = report_text_of(path, "text");
  const char *sec = strstr(text, "hosts by OS guess");
  assert_non_null(sec);
  assert_non_null(strstr(sec, "Linux 2.2-2.4"));
  assert_non_null(strstr(sec, "Windows 2000-XP"));
  free(text);
  unlink(path);
  free(path);
}

/* Every kernel capture is Linux 6.x on loopback, both ends. */
static void test_fingerprint_kernel_captures_are_linux(void **state) {
  (void)state;
  static const char *files[] = {
      "kernel-completed.pcap", "kernel-refused.pcap",
      "kernel-unanswered.pcap", "kernel-accepted-closed.pcap",
      "kernel-reset.pcap", "kernel-half-closed.pcap", "kernel-open.pcap",
      "kernel-ipv6-completed.pcap", "kernel-response-times.pcap",
      "kernel-completed-nano.pcap", "kernel-snaplen64.pcap",
      "kernel-mixed.pcapng", "kernel-rotated-1.pcap", "sample.pcap"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", TA_TESTDATA, files[i]);
    json_t *doc = report_of(path);
    bool snaplen_cut = strstr(files[i], "snaplen") != NULL;
    size_t j, fps = 0;
    json_t *x;
    json_array_foreach(json_object_get(doc, "connections"), j, x) {
      for (int d = 0; d < 2; d++) {
        json_t *fp = json_object_get(json_object_get(x, d ? "resp" : "orig"),
                                     "syn");
        if (json_is_null(fp))
          continue;
        fps++;
        json_t *m = json_object_get(fp, "match");
        if (snaplen_cut) {
          /* options cut by the snaplen: no guess from half a header */
          assert_true(json_is_null(m));
          continue;
        }
        if (!json_is_string(m))
          fail_msg("%s: a %s without a match", files[i], jstr(fp, "packet"));
        assert_string_equal(json_string_value(m), "linux-4.19");
      }
    }
    assert_true(fps > 0);
    json_array_foreach(json_object_get(doc, "hosts"), j, x) {
      json_t *g = json_object_get(x, "os_guess");
      if (json_is_null(g))
        continue;
      if (snaplen_cut)
        assert_true(json_is_null(json_object_get(g, "family")));
      else
        assert_string_equal(jstr(g, "family"), "Linux");
      assert_false(json_is_true(json_object_get(g, "several_stacks")));
    }
    json_decref(doc);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_fingerprint_default_table_parses),
      cmocka_unit_test(test_fingerprint_initial_ttl_and_hops),
      cmocka_unit_test(test_fingerprint_article_client_is_windows_xp_era),
      cmocka_unit_test(test_fingerprint_article_server_is_linux_2_2_era),
      cmocka_unit_test(test_fingerprint_window_relations),
      cmocka_unit_test(test_fingerprint_quirks),
      cmocka_unit_test(test_fingerprint_known_stacks),
      cmocka_unit_test(test_fingerprint_memo_matches_as_without),
      cmocka_unit_test(test_fingerprint_json_memo_writes_as_without),
      cmocka_unit_test(test_fingerprint_memo_anywhere),
      cmocka_unit_test(test_fingerprint_memo_any_order),
      cmocka_unit_test(test_fingerprint_memo_keys_tell_apart),
      cmocka_unit_test(test_fingerprint_evidence_shapes),
      cmocka_unit_test(test_fingerprint_unknown_stays_unknown),
      cmocka_unit_test(test_fingerprint_evidence_json_both_ways),
      cmocka_unit_test(test_fingerprint_several_stacks),
      cmocka_unit_test(test_fingerprint_one_shape_verdict),
      cmocka_unit_test(test_fingerprint_table_errors),
      cmocka_unit_test(test_fingerprint_table_semantics),
      cmocka_unit_test(test_fingerprint_article_report),
      cmocka_unit_test(test_fingerprint_kernel_captures_are_linux),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
