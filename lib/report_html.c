/* tcpaudit - reporters: one self-contained HTML page (-f html).
 * Inline CSS, JS and SVG; no request leaves the page. Connections are
 * embedded as JSON up to a cap, those that did not complete first and every
 * scenario represented; the rest are only counted. Holds at most the cap's
 * worth of records and a bounded set of hosts. Every string from a capture
 * is HTML-escaped, or JSON-escaped with <, > and & as \u escapes inside
 * <script>. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ta_conn_json.h"
#include "ta_error.h"
#include "ta_fingerprint.h"
#include "ta_jsonw.h"
#include "ta_report.h"

#define HTML_MAX_HOSTS 1000      /* host rows: the most notable ones */
#define HTML_HOST_SERVICES 6     /* ports listed per host */
#define HTML_INPUTS_LISTED 50    /* input rows before "and N more" */
/* Of the cap, each scenario that did not complete may stream this share
 * straight into the page; later records wait in memory for the end. */
#define HTML_STREAM_SHARE 20

/* Badge and bar colours, in TA_SCENARIO_MAP order; grey past the end. */
static const char *const scenario_colour[] = {
    "#2e7d32", "#c62828", "#6a1b9a", "#ef6c00", "#d84315",
    "#b08900", "#1565c0", "#ad1457", "#546e7a", "#757575"};

struct html_service {
  uint16_t port;
  uint64_t conns;
};

struct html_host {
  char ip[64];
  uint64_t orig, resp, failed, refused, unanswered, targets, peers;
  uint32_t n_services;
  uint8_t n_svc;
  struct html_service svc[HTML_HOST_SERVICES];
  uint64_t services_overflow;
  bool scan_suspect;
  struct ta_fp_host os;     /* its SYN/SYN-ACK evidence, for the OS column
                               (a copy; its shapes are the host table's,
                               which outlives the report) */
};

/* Latency view (docs/latency.md): the services with the slowest p95
 * response time, and the connections with the slowest single answer. */
#define HTML_SLOW_SERVICES 12
#define HTML_SLOW_CONNS 10

struct html_slow_service {
  char where[80]; /* ip:port */
  int64_t p95;
  const struct ta_svc_latency *lat; /* the host table's, which outlives the
                                       report */
};

struct html_slow_conn {
  uint64_t id;
  char orig[80], resp[80];
  uint64_t exchanges;
  int64_t max, median, first;
  char *json; /* its record with the ladder, escaped; NULL if memory ran out */
  size_t len;
};

/* Records of one scenario waiting for the end, as escaped JSON. */
struct html_held {
  char **rec;
  size_t *len;
  uint32_t n, cap;
};

struct html_state {
  struct ta_sink *out;
  int digits;
  uint32_t cap;
  uint32_t stream_quota;    /* per scenario, written as they come */
  struct ta_sink scratch;   /* one record's JSON before escaping */
  struct ta_sink esc;       /* the same, escaped for <script> */
  struct html_held held[TA_SC_COUNT];
  uint64_t n_held;          /* over all scenarios */
  uint64_t written;         /* records already in the page */
  uint64_t written_of[TA_SC_COUNT];
  uint64_t seen;            /* records reported to us */
  struct html_host *hosts;  /* min-heap on notability, HTML_MAX_HOSTS */
  size_t n_hosts;
  uint64_t hosts_seen;
  struct html_slow_service slow_svc[HTML_SLOW_SERVICES];
  size_t n_slow_svc;
  uint64_t slow_svc_more;
  struct html_slow_conn slow_conn[HTML_SLOW_CONNS]; /* slowest first */
  size_t n_slow_conn;
};

static const char page_css[] =
    ":root{--fg:#1d232a;--muted:#5b6673;--line:#d5dbe1;--bg:#fff;--alt:#f5f7f9;--accent:#1f5fa8}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;font:14px/1.45 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif;color:var(--fg);background:var(--bg)}\n"
    "header{padding:18px 28px 10px;border-bottom:1px solid var(--line)}\n"
    "header h1{margin:0;font-size:22px}\n"
    "header p{margin:4px 0 0;color:var(--muted)}\n"
    "main{padding:0 28px 40px;max-width:1500px}\n"
    "section{margin-top:26px}\n"
    "h2{font-size:17px;margin:0 0 10px;padding-bottom:4px;border-bottom:2px solid var(--line)}\n"
    "h3{font-size:14px;margin:16px 0 4px}\n"
    ".note{background:#fff7e0;border:1px solid #f0d48a;padding:8px 12px;border-radius:4px}\n"
    ".warn{color:#8a3b00}\n"
    ".muted{color:var(--muted)}\n"
    ".cards{display:flex;flex-wrap:wrap;gap:10px;margin:8px 0}\n"
    ".card{border:1px solid var(--line);border-radius:6px;padding:8px 14px;min-width:120px;background:var(--alt)}\n"
    ".card b{display:block;font-size:20px}\n"
    ".card span{color:var(--muted);font-size:12px}\n"
    "table{border-collapse:collapse;width:100%;font-size:13px}\n"
    "th,td{padding:4px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}\n"
    "th{background:var(--alt);position:sticky;top:0;cursor:pointer;user-select:none;white-space:nowrap}\n"
    "th.asc::after{content:\" \\25b2\"}\n"
    "th.desc::after{content:\" \\25bc\"}\n"
    "td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\n"
    "tbody tr.row:nth-child(even){background:#fbfcfd}\n"
    "tbody tr.row{cursor:pointer}\n"
    "tbody tr.row:hover{background:#eef4fb}\n"
    "tr.detail td{background:#fafbfc;padding:10px 14px}\n"
    ".mono,td.mono{font-family:ui-monospace,\"DejaVu Sans Mono\",Menlo,monospace;font-size:12px}\n"
    ".sc{display:inline-block;padding:0 6px;border-radius:3px;color:#fff;background:var(--c,#757575);font-size:12px;white-space:nowrap}\n"
    ".filters{display:flex;flex-wrap:wrap;gap:10px;align-items:end;margin:6px 0 10px}\n"
    ".filters label{display:flex;flex-direction:column;font-size:12px;color:var(--muted)}\n"
    ".filters input,.filters select{font:inherit;padding:3px 6px;border:1px solid var(--line);border-radius:4px}\n"
    "button{font:inherit;padding:3px 10px;border:1px solid var(--line);border-radius:4px;background:var(--alt);cursor:pointer}\n"
    ".stories{display:grid;grid-template-columns:repeat(auto-fill,minmax(600px,1fr));gap:14px}\n"
    ".story{border:1px solid var(--line);border-radius:6px;padding:6px 12px 10px}\n"
    ".story h3{margin-top:6px}\n"
    "svg.ladder{display:block;max-width:100%;height:auto;margin-top:6px}\n"
    "svg.ladder text{font:11px ui-monospace,\"DejaVu Sans Mono\",monospace;fill:#333}\n"
    "svg.ladder .host{font-weight:bold;fill:#111}\n"
    "svg.ladder .axis{stroke:#8a949e;stroke-width:2}\n"
    "svg.ladder .pk line{stroke:var(--k);stroke-width:1.6}\n"
    "svg.ladder .pk polygon{fill:var(--k)}\n"
    "svg.ladder .pk text.lbl{fill:var(--k)}\n"
    "svg.ladder .syn{--k:#1f5fa8}\n"
    "svg.ladder .rst{--k:#c62828}\n"
    "svg.ladder .fin{--k:#b85c00}\n"
    "svg.ladder .data{--k:#2e7d32}\n"
    "svg.ladder .ack{--k:#59636e}\n"
    "svg.chart text{font-size:12px;fill:#222}\n"
    "svg.chart text.v{font-variant-numeric:tabular-nums}\n"
    "dl.facts{display:grid;grid-template-columns:max-content auto;gap:2px 14px;margin:6px 0}\n"
    "dl.facts dt{color:var(--muted)}\n"
    "dl.facts dd{margin:0}\n"
    "a.hl{color:var(--accent);text-decoration:none;cursor:pointer}\n"
    "a.hl:hover{text-decoration:underline}\n"
    "svg.chart rect{fill:var(--c,#757575)}\n"
    "svg.lat-bars rect{fill:var(--accent)}\n"
    "svg.lat-bars text{font-size:9px;fill:#5b6673}\n";

