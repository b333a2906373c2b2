/* tcpaudit - tests: decode, from link headers down to TCP options.
 * Frames are built with the shared builders, then edited byte by byte to
 * reach each malformed and unusual case the decoder must account for. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
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

/* ---- encapsulations ---- */

static void put32(uint8_t *p, uint32_t v) {
  put16(p, (uint16_t)(v >> 16));
  put16(p + 2, (uint16_t)v);
}

/* One MPLS label stack entry: label, bottom-of-stack bit, TTL 64. */
static void mpls_entry(uint8_t *e, uint32_t label, bool bottom) {
  put32(e, label << 12 | (bottom ? 0x100u : 0u) | 64u);
}

/* Turns an Ethernet frame into an MPLS one: `labels` entries, the last
 * marked bottom of stack when `bottom`. */
static void add_mpls(uint8_t *buf, size_t *len, uint16_t type, int labels,
                     bool bottom) {
  put16(buf + 12, type);
  uint8_t *e = insert_gap(buf, len, 14, (size_t)labels * 4);
  for (int i = 0; i < labels; i++)
    mpls_entry(e + 4 * i, 100u + (uint32_t)i, bottom && i == labels - 1);
}

/* Turns an Ethernet frame carrying IP into a PPPoE session frame. */
static void add_pppoe(uint8_t *buf, size_t *len, uint16_t ppp_proto) {
  size_t ip = *len - 14;
  put16(buf + 12, 0x8864);
  uint8_t *h = insert_gap(buf, len, 14, 8);
  h[0] = 0x11;
  h[1] = 0;
  put16(h + 2, 0x0f07);
  put16(h + 4, (uint16_t)(ip + 2));
  put16(h + 6, ppp_proto);
}

static const char *const OUTER_SRC = "192.0.2.1", *const OUTER_DST = "192.0.2.2";

/* Writes an IPv4 packet carrying UDP (sport, dport) around payload[0..n)
 * into out; returns its length. The UDP checksum is left 0 (none). */
static size_t ip_udp4(uint8_t *out, const uint8_t *payload, size_t n,
                      uint16_t sport, uint16_t dport) {
  memmove(out + 28, payload, n);
  memset(out, 0, 28);
  out[0] = 0x45;
  put16(out + 2, (uint16_t)(28 + n));
  out[8] = 64;
  out[9] = 17;
  inet_pton(AF_INET, OUTER_SRC, out + 12);
  inet_pton(AF_INET, OUTER_DST, out + 16);
  put16(out + 20, sport);
  put16(out + 22, dport);
  put16(out + 24, (uint16_t)(8 + n));
  return 28 + n;
}

/* Puts an Ethernet header for an IPv4 packet of length n at buf (the packet
 * is moved behind it); returns the frame length. */
static size_t eth_ipv4(uint8_t *buf, size_t n) {
  memmove(buf + 14, buf, n);
  memset(buf, 0, 12);
  put16(buf + 12, 0x0800);
  return n + 14;
}

/* Writes a GTPv1-U header (flags byte, message type) for `after` bytes
 * following the 8 fixed ones. */
static void gtp_hdr(uint8_t *g, uint8_t flags, uint8_t type, size_t after) {
  g[0] = flags;
  g[1] = type;
  put16(g + 2, (uint16_t)after);
  put32(g + 4, 0x9e40ba4f); /* TEID */
}

/* buf := Ethernet + IPv4 + UDP 5906 -> 2152 + GTP T-PDU (flags 0x30) + the
 * IP packet ip[0..n) (ip may be inside buf's scratch area). */
static size_t gtp_frame(uint8_t *buf, const uint8_t *ip, size_t n) {
  uint8_t tmp[BUF];
  gtp_hdr(tmp, 0x30, 0xFF, n);
  memcpy(tmp + 8, ip, n);
  size_t len = ip_udp4(buf, tmp, n + 8, 5906, 2152);
  return eth_ipv4(buf, len);
}

static void assert_inner_syn4(const struct ta_packet *pkt) {
  assert_int_equal(pkt->disposition, TA_DISP_TCP);
  assert_int_equal(pkt->family, 4);
  static const uint8_t src[4] = {192, 168, 2, 10}, dst[4] = {10, 0, 0, 1};
  assert_memory_equal(pkt->src, src, 4);
  assert_memory_equal(pkt->dst, dst, 4);
  assert_int_equal(pkt->ttl, 63);
  assert_int_equal(pkt->ip_id, 0xbeef);
  assert_syn_tcp(pkt);
}

static void test_decode_mpls(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct tt_seg s = syn4();
  size_t n = tt_build_eth(buf, sizeof buf, &s);
  add_mpls(buf, &n, 0x8847, 1, true);
  struct ta_packet pkt;
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_inner_syn4(&pkt);
  assert_int_equal(pkt.encap, TA_ENCAP_MPLS);
  assert_int_equal(pkt.mpls_labels, 1);
  assert_int_equal(pkt.tunnel_depth, 0);

  /* multicast, three labels, IPv6, behind a VLAN tag */
  struct tt_seg s6 = syn6();
  n = tt_build_eth(buf, sizeof buf, &s6);
  add_mpls(buf, &n, 0x8848, 3, true);
  add_vlan(buf, &n, 0x8100, 7);
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_int_equal(pkt.family, 6);
  assert_int_equal(pkt.vlan_depth, 1);
  assert_int_equal(pkt.mpls_labels, 3);
  assert_syn_tcp(&pkt);

  /* a pseudowire: Ethernet behind the labels is not IP */
  n = tt_build_eth(buf, sizeof buf, &s);
  add_mpls(buf, &n, 0x8847, 2, true);
  buf[22] = 0x00; /* control word */
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_NON_IP);
  assert_int_equal(pkt.encap, TA_ENCAP_MPLS);
}

static void test_decode_mpls_malformed(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct tt_seg s = syn4();
  size_t n = tt_build_eth(buf, sizeof buf, &s);
  add_mpls(buf, &n, 0x8847, 2, true);
  struct ta_packet pkt;
  /* the frame ends inside the stack, before its bottom */
  decode_whole(TA_LINK_ETHERNET, buf, 14 + 6, &pkt);
  assert_malformed(&pkt, TA_MAL_LINK_SHORT);
  /* the stack is whole but nothing follows it */
  decode_whole(TA_LINK_ETHERNET, buf, 14 + 8, &pkt);
  assert_malformed(&pkt, TA_MAL_IP_SHORT);
  /* no entry is marked bottom and the frame runs out */
  n = tt_build_eth(buf, sizeof buf, &s);
  add_mpls(buf, &n, 0x8847, 3, false);
  decode_whole(TA_LINK_ETHERNET, buf, 14 + 12, &pkt);
  assert_malformed(&pkt, TA_MAL_LINK_SHORT);
  assert_int_equal(pkt.mpls_labels, 3);

  /* exactly the maximum is followed, one more is refused */
  n = tt_build_eth(buf, sizeof buf, &s);
  add_mpls(buf, &n, 0x8847, TA_MAX_MPLS_LABELS, true);
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_int_equal(pkt.mpls_labels, TA_MAX_MPLS_LABELS);
  n = tt_build_eth(buf, sizeof buf, &s);
  add_mpls(buf, &n, 0x8847, TA_MAX_MPLS_LABELS + 1, true);
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_malformed(&pkt, TA_MAL_MPLS_DEPTH);
  /* a long stack without a bottom stops at the maximum too */
  n = tt_build_eth(buf, sizeof buf, &s);
  add_mpls(buf, &n, 0x8847, TA_MAX_MPLS_LABELS + 4, false);
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_malformed(&pkt, TA_MAL_MPLS_DEPTH);
}

