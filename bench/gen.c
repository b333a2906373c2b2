/* tcpaudit - bench: reproducible synthetic TCP captures with true labels.
 * Writes a classic pcap (Ethernet, IPv4 and IPv6) of any size: thousands of
 * interleaved connections driven by one event heap, with correct sequence
 * numbers, lengths and checksums, and a labels file naming each
 * connection's scenario. Standalone: links neither libpcap nor lib/. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define OUT_BUF_SIZE (8u << 20)  /* output buffer; a write per 8 MiB */
#define MAX_FRAME 1600u          /* largest frame built (1514 + slack) */
#define PATTERN_SIZE 65536u      /* payload bytes are slices of this */
#define PATTERN_MASK (PATTERN_SIZE - 1)
#define EPOCH_US INT64_C(1705312800000000) /* 2024-01-15T10:00:00Z */
#define EPH_LO 32768u            /* Linux ephemeral port range */
#define EPH_SPAN 28232u
#define SCAN_PORTS 1024u         /* a scanner sweeps ports 1..1024 per target */
#define MAX_ROUNDS 64u           /* request/response rounds on one connection */
#define MS INT64_C(1000)
#define SEC INT64_C(1000000)

/* ---- random numbers (xoshiro256**, seeded with splitmix64) ---- */

struct rng {
  uint64_t s[4];
};

