/* tcpaudit - hosts: per-host aggregates built from finalized connections.
 * Holds only counts (bounded per host and in number of hosts), never the
 * connections themselves. */
#ifndef TA_HOSTS_H
#define TA_HOSTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ta_conn.h"
#include "ta_fingerprint.h"
#include "ta_limits.h"

/* Latency of one service (docs/latency.md): fixed-size distributions, so
 * a million connections cost what a thousand do. */
struct ta_svc_latency {
  struct ta_lat_dist handshake; /* each connection's handshake round trip */
  struct ta_lat_dist response;  /* each exchange's server response time */
};

/* What reporters read of a host: ta_hosts_each fills one for each host
 * from the table's compact records (see lib/hosts.c), so the fields are
 * plain numbers whatever the table keeps. */

struct ta_service {
  uint16_t port;
  uint64_t by_scenario[TA_SC_COUNT];
  const struct ta_svc_latency *lat; /* NULL until a connection measured one;
                                       the table's, valid until it is freed */
};

/* Bits of the linear-counting sketches for distinct peers and targets:
 * exact-ish (<2% error) up to a few hundred, then a lower bound. */
#define TA_HOST_SKETCH_BITS 512

struct ta_host_role {
  uint64_t connections;
  uint64_t by_scenario[TA_SC_COUNT];
  uint64_t distinct_peers;   /* estimates: distinct peer hosts */
  uint64_t distinct_targets; /* and distinct peer+port */
};

struct ta_host {
  uint8_t family;
  uint8_t ip[16];
  bool scan_suspect;
  int64_t first_ts, last_ts;
  struct ta_host_role as_orig;
  struct ta_host_role as_resp; /* all zero when it never answered */
  uint64_t failed_attempts;    /* unanswered + refused as originator */
  uint32_t n_services;
  const struct ta_service *services; /* by port; valid during the call */
  uint64_t services_overflow;  /* connections to ports past the cap */
  struct ta_fp_host os;        /* its SYNs and SYN/ACKs, for os_guess */
};

static inline const struct ta_host_role *
ta_host_as_resp(const struct ta_host *h) {
  return &h->as_resp;
}
static inline uint32_t ta_host_n_services(const struct ta_host *h) {
  return h->n_services;
}
/* Its services, ta_host_n_services of them (NULL when none). */
static inline const struct ta_service *
ta_host_services(const struct ta_host *h) {
  return h->n_services ? h->services : NULL;
}
static inline uint64_t ta_host_services_overflow(const struct ta_host *h) {
  return h->services_overflow;
}

/* Distinct values counted by a role sketch with set of its bits set. */
uint64_t ta_host_sketch_estimate(unsigned set);

struct ta_hosts;

/* New empty aggregate table holding at most max_hosts; NULL on ENOMEM.
 * It grows with the hosts it holds. */
struct ta_hosts *ta_hosts_new(uint32_t max_hosts, uint64_t seed);
/* Counts a finalized connection for both of its hosts. Cannot fail: when
 * the table is full (or memory runs out) the connection is counted in the
 * overflow figures. Counters are kept in 16 bits (a service's in 8) until
 * one would pass 65535 (255), then in 64 (should that memory not be had,
 * they stay at 65535 (255)).
 * c is read during the call only; the count itself may wait for a few
 * later calls (so that the table's memory is fetched ahead): the readers
 * below (each, count, overflow) count what waits first, and
 * ta_hosts_free drops it. */
void ta_hosts_add(struct ta_hosts *t, const struct ta_conn *c);
/* Counts every connection still waiting (the readers do it themselves). */
void ta_hosts_flush(struct ta_hosts *t);
/* Threshold of failed attempts and distinct targets to flag a scanner;
 * applied when the hosts are read (ta_hosts_each). */
void ta_hosts_set_scan_threshold(struct ta_hosts *t, uint64_t failed,
                                 uint64_t targets);
/* Calls fn for each host, in address order, with its figures; the host
 * given is fn's only for the call (pointers in it stay valid longer where
 * their comments say so). */
void ta_hosts_each(struct ta_hosts *t, void (*fn)(void *, const struct ta_host *),
                   void *ctx);
uint64_t ta_hosts_count(struct ta_hosts *t);
/* Connections whose host did not fit in the table. */
uint64_t ta_hosts_overflow(struct ta_hosts *t);
/* Thresholds in force (for the report). */
void ta_hosts_scan_threshold(const struct ta_hosts *t, uint64_t *failed,
                             uint64_t *targets);
void ta_hosts_free(struct ta_hosts *t);

#endif
