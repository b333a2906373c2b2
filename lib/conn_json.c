/* tcpaudit - reporters: connection record to JSON fields and summaries.
 * Only reads struct ta_conn; every derived figure (intervals, handshake and
 * close timings) is computed here so all formats agree. */
#include "ta_conn_json.h"
#include "ta_fingerprint.h"

#include <stdio.h>
#include <string.h>

static const char *dir_name(int d) { return d == TA_DIR_ORIG ? "orig" : "resp"; }

static const char *answer_name(int a) {
  return a == TA_ANSWER_SYNACK ? "synack" : a == TA_ANSWER_RST ? "rst" : "none";
}

static const char *close_how_name(int h) {
  return h == TA_CLOSE_RST ? "rst" : "fin";
}

double ta__secs(int64_t ns) { return (double)ns / 1e9; }

/* Counters of segments that TCP analysis flags; null when all are zero,
 * as they are for most short connections. */
static void analysis_fields(struct ta_jsonw *w, const struct ta_side *s) {
  ta_jsonw_key(w, "analysis");
  if (!s->retransmits && !s->out_of_order && !s->zero_windows &&
      !s->keepalives) {
    ta_jsonw_null(w);
    return;
  }
  ta_jsonw_obj_begin(w);
  ta_jsonw_ku64(w, "retransmits", s->retransmits);
  ta_jsonw_ku64(w, "out_of_order", s->out_of_order);
  ta_jsonw_ku64(w, "zero_windows", s->zero_windows);
  ta_jsonw_ku64(w, "keepalives", s->keepalives);
  ta_jsonw_obj_end(w);
}

static void side_fields(struct ta_jsonw *w, const struct ta_conn *c, int d) {
  const struct ta_side *s = &c->side[d];
  char ip[64];
  ta_addr_format(ip, sizeof ip, c->family, s->ip);
  ta_jsonw_key(w, dir_name(d));
  ta_jsonw_obj_begin(w);
  ta_jsonw_kname(w, "ip", ip);
  ta_jsonw_ku64(w, "port", s->port);
  ta_jsonw_ku64(w, "pkts", s->pkts);
  ta_jsonw_ku64(w, "bytes", s->ip_bytes);
  ta_jsonw_ku64(w, "payload", s->payload_bytes);
  analysis_fields(w, s);
  ta_jsonw_key(w, "syn");
  ta__fp_json_side(w, &s->syn, c->family);
  ta_jsonw_obj_end(w);
}

/* The SYN that the SYN/ACK answered: the last one sent before it. */
static int64_t answered_syn_ts(const struct ta_conn *c) {
  if (c->last_syn_ts && c->last_syn_ts <= c->synack_ts)
    return c->last_syn_ts;
  return c->first_syn_ts;
}

static void opt_secs(struct ta_jsonw *w, const char *k, bool have, int64_t ns) {
  ta_jsonw_key(w, k);
  if (have)
    ta_jsonw_secs(w, ns);
  else
    ta_jsonw_null(w);
}

static void syn_fields(struct ta_jsonw *w, const struct ta_conn *c) {
  ta_jsonw_key(w, "syn");
  ta_jsonw_obj_begin(w);
  ta_jsonw_ku64(w, "count", c->syn_count);
  ta_jsonw_key(w, "retry_intervals");
  ta_jsonw_arr_begin(w);
  for (uint8_t i = 0; i < c->n_syn_intervals && i < TA_MAX_SYN_INTERVALS; i++)
    ta_jsonw_secs(w, c->syn_intervals_ns[i]);
  ta_jsonw_arr_end(w);
  ta_jsonw_kname(w, "answered_by", answer_name(c->answered_by));
  ta_jsonw_obj_end(w);

  /* no SYN/ACK, no handshake to describe (and none can have completed) */
  ta_jsonw_key(w, "handshake");
  if (!c->synack_ts) {
    ta_jsonw_null(w);
    return;
  }
  ta_jsonw_obj_begin(w);
  ta_jsonw_kbool(w, "complete", c->established_ts != 0);
  opt_secs(w, "syn_to_synack", c->syn_count > 0,
           c->synack_ts - answered_syn_ts(c));
  opt_secs(w, "synack_to_ack", c->established_ts != 0,
           c->established_ts - c->synack_ts);
  ta_jsonw_obj_end(w);
}

