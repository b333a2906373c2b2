/* tcpaudit - pipeline: reads inputs in timestamp order and runs each frame
 * through decode, the flow table and the reporters. Owns the counters that
 * account for every frame read, and the warnings shown to the user. */
#include "ta_analyze.h"

#include <arpa/inet.h>
#include <pcap/pcap.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ta_error.h"
#include "ta_flow.h"
#include "ta_hosts.h"
#include "ta_limits.h"
#include "ta_reader.h"
#include "ta_shard.h"

#define PROGRESS_EVERY 65536u /* frames between progress callbacks */

/* Frames read from an input at once: a call per frame to the reader cost
 * as much as the reading itself. */
#define FRAME_BATCH 32

struct source_slot {
  struct ta_reader *r;
  struct ta_frame *frame; /* the next frame of this input, or NULL */
  size_t left;            /* frames of the batch after it */
  struct ta_frame batch[FRAME_BATCH];
};

struct run {
  const struct ta_config *cfg;
  struct ta_result *res;
  struct ta_flow_table *flows;   /* one table in this thread, or */
  struct ta_shards *shards;      /* tables split over threads */
  struct ta_report_opts ropts;
  struct ta_hosts *hosts; /* left empty when the reporter has no on_host */
  bool keep_hosts;
  void *rstate;
  struct source_slot *slots;
  size_t *heap; /* indices of slots with a frame, min-heap on timestamp */
  size_t heap_len;
  int64_t last_ts;      /* latest frame time so far; starts below any */
  unsigned decode_opts; /* TA_DECODE_* */
  uint64_t tcp_opt_bad; /* TCP packets with TA_ANOM_TCP_OPT_BAD */
  bool unflushed;       /* records handed to the reporter since its flush */
  /* An input is a pipe or a device (a capture being written as it is
   * read): what each packet finalizes is pushed out at once, for whoever
   * follows the report. Files are written in large blocks. */
  bool live;
};

int ta_cidr_parse(const char *text, struct ta_cidr *out) {
  char buf[64];
  if (strlen(text) >= sizeof buf)
    return TA_EINVAL;
  strcpy(buf, text);
  char *slash = strchr(buf, '/');
  long prefix = -1;
  if (slash) {
    char *end;
    *slash = 0;
    prefix = strtol(slash + 1, &end, 10);
    if (*end || end == slash + 1)
      return TA_EINVAL;
  }
  memset(out, 0, sizeof *out);
  if (inet_pton(AF_INET, buf, out->ip) == 1)
    out->family = 4;
  else if (inet_pton(AF_INET6, buf, out->ip) == 1)
    out->family = 6;
  else
    return TA_EINVAL;
  long max = out->family == 4 ? 32 : 128;
  if (prefix < 0)
    prefix = max;
  if (prefix > max)
    return TA_EINVAL;
  out->prefix = (uint8_t)prefix;
  return 0;
}

static bool cidr_match(const struct ta_cidr *c, uint8_t family,
                       const uint8_t *ip) {
  if (c->family != family)
    return false;
  unsigned bits = c->prefix, i = 0;
  for (; bits >= 8; bits -= 8, i++)
    if (c->ip[i] != ip[i])
      return false;
  if (bits == 0)
    return true;
  uint8_t mask = (uint8_t)(0xff00u >> bits);
  return (c->ip[i] & mask) == (ip[i] & mask);
}

static bool host_selected(const struct ta_config *cfg,
                          const struct ta_packet *p) {
  if (!cfg->n_hosts)
    return true;
  for (size_t i = 0; i < cfg->n_hosts; i++)
    if (cidr_match(&cfg->hosts[i], p->family, p->src) ||
        cidr_match(&cfg->hosts[i], p->family, p->dst))
      return true;
  return false;
}

