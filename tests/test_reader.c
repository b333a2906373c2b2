/* tcpaudit - tests: reader (formats, compression, pcapng, filters, damage). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ta_error.h"
#include "ta_reader.h"
#include "ta_test_util.h"

#define TD(name) TA_TESTDATA "/" name

struct frames {
  size_t n;
  int64_t ts[64];
  uint32_t caplen[64], linktype[64];
  uint64_t sum; /* byte checksum over all frame data */
};

/* Reads a whole file; returns the last ta_reader_next/open code. */
static int read_all(const char *path, const char *filter, struct frames *out,
                    struct ta_input_info *info, char *err, size_t errlen) {
  struct ta_reader *r;
  memset(out, 0, sizeof *out);
  int rc = ta_reader_open(path, filter, &r, info, err, errlen);
  if (rc < 0)
    return rc;
  struct ta_frame f;
  while ((rc = ta_reader_next(r, &f, info, err, errlen)) == 1) {
    if (out->n < 64) {
      out->ts[out->n] = f.ts_ns;
      out->caplen[out->n] = f.caplen;
      out->linktype[out->n] = f.linktype;
    }
    for (uint32_t i = 0; i < f.caplen; i++)
      out->sum = out->sum * 31 + f.data[i];
    out->n += !f.filtered_out;
  }
  ta_reader_close(r);
  return rc;
}

static void test_reader_pcap_microseconds(void **state) {
  (void)state;
  struct frames fr;
  struct ta_input_info info;
  char err[256];
  assert_int_equal(read_all(TD("kernel-completed.pcap"), NULL, &fr, &info, err,
                            sizeof err), 0);
  assert_int_equal(fr.n, 10);
  assert_string_equal(info.format, "pcap");
  assert_string_equal(info.compression, "none");
  assert_int_equal(info.ts_precision, 6);
  assert_int_equal(info.n_linktypes, 1);
  assert_int_equal(info.linktypes[0], 1);
  assert_int_equal(info.packets, 10);
  assert_true(info.first_ts <= info.last_ts);
  assert_int_equal(info.first_ts, fr.ts[0]);
  assert_int_equal(fr.ts[0] % 1000, 0); /* microsecond file */
}

static void test_reader_pcap_nanoseconds(void **state) {
  (void)state;
  struct frames fr;
  struct ta_input_info info;
  char err[256];
  assert_int_equal(read_all(TD("kernel-completed-nano.pcap"), NULL, &fr, &info,
                            err, sizeof err), 0);
  assert_int_equal(info.ts_precision, 9);
  assert_int_equal(fr.n, 10);
  bool sub_us = false;
  for (size_t i = 0; i < fr.n; i++)
    sub_us |= fr.ts[i] % 1000 != 0;
  assert_true(sub_us);
}

static void test_reader_compressed_same_frames(void **state) {
  (void)state;
  struct frames plain, gz, zs;
  struct ta_input_info info;
  char err[256];
  assert_int_equal(read_all(TD("kernel-completed.pcap"), NULL, &plain, &info,
                            err, sizeof err), 0);
  assert_int_equal(read_all(TD("kernel-completed.pcap.gz"), NULL, &gz, &info,
                            err, sizeof err), 0);
  assert_string_equal(info.compression, "gzip");
  assert_int_equal(read_all(TD("kernel-completed.pcap.zst"), NULL, &zs, &info,
                            err, sizeof err), 0);
  assert_string_equal(info.compression, "zstd");
  assert_int_equal(plain.n, gz.n);
  assert_int_equal(plain.n, zs.n);
  assert_true(plain.sum == gz.sum && plain.sum == zs.sum);
  assert_memory_equal(plain.ts, gz.ts, sizeof plain.ts);
}

static void test_reader_truncated_gzip_is_damage(void **state) {
  (void)state;
  size_t len;
  char *gz = tt_slurp(TD("kernel-completed.pcap.gz"), &len);
  char *path = tt_tmpfile(".gz");
  FILE *f = fopen(path, "wb");
  fwrite(gz, 1, len * 2 / 3, f);
  fclose(f);
  struct frames fr;
  struct ta_input_info info;
  char err[256];
  int rc = read_all(path, NULL, &fr, &info, err, sizeof err);
  assert_true(rc == TA_ETRUNC || rc == TA_ECORRUPT);
  assert_true(fr.n < 10);
  unlink(path);
  free(path);
  free(gz);
}

/* ---- pcapng built byte by byte ---- */

struct buf {
  uint8_t b[4096];
  size_t n;
};

