/* tcpaudit - tests: no silent loss, over every capture we have.
 * Runs the built command on each capture under testdata/ and the shared
 * corpus (skipped when ../shared/corpus is absent), once with the default
 * table and once with --max-connections 4 so that evictions happen, and
 * checks that nothing crashed, that the packet counters add up to what the
 * readers delivered (and to the packet counts measured independently where
 * we have them), and that every connection created is reported exactly
 * once. Problems are listed for every file before the test fails. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ta_test_util.h"

#define MAX_FILES 4096

struct files {
  char *path[MAX_FILES];
  size_t n;
};

/* Packet counts measured by other tools: capinfos for the shared corpus
 * (MANIFEST.tsv), measure-captures.py for testdata (kernel-expected.json). */
struct oracle {
  char *name[MAX_FILES];
  long long packets[MAX_FILES];
  size_t n;
};

static void files_free(struct files *f) {
  tt_captures_free(f->path, f->n);
  f->n = 0;
}

static void oracle_add(struct oracle *o, const char *name, long long packets) {
  if (o->n < MAX_FILES) {
    o->name[o->n] = strdup(name);
    o->packets[o->n++] = packets;
  }
}

/* Paths in MANIFEST.tsv are relative to the corpus; column 7 is packets. */
static void oracle_manifest(struct oracle *o, const char *corpus) {
  char path[4096];
  snprintf(path, sizeof path, "%s/MANIFEST.tsv", corpus);
  char *text = tt_slurp(path, NULL);
  if (!text)
    return;
  char *save = NULL;
  for (char *line = strtok_r(text, "\n", &save); line;
       line = strtok_r(NULL, "\n", &save)) {
    char *col[8] = {0};
    int n = 0;
    for (char *p = line; n < 8 && p; n++) {
      col[n] = p;
      p = strchr(p, '\t');
      if (p)
        *p++ = 0;
    }
    char *end;
    long long packets = n >= 7 ? strtoll(col[6], &end, 10) : 0;
    if (n >= 7 && end != col[6] && !*end) { /* "-": capinfos could not tell */
      char full[4096];
      snprintf(full, sizeof full, "%s/%s", corpus, col[0]);
      oracle_add(o, full, packets);
    }
  }
  free(text);
}

static void oracle_expected(struct oracle *o, const char *testdata) {
  char path[4096];
  snprintf(path, sizeof path, "%s/kernel-expected.json", testdata);
  json_t *doc = json_load_file(path, 0, NULL);
  const char *name;
  json_t *v;
  json_object_foreach(json_object_get(doc, "files"), name, v) {
    json_t *p = json_object_get(v, "packets");
    if (json_is_integer(p)) {
      snprintf(path, sizeof path, "%s/%s", testdata, name);
      oracle_add(o, path, json_integer_value(p));
    }
  }
  json_decref(doc);
}

static long long oracle_get(const struct oracle *o, const char *path) {
  for (size_t i = 0; i < o->n; i++)
    if (strcmp(o->name[i], path) == 0)
      return o->packets[i];
  return -1;
}

static void oracle_free(struct oracle *o) {
  for (size_t i = 0; i < o->n; i++)
    free(o->name[i]);
  o->n = 0;
}

/* ---- the checks on one report ---- */

struct check {
  const char *path, *mode;
  int problems;
};

static void problem(struct check *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void problem(struct check *c, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  print_error("%s (%s): %s\n", c->path, c->mode, msg);
  c->problems++;
}

static long long num(json_t *obj, const char *key) {
  json_t *v = json_object_get(obj, key);
  return json_is_integer(v) ? (long long)json_integer_value(v) : -1;
}

static int cmp_ll(const void *a, const void *b) {
  long long x = *(const long long *)a, y = *(const long long *)b;
  return x < y ? -1 : x > y;
}

static void check_packets(struct check *c, json_t *doc, long long expect) {
  json_t *k = json_object_get(doc, "packets");
  static const char *const parts[] = {"tcp", "non_tcp", "non_ip",
                                      "fragments", "malformed",
                                      "unsupported_linktype", "filtered_out"};
  long long sum = 0, inputs = 0, mal = 0, total = num(k, "total");
  for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++)
    sum += num(k, parts[i]);
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(doc, "inputs"), i, v)
    inputs += num(v, "packets");
  const char *key;
  json_object_foreach(json_object_get(k, "malformed_by_reason"), key, v)
    mal += json_integer_value(v);
  if (sum != total)
    problem(c, "packet dispositions add up to %lld, total is %lld", sum, total);
  if (inputs != total)
    problem(c, "inputs delivered %lld packets, total is %lld", inputs, total);
  if (mal != num(k, "malformed"))
    problem(c, "malformed reasons add up to %lld, malformed is %lld", mal,
            num(k, "malformed"));
  json_t *in = json_array_get(json_object_get(doc, "inputs"), 0);
  if (expect >= 0 && !json_is_true(json_object_get(in, "damaged")) &&
      num(in, "packets") != expect)
    problem(c, "read %lld packets, other tools count %lld",
            num(in, "packets"), expect);
}