static uint64_t splitmix(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed) {
  for (int i = 0; i < 4; i++)
    r->s[i] = splitmix(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(struct rng *r) {
  uint64_t *s = r->s;
  uint64_t out = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return out;
}

/* uniform in [0, 1) */
static double rng_unit(struct rng *r) {
  return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* uniform in [0, n) */
static uint32_t rng_below(struct rng *r, uint32_t n) {
  return (uint32_t)(((rng_next(r) >> 32) * n) >> 32);
}

static bool rng_chance(struct rng *r, double p) { return rng_unit(r) < p; }

static double rng_exp(struct rng *r, double mean) {
  return -mean * log(1.0 - rng_unit(r));
}

/* log-uniform in [lo, hi] */
static double rng_logu(struct rng *r, double lo, double hi) {
  return lo * exp(rng_unit(r) * log(hi / lo));
}

/* bounded Pareto in [lo, hi] with shape a: heavy-tailed transfer sizes */
static double rng_pareto(struct rng *r, double lo, double hi, double a) {
  double u = rng_unit(r), la = pow(lo, a), ha = pow(hi, a);
  return pow(-(u * ha - u * la - ha) / (ha * la), -1.0 / a);
}

/* a hash of (seed, i) for per-segment decisions that need no stored state */
static uint64_t hash2(uint64_t seed, uint64_t i) {
  uint64_t x = seed ^ (i * 0xd6e8feb86659fd93ull);
  return splitmix(&x);
}

/* ---- workload description ---- */

/* What a connection will do; the label is derived from it. */
enum kind {
  K_COMPLETED,   /* data both ways, FIN from both, either side first */
  K_RESET,       /* data both ways, then an RST from either side */
  K_HALF,        /* one side sends FIN, the other ACKs and never closes */
  K_OPEN,        /* handshake and data, still open when the capture ends */
  K_ATC,         /* accepted, then the server closes 1-5 s later, no data */
  K_REF_SAME,    /* refused; retried with the same ISN and port, 0.5 s apart */
  K_REF_FRESH,   /* refused; retried on the same port with fresh ISNs */
  K_UNANSWERED,  /* SYN and retries 1, 2, 4 s apart, no reply */
  K_SCAN,        /* one SYN probe from a scanner: becomes one of the next 3 */
  K_SCAN_CLOSED, /* probe answered by RST */
  K_SCAN_FILTERED, /* probe not answered */
  K_SCAN_OPEN,   /* probe answered by SYN/ACK, scanner resets */
  K_COUNT
};

static const char *const kind_names[K_COUNT] = {
    "completed", "reset", "half-closed", "open", "accepted-then-closed",
    "refused-same-isn", "refused-fresh-isn", "unanswered", "scan",
    "scan-closed", "scan-filtered", "scan-open"};

/* The label written for each kind: tcpaudit's scenario names. */
static const char *const kind_label[K_COUNT] = {
    "completed", "reset", "half_closed", "open", "accepted_then_closed",
    "refused", "refused", "unanswered", "", "refused", "unanswered",
    "handshake_incomplete"};

struct preset {
  const char *name;
  const char *help;
  uint64_t size;       /* default target size in bytes */
  double rate;         /* connection arrivals per second */
  double mix[K_SCAN + 1]; /* relative shares of the kinds up to K_SCAN */
  double ipv6;         /* share of IPv6 connections */
  double windows;      /* share of Windows clients (no timestamps) */
  double small_lo, small_hi; /* response sizes, log-uniform */
  double p_bulk;       /* share of responses that are bulk transfers */
  double bulk_lo, bulk_hi, bulk_shape;
  double p_upload;     /* share of requests that are uploads */
  double rounds_mean;  /* request/response rounds per connection */
  double p_retx, p_reorder; /* per data segment */
  uint32_t n_clients, n_servers, n_scanners;
  uint32_t max_open;   /* open-at-the-end connections, at most: they never
                          end, so without a cap they pile up with size */
};

static const struct preset presets[] = {
    {.name = "mixed",
     .help = "every scenario in fair shares (default; tests)",
     .size = 64ull << 20,
     .rate = 200,
     .mix = {[K_COMPLETED] = 40, [K_RESET] = 8, [K_HALF] = 6, [K_OPEN] = 5,
             [K_ATC] = 8, [K_REF_SAME] = 6, [K_REF_FRESH] = 4,
             [K_UNANSWERED] = 8, [K_SCAN] = 15},
     .ipv6 = 0.15, .windows = 0.25,
     .small_lo = 200, .small_hi = 20000,
     .p_bulk = 0.02, .bulk_lo = 65536, .bulk_hi = 2e6, .bulk_shape = 1.2,
     .p_upload = 0.02, .rounds_mean = 2.0,
     .p_retx = 0.01, .p_reorder = 0.005,
     .n_clients = 2000, .n_servers = 300, .n_scanners = 2, .max_open = 1000},
    {.name = "packet-heavy",
     .help = "about 1 GiB, ~50k connections, long transfers",
     .size = 1ull << 30,
     .rate = 400,
     .mix = {[K_COMPLETED] = 82, [K_RESET] = 4, [K_HALF] = 2, [K_OPEN] = 2,
             [K_ATC] = 2, [K_REF_SAME] = 2, [K_REF_FRESH] = 1,
             [K_UNANSWERED] = 3, [K_SCAN] = 2},
     .ipv6 = 0.10, .windows = 0.25,
     .small_lo = 300, .small_hi = 30000,
     .p_bulk = 0.025, .bulk_lo = 65536, .bulk_hi = 64e6, .bulk_shape = 1.2,
     .p_upload = 0.03, .rounds_mean = 2.0,
     .p_retx = 0.005, .p_reorder = 0.003,
     .n_clients = 4000, .n_servers = 500, .n_scanners = 1, .max_open = 1000},
    {.name = "connection-heavy",
     .help = "about 1 GiB, ~1M short connections: scans, refusals, "
             "small requests",
     .size = 1ull << 30,
     .rate = 5000,
     .mix = {[K_COMPLETED] = 20, [K_RESET] = 3, [K_HALF] = 1, [K_OPEN] = 0.5,
             [K_ATC] = 4, [K_REF_SAME] = 4, [K_REF_FRESH] = 2,
             [K_UNANSWERED] = 5, [K_SCAN] = 60},
     .ipv6 = 0.10, .windows = 0.30,
     .small_lo = 100, .small_hi = 2000,
     .p_bulk = 0.002, .bulk_lo = 65536, .bulk_hi = 1e6, .bulk_shape = 1.3,
     .p_upload = 0.01, .rounds_mean = 1.3,
     .p_retx = 0.005, .p_reorder = 0.003,
     .n_clients = 20000, .n_servers = 2000, .n_scanners = 8,
     .max_open = 5000},
};
#define N_PRESETS (sizeof presets / sizeof presets[0])

/* ---- hosts ---- */

struct scanner {
  uint8_t ip[4];
  uint32_t target;   /* index of the host being swept */
  uint16_t next_port, sport;
  bool filtered;     /* the target drops probes instead of refusing them */
};

/* ---- connections ---- */

enum phase {
  P_SYN, P_SYNACK, P_REFUSE, P_ACK, P_SCAN_RST, P_XFER, P_FIN1, P_FIN1_ACK,
  P_FIN2, P_LASTACK, P_RST, P_DONE
};

enum { CLI = 0, SRV = 1 };
enum { OS_LINUX = 0, OS_WINDOWS = 1, OS_SCANNER = 2 };
enum { F_FIN = 1, F_SYN = 2, F_RST = 4, F_PSH = 8, F_ACK = 16 };
enum { ROLE_REQ = 0, ROLE_RESP = 1 };

struct xfer {
  uint32_t start_seq, total, nseg, next_slot, next_ack, retx_seg;
  int64_t t0, interval, ack_delay, retx_t; /* retx_t < 0: none pending */
  uint16_t mss;
  uint8_t dir, role;
  bool acks; /* the receiver sends pure ACKs */
};

struct conn {
  int64_t t;          /* time of the next packet, microseconds */
  uint64_t seed;      /* per-connection decisions (segment fates) */
  struct rng rr;      /* timings and choices, drawn in order */
  struct rng rs;      /* sizes only, so the plan can replay them */
  uint8_t kind, phase, family, os, closer;
  bool use_ts, fin_combined, persistent, finite, label_pending;
  uint8_t wscale[2], ttl[2];
  uint8_t ip[2][16];
  uint16_t port[2], mss_adv[2], win[2], ipid[2];
  uint32_t isn[2], nxt[2], rcv[2], ts_base[2], ts_last[2];
  uint32_t syn_left, attempts_left;
  uint64_t plan_left; /* bytes this connection is still expected to write */
  int64_t rtt, backoff;
  uint32_t rounds_left;
  struct xfer x;
};

/* Binary min-heap of (time, tie-break, connection). */
struct hent {
  int64_t t;
  uint64_t order;
  uint32_t idx;
};

struct gen {
  const struct preset *p;
  struct rng r;
  uint64_t target_size, max_conns; /* 0: no limit */

  struct conn *conns;
  uint32_t n_conns, cap_conns, *free_idx, n_free;
  struct hent *heap;
  uint32_t n_heap, cap_heap;
  uint64_t order;

  uint16_t *client_port; /* next ephemeral port per client host */
  /* each client host's stack and distance, fixed as a real host's are:
   * its OS, and the hops its packets took to the capture point */
  uint8_t *client_os, *client_hops;
  uint32_t *windows_clients, n_windows; /* the clients running Windows */
  struct scanner *scanners;

  uint8_t *buf;
  size_t used;
  int fd;
  FILE *labels;
  uint8_t pattern[PATTERN_SIZE + MAX_FRAME];

  uint64_t bytes, packets;
  uint64_t pending_bytes; /* still expected from connections under way */
  uint64_t planned_conns; /* labels the connections started will write */
  uint64_t labelled;      /* labels written so far */
  uint64_t by_kind[K_COUNT];
  uint32_t finite;        /* connections that must finish before the end */
  uint32_t open_kind;     /* K_OPEN connections started */
  uint32_t peak_open;
  int64_t last_t;
};

static int fail(const char *what) {
  fprintf(stderr, "tcpaudit-gen: %s: %s\n", what, strerror(errno));
  return -1;
}

/* ---- output ---- */

static int flush_out(struct gen *g) {
  size_t off = 0;
  while (off < g->used) {
    ssize_t n = write(g->fd, g->buf + off, g->used - off);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return fail("write");
    }
    off += (size_t)n;
  }
  g->used = 0;
  return 0;
}

static void put16(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static void put32le(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

/* One's-complement sum of big-endian 16-bit words (RFC 1071). */
static uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t len) {
  while (len >= 8) {
    sum += ((uint64_t)p[0] << 8 | p[1]) + ((uint64_t)p[2] << 8 | p[3]) +
           ((uint64_t)p[4] << 8 | p[5]) + ((uint64_t)p[6] << 8 | p[7]);
    p += 8;
    len -= 8;
  }
  while (len >= 2) {
    sum += (uint64_t)p[0] << 8 | p[1];
    p += 2;
    len -= 2;
  }
  if (len)
    sum += (uint64_t)p[0] << 8;
  return sum;
}

static uint16_t csum_fold(uint64_t sum) {
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)~sum;
}

/* Writes one frame of conn c from side d. */
static int emit(struct gen *g, struct conn *c, int d, uint8_t flags,
                uint32_t seq, uint32_t ack, uint32_t len, uint32_t win) {
  if (g->used + 16 + MAX_FRAME > OUT_BUF_SIZE && flush_out(g) < 0)
    return -1;
  int peer = !d;
  uint8_t *rec = g->buf + g->used, *f = rec + 16, *ip = f + 14;
  bool v6 = c->family == 6;
  size_t iphl = v6 ? 40 : 20;
  uint8_t *tcp = ip + iphl, *o = tcp + 20;

  /* TCP options */
  uint32_t tsval = c->ts_base[d] + (uint32_t)(c->t / 1000);
  if (flags & F_SYN) {
    uint16_t mss = c->mss_adv[d];
    if (c->os == OS_SCANNER && d == CLI) {
      memcpy(o, (uint8_t[]){2, 4, (uint8_t)(mss >> 8), (uint8_t)mss}, 4);
      o += 4;
    } else if (c->os == OS_WINDOWS && d == CLI) {
      memcpy(o, (uint8_t[]){2, 4, (uint8_t)(mss >> 8), (uint8_t)mss, 1, 3, 3,
                            c->wscale[d], 1, 1, 4, 2},
             12);
      o += 12;
    } else if (d == SRV && c->os == OS_SCANNER) {
      /* the probe offered only an MSS */
      memcpy(o, (uint8_t[]){2, 4, (uint8_t)(mss >> 8), (uint8_t)mss}, 4);
      o += 4;
    } else if (d == SRV && !c->use_ts) {
      /* Linux answering a peer without timestamps */
      memcpy(o, (uint8_t[]){2, 4, (uint8_t)(mss >> 8), (uint8_t)mss, 1, 1, 4,
                            2, 1, 3, 3, c->wscale[d]},
             12);
      o += 12;
    } else {
      /* Linux: mss, sackOK, TS, nop, wscale */
      memcpy(o, (uint8_t[]){2, 4, (uint8_t)(mss >> 8), (uint8_t)mss, 4, 2, 8,
                            10},
             8);
      put32(o + 8, tsval);
      put32(o + 12, (flags & F_ACK) ? c->ts_last[peer] : 0);
      memcpy(o + 16, (uint8_t[]){1, 3, 3, c->wscale[d]}, 4);
      o += 20;
    }
  } else if (c->use_ts && !(flags & F_RST)) {
    memcpy(o, (uint8_t[]){1, 1, 8, 10}, 4);
    put32(o + 4, tsval);
    put32(o + 8, c->ts_last[peer]);
    o += 12;
  }
  if ((flags & F_SYN) || (c->use_ts && !(flags & F_RST)))
    c->ts_last[d] = tsval;
  size_t thl = (size_t)(o - tcp);
  size_t tcplen = thl + len;

  /* Ethernet: locally administered MACs, one per side */
  static const uint8_t mac[2][6] = {{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01},
                                    {0x02, 0x00, 0x5e, 0x20, 0x00, 0x02}};
  memcpy(f, mac[peer], 6);
  memcpy(f + 6, mac[d], 6);
  put16(f + 12, v6 ? 0x86dd : 0x0800);

  uint64_t sum;
  if (v6) {
    put32(ip, 0x60000000u);
    put16(ip + 4, (uint32_t)tcplen);
    ip[6] = 6;
    ip[7] = c->ttl[d];
    memcpy(ip + 8, c->ip[d], 16);
    memcpy(ip + 24, c->ip[peer], 16);
    sum = csum_add(0, ip + 8, 32);
  } else {
    ip[0] = 0x45;
    ip[1] = 0;
    put16(ip + 2, (uint32_t)(20 + tcplen));
    put16(ip + 4, c->ipid[d]++);
    put16(ip + 6, c->os == OS_SCANNER && d == CLI ? 0 : 0x4000);
    ip[8] = c->ttl[d];
    ip[9] = 6;
    put16(ip + 10, 0);
    memcpy(ip + 12, c->ip[d], 4);
    memcpy(ip + 16, c->ip[peer], 4);
    put16(ip + 10, csum_fold(csum_add(0, ip, 20)));
    sum = csum_add(0, ip + 12, 8);
  }
  sum += 6 + tcplen;

  put16(tcp, c->port[d]);
  put16(tcp + 2, c->port[peer]);
  put32(tcp + 4, seq);
  put32(tcp + 8, (flags & F_ACK) ? ack : 0);
  tcp[12] = (uint8_t)(thl / 4 << 4);
  tcp[13] = flags;
  put16(tcp + 14, win);
  put16(tcp + 16, 0);
  put16(tcp + 18, 0);
  if (len)
    memcpy(tcp + thl, g->pattern + ((seq - c->isn[d]) & PATTERN_MASK), len);
  put16(tcp + 16, csum_fold(csum_add(sum, tcp, tcplen)));

  uint32_t flen = (uint32_t)(14 + iphl + tcplen);
  put32le(rec, (uint32_t)((EPOCH_US + c->t) / SEC));
  put32le(rec + 4, (uint32_t)((EPOCH_US + c->t) % SEC));
  put32le(rec + 8, flen);
  put32le(rec + 12, flen);
  g->used += 16 + flen;
  g->bytes += 16 + flen;
  uint64_t done = c->plan_left < 16 + flen ? c->plan_left : 16 + flen;
  c->plan_left -= done;
  g->pending_bytes -= done;
  g->packets++;
  g->last_t = c->t;
  return 0;
}

static void write_header(struct gen *g) {
  uint8_t *h = g->buf + g->used;
  put32le(h, 0xa1b2c3d4u);
  h[4] = 2, h[5] = 0, h[6] = 4, h[7] = 0; /* version 2.4 */
  put32le(h + 8, 0);
  put32le(h + 12, 0);
  put32le(h + 16, 262144);
  put32le(h + 20, 1); /* LINKTYPE_ETHERNET */
  g->used += 24;
  g->bytes += 24;
}

static void format_ip(char *buf, size_t len, int family, const uint8_t *ip) {
  inet_ntop(family == 6 ? AF_INET6 : AF_INET, ip, buf, (socklen_t)len);
}

static void write_label(struct gen *g, struct conn *c) {
  g->labelled++;
  if (!g->labels)
    return;
  char a[64], b[64];
  format_ip(a, sizeof a, c->family, c->ip[CLI]);
  format_ip(b, sizeof b, c->family, c->ip[SRV]);
  int64_t t = EPOCH_US + c->t;
  fprintf(g->labels, "%s\t%u\t%s\t%u\t%" PRId64 ".%06" PRId64 "\t%s\n", a,
          c->port[CLI], b, c->port[SRV], t / SEC, t % SEC, kind_label[c->kind]);
}

/* ---- sizes and plans ---- */

static uint32_t draw_response(const struct preset *p, struct rng *r) {
  if (rng_chance(r, p->p_bulk))
    return (uint32_t)rng_pareto(r, p->bulk_lo, p->bulk_hi, p->bulk_shape);
  return (uint32_t)rng_logu(r, p->small_lo, p->small_hi);
}

static uint32_t draw_request(const struct preset *p, struct rng *r) {
  if (rng_chance(r, p->p_upload))
    return (uint32_t)rng_logu(r, 2048, 512 * 1024);
  return (uint32_t)rng_logu(r, 60, 900);
}

static uint32_t draw_rounds(const struct preset *p, struct rng *r) {
  uint32_t n = 1 + (uint32_t)rng_exp(r, p->rounds_mean - 1.0);
  return n > MAX_ROUNDS ? MAX_ROUNDS : n;
}

static uint64_t est_xfer(uint32_t bytes, uint32_t mss, uint32_t hdr) {
  uint64_t nseg = (bytes + mss - 1) / mss;
  return bytes + nseg * hdr + (nseg + 1) / 2 * hdr;
}

/* ---- the heap ---- */

static bool hless(const struct hent *a, const struct hent *b) {
  return a->t < b->t || (a->t == b->t && a->order < b->order);
}

static void heap_down(struct gen *g, uint32_t i) {
  struct hent e = g->heap[i];
  for (;;) {
    uint32_t l = 2 * i + 1, m;
    if (l >= g->n_heap)
      break;
    m = (l + 1 < g->n_heap && hless(&g->heap[l + 1], &g->heap[l])) ? l + 1 : l;
    if (!hless(&g->heap[m], &e))
      break;
    g->heap[i] = g->heap[m];
    i = m;
  }
  g->heap[i] = e;
}

static int heap_push(struct gen *g, int64_t t, uint32_t idx) {
  if (g->n_heap == g->cap_heap) {
    uint32_t cap = g->cap_heap ? g->cap_heap * 2 : 4096;
    struct hent *h = realloc(g->heap, cap * sizeof *h);
    if (!h)
      return fail("realloc");
    g->heap = h;
    g->cap_heap = cap;
  }
  struct hent e = {t, g->order++, idx};
  uint32_t i = g->n_heap++;
  while (i > 0) {
    uint32_t parent = (i - 1) / 2;
    if (!hless(&e, &g->heap[parent]))
      break;
    g->heap[i] = g->heap[parent];
    i = parent;
  }
  g->heap[i] = e;
  if (g->n_heap > g->peak_open)
    g->peak_open = g->n_heap;
  return 0;
}

/* ---- connection setup ---- */

static int conn_alloc(struct gen *g, uint32_t *idx) {
  if (g->n_free) {
    *idx = g->free_idx[--g->n_free];
    return 0;
  }
  if (g->n_conns == g->cap_conns) {
    uint32_t cap = g->cap_conns ? g->cap_conns * 2 : 4096;
    struct conn *c = realloc(g->conns, cap * sizeof *c);
    uint32_t *fr = realloc(g->free_idx, cap * sizeof *fr);
    if (!c || !fr) {
      free(c ? c : g->conns);
      return fail("realloc");
    }
    g->conns = c;
    g->free_idx = fr;
    g->cap_conns = cap;
  }
  *idx = g->n_conns++;
  return 0;
}

/* 250 hosts per /24, never .0 or .255 */
static uint32_t host_v4(uint32_t base, uint32_t host) {
  return base + (host / 250) * 256 + 1 + host % 250;
}

static void client_addr(struct conn *c, uint32_t host) {
  if (c->family == 6) {
    static const uint8_t pfx[6] = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01};
    memset(c->ip[CLI], 0, 16);
    memcpy(c->ip[CLI], pfx, 6);
    put32(c->ip[CLI] + 12, host + 0x100);
  } else {
    put32(c->ip[CLI], host_v4(0x0a010000u, host)); /* 10.1.0.0/16 on */
  }
}

static void server_addr(struct conn *c, uint32_t host) {
  if (c->family == 6) {
    static const uint8_t pfx[6] = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0xff};
    memset(c->ip[SRV], 0, 16);
    memcpy(c->ip[SRV], pfx, 6);
    put32(c->ip[SRV] + 12, host + 0x10);
  } else {
    /* the three documentation ranges, 250 hosts each, then 100.64/10 */
    static const uint32_t nets[3] = {0xc0000200u, 0xc6336400u, 0xcb007100u};
    if (host < 750)
      put32(c->ip[SRV], host_v4(nets[host / 250], host % 250));
    else
      put32(c->ip[SRV], host_v4(0x64400000u, host - 750));
  }
}

