/* tcpaudit - latency: the bounded distributions of ta_latency.h.
 * Exact values while they fit, then uniformly collapsing log-scale bins.
 * Pure arithmetic on caller-owned structs, bounded loops, nothing here
 * knows about packets; only a host's distributions allocate, as they fill. */
#include "ta_latency.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Largest fine bin: floor(16 * log2(2^32 - 1)). */
#define FINE_MAX (32 * TA_LAT_FINE_PER_OCTAVE - 1)
/* Levels needed before every fine bin maps to bin 0 (512 >> 9 == 0). */
#define MAX_SHIFT 9

/* A view of either distribution type, so the algorithms are written once. */
struct view {
  uint8_t *shift;
  bool *binned;
  uint16_t *key;
  uint16_t *c16; /* exactly one of c16 and c32 */
  uint32_t *c32;
  uint32_t *v;
  unsigned n, bins, exact; /* n is copied in and out */
};

uint32_t ta_lat_us(int64_t ns) {
  if (ns <= 0)
    return 0;
  int64_t us = (ns + 500) / 1000;
  return us > (int64_t)TA_LAT_MAX_US ? TA_LAT_MAX_US : (uint32_t)us;
}

static unsigned fine_bin(uint32_t us) {
  if (us <= 1)
    return 0;
  int f = (int)floor(TA_LAT_FINE_PER_OCTAVE * log2((double)us));
  return f < 0 ? 0 : f > FINE_MAX ? FINE_MAX : (unsigned)f;
}

/* Relative error bound of a bin at level s. */
static double level_error(unsigned s) {
  double g = exp2((double)(1u << s) / TA_LAT_FINE_PER_OCTAVE);
  return (g - 1) / (g + 1);
}

/* The value reported for a bin: the harmonic midpoint of its bounds, whose
 * relative distance to either bound is (g - 1) / (g + 1). */
static double bin_value_us(unsigned key, unsigned s) {
  double w = (double)(1u << s) / TA_LAT_FINE_PER_OCTAVE;
  double lo = exp2(key * w), hi = exp2((key + 1) * w);
  return 2 * lo * hi / (lo + hi);
}

static uint64_t cnt_get(const struct view *w, unsigned i) {
  return w->c16 ? w->c16[i] : w->c32[i];
}

static void cnt_set(struct view *w, unsigned i, uint64_t c) {
  if (w->c16)
    w->c16[i] = (uint16_t)c;
  else
    w->c32[i] = (uint32_t)c;
}

static uint64_t cnt_limit(const struct view *w) {
  return w->c16 ? UINT16_MAX : UINT32_MAX;
}

/* Halves every count (keeping non-zero ones non-zero): the shape of the
 * distribution stays, only its weight drops. */
static void halve(struct view *w) {
  for (unsigned i = 0; i < w->n; i++)
    cnt_set(w, i, (cnt_get(w, i) + 1) / 2);
}

/* One level coarser: bin numbers halve and equal neighbours merge; if a
 * merged count would not fit, every count is halved until it does. */
static void collapse(struct view *w) {
  uint64_t sums[TA_LAT_DIST_BINS];
  uint64_t top = 0;
  unsigned out = 0;
  (*w->shift)++;
  for (unsigned i = 0; i < w->n; i++) {
    uint16_t k = (uint16_t)(w->key[i] >> 1);
    if (out && w->key[out - 1] == k) {
      sums[out - 1] += cnt_get(w, i);
    } else {
      w->key[out] = k;
      sums[out++] = cnt_get(w, i);
    }
    if (sums[out - 1] > top)
      top = sums[out - 1];
  }
  unsigned halvings = 0;
  while (top > cnt_limit(w) && halvings < 64) {
    top = (top + 1) / 2;
    halvings++;
  }
  for (unsigned i = 0; i < out; i++) {
    uint64_t c = sums[i];
    for (unsigned h = 0; h < halvings; h++)
      c = (c + 1) / 2;
    cnt_set(w, i, c);
  }
  w->n = out;
}

/* Adds count c to fine bin f. Bounded: at most MAX_SHIFT collapses. */
static void bin_add(struct view *w, unsigned f, uint64_t c) {
  for (unsigned guard = 0; guard <= MAX_SHIFT + 1; guard++) {
    uint16_t k = (uint16_t)(f >> *w->shift);
    unsigned i = 0;
    while (i < w->n && w->key[i] < k)
      i++;
    if (i < w->n && w->key[i] == k) {
      uint64_t have = cnt_get(w, i);
      while (have + c > cnt_limit(w)) {
        halve(w);
        have = cnt_get(w, i);
        c = (c + 1) / 2;
      }
      cnt_set(w, i, have + c);
      return;
    }
    if (w->n < w->bins) {
      for (unsigned j = w->n; j > i; j--) {
        w->key[j] = w->key[j - 1];
        cnt_set(w, j, cnt_get(w, j - 1));
      }
      w->key[i] = k;
      cnt_set(w, i, c > cnt_limit(w) ? cnt_limit(w) : c);
      w->n++;
      return;
    }
    collapse(w);
  }
}

