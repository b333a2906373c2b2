/* tcpaudit - hosts: per-host aggregates of finalized connections.
 * Open-addressing table keyed on the address; bounded in hosts and in
 * services per host, with overflow counted rather than dropped. */
#include "ta_hosts.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "ta_hash.h"

#define HOSTS_DEFAULT_SCAN_FAILED 20  /* failed attempts as originator */
#define HOSTS_DEFAULT_SCAN_TARGETS 10 /* distinct host:port targets */
#define HOSTS_FIRST_SLOTS 1024u
#define HOSTS_MAX_SLOTS (1u << 26)
/* Hosts are carved from blocks of this many: one allocation per block
 * rather than per host, and no per-allocation overhead on each. */
#define HOSTS_BLOCK 256u

const struct ta_host_role ta__host_no_role;

/* Open addressing on host numbers (0: empty, else number + 1), grown to
 * stay at most half full until it reaches max_slots. */
struct ta_hosts {
  uint32_t *slots;
  uint32_t mask, max_slots;
  struct ta_host **blocks; /* host n is blocks[n / HOSTS_BLOCK][n % ...] */
  uint32_t n_blocks, cap_blocks;
  uint64_t count, max, overflow;
  uint64_t seed;
  uint64_t scan_failed, scan_targets;
  struct ta_fp_shapes *shapes; /* features of the hosts' OS evidence */
};

static uint64_t mix(uint64_t x) { return ta_hash_mix64(x); }

static uint64_t addr_hash(uint64_t seed, uint8_t family, const uint8_t *ip) {
  uint64_t a = 0, b = 0;
  memcpy(&a, ip, 8);
  memcpy(&b, ip + 8, 8);
  return mix(mix(seed ^ a ^ family) ^ b);
}

static struct ta_host *host_at(const struct ta_hosts *t, uint64_t n) {
  return &t->blocks[n / HOSTS_BLOCK][n % HOSTS_BLOCK];
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
  for (uint64_t n = 0; n < t->count; n++) {
    const struct ta_host *h = host_at(t, n);
    uint64_t i = addr_hash(t->seed, h->family, h->ip) & mask;
    while (slots[i])
      i = (i + 1) & mask;
    slots[i] = (uint32_t)(n + 1);
  }
  free(t->slots);
  t->slots = slots;
  t->mask = (uint32_t)mask;
}

/* Room for host number t->count: a new block every HOSTS_BLOCK hosts. */
static struct ta_host *new_host(struct ta_hosts *t) {
  uint64_t n = t->count;
  if (n % HOSTS_BLOCK == 0) {
    uint32_t b = (uint32_t)(n / HOSTS_BLOCK);
    if (b == t->cap_blocks) {
      uint32_t cap = t->cap_blocks ? t->cap_blocks * 2 : 16;
      struct ta_host **blocks = realloc(t->blocks, cap * sizeof *blocks);
      if (!blocks)
        return NULL;
      t->blocks = blocks;
      t->cap_blocks = cap;
    }
    if (!(t->blocks[b] = calloc(HOSTS_BLOCK, sizeof **t->blocks)))
      return NULL;
    t->n_blocks = b + 1;
  }
  return host_at(t, n);
}

