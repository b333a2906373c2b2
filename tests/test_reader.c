/* tcpaudit - tests: reader (formats, compression, pcapng, classic pcap
 * records through small buffers, filters, damage). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ta_error.h"
#include "ta_limits.h"
#include "ta_reader.h"
#include "ta_source.h"
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

/* ---- classic pcap through our record reader, with small buffers ---- */

/* A classic pcap file built in memory, in either byte order. */
struct pcapbuf {
  uint8_t *p;
  size_t n, cap;
  bool be;
};

static void pb_bytes(struct pcapbuf *b, const void *src, size_t n) {
  if (b->n + n > b->cap) {
    b->cap = (b->n + n) * 2;
    b->p = realloc(b->p, b->cap);
  }
  memcpy(b->p + b->n, src, n);
  b->n += n;
}

static void pb_32(struct pcapbuf *b, uint32_t v) {
  uint8_t x[4];
  for (int i = 0; i < 4; i++)
    x[b->be ? 3 - i : i] = (uint8_t)(v >> (8 * i));
  pb_bytes(b, x, 4);
}

static void pb_16(struct pcapbuf *b, uint16_t v) {
  uint8_t x[2] = {(uint8_t)(b->be ? v >> 8 : v), (uint8_t)(b->be ? v : v >> 8)};
  pb_bytes(b, x, 2);
}

static struct pcapbuf pb_start(bool be, uint32_t magic, uint32_t snaplen,
                               uint32_t linktype) {
  struct pcapbuf b = {.be = be};
  pb_32(&b, magic);
  pb_16(&b, 2);
  pb_16(&b, 4);
  pb_32(&b, 0);
  pb_32(&b, 0);
  pb_32(&b, snaplen);
  pb_32(&b, linktype);
  return b;
}

/* Packet bytes that tell record i and offset k apart. */
static uint8_t pkt_byte(uint32_t i, uint32_t k) {
  return (uint8_t)(i * 131u + k * 7u + (k >> 8));
}

static void pb_record(struct pcapbuf *b, uint32_t sec, uint32_t sub,
                      uint32_t caplen, uint32_t wirelen, uint32_t i) {
  pb_32(b, sec);
  pb_32(b, sub);
  pb_32(b, caplen);
  pb_32(b, wirelen);
  uint8_t chunk[1024];
  for (uint32_t k = 0; k < caplen; k += sizeof chunk) {
    uint32_t m = caplen - k < sizeof chunk ? caplen - k : (uint32_t)sizeof chunk;
    for (uint32_t j = 0; j < m; j++)
      chunk[j] = pkt_byte(i, k + j);
    pb_bytes(b, chunk, m);
  }
}

static char *pb_write(const struct pcapbuf *b, size_t len) {
  char *path = tt_tmpfile(".pcap");
  FILE *f = fopen(path, "wb");
  fwrite(b->p, 1, len, f);
  fclose(f);
  return path;
}

struct pf_run {
  struct ta_source *src;
  struct ta__pcapfile *pf;
  bool map; /* map the file (windows of bufsize) rather than read it */
  uint64_t oversized;
  char err[256];
};

static int pf_next(struct pf_run *r, struct ta_frame *f) {
  return ta__pcapfile_next(r->pf, f, &r->oversized, r->err, sizeof r->err);
}

/* Opens path with our reader and a buffer of bufsize bytes. */
static void pf_open(struct pf_run *r, const char *path, size_t bufsize) {
  r->oversized = 0;
  assert_int_equal(ta_source_open(path, &r->src, r->err, sizeof r->err), 0);
  assert_int_equal(
      ta__pcapfile_open(r->src, bufsize, r->map, &r->pf, r->err, sizeof r->err), 0);
}

static void pf_close(struct pf_run *r) {
  ta__pcapfile_close(r->pf);
  ta_source_close(r->src);
}

static bool frame_is(const struct ta_frame *f, uint32_t i, uint32_t caplen) {
  if (f->caplen != caplen)
    return false;
  for (uint32_t k = 0; k < caplen; k++)
    if (f->data[k] != pkt_byte(i, k))
      return false;
  return true;
}

/* Records of many sizes, read with buffers from far smaller than one
 * record (it grows) to the default: every frame comes out whole. */
