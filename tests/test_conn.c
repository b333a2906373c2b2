/* tcpaudit - tests: the connection tracker (lib/conn.c).
 * Every packet is built as real bytes and decoded, then handed to the
 * tracker the way the flow table does it: is_new_attempt, finalize and init
 * on reuse, update otherwise, finalize at the end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <stdlib.h>

#include "ta_conn.h"
#include "ta_packet.h"
#include "ta_reader.h"
#include "ta_report.h"
#include "ta_test_util.h"

#define CLIENT "192.168.2.10"
#define SERVER "192.168.2.165"
#define CPORT 1029
#define SPORT 23
#define MAX_DONE 8

static const uint8_t OPT_MSS_SACK[] = {2, 4, 0x05, 0xb4, 1, 1, 4, 2};

/* One tuple's worth of flow table. */
struct sim {
  struct ta_conn cur;
  bool have;
  struct ta_conn done[MAX_DONE];
  int ndone;
  uint64_t next_id;
  /* per-packet extras for the next send() */
  const uint8_t *opts;
  size_t optlen;
  uint8_t ttl;
  bool df;
};

static struct sim *sim_new(void) {
  struct sim *s = test_calloc(1, sizeof *s);
  return s;
}

static void sim_packet(struct sim *s, const struct ta_packet *p) {
  if (s->have && ta_conn_is_new_attempt(&s->cur, p)) {
    ta_conn_finalize(&s->cur, TA_END_REUSED);
    assert_true(s->ndone < MAX_DONE);
    s->done[s->ndone++] = s->cur;
    s->have = false;
  }
  if (!s->have) {
    ta_conn_init(&s->cur, s->next_id++, p);
    s->have = true;
  }
  ta_conn_update(&s->cur, p);
}

/* Ends the capture: the record still held is finalized. */
static void sim_end(struct sim *s, enum ta_end_reason why) {
  if (s->have) {
    ta_conn_finalize(&s->cur, why);
    s->done[s->ndone++] = s->cur;
    s->have = false;
  }
}

/* Sends one segment at clock time t ("HH:MM:SS.ffffff"). */
static void send_seg(struct sim *s, const char *t, bool from_client, uint8_t flags,
                     uint32_t seq, uint32_t ack, uint16_t win, uint32_t len) {
  struct tt_seg g = {
      .src = from_client ? CLIENT : SERVER,
      .dst = from_client ? SERVER : CLIENT,
      .sport = from_client ? CPORT : SPORT,
      .dport = from_client ? SPORT : CPORT,
      .seq = seq,
      .ack = ack,
      .flags = flags,
      .win = win,
      .opts = s->opts,
      .optlen = s->optlen,
      .payload_len = len,
      .ttl = s->ttl,
      .df = s->df,
  };
  uint8_t buf[2048];
  size_t n = tt_build_ip(buf, sizeof buf, &g);
  assert_true(n > 0);
  struct ta_packet p;
  ta_decode_frame(TA_LINK_RAW, buf, (uint32_t)n, (uint32_t)n, &p);
  assert_int_equal(p.disposition, TA_DISP_TCP);
  p.ts_ns = tt_clock_ns(t);
  sim_packet(s, &p);
  s->opts = NULL;
  s->optlen = 0;
  s->ttl = 0;
  s->df = false;
}

#define C true  /* from the client */
#define S false /* from the server */
enum {
  F_ = TA_TCP_FIN,
  S_ = TA_TCP_SYN,
  R_ = TA_TCP_RST,
  P_ = TA_TCP_PSH,
  A_ = TA_TCP_ACK,
};

static void assert_history(const struct ta_conn *c, const char *want) {
  if (strcmp(c->history, want) != 0)
    print_error("history %s, want %s\n", c->history, want);
  assert_string_equal(c->history, want);
}

/* The standard handshake of these tests: client ISN 1000, server ISN 5000. */
static void handshake(struct sim *s, const char *t1, const char *t2, const char *t3) {
  send_seg(s, t1, C, S_, 1000, 0, 16384, 0);
  send_seg(s, t2, S, S_ | A_, 5000, 1001, 32120, 0);
  send_seg(s, t3, C, A_, 1001, 5001, 17520, 0);
}

/* ------------------------------------------------------------------------ */
/* The four exchanges of the article */

static void test_conn_article_completed(void **state) {
  (void)state;
  struct sim *s = sim_new();
  s->opts = OPT_MSS_SACK, s->optlen = sizeof OPT_MSS_SACK, s->df = true;
  send_seg(s, "20:06:32.845356", C, S_, 3263977215u, 0, 16384, 0);
  s->opts = OPT_MSS_SACK, s->optlen = sizeof OPT_MSS_SACK, s->df = true;
  send_seg(s, "20:06:32.845725", S, S_ | A_, 48495364, 3263977216u, 32120, 0);
  send_seg(s, "20:06:32.845921", C, A_, 3263977216u, 48495365, 17520, 0);
  send_seg(s, "20:06:33.010000", C, P_ | A_, 3263977216u, 48495365, 17520, 55);
  send_seg(s, "20:06:33.110000", S, P_ | A_, 48495365, 3263977271u, 32120, 146);
  send_seg(s, "20:06:33.300000", C, A_, 3263977271u, 48495511, 17374, 0);
  send_seg(s, "20:07:32.916410", S, F_ | A_, 48495511, 3263977271u, 32120, 0);
  send_seg(s, "20:07:32.916680", C, A_, 3263977271u, 48495512, 17374, 0);
  send_seg(s, "20:07:32.928907", C, F_ | A_, 3263977271u, 48495512, 17374, 0);
  assert_true(s->cur.closed);
  send_seg(s, "20:07:32.929121", S, A_, 48495512, 3263977272u, 32120, 0);
  sim_end(s, TA_END_CAPTURE_END);

  assert_int_equal(s->ndone, 1);
  const struct ta_conn *c = &s->done[0];
  assert_int_equal(c->scenario, TA_SC_COMPLETED);
  assert_int_equal(c->conn_state, TA_CS_SF);
  assert_history(c, "ShADdfFa");
  assert_true(c->syn_seen);
  assert_int_equal(c->syn_count, 1);
  assert_int_equal(c->answered_by, TA_ANSWER_SYNACK);
  assert_true(c->established_ts != 0);
  assert_int_equal(c->synack_ts - c->first_syn_ts, 369000);
  assert_int_equal(c->established_ts - c->synack_ts, 196000);
  assert_int_equal(c->close_initiator, 1 + TA_DIR_RESP);
  assert_int_equal(c->close_how, TA_CLOSE_FIN);
  assert_int_equal(c->payload_before_close[TA_DIR_ORIG], 55);
  assert_int_equal(c->payload_before_close[TA_DIR_RESP], 146);
  assert_int_equal(c->side[TA_DIR_ORIG].port, CPORT);
  assert_int_equal(c->side[TA_DIR_RESP].port, SPORT);
  assert_int_equal(c->side[TA_DIR_ORIG].pkts, 6);
  assert_int_equal(c->side[TA_DIR_RESP].pkts, 4);
  assert_int_equal(c->side[TA_DIR_ORIG].payload_bytes, 55);
  assert_int_equal(c->side[TA_DIR_RESP].payload_bytes, 146);
  assert_int_equal(c->side[TA_DIR_ORIG].retransmits, 0);
  assert_int_equal(c->side[TA_DIR_RESP].retransmits, 0);
  /* both SYNs' options */
  for (int d = 0; d < 2; d++) {
    const struct ta_syn_features *f = &c->side[d].syn;
    assert_true(f->seen);
    assert_true(f->df);
    assert_true(f->opt.has_mss);
    assert_int_equal(f->opt.mss, 1460);
    assert_true(f->opt.sack_ok);
    assert_false(f->opt.has_wscale);
    assert_false(f->opt.has_ts);
  }
  assert_int_equal(c->side[TA_DIR_ORIG].syn.window, 16384);
  assert_int_equal(c->side[TA_DIR_RESP].syn.window, 32120);
  assert_int_equal(c->end_reason, TA_END_CAPTURE_END);
  test_free(s);
}