/* The first FIN or RST; null when neither was seen (the initiator, the way
 * and the payload counts are only recorded together with it). */
static void close_fields(struct ta_jsonw *w, const struct ta_conn *c) {
  ta_jsonw_key(w, "close");
  if (!c->close_initiator) {
    ta_jsonw_null(w);
    return;
  }
  ta_jsonw_obj_begin(w);
  ta_jsonw_kname(w, "initiator", dir_name(c->close_initiator - 1));
  ta_jsonw_kname(w, "how", close_how_name(c->close_how));
  opt_secs(w, "after_handshake", c->close_ts && c->established_ts,
           c->close_ts - c->established_ts);
  ta_jsonw_ku64(w, "orig_payload_before", c->payload_before_close[0]);
  ta_jsonw_ku64(w, "resp_payload_before", c->payload_before_close[1]);
  ta_jsonw_obj_end(w);
}

/* A relative error bound, as a plain number. */
static void error_bound(struct ta_jsonw *w, const char *k, double e) {
  /* four decimals, by integer arithmetic (printf of a double is slow) */
  uint64_t v = e > 0 ? (uint64_t)(e * 10000.0 + 0.5) : 0;
  char num[32];
  int n = 0;
  char digits[24];
  int nd = 0;
  uint64_t whole = v / 10000;
  do {
    digits[nd++] = (char)('0' + whole % 10);
    whole /= 10;
  } while (whole && nd < 20);
  while (nd)
    num[n++] = digits[--nd];
  num[n++] = '.';
  for (uint64_t frac = v % 10000, d = 1000; d; d /= 10)
    num[n++] = (char)('0' + frac / d % 10);
  num[n] = 0;
  ta_jsonw_key(w, k);
  ta_jsonw_raw(w, num);
}

/* One leg: samples, min, avg, max (docs/latency.md); null without samples. */
static void rtt_leg(struct ta_jsonw *w, const char *k,
                    const struct ta_lat_leg *l) {
  ta_jsonw_key(w, k);
  if (!l->samples) {
    ta_jsonw_null(w);
    return;
  }
  ta_jsonw_obj_begin(w);
  ta_jsonw_ku64(w, "samples", l->samples);
  opt_secs(w, "min", l->samples, (int64_t)l->min_us * 1000);
  opt_secs(w, "avg", l->samples, ta_lat_leg_avg(l));
  opt_secs(w, "max", l->samples, (int64_t)l->max_us * 1000);
  ta_jsonw_obj_end(w);
}

/* Round trips; null when nothing was measured, as for most refused and
 * unanswered attempts. */
static void rtt_fields(struct ta_jsonw *w, const struct ta_conn *c) {
  const struct ta_lat_small *r = &c->lat.rtt;
  const struct ta_lat_leg *to_resp = &c->side[TA_DIR_ORIG].lat;
  const struct ta_lat_leg *to_orig = &c->side[TA_DIR_RESP].lat;
  int64_t hs = ta_lat_handshake(&c->lat);
  double err = ta_lat_small_error(r);
  ta_jsonw_key(w, "rtt");
  if (!r->count && hs < 0 && !to_resp->samples && !to_orig->samples &&
      err <= 0) {
    ta_jsonw_null(w);
    return;
  }
  ta_jsonw_obj_begin(w);
  ta_jsonw_ku64(w, "samples", r->count);
  opt_secs(w, "min", r->count, ta_lat_small_min(r));
  opt_secs(w, "median", r->count, ta_lat_small_median(r));
  opt_secs(w, "max", r->count, ta_lat_small_max(r));
  error_bound(w, "median_error", err);
  opt_secs(w, "handshake", hs >= 0, hs);
  rtt_leg(w, "to_resp", to_resp);
  rtt_leg(w, "to_orig", to_orig);
  ta_jsonw_obj_end(w);
}

