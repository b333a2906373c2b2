/* tcpaudit - shards: the flow table split over threads.
 * The reading thread fills batches of decoded TCP packets and is itself
 * one of the shards: with n shards only n - 1 worker threads are started,
 * so that n threads are busy, not n + 2. Every shard walks every batch: it
 * expires its own table at each packet's time (as a single table would)
 * and tracks only the packets whose tuple falls to it, then formats what
 * it hands on. Finished batches are merged in order, interleaving the
 * shards' records by (packet, expiry before the packet's own records, id):
 * the order one table produces, since a table hands on records due
 * together in id order (lib/flow.c). Merging is done by whichever thread
 * would otherwise wait: a worker that has no batch to track, or the
 * reading thread when every batch slot is taken. So the work of merging
 * goes where there is time for it: to the workers when reading and
 * decoding are most of the run (long packets), to the reading thread when
 * tracking is (many short connections). Reading and decoding take the
 * reading thread part of its time, so its shard gets a smaller share of
 * the connections. */
#include "ta_shard.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ta_error.h"
#include "ta_limits.h"

#define SHARD_BATCH 2048u    /* packets handed out at once */
/* Batches in flight: one being filled, the others tracked or waiting to be
 * merged, so that the reading thread rarely waits on a worker. */
#define SHARD_SLOTS 4u
/* A batch's output kept for the next batch in the slot; past this, a burst
 * (a time jump expiring thousands of records at once) is given back. */
#define SHARD_KEEP_RECS 2048u
#define SHARD_KEEP_TEXT (4u * 1024u * 1024u)
/* Shares of the tuple space: the reading thread's shard takes this many
 * parts, every worker's SHARD_WORKER_PARTS. With two threads, 1 to 2 kept
 * them equally busy on a capture of many short connections (measured
 * against 1 to 3 and 1 to 5); where reading is most of the work the
 * workers take all the merging instead. */
#define SHARD_READER_PARTS 1u
#define SHARD_WORKER_PARTS 2u
/* Owned packets ahead of the one being tracked whose bucket, then record,
 * are loaded meanwhile (as the single-table pipeline does, lib/analyze.c). */
#define PREFETCH_BUCKET 8u
#define PREFETCH_RECORD 4u

/* A record a shard handed on, with when: at the packet at `pos` of the
 * batch, by expiry at its time or by the packet itself. */
struct out_rec {
  uint32_t pos;
  bool by_packet;
  size_t text_off, text_len;
  struct ta_conn conn;
};

/* What one shard made of one batch. */
struct out_list {
  struct out_rec *recs;
  size_t n, cap;
  struct ta_sink text;        /* formatted records, back to back */
  uint32_t open[SHARD_BATCH]; /* records held after each packet */
};

struct slot {
  struct ta_packet pkts[SHARD_BATCH];
  int64_t ts[SHARD_BATCH]; /* the packets' times, dense for every shard */
  uint8_t owner[SHARD_BATCH];
  uint32_t n;
  bool last;            /* the capture ends after this batch */
  unsigned done;        /* shards finished with it */
  struct out_list *out; /* one per shard */
};

struct worker {
  struct ta_shards *s;
  unsigned idx;          /* 0: the reading thread's shard */
  struct ta_flow_table *flows;
  pthread_t thread;
  struct out_list *out; /* of the batch being tracked */
  void *scratch;        /* the reporter's, for this thread's formatting */
  uint32_t pos;
  bool by_packet;
  uint32_t mine[SHARD_BATCH]; /* positions of this shard's packets */
  uint64_t hash[SHARD_BATCH]; /* and their hashes in its table */
};

struct ta_shards {
  unsigned n;
  struct worker *workers;
  struct slot *slots;
  size_t *heads; /* merge cursor per shard */
  uint8_t owner_of_part[256]; /* shard of each 1/256 of the tuple space */
  pthread_mutex_t mu;
  pthread_cond_t cv; /* any change of published, done, merged or merging */
  uint64_t published; /* batches handed to the workers */
  uint64_t merged;    /* batches merged: their slots are free again */
  struct slot *filling;
  const struct ta_reporter *rep;
  const struct ta_report_opts *opts;
  ta_shards_emit_fn emit;
  ta_shards_batch_fn batch_done;
  void *ctx;
  uint32_t max_conns;
  unsigned started;   /* worker threads running, not yet joined */
  bool merging;       /* some thread is merging the oldest batch */
  bool dropping;      /* the run failed: batches are dropped unmerged */
  uint64_t peak;
  _Atomic uint64_t emitted;
  _Atomic bool nomem;
  struct ta_flow_stats stats;
};

