/* tcpaudit - tests: the JSON writer's number, time, address and string
 * formatting, each checked against a plain reference (printf, gmtime,
 * inet_ntop) over edge values and many generated ones. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ta_jsonw.h"

/* A fixed xorshift sequence: the same values on every run. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

static void check_u64(uint64_t v) {
  char got[32], want[32];
  *ta__jput_u64(got, v) = 0;
  snprintf(want, sizeof want, "%" PRIu64, v);
  assert_string_equal(got, want);
}

static void test_jsonw_u64_digits(void **state) {
  (void)state;
  uint64_t p = 1;
  check_u64(0);
  check_u64(UINT64_MAX);
  for (int i = 0; i < 20; i++, p *= 10) {
    check_u64(p);
    check_u64(p - 1);
    check_u64(p + 1);
  }
  for (int i = 0; i < 100000; i++)
    check_u64(rnd() >> (rnd() % 64));
}

/* Every number of up to six digits, windows around each power of ten and
 * its ninefold, and long numbers cut at 10^8: each digit count's path,
 * against printf. */
static void test_jsonw_u64_every_short_number(void **state) {
  (void)state;
  for (uint64_t v = 0; v < 1000000; v++)
    check_u64(v);
  uint64_t p = 10;
  for (int i = 1; i < 20; i++, p *= 10)
    for (uint64_t d = 0; d < 2000; d++) {
      check_u64(p - 1000 + d);
      check_u64(p * 9 - 1000 + d > p ? p * 9 - 1000 + d : p);
    }
  for (uint64_t hi = 1; hi < 2000; hi++)
    check_u64(hi * 100000000 + rnd() % 100000000);
}

/* Every block of eight digits that follows a number's leading ones (the
 * fixed-point path, whose rounding must never show): 10^8 + v for each
 * v < 10^8, against a counter kept in decimal. The same fraction gives
 * the digits of every seven- and eight-digit number. */
static void test_jsonw_u64_every_eight_digit_block(void **state) {
  (void)state;
  char want[8] = {'0', '0', '0', '0', '0', '0', '0', '0'}, got[32];
  for (uint32_t v = 0; v < 100000000u; v++) {
    char *e = ta__jput_u64(got, 100000000u + v);
    if (e - got != 9 || got[0] != '1' || memcmp(got + 1, want, 8) != 0) {
      *e = 0;
      fail_msg("%u gave %s", (unsigned)(100000000u + v), got);
    }
    for (int i = 7; i >= 0 && ++want[i] > '9'; i--)
      want[i] = '0';
  }
}

/* The seconds as the writer has always printed them. */
static void secs_reference(char *buf, size_t len, int64_t ns, int digits) {
  uint64_t v = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
  const char *sign = ns < 0 ? "-" : "";
  if (digits == 9)
    snprintf(buf, len, "%s%" PRIu64 ".%09" PRIu64, sign, v / 1000000000u,
             v % 1000000000u);
  else
    snprintf(buf, len, "%s%" PRIu64 ".%06" PRIu64, sign,
             (v + 500) / 1000 / 1000000u, (v + 500) / 1000 % 1000000u);
}

static void check_secs(int64_t ns) {
  char got[64], want[64];
  for (int digits = 6; digits <= 9; digits += 3) {
    ta_secs_format(got, sizeof got, ns, digits);
    secs_reference(want, sizeof want, ns, digits);
    assert_string_equal(got, want);
    char *e = ta__jput_secs(got, ns, digits);
    assert_int_equal((size_t)(e - got), strlen(want));
  }
}