static uint16_t service_port(struct rng *r) {
  static const uint16_t ports[] = {443, 443, 443, 443, 443, 443, 80, 80,
                                   22, 8080, 25, 3306, 5432, 993, 8443, 6379};
  return ports[rng_below(r, sizeof ports / sizeof ports[0])];
}

static uint16_t closed_port(struct rng *r) {
  static const uint16_t ports[] = {3389, 23, 445, 139, 8081, 9200, 5900,
                                   1433, 21, 11211, 27017, 6443};
  return ports[rng_below(r, sizeof ports / sizeof ports[0])];
}

static void new_isn(struct conn *c, int d) {
  c->isn[d] = (uint32_t)rng_next(&c->rr);
  c->nxt[d] = c->isn[d];
}

static uint8_t pick_kind(struct gen *g) {
  double total = 0;
  for (int k = 0; k <= K_SCAN; k++)
    total += g->p->mix[k];
  double u = rng_unit(&g->r) * total;
  for (int k = 0; k <= K_SCAN; k++) {
    if (u < g->p->mix[k])
      return (uint8_t)k;
    u -= g->p->mix[k];
  }
  return K_COMPLETED;
}

/* A scanner's next probe: it sweeps ports 1..SCAN_PORTS of one target
 * from one source port, then moves on. */
