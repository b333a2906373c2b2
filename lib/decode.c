/* tcpaudit - decode: link, IPv4/IPv6 and TCP headers of one captured frame.
 * Owns turning untrusted frame bytes into a struct ta_packet, through the
 * encapsulations Zeek unwraps by default (VLAN, MPLS, PPPoE, GTP-U, Teredo),
 * and checking checksums when asked: reads only inside the lengths it is
 * given, allocates nothing, keeps no state.
 * Knows nothing of connections, flows or reports. */
#include "ta_packet.h"

#include <stddef.h>
#include <string.h>

#if defined(__SSE2__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#include <emmintrin.h>
#define TA__DECODE_SSE2 1
#endif

/* Ethertypes and IP protocol numbers acted on. */
enum {
  ET_IPV4 = 0x0800,
  ET_IPV6 = 0x86DD,
  ET_VLAN = 0x8100,      /* 802.1Q */
  ET_QINQ = 0x88A8,      /* 802.1ad service tag */
  ET_QINQ_OLD = 0x9100,  /* pre-standard QinQ */
  ET_MPLS_UC = 0x8847,
  ET_MPLS_MC = 0x8848,
  ET_PPPOE_SESSION = 0x8864, /* discovery (0x8863) carries no IP */
  PPP_IPV4 = 0x0021,
  PPP_IPV6 = 0x0057,
  PROTO_TCP = 6,
  PROTO_UDP = 17,
  PROTO_NONE6 = 59,      /* IPv6 "no next header" */
  PORT_GTP_U = 2152,
  PORT_TEREDO = 3544,
  GTP_TPDU = 0xFF,       /* GTP-U message type carrying a user IP packet */
};

/* Fixed header sizes. */
enum {
  ETH_HDR = 14,
  SLL_HDR = 16,
  SLL2_HDR = 20,
  NULL_HDR = 4,
  VLAN_TAG = 4,
  IPV4_MIN_HDR = 20,
  IPV6_HDR = 40,
  IPV6_EXT_MIN = 8, /* every extension header is at least 8 bytes */
  TCP_MIN_HDR = 20,
  MPLS_ENTRY = 4,
  PPPOE_HDR = 6,    /* version/type, code, session id, length */
  PPP_PROTO = 2,    /* the PPP protocol field after it */
  UDP_HDR = 8,
  GTP_HDR = 8,      /* flags, type, length, TEID */
  GTP_OPT = 4,      /* sequence number, N-PDU number, next extension type */
  TEREDO_ORIGIN = 8,
  TEREDO_AUTH_FIXED = 13, /* tag, two lengths, nonce (8), confirmation */
};

/* BSD address families as written by DLT_NULL / DLT_LOOP captures. The
 * IPv6 value differs between the BSDs (24), FreeBSD (28) and Darwin (30). */
enum {
  BSD_AF_INET = 2,
  BSD_AF_INET6_BSD = 24,
  BSD_AF_INET6_FREEBSD = 28,
  BSD_AF_INET6_DARWIN = 30,
};

/* TCP option kinds with a meaning we record. */
enum {
  OPT_EOL = 0,
  OPT_NOP = 1,
  OPT_MSS = 2,
  OPT_WSCALE = 3,
  OPT_SACK_PERM = 4,
  OPT_SACK = 5,
  OPT_TS = 8,
};

/* Where the network layer starts, and which IP version the link promised
 * (0 when the version nibble alone decides). */
struct l3_start {
  size_t off;
  unsigned version;
};

/* For the steps of the common frame's path, which runs once a frame: one
 * function, with no calls, is what keeps that path short. */
#define ALWAYS_INLINE __attribute__((always_inline)) inline

static uint16_t rd16(const uint8_t *p) {
  return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}

static uint32_t rd32le(const uint8_t *p) {
  return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 |
         p[0];
}

static size_t min_size(size_t a, size_t b) { return a < b ? a : b; }

/* Always returns false so parsers can `return malformed(...)`. */
static bool malformed(struct ta_packet *pkt, enum ta_malformed why) {
  pkt->disposition = TA_DISP_MALFORMED;
  pkt->malformed = (uint16_t)why;
  return false;
}

/* Sets a final disposition; returns false like malformed(). */
static bool finish(struct ta_packet *pkt, enum ta_disposition d) {
  pkt->disposition = (uint8_t)d;
  return false;
}

/* ---- checksums ---- */

/* Adds p[0..n) as 16-bit big-endian words to a one's complement sum (an
 * odd last byte is the high half of a word). 64 bits cannot overflow for
 * any length a packet can have. */
static uint64_t sum_words(const uint8_t *p, size_t n, uint64_t acc) {
  size_t i = 0;
  for (; i + 1 < n; i += 2)
    acc += (uint64_t)p[i] << 8 | p[i + 1];
  if (i < n)
    acc += (uint64_t)p[i] << 8;
  return acc;
}

/* True when a sum that covers its own checksum field folds to all ones. */
static bool sum_ok(uint64_t acc) {
  while (acc >> 16) /* at most 4 rounds for 64 bits */
    acc = (acc & 0xffff) + (acc >> 16);
  return acc == 0xffff;
}

/* The pseudo-header TCP and UDP checksums also cover: both addresses, the
 * protocol and the transport length. The IPv6 form (RFC 8200) has a 32-bit
 * length and the protocol in a 32-bit word, which sums the same way. */
static uint64_t pseudo_sum(const struct ta_packet *pkt, uint8_t proto,
                           size_t len) {
  size_t alen = pkt->family == 6 ? 16 : 4;
  uint64_t acc = sum_words(pkt->src, alen, 0);
  acc = sum_words(pkt->dst, alen, acc);
  return acc + proto + (len >> 16) + (len & 0xffff);
}

/* ---- TCP options ---- */

static void layout_push(struct ta_tcp_options *out, uint8_t kind) {
  if (out->n_layout < TA_MAX_OPT_LAYOUT)
    out->layout[out->n_layout++] = kind;
}

/* Padding after EOL must be zero (RFC 9293); anything else is data hidden
 * where stacks do not look. The option space is at most 40 bytes, the same
 * bound TA_MAX_TCP_OPTIONS counts in one-byte options. */
static uint32_t check_after_eol(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n && i < TA_MAX_TCP_OPTIONS; i++)
    if (p[i] != 0)
      return TA_ANOM_TCP_OPT_AFTER_EOL;
  return 0;
}

/* Stores one option whose length byte fits the buffer; false when the
 * length is wrong for its kind (the caller skips it by that length). */
static bool option_store(const uint8_t *o, uint8_t olen,
                         struct ta_tcp_options *out) {
  switch (o[0]) {
  case OPT_MSS:
    if (olen != 4)
      return false;
    out->has_mss = true;
    out->mss = rd16(o + 2);
    return true;
  case OPT_WSCALE:
    if (olen != 3)
      return false;
    out->has_wscale = true;
    out->wscale = o[2];
    return true;
  case OPT_SACK_PERM:
    if (olen != 2)
      return false;
    out->sack_ok = true;
    return true;
  case OPT_SACK:
    /* 2 + 8 bytes per block; a SACK with no block says nothing. */
    if (olen < 10 || (olen - 2) % 8 != 0)
      return false;
    out->sack_blocks = (uint8_t)((olen - 2) / 8);
    return true;
  case OPT_TS:
    if (olen != 10)
      return false;
    out->has_ts = true;
    out->ts_val = rd32(o + 2);
    out->ts_ecr = rd32(o + 6);
    return true;
  default:
    return true; /* unknown kinds: kept in the layout only */
  }
}

