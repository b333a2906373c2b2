/* tcpaudit - tests: helpers shared by the test programs.
 * Builds real packet bytes (IPv4/IPv6 + TCP, with link headers) and classic
 * pcap files, so tests exercise the same decoder the command uses. */
#ifndef TA_TEST_UTIL_H
#define TA_TEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* A TCP segment to build. Addresses are text ("192.168.2.10", "::1"). */
struct tt_seg {
  const char *src, *dst;
  uint16_t sport, dport;
  uint32_t seq, ack;
  uint8_t flags;          /* TA_TCP_* */
  uint16_t win;
  const uint8_t *opts;    /* raw option bytes, padded by the caller */
  size_t optlen;
  uint32_t payload_len;   /* payload bytes (filled with 'x') */
  uint8_t ttl;            /* 0 means 64 */
  bool df;
  uint16_t ip_id;
};

/* Writes an IP packet (v4 or v6 from the address text) into buf; returns its
 * length, or 0 if it does not fit. */
size_t tt_build_ip(uint8_t *buf, size_t cap, const struct tt_seg *s);
/* Same, behind a 14-byte Ethernet header. */
size_t tt_build_eth(uint8_t *buf, size_t cap, const struct tt_seg *s);

/* Time helper: "20:06:32.845356" on 2002-01-01 UTC -> ns since the epoch. */
int64_t tt_clock_ns(const char *hms);

/* Classic pcap writer (microsecond, LINKTYPE given). */
FILE *tt_pcap_create(const char *path, uint32_t linktype, uint32_t snaplen);
void tt_pcap_write(FILE *f, int64_t ts_ns, const uint8_t *data, uint32_t caplen,
                   uint32_t wirelen);

/* Writes a pcapng file whose section comment and interface name and
 * description are the given (possibly hostile) text, holding a refused
 * attempt (SYN, RST/ACK). Returns false if the file cannot be written. */
bool tt_write_pcapng_refused(const char *path, const char *comment,
                             const char *if_name, const char *if_desc);

struct ta_config;
/* Runs the library with the reporter named fmt on base's inputs and options
 * into memory; *rc gets ta_analyze()'s result. Returns the output (caller
 * frees), or NULL when no reporter has that name. */
char *tt_report(const struct ta_config *base, const char *fmt, int *rc);

/* Path of a fresh temporary file (caller frees). */
char *tt_tmpfile(const char *suffix);
/* Reads a whole file into a NUL-terminated malloc'd buffer. */
char *tt_slurp(const char *path, size_t *len);
/* True when the directory exists (to skip tests that need ../shared). */
bool tt_dir_exists(const char *path);
/* Paths of the capture files (pcap, pcapng, gzip or zstd by their magic)
 * under dir, sorted, at most max; each malloc'd. Returns how many. */
size_t tt_find_captures(const char *dir, char **paths, size_t max);
void tt_captures_free(char **paths, size_t n);

/* Runs the tcpaudit binary with args (a shell command tail); captures stdout
 * into *out (malloc'd) and stderr into *err; returns the exit code. */
int tt_run_cli(const char *args, char **out, char **err);

/* SYN option layouts that differ little: alike but for a last kind, for a
 * trailing EOL (the same bytes, one longer), or for a kind past the
 * eighth. Memo keys and evidence matching must tell each of them apart. */
#define TT_VARIED_LAYOUTS 8
struct ta_tcp_options;
/* Sets o's layout (n_layout and layout[]) to the i-th of them. */
void tt_varied_layout(struct ta_tcp_options *o, unsigned i);

#endif
