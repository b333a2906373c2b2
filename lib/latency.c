/* tcpaudit - latency: the bounded distributions of ta_latency.h.
 * Exact values while they fit, then uniformly collapsing log-scale bins.
 * Pure arithmetic on caller-owned structs, bounded loops, nothing here
 * knows about packets; only a host's distributions allocate, as they fill. */
#include "ta_latency.h"
#include "ta_prefetch.h"

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

/* ------------------------------------------------------------------------ */
/* A host's distributions (struct ta_lat_dist) are stored compactly, since
 * tens of thousands of them are held at once and most hold a few values:
 *
 * - Exact: the sorted values as gaps, each the difference to the value
 *   before it (the first to 0) in 7 bits a byte, low bits first, the high
 *   bit set on every byte but a gap's last. Most gaps take one or two
 *   bytes. `used` bytes: in d.in while they fit there, else in a block.
 * - Binned: a block holding a bitmap of the bins in use, 64 bins a word,
 *   words word0 .. word0 + words - 1 (bin k is bit k % 64 of word
 *   k / 64 - word0), then the n counts in the order of their bins, each
 *   `width` bytes: the fewest of 1, 2 or 4 that hold the largest.
 *
 * A block holds block_cap(bytes in use), a size malloc hands out whole, so
 * the capacity needs no field of its own. Adding a sample edits this form
 * in place; the rare steps that reshape the bins (a collapse, a halving,
 * wider counts, a new bitmap word) unpack them into struct wide, run the
 * algorithms above on it unchanged, and pack the result, so both forms
 * give the same bins. */

#define INLINE_BYTES sizeof(((struct ta_lat_dist *)0)->d.in)

_Static_assert(sizeof(struct ta_lat_dist) == 32, "two per service");
_Static_assert(TA_LAT_DIST_EXACT <= UINT8_MAX &&
                   TA_LAT_DIST_BINS <= UINT8_MAX,
               "n is one byte");
_Static_assert((FINE_MAX >> 6) < UINT8_MAX, "word0 is one byte");

struct wide {
  uint16_t key[TA_LAT_DIST_BINS];
  uint32_t cnt[TA_LAT_DIST_BINS];
};

/* Usable sizes that 64-bit glibc malloc serves without rounding: 16 k + 8,
 * at least 24. Steps of 16 bytes keep a block within 16 of its contents. */
static size_t block_cap(size_t bytes) {
  return bytes <= 24 ? 24 : ((bytes - 8 + 15) & ~(size_t)15) + 8;
}

/* Resizes block *p from holding `have` bytes to holding `need`; false when
 * memory ran out (then nothing changed). A failed shrink keeps the larger
 * block, which is as good. */
static bool block_fit(uint8_t **p, size_t have, size_t need) {
  if (block_cap(need) == block_cap(have))
    return true;
  uint8_t *q = realloc(*p, block_cap(need));
  if (q)
    *p = q;
  return q || need < have;
}

static unsigned gap_len(uint32_t x) {
  return x < 1u << 7 ? 1 : x < 1u << 14 ? 2 : x < 1u << 21 ? 3
                                          : x < 1u << 28 ? 4 : 5;
}

static unsigned gap_put(uint8_t *p, uint32_t x) {
  unsigned i = 0;
  for (; x >= 0x80; x >>= 7)
    p[i++] = (uint8_t)(x | 0x80);
  p[i++] = (uint8_t)x;
  return i;
}

static unsigned gap_get(const uint8_t *p, uint32_t *x) {
  uint32_t v = p[0] & 0x7f;
  unsigned i = 1;
  if (p[0] & 0x80) {
    do
      v |= (uint32_t)(p[i] & 0x7f) << (7 * i);
    while (p[i++] & 0x80);
  }
  *x = v;
  return i;
}

static const uint8_t *exact_bytes(const struct ta_lat_dist *h) {
  return h->used <= INLINE_BYTES ? h->d.in : h->d.p;
}

/* Decodes the exact values into vals (room for TA_LAT_DIST_EXACT). */
static unsigned exact_values(const struct ta_lat_dist *h, uint32_t *vals) {
  const uint8_t *d = exact_bytes(h);
  uint32_t v = 0, gap;
  for (unsigned pos = 0, i = 0; pos < h->used; i++) {
    pos += gap_get(d + pos, &gap);
    vals[i] = v += gap;
  }
  return h->n;
}

/* Room for `need` bytes of exact values; false when memory ran out. */
static bool exact_room(struct ta_lat_dist *h, size_t need) {
  if (need <= INLINE_BYTES)
    return true;
  if (h->used > INLINE_BYTES)
    return block_fit(&h->d.p, h->used, need);
  uint8_t *q = malloc(block_cap(need));
  if (!q)
    return false;
  memcpy(q, h->d.in, h->used);
  h->d.p = q;
  return true;
}

