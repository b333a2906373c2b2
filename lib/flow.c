/* tcpaudit - flow table: seeded hash of unordered tuples, three LRU lists.
 * Open records expire after the idle timeout, closed ones after the linger
 * time, lone SYNs after the attempt timeout. A packet moves its record to
 * its list's tail, so each list stays in order of last activity and a
 * record is handed on at the first packet at which it is due: a function
 * of the record alone, not of the others in the table. Records due at the
 * same moment are handed on in id order. So a table holding any subset of
 * the connections hands each on at the same packet and in the same
 * relative order, which lets several tables share one capture
 * (lib/shard.c). Each list keeps the time its head is due, so most packets
 * do no expiry work at all. Attempts and refusals are held as their
 * packets until they need a full record (struct attempt below), and full
 * records idle for a while are packed (struct packed). */
#include "ta_flow.h"
#include "ta_arena.h"
#include "ta_fingerprint.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <time.h>

#define LINE_BYTES 64u /* a cache line */
#define POOL_CHUNK 1024u /* records allocated at once as the table grows */
#define PACK_CHUNK_BYTES 65536u /* packed records allocated at once */
/* Buckets to begin with (128 KB): the array doubles whenever the table
 * holds more records than half its buckets, up to twice the cap, so that
 * a table that never fills costs no more than it holds. Half: each record
 * a lookup passes in a chain is likely a cache miss (only the first is
 * prefetched), and at twice the load nearly half the lookups that find no
 * record pass one, at this one about a quarter. */
#define BUCKETS_FIRST 16384u
#define BUCKETS_PER_RECORD 2u

/* Open connections, closed ones lingering, and attempts: records holding
 * nothing but the originator's SYNs, which a scan or a flood makes by the
 * million and which are over much sooner than an idle connection. */
enum { LIST_OPEN = 0, LIST_CLOSED = 1, LIST_ATTEMPT = 2, LIST_COUNT = 3,
       LIST_NONE = 255 /* not queued yet */ };

/* A record is held in one of two forms. Most records of a busy capture are
 * attempts whose only packets are the originator's SYNs, or refusals: those
 * SYNs answered by the responder's RSTs, which close the record but keep it
 * lingering for the close delay. Holding a whole struct ta_conn for each
 * would cost 1.4 KB where the packets themselves take a tenth of that. So
 * such a record keeps just those packets' fields, and becomes a full record
 * by replaying them through ta_conn_init and ta_conn_update (the very code
 * a full record ran, so the result is the same) when any other packet
 * arrives, or is replayed into a scratch record when it is handed on. */
enum { FORM_FULL = 0, FORM_ATTEMPT = 1, FORM_PACKED = 2 };

/* What a record of either form begins with. */
struct node {
  struct node *hnext;       /* bucket chain; free-list link when free */
  struct node *prev, *next; /* LRU list links */
  uint64_t id;
  int64_t last_ts;          /* its last activity, which orders its list */
  uint32_t hash;            /* the tuple's, as far as a bucket index goes */
  uint8_t list;             /* LIST_*, or the end reason once due */
  uint8_t form;             /* FORM_* */
};

struct full {
  struct node n;
  struct ta_conn conn;
};

/* What ta_conn_init and ta_conn_update read of a packet an attempt holds,
 * besides its tuple: a SYN of the originator (flags SYN without ACK, FIN
 * or RST, good checksum), whose sequence number all of them share and
 * whose acknowledgment number is not read without the ACK flag; or an RST
 * of the responder (no SYN or FIN, good checksum, no TCP options), whose
 * sequence and acknowledgment numbers take the options' place. Of the
 * payload only its length is read, and whether it was captured whole.
 * Fields are as narrow as the packets an attempt holds need (syn_alone,
 * rst_alone). A SYN's options are kept as their bytes up to the first
 * HELD_LAYOUT kinds of their layout, the rest being zero (and the padding
 * byte); an RST's numbers as theirs: together 48 bytes where a whole
 * struct ta_tcp_options would make 64. */
#define HELD_LAYOUT 8
/* The two runs of struct ta_tcp_options that are kept: its fields up to
 * the padding before ts_val, and from ts_val up to the layout's kinds. */
#define OPT_HEAD (offsetof(struct ta_tcp_options, has_ts) + sizeof(bool))
#define OPT_TAIL_AT offsetof(struct ta_tcp_options, ts_val)
#define OPT_TAIL                                                               \
  (offsetof(struct ta_tcp_options, layout) + HELD_LAYOUT - OPT_TAIL_AT)
struct held {
  int64_t ts_ns;
  uint16_t ip_len, payload_len, window, ip_id, anomalies;
  uint8_t flags, reserved, ttl, tos;
  uint8_t bits; /* HELD_* */
  union {
    uint8_t opt[OPT_HEAD + OPT_TAIL]; /* a SYN's */
    uint8_t rst[8];                   /* an RST's seq and ack */
  } u;
};

enum {
  HELD_DF = 1u << 0,
  HELD_WHOLE = 1u << 1, /* payload captured whole */
  HELD_RST = 1u << 2,   /* the responder's RST, not a SYN */
};

_Static_assert(sizeof(struct held) == 48, "a held packet takes 48 bytes");
_Static_assert(HELD_LAYOUT <= TA_MAX_OPT_LAYOUT, "held layout too long");

struct held_more {
  struct held_more *next; /* free-list link when free */
  struct held f;
};

/* A record whose packets so far are the originator's SYNs, all with one
 * ISN, at most TA_ATTEMPT_MAX_SYNS of them, and as many RSTs of the
 * responder at most. The first RST closes the record (the responder's side
 * is reset), so an attempt with RSTs lingers in the closed list. Its
 * addresses take only their length (an IPv4 attempt is 24 bytes the
 * smaller, and most are IPv4), the full record's zeros past it implied;
 * each family has its pool. */
struct attempt {
  struct node n;
  /* the packets after the first SYN, in order; in the node's cache line,
   * so that they can be fetched while only that line is at hand */
  struct held_more *more;
  uint8_t family, n_syns, n_rsts; /* family 4 or 6 */
  uint16_t sport, dport; /* the originator's, the responder's */
  uint32_t seq;
  struct held first;
  uint8_t addr[]; /* the originator's address, then the responder's */
};

_Static_assert(offsetof(struct attempt, more) + sizeof(void *) <= LINE_BYTES,
               "an attempt's node and packet list share a line");

static size_t attempt_alen(const struct attempt *a) {
  return a->family == 6 ? 16 : 4;
}

/* The originator's (0) or responder's (1) address as the full record
 * holds it: 16 bytes, zero past its length. */
static void attempt_ip(const struct attempt *a, int side, uint8_t ip[16]) {
  if (a->family == 6) {
    memcpy(ip, a->addr + (side ? 16 : 0), 16);
  } else {
    memset(ip, 0, 16);
    memcpy(ip, a->addr + (side ? 4 : 0), 4);
  }
}

/* The pool of a family's attempts. */
static int attempt_pool(uint8_t family) { return family == 6; }

/* A full record idle for a while (TA_PACK_*_AFTER_MS), packed. Most of a record is
 * zero, and most of its non-zero words are small numbers, so each 8-byte
 * word keeps only its bytes up to the highest non-zero one: 4 bits say how
 * many, and the bytes follow in order. A short connection is packed to
 * about half its size (700 bytes) while it lingers, an idle open one as
 * well; a packet for it unpacks it, byte for byte as it was (padding too).
 * Its times of day are packed as distances from its first (time_words).
 * The space is a size class of PACK_STEP bytes, with room to read 8 bytes
 * past the last word kept. */
#define CONN_WORDS (sizeof(struct ta_conn) / 8)
/* The lengths were once read 16 words at a time (64 bits): the groups
 * still size the lengths and say how much of a record holds the tuple. */
#define LEN_GROUP 16u
#define CONN_GROUPS ((CONN_WORDS + LEN_GROUP - 1) / LEN_GROUP)
#define PACK_STEP 64u
#define PACK_CLASSES 16u /* up to 1,024 bytes: more saves too little */
/* An open record idle for a tenth of the idle timeout often stays so
 * until it is due, and the records a long capture holds so are alike (a
 * few kinds of long-lived connection). So such a record is packed again
 * as its difference from the one of a few references that leaves it the
 * smallest: records so packed before, their words past the tuple's kept
 * by the table (a record that none of them makes smaller becomes one
 * while there is room). Words a record shares with its reference are
 * then zero, and many of its bytes go. Not with an idle timeout so short
 * (a tenth of it under REF_AFTER_MIN_S) that few records are held long. */
#define REF_AFTER_MIN_S 20
#define PACK_REF 0x70u /* in cls: the reference's number + 1, 0: none */
#define PACK_REF_SHIFT 4
#define PACK_REFS 7
#define REF_FROM (TUPLE_GROUPS * LEN_GROUP) /* the first word xored */

struct packed {
  struct node n;
  uint8_t cls;                   /* size class, and PACK_REF */
  uint8_t lens[CONN_GROUPS * 8]; /* bytes kept of each word, 4 bits each */
  uint8_t data[];
};


/* Fixed-size items carved from chunks and recycled through a free list
 * linked through their first word, so that records cost no allocation
 * once the table has grown. Items begin on a cache line, so that one of
 * a multiple of its size (an IPv4 attempt, a packed record) spans no more
 * lines than it must: each is a miss when the table is big. Chunks come
 * from the table's arena, on huge pages: records are reached in random
 * order, and on small pages nearly each would be a TLB miss too. The
 * arena frees them all with the table.
 *
 * The packed records' pools, one per size, share their chunks: as a long
 * capture goes on, its idle records drift from one size to the next (they
 * grow as they age), and a pool that only grew would keep at each size
 * the most it ever held. So a size whose pool needs a chunk while another
 * holds a chunk's worth of free items empties one of that one's chunks
 * (moving its records to the free items) and takes it (pack_reclaim). */
#define LINE LINE_BYTES

/* A chunk emptied for another pool: its bytes, then the next one. */
struct spare {
  struct spare *next;
  size_t bytes;
};

/* A chunk of a pool that shares them: as many items as fit its bytes. */
struct chunk {
  unsigned char *base;
  uint32_t items;
  uint32_t bytes;
};

