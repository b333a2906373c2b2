/* tcpaudit - tests: damaged captures, through the built command.
 * Every broken file is made here from the real bytes of
 * testdata/kernel-completed.pcap (10 records of one connection); each case
 * checks the message, the exit code, what the report still covers, and
 * that its packet counters account for every record read. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ta_test_util.h"

#define SAMPLE TA_TESTDATA "/kernel-completed.pcap"
#define SAMPLE_RECS 10
#define PCAP_HDR 24
#define REC_HDR 16
/* Byte offsets inside a sample frame: Ethernet, then IPv4, then TCP. */
#define IP_AT 14
#define TCP_AT 34
#define OPT_AT 54

/* Records of the sample, by index: where each starts and its caplen. */
static struct {
  uint8_t *bytes;
  size_t len;
  size_t off[SAMPLE_RECS];
  uint32_t caplen[SAMPLE_RECS];
} sample;

/* A file being built. */
struct buf {
  uint8_t *p;
  size_t len, cap;
};

static void put(struct buf *b, const void *p, size_t n) {
  if (b->len + n > b->cap) {
    b->cap = (b->len + n) * 2;
    b->p = realloc(b->p, b->cap);
    assert_non_null(b->p);
  }
  memcpy(b->p + b->len, p, n);
  b->len += n;
}

static void put_le32(struct buf *b, uint32_t v) {
  uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
                  (uint8_t)(v >> 24)};
  put(b, x, 4);
}

static void put_le16(struct buf *b, uint16_t v) {
  uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
  put(b, x, 2);
}

static uint32_t le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
         (uint32_t)p[3] << 24;
}

static void set_le32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

static int load_sample(void **state) {
  (void)state;
  sample.bytes = (uint8_t *)tt_slurp(SAMPLE, &sample.len);
  if (!sample.bytes || sample.len < PCAP_HDR ||
      le32(sample.bytes) != 0xa1b2c3d4u)
    return -1;
  size_t off = PCAP_HDR;
  for (int i = 0; i < SAMPLE_RECS; i++) {
    if (off + REC_HDR > sample.len)
      return -1;
    sample.off[i] = off;
    sample.caplen[i] = le32(sample.bytes + off + 8);
    off += REC_HDR + sample.caplen[i];
  }
  return off == sample.len ? 0 : -1;
}

static int free_sample(void **state) {
  (void)state;
  free(sample.bytes);
  return 0;
}

/* The whole sample as a classic pcap, to be edited in place. */
static struct buf whole_pcap(void) {
  struct buf b = {0};
  put(&b, sample.bytes, sample.len);
  return b;
}

/* The frame bytes of record i inside a copy of the whole sample. */
static uint8_t *frame(struct buf *b, int i) {
  return b->p + sample.off[i] + REC_HDR;
}

/* ---- running the command ---- */

struct run {
  int rc;
  char *out, *err;
  json_t *doc; /* the JSON report, NULL when none was written */
};

static struct run run_fmt(const void *bytes, size_t len, const char *suffix,
                          const char *fmt) {
  char *path = tt_tmpfile(suffix);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(bytes, 1, len, f), len);
  fclose(f);
  char args[512];
  snprintf(args, sizeof args, "report --no-progress -f %s %s", fmt, path);
  struct run r = {0};
  r.rc = tt_run_cli(args, &r.out, &r.err);
  unlink(path);
  free(path);
  assert_non_null(r.out);
  assert_non_null(r.err);
  if (strcmp(fmt, "json") == 0)
    r.doc = r.out[0] ? json_loads(r.out, 0, NULL) : NULL;
  return r;
}

static struct run run_on(const void *bytes, size_t len, const char *suffix) {
  return run_fmt(bytes, len, suffix, "json");
}

static struct run run_buf(struct buf *b, const char *suffix) {
  struct run r = run_on(b->p, b->len, suffix);
  free(b->p);
  b->p = NULL;
  return r;
}

static void run_free(struct run *r) {
  free(r->out);
  free(r->err);
  json_decref(r->doc);
}

static json_int_t num(json_t *obj, const char *key) {
  json_t *v = json_object_get(obj, key);
  assert_true(json_is_integer(v));
  return json_integer_value(v);
}

static json_t *input0(const struct run *r) {
  json_t *in = json_array_get(json_object_get(r->doc, "inputs"), 0);
  assert_non_null(in);
  return in;
}

