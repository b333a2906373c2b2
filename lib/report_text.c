/* tcpaudit - reporters: a terse summary for a terminal (-f text).
 * Keeps a bounded handful of notable connections and top hosts, prints
 * everything at close. Every string that could carry bytes from a capture
 * or a file name goes through put_inert(), so escape sequences stay text. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ta_conn_json.h"
#include "ta_error.h"
#include "ta_fingerprint.h"
#include "ta_jsonw.h"
#include "ta_report.h"

#define TEXT_NOTABLE_PER_SCENARIO 3 /* so one scenario cannot crowd out others */
#define TEXT_NOTABLE_MAX 24         /* lines of notable connections */
#define TEXT_TOP_HOSTS 10           /* hosts ranked by failed attempts */
#define TEXT_INPUTS_LISTED 5        /* input files named one by one */
#define TEXT_WARNINGS_LISTED 10
#define TEXT_OS_LABELS 8            /* OS guesses counted by name; then "other" */
#define TEXT_SLOW_SERVICES 10       /* services ranked by p95 response time */

struct notable {
  uint64_t id;
  uint8_t scenario;
  char tuple[128];
  char summary[160];
};

struct top_host {
  char ip[64];
  uint64_t failed, refused, unanswered, targets;
  bool scan_suspect;
  char os[96];
};

/* A service's latency, kept only while among the slowest. */
struct slow_service {
  char where[80]; /* ip:port */
  uint64_t exchanges, handshakes;
  int64_t p50, p95, max, hs50;
  double err;
};

struct os_count {
  char label[80]; /* family and version, or "unknown" */
  uint64_t hosts;
};

struct text_state {
  struct ta_sink *out;
  int digits;
  struct notable notable[TEXT_NOTABLE_MAX];
  size_t n_notable;
  uint64_t notable_more;           /* not completed, but not listed */
  uint64_t per_scenario[TA_SC_COUNT];
  struct top_host top[TEXT_TOP_HOSTS];
  size_t n_top;
  uint64_t hosts, hosts_failing;
  struct os_count os[TEXT_OS_LABELS];
  size_t n_os;
  uint64_t os_other, os_stacks;
  struct slow_service slow[TEXT_SLOW_SERVICES];
  size_t n_slow;
  uint64_t slow_more; /* services with response times not listed */
};

/* Writes s so that no byte of it can drive a terminal: C0 and C1 controls,
 * DEL, invalid UTF-8 and bidirectional overrides come out as \xNN or
 * \u{NNNN}; other printable UTF-8 is kept. */
static void put_inert(struct ta_sink *out, const char *str) {
  const unsigned char *p = (const unsigned char *)str;
  size_t n = strlen(str);
  for (size_t i = 0; i < n;) {
    unsigned char c = p[i];
    if (c >= 0x20 && c < 0x7f) {
      size_t j = i;
      while (j < n && p[j] >= 0x20 && p[j] < 0x7f)
        j++;
      ta_sink_write(out, p + i, j - i);
      i = j;
      continue;
    }
    size_t len = c >= 0xC2 && c < 0xE0 ? 2 : c >= 0xE0 && c < 0xF0 ? 3
               : c >= 0xF0 && c < 0xF5 ? 4 : 0;
    uint32_t cp = len == 2 ? c & 0x1Fu : len == 3 ? c & 0x0Fu : c & 0x07u;
    bool ok = len && i + len <= n;
    for (size_t k = 1; ok && k < len; k++) {
      if ((p[i + k] & 0xC0) != 0x80)
        ok = false;
      cp = (cp << 6) | (p[i + k] & 0x3Fu);
    }
    if (ok && ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
               cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)))
      ok = false; /* overlong, out of range or a surrogate */
    if (!ok) {
      ta_sink_printf(out, "\\x%02x", c);
      i++;
      continue;
    }
    bool control = cp < 0xA0 || (cp >= 0x202A && cp <= 0x202E) ||
                   (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200E ||
                   cp == 0x200F;
    if (control)
      ta_sink_printf(out, "\\u{%04x}", (unsigned)cp);
    else
      ta_sink_write(out, p + i, len);
    i += len;
  }
}

static int text_open(void **state, struct ta_sink *out,
                     const struct ta_report_opts *o) {
  struct text_state *s = calloc(1, sizeof *s);
  if (!s)
    return TA_ENOMEM;
  s->out = out;
  s->digits = o->ts_precision;
  *state = s;
  return 0;
}

