/* tcpaudit - hosts: per-host aggregates of finalized connections.
 * Open-addressing table keyed on the address; bounded in hosts and in
 * services per host, with overflow counted rather than dropped.
 *
 * A capture with a million connections has tens of thousands of hosts, most
 * of which only connect out a few times, to a few peers, with one or two
 * kinds of SYN. So a host is a 96-byte record holding that common case:
 * 16-bit counters, peer sketches with their few set bits inline, and
 * numbers (not pointers) of the parts only some hosts need, which live in
 * pools of fixed-size records: what it did as a responder,
 * 64-bit counters once a narrow one would overflow, sketch lists and
 * bitmaps, OS evidence. Each part comes in sizes, taken as a host needs the
 * next, since in a long capture each host's detail grows while the number
 * of hosts does not.
 * Reporters get the figures in plain form from ta_hosts_each.
 *
 * A connection is counted a few calls after it is added, once the steps
 * between have prefetched the records it touches (see struct pending). */
#define _GNU_SOURCE /* qsort_r */
#include "ta_hosts.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "ta_arena.h"
#include "ta_hash.h"
#include "ta_prefetch.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define HOSTS_DEFAULT_SCAN_FAILED 20  /* failed attempts as originator */
#define HOSTS_DEFAULT_SCAN_TARGETS 10 /* distinct host:port targets */
#define HOSTS_FIRST_SLOTS 1024u
#define HOSTS_MAX_SLOTS (1u << 26)
/* A slot holds the host's number + 1 in its low bits (at most
 * HOSTS_MAX_SLOTS hosts fit) and a few bits of the address hash above,
 * so that a probe rarely reads a host that is not the one sought. */
#define SLOT_NUM_BITS 27
#define SLOT_NUM_MASK ((1u << SLOT_NUM_BITS) - 1)

/* ------------------------------------------------------------------------ */
/* Pools: fixed-size records by number, carved from chunks that never move
 * (so the latency distributions reporters keep pointers to stay put), with
 * a free list threaded through released records. No per-record malloc
 * overhead, and a 4-byte number where a pointer would take 8. */

#define POOL_CHUNK 256u

struct pool {
  struct ta_arena *arena; /* where its chunks come from: the table's */
  size_t size;      /* bytes per record, at least 4 */
  uint32_t n;       /* records carved so far */
  uint32_t free;    /* first released record + 1, 0 when none */
  uint32_t n_chunks, cap_chunks;
  char **chunks;
};

/* Record i of p, whose records are size bytes: the pools read for every
 * connection pass their size as a constant, which saves a load and a
 * multiply each time. */
static void *pool_at_size(const struct pool *p, uint32_t i, size_t size) {
  return p->chunks[i / POOL_CHUNK] + (size_t)(i % POOL_CHUNK) * size;
}

static void *pool_at(const struct pool *p, uint32_t i) {
  return pool_at_size(p, i, p->size);
}

/* A zeroed record's number + 1; 0 when memory runs out. */
static uint32_t pool_get(struct pool *p) {
  uint32_t i;
  if (p->free) {
    i = p->free - 1;
    memcpy(&p->free, pool_at(p, i), sizeof p->free);
  } else {
    if (p->n == UINT32_MAX - 1)
      return 0;
    if (p->n % POOL_CHUNK == 0) {
      uint32_t c = p->n / POOL_CHUNK;
      if (c == p->cap_chunks) {
        uint32_t cap = p->cap_chunks ? p->cap_chunks * 2 : 8;
        char **chunks = realloc(p->chunks, cap * sizeof *chunks);
        if (!chunks)
          return 0;
        p->chunks = chunks;
        p->cap_chunks = cap;
      }
      /* whole cache lines: a host record spans two, never three */
      size_t bytes = (p->size * POOL_CHUNK + 63) & ~(size_t)63;
      if (!(p->chunks[c] = ta_arena_alloc(p->arena, bytes)))
        return 0;
      p->n_chunks = c + 1;
    }
    i = p->n++;
  }
  memset(pool_at(p, i), 0, p->size);
  return i + 1;
}

static void pool_put(struct pool *p, uint32_t ref) {
  memcpy(pool_at(p, ref - 1), &p->free, sizeof p->free);
  p->free = ref;
}

static void pool_init(struct pool *p, struct ta_arena *arena, size_t size) {
  p->arena = arena;
  p->size = size;
}

/* Its chunks go with the table's arena. */
static void pool_free(struct pool *p) { free(p->chunks); }

/* ------------------------------------------------------------------------ */
/* Records */

/* Connections by scenario: 16 bits each until one would pass 65535, then
 * all of them in 64 bits in the table's wide pool. */
struct counts {
  uint16_t n[TA_SC_COUNT];
  uint32_t wide; /* number + 1 of its uint64_t[TA_SC_COUNT], 0: narrow */
};

/* A linear-counting sketch of TA_HOST_SKETCH_BITS bits in one word: the
 * count of bits set in its low 10 bits; up to SKETCH_INLINE set, which
 * ones, 9 bits each, above them; past that the number + 1 of a record in
 * the high 32 bits: up to SKETCH_MID set, a 16-byte list of them in the
 * table's mids pool, then a bitmap in its bitmaps pool. Most hosts of a
 * long capture see a dozen peers or so, which the list holds in a quarter
 * of a bitmap; the estimate depends only on how many bits are set, so
 * every tier reports the same. */
typedef uint64_t sketch;
#define SKETCH_INLINE 6
#define SKETCH_MID 14 /* 7 values of 9 bits in each word of the list */
#define SKETCH_COUNT_MASK 0x3ffu

struct host {
  uint8_t ip[16];
  int64_t first_ts, last_ts;
  struct counts orig;     /* as originator */
  uint32_t resp;          /* its responder part's number + 1, 0: none */
  uint32_t ev;            /* its evidence run's number + 1, 0: none */
  sketch peers, targets;  /* as originator */
  uint64_t ev_overflow;   /* SYN/SYN-ACKs whose shape did not fit */
  uint8_t family;
  uint8_t n_ev;           /* evidence entries, in a run of exactly n_ev */
  bool ev_wide;           /* struct ta__fp_ev entries, else struct ev_narrow */
};

/* What a host did as a responder: most hosts of a capture only ever
 * connect out, so this is taken from a pool when a host first answers. */
struct responder {
  struct counts role;
  uint8_t n_services, cap_services;
  sketch peers, targets;
  uint64_t services_overflow; /* connections to ports past the cap */
  void *services; /* its services record, NULL when none */
};

