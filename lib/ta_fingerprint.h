/* tcpaudit - fingerprint: passive OS guesses from SYN and SYN/ACK headers.
 * Owns the signature table (data/os-signatures.txt, embedded in the library
 * at build time; format in docs/fingerprints.md), its parser, the matcher
 * and the per-host verdict. Reads struct ta_syn_features only: it never
 * touches tracker state and never allocates per packet: a host's evidence
 * grows with each new shape it shows, up to a few. */
#ifndef TA_FINGERPRINT_H
#define TA_FINGERPRINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ta_conn.h"
#include "ta_jsonw.h"
#include "ta_limits.h"

/* Quirks: facts about a SYN or SYN/ACK beyond its plain fields.
 * X(name, text, meaning); `text` is the name used in the signature table
 * and the reports. df and id0 are IPv4 only (IPv6 has neither field). */
#define TA_FP_QUIRK_MAP(X)                                                     \
  X(DF, "df", "IPv4 Don't Fragment set")                                       \
  X(ID0, "id0", "IPv4 identification is zero")                                 \
  X(ECN, "ecn", "ECE or CWR flag set (ECN negotiation)")                       \
  X(ECT, "ect", "ECN codepoint set in the IP TOS / traffic class")             \
  X(RESERVED, "reserved", "non-zero TCP reserved bits (incl. AE/NS)")          \
  X(TS_VAL0, "ts_val0", "own timestamp value is zero")                         \
  X(TS_ECR, "ts_ecr", "timestamp echo non-zero on a SYN without ACK")          \
  X(AFTER_EOL, "after_eol", "non-zero bytes after the end-of-options mark")    \
  X(URG_PTR, "urg_ptr", "urgent pointer set without the URG flag")             \
  X(URG, "urg", "URG flag set")                                                \
  X(PUSH, "push", "PSH flag set")                                              \
  X(IP_OPTIONS, "ip_options", "IPv4 header options present")                   \
  X(BAD_OPTION, "bad_option", "a TCP option with an impossible length")      \
  X(TRUNCATED, "truncated", "TCP header cut by the snaplen: options partial")

enum {
#define TA__FPQ_BIT(name, text, meaning) TA__FPQ_BIT_##name,
  TA_FP_QUIRK_MAP(TA__FPQ_BIT)
#undef TA__FPQ_BIT
      TA_FPQ_COUNT
};

enum {
#define TA__FPQ_ENUM(name, text, meaning) TA_FPQ_##name = 1u << TA__FPQ_BIT_##name,
  TA_FP_QUIRK_MAP(TA__FPQ_ENUM)
#undef TA__FPQ_ENUM
};

/* How the window relates to the segment size (see ta_fp_window_rel). */
enum ta_fp_win_rel {
  TA_FP_WIN_NONE = 0, /* no simple relation (or no MSS, or window 0) */
  TA_FP_WIN_MSS,      /* window = k * MSS */
  TA_FP_WIN_MSS_TS,   /* window = k * (MSS - 12): MSS less the timestamp */
  TA_FP_WIN_MTU,      /* window = k * (MSS + IP and TCP headers) */
  TA_FP_WIN_ETH,      /* window = k * the Ethernet MSS (1460 for IPv4, 1440
                         for IPv6, less 12 with timestamps) while the MSS
                         option is smaller: clamped on the way */
};

/* What one SYN or SYN/ACK shows of its sender's stack. Plain data. */
struct ta_fp_features {
  bool synack;          /* a SYN/ACK rather than a SYN */
  uint8_t family;       /* 4 or 6 */
  uint8_t ttl;          /* observed TTL or hop limit */
  uint8_t initial_ttl;  /* 32, 64, 128 or 255: the nearest at or above */
  uint8_t hops;         /* initial_ttl - ttl */
  uint16_t window;      /* raw, never scaled on a SYN */
  bool has_mss, has_wscale;
  uint16_t mss;
  uint8_t wscale;
  uint8_t win_rel;      /* enum ta_fp_win_rel */
  uint16_t win_mult;    /* k of win_rel */
  uint16_t win_seg;     /* the segment size k multiplies */
  uint32_t quirks;      /* TA_FPQ_* */
  uint8_t n_layout;
  uint8_t layout[TA_MAX_OPT_LAYOUT]; /* option kinds in order, EOL as 0 */
};

/* One entry of the table: an OS (or a packet-crafting tool) and its note. */
struct ta_fp_entry {
  const char *id;       /* "linux-4.19" */
  const char *os;       /* family: "Linux", "Windows", ... */
  const char *version;  /* "4.19 and later", or NULL when only the family */
  const char *note;     /* the public fact the entry rests on */
  bool generic;         /* tried only after every specific entry */
};