static void tuple_format(char *buf, size_t len, const struct ta_conn *c) {
  char a[48], b[48]; /* INET6_ADDRSTRLEN is 46 */
  ta_addr_format(a, sizeof a, c->family, c->side[TA_DIR_ORIG].ip);
  ta_addr_format(b, sizeof b, c->family, c->side[TA_DIR_RESP].ip);
  if (c->family == 6)
    snprintf(buf, len, "[%s]:%u -> [%s]:%u", a, c->side[TA_DIR_ORIG].port, b,
             c->side[TA_DIR_RESP].port);
  else
    snprintf(buf, len, "%s:%u -> %s:%u", a, c->side[TA_DIR_ORIG].port, b,
             c->side[TA_DIR_RESP].port);
}

static void text_connection(void *state, const struct ta_conn *c) {
  struct text_state *s = state;
  if (c->scenario == TA_SC_COMPLETED || c->scenario >= TA_SC_COUNT)
    return;
  if (s->n_notable == TEXT_NOTABLE_MAX ||
      s->per_scenario[c->scenario] == TEXT_NOTABLE_PER_SCENARIO) {
    s->notable_more++;
    return;
  }
  struct notable *n = &s->notable[s->n_notable++];
  s->per_scenario[c->scenario]++;
  n->id = c->id;
  n->scenario = c->scenario;
  tuple_format(n->tuple, sizeof n->tuple, c);
  ta__conn_summary(n->summary, sizeof n->summary, c);
}

/* Keeps the TEXT_TOP_HOSTS hosts with the most failed attempts; on a tie
 * the one seen first (lower address) stays ahead. */
/* Counts the host under its OS guess (hosts with no SYN/SYN-ACK are not
 * counted); the first TEXT_OS_LABELS guesses get a line each. */
static void os_tally(struct text_state *s, const struct ta_host *h) {
  struct ta_fp_verdict v;
  char label[80];
  ta_fp_host_verdict(&h->os, &v);
  if (!v.any)
    return;
  snprintf(label, sizeof label, "%s%s%s", v.family ? v.family : "unknown",
           v.version ? " " : "", v.version ? v.version : "");
  s->os_stacks += v.stacks != 0;
  for (size_t i = 0; i < s->n_os; i++)
    if (strcmp(s->os[i].label, label) == 0) {
      s->os[i].hosts++;
      return;
    }
  if (s->n_os == TEXT_OS_LABELS) {
    s->os_other++;
    return;
  }
  memcpy(s->os[s->n_os].label, label, sizeof label);
  s->os[s->n_os++].hosts = 1;
}

/* Keeps the services of h with the highest p95 response time. */
static void slow_tally(struct text_state *s, const struct ta_host *h) {
  const struct ta_service *svc = ta_host_services(h);
  for (uint32_t i = 0; i < ta_host_n_services(h); i++) {
    const struct ta_svc_latency *l = svc[i].lat;
    if (!l || !l->response.count)
      continue;
    int64_t p95 = ta_lat_dist_quantile(&l->response, 0.95);
    size_t pos = ta__rank_insert(s->slow, sizeof s->slow[0],
                                 offsetof(struct slow_service, p95), &s->n_slow,
                                 TEXT_SLOW_SERVICES, p95, &s->slow_more);
    if (pos == TEXT_SLOW_SERVICES)
      continue;
    struct slow_service *t = &s->slow[pos];
    char ip[64];
    ta_addr_format(ip, sizeof ip, h->family, h->ip);
    snprintf(t->where, sizeof t->where, h->family == 6 ? "[%s]:%u" : "%s:%u",
             ip, svc[i].port);
    t->exchanges = l->response.count;
    t->p50 = ta_lat_dist_quantile(&l->response, 0.5);
    t->p95 = p95;
    t->max = ta_lat_dist_max(&l->response);
    t->err = ta_lat_dist_error(&l->response);
    t->handshakes = l->handshake.count;
    t->hs50 = l->handshake.count ? ta_lat_dist_quantile(&l->handshake, 0.5) : 0;
  }
}

static void text_host(void *state, const struct ta_host *h) {
  struct text_state *s = state;
  s->hosts++;
  os_tally(s, h);
  slow_tally(s, h);
  if (!h->failed_attempts)
    return;
  s->hosts_failing++;
  size_t pos = s->n_top;
  while (pos > 0 && s->top[pos - 1].failed < h->failed_attempts)
    pos--;
  if (pos == TEXT_TOP_HOSTS)
    return;
  size_t last = s->n_top < TEXT_TOP_HOSTS ? s->n_top : TEXT_TOP_HOSTS - 1;
  memmove(&s->top[pos + 1], &s->top[pos], (last - pos) * sizeof s->top[0]);
  if (s->n_top < TEXT_TOP_HOSTS)
    s->n_top++;
  struct top_host *t = &s->top[pos];
  ta_addr_format(t->ip, sizeof t->ip, h->family, h->ip);
  t->failed = h->failed_attempts;
  t->refused = h->as_orig.by_scenario[TA_SC_REFUSED];
  t->unanswered = h->as_orig.by_scenario[TA_SC_UNANSWERED];
  t->targets = h->as_orig.distinct_targets;
  t->scan_suspect = h->scan_suspect;
  ta_fp_host_label(t->os, sizeof t->os, &h->os);
}

