/* tcpaudit - reporters: one ECS event per connection (-f ndjson).
 * Writes one line as each connection is finalized; the pipeline flushes
 * them as each moment of a live capture is over, so the output can be
 * followed with tail -f and shipped as it grows. Holds no state beyond
 * the writer. Shape: schemas/event.schema.json. */
#include <stdlib.h>
#include <string.h>

#include "ta_community_id.h"
#include "ta_conn_json.h"
#include "ta_error.h"
#include "ta_jsonw.h"
#include "ta_report.h"

/* The ECS release whose field definitions the events follow. */
#define NDJSON_ECS_VERSION "8.11.0"

struct ndjson_state {
  struct ta_sink *out;
  uint16_t seed;
  int digits;
  struct ta_jsonw_memo memo; /* shared by the events, one after another */
};

static int ndjson_open(void **state, struct ta_sink *out,
                       const struct ta_report_opts *o) {
  struct ndjson_state *s = calloc(1, sizeof *s);
  if (!s)
    return TA_ENOMEM;
  s->out = out;
  s->seed = o->community_id_seed;
  s->digits = o->ts_precision;
  *state = s;
  return 0;
}

/* ECS event.outcome: did the connection get through the handshake?
 * Quoted, in place. */
static char *outcome_put(char *p, const struct ta_conn *c) {
  switch (c->scenario) {
  case TA_SC_REFUSED:
  case TA_SC_UNANSWERED:
  case TA_SC_HANDSHAKE_INCOMPLETE:
    return TA_JPUT_LIT(p, "\"failure\"");
  case TA_SC_COMPLETED:
  case TA_SC_ACCEPTED_THEN_CLOSED:
  case TA_SC_RESET:
  case TA_SC_HALF_CLOSED:
  case TA_SC_OPEN:
    return TA_JPUT_LIT(p, "\"success\"");
  default:
    return TA_JPUT_LIT(p, "\"unknown\"");
  }
}

/* The event is written in place, as the json record is (see
 * ta_jsonw_room): room for its longest form before the tcpaudit member is
 * taken once, the keys and punctuation are constant runs. The bound counts
 * three copies of each address (45 bytes at most), the summary, four
 * timestamps and a dozen numbers, rounded up generously. */
#define EVENT_HEAD_ROOM 2048

#define LIT TA_JPUT_LIT

/* "<timestamp>", quoted. */
static char *put_time(char *p, struct ta_jsonw *w, int64_t ns) {
  *p++ = '"';
  p = ta__jput_time(p, ns, w->digits, w->memo);
  *p++ = '"';
  return p;
}

static char *put_i64(char *p, int64_t v) {
  if (v < 0)
    *p++ = '-';
  return ta__jput_u64(p, v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v);
}

/* start is @timestamp again: its text (ts, n bytes, quoted) is copied. */
static char *event_put(char *p, struct ta_jsonw *w, const struct ta_conn *c,
                       const char *ts, size_t ts_len) {
  p = LIT(p, ",\"event\":{\"kind\":\"event\",\"category\":[\"network\"],"
             "\"type\":[\"connection\"");
  if (c->scenario == TA_SC_REFUSED)
    p = LIT(p, ",\"denied\"");
  /* "end" when the connection is over, not merely cut off by the capture
   * or the table */
  if (c->end_reason != TA_END_CAPTURE_END && c->end_reason != TA_END_EVICTED)
    p = LIT(p, ",\"end\"");
  p = LIT(p, "],\"action\":");
  p = ta__conn_scenario_put(p, c->scenario);
  p = LIT(p, ",\"outcome\":");
  p = outcome_put(p, c);
  p = LIT(p, ",\"start\":");
  memcpy(p, ts, ts_len);
  p += ts_len;
  p = LIT(p, ",\"end\":");
  p = put_time(p, w, c->last_ts);
  p = LIT(p, ",\"duration\":");
  p = put_i64(p, c->last_ts - c->first_ts);
  p = LIT(p, ",\"module\":\"tcpaudit\",\"dataset\":\"tcpaudit.connection\","
             "\"sequence\":");
  p = ta__jput_u64(p, c->id);
  *p++ = '}';
  return p;
}

/* An endpoint, its address as ip and again as address; *ip and *ip_len
 * give where the address text was written, to be copied, not formatted
 * again, into related. */
static char *endpoint_put(char *p, const struct ta_conn *c, int d,
                          const char **ip, size_t *ip_len) {
  const struct ta_side *s = &c->side[d];
  p = d == TA_DIR_ORIG ? LIT(p, ",\"source\":{\"ip\":\"")
                       : LIT(p, ",\"destination\":{\"ip\":\"");
  char *a = p;
  p = ta__jput_addr(p, c->family, s->ip);
  size_t n = (size_t)(p - a);
  p = LIT(p, "\",\"address\":\"");
  memcpy(p, a, n);
  p += n;
  p = LIT(p, "\",\"port\":");
  p = ta__jput_u64(p, s->port);
  p = LIT(p, ",\"bytes\":");
  p = ta__jput_u64(p, s->ip_bytes);
  p = LIT(p, ",\"packets\":");
  p = ta__jput_u64(p, s->pkts);
  *p++ = '}';
  *ip = a;
  *ip_len = n;
  return p;
}