/* The report accounts for every record read: the dispositions add up to
 * the total, which is what the inputs delivered. Returns the total. */
static json_int_t accounted(const struct run *r) {
  assert_non_null(r->doc);
  json_t *k = json_object_get(r->doc, "packets");
  static const char *const parts[] = {"tcp", "non_tcp", "non_ip",
                                      "fragments", "malformed",
                                      "unsupported_linktype", "filtered_out"};
  json_int_t sum = 0, inputs = 0;
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
    sum += num(k, parts[i]);
  size_t i;
  json_t *in;
  json_array_foreach(json_object_get(r->doc, "inputs"), i, in)
    inputs += num(in, "packets");
  assert_int_equal(sum, num(k, "total"));
  assert_int_equal(inputs, num(k, "total"));
  /* and every connection the table made is in the report */
  assert_int_equal(json_array_size(json_object_get(r->doc, "connections")),
                   num(json_object_get(r->doc, "flows"), "connections"));
  return sum;
}

static json_int_t packets(const struct run *r, const char *key) {
  return num(json_object_get(r->doc, "packets"), key);
}

static json_int_t malformed_by(const struct run *r, const char *reason) {
  json_t *m = json_object_get(json_object_get(r->doc, "packets"),
                              "malformed_by_reason");
  json_t *v = json_object_get(m, reason);
  return v ? json_integer_value(v) : 0;
}

static bool has_warning(const struct run *r, const char *text) {
  size_t i;
  json_t *w;
  json_array_foreach(json_object_get(r->doc, "warnings"), i, w)
    if (strstr(json_string_value(w), text))
      return true;
  return false;
}

static json_t *connection0(const struct run *r) {
  json_t *c = json_array_get(json_object_get(r->doc, "connections"), 0);
  assert_non_null(c);
  return c;
}

static bool conn_has_anomaly(json_t *c, const char *name) {
  size_t i;
  json_t *a;
  json_array_foreach(json_object_get(c, "anomalies"), i, a)
    if (strcmp(json_string_value(a), name) == 0)
      return true;
  return false;
}

/* ---- files that are not captures at all ---- */

static void test_damaged_empty_file(void **state) {
  (void)state;
  struct run r = run_on("", 0, ".pcap");
  assert_int_equal(r.rc, 1);
  assert_non_null(strstr(r.err, "empty file, not a capture"));
  assert_string_equal(r.out, "");
  run_free(&r);
}

static void test_damaged_random_bytes(void **state) {
  (void)state;
  uint8_t bytes[4096];
  uint64_t x = 0x9e3779b97f4a7c15ull; /* xorshift64, fixed seed */
  for (size_t i = 0; i < sizeof bytes; i++) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    bytes[i] = (uint8_t)(x >> 32);
  }
  /* not by chance a gzip, zstd, pcap or pcapng magic */
  assert_false(bytes[0] == 0x1f || bytes[0] == 0x28 || bytes[0] == 0x0a ||
               bytes[0] == 0xa1 || bytes[0] == 0xd4 || bytes[0] == 0x4d ||
               bytes[0] == 0x34);
  struct run r = run_on(bytes, sizeof bytes, ".pcap");
  assert_int_equal(r.rc, 1);
  assert_non_null(strstr(r.err, "not a pcap or pcapng capture"));
  assert_string_equal(r.out, "");
  run_free(&r);
}

static void test_damaged_text_file(void **state) {
  (void)state;
  static const char text[] = "GET / HTTP/1.1\r\nHost: example.org\r\n\r\n";
  struct run r = run_on(text, sizeof text - 1, ".pcap");
  assert_int_equal(r.rc, 1);
  assert_non_null(strstr(r.err, "not a pcap or pcapng capture (starts with "
                                "47 45 54 20)"));
  assert_string_equal(r.out, "");
  run_free(&r);
}

/* ---- classic pcap ---- */

static void test_damaged_pcap_header_only(void **state) {
  (void)state;
  struct run r = run_on(sample.bytes, PCAP_HDR, ".pcap");
  assert_int_equal(r.rc, 0);
  assert_non_null(strstr(r.err, "the capture holds no packets"));
  assert_int_equal(accounted(&r), 0);
  assert_int_equal(json_array_size(json_object_get(r.doc, "connections")), 0);
  run_free(&r);
}

