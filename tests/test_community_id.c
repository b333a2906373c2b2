/* tcpaudit - tests: Community ID v1 against the spec's reference IDs, both
 * from its table of tuples and from its sample captures run through the
 * whole pipeline and the ndjson reporter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "ta_analyze.h"
#include "ta_community_id.h"
#include "ta_error.h"
#include "ta_test_util.h"

#define CID_DIR TA_CORPUS "/community-id"

static json_t *load_baseline(const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", CID_DIR, name);
  json_error_t jerr;
  json_t *doc = json_load_file(path, 0, &jerr);
  if (!doc)
    fail_msg("%s: %s", path, jerr.text);
  return doc;
}

/* Fills t from one row of the spec's table; false for ICMP rows, whose
 * type/code mapping tcpaudit does not implement. */
static bool tuple_of_row(json_t *row, struct ta_flow_tuple *t) {
  memset(t, 0, sizeof *t);
  t->proto = (uint8_t)json_integer_value(json_object_get(row, "proto"));
  if (t->proto == 1 || t->proto == 58)
    return false;
  const char *s = json_string_value(json_object_get(row, "saddr"));
  const char *d = json_string_value(json_object_get(row, "daddr"));
  if (inet_pton(AF_INET, s, t->src) == 1) {
    t->family = 4;
    assert_int_equal(inet_pton(AF_INET, d, t->dst), 1);
  } else {
    t->family = 6;
    assert_int_equal(inet_pton(AF_INET6, s, t->src), 1);
    assert_int_equal(inet_pton(AF_INET6, d, t->dst), 1);
  }
  json_t *sp = json_object_get(row, "sport");
  t->has_ports = json_is_integer(sp);
  if (t->has_ports) {
    t->sport = (uint16_t)json_integer_value(sp);
    t->dport = (uint16_t)json_integer_value(json_object_get(row, "dport"));
  }
  return true;
}

static void check_table(const char *file, uint16_t seed) {
  json_t *rows = load_baseline(file);
  size_t i, tcp = 0, checked = 0;
  json_t *row;
  json_array_foreach(rows, i, row) {
    struct ta_flow_tuple t;
    if (!tuple_of_row(row, &t))
      continue;
    char id[TA_COMMUNITY_ID_LEN];
    assert_int_equal(ta_community_id(id, sizeof id, seed, &t), 0);
    const char *want = json_string_value(json_object_get(row, "communityid"));
    if (strcmp(id, want) != 0)
      fail_msg("%s row %zu (proto %u): got %s, want %s", file, i, t.proto, id,
               want);
    checked++;
    tcp += t.proto == 6;
  }
  /* the table has TCP over IPv4 and IPv6, each in both directions */
  assert_int_equal(tcp, 4);
  assert_true(checked >= 10);
  json_decref(rows);
}

static void test_community_id_reference_table(void **state) {
  (void)state;
  if (!tt_dir_exists(CID_DIR))
    skip();
  check_table("baseline_deflt.json", 0);
  check_table("baseline_seed1.json", 1);
}

/* The reference ID of a TCP tuple (either direction), or NULL. */
static const char *reference_id(json_t *rows, const char *a, unsigned ap,
                                const char *b, unsigned bp) {
  size_t i;
  json_t *row;
  json_array_foreach(rows, i, row) {
    if (json_integer_value(json_object_get(row, "proto")) != 6)
      continue;
    const char *s = json_string_value(json_object_get(row, "saddr"));
    const char *d = json_string_value(json_object_get(row, "daddr"));
    unsigned sp = (unsigned)json_integer_value(json_object_get(row, "sport"));
    unsigned dp = (unsigned)json_integer_value(json_object_get(row, "dport"));
    if ((!strcmp(s, a) && sp == ap && !strcmp(d, b) && dp == bp) ||
        (!strcmp(s, b) && sp == bp && !strcmp(d, a) && dp == ap))
      return json_string_value(json_object_get(row, "communityid"));
  }
  return NULL;
}

/* Runs one capture through ta_analyze with the ndjson reporter; returns the
 * number of events whose network.community_id matched the reference. */
