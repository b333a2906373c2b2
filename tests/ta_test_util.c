/* tcpaudit - tests: packet and capture builders shared by the test programs. */
#include "ta_test_util.h"
#include "ta_analyze.h"
#include "ta_packet.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static size_t tcp_write(uint8_t *p, size_t cap, const struct tt_seg *s) {
  size_t hl = 20 + s->optlen;
  if (hl + s->payload_len > cap || hl > 60)
    return 0;
  memset(p, 0, hl);
  put16(p, s->sport);
  put16(p + 2, s->dport);
  put32(p + 4, s->seq);
  put32(p + 8, s->ack);
  p[12] = (uint8_t)((hl / 4) << 4);
  p[13] = s->flags;
  put16(p + 14, s->win);
  if (s->optlen)
    memcpy(p + 20, s->opts, s->optlen);
  memset(p + hl, 'x', s->payload_len);
  return hl + s->payload_len;
}

size_t tt_build_ip(uint8_t *buf, size_t cap, const struct tt_seg *s) {
  uint8_t a4[4], b4[4], a6[16], b6[16];
  uint8_t ttl = s->ttl ? s->ttl : 64;
  if (inet_pton(AF_INET, s->src, a4) == 1 && inet_pton(AF_INET, s->dst, b4) == 1) {
    if (cap < 20)
      return 0;
    size_t t = tcp_write(buf + 20, cap - 20, s);
    if (!t)
      return 0;
    memset(buf, 0, 20);
    buf[0] = 0x45;
    put16(buf + 2, (uint16_t)(20 + t));
    put16(buf + 4, s->ip_id);
    if (s->df)
      buf[6] = 0x40;
    buf[8] = ttl;
    buf[9] = 6;
    memcpy(buf + 12, a4, 4);
    memcpy(buf + 16, b4, 4);
    return 20 + t;
  }
  if (inet_pton(AF_INET6, s->src, a6) == 1 && inet_pton(AF_INET6, s->dst, b6) == 1) {
    if (cap < 40)
      return 0;
    size_t t = tcp_write(buf + 40, cap - 40, s);
    if (!t)
      return 0;
    memset(buf, 0, 40);
    buf[0] = 0x60;
    put16(buf + 4, (uint16_t)t);
    buf[6] = 6;
    buf[7] = ttl;
    memcpy(buf + 8, a6, 16);
    memcpy(buf + 24, b6, 16);
    return 40 + t;
  }
  return 0;
}

size_t tt_build_eth(uint8_t *buf, size_t cap, const struct tt_seg *s) {
  if (cap < 14)
    return 0;
  size_t n = tt_build_ip(buf + 14, cap - 14, s);
  if (!n)
    return 0;
  static const uint8_t macs[12] = {0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 6};
  memcpy(buf, macs, 12);
  put16(buf + 12, (buf[14] >> 4) == 6 ? 0x86DD : 0x0800);
  return n + 14;
}

int64_t tt_clock_ns(const char *hms) {
  int h = 0, m = 0;
  double sec = 0;
  if (sscanf(hms, "%d:%d:%lf", &h, &m, &sec) != 3)
    return -1;
  /* 2002-01-01T00:00:00Z */
  int64_t base = 1009843200;
  int64_t whole = (int64_t)sec;
  /* parse the fraction from text so no float rounding creeps in */
  const char *dot = strchr(hms, '.');
  int64_t frac = 0, scale = 1000000000;
  if (dot) {
    for (const char *q = dot + 1; *q >= '0' && *q <= '9' && scale > 1; q++) {
      scale /= 10;
      frac += (*q - '0') * scale;
    }
  }
  return (base + h * 3600 + m * 60 + whole) * 1000000000LL + frac;
}

FILE *tt_pcap_create(const char *path, uint32_t linktype, uint32_t snaplen) {
  FILE *f = fopen(path, "wb");
  if (!f)
    return NULL;
  uint32_t hdr[6] = {0xa1b2c3d4, 0x00040002, 0, 0, snaplen, linktype};
  fwrite(hdr, sizeof hdr, 1, f);
  return f;
}

