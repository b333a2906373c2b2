/* tcpaudit - reader: byte sources with transparent gzip/zstd decompression.
 * A small stream layer so that libpcap and the pcapng reader both read from
 * a FILE*, and the classic pcap reader reads large blocks without one;
 * compression is found from magic bytes, never from file names. */
#define _GNU_SOURCE /* fopencookie */
#include "ta_source.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "ta_error.h"

enum codec { CODEC_NONE, CODEC_GZIP, CODEC_ZSTD };

#define SOURCE_INBUF (256u * 1024u)
#define SOURCE_PEEK 64u

struct ta_source {
  int fd;
  bool own_fd;
  enum codec codec;
  uint8_t *in;      /* compressed input buffer */
  size_t in_pos, in_len;
  bool in_eof;
  uint64_t consumed, size;
  uint64_t delivered; /* decompressed bytes handed to the FILE */
  z_stream z;
  bool z_done;      /* end of a gzip member reached */
  ZSTD_DStream *zs;
  size_t zs_pending; /* non-zero while a zstd frame is unfinished */
  uint8_t peek[SOURCE_PEEK]; /* decompressed bytes peeked, replayed first */
  size_t peek_pos, peek_len;
  FILE *fp;
  bool direct;      /* fp reads the file itself: no decoding layer */
  char error[128];
};

static int fill_input(struct ta_source *s) {
  if (s->in_pos < s->in_len || s->in_eof)
    return 0;
  ssize_t n;
  do
    n = read(s->fd, s->in, SOURCE_INBUF);
  while (n < 0 && errno == EINTR);
  if (n < 0) {
    snprintf(s->error, sizeof s->error, "read error: %s", strerror(errno));
    return -1;
  }
  s->in_pos = 0;
  s->in_len = (size_t)n;
  s->consumed += (uint64_t)n;
  if (n == 0)
    s->in_eof = true;
  return 0;
}

/* read() that retries on a signal and records a failure. */
static long read_fd(struct ta_source *s, uint8_t *buf, size_t n) {
  ssize_t k;
  do
    k = read(s->fd, buf, n);
  while (k < 0 && errno == EINTR);
  if (k < 0)
    snprintf(s->error, sizeof s->error, "read error: %s", strerror(errno));
  return (long)k;
}

static long read_plain(struct ta_source *s, uint8_t *buf, size_t n) {
  if (s->in_pos == s->in_len && !s->in_eof && n >= SOURCE_INBUF) {
    /* a large request goes straight to the caller: no copy through s->in */
    long k = read_fd(s, buf, n);
    if (k > 0)
      s->consumed += (uint64_t)k;
    else if (k == 0)
      s->in_eof = true;
    return k;
  }
  if (fill_input(s) < 0)
    return -1;
  size_t k = s->in_len - s->in_pos;
  if (k > n)
    k = n;
  memcpy(buf, s->in + s->in_pos, k);
  s->in_pos += k;
  return (long)k;
}

static long read_gzip(struct ta_source *s, uint8_t *buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    if (fill_input(s) < 0)
      return -1;
    if (s->in_pos == s->in_len) {
      if (!s->z_done && got == 0) {
        snprintf(s->error, sizeof s->error, "gzip stream is truncated");
        return -1;
      }
      break;
    }
    if (s->z_done) { /* another member follows: concatenated gzip */
      inflateReset(&s->z);
      s->z_done = false;
    }
    s->z.next_in = s->in + s->in_pos;
    s->z.avail_in = (uInt)(s->in_len - s->in_pos);
    s->z.next_out = buf + got;
    s->z.avail_out = (uInt)(n - got);
    int rc = inflate(&s->z, Z_NO_FLUSH);
    s->in_pos = s->in_len - s->z.avail_in;
    got = n - s->z.avail_out;
    if (rc == Z_STREAM_END)
      s->z_done = true;
    else if (rc != Z_OK && rc != Z_BUF_ERROR) {
      snprintf(s->error, sizeof s->error, "gzip data error: %s",
               s->z.msg ? s->z.msg : "corrupt");
      return -1;
    }
  }
  return (long)got;
}

