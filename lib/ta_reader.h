/* tcpaudit - reader: one capture file as a stream of timestamped frames.
 * Classic pcap goes through our own record reader (libpcap's costs more
 * than the analysis), with libpcap for the rare variants; pcapng through
 * our own block reader (libpcap refuses files whose interfaces have
 * different link types).
 * The optional BPF filter is applied here, per link type, but filtered
 * frames are still returned (marked) so every frame is counted. */
#ifndef TA_READER_H
#define TA_READER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ta_report.h"

/* Ordered so that it fills 32 bytes, with no hole. */
struct ta_frame {
  int64_t ts_ns;
  const uint8_t *data;   /* valid until the next call on the same reader */
  uint32_t caplen, wirelen;
  uint32_t linktype;     /* LINKTYPE_ value as in the file */
  bool filtered_out;     /* rejected by the BPF filter */
  bool bad_interface;    /* pcapng: refers to an undeclared interface */
};

struct ta_reader;

/* Opens one input and reads its header(s); fills info (path, format,
 * compression, link type, snaplen, precision). filter may be NULL.
 * Returns 0, TA_EIO, TA_EFORMAT, TA_ETRUNC, TA_EFILTER or TA_ENOMEM. */
int ta_reader_open(const char *path, const char *filter, struct ta_reader **out,
                   struct ta_input_info *info, char *err, size_t errlen);
/* Next frame: 1 with *f filled, 0 at a clean end, or a negative TA_E* when
 * the file is damaged (TA_ETRUNC, TA_ECORRUPT, TA_EIO) with err filled.
 * Updates info's counters. After a negative return, reading stops. */
int ta_reader_next(struct ta_reader *r, struct ta_frame *f,
                   struct ta_input_info *info, char *err, size_t errlen);
/* The same for up to max frames at once, into f[0..max): returns how many
 * (at least 1), 0 at a clean end, or a negative TA_E* as above, which comes
 * only on a call that returned no frame. All frames of one call stay valid
 * until the next call on the same reader. Classic pcap fills several per
 * call, from what is buffered; the other formats one. */
int ta_reader_next_batch(struct ta_reader *r, struct ta_frame *f, size_t max,
                         struct ta_input_info *info, char *err, size_t errlen);
/* False when no frame of this reader can come back marked (filtered_out
 * or bad_interface): it has no filter and reads no pcapng, so a caller may
 * skip the test per frame. */
bool ta_reader_marks(const struct ta_reader *r);
/* Compressed bytes read so far and the input size (0 if unknown). */
uint64_t ta_reader_offset(const struct ta_reader *r);
uint64_t ta_reader_size(const struct ta_reader *r);
void ta_reader_close(struct ta_reader *r);

/* Classic pcap record reader, internal to the reader module. Opens src
 * when its header is one it reads (see pcapfile.c): returns 0 with *out
 * set; returns 0 with *out NULL, having consumed nothing, for any other
 * header, which is then libpcap's; or TA_ENOMEM / TA_ECORRUPT. bufsize is
 * the read buffer (0 for the default); it grows for a larger record. With
 * map, an uncompressed regular file is mapped instead, a window of about
 * bufsize (default 8 MiB) at a time, so its bytes are never copied. */
struct ta_source;
struct ta__pcapfile;
int ta__pcapfile_open(struct ta_source *src, size_t bufsize, bool map,
                      struct ta__pcapfile **out, char *err, size_t errlen);
/* Same return convention as ta_reader_next; err is not prefixed. Adds
 * one to *oversized for a record cut to the snaplen because it claimed
 * more. */
int ta__pcapfile_next(struct ta__pcapfile *r, struct ta_frame *f,
                      uint64_t *oversized, char *err, size_t errlen);
/* Up to max records into f[0..max), as ta_reader_next_batch: the count,
 * 0 at a clean end, or a negative TA_E* on a call that returns none. */
int ta__pcapfile_batch(struct ta__pcapfile *r, struct ta_frame *f, size_t max,
                       uint64_t *oversized, char *err, size_t errlen);
/* Link type, snaplen (as libpcap adjusts it) and timestamp digits. */
void ta__pcapfile_info(const struct ta__pcapfile *r, uint32_t *linktype,
                       uint32_t *snaplen, int *digits);
/* Bytes of a mapped file consumed so far (for progress); 0 when read. */
uint64_t ta__pcapfile_offset(const struct ta__pcapfile *r);
void ta__pcapfile_close(struct ta__pcapfile *r);

/* pcapng block reader, internal to the reader module. */
struct ta__pcapng;
int ta__pcapng_open(FILE *fp, struct ta__pcapng **out, char *err, size_t errlen);
/* Same return convention as ta_reader_next. */
int ta__pcapng_next(struct ta__pcapng *r, struct ta_frame *f, char *err,
                    size_t errlen);
/* Interfaces declared so far: link type, snaplen and precision of each. */
uint32_t ta__pcapng_iface_count(const struct ta__pcapng *r);
void ta__pcapng_iface(const struct ta__pcapng *r, uint32_t i, uint32_t *linktype,
                      uint32_t *snaplen, int *digits);
/* Blocks of unknown type skipped so far. */
uint64_t ta__pcapng_unknown_blocks(const struct ta__pcapng *r);
/* Packets whose captured length exceeds their interface's snaplen. */
uint64_t ta__pcapng_oversized(const struct ta__pcapng *r);
/* The first section comment found ("" if none); owned by the reader. */
const char *ta__pcapng_comment(const struct ta__pcapng *r);
/* Interfaces declared so far over all sections, and the name and
 * description of the i-th; NULL when i >= TA_MAX_INPUT_IFACES. */
uint32_t ta__pcapng_declared(const struct ta__pcapng *r);
const struct ta_iface_text *ta__pcapng_iface_text(const struct ta__pcapng *r,
                                                  uint32_t i);
void ta__pcapng_close(struct ta__pcapng *r);

#endif