/* A bare SYN has nothing to echo; a non-zero echo leaks state or marks a
 * crafted packet. */
static uint32_t ts_ecr_check(uint8_t flags, const struct ta_tcp_options *o) {
  return (flags & (TA_TCP_SYN | TA_TCP_ACK)) == TA_TCP_SYN && o->has_ts &&
                 o->ts_ecr != 0
             ? TA_ANOM_TS_ECR_ON_SYN
             : 0;
}

/* The walk over any option space, for what the layouts below do not match.
 * Out of line: the common layouts never need it. */
__attribute__((noinline)) static uint32_t
options_walk(const uint8_t *opt, size_t cap, size_t full,
             struct ta_tcp_options *out) {
  uint32_t anom = 0;
  size_t off = 0;
  unsigned n;
  for (n = 0; n < TA_MAX_TCP_OPTIONS && off < cap; n++) {
    uint8_t kind = opt[off];
    layout_push(out, kind);
    if (kind == OPT_EOL) {
      anom |= check_after_eol(opt + off + 1, cap - off - 1);
      off = cap;
      break;
    }
    if (kind == OPT_NOP) {
      off++;
      continue;
    }
    if (off + 2 > cap) {
      if (off + 2 > full)
        anom |= TA_ANOM_TCP_OPT_BAD;
      break;
    }
    uint8_t olen = opt[off + 1];
    if (olen < 2) {
      anom |= TA_ANOM_TCP_OPT_BAD;
      break;
    }
    if (off + olen > cap) {
      if (off + olen > full)
        anom |= TA_ANOM_TCP_OPT_BAD;
      break;
    }
    if (!option_store(opt + off, olen, out))
      anom |= TA_ANOM_TCP_OPT_BAD;
    off += olen;
  }
  /* Only reachable with more than 40 bytes of options: not a TCP header. */
  if (n == TA_MAX_TCP_OPTIONS && off < cap)
    anom |= TA_ANOM_TCP_OPT_BAD;
  return anom;
}

/* Nearly every segment after the handshake of a stack with timestamps
 * carries exactly NOP, NOP, TS. */
static ALWAYS_INLINE bool layout_nop_nop_ts(const uint8_t *opt, size_t cap) {
  return cap == 12 && rd32(opt) == 0x0101080au;
}

/* Linux opens with MSS, SACK permitted, TS, NOP, window scale. */
static ALWAYS_INLINE bool layout_linux_syn(const uint8_t *opt, size_t cap) {
  return cap == 20 && rd16(opt) == 0x0204 && rd32(opt + 4) == 0x0402080au &&
         rd32(opt + 16) >> 8 == 0x010303u;
}

/* Without timestamps: Windows opens with MSS, NOP, window scale, NOP, NOP,
 * SACK permitted; Linux answers with MSS, NOP, NOP, SACK permitted, NOP,
 * window scale. Returns where the window scale value is, or 0. */
static ALWAYS_INLINE size_t layout_no_ts_syn(const uint8_t *opt, size_t cap) {
  if (cap != 12 || rd16(opt) != 0x0204)
    return 0;
  if (rd32(opt + 4) >> 8 == 0x010303u && rd32(opt + 8) == 0x01010402u)
    return 7;
  if (rd32(opt + 4) == 0x01010402u && rd32(opt + 8) >> 8 == 0x010303u)
    return 11;
  return 0;
}

/* Many answers, and scanners, send the MSS alone. */
static ALWAYS_INLINE bool layout_mss_alone(const uint8_t *opt, size_t cap) {
  return cap == 4 && rd16(opt) == 0x0204;
}

/* Reads opt[0..cap) into *out, which the caller has zeroed, when it is
 * one of the layouts above (or empty), with *anom the anomalies the walk
 * would find in it; false, leaving *out untouched, for any other. What a
 * layout gives is what the walk gives, only sooner (tests/test_decode.c
 * compares them). */
static ALWAYS_INLINE bool options_known(const uint8_t *opt, size_t cap,
                                        uint8_t flags,
                                        struct ta_tcp_options *out,
                                        uint32_t *anom) {
  size_t ws;
  *anom = 0;
  if (cap == 0)
    return true;
  if (layout_nop_nop_ts(opt, cap)) {
    out->n_layout = 3;
    out->layout[0] = out->layout[1] = OPT_NOP;
    out->layout[2] = OPT_TS;
    out->has_ts = true;
    out->ts_val = rd32(opt + 4);
    out->ts_ecr = rd32(opt + 8);
  } else if (layout_linux_syn(opt, cap)) {
    static const uint8_t kinds[5] = {OPT_MSS, OPT_SACK_PERM, OPT_TS, OPT_NOP,
                                     OPT_WSCALE};
    out->n_layout = sizeof kinds;
    memcpy(out->layout, kinds, sizeof kinds);
    out->has_mss = out->sack_ok = out->has_ts = out->has_wscale = true;
    out->mss = rd16(opt + 2);
    out->ts_val = rd32(opt + 8);
    out->ts_ecr = rd32(opt + 12);
    out->wscale = opt[19];
  } else if ((ws = layout_no_ts_syn(opt, cap)) != 0) {
    static const uint8_t kinds[2][6] = {
        {OPT_MSS, OPT_NOP, OPT_WSCALE, OPT_NOP, OPT_NOP, OPT_SACK_PERM},
        {OPT_MSS, OPT_NOP, OPT_NOP, OPT_SACK_PERM, OPT_NOP, OPT_WSCALE}};
    out->n_layout = sizeof kinds[0];
    memcpy(out->layout, kinds[ws == 11], sizeof kinds[0]);
    out->has_mss = out->sack_ok = out->has_wscale = true;
    out->mss = rd16(opt + 2);
    out->wscale = opt[ws];
    return true; /* no timestamp to check */
  } else if (layout_mss_alone(opt, cap)) {
    out->n_layout = 1;
    out->layout[0] = OPT_MSS;
    out->has_mss = true;
    out->mss = rd16(opt + 2);
    return true; /* no timestamp to check */
  } else {
    return false;
  }
  *anom = ts_ecr_check(flags, out);
  return true;
}

/* Parses the captured options opt[0..cap) of an option space that is
 * `full` bytes long on the wire into *out. An option running past `cap`
 * but not past `full` was cut by the snaplen, which is no fault of the
 * sender, so it ends parsing without TA_ANOM_TCP_OPT_BAD. */
static uint32_t parse_options(const uint8_t *opt, size_t cap, size_t full,
                              uint8_t flags, struct ta_tcp_options *out) {
  uint32_t anom;
  memset(out, 0, sizeof *out);
  if (options_known(opt, cap, flags, out, &anom))
    return anom;
  return options_walk(opt, cap, full, out) | ts_ecr_check(flags, out);
}

