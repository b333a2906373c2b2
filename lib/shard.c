/* tcpaudit - shards: the flow table split over worker threads.
 * The reading thread fills batches of decoded TCP packets. Every worker
 * walks every batch: it expires its own table at each packet's time (as a
 * single table would) and tracks only the packets whose tuple hashes to it,
 * then formats what it hands on. A merging thread takes the batches in
 * order and interleaves the workers' records by (packet, expiry before the
 * packet's own records, id): the order one table produces, since a table
 * hands on records due together in id order (lib/flow.c). */
#include "ta_shard.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "ta_error.h"
#include "ta_limits.h"

#define SHARD_BATCH 2048u    /* packets handed out at once */
#define SHARD_SLOTS 3u       /* batches in flight: filled, tracked, merged */
/* A batch's output kept for the next batch in the slot; past this, a burst
 * (a time jump expiring thousands of records at once) is given back. */
#define SHARD_KEEP_RECS 2048u
#define SHARD_KEEP_TEXT (4u * 1024u * 1024u)

/* A record a worker handed on, with when: at the packet at `pos` of the
 * batch, by expiry at its time or by the packet itself. */
struct out_rec {
  uint32_t pos;
  bool by_packet;
  size_t text_off, text_len;
  struct ta_conn conn;
};

/* What one worker made of one batch. */
struct out_list {
  struct out_rec *recs;
  size_t n, cap;
  struct ta_sink text;        /* formatted records, back to back */
  uint32_t open[SHARD_BATCH]; /* records held after each packet */
};

struct slot {
  struct ta_packet pkts[SHARD_BATCH];
  int64_t ts[SHARD_BATCH]; /* the packets' times, dense for every worker */
  uint8_t owner[SHARD_BATCH];
  uint32_t n;
  bool last;            /* the capture ends after this batch */
  unsigned done;        /* workers finished with it */
  struct out_list *out; /* one per worker */
};

struct worker {
  struct ta_shards *s;
  unsigned idx;
  struct ta_flow_table *flows;
  pthread_t thread;
  struct out_list *out; /* of the batch being tracked */
  void *scratch;        /* the reporter's, for this thread's formatting */
  uint32_t pos;
  bool by_packet;
};

struct ta_shards {
  unsigned n;
  struct worker *workers;
  struct slot *slots;
  size_t *heads; /* merge cursor per worker */
  pthread_mutex_t mu;
  pthread_cond_t cv; /* any change of published, done or merged */
  uint64_t published; /* batches handed to the workers */
  uint64_t merged;    /* batches merged: their slots are free again */
  struct slot *filling;
  const struct ta_reporter *rep;
  const struct ta_report_opts *opts;
  ta_shards_emit_fn emit;
  ta_shards_batch_fn batch_done;
  void *ctx;
  pthread_t merger;
  uint32_t max_conns;
  bool running;       /* threads started and not yet joined */
  uint64_t peak;
  _Atomic uint64_t emitted;
  _Atomic bool nomem;
  struct ta_flow_stats stats;
};

/* ---- which worker owns a tuple ---- */

static uint64_t word(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, sizeof v);
  return v;
}

/* Symmetric in the two endpoints (xor), so both directions agree. Only
 * balance depends on it, never the report. */
static uint8_t owner_of(const struct ta_packet *p, unsigned n) {
  uint64_t h = (word(p->src) ^ word(p->dst)) * 0x9e3779b97f4a7c15ull;
  h ^= (word(p->src + 8) ^ word(p->dst + 8)) * 0xc2b2ae3d27d4eb4full;
  h ^= (uint64_t)(p->sport ^ p->dport) * 0x165667b19e3779f9ull;
  h ^= h >> 29;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 32;
  return (uint8_t)(h % n);
}

/* ---- workers ---- */

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

/* Most packets are another worker's and make nothing due here: for them
 * the loop reads two dense arrays and stores the unchanged count. */
static void track_batch(struct worker *w, struct slot *sl) {
  w->out = &sl->out[w->idx];
  int64_t due = ta_flow_table_next_due(w->flows);
  uint32_t open = ta_flow_table_open(w->flows);
  for (uint32_t i = 0; i < sl->n; i++) {
    bool mine = sl->owner[i] == w->idx;
    if (mine || sl->ts[i] >= due) {
      w->pos = i;
      w->by_packet = false;
      ta_flow_table_expire(w->flows, sl->ts[i]);
      if (mine) {
        w->by_packet = true;
        ta_flow_table_packet(w->flows, &sl->pkts[i]);
      }
      due = ta_flow_table_next_due(w->flows);
      open = ta_flow_table_open(w->flows);
    }
    w->out->open[i] = open;
  }
}

