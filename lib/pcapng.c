/* tcpaudit - reader: our own pcapng block reader.
 * Exists because libpcap 1.10 stops at the first interface whose link type
 * differs from the first one. Reads SHB, IDB, EPB, SPB and the obsolete PB;
 * skips every other block; checks every length against the block it is in. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ta_error.h"
#include "ta_limits.h"
#include "ta_reader.h"

#define BT_SHB 0x0A0D0D0Au
#define BT_IDB 1u
#define BT_PB 2u
#define BT_SPB 3u
#define BT_EPB 6u
#define BOM 0x1A2B3C4Du
#define OPT_COMMENT 1u
#define OPT_IF_NAME 2u
#define OPT_IF_DESCRIPTION 3u
#define OPT_IF_TSRESOL 9u
#define OPT_IF_TSOFFSET 14u
#define MAX_OPTIONS 1024 /* options read in one block */

struct iface {
  uint32_t linktype, snaplen;
  uint64_t units;   /* timestamp units per second */
  int64_t offset_s; /* if_tsoffset */
  int digits;       /* decimal digits the resolution carries */
};

struct ta__pcapng {
  FILE *fp;
  bool swap;        /* section is big-endian */
  bool in_section;
  uint8_t *body;
  size_t body_cap;
  struct iface ifaces[TA_MAX_PCAPNG_IFACES];
  uint32_t n_ifaces;
  uint64_t unknown_blocks;
  uint64_t oversized; /* packets longer than their interface's snaplen */
  char comment[TA_MAX_PCAPNG_TEXT]; /* first section comment found */
  struct ta_iface_text text[TA_MAX_INPUT_IFACES];
  uint32_t n_declared; /* interfaces declared over all sections */
};

static uint32_t rd32(const struct ta__pcapng *r, const uint8_t *p) {
  uint32_t le = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                (uint32_t)p[3] << 24;
  uint32_t be = (uint32_t)p[3] | (uint32_t)p[2] << 8 | (uint32_t)p[1] << 16 |
                (uint32_t)p[0] << 24;
  /* swap means the section was written big-endian (found from its BOM) */
  return r->swap ? be : le;
}

static uint16_t rd16(const struct ta__pcapng *r, const uint8_t *p) {
  return r->swap ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[1] << 8 | p[0]);
}

/* Reads exactly n bytes: 1 done, 0 clean EOF before any byte, -1 short. */
static int read_exact(FILE *fp, void *buf, size_t n) {
  size_t got = fread(buf, 1, n, fp);
  if (got == n)
    return 1;
  return got == 0 && !ferror(fp) ? 0 : -1;
}

static int truncated(char *err, size_t len, const char *what) {
  return ta__fail(err, len, TA_ETRUNC, "pcapng file is cut short in %s", what);
}

static int corrupt(char *err, size_t len, const char *what, uint32_t v) {
  return ta__fail(err, len, TA_ECORRUPT, "pcapng %s (%u)", what, v);
}

static int ensure_body(struct ta__pcapng *r, size_t n) {
  if (n <= r->body_cap)
    return 0;
  uint8_t *b = realloc(r->body, n);
  if (!b)
    return TA_ENOMEM;
  r->body = b;
  r->body_cap = n;
  return 0;
}

static void iface_defaults(struct iface *ifc) {
  ifc->units = 1000000;
  ifc->digits = 6;
  ifc->offset_s = 0;
}

static void parse_tsresol(struct iface *ifc, uint8_t v) {
  uint8_t e = v & 0x7f;
  if (v & 0x80) { /* power of two */
    if (e > 62)
      return;
    ifc->units = 1ull << e;
    ifc->digits = e >= 30 ? 9 : e >= 20 ? 6 : 3;
  } else {
    if (e > 18)
      return;
    uint64_t u = 1;
    for (uint8_t i = 0; i < e; i++)
      u *= 10;
    ifc->units = u;
    ifc->digits = e > 9 ? 9 : e;
  }
}