/* The first three records (the handshake), then part of the fourth. */
static struct run cut_after_three(size_t extra) {
  return run_on(sample.bytes, sample.off[3] + extra, ".pcap");
}

static void check_cut(struct run *r, const char *msg) {
  assert_int_equal(r->rc, 3);
  assert_non_null(strstr(r->err, msg));
  assert_non_null(strstr(r->err, "the report covers the 3 packet(s) read "
                                 "before it"));
  assert_int_equal(accounted(r), 3);
  assert_int_equal(packets(r, "tcp"), 3);
  json_t *in = input0(r);
  assert_true(json_is_true(json_object_get(in, "truncated")));
  assert_true(json_is_true(json_object_get(in, "damaged")));
  assert_true(json_is_true(json_object_get(r->doc, "damaged")));
  /* the handshake read before the cut is reported */
  json_t *c = connection0(r);
  assert_int_equal(num(json_object_get(c, "orig"), "pkts"), 2);
  assert_int_equal(num(json_object_get(c, "resp"), "pkts"), 1);
}

static void test_damaged_cut_in_record_header(void **state) {
  (void)state;
  struct run r = cut_after_three(7);
  check_cut(&r, "pcap file is truncated in record 4: its header needs 16 "
                "bytes, only 7 are left");
  run_free(&r);
}

static void test_damaged_cut_in_packet_data(void **state) {
  (void)state;
  struct run r = cut_after_three(REC_HDR + 10);
  char msg[128];
  snprintf(msg, sizeof msg, "truncated in record 4: its data needs %u bytes, "
           "only 10 are left", sample.caplen[3]);
  check_cut(&r, msg);
  run_free(&r);
}

static void test_damaged_caplen_over_snaplen(void **state) {
  (void)state;
  struct buf b = whole_pcap();
  set_le32(b.p + 16, 100); /* snaplen: records 3 and 5 are longer */
  struct run r = run_buf(&b, ".pcap");
  assert_int_equal(r.rc, 3);
  assert_non_null(strstr(r.err, "2 record(s) claim more captured bytes than "
                                "the snaplen (100): the file is damaged"));
  assert_int_equal(accounted(&r), SAMPLE_RECS);
  json_t *in = input0(&r);
  assert_int_equal(num(in, "oversized_records"), 2);
  assert_true(json_is_true(json_object_get(in, "damaged")));
  /* libpcap kept 100 bytes of each, so they count as cut by the snaplen */
  assert_int_equal(packets(&r, "snaplen_truncated"), 2);
  assert_int_equal(packets(&r, "tcp"), SAMPLE_RECS);
  run_free(&r);
}

static void test_damaged_caplen_absurd(void **state) {
  (void)state;
  struct buf b = whole_pcap();
  set_le32(b.p + sample.off[3] + 8, 0xfffffff0u);
  struct run r = run_buf(&b, ".pcap");
  assert_int_equal(r.rc, 3);
  assert_non_null(strstr(r.err, "pcap record 4 claims 4294967280 captured "
                                "bytes, more than the 262144 accepted"));
  assert_non_null(strstr(r.err, "the report covers the 3 packet(s) read "
                                "before it"));
  assert_int_equal(accounted(&r), 3);
  assert_false(json_is_true(json_object_get(input0(&r), "truncated")));
  assert_true(json_is_true(json_object_get(input0(&r), "damaged")));
  run_free(&r);
}

static void test_damaged_zero_length_records(void **state) {
  (void)state;
  struct buf b = {0};
  put(&b, sample.bytes, sample.off[3]);
  const uint8_t *rec3 = sample.bytes + sample.off[3];
  for (int i = 0; i < 2; i++) { /* caplen 0; wire length 0, then 60 */
    put(&b, rec3, 8);
    put_le32(&b, 0);
    put_le32(&b, i ? 60 : 0);
  }
  put(&b, rec3, sample.len - sample.off[3]);
  struct run r = run_buf(&b, ".pcap");
  assert_int_equal(r.rc, 0);
  assert_non_null(strstr(r.err, "2 malformed packet(s) were counted but not "
                                "tracked (link_header_short 2)"));
  assert_int_equal(accounted(&r), SAMPLE_RECS + 2);
  assert_int_equal(malformed_by(&r, "link_header_short"), 2);
  assert_int_equal(packets(&r, "tcp"), SAMPLE_RECS);
  run_free(&r);
}