static void setup_scan(struct gen *g, struct conn *c) {
  const struct preset *p = g->p;
  struct scanner *s = &g->scanners[rng_below(&g->r, p->n_scanners)];
  if (s->next_port == 0 || s->next_port > SCAN_PORTS) {
    s->target = rng_below(&g->r, p->n_servers);
    s->next_port = 1;
    s->sport = (uint16_t)(1024 + rng_below(&g->r, 64000));
    s->filtered = rng_chance(&g->r, 0.3);
  }
  uint16_t port = s->next_port++;
  c->family = 4;
  c->os = OS_SCANNER;
  memcpy(c->ip[CLI], s->ip, 4);
  server_addr(c, s->target);
  c->port[CLI] = s->sport;
  c->port[SRV] = port;
  bool open = port == 22 || port == 80 || port == 443 || port == 25;
  if (open)
    c->kind = K_SCAN_OPEN;
  else if (s->filtered)
    c->kind = K_SCAN_FILTERED;
  else
    c->kind = K_SCAN_CLOSED;
  c->syn_left = 0;
  c->mss_adv[CLI] = 1460;
  c->win[CLI] = 1024;
  c->ttl[CLI] = (uint8_t)(37 + rng_below(&g->r, 20));
  c->use_ts = false;
}

static uint64_t plan_bytes(struct gen *g, struct conn *c) {
  uint32_t hdr = 14 + (c->family == 6 ? 40 : 20) + 20 + (c->use_ts ? 12 : 0);
  uint64_t b = 3 * (hdr + 16 + 8);
  struct rng r = c->rs; /* replay the sizes the connection will draw */
  for (uint32_t i = 0; i < c->rounds_left && c->kind <= K_OPEN; i++) {
    b += est_xfer(draw_request(g->p, &r), c->mss_adv[SRV], hdr + 16);
    b += est_xfer(draw_response(g->p, &r), c->mss_adv[CLI], hdr + 16);
  }
  switch (c->kind) {
  case K_REF_SAME:
  case K_UNANSWERED:
    return (uint64_t)(c->syn_left + 1) * 2 * (hdr + 16 + 8);
  case K_REF_FRESH:
    return (uint64_t)(c->attempts_left + 1) * 2 * (hdr + 16 + 8);
  default:
    return b + 4 * (hdr + 16);
  }
}