/* ---- which shard owns a tuple ---- */

static uint64_t word(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

/* Symmetric in the two endpoints (xor), so both directions agree. Only
 * balance depends on it, never the report. */
static uint8_t owner_of(const struct ta_shards *s, const struct ta_packet *p) {
  uint64_t h = (word(p->src) ^ word(p->dst)) * 0x9e3779b97f4a7c15ull;
  h ^= (word(p->src + 8) ^ word(p->dst + 8)) * 0xc2b2ae3d27d4eb4full;
  h ^= (uint64_t)(p->sport ^ p->dport) * 0x165667b19e3779f9ull;
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 32;
  return s->owner_of_part[h >> 56];
}

/* Deals the 256 parts of the tuple space out by the shards' shares. */
static void share_out(struct ta_shards *s) {
  unsigned total = SHARD_READER_PARTS + (s->n - 1) * SHARD_WORKER_PARTS;
  for (unsigned j = 0; j < 256; j++) {
    unsigned x = j * total / 256;
    s->owner_of_part[j] =
        x < SHARD_READER_PARTS
            ? 0
            : (uint8_t)(1 + (x - SHARD_READER_PARTS) / SHARD_WORKER_PARTS);
  }
}

/* A shard's part of the table cap, in proportion to its share of tuples. */
static uint32_t cap_of(const struct ta_shards *s, unsigned w) {
  uint64_t parts = 0;
  for (unsigned j = 0; j < 256; j++)
    parts += s->owner_of_part[j] == w;
  uint64_t cap = ((uint64_t)s->max_conns * parts + 255) / 256;
  return cap ? (uint32_t)cap : 1;
}

/* ---- tracking, on every shard's thread ---- */

static bool out_grow(struct out_list *o) {
  size_t cap = o->cap ? 2 * o->cap : 256;
  struct out_rec *r = realloc(o->recs, cap * sizeof *r);
  if (!r)
    return false;
  o->recs = r;
  o->cap = cap;
  return true;
}

static void worker_emit(void *ctx, const struct ta_conn *c) {
  struct worker *w = ctx;
  struct out_list *o = w->out;
  if (o->n == o->cap && !out_grow(o)) {
    atomic_store(&w->s->nomem, true);
    return;
  }
  struct out_rec *r = &o->recs[o->n++];
  r->pos = w->pos;
  r->by_packet = w->by_packet;
  r->conn = *c;
  r->text_off = o->text.mem_len;
  r->text_len = 0;
  if (w->s->rep && w->s->rep->format_connection) {
    w->s->rep->format_connection(w->s->opts, c, &o->text, w->scratch);
    r->text_len = o->text.mem_len - r->text_off;
  }
}

/* Finds this shard's packets of the batch and hashes them; returns how
 * many, with the first few prefetched. */
static uint32_t find_mine(struct worker *w, const struct slot *sl) {
  uint32_t m = 0;
  for (uint32_t i = 0; i < sl->n; i++) {
    w->mine[m] = i;
    m += sl->owner[i] == w->idx;
  }
  for (uint32_t k = 0; k < m; k++)
    w->hash[k] = ta_flow_table_hash(w->flows, &sl->pkts[w->mine[k]]);
  for (uint32_t k = 0; k < m && k < PREFETCH_BUCKET; k++)
    ta_flow_table_prefetch(w->flows, w->hash[k], 0);
  return m;
}

/* Most packets are another shard's and make nothing due here: for them
 * the loop reads two dense arrays and stores the unchanged count. Those
 * that are this shard's are tracked with the table memory of the next
 * few prefetched. */
static void track_batch(struct worker *w, struct slot *sl) {
  struct ta_flow_table *t = w->flows;
  w->out = &sl->out[w->idx];
  uint32_t m = find_mine(w, sl), k = 0;
  uint32_t next = m ? w->mine[0] : UINT32_MAX;
  int64_t due = ta_flow_table_next_due(t);
  uint32_t open = ta_flow_table_open(t);
  for (uint32_t i = 0; i < sl->n; i++) {
    bool mine = i == next;
    if (mine || sl->ts[i] >= due) {
      w->pos = i;
      w->by_packet = false;
      ta_flow_table_expire(t, sl->ts[i]);
      if (mine) {
        if (k + PREFETCH_BUCKET < m)
          ta_flow_table_prefetch(t, w->hash[k + PREFETCH_BUCKET], 0);
        if (k + PREFETCH_RECORD < m)
          ta_flow_table_prefetch(t, w->hash[k + PREFETCH_RECORD], 1);
        w->by_packet = true;
        ta_flow_table_packet_hashed(t, &sl->pkts[i], w->hash[k]);
        next = ++k < m ? w->mine[k] : UINT32_MAX;
      }
      due = ta_flow_table_next_due(t);
      open = ta_flow_table_open(t);
    }
    w->out->open[i] = open;
  }
}

static bool merge_oldest_locked(struct ta_shards *s);

/* Tracks every batch; while none is there to track, merges what is ready. */
static void *worker_main(void *arg) {
  struct worker *w = arg;
  struct ta_shards *s = w->s;
  for (uint64_t seq = 0;; seq++) {
    pthread_mutex_lock(&s->mu);
    while (s->published <= seq)
      if (s->dropping || !merge_oldest_locked(s))
        pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    struct slot *sl = &s->slots[seq % SHARD_SLOTS];
    track_batch(w, sl);
    bool last = sl->last;
    pthread_mutex_lock(&s->mu);
    sl->done++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (last)
      return NULL;
  }
}

/* ---- merging, on the reading thread ---- */

static bool rec_before(const struct out_rec *a, const struct out_rec *b) {
  if (a->pos != b->pos)
    return a->pos < b->pos;
  if (a->by_packet != b->by_packet)
    return !a->by_packet;
  return a->conn.id < b->conn.id;
}

static void emit_rec(struct ta_shards *s, struct out_list *o,
                     const struct out_rec *r) {
  bool formatted = s->rep && s->rep->format_connection && !o->text.error;
  s->emit(s->ctx, &r->conn, formatted ? o->text.mem + r->text_off : NULL,
          formatted ? r->text_len : 0);
  /* only this thread adds; others may read */
  atomic_store_explicit(
      &s->emitted, atomic_load_explicit(&s->emitted, memory_order_relaxed) + 1,
      memory_order_relaxed);
}

static void out_reset(struct ta_shards *s, struct out_list *o) {
  if (o->text.error)
    atomic_store(&s->nomem, true);
  o->n = 0;
  if (o->cap > SHARD_KEEP_RECS) {
    free(o->recs);
    o->recs = NULL;
    o->cap = 0;
  }
  if (o->text.mem_cap > SHARD_KEEP_TEXT) {
    ta_sink_close(&o->text);
    ta_sink_init_mem(&o->text);
  }
  o->text.mem_len = 0;
  o->text.error = 0;
}

/* Each shard's records are already in order; a record handed on by a
 * packet comes from the one shard that owns the packet. */
static void merge_batch(struct ta_shards *s, struct slot *sl) {
  bool any = false;
  for (unsigned w = 0; w < s->n; w++) {
    s->heads[w] = 0;
    any |= sl->out[w].n > 0;
  }
  for (;;) {
    int best = -1;
    for (unsigned w = 0; w < s->n; w++)
      if (s->heads[w] < sl->out[w].n &&
          (best < 0 || rec_before(&sl->out[w].recs[s->heads[w]],
                                  &sl->out[best].recs[s->heads[best]])))
        best = (int)w;
    if (best < 0)
      break;
    struct out_list *o = &sl->out[best];
    emit_rec(s, o, &o->recs[s->heads[best]++]);
  }
  for (uint32_t i = 0; i < sl->n; i++) {
    uint64_t open = 0;
    for (unsigned w = 0; w < s->n; w++)
      open += sl->out[w].open[i];
    if (open > s->peak)
      s->peak = open;
  }
  for (unsigned w = 0; w < s->n; w++)
    out_reset(s, &sl->out[w]);
  if (any && s->batch_done)
    s->batch_done(s->ctx);
}

/* Merges the oldest batch when every shard is done with it and no other
 * thread is merging (or drops it when the run failed); false when it
 * cannot. Called and returns with mu held, which it lets go meanwhile. */
static bool merge_oldest_locked(struct ta_shards *s) {
  struct slot *sl = &s->slots[s->merged % SHARD_SLOTS];
  if (s->merging || s->merged == s->published || sl->done < 1 + s->started)
    return false;
  s->merging = true;
  bool drop = s->dropping;
  pthread_mutex_unlock(&s->mu);
  if (drop)
    for (unsigned w = 0; w < s->n; w++)
      out_reset(s, &sl->out[w]);
  else
    merge_batch(s, sl);
  pthread_mutex_lock(&s->mu);
  sl->done = 0; /* no shard looks at it again before it is republished */
  s->merged++;
  s->merging = false;
  pthread_cond_broadcast(&s->cv);
  return true;
}

/* Waits, merging when it can, until fewer than `limit` batches are
 * published and not merged. */
static void wait_merged(struct ta_shards *s, uint64_t limit) {
  pthread_mutex_lock(&s->mu);
  while (s->published - s->merged >= limit)
    if (!merge_oldest_locked(s))
      pthread_cond_wait(&s->cv, &s->mu);
  pthread_mutex_unlock(&s->mu);
}

/* ---- the reading thread's side ---- */

static struct slot *slot_to_fill(struct ta_shards *s) {
  wait_merged(s, SHARD_SLOTS);
  struct slot *sl = &s->slots[s->published % SHARD_SLOTS];
  sl->n = 0;
  sl->last = false;
  return sl;
}

/* Hands the batch being filled to the workers, then tracks this thread's
 * share of it (unless the run failed). */
static void publish(struct ta_shards *s) {
  struct slot *sl = s->filling;
  /* owners only now: reading a packet's addresses just after the decoder
   * wrote them piece by piece waits on every load (store forwarding) */
  for (uint32_t i = 0; i < sl->n; i++)
    sl->owner[i] = owner_of(s, &sl->pkts[i]);
  pthread_mutex_lock(&s->mu);
  s->published++;
  pthread_cond_broadcast(&s->cv);
  bool drop = s->dropping;
  pthread_mutex_unlock(&s->mu);
  s->filling = NULL;
  if (!drop)
    track_batch(&s->workers[0], sl);
  pthread_mutex_lock(&s->mu);
  sl->done++;
  pthread_cond_broadcast(&s->cv); /* an idle worker may merge it now */
  pthread_mutex_unlock(&s->mu);
}

struct ta_packet *ta_shards_room(struct ta_shards *s) {
  if (!s->filling)
    s->filling = slot_to_fill(s);
  return &s->filling->pkts[s->filling->n];
}

struct ta_packet *ta_shards_commit(struct ta_shards *s) {
  struct slot *sl = s->filling;
  struct ta_packet *p = &sl->pkts[sl->n];
  p->payload = NULL; /* the frame is gone by the time it is tracked */
  sl->ts[sl->n] = p->ts_ns;
  if (++sl->n == SHARD_BATCH)
    publish(s);
  return ta_shards_room(s);
}

void ta_shards_packet(struct ta_shards *s, const struct ta_packet *pkt) {
  *ta_shards_room(s) = *pkt;
  ta_shards_commit(s);
}

static void sum_stats(struct ta_shards *s) {
  struct ta_flow_stats *t = &s->stats;
  memset(t, 0, sizeof *t);
  for (unsigned w = 0; w < s->n; w++) {
    struct ta_flow_stats ws;
    ta_flow_table_stats(s->workers[w].flows, &ws);
    t->connections += ws.connections;
    t->evicted += ws.evicted;
    t->idle_timeouts += ws.idle_timeouts;
    for (int i = 0; i < TA_SC_COUNT; i++)
      t->by_scenario[i] += ws.by_scenario[i];
    for (int i = 0; i < TA_CS_COUNT; i++)
      t->by_conn_state[i] += ws.by_conn_state[i];
  }
  t->peak_open = s->peak;
  t->max_open = s->max_conns;
}

/* Ends the worker threads: hands them a last batch, waits until every
 * batch is merged (or dropped, with `drop`) and joins them. */
static void stop_threads(struct ta_shards *s, bool drop) {
  if (drop) {
    pthread_mutex_lock(&s->mu);
    s->dropping = true;
    pthread_mutex_unlock(&s->mu);
  }
  if (!s->filling)
    s->filling = slot_to_fill(s);
  s->filling->last = true;
  publish(s);
  wait_merged(s, 1);
  for (unsigned w = 1; w <= s->started; w++)
    pthread_join(s->workers[w].thread, NULL);
  s->started = 0; /* no worker is left to read it */
}

/* The records still held at the end, merged by id straight from the
 * shards' tables (now idle): copying them all into one batch's output
 * would need memory for every open connection twice over. */
static void merge_remaining(struct ta_shards *s) {
  const struct ta_conn **head = calloc(s->n, sizeof *head);
  if (!head) {
    atomic_store(&s->nomem, true);
    return;
  }
  for (unsigned w = 0; w < s->n; w++) {
    ta_flow_table_drain(s->workers[w].flows);
    head[w] = ta_flow_table_take(s->workers[w].flows);
  }
  for (;;) {
    int best = -1;
    for (unsigned w = 0; w < s->n; w++)
      if (head[w] && (best < 0 || head[w]->id < head[best]->id))
        best = (int)w;
    if (best < 0)
      break;
    s->emit(s->ctx, head[best], NULL, 0);
    atomic_fetch_add_explicit(&s->emitted, 1, memory_order_relaxed);
    head[best] = ta_flow_table_take(s->workers[best].flows);
  }
  free(head);
}

int ta_shards_finish(struct ta_shards *s) {
  stop_threads(s, false);
  merge_remaining(s);
  sum_stats(s);
  return atomic_load(&s->nomem) ? TA_ENOMEM : 0;
}

void ta_shards_stats(const struct ta_shards *s, struct ta_flow_stats *out) {
  *out = s->stats;
}

uint64_t ta_shards_emitted(const struct ta_shards *s) {
  return atomic_load_explicit(&s->emitted, memory_order_relaxed);
}

/* ---- setup ---- */

static bool alloc_parts(struct ta_shards *s, const struct ta_flow_config *cfg) {
  s->workers = calloc(s->n, sizeof *s->workers);
  s->slots = calloc(SHARD_SLOTS, sizeof *s->slots);
  s->heads = calloc(s->n, sizeof *s->heads);
  if (!s->workers || !s->slots || !s->heads)
    return false;
  for (unsigned i = 0; i < SHARD_SLOTS; i++) {
    s->slots[i].out = calloc(s->n, sizeof *s->slots[i].out);
    if (!s->slots[i].out)
      return false;
    for (unsigned w = 0; w < s->n; w++)
      ta_sink_init_mem(&s->slots[i].out[w].text);
  }
  struct ta_flow_config wc = *cfg;
  for (unsigned w = 0; w < s->n; w++) {
    s->workers[w].s = s;
    s->workers[w].idx = w;
    wc.max_conns = cap_of(s, w);
    s->workers[w].flows = ta_flow_table_new(&wc, worker_emit, &s->workers[w]);
    if (!s->workers[w].flows)
      return false;
    size_t scratch = s->rep ? s->rep->format_scratch_size : 0;
    if (scratch && !(s->workers[w].scratch = calloc(1, scratch)))
      return false;
  }
  return true;
}

struct ta_shards *ta_shards_new(unsigned workers,
                                const struct ta_flow_config *cfg,
                                const struct ta_reporter *rep,
                                const struct ta_report_opts *opts,
                                ta_shards_emit_fn emit,
                                ta_shards_batch_fn batch_done, void *ctx) {
  struct ta_shards *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  s->n = workers < 1 ? 1 : workers > TA_MAX_THREADS ? TA_MAX_THREADS : workers;
  s->rep = rep;
  s->opts = opts;
  s->emit = emit;
  s->batch_done = batch_done;
  s->ctx = ctx;
  s->max_conns = cfg->max_conns ? cfg->max_conns : 1;
  share_out(s);
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  if (!alloc_parts(s, cfg)) {
    ta_shards_free(s);
    return NULL;
  }
  for (unsigned w = 1; w < s->n; w++) {
    if (pthread_create(&s->workers[w].thread, NULL, worker_main,
                       &s->workers[w]) != 0) {
      ta_shards_free(s);
      return NULL;
    }
    pthread_mutex_lock(&s->mu); /* the workers count shards by it */
    s->started++;
    pthread_mutex_unlock(&s->mu);
  }
  return s;
}

void ta_shards_free(struct ta_shards *s) {
  if (!s)
    return;
  if (s->started) /* never finished (the run failed): records are dropped */
    stop_threads(s, true);
  for (unsigned w = 0; s->workers && w < s->n; w++) {
    ta_flow_table_free(s->workers[w].flows);
    free(s->workers[w].scratch);
  }
  for (unsigned i = 0; s->slots && i < SHARD_SLOTS; i++)
    for (unsigned w = 0; s->slots[i].out && w < s->n; w++) {
      free(s->slots[i].out[w].recs);
      ta_sink_close(&s->slots[i].out[w].text);
    }
  for (unsigned i = 0; s->slots && i < SHARD_SLOTS; i++)
    free(s->slots[i].out);
  free(s->slots);
  free(s->workers);
  free(s->heads);
  pthread_cond_destroy(&s->cv);
  pthread_mutex_destroy(&s->mu);
  free(s);
}
