/* tcpaudit - latency: bounded-memory distributions of round-trip and
 * response times, and the per-connection state that produces them.
 * Owns the distribution types and their arithmetic; lib/conn.c owns when a
 * sample is taken, lib/hosts.c owns the per-service aggregates.
 * docs/latency.md explains the methods and states the errors. */
#ifndef TA_LATENCY_H
#define TA_LATENCY_H

#include <stdbool.h>
#include <stdint.h>

/* Both distribution types keep their samples exactly while they fit, then
 * switch to log-scale bins: a sample x (in microseconds, clamped to
 * [1 us, 2^32 us)) falls in fine bin floor(16 * log2(x)); at collapse level
 * s the bin is the fine bin >> s, so one bin spans a ratio of
 * gamma = 2^(2^s / 16). When every bin slot is taken the level goes up by
 * one and neighbouring bins merge. A quantile is reported as the bin's
 * harmonic midpoint clamped to [min, max]: within a relative error of
 * (gamma - 1) / (gamma + 1) of the sample at that rank
 * (s = 0: 2.2%, 1: 4.3%, 2: 8.6%, 3: 17%). */
#define TA_LAT_FINE_PER_OCTAVE 16
#define TA_LAT_MAX_US 0xffffffffu

/* Per connection (held for every open connection, so small): exact up to
 * TA_LAT_CONN_BINS samples, then that many bins. */
#define TA_LAT_CONN_BINS 12
struct ta_lat_small {
  uint32_t count;        /* samples added (saturates) */
  uint32_t min_us, max_us;
  uint8_t shift;         /* collapse level; meaningless while exact */
  uint8_t n;             /* values or bins in use */
  bool binned;
  union {
    uint32_t v[TA_LAT_CONN_BINS]; /* exact values, sorted */
    struct {
      uint16_t key[TA_LAT_CONN_BINS]; /* bin numbers, sorted */
      uint16_t cnt[TA_LAT_CONN_BINS]; /* halved together if one would wrap */
    } b;
  } u;
};

/* Per service of a host: exact up to TA_LAT_DIST_EXACT samples, then
 * TA_LAT_DIST_BINS bins. 64 bins hold the whole clamped range (32
 * octaves) at level 3, so the error never exceeds 17%; it stays at 8.6%
 * or less for data within 16 octaves (65536:1), 4.3% within 8, 2.2%
 * within 4. Both sizes are small because a long capture fills them: a
 * host holds one per service it answers, most with a few dozen samples,
 * and memory grows with the samples held until the bins take over. The
 * storage is sized to what it holds: the exact values as the
 * varying-length gaps between them (8 bytes inside the struct, then a
 * block that grows 16 bytes at a time), the bins as a bitmap of the bins
 * in use followed by their counts in 1, 2 or 4 bytes each. lib/latency.c
 * describes both. A zeroed struct is an empty distribution;
 * ta_lat_dist_free releases the storage. */
#define TA_LAT_DIST_BINS 64
#define TA_LAT_DIST_EXACT (TA_LAT_DIST_BINS / 2)
struct ta_lat_dist {
  uint64_t count;
  uint32_t min_us, max_us;
  uint8_t shift;
  uint8_t src_shift;     /* coarsest level of the sketches merged in */
  bool binned;
  uint8_t n;             /* values or bins held */
  uint8_t width;         /* once binned: bytes of each bin count */
  union {
    uint16_t used;       /* while exact: bytes of the encoded values */
    struct {
      uint8_t word0;     /* once binned: the bitmap's first 64-bin word */
      uint8_t words;     /* and how many words it has */
    };
  };
  union {
    uint8_t in[8];       /* the encoded values while they fit here */
    uint8_t *p;          /* else the block */
  } d;
};
/* Nanoseconds to whole microseconds, rounded, clamped to
 * [0, TA_LAT_MAX_US]. Cannot fail. Inline: the tracker converts every
 * sample it takes. */
static inline uint32_t ta_lat_us(int64_t ns) {
  if (ns <= 0)
    return 0;
  int64_t us = (ns + 500) / 1000;
  return us > (int64_t)TA_LAT_MAX_US ? TA_LAT_MAX_US : (uint32_t)us;
}

/* Adds one sample (nanoseconds; negative counts as 0). Cannot fail,
 * bounded work; ta_lat_small_add never allocates. ta_lat_dist_add grows the
 * storage; when memory runs out the sample still counts in count, min and
 * max but is left out of the quantiles. */
void ta_lat_small_add(struct ta_lat_small *h, int64_t ns);
void ta_lat_dist_add(struct ta_lat_dist *h, int64_t ns);

/* The same for a sample already in microseconds (at most TA_LAT_MAX_US),
 * as ta_lat_us gives them. Inline where the distribution is still exact
 * and not full, as it is for almost every connection; the rest is
 * ta__lat_small_add_slow. */