static int spawn(struct gen *g, int64_t t) {
  const struct preset *p = g->p;
  uint32_t idx = 0;
  if (conn_alloc(g, &idx) < 0)
    return -1;
  struct conn *c = &g->conns[idx];
  memset(c, 0, sizeof *c);
  c->t = t;
  c->seed = rng_next(&g->r);
  rng_seed(&c->rr, c->seed);
  rng_seed(&c->rs, ~c->seed);
  c->kind = pick_kind(g);
  if (c->kind == K_OPEN && g->open_kind++ >= p->max_open)
    c->kind = K_COMPLETED;
  c->family = rng_chance(&g->r, p->ipv6) ? 6 : 4;
  uint32_t client = rng_below(&g->r, p->n_clients);
  if (c->kind == K_REF_SAME) { /* retrying a refused connect is Windows' */
    if (g->n_windows)
      client = g->windows_clients[rng_below(&g->r, g->n_windows)];
    else
      c->kind = K_REF_FRESH;
  }
  c->os = g->client_os[client];
  c->use_ts = c->os == OS_LINUX;
  c->rtt = (int64_t)rng_logu(&g->r, 200, 150000);
  c->closer = (uint8_t)rng_below(&g->r, 2);
  c->fin_combined = rng_chance(&g->r, 0.5);
  c->finite = true;
  c->label_pending = true;
  uint32_t server = rng_below(&g->r, p->n_servers);
  client_addr(c, client);
  server_addr(c, server);
  c->port[CLI] = (uint16_t)(EPH_LO + g->client_port[client]);
  g->client_port[client] = (uint16_t)((g->client_port[client] + 1) % EPH_SPAN);
  c->port[SRV] = service_port(&g->r);
  bool v6 = c->family == 6;
  c->mss_adv[CLI] = v6 ? 1440 : 1460;
  c->mss_adv[SRV] = v6 ? 1440 : 1460;
  c->wscale[CLI] = c->os == OS_WINDOWS ? 8 : 7;
  c->wscale[SRV] = 7;
  c->win[CLI] = 64240;
  c->win[SRV] = 65160;
  c->ttl[CLI] = (uint8_t)((c->os == OS_WINDOWS ? 128 : 64) - 3 -
                          g->client_hops[client]);
  c->ttl[SRV] = 64;
  c->ipid[CLI] = (uint16_t)rng_next(&g->r);
  c->ipid[SRV] = (uint16_t)rng_next(&g->r);
  c->ts_base[CLI] = (uint32_t)rng_next(&g->r);
  c->ts_base[SRV] = (uint32_t)rng_next(&g->r);

  switch (c->kind) {
  case K_SCAN:
    setup_scan(g, c);
    break;
  case K_REF_SAME:
    /* Windows retries a refused connect twice, 0.5 s apart */
    c->port[SRV] = closed_port(&g->r);
    c->syn_left = 1 + rng_below(&g->r, 2);
    break;
  case K_REF_FRESH:
    c->port[SRV] = closed_port(&g->r);
    c->attempts_left = 1 + rng_below(&g->r, 2);
    break;
  case K_UNANSWERED:
    c->syn_left = 1 + rng_below(&g->r, 3);
    c->backoff = 1 * SEC;
    if (rng_chance(&g->r, 0.5))
      c->port[SRV] = closed_port(&g->r);
    break;
  default:
    c->rounds_left = draw_rounds(p, &g->r);
    if (c->kind == K_RESET || c->kind == K_HALF)
      c->rounds_left = 1 + (c->rounds_left > 1);
    if (c->kind == K_OPEN)
      c->rounds_left = 1;
    break;
  }
  if (g->max_conns && c->kind == K_REF_FRESH &&
      g->planned_conns + 1 + c->attempts_left > g->max_conns)
    c->attempts_left = (uint32_t)(g->max_conns - g->planned_conns - 1);
  g->planned_conns += 1 + c->attempts_left;
  c->plan_left = plan_bytes(g, c);
  g->pending_bytes += c->plan_left;
  g->by_kind[c->kind]++;
  new_isn(c, CLI);
  new_isn(c, SRV);
  c->phase = P_SYN;
  g->finite++;
  return heap_push(g, t, idx);
}

/* ---- transfers ---- */

/* The receiver ACKs every second segment and the last one. */
static void xfer_start(struct conn *c, uint8_t role, uint32_t bytes,
                       int64_t t) {
  struct xfer *x = &c->x;
  int d = role == ROLE_REQ ? CLI : SRV;
  memset(x, 0, sizeof *x);
  x->dir = (uint8_t)d;
  x->role = role;
  x->start_seq = c->nxt[d];
  x->total = bytes ? bytes : 1;
  /* payload per segment: the peer's MSS less the timestamp option */
  x->mss = (uint16_t)(c->mss_adv[!d] - (c->use_ts ? 12 : 0));
  x->nseg = (x->total + x->mss - 1) / x->mss;
  x->t0 = t;
  /* the sender's pace: 10 Mbit/s to 1 Gbit/s per connection */
  double bw = rng_logu(&c->rr, 10e6, 1e9);
  x->interval = (int64_t)((double)x->mss * 8.0 / bw * 1e6) + 1;
  /* capture at the server: the client's ACKs arrive a round trip later */
  x->ack_delay = d == SRV ? c->rtt : 40 + (int64_t)rng_below(&c->rr, 100);
  x->acks = !(role == ROLE_REQ && x->nseg == 1); /* else piggybacked */
  x->next_ack = x->nseg > 1 ? 1 : 0;
  x->retx_t = -1;
}

/* Slot k carries segment seg_at(k): pairs (even, odd) may be swapped. */
static uint32_t seg_at(const struct conn *c, const struct preset *p,
                       uint32_t k) {
  const struct xfer *x = &c->x;
  uint64_t lim = (uint64_t)(p->p_reorder * 18446744073709551616.0);
  uint32_t even = k & ~1u;
  if (even + 1 < x->nseg && hash2(c->seed, even * 2 + x->role) < lim)
    return k ^ 1u;
  return k;
}