static void test_reader_pcapfile_buffer_sizes(void **state) {
  (void)state;
  struct pcapbuf b = pb_start(false, 0xa1b2c3d4u, 65535, 1);
  uint32_t lens[40];
  for (uint32_t i = 0; i < 40; i++) {
    lens[i] = (i * 397u) % 1600u + (i % 7 == 0 ? 3000u : 0u);
    pb_record(&b, 1000 + i, i * 1000, lens[i], lens[i] + 4, i);
  }
  char *path = pb_write(&b, b.n);
  static const size_t sizes[] = {1, 16, 100, 1500, 1517, 4096, 65536, 0};
  for (size_t s = 0; s < 2 * sizeof sizes / sizeof sizes[0]; s++) {
    /* read through a buffer, then mapped a window of that size at a time */
    struct pf_run r = {.map = s >= sizeof sizes / sizeof sizes[0]};
    pf_open(&r, path, sizes[s % (sizeof sizes / sizeof sizes[0])]);
    assert_non_null(r.pf);
    struct ta_frame f;
    for (uint32_t i = 0; i < 40; i++) {
      assert_int_equal(pf_next(&r, &f), 1);
      assert_true(frame_is(&f, i, lens[i]));
      assert_int_equal(f.wirelen, lens[i] + 4);
      assert_int_equal(f.ts_ns, (int64_t)(1000 + i) * 1000000000LL +
                                    (int64_t)i * 1000000LL);
      assert_int_equal(f.linktype, 1);
    }
    assert_int_equal(pf_next(&r, &f), 0);
    assert_int_equal(r.oversized, 0);
    pf_close(&r);
  }
  unlink(path);
  free(path);
  free(b.p);
}

/* The largest record accepted, through a buffer of 4 KiB; one byte more
 * is refused as corrupt. */
static void test_reader_pcapfile_largest_record(void **state) {
  (void)state;
  struct pcapbuf b = pb_start(false, 0xa1b2c3d4u, 0, 1);
  pb_record(&b, 5, 6, 60, 60, 0);
  pb_record(&b, 5, 7, TA_MAX_CAPLEN, TA_MAX_CAPLEN, 1);
  pb_record(&b, 5, 8, 60, 60, 2);
  pb_record(&b, 5, 9, TA_MAX_CAPLEN + 1, TA_MAX_CAPLEN + 1, 3);
  char *path = pb_write(&b, b.n);
  struct pf_run r = {0};
  pf_open(&r, path, 4096);
  uint32_t lt, snap;
  int digits;
  ta__pcapfile_info(r.pf, &lt, &snap, &digits);
  assert_int_equal(snap, TA_MAX_CAPLEN); /* 0 means any */
  assert_int_equal(digits, 6);
  struct ta_frame f;
  assert_int_equal(pf_next(&r, &f), 1);
  assert_true(frame_is(&f, 0, 60));
  assert_int_equal(pf_next(&r, &f), 1);
  assert_true(frame_is(&f, 1, TA_MAX_CAPLEN));
  assert_int_equal(pf_next(&r, &f), 1);
  assert_true(frame_is(&f, 2, 60));
  assert_int_equal(pf_next(&r, &f), TA_ECORRUPT);
  assert_non_null(strstr(r.err, "record 4 claims 262145 captured bytes"));
  pf_close(&r);
  unlink(path);
  free(path);
  free(b.p);
}

/* Big-endian files, microsecond and nanosecond, read as libpcap does,
 * including its reading of a swapped time field as unsigned. */
static void test_reader_pcapfile_swapped_and_nano(void **state) {
  (void)state;
  for (int be = 0; be < 2; be++)
    for (int nano = 0; nano < 2; nano++) {
      struct pcapbuf b =
          pb_start(be, nano ? 0xa1b23c4du : 0xa1b2c3d4u, 1500, 101);
      pb_record(&b, 1700000000u, 123456789u % (nano ? 1000000000u : 1000000u),
                40, 1400, 0);
      pb_record(&b, 0xffffffffu, 0, 20, 20, 1);
      char *path = pb_write(&b, b.n);
      struct pf_run r = {0};
      pf_open(&r, path, 32);
      uint32_t lt, snap;
      int digits;
      ta__pcapfile_info(r.pf, &lt, &snap, &digits);
      assert_int_equal(lt, 101);
      assert_int_equal(snap, 1500);
      assert_int_equal(digits, nano ? 9 : 6);
      struct ta_frame f;
      assert_int_equal(pf_next(&r, &f), 1);
      assert_true(frame_is(&f, 0, 40));
      assert_int_equal(f.wirelen, 1400);
      assert_int_equal(f.ts_ns, 1700000000LL * 1000000000LL +
                                    (nano ? 123456789LL : 456789000LL));
      assert_int_equal(pf_next(&r, &f), 1);
      /* host order: signed, so before 1970; swapped: unsigned */
      bool swapped = be != (__BYTE_ORDER__ == __ORDER_BIG_ENDIAN__);
      assert_int_equal(f.ts_ns, swapped ? 4294967295LL * 1000000000LL
                                        : -1000000000LL);
      assert_int_equal(pf_next(&r, &f), 0);
      pf_close(&r);
      unlink(path);
      free(path);
      free(b.p);
    }
}

