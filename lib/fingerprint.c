/* tcpaudit - fingerprint: passive OS guesses from SYN and SYN/ACK headers.
 * Features of one packet, the signature table parser (format in
 * docs/fingerprints.md), the matcher, the per-host verdict and its JSON.
 * Parsing allocates once per table; matching and aggregation never do. */
#include "ta_fingerprint.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ta_error.h"
#include "ta_hash.h"

/* The table text, generated from data/os-signatures.txt by CMakeLists.txt. */
extern const char ta__os_signatures[];
extern const size_t ta__os_signatures_len;

/* Table limits: far above what the shipped table needs, low enough that a
 * broken or hostile table cannot make parsing or matching expensive. */
#define FP_MAX_LINE 1024    /* bytes in one line of the table */
#define FP_MAX_ENTRIES 1024 /* entries in one table */
#define FP_MAX_RULES 4096   /* match lines in one table */
#define FP_MAX_LAYOUTS 12   /* alternatives in one options field */
#define FP_MAX_VALUES 8     /* values in one wscale or mss list */
#define FP_MAX_NOTE 600     /* bytes of an entry's note */
#define FP_MAX_FIELD 64     /* bytes of an id, os or version */
#define FP_TS_LEN 12        /* bytes the aligned timestamp option takes */
/* Internet paths are rarely longer than 30 hops: a TTL further below the
 * guessed initial one means the sender starts at some other value, so no
 * signature's TTL can be trusted for it. */
#define FP_MAX_HOPS 40
#define FP_ETH_MSS4 1460    /* MSS of a 1500-byte Ethernet MTU, IPv4 */
#define FP_ETH_MSS6 1440    /* and IPv6 */

enum { RULE_SYN, RULE_SYNACK, RULE_ANY };
enum { WIN_ANY, WIN_EXACT, WIN_MSS, WIN_MTU, WIN_MSS_MAX, WIN_MOD };

struct fp_layout {
  uint8_t n;
  uint8_t kind[TA_MAX_OPT_LAYOUT];
};

struct fp_rule {
  uint16_t entry;
  uint8_t kind;     /* RULE_* */
  uint8_t ttl;      /* initial TTL, 0 for any */
  uint8_t win_kind; /* WIN_* */
  uint16_t win_val;
  uint8_t n_ws, n_mss, n_layouts; /* 0: any */
  bool ws_absent_ok;  /* "-" in the wscale list: no scale option is fine */
  uint8_t ws[FP_MAX_VALUES];
  uint16_t mss[FP_MAX_VALUES];
  struct fp_layout layouts[FP_MAX_LAYOUTS];
  uint32_t need, forbid; /* TA_FPQ_* */
};

/* A packet's kind (SYN or SYN/ACK) and initial TTL rule out most of the
 * table before any other field is read, so the rules are indexed by them:
 * one list per (kind, TTL class), each in match order (the specific
 * entries' rules in table order, then the generic ones'). TTL classes are
 * 32, 64, 128, 255, and any other value (which only "*" rules admit). */
#define FP_TTL_CLASSES 5
#define FP_BUCKETS (2 * FP_TTL_CLASSES)

struct ta_fp_db {
  struct ta_fp_entry *entries;
  size_t n_entries, cap_entries;
  struct fp_rule *rules;
  size_t n_rules, cap_rules;
  uint16_t *order;                 /* rule numbers, bucket after bucket */
  uint32_t bucket[FP_BUCKETS + 1]; /* where each bucket starts in order */
};

/* Quirks that only IPv4 can show; ignored in rules for IPv6 packets. */
#define FP_V4_ONLY (TA_FPQ_DF | TA_FPQ_ID0 | TA_FPQ_IP_OPTIONS)

static const char *const quirk_names[] = {
#define TA__FPQ_NAME(name, text, meaning) text,
    TA_FP_QUIRK_MAP(TA__FPQ_NAME)
#undef TA__FPQ_NAME
};

const char *ta_fp_quirk_name(int i) {
  return i >= 0 && i < TA_FPQ_COUNT ? quirk_names[i] : "?";
}

/* Option kind names: the same as in the "options" of the "syn" object. */
#define FP_KINDS(NAME, GAP)                                                    \
  NAME("eol") NAME("nop") NAME("mss") NAME("ws") NAME("sok") NAME("sack")     \
  GAP GAP NAME("ts")
#define FP_KIND_STR(s) s,
#define FP_KIND_LEN(s) sizeof(s) - 1,
#define FP_KIND_NULL NULL,
#define FP_KIND_ZERO 0,
static const char *const kind_names[] = {FP_KINDS(FP_KIND_STR, FP_KIND_NULL)};
static const uint8_t kind_name_len[] = {FP_KINDS(FP_KIND_LEN, FP_KIND_ZERO)};
#define N_KIND_NAMES (sizeof kind_names / sizeof kind_names[0])

/* ------------------------------------------------------------------------ */
/* Features */

uint8_t ta_fp_initial_ttl(uint8_t ttl) {
  return ttl <= 32 ? 32 : ttl <= 64 ? 64 : ttl <= 128 ? 128 : 255;
}

static bool has_ts(const struct ta_fp_features *f) {
  for (uint8_t i = 0; i < f->n_layout; i++)
    if (f->layout[i] == 8)
      return true;
  return false;
}

/* Segment sizes a sender may have sized its window on, most telling first:
 * the MSS, the MSS less the timestamp option, and when the MSS option is
 * below the Ethernet one, the Ethernet MSS (with and without timestamps):
 * routers on PPPoE, VPN and tunnel paths rewrite the MSS option ("MSS
 * clamping") but never the window. Returns how many it wrote (up to 4). */
static int segment_sizes(const struct ta_fp_features *f, uint32_t seg[4],
                         uint8_t rel[4]) {
  int n = 0;
  if (!f->has_mss || f->mss == 0)
    return 0;
  bool ts = has_ts(f);
  uint32_t eth = f->family == 6 ? FP_ETH_MSS6 : FP_ETH_MSS4;
  seg[n] = f->mss;
  rel[n++] = TA_FP_WIN_MSS;
  if (ts && f->mss > FP_TS_LEN) {
    seg[n] = f->mss - FP_TS_LEN;
    rel[n++] = TA_FP_WIN_MSS_TS;
  }
  if (f->mss < eth) {
    seg[n] = eth;
    rel[n++] = TA_FP_WIN_ETH;
    if (ts) {
      seg[n] = eth - FP_TS_LEN;
      rel[n++] = TA_FP_WIN_ETH;
    }
  }
  return n;
}

/* Whether the window is k times seg; if so, that is its relation. */
static bool try_relation(struct ta_fp_features *f, uint8_t rel, uint32_t seg) {
  if (f->window % seg)
    return false;
  f->win_rel = rel;
  f->win_mult = (uint16_t)(f->window / seg);
  f->win_seg = (uint16_t)seg;
  return true;
}

/* The sizes of segment_sizes() tried in the order reported: the MSS
 * readings, then the MTU, then the Ethernet MSS of a clamped path. Spelled
 * out rather than collected: every SYN of every connection goes through
 * here, while the matcher wants the collected list. */
static void window_relation(struct ta_fp_features *f) {
  f->win_rel = TA_FP_WIN_NONE;
  f->win_mult = 0;
  f->win_seg = 0;
  if (f->window == 0 || !f->has_mss || f->mss == 0)
    return;
  bool ts = has_ts(f);
  uint32_t mss = f->mss, eth = f->family == 6 ? FP_ETH_MSS6 : FP_ETH_MSS4;
  if (try_relation(f, TA_FP_WIN_MSS, mss) ||
      (ts && mss > FP_TS_LEN &&
       try_relation(f, TA_FP_WIN_MSS_TS, mss - FP_TS_LEN)) ||
      try_relation(f, TA_FP_WIN_MTU, mss + (f->family == 6 ? 60u : 40u)))
    return;
  if (mss < eth && !try_relation(f, TA_FP_WIN_ETH, eth) && ts)
    try_relation(f, TA_FP_WIN_ETH, eth - FP_TS_LEN);
}

/* Every feature but the window relation. */
static void features_base(struct ta_fp_features *f,
                          const struct ta_syn_features *syn, uint8_t family) {
  const struct ta_tcp_options *o = &syn->opt;
  memset(f, 0, sizeof *f);
  f->synack = (syn->flags & TA_TCP_ACK) != 0;
  f->family = family == 6 ? 6 : 4;
  f->ttl = syn->ttl;
  f->initial_ttl = ta_fp_initial_ttl(syn->ttl);
  f->hops = (uint8_t)(f->initial_ttl - syn->ttl);
  f->window = syn->window;
  f->has_mss = o->has_mss;
  f->mss = o->has_mss ? o->mss : 0;
  f->has_wscale = o->has_wscale;
  f->wscale = o->has_wscale ? o->wscale : 0;
  f->n_layout = o->n_layout < TA_MAX_OPT_LAYOUT ? o->n_layout : TA_MAX_OPT_LAYOUT;
  memcpy(f->layout, o->layout, f->n_layout);

  uint32_t q = 0, a = syn->anomalies;
  if (f->family == 4) {
    if (syn->df)
      q |= TA_FPQ_DF;
    if (syn->ip_id == 0)
      q |= TA_FPQ_ID0;
    if (a & TA_ANOM_IP_OPTIONS)
      q |= TA_FPQ_IP_OPTIONS;
  }
  if (syn->flags & (TA_TCP_ECE | TA_TCP_CWR))
    q |= TA_FPQ_ECN;
  if (syn->tos & 0x03)
    q |= TA_FPQ_ECT;
  if (syn->reserved || (a & TA_ANOM_TCP_RESERVED))
    q |= TA_FPQ_RESERVED;
  if (o->has_ts && o->ts_val == 0)
    q |= TA_FPQ_TS_VAL0;
  if ((a & TA_ANOM_TS_ECR_ON_SYN) || (!f->synack && o->has_ts && o->ts_ecr))
    q |= TA_FPQ_TS_ECR;
  if (a & TA_ANOM_TCP_OPT_AFTER_EOL)
    q |= TA_FPQ_AFTER_EOL;
  if (a & TA_ANOM_URG_PTR_NO_URG)
    q |= TA_FPQ_URG_PTR;
  if (syn->flags & TA_TCP_URG)
    q |= TA_FPQ_URG;
  if (syn->flags & TA_TCP_PSH)
    q |= TA_FPQ_PUSH;
  if (a & TA_ANOM_TCP_OPT_BAD)
    q |= TA_FPQ_BAD_OPTION;
  if (a & TA_ANOM_TCP_TRUNCATED)
    q |= TA_FPQ_TRUNCATED;
  f->quirks = q;
}

void ta_fp_features_from_syn(struct ta_fp_features *f,
                             const struct ta_syn_features *syn,
                             uint8_t family) {
  features_base(f, syn, family);
  window_relation(f);
}

/* Text built in a caller's buffer without printf: the report writes the
 * window relation of every side of every connection and a summary of every
 * host's evidence. Cut at the buffer's end exactly as snprintf would. */
struct text {
  char *buf;
  size_t len, used;
};

static void text_init(struct text *t, char *buf, size_t len) {
  t->buf = buf;
  t->len = len;
  t->used = 0;
  if (len)
    buf[0] = 0;
}