/* Server response times; null when no exchange and no first answer. */
static void response_fields(struct ta_jsonw *w, const struct ta_conn *c) {
  const struct ta_lat_small *x = &c->lat.response;
  int64_t first = c->side[TA_DIR_RESP].first_payload_ts;
  bool have_first = c->established_ts && first >= c->established_ts;
  double err = ta_lat_small_error(x);
  ta_jsonw_key(w, "response");
  if (!x->count && !have_first && err <= 0) {
    ta_jsonw_null(w);
    return;
  }
  ta_jsonw_obj_begin(w);
  ta_jsonw_ku64(w, "count", x->count);
  opt_secs(w, "min", x->count, ta_lat_small_min(x));
  opt_secs(w, "median", x->count, ta_lat_small_median(x));
  opt_secs(w, "max", x->count, ta_lat_small_max(x));
  error_bound(w, "median_error", err);
  opt_secs(w, "first", have_first, first - c->established_ts);
  ta_jsonw_obj_end(w);
}

static void anomaly_list(struct ta_jsonw *w, uint32_t bits) {
  static const char *names[] = {
      "snaplen_truncated", "ip_padded", "ip_options", "tcp_option_bad",
      "tcp_option_after_eol", "tcp_reserved_bits", "urg_ptr_without_urg",
      "ts_ecr_on_syn", "tcp_truncated", "ip_total_length_short"};
  ta_jsonw_key(w, "anomalies");
  ta_jsonw_arr_begin(w);
  for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
    if (bits & (1u << i))
      ta_jsonw_name(w, names[i]);
  ta_jsonw_arr_end(w);
}

/* Each packet is [t, dir, flags, seq, ack, win, len]: positions rather
 * than keys, since a ladder can hold a dozen packets. */
static void ladder_fields(struct ta_jsonw *w, const struct ta_conn *c) {
  ta_jsonw_key(w, "ladder");
  ta_jsonw_obj_begin(w);
  ta_jsonw_key(w, "packets");
  ta_jsonw_arr_begin(w);
  for (uint8_t i = 0; i < c->n_ladder && i < TA_LADDER_PKTS; i++) {
    const struct ta_ladder_pkt *p = &c->ladder[i];
    ta_jsonw_arr_begin(w);
    ta_jsonw_secs(w, (int64_t)p->dt_us * 1000);
    ta_jsonw_name(w, dir_name(p->dir));
    ta_jsonw_u64(w, p->flags);
    ta_jsonw_u64(w, p->seq_rel);
    ta_jsonw_u64(w, p->ack_rel);
    ta_jsonw_u64(w, p->window);
    ta_jsonw_u64(w, p->payload);
    ta_jsonw_arr_end(w);
  }
  ta_jsonw_arr_end(w);
  ta_jsonw_ku64(w, "more", c->ladder_more);
  ta_jsonw_obj_end(w);
}

void ta__conn_json_fields(struct ta_jsonw *w, const struct ta_conn *c,
                          bool with_ladder) {
  char summary[160];
  ta_jsonw_ku64(w, "id", c->id);
  ta_jsonw_kname(w, "family", c->family == 6 ? "ipv6" : "ipv4");
  side_fields(w, c, TA_DIR_ORIG);
  side_fields(w, c, TA_DIR_RESP);
  ta_jsonw_ktime(w, "first_ts", c->first_ts);
  ta_jsonw_ksecs(w, "duration", c->last_ts - c->first_ts);
  ta_jsonw_kname(w, "originator_from",
                c->syn_seen ? "syn" : c->roles_guessed ? "first_packet"
                                                       : "synack");
  ta_jsonw_kname(w, "scenario", ta_scenario_name(c->scenario));
  ta_jsonw_key(w, "reason");
  ta_jsonw_str(w, c->scenario == TA_SC_OTHER ? c->other_reason : NULL);
  ta__conn_summary(summary, sizeof summary, c);
  ta_jsonw_kstr(w, "summary", summary);
  syn_fields(w, c);
  close_fields(w, c);
  rtt_fields(w, c);
  response_fields(w, c);
  ta_jsonw_kname(w, "conn_state", ta_conn_state_name(c->conn_state));
  ta_jsonw_key(w, "history");
  ta_jsonw_strn(w, c->history, c->history_len);
  ta_jsonw_kname(w, "end_reason", ta_end_reason_name(c->end_reason));
  anomaly_list(w, c->anomalies);
  if (with_ladder)
    ladder_fields(w, c);
}