/* A responder's services record holds the ports first (cap_services of
 * them), apart, so that finding one reads a line or two, then as many of
 * these, 2-byte aligned as the ports are (14 bytes, not 16). Most services
 * of a long capture are ports a scanner tried a few times, so their counts
 * are 8-bit until one would pass 255, then all of them 64-bit in the wide
 * pool. */
struct service {
  uint8_t n[TA_SC_COUNT];
  /* the number + 1 of its ta_svc_latency, 0: none measured; with
   * SVC_WIDE, n holds the number + 1 of its counts (see svc_lat) */
  uint16_t lat[2];
};
#define SVC_WIDE (1u << 31)

/* Room in a host's evidence run: two shapes (as most hosts of a capture
 * show), then all of them. Few sizes, as the records of a size that the
 * hosts outgrow wait in its pool for another host to take. */
#define EV_SIZES 2
static const uint8_t EV_ROOM[EV_SIZES] = {2, TA_FP_HOST_EVIDENCE};

static unsigned ev_size(unsigned n) { return n > EV_ROOM[0]; }

/* Evidence in 8 bytes rather than 16, while its connection id, packet
 * count and shape fit: in most captures all of them do, and a host of a
 * long one keeps TA_FP_HOST_EVIDENCE entries. */
struct ev_narrow {
  uint32_t conn;
  uint16_t packets;
  uint16_t shape_dir; /* as in struct ta__fp_ev */
};

/* A connection waiting to be counted: what counting it reads, copied, as
 * the connection itself is gone once ta_hosts_add returns. Hashes and
 * sketch bits are worked out once, when it arrives. */
struct pending {
  uint64_t hash[2];          /* addr_hash of each side's address */
  int64_t first_ts, last_ts;
  int64_t handshake;         /* ta_lat_handshake, -1 when not measured */
  uint64_t id;
  uint8_t ip[2][16];
  uint16_t port[2];
  /* each side as the other's peer: its bits in the peers and targets
   * sketches */
  uint16_t peer_bit[2], target_bit[2];
  uint8_t family, scenario;
  /* hints of the steps ahead (ta_hosts_add): the responder's service,
   * see service_for; each side's host as its slot suggested, then as
   * checked (NULL: none, or not known to be the one); the responder part
   * of the responding host and the service's latency as those steps found
   * them (NULL: none then). Records never move, so a pointer found once
   * saves working it out again at each step. */
  uint8_t svc_found, svc_looked;
  struct host *guess[2], *host[2];
  const struct responder *resp;
  const struct ta_svc_latency *lat;
  struct ta_syn_features syn[2]; /* syn.seen false: not copied */
  struct ta_lat_small response;  /* count 0: not copied */
};

/* Counting a connection reads the slot, then the host, then its responder
 * part, services, their latency blocks and evidence, each a likely cache
 * miss in a big table, and each found only from the one before. So connections wait in a ring and
 * move one step a call, each step reading what is now in cache and
 * prefetching the next, until PEND_DEPTH calls later they are counted,
 * in arrival order; every read of the table first counts those waiting. */
#define PEND_DEPTH 7 /* steps 0 to 6, see ta_hosts_add */
#define PEND_RING 8  /* a power of two above PEND_DEPTH */

/* Open addressing on slots (see SLOT_NUM_BITS), grown to stay at most half
 * full until it reaches max_slots. */
struct ta_hosts {
  uint32_t *slots;
  uint32_t mask, max_slots;
  uint64_t count, max, overflow;
  uint64_t seed;
  uint64_t scan_failed, scan_targets;
  struct pool hosts;      /* struct host, numbered in arrival order */
  struct pool responders; /* struct responder */
  struct pool wide;       /* uint64_t[TA_SC_COUNT] */
  struct pool mids;       /* uint64_t[2]: a sketch's SKETCH_MID values */
  struct pool bitmaps;    /* uint64_t[TA_HOST_SKETCH_BITS / 64] */
  struct pool latency;    /* struct ta_svc_latency */
  /* evidence runs of room for EV_ROOM[k] entries, narrow ([0]) or wide
   * ([1]): a host's run is moved to the next size when it finds a shape
   * past its room, and to wide entries when one no longer fits a narrow
   * one; the old one is reused */
  struct pool runs[2][EV_SIZES];
  struct ta_fp_shapes *shapes; /* features of the hosts' OS evidence */
  struct ta_arena arena; /* the pools' chunks, on huge pages: hosts are
                            reached in random order */
  uint32_t pend_head, n_pend;  /* oldest waiting connection, how many */
  struct pending pend[PEND_RING];
};

_Static_assert(sizeof(struct host) == 96, "a host spans two cache lines");
_Static_assert(TA_MAX_SERVICES_PER_HOST < 256, "service hints are 8-bit");
_Static_assert(TA_FP_HOST_EVIDENCE > 2, "two sizes of evidence run");
_Static_assert(TA_SC_COUNT >= 4, "a service's counts can hold a number");
_Static_assert(SKETCH_MID > 7 && SKETCH_MID <= 14, "a list is two words of 7");
_Static_assert(sizeof(struct service) >= 7 * sizeof(uint16_t),
               "a group of eight ports is read whole (service_find)");

static uint64_t mix(uint64_t x) { return ta_hash_mix64(x); }

static uint64_t addr_hash(uint64_t seed, uint8_t family, const uint8_t *ip) {
  uint64_t a = 0, b = 0;
  memcpy(&a, ip, 8);
  memcpy(&b, ip + 8, 8);
  return mix(mix(seed ^ a ^ family) ^ b);
}

static struct host *host_at(const struct ta_hosts *t, uint32_t n) {
  return pool_at_size(&t->hosts, n, sizeof(struct host));
}

/* The responder part numbered ref (+ 1, as hosts keep it). */
static struct responder *resp_at(const struct ta_hosts *t, uint32_t ref) {
  return pool_at_size(&t->responders, ref - 1, sizeof(struct responder));
}

static uint32_t slot_of(uint64_t hash, uint32_t num) {
  return (uint32_t)(hash >> (64 - (32 - SLOT_NUM_BITS))) << SLOT_NUM_BITS | num;
}

