/* tcpaudit - tests: adversarial floods, CI-sized.
 * A SYN flood from 200000 spoofed sources (written by tcpaudit-flood)
 * through the command with --max-connections 1000: memory stays bounded,
 * every connection is reported once, evictions are counted, and the host
 * report still names the target. And tuples crafted to collide in one
 * flow table do not collide in another seeded differently. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ta_flow.h"
#include "ta_test_util.h"

#define SOURCES 200000
#define MAX_CONNS "1000"
#define MAX_HOSTS "1000"
#define TARGET "203.0.113.80"
/* Peak RSS allowed for the CI-sized flood (normal build). The table holds
 * 1000 records (lone SYNs, under 200 B each; a connection's would be about
 * 1.5 KB), allocated 1024 at a time, and 1000 hosts; libpcap, zstd/zlib
 * buffers and the output buffer add a few MB.
 * Sanitizer builds are not held to it: ASan's shadow and quarantine. */
#define FLOOD_RSS_MAX_KB (32 * 1024)

#if defined(__SANITIZE_ADDRESS__)
#define TA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TA_ASAN 1
#endif
#endif

struct flood_run {
  int rc;
  long maxrss_kb;
  uint64_t conn_lines, evicted_lines, dup_ids, max_id;
  json_t *tail; /* everything after "connections", as one object */
  char *err;
};

/* Counts the one-line connection objects, checks their ids are distinct
 * (a bitmap by id), and keeps the rest of the report for parsing. */
static void read_report(FILE *in, struct flood_run *r) {
  size_t cap = (size_t)SOURCES * 2 + 64;
  uint8_t *seen = calloc(cap / 8 + 1, 1);
  assert_non_null(seen);
  char *line = NULL, *tail = NULL;
  size_t n = 0, tail_len = 0;
  ssize_t len;
  bool in_tail = false;
  while ((len = getline(&line, &n, in)) > 0) {
    if (!in_tail && strncmp(line, "  \"hosts\":", 10) == 0) {
      in_tail = true;
      tail = malloc(2);
      assert_non_null(tail);
      tail[0] = '{';
      tail_len = 1;
    }
    if (in_tail) {
      tail = realloc(tail, tail_len + (size_t)len + 1);
      assert_non_null(tail);
      memcpy(tail + tail_len, line, (size_t)len);
      tail_len += (size_t)len;
      tail[tail_len] = 0;
      continue;
    }
    const char *id = strncmp(line, "    {", 5) == 0 ? strstr(line, "{\"id\":")
                                                    : NULL;
    if (!id)
      continue;
    uint64_t v = strtoull(id + 6, NULL, 10);
    r->conn_lines++;
    if (v > r->max_id)
      r->max_id = v;
    if (v < cap) {
      if (seen[v / 8] & (1u << (v % 8)))
        r->dup_ids++;
      seen[v / 8] |= (uint8_t)(1u << (v % 8));
    }
    if (strstr(line, "\"end_reason\":\"evicted\""))
      r->evicted_lines++;
  }
  free(line);
  free(seen);
  json_error_t jerr;
  r->tail = tail ? json_loads(tail, 0, &jerr) : NULL;
  if (tail && !r->tail)
    print_error("report tail is not JSON: %s\n", jerr.text);
  free(tail);
}

