/* tcpaudit - reporters: connection record to JSON fields and summaries.
 * Only reads struct ta_conn; every derived figure (intervals, handshake and
 * close timings) is computed here so all formats agree. */
#include "ta_conn_json.h"
#include "ta_fingerprint.h"

#include <stdio.h>
#include <string.h>

double ta__secs(int64_t ns) { return (double)ns / 1e9; }

/* The record is written in place: room for its longest form is taken at
 * once (see ta_jsonw_room), keys and punctuation are constant runs, values
 * go straight into the buffer. These bounds are counted from the longest
 * form of each part, rounded up generously. */
#define SIDE_ROOM (512 + TA_FP_JSON_SIDE_MAX)
#define TIMES_ROOM 1536 /* plus the reason, escaped, and the summary */
#define LATENCY_ROOM 1024
#define STATE_ROOM 768  /* plus the history */
#define LADDER_ROOM 2048
/* The summary's most, as its 160-byte buffer always had (NUL excluded). */
#define SUMMARY_MAX TA_CONN_SUMMARY_MAX

#define LIT TA_JPUT_LIT

/* The parts of a record written once each: inlined into both writers of
 * the whole (the json record's, and the ndjson event's, which passes the
 * texts the event wrote before, struct ta__conn_json_again), so that the
 * json record is built without a test for each such text. */
#define PART static inline __attribute__((always_inline)) char *

static char *put_name(char *p, const char *s) {
  return ta__jput_name(p, s, strlen(s));
}

/* The names of scenarios, states and end reasons, quoted, with their
 * lengths: made by the preprocessor from the maps in ta_conn.h, so a
 * record spends neither a lookup call nor strlen on them. A name is
 * copied as a whole field (QUOTED_MAX bytes, which every room allows) and
 * the end moved to its length. */
#define QUOTED_MAX 24
struct quoted {
  char text[QUOTED_MAX];
  uint8_t len;
};
#define QUOTED(str) {"\"" str "\"", sizeof(str) + 1}
static const struct quoted scenario_quoted[TA_SC_COUNT + 1] = {
#define SC_QUOTED(name, str) QUOTED(str),
    TA_SCENARIO_MAP(SC_QUOTED)
#undef SC_QUOTED
    QUOTED("unknown")};
static const struct quoted state_quoted[TA_CS_COUNT + 1] = {
#define CS_QUOTED(name) QUOTED(#name),
    TA_CONN_STATE_MAP(CS_QUOTED)
#undef CS_QUOTED
    QUOTED("unknown")};
static const struct quoted end_quoted[TA_END_COUNT + 1] = {
#define END_QUOTED(name, str) QUOTED(str),
    TA_END_MAP(END_QUOTED)
#undef END_QUOTED
    QUOTED("unknown")};

/* Entry i of a table of n names (the last, "unknown", past them). */
static char *put_quoted(char *p, const struct quoted *t, unsigned n,
                        unsigned i) {
  const struct quoted *q = &t[i < n ? i : n];
  memcpy(p, q->text, QUOTED_MAX);
  return p + q->len;
}

/* t's text again, copied as a whole field of 32 bytes (numbers, times),
 * 48 (addresses) or the summary's most: a constant-size copy is a few
 * moves, where one of t.n bytes would be a library call. The field is
 * read whole before it is written, as ta__jput_again does. */
static char *again32(char *p, struct ta__jtext t) {
  return ta__jput_again(p, t.s, t.n);
}
static char *again48(char *p, struct ta__jtext t) {
  return ta__jput_again48(p, t.s, t.n);
}
static char *again160(char *p, struct ta__jtext t) {
  char b[SUMMARY_MAX + 1];
  memcpy(b, t.s, sizeof b);
  memcpy(p, b, sizeof b);
  return p + t.n;
}

static char *put_secs_or_null(char *p, int digits, bool have, int64_t ns) {
  return have ? ta__jput_secs(p, ns, digits) : LIT(p, "null");
}