static void test_conn_article_refused(void **state) {
  (void)state;
  struct sim *s = sim_new();
  const char *syn_t[3] = {"05:28:00.080798", "05:28:00.579420", "05:28:01.080114"};
  const char *rst_t[3] = {"05:28:00.080903", "05:28:00.579528", "05:28:01.080221"};
  for (int i = 0; i < 3; i++) {
    s->opts = OPT_MSS_SACK, s->optlen = sizeof OPT_MSS_SACK;
    send_seg(s, syn_t[i], C, S_, 3034008467u, 0, 16384, 0);
    send_seg(s, rst_t[i], S, R_ | A_, 0, 3034008468u, 0, 0);
    assert_true(s->cur.closed);
  }
  sim_end(s, TA_END_CLOSED);

  assert_int_equal(s->ndone, 1);
  const struct ta_conn *c = &s->done[0];
  assert_int_equal(c->scenario, TA_SC_REFUSED);
  assert_int_equal(c->conn_state, TA_CS_REJ);
  assert_history(c, "Sr");
  assert_int_equal(c->syn_count, 3);
  assert_int_equal(c->n_syn_intervals, 2);
  assert_int_equal(c->syn_intervals_ns[0], 498622000);
  assert_int_equal(c->syn_intervals_ns[1], 500694000);
  assert_int_equal(c->answered_by, TA_ANSWER_RST);
  assert_int_equal(c->established_ts, 0);
  assert_int_equal(c->side[TA_DIR_ORIG].pkts, 3);
  assert_int_equal(c->side[TA_DIR_RESP].pkts, 3);
  /* the RST/ACKs advertise window 0, which is no zero-window event */
  assert_int_equal(c->side[TA_DIR_RESP].zero_windows, 0);
  test_free(s);
}

static void test_conn_article_accepted_then_closed(void **state) {
  (void)state;
  struct sim *s = sim_new();
  handshake(s, "05:40:39.838710", "05:40:39.839045", "05:40:39.839295");
  send_seg(s, "05:40:44.852844", S, F_ | A_, 5001, 1001, 32120, 0);
  send_seg(s, "05:40:44.853100", C, A_, 1001, 5002, 17520, 0);
  send_seg(s, "05:40:44.853400", C, F_ | A_, 1001, 5002, 17520, 0);
  send_seg(s, "05:40:44.853700", S, A_, 5002, 1002, 32120, 0);
  sim_end(s, TA_END_CLOSED);

  assert_int_equal(s->ndone, 1);
  const struct ta_conn *c = &s->done[0];
  assert_int_equal(c->scenario, TA_SC_ACCEPTED_THEN_CLOSED);
  assert_int_equal(c->close_initiator, 1 + TA_DIR_RESP);
  assert_int_equal(c->close_how, TA_CLOSE_FIN);
  assert_int_equal(c->close_ts - c->established_ts, 5013549000LL);
  assert_int_equal(c->payload_before_close[TA_DIR_RESP], 0);
  assert_int_equal(c->conn_state, TA_CS_SF);
  assert_history(c, "ShAfFa");
  test_free(s);
}

static void test_conn_article_unanswered(void **state) {
  (void)state;
  struct sim *s = sim_new();
  send_seg(s, "05:55:21.557846", C, S_, 3443876657u, 0, 16384, 0);
  send_seg(s, "05:55:24.560891", C, S_, 3443876657u, 0, 16384, 0);
  send_seg(s, "05:55:30.569584", C, S_, 3443876657u, 0, 16384, 0);
  sim_end(s, TA_END_IDLE);

  assert_int_equal(s->ndone, 1);
  const struct ta_conn *c = &s->done[0];
  assert_int_equal(c->scenario, TA_SC_UNANSWERED);
  assert_int_equal(c->conn_state, TA_CS_S0);
  assert_history(c, "S");
  assert_int_equal(c->syn_count, 3);
  assert_int_equal(c->n_syn_intervals, 2);
  assert_int_equal(c->syn_intervals_ns[0], 3003045000LL);
  assert_int_equal(c->syn_intervals_ns[1], 6008693000LL);
  assert_int_equal(c->answered_by, TA_ANSWER_NONE);
  assert_false(c->closed);
  /* two of the three SYNs repeat the first */
  assert_int_equal(c->side[TA_DIR_ORIG].retransmits, 2);
  test_free(s);
}

/* ------------------------------------------------------------------------ */
/* The other scenarios */

static void test_conn_reset(void **state) {
  (void)state;
  struct sim *s = sim_new();
  handshake(s, "10:00:00.000000", "10:00:00.000100", "10:00:00.000200");
  send_seg(s, "10:00:00.010000", C, P_ | A_, 1001, 5001, 17520, 20);
  send_seg(s, "10:00:00.020000", S, P_ | A_, 5001, 1021, 32120, 30);
  send_seg(s, "10:00:00.030000", C, R_ | A_, 1021, 5031, 0, 0);
  assert_true(s->cur.closed);
  sim_end(s, TA_END_CLOSED);

  const struct ta_conn *c = &s->done[0];
  assert_int_equal(c->scenario, TA_SC_RESET);
  assert_int_equal(c->conn_state, TA_CS_RSTO);
  assert_history(c, "ShADdR");
  assert_int_equal(c->close_initiator, 1 + TA_DIR_ORIG);
  assert_int_equal(c->close_how, TA_CLOSE_RST);
  assert_int_equal(c->payload_before_close[TA_DIR_ORIG], 20);
  assert_int_equal(c->payload_before_close[TA_DIR_RESP], 30);
  test_free(s);
}

static void test_conn_rst_after_own_fin_closes(void **state) {
  (void)state;
  struct sim *s = sim_new();
  handshake(s, "10:00:00.000000", "10:00:00.000100", "10:00:00.000200");
  send_seg(s, "10:00:00.010000", C, P_ | A_, 1001, 5001, 17520, 20);
  send_seg(s, "10:00:00.020000", S, P_ | A_, 5001, 1021, 32120, 30);
  send_seg(s, "10:00:00.030000", C, F_ | A_, 1021, 5031, 17520, 0);
  assert_false(s->cur.closed);
  send_seg(s, "10:00:00.030100", C, R_ | A_, 1022, 5031, 0, 0);
  assert_true(s->cur.closed);
  sim_end(s, TA_END_CLOSED);

  const struct ta_conn *c = &s->done[0];
  assert_int_equal(c->scenario, TA_SC_RESET);
  assert_int_equal(c->conn_state, TA_CS_RSTO);
  assert_history(c, "ShADdFR");
  assert_int_equal(c->close_how, TA_CLOSE_FIN);
  test_free(s);
}

