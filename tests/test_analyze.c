/* tcpaudit - tests: the whole pipeline on real kernel captures.
 * testdata/kernel-expected.json holds facts measured from each capture
 * (scenario, SYN count and retry intervals, who closed first, bytes); the
 * pipeline must find the same connections with the same story. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ta_analyze.h"
#include "ta_packet.h"
#include "ta_test_util.h"

#define TD(name) TA_TESTDATA "/" name

static json_t *analyze(const char *const *paths, size_t n,
                       const struct ta_cidr *hosts, size_t n_hosts) {
  struct ta_sink sink;
  ta_sink_init_mem(&sink);
  struct ta_config cfg = {.inputs = paths, .n_inputs = n, .hosts = hosts,
                          .n_hosts = n_hosts,
                          .reporter = ta_reporter_find("json"), .out = &sink};
  struct ta_result res;
  char err[256];
  int rc = ta_analyze(&cfg, &res, err, sizeof err);
  if (rc != 0 || res.damaged)
    fail_msg("%s: rc %d damaged %d: %s", paths[0], rc, res.damaged, err);
  json_t *doc = json_loads(ta_sink_mem(&sink, NULL), 0, NULL);
  assert_non_null(doc);
  ta_result_free(&res);
  ta_sink_close(&sink);
  return doc;
}

/* "2026-11-26T08:36:45.840893Z" -> seconds since the epoch. */
static double rfc3339_seconds(const char *ts) {
  struct tm tm = {0};
  if (sscanf(ts, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
             &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
    return -1;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  const char *dot = strchr(ts, '.');
  return (double)timegm(&tm) + (dot ? atof(dot) : 0.0);
}

static json_t *find_conn(json_t *doc, const char *cip, json_int_t cport,
                         json_int_t sport, double first_ts) {
  size_t i;
  json_t *c;
  json_array_foreach(json_object_get(doc, "connections"), i, c) {
    json_t *o = json_object_get(c, "orig"), *r = json_object_get(c, "resp");
    if (strcmp(json_string_value(json_object_get(o, "ip")), cip) != 0 ||
        json_integer_value(json_object_get(o, "port")) != cport ||
        json_integer_value(json_object_get(r, "port")) != sport)
      continue;
    /* several attempts can share a tuple: match on the first packet time */
    if (fabs(rfc3339_seconds(json_string_value(json_object_get(c, "first_ts"))) -
             first_ts) < 1e-6)
      return c;
  }
  return NULL;
}

static json_int_t side_int(json_t *c, const char *side, const char *k) {
  return json_integer_value(json_object_get(json_object_get(c, side), k));
}

/* Compares one expected connection with what the pipeline reported. */
static void check_conn(const char *file, json_t *doc, json_t *want) {
  const char *cip = json_string_value(json_object_get(want, "client_ip"));
  json_int_t cport = json_integer_value(json_object_get(want, "client_port"));
  json_int_t sport = json_integer_value(json_object_get(want, "server_port"));
  double first = atof(json_string_value(json_object_get(want, "first_ts")));
  json_t *c = find_conn(doc, cip, cport, sport, first);
  if (!c)
    fail_msg("%s: no connection %s:%lld -> :%lld", file, cip, (long long)cport,
             (long long)sport);
  const char *sc = json_string_value(json_object_get(c, "scenario"));
  const char *want_sc = json_string_value(json_object_get(want, "scenario"));
  if (strcmp(sc, want_sc) != 0)
    fail_msg("%s :%lld: scenario %s, expected %s", file, (long long)sport, sc,
             want_sc);
  json_t *syn = json_object_get(c, "syn");
  assert_int_equal(json_integer_value(json_object_get(syn, "count")),
                   json_integer_value(json_object_get(want, "syn_count")));
  json_t *got_iv = json_object_get(syn, "retry_intervals");
  json_t *want_iv = json_object_get(want, "syn_retry_intervals_s");
  assert_int_equal(json_array_size(got_iv), json_array_size(want_iv));
  for (size_t i = 0; i < json_array_size(want_iv); i++)
    assert_true(fabs(json_real_value(json_array_get(got_iv, i)) -
                     json_real_value(json_array_get(want_iv, i))) < 0.010);
  const char *want_ans = json_string_value(json_object_get(want, "answered_by"));
  assert_string_equal(json_string_value(json_object_get(syn, "answered_by")),
                      want_ans ? want_ans : "none");
  /* close is null when no FIN or RST closed the connection */
  json_t *closing = json_object_get(c, "close");
  json_t *want_init = json_object_get(want, "closed_first");
  assert_non_null(closing); /* the key is always there */
  json_t *initiator = json_object_get(closing, "initiator");
  if (json_is_null(want_init))
    assert_true(json_is_null(closing));
  else
    assert_string_equal(json_string_value(initiator),
                        json_string_value(want_init));
  assert_int_equal(side_int(c, "orig", "pkts"),
                   json_integer_value(json_object_get(want, "packets_from_client")));
  assert_int_equal(side_int(c, "resp", "pkts"),
                   json_integer_value(json_object_get(want, "packets_from_server")));
  assert_int_equal(side_int(c, "orig", "payload"),
                   json_integer_value(json_object_get(want, "payload_bytes_from_client")));
  assert_int_equal(side_int(c, "resp", "payload"),
                   json_integer_value(json_object_get(want, "payload_bytes_from_server")));
}

static void check_file(const char *name, json_t *facts) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", TA_TESTDATA, name);
  const char *in[] = {path};
  json_t *doc = analyze(in, 1, NULL, 0);
  json_t *conns = json_object_get(facts, "connections");
  assert_int_equal(json_array_size(json_object_get(doc, "connections")),
                   json_integer_value(json_object_get(facts, "tcp_connections")));
  size_t i;
  json_t *want;
  json_array_foreach(conns, i, want) check_conn(name, doc, want);
  json_decref(doc);
}

static void test_analyze_kernel_captures_match_facts(void **state) {
  (void)state;
  json_error_t jerr;
  json_t *facts = json_load_file(TD("kernel-expected.json"), 0, &jerr);
  assert_non_null(facts);
  const char *name;
  json_t *f;
  size_t checked = 0;
  json_object_foreach(json_object_get(facts, "files"), name, f) {
    if (!strstr(name, ".pcap") || strstr(name, "rotated"))
      continue;
    check_file(name, f);
    checked++;
  }
  assert_true(checked >= 12);
  json_decref(facts);
}

static void test_analyze_rotated_files_are_one_capture(void **state) {
  (void)state;
  json_t *facts = json_load_file(TD("kernel-expected.json"), 0, NULL);
  assert_non_null(facts);
  json_t *merged = json_object_get(facts, "merged");
  assert_non_null(merged);
  json_t *m = json_object_iter_value(json_object_iter(merged));
  const char *in[] = {TD("kernel-rotated-2.pcap"), TD("kernel-rotated-1.pcap")};
  json_t *doc = analyze(in, 2, NULL, 0);
  size_t i;
  json_t *want;
  json_array_foreach(json_object_get(m, "connections"), i, want)
      check_conn("rotated", doc, want);
  json_decref(doc);
  json_decref(facts);
}

static void test_analyze_host_option_narrows(void **state) {
  (void)state;
  struct ta_cidr v6;
  assert_int_equal(ta_cidr_parse("::1", &v6), 0);
  const char *in[] = {TD("sample.pcap")};
  json_t *all = analyze(in, 1, NULL, 0);
  json_t *only = analyze(in, 1, &v6, 1);
  assert_true(json_array_size(json_object_get(all, "connections")) > 1);
  assert_int_equal(json_array_size(json_object_get(only, "connections")), 1);
  json_t *pk = json_object_get(only, "packets");
  assert_true(json_integer_value(json_object_get(pk, "filtered_out")) > 0);
  assert_int_equal(json_array_size(json_object_get(only, "hosts")), 1);
  struct ta_cidr net;
  assert_int_equal(ta_cidr_parse("127.0.0.0/8", &net), 0);
  assert_int_equal(net.prefix, 8);
  assert_int_not_equal(ta_cidr_parse("127.0.0.0/33", &net), 0);
  assert_int_not_equal(ta_cidr_parse("nonsense", &net), 0);
  json_decref(all);
  json_decref(only);
}

struct timed_frame {
  int64_t ts;
  size_t len;
  uint8_t data[128];
};

static int by_time(const void *a, const void *b) {
  int64_t x = ((const struct timed_frame *)a)->ts;
  int64_t y = ((const struct timed_frame *)b)->ts;
  return (x > y) - (x < y);
}

/* Frames split over several inputs, each longer than a batch read at
 * once, one ending halfway: merged by time, the report is the one of the
 * capture they were split from. */
static void test_analyze_inputs_merge_in_batches(void **state) {
  (void)state;
  enum { CONNS = 60, STEPS = 5 };
  static struct timed_frame frames[CONNS * STEPS];
  static const uint8_t flags[STEPS] = {TA_TCP_SYN, TA_TCP_SYN | TA_TCP_ACK,
                                       TA_TCP_ACK, TA_TCP_ACK | TA_TCP_FIN,
                                       TA_TCP_ACK | TA_TCP_FIN};
  size_t total = 0;
  for (uint32_t c = 0; c < CONNS; c++)
    for (uint32_t k = 0; k < STEPS; k++, total++) {
      bool back = k == 1 || k == 4;
      char cli[32];
      snprintf(cli, sizeof cli, "10.0.0.%u", c + 1);
      struct tt_seg s = {.src = back ? "10.9.9.9" : cli,
                         .dst = back ? cli : "10.9.9.9",
                         .sport = back ? 80 : (uint16_t)(20000 + c),
                         .dport = back ? (uint16_t)(20000 + c) : 80,
                         .seq = back ? 5000 : 100, .ack = back ? 101 : 5001,
                         .flags = flags[k], .win = 1000};
      struct timed_frame *t = &frames[total];
      t->len = tt_build_eth(t->data, sizeof t->data, &s);
      /* connections overlap: each starts 1 ms after the last and takes
       * 3 ms a step, so no two frames share a time */
      t->ts = 1700000000000000000LL + (int64_t)c * 1000000 +
              (int64_t)k * 3100000;
    }
  qsort(frames, total, sizeof frames[0], by_time);
  char *paths[4];
  FILE *f[4];
  for (int i = 0; i < 4; i++) {
    paths[i] = tt_tmpfile(".pcap");
    f[i] = tt_pcap_create(paths[i], 1, 65535);
    assert_non_null(f[i]);
  }
  for (size_t i = 0; i < total; i++) {
    const struct timed_frame *t = &frames[i];
    tt_pcap_write(f[3], t->ts, t->data, (uint32_t)t->len, (uint32_t)t->len);
    size_t to = i < total / 2 ? i % 3 : i % 2;
    tt_pcap_write(f[to], t->ts, t->data, (uint32_t)t->len, (uint32_t)t->len);
  }
  for (int i = 0; i < 4; i++)
    fclose(f[i]);
  json_t *split = analyze((const char *const *)paths, 3, NULL, 0);
  json_t *whole = analyze((const char *const *)paths + 3, 1, NULL, 0);
  assert_int_equal(json_array_size(json_object_get(whole, "connections")),
                   CONNS);
  assert_true(json_equal(json_object_get(split, "connections"),
                         json_object_get(whole, "connections")));
  assert_true(json_equal(json_object_get(split, "packets"),
                         json_object_get(whole, "packets")));
  assert_true(json_equal(json_object_get(split, "hosts"),
                         json_object_get(whole, "hosts")));
  json_decref(split);
  json_decref(whole);
  for (int i = 0; i < 4; i++) {
    unlink(paths[i]);
    free(paths[i]);
  }
}

/* Frames of every common kind and a few rare ones, in one input (counted
 * a batch at a time) or dealt over two (counted frame by frame while they
 * merge): the packet counters are the same, with checksums checked or
 * not, and progress is reported once per 65536 frames. */
enum { MIXED_FRAMES = 70000 };

static size_t mixed_frame(uint32_t i, uint8_t *buf, size_t cap,
                          uint32_t *wire) {
  char a[48], b[48];
  bool v6 = i % 7 == 0;
  snprintf(a, sizeof a, v6 ? "2001:db8::%x" : "10.1.%u.%u", (i >> 8) & 255,
           i & 255);
  snprintf(b, sizeof b, v6 ? "2001:db8::1:%x" : "10.2.%u.%u", (i >> 8) & 255,
           i & 255);
  struct tt_seg s = {.src = a, .dst = b, .sport = (uint16_t)(1024 + i % 50000),
                     .dport = 80, .seq = i, .flags = TA_TCP_SYN, .win = 1000,
                     .payload_len = i % 3 == 0 ? 40 : 0};
  size_t n = tt_build_eth(buf, cap, &s);
  *wire = (uint32_t)n;
  switch (i % 11) {
  case 1: /* not IP */
    buf[12] = 0x08, buf[13] = 0x06;
    break;
  case 2: /* cut by the snaplen inside the payload */
    if (n > 60)
      n = 60;
    break;
  case 3: /* too short for its link header */
    n = *wire = 10;
    break;
  case 4: /* behind a VLAN tag */
    memmove(buf + 16, buf + 12, n - 12);
    buf[12] = 0x81, buf[13] = 0x00, buf[14] = 0, buf[15] = 7;
    n += 4;
    *wire = (uint32_t)n;
    break;
  case 5: /* a wrong TCP checksum */
    buf[n - 1] ^= 0x5a;
    break;
  }
  return n;
}

static int progress_calls;
static uint64_t progress_packets;
static void count_progress(void *ctx, const struct ta_progress *p) {
  (void)ctx;
  progress_calls++;
  progress_packets = p->packets;
}

static json_t *mixed_packets(char *const *paths, size_t n, bool verify) {
  struct ta_sink sink;
  ta_sink_init_mem(&sink);
  struct ta_config cfg = {.inputs = (const char *const *)paths,
                          .n_inputs = n, .verify_checksums = verify,
                          .reporter = ta_reporter_find("json"), .out = &sink,
                          .progress = count_progress};
  struct ta_result res;
  char err[256];
  assert_int_equal(ta_analyze(&cfg, &res, err, sizeof err), 0);
  assert_int_equal(res.packets.total, MIXED_FRAMES);
  json_t *doc = json_loads(ta_sink_mem(&sink, NULL), 0, NULL);
  assert_non_null(doc);
  json_t *packets = json_incref(json_object_get(doc, "packets"));
  json_decref(doc);
  ta_result_free(&res);
  ta_sink_close(&sink);
  return packets;
}

static void test_analyze_batch_counts_as_merge(void **state) {
  (void)state;
  char *paths[3];
  FILE *f[3];
  for (int i = 0; i < 3; i++) {
    paths[i] = tt_tmpfile(".pcap");
    f[i] = tt_pcap_create(paths[i], 1, 65535);
    assert_non_null(f[i]);
  }
  for (uint32_t i = 0; i < MIXED_FRAMES; i++) {
    uint8_t buf[256];
    uint32_t wire;
    size_t n = mixed_frame(i, buf, sizeof buf, &wire);
    /* now and then a frame a second early: time goes backwards */
    int64_t ts = 1700000000000000000LL + (int64_t)i * 1000000 -
                 (i % 997 == 5 ? 1000000000LL : 0);
    tt_pcap_write(f[0], ts, buf, (uint32_t)n, wire);
    tt_pcap_write(f[1 + (i & 1)], ts, buf, (uint32_t)n, wire);
  }
  for (int i = 0; i < 3; i++)
    fclose(f[i]);
  for (int verify = 0; verify < 2; verify++) {
    progress_calls = 0;
    json_t *one = mixed_packets(paths, 1, verify);
    assert_int_equal(progress_calls, 1);
    assert_true(progress_packets >= 65536 && progress_packets < 65536 + 64);
    json_t *two = mixed_packets(paths + 1, 2, verify);
    char *a = json_dumps(one, JSON_SORT_KEYS), *b = json_dumps(two, JSON_SORT_KEYS);
    assert_string_equal(a, b);
    free(a);
    free(b);
    json_decref(one);
    json_decref(two);
  }
  for (int i = 0; i < 3; i++) {
    unlink(paths[i]);
    free(paths[i]);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_analyze_kernel_captures_match_facts),
      cmocka_unit_test(test_analyze_rotated_files_are_one_capture),
      cmocka_unit_test(test_analyze_host_option_narrows),
      cmocka_unit_test(test_analyze_inputs_merge_in_batches),
      cmocka_unit_test(test_analyze_batch_counts_as_merge),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
