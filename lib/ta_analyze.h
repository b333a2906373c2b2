/* tcpaudit - pipeline: one call from capture files to a written report.
 * Drives reader -> decode -> flow table -> tracker -> hosts -> reporter,
 * merging several inputs in timestamp order. The command is a thin shell
 * over this; tests and fuzzers call it directly. */
#ifndef TA_ANALYZE_H
#define TA_ANALYZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ta_report.h"

/* An address range for --host: family 4 or 6, prefix length in bits. */
struct ta_cidr {
  uint8_t family;
  uint8_t prefix;
  uint8_t ip[16];
};

/* Parses "10.0.0.1", "10.0.0.0/8" or "2001:db8::/32"; returns 0 or TA_EINVAL. */
int ta_cidr_parse(const char *text, struct ta_cidr *out);

struct ta_progress {
  uint64_t packets;
  uint64_t bytes_read;  /* compressed bytes consumed over all inputs */
  uint64_t bytes_total; /* sum of input sizes, 0 if unknown (stdin) */
  uint64_t connections;
};

struct ta_config {
  const char *const *inputs; /* paths, "-" for standard input */
  size_t n_inputs;
  const char *filter;        /* BPF expression or NULL */
  const struct ta_cidr *hosts; /* keep only packets involving these */
  size_t n_hosts;
  uint32_t max_conns;        /* 0: TA_DEFAULT_MAX_CONNS */
  uint32_t max_hosts;        /* 0: TA_DEFAULT_MAX_HOSTS */
  int64_t idle_timeout_ns;   /* 0: TA_DEFAULT_IDLE_TIMEOUT_S */
  int64_t linger_ns;         /* 0: TA_DEFAULT_CLOSED_LINGER_S */
  int64_t attempt_timeout_ns; /* 0: TA_DEFAULT_ATTEMPT_TIMEOUT_S */
  uint64_t seed;             /* hash seed, 0: random per run */
  unsigned threads;          /* threads tracking connections, the reading
                                one among them (at most TA_MAX_THREADS); 0
                                or 1: all in the reading thread. The report
                                is the same either way unless the table
                                fills up and evicts: the cap is shared out
                                between the threads */
  bool verify_checksums;     /* check IPv4 header, TCP and tunnel UDP
                                checksums; off by default because captures
                                taken on the sending host carry offloaded,
                                not yet computed, checksums */
  const struct ta_reporter *reporter;
  struct ta_sink *out;
  struct ta_report_opts report;
  void (*progress)(void *ctx, const struct ta_progress *p);
  void *progress_ctx;
};

struct ta_result {
  struct ta_input_info *inputs; /* n_inputs entries */
  size_t n_inputs;
  struct ta_counters packets;
  struct ta_flow_stats flows;
  char **warnings;
  size_t n_warnings;
  uint64_t warnings_dropped;
  size_t inputs_failed;  /* could not be opened at all */
  bool damaged;          /* some input was cut short or corrupt */
  bool report_written;
};

/* Runs the whole analysis. Returns 0 when a report was written (check
 * res->damaged), TA_EIO/TA_EFORMAT/TA_ETRUNC when no input could be read
 * (nothing written), TA_EFILTER for a bad filter, TA_EWRITE, TA_ENOMEM.
 * res is always filled and must be released with ta_result_free(). */
int ta_analyze(const struct ta_config *cfg, struct ta_result *res, char *err,
               size_t errlen);
void ta_result_free(struct ta_result *res);

#endif
