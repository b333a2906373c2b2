/* tcpaudit - tests: latency (lib/latency.c and the latency part of
 * lib/conn.c): the bounded distributions and their stated errors, round
 * trips per leg with Karn's rule and timestamp echoes, response times, and
 * the real think times of testdata/kernel-response-times.pcap. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "ta_conn.h"
#include "ta_hosts.h"
#include "ta_latency.h"
#include "ta_packet.h"
#include "ta_test_util.h"

#define US 1000LL
#define MS 1000000LL

/* ------------------------------------------------------------------------ */
/* Distributions */

static int cmp_u32(const void *a, const void *b) {
  uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
  return x < y ? -1 : x > y;
}

/* Deterministic pseudo-random numbers (xorshift). */
static uint64_t rng_state = 88172645463325252ull;
static uint64_t rng(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

/* A sample spread log-uniformly over [lo_us, lo_us * 2^octaves). */
static uint32_t log_uniform(double lo_us, double octaves) {
  double u = (double)(rng() >> 11) / 9007199254740992.0;
  double v = lo_us * exp2(u * octaves);
  return v < 1 ? 1 : (uint32_t)v;
}

static void assert_within(double got, double want, double rel) {
  double err = got > want ? got - want : want - got;
  if (err > rel * want + 1e-9)
    print_error("got %.6f, want %.6f within %.4f\n", got, want, rel);
  assert_true(err <= rel * want + 1e-9);
}

static void test_latency_small_exact_while_it_fits(void **state) {
  (void)state;
  struct ta_lat_small h;
  memset(&h, 0, sizeof h);
  static const int v_us[] = {400, 100, 300, 200};
  for (int i = 0; i < 4; i++)
    ta_lat_small_add(&h, v_us[i] * US);
  assert_int_equal(h.count, 4);
  assert_false(h.binned);
  assert_int_equal(ta_lat_small_min(&h), 100 * US);
  assert_int_equal(ta_lat_small_max(&h), 400 * US);
  assert_int_equal(ta_lat_small_median(&h), 250 * US); /* mean of 200, 300 */
  assert_true(ta_lat_small_error(&h) == 0.0);
  ta_lat_small_add(&h, 1000 * US);
  assert_int_equal(ta_lat_small_median(&h), 300 * US);
}

static void test_latency_small_binned_median_within_error(void **state) {
  (void)state;
  /* spreads of 1, 4 and 12 octaves: the level rises with the spread (12
   * bins hold 1 octave at 4.3%, 4 at 17%, 12 at 60%) and the median stays
   * within the error the record states */
  static const double spread[] = {1, 4, 12};
  static const double bound[] = {0.0433, 0.172, 0.6};
  for (int k = 0; k < 3; k++) {
    struct ta_lat_small h;
    memset(&h, 0, sizeof h);
    enum { N = 5001 };
    static uint32_t v[N];
    for (int i = 0; i < N; i++) {
      v[i] = log_uniform(5000, spread[k]);
      ta_lat_small_add(&h, (int64_t)v[i] * US);
    }
    qsort(v, N, sizeof v[0], cmp_u32);
    assert_true(h.binned);
    double e = ta_lat_small_error(&h);
    assert_true(e > 0 && e <= bound[k] + 1e-3);
    assert_within((double)ta_lat_small_median(&h) / US, v[N / 2], e);
    assert_int_equal(ta_lat_small_min(&h), (int64_t)v[0] * US);
    assert_int_equal(ta_lat_small_max(&h), (int64_t)v[N - 1] * US);
  }
}

static void test_latency_small_counts_halve_not_wrap(void **state) {
  (void)state;
  struct ta_lat_small h;
  memset(&h, 0, sizeof h);
  for (int i = 0; i < 200000; i++)
    ta_lat_small_add(&h, (i % 3 == 0 ? 1000 : 3000) * US);
  assert_int_equal(h.count, 200000);
  /* two thirds of the samples are at 3 ms */
  assert_within((double)ta_lat_small_median(&h) / US, 3000,
                ta_lat_small_error(&h));
}

/* A million samples over 10 octaves: fixed memory, percentiles within the
 * stated error of the exact ones. */
static void test_latency_dist_million_bounded(void **state) {
  (void)state;
  enum { N = 1000000 };
  uint32_t *v = malloc(N * sizeof *v);
  struct ta_lat_dist *h = calloc(1, sizeof *h);
  assert_non_null(v);
  assert_non_null(h);
  for (int i = 0; i < N; i++) {
    v[i] = log_uniform(200, 10);
    ta_lat_dist_add(h, (int64_t)v[i] * US);
  }
  qsort(v, N, sizeof v[0], cmp_u32);
  double e = ta_lat_dist_error(h);
  assert_true(h->binned);
  /* 10 octaves take 80 bins at level 1, so 40 at level 2 */
  assert_int_equal(h->shift, 2);
  assert_true(e <= 0.0864 + 1e-4);
  static const double q[] = {0.5, 0.95, 0.99};
  for (int i = 0; i < 3; i++) {
    size_t rank = (size_t)(q[i] * N + 0.999999);
    assert_within((double)ta_lat_dist_quantile(h, q[i]) / US, v[rank - 1], e);
  }
  assert_int_equal(ta_lat_dist_max(h), (int64_t)v[N - 1] * US);
  assert_int_equal(h->count, N);
  free(v);
  ta_lat_dist_free(h);
  free(h);
}

/* Fetching a distribution ahead changes nothing, whichever form it is in:
 * empty, values inline, values in a block, bins. */
static void test_latency_dist_prefetch_changes_nothing(void **state) {
  (void)state;
  struct ta_lat_dist *h = calloc(1, sizeof *h);
  assert_non_null(h);
  static const int adds[] = {0, 1, 40, TA_LAT_DIST_EXACT + 10};
  for (int k = 0, done = 0; k < 4; k++) {
    for (; done < adds[k]; done++)
      ta_lat_dist_add(h, (int64_t)log_uniform(100, 12) * US);
    struct ta_lat_dist before = *h;
    int64_t median = ta_lat_dist_quantile(h, 0.5);
    ta_lat_dist_prefetch(h);
    assert_memory_equal(&before, h, sizeof before);
    assert_int_equal(ta_lat_dist_quantile(h, 0.5), median);
  }
  assert_true(h->binned);
  ta_lat_dist_free(h);
  free(h);
}

/* The whole clamped range (32 octaves) fits the bins at level 3. */
static void test_latency_dist_whole_range_stays_level_3(void **state) {
  (void)state;
  struct ta_lat_dist *h = calloc(1, sizeof *h);
  assert_non_null(h);
  for (int i = 0; i < 100000; i++)
    ta_lat_dist_add(h, (int64_t)log_uniform(1, 32) * US);
  assert_int_equal(h->shift, 3);
  assert_true(ta_lat_dist_error(h) <= 0.1716 + 1e-4);
  ta_lat_dist_free(h);
  free(h);
}

static void test_latency_dist_merge_keeps_counts(void **state) {
  (void)state;
  struct ta_lat_dist *h = calloc(1, sizeof *h);
  assert_non_null(h);
  struct ta_lat_small a, b;
  memset(&a, 0, sizeof a);
  memset(&b, 0, sizeof b);
  for (int i = 0; i < 5; i++)
    ta_lat_small_add(&a, (10 + i) * MS);
  for (int i = 0; i < 1000; i++)
    ta_lat_small_add(&b, (int64_t)log_uniform(50000, 1) * US);
  ta_lat_dist_merge(h, &a);
  assert_false(h->binned);
  assert_int_equal(ta_lat_dist_quantile(h, 0.5), 12 * MS);
  ta_lat_dist_merge(h, &b);
  assert_int_equal(h->count, 1005);
  assert_int_equal(ta_lat_dist_min(h), 10 * MS);
  assert_true(ta_lat_dist_error(h) >= ta_lat_small_error(&b));
  /* a thousand samples in [50, 100) ms dominate the median */
  int64_t p50 = ta_lat_dist_quantile(h, 0.5);
  assert_true(p50 > 48 * MS && p50 < 102 * MS);
  ta_lat_dist_free(h);
  free(h);
}

/* The per-service distribution as plain arrays, following the rules of
 * docs/latency.md one step at a time: the reference the compact storage of
 * lib/latency.c must agree with to the bit. */
struct ref_dist {
  uint64_t count;
  uint32_t min_us, max_us;
  bool binned;
  unsigned shift, src_shift, n;
  uint32_t v[TA_LAT_DIST_EXACT];   /* exact values, sorted */
  uint16_t key[TA_LAT_DIST_BINS];  /* bin numbers, sorted */
  uint64_t cnt[TA_LAT_DIST_BINS];  /* kept at or below UINT32_MAX */
};

static unsigned ref_fine(uint32_t us) {
  if (us <= 1)
    return 0;
  int f = (int)floor(TA_LAT_FINE_PER_OCTAVE * log2((double)us));
  return f > 511 ? 511 : (unsigned)f;
}

static uint64_t ref_top(const struct ref_dist *r) {
  uint64_t top = 0;
  for (unsigned i = 0; i < r->n; i++)
    top = r->cnt[i] > top ? r->cnt[i] : top;
  return top;
}

static void ref_halve(struct ref_dist *r) {
  for (unsigned i = 0; i < r->n; i++)
    r->cnt[i] = (r->cnt[i] + 1) / 2;
}

static void ref_collapse(struct ref_dist *r) {
  unsigned out = 0;
  r->shift++;
  for (unsigned i = 0; i < r->n; i++) {
    uint16_t k = (uint16_t)(r->key[i] >> 1);
    if (out && r->key[out - 1] == k) {
      r->cnt[out - 1] += r->cnt[i];
    } else {
      r->key[out] = k;
      r->cnt[out++] = r->cnt[i];
    }
  }
  r->n = out;
  while (ref_top(r) > UINT32_MAX)
    ref_halve(r);
}

static void ref_bin_add(struct ref_dist *r, unsigned f, uint64_t c) {
  for (;;) {
    uint16_t k = (uint16_t)(f >> r->shift);
    unsigned i = 0;
    while (i < r->n && r->key[i] < k)
      i++;
    if (i < r->n && r->key[i] == k) {
      while (r->cnt[i] + c > UINT32_MAX) {
        ref_halve(r);
        c = (c + 1) / 2;
      }
      r->cnt[i] += c;
      return;
    }
    if (r->n < TA_LAT_DIST_BINS) {
      memmove(r->key + i + 1, r->key + i, (r->n - i) * sizeof r->key[0]);
      memmove(r->cnt + i + 1, r->cnt + i, (r->n - i) * sizeof r->cnt[0]);
      r->key[i] = k;
      r->cnt[i] = c > UINT32_MAX ? UINT32_MAX : c;
      r->n++;
      return;
    }
    ref_collapse(r);
  }
}

static void ref_to_bins(struct ref_dist *r) {
  uint32_t vals[TA_LAT_DIST_EXACT];
  unsigned n = r->n;
  memcpy(vals, r->v, sizeof vals);
  r->binned = true;
  r->shift = 0;
  r->n = 0;
  for (unsigned i = 0; i < n; i++)
    ref_bin_add(r, ref_fine(vals[i]), 1);
}

static void ref_minmax(struct ref_dist *r, uint32_t us, bool first) {
  if (first || us < r->min_us)
    r->min_us = us;
  if (first || us > r->max_us)
    r->max_us = us;
}

static void ref_held(struct ref_dist *r, uint32_t us) {
  if (!r->binned && r->n < TA_LAT_DIST_EXACT) {
    unsigned i = r->n++;
    for (; i > 0 && r->v[i - 1] > us; i--)
      r->v[i] = r->v[i - 1];
    r->v[i] = us;
    return;
  }
  if (!r->binned)
    ref_to_bins(r);
  ref_bin_add(r, ref_fine(us), 1);
}

static void ref_add(struct ref_dist *r, uint32_t us) {
  ref_minmax(r, us, r->count == 0);
  r->count++;
  ref_held(r, us);
}

static void ref_merge(struct ref_dist *r, const struct ta_lat_small *s) {
  if (s->count == 0)
    return;
  ref_minmax(r, s->min_us, r->count == 0);
  ref_minmax(r, s->max_us, false);
  r->count += s->count;
  if (!s->binned) {
    for (unsigned i = 0; i < s->n; i++)
      ref_held(r, s->u.v[i]);
    return;
  }
  if (!r->binned)
    ref_to_bins(r);
  for (unsigned i = 0; i < s->n; i++) {
    unsigned f = ((unsigned)s->u.b.key[i] << s->shift) +
                 ((1u << s->shift) >> 1);
    ref_bin_add(r, f > 511 ? 511 : f, s->u.b.cnt[i]);
  }
  if (s->shift > r->src_shift)
    r->src_shift = s->shift;
}

static double ref_bin_us(unsigned key, unsigned s) {
  double w = (double)(1u << s) / TA_LAT_FINE_PER_OCTAVE;
  double lo = exp2(key * w), hi = exp2((key + 1) * w);
  return 2 * lo * hi / (lo + hi);
}

static int64_t ref_quantile(const struct ref_dist *r, double q) {
  if (r->count == 0 || r->n == 0)
    return 0;
  uint64_t total = 0;
  for (unsigned i = 0; i < r->n; i++)
    total += r->binned ? r->cnt[i] : 1;
  double want = ceil(q * (double)total);
  uint64_t rank = want < 1 ? 1 : want > (double)total ? total : (uint64_t)want;
  double us = r->binned ? 0 : r->v[rank - 1];
  if (r->binned) {
    uint64_t cum = 0;
    for (unsigned i = 0; i < r->n && cum < rank; i++) {
      cum += r->cnt[i];
      us = ref_bin_us(r->key[i], r->shift);
    }
  }
  us = us < r->min_us ? r->min_us : us > r->max_us ? r->max_us : us;
  return (int64_t)llround(us * 1000.0);
}

static uint64_t ref_count_le(const struct ref_dist *r, int64_t ns) {
  double us = (double)ns / 1000.0;
  uint64_t n = 0;
  for (unsigned i = 0; i < r->n && r->count; i++)
    if (r->binned ? ref_bin_us(r->key[i], r->shift) <= us : r->v[i] <= us)
      n += r->binned ? r->cnt[i] : 1;
  return n;
}

static double ref_error(const struct ref_dist *r) {
  unsigned s = r->shift > r->src_shift ? r->shift : r->src_shift;
  double g = exp2((double)(1u << s) / TA_LAT_FINE_PER_OCTAVE);
  return r->binned ? (g - 1) / (g + 1) : 0.0;
}

/* Everything a reporter can read agrees with the reference. */
static void assert_same_dist(const struct ta_lat_dist *h,
                             const struct ref_dist *r) {
  static const double q[] = {0.001, 0.01, 0.1,  0.25, 0.5,
                             0.75,  0.9,  0.95, 0.99, 1.0};
  assert_int_equal(h->count, r->count);
  assert_int_equal(h->binned, r->binned);
  assert_int_equal(h->n, r->n);
  assert_int_equal(h->shift, r->binned ? r->shift : h->shift);
  assert_int_equal(ta_lat_dist_min(h), (int64_t)r->min_us * 1000);
  assert_int_equal(ta_lat_dist_max(h), (int64_t)r->max_us * 1000);
  assert_true(ta_lat_dist_error(h) == ref_error(r));
  for (size_t i = 0; i < sizeof q / sizeof q[0]; i++)
    assert_int_equal(ta_lat_dist_quantile(h, q[i]), ref_quantile(r, q[i]));
  static const int64_t le[] = {0, 999, 50 * US, 1 * MS, 20 * MS, 3000 * MS,
                               INT64_MAX};
  for (size_t i = 0; i < sizeof le / sizeof le[0]; i++)
    assert_int_equal(ta_lat_dist_count_le(h, le[i]), ref_count_le(r, le[i]));
}

/* A per-connection sketch of n samples drawn from [lo_us, lo_us *
 * 2^octaves): exact up to 12 samples, binned beyond. */
static void small_sketch(struct ta_lat_small *s, unsigned n, double lo_us,
                         double octaves) {
  memset(s, 0, sizeof *s);
  for (unsigned i = 0; i < n; i++)
    ta_lat_small_add(s, (int64_t)log_uniform(lo_us, octaves) * US);
}

enum stream_order {
  ADDS_FIRST,   /* exact values, then binned connections merged in */
  MERGES_FIRST, /* binned connections into an empty one, then values */
  MIXED,
};

/* Feeds one random stream of samples and per-connection sketches to a
 * distribution and to the reference, comparing after each step. */
static void run_stream(enum stream_order order, unsigned steps, double lo_us,
                       double octaves) {
  struct ta_lat_dist *h = calloc(1, sizeof *h);
  struct ref_dist *r = calloc(1, sizeof *r);
  assert_non_null(h);
  assert_non_null(r);
  for (unsigned i = 0; i < steps; i++) {
    bool merge = order == MIXED ? rng() % 3 == 0
                 : order == ADDS_FIRST ? i >= steps / 2
                                       : i < steps / 2;
    if (merge) {
      struct ta_lat_small s;
      /* mostly binned sketches, some exact, now and then an empty one */
      small_sketch(&s, (unsigned)(rng() % 60), lo_us, octaves);
      ta_lat_dist_merge(h, &s);
      ref_merge(r, &s);
    } else {
      uint32_t us = rng() % 17 == 0 ? (uint32_t)(rng() % 3)
                                    : log_uniform(lo_us, octaves);
      ta_lat_dist_add(h, (int64_t)us * US);
      ref_add(r, us);
    }
    assert_same_dist(h, r);
  }
  ta_lat_dist_free(h);
  free(h);
  free(r);
}

static void test_latency_dist_same_as_reference(void **state) {
  (void)state;
  static const struct {
    double lo_us, octaves;
  } spread[] = {{5000, 0.5}, {200, 4}, {50, 10}, {1, 32}};
  for (size_t i = 0; i < sizeof spread / sizeof spread[0]; i++) {
    run_stream(ADDS_FIRST, 600, spread[i].lo_us, spread[i].octaves);
    run_stream(MERGES_FIRST, 600, spread[i].lo_us, spread[i].octaves);
    run_stream(MIXED, 1500, spread[i].lo_us, spread[i].octaves);
  }
}

/* The exact phase against a plain sorted array, with the values that take
 * the most and the fewest bytes to store: 0, equal ones, 2^32 - 1. */
static void test_latency_dist_exact_phase_values(void **state) {
  (void)state;
  struct ta_lat_dist h;
  memset(&h, 0, sizeof h);
  uint32_t v[TA_LAT_DIST_EXACT];
  for (unsigned i = 0; i < TA_LAT_DIST_EXACT; i++) {
    uint64_t x = rng();
    v[i] = i % 5 == 0   ? TA_LAT_MAX_US
           : i % 5 == 1 ? 0
           : i % 5 == 2 ? (uint32_t)(x % 300)
                        : (uint32_t)(x >> (x % 64 < 32 ? 40 : 32));
    ta_lat_dist_add(&h, (int64_t)v[i] * US);
    uint32_t sorted[TA_LAT_DIST_EXACT];
    memcpy(sorted, v, (i + 1) * sizeof v[0]);
    qsort(sorted, i + 1, sizeof sorted[0], cmp_u32);
    for (unsigned k = 1; k <= i + 1; k++) /* q just below rank k */
      assert_int_equal(ta_lat_dist_quantile(&h, (k - 0.5) / (i + 1)),
                       (int64_t)sorted[k - 1] * US);
  }
  assert_false(h.binned);
  assert_true(ta_lat_dist_error(&h) == 0.0);
  ta_lat_dist_add(&h, 5 * MS);
  assert_true(h.binned);
  ta_lat_dist_free(&h);
}

/* The stored form of the exact phase, rebuilt from scratch: every value
 * held decoded, the new one put in order, and all of them encoded again as
 * gaps of 7 bits a byte. The store inserts in place (decoding only up to
 * the insertion point, or appending); its bytes must be these. */
struct ref_bytes {
  uint32_t v[TA_LAT_DIST_EXACT];
  unsigned n, used;
  uint8_t b[TA_LAT_DIST_EXACT * 5];
};

static void ref_bytes_add(struct ref_bytes *r, uint32_t us) {
  unsigned i = r->n++;
  for (; i > 0 && r->v[i - 1] > us; i--)
    r->v[i] = r->v[i - 1];
  r->v[i] = us;
  r->used = 0;
  for (unsigned k = 0, prev = 0; k < r->n; prev = r->v[k++]) {
    uint32_t gap = r->v[k] - prev;
    for (; gap >= 0x80; gap >>= 7)
      r->b[r->used++] = (uint8_t)(gap | 0x80);
    r->b[r->used++] = (uint8_t)gap;
  }
}

static void assert_same_bytes(const struct ta_lat_dist *h,
                              const struct ref_bytes *r) {
  assert_false(h->binned);
  assert_int_equal(h->n, r->n);
  assert_int_equal(h->used, r->used);
  const uint8_t *d = h->used <= sizeof h->d.in ? h->d.in : h->d.p;
  assert_memory_equal(d, r->b, r->used);
}

/* Feeds vals (n of them, at most TA_LAT_DIST_EXACT) one at a time, every
 * third through a connection's exact distribution, comparing the bytes
 * after each; one more sample then bins them. */
static void run_exact_bytes(const uint32_t *vals, unsigned n) {
  struct ta_lat_dist h;
  struct ref_bytes *r = calloc(1, sizeof *r);
  assert_non_null(r);
  memset(&h, 0, sizeof h);
  for (unsigned i = 0; i < n; i++) {
    if (i % 3 == 2) {
      struct ta_lat_small s;
      memset(&s, 0, sizeof s);
      ta_lat_small_add(&s, (int64_t)vals[i] * US);
      ta_lat_dist_merge(&h, &s);
    } else {
      ta_lat_dist_add(&h, (int64_t)vals[i] * US);
    }
    ref_bytes_add(r, vals[i]);
    assert_same_bytes(&h, r);
  }
  if (n == TA_LAT_DIST_EXACT) {
    ta_lat_dist_add(&h, 1000 * US);
    assert_true(h.binned);
  }
  ta_lat_dist_free(&h);
  free(r);
}

static void test_latency_dist_exact_bytes_same_as_rebuilt(void **state) {
  (void)state;
  /* values at either side of each encoded length's bound */
  static const uint32_t edge[] = {0,          1,          127,
                                  128,        16383,      16384,
                                  2097151,    2097152,    268435455,
                                  268435456,  TA_LAT_MAX_US - 1,
                                  TA_LAT_MAX_US};
  static const uint32_t gaps[10] = {0,       1,       127,       128,
                                    16383,   16384,   2097151,   2097152,
                                    268435455, 268435456};
  const unsigned ne = sizeof edge / sizeof edge[0], N = TA_LAT_DIST_EXACT;
  uint32_t v[TA_LAT_DIST_EXACT];
  for (unsigned order = 0; order < 11; order++) {
    for (unsigned i = 0; i < N; i++) {
      uint64_t x = rng();
      switch (order) {
      case 0: v[i] = i * 100; break;                 /* ascending */
      case 1: v[i] = (N - i) * 100; break;           /* descending */
      case 2: v[i] = 700 + (uint32_t)(x % 3); break; /* duplicates */
      case 3: v[i] = edge[i % ne]; break;            /* boundaries, rising */
      case 4: v[i] = edge[ne - 1 - i % ne]; break;   /* and falling */
      case 5: v[i] = (uint32_t)(x >> (x % 32 + 32)); break; /* any width */
      case 6: v[i] = log_uniform(50, 10); break;
      case 7: /* sums of boundary gaps: every length split either way */
        v[i] = (uint32_t)((edge[x % ne] + edge[(x >> 8) % ne]) & 0xffffffffu);
        break;
      case 8: v[i] = i % 2 ? TA_LAT_MAX_US - i : i; break; /* both ends */
      default: { /* rising (9) or falling (10) by gaps at length edges */
        uint64_t gap = gaps[i % 10];
        uint64_t down = i ? TA_LAT_MAX_US - v[i - 1] : 0;
        uint64_t at = (order == 9 ? (i ? v[i - 1] : 0) : down) + gap;
        at = at > TA_LAT_MAX_US ? gap : at; /* past the top: again */
        v[i] = order == 9 ? (uint32_t)at : TA_LAT_MAX_US - (uint32_t)at;
        break;
      }
      }
    }
    for (unsigned n = 1; n <= N; n += n < 12 ? 1 : 37)
      run_exact_bytes(v, n);
    run_exact_bytes(v, N);
  }
}

/* Counts past what 1 and 2 bytes hold, and past 2^32 where every count is
 * halved: the same as the reference at each width. */
static void test_latency_dist_counts_widen_and_halve(void **state) {
  (void)state;
  struct ta_lat_dist *h = calloc(1, sizeof *h);
  struct ref_dist *r = calloc(1, sizeof *r);
  assert_non_null(h);
  assert_non_null(r);
  for (unsigned i = 0; i < 70000; i++) {
    uint32_t us = 1000 + (i % 7) * 3000;
    ta_lat_dist_add(h, (int64_t)us * US);
    ref_add(r, us);
    if (i < 300 || i % 997 == 0)
      assert_same_dist(h, r);
  }
  assert_true(h->binned);
  /* a connection whose every bin is nearly full, merged until the counts
   * pass 2^32 */
  struct ta_lat_small s;
  memset(&s, 0, sizeof s);
  for (unsigned i = 0; i < 12 * 60000; i++)
    ta_lat_small_add(&s, (int64_t)(2000 + (i % 12) * 700) * US);
  assert_true(s.binned);
  assert_int_equal(s.n, 12);
  assert_true(s.u.b.cnt[0] > 50000);
  for (unsigned i = 0; i < 90000; i++) {
    ta_lat_dist_merge(h, &s);
    ref_merge(r, &s);
    if (i % 4999 == 0)
      assert_same_dist(h, r);
  }
  assert_same_dist(h, r);
  uint64_t held = 0;
  for (unsigned i = 0; i < r->n; i++)
    held += r->cnt[i];
  assert_true(held < r->count); /* halved */
  ta_lat_dist_free(h);
  free(h);
  free(r);
}

/* A zeroed struct is empty, free leaves it zeroed in every state, and a
 * freed one can be used again (the sanitizer build checks for leaks and
 * stray reads). */
static void test_latency_dist_free_and_zero(void **state) {
  (void)state;
  struct ta_lat_dist zero, h;
  memset(&zero, 0, sizeof zero);
  memset(&h, 0, sizeof h);
  assert_int_equal(ta_lat_dist_quantile(&h, 0.5), 0);
  assert_int_equal(ta_lat_dist_count_le(&h, INT64_MAX), 0);
  ta_lat_dist_free(&h);
  assert_memory_equal(&h, &zero, sizeof h);
  static const unsigned sizes[] = {1, 2, 3, 8, 40, TA_LAT_DIST_EXACT,
                                   TA_LAT_DIST_EXACT + 1, 5000};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    struct ref_dist *r = calloc(1, sizeof *r);
    assert_non_null(r);
    for (unsigned k = 0; k < sizes[i]; k++) {
      uint32_t us = log_uniform(10, 20);
      ta_lat_dist_add(&h, (int64_t)us * US);
      ref_add(r, us);
    }
    assert_same_dist(&h, r);
    ta_lat_dist_free(&h);
    assert_memory_equal(&h, &zero, sizeof h);
    ta_lat_dist_free(&h);
    assert_memory_equal(&h, &zero, sizeof h);
    free(r);
  }
  /* binned without exact values first */
  struct ta_lat_small s;
  small_sketch(&s, 100, 100, 8);
  ta_lat_dist_merge(&h, &s);
  assert_true(h.binned);
  ta_lat_dist_free(&h);
  assert_memory_equal(&h, &zero, sizeof h);
}