static int64_t slot_time(const struct xfer *x, uint32_t k) {
  return x->t0 + (int64_t)k * x->interval;
}

static uint32_t seg_len(const struct xfer *x, uint32_t s) {
  uint32_t off = s * x->mss;
  return x->total - off < x->mss ? x->total - off : x->mss;
}

static int64_t xfer_next(const struct xfer *x, int64_t *td, int64_t *ta,
                         int64_t *tr) {
  *td = x->next_slot < x->nseg ? slot_time(x, x->next_slot) : INT64_MAX;
  *ta = x->acks && x->next_ack < x->nseg
            ? slot_time(x, x->next_ack) + x->ack_delay
            : INT64_MAX;
  *tr = x->retx_t >= 0 ? x->retx_t : INT64_MAX;
  int64_t t = *td < *ta ? *td : *ta;
  return t < *tr ? t : *tr;
}

/* Emits the transfer's packet due at c->t and sets c->t to the next one.
 * Returns 1 when the transfer is over (c->t is then its last packet). */
static int xfer_step(struct gen *g, struct conn *c) {
  struct xfer *x = &c->x;
  const struct preset *p = g->p;
  int d = x->dir, r = !d;
  int64_t td, ta, tr;
  c->t = xfer_next(x, &td, &ta, &tr);
  if (c->t == td) { /* data first on a tie, so ACKs follow their data */
    uint32_t k = x->next_slot++, s = seg_at(c, p, k);
    uint8_t fl = F_ACK | (s == x->nseg - 1 ? F_PSH : 0);
    if (emit(g, c, d, fl, x->start_seq + s * x->mss, c->rcv[d], seg_len(x, s),
             c->win[d] >> c->wscale[d]) < 0)
      return -1;
    uint64_t lim = (uint64_t)(p->p_retx * 18446744073709551616.0);
    if (x->retx_t < 0 && x->nseg > 2 &&
        hash2(c->seed ^ 0x5bd1e995u, (uint64_t)k * 2 + x->role) < lim) {
      /* a spurious retransmission: the copy follows a little later */
      x->retx_seg = s;
      x->retx_t = c->t + x->ack_delay + 2 * x->interval + 200;
    }
  } else if (c->t == ta) {
    uint32_t k = x->next_ack, end = (k + 1) * x->mss;
    c->rcv[r] = x->start_seq + (end < x->total ? end : x->total);
    if (emit(g, c, r, F_ACK, c->nxt[r], c->rcv[r], 0,
             c->win[r] >> c->wscale[r]) < 0)
      return -1;
    if (k + 2 < x->nseg)
      x->next_ack = k + 2;
    else if (k != x->nseg - 1)
      x->next_ack = x->nseg - 1;
    else
      x->next_ack = x->nseg;
  } else {
    uint32_t s = x->retx_seg;
    uint8_t fl = F_ACK | (s == x->nseg - 1 ? F_PSH : 0);
    if (emit(g, c, d, fl, x->start_seq + s * x->mss, c->rcv[d], seg_len(x, s),
             c->win[d] >> c->wscale[d]) < 0)
      return -1;
    x->retx_t = -1;
  }
  int64_t next = xfer_next(x, &td, &ta, &tr);
  if (next != INT64_MAX) {
    c->t = next;
    return 0;
  }
  c->nxt[d] = x->start_seq + x->total;
  c->rcv[r] = c->nxt[d];
  return 1;
}

/* ---- the connection state machine ---- */

/* Delay before side d reacts to a packet just seen at the capture point
 * (at the server): the client is a round trip away. */
static int64_t react(struct conn *c, int d) {
  if (d == CLI)
    return c->rtt + 20 + (int64_t)rng_below(&c->rr, 200);
  return 15 + (int64_t)rng_below(&c->rr, 120);
}

static void finish(struct gen *g, struct conn *c) {
  c->phase = P_DONE;
  g->pending_bytes -= c->plan_left;
  c->plan_left = 0;
  if (c->finite)
    g->finite--;
  c->finite = false;
}

static void start_round(struct gen *g, struct conn *c, int64_t t) {
  xfer_start(c, ROLE_REQ, draw_request(g->p, &c->rs), t);
  c->phase = P_XFER;
}

/* What follows a finished transfer. */
static void after_xfer(struct gen *g, struct conn *c) {
  const struct preset *p = g->p;
  int64_t t = c->t;
  if (c->x.role == ROLE_REQ) {
    if (c->kind == K_HALF && c->closer == CLI) {
      c->phase = P_FIN1; /* shutdown(SHUT_WR) after the request */
      c->t = t + 50 + rng_below(&c->rr, 500);
      return;
    }
    /* the server thinks, then answers */
    int64_t think = (int64_t)rng_logu(&c->rr, 100, 30000);
    xfer_start(c, ROLE_RESP, draw_response(p, &c->rs), t + think);
    c->t = c->x.t0;
    return;
  }
  if (c->rounds_left > 0)
    c->rounds_left--;
  switch (c->kind) {
  case K_OPEN:
    if (c->finite) { /* past the handshake: safe to cut off at any time */
      g->finite--;
      c->finite = false;
      g->pending_bytes -= c->plan_left;
      c->plan_left = 0;
    }
    start_round(g, c, t + (int64_t)rng_logu(&c->rr, 5 * SEC, 60 * SEC));
    c->t = c->x.t0;
    return;
  case K_RESET:
    if (c->rounds_left > 0)
      break;
    c->phase = P_RST;
    c->t = t + react(c, c->closer) + (int64_t)rng_logu(&c->rr, 100, 2 * SEC);
    return;
  case K_HALF:
    if (c->rounds_left > 0)
      break;
    c->phase = P_FIN1; /* the server closes; the client never will */
    c->t = t + react(c, SRV);
    return;
  default:
    break;
  }
  if (c->rounds_left > 0) {
    start_round(g, c, t + react(c, CLI) +
                          (int64_t)rng_logu(&c->rr, 10 * MS, 5 * SEC));
    c->t = c->x.t0;
    return;
  }
  c->phase = P_FIN1;
  if (c->closer == SRV) /* keep-alive expiry or HTTP/1.0-style close */
    c->t = t + (rng_chance(&c->rr, 0.4) ? react(c, SRV)
                                        : (int64_t)rng_logu(&c->rr, 1 * SEC,
                                                            15 * SEC));
  else
    c->t = t + react(c, CLI) + (int64_t)rng_logu(&c->rr, 1 * MS, 3 * SEC);
}