struct pool {
  void *free;
  struct ta_arena *arena;  /* where chunks come from */
  size_t item;             /* bytes per item */
  size_t chunk_bytes;      /* bytes per chunk */
  uint32_t per_chunk;      /* items made at once */
  uint32_t allocated, cap; /* items held in its chunks, and the most */
  uint32_t n_free;         /* of them on the free list, kept by the pools
                              that share chunks only (pack_get, pack_put) */
  size_t *budget;          /* bytes left to the pools sharing it, or NULL */
  /* for pools that share chunks (spares not NULL): the chunks it holds */
  struct spare **spares;   /* chunks emptied by any of the sharing pools */
  struct chunk *chunks;
  uint32_t n_chunks, cap_chunks;
};

struct lru {
  struct node *head, *tail;
  int64_t timeout;  /* idle timeout or linger time of this list */
  int64_t deadline; /* nothing in the list is due before this time */
  bool strict;      /* due only once idle for more than the timeout */
  int64_t pack_after; /* its full records idle this long are packed (0:
                         never) */
  uint32_t pack_min_held; /* while the table holds at least this many */
  /* The records before this one were looked at for packing: the list is
   * in order of last activity, so they are those idle the longest. */
  struct node *cursor;
  int64_t pack_due; /* nothing is to be packed before this time */
  /* the same for packing against the reference (PACK_REF) */
  int64_t ref_after;
  struct node *ref_cursor;
  int64_t ref_due;
};

struct ta_flow_table {
  struct ta_flow_config cfg;
  ta_flow_emit_fn emit;
  void *ctx;
  struct ta_fp_memo fp_memo; /* for the records this table finalizes */
  struct node **buckets;
  uint64_t mask;
  uint64_t max_buckets; /* the most the array grows to (a node's hash
                           holds the bits of its index) */
  uint64_t k[8]; /* per-run hash keys; the odd-numbered ones odd */
  struct lru lists[LIST_COUNT];
  int64_t next_due; /* the earliest of the lists' deadlines */
  struct pool fulls, attempts[2], helds; /* attempts: IPv4's, IPv6's */
  struct pool packs[PACK_CLASSES];
  struct spare *spares; /* chunks emptied by the packs pools */
  struct ta_arena arena; /* the pools' chunks */
  size_t pack_budget; /* bytes the packed records may still take */
  uint64_t packed_moved; /* records moved to empty a chunk (chunk_empty) */
  struct node **due;   /* records due at one moment, sorted before emission */
  size_t due_len, due_cap;
  size_t taken;        /* of due[], handed out by ta_flow_table_take */
  uint32_t open;
  uint64_t next_id;
  struct ta_flow_stats stats;
  struct ta_conn scratch; /* an attempt replayed to be handed on */
  uint64_t *refs[PACK_REFS]; /* the references of PACK_REF records */
  unsigned n_refs;
};

/* ---- hashing ---- */

static uint64_t mix64(uint64_t x) {
  x ^= x >> 31;
  x *= 0x7fb5d329728ea185ull;
  x ^= x >> 27;
  x *= 0x81dadef4bc2dd44dull;
  x ^= x >> 33;
  return x;
}

static uint64_t load64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, sizeof v); /* one load; the byte order only shapes the hash */
  return v;
}

static bool ip_equal(const uint8_t *a, const uint8_t *b) {
  return load64(a) == load64(b) && load64(a + 8) == load64(b + 8);
}

/* One endpoint's words and port under the run's keys: each keyed and
 * multiplied by an odd key, which maps it one to one, and summed; so that
 * no endpoint can be crafted to collide with another without the keys. */
static inline uint64_t end_key(const uint64_t *k, const uint8_t *ip,
                               uint16_t port) {
  return (load64(ip) ^ k[0]) * k[1] + (load64(ip + 8) ^ k[2]) * k[3] +
         (port ^ k[4]) * k[5];
}

/* Keyed over both endpoints, the lesser key first so that both directions
 * hash alike: picked by a compare and moves, not a branch, since which
 * endpoint sent a packet is a coin toss a branch would miss half the
 * time. Keys are random per run, so a capture cannot be crafted in
 * advance to collide. */
static inline uint64_t tuple_hash(const struct ta_flow_table *t,
                                  uint8_t family,
                           const uint8_t *a, uint16_t ap, const uint8_t *b,
                           uint16_t bp) {
  uint64_t ea = end_key(t->k, a, ap), eb = end_key(t->k, b, bp);
  uint64_t lo = ea < eb ? ea : eb, hi = ea < eb ? eb : ea;
  return mix64((lo ^ t->k[6] ^ family) * t->k[7] + hi);
}

static bool tuple_equal(uint8_t family, const uint8_t *oip, uint16_t oport,
                        const uint8_t *rip, uint16_t rport,
                        const struct ta_packet *p) {
  if (family != p->family)
    return false;
  if (oport == p->sport && rport == p->dport && ip_equal(oip, p->src) &&
      ip_equal(rip, p->dst))
    return true;
  return oport == p->dport && rport == p->sport && ip_equal(oip, p->dst) &&
         ip_equal(rip, p->src);
}

static bool packed_tuple_match(const struct packed *pk,
                               const struct ta_packet *p);

static bool tuple_match(const struct node *n, const struct ta_packet *p) {
  if (n->form == FORM_FULL) {
    const struct ta_conn *c = &((const struct full *)n)->conn;
    return tuple_equal(c->family, c->side[0].ip, c->side[0].port,
                       c->side[1].ip, c->side[1].port, p);
  }
  if (n->form == FORM_PACKED)
    return packed_tuple_match((const struct packed *)n, p);
  const struct attempt *a = (const struct attempt *)n;
  uint8_t src[16], dst[16];
  attempt_ip(a, 0, src);
  attempt_ip(a, 1, dst);
  return tuple_equal(a->family, src, a->sport, dst, a->dport, p);
}

/* Prefetching is a hint: it changes nothing. The helpers are inlined
 * always: GCC finds a function that only prefetches free of effects, and
 * drops each call to it. */
#define PREFETCHER static inline __attribute__((always_inline)) void
/* Every line of [p, p + bytes). */
PREFETCHER prefetch_range(const void *p, size_t bytes) {
  uintptr_t at = (uintptr_t)p & ~(uintptr_t)(LINE - 1);
  for (; at < (uintptr_t)p + bytes; at += LINE)
    __builtin_prefetch((const void *)at);
}

/* ---- pools ---- */

/* An emptied chunk with room for an item of p, taken off the spares,
 * and its bytes; NULL if none. */
static unsigned char *spare_take(struct pool *p, size_t *bytes) {
  for (struct spare **sp = p->spares; *sp; sp = &(*sp)->next) {
    struct spare *s = *sp;
    if (s->bytes >= p->item) {
      *sp = s->next;
      *bytes = s->bytes;
      return (unsigned char *)s;
    }
  }
  return NULL;
}

/* Notes a chunk a sharing pool now holds; false when memory ran out
 * (then it is never emptied: the pool just keeps it). */
static bool chunk_note(struct pool *p, unsigned char *base, uint32_t items,
                       size_t bytes) {
  if (p->n_chunks == p->cap_chunks) {
    uint32_t cap = p->cap_chunks ? 2 * p->cap_chunks : 16;
    struct chunk *c = realloc(p->chunks, cap * sizeof *c);
    if (!c)
      return false;
    p->chunks = c;
    p->cap_chunks = cap;
  }
  p->chunks[p->n_chunks++] =
      (struct chunk){.base = base, .items = items, .bytes = (uint32_t)bytes};
  return true;
}

static void pool_carve(struct pool *p, unsigned char *base, uint32_t items) {
  for (uint32_t i = items; i-- > 0;) {
    void *it = base + (size_t)i * p->item;
    memcpy(it, &p->free, sizeof p->free);
    p->free = it;
  }
  p->allocated += items;
  p->n_free += items;
}

static bool pool_grow(struct pool *p) {
  size_t bytes = p->chunk_bytes;
  if (p->allocated >= p->cap)
    return false;
  unsigned char *base = p->spares ? spare_take(p, &bytes) : NULL;
  if (!base) {
    bytes = p->chunk_bytes;
    if (p->budget && *p->budget < bytes)
      return false;
    if (!(base = ta_arena_alloc(p->arena, bytes)))
      return false;
    if (p->budget)
      *p->budget -= bytes;
  }
  uint32_t items = (uint32_t)(bytes / p->item);
  if (p->spares)
    chunk_note(p, base, items, bytes);
  pool_carve(p, base, items);
  return true;
}

/* NULL when the pool is at its cap or memory ran out. The link of the
 * item handed out next is fetched meanwhile: the free list is a stack, and
 * an item deep in it was last touched long ago. */
static void *pool_get(struct pool *p) {
  if (!p->free && !pool_grow(p))
    return NULL;
  void *it = p->free;
  memcpy(&p->free, it, sizeof p->free);
  if (p->free)
    __builtin_prefetch(p->free);
  return it;
}

static void pool_put(struct pool *p, void *it) {
  memcpy(it, &p->free, sizeof p->free);
  p->free = it;
}

static void pool_init(struct pool *p, struct ta_arena *arena, size_t item,
                      uint32_t per_chunk, uint32_t cap) {
  p->arena = arena;
  p->item = item;
  p->per_chunk = per_chunk;
  p->chunk_bytes = ((size_t)per_chunk * item + LINE - 1) / LINE * LINE;
  p->cap = cap;
}

/* ---- attempts ---- */

/* Whether p's option layout past what struct held keeps is all zero. */
static bool layout_fits(const struct ta_packet *p) {
  static const uint8_t zero[sizeof p->opt.layout - HELD_LAYOUT];
  return p->opt.n_layout <= HELD_LAYOUT &&
         !memcmp(p->opt.layout + HELD_LAYOUT, zero, sizeof zero);
}

/* A packet an attempt can hold: a SYN alone whose fields fit. */
static bool syn_alone(const struct ta_packet *p) {
  return (p->flags & (TA_TCP_SYN | TA_TCP_ACK | TA_TCP_FIN | TA_TCP_RST)) ==
             TA_TCP_SYN &&
         !p->checksum_bad && p->payload_len <= UINT16_MAX &&
         p->anomalies <= UINT16_MAX && p->ip_len <= UINT16_MAX &&
         layout_fits(p);
}

/* An RST of the responder an attempt can hold: it carries no options (its
 * numbers take their place) and its fields fit. */