/* ------------------------------------------------------------------------ */
/* The tracker: packets built as bytes, decoded, applied in order */

#define CLIENT "10.1.1.1"
#define SERVER "10.2.2.2"
#define CPORT 40000
#define SPORT 80
#define C true
#define S false
enum {
  F_ = TA_TCP_FIN,
  S_ = TA_TCP_SYN,
  R_ = TA_TCP_RST,
  P_ = TA_TCP_PSH,
  A_ = TA_TCP_ACK,
};

struct sim {
  struct ta_conn c;
  bool have;
  int64_t base;
  uint8_t opts[12];
  size_t optlen;
};

/* Gives the next segment a timestamps option (NOP, NOP, TS). */
static void with_ts(struct sim *s, uint32_t val, uint32_t ecr) {
  uint8_t o[12] = {1, 1, 8, 10, (uint8_t)(val >> 24), (uint8_t)(val >> 16),
                   (uint8_t)(val >> 8), (uint8_t)val, (uint8_t)(ecr >> 24),
                   (uint8_t)(ecr >> 16), (uint8_t)(ecr >> 8), (uint8_t)ecr};
  memcpy(s->opts, o, sizeof o);
  s->optlen = sizeof o;
}

/* Sends one segment at t_us microseconds after the start. */
static void seg(struct sim *s, int64_t t_us, bool from_client, uint8_t flags,
                uint32_t seq, uint32_t ack, uint32_t len) {
  struct tt_seg g = {
      .src = from_client ? CLIENT : SERVER,
      .dst = from_client ? SERVER : CLIENT,
      .sport = from_client ? CPORT : SPORT,
      .dport = from_client ? SPORT : CPORT,
      .seq = seq,
      .ack = ack,
      .flags = flags,
      .win = 65535,
      .opts = s->optlen ? s->opts : NULL,
      .optlen = s->optlen,
      .payload_len = len,
  };
  uint8_t buf[4096];
  size_t n = tt_build_ip(buf, sizeof buf, &g);
  assert_true(n > 0);
  struct ta_packet p;
  ta_decode_frame(TA_LINK_RAW, buf, (uint32_t)n, (uint32_t)n, &p);
  assert_int_equal(p.disposition, TA_DISP_TCP);
  p.ts_ns = s->base + t_us * US;
  if (!s->have) {
    ta_conn_init(&s->c, 1, &p);
    s->have = true;
  }
  ta_conn_update(&s->c, &p);
  s->optlen = 0;
}

