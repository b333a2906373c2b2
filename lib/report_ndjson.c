/* tcpaudit - reporters: one ECS event per connection (-f ndjson).
 * Writes and flushes one line as each connection is finalized, so the output
 * can be followed with tail -f and shipped as it grows; holds no state beyond
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

/* ECS event.outcome: did the connection get through the handshake? */
static const char *outcome_of(const struct ta_conn *c) {
  switch (c->scenario) {
  case TA_SC_REFUSED:
  case TA_SC_UNANSWERED:
  case TA_SC_HANDSHAKE_INCOMPLETE:
    return "failure";
  case TA_SC_COMPLETED:
  case TA_SC_ACCEPTED_THEN_CLOSED:
  case TA_SC_RESET:
  case TA_SC_HALF_CLOSED:
  case TA_SC_OPEN:
    return "success";
  default:
    return "unknown";
  }
}

static void event_fields(struct ta_jsonw *w, const struct ta_conn *c) {
  ta_jsonw_key(w, "event");
  ta_jsonw_obj_begin(w);
  ta_jsonw_kname(w, "kind", "event");
  ta_jsonw_key(w, "category");
  ta_jsonw_arr_begin(w);
  ta_jsonw_name(w, "network");
  ta_jsonw_arr_end(w);
  ta_jsonw_key(w, "type");
  ta_jsonw_arr_begin(w);
  ta_jsonw_name(w, "connection");
  if (c->scenario == TA_SC_REFUSED)
    ta_jsonw_name(w, "denied");
  /* "end" when the connection is over, not merely cut off by the capture
   * or the table */
  if (c->end_reason != TA_END_CAPTURE_END && c->end_reason != TA_END_EVICTED)
    ta_jsonw_name(w, "end");
  ta_jsonw_arr_end(w);
  ta_jsonw_kname(w, "action", ta_scenario_name(c->scenario));
  ta_jsonw_kname(w, "outcome", outcome_of(c));
  ta_jsonw_ktime(w, "start", c->first_ts);
  ta_jsonw_ktime(w, "end", c->last_ts);
  ta_jsonw_key(w, "duration");
  ta_jsonw_i64(w, c->last_ts - c->first_ts);
  ta_jsonw_kname(w, "module", "tcpaudit");
  ta_jsonw_kname(w, "dataset", "tcpaudit.connection");
  ta_jsonw_ku64(w, "sequence", c->id);
  ta_jsonw_obj_end(w);
}

static void endpoint_fields(struct ta_jsonw *w, const char *key,
                            const struct ta_conn *c, int d, const char *ip) {
  const struct ta_side *s = &c->side[d];
  ta_jsonw_key(w, key);
  ta_jsonw_obj_begin(w);
  ta_jsonw_kname(w, "ip", ip);
  ta_jsonw_kname(w, "address", ip);
  ta_jsonw_ku64(w, "port", s->port);
  ta_jsonw_ku64(w, "bytes", s->ip_bytes);
  ta_jsonw_ku64(w, "packets", s->pkts);
  ta_jsonw_obj_end(w);
}

static void network_fields(struct ta_jsonw *w, const struct ta_conn *c,
                           uint16_t seed) {
  struct ta_flow_tuple t = {.family = c->family, .proto = 6,
                            .sport = c->side[TA_DIR_ORIG].port,
                            .dport = c->side[TA_DIR_RESP].port,
                            .has_ports = true};
  memcpy(t.src, c->side[TA_DIR_ORIG].ip, 16);
  memcpy(t.dst, c->side[TA_DIR_RESP].ip, 16);
  char cid[TA_COMMUNITY_ID_LEN];
  bool have_cid = ta_community_id(cid, sizeof cid, seed, &t) == 0;
  ta_jsonw_key(w, "network");
  ta_jsonw_obj_begin(w);
  ta_jsonw_kname(w, "transport", "tcp");
  ta_jsonw_kname(w, "type", c->family == 6 ? "ipv6" : "ipv4");
  ta_jsonw_kname(w, "iana_number", "6");
  ta_jsonw_ku64(w, "bytes", c->side[0].ip_bytes + c->side[1].ip_bytes);
  ta_jsonw_ku64(w, "packets", c->side[0].pkts + c->side[1].pkts);
  if (have_cid)
    ta_jsonw_kname(w, "community_id", cid);
  ta_jsonw_obj_end(w);
}

static void related_fields(struct ta_jsonw *w, const char *a, const char *b) {
  ta_jsonw_key(w, "related");
  ta_jsonw_obj_begin(w);
  ta_jsonw_key(w, "ip");
  ta_jsonw_arr_begin(w);
  ta_jsonw_name(w, a);
  if (strcmp(a, b) != 0)
    ta_jsonw_name(w, b);
  ta_jsonw_arr_end(w);
  ta_jsonw_obj_end(w);
}

/* One event line, newline included. */
static void ndjson_event(struct ta_sink *out, uint16_t seed, int digits,
                         struct ta_jsonw_memo *memo, const struct ta_conn *c) {
  struct ta_jsonw wr, *w = &wr;
  char summary[160], ip[2][64]; /* each address is written three times */
  ta_addr_format(ip[0], sizeof ip[0], c->family, c->side[0].ip);
  ta_addr_format(ip[1], sizeof ip[1], c->family, c->side[1].ip);
  ta_jsonw_init(w, out, 0, digits);
  ta_jsonw_set_memo(w, memo);
  ta_jsonw_obj_begin(w);
  ta_jsonw_ktime(w, "@timestamp", c->first_ts);
  ta_jsonw_key(w, "ecs");
  ta_jsonw_obj_begin(w);
  ta_jsonw_kname(w, "version", NDJSON_ECS_VERSION);
  ta_jsonw_obj_end(w);
  ta__conn_summary(summary, sizeof summary, c);
  ta_jsonw_kname(w, "message", summary);
  event_fields(w, c);
  endpoint_fields(w, "source", c, TA_DIR_ORIG, ip[TA_DIR_ORIG]);
  endpoint_fields(w, "destination", c, TA_DIR_RESP, ip[TA_DIR_RESP]);
  network_fields(w, c, seed);
  related_fields(w, ip[0], ip[1]);
  ta_jsonw_key(w, "tcpaudit");
  ta_jsonw_obj_begin(w);
  ta__conn_json_fields(w, c, c->scenario != TA_SC_COMPLETED);
  ta_jsonw_obj_end(w);
  ta_jsonw_obj_end(w);
  ta_sink_write(out, "\n", 1);
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
