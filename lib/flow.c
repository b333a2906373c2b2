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
 * do no expiry work at all. */
#include "ta_flow.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define FLOW_CHUNK 1024u /* records allocated at once as the table grows */

/* Open connections, closed ones lingering, and attempts: records holding
 * nothing but the originator's SYNs, which a scan or a flood makes by the
 * million and which are over much sooner than an idle connection. */
enum { LIST_OPEN = 0, LIST_CLOSED = 1, LIST_ATTEMPT = 2, LIST_COUNT = 3,
       LIST_NONE = 255 /* not queued yet */ };

struct entry {
  struct entry *hnext;
  struct entry *prev, *next; /* LRU list links */
  uint64_t hash;
  uint8_t list;
  struct ta_conn conn;
};

struct lru {
  struct entry *head, *tail;
  int64_t timeout;  /* idle timeout or linger time of this list */
  int64_t deadline; /* nothing in the list is due before this time */
  bool strict;      /* due only once idle for more than the timeout */
};

struct chunk {
  struct chunk *next;
  struct entry e[FLOW_CHUNK];
};

struct ta_flow_table {
  struct ta_flow_config cfg;
  ta_flow_emit_fn emit;
  void *ctx;
  struct entry **buckets;
  uint64_t mask;
  uint64_t k[6]; /* per-run hash keys */
  struct lru lists[LIST_COUNT];
  int64_t next_due; /* the earliest of the lists' deadlines */
  struct entry *free_list;
  struct chunk *chunks;
  struct entry **due;  /* records due at one moment, sorted before emission */
  size_t due_len, due_cap;
  size_t taken;        /* of due[], handed out by ta_flow_table_take */
  uint32_t allocated, open;
  uint64_t next_id;
  struct ta_flow_stats stats;
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

/* Keyed multiply-add over the words of both endpoints, ordered so that
 * both directions hash alike. Keys are random per run, so a capture cannot
 * be crafted in advance to collide. */
static uint64_t tuple_hash(const struct ta_flow_table *t, uint8_t family,
                           const uint8_t *a, uint16_t ap, const uint8_t *b,
                           uint16_t bp) {
  uint64_t a0 = load64(a), a1 = load64(a + 8), b0 = load64(b),
           b1 = load64(b + 8);
  if (a0 > b0 || (a0 == b0 && (a1 > b1 || (a1 == b1 && ap > bp)))) {
    uint64_t t0 = a0, t1 = a1;
    uint16_t tp = ap;
    a0 = b0, a1 = b1, ap = bp;
    b0 = t0, b1 = t1, bp = tp;
  }
  uint64_t h = t->k[0] ^ family;
  h = (h ^ a0) * (t->k[1] | 1);
  h = (h ^ a1) * (t->k[2] | 1);
  h = (h ^ b0) * (t->k[3] | 1);
  h = (h ^ b1) * (t->k[4] | 1);
  h = (h ^ ((uint64_t)ap << 16 | bp)) * (t->k[5] | 1);
  return mix64(h);
}

static bool tuple_match(const struct ta_conn *c, const struct ta_packet *p) {
  if (c->family != p->family)
    return false;
  const struct ta_side *o = &c->side[0], *r = &c->side[1];
  if (o->port == p->sport && r->port == p->dport && ip_equal(o->ip, p->src) &&
      ip_equal(r->ip, p->dst))
    return true;
  return o->port == p->dport && r->port == p->sport &&
         ip_equal(o->ip, p->dst) && ip_equal(r->ip, p->src);
}

/* ---- lists ---- */

static void lru_remove(struct ta_flow_table *t, struct entry *e) {
  struct lru *l = &t->lists[e->list];
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

static void lru_append(struct ta_flow_table *t, struct entry *e, uint8_t list) {
  struct lru *l = &t->lists[list];
  e->list = list;
  if (!l->head)
    l->deadline = e->conn.last_ts + l->timeout + l->strict;
  if (l->deadline < t->next_due)
    t->next_due = l->deadline;
  e->next = NULL;
  e->prev = l->tail;
  if (l->tail)
    l->tail->next = e;
  else
    l->head = e;
  l->tail = e;
}

static void bucket_remove(struct ta_flow_table *t, struct entry *e) {
  struct entry **pp = &t->buckets[e->hash & t->mask];
  while (*pp && *pp != e)
    pp = &(*pp)->hnext;
  if (*pp)
    *pp = e->hnext;
}

/* ---- records ---- */

static struct entry *entry_alloc(struct ta_flow_table *t) {
  if (!t->free_list) {
    if (t->allocated >= t->cfg.max_conns)
      return NULL;
    struct chunk *ch = malloc(sizeof *ch);
    if (!ch)
      return NULL;
    ch->next = t->chunks;
    t->chunks = ch;
    for (uint32_t i = 0; i < FLOW_CHUNK; i++) {
      ch->e[i].hnext = t->free_list;
      t->free_list = &ch->e[i];
    }
    t->allocated += FLOW_CHUNK;
  }
  struct entry *e = t->free_list;
  t->free_list = e->hnext;
  return e;
}

static void finalize(struct ta_flow_table *t, struct entry *e,
                     enum ta_end_reason why) {
  ta_conn_finalize(&e->conn, why);
  t->stats.by_scenario[e->conn.scenario]++;
  t->stats.by_conn_state[e->conn.conn_state]++;
  if (why == TA_END_EVICTED)
    t->stats.evicted++;
  else if (why == TA_END_IDLE)
    t->stats.idle_timeouts++;
}

static void emit(struct ta_flow_table *t, struct entry *e,
                 enum ta_end_reason why) {
  finalize(t, e, why);
  t->emit(t->ctx, &e->conn);
}

static void entry_free(struct ta_flow_table *t, struct entry *e) {
  e->hnext = t->free_list;
  t->free_list = e;
  t->open--;
}

static void entry_release(struct ta_flow_table *t, struct entry *e,
                          enum ta_end_reason why) {
  lru_remove(t, e);
  bucket_remove(t, e);
  emit(t, e, why);
  entry_free(t, e);
}

/* Takes e out of its list (it stays findable until due_flush); when the
 * pending array cannot grow, e is handed on at once instead. */
static void due_push(struct ta_flow_table *t, struct entry *e,
                     enum ta_end_reason why) {
  if (t->due_len == t->due_cap) {
    size_t cap = t->due_cap ? 2 * t->due_cap : 64;
    struct entry **d = realloc(t->due, cap * sizeof *d);
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
  uint64_t x = (*(struct entry *const *)a)->conn.id;
  uint64_t y = (*(struct entry *const *)b)->conn.id;
  return (x > y) - (x < y);
}

/* Hands on the pending records in id order. */
static void due_flush(struct ta_flow_table *t) {
  if (t->due_len > 1)
    qsort(t->due, t->due_len, sizeof *t->due, by_id);
  for (size_t i = 0; i < t->due_len; i++) {
    struct entry *e = t->due[i];
    bucket_remove(t, e);
    emit(t, e, (enum ta_end_reason)e->list);
    entry_free(t, e);
  }
  t->due_len = 0;
}

/* Hands on the due records of one list; the first one not due bounds
 * every record behind it (in time order; a capture whose time goes back
 * may see some handed on a little late). */
static void expire_list(struct ta_flow_table *t, uint8_t list, int64_t now,
                        enum ta_end_reason why) {
  struct lru *l = &t->lists[list];
  if (now < l->deadline)
    return;
  struct entry *e;
  while ((e = l->head) && now >= e->conn.last_ts + l->timeout + l->strict)
    due_push(t, e, why);
  l->deadline = e ? e->conn.last_ts + l->timeout + l->strict : INT64_MAX;
}

void ta_flow_table_expire(struct ta_flow_table *t, int64_t now) {
  if (now < t->next_due) /* the usual case: one compare per packet */
    return;
  expire_list(t, LIST_CLOSED, now, TA_END_CLOSED);
  expire_list(t, LIST_ATTEMPT, now, TA_END_IDLE);
  expire_list(t, LIST_OPEN, now, TA_END_IDLE);
  t->next_due = INT64_MAX;
  for (int l = 0; l < LIST_COUNT; l++)
    if (t->lists[l].deadline < t->next_due)
      t->next_due = t->lists[l].deadline;
  due_flush(t);
}

/* Makes room by handing on the least recently active record; a closed
 * one goes first since it is already over, then the oldest attempt (a
 * lone SYN says the least), then the least recently active connection. */
static void evict_one(struct ta_flow_table *t) {
  struct entry *e = t->lists[LIST_CLOSED].head;
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

static struct entry *find(struct ta_flow_table *t, uint64_t h,
                          const struct ta_packet *p) {
  for (struct entry *e = t->buckets[h & t->mask]; e; e = e->hnext)
    if (e->hash == h && tuple_match(&e->conn, p))
      return e;
  return NULL;
}

static struct entry *create(struct ta_flow_table *t, uint64_t h,
                            const struct ta_packet *p) {
  struct entry *e = NULL;
  if (t->open >= t->cfg.max_conns || !(e = entry_alloc(t))) {
    evict_one(t);
    e = entry_alloc(t);
    if (!e)
      return NULL;
  }
  e->hash = h;
  e->hnext = t->buckets[h & t->mask];
  t->buckets[h & t->mask] = e;
  ta_conn_init(&e->conn, p->frame ? p->frame : t->next_id++, p);
  t->stats.connections++;
  e->list = LIST_NONE; /* queued once its first packet says where */
  e->prev = e->next = NULL;
  if (++t->open > t->stats.peak_open)
    t->stats.peak_open = t->open;
  return e;
}

void ta_flow_table_packet(struct ta_flow_table *t, const struct ta_packet *p) {
  ta_flow_table_expire(t, p->ts_ns);
  uint64_t h = tuple_hash(t, p->family, p->src, p->sport, p->dst, p->dport);
  struct entry *e = find(t, h, p);
  if (e && ta_conn_is_new_attempt(&e->conn, p)) {
    entry_release(t, e, TA_END_REUSED);
    e = NULL;
  }
  if (!e && !(e = create(t, h, p)))
    return; /* unreachable: eviction always frees one record */
  ta_conn_update(&e->conn, p);
  uint8_t list = list_for(&e->conn);
  if (e->list != list || t->lists[list].tail != e) {
    if (e->list != LIST_NONE)
      lru_remove(t, e);
    lru_append(t, e, list);
  }
}

size_t ta_flow_table_drain(struct ta_flow_table *t) {
  for (int l = 0; l < LIST_COUNT; l++) {
    struct entry *e;
    while ((e = t->lists[l].head))
      due_push(t, e, l == LIST_CLOSED ? TA_END_CLOSED : TA_END_CAPTURE_END);
  }
  if (t->due_len > 1)
    qsort(t->due, t->due_len, sizeof *t->due, by_id);
  t->taken = 0;
  return t->due_len;
}

const struct ta_conn *ta_flow_table_take(struct ta_flow_table *t) {
  if (t->taken) { /* the record handed out last time */
    struct entry *prev = t->due[t->taken - 1];
    bucket_remove(t, prev);
    entry_free(t, prev);
  }
  if (t->taken == t->due_len) {
    t->due_len = t->taken = 0;
    return NULL;
  }
  struct entry *e = t->due[t->taken++];
  finalize(t, e, (enum ta_end_reason)e->list);
  return &e->conn;
}

void ta_flow_table_flush(struct ta_flow_table *t) {
  ta_flow_table_drain(t);
  const struct ta_conn *c;
  while ((c = ta_flow_table_take(t)))
    t->emit(t->ctx, c);
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
    for (const struct entry *e = t->buckets[i]; e; e = e->hnext)
      n++;
    if (n > longest)
      longest = n;
  }
  return longest;
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
  uint64_t nb = 1024;
  while (nb < 2ull * t->cfg.max_conns && nb < (1ull << 26))
    nb <<= 1;
  t->buckets = calloc(nb, sizeof *t->buckets);
  if (!t->buckets) {
    free(t);
    return NULL;
  }
  t->mask = nb - 1;
  t->lists[LIST_OPEN].timeout = t->cfg.idle_timeout_ns;
  t->lists[LIST_CLOSED].timeout = t->cfg.linger_ns;
  t->lists[LIST_CLOSED].strict = true; /* as Zeek's close delay */
  int64_t attempt = t->cfg.attempt_timeout_ns;
  t->lists[LIST_ATTEMPT].timeout =
      attempt && attempt < t->cfg.idle_timeout_ns ? attempt
                                                  : t->cfg.idle_timeout_ns;
  for (int l = 0; l < LIST_COUNT; l++)
    t->lists[l].deadline = INT64_MAX;
  t->next_due = INT64_MAX;
  uint64_t s = cfg->seed ? cfg->seed : random_seed();
  for (int i = 0; i < 6; i++)
    t->k[i] = mix64(s + 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1));
  t->next_id = 1;
  return t;
}

void ta_flow_table_free(struct ta_flow_table *t) {
  if (!t)
    return;
  struct chunk *c = t->chunks;
  while (c) {
    struct chunk *n = c->next;
    free(c);
    c = n;
  }
  free(t->buckets);
  free(t->due);
  free(t);
}