static struct sim *sim_new(void) {
  struct sim *s = test_calloc(1, sizeof *s);
  s->base = tt_clock_ns("10:00:00.000000");
  return s;
}

static const struct ta_lat_leg *to_resp(const struct sim *s) {
  return &s->c.side[TA_DIR_ORIG].lat;
}
static const struct ta_lat_leg *to_orig(const struct sim *s) {
  return &s->c.side[TA_DIR_RESP].lat;
}

/* Client ISN 1000, server ISN 5000; capture point near the client: 30 ms
 * to the server and back, 0.2 ms to the client and back. */
static void handshake(struct sim *s) {
  seg(s, 0, C, S_, 1000, 0, 0);
  seg(s, 30000, S, S_ | A_, 5000, 1001, 0);
  seg(s, 30200, C, A_, 1001, 5001, 0);
}

static void test_latency_handshake_legs_and_whole(void **state) {
  (void)state;
  struct sim *s = sim_new();
  handshake(s);
  ta_conn_finalize(&s->c, TA_END_CAPTURE_END);
  assert_int_equal(to_resp(s)->samples, 1);
  assert_int_equal(to_resp(s)->min_us, 30000);
  assert_int_equal(to_orig(s)->samples, 1);
  assert_int_equal(to_orig(s)->min_us, 200);
  assert_int_equal(ta_lat_handshake(&s->c.lat), 30200 * US);
  /* the whole round trip: one sample, both legs */
  assert_int_equal(s->c.lat.rtt.count, 1);
  assert_int_equal(ta_lat_small_median(&s->c.lat.rtt), 30200 * US);
  test_free(s);
}