/* A record longer than the snaplen is cut to it and the rest skipped, also
 * when the skipped bytes straddle the buffer's end. */
static void test_reader_pcapfile_oversized(void **state) {
  (void)state;
  struct pcapbuf b = pb_start(false, 0xa1b2c3d4u, 100, 1);
  pb_record(&b, 1, 0, 300, 300, 0);
  pb_record(&b, 2, 0, 100, 50, 1);
  pb_record(&b, 3, 0, 101, 90, 2);
  pb_record(&b, 4, 0, 60, 60, 3);
  char *path = pb_write(&b, b.n);
  static const size_t sizes[] = {64, 150, 0};
  for (size_t s = 0; s < 6; s++) {
    struct pf_run r = {.map = s >= 3};
    pf_open(&r, path, sizes[s % 3]);
    struct ta_frame f;
    assert_int_equal(pf_next(&r, &f), 1);
    assert_true(frame_is(&f, 0, 100));
    assert_int_equal(f.wirelen, 300);
    assert_int_equal(pf_next(&r, &f), 1);
    assert_true(frame_is(&f, 1, 100));
    assert_int_equal(f.wirelen, 100); /* never below the captured length */
    assert_int_equal(pf_next(&r, &f), 1);
    assert_true(frame_is(&f, 2, 100));
    assert_int_equal(f.wirelen, 100);
    assert_int_equal(pf_next(&r, &f), 1);
    assert_true(frame_is(&f, 3, 60));
    assert_int_equal(pf_next(&r, &f), 0);
    assert_int_equal(r.oversized, 2);
    pf_close(&r);
  }
  unlink(path);
  free(path);
  free(b.p);
}

/* Cut in a record header, in packet data, and in the bytes past the
 * snaplen: the records before are read, then TA_ETRUNC. */
static void test_reader_pcapfile_truncated(void **state) {
  (void)state;
  struct pcapbuf b = pb_start(true, 0xa1b2c3d4u, 100, 1);
  pb_record(&b, 1, 0, 80, 80, 0);
  size_t rec2 = b.n;
  pb_record(&b, 2, 0, 200, 200, 1);
  static const struct {
    size_t cut;
    const char *msg;
  } cuts[] = {
      {7, "record 2: its header needs 16 bytes, only 7 are left"},
      {16 + 30, "record 2: its data needs 200 bytes, only 30 are left"},
      {16 + 150, "record 2: its data needs 200 bytes, only 150 are left"},
  };
  for (size_t c = 0; c < 3; c++)
    for (int mode = 0; mode < 4; mode++) { /* read or mapped, 0 or 64 */
      char *path = pb_write(&b, rec2 + cuts[c].cut);
      struct pf_run r = {.map = mode >= 2};
      pf_open(&r, path, mode % 2 ? 64 : 0);
      struct ta_frame f;
      assert_int_equal(pf_next(&r, &f), 1);
      assert_true(frame_is(&f, 0, 80));
      assert_int_equal(pf_next(&r, &f), TA_ETRUNC);
      assert_non_null(strstr(r.err, cuts[c].msg));
      pf_close(&r);
      unlink(path);
      free(path);
    }
  /* a header cut short is libpcap's to report: ours leaves it alone */
  char *path = pb_write(&b, 20);
  struct pf_run r = {0};
  assert_int_equal(ta_source_open(path, &r.src, r.err, sizeof r.err), 0);
  assert_int_equal(ta__pcapfile_open(r.src, 0, false, &r.pf, r.err, sizeof r.err), 0);
  assert_null(r.pf);
  ta_source_close(r.src);
  struct frames fr;
  struct ta_input_info info;
  char err[256];
  assert_int_equal(read_all(path, NULL, &fr, &info, err, sizeof err),
                   TA_ETRUNC);
  unlink(path);
  free(path);
  free(b.p);
}

/* Records read in batches of every size come out as one at a time do,
 * through buffers and windows of every size, in both byte orders and
 * precisions, with records cut to the snaplen among them; every frame of
 * a batch is still whole when the batch is looked at. */
