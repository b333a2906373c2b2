/* tcpaudit - tests for lib/shard.c: the report made with several threads is
 * byte for byte the one made by a single flow table, in every format, on
 * the project's captures, on a generated capture with many connections
 * open at once, and on the shared corpus when it is present. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ta_analyze.h"
#include "ta_shard.h"
#include "ta_test_util.h"

#define MAX_CAPTURES 4096

static const char *const formats[] = {"json", "ndjson", "text", "html"};

/* Reports on path with 1 and with `threads` threads; returns how many of
 * the formats asked for differ (and names them). */
static int compare_threads(const char *path, unsigned threads, size_t nfmt) {
  const char *inputs[] = {path};
  struct ta_config cfg = {.inputs = inputs, .n_inputs = 1};
  int differ = 0;
  for (size_t f = 0; f < nfmt; f++) {
    int rc1, rcn;
    cfg.threads = 1;
    char *one = tt_report(&cfg, formats[f], &rc1);
    cfg.threads = threads;
    char *many = tt_report(&cfg, formats[f], &rcn);
    assert_non_null(one);
    assert_non_null(many);
    if (rc1 != rcn || strcmp(one, many) != 0) {
      print_message("%s: -f %s differs with %u threads\n", path, formats[f],
                    threads);
      differ++;
    }
    free(one);
    free(many);
  }
  return differ;
}

static void test_shard_same_report_on_testdata(void **state) {
  (void)state;
  char *paths[MAX_CAPTURES];
  size_t n = tt_find_captures(TA_TESTDATA, paths, MAX_CAPTURES);
  assert_true(n >= 10);
  int differ = 0;
  for (size_t i = 0; i < n; i++)
    for (unsigned t = 2; t <= 4; t++)
      differ += compare_threads(paths[i], t, 4);
  tt_captures_free(paths, n);
  assert_int_equal(differ, 0);
}

/* Thousands of connections open at once, with every scenario, so that
 * records of different workers fall due at the same packets. */
static void test_shard_same_report_on_generated_capture(void **state) {
  (void)state;
  char *path = tt_tmpfile(".pcap");
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "'%s' --connections 30000 --seed 7 -o '%s' >/dev/null",
           TA_GEN, path);
  assert_int_equal(system(cmd), 0);
  const char *inputs[] = {path};
  struct ta_config cfg = {.inputs = inputs, .n_inputs = 1};
  int rc;
  char *report = tt_report(&cfg, "json", &rc);
  assert_int_equal(rc, 0);
  assert_non_null(strstr(report, "\"refused\""));
  assert_non_null(strstr(report, "\"unanswered\""));
  free(report);
  assert_int_equal(compare_threads(path, 2, 2), 0);
  assert_int_equal(compare_threads(path, 3, 2), 0);
  remove(path);
  free(path);
}

static void test_shard_same_report_on_corpus(void **state) {
  (void)state;
  if (!tt_dir_exists(TA_CORPUS)) {
    print_message("no shared corpus at %s: skipped\n", TA_CORPUS);
    skip();
  }
  char *paths[MAX_CAPTURES];
  size_t n = tt_find_captures(TA_CORPUS, paths, MAX_CAPTURES);
  int differ = 0;
  for (size_t i = 0; i < n; i++)
    differ += compare_threads(paths[i], 2, 2);
  print_message("%zu corpus captures compared\n", n);
  tt_captures_free(paths, n);
  assert_int_equal(differ, 0);
}

/* The flows block, peak included, adds up over the workers as one table's. */
static void test_shard_counters_match_one_table(void **state) {
  (void)state;
  const char *inputs[] = {TA_TESTDATA "/sample.pcap"};
  struct ta_config cfg = {.inputs = inputs, .n_inputs = 1,
                          .reporter = ta_reporter_find("text")};
  struct ta_result one, many;
  char err[256];
  struct ta_sink sink;
  ta_sink_init_mem(&sink);
  cfg.out = &sink;
  cfg.threads = 1;
  assert_int_equal(ta_analyze(&cfg, &one, err, sizeof err), 0);
  cfg.threads = 3;
  assert_int_equal(ta_analyze(&cfg, &many, err, sizeof err), 0);
  assert_true(one.flows.connections > 5);
  assert_true(one.flows.peak_open > 1);
  assert_memory_equal(&one.flows, &many.flows, sizeof one.flows);
  ta_result_free(&one);
  ta_result_free(&many);
  ta_sink_close(&sink);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_shard_counters_match_one_table),
      cmocka_unit_test(test_shard_same_report_on_testdata),
      cmocka_unit_test(test_shard_same_report_on_generated_capture),
      cmocka_unit_test(test_shard_same_report_on_corpus),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