/* Emits conn c's next packet and schedules the one after. */
static int step(struct gen *g, struct conn *c) {
  int cl = c->closer, pe = !cl;
  switch (c->phase) {
  case P_SYN:
    if (c->label_pending) {
      write_label(g, c);
      c->label_pending = false;
    }
    if (emit(g, c, CLI, F_SYN, c->isn[CLI], 0, 0, c->win[CLI]) < 0)
      return -1;
    c->nxt[CLI] = c->isn[CLI] + 1;
    switch (c->kind) {
    case K_UNANSWERED:
    case K_SCAN_FILTERED:
      if (c->syn_left == 0) {
        finish(g, c);
        break;
      }
      c->syn_left--;
      c->t += c->backoff + (int64_t)rng_below(&c->rr, 5 * MS);
      c->backoff *= 2;
      break;
    case K_REF_SAME:
    case K_REF_FRESH:
    case K_SCAN_CLOSED:
      c->phase = P_REFUSE;
      c->t += react(c, SRV);
      break;
    default:
      c->phase = P_SYNACK;
      c->t += react(c, SRV);
    }
    return 0;
  case P_REFUSE:
    /* Linux: RST/ACK, seq 0, acking the SYN, window 0 */
    if (emit(g, c, SRV, F_RST | F_ACK, 0, c->isn[CLI] + 1, 0, 0) < 0)
      return -1;
    if (c->kind == K_REF_SAME && c->syn_left > 0) {
      c->syn_left--;
      c->phase = P_SYN;
      c->t += 500 * MS + (int64_t)rng_below(&c->rr, 3 * MS);
    } else if (c->kind == K_REF_FRESH && c->attempts_left > 0) {
      c->attempts_left--;
      new_isn(c, CLI);
      c->label_pending = true;
      c->phase = P_SYN;
      c->t += (int64_t)rng_logu(&c->rr, 200 * MS, 1500 * MS);
    } else {
      finish(g, c);
    }
    return 0;
  case P_SYNACK:
    c->rcv[SRV] = c->isn[CLI] + 1;
    if (emit(g, c, SRV, F_SYN | F_ACK, c->isn[SRV], c->rcv[SRV], 0,
             c->win[SRV]) < 0)
      return -1;
    c->nxt[SRV] = c->isn[SRV] + 1;
    c->phase = c->kind == K_SCAN_OPEN ? P_SCAN_RST : P_ACK;
    c->t += c->kind == K_SCAN_OPEN ? c->rtt : react(c, CLI);
    return 0;
  case P_SCAN_RST:
    if (emit(g, c, CLI, F_RST, c->nxt[CLI], 0, 0, 0) < 0)
      return -1;
    finish(g, c);
    return 0;
  case P_ACK:
    c->rcv[CLI] = c->nxt[SRV];
    if (emit(g, c, CLI, F_ACK, c->nxt[CLI], c->rcv[CLI], 0,
             c->win[CLI] >> c->wscale[CLI]) < 0)
      return -1;
    if (c->kind == K_ATC) {
      c->closer = SRV;
      c->phase = rng_chance(&c->rr, 0.2) ? P_RST : P_FIN1;
      c->t += (int64_t)rng_logu(&c->rr, 1 * SEC, 5 * SEC);
    } else {
      start_round(g, c, c->t + 5 + rng_below(&c->rr, 60));
      c->t = c->x.t0;
    }
    return 0;
  case P_XFER: {
    int rc = xfer_step(g, c);
    if (rc < 0)
      return -1;
    if (rc == 1)
      after_xfer(g, c);
    return 0;
  }
  case P_FIN1:
    if (emit(g, c, cl, F_FIN | F_ACK, c->nxt[cl], c->rcv[cl], 0,
             c->win[cl] >> c->wscale[cl]) < 0)
      return -1;
    c->nxt[cl]++;
    c->phase = c->kind != K_HALF && c->fin_combined ? P_FIN2 : P_FIN1_ACK;
    c->t += react(c, pe);
    return 0;
  case P_FIN1_ACK:
    c->rcv[pe] = c->nxt[cl];
    if (emit(g, c, pe, F_ACK, c->nxt[pe], c->rcv[pe], 0,
             c->win[pe] >> c->wscale[pe]) < 0)
      return -1;
    if (c->kind == K_HALF) {
      finish(g, c);
      return 0;
    }
    c->phase = P_FIN2;
    c->t += 30 + (int64_t)rng_logu(&c->rr, 10, 5 * MS);
    return 0;
  case P_FIN2:
    c->rcv[pe] = c->nxt[cl];
    if (emit(g, c, pe, F_FIN | F_ACK, c->nxt[pe], c->rcv[pe], 0,
             c->win[pe] >> c->wscale[pe]) < 0)
      return -1;
    c->nxt[pe]++;
    c->phase = P_LASTACK;
    c->t += react(c, cl);
    return 0;
  case P_LASTACK:
    c->rcv[cl] = c->nxt[pe];
    if (emit(g, c, cl, F_ACK, c->nxt[cl], c->rcv[cl], 0,
             c->win[cl] >> c->wscale[cl]) < 0)
      return -1;
    finish(g, c);
    return 0;
  case P_RST:
    if (emit(g, c, cl, F_RST | F_ACK, c->nxt[cl], c->rcv[cl], 0, 0) < 0)
      return -1;
    finish(g, c);
    return 0;
  default:
    finish(g, c);
    return 0;
  }
}

/* ---- main loop ---- */

static bool arrivals_done(const struct gen *g) {
  if (g->max_conns && g->planned_conns >= g->max_conns)
    return true;
  /* what was written, and what the connections under way will still add */
  return g->target_size && g->bytes + g->pending_bytes >= g->target_size;
}

static int run(struct gen *g) {
  const struct preset *p = g->p;
  int64_t next_arrival = 0;
  bool arriving = true;
  write_header(g);
  for (;;) {
    int64_t top = g->n_heap ? g->heap[0].t : INT64_MAX;
    if (arriving && next_arrival <= top) {
      if (spawn(g, next_arrival) < 0)
        return -1;
      next_arrival += (int64_t)rng_exp(&g->r, 1e6 / p->rate) + 1;
      if (arrivals_done(g))
        arriving = false;
      continue;
    }
    /* once only open connections remain, the capture ends */
    if (!g->n_heap || (!arriving && g->finite == 0))
      break;
    uint32_t idx = g->heap[0].idx;
    struct conn *c = &g->conns[idx];
    if (step(g, c) < 0)
      return -1;
    if (c->phase == P_DONE) {
      g->free_idx[g->n_free++] = idx;
      g->heap[0] = g->heap[--g->n_heap];
    } else {
      g->heap[0].t = c->t;
      g->heap[0].order = g->order++;
    }
    if (g->n_heap)
      heap_down(g, 0);
  }
  return flush_out(g);
}

/* ---- command line ---- */