/* The counters of segments that TCP analysis flags, when any is not 0. */
static char *analysis_counts_put(char *p, const struct ta_side *s) {
  p = LIT(p, ",\"analysis\":{\"retransmits\":");
  p = ta__jput_u64(p, s->retransmits);
  p = LIT(p, ",\"out_of_order\":");
  p = ta__jput_u64(p, s->out_of_order);
  p = LIT(p, ",\"zero_windows\":");
  p = ta__jput_u64(p, s->zero_windows);
  p = LIT(p, ",\"keepalives\":");
  p = ta__jput_u64(p, s->keepalives);
  *p++ = '}';
  return p;
}

/* Those counters; null when all are zero, as they are for most short
 * connections: tested where the side is written, without a call. */
PART analysis_put(char *p, const struct ta_side *s) {
  if (!s->retransmits && !s->out_of_order && !s->zero_windows &&
      !s->keepalives)
    return LIT(p, ",\"analysis\":null");
  return analysis_counts_put(p, s);
}

/* ,"orig":{...} or ,"resp":{...}; the address and the counts the event
 * stated are copied from again (NULL: formatted). Inlined as the parts
 * are, though written twice: each copy knows its side and whether again
 * is given, so it tests neither. */
PART side_put(char *p, struct ta_jsonw *w, const struct ta_conn *c,
              int d, const struct ta__conn_json_again *again) {
  const struct ta_side *s = &c->side[d];
  p = d == TA_DIR_ORIG ? LIT(p, ",\"orig\":{\"ip\":\"")
                       : LIT(p, ",\"resp\":{\"ip\":\"");
  p = again ? again48(p, again->ip[d]) : ta__jput_addr(p, c->family, s->ip);
  p = LIT(p, "\",\"port\":");
  p = again ? again32(p, again->port[d]) : ta__jput_u64(p, s->port);
  p = LIT(p, ",\"pkts\":");
  p = again ? again32(p, again->pkts[d]) : ta__jput_u64(p, s->pkts);
  p = LIT(p, ",\"bytes\":");
  p = again ? again32(p, again->bytes[d]) : ta__jput_u64(p, s->ip_bytes);
  p = LIT(p, ",\"payload\":");
  p = ta__jput_u64(p, s->payload_bytes);
  p = analysis_put(p, s);
  p = LIT(p, ",\"syn\":");
  p = ta__fp_json_side_put(p, &s->syn, c->family, w->memo);
  *p++ = '}';
  return p;
}

/* The SYN that the SYN/ACK answered: the last one sent before it. */
static int64_t answered_syn_ts(const struct ta_conn *c) {
  if (c->last_syn_ts && c->last_syn_ts <= c->synack_ts)
    return c->last_syn_ts;
  return c->first_syn_ts;
}

PART syn_put(char *p, int digits, const struct ta_conn *c) {
  p = LIT(p, ",\"syn\":{\"count\":");
  p = ta__jput_u64(p, c->syn_count);
  p = LIT(p, ",\"retry_intervals\":[");
  for (uint8_t i = 0; i < c->n_syn_intervals && i < TA_MAX_SYN_INTERVALS; i++) {
    if (i)
      *p++ = ',';
    p = ta__jput_secs(p, c->syn_intervals_ns[i], digits);
  }
  p = c->answered_by == TA_ANSWER_SYNACK ? LIT(p, "],\"answered_by\":\"synack\"}")
      : c->answered_by == TA_ANSWER_RST  ? LIT(p, "],\"answered_by\":\"rst\"}")
                                         : LIT(p, "],\"answered_by\":\"none\"}");

  /* no SYN/ACK, no handshake to describe (and none can have completed) */
  if (!c->synack_ts)
    return LIT(p, ",\"handshake\":null");
  p = c->established_ts ? LIT(p, ",\"handshake\":{\"complete\":true")
                        : LIT(p, ",\"handshake\":{\"complete\":false");
  p = LIT(p, ",\"syn_to_synack\":");
  p = put_secs_or_null(p, digits, c->syn_count > 0,
                       c->synack_ts - answered_syn_ts(c));
  p = LIT(p, ",\"synack_to_ack\":");
  p = put_secs_or_null(p, digits, c->established_ts != 0,
                       c->established_ts - c->synack_ts);
  *p++ = '}';
  return p;
}

/* The first FIN or RST; null when neither was seen (the initiator, the way
 * and the payload counts are only recorded together with it). */