void tt_pcap_write(FILE *f, int64_t ts_ns, const uint8_t *data, uint32_t caplen,
                   uint32_t wirelen) {
  uint32_t rec[4] = {(uint32_t)(ts_ns / 1000000000),
                     (uint32_t)((ts_ns % 1000000000) / 1000), caplen, wirelen};
  fwrite(rec, sizeof rec, 1, f);
  fwrite(data, 1, caplen, f);
}

char *tt_tmpfile(const char *suffix) {
  static unsigned counter;
  char *p = malloc(256);
  snprintf(p, 256, "/tmp/tcpaudit-test-%d-%u%s", (int)getpid(), counter++,
           suffix ? suffix : "");
  return p;
}

char *tt_slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 4096, n = 0;
  char *buf = malloc(cap);
  size_t r;
  while ((r = fread(buf + n, 1, cap - n - 1, f)) > 0) {
    n += r;
    if (cap - n - 1 == 0)
      buf = realloc(buf, cap *= 2);
  }
  fclose(f);
  buf[n] = 0;
  if (len)
    *len = n;
  return buf;
}

bool tt_dir_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

#define TT_MAX_DEPTH 8 /* directory levels walked for captures */

static bool is_capture(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return false;
  uint8_t m[4] = {0};
  size_t n = fread(m, 1, 4, f);
  fclose(f);
  if (n < 4)
    return false;
  uint32_t le = (uint32_t)m[0] | (uint32_t)m[1] << 8 | (uint32_t)m[2] << 16 |
                (uint32_t)m[3] << 24;
  return le == 0xa1b2c3d4u || le == 0xd4c3b2a1u || le == 0xa1b23c4du ||
         le == 0x4d3cb2a1u || le == 0x0a0d0d0au ||
         (m[0] == 0x1f && m[1] == 0x8b) ||                    /* gzip */
         (m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd);
}