static void test_damaged_time_backwards(void **state) {
  (void)state;
  struct buf b = whole_pcap();
  uint8_t *ts5 = b.p + sample.off[5];
  set_le32(ts5, le32(ts5) - 1); /* one second before record 4 */
  struct run r = run_buf(&b, ".pcap");
  assert_int_equal(r.rc, 0);
  assert_non_null(strstr(r.err, "time goes backwards 1 time(s)"));
  assert_int_equal(accounted(&r), SAMPLE_RECS);
  assert_int_equal(num(input0(&r), "time_backwards"), 1);
  assert_int_equal(packets(&r, "time_backwards"), 1);
  assert_int_equal(packets(&r, "tcp"), SAMPLE_RECS);
  run_free(&r);
}

/* ---- pcapng ---- */

static void ng_block(struct buf *b, uint32_t type, const void *body,
                     size_t len) {
  static const uint8_t pad[4];
  size_t padded = (len + 3) & ~(size_t)3;
  put_le32(b, type);
  put_le32(b, (uint32_t)(padded + 12));
  put(b, body, len);
  put(b, pad, padded - len);
  put_le32(b, (uint32_t)(padded + 12));
}

static void ng_option(struct buf *b, uint16_t code, const char *text) {
  static const uint8_t pad[4];
  size_t n = strlen(text);
  put_le16(b, code);
  put_le16(b, (uint16_t)n);
  put(b, text, n);
  put(b, pad, ((n + 3) & ~(size_t)3) - n);
}

/* SHB (with opt_comment when comment is set) and one Ethernet IDB. */
static void ng_header_full(struct buf *b, const char *comment,
                           const char *name, const char *description,
                           uint32_t snaplen) {
  struct buf shb = {0};
  put_le32(&shb, 0x1A2B3C4Du);
  put_le16(&shb, 1);
  put_le16(&shb, 0);
  put_le32(&shb, 0xffffffffu); /* section length unknown */
  put_le32(&shb, 0xffffffffu);
  if (comment) {
    ng_option(&shb, 1, comment);
    put_le32(&shb, 0); /* opt_endofopt */
  }
  ng_block(b, 0x0A0D0D0Au, shb.p, shb.len);
  free(shb.p);
  struct buf idb = {0};
  put_le16(&idb, 1); /* Ethernet */
  put_le16(&idb, 0);
  put_le32(&idb, snaplen);
  ng_option(&idb, 2, name);
  if (description)
    ng_option(&idb, 3, description);
  put_le32(&idb, 0); /* opt_endofopt */
  ng_block(b, 1, idb.p, idb.len);
  free(idb.p);
}

static void ng_header_text(struct buf *b, const char *comment,
                           const char *name, const char *description) {
  ng_header_full(b, comment, name, description, 262144);
}

static void ng_header(struct buf *b) { ng_header_text(b, NULL, "lo", NULL); }

/* Record i of the sample as an EPB on interface ifid (microseconds). */
static void ng_epb(struct buf *b, int i, uint32_t ifid) {
  const uint8_t *rec = sample.bytes + sample.off[i];
  uint64_t ts = (uint64_t)le32(rec) * 1000000u + le32(rec + 4);
  struct buf epb = {0};
  put_le32(&epb, ifid);
  put_le32(&epb, (uint32_t)(ts >> 32));
  put_le32(&epb, (uint32_t)ts);
  put_le32(&epb, sample.caplen[i]);
  put_le32(&epb, le32(rec + 12));
  put(&epb, rec + REC_HDR, sample.caplen[i]);
  ng_block(b, 6, epb.p, epb.len);
  free(epb.p);
}

static void test_damaged_pcapng_unknown_block(void **state) {
  (void)state;
  struct buf b = {0};
  ng_header(&b);
  for (int i = 0; i < SAMPLE_RECS; i++) {
    if (i == 4)
      ng_block(&b, 0x00000BADu, "unknown!", 8);
    ng_epb(&b, i, 0);
  }
  struct run r = run_buf(&b, ".pcapng");
  assert_int_equal(r.rc, 0);
  assert_non_null(strstr(r.err, "skipped 1 pcapng block(s) of unknown type"));
  assert_int_equal(accounted(&r), SAMPLE_RECS);
  assert_int_equal(num(input0(&r), "unknown_blocks"), 1);
  assert_int_equal(packets(&r, "tcp"), SAMPLE_RECS);
  run_free(&r);
}

