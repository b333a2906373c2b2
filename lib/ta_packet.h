/* tcpaudit - decode: the decoded view of one captured frame.
 * Filled by ta_decode_frame() from untrusted bytes; everything here has been
 * bounds-checked. Holds no pointers into the frame except `payload`. */
#ifndef TA_PACKET_H
#define TA_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ta_limits.h"

/* Link types we decode (values are LINKTYPE_* numbers as stored in files). */
#define TA_LINK_NULL 0
#define TA_LINK_ETHERNET 1
#define TA_LINK_RAW_BSD 12 /* DLT_RAW on most BSDs and Linux */
#define TA_LINK_RAW_OBSD 14 /* DLT_RAW on OpenBSD */
#define TA_LINK_RAW 101
#define TA_LINK_LOOP 108
#define TA_LINK_SLL 113
#define TA_LINK_IPV4 228
#define TA_LINK_IPV6 229
#define TA_LINK_SLL2 276

/* Where a frame ended up. Exactly one per frame; the report's counters of
 * these sum to the number of frames read. */
#define TA_DISPOSITION_MAP(X)                                                  \
  X(TCP, "tcp")                                                                \
  X(NON_TCP, "non_tcp")                                                        \
  X(NON_IP, "non_ip")                                                          \
  X(FRAGMENT, "fragments")                                                     \
  X(MALFORMED, "malformed")                                                    \
  X(UNSUPPORTED_LINK, "unsupported_linktype")                                  \
  X(FILTERED, "filtered_out")

enum ta_disposition {
#define TA__DISP_ENUM(name, str) TA_DISP_##name,
  TA_DISPOSITION_MAP(TA__DISP_ENUM)
#undef TA__DISP_ENUM
      TA_DISP_COUNT
};

/* Why a frame was malformed (first problem found). */
#define TA_MALFORMED_MAP(X)                                                    \
  X(NONE, "none")                                                              \
  X(LINK_SHORT, "link_header_short")                                           \
  X(VLAN_DEPTH, "vlan_too_deep")                                               \
  X(IP_SHORT, "ip_header_short")                                               \
  X(IP_VERSION, "ip_bad_version")                                              \
  X(IPV4_IHL, "ipv4_bad_ihl")                                                  \
  X(IP_TOTAL_LEN, "ip_bad_total_length")                                       \
  X(IPV6_EXT, "ipv6_bad_extension")                                            \
  X(TCP_SHORT, "tcp_header_short")                                             \
  X(TCP_DOFF, "tcp_bad_data_offset")                                          \
  X(NO_IFACE, "pcapng_undeclared_interface")                                   \
  X(MPLS_DEPTH, "mpls_too_deep")                                               \
  X(TUNNEL_HDR, "tunnel_bad_header")                                           \
  X(TUNNEL_DEPTH, "tunnel_too_deep")                                           \
  X(IP_CHECKSUM, "ipv4_bad_checksum")

enum ta_malformed {
#define TA__MAL_ENUM(name, str) TA_MAL_##name,
  TA_MALFORMED_MAP(TA__MAL_ENUM)
#undef TA__MAL_ENUM
      TA_MAL_COUNT
};

/* Anomaly bits: facts about a frame that did not stop decoding. */
enum {
  TA_ANOM_SNAP_TRUNCATED = 1u << 0, /* caplen < wire length */
  TA_ANOM_IP_PADDED = 1u << 1,      /* frame longer than IP total length */
  TA_ANOM_IP_OPTIONS = 1u << 2,     /* IPv4 header options present */
  TA_ANOM_TCP_OPT_BAD = 1u << 3,    /* option length 0/1 or past header */
  TA_ANOM_TCP_OPT_AFTER_EOL = 1u << 4,
  TA_ANOM_TCP_RESERVED = 1u << 5,   /* non-zero reserved bits */
  TA_ANOM_URG_PTR_NO_URG = 1u << 6,
  TA_ANOM_TS_ECR_ON_SYN = 1u << 7,  /* timestamp echo non-zero on a bare SYN */
  TA_ANOM_TCP_TRUNCATED = 1u << 8,  /* TCP header cut by the snaplen */
  TA_ANOM_IP_TOTAL_SHORT = 1u << 9, /* IP total length > bytes on the wire */
};

/* Encapsulations unwrapped on the way to the IP packet a frame describes. */
enum {
  TA_ENCAP_MPLS = 1u << 0,   /* MPLS label stack (ethertype 0x8847/0x8848) */
  TA_ENCAP_PPPOE = 1u << 1,  /* PPPoE session (0x8864) */
  TA_ENCAP_GTP_U = 1u << 2,  /* GTPv1-U T-PDU in UDP (port 2152) */
  TA_ENCAP_TEREDO = 1u << 3, /* IPv6 in UDP (RFC 4380) */
};

/* Checksums found wrong; looked at only with TA_DECODE_VERIFY_CHECKSUMS. */
enum {
  TA_CSUM_IPV4 = 1u << 0, /* an IPv4 header, outer or inner: MALFORMED */
  TA_CSUM_TCP = 1u << 1,  /* the TCP segment: still TCP, see ta_conn_update */
  TA_CSUM_UDP = 1u << 2,  /* a UDP datagram carrying a tunnel: not unwrapped */
};

/* Options for ta_decode_frame_opts(). */
#define TA_DECODE_VERIFY_CHECKSUMS 1u