static size_t check_capture(const char *name, uint16_t seed, json_t *rows) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", CID_DIR, name);
  const char *in[] = {path};
  struct ta_sink sink;
  ta_sink_init_mem(&sink);
  struct ta_config cfg = {.inputs = in, .n_inputs = 1,
                          .reporter = ta_reporter_find("ndjson"), .out = &sink};
  cfg.report.community_id_seed = seed;
  struct ta_result res;
  char err[256];
  assert_int_equal(ta_analyze(&cfg, &res, err, sizeof err), 0);
  char *text = strdup(ta_sink_mem(&sink, NULL));
  size_t matched = 0;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    json_error_t jerr;
    json_t *ev = json_loads(line, 0, &jerr);
    assert_non_null(ev);
    json_t *src = json_object_get(ev, "source");
    json_t *dst = json_object_get(ev, "destination");
    const char *want = reference_id(
        rows, json_string_value(json_object_get(src, "ip")),
        (unsigned)json_integer_value(json_object_get(src, "port")),
        json_string_value(json_object_get(dst, "ip")),
        (unsigned)json_integer_value(json_object_get(dst, "port")));
    const char *got = json_string_value(
        json_object_get(json_object_get(ev, "network"), "community_id"));
    if (!want)
      fail_msg("%s: a connection whose tuple is not in the reference table",
               name);
    assert_non_null(got);
    assert_string_equal(got, want);
    matched++;
    json_decref(ev);
  }
  free(text);
  ta_result_free(&res);
  ta_sink_close(&sink);
  return matched;
}

static void test_community_id_spec_captures(void **state) {
  (void)state;
  if (!tt_dir_exists(CID_DIR))
    skip();
  static const struct {
    const char *baseline;
    uint16_t seed;
  } runs[] = {{"baseline_deflt.json", 0}, {"baseline_seed1.json", 1}};
  for (size_t r = 0; r < 2; r++) {
    json_t *rows = load_baseline(runs[r].baseline);
    assert_int_equal(check_capture("tcp.pcap", runs[r].seed, rows), 1);
    assert_int_equal(check_capture("ipv6.pcap", runs[r].seed, rows), 1);
    /* combined holds both TCP flows among UDP, ICMP and SCTP */
    assert_int_equal(check_capture("combined.pcap.gz", runs[r].seed, rows), 2);
    json_decref(rows);
  }
}

static void test_community_id_same_both_ways(void **state) {
  (void)state;
  struct ta_flow_tuple a = {.family = 4, .proto = 6, .sport = 40000,
                            .dport = 2323, .has_ports = true};
  inet_pton(AF_INET, "127.0.0.1", a.src);
  inet_pton(AF_INET, "127.0.0.1", a.dst);
  struct ta_flow_tuple b = a;
  b.sport = a.dport;
  b.dport = a.sport;
  char x[TA_COMMUNITY_ID_LEN], y[TA_COMMUNITY_ID_LEN], z[TA_COMMUNITY_ID_LEN];
  assert_int_equal(ta_community_id(x, sizeof x, 0, &a), 0);
  assert_int_equal(ta_community_id(y, sizeof y, 0, &b), 0);
  assert_string_equal(x, y); /* equal addresses: the ports decide the order */
  assert_int_equal(strlen(x), TA_COMMUNITY_ID_LEN - 1);
  assert_memory_equal(x, "1:", 2);
  assert_int_equal(ta_community_id(z, sizeof z, 7, &a), 0);
  assert_string_not_equal(x, z);
}

static void test_community_id_rejects_bad_input(void **state) {
  (void)state;
  struct ta_flow_tuple t = {.family = 5, .proto = 6};
  char id[TA_COMMUNITY_ID_LEN];
  assert_int_equal(ta_community_id(id, sizeof id, 0, &t), TA_EINVAL);
  assert_string_equal(id, "");
  t.family = 4;
  assert_int_equal(ta_community_id(id, 10, 0, &t), TA_EINVAL);
  assert_string_equal(id, "");
}

/* The ID's base64 and SHA-1 padding are written by hand: the ID must be
 * libcrypto's digest and base64 of the spec's bytes for any digest and
 * either input length (with ports and without), and the endpoints must be
 * ordered as the spec orders them (bytewise, then by port), also where
 * addresses differ only late or not at all. */