static void put32le(struct buf *b, uint32_t v) {
  for (int i = 0; i < 4; i++)
    b->b[b->n++] = (uint8_t)(v >> (8 * i));
}
static void put16le(struct buf *b, uint16_t v) {
  b->b[b->n++] = (uint8_t)v;
  b->b[b->n++] = (uint8_t)(v >> 8);
}

static void block(struct buf *b, uint32_t type, const uint8_t *body, size_t n) {
  uint32_t total = (uint32_t)(12 + ((n + 3) & ~3u));
  put32le(b, type);
  put32le(b, total);
  memcpy(b->b + b->n, body, n);
  memset(b->b + b->n + n, 0, ((n + 3) & ~3u) - n);
  b->n += (n + 3) & ~3u;
  put32le(b, total);
}

static void shb(struct buf *b) {
  struct buf body = {.n = 0};
  put32le(&body, 0x1A2B3C4D);
  put16le(&body, 1);
  put16le(&body, 0);
  put32le(&body, 0xffffffff);
  put32le(&body, 0xffffffff);
  block(b, 0x0A0D0D0A, body.b, body.n);
}

static void idb(struct buf *b, uint16_t linktype, uint8_t tsresol) {
  struct buf body = {.n = 0};
  put16le(&body, linktype);
  put16le(&body, 0);
  put32le(&body, 65535);
  if (tsresol) {
    put16le(&body, 9);
    put16le(&body, 1);
    put32le(&body, tsresol); /* value byte then padding */
    put32le(&body, 0);       /* opt_endofopt */
  }
  block(b, 1, body.b, body.n);
}

static void epb(struct buf *b, uint32_t iface, uint64_t ts, const uint8_t *pkt,
                uint32_t len) {
  struct buf body = {.n = 0};
  put32le(&body, iface);
  put32le(&body, (uint32_t)(ts >> 32));
  put32le(&body, (uint32_t)ts);
  put32le(&body, len);
  put32le(&body, len);
  memcpy(body.b + body.n, pkt, len);
  body.n += len;
  block(b, 6, body.b, body.n);
}

static char *write_buf(const struct buf *b) {
  char *path = tt_tmpfile(".pcapng");
  FILE *f = fopen(path, "wb");
  fwrite(b->b, 1, b->n, f);
  fclose(f);
  return path;
}

static const struct tt_seg syn_seg = {.src = "10.0.0.1", .dst = "10.0.0.2",
                                      .sport = 1234, .dport = 80, .seq = 1,
                                      .flags = 0x02, .win = 1024};