static void test_conn_reset_by_responder_without_payload(void **state) {
  (void)state;
  struct sim *s = sim_new();
  handshake(s, "10:00:00.000000", "10:00:00.000100", "10:00:00.000200");
  send_seg(s, "10:00:00.010000", C, P_ | A_, 1001, 5001, 17520, 20);
  send_seg(s, "10:00:00.020000", S, R_ | A_, 5001, 1021, 0, 0);
  sim_end(s, TA_END_CLOSED);

  const struct ta_conn *c = &s->done[0];
  /* the mark of an access control after accept */
  assert_int_equal(c->scenario, TA_SC_ACCEPTED_THEN_CLOSED);
  assert_int_equal(c->conn_state, TA_CS_RSTR);
  assert_history(c, "ShADr");
  test_free(s);
}

static void test_conn_half_closed(void **state) {
  (void)state;
  struct sim *s = sim_new();
  handshake(s, "10:00:00.000000", "10:00:00.000100", "10:00:00.000200");
  send_seg(s, "10:00:00.010000", C, P_ | A_, 1001, 5001, 17520, 40);
  send_seg(s, "10:00:00.010100", S, A_, 5001, 1041, 32120, 0);
  send_seg(s, "10:00:00.020000", C, F_ | A_, 1041, 5001, 17520, 0);
  send_seg(s, "10:00:00.020100", S, A_, 5001, 1042, 32120, 0);
  assert_false(s->cur.closed);
  sim_end(s, TA_END_CAPTURE_END);

  const struct ta_conn *c = &s->done[0];
  assert_int_equal(c->scenario, TA_SC_HALF_CLOSED);
  assert_int_equal(c->conn_state, TA_CS_S2);
  assert_history(c, "ShADaF");
  assert_int_equal(c->close_initiator, 1 + TA_DIR_ORIG);
  test_free(s);
}

static void test_conn_open(void **state) {
  (void)state;
  struct sim *s = sim_new();
  handshake(s, "10:00:00.000000", "10:00:00.000100", "10:00:00.000200");
  send_seg(s, "10:00:00.010000", C, P_ | A_, 1001, 5001, 17520, 12);
  send_seg(s, "10:00:00.020000", S, P_ | A_, 5001, 1013, 32120, 14);
  send_seg(s, "10:00:00.030000", C, A_, 1013, 5015, 17520, 0);
  sim_end(s, TA_END_CAPTURE_END);

  const struct ta_conn *c = &s->done[0];
  assert_int_equal(c->scenario, TA_SC_OPEN);
  assert_int_equal(c->conn_state, TA_CS_S1);
  assert_history(c, "ShADd");
  assert_int_equal(c->close_how, TA_CLOSE_NONE);
  assert_false(c->closed);
  test_free(s);
}

static void test_conn_handshake_incomplete(void **state) {
  (void)state;
  struct sim *s = sim_new();
  send_seg(s, "10:00:00.000000", C, S_, 1000, 0, 16384, 0);
  send_seg(s, "10:00:00.000100", S, S_ | A_, 5000, 1001, 32120, 0);
  send_seg(s, "10:00:01.000100", S, S_ | A_, 5000, 1001, 32120, 0);
  sim_end(s, TA_END_IDLE);

  assert_int_equal(s->ndone, 1);
  const struct ta_conn *c = &s->done[0];
  assert_int_equal(c->scenario, TA_SC_HANDSHAKE_INCOMPLETE);
  /* Zeek: the SYN/ACK makes both endpoints established */
  assert_int_equal(c->conn_state, TA_CS_S1);
  assert_history(c, "Sh");
  assert_int_equal(c->synack_count, 2);
  assert_int_equal(c->side[TA_DIR_RESP].retransmits, 1);
  test_free(s);
}

static void test_conn_half_open_scan(void **state) {
  (void)state;
  struct sim *s = sim_new();
  send_seg(s, "10:00:00.000000", C, S_, 1000, 0, 1024, 0);
  send_seg(s, "10:00:00.000100", S, S_ | A_, 5000, 1001, 32120, 0);
  send_seg(s, "10:00:00.000200", C, R_, 1001, 0, 0, 0);
  sim_end(s, TA_END_CLOSED);

  const struct ta_conn *c = &s->done[0];
  assert_int_equal(c->scenario, TA_SC_OTHER);
  assert_non_null(c->other_reason);
  assert_int_equal(c->conn_state, TA_CS_RSTO);
  assert_history(c, "ShR");
  test_free(s);
}

static void test_conn_midstream(void **state) {
  (void)state;
  struct sim *s = sim_new();
  send_seg(s, "10:00:00.000000", C, P_ | A_, 7000, 9000, 17520, 30);
  send_seg(s, "10:00:00.010000", S, P_ | A_, 9000, 7030, 32120, 60);
  send_seg(s, "10:00:00.020000", C, A_, 7030, 9060, 17520, 0);
  sim_end(s, TA_END_CAPTURE_END);

  const struct ta_conn *c = &s->done[0];
  assert_int_equal(c->scenario, TA_SC_MIDSTREAM);
  assert_int_equal(c->conn_state, TA_CS_OTH);
  assert_history(c, "DdA");
  assert_false(c->syn_seen);
  assert_true(c->roles_guessed);
  assert_int_equal(c->side[TA_DIR_ORIG].port, CPORT);
  test_free(s);
}

static void test_conn_only_bad_checksums_is_other(void **state) {
  (void)state;
  /* IPv6, so that only the TCP checksum (left zero) is wrong */
  struct tt_seg g = {.src = "2001:db8::1", .dst = "2001:db8::2",
                     .sport = 1234, .dport = 80, .seq = 1,
                     .flags = TA_TCP_SYN, .win = 1024};
  uint8_t buf[256];
  size_t n = tt_build_ip(buf, sizeof buf, &g);
  struct ta_packet p;
  ta_decode_frame_opts(TA_LINK_RAW, buf, (uint32_t)n, (uint32_t)n,
                       TA_DECODE_VERIFY_CHECKSUMS, &p);
  assert_int_equal(p.disposition, TA_DISP_TCP);
  assert_true(p.checksum_bad & TA_CSUM_TCP);
  p.ts_ns = tt_clock_ns("10:00:00.000000");
  struct ta_conn c;
  ta_conn_init(&c, 1, &p);
  ta_conn_update(&c, &p);
  ta_conn_finalize(&c, TA_END_CAPTURE_END);
  assert_int_equal(c.scenario, TA_SC_OTHER);
  assert_string_equal(c.other_reason, "only segments with bad checksums");
  assert_int_equal(c.conn_state, TA_CS_OTH);
  assert_int_equal(c.history_len, 1);
  assert_int_equal(c.history[0], 'C');
}

static void test_conn_midstream_server_first_flips(void **state) {
  (void)state;
  struct sim *s = sim_new();
  /* the first packet comes from port 23: the receiver is the client */
  send_seg(s, "10:00:00.000000", S, P_ | A_, 9000, 7000, 32120, 60);
  send_seg(s, "10:00:00.010000", C, A_, 7000, 9060, 17520, 0);
  send_seg(s, "10:00:00.020000", S, F_ | A_, 9060, 7000, 32120, 0);
  send_seg(s, "10:00:00.030000", C, F_ | A_, 7000, 9061, 17520, 0);
  send_seg(s, "10:00:00.040000", S, A_, 9061, 7001, 32120, 0);
  sim_end(s, TA_END_CLOSED);

  const struct ta_conn *c = &s->done[0];
  assert_int_equal(c->side[TA_DIR_ORIG].port, CPORT);
  assert_int_equal(c->side[TA_DIR_RESP].port, SPORT);
  assert_true(c->history_flipped);
  assert_history(c, "^dAfFa");
  assert_int_equal(c->conn_state, TA_CS_SF);
  assert_int_equal(c->scenario, TA_SC_MIDSTREAM);
  test_free(s);
}