enum {
  TA_TCP_FIN = 0x01,
  TA_TCP_SYN = 0x02,
  TA_TCP_RST = 0x04,
  TA_TCP_PSH = 0x08,
  TA_TCP_ACK = 0x10,
  TA_TCP_URG = 0x20,
  TA_TCP_ECE = 0x40,
  TA_TCP_CWR = 0x80,
};

/* TCP options as parsed; `has_*` say whether each was present. */
struct ta_tcp_options {
  uint16_t mss;
  uint8_t wscale;
  bool has_mss, has_wscale, sack_ok, has_ts;
  uint8_t zero_;                      /* always 0 (see struct ta_packet) */
  uint32_t ts_val, ts_ecr;
  uint8_t sack_blocks;
  uint8_t n_layout;                   /* option kinds in order, capped */
  uint8_t layout[TA_MAX_OPT_LAYOUT];  /* kind numbers, EOL kept as 0 */
  uint8_t zero_tail_[2];              /* always 0 */
};

/* Every byte is a named field, the `zero_` ones always 0, so that the
 * decoder's shortcut, which writes each field instead of clearing the
 * whole struct, provably leaves nothing of a previous frame behind
 * (tests/test_decode.c compares all bytes). Keep it so when adding one. */
struct ta_packet {
  int64_t ts_ns;     /* capture time, ns since the epoch */
  uint64_t frame;    /* 1-based position among all frames read (set by the
                        pipeline, not by decode; 0 when unknown) */
  uint32_t caplen;   /* bytes captured */
  uint32_t wirelen;  /* bytes on the wire */
  uint32_t linktype;
  uint16_t vlan_depth;
  uint16_t malformed; /* enum ta_malformed when disposition is MALFORMED */
  uint8_t disposition; /* enum ta_disposition */
  uint8_t zero_[3];
  uint32_t anomalies;  /* TA_ANOM_* bits */
  uint8_t encap;        /* TA_ENCAP_* bits of the layers unwrapped */
  uint8_t mpls_labels;  /* MPLS label stack entries popped */
  uint8_t tunnel_depth; /* IP-in-UDP tunnels crossed; when non-zero the IP
                           and TCP fields below are the innermost packet's */
  bool verify_checksums; /* checksums were checked (the decode option) where
                            the whole header or segment was captured */
  uint8_t checksum_bad;  /* TA_CSUM_* bits of the checksums found wrong */

  /* IP layer (valid from NON_TCP on) */
  uint8_t family; /* 4 or 6 */
  uint8_t ip_proto;
  uint8_t ttl;    /* TTL or hop limit */
  uint8_t tos;    /* IPv4 TOS / IPv6 traffic class (ECN in low 2 bits) */
  bool df;
  uint16_t ip_id;
  uint8_t src[16], dst[16]; /* IPv4 uses the first 4 bytes */
  uint32_t ip_len;          /* IP total length as on the wire (header+payload) */

  /* TCP layer (valid when disposition is TCP) */
  uint16_t sport, dport;
  uint32_t seq, ack;
  uint8_t flags;      /* TA_TCP_* */
  uint8_t reserved;   /* the 4 reserved bits (incl. AE/NS) */
  uint16_t window;    /* raw, unscaled */
  uint16_t urg_ptr;
  uint16_t tcp_hlen;  /* header length from the data offset */
  uint32_t payload_len; /* from IP lengths, not from caplen */
  const uint8_t *payload; /* captured part of the payload, may be shorter */
  uint32_t payload_caplen;
  struct ta_tcp_options opt;
};

/* Decodes one frame of the given link type into *pkt (all fields reset).
 * Pure: reads only data[0..caplen). Sets disposition and never fails. */
void ta_decode_frame(uint32_t linktype, const uint8_t *data, uint32_t caplen,
                     uint32_t wirelen, struct ta_packet *pkt);

/* Same, with options: TA_DECODE_VERIFY_CHECKSUMS checks IPv4 header, TCP
 * and tunnel UDP checksums and sets checksum_bad. Never fails. */
void ta_decode_frame_opts(uint32_t linktype, const uint8_t *data,
                          uint32_t caplen, uint32_t wirelen, unsigned opts,
                          struct ta_packet *pkt);

/* The general decoder alone, without the shortcut ta_decode_frame_opts()
 * takes for plain TCP frames; gives the same result. For tests. */
void ta__decode_frame_general(uint32_t linktype, const uint8_t *data,
                              uint32_t caplen, uint32_t wirelen, unsigned opts,
                              struct ta_packet *pkt);

/* Decodes an IPv4 or IPv6 packet starting at p (length len, which is
 * already clamped to the frame). Used by ta_decode_frame; public for tests. */
void ta_decode_ip(const uint8_t *p, size_t len, uint32_t wire_remaining,
                  struct ta_packet *pkt);

/* Parses TCP options from opt[0..len) into *out; returns TA_ANOM_* bits
 * for problems found (0 when clean). Cannot fail otherwise. */
uint32_t ta_tcp_options_parse(const uint8_t *opt, size_t len, uint8_t flags,
                              struct ta_tcp_options *out);

/* The walk over the options alone, without the common layouts both
 * decoders read at once; gives the same result. opt[0..cap) was captured
 * of an option space `full` bytes long on the wire. For tests. */
uint32_t ta__tcp_options_walk(const uint8_t *opt, size_t cap, size_t full,
                              uint8_t flags, struct ta_tcp_options *out);

/* True when the link type is one ta_decode_frame understands. */
bool ta_linktype_supported(uint32_t linktype);

/* Static names for report counters. */
const char *ta_disposition_name(int d);
const char *ta_malformed_name(int m);

#endif