static bool rst_alone(const struct attempt *a, const struct ta_packet *p) {
  size_t alen = attempt_alen(a);
  const uint8_t *src = a->addr, *dst = a->addr + alen;
  return (p->flags & (TA_TCP_SYN | TA_TCP_FIN | TA_TCP_RST)) == TA_TCP_RST &&
         !p->checksum_bad && p->payload_len <= UINT16_MAX &&
         p->anomalies <= UINT16_MAX && p->ip_len <= UINT16_MAX &&
         p->sport == a->dport &&
         p->dport == a->sport && memcmp(p->src, dst, alen) == 0 &&
         memcmp(p->dst, src, alen) == 0 &&
         /* a connection to itself: the tracker takes it as the originator's */
         !(p->sport == a->sport && memcmp(p->src, src, alen) == 0) &&
         !memcmp(&p->opt, &(struct ta_tcp_options){0}, sizeof p->opt);
}

static void held_pack(struct held *f, const struct ta_packet *p) {
  f->ts_ns = p->ts_ns;
  f->ip_len = (uint16_t)p->ip_len;
  f->payload_len = (uint16_t)p->payload_len;
  f->window = p->window;
  f->ip_id = p->ip_id;
  f->anomalies = (uint16_t)p->anomalies;
  f->flags = p->flags;
  f->reserved = p->reserved;
  f->ttl = p->ttl;
  f->tos = p->tos;
  f->bits = (uint8_t)((p->df ? HELD_DF : 0) |
                      (p->payload_caplen >= p->payload_len ? HELD_WHOLE : 0));
  if (p->flags & TA_TCP_SYN) {
    const unsigned char *o = (const unsigned char *)&p->opt;
    memcpy(f->u.opt, o, OPT_HEAD);
    memcpy(f->u.opt + OPT_HEAD, o + OPT_TAIL_AT, OPT_TAIL);
  } else {
    f->bits |= HELD_RST;
    memcpy(f->u.rst, &p->seq, 4);
    memcpy(f->u.rst + 4, &p->ack, 4);
  }
}

/* Fills the fields of p that f holds; the tuple and the SYNs' sequence
 * number are the caller's. p's options must be zero but for the two runs
 * a SYN keeps (as every packet held_unpack filled leaves them): a SYN
 * then writes just those, an RST clears them. */
static void held_unpack(struct ta_packet *p, const struct held *f) {
  p->ts_ns = f->ts_ns;
  p->ip_len = f->ip_len;
  p->payload_len = f->payload_len;
  p->payload_caplen = (f->bits & HELD_WHOLE) ? f->payload_len : 0;
  p->window = f->window;
  p->ip_id = f->ip_id;
  p->anomalies = f->anomalies;
  p->flags = f->flags;
  p->reserved = f->reserved;
  p->ttl = f->ttl;
  p->tos = f->tos;
  p->df = f->bits & HELD_DF;
  if (f->bits & HELD_RST) {
    memset(&p->opt, 0, sizeof p->opt);
    memcpy(&p->seq, f->u.rst, 4);
    memcpy(&p->ack, f->u.rst + 4, 4);
  } else {
    unsigned char *o = (unsigned char *)&p->opt;
    memcpy(o, f->u.opt, OPT_HEAD);
    memcpy(o + OPT_TAIL_AT, f->u.opt + OPT_HEAD, OPT_TAIL);
    p->ack = 0;
  }
}

/* Turns p around: the other side's packet. */
static void packet_reverse(struct ta_packet *p) {
  uint8_t ip[16];
  memcpy(ip, p->src, 16);
  memcpy(p->src, p->dst, 16);
  memcpy(p->dst, ip, 16);
  uint16_t port = p->sport;
  p->sport = p->dport;
  p->dport = port;
}

/* Rebuilds the full record from the packets, as they came: the
 * originator's SYNs, the responder's RSTs, the tuple filled in once and
 * turned around as the sender changes. */
static void replay(const struct attempt *a, struct ta_conn *c) {
  struct ta_packet p;
  memset(&p, 0, sizeof p);
  p.disposition = TA_DISP_TCP;
  p.family = a->family;
  p.ip_proto = 6;
  attempt_ip(a, 0, p.src);
  attempt_ip(a, 1, p.dst);
  p.sport = a->sport;
  p.dport = a->dport;
  p.seq = a->seq;
  held_unpack(&p, &a->first);
  ta_conn_start(c, a->n.id, &p);
  bool resp = false; /* p is the responder's */
  for (const struct held_more *m = a->more; m; m = m->next) {
    bool rst = m->f.bits & HELD_RST;
    if (rst != resp) {
      packet_reverse(&p);
      resp = rst;
    }
    p.seq = a->seq; /* an RST's own is unpacked next */
    held_unpack(&p, &m->f);
    ta_conn_update(c, &p);
  }
}

/* When the record was closed as ta_conn_update keeps it (closed_ts): at
 * its first RST, and again at each SYN retried after it. */
static int64_t attempt_closed_ts(const struct attempt *a) {
  bool closed = false;
  int64_t ts = 0;
  for (const struct held_more *m = a->more; m; m = m->next) {
    if (m->f.bits & HELD_RST) {
      if (!closed)
        ts = m->f.ts_ns;
      closed = true;
    } else if (closed) {
      ts = m->f.ts_ns;
    }
  }
  return ts;
}

/* Whether the attempt can hold p: a retry of its SYN (the originator's,
 * same ISN: ta_conn_is_new_attempt says it continues the record, even
 * after a refusal), or an RST of the responder that continues it too (one
 * not past the close delay), each while there is room. */
static bool attempt_takes(const struct attempt *a, const struct ta_packet *p) {
  if (syn_alone(p)) {
    return p->seq == a->seq && a->n_syns < TA_ATTEMPT_MAX_SYNS &&
           p->sport == a->sport &&
           memcmp(p->src, a->addr, attempt_alen(a)) == 0;
  }
  return a->n_rsts < TA_ATTEMPT_MAX_SYNS && rst_alone(a, p) &&
         (!a->n_rsts ||
          p->ts_ns - attempt_closed_ts(a) <= TA_CONN_CLOSE_DELAY_NS);
}

/* Takes one more packet when the attempt can hold it; false when the
 * record must become a full one for p instead. */
static bool attempt_add(struct ta_flow_table *t, struct attempt *a,
                        const struct ta_packet *p) {
  if (!attempt_takes(a, p))
    return false;
  struct held_more *m = pool_get(&t->helds);
  if (!m)
    return false;
  held_pack(&m->f, p);
  m->next = NULL;
  struct held_more **pp = &a->more;
  while (*pp)
    pp = &(*pp)->next;
  *pp = m;
  if (m->f.bits & HELD_RST)
    a->n_rsts++;
  else
    a->n_syns++;
  if (p->ts_ns > a->n.last_ts)
    a->n.last_ts = p->ts_ns;
  return true;
}

/* An attempt the responder refused is closed: it lingers as one. */
static uint8_t attempt_list(const struct attempt *a) {
  return a->n_rsts ? LIST_CLOSED : LIST_ATTEMPT;
}

static void attempt_free(struct ta_flow_table *t, struct attempt *a) {
  struct held_more *m = a->more;
  while (m) {
    struct held_more *n = m->next;
    pool_put(&t->helds, m);
    m = n;
  }
  pool_put(&t->attempts[attempt_pool(a->family)], a);
}

/* ---- lists ---- */

static void lru_remove(struct ta_flow_table *t, struct node *e) {
  struct lru *l = &t->lists[e->list];
  if (l->cursor == e)
    l->cursor = e->next;
  if (l->ref_cursor == e)
    l->ref_cursor = e->next;
  if (e->prev)
    e->prev->next = e->next;
  else
    l->head = e->next;
  if (e->next)
    e->next->prev = e->prev;
  else
    l->tail = e->prev;
  e->prev = e->next = NULL;
}

/* e, appended to l, is the first record the packing cursors have not
 * passed when they have passed all the others. */
static void lru_cursors_catch(struct ta_flow_table *t, struct lru *l,
                              struct node *e) {
  if (l->pack_after && !l->cursor) {
    l->cursor = e;
    l->pack_due = e->last_ts + l->pack_after;
    if (l->pack_due < t->next_due)
      t->next_due = l->pack_due;
    /* the packing cursor is never behind the reference one (it passes
     * records sooner), so this one is NULL only when that one is too */
    if (l->ref_after && !l->ref_cursor) {
      l->ref_cursor = e;
      l->ref_due = e->last_ts + l->ref_after;
      if (l->ref_due < t->next_due)
        t->next_due = l->ref_due;
    }
  }
}

static void lru_append(struct ta_flow_table *t, struct node *e, uint8_t list) {
  struct lru *l = &t->lists[list];
  e->list = list;
  if (!l->head)
    l->deadline = e->last_ts + l->timeout + l->strict;
  if (l->deadline < t->next_due)
    t->next_due = l->deadline;
  lru_cursors_catch(t, l, e);
  e->next = NULL;
  e->prev = l->tail;
  if (l->tail)
    l->tail->next = e;
  else
    l->head = e;
  l->tail = e;
}

/* Moves e, in its list but not its tail, to the tail: lru_remove and
 * lru_append, less what a list that stays non-empty needs not (its
 * deadline stays, and next_due is already no later). Most packets do this:
 * flows interleave. */
static void lru_move_to_tail(struct ta_flow_table *t, struct node *e) {
  struct lru *l = &t->lists[e->list];
  struct node *n = e->next; /* not NULL: e is not the tail */
  if (l->cursor == e)
    l->cursor = n;
  if (l->ref_cursor == e)
    l->ref_cursor = n;
  if (e->prev)
    e->prev->next = n;
  else
    l->head = n;
  n->prev = e->prev;
  lru_cursors_catch(t, l, e);
  e->next = NULL;
  e->prev = l->tail;
  l->tail->next = e;
  l->tail = e;
}

/* Moves e to the tail of list, where its latest packet puts it. */
static void lru_touch(struct ta_flow_table *t, struct node *e, uint8_t list) {
  if (e->list == list) {
    if (t->lists[list].tail != e)
      lru_move_to_tail(t, e);
    return;
  }
  if (e->list != LIST_NONE)
    lru_remove(t, e);
  lru_append(t, e, list);
}

static struct node **bucket_slot(struct ta_flow_table *t, struct node *e) {
  struct node **pp = &t->buckets[e->hash & t->mask];
  while (*pp && *pp != e)
    pp = &(*pp)->hnext;
  return pp;
}

