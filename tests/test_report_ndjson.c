/* tcpaudit - tests: the ndjson (ECS) reporter on the kernel captures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ta_analyze.h"
#include "ta_community_id.h"
#include "ta_conn.h"
#include "ta_error.h"
#include "ta_hosts.h"
#include "ta_test_util.h"

#define TD(name) TA_TESTDATA "/" name
#define SCHEMAS TA_TESTDATA "/../schemas"

/* Runs the library on one capture with a reporter; returns its output
 * (caller frees). */
static char *run_format(const char *path, const char *fmt, uint16_t seed) {
  const char *in[] = {path};
  struct ta_config cfg = {.inputs = in, .n_inputs = 1};
  cfg.report.community_id_seed = seed;
  int rc;
  char *out = tt_report(&cfg, fmt, &rc);
  assert_non_null(out);
  assert_int_equal(rc, 0);
  return out;
}

/* The output's lines parsed as JSON, as an array. */
static json_t *events_of(const char *text) {
  json_t *all = json_array();
  const char *p = text;
  while (*p) {
    const char *nl = strchr(p, '\n');
    assert_non_null(nl); /* every line is terminated */
    json_error_t jerr;
    json_t *ev = json_loadb(p, (size_t)(nl - p), 0, &jerr);
    if (!ev)
      fail_msg("line is not JSON: %s", jerr.text);
    assert_true(json_is_object(ev));
    json_array_append_new(all, ev);
    p = nl + 1;
  }
  return all;
}

static json_t *path_get(json_t *o, const char *a, const char *b) {
  json_t *v = json_object_get(o, a);
  return b ? json_object_get(v, b) : v;
}

static bool array_has(json_t *arr, const char *s) {
  size_t i;
  json_t *v;
  json_array_foreach(arr, i, v) if (!strcmp(json_string_value(v), s)) return true;
  return false;
}

static json_t *event_for_scenario(json_t *events, const char *scenario) {
  size_t i;
  json_t *ev;
  json_array_foreach(events, i, ev) {
    if (!strcmp(json_string_value(path_get(ev, "tcpaudit", "scenario")),
                scenario))
      return ev;
  }
  fail_msg("no %s connection", scenario);
  return NULL;
}

static void assert_same_string(json_t *a, json_t *b) {
  assert_non_null(json_string_value(a));
  assert_non_null(json_string_value(b));
  assert_string_equal(json_string_value(a), json_string_value(b));
}

static void assert_same_integer(json_t *a, json_t *b) {
  assert_true(json_is_integer(a));
  assert_true(json_is_integer(b));
  assert_int_equal(json_integer_value(a), json_integer_value(b));
}

/* The event of a capture against the JSON report's connections: the
 * event's tcpaudit member is the connection, and the ECS fields that
 * state the same values agree with it (the event writes each such value
 * once and copies it). */