static void test_jsonw_secs_edges_and_rounding(void **state) {
  (void)state;
  static const int64_t edge[] = {0, 1, -1, 499, 500, -499, -500, 999, 1000,
                                 999999499, 999999500, 1000000000,
                                 -999999500, 5013549000LL, INT64_MAX,
                                 99999998500LL, 99999999499LL, /* 10^8 us */
                                 99999999500LL, -99999999500LL,
                                 INT64_MIN, INT64_MIN + 1};
  char b[64];
  for (size_t i = 0; i < sizeof edge / sizeof edge[0]; i++)
    check_secs(edge[i]);
  ta_secs_format(b, sizeof b, 999999500, 6); /* rounds up to a whole second */
  assert_string_equal(b, "1.000000");
  ta_secs_format(b, sizeof b, -1, 6); /* the sign stays on a rounded zero */
  assert_string_equal(b, "-0.000000");
  ta_secs_format(b, sizeof b, INT64_MAX, 9);
  assert_string_equal(b, "9223372036.854775807");
  ta_secs_format(b, sizeof b, 1234567, 6);
  assert_string_equal(b, "0.001235");
  ta_secs_format(b, 4, 1234567, 6); /* cut to the buffer */
  assert_string_equal(b, "0.0");
  for (int i = 0; i < 100000; i++)
    check_secs((int64_t)(rnd() >> (rnd() % 64)) * (i & 1 ? -1 : 1));
  for (int64_t us = 0; us < 1000000; us++) /* every fraction's digits */
    check_secs(us * 1000 + (us % 13) * 1000000000 + (us % 7) * 100);
}

/* Durations under a second take a path of their own: every microsecond
 * below it with the ns that round it down and up, and each ns around
 * where rounding reaches a whole second and the path ends. */
static void test_jsonw_secs_under_a_second(void **state) {
  (void)state;
  for (int64_t us = 0; us < 1000000; us++) {
    check_secs(us * 1000 + 499);
    check_secs(us * 1000 + 500);
  }
  for (int64_t ns = 999997000; ns <= 1000002000; ns++)
    check_secs(ns);
  for (int64_t ns = -2000; ns <= 2000; ns++)
    check_secs(ns);
}

/* Whole microseconds read as seconds: every value up to 2.1 s, the edges
 * of each second and of 32 bits, and random ones, against the ns path. */
static void check_us(uint32_t us) {
  for (int digits = 6; digits <= 9; digits += 3) {
    char got[64], want[64];
    *ta__jput_us(got, us, digits) = 0;
    *ta__jput_secs(want, (int64_t)us * 1000, digits) = 0;
    assert_string_equal(got, want);
  }
}

static void test_jsonw_us_match_secs(void **state) {
  (void)state;
  for (uint32_t us = 0; us < 2100000; us++)
    check_us(us);
  for (uint32_t s = 0; s <= 4294; s++)
    for (uint32_t d = 0; d < 3; d++) {
      check_us(s * 1000000u + d);
      check_us(s * 1000000u + 999999u - d);
    }
  check_us(UINT32_MAX);
  check_us(UINT32_MAX - 1);
  for (int i = 0; i < 200000; i++)
    check_us((uint32_t)rnd() >> (rnd() % 32));
}

/* The timestamp through the C library's calendar. */
static void time_reference(char *buf, size_t len, int64_t ns, int digits) {
  int64_t sec = ns / 1000000000, frac = ns % 1000000000;
  if (frac < 0) {
    frac += 1000000000;
    sec--;
  }
  time_t t = (time_t)sec;
  struct tm tm;
  gmtime_r(&t, &tm);
  char day[32];
  strftime(day, sizeof day, "%Y-%m-%dT%H:%M:%S", &tm);
  if (digits == 9)
    snprintf(buf, len, "%s.%09" PRId64 "Z", day, frac);
  else
    snprintf(buf, len, "%s.%06" PRId64 "Z", day, frac / 1000);
}

