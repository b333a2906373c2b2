/* tcpaudit - reporters: streaming JSON writer and time/address formatting.
 * Replaces a DOM library on the per-connection path: formatting a record
 * directly is several times cheaper than building and dumping a tree. */
#include "ta_jsonw.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ta_hash.h"

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

/* A line break and the most indentation written: a prefix of it is
 * written rather than spaces filled in each time. */
#define PAD_MAX (TA_JSONW_MAX_DEPTH * 4)
#define SPACES32 "                                "
static const char line_pad[1 + PAD_MAX + 1] =
    "\n" SPACES32 SPACES32 SPACES32 SPACES32;
_Static_assert(sizeof("\n" SPACES32 SPACES32 SPACES32 SPACES32) ==
                   sizeof line_pad,
               "the pad holds a line break and PAD_MAX spaces");

/* Room for what goes between two values at most: a comma, a line break
 * with the most indentation, a bracket, and the slack of a whole-word
 * copy of the indentation. */
#define SEP_ROOM TA_JSONW_OBJ_ROOM
_Static_assert(TA_JSONW_OBJ_ROOM == 3 + PAD_MAX + 32, "the room of a break");

/* A line break and the indentation of the current level into p, where
 * lines are broken. Inline: each record object of the json report opens
 * with one, where the call cost as much as the break. */
static inline __attribute__((always_inline)) char *
newline_put(struct ta_jsonw *w, char *p) {
  if (!w->indent || w->depth > w->pretty_depth)
    return p;
  unsigned n = (unsigned)(w->depth * w->indent);
  if (n > PAD_MAX)
    n = PAD_MAX;
  if (n < 32)
    memcpy(p, line_pad, 32); /* a constant size: a few stores, no call */
  else
    memcpy(p, line_pad, n + 1);
  return p + n + 1;
}

/* Comma and indentation before a value or key at the current level. */
static char *sep_put(struct ta_jsonw *w, char *p) {
  if (w->after_key) {
    w->after_key = false;
    return p;
  }
  if (!w->first[w->depth])
    *p++ = ',';
  if (w->depth > 0)
    p = newline_put(w, p);
  w->first[w->depth] = false;
  return p;
}

static void sep(struct ta_jsonw *w) {
  if (w->after_key) {
    w->after_key = false;
    return;
  }
  char *d = ta_sink_room(w->out, SEP_ROOM);
  ta_sink_room_done(w->out, d, sep_put(w, d));
}

static void open_level(struct ta_jsonw *w, char c) {
  char *d = ta_sink_room(w->out, SEP_ROOM), *p = sep_put(w, d);
  *p++ = c;
  ta_sink_room_done(w->out, d, p);
  if (w->depth < TA_JSONW_MAX_DEPTH - 1)
    w->depth++;
  w->first[w->depth] = true;
}

static void close_level(struct ta_jsonw *w, char c) {
  bool empty = w->first[w->depth];
  bool broken = w->depth <= w->pretty_depth; /* its elements had lines */
  char *d = ta_sink_room(w->out, SEP_ROOM), *p = d;
  if (w->depth > 0)
    w->depth--;
  if (!empty && broken)
    p = newline_put(w, p);
  *p++ = c;
  ta_sink_room_done(w->out, d, p);
}

char *ta__jput_obj_begin(struct ta_jsonw *w, char *p) {
  p = sep_put(w, p);
  *p++ = '{';
  if (w->depth < TA_JSONW_MAX_DEPTH - 1)
    w->depth++;
  w->first[w->depth] = true;
  return p;
}