static void test_reader_pcapfile_batches(void **state) {
  (void)state;
  for (int variant = 0; variant < 4; variant++) {
    bool be = variant & 1, nano = variant & 2;
    struct pcapbuf b = pb_start(be, nano ? 0xa1b23c4du : 0xa1b2c3d4u, 1500, 1);
    uint32_t lens[40], keep[40], cut = 0;
    for (uint32_t i = 0; i < 40; i++) {
      lens[i] = (i * 397u) % 1600u + (i % 9 == 0 ? 300u : 0u);
      keep[i] = lens[i] > 1500 ? 1500 : lens[i];
      cut += lens[i] > 1500;
      pb_record(&b, 1000 + i, i * 3, lens[i], lens[i] + 4, i);
    }
    assert_true(cut > 0);
    char *path = pb_write(&b, b.n);
    static const size_t sizes[] = {16, 1517, 4096, 0};
    static const size_t maxes[] = {1, 2, 3, 7, 40, 64};
    for (size_t s = 0; s < 2 * sizeof sizes / sizeof sizes[0]; s++)
      for (size_t m = 0; m < sizeof maxes / sizeof maxes[0]; m++) {
        struct pf_run r = {.map = s >= sizeof sizes / sizeof sizes[0]};
        pf_open(&r, path, sizes[s % (sizeof sizes / sizeof sizes[0])]);
        struct ta_frame f[64];
        uint32_t i = 0;
        int n;
        while ((n = ta__pcapfile_batch(r.pf, f, maxes[m], &r.oversized, r.err,
                                       sizeof r.err)) > 0) {
          assert_true((size_t)n <= maxes[m]);
          for (int k = 0; k < n; k++, i++) {
            assert_true(i < 40);
            assert_true(frame_is(&f[k], i, keep[i]));
            assert_int_equal(f[k].wirelen, lens[i] + 4);
            assert_int_equal(f[k].ts_ns, (int64_t)(1000 + i) * 1000000000LL +
                                             (nano ? 3 : 3000) * (int64_t)i);
            assert_false(f[k].filtered_out || f[k].bad_interface);
          }
        }
        assert_int_equal(n, 0);
        assert_int_equal(i, 40);
        assert_int_equal(r.oversized, cut);
        pf_close(&r);
      }
    unlink(path);
    free(path);
    free(b.p);
  }
}

/* A file cut short: the batches hold every record before the cut, and the
 * error comes on a call that returns none. */
static void test_reader_pcapfile_batch_then_truncated(void **state) {
  (void)state;
  struct pcapbuf b = pb_start(false, 0xa1b2c3d4u, 0, 1);
  for (uint32_t i = 0; i < 10; i++)
    pb_record(&b, 1, i, 60, 60, i);
  char *path = pb_write(&b, b.n - 20);
  for (int mode = 0; mode < 2; mode++) {
    struct pf_run r = {.map = mode == 1};
    pf_open(&r, path, 0);
    struct ta_frame f[32];
    assert_int_equal(ta__pcapfile_batch(r.pf, f, 32, &r.oversized, r.err,
                                        sizeof r.err),
                     9);
    assert_true(frame_is(&f[8], 8, 60));
    assert_int_equal(ta__pcapfile_batch(r.pf, f, 32, &r.oversized, r.err,
                                        sizeof r.err),
                     TA_ETRUNC);
    assert_non_null(strstr(r.err, "record 10: its data needs 60 bytes"));
    pf_close(&r);
  }
  /* through the reader: the same counts whatever the batch */
  struct ta_input_info one, many;
  char err[256];
  struct ta_reader *r;
  struct ta_frame f[32];
  assert_int_equal(ta_reader_open(path, NULL, &r, &one, err, sizeof err), 0);
  int rc;
  while ((rc = ta_reader_next(r, f, &one, err, sizeof err)) == 1)
    ;
  assert_int_equal(rc, TA_ETRUNC);
  ta_reader_close(r);
  assert_int_equal(ta_reader_open(path, NULL, &r, &many, err, sizeof err), 0);
  assert_int_equal(ta_reader_next_batch(r, f, 32, &many, err, sizeof err), 9);
  assert_int_equal(ta_reader_next_batch(r, f, 32, &many, err, sizeof err),
                   TA_ETRUNC);
  ta_reader_close(r);
  assert_int_equal(many.packets, 9);
  assert_int_equal(many.packets, one.packets);
  assert_int_equal(many.bytes, one.bytes);
  assert_int_equal(many.first_ts, one.first_ts);
  assert_int_equal(many.last_ts, one.last_ts);
  unlink(path);
  free(path);
  free(b.p);
}