static void test_jsonw_time_matches_calendar(void **state) {
  (void)state;
  struct ta_jsonw_memo *m = calloc(1, sizeof *m);
  assert_non_null(m);
  char got[64], want[64], memo[64];
  const int64_t span = 9000000000LL; /* 1684 to 2255: all int64 ns reach */
  int64_t ns = 1009843200000000000LL;
  for (int i = 0; i < 200000; i++) {
    if (i % 3 == 0) /* often the same second, as records are */
      ns = ((int64_t)(rnd() % (2 * (uint64_t)span)) - span) * 1000000000 +
           (int64_t)(rnd() % 1000000000);
    else
      ns += (int64_t)(rnd() % 300000000);
    int digits = i & 1 ? 9 : 6;
    ta_time_format(got, sizeof got, ns, digits);
    time_reference(want, sizeof want, ns, digits);
    assert_string_equal(got, want);
    *ta__jput_time(memo, ns, digits, m) = 0;
    assert_string_equal(memo, want);
  }
  /* first and last times of hosts in turn: the second changes at each
   * call, the day mostly not, across several midnights */
  int64_t fixed = 1705312800123456789LL;
  int64_t t = 1705276800000000000LL - 50000000000LL;
  for (int i = 0; i < 200000; i++) {
    int64_t x = i & 1 ? fixed : (t += 7300000001LL);
    time_reference(want, sizeof want, x, 6);
    *ta__jput_time(memo, x, 6, m) = 0;
    assert_string_equal(memo, want);
  }
  /* a remembered second's ends: its first and last ns and theirs on
   * either side, after one time of it and after another second's */
  static const int64_t second[] = {1705312800000000000LL, 0, -1000000000LL,
                                   -9223372036000000000LL,
                                   9223372035000000000LL};
  static const int64_t off[] = {0, 1, 999999, 999999999, 1000000000,
                                1000000001, -1, -999999999, -1000000000,
                                -1000000001, 1999999999, 2000000000};
  for (size_t i = 0; i < sizeof second / sizeof second[0]; i++)
    for (size_t j = 0; j < sizeof off / sizeof off[0]; j++)
      for (size_t k = 0; k < sizeof off / sizeof off[0]; k++)
        for (int digits = 6; digits <= 9; digits += 3) {
          int64_t a, b;
          if (__builtin_add_overflow(second[i], off[j], &a) ||
              __builtin_add_overflow(second[i], off[k], &b))
            continue; /* past the ends of 64 bits */
          *ta__jput_time(memo, a, digits, m) = 0;
          time_reference(want, sizeof want, a, digits);
          assert_string_equal(memo, want);
          *ta__jput_time(memo, b, digits, m) = 0;
          time_reference(want, sizeof want, b, digits);
          assert_string_equal(memo, want);
        }
  /* before 1970, and the ends of what 64 bits of nanoseconds reach */
  ta_time_format(got, sizeof got, -1, 9);
  assert_string_equal(got, "1969-12-31T23:59:59.999999999Z");
  ta_time_format(got, sizeof got, INT64_MIN, 9);
  assert_string_equal(got, "1677-09-21T00:12:43.145224192Z");
  *ta__jput_time(memo, INT64_MIN, 6, m) = 0;
  assert_string_equal(memo, "1677-09-21T00:12:43.145224Z");
  ta_time_format(got, 8, 0, 6); /* a short buffer gets a cut placeholder */
  assert_string_equal(got, "0000-01");
  ta_time_format(got, sizeof got, 0, 6);
  assert_string_equal(got, "1970-01-01T00:00:00.000000Z");
  ta_time_format(got, sizeof got, INT64_MAX, 9);
  assert_string_equal(got, "2262-04-11T23:47:16.854775807Z");
  free(m);
}

static void check_addr(uint8_t family, const uint8_t *ip) {
  char got[64], want[64];
  ta_addr_format(got, sizeof got, family, ip);
  assert_non_null(inet_ntop(family == 6 ? AF_INET6 : AF_INET, ip, want,
                            sizeof want));
  assert_string_equal(got, want);
}

/* Groups drawn from zero, one, ffff and anything: every shape of zero
 * run, and the IPv4-compatible and mapped forms. */
static void test_jsonw_addresses_match_inet_ntop(void **state) {
  (void)state;
  uint8_t ip[16] = {0};
  check_addr(4, ip);
  check_addr(6, ip);
  memset(ip, 0xff, sizeof ip);
  check_addr(4, ip);
  check_addr(6, ip);
  for (int i = 0; i < 200000; i++) {
    for (int g = 0; g < 8; g++) {
      uint64_t r = rnd();
      unsigned v = r % 4 == 0 ? 0xffff : r % 4 == 1 ? (unsigned)(r >> 8) & 1
                                       : r % 4 == 2 ? 0 : (unsigned)(r >> 16);
      if ((r >> 40) % 3 == 0)
        v &= (unsigned)(r >> 48) & 0xff; /* short groups too */
      ip[2 * g] = (uint8_t)(v >> 8);
      ip[2 * g + 1] = (uint8_t)v;
    }
    check_addr(6, ip);
    check_addr(4, ip + (i % 13));
  }
}