static const char page_js[] =
    "(function () {\n"
    "  'use strict';\n"
    "  var SVGNS = 'http://www.w3.org/2000/svg';\n"
    "  var ROW_STEP = 1000;\n"
    "  function byId(id) { return document.getElementById(id); }\n"
    "  function jsonOf(id) { var e = byId(id); return e ? JSON.parse(e.textContent) : null; }\n"
    "  function el(tag, attrs, text) {\n"
    "    var e = document.createElement(tag);\n"
    "    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);\n"
    "    if (text !== undefined && text !== null) e.textContent = String(text);\n"
    "    return e;\n"
    "  }\n"
    "  function sv(tag, attrs, text) {\n"
    "    var e = document.createElementNS(SVGNS, tag);\n"
    "    for (var k in attrs || {}) e.setAttribute(k, attrs[k]);\n"
    "    if (text !== undefined && text !== null) e.textContent = String(text);\n"
    "    return e;\n"
    "  }\n"
    "  var meta = jsonOf('ta-meta') || {};\n"
    "  var conns = jsonOf('ta-conns') || [];\n"
    "  var FLAGS = [[2, 'SYN'], [1, 'FIN'], [4, 'RST'], [8, 'PSH'], [16, 'ACK'],\n"
    "               [32, 'URG'], [64, 'ECE'], [128, 'CWR']];\n"
    "  function flagNames(f) {\n"
    "    var out = [];\n"
    "    FLAGS.forEach(function (x) { if (f & x[0]) out.push(x[1]); });\n"
    "    return out.length ? out.join('+') : 'no flags';\n"
    "  }\n"
    "  function kindOf(p) {\n"
    "    if (p.flags & 4) return 'rst';\n"
    "    if (p.flags & 2) return 'syn';\n"
    "    if (p.flags & 1) return 'fin';\n"
    "    return p.len ? 'data' : 'ack';\n"
    "  }\n"
    "  function endpoint(c, side) {\n"
    "    var s = c[side];\n"
    "    return c.family === 'ipv6' ? '[' + s.ip + ']:' + s.port : s.ip + ':' + s.port;\n"
    "  }\n"
    "  function badge(name) { return el('span', {'class': 'sc sc-' + name}, name); }\n"
    "\n"
    "  /* The packets of one connection as a ladder: the two hosts as columns,\n"
    "   * one arrow per packet, time counted from the first SYN. The record\n"
    "   * has each packet as [t, dir, flags, seq, ack, win, len]. */\n"
    "  function ladder(c) {\n"
    "    var pk = ((c.ladder && c.ladder.packets) || []).map(function (a) {\n"
    "      return {t: a[0], dir: a[1], flags: a[2], seq: a[3], ack: a[4], win: a[5], len: a[6]};\n"
    "    });\n"
    "    var more = (c.ladder && c.ladder.more) || 0;\n"
    "    var W = 700, L = 150, R = 620, TOP = 58, STEP = 38;\n"
    "    var H = TOP + pk.length * STEP + (more ? 30 : 12);\n"
    "    var svg = sv('svg', {'class': 'ladder', width: W, height: H,\n"
    "                         viewBox: '0 0 ' + W + ' ' + H, role: 'img'});\n"
    "    svg.appendChild(sv('title', null, 'packets of connection #' + c.id));\n"
    "    [[L, 'originator', 'orig'], [R, 'responder', 'resp']].forEach(function (h) {\n"
    "      svg.appendChild(sv('text', {x: h[0], y: 16, 'text-anchor': 'middle', 'class': 'host'}, h[1]));\n"
    "      svg.appendChild(sv('text', {x: h[0], y: 32, 'text-anchor': 'middle'}, endpoint(c, h[2])));\n"
    "      svg.appendChild(sv('line', {x1: h[0], y1: 40, x2: h[0], y2: H - 6, 'class': 'axis'}));\n"
    "    });\n"
    "    svg.appendChild(sv('text', {x: L - 12, y: 52, 'text-anchor': 'end', 'class': 'muted'}, 'since SYN'));\n"
    "    var t0 = pk.length ? pk[0].t : 0;\n"
    "    for (var i = 0; i < pk.length; i++)\n"
    "      if ((pk[i].flags & 18) === 2) { t0 = pk[i].t; break; }\n"
    "    pk.forEach(function (p, i) {\n"
    "      var y1 = TOP + i * STEP + 8, y2 = y1 + 16;\n"
    "      var x1 = p.dir === 'orig' ? L : R, x2 = p.dir === 'orig' ? R : L;\n"
    "      var g = sv('g', {'class': 'pk ' + kindOf(p)});\n"
    "      g.appendChild(sv('line', {x1: x1, y1: y1, x2: x2, y2: y2}));\n"
    "      var dx = x2 - x1, dy = y2 - y1, n = Math.sqrt(dx * dx + dy * dy);\n"
    "      var ux = dx / n, uy = dy / n, bx = x2 - ux * 10, by = y2 - uy * 10;\n"
    "      g.appendChild(sv('polygon', {points: x2 + ',' + y2 + ' ' + (bx - uy * 4) + ',' + (by + ux * 4) +\n"
    "                                   ' ' + (bx + uy * 4) + ',' + (by - ux * 4)}));\n"
    "      var label = flagNames(p.flags) + '  seq ' + p.seq + ((p.flags & 16) ? ' ack ' + p.ack : '') +\n"
    "                  ' win ' + p.win + (p.len ? ' len ' + p.len : '');\n"
    "      g.appendChild(sv('text', {x: (L + R) / 2, y: y1 + 2, 'text-anchor': 'middle', 'class': 'lbl'}, label));\n"
    "      var dt = p.t - t0;\n"
    "      g.appendChild(sv('text', {x: L - 12, y: y1 + 12, 'text-anchor': 'end'},\n"
    "                       (dt < 0 ? '' : '+') + dt.toFixed(6) + ' s'));\n"
    "      svg.appendChild(g);\n"
    "    });\n"
    "    if (more)\n"
    "      svg.appendChild(sv('text', {x: (L + R) / 2, y: H - 10, 'text-anchor': 'middle', 'class': 'muted'},\n"
    "                         '... ' + more + ' later packet(s) not kept'));\n"
    "    return svg;\n"
    "  }\n"
    "\n"
    "  function facts(c) {\n"
    "    var dl = el('dl', {'class': 'facts'});\n"
    "    function add(k, v) { dl.appendChild(el('dt', null, k)); dl.appendChild(el('dd', null, v)); }\n"
    "    add('what happened', c.summary);\n"
    "    add('first packet', c.first_ts);\n"
    "    add('SYNs', c.syn.count + (c.syn.retry_intervals.length ? ' (retries after ' +\n"
    "        c.syn.retry_intervals.join(' s, ') + ' s)' : '') + ', answered by ' + c.syn.answered_by);\n"
    "    var hs = c.handshake;\n"
    "    add('handshake', !hs ? 'no SYN/ACK seen' : (hs.complete ? 'complete' : 'not complete') +\n"
    "        (hs.syn_to_synack !== null ? ', SYN to SYN/ACK ' + hs.syn_to_synack + ' s' : '') +\n"
    "        (hs.synack_to_ack !== null ? ', SYN/ACK to ACK ' + hs.synack_to_ack + ' s' : ''));\n"
    "    add('close', c.close ? c.close.how + ' from ' + c.close.initiator : 'none seen');\n"
    "    add('state / history', c.conn_state + ' / ' + (c.history || '-'));\n"
    "    add('packets, payload', 'orig ' + c.orig.pkts + ' pkts ' + c.orig.payload + ' B, resp ' +\n"
    "        c.resp.pkts + ' pkts ' + c.resp.payload + ' B');\n"
    "    if (c.rtt && c.rtt.samples) add('round trip', 'median ' + c.rtt.median + ' s (' + c.rtt.samples +\n"
    "        ' samples, ' + c.rtt.min + ' .. ' + c.rtt.max + ' s)' +\n"
    "        (c.rtt.handshake !== null ? ', handshake ' + c.rtt.handshake + ' s' : ''));\n"
    "    if (c.response && c.response.count) add('server response', 'median ' + c.response.median + ' s over ' +\n"
    "        c.response.count + ' exchange(s), slowest ' + c.response.max + ' s');\n"
    "    if (c.anomalies && c.anomalies.length) add('anomalies', c.anomalies.join(', '));\n"
    "    return dl;\n"
    "  }\n"
    "\n"
    "  /* A few ladders up front: the first embedded connection of each scenario\n"
    "   * that did not complete. */\n"
    "  function stories() {\n"
    "    var box = byId('stories-list');\n"
    "    if (!box) return;\n"
    "    var seen = {};\n"
    "    conns.forEach(function (c) {\n"
    "      if (c.scenario === 'completed' || seen[c.scenario] || !c.ladder) return;\n"
    "      seen[c.scenario] = true;\n"
    "      var d = el('div', {'class': 'story', 'data-scenario': c.scenario});\n"
    "      var h = el('h3');\n"
    "      h.appendChild(badge(c.scenario));\n"
    "      h.appendChild(document.createTextNode(' #' + c.id + '  ' + endpoint(c, 'orig') + ' \\u2192 ' + endpoint(c, 'resp')));\n"
    "      d.appendChild(h);\n"
    "      d.appendChild(el('div', null, c.summary));\n"
    "      d.appendChild(ladder(c));\n"
    "      box.appendChild(d);\n"
    "    });\n"
    "    if (!box.children.length)\n"
    "      box.appendChild(el('p', {'class': 'muted'}, conns.length ?\n"
    "          'Every connection in this page completed.' : 'No TCP connection in this page.'));\n"
    "  }\n"
    "\n"
    "  var COLS = [\n"
    "    {t: '#', n: 1, v: function (c) { return c.id; }},\n"
    "    {t: 'start (UTC)', v: function (c) { return c.first_ts; }, s: function (c) { return c.first_ts.slice(11); }},\n"
    "    {t: 'originator', v: function (c) { return endpoint(c, 'orig'); }, m: 1},\n"
    "    {t: 'responder', v: function (c) { return endpoint(c, 'resp'); }, m: 1},\n"
    "    {t: 'scenario', v: function (c) { return c.scenario; }, b: 1},\n"
    "    {t: 'state', v: function (c) { return c.conn_state; }, m: 1},\n"
    "    {t: 'history', v: function (c) { return c.history || ''; }, m: 1},\n"
    "    {t: 'duration (s)', n: 1, v: function (c) { return c.duration; }},\n"
    "    {t: 'packets', n: 1, v: function (c) { return c.orig.pkts + c.resp.pkts; }},\n"
    "    {t: 'payload B', n: 1, v: function (c) { return c.orig.payload + c.resp.payload; }},\n"
    "    {t: 'what happened', v: function (c) { return c.summary; }}\n"
    "  ];\n"
    "  var view = {key: 0, dir: 1, limit: ROW_STEP, rows: []};\n"
    "\n"
    "  function matches(c, host, port, sc) {\n"
    "    if (host && c.orig.ip.indexOf(host) < 0 && c.resp.ip.indexOf(host) < 0) return false;\n"
    "    if (port !== null && c.orig.port !== port && c.resp.port !== port) return false;\n"
    "    if (sc === '!completed') return c.scenario !== 'completed';\n"
    "    return !sc || c.scenario === sc;\n"
    "  }\n"
    "\n"
    "  function render() {\n"
    "    var host = byId('f-host').value.trim();\n"
    "    var ptext = byId('f-port').value.trim();\n"
    "    var port = /^[0-9]+$/.test(ptext) ? parseInt(ptext, 10) : null;\n"
    "    var sc = byId('f-scenario').value;\n"
    "    var col = COLS[view.key];\n"
    "    view.rows = conns.filter(function (c) { return matches(c, host, port, sc); });\n"
    "    view.rows.sort(function (a, b) {\n"
    "      var x = col.v(a), y = col.v(b);\n"
    "      var r = col.n ? x - y : String(x).localeCompare(String(y));\n"
    "      return (r || a.id - b.id) * view.dir;\n"
    "    });\n"
    "    var body = byId('conn-body');\n"
    "    body.textContent = '';\n"
    "    var shown = Math.min(view.rows.length, view.limit);\n"
    "    var frag = document.createDocumentFragment();\n"
    "    for (var i = 0; i < shown; i++) frag.appendChild(row(view.rows[i]));\n"
    "    body.appendChild(frag);\n"
    "    var count = byId('conn-count');\n"
    "    count.textContent = 'Showing ' + shown + ' of ' + view.rows.length + ' matching (' +\n"
    "        conns.length + ' embedded, ' + meta.connections + ' in the capture).';\n"
    "    count.setAttribute('data-shown', shown);\n"
    "    count.setAttribute('data-matching', view.rows.length);\n"
    "    byId('conn-more').hidden = shown >= view.rows.length;\n"
    "    var ths = byId('conn-head').children;\n"
    "    for (var j = 0; j < ths.length; j++)\n"
    "      ths[j].className = (COLS[j].n ? 'n ' : '') + (j === view.key ? (view.dir > 0 ? 'asc' : 'desc') : '');\n"
    "  }\n"
    "\n"
    "  function row(c) {\n"
    "    var tr = el('tr', {'class': 'row', 'data-id': c.id, 'data-scenario': c.scenario});\n"
    "    COLS.forEach(function (col) {\n"
    "      var td = el('td', {'class': col.n ? 'n' : col.m ? 'mono' : ''});\n"
    "      if (col.b) td.appendChild(badge(c.scenario));\n"
    "      else td.textContent = String(col.s ? col.s(c) : col.v(c));\n"
    "      tr.appendChild(td);\n"
    "    });\n"
    "    tr.addEventListener('click', function () { toggle(tr, c); });\n"
    "    return tr;\n"
    "  }\n"
    "\n"
    "  function toggle(tr, c) {\n"
    "    var next = tr.nextSibling;\n"
    "    if (next && next.className === 'detail') { next.remove(); return; }\n"
    "    var d = el('tr', {'class': 'detail'});\n"
    "    var td = el('td', {colspan: COLS.length});\n"
    "    td.appendChild(facts(c));\n"
    "    if (c.ladder) td.appendChild(ladder(c));\n"
    "    else td.appendChild(el('p', {'class': 'muted'}, 'Completed: no ladder is kept; see the JSON report for every field.'));\n"
    "    d.appendChild(td);\n"
    "    tr.parentNode.insertBefore(d, tr.nextSibling);\n"
    "  }\n"
    "\n"
    "  function setupConnections() {\n"
    "    var head = byId('conn-head');\n"
    "    COLS.forEach(function (col, i) {\n"
    "      var th = el('th', null, col.t);\n"
    "      th.addEventListener('click', function () {\n"
    "        view.dir = view.key === i ? -view.dir : 1;\n"
    "        view.key = i;\n"
    "        render();\n"
    "      });\n"
    "      head.appendChild(th);\n"
    "    });\n"
    "    var select = byId('f-scenario');\n"
    "    (meta.scenarios || []).forEach(function (name) {\n"
    "      select.appendChild(el('option', {value: name}, name));\n"
    "    });\n"
    "    ['f-host', 'f-port'].forEach(function (id) {\n"
    "      byId(id).addEventListener('input', function () { view.limit = ROW_STEP; render(); });\n"
    "    });\n"
    "    select.addEventListener('change', function () { view.limit = ROW_STEP; render(); });\n"
    "    byId('conn-more').addEventListener('click', function () { view.limit += ROW_STEP; render(); });\n"
    "    render();\n"
    "  }\n"
    "\n"
    "  /* Server-written tables (hosts) sort by a click on their header. */\n"
    "  function sortable(table) {\n"
    "    var ths = table.tHead.rows[0].cells;\n"
    "    Array.prototype.forEach.call(ths, function (th, i) {\n"
    "      th.addEventListener('click', function () {\n"
    "        var dir = th.classList.contains('desc') ? 1 : -1;\n"
    "        Array.prototype.forEach.call(ths, function (h) { h.classList.remove('asc', 'desc'); });\n"
    "        th.classList.add(dir > 0 ? 'asc' : 'desc');\n"
    "        var rows = Array.prototype.slice.call(table.tBodies[0].rows);\n"
    "        rows.sort(function (a, b) {\n"
    "          var x = a.cells[i].getAttribute('data-v') || a.cells[i].textContent;\n"
    "          var y = b.cells[i].getAttribute('data-v') || b.cells[i].textContent;\n"
    "          var nx = parseFloat(x), ny = parseFloat(y);\n"
    "          var r = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);\n"
    "          return r * dir;\n"
    "        });\n"
    "        rows.forEach(function (r) { table.tBodies[0].appendChild(r); });\n"
    "      });\n"
    "    });\n"
    "  }\n"
    "\n"
    "  function hostLinks() {\n"
    "    Array.prototype.forEach.call(document.querySelectorAll('[data-filter-host]'), function (a) {\n"
    "      a.addEventListener('click', function (ev) {\n"
    "        ev.preventDefault();\n"
    "        byId('f-host').value = a.getAttribute('data-filter-host');\n"
    "        view.limit = ROW_STEP;\n"
    "        render();\n"
    "        byId('connections').scrollIntoView();\n"
    "      });\n"
    "    });\n"
    "  }\n"
    "\n"
    "  /* Slowest connections in the latency view: facts and ladder below. */\n"
    "  function latencyLinks() {\n"
    "    Array.prototype.forEach.call(document.querySelectorAll('[data-show-conn]'), function (a) {\n"
    "      a.addEventListener('click', function (ev) {\n"
    "        ev.preventDefault();\n"
    "        var id = parseInt(a.getAttribute('data-show-conn'), 10);\n"
    "        var box = byId('latency-detail');\n"
    "        box.textContent = '';\n"
    "        var pick = function (x) { return x.id === id; };\n"
    "        var c = (meta.slow || []).filter(pick)[0] || conns.filter(pick)[0];\n"
    "        if (!c) {\n"
    "          box.appendChild(el('p', {'class': 'muted'}, 'Connection #' + id + ' is not in this page.'));\n"
    "          return;\n"
    "        }\n"
    "        box.appendChild(el('h3', null, '#' + c.id + '  ' + endpoint(c, 'orig') + ' \\u2192 ' + endpoint(c, 'resp')));\n"
    "        box.appendChild(facts(c));\n"
    "        if (c.ladder) box.appendChild(ladder(c));\n"
    "        box.scrollIntoView();\n"
    "      });\n"
    "    });\n"
    "  }\n"
    "\n"
    "  stories();\n"
    "  setupConnections();\n"
    "  hostLinks();\n"
    "  latencyLinks();\n"
    "  Array.prototype.forEach.call(document.querySelectorAll('table.sortable'), sortable);\n"
    "  document.body.setAttribute('data-ready', '1');\n"
    "})();\n";

