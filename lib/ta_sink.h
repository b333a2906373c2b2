/* tcpaudit - sink: where reporters write bytes, a FILE or a memory buffer.
 * Buffered; the first write error sticks and is reported at close. */
#ifndef TA_SINK_H
#define TA_SINK_H

#include <stddef.h>
#include <stdio.h>

struct ta_sink {
  FILE *fp;        /* NULL for a memory sink */
  char *mem;       /* memory sink buffer (owned) */
  size_t mem_len, mem_cap;
  char buf[65536]; /* write buffer for FILE sinks */
  size_t buf_len;
  int error;       /* 0 or TA_EWRITE */
};

/* Sink over an open FILE (not closed by the sink). Cannot fail. */
void ta_sink_init_file(struct ta_sink *s, FILE *fp);
/* Growing memory sink; ta_sink_mem() gives the bytes. Cannot fail. */
void ta_sink_init_mem(struct ta_sink *s);
/* Appends n bytes; the common small write to a FILE sink is inline. */
void ta__sink_write_slow(struct ta_sink *s, const void *p, size_t n);
static inline void ta_sink_write(struct ta_sink *s, const void *p, size_t n) {
  if (s->fp && s->buf_len + n <= sizeof s->buf) {
    __builtin_memcpy(s->buf + s->buf_len, p, n);
    s->buf_len += n;
    return;
  }
  if (!s->fp && s->mem_len + n < s->mem_cap) { /* room for the NUL too */
    __builtin_memcpy(s->mem + s->mem_len, p, n);
    s->mem_len += n;
    s->mem[s->mem_len] = 0;
    return;
  }
  ta__sink_write_slow(s, p, n);
}
/* Room for n more bytes written in place: a pointer into the buffer, or
 * NULL (then write with ta_sink_write); ta_sink_commit says how many were
 * used. For formatting small pieces without a copy. */
char *ta__sink_reserve_slow(struct ta_sink *s, size_t n);
static inline char *ta_sink_reserve(struct ta_sink *s, size_t n) {
  if (s->fp)
    return s->buf_len + n <= sizeof s->buf ? s->buf + s->buf_len : NULL;
  if (s->mem_len + n < s->mem_cap)
    return s->mem + s->mem_len;
  return ta__sink_reserve_slow(s, n);
}
static inline void ta_sink_commit(struct ta_sink *s, size_t used) {
  if (s->fp) {
    s->buf_len += used;
  } else {
    s->mem_len += used;
    s->mem[s->mem_len] = 0;
  }
}
/* Room for n bytes (n <= sizeof s->buf) that is always given: a FILE
 * sink's buffer is drained to make it, a memory sink grows. When memory
 * runs out the sink records the error and lends its own buffer, so a
 * caller formats as usual and ta_sink_room_done drops the bytes. For
 * writing a record's pieces in place without a check before each one. */
char *ta__sink_room_slow(struct ta_sink *s, size_t n);
static inline char *ta_sink_room(struct ta_sink *s, size_t n) {
  char *d = ta_sink_reserve(s, n);
  return d ? d : ta__sink_room_slow(s, n);
}
/* Keeps the bytes from d (what ta_sink_room gave) up to end. */
static inline void ta_sink_room_done(struct ta_sink *s, const char *d,
                                     const char *end) {
  if (!s->fp && d == s->buf)
    return; /* out of memory: already recorded */
  ta_sink_commit(s, (size_t)(end - d));
}
void ta_sink_puts(struct ta_sink *s, const char *str);
void ta_sink_printf(struct ta_sink *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Pushes buffered bytes to the FILE and fflush()es it; returns 0 or TA_EWRITE. */
int ta_sink_flush(struct ta_sink *s);
/* NUL-terminated contents of a memory sink (owned by the sink). */
const char *ta_sink_mem(struct ta_sink *s, size_t *len);
/* Flushes and frees memory; returns the sticky error. */
int ta_sink_close(struct ta_sink *s);

#endif