/* The counts the reader keeps do not depend on the batch: time going
 * backwards, the first and last times, bytes, and the filter. */
static void test_reader_batch_counts(void **state) {
  (void)state;
  struct pcapbuf b = pb_start(false, 0xa1b2c3d4u, 0, 1);
  static const uint32_t secs[] = {50, 40, 60, 60, 30, 70, 65, 80};
  for (uint32_t i = 0; i < 8; i++)
    pb_record(&b, secs[i], 0, 60 + i, 60 + i, i);
  char *path = pb_write(&b, b.n);
  static const size_t maxes[] = {1, 3, 8, 32};
  struct ta_input_info want = {0};
  for (size_t m = 0; m < 4; m++) {
    struct ta_input_info info;
    char err[256];
    struct ta_reader *r;
    struct ta_frame f[32];
    assert_int_equal(ta_reader_open(path, "tcp", &r, &info, err, sizeof err),
                     0);
    int rc;
    size_t got = 0;
    while ((rc = ta_reader_next_batch(r, f, maxes[m], &info, err,
                                      sizeof err)) > 0)
      for (int k = 0; k < rc; k++, got++)
        assert_true(f[k].filtered_out); /* the bytes are not TCP */
    assert_int_equal(rc, 0);
    assert_int_equal(got, 8);
    ta_reader_close(r);
    assert_int_equal(info.packets, 8);
    assert_int_equal(info.ts_backwards, 3);
    assert_int_equal(info.first_ts, 30000000000LL);
    assert_int_equal(info.last_ts, 80000000000LL);
    if (m == 0)
      want = info;
    assert_int_equal(info.bytes, want.bytes);
  }
  unlink(path);
  free(path);
  free(b.p);
}

/* Headers our reader leaves to libpcap (an old version, a link type
 * libpcap translates) are still read, through libpcap. */
static void test_reader_pcapfile_leaves_variants_to_libpcap(void **state) {
  (void)state;
  for (int v = 0; v < 2; v++) {
    struct pcapbuf b = pb_start(false, 0xa1b2c3d4u, 65535, v ? 253 : 1);
    if (!v)
      b.p[6] = 3; /* version 2.3 */
    pb_record(&b, 1, 2, 60, 70, 0);
    char *path = pb_write(&b, b.n);
    struct pf_run r = {0};
    assert_int_equal(ta_source_open(path, &r.src, r.err, sizeof r.err), 0);
    assert_int_equal(
        ta__pcapfile_open(r.src, 0, false, &r.pf, r.err, sizeof r.err), 0);
    assert_null(r.pf);
    ta_source_close(r.src);
    struct frames fr;
    struct ta_input_info info;
    char err[256];
    assert_int_equal(read_all(path, NULL, &fr, &info, err, sizeof err), 0);
    assert_string_equal(info.format, "pcap");
    assert_int_equal(info.packets, 1);
    assert_int_equal(fr.caplen[0], 60);
    assert_int_equal(fr.ts[0], 1000002000LL);
    unlink(path);
    free(path);
    free(b.p);
  }
}

/* Only a reader with a filter, or of pcapng, can mark frames. */
static void test_reader_marks(void **state) {
  (void)state;
  static const struct {
    const char *path, *filter;
    bool marks;
  } cases[] = {
      {TD("kernel-completed.pcap"), NULL, false},
      {TD("kernel-completed.pcap.gz"), NULL, false},
      {TD("kernel-completed.pcap"), "tcp", true},
      {TD("kernel-mixed.pcapng"), NULL, true},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct ta_reader *r;
    struct ta_input_info info;
    char err[256];
    assert_int_equal(ta_reader_open(cases[i].path, cases[i].filter, &r, &info,
                                    err, sizeof err),
                     0);
    assert_int_equal(ta_reader_marks(r), cases[i].marks);
    ta_reader_close(r);
  }
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
      cmocka_unit_test(test_reader_pcapfile_buffer_sizes),
      cmocka_unit_test(test_reader_pcapfile_largest_record),
      cmocka_unit_test(test_reader_pcapfile_swapped_and_nano),
      cmocka_unit_test(test_reader_pcapfile_oversized),
      cmocka_unit_test(test_reader_pcapfile_truncated),
      cmocka_unit_test(test_reader_pcapfile_batches),
      cmocka_unit_test(test_reader_pcapfile_batch_then_truncated),
      cmocka_unit_test(test_reader_batch_counts),
      cmocka_unit_test(test_reader_pcapfile_leaves_variants_to_libpcap),
      cmocka_unit_test(test_reader_marks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