static void test_conn_synack_first_flips_on_ack(void **state) {
  (void)state;
  struct sim *s = sim_new();
  /* the SYN was not captured; the client's ACK shows who is who */
  send_seg(s, "10:00:00.000100", S, S_ | A_, 5000, 1001, 32120, 0);
  send_seg(s, "10:00:00.000200", C, A_, 1001, 5001, 17520, 0);
  send_seg(s, "10:00:00.010000", C, P_ | A_, 1001, 5001, 17520, 10);
  send_seg(s, "10:00:00.020000", S, P_ | A_, 5001, 1011, 32120, 10);
  sim_end(s, TA_END_CAPTURE_END);

  const struct ta_conn *c = &s->done[0];
  assert_int_equal(c->side[TA_DIR_ORIG].port, CPORT);
  assert_history(c, "^hADd");
  assert_int_equal(c->conn_state, TA_CS_S1);
  assert_int_equal(c->scenario, TA_SC_MIDSTREAM);
  assert_int_equal(c->side[TA_DIR_ORIG].pkts, 2);
  assert_int_equal(c->side[TA_DIR_RESP].pkts, 2);
  assert_true(c->side[TA_DIR_RESP].syn.seen);
  test_free(s);
}

static void test_conn_synack_before_syn(void **state) {
  (void)state;
  struct sim *s = sim_new();
  /* two capture interfaces delivered the SYN/ACK before its SYN */
  send_seg(s, "10:00:00.000100", S, S_ | A_, 5000, 1001, 32120, 0);
  send_seg(s, "10:00:00.000050", C, S_, 1000, 0, 16384, 0);
  send_seg(s, "10:00:00.000200", C, A_, 1001, 5001, 17520, 0);
  send_seg(s, "10:00:00.010000", C, P_ | A_, 1001, 5001, 17520, 10);
  sim_end(s, TA_END_CAPTURE_END);

  assert_int_equal(s->ndone, 1);
  const struct ta_conn *c = &s->done[0];
  assert_int_equal(c->side[TA_DIR_ORIG].port, CPORT);
  assert_history(c, "Hs^AD");
  assert_int_equal(c->conn_state, TA_CS_S1);
  assert_true(c->syn_seen);
  assert_int_equal(c->scenario, TA_SC_OPEN);
  test_free(s);
}

static void test_conn_lone_synack_uses_ports(void **state) {
  (void)state;
  struct sim *s = sim_new();
  send_seg(s, "10:00:00.000100", S, S_ | A_, 5000, 1001, 32120, 0);
  sim_end(s, TA_END_IDLE);

  const struct ta_conn *c = &s->done[0];
  assert_int_equal(c->side[TA_DIR_ORIG].port, CPORT);
  assert_history(c, "^h");
  assert_int_equal(c->conn_state, TA_CS_OTH);
  test_free(s);
}

static void test_conn_syn_then_rst_is_rstos0(void **state) {
  (void)state;
  struct sim *s = sim_new();
  send_seg(s, "10:00:00.000000", C, S_, 1000, 0, 16384, 0);
  send_seg(s, "10:00:00.000300", C, R_, 1001, 0, 0, 0);
  sim_end(s, TA_END_CLOSED);

  const struct ta_conn *c = &s->done[0];
  assert_int_equal(c->conn_state, TA_CS_RSTOS0);
  assert_history(c, "SR");
  assert_int_equal(c->scenario, TA_SC_UNANSWERED);
  test_free(s);
}

/* ------------------------------------------------------------------------ */
/* Counters and options */

static void test_conn_retransmission_counted(void **state) {
  (void)state;
  struct sim *s = sim_new();
  handshake(s, "10:00:00.000000", "10:00:00.000100", "10:00:00.000200");
  send_seg(s, "10:00:00.010000", C, P_ | A_, 1001, 5001, 17520, 100);
  send_seg(s, "10:00:00.310000", C, P_ | A_, 1001, 5001, 17520, 100);
  send_seg(s, "10:00:00.320000", S, A_, 5001, 1101, 32120, 0);
  sim_end(s, TA_END_CAPTURE_END);

  const struct ta_conn *c = &s->done[0];
  assert_int_equal(c->side[TA_DIR_ORIG].retransmits, 1);
  assert_int_equal(c->side[TA_DIR_ORIG].out_of_order, 0);
  assert_int_equal(c->side[TA_DIR_ORIG].payload_bytes, 200);
  assert_history(c, "ShADTa");
  test_free(s);
}

/* Repeating letters are written at the 1st, 10th and 100th event. */
static void test_conn_retransmissions_on_a_log_scale(void **state) {
  (void)state;
  struct sim *s = sim_new();
  handshake(s, "10:00:00.000000", "10:00:00.000100", "10:00:00.000200");
  send_seg(s, "10:00:00.010000", C, P_ | A_, 1001, 5001, 17520, 100);
  for (int i = 0; i < 100; i++)
    send_seg(s, "10:00:00.310000", C, P_ | A_, 1001, 5001, 17520, 100);
  sim_end(s, TA_END_CAPTURE_END);

  const struct ta_conn *c = &s->done[0];
  assert_int_equal(c->side[TA_DIR_ORIG].retransmits, 100);
  assert_history(c, "ShADTTT");
  test_free(s);
}

static void test_conn_out_of_order_counted(void **state) {
  (void)state;
  struct sim *s = sim_new();
  handshake(s, "10:00:00.000000", "10:00:00.000100", "10:00:00.000200");
  /* the second segment overtakes the first by half a millisecond */
  send_seg(s, "10:00:00.010000", C, P_ | A_, 1101, 5001, 17520, 100);
  send_seg(s, "10:00:00.010500", C, P_ | A_, 1001, 5001, 17520, 100);
  send_seg(s, "10:00:00.020000", S, A_, 5001, 1201, 32120, 0);
  sim_end(s, TA_END_CAPTURE_END);

  const struct ta_conn *c = &s->done[0];
  assert_int_equal(c->side[TA_DIR_ORIG].out_of_order, 1);
  assert_int_equal(c->side[TA_DIR_ORIG].retransmits, 0);
  assert_false(c->side[TA_DIR_ORIG].hole);
  /* Zeek too sees the later segment as not advancing the stream */
  assert_history(c, "ShADTa");
  test_free(s);
}

static void test_conn_gap_recorded(void **state) {
  (void)state;
  struct sim *s = sim_new();
  handshake(s, "10:00:00.000000", "10:00:00.000100", "10:00:00.000200");
  /* bytes 1001..1100 were never captured, yet the server acks them */
  send_seg(s, "10:00:00.010000", C, P_ | A_, 1101, 5001, 17520, 100);
  send_seg(s, "10:00:00.020000", S, A_, 5001, 1201, 32120, 0);
  sim_end(s, TA_END_CAPTURE_END);

  const struct ta_conn *c = &s->done[0];
  assert_history(c, "ShADaG");
  assert_true(c->side[TA_DIR_ORIG].hole);
  test_free(s);
}

