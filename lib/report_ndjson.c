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
 * ta_jsonw_room), in one room with its tcpaudit member so that the member
 * copies the values the event stated (struct ta__conn_json_again) rather
 * than formatting them again: room for the event's longest form is added
 * to the record's; the keys and punctuation are constant runs. The bound
 * counts three copies of each address (45 bytes at most), the summary,
 * four timestamps and a dozen numbers, rounded up generously. */
#define EVENT_HEAD_ROOM 2048

#define LIT TA_JPUT_LIT

/* A value's text: from s to the end e of what was written. */
static struct ta__jtext text_of(const char *s, const char *e) {
  return (struct ta__jtext){s, (size_t)(e - s)};
}

/* A value written again within the room, as a whole field of 32 or 48
 * bytes (see ta__jput_again). */
static char *again32(char *p, struct ta__jtext t) {
  return ta__jput_again(p, t.s, t.n);
}
static char *again48(char *p, struct ta__jtext t) {
  return ta__jput_again48(p, t.s, t.n);
}

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

/* start is @timestamp again (a->first_ts, unquoted); a->id is set to the
 * sequence. */
static char *event_put(char *p, struct ta_jsonw *w, const struct ta_conn *c,
                       struct ta__conn_json_again *a) {
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
  p = LIT(p, ",\"start\":\"");
  p = again32(p, a->first_ts);
  p = LIT(p, "\",\"end\":");
  p = put_time(p, w, c->last_ts);
  p = LIT(p, ",\"duration\":");
  p = put_i64(p, c->last_ts - c->first_ts);
  p = LIT(p, ",\"module\":\"tcpaudit\",\"dataset\":\"tcpaudit.connection\","
             "\"sequence\":");
  char *v = p;
  p = ta__jput_u64(p, c->id);
  a->id = text_of(v, p);
  *p++ = '}';
  return p;
}

/* An endpoint, its address (formatted before, in a) as ip and again as
 * address; the texts of the numbers are kept in a for the tcpaudit
 * member. */
static char *endpoint_put(char *p, const struct ta_conn *c, int d,
                          struct ta__conn_json_again *a) {
  const struct ta_side *s = &c->side[d];
  p = d == TA_DIR_ORIG ? LIT(p, ",\"source\":{\"ip\":\"")
                       : LIT(p, ",\"destination\":{\"ip\":\"");
  p = again48(p, a->ip[d]);
  p = LIT(p, "\",\"address\":\"");
  p = again48(p, a->ip[d]);
  p = LIT(p, "\",\"port\":");
  char *v = p;
  p = ta__jput_u64(p, s->port);
  a->port[d] = text_of(v, p);
  p = LIT(p, ",\"bytes\":");
  v = p;
  p = ta__jput_u64(p, s->ip_bytes);
  a->bytes[d] = text_of(v, p);
  p = LIT(p, ",\"packets\":");
  v = p;
  p = ta__jput_u64(p, s->pkts);
  a->pkts[d] = text_of(v, p);
  *p++ = '}';
  return p;
}

/* Both addresses' texts, into addr, for every place the event states
 * them. They are formatted first, well before they are copied: a copy
 * reads the field whole, and read right after the text was stored (a few
 * bytes at a time) it would wait for those stores to reach the cache. */
static void addresses_format(char addr[2][48], const struct ta_conn *c,
                             struct ta__conn_json_again *a) {
  for (int d = 0; d < 2; d++)
    a->ip[d] = text_of(addr[d], ta__jput_addr(addr[d], c->family,
                                              c->side[d].ip));
}

/* network, with the Community ID written in place (a digest that fails,
 * which only an EVP-only libcrypto could, leaves it out). */
static char *network_put(char *p, const struct ta_conn *c, uint16_t seed) {
  struct ta_flow_tuple t = {.family = c->family, .proto = 6,
                            .sport = c->side[TA_DIR_ORIG].port,
                            .dport = c->side[TA_DIR_RESP].port,
                            .has_ports = true};
  memcpy(t.src, c->side[TA_DIR_ORIG].ip, 16);
  memcpy(t.dst, c->side[TA_DIR_RESP].ip, 16);
  p = c->family == 6
          ? LIT(p, ",\"network\":{\"transport\":\"tcp\",\"type\":\"ipv6\"")
          : LIT(p, ",\"network\":{\"transport\":\"tcp\",\"type\":\"ipv4\"");
  p = LIT(p, ",\"iana_number\":\"6\",\"bytes\":");
  p = ta__jput_u64(p, c->side[0].ip_bytes + c->side[1].ip_bytes);
  p = LIT(p, ",\"packets\":");
  p = ta__jput_u64(p, c->side[0].pkts + c->side[1].pkts);
  char *v = LIT(p, ",\"community_id\":\"");
  char *e = ta__community_id_put(v, seed, &t);
  if (e) {
    p = e;
    *p++ = '"';
  }
  *p++ = '}';
  return p;
}

/* Whether both ends have one address (the same text), compared as the
 * address bytes. */
static bool same_address(const struct ta_conn *c) {
  const uint8_t *a = c->side[0].ip, *b = c->side[1].ip;
  return c->family == 6 ? memcmp(a, b, 16) == 0 : memcmp(a, b, 4) == 0;
}

/* related.ip: each distinct address once. */
static char *related_put(char *p, const struct ta_conn *c,
                         const struct ta__conn_json_again *a) {
  p = LIT(p, ",\"related\":{\"ip\":[\"");
  p = again48(p, a->ip[0]);
  if (!same_address(c)) {
    p = LIT(p, "\",\"");
    p = again48(p, a->ip[1]);
  }
  return LIT(p, "\"]}");
}

/* One event line, newline included, in one room: the ECS fields, then
 * the record's (ta__conn_json_put) with the texts they share copied. */
static void ndjson_event(struct ta_sink *out, uint16_t seed, int digits,
                         struct ta_jsonw_memo *memo, const struct ta_conn *c) {
  struct ta_jsonw wr, *w = &wr;
  ta_jsonw_init(w, out, 0, digits);
  ta_jsonw_set_memo(w, memo);
  struct ta__conn_json_again a;
  char addr[2][48];
  addresses_format(addr, c, &a);
  char *d = ta_jsonw_room(w, EVENT_HEAD_ROOM + ta__conn_json_room(c)), *p = d;
  p = LIT(p, "{\"@timestamp\":\"");
  char *v = p;
  p = ta__jput_time(p, c->first_ts, w->digits, w->memo);
  a.first_ts = text_of(v, p);
  p = LIT(p, "\",\"ecs\":{\"version\":\"" NDJSON_ECS_VERSION
             "\"},\"message\":\"");
  v = p;
  p = ta__conn_summary_put(p, c);
  a.summary = text_of(v, p);
  *p++ = '"';
  p = event_put(p, w, c, &a);
  p = endpoint_put(p, c, TA_DIR_ORIG, &a);
  p = endpoint_put(p, c, TA_DIR_RESP, &a);
  p = network_put(p, c, seed);
  p = related_put(p, c, &a);
  p = LIT(p, ",\"tcpaudit\":{");
  p = ta__conn_json_put(p, w, c, c->scenario != TA_SC_COMPLETED, &a);
  p = LIT(p, "}}\n");
  ta_jsonw_room_done(w, d, p);
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
    .close = ndjson_close,
};
