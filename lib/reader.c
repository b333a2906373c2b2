/* tcpaudit - reader: opens one capture file and yields its frames.
 * Detects pcap vs pcapng from the (decompressed) magic, reads classic pcap
 * with our record reader (libpcap for variants it leaves alone) and pcapng
 * with our block reader, and applies the BPF filter per link type. Counts
 * what it reads into the input's info record. */
#include <pcap/pcap.h>
#include <stdlib.h>
#include <string.h>

#include "ta_error.h"
#include "ta_reader.h"
#include "ta_source.h"

#define READER_MAX_FILTERS 8

struct filter_prog {
  uint32_t linktype;
  bool ok; /* compiled; when false every frame of this link type is rejected */
  struct bpf_program prog;
};

struct ta_reader {
  struct ta_source *src;
  struct ta__pcapfile *pf;  /* classic pcap, by our reader */
  pcap_t *pcap;             /* classic pcap variants, by libpcap */
  uint32_t pcap_linktype;
  long pcap_pos;            /* stream offset after the last record, or -1 */
  uint32_t snaplen;         /* the file's snaplen, as libpcap applies it */
  uint32_t pcap_rec_hdr;    /* bytes of a record header */
  struct ta__pcapng *ng;    /* pcapng */
  const char *filter;
  struct filter_prog progs[READER_MAX_FILTERS];
  int n_progs;
  int64_t prev_ts;
  bool any;
};

static uint32_t magic_le(const uint8_t *m) {
  return (uint32_t)m[0] | (uint32_t)m[1] << 8 | (uint32_t)m[2] << 16 |
         (uint32_t)m[3] << 24;
}

/* libpcap names DLT_RAW 12 where files say LINKTYPE_RAW 101. */
static int linktype_to_dlt(uint32_t lt) { return lt == 101 ? 12 : (int)lt; }

static void note_linktype(struct ta_input_info *info, uint32_t lt) {
  for (uint8_t i = 0; i < info->n_linktypes; i++)
    if (info->linktypes[i] == lt)
      return;
  if (info->n_linktypes < sizeof info->linktypes / sizeof info->linktypes[0])
    info->linktypes[info->n_linktypes++] = lt;
}

static struct filter_prog *filter_for(struct ta_reader *r, uint32_t lt) {
  for (int i = 0; i < r->n_progs; i++)
    if (r->progs[i].linktype == lt)
      return &r->progs[i];
  if (r->n_progs == READER_MAX_FILTERS)
    return NULL;
  struct filter_prog *fp = &r->progs[r->n_progs++];
  fp->linktype = lt;
  pcap_t *dead = pcap_open_dead(linktype_to_dlt(lt), (int)TA_MAX_CAPLEN);
  fp->ok = dead && pcap_compile(dead, &fp->prog, r->filter, 1,
                                PCAP_NETMASK_UNKNOWN) == 0;
  if (dead)
    pcap_close(dead);
  return fp;
}

static bool filter_rejects(struct ta_reader *r, const struct ta_frame *f) {
  if (!r->filter)
    return false;
  struct filter_prog *fp = filter_for(r, f->linktype);
  if (!fp || !fp->ok)
    return true;
  struct pcap_pkthdr h = {.caplen = f->caplen, .len = f->wirelen};
  return pcap_offline_filter(&fp->prog, &h, f->data) == 0;
}

static int open_pcap(struct ta_reader *r, struct ta_input_info *info,
                     uint32_t magic, char *err, size_t errlen) {
  char ebuf[PCAP_ERRBUF_SIZE] = "";
  r->pcap = pcap_fopen_offline_with_tstamp_precision(
      ta_source_stream(r->src), PCAP_TSTAMP_PRECISION_NANO, ebuf);
  if (!r->pcap) {
    int code = strstr(ebuf, "truncated") ? TA_ETRUNC : TA_EFORMAT;
    return ta__fail(err, errlen, code, "%s: %s", info->path, ebuf);
  }
  ta_source_release_stream(r->src);
  snprintf(info->format, sizeof info->format, "pcap");
  r->pcap_pos = ftell(pcap_file(r->pcap));
  r->snaplen = (uint32_t)pcap_snapshot(r->pcap);
  r->pcap_rec_hdr = (magic == 0xa1b2cd34u || magic == 0x34cdb2a1u) ? 24 : 16;
  info->ts_precision =
      (magic == 0xa1b23c4du || magic == 0x4d3cb2a1u) ? 9 : 6;
  info->snaplen = (uint32_t)pcap_snapshot(r->pcap);
  int dlt = pcap_datalink(r->pcap);
  r->pcap_linktype = dlt == 12 ? 101 : (uint32_t)dlt;
  note_linktype(info, r->pcap_linktype);
  return 0;
}

/* Puts the input's path in front of a message; kept out of line so that
 * the per-frame path carries no message buffer. */
__attribute__((cold, noinline)) static int
prefix_path(int rc, const char *path, char *err, size_t errlen) {
  char tmp[256];
  snprintf(tmp, sizeof tmp, "%s", err);
  return ta__fail(err, errlen, rc, "%s: %s", path, tmp);
}

