/* tcpaudit - reader: our own classic pcap record reader.
 * Exists for speed: libpcap's pcap_next_ex reads each record with two
 * fread() calls through stdio and copies the packet into its own buffer,
 * which costs more than the rest of a packet's analysis. This reader maps
 * an uncompressed file a window at a time (no copy at all: the kernel's
 * copy into a buffer was a fifth of the time on long transfers), or takes
 * large blocks from any other source into one buffer, and hands out frames
 * that point into the window or buffer. It takes only the plain format (magic a1b2c3d4 or
 * a1b23c4d in either byte order, version 2.4, a link type that libpcap
 * passes through unchanged); any other header is left to libpcap, which
 * then sees the stream untouched. What it hands out is what libpcap would:
 * the same timestamps, lengths and cut to the snaplen. */
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ta_error.h"
#include "ta_limits.h"
#include "ta_packet.h"
#include "ta_reader.h"
#include "ta_source.h"

#define FILE_HDR 24u
#define REC_HDR 16u
#define MAGIC_US 0xa1b2c3d4u
#define MAGIC_NS 0xa1b23c4du
/* Large enough that a read() moves much data per call, and that a record
 * straddling the end (moved to the front) is rare; a record never exceeds
 * it (REC_HDR + TA_MAX_CAPLEN), so it does not grow on real files. */
#define DEFAULT_BUF (1024u * 1024u)
/* A mapped window: what the process holds of the file at once (it counts
 * in its resident memory). Remapping every 2 MiB costs nothing measurable
 * (about 500 mmap calls a gigabyte) and holds 6 MiB less than 8 MiB did. */
#define DEFAULT_WINDOW (2u * 1024u * 1024u)
#define PREFETCH_AHEAD 4096u
/* libpcap's limit on a record (its MAXIMUM_SNAPLEN) is ours as well, so a
 * record either reader refuses, the other refuses too. */
_Static_assert(TA_MAX_CAPLEN == 262144u,
               "libpcap refuses records past 256 KiB");

struct ta__pcapfile {
  struct ta_source *src;
  uint8_t *buf;
  size_t cap;      /* size of buf; of a mapped window, its usual size */
  size_t pos, len; /* unread bytes are buf[pos, len) */
  int fd;          /* mapped: the file, else -1 */
  uint64_t win_off; /* mapped: file offset of buf[0] */
  uint64_t fsize;   /* mapped: file size when opened */
  bool eof;        /* the source said end of stream */
  bool swap;       /* written in the other byte order */
  bool nano;       /* sub-second field counts nanoseconds */
  uint32_t linktype, snaplen;
  uint64_t records; /* records handed out, for messages */
  size_t ahead;     /* buf[.., ahead) has been prefetched */
};

static uint32_t rd32(const uint8_t *p, bool swap) {
  uint32_t v;
  memcpy(&v, p, sizeof v);
  return swap ? __builtin_bswap32(v) : v;
}

static uint16_t rd16(const uint8_t *p, bool swap) {
  uint16_t v;
  memcpy(&v, p, sizeof v);
  return swap ? __builtin_bswap16(v) : v;
}

/* A time field as libpcap 1.10 reads it, so that reports do not depend on
 * which reader read the file: signed in the host's byte order, unsigned
 * when swapped. Only damaged files (before 1970, or sub-second fields of
 * 2^31 or more) tell the difference. */
static int64_t ts_field(const uint8_t *p, bool swap) {
  uint32_t v = rd32(p, swap);
  return swap ? (int64_t)v : (int64_t)(int32_t)v;
}

/* Link types that libpcap hands back as they are in the file (so frames
 * carry the same value either way) and that need no pseudo-header fix-ups.
 * LINKTYPE_RAW (101) becomes DLT_RAW (12) there, which the reader maps back. */
static bool plain_linktype(uint32_t lt) {
  switch (lt) {
  case TA_LINK_NULL:
  case TA_LINK_ETHERNET:
  case TA_LINK_RAW:
  case TA_LINK_LOOP:
  case TA_LINK_SLL:
  case TA_LINK_IPV4:
  case TA_LINK_IPV6:
  case TA_LINK_SLL2:
    return true;
  default:
    return false;
  }
}

