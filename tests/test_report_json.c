/* tcpaudit - tests: the JSON reporter and the streaming JSON writer. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ta_analyze.h"
#include "ta_conn_json.h"
#include "ta_latency.h"
#include "ta_error.h"
#include "ta_jsonw.h"
#include "ta_test_util.h"

#define TD(name) TA_TESTDATA "/" name

/* Runs the library on paths with the json reporter; returns the parsed doc. */
static json_t *report(const char *const *paths, size_t n, const char *filter,
                      int *rc_out) {
  struct ta_sink sink;
  ta_sink_init_mem(&sink);
  struct ta_config cfg = {.inputs = paths, .n_inputs = n, .filter = filter,
                          .reporter = ta_reporter_find("json"), .out = &sink};
  struct ta_result res;
  char err[256];
  int rc = ta_analyze(&cfg, &res, err, sizeof err);
  if (rc_out)
    *rc_out = rc;
  json_error_t jerr;
  json_t *doc = json_loads(ta_sink_mem(&sink, NULL), 0, &jerr);
  if (rc == 0 && !doc)
    fail_msg("report is not JSON: %s at line %d", jerr.text, jerr.line);
  ta_result_free(&res);
  ta_sink_close(&sink);
  return doc;
}

static json_t *conn_by_port(json_t *doc, int resp_port) {
  size_t i;
  json_t *c;
  json_array_foreach(json_object_get(doc, "connections"), i, c) {
    json_t *resp = json_object_get(c, "resp");
    if (json_integer_value(json_object_get(resp, "port")) == resp_port)
      return c;
  }
  return NULL;
}

static uint64_t counter(json_t *doc, const char *k) {
  return (uint64_t)json_integer_value(
      json_object_get(json_object_get(doc, "packets"), k));
}

static void assert_counters_add_up(json_t *doc) {
  static const char *parts[] = {"tcp", "non_tcp", "non_ip", "fragments",
                                "malformed", "unsupported_linktype",
                                "filtered_out"};
  uint64_t sum = 0;
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
    sum += counter(doc, parts[i]);
  assert_int_equal(sum, counter(doc, "total"));
}

static void test_report_json_completed_capture(void **state) {
  (void)state;
  const char *in[] = {TD("kernel-completed.pcap")};
  json_t *doc = report(in, 1, NULL, NULL);
  assert_string_equal(json_string_value(json_object_get(doc, "schema")),
                      "tcpaudit.report/2");
  assert_int_equal(json_array_size(json_object_get(doc, "connections")), 1);
  json_t *c = conn_by_port(doc, 2323);
  assert_non_null(c);
  json_t *orig = json_object_get(c, "orig"), *resp = json_object_get(c, "resp");
  assert_string_equal(json_string_value(json_object_get(orig, "ip")),
                      "127.0.0.1");
  assert_int_equal(json_integer_value(json_object_get(orig, "port")), 40000);
  assert_int_equal(json_integer_value(json_object_get(orig, "payload")), 55);
  assert_int_equal(json_integer_value(json_object_get(resp, "payload")), 146);
  assert_int_equal(json_integer_value(json_object_get(orig, "pkts")) +
                       json_integer_value(json_object_get(resp, "pkts")), 10);
  const char *first = json_string_value(json_object_get(c, "first_ts"));
  assert_int_equal(strlen(first), strlen("2026-11-26T08:36:45.840893Z"));
  assert_true(json_real_value(json_object_get(c, "duration")) >= 0);
  assert_counters_add_up(doc);
  json_t *inputs = json_object_get(doc, "inputs");
  assert_int_equal(json_array_size(inputs), 1);
  json_t *in0 = json_array_get(inputs, 0);
  assert_string_equal(json_string_value(json_object_get(in0, "format")), "pcap");
  assert_int_equal(json_integer_value(json_object_get(in0, "packets")), 10);
  assert_false(json_boolean_value(json_object_get(in0, "damaged")));
  json_decref(doc);
}

/* The raw report of one capture (caller frees). */
static char *report_text(const char *path) {
  const char *in[] = {path};
  struct ta_config cfg = {.inputs = in, .n_inputs = 1};
  int rc;
  char *out = tt_report(&cfg, "json", &rc);
  assert_non_null(out);
  assert_int_equal(rc, 0);
  return out;
}