static void text_put(struct text *t, const char *s, size_t n) {
  if (t->used + 1 >= t->len)
    return;
  size_t room = t->len - 1 - t->used;
  if (n > room)
    n = room;
  memcpy(t->buf + t->used, s, n);
  t->used += n;
  t->buf[t->used] = 0;
}

static void text_str(struct text *t, const char *s) { text_put(t, s, strlen(s)); }

static void text_u64(struct text *t, uint64_t v) {
  char d[24];
  text_put(t, d, (size_t)(ta__jput_u64(d, v) - d));
}

/* Text written forward at a pointer into room the caller sized (no
 * printf: the report writes these for every side of every connection and
 * every host's evidence). Quirk names with their lengths known. */
static const uint8_t quirk_name_len[] = {
#define TA__FPQ_LEN(name, text, meaning) sizeof(text) - 1,
    TA_FP_QUIRK_MAP(TA__FPQ_LEN)
#undef TA__FPQ_LEN
};

static char *put_kind(char *p, uint8_t k) {
  const char *n = k < N_KIND_NAMES ? kind_names[k] : NULL;
  if (!n) {
    *p++ = 'k';
    return ta__jput_u64(p, k);
  }
  memcpy(p, n, kind_name_len[k]);
  return p + kind_name_len[k];
}

/* "mss,nop,ws,nop,nop,sok": at most TA_MAX_OPT_LAYOUT * 5 - 1 bytes. */
static char *put_layout(char *p, const struct ta_fp_features *f) {
  for (uint8_t i = 0; i < f->n_layout; i++) {
    if (i)
      *p++ = ',';
    p = put_kind(p, f->layout[i]);
  }
  return p;
}

/* ta_fp_window_rel's text: at most 11 bytes. */
static char *put_window_rel(char *p, const struct ta_fp_features *f) {
  switch (f->win_rel) {
  case TA_FP_WIN_MSS:
    p = TA_JPUT_LIT(p, "mss*");
    break;
  case TA_FP_WIN_MSS_TS:
    p = TA_JPUT_LIT(p, "(mss-12)*");
    break;
  case TA_FP_WIN_MTU:
    p = TA_JPUT_LIT(p, "mtu*");
    break;
  case TA_FP_WIN_ETH:
    p = ta__jput_u64(p, f->win_seg);
    *p++ = '*';
    break;
  default:
    return p;
  }
  return ta__jput_u64(p, f->win_mult);
}

static void window_rel_text(struct text *t, const struct ta_fp_features *f) {
  char tmp[32];
  text_put(t, tmp, (size_t)(put_window_rel(tmp, f) - tmp));
}

void ta_fp_window_rel(char *buf, size_t len, const struct ta_fp_features *f) {
  struct text t;
  text_init(&t, buf, len);
  window_rel_text(&t, f);
}

/* Name of option kind k: static, or written into other (8 bytes). */
static const char *kind_name(uint8_t k, char other[8]) {
  const char *n = k < N_KIND_NAMES ? kind_names[k] : NULL;
  if (n)
    return n;
  struct text t;
  text_init(&t, other, 8);
  text_put(&t, "k", 1);
  text_u64(&t, k);
  return other;
}

/* Appends text to buf[0..*used) if it fits whole; false when it does not. */
static bool append(char *buf, size_t len, size_t *used, const char *text,
                   size_t n) {
  if (*used + n >= len)
    return false;
  memcpy(buf + *used, text, n);
  *used += n;
  buf[*used] = 0;
  return true;
}

/* Whole names only, never ending on a comma, when the buffer is short. */
void ta_fp_layout(char *buf, size_t len, const struct ta_fp_features *f) {
  size_t used = 0;
  if (!len)
    return;
  buf[0] = 0;
  for (uint8_t i = 0; i < f->n_layout; i++) {
    char other[8];
    const char *n = kind_name(f->layout[i], other);
    if ((i && !append(buf, len, &used, ",", 1)) ||
        !append(buf, len, &used, n, strlen(n))) {
      if (used && buf[used - 1] == ',')
        buf[--used] = 0;
      return;
    }
  }
}

/* At most about 300 bytes: every field at its longest, every quirk. */
static char *put_summary(char *p, const struct ta_fp_features *f) {
  p = f->synack ? TA_JPUT_LIT(p, "syn+ack ttl ") : TA_JPUT_LIT(p, "syn ttl ");
  p = ta__jput_u64(p, f->ttl);
  p = TA_JPUT_LIT(p, " (initial ");
  p = ta__jput_u64(p, f->initial_ttl);
  p = TA_JPUT_LIT(p, ", ");
  p = ta__jput_u64(p, f->hops);
  p = f->hops == 1 ? TA_JPUT_LIT(p, " hop) win ") : TA_JPUT_LIT(p, " hops) win ");
  p = ta__jput_u64(p, f->window);
  if (f->win_rel >= TA_FP_WIN_MSS && f->win_rel <= TA_FP_WIN_ETH) {
    p = TA_JPUT_LIT(p, " (");
    p = put_window_rel(p, f);
    *p++ = ')';
  }
  p = TA_JPUT_LIT(p, " ws ");
  p = f->has_wscale ? ta__jput_u64(p, f->wscale) : TA_JPUT_LIT(p, "-");
  p = TA_JPUT_LIT(p, " mss ");
  p = f->has_mss ? ta__jput_u64(p, f->mss) : TA_JPUT_LIT(p, "-");
  p = TA_JPUT_LIT(p, " opts ");
  p = f->n_layout ? put_layout(p, f) : TA_JPUT_LIT(p, "-");
  p = TA_JPUT_LIT(p, " quirks ");
  bool any = false;
  for (int i = 0; f->quirks && i < TA_FPQ_COUNT; i++)
    if (f->quirks & (1u << i)) {
      if (any)
        *p++ = ',';
      memcpy(p, quirk_names[i], quirk_name_len[i]);
      p += quirk_name_len[i];
      any = true;
    }
  return any ? p : TA_JPUT_LIT(p, "-");
}

static void summary_text(struct text *t, const struct ta_fp_features *f) {
  char tmp[512];
  text_put(t, tmp, (size_t)(put_summary(tmp, f) - tmp));
}

void ta_fp_summary(char *buf, size_t len, const struct ta_fp_features *f) {
  struct text t;
  text_init(&t, buf, len);
  summary_text(&t, f);
}

/* ------------------------------------------------------------------------ */
/* Table parser */

struct parser {
  struct ta_fp_db *db;
  unsigned line;
  char *err;
  size_t errlen;
  struct ta_fp_entry *cur; /* entry being read, NULL before the first */
  size_t cur_rules;        /* rules of the current entry */
};

static int perr(struct parser *p, const char *what, const char *tok) {
  return ta__fail(p->err, p->errlen, TA_EINVAL,
                  "os signatures line %u: %s%s%s%s", p->line, what,
                  tok ? " '" : "", tok ? tok : "", tok ? "'" : "");
}

static char *dup_text(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (d) {
    memcpy(d, s, n);
    d[n] = 0;
  }
  return d;
}

static bool parse_uint(const char *s, unsigned long max, unsigned long *out) {
  if (!*s)
    return false;
  unsigned long v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9')
      return false;
    v = v * 10 + (unsigned long)(*s - '0');
    if (v > max)
      return false;
  }
  *out = v;
  return true;
}

static bool id_ok(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n >= FP_MAX_FIELD)
    return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-' ||
          *s == '.' || *s == '_'))
      return false;
  return true;
}

/* Splits s at sep into at most max pieces (s is modified). */
static size_t split(char *s, char sep, char **out, size_t max) {
  size_t n = 0;
  while (n < max) {
    out[n++] = s;
    char *c = strchr(s, sep);
    if (!c)
      return n;
    *c = 0;
    s = c + 1;
  }
  return max + 1; /* too many */
}

static int parse_window(struct parser *p, struct fp_rule *r, char *tok) {
  unsigned long v;
  if (strcmp(tok, "*") == 0) {
    r->win_kind = WIN_ANY;
    return 0;
  }
  if (strcmp(tok, "mss*max") == 0) {
    r->win_kind = WIN_MSS_MAX;
    return 0;
  }
  if (strncmp(tok, "mss*", 4) == 0 && parse_uint(tok + 4, 65535, &v) && v) {
    r->win_kind = WIN_MSS;
    r->win_val = (uint16_t)v;
    return 0;
  }
  if (strncmp(tok, "mtu*", 4) == 0 && parse_uint(tok + 4, 65535, &v) && v) {
    r->win_kind = WIN_MTU;
    r->win_val = (uint16_t)v;
    return 0;
  }
  if (tok[0] == '%' && parse_uint(tok + 1, 65535, &v) && v) {
    r->win_kind = WIN_MOD;
    r->win_val = (uint16_t)v;
    return 0;
  }
  if (parse_uint(tok, 65535, &v)) {
    r->win_kind = WIN_EXACT;
    r->win_val = (uint16_t)v;
    return 0;
  }
  return perr(p, "bad window", tok);
}

/* The mss field: "*" (n = 0) or a comma list of numbers up to max. */
static int parse_list(struct parser *p, char *tok, unsigned long max,
                      uint16_t *vals, uint8_t *n, const char *what) {
  if (strcmp(tok, "*") == 0) {
    *n = 0;
    return 0;
  }
  char *parts[FP_MAX_VALUES];
  size_t k = split(tok, ',', parts, FP_MAX_VALUES);
  if (k > FP_MAX_VALUES)
    return perr(p, what, "too many values");
  for (size_t i = 0; i < k; i++) {
    unsigned long v;
    if (!parse_uint(parts[i], max, &v))
      return perr(p, what, parts[i]);
    vals[i] = (uint16_t)v;
  }
  *n = (uint8_t)k;
  return 0;
}

/* The wscale field: "*", or a comma list of 0-14 and "-" (no option). */
static int parse_wscale(struct parser *p, struct fp_rule *r, char *tok) {
  if (strcmp(tok, "*") == 0)
    return 0;
  char *parts[FP_MAX_VALUES];
  size_t k = split(tok, ',', parts, FP_MAX_VALUES);
  if (k > FP_MAX_VALUES)
    return perr(p, "bad wscale", "too many values");
  for (size_t i = 0; i < k; i++) {
    unsigned long v;
    if (strcmp(parts[i], "-") == 0)
      r->ws_absent_ok = true;
    else if (parse_uint(parts[i], 14, &v))
      r->ws[r->n_ws++] = (uint8_t)v;
    else
      return perr(p, "bad wscale", parts[i]);
  }
  return 0;
}

static int option_kind(const char *name) {
  for (size_t i = 0; i < N_KIND_NAMES; i++)
    if (kind_names[i] && strcmp(name, kind_names[i]) == 0)
      return (int)i;
  unsigned long v;
  if (name[0] == 'k' && parse_uint(name + 1, 255, &v))
    return (int)v;
  return -1;
}

