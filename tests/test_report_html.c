/* tcpaudit - tests: the HTML reporter's page, its embedded data, its cap and
 * its escaping. (tests/browser-check.py loads the page in a real browser.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ta_analyze.h"
#include "ta_error.h"
#include "ta_packet.h"
#include "ta_test_util.h"

#define TD(name) TA_TESTDATA "/" name


static char *run_format(const char *path, const char *fmt, uint32_t cap) {
  const char *in[] = {path};
  struct ta_config cfg = {.inputs = in, .n_inputs = 1};
  cfg.report.html_max_connections = cap;
  int rc;
  char *out = tt_report(&cfg, fmt, &rc);
  assert_non_null(out);
  assert_int_equal(rc, 0);
  return out;
}

/* The parsed content of <script type="application/json" id="ID">. */
static json_t *script_json(const char *page, const char *id) {
  char open[96];
  snprintf(open, sizeof open, "<script type=\"application/json\" id=\"%s\">", id);
  const char *p = strstr(page, open);
  assert_non_null(p);
  p += strlen(open);
  const char *end = strstr(p, "</script>");
  assert_non_null(end);
  json_error_t jerr;
  json_t *v = json_loadb(p, (size_t)(end - p), 0, &jerr);
  if (!v)
    fail_msg("%s is not JSON: %s", id, jerr.text);
  return v;
}

static void test_report_html_page_is_self_contained(void **state) {
  (void)state;
  char *page = run_format(TD("sample.pcap"), "html", 0);
  assert_memory_equal(page, "<!DOCTYPE html>", 15);
  assert_non_null(strstr(page, "Content-Security-Policy"));
  assert_non_null(strstr(page, "default-src 'none'"));
  assert_non_null(strstr(page, "</html>\n"));
  /* nothing that would fetch: no external src/href, no CSS url() or import */
  assert_null(strstr(page, "src=\"http"));
  assert_null(strstr(page, "href=\"http"));
  assert_null(strstr(page, "url("));
  assert_null(strstr(page, "@import"));
  assert_null(strstr(page, "<link rel=\"stylesheet\""));
  assert_null(strstr(page, "<iframe"));
  const char *p = page;
  while ((p = strstr(p, "://")) != NULL) {
    /* the only URL is the SVG namespace the script creates elements in */
    assert_memory_equal(p - 4, "http://www.w3.org/2000/svg", 26);
    p++;
  }
  /* one section each: overview, chart, stories, hosts, connections */
  const char *ids[] = {"id=\"overview\"", "id=\"scenarios\"", "id=\"stories\"",
                       "id=\"hosts\"", "id=\"connections\""};
  for (size_t i = 0; i < 5; i++)
    assert_non_null(strstr(page, ids[i]));
  free(page);
}

static void test_report_html_embeds_the_json_connections(void **state) {
  (void)state;
  char *page = run_format(TD("sample.pcap"), "html", 0);
  char *js = run_format(TD("sample.pcap"), "json", 0);
  json_t *doc = json_loads(js, 0, NULL);
  json_t *conns = json_object_get(doc, "connections");
  json_t *emb = script_json(page, "ta-conns");
  json_t *meta = script_json(page, "ta-meta");
  assert_int_equal(json_array_size(emb), json_array_size(conns));
  assert_int_equal(json_integer_value(json_object_get(meta, "connections")),
                   json_array_size(conns));
  assert_int_equal(json_integer_value(json_object_get(meta, "embedded")),
                   json_array_size(conns));
  assert_int_equal(json_array_size(json_object_get(meta, "scenarios")), TA_SC_COUNT);
  /* every embedded record is the JSON report's record; those that did not
   * complete come first, with their ladder */
  bool seen_completed = false;
  size_t i;
  json_t *e;
  json_array_foreach(emb, i, e) {
    json_t *match = NULL, *c;
    size_t k;
    json_array_foreach(conns, k, c) {
      if (json_equal(json_object_get(c, "id"), json_object_get(e, "id")))
        match = c;
    }
    assert_non_null(match);
    assert_true(json_equal(match, e));
    bool completed = !strcmp(json_string_value(json_object_get(e, "scenario")),
                             "completed");
    if (completed)
      seen_completed = true;
    else
      assert_false(seen_completed);
    assert_int_equal(json_object_get(e, "ladder") != NULL, !completed);
  }
  assert_true(seen_completed);
  /* the chart carries the report's counts */
  json_t *by = json_object_get(json_object_get(doc, "flows"), "by_scenario");
  const char *name;
  json_t *v;
  json_object_foreach(by, name, v) {
    char want[128];
    snprintf(want, sizeof want, "data-count=\"flows.by_scenario.%s\">%lld<",
             name, (long long)json_integer_value(v));
    assert_non_null(strstr(page, want));
  }
  assert_null(strstr(page, "id=\"cap-note\"")); /* all embedded: no cap note */
  json_decref(emb);
  json_decref(meta);
  json_decref(doc);
  free(js);
  free(page);
}