static void test_latency_data_and_exchanges(void **state) {
  (void)state;
  struct sim *s = sim_new();
  handshake(s);
  /* request in two segments; the second one ends it */
  seg(s, 31000, C, A_, 1001, 5001, 100);
  seg(s, 31500, C, P_ | A_, 1101, 5001, 50);
  /* the server ACKs exactly the newest segment: 30 ms */
  seg(s, 61500, S, A_, 5001, 1151, 0);
  /* it thinks 120 ms after the last request byte, then answers */
  seg(s, 151500, S, P_ | A_, 5001, 1151, 200);
  seg(s, 151700, C, A_, 1151, 5201, 0);
  /* a second exchange: 40 ms */
  seg(s, 160000, C, P_ | A_, 1151, 5201, 10);
  seg(s, 200000, S, P_ | A_, 5201, 1161, 20);
  seg(s, 200200, C, A_, 1161, 5221, 0);
  ta_conn_finalize(&s->c, TA_END_CAPTURE_END);

  const struct ta_lat_leg *r = to_resp(s), *o = to_orig(s);
  /* SYN 30 ms, request 30 ms, second request 40 ms (a piggybacked ACK) */
  assert_int_equal(r->samples, 3);
  assert_int_equal(r->min_us, 30000);
  assert_int_equal(r->max_us, 40000);
  /* SYN/ACK, first answer, second answer: 0.2 ms each */
  assert_int_equal(o->samples, 3);
  assert_int_equal(o->max_us, 200);
  assert_int_equal(s->c.lat.response.count, 2);
  assert_int_equal(ta_lat_small_min(&s->c.lat.response), 40 * MS);
  assert_int_equal(ta_lat_small_max(&s->c.lat.response), 120 * MS);
  assert_int_equal(ta_lat_small_median(&s->c.lat.response), 80 * MS);
  test_free(s);
}