/* Length of the valid UTF-8 sequence at p (1..4), or 0 when invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n) {
  unsigned char c = p[0];
  size_t len = c < 0x80 ? 1 : c < 0xC2 ? 0 : c < 0xE0 ? 2 : c < 0xF0 ? 3
             : c < 0xF5 ? 4 : 0;
  if (!len || len > n)
    return 0;
  for (size_t i = 1; i < len; i++)
    if ((p[i] & 0xC0) != 0x80)
      return 0;
  if ((c == 0xE0 && p[1] < 0xA0) || (c == 0xED && p[1] >= 0xA0) ||
      (c == 0xF0 && p[1] < 0x90) || (c == 0xF4 && p[1] >= 0x90))
    return 0;
  return len;
}

/* True for a UTF-8 sequence of a C1 control or a bidirectional formatting
 * character: not markup, but able to reorder or hide what a page shows. */
static bool display_control(const unsigned char *p, size_t len) {
  if (len == 2)
    return (p[0] == 0xC2 && p[1] < 0xA0) || (p[0] == 0xD8 && p[1] == 0x9C);
  if (len == 3 && p[0] == 0xE2 && p[1] == 0x80)
    return p[2] == 0x8E || p[2] == 0x8F || (p[2] >= 0xAA && p[2] <= 0xAE);
  return len == 3 && p[0] == 0xE2 && p[1] == 0x81 && p[2] >= 0xA6 &&
         p[2] <= 0xA9;
}

