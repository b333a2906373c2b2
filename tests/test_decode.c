/* tcpaudit - tests: decode, from link headers down to TCP options.
 * Frames are built with the shared builders, then edited byte by byte to
 * reach each malformed and unusual case the decoder must account for. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "ta_packet.h"
#include "ta_test_util.h"

#define BUF 2048

/* <mss 1460,nop,wscale 7,sackOK,TS val 1000 ecr 0>: exactly 20 bytes. */
static const uint8_t syn_opts[20] = {2, 4, 0x05, 0xb4, 1, 3, 3, 7, 4, 2,
                                     8, 10, 0, 0, 0x03, 0xe8, 0, 0, 0, 0};

static struct tt_seg syn4(void) {
  struct tt_seg s = {.src = "192.168.2.10", .dst = "10.0.0.1",
                     .sport = 40000, .dport = 443, .seq = 0x11223344,
                     .flags = TA_TCP_SYN, .win = 64240, .opts = syn_opts,
                     .optlen = sizeof syn_opts, .ttl = 63, .df = true,
                     .ip_id = 0xbeef};
  return s;
}

static struct tt_seg syn6(void) {
  struct tt_seg s = syn4();
  s.src = "2001:db8::1";
  s.dst = "2001:db8::2";
  return s;
}

/* A plain ACK with `payload` bytes of data, no options. */
static struct tt_seg ack4(uint32_t payload) {
  struct tt_seg s = {.src = "10.1.1.1", .dst = "10.2.2.2", .sport = 1234,
                     .dport = 80, .seq = 7, .ack = 9, .flags = TA_TCP_ACK,
                     .win = 512, .payload_len = payload};
  return s;
}

static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

/* Decodes buf as a complete frame (caplen == wirelen). */
static void decode_whole(uint32_t link, const uint8_t *buf, size_t n,
                         struct ta_packet *pkt) {
  ta_decode_frame(link, buf, (uint32_t)n, (uint32_t)n, pkt);
}

/* Opens a gap of `n` bytes at `at` in a frame of length *len. */
static uint8_t *insert_gap(uint8_t *buf, size_t *len, size_t at, size_t n) {
  memmove(buf + at + n, buf + at, *len - at);
  *len += n;
  return buf + at;
}

/* Inserts a VLAN tag (tpid, tci) right after the Ethernet addresses. */
static void add_vlan(uint8_t *buf, size_t *len, uint16_t tpid, uint16_t tci) {
  uint8_t *t = insert_gap(buf, len, 12, 4);
  put16(t, tpid);
  put16(t + 2, tci);
}

/* Inserts IPv6 extension bytes after the fixed header and fixes the
 * payload length; the caller sets next-header fields. */
static uint8_t *add_ipv6_ext(uint8_t *ip, size_t *len, size_t n) {
  uint8_t *e = insert_gap(ip, len, 40 + 0, n);
  put16(ip + 4, (uint16_t)(((ip[4] << 8) | ip[5]) + n));
  return e;
}

static void assert_syn_tcp(const struct ta_packet *pkt) {
  assert_int_equal(pkt->sport, 40000);
  assert_int_equal(pkt->dport, 443);
  assert_int_equal(pkt->seq, 0x11223344);
  assert_int_equal(pkt->ack, 0);
  assert_int_equal(pkt->flags, TA_TCP_SYN);
  assert_int_equal(pkt->reserved, 0);
  assert_int_equal(pkt->window, 64240);
  assert_int_equal(pkt->urg_ptr, 0);
  assert_int_equal(pkt->tcp_hlen, 40);
  assert_int_equal(pkt->payload_len, 0);
  assert_int_equal(pkt->payload_caplen, 0);
  assert_non_null(pkt->payload);
  assert_true(pkt->opt.has_mss);
  assert_int_equal(pkt->opt.mss, 1460);
  assert_true(pkt->opt.has_wscale);
  assert_int_equal(pkt->opt.wscale, 7);
  assert_true(pkt->opt.sack_ok);
  assert_true(pkt->opt.has_ts);
  assert_int_equal(pkt->opt.ts_val, 1000);
  assert_int_equal(pkt->opt.ts_ecr, 0);
  assert_int_equal(pkt->opt.sack_blocks, 0);
  static const uint8_t layout[] = {2, 1, 3, 4, 8};
  assert_int_equal(pkt->opt.n_layout, sizeof layout);
  assert_memory_equal(pkt->opt.layout, layout, sizeof layout);
}

static void assert_malformed(const struct ta_packet *pkt, int why) {
  assert_int_equal(pkt->disposition, TA_DISP_MALFORMED);
  assert_string_equal(ta_malformed_name(pkt->malformed),
                      ta_malformed_name(why));
}

/* ---- normal frames ---- */

static void test_decode_ipv4_syn_every_field(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct tt_seg s = syn4();
  size_t n = tt_build_eth(buf, sizeof buf, &s);
  buf[15] = 0x28; /* DSCP AF11 */
  struct ta_packet pkt;
  pkt.ts_ns = 99;
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);

  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_int_equal(pkt.malformed, TA_MAL_NONE);
  assert_int_equal(pkt.anomalies, 0);
  assert_int_equal(pkt.ts_ns, 0);
  assert_int_equal(pkt.caplen, 74);
  assert_int_equal(pkt.wirelen, 74);
  assert_int_equal(pkt.linktype, TA_LINK_ETHERNET);
  assert_int_equal(pkt.vlan_depth, 0);
  assert_int_equal(pkt.family, 4);
  assert_int_equal(pkt.ip_proto, 6);
  assert_int_equal(pkt.ttl, 63);
  assert_int_equal(pkt.tos, 0x28);
  assert_true(pkt.df);
  assert_int_equal(pkt.ip_id, 0xbeef);
  static const uint8_t src[4] = {192, 168, 2, 10}, dst[4] = {10, 0, 0, 1};
  assert_memory_equal(pkt.src, src, 4);
  assert_memory_equal(pkt.dst, dst, 4);
  assert_int_equal(pkt.ip_len, 60);
  assert_syn_tcp(&pkt);
  assert_ptr_equal(pkt.payload, buf + n);
}

