/* tcpaudit - reporters: streaming JSON writer and time/address formatting.
 * Replaces a DOM library on the per-connection path: formatting a record
 * directly is several times cheaper than building and dumping a tree. */
#include "ta_jsonw.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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

static void write_escaped(struct ta_sink *out, const char *s, size_t n) {
  const unsigned char *p = (const unsigned char *)s;
  size_t run = 0; /* start of bytes that need no escape */
  ta_sink_write(out, "\"", 1);
  for (size_t i = 0; i < n;) {
    unsigned char c = p[i];
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
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

void ta_jsonw_key(struct ta_jsonw *w, const char *key) {
  sep(w);
  write_escaped(w->out, key, strlen(key));
  bool spaced = w->indent && w->depth <= w->pretty_depth;
  ta_sink_write(w->out, spaced ? ": " : ":", spaced ? 2 : 1);
  w->after_key = true;
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

void ta_jsonw_u64(struct ta_jsonw *w, uint64_t v) {
  char b[24];
  int n = snprintf(b, sizeof b, "%" PRIu64, v);
  write_plain(w, b, (size_t)n);
}

void ta_jsonw_i64(struct ta_jsonw *w, int64_t v) {
  char b[24];
  int n = snprintf(b, sizeof b, "%" PRId64, v);
  write_plain(w, b, (size_t)n);
}

void ta_jsonw_bool(struct ta_jsonw *w, bool v) {
  write_plain(w, v ? "true" : "false", v ? 4 : 5);
}

void ta_jsonw_null(struct ta_jsonw *w) { write_plain(w, "null", 4); }

void ta_jsonw_raw(struct ta_jsonw *w, const char *json) {
  write_plain(w, json, strlen(json));
}

void ta_secs_format(char *buf, size_t len, int64_t ns, int digits) {
  const char *sign = "";
  uint64_t v = (uint64_t)ns;
  if (ns < 0) {
    sign = "-";
    v = (uint64_t)0 - (uint64_t)ns;
  }
  if (digits == 9)
    snprintf(buf, len, "%s%" PRIu64 ".%09" PRIu64, sign, v / 1000000000u,
             v % 1000000000u);
  else /* round to the nearest microsecond */
    v = (v + 500) / 1000,
    snprintf(buf, len, "%s%" PRIu64 ".%06" PRIu64, sign, v / 1000000u,
             v % 1000000u);
}

void ta_jsonw_secs(struct ta_jsonw *w, int64_t ns) {
  char b[40];
  ta_secs_format(b, sizeof b, ns, w->digits);
  write_plain(w, b, strlen(b));
}

void ta_time_format(char *buf, size_t len, int64_t ns, int digits) {
  int64_t sec = ns / 1000000000, frac = ns % 1000000000;
  if (frac < 0) {
    frac += 1000000000;
    sec--;
  }
  time_t t = (time_t)sec;
  struct tm tm;
  if (!gmtime_r(&t, &tm)) {
    snprintf(buf, len, "1970-01-01T00:00:00Z");
    return;
  }
  char date[32];
  strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
  if (digits == 9)
    snprintf(buf, len, "%s.%09" PRId64 "Z", date, frac);
  else
    snprintf(buf, len, "%s.%06" PRId64 "Z", date, frac / 1000);
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
  if (!inet_ntop(family == 6 ? AF_INET6 : AF_INET, ip, buf, (socklen_t)len))
    snprintf(buf, len, "?");
}

void ta_jsonw_kstr(struct ta_jsonw *w, const char *k, const char *v) {
  ta_jsonw_key(w, k);
  ta_jsonw_str(w, v);
}
void ta_jsonw_ku64(struct ta_jsonw *w, const char *k, uint64_t v) {
  ta_jsonw_key(w, k);
  ta_jsonw_u64(w, v);
}
void ta_jsonw_kbool(struct ta_jsonw *w, const char *k, bool v) {
  ta_jsonw_key(w, k);
  ta_jsonw_bool(w, v);
}
void ta_jsonw_ksecs(struct ta_jsonw *w, const char *k, int64_t ns) {
  ta_jsonw_key(w, k);
  ta_jsonw_secs(w, ns);
}
void ta_jsonw_ktime(struct ta_jsonw *w, const char *k, int64_t ns) {
  ta_jsonw_key(w, k);
  ta_jsonw_time(w, ns);
}