/* "HH:MM:SS.ffffff" of an RFC 3339 time as seconds (same-day spans only). */
static double seconds_of_day(const char *t) {
  assert_non_null(t);
  assert_true(strlen(t) > 19);
  return atoi(t + 11) * 3600.0 + atoi(t + 14) * 60.0 + atof(t + 17);
}

static json_t *get(json_t *o, const char *a, const char *b) {
  json_t *v = json_object_get(o, a);
  return b ? json_object_get(v, b) : v;
}

/* A refused attempt measured nothing: its blocks are null, not objects of
 * nulls, and its record stays small. */
static void test_report_json_refused_record_is_compact(void **state) {
  (void)state;
  char *text = report_text(TD("kernel-refused.pcap"));
  json_t *doc = json_loads(text, 0, NULL);
  assert_non_null(doc);
  json_t *c = json_array_get(json_object_get(doc, "connections"), 0);
  assert_string_equal(json_string_value(get(c, "scenario", NULL)), "refused");
  static const char *const empty[] = {"handshake", "close", "rtt", "response"};
  for (size_t i = 0; i < sizeof empty / sizeof empty[0]; i++)
    assert_true(json_is_null(get(c, empty[i], NULL)));
  assert_true(json_is_null(get(c, "resp", "syn"))); /* it sent no SYN/ACK */
  assert_true(json_is_null(get(c, "orig", "analysis")));
  assert_null(get(c, "last_ts", NULL));
  /* one place for the SYN's facts, without what follows from them */
  json_t *syn = get(c, "orig", "syn");
  assert_string_equal(json_string_value(get(syn, "packet", NULL)), "syn");
  assert_string_equal(json_string_value(get(syn, "match", NULL)), "linux-4.19");
  assert_null(get(syn, "initial_ttl", NULL));
  assert_null(get(c, "orig", "fingerprint"));
  /* ladder packets are [t, dir, flags, seq, ack, win, len] */
  json_t *pk = get(get(c, "ladder", NULL), "packets", NULL);
  assert_int_equal(json_array_size(pk), 2);
  json_t *rst = json_array_get(pk, 1);
  assert_int_equal(json_array_size(rst), 7);
  assert_string_equal(json_string_value(json_array_get(rst, 1)), "resp");
  assert_int_equal(json_integer_value(json_array_get(rst, 2)), 0x14); /* RST+ACK */
  assert_int_equal(json_integer_value(json_array_get(rst, 4)), 1);
  /* the record as written: one line, well under the 1.6 KB it once took */
  const char *line = strstr(text, "{\"id\":");
  assert_non_null(line);
  size_t len = (size_t)(strchr(line, '\n') - line);
  assert_true(len < 1024);
  json_decref(doc);
  free(text);
}

/* A completed connection keeps every measurement, and its end is first_ts
 * plus duration. */
static void test_report_json_completed_record_blocks(void **state) {
  (void)state;
  const char *in[] = {TD("kernel-completed.pcap")};
  json_t *doc = report(in, 1, NULL, NULL);
  json_t *c = json_array_get(json_object_get(doc, "connections"), 0);
  assert_true(json_is_true(get(get(c, "handshake", NULL), "complete", NULL)));
  assert_true(json_is_number(get(c, "handshake", "synack_to_ack")));
  json_t *fin = get(c, "close", NULL);
  assert_string_equal(json_string_value(get(fin, "initiator", NULL)), "resp");
  assert_string_equal(json_string_value(get(fin, "how", NULL)), "fin");
  assert_int_equal(json_integer_value(get(fin, "resp_payload_before", NULL)), 146);
  json_t *rtt = get(c, "rtt", NULL);
  assert_true(json_integer_value(get(rtt, "samples", NULL)) > 0);
  assert_true(json_integer_value(get(get(rtt, "to_resp", NULL), "samples", NULL)) > 0);
  assert_int_equal(json_integer_value(get(c, "response", "count")), 1);
  assert_string_equal(json_string_value(get(get(c, "resp", "syn"), "packet", NULL)),
                      "syn+ack");
  assert_null(get(c, "ladder", NULL)); /* completed: no ladder */
  /* its packets are the whole capture, which ends with its last one */
  const char *last = json_string_value(
      get(json_array_get(json_object_get(doc, "inputs"), 0), "last_ts", NULL));
  double span = seconds_of_day(last) -
                seconds_of_day(json_string_value(get(c, "first_ts", NULL)));
  assert_true(fabs(span - json_real_value(get(c, "duration", NULL))) < 1e-7);
  json_decref(doc);
}