static size_t count_scenario(json_t *arr, const char *sc, bool equal) {
  size_t i, n = 0;
  json_t *e;
  json_array_foreach(arr, i, e) {
    bool is = !strcmp(json_string_value(json_object_get(e, "scenario")), sc);
    n += is == equal;
  }
  return n;
}

static void test_report_html_cap_keeps_failures_first(void **state) {
  (void)state;
  /* sample.pcap: 2 completed connections, the rest did not complete */
  char *page = run_format(TD("sample.pcap"), "html", 3);
  json_t *emb = script_json(page, "ta-conns");
  assert_int_equal(json_array_size(emb), 3);
  assert_int_equal(count_scenario(emb, "completed", true), 0);
  /* three refusals come first, but the room goes to three scenarios */
  for (size_t i = 0; i < 3; i++)
    assert_int_equal(count_scenario(emb, json_string_value(json_object_get(
                                             json_array_get(emb, i), "scenario")),
                                    true), 1);
  assert_non_null(strstr(page, "id=\"cap-note\""));
  assert_non_null(strstr(page, "<b data-embedded=\"3\">3</b> of the 10 "));
  assert_non_null(strstr(page, "tcpaudit report -f json"));
  json_decref(emb);
  free(page);

  page = run_format(TD("sample.pcap"), "html", 9);
  emb = script_json(page, "ta-conns");
  assert_int_equal(json_array_size(emb), 9);
  assert_int_equal(count_scenario(emb, "completed", false), 8);
  assert_int_equal(count_scenario(emb, "completed", true), 1);
  json_decref(emb);
  free(page);
}

/* 20000 refused attempts from distinct ports, then three SYNs that nobody
 * answers: the page stays small, counts them all, and the late scenario
 * still gets into the page. */
static void test_report_html_large_capture_stays_bounded(void **state) {
  (void)state;
  char *path = tt_tmpfile(".pcap");
  FILE *f = tt_pcap_create(path, 1, 65535);
  uint8_t buf[128];
  int64_t t = tt_clock_ns("12:00:00.000000");
  for (uint32_t i = 0; i < 20000; i++, t += 100000) {
    struct tt_seg syn = {.src = "10.0.0.1", .dst = "10.0.0.2",
                         .sport = (uint16_t)(20000 + i), .dport = 443,
                         .seq = i * 7919u, .flags = TA_TCP_SYN, .win = 1024};
    size_t n = tt_build_eth(buf, sizeof buf, &syn);
    tt_pcap_write(f, t, buf, (uint32_t)n, (uint32_t)n);
    struct tt_seg rst = {.src = "10.0.0.2", .dst = "10.0.0.1", .sport = 443,
                         .dport = syn.sport, .ack = syn.seq + 1,
                         .flags = TA_TCP_RST | TA_TCP_ACK};
    n = tt_build_eth(buf, sizeof buf, &rst);
    tt_pcap_write(f, t + 20000, buf, (uint32_t)n, (uint32_t)n);
  }
  for (uint16_t i = 0; i < 3; i++, t += 100000) {
    struct tt_seg syn = {.src = "10.0.0.1", .dst = "10.0.0.3",
                         .sport = (uint16_t)(50000 + i), .dport = 22,
                         .seq = 77u + i, .flags = TA_TCP_SYN, .win = 1024};
    size_t n = tt_build_eth(buf, sizeof buf, &syn);
    tt_pcap_write(f, t, buf, (uint32_t)n, (uint32_t)n);
  }
  fclose(f);
  char *page = run_format(path, "html", 100);
  json_t *meta = script_json(page, "ta-meta");
  assert_int_equal(json_integer_value(json_object_get(meta, "connections")), 20003);
  assert_int_equal(json_integer_value(json_object_get(meta, "embedded")), 100);
  assert_true(strlen(page) < 400000);
  assert_non_null(strstr(page, "data-count=\"flows.by_scenario.refused\">20000<"));
  json_t *emb = script_json(page, "ta-conns");
  assert_int_equal(json_array_size(emb), 100);
  assert_int_equal(count_scenario(emb, "unanswered", true), 3);
  assert_int_equal(count_scenario(emb, "refused", true), 97);
  json_decref(emb);
  json_decref(meta);
  free(page);
  unlink(path);
  free(path);
}