static void test_conn_zero_window_counted(void **state) {
  (void)state;
  struct sim *s = sim_new();
  handshake(s, "10:00:00.000000", "10:00:00.000100", "10:00:00.000200");
  send_seg(s, "10:00:00.010000", C, P_ | A_, 1001, 5001, 17520, 100);
  send_seg(s, "10:00:00.020000", S, A_, 5001, 1101, 0, 0);
  send_seg(s, "10:00:00.520000", S, A_, 5001, 1101, 0, 0);
  send_seg(s, "10:00:01.020000", S, A_, 5001, 1101, 8192, 0);
  sim_end(s, TA_END_CAPTURE_END);

  const struct ta_conn *c = &s->done[0];
  assert_int_equal(c->side[TA_DIR_RESP].zero_windows, 2);
  assert_int_equal(c->side[TA_DIR_ORIG].zero_windows, 0);
  assert_history(c, "ShADaw");
  test_free(s);
}

static void test_conn_keepalive_counted(void **state) {
  (void)state;
  struct sim *s = sim_new();
  handshake(s, "10:00:00.000000", "10:00:00.000100", "10:00:00.000200");
  send_seg(s, "10:00:00.010000", C, P_ | A_, 1001, 5001, 17520, 10);
  send_seg(s, "10:00:00.020000", S, A_, 5001, 1011, 32120, 0);
  /* keep-alives: one byte behind, with no data or with one garbage byte */
  send_seg(s, "10:01:00.000000", C, A_, 1010, 5001, 17520, 0);
  send_seg(s, "10:01:00.000100", S, A_, 5001, 1011, 32120, 0);
  send_seg(s, "10:02:00.000000", C, A_, 1010, 5001, 17520, 1);
  sim_end(s, TA_END_CAPTURE_END);

  const struct ta_conn *c = &s->done[0];
  assert_int_equal(c->side[TA_DIR_ORIG].keepalives, 2);
  assert_int_equal(c->side[TA_DIR_ORIG].retransmits, 0);
  test_free(s);
}

static void test_conn_syn_options_recorded(void **state) {
  (void)state;
  struct sim *s = sim_new();
  static const uint8_t syn_opts[] = {2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 7,
                                     0, 0, 0, 0, 1, 3, 3, 7};
  static const uint8_t synack_opts[] = {2, 4, 0x05, 0x78, 1, 1, 4, 2,
                                        1, 3, 3, 9};
  s->opts = syn_opts, s->optlen = sizeof syn_opts, s->ttl = 128, s->df = true;
  send_seg(s, "10:00:00.000000", C, S_, 1000, 0, 64240, 0);
  s->opts = synack_opts, s->optlen = sizeof synack_opts, s->ttl = 57;
  send_seg(s, "10:00:00.000100", S, S_ | A_, 5000, 1001, 65535, 0);
  send_seg(s, "10:00:00.000200", C, A_, 1001, 5001, 256, 0);
  sim_end(s, TA_END_CAPTURE_END);

  const struct ta_conn *c = &s->done[0];
  const struct ta_syn_features *o = &c->side[TA_DIR_ORIG].syn;
  const struct ta_syn_features *r = &c->side[TA_DIR_RESP].syn;
  assert_true(o->seen);
  assert_int_equal(o->ttl, 128);
  assert_true(o->df);
  assert_int_equal(o->window, 64240);
  assert_int_equal(o->opt.mss, 1460);
  assert_true(o->opt.sack_ok);
  assert_true(o->opt.has_ts);
  assert_int_equal(o->opt.ts_val, 7);
  assert_true(o->opt.has_wscale);
  assert_int_equal(o->opt.wscale, 7);
  assert_true(r->seen);
  assert_int_equal(r->ttl, 57);
  assert_false(r->df);
  assert_int_equal(r->opt.mss, 1400);
  assert_true(r->opt.sack_ok);
  assert_false(r->opt.has_ts);
  assert_int_equal(r->opt.wscale, 9);
  assert_int_equal(c->side[TA_DIR_ORIG].wscale, 7);
  assert_int_equal(c->side[TA_DIR_RESP].wscale, 9);
  test_free(s);
}

/* ------------------------------------------------------------------------ */
/* One tuple, several connections */

static void test_conn_new_isn_after_close_starts_new(void **state) {
  (void)state;
  struct sim *s = sim_new();
  for (int i = 0; i < 3; i++) {
    char t1[32], t2[32];
    snprintf(t1, sizeof t1, "10:00:0%d.000000", i);
    snprintf(t2, sizeof t2, "10:00:0%d.000100", i);
    send_seg(s, t1, C, S_, 1000u + 77777u * (uint32_t)i, 0, 16384, 0);
    send_seg(s, t2, S, R_ | A_, 0, 1001u + 77777u * (uint32_t)i, 0, 0);
  }
  sim_end(s, TA_END_CLOSED);

  assert_int_equal(s->ndone, 3);
  for (int i = 0; i < 3; i++) {
    const struct ta_conn *c = &s->done[i];
    assert_int_equal(c->scenario, TA_SC_REFUSED);
    assert_int_equal(c->conn_state, TA_CS_REJ);
    assert_int_equal(c->syn_count, 1);
    assert_int_equal(c->end_reason, i < 2 ? TA_END_REUSED : TA_END_CLOSED);
    assert_int_equal(c->id, (uint64_t)i);
  }
  test_free(s);
}

static void test_conn_new_isn_after_fin_close_starts_new(void **state) {
  (void)state;
  struct sim *s = sim_new();
  handshake(s, "10:00:00.000000", "10:00:00.000100", "10:00:00.000200");
  send_seg(s, "10:00:00.010000", C, F_ | A_, 1001, 5001, 17520, 0);
  send_seg(s, "10:00:00.010100", S, F_ | A_, 5001, 1002, 32120, 0);
  send_seg(s, "10:00:00.010200", C, A_, 1002, 5002, 17520, 0);
  send_seg(s, "10:00:01.000000", C, S_, 90000, 0, 16384, 0);
  sim_end(s, TA_END_CAPTURE_END);

  assert_int_equal(s->ndone, 2);
  assert_int_equal(s->done[0].scenario, TA_SC_COMPLETED);
  assert_int_equal(s->done[0].conn_state, TA_CS_SF);
  assert_int_equal(s->done[0].end_reason, TA_END_REUSED);
  assert_int_equal(s->done[1].scenario, TA_SC_UNANSWERED);
  assert_history(&s->done[1], "S");
  test_free(s);
}

static void test_conn_same_isn_after_rst_stays_one(void **state) {
  (void)state;
  struct sim *s = sim_new();
  send_seg(s, "10:00:00.000000", C, S_, 1000, 0, 16384, 0);
  send_seg(s, "10:00:00.000100", S, R_ | A_, 0, 1001, 0, 0);
  /* retried much later than Zeek's close delay: still the same attempt */
  send_seg(s, "10:00:07.000000", C, S_, 1000, 0, 16384, 0);
  send_seg(s, "10:00:07.000100", S, S_ | A_, 5000, 1001, 32120, 0);
  send_seg(s, "10:00:07.000200", C, A_, 1001, 5001, 17520, 0);
  sim_end(s, TA_END_CAPTURE_END);

  assert_int_equal(s->ndone, 1);
  const struct ta_conn *c = &s->done[0];
  assert_int_equal(c->syn_count, 2);
  assert_int_equal(c->answered_by, TA_ANSWER_SYNACK);
  assert_true(c->established_ts != 0);
  assert_int_equal(c->close_how, TA_CLOSE_NONE);
  test_free(s);
}