static void overview(struct text_state *s, const struct ta_summary *sum) {
  struct ta_sink *o = s->out;
  const struct ta_counters *k = sum->packets;
  int64_t first, last;
  bool any = ta_summary_time_span(sum, &first, &last);
  ta_sink_printf(o, "tcpaudit %s: %zu input%s, %llu packets (%llu TCP), "
                 "%llu connections\n", TA_VERSION, sum->n_inputs,
                 sum->n_inputs == 1 ? "" : "s", (unsigned long long)k->total,
                 (unsigned long long)k->by_disposition[TA_DISP_TCP],
                 (unsigned long long)sum->flows->connections);
  for (size_t i = 0; i < sum->n_inputs && i < TEXT_INPUTS_LISTED; i++) {
    const struct ta_input_info *in = &sum->inputs[i];
    ta_sink_puts(o, "  ");
    put_inert(o, in->path);
    ta_sink_printf(o, "  %s, %llu packets%s\n",
                   in->format[0] ? in->format : "unreadable",
                   (unsigned long long)in->packets,
                   in->error ? ", damaged" : "");
    if (in->section_comment[0]) {
      ta_sink_puts(o, "    comment: ");
      put_inert(o, in->section_comment);
      ta_sink_puts(o, "\n");
    }
  }
  if (sum->n_inputs > TEXT_INPUTS_LISTED)
    ta_sink_printf(o, "  ...and %zu more\n", sum->n_inputs - TEXT_INPUTS_LISTED);
  if (any) {
    char a[48], b[48], d[40];
    ta_time_format(a, sizeof a, first, s->digits);
    ta_time_format(b, sizeof b, last, s->digits);
    ta_secs_format(d, sizeof d, last - first, 6);
    ta_sink_printf(o, "time: %s .. %s (%s s)\n", a, b, d);
  }
  if (sum->filter) {
    ta_sink_puts(o, "filter: ");
    put_inert(o, sum->filter);
    ta_sink_puts(o, "\n");
  }
  uint64_t lost = k->by_disposition[TA_DISP_MALFORMED] +
                  k->by_disposition[TA_DISP_UNSUPPORTED_LINK];
  if (lost)
    ta_sink_printf(o, "not decoded: %llu malformed, %llu of unsupported link "
                   "types\n",
                   (unsigned long long)k->by_disposition[TA_DISP_MALFORMED],
                   (unsigned long long)k->by_disposition[TA_DISP_UNSUPPORTED_LINK]);
}

static void scenarios(struct text_state *s, const struct ta_summary *sum) {
  const struct ta_flow_stats *f = sum->flows;
  if (!f->connections)
    return;
  ta_sink_puts(s->out, "\nconnections by scenario\n");
  for (int i = 0; i < TA_SC_COUNT; i++) {
    if (!f->by_scenario[i])
      continue;
    ta_sink_printf(s->out, "  %-22s %10llu  %5.1f%%\n", ta_scenario_name(i),
                   (unsigned long long)f->by_scenario[i],
                   100.0 * (double)f->by_scenario[i] / (double)f->connections);
  }
}

static void hosts(struct text_state *s) {
  if (!s->n_top)
    return;
  ta_sink_printf(s->out, "\nhosts with the most failed attempts "
                 "(refused or unanswered, as originator)\n");
  for (size_t i = 0; i < s->n_top; i++) {
    const struct top_host *t = &s->top[i];
    ta_sink_printf(s->out, "  %-39s %8llu failed (%llu refused, %llu "
                   "unanswered) to ~%llu targets%s\n", t->ip,
                   (unsigned long long)t->failed,
                   (unsigned long long)t->refused,
                   (unsigned long long)t->unanswered,
                   (unsigned long long)t->targets,
                   t->scan_suspect ? "  SCAN SUSPECT" : "");
    if (t->os[0])
      ta_sink_printf(s->out, "  %-39s os: %s\n", "", t->os);
  }
  if (s->hosts_failing > s->n_top)
    ta_sink_printf(s->out, "  ...and %llu more hosts with failed attempts\n",
                   (unsigned long long)(s->hosts_failing - s->n_top));
}

/* "350 ms", "1.25 ms", "12.0 s". */
static void span_text(char *buf, size_t len, int64_t ns) {
  if (ns < 10000000LL)
    snprintf(buf, len, "%.2f ms", (double)ns / 1e6);
  else if (ns < 10000000000LL)
    snprintf(buf, len, "%.0f ms", (double)ns / 1e6);
  else
    snprintf(buf, len, "%.1f s", (double)ns / 1e9);
}