static void test_decode_pppoe(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct tt_seg s = syn4();
  size_t n = tt_build_eth(buf, sizeof buf, &s);
  add_pppoe(buf, &n, 0x0021);
  struct ta_packet pkt;
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_inner_syn4(&pkt);
  assert_int_equal(pkt.encap, TA_ENCAP_PPPOE);
  assert_int_equal(pkt.anomalies, 0);

  /* IPv6 behind QinQ, as in Zeek's pppoe-over-qinq trace */
  struct tt_seg s6 = syn6();
  n = tt_build_eth(buf, sizeof buf, &s6);
  add_pppoe(buf, &n, 0x0057);
  add_vlan(buf, &n, 0x8100, 2474);
  add_vlan(buf, &n, 0x8100, 3704);
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_int_equal(pkt.family, 6);
  assert_int_equal(pkt.vlan_depth, 2);
  assert_syn_tcp(&pkt);

  /* a PPPoE length too short for the IP packet does not cut it (some
   * concentrators write it wrong; the IP total length decides) */
  n = tt_build_eth(buf, sizeof buf, &s);
  add_pppoe(buf, &n, 0x0021);
  put16(buf + 18, 36);
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_int_equal(pkt.payload_len, 0);
}

static void test_decode_pppoe_not_ip_and_short(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct tt_seg s = syn4();
  size_t n = tt_build_eth(buf, sizeof buf, &s);
  add_pppoe(buf, &n, 0xc021); /* LCP */
  struct ta_packet pkt;
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_NON_IP);
  assert_int_equal(pkt.encap, TA_ENCAP_PPPOE);
  /* discovery stage */
  put16(buf + 12, 0x8863);
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_NON_IP);
  assert_int_equal(pkt.encap, 0);
  /* a session frame that is not version 1, type 1, code 0 */
  put16(buf + 12, 0x8864);
  buf[14] = 0x12;
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_NON_IP);

  /* short: the frame ends inside the 6-byte header or the PPP protocol */
  n = tt_build_eth(buf, sizeof buf, &s);
  add_pppoe(buf, &n, 0x0021);
  for (size_t cut = 14; cut < 22; cut++) {
    decode_whole(TA_LINK_ETHERNET, buf, cut, &pkt);
    assert_malformed(&pkt, TA_MAL_LINK_SHORT);
  }
  decode_whole(TA_LINK_ETHERNET, buf, 22, &pkt);
  assert_malformed(&pkt, TA_MAL_IP_SHORT);
  /* the PPP protocol says IPv4, the packet is IPv6 */
  struct tt_seg s6 = syn6();
  n = tt_build_eth(buf, sizeof buf, &s6);
  add_pppoe(buf, &n, 0x0021);
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_malformed(&pkt, TA_MAL_IP_VERSION);
}