/* Our reader when it takes the header, else libpcap. */
static int open_classic(struct ta_reader *r, struct ta_input_info *info,
                        uint32_t magic, char *err, size_t errlen) {
  int rc = ta__pcapfile_open(r->src, 0, true, &r->pf, err, errlen);
  if (rc < 0)
    return prefix_path(rc, info->path, err, errlen);
  if (!r->pf)
    return open_pcap(r, info, magic, err, errlen);
  snprintf(info->format, sizeof info->format, "pcap");
  uint32_t lt;
  ta__pcapfile_info(r->pf, &lt, &info->snaplen, &info->ts_precision);
  note_linktype(info, lt);
  return 0;
}

int ta_reader_open(const char *path, const char *filter, struct ta_reader **out,
                   struct ta_input_info *info, char *err, size_t errlen) {
  memset(info, 0, sizeof *info);
  info->path = path;
  info->ts_precision = 6;
  struct ta_reader *r = calloc(1, sizeof *r);
  if (!r)
    return ta__fail(err, errlen, TA_ENOMEM, "out of memory");
  r->filter = filter;
  int rc = ta_source_open(path, &r->src, err, errlen);
  if (rc < 0) {
    free(r);
    return rc;
  }
  snprintf(info->compression, sizeof info->compression, "%s",
           ta_source_compression(r->src));
  uint8_t m[4];
  long n = ta_source_peek(r->src, m, 4);
  if (n < 0)
    rc = ta__fail(err, errlen, TA_EIO, "%s: %s", path,
                  ta_source_error(r->src) ? ta_source_error(r->src) : "read error");
  else if (n == 0)
    rc = ta__fail(err, errlen, TA_EFORMAT, "%s: empty file, not a capture", path);
  else if (n < 4)
    rc = ta__fail(err, errlen, TA_EFORMAT, "%s: only %ld bytes, not a capture",
                  path, n);
  else if (magic_le(m) == 0x0A0D0D0Au) {
    snprintf(info->format, sizeof info->format, "pcapng");
    rc = ta__pcapng_open(ta_source_stream(r->src), &r->ng, err, errlen);
  } else {
    uint32_t mg = magic_le(m);
    bool pcap_magic = mg == 0xa1b2c3d4u || mg == 0xd4c3b2a1u ||
                      mg == 0xa1b23c4du || mg == 0x4d3cb2a1u ||
                      mg == 0xa1b2cd34u || mg == 0x34cdb2a1u;
    if (!pcap_magic)
      rc = ta__fail(err, errlen, TA_EFORMAT,
                    "%s: not a pcap or pcapng capture (starts with %02x %02x "
                    "%02x %02x)", path, m[0], m[1], m[2], m[3]);
    else
      rc = open_classic(r, info, mg, err, errlen);
  }
  if (rc < 0) {
    ta_reader_close(r);
    return rc;
  }
  *out = r;
  return 0;
}

/* libpcap keeps only the first snaplen bytes of a record that claims more
 * (and reads on), so that damage shows only in how far the stream moved.
 * Only a record cut to the snaplen can have moved it further than its own
 * size, so the stream position (a system call on a plain file) is asked
 * only then; otherwise the expected position is just counted forward. */
static void check_record_size(struct ta_reader *r, const struct pcap_pkthdr *h,
                              struct ta_input_info *info) {
  long expected = r->pcap_pos < 0 ? -1
                                  : r->pcap_pos + (long)r->pcap_rec_hdr +
                                        (long)h->caplen;
  if (h->caplen < r->snaplen) {
    r->pcap_pos = expected;
    return;
  }
  long pos = ftell(pcap_file(r->pcap));
  if (pos >= 0 && expected >= 0 && pos > expected)
    info->oversized++;
  r->pcap_pos = pos;
}

static int next_pcap(struct ta_reader *r, struct ta_frame *f,
                     struct ta_input_info *info, char *err, size_t errlen) {
  struct pcap_pkthdr *h;
  const u_char *data;
  int rc = pcap_next_ex(r->pcap, &h, &data);
  if (rc == PCAP_ERROR_BREAK)
    return 0;
  if (rc != 1) {
    const char *msg = pcap_geterr(r->pcap);
    int code = strstr(msg, "truncated") ? TA_ETRUNC : TA_ECORRUPT;
    const char *serr = ta_source_error(r->src);
    if (serr)
      code = TA_ECORRUPT;
    return ta__fail(err, errlen, code, "%s: %s", info->path, serr ? serr : msg);
  }
  check_record_size(r, h, info);
  memset(f, 0, sizeof *f);
  f->ts_ns = (int64_t)h->ts.tv_sec * 1000000000LL + (int64_t)h->ts.tv_usec;
  f->caplen = h->caplen;
  f->wirelen = h->len < h->caplen ? h->caplen : h->len;
  f->linktype = r->pcap_linktype;
  f->data = data;
  return 1;
}