struct ta_fp_db;

/* Computes the features of a recorded SYN or SYN/ACK (syn->seen must be
 * true); family is the connection's, 4 or 6. Cannot fail. */
void ta_fp_features_from_syn(struct ta_fp_features *f,
                             const struct ta_syn_features *syn, uint8_t family);

/* Initial TTL guess for an observed TTL: 32, 64, 128 or 255. */
uint8_t ta_fp_initial_ttl(uint8_t ttl);

/* Parses a signature table (text[0..len), need not be NUL-terminated) into
 * a new table at *out (free with ta_fp_db_free). Returns 0, TA_ENOMEM, or
 * TA_EINVAL with the line and the problem in err. */
int ta_fp_db_parse(const char *text, size_t len, struct ta_fp_db **out,
                   char *err, size_t errlen);
void ta_fp_db_free(struct ta_fp_db *db);
/* The table built into the library, parsed once on first use (thread-safe).
 * NULL only if the embedded table does not parse, which the tests rule out;
 * every caller then reports "no guess". Owned by the library. */
const struct ta_fp_db *ta_fp_db_default(void);
/* Why the embedded table failed to parse ("" when it did not). */
const char *ta_fp_db_default_error(void);
/* Number of entries, and entry i (NULL when out of range). */
size_t ta_fp_db_count(const struct ta_fp_db *db);
const struct ta_fp_entry *ta_fp_db_entry(const struct ta_fp_db *db, int i);

/* Index of the entry matching f: the first specific entry in table order,
 * else the first generic one; -1 when none matches, when the header was
 * truncated (partial options prove nothing), or when db is NULL.
 * Pure; no allocation. */
int ta_fp_match(const struct ta_fp_db *db, const struct ta_fp_features *f);

/* Matches a recorded SYN or SYN/ACK (if syn->seen) against the default
 * table once, keeping the result in syn->fp_match for the functions below
 * that take a struct ta_syn_features. Cannot fail. */
void ta_fp_syn_match(struct ta_syn_features *syn, uint8_t family);

/* What the matches of one table of connections have found before: a
 * capture's SYNs come from a few stacks, and a match costs hundreds of
 * instructions where a lookup costs tens. Over a key of the fields the
 * features are made of, so the result is the same as without it; a
 * zeroed struct is empty. Owned by its user, one per thread. */
#define TA_FP_MEMO_SLOTS 512
#define TA_FP_MEMO_WAYS 2       /* slots a key may take: one in each half */
#define TA_FP_MEMO_SLOT_WORDS 8 /* a cache line */
struct ta_fp_memo {
  /* slots of a SYN's key (lib/fingerprint.c) and its match, 0 when empty;
   * one more than the slots so that the first can start on a cache line
   * wherever the struct is, and no slot spans two lines */
  uint64_t word[(TA_FP_MEMO_SLOTS + 1) * TA_FP_MEMO_SLOT_WORDS];
};
/* ta_fp_syn_match, remembering its results in m (NULL: none). Inline,
 * so that the side of each connection that sent no SYN costs a test. */
void ta__fp_syn_match_memo(struct ta_syn_features *syn, uint8_t family,
                           struct ta_fp_memo *m);
static inline void ta_fp_syn_match_memo(struct ta_syn_features *syn,
                                        uint8_t family, struct ta_fp_memo *m) {
  if (syn->seen)
    ta__fp_syn_match_memo(syn, family, m);
}

/* "mss*44", "(mss-12)*45", "mtu*4", "1460*10" (TA_FP_WIN_ETH), or "" when
 * there is no relation. */
void ta_fp_window_rel(char *buf, size_t len, const struct ta_fp_features *f);
/* Option layout as names: "mss,nop,ws,nop,nop,sok" ("" for none). */
void ta_fp_layout(char *buf, size_t len, const struct ta_fp_features *f);
/* One-line summary of the features, for evidence: "syn ttl 60 (initial 64,
 * 4 hops) win 64240 (mss*44) ws 7 mss 1460 opts mss,sok,ts,nop,ws quirks df".
 * Cannot fail (truncates). */
void ta_fp_summary(char *buf, size_t len, const struct ta_fp_features *f);
/* Static name of quirk bit i (0 <= i < TA_FPQ_COUNT). */
const char *ta_fp_quirk_name(int i);

/* ---- per-host aggregate ---- */