PART close_put(char *p, int digits, const struct ta_conn *c) {
  if (!c->close_initiator)
    return LIT(p, ",\"close\":null");
  p = c->close_initiator - 1 == TA_DIR_ORIG
          ? LIT(p, ",\"close\":{\"initiator\":\"orig\"")
          : LIT(p, ",\"close\":{\"initiator\":\"resp\"");
  p = c->close_how == TA_CLOSE_RST ? LIT(p, ",\"how\":\"rst\"")
                                   : LIT(p, ",\"how\":\"fin\"");
  p = LIT(p, ",\"after_handshake\":");
  p = put_secs_or_null(p, digits, c->close_ts && c->established_ts,
                       c->close_ts - c->established_ts);
  p = LIT(p, ",\"orig_payload_before\":");
  p = ta__jput_u64(p, c->payload_before_close[0]);
  p = LIT(p, ",\"resp_payload_before\":");
  p = ta__jput_u64(p, c->payload_before_close[1]);
  *p++ = '}';
  return p;
}

/* A relative error bound, as a plain number with four decimals, by
 * integer arithmetic (printf of a double is slow). */
static char *error_put(char *p, double e) {
  uint64_t v = e > 0 ? (uint64_t)(e * 10000.0 + 0.5) : 0;
  unsigned frac = (unsigned)(v % 10000);
  p = ta__jput_u64(p, v / 10000);
  *p++ = '.';
  *p++ = (char)('0' + frac / 1000);
  *p++ = (char)('0' + frac / 100 % 10);
  *p++ = (char)('0' + frac / 10 % 10);
  *p++ = (char)('0' + frac % 10);
  return p;
}

/* A duration, or the text of the one before (at s, n bytes) when it is
 * the same: most sets hold one sample. */
static char *put_secs_same(char *p, int digits, int64_t ns, int64_t prev,
                           const char *s, size_t n) {
  return ns == prev ? ta__jput_again(p, s, n) : ta__jput_secs(p, ns, digits);
}

/* The median error of x as error_put writes ta_lat_small_error's: a
 * constant while x holds its samples exactly (unbinned), as most sets
 * do, where the error is 0. */
static inline char *small_error_put(char *p, const struct ta_lat_small *x) {
  return x->binned ? error_put(p, ta_lat_small_error(x)) : LIT(p, "0.0000");
}

/* Whether x's error is stated: ta_lat_small_error(x) > 0, which it can
 * only be once x is binned. */
static bool small_has_error(const struct ta_lat_small *x) {
  return x->binned && ta_lat_small_error(x) > 0;
}

/* min, median, max of a small latency set, each null without samples.
 * The ends are whole microseconds (ta_lat_small_min and _max in ns), so
 * they are written as such; the median may fall between two. */
static char *small_put(char *p, int digits, const struct ta_lat_small *x) {
  if (!x->count) {
    p = LIT(p, ",\"min\":null,\"median\":null,\"max\":null,\"median_error\":");
    return small_error_put(p, x);
  }
  p = LIT(p, ",\"min\":");
  char *s = p;
  p = ta__jput_us(p, x->min_us, digits);
  size_t n = (size_t)(p - s);
  p = LIT(p, ",\"median\":");
  p = put_secs_same(p, digits, ta__conn_lat_median(x),
                    (int64_t)x->min_us * 1000, s, n);
  p = LIT(p, ",\"max\":");
  p = x->max_us == x->min_us ? ta__jput_again(p, s, n)
                             : ta__jput_us(p, x->max_us, digits);
  p = LIT(p, ",\"median_error\":");
  return small_error_put(p, x);
}

/* Whether every sample of l was its min, so that its average is the min
 * exactly: the sum is samples times the min and small enough to be a
 * double exactly, so ta_lat_leg_avg's quotient is the min and its product
 * the min's nanoseconds, with nothing to round (a test holds it to that). */
static bool leg_all_min(const struct ta_lat_leg *l) {
  return l->min_us == l->max_us &&
         l->sum_us == (uint64_t)l->min_us * l->samples &&
         l->sum_us < (1ull << 53);
}

/* One leg's samples, min, avg, max (docs/latency.md); null without them.
 * Most legs hold one sample: its text is written once and copied. */
