/* tcpaudit - reporters: streaming JSON writer and time/address formatting.
 * Replaces a DOM library on the per-connection path: formatting a record
 * directly is several times cheaper than building and dumping a tree. */
#include "ta_jsonw.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void ta_jsonw_init(struct ta_jsonw *w, struct ta_sink *out, int indent,
                   int digits) {
  memset(w, 0, sizeof *w);
  w->out = out;
  w->indent = indent;
  w->digits = digits == 9 ? 9 : 6;
  w->first[0] = true;
  w->pretty_depth = TA_JSONW_MAX_DEPTH;
}

void ta_jsonw_set_pretty_depth(struct ta_jsonw *w, int depth) {
  w->pretty_depth = depth;
}

static void newline(struct ta_jsonw *w) {
  if (!w->indent || w->depth > w->pretty_depth)
    return;
  char pad[1 + TA_JSONW_MAX_DEPTH * 4];
  int n = w->depth * w->indent;
  if (n > (int)sizeof pad - 1)
    n = (int)sizeof pad - 1;
  pad[0] = '\n';
  memset(pad + 1, ' ', (size_t)n);
  ta_sink_write(w->out, pad, (size_t)n + 1);
}

/* Comma and indentation before a value or key at the current level. */
static void sep(struct ta_jsonw *w) {
  if (w->after_key) {
    w->after_key = false;
    return;
  }
  if (!w->first[w->depth])
    ta_sink_write(w->out, ",", 1);
  if (w->depth > 0)
    newline(w);
  w->first[w->depth] = false;
}

static void open_level(struct ta_jsonw *w, char c) {
  sep(w);
  ta_sink_write(w->out, &c, 1);
  if (w->depth < TA_JSONW_MAX_DEPTH - 1)
    w->depth++;
  w->first[w->depth] = true;
}

static void close_level(struct ta_jsonw *w, char c) {
  bool empty = w->first[w->depth];
  bool broken = w->depth <= w->pretty_depth; /* its elements had lines */
  if (w->depth > 0)
    w->depth--;
  if (!empty && broken)
    newline(w);
  ta_sink_write(w->out, &c, 1);
}

void ta_jsonw_obj_begin(struct ta_jsonw *w) { open_level(w, '{'); }
void ta_jsonw_obj_end(struct ta_jsonw *w) { close_level(w, '}'); }
void ta_jsonw_arr_begin(struct ta_jsonw *w) { open_level(w, '['); }
void ta_jsonw_arr_end(struct ta_jsonw *w) { close_level(w, ']'); }

/* Length of a valid UTF-8 sequence at s (1..4), or 0 if invalid. */
static size_t utf8_len(const unsigned char *s, size_t n) {
  unsigned char c = s[0];
  size_t len = c < 0xC2 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : c < 0xF5 ? 4 : 0;
  if (len == 0 || len > n)
    return 0;
  for (size_t i = 1; i < len; i++)
    if ((s[i] & 0xC0) != 0x80)
      return 0;
  if (c == 0xE0 && s[1] < 0xA0)
    return 0; /* overlong */
  if (c == 0xED && s[1] >= 0xA0)
    return 0; /* surrogate */
  if (c == 0xF0 && s[1] < 0x90)
    return 0;
  if (c == 0xF4 && s[1] >= 0x90)
    return 0;
  return len;
}

static bool plain_ascii(unsigned char c) {
  return c >= 0x20 && c < 0x7f && c != '"' && c != '\\';
}

/* Whether any of the 8 bytes in x needs escaping (a control byte, DEL or
 * above, '"' or '\\'), eight at a time: with the high bit clear, adding
 * 0x60 carries into it exactly for bytes under 0x20, adding 0x01 for 0x7f;
 * a byte equal to '"' or '\\' is found as a zero after xor. */
static bool word_needs_escape(uint64_t x) {
  const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
  uint64_t low7 = x & ~high;
  uint64_t ctl = ~(low7 + 0x6060606060606060ull) & ~x & high;
  uint64_t del = (low7 + ones) & high;
  uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
  uint64_t quote = (q - ones) & ~q & high, bslash = (b - ones) & ~b & high;
  return (x & high) | ctl | del | quote | bslash;
}

/* The common string that needs no escape (names, addresses, summaries),
 * copied and quoted in one pass; false when it needs the general path. */
