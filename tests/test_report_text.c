/* tcpaudit - tests: the text reporter, the per-host view it shares with the
 * JSON report (scan suspects, --host narrowing), and the command's default
 * format on a terminal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <pty.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ta_analyze.h"
#include "ta_error.h"
#include "ta_packet.h"
#include "ta_test_util.h"

#define TD(name) TA_TESTDATA "/" name


struct run_out {
  char *text;
  int rc;
};

static struct run_out run_paths(const char *const *in, size_t n, const char *fmt,
                                const struct ta_cidr *hosts, size_t n_hosts) {
  struct ta_config cfg = {.inputs = in, .n_inputs = n, .hosts = hosts,
                          .n_hosts = n_hosts};
  struct run_out r;
  r.text = tt_report(&cfg, fmt, &r.rc);
  assert_non_null(r.text);
  return r;
}

static char *text_of(const char *path) {
  const char *in[] = {path};
  struct run_out r = run_paths(in, 1, "text", NULL, 0);
  assert_int_equal(r.rc, 0);
  return r.text;
}

static void test_report_text_counts_and_notable_connections(void **state) {
  (void)state;
  char *t = text_of(TD("sample.pcap"));
  const char *in[] = {TD("sample.pcap")};
  struct run_out js = run_paths(in, 1, "json", NULL, 0);
  json_t *doc = json_loads(js.text, 0, NULL);
  json_t *by = json_object_get(json_object_get(doc, "flows"), "by_scenario");
  assert_true(json_object_size(by) >= 5);
  const char *name;
  json_t *v;
  json_object_foreach(by, name, v) {
    /* "  refused        3  30.0%" */
    char want[96];
    snprintf(want, sizeof want, "  %-22s %10lld ", name,
             (long long)json_integer_value(v));
    if (!strstr(t, want))
      fail_msg("no line '%s' in:\n%s", want, t);
  }
  assert_non_null(strstr(t, "tcpaudit " TA_VERSION ": 1 input, "));
  assert_non_null(strstr(t, "127.0.0.1:40001 -> 127.0.0.1:2324"));
  /* each connection that did not complete is listed with its summary */
  size_t i;
  json_t *c;
  json_array_foreach(json_object_get(doc, "connections"), i, c) {
    const char *sc = json_string_value(json_object_get(c, "scenario"));
    if (!strcmp(sc, "completed"))
      continue;
    char want[256];
    snprintf(want, sizeof want, "#%-6lld ", (long long)json_integer_value(
                                                json_object_get(c, "id")));
    const char *line = strstr(t, want);
    if (!line)
      fail_msg("connection %s is not listed in:\n%s", want, t);
    const char *eol = strchr(line, '\n');
    const char *sum = strstr(line, json_string_value(json_object_get(c, "summary")));
    assert_true(sum && sum < eol);
    assert_true(strstr(line, sc) < eol);
  }
  /* 3 refused and 1 unanswered from the client */
  assert_non_null(strstr(t, "4 failed (3 refused, 1 unanswered)"));
  /* completed connections are not "notable" */
  assert_null(strstr(t, "completed; "));
  json_decref(doc);
  free(js.text);
  free(t);
}

static void copy_file(const char *from, const char *to, size_t max) {
  size_t len;
  char *data = tt_slurp(from, &len);
  assert_non_null(data);
  FILE *f = fopen(to, "wb");
  assert_non_null(f);
  fwrite(data, 1, len < max ? len : max, f);
  fclose(f);
  free(data);
}