static char *network_put(char *p, const struct ta_conn *c, uint16_t seed) {
  struct ta_flow_tuple t = {.family = c->family, .proto = 6,
                            .sport = c->side[TA_DIR_ORIG].port,
                            .dport = c->side[TA_DIR_RESP].port,
                            .has_ports = true};
  memcpy(t.src, c->side[TA_DIR_ORIG].ip, 16);
  memcpy(t.dst, c->side[TA_DIR_RESP].ip, 16);
  char cid[TA_COMMUNITY_ID_LEN];
  bool have_cid = ta_community_id(cid, sizeof cid, seed, &t) == 0;
  p = c->family == 6
          ? LIT(p, ",\"network\":{\"transport\":\"tcp\",\"type\":\"ipv6\"")
          : LIT(p, ",\"network\":{\"transport\":\"tcp\",\"type\":\"ipv4\"");
  p = LIT(p, ",\"iana_number\":\"6\",\"bytes\":");
  p = ta__jput_u64(p, c->side[0].ip_bytes + c->side[1].ip_bytes);
  p = LIT(p, ",\"packets\":");
  p = ta__jput_u64(p, c->side[0].pkts + c->side[1].pkts);
  if (have_cid) {
    p = LIT(p, ",\"community_id\":\"");
    memcpy(p, cid, TA_COMMUNITY_ID_LEN - 1);
    p += TA_COMMUNITY_ID_LEN - 1;
    *p++ = '"';
  }
  *p++ = '}';
  return p;
}

/* related.ip: each distinct address once. */
static char *related_put(char *p, const char *a, size_t an, const char *b,
                         size_t bn) {
  p = LIT(p, ",\"related\":{\"ip\":[");
  p = ta__jput_name(p, a, an);
  if (an != bn || memcmp(a, b, an) != 0) {
    *p++ = ',';
    p = ta__jput_name(p, b, bn);
  }
  return LIT(p, "]}");
}

/* One event line, newline included. */
static void ndjson_event(struct ta_sink *out, uint16_t seed, int digits,
                         struct ta_jsonw_memo *memo, const struct ta_conn *c) {
  struct ta_jsonw wr, *w = &wr;
  ta_jsonw_init(w, out, 0, digits);
  ta_jsonw_set_memo(w, memo);
  char *d = ta_jsonw_room(w, EVENT_HEAD_ROOM), *p = d;
  p = LIT(p, "{\"@timestamp\":");
  char *ts = p;
  p = put_time(p, w, c->first_ts);
  size_t ts_len = (size_t)(p - ts);
  p = LIT(p, ",\"ecs\":{\"version\":\"" NDJSON_ECS_VERSION "\"},\"message\":\"");
  p = ta__conn_summary_put(p, c);
  *p++ = '"';
  p = event_put(p, w, c, ts, ts_len);
  const char *ip[2];
  size_t ip_len[2];
  p = endpoint_put(p, c, TA_DIR_ORIG, &ip[0], &ip_len[0]);
  p = endpoint_put(p, c, TA_DIR_RESP, &ip[1], &ip_len[1]);
  p = network_put(p, c, seed);
  p = related_put(p, ip[0], ip_len[0], ip[1], ip_len[1]);
  p = LIT(p, ",\"tcpaudit\":{");
  ta_jsonw_room_done(w, d, p);
  /* w has written nothing yet: its first member goes in without a comma */
  ta__conn_json_fields(w, c, c->scenario != TA_SC_COMPLETED);
  ta_sink_write(out, "}}\n", 3);
}

/* Lines are pushed out at each flush, not each line: a capture point's
 * moment can finalize many connections, and one write for all of them
 * costs a system call instead of one each. */
static void ndjson_connection(void *state, const struct ta_conn *c) {
  struct ndjson_state *s = state;
  ndjson_event(s->out, s->seed, s->digits, &s->memo, c);
}

static void ndjson_flush(void *state) {
  struct ndjson_state *s = state;
  ta_sink_flush(s->out);
}

static void ndjson_format(const struct ta_report_opts *o,
                          const struct ta_conn *c, struct ta_sink *mem,
                          void *scratch) {
  ndjson_event(mem, o->community_id_seed, o->ts_precision, scratch, c);
}

static void ndjson_formatted(void *state, const struct ta_conn *c,
                             const char *text, size_t len) {
  struct ndjson_state *s = state;
  (void)c;
  ta_sink_write(s->out, text, len);
}

static void ndjson_host(void *state, const struct ta_host *h) {
  (void)state;
  (void)h;
}

static int ndjson_close(void *state, const struct ta_summary *sum) {
  struct ndjson_state *s = state;
  (void)sum;
  int rc = ta_sink_flush(s->out);
  free(s);
  return rc;
}

const struct ta_reporter ta_report_ndjson = {
    .name = "ndjson",
    .help = "one ECS event per connection and line, written as each ends",
    .open = ndjson_open,
    .on_connection = ndjson_connection,
    .format_connection = ndjson_format,
    .format_scratch_size = sizeof(struct ta_jsonw_memo),
    .on_formatted = ndjson_formatted,
    .flush = ndjson_flush,
    .on_host = ndjson_host,
    .close = ndjson_close,
};