struct ta_hosts *ta_hosts_new(uint32_t max_hosts, uint64_t seed) {
  struct ta_hosts *t = calloc(1, sizeof *t);
  if (!t)
    return NULL;
  uint64_t n = HOSTS_FIRST_SLOTS;
  while (n < 2ull * max_hosts && n < HOSTS_MAX_SLOTS)
    n <<= 1;
  t->max_slots = (uint32_t)n;
  t->slots = calloc(HOSTS_FIRST_SLOTS, sizeof *t->slots);
  t->mask = HOSTS_FIRST_SLOTS - 1;
  t->max = max_hosts ? max_hosts : 1;
  ta_arena_init(&t->arena);
  pool_init(&t->hosts, &t->arena, sizeof(struct host));
  pool_init(&t->responders, &t->arena, sizeof(struct responder));
  pool_init(&t->wide, &t->arena, sizeof(uint64_t) * TA_SC_COUNT);
  pool_init(&t->mids, &t->arena, 2 * sizeof(uint64_t));
  pool_init(&t->bitmaps, &t->arena, TA_HOST_SKETCH_BITS / 8);
  pool_init(&t->latency, &t->arena, sizeof(struct ta_svc_latency));
  for (unsigned k = 0; k < EV_SIZES; k++) {
    pool_init(&t->runs[0][k], &t->arena,
              EV_ROOM[k] * sizeof(struct ev_narrow));
    pool_init(&t->runs[1][k], &t->arena,
              EV_ROOM[k] * sizeof(struct ta__fp_ev));
  }
  /* 0 asks for a random seed, as for the flow table: a capture must not be
   * able to choose addresses that collide */
  if (!seed && getrandom(&seed, sizeof seed, 0) != (ssize_t)sizeof seed)
    seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)t;
  t->seed = seed;
  t->shapes = ta_fp_shapes_new(mix(seed));
  if (!t->slots || !t->shapes) {
    ta_hosts_free(t);
    return NULL;
  }
  t->scan_failed = HOSTS_DEFAULT_SCAN_FAILED;
  t->scan_targets = HOSTS_DEFAULT_SCAN_TARGETS;
  return t;
}

void ta_hosts_set_scan_threshold(struct ta_hosts *t, uint64_t failed,
                                 uint64_t targets) {
  t->scan_failed = failed;
  t->scan_targets = targets;
}

void ta_hosts_scan_threshold(const struct ta_hosts *t, uint64_t *failed,
                             uint64_t *targets) {
  *failed = t->scan_failed;
  *targets = t->scan_targets;
}

/* Doubles the slots while they are more than half full; when memory runs
 * out the table simply stays fuller (probing still ends). */
static void maybe_grow(struct ta_hosts *t) {
  uint64_t size = (uint64_t)t->mask + 1;
  if (t->count * 2 < size || size >= t->max_slots)
    return;
  uint32_t *slots = calloc(size * 2, sizeof *slots);
  if (!slots)
    return;
  uint64_t mask = size * 2 - 1;
  for (uint32_t n = 0; n < t->count; n++) {
    const struct host *h = host_at(t, n);
    uint64_t hash = addr_hash(t->seed, h->family, h->ip);
    uint64_t i = hash & mask;
    while (slots[i])
      i = (i + 1) & mask;
    slots[i] = slot_of(hash, n + 1);
  }
  free(t->slots);
  t->slots = slots;
  t->mask = (uint32_t)mask;
}

static struct host *lookup(struct ta_hosts *t, uint64_t hash, uint8_t family,
                           const uint8_t *ip) {
  maybe_grow(t);
  uint32_t tag = slot_of(hash, 0);
  uint64_t i = hash & t->mask;
  for (uint64_t probes = 0; probes <= t->mask; probes++, i = (i + 1) & t->mask) {
    uint32_t slot = t->slots[i];
    struct host *h;
    if (!slot) {
      uint32_t ref;
      if (t->count >= t->max || !(ref = pool_get(&t->hosts)))
        return NULL;
      h = host_at(t, ref - 1);
      h->family = family;
      memcpy(h->ip, ip, 16);
      t->slots[i] = slot_of(hash, ref);
      t->count++;
      return h;
    }
    if ((slot & ~SLOT_NUM_MASK) != tag)
      continue;
    h = host_at(t, (slot & SLOT_NUM_MASK) - 1);
    if (h->family == family && memcmp(h->ip, ip, 16) == 0)
      return h;
  }
  return NULL;
}

/* ------------------------------------------------------------------------ */
/* Counters and sketches */

/* The number + 1 of a wide record holding the narrow counts n (of width
 * bytes each) with one more of sc; 0 when memory runs out. */
static uint32_t widen(struct ta_hosts *t, const void *n, size_t width, int sc) {
  uint32_t ref = pool_get(&t->wide);
  if (!ref)
    return 0;
  uint64_t *w = pool_at(&t->wide, ref - 1);
  for (int i = 0; i < TA_SC_COUNT; i++)
    w[i] = width == 1 ? ((const uint8_t *)n)[i] : ((const uint16_t *)n)[i];
  w[sc]++;
  return ref;
}

/* counts_add past the narrow common case. */
__attribute__((noinline)) static void counts_add_slow(struct ta_hosts *t,
                                                      struct counts *k,
                                                      int sc) {
  if (k->wide) {
    ((uint64_t *)pool_at(&t->wide, k->wide - 1))[sc]++;
    return;
  }
  uint32_t ref = widen(t, k->n, sizeof k->n[0], sc);
  if (ref) /* else out of memory: it stays at 65535 */
    k->wide = ref;
}

/* Inline for the narrow counter with room, as nearly every one is. */
static inline void counts_add(struct ta_hosts *t, struct counts *k, int sc) {
  if (!k->wide && k->n[sc] < UINT16_MAX) {
    k->n[sc]++;
    return;
  }
  counts_add_slow(t, k, sc);
}

/* Its counters and their sum. */
static uint64_t counts_read(const struct ta_hosts *t, const struct counts *k,
                            uint64_t by[TA_SC_COUNT]) {
  const uint64_t *w = k->wide ? pool_at(&t->wide, k->wide - 1) : NULL;
  uint64_t sum = 0;
  for (int i = 0; i < TA_SC_COUNT; i++)
    sum += by[i] = w ? w[i] : k->n[i];
  return sum;
}

static unsigned sketch_set(sketch s) { return (unsigned)(s & SKETCH_COUNT_MASK); }

static unsigned sketch_inline_bit(sketch s, unsigned i) {
  return (unsigned)(s >> (10 + 9 * i)) & 0x1ff;
}

static uint32_t sketch_ref(sketch s) { return (uint32_t)(s >> 32); }

static uint64_t *bitmap_at(const struct ta_hosts *t, sketch s) {
  return pool_at_size(&t->bitmaps, sketch_ref(s) - 1, TA_HOST_SKETCH_BITS / 8);
}

static uint64_t *mid_at(const struct ta_hosts *t, sketch s) {
  return pool_at_size(&t->mids, sketch_ref(s) - 1, 2 * sizeof(uint64_t));
}

/* Value i of a mid-tier list. */
static unsigned mid_bit(const uint64_t *list, unsigned i) {
  return (unsigned)(list[i / 7] >> (9 * (i % 7))) & 0x1ff;
}