static void bucket_remove(struct ta_flow_table *t, struct node *e) {
  struct node **pp = bucket_slot(t, e);
  if (*pp)
    *pp = e->hnext;
}

/* Moves e to the tail of its list: a record about to take a packet, which
 * will put it there (or take it out), so that it comes after the cursor. */
static void lru_requeue(struct ta_flow_table *t, struct node *e) {
  uint8_t list = e->list;
  lru_remove(t, e);
  lru_append(t, e, list);
}

/* Puts to in from's place in its bucket and its list. */
static void node_replace(struct ta_flow_table *t, struct node *from,
                         struct node *to) {
  uint8_t form = to->form;
  *to = *from;
  to->form = form;
  *bucket_slot(t, from) = to;
  struct lru *l = &t->lists[from->list];
  if (l->cursor == from)
    l->cursor = to;
  if (l->ref_cursor == from)
    l->ref_cursor = to;
  if (from->prev)
    from->prev->next = to;
  else
    l->head = to;
  if (from->next)
    from->next->prev = to;
  else
    l->tail = to;
}

/* ---- prefetching ---- */

/* Records are handed on and packed from the heads of the lists (and the
 * packing cursors), each a few packets after the one before: records idle
 * for seconds, long out of the cache, each reached from the one before.
 * So as the line moves up, what the next records will need is fetched
 * meanwhile, a step at a time, each step reading only lines fetched the
 * step before: the node two places back, then the bucket slot (and an
 * attempt's first held packet) of the one behind, then the whole of the
 * next record and the chain it is unlinked from. */

/* What handing on or packing e reads past its node's line. */
PREFETCHER prefetch_body(const struct ta_flow_table *t, const struct node *e) {
  const char *c = (const char *)e;
  if (e->form == FORM_FULL) {
    prefetch_range(c + LINE, sizeof(struct full) - LINE);
  } else if (e->form == FORM_PACKED) {
    const struct packed *pk = (const struct packed *)e;
    prefetch_range(c + LINE, t->packs[pk->cls & ~PACK_REF].item - LINE);
  } else {
    const struct attempt *a = (const struct attempt *)e;
    prefetch_range(c + LINE, t->attempts[attempt_pool(a->family)].item - LINE);
    /* the first held packet was fetched a step before; then the next */
    if (a->more && a->more->next)
      prefetch_range(a->more->next, sizeof *a->more);
  }
}

/* e is next to be handed on or packed (what packing reads of a record
 * that is not full is its node alone). */
PREFETCHER prefetch_next(const struct ta_flow_table *t, const struct node *e,
                         bool packing) {
  if (!packing || e->form == FORM_FULL)
    prefetch_body(t, e);
  __builtin_prefetch(t->buckets[e->hash & t->mask]); /* the chain's first */
  const struct node *n = e->next;
  if (!n)
    return;
  __builtin_prefetch(&t->buckets[n->hash & t->mask]);
  if (!packing && n->form == FORM_ATTEMPT) {
    const struct held_more *m = ((const struct attempt *)n)->more;
    if (m)
      prefetch_range(m, sizeof *m);
  }
  if (n->next)
    __builtin_prefetch(n->next);
}

/* The pending records are handed on in id order, which is no order in
 * memory (the end of the capture hands on the whole table so): while one
 * is, the node of the one DUE_AHEAD places on is fetched, then, half as
 * far on, its body and bucket slot, then, half as far again, the chain.
 * Those of the first few places are fetched as the first is. */
#define DUE_AHEAD 8u
PREFETCHER prefetch_due_body(const struct ta_flow_table *t,
                             const struct node *e) {
  prefetch_body(t, e);
  __builtin_prefetch(&t->buckets[e->hash & t->mask]);
}

PREFETCHER prefetch_due(const struct ta_flow_table *t, size_t i) {
  size_t n = t->due_len;
  if (i + DUE_AHEAD < n)
    __builtin_prefetch(t->due[i + DUE_AHEAD]);
  if (i == 0)
    for (size_t k = 1; k < DUE_AHEAD / 2 && k < n; k++)
      prefetch_due_body(t, t->due[k]);
  if (i + DUE_AHEAD / 2 < n)
    prefetch_due_body(t, t->due[i + DUE_AHEAD / 2]);
  if (i + DUE_AHEAD / 4 < n) {
    const struct node *e = t->due[i + DUE_AHEAD / 4];
    __builtin_prefetch(t->buckets[e->hash & t->mask]);
  }
}

/* ---- packed records ---- */

/* A word with its bytes in memory order, lowest first, and back. */
static uint64_t mem_order(uint64_t w) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  return __builtin_bswap64(w);
#else
  return w;
#endif
}

/* Bytes of w up to its highest non-zero one in memory order. */
static unsigned word_len(uint64_t w) {
  uint64_t v = mem_order(w);
  /* the index of the highest bit set is 63 ^ clz: one instruction */
  return v ? ((unsigned)(__builtin_clzll(v) ^ 63) + 8) >> 3 : 0;
}

/* The words' lengths are kept a byte per two words, the first's in the
 * low 4 bits (as the 64-bit groups of 16 words that the record's lengths
 * were once read as lay them out), and the bytes follow the lengths. */
#define CONN_PAIRS (CONN_WORDS / 2) /* pairs of words; one may be left */
_Static_assert(CONN_WORDS / 2 + CONN_WORDS % 2 <= CONN_GROUPS * 8,
               "a length byte for every two words");

/* The mask of the bytes a word of n bytes keeps (n <= 8). */
#define KEEP(n) ((n) >= 8 ? ~0ull : (1ull << (8 * ((n) & 7))) - 1)
static const uint64_t keep[9] = {KEEP(0), KEEP(1), KEEP(2), KEEP(3), KEEP(4),
                                 KEEP(5), KEEP(6), KEEP(7), KEEP(8)};

/* Copies word w's first n bytes to out and the rest as zeros. */
static void word_unpack(const uint8_t *in, unsigned n, unsigned char *out) {
  uint64_t w;
  memcpy(&w, in, 8); /* there are 8 bytes to read: see struct packed */
  w = mem_order(mem_order(w) & keep[n]);
  memcpy(out, &w, 8);
}

/* The portable packing: a word at a time, its length from its highest bit
 * set. Returns the bytes written to out (which has room for 8 past them). */
static size_t pack_words_portable(const struct ta_conn *c, uint8_t *lens,
                                  uint8_t *out) {
  const unsigned char *in = (const unsigned char *)c;
  uint8_t *o = out;
  memset(lens, 0, CONN_GROUPS * 8);
  for (size_t i = 0; i < CONN_WORDS; i++) {
    uint64_t w;
    memcpy(&w, in + 8 * i, 8);
    unsigned n = word_len(w);
    lens[i / 2] |= (uint8_t)(n << (4 * (i % 2)));
    memcpy(o, &w, 8);
    o += n;
  }
  return (size_t)(o - out);
}

static void unpack_words_portable(const struct packed *pk, size_t words,
                                  struct ta_conn *c) {
  unsigned char *out = (unsigned char *)c;
  const uint8_t *in = pk->data;
  for (size_t i = 0; i < words; i++) {
    unsigned n = (pk->lens[i / 2] >> (4 * (i % 2))) & 15u;
    word_unpack(in, n, out + 8 * i);
    in += n;
  }
}

#if defined(__SSE2__)
#include <emmintrin.h>
/* With SSE2 (any x86-64) two words are taken at once, for a third of the
 * instructions: one compare finds their zero bytes, and a table gives each
 * word's length from its 8 bits of that mask (its highest byte not zero:
 * 8 less the leading ones). Unpacking, a table gives the masks of both
 * words' bytes from their length byte. The portable code stays the
 * reference the tests hold these to. */
#define ZL1(z) ((z) & 1 ? 0 : 1)
#define ZL2(z) ((z) & 2 ? ZL1(z) : 2)
#define ZL3(z) ((z) & 4 ? ZL2(z) : 3)
#define ZL4(z) ((z) & 8 ? ZL3(z) : 4)
#define ZL5(z) ((z) & 16 ? ZL4(z) : 5)
#define ZL6(z) ((z) & 32 ? ZL5(z) : 6)
#define ZL7(z) ((z) & 64 ? ZL6(z) : 7)
#define ZLEN(z) ((z) & 128 ? ZL7(z) : 8)
#define X4(F, i) F(i), F(i + 1), F(i + 2), F(i + 3)
#define X16(F, i) X4(F, i), X4(F, i + 4), X4(F, i + 8), X4(F, i + 12)
#define X64(F, i) X16(F, i), X16(F, i + 16), X16(F, i + 32), X16(F, i + 48)
#define X256(F) X64(F, 0), X64(F, 64), X64(F, 128), X64(F, 192)
/* a word's length from the mask of its zero bytes (bit i: byte i) */
static const uint8_t zero_len[256] = {X256(ZLEN)};
#define ZLEN16(z) (ZLEN(z) << 4) /* the second word's, in place */
static const uint8_t zero_len16[256] = {X256(ZLEN16)};
/* both words' byte masks from their length byte */
#define PAIR_KEEP(b) {KEEP((b) & 15), KEEP((b) >> 4)}
static const uint64_t pair_keep[256][2] __attribute__((aligned(16))) = {
    X256(PAIR_KEEP)};
/* and the first's length, and both's (cheaper loaded than worked out) */
#define PAIR_FIRST(b) ((b) & 15)
#define PAIR_LEN(b) (((b) & 15) + ((b) >> 4))
static const uint8_t pair_first[256] = {X256(PAIR_FIRST)};
static const uint8_t pair_len[256] = {X256(PAIR_LEN)};

static size_t pack_words_sse2(const struct ta_conn *c, uint8_t *lens,
                              uint8_t *out) {
  const unsigned char *in = (const unsigned char *)c;
  const unsigned char *end = in + 16 * CONN_PAIRS;
  uint8_t *o = out, *l = lens;
  const __m128i zero = _mm_setzero_si128();
  memset(lens, 0, CONN_GROUPS * 8);
  /* pointers stepped, not indices: fewer instructions unrolled */
#pragma GCC unroll 8
  for (; in != end; in += 16, l++) {
    __m128i v = _mm_loadu_si128((const __m128i *)(const void *)in);
    unsigned z = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, zero));
    /* a third of the pairs are zero, mostly the same ones record after
     * record: a branch that is seldom missed */
    if (z == 0xffffu)
      continue;
    unsigned n0 = zero_len[z & 255], b = n0 + zero_len16[z >> 8];
    *l = (uint8_t)b;
    _mm_storel_epi64((__m128i *)(void *)o, v);
    _mm_storeh_pi((__m64 *)(void *)(o + n0), _mm_castsi128_ps(v));
    o += pair_len[b];
  }
  if (CONN_WORDS % 2) { /* the last word alone: not a byte past the record */
    uint64_t w;
    memcpy(&w, in, 8);
    unsigned n = word_len(w);
    *l = (uint8_t)n;
    memcpy(o, &w, 8);
    o += n;
  }
  return (size_t)(o - out);
}