char *ta__jput_obj_end(struct ta_jsonw *w, char *p) {
  bool empty = w->first[w->depth];
  bool broken = w->depth <= w->pretty_depth;
  if (w->depth > 0)
    w->depth--;
  if (!empty && broken)
    p = newline_put(w, p);
  *p++ = '}';
  return p;
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

static const char hex_digits[] = "0123456789abcdef";

/* Copies n < 8 bytes in at most three moves. */
static void copy_tail(unsigned char *d, const unsigned char *s, size_t n) {
  size_t k = 0;
  if (n & 4) {
    memcpy(d, s, 4);
    k = 4;
  }
  if (n & 2) {
    memcpy(d + k, s + k, 2);
    k += 2;
  }
  if (n & 1)
    d[k] = s[k];
}

/* The last n < 8 bytes of a string, copied to d when none needs escaping
 * (most names and short texts end so): one test of a word padded with
 * spaces instead of one per byte. Reads and writes only those n bytes. */
static bool plain_tail(char *d, const unsigned char *s, size_t n) {
  unsigned char b[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
  uint64_t x;
  copy_tail(b, s, n);
  memcpy(&x, b, 8);
  if (word_needs_escape(x))
    return false;
  copy_tail((unsigned char *)d, b, n);
  return true;
}

/* s[0..n) escaped into d (room for 6 * n): plain runs eight bytes at a
 * time, valid UTF-8 as is, anything else as \uXXXX (U+FFFD for a byte
 * that starts no valid sequence). */
static char *escape_into(char *d, const unsigned char *s, size_t n) {
  size_t i = 0;
  while (i < n) {
    uint64_t x;
    if (i + 8 <= n && (memcpy(&x, s + i, 8), !word_needs_escape(x))) {
      memcpy(d, &x, 8);
      d += 8;
      i += 8;
      continue;
    }
    if (i + 8 > n && plain_tail(d, s + i, n - i))
      return d + (n - i);
    unsigned char c = s[i];
    size_t l;
    if (plain_ascii(c)) {
      *d++ = (char)c;
      i++;
    } else if (c >= 0x80 && (l = utf8_len(s + i, n - i)) != 0) {
      memcpy(d, s + i, l);
      d += l;
      i += l;
    } else if (c >= 0x80) {
      d = TA_JPUT_LIT(d, "\\ufffd");
      i++;
    } else if (c == '"' || c == '\\') {
      *d++ = '\\';
      *d++ = (char)c;
      i++;
    } else {
      d = TA_JPUT_LIT(d, "\\u00");
      *d++ = hex_digits[c >> 4];
      *d++ = hex_digits[c & 15];
      i++;
    }
  }
  return d;
}

char *ta__jput_str(char *p, const char *s, size_t n) {
  *p++ = '"';
  p = escape_into(p, (const unsigned char *)s, n);
  *p++ = '"';
  return p;
}

/* Text longer than this is escaped a piece at a time. */
#define ESC_PIECE 1024

/* Where to end a piece of s (longer than ESC_PIECE) so that no valid UTF-8
 * sequence is cut: before a byte that is no continuation byte. When the
 * three before are continuations as well, no valid sequence spans the
 * boundary (a lead byte is at most three before its last byte). */
static size_t piece_end(const unsigned char *s) {
  size_t j = ESC_PIECE;
  for (int back = 0; back < 3 && (s[j] & 0xC0) == 0x80; back++)
    j--;
  return (s[j] & 0xC0) == 0x80 ? ESC_PIECE : j;
}

static void write_escaped(struct ta_sink *out, const char *s, size_t n) {
  const unsigned char *u = (const unsigned char *)s;
  bool first = true;
  do {
    size_t k = n <= ESC_PIECE ? n : piece_end(u);
    char *d = ta_sink_room(out, 6 * k + 2), *e = d;
    if (first)
      *e++ = '"';
    e = escape_into(e, u, k);
    u += k;
    n -= k;
    if (!n)
      *e++ = '"';
    ta_sink_room_done(out, d, e);
    first = false;
  } while (n);
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

/* Room for a value of up to n bytes after its separator, in the common
 * one-line case; NULL where lines are broken (then sep() and a write). */
static char *value_room(struct ta_jsonw *w, size_t n) {
  if (w->indent && w->depth <= w->pretty_depth && !w->after_key)
    return NULL;
  char *d = ta_sink_room(w->out, n + 1);
  return d;
}

void ta__jsonw_namen(struct ta_jsonw *w, const char *s, size_t len) {
  char *d;
  if (len <= TA_JSONW_ROOM_MAX && (d = value_room(w, len + 2))) {
    char *e = ta__jput_sep(w, d);
    ta_sink_room_done(w->out, d, ta__jput_name(e, s, len));
    return;
  }
  sep(w);
  write_escaped(w->out, s, len);
}

void ta_jsonw_strn(struct ta_jsonw *w, const char *s, size_t n) {
  char *d;
  if (n <= ESC_PIECE && (d = value_room(w, 6 * n + 2))) {
    char *e = ta__jput_sep(w, d);
    ta_sink_room_done(w->out, d, ta__jput_str(e, s, n));
    return;
  }
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
  char *d;
  if (n <= TA_JSONW_ROOM_MAX && (d = value_room(w, n))) {
    char *e = ta__jput_sep(w, d);
    memcpy(e, txt, n);
    ta_sink_room_done(w->out, d, e + n);
    return;
  }
  sep(w);
  ta_sink_write(w->out, txt, n);
}

/* Two decimal digits for each of 0..99. */
static const char digit_pairs[] = "00010203040506070809101112131415161718192021"
                                  "22232425262728293031323334353637383940414243"
                                  "44454647484950515253545556575859606162636465"
                                  "66676869707172737475767778798081828384858687"
                                  "8889909192939495969798990";

static inline char *put_pair(char *p, unsigned v) {
  memcpy(p, digit_pairs + 2 * v, 2);
  return p + 2;
}

/* One or two digits of v < 100. */
static inline char *put_small(char *p, unsigned v) {
  if (v < 10) {
    *p = (char)('0' + v);
    return p + 1;
  }
  return put_pair(p, v);
}

/* Fixed-point digits: v / 10^k kept as a 32.32 number, rounded up, so
 * that its whole part is the leading one or two digits and each multiply
 * of the fraction by 100 brings the next two into the whole part: a
 * multiply and a shift a pair, where a division by a constant costs two
 * multiplies and a subtraction. The rounding up is less than a unit of
 * the last pair (tests/test_jsonw.c checks every value of each width). */
#define FIX_LO(y) ((uint64_t)(uint32_t)(y))

/* v < 10^4 as 32.32 v / 100 (2^32 / 100 rounded up: 0.04 too much for
 * each unit of v, at most 400 units of 2^-32). */
static inline uint64_t fix_four(uint32_t v) { return v * 42949673ull; }
/* v < 10^6 as v / 10^4 (at most 270 400 units too much: under the
 * 429 497 that one unit of the last pair is worth here). */
static inline uint64_t fix_six(uint32_t v) { return v * 429497ull; }
/* v < 10^8 as v / 10^6: 2^57 / 10^6 rounded up keeps 25 more bits, and
 * the one added makes up for the bits the shift drops. */
static inline uint64_t fix_eight(uint32_t v) {
  return (v * 144115188076ull >> 25) + 1;
}

/* The pair in the whole part of y, then the fraction moved on a pair. */
static inline char *fix_pair(char *p, uint64_t *y) {
  p = put_pair(p, (unsigned)(*y >> 32));
  *y = FIX_LO(*y) * 100;
  return p;
}

/* Eight digits of v < 10^8, zero-padded. */
static inline char *put_eight(char *p, uint32_t v) {
  uint64_t y = fix_eight(v);
  p = fix_pair(p, &y);
  p = fix_pair(p, &y);
  p = fix_pair(p, &y);
  return put_pair(p, (unsigned)(y >> 32));
}

/* v < 10^8 without leading zeros: the digit count is found by comparing
 * against a few bounds, the leading one or two digits written, then the
 * rest in pairs from the fixed-point fraction. */
static inline __attribute__((always_inline)) char *put_u32_short(char *p,
                                                                  uint32_t v) {
  uint64_t y;
  if (v < 100)
    return put_small(p, v);
  if (v < 10000) {
    y = fix_four(v);
    p = put_small(p, (unsigned)(y >> 32));
    y = FIX_LO(y) * 100;
    return put_pair(p, (unsigned)(y >> 32));
  }
  if (v < 1000000) {
    y = fix_six(v);
    p = put_small(p, (unsigned)(y >> 32));
    y = FIX_LO(y) * 100;
    p = fix_pair(p, &y);
    return put_pair(p, (unsigned)(y >> 32));
  }
  y = fix_eight(v);
  p = put_small(p, (unsigned)(y >> 32));
  y = FIX_LO(y) * 100;
  p = fix_pair(p, &y);
  p = fix_pair(p, &y);
  return put_pair(p, (unsigned)(y >> 32));
}

/* printf costs more than the rest of a record's formatting together, so
 * digits are written by hand: most numbers in a record (ports, counts,
 * bytes) have fewer than nine digits and take the 32-bit path. */
char *ta__jput_u64_long(char *p, uint64_t v) {
  if (v < 100000000) /* inlined here: the call the most numbers take */
    return put_u32_short(p, (uint32_t)v);
  if (v < 10000000000000000ull) {
    uint64_t hi = v / 100000000;
    p = put_u32_short(p, (uint32_t)hi);
    return put_eight(p, (uint32_t)(v - hi * 100000000));
  }
  uint64_t hi = v / 10000000000000000ull, lo = v - hi * 10000000000000000ull;
  uint64_t mid = lo / 100000000;
  p = put_u32_short(p, (uint32_t)hi); /* at most 1844 */
  p = put_eight(p, (uint32_t)mid);
  return put_eight(p, (uint32_t)(lo - mid * 100000000));
}

void ta_jsonw_u64(struct ta_jsonw *w, uint64_t v) {
  char *d = value_room(w, 20);
  if (d) {
    char *e = ta__jput_sep(w, d);
    ta_sink_room_done(w->out, d, ta__jput_u64(e, v));
    return;
  }
  char b[24];
  write_plain(w, b, (size_t)(ta__jput_u64(b, v) - b));
}

void ta_jsonw_i64(struct ta_jsonw *w, int64_t v) {
  char b[24], *p = b;
  if (v < 0)
    *p++ = '-';
  p = ta__jput_u64(p, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
  write_plain(w, b, (size_t)(p - b));
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

/* Six digits of f (< 10^6), zero-padded. */
static inline char *put_frac6(char *p, uint32_t f) {
  uint64_t y = fix_six(f);
  p = fix_pair(p, &y);
  p = fix_pair(p, &y);
  return put_pair(p, (unsigned)(y >> 32));
}

/* Nine digits of f (< 10^9), zero-padded. */
static inline char *put_frac9(char *p, uint32_t f) {
  uint32_t hi = f / 100000000;
  *p++ = (char)('0' + hi);
  return put_eight(p, f - hi * 100000000);
}

/* Whole seconds are mostly 0 to 9: one digit stored here. A zero (a
 * ladder's first packet, a one-packet connection) is a constant. Most
 * durations of a record (handshakes, round trips, short connections) are
 * under a second in microseconds: "0." and the six digits of their
 * rounded microseconds, which are below 10^6 when ns + 500 is below
 * 10^9. */
char *ta__jput_secs(char *p, int64_t ns, int digits) {
  if ((uint64_t)ns < 1000000000u - 500 && digits != 9) {
    *p++ = '0';
    *p++ = '.';
    return put_frac6(p, ((uint32_t)ns + 500) / 1000);
  }
  if (ns == 0)
    return digits == 9 ? TA_JPUT_LIT(p, "0.000000000")
                       : TA_JPUT_LIT(p, "0.000000");
  uint64_t v = ns < 0 ? (uint64_t)0 - (uint64_t)ns : (uint64_t)ns;
  if (ns < 0)
    *p++ = '-';
  if (digits == 9) {
    uint64_t whole = v / 1000000000u;
    p = ta__jput_u64(p, whole);
    *p++ = '.';
    return put_frac9(p, (uint32_t)(v - whole * 1000000000u));
  }
  v = (v + 500) / 1000; /* round to the nearest microsecond */
  uint64_t whole = v / 1000000u;
  p = ta__jput_u64(p, whole);
  *p++ = '.';
  return put_frac6(p, (uint32_t)(v - whole * 1000000u));
}

/* A whole number of microseconds has the digits of its seconds without
 * the rounding: at most 4294 whole seconds, in 32 bits; most are under
 * one (a ladder's steps, round trips): "0." and the six digits. */
char *ta__jput_us(char *p, uint32_t us, int digits) {
  if (us == 0) /* a ladder's first packet: a constant */
    return digits == 9 ? TA_JPUT_LIT(p, "0.000000000")
                       : TA_JPUT_LIT(p, "0.000000");
  if (us < 1000000u) {
    *p++ = '0';
    *p++ = '.';
    p = put_frac6(p, us);
  } else {
    uint32_t whole = us / 1000000u;
    p = put_u32_short(p, whole);
    *p++ = '.';
    p = put_frac6(p, us - whole * 1000000u);
  }
  return digits == 9 ? TA_JPUT_LIT(p, "000") : p;
}

void ta_secs_format(char *buf, size_t len, int64_t ns, int digits) {
  char tmp[48];
  size_t n = (size_t)(ta__jput_secs(tmp, ns, digits) - tmp);
  if (!len)
    return;
  if (n >= len)
    n = len - 1;
  memcpy(buf, tmp, n);
  buf[n] = 0;
}

void ta_jsonw_secs(struct ta_jsonw *w, int64_t ns) {
  char *d = value_room(w, 32);
  if (d) {
    char *e = ta__jput_sep(w, d);
    ta_sink_room_done(w->out, d, ta__jput_secs(e, ns, w->digits));
    return;
  }
  char b[48];
  write_plain(w, b, (size_t)(ta__jput_secs(b, ns, w->digits) - b));
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

#define TIME_OUT_OF_RANGE "0000-01-01T00:00:00Z"

/* "YYYY-MM-DDT" of a day since the epoch into p[0..11); false when its
 * year has no four digits. */
static bool day_text(char *p, int64_t days) {
  int64_t y;
  unsigned mo, d;
  civil_from_days(days, &y, &mo, &d);
  if (y < 0 || y > 9999)
    return false;
  put_pair(p, (unsigned)(y / 100));
  put_pair(p + 2, (unsigned)(y % 100));
  p[4] = '-';
  put_pair(p + 5, mo);
  p[7] = '-';
  put_pair(p + 8, d);
  p[10] = 'T';
  return true;
}

/* "YYYY-MM-DDTHH:MM:SS." of a second since the epoch into p[0..20); false
 * when its year has no four digits. The date comes from m when it is the
 * day m last formatted (m may be NULL). */
static bool second_text(char *p, int64_t sec, struct ta_jsonw_memo *m) {
  int64_t days = sec / 86400, rem = sec % 86400;
  if (rem < 0) {
    rem += 86400;
    days--;
  }
  if (m && m->have_day && m->day == days) {
    memcpy(p, m->day_text, 11);
  } else {
    if (!day_text(p, days))
      return false;
    if (m) {
      memcpy(m->day_text, p, 11);
      m->day = days;
      m->have_day = true;
    }
  }
  unsigned r = (unsigned)rem;
  put_pair(p + 11, r / 3600);
  p[13] = ':';
  put_pair(p + 14, r / 60 % 60);
  p[16] = ':';
  put_pair(p + 17, r % 60);
  p[19] = '.';
  return true;
}

/* The fraction of a second and the zone after "YYYY-MM-DDTHH:MM:SS.". */
static inline char *put_time_frac(char *p, uint32_t frac, int digits) {
  p = digits == 9 ? put_frac9(p, frac) : put_frac6(p, frac / 1000);
  *p++ = 'Z';
  return p;
}

/* A time in another second than m's last (or without m): divided into
 * seconds and formatted, and remembered in m unless its second begins
 * before what 64 bits of ns reach (in 1677: no time is formatted there
 * twice). */
static char *put_time_second(char *p, int64_t ns, int digits,
                             struct ta_jsonw_memo *m) {
  int64_t sec = ns / 1000000000, frac = ns % 1000000000;
  if (frac < 0) {
    frac += 1000000000;
    sec--;
  }
  if (!second_text(p, sec, m))
    return TA_JPUT_LIT(p, TIME_OUT_OF_RANGE);
  if (m && sec >= INT64_MIN / 1000000000) {
    memcpy(m->sec_text, p, 20);
    m->sec_ns = sec * 1000000000;
    m->have_sec = true;
  }
  return put_time_frac(p + 20, (uint32_t)frac, digits);
}

/* A time in the second m formatted last (records come in time order, and
 * most of a moment's share one) is its text and the ns past it: no
 * division. The difference is taken unsigned, so that one before the
 * second, or any far from it, is out of the range. */
char *ta__jput_time(char *p, int64_t ns, int digits, struct ta_jsonw_memo *m) {
  uint64_t past;
  if (m && m->have_sec &&
      (past = (uint64_t)ns - (uint64_t)m->sec_ns) < 1000000000u) {
    memcpy(p, m->sec_text, 20);
    return put_time_frac(p + 20, (uint32_t)past, digits);
  }
  return put_time_second(p, ns, digits, m);
}

void ta_time_format(char *buf, size_t len, int64_t ns, int digits) {
  if (len < 32) {
    snprintf(buf, len, TIME_OUT_OF_RANGE);
    return;
  }
  *ta__jput_time(buf, ns, digits, NULL) = 0;
}

void ta_jsonw_time(struct ta_jsonw *w, int64_t ns) {
  char *d = value_room(w, 32);
  if (d) {
    char *e = ta__jput_sep(w, d);
    *e++ = '"';
    e = ta__jput_time(e, ns, w->digits, w->memo);
    *e++ = '"';
    ta_sink_room_done(w->out, d, e);
    return;
  }
  char b[40];
  b[0] = '"';
  char *e = ta__jput_time(b + 1, ns, w->digits, w->memo);
  *e++ = '"';
  write_plain(w, b, (size_t)(e - b));
}

/* Each byte's decimal text followed by a dot, in four bytes (the rest
 * zero), and its length with the dot: an address byte is one copy of a
 * constant word, whatever its digits. Built by the preprocessor (the
 * casts: some compilers check the arms not taken, whose values overflow). */
#define BYTE_D0(v) ((char)((v) >= 100 ? '0' + (v) / 100 : (v) >= 10 ? '0' + (v) / 10 : '0' + (v)))
#define BYTE_D1(v) ((char)((v) >= 100 ? '0' + (v) / 10 % 10 : (v) >= 10 ? '0' + (v) % 10 : '.'))
#define BYTE_D2(v) ((char)((v) >= 100 ? '0' + (v) % 10 : (v) >= 10 ? '.' : 0))
#define BYTE_D3(v) ((char)((v) >= 100 ? '.' : 0))
#define BYTE_TEXT(v) {{BYTE_D0(v), BYTE_D1(v), BYTE_D2(v), BYTE_D3(v)}}
#define BYTE_LEN(v) (2 + ((v) >= 10) + ((v) >= 100))
#define BYTES4(X, v) X(v), X(v + 1), X(v + 2), X(v + 3)
#define BYTES16(X, v) BYTES4(X, v), BYTES4(X, v + 4), BYTES4(X, v + 8), BYTES4(X, v + 12)
#define BYTES64(X, v) BYTES16(X, v), BYTES16(X, v + 16), BYTES16(X, v + 32), BYTES16(X, v + 48)
#define BYTES256(X) BYTES64(X, 0), BYTES64(X, 64), BYTES64(X, 128), BYTES64(X, 192)

static const struct {
  char t[4];
} byte_dot[256] = {BYTES256(BYTE_TEXT)};
static const uint8_t byte_dot_len[256] = {BYTES256(BYTE_LEN)};

/* A dotted quad; stores up to 16 bytes (a dot past its end). */
static inline char *put_byte_dot(char *p, uint8_t b) {
  memcpy(p, byte_dot[b].t, 4);
  return p + byte_dot_len[b];
}

static char *put_quad(char *p, const uint8_t *ip) {
  p = put_byte_dot(p, ip[0]); /* written out: no loop to count */
  p = put_byte_dot(p, ip[1]);
  p = put_byte_dot(p, ip[2]);
  p = put_byte_dot(p, ip[3]);
  return p - 1;
}

/* A 16-bit group in lower-case hex without leading zeros. */
static char *put_group(char *p, unsigned v) {
  if (v >= 0x1000)
    *p++ = hex_digits[v >> 12];
  if (v >= 0x100)
    *p++ = hex_digits[v >> 8 & 15];
  if (v >= 0x10)
    *p++ = hex_digits[v >> 4 & 15];
  *p++ = hex_digits[v & 15];
  return p;
}

/* The text inet_ntop gives (which formats through sprintf): the first
 * longest run of two or more zero groups as "::", and the IPv4-compatible
 * and IPv4-mapped forms with a dotted quad. */
static char *put_ipv6(char *p, const uint8_t *ip) {
  unsigned g[8];
  int best = -1, best_len = 0, cur = -1;
  for (int i = 0; i < 8; i++) {
    g[i] = (unsigned)ip[2 * i] << 8 | ip[2 * i + 1];
    if (g[i] == 0 && cur < 0)
      cur = i;
    if (cur >= 0 && (g[i] != 0 || i == 7)) {
      int len = (g[i] == 0 ? i + 1 : i) - cur;
      if (len > best_len) {
        best = cur;
        best_len = len;
      }
      cur = -1;
    }
  }
  if (best_len < 2)
    best = -1;
  for (int i = 0; i < 8; i++) {
    if (best >= 0 && i >= best && i < best + best_len) {
      if (i == best)
        *p++ = ':';
      continue;
    }
    if (i)
      *p++ = ':';
    if (i == 6 && best == 0 &&
        (best_len == 6 || (best_len == 5 && g[5] == 0xffff)))
      return put_quad(p, ip + 12);
    p = put_group(p, g[i]);
  }
  if (best >= 0 && best + best_len == 8)
    *p++ = ':';
  return p;
}

char *ta__jput_addr(char *p, uint8_t family, const uint8_t *ip) {
  return family == 6 ? put_ipv6(p, ip) : put_quad(p, ip);
}

void ta_addr_format(char *buf, size_t len, uint8_t family, const uint8_t *ip) {
  if (len < (family == 6 ? 46u : 16u)) {
    if (!inet_ntop(family == 6 ? AF_INET6 : AF_INET, ip, buf, (socklen_t)len))
      snprintf(buf, len, "?");
    return;
  }
  *ta__jput_addr(buf, family, ip) = 0;
}

void ta_jsonw_set_memo(struct ta_jsonw *w, struct ta_jsonw_memo *m) {
  w->memo = m;
}

struct ta_jsonw_memo_slot *ta_jsonw_memo_find(struct ta_jsonw_memo *m,
                                              const void *key, size_t len,
                                              bool *hit) {
  const uint8_t *k = key;
  uint64_t h = len;
  for (size_t i = 0; i < len; i += 8) { /* whole words: see ta_jsonw.h */
    uint64_t x;
    memcpy(&x, k + i, 8);
    h = (h ^ x) * 0x9e3779b97f4a7c15ull;
  }
  return ta_jsonw_memo_at(m, ta_hash_mix64(h), key, len, hit);
}