/* Copies option text (UTF-8, not NUL-terminated) into dst, cut to fit and
 * at any NUL. */
static void copy_text(char *dst, size_t cap, const uint8_t *v, size_t n) {
  size_t k = 0;
  while (k < n && k + 1 < cap && v[k])
    dst[k] = (char)v[k], k++;
  dst[k] = 0;
}

/* Walks an options area, calling fn for each well-formed option. */
static void walk_options(struct ta__pcapng *r, const uint8_t *p, size_t len,
                         void (*fn)(struct ta__pcapng *r, void *ctx,
                                    uint16_t code, const uint8_t *v,
                                    uint16_t n),
                         void *ctx) {
  size_t off = 0;
  for (int i = 0; i < MAX_OPTIONS && off + 4 <= len; i++) {
    uint16_t code = rd16(r, p + off), olen = rd16(r, p + off + 2);
    off += 4;
    if (code == 0 || olen > len - off)
      return;
    fn(r, ctx, code, p + off, olen);
    off += (olen + 3u) & ~3u;
  }
}

/* The IDB options we use; ctx is the interface's slot for its text, or
 * NULL past TA_MAX_INPUT_IFACES. */
struct idb_ctx {
  struct iface *ifc;
  struct ta_iface_text *text;
};

static void idb_option(struct ta__pcapng *r, void *ctx, uint16_t code,
                       const uint8_t *v, uint16_t n) {
  struct idb_ctx *c = ctx;
  if (code == OPT_IF_TSRESOL && n >= 1)
    parse_tsresol(c->ifc, v[0]);
  else if (code == OPT_IF_TSOFFSET && n >= 8) {
    uint64_t lo = rd32(r, v), hi = rd32(r, v + 4);
    int64_t off = (int64_t)(r->swap ? (lo << 32 | hi) : (hi << 32 | lo));
    if (off > -(1LL << 40) && off < (1LL << 40))
      c->ifc->offset_s = off;
  } else if (code == OPT_IF_NAME && c->text && !c->text->name[0])
    copy_text(c->text->name, sizeof c->text->name, v, n);
  else if (code == OPT_IF_DESCRIPTION && c->text && !c->text->description[0])
    copy_text(c->text->description, sizeof c->text->description, v, n);
}

static void shb_option(struct ta__pcapng *r, void *ctx, uint16_t code,
                       const uint8_t *v, uint16_t n) {
  (void)ctx;
  if (code == OPT_COMMENT && !r->comment[0])
    copy_text(r->comment, sizeof r->comment, v, n);
}

static int on_shb(struct ta__pcapng *r, const uint8_t *body, size_t len,
                  char *err, size_t errlen) {
  if (len < 16)
    return corrupt(err, errlen, "section header too short", (uint32_t)len);
  uint16_t major = rd16(r, body + 4);
  if (major != 1)
    return corrupt(err, errlen, "unsupported section version", major);
  r->n_ifaces = 0;
  r->in_section = true;
  walk_options(r, body + 16, len - 16, shb_option, NULL);
  return 0;
}

static int on_idb(struct ta__pcapng *r, const uint8_t *body, size_t len,
                  char *err, size_t errlen) {
  if (len < 8)
    return corrupt(err, errlen, "interface block too short", (uint32_t)len);
  if (r->n_ifaces >= TA_MAX_PCAPNG_IFACES)
    return corrupt(err, errlen, "too many interfaces", r->n_ifaces);
  struct iface *ifc = &r->ifaces[r->n_ifaces++];
  iface_defaults(ifc);
  ifc->linktype = rd16(r, body);
  ifc->snaplen = rd32(r, body + 4);
  struct idb_ctx c = {ifc, r->n_declared < TA_MAX_INPUT_IFACES
                               ? &r->text[r->n_declared]
                               : NULL};
  r->n_declared++;
  walk_options(r, body + 8, len - 8, idb_option, &c);
  return 0;
}

/* Seconds either side of the epoch a timestamp may reach once if_tsoffset
 * is applied: just under 2^62 ns (the year 2116), so that every time, and
 * the difference of any two, fits int64_t nanoseconds. */