static void mid_put(uint64_t *list, unsigned i, unsigned b) {
  list[i / 7] |= (uint64_t)b << (9 * (i % 7));
}

/* Whether one of the n (at most 7) 9-bit values packed from the low end
 * of word is b: the borrow trick of a zero lane, on the lanes in use only
 * (a borrow moves up, so the unused lanes above cannot flag a used one). */
static bool lanes_have(uint64_t word, unsigned n, unsigned b) {
  const uint64_t ones = 0x0040201008040201ull; /* bit 0 of 7 lanes */
  uint64_t x = word ^ (b * ones);
  uint64_t highs = (ones << 8) & ((1ull << (9 * n)) - 1);
  return ((x - ones) & ~x & highs) != 0;
}

static void bitmap_set(uint64_t *bits, unsigned b) {
  bits[b / 64] |= 1ull << (b % 64);
}

/* Moves the set values of *s (in a list of set values, got with get) to a
 * fresh record of pool to, in its form: put for a list, else a bitmap.
 * The new bit b is added, or on out of memory *s stays as it was. */
static void sketch_move(struct ta_hosts *t, sketch *s, unsigned b,
                        struct pool *to, const uint64_t *from_list) {
  unsigned set = sketch_set(*s);
  uint32_t ref = pool_get(to);
  if (!ref)
    return;
  uint64_t *rec = pool_at(to, ref - 1);
  bool list = to == &t->mids;
  for (unsigned i = 0; i <= set; i++) {
    unsigned k = i == set ? b
                 : from_list ? mid_bit(from_list, i)
                             : sketch_inline_bit(*s, i);
    if (list)
      mid_put(rec, i, k);
    else
      bitmap_set(rec, k);
  }
  if (from_list)
    pool_put(&t->mids, sketch_ref(*s));
  *s = (uint64_t)ref << 32 | (set + 1);
}

/* Sets bit b of a sketch in the bitmap tier. */
static inline void bitmap_add(const struct ta_hosts *t, sketch *s, unsigned b) {
  uint64_t *word = bitmap_at(t, *s) + b / 64, bit = 1ull << (b % 64);
  if (!(*word & bit)) {
    *word |= bit;
    (*s)++;
  }
}

/* sketch_add for a list, and for inline values that are full. */
__attribute__((noinline)) static void sketch_add_slow(struct ta_hosts *t,
                                                      sketch *s, unsigned b) {
  unsigned set = sketch_set(*s);
  if (set > SKETCH_MID) {
    bitmap_add(t, s, b);
    return;
  }
  if (set > SKETCH_INLINE) {
    uint64_t *list = mid_at(t, *s);
    if (lanes_have(list[0], 7, b) || lanes_have(list[1], set - 7, b))
      return;
    if (set < SKETCH_MID) {
      mid_put(list, set, b);
      (*s)++;
    } else {
      sketch_move(t, s, b, &t->bitmaps, list);
    }
    return;
  }
  if (!lanes_have(*s >> 10, set, b))
    sketch_move(t, s, b, &t->mids, NULL);
}

/* Sets bit b (below TA_HOST_SKETCH_BITS) of *s. Out of memory for the
 * next tier, the bit is not counted: the estimate is a lower bound anyway.
 * Four calls a connection. Inline while the values fit in *s, as they do
 * for most hosts, and in a bitmap: the few hosts that have one (scanners,
 * busy servers and clients) take most calls, nine in ten on a capture of
 * short connections. */
static inline void sketch_add(struct ta_hosts *t, sketch *s, unsigned b) {
  unsigned set = sketch_set(*s);
  if (set > SKETCH_MID) {
    bitmap_add(t, s, b);
    return;
  }
  if (set >= SKETCH_INLINE) {
    sketch_add_slow(t, s, b);
    return;
  }
  if (!lanes_have(*s >> 10, set, b))
    *s = (*s | (uint64_t)b << (10 + 9 * set)) + 1;
}

uint64_t ta_host_sketch_estimate(unsigned set) {
  if (set == 0)
    return 0;
  if (set >= TA_HOST_SKETCH_BITS)
    set = TA_HOST_SKETCH_BITS - 1; /* saturated: report the bound */
  double m = TA_HOST_SKETCH_BITS;
  return (uint64_t)llround(-m * log((m - set) / m));
}

/* The bits of one side, as the other's peer and target, hashed once for
 * both. */
static void peer_bits(struct pending *p, int dir) {
  uint64_t a = 0, b = 0;
  memcpy(&a, p->ip[dir], 8);
  memcpy(&b, p->ip[dir] + 8, 8);
  uint64_t key = mix(a ^ mix(b));
  p->peer_bit[dir] = (uint16_t)(mix(key) % TA_HOST_SKETCH_BITS);
  p->target_bit[dir] =
      (uint16_t)(mix(key ^ p->port[dir] * 0x9e3779b97f4a7c15ull) %
                 TA_HOST_SKETCH_BITS);
}

static void count_peer(struct ta_hosts *t, sketch *peers, sketch *targets,
                       const struct pending *p, int peer) {
  sketch_add(t, peers, p->peer_bit[peer]);
  sketch_add(t, targets, p->target_bit[peer]);
}

static void count_times(struct host *h, const struct pending *p) {
  if (!h->first_ts || p->first_ts < h->first_ts)
    h->first_ts = p->first_ts;
  if (p->last_ts > h->last_ts)
    h->last_ts = p->last_ts;
}

/* ------------------------------------------------------------------------ */
/* Responders and services */

static size_t svc_offset(uint32_t cap) { return cap * sizeof(uint16_t); }

static uint16_t *svc_ports(const struct responder *r) { return r->services; }

static struct service *svc_at(const struct responder *r, uint32_t i) {
  return (struct service *)((char *)r->services +
                            svc_offset(r->cap_services)) + i;
}

/* Room for one more service: doubling while small, then 4 more, then 8
 * more at a time, so a host with 20 ports does not carry room for 32. The
 * record comes from malloc rather than a pool of each size: the hosts of a
 * capture grow their services side by side, and pools would keep every
 * size's records they outgrew, where malloc merges them. */
static bool services_room(struct responder *r) {
  if (r->n_services < r->cap_services)
    return true;
  uint32_t cap = r->cap_services;
  cap = cap < 8 ? (cap ? cap * 2 : 2) : cap < 24 ? cap + 4 : cap + 8;
  if (cap > TA_MAX_SERVICES_PER_HOST)
    cap = TA_MAX_SERVICES_PER_HOST;
  char *grown = malloc(svc_offset(cap) + cap * sizeof(struct service));
  if (!grown)
    return false;
  if (r->services) {
    memcpy(grown, r->services, r->n_services * sizeof(uint16_t));
    memcpy(grown + svc_offset(cap), svc_at(r, 0),
           r->n_services * sizeof(struct service));
    free(r->services);
  }
  r->services = grown;
  r->cap_services = (uint8_t)cap;
  return true;
}