/* A bounded string being appended to (per record, so no printf). */
struct text {
  char *p, *end; /* end: where the terminating NUL must go at the latest */
};

static void text_put(struct text *t, const char *s) {
  while (*s && t->p < t->end)
    *t->p++ = *s++;
  *t->p = 0;
}

static void text_u64(struct text *t, uint64_t v) {
  char tmp[24];
  char *q = tmp + sizeof tmp;
  *--q = 0;
  do {
    *--q = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  text_put(t, q);
}

/* "0.13 ms", "350 ms", "5.0 s": a person's resolution for a duration. */
static void text_span(struct text *t, int64_t ns) {
  uint64_t v = ns < 0 ? 0 : (uint64_t)ns;
  uint64_t units, scale;
  const char *suffix;
  if (v < 10000000u) { /* below 10 ms: hundredths of a millisecond */
    units = (v + 5000) / 10000, scale = 100, suffix = " ms";
  } else if (v < 1000000000u) {
    units = (v + 500000) / 1000000, scale = 1, suffix = " ms";
  } else {
    units = (v + 50000000) / 100000000, scale = 10, suffix = " s";
  }
  text_u64(t, units / scale);
  if (scale > 1) {
    char frac[4] = ".";
    uint64_t f = units % scale;
    if (scale == 100) {
      frac[1] = (char)('0' + f / 10);
      frac[2] = (char)('0' + f % 10);
    } else {
      frac[1] = (char)('0' + f);
    }
    text_put(t, frac);
  }
  text_put(t, suffix);
}

void ta__conn_summary(char *buf, size_t len, const struct ta_conn *c) {
  if (!len)
    return;
  struct text t = {buf, buf + len - 1};
  int64_t after = c->close_ts && c->established_ts
                      ? c->close_ts - c->established_ts : 0;
  const char *who = c->close_initiator == 1 + TA_DIR_ORIG ? "client" : "server";
  *buf = 0;
  switch (c->scenario) {
  case TA_SC_COMPLETED:
    text_put(&t, "completed; the ");
    text_put(&t, who);
    text_put(&t, " closed first, ");
    text_span(&t, after);
    text_put(&t, " after the handshake");
    break;
  case TA_SC_REFUSED:
    text_put(&t, "refused");
    if (c->syn_count > 1) {
      text_put(&t, " ");
      text_u64(&t, c->syn_count);
      text_put(&t, " times in ");
      text_span(&t, c->last_syn_ts - c->first_syn_ts);
    }
    break;
  case TA_SC_UNANSWERED:
    text_u64(&t, c->syn_count);
    text_put(&t, c->syn_count == 1 ? " SYN unanswered over "
                                   : " SYNs unanswered over ");
    text_span(&t, c->last_syn_ts - c->first_syn_ts);
    break;
  case TA_SC_ACCEPTED_THEN_CLOSED:
    text_put(&t, "accepted, then closed by the server (");
    text_put(&t, c->close_how == TA_CLOSE_RST ? "RST) " : "FIN) ");
    text_span(&t, after);
    text_put(&t, " after the handshake without sending data");
    break;
  case TA_SC_RESET:
    text_put(&t, "reset by the ");
    text_put(&t, who);
    text_put(&t, " ");
    text_span(&t, after);
    text_put(&t, " after the handshake");
    break;
  case TA_SC_HALF_CLOSED:
    text_put(&t, "half-closed by the ");
    text_put(&t, who);
    text_put(&t, "; the other side never closed");
    break;
  case TA_SC_OPEN:
    text_put(&t, "still open when the capture ended");
    break;
  case TA_SC_HANDSHAKE_INCOMPLETE:
    text_put(&t, "SYN answered, but the handshake never completed");
    break;
  case TA_SC_MIDSTREAM:
    text_put(&t, "began before the capture (no SYN seen)");
    break;
  default:
    text_put(&t, "other: ");
    text_put(&t, c->other_reason ? c->other_reason : "?");
  }
}