uint32_t ta_tcp_options_parse(const uint8_t *opt, size_t len, uint8_t flags,
                              struct ta_tcp_options *out) {
  if (!opt)
    len = 0;
  return parse_options(opt, len, len, flags, out);
}

uint32_t ta__tcp_options_walk(const uint8_t *opt, size_t cap, size_t full,
                              uint8_t flags, struct ta_tcp_options *out) {
  memset(out, 0, sizeof *out);
  if (!opt)
    cap = 0;
  return options_walk(opt, cap, full, out) | ts_ecr_check(flags, out);
}

/* ---- TCP ---- */

/* p[0..cap) is the captured part of a TCP segment that is `wire` bytes
 * long by the IP lengths.
 * A TCP header that the IP length says is there but that the snaplen cut
 * short is reported as MALFORMED/TCP_SHORT with TA_ANOM_TCP_TRUNCATED: the
 * frame cannot be placed in a connection without its 20 bytes, and the
 * anomaly bit tells it apart from a header the sender really sent short.
 * Options cut by the snaplen keep the frame TCP; what is there is parsed. */
static void decode_tcp(const uint8_t *p, size_t cap, size_t wire,
                       struct ta_packet *pkt) {
  if (wire < TCP_MIN_HDR) {
    malformed(pkt, TA_MAL_TCP_SHORT);
    return;
  }
  if (cap < TCP_MIN_HDR) {
    pkt->anomalies |= TA_ANOM_TCP_TRUNCATED;
    malformed(pkt, TA_MAL_TCP_SHORT);
    return;
  }
  size_t hlen = (size_t)(p[12] >> 4) * 4;
  if (hlen < TCP_MIN_HDR || hlen > wire) {
    malformed(pkt, TA_MAL_TCP_DOFF);
    return;
  }

  pkt->sport = rd16(p);
  pkt->dport = rd16(p + 2);
  pkt->seq = rd32(p + 4);
  pkt->ack = rd32(p + 8);
  pkt->reserved = p[12] & 0x0f;
  pkt->flags = p[13];
  pkt->window = rd16(p + 14);
  pkt->urg_ptr = rd16(p + 18);
  pkt->tcp_hlen = (uint16_t)hlen;
  if (pkt->reserved)
    pkt->anomalies |= TA_ANOM_TCP_RESERVED;
  if (pkt->urg_ptr && !(pkt->flags & TA_TCP_URG))
    pkt->anomalies |= TA_ANOM_URG_PTR_NO_URG;
  if (cap < hlen)
    pkt->anomalies |= TA_ANOM_TCP_TRUNCATED;

  size_t hdr_cap = min_size(cap, hlen);
  pkt->anomalies |= parse_options(p + TCP_MIN_HDR, hdr_cap - TCP_MIN_HDR,
                                  hlen - TCP_MIN_HDR, pkt->flags, &pkt->opt);

  /* The payload length comes from the IP lengths so a snaplen or Ethernet
   * padding never changes what the sender sent. */
  pkt->payload_len = (uint32_t)(wire - hlen);
  pkt->payload = p + hdr_cap;
  pkt->payload_caplen = (uint32_t)(cap - hdr_cap);
  /* Checkable only when the whole segment was captured. A wrong one keeps
   * the segment TCP: the tracker decides what it may still say. */
  if (pkt->verify_checksums && cap >= wire &&
      !sum_ok(sum_words(p, wire, pseudo_sum(pkt, PROTO_TCP, wire))))
    pkt->checksum_bad |= TA_CSUM_TCP;
  finish(pkt, TA_DISP_TCP);
}

/* ---- tunnels in UDP ---- */

/* Steps into the IP packet a tunnel carries: the carrier's IP fields are
 * cleared so that what is left describes the inner packet. False (and
 * MALFORMED) when tunnels nest deeper than TA_MAX_TUNNEL_DEPTH. */
static bool enter_tunnel(struct ta_packet *pkt, uint8_t kind) {
  if (pkt->tunnel_depth >= TA_MAX_TUNNEL_DEPTH)
    return malformed(pkt, TA_MAL_TUNNEL_DEPTH);
  pkt->tunnel_depth++;
  pkt->encap |= kind;
  pkt->family = pkt->ip_proto = pkt->ttl = pkt->tos = 0;
  pkt->df = false;
  pkt->ip_id = 0;
  pkt->ip_len = 0;
  memset(pkt->src, 0, sizeof pkt->src);
  memset(pkt->dst, 0, sizeof pkt->dst);
  return true;
}

/* Follows GTP-U extension headers from g[*off] while `next` names one:
 * each is 4 * its first byte long and its last byte names the next. False
 * when one is empty, runs past the message or the captured bytes, or the
 * chain is longer than TA_MAX_GTP_EXT_HEADERS. */
static bool gtp_ext_walk(const uint8_t *g, size_t cap, size_t end,
                         size_t *off, uint8_t next) {
  for (unsigned n = 0; next != 0; n++) {
    if (n == TA_MAX_GTP_EXT_HEADERS)
      return false;
    if (*off + 1 > end || *off + 1 > cap)
      return false;
    size_t elen = (size_t)g[*off] * 4;
    if (elen == 0 || *off + elen > end || *off + elen > cap)
      return false;
    next = g[*off + elen - 1];
    *off += elen;
  }
  return true;
}

/* GTPv1-U (3GPP TS 29.281) in g[0..wire), cap bytes of it captured: flags
 * (version 1, protocol type 1, then the E, S and PN bits), message type,
 * length of what follows the 8 fixed bytes, TEID. When any of E, S, PN is
 * set, 4 more bytes follow, the last naming the first extension header.
 * A T-PDU carries one user IP packet; the other messages are signalling.
 * The carrier was UDP, so anything not unwrapped stays NON_TCP. */
static void decode_gtp(const uint8_t *g, size_t cap, size_t wire,
                       struct ta_packet *pkt) {
  if (wire < GTP_HDR)
    return; /* too short to be GTP at all */
  if (cap < GTP_HDR) {
    malformed(pkt, TA_MAL_TUNNEL_HDR);
    return;
  }
  if (g[0] >> 5 != 1 || !(g[0] & 0x10))
    return; /* GTP' (charging) or another version: no user data */
  size_t end = GTP_HDR + (size_t)rd16(g + 2);
  size_t off = GTP_HDR;
  if (end > wire) {
    malformed(pkt, TA_MAL_TUNNEL_HDR);
    return;
  }
  if (g[0] & 0x07) {
    if (off + GTP_OPT > end || off + GTP_OPT > cap) {
      malformed(pkt, TA_MAL_TUNNEL_HDR);
      return;
    }
    uint8_t next = g[off + GTP_OPT - 1];
    off += GTP_OPT;
    if ((g[0] & 0x04) && !gtp_ext_walk(g, cap, end, &off, next)) {
      malformed(pkt, TA_MAL_TUNNEL_HDR);
      return;
    }
  }
  if (g[1] != GTP_TPDU)
    return; /* echo, error indication, end marker, ... */
  if (off == end) {
    malformed(pkt, TA_MAL_TUNNEL_HDR); /* a T-PDU with no packet */
    return;
  }
  if (enter_tunnel(pkt, TA_ENCAP_GTP_U))
    ta_decode_ip(g + off, min_size(cap, end) - off, (uint32_t)(end - off),
                 pkt);
}