static int parse_layouts(struct parser *p, struct fp_rule *r, char *tok) {
  if (strcmp(tok, "*") == 0) {
    r->n_layouts = 0;
    return 0;
  }
  char *alts[FP_MAX_LAYOUTS];
  size_t n = split(tok, '|', alts, FP_MAX_LAYOUTS);
  if (n > FP_MAX_LAYOUTS)
    return perr(p, "too many option layouts", NULL);
  for (size_t i = 0; i < n; i++) {
    struct fp_layout *l = &r->layouts[i];
    l->n = 0;
    if (strcmp(alts[i], "-") == 0)
      continue; /* no options at all */
    char *kinds[TA_MAX_OPT_LAYOUT];
    size_t m = split(alts[i], ',', kinds, TA_MAX_OPT_LAYOUT);
    if (m > TA_MAX_OPT_LAYOUT)
      return perr(p, "option layout too long", NULL);
    for (size_t j = 0; j < m; j++) {
      int k = option_kind(kinds[j]);
      if (k < 0)
        return perr(p, "unknown option", kinds[j]);
      l->kind[l->n++] = (uint8_t)k;
    }
  }
  r->n_layouts = (uint8_t)n;
  return 0;
}

static int parse_quirks(struct parser *p, struct fp_rule *r, char *tok) {
  if (strcmp(tok, "-") == 0)
    return 0;
  char *parts[TA_FPQ_COUNT * 2];
  size_t n = split(tok, ',', parts, TA_FPQ_COUNT * 2);
  if (n > TA_FPQ_COUNT * 2)
    return perr(p, "too many quirks", NULL);
  for (size_t i = 0; i < n; i++) {
    const char *name = parts[i];
    bool neg = name[0] == '!';
    if (neg)
      name++;
    int bit = -1;
    for (int q = 0; q < TA_FPQ_COUNT; q++)
      if (strcmp(name, quirk_names[q]) == 0)
        bit = q;
    if (bit < 0)
      return perr(p, "unknown quirk", parts[i]);
    if (neg)
      r->forbid |= 1u << bit;
    else
      r->need |= 1u << bit;
  }
  if (r->need & r->forbid)
    return perr(p, "a quirk both required and forbidden", NULL);
  return 0;
}

static int add_rule(struct parser *p, int kind, char **tok, size_t ntok) {
  if (!p->cur)
    return perr(p, "match line before the first [entry]", NULL);
  if (ntok != 7)
    return perr(p, "a match line needs 6 fields (ttl window wscale mss "
                   "options quirks)", NULL);
  if (p->db->n_rules >= FP_MAX_RULES)
    return perr(p, "too many match lines", NULL);
  if (p->db->n_rules == p->db->cap_rules) {
    size_t cap = p->db->cap_rules ? p->db->cap_rules * 2 : 64;
    struct fp_rule *r = realloc(p->db->rules, cap * sizeof *r);
    if (!r)
      return ta__fail(p->err, p->errlen, TA_ENOMEM, "out of memory");
    p->db->rules = r;
    p->db->cap_rules = cap;
  }
  struct fp_rule *r = &p->db->rules[p->db->n_rules];
  memset(r, 0, sizeof *r);
  r->entry = (uint16_t)(p->db->n_entries - 1);
  r->kind = (uint8_t)kind;

  unsigned long v;
  if (strcmp(tok[1], "*") == 0)
    r->ttl = 0;
  else if (parse_uint(tok[1], 255, &v) && (v == 32 || v == 64 || v == 128 ||
                                           v == 255))
    r->ttl = (uint8_t)v;
  else
    return perr(p, "ttl must be 32, 64, 128, 255 or *", tok[1]);
  int rc;
  if ((rc = parse_window(p, r, tok[2])) ||
      (rc = parse_wscale(p, r, tok[3])) ||
      (rc = parse_list(p, tok[4], 65535, r->mss, &r->n_mss, "bad mss")) ||
      (rc = parse_layouts(p, r, tok[5])) || (rc = parse_quirks(p, r, tok[6])))
    return rc;
  p->db->n_rules++;
  p->cur_rules++;
  return 0;
}

static int end_entry(struct parser *p) {
  if (!p->cur)
    return 0;
  if (!p->cur->os)
    return perr(p, "entry has no 'os' line:", p->cur->id);
  if (!p->cur->note)
    return perr(p, "entry has no 'note' (the fact it rests on):", p->cur->id);
  if (!p->cur_rules)
    return perr(p, "entry has no match line:", p->cur->id);
  return 0;
}

static int begin_entry(struct parser *p, char *line) {
  int rc = end_entry(p);
  if (rc)
    return rc;
  size_t n = strlen(line);
  if (n < 3 || line[n - 1] != ']')
    return perr(p, "bad entry header", line);
  line[n - 1] = 0;
  const char *id = line + 1;
  if (!id_ok(id))
    return perr(p, "entry id must be 1-63 of a-z 0-9 - . _", id);
  for (size_t i = 0; i < p->db->n_entries; i++)
    if (strcmp(p->db->entries[i].id, id) == 0)
      return perr(p, "duplicate entry id", id);
  if (p->db->n_entries >= FP_MAX_ENTRIES)
    return perr(p, "too many entries", NULL);
  if (p->db->n_entries == p->db->cap_entries) {
    size_t cap = p->db->cap_entries ? p->db->cap_entries * 2 : 32;
    struct ta_fp_entry *e = realloc(p->db->entries, cap * sizeof *e);
    if (!e)
      return ta__fail(p->err, p->errlen, TA_ENOMEM, "out of memory");
    p->db->entries = e;
    p->db->cap_entries = cap;
  }
  struct ta_fp_entry *e = &p->db->entries[p->db->n_entries++];
  memset(e, 0, sizeof *e);
  if (!(e->id = dup_text(id, strlen(id))))
    return ta__fail(p->err, p->errlen, TA_ENOMEM, "out of memory");
  p->cur = e;
  p->cur_rules = 0;
  return 0;
}

/* Sets *field to text (a key's value), appending with a space for notes. */
static int set_text(struct parser *p, const char **field, const char *text,
                    bool append, size_t max, const char *key) {
  size_t n = strlen(text);
  if (n == 0)
    return perr(p, "empty value for", key);
  size_t old = *field && append ? strlen(*field) : 0;
  if (*field && !append)
    return perr(p, "repeated key", key);
  if (old + 1 + n >= max)
    return perr(p, "value too long for", key);
  char *d = malloc(old + 1 + n + 1);
  if (!d)
    return ta__fail(p->err, p->errlen, TA_ENOMEM, "out of memory");
  if (old) {
    memcpy(d, *field, old);
    d[old] = ' ';
    memcpy(d + old + 1, text, n + 1);
  } else {
    memcpy(d, text, n + 1);
  }
  free((char *)*field);
  *field = d;
  return 0;
}