/* Writes s as HTML text or attribute content: markup characters become
 * entities; controls, bidirectional overrides and invalid UTF-8 become
 * U+FFFD. */
static void html_put(struct ta_sink *out, const char *s) {
  const unsigned char *p = (const unsigned char *)s;
  size_t n = strlen(s), run = 0;
  for (size_t i = 0; i < n;) {
    unsigned char c = p[i];
    const char *rep = NULL;
    size_t len = 1;
    switch (c) {
    case '&': rep = "&amp;"; break;
    case '<': rep = "&lt;"; break;
    case '>': rep = "&gt;"; break;
    case '"': rep = "&quot;"; break;
    case '\'': rep = "&#39;"; break;
    default:
      len = utf8_seq(p + i, n - i);
      if (!len || (c < 0x20 && c != '\t' && c != '\n') || c == 0x7f) {
        rep = "\xEF\xBF\xBD";
        len = 1;
      } else if (display_control(p + i, len)) {
        rep = "\xEF\xBF\xBD";
      }
    }
    if (!rep) {
      i += len;
      continue;
    }
    ta_sink_write(out, s + run, i - run);
    ta_sink_puts(out, rep);
    i += len;
    run = i;
  }
  ta_sink_write(out, s + run, n - run);
}

/* Copies JSON text so that it cannot end or confuse a <script> element:
 * <, > and & (only ever inside strings) and U+2028/U+2029 become \u escapes. */
static void put_script_json(struct ta_sink *out, const char *s, size_t n) {
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    const char *rep = NULL;
    size_t skip = 1;
    if (s[i] == '<')
      rep = "\\u003c";
    else if (s[i] == '>')
      rep = "\\u003e";
    else if (s[i] == '&')
      rep = "\\u0026";
    else if ((unsigned char)s[i] == 0xE2 && i + 2 < n &&
             (unsigned char)s[i + 1] == 0x80 &&
             ((unsigned char)s[i + 2] == 0xA8 || (unsigned char)s[i + 2] == 0xA9)) {
      rep = (unsigned char)s[i + 2] == 0xA8 ? "\\u2028" : "\\u2029";
      skip = 3;
    }
    if (!rep)
      continue;
    ta_sink_write(out, s + run, i - run);
    ta_sink_puts(out, rep);
    i += skip - 1;
    run = i + 1;
  }
  ta_sink_write(out, s + run, n - run);
}

static const char *colour_of(int sc) {
  return sc >= 0 && (size_t)sc < sizeof scenario_colour / sizeof scenario_colour[0]
             ? scenario_colour[sc] : "#757575";
}

static void u64_cell(struct ta_sink *o, uint64_t v) {
  ta_sink_printf(o, "<td class=\"n\">%llu</td>", (unsigned long long)v);
}

static void free_state(struct html_state *s) {
  ta_sink_close(&s->scratch);
  ta_sink_close(&s->esc);
  for (int i = 0; i < TA_SC_COUNT; i++) {
    for (uint32_t k = 0; k < s->held[i].n; k++)
      free(s->held[i].rec[k]);
    free(s->held[i].rec);
    free(s->held[i].len);
  }
  free(s->hosts);
  for (size_t i = 0; i < s->n_slow_conn; i++)
    free(s->slow_conn[i].json);
  free(s);
}

static int html_open(void **state, struct ta_sink *out,
                     const struct ta_report_opts *o) {
  struct html_state *s = calloc(1, sizeof *s);
  if (!s)
    return TA_ENOMEM;
  s->hosts = calloc(HTML_MAX_HOSTS, sizeof *s->hosts);
  if (!s->hosts) {
    free(s);
    return TA_ENOMEM;
  }
  ta_sink_init_mem(&s->scratch);
  ta_sink_init_mem(&s->esc);
  s->out = out;
  s->digits = o->ts_precision;
  s->cap = o->html_max_connections ? o->html_max_connections
                                   : TA_HTML_DEFAULT_MAX_CONNECTIONS;
  s->stream_quota = s->cap / HTML_STREAM_SHARE ? s->cap / HTML_STREAM_SHARE : 1;
  ta_sink_puts(out,
               "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
               "<meta charset=\"utf-8\">\n"
               "<meta http-equiv=\"Content-Security-Policy\" content=\""
               "default-src 'none'; style-src 'unsafe-inline'; "
               "script-src 'unsafe-inline'; img-src data:\">\n"
               "<meta name=\"viewport\" content=\"width=device-width, "
               "initial-scale=1\">\n"
               "<link rel=\"icon\" href=\"data:,\">\n"
               "<title>tcpaudit report</title>\n<style>\n");
  ta_sink_puts(out, page_css);
  for (int i = 0; i < TA_SC_COUNT; i++)
    ta_sink_printf(out, ".sc-%s{--c:%s}\n", ta_scenario_name(i), colour_of(i));
  ta_sink_printf(out, "</style>\n</head>\n<body>\n<header><h1>tcpaudit report"
                 "</h1><p>TCP connections found in packet captures, by "
                 "tcpaudit %s</p></header>\n"
                 "<script type=\"application/json\" id=\"ta-conns\">[\n",
                 TA_VERSION);
  *state = s;
  return 0;
}

/* Formats the record as JSON (the JSON report's connection shape), escaped
 * for a <script> element, into s->esc; false when memory ran out (the
 * record is then only counted). */
static bool record_json(struct html_state *s, const struct ta_conn *c,
                        bool with_ladder) {
  struct ta_jsonw w;
  s->scratch.mem_len = 0; /* reuse the buffers: a memory sink is just bytes */
  s->esc.mem_len = 0;
  ta_jsonw_init(&w, &s->scratch, 0, s->digits);
  ta_jsonw_obj_begin(&w);
  ta__conn_json_fields(&w, c, with_ladder);
  ta_jsonw_obj_end(&w);
  size_t n;
  const char *json = ta_sink_mem(&s->scratch, &n);
  put_script_json(&s->esc, json, n);
  return s->scratch.error == 0 && s->esc.error == 0;
}