static void check_events_match_report(const char *capture) {
  char *nd = run_format(capture, "ndjson", 0);
  char *js = run_format(capture, "json", 0);
  json_t *events = events_of(nd);
  json_t *doc = json_loads(js, 0, NULL);
  json_t *conns = json_object_get(doc, "connections");
  assert_true(json_array_size(conns) >= 1);
  assert_int_equal(json_array_size(events), json_array_size(conns));
  size_t i;
  json_t *ev;
  json_array_foreach(events, i, ev) {
    json_t *c = json_array_get(conns, i);
    json_t *own = json_object_get(ev, "tcpaudit");
    /* tcpaudit.* is exactly the JSON report's connection */
    assert_true(json_equal(own, c));
    static const char *const ends[2][2] = {{"source", "orig"},
                                           {"destination", "resp"}};
    for (int d = 0; d < 2; d++) {
      json_t *e = json_object_get(ev, ends[d][0]);
      json_t *s = json_object_get(c, ends[d][1]);
      assert_same_string(json_object_get(e, "ip"), json_object_get(s, "ip"));
      assert_same_string(json_object_get(e, "address"),
                         json_object_get(s, "ip"));
      assert_same_integer(json_object_get(e, "port"),
                          json_object_get(s, "port"));
      assert_same_integer(json_object_get(e, "bytes"),
                          json_object_get(s, "bytes"));
      assert_same_integer(json_object_get(e, "packets"),
                          json_object_get(s, "pkts"));
    }
    json_int_t sb = json_integer_value(path_get(ev, "source", "bytes"));
    json_int_t db = json_integer_value(path_get(ev, "destination", "bytes"));
    assert_int_equal(json_integer_value(path_get(ev, "network", "bytes")), sb + db);
    /* related.ip: each distinct address once, source first */
    json_t *rel = path_get(ev, "related", "ip");
    const char *src = json_string_value(path_get(c, "orig", "ip"));
    const char *dst = json_string_value(path_get(c, "resp", "ip"));
    assert_string_equal(json_string_value(json_array_get(rel, 0)), src);
    assert_int_equal(json_array_size(rel), strcmp(src, dst) ? 2 : 1);
    if (strcmp(src, dst))
      assert_string_equal(json_string_value(json_array_get(rel, 1)), dst);
    double secs = json_number_value(json_object_get(c, "duration"));
    json_int_t ns = json_integer_value(path_get(ev, "event", "duration"));
    assert_true(fabs((double)ns / 1e9 - secs) < 1e-6);
    assert_same_string(json_object_get(ev, "@timestamp"),
                       json_object_get(c, "first_ts"));
    assert_same_string(path_get(ev, "event", "start"),
                       json_object_get(c, "first_ts"));
    assert_same_integer(path_get(ev, "event", "sequence"),
                        json_object_get(c, "id"));
    assert_same_string(json_object_get(ev, "message"),
                       json_object_get(c, "summary"));
    assert_same_string(path_get(ev, "event", "action"),
                       json_object_get(c, "scenario"));
    assert_string_equal(json_string_value(path_get(ev, "network", "iana_number")),
                        "6");
  }
  json_decref(events);
  json_decref(doc);
  free(nd);
  free(js);
}

static void test_report_ndjson_one_event_per_connection(void **state) {
  (void)state;
  check_events_match_report(TD("sample.pcap"));
  /* IPv6 addresses are the longest texts copied */
  check_events_match_report(TD("kernel-ipv6-completed.pcap"));
}

/* One connection's text from a reporter's format_connection. */
static char *format_one(const char *fmt, const struct ta_conn *c, int digits) {
  const struct ta_reporter *r = ta_reporter_find(fmt);
  struct ta_report_opts o = {.ts_precision = digits};
  void *scratch = calloc(1, r->format_scratch_size);
  struct ta_sink mem;
  ta_sink_init_mem(&mem);
  r->format_connection(&o, c, &mem, scratch);
  char *text = strdup(ta_sink_mem(&mem, NULL));
  ta_sink_close(&mem);
  free(scratch);
  return text;
}

/* The longest texts the event copies into its tcpaudit member: IPv6
 * addresses of eight full groups, five-digit ports, nine fraction digits. */