static void unpack_words_sse2(const struct packed *pk, size_t words,
                              struct ta_conn *c) {
  unsigned char *out = (unsigned char *)c;
  const uint8_t *in = pk->data, *l = pk->lens, *end = l + words / 2;
#pragma GCC unroll 8
  for (; l != end; l++, out += 16) {
    unsigned b = *l;
    if (!b) { /* as in packing: mostly the same pairs */
      _mm_storeu_si128((__m128i *)(void *)out, _mm_setzero_si128());
      continue;
    }
    /* 8 bytes each, as in word_unpack */
    __m128i lo = _mm_loadl_epi64((const __m128i *)(const void *)in);
    __m128i hi =
        _mm_loadl_epi64((const __m128i *)(const void *)(in + pair_first[b]));
    __m128i v = _mm_and_si128(_mm_unpacklo_epi64(lo, hi),
                              _mm_load_si128((const __m128i *)pair_keep[b]));
    _mm_storeu_si128((__m128i *)(void *)out, v);
    in += pair_len[b];
  }
  if (words % 2)
    word_unpack(in, *l & 15u, out);
}
#endif

/* Writes the record's word lengths to lens and its bytes to out (which has
 * room for 8 bytes past the last one); returns the bytes written. */
static size_t pack_words(const struct ta_conn *c, uint8_t *lens,
                         uint8_t *out) {
#if defined(__SSE2__)
  return pack_words_sse2(c, lens, out);
#else
  return pack_words_portable(c, lens, out);
#endif
}

/* Rebuilds the first `groups` groups of 16 words of the record. */
static void unpack_words(const struct packed *pk, size_t groups,
                         struct ta_conn *c) {
  size_t words = groups * LEN_GROUP < CONN_WORDS ? groups * LEN_GROUP
                                                 : CONN_WORDS;
#if defined(__SSE2__)
  unpack_words_sse2(pk, words, c);
#else
  unpack_words_portable(pk, words, c);
#endif
}

/* The groups of words that hold the tuple. */
#define TUPLE_GROUPS                                                           \
  ((offsetof(struct ta_conn, side[1].port) + sizeof(uint16_t) +               \
    8 * LEN_GROUP - 1) / (8 * LEN_GROUP))

static bool packed_tuple_match(const struct packed *pk,
                               const struct ta_packet *p) {
  struct ta_conn c; /* only the words holding the tuple are filled */
  unpack_words(pk, TUPLE_GROUPS, &c);
  return tuple_equal(c.family, c.side[0].ip, c.side[0].port, c.side[1].ip,
                     c.side[1].port, p);
}

/* The record's times of day other than first_ts: 8 bytes each, where
 * their distance from first_ts takes 5 (up to some nine minutes in ns).
 * A packed record keeps them so. (Not the latency legs' marks nor a
 * hole's time: those are zero again by the time a record is idle.) */
#define SIDE_TIMES(i)                                                          \
  offsetof(struct ta_conn, side[i].first_payload_ts),                          \
      offsetof(struct ta_conn, side[i].lat.tsv_ts)
static const uint16_t time_words[] = {
    offsetof(struct ta_conn, last_ts),     offsetof(struct ta_conn, first_syn_ts),
    offsetof(struct ta_conn, last_syn_ts), offsetof(struct ta_conn, synack_ts),
    offsetof(struct ta_conn, established_ts),
    offsetof(struct ta_conn, close_ts),    offsetof(struct ta_conn, closed_ts),
    offsetof(struct ta_conn, lat.req_ts),  SIDE_TIMES(0),
    SIDE_TIMES(1)};
#define TIME_WORDS (sizeof time_words / sizeof time_words[0])
static uint64_t conn_word(const struct ta_conn *c, size_t off) {
  uint64_t w;
  memcpy(&w, (const unsigned char *)c + off, 8);
  return w;
}

static void set_conn_word(struct ta_conn *c, size_t off, uint64_t w) {
  memcpy((unsigned char *)c + off, &w, 8);
}

/* A time is kept as its distance from first_ts, zigzagged so that one a
 * little before it is small too, plus one; all modulo 2^64, so exact both
 * ways. So that zero still means none, the codes of none (the distance
 * -first_ts) and of the one distance whose code wraps to zero trade
 * places: a one-to-one map either way. */
static uint64_t swap_none(uint64_t e, uint64_t none) {
  return e == none ? 0 : e == 0 ? none : e;
}

static uint64_t zigzag_plus1(uint64_t d) {
  return ((d << 1) ^ (0 - (d >> 63))) + 1;
}

static void times_encode(struct ta_conn *c) {
  uint64_t base = conn_word(c, offsetof(struct ta_conn, first_ts));
  uint64_t none = zigzag_plus1(0 - base);
#pragma GCC unroll 16
  for (size_t i = 0; i < TIME_WORDS; i++) {
    uint64_t w = conn_word(c, time_words[i]);
    set_conn_word(c, time_words[i], swap_none(zigzag_plus1(w - base), none));
  }
}

static void times_decode(struct ta_conn *c) {
  uint64_t base = conn_word(c, offsetof(struct ta_conn, first_ts));
  uint64_t none = zigzag_plus1(0 - base);
#pragma GCC unroll 16
  for (size_t i = 0; i < TIME_WORDS; i++) {
    uint64_t d = swap_none(conn_word(c, time_words[i]), none) - 1;
    set_conn_word(c, time_words[i], base + ((d >> 1) ^ (0 - (d & 1))));
  }
}

/* Xors the words of c from REF_FROM with the reference's. */
static void ref_xor(const uint64_t *ref, struct ta_conn *c) {
  for (size_t i = REF_FROM; i < CONN_WORDS; i++)
    set_conn_word(c, 8 * i, conn_word(c, 8 * i) ^ ref[i - REF_FROM]);
}

/* The whole record a packed one holds. */
static void unpack(const struct ta_flow_table *t, const struct packed *pk,
                   struct ta_conn *c) {
  unpack_words(pk, CONN_GROUPS, c);
  if (pk->cls & PACK_REF)
    ref_xor(t->refs[((pk->cls & PACK_REF) >> PACK_REF_SHIFT) - 1], c);
  times_decode(c);
}

/* ---- sharing chunks between the sizes of packed records ---- */

static int by_address(const void *a, const void *b) {
  uintptr_t x = (uintptr_t)((const struct chunk *)a)->base;
  uintptr_t y = (uintptr_t)((const struct chunk *)b)->base;
  return (x > y) - (x < y);
}

/* The index of the chunk of p (sorted by address) holding item it, or
 * n_chunks when none of them does. */
static uint32_t chunk_index(const struct pool *p, const unsigned char *it) {
  uint32_t lo = 0, hi = p->n_chunks;
  while (hi - lo > 1) {
    uint32_t mid = lo + (hi - lo) / 2;
    if ((uintptr_t)p->chunks[mid].base <= (uintptr_t)it)
      lo = mid;
    else
      hi = mid;
  }
  uintptr_t base = (uintptr_t)p->chunks[lo].base, at = (uintptr_t)it;
  return at >= base && at < base + (size_t)p->chunks[lo].items * p->item
             ? lo : p->n_chunks;
}

static void *item_next(const void *it) {
  void *n;
  memcpy(&n, it, sizeof n);
  return n;
}

/* Takes the free items of [base, end) off p's free list, marking each in
 * mark (bit i: item i of the chunk). */
static void chunk_unfree(struct pool *p, const unsigned char *base,
                         const unsigned char *end, uint64_t *mark) {
  unsigned char *prev = NULL;
  for (unsigned char *it = p->free; it;) {
    unsigned char *next = item_next(it);
    if ((uintptr_t)it >= (uintptr_t)base && (uintptr_t)it < (uintptr_t)end) {
      size_t i = (size_t)(it - base) / p->item;
      mark[i / 64] |= 1ull << (i % 64);
      if (prev)
        memcpy(prev, &next, sizeof next);
      else
        p->free = next;
      p->n_free--;
    } else {
      prev = it;
    }
    it = next;
  }
}

/* Empties the chunk of p with the most free items into free items of its
 * other chunks, moving each record (in its list and bucket), and makes
 * it a spare. The free items of p must outnumber the chunk's: then they
 * have room. False when it cannot (nothing changed). */
static bool chunk_empty(struct ta_flow_table *t, struct pool *p) {
  uint32_t n = p->n_chunks;
  if (n < 2)
    return false;
  uint32_t *nfree = calloc(n + 1, sizeof *nfree);
  if (!nfree)
    return false;
  qsort(p->chunks, n, sizeof *p->chunks, by_address);
  for (unsigned char *it = p->free; it; it = item_next(it))
    nfree[chunk_index(p, it)]++;
  uint32_t v = 0;
  for (uint32_t i = 1; i < n; i++)
    if (nfree[i] > nfree[v])
      v = i;
  free(nfree);
  struct chunk k = p->chunks[v];
  if (p->n_free < k.items || k.items > PACK_CHUNK_BYTES / PACK_STEP)
    return false;
  unsigned char *base = k.base;
  uint64_t mark[PACK_CHUNK_BYTES / PACK_STEP / 64] = {0};
  chunk_unfree(p, base, base + (size_t)k.items * p->item, mark);
  for (uint32_t i = 0; i < k.items; i++) {
    if (mark[i / 64] & 1ull << (i % 64))
      continue;
    struct node *from = (struct node *)(base + (size_t)i * p->item);
    struct node *to = pool_get(p); /* never NULL: see above */
    p->n_free--;
    memcpy(to, from, p->item);
    node_replace(t, from, to);
    t->packed_moved++;
  }
  p->chunks[v] = p->chunks[--p->n_chunks];
  p->allocated -= k.items;
  struct spare *s = (struct spare *)base;
  s->bytes = k.bytes;
  s->next = *p->spares;
  *p->spares = s;
  return true;
}