static int parse_line(struct parser *p, char *line) {
  /* trim */
  while (*line == ' ' || *line == '\t')
    line++;
  size_t n = strlen(line);
  while (n && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
    line[--n] = 0;
  if (n == 0 || line[0] == '#')
    return 0;
  if (line[0] == '[')
    return begin_entry(p, line);

  /* key, then the rest of the line */
  char *rest = line;
  while (*rest && *rest != ' ' && *rest != '\t')
    rest++;
  if (*rest)
    *rest++ = 0;
  while (*rest == ' ' || *rest == '\t')
    rest++;
  const char *key = line;

  if (!p->cur)
    return perr(p, "line before the first [entry]", key);
  if (strcmp(key, "os") == 0)
    return set_text(p, &p->cur->os, rest, false, FP_MAX_FIELD, key);
  if (strcmp(key, "version") == 0) {
    if (strcmp(rest, "-") == 0)
      return 0;
    return set_text(p, &p->cur->version, rest, false, FP_MAX_FIELD, key);
  }
  if (strcmp(key, "note") == 0)
    return set_text(p, &p->cur->note, rest, true, FP_MAX_NOTE, key);
  if (strcmp(key, "class") == 0) {
    if (strcmp(rest, "specific") == 0)
      p->cur->generic = false;
    else if (strcmp(rest, "generic") == 0)
      p->cur->generic = true;
    else
      return perr(p, "class must be specific or generic", rest);
    return 0;
  }
  int kind = strcmp(key, "syn") == 0      ? RULE_SYN
             : strcmp(key, "synack") == 0 ? RULE_SYNACK
             : strcmp(key, "any") == 0    ? RULE_ANY
                                          : -1;
  if (kind < 0)
    return perr(p, "unknown key", key);
  char *tok[8];
  size_t ntok = 0;
  tok[ntok++] = (char *)key;
  char *s = rest;
  while (*s) {
    if (ntok == 8)
      break; /* too many: add_rule says how many it needs */
    tok[ntok++] = s;
    while (*s && *s != ' ' && *s != '\t')
      s++;
    if (*s)
      *s++ = 0;
    while (*s == ' ' || *s == '\t')
      s++;
  }
  return add_rule(p, kind, tok, ntok);
}

static unsigned ttl_class(uint8_t ttl) {
  return ttl == 32 ? 0 : ttl == 64 ? 1 : ttl == 128 ? 2 : ttl == 255 ? 3 : 4;
}

static bool rule_in_bucket(const struct fp_rule *r, unsigned b) {
  bool synack = b >= FP_TTL_CLASSES;
  if ((r->kind == RULE_SYN && synack) || (r->kind == RULE_SYNACK && !synack))
    return false;
  return r->ttl == 0 || ttl_class(r->ttl) == b % FP_TTL_CLASSES;
}

/* Fills db->order and db->bucket once the whole table is read (an entry's
 * class may come after its rules). False when out of memory. */
static bool build_index(struct ta_fp_db *db) {
  db->order = malloc((db->n_rules * FP_BUCKETS + 1) * sizeof *db->order);
  if (!db->order)
    return false;
  uint32_t n = 0;
  for (unsigned b = 0; b < FP_BUCKETS; b++) {
    db->bucket[b] = n;
    for (int pass = 0; pass < 2; pass++)
      for (size_t i = 0; i < db->n_rules; i++) {
        const struct fp_rule *r = &db->rules[i];
        if (db->entries[r->entry].generic == (pass == 1) &&
            rule_in_bucket(r, b))
          db->order[n++] = (uint16_t)i;
      }
  }
  db->bucket[FP_BUCKETS] = n;
  return true;
}

void ta_fp_db_free(struct ta_fp_db *db) {
  if (!db)
    return;
  for (size_t i = 0; i < db->n_entries; i++) {
    free((char *)db->entries[i].id);
    free((char *)db->entries[i].os);
    free((char *)db->entries[i].version);
    free((char *)db->entries[i].note);
  }
  free(db->entries);
  free(db->rules);
  free(db->order);
  free(db);
}

int ta_fp_db_parse(const char *text, size_t len, struct ta_fp_db **out,
                   char *err, size_t errlen) {
  *out = NULL;
  struct parser p = {.err = err, .errlen = errlen};
  if (!(p.db = calloc(1, sizeof *p.db)))
    return ta__fail(err, errlen, TA_ENOMEM, "out of memory");
  char line[FP_MAX_LINE + 1];
  size_t off = 0;
  int rc = 0;
  while (off < len && !rc) {
    size_t end = off;
    while (end < len && text[end] != '\n')
      end++;
    p.line++;
    if (end - off > FP_MAX_LINE) {
      rc = perr(&p, "line too long", NULL);
      break;
    }
    memcpy(line, text + off, end - off);
    line[end - off] = 0;
    if (memchr(line, 0, end - off))
      rc = perr(&p, "NUL byte in the table", NULL);
    else
      rc = parse_line(&p, line);
    off = end + 1;
  }
  if (!rc)
    rc = end_entry(&p);
  if (!rc && p.db->n_entries == 0)
    rc = perr(&p, "no entries", NULL);
  if (!rc && !build_index(p.db))
    rc = ta__fail(err, errlen, TA_ENOMEM, "out of memory");
  if (rc) {
    ta_fp_db_free(p.db);
    return rc;
  }
  *out = p.db;
  return 0;
}

static struct ta_fp_db *default_db;
static char default_err[256];
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void free_default(void) { ta_fp_db_free(default_db); }

static void load_default(void) {
  if (ta_fp_db_parse(ta__os_signatures, ta__os_signatures_len, &default_db,
                     default_err, sizeof default_err) == 0)
    atexit(free_default); /* keeps leak checkers quiet; nothing else */
}

const struct ta_fp_db *ta_fp_db_default(void) {
  pthread_once(&default_once, load_default);
  return default_db;
}

const char *ta_fp_db_default_error(void) {
  pthread_once(&default_once, load_default);
  return default_err;
}

size_t ta_fp_db_count(const struct ta_fp_db *db) {
  return db ? db->n_entries : 0;
}

const struct ta_fp_entry *ta_fp_db_entry(const struct ta_fp_db *db, int i) {
  if (!db || i < 0 || (size_t)i >= db->n_entries)
    return NULL;
  return &db->entries[i];
}

/* ------------------------------------------------------------------------ */
/* Matcher */

/* What every rule's window test reads of one packet, worked out once per
 * match rather than once per rule. */
struct probe {
  uint32_t seg[4];     /* segment_sizes() */
  uint32_t seg_max[4]; /* the largest multiple of each in 16 bits */
  int n_seg;
  uint32_t mtu;        /* the MSS plus the IP and TCP headers */
  uint32_t v4_mask;    /* quirk bits a rule may name: IPv6 has no v4 ones */
};

static void probe_init(struct probe *pr, const struct ta_fp_features *f) {
  uint8_t rel[4];
  pr->n_seg = segment_sizes(f, pr->seg, rel);
  for (int i = 0; i < pr->n_seg; i++)
    pr->seg_max[i] = (65535u / pr->seg[i]) * pr->seg[i];
  pr->mtu = f->mss + (f->family == 6 ? 60u : 40u);
  pr->v4_mask = f->family == 6 ? ~(uint32_t)FP_V4_ONLY : ~(uint32_t)0;
}

/* mss*N and mss*max count the window in any of segment_sizes(); mtu*N in
 * the MSS plus the IP and TCP headers. */
static bool window_ok(const struct fp_rule *r, const struct ta_fp_features *f,
                      const struct probe *pr) {
  uint32_t w = f->window;
  switch (r->win_kind) {
  case WIN_ANY:
    return true;
  case WIN_EXACT:
    return w == r->win_val;
  case WIN_MOD:
    return w > 0 && w % r->win_val == 0;
  case WIN_MTU:
    return f->has_mss && f->mss != 0 && w == (uint32_t)r->win_val * pr->mtu;
  case WIN_MSS:
    for (int i = 0; i < pr->n_seg; i++)
      if (w == (uint32_t)r->win_val * pr->seg[i])
        return true;
    return false;
  default: /* WIN_MSS_MAX */
    for (int i = 0; i < pr->n_seg; i++)
      if (w == pr->seg_max[i])
        return true;
    return false;
  }
}

static bool same_kinds(const uint8_t *a, const uint8_t *b, uint8_t n) {
  for (uint8_t i = 0; i < n; i++)
    if (a[i] != b[i])
      return false;
  return true;
}

static bool layout_ok(const struct fp_rule *r, const struct ta_fp_features *f) {
  if (r->n_layouts == 0)
    return true;
  for (uint8_t i = 0; i < r->n_layouts; i++) {
    const struct fp_layout *l = &r->layouts[i];
    if (l->n == f->n_layout && same_kinds(l->kind, f->layout, l->n))
      return true;
  }
  return false;
}

/* The packet's kind and initial TTL were settled by the bucket; the
 * cheapest tests go first. */
static bool rule_ok(const struct fp_rule *r, const struct ta_fp_features *f,
                    const struct probe *pr) {
  uint32_t need = r->need & pr->v4_mask, forbid = r->forbid & pr->v4_mask;
  if ((f->quirks & need) != need || (f->quirks & forbid))
    return false;
  if (!window_ok(r, f, pr))
    return false;
  if (r->n_ws || r->ws_absent_ok) {
    bool ok = !f->has_wscale && r->ws_absent_ok;
    for (uint8_t i = 0; i < r->n_ws && !ok; i++)
      ok = f->has_wscale && f->wscale == r->ws[i];
    if (!ok)
      return false;
  }
  if (r->n_mss) {
    bool ok = false;
    for (uint8_t i = 0; i < r->n_mss && !ok; i++)
      ok = f->has_mss && f->mss == r->mss[i];
    if (!ok)
      return false;
  }
  return layout_ok(r, f);
}

int ta_fp_match(const struct ta_fp_db *db, const struct ta_fp_features *f) {
  /* too many hops: no rule's TTL can be trusted, so none matches */
  if (!db || (f->quirks & TA_FPQ_TRUNCATED) || f->hops > FP_MAX_HOPS)
    return -1;
  struct probe pr;
  probe_init(&pr, f);
  unsigned b = (f->synack ? FP_TTL_CLASSES : 0) + ttl_class(f->initial_ttl);
  for (uint32_t i = db->bucket[b]; i < db->bucket[b + 1]; i++) {
    const struct fp_rule *r = &db->rules[db->order[i]];
    if (rule_ok(r, f, &pr))
      return r->entry;
  }
  return -1;
}

/* The entry a recorded SYN matches: the one ta_fp_syn_match kept, else
 * matched now (records that were never finalized, as in tests). */
static int syn_entry(const struct ta_syn_features *syn,
                     const struct ta_fp_features *f) {
  if (syn->fp_match)
    return syn->fp_match - 2;
  return ta_fp_match(ta_fp_db_default(), f);
}

void ta_fp_syn_match(struct ta_syn_features *syn, uint8_t family) {
  if (!syn->seen)
    return;
  struct ta_fp_features f;
  ta_fp_features_from_syn(&f, syn, family);
  syn->fp_match = (int16_t)(ta_fp_match(ta_fp_db_default(), &f) + 2);
}

/* A recorded SYN's fields that its features and its "syn" object are
 * made of, in five words: two SYNs with the same key have the same
 * features, and with the same match the same object. Every side of every
 * finalized connection is keyed, for the match memo and again for the
 * JSON one, so the key is the record's own words under a mask, with the
 * few facts that need a test (such as "the IP id is zero") in bytes the
 * mask clears: no field is moved on its own. It may tell apart SYNs whose
 * features are the same (say two TOS values of the same ECN codepoint),
 * which costs a memo entry, never a wrong result. So it takes bytes as
 * they are wherever that is cheaper than a test: the layout's kinds past
 * its length (zero in every record the decoder made), and the timestamp
 * facts whether or not the SYN had timestamps (has_ts is in the key).
 * w[0]: the record's bytes 0-7 (ttl, tos & 3, df, window; facts in the
 * byte of `seen`); w[1]: bytes 8-15 (flags, reserved bits, the anomalies
 * quirks are made of; the bytes of fp_match left for the match);
 * w[2]: the options' bytes 0-7 (mss, wscale, has_mss, has_wscale, has_ts
 * and for the object sack_ok; the layout's length in the byte of
 * `zero_`); w[3..4]: the layout's sixteen kinds as they are. */
#define KEY_WORDS 5
struct syn_key {
  uint64_t w[KEY_WORDS];
};

#define KEY_ANOMALIES                                                          \
  (TA_ANOM_IP_OPTIONS | TA_ANOM_TCP_RESERVED | TA_ANOM_TS_ECR_ON_SYN |         \
   TA_ANOM_TCP_OPT_AFTER_EOL | TA_ANOM_URG_PTR_NO_URG | TA_ANOM_TCP_OPT_BAD |  \
   TA_ANOM_TCP_TRUNCATED)

/* The masks and the places of what is put in the cleared bytes, as
 * records with those fields set, read as words like the record itself:
 * right whatever the byte order. */
static const struct ta_syn_features key_mask = {
    .ttl = 0xff, .tos = 0x03, .df = true, .window = 0xffff, .flags = 0xff,
    .reserved = 0xff, .anomalies = KEY_ANOMALIES,
    .opt = {.mss = 0xffff, .wscale = 0xff, .has_mss = true,
            .has_wscale = true, .sack_ok = true, .has_ts = true}};
/* the same without sack_ok, which the object shows but the features do
 * not read */
static const struct ta_syn_features key_mask_match = {
    .ttl = 0xff, .tos = 0x03, .df = true, .window = 0xffff, .flags = 0xff,
    .reserved = 0xff, .anomalies = KEY_ANOMALIES,
    .opt = {.mss = 0xffff, .wscale = 0xff, .has_mss = true,
            .has_wscale = true, .has_ts = true}};
static const struct ta_syn_features key_unit_facts = {.seen = 1};
static const struct ta_syn_features key_unit_match = {.fp_match = 1};
static const struct ta_tcp_options key_unit_len = {.zero_ = 1};

_Static_assert(offsetof(struct ta_syn_features, anomalies) == 12 &&
                   offsetof(struct ta_syn_features, opt) == 16 &&
                   offsetof(struct ta_tcp_options, ts_val) == 8 &&
                   offsetof(struct ta_tcp_options, layout) + TA_MAX_OPT_LAYOUT <=
                       sizeof(struct ta_tcp_options),
               "the key reads the record as these words");
_Static_assert(TA_MAX_OPT_LAYOUT == 16, "a layout fills two key words");

static inline uint64_t word_at(const void *p, size_t off) {
  uint64_t w;
  memcpy(&w, (const uint8_t *)p + off, 8);
  return w;
}

/* Bytes 16 - n .. 32 - n of this, as two words: a mask of the n leading
 * bytes of a 16-byte array whatever the byte order. */
static const uint8_t key_ones[32] = {
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

/* The key of syn; mask is key_mask or key_mask_match. */
static inline void syn_key_of(struct syn_key *k,
                              const struct ta_syn_features *syn,
                              uint8_t family,
                              const struct ta_syn_features *mask) {
  const struct ta_tcp_options *o = &syn->opt;
  uint64_t facts = (uint64_t)(family == 6) | (uint64_t)(syn->ip_id == 0) << 1 |
                   (uint64_t)(o->ts_val == 0) << 2 |
                   (uint64_t)(o->ts_ecr != 0) << 3;
  k->w[0] = (word_at(syn, 0) & word_at(mask, 0)) |
            facts * word_at(&key_unit_facts, 0);
  k->w[1] = word_at(syn, 8) & word_at(mask, 8);
  k->w[2] = (word_at(o, 0) & word_at(&mask->opt, 0)) |
            (uint64_t)o->n_layout * word_at(&key_unit_len, 0);
  k->w[3] = word_at(o->layout, 0);
  k->w[4] = word_at(o->layout, 8);
}

/* w[1] with the match in the bytes of fp_match. */
static inline uint64_t key_with_match(uint64_t w1, int16_t match) {
  return w1 | (uint64_t)(uint16_t)match * word_at(&key_unit_match, 8);
}

/* A memo slot: the key's words, then what the memo keeps for it, the
 * match or a shape (0: empty). */
#define SLOT_MATCH KEY_WORDS
_Static_assert(KEY_WORDS + 1 <= TA_FP_MEMO_SLOT_WORDS, "a key fits a slot");

/* The memos below are skewed: a key may sit in one slot of the first
 * half, chosen by the top bits of its hash, or in one of the second half,
 * chosen by the next ones. Keys that share one slot rarely share the
 * other, so that three hot keys of a capture do not take turns in two
 * slots, missing (and matching anew) at every other SYN, as they would in
 * a set of two whenever the hash puts them together. */

/* Every word is multiplied, so that each of its bits reaches the top
 * ones, the products independent, so that they overlap; then folded and
 * multiplied again, so that the next bits are as good. seed sets apart
 * the slots of a memo whose keys come from the capture. */
static inline uint64_t memo_hash(const struct syn_key *k, uint64_t seed) {
  uint64_t h = (k->w[0] ^ seed) * 0x9e3779b97f4a7c15ull ^
               k->w[1] * 0xc2b2ae3d27d4eb4full ^
               k->w[2] * 0x165667b19e3779f9ull ^
               (k->w[3] ^ (k->w[4] << 32 | k->w[4] >> 32)) * 0x27d4eb2f165667c5ull;
  return (h ^ h >> 32) * 0xff51afd7ed558ccdull;
}

/* Compared word by word, spelled out (as a loop it stayed one), each
 * word against the slot's in memory: a compare and a branch a word, and
 * no register taken to gather the differences. */
static inline bool slot_is(const uint64_t *s, const struct syn_key *k) {
  return s[0] == k->w[0] && s[1] == k->w[1] && s[2] == k->w[2] &&
         s[3] == k->w[3] && s[4] == k->w[4] && s[SLOT_MATCH] != 0;
}

/* The first slot of a memo of words: its first whole cache line (it has
 * a line to spare). */
static inline uint64_t *memo_slots(uint64_t *words) {
  uintptr_t at = ((uintptr_t)words + 63) & ~(uintptr_t)63;
  return words + (at - (uintptr_t)words) / sizeof *words;
}

/* The two slots of hash among 2 << bits: one in each half. */
static inline uint64_t *memo_first(uint64_t *slots, unsigned bits,
                                   uint64_t hash) {
  return slots + (hash >> (64 - bits)) * TA_FP_MEMO_SLOT_WORDS;
}
static inline uint64_t *memo_second(uint64_t *slots, unsigned bits,
                                    uint64_t hash) {
  uint64_t i = (1u << bits) + (hash >> (64 - 2 * bits) & ((1u << bits) - 1));
  return slots + i * TA_FP_MEMO_SLOT_WORDS;
}

/* The slot of k (whose hash is hash) among 2 << bits, or NULL. */
static inline const uint64_t *memo_probe(uint64_t *slots, unsigned bits,
                                         uint64_t hash,
                                         const struct syn_key *k) {
  const uint64_t *s = memo_first(slots, bits, hash);
  if (slot_is(s, k))
    return s;
  s = memo_second(slots, bits, hash);
  return slot_is(s, k) ? s : NULL;
}

static void slot_put(uint64_t *s, const struct syn_key *k, uint64_t value) {
  memcpy(s, k->w, sizeof k->w);
  s[SLOT_MATCH] = value;
}

/* Puts k with value (non-zero) in a free slot of its two, else in its
 * first, whose key moves to its own second slot, the one there out. */
static void memo_put(uint64_t *slots, unsigned bits, uint64_t seed,
                     const struct syn_key *k, uint64_t value) {
  uint64_t hash = memo_hash(k, seed);
  uint64_t *first = memo_first(slots, bits, hash);
  uint64_t *second = memo_second(slots, bits, hash);
  if (first[SLOT_MATCH] && !second[SLOT_MATCH]) {
    slot_put(second, k, value);
    return;
  }
  if (first[SLOT_MATCH]) {
    struct syn_key old;
    memcpy(old.w, first, sizeof old.w);
    slot_put(memo_second(slots, bits, memo_hash(&old, seed)), &old,
             first[SLOT_MATCH]);
  }
  slot_put(first, k, value);
}

/* Matches syn and remembers it. Out of line, as side_memo_miss; it makes
 * the key again, so that the hits keep theirs in registers. */
__attribute__((noinline)) static void
match_memo_miss(struct ta_syn_features *syn, uint8_t family, uint64_t *slots,
                unsigned bits) {
  struct syn_key k;
  syn_key_of(&k, syn, family, &key_mask_match);
  ta_fp_syn_match(syn, family);
  memo_put(slots, bits, 0, &k, (uint64_t)(uint16_t)syn->fp_match);
}

/* log2 of the slots in each half of the match memo */
#define MATCH_MEMO_BITS 8
_Static_assert(TA_FP_MEMO_SLOTS == TA_FP_MEMO_WAYS << MATCH_MEMO_BITS,
               "the match memo's halves");

/* ta_fp_syn_match out of line, so that the memo's hits keep no frame for
 * the features it works out. */
__attribute__((noinline)) static void
match_unmemoized(struct ta_syn_features *syn, uint8_t family) {
  ta_fp_syn_match(syn, family);
}

void ta__fp_syn_match_memo(struct ta_syn_features *syn, uint8_t family,
                           struct ta_fp_memo *m) {
  if (!m) {
    match_unmemoized(syn, family);
    return;
  }
  struct syn_key k;
  syn_key_of(&k, syn, family, &key_mask_match);
  uint64_t *slots = memo_slots(m->word);
  const uint64_t *hit = memo_probe(slots, MATCH_MEMO_BITS, memo_hash(&k, 0), &k);
  if (hit)
    syn->fp_match = (int16_t)hit[SLOT_MATCH];
  else
    match_memo_miss(syn, family, slots, MATCH_MEMO_BITS);
}

/* ------------------------------------------------------------------------ */
/* Per-host evidence and verdict */

/* The JSON of one shape's evidence object around its own three values
 * (count, connection, direction), made the first time a report asks:
 * text[off, off + pre) ends with "count": and text[off + pre, + post)
 * starts with ,"features": (see ta__fp_json_host). */
struct shape_json {
  uint32_t off;
  uint16_t pre, post; /* pre 0: not made yet */
};

/* log2 of the slots in each half of the shapes' memo of the SYN keys it
 * has seen (see struct ta_fp_shapes): a few times the stacks a capture
 * shows. */
#define SHAPES_MEMO_BITS 7
#define SHAPES_MEMO_WORDS                                                      \
  (((TA_FP_MEMO_WAYS << SHAPES_MEMO_BITS) + 1) * TA_FP_MEMO_SLOT_WORDS)
#define GROUP_WORDS TA__FP_GROUP_WORDS /* see group_key */

struct ta_fp_shapes {
  struct ta_fp_features *v;
  int16_t *entry;  /* the signature entry each matched, -1 when none */
  uint64_t *group; /* GROUP_WORDS a shape: what evidence compares */
  uint32_t n, cap;
  /* shape + 1 of the SYN keys seen before: a new host's first SYN is
   * mostly of a shape other hosts showed, and its key costs a tenth of
   * the features and their lookup (as the match memo) */
  uint64_t *memo;
  uint32_t *slots; /* index in v + 1; 0 is empty */
  uint32_t mask;
  uint64_t seed;
  struct shape_json *json; /* cap of them, once a report asked */
  char *text;              /* what they point into */
  size_t text_len, text_cap;
};

#define SHAPES_FIRST_SLOTS 64u
#define SHAPES_MAX (1u << 30) /* far above hosts * TA_FP_HOST_EVIDENCE */

struct ta_fp_shapes *ta_fp_shapes_new(uint64_t seed) {
  struct ta_fp_shapes *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  s->slots = calloc(SHAPES_FIRST_SLOTS, sizeof *s->slots);
  if (!s->slots) {
    free(s);
    return NULL;
  }
  s->memo = calloc(SHAPES_MEMO_WORDS, sizeof *s->memo);
  if (!s->memo) {
    free(s->slots);
    free(s);
    return NULL;
  }
  s->mask = SHAPES_FIRST_SLOTS - 1;
  s->seed = seed;
  return s;
}

void ta_fp_shapes_free(struct ta_fp_shapes *s) {
  if (!s)
    return;
  free(s->v);
  free(s->entry);
  free(s->group);
  free(s->memo);
  free(s->slots);
  free(s->json);
  free(s->text);
  free(s);
}

/* The fields a packet's features are computed from, packed: two packets
 * with the same key have the same features. Returns the key's length. */
static size_t shape_key(const struct ta_fp_features *f, uint8_t key[32]) {
  size_t n = 0;
  memset(key, 0, 32);
  key[n++] = (uint8_t)(f->synack | f->has_mss << 1 | f->has_wscale << 2);
  key[n++] = f->family;
  key[n++] = f->ttl;
  key[n++] = f->wscale;
  memcpy(key + n, &f->window, 2);
  memcpy(key + n + 2, &f->mss, 2);
  memcpy(key + n + 4, &f->quirks, 4);
  n += 8;
  key[n++] = f->n_layout;
  memcpy(key + n, f->layout, f->n_layout);
  return n + f->n_layout;
}


static uint64_t shape_hash(uint64_t seed, const uint8_t key[32]) {
  uint64_t h = seed;
  for (int i = 0; i < 4; i++) {
    uint64_t word;
    memcpy(&word, key + 8 * i, 8);
    h = ta_hash_mix64(h ^ word);
  }
  return h;
}

static bool shapes_grow(struct ta_fp_shapes *s) {
  if (s->n == s->cap) {
    uint32_t cap = s->cap ? s->cap * 2 : 16;
    struct ta_fp_features *v = realloc(s->v, cap * sizeof *v);
    if (!v)
      return false;
    s->v = v;
    int16_t *entry = realloc(s->entry, cap * sizeof *entry);
    if (!entry)
      return false;
    s->entry = entry;
    uint64_t *group = realloc(s->group, cap * GROUP_WORDS * sizeof *group);
    if (!group)
      return false;
    s->group = group;
    if (s->json) {
      struct shape_json *j = realloc(s->json, cap * sizeof *j);
      if (!j)
        return false;
      memset(j + s->cap, 0, (cap - s->cap) * sizeof *j);
      s->json = j;
    }
    s->cap = cap;
  }
  if ((s->n + 1) * 2 <= s->mask + 1)
    return true;
  uint32_t size = (s->mask + 1) * 2;
  uint32_t *slots = calloc(size, sizeof *slots);
  if (!slots)
    return false;
  for (uint32_t i = 0; i < s->n; i++) {
    uint8_t key[32];
    shape_key(&s->v[i], key);
    uint32_t j = (uint32_t)shape_hash(s->seed, key) & (size - 1);
    while (slots[j])
      j = (j + 1) & (size - 1);
    slots[j] = i + 1;
  }
  free(s->slots);
  s->slots = slots;
  s->mask = size - 1;
  return true;
}

/* The fields that tell a host's shapes apart (see struct group) in
 * GROUP_WORDS words: the entry, TTL, kind and layout length, then the
 * layout's kinds, zero past its length. A packet's are compared with a
 * kept shape's at every SYN a host sends. */
static void group_key(uint64_t *w, int entry, uint8_t ttl, bool synack,
                      uint8_t n_layout, const uint8_t *layout) {
  unsigned n = n_layout < TA_MAX_OPT_LAYOUT ? n_layout : TA_MAX_OPT_LAYOUT;
  w[0] = ta__fp_group_head(entry, ttl, synack, n_layout);
  w[1] = word_at(layout, 0) & word_at(key_ones, 16 - n);
  w[2] = word_at(layout, 8) & word_at(key_ones, 24 - n);
}

/* Index of f in s, added if new (with the entry it matched); UINT32_MAX
 * when memory runs out. */
static uint32_t shapes_intern(struct ta_fp_shapes *s,
                              const struct ta_fp_features *f, int entry) {
  uint8_t key[32], other[32];
  size_t len = shape_key(f, key);
  uint32_t i = (uint32_t)shape_hash(s->seed, key) & s->mask;
  for (; s->slots[i]; i = (i + 1) & s->mask) {
    uint32_t k = s->slots[i] - 1;
    if (shape_key(&s->v[k], other) == len && memcmp(key, other, len) == 0)
      return k;
  }
  if (s->n >= SHAPES_MAX)
    return UINT32_MAX;
  if ((s->n + 1) * 2 > s->mask + 1 || s->n == s->cap) {
    if (!shapes_grow(s))
      return UINT32_MAX;
    return shapes_intern(s, f, entry); /* the slots moved */
  }
  s->v[s->n] = *f;
  s->entry[s->n] = (int16_t)entry;
  group_key(s->group + s->n * GROUP_WORDS, entry, f->ttl, f->synack,
            f->n_layout, f->layout);
  s->slots[i] = ++s->n;
  return s->n - 1;
}

const struct ta_fp_features *ta_fp_evidence_features(
    const struct ta_fp_host *h, const struct ta_fp_evidence *ev) {
  return &h->shapes->v[ev->shape];
}

/* The fields that tell a host's shapes apart, of one packet: its entry,
 * kind, initial TTL and hops (both follow from the TTL, and give it back)
 * and option layout. Compared with a kept shape without working out the
 * packet's features, which only a new shape needs. */
struct group {
  const struct ta_syn_features *syn;
  uint8_t family;
  int entry;
};

/* The entry of a record never finalized (as in tests), kept out of line:
 * inlined, its features cost every caller registers to save. */
__attribute__((noinline)) int
ta__fp_syn_entry_slow(const struct ta_syn_features *syn, uint8_t family) {
  struct ta_fp_features f;
  ta_fp_features_from_syn(&f, syn, family);
  return syn_entry(syn, &f);
}

static inline void group_of(struct group *g, const struct ta_syn_features *syn,
                            uint8_t family) {
  g->syn = syn;
  g->family = family;
  g->entry = syn->fp_match ? syn->fp_match - 2
                           : ta__fp_syn_entry_slow(syn, family);
}

static bool in_group(const struct ta_fp_features *k, int entry,
                     const struct group *g) {
  const struct ta_syn_features *syn = g->syn;
  uint8_t n = syn->opt.n_layout < TA_MAX_OPT_LAYOUT ? syn->opt.n_layout
                                                    : TA_MAX_OPT_LAYOUT;
  return entry == g->entry && k->ttl == syn->ttl &&
         k->synack == ((syn->flags & TA_TCP_ACK) != 0) && k->n_layout == n &&
         memcmp(k->layout, syn->opt.layout, n) == 0;
}

/* Index of g's features in shapes; UINT32_MAX when memory runs out. */
static uint32_t group_shape(struct ta_fp_shapes *shapes, const struct group *g) {
  struct ta_fp_features f;
  ta_fp_features_from_syn(&f, g->syn, g->family);
  return shapes_intern(shapes, &f, g->entry);
}

/* group_shape through the shapes' memo of SYN keys. */
static uint32_t syn_shape(struct ta_fp_shapes *shapes, const struct group *g) {
  struct syn_key k;
  syn_key_of(&k, g->syn, g->family, &key_mask_match);
  uint64_t *slots = memo_slots(shapes->memo);
  const uint64_t *hit = memo_probe(slots, SHAPES_MEMO_BITS,
                                   memo_hash(&k, shapes->seed), &k);
  if (hit)
    return (uint32_t)(hit[SLOT_MATCH] - 1);
  uint32_t shape = group_shape(shapes, g);
  if (shape != UINT32_MAX)
    memo_put(slots, SHAPES_MEMO_BITS, shapes->seed, &k, (uint64_t)shape + 1);
  return shape;
}

void ta_fp_host_add(struct ta_fp_host *h, struct ta_fp_shapes *shapes,
                    const struct ta_conn *c, int dir) {
  if (!c->side[dir].syn.seen)
    return;
  struct group g;
  group_of(&g, &c->side[dir].syn, c->family);
  for (uint8_t i = 0; i < h->n; i++)
    if (in_group(&shapes->v[h->ev[i].shape], h->ev[i].entry, &g)) {
      h->ev[i].packets++;
      return;
    }
  uint32_t shape;
  if (h->n >= TA_FP_HOST_EVIDENCE ||
      (shape = group_shape(shapes, &g)) == UINT32_MAX) {
    h->overflow++;
    return;
  }
  h->shapes = shapes;
  struct ta_fp_evidence *e = &h->ev[h->n++];
  e->entry = (int16_t)g.entry;
  e->shape = shape;
  e->packets = 1;
  e->conn_id = c->id;
  e->dir = (uint8_t)dir;
}

void ta_fp_host_free(struct ta_fp_host *h) { memset(h, 0, sizeof *h); }

const uint64_t *ta__fp_shapes_groups(const struct ta_fp_shapes *shapes) {
  return shapes->group;
}

bool ta__fp_group_layout_is(const uint64_t *g,
                            const struct ta_syn_features *syn) {
  uint64_t key[GROUP_WORDS];
  group_key(key, 0, 0, false, syn->opt.n_layout, syn->opt.layout);
  return g[1] == key[1] && g[2] == key[2];
}

unsigned ta__fp_shape_find(const struct ta_fp_shapes *shapes,
                           const uint32_t *shape, unsigned n,
                           const struct ta_syn_features *syn, uint8_t family) {
  if (n == 0) /* a host's first SYN or SYN/ACK: nothing to tell apart */
    return 0;
  uint64_t head = ta__fp_syn_group_head(syn, family);
  for (unsigned i = 0; i < n; i++) {
    const uint64_t *k = shapes->group + shape[i] * GROUP_WORDS;
    if (k[0] == head && ta__fp_group_layout_is(k, syn))
      return i;
  }
  return n;
}

bool ta__fp_ev_start(struct ta__fp_ev *e, struct ta_fp_shapes *shapes,
                     const struct ta_syn_features *syn, uint8_t family,
                     uint64_t id, int dir) {
  struct group g;
  uint32_t shape;
  if (id >> 48)
    return false;
  group_of(&g, syn, family);
  if ((shape = syn_shape(shapes, &g)) == UINT32_MAX)
    return false;
  e->conn_lo = (uint32_t)id;
  e->conn_hi = (uint16_t)(id >> 32);
  e->packets_lo = 1;
  e->packets_hi = 0;
  e->shape_dir = shape << 1 | (uint32_t)(dir & 1);
  return true;
}

void ta__fp_ev_unpack(struct ta_fp_evidence *out,
                      const struct ta_fp_shapes *shapes,
                      const struct ta__fp_ev *e) {
  uint32_t k = e->shape_dir >> 1;
  out->packets = (uint64_t)e->packets_hi << 32 | e->packets_lo;
  out->conn_id = (uint64_t)e->conn_hi << 32 | e->conn_lo;
  out->shape = k;
  out->entry = shapes->entry[k];
  out->dir = (uint8_t)(e->shape_dir & 1);
}

/* Hop counts tell machines apart only near the capture point: further out,
 * route changes and equal-cost paths move one address by a hop or two. */
#define FP_HOPS_NEAR 2
#define FP_HOPS_SPREAD 3

static bool hops_apart(uint8_t a, uint8_t b) {
  uint8_t lo = a < b ? a : b, d = (uint8_t)(a < b ? b - a : a - b);
  return d > 0 && (lo <= FP_HOPS_NEAR || d >= FP_HOPS_SPREAD);
}

static bool same_str(const char *a, const char *b) {
  return a == b || (a && b && strcmp(a, b) == 0);
}

/* The confidence of a verdict: rounded to hundredths. */
static double confidence_of(bool specific, double share, double ver_share) {
  double base = specific ? 0.9 : 0.6;
  return (double)(long)(base * share * ver_share * 100 + 0.5) / 100;
}

/* The verdict of one shape, what most hosts show: its entry alone, all
 * the packets its family's and its version's (the general case's answer
 * for one shape, without its tallies). */
static void verdict_one(const struct ta_fp_db *db,
                        const struct ta_fp_evidence *ev,
                        struct ta_fp_verdict *v) {
  const struct ta_fp_entry *e = ta_fp_db_entry(db, ev->entry);
  if (!e)
    return;
  v->family = e->os;
  v->version = e->version;
  v->confidence = confidence_of(!e->generic, 1.0, 1.0);
}

void ta_fp_host_verdict(const struct ta_fp_host *h, struct ta_fp_verdict *v) {
  const struct ta_fp_db *db = ta_fp_db_default();
  memset(v, 0, sizeof *v);
  v->any = h->n > 0;
  if (!v->any)
    return;
  if (h->n == 1 && h->ev[0].packets) {
    verdict_one(db, &h->ev[0], v);
    return;
  }

  /* packets per family among matched shapes; first seen wins ties */
  const char *fam[TA_FP_HOST_EVIDENCE];
  uint64_t fam_pkts[TA_FP_HOST_EVIDENCE];
  size_t n_fam = 0;
  uint64_t known = 0;
  for (uint8_t i = 0; i < h->n; i++) {
    const struct ta_fp_entry *e = ta_fp_db_entry(db, h->ev[i].entry);
    if (!e)
      continue;
    known += h->ev[i].packets;
    size_t j = 0;
    while (j < n_fam && !same_str(fam[j], e->os))
      j++;
    if (j == n_fam) {
      fam[n_fam] = e->os;
      fam_pkts[n_fam++] = 0;
    }
    fam_pkts[j] += h->ev[i].packets;
  }

  /* several stacks */
  if (n_fam > 1)
    v->stacks |= TA_FP_STACK_FAMILIES;
  for (uint8_t i = 0; i < h->n; i++)
    for (uint8_t j = i + 1; j < h->n; j++) {
      const struct ta_fp_features *a = ta_fp_evidence_features(h, &h->ev[i]);
      const struct ta_fp_features *b = ta_fp_evidence_features(h, &h->ev[j]);
      if (a->initial_ttl != b->initial_ttl)
        v->stacks |= TA_FP_STACK_TTL;
      else if (hops_apart(a->hops, b->hops))
        v->stacks |= TA_FP_STACK_HOPS;
      if (!a->synack && !b->synack &&
          (a->n_layout != b->n_layout ||
           memcmp(a->layout, b->layout, a->n_layout) != 0))
        v->stacks |= TA_FP_STACK_SYN_LAYOUT;
    }

  if (n_fam == 0)
    return; /* unknown: an honest answer */
  size_t best = 0;
  for (size_t j = 1; j < n_fam; j++)
    if (fam_pkts[j] > fam_pkts[best])
      best = j;
  v->family = fam[best];

  /* version: the best-supported one among the family's specific matches,
   * else among its generic ones; SYNs before SYN/ACKs, because a SYN shows
   * the sender's own defaults while a SYN/ACK also echoes the peer's offer */
  bool specific = false;
  uint64_t ver_pkts = 0, class_pkts = 0;
  for (int step = 0; step < 4 && !class_pkts; step++) {
    bool generic = step >= 2, synack = step % 2 == 1;
    const char *ver[TA_FP_HOST_EVIDENCE];
    uint64_t pk[TA_FP_HOST_EVIDENCE];
    size_t n_ver = 0, chosen = 0;
    for (uint8_t i = 0; i < h->n; i++) {
      const struct ta_fp_entry *e = ta_fp_db_entry(db, h->ev[i].entry);
      if (!e || !same_str(e->os, v->family) || e->generic != generic ||
          ta_fp_evidence_features(h, &h->ev[i])->synack != synack)
        continue;
      class_pkts += h->ev[i].packets;
      size_t j = 0;
      while (j < n_ver && !same_str(ver[j], e->version))
        j++;
      if (j == n_ver) {
        ver[n_ver] = e->version;
        pk[n_ver++] = 0;
      }
      pk[j] += h->ev[i].packets;
    }
    for (size_t j = 1; j < n_ver; j++)
      if (pk[j] > pk[chosen])
        chosen = j;
    if (n_ver) {
      specific = !generic;
      v->version = ver[chosen];
      ver_pkts = pk[chosen];
    }
  }

  double share = (double)fam_pkts[best] / (double)known;
  double ver_share = class_pkts ? (double)ver_pkts / (double)class_pkts : 1.0;
  v->confidence = confidence_of(specific, share, ver_share);
}

/* ------------------------------------------------------------------------ */
/* Text for the text and HTML reports */

static const char *const stack_hint_text[] = {
    "os families differ", "initial ttls differ", "hop distances differ",
    "syn option layouts differ"};
#define N_STACK_HINTS (sizeof stack_hint_text / sizeof stack_hint_text[0])

void ta_fp_stack_hints(char *buf, size_t len, uint32_t stacks) {
  size_t used = 0;
  if (!len)
    return;
  buf[0] = 0;
  for (unsigned i = 0; i < N_STACK_HINTS; i++) {
    if (!(stacks & (1u << i)))
      continue;
    int w = snprintf(buf + used, len - used, "%s%s", used ? ", " : "",
                     stack_hint_text[i]);
    if (w < 0 || (size_t)w >= len - used)
      return;
    used += (size_t)w;
  }
}

void ta_fp_host_label(char *buf, size_t len, const struct ta_fp_host *h) {
  struct ta_fp_verdict v;
  ta_fp_host_verdict(h, &v);
  if (!len)
    return;
  if (!v.any)
    buf[0] = 0;
  else if (!v.family)
    snprintf(buf, len, "unknown%s", v.stacks ? ", several stacks" : "");
  else
    snprintf(buf, len, "%s%s%s (%.2f)%s", v.family, v.version ? " " : "",
             v.version ? v.version : "", v.confidence,
             v.stacks ? ", several stacks" : "");
}

/* "Linux 4.19 and later", or the family alone. */
static void os_text(struct text *t, const struct ta_fp_entry *e) {
  text_str(t, e->os);
  if (e->version) {
    text_put(t, " ", 1);
    text_str(t, e->version);
  }
}

void ta_fp_evidence_line(char *buf, size_t len, const struct ta_fp_host *h,
                         uint8_t i) {
  const struct ta_fp_evidence *ev = &h->ev[i];
  const struct ta_fp_features *f = ta_fp_evidence_features(h, ev);
  const struct ta_fp_entry *e = ta_fp_db_entry(ta_fp_db_default(), ev->entry);
  struct text t;
  text_init(&t, buf, len);
  if (e) {
    text_str(&t, e->id);
    text_put(&t, " (", 2);
    os_text(&t, e);
    if (e->generic)
      text_put(&t, ", generic", 9);
    text_put(&t, "): ", 3);
  } else {
    text_put(&t, "no signature: ", 14);
  }
  text_u64(&t, ev->packets);
  text_str(&t, f->synack ? " x syn+ack" : " x syn");
  text_put(&t, ", first in connection ", 22);
  text_u64(&t, ev->conn_id);
  text_str(&t, ev->dir == TA_DIR_ORIG ? " (orig): " : " (resp): ");
  summary_text(&t, f);
}

/* ------------------------------------------------------------------------ */
/* JSON */

static void json_str_or_null(struct ta_jsonw *w, const char *k, const char *s) {
  ta_jsonw_key(w, k);
  if (s && *s)
    ta_jsonw_str(w, s);
  else
    ta_jsonw_null(w);
}

/* The "syn" object of a side that sent one. initial_ttl is ttl + hops and
 * df is the "df" quirk: neither is written twice. sack_ok and timestamps
 * are not the layout's "sok" and "ts": an option of the wrong length is
 * listed but not taken. Of the match only the signature's id: its os,
 * version and class are the table's (data/os-signatures.txt), and each
 * host's os_guess spells them out. */
static char *side_object(char *p, const struct ta_syn_features *syn,
                         uint8_t family) {
  struct ta_fp_features f;
  ta_fp_features_from_syn(&f, syn, family);
  const struct ta_fp_entry *e =
      ta_fp_db_entry(ta_fp_db_default(), syn_entry(syn, &f));
  p = f.synack ? TA_JPUT_LIT(p, "{\"packet\":\"syn+ack\",\"ttl\":")
               : TA_JPUT_LIT(p, "{\"packet\":\"syn\",\"ttl\":");
  p = ta__jput_u64(p, f.ttl);
  p = TA_JPUT_LIT(p, ",\"hops\":");
  p = ta__jput_u64(p, f.hops);
  p = TA_JPUT_LIT(p, ",\"window\":");
  p = ta__jput_u64(p, f.window);
  p = TA_JPUT_LIT(p, ",\"window_rel\":");
  if (f.win_rel == TA_FP_WIN_NONE || f.win_rel > TA_FP_WIN_ETH) {
    p = TA_JPUT_LIT(p, "null");
  } else {
    *p++ = '"';
    p = put_window_rel(p, &f);
    *p++ = '"';
  }
  p = TA_JPUT_LIT(p, ",\"mss\":");
  p = f.has_mss ? ta__jput_u64(p, f.mss) : TA_JPUT_LIT(p, "null");
  p = TA_JPUT_LIT(p, ",\"wscale\":");
  p = f.has_wscale ? ta__jput_u64(p, f.wscale) : TA_JPUT_LIT(p, "null");
  p = syn->opt.sack_ok ? TA_JPUT_LIT(p, ",\"sack_ok\":true")
                       : TA_JPUT_LIT(p, ",\"sack_ok\":false");
  p = syn->opt.has_ts ? TA_JPUT_LIT(p, ",\"timestamps\":true")
                      : TA_JPUT_LIT(p, ",\"timestamps\":false");
  p = TA_JPUT_LIT(p, ",\"options\":\"");
  p = put_layout(p, &f);
  p = TA_JPUT_LIT(p, "\",\"quirks\":[");
  bool any = false;
  for (int i = 0; f.quirks && i < TA_FPQ_COUNT; i++)
    if (f.quirks & (1u << i)) {
      if (any)
        *p++ = ',';
      p = ta__jput_name(p, quirk_names[i], quirk_name_len[i]);
      any = true;
    }
  p = TA_JPUT_LIT(p, "],\"match\":");
  p = e ? ta__jput_str(p, e->id, strlen(e->id)) : TA_JPUT_LIT(p, "null");
  *p++ = '}';
  return p;
}

_Static_assert(sizeof(struct syn_key) <= TA_JSONW_MEMO_KEY &&
                   sizeof(struct syn_key) % 8 == 0,
               "a SYN's key fits a JSON memo slot");

/* The JSON memo's key of syn: its match key with sack_ok, which the
 * object shows, and the match, which the object names. */
static inline void side_key_of(struct syn_key *k,
                               const struct ta_syn_features *syn,
                               uint8_t family) {
  syn_key_of(k, syn, family, &key_mask);
  k->w[1] = key_with_match(k->w[1], syn->fp_match);
}

/* The first slot of k's set in the JSON memo, from the top bits of the
 * memos' hash (the JSON memo's key differs from the match memo's). */
static inline struct ta_jsonw_memo_slot *
side_set(struct ta_jsonw_memo *m, const struct syn_key *k) {
  return &m->slot[(memo_hash(k, 0) >> 40) % (TA_JSONW_MEMO_SLOTS / 2) * 2];
}

/* A SYN whose object is not in the memo's set s: formats it into p and,
 * if it fits, into the set's first slot (its key moved to the second).
 * Out of line, and makes the key again, so that the hits, nearly all of
 * them, keep theirs in registers and save none for it. */
__attribute__((noinline)) static char *
side_memo_miss(char *p, const struct ta_syn_features *syn, uint8_t family,
               struct ta_jsonw_memo_slot *s) {
  struct syn_key k;
  side_key_of(&k, syn, family);
  char *end = side_object(p, syn, family);
  size_t n = (size_t)(end - p);
  if (s[0].key_len)
    s[1] = s[0];
  s->key_len = 0;
  if (n <= sizeof s->text) {
    memcpy(s->key, &k, sizeof k);
    s->key_len = sizeof k;
    memcpy(s->text, p, n);
    s->text_len = (uint16_t)n;
  }
  return end;
}

static inline char *side_memo_copy(char *p,
                                   const struct ta_jsonw_memo_slot *s) {
  memcpy(p, s->text, s->text_len);
  return p + s->text_len;
}

char *ta__fp_json_side_put(char *p, const struct ta_syn_features *syn,
                           uint8_t family, struct ta_jsonw_memo *m) {
  if (!syn->seen)
    return TA_JPUT_LIT(p, "null");
  if (!m)
    return side_object(p, syn, family);
  /* the key with the match: all the "syn" object is made of */
  struct syn_key k;
  side_key_of(&k, syn, family);
  struct ta_jsonw_memo_slot *s = side_set(m, &k);
  if (ta__jsonw_memo_is(&s[0], &k, sizeof k))
    return side_memo_copy(p, &s[0]);
  if (ta__jsonw_memo_is(&s[1], &k, sizeof k))
    return side_memo_copy(p, &s[1]);
  return side_memo_miss(p, syn, family, s);
}

/* The confidence as "%.2f" prints it: the verdict rounds it to hundredths,
 * so the digits are those of a whole number of hundredths. */
static char *confidence_put(char *p, double c) {
  uint64_t k = (uint64_t)(c * 100 + 0.5);
  p = ta__jput_u64(p, k / 100);
  *p++ = '.';
  *p++ = (char)('0' + k % 100 / 10);
  *p++ = (char)('0' + k % 10);
  return p;
}

/* Makes shape k's JSON (struct shape_json) through a writer, so that it
 * is escaped exactly as the rest of the report; false when memory runs
 * out. Made once per shape however many hosts showed it: the features
 * summary alone costs more than the rest of an evidence object. */
static bool shape_json_make(struct ta_fp_shapes *s, uint32_t k) {
  if (!s->json && !(s->json = calloc(s->cap, sizeof *s->json)))
    return false;
  if (s->json[k].pre)
    return true;
  const struct ta_fp_features *f = &s->v[k];
  const struct ta_fp_entry *e = ta_fp_db_entry(ta_fp_db_default(), s->entry[k]);
  struct ta_sink *mem = malloc(sizeof *mem);
  if (!mem)
    return false;
  struct ta_jsonw w;
  char buf[320];
  size_t pre, mid, len;
  ta_sink_init_mem(mem);
  ta_jsonw_init(&w, mem, 0, 6);
  ta_jsonw_obj_begin(&w);
  json_str_or_null(&w, "signature", e ? e->id : NULL);
  if (e) {
    struct text t;
    text_init(&t, buf, sizeof buf);
    os_text(&t, e);
  }
  json_str_or_null(&w, "os", e ? buf : NULL);
  json_str_or_null(&w, "class", e ? e->generic ? "generic" : "specific" : NULL);
  ta_jsonw_kstr(&w, "packet", f->synack ? "syn+ack" : "syn");
  ta_jsonw_key(&w, "count");
  ta_sink_mem(mem, &pre);
  ta_jsonw_u64(&w, 0); /* stands for the three values of each host */
  ta_sink_mem(mem, &mid);
  ta_fp_summary(buf, sizeof buf, f);
  ta_jsonw_kstr(&w, "features", buf);
  ta_jsonw_obj_end(&w);
  const char *text = ta_sink_mem(mem, &len);
  size_t post = len - mid, need = s->text_len + pre + post;
  bool ok = !mem->error && pre > 0 && pre <= UINT16_MAX && post <= UINT16_MAX &&
            need <= UINT32_MAX;
  if (ok && need > s->text_cap) {
    size_t cap = s->text_cap ? s->text_cap : 4096;
    while (cap < need)
      cap *= 2;
    char *grown = realloc(s->text, cap);
    if ((ok = grown != NULL)) {
      s->text = grown;
      s->text_cap = cap;
    }
  }
  if (ok) {
    struct shape_json *j = &s->json[k];
    memcpy(s->text + s->text_len, text, pre);
    memcpy(s->text + s->text_len + pre, text + mid, post);
    j->off = (uint32_t)s->text_len;
    j->pre = (uint16_t)pre;
    j->post = (uint16_t)post;
    s->text_len = need;
  }
  ta_sink_close(mem);
  free(mem);
  return ok;
}

/* A string of the table's or null (when absent or empty), in place. */
static char *put_str_or_null(char *p, const char *s) {
  return s && *s ? ta__jput_str(p, s, strlen(s)) : TA_JPUT_LIT(p, "null");
}

/* Room for one evidence object written whole: its strings escaped (the
 * table's id, and two texts of at most 320 bytes) and its numbers. */
#define EVIDENCE_SLOW_ROOM(id_len) (6 * ((id_len) + 2 * 320) + 256)

/* One evidence object, in place (when the shared text of its shape
 * cannot be used). */
static char *evidence_slow(char *p, const struct ta_fp_host *h,
                           const struct ta_fp_evidence *ev,
                           const struct ta_fp_entry *e) {
  char buf[320];
  p = TA_JPUT_LIT(p, "{\"signature\":");
  p = put_str_or_null(p, e ? e->id : NULL);
  if (e) {
    struct text t;
    text_init(&t, buf, sizeof buf);
    os_text(&t, e);
  }
  p = TA_JPUT_LIT(p, ",\"os\":");
  p = put_str_or_null(p, e ? buf : NULL);
  p = TA_JPUT_LIT(p, ",\"class\":");
  p = !e           ? TA_JPUT_LIT(p, "null")
      : e->generic ? TA_JPUT_LIT(p, "\"generic\"")
                   : TA_JPUT_LIT(p, "\"specific\"");
  const struct ta_fp_features *f = ta_fp_evidence_features(h, ev);
  p = f->synack ? TA_JPUT_LIT(p, ",\"packet\":\"syn+ack\",\"count\":")
                : TA_JPUT_LIT(p, ",\"packet\":\"syn\",\"count\":");
  p = ta__jput_u64(p, ev->packets);
  p = TA_JPUT_LIT(p, ",\"connection\":");
  p = ta__jput_u64(p, ev->conn_id);
  p = ev->dir == TA_DIR_ORIG ? TA_JPUT_LIT(p, ",\"direction\":\"orig\"")
                             : TA_JPUT_LIT(p, ",\"direction\":\"resp\"");
  ta_fp_summary(buf, sizeof buf, f);
  p = TA_JPUT_LIT(p, ",\"features\":");
  p = ta__jput_str(p, buf, strlen(buf));
  *p++ = '}';
  return p;
}

/* The shared text of ev's shape (made on first use); NULL when it is not
 * at hand. */
static const struct shape_json *evidence_text(const struct ta_fp_host *h,
                                              const struct ta_fp_evidence *ev) {
  struct ta_fp_shapes *s = h->shapes;
  if (ev->entry != s->entry[ev->shape] || !shape_json_make(s, ev->shape))
    return NULL;
  return &s->json[ev->shape];
}

/* An evidence object from its shape's text j and its own three values. */
static char *evidence_fast(char *p, const struct ta_fp_shapes *s,
                           const struct shape_json *j,
                           const struct ta_fp_evidence *ev) {
  const char *text = s->text + j->off;
  memcpy(p, text, j->pre);
  p += j->pre;
  p = ta__jput_u64(p, ev->packets);
  p = TA_JPUT_LIT(p, ",\"connection\":");
  p = ta__jput_u64(p, ev->conn_id);
  p = ev->dir == TA_DIR_ORIG ? TA_JPUT_LIT(p, ",\"direction\":\"orig\"")
                             : TA_JPUT_LIT(p, ",\"direction\":\"resp\"");
  memcpy(p, text + j->pre, j->post);
  return p + j->post;
}

/* The evidence array, each object in its own room. */
static void evidence_put(struct ta_jsonw *w, const struct ta_fp_host *h) {
  for (uint8_t i = 0; i < h->n; i++) {
    const struct ta_fp_evidence *ev = &h->ev[i];
    const struct shape_json *j = evidence_text(h, ev);
    const struct ta_fp_entry *e =
        j ? NULL : ta_fp_db_entry(ta_fp_db_default(), ev->entry);
    size_t need = j ? (size_t)j->pre + j->post + 96
                    : EVIDENCE_SLOW_ROOM(e ? strlen(e->id) : 0);
    char *d = ta_jsonw_room(w, need), *p = d;
    if (i)
      *p++ = ',';
    p = j ? evidence_fast(p, h->shapes, j, ev) : evidence_slow(p, h, ev, e);
    ta_jsonw_room_done(w, d, p);
  }
}

/* Room for the verdict's members before the evidence: the family and
 * version escaped (or their remembered text, names_len), the stack hints
 * (the program's own text) and the rest. */
static size_t verdict_room(const struct ta_fp_verdict *v, size_t names_len) {
  size_t n = 256 + names_len;
  if (!names_len) {
    if (v->family)
      n += 6 * strlen(v->family);
    if (v->version)
      n += 6 * strlen(v->version);
  }
  for (unsigned i = 0; v->stacks && i < N_STACK_HINTS; i++)
    if (v->stacks & (1u << i))
      n += strlen(stack_hint_text[i]) + 3;
  return n;
}

/* A verdict's family and version are the signature table's strings, the
 * same for the whole run and shared by many hosts: their JSON text is
 * remembered in the writer's memo under where they are. */
struct names_key {
  uint64_t w[2];
};

/* {"family":..,"version":.. of v. */
static char *names_put(char *p, const struct ta_fp_verdict *v) {
  p = TA_JPUT_LIT(p, "{\"family\":");
  p = put_str_or_null(p, v->family);
  p = TA_JPUT_LIT(p, ",\"version\":");
  return put_str_or_null(p, v->version);
}

/* Written in place (see ta_jsonw_room), one room for the verdict and one
 * for each evidence object, as the value after w's key. */
void ta__fp_json_host(struct ta_jsonw *w, const struct ta_fp_host *h) {
  struct ta_fp_verdict v;
  ta_fp_host_verdict(h, &v);
  if (!v.any) {
    char *d = ta_jsonw_room(w, 8), *p = ta__jput_sep(w, d);
    ta_jsonw_room_done(w, d, TA_JPUT_LIT(p, "null"));
    return;
  }
  struct names_key k = {{(uint64_t)(uintptr_t)v.family,
                         (uint64_t)(uintptr_t)v.version}};
  struct ta_jsonw_memo_slot *slot = NULL;
  bool hit = false;
  if (w->memo)
    slot = ta_jsonw_memo_find(w->memo, &k, sizeof k, &hit);
  char *d = ta_jsonw_room(w, verdict_room(&v, hit ? slot->text_len : 0));
  char *p = ta__jput_sep(w, d), *names = p;
  if (hit) {
    memcpy(p, slot->text, slot->text_len);
    p += slot->text_len;
  } else {
    p = names_put(p, &v);
    size_t n = (size_t)(p - names);
    if (slot && n <= sizeof slot->text) {
      memcpy(slot->key, &k, sizeof k);
      slot->key_len = sizeof k;
      memcpy(slot->text, names, n);
      slot->text_len = (uint16_t)n;
    } else if (slot) {
      slot->key_len = 0;
    }
  }
  p = TA_JPUT_LIT(p, ",\"confidence\":");
  p = confidence_put(p, v.confidence);
  p = v.stacks ? TA_JPUT_LIT(p, ",\"several_stacks\":true,\"stack_hints\":[")
               : TA_JPUT_LIT(p, ",\"several_stacks\":false,\"stack_hints\":[");
  bool any = false;
  for (unsigned i = 0; v.stacks && i < N_STACK_HINTS; i++)
    if (v.stacks & (1u << i)) {
      if (any)
        *p++ = ',';
      p = ta__jput_name(p, stack_hint_text[i], strlen(stack_hint_text[i]));
      any = true;
    }
  p = TA_JPUT_LIT(p, "],\"evidence\":[");
  ta_jsonw_room_done(w, d, p);
  evidence_put(w, h);
  d = ta_jsonw_room(w, 64);
  p = TA_JPUT_LIT(d, "],\"evidence_overflow\":");
  p = ta__jput_u64(p, h->overflow);
  *p++ = '}';
  ta_jsonw_room_done(w, d, p);
}