/* Distinct SYN/SYN-ACK shapes kept per host, each with a count and the
 * first packet that showed it: one stack shows two or three (its SYN, and
 * its SYN/ACKs answering different offers); more is already a crowd. */
#define TA_FP_HOST_EVIDENCE 6

/* The features of every first packet, kept once however many hosts showed
 * the same: a capture's hosts run a handful of stacks, so evidence refers
 * to them by number. Hashed with a seed, like the host table. */
struct ta_fp_shapes;

/* New empty set; NULL on ENOMEM. */
struct ta_fp_shapes *ta_fp_shapes_new(uint64_t seed);
void ta_fp_shapes_free(struct ta_fp_shapes *s);

struct ta_fp_evidence {
  uint64_t packets;     /* SYN/SYN-ACKs of this shape */
  uint64_t conn_id;     /* connection of the first one */
  uint32_t shape;       /* its features, in the host's ta_fp_shapes */
  int16_t entry;        /* table entry matched, -1 when none */
  uint8_t dir;          /* its direction there (enum ta_dir) */
};

/* Zeroed, it is a host that sent nothing. A plain value: copies stay
 * valid as long as the shapes do. The host table keeps its evidence in the
 * compact form below and hands reporters this one. */
struct ta_fp_host {
  struct ta_fp_evidence ev[TA_FP_HOST_EVIDENCE]; /* n of them */
  /* where their features are; the JSON writer keeps its text of each shape
   * there too, so it is not const */
  struct ta_fp_shapes *shapes;
  uint64_t overflow;    /* packets whose shape did not fit */
  uint8_t n;
};

/* Counts side dir of the finalized connection c (if that side sent a SYN or
 * SYN/ACK) into h, matching it against the default table. A new shape
 * takes the next entry of h and may add its features to shapes; when none
 * is left or memory runs out it is counted in the overflow instead.
 * Cannot fail. */
void ta_fp_host_add(struct ta_fp_host *h, struct ta_fp_shapes *shapes,
                    const struct ta_conn *c, int dir);
/* Empties h (it owns no memory). */
void ta_fp_host_free(struct ta_fp_host *h);

/* Library-internal: the host table's evidence, 16 bytes an entry rather
 * than 24. The connection id and the packet count have 48 bits each
 * (2.8e14, more than any capture holds: the count stops there rather than
 * wrap, and a first packet whose connection id does not fit is counted as
 * overflow); the shape has 31 bits (SHAPES_MAX is 2^30) and the direction
 * one. The signature entry is the shape's: it is a function of the
 * features. */
struct ta__fp_ev {
  uint32_t conn_lo, packets_lo;
  uint16_t conn_hi, packets_hi;
  uint32_t shape_dir; /* shape << 1 | dir */
};

/* Index among shape[0..n) (indexes into shapes, as in the entries'
 * shape_dir >> 1) of the one the SYN or SYN/ACK syn (of a connection of
 * that address family) has, or n when none has it. They take the side's
 * features rather than the connection, which the host table does not keep
 * while a count waits, and shapes rather than entries, which the table
 * keeps in a narrower form while they fit (lib/hosts.c). The host table
 * does the same with the three functions below, reading the shapes from
 * its entries where they are. */
unsigned ta__fp_shape_find(const struct ta_fp_shapes *shapes,
                           const uint32_t *shape, unsigned n,
                           const struct ta_syn_features *syn, uint8_t family);

/* A shape's group: the words that tell a host's shapes apart (the
 * signature entry, TTL, kind, then the option layout), TA__FP_GROUP_WORDS
 * of them. The first is ta__fp_group_head's; the shapes of one host
 * mostly differ there, so a SYN is compared with each shape's head first
 * and only with the head that matches by its layout. */
#define TA__FP_GROUP_WORDS 3
static inline uint64_t ta__fp_group_head(int entry, uint8_t ttl, bool synack,
                                         uint8_t n_layout) {
  unsigned n = n_layout < TA_MAX_OPT_LAYOUT ? n_layout : TA_MAX_OPT_LAYOUT;
  return (uint64_t)(uint16_t)entry | (uint64_t)ttl << 16 |
         (uint64_t)synack << 24 | (uint64_t)n << 32;
}
/* The entry of a record ta_fp_syn_match never saw (as in tests). */
int ta__fp_syn_entry_slow(const struct ta_syn_features *syn, uint8_t family);
/* The head of syn's group. */
static inline uint64_t ta__fp_syn_group_head(const struct ta_syn_features *syn,
                                             uint8_t family) {
  int entry = syn->fp_match ? syn->fp_match - 2
                            : ta__fp_syn_entry_slow(syn, family);
  return ta__fp_group_head(entry, syn->ttl, (syn->flags & TA_TCP_ACK) != 0,
                           syn->opt.n_layout);
}
/* The groups of every shape of shapes, TA__FP_GROUP_WORDS words a shape
 * in shape order; valid until a shape is added. */
