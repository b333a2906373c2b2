/* tcpaudit - sink: buffered output to a FILE or to memory for reporters. */
#include "ta_sink.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ta_error.h"

void ta_sink_init_file(struct ta_sink *s, FILE *fp) {
  memset(s, 0, offsetof(struct ta_sink, buf));
  s->buf_len = 0;
  s->error = 0;
  s->fp = fp;
}

void ta_sink_init_mem(struct ta_sink *s) { ta_sink_init_file(s, NULL); }

static void mem_append(struct ta_sink *s, const void *p, size_t n) {
  if (s->error)
    return;
  if (s->mem_len + n + 1 > s->mem_cap) {
    size_t cap = s->mem_cap ? s->mem_cap : 4096;
    while (cap < s->mem_len + n + 1)
      cap *= 2;
    char *m = realloc(s->mem, cap);
    if (!m) {
      s->error = TA_ENOMEM;
      return;
    }
    s->mem = m;
    s->mem_cap = cap;
  }
  memcpy(s->mem + s->mem_len, p, n);
  s->mem_len += n;
  s->mem[s->mem_len] = 0;
}

static void file_drain(struct ta_sink *s) {
  if (s->buf_len && !s->error &&
      fwrite(s->buf, 1, s->buf_len, s->fp) != s->buf_len)
    s->error = TA_EWRITE;
  s->buf_len = 0;
}

char *ta__sink_reserve_slow(struct ta_sink *s, size_t n) {
  if (s->fp || s->error)
    return NULL;
  size_t cap = s->mem_cap ? s->mem_cap : 4096;
  while (cap < s->mem_len + n + 1)
    cap *= 2;
  if (cap != s->mem_cap) {
    char *m = realloc(s->mem, cap);
    if (!m)
      return NULL; /* the caller's plain write then records the error */
    s->mem = m;
    s->mem_cap = cap;
  }
  return s->mem + s->mem_len;
}

char *ta__sink_room_slow(struct ta_sink *s, size_t n) {
  if (s->fp) {
    file_drain(s);
    return s->buf; /* n is at most its size */
  }
  char *d = ta__sink_reserve_slow(s, n);
  if (d)
    return d;
  if (!s->error)
    s->error = TA_ENOMEM;
  return s->buf;
}

void ta__sink_write_slow(struct ta_sink *s, const void *p, size_t n) {
  if (!s->fp) {
    mem_append(s, p, n);
    return;
  }
  if (s->buf_len + n > sizeof s->buf) {
    file_drain(s);
    if (n > sizeof s->buf) {
      if (!s->error && fwrite(p, 1, n, s->fp) != n)
        s->error = TA_EWRITE;
      return;
    }
  }
  memcpy(s->buf + s->buf_len, p, n);
  s->buf_len += n;
}

void ta_sink_puts(struct ta_sink *s, const char *str) {
  ta_sink_write(s, str, strlen(str));
}

void ta_sink_printf(struct ta_sink *s, const char *fmt, ...) {
  char tmp[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0)
    return;
  if ((size_t)n < sizeof tmp) {
    ta_sink_write(s, tmp, (size_t)n);
    return;
  }
  char *big = malloc((size_t)n + 1);
  if (!big) {
    s->error = TA_ENOMEM;
    return;
  }
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  ta_sink_write(s, big, (size_t)n);
  free(big);
}

int ta_sink_flush(struct ta_sink *s) {
  if (s->fp) {
    file_drain(s);
    if (fflush(s->fp) != 0 && !s->error)
      s->error = TA_EWRITE;
  }
  return s->error;
}

const char *ta_sink_mem(struct ta_sink *s, size_t *len) {
  if (len)
    *len = s->mem_len;
  return s->mem ? s->mem : "";
}

int ta_sink_close(struct ta_sink *s) {
  int err = ta_sink_flush(s);
  free(s->mem);
  s->mem = NULL;
  s->mem_len = s->mem_cap = 0;
  return err;
}