static void warn(struct ta_result *res, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void warn(struct ta_result *res, const char *fmt, ...) {
  if (res->n_warnings >= TA_MAX_WARNINGS) {
    res->warnings_dropped++;
    return;
  }
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  char *copy = strdup(buf);
  char **w = realloc(res->warnings, (res->n_warnings + 1) * sizeof *w);
  if (!copy || !w) {
    free(copy);
    if (w)
      res->warnings = w;
    res->warnings_dropped++;
    return;
  }
  res->warnings = w;
  w[res->n_warnings++] = copy;
}

static void add_host(struct run *run, const struct ta_conn *c) {
  if (run->keep_hosts)
    ta_hosts_add(run->hosts, c);
}

static void on_emit(void *ctx, const struct ta_conn *c) {
  struct run *run = ctx;
  add_host(run, c);
  run->cfg->reporter->on_connection(run->rstate, c);
  run->unflushed = true;
}

static void flush_reporter(struct run *run) {
  if (run->cfg->reporter->flush)
    run->cfg->reporter->flush(run->rstate);
  run->unflushed = false;
}

/* After a batch of the shards' records, on whichever thread merged it:
 * touches the reporter alone, as on_merged does. */
static void on_batch_merged(void *ctx) {
  struct run *run = ctx;
  if (run->live && run->cfg->reporter->flush)
    run->cfg->reporter->flush(run->rstate);
}

/* A record from the shards, maybe formatted, on whichever thread merged
 * it: touches the host table and the reporter alone, which nothing else
 * touches until the shards finish. */
static void on_merged(void *ctx, const struct ta_conn *c, const char *text,
                      size_t len) {
  struct run *run = ctx;
  add_host(run, c);
  if (text)
    run->cfg->reporter->on_formatted(run->rstate, c, text, len);
  else
    run->cfg->reporter->on_connection(run->rstate, c);
}

static void count_unsupported(struct ta_counters *k, uint32_t lt) {
  for (uint8_t i = 0; i < k->n_unsupported_linktypes; i++)
    if (k->unsupported_linktypes[i][0] == lt) {
      k->unsupported_linktypes[i][1]++;
      return;
    }
  if (k->n_unsupported_linktypes < 8) {
    k->unsupported_linktypes[k->n_unsupported_linktypes][0] = lt;
    k->unsupported_linktypes[k->n_unsupported_linktypes++][1] = 1;
  }
}

/* Counts a frame the reader marked, which is not decoded. */
static void count_marked(struct ta_counters *k, const struct ta_frame *f) {
  if (f->bad_interface) {
    k->by_disposition[TA_DISP_MALFORMED]++;
    k->by_malformed[TA_MAL_NO_IFACE]++;
  } else {
    k->by_disposition[TA_DISP_FILTERED]++;
  }
}

/* The counters of a frame's less common traits. */
static void count_rare(struct ta_counters *k, const struct ta_packet *pkt) {
  if (pkt->checksum_bad)
    k->bad_checksum++;
  if (pkt->encap)
    k->encapsulated++;
  if (pkt->anomalies & TA_ANOM_SNAP_TRUNCATED)
    k->snaplen_truncated++;
  if (pkt->vlan_depth)
    k->vlan_tagged++;
}

/* Hands a TCP packet on to the flow table, or to the shards' threads. */
static void track(struct run *run, const struct ta_packet *pkt) {
  if (run->shards) {
    ta_shards_packet(run->shards, pkt);
    return;
  }
  ta_flow_table_packet_hashed(run->flows, pkt,
                              ta_flow_table_hash(run->flows, pkt));
  if (run->unflushed && run->live)
    flush_reporter(run);
}

/* Counts a decoded frame by its family, rare traits and disposition (and
 * a TCP packet's broken options); true when it goes to the flow table. */
static inline __attribute__((always_inline)) bool
count_fate(struct run *run, const struct ta_frame *f, struct ta_packet *pkt) {
  struct ta_counters *k = &run->res->packets;
  if (pkt->family == 4)
    k->ipv4++;
  else if (pkt->family == 6)
    k->ipv6++;
  /* one test for the frames that are none of these, nearly all */
  if (pkt->checksum_bad | pkt->encap | pkt->vlan_depth |
      (pkt->anomalies & TA_ANOM_SNAP_TRUNCATED))
    count_rare(k, pkt);
  if (pkt->disposition == TA_DISP_TCP && run->cfg->n_hosts &&
      !host_selected(run->cfg, pkt))
    pkt->disposition = TA_DISP_FILTERED;
  k->by_disposition[pkt->disposition]++;
  if (pkt->disposition == TA_DISP_TCP) {
    if (pkt->anomalies & TA_ANOM_TCP_OPT_BAD)
      run->tcp_opt_bad++;
    return true;
  }
  if (pkt->disposition == TA_DISP_MALFORMED)
    k->by_malformed[pkt->malformed]++;
  else if (pkt->disposition == TA_DISP_UNSUPPORTED_LINK)
    count_unsupported(k, f->linktype);
  return false;
}

/* Decodes one frame into *pkt and counts its fate; true when it is a TCP
 * packet for the flow table (else *pkt is left for the next frame to
 * overwrite). Inlined in the loops that call it. */
static inline __attribute__((always_inline)) bool
decode_frame(struct run *run, const struct ta_frame *f,
             struct ta_packet *pkt) {
  struct ta_counters *k = &run->res->packets;
  k->total++;
  if (f->ts_ns < run->last_ts)
    k->ts_backwards++;
  else
    run->last_ts = f->ts_ns;
  if (f->bad_interface | f->filtered_out) {
    count_marked(k, f);
    return false;
  }
  ta_decode_frame_opts(f->linktype, f->data, f->caplen, f->wirelen,
                       run->decode_opts, pkt);
  pkt->ts_ns = f->ts_ns;
  pkt->frame = k->total;
  return count_fate(run, f, pkt);
}

/* Runs one frame through decode and the flow table. */
static void process_frame(struct run *run, const struct ta_frame *f) {
  struct ta_packet pkt;
  if (decode_frame(run, f, &pkt))
    track(run, &pkt);
}

/* ---- merge of inputs by timestamp ---- */

static bool slot_before(const struct run *run, size_t a, size_t b) {
  int64_t ta = run->slots[a].frame->ts_ns, tb = run->slots[b].frame->ts_ns;
  return ta < tb || (ta == tb && a < b);
}

static void heap_sift_down(struct run *run, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < run->heap_len && slot_before(run, run->heap[l], run->heap[m]))
      m = l;
    if (r < run->heap_len && slot_before(run, run->heap[r], run->heap[m]))
      m = r;
    if (m == i)
      return;
    size_t t = run->heap[i];
    run->heap[i] = run->heap[m];
    run->heap[m] = t;
    i = m;
  }
}