static void test_report_text_escape_sequences_come_out_inert(void **state) {
  (void)state;
  /* file names are bytes too: a clear-screen, a title change with BEL, a C1
   * CSI, a right-to-left override and an invalid byte */
  char path[256];
  snprintf(path, sizeof path, "/tmp/tcpaudit-test-%d-\x1b[2J\x1b]0;x\x07"
           "\xc2\x9b" "31m\xe2\x80\xae\xff.pcap", (int)getpid());
  /* cut short, so the damage warning repeats the name */
  copy_file(TD("kernel-refused.pcap"), path, 200);
  char *t = text_of(path);
  assert_null(strchr(t, '\x1b'));
  assert_null(strchr(t, '\x07'));
  assert_null(strstr(t, "\xc2\x9b"));
  assert_null(strstr(t, "\xe2\x80\xae"));
  assert_null(strchr(t, '\xff'));
  assert_non_null(strstr(t, "\\x1b[2J"));
  assert_non_null(strstr(t, "\\u{009b}31m\\u{202e}\\xff.pcap"));
  assert_non_null(strstr(t, "warnings\n"));
  /* nothing in the whole report but printable text and newlines */
  for (const unsigned char *p = (const unsigned char *)t; *p; p++)
    assert_true(*p == '\n' || (*p >= 0x20 && *p < 0x7f));
  unlink(path);
  free(t);
  /* text inside the capture: a pcapng comment that would set the clipboard */
  char *ng = tt_tmpfile(".pcapng");
  assert_true(tt_write_pcapng_refused(ng, "\x1b]52;c;aGk=\x07 and \x1b[2J",
                                      "eth0", "lan"));
  t = text_of(ng);
  assert_null(strchr(t, '\x1b'));
  assert_non_null(strstr(t, "    comment: \\x1b]52;c;aGk=\\x07 and \\x1b[2J\n"));
  unlink(ng);
  free(ng);
  free(t);
}

/* A scanner, 10.9.9.9, sends one SYN to each of 40 ports of 10.1.1.1: the
 * even ports answer RST/ACK, the odd ones never answer. 10.2.2.2 makes one
 * ordinary connection to port 80 and one refused attempt to port 81. */
static char *write_scan_capture(void) {
  char *path = tt_tmpfile(".pcap");
  FILE *f = tt_pcap_create(path, 1, 65535);
  assert_non_null(f);
  uint8_t buf[256];
  int64_t t = tt_clock_ns("10:00:00.000000");
  size_t n;
  for (uint16_t i = 0; i < 40; i++, t += 10000000) {
    uint16_t port = (uint16_t)(1000 + i);
    struct tt_seg syn = {.src = "10.9.9.9", .dst = "10.1.1.1", .sport = 50000,
                         .dport = port, .seq = 1000u * i + 7,
                         .flags = TA_TCP_SYN, .win = 1024};
    n = tt_build_eth(buf, sizeof buf, &syn);
    tt_pcap_write(f, t, buf, (uint32_t)n, (uint32_t)n);
    if (i % 2 == 0) {
      struct tt_seg rst = {.src = "10.1.1.1", .dst = "10.9.9.9", .sport = port,
                           .dport = 50000, .ack = syn.seq + 1,
                           .flags = TA_TCP_RST | TA_TCP_ACK};
      n = tt_build_eth(buf, sizeof buf, &rst);
      tt_pcap_write(f, t + 50000, buf, (uint32_t)n, (uint32_t)n);
    }
  }
  const struct {
    bool from_client;
    uint8_t flags;
    uint32_t seq, ack, len;
  } story[] = {{true, TA_TCP_SYN, 100, 0, 0},
               {false, TA_TCP_SYN | TA_TCP_ACK, 900, 101, 0},
               {true, TA_TCP_ACK, 101, 901, 0},
               {true, TA_TCP_PSH | TA_TCP_ACK, 101, 901, 10},
               {false, TA_TCP_PSH | TA_TCP_ACK, 901, 111, 20},
               {true, TA_TCP_FIN | TA_TCP_ACK, 111, 921, 0},
               {false, TA_TCP_FIN | TA_TCP_ACK, 921, 112, 0},
               {true, TA_TCP_ACK, 112, 922, 0}};
  for (size_t i = 0; i < sizeof story / sizeof story[0]; i++, t += 1000000) {
    struct tt_seg s = {.src = story[i].from_client ? "10.2.2.2" : "10.1.1.1",
                       .dst = story[i].from_client ? "10.1.1.1" : "10.2.2.2",
                       .sport = story[i].from_client ? 41000 : 80,
                       .dport = story[i].from_client ? 80 : 41000,
                       .seq = story[i].seq, .ack = story[i].ack,
                       .flags = story[i].flags, .win = 500,
                       .payload_len = story[i].len};
    n = tt_build_eth(buf, sizeof buf, &s);
    tt_pcap_write(f, t, buf, (uint32_t)n, (uint32_t)n);
  }
  struct tt_seg syn = {.src = "10.2.2.2", .dst = "10.1.1.1", .sport = 41001,
                       .dport = 81, .seq = 5, .flags = TA_TCP_SYN, .win = 500};
  n = tt_build_eth(buf, sizeof buf, &syn);
  tt_pcap_write(f, t, buf, (uint32_t)n, (uint32_t)n);
  struct tt_seg rst = {.src = "10.1.1.1", .dst = "10.2.2.2", .sport = 81,
                       .dport = 41001, .ack = 6, .flags = TA_TCP_RST | TA_TCP_ACK};
  n = tt_build_eth(buf, sizeof buf, &rst);
  tt_pcap_write(f, t + 100000, buf, (uint32_t)n, (uint32_t)n);
  fclose(f);
  return path;
}