/* 2001:0000::/32, the Teredo prefix. */
static bool teredo_prefix(const uint8_t *addr) {
  return addr[0] == 0x20 && addr[1] == 0x01 && addr[2] == 0 && addr[3] == 0;
}

/* Finds the IPv6 packet in a UDP payload d[0..wire) (cap captured) that
 * may be Teredo (RFC 4380): an optional authentication header (tag 1, two
 * length bytes, the client id and value they give, nonce, confirmation),
 * an optional origin indication (tag 0, 8 bytes), then IPv6 filling the
 * datagram exactly (a bubble, which has no next header, may be padded).
 * Off port 3544 it must also show one of those headers or a Teredo
 * address, which is how Zeek finds Teredo relayed on other ports. Sets
 * *at and returns true when it is Teredo. */
static bool teredo_find(const uint8_t *d, size_t cap, size_t wire,
                        bool on_port, size_t *at) {
  size_t off = 0;
  bool marked = false;
  if (cap >= 4 && d[0] == 0 && d[1] == 1) {
    off = TEREDO_AUTH_FIXED + (size_t)d[2] + d[3];
    marked = true;
  }
  if (off + 2 <= cap && d[off] == 0 && d[off + 1] == 0) {
    off += TEREDO_ORIGIN;
    marked = true;
  }
  if (off + IPV6_HDR > cap || off + IPV6_HDR > wire)
    return false;
  const uint8_t *ip = d + off;
  if (ip[0] >> 4 != 6)
    return false;
  if (!on_port && !marked && !teredo_prefix(ip + 8) && !teredo_prefix(ip + 24))
    return false;
  size_t total = IPV6_HDR + (size_t)rd16(ip + 4);
  bool bubble = ip[6] == PROTO_NONE6 && total == IPV6_HDR;
  if (total > wire - off || (total < wire - off && !bubble))
    return false;
  *at = off;
  return true;
}

/* The UDP checksum, when asked for, checkable (the datagram captured
 * whole) and present: 0 means none over IPv4, and tunnels over IPv6 may
 * leave it out as well (RFC 6935). */
static bool udp_checksum_ok(const uint8_t *p, size_t cap, size_t ulen,
                            const struct ta_packet *pkt) {
  if (!pkt->verify_checksums || cap < ulen || rd16(p + 6) == 0)
    return true;
  return sum_ok(sum_words(p, ulen, pseudo_sum(pkt, PROTO_UDP, ulen)));
}

/* A UDP datagram p[0..wire), cap bytes of it captured: unwrapped when it
 * carries GTP-U (port 2152 either way) or Teredo, else the frame is
 * NON_TCP. A datagram whose own length cannot be trusted is not followed. */
static void decode_udp(const uint8_t *p, size_t cap, size_t wire,
                       struct ta_packet *pkt) {
  finish(pkt, TA_DISP_NON_TCP);
  if (cap < UDP_HDR)
    return;
  size_t ulen = rd16(p + 4);
  if (ulen < UDP_HDR || ulen > wire)
    return;
  uint16_t sport = rd16(p), dport = rd16(p + 2);
  const uint8_t *d = p + UDP_HDR;
  size_t dcap = min_size(cap, ulen) - UDP_HDR, dwire = ulen - UDP_HDR;
  size_t at = 0;
  bool gtp = sport == PORT_GTP_U || dport == PORT_GTP_U;
  if (!gtp && !teredo_find(d, dcap, dwire,
                           sport == PORT_TEREDO || dport == PORT_TEREDO, &at))
    return;
  if (!udp_checksum_ok(p, cap, ulen, pkt)) {
    pkt->checksum_bad |= TA_CSUM_UDP;
    return;
  }
  if (gtp)
    decode_gtp(d, dcap, dwire, pkt);
  else if (enter_tunnel(pkt, TA_ENCAP_TEREDO))
    ta_decode_ip(d + at, dcap - at, (uint32_t)(dwire - at), pkt);
}

/* ---- IPv4 ---- */

/* Checks the header against the bytes on the wire; false when malformed. */
static bool ipv4_lengths_ok(size_t hlen, size_t len, size_t total,
                            size_t wire, struct ta_packet *pkt) {
  if (hlen < IPV4_MIN_HDR)
    return malformed(pkt, TA_MAL_IPV4_IHL);
  /* A header longer than the packet on the wire is a lie; one longer than
   * what was captured is only a short snaplen. */
  if (hlen > wire)
    return malformed(pkt, TA_MAL_IPV4_IHL);
  if (hlen > len)
    return malformed(pkt, TA_MAL_IP_SHORT);
  if (total < hlen)
    return malformed(pkt, TA_MAL_IP_TOTAL_LEN);
  /* More than the frame carried: we cannot tell which bytes are missing,
   * so the frame is malformed; the anomaly says which way it is wrong. */
  if (total > wire) {
    pkt->anomalies |= TA_ANOM_IP_TOTAL_SHORT;
    return malformed(pkt, TA_MAL_IP_TOTAL_LEN);
  }
  return true;
}

static void decode_ipv4(const uint8_t *p, size_t len, size_t wire,
                        struct ta_packet *pkt) {
  if (len < IPV4_MIN_HDR) {
    malformed(pkt, TA_MAL_IP_SHORT);
    return;
  }
  size_t hlen = (size_t)(p[0] & 0x0f) * 4;
  size_t total = rd16(p + 2);

  pkt->family = 4;
  pkt->tos = p[1];
  pkt->ip_len = (uint32_t)total;
  pkt->ip_id = rd16(p + 4);
  pkt->df = (p[6] & 0x40) != 0;
  pkt->ttl = p[8];
  pkt->ip_proto = p[9];
  memcpy(pkt->src, p + 12, 4);
  memcpy(pkt->dst, p + 16, 4);

  if (!ipv4_lengths_ok(hlen, len, total, wire, pkt))
    return;
  /* A header that fails its checksum may name the wrong hosts: the packet
   * cannot be placed, as Zeek drops it before any connection lookup. */
  if (pkt->verify_checksums && !sum_ok(sum_words(p, hlen, 0))) {
    pkt->checksum_bad |= TA_CSUM_IPV4;
    malformed(pkt, TA_MAL_IP_CHECKSUM);
    return;
  }
  /* Ethernet pads short frames to 60 bytes; normal, but worth knowing. */
  if (total < wire)
    pkt->anomalies |= TA_ANOM_IP_PADDED;
  if (hlen > IPV4_MIN_HDR)
    pkt->anomalies |= TA_ANOM_IP_OPTIONS;

  bool more_frags = (p[6] & 0x20) != 0;
  unsigned frag_off = (unsigned)(p[6] & 0x1f) << 8 | p[7];
  if (more_frags || frag_off != 0) {
    finish(pkt, TA_DISP_FRAGMENT);
    return;
  }
  if (pkt->ip_proto == PROTO_UDP) {
    decode_udp(p + hlen, min_size(len, total) - hlen, total - hlen, pkt);
    return;
  }
  if (pkt->ip_proto != PROTO_TCP) {
    finish(pkt, TA_DISP_NON_TCP);
    return;
  }
  decode_tcp(p + hlen, min_size(len, total) - hlen, total - hlen, pkt);
}

