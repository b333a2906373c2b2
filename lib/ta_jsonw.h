/* tcpaudit - reporters: a small streaming JSON writer over a ta_sink.
 * Writes values as it goes (no tree is built), so one record costs a few
 * hundred bytes of formatting and no allocation. Keeps comma state per
 * nesting level; strings are escaped to valid UTF-8 JSON. */
#ifndef TA_JSONW_H
#define TA_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ta_sink.h"

#define TA_JSONW_MAX_DEPTH 32

struct ta_jsonw {
  struct ta_sink *out;
  int depth;
  bool first[TA_JSONW_MAX_DEPTH]; /* no element written yet at this level */
  bool after_key;
  int indent;  /* spaces per level; 0 writes one line */
  int pretty_depth; /* levels deeper than this stay on one line */
  int digits;  /* fraction digits for seconds: 6 or 9 */
};

/* Starts a writer; indent 0 gives compact single-line output. Only the
 * outer levels are broken into lines (see ta_jsonw_set_pretty_depth). */
void ta_jsonw_init(struct ta_jsonw *w, struct ta_sink *out, int indent,
                   int digits);
/* Lines are broken only up to this nesting depth (default: all). */
void ta_jsonw_set_pretty_depth(struct ta_jsonw *w, int depth);
void ta_jsonw_obj_begin(struct ta_jsonw *w);
void ta_jsonw_obj_end(struct ta_jsonw *w);
void ta_jsonw_arr_begin(struct ta_jsonw *w);
void ta_jsonw_arr_end(struct ta_jsonw *w);
/* A key: the program's own ASCII name (not escaped). Inline so that a
 * literal's length is known where it is written: inside a record (one
 * line, dozens of keys) the comma, quotes, name and colon are stored into
 * the sink's buffer in one piece. */
void ta__jsonw_key_slow(struct ta_jsonw *w, const char *key, size_t len);
static inline void ta_jsonw_key(struct ta_jsonw *w, const char *key) {
  size_t len = __builtin_strlen(key);
  char *d;
  if (len < 64 && !w->after_key &&
      (!w->indent || w->depth > w->pretty_depth) &&
      (d = ta_sink_reserve(w->out, len + 4))) {
    char *p = d;
    if (!w->first[w->depth])
      *p++ = ',';
    w->first[w->depth] = false;
    *p++ = '"';
    __builtin_memcpy(p, key, len);
    p += len;
    *p++ = '"';
    *p++ = ':';
    ta_sink_commit(w->out, (size_t)(p - d));
    w->after_key = true;
    return;
  }
  ta__jsonw_key_slow(w, key, len);
}
void ta_jsonw_str(struct ta_jsonw *w, const char *s);
/* Writes n bytes of untrusted data as a JSON string (invalid UTF-8 -> U+FFFD). */
void ta_jsonw_strn(struct ta_jsonw *w, const char *s, size_t n);
void ta_jsonw_u64(struct ta_jsonw *w, uint64_t v);
void ta_jsonw_i64(struct ta_jsonw *w, int64_t v);
void ta_jsonw_bool(struct ta_jsonw *w, bool v);
void ta_jsonw_null(struct ta_jsonw *w);
/* A duration in ns written as seconds with the writer's digits. */
void ta_jsonw_secs(struct ta_jsonw *w, int64_t ns);
/* An RFC 3339 UTC timestamp string with the writer's digits. */
void ta_jsonw_time(struct ta_jsonw *w, int64_t ns);
/* A pre-formatted JSON value, written as is. */
void ta_jsonw_raw(struct ta_jsonw *w, const char *json);
void ta_jsonw_rawn(struct ta_jsonw *w, const char *json, size_t len);

/* A string of the program's own making (names from its tables, numbers,
 * formatted addresses: printable ASCII without '"' or '\\'), written
 * without the escaping scan. Never for text from a capture. */
void ta__jsonw_namen(struct ta_jsonw *w, const char *s, size_t len);
static inline void ta_jsonw_name(struct ta_jsonw *w, const char *s) {
  ta__jsonw_namen(w, s, __builtin_strlen(s));
}

/* Key-value shorthands. */
static inline void ta_jsonw_kname(struct ta_jsonw *w, const char *k,
                                  const char *v) {
  ta_jsonw_key(w, k);
  ta_jsonw_name(w, v);
}
static inline void ta_jsonw_kstr(struct ta_jsonw *w, const char *k,
                                 const char *v) {
  ta_jsonw_key(w, k);
  ta_jsonw_str(w, v);
}
static inline void ta_jsonw_ku64(struct ta_jsonw *w, const char *k,
                                 uint64_t v) {
  ta_jsonw_key(w, k);
  ta_jsonw_u64(w, v);
}
static inline void ta_jsonw_kbool(struct ta_jsonw *w, const char *k, bool v) {
  ta_jsonw_key(w, k);
  ta_jsonw_bool(w, v);
}
static inline void ta_jsonw_ksecs(struct ta_jsonw *w, const char *k,
                                  int64_t ns) {
  ta_jsonw_key(w, k);
  ta_jsonw_secs(w, ns);
}
static inline void ta_jsonw_ktime(struct ta_jsonw *w, const char *k,
                                  int64_t ns) {
  ta_jsonw_key(w, k);
  ta_jsonw_time(w, ns);
}

/* Formats ns since the epoch as RFC 3339 UTC ("2002-01-01T20:06:32.845356Z")
 * with 6 or 9 fraction digits into buf (>= 40 bytes). Cannot fail. */
void ta_time_format(char *buf, size_t len, int64_t ns, int digits);
/* Formats a duration in ns as seconds ("5.013549"). Cannot fail. */
void ta_secs_format(char *buf, size_t len, int64_t ns, int digits);
/* Formats an address of family 4 or 6 (16-byte buffer) into buf (>= 46). */
void ta_addr_format(char *buf, size_t len, uint8_t family, const uint8_t *ip);

#endif