/* An item for a packed record of class cls. When its pool has none free
 * and there is no spare chunk, the class with the most free bytes empties
 * a chunk for it if it has a chunk's worth and a quarter more to spare
 * (the quarter so that two classes do not trade one chunk back and
 * forth). Records waiting in due[] must not move: there are none while
 * records are packed (ta_flow_table_expire). */
static void *pack_item(struct ta_flow_table *t, size_t cls) {
  struct pool *p = &t->packs[cls];
  if (!p->free && !t->spares && !t->due_len) {
    struct pool *from = NULL;
    for (size_t c = 0; c < PACK_CLASSES; c++) {
      struct pool *q = &t->packs[c];
      if (q != p && q->n_free >= q->per_chunk + q->per_chunk / 4 &&
          (!from || q->n_free * q->item > from->n_free * from->item))
        from = q;
    }
    if (from)
      chunk_empty(t, from);
  }
  void *it = pool_get(p);
  if (it)
    p->n_free--;
  return it;
}

static void pack_put(struct ta_flow_table *t, struct packed *pk) {
  struct pool *p = &t->packs[pk->cls & ~PACK_REF];
  pool_put(p, pk);
  p->n_free++;
}

/* Packs an idle full record in its place, when that saves enough and
 * there is memory for it; otherwise it stays as it is. */
static void pack(struct ta_flow_table *t, struct full *f) {
  uint8_t lens[CONN_GROUPS * 8];
  uint8_t data[sizeof(struct ta_conn) + 8];
  times_encode(&f->conn);
  size_t len = pack_words(&f->conn, lens, data);
  size_t need = offsetof(struct packed, data) + len + 8;
  size_t cls = (need + PACK_STEP - 1) / PACK_STEP - 1;
  struct packed *pk = cls < PACK_CLASSES ? pack_item(t, cls) : NULL;
  if (!pk) {
    times_decode(&f->conn);
    return;
  }
  pk->n.form = FORM_PACKED;
  pk->cls = (uint8_t)cls;
  memcpy(pk->lens, lens, sizeof lens);
  memcpy(pk->data, data, len);
  node_replace(t, &f->n, &pk->n);
  pool_put(&t->fulls, f);
}

/* Packs the records of a list idle for its packing time, when the table
 * holds enough for it to matter (those passed over stay full). While it
 * does not, the cursor of a list without reference packing waits where it
 * is, and the table is looked at again a packing time later: walking on
 * would read every record of the list (each a cache miss) for nothing.
 * One with it walks on, since its cursor must stay ahead of the
 * reference one (lru_cursors_catch). */
static void pack_list(struct ta_flow_table *t, struct lru *l, int64_t now) {
  bool worth = t->open >= l->pack_min_held;
  if (!worth && !l->ref_after) {
    l->pack_due = now + l->pack_after;
    return;
  }
  struct node *e;
  while ((e = l->cursor) && now >= e->last_ts + l->pack_after) {
    l->cursor = e->next;
    if (worth && e->form == FORM_FULL)
      pack(t, (struct full *)e);
  }
  l->pack_due = e ? e->last_ts + l->pack_after : INT64_MAX;
  if (e && worth)
    prefetch_next(t, e, true);
}

/* The size class of a record of len bytes packed. */
static size_t pack_class(size_t len) {
  size_t need = offsetof(struct packed, data) + len + 8;
  return (need + PACK_STEP - 1) / PACK_STEP - 1;
}

/* Bytes c's words in [from, to) take packed. */
static size_t words_len(const struct ta_conn *c, size_t from, size_t to) {
  size_t len = 0;
  for (size_t i = from; i < to; i++)
    len += word_len(conn_word(c, 8 * i));
  return len;
}

/* Bytes c's words from REF_FROM would take packed against ref: counted
 * only, since most references tried are not kept. */
static size_t ref_tail_len(const uint64_t *ref, const struct ta_conn *c) {
  size_t len = 0;
  for (size_t i = REF_FROM; i < CONN_WORDS; i++)
    len += word_len(conn_word(c, 8 * i) ^ ref[i - REF_FROM]);
  return len;
}

/* Packs a packed record again against the reference that makes it the
 * smallest, or as a new reference, when that makes it smaller. Its new
 * item comes from its size's pool without emptying a chunk, which could
 * move the record itself. */
static void pack_ref(struct ta_flow_table *t, struct packed *pk) {
  struct ta_conn *c = &t->scratch; /* free: nothing is being handed on */
  uint8_t lens[CONN_GROUPS * 8];
  uint8_t data[sizeof(struct ta_conn) + 8];
  unpack_words(pk, CONN_GROUPS, c);
  size_t head = words_len(c, 0, REF_FROM); /* the same against any */
  size_t best = CONN_WORDS * 8 + 1;
  unsigned r = 0;
  for (unsigned i = 0; i < t->n_refs; i++) {
    size_t len = head + ref_tail_len(t->refs[i], c);
    if (len < best) {
      best = len;
      r = i;
    }
  }
  if (pack_class(best) + 1 >= pk->cls && t->n_refs < PACK_REFS) {
    uint64_t *ref = malloc((CONN_WORDS - REF_FROM) * 8);
    if (!ref)
      return;
    memcpy(ref, (const unsigned char *)c + 8 * REF_FROM,
           (CONN_WORDS - REF_FROM) * 8);
    r = t->n_refs;
    t->refs[t->n_refs++] = ref;
  } else if (r >= t->n_refs) {
    return;
  }
  ref_xor(t->refs[r], c); /* c is the scratch record: no need to undo */
  size_t len = pack_words(c, lens, data);
  size_t cls = pack_class(len);
  if (cls >= pk->cls)
    return;
  struct pool *p = &t->packs[cls];
  struct packed *to = pool_get(p);
  if (!to)
    return;
  p->n_free--;
  to->n.form = FORM_PACKED;
  to->cls = (uint8_t)(cls | (r + 1) << PACK_REF_SHIFT);
  memcpy(to->lens, lens, sizeof lens);
  memcpy(to->data, data, len);
  node_replace(t, &pk->n, &to->n);
  pack_put(t, pk);
}

/* Packs against the reference the packed records of a list idle for its
 * time for that (the full ones are left to pack_list). */
static void pack_ref_list(struct ta_flow_table *t, struct lru *l,
                          int64_t now) {
  struct node *e;
  while ((e = l->ref_cursor) && now >= e->last_ts + l->ref_after) {
    l->ref_cursor = e->next;
    if (e->form == FORM_PACKED &&
        !(((struct packed *)e)->cls & PACK_REF))
      pack_ref(t, (struct packed *)e);
  }
  l->ref_due = e ? e->last_ts + l->ref_after : INT64_MAX;
}

/* ---- records ---- */

/* The record as the reporters see it; an attempt's or a packed one's is
 * rebuilt in the table's scratch record, valid until the next one. */
static struct ta_conn *record(struct ta_flow_table *t, struct node *e) {
  if (e->form == FORM_FULL)
    return &((struct full *)e)->conn;
  if (e->form == FORM_PACKED)
    unpack(t, (const struct packed *)e, &t->scratch);
  else
    replay((const struct attempt *)e, &t->scratch);
  return &t->scratch;
}

static void finalize(struct ta_flow_table *t, struct ta_conn *c,
                     enum ta_end_reason why) {
  ta_conn_finalize_memo(c, why, &t->fp_memo);
  t->stats.by_scenario[c->scenario]++;
  t->stats.by_conn_state[c->conn_state]++;
  if (why == TA_END_EVICTED)
    t->stats.evicted++;
  else if (why == TA_END_IDLE)
    t->stats.idle_timeouts++;
}

static void emit(struct ta_flow_table *t, struct node *e,
                 enum ta_end_reason why) {
  struct ta_conn *c = record(t, e);
  finalize(t, c, why);
  t->emit(t->ctx, c);
}

static void node_free(struct ta_flow_table *t, struct node *e) {
  if (e->form == FORM_FULL)
    pool_put(&t->fulls, e);
  else if (e->form == FORM_PACKED)
    pack_put(t, (struct packed *)e);
  else
    attempt_free(t, (struct attempt *)e);
  t->open--;
}

static void entry_release(struct ta_flow_table *t, struct node *e,
                          enum ta_end_reason why) {
  lru_remove(t, e);
  bucket_remove(t, e);
  emit(t, e, why);
  node_free(t, e);
}

/* Takes e out of its list (it stays findable until due_flush); when the
 * pending array cannot grow, e is handed on at once instead. */
static void due_push(struct ta_flow_table *t, struct node *e,
                     enum ta_end_reason why) {
  if (t->due_len == t->due_cap) {
    size_t cap = t->due_cap ? 2 * t->due_cap : 64;
    struct node **d = realloc(t->due, cap * sizeof *d);
    if (!d) {
      entry_release(t, e, why);
      return;
    }
    t->due = d;
    t->due_cap = cap;
  }
  lru_remove(t, e);
  e->list = (uint8_t)why; /* out of every list now: the field keeps why */
  t->due[t->due_len++] = e;
}

static int by_id(const void *a, const void *b) {
  uint64_t x = (*(struct node *const *)a)->id;
  uint64_t y = (*(struct node *const *)b)->id;
  return (x > y) - (x < y);
}

#define RADIX_BITS 11u
#define RADIX_SIZE (1u << RADIX_BITS)

/* Sorts d[0..n) by id, a digit of RADIX_BITS at a time from the lowest,
 * as many digits as max (the highest id) has; NULL when memory ran out.
 * One pass counts every digit, and each digit's pass then moves the
 * records: a few reads of each record's id (each a cache miss in a big
 * table) where a comparison sort makes some twenty. Ids are unique, so no
 * order between equals is needed. */