/* tcpaudit-flood | tcpaudit report -, reading the report as it streams. */
static struct flood_run run_flood(void) {
  struct flood_run r = {0};
  int gen[2], out[2];
  assert_int_equal(pipe(gen), 0);
  assert_int_equal(pipe(out), 0);
  char *errpath = tt_tmpfile(".err");
  pid_t g = fork();
  assert_true(g >= 0);
  if (g == 0) {
    dup2(gen[1], 1);
    close(gen[0]);
    close(gen[1]);
    close(out[0]);
    close(out[1]);
    execl(TA_FLOOD, "tcpaudit-flood", "-n", "200000", "-t", TARGET, (char *)0);
    _exit(127);
  }
  pid_t t = fork();
  assert_true(t >= 0);
  if (t == 0) {
    int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(gen[0], 0);
    dup2(out[1], 1);
    dup2(fd, 2);
    close(gen[0]);
    close(gen[1]);
    close(out[0]);
    close(out[1]);
    execl(TA_BINARY, "tcpaudit", "report", "--no-progress", "-f", "json",
          "--max-connections", MAX_CONNS, "--max-hosts", MAX_HOSTS, "-",
          (char *)0);
    _exit(127);
  }
  close(gen[0]);
  close(gen[1]);
  close(out[1]);
  FILE *in = fdopen(out[0], "r");
  assert_non_null(in);
  read_report(in, &r);
  fclose(in);
  int st;
  struct rusage ru;
  assert_int_equal(wait4(t, &st, 0, &ru), t);
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
  r.maxrss_kb = ru.ru_maxrss;
  assert_int_equal(waitpid(g, &st, 0), g);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  r.err = tt_slurp(errpath, NULL);
  unlink(errpath);
  free(errpath);
  return r;
}

static json_int_t num(json_t *obj, const char *key) {
  json_t *v = json_object_get(obj, key);
  assert_true(json_is_integer(v));
  return json_integer_value(v);
}

static void test_flood_syn_flood_bounded_and_accounted(void **state) {
  (void)state;
  struct flood_run r = run_flood();
  print_message("flood: %d sources, exit %d, peak RSS %ld KB, %llu "
                "connections, %llu evicted\n", SOURCES, r.rc, r.maxrss_kb,
                (unsigned long long)r.conn_lines,
                (unsigned long long)r.evicted_lines);
  assert_int_equal(r.rc, 0);
  assert_non_null(r.tail);
#ifndef TA_ASAN
  assert_true(r.maxrss_kb < FLOOD_RSS_MAX_KB);
#endif

  /* every packet accounted for: 3 + 200000 + 5 TCP packets */
  json_t *k = json_object_get(r.tail, "packets");
  assert_int_equal(num(k, "total"), SOURCES + 8);
  assert_int_equal(num(k, "tcp"), SOURCES + 8);

  /* every connection reported once; the table never held more than its cap */
  json_t *flows = json_object_get(r.tail, "flows");
  json_int_t conns = num(flows, "connections");
  assert_true(conns >= SOURCES + 1);
  assert_int_equal(r.conn_lines, conns);
  assert_true((json_int_t)r.max_id <= num(k, "total")); /* frame numbers */
  assert_int_equal(r.dup_ids, 0);
  assert_true(num(flows, "peak_open") <= 1000);
  assert_int_equal(num(flows, "max_open"), 1000);
  assert_true(num(flows, "evicted") >= SOURCES - 1000);
  assert_int_equal(num(flows, "evicted"), r.evicted_lines);
  assert_true(num(flows, "hosts_overflow") > 0);
  assert_non_null(strstr(r.err, "connection table full"));
  assert_non_null(strstr(r.err, "host table full"));

  /* the target is in the host report, as the responder of every one */
  json_t *target = NULL, *h;
  size_t i;
  json_array_foreach(json_object_get(r.tail, "hosts"), i, h)
    if (strcmp(json_string_value(json_object_get(h, "ip")), TARGET) == 0)
      target = h;
  assert_non_null(target);
  json_t *resp = json_object_get(target, "as_responder");
  assert_int_equal(num(resp, "connections"), conns);
  assert_true(num(json_object_get(resp, "by_scenario"), "unanswered") >=
              SOURCES - 1);
  json_decref(r.tail);
  free(r.err);
}

/* ---- the flow table's hash is seeded ---- */

static void count_emit(void *ctx, const struct ta_conn *c) {
  (void)c;
  ++*(uint64_t *)ctx;
}