/* The first segment of a flight is ACKed together with the second: the
 * ACK was sent for the second, so the first gives no sample. */
static void test_latency_cumulative_ack_no_inflated_sample(void **state) {
  (void)state;
  struct sim *s = sim_new();
  handshake(s);
  seg(s, 40000, S, A_, 5001, 1001, 1000);
  seg(s, 140000, S, A_, 6001, 1001, 1000);
  seg(s, 140100, C, A_, 1001, 7001, 0);
  ta_conn_finalize(&s->c, TA_END_CAPTURE_END);
  const struct ta_lat_leg *o = to_orig(s);
  assert_int_equal(o->samples, 2); /* SYN/ACK and the newest segment */
  assert_int_equal(o->max_us, 200);
  assert_int_equal(o->min_us, 100);
  test_free(s);
}

static void test_latency_karn_retransmission_no_sample(void **state) {
  (void)state;
  struct sim *s = sim_new();
  handshake(s);
  seg(s, 40000, C, P_ | A_, 1001, 5001, 100);
  seg(s, 240000, C, P_ | A_, 1001, 5001, 100); /* sent again */
  seg(s, 270000, S, A_, 5001, 1101, 0);
  ta_conn_finalize(&s->c, TA_END_CAPTURE_END);
  assert_int_equal(to_resp(s)->samples, 1); /* only the SYN */
  assert_int_equal(to_resp(s)->max_us, 30000);
  test_free(s);
}