static void test_decode_ipv6_syn_every_field(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct tt_seg s = syn6();
  size_t n = tt_build_eth(buf, sizeof buf, &s);
  /* traffic class 0xb9 (DSCP EF, ECT(1)) spans bytes 0 and 1 */
  buf[14] = 0x6b;
  buf[15] = 0x90;
  struct ta_packet pkt;
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);

  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_int_equal(pkt.anomalies, 0);
  assert_int_equal(pkt.family, 6);
  assert_int_equal(pkt.ip_proto, 6);
  assert_int_equal(pkt.ttl, 63);
  assert_int_equal(pkt.tos, 0xb9);
  assert_false(pkt.df);
  assert_int_equal(pkt.ip_id, 0);
  uint8_t src[16] = {0x20, 0x01, 0x0d, 0xb8}, dst[16] = {0x20, 0x01, 0x0d,
                                                         0xb8};
  src[15] = 1;
  dst[15] = 2;
  assert_memory_equal(pkt.src, src, 16);
  assert_memory_equal(pkt.dst, dst, 16);
  assert_int_equal(pkt.ip_len, 80);
  assert_syn_tcp(&pkt);
}

static void test_decode_payload_and_flags(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct tt_seg s = ack4(100);
  s.flags = TA_TCP_ACK | TA_TCP_PSH;
  size_t n = tt_build_eth(buf, sizeof buf, &s);
  struct ta_packet pkt;
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_int_equal(pkt.flags, TA_TCP_ACK | TA_TCP_PSH);
  assert_int_equal(pkt.seq, 7);
  assert_int_equal(pkt.ack, 9);
  assert_int_equal(pkt.tcp_hlen, 20);
  assert_int_equal(pkt.opt.n_layout, 0);
  assert_int_equal(pkt.payload_len, 100);
  assert_int_equal(pkt.payload_caplen, 100);
  assert_ptr_equal(pkt.payload, buf + 54);
  assert_int_equal(pkt.payload[0], 'x');
}

static void test_decode_reserved_bits_and_urg_ptr(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct tt_seg s = ack4(0);
  size_t n = tt_build_eth(buf, sizeof buf, &s);
  buf[34 + 12] |= 0x01; /* AE, once NS */
  put16(buf + 34 + 18, 5);
  struct ta_packet pkt;
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_int_equal(pkt.reserved, 1);
  assert_int_equal(pkt.urg_ptr, 5);
  assert_int_equal(pkt.anomalies,
                   TA_ANOM_TCP_RESERVED | TA_ANOM_URG_PTR_NO_URG);

  buf[34 + 12] &= 0xf0;
  buf[34 + 13] |= TA_TCP_URG;
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_int_equal(pkt.anomalies, 0);
}

static void test_decode_ipv4_options(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct tt_seg s = ack4(3);
  size_t n = tt_build_eth(buf, sizeof buf, &s);
  /* 4 bytes of IP options: router alert */
  uint8_t *o = insert_gap(buf, &n, 34, 4);
  o[0] = 0x94;
  o[1] = 4;
  o[2] = o[3] = 0;
  buf[14] = 0x46;
  put16(buf + 16, 20 + 4 + 20 + 3);
  struct ta_packet pkt;
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_int_equal(pkt.anomalies, TA_ANOM_IP_OPTIONS);
  assert_int_equal(pkt.sport, 1234);
  assert_int_equal(pkt.payload_len, 3);
}

/* ---- link layers ---- */

static void test_decode_vlan_single(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct tt_seg s = syn4();
  size_t n = tt_build_eth(buf, sizeof buf, &s);
  add_vlan(buf, &n, 0x8100, 100);
  struct ta_packet pkt;
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_int_equal(pkt.vlan_depth, 1);
  assert_syn_tcp(&pkt);
}

static void test_decode_vlan_qinq(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct tt_seg s = syn6();
  size_t n = tt_build_eth(buf, sizeof buf, &s);
  add_vlan(buf, &n, 0x8100, 100); /* inner (C-tag) */
  add_vlan(buf, &n, 0x88A8, 200); /* outer (S-tag) */
  struct ta_packet pkt;
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_int_equal(pkt.vlan_depth, 2);
  assert_int_equal(pkt.family, 6);
  assert_syn_tcp(&pkt);

  /* pre-standard 0x9100 outer tag */
  put16(buf + 12, 0x9100);
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_int_equal(pkt.vlan_depth, 2);
}

static void test_decode_vlan_too_deep(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct tt_seg s = syn4();
  size_t n = tt_build_eth(buf, sizeof buf, &s);
  struct ta_packet pkt;
  for (int i = 0; i < TA_MAX_VLAN_TAGS; i++)
    add_vlan(buf, &n, 0x8100, (uint16_t)i);
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_int_equal(pkt.vlan_depth, TA_MAX_VLAN_TAGS);

  add_vlan(buf, &n, 0x8100, 99);
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_malformed(&pkt, TA_MAL_VLAN_DEPTH);
}

static void test_decode_vlan_tag_cut(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct tt_seg s = syn4();
  size_t n = tt_build_eth(buf, sizeof buf, &s);
  add_vlan(buf, &n, 0x8100, 1);
  struct ta_packet pkt;
  decode_whole(TA_LINK_ETHERNET, buf, 17, &pkt);
  assert_malformed(&pkt, TA_MAL_LINK_SHORT);
  /* the tag itself fits but nothing follows it: an empty IP packet */
  decode_whole(TA_LINK_ETHERNET, buf, 18, &pkt);
  assert_malformed(&pkt, TA_MAL_IP_SHORT);
}