/* Reads the file header; false when it is one to leave to libpcap. */
static bool parse_header(struct ta__pcapfile *r, const uint8_t *h) {
  uint32_t m = rd32(h, false);
  if (m == MAGIC_US || m == MAGIC_NS)
    r->swap = false;
  else if (m == __builtin_bswap32(MAGIC_US) || m == __builtin_bswap32(MAGIC_NS))
    r->swap = true;
  else
    return false;
  r->nano = rd32(h, r->swap) == MAGIC_NS;
  /* 2.4 is what every writer since 1998 uses; older ones may have the
   * length fields swapped, which libpcap knows how to guess */
  if (rd16(h + 4, r->swap) != 2 || rd16(h + 6, r->swap) != 4)
    return false;
  r->linktype = rd32(h + 20, r->swap);
  if (!plain_linktype(r->linktype))
    return false;
  /* as libpcap reads it (a signed int): 0 or negative means "any"; a
   * larger one is kept as written, for the report, while records are
   * still held to TA_MAX_CAPLEN */
  r->snaplen = rd32(h + 16, r->swap);
  if (r->snaplen == 0 || r->snaplen > INT32_MAX)
    r->snaplen = TA_MAX_CAPLEN;
  return true;
}

/* Makes the buffer hold at least n bytes; 0 or TA_ENOMEM. */
static int grow(struct ta__pcapfile *r, size_t n) {
  if (n <= r->cap)
    return 0;
  size_t cap = r->cap * 2 > n ? r->cap * 2 : n;
  uint8_t *b = realloc(r->buf, cap);
  if (!b)
    return TA_ENOMEM;
  r->buf = b;
  r->cap = cap;
  return 0;
}

/* Maps the window that starts at the page holding the first unread byte
 * and holds at least n bytes, or up to the end of the file. A file that
 * shrank since it was opened is mapped only as far as it now goes (it then
 * reads as truncated), so no access falls past its end. */
static long remap(struct ta__pcapfile *r, size_t n, char *err, size_t errlen) {
  uint64_t at = r->win_off + r->pos;
  uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
  uint64_t start = at - at % page;
  uint64_t want = at - start + n > r->cap ? at - start + n : r->cap;
  uint64_t end = r->fsize;
  struct stat st;
  if (fstat(r->fd, &st) == 0 && (uint64_t)st.st_size < end)
    end = (uint64_t)st.st_size;
  if (start >= end) {
    r->eof = true;
    return 0;
  }
  if (want > end - start)
    want = end - start;
  if (r->buf)
    munmap(r->buf, r->len);
  r->buf = NULL;
  /* populated at once: one call maps the window's pages, where touching
   * them one by one took a fault every 16 pages (about 10% of the run on
   * packet-heavy captures) */
  void *m = mmap(NULL, (size_t)want, PROT_READ, MAP_PRIVATE | MAP_POPULATE,
                 r->fd, (off_t)start);
  if (m == MAP_FAILED) {
    r->len = r->pos = 0;
    return ta__fail(err, errlen, TA_EIO, "cannot map the capture file");
  }
  madvise(m, (size_t)want, MADV_SEQUENTIAL);
  r->buf = m;
  r->win_off = start;
  r->pos = (size_t)(at - start);
  r->ahead = 0;
  r->len = (size_t)want;
  r->eof = start + want >= end;
  return (long)(r->len - r->pos);
}

/* Makes n unread bytes available unless the stream ends first: moves the
 * unread tail (a record straddling the end) to the front, grows the buffer
 * for a record larger than it, and reads as much as fits (or maps the next
 * window). Returns the bytes available (fewer than n only at the end of the
 * stream), or a negative TA_E* code with err filled. Out of line: it runs
 * once a buffer. */
__attribute__((noinline)) static long fill(struct ta__pcapfile *r, size_t n,
                                           char *err, size_t errlen) {
  size_t avail = r->len - r->pos;
  if (avail >= n || r->eof)
    return (long)avail;
  if (r->fd >= 0)
    return remap(r, n, err, errlen);
  if (grow(r, n) < 0)
    return ta__fail(err, errlen, TA_ENOMEM, "out of memory");
  memmove(r->buf, r->buf + r->pos, avail);
  r->pos = 0;
  r->ahead = 0;
  r->len = avail;
  while (r->len < n) {
    long k = ta_source_read(r->src, r->buf + r->len, r->cap - r->len);
    if (k < 0) {
      const char *why = ta_source_error(r->src);
      return ta__fail(err, errlen, TA_ECORRUPT, "%s", why ? why : "read error");
    }
    if (k == 0) {
      r->eof = true;
      break;
    }
    r->len += (size_t)k;
  }
  return (long)r->len;
}

/* Sets r up to map its file; false when it cannot be mapped. */
static bool map_file(struct ta__pcapfile *r, size_t bufsize) {
  int fd = ta_source_plain_fd(r->src);
  uint64_t size = ta_source_size(r->src);
  if (fd < 0 || size < FILE_HDR)
    return false;
  r->fd = fd;
  r->fsize = size;
  r->cap = bufsize ? bufsize : DEFAULT_WINDOW;
  return true;
}