/* Each byte value in each place of a dotted quad (the bytes are copied
 * as whole words of a table), alone and IPv4-mapped. */
static void test_jsonw_every_quad_byte(void **state) {
  (void)state;
  uint8_t ip[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  for (unsigned b = 0; b < 256; b++)
    for (int at = 0; at < 4; at++) {
      uint8_t q[4] = {(uint8_t)(b * 7), (uint8_t)(255 - b), (uint8_t)(b / 3),
                      (uint8_t)(b ^ 0x55)};
      q[at] = (uint8_t)b;
      check_addr(4, q);
      memcpy(ip + 12, q, 4);
      check_addr(6, ip);
    }
}

/* Decodes the one string in out and compares it with want. */
static void assert_json_string(const char *out, size_t n, const char *want,
                               size_t want_len) {
  json_error_t jerr;
  json_t *doc = json_loadb(out, n, JSON_ALLOW_NUL, &jerr);
  if (!doc)
    fail_msg("not JSON: %s", jerr.text);
  json_t *v = json_array_get(doc, 0);
  assert_int_equal(json_string_length(v), want_len);
  assert_memory_equal(json_string_value(v), want, want_len);
  json_decref(doc);
}

/* ASCII text escaped the plain way, one byte at a time, quoted. */
static size_t ascii_reference(char *d, const unsigned char *s, size_t n) {
  char *p = d;
  *p++ = '"';
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '"' || s[i] == '\\') {
      *p++ = '\\';
      *p++ = (char)s[i];
    } else if (s[i] < 0x20 || s[i] == 0x7f) {
      p += sprintf(p, "\\u%04x", s[i]);
    } else {
      *p++ = (char)s[i];
    }
  }
  *p++ = '"';
  return (size_t)(p - d);
}

/* s[0..n) through ta__jput_str against the reference, and no byte
 * written past its end. */
static void check_ascii_str(const unsigned char *s, size_t n) {
  char got[6 * 64 + 16], want[6 * 64 + 16];
  memset(got, '#', sizeof got);
  char *e = ta__jput_str(got, (const char *)s, n);
  size_t wn = ascii_reference(want, s, n);
  assert_int_equal((size_t)(e - got), wn);
  assert_memory_equal(got, want, wn);
  assert_int_equal(got[wn], '#');
}

/* Short strings and the ends of longer ones take a word-wide test: each
 * length up to 24 with each byte that needs escaping (and each plain edge)
 * at each place, and random mixes. */
static void test_jsonw_short_strings_escape(void **state) {
  (void)state;
  static const unsigned char special[] = {'"', '\\', 0x00, 0x01, 0x1f, 0x7f,
                                          ' ', '~', '!', '#', '[', ']'};
  unsigned char s[64];
  for (size_t n = 0; n <= 24; n++) {
    memset(s, 'a', sizeof s);
    check_ascii_str(s, n);
    for (size_t at = 0; at < n; at++)
      for (size_t k = 0; k < sizeof special; k++) {
        memset(s, 'a', sizeof s);
        s[at] = special[k];
        check_ascii_str(s, n);
      }
  }
  for (int i = 0; i < 200000; i++) {
    size_t n = rnd() % 40;
    for (size_t j = 0; j < n; j++)
      s[j] = rnd() % 4 ? (unsigned char)(0x20 + rnd() % 0x5f)
                       : special[rnd() % sizeof special];
    check_ascii_str(s, n);
  }
  /* UTF-8 in a short tail stays as is */
  static const char *utf8[] = {"\xc3\xa9", "a\xe2\x82\xac", ("\xf0\x9f\x98\x80" "ab"),
                               "Linux\xc3\xa9", "abcdefgh\xe2\x82\xac"};
  for (size_t i = 0; i < sizeof utf8 / sizeof utf8[0]; i++) {
    char got[128];
    size_t n = strlen(utf8[i]);
    got[0] = '[';
    char *e = ta__jput_str(got + 1, utf8[i], n);
    *e++ = ']';
    assert_json_string(got, (size_t)(e - got), utf8[i], n);
  }
}