/* A value at or above every one held: gap x from the largest goes at
 * the end, nothing moves. False when memory ran out. */
static bool exact_append(struct ta_lat_dist *h, uint32_t x) {
  unsigned used = h->used, need = used + gap_len(x);
  if (!exact_room(h, need))
    return false;
  gap_put((need <= INLINE_BYTES ? h->d.in : h->d.p) + used, x);
  h->used = (uint16_t)need;
  h->n++;
  return true;
}

/* The sorted insert of the exact phase: the values are decoded only up to
 * the first one above us, whose gap is split in two; the bytes after it
 * move once. False when memory ran out. */
static bool exact_insert(struct ta_lat_dist *h, uint32_t us) {
  const uint8_t *d = exact_bytes(h);
  unsigned pos = 0, len = 0, used = h->used;
  uint32_t prev = 0, gap = 0;
  while (pos < used) {
    len = gap_get(d + pos, &gap);
    if (gap > us - prev)
      break;
    prev += gap;
    pos += len;
  }
  if (pos == used)
    return exact_append(h, us - prev);
  unsigned head = gap_len(us - prev) + gap_len(prev + gap - us);
  if (!exact_room(h, used + head - len))
    return false;
  uint8_t *w = used + head - len <= INLINE_BYTES ? h->d.in : h->d.p;
  memmove(w + pos + head, w + pos + len, used - pos - len);
  pos += gap_put(w + pos, us - prev);
  gap_put(w + pos, prev + gap - us);
  h->used = (uint16_t)(used + head - len);
  h->n++;
  return true;
}

static size_t bins_bytes(unsigned words, unsigned n, unsigned width) {
  return (size_t)words * 8 + (size_t)n * width;
}

static uint64_t *bins_map(const struct ta_lat_dist *h) {
  return (uint64_t *)(void *)h->d.p;
}

static uint8_t *bins_cnt(const struct ta_lat_dist *h) {
  return h->d.p + (size_t)h->words * 8;
}

static uint64_t width_max(unsigned width) {
  return width == 1 ? UINT8_MAX : width == 2 ? UINT16_MAX : UINT32_MAX;
}

static uint64_t packed_get(const uint8_t *c, unsigned i, unsigned width) {
  if (width == 1)
    return c[i];
  if (width == 2) {
    uint16_t x;
    memcpy(&x, c + 2 * i, 2);
    return x;
  }
  uint32_t x;
  memcpy(&x, c + 4 * (size_t)i, 4);
  return x;
}

static void packed_set(uint8_t *c, unsigned i, unsigned width, uint64_t v) {
  if (width == 1) {
    c[i] = (uint8_t)v;
  } else if (width == 2) {
    uint16_t x = (uint16_t)v;
    memcpy(c + 2 * i, &x, 2);
  } else {
    uint32_t x = (uint32_t)v;
    memcpy(c + 4 * (size_t)i, &x, 4);
  }
}

/* Walks the bins in order. */
struct bin_iter {
  const uint64_t *map;
  const uint8_t *cnt;
  uint64_t bits;
  unsigned word, words, base, i, width;
};

static struct bin_iter bins_begin(const struct ta_lat_dist *h) {
  struct bin_iter it = {.map = bins_map(h), .cnt = bins_cnt(h),
                        .words = h->words, .base = h->word0,
                        .width = h->width};
  it.bits = h->words ? it.map[0] : 0;
  return it;
}

static bool bins_next(struct bin_iter *it, unsigned *key, uint64_t *cnt) {
  while (!it->bits) {
    if (++it->word >= it->words)
      return false;
    it->bits = it->map[it->word];
  }
  *key = (it->base + it->word) * 64 + (unsigned)__builtin_ctzll(it->bits);
  it->bits &= it->bits - 1;
  *cnt = packed_get(it->cnt, it->i++, it->width);
  return true;
}

static unsigned bins_unpack(const struct ta_lat_dist *h, struct wide *b) {
  struct bin_iter it = bins_begin(h);
  unsigned n = 0, k;
  uint64_t c;
  while (bins_next(&it, &k, &c)) {
    b->key[n] = (uint16_t)k;
    b->cnt[n++] = (uint32_t)c;
  }
  return n;
}

/* Stores n bins of b at level shift as h's bins, in a block of their size
 * (the exact values' storage is released). False when memory ran out:
 * then h is as it was. */