static uint32_t svc_lat(const struct service *s) {
  uint32_t v;
  memcpy(&v, s->lat, sizeof v);
  return v;
}

static void svc_lat_set(struct service *s, uint32_t v) {
  memcpy(s->lat, &v, sizeof v);
}

/* Connections by scenario of a service, as counts_add and counts_read do
 * for 16-bit counters. */
static uint64_t *svc_wide(const struct ta_hosts *t, const struct service *s) {
  uint32_t ref;
  memcpy(&ref, s->n, sizeof ref);
  return pool_at(&t->wide, ref - 1);
}

static void svc_count(struct ta_hosts *t, struct service *s, int sc) {
  if (svc_lat(s) & SVC_WIDE) {
    svc_wide(t, s)[sc]++;
    return;
  }
  if (s->n[sc] < UINT8_MAX) {
    s->n[sc]++;
    return;
  }
  uint32_t ref = widen(t, s->n, sizeof s->n[0], sc);
  if (!ref)
    return; /* out of memory: it stays at 255 */
  memcpy(s->n, &ref, sizeof ref);
  svc_lat_set(s, svc_lat(s) | SVC_WIDE);
}

static void svc_read(const struct ta_hosts *t, const struct service *s,
                     uint64_t by[TA_SC_COUNT]) {
  const uint64_t *w = svc_lat(s) & SVC_WIDE ? svc_wide(t, s) : NULL;
  for (int i = 0; i < TA_SC_COUNT; i++)
    by[i] = w ? w[i] : s->n[i];
}

/* Its latency distributions, NULL when none measured. */
static struct ta_svc_latency *svc_latency(const struct ta_hosts *t,
                                          const struct service *s) {
  uint32_t ref = svc_lat(s) & ~SVC_WIDE;
  return ref ? pool_at_size(&t->latency, ref - 1, sizeof(struct ta_svc_latency))
             : NULL;
}

/* Index of port among r's services from the from-th on, n_services when
 * none has it. A busy server answers on dozens of ports, and a scanned one
 * is asked for ports it does not hold, so every one of them is compared. */
#ifdef __SSE2__
/* Eight at a time. A group is read whole: the ports after the last one
 * are room (struct responder's services record has cap_services >= n
 * ports, then at least 14 bytes a service), whatever they hold matches
 * no earlier lane and is told apart by its index. */
static uint32_t service_find(const struct responder *r, uint16_t port,
                             uint32_t from) {
  uint32_t n = r->n_services;
  if (from >= n)
    return n;
  const uint16_t *ports = svc_ports(r);
  const __m128i want = _mm_set1_epi16((short)port);
  uint32_t i = from & ~7u;
  unsigned hit = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi16(
                     _mm_loadu_si128((const __m128i *)(const void *)(ports + i)),
                     want)) &
                 (0xffffu << 2 * (from & 7));
  while (!hit) {
    if ((i += 8) >= n)
      return n;
    hit = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi16(
        _mm_loadu_si128((const __m128i *)(const void *)(ports + i)), want));
  }
  i += (uint32_t)__builtin_ctz(hit) / 2;
  return i < n ? i : n;
}
#else
/* Four at a time: a 16-bit lane of x is zero where the port is, and the
 * lowest lane flagged by the borrow trick is exact. */
static uint32_t service_find(const struct responder *r, uint16_t port,
                             uint32_t from) {
  const uint16_t *ports = svc_ports(r);
  const uint64_t ones = 0x0001000100010001ull, highs = ones << 15;
  uint32_t i = from, n = r->n_services;
  for (; i + 4 <= n; i += 4) {
    uint64_t x;
    memcpy(&x, ports + i, sizeof x);
    x ^= port * ones;
    uint64_t zero = (x - ones) & ~x & highs;
    if (zero)
      return i + (uint32_t)__builtin_ctzll(zero) / 16;
  }
  while (i < n && ports[i] != port)
    i++;
  return i;
}
#endif

/* The hints of a look ahead (struct pending): found, the index + 1; else
 * how many ports were looked at, none of them the one. Ports are only ever
 * appended, so both stay true. A port becomes a service only with a
 * connection it took (`takes`): refusals and unanswered SYNs alone make
 * none, so that the ports a scanner tried do not fill a host's slots
 * before the ports it serves, nor hold memory for nothing. */
static struct service *service_for(struct responder *r, uint16_t port,
                                   uint8_t found, uint8_t looked, bool takes) {
  if (found)
    return svc_at(r, found - 1u);
  uint32_t i = service_find(r, port, looked);
  if (i < r->n_services)
    return svc_at(r, i);
  if (!takes || r->n_services >= TA_MAX_SERVICES_PER_HOST || !services_room(r))
    return NULL;
  svc_ports(r)[r->n_services] = port;
  struct service *s = svc_at(r, r->n_services++);
  memset(s, 0, sizeof *s);
  return s;
}

/* Adds the connection's handshake round trip and response times to its
 * service; the distributions are taken with the first measurement. */
static void service_latency(struct ta_hosts *t, struct service *s,
                            const struct pending *p) {
  if (p->handshake < 0 && p->response.count == 0)
    return;
  struct ta_svc_latency *l = svc_latency(t, s);
  if (!l) {
    uint32_t ref = pool_get(&t->latency);
    if (!ref || ref & SVC_WIDE)
      return; /* out of memory: the counts still stand */
    svc_lat_set(s, svc_lat(s) | ref);
    l = pool_at(&t->latency, ref - 1);
  }
  if (p->handshake >= 0)
    ta_lat_dist_add(&l->handshake, p->handshake);
  ta_lat_dist_merge(&l->response, &p->response);
}

/* False only when the responder part could not be had. */
static bool count_resp(struct ta_hosts *t, struct host *h,
                       const struct pending *p) {
  if (!h->resp && !(h->resp = pool_get(&t->responders)))
    return false;
  struct responder *r = resp_at(t, h->resp);
  counts_add(t, &r->role, p->scenario);
  count_peer(t, &r->peers, &r->targets, p, TA_DIR_ORIG);
  count_times(h, p);
  bool takes =
      p->scenario != TA_SC_REFUSED && p->scenario != TA_SC_UNANSWERED;
  struct service *s = service_for(r, p->port[TA_DIR_RESP], p->svc_found,
                                  p->svc_looked, takes);
  if (s) {
    svc_count(t, s, p->scenario);
    service_latency(t, s, p);
  } else if (takes) { /* past the cap, or out of memory */
    r->services_overflow++;
  }
  return true;
}