static json_t *host_by_ip(json_t *doc, const char *ip) {
  size_t i;
  json_t *h;
  json_array_foreach(json_object_get(doc, "hosts"), i, h) {
    if (!strcmp(json_string_value(json_object_get(h, "ip")), ip))
      return h;
  }
  return NULL;
}

static json_int_t role_count(json_t *h, const char *role, const char *sc) {
  return json_integer_value(json_object_get(
      json_object_get(json_object_get(h, role), "by_scenario"), sc));
}

static json_t *json_report(const char *path, const char *host, struct run_out *text) {
  const char *in[] = {path};
  struct ta_cidr cidr;
  if (host)
    assert_int_equal(ta_cidr_parse(host, &cidr), 0);
  struct run_out r = run_paths(in, 1, "json", host ? &cidr : NULL, host ? 1 : 0);
  assert_int_equal(r.rc, 0);
  json_t *doc = json_loads(r.text, 0, NULL);
  assert_non_null(doc);
  free(r.text);
  if (text)
    *text = run_paths(in, 1, "text", host ? &cidr : NULL, host ? 1 : 0);
  return doc;
}

static void test_report_text_scanner_flagged_and_host_narrows(void **state) {
  (void)state;
  char *path = write_scan_capture();
  struct run_out text;
  json_t *doc = json_report(path, NULL, &text);
  json_t *scanner = host_by_ip(doc, "10.9.9.9");
  assert_non_null(scanner);
  assert_true(json_is_true(json_object_get(scanner, "scan_suspect")));
  assert_int_equal(json_integer_value(json_object_get(scanner, "failed_attempts")), 40);
  assert_int_equal(role_count(scanner, "as_originator", "refused"), 20);
  assert_int_equal(role_count(scanner, "as_originator", "unanswered"), 20);
  json_t *client = host_by_ip(doc, "10.2.2.2");
  assert_non_null(client);
  assert_false(json_is_true(json_object_get(client, "scan_suspect")));
  assert_int_equal(json_integer_value(json_object_get(client, "failed_attempts")), 1);
  json_t *server = host_by_ip(doc, "10.1.1.1");
  assert_int_equal(role_count(server, "as_responder", "completed"), 1);
  assert_false(json_is_true(json_object_get(server, "scan_suspect")));
  /* the text report ranks the scanner first and says so */
  char *top = strstr(text.text, "hosts with the most failed attempts");
  assert_non_null(top);
  assert_non_null(strstr(top, "\n  10.9.9.9 "));
  assert_true(strstr(top, "10.9.9.9") < strstr(top, "10.2.2.2"));
  assert_non_null(strstr(top, "40 failed (20 refused, 20 unanswered)"));
  assert_non_null(strstr(top, "SCAN SUSPECT"));
  free(text.text);
  json_decref(doc);

  /* --host 10.2.2.2: only that client's connections and their hosts */
  doc = json_report(path, "10.2.2.2", &text);
  assert_null(host_by_ip(doc, "10.9.9.9"));
  assert_non_null(host_by_ip(doc, "10.2.2.2"));
  assert_int_equal(json_array_size(json_object_get(doc, "connections")), 2);
  assert_int_equal(json_array_size(json_object_get(doc, "hosts")), 2);
  assert_null(strstr(text.text, "SCAN SUSPECT"));
  assert_null(strstr(text.text, "10.9.9.9"));
  free(text.text);
  json_decref(doc);

  /* --host 10.9.9.0/24: the scan alone, still flagged */
  doc = json_report(path, "10.9.9.0/24", NULL);
  assert_int_equal(json_array_size(json_object_get(doc, "connections")), 40);
  assert_null(host_by_ip(doc, "10.2.2.2"));
  assert_true(json_is_true(json_object_get(host_by_ip(doc, "10.9.9.9"),
                                           "scan_suspect")));
  json_decref(doc);
  unlink(path);
  free(path);
}