static void test_decode_gtp_u(void **state) {
  (void)state;
  uint8_t ip[BUF], buf[BUF];
  struct tt_seg s = syn4();
  size_t n = tt_build_ip(ip, sizeof ip, &s);
  size_t f = gtp_frame(buf, ip, n);
  struct ta_packet pkt;
  decode_whole(TA_LINK_ETHERNET, buf, f, &pkt);
  assert_inner_syn4(&pkt);
  assert_int_equal(pkt.encap, TA_ENCAP_GTP_U);
  assert_int_equal(pkt.tunnel_depth, 1);
  assert_int_equal(pkt.ip_len, n);

  /* GTP-U on 2152 as the source port works the same */
  put16(buf + 14 + 20, 2152);
  put16(buf + 14 + 22, 40000);
  decode_whole(TA_LINK_ETHERNET, buf, f, &pkt);
  assert_inner_syn4(&pkt);

  /* S flag: 4 more bytes; E flag: a chain of two extension headers */
  uint8_t g[BUF];
  gtp_hdr(g, 0x32, 0xFF, 4 + n);
  memset(g + 8, 0, 4);
  memcpy(g + 12, ip, n);
  f = eth_ipv4(buf, ip_udp4(buf, g, 12 + n, 2152, 2152));
  decode_whole(TA_LINK_ETHERNET, buf, f, &pkt);
  assert_inner_syn4(&pkt);

  gtp_hdr(g, 0x34, 0xFF, 4 + 4 + 8 + n);
  memset(g + 8, 0, 4);
  g[11] = 0x85;             /* PDU session container follows */
  g[12] = 1;                /* 4 bytes */
  g[13] = 0x10;
  g[14] = 0x05;
  g[15] = 0xC0;             /* another one follows */
  g[16] = 2;                /* 8 bytes */
  memset(g + 17, 0, 6);
  g[23] = 0;                /* end of chain */
  memcpy(g + 24, ip, n);
  f = eth_ipv4(buf, ip_udp4(buf, g, 24 + n, 2152, 2152));
  decode_whole(TA_LINK_ETHERNET, buf, f, &pkt);
  assert_inner_syn4(&pkt);

  /* IPv6 inside */
  struct tt_seg s6 = syn6();
  n = tt_build_ip(ip, sizeof ip, &s6);
  f = gtp_frame(buf, ip, n);
  decode_whole(TA_LINK_ETHERNET, buf, f, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_int_equal(pkt.family, 6);
  assert_syn_tcp(&pkt);
}

static void test_decode_gtp_not_user_data(void **state) {
  (void)state;
  uint8_t g[64], buf[BUF];
  struct ta_packet pkt;
  /* echo request: signalling, the frame stays UDP */
  gtp_hdr(g, 0x32, 0x01, 4);
  memset(g + 8, 0, 4);
  size_t f = eth_ipv4(buf, ip_udp4(buf, g, 12, 2152, 2152));
  decode_whole(TA_LINK_ETHERNET, buf, f, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_NON_TCP);
  assert_int_equal(pkt.ip_proto, 17);
  assert_int_equal(pkt.tunnel_depth, 0);
  assert_int_equal(pkt.src[3], 1);
  /* version 2 and GTP' are not GTPv1-U */
  gtp_hdr(g, 0x48, 0xFF, 4);
  f = eth_ipv4(buf, ip_udp4(buf, g, 12, 2152, 2152));
  decode_whole(TA_LINK_ETHERNET, buf, f, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_NON_TCP);
  gtp_hdr(g, 0x20, 0xFF, 4);
  f = eth_ipv4(buf, ip_udp4(buf, g, 12, 2152, 2152));
  decode_whole(TA_LINK_ETHERNET, buf, f, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_NON_TCP);
  /* fewer than 8 bytes cannot be GTP */
  f = eth_ipv4(buf, ip_udp4(buf, g, 5, 2152, 2152));
  decode_whole(TA_LINK_ETHERNET, buf, f, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_NON_TCP);
}

/* Decodes a GTP-U datagram g[0..n) in a frame; returns the packet. */
static struct ta_packet decode_gtp_bytes(const uint8_t *g, size_t n) {
  uint8_t buf[BUF];
  size_t f = eth_ipv4(buf, ip_udp4(buf, g, n, 2152, 2152));
  struct ta_packet pkt;
  decode_whole(TA_LINK_ETHERNET, buf, f, &pkt);
  return pkt;
}

static void test_decode_gtp_bad_lengths(void **state) {
  (void)state;
  uint8_t ip[BUF], g[BUF];
  struct tt_seg s = syn4();
  size_t n = tt_build_ip(ip, sizeof ip, &s);
  struct ta_packet pkt;

  /* the length field runs past the datagram */
  gtp_hdr(g, 0x30, 0xFF, n + 1);
  memcpy(g + 8, ip, n);
  pkt = decode_gtp_bytes(g, 8 + n);
  assert_malformed(&pkt, TA_MAL_TUNNEL_HDR);
  /* shorter than the inner packet: the inner IP says more than it has */
  gtp_hdr(g, 0x30, 0xFF, n - 4);
  pkt = decode_gtp_bytes(g, 8 + n);
  assert_malformed(&pkt, TA_MAL_IP_TOTAL_LEN);
  /* a T-PDU with nothing in it */
  gtp_hdr(g, 0x30, 0xFF, 0);
  pkt = decode_gtp_bytes(g, 8);
  assert_malformed(&pkt, TA_MAL_TUNNEL_HDR);
  /* S set, but the length leaves no room for the 4 optional bytes */
  gtp_hdr(g, 0x32, 0xFF, 2);
  pkt = decode_gtp_bytes(g, 12);
  assert_malformed(&pkt, TA_MAL_TUNNEL_HDR);
  /* an extension header of length 0 */
  gtp_hdr(g, 0x34, 0xFF, 8 + n);
  memset(g + 8, 0, 8);
  g[11] = 0x85;
  g[12] = 0;
  memcpy(g + 16, ip, n);
  pkt = decode_gtp_bytes(g, 16 + n);
  assert_malformed(&pkt, TA_MAL_TUNNEL_HDR);
  /* an extension header running past the message */
  g[12] = 200;
  pkt = decode_gtp_bytes(g, 16 + n);
  assert_malformed(&pkt, TA_MAL_TUNNEL_HDR);
  /* a well-formed chain one longer than TA_MAX_GTP_EXT_HEADERS */
  size_t chain = (TA_MAX_GTP_EXT_HEADERS + 1) * 4;
  gtp_hdr(g, 0x34, 0xFF, 4 + chain + n);
  memset(g + 8, 0, 4);
  g[11] = 0x85;
  for (size_t i = 0; i < TA_MAX_GTP_EXT_HEADERS + 1; i++) {
    uint8_t *e = g + 12 + 4 * i;
    e[0] = 1;
    e[1] = e[2] = 0;
    e[3] = i == TA_MAX_GTP_EXT_HEADERS ? 0 : 0x85;
  }
  memcpy(g + 12 + chain, ip, n);
  pkt = decode_gtp_bytes(g, 12 + chain + n);
  assert_malformed(&pkt, TA_MAL_TUNNEL_HDR);
  /* the same chain ending within the maximum is followed */
  g[12 + 4 * (TA_MAX_GTP_EXT_HEADERS - 1) + 3] = 0;
  gtp_hdr(g, 0x34, 0xFF, 4 + TA_MAX_GTP_EXT_HEADERS * 4 + n);
  g[11] = 0x85;
  memmove(g + 12 + TA_MAX_GTP_EXT_HEADERS * 4, ip, n);
  pkt = decode_gtp_bytes(g, 12 + TA_MAX_GTP_EXT_HEADERS * 4 + n);
  assert_inner_syn4(&pkt);
  /* the UDP length says more than the IP packet holds: not followed */
  uint8_t buf[BUF];
  size_t f = gtp_frame(buf, ip, n);
  put16(buf + 14 + 24, (uint16_t)(f - 14 - 20 + 1));
  decode_whole(TA_LINK_ETHERNET, buf, f, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_NON_TCP);
  /* the snaplen cuts the GTP header */
  f = gtp_frame(buf, ip, n);
  ta_decode_frame(TA_LINK_ETHERNET, buf, 14 + 28 + 5, (uint32_t)f, &pkt);
  assert_malformed(&pkt, TA_MAL_TUNNEL_HDR);
  assert_true(pkt.anomalies & TA_ANOM_SNAP_TRUNCATED);
}

static void test_decode_tunnel_too_deep(void **state) {
  (void)state;
  uint8_t a[BUF], b[BUF], buf[BUF];
  struct tt_seg s = syn4();
  size_t n = tt_build_ip(a, sizeof a, &s);
  /* GTP in GTP: two tunnels are followed */
  gtp_hdr(b, 0x30, 0xFF, n);
  memcpy(b + 8, a, n);
  n = ip_udp4(a, b, n + 8, 2152, 2152);
  size_t f = gtp_frame(buf, a, n);
  struct ta_packet pkt;
  decode_whole(TA_LINK_ETHERNET, buf, f, &pkt);
  assert_inner_syn4(&pkt);
  assert_int_equal(pkt.tunnel_depth, TA_MAX_TUNNEL_DEPTH);
  /* a third is refused */
  gtp_hdr(b, 0x30, 0xFF, n);
  memcpy(b + 8, a, n);
  n = ip_udp4(a, b, n + 8, 2152, 2152);
  f = gtp_frame(buf, a, n);
  decode_whole(TA_LINK_ETHERNET, buf, f, &pkt);
  assert_malformed(&pkt, TA_MAL_TUNNEL_DEPTH);
  assert_int_equal(pkt.tunnel_depth, TA_MAX_TUNNEL_DEPTH);
}

/* An IPv6 SYN between a Teredo client address and a native one. */
static struct tt_seg syn_teredo(void) {
  struct tt_seg s = syn6();
  s.src = "2001:0:4137:9e50:8000:f12a:b9c8:2815";
  s.dst = "2001:4860:0:2001::68";
  return s;
}

/* buf := Ethernet + IPv4 + UDP(sport, dport) + hdr[0..h) + the IPv6
 * packet built from s; returns the frame length. */
static size_t teredo_frame(uint8_t *buf, const struct tt_seg *s,
                           const uint8_t *hdr, size_t h, uint16_t sport,
                           uint16_t dport) {
  uint8_t p[BUF];
  if (h)
    memcpy(p, hdr, h);
  size_t n = tt_build_ip(p + h, sizeof p - h, s);
  return eth_ipv4(buf, ip_udp4(buf, p, h + n, sport, dport));
}

static void test_decode_teredo(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct ta_packet pkt;
  struct tt_seg s = syn_teredo();
  size_t f = teredo_frame(buf, &s, NULL, 0, 3797, 3544);
  decode_whole(TA_LINK_ETHERNET, buf, f, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_int_equal(pkt.family, 6);
  assert_int_equal(pkt.encap, TA_ENCAP_TEREDO);
  assert_int_equal(pkt.tunnel_depth, 1);
  assert_int_equal(pkt.src[0], 0x20);
  assert_syn_tcp(&pkt);

  /* relayed on another port: the Teredo address gives it away */
  f = teredo_frame(buf, &s, NULL, 0, 3797, 32900);
  decode_whole(TA_LINK_ETHERNET, buf, f, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_int_equal(pkt.encap, TA_ENCAP_TEREDO);

  /* origin indication, then authentication + origin indication */
  static const uint8_t origin[8] = {0, 0, 0xf1, 0x4d, 0x3f, 0x57, 0x61, 0x7f};
  f = teredo_frame(buf, &s, origin, sizeof origin, 3544, 3797);
  decode_whole(TA_LINK_ETHERNET, buf, f, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  uint8_t auth[13 + 3 + 2 + 8];
  memset(auth, 0, sizeof auth);
  auth[1] = 1;
  auth[2] = 3; /* client id */
  auth[3] = 2; /* authentication value */
  memcpy(auth + 18, origin, 8);
  f = teredo_frame(buf, &s, auth, sizeof auth, 3544, 3797);
  decode_whole(TA_LINK_ETHERNET, buf, f, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_syn_tcp(&pkt);
  /* with a header, no Teredo address is needed off the port */
  struct tt_seg plain = syn6();
  f = teredo_frame(buf, &plain, origin, sizeof origin, 40000, 40001);
  decode_whole(TA_LINK_ETHERNET, buf, f, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
}

static void test_decode_teredo_rejected(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct ta_packet pkt;
  /* IPv6 in UDP on other ports without any Teredo mark: just UDP */
  struct tt_seg plain = syn6();
  size_t f = teredo_frame(buf, &plain, NULL, 0, 40000, 40001);
  decode_whole(TA_LINK_ETHERNET, buf, f, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_NON_TCP);
  assert_int_equal(pkt.family, 4);
  assert_int_equal(pkt.encap, 0);
  /* the IPv6 payload length must fill the datagram exactly */
  struct tt_seg s = syn_teredo();
  f = teredo_frame(buf, &s, NULL, 0, 3544, 3797);
  put16(buf + 14 + 28 + 4, 41);
  decode_whole(TA_LINK_ETHERNET, buf, f, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_NON_TCP);
  put16(buf + 14 + 28 + 4, 39);
  decode_whole(TA_LINK_ETHERNET, buf, f, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_NON_TCP);
  /* an authentication header longer than the datagram */
  uint8_t auth[16] = {0, 1, 200, 200};
  f = teredo_frame(buf, &s, auth, sizeof auth, 3544, 3797);
  decode_whole(TA_LINK_ETHERNET, buf, f, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_NON_TCP);
  /* a bubble (no next header) may be padded; it is not TCP */
  uint8_t p[80] = {0x60};
  p[6] = 59;
  p[7] = 255;
  p[8] = 0x20;
  p[9] = 0x01;
  f = eth_ipv4(buf, ip_udp4(buf, p, sizeof p, 3544, 3797));
  decode_whole(TA_LINK_ETHERNET, buf, f, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_NON_TCP);
  assert_int_equal(pkt.encap, TA_ENCAP_TEREDO);
  assert_int_equal(pkt.family, 6);
}

/* ---- checksums ---- */

/* One's complement sum over p[0..n) for the tests (RFC 1071). */
static uint32_t sum16(const uint8_t *p, size_t n, uint32_t acc) {
  for (size_t i = 0; i < n; i += 2)
    acc += (uint32_t)p[i] << 8 | (i + 1 < n ? p[i + 1] : 0);
  return acc;
}

static uint16_t fold(uint32_t acc) {
  while (acc >> 16)
    acc = (acc & 0xffff) + (acc >> 16);
  return (uint16_t)~acc;
}

/* Fills in the IPv4 header checksum and the TCP or UDP checksum of an IP
 * packet built by the helpers above (no options, no extension headers). */
static void fix_checksums(uint8_t *ip) {
  bool v6 = ip[0] >> 4 == 6;
  size_t hl = v6 ? 40 : 20, alen = v6 ? 16 : 4;
  size_t total = v6 ? 40 + (size_t)(ip[4] << 8 | ip[5])
                    : (size_t)(ip[2] << 8 | ip[3]);
  uint8_t proto = v6 ? ip[6] : ip[9];
  if (!v6) {
    put16(ip + 10, 0);
    put16(ip + 10, fold(sum16(ip, hl, 0)));
  }
  size_t at = proto == 6 ? 16 : 6;
  uint8_t *l4 = ip + hl;
  size_t len = total - hl;
  put16(l4 + at, 0);
  uint32_t acc = sum16(ip + (v6 ? 8 : 12), 2 * alen, 0);
  acc += proto + (uint32_t)len;
  put16(l4 + at, fold(sum16(l4, len, acc)));
}

static void decode_checked(const uint8_t *buf, size_t n, struct ta_packet *pkt) {
  ta_decode_frame_opts(TA_LINK_ETHERNET, buf, (uint32_t)n, (uint32_t)n,
                       TA_DECODE_VERIFY_CHECKSUMS, pkt);
}

static void test_decode_checksum_known_header(void **state) {
  (void)state;
  /* the IPv4 header of RFC 1071's era textbooks: checksum 0xb861 */
  uint8_t buf[60] = {0};
  static const uint8_t hdr[20] = {0x45, 0, 0, 0x73, 0, 0, 0x40, 0, 0x40, 0x11,
                                  0xb8, 0x61, 0xc0, 0xa8, 0, 1, 0xc0, 0xa8,
                                  0, 0xc7};
  memcpy(buf + 14, hdr, sizeof hdr);
  put16(buf + 12, 0x0800);
  struct ta_packet pkt;
  ta_decode_frame_opts(TA_LINK_ETHERNET, buf, 34, 14 + 0x73,
                       TA_DECODE_VERIFY_CHECKSUMS, &pkt);
  assert_int_equal(pkt.checksum_bad, 0);
  assert_int_equal(pkt.disposition, TA_DISP_NON_TCP);
  buf[14 + 11] = 0x62;
  ta_decode_frame_opts(TA_LINK_ETHERNET, buf, 34, 14 + 0x73,
                       TA_DECODE_VERIFY_CHECKSUMS, &pkt);
  assert_int_equal(pkt.checksum_bad, TA_CSUM_IPV4);
  assert_malformed(&pkt, TA_MAL_IP_CHECKSUM);
}

static void test_decode_checksum_tcp(void **state) {
  (void)state;
  uint8_t buf[BUF];
  struct tt_seg s = syn4();
  s.payload_len = 11; /* odd: the last byte is half a word */
  size_t n = tt_build_eth(buf, sizeof buf, &s);
  fix_checksums(buf + 14);
  struct ta_packet pkt;
  decode_checked(buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_true(pkt.verify_checksums);
  assert_int_equal(pkt.checksum_bad, 0);

  /* a wrong TCP checksum keeps the segment TCP and says so */
  buf[14 + 20 + 16] ^= 0x01;
  decode_checked(buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_int_equal(pkt.checksum_bad, TA_CSUM_TCP);
  assert_int_equal(pkt.sport, 40000);
  /* not asked: not looked at */
  decode_whole(TA_LINK_ETHERNET, buf, n, &pkt);
  assert_false(pkt.verify_checksums);
  assert_int_equal(pkt.checksum_bad, 0);
  /* cut by the snaplen: cannot be checked */
  ta_decode_frame_opts(TA_LINK_ETHERNET, buf, (uint32_t)n - 1, (uint32_t)n,
                       TA_DECODE_VERIFY_CHECKSUMS, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_int_equal(pkt.checksum_bad, 0);
  /* Ethernet padding is not part of the segment */
  buf[14 + 20 + 16] ^= 0x01;
  memset(buf + n, 0xee, 6);
  decode_checked(buf, n + 6, &pkt);
  assert_int_equal(pkt.checksum_bad, 0);

  /* a wrong IPv4 header checksum: the packet cannot be placed */
  buf[14 + 8] = 62; /* TTL changed on the way, checksum not updated */
  decode_checked(buf, n, &pkt);
  assert_malformed(&pkt, TA_MAL_IP_CHECKSUM);
  assert_int_equal(pkt.checksum_bad, TA_CSUM_IPV4);

  /* IPv6 */
  struct tt_seg s6 = syn6();
  s6.payload_len = 3;
  n = tt_build_eth(buf, sizeof buf, &s6);
  fix_checksums(buf + 14);
  decode_checked(buf, n, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_int_equal(pkt.checksum_bad, 0);
  buf[14 + 8] ^= 0x80; /* another source address */
  decode_checked(buf, n, &pkt);
  assert_int_equal(pkt.checksum_bad, TA_CSUM_TCP);
}

static void test_decode_checksum_in_tunnels(void **state) {
  (void)state;
  uint8_t ip[BUF], buf[BUF];
  struct tt_seg s = syn4();
  size_t n = tt_build_ip(ip, sizeof ip, &s);
  fix_checksums(ip);
  size_t f = gtp_frame(buf, ip, n);
  fix_checksums(buf + 14);
  struct ta_packet pkt;
  decode_checked(buf, f, &pkt);
  assert_inner_syn4(&pkt);
  assert_int_equal(pkt.checksum_bad, 0);
  /* the UDP checksum may be left out (0) */
  put16(buf + 14 + 26, 0);
  decode_checked(buf, f, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_int_equal(pkt.checksum_bad, 0);
  /* a wrong one: the tunnel is not followed */
  put16(buf + 14 + 26, 0x1234);
  decode_checked(buf, f, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_NON_TCP);
  assert_int_equal(pkt.checksum_bad, TA_CSUM_UDP);
  assert_int_equal(pkt.tunnel_depth, 0);
  /* inner TCP checksum wrong, carrier right */
  fix_checksums(buf + 14);
  buf[14 + 28 + 8 + 20 + 17] ^= 0x40;
  fix_checksums(buf + 14);
  decode_checked(buf, f, &pkt);
  assert_int_equal(pkt.disposition, TA_DISP_TCP);
  assert_int_equal(pkt.checksum_bad, TA_CSUM_TCP);
  /* inner IPv4 header wrong */
  buf[14 + 28 + 8 + 8] ^= 0x01;
  fix_checksums(buf + 14);
  decode_checked(buf, f, &pkt);
  assert_malformed(&pkt, TA_MAL_IP_CHECKSUM);
}

/* ---- TCP options ---- */

static uint32_t opts(const uint8_t *o, size_t n, uint8_t flags,
                     struct ta_tcp_options *out) {
  return ta_tcp_options_parse(o, n, flags, out);
}

/* The MSS alone, as many answers and scanners send it: the MSS and its
 * kind, nothing else, as the walk over the options gives; with a wrong
 * length it is still the walk's fault to report. */
static void test_decode_opt_mss_alone(void **state) {
  (void)state;
  struct ta_tcp_options o, want;
  static const uint8_t mss[] = {2, 4, 0x05, 0xb4};
  memset(&want, 0, sizeof want);
  want.has_mss = true;
  want.mss = 1460;
  want.n_layout = 1;
  want.layout[0] = 2;
  assert_int_equal(opts(mss, sizeof mss, TA_TCP_SYN | TA_TCP_ACK, &o), 0);
  assert_memory_equal(&o, &want, sizeof o);
  static const uint8_t bad[] = {2, 3, 0x05, 0xb4};
  assert_int_equal(opts(bad, sizeof bad, TA_TCP_SYN, &o), TA_ANOM_TCP_OPT_BAD);
  assert_false(o.has_mss);
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
  assert_true(pkt->mpls_labels <= TA_MAX_MPLS_LABELS);
  assert_true(pkt->tunnel_depth <= TA_MAX_TUNNEL_DEPTH);
  assert_true(pkt->tunnel_depth == 0 || pkt->encap != 0);
  if (pkt->disposition == TA_DISP_TCP) {
    assert_true(pkt->payload_caplen <= pkt->payload_len);
    assert_true(pkt->payload >= whole);
    assert_true(pkt->payload + pkt->payload_caplen <= whole + caplen);
    assert_true(pkt->tcp_hlen >= 20 && pkt->tcp_hlen <= 60);
  }
}

/* Where the TCP header of a frame decoded as TCP starts, found from the
 * frame's own bytes; NULL for a frame through an encapsulation or an IPv6
 * extension header, whose header this does not look for. */
static const uint8_t *tcp_header_at(uint32_t link, const uint8_t *frame,
                                    const struct ta_packet *pkt) {
  if (pkt->disposition != TA_DISP_TCP || pkt->encap || pkt->tunnel_depth)
    return NULL;
  size_t off = 0;
  if (link == TA_LINK_ETHERNET)
    off = 14 + 4u * pkt->vlan_depth;
  else if (link == TA_LINK_SLL)
    off = 16;
  else if (link == TA_LINK_SLL2)
    off = 20;
  else if (link == TA_LINK_NULL || link == TA_LINK_LOOP)
    off = 4;
  const uint8_t *ip = frame + off;
  if (pkt->family == 4)
    return ip + (ip[0] & 0x0f) * 4;
  return ip[6] == 6 ? ip + 40 : NULL;
}

/* The options the general decoder gave are what the walk over them alone
 * gives, without the common layouts both decoders read at once: the
 * captured option bytes run from the header's 20th to the payload. */
static void assert_options_walked(uint32_t link, const uint8_t *frame,
                                  const struct ta_packet *pkt) {
  const uint32_t opt_anoms = TA_ANOM_TCP_OPT_BAD | TA_ANOM_TCP_OPT_AFTER_EOL |
                             TA_ANOM_TS_ECR_ON_SYN;
  const uint8_t *t = tcp_header_at(link, frame, pkt);
  if (!t)
    return;
  assert_true(pkt->payload >= t + 20);
  struct ta_tcp_options walked;
  memset(&walked, 0x5a, sizeof walked);
  uint32_t anom = ta__tcp_options_walk(t + 20, (size_t)(pkt->payload - t - 20),
                                       pkt->tcp_hlen - 20u, pkt->flags,
                                       &walked);
  assert_memory_equal(&walked, &pkt->opt, sizeof walked);
  assert_int_equal(anom, pkt->anomalies & opt_anoms);
}

/* ta_decode_frame_opts() takes a shortcut for plain TCP frames: it must
 * give the general decoder's result to the byte, and write every byte of
 * the packet (whatever was there before, 0x00 or 0xa5, is gone); and the
 * options both read must be what the plain walk over them reads. */
static void assert_same_as_general(uint32_t link, const uint8_t *frame,
                                   uint32_t caplen, uint32_t wirelen,
                                   unsigned opts) {
  struct ta_packet general, clear, dirty;
  memset(&general, 0x00, sizeof general);
  memset(&clear, 0x00, sizeof clear);
  memset(&dirty, 0xa5, sizeof dirty);
  ta__decode_frame_general(link, frame, caplen, wirelen, opts, &general);
  ta_decode_frame_opts(link, frame, caplen, wirelen, opts, &clear);
  ta_decode_frame_opts(link, frame, caplen, wirelen, opts, &dirty);
  assert_memory_equal(&clear, &general, sizeof general);
  assert_memory_equal(&dirty, &general, sizeof general);
  if (frame)
    assert_options_walked(link, frame, &general);
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
    assert_same_as_general(link, copy, (uint32_t)k, (uint32_t)n, 0);
    ta_decode_frame(link, copy, (uint32_t)k, (uint32_t)k, &pkt);
    assert_sane(&pkt, copy, k);
    assert_same_as_general(link, copy, (uint32_t)k, (uint32_t)k, 0);
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
      assert_same_as_general(TA_LINK_ETHERNET, copy, (uint32_t)n,
                             (uint32_t)n, 0);
      ta_decode_frame(TA_LINK_RAW, copy + 18, (uint32_t)(n - 18),
                      (uint32_t)(n - 18), &pkt);
      assert_sane(&pkt, copy + 18, n - 18);
      assert_same_as_general(TA_LINK_RAW, copy + 18, (uint32_t)(n - 18),
                             (uint32_t)(n - 18), 0);
    }
  }
  free(copy);
}

/* Every prefix and every byte mutated of frames through each
 * encapsulation, with and without checksum verification. */
static void test_decode_encapsulations_robust(void **state) {
  (void)state;
  uint8_t ip[BUF], frames[4][BUF];
  size_t len[4];
  struct tt_seg s = syn4();
  s.payload_len = 5;
  len[0] = tt_build_eth(frames[0], BUF, &s);
  add_mpls(frames[0], &len[0], 0x8847, 2, true);
  len[1] = tt_build_eth(frames[1], BUF, &s);
  add_pppoe(frames[1], &len[1], 0x0021);
  add_vlan(frames[1], &len[1], 0x88A8, 3);
  size_t n = tt_build_ip(ip, sizeof ip, &s);
  fix_checksums(ip);
  len[2] = gtp_frame(frames[2], ip, n);
  fix_checksums(frames[2] + 14);
  struct tt_seg t = syn_teredo();
  static const uint8_t origin[8] = {0, 0, 1, 2, 3, 4, 5, 6};
  len[3] = teredo_frame(frames[3], &t, origin, sizeof origin, 3544, 3797);
  fix_checksums(frames[3] + 14);

  static const uint8_t vals[] = {0x00, 0x01, 0x06, 0x11, 0x45, 0x60,
                                 0x7f, 0x80, 0xff};
  struct ta_packet pkt;
  for (int f = 0; f < 4; f++) {
    decode_all_prefixes(TA_LINK_ETHERNET, frames[f], len[f]);
    uint8_t *copy = malloc(len[f]);
    assert_non_null(copy);
    for (size_t i = 0; i < len[f]; i++)
      for (size_t v = 0; v < sizeof vals; v++) {
        memcpy(copy, frames[f], len[f]);
        copy[i] = vals[v];
        for (unsigned opt = 0; opt < 2; opt++) {
          ta_decode_frame_opts(TA_LINK_ETHERNET, copy, (uint32_t)len[f],
                               (uint32_t)len[f], opt, &pkt);
          assert_sane(&pkt, copy, len[f]);
          if (!opt)
            assert_int_equal(pkt.checksum_bad, 0);
          assert_same_as_general(TA_LINK_ETHERNET, copy, (uint32_t)len[f],
                                 (uint32_t)len[f], opt);
        }
      }
    free(copy);
  }
}

/* ---- the shortcut for plain TCP frames ---- */

/* Linux's SYN options: MSS, SACK permitted, TS, NOP, window scale. */
static const uint8_t linux_syn[20] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0,
                                      0x12, 0x34, 0, 0, 0, 0, 1, 3, 3, 7};
/* Windows': MSS, NOP, window scale, NOP, NOP, SACK permitted. */
/* The MSS alone, as many answers and scanners send it. */
static const uint8_t mss_alone[4] = {2, 4, 0x05, 0xb4};
static const uint8_t windows_syn[12] = {2, 4, 0x05, 0xb4, 1, 3,
                                        3, 8, 1, 1, 4, 2};
/* Linux's answer to a SYN without timestamps: MSS, NOP, NOP, SACK
 * permitted, NOP, window scale. */
static const uint8_t linux_plain[12] = {2, 4, 0x05, 0xa0, 1, 1,
                                        4, 2, 1, 3, 3, 9};
/* Every segment after the handshake with timestamps: NOP, NOP, TS. */
static const uint8_t nop_nop_ts[12] = {1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 7};

static void test_decode_common_layouts(void **state) {
  (void)state;
  struct ta_tcp_options o;
  assert_int_equal(opts(linux_syn, sizeof linux_syn, TA_TCP_SYN, &o), 0);
  assert_true(o.has_mss && o.sack_ok && o.has_ts && o.has_wscale);
  assert_int_equal(o.mss, 1460);
  assert_int_equal(o.ts_val, 0x1234);
  assert_int_equal(o.ts_ecr, 0);
  assert_int_equal(o.wscale, 7);
  assert_int_equal(o.sack_blocks, 0);
  static const uint8_t layout[] = {2, 4, 8, 1, 3};
  assert_int_equal(o.n_layout, sizeof layout);
  assert_memory_equal(o.layout, layout, sizeof layout);
  uint8_t echo[20];
  memcpy(echo, linux_syn, sizeof echo);
  echo[15] = 1; /* an echo on a bare SYN */
  assert_int_equal(opts(echo, sizeof echo, TA_TCP_SYN, &o),
                   TA_ANOM_TS_ECR_ON_SYN);
  assert_int_equal(opts(echo, sizeof echo, TA_TCP_SYN | TA_TCP_ACK, &o), 0);
  echo[17] = 4; /* a window scale of length 4 runs past the end */
  assert_int_equal(opts(echo, sizeof echo, TA_TCP_ACK, &o),
                   TA_ANOM_TCP_OPT_BAD);
  assert_false(o.has_wscale);

  static const uint8_t win_layout[] = {2, 1, 3, 1, 1, 4};
  assert_int_equal(opts(windows_syn, sizeof windows_syn, TA_TCP_SYN, &o), 0);
  assert_int_equal(o.n_layout, sizeof win_layout);
  assert_memory_equal(o.layout, win_layout, sizeof win_layout);
  assert_true(o.has_mss && o.sack_ok && o.has_wscale);
  assert_false(o.has_ts);
  assert_int_equal(o.mss, 1460);
  assert_int_equal(o.wscale, 8);
  static const uint8_t plain_layout[] = {2, 1, 1, 4, 1, 3};
  assert_int_equal(opts(linux_plain, sizeof linux_plain, TA_TCP_SYN, &o), 0);
  assert_int_equal(o.n_layout, sizeof plain_layout);
  assert_memory_equal(o.layout, plain_layout, sizeof plain_layout);
  assert_true(o.has_mss && o.sack_ok && o.has_wscale);
  assert_false(o.has_ts);
  assert_int_equal(o.mss, 1440);
  assert_int_equal(o.wscale, 9);
  uint8_t odd[12];
  memcpy(odd, linux_plain, sizeof odd);
  odd[7] = 3; /* SACK permitted of length 3: the walk finds it wrong */
  assert_int_equal(opts(odd, sizeof odd, TA_TCP_SYN, &o), TA_ANOM_TCP_OPT_BAD);
  assert_false(o.sack_ok);

  assert_int_equal(opts(nop_nop_ts, sizeof nop_nop_ts, TA_TCP_ACK, &o), 0);
  static const uint8_t ts_layout[] = {1, 1, 8};
  assert_int_equal(o.n_layout, sizeof ts_layout);
  assert_memory_equal(o.layout, ts_layout, sizeof ts_layout);
  assert_true(o.has_ts);
  assert_false(o.has_mss || o.sack_ok || o.has_wscale);
  assert_int_equal(o.ts_val, 9);
  assert_int_equal(o.ts_ecr, 7);
  assert_int_equal(opts(nop_nop_ts, sizeof nop_nop_ts, TA_TCP_SYN, &o),
                   TA_ANOM_TS_ECR_ON_SYN);
}

/* Frame f of link type link built around an IP packet ip[0..n). */
static size_t frame_around(uint32_t link, uint8_t *f, const uint8_t *ip,
                           size_t n) {
  size_t hdr = link == TA_LINK_ETHERNET ? 14 : link == TA_LINK_SLL ? 16 : 0;
  memset(f, 0, hdr);
  if (hdr)
    put16(f + hdr - 2, (ip[0] >> 4) == 6 ? 0x86DD : 0x0800);
  memcpy(f + hdr, ip, n);
  return hdr + n;
}

/* Every prefix and every byte mutated of a frame, each compared with the
 * general decoder; also with the wire length longer than the capture and
 * with bytes past the IP packet (Ethernet padding). */
static void compare_everywhere(uint32_t link, const uint8_t *frame, size_t n) {
  static const uint8_t vals[] = {0x00, 0x01, 0x02, 0x06, 0x08, 0x0a, 0x14,
                                 0x45, 0x50, 0x60, 0x86, 0xdd, 0xff};
  uint8_t *copy = malloc(n + 8);
  assert_non_null(copy);
  for (size_t k = 0; k <= n; k++) {
    memcpy(copy, frame, k);
    assert_same_as_general(link, copy, (uint32_t)k, (uint32_t)n, 0);
    assert_same_as_general(link, copy, (uint32_t)k, (uint32_t)k, 0);
    assert_same_as_general(link, copy, (uint32_t)k, (uint32_t)k + 6, 0);
  }
  assert_same_as_general(link, NULL, (uint32_t)n, (uint32_t)n, 0);
  memcpy(copy, frame, n);
  memset(copy + n, 0, 8);
  assert_same_as_general(link, copy, (uint32_t)n + 8, (uint32_t)n + 8, 0);
  for (size_t i = 0; i < n; i++)
    for (size_t v = 0; v < sizeof vals; v++) {
      memcpy(copy, frame, n);
      copy[i] = vals[v];
      assert_same_as_general(link, copy, (uint32_t)n, (uint32_t)n, 0);
      assert_same_as_general(link, copy, (uint32_t)n, (uint32_t)n,
                             TA_DECODE_VERIFY_CHECKSUMS);
    }
  free(copy);
}

/* Option blocks around the common layouts: near misses of each, and
 * what the walk must judge (SACK blocks, EOL in the middle with and
 * without data after it, lengths 0, 1, wrong for the kind or running past
 * the header, unknown kinds, 40 bytes of NOPs). */
static const uint8_t sack_one[12] = {1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 9};
static const uint8_t ts_sack[24] = {1, 1, 8, 10, 0, 0, 1, 0, 0, 0, 2, 0,
                                    1, 1, 5, 10, 0, 0, 3, 0, 0, 0, 4, 0};
static const uint8_t eol_middle[8] = {2, 4, 0x05, 0xb4, 0, 0, 0, 0};
static const uint8_t eol_then_data[8] = {2, 4, 0x05, 0xb4, 0, 0, 7, 0};
static const uint8_t len_zero[12] = {1, 1, 8, 0, 0, 0, 0, 9, 0, 0, 0, 7};
static const uint8_t len_one[4] = {2, 1, 0x05, 0xb4};
static const uint8_t ts_len_nine[12] = {1, 1, 8, 9, 0, 0, 0, 9, 0, 0, 0, 7};
static const uint8_t ts_past_end[12] = {1, 1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0};
static const uint8_t mss_len_five[4] = {2, 5, 0x05, 0xb4};
static const uint8_t unknown_kind[8] = {1, 1, 30, 4, 0xaa, 0xbb, 1, 0};
static const uint8_t ws_then_mss[12] = {1, 3, 3, 7, 2, 4, 0x05, 0xb4,
                                        1, 1, 4, 2};
static const uint8_t linux_syn_echo[20] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10,
                                           0, 0, 0x12, 0x34, 0, 0, 0, 5,
                                           1, 3, 3, 7};
static const uint8_t all_nops[40] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                     1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                     1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                     1, 1, 1, 1, 1, 1, 1, 1, 1, 1};

/* Every option block these tests know, with the flags it is sent with. */
static const struct option_shape {
  const uint8_t *opts;
  size_t len;
  uint8_t flags;
} option_shapes[] = {
    {NULL, 0, TA_TCP_ACK},
    {nop_nop_ts, sizeof nop_nop_ts, TA_TCP_ACK | TA_TCP_PSH},
    {nop_nop_ts, sizeof nop_nop_ts, TA_TCP_SYN},
    {linux_syn, sizeof linux_syn, TA_TCP_SYN},
    {linux_syn, sizeof linux_syn, TA_TCP_SYN | TA_TCP_ACK},
    {linux_syn_echo, sizeof linux_syn_echo, TA_TCP_SYN},
    {windows_syn, sizeof windows_syn, TA_TCP_SYN},
    {linux_plain, sizeof linux_plain, TA_TCP_SYN | TA_TCP_ACK},
    {mss_alone, sizeof mss_alone, TA_TCP_SYN | TA_TCP_ACK},
    {syn_opts, sizeof syn_opts, TA_TCP_SYN | TA_TCP_ECE | TA_TCP_CWR},
    {NULL, 0, TA_TCP_ACK | TA_TCP_URG | TA_TCP_FIN},
    {sack_one, sizeof sack_one, TA_TCP_ACK},
    {ts_sack, sizeof ts_sack, TA_TCP_ACK},
    {eol_middle, sizeof eol_middle, TA_TCP_SYN},
    {eol_then_data, sizeof eol_then_data, TA_TCP_SYN},
    {len_zero, sizeof len_zero, TA_TCP_ACK},
    {len_one, sizeof len_one, TA_TCP_SYN},
    {ts_len_nine, sizeof ts_len_nine, TA_TCP_ACK},
    {ts_past_end, sizeof ts_past_end, TA_TCP_ACK},
    {mss_len_five, sizeof mss_len_five, TA_TCP_SYN},
    {unknown_kind, sizeof unknown_kind, TA_TCP_ACK},
    {ws_then_mss, sizeof ws_then_mss, TA_TCP_SYN},
    {all_nops, sizeof all_nops, TA_TCP_ACK | TA_TCP_RST},
};

/* The common layouts ta_tcp_options_parse() reads at once give what the
 * walk gives, for every option block above, every prefix of it, and every
 * byte of it set to values that make kinds, lengths and near misses. */
static void assert_parse_is_walk(const uint8_t *o, size_t n, uint8_t flags) {
  struct ta_tcp_options parsed, walked;
  memset(&parsed, 0xa5, sizeof parsed);
  memset(&walked, 0x5a, sizeof walked);
  uint32_t a = ta_tcp_options_parse(o, n, flags, &parsed);
  uint32_t b = ta__tcp_options_walk(o, n, n, flags, &walked);
  assert_int_equal(a, b);
  assert_memory_equal(&parsed, &walked, sizeof parsed);
}

static void test_decode_layouts_match_walk(void **state) {
  (void)state;
  static const uint8_t vals[] = {0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 0x80, 0xff};
  static const uint8_t flag_sets[] = {TA_TCP_SYN, TA_TCP_SYN | TA_TCP_ACK,
                                      TA_TCP_ACK};
  uint8_t copy[40];
  for (size_t i = 0; i < sizeof option_shapes / sizeof option_shapes[0]; i++) {
    const struct option_shape *sh = &option_shapes[i];
    for (size_t f = 0; f < sizeof flag_sets; f++) {
      for (size_t k = 0; k <= sh->len; k++) {
        uint8_t *exact = malloc(k ? k : 1); /* reads past k are caught */
        assert_non_null(exact);
        if (k)
          memcpy(exact, sh->opts, k);
        assert_parse_is_walk(exact, k, flag_sets[f]);
        free(exact);
      }
      for (size_t b = 0; b < sh->len; b++)
        for (size_t v = 0; v < sizeof vals; v++) {
          memcpy(copy, sh->opts, sh->len);
          copy[b] = vals[v];
          assert_parse_is_walk(copy, sh->len, flag_sets[f]);
        }
    }
  }
}

/* Frames the shortcut must leave to the general path, or take with care:
 * IPv4 options, fragments, reserved bits, an urgent pointer with and
 * without URG, a TCP header cut by the snaplen inside its options, and
 * VLAN tags; each compared everywhere as above. */
static void test_decode_shortcut_odd_frames(void **state) {
  (void)state;
  uint8_t ip[BUF], frame[BUF];
  struct tt_seg s = syn4();
  s.opts = nop_nop_ts;
  s.optlen = sizeof nop_nop_ts;
  s.flags = TA_TCP_ACK;
  s.ack = 5;
  s.payload_len = 6;
  size_t n = tt_build_ip(ip, sizeof ip, &s);

  uint8_t *o = insert_gap(ip, &n, 20, 4); /* IP options: NOP x3, EOL */
  o[0] = o[1] = o[2] = 1;
  o[3] = 0;
  ip[0] = 0x46;
  put16(ip + 2, (uint16_t)n);
  compare_everywhere(TA_LINK_ETHERNET,
                     frame, frame_around(TA_LINK_ETHERNET, frame, ip, n));
  memmove(ip + 20, ip + 24, n - 24); /* and back without them */
  n -= 4;
  ip[0] = 0x45;
  put16(ip + 2, (uint16_t)n);

  static const uint16_t frag_fields[] = {0x2000, 0x0001, 0x6000, 0x4000,
                                         0x8000};
  for (size_t i = 0; i < sizeof frag_fields / sizeof frag_fields[0]; i++) {
    put16(ip + 6, frag_fields[i]); /* MF, an offset, DF with either, evil */
    compare_everywhere(TA_LINK_RAW, ip, n);
  }
  put16(ip + 6, 0x4000);

  static const struct {
    uint8_t off_byte, flags;
    uint16_t urg;
  } tcp_odd[] = {{0x81, TA_TCP_ACK, 0},        /* AE (was NS) */
                 {0x88, TA_TCP_ACK, 0},        /* a reserved bit */
                 {0x80, TA_TCP_ACK, 0x0100},   /* urgent pointer, no URG */
                 {0x80, TA_TCP_ACK | TA_TCP_URG, 1},
                 {0x80, TA_TCP_ACK | TA_TCP_URG, 0}};
  for (size_t i = 0; i < sizeof tcp_odd / sizeof tcp_odd[0]; i++) {
    uint8_t odd[BUF];
    memcpy(odd, ip, n);
    odd[20 + 12] = tcp_odd[i].off_byte;
    odd[20 + 13] = tcp_odd[i].flags;
    put16(odd + 20 + 18, tcp_odd[i].urg);
    compare_everywhere(TA_LINK_RAW, odd, n);
  }

  /* Cut inside the options by the snaplen, the rest on the wire. */
  for (uint32_t cap = 20 + 20; cap <= 20 + 32; cap++)
    assert_same_as_general(TA_LINK_RAW, ip, cap, (uint32_t)n, 0);

  size_t fn = frame_around(TA_LINK_ETHERNET, frame, ip, n);
  add_vlan(frame, &fn, 0x8100, 7);
  compare_everywhere(TA_LINK_ETHERNET, frame, fn);
  add_vlan(frame, &fn, 0x88A8, 8);
  compare_everywhere(TA_LINK_ETHERNET, frame, fn);
}

static void test_decode_shortcut_matches_general(void **state) {
  (void)state;
  static const uint32_t links[] = {TA_LINK_ETHERNET, TA_LINK_SLL, TA_LINK_RAW,
                                   TA_LINK_RAW_BSD, TA_LINK_IPV4, TA_LINK_NULL};
  const struct option_shape *shapes = option_shapes;
  const size_t n_shapes = sizeof option_shapes / sizeof option_shapes[0];
  uint8_t ip[BUF], frame[BUF];
  for (size_t sh = 0; sh < n_shapes; sh++)
    for (int v6 = 0; v6 < 2; v6++) {
      struct tt_seg s = v6 ? syn6() : syn4();
      s.opts = shapes[sh].opts;
      s.optlen = shapes[sh].len;
      s.flags = shapes[sh].flags;
      s.ack = 77;
      s.payload_len = sh % 2 ? 9 : 0;
      size_t n = tt_build_ip(ip, sizeof ip, &s);
      if (s.flags & TA_TCP_URG)
        put16(ip + (v6 ? 40 : 20) + 18, 3);
      for (size_t l = 0; l < sizeof links / sizeof links[0]; l++) {
        size_t fn = frame_around(links[l], frame, ip, n);
        compare_everywhere(links[l], frame, fn);
      }
    }
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
      cmocka_unit_test(test_decode_mpls),
      cmocka_unit_test(test_decode_mpls_malformed),
      cmocka_unit_test(test_decode_pppoe),
      cmocka_unit_test(test_decode_pppoe_not_ip_and_short),
      cmocka_unit_test(test_decode_gtp_u),
      cmocka_unit_test(test_decode_gtp_not_user_data),
      cmocka_unit_test(test_decode_gtp_bad_lengths),
      cmocka_unit_test(test_decode_tunnel_too_deep),
      cmocka_unit_test(test_decode_teredo),
      cmocka_unit_test(test_decode_teredo_rejected),
      cmocka_unit_test(test_decode_checksum_known_header),
      cmocka_unit_test(test_decode_checksum_tcp),
      cmocka_unit_test(test_decode_checksum_in_tunnels),
      cmocka_unit_test(test_decode_opt_mss_alone),
      cmocka_unit_test(test_decode_opt_len_zero_and_one),
      cmocka_unit_test(test_decode_opt_overlong),
      cmocka_unit_test(test_decode_opt_wrong_length_skipped),
      cmocka_unit_test(test_decode_opt_after_eol),
      cmocka_unit_test(test_decode_opt_sack_unknown_and_ts_ecr),
      cmocka_unit_test(test_decode_opt_layout_capped),
      cmocka_unit_test(test_decode_names),
      cmocka_unit_test(test_decode_every_prefix),
      cmocka_unit_test(test_decode_every_byte_mutated),
      cmocka_unit_test(test_decode_encapsulations_robust),
      cmocka_unit_test(test_decode_common_layouts),
      cmocka_unit_test(test_decode_shortcut_matches_general),
      cmocka_unit_test(test_decode_layouts_match_walk),
      cmocka_unit_test(test_decode_shortcut_odd_frames),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