static void test_conn_late_packet_after_close_delay_starts_new(void **state) {
  (void)state;
  struct sim *s = sim_new();
  handshake(s, "10:00:00.000000", "10:00:00.000100", "10:00:00.000200");
  send_seg(s, "10:00:00.010000", C, R_ | A_, 1001, 5001, 0, 0);
  /* within Zeek's 5 s close delay: same record */
  send_seg(s, "10:00:03.000000", S, A_, 5001, 1001, 32120, 0);
  /* after it: a record of its own, roles from the port */
  send_seg(s, "10:00:09.000000", S, R_ | A_, 5001, 1001, 0, 0);
  sim_end(s, TA_END_CLOSED);

  assert_int_equal(s->ndone, 2);
  assert_int_equal(s->done[0].conn_state, TA_CS_RSTO);
  assert_int_equal(s->done[0].side[TA_DIR_RESP].pkts, 2);
  assert_int_equal(s->done[1].conn_state, TA_CS_RSTRH);
  assert_history(&s->done[1], "^r");
  assert_int_equal(s->done[1].side[TA_DIR_ORIG].port, CPORT);
  test_free(s);
}

static void test_conn_fin_before_handshake_is_other(void **state) {
  (void)state;
  struct sim *s = sim_new();
  send_seg(s, "10:00:00.000000", C, S_, 1000, 0, 16384, 0);
  send_seg(s, "10:00:00.290000", C, F_, 1000, 0, 16384, 0);
  send_seg(s, "10:00:00.300000", S, S_ | A_, 5000, 1001, 32120, 0);
  send_seg(s, "10:00:00.300200", C, F_ | A_, 1000, 5001, 16384, 0);
  send_seg(s, "10:00:00.600000", S, R_, 5001, 0, 0, 0);
  sim_end(s, TA_END_CLOSED);

  const struct ta_conn *c = &s->done[0];
  assert_int_equal(c->scenario, TA_SC_OTHER);
  assert_string_equal(c->other_reason,
                      "originator closed before the handshake completed");
  assert_int_equal(c->established_ts, 0);
  assert_history(c, "SFhr");
  assert_int_equal(c->conn_state, TA_CS_RSTR);
  test_free(s);
}

static void test_conn_ipv6(void **state) {
  (void)state;
  struct sim *s = sim_new();
  struct tt_seg g = {.src = "2001:db8::1", .dst = "2001:db8::2", .sport = 40000,
                     .dport = 443, .seq = 1, .flags = S_, .win = 1000};
  uint8_t buf[256];
  size_t n = tt_build_ip(buf, sizeof buf, &g);
  struct ta_packet p;
  ta_decode_frame(TA_LINK_RAW, buf, (uint32_t)n, (uint32_t)n, &p);
  assert_int_equal(p.disposition, TA_DISP_TCP);
  p.ts_ns = tt_clock_ns("10:00:00.000000");
  sim_packet(s, &p);
  sim_end(s, TA_END_IDLE);
  const struct ta_conn *c = &s->done[0];
  assert_int_equal(c->family, 6);
  assert_int_equal(c->side[TA_DIR_ORIG].port, 40000);
  assert_int_equal(c->conn_state, TA_CS_S0);
  test_free(s);
}

static void test_conn_names(void **state) {
  (void)state;
  assert_string_equal(ta_scenario_name(TA_SC_ACCEPTED_THEN_CLOSED),
                      "accepted_then_closed");
  assert_string_equal(ta_scenario_name(TA_SC_HANDSHAKE_INCOMPLETE),
                      "handshake_incomplete");
  assert_string_equal(ta_conn_state_name(TA_CS_RSTOS0), "RSTOS0");
  assert_string_equal(ta_conn_state_name(TA_CS_OTH), "OTH");
  assert_string_equal(ta_end_reason_name(TA_END_REUSED), "tuple_reused");
  assert_string_equal(ta_scenario_name(-1), "unknown");
  assert_string_equal(ta_conn_state_name(TA_CS_COUNT), "unknown");
}

/* ------------------------------------------------------------------------ */
/* The short paths against the general one, on real captures */

/* Records of a capture's tuples, each kept twice: updated by
 * ta_conn_update (short paths allowed) and by ta__conn_update_general.
 * Open addressing on the unordered tuple; tuples past the capacity are not
 * followed. */
#define TWIN_SLOTS 4096u
struct twin_key {
  uint8_t family;
  uint8_t a[16], b[16];
  uint16_t pa, pb;
};
struct twins {
  struct twin_key key[TWIN_SLOTS];
  bool used[TWIN_SLOTS];
  struct ta_conn *fast, *general;
  size_t n_used;
  uint64_t packets, compared;
};

static struct twin_key twin_key_of(const struct ta_packet *p) {
  struct twin_key k;
  memset(&k, 0, sizeof k);
  k.family = p->family;
  int c = memcmp(p->src, p->dst, 16);
  bool src_first = c < 0 || (c == 0 && p->sport <= p->dport);
  memcpy(k.a, src_first ? p->src : p->dst, 16);
  memcpy(k.b, src_first ? p->dst : p->src, 16);
  k.pa = src_first ? p->sport : p->dport;
  k.pb = src_first ? p->dport : p->sport;
  return k;
}

/* The slot of p's tuple, claimed when new; -1 when the table is full. */
static long twin_slot(struct twins *t, const struct ta_packet *p, bool *fresh) {
  struct twin_key k = twin_key_of(p);
  uint32_t h = 2166136261u;
  for (size_t i = 0; i < sizeof k; i++)
    h = (h ^ ((const uint8_t *)&k)[i]) * 16777619u;
  for (uint32_t i = 0; i < TWIN_SLOTS; i++) {
    uint32_t s = (h + i) & (TWIN_SLOTS - 1);
    if (!t->used[s]) {
      if (t->n_used >= TWIN_SLOTS / 2)
        return -1;
      t->used[s] = true;
      t->key[s] = k;
      t->n_used++;
      *fresh = true;
      return s;
    }
    if (memcmp(&t->key[s], &k, sizeof k) == 0) {
      *fresh = false;
      return s;
    }
  }
  return -1;
}

/* One packet through both records of its tuple, as the flow table hands
 * it on; the records must stay equal to the byte. */
static void twin_packet(struct twins *t, const struct ta_packet *p) {
  bool fresh = false;
  long s = twin_slot(t, p, &fresh);
  if (s < 0)
    return;
  struct ta_conn *a = &t->fast[s], *b = &t->general[s];
  if (!fresh) {
    bool na = ta_conn_is_new_attempt(a, p);
    assert_int_equal(na, ta_conn_is_new_attempt(b, p));
    fresh = na;
  }
  enum ta_dir da;
  if (fresh)
    ta_conn_init(b, t->packets, p);
  if (fresh && t->packets % 2) {
    /* every other record starts in one step, the others as they were */
    da = ta_conn_start(a, t->packets, p);
  } else {
    if (fresh)
      ta_conn_init(a, t->packets, p);
    da = ta_conn_update(a, p);
  }
  assert_int_equal(da, ta__conn_update_general(b, p));
  if (memcmp(a, b, sizeof *a) != 0)
    print_error("records differ after packet %llu\n",
                (unsigned long long)t->packets);
  assert_memory_equal(a, b, sizeof *a);
  t->compared++;
}

static void twin_capture(struct twins *t, const char *path, unsigned opts) {
  struct ta_reader *r;
  struct ta_input_info info;
  char err[256];
  memset(&info, 0, sizeof info);
  if (ta_reader_open(path, NULL, &r, &info, err, sizeof err) < 0)
    return;
  memset(t->used, 0, sizeof t->used);
  t->n_used = 0;
  struct ta_frame f;
  while (ta_reader_next(r, &f, &info, err, sizeof err) == 1) {
    if (f.bad_interface || f.filtered_out)
      continue;
    struct ta_packet p;
    ta_decode_frame_opts(f.linktype, f.data, f.caplen, f.wirelen, opts, &p);
    p.ts_ns = f.ts_ns;
    p.frame = ++t->packets;
    if (p.disposition == TA_DISP_TCP)
      twin_packet(t, &p);
  }
  ta_reader_close(r);
}