#define TS_MAX_SECONDS 4611686017LL

static int64_t to_ns(const struct iface *ifc, uint64_t t) {
  uint64_t sec = t / ifc->units, rem = t % ifc->units;
  /* rem < units <= 2^62; scale without overflow via long double */
  uint64_t frac = (uint64_t)((long double)rem * 1e9L / (long double)ifc->units);
  /* |offset_s| < 2^40, so the sum cannot overflow before it is clamped */
  int64_t s = sec > (uint64_t)TS_MAX_SECONDS ? TS_MAX_SECONDS : (int64_t)sec;
  s += ifc->offset_s;
  if (s > TS_MAX_SECONDS)
    s = TS_MAX_SECONDS;
  else if (s < -TS_MAX_SECONDS)
    s = -TS_MAX_SECONDS;
  return s * 1000000000LL + (int64_t)frac;
}

/* Fills a frame from a packet body; the interface must exist. */
static int frame_from(struct ta__pcapng *r, struct ta_frame *f, uint32_t ifid,
                      uint64_t ts, uint32_t caplen, uint32_t wirelen,
                      const uint8_t *data, size_t avail, char *err,
                      size_t errlen) {
  if (caplen > avail)
    return corrupt(err, errlen, "packet longer than its block", caplen);
  memset(f, 0, sizeof *f);
  f->caplen = caplen;
  f->wirelen = wirelen < caplen ? caplen : wirelen;
  f->data = data;
  if (ifid >= r->n_ifaces) {
    f->bad_interface = true;
    f->linktype = UINT32_MAX;
    return 1;
  }
  const struct iface *ifc = &r->ifaces[ifid];
  if (ifc->snaplen && caplen > ifc->snaplen)
    r->oversized++;
  f->linktype = ifc->linktype;
  f->ts_ns = to_ns(ifc, ts);
  return 1;
}

static int on_packet(struct ta__pcapng *r, uint32_t type, const uint8_t *b,
                     size_t len, struct ta_frame *f, char *err, size_t errlen) {
  if (type == BT_EPB) {
    if (len < 20)
      return corrupt(err, errlen, "packet block too short", (uint32_t)len);
    uint64_t ts = (uint64_t)rd32(r, b + 4) << 32 | rd32(r, b + 8);
    return frame_from(r, f, rd32(r, b), ts, rd32(r, b + 12), rd32(r, b + 16),
                      b + 20, len - 20, err, errlen);
  }
  if (type == BT_PB) {
    if (len < 20)
      return corrupt(err, errlen, "packet block too short", (uint32_t)len);
    uint64_t ts = (uint64_t)rd32(r, b + 4) << 32 | rd32(r, b + 8);
    return frame_from(r, f, rd16(r, b), ts, rd32(r, b + 12), rd32(r, b + 16),
                      b + 20, len - 20, err, errlen);
  }
  /* simple packet block: interface 0, no timestamp */
  if (len < 4)
    return corrupt(err, errlen, "simple packet block too short", (uint32_t)len);
  uint32_t wire = rd32(r, b);
  uint32_t cap = wire;
  if (r->n_ifaces && r->ifaces[0].snaplen && cap > r->ifaces[0].snaplen)
    cap = r->ifaces[0].snaplen;
  if (cap > len - 4)
    cap = (uint32_t)(len - 4);
  return frame_from(r, f, 0, 0, cap, wire, b + 4, len - 4, err, errlen);
}