static void heap_sift_up(struct run *run, size_t i) {
  while (i > 0) {
    size_t p = (i - 1) / 2;
    if (!slot_before(run, run->heap[i], run->heap[p]))
      return;
    size_t t = run->heap[i];
    run->heap[i] = run->heap[p];
    run->heap[p] = t;
    i = p;
  }
}

/* Reads the next batch of input i; on damage records it and stops that
 * input. */
__attribute__((noinline)) static bool slot_refill(struct run *run, size_t i) {
  struct source_slot *s = &run->slots[i];
  struct ta_input_info *info = &run->res->inputs[i];
  int rc = ta_reader_next_batch(s->r, s->batch, FRAME_BATCH, info,
                                info->error_msg, sizeof info->error_msg);
  s->frame = rc > 0 ? s->batch : NULL;
  s->left = rc > 0 ? (size_t)rc - 1 : 0;
  if (rc < 0) {
    info->error = rc;
    run->res->damaged = true;
  }
  return rc > 0;
}

/* Moves input i to its next frame; false when it has none. */
static inline bool slot_advance(struct run *run, size_t i) {
  struct source_slot *s = &run->slots[i];
  if (s->left) {
    s->frame++;
    s->left--;
    return true;
  }
  return slot_refill(run, i);
}

static void report_progress(struct run *run) {
  if (!run->cfg->progress)
    return;
  struct ta_progress p = {.packets = run->res->packets.total};
  for (size_t i = 0; i < run->res->n_inputs; i++)
    if (run->slots[i].r) {
      p.bytes_read += ta_reader_offset(run->slots[i].r);
      p.bytes_total += ta_reader_size(run->slots[i].r);
    }
  if (run->shards) {
    p.connections = ta_shards_emitted(run->shards);
  } else {
    struct ta_flow_stats fs;
    ta_flow_table_stats(run->flows, &fs);
    p.connections = fs.connections;
  }
  run->cfg->progress(run->cfg->progress_ctx, &p);
}