static void twin_dir(struct twins *t, const char *dir) {
  char *paths[512];
  size_t n = tt_find_captures(dir, paths, 512);
  for (size_t i = 0; i < n; i++) {
    twin_capture(t, paths[i], 0);
    twin_capture(t, paths[i], TA_DECODE_VERIFY_CHECKSUMS);
  }
  tt_captures_free(paths, n);
}

/* The refusal's short path against the general update, on the cases
 * around it: each script runs through two records, which must stay equal
 * to the byte after every packet. */
struct twin_seg {
  bool from_client;
  uint8_t flags;
  uint32_t seq, ack;
  uint16_t win;
  uint32_t len;
};

static void twin_script(const struct twin_seg *g, size_t n) {
  struct ta_conn *a = test_calloc(1, sizeof *a), *b = test_calloc(1, sizeof *b);
  for (size_t i = 0; i < n; i++) {
    struct tt_seg t = {
        .src = g[i].from_client ? CLIENT : SERVER,
        .dst = g[i].from_client ? SERVER : CLIENT,
        .sport = g[i].from_client ? CPORT : SPORT,
        .dport = g[i].from_client ? SPORT : CPORT,
        .seq = g[i].seq,
        .ack = g[i].ack,
        .flags = g[i].flags,
        .win = g[i].win,
        .payload_len = g[i].len,
    };
    uint8_t buf[2048];
    size_t len = tt_build_ip(buf, sizeof buf, &t);
    assert_true(len > 0);
    struct ta_packet p;
    ta_decode_frame(TA_LINK_RAW, buf, (uint32_t)len, (uint32_t)len, &p);
    p.ts_ns = 1000000000LL + (int64_t)i * 1000;
    if (i == 0) {
      ta_conn_init(a, 1, &p);
      ta_conn_init(b, 1, &p);
    }
    enum ta_dir d = ta__conn_update_general(b, &p);
    assert_int_equal(ta_conn_update(a, &p), d);
    assert_memory_equal(a, b, sizeof *a);
    if (i == 0) {
      /* the same first packet, started in one step on a used record */
      struct ta_conn *st = test_malloc(sizeof *st);
      memset(st, 0xa5, sizeof *st);
      assert_int_equal(ta_conn_start(st, 1, &p), d);
      assert_memory_equal(st, b, sizeof *st);
      test_free(st);
    }
  }
  test_free(a);
  test_free(b);
}

static void test_conn_refusal_matches_general(void **state) {
  (void)state;
  const uint32_t isn = 0xfffffff0u; /* the acks wrap */
  const struct twin_seg plain[] = {{C, S_, isn, 0, 1024, 0},
                                   {S, R_ | A_, 0, isn + 1, 0, 0}};
  const struct twin_seg acks_beyond[] = {{C, S_, isn, 0, 1024, 0},
                                         {S, R_ | A_, 7, isn + 5000, 0, 0}};
  const struct twin_seg acks_before[] = {{C, S_, isn, 0, 1024, 0},
                                         {S, R_ | A_, 7, isn - 9, 0, 0}};
  const struct twin_seg retried[] = {{C, S_, isn, 0, 1024, 0},
                                     {C, S_, isn, 0, 1024, 0},
                                     {S, R_ | A_, 0, isn + 1, 0, 0},
                                     {C, S_, isn, 0, 1024, 0},
                                     {S, R_ | A_, 0, isn + 1, 0, 0}};
  const struct twin_seg with_payload[] = {{C, S_, isn, 0, 1024, 0},
                                          {S, R_ | A_, 0, isn + 1, 0, 20}};
  const struct twin_seg from_client[] = {{C, S_, isn, 0, 1024, 0},
                                         {C, R_ | A_, isn + 1, 0, 0, 0}};
  const struct twin_seg after_data[] = {{C, S_, isn, 0, 1024, 0},
                                        {C, A_, isn + 1, 0, 1024, 30},
                                        {S, R_ | A_, 0, isn + 31, 0, 0}};
  const struct twin_seg after_synack[] = {{C, S_, isn, 0, 1024, 0},
                                          {S, S_ | A_, 500, isn + 1, 1024, 0},
                                          {S, R_ | A_, 501, isn + 1, 0, 0}};
  const struct twin_seg syn_with_data[] = {{C, S_, isn, 0, 0, 10},
                                           {S, R_ | A_, 0, isn + 11, 0, 0}};
  twin_script(plain, 2);
  twin_script(acks_beyond, 2);
  twin_script(acks_before, 2);
  twin_script(retried, 5);
  twin_script(with_payload, 2);
  twin_script(from_client, 2);
  twin_script(after_data, 3);
  twin_script(after_synack, 3);
  twin_script(syn_with_data, 2);
}

/* The variants compiled once per direction (ACK, FIN/ACK, SYN/ACK)
 * against the general update: both sides send each, also on records whose
 * roles were swapped at init, wait on a first SYN/ACK, or flip later. */
static void test_conn_by_direction_matches_general(void **state) {
  (void)state;
  const struct twin_seg full[] = {{C, S_, 1000, 0, 1024, 0},
                                  {S, S_ | A_, 5000, 1001, 1024, 0},
                                  {C, A_, 1001, 5001, 1024, 0},
                                  {C, P_ | A_, 1001, 5001, 1024, 40},
                                  {S, A_, 5001, 1041, 1024, 0},
                                  {S, P_ | A_, 5001, 1041, 0, 300},
                                  {C, A_, 1041, 5301, 1024, 0},
                                  {C, A_, 1040, 5301, 1024, 0}, /* keep-alive */
                                  {S, F_ | A_, 5301, 1041, 1024, 0},
                                  {C, F_ | A_, 1041, 5302, 1024, 0},
                                  {S, A_, 5302, 1042, 1024, 0}};
  const struct twin_seg server_first[] = {{S, A_, 5000, 1000, 1024, 10},
                                          {C, A_, 1000, 5010, 1024, 0},
                                          {C, F_ | A_, 1000, 5010, 1024, 0},
                                          {S, F_ | A_, 5010, 1001, 1024, 0}};
  const struct twin_seg synack_first[] = {{S, S_ | A_, 5000, 1001, 1024, 0},
                                          {S, S_ | A_, 5000, 1001, 1024, 0},
                                          {C, A_, 1001, 5001, 1024, 0},
                                          {S, A_, 5001, 1001, 1024, 5},
                                          {C, F_ | A_, 1001, 5006, 1024, 0}};
  const struct twin_seg late_syn[] = {{S, S_ | A_, 5000, 1001, 1024, 0},
                                      {C, S_, 1000, 0, 1024, 0},
                                      {C, A_, 1001, 5001, 1024, 0},
                                      {S, F_ | A_, 5001, 1001, 1024, 0}};
  const struct twin_seg gaps[] = {{C, S_, 1000, 0, 1024, 0},
                                  {S, S_ | A_, 5000, 1001, 1024, 0},
                                  {C, A_, 1001, 5001, 1024, 0},
                                  {C, A_, 1101, 5001, 1024, 50}, /* hole */
                                  {S, A_, 5001, 1151, 1024, 0},
                                  {C, A_, 1001, 5001, 1024, 100},
                                  {S, A_, 5001, 1151, 0, 0}, /* zero window */
                                  {S, S_ | A_, 5000, 1001, 1024, 0}};
  twin_script(full, sizeof full / sizeof full[0]);
  twin_script(server_first, sizeof server_first / sizeof server_first[0]);
  twin_script(synack_first, sizeof synack_first / sizeof synack_first[0]);
  twin_script(late_syn, sizeof late_syn / sizeof late_syn[0]);
  twin_script(gaps, sizeof gaps / sizeof gaps[0]);
}