static void test_report_json_nanosecond_times(void **state) {
  (void)state;
  const char *in[] = {TD("kernel-completed-nano.pcap")};
  json_t *doc = report(in, 1, NULL, NULL);
  json_t *c = json_array_get(json_object_get(doc, "connections"), 0);
  const char *first = json_string_value(json_object_get(c, "first_ts"));
  /* nine fraction digits: "YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ" */
  assert_int_equal(strlen(first), 30);
  json_decref(doc);
}

static void test_report_json_rotated_files_merge(void **state) {
  (void)state;
  const char *in[] = {TD("kernel-rotated-2.pcap"), TD("kernel-rotated-1.pcap")};
  json_t *doc = report(in, 2, NULL, NULL);
  json_t *conns = json_object_get(doc, "connections");
  assert_int_equal(json_array_size(conns), 3);
  /* a connection split across the two files is one connection */
  size_t i;
  json_t *c;
  json_array_foreach(conns, i, c) {
    json_int_t p = json_integer_value(json_object_get(json_object_get(c, "orig"), "pkts")) +
                   json_integer_value(json_object_get(json_object_get(c, "resp"), "pkts"));
    assert_true(p >= 8);
  }
  assert_int_equal(counter(doc, "time_backwards"), 0);
  assert_counters_add_up(doc);
  json_decref(doc);
}

static void test_report_json_filter_counts_rejected(void **state) {
  (void)state;
  const char *in[] = {TD("kernel-completed.pcap")};
  json_t *doc = report(in, 1, "port 9", NULL);
  assert_int_equal(json_array_size(json_object_get(doc, "connections")), 0);
  assert_int_equal(counter(doc, "filtered_out"), 10);
  assert_counters_add_up(doc);
  assert_string_equal(json_string_value(json_object_get(doc, "filter")), "port 9");
  json_decref(doc);
}

static void test_report_json_bad_filter_is_error(void **state) {
  (void)state;
  const char *in[] = {TD("kernel-completed.pcap")};
  int rc = 0;
  json_t *doc = report(in, 1, "host and and", &rc);
  assert_int_equal(rc, TA_EFILTER);
  json_decref(doc);
}

/* One byte needing an escape at every position of strings of every length
 * up to 40 (the writer checks eight bytes at a time): each is escaped, and
 * the string reads back as written (or with U+FFFD for a non-UTF-8 byte). */
static void test_report_json_writer_escapes_any_position(void **state) {
  (void)state;
  static const unsigned char bad[] = {0x00, 0x01, 0x1f, '"', '\\', 0x7f,
                                      0x80, 0xc3, 0xff};
  for (size_t len = 1; len <= 40; len++)
    for (size_t pos = 0; pos < len; pos++)
      for (size_t b = 0; b < sizeof bad; b++) {
        char text[48];
        memset(text, 'x', len);
        text[pos] = (char)bad[b];
        struct ta_sink sink;
        ta_sink_init_mem(&sink);
        struct ta_jsonw w;
        ta_jsonw_init(&w, &sink, 0, 6);
        ta_jsonw_arr_begin(&w);
        ta_jsonw_strn(&w, text, len);
        ta_jsonw_arr_end(&w);
        size_t n;
        const char *out = ta_sink_mem(&sink, &n);
        if (bad[b] < 0x20 || bad[b] == 0x7f) /* escaped, never raw */
          assert_null(memchr(out, bad[b], n));
        json_error_t jerr;
        json_t *doc = json_loadb(out, n, JSON_ALLOW_NUL, &jerr);
        if (!doc)
          fail_msg("len %zu pos %zu byte %02x: %s", len, pos, bad[b], out);
        json_t *v = json_array_get(doc, 0);
        const char *got = json_string_value(v);
        size_t got_len = json_string_length(v);
        if (bad[b] >= 0x80) {
          assert_int_equal(got_len, len + 2); /* U+FFFD is 3 bytes */
          assert_memory_equal(got + pos, "\xef\xbf\xbd", 3);
        } else {
          assert_int_equal(got_len, len);
          assert_memory_equal(got, text, len);
        }
        json_decref(doc);
        ta_sink_close(&sink);
      }
}