/* Long text is escaped in pieces: a UTF-8 sequence across a piece's end
 * must stay whole, and a stray continuation byte must still be replaced. */
static void test_jsonw_long_strings_keep_utf8(void **state) {
  (void)state;
  static char text[3000];
  for (size_t at = 1015; at <= 1030; at++)
    for (int kind = 0; kind < 3; kind++) {
      memset(text, 'x', sizeof text);
      static const char *seq[] = {"\xe2\x82\xac", "\xf0\x9f\x98\x80", "\x80"};
      size_t sl = strlen(seq[kind]);
      memcpy(text + at, seq[kind], sl);
      memcpy(text + at + 1000, seq[kind], sl);
      struct ta_sink sink;
      ta_sink_init_mem(&sink);
      struct ta_jsonw w;
      ta_jsonw_init(&w, &sink, 0, 6);
      ta_jsonw_arr_begin(&w);
      ta_jsonw_strn(&w, text, sizeof text);
      ta_jsonw_arr_end(&w);
      size_t n;
      const char *out = ta_sink_mem(&sink, &n);
      if (kind < 2) {
        assert_json_string(out, n, text, sizeof text);
      } else { /* each lone continuation byte becomes U+FFFD */
        char want[sizeof text + 4];
        memcpy(want, text, at);
        memcpy(want + at, "\xef\xbf\xbd", 3);
        memcpy(want + at + 3, text + at + 1, 999);
        memcpy(want + at + 1002, "\xef\xbf\xbd", 3);
        memcpy(want + at + 1005, text + at + 1001, sizeof text - at - 1001);
        assert_json_string(out, n, want, sizeof text + 4);
      }
      ta_sink_close(&sink);
    }
}

/* A line break and indentation at each level, at most 128 spaces. */
static void pad_reference(char **p, int n) {
  if (n > 128)
    n = 128;
  *(*p)++ = '\n';
  memset(*p, ' ', (size_t)n);
  *p += n;
}

/* Nested arrays broken into lines at every level, short and deep
 * indentation, against the layout written by hand. */
static void test_jsonw_indentation(void **state) {
  (void)state;
  enum { D = 30 };
  for (int indent = 1; indent <= 6; indent++) {
    struct ta_sink sink;
    ta_sink_init_mem(&sink);
    struct ta_jsonw w;
    ta_jsonw_init(&w, &sink, indent, 6);
    for (int i = 0; i < D; i++)
      ta_jsonw_arr_begin(&w);
    ta_jsonw_u64(&w, 1);
    ta_jsonw_u64(&w, 2);
    for (int i = 0; i < D; i++)
      ta_jsonw_arr_end(&w);
    static char want[D * 300];
    char *p = want;
    for (int i = 0; i < D; i++) {
      if (i)
        pad_reference(&p, i * indent);
      *p++ = '[';
    }
    pad_reference(&p, D * indent);
    *p++ = '1';
    *p++ = ',';
    pad_reference(&p, D * indent);
    *p++ = '2';
    for (int i = D - 1; i >= 0; i--) {
      pad_reference(&p, i * indent);
      *p++ = ']';
    }
    *p = 0;
    assert_string_equal(ta_sink_mem(&sink, NULL), want);
    ta_sink_close(&sink);
  }
}

/* Room is always given: a FILE sink drains its buffer to make it. */
static void test_jsonw_sink_room(void **state) {
  (void)state;
  FILE *f = tmpfile();
  assert_non_null(f);
  struct ta_sink *s = malloc(sizeof *s);
  assert_non_null(s);
  ta_sink_init_file(s, f);
  for (int i = 0; i < 100; i++) {
    char *d = ta_sink_room(s, 5000);
    assert_non_null(d);
    memset(d, 'a' + i % 26, 1000);
    ta_sink_room_done(s, d, d + 1000);
  }
  assert_int_equal(ta_sink_close(s), 0);
  assert_int_equal(ftell(f), 100000);
  rewind(f);
  char b[1000];
  for (int i = 0; i < 100; i++) {
    assert_int_equal(fread(b, 1, sizeof b, f), sizeof b);
    assert_int_equal(b[0], 'a' + i % 26);
    assert_int_equal(b[999], 'a' + i % 26);
  }
  fclose(f);
  ta_sink_init_mem(s);
  char *d = ta_sink_room(s, 8000);
  d = TA_JPUT_LIT(d, "[1,2]");
  ta_sink_room_done(s, d - 5, d);
  assert_string_equal(ta_sink_mem(s, NULL), "[1,2]");
  ta_sink_close(s);
  free(s);
}

