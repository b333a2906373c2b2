/* tcpaudit - reader: byte sources for captures (file, stdin, gzip, zstd).
 * Opens a path or "-", detects compression from the magic bytes and hands
 * out the decompressed bytes, as a FILE* or block by block. Knows nothing
 * of capture formats. */
#ifndef TA_SOURCE_H
#define TA_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct ta_source;

/* Opens path ("-" is standard input). On success *out owns the source.
 * Returns 0, TA_EIO (cannot open) or TA_ENOMEM; err gets the detail. */
int ta_source_open(const char *path, struct ta_source **out, char *err,
                   size_t errlen);
/* Reads up to n decompressed bytes without consuming them; returns the
 * count (short at end of stream), or -1 on a read error. */
long ta_source_peek(struct ta_source *s, uint8_t *buf, size_t n);
/* Reads up to n decompressed bytes (peeked bytes included) into buf,
 * bypassing the FILE*: a reader uses one or the other, never both. Returns
 * the count (short reads happen; 0 only at the end of the stream), or -1
 * on a read or decompression error (ta_source_error() tells which). */
long ta_source_read(struct ta_source *s, uint8_t *buf, size_t n);
/* FILE* over the decompressed bytes (peeked bytes included). The source
 * stays the owner and closes it, unless it was released. It cannot seek,
 * but ftell() gives the decompressed bytes consumed from it. */
FILE *ta_source_stream(struct ta_source *s);
/* Hands the FILE* to a new owner (libpcap closes it in pcap_close());
 * ta_source_close() then leaves it alone. Cannot fail. */
void ta_source_release_stream(struct ta_source *s);
/* "none", "gzip" or "zstd". */
const char *ta_source_compression(const struct ta_source *s);
/* Compressed bytes consumed so far and the file size (0 if unknown). */
uint64_t ta_source_offset(const struct ta_source *s);
uint64_t ta_source_size(const struct ta_source *s);
/* The descriptor of an uncompressed regular file that nothing has read
 * from yet (so it can be mapped), or -1. Owned by the source. */
int ta_source_plain_fd(const struct ta_source *s);
/* Last decompression or read error, or NULL. */
const char *ta_source_error(const struct ta_source *s);
void ta_source_close(struct ta_source *s);

#endif