static bool write_plain_short(struct ta_sink *out, const char *s, size_t n) {
  if (n > 254)
    return false;
  char *d = ta_sink_reserve(out, n + 2);
  if (!d)
    return false;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t x;
    memcpy(&x, s + i, 8);
    if (word_needs_escape(x))
      return false;
    memcpy(d + 1 + i, &x, 8);
  }
  for (; i < n; i++) {
    if (!plain_ascii((unsigned char)s[i]))
      return false;
    d[i + 1] = s[i];
  }
  d[0] = '"';
  d[n + 1] = '"';
  ta_sink_commit(out, n + 2);
  return true;
}

static void write_escaped(struct ta_sink *out, const char *s, size_t n) {
  if (write_plain_short(out, s, n))
    return;
  const unsigned char *p = (const unsigned char *)s;
  size_t run = 0; /* start of bytes that need no escape */
  ta_sink_write(out, "\"", 1);
  for (size_t i = 0; i < n;) {
    unsigned char c = p[i];
    if (plain_ascii(c)) {
      i++;
      continue;
    }
    if (c >= 0x80) {
      size_t l = utf8_len(p + i, n - i);
      if (l) {
        i += l;
        continue;
      }
    }
    ta_sink_write(out, s + run, i - run);
    char esc[8];
    if (c == '"' || c == '\\') {
      esc[0] = '\\';
      esc[1] = (char)c;
      ta_sink_write(out, esc, 2);
    } else if (c >= 0x80) {
      ta_sink_write(out, "\\ufffd", 6);
    } else {
      snprintf(esc, sizeof esc, "\\u%04x", c);
      ta_sink_write(out, esc, 6);
    }
    run = ++i;
  }
  ta_sink_write(out, s + run, n - run);
  ta_sink_write(out, "\"", 1);
}

/* A key where the inline path in ta_jsonw.h does not apply: between lines
 * of the outer levels, or when the buffer is full. */
void ta__jsonw_key_slow(struct ta_jsonw *w, const char *key, size_t len) {
  bool spaced = w->indent && w->depth <= w->pretty_depth;
  sep(w);
  w->after_key = true;
  write_escaped(w->out, key, len);
  ta_sink_write(w->out, spaced ? ": " : ":", spaced ? 2 : 1);
}

void ta__jsonw_namen(struct ta_jsonw *w, const char *s, size_t len) {
  sep(w);
  char *d = ta_sink_reserve(w->out, len + 2);
  if (!d) {
    write_escaped(w->out, s, len);
    return;
  }
  d[0] = '"';
  memcpy(d + 1, s, len);
  d[len + 1] = '"';
  ta_sink_commit(w->out, len + 2);
}

void ta_jsonw_strn(struct ta_jsonw *w, const char *s, size_t n) {
  sep(w);
  write_escaped(w->out, s, n);
}

void ta_jsonw_str(struct ta_jsonw *w, const char *s) {
  if (!s) {
    ta_jsonw_null(w);
    return;
  }
  ta_jsonw_strn(w, s, strlen(s));
}

static void write_plain(struct ta_jsonw *w, const char *txt, size_t n) {
  sep(w);
  ta_sink_write(w->out, txt, n);
}

/* Writes v in decimal at the end of buf[0..24); returns the first digit.
 * printf costs more than the rest of a record's formatting together. */
static char *u64_digits(char *end, uint64_t v) {
  static const char pairs[] = "00010203040506070809101112131415161718192021"
                              "22232425262728293031323334353637383940414243"
                              "44454647484950515253545556575859606162636465"
                              "66676869707172737475767778798081828384858687"
                              "8889909192939495969798990";
  char *p = end;
  while (v >= 100) { /* two digits a division */
    unsigned r = (unsigned)(v % 100);
    v /= 100;
    *--p = pairs[2 * r + 1];
    *--p = pairs[2 * r];
  }
  if (v >= 10) {
    *--p = pairs[2 * v + 1];
    *--p = pairs[2 * v];
  } else {
    *--p = (char)('0' + v);
  }
  return p;
}

void ta_jsonw_u64(struct ta_jsonw *w, uint64_t v) {
  if (v < 10) { /* most counters in a record are 0 or small */
    char d = (char)('0' + v);
    write_plain(w, &d, 1);
    return;
  }
  char b[24];
  char *p = u64_digits(b + sizeof b, v);
  write_plain(w, p, (size_t)(b + sizeof b - p));
}

void ta_jsonw_i64(struct ta_jsonw *w, int64_t v) {
  char b[24];
  char *p = u64_digits(b + sizeof b, v < 0 ? (uint64_t)0 - (uint64_t)v
                                           : (uint64_t)v);
  if (v < 0)
    *--p = '-';
  write_plain(w, p, (size_t)(b + sizeof b - p));
}