/* ---- IPv6 ---- */

static bool ipv6_is_ext(uint8_t next) {
  switch (next) {
  case 0:   /* hop-by-hop options */
  case 43:  /* routing */
  case 44:  /* fragment */
  case 51:  /* authentication header */
  case 60:  /* destination options */
  case 135: /* mobility */
  case 139: /* host identity protocol */
  case 140: /* shim6 */
    return true;
  default:
    return false;
  }
}

/* Length of the extension header at e (at least 8 bytes readable). */
static size_t ipv6_ext_len(uint8_t type, const uint8_t *e) {
  if (type == 44)
    return 8;
  if (type == 51) /* AH counts 4-byte units, minus 2 */
    return ((size_t)e[1] + 2) * 4;
  return ((size_t)e[1] + 1) * 8;
}

/* The walk through the extension headers of one IPv6 packet. */
struct ipv6_walk {
  size_t off;      /* start of the current header */
  size_t cap_end;  /* captured bytes of the packet */
  size_t wire_end; /* 40 + payload length */
  uint8_t next;    /* type of the header at off */
};

/* Steps over extension headers until an upper-layer protocol. False when
 * the frame got its disposition (malformed or fragment) on the way. */
static bool ipv6_walk_ext(const uint8_t *p, struct ipv6_walk *w,
                          struct ta_packet *pkt) {
  for (unsigned n = 0; ipv6_is_ext(w->next); n++) {
    if (n == TA_MAX_IPV6_EXT_HEADERS)
      return malformed(pkt, TA_MAL_IPV6_EXT);
    if (w->off + IPV6_EXT_MIN > w->wire_end)
      return malformed(pkt, TA_MAL_IPV6_EXT);
    /* Cut by the snaplen: the chain cannot be followed, and without it the
     * frame cannot be called TCP or not; SNAP_TRUNCATED says why. */
    if (w->off + IPV6_EXT_MIN > w->cap_end)
      return malformed(pkt, TA_MAL_IPV6_EXT);
    const uint8_t *e = p + w->off;
    size_t elen = ipv6_ext_len(w->next, e);
    if (w->off + elen > w->wire_end)
      return malformed(pkt, TA_MAL_IPV6_EXT);
    if (w->next == 44) {
      unsigned frag_off = rd16(e + 2) >> 3;
      bool more_frags = (e[3] & 0x01) != 0;
      /* An atomic fragment (offset 0, M=0) is a whole packet: go on. */
      if (frag_off != 0 || more_frags) {
        pkt->ip_proto = e[0];
        return finish(pkt, TA_DISP_FRAGMENT);
      }
    }
    w->next = e[0];
    w->off += elen;
  }
  return true;
}

static void decode_ipv6(const uint8_t *p, size_t len, size_t wire,
                        struct ta_packet *pkt) {
  if (len < IPV6_HDR) {
    malformed(pkt, TA_MAL_IP_SHORT);
    return;
  }
  size_t plen = rd16(p + 4);
  struct ipv6_walk w = {.off = IPV6_HDR, .wire_end = IPV6_HDR + plen,
                        .next = p[6]};

  pkt->family = 6;
  pkt->tos = (uint8_t)((p[0] & 0x0f) << 4 | p[1] >> 4);
  pkt->ip_len = (uint32_t)w.wire_end;
  pkt->ip_proto = w.next;
  pkt->ttl = p[7];
  memcpy(pkt->src, p + 8, 16);
  memcpy(pkt->dst, p + 24, 16);

  /* Payload length 0 with something to carry is a jumbogram or a
   * segmentation-offload capture; the jumbo option is not implemented, so
   * the real length is unknown. */
  if (plen == 0 && w.next != PROTO_NONE6) {
    malformed(pkt, TA_MAL_IP_TOTAL_LEN);
    return;
  }
  if (w.wire_end > wire) {
    pkt->anomalies |= TA_ANOM_IP_TOTAL_SHORT;
    malformed(pkt, TA_MAL_IP_TOTAL_LEN);
    return;
  }
  if (w.wire_end < wire)
    pkt->anomalies |= TA_ANOM_IP_PADDED;

  w.cap_end = min_size(len, w.wire_end);
  if (!ipv6_walk_ext(p, &w, pkt))
    return;
  pkt->ip_proto = w.next;
  if (w.next != PROTO_TCP && w.next != PROTO_UDP) {
    finish(pkt, TA_DISP_NON_TCP);
    return;
  }
  /* The walk may end past the captured bytes; point no further than them. */
  size_t start = min_size(w.off, w.cap_end);
  if (w.next == PROTO_UDP)
    decode_udp(p + start, w.cap_end - start, w.wire_end - w.off, pkt);
  else
    decode_tcp(p + start, w.cap_end - start, w.wire_end - w.off, pkt);
}

void ta_decode_ip(const uint8_t *p, size_t len, uint32_t wire_remaining,
                  struct ta_packet *pkt) {
  if (!p)
    len = 0;
  /* Bytes past the wire length are not part of the packet. */
  if (len > wire_remaining)
    len = wire_remaining;
  if (len < wire_remaining)
    pkt->anomalies |= TA_ANOM_SNAP_TRUNCATED;
  if (len < 1) {
    malformed(pkt, TA_MAL_IP_SHORT);
    return;
  }
  switch (p[0] >> 4) {
  case 4:
    decode_ipv4(p, len, wire_remaining, pkt);
    return;
  case 6:
    decode_ipv6(p, len, wire_remaining, pkt);
    return;
  default:
    malformed(pkt, TA_MAL_IP_VERSION);
    return;
  }
}

/* ---- link layers ---- */

static bool is_vlan_tpid(uint16_t type) {
  return type == ET_VLAN || type == ET_QINQ || type == ET_QINQ_OLD;
}

/* MPLS (RFC 3032): 4-byte label stack entries (label, traffic class,
 * bottom-of-stack bit, TTL) down to the one marked bottom. The payload is
 * followed when its version nibble says IP; pseudowires carry Ethernet or
 * a control word (nibble 0) instead, which are not. */
static bool link_mpls(const uint8_t *p, size_t len, size_t off,
                      struct ta_packet *pkt, struct l3_start *l3) {
  pkt->encap |= TA_ENCAP_MPLS;
  for (bool bottom = false; !bottom; off += MPLS_ENTRY) {
    if (pkt->mpls_labels == TA_MAX_MPLS_LABELS)
      return malformed(pkt, TA_MAL_MPLS_DEPTH);
    if (off + MPLS_ENTRY > len)
      return malformed(pkt, TA_MAL_LINK_SHORT);
    bottom = (p[off + 2] & 0x01) != 0;
    pkt->mpls_labels++;
  }
  if (off < len && p[off] >> 4 != 4 && p[off] >> 4 != 6)
    return finish(pkt, TA_DISP_NON_IP);
  l3->off = off;
  return true;
}