static char *rtt_leg_put(char *p, int digits, const struct ta_lat_leg *l) {
  if (!l->samples)
    return LIT(p, "null");
  p = LIT(p, "{\"samples\":");
  p = ta__jput_u64(p, l->samples);
  p = LIT(p, ",\"min\":");
  char *s = p;
  p = ta__jput_us(p, l->min_us, digits);
  size_t n = (size_t)(p - s);
  p = LIT(p, ",\"avg\":");
  if (leg_all_min(l)) {
    p = ta__jput_again(p, s, n);
    p = LIT(p, ",\"max\":");
    p = ta__jput_again(p, s, n);
  } else {
    p = ta__jput_secs(p, ta_lat_leg_avg(l), digits);
    p = LIT(p, ",\"max\":");
    p = ta__jput_us(p, l->max_us, digits);
  }
  *p++ = '}';
  return p;
}

/* Round trips; null when nothing was measured, as for most refused and
 * unanswered attempts. */
PART rtt_put(char *p, int digits, const struct ta_conn *c) {
  const struct ta_lat_small *r = &c->lat.rtt;
  const struct ta_lat_leg *to_resp = &c->side[TA_DIR_ORIG].lat;
  const struct ta_lat_leg *to_orig = &c->side[TA_DIR_RESP].lat;
  /* ta_lat_handshake's test; its ns are hs_us whole microseconds */
  bool hs = c->lat.flags & TA_LAT_HS_DONE;
  if (!r->count && !hs && !to_resp->samples && !to_orig->samples &&
      !small_has_error(r))
    return LIT(p, ",\"rtt\":null");
  p = LIT(p, ",\"rtt\":{\"samples\":");
  p = ta__jput_u64(p, r->count);
  p = small_put(p, digits, r);
  p = LIT(p, ",\"handshake\":");
  p = hs ? ta__jput_us(p, c->lat.hs_us, digits) : LIT(p, "null");
  p = LIT(p, ",\"to_resp\":");
  p = rtt_leg_put(p, digits, to_resp);
  p = LIT(p, ",\"to_orig\":");
  p = rtt_leg_put(p, digits, to_orig);
  *p++ = '}';
  return p;
}

/* Server response times; null when no exchange and no first answer. */
PART response_put(char *p, int digits, const struct ta_conn *c) {
  const struct ta_lat_small *x = &c->lat.response;
  int64_t first = c->side[TA_DIR_RESP].first_payload_ts;
  bool have_first = c->established_ts && first >= c->established_ts;
  if (!x->count && !have_first && !small_has_error(x))
    return LIT(p, ",\"response\":null");
  p = LIT(p, ",\"response\":{\"count\":");
  p = ta__jput_u64(p, x->count);
  p = small_put(p, digits, x);
  p = LIT(p, ",\"first\":");
  p = put_secs_or_null(p, digits, have_first, first - c->established_ts);
  *p++ = '}';
  return p;
}

static const char *const anomaly_names[] = {
    "snaplen_truncated", "ip_padded", "ip_options", "tcp_option_bad",
    "tcp_option_after_eol", "tcp_reserved_bits", "urg_ptr_without_urg",
    "ts_ecr_on_syn", "tcp_truncated", "ip_total_length_short"};

PART anomalies_put(char *p, uint32_t bits) {
  p = LIT(p, ",\"anomalies\":[");
  bool any = false;
  for (unsigned i = 0; bits && i < sizeof anomaly_names / sizeof anomaly_names[0];
       i++)
    if (bits & (1u << i)) {
      if (any)
        *p++ = ',';
      p = put_name(p, anomaly_names[i]);
      any = true;
    }
  *p++ = ']';
  return p;
}

/* A ladder step after its time: ,"orig",2,0,0,64240,0] (see ladder_put). */
static char *step_tail_put(char *p, const struct ta_ladder_pkt *k) {
  p = k->dir == TA_DIR_ORIG ? LIT(p, ",\"orig\",") : LIT(p, ",\"resp\",");
  p = ta__jput_u64(p, k->flags);
  *p++ = ',';
  p = ta__jput_u64(p, k->seq_rel);
  *p++ = ',';
  p = ta__jput_u64(p, k->ack_rel);
  *p++ = ',';
  p = ta__jput_u64(p, k->window);
  *p++ = ',';
  p = ta__jput_u64(p, k->payload);
  *p++ = ']';
  return p;
}