static void *worker_main(void *arg) {
  struct worker *w = arg;
  struct ta_shards *s = w->s;
  for (uint64_t seq = 0;; seq++) {
    pthread_mutex_lock(&s->mu);
    while (s->published <= seq)
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

/* ---- merging ---- */

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
  atomic_fetch_add_explicit(&s->emitted, 1, memory_order_relaxed);
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

/* Each worker's records are already in order; a record handed on by a
 * packet comes from the one worker that owns the packet. */
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

static void *merger_main(void *arg) {
  struct ta_shards *s = arg;
  for (uint64_t seq = 0;; seq++) {
    struct slot *sl = &s->slots[seq % SHARD_SLOTS];
    pthread_mutex_lock(&s->mu);
    while (s->published <= seq || sl->done < s->n)
      pthread_cond_wait(&s->cv, &s->mu);
    pthread_mutex_unlock(&s->mu);
    merge_batch(s, sl);
    bool last = sl->last;
    pthread_mutex_lock(&s->mu);
    sl->done = 0;
    s->merged++;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (last)
      return NULL;
  }
}

/* ---- the reading thread's side ---- */

static struct slot *slot_to_fill(struct ta_shards *s) {
  pthread_mutex_lock(&s->mu);
  while (s->published - s->merged >= SHARD_SLOTS)
    pthread_cond_wait(&s->cv, &s->mu);
  pthread_mutex_unlock(&s->mu);
  struct slot *sl = &s->slots[s->published % SHARD_SLOTS];
  sl->n = 0;
  sl->last = false;
  return sl;
}

static void publish(struct ta_shards *s) {
  pthread_mutex_lock(&s->mu);
  s->published++;
  pthread_cond_broadcast(&s->cv);
  pthread_mutex_unlock(&s->mu);
  s->filling = NULL;
}

void ta_shards_packet(struct ta_shards *s, const struct ta_packet *pkt) {
  if (!s->filling)
    s->filling = slot_to_fill(s);
  struct slot *sl = s->filling;
  sl->pkts[sl->n] = *pkt;
  sl->pkts[sl->n].payload = NULL; /* the frame is gone by the time it runs */
  sl->ts[sl->n] = pkt->ts_ns;
  sl->owner[sl->n] = owner_of(pkt, s->n);
  if (++sl->n == SHARD_BATCH)
    publish(s);
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

/* Ends the workers started so far (and the merger when `merger`). */
static void stop_threads(struct ta_shards *s, unsigned started, bool merger) {
  if (!s->filling)
    s->filling = slot_to_fill(s);
  s->filling->last = true;
  publish(s);
  for (unsigned w = 0; w < started; w++)
    pthread_join(s->workers[w].thread, NULL);
  if (merger)
    pthread_join(s->merger, NULL);
}

/* The records still held at the end, merged by id straight from the
 * workers' tables (now idle): copying them all into one batch's output
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
  stop_threads(s, s->n, true);
  s->running = false;
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
  wc.max_conns = (cfg->max_conns + s->n - 1) / s->n;
  for (unsigned w = 0; w < s->n; w++) {
    s->workers[w].s = s;
    s->workers[w].idx = w;
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
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  if (!alloc_parts(s, cfg)) {
    ta_shards_free(s);
    return NULL;
  }
  for (unsigned w = 0; w < s->n; w++)
    if (pthread_create(&s->workers[w].thread, NULL, worker_main,
                       &s->workers[w]) != 0) {
      stop_threads(s, w, false);
      ta_shards_free(s);
      return NULL;
    }
  if (pthread_create(&s->merger, NULL, merger_main, s) != 0) {
    stop_threads(s, s->n, false);
    ta_shards_free(s);
    return NULL;
  }
  s->running = true;
  return s;
}

void ta_shards_free(struct ta_shards *s) {
  if (!s)
    return;
  if (s->running) /* never finished (the run failed): records are dropped */
    stop_threads(s, s->n, true);
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