/* Feeds one hand-made record straight to the reporter. */
static char *page_for(const struct ta_conn *c, const char *input_path,
                      const char *warning) {
  const struct ta_reporter *r = ta_reporter_find("html");
  struct ta_sink sink;
  ta_sink_init_mem(&sink);
  struct ta_report_opts o = {.ts_precision = 6};
  void *st;
  assert_int_equal(r->open(&st, &sink, &o), 0);
  r->on_connection(st, c);
  struct ta_input_info in = {.path = input_path, .format = "pcap",
                             .compression = "none", .packets = 2,
                             .first_ts = c->first_ts, .last_ts = c->last_ts};
  struct ta_counters k = {.total = 2};
  k.by_disposition[TA_DISP_TCP] = 2;
  struct ta_flow_stats fl = {.connections = 1};
  fl.by_scenario[c->scenario] = 1;
  const char *warnings[] = {warning};
  struct ta_summary sum = {.inputs = &in, .n_inputs = 1, .packets = &k,
                           .flows = &fl, .warnings = warnings, .n_warnings = 1,
                           .ts_precision = 6};
  assert_int_equal(r->close(st, &sum), 0);
  char *page = strdup(ta_sink_mem(&sink, NULL));
  ta_sink_close(&sink);
  return page;
}

static void test_report_html_escapes_what_came_from_outside(void **state) {
  (void)state;
  struct ta_conn c;
  memset(&c, 0, sizeof c);
  c.id = 1;
  c.family = 4;
  inet_pton(AF_INET, "192.0.2.1", c.side[0].ip);
  inet_pton(AF_INET, "192.0.2.2", c.side[1].ip);
  c.side[0].port = 1234;
  c.side[1].port = 80;
  c.first_ts = tt_clock_ns("01:02:03.000004");
  c.last_ts = c.first_ts + 1000;
  c.scenario = TA_SC_OTHER;
  c.other_reason = "</script><img src=x onerror=alert(1)>&\xe2\x80\xa8";
  memcpy(c.history, "</ScRiPt>", 9);
  c.history_len = 9;
  c.n_ladder = 1;
  c.ladder[0].flags = TA_TCP_SYN;
  char *page = page_for(&c, "/tmp/<b>x&y'\"z.pcap", "<i>warn</i>");
  /* inside <script>: JSON with <, >, & and U+2028 as \u escapes */
  assert_null(strstr(page, "<img"));
  assert_null(strstr(page, "</ScRiPt>"));
  assert_null(strstr(page, "\xe2\x80\xa8"));
  assert_non_null(strstr(page, "\\u003c/script\\u003e\\u003cimg"));
  assert_non_null(strstr(page, "\\u0026\\u2028"));
  json_t *emb = script_json(page, "ta-conns");
  json_t *e = json_array_get(emb, 0);
  assert_string_equal(json_string_value(json_object_get(e, "reason")),
                      c.other_reason); /* the data itself is intact */
  assert_string_equal(json_string_value(json_object_get(e, "history")), "</ScRiPt>");
  json_decref(emb);
  /* in the markup: entities */
  assert_non_null(strstr(page, "/tmp/&lt;b&gt;x&amp;y&#39;&quot;z.pcap"));
  assert_null(strstr(page, "<b>x&y"));
  assert_non_null(strstr(page, "&lt;i&gt;warn&lt;/i&gt;"));
  assert_null(strstr(page, "<i>warn"));
  /* exactly the scripts the page itself writes */
  size_t scripts = 0;
  for (const char *p = page; (p = strstr(p, "<script")) != NULL; p++)
    scripts++;
  assert_int_equal(scripts, 3);
  free(page);
}

static void test_report_html_escapes_pcapng_text(void **state) {
  (void)state;
  char *path = tt_tmpfile(".pcapng");
  assert_true(tt_write_pcapng_refused(path, "<script>alert(1)</script>&x",
                                      "eth0<b>", "\x1b[31mred\"'"));
  char *page = run_format(path, "html", 0);
  assert_non_null(strstr(page, "comment: <span class=\"mono\">&lt;script&gt;"
                               "alert(1)&lt;/script&gt;&amp;x</span>"));
  assert_non_null(strstr(page, "interface 0: <span class=\"mono\">eth0&lt;b&gt;"
                               " (\xEF\xBF\xBD[31mred&quot;&#39;)"));
  assert_null(strstr(page, "<script>alert"));
  assert_null(strchr(page, '\x1b'));
  free(page);
  /* right-to-left override and a C1 control sequence introducer: not
   * markup, but they reorder or hide what the page shows */
  assert_true(tt_write_pcapng_refused(path, "gpj.\xE2\x80\xAE" "exe", "eth0",
                                      "\xC2\x9B" "2J lan"));
  page = run_format(path, "html", 0);
  assert_null(strstr(page, "\xE2\x80\xAE"));
  assert_null(strstr(page, "\xC2\x9B"));
  assert_non_null(strstr(page, "gpj.\xEF\xBF\xBD" "exe"));
  free(page);
  unlink(path);
  free(path);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_report_html_page_is_self_contained),
      cmocka_unit_test(test_report_html_embeds_the_json_connections),
      cmocka_unit_test(test_report_html_cap_keeps_failures_first),
      cmocka_unit_test(test_report_html_large_capture_stays_bounded),
      cmocka_unit_test(test_report_html_escapes_what_came_from_outside),
      cmocka_unit_test(test_report_html_escapes_pcapng_text),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