/* Copies the pcapng text found so far into info, once per interface. */
static void note_pcapng_text(struct ta_reader *r, struct ta_input_info *info) {
  if (!info->section_comment[0])
    snprintf(info->section_comment, sizeof info->section_comment, "%s",
             ta__pcapng_comment(r->ng));
  uint32_t declared = ta__pcapng_declared(r->ng);
  for (uint32_t i = info->n_ifaces; i < declared; i++) {
    const struct ta_iface_text *t = ta__pcapng_iface_text(r->ng, i);
    if (!t)
      break;
    info->ifaces[info->n_ifaces++] = *t;
  }
  if (declared > TA_MAX_INPUT_IFACES)
    info->ifaces_more = declared - TA_MAX_INPUT_IFACES;
}

static void note_pcapng_ifaces(struct ta_reader *r, struct ta_input_info *info) {
  note_pcapng_text(r, info);
  uint32_t n = ta__pcapng_iface_count(r->ng);
  for (uint32_t i = 0; i < n; i++) {
    uint32_t lt, snap;
    int digits;
    ta__pcapng_iface(r->ng, i, &lt, &snap, &digits);
    note_linktype(info, lt);
    if (snap > info->snaplen)
      info->snaplen = snap;
    if (digits > info->ts_precision)
      info->ts_precision = digits > 6 ? 9 : 6;
  }
}

/* The next frame of a file that libpcap or the pcapng reader reads. */
static int next_other(struct ta_reader *r, struct ta_frame *f,
                      struct ta_input_info *info, char *err, size_t errlen) {
  if (r->pcap)
    return next_pcap(r, f, info, err, errlen);
  int rc = ta__pcapng_next(r->ng, f, err, errlen);
  if (rc < 0 && ta_source_error(r->src))
    rc = ta__fail(err, errlen, TA_ECORRUPT, "%s: %s", info->path,
                  ta_source_error(r->src));
  else if (rc < 0)
    prefix_path(rc, info->path, err, errlen);
  note_pcapng_ifaces(r, info);
  info->oversized = ta__pcapng_oversized(r->ng);
  info->unknown_blocks = ta__pcapng_unknown_blocks(r->ng);
  if (rc == 1 && f->bad_interface)
    info->undeclared_iface++;
  return rc;
}

/* Counts frames f[0..n) into info, in order, and applies the filter. */
static void note_frames(struct ta_reader *r, struct ta_frame *f, size_t n,
                        struct ta_input_info *info) {
  if (!r->any) {
    info->first_ts = info->last_ts = r->prev_ts = f[0].ts_ns;
    r->any = true;
  }
  /* A frame no earlier than the one before cannot be the first; one no
   * later cannot be the last. Kept in locals: info is written once. */
  int64_t prev = r->prev_ts, first = info->first_ts, last = info->last_ts;
  uint64_t bytes = 0, backwards = 0;
  for (size_t i = 0; i < n; i++) {
    int64_t ts = f[i].ts_ns;
    bytes += f[i].caplen;
    if (ts >= prev) {
      last = ts > last ? ts : last;
    } else {
      backwards++;
      first = ts < first ? ts : first;
    }
    prev = ts;
  }
  info->packets += n;
  info->bytes += bytes;
  info->first_ts = first;
  info->last_ts = last;
  info->ts_backwards += backwards;
  r->prev_ts = prev;
  if (r->filter)
    for (size_t i = 0; i < n; i++)
      f[i].filtered_out = !f[i].bad_interface && filter_rejects(r, &f[i]);
}

int ta_reader_next_batch(struct ta_reader *r, struct ta_frame *f, size_t max,
                         struct ta_input_info *info, char *err, size_t errlen) {
  int rc;
  if (max == 0)
    return 0;
  if (r->pf) {
    rc = ta__pcapfile_batch(r->pf, f, max, &info->oversized, err, errlen);
    if (rc < 0)
      return prefix_path(rc, info->path, err, errlen);
  } else {
    rc = next_other(r, f, info, err, errlen);
  }
  if (rc <= 0)
    return rc;
  note_frames(r, f, (size_t)rc, info);
  return rc;
}

int ta_reader_next(struct ta_reader *r, struct ta_frame *f,
                   struct ta_input_info *info, char *err, size_t errlen) {
  return ta_reader_next_batch(r, f, 1, info, err, errlen);
}

bool ta_reader_marks(const struct ta_reader *r) {
  return r->filter || r->ng;
}

uint64_t ta_reader_offset(const struct ta_reader *r) {
  uint64_t mapped = r->pf ? ta__pcapfile_offset(r->pf) : 0;
  return mapped ? mapped : ta_source_offset(r->src);
}
uint64_t ta_reader_size(const struct ta_reader *r) {
  return ta_source_size(r->src);
}

void ta_reader_close(struct ta_reader *r) {
  if (!r)
    return;
  for (int i = 0; i < r->n_progs; i++)
    if (r->progs[i].ok)
      pcap_freecode(&r->progs[i].prog);
  if (r->pcap)
    pcap_close(r->pcap);
  ta__pcapfile_close(r->pf);
  ta__pcapng_close(r->ng);
  ta_source_close(r->src);
  free(r);
}