/* Packets ahead of the one being tracked whose bucket, then record, are
 * loaded meanwhile: a busy table is far larger than the cache, and a
 * lookup would otherwise wait on two misses. */
#define PREFETCH_BUCKET 8
#define PREFETCH_RECORD 4

/* The TCP packets of a batch of frames, tracked in order while the table
 * memory of those a few places ahead is prefetched. The loop is split
 * where the look-ahead runs out, so that no packet tests for it. Broken
 * options were counted when the batch was decoded. */
static void track_batch(struct run *run, const struct ta_packet *pkts,
                        uint64_t *hash, size_t n) {
  struct ta_flow_table *t = run->flows;
  for (size_t j = 0; j < n; j++)
    hash[j] = ta_flow_table_hash(t, &pkts[j]);
  for (size_t j = 0; j < n && j < PREFETCH_BUCKET; j++)
    ta_flow_table_prefetch(t, hash[j], 0);
  size_t j = 0;
  for (; j + PREFETCH_BUCKET < n; j++) {
    ta_flow_table_prefetch(t, hash[j + PREFETCH_BUCKET], 0);
    ta_flow_table_prefetch(t, hash[j + PREFETCH_RECORD], 1);
    ta_flow_table_packet_hashed(t, &pkts[j], hash[j]);
    if (run->live && run->unflushed)
      flush_reporter(run);
  }
  for (; j < n; j++) {
    if (j + PREFETCH_RECORD < n)
      ta_flow_table_prefetch(t, hash[j + PREFETCH_RECORD], 1);
    ta_flow_table_packet_hashed(t, &pkts[j], hash[j]);
    if (run->live && run->unflushed)
      flush_reporter(run);
  }
}

/* The same, out of line: the batch loop keeps only the common case. */
__attribute__((noinline)) static bool
count_decoded(struct run *run, const struct ta_frame *f,
              struct ta_packet *pkt) {
  return count_fate(run, f, pkt);
}

/* Frames since the last progress callback: one is due when a batch
 * crosses a multiple of PROGRESS_EVERY. */
static inline void progress_after(struct run *run, uint64_t before) {
  if (before / PROGRESS_EVERY != run->res->packets.total / PROGRESS_EVERY)
    report_progress(run);
}

/* Decodes the frames f[0..frames) of one input into pkts and counts them
 * as decode_frame does, the common case (an IPv4 TCP packet with no rare
 * trait, with no host selection or checksum check) in locals added to the counters once a
 * batch; returns how many are TCP packets for the flow table, in order.
 * marks is a constant in each copy: false when the reader marks none. */