/* ta_conn_start's one step against init and the general update, on first
 * packets around the SYN it takes (twin_script starts each both ways). */
static void test_conn_start_matches_general(void **state) {
  (void)state;
  const uint8_t E_ = TA_TCP_ECE | TA_TCP_CWR | TA_TCP_URG;
  const struct twin_seg plain[] = {{C, S_, 1000, 0, 1024, 0},
                                   {C, S_, 1000, 0, 1024, 0}};
  const struct twin_seg wrapping[] = {{C, S_, 0xffffffffu, 0, 1024, 0}};
  const struct twin_seg other_flags[] = {{C, S_ | E_ | P_, 1000, 7, 1, 0}};
  const struct twin_seg zero_window[] = {{C, S_, 1000, 0, 0, 0}};
  const struct twin_seg with_data[] = {{C, S_, 1000, 0, 1024, 9}};
  const struct twin_seg syn_fin[] = {{C, S_ | F_, 1000, 0, 1024, 0}};
  const struct twin_seg syn_rst[] = {{C, S_ | R_, 1000, 0, 1024, 0}};
  const struct twin_seg synack[] = {{S, S_ | A_, 5000, 1001, 1024, 0}};
  const struct twin_seg ack[] = {{C, A_, 1001, 5001, 1024, 0}};
  twin_script(plain, 2);
  twin_script(wrapping, 1);
  twin_script(other_flags, 1);
  twin_script(zero_window, 1);
  twin_script(with_data, 1);
  twin_script(syn_fin, 1);
  twin_script(syn_rst, 1);
  twin_script(synack, 1);
  twin_script(ack, 1);
}

/* The retried SYN's short path against the general update, on the cases
 * around it. */
static void test_conn_retry_matches_general(void **state) {
  (void)state;
  const uint32_t isn = 0xffffffffu; /* its end wraps */
  struct twin_seg many[16];
  for (size_t i = 0; i < 16; i++)
    many[i] = (struct twin_seg){C, S_, isn, 0, 1024, 0};
  const struct twin_seg new_isn[] = {{C, S_, isn, 0, 1024, 0},
                                     {C, S_, 77, 0, 1024, 0},
                                     {C, S_, 77, 0, 1024, 0}};
  const struct twin_seg zero_window[] = {{C, S_, isn, 0, 1024, 0},
                                         {C, S_, isn, 0, 0, 0},
                                         {C, S_, isn, 0, 1024, 0}};
  const struct twin_seg with_data[] = {{C, S_, isn, 0, 1024, 0},
                                       {C, S_, isn, 0, 1024, 5},
                                       {C, S_, isn, 0, 1024, 0}};
  const struct twin_seg after_synack[] = {{C, S_, isn, 0, 1024, 0},
                                          {S, S_ | A_, 500, isn + 1, 1024, 0},
                                          {C, S_, isn, 0, 1024, 0}};
  const struct twin_seg after_ack[] = {{C, S_, isn, 0, 1024, 0},
                                       {S, A_, 500, isn + 1, 1024, 0},
                                       {C, S_, isn, 0, 1024, 0}};
  const struct twin_seg after_refusals[] = {{C, S_, isn, 0, 1024, 0},
                                            {S, R_ | A_, 0, isn + 1, 0, 0},
                                            {C, S_, isn, 0, 1024, 0},
                                            {S, R_, 0, 0, 0, 0},
                                            {C, S_, isn, 0, 1024, 0}};
  const struct twin_seg after_own_rst[] = {{C, S_, isn, 0, 1024, 0},
                                           {C, R_, isn + 1, 0, 0, 0},
                                           {C, S_, isn, 0, 1024, 0}};
  twin_script(many, 16);
  twin_script(new_isn, 3);
  twin_script(zero_window, 3);
  twin_script(with_data, 3);
  twin_script(after_synack, 3);
  twin_script(after_ack, 3);
  twin_script(after_refusals, 5);
  twin_script(after_own_rst, 3);
}

static void test_conn_short_paths_match_general(void **state) {
  (void)state;
  struct twins *t = calloc(1, sizeof *t);
  assert_non_null(t);
  t->fast = calloc(TWIN_SLOTS, sizeof *t->fast);
  t->general = calloc(TWIN_SLOTS, sizeof *t->general);
  assert_non_null(t->fast);
  assert_non_null(t->general);
  twin_dir(t, TA_TESTDATA);
  if (tt_dir_exists(TA_CORPUS))
    twin_dir(t, TA_CORPUS);
  print_message("%llu TCP packets compared\n", (unsigned long long)t->compared);
  assert_true(t->compared > 100);
  free(t->fast);
  free(t->general);
  free(t);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_conn_article_completed),
      cmocka_unit_test(test_conn_refusal_matches_general),
      cmocka_unit_test(test_conn_article_refused),
      cmocka_unit_test(test_conn_article_accepted_then_closed),
      cmocka_unit_test(test_conn_article_unanswered),
      cmocka_unit_test(test_conn_reset),
      cmocka_unit_test(test_conn_rst_after_own_fin_closes),
      cmocka_unit_test(test_conn_reset_by_responder_without_payload),
      cmocka_unit_test(test_conn_half_closed),
      cmocka_unit_test(test_conn_open),
      cmocka_unit_test(test_conn_handshake_incomplete),
      cmocka_unit_test(test_conn_half_open_scan),
      cmocka_unit_test(test_conn_midstream),
      cmocka_unit_test(test_conn_only_bad_checksums_is_other),
      cmocka_unit_test(test_conn_midstream_server_first_flips),
      cmocka_unit_test(test_conn_synack_first_flips_on_ack),
      cmocka_unit_test(test_conn_synack_before_syn),
      cmocka_unit_test(test_conn_lone_synack_uses_ports),
      cmocka_unit_test(test_conn_syn_then_rst_is_rstos0),
      cmocka_unit_test(test_conn_retransmission_counted),
      cmocka_unit_test(test_conn_retransmissions_on_a_log_scale),
      cmocka_unit_test(test_conn_out_of_order_counted),
      cmocka_unit_test(test_conn_gap_recorded),
      cmocka_unit_test(test_conn_zero_window_counted),
      cmocka_unit_test(test_conn_keepalive_counted),
      cmocka_unit_test(test_conn_syn_options_recorded),
      cmocka_unit_test(test_conn_new_isn_after_close_starts_new),
      cmocka_unit_test(test_conn_new_isn_after_fin_close_starts_new),
      cmocka_unit_test(test_conn_same_isn_after_rst_stays_one),
      cmocka_unit_test(test_conn_late_packet_after_close_delay_starts_new),
      cmocka_unit_test(test_conn_fin_before_handshake_is_other),
      cmocka_unit_test(test_conn_ipv6),
      cmocka_unit_test(test_conn_names),
      cmocka_unit_test(test_conn_short_paths_match_general),
      cmocka_unit_test(test_conn_by_direction_matches_general),
      cmocka_unit_test(test_conn_start_matches_general),
      cmocka_unit_test(test_conn_retry_matches_general),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