static void test_decode_link_short(void **state) {
  (void)state;
  uint8_t buf[64] = {0};
  struct ta_packet pkt;
  decode_whole(TA_LINK_ETHERNET, buf, 13, &pkt);
  assert_malformed(&pkt, TA_MAL_LINK_SHORT);
  decode_whole(TA_LINK_SLL, buf, 15, &pkt);
  assert_malformed(&pkt, TA_MAL_LINK_SHORT);
  decode_whole(TA_LINK_SLL2, buf, 19, &pkt);
  assert_malformed(&pkt, TA_MAL_LINK_SHORT);
  decode_whole(TA_LINK_NULL, buf, 3, &pkt);
  assert_malformed(&pkt, TA_MAL_LINK_SHORT);
  decode_whole(TA_LINK_LOOP, buf, 0, &pkt);
  assert_malformed(&pkt, TA_MAL_LINK_SHORT);
  ta_decode_frame(TA_LINK_ETHERNET, NULL, 0, 0, &pkt);
  assert_malformed(&pkt, TA_MAL_LINK_SHORT);
  ta_decode_frame(TA_LINK_RAW, NULL, 0, 0, &pkt);
  assert_malformed(&pkt, TA_MAL_IP_SHORT);
}

static void test_decode_sll(void **state) {
  (void)state;
  uint8_t buf[BUF] = {0};
  struct tt_seg s = syn4();
  size_t n = tt_build_ip(buf + 16, sizeof buf - 16, &s) + 16;
  put16(buf, 0);      /* sent to us */
  put16(buf + 2, 1);  /* ARPHRD_ETHER */
  put16(buf + 4, 6);
  put16(buf + 14, 0x0800);
  struct ta_packet pkt;
  decode_whole(TA_LINK_SLL, buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_syn_tcp(&pkt);

  put16(buf + 14, 0x0806);
  decode_whole(TA_LINK_SLL, buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_NON_IP);
}

static void test_decode_sll2(void **state) {
  (void)state;
  uint8_t buf[BUF] = {0};
  struct tt_seg s = syn6();
  size_t n = tt_build_ip(buf + 20, sizeof buf - 20, &s) + 20;
  put16(buf, 0x86DD);
  buf[11] = 4; /* outgoing */
  struct ta_packet pkt;
  decode_whole(TA_LINK_SLL2, buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_int_equal(pkt.family, 6);
  assert_syn_tcp(&pkt);
}

static void test_decode_null_both_byte_orders(void **state) {
  (void)state;
  uint8_t buf[BUF] = {0};
  struct tt_seg s4 = syn4(), s6 = syn6();
  size_t n4 = tt_build_ip(buf + 4, sizeof buf - 4, &s4) + 4;
  struct ta_packet pkt;

  static const uint8_t le2[4] = {2, 0, 0, 0}, be2[4] = {0, 0, 0, 2};
  memcpy(buf, le2, 4);
  decode_whole(TA_LINK_NULL, buf, n4, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_int_equal(pkt.family, 4);
  memcpy(buf, be2, 4);
  decode_whole(TA_LINK_NULL, buf, n4, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);

  size_t n6 = tt_build_ip(buf + 4, sizeof buf - 4, &s6) + 4;
  static const uint8_t af6[] = {24, 28, 30};
  for (size_t i = 0; i < sizeof af6; i++) {
    memset(buf, 0, 4);
    buf[0] = af6[i];
    decode_whole(TA_LINK_NULL, buf, n6, &pkt);
    assert_int_equal(pkt.disposition, TA_DISP_TCP);
    assert_int_equal(pkt.family, 6);
    memset(buf, 0, 4);
    buf[3] = af6[i];
    decode_whole(TA_LINK_NULL, buf, n6, &pkt);
    assert_int_equal(pkt.disposition, TA_DISP_TCP);
  }

  memset(buf, 0, 4);
  buf[0] = 7; /* some other family */
  decode_whole(TA_LINK_NULL, buf, n6, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_NON_IP);

  /* family says IPv4, packet is IPv6 */
  memcpy(buf, le2, 4);
  decode_whole(TA_LINK_NULL, buf, n6, &pkt);
  assert_malformed(&pkt, TA_MAL_IP_VERSION);
}

static void test_decode_loop(void **state) {
  (void)state;
  uint8_t buf[BUF] = {0};
  struct tt_seg s = syn4();
  size_t n = tt_build_ip(buf + 4, sizeof buf - 4, &s) + 4;
  struct ta_packet pkt;
  buf[3] = 2;
  decode_whole(TA_LINK_LOOP, buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_syn_tcp(&pkt);
  /* LOOP is network order only: host-order 2 is not AF_INET */
  buf[3] = 0;
  buf[0] = 2;
  decode_whole(TA_LINK_LOOP, buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_NON_IP);
}

static void test_decode_raw_ip(void **state) {
  (void)state;
  uint8_t b4[BUF], b6[BUF];
  struct tt_seg s4 = syn4(), s6 = syn6();
  size_t n4 = tt_build_ip(b4, sizeof b4, &s4);
  size_t n6 = tt_build_ip(b6, sizeof b6, &s6);
  static const uint32_t raws[] = {TA_LINK_RAW_BSD, TA_LINK_RAW_OBSD,
                                  TA_LINK_RAW};
  struct ta_packet pkt;
  for (size_t i = 0; i < 3; i++) {
    decode_whole(raws[i], b4, n4, &pkt);
    assert_int_equal(pkt.disposition, TA_DISP_TCP);
    assert_int_equal(pkt.family, 4);
    assert_syn_tcp(&pkt);
    decode_whole(raws[i], b6, n6, &pkt);
    assert_int_equal(pkt.disposition, TA_DISP_TCP);
    assert_int_equal(pkt.family, 6);
  }
  decode_whole(TA_LINK_IPV4, b4, n4, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  decode_whole(TA_LINK_IPV6, b6, n6, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  decode_whole(TA_LINK_IPV4, b6, n6, &pkt);
  assert_malformed(&pkt, TA_MAL_IP_VERSION);
  decode_whole(TA_LINK_IPV6, b4, n4, &pkt);
  assert_malformed(&pkt, TA_MAL_IP_VERSION);

  b4[0] = 0x55;
  decode_whole(TA_LINK_RAW, b4, n4, &pkt);
  assert_malformed(&pkt, TA_MAL_IP_VERSION);
}

static void test_decode_unsupported_link(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct tt_seg s = syn4();
  size_t n = tt_build_eth(buf, sizeof buf, &s);
  struct ta_packet pkt;
  decode_whole(105, buf, n, &pkt); /* 802.11 */
  assert_int_equal(pkt.disposition, TA_DISP_UNSUPPORTED_LINK);
  assert_int_equal(pkt.linktype, 105);
  assert_false(ta_linktype_supported(105));
  assert_false(ta_linktype_supported(127));
  static const uint32_t ok[] = {0, 1, 12, 14, 101, 108, 113, 228, 229, 276};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    assert_true(ta_linktype_supported(ok[i]));
}

static void test_decode_arp_and_pppoe_non_ip(void **state) {
  (void)state;
  uint8_t buf[60] = {0};
  struct ta_packet pkt;
  put16(buf + 12, 0x0806);
  decode_whole(TA_LINK_ETHERNET, buf, sizeof buf, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_NON_IP);
  assert_int_equal(pkt.family, 0);
  put16(buf + 12, 0x8864);
  decode_whole(TA_LINK_ETHERNET, buf, sizeof buf, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_NON_IP);
  put16(buf + 12, 46); /* 802.3 length field */
  decode_whole(TA_LINK_ETHERNET, buf, sizeof buf, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_NON_IP);
  /* ARP behind a VLAN tag still counts the tag */
  put16(buf + 12, 0x8100);
  put16(buf + 16, 0x0806);
  decode_whole(TA_LINK_ETHERNET, buf, sizeof buf, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_NON_IP);
  assert_int_equal(pkt.vlan_depth, 1);
}

/* ---- IP layer ---- */

static void test_decode_udp_non_tcp(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct tt_seg s = ack4(10);
  size_t n = tt_build_eth(buf, sizeof buf, &s);
  buf[14 + 9] = 17;
  struct ta_packet pkt;
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_NON_TCP);
  assert_int_equal(pkt.ip_proto, 17);
  assert_int_equal(pkt.family, 4);
  assert_int_equal(pkt.src[0], 10);
  assert_int_equal(pkt.dst[3], 2);
  assert_int_equal(pkt.sport, 0);

  struct tt_seg s6 = syn6();
  n = tt_build_eth(buf, sizeof buf, &s6);
  buf[14 + 6] = 58; /* ICMPv6 */
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_NON_TCP);
  assert_int_equal(pkt.ip_proto, 58);
}

static void test_decode_ipv4_fragments(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct tt_seg s = ack4(40);
  size_t n = tt_build_eth(buf, sizeof buf, &s);
  struct ta_packet pkt;

  buf[14 + 6] = 0x20; /* first fragment: MF, offset 0 */
  buf[14 + 7] = 0;
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_FRAGMENT);
  assert_int_equal(pkt.ip_proto, 6);
  assert_int_equal(pkt.src[0], 10);
  assert_int_equal(pkt.dst[0], 10);
  assert_int_equal(pkt.sport, 0);

  buf[14 + 6] = 0x00; /* last fragment: offset 185 * 8 */
  buf[14 + 7] = 185;
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_FRAGMENT);

  buf[14 + 6] = 0x21; /* middle fragment, offset above 255 */
  buf[14 + 7] = 0x00;
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_FRAGMENT);

  buf[14 + 6] = 0x40; /* DF alone is not a fragment */
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_true(pkt.df);
}

static void test_decode_ipv6_ext_chain(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct tt_seg s = syn6();
  size_t n = tt_build_eth(buf, sizeof buf, &s);
  uint8_t *ip = buf + 14;
  size_t iplen = n - 14;
  /* hop-by-hop (8 bytes, PadN) -> destination options (16 bytes) -> TCP */
  uint8_t *e = add_ipv6_ext(ip, &iplen, 24);
  memset(e, 0, 24);
  ip[6] = 0;
  e[0] = 60;
  e[1] = 0;
  e[2] = 1; /* PadN */
  e[3] = 4;
  e[8] = 6;
  e[9] = 1;
  e[10] = 1;
  e[11] = 12;
  n = iplen + 14;
  struct ta_packet pkt;
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_int_equal(pkt.ip_proto, 6);
  assert_int_equal(pkt.ip_len, 104);
  assert_int_equal(pkt.anomalies, 0);
  assert_syn_tcp(&pkt);

  /* an AH in the chain: length in 4-byte units plus 2 (here 24 bytes) */
  uint8_t *ah = add_ipv6_ext(ip, &iplen, 24);
  memset(ah, 0, 24);
  ip[6] = 51;
  ah[0] = 0;
  ah[1] = 4;
  n = iplen + 14;
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_syn_tcp(&pkt);

  /* the hop-by-hop header now claims more than the payload length */
  ah[24 + 1] = 200;
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_malformed(&pkt, TA_MAL_IPV6_EXT);
}

static void test_decode_ipv6_ext_too_many(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct tt_seg s = syn6();
  size_t n = tt_build_eth(buf, sizeof buf, &s);
  uint8_t *ip = buf + 14;
  size_t iplen = n - 14;
  struct ta_packet pkt;
  ip[6] = 60;
  for (int i = 0; i < TA_MAX_IPV6_EXT_HEADERS + 1; i++) {
    uint8_t *e = add_ipv6_ext(ip, &iplen, 8);
    memset(e, 0, 8);
    e[0] = (uint8_t)(i == 0 ? 6 : 60); /* the first inserted ends last */
    e[2] = 1;
    e[3] = 4;
    if (i == TA_MAX_IPV6_EXT_HEADERS - 1) {
      decode_whole(TA_LINK_ETHERNET, buf, iplen + 14, &pkt);
      assert_int_equal(pkt.disposition, TA_DISP_TCP);
    }
  }
  decode_whole(TA_LINK_ETHERNET, buf, iplen + 14, &pkt);
  assert_malformed(&pkt, TA_MAL_IPV6_EXT);
}

static void test_decode_ipv6_fragment_header(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct tt_seg s = syn6();
  size_t n = tt_build_eth(buf, sizeof buf, &s);
  uint8_t *ip = buf + 14;
  size_t iplen = n - 14;
  uint8_t *f = add_ipv6_ext(ip, &iplen, 8);
  memset(f, 0, 8);
  ip[6] = 44;
  f[0] = 6;
  f[7] = 0x2a; /* identification */
  n = iplen + 14;
  struct ta_packet pkt;

  /* atomic fragment: offset 0, M=0 is a whole packet */
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_syn_tcp(&pkt);

  f[3] = 0x01; /* first fragment */
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_FRAGMENT);
  assert_int_equal(pkt.ip_proto, 6);
  assert_int_equal(pkt.family, 6);
  assert_int_equal(pkt.src[15], 1);

  put16(f + 2, 185 << 3); /* last fragment */
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_FRAGMENT);
}

