/* tcpaudit - reporters: the whole-capture JSON report (-f json).
 * Streams "connections" as they are finalized, then "hosts", then the
 * inputs and counters known only at the end; one connection per line.
 * Shape: schemas/report.schema.json ("schema": "tcpaudit.report/2"). */
#include <pcap/pcap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ta_conn_json.h"
#include "ta_error.h"
#include "ta_fingerprint.h"
#include "ta_jsonw.h"
#include "ta_report.h"

struct json_state {
  struct ta_jsonw w;
  struct ta_sink *out;
  bool in_hosts;
  struct ta_jsonw_memo memo; /* shared by the records, one after another */
  /* the last relative error written and its text: a distribution's error
   * is one of a few per level, and printf is most of a service's cost */
  double err;
  char err_text[32];
  size_t err_len;
};

static int json_open(void **state, struct ta_sink *out,
                     const struct ta_report_opts *o) {
  struct json_state *s = calloc(1, sizeof *s);
  if (!s)
    return TA_ENOMEM;
  s->out = out;
  ta_jsonw_init(&s->w, out, 2, o->ts_precision);
  ta_jsonw_set_pretty_depth(&s->w, 2);
  ta_jsonw_set_memo(&s->w, &s->memo);
  ta_jsonw_obj_begin(&s->w);
  ta_jsonw_kstr(&s->w, "schema", "tcpaudit.report/2");
  ta_jsonw_key(&s->w, "generator");
  ta_jsonw_obj_begin(&s->w);
  ta_jsonw_kstr(&s->w, "name", "tcpaudit");
  ta_jsonw_kstr(&s->w, "version", TA_VERSION);
  ta_jsonw_obj_end(&s->w);
  ta_jsonw_key(&s->w, "connections");
  ta_jsonw_arr_begin(&s->w);
  *state = s;
  return 0;
}

/* One record object; its members are never broken into lines, so it reads
 * the same written inside the report or on its own. */
static void json_record(struct ta_jsonw *w, const struct ta_conn *c) {
  ta__conn_json_object(w, c, c->scenario != TA_SC_COMPLETED);
}

static void json_connection(void *state, const struct ta_conn *c) {
  struct json_state *s = state;
  json_record(&s->w, c);
}

static void json_format(const struct ta_report_opts *o, const struct ta_conn *c,
                        struct ta_sink *mem, void *scratch) {
  struct ta_jsonw w;
  ta_jsonw_init(&w, mem, 0, o->ts_precision);
  ta_jsonw_set_memo(&w, scratch);
  json_record(&w, c);
}

static void json_formatted(void *state, const struct ta_conn *c,
                           const char *text, size_t len) {
  struct json_state *s = state;
  (void)c;
  ta_jsonw_rawn(&s->w, text, len);
}

static void scenario_counts(struct ta_jsonw *w, const char *key,
                            const uint64_t *by) {
  ta_jsonw_key(w, key);
  ta_jsonw_obj_begin(w);
  for (int i = 0; i < TA_SC_COUNT; i++)
    if (by[i])
      ta_jsonw_ku64(w, ta_scenario_name(i), by[i]);
  ta_jsonw_obj_end(w);
}

/* ---- the host record, written in place (see ta_jsonw_room) ---- */

/* Room for the record up to its services: the address, two timestamps
 * and two roles of at most a dozen numbers and TA_SC_COUNT counts, each
 * part counted at its longest and rounded up generously. */
#define HOST_HEAD_ROOM (512 + 2 * (256 + TA_SC_COUNT * 48))
/* One service: its port, counts and two latency distributions. */
#define SERVICE_ROOM (256 + TA_SC_COUNT * 48 + 2 * 512)

#define LIT TA_JPUT_LIT

/* {"completed":3,...}: the scenarios seen, by name. */
static char *scenario_counts_put(char *p, const uint64_t *by) {
  bool any = false;
  *p++ = '{';
  for (int i = 0; i < TA_SC_COUNT; i++)
    if (by[i]) {
      if (any)
        *p++ = ',';
      p = ta__conn_scenario_put(p, i);
      *p++ = ':';
      p = ta__jput_u64(p, by[i]);
      any = true;
    }
  *p++ = '}';
  return p;
}

static char *role_put(char *p, const struct ta_host_role *r) {
  p = LIT(p, "{\"connections\":");
  p = ta__jput_u64(p, r->connections);
  p = LIT(p, ",\"by_scenario\":");
  p = scenario_counts_put(p, r->by_scenario);
  p = LIT(p, ",\"distinct_peers\":");
  p = ta__jput_u64(p, r->distinct_peers);
  p = LIT(p, ",\"distinct_targets\":");
  p = ta__jput_u64(p, r->distinct_targets);
  *p++ = '}';
  return p;
}