static uint64_t count_of(const struct html_state *s, int sc) {
  return s->written_of[sc] + s->held[sc].n;
}

static void drop_held(struct html_state *s, int sc) {
  struct html_held *h = &s->held[sc];
  free(h->rec[--h->n]);
  s->n_held--;
}

/* Makes room for one more record of scenario sc when the page is full, by
 * dropping a held record of lower priority (a completed one for a failure)
 * or, within the same priority, one of the scenario with the most records
 * when that evens things out. A completed record never displaces a failure.
 * Returns false when the record should only be counted. */
static bool make_room(struct html_state *s, int sc) {
  if (s->written + s->n_held < s->cap)
    return true;
  if (sc != TA_SC_COMPLETED && s->held[TA_SC_COMPLETED].n) {
    drop_held(s, TA_SC_COMPLETED);
    return true;
  }
  int victim = -1;
  for (int i = 0; i < TA_SC_COUNT; i++)
    if (s->held[i].n && (i == TA_SC_COMPLETED) == (sc == TA_SC_COMPLETED) &&
        (victim < 0 || count_of(s, i) > count_of(s, victim)))
      victim = i;
  if (victim < 0 || count_of(s, victim) <= count_of(s, sc) + 1)
    return false;
  drop_held(s, victim);
  return true;
}

static void hold(struct html_state *s, int sc) {
  struct html_held *h = &s->held[sc];
  if (h->n == h->cap) {
    uint32_t ncap = h->cap ? h->cap * 2 : 64;
    char **r = realloc(h->rec, ncap * sizeof *r);
    if (r)
      h->rec = r;
    size_t *l = r ? realloc(h->len, ncap * sizeof *l) : NULL;
    if (l)
      h->len = l;
    if (!r || !l)
      return; /* counted, not embedded */
    h->cap = ncap;
  }
  size_t n;
  const char *json = ta_sink_mem(&s->esc, &n);
  char *copy = malloc(n ? n : 1);
  if (!copy)
    return;
  memcpy(copy, json, n);
  h->rec[h->n] = copy;
  h->len[h->n++] = n;
  s->n_held++;
}

static void write_record(struct html_state *s, const char *json, size_t n) {
  if (s->written)
    ta_sink_write(s->out, ",\n", 2);
  ta_sink_write(s->out, json, n);
  s->written++;
}

static void endpoint_text(char *buf, size_t len, uint8_t family,
                          const uint8_t *ip, uint16_t port) {
  char a[64];
  ta_addr_format(a, sizeof a, family, ip);
  snprintf(buf, len, family == 6 ? "[%s]:%u" : "%s:%u", a, port);
}

/* Keeps c if its slowest answer is among the slowest seen, with its own
 * copy of the record and its ladder (the page's records of completed
 * connections have none, and the cap may leave c out of them). */
static void slow_conn_note(struct html_state *s, const struct ta_conn *c) {
  const struct ta_lat_small *r = &c->lat.response;
  if (!r->count)
    return;
  int64_t max = ta_lat_small_max(r);
  size_t pos = s->n_slow_conn;
  while (pos > 0 && s->slow_conn[pos - 1].max < max)
    pos--;
  if (pos == HTML_SLOW_CONNS)
    return;
  if (s->n_slow_conn == HTML_SLOW_CONNS)
    free(s->slow_conn[HTML_SLOW_CONNS - 1].json);
  size_t last = s->n_slow_conn < HTML_SLOW_CONNS ? s->n_slow_conn
                                                 : HTML_SLOW_CONNS - 1;
  memmove(&s->slow_conn[pos + 1], &s->slow_conn[pos],
          (last - pos) * sizeof s->slow_conn[0]);
  if (s->n_slow_conn < HTML_SLOW_CONNS)
    s->n_slow_conn++;
  struct html_slow_conn *k = &s->slow_conn[pos];
  k->id = c->id;
  endpoint_text(k->orig, sizeof k->orig, c->family, c->side[TA_DIR_ORIG].ip,
                c->side[TA_DIR_ORIG].port);
  endpoint_text(k->resp, sizeof k->resp, c->family, c->side[TA_DIR_RESP].ip,
                c->side[TA_DIR_RESP].port);
  k->exchanges = r->count;
  k->max = max;
  k->median = ta_lat_small_median(r);
  int64_t first = c->side[TA_DIR_RESP].first_payload_ts;
  k->first = c->established_ts && first >= c->established_ts
                 ? first - c->established_ts : -1;
  k->json = NULL;
  k->len = 0;
  if (record_json(s, c, true)) {
    const char *json = ta_sink_mem(&s->esc, &k->len);
    if ((k->json = malloc(k->len ? k->len : 1)))
      memcpy(k->json, json, k->len);
  }
}

/* The first records of each scenario that did not complete go straight
 * into the page; the others wait, within the cap, so that a scenario seen
 * late (unanswered SYNs end after their retries) still finds room, and a
 * completed connection only takes room no failure needs. */
static void html_connection(void *state, const struct ta_conn *c) {
  struct html_state *s = state;
  int sc = c->scenario < TA_SC_COUNT ? c->scenario : TA_SC_OTHER;
  s->seen++;
  bool stream = sc != TA_SC_COMPLETED && s->written_of[sc] < s->stream_quota;
  slow_conn_note(s, c);
  if (!make_room(s, sc) || !record_json(s, c, sc != TA_SC_COMPLETED))
    return;
  if (stream) {
    size_t n;
    const char *json = ta_sink_mem(&s->esc, &n);
    write_record(s, json, n);
    s->written_of[sc]++;
  } else {
    hold(s, sc);
  }
}

/* Order of notability: scan suspects, then failed attempts, then traffic. */
static int host_cmp(const struct html_host *a, const struct html_host *b) {
  if (a->scan_suspect != b->scan_suspect)
    return a->scan_suspect ? 1 : -1;
  if (a->failed != b->failed)
    return a->failed > b->failed ? 1 : -1;
  uint64_t ta = a->orig + a->resp, tb = b->orig + b->resp;
  return ta > tb ? 1 : ta < tb ? -1 : 0;
}

static void heap_down(struct html_host *h, size_t n, size_t i) {
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    if (l < n && host_cmp(&h[l], &h[m]) < 0)
      m = l;
    if (r < n && host_cmp(&h[r], &h[m]) < 0)
      m = r;
    if (m == i)
      return;
    struct html_host t = h[i];
    h[i] = h[m];
    h[m] = t;
    i = m;
  }
}

static void heap_up(struct html_host *h, size_t i) {
  while (i > 0 && host_cmp(&h[i], &h[(i - 1) / 2]) < 0) {
    struct html_host t = h[i];
    h[i] = h[(i - 1) / 2];
    h[(i - 1) / 2] = t;
    i = (i - 1) / 2;
  }
}

static void host_fill(struct html_host *d, const struct ta_host *h) {
  memset(d, 0, sizeof *d);
  ta_addr_format(d->ip, sizeof d->ip, h->family, h->ip);
  d->orig = h->as_orig.connections;
  d->resp = ta_host_as_resp(h)->connections;
  d->failed = h->failed_attempts;
  d->refused = h->as_orig.by_scenario[TA_SC_REFUSED];
  d->unanswered = h->as_orig.by_scenario[TA_SC_UNANSWERED];
  d->targets = h->as_orig.distinct_targets;
  d->peers = h->as_orig.distinct_peers;
  d->scan_suspect = h->scan_suspect;
  d->n_services = ta_host_n_services(h);
  d->services_overflow = ta_host_services_overflow(h);
  d->os = h->os;
  /* the busiest ports, by insertion into a short sorted list */
  const struct ta_service *svc = ta_host_services(h);
  for (uint32_t i = 0; i < d->n_services; i++) {
    uint64_t total = 0;
    for (int k = 0; k < TA_SC_COUNT; k++)
      total += svc[i].by_scenario[k];
    size_t pos = d->n_svc;
    while (pos > 0 && d->svc[pos - 1].conns < total)
      pos--;
    if (pos >= HTML_HOST_SERVICES)
      continue;
    size_t last = d->n_svc < HTML_HOST_SERVICES ? d->n_svc : HTML_HOST_SERVICES - 1;
    memmove(&d->svc[pos + 1], &d->svc[pos], (last - pos) * sizeof d->svc[0]);
    if (d->n_svc < HTML_HOST_SERVICES)
      d->n_svc++;
    d->svc[pos].port = svc[i].port;
    d->svc[pos].conns = total;
  }
}