static void test_decode_ipv6_lengths(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct tt_seg s = syn6();
  size_t n = tt_build_eth(buf, sizeof buf, &s);
  struct ta_packet pkt;

  put16(buf + 18, 0); /* jumbogram or offload capture */
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_malformed(&pkt, TA_MAL_IP_TOTAL_LEN);

  buf[20] = 59; /* no next header: an empty packet is fine */
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_NON_TCP);
  assert_int_equal(pkt.ip_proto, 59);
  assert_true(pkt.anomalies & TA_ANOM_IP_PADDED);

  buf[20] = 6;
  put16(buf + 18, 41); /* one byte more than the frame */
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_malformed(&pkt, TA_MAL_IP_TOTAL_LEN);
  assert_true(pkt.anomalies & TA_ANOM_IP_TOTAL_SHORT);

  decode_whole(TA_LINK_ETHERNET, buf, 14 + 39, &pkt);
  assert_malformed(&pkt, TA_MAL_IP_SHORT);
}

/* ---- malformed IPv4 ---- */

static void test_decode_ipv4_ihl_below_5(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct tt_seg s = ack4(0);
  size_t n = tt_build_eth(buf, sizeof buf, &s);
  buf[14] = 0x44;
  struct ta_packet pkt;
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_malformed(&pkt, TA_MAL_IPV4_IHL);
  assert_string_equal(ta_malformed_name(pkt.malformed), "ipv4_bad_ihl");
  buf[14] = 0x40;
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_malformed(&pkt, TA_MAL_IPV4_IHL);
}

