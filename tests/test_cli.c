/* tcpaudit - tests: the command's options, messages and exit codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ta_test_util.h"

#define TD(name) TA_TESTDATA "/" name

static int run(const char *args, char **out, char **err) {
  return tt_run_cli(args, out, err);
}

static void test_cli_help_lists_exit_codes(void **state) {
  (void)state;
  char *out, *err;
  assert_int_equal(run("--help", &out, &err), 0);
  assert_non_null(strstr(out, "usage: tcpaudit report"));
  assert_non_null(strstr(out, "exit codes"));
  assert_non_null(strstr(out, "--filter"));
  free(out);
  free(err);
  assert_int_equal(run("--version", &out, &err), 0);
  assert_non_null(strstr(out, "tcpaudit "));
  free(out);
  free(err);
}

static void test_cli_usage_errors_exit_2(void **state) {
  (void)state;
  const char *cases[] = {"", "report", "frobnicate x.pcap",
                         "report -f nosuch " TD("kernel-completed.pcap"),
                         "report -F 'host and' " TD("kernel-completed.pcap"),
                         "report --max-connections 0 " TD("kernel-completed.pcap"),
                         "report --host 999.1.1.1 " TD("kernel-completed.pcap"),
                         "report --threads 0 " TD("kernel-completed.pcap"),
                         "report -j 65 " TD("kernel-completed.pcap"),
                         "report --bogus " TD("kernel-completed.pcap")};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *out, *err;
    int rc = run(cases[i], &out, &err);
    if (rc != 2)
      fail_msg("'%s' exited %d, not 2", cases[i], rc);
    assert_true(strlen(err) > 0);
    assert_int_equal(strlen(out), 0);
    free(out);
    free(err);
  }
}

/* The command hands --threads to the library: same bytes on stdout. */
static void test_cli_threads_same_report(void **state) {
  (void)state;
  char *one, *many, *err1, *err2;
  assert_int_equal(run("report -f json " TD("sample.pcap"), &one, &err1), 0);
  assert_int_equal(run("report -f json -j 3 " TD("sample.pcap"), &many, &err2),
                   0);
  assert_true(strlen(one) > 1000);
  assert_string_equal(one, many);
  free(one);
  free(many);
  free(err1);
  free(err2);
}

static void test_cli_unreadable_inputs_exit_1(void **state) {
  (void)state;
  char *out, *err;
  assert_int_equal(run("report /nonexistent.pcap", &out, &err), 1);
  assert_non_null(strstr(err, "No such file"));
  assert_null(strchr(strchr(err, '\n') + 1, '\n')); /* one line */
  free(out);
  free(err);
  assert_int_equal(run("report " TD("README.md"), &out, &err), 1);
  assert_non_null(strstr(err, "not a pcap or pcapng capture"));
  free(out);
  free(err);
}

static void test_cli_damaged_input_exit_3_with_report(void **state) {
  (void)state;
  size_t len;
  char *data = tt_slurp(TD("kernel-completed.pcap"), &len);
  char *path = tt_tmpfile(".pcap");
  FILE *f = fopen(path, "wb");
  fwrite(data, 1, len - 10, f);
  fclose(f);
  char args[512], *out, *err;
  snprintf(args, sizeof args, "report %s", path);
  assert_int_equal(run(args, &out, &err), 3);
  assert_non_null(strstr(err, "truncated"));
  json_t *doc = json_loads(out, 0, NULL);
  assert_non_null(doc);
  assert_int_equal(json_integer_value(json_object_get(
                       json_object_get(doc, "packets"), "total")), 9);
  assert_true(json_boolean_value(json_object_get(doc, "damaged")));
  json_decref(doc);
  free(out);
  free(err);
  unlink(path);
  free(path);
  free(data);
}

static void test_cli_output_file_and_stdin(void **state) {
  (void)state;
  char *path = tt_tmpfile(".json"), args[512], *out, *err;
  snprintf(args, sizeof args, "report -o %s " TD("kernel-completed.pcap.gz"), path);
  assert_int_equal(run(args, &out, &err), 0);
  assert_int_equal(strlen(out), 0);
  assert_int_equal(strlen(err), 0); /* no progress when stderr is not a tty */
  char *doc_text = tt_slurp(path, NULL);
  json_t *doc = json_loads(doc_text, 0, NULL);
  assert_non_null(doc);
  assert_int_equal(json_array_size(json_object_get(doc, "connections")), 1);
  json_decref(doc);
  free(doc_text);
  free(out);
  free(err);
  char cmd[1024];
  snprintf(cmd, sizeof cmd, "%s report - < %s > %s", TA_BINARY,
           TD("kernel-completed.pcap.zst"), path);
  assert_int_equal(system(cmd), 0);
  doc_text = tt_slurp(path, NULL);
  doc = json_loads(doc_text, 0, NULL);
  assert_non_null(doc);
  assert_string_equal(json_string_value(json_object_get(
                          json_array_get(json_object_get(doc, "inputs"), 0),
                          "compression")), "zstd");
  json_decref(doc);
  free(doc_text);
  unlink(path);
  free(path);
}

static void test_cli_some_inputs_missing_exit_3(void **state) {
  (void)state;
  char *out, *err;
  assert_int_equal(run("report " TD("kernel-completed.pcap") " /nonexistent.pcap",
                       &out, &err), 3);
  json_t *doc = json_loads(out, 0, NULL);
  assert_non_null(doc);
  assert_int_equal(json_array_size(json_object_get(doc, "inputs")), 2);
  json_decref(doc);
  free(out);
  free(err);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_cli_help_lists_exit_codes),
      cmocka_unit_test(test_cli_usage_errors_exit_2),
      cmocka_unit_test(test_cli_threads_same_report),
      cmocka_unit_test(test_cli_unreadable_inputs_exit_1),
      cmocka_unit_test(test_cli_damaged_input_exit_3_with_report),
      cmocka_unit_test(test_cli_output_file_and_stdin),
      cmocka_unit_test(test_cli_some_inputs_missing_exit_3),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