static bool radix_by_id(struct node **d, size_t n, uint64_t max) {
  unsigned digits = 0;
  while (digits * RADIX_BITS < 64 && max >> (digits * RADIX_BITS))
    digits++;
  size_t counts = (size_t)digits * RADIX_SIZE;
  void *mem = malloc(n * sizeof *d + counts * sizeof(size_t));
  if (!mem)
    return false;
  struct node **from = d, **to = mem;
  size_t *count = (size_t *)(to + n);
  memset(count, 0, counts * sizeof *count);
  for (size_t i = 0; i < n; i++)
    for (unsigned k = 0; k < digits; k++)
      count[k * RADIX_SIZE + ((d[i]->id >> (k * RADIX_BITS)) & (RADIX_SIZE - 1))]++;
  for (unsigned k = 0; k < digits; k++) {
    size_t *c = count + k * RADIX_SIZE, sum = 0;
    for (size_t b = 0; b < RADIX_SIZE; b++) {
      size_t here = c[b];
      c[b] = sum;
      sum += here;
    }
    for (size_t i = 0; i < n; i++)
      to[c[(from[i]->id >> (k * RADIX_BITS)) & (RADIX_SIZE - 1)]++] = from[i];
    struct node **swap = from;
    from = to;
    to = swap;
  }
  if (from != d)
    memcpy(d, from, n * sizeof *d);
  free(mem);
  return true;
}

/* Puts the pending records in id order. They are often in order already
 * (one list's records due at one moment mostly began in order), which
 * one pass finds. */
static void due_sort(struct ta_flow_table *t) {
  struct node **d = t->due;
  size_t n = t->due_len;
  bool sorted = true;
  uint64_t max = n ? d[0]->id : 0;
  for (size_t i = 1; i < n; i++) {
    if (d[i]->id < d[i - 1]->id)
      sorted = false;
    if (d[i]->id > max)
      max = d[i]->id;
  }
  if (sorted)
    return;
  if (n < 64) { /* a few, as at most moments: insertion costs the least */
    for (size_t i = 1; i < n; i++) {
      struct node *e = d[i];
      size_t j = i;
      for (; j > 0 && d[j - 1]->id > e->id; j--)
        d[j] = d[j - 1];
      d[j] = e;
    }
    return;
  }
  if (!radix_by_id(d, n, max))
    qsort(d, n, sizeof *d, by_id);
}

/* Hands on the pending records in id order. */
static void due_flush(struct ta_flow_table *t) {
  due_sort(t);
  for (size_t i = 0; i < t->due_len; i++) {
    prefetch_due(t, i);
    struct node *e = t->due[i];
    bucket_remove(t, e);
    emit(t, e, (enum ta_end_reason)e->list);
    node_free(t, e);
  }
  t->due_len = 0;
}

/* Hands on the due records of one list (whose deadline has come); the
 * first one not due bounds
 * every record behind it (in time order; a capture whose time goes back
 * may see some handed on a little late). */
static void expire_list(struct ta_flow_table *t, uint8_t list, int64_t now,
                        enum ta_end_reason why) {
  struct lru *l = &t->lists[list];
  struct node *e;
  while ((e = l->head) && now >= e->last_ts + l->timeout + l->strict)
    due_push(t, e, why);
  l->deadline = e ? e->last_ts + l->timeout + l->strict : INT64_MAX;
  if (e)
    prefetch_next(t, e, false);
}

void ta_flow_table_expire(struct ta_flow_table *t, int64_t now) {
  if (now < t->next_due) /* the usual case: one compare per packet */
    return;
  /* most calls come for packing, or for one list: the deadlines are
   * checked here, not in a call each */
  if (now >= t->lists[LIST_CLOSED].deadline)
    expire_list(t, LIST_CLOSED, now, TA_END_CLOSED);
  if (now >= t->lists[LIST_ATTEMPT].deadline)
    expire_list(t, LIST_ATTEMPT, now, TA_END_IDLE);
  if (now >= t->lists[LIST_OPEN].deadline)
    expire_list(t, LIST_OPEN, now, TA_END_IDLE);
  if (t->due_len)
    due_flush(t); /* before packing, which may move records (pack_item) */
  t->next_due = INT64_MAX;
  for (int i = 0; i < LIST_COUNT; i++) {
    struct lru *l = &t->lists[i];
    if (now >= l->pack_due)
      pack_list(t, l, now);
    if (now >= l->ref_due)
      pack_ref_list(t, l, now);
    if (l->deadline < t->next_due)
      t->next_due = l->deadline;
    if (l->pack_due < t->next_due)
      t->next_due = l->pack_due;
    if (l->ref_due < t->next_due)
      t->next_due = l->ref_due;
  }
}

/* Makes room by handing on the least recently active record; a closed
 * one goes first since it is already over, then the oldest attempt (a
 * lone SYN says the least), then the least recently active connection. */
static void evict_one(struct ta_flow_table *t) {
  struct node *e = t->lists[LIST_CLOSED].head;
  if (e) {
    entry_release(t, e, TA_END_CLOSED);
    return;
  }
  static const uint8_t order[] = {LIST_ATTEMPT, LIST_OPEN};
  for (size_t i = 0; i < sizeof order; i++) {
    if ((e = t->lists[order[i]].head)) {
      entry_release(t, e, TA_END_EVICTED);
      return;
    }
  }
}

static uint8_t list_for(const struct ta_conn *c) {
  if (c->closed)
    return LIST_CLOSED;
  bool syns_only = c->syn_seen && c->side[TA_DIR_RESP].pkts == 0 &&
                   c->side[TA_DIR_ORIG].pkts == c->syn_count;
  return syns_only ? LIST_ATTEMPT : LIST_OPEN;
}

static struct node *find(struct ta_flow_table *t, uint64_t h,
                         const struct ta_packet *p) {
  for (struct node *e = t->buckets[h & t->mask]; e; e = e->hnext)
    if (e->hash == (uint32_t)h && tuple_match(e, p))
      return e;
  return NULL;
}

/* Memory for one more record from pool, making room first when the table
 * holds its cap (or memory ran out); NULL if there is still none. */
static void *hold(struct ta_flow_table *t, struct pool *pool) {
  void *m = NULL;
  if (t->open >= t->cfg.max_conns || !(m = pool_get(pool))) {
    evict_one(t);
    m = pool_get(pool);
  }
  return m;
}

/* n empty buckets, NULL on ENOMEM. An array of a huge page or more is put
 * on huge pages: each lookup reads a bucket at random, and on small pages
 * nearly each would miss the TLB as well (ta_arena.h says why that costs
 * more in a virtual machine). Smaller arrays keep small pages, so that a
 * small table takes no more memory than its buckets. */
static struct node **buckets_alloc(uint64_t n) {
  size_t bytes = (size_t)n * sizeof(struct node *);
  if (bytes < TA_ARENA_PAGE)
    return calloc(n, sizeof(struct node *));
  struct node **b = aligned_alloc(TA_ARENA_PAGE, bytes);
  if (b) {
    madvise(b, bytes, MADV_HUGEPAGE); /* merely slower when refused */
    memset(b, 0, bytes);
  }
  return b;
}

/* Doubles the bucket array, refiling every record; when memory runs out
 * the chains just grow longer. */
static void buckets_grow(struct ta_flow_table *t) {
  uint64_t nb = 2 * (t->mask + 1);
  struct node **b = buckets_alloc(nb);
  if (!b) {
    t->max_buckets = t->mask + 1;
    return;
  }
  for (uint64_t i = 0; i <= t->mask; i++) {
    struct node *e = t->buckets[i];
    while (e) {
      struct node *next = e->hnext;
      e->hnext = b[e->hash & (nb - 1)];
      b[e->hash & (nb - 1)] = e;
      e = next;
    }
  }
  free(t->buckets);
  t->buckets = b;
  t->mask = nb - 1;
}

/* Files a new record under its tuple; pkt starts it. */
static void node_add(struct ta_flow_table *t, struct node *e, uint64_t h,
                     const struct ta_packet *p) {
  if ((uint64_t)t->open * BUCKETS_PER_RECORD >= t->mask + 1 &&
      t->mask + 1 < t->max_buckets)
    buckets_grow(t);
  e->hash = (uint32_t)h;
  e->id = p->frame ? p->frame : t->next_id++;
  e->hnext = t->buckets[h & t->mask];
  t->buckets[h & t->mask] = e;
  t->stats.connections++;
  e->list = LIST_NONE; /* queued once its first packet says where */
  e->prev = e->next = NULL;
  if (++t->open > t->stats.peak_open)
    t->stats.peak_open = t->open;
}

static struct node *create_attempt(struct ta_flow_table *t, uint64_t h,
                                   const struct ta_packet *p) {
  uint8_t family = p->family == 6 ? 6 : 4;
  struct attempt *a = hold(t, &t->attempts[attempt_pool(family)]);
  if (!a)
    return NULL;
  a->n.form = FORM_ATTEMPT;
  node_add(t, &a->n, h, p);
  a->n.last_ts = p->ts_ns;
  a->family = family;
  size_t alen = attempt_alen(a);
  memcpy(a->addr, p->src, alen);
  memcpy(a->addr + alen, p->dst, alen);
  a->sport = p->sport;
  a->dport = p->dport;
  a->seq = p->seq;
  a->n_syns = 1;
  a->n_rsts = 0;
  a->more = NULL;
  held_pack(&a->first, p);
  return &a->n;
}

static struct full *create_full(struct ta_flow_table *t, uint64_t h,
                                const struct ta_packet *p) {
  struct full *f = hold(t, &t->fulls);
  if (!f)
    return NULL;
  f->n.form = FORM_FULL;
  node_add(t, &f->n, h, p);
  ta_conn_init(&f->conn, f->n.id, p);
  return f;
}

/* The record as a full one in its place, for a packet the attempt cannot
 * hold or one for a packed record; NULL when memory ran out, and the record
 * was handed on as evicted. */
static struct full *materialize(struct ta_flow_table *t, struct node *e) {
  struct full *f = pool_get(&t->fulls);
  if (!f) {
    entry_release(t, e, TA_END_EVICTED);
    return NULL;
  }
  f->n.form = FORM_FULL;
  if (e->form == FORM_PACKED)
    unpack(t, (const struct packed *)e, &f->conn);
  else
    replay((const struct attempt *)e, &f->conn);
  node_replace(t, e, &f->n);
  if (e->form == FORM_PACKED)
    pack_put(t, (struct packed *)e);
  else
    attempt_free(t, (struct attempt *)e);
  lru_requeue(t, &f->n);
  return f;
}

uint64_t ta_flow_table_hash(const struct ta_flow_table *t,
                            const struct ta_packet *p) {
  return tuple_hash(t, p->family, p->src, p->sport, p->dst, p->dport);
}