static void test_decode_ipv4_ihl_past_end(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct tt_seg s = ack4(0);
  size_t n = tt_build_eth(buf, sizeof buf, &s);
  struct ta_packet pkt;
  buf[14] = 0x4f; /* 60-byte header in a 40-byte packet */
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_malformed(&pkt, TA_MAL_IPV4_IHL);

  /* the header fits on the wire but the snaplen cut it */
  buf[14] = 0x46;
  ta_decode_frame(TA_LINK_ETHERNET, buf, 14 + 22, (uint32_t)n, &pkt);
  assert_malformed(&pkt, TA_MAL_IP_SHORT);
  assert_true(pkt.anomalies & TA_ANOM_SNAP_TRUNCATED);

  decode_whole(TA_LINK_ETHERNET, buf, 14 + 19, &pkt);
  assert_malformed(&pkt, TA_MAL_IP_SHORT);
}

static void test_decode_ipv4_total_shorter_than_header(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct tt_seg s = ack4(0);
  size_t n = tt_build_eth(buf, sizeof buf, &s);
  put16(buf + 16, 19);
  struct ta_packet pkt;
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_malformed(&pkt, TA_MAL_IP_TOTAL_LEN);
  put16(buf + 16, 0); /* what segmentation offload captures can show */
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_malformed(&pkt, TA_MAL_IP_TOTAL_LEN);
}