/* PPPoE session stage (RFC 2516): version and type (0x11), code 0, session
 * id, the length of the PPP frame that follows, whose first 2 bytes are
 * the PPP protocol. IPv4 and IPv6 are followed, LCP, IPCP and the rest are
 * not IP. The length is not trusted to delimit the packet: access
 * concentrators get it wrong (pppoe-over-qinq in Zeek's traces has IP
 * packets 6 bytes longer than it says), so the IP total length decides, as
 * in Zeek. */
static bool link_pppoe(const uint8_t *p, size_t len, size_t off,
                       struct ta_packet *pkt, struct l3_start *l3) {
  if (off + PPPOE_HDR + PPP_PROTO > len)
    return malformed(pkt, TA_MAL_LINK_SHORT);
  const uint8_t *h = p + off;
  if (h[0] != 0x11 || h[1] != 0)
    return finish(pkt, TA_DISP_NON_IP); /* not session data as we know it */
  pkt->encap |= TA_ENCAP_PPPOE;
  uint16_t proto = rd16(h + PPPOE_HDR);
  if (proto == PPP_IPV4)
    l3->version = 4;
  else if (proto == PPP_IPV6)
    l3->version = 6;
  else
    return finish(pkt, TA_DISP_NON_IP);
  l3->off = off + PPPOE_HDR + PPP_PROTO;
  return true;
}

/* `type` is the link's ethertype; its payload starts at `off`. Steps over
 * stacked VLAN tags (TCI, then the next ethertype), MPLS labels and the
 * PPPoE session header, and maps the final ethertype to an IP version.
 * False when the frame got its disposition. */
static bool link_ethertype(const uint8_t *p, size_t len, uint16_t type,
                           size_t off, struct ta_packet *pkt,
                           struct l3_start *l3) {
  for (unsigned depth = 0; is_vlan_tpid(type); depth++) {
    if (depth == TA_MAX_VLAN_TAGS)
      return malformed(pkt, TA_MAL_VLAN_DEPTH);
    if (off + VLAN_TAG > len)
      return malformed(pkt, TA_MAL_LINK_SHORT);
    type = rd16(p + off + 2);
    off += VLAN_TAG;
    pkt->vlan_depth++;
  }
  if (type == ET_MPLS_UC || type == ET_MPLS_MC)
    return link_mpls(p, len, off, pkt, l3);
  if (type == ET_PPPOE_SESSION)
    return link_pppoe(p, len, off, pkt, l3);
  if (type == ET_IPV4)
    l3->version = 4;
  else if (type == ET_IPV6)
    l3->version = 6;
  else /* ARP, PPPoE discovery, LLDP, 802.3 lengths, ... */
    return finish(pkt, TA_DISP_NON_IP);
  l3->off = off;
  return true;
}

/* Maps a BSD address family (either byte order when `any_order`) to an IP
 * version; 0 when it is not IP. */
static unsigned bsd_family_version(const uint8_t *p, bool any_order) {
  uint32_t be = rd32(p);
  uint32_t le = rd32le(p);
  for (unsigned i = 0; i < 2; i++) {
    uint32_t af = i == 0 ? be : le;
    if (af == BSD_AF_INET)
      return 4;
    if (af == BSD_AF_INET6_BSD || af == BSD_AF_INET6_FREEBSD ||
        af == BSD_AF_INET6_DARWIN)
      return 6;
    if (!any_order)
      break;
  }
  return 0;
}

/* NULL holds the family in the capturing host's byte order, which the file
 * does not record, so both are tried; LOOP is always network order. */
static bool link_bsd(const uint8_t *p, size_t len, bool any_order,
                     struct ta_packet *pkt, struct l3_start *l3) {
  if (len < NULL_HDR)
    return malformed(pkt, TA_MAL_LINK_SHORT);
  l3->version = bsd_family_version(p, any_order);
  if (!l3->version)
    return finish(pkt, TA_DISP_NON_IP);
  l3->off = NULL_HDR;
  return true;
}

static bool link_fixed(const uint8_t *p, size_t len, size_t hdr,
                       size_t type_at, struct ta_packet *pkt,
                       struct l3_start *l3) {
  if (len < hdr)
    return malformed(pkt, TA_MAL_LINK_SHORT);
  return link_ethertype(p, len, rd16(p + type_at), hdr, pkt, l3);
}

/* Finds the network layer; false when the frame got its disposition. */
static bool decode_link(uint32_t linktype, const uint8_t *p, size_t len,
                        struct ta_packet *pkt, struct l3_start *l3) {
  switch (linktype) {
  case TA_LINK_ETHERNET:
    return link_fixed(p, len, ETH_HDR, 12, pkt, l3);
  case TA_LINK_SLL:
    return link_fixed(p, len, SLL_HDR, 14, pkt, l3);
  case TA_LINK_SLL2:
    return link_fixed(p, len, SLL2_HDR, 0, pkt, l3);
  case TA_LINK_NULL:
    return link_bsd(p, len, true, pkt, l3);
  case TA_LINK_LOOP:
    return link_bsd(p, len, false, pkt, l3);
  case TA_LINK_RAW_BSD:
  case TA_LINK_RAW_OBSD:
  case TA_LINK_RAW:
    return true; /* offset 0, version from the nibble */
  case TA_LINK_IPV4:
    l3->version = 4;
    return true;
  case TA_LINK_IPV6:
    l3->version = 6;
    return true;
  default:
    return finish(pkt, TA_DISP_UNSUPPORTED_LINK);
  }
}

/* ---- the common frame ---- */

/* Nearly every frame of a capture is TCP in IPv4 without options or IPv6
 * without extension headers, on Ethernet or raw IP, and needs none of the
 * general path's steps. decode_common() decodes such a frame with checks
 * made only once, writing each field instead of clearing all 160 bytes
 * first, and leaves any other frame to the general path. The result is
 * the general path's, byte for byte (tests/test_decode.c compares them). */

/* The IP version the link says its payload is (the version nibble for raw
 * IP), with *off where it starts; 0 for other link types and payloads. */
static ALWAYS_INLINE unsigned fast_link(uint32_t linktype, const uint8_t *d,
                                        size_t len, size_t *off) {
  uint16_t type;
  if (linktype == TA_LINK_ETHERNET) {
    if (len < ETH_HDR)
      return 0;
    type = rd16(d + 12);
    *off = ETH_HDR;
  } else if (linktype == TA_LINK_RAW || linktype == TA_LINK_RAW_BSD ||
             linktype == TA_LINK_RAW_OBSD) {
    *off = 0;
    return len ? d[0] >> 4 : 0;
  } else if (linktype == TA_LINK_SLL) {
    if (len < SLL_HDR)
      return 0;
    type = rd16(d + 14);
    *off = SLL_HDR;
  } else {
    return 0;
  }
  return type == ET_IPV4 ? 4 : type == ET_IPV6 ? 6 : 0;
}