/* The memo's key of a step without payload whose seq and ack are at most
 * 1: a SYN, a SYN/ACK, the ACK completing a handshake, a refusal's RST.
 * Such steps make most of the ladders written (those of refused and
 * unanswered connections) and come in a few shapes, one per stack and
 * flag set, so their text is remembered. 0 for any other step: its
 * numbers are the connection's own, and would only crowd the memo. */
static uint64_t step_key(const struct ta_ladder_pkt *k) {
  if (k->payload || (k->seq_rel | k->ack_rel) > 1)
    return 0;
  return (uint64_t)'L' << 56 | (uint64_t)k->dir << 40 |
         (uint64_t)k->seq_rel << 33 | (uint64_t)k->ack_rel << 32 |
         (uint64_t)k->flags << 16 | k->window;
}

_Static_assert(sizeof(",\"resp\",255,1,1,65535,0]") - 1 <= TA_JSONW_WORD_TEXT,
               "a remembered step's text fits its entry");

/* step_tail_put, or the text of a step of the same shape from m (may be
 * NULL), copied whole. A miss formats the step and remembers it. */
static inline char *step_tail_memo(char *p, struct ta_jsonw_memo *m,
                                   const struct ta_ladder_pkt *k) {
  uint64_t key = step_key(k);
  if (!m || !key)
    return step_tail_put(p, k);
  bool hit;
  struct ta_jsonw_memo_word *e = ta_jsonw_memo_word(m, key, &hit);
  if (hit) {
    memcpy(p, e->text, TA_JSONW_WORD_TEXT);
    return p + e->len;
  }
  char *end = step_tail_put(p, k);
  e->key = key;
  e->len = (uint8_t)(end - p);
  memcpy(e->text, p, TA_JSONW_WORD_TEXT);
  return end;
}

/* Each packet is [t, dir, flags, seq, ack, win, len]: positions rather
 * than keys, since a ladder can hold a dozen packets. */
PART ladder_put(char *p, int digits, struct ta_jsonw_memo *m,
                const struct ta_conn *c) {
  p = LIT(p, ",\"ladder\":{\"packets\":[");
  for (uint8_t i = 0; i < c->n_ladder && i < TA_LADDER_PKTS; i++) {
    const struct ta_ladder_pkt *k = &c->ladder[i];
    p = i ? LIT(p, ",[") : LIT(p, "[");
    p = ta__jput_us(p, k->dt_us, digits);
    p = step_tail_memo(p, m, k);
  }
  p = LIT(p, "],\"more\":");
  p = ta__jput_u64(p, c->ladder_more);
  *p++ = '}';
  return p;
}

static char *summary_put(char *p, const struct ta_conn *c);

/* The history, quoted: letters of the program's own (Zeek's, and '^' for
 * swapped roles), so not scanned for escapes. The whole array is copied
 * (a constant size, within the room) and the end moved to its length. */
static char *history_put(char *p, const struct ta_conn *c, uint8_t hist) {
  *p++ = '"';
  memcpy(p, c->history, sizeof c->history);
  p += hist;
  *p++ = '"';
  return p;
}

/* first_ts through close. The summary and the reason are the program's own
 * text (reasons are static strings in lib/conn.c): neither is scanned. */
PART times_put(char *p, struct ta_jsonw *w, const struct ta_conn *c,
               const char *reason, size_t reason_len,
               const struct ta__conn_json_again *again) {
  p = LIT(p, ",\"first_ts\":\"");
  p = again ? again32(p, again->first_ts)
            : ta__jput_time(p, c->first_ts, w->digits, w->memo);
  p = LIT(p, "\",\"duration\":");
  p = ta__jput_secs(p, c->last_ts - c->first_ts, w->digits);
  p = c->syn_seen        ? LIT(p, ",\"originator_from\":\"syn\"")
      : c->roles_guessed ? LIT(p, ",\"originator_from\":\"first_packet\"")
                         : LIT(p, ",\"originator_from\":\"synack\"");
  p = LIT(p, ",\"scenario\":");
  p = put_quoted(p, scenario_quoted, TA_SC_COUNT, (unsigned)c->scenario);
  p = LIT(p, ",\"reason\":");
  p = reason ? ta__jput_name(p, reason, reason_len) : LIT(p, "null");
  p = LIT(p, ",\"summary\":\"");
  p = again ? again160(p, again->summary) : ta__conn_summary_put(p, c);
  *p++ = '"';
  p = syn_put(p, w->digits, c);
  return close_put(p, w->digits, c);
}