static void test_community_id_matches_libcrypto(void **state) {
  (void)state;
  uint32_t x = 12345;
  for (int i = 0; i < 2000; i++) {
    struct ta_flow_tuple t = {.family = i % 2 ? 6 : 4, .proto = 6,
                              .has_ports = i % 3 != 0};
    size_t alen = t.family == 4 ? 4 : 16;
    for (size_t k = 0; k < alen; k++) {
      x = x * 1103515245u + 12345u;
      t.src[k] = (uint8_t)(x >> 16);
      t.dst[k] = (uint8_t)(x >> 8);
    }
    if (i / 2 % 3 == 1) /* the same address up to its last byte or wholly */
      memcpy(t.dst, t.src, alen - (i / 6 % 2));
    t.sport = (uint16_t)(x >> 3);
    t.dport = (uint16_t)(x >> 13);
    const uint8_t *a = t.src, *b = t.dst;
    uint16_t ap = t.sport, bp = t.dport;
    int order = memcmp(a, b, alen);
    if (order > 0 || (order == 0 && t.has_ports && ap > bp)) {
      a = t.dst;
      b = t.src;
      ap = t.dport;
      bp = t.sport;
    }
    uint16_t seed = (uint16_t)i;
    uint8_t in[40];
    size_t n = 0;
    in[n++] = (uint8_t)(seed >> 8);
    in[n++] = (uint8_t)seed;
    memcpy(in + n, a, alen);
    n += alen;
    memcpy(in + n, b, alen);
    n += alen;
    in[n++] = 6;
    in[n++] = 0;
    if (t.has_ports) {
      in[n++] = (uint8_t)(ap >> 8);
      in[n++] = (uint8_t)ap;
      in[n++] = (uint8_t)(bp >> 8);
      in[n++] = (uint8_t)bp;
    }
    unsigned char md[EVP_MAX_MD_SIZE], b64[32];
    unsigned int mdlen = 0;
    assert_int_equal(EVP_Digest(in, n, md, &mdlen, EVP_sha1(), NULL), 1);
    assert_int_equal(EVP_EncodeBlock(b64, md, (int)mdlen), 28);
    char want[48], got[TA_COMMUNITY_ID_LEN];
    snprintf(want, sizeof want, "1:%s", (const char *)b64);
    assert_int_equal(ta_community_id(got, sizeof got, seed, &t), 0);
    assert_string_equal(got, want);
  }
}

/* The ID written in place is ta_community_id's text, stores nothing past
 * its room, and gives up (NULL) where ta_community_id does. */
static void test_community_id_put_in_place(void **state) {
  (void)state;
  struct ta_flow_tuple t = {.family = 6, .proto = 6, .sport = 443,
                            .dport = 50000, .has_ports = true};
  inet_pton(AF_INET6, "2001:db8::1", t.src);
  inet_pton(AF_INET6, "2001:db8::2", t.dst);
  for (int family = 4; family <= 6; family += 2) {
    t.family = (uint8_t)family;
    char want[TA_COMMUNITY_ID_LEN], room[64];
    assert_int_equal(ta_community_id(want, sizeof want, 9, &t), 0);
    memset(room, '#', sizeof room);
    char *end = ta__community_id_put(room + 1, 9, &t);
    assert_ptr_equal(end, room + TA_COMMUNITY_ID_LEN);
    assert_memory_equal(room + 1, want, TA_COMMUNITY_ID_LEN - 1);
    assert_int_equal(room[0], '#');
    for (size_t i = 1 + TA__COMMUNITY_ID_ROOM; i < sizeof room; i++)
      assert_int_equal(room[i], '#');
  }
  t.family = 5;
  char room[64];
  assert_null(ta__community_id_put(room, 0, &t));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_community_id_reference_table),
      cmocka_unit_test(test_community_id_spec_captures),
      cmocka_unit_test(test_community_id_same_both_ways),
      cmocka_unit_test(test_community_id_rejects_bad_input),
      cmocka_unit_test(test_community_id_matches_libcrypto),
      cmocka_unit_test(test_community_id_put_in_place),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