static void test_report_ndjson_long_texts_copied(void **state) {
  (void)state;
  static const char src[] = "2001:db8:1234:5678:9abc:def0:fedc:ba98";
  static const char dst[] = "fe80:ffff:eeee:dddd:cccc:bbbb:aaaa:9999";
  struct tt_seg g = {.src = src, .dst = dst, .sport = 65535, .dport = 65534,
                     .seq = 1, .flags = TA_TCP_SYN, .win = 1024};
  uint8_t buf[256];
  size_t n = tt_build_ip(buf, sizeof buf, &g);
  struct ta_packet p;
  ta_decode_frame(TA_LINK_RAW, buf, (uint32_t)n, (uint32_t)n, &p);
  assert_int_equal(p.disposition, TA_DISP_TCP);
  p.ts_ns = tt_clock_ns("10:00:00.123456789");
  struct ta_conn c;
  ta_conn_init(&c, 4294967295u, &p);
  ta_conn_update(&c, &p);
  ta_conn_finalize(&c, TA_END_CAPTURE_END);
  char *nd = format_one("ndjson", &c, 9), *js = format_one("json", &c, 9);
  assert_int_equal(nd[strlen(nd) - 1], '\n');
  json_t *ev = json_loads(nd, 0, NULL), *rec = json_loads(js, 0, NULL);
  assert_non_null(ev);
  assert_non_null(rec);
  assert_true(json_equal(json_object_get(ev, "tcpaudit"), rec));
  assert_string_equal(json_string_value(path_get(ev, "source", "address")), src);
  assert_string_equal(json_string_value(path_get(rec, "orig", "ip")), src);
  assert_string_equal(json_string_value(path_get(rec, "resp", "ip")), dst);
  json_t *rel = path_get(ev, "related", "ip");
  assert_string_equal(json_string_value(json_array_get(rel, 1)), dst);
  assert_int_equal(json_integer_value(path_get(rec, "orig", "port")), 65535);
  assert_string_equal(json_string_value(json_object_get(rec, "first_ts")),
                      "2002-01-01T10:00:00.123456789Z");
  assert_int_equal(json_integer_value(json_object_get(rec, "id")), 4294967295u);
  assert_string_equal(json_string_value(json_object_get(ev, "message")),
                      json_string_value(json_object_get(rec, "summary")));
  json_decref(ev);
  json_decref(rec);
  free(nd);
  free(js);
}

static void test_report_ndjson_outcome_follows_scenario(void **state) {
  (void)state;
  char *nd = run_format(TD("sample.pcap"), "ndjson", 0);
  json_t *events = events_of(nd);
  json_t *ev = event_for_scenario(events, "refused");
  assert_string_equal(json_string_value(path_get(ev, "event", "outcome")), "failure");
  assert_true(array_has(path_get(ev, "event", "type"), "denied"));
  assert_true(array_has(path_get(ev, "event", "type"), "end"));
  /* a refusal measured no handshake, close or timing: null blocks */
  json_t *own = json_object_get(ev, "tcpaudit");
  assert_true(json_is_null(json_object_get(own, "handshake")));
  assert_true(json_is_null(json_object_get(own, "rtt")));
  assert_true(json_is_array(json_array_get(path_get(own, "ladder", "packets"), 0)));
  ev = event_for_scenario(events, "unanswered");
  assert_string_equal(json_string_value(path_get(ev, "event", "outcome")), "failure");
  assert_false(array_has(path_get(ev, "event", "type"), "denied"));
  assert_true(json_is_null(path_get(ev, "tcpaudit", "close")));
  ev = event_for_scenario(events, "completed");
  assert_string_equal(json_string_value(path_get(ev, "event", "outcome")), "success");
  assert_true(array_has(path_get(ev, "event", "type"), "end"));
  own = json_object_get(ev, "tcpaudit");
  assert_true(json_is_true(path_get(own, "handshake", "complete")));
  assert_string_equal(json_string_value(path_get(own, "close", "how")), "fin");
  /* ECS source.bytes is the record's orig.bytes */
  assert_int_equal(json_integer_value(path_get(ev, "source", "bytes")),
                   json_integer_value(path_get(own, "orig", "bytes")));
  /* still open when the capture stopped: not an "end" event */
  ev = event_for_scenario(events, "open");
  assert_string_equal(json_string_value(path_get(ev, "event", "outcome")), "success");
  assert_false(array_has(path_get(ev, "event", "type"), "end"));
  assert_true(array_has(path_get(ev, "event", "type"), "connection"));
  json_decref(events);
  free(nd);
}

/* A reporter wrapping ndjson that looks at the output file each time the
 * pipeline says the connections finalized so far are all handed over, as
 * `tail -f` would. */
static const char *tail_path;
static size_t tail_calls, tail_flushes, tail_complete;

static size_t lines_on_disk(void) {
  size_t len, n = 0;
  char *text = tt_slurp(tail_path, &len);
  for (size_t i = 0; i < len; i++)
    n += text[i] == '\n';
  if (len && text[len - 1] != '\n')
    n = 0; /* a half-written line */
  free(text);
  return n;
}