static void test_report_json_writer_escapes_hostile_strings(void **state) {
  (void)state;
  struct ta_sink sink;
  ta_sink_init_mem(&sink);
  struct ta_jsonw w;
  ta_jsonw_init(&w, &sink, 0, 6);
  ta_jsonw_obj_begin(&w);
  const char hostile[] = "a\"b\\c\n\x01\x1b[2J<script>\xff\xc3\xa9\xe2\x82";
  ta_jsonw_key(&w, "s");
  ta_jsonw_strn(&w, hostile, sizeof hostile - 1);
  ta_jsonw_ksecs(&w, "d", 5013549000LL);
  ta_jsonw_ksecs(&w, "neg", -1500);
  ta_jsonw_ktime(&w, "t", 1009843200000000000LL + 72392845356000LL);
  ta_jsonw_obj_end(&w);
  const char *out = ta_sink_mem(&sink, NULL);
  assert_null(strchr(out, '\x1b'));
  json_error_t jerr;
  json_t *doc = json_loads(out, 0, &jerr);
  assert_non_null(doc);
  const char *s = json_string_value(json_object_get(doc, "s"));
  assert_non_null(s);
  assert_non_null(strstr(s, "<script>"));
  assert_non_null(strstr(s, "\xc3\xa9")); /* valid UTF-8 kept */
  assert_non_null(strstr(s, "\xef\xbf\xbd")); /* invalid byte replaced */
  assert_true(json_real_value(json_object_get(doc, "d")) == 5.013549);
  assert_string_equal(json_string_value(json_object_get(doc, "t")),
                      "2002-01-01T20:06:32.845356Z");
  json_decref(doc);
  ta_sink_close(&sink);
}

static void test_report_json_time_and_duration_formats(void **state) {
  (void)state;
  char b[64];
  ta_time_format(b, sizeof b, 1709164800123456789LL, 9); /* leap day */
  assert_string_equal(b, "2024-02-29T00:00:00.123456789Z");
  ta_time_format(b, sizeof b, -1000, 6); /* one microsecond before 1970 */
  assert_string_equal(b, "1969-12-31T23:59:59.999999Z");
  ta_time_format(b, sizeof b, 4294967296LL * 1000000000LL, 6);
  assert_string_equal(b, "2106-02-07T06:28:16.000000Z");
  ta_time_format(b, sizeof b, 951782400000000000LL, 6); /* 2000 is leap */
  assert_string_equal(b, "2000-02-29T00:00:00.000000Z");
  ta_secs_format(b, sizeof b, 498622000, 6);
  assert_string_equal(b, "0.498622");
  ta_secs_format(b, sizeof b, 1999999, 6); /* rounds to the microsecond */
  assert_string_equal(b, "0.002000");
  ta_secs_format(b, sizeof b, -3003045123LL, 9);
  assert_string_equal(b, "-3.003045123");
}

/* A leg whose samples all equal its min has that min as its average:
 * the record copies the min's text rather than formatting the average,
 * which holds only while ta_lat_leg_avg gives exactly the min's
 * nanoseconds for such a leg. */
static void test_report_json_leg_of_equal_samples(void **state) {
  (void)state;
  static const uint32_t us[] = {0, 1, 9, 10, 999999, 1000000, 4294967295u};
  static const uint32_t n[] = {1, 2, 3, 7, 1000, 2097151, 4294967295u};
  for (size_t i = 0; i < sizeof us / sizeof us[0]; i++)
    for (size_t j = 0; j < sizeof n / sizeof n[0]; j++) {
      struct ta_lat_leg l = {.samples = n[j], .min_us = us[i],
                             .max_us = us[i],
                             .sum_us = (uint64_t)us[i] * n[j]};
      if (l.sum_us < (1ull << 53))
        assert_int_equal(ta_lat_leg_avg(&l), (int64_t)us[i] * 1000);
    }
  /* in a record: one sample copied; equal ends whose sum says otherwise
   * (never recorded, but the copy must not take them) averaged */
  struct ta_conn *c = calloc(1, sizeof *c);
  assert_non_null(c);
  c->family = 4;
  c->side[TA_DIR_ORIG].lat = (struct ta_lat_leg){
      .samples = 1, .min_us = 1234567, .max_us = 1234567, .sum_us = 1234567};
  c->side[TA_DIR_RESP].lat = (struct ta_lat_leg){
      .samples = 2, .min_us = 5, .max_us = 5, .sum_us = 11};
  struct ta_sink sink;
  struct ta_jsonw w;
  ta_sink_init_mem(&sink);
  ta_jsonw_init(&w, &sink, 0, 6);
  ta__conn_json_object(&w, c, false);
  const char *out = ta_sink_mem(&sink, NULL);
  assert_non_null(strstr(out, "\"to_resp\":{\"samples\":1,\"min\":1.234567,"
                              "\"avg\":1.234567,\"max\":1.234567}"));
  assert_non_null(strstr(out, "\"to_orig\":{\"samples\":2,\"min\":0.000005,"
                              "\"avg\":0.000006,\"max\":0.000005}"));
  ta_sink_close(&sink);
  free(c);
}