static long read_zstd(struct ta_source *s, uint8_t *buf, size_t n) {
  ZSTD_outBuffer out = {buf, n, 0};
  while (out.pos < out.size) {
    if (fill_input(s) < 0)
      return -1;
    if (s->in_pos == s->in_len) {
      if (s->zs_pending != 0 && out.pos == 0) {
        snprintf(s->error, sizeof s->error, "zstd stream is truncated");
        return -1;
      }
      break;
    }
    ZSTD_inBuffer in = {s->in, s->in_len, s->in_pos};
    size_t rc = ZSTD_decompressStream(s->zs, &out, &in);
    s->in_pos = in.pos;
    if (ZSTD_isError(rc)) {
      snprintf(s->error, sizeof s->error, "zstd data error: %s",
               ZSTD_getErrorName(rc));
      return -1;
    }
    s->zs_pending = rc;
  }
  return (long)out.pos;
}

static long read_decoded(struct ta_source *s, uint8_t *buf, size_t n) {
  switch (s->codec) {
  case CODEC_GZIP:
    return read_gzip(s, buf, n);
  case CODEC_ZSTD:
    return read_zstd(s, buf, n);
  default:
    return read_plain(s, buf, n);
  }
}

/* The bytes peeked at for detection first, then the decoded stream;
 * counts what it hands out. -1 on a read or decompression error. */
static long read_delivered(struct ta_source *s, uint8_t *buf, size_t n) {
  if (s->peek_pos < s->peek_len) {
    size_t k = s->peek_len - s->peek_pos;
    if (k > n)
      k = n;
    memcpy(buf, s->peek + s->peek_pos, k);
    s->peek_pos += k;
    s->delivered += k;
    return (long)k;
  }
  long r = read_decoded(s, buf, n);
  if (r > 0)
    s->delivered += (uint64_t)r;
  return r;
}

static ssize_t cookie_read(void *cookie, char *buf, size_t n) {
  long r = read_delivered(cookie, (uint8_t *)buf, n);
  if (r < 0) {
    errno = EIO;
    return -1;
  }
  return r;
}

/* Serves position queries only, so that ftell() tells a reader how many
 * decompressed bytes it has consumed; the stream itself cannot seek. */
static int cookie_seek(void *cookie, off64_t *pos, int whence) {
  struct ta_source *s = cookie;
  if (whence != SEEK_CUR || *pos != 0) {
    errno = ESPIPE;
    return -1;
  }
  *pos = (off64_t)s->delivered;
  return 0;
}

static int cookie_close(void *cookie) {
  (void)cookie; /* the source owns the descriptor */
  return 0;
}

static int detect_codec(struct ta_source *s) {
  if (fill_input(s) < 0)
    return -1;
  const uint8_t *p = s->in;
  size_t n = s->in_len;
  if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b) {
    s->codec = CODEC_GZIP;
    if (inflateInit2(&s->z, 16 + MAX_WBITS) != Z_OK)
      return -1;
  } else if (n >= 4 && p[0] == 0x28 && p[1] == 0xb5 && p[2] == 0x2f &&
             p[3] == 0xfd) {
    s->codec = CODEC_ZSTD;
    s->zs = ZSTD_createDStream();
    if (!s->zs)
      return -1;
    s->zs_pending = 1;
  }
  return 0;
}

/* An uncompressed regular file is handed to stdio as it is, with a large
 * buffer: the decoding layer would only add a copy per read. The bytes
 * already read for detection are kept for ta_source_peek(). */
static bool open_direct(struct ta_source *s) {
  struct stat st;
  if (s->codec != CODEC_NONE || fstat(s->fd, &st) != 0 ||
      !S_ISREG(st.st_mode) || lseek(s->fd, 0, SEEK_SET) != 0)
    return false;
  FILE *fp = fdopen(s->fd, "r");
  if (!fp)
    return false;
  setvbuf(fp, NULL, _IOFBF, SOURCE_INBUF);
  s->peek_len = s->in_len < SOURCE_PEEK ? s->in_len : SOURCE_PEEK;
  memcpy(s->peek, s->in, s->peek_len);
  s->fp = fp;
  s->direct = true;
  s->own_fd = false; /* fclose() closes it */
  return true;
}