/* A quantile, or the text of the one before when equal (a service seen
 * once has all of them equal); *s, *n track the last text written. */
static char *quantile_put(char *p, int digits, int64_t ns, int64_t *prev,
                          char **s, size_t *n) {
  if (*s && ns == *prev)
    return ta__jput_again(p, *s, *n);
  char *e = ta__jput_secs(p, ns, digits);
  *prev = ns;
  *s = p;
  *n = (size_t)(e - p);
  return e;
}

/* Percentiles of one latency distribution (docs/latency.md), each null
 * without samples. */
static char *lat_dist_put(char *p, struct json_state *s,
                          const struct ta_lat_dist *d) {
  static const double q[] = {0.50, 0.95, 0.99};
  static const char key[][8] = {",\"p50\":", ",\"p95\":", ",\"p99\":"};
  int digits = s->w.digits;
  p = LIT(p, "{\"samples\":");
  p = ta__jput_u64(p, d->count);
  if (d->count) {
    int64_t prev = 0;
    char *text = NULL;
    size_t n = 0;
    for (size_t i = 0; i < sizeof q / sizeof q[0]; i++) {
      memcpy(p, key[i], 8);
      p = quantile_put(p + 7, digits, ta_lat_dist_quantile(d, q[i]), &prev,
                       &text, &n);
    }
    p = LIT(p, ",\"max\":");
    p = quantile_put(p, digits, ta_lat_dist_max(d), &prev, &text, &n);
  } else {
    p = LIT(p, ",\"p50\":null,\"p95\":null,\"p99\":null,\"max\":null");
  }
  double err = ta_lat_dist_error(d);
  if (err != s->err || !s->err_len) {
    int k = snprintf(s->err_text, sizeof s->err_text, "%.4f", err);
    s->err_len = k > 0 && (size_t)k < sizeof s->err_text ? (size_t)k : 0;
    s->err = err;
  }
  p = LIT(p, ",\"rel_error\":");
  memcpy(p, s->err_text, s->err_len);
  p += s->err_len;
  *p++ = '}';
  return p;
}

/* ,{"port":..,"by_scenario":..,"latency":..} (no comma for the first). */
static char *service_put(char *p, struct json_state *js,
                         const struct ta_service *s, bool first) {
  p = first ? LIT(p, "{\"port\":") : LIT(p, ",{\"port\":");
  p = ta__jput_u64(p, s->port);
  p = LIT(p, ",\"by_scenario\":");
  p = scenario_counts_put(p, s->by_scenario);
  if (!s->lat)
    return LIT(p, ",\"latency\":null}");
  p = LIT(p, ",\"latency\":{\"handshake_rtt\":");
  p = lat_dist_put(p, js, &s->lat->handshake);
  p = LIT(p, ",\"response\":");
  p = lat_dist_put(p, js, &s->lat->response);
  return LIT(p, "}}");
}

static void begin_hosts(struct json_state *s) {
  if (s->in_hosts)
    return;
  ta_jsonw_arr_end(&s->w);
  ta_jsonw_key(&s->w, "hosts");
  ta_jsonw_arr_begin(&s->w);
  s->in_hosts = true;
}

/* One host a line, its members in place: one room for the head, one per
 * service, one for the tail; the OS guess is written by the fingerprint
 * code. */
static void json_host(void *state, const struct ta_host *h) {
  struct json_state *s = state;
  struct ta_jsonw *w = &s->w;
  begin_hosts(s);
  ta_jsonw_obj_begin(w);
  char *d = ta_jsonw_room(w, HOST_HEAD_ROOM), *p = ta__jput_sep(w, d);
  p = LIT(p, "\"ip\":\"");
  p = ta__jput_addr(p, h->family, h->ip);
  p = LIT(p, "\",\"first_ts\":\"");
  p = ta__jput_time(p, h->first_ts, w->digits, w->memo);
  p = LIT(p, "\",\"last_ts\":\"");
  p = ta__jput_time(p, h->last_ts, w->digits, w->memo);
  p = LIT(p, "\",\"as_originator\":");
  p = role_put(p, &h->as_orig);
  p = LIT(p, ",\"as_responder\":");
  p = role_put(p, ta_host_as_resp(h));
  p = LIT(p, ",\"services\":[");
  const struct ta_service *svc = ta_host_services(h);
  for (uint32_t i = 0; i < ta_host_n_services(h); i++) {
    ta_jsonw_room_done(w, d, p);
    d = p = ta_jsonw_room(w, SERVICE_ROOM);
    p = service_put(p, s, &svc[i], i == 0);
  }
  ta_jsonw_room_done(w, d, p);
  d = p = ta_jsonw_room(w, 256);
  p = LIT(p, "],\"services_overflow\":");
  p = ta__jput_u64(p, ta_host_services_overflow(h));
  p = h->scan_suspect ? LIT(p, ",\"scan_suspect\":true,\"failed_attempts\":")
                      : LIT(p, ",\"scan_suspect\":false,\"failed_attempts\":");
  p = ta__jput_u64(p, h->failed_attempts);
  p = LIT(p, ",\"os_guess\":");
  ta_jsonw_room_done(w, d, p);
  ta_jsonw_key_written(w);
  ta__fp_json_host(w, &h->os);
  ta_jsonw_obj_end(w);
}