static void count_orig(struct ta_hosts *t, struct host *h,
                       const struct pending *p) {
  counts_add(t, &h->orig, p->scenario);
  count_peer(t, &h->peers, &h->targets, p, TA_DIR_RESP);
  count_times(h, p);
}

/* ------------------------------------------------------------------------ */
/* OS evidence */

static struct pool *ev_pool(struct ta_hosts *t, bool wide, unsigned n) {
  return &t->runs[wide][ev_size(n)];
}

static void *ev_run(const struct ta_hosts *t, const struct host *h) {
  return h->n_ev ? pool_at(&t->runs[h->ev_wide][ev_size(h->n_ev)], h->ev - 1)
                 : NULL;
}

static size_t ev_bytes(const struct host *h) {
  return h->n_ev * (h->ev_wide ? sizeof(struct ta__fp_ev)
                               : sizeof(struct ev_narrow));
}

static bool ev_fits_narrow(const struct ta__fp_ev *e) {
  return e->conn_hi == 0 && e->packets_hi == 0 &&
         e->packets_lo <= UINT16_MAX && e->shape_dir <= UINT16_MAX;
}

/* Entry i of a run, in the wide form. */
static void ev_get(struct ta__fp_ev *e, const void *run, bool wide,
                   unsigned i) {
  if (wide) {
    *e = ((const struct ta__fp_ev *)run)[i];
    return;
  }
  const struct ev_narrow *n = (const struct ev_narrow *)run + i;
  e->conn_lo = n->conn;
  e->conn_hi = 0;
  e->packets_lo = n->packets;
  e->packets_hi = 0;
  e->shape_dir = n->shape_dir;
}

/* Stores e, which fits the run's form, as entry i. */
static void ev_put(void *run, bool wide, unsigned i,
                   const struct ta__fp_ev *e) {
  if (wide) {
    ((struct ta__fp_ev *)run)[i] = *e;
    return;
  }
  struct ev_narrow *n = (struct ev_narrow *)run + i;
  n->conn = e->conn_lo;
  n->packets = (uint16_t)e->packets_lo;
  n->shape_dir = (uint16_t)e->shape_dir;
}

/* Moves h's entries to a run with room for n (h->n_ev or one more) in the
 * form wide (which h's form does not exceed); NULL when memory runs out, h
 * as it was. */
static void *ev_move(struct ta_hosts *t, struct host *h, bool wide,
                     unsigned n) {
  struct pool *to = ev_pool(t, wide, n);
  uint32_t ref = pool_get(to);
  if (!ref)
    return NULL;
  void *grown = pool_at(to, ref - 1), *run = ev_run(t, h);
  if (run && wide == h->ev_wide) {
    memcpy(grown, run, ev_bytes(h));
  } else if (run) {
    for (unsigned i = 0; i < h->n_ev; i++) {
      struct ta__fp_ev e;
      ev_get(&e, run, false, i);
      ev_put(grown, true, i, &e);
    }
  }
  if (run)
    pool_put(ev_pool(t, h->ev_wide, h->n_ev), h->ev);
  h->ev = ref;
  h->ev_wide = wide;
  return grown;
}

/* One more packet of entry i; out of memory for the wide form, a narrow
 * count stays at 65535. */
static void ev_count(struct ta_hosts *t, struct host *h, void *run,
                     unsigned i) {
  if (!h->ev_wide) {
    struct ev_narrow *n = (struct ev_narrow *)run + i;
    if (n->packets < UINT16_MAX) {
      n->packets++;
      return;
    }
    if (!(run = ev_move(t, h, true, h->n_ev)))
      return;
  }
  ta__fp_ev_count((struct ta__fp_ev *)run + i);
}

/* Whether the shape of evidence whose shape_dir is sd is syn's, whose
 * group head is head (see ta__fp_shape_find). */
static inline bool ev_is(const uint64_t *groups, uint32_t sd, uint64_t head,
                         const struct ta_syn_features *syn) {
  const uint64_t *g = groups + (size_t)(sd >> 1) * TA__FP_GROUP_WORDS;
  return g[0] == head && ta__fp_group_layout_is(g, syn);
}

/* ta__fp_shape_find over h's entries as they are held. A host whose
 * entries are all taken sees most of its SYNs of yet another shape
 * compared with every one: a compare of heads each. */
static unsigned ev_find(const struct ta_hosts *t, const struct host *h,
                        const void *run, const struct pending *p, int dir) {
  const struct ta_syn_features *syn = &p->syn[dir];
  unsigned i = 0, n = h->n_ev;
  if (n == 0)
    return 0;
  uint64_t head = ta__fp_syn_group_head(syn, p->family);
  const uint64_t *groups = ta__fp_shapes_groups(t->shapes);
  if (h->ev_wide) {
    const struct ta__fp_ev *e = run;
    while (i < n && !ev_is(groups, e[i].shape_dir, head, syn))
      i++;
  } else {
    const struct ev_narrow *e = run;
    while (i < n && !ev_is(groups, e[i].shape_dir, head, syn))
      i++;
  }
  return i;
}

static void count_evidence(struct ta_hosts *t, struct host *h,
                           const struct pending *p, int dir) {
  const struct ta_syn_features *syn = &p->syn[dir];
  if (!syn->seen)
    return;
  void *run = ev_run(t, h);
  unsigned i = ev_find(t, h, run, p, dir);
  if (i < h->n_ev) {
    ev_count(t, h, run, i);
    return;
  }
  struct ta__fp_ev e;
  if (h->n_ev >= TA_FP_HOST_EVIDENCE ||
      !ta__fp_ev_start(&e, t->shapes, syn, p->family, p->id, dir)) {
    h->ev_overflow++;
    return;
  }
  bool wide = h->ev_wide || !ev_fits_narrow(&e);
  if ((!run || wide != h->ev_wide ||
       ev_size(h->n_ev + 1u) != ev_size(h->n_ev)) &&
      !(run = ev_move(t, h, wide, h->n_ev + 1u))) {
    h->ev_overflow++;
    return;
  }
  ev_put(run, wide, h->n_ev++, &e);
}

static void count_pending(struct ta_hosts *t, const struct pending *p) {
  for (int dir = 0; dir < 2; dir++) {
    struct host *h = p->host[dir] ? p->host[dir]
                                  : lookup(t, p->hash[dir], p->family, p->ip[dir]);
    if (!h || (dir == TA_DIR_RESP && !count_resp(t, h, p))) {
      t->overflow++;
      continue;
    }
    if (dir == TA_DIR_ORIG)
      count_orig(t, h, p);
    count_evidence(t, h, p, dir);
  }
}