static int tail_open(void **st, struct ta_sink *out, const struct ta_report_opts *o) {
  return ta_reporter_find("ndjson")->open(st, out, o);
}
static void tail_conn(void *st, const struct ta_conn *c) {
  ta_reporter_find("ndjson")->on_connection(st, c);
  tail_calls++;
}
static void tail_flush(void *st) {
  ta_reporter_find("ndjson")->flush(st);
  tail_flushes++;
  tail_complete += lines_on_disk() == tail_calls;
}
static int tail_close(void *st, const struct ta_summary *s) {
  return ta_reporter_find("ndjson")->close(st, s);
}

/* Runs the tail reporter over input (a path, or "-"). */
static void run_tail(const char *input) {
  static const struct ta_reporter tail = {.name = "tail",
                                          .help = "",
                                          .open = tail_open,
                                          .on_connection = tail_conn,
                                          .close = tail_close,
                                          .flush = tail_flush};
  char *path = tt_tmpfile(".ndjson");
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  tail_path = path;
  tail_calls = tail_flushes = tail_complete = 0;
  struct ta_sink *sink = malloc(sizeof *sink);
  ta_sink_init_file(sink, f);
  const char *in[] = {input};
  struct ta_config cfg = {.inputs = in, .n_inputs = 1, .reporter = &tail,
                          .out = sink};
  struct ta_result res;
  char err[256];
  assert_int_equal(ta_analyze(&cfg, &res, err, sizeof err), 0);
  assert_int_equal(ta_sink_close(sink), 0);
  fclose(f);
  assert_int_equal(lines_on_disk(), tail_calls);
  free(sink);
  ta_result_free(&res);
  unlink(path);
  free(path);
}

/* A capture read from a pipe, as one being written while it is read:
 * each moment's lines reach the file as the moment is over. */
static void test_report_ndjson_lines_reach_the_file_as_finalized(void **state) {
  (void)state;
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0) { /* the capture's writer */
    close(fds[0]);
    size_t len;
    char *bytes = tt_slurp(TD("sample.pcap"), &len);
    size_t off = 0;
    while (off < len) {
      ssize_t k = write(fds[1], bytes + off, len - off);
      if (k <= 0)
        _exit(1);
      off += (size_t)k;
    }
    _exit(0);
  }
  close(fds[1]);
  int saved = dup(STDIN_FILENO);
  assert_true(saved >= 0);
  assert_true(dup2(fds[0], STDIN_FILENO) >= 0);
  close(fds[0]);
  run_tail("-");
  assert_true(dup2(saved, STDIN_FILENO) >= 0);
  close(saved);
  int status;
  assert_int_equal(waitpid(child, &status, 0), child);
  assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  assert_true(tail_calls >= 8);
  /* written as the capture is read, not at the end: several moments */
  assert_true(tail_flushes >= 4);
  /* at each, every line finalized so far was on disk, whole */
  assert_int_equal(tail_complete, tail_flushes);
}

/* A capture file is complete when read: its lines go out in large
 * blocks, not a write for each moment. */
static void test_report_ndjson_file_written_in_blocks(void **state) {
  (void)state;
  run_tail(TD("sample.pcap"));
  assert_true(tail_calls >= 8);
  assert_int_equal(tail_flushes, 0);
}

static void test_report_ndjson_seed_changes_community_id(void **state) {
  (void)state;
  char *a = run_format(TD("kernel-completed.pcap"), "ndjson", 0);
  char *b = run_format(TD("kernel-completed.pcap"), "ndjson", 1);
  json_t *ea = events_of(a), *eb = events_of(b);
  const char *ida = json_string_value(
      path_get(json_array_get(ea, 0), "network", "community_id"));
  const char *idb = json_string_value(
      path_get(json_array_get(eb, 0), "network", "community_id"));
  assert_string_not_equal(ida, idb);
  /* the event's ID is the library's ID of its tuple */
  json_t *ev = json_array_get(ea, 0);
  struct ta_flow_tuple t = {.family = 4, .proto = 6, .has_ports = true};
  inet_pton(AF_INET, json_string_value(path_get(ev, "source", "ip")), t.src);
  inet_pton(AF_INET, json_string_value(path_get(ev, "destination", "ip")), t.dst);
  t.sport = (uint16_t)json_integer_value(path_get(ev, "source", "port"));
  t.dport = (uint16_t)json_integer_value(path_get(ev, "destination", "port"));
  char want[TA_COMMUNITY_ID_LEN];
  assert_int_equal(ta_community_id(want, sizeof want, 0, &t), 0);
  assert_string_equal(ida, want);
  json_decref(ea);
  json_decref(eb);
  free(a);
  free(b);
}