int ta_source_open(const char *path, struct ta_source **out, char *err,
                   size_t errlen) {
  struct ta_source *s = calloc(1, sizeof *s);
  if (!s || !(s->in = malloc(SOURCE_INBUF))) {
    free(s);
    return ta__fail(err, errlen, TA_ENOMEM, "out of memory");
  }
  if (strcmp(path, "-") == 0) {
    s->fd = 0;
  } else {
    s->fd = open(path, O_RDONLY | O_CLOEXEC);
    s->own_fd = true;
    if (s->fd < 0) {
      int e = errno;
      free(s->in);
      free(s);
      return ta__fail(err, errlen, TA_EIO, "%s: %s", path, strerror(e));
    }
  }
  struct stat st;
  if (fstat(s->fd, &st) == 0) {
    if (S_ISDIR(st.st_mode)) {
      ta_source_close(s);
      return ta__fail(err, errlen, TA_EIO, "%s: is a directory", path);
    }
    if (S_ISREG(st.st_mode))
      s->size = (uint64_t)st.st_size;
  }
  cookie_io_functions_t io = {.read = cookie_read, .seek = cookie_seek,
                              .close = cookie_close};
  if (detect_codec(s) < 0) {
    int rc = ta__fail(err, errlen, TA_EIO, "%s: %s", path,
                      s->error[0] ? s->error : "cannot set up decoding");
    ta_source_close(s);
    return rc;
  }
  if (open_direct(s))
    goto done;
  if (!(s->fp = fopencookie(s, "r", io))) {
    int rc = ta__fail(err, errlen, TA_EIO, "%s: %s", path,
                      s->error[0] ? s->error : "cannot set up decoding");
    ta_source_close(s);
    return rc;
  }
done:
  *out = s;
  return 0;
}

long ta_source_peek(struct ta_source *s, uint8_t *buf, size_t n) {
  if (n > SOURCE_PEEK)
    n = SOURCE_PEEK;
  while (!s->direct && s->peek_len < n) {
    long r = read_decoded(s, s->peek + s->peek_len, n - s->peek_len);
    if (r < 0)
      return -1;
    if (r == 0)
      break;
    s->peek_len += (size_t)r;
  }
  size_t k = s->peek_len < n ? s->peek_len : n;
  memcpy(buf, s->peek, k);
  return (long)k;
}

long ta_source_read(struct ta_source *s, uint8_t *buf, size_t n) {
  /* a direct source's descriptor is still at offset 0 (the FILE has read
   * nothing, and peeked bytes were copies), so it is read as it is */
  if (s->direct)
    return read_fd(s, buf, n);
  return read_delivered(s, buf, n);
}

FILE *ta_source_stream(struct ta_source *s) { return s->fp; }

void ta_source_release_stream(struct ta_source *s) { s->fp = NULL; }

const char *ta_source_compression(const struct ta_source *s) {
  return s->codec == CODEC_GZIP ? "gzip" : s->codec == CODEC_ZSTD ? "zstd"
                                                                   : "none";
}

uint64_t ta_source_offset(const struct ta_source *s) {
  if (s->direct) { /* includes stdio's read-ahead: close enough for progress */
    off_t off = lseek(s->fd, 0, SEEK_CUR);
    return off < 0 ? 0 : (uint64_t)off;
  }
  return s->consumed - (s->in_len - s->in_pos);
}
uint64_t ta_source_size(const struct ta_source *s) { return s->size; }

int ta_source_plain_fd(const struct ta_source *s) {
  return s->direct && s->delivered == 0 ? s->fd : -1;
}

const char *ta_source_error(const struct ta_source *s) {
  return s->error[0] ? s->error : NULL;
}

void ta_source_close(struct ta_source *s) {
  if (!s)
    return;
  if (s->codec == CODEC_GZIP)
    inflateEnd(&s->z);
  if (s->zs)
    ZSTD_freeDStream(s->zs);
  if (s->fp)
    fclose(s->fp);
  if (s->own_fd && s->fd >= 0)
    close(s->fd);
  free(s->in);
  free(s);
}
