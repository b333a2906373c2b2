/* tcpaudit - reporters: a small streaming JSON writer over a ta_sink.
 * Writes values as it goes (no tree is built), so one record costs a few
 * hundred bytes of formatting and no allocation. Keeps comma state per
 * nesting level; strings are escaped to valid UTF-8 JSON. */
#ifndef TA_JSONW_H
#define TA_JSONW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ta_sink.h"

#define TA_JSONW_MAX_DEPTH 32

/* What a writer of many records has formatted before (optional, owned by
 * the caller, see ta_jsonw_set_memo): the date and time of day of the last
 * timestamp, since records come in time order and most share it; and short
 * texts that a handful of fields determine, such as a SYN's fingerprint
 * object (a capture's hosts run a few stacks). Two-way set-associative
 * and bounded: a miss costs only the formatting it replaces. Slots no key
 * came to are never touched, so only those in use cost memory. */
#define TA_JSONW_MEMO_SLOTS 512
#define TA_JSONW_MEMO_KEY 40
#define TA_JSONW_MEMO_TEXT 472
struct ta_jsonw_memo_slot {
  uint16_t key_len, text_len; /* key_len 0: empty */
  uint8_t key[TA_JSONW_MEMO_KEY];
  char text[TA_JSONW_MEMO_TEXT];
};
/* A text of at most TA_JSONW_WORD_TEXT bytes that one word determines (a
 * ladder step's shape), in a table of its own: where a slot takes a few
 * dozen instructions to find and compare, an entry takes a few, which is
 * what a text this short saves. Two-way, as the slots. */
#define TA_JSONW_MEMO_WORDS 128
#define TA_JSONW_WORD_TEXT 24
struct ta_jsonw_memo_word {
  uint64_t key; /* 0: empty */
  char text[TA_JSONW_WORD_TEXT];
  uint8_t len;
};
struct ta_jsonw_memo {
  bool have_sec, have_day;
  int64_t sec_ns;    /* the last timestamp's whole seconds, in ns: a time
                        within a second of it is a subtraction away */
  char sec_text[20]; /* its "YYYY-MM-DDTHH:MM:SS." */
  int64_t day;       /* days of the last date formatted (host records
                        alternate first and last times: seconds differ,
                        the day mostly not) */
  char day_text[12]; /* its "YYYY-MM-DDT" */
  struct ta_jsonw_memo_word word[TA_JSONW_MEMO_WORDS];
  struct ta_jsonw_memo_slot slot[TA_JSONW_MEMO_SLOTS];
};

struct ta_jsonw {
  struct ta_sink *out;
  int depth;
  bool first[TA_JSONW_MAX_DEPTH]; /* no element written yet at this level */
  bool after_key;
  int indent;  /* spaces per level; 0 writes one line */
  int pretty_depth; /* levels deeper than this stay on one line */
  int digits;  /* fraction digits for seconds: 6 or 9 */
  struct ta_jsonw_memo *memo; /* NULL: nothing remembered */
};

/* Starts a writer; indent 0 gives compact single-line output. Only the
 * outer levels are broken into lines (see ta_jsonw_set_pretty_depth). */
void ta_jsonw_init(struct ta_jsonw *w, struct ta_sink *out, int indent,
                   int digits);
/* Lines are broken only up to this nesting depth (default: all). */
void ta_jsonw_set_pretty_depth(struct ta_jsonw *w, int depth);
/* Lets w remember formatted values in m (zeroed by the caller before its
 * first use; may outlive w and serve the next writer of the same stream). */
void ta_jsonw_set_memo(struct ta_jsonw *w, struct ta_jsonw_memo *m);
/* The slot of m for key (8, 16, .. TA_JSONW_MEMO_KEY bytes: whole words,
 * padding zeroed); *hit tells whether its text is key's. On a miss the
 * caller may fill it: the key, then the text (or key_len 0 when the text
 * does not fit). Two-way: a miss may move the slot's key to the other of
 * its pair. */
struct ta_jsonw_memo_slot *ta_jsonw_memo_find(struct ta_jsonw_memo *m,
                                              const void *key, size_t len,
                                              bool *hit);
/* Whether slot s holds key. Inline so that a caller's constant len
 * unrolls the compare. */
static inline bool ta__jsonw_memo_is(const struct ta_jsonw_memo_slot *s,
                                     const void *key, size_t len) {
  const uint8_t *k = key;
  uint64_t diff = s->key_len != len;
#pragma GCC unroll 8 /* a key has at most five words: no loop left */
  for (size_t i = 0; i < len; i += 8) { /* whole words */
    uint64_t a, b;
    memcpy(&a, s->key + i, 8);
    memcpy(&b, k + i, 8);
    diff |= a ^ b;
  }
  return diff == 0;
}

/* ta_jsonw_memo_find for a caller that hashed key itself (any well-mixed
 * hash: the set is taken from its low bits). The newer key of a set is
 * first; a miss moves it second, the second out, and hands the first to
 * the caller. */
static inline struct ta_jsonw_memo_slot *
ta_jsonw_memo_at(struct ta_jsonw_memo *m, uint64_t hash, const void *key,
                 size_t len, bool *hit) {
  struct ta_jsonw_memo_slot *s =
      &m->slot[hash % (TA_JSONW_MEMO_SLOTS / 2) * 2];
  if ((*hit = ta__jsonw_memo_is(&s[0], key, len)))
    return &s[0];
  if ((*hit = ta__jsonw_memo_is(&s[1], key, len)))
    return &s[1];
  if (s[0].key_len)
    s[1] = s[0];
  return &s[0];
}
/* The entry of m for key (not 0); *hit tells whether its text is key's.
 * On a miss the caller may fill it: the key, the text and its length.
 * The newer key of a set is first; a miss moves it second, the second
 * out, and hands the first to the caller. */