/* Every record created is reported once: ids are exactly 1..connections. */
static void check_connections(struct check *c, json_t *doc, long long cap) {
  json_t *conns = json_object_get(doc, "connections");
  json_t *flows = json_object_get(doc, "flows");
  size_t n = json_array_size(conns);
  long long created = num(flows, "connections");
  if ((long long)n != created)
    problem(c, "%zu connections reported, the table created %lld", n, created);
  long long *ids = calloc(n ? n : 1, sizeof *ids);
  long long evicted = 0;
  size_t i;
  json_t *v;
  json_array_foreach(conns, i, v) {
    ids[i] = num(v, "id");
    const char *why = json_string_value(json_object_get(v, "end_reason"));
    if (why && strcmp(why, "evicted") == 0)
      evicted++;
  }
  qsort(ids, n, sizeof *ids, cmp_ll);
  /* an id is the number of the frame that started the connection */
  long long frames = num(json_object_get(doc, "packets"), "total");
  for (i = 0; i < n; i++)
    if (ids[i] < 1 || ids[i] > frames || (i && ids[i] == ids[i - 1])) {
      problem(c, "connection ids are not distinct frame numbers 1..%lld: "
              "%s %lld", frames,
              i && ids[i] == ids[i - 1] ? "duplicate" : "unexpected", ids[i]);
      break;
    }
  free(ids);
  if (evicted != num(flows, "evicted"))
    problem(c, "%lld connections end evicted, flows.evicted is %lld", evicted,
            num(flows, "evicted"));
  if (cap && num(flows, "peak_open") > cap)
    problem(c, "peak_open %lld is over --max-connections %lld",
            num(flows, "peak_open"), cap);
}

/* Runs one file; returns the report's packet total, or -1. */
static long long check_file(const char *path, long long cap, long long expect,
                            int *problems) {
  struct check c = {.path = path, .mode = cap ? "--max-connections 4"
                                              : "default table"};
  char args[4200];
  snprintf(args, sizeof args, "report --no-progress -f json %s '%s'",
           cap ? "--max-connections 4" : "", path);
  char *out = NULL, *err = NULL;
  int rc = tt_run_cli(args, &out, &err);
  long long total = -1;
  json_error_t jerr;
  json_t *doc = out && out[0] ? json_loads(out, 0, &jerr) : NULL;
  if (rc != 0 && rc != 3)
    problem(&c, "exit code %d: %.300s", rc, err ? err : "");
  else if (!doc)
    problem(&c, "the report is not JSON: %s", out && out[0] ? jerr.text
                                                            : "(empty)");
  else {
    if ((rc == 3) != json_is_true(json_object_get(doc, "damaged")))
      problem(&c, "exit code %d but damaged is %s", rc,
              json_is_true(json_object_get(doc, "damaged")) ? "true" : "false");
    check_packets(&c, doc, expect);
    check_connections(&c, doc, cap);
    total = num(json_object_get(doc, "packets"), "total");
  }
  json_decref(doc);
  free(out);
  free(err);
  *problems += c.problems;
  return total;
}

static void check_all(const struct files *f, const struct oracle *o) {
  int problems = 0;
  size_t compared = 0;
  for (size_t i = 0; i < f->n; i++) {
    long long expect = oracle_get(o, f->path[i]);
    compared += expect >= 0;
    long long a = check_file(f->path[i], 0, expect, &problems);
    long long b = check_file(f->path[i], 4, expect, &problems);
    if (a != b) {
      print_error("%s: %lld packets with the default table, %lld with 4\n",
                  f->path[i], a, b);
      problems++;
    }
  }
  print_message("%zu captures checked (%zu against packet counts from other "
                "tools), %d problem(s)\n", f->n, compared, problems);
  assert_int_equal(problems, 0);
}

static void test_corpus_testdata(void **state) {
  (void)state;
  struct files f = {0};
  struct oracle o = {0};
  f.n = tt_find_captures(TA_TESTDATA, f.path, MAX_FILES);
  assert_true(f.n >= 10);
  oracle_expected(&o, TA_TESTDATA);
  assert_true(o.n >= 10);
  check_all(&f, &o);
  oracle_free(&o);
  files_free(&f);
}

static void test_corpus_shared(void **state) {
  (void)state;
  if (!tt_dir_exists(TA_CORPUS)) {
    print_message("no shared corpus at %s\n", TA_CORPUS);
    skip();
  }
  struct files f = {0};
  struct oracle o = {0};
  f.n = tt_find_captures(TA_CORPUS, f.path, MAX_FILES);
  assert_true(f.n > 0);
  oracle_manifest(&o, TA_CORPUS);
  check_all(&f, &o);
  oracle_free(&o);
  files_free(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_corpus_testdata),
      cmocka_unit_test(test_corpus_shared),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