static void test_damaged_pcapng_bad_block_length(void **state) {
  (void)state;
  struct buf b = {0};
  ng_header(&b);
  for (int i = 0; i < 3; i++)
    ng_epb(&b, i, 0);
  size_t at = b.len;
  for (int i = 3; i < SAMPLE_RECS; i++)
    ng_epb(&b, i, 0);
  set_le32(b.p + at + 4, 13); /* not a multiple of 4, shorter than a block */
  struct run r = run_buf(&b, ".pcapng");
  assert_int_equal(r.rc, 3);
  assert_non_null(strstr(r.err, "pcapng block length is invalid (13)"));
  assert_non_null(strstr(r.err, "the report covers the 3 packet(s) read "
                                "before it"));
  assert_int_equal(accounted(&r), 3);
  assert_true(json_is_true(json_object_get(input0(&r), "damaged")));
  run_free(&r);
}

static void test_damaged_pcapng_caplen_over_snaplen(void **state) {
  (void)state;
  struct buf b = {0};
  ng_header_full(&b, NULL, "lo", NULL, 100); /* records 3 and 5 are longer */
  for (int i = 0; i < SAMPLE_RECS; i++)
    ng_epb(&b, i, 0);
  struct run r = run_buf(&b, ".pcapng");
  assert_int_equal(r.rc, 3);
  assert_non_null(strstr(r.err, "2 record(s) claim more captured bytes than "
                                "the snaplen (100): the file is damaged"));
  assert_int_equal(accounted(&r), SAMPLE_RECS);
  assert_int_equal(num(input0(&r), "oversized_records"), 2);
  assert_true(json_is_true(json_object_get(input0(&r), "damaged")));
  /* the block holds every byte: nothing is cut */
  assert_int_equal(packets(&r, "snaplen_truncated"), 0);
  assert_int_equal(packets(&r, "tcp"), SAMPLE_RECS);
  run_free(&r);
}

static void test_damaged_pcapng_undeclared_interface(void **state) {
  (void)state;
  struct buf b = {0};
  ng_header(&b);
  for (int i = 0; i < SAMPLE_RECS; i++)
    ng_epb(&b, i, i == 6 ? 5 : 0); /* only interface 0 exists */
  struct run r = run_buf(&b, ".pcapng");
  assert_int_equal(r.rc, 3);
  assert_non_null(strstr(r.err, "1 packet record(s) name an interface the "
                                "file never declared"));
  assert_int_equal(accounted(&r), SAMPLE_RECS);
  assert_int_equal(malformed_by(&r, "pcapng_undeclared_interface"), 1);
  assert_int_equal(num(input0(&r), "undeclared_interface_records"), 1);
  assert_true(json_is_true(json_object_get(input0(&r), "damaged")));
  assert_int_equal(packets(&r, "tcp"), SAMPLE_RECS - 1);
  run_free(&r);
}

/* Text from the capture meant to run in a browser or drive a terminal:
 * markup, ESC sequences (clear screen, set title), BEL, C1 CSI in UTF-8
 * and a raw 0x9b, a bidi override. */
#define HOSTILE_COMMENT                                                        \
  "<script>alert(1)</script>\x1b[2J\x1b]0;owned\x07\xc2\x9b"             \
  "31m\x9b\xe2\x80\xae" "evil"
/* The same as JSON gives it back: the lone 0x9b (not UTF-8) is U+FFFD. */
#define HOSTILE_COMMENT_JSON                                                   \
  "<script>alert(1)</script>\x1b[2J\x1b]0;owned\x07\xc2\x9b"             \
  "31m\xef\xbf\xbd\xe2\x80\xae" "evil"
#define HOSTILE_NAME "eth0<img src=x onerror=alert(2)>\x1b[31m"
#define HOSTILE_DESCRIPTION "</td></tr><script>alert(3)</script>\r\x1b[1A"

static struct run run_hostile(const char *fmt) {
  struct buf b = {0};
  ng_header_text(&b, HOSTILE_COMMENT, HOSTILE_NAME, HOSTILE_DESCRIPTION);
  for (int i = 0; i < SAMPLE_RECS; i++)
    ng_epb(&b, i, 0);
  struct run r = run_fmt(b.p, b.len, ".pcapng", fmt);
  free(b.p);
  assert_int_equal(r.rc, 0);
  return r;
}