static void test_jsonw_memo_slots(void **state) {
  (void)state;
  struct ta_jsonw_memo *m = calloc(1, sizeof *m);
  assert_non_null(m);
  bool hit;
  uint8_t key[TA_JSONW_MEMO_KEY] = {1, 2, 3};
  struct ta_jsonw_memo_slot *s = ta_jsonw_memo_find(m, key, 8, &hit);
  assert_false(hit);
  s->key_len = 8;
  memcpy(s->key, key, 8);
  assert_ptr_equal(ta_jsonw_memo_find(m, key, 8, &hit), s);
  assert_true(hit);
  ta_jsonw_memo_find(m, key, 16, &hit); /* a longer key is another key */
  assert_false(hit);
  key[7] = 4; /* so is one differing in its last byte */
  ta_jsonw_memo_find(m, key, 8, &hit);
  assert_false(hit);
  free(m);
}

static void fill(struct ta_jsonw_memo_slot *s, const uint8_t *key,
                 const char *text) {
  s->key_len = 8;
  memcpy(s->key, key, 8);
  s->text_len = (uint16_t)strlen(text);
  memcpy(s->text, text, s->text_len);
}

/* Keys of one hash share a pair of slots: the two newest both stay, each
 * with its own text, and a third drives out the older. */
static void test_jsonw_memo_two_ways(void **state) {
  (void)state;
  struct ta_jsonw_memo *m = calloc(1, sizeof *m);
  assert_non_null(m);
  bool hit;
  const uint64_t h = 12345;
  uint8_t a[8] = {1}, b[8] = {2}, c[8] = {3};
  fill(ta_jsonw_memo_at(m, h, a, 8, &hit), a, "a");
  assert_false(hit);
  fill(ta_jsonw_memo_at(m, h, b, 8, &hit), b, "bb");
  assert_false(hit);
  for (int i = 0; i < 3; i++) {
    struct ta_jsonw_memo_slot *s = ta_jsonw_memo_at(m, h, a, 8, &hit);
    assert_true(hit);
    assert_int_equal(s->text_len, 1);
    assert_memory_equal(s->text, "a", 1);
    s = ta_jsonw_memo_at(m, h, b, 8, &hit);
    assert_true(hit);
    assert_int_equal(s->text_len, 2);
    assert_memory_equal(s->text, "bb", 2);
  }
  fill(ta_jsonw_memo_at(m, h, c, 8, &hit), c, "ccc");
  assert_false(hit);
  ta_jsonw_memo_at(m, h, b, 8, &hit);
  assert_true(hit);
  ta_jsonw_memo_at(m, h, c, 8, &hit);
  assert_true(hit);
  ta_jsonw_memo_at(m, h, a, 8, &hit); /* the oldest went */
  assert_false(hit);
  free(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_jsonw_u64_digits),
      cmocka_unit_test(test_jsonw_u64_every_short_number),
      cmocka_unit_test(test_jsonw_u64_every_eight_digit_block),
      cmocka_unit_test(test_jsonw_secs_edges_and_rounding),
      cmocka_unit_test(test_jsonw_secs_under_a_second),
      cmocka_unit_test(test_jsonw_us_match_secs),
      cmocka_unit_test(test_jsonw_time_matches_calendar),
      cmocka_unit_test(test_jsonw_addresses_match_inet_ntop),
      cmocka_unit_test(test_jsonw_every_quad_byte),
      cmocka_unit_test(test_jsonw_short_strings_escape),
      cmocka_unit_test(test_jsonw_long_strings_keep_utf8),
      cmocka_unit_test(test_jsonw_indentation),
      cmocka_unit_test(test_jsonw_sink_room),
      cmocka_unit_test(test_jsonw_memo_slots),
      cmocka_unit_test(test_jsonw_memo_two_ways),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