const uint64_t *ta__fp_shapes_groups(const struct ta_fp_shapes *shapes);
/* Whether the group words g of a shape whose head is syn's hold syn's
 * layout too (whatever lies past its length). */
bool ta__fp_group_layout_is(const uint64_t *g,
                            const struct ta_syn_features *syn);
/* Starts e with syn, side dir of connection id, as a new shape, adding its
 * features to shapes. False when memory runs out or the id does not fit;
 * the caller counts the packet as overflow. */
bool ta__fp_ev_start(struct ta__fp_ev *e, struct ta_fp_shapes *shapes,
                     const struct ta_syn_features *syn, uint8_t family,
                     uint64_t id, int dir);
/* One more packet of e's shape. */
static inline void ta__fp_ev_count(struct ta__fp_ev *e) {
  if (e->packets_lo != UINT32_MAX) {
    e->packets_lo++;
  } else if (e->packets_hi != UINT16_MAX) { /* else 2^48 - 1: stays */
    e->packets_lo = 0;
    e->packets_hi++;
  }
}
/* The public form of e. */
void ta__fp_ev_unpack(struct ta_fp_evidence *out,
                      const struct ta_fp_shapes *shapes,
                      const struct ta__fp_ev *e);
/* The features of the first packet of evidence ev of h. */
const struct ta_fp_features *ta_fp_evidence_features(
    const struct ta_fp_host *h, const struct ta_fp_evidence *ev);

/* Why one address looks like several stacks. */
enum {
  TA_FP_STACK_FAMILIES = 1u << 0,  /* matched OS families differ */
  TA_FP_STACK_TTL = 1u << 1,       /* initial TTLs differ */
  TA_FP_STACK_HOPS = 1u << 2,      /* same initial TTL, hop counts differ
                                      near the capture point, or by 3+ */
  TA_FP_STACK_SYN_LAYOUT = 1u << 3, /* its SYNs carried different layouts */
};

/* The verdict for one host. Strings are owned by the table. */
struct ta_fp_verdict {
  bool any;             /* the host sent at least one SYN or SYN/ACK */
  const char *family;   /* NULL: unknown */
  const char *version;  /* NULL: family only, or unknown */
  double confidence;    /* 0 when unknown; see docs/fingerprints.md */
  uint32_t stacks;      /* TA_FP_STACK_* bits; non-zero: several stacks */
};

/* Decides family, version and confidence from the evidence. Cannot fail. */
void ta_fp_host_verdict(const struct ta_fp_host *h, struct ta_fp_verdict *v);

/* For the text and HTML reports. Cannot fail (they truncate).
 * The verdict in a few words: "Linux 4.19 and later (0.90)", "unknown"
 * when nothing matched, "" when the host sent no SYN/SYN-ACK; then
 * ", several stacks" when the evidence says so. */
void ta_fp_host_label(char *buf, size_t len, const struct ta_fp_host *h);
/* Why several stacks, as text ("initial ttls differ, ..."); "" if not. */
void ta_fp_stack_hints(char *buf, size_t len, uint32_t stacks);
/* Evidence entry i of h: "linux-4.19 (Linux 4.19 and later): 3 x syn,
 * first in connection 1 (orig): syn ttl 64 (initial 64, 0 hops) win ...";
 * "no signature" in place of the match when none matched. */
void ta_fp_evidence_line(char *buf, size_t len, const struct ta_fp_host *h,
                         uint8_t i);

/* ---- JSON (shared by the json reporters) ---- */

/* The value of a side's "syn" key, written in place at p (see
 * ta_jsonw_room; at most TA_FP_JSON_SIDE_MAX bytes): what its SYN or
 * SYN/ACK showed and the signature it matched, or null when the side sent
 * neither. With a memo (may be NULL) the text of a SYN of the same shape
 * is copied instead of formatted again. Returns the end. */
#define TA_FP_JSON_SIDE_MAX 1024
char *ta__fp_json_side_put(char *p, const struct ta_syn_features *syn,
                           uint8_t family, struct ta_jsonw_memo *m);
/* Writes the value of a host's "os_guess" key: an object, or null when the
 * host sent no SYN/SYN-ACK. */
void ta__fp_json_host(struct ta_jsonw *w, const struct ta_fp_host *h);

#endif