int ta__pcapfile_open(struct ta_source *src, size_t bufsize, bool map,
                      struct ta__pcapfile **out, char *err, size_t errlen) {
  *out = NULL;
  uint8_t h[FILE_HDR];
  struct ta__pcapfile probe = {.src = src};
  /* a short or failing peek is libpcap's to report, as any odd header */
  if (ta_source_peek(src, h, FILE_HDR) != (long)FILE_HDR ||
      !parse_header(&probe, h))
    return 0;
  struct ta__pcapfile *r = malloc(sizeof *r);
  if (!r)
    return ta__fail(err, errlen, TA_ENOMEM, "out of memory");
  *r = probe;
  r->fd = -1;
  if (!map || !map_file(r, bufsize)) {
    r->cap = bufsize ? bufsize : DEFAULT_BUF;
    if (!(r->buf = malloc(r->cap))) {
      free(r);
      return ta__fail(err, errlen, TA_ENOMEM, "out of memory");
    }
  }
  long got = fill(r, FILE_HDR, err, errlen);
  if (got < (long)FILE_HDR) { /* the peek saw them: only an error is left */
    ta__pcapfile_close(r);
    return got < 0 ? (int)got
                   : ta__fail(err, errlen, TA_EIO, "file header unreadable");
  }
  r->pos = FILE_HDR;
  *out = r;
  return 0;
}

/* Error paths are kept out of line so the per-record path stays short. */
__attribute__((cold, noinline)) static int
cut_short(struct ta__pcapfile *r, const char *part, size_t need, long got,
          char *err, size_t errlen) {
  return ta__fail(err, errlen, TA_ETRUNC,
                  "pcap file is truncated in record %llu: its %s needs %zu "
                  "bytes, only %ld are left",
                  (unsigned long long)r->records + 1, part, need, got);
}

__attribute__((cold, noinline)) static int
too_long(struct ta__pcapfile *r, uint32_t caplen, char *err, size_t errlen) {
  return ta__fail(err, errlen, TA_ECORRUPT,
                  "pcap record %llu claims %u captured bytes, more than "
                  "the %u accepted",
                  (unsigned long long)r->records + 1, caplen, TA_MAX_CAPLEN);
}

/* The frame of the record at h, whose caplen bytes are all in the buffer,
 * as libpcap would hand it out, keeping its first keep bytes (see
 * kept_bytes). */
static inline void take_record(const uint8_t *h, uint32_t keep,
                               uint32_t linktype, bool swap, bool nano,
                               struct ta_frame *f) {
  int64_t sec = ts_field(h, swap);
  int64_t sub = ts_field(h + 4, swap);
  uint32_t wire = rd32(h + 12, swap);
  f->ts_ns = sec * 1000000000LL + (nano ? sub : sub * 1000);
  f->caplen = keep;
  f->wirelen = wire < keep ? keep : wire;
  f->linktype = linktype;
  f->data = h + REC_HDR;
  f->filtered_out = false;
  f->bad_interface = false;
}

/* The bytes of a record of caplen kept for a file of the given snaplen:
 * libpcap cuts one that claims more to the snaplen, which is counted in
 * *oversized. */
static inline uint32_t kept_bytes(uint32_t caplen, uint32_t snaplen,
                                  uint64_t *oversized) {
  if (caplen <= snaplen)
    return caplen;
  ++*oversized;
  return snaplen;
}

/* Lines asked for at once ahead of the records: one test per record, and
 * a run of prefetches every few, where a test per line cost more than the
 * prefetches. The runs may reach up to PREFETCH_AHEAD and a chunk past the
 * end of the buffer, which is harmless: a prefetch never faults. */
#define PREFETCH_CHUNK 512u

static inline __attribute__((always_inline)) void
prefetch_chunk(const uint8_t *p) {
  _Static_assert(PREFETCH_CHUNK == 8 * 64, "one prefetch per line below");
  __builtin_prefetch(p);
  __builtin_prefetch(p + 64);
  __builtin_prefetch(p + 128);
  __builtin_prefetch(p + 192);
  __builtin_prefetch(p + 256);
  __builtin_prefetch(p + 320);
  __builtin_prefetch(p + 384);
  __builtin_prefetch(p + 448);
}

/* Takes up to max records that are wholly in the buffer already, stopping
 * before any that needs a fill or is refused (the general path's to
 * report): returns how many. swap and nano are constants in each copy.
 * A record within both the file's snaplen and TA_MAX_CAPLEN passes one
 * test; one past the snaplen only is cut to it here. */