static void linktype_list(struct ta_jsonw *w, const struct ta_input_info *in) {
  ta_jsonw_key(w, "linktypes");
  ta_jsonw_arr_begin(w);
  for (uint8_t i = 0; i < in->n_linktypes; i++) {
    const char *name =
        pcap_datalink_val_to_name(in->linktypes[i] == 101 ? 12 : (int)in->linktypes[i]);
    ta_jsonw_obj_begin(w);
    ta_jsonw_ku64(w, "linktype", in->linktypes[i]);
    ta_jsonw_kstr(w, "name", name ? name : "unknown");
    ta_jsonw_obj_end(w);
  }
  ta_jsonw_arr_end(w);
}

/* Text from the capture itself: escaped like every string, null if absent. */
static void opt_text(struct ta_jsonw *w, const char *key, const char *text) {
  ta_jsonw_key(w, key);
  ta_jsonw_str(w, text[0] ? text : NULL);
}

static void pcapng_text(struct ta_jsonw *w, const struct ta_input_info *in) {
  opt_text(w, "section_comment", in->section_comment);
  ta_jsonw_key(w, "interfaces");
  ta_jsonw_arr_begin(w);
  for (uint8_t i = 0; i < in->n_ifaces && i < TA_MAX_INPUT_IFACES; i++) {
    ta_jsonw_obj_begin(w);
    opt_text(w, "name", in->ifaces[i].name);
    opt_text(w, "description", in->ifaces[i].description);
    ta_jsonw_obj_end(w);
  }
  ta_jsonw_arr_end(w);
  ta_jsonw_ku64(w, "interfaces_more", in->ifaces_more);
}

static void input_fields(struct ta_jsonw *w, const struct ta_input_info *in) {
  ta_jsonw_obj_begin(w);
  ta_jsonw_kstr(w, "path", in->path);
  ta_jsonw_key(w, "format");
  ta_jsonw_str(w, in->format[0] ? in->format : NULL);
  ta_jsonw_kstr(w, "compression", in->compression[0] ? in->compression : "none");
  linktype_list(w, in);
  ta_jsonw_ku64(w, "snaplen", in->snaplen);
  ta_jsonw_ku64(w, "packets", in->packets);
  ta_jsonw_ku64(w, "bytes", in->bytes);
  ta_jsonw_key(w, "first_ts");
  if (in->packets)
    ta_jsonw_time(w, in->first_ts);
  else
    ta_jsonw_null(w);
  ta_jsonw_key(w, "last_ts");
  if (in->packets)
    ta_jsonw_time(w, in->last_ts);
  else
    ta_jsonw_null(w);
  ta_jsonw_ku64(w, "time_backwards", in->ts_backwards);
  ta_jsonw_kbool(w, "truncated", in->error == TA_ETRUNC);
  ta_jsonw_ku64(w, "oversized_records", in->oversized);
  ta_jsonw_ku64(w, "undeclared_interface_records", in->undeclared_iface);
  ta_jsonw_ku64(w, "unknown_blocks", in->unknown_blocks);
  ta_jsonw_kbool(w, "damaged",
                 in->error != 0 || in->oversized || in->undeclared_iface);
  ta_jsonw_key(w, "error");
  ta_jsonw_str(w, in->error ? in->error_msg : NULL);
  pcapng_text(w, in);
  ta_jsonw_obj_end(w);
}