static const char *reason_of(const struct ta_conn *c) {
  return c->scenario == TA_SC_OTHER ? c->other_reason : NULL;
}

static uint8_t history_len(const struct ta_conn *c) {
  return c->history_len < TA_MAX_HISTORY ? c->history_len : TA_MAX_HISTORY;
}

/* A record's room, less the reason's (six bytes a byte, as if escaped)
 * and the history's (copied whole). */
#define ROOM                                                                   \
  (64 + 2 * SIDE_ROOM + TIMES_ROOM + SUMMARY_MAX + LATENCY_ROOM + STATE_ROOM + \
   LADDER_ROOM)

size_t ta__conn_json_room(const struct ta_conn *c) {
  const char *reason = reason_of(c);
  return ROOM + 6 * (reason ? strlen(reason) : 0) + sizeof c->history + 2;
}

PART fields_put(char *p, struct ta_jsonw *w, const struct ta_conn *c,
                bool with_ladder, const char *reason, size_t reason_len,
                const struct ta__conn_json_again *again) {
  int digits = w->digits;
  p = LIT(p, "\"id\":");
  p = again ? again32(p, again->id) : ta__jput_u64(p, c->id);
  p = c->family == 6 ? LIT(p, ",\"family\":\"ipv6\"")
                     : LIT(p, ",\"family\":\"ipv4\"");
  p = side_put(p, w, c, TA_DIR_ORIG, again);
  p = side_put(p, w, c, TA_DIR_RESP, again);
  p = times_put(p, w, c, reason, reason_len, again);
  p = rtt_put(p, digits, c);
  p = response_put(p, digits, c);
  p = LIT(p, ",\"conn_state\":");
  p = put_quoted(p, state_quoted, TA_CS_COUNT, (unsigned)c->conn_state);
  p = LIT(p, ",\"history\":");
  p = history_put(p, c, history_len(c));
  p = LIT(p, ",\"end_reason\":");
  p = put_quoted(p, end_quoted, TA_END_COUNT, (unsigned)c->end_reason);
  p = anomalies_put(p, c->anomalies);
  if (with_ladder)
    p = ladder_put(p, digits, w->memo, c);
  return p;
}

char *ta__conn_json_put(char *p, struct ta_jsonw *w, const struct ta_conn *c,
                        bool with_ladder,
                        const struct ta__conn_json_again *again) {
  const char *reason = reason_of(c);
  return fields_put(p, w, c, with_ladder, reason, reason ? strlen(reason) : 0,
                    again);
}

/* The fields of c, in braces of their own when object (then as the next
 * value of w, its separator included), in one room. */
static void fields_write(struct ta_jsonw *w, const struct ta_conn *c,
                         bool with_ladder, bool object) {
  const char *reason = reason_of(c);
  size_t reason_len = reason ? strlen(reason) : 0;
  size_t room = 2 * TA_JSONW_OBJ_ROOM + ta__conn_json_room(c);
  char *d = ta_jsonw_room(w, room), *p = d;
  if (object)
    p = ta__jput_obj_begin(w, p);
  p = ta__jput_sep(w, p);
  p = fields_put(p, w, c, with_ladder, reason, reason_len, NULL);
  if (object)
    p = ta__jput_obj_end(w, p);
  ta_jsonw_room_done(w, d, p);
}

void ta__conn_json_fields(struct ta_jsonw *w, const struct ta_conn *c,
                          bool with_ladder) {
  fields_write(w, c, with_ladder, false);
}

void ta__conn_json_object(struct ta_jsonw *w, const struct ta_conn *c,
                          bool with_ladder) {
  fields_write(w, c, with_ladder, true);
}