/* Leaves exact mode: the values become bins at level 0 (or coarser). */
static void to_bins(struct view *w) {
  uint32_t vals[TA_LAT_DIST_EXACT];
  unsigned n = w->n;
  if (n) /* v may be NULL when nothing was held */
    memcpy(vals, w->v, n * sizeof vals[0]);
  *w->binned = true;
  *w->shift = 0;
  w->n = 0;
  for (unsigned i = 0; i < n; i++)
    bin_add(w, fine_bin(vals[i]), 1);
}

static void view_add_us(struct view *w, uint32_t us, uint64_t c) {
  if (!*w->binned && c == 1 && w->n < w->exact) {
    unsigned i = w->n;
    while (i > 0 && w->v[i - 1] > us) {
      w->v[i] = w->v[i - 1];
      i--;
    }
    w->v[i] = us;
    w->n++;
    return;
  }
  if (!*w->binned)
    to_bins(w);
  bin_add(w, fine_bin(us), c);
}

/* The value at 1-based rank r (1 <= r <= number held), in microseconds,
 * before clamping. */
static double view_rank_us(const struct view *w, uint64_t r) {
  if (!*w->binned)
    return w->v[r - 1 < w->n ? r - 1 : w->n - 1];
  uint64_t cum = 0;
  for (unsigned i = 0; i < w->n; i++) {
    cum += cnt_get(w, i);
    if (cum >= r)
      return bin_value_us(w->key[i], *w->shift);
  }
  return w->n ? bin_value_us(w->key[w->n - 1], *w->shift) : 0;
}

static uint64_t view_total(const struct view *w) {
  if (!*w->binned)
    return w->n;
  uint64_t t = 0;
  for (unsigned i = 0; i < w->n; i++)
    t += cnt_get(w, i);
  return t;
}

static int64_t clamp_ns(double us, uint32_t min_us, uint32_t max_us) {
  if (us < min_us)
    us = min_us;
  if (us > max_us)
    us = max_us;
  return (int64_t)llround(us * 1000.0);
}

static struct view small_view(struct ta_lat_small *h) {
  struct view w = {.shift = &h->shift, .binned = &h->binned,
                   .key = h->u.b.key, .c16 = h->u.b.cnt, .v = h->u.v,
                   .n = h->n, .bins = TA_LAT_CONN_BINS,
                   .exact = TA_LAT_CONN_BINS};
  return w;
}

/* The bins may be NULL while exact (nothing writes them before to_bins,
 * and dist_reserve allocates them first). */
static struct view dist_view(struct ta_lat_dist *h) {
  struct view w = {.shift = &h->shift, .binned = &h->binned,
                   .key = h->b ? h->b->key : NULL,
                   .c32 = h->b ? h->b->cnt : NULL, .v = h->v,
                   .n = h->n, .bins = TA_LAT_DIST_BINS,
                   .exact = TA_LAT_DIST_EXACT};
  return w;
}

/* Makes room for one sample of count c: a larger exact array, or the bins
 * when this sample leaves exact mode (view_add_us decides alike). False
 * when memory ran out. */
static bool dist_reserve(struct ta_lat_dist *h, uint64_t c) {
  if (h->binned)
    return true;
  if (c == 1 && h->n < TA_LAT_DIST_EXACT) {
    if (h->n < h->cap)
      return true;
    unsigned cap = h->cap < 4 ? 4 : h->cap + h->cap / 2;
    if (cap > TA_LAT_DIST_EXACT)
      cap = TA_LAT_DIST_EXACT;
    uint32_t *v = realloc(h->v, cap * sizeof *v);
    if (!v)
      return false;
    h->v = v;
    h->cap = (uint16_t)cap;
    return true;
  }
  return h->b || (h->b = calloc(1, sizeof *h->b));
}

/* After an add: the exact values are no longer needed once binned. */
static void dist_settle(struct ta_lat_dist *h, const struct view *w) {
  h->n = (uint16_t)w->n;
  if (h->binned && h->v) {
    free(h->v);
    h->v = NULL;
    h->cap = 0;
  }
}

static void dist_add_us(struct ta_lat_dist *h, uint32_t us, uint64_t c) {
  if (!dist_reserve(h, c))
    return;
  struct view w = dist_view(h);
  view_add_us(&w, us, c);
  dist_settle(h, &w);
}

static void minmax(uint32_t *min_us, uint32_t *max_us, bool first,
                   uint32_t us) {
  if (first || us < *min_us)
    *min_us = us;
  if (first || us > *max_us)
    *max_us = us;
}