static void test_latency_syn_retry_needs_timestamps(void **state) {
  (void)state;
  /* without timestamps the SYN/ACK could answer either SYN: no sample */
  struct sim *s = sim_new();
  seg(s, 0, C, S_, 1000, 0, 0);
  seg(s, 1000000, C, S_, 1000, 0, 0);
  seg(s, 1030000, S, S_ | A_, 5000, 1001, 0);
  seg(s, 1030200, C, A_, 1001, 5001, 0);
  ta_conn_finalize(&s->c, TA_END_CAPTURE_END);
  assert_int_equal(to_resp(s)->samples, 0);
  assert_int_equal(ta_lat_handshake(&s->c.lat), -1);
  test_free(s);

  /* with them, the echo says which SYN was answered */
  s = sim_new();
  with_ts(s, 100, 0);
  seg(s, 0, C, S_, 1000, 0, 0);
  with_ts(s, 1100, 0);
  seg(s, 1000000, C, S_, 1000, 0, 0);
  with_ts(s, 7000, 1100);
  seg(s, 1030000, S, S_ | A_, 5000, 1001, 0);
  with_ts(s, 1130, 7000);
  seg(s, 1030200, C, A_, 1001, 5001, 0);
  ta_conn_finalize(&s->c, TA_END_CAPTURE_END);
  assert_int_equal(to_resp(s)->samples, 1);
  assert_int_equal(to_resp(s)->min_us, 30000);
  assert_int_equal(ta_lat_handshake(&s->c.lat), 30200 * US);
  test_free(s);
}