/* The fields outside the IP and TCP layers, and the options, cleared;
 * the link type and lengths are written first thing, for general_again().
 * Everything before the IP layer is cleared at once and the three set
 * after: fewer stores than field by field. */
_Static_assert(TA_DISP_TCP == 0 && TA_MAL_NONE == 0,
               "fast_start() leaves disposition and malformed zero");
static ALWAYS_INLINE void fast_start(struct ta_packet *pkt, uint32_t linktype,
                                     uint32_t caplen, uint32_t wirelen) {
  memset(pkt, 0, offsetof(struct ta_packet, family));
  pkt->caplen = caplen;
  pkt->wirelen = wirelen;
  pkt->linktype = linktype;
  memset(&pkt->opt, 0, sizeof pkt->opt);
}

/* Whoever adds a field to struct ta_packet must write it here as well (the
 * tests of every prefix and mutation would find it left over otherwise). */
_Static_assert(sizeof(struct ta_packet) == 160,
               "a new field of struct ta_packet: write it in decode_common()");

/* The general path for a frame the shortcut gave up on after fast_start():
 * the link type and lengths come back from *pkt, so that the shortcut need
 * not hold them in registers while it finds out. */
__attribute__((noinline)) static void
general_again(const uint8_t *data, unsigned opts, struct ta_packet *pkt) {
  ta__decode_frame_general(pkt->linktype, data, pkt->caplen, pkt->wirelen,
                           opts, pkt);
}

/* The options of a common frame in none of the common layouts: the walk,
 * out of line and called last, so that the common frame's path calls
 * nothing and keeps to the registers a call may clobber. */
__attribute__((noinline)) static void
options_walk_into(const uint8_t *opt, size_t cap, size_t full,
                  struct ta_packet *pkt) {
  pkt->anomalies |= options_walk(opt, cap, full, &pkt->opt) |
                    ts_ecr_check(pkt->flags, &pkt->opt);
}

/* The fixed fields of the TCP header at t, as decode_tcp() sets them; the
 * urgent pointer is zero in every header the shortcut takes. */
static ALWAYS_INLINE void fast_tcp_fixed(const uint8_t *t,
                                         struct ta_packet *pkt) {
#ifdef TA__DECODE_SSE2
  /* sport to window are the header's first 16 bytes in its order: swap
   * the bytes of every 16-bit word, then the words of seq and ack, and
   * mask the reserved bits out of the data offset byte. A third of the
   * instructions of field by field, which stays the reference below. */
  _Static_assert(offsetof(struct ta_packet, dport) ==
                         offsetof(struct ta_packet, sport) + 2 &&
                     offsetof(struct ta_packet, seq) ==
                         offsetof(struct ta_packet, sport) + 4 &&
                     offsetof(struct ta_packet, ack) ==
                         offsetof(struct ta_packet, sport) + 8 &&
                     offsetof(struct ta_packet, flags) ==
                         offsetof(struct ta_packet, sport) + 12 &&
                     offsetof(struct ta_packet, reserved) ==
                         offsetof(struct ta_packet, sport) + 13 &&
                     offsetof(struct ta_packet, window) ==
                         offsetof(struct ta_packet, sport) + 14,
                 "sport..window must mirror the TCP header's first 16 bytes");
  __m128i h = _mm_loadu_si128((const __m128i *)(const void *)t);
  h = _mm_or_si128(_mm_slli_epi16(h, 8), _mm_srli_epi16(h, 8));
  h = _mm_shufflehi_epi16(_mm_shufflelo_epi16(h, 0xb4), 0xe1);
  h = _mm_and_si128(h, _mm_set_epi8(-1, -1, 0x0f, -1, -1, -1, -1, -1, -1, -1,
                                    -1, -1, -1, -1, -1, -1));
  _mm_storeu_si128((__m128i *)(void *)&pkt->sport, h);
#else
  pkt->sport = rd16(t);
  pkt->dport = rd16(t + 2);
  pkt->seq = rd32(t + 4);
  pkt->ack = rd32(t + 8);
  pkt->flags = t[13];
  pkt->reserved = t[12] & 0x0f;
  pkt->window = rd16(t + 14);
#endif
  pkt->urg_ptr = 0;
}

/* An IPv4 address into a 16-byte one, the rest zero. */
static ALWAYS_INLINE void fast_addr4(uint8_t *to, const uint8_t *from) {
#ifdef TA__DECODE_SSE2
  uint32_t a;
  memcpy(&a, from, 4);
  _mm_storeu_si128((__m128i *)(void *)to, _mm_cvtsi32_si128((int)a));
#else
  memcpy(to, from, 4);
  memset(to + 4, 0, 12);
#endif
}

/* The TCP header at t, cap bytes of a `wire`-byte segment captured, that
 * fast_tcp_hlen() took, giving hlen (and cap >= 20). */
static ALWAYS_INLINE void fast_tcp(const uint8_t *t, size_t cap, size_t wire,
                                   size_t hlen, uint32_t anom,
                                   struct ta_packet *pkt) {
  fast_tcp_fixed(t, pkt);
  uint8_t flags = t[13]; /* from the header: cheaper than from *pkt */
  size_t hdr_cap = hlen;
  if (__builtin_expect(cap < hlen, 0)) {
    anom |= TA_ANOM_TCP_TRUNCATED;
    hdr_cap = cap;
  }
  pkt->tcp_hlen = (uint16_t)hlen;
  pkt->payload_len = (uint32_t)(wire - hlen);
  pkt->payload = t + hdr_cap;
  pkt->payload_caplen = (uint32_t)(cap - hdr_cap);
  uint32_t opt_anom;
  if (options_known(t + TCP_MIN_HDR, hdr_cap - TCP_MIN_HDR, flags, &pkt->opt,
                    &opt_anom)) {
    pkt->anomalies = anom | opt_anom;
    return;
  }
  pkt->anomalies = anom;
  options_walk_into(t + TCP_MIN_HDR, hdr_cap - TCP_MIN_HDR, hlen - TCP_MIN_HDR,
                    pkt);
}

/* The TCP header's length from its data offset, when the header is one
 * the shortcut takes: at least 20 bytes and inside the segment, and no
 * reserved bits or urgent pointer (rare, and the general path's to note);
 * else 0. */
static ALWAYS_INLINE unsigned fast_tcp_hlen(const uint8_t *t, size_t wire) {
  uint16_t urg; /* zero or not in either byte order */
  memcpy(&urg, t + 18, sizeof urg);
  unsigned hlen = (unsigned)(t[12] >> 2) & 0x3c; /* the data offset, times 4 */
  if ((t[12] & 0x0f) | urg)
    return 0;
  return hlen >= TCP_MIN_HDR && hlen <= wire ? hlen : 0;
}

/* An IPv4 packet ip[0..len) of a `wire`-byte one, without options, not a
 * fragment, carrying TCP; false for any other. The IP fields are written
 * before the TCP header is looked at, which frees their registers (the
 * general path overwrites them if the header is not one to take). */