void ta_lat_small_add(struct ta_lat_small *h, int64_t ns) {
  uint32_t us = ta_lat_us(ns);
  minmax(&h->min_us, &h->max_us, h->count == 0, us);
  if (h->count < UINT32_MAX)
    h->count++;
  if (!h->binned && h->n < TA_LAT_CONN_BINS) {
    /* exact and not full, as for almost every connection: a sorted insert
     * (view_add_us does the same, through the view) */
    unsigned i = h->n;
    while (i > 0 && h->u.v[i - 1] > us) {
      h->u.v[i] = h->u.v[i - 1];
      i--;
    }
    h->u.v[i] = us;
    h->n++;
    return;
  }
  struct view w = small_view(h);
  view_add_us(&w, us, 1);
  h->n = (uint8_t)w.n;
}

void ta_lat_dist_add(struct ta_lat_dist *h, int64_t ns) {
  uint32_t us = ta_lat_us(ns);
  minmax(&h->min_us, &h->max_us, h->count == 0, us);
  h->count++;
  dist_add_us(h, us, 1);
}

void ta_lat_dist_merge(struct ta_lat_dist *h, const struct ta_lat_small *s) {
  if (s->count == 0)
    return;
  minmax(&h->min_us, &h->max_us, h->count == 0, s->min_us);
  minmax(&h->min_us, &h->max_us, false, s->max_us);
  h->count += s->count;
  if (!s->binned) {
    for (unsigned i = 0; i < s->n; i++)
      dist_add_us(h, s->u.v[i], 1);
    return;
  }
  /* each bin lands on the fine bin of its middle; the error of those
   * samples is the connection's level, remembered in src_shift */
  if (!dist_reserve(h, 2))
    return;
  struct view w = dist_view(h);
  if (!*w.binned)
    to_bins(&w);
  for (unsigned i = 0; i < s->n; i++) {
    unsigned f = ((unsigned)s->u.b.key[i] << s->shift) +
                 ((1u << s->shift) >> 1);
    bin_add(&w, f > FINE_MAX ? FINE_MAX : f, s->u.b.cnt[i]);
  }
  if (s->shift > h->src_shift)
    h->src_shift = s->shift;
  dist_settle(h, &w);
}

void ta_lat_dist_free(struct ta_lat_dist *h) {
  free(h->v);
  free(h->b);
  memset(h, 0, sizeof *h);
}

int64_t ta_lat_small_median(const struct ta_lat_small *h) {
  if (h->count == 0 || h->n == 0)
    return 0;
  struct view w = small_view((struct ta_lat_small *)h);
  if (!h->binned) {
    double a = w.v[(w.n - 1) / 2], b = w.v[w.n / 2];
    return clamp_ns((a + b) / 2, h->min_us, h->max_us);
  }
  uint64_t total = view_total(&w);
  return clamp_ns(view_rank_us(&w, (total + 1) / 2), h->min_us, h->max_us);
}

int64_t ta_lat_dist_quantile(const struct ta_lat_dist *h, double q) {
  if (h->count == 0 || h->n == 0)
    return 0;
  struct view w = dist_view((struct ta_lat_dist *)h);
  uint64_t total = view_total(&w);
  double want = ceil(q * (double)total);
  uint64_t r = want < 1 ? 1 : want > (double)total ? total : (uint64_t)want;
  return clamp_ns(view_rank_us(&w, r), h->min_us, h->max_us);
}

uint64_t ta_lat_dist_count_le(const struct ta_lat_dist *h, int64_t ns) {
  if (h->count == 0 || h->n == 0)
    return 0;
  double us = (double)ns / 1000.0;
  uint64_t n = 0;
  if (!h->binned) {
    for (unsigned i = 0; i < h->n; i++)
      n += h->v[i] <= us;
    return n;
  }
  for (unsigned i = 0; i < h->n; i++)
    if (bin_value_us(h->b->key[i], h->shift) <= us)
      n += h->b->cnt[i];
  return n;
}

int64_t ta_lat_small_min(const struct ta_lat_small *h) {
  return (int64_t)h->min_us * 1000;
}
int64_t ta_lat_small_max(const struct ta_lat_small *h) {
  return (int64_t)h->max_us * 1000;
}
int64_t ta_lat_dist_min(const struct ta_lat_dist *h) {
  return (int64_t)h->min_us * 1000;
}
int64_t ta_lat_dist_max(const struct ta_lat_dist *h) {
  return (int64_t)h->max_us * 1000;
}

double ta_lat_small_error(const struct ta_lat_small *h) {
  return h->binned ? level_error(h->shift) : 0.0;
}

double ta_lat_dist_error(const struct ta_lat_dist *h) {
  if (!h->binned)
    return 0.0;
  return level_error(h->shift > h->src_shift ? h->shift : h->src_shift);
}

int64_t ta_lat_leg_avg(const struct ta_lat_leg *l) {
  if (!l->samples)
    return 0;
  return (int64_t)llround((double)l->sum_us / l->samples * 1000.0);
}

int64_t ta_lat_handshake(const struct ta_conn_latency *l) {
  return (l->flags & TA_LAT_HS_DONE) ? (int64_t)l->hs_us * 1000 : -1;
}