static inline __attribute__((always_inline)) size_t
decode_batch(struct run *run, const struct ta_frame *f, size_t frames,
             struct ta_packet *pkts, bool marks) {
  struct ta_counters *k = &run->res->packets;
  const unsigned opts = run->decode_opts;
  /* no host selection, and no checksums checked (else checksum_bad stays
   * 0): the fast path's test leaves both out */
  const bool plain = run->cfg->n_hosts == 0 && opts == 0;
  uint64_t frame = k->total, backwards = 0, fast = 0;
  int64_t last = run->last_ts;
  struct ta_packet *pkt = pkts;
  for (const struct ta_frame *end = f + frames; f < end; f++) {
    int64_t ts = f->ts_ns;
    frame++;
    if (ts < last)
      backwards++;
    else
      last = ts;
    if (marks && (f->bad_interface | f->filtered_out)) {
      count_marked(k, f);
      continue;
    }
    ta_decode_frame_opts(f->linktype, f->data, f->caplen, f->wirelen, opts,
                         pkt);
    pkt->ts_ns = ts;
    pkt->frame = frame;
    /* one test for the traits nearly every frame lacks */
    if (plain && pkt->disposition == TA_DISP_TCP && pkt->family == 4 &&
        !(pkt->encap | pkt->vlan_depth |
          (pkt->anomalies & (TA_ANOM_SNAP_TRUNCATED | TA_ANOM_TCP_OPT_BAD)))) {
      fast++;
      pkt++;
    } else {
      pkt += count_decoded(run, f, pkt);
    }
  }
  k->total = frame;
  k->ts_backwards += backwards;
  k->ipv4 += fast;
  k->by_disposition[TA_DISP_TCP] += fast;
  run->last_ts = last;
  return (size_t)(pkt - pkts);
}

/* The frames of the one input left, in the order it has them, a batch at
 * a time: decoded first, then tracked (a batch's frames stay valid until
 * the next is read). */
static void drain_one(struct run *run, size_t i) {
  struct source_slot *s = &run->slots[i];
  struct ta_packet pkts[FRAME_BATCH];
  uint64_t hash[FRAME_BATCH];
  const bool marks = ta_reader_marks(s->r);
  do {
    uint64_t before = run->res->packets.total;
    size_t n = marks ? decode_batch(run, s->frame, s->left + 1, pkts, true)
                     : decode_batch(run, s->frame, s->left + 1, pkts, false);
    progress_after(run, before);
    track_batch(run, pkts, hash, n);
    s->frame += s->left;
    s->left = 0;
  } while (slot_advance(run, i));
}

/* The same with threads: frames are decoded straight into the shards'
 * batch, which tracks them as it fills. */
static void drain_one_sharded(struct run *run, size_t i) {
  struct source_slot *s = &run->slots[i];
  struct ta_packet *pkt = ta_shards_room(run->shards);
  do {
    size_t frames = s->left + 1;
    uint64_t before = run->res->packets.total;
    for (size_t j = 0; j < frames; j++)
      if (decode_frame(run, &s->frame[j], pkt))
        pkt = ta_shards_commit(run->shards);
    progress_after(run, before);
    s->frame += s->left;
    s->left = 0;
  } while (slot_advance(run, i));
}

static void merge_all(struct run *run) {
  for (size_t i = 0; i < run->res->n_inputs; i++)
    if (run->slots[i].r && slot_refill(run, i)) {
      run->heap[run->heap_len++] = i;
      heap_sift_up(run, run->heap_len - 1);
    }
  while (run->heap_len > 1) {
    size_t i = run->heap[0];
    process_frame(run, run->slots[i].frame);
    if (!slot_advance(run, i))
      run->heap[0] = run->heap[--run->heap_len];
    heap_sift_down(run, 0);
    if (run->res->packets.total % PROGRESS_EVERY == 0)
      report_progress(run);
  }
  /* Alone, an input needs no merging. */
  if (run->heap_len && run->shards)
    drain_one_sharded(run, run->heap[0]);
  else if (run->heap_len)
    drain_one(run, run->heap[0]);
}

/* ---- setup and teardown ---- */

/* A regular file, which is read no faster for its report being written
 * line by line ("-" is the standard input). */
static bool input_is_file(const char *path) {
  struct stat st;
  int rc = strcmp(path, "-") == 0 ? fstat(STDIN_FILENO, &st) : stat(path, &st);
  return rc == 0 && S_ISREG(st.st_mode);
}