/* ------------------------------------------------------------------------ */
/* Counting ahead: the steps that prefetch what a waiting connection will
 * touch. They only read the table as it is now and change nothing, so a
 * guess gone stale (the slots grew, a connection before this one added the
 * host or a service) costs a wasted prefetch, never a wrong count. Their
 * prefetches are ta_prefetch, which the compiler keeps: with
 * __builtin_prefetch alone, GCC dropped step 3 and the sketches' prefetches
 * of step 2 whole (see ta_prefetch.h). */

static void prefetch2(const void *a, size_t len) {
  ta_prefetch(a);
  ta_prefetch((const char *)a + len - 1);
}

/* Every line of len bytes at a: a busy server's ports take three. */
static void prefetch_lines(const void *a, size_t len) {
  const char *c = a;
  for (size_t at = 0; at < len; at += 64)
    ta_prefetch(c + at);
  if (len)
    ta_prefetch(c + len - 1);
}

static inline void prefetch_sketch(const struct ta_hosts *t, sketch s) {
  unsigned set = sketch_set(s);
  if (set > SKETCH_MID)
    ta_prefetch(bitmap_at(t, s));
  else if (set > SKETCH_INLINE)
    ta_prefetch(mid_at(t, s));
}

/* The host number + 1 the first slot of the hash's tag gives, 0 when none
 * does within a few probes. */
static uint32_t guess_host(const struct ta_hosts *t, uint64_t hash) {
  uint32_t tag = slot_of(hash, 0);
  uint64_t i = hash & t->mask;
  for (int probes = 0; probes < 8; probes++, i = (i + 1) & t->mask) {
    uint32_t slot = t->slots[i];
    if (!slot)
      return 0;
    if ((slot & ~SLOT_NUM_MASK) == tag)
      return slot & SLOT_NUM_MASK;
  }
  return 0;
}

/* The host guessed for side dir, if it is the one. A host keeps its
 * number, so later steps and the count need not check again. */
static struct host *guess_check(struct pending *p, int dir) {
  struct host *h = p->guess[dir];
  if (!h || h->family != p->family || memcmp(h->ip, p->ip[dir], 16) != 0)
    return NULL;
  return p->host[dir] = h;
}

/* Step 1, slots read: the hosts. */
static void step1_hosts(const struct ta_hosts *t, struct pending *p) {
  for (int dir = 0; dir < 2; dir++) {
    uint32_t n = guess_host(t, p->hash[dir]);
    p->guess[dir] = n ? host_at(t, n - 1) : NULL;
    if (n)
      prefetch2(p->guess[dir], sizeof(struct host));
  }
}

/* Step 2, hosts read: their responder part, evidence, bitmaps. */
static void step2_parts(const struct ta_hosts *t, struct pending *p) {
  for (int dir = 0; dir < 2; dir++) {
    const struct host *h = guess_check(p, dir);
    if (!h)
      continue;
    if (h->n_ev && p->syn[dir].seen)
      prefetch2(ev_run(t, h), ev_bytes(h));
    if (dir == TA_DIR_RESP && h->resp)
      ta_prefetch(p->resp = resp_at(t, h->resp));
    if (dir == TA_DIR_ORIG) {
      prefetch_sketch(t, h->peers);
      prefetch_sketch(t, h->targets);
    }
  }
}

/* Step 3, responder part read: its ports and bitmaps. */
static void step3_ports(const struct ta_hosts *t, const struct pending *p) {
  const struct responder *r = p->resp;
  if (!r)
    return;
  if (r->n_services)
    prefetch_lines(svc_ports(r), r->n_services * sizeof(uint16_t));
  prefetch_sketch(t, r->peers);
  prefetch_sketch(t, r->targets);
}

/* Step 4, ports read: the service, found once for the count too. */
static void step4_service(struct pending *p) {
  const struct responder *r = p->resp;
  if (!r)
    return;
  uint32_t i = service_find(r, p->port[TA_DIR_RESP], 0);
  if (i < r->n_services) {
    p->svc_found = (uint8_t)(i + 1);
    ta_prefetch(svc_at(r, i));
  } else {
    p->svc_looked = (uint8_t)i;
  }
}

/* Step 5, service read: its latency distributions, when the connection
 * adds to them. */
static void step5_latency(const struct ta_hosts *t, struct pending *p) {
  if (!p->svc_found || (p->handshake < 0 && !p->response.count))
    return;
  const struct ta_svc_latency *l =
      svc_latency(t, svc_at(p->resp, p->svc_found - 1u));
  if (l)
    prefetch2(p->lat = l, sizeof *l);
}

/* Step 6, distributions read: the blocks holding their values, which
 * adding a sample walks from the start. */
static void step6_blocks(const struct pending *p) {
  if (!p->lat)
    return;
  if (p->handshake >= 0)
    ta_lat_dist_prefetch(&p->lat->handshake);
  if (p->response.count)
    ta_lat_dist_prefetch(&p->lat->response);
}

/* Step 0: copies what counting c reads, and prefetches its slots. */
static void pending_fill(const struct ta_hosts *t, struct pending *p,
                         const struct ta_conn *c) {
  p->family = c->family;
  p->scenario = c->scenario;
  p->first_ts = c->first_ts;
  p->last_ts = c->last_ts;
  p->id = c->id;
  p->svc_found = p->svc_looked = 0;
  p->guess[0] = p->guess[1] = p->host[0] = p->host[1] = NULL;
  p->resp = NULL;
  p->lat = NULL;
  p->handshake = ta_lat_handshake(&c->lat);
  if (c->lat.response.count)
    p->response = c->lat.response;
  else
    p->response.count = 0;
  for (int dir = 0; dir < 2; dir++) {
    const struct ta_side *side = &c->side[dir];
    memcpy(p->ip[dir], side->ip, 16);
    p->port[dir] = side->port;
    if (side->syn.seen)
      p->syn[dir] = side->syn;
    else
      p->syn[dir].seen = false;
    p->hash[dir] = addr_hash(t->seed, p->family, p->ip[dir]);
    ta_prefetch(&t->slots[p->hash[dir] & t->mask]);
    peer_bits(p, dir);
  }
}

static struct pending *pending_at(struct ta_hosts *t, uint32_t k) {
  return &t->pend[(t->pend_head + k) % PEND_RING];
}

/* Counts every connection still waiting. */
static void drain(struct ta_hosts *t) {
  for (; t->n_pend; t->n_pend--) {
    count_pending(t, pending_at(t, 0));
    t->pend_head = (t->pend_head + 1) % PEND_RING;
  }
}

/* Each waiting connection takes its next step: n, the connections waiting
 * with c, is the age of the oldest + 1. */