static bool bins_pack(struct ta_lat_dist *h, const struct wide *b, unsigned n,
                      unsigned shift) {
  uint32_t top = 0;
  for (unsigned i = 0; i < n; i++)
    top = b->cnt[i] > top ? b->cnt[i] : top;
  unsigned width = top <= UINT8_MAX ? 1 : top <= UINT16_MAX ? 2 : 4;
  unsigned word0 = n ? b->key[0] / 64u : 0;
  unsigned words = n ? b->key[n - 1] / 64u - word0 + 1 : 0;
  size_t need = bins_bytes(words, n, width);
  uint8_t *p = NULL;
  if (h->binned) {
    p = h->d.p;
    if (!block_fit(&p, bins_bytes(h->words, h->n, h->width), need))
      return false;
  } else {
    if (!(p = malloc(block_cap(need))))
      return false;
    if (h->used > INLINE_BYTES)
      free(h->d.p);
  }
  h->d.p = p;
  h->binned = true;
  h->shift = (uint8_t)shift;
  h->n = (uint8_t)n;
  h->width = (uint8_t)width;
  h->word0 = (uint8_t)word0;
  h->words = (uint8_t)words;
  uint64_t *map = bins_map(h);
  uint8_t *cnt = bins_cnt(h);
  memset(map, 0, (size_t)words * 8);
  for (unsigned i = 0; i < n; i++) {
    map[b->key[i] / 64u - word0] |= 1ull << (b->key[i] % 64u);
    packed_set(cnt, i, width, b->cnt[i]);
  }
  return true;
}

/* A view for the algorithms above on bins unpacked from h, with the level
 * and mode in *shift and *binned so that h changes only when packed. */
static struct view wide_view(struct wide *b, uint8_t *shift, bool *binned,
                             uint32_t *vals) {
  struct view w = {.shift = shift, .binned = binned, .key = b->key,
                   .c32 = b->cnt, .v = vals, .bins = TA_LAT_DIST_BINS,
                   .exact = TA_LAT_DIST_EXACT};
  return w;
}

/* Leaves exact mode as to_bins does. False when memory ran out. */
static bool exact_to_bins(struct ta_lat_dist *h) {
  struct wide b;
  uint32_t vals[TA_LAT_DIST_EXACT];
  uint8_t shift = 0;
  bool binned = false;
  struct view w = wide_view(&b, &shift, &binned, vals);
  w.n = exact_values(h, vals);
  to_bins(&w);
  return bins_pack(h, &b, w.n, shift);
}

/* bin_add in place, when that needs no collapse, no halving, no wider
 * counts and no new bitmap word: false (nothing changed) otherwise, or
 * when memory ran out. */
static bool bins_add_in_place(struct ta_lat_dist *h, unsigned f, uint64_t c) {
  unsigned k = f >> h->shift, word = k / 64u - h->word0;
  if (k / 64u < h->word0 || word >= h->words)
    return false;
  const uint64_t *map = bins_map(h);
  uint64_t bit = 1ull << (k % 64u);
  unsigned rank = (unsigned)__builtin_popcountll(map[word] & (bit - 1));
  for (unsigned i = 0; i < word; i++)
    rank += (unsigned)__builtin_popcountll(map[i]);
  unsigned width = h->width;
  if (map[word] & bit) {
    uint64_t have = packed_get(bins_cnt(h), rank, width);
    if (have + c > width_max(width))
      return false;
    packed_set(bins_cnt(h), rank, width, have + c);
    return true;
  }
  if (h->n >= TA_LAT_DIST_BINS || c > width_max(width))
    return false;
  size_t have = bins_bytes(h->words, h->n, width);
  if (!block_fit(&h->d.p, have, have + width))
    return false;
  uint8_t *cnt = bins_cnt(h);
  memmove(cnt + (size_t)(rank + 1) * width, cnt + (size_t)rank * width,
          (size_t)(h->n - rank) * width);
  packed_set(cnt, rank, width, c);
  bins_map(h)[word] |= bit;
  h->n++;
  return true;
}

/* bin_add on a binned h. */
static void dist_bin_add(struct ta_lat_dist *h, unsigned f, uint64_t c) {
  if (bins_add_in_place(h, f, c))
    return;
  struct wide b;
  uint8_t shift = h->shift;
  bool binned = true;
  struct view w = wide_view(&b, &shift, &binned, NULL);
  w.n = bins_unpack(h, &b);
  bin_add(&w, f, c);
  bins_pack(h, &b, w.n, shift);
}

static uint64_t bins_total(const struct ta_lat_dist *h) {
  struct bin_iter it = bins_begin(h);
  unsigned k;
  uint64_t c, t = 0;
  while (bins_next(&it, &k, &c))
    t += c;
  return t;
}