static int open_inputs(struct run *run, char *err, size_t errlen) {
  const struct ta_config *cfg = run->cfg;
  struct ta_result *res = run->res;
  int first_err = 0;
  for (size_t i = 0; i < cfg->n_inputs; i++) {
    struct ta_input_info *info = &res->inputs[i];
    if (!input_is_file(cfg->inputs[i]))
      run->live = true;
    int rc = ta_reader_open(cfg->inputs[i], cfg->filter, &run->slots[i].r, info,
                            info->error_msg, sizeof info->error_msg);
    if (rc < 0) {
      info->path = cfg->inputs[i];
      info->error = rc;
      res->inputs_failed++;
      if (!first_err) {
        first_err = rc;
        snprintf(err, errlen, "%s", info->error_msg);
      }
    }
  }
  return res->inputs_failed == cfg->n_inputs ? first_err : 0;
}

/* The host table's hash seed: the configured one, or a random one per run
 * (as the flow table picks its own) so that no capture can be crafted in
 * advance to pile its addresses into one probe sequence. */
static uint64_t run_seed(uint64_t configured) {
  uint64_t s = configured;
  if (!s && getrandom(&s, sizeof s, 0) != (ssize_t)sizeof s)
    s = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&s;
  return s ? s : 0x9e3779b97f4a7c15ull;
}

static int check_filter(const char *filter, char *err, size_t errlen) {
  if (!filter)
    return 0;
  pcap_t *dead = pcap_open_dead(DLT_EN10MB, 65535);
  if (!dead)
    return ta__fail(err, errlen, TA_ENOMEM, "out of memory");
  struct bpf_program prog;
  int rc = 0;
  if (pcap_compile(dead, &prog, filter, 1, PCAP_NETMASK_UNKNOWN) != 0)
    rc = ta__fail(err, errlen, TA_EFILTER, "bad filter '%s': %s", filter,
                  pcap_geterr(dead));
  else
    pcap_freecode(&prog);
  pcap_close(dead);
  return rc;
}

/* One line for the packets that could not be tracked, by reason, and one
 * for TCP packets tracked despite broken options. */
static void warn_malformed(struct run *run) {
  const struct ta_counters *k = &run->res->packets;
  uint64_t n = k->by_disposition[TA_DISP_MALFORMED];
  if (n) {
    char why[256] = "";
    size_t len = 0;
    for (int m = 1; m < TA_MAL_COUNT && len < sizeof why; m++)
      if (k->by_malformed[m])
        len += (size_t)snprintf(why + len, sizeof why - len, "%s%s %llu",
                                len ? ", " : "", ta_malformed_name(m),
                                (unsigned long long)k->by_malformed[m]);
    warn(run->res, "%llu malformed packet(s) were counted but not tracked (%s)",
         (unsigned long long)n, why);
  }
  if (run->tcp_opt_bad)
    warn(run->res, "%llu TCP packet(s) carried malformed options (length 0 "
         "or 1, or running past the header); they were tracked and their "
         "connections marked tcp_option_bad",
         (unsigned long long)run->tcp_opt_bad);
}

