/* tcpaudit - hosts: per-host aggregates of finalized connections.
 * Open-addressing table keyed on the address; bounded in hosts and in
 * services per host, with overflow counted rather than dropped. */
#include "ta_hosts.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#define HOSTS_DEFAULT_SCAN_FAILED 20  /* failed attempts as originator */
#define HOSTS_DEFAULT_SCAN_TARGETS 10 /* distinct host:port targets */

struct ta_hosts {
  struct ta_host **slots;
  uint64_t mask, count, max, overflow;
  uint64_t seed;
  uint64_t scan_failed, scan_targets;
  struct ta_fp_shapes *shapes; /* features of the hosts' OS evidence */
};

static uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

static uint64_t addr_hash(uint64_t seed, uint8_t family, const uint8_t *ip) {
  uint64_t a = 0, b = 0;
  memcpy(&a, ip, 8);
  memcpy(&b, ip + 8, 8);
  return mix(mix(seed ^ a ^ family) ^ b);
}

struct ta_hosts *ta_hosts_new(uint32_t max_hosts, uint64_t seed) {
  struct ta_hosts *t = calloc(1, sizeof *t);
  if (!t)
    return NULL;
  uint64_t n = 1024;
  while (n < 2ull * max_hosts && n < (1ull << 26))
    n <<= 1;
  t->slots = calloc(n, sizeof *t->slots);
  t->mask = n - 1;
  t->max = max_hosts ? max_hosts : 1;
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

static struct ta_host *lookup(struct ta_hosts *t, uint8_t family,
                              const uint8_t *ip) {
  uint64_t i = addr_hash(t->seed, family, ip) & t->mask;
  for (uint64_t probes = 0; probes <= t->mask; probes++, i = (i + 1) & t->mask) {
    struct ta_host *h = t->slots[i];
    if (!h) {
      if (t->count >= t->max || !(h = calloc(1, sizeof *h)))
        return NULL;
      h->family = family;
      memcpy(h->ip, ip, 16);
      t->slots[i] = h;
      t->count++;
      return h;
    }
    if (h->family == family && memcmp(h->ip, ip, 16) == 0)
      return h;
  }
  return NULL;
}

static void sketch_add(uint64_t *bits, uint64_t v) {
  uint64_t b = mix(v) % TA_HOST_SKETCH_BITS;
  bits[b / 64] |= 1ull << (b % 64);
}

uint64_t ta_host_sketch_estimate(const uint64_t *bits) {
  unsigned set = 0;
  for (unsigned i = 0; i < TA_HOST_SKETCH_BITS / 64; i++)
    set += (unsigned)__builtin_popcountll(bits[i]);
  if (set == 0)
    return 0;
  if (set >= TA_HOST_SKETCH_BITS)
    set = TA_HOST_SKETCH_BITS - 1; /* saturated: report the bound */
  double m = TA_HOST_SKETCH_BITS;
  return (uint64_t)llround(-m * log((m - set) / m));
}

static struct ta_service *service_for(struct ta_host *h, uint16_t port) {
  for (uint32_t i = 0; i < h->n_services; i++)
    if (h->services[i].port == port)
      return &h->services[i];
  if (h->n_services >= TA_MAX_SERVICES_PER_HOST)
    return NULL;
  if (h->n_services == h->cap_services) {
    uint32_t cap = h->cap_services ? h->cap_services * 2 : 4;
    struct ta_service *s = realloc(h->services, cap * sizeof *s);
    if (!s)
      return NULL;
    h->services = s;
    h->cap_services = cap;
  }
  struct ta_service *s = &h->services[h->n_services++];
  memset(s, 0, sizeof *s);
  s->port = port;
  return s;
}

/* Adds the connection's handshake round trip and response times to its
 * service; the distributions are allocated with the first measurement. */
static void service_latency(struct ta_service *s, const struct ta_conn *c) {
  int64_t hs = ta_lat_handshake(&c->lat);
  if (hs < 0 && c->lat.response.count == 0)
    return;
  if (!s->lat && !(s->lat = calloc(1, sizeof *s->lat)))
    return; /* out of memory: the counts above still stand */
  if (hs >= 0)
    ta_lat_dist_add(&s->lat->handshake, hs);
  ta_lat_dist_merge(&s->lat->response, &c->lat.response);
}

static uint64_t peer_key(const struct ta_side *peer, bool with_port) {
  uint64_t a = 0, b = 0;
  memcpy(&a, peer->ip, 8);
  memcpy(&b, peer->ip + 8, 8);
  return mix(a ^ mix(b)) ^ (with_port ? peer->port * 0x9e3779b97f4a7c15ull : 0);
}

static void count_role(struct ta_hosts *t, struct ta_host *h,
                       const struct ta_conn *c, int dir) {
  struct ta_host_role *r = dir == TA_DIR_ORIG ? &h->as_orig : &h->as_resp;
  const struct ta_side *peer = &c->side[!dir];
  r->connections++;
  r->by_scenario[c->scenario]++;
  sketch_add(r->peer_bits, peer_key(peer, false));
  sketch_add(r->target_bits, peer_key(peer, true));
  if (!h->first_ts || c->first_ts < h->first_ts)
    h->first_ts = c->first_ts;
  if (c->last_ts > h->last_ts)
    h->last_ts = c->last_ts;
  if (dir == TA_DIR_RESP) {
    struct ta_service *s = service_for(h, c->side[TA_DIR_RESP].port);
    if (s) {
      s->by_scenario[c->scenario]++;
      service_latency(s, c);
    } else {
      h->services_overflow++;
    }
    return;
  }
  if (c->scenario == TA_SC_UNANSWERED || c->scenario == TA_SC_REFUSED)
    h->failed_attempts++;
  h->scan_suspect = h->failed_attempts >= t->scan_failed &&
                    ta_host_sketch_estimate(r->target_bits) >= t->scan_targets;
}

void ta_hosts_add(struct ta_hosts *t, const struct ta_conn *c) {
  for (int dir = 0; dir < 2; dir++) {
    struct ta_host *h = lookup(t, c->family, c->side[dir].ip);
    if (h) {
      count_role(t, h, c, dir);
      ta_fp_host_add(&h->os, t->shapes, c, dir);
    } else {
      t->overflow++;
    }
  }
}

static int host_cmp(const void *a, const void *b) {
  const struct ta_host *x = *(struct ta_host *const *)a;
  const struct ta_host *y = *(struct ta_host *const *)b;
  if (x->family != y->family)
    return x->family < y->family ? -1 : 1;
  return memcmp(x->ip, y->ip, 16);
}

void ta_hosts_each(struct ta_hosts *t, void (*fn)(void *, const struct ta_host *),
                   void *ctx) {
  struct ta_host **all = malloc((t->count ? t->count : 1) * sizeof *all);
  if (!all)
    return;
  uint64_t n = 0;
  for (uint64_t i = 0; i <= t->mask; i++)
    if (t->slots[i])
      all[n++] = t->slots[i];
  qsort(all, n, sizeof *all, host_cmp);
  for (uint64_t i = 0; i < n; i++)
    fn(ctx, all[i]);
  free(all);
}

uint64_t ta_hosts_count(const struct ta_hosts *t) { return t->count; }
uint64_t ta_hosts_overflow(const struct ta_hosts *t) { return t->overflow; }

void ta_hosts_free(struct ta_hosts *t) {
  if (!t)
    return;
  for (uint64_t i = 0; t->slots && i <= t->mask; i++)
    if (t->slots[i]) {
      ta_fp_host_free(&t->slots[i]->os);
      for (uint32_t j = 0; j < t->slots[i]->n_services; j++) {
        struct ta_svc_latency *l = t->slots[i]->services[j].lat;
        if (l) {
          ta_lat_dist_free(&l->handshake);
          ta_lat_dist_free(&l->response);
        }
        free(l);
      }
      free(t->slots[i]->services);
      free(t->slots[i]);
    }
  free(t->slots);
  ta_fp_shapes_free(t->shapes);
  free(t);
}