static void test_reader_pcapng_mixed_linktypes(void **state) {
  (void)state;
  uint8_t eth[200], raw[200];
  size_t ne = tt_build_eth(eth, sizeof eth, &syn_seg);
  size_t nr = tt_build_ip(raw, sizeof raw, &syn_seg);
  struct buf b = {.n = 0};
  shb(&b);
  idb(&b, 1, 0);   /* Ethernet, microseconds */
  idb(&b, 101, 9); /* raw IP, nanoseconds */
  epb(&b, 0, 1700000000000000ull, eth, (uint32_t)ne);
  epb(&b, 1, 1700000000000000123ull, raw, (uint32_t)nr);
  uint8_t unknown[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  block(&b, 0x0BAD, unknown, sizeof unknown); /* skipped */
  epb(&b, 0, 1700000001000000ull, eth, (uint32_t)ne);
  char *path = write_buf(&b);
  struct frames fr;
  struct ta_input_info info;
  char err[256];
  assert_int_equal(read_all(path, NULL, &fr, &info, err, sizeof err), 0);
  assert_int_equal(fr.n, 3);
  assert_string_equal(info.format, "pcapng");
  assert_int_equal(info.n_linktypes, 2);
  assert_int_equal(fr.linktype[0], 1);
  assert_int_equal(fr.linktype[1], 101);
  assert_int_equal(fr.ts[0], 1700000000000000000LL);
  assert_int_equal(fr.ts[1], 1700000000000000123LL);
  assert_int_equal(info.ts_precision, 9);
  /* a filter compiles per link type and applies to both */
  assert_int_equal(read_all(path, "tcp port 80", &fr, &info, err, sizeof err), 0);
  assert_int_equal(fr.n, 3);
  assert_int_equal(read_all(path, "tcp port 81", &fr, &info, err, sizeof err), 0);
  assert_int_equal(fr.n, 0);
  assert_int_equal(info.packets, 3);
  unlink(path);
  free(path);
}

static void test_reader_pcapng_undeclared_interface(void **state) {
  (void)state;
  uint8_t eth[200];
  size_t ne = tt_build_eth(eth, sizeof eth, &syn_seg);
  struct buf b = {.n = 0};
  shb(&b);
  idb(&b, 1, 0);
  epb(&b, 5, 0, eth, (uint32_t)ne);
  char *path = write_buf(&b);
  struct ta_reader *r;
  struct ta_input_info info;
  char err[256];
  assert_int_equal(ta_reader_open(path, NULL, &r, &info, err, sizeof err), 0);
  struct ta_frame f;
  assert_int_equal(ta_reader_next(r, &f, &info, err, sizeof err), 1);
  assert_true(f.bad_interface);
  assert_int_equal(ta_reader_next(r, &f, &info, err, sizeof err), 0);
  ta_reader_close(r);
  unlink(path);
  free(path);
}

static void test_reader_pcapng_bad_block_length(void **state) {
  (void)state;
  uint8_t eth[200];
  size_t ne = tt_build_eth(eth, sizeof eth, &syn_seg);
  struct buf b = {.n = 0};
  shb(&b);
  idb(&b, 1, 0);
  epb(&b, 0, 0, eth, (uint32_t)ne);
  size_t second = b.n;
  epb(&b, 0, 0, eth, (uint32_t)ne);
  b.b[second + 4] = 13; /* length not a multiple of 4 */
  char *path = write_buf(&b);
  struct frames fr;
  struct ta_input_info info;
  char err[256];
  assert_int_equal(read_all(path, NULL, &fr, &info, err, sizeof err),
                   TA_ECORRUPT);
  assert_int_equal(fr.n, 1);
  assert_non_null(strstr(err, "block length"));
  /* cut inside the second block */
  b.b[second + 4] = (uint8_t)(12 + ((ne + 20 + 3) & ~3u));
  b.n = second + 10;
  FILE *f = fopen(path, "wb");
  fwrite(b.b, 1, b.n, f);
  fclose(f);
  assert_int_equal(read_all(path, NULL, &fr, &info, err, sizeof err),
                   TA_ETRUNC);
  assert_int_equal(fr.n, 1);
  unlink(path);
  free(path);
}

static void test_reader_not_a_capture(void **state) {
  (void)state;
  struct frames fr;
  struct ta_input_info info;
  char err[256];
  assert_int_equal(read_all(TD("README.md"), NULL, &fr, &info, err, sizeof err),
                   TA_EFORMAT);
  assert_non_null(strstr(err, "not a pcap or pcapng"));
  assert_int_equal(read_all("/nonexistent/x.pcap", NULL, &fr, &info, err,
                            sizeof err), TA_EIO);
}

static void test_reader_pcap_cut_mid_record(void **state) {
  (void)state;
  size_t len;
  char *data = tt_slurp(TD("kernel-completed.pcap"), &len);
  char *path = tt_tmpfile(".pcap");
  FILE *f = fopen(path, "wb");
  fwrite(data, 1, len - 10, f);
  fclose(f);
  struct frames fr;
  struct ta_input_info info;
  char err[256];
  assert_int_equal(read_all(path, NULL, &fr, &info, err, sizeof err), TA_ETRUNC);
  assert_int_equal(fr.n, 9);
  assert_int_equal(info.packets, 9);
  unlink(path);
  free(path);
  free(data);
}

static void test_reader_corpus_mixed_pcapng(void **state) {
  (void)state;
  const char *p = TA_CORPUS "/other/mixed/mixed-linktypes.pcapng";
  if (access(p, R_OK) != 0)
    skip();
  struct frames fr;
  struct ta_input_info info;
  char err[256];
  assert_int_equal(read_all(p, NULL, &fr, &info, err, sizeof err), 0);
  assert_int_equal(info.n_linktypes, 3);
  assert_true(info.packets > 100);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_reader_pcap_microseconds),
      cmocka_unit_test(test_reader_pcap_nanoseconds),
      cmocka_unit_test(test_reader_compressed_same_frames),
      cmocka_unit_test(test_reader_truncated_gzip_is_damage),
      cmocka_unit_test(test_reader_pcapng_mixed_linktypes),
      cmocka_unit_test(test_reader_pcapng_undeclared_interface),
      cmocka_unit_test(test_reader_pcapng_bad_block_length),
      cmocka_unit_test(test_reader_not_a_capture),
      cmocka_unit_test(test_reader_pcap_cut_mid_record),
      cmocka_unit_test(test_reader_corpus_mixed_pcapng),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