/* A retransmission with a new TSval is timed by the echo of that TSval. */
static void test_latency_ts_echo_times_retransmission(void **state) {
  (void)state;
  struct sim *s = sim_new();
  with_ts(s, 100, 0);
  seg(s, 0, C, S_, 1000, 0, 0);
  with_ts(s, 7000, 100);
  seg(s, 30000, S, S_ | A_, 5000, 1001, 0);
  with_ts(s, 130, 7000);
  seg(s, 30200, C, A_, 1001, 5001, 0);
  with_ts(s, 140, 7000);
  seg(s, 40000, C, P_ | A_, 1001, 5001, 100);
  with_ts(s, 340, 7000);
  seg(s, 240000, C, P_ | A_, 1001, 5001, 100);
  with_ts(s, 7240, 340);
  seg(s, 270000, S, A_, 5001, 1101, 0);
  ta_conn_finalize(&s->c, TA_END_CAPTURE_END);
  assert_int_equal(to_resp(s)->samples, 2);
  assert_int_equal(to_resp(s)->min_us, 30000);
  assert_int_equal(to_resp(s)->max_us, 30000);
  test_free(s);
}

/* An echo of an older TSval, or one on an ACK that does not advance, says
 * nothing: no sample. */
static void test_latency_ts_echo_needs_newest_and_advance(void **state) {
  (void)state;
  struct sim *s = sim_new();
  with_ts(s, 100, 0);
  seg(s, 0, C, S_, 1000, 0, 0);
  with_ts(s, 7000, 100);
  seg(s, 30000, S, S_ | A_, 5000, 1001, 0);
  with_ts(s, 130, 7000);
  seg(s, 30200, C, A_, 1001, 5001, 0);
  /* the server talks later, still echoing the client's old TSval */
  with_ts(s, 7500, 130);
  seg(s, 500000, S, P_ | A_, 5001, 1001, 10);
  ta_conn_finalize(&s->c, TA_END_CAPTURE_END);
  assert_int_equal(to_resp(s)->samples, 1);
  assert_int_equal(to_resp(s)->max_us, 30000);
  test_free(s);
}

/* Capture reordering: the ACK is seen before the data it covers. */
static void test_latency_data_seen_after_its_ack(void **state) {
  (void)state;
  struct sim *s = sim_new();
  handshake(s);
  seg(s, 40000, S, A_, 5001, 1101, 0);
  seg(s, 40010, C, P_ | A_, 1001, 5001, 100);
  seg(s, 90000, S, A_, 5001, 1101, 0);
  ta_conn_finalize(&s->c, TA_END_CAPTURE_END);
  assert_int_equal(to_resp(s)->samples, 1);
  test_free(s);
}

/* A server that speaks first (a banner) and keeps-alives do not make
 * exchanges; the first answer after a request does. */
static void test_latency_banner_and_keepalive(void **state) {
  (void)state;
  struct sim *s = sim_new();
  handshake(s);
  seg(s, 35000, S, P_ | A_, 5001, 1001, 20);     /* banner */
  seg(s, 35200, C, A_, 1001, 5021, 0);
  seg(s, 900000, C, A_, 1000, 5021, 1);          /* keep-alive */
  seg(s, 930000, S, A_, 5021, 1001, 0);
  seg(s, 1000000, C, P_ | A_, 1001, 5021, 6);    /* command */
  seg(s, 1045000, S, P_ | A_, 5021, 1007, 30);   /* reply: 45 ms */
  ta_conn_finalize(&s->c, TA_END_CAPTURE_END);
  assert_int_equal(s->c.lat.response.count, 1);
  assert_int_equal(ta_lat_small_min(&s->c.lat.response), 45 * MS);
  test_free(s);
}

/* ------------------------------------------------------------------------ */
/* Per-service aggregates */

struct found {
  bool seen;
  struct ta_svc_latency lat;
};

static void find_service(void *ctx, const struct ta_host *h) {
  struct found *f = ctx;
  const struct ta_service *svc = ta_host_services(h);
  for (uint32_t i = 0; i < ta_host_n_services(h); i++)
    if (svc[i].port == SPORT && svc[i].lat) {
      f->seen = true;
      f->lat = *svc[i].lat;
    }
}

static void test_latency_hosts_service_percentiles(void **state) {
  (void)state;
  struct ta_hosts *t = ta_hosts_new(16, 1);
  assert_non_null(t);
  for (int i = 0; i < 100; i++) {
    struct sim *s = sim_new();
    seg(s, 0, C, S_, 1000, 0, 0);
    seg(s, 1000 + i * 100, S, S_ | A_, 5000, 1001, 0);
    seg(s, 1200 + i * 100, C, A_, 1001, 5001, 0);
    seg(s, 2000 + i * 100, C, P_ | A_, 1001, 5001, 10);
    seg(s, 12000 + i * 100, S, P_ | A_, 5001, 1011, 10);
    ta_conn_finalize(&s->c, TA_END_CAPTURE_END);
    ta_hosts_add(t, &s->c);
    test_free(s);
  }
  struct found *f = calloc(1, sizeof *f);
  assert_non_null(f);
  ta_hosts_each(t, find_service, f);
  assert_true(f->seen);
  /* handshake: 1.2 ms .. 11.1 ms in steps of 0.1 ms; 100 samples are
   * past the exact ones, and 3.2 octaves fit the bins at level 0 */
  assert_int_equal(f->lat.handshake.count, 100);
  double e = ta_lat_dist_error(&f->lat.handshake);
  assert_true(e > 0 && e <= 0.0217 + 1e-4);
  assert_within((double)ta_lat_dist_quantile(&f->lat.handshake, 0.5) / US,
                6100, e);
  assert_within((double)ta_lat_dist_quantile(&f->lat.handshake, 0.99) / US,
                11000, e);
  assert_int_equal(ta_lat_dist_max(&f->lat.handshake), 11100 * US);
  assert_int_equal(f->lat.response.count, 100);
  assert_int_equal(ta_lat_dist_quantile(&f->lat.response, 0.95), 10 * MS);
  free(f);
  ta_hosts_free(t);
}