void ta__lat_small_add_slow(struct ta_lat_small *h, uint32_t us);
static inline void ta_lat_small_add_us(struct ta_lat_small *h, uint32_t us) {
  if (h->binned || h->n >= TA_LAT_CONN_BINS) {
    ta__lat_small_add_slow(h, us);
    return;
  }
  if (h->count == 0 || us < h->min_us)
    h->min_us = us;
  if (h->count == 0 || us > h->max_us)
    h->max_us = us;
  if (h->count < UINT32_MAX)
    h->count++;
  unsigned i = h->n; /* a sorted insert */
  while (i > 0 && h->u.v[i - 1] > us) {
    h->u.v[i] = h->u.v[i - 1];
    i--;
  }
  h->u.v[i] = us;
  h->n++;
}
/* Adds every sample a connection's distribution holds (at its
 * resolution). Cannot fail (memory as for ta_lat_dist_add). */
void ta_lat_dist_merge(struct ta_lat_dist *h, const struct ta_lat_small *s);
/* Releases the storage of h and leaves it empty. */
void ta_lat_dist_free(struct ta_lat_dist *h);
/* Asks for the storage of h to be fetched into the cache, ahead of adding
 * to it: a host table reaches its distributions in no order. */
void ta_lat_dist_prefetch(const struct ta_lat_dist *h);

/* The median in nanoseconds (exact while exact: the mean of the two middle
 * values for an even count); 0 when empty. Cannot fail. */
int64_t ta_lat_small_median(const struct ta_lat_small *h);
/* The q-quantile (0 < q <= 1, nearest rank) in nanoseconds; 0 when empty. */
int64_t ta_lat_dist_quantile(const struct ta_lat_dist *h, double q);
/* Samples at or below ns (by bin midpoint once binned), for histograms
 * drawn by reporters. Cannot fail. */
uint64_t ta_lat_dist_count_le(const struct ta_lat_dist *h, int64_t ns);
int64_t ta_lat_small_min(const struct ta_lat_small *h);
int64_t ta_lat_small_max(const struct ta_lat_small *h);
int64_t ta_lat_dist_min(const struct ta_lat_dist *h);
int64_t ta_lat_dist_max(const struct ta_lat_dist *h);
/* Bound on the relative error of a reported median or quantile: 0 while
 * exact, else (gamma - 1) / (gamma + 1) at the level in force. */
double ta_lat_small_error(const struct ta_lat_small *h);
double ta_lat_dist_error(const struct ta_lat_dist *h);

/* One direction's round trips: the segments this side sends, matched to the
 * peer's ACK that covers them, i.e. capture point -> peer -> capture point.
 * Two segments are timed, each in constant space: one held until an ACK
 * reaches it (BSD-style) and the newest one sent. An ACK gives a sample
 * only when its number is exactly the end of one of them (otherwise it was
 * sent for a later segment); a segment sent again before its ACK gives none
 * (Karn). With TCP timestamps on both sides, an ACK that advances and
 * echoes this side's newest TSval also gives a sample, timed from the first
 * segment that carried that TSval. */
enum {
  TA_LEG_TIMED_SYN = 1u << 0,  /* the timed segment is a SYN (or SYN/ACK) */
  TA_LEG_NEWEST_SYN = 1u << 1, /* the newest segment is a SYN */
  TA_LEG_TSV_SYN = 1u << 2,    /* the newest TSval was first on a SYN */
  TA_LEG_TSV_LIVE = 1u << 3,   /* newest TSval not yet matched by an echo */
  TA_LEG_TS_SEEN = 1u << 4,    /* this side has sent a timestamp option */
};
struct ta_lat_leg {
  int64_t timed_ts;   /* when the timed segment was seen; 0 when none */
  int64_t newest_ts;  /* when the newest segment was seen; 0 when none */
  int64_t tsv_ts;     /* when the newest TSval first came on a segment */
  uint64_t sum_us;
  uint32_t timed_end; /* the ACK number that covers the timed segment */
  uint32_t newest_end;
  uint32_t tsv;
  uint32_t samples, min_us, max_us, last_us;
  uint8_t flags;      /* TA_LEG_* */
};

/* The connection's part: whole round trips and response times. */
enum {
  TA_LAT_HS_SYN = 1u << 0,    /* hs_us holds the SYN's round trip */
  TA_LAT_HS_DONE = 1u << 1,   /* ... plus the SYN/ACK's: complete */
  TA_LAT_REQ_OPEN = 1u << 2,  /* a request awaits its answer */
};
struct ta_conn_latency {
  /* a leg's sample plus the other leg's latest: the full round trip */
  struct ta_lat_small rtt;
  /* last request payload from the originator -> first answer byte */
  struct ta_lat_small response;
  int64_t req_ts;    /* the originator's latest new payload */
  uint32_t hs_us;    /* SYN leg + SYN/ACK leg, see TA_LAT_HS_* */
  uint8_t flags;     /* TA_LAT_* */
};

/* Per-leg statistics for reporters (nanoseconds; 0 when no sample). */
int64_t ta_lat_leg_avg(const struct ta_lat_leg *l);

/* The handshake round trip (SYN to its ACK, both legs Karn-clean) in ns, or
 * -1 when it was not measured. */
int64_t ta_lat_handshake(const struct ta_conn_latency *l);

#endif