/* The record of c as the json report writes it, with memo m (may be
 * NULL: everything formatted); the caller frees it. */
static char *record_text(const struct ta_conn *c, struct ta_jsonw_memo *m) {
  struct ta_sink sink;
  struct ta_jsonw w;
  ta_sink_init_mem(&sink);
  ta_jsonw_init(&w, &sink, 0, 6);
  ta_jsonw_set_memo(&w, m);
  ta__conn_json_object(&w, c, true);
  char *text = strdup(ta_sink_mem(&sink, NULL));
  ta_sink_close(&sink);
  assert_non_null(text);
  return text;
}

static void assert_same_record(const struct ta_conn *c,
                               struct ta_jsonw_memo *m) {
  char *want = record_text(c, NULL), *got = record_text(c, m);
  assert_string_equal(got, want);
  free(want);
  free(got);
}

/* Ladder steps of a handshake's or a refusal's shape are copied from the
 * memo once written. Over more shapes than its table holds, written
 * again and again in varying order, and steps just outside those shapes
 * (seq or ack 2, a payload), a record must read the same as one written
 * without the memo. */
static void test_report_json_ladder_steps_memo(void **state) {
  (void)state;
  static const uint16_t win[] = {0, 1, 9, 10, 99, 501, 1024, 64240, 65535};
  static const uint8_t flags[] = {0, 2, 4, 16, 17, 18, 20, 99, 255};
  struct ta_jsonw_memo *m = calloc(1, sizeof *m);
  struct ta_conn *c = calloc(1, sizeof *c);
  assert_non_null(m);
  assert_non_null(c);
  c->family = 4;
  c->scenario = TA_SC_REFUSED;
  unsigned n = 0;
  for (int round = 0; round < 3; round++)
    for (size_t i = 0; i < sizeof win / sizeof win[0]; i++)
      for (size_t f = 0; f < sizeof flags / sizeof flags[0]; f++)
        for (uint32_t sa = 0; sa < 9; sa++) {
          struct ta_ladder_pkt *k = &c->ladder[n++ % TA_LADDER_PKTS];
          *k = (struct ta_ladder_pkt){
              .dt_us = sa * 1000u, .seq_rel = sa % 3, .ack_rel = sa / 3,
              .window = win[(i + (size_t)round) % (sizeof win / sizeof win[0])],
              .payload = (uint16_t)(f == 3 && sa == 4), .flags = flags[f],
              .dir = (uint8_t)((sa + f + (size_t)round) & 1)};
          c->n_ladder = (uint8_t)(n < TA_LADDER_PKTS ? n : TA_LADDER_PKTS);
          assert_same_record(c, m);
        }
  free(c);
  free(m);
}

/* A latency set's members as the general functions give them: each end
 * and the median through ta_secs_format, the error as printf rounds it. */
static void small_text(char *b, size_t len, const struct ta_lat_small *x) {
  char mn[48], md[48], mx[48];
  if (!x->count) {
    snprintf(b, len, "\"min\":null,\"median\":null,\"max\":null,"
             "\"median_error\":%.4f", ta_lat_small_error(x));
    return;
  }
  ta_secs_format(mn, sizeof mn, ta_lat_small_min(x), 6);
  ta_secs_format(md, sizeof md, ta_lat_small_median(x), 6);
  ta_secs_format(mx, sizeof mx, ta_lat_small_max(x), 6);
  snprintf(b, len, "\"min\":%s,\"median\":%s,\"max\":%s,"
           "\"median_error\":%.4f", mn, md, mx, ta_lat_small_error(x));
}

/* The rtt and response blocks write their sets' ends and the handshake as
 * whole microseconds and the error of an exact set as a constant: over
 * sets exact and binned, of one value and spread, with and without the
 * handshake, they must read as the general functions say. */