/* ------------------------------------------------------------------------ */
/* Real timings */

static double num(json_t *o, const char *path) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", path);
  json_t *v = o;
  for (char *k = strtok(buf, "."); k && v; k = strtok(NULL, "."))
    v = json_object_get(v, k);
  if (!json_is_number(v))
    print_error("%s is not a number\n", path);
  assert_true(json_is_number(v));
  return json_number_value(v);
}

static void test_latency_kernel_think_times(void **state) {
  (void)state;
  char *out = NULL, *err = NULL;
  int rc = tt_run_cli("report -f json " TA_TESTDATA
                      "/kernel-response-times.pcap", &out, &err);
  assert_int_equal(rc, 0);
  json_t *doc = json_loads(out, 0, NULL);
  assert_non_null(doc);
  json_t *want_doc = json_load_file(TA_TESTDATA "/kernel-expected.json", 0, NULL);
  assert_non_null(want_doc);
  json_t *want = json_array_get(
      json_object_get(json_object_get(json_object_get(want_doc, "files"),
                                      "kernel-response-times.pcap"),
                      "connections"),
      0);
  assert_non_null(want);
  json_t *think = json_object_get(want, "server_think_times");
  assert_int_equal(json_array_size(think), 3);
  double t[3];
  for (size_t i = 0; i < 3; i++)
    t[i] = json_number_value(json_object_get(json_array_get(think, i),
                                             "think_s"));

  json_t *conns = json_object_get(doc, "connections");
  assert_int_equal(json_array_size(conns), 1);
  json_t *c = json_array_get(conns, 0);
  const double few_ms = 0.002;
  assert_int_equal((int)num(c, "response.count"), 3);
  double lo = t[0] < t[2] ? t[0] : t[2];
  assert_true(num(c, "response.min") > lo - few_ms &&
              num(c, "response.min") < lo + few_ms);
  assert_true(num(c, "response.max") > t[1] - few_ms &&
              num(c, "response.max") < t[1] + few_ms);
  /* nominal 50 / 200 / 50 ms: the median is a 50 ms one */
  assert_true(num(c, "response.median") > 0.050 - few_ms &&
              num(c, "response.median") < 0.050 + few_ms);
  assert_true(num(c, "response.first") > t[0] - few_ms &&
              num(c, "response.first") < t[0] + few_ms);
  /* loopback: every round trip is well under a millisecond */
  assert_true(num(c, "rtt.samples") >= 5);
  assert_true(num(c, "rtt.max") < 0.001);
  double hs = num(c, "rtt.handshake");
  assert_true(hs > 0 && hs < 0.001);
  assert_int_equal((int)num(c, "rtt.to_resp.samples"), 5);
  assert_int_equal((int)num(c, "rtt.to_orig.samples"), 5);

  /* and per service */
  json_t *hosts = json_object_get(doc, "hosts");
  json_t *svc = NULL;
  for (size_t i = 0; i < json_array_size(hosts); i++) {
    json_t *ss = json_object_get(json_array_get(hosts, i), "services");
    for (size_t j = 0; j < json_array_size(ss); j++)
      if (json_integer_value(json_object_get(json_array_get(ss, j), "port")) ==
          2327)
        svc = json_array_get(ss, j);
  }
  assert_non_null(svc);
  assert_int_equal((int)num(svc, "latency.response.samples"), 3);
  assert_true(num(svc, "latency.response.max") > t[1] - few_ms &&
              num(svc, "latency.response.max") < t[1] + few_ms);
  assert_int_equal((int)num(svc, "latency.handshake_rtt.samples"), 1);
  json_decref(want_doc);
  json_decref(doc);
  free(out);
  free(err);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_latency_small_exact_while_it_fits),
      cmocka_unit_test(test_latency_small_binned_median_within_error),
      cmocka_unit_test(test_latency_small_counts_halve_not_wrap),
      cmocka_unit_test(test_latency_dist_million_bounded),
      cmocka_unit_test(test_latency_dist_prefetch_changes_nothing),
      cmocka_unit_test(test_latency_dist_whole_range_stays_level_3),
      cmocka_unit_test(test_latency_dist_merge_keeps_counts),
      cmocka_unit_test(test_latency_dist_same_as_reference),
      cmocka_unit_test(test_latency_dist_exact_phase_values),
      cmocka_unit_test(test_latency_dist_exact_bytes_same_as_rebuilt),
      cmocka_unit_test(test_latency_dist_counts_widen_and_halve),
      cmocka_unit_test(test_latency_dist_free_and_zero),
      cmocka_unit_test(test_latency_handshake_legs_and_whole),
      cmocka_unit_test(test_latency_data_and_exchanges),
      cmocka_unit_test(test_latency_cumulative_ack_no_inflated_sample),
      cmocka_unit_test(test_latency_karn_retransmission_no_sample),
      cmocka_unit_test(test_latency_syn_retry_needs_timestamps),
      cmocka_unit_test(test_latency_ts_echo_times_retransmission),
      cmocka_unit_test(test_latency_ts_echo_needs_newest_and_advance),
      cmocka_unit_test(test_latency_data_seen_after_its_ack),
      cmocka_unit_test(test_latency_banner_and_keepalive),
      cmocka_unit_test(test_latency_hosts_service_percentiles),
      cmocka_unit_test(test_latency_kernel_think_times),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
