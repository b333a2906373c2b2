/* tcpaudit - fuzz: the whole pipeline, capture bytes to every report format.
 * The bytes become a memfd read through "/proc/self/fd/N", so the real
 * reader (compression, pcap, pcapng) sees them. Each reporter writes to a
 * memory sink. Beyond crashes it checks that nothing is silently lost:
 * the packet counters add up, and every connection created is reported
 * exactly once, before any host; the JSON report must parse. The last
 * byte's low bit turns checksum verification on. */
#define _GNU_SOURCE /* memfd_create */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ta_analyze.h"
#include "ta_sink.h"

#define FUZZ_MAX_CONNS 4 /* small, so that evictions happen */
#define FUZZ_MAX_HOSTS 8 /* small, so that the host table overflows */

/* A reporter that forwards to the one under test and counts what it sees. */
static const struct ta_reporter *inner;
static struct {
  void *state;
  uint64_t conns, hosts;
  uint64_t *ids;
  size_t n_ids, cap_ids;
  int late_conn; /* a connection came after a host */
} seen;

static int wrap_open(void **state, struct ta_sink *out,
                     const struct ta_report_opts *o) {
  *state = &seen;
  return inner->open(&seen.state, out, o);
}

static void wrap_conn(void *state, const struct ta_conn *c) {
  (void)state;
  if (seen.hosts)
    seen.late_conn = 1;
  if (seen.n_ids == seen.cap_ids) {
    seen.cap_ids = seen.cap_ids ? seen.cap_ids * 2 : 64;
    seen.ids = realloc(seen.ids, seen.cap_ids * sizeof *seen.ids);
    if (!seen.ids)
      abort();
  }
  seen.ids[seen.n_ids++] = c->id;
  seen.conns++;
  inner->on_connection(seen.state, c);
}

static void wrap_host(void *state, const struct ta_host *h) {
  (void)state;
  seen.hosts++;
  inner->on_host(seen.state, h);
}

static int wrap_close(void *state, const struct ta_summary *s) {
  (void)state;
  return inner->close(seen.state, s);
}

/* on_host is set per inner format: NULL where it takes no hosts. */
static struct ta_reporter wrapper = {
    .name = "fuzz", .help = "counts, then forwards", .open = wrap_open,
    .on_connection = wrap_conn, .close = wrap_close};

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void check_result(const struct ta_result *res) {
  const struct ta_counters *k = &res->packets;
  uint64_t sum = 0, in = 0;
  for (int d = 0; d < TA_DISP_COUNT; d++)
    sum += k->by_disposition[d];
  for (size_t i = 0; i < res->n_inputs; i++)
    in += res->inputs[i].packets;
  if (sum != k->total || in != k->total)
    abort();
  uint64_t mal = 0;
  for (int m = 0; m < TA_MAL_COUNT; m++)
    mal += k->by_malformed[m];
  if (mal != k->by_disposition[TA_DISP_MALFORMED])
    abort();
  if (seen.conns != res->flows.connections || seen.late_conn)
    abort();
  if (seen.n_ids)
    qsort(seen.ids, seen.n_ids, sizeof *seen.ids, cmp_u64);
  for (size_t i = 1; i < seen.n_ids; i++)
    if (seen.ids[i] == seen.ids[i - 1])
      abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int fd = -1;
  static char path[64];
  if (fd < 0) {
    fd = memfd_create("capture", MFD_CLOEXEC);
    if (fd < 0)
      abort();
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  }
  if (ftruncate(fd, 0) != 0 ||
      (size && pwrite(fd, data, size, 0) != (ssize_t)size))
    abort();

  const struct ta_reporter *const *all = ta_reporter_all();
  for (size_t r = 0; all[r]; r++) {
    inner = all[r];
    wrapper.on_host = inner->on_host ? wrap_host : NULL;
    free(seen.ids);
    memset(&seen, 0, sizeof seen);
    struct ta_sink sink;
    ta_sink_init_mem(&sink);
    const char *inputs[] = {path};
    struct ta_config cfg = {.inputs = inputs, .n_inputs = 1,
                            .max_conns = FUZZ_MAX_CONNS,
                            .max_hosts = FUZZ_MAX_HOSTS, .seed = 1,
                            .verify_checksums = size && (data[size - 1] & 1),
                            .reporter = &wrapper, .out = &sink};
    struct ta_result res;
    char err[256];
    int rc = ta_analyze(&cfg, &res, err, sizeof err);
    if (rc == 0) {
      if (!res.report_written)
        abort();
      check_result(&res);
      if (strcmp(inner->name, "json") == 0) {
        size_t len;
        const char *out = ta_sink_mem(&sink, &len);
        json_error_t jerr;
        json_t *doc = json_loadb(out, len, 0, &jerr);
        if (!doc) {
          fprintf(stderr, "invalid JSON report: %s at %d\n", jerr.text,
                  jerr.position);
          abort();
        }
        json_decref(doc);
      }
    }
    ta_result_free(&res);
    ta_sink_close(&sink);
  }
  free(seen.ids);
  memset(&seen, 0, sizeof seen);
  return 0;
}