static void test_decode_ipv4_total_longer_than_frame(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct tt_seg s = ack4(10);
  size_t n = tt_build_eth(buf, sizeof buf, &s);
  put16(buf + 16, 51);
  struct ta_packet pkt;
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_malformed(&pkt, TA_MAL_IP_TOTAL_LEN);
  assert_true(pkt.anomalies & TA_ANOM_IP_TOTAL_SHORT);
  /* a short snaplen alone does not make the total length wrong */
  put16(buf + 16, 50);
  ta_decode_frame(TA_LINK_ETHERNET, buf, 60, (uint32_t)n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
}

/* ---- TCP header ---- */

static void test_decode_tcp_doff_below_5(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct tt_seg s = ack4(20);
  size_t n = tt_build_eth(buf, sizeof buf, &s);
  buf[34 + 12] = 0x40;
  struct ta_packet pkt;
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_malformed(&pkt, TA_MAL_TCP_DOFF);
  assert_int_equal(pkt.family, 4);
}

static void test_decode_tcp_doff_past_end(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct tt_seg s = ack4(0);
  size_t n = tt_build_eth(buf, sizeof buf, &s);
  buf[34 + 12] = 0xf0; /* 60-byte header, 20 bytes of TCP */
  struct ta_packet pkt;
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_malformed(&pkt, TA_MAL_TCP_DOFF);

  /* Ethernet padding does not make room for the header: IP length rules */
  uint8_t pad[BUF] = {0};
  memcpy(pad, buf, n);
  decode_whole(TA_LINK_ETHERNET, pad, 120, &pkt);
  assert_malformed(&pkt, TA_MAL_TCP_DOFF);
}

static void test_decode_tcp_header_short(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct tt_seg s = ack4(0);
  tt_build_eth(buf, sizeof buf, &s);
  struct ta_packet pkt;

  /* the sender's IP length leaves 12 bytes for TCP */
  put16(buf + 16, 32);
  decode_whole(TA_LINK_ETHERNET, buf, 14 + 32, &pkt);
  assert_malformed(&pkt, TA_MAL_TCP_SHORT);
  assert_false(pkt.anomalies & TA_ANOM_TCP_TRUNCATED);
}

static void test_decode_tcp_header_cut_by_snaplen(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct tt_seg s = ack4(100);
  size_t n = tt_build_eth(buf, sizeof buf, &s);
  struct ta_packet pkt;
  ta_decode_frame(TA_LINK_ETHERNET, buf, 14 + 20 + 10, (uint32_t)n, &pkt);
  assert_malformed(&pkt, TA_MAL_TCP_SHORT);
  assert_int_equal(pkt.anomalies,
                   TA_ANOM_SNAP_TRUNCATED | TA_ANOM_TCP_TRUNCATED);
  assert_int_equal(pkt.ip_len, 140);

  /* options cut inside the timestamps: still TCP, what was captured is
   * parsed, and the cut option is not called bad */
  struct tt_seg syn = syn4();
  n = tt_build_eth(buf, sizeof buf, &syn);
  ta_decode_frame(TA_LINK_ETHERNET, buf, 14 + 20 + 33, (uint32_t)n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_int_equal(pkt.anomalies,
                   TA_ANOM_SNAP_TRUNCATED | TA_ANOM_TCP_TRUNCATED);
  assert_int_equal(pkt.tcp_hlen, 40);
  assert_true(pkt.opt.has_mss);
  assert_true(pkt.opt.sack_ok);
  assert_false(pkt.opt.has_ts); /* cut in the middle: not invented */
  assert_int_equal(pkt.opt.n_layout, 5);
  assert_int_equal(pkt.payload_caplen, 0);
}

static void test_decode_snaplen_truncated_payload(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct tt_seg s = ack4(1000);
  size_t n = tt_build_eth(buf, sizeof buf, &s);
  struct ta_packet pkt;
  ta_decode_frame(TA_LINK_ETHERNET, buf, 64, (uint32_t)n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_int_equal(pkt.anomalies, TA_ANOM_SNAP_TRUNCATED);
  assert_int_equal(pkt.caplen, 64);
  assert_int_equal(pkt.wirelen, n);
  assert_int_equal(pkt.ip_len, 1040);
  assert_int_equal(pkt.payload_len, 1000);
  assert_int_equal(pkt.payload_caplen, 10);
  assert_ptr_equal(pkt.payload, buf + 54);

  /* a record claiming more captured than wire bytes: trust the smaller */
  ta_decode_frame(TA_LINK_ETHERNET, buf, (uint32_t)n, 64, &pkt);
  assert_malformed(&pkt, TA_MAL_IP_TOTAL_LEN);
}

static void test_decode_ethernet_padding(void **state) {
  (void)state;
  uint8_t buf[BUF] = {0};
  struct tt_seg s = ack4(2);
  size_t n = tt_build_eth(buf, sizeof buf, &s);
  assert_int_equal(n, 56);
  memset(buf + n, 0, 4); /* pad to the 60-byte minimum */
  struct ta_packet pkt;
  decode_whole(TA_LINK_ETHERNET, buf, 60, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_int_equal(pkt.anomalies, TA_ANOM_IP_PADDED);
  assert_int_equal(pkt.ip_len, 42);
  assert_int_equal(pkt.payload_len, 2);
  assert_int_equal(pkt.payload_caplen, 2);

  struct tt_seg bare = ack4(0);
  n = tt_build_eth(buf, sizeof buf, &bare);
  memset(buf + n, 0, 6);
  decode_whole(TA_LINK_ETHERNET, buf, 60, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_int_equal(pkt.anomalies, TA_ANOM_IP_PADDED);
  assert_int_equal(pkt.payload_len, 0);
  assert_int_equal(pkt.payload_caplen, 0);
}

static void test_decode_ip_direct(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct tt_seg s = syn4();
  size_t n = tt_build_ip(buf, sizeof buf, &s);
  struct ta_packet pkt;
  memset(&pkt, 0, sizeof pkt);
  ta_decode_ip(buf, n, (uint32_t)n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_syn_tcp(&pkt);
  memset(&pkt, 0, sizeof pkt);
  ta_decode_ip(buf, 0, (uint32_t)n, &pkt);
  assert_malformed(&pkt, TA_MAL_IP_SHORT);
  memset(&pkt, 0, sizeof pkt);
  ta_decode_ip(NULL, 0, 0, &pkt);
  assert_malformed(&pkt, TA_MAL_IP_SHORT);
}

/* ---- TCP options ---- */

static uint32_t opts(const uint8_t *o, size_t n, uint8_t flags,
                     struct ta_tcp_options *out) {
  return ta_tcp_options_parse(o, n, flags, out);
}

static void test_decode_opt_len_zero_and_one(void **state) {
  (void)state;
  struct ta_tcp_options o;
  static const uint8_t zero[] = {2, 4, 5, 0xb4, 3, 0, 1, 1};
  assert_int_equal(opts(zero, sizeof zero, 0, &o), TA_ANOM_TCP_OPT_BAD);
  assert_true(o.has_mss);
  assert_false(o.has_wscale);
  assert_int_equal(o.n_layout, 2); /* parsing stopped at the bad length */

  static const uint8_t one[] = {1, 8, 1, 0, 0, 0, 0, 0};
  assert_int_equal(opts(one, sizeof one, 0, &o), TA_ANOM_TCP_OPT_BAD);
  assert_false(o.has_ts);
  static const uint8_t missing[] = {1, 1, 1, 2};
  assert_int_equal(opts(missing, sizeof missing, 0, &o), TA_ANOM_TCP_OPT_BAD);
  assert_int_equal(o.n_layout, 4);
}

static void test_decode_opt_overlong(void **state) {
  (void)state;
  struct ta_tcp_options o;
  static const uint8_t over[] = {1, 1, 8, 10, 0, 0, 0, 1};
  assert_int_equal(opts(over, sizeof over, 0, &o), TA_ANOM_TCP_OPT_BAD);
  assert_false(o.has_ts);

  /* in a real header: doff 6, options claim 10 bytes */
  uint8_t buf[BUF];
  static const uint8_t four[] = {8, 10, 0, 0};
  struct tt_seg s = ack4(20);
  s.opts = four;
  s.optlen = 4;
  size_t n = tt_build_eth(buf, sizeof buf, &s);
  struct ta_packet pkt;
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_int_equal(pkt.anomalies, TA_ANOM_TCP_OPT_BAD);
  assert_false(pkt.opt.has_ts);
  assert_int_equal(pkt.payload_len, 20);
}

static void test_decode_opt_wrong_length_skipped(void **state) {
  (void)state;
  struct ta_tcp_options o;
  /* MSS of length 3, then a good window scale */
  static const uint8_t bad[] = {2, 3, 5, 3, 3, 9, 0, 0};
  assert_int_equal(opts(bad, sizeof bad, 0, &o), TA_ANOM_TCP_OPT_BAD);
  assert_false(o.has_mss);
  assert_true(o.has_wscale);
  assert_int_equal(o.wscale, 9);
  static const uint8_t layout[] = {2, 3, 0};
  assert_int_equal(o.n_layout, 3);
  assert_memory_equal(o.layout, layout, 3);
}

static void test_decode_opt_after_eol(void **state) {
  (void)state;
  struct ta_tcp_options o;
  static const uint8_t clean[] = {2, 4, 5, 0xb4, 0, 0, 0, 0};
  assert_int_equal(opts(clean, sizeof clean, 0, &o), 0);
  assert_int_equal(o.n_layout, 2);
  assert_int_equal(o.layout[1], 0);

  static const uint8_t hidden[] = {2, 4, 5, 0xb4, 0, 3, 3, 7};
  assert_int_equal(opts(hidden, sizeof hidden, 0, &o),
                   TA_ANOM_TCP_OPT_AFTER_EOL);
  assert_false(o.has_wscale);
}

static void test_decode_opt_sack_unknown_and_ts_ecr(void **state) {
  (void)state;
  struct ta_tcp_options o;
  static const uint8_t sack[] = {1, 1, 5, 18, 0, 0, 0, 1, 0, 0, 0, 2,
                                 0, 0, 0, 3, 0, 0, 0, 4, 30, 3, 0, 0};
  assert_int_equal(opts(sack, sizeof sack, TA_TCP_ACK, &o), 0);
  assert_int_equal(o.sack_blocks, 2);
  static const uint8_t layout[] = {1, 1, 5, 30, 0};
  assert_int_equal(o.n_layout, 5);
  assert_memory_equal(o.layout, layout, 5);

  static const uint8_t empty_sack[] = {5, 2};
  assert_int_equal(opts(empty_sack, 2, TA_TCP_ACK, &o), TA_ANOM_TCP_OPT_BAD);

  static const uint8_t ts[] = {8, 10, 0, 0, 0, 9, 0, 0, 0, 7};
  assert_int_equal(opts(ts, sizeof ts, TA_TCP_SYN, &o), TA_ANOM_TS_ECR_ON_SYN);
  assert_int_equal(o.ts_val, 9);
  assert_int_equal(o.ts_ecr, 7);
  assert_int_equal(opts(ts, sizeof ts, TA_TCP_SYN | TA_TCP_ACK, &o), 0);
  assert_int_equal(opts(ts, sizeof ts, TA_TCP_ACK, &o), 0);
}

static void test_decode_opt_layout_capped(void **state) {
  (void)state;
  struct ta_tcp_options o;
  uint8_t nops[40];
  memset(nops, 1, sizeof nops);
  assert_int_equal(opts(nops, sizeof nops, 0, &o), 0);
  assert_int_equal(o.n_layout, TA_MAX_OPT_LAYOUT);
  /* more bytes than any TCP header holds stops at the bound */
  uint8_t many[100];
  memset(many, 1, sizeof many);
  assert_int_equal(opts(many, sizeof many, 0, &o), TA_ANOM_TCP_OPT_BAD);
  assert_int_equal(opts(NULL, 0, 0, &o), 0);
  assert_int_equal(o.n_layout, 0);
}

static void test_decode_names(void **state) {
  (void)state;
  assert_string_equal(ta_disposition_name(TA_DISP_TCP), "tcp");
  assert_string_equal(ta_disposition_name(TA_DISP_FRAGMENT), "fragments");
  assert_string_equal(ta_disposition_name(TA_DISP_UNSUPPORTED_LINK),
                      "unsupported_linktype");
  assert_string_equal(ta_disposition_name(TA_DISP_FILTERED), "filtered_out");
  assert_string_equal(ta_disposition_name(TA_DISP_COUNT), "unknown");
  assert_string_equal(ta_disposition_name(-1), "unknown");
  assert_string_equal(ta_malformed_name(TA_MAL_NONE), "none");
  assert_string_equal(ta_malformed_name(TA_MAL_TCP_DOFF),
                      "tcp_bad_data_offset");
  assert_string_equal(ta_malformed_name(TA_MAL_COUNT), "unknown");
  for (int i = 0; i < TA_DISP_COUNT; i++)
    assert_non_null(ta_disposition_name(i));
  for (int i = 0; i < TA_MAL_COUNT; i++)
    assert_non_null(ta_malformed_name(i));
}

/* ---- robustness ---- */

/* Checks what must hold for any input; `whole` is a buffer of exactly the
 * frame's bytes so the sanitizer sees any read past it. */
static void assert_sane(const struct ta_packet *pkt, const uint8_t *whole,
                        size_t caplen) {
  assert_true(pkt->disposition < TA_DISP_COUNT);
  assert_int_not_equal(pkt->disposition, TA_DISP_FILTERED);
  if (pkt->disposition == TA_DISP_MALFORMED) {
    assert_true(pkt->malformed > TA_MAL_NONE);
    assert_true(pkt->malformed < TA_MAL_COUNT);
  } else {
    assert_int_equal(pkt->malformed, TA_MAL_NONE);
  }
  assert_true(pkt->opt.n_layout <= TA_MAX_OPT_LAYOUT);
  assert_true(pkt->vlan_depth <= TA_MAX_VLAN_TAGS);
  if (pkt->disposition == TA_DISP_TCP) {
    assert_true(pkt->payload_caplen <= pkt->payload_len);
    assert_true(pkt->payload >= whole);
    assert_true(pkt->payload + pkt->payload_caplen <= whole + caplen);
    assert_true(pkt->tcp_hlen >= 20 && pkt->tcp_hlen <= 60);
  }
}

/* Decodes every prefix of a frame, both as a snaplen cut and as a frame
 * that really was that short, from a heap copy of exactly that size. */
static void decode_all_prefixes(uint32_t link, const uint8_t *frame,
                                size_t n) {
  struct ta_packet pkt;
  for (size_t k = 0; k <= n; k++) {
    uint8_t *copy = malloc(k ? k : 1);
    assert_non_null(copy);
    memcpy(copy, frame, k);
    ta_decode_frame(link, copy, (uint32_t)k, (uint32_t)n, &pkt);
    assert_sane(&pkt, copy, k);
    if (k < n)
      assert_true(pkt.anomalies & TA_ANOM_SNAP_TRUNCATED);
    else
      assert_int_equal(pkt.disposition, TA_DISP_TCP);
    ta_decode_frame(link, copy, (uint32_t)k, (uint32_t)k, &pkt);
    assert_sane(&pkt, copy, k);
    free(copy);
  }
}

static void test_decode_every_prefix(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct tt_seg s = syn4();
  s.payload_len = 30;
  size_t n = tt_build_eth(buf, sizeof buf, &s);
  decode_all_prefixes(TA_LINK_ETHERNET, buf, n);

  add_vlan(buf, &n, 0x8100, 5);
  add_vlan(buf, &n, 0x88A8, 6);
  decode_all_prefixes(TA_LINK_ETHERNET, buf, n);

  struct tt_seg s6 = syn6();
  s6.payload_len = 7;
  size_t n6 = tt_build_ip(buf + 20, sizeof buf - 20, &s6);
  memset(buf, 0, 20);
  put16(buf, 0x86DD);
  uint8_t *ip = buf + 20;
  uint8_t *e = add_ipv6_ext(ip, &n6, 16);
  memset(e, 0, 16);
  ip[6] = 0;
  e[0] = 44;
  e[2] = 1;
  e[3] = 4;
  e[8] = 6; /* atomic fragment header */
  decode_all_prefixes(TA_LINK_SLL2, buf, n6 + 20);

  for (size_t k = 0; k <= 8; k++) {
    struct ta_tcp_options o;
    uint8_t *copy = malloc(k ? k : 1);
    memcpy(copy, syn_opts, k);
    ta_tcp_options_parse(copy, k, TA_TCP_SYN, &o);
    assert_true(o.n_layout <= TA_MAX_OPT_LAYOUT);
    free(copy);
  }
}

/* Every byte of a valid frame set to a few hostile values, one at a time. */
static void test_decode_every_byte_mutated(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct tt_seg s = syn6();
  s.payload_len = 4;
  size_t n = tt_build_eth(buf, sizeof buf, &s);
  add_vlan(buf, &n, 0x8100, 5);
  static const uint8_t vals[] = {0x00, 0x01, 0x05, 0x2c, 0x45, 0x60,
                                 0x7f, 0x80, 0xf0, 0xff};
  uint8_t *copy = malloc(n);
  assert_non_null(copy);
  struct ta_packet pkt;
  for (size_t i = 0; i < n; i++) {
    for (size_t v = 0; v < sizeof vals; v++) {
      memcpy(copy, buf, n);
      copy[i] = vals[v];
      ta_decode_frame(TA_LINK_ETHERNET, copy, (uint32_t)n, (uint32_t)n, &pkt);
      assert_sane(&pkt, copy, n);
      ta_decode_frame(TA_LINK_RAW, copy + 18, (uint32_t)(n - 18),
                      (uint32_t)(n - 18), &pkt);
      assert_sane(&pkt, copy + 18, n - 18);
    }
  }
  free(copy);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_decode_ipv4_syn_every_field),
      cmocka_unit_test(test_decode_ipv6_syn_every_field),
      cmocka_unit_test(test_decode_payload_and_flags),
      cmocka_unit_test(test_decode_reserved_bits_and_urg_ptr),
      cmocka_unit_test(test_decode_ipv4_options),
      cmocka_unit_test(test_decode_vlan_single),
      cmocka_unit_test(test_decode_vlan_qinq),
      cmocka_unit_test(test_decode_vlan_too_deep),
      cmocka_unit_test(test_decode_vlan_tag_cut),
      cmocka_unit_test(test_decode_link_short),
      cmocka_unit_test(test_decode_sll),
      cmocka_unit_test(test_decode_sll2),
      cmocka_unit_test(test_decode_null_both_byte_orders),
      cmocka_unit_test(test_decode_loop),
      cmocka_unit_test(test_decode_raw_ip),
      cmocka_unit_test(test_decode_unsupported_link),
      cmocka_unit_test(test_decode_arp_and_pppoe_non_ip),
      cmocka_unit_test(test_decode_udp_non_tcp),
      cmocka_unit_test(test_decode_ipv4_fragments),
      cmocka_unit_test(test_decode_ipv6_ext_chain),
      cmocka_unit_test(test_decode_ipv6_ext_too_many),
      cmocka_unit_test(test_decode_ipv6_fragment_header),
      cmocka_unit_test(test_decode_ipv6_lengths),
      cmocka_unit_test(test_decode_ipv4_ihl_below_5),
      cmocka_unit_test(test_decode_ipv4_ihl_past_end),
      cmocka_unit_test(test_decode_ipv4_total_shorter_than_header),
      cmocka_unit_test(test_decode_ipv4_total_longer_than_frame),
      cmocka_unit_test(test_decode_tcp_doff_below_5),
      cmocka_unit_test(test_decode_tcp_doff_past_end),
      cmocka_unit_test(test_decode_tcp_header_short),
      cmocka_unit_test(test_decode_tcp_header_cut_by_snaplen),
      cmocka_unit_test(test_decode_snaplen_truncated_payload),
      cmocka_unit_test(test_decode_ethernet_padding),
      cmocka_unit_test(test_decode_ip_direct),
      cmocka_unit_test(test_decode_opt_len_zero_and_one),
      cmocka_unit_test(test_decode_opt_overlong),
      cmocka_unit_test(test_decode_opt_wrong_length_skipped),
      cmocka_unit_test(test_decode_opt_after_eol),
      cmocka_unit_test(test_decode_opt_sack_unknown_and_ts_ecr),
      cmocka_unit_test(test_decode_opt_layout_capped),
      cmocka_unit_test(test_decode_names),
      cmocka_unit_test(test_decode_every_prefix),
      cmocka_unit_test(test_decode_every_byte_mutated),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