void ta_hosts_add(struct ta_hosts *t, const struct ta_conn *c) {
  uint32_t n = ++t->n_pend;
  pending_fill(t, pending_at(t, n - 1), c);
  if (n > 1)
    step1_hosts(t, pending_at(t, n - 2));
  if (n > 2)
    step2_parts(t, pending_at(t, n - 3));
  if (n > 3)
    step3_ports(t, pending_at(t, n - 4));
  if (n > 4)
    step4_service(pending_at(t, n - 5));
  if (n > 5)
    step5_latency(t, pending_at(t, n - 6));
  if (n > 6)
    step6_blocks(pending_at(t, n - 7));
  if (n > PEND_DEPTH) {
    count_pending(t, pending_at(t, 0));
    t->pend_head = (t->pend_head + 1) % PEND_RING;
    t->n_pend--;
  }
}

void ta_hosts_flush(struct ta_hosts *t) { drain(t); }

/* ------------------------------------------------------------------------ */
/* Reading */

static void role_read(const struct ta_hosts *t, struct ta_host_role *out,
                      const struct counts *k, sketch peers, sketch targets) {
  out->connections = counts_read(t, k, out->by_scenario);
  out->distinct_peers = ta_host_sketch_estimate(sketch_set(peers));
  out->distinct_targets = ta_host_sketch_estimate(sketch_set(targets));
}

static void services_read(const struct ta_hosts *t, struct ta_host *v,
                          const struct responder *r,
                          struct ta_service svc[TA_MAX_SERVICES_PER_HOST]) {
  for (uint32_t i = 0; i < r->n_services; i++) {
    const struct service *s = svc_at(r, i);
    svc[i].port = svc_ports(r)[i];
    svc_read(t, s, svc[i].by_scenario);
    svc[i].lat = svc_latency(t, s);
  }
  v->n_services = r->n_services;
  v->services = svc;
  v->services_overflow = r->services_overflow;
}

/* The figures of h as reporters read them. */
static void host_read(const struct ta_hosts *t, const struct host *h,
                      struct ta_host *v,
                      struct ta_service svc[TA_MAX_SERVICES_PER_HOST]) {
  memset(v, 0, offsetof(struct ta_host, os));
  v->family = h->family;
  memcpy(v->ip, h->ip, 16);
  v->first_ts = h->first_ts;
  v->last_ts = h->last_ts;
  role_read(t, &v->as_orig, &h->orig, h->peers, h->targets);
  v->failed_attempts = v->as_orig.by_scenario[TA_SC_UNANSWERED] +
                       v->as_orig.by_scenario[TA_SC_REFUSED];
  /* as when counted: failed attempts and targets only grow with the
   * connections it made */
  v->scan_suspect = v->as_orig.connections > 0 &&
                    v->failed_attempts >= t->scan_failed &&
                    v->as_orig.distinct_targets >= t->scan_targets;
  if (h->resp) {
    const struct responder *r = resp_at(t, h->resp);
    role_read(t, &v->as_resp, &r->role, r->peers, r->targets);
    services_read(t, v, r, svc);
  }
  const void *run = ev_run(t, h);
  v->os.n = h->n_ev;
  v->os.overflow = h->ev_overflow;
  v->os.shapes = t->shapes;
  for (uint8_t i = 0; i < h->n_ev; i++) {
    struct ta__fp_ev e;
    ev_get(&e, run, h->ev_wide, i);
    ta__fp_ev_unpack(&v->os.ev[i], t->shapes, &e);
  }
}

/* A host's place in the report's order (family, then address bytes),
 * as words: sorting these compares no host record, which would be a
 * cache miss each on a large table. */
struct host_order {
  uint64_t hi, lo; /* the address, big-endian */
  uint32_t family, idx;
};

static uint64_t be64_at(const uint8_t *b) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++)
    v = v << 8 | b[i];
  return v;
}

static int host_order_cmp(const void *a, const void *b) {
  const struct host_order *x = a, *y = b;
  if (x->family != y->family)
    return x->family < y->family ? -1 : 1;
  if (x->hi != y->hi)
    return x->hi < y->hi ? -1 : 1;
  if (x->lo != y->lo)
    return x->lo < y->lo ? -1 : 1;
  return (x->idx > y->idx) - (x->idx < y->idx);
}

void ta_hosts_each(struct ta_hosts *t, void (*fn)(void *, const struct ta_host *),
                   void *ctx) {
  drain(t);
  struct host_order *all = malloc((t->count ? t->count : 1) * sizeof *all);
  struct ta_service *svc = malloc(TA_MAX_SERVICES_PER_HOST * sizeof *svc);
  struct ta_host *v = malloc(sizeof *v);
  if (all && svc && v) {
    for (uint32_t n = 0; n < t->count; n++) {
      const struct host *h = host_at(t, n);
      all[n] = (struct host_order){.hi = be64_at(h->ip),
                                   .lo = be64_at(h->ip + 8),
                                   .family = h->family,
                                   .idx = n};
    }
    qsort(all, t->count, sizeof *all, host_order_cmp);
    for (uint32_t n = 0; n < t->count; n++) {
      host_read(t, host_at(t, all[n].idx), v, svc);
      fn(ctx, v);
    }
  }
  free(v);
  free(svc);
  free(all);
}

uint64_t ta_hosts_count(struct ta_hosts *t) {
  drain(t);
  return t->count;
}

uint64_t ta_hosts_overflow(struct ta_hosts *t) {
  drain(t);
  return t->overflow;
}

static void responder_free(struct ta_hosts *t, struct responder *r) {
  for (uint32_t j = 0; j < r->n_services; j++) {
    struct ta_svc_latency *l = svc_latency(t, svc_at(r, j));
    if (l) {
      ta_lat_dist_free(&l->handshake);
      ta_lat_dist_free(&l->response);
    }
  }
  free(r->services);
}

void ta_hosts_free(struct ta_hosts *t) {
  if (!t)
    return;
  for (uint32_t n = 0; n < t->count; n++) {
    struct host *h = host_at(t, n);
    if (h->resp)
      responder_free(t, resp_at(t, h->resp));
  }
  pool_free(&t->hosts);
  pool_free(&t->responders);
  pool_free(&t->wide);
  pool_free(&t->mids);
  pool_free(&t->bitmaps);
  pool_free(&t->latency);
  for (unsigned k = 0; k < EV_SIZES; k++) {
    pool_free(&t->runs[0][k]);
    pool_free(&t->runs[1][k]);
  }
  free(t->slots);
  ta_fp_shapes_free(t->shapes);
  ta_arena_free(&t->arena);
  free(t);
}