static bool parse_size(const char *s, uint64_t *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || v < 0)
    return false;
  double mult = 1;
  switch (*end) {
  case 'k': case 'K': mult = 1024.0; end++; break;
  case 'm': case 'M': mult = 1048576.0; end++; break;
  case 'g': case 'G': mult = 1073741824.0; end++; break;
  default: break;
  }
  if (mult > 1 && *end == 'i')
    end++;
  if (*end == 'B')
    end++;
  if (*end)
    return false;
  *out = (uint64_t)(v * mult);
  return true;
}

static void usage(FILE *f) {
  fprintf(f,
          "usage: tcpaudit-gen [options] -o FILE.pcap\n"
          "Writes a reproducible synthetic capture of many interleaved TCP\n"
          "connections, and optionally the true scenario of each.\n\n"
          "  -o, --output FILE      capture to write ('-' for stdout)\n"
          "  -p, --preset NAME      workload (see below; default mixed)\n"
          "  -s, --size BYTES       stop starting connections near this size\n"
          "                         (k/M/G suffixes; default: the preset's)\n"
          "  -n, --connections N    stop after N connections\n"
          "                         (without --size: no size limit)\n"
          "      --seed N           random seed (default 1)\n"
          "  -l, --labels FILE      one line per connection: client ip, port,\n"
          "                         server ip, port, first packet time,\n"
          "                         scenario (tab-separated)\n"
          "  -q, --quiet            no summary on stderr\n\npresets:\n");
  for (size_t i = 0; i < N_PRESETS; i++)
    fprintf(f, "  %-18s %s\n", presets[i].name, presets[i].help);
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"output", required_argument, NULL, 'o'},
      {"preset", required_argument, NULL, 'p'},
      {"size", required_argument, NULL, 's'},
      {"connections", required_argument, NULL, 'n'},
      {"seed", required_argument, NULL, 'S'},
      {"labels", required_argument, NULL, 'l'},
      {"quiet", no_argument, NULL, 'q'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *out = NULL, *labels = NULL, *preset = "mixed";
  uint64_t size = 0, conns = 0, seed = 1;
  bool size_set = false, quiet = false;
  int ch;
  while ((ch = getopt_long(argc, argv, "o:p:s:n:l:qh", opts, NULL)) != -1) {
    char *end;
    switch (ch) {
    case 'o': out = optarg; break;
    case 'p': preset = optarg; break;
    case 'l': labels = optarg; break;
    case 'q': quiet = true; break;
    case 's':
      if (!parse_size(optarg, &size) || size == 0) {
        fprintf(stderr, "tcpaudit-gen: --size: bad size '%s'\n", optarg);
        return 2;
      }
      size_set = true;
      break;
    case 'n':
    case 'S': {
      errno = 0;
      unsigned long long v = strtoull(optarg, &end, 0);
      if (errno || *end || end == optarg || optarg[0] == '-' ||
          (ch == 'n' && v == 0)) {
        fprintf(stderr, "tcpaudit-gen: bad number '%s'\n", optarg);
        return 2;
      }
      if (ch == 'n')
        conns = v;
      else
        seed = v;
      break;
    }
    case 'h':
      usage(stdout);
      return 0;
    default:
      usage(stderr);
      return 2;
    }
  }
  if (!out || optind != argc) {
    usage(stderr);
    return 2;
  }
  struct gen *g = calloc(1, sizeof *g);
  if (!g)
    return 1;
  for (size_t i = 0; i < N_PRESETS; i++)
    if (!strcmp(presets[i].name, preset))
      g->p = &presets[i];
  if (!g->p) {
    fprintf(stderr, "tcpaudit-gen: unknown preset '%s'\n", preset);
    usage(stderr);
    return 2;
  }
  g->target_size = size_set ? size : conns ? 0 : g->p->size;
  g->max_conns = conns;
  rng_seed(&g->r, seed);
  for (size_t i = 0; i < sizeof g->pattern; i++)
    g->pattern[i] = (uint8_t)(rng_next(&g->r) >> 56);
  uint32_t nc = g->p->n_clients;
  g->client_port = calloc(nc, sizeof *g->client_port);
  g->client_os = calloc(nc, sizeof *g->client_os);
  g->client_hops = calloc(nc, sizeof *g->client_hops);
  g->windows_clients = calloc(nc, sizeof *g->windows_clients);
  g->scanners = calloc(g->p->n_scanners, sizeof *g->scanners);
  g->buf = malloc(OUT_BUF_SIZE);
  if (!g->client_port || !g->client_os || !g->client_hops ||
      !g->windows_clients || !g->scanners || !g->buf) {
    fail("malloc");
    return 1;
  }
  for (uint32_t i = 0; i < nc; i++) {
    g->client_port[i] = (uint16_t)rng_below(&g->r, EPH_SPAN);
    g->client_os[i] = rng_chance(&g->r, g->p->windows) ? OS_WINDOWS : OS_LINUX;
    g->client_hops[i] = (uint8_t)rng_below(&g->r, 15);
    if (g->client_os[i] == OS_WINDOWS)
      g->windows_clients[g->n_windows++] = i;
  }
  for (uint32_t i = 0; i < g->p->n_scanners; i++)
    put32(g->scanners[i].ip, 0xc6120000u + 0x101 + i * 7); /* 198.18/15 */

  g->fd = strcmp(out, "-") ? open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644)
                            : STDOUT_FILENO;
  if (g->fd < 0) {
    fail(out);
    return 1;
  }
  static char lbuf[1 << 20];
  if (labels) {
    g->labels = fopen(labels, "w");
    if (!g->labels) {
      fail(labels);
      return 1;
    }
    setvbuf(g->labels, lbuf, _IOFBF, sizeof lbuf);
  }
  int rc = run(g);
  if (g->fd != STDOUT_FILENO && close(g->fd) < 0 && rc == 0)
    rc = fail(out);
  if (g->labels && fclose(g->labels) != 0 && rc == 0)
    rc = fail(labels);
  if (rc == 0 && !quiet) {
    fprintf(stderr,
            "tcpaudit-gen: %s: %" PRIu64 " bytes, %" PRIu64 " packets, %" PRIu64
            " connections over %.1f s, at most %u open at once\n",
            out, g->bytes, g->packets, g->labelled,
            (double)g->last_t / 1e6, g->peak_open);
    for (int k = 0; k < K_COUNT; k++)
      if (g->by_kind[k])
        fprintf(stderr, "  %-22s %" PRIu64 "\n", kind_names[k], g->by_kind[k]);
  }
  free(g->conns);
  free(g->free_idx);
  free(g->heap);
  free(g->client_port);
  free(g->client_os);
  free(g->client_hops);
  free(g->windows_clients);
  free(g->scanners);
  free(g->buf);
  free(g);
  return rc == 0 ? 0 : 1;
}