/* view_rank_us for h. */
static double dist_rank_us(const struct ta_lat_dist *h, uint64_t r) {
  if (!h->binned) {
    const uint8_t *d = exact_bytes(h);
    uint32_t v = 0, gap;
    for (unsigned pos = 0, i = 0; pos < h->used && i < r; i++) {
      pos += gap_get(d + pos, &gap);
      v += gap;
    }
    return v;
  }
  struct bin_iter it = bins_begin(h);
  unsigned k, last = 0;
  uint64_t c, cum = 0;
  while (bins_next(&it, &k, &c)) {
    if ((cum += c) >= r)
      return bin_value_us(k, h->shift);
    last = k;
  }
  return h->n ? bin_value_us(last, h->shift) : 0;
}

/* view_add_us for one sample. */
static void dist_add_us(struct ta_lat_dist *h, uint32_t us) {
  if (!h->binned && h->n < TA_LAT_DIST_EXACT) {
    exact_insert(h, us);
    return;
  }
  if (!h->binned && !exact_to_bins(h))
    return;
  dist_bin_add(h, fine_bin(us), 1);
}

static void minmax(uint32_t *min_us, uint32_t *max_us, bool first,
                   uint32_t us) {
  if (first || us < *min_us)
    *min_us = us;
  if (first || us > *max_us)
    *max_us = us;
}

/* A sample for a distribution that is binned or full: the inline part
 * (ta_lat_small_add_us) handles the rest. */
void ta__lat_small_add_slow(struct ta_lat_small *h, uint32_t us) {
  minmax(&h->min_us, &h->max_us, h->count == 0, us);
  if (h->count < UINT32_MAX)
    h->count++;
  struct view w = small_view(h);
  view_add_us(&w, us, 1);
  h->n = (uint8_t)w.n;
}

void ta_lat_small_add(struct ta_lat_small *h, int64_t ns) {
  ta_lat_small_add_us(h, ta_lat_us(ns));
}

void ta_lat_dist_add(struct ta_lat_dist *h, int64_t ns) {
  uint32_t us = ta_lat_us(ns);
  minmax(&h->min_us, &h->max_us, h->count == 0, us);
  h->count++;
  dist_add_us(h, us);
}

void ta_lat_dist_merge(struct ta_lat_dist *h, const struct ta_lat_small *s) {
  if (s->count == 0)
    return;
  minmax(&h->min_us, &h->max_us, h->count == 0, s->min_us);
  minmax(&h->min_us, &h->max_us, false, s->max_us);
  h->count += s->count;
  if (!s->binned) {
    for (unsigned i = 0; i < s->n; i++)
      dist_add_us(h, s->u.v[i]);
    return;
  }
  /* each bin lands on the fine bin of its middle; the error of those
   * samples is the connection's level, remembered in src_shift */
  if (!h->binned && !exact_to_bins(h))
    return;
  for (unsigned i = 0; i < s->n; i++) {
    unsigned f = ((unsigned)s->u.b.key[i] << s->shift) +
                 ((1u << s->shift) >> 1);
    dist_bin_add(h, f > FINE_MAX ? FINE_MAX : f, s->u.b.cnt[i]);
  }
  if (s->shift > h->src_shift)
    h->src_shift = s->shift;
}

void ta_lat_dist_prefetch(const struct ta_lat_dist *h) {
  size_t bytes = h->binned ? bins_bytes(h->words, h->n, h->width)
                 : h->used > INLINE_BYTES ? h->used
                                          : 0;
  for (size_t at = 0; at < bytes; at += 64)
    ta_prefetch(h->d.p + at);
  if (bytes) /* the last line, where the block straddles one more */
    ta_prefetch(h->d.p + bytes - 1);
}

void ta_lat_dist_free(struct ta_lat_dist *h) {
  if (h->binned || h->used > INLINE_BYTES)
    free(h->d.p);
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
  uint64_t total = h->binned ? bins_total(h) : h->n;
  double want = ceil(q * (double)total);
  uint64_t r = want < 1 ? 1 : want > (double)total ? total : (uint64_t)want;
  return clamp_ns(dist_rank_us(h, r), h->min_us, h->max_us);
}

uint64_t ta_lat_dist_count_le(const struct ta_lat_dist *h, int64_t ns) {
  if (h->count == 0 || h->n == 0)
    return 0;
  double us = (double)ns / 1000.0;
  uint64_t n = 0;
  if (!h->binned) {
    uint32_t vals[TA_LAT_DIST_EXACT];
    for (unsigned i = 0, m = exact_values(h, vals); i < m; i++)
      n += vals[i] <= us;
    return n;
  }
  struct bin_iter it = bins_begin(h);
  unsigned k;
  uint64_t c;
  while (bins_next(&it, &k, &c))
    if (bin_value_us(k, h->shift) <= us)
      n += c;
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