static struct ta_host *lookup(struct ta_hosts *t, uint8_t family,
                              const uint8_t *ip) {
  maybe_grow(t);
  uint64_t i = addr_hash(t->seed, family, ip) & t->mask;
  for (uint64_t probes = 0; probes <= t->mask; probes++, i = (i + 1) & t->mask) {
    uint32_t slot = t->slots[i];
    struct ta_host *h;
    if (!slot) {
      if (t->count >= t->max || !(h = new_host(t)))
        return NULL;
      h->family = family;
      memcpy(h->ip, ip, 16);
      t->slots[i] = (uint32_t)++t->count;
      return h;
    }
    h = host_at(t, slot - 1);
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

/* Room for one more service: doubling while small, then eight at a time,
 * so a host with 20 ports does not carry room for 32. */
static bool services_room(struct ta_host_responder *r) {
  if (r->n_services < r->cap_services)
    return true;
  uint32_t cap = r->cap_services < 8 ? (r->cap_services ? r->cap_services * 2 : 2)
                                      : r->cap_services + 8;
  if (cap > TA_MAX_SERVICES_PER_HOST)
    cap = TA_MAX_SERVICES_PER_HOST;
  struct ta_service *s = realloc(r->services, cap * sizeof *s);
  if (!s)
    return false;
  r->services = s;
  r->cap_services = cap;
  return true;
}

static struct ta_service *service_for(struct ta_host_responder *r,
                                      uint16_t port) {
  for (uint32_t i = 0; i < r->n_services; i++)
    if (r->services[i].port == port)
      return &r->services[i];
  if (r->n_services >= TA_MAX_SERVICES_PER_HOST || !services_room(r))
    return NULL;
  struct ta_service *s = &r->services[r->n_services++];
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

static void count_role(struct ta_host_role *r, struct ta_host *h,
                       const struct ta_conn *c, int dir) {
  const struct ta_side *peer = &c->side[!dir];
  r->connections++;
  r->by_scenario[c->scenario]++;
  sketch_add(r->peer_bits, peer_key(peer, false));
  sketch_add(r->target_bits, peer_key(peer, true));
  if (!h->first_ts || c->first_ts < h->first_ts)
    h->first_ts = c->first_ts;
  if (c->last_ts > h->last_ts)
    h->last_ts = c->last_ts;
}

static void count_orig(struct ta_hosts *t, struct ta_host *h,
                       const struct ta_conn *c) {
  count_role(&h->as_orig, h, c, TA_DIR_ORIG);
  if (c->scenario == TA_SC_UNANSWERED || c->scenario == TA_SC_REFUSED)
    h->failed_attempts++;
  h->scan_suspect =
      h->failed_attempts >= t->scan_failed &&
      ta_host_sketch_estimate(h->as_orig.target_bits) >= t->scan_targets;
}

/* False only when the responder part could not be allocated. */
static bool count_resp(struct ta_host *h, const struct ta_conn *c) {
  if (!h->resp && !(h->resp = calloc(1, sizeof *h->resp)))
    return false;
  struct ta_host_responder *r = h->resp;
  count_role(&r->role, h, c, TA_DIR_RESP);
  struct ta_service *s = service_for(r, c->side[TA_DIR_RESP].port);
  if (s) {
    s->by_scenario[c->scenario]++;
    service_latency(s, c);
  } else {
    r->services_overflow++;
  }
  return true;
}

void ta_hosts_add(struct ta_hosts *t, const struct ta_conn *c) {
  for (int dir = 0; dir < 2; dir++) {
    struct ta_host *h = lookup(t, c->family, c->side[dir].ip);
    if (!h || (dir == TA_DIR_RESP && !count_resp(h, c))) {
      t->overflow++;
      continue;
    }
    if (dir == TA_DIR_ORIG)
      count_orig(t, h, c);
    ta_fp_host_add(&h->os, t->shapes, c, dir);
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
  for (uint64_t n = 0; n < t->count; n++)
    all[n] = host_at(t, n);
  qsort(all, t->count, sizeof *all, host_cmp);
  for (uint64_t n = 0; n < t->count; n++)
    fn(ctx, all[n]);
  free(all);
}

uint64_t ta_hosts_count(const struct ta_hosts *t) { return t->count; }
uint64_t ta_hosts_overflow(const struct ta_hosts *t) { return t->overflow; }

static void responder_free(struct ta_host_responder *r) {
  if (!r)
    return;
  for (uint32_t j = 0; j < r->n_services; j++) {
    struct ta_svc_latency *l = r->services[j].lat;
    if (l) {
      ta_lat_dist_free(&l->handshake);
      ta_lat_dist_free(&l->response);
    }
    free(l);
  }
  free(r->services);
  free(r);
}

void ta_hosts_free(struct ta_hosts *t) {
  if (!t)
    return;
  for (uint64_t n = 0; n < t->count; n++) {
    struct ta_host *h = host_at(t, n);
    ta_fp_host_free(&h->os);
    responder_free(h->resp);
  }
  for (uint32_t b = 0; b < t->n_blocks; b++)
    free(t->blocks[b]);
  free(t->blocks);
  free(t->slots);
  ta_fp_shapes_free(t->shapes);
  free(t);
}