/* Prefetch never faults, so a stale bucket's pointer does no harm. */
void ta_flow_table_prefetch(const struct ta_flow_table *t, uint64_t h,
                            int step) {
  struct node *const *b = &t->buckets[h & t->mask];
  if (step == 0) {
    __builtin_prefetch(b);
    return;
  }
  const char *e = (const char *)*b;
  if (e) {
    __builtin_prefetch(e);
    __builtin_prefetch(e + 64);
  }
}

void ta_flow_table_packet(struct ta_flow_table *t, const struct ta_packet *p) {
  ta_flow_table_packet_hashed(t, p, ta_flow_table_hash(t, p));
}

void ta_flow_table_packet_hashed(struct ta_flow_table *t,
                                 const struct ta_packet *p, uint64_t h) {
  ta_flow_table_expire(t, p->ts_ns);
  struct node *e = find(t, h, p);
  if (e && e->form == FORM_ATTEMPT &&
      attempt_add(t, (struct attempt *)e, p)) {
    lru_touch(t, e, attempt_list((const struct attempt *)e));
    return;
  }
  if (e && e->form != FORM_FULL)
    e = (struct node *)materialize(t, e);
  struct full *f = (struct full *)e;
  if (f && ta_conn_is_new_attempt(&f->conn, p)) {
    entry_release(t, e, TA_END_REUSED);
    f = NULL;
  }
  if (!f) {
    /* a pure SYN leaves a record in the attempt list: ta_conn_update
     * counts it as the originator's, and it closes nothing */
    if (syn_alone(p) && (e = create_attempt(t, h, p))) {
      lru_touch(t, e, LIST_ATTEMPT);
      return;
    }
    if (!(f = create_full(t, h, p)))
      return; /* unreachable: eviction always frees one record */
  }
  ta_conn_update(&f->conn, p);
  f->n.last_ts = f->conn.last_ts;
  lru_touch(t, &f->n, list_for(&f->conn));
}

size_t ta_flow_table_drain(struct ta_flow_table *t) {
  for (int l = 0; l < LIST_COUNT; l++) {
    struct node *e;
    while ((e = t->lists[l].head))
      due_push(t, e, l == LIST_CLOSED ? TA_END_CLOSED : TA_END_CAPTURE_END);
  }
  due_sort(t);
  t->taken = 0;
  return t->due_len;
}

const struct ta_conn *ta_flow_table_take(struct ta_flow_table *t) {
  if (t->taken) { /* the record handed out last time */
    struct node *prev = t->due[t->taken - 1];
    bucket_remove(t, prev);
    node_free(t, prev);
  }
  if (t->taken == t->due_len) {
    t->due_len = t->taken = 0;
    return NULL;
  }
  prefetch_due(t, t->taken);
  struct node *e = t->due[t->taken++];
  struct ta_conn *c = record(t, e);
  finalize(t, c, (enum ta_end_reason)e->list);
  return c;
}

void ta_flow_table_flush(struct ta_flow_table *t) {
  ta_flow_table_drain(t);
  const struct ta_conn *c;
  while ((c = ta_flow_table_take(t)))
    t->emit(t->ctx, c);
}

int64_t ta_flow_table_next_due(const struct ta_flow_table *t) {
  return t->next_due;
}

uint32_t ta_flow_table_open(const struct ta_flow_table *t) { return t->open; }

void ta_flow_table_stats(const struct ta_flow_table *t,
                         struct ta_flow_stats *s) {
  *s = t->stats;
  s->max_open = t->cfg.max_conns;
}

uint64_t ta_flow_table_bucket(const struct ta_flow_table *t,
                              const struct ta_packet *p) {
  return tuple_hash(t, p->family, p->src, p->sport, p->dst, p->dport) &
         t->mask;
}

uint32_t ta_flow_table_longest_chain(const struct ta_flow_table *t) {
  uint32_t longest = 0;
  for (uint64_t i = 0; i <= t->mask; i++) {
    uint32_t n = 0;
    for (const struct node *e = t->buckets[i]; e; e = e->hnext)
      n++;
    if (n > longest)
      longest = n;
  }
  return longest;
}

void ta_flow_table_forms(const struct ta_flow_table *t,
                         struct ta_flow_forms *f) {
  memset(f, 0, sizeof *f);
  for (int l = 0; l < LIST_COUNT; l++)
    for (const struct node *e = t->lists[l].head; e; e = e->next)
      if (e->form == FORM_FULL)
        f->full++;
      else if (e->form == FORM_PACKED)
        f->packed++;
      else
        f->packets++;
}

uint64_t ta_flow_table_packed_moved(const struct ta_flow_table *t) {
  return t->packed_moved;
}

size_t ta__flow_pack_trial(const struct ta_conn *c, unsigned portable,
                           struct ta_conn *out) {
  union {
    struct packed pk;
    unsigned char room[sizeof(struct packed) + sizeof(struct ta_conn) + 8];
  } u;
  memset(&u, 0, sizeof u);
  size_t len = portable & TA_FLOW_PORTABLE_PACK
                   ? pack_words_portable(c, u.pk.lens, u.pk.data)
                   : pack_words(c, u.pk.lens, u.pk.data);
  if (portable & TA_FLOW_PORTABLE_UNPACK)
    unpack_words_portable(&u.pk, CONN_WORDS, out);
  else
    unpack_words(&u.pk, CONN_GROUPS, out);
  return len;
}

size_t ta_flow_record_size(int attempt_syns) {
  if (attempt_syns <= 0)
    return sizeof(struct full);
  return sizeof(struct attempt) + 2 * 4 +
         (size_t)(attempt_syns - 1) * sizeof(struct held_more);
}

static uint64_t random_seed(void) {
  uint64_t s = 0;
  if (getrandom(&s, sizeof s, 0) != (ssize_t)sizeof s)
    s = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&s;
  return s;
}

struct ta_flow_table *ta_flow_table_new(const struct ta_flow_config *cfg,
                                        ta_flow_emit_fn emit_fn, void *ctx) {
  struct ta_flow_table *t = calloc(1, sizeof *t);
  if (!t)
    return NULL;
  t->cfg = *cfg;
  if (t->cfg.max_conns == 0)
    t->cfg.max_conns = 1;
  t->emit = emit_fn;
  t->ctx = ctx;
  t->max_buckets = 1024;
  while (t->max_buckets < 2ull * t->cfg.max_conns &&
         t->max_buckets < (1ull << 26))
    t->max_buckets <<= 1;
  uint64_t nb =
      t->max_buckets < BUCKETS_FIRST ? t->max_buckets : BUCKETS_FIRST;
  t->buckets = buckets_alloc(nb);
  if (!t->buckets) {
    free(t);
    return NULL;
  }
  t->mask = nb - 1;
  /* each pool may hold the whole cap; an attempt past the packet pool's
   * becomes a full record */
  ta_arena_init(&t->arena);
  pool_init(&t->fulls, &t->arena, sizeof(struct full), POOL_CHUNK,
            t->cfg.max_conns);
  for (int v6 = 0; v6 < 2; v6++)
    pool_init(&t->attempts[v6], &t->arena,
              sizeof(struct attempt) + (v6 ? 32 : 8), POOL_CHUNK,
              t->cfg.max_conns);
  pool_init(&t->helds, &t->arena, sizeof(struct held_more), POOL_CHUNK,
            t->cfg.max_conns);
  /* packed records, of every size together, may take half of what the
   * cap's full records would: past that, records stay full */
  t->pack_budget = (size_t)t->cfg.max_conns * sizeof(struct full) / 2;
  for (uint32_t c = 0; c < PACK_CLASSES; c++) {
    size_t item = (c + 1) * PACK_STEP;
    /* a small table's budget must not go to a chunk of one class */
    uint32_t per_chunk = (uint32_t)(PACK_CHUNK_BYTES / item);
    uint32_t share = t->cfg.max_conns / PACK_CLASSES;
    pool_init(&t->packs[c], &t->arena, item,
              per_chunk < share ? per_chunk : share ? share : 1, UINT32_MAX);
    t->packs[c].budget = &t->pack_budget;
    t->packs[c].spares = &t->spares;
  }
  t->lists[LIST_OPEN].timeout = t->cfg.idle_timeout_ns;
  t->lists[LIST_CLOSED].timeout = t->cfg.linger_ns;
  t->lists[LIST_CLOSED].strict = true; /* as Zeek's close delay */
  if (!t->cfg.pack_min_held)
    t->cfg.pack_min_held = TA_PACK_MIN_HELD;
  t->lists[LIST_OPEN].pack_after = (int64_t)TA_PACK_OPEN_AFTER_MS * 1000000;
  t->lists[LIST_CLOSED].pack_after =
      (int64_t)TA_PACK_CLOSED_AFTER_MS * 1000000;
  if (!t->cfg.pack_closed_min_held)
    t->cfg.pack_closed_min_held = TA_PACK_CLOSED_MIN_HELD;
  for (int l = 0; l < LIST_COUNT; l++)
    t->lists[l].pack_min_held = l == LIST_CLOSED
                                    ? t->cfg.pack_closed_min_held
                                    : t->cfg.pack_min_held;
  int64_t attempt = t->cfg.attempt_timeout_ns;
  t->lists[LIST_ATTEMPT].timeout =
      attempt && attempt < t->cfg.idle_timeout_ns ? attempt
                                                  : t->cfg.idle_timeout_ns;
  int64_t ref_after = t->cfg.idle_timeout_ns / 10; /* see PACK_REF */
  if (ref_after >= (int64_t)REF_AFTER_MIN_S * 1000000000)
    t->lists[LIST_OPEN].ref_after = ref_after;
  for (int l = 0; l < LIST_COUNT; l++)
    t->lists[l].deadline = t->lists[l].pack_due = t->lists[l].ref_due =
        INT64_MAX;
  t->next_due = INT64_MAX;
  uint64_t s = cfg->seed ? cfg->seed : random_seed();
  for (int i = 0; i < 8; i++)
    t->k[i] = mix64(s + 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1)) | (i & 1);
  t->next_id = 1;
  return t;
}

void ta_flow_table_free(struct ta_flow_table *t) {
  if (!t)
    return;
  ta_arena_free(&t->arena); /* every pool's chunks */
  for (uint32_t c = 0; c < PACK_CLASSES; c++)
    free(t->packs[c].chunks);
  free(t->buckets);
  free(t->due);
  for (unsigned i = 0; i < t->n_refs; i++)
    free(t->refs[i]);
  free(t);
}