/* No byte or character a terminal acts on: C0 controls but newline and
 * tab, DEL, C1 controls (as UTF-8), bidi overrides. */
static void assert_terminal_inert(const char *out) {
  const unsigned char *p = (const unsigned char *)out;
  for (size_t i = 0; p[i]; i++) {
    if ((p[i] < 0x20 && p[i] != '\n' && p[i] != '\t') || p[i] == 0x7f)
      fail_msg("control byte %#x at offset %zu", p[i], i);
    if (p[i] == 0xc2 && p[i + 1] >= 0x80 && p[i + 1] <= 0x9f)
      fail_msg("C1 control U+%04X at offset %zu", p[i + 1], i);
    if (p[i] == 0xe2 && p[i + 1] == 0x80 && p[i + 2] >= 0xaa &&
        p[i + 2] <= 0xae)
      fail_msg("bidi override at offset %zu", i);
  }
}

static void test_damaged_pcapng_hostile_text(void **state) {
  (void)state;
  /* JSON: valid, and the strings come back exactly as the file has them */
  struct run r = run_hostile("json");
  assert_int_equal(accounted(&r), SAMPLE_RECS);
  json_t *in = input0(&r);
  assert_string_equal(json_string_value(json_object_get(in, "section_comment")),
                      HOSTILE_COMMENT_JSON);
  json_t *ifc = json_array_get(json_object_get(in, "interfaces"), 0);
  assert_string_equal(json_string_value(json_object_get(ifc, "name")),
                      HOSTILE_NAME);
  assert_string_equal(json_string_value(json_object_get(ifc, "description")),
                      HOSTILE_DESCRIPTION);
  /* and no raw control byte: every one is escaped */
  assert_null(strchr(r.out, 0x1b));
  assert_null(strchr(r.out, 0x07));
  run_free(&r);

  /* HTML: the text is shown, as text */
  r = run_hostile("html");
  assert_non_null(strstr(r.out, "alert(1)"));
  assert_null(strstr(r.out, "<script>alert"));
  assert_null(strstr(r.out, "<img src=x"));
  assert_null(strstr(r.out, "</td></tr><script>"));
  assert_null(strchr(r.out, 0x1b));
  assert_null(strchr(r.out, 0x07));
  run_free(&r);

  /* text: shown, with nothing a terminal would act on */
  r = run_hostile("text");
  assert_non_null(strstr(r.out, "alert(1)"));
  assert_terminal_inert(r.out);
  run_free(&r);
}

/* ---- IP and TCP headers that lie ---- */

static void set_be16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

/* Record 3 is the client's 55-byte request; record 2 a pure ACK. */
static void check_one_malformed(struct run *r, const char *reason) {
  assert_int_equal(r->rc, 0);
  char msg[128];
  snprintf(msg, sizeof msg, "1 malformed packet(s) were counted but not "
           "tracked (%s 1)", reason);
  assert_non_null(strstr(r->err, msg));
  assert_true(has_warning(r, msg));
  assert_int_equal(accounted(r), SAMPLE_RECS);
  assert_int_equal(packets(r, "malformed"), 1);
  assert_int_equal(malformed_by(r, reason), 1);
  assert_int_equal(packets(r, "tcp"), SAMPLE_RECS - 1);
}

static void test_damaged_ipv4_total_length_smaller(void **state) {
  (void)state;
  struct buf b = whole_pcap();
  uint8_t *ip = frame(&b, 3) + IP_AT;
  /* 10 bytes fewer than the frame holds: the rest reads as padding */
  set_be16(ip + 2, (uint16_t)(sample.caplen[3] - IP_AT - 10));
  struct run r = run_buf(&b, ".pcap");
  assert_int_equal(r.rc, 0);
  assert_int_equal(accounted(&r), SAMPLE_RECS);
  assert_int_equal(packets(&r, "tcp"), SAMPLE_RECS);
  json_t *c = connection0(&r);
  assert_int_equal(num(json_object_get(c, "orig"), "payload"), 55 - 10);
  assert_true(conn_has_anomaly(c, "ip_padded"));
  run_free(&r);
}