static void slow_services(struct text_state *s) {
  if (!s->n_slow)
    return;
  ta_sink_puts(s->out, "\nslowest services (server response time: last "
               "request byte to first answer byte; docs/latency.md)\n");
  for (size_t i = 0; i < s->n_slow; i++) {
    const struct slow_service *t = &s->slow[i];
    char p50[24], p95[24], max[24], hs[24];
    span_text(p50, sizeof p50, t->p50);
    span_text(p95, sizeof p95, t->p95);
    span_text(max, sizeof max, t->max);
    span_text(hs, sizeof hs, t->hs50);
    ta_sink_printf(s->out, "  %-45s p50 %9s  p95 %9s  max %9s  %6llu "
                   "exchange%s", t->where, p50, p95, max,
                   (unsigned long long)t->exchanges,
                   t->exchanges == 1 ? " " : "s");
    if (t->handshakes)
      ta_sink_printf(s->out, "  handshake rtt p50 %s", hs);
    if (t->err > 0)
      ta_sink_printf(s->out, "  (+/-%.1f%%)", 100.0 * t->err);
    ta_sink_puts(s->out, "\n");
  }
  if (s->slow_more)
    ta_sink_printf(s->out, "  ...and %llu faster services: see -f json\n",
                   (unsigned long long)s->slow_more);
}

static int os_count_cmp(const void *a, const void *b) {
  const struct os_count *x = a, *y = b;
  return x->hosts != y->hosts ? (x->hosts < y->hosts ? 1 : -1)
                              : strcmp(x->label, y->label);
}

static void os_guesses(struct text_state *s) {
  if (!s->n_os)
    return;
  qsort(s->os, s->n_os, sizeof s->os[0], os_count_cmp);
  ta_sink_puts(s->out, "\nhosts by OS guess (from their SYNs and SYN/ACKs; "
               "evidence in -f json or -f html)\n");
  for (size_t i = 0; i < s->n_os; i++)
    ta_sink_printf(s->out, "  %-39s %8llu\n", s->os[i].label,
                   (unsigned long long)s->os[i].hosts);
  if (s->os_other)
    ta_sink_printf(s->out, "  %-39s %8llu\n", "other guesses",
                   (unsigned long long)s->os_other);
  if (s->os_stacks)
    ta_sink_printf(s->out, "  %llu of them show several stacks (NAT or a load "
                   "balancer?)\n", (unsigned long long)s->os_stacks);
}

static void notables(struct text_state *s) {
  if (!s->n_notable)
    return;
  ta_sink_puts(s->out, "\nnotable connections (not completed)\n");
  for (size_t i = 0; i < s->n_notable; i++) {
    const struct notable *n = &s->notable[i];
    ta_sink_printf(s->out, "  #%-6llu %-47s %-20s ", (unsigned long long)n->id,
                   n->tuple, ta_scenario_name(n->scenario));
    put_inert(s->out, n->summary);
    ta_sink_puts(s->out, "\n");
  }
  if (s->notable_more)
    ta_sink_printf(s->out, "  ...and %llu more: see -f json or -f html\n",
                   (unsigned long long)s->notable_more);
}

static void warnings(struct text_state *s, const struct ta_summary *sum) {
  if (!sum->n_warnings && !sum->damaged)
    return;
  ta_sink_puts(s->out, "\nwarnings\n");
  if (sum->damaged)
    ta_sink_puts(s->out, "  some input was damaged: the report covers what "
                 "could be read\n");
  for (size_t i = 0; i < sum->n_warnings && i < TEXT_WARNINGS_LISTED; i++) {
    ta_sink_puts(s->out, "  ");
    put_inert(s->out, sum->warnings[i]);
    ta_sink_puts(s->out, "\n");
  }
  uint64_t more = sum->warnings_dropped;
  if (sum->n_warnings > TEXT_WARNINGS_LISTED)
    more += sum->n_warnings - TEXT_WARNINGS_LISTED;
  if (more)
    ta_sink_printf(s->out, "  ...and %llu more\n", (unsigned long long)more);
}

static int text_close(void *state, const struct ta_summary *sum) {
  struct text_state *s = state;
  overview(s, sum);
  scenarios(s, sum);
  hosts(s);
  slow_services(s);
  os_guesses(s);
  notables(s);
  warnings(s, sum);
  int rc = ta_sink_flush(s->out);
  free(s);
  return rc;
}

const struct ta_reporter ta_report_text = {
    .name = "text",
    .help = "a terse summary for a terminal (default when stdout is one)",
    .open = text_open,
    .on_connection = text_connection,
    .on_host = text_host,
    .close = text_close,
};