static void walk(const char *dir, int depth, char **paths, size_t max,
                 size_t *n) {
  DIR *d = opendir(dir);
  if (!d || depth > TT_MAX_DEPTH) {
    if (d)
      closedir(d);
    return;
  }
  struct dirent *e;
  while ((e = readdir(d)) && *n < max) {
    if (e->d_name[0] == '.')
      continue;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    struct stat st;
    if (stat(path, &st) != 0)
      continue;
    if (S_ISDIR(st.st_mode))
      walk(path, depth + 1, paths, max, n);
    else if (S_ISREG(st.st_mode) && is_capture(path))
      paths[(*n)++] = strdup(path);
  }
  closedir(d);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

size_t tt_find_captures(const char *dir, char **paths, size_t max) {
  size_t n = 0;
  walk(dir, 0, paths, max, &n);
  qsort(paths, n, sizeof *paths, cmp_str);
  return n;
}

void tt_captures_free(char **paths, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(paths[i]);
}

int tt_run_cli(const char *args, char **out, char **err) {
  char *o = tt_tmpfile(".out"), *e = tt_tmpfile(".err");
  size_t len = strlen(args) + strlen(TA_BINARY) + 600;
  char *cmd = malloc(len);
  snprintf(cmd, len, "%s %s >%s 2>%s </dev/null", TA_BINARY, args, o, e);
  int st = system(cmd);
  free(cmd);
  if (out)
    *out = tt_slurp(o, NULL);
  if (err)
    *err = tt_slurp(e, NULL);
  unlink(o);
  unlink(e);
  free(o);
  free(e);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* A pcapng file with a section comment and one interface's name and
 * description (all text the file makes up), holding a refused attempt. */
static void le16f(FILE *f, uint16_t v) {
  uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
  fwrite(b, 1, 2, f);
}
static void le32f(FILE *f, uint32_t v) {
  uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16),
                  (uint8_t)(v >> 24)};
  fwrite(b, 1, 4, f);
}
static uint32_t pad4(size_t n) { return (uint32_t)((n + 3) & ~(size_t)3); }
static void text_option(FILE *f, uint16_t code, const char *text) {
  static const uint8_t zero[4];
  size_t n = strlen(text);
  le16f(f, code);
  le16f(f, (uint16_t)n);
  fwrite(text, 1, n, f);
  fwrite(zero, 1, pad4(n) - n, f);
}
bool tt_write_pcapng_refused(const char *path, const char *comment,
                             const char *if_name, const char *if_desc) {
  FILE *f = fopen(path, "wb");
  if (!f)
    return false;
  uint32_t len = 28 + 4 + pad4(strlen(comment)) + 4;
  le32f(f, 0x0A0D0D0A); /* section header */
  le32f(f, len);
  le32f(f, 0x1A2B3C4D);
  le16f(f, 1);
  le16f(f, 0);
  le32f(f, 0xFFFFFFFF);
  le32f(f, 0xFFFFFFFF);
  text_option(f, 1, comment);
  le32f(f, 0); /* end of options */
  le32f(f, len);
  len = 20 + 4 + pad4(strlen(if_name)) + 4 + pad4(strlen(if_desc)) + 4;
  le32f(f, 1); /* interface: Ethernet */
  le32f(f, len);
  le16f(f, 1);
  le16f(f, 0);
  le32f(f, 65535);
  text_option(f, 2, if_name);
  text_option(f, 3, if_desc);
  le32f(f, 0);
  le32f(f, len);
  struct tt_seg segs[2] = {
      {.src = "192.0.2.1", .dst = "192.0.2.2", .sport = 40000, .dport = 23,
       .seq = 1000, .flags = TA_TCP_SYN, .win = 1024},
      {.src = "192.0.2.2", .dst = "192.0.2.1", .sport = 23, .dport = 40000,
       .ack = 1001, .flags = TA_TCP_RST | TA_TCP_ACK}};
  uint64_t us = (uint64_t)tt_clock_ns("08:00:00.000000") / 1000;
  for (int i = 0; i < 2; i++, us += 30) {
    uint8_t pkt[128];
    static const uint8_t zero[4];
    uint32_t n = (uint32_t)tt_build_eth(pkt, sizeof pkt, &segs[i]);
    len = 32 + pad4(n);
    le32f(f, 6); /* enhanced packet */
    le32f(f, len);
    le32f(f, 0);
    le32f(f, (uint32_t)(us >> 32));
    le32f(f, (uint32_t)us);
    le32f(f, n);
    le32f(f, n);
    fwrite(pkt, 1, n, f);
    fwrite(zero, 1, pad4(n) - n, f);
    le32f(f, len);
  }
  return fclose(f) == 0;
}

char *tt_report(const struct ta_config *base, const char *fmt, int *rc) {
  struct ta_config cfg = *base;
  cfg.reporter = ta_reporter_find(fmt);
  if (!cfg.reporter)
    return NULL;
  struct ta_sink sink;
  ta_sink_init_mem(&sink);
  cfg.out = &sink;
  struct ta_result res;
  char err[256];
  *rc = ta_analyze(&cfg, &res, err, sizeof err);
  char *out = strdup(ta_sink_mem(&sink, NULL));
  ta_result_free(&res);
  ta_sink_close(&sink);
  return out;
}

void tt_varied_layout(struct ta_tcp_options *o, unsigned i) {
  static const struct {
    uint8_t n;
    uint8_t kind[TA_MAX_OPT_LAYOUT];
  } layouts[TT_VARIED_LAYOUTS] = {
      {0, {0}},
      {1, {2}},
      {2, {2, 0}},
      {5, {2, 4, 8, 1, 3}},
      {5, {2, 4, 8, 1, 1}},
      {6, {2, 1, 3, 1, 1, 4}},
      {16, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1}},
      {16, {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3, 1, 1, 1}},
  };
  o->n_layout = layouts[i % TT_VARIED_LAYOUTS].n;
  memcpy(o->layout, layouts[i % TT_VARIED_LAYOUTS].kind, TA_MAX_OPT_LAYOUT);
}