static void test_report_text_real_syn_scan_is_flagged(void **state) {
  (void)state;
  const char *path = TA_CORPUS "/other/chrissanders-packets/synscan.pcapng";
  if (access(path, R_OK) != 0)
    skip();
  json_t *doc = json_report(path, NULL, NULL);
  json_t *scanner = host_by_ip(doc, "172.16.0.8");
  assert_non_null(scanner);
  assert_true(json_is_true(json_object_get(scanner, "scan_suspect")));
  assert_true(json_integer_value(json_object_get(scanner, "failed_attempts")) > 900);
  assert_false(json_is_true(json_object_get(host_by_ip(doc, "64.13.134.52"),
                                            "scan_suspect")));
  json_decref(doc);
  /* narrowed to the target, the scanner is still there as its peer */
  doc = json_report(path, "64.13.134.52/32", NULL);
  assert_true(json_is_true(json_object_get(host_by_ip(doc, "172.16.0.8"),
                                           "scan_suspect")));
  json_decref(doc);
}

/* Runs the command on a pseudo-terminal and returns what it printed. */
static char *run_on_terminal(const char *arg) {
  int master;
  pid_t pid = forkpty(&master, NULL, NULL, NULL);
  assert_true(pid >= 0);
  if (pid == 0) {
    execl(TA_BINARY, TA_BINARY, "report", "--no-progress", arg, (char *)NULL);
    _exit(127);
  }
  size_t cap = 1 << 16, len = 0;
  char *out = malloc(cap);
  ssize_t r;
  while (len < cap - 1 && (r = read(master, out + len, cap - 1 - len)) > 0)
    len += (size_t)r;
  out[len] = 0;
  int st;
  waitpid(pid, &st, 0);
  close(master);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  return out;
}

static void test_report_text_is_the_default_on_a_terminal(void **state) {
  (void)state;
  char *tty = run_on_terminal(TD("kernel-refused.pcap"));
  assert_non_null(strstr(tty, "tcpaudit " TA_VERSION ": 1 input"));
  assert_non_null(strstr(tty, "connections by scenario"));
  free(tty);
  char *out, *err;
  assert_int_equal(tt_run_cli("report " TD("kernel-refused.pcap"), &out, &err), 0);
  assert_int_equal(out[0], '{'); /* not a terminal: JSON */
  free(out);
  free(err);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_report_text_counts_and_notable_connections),
      cmocka_unit_test(test_report_text_escape_sequences_come_out_inert),
      cmocka_unit_test(test_report_text_scanner_flagged_and_host_narrows),
      cmocka_unit_test(test_report_text_real_syn_scan_is_flagged),
      cmocka_unit_test(test_report_text_is_the_default_on_a_terminal),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