/* Reads the 8-byte block head; handles the byte-order switch at an SHB. */
static int read_head(struct ta__pcapng *r, uint32_t *type, uint32_t *total,
                     char *err, size_t errlen) {
  uint8_t h[12];
  int rc = read_exact(r->fp, h, 8);
  if (rc == 0)
    return 0;
  if (rc < 0)
    return truncated(err, errlen, "a block header");
  if (memcmp(h, "\x0a\x0d\x0d\x0a", 4) == 0) {
    if (read_exact(r->fp, h + 8, 4) != 1)
      return truncated(err, errlen, "a section header");
    uint32_t bom_le = (uint32_t)h[8] | (uint32_t)h[9] << 8 |
                      (uint32_t)h[10] << 16 | (uint32_t)h[11] << 24;
    if (bom_le == BOM)
      r->swap = false;
    else if (bom_le == 0x4D3C2B1Au)
      r->swap = true;
    else
      return corrupt(err, errlen, "section header byte-order magic", bom_le);
    *type = BT_SHB;
    *total = rd32(r, h + 4);
    return 2; /* SHB: 4 body bytes already consumed */
  }
  if (!r->in_section)
    return ta__fail(err, errlen, TA_ECORRUPT, "pcapng file does not start "
                    "with a section header");
  *type = rd32(r, h);
  *total = rd32(r, h + 4);
  return 1;
}

int ta__pcapng_next(struct ta__pcapng *r, struct ta_frame *f, char *err,
                    size_t errlen) {
  for (;;) {
    uint32_t type = 0, total = 0;
    int head = read_head(r, &type, &total, err, errlen);
    if (head <= 0)
      return head;
    size_t pre = head == 2 ? 12 : 8;
    if (total < pre + 4 || total % 4 != 0 || total > TA_MAX_PCAPNG_BLOCK)
      return corrupt(err, errlen, "block length is invalid", total);
    size_t body_len = total - pre - 4;
    if (ensure_body(r, body_len + 4 + 4) != 0)
      return ta__fail(err, errlen, TA_ENOMEM, "out of memory");
    uint8_t *body = r->body + 4; /* room to put the BOM back for an SHB */
    if (read_exact(r->fp, body, body_len + 4) != 1)
      return truncated(err, errlen, "a block body");
    if (rd32(r, body + body_len) != total)
      return corrupt(err, errlen, "trailing block length differs", total);
    int rc = 0;
    if (type == BT_SHB) {
      memcpy(r->body, "\x4d\x3c\x2b\x1a", 4);
      rc = on_shb(r, r->body, body_len + 4, err, errlen);
    } else if (type == BT_IDB)
      rc = on_idb(r, body, body_len, err, errlen);
    else if (type == BT_EPB || type == BT_PB || type == BT_SPB)
      return on_packet(r, type, body, body_len, f, err, errlen);
    else
      r->unknown_blocks++;
    if (rc < 0)
      return rc;
  }
}

int ta__pcapng_open(FILE *fp, struct ta__pcapng **out, char *err,
                    size_t errlen) {
  struct ta__pcapng *r = calloc(1, sizeof *r);
  if (!r)
    return ta__fail(err, errlen, TA_ENOMEM, "out of memory");
  r->fp = fp;
  *out = r;
  return 0;
}

uint32_t ta__pcapng_iface_count(const struct ta__pcapng *r) {
  return r->n_ifaces;
}

void ta__pcapng_iface(const struct ta__pcapng *r, uint32_t i, uint32_t *linktype,
                      uint32_t *snaplen, int *digits) {
  *linktype = r->ifaces[i].linktype;
  *snaplen = r->ifaces[i].snaplen;
  *digits = r->ifaces[i].digits;
}

uint64_t ta__pcapng_unknown_blocks(const struct ta__pcapng *r) {
  return r->unknown_blocks;
}

uint64_t ta__pcapng_oversized(const struct ta__pcapng *r) {
  return r->oversized;
}

const char *ta__pcapng_comment(const struct ta__pcapng *r) {
  return r->comment;
}

uint32_t ta__pcapng_declared(const struct ta__pcapng *r) {
  return r->n_declared;
}

const struct ta_iface_text *ta__pcapng_iface_text(const struct ta__pcapng *r,
                                                  uint32_t i) {
  return i < TA_MAX_INPUT_IFACES ? &r->text[i] : NULL;
}

void ta__pcapng_close(struct ta__pcapng *r) {
  if (!r)
    return;
  free(r->body);
  free(r);
}