void ta_jsonw_bool(struct ta_jsonw *w, bool v) {
  write_plain(w, v ? "true" : "false", v ? 4 : 5);
}

void ta_jsonw_null(struct ta_jsonw *w) { write_plain(w, "null", 4); }

void ta_jsonw_raw(struct ta_jsonw *w, const char *json) {
  write_plain(w, json, strlen(json));
}

void ta_jsonw_rawn(struct ta_jsonw *w, const char *json, size_t len) {
  write_plain(w, json, len);
}

/* Zero-padded fixed-width decimal of v into p[0..width). */
static void fixed_digits(char *p, uint64_t v, int width) {
  for (int i = width - 1; i >= 0; i--) {
    p[i] = (char)('0' + v % 10);
    v /= 10;
  }
}

void ta_secs_format(char *buf, size_t len, int64_t ns, int digits) {
  char tmp[48];
  char *end = tmp + sizeof tmp;
  uint64_t v = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
  uint64_t unit = 1000000000u;
  if (digits != 9) { /* round to the nearest microsecond */
    v = (v + 500) / 1000;
    unit = 1000000u;
  }
  int width = digits == 9 ? 9 : 6;
  end -= width;
  fixed_digits(end, v % unit, width);
  *--end = '.';
  end = u64_digits(end, v / unit);
  if (ns < 0)
    *--end = '-';
  size_t n = (size_t)(tmp + sizeof tmp - end);
  if (n >= len)
    n = len - 1;
  memcpy(buf, end, n);
  buf[n] = 0;
}

void ta_jsonw_secs(struct ta_jsonw *w, int64_t ns) {
  char b[48];
  ta_secs_format(b, sizeof b, ns, w->digits);
  write_plain(w, b, strlen(b));
}

/* Proleptic Gregorian date of a day count since 1970-01-01 (the well-known
 * era arithmetic: 400-year eras of 146097 days, years starting in March). */
static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d) {
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  unsigned doe = (unsigned)(z - era * 146097);
  unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

void ta_time_format(char *buf, size_t len, int64_t ns, int digits) {
  int64_t sec = ns / 1000000000, frac = ns % 1000000000;
  if (frac < 0) {
    frac += 1000000000;
    sec--;
  }
  int64_t days = sec / 86400, rem = sec % 86400;
  if (rem < 0) {
    rem += 86400;
    days--;
  }
  int64_t y;
  unsigned mo, d;
  civil_from_days(days, &y, &mo, &d);
  if (y < 0 || y > 9999 || len < 32) {
    snprintf(buf, len, "0000-01-01T00:00:00Z");
    return;
  }
  char *p = buf;
  fixed_digits(p, (uint64_t)y, 4);
  p[4] = '-';
  fixed_digits(p + 5, mo, 2);
  p[7] = '-';
  fixed_digits(p + 8, d, 2);
  p[10] = 'T';
  fixed_digits(p + 11, (uint64_t)(rem / 3600), 2);
  p[13] = ':';
  fixed_digits(p + 14, (uint64_t)(rem / 60 % 60), 2);
  p[16] = ':';
  fixed_digits(p + 17, (uint64_t)(rem % 60), 2);
  p[19] = '.';
  int width = digits == 9 ? 9 : 6;
  fixed_digits(p + 20, (uint64_t)(digits == 9 ? frac : frac / 1000), width);
  p[20 + width] = 'Z';
  p[21 + width] = 0;
}

void ta_jsonw_time(struct ta_jsonw *w, int64_t ns) {
  char b[64];
  ta_time_format(b, sizeof b, ns, w->digits);
  sep(w);
  ta_sink_write(w->out, "\"", 1);
  ta_sink_write(w->out, b, strlen(b));
  ta_sink_write(w->out, "\"", 1);
}

void ta_addr_format(char *buf, size_t len, uint8_t family, const uint8_t *ip) {
  if (family == 6 || len < 16) {
    if (!inet_ntop(family == 6 ? AF_INET6 : AF_INET, ip, buf, (socklen_t)len))
      snprintf(buf, len, "?");
    return;
  }
  /* dotted quad by hand: inet_ntop formats through sprintf */
  char *p = buf;
  for (int i = 0; i < 4; i++) {
    unsigned v = ip[i];
    if (v >= 100)
      *p++ = (char)('0' + v / 100);
    if (v >= 10)
      *p++ = (char)('0' + v / 10 % 10);
    *p++ = (char)('0' + v % 10);
    *p++ = i < 3 ? '.' : 0;
  }
}