static void test_damaged_ipv4_total_length_larger(void **state) {
  (void)state;
  struct buf b = whole_pcap();
  uint8_t *ip = frame(&b, 3) + IP_AT;
  set_be16(ip + 2, (uint16_t)(sample.caplen[3] - IP_AT + 100));
  struct run r = run_buf(&b, ".pcap");
  check_one_malformed(&r, "ip_bad_total_length");
  run_free(&r);
}

static void test_damaged_ipv4_ihl_below_5(void **state) {
  (void)state;
  struct buf b = whole_pcap();
  frame(&b, 3)[IP_AT] = 0x44;
  struct run r = run_buf(&b, ".pcap");
  check_one_malformed(&r, "ipv4_bad_ihl");
  run_free(&r);
}

static void test_damaged_tcp_data_offset_below_5(void **state) {
  (void)state;
  struct buf b = whole_pcap();
  uint8_t *tcp = frame(&b, 3) + TCP_AT;
  tcp[12] = (uint8_t)(4 << 4 | (tcp[12] & 0x0f));
  struct run r = run_buf(&b, ".pcap");
  check_one_malformed(&r, "tcp_bad_data_offset");
  run_free(&r);
}

static void test_damaged_tcp_data_offset_beyond_packet(void **state) {
  (void)state;
  struct buf b = whole_pcap();
  /* a pure ACK: 32 bytes of TCP on the wire, the offset says 60 */
  uint8_t *tcp = frame(&b, 2) + TCP_AT;
  tcp[12] = (uint8_t)(15 << 4 | (tcp[12] & 0x0f));
  struct run r = run_buf(&b, ".pcap");
  check_one_malformed(&r, "tcp_bad_data_offset");
  run_free(&r);
}

/* The SYN's first option is MSS (kind 2, length 4); its length is edited. */
static void check_bad_option(uint8_t length) {
  struct buf b = whole_pcap();
  uint8_t *opt = frame(&b, 0) + OPT_AT;
  assert_int_equal(opt[0], 2);
  opt[1] = length;
  struct run r = run_buf(&b, ".pcap");
  assert_int_equal(r.rc, 0);
  assert_non_null(strstr(r.err, "1 TCP packet(s) carried malformed options"));
  assert_int_equal(accounted(&r), SAMPLE_RECS);
  assert_int_equal(packets(&r, "tcp"), SAMPLE_RECS);
  assert_int_equal(packets(&r, "malformed"), 0);
  json_t *c = connection0(&r);
  assert_true(conn_has_anomaly(c, "tcp_option_bad"));
  assert_int_equal(num(json_object_get(c, "orig"), "pkts"), 5);
  run_free(&r);
}

static void test_damaged_tcp_option_length_zero(void **state) {
  (void)state;
  check_bad_option(0);
}

static void test_damaged_tcp_option_past_header(void **state) {
  (void)state;
  check_bad_option(40); /* 20 bytes of options are left from here */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_damaged_empty_file),
      cmocka_unit_test(test_damaged_random_bytes),
      cmocka_unit_test(test_damaged_text_file),
      cmocka_unit_test(test_damaged_pcap_header_only),
      cmocka_unit_test(test_damaged_cut_in_record_header),
      cmocka_unit_test(test_damaged_cut_in_packet_data),
      cmocka_unit_test(test_damaged_caplen_over_snaplen),
      cmocka_unit_test(test_damaged_caplen_absurd),
      cmocka_unit_test(test_damaged_zero_length_records),
      cmocka_unit_test(test_damaged_time_backwards),
      cmocka_unit_test(test_damaged_pcapng_unknown_block),
      cmocka_unit_test(test_damaged_pcapng_bad_block_length),
      cmocka_unit_test(test_damaged_pcapng_caplen_over_snaplen),
      cmocka_unit_test(test_damaged_pcapng_undeclared_interface),
      cmocka_unit_test(test_damaged_pcapng_hostile_text),
      cmocka_unit_test(test_damaged_ipv4_total_length_smaller),
      cmocka_unit_test(test_damaged_ipv4_total_length_larger),
      cmocka_unit_test(test_damaged_ipv4_ihl_below_5),
      cmocka_unit_test(test_damaged_tcp_data_offset_below_5),
      cmocka_unit_test(test_damaged_tcp_data_offset_beyond_packet),
      cmocka_unit_test(test_damaged_tcp_option_length_zero),
      cmocka_unit_test(test_damaged_tcp_option_past_header),
  };
  return cmocka_run_group_tests(tests, load_sample, free_sample);
}