static void collect_warnings(struct run *run) {
  struct ta_result *res = run->res;
  for (size_t i = 0; i < res->n_inputs; i++) {
    const struct ta_input_info *in = &res->inputs[i];
    if (in->error && in->format[0])
      warn(res, "%s (the report covers the %llu packet(s) read before it)",
           in->error_msg, (unsigned long long)in->packets);
    else if (in->error)
      warn(res, "%s (not read)", in->error_msg);
    if (in->ts_backwards)
      warn(res, "%s: time goes backwards %llu time(s)", in->path,
           (unsigned long long)in->ts_backwards);
    if (in->oversized)
      warn(res, "%s: %llu record(s) claim more captured bytes than the "
           "snaplen (%u): the file is damaged%s", in->path,
           (unsigned long long)in->oversized, in->snaplen,
           strcmp(in->format, "pcap") == 0
               ? "; the bytes past the snaplen were skipped"
               : "");
    if (in->undeclared_iface)
      warn(res, "%s: %llu packet record(s) name an interface the file never "
           "declared: the file is damaged; they are counted as malformed",
           in->path, (unsigned long long)in->undeclared_iface);
    if (in->unknown_blocks)
      warn(res, "%s: skipped %llu pcapng block(s) of unknown type", in->path,
           (unsigned long long)in->unknown_blocks);
    if (in->format[0] && !in->error && !in->packets)
      warn(res, "%s: the capture holds no packets", in->path);
  }
  warn_malformed(run);
  for (uint8_t i = 0; i < res->packets.n_unsupported_linktypes; i++)
    warn(res, "%llu frame(s) of unsupported link type %llu were counted, "
         "not decoded",
         (unsigned long long)res->packets.unsupported_linktypes[i][1],
         (unsigned long long)res->packets.unsupported_linktypes[i][0]);
  if (res->flows.evicted)
    warn(res, "connection table full: %llu connection(s) were reported before "
         "they ended; raise --max-connections (now %llu)",
         (unsigned long long)res->flows.evicted,
         (unsigned long long)res->flows.max_open);
  if (ta_hosts_overflow(run->hosts))
    warn(res, "host table full: %llu host record(s) were not aggregated",
         (unsigned long long)ta_hosts_overflow(run->hosts));
  if (res->packets.bad_checksum)
    warn(res, "%llu packet(s) failed checksum verification: TCP ones only "
         "mark their connection's history (C/c), the others were not "
         "tracked; a capture taken on a sending host with checksum offload "
         "shows this for every packet it sent",
         (unsigned long long)res->packets.bad_checksum);
}

static void emit_host(void *ctx, const struct ta_host *h) {
  struct run *run = ctx;
  run->cfg->reporter->on_host(run->rstate, h);
}

/* Damage that did not stop reading still makes the input damaged. */
static void note_damage(struct ta_result *res) {
  for (size_t i = 0; i < res->n_inputs; i++)
    if (res->inputs[i].oversized || res->inputs[i].undeclared_iface)
      res->damaged = true;
}

static int finish(struct run *run) {
  struct ta_result *res = run->res;
  note_damage(res);
  if (run->shards) {
    if (ta_shards_finish(run->shards) < 0)
      warn(res, "out of memory while merging the threads' records: some "
           "connections are missing from the report");
    ta_shards_stats(run->shards, &res->flows);
    ta_shards_free(run->shards);
    run->shards = NULL;
  } else {
    ta_flow_table_flush(run->flows);
    ta_flow_table_stats(run->flows, &res->flows);
  }
  /* Every record is out: the table's memory goes back before the host
   * records are sorted and written, so the end adds nothing to the peak. */
  ta_flow_table_free(run->flows);
  run->flows = NULL;
  if (run->keep_hosts)
    ta_hosts_each(run->hosts, emit_host, run);
  collect_warnings(run);
  int digits = 6;
  for (size_t i = 0; i < res->n_inputs; i++)
    if (res->inputs[i].ts_precision == 9)
      digits = 9;
  struct ta_summary sum = {
      .inputs = res->inputs,
      .n_inputs = res->n_inputs,
      .packets = &res->packets,
      .flows = &res->flows,
      .warnings = (const char *const *)res->warnings,
      .n_warnings = res->n_warnings,
      .warnings_dropped = res->warnings_dropped,
      .filter = run->cfg->filter,
      .ts_precision = digits,
      .damaged = res->damaged,
      .hosts = run->hosts,
  };
  int rc = run->cfg->reporter->close(run->rstate, &sum);
  run->rstate = NULL;
  res->report_written = rc == 0;
  return rc;
}

static int precision_of_inputs(const struct ta_result *res) {
  for (size_t i = 0; i < res->n_inputs; i++)
    if (res->inputs[i].ts_precision == 9)
      return 9;
  return 6;
}