static ALWAYS_INLINE bool fast_ipv4(const uint8_t *ip, size_t len, size_t wire,
                                    uint32_t anom, struct ta_packet *pkt) {
  if (len < IPV4_MIN_HDR + TCP_MIN_HDR || ip[0] != 0x45 || ip[9] != PROTO_TCP)
    return false;
  size_t total = rd16(ip + 2);
  uint16_t frag = rd16(ip + 6);
  if (total < IPV4_MIN_HDR + TCP_MIN_HDR || total > wire || (frag & 0x3fff))
    return false;
  if (total < wire)
    anom |= TA_ANOM_IP_PADDED;
  pkt->family = 4;
  pkt->ip_proto = PROTO_TCP;
  pkt->ttl = ip[8];
  pkt->tos = ip[1];
  pkt->df = (frag & 0x4000) != 0;
  pkt->ip_id = rd16(ip + 4);
  pkt->ip_len = (uint32_t)total;
  fast_addr4(pkt->src, ip + 12);
  fast_addr4(pkt->dst, ip + 16);
  const uint8_t *t = ip + IPV4_MIN_HDR;
  unsigned hlen = fast_tcp_hlen(t, total - IPV4_MIN_HDR);
  if (!hlen)
    return false;
  fast_tcp(t, min_size(len, total) - IPV4_MIN_HDR, total - IPV4_MIN_HDR, hlen,
           anom, pkt);
  return true;
}

/* An IPv6 packet whose next header is TCP: no extension headers. */
static ALWAYS_INLINE bool fast_ipv6(const uint8_t *ip, size_t len, size_t wire,
                                    uint32_t anom, struct ta_packet *pkt) {
  if (len < IPV6_HDR + TCP_MIN_HDR || ip[0] >> 4 != 6 || ip[6] != PROTO_TCP)
    return false;
  size_t plen = rd16(ip + 4);
  size_t total = IPV6_HDR + plen;
  if (plen < TCP_MIN_HDR || total > wire)
    return false;
  if (total < wire)
    anom |= TA_ANOM_IP_PADDED;
  pkt->family = 6;
  pkt->ip_proto = PROTO_TCP;
  pkt->ttl = ip[7];
  pkt->tos = (uint8_t)((ip[0] & 0x0f) << 4 | ip[1] >> 4);
  pkt->df = false;
  pkt->ip_id = 0;
  pkt->ip_len = (uint32_t)total;
  memcpy(pkt->src, ip + 8, 16);
  memcpy(pkt->dst, ip + 24, 16);
  const uint8_t *t = ip + IPV6_HDR;
  unsigned hlen = fast_tcp_hlen(t, plen);
  if (!hlen)
    return false;
  fast_tcp(t, min_size(len, total) - IPV6_HDR, plen, hlen, anom, pkt);
  return true;
}

/* Decodes a common frame data[0..len) of a `wire`-byte one into *pkt, on
 * which fast_start() has been done; false, for the general path to take
 * over, for any other frame. */
static ALWAYS_INLINE bool decode_common(uint32_t linktype, const uint8_t *data,
                                        size_t len, size_t wire, uint32_t anom,
                                        struct ta_packet *pkt) {
  size_t off = 0;
  unsigned version = fast_link(linktype, data, len, &off);
  if (version == 4)
    return fast_ipv4(data + off, len - off, wire - off, anom, pkt);
  if (version == 6)
    return fast_ipv6(data + off, len - off, wire - off, anom, pkt);
  return false;
}

void ta__decode_frame_general(uint32_t linktype, const uint8_t *data,
                              uint32_t caplen, uint32_t wirelen, unsigned opts,
                              struct ta_packet *pkt) {
  memset(pkt, 0, sizeof *pkt);
  pkt->caplen = caplen;
  pkt->wirelen = wirelen;
  pkt->linktype = linktype;
  pkt->verify_checksums = (opts & TA_DECODE_VERIFY_CHECKSUMS) != 0;
  if (caplen < wirelen)
    pkt->anomalies |= TA_ANOM_SNAP_TRUNCATED;

  /* A record claiming more captured bytes than were on the wire is corrupt;
   * trust only bytes that were both captured and on the wire. */
  size_t len = data ? min_size(caplen, wirelen) : 0;
  struct l3_start l3 = {0, 0};
  if (!decode_link(linktype, data, len, pkt, &l3))
    return;

  const uint8_t *ip = data ? data + l3.off : NULL;
  size_t ip_len = len - l3.off;
  /* The link promised a version; a packet of the other one is not what
   * the sender labelled it. */
  if (l3.version && ip_len >= 1 && (unsigned)(ip[0] >> 4) != l3.version) {
    malformed(pkt, TA_MAL_IP_VERSION);
    return;
  }
  ta_decode_ip(ip, ip_len, wirelen - (uint32_t)l3.off, pkt);
}

void ta_decode_frame_opts(uint32_t linktype, const uint8_t *data,
                          uint32_t caplen, uint32_t wirelen, unsigned opts,
                          struct ta_packet *pkt) {
  /* Started for every frame, even one the shortcut will not take: with no
   * early way out to split off, the compiler keeps this one function. */
  fast_start(pkt, linktype, caplen, wirelen);
  if (opts != 0 || !data ||
      !decode_common(linktype, data, min_size(caplen, wirelen), wirelen,
                     caplen < wirelen ? TA_ANOM_SNAP_TRUNCATED : 0, pkt))
    general_again(data, opts, pkt);
}

void ta_decode_frame(uint32_t linktype, const uint8_t *data, uint32_t caplen,
                     uint32_t wirelen, struct ta_packet *pkt) {
  ta_decode_frame_opts(linktype, data, caplen, wirelen, 0, pkt);
}

bool ta_linktype_supported(uint32_t linktype) {
  switch (linktype) {
  case TA_LINK_NULL:
  case TA_LINK_ETHERNET:
  case TA_LINK_RAW_BSD:
  case TA_LINK_RAW_OBSD:
  case TA_LINK_RAW:
  case TA_LINK_LOOP:
  case TA_LINK_SLL:
  case TA_LINK_IPV4:
  case TA_LINK_IPV6:
  case TA_LINK_SLL2:
    return true;
  default:
    return false;
  }
}

static const char *const disposition_names[TA_DISP_COUNT] = {
#define TA__DISP_NAME(name, str) [TA_DISP_##name] = str,
    TA_DISPOSITION_MAP(TA__DISP_NAME)
#undef TA__DISP_NAME
};

static const char *const malformed_names[TA_MAL_COUNT] = {
#define TA__MAL_NAME(name, str) [TA_MAL_##name] = str,
    TA_MALFORMED_MAP(TA__MAL_NAME)
#undef TA__MAL_NAME
};

const char *ta_disposition_name(int d) {
  if (d < 0 || d >= TA_DISP_COUNT)
    return "unknown";
  return disposition_names[d];
}

const char *ta_malformed_name(int m) {
  if (m < 0 || m >= TA_MAL_COUNT)
    return "unknown";
  return malformed_names[m];
}