static struct ta_packet syn_from(uint32_t i) {
  struct ta_packet p;
  memset(&p, 0, sizeof p);
  p.family = 4;
  p.disposition = TA_DISP_TCP;
  p.src[0] = 10;
  p.src[1] = (uint8_t)(i >> 16);
  p.src[2] = (uint8_t)(i >> 8);
  p.src[3] = (uint8_t)i;
  static const uint8_t dst[4] = {203, 0, 113, 80};
  memcpy(p.dst, dst, 4);
  p.sport = (uint16_t)(1024 + i % 60000);
  p.dport = 80;
  p.seq = i * 2654435761u;
  p.flags = TA_TCP_SYN;
  p.window = 64240;
  p.tcp_hlen = 20;
  p.ip_len = 40;
  p.ts_ns = 1700000000LL * 1000000000LL + (int64_t)i * 1000;
  return p;
}

static struct ta_flow_table *table(uint64_t seed, uint64_t *emitted) {
  struct ta_flow_config cfg = {.max_conns = 4096,
                               .idle_timeout_ns = 300 * 1000000000LL,
                               .linger_ns = 10 * 1000000000LL,
                               .seed = seed};
  struct ta_flow_table *t = ta_flow_table_new(&cfg, count_emit, emitted);
  assert_non_null(t);
  return t;
}

#define CRAFTED 512 /* tuples made to share one bucket under a known seed */

static void test_flood_hash_collisions_do_not_carry_over(void **state) {
  (void)state;
  uint64_t emitted = 0;
  /* An attacker who knows the seed picks tuples of one bucket. */
  struct ta_flow_table *known = table(0x5eed, &emitted);
  static struct ta_packet crafted[CRAFTED];
  size_t n = 0;
  for (uint32_t i = 0; n < CRAFTED && i < (1u << 24); i++) {
    struct ta_packet p = syn_from(i);
    if (ta_flow_table_bucket(known, &p) == 0)
      crafted[n++] = p;
  }
  assert_int_equal(n, CRAFTED);
  for (size_t i = 0; i < n; i++)
    ta_flow_table_packet(known, &crafted[i]);
  /* with the seed known, it works: one chain holds them all */
  assert_int_equal(ta_flow_table_longest_chain(known), CRAFTED);

  /* the same capture read by a run with another seed, fixed or random */
  uint64_t seeds[] = {0x5eee, 0};
  for (size_t s = 0; s < 2; s++) {
    struct ta_flow_table *t = table(seeds[s], &emitted);
    for (size_t i = 0; i < n; i++)
      ta_flow_table_packet(t, &crafted[i]);
    uint32_t longest = ta_flow_table_longest_chain(t);
    print_message("seed %#llx: longest chain %u of %d crafted tuples\n",
                  (unsigned long long)seeds[s], longest, CRAFTED);
    /* 512 tuples in 8192 buckets: a chain of 8 has odds below 1e-7 */
    assert_true(longest < 8);
    assert_int_equal(ta_flow_table_open(t), CRAFTED);
    ta_flow_table_flush(t);
    ta_flow_table_free(t);
  }
  ta_flow_table_flush(known);
  ta_flow_table_free(known);
  assert_int_equal(emitted, 3 * CRAFTED);
}

/* Seed 0 means a new random seed for each table (each run). */
static void test_flood_seed_zero_is_random_per_table(void **state) {
  (void)state;
  uint64_t emitted = 0;
  struct ta_flow_table *a = table(0, &emitted), *b = table(0, &emitted);
  int same = 0;
  for (uint32_t i = 0; i < 64; i++) {
    struct ta_packet p = syn_from(i);
    same += ta_flow_table_bucket(a, &p) == ta_flow_table_bucket(b, &p);
  }
  /* 64 tuples in 8192 buckets: more than 4 alike would be astonishing */
  assert_true(same < 4);
  ta_flow_table_free(a);
  ta_flow_table_free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_flood_syn_flood_bounded_and_accounted),
      cmocka_unit_test(test_flood_hash_collisions_do_not_carry_over),
      cmocka_unit_test(test_flood_seed_zero_is_random_per_table),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