static inline size_t take_buffered(struct ta__pcapfile *r, struct ta_frame *f,
                                   size_t max, uint64_t *oversized, bool swap,
                                   bool nano) {
  const uint8_t *buf = r->buf;
  size_t pos = r->pos, len = r->len, n = 0;
  uint32_t snaplen = r->snaplen, linktype = r->linktype;
  uint32_t limit = snaplen < TA_MAX_CAPLEN ? snaplen : TA_MAX_CAPLEN;
  size_t ahead = r->ahead > pos ? r->ahead : pos;
  while (n < max && len - pos >= REC_HDR) {
    const uint8_t *h = buf + pos;
    /* Each header says where the next one is, so reading them is a chain
     * of dependent misses; the lines a little ahead are asked for now. */
    while (ahead < pos + PREFETCH_AHEAD) {
      prefetch_chunk(buf + ahead);
      ahead += PREFETCH_CHUNK;
    }
    uint32_t caplen = rd32(h + 8, swap), keep = caplen;
    if (caplen > limit || len - pos - REC_HDR < caplen) {
      if (caplen > TA_MAX_CAPLEN || len - pos - REC_HDR < caplen)
        break;
      keep = kept_bytes(caplen, snaplen, oversized);
    }
    take_record(h, keep, linktype, swap, nano, &f[n++]);
    pos += REC_HDR + caplen;
  }
  r->pos = pos;
  r->ahead = ahead;
  r->records += n;
  return n;
}

/* One loop for each byte order and precision, so that neither is tested
 * per field. */
static size_t take_batch(struct ta__pcapfile *r, struct ta_frame *f,
                         size_t max, uint64_t *oversized) {
  if (r->swap)
    return r->nano ? take_buffered(r, f, max, oversized, true, true)
                   : take_buffered(r, f, max, oversized, true, false);
  return r->nano ? take_buffered(r, f, max, oversized, false, true)
                 : take_buffered(r, f, max, oversized, false, false);
}

/* The next record when it is not wholly in the buffer, or is refused:
 * fills the buffer first. Same return convention as ta__pcapfile_next. */
__attribute__((noinline)) static int
next_filled(struct ta__pcapfile *r, struct ta_frame *f, uint64_t *oversized,
            char *err, size_t errlen) {
  long got = (long)(r->len - r->pos);
  if (got < (long)REC_HDR) {
    got = fill(r, REC_HDR, err, errlen);
    if (got <= 0)
      return (int)got; /* clean end, or an error */
    if (got < (long)REC_HDR)
      return cut_short(r, "header", REC_HDR, got, err, errlen);
  }
  const uint8_t *h = r->buf + r->pos;
  uint32_t caplen = rd32(h + 8, r->swap);
  /* libpcap refuses a record past the largest snaplen outright, but cuts
   * one past the file's own snaplen to it and skips the rest */
  if (caplen > TA_MAX_CAPLEN)
    return too_long(r, caplen, err, errlen);
  size_t need = REC_HDR + caplen;
  if ((size_t)got < need) {
    got = fill(r, need, err, errlen);
    if (got < 0)
      return (int)got;
    if ((size_t)got < need)
      return cut_short(r, "data", caplen, got - (long)REC_HDR, err, errlen);
    h = r->buf + r->pos;
  }
  take_record(h, kept_bytes(caplen, r->snaplen, oversized), r->linktype,
              r->swap, r->nano, f);
  r->pos += need;
  r->records++;
  return 1;
}

int ta__pcapfile_batch(struct ta__pcapfile *r, struct ta_frame *f, size_t max,
                       uint64_t *oversized, char *err, size_t errlen) {
  if (max == 0)
    return 0;
  if (max > INT_MAX)
    max = INT_MAX;
  size_t n = take_batch(r, f, max, oversized);
  if (n)
    return (int)n;
  int rc = next_filled(r, f, oversized, err, errlen);
  if (rc <= 0)
    return rc;
  return 1 + (int)take_batch(r, f + 1, max - 1, oversized);
}

int ta__pcapfile_next(struct ta__pcapfile *r, struct ta_frame *f,
                      uint64_t *oversized, char *err, size_t errlen) {
  return ta__pcapfile_batch(r, f, 1, oversized, err, errlen);
}

void ta__pcapfile_info(const struct ta__pcapfile *r, uint32_t *linktype,
                       uint32_t *snaplen, int *digits) {
  *linktype = r->linktype;
  *snaplen = r->snaplen;
  *digits = r->nano ? 9 : 6;
}

uint64_t ta__pcapfile_offset(const struct ta__pcapfile *r) {
  return r->fd >= 0 ? r->win_off + r->pos : 0;
}

void ta__pcapfile_close(struct ta__pcapfile *r) {
  if (!r)
    return;
  if (r->fd >= 0) {
    if (r->buf)
      munmap(r->buf, r->len);
  } else {
    free(r->buf);
  }
  free(r);
}