static void test_report_json_latency_sets(void **state) {
  (void)state;
  static const uint32_t us[] = {0, 1, 9, 999, 1000, 123456, 999999,
                                1000000, 4294967, 4294967295u};
  struct ta_conn *c = calloc(1, sizeof *c);
  assert_non_null(c);
  c->family = 4;
  c->established_ts = 1;
  for (size_t i = 0; i < sizeof us / sizeof us[0]; i++)
    for (unsigned reps = 0; reps < 40; reps++) {
      struct ta_conn_latency *l = &c->lat;
      *l = (struct ta_conn_latency){.hs_us = us[i] ^ reps,
                                     .flags = reps & 1 ? TA_LAT_HS_DONE : 0};
      for (unsigned k = 0; k < reps; k++) {
        ta_lat_small_add_us(&l->rtt, us[i] - (us[i] > k ? k * k * 37 : 0));
        ta_lat_small_add_us(&l->response, reps % 3 ? us[i] : us[i] >> (k % 32));
      }
      char *got = record_text(c, NULL), set[256], want[512], hs[48];
      small_text(set, sizeof set, &l->rtt);
      if (ta_lat_handshake(l) >= 0)
        ta_secs_format(hs, sizeof hs, ta_lat_handshake(l), 6);
      else
        strcpy(hs, "null");
      snprintf(want, sizeof want, "\"rtt\":{\"samples\":%u,%s,\"handshake\":%s,",
               l->rtt.count, set, hs);
      if (!reps)
        snprintf(want, sizeof want, "\"rtt\":null");
      assert_non_null(strstr(got, want));
      small_text(set, sizeof set, &l->response);
      snprintf(want, sizeof want, "\"response\":{\"count\":%u,%s,",
               l->response.count, set);
      if (!reps)
        snprintf(want, sizeof want, "\"response\":null");
      assert_non_null(strstr(got, want));
      free(got);
    }
  free(c);
}

/* The record takes a set's min as its median when all its samples were
 * one value; over sets of one value repeated, of values around it, exact
 * and binned, it must say what ta_lat_small_median says. */
static void check_median(const struct ta_lat_small *x) {
  assert_int_equal(ta__conn_lat_median(x), ta_lat_small_median(x));
}

static void test_report_json_median_shortcut(void **state) {
  (void)state;
  static const uint32_t us[] = {0,       1,        2,         9,
                                10,      999,      1000,      65535,
                                65536,   999999,   1000000,   16777215,
                                4294966, 4294967,  2147483647u, 4294967294u,
                                4294967295u};
  static const unsigned reps[] = {1, 2, 3, 31, 32, 33, 200, 70000};
  for (size_t i = 0; i < sizeof us / sizeof us[0]; i++)
    for (size_t r = 0; r < sizeof reps / sizeof reps[0]; r++) {
      struct ta_lat_small same = {0}, mixed = {0}, spread = {0};
      for (unsigned k = 0; k < reps[r]; k++) {
        ta_lat_small_add_us(&same, us[i]);
        /* one other value at the end: min != max, the search decides */
        ta_lat_small_add_us(&mixed, k + 1 < reps[r] ? us[i] : us[i] ^ 1u);
        ta_lat_small_add_us(&spread, us[i] - (us[i] > k ? k : 0));
        check_median(&same);
        check_median(&mixed);
        check_median(&spread);
      }
    }
  /* equal ends with nothing held, or nothing counted: no shortcut */
  struct ta_lat_small x = {.count = 1, .min_us = 7, .max_us = 7};
  check_median(&x);
  x = (struct ta_lat_small){.n = 1, .min_us = 7, .max_us = 7};
  x.u.v[0] = 7;
  check_median(&x);
  x.count = 1;
  x.u.v[0] = 9; /* never recorded so, but the shortcut must not mind */
  assert_int_equal(ta__conn_lat_median(&x), 7000);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_report_json_completed_capture),
      cmocka_unit_test(test_report_json_refused_record_is_compact),
      cmocka_unit_test(test_report_json_completed_record_blocks),
      cmocka_unit_test(test_report_json_nanosecond_times),
      cmocka_unit_test(test_report_json_rotated_files_merge),
      cmocka_unit_test(test_report_json_filter_counts_rejected),
      cmocka_unit_test(test_report_json_bad_filter_is_error),
      cmocka_unit_test(test_report_json_writer_escapes_hostile_strings),
      cmocka_unit_test(test_report_json_writer_escapes_any_position),
      cmocka_unit_test(test_report_json_time_and_duration_formats),
      cmocka_unit_test(test_report_json_leg_of_equal_samples),
      cmocka_unit_test(test_report_json_median_shortcut),
      cmocka_unit_test(test_report_json_ladder_steps_memo),
      cmocka_unit_test(test_report_json_latency_sets),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