/* The hosts the pipeline aggregated, as the reporter's close sees them. */
static void ignore_host(void *st, const struct ta_host *h) {
  (void)st;
  (void)h;
}

static uint64_t hosts_at_close;
static int count_hosts_close(void *st, const struct ta_summary *s) {
  hosts_at_close = ta_hosts_count(s->hosts);
  return ta_reporter_find("ndjson")->close(st, s);
}

/* r's output for path with the given threads (caller frees). */
static char *run_reporter(const char *path, const struct ta_reporter *r,
                          unsigned threads) {
  const char *in[] = {path};
  struct ta_sink sink;
  ta_sink_init_mem(&sink);
  struct ta_config cfg = {.inputs = in, .n_inputs = 1, .reporter = r,
                          .out = &sink, .threads = threads};
  struct ta_result res;
  char err[256];
  assert_int_equal(ta_analyze(&cfg, &res, err, sizeof err), 0);
  char *out = strdup(ta_sink_mem(&sink, NULL));
  ta_result_free(&res);
  ta_sink_close(&sink);
  return out;
}

/* The events name no host aggregate, so the pipeline keeps none for this
 * format (it has no on_host): with one thread or several, its lines are
 * those written while the hosts were aggregated. */
static void test_report_ndjson_aggregates_no_hosts(void **state) {
  (void)state;
  struct ta_reporter fast = *ta_reporter_find("ndjson");
  assert_null(fast.on_host);
  fast.close = count_hosts_close;
  struct ta_reporter general = fast;
  general.on_host = ignore_host;
  for (unsigned threads = 1; threads <= 2; threads++) {
    char *want = run_reporter(TD("sample.pcap"), &general, threads);
    assert_true(hosts_at_close >= 2);
    char *got = run_reporter(TD("sample.pcap"), &fast, threads);
    assert_int_equal(hosts_at_close, 0);
    assert_true(strlen(got) > 0);
    assert_string_equal(got, want);
    free(want);
    free(got);
  }
}

static void assert_enum_is(json_t *schema, const char *def,
                           const char *(*name)(int), int count) {
  json_t *e = json_object_get(
      json_object_get(json_object_get(schema, "$defs"), def), "enum");
  if (json_array_size(e) != (size_t)count)
    fail_msg("schema %s has %zu names, the library %d", def,
             json_array_size(e), count);
  for (int i = 0; i < count; i++)
    assert_string_equal(json_string_value(json_array_get(e, (size_t)i)), name(i));
}

static void test_report_ndjson_schema_names_match_library(void **state) {
  (void)state;
  json_error_t jerr;
  json_t *schema = json_load_file(SCHEMAS "/report.schema.json", 0, &jerr);
  if (!schema)
    fail_msg("report.schema.json: %s", jerr.text);
  assert_enum_is(schema, "scenario", ta_scenario_name, TA_SC_COUNT);
  assert_enum_is(schema, "conn_state", ta_conn_state_name, TA_CS_COUNT);
  assert_enum_is(schema, "end_reason", ta_end_reason_name, TA_END_COUNT);
  json_decref(schema);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_report_ndjson_one_event_per_connection),
      cmocka_unit_test(test_report_ndjson_long_texts_copied),
      cmocka_unit_test(test_report_ndjson_outcome_follows_scenario),
      cmocka_unit_test(test_report_ndjson_lines_reach_the_file_as_finalized),
      cmocka_unit_test(test_report_ndjson_file_written_in_blocks),
      cmocka_unit_test(test_report_ndjson_seed_changes_community_id),
      cmocka_unit_test(test_report_ndjson_schema_names_match_library),
      cmocka_unit_test(test_report_ndjson_aggregates_no_hosts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