/* "0.13 ms", "350 ms", "5.0 s": a person's resolution for a duration. */
static char *span_put(char *p, int64_t ns) {
  uint64_t v = ns < 0 ? 0 : (uint64_t)ns;
  if (v < 10000000u) { /* below 10 ms: hundredths of a millisecond */
    uint64_t units = (v + 5000) / 10000;
    p = ta__jput_u64(p, units / 100);
    *p++ = '.';
    *p++ = (char)('0' + units % 100 / 10);
    *p++ = (char)('0' + units % 10);
    return LIT(p, " ms");
  }
  if (v < 1000000000u) {
    p = ta__jput_u64(p, (v + 500000) / 1000000);
    return LIT(p, " ms");
  }
  uint64_t units = (v + 50000000) / 100000000;
  p = ta__jput_u64(p, units / 10);
  *p++ = '.';
  *p++ = (char)('0' + units % 10);
  return LIT(p, " s");
}

static char *who_put(char *p, const struct ta_conn *c) {
  return c->close_initiator == 1 + TA_DIR_ORIG ? LIT(p, "client")
                                               : LIT(p, "server");
}

/* The summary, at most SUMMARY_MAX + 1 bytes (a reason is cut to fit). */
static char *summary_put(char *p, const struct ta_conn *c) {
  int64_t after = c->close_ts && c->established_ts
                      ? c->close_ts - c->established_ts : 0;
  switch (c->scenario) {
  case TA_SC_COMPLETED:
    p = LIT(p, "completed; the ");
    p = who_put(p, c);
    p = LIT(p, " closed first, ");
    p = span_put(p, after);
    return LIT(p, " after the handshake");
  case TA_SC_REFUSED:
    p = LIT(p, "refused");
    if (c->syn_count > 1) {
      *p++ = ' ';
      p = ta__jput_u64(p, c->syn_count);
      p = LIT(p, " times in ");
      p = span_put(p, c->last_syn_ts - c->first_syn_ts);
    }
    return p;
  case TA_SC_UNANSWERED:
    p = ta__jput_u64(p, c->syn_count);
    p = c->syn_count == 1 ? LIT(p, " SYN unanswered over ")
                          : LIT(p, " SYNs unanswered over ");
    return span_put(p, c->last_syn_ts - c->first_syn_ts);
  case TA_SC_ACCEPTED_THEN_CLOSED:
    p = LIT(p, "accepted, then closed by the server (");
    p = c->close_how == TA_CLOSE_RST ? LIT(p, "RST) ") : LIT(p, "FIN) ");
    p = span_put(p, after);
    return LIT(p, " after the handshake without sending data");
  case TA_SC_RESET:
    p = LIT(p, "reset by the ");
    p = who_put(p, c);
    *p++ = ' ';
    p = span_put(p, after);
    return LIT(p, " after the handshake");
  case TA_SC_HALF_CLOSED:
    p = LIT(p, "half-closed by the ");
    p = who_put(p, c);
    return LIT(p, "; the other side never closed");
  case TA_SC_OPEN:
    return LIT(p, "still open when the capture ended");
  case TA_SC_HANDSHAKE_INCOMPLETE:
    return LIT(p, "SYN answered, but the handshake never completed");
  case TA_SC_MIDSTREAM:
    return LIT(p, "began before the capture (no SYN seen)");
  default: {
    const char *r = c->other_reason ? c->other_reason : "?";
    size_t n = strnlen(r, SUMMARY_MAX);
    p = LIT(p, "other: ");
    memcpy(p, r, n);
    return p + n;
  }
  }
}

char *ta__conn_summary_put(char *p, const struct ta_conn *c) {
  char *s = p;
  p = summary_put(p, c);
  return p - s > SUMMARY_MAX ? s + SUMMARY_MAX : p;
}

char *ta__conn_scenario_put(char *p, int scenario) {
  return put_quoted(p, scenario_quoted, TA_SC_COUNT, (unsigned)scenario);
}

void ta__conn_summary(char *buf, size_t len, const struct ta_conn *c) {
  char tmp[SUMMARY_MAX + 16];
  if (!len)
    return;
  size_t n = (size_t)(summary_put(tmp, c) - tmp);
  if (n > len - 1)
    n = len - 1;
  memcpy(buf, tmp, n);
  buf[n] = 0;
}