/* Keeps the services of h with the highest p95 response time. */
static void slow_svc_note(struct html_state *s, const struct ta_host *h) {
  const struct ta_service *svc = ta_host_services(h);
  for (uint32_t i = 0; i < ta_host_n_services(h); i++) {
    const struct ta_svc_latency *l = svc[i].lat;
    if (!l || !l->response.count)
      continue;
    int64_t p95 = ta_lat_dist_quantile(&l->response, 0.95);
    size_t pos = ta__rank_insert(
        s->slow_svc, sizeof s->slow_svc[0],
        offsetof(struct html_slow_service, p95), &s->n_slow_svc,
        HTML_SLOW_SERVICES, p95, &s->slow_svc_more);
    if (pos == HTML_SLOW_SERVICES)
      continue;
    struct html_slow_service *k = &s->slow_svc[pos];
    endpoint_text(k->where, sizeof k->where, h->family, h->ip,
                  svc[i].port);
    k->p95 = p95;
    k->lat = l;
  }
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

static void span_cell(struct ta_sink *o, int64_t ns, bool have) {
  char t[32];
  if (!have) {
    ta_sink_puts(o, "<td class=\"n\" data-v=\"-1\">-</td>");
    return;
  }
  span_text(t, sizeof t, ns);
  ta_sink_printf(o, "<td class=\"n\" data-v=\"%lld\">%s</td>", (long long)ns, t);
}

/* A service's response times as bars per decade, drawn as SVG. */
static void decade_bars(struct ta_sink *o, const struct ta_lat_dist *d) {
  static const int64_t edge[] = {100000LL, 1000000LL, 10000000LL,
                                 100000000LL, 1000000000LL, 10000000000LL};
  static const char *const label[] = {"&lt;0.1ms", "&lt;1ms", "&lt;10ms", "&lt;100ms",
                                      "&lt;1s", "&lt;10s", "10s+"};
  enum { NB = 7, BW = 34, BH = 36 };
  uint64_t cum[NB], total = ta_lat_dist_count_le(d, INT64_MAX), prev = 0;
  uint64_t top = 1;
  for (int i = 0; i < NB; i++) {
    uint64_t le = i < NB - 1 ? ta_lat_dist_count_le(d, edge[i]) : total;
    cum[i] = le - prev;
    prev = le;
    if (cum[i] > top)
      top = cum[i];
  }
  ta_sink_printf(o, "<svg class=\"lat-bars\" width=\"%d\" height=\"%d\" "
                 "role=\"img\" aria-label=\"response times by decade\">",
                 NB * BW, BH + 12);
  for (int i = 0; i < NB; i++) {
    double h = cum[i] ? 2.0 + (BH - 2.0) * (double)cum[i] / (double)top : 0;
    ta_sink_printf(o, "<rect x=\"%d\" y=\"%.1f\" width=\"%d\" height=\"%.1f\">"
                   "<title>%s: %llu</title></rect><text x=\"%d\" y=\"%d\" "
                   "text-anchor=\"middle\">%s</text>", i * BW + 2, BH - h,
                   BW - 4, h, label[i], (unsigned long long)cum[i],
                   i * BW + BW / 2, BH + 10, label[i]);
  }
  ta_sink_puts(o, "</svg>");
}

static void latency_section(struct html_state *s) {
  struct ta_sink *o = s->out;
  ta_sink_puts(o, "<section id=\"latency\"><h2>Latency</h2>\n<p class=\"muted"
               "\">Server response time: from the originator's last request "
               "byte to the responder's first answer byte, as seen at the "
               "capture point (so it includes the trip from the capture point "
               "to the server and back). Handshake round trip: SYN to the ACK "
               "of the SYN/ACK. Figures computed from bins carry their error "
               "bound; docs/latency.md says how.</p>\n");
  if (!s->n_slow_svc) {
    ta_sink_puts(o, "<p class=\"muted\">No exchange was measured.</p>"
                 "</section>\n");
    return;
  }
  ta_sink_puts(o, "<h3>Slowest services (by p95 response time)</h3>\n<table "
               "class=\"sortable\" id=\"latency-services\"><thead><tr><th>"
               "service</th><th class=\"n\">exchanges</th><th class=\"n\">p50"
               "</th><th class=\"n\">p95</th><th class=\"n\">p99</th><th "
               "class=\"n\">max</th><th>distribution</th><th class=\"n\">"
               "handshake p50</th><th class=\"n\">handshake p95</th><th "
               "class=\"n\">error</th></tr></thead><tbody>\n");
  for (size_t i = 0; i < s->n_slow_svc; i++) {
    const struct html_slow_service *k = &s->slow_svc[i];
    const struct ta_lat_dist *r = &k->lat->response, *h = &k->lat->handshake;
    ta_sink_puts(o, "<tr><td class=\"mono\">");
    html_put(o, k->where);
    ta_sink_puts(o, "</td>");
    u64_cell(o, r->count);
    span_cell(o, ta_lat_dist_quantile(r, 0.5), true);
    span_cell(o, k->p95, true);
    span_cell(o, ta_lat_dist_quantile(r, 0.99), true);
    span_cell(o, ta_lat_dist_max(r), true);
    ta_sink_puts(o, "<td>");
    decade_bars(o, r);
    ta_sink_puts(o, "</td>");
    span_cell(o, ta_lat_dist_quantile(h, 0.5), h->count > 0);
    span_cell(o, ta_lat_dist_quantile(h, 0.95), h->count > 0);
    double e = ta_lat_dist_error(r);
    ta_sink_printf(o, "<td class=\"n\" data-v=\"%.4f\">%s%.1f%%</td></tr>\n",
                   e, e > 0 ? "&plusmn;" : "", 100.0 * e);
  }
  ta_sink_puts(o, "</tbody></table>\n");
  if (s->slow_svc_more)
    ta_sink_printf(o, "<p class=\"muted\">...and %llu faster services; the "
                   "JSON report has them all.</p>\n",
                   (unsigned long long)s->slow_svc_more);
  ta_sink_puts(o, "<h3>Slowest connections (by their slowest answer)</h3>\n"
               "<table id=\"latency-conns\"><thead><tr><th class=\"n\">#</th>"
               "<th>originator</th><th>responder</th><th class=\"n\">"
               "exchanges</th><th class=\"n\">slowest</th><th class=\"n\">"
               "median</th><th class=\"n\">first answer</th></tr></thead>"
               "<tbody>\n");
  for (size_t i = 0; i < s->n_slow_conn; i++) {
    const struct html_slow_conn *k = &s->slow_conn[i];
    ta_sink_printf(o, "<tr><td class=\"n\"><a class=\"hl\" href=\"#latency-"
                   "detail\" data-show-conn=\"%llu\">%llu</a></td><td class="
                   "\"mono\">", (unsigned long long)k->id,
                   (unsigned long long)k->id);
    html_put(o, k->orig);
    ta_sink_puts(o, "</td><td class=\"mono\">");
    html_put(o, k->resp);
    ta_sink_puts(o, "</td>");
    u64_cell(o, k->exchanges);
    span_cell(o, k->max, true);
    span_cell(o, k->median, true);
    span_cell(o, k->first, k->first >= 0);
    ta_sink_puts(o, "</tr>\n");
  }
  ta_sink_puts(o, "</tbody></table>\n<p class=\"muted\">Click a number for the "
               "connection's details and ladder diagram (its first packets).</p>"
               "\n<div id=\"latency-detail\"></div>\n</section>\n");
}

static void html_host(void *state, const struct ta_host *h) {
  struct html_state *s = state;
  struct html_host cand;
  s->hosts_seen++;
  slow_svc_note(s, h);
  host_fill(&cand, h);
  if (s->n_hosts < HTML_MAX_HOSTS) {
    s->hosts[s->n_hosts] = cand;
    heap_up(s->hosts, s->n_hosts++);
  } else if (host_cmp(&cand, &s->hosts[0]) > 0) {
    s->hosts[0] = cand;
    heap_down(s->hosts, s->n_hosts, 0);
  }
}

static int host_cmp_desc(const void *a, const void *b) {
  return host_cmp(b, a);
}

static void count_card(struct ta_sink *o, const char *label, const char *path,
                       uint64_t v) {
  ta_sink_printf(o, "<div class=\"card\"><b data-count=\"%s\">%llu</b>"
                 "<span>%s</span></div>", path, (unsigned long long)v, label);
}

static void time_text(struct html_state *s, char *buf, size_t len, int64_t ns) {
  ta_time_format(buf, len, ns, s->digits);
}

/* What a pcapng file says about itself: untrusted text, escaped. */
static void input_notes(struct ta_sink *o, const struct ta_input_info *in) {
  if (in->section_comment[0]) {
    ta_sink_puts(o, "comment: <span class=\"mono\">");
    html_put(o, in->section_comment);
    ta_sink_puts(o, "</span>");
  }
  for (uint8_t i = 0; i < in->n_ifaces && i < TA_MAX_INPUT_IFACES; i++) {
    const struct ta_iface_text *f = &in->ifaces[i];
    if (!f->name[0] && !f->description[0])
      continue;
    ta_sink_printf(o, "%sinterface %u: <span class=\"mono\">",
                   in->section_comment[0] || i ? "<br>" : "", i);
    html_put(o, f->name);
    if (f->description[0]) {
      ta_sink_puts(o, " (");
      html_put(o, f->description);
      ta_sink_puts(o, ")");
    }
    ta_sink_puts(o, "</span>");
  }
  if (in->ifaces_more)
    ta_sink_printf(o, "<br>...and %u more interfaces", in->ifaces_more);
}

static void inputs_table(struct html_state *s, const struct ta_summary *sum) {
  struct ta_sink *o = s->out;
  ta_sink_puts(o, "<h3>Input files</h3>\n<table><thead><tr><th>file</th>"
               "<th>format</th><th>compression</th><th class=\"n\">packets"
               "</th><th class=\"n\">bytes</th><th>first packet</th><th>last "
               "packet</th><th>status</th><th>notes in the file</th></tr>"
               "</thead><tbody>\n");
  for (size_t i = 0; i < sum->n_inputs && i < HTML_INPUTS_LISTED; i++) {
    const struct ta_input_info *in = &sum->inputs[i];
    char a[48] = "-", b[48] = "-";
    if (in->packets) {
      time_text(s, a, sizeof a, in->first_ts);
      time_text(s, b, sizeof b, in->last_ts);
    }
    ta_sink_puts(o, "<tr><td class=\"mono\">");
    html_put(o, in->path);
    ta_sink_printf(o, "</td><td>%s</td><td>%s</td>",
                   in->format[0] ? in->format : "unreadable",
                   in->compression[0] ? in->compression : "none");
    ta_sink_printf(o, "<td class=\"n\" data-count=\"inputs.%zu.packets\">%llu"
                   "</td>", i, (unsigned long long)in->packets);
    u64_cell(o, in->bytes);
    ta_sink_printf(o, "<td class=\"mono\">%s</td><td class=\"mono\">%s</td><td>",
                   a, b);
    if (in->error) {
      ta_sink_puts(o, "<span class=\"warn\">");
      html_put(o, in->error_msg);
      ta_sink_puts(o, "</span>");
    } else {
      ta_sink_puts(o, "read cleanly");
    }
    ta_sink_puts(o, "</td><td>");
    input_notes(o, in);
    ta_sink_puts(o, "</td></tr>\n");
  }
  ta_sink_puts(o, "</tbody></table>\n");
  if (sum->n_inputs > HTML_INPUTS_LISTED)
    ta_sink_printf(o, "<p class=\"muted\">...and %zu more files (see the "
                   "JSON report).</p>\n", sum->n_inputs - HTML_INPUTS_LISTED);
}

static void overview(struct html_state *s, const struct ta_summary *sum,
                     uint64_t embedded) {
  struct ta_sink *o = s->out;
  const struct ta_counters *k = sum->packets;
  const struct ta_flow_stats *f = sum->flows;
  int64_t first, last;
  bool any = ta_summary_time_span(sum, &first, &last);
  ta_sink_puts(o, "<section id=\"overview\"><h2>Capture overview</h2>\n");
  if (any) {
    char a[48], b[48], d[40];
    time_text(s, a, sizeof a, first);
    time_text(s, b, sizeof b, last);
    ta_secs_format(d, sizeof d, last - first, 6);
    ta_sink_printf(o, "<p>From <span class=\"mono\">%s</span> to <span "
                   "class=\"mono\">%s</span> (%s s)", a, b, d);
  } else {
    ta_sink_puts(o, "<p>No packets were read");
  }
  if (sum->filter) {
    ta_sink_puts(o, ", filter <span class=\"mono\">");
    html_put(o, sum->filter);
    ta_sink_puts(o, "</span>");
  }
  ta_sink_puts(o, ".</p>\n<div class=\"cards\">");
  count_card(o, "packets", "packets.total", k->total);
  for (int d = 0; d < TA_DISP_COUNT; d++)
    if (d == TA_DISP_TCP || k->by_disposition[d]) {
      char path[64];
      snprintf(path, sizeof path, "packets.%s", ta_disposition_name(d));
      count_card(o, ta_disposition_name(d), path, k->by_disposition[d]);
    }
  count_card(o, "connections", "flows.connections", f->connections);
  count_card(o, "hosts", "hosts.length", s->hosts_seen);
  if (f->evicted)
    count_card(o, "reported early (table full)", "flows.evicted", f->evicted);
  count_card(o, "most open at once", "flows.peak_open", f->peak_open);
  ta_sink_puts(o, "</div>\n");
  if (embedded < f->connections)
    ta_sink_printf(o, "<p class=\"note\" id=\"cap-note\">This page embeds "
                   "<b data-embedded=\"%llu\">%llu</b> of the %llu connections "
                   "(at most %u, set by --html-max-connections; those that did "
                   "not complete come first). Every connection is in the JSON "
                   "report: <span class=\"mono\">tcpaudit report -f json</span>."
                   "</p>\n", (unsigned long long)embedded,
                   (unsigned long long)embedded,
                   (unsigned long long)f->connections, s->cap);
  if (sum->damaged)
    ta_sink_puts(o, "<p class=\"note warn\">Some input was damaged: this report "
                 "covers what could be read.</p>\n");
  inputs_table(s, sum);
  if (sum->n_warnings || sum->warnings_dropped) {
    ta_sink_puts(o, "<h3>Warnings</h3><ul>\n");
    for (size_t i = 0; i < sum->n_warnings; i++) {
      ta_sink_puts(o, "<li class=\"warn\">");
      html_put(o, sum->warnings[i]);
      ta_sink_puts(o, "</li>\n");
    }
    if (sum->warnings_dropped)
      ta_sink_printf(o, "<li>...and %llu more</li>\n",
                     (unsigned long long)sum->warnings_dropped);
    ta_sink_puts(o, "</ul>\n");
  }
  ta_sink_puts(o, "</section>\n");
}

/* Horizontal bars, one per scenario seen, drawn on the server as SVG. */
static void scenario_chart(struct html_state *s, const struct ta_summary *sum) {
  struct ta_sink *o = s->out;
  const struct ta_flow_stats *f = sum->flows;
  uint64_t max = 0;
  int rows = 0;
  for (int i = 0; i < TA_SC_COUNT; i++) {
    if (f->by_scenario[i] > max)
      max = f->by_scenario[i];
    rows += f->by_scenario[i] != 0;
  }
  ta_sink_puts(o, "<section id=\"scenarios\"><h2>Connections by scenario</h2>\n");
  if (!rows) {
    ta_sink_puts(o, "<p class=\"muted\">No TCP connections.</p></section>\n");
    return;
  }
  const int label_w = 190, bar_w = 520, row_h = 26;
  int h = rows * row_h + 8;
  ta_sink_printf(o, "<svg class=\"chart\" width=\"%d\" height=\"%d\" viewBox="
                 "\"0 0 %d %d\" role=\"img\" aria-label=\"connections by "
                 "scenario\">\n", label_w + bar_w + 110, h, label_w + bar_w + 110,
                 h);
  int y = 4;
  for (int i = 0; i < TA_SC_COUNT; i++) {
    uint64_t v = f->by_scenario[i];
    if (!v)
      continue;
    double w = (double)bar_w * (double)v / (double)max;
    if (w < 2)
      w = 2;
    ta_sink_printf(o, "<g class=\"sc-%s\" data-scenario=\"%s\"><text x=\"%d\" "
                   "y=\"%d\" text-anchor=\"end\">%s</text><rect x=\"%d\" "
                   "y=\"%d\" width=\"%.1f\" height=\"%d\" rx=\"2\"/>"
                   "<text class=\"v\" x=\"%.1f\" y=\"%d\" data-count=\"flows."
                   "by_scenario.%s\">%llu</text></g>\n",
                   ta_scenario_name(i), ta_scenario_name(i), label_w - 8,
                   y + 16, ta_scenario_name(i), label_w, y + 3, w, row_h - 8,
                   label_w + w + 6, y + 16, ta_scenario_name(i),
                   (unsigned long long)v);
    y += row_h;
  }
  ta_sink_puts(o, "</svg>\n</section>\n");
}

/* The OS guess, with its evidence folded into a <details>; sorts on the
 * guess alone. */
static void os_cell(struct ta_sink *o, const struct ta_fp_host *os) {
  char label[160], line[640];
  ta_fp_host_label(label, sizeof label, os);
  ta_sink_puts(o, "<td data-v=\"");
  html_put(o, label);
  ta_sink_puts(o, "\">");
  if (os->n) {
    struct ta_fp_verdict v;
    ta_fp_host_verdict(os, &v);
    ta_sink_puts(o, "<details><summary>");
    html_put(o, label);
    ta_sink_puts(o, "</summary><ul class=\"mono\">");
    if (v.stacks) {
      ta_fp_stack_hints(line, sizeof line, v.stacks);
      ta_sink_puts(o, "<li>several stacks: ");
      html_put(o, line);
      ta_sink_puts(o, "</li>");
    }
    for (uint8_t i = 0; i < os->n; i++) {
      ta_fp_evidence_line(line, sizeof line, os, i);
      ta_sink_puts(o, "<li>");
      html_put(o, line);
      ta_sink_puts(o, "</li>");
    }
    if (os->overflow)
      ta_sink_printf(o, "<li>and %llu packets of other shapes</li>",
                     (unsigned long long)os->overflow);
    ta_sink_puts(o, "</ul></details>");
  }
  ta_sink_puts(o, "</td>");
}

static void host_row(struct ta_sink *o, const struct html_host *h) {
  ta_sink_puts(o, "<tr><td class=\"mono\"><a class=\"hl\" href=\"#connections\" "
               "data-filter-host=\"");
  html_put(o, h->ip);
  ta_sink_puts(o, "\">");
  html_put(o, h->ip);
  ta_sink_puts(o, "</a></td>");
  u64_cell(o, h->orig);
  u64_cell(o, h->resp);
  u64_cell(o, h->failed);
  u64_cell(o, h->refused);
  u64_cell(o, h->unanswered);
  u64_cell(o, h->targets);
  ta_sink_puts(o, "<td class=\"mono\">");
  for (uint8_t i = 0; i < h->n_svc; i++)
    ta_sink_printf(o, "%s%u (%llu)", i ? ", " : "", h->svc[i].port,
                   (unsigned long long)h->svc[i].conns);
  if (h->n_services > h->n_svc)
    ta_sink_printf(o, ", +%u more", h->n_services - h->n_svc);
  ta_sink_puts(o, "</td>");
  os_cell(o, &h->os);
  ta_sink_printf(o, "<td data-v=\"%d\">%s</td></tr>\n", h->scan_suspect,
                 h->scan_suspect ? "<b class=\"warn\">scan suspect</b>" : "");
}

static void hosts_table(struct html_state *s, const struct ta_summary *sum) {
  struct ta_sink *o = s->out;
  qsort(s->hosts, s->n_hosts, sizeof *s->hosts, host_cmp_desc);
  ta_sink_puts(o, "<section id=\"hosts\"><h2>Hosts</h2>\n");
  uint64_t failed = 0, targets = 0;
  if (sum->hosts)
    ta_hosts_scan_threshold(sum->hosts, &failed, &targets);
  ta_sink_printf(o, "<p class=\"muted\">A host is a scan suspect after %llu "
                 "refused or unanswered attempts to %llu distinct targets. "
                 "Click an address to see its connections, and an OS guess "
                 "to see the packets it rests on.",
                 (unsigned long long)failed, (unsigned long long)targets);
  if (s->hosts_seen > s->n_hosts)
    ta_sink_printf(o, " Showing the %zu most notable of %llu hosts; the JSON "
                   "report has them all.", s->n_hosts,
                   (unsigned long long)s->hosts_seen);
  ta_sink_puts(o, "</p>\n<table class=\"sortable\" id=\"host-table\"><thead><tr>"
               "<th>host</th><th class=\"n\">as originator</th><th class=\"n\">"
               "as responder</th><th class=\"n\">failed attempts</th><th "
               "class=\"n\">refused</th><th class=\"n\">unanswered</th><th "
               "class=\"n\">distinct targets</th><th>services (connections)"
               "</th><th>OS guess</th><th>flag</th></tr></thead><tbody>\n");
  for (size_t i = 0; i < s->n_hosts; i++)
    host_row(o, &s->hosts[i]);
  ta_sink_puts(o, "</tbody></table>\n</section>\n");
}

static void stories_section(struct ta_sink *o) {
  ta_sink_puts(o,
               "<section id=\"stories\"><h2>What the failures look like</h2>\n"
               "<p class=\"muted\">The first connection of each scenario that "
               "did not complete, packet by packet: the originator on the left, "
               "the responder on the right, sequence and acknowledgement "
               "numbers relative to each side's first, raw window, and time "
               "since the first SYN.</p>\n<div class=\"stories\" id=\"stories-"
               "list\"></div></section>\n");
}

static void connections_section(struct ta_sink *o) {
  ta_sink_puts(o,
               "<section id=\"connections\"><h2>Connections</h2>\n"
               "<div class=\"filters\"><label>host<input id=\"f-host\" "
               "type=\"search\" placeholder=\"address or part of it\"></label>"
               "<label>port<input id=\"f-port\" type=\"search\" size=\"7\" "
               "placeholder=\"any\"></label><label>scenario<select "
               "id=\"f-scenario\"><option value=\"\">all</option><option "
               "value=\"!completed\">not completed</option></select></label>"
               "</div>\n<p id=\"conn-count\" class=\"muted\"></p>\n"
               "<table id=\"conn-table\"><thead><tr id=\"conn-head\"></tr>"
               "</thead><tbody id=\"conn-body\"></tbody></table>\n"
               "<p><button id=\"conn-more\" hidden>show more</button></p>\n"
               "<p class=\"muted\">Click a row for its details and, when it did "
               "not complete, its ladder diagram.</p>\n</section>\n"
               "<noscript><p class=\"note\">The connection table and the ladder "
               "diagrams need JavaScript.</p></noscript>\n");
}

static int html_close(void *state, const struct ta_summary *sum) {
  struct html_state *s = state;
  struct ta_sink *o = s->out;
  /* the held records fit by construction: failures first, completed last */
  _Static_assert(TA_SC_COMPLETED == 0, "completed is scenario 0");
  for (int k = 1; k <= TA_SC_COUNT; k++) {
    int sc = k % TA_SC_COUNT; /* TA_SC_COMPLETED is 0 */
    for (uint32_t i = 0; i < s->held[sc].n; i++)
      write_record(s, s->held[sc].rec[i], s->held[sc].len[i]);
  }
  uint64_t embedded = s->written;
  ta_sink_puts(o, "\n]</script>\n<script type=\"application/json\" "
               "id=\"ta-meta\">");
  ta_sink_printf(o, "{\"connections\":%llu,\"embedded\":%llu,\"cap\":%u,"
                 "\"scenarios\":[", (unsigned long long)sum->flows->connections,
                 (unsigned long long)embedded, s->cap);
  for (int i = 0; i < TA_SC_COUNT; i++)
    ta_sink_printf(o, "%s\"%s\"", i ? "," : "", ta_scenario_name(i));
  /* the latency view's slowest connections, each with its ladder */
  ta_sink_puts(o, "],\"slow\":[");
  for (size_t i = 0, n = 0; i < s->n_slow_conn; i++)
    if (s->slow_conn[i].json) {
      ta_sink_puts(o, n++ ? ",\n" : "\n");
      ta_sink_write(o, s->slow_conn[i].json, s->slow_conn[i].len);
    }
  ta_sink_puts(o, "]}</script>\n<main>\n");
  overview(s, sum, embedded);
  scenario_chart(s, sum);
  stories_section(o);
  hosts_table(s, sum);
  latency_section(s);
  connections_section(o);
  ta_sink_puts(o, "</main>\n<script>\n");
  ta_sink_puts(o, page_js);
  ta_sink_puts(o, "</script>\n</body>\n</html>\n");
  int rc = ta_sink_flush(o);
  free_state(s);
  return rc;
}

const struct ta_reporter ta_report_html = {
    .name = "html",
    .help = "one self-contained HTML page with charts and ladder diagrams",
    .open = html_open,
    .on_connection = html_connection,
    .on_host = html_host,
    .close = html_close,
};