int ta_analyze(const struct ta_config *cfg, struct ta_result *res, char *err,
               size_t errlen) {
  memset(res, 0, sizeof *res);
  if (!cfg->n_inputs || !cfg->reporter || !cfg->out)
    return ta__fail(err, errlen, TA_EINVAL, "no input or no reporter");
  if (cfg->n_inputs > TA_MAX_INPUTS)
    return ta__fail(err, errlen, TA_EINVAL, "too many inputs (max %d)",
                    TA_MAX_INPUTS);
  int rc = check_filter(cfg->filter, err, errlen);
  if (rc < 0)
    return rc;
  struct run run = {
      .cfg = cfg,
      .res = res,
      .last_ts = INT64_MIN,
      .decode_opts = cfg->verify_checksums ? TA_DECODE_VERIFY_CHECKSUMS : 0,
      .keep_hosts = cfg->reporter->on_host != NULL,
  };
  res->n_inputs = cfg->n_inputs;
  res->packets.checksums_verified = cfg->verify_checksums;
  res->inputs = calloc(cfg->n_inputs, sizeof *res->inputs);
  run.slots = calloc(cfg->n_inputs, sizeof *run.slots);
  run.heap = calloc(cfg->n_inputs, sizeof *run.heap);
  struct ta_flow_config fc = {
      .max_conns = cfg->max_conns ? cfg->max_conns : TA_DEFAULT_MAX_CONNS,
      .idle_timeout_ns = cfg->idle_timeout_ns
                             ? cfg->idle_timeout_ns
                             : TA_DEFAULT_IDLE_TIMEOUT_S * 1000000000LL,
      .linger_ns = cfg->linger_ns ? cfg->linger_ns
                                  : TA_DEFAULT_CLOSED_LINGER_S * 1000000000LL,
      .attempt_timeout_ns = cfg->attempt_timeout_ns
                                ? cfg->attempt_timeout_ns
                                : TA_DEFAULT_ATTEMPT_TIMEOUT_S * 1000000000LL,
      .seed = cfg->seed,
  };
  if (res->inputs)
    run.flows = ta_flow_table_new(&fc, on_emit, &run);
  run.hosts = ta_hosts_new(cfg->max_hosts ? cfg->max_hosts
                                          : TA_DEFAULT_MAX_HOSTS,
                           run_seed(cfg->seed));
  if (!res->inputs || !run.slots || !run.heap || !run.flows || !run.hosts) {
    rc = ta__fail(err, errlen, TA_ENOMEM, "out of memory");
    goto out;
  }
  rc = open_inputs(&run, err, errlen);
  if (rc < 0)
    goto out;
  if (res->inputs_failed)
    res->damaged = true;
  run.ropts = cfg->report;
  run.ropts.ts_precision = precision_of_inputs(res);
  if (cfg->threads > 1) { /* before the report starts: nothing to undo */
    run.shards = ta_shards_new(cfg->threads, &fc, cfg->reporter, &run.ropts,
                               on_merged, on_batch_merged, &run);
    if (!run.shards) {
      rc = ta__fail(err, errlen, TA_ENOMEM, "cannot start %u threads",
                    cfg->threads);
      goto out;
    }
  }
  rc = cfg->reporter->open(&run.rstate, cfg->out, &run.ropts);
  if (rc < 0) {
    ta__fail(err, errlen, rc, "cannot start the %s report", cfg->reporter->name);
    goto out;
  }
  merge_all(&run);
  rc = finish(&run);
  if (rc < 0)
    ta__fail(err, errlen, rc, "writing the report failed: %s", ta_strerror(rc));
out:
  for (size_t i = 0; run.slots && i < cfg->n_inputs; i++)
    ta_reader_close(run.slots[i].r);
  free(run.slots);
  free(run.heap);
  ta_shards_free(run.shards);
  ta_flow_table_free(run.flows);
  ta_hosts_free(run.hosts);
  return rc;
}

void ta_result_free(struct ta_result *res) {
  for (size_t i = 0; i < res->n_warnings; i++)
    free(res->warnings[i]);
  free(res->warnings);
  free(res->inputs);
  memset(res, 0, sizeof *res);
}