static inline struct ta_jsonw_memo_word *
ta_jsonw_memo_word(struct ta_jsonw_memo *m, uint64_t key, bool *hit) {
  struct ta_jsonw_memo_word *e =
      &m->word[(key * 0x9e3779b97f4a7c15ull >> 58) * 2];
  if ((*hit = e[0].key == key))
    return &e[0];
  if ((*hit = e[1].key == key))
    return &e[1];
  e[1] = e[0];
  return &e[0];
}
_Static_assert(TA_JSONW_MEMO_WORDS == 2 << (64 - 58),
               "the hash's top bits choose one of the pairs");
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

/* ---- one-line JSON written in place ----
 * A record's members are written straight into the sink's buffer: room for
 * a bounded piece is taken once (ta_jsonw_room), the keys and punctuation
 * around the values are stored as constant runs (TA_JPUT_LIT) and the
 * values with the ta__jput_* functions, each returning the end of what it
 * wrote (no NUL). Only where w writes one line: inside a record. */
#define TA_JSONW_ROOM_MAX 8192 /* the writer's own values; a caller's room
                                  may be up to the sink's 64 KiB buffer */
static inline char *ta_jsonw_room(struct ta_jsonw *w, size_t n) {
  return ta_sink_room(w->out, n);
}
/* Keeps what was written from d (ta_jsonw_room's) to end. */
static inline void ta_jsonw_room_done(struct ta_jsonw *w, const char *d,
                                      const char *end) {
  ta_sink_room_done(w->out, d, end);
}
/* What was written in place ended with a key: the value that follows,
 * written by w, goes without a comma. */
static inline void ta_jsonw_key_written(struct ta_jsonw *w) {
  w->after_key = true;
}
/* Before the first member written in place into the open object (or the
 * first value into the open array): its comma when one is due. */
static inline char *ta__jput_sep(struct ta_jsonw *w, char *p) {
  if (w->after_key)
    w->after_key = false;
  else if (!w->first[w->depth])
    *p++ = ',';
  w->first[w->depth] = false;
  return p;
}
/* An object opened or closed in place, as ta_jsonw_obj_begin and
 * ta_jsonw_obj_end write them (separator and line break included), so
 * that a record and its braces take one room; each needs up to
 * TA_JSONW_OBJ_ROOM bytes. */
#define TA_JSONW_OBJ_ROOM (3 + TA_JSONW_MAX_DEPTH * 4 + 32)
char *ta__jput_obj_begin(struct ta_jsonw *w, char *p);
char *ta__jput_obj_end(struct ta_jsonw *w, char *p);
/* A string literal's bytes without its NUL: constant length, so the copy
 * is a few stores. */
#define TA_JPUT_LIT(p, lit)                                                    \
  (__builtin_memcpy((p), (lit), sizeof(lit) - 1), (p) + sizeof(lit) - 1)
/* Up to 20 digits. Most counters in a record are 0 or small: one digit
 * is stored here, longer numbers in jsonw.c. */
char *ta__jput_u64_long(char *p, uint64_t v);
static inline char *ta__jput_u64(char *p, uint64_t v) {
  if (v < 10) {
    *p = (char)('0' + v);
    return p + 1;
  }
  return ta__jput_u64_long(p, v);
}
/* A duration as ta_secs_format writes it (up to 31 bytes). */
char *ta__jput_secs(char *p, int64_t ns, int digits);
/* A duration of us microseconds, as ta__jput_secs writes us * 1000 ns. */
char *ta__jput_us(char *p, uint32_t us, int digits);
/* A timestamp as ta_time_format writes it, unquoted (up to 30 bytes); m
 * (may be NULL) remembers the date and time of day. */
char *ta__jput_time(char *p, int64_t ns, int digits, struct ta_jsonw_memo *m);
/* An address as ta_addr_format writes it (up to 45 bytes). */
char *ta__jput_addr(char *p, uint8_t family, const uint8_t *ip);
/* n bytes of any text as a quoted JSON string (up to 6 * n + 2 bytes). */
char *ta__jput_str(char *p, const char *s, size_t n);
/* The n bytes at s (n <= 32; 32 are read, all within the room) written
 * again: a value equal to one just written in the same room, copied
 * whole rather than formatted twice. p may overlap what follows s. */
static inline char *ta__jput_again(char *p, const char *s, size_t n) {
  char t[32];
  __builtin_memcpy(t, s, sizeof t);
  __builtin_memcpy(p, t, sizeof t);
  return p + n;
}
/* The same for n <= 48 (48 bytes are read): an address, at most 45. */
static inline char *ta__jput_again48(char *p, const char *s, size_t n) {
  char t[48];
  __builtin_memcpy(t, s, sizeof t);
  __builtin_memcpy(p, t, sizeof t);
  return p + n;
}
/* A string of the program's own making, quoted, not scanned (n + 2). */
static inline char *ta__jput_name(char *p, const char *s, size_t n) {
  *p++ = '"';
  __builtin_memcpy(p, s, n);
  p += n;
  *p++ = '"';
  return p;
}

/* Formats ns since the epoch as RFC 3339 UTC ("2002-01-01T20:06:32.845356Z")
 * with 6 or 9 fraction digits into buf (>= 40 bytes). Cannot fail. */
void ta_time_format(char *buf, size_t len, int64_t ns, int digits);
/* Formats a duration in ns as seconds ("5.013549"). Cannot fail. */
void ta_secs_format(char *buf, size_t len, int64_t ns, int digits);
/* Formats an address of family 4 or 6 (16-byte buffer) into buf (>= 46). */
void ta_addr_format(char *buf, size_t len, uint8_t family, const uint8_t *ip);

#endif
