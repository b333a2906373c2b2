/* tcpaudit - reporters: the plug-in interface every output format implements.
 * A reporter sees connections as they are finalized, then hosts, then the
 * capture summary; it reads only public records and writes to a ta_sink. */
#ifndef TA_REPORT_H
#define TA_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "ta_conn.h"
#include "ta_hosts.h"
#include "ta_limits.h"
#include "ta_packet.h"
#include "ta_sink.h"

/* What one input file turned out to be. */
struct ta_input_info {
  const char *path;       /* as given ("-" for standard input) */
  char format[8];         /* "pcap", "pcapng", "" when unreadable */
  char compression[8];    /* "none", "gzip", "zstd" */
  uint32_t linktypes[8];  /* distinct link types seen, in order */
  uint8_t n_linktypes;
  uint32_t snaplen;       /* largest snaplen declared */
  int ts_precision;       /* 6 or 9 digits */
  uint64_t packets, bytes; /* records read, captured bytes */
  int64_t first_ts, last_ts;
  uint64_t ts_backwards;  /* records older than the one before them */
  uint64_t oversized;     /* records claiming more bytes than the snaplen:
                             damage that does not stop reading */
  uint64_t undeclared_iface; /* pcapng records naming an interface never
                                declared: damage that does not stop reading */
  uint64_t unknown_blocks;   /* pcapng blocks of unknown type, skipped (the
                                format allows them) */
  int error;              /* 0, or TA_E* that stopped reading this file */
  char error_msg[256];
  /* pcapng text as the file gives it: untrusted (reporters must escape
   * it), cut to TA_MAX_PCAPNG_TEXT - 1 bytes, "" when absent. */
  char section_comment[TA_MAX_PCAPNG_TEXT]; /* first section's comment */
  struct ta_iface_text {
    char name[TA_MAX_PCAPNG_TEXT];        /* if_name */
    char description[TA_MAX_PCAPNG_TEXT]; /* if_description */
  } ifaces[TA_MAX_INPUT_IFACES];          /* in the order declared */
  uint8_t n_ifaces;
  uint32_t ifaces_more;   /* interfaces declared past TA_MAX_INPUT_IFACES */
};

/* Counters over all inputs. by_disposition sums to total. */
struct ta_counters {
  uint64_t total;
  uint64_t by_disposition[TA_DISP_COUNT];
  uint64_t by_malformed[TA_MAL_COUNT];
  uint64_t ipv4, ipv6, snaplen_truncated, vlan_tagged;
  uint64_t unsupported_linktypes[8][2]; /* {linktype, packets} */
  uint8_t n_unsupported_linktypes;
  uint64_t ts_backwards;
  /* Not part of the partition above: */
  bool checksums_verified;  /* --verify-checksums was on */
  uint64_t bad_checksum;    /* frames with a wrong IPv4, TCP or tunnel UDP
                               checksum (bad TCP ones are still tcp) */
  uint64_t encapsulated;    /* frames whose IP packet was inside MPLS,
                               PPPoE or an IP-in-UDP tunnel */
};

struct ta_flow_stats {
  uint64_t connections;   /* records created (and reported) */
  uint64_t evicted;       /* handed on early because the table was full */
  uint64_t idle_timeouts;
  uint64_t peak_open;     /* most connections held at once */
  uint64_t max_open;      /* the cap in force */
  uint64_t by_scenario[TA_SC_COUNT];
  uint64_t by_conn_state[TA_CS_COUNT];
};

struct ta_summary {
  const struct ta_input_info *inputs;
  size_t n_inputs;
  const struct ta_counters *packets;
  const struct ta_flow_stats *flows;
  const char *const *warnings;
  size_t n_warnings;
  uint64_t warnings_dropped;
  const char *filter;      /* BPF expression or NULL */
  int ts_precision;        /* 6 or 9: digits for every time in the report */
  bool damaged;            /* some input was truncated or corrupt */
  struct ta_hosts *hosts;  /* for thresholds and overflow figures */
};

/* Connections embedded in an HTML page when the options say 0: enough for
 * any investigation by eye, small enough (a few MB) to open quickly. */
#define TA_HTML_DEFAULT_MAX_CONNECTIONS 5000u

/* Options a reporter may look at (set by the command). */
struct ta_report_opts {
  int ts_precision;        /* digits after the second; 6 or 9 */
  uint16_t community_id_seed;
  uint32_t html_max_connections; /* cap of embedded connections; 0: the
                                    default TA_HTML_DEFAULT_MAX_CONNECTIONS */
};

struct ta_reporter {
  const char *name;
  const char *help;
  /* Allocates state; returns 0 or TA_E*. */
  int (*open)(void **state, struct ta_sink *out, const struct ta_report_opts *o);
  /* A finalized connection. Called in finalization order. */
  void (*on_connection)(void *state, const struct ta_conn *c);
  /* A host aggregate; all calls come after the last connection. NULL for
   * a format that reports no hosts (its close reads no s->hosts): the
   * pipeline then aggregates none, which would cost more per connection
   * than some formats' writing of it. */
  void (*on_host)(void *state, const struct ta_host *h);
  /* Writes the trailer and frees state; returns 0 or TA_E*. */
  int (*close)(void *state, const struct ta_summary *s);
  /* Optional pair, for formats whose text for a connection depends on the
   * record and the options alone: format_connection appends that text to a
   * memory sink and touches no state but scratch, so several threads may
   * format at once, each with its own scratch: format_scratch_size zeroed
   * bytes that only speed the formatting up (what was formatted before)
   * and are kept from one call to the next. on_formatted then writes the
   * text, in order, in place of on_connection, with the same result. NULL
   * when the format keeps state per connection. */
  void (*format_connection)(const struct ta_report_opts *o,
                            const struct ta_conn *c, struct ta_sink *mem,
                            void *scratch);
  size_t format_scratch_size;
  void (*on_formatted)(void *state, const struct ta_conn *c, const char *text,
                       size_t len);
  /* Optional: every connection finalized so far has been handed over (the
   * pipeline calls it after each packet that finalized some, or each batch
   * of packets with threads); a streaming format makes them visible to a
   * reader of its output now. */
  void (*flush)(void *state);
};

/* Ranked lists for reporters ("the 10 slowest services"): makes room for an
 * item ranked `key` in items[0..*n), kept in descending order of the
 * int64_t at key_off in each item of size `size`, at most cap of them.
 * Returns its index, with those below moved down (the last falls off when
 * full), or cap when it ranks below a full list. Adds one to *dropped for
 * each item that falls off or is not taken. Cannot fail. */
size_t ta__rank_insert(void *items, size_t size, size_t key_off, size_t *n,
                       size_t cap, int64_t key, uint64_t *dropped);

/* First and last packet time over all inputs; false when no packet was
 * read (then *first and *last are 0). Cannot fail. */
bool ta_summary_time_span(const struct ta_summary *s, int64_t *first,
                          int64_t *last);

/* The reporter with that name, or NULL. */
const struct ta_reporter *ta_reporter_find(const char *name);
/* NULL-terminated table of all reporters (for --help). */
const struct ta_reporter *const *ta_reporter_all(void);

#endif