static void packet_fields(struct ta_jsonw *w, const struct ta_counters *k) {
  ta_jsonw_key(w, "packets");
  ta_jsonw_obj_begin(w);
  ta_jsonw_ku64(w, "total", k->total);
  for (int d = 0; d < TA_DISP_COUNT; d++)
    ta_jsonw_ku64(w, ta_disposition_name(d), k->by_disposition[d]);
  ta_jsonw_ku64(w, "ipv4", k->ipv4);
  ta_jsonw_ku64(w, "ipv6", k->ipv6);
  ta_jsonw_ku64(w, "snaplen_truncated", k->snaplen_truncated);
  ta_jsonw_ku64(w, "vlan_tagged", k->vlan_tagged);
  ta_jsonw_ku64(w, "encapsulated", k->encapsulated);
  ta_jsonw_kbool(w, "checksums_verified", k->checksums_verified);
  ta_jsonw_ku64(w, "bad_checksum", k->bad_checksum);
  ta_jsonw_ku64(w, "time_backwards", k->ts_backwards);
  ta_jsonw_key(w, "malformed_by_reason");
  ta_jsonw_obj_begin(w);
  for (int m = 1; m < TA_MAL_COUNT; m++)
    if (k->by_malformed[m])
      ta_jsonw_ku64(w, ta_malformed_name(m), k->by_malformed[m]);
  ta_jsonw_obj_end(w);
  ta_jsonw_key(w, "unsupported_by_linktype");
  ta_jsonw_obj_begin(w);
  for (uint8_t i = 0; i < k->n_unsupported_linktypes; i++) {
    char key[16];
    snprintf(key, sizeof key, "%llu",
             (unsigned long long)k->unsupported_linktypes[i][0]);
    ta_jsonw_ku64(w, key, k->unsupported_linktypes[i][1]);
  }
  ta_jsonw_obj_end(w);
  ta_jsonw_obj_end(w);
}

static void flow_fields(struct ta_jsonw *w, const struct ta_summary *sum) {
  const struct ta_flow_stats *f = sum->flows;
  ta_jsonw_key(w, "flows");
  ta_jsonw_obj_begin(w);
  ta_jsonw_ku64(w, "connections", f->connections);
  ta_jsonw_ku64(w, "evicted", f->evicted);
  ta_jsonw_ku64(w, "idle_timeouts", f->idle_timeouts);
  ta_jsonw_ku64(w, "peak_open", f->peak_open);
  ta_jsonw_ku64(w, "max_open", f->max_open);
  scenario_counts(w, "by_scenario", f->by_scenario);
  ta_jsonw_key(w, "by_conn_state");
  ta_jsonw_obj_begin(w);
  for (int i = 0; i < TA_CS_COUNT; i++)
    if (f->by_conn_state[i])
      ta_jsonw_ku64(w, ta_conn_state_name(i), f->by_conn_state[i]);
  ta_jsonw_obj_end(w);
  uint64_t failed = 0, targets = 0;
  if (sum->hosts)
    ta_hosts_scan_threshold(sum->hosts, &failed, &targets);
  ta_jsonw_key(w, "scan_threshold");
  ta_jsonw_obj_begin(w);
  ta_jsonw_ku64(w, "failed_attempts", failed);
  ta_jsonw_ku64(w, "distinct_targets", targets);
  ta_jsonw_obj_end(w);
  ta_jsonw_ku64(w, "hosts_overflow", sum->hosts ? ta_hosts_overflow(sum->hosts) : 0);
  ta_jsonw_obj_end(w);
}

static int json_close(void *state, const struct ta_summary *sum) {
  struct json_state *s = state;
  struct ta_jsonw *w = &s->w;
  begin_hosts(s);
  ta_jsonw_arr_end(w);
  ta_jsonw_key(w, "inputs");
  ta_jsonw_arr_begin(w);
  for (size_t i = 0; i < sum->n_inputs; i++)
    input_fields(w, &sum->inputs[i]);
  ta_jsonw_arr_end(w);
  ta_jsonw_key(w, "filter");
  ta_jsonw_str(w, sum->filter);
  ta_jsonw_kbool(w, "damaged", sum->damaged);
  packet_fields(w, sum->packets);
  flow_fields(w, sum);
  ta_jsonw_key(w, "warnings");
  ta_jsonw_arr_begin(w);
  for (size_t i = 0; i < sum->n_warnings; i++)
    ta_jsonw_str(w, sum->warnings[i]);
  ta_jsonw_arr_end(w);
  ta_jsonw_obj_end(w);
  ta_sink_write(s->out, "\n", 1);
  int rc = ta_sink_flush(s->out);
  free(s);
  return rc;
}

const struct ta_reporter ta_report_json = {
    .name = "json",
    .help = "one JSON document: connections, hosts, inputs, counters",
    .open = json_open,
    .on_connection = json_connection,
    .format_connection = json_format,
    .format_scratch_size = sizeof(struct ta_jsonw_memo),
    .on_formatted = json_formatted,
    .on_host = json_host,
    .close = json_close,
};
