/* tcpaudit - tracker: one TCP connection, packet by packet.
 * Owns the contents of struct ta_conn: the analyst's story (SYN attempts,
 * handshake and close timings, per-side counters, the ladder) and a model of
 * Zeek's TCP endpoint state machine that yields conn_state and history.
 * Constant work per packet (counters and a few sequence numbers), no
 * allocation, no packet list. Knows nothing of the flow table or reporters.
 *
 * The Zeek model follows Zeek's documented behaviour closely enough to agree
 * with its conn.log on real traces; where it cannot (checksums, tunnels,
 * timers) docs/zeek-differences.md says why. */
#include "ta_conn.h"

#include <string.h>

#include "ta_fingerprint.h"

enum { ORIG = TA_DIR_ORIG, RESP = TA_DIR_RESP };

/* Zeek ignores the sequence number of a SYN or RST that jumps this far. */
#define SEQ_JUMP_LIMIT 1048576
/* A segment filling a hole this soon after the hole appeared is taken as
 * out of order rather than retransmitted (Wireshark's default, 3 ms), unless
 * the handshake showed a longer round trip. */
#define OOO_WINDOW_NS 3000000LL

/* History letters recorded only once per role ("seen" bits). */
enum {
  HB_SYN = 1u << 0,
  HB_FIN = 1u << 1,
  HB_RST = 1u << 2,
  HB_FIN_RST = 1u << 3,
  HB_DATA = 1u << 4,
  HB_ACK = 1u << 5,
  HB_MULTI = 1u << 6,
};

/* Letters repeated on a log scale (at 1, 10, 100, ... events). */
enum { REP_CHECKSUM = 0, REP_GAP, REP_RXMIT, REP_WIN0 };
static const char rep_letter[4] = {'C', 'G', 'T', 'W'};

/* For the steps of ta_conn_update: each is compiled into every variant
 * of the update that ta_conn_update picks by the packet's flags (see
 * there), so that tests on those flags cost nothing. */
#define ALWAYS_INLINE __attribute__((always_inline)) inline

/* Sequence arithmetic modulo 2^32. */
static int32_t seq_diff(uint32_t a, uint32_t b) { return (int32_t)(a - b); }

/* ------------------------------------------------------------------------ */
/* Names */

const char *ta_scenario_name(int s) {
  switch (s) {
#define TA__SC_NAME(name, str)                                                 \
  case TA_SC_##name:                                                           \
    return str;
    TA_SCENARIO_MAP(TA__SC_NAME)
#undef TA__SC_NAME
  }
  return "unknown";
}

const char *ta_conn_state_name(int s) {
  switch (s) {
#define TA__CS_NAME(name)                                                      \
  case TA_CS_##name:                                                           \
    return #name;
    TA_CONN_STATE_MAP(TA__CS_NAME)
#undef TA__CS_NAME
  }
  return "unknown";
}

const char *ta_end_reason_name(int r) {
  switch (r) {
#define TA__END_NAME(name, str)                                                \
  case TA_END_##name:                                                          \
    return str;
    TA_END_MAP(TA__END_NAME)
#undef TA__END_NAME
  }
  return "unknown";
}

/* ------------------------------------------------------------------------ */
/* Roles */

/* Ports of services Zeek's default analyzers register (its
 * likely_server_ports), used the way Zeek uses them: to guess which side is
 * the server when a connection does not begin with a SYN. Sorted. */
static const uint16_t server_ports[] = {
    21,   22,   23,   25,   53,   79,   80,   81,   88,   110,  111,  113,
    135,  139,  143,  389,  443,  445,  465,  502,  513,  514,  563,  585,
    587,  614,  631,  636,  989,  990,  992,  993,  995,  1080, 1433, 1521,
    1883, 2049, 2811, 3128, 3268, 3306, 3389, 5060, 5222, 5223, 5269, 5432,
    5672, 6379, 6666, 6667, 6668, 6669, 8000, 8080, 8443, 8888, 20000,
};

static bool likely_server_port(uint16_t port) {
  size_t lo = 0, hi = sizeof server_ports / sizeof server_ports[0];
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (server_ports[mid] == port)
      return true;
    if (server_ports[mid] < port)
      lo = mid + 1;
    else
      hi = mid;
  }
  return false;
}

/* Zeek's port rule for a connection whose first packet (src -> dst) is not a
 * bare SYN: true when the sender looks like the server, so that the
 * receiver should be taken as the originator. */
static bool ports_say_flip(uint16_t src, uint16_t dst, bool syn_flag) {
  if (!likely_server_port(src))
    return false;
  if (likely_server_port(dst))
    return !syn_flag && src < dst; /* both plausible: favour the lower one */
  return true;
}

/* Copies an address of c's family: a copy of a constant size is a move
 * or two, where one of a variable size is a library call. */
static void copy_addr(const struct ta_conn *c, uint8_t *to,
                      const uint8_t *from) {
  if (c->family == 6)
    memcpy(to, from, 16);
  else
    memcpy(to, from, 4);
}

/* Runs for every packet: compares of a constant size are done in registers,
 * where one of a variable size is a library call. */
static bool same_addr(const struct ta_conn *c, const uint8_t *a,
                      const uint8_t *b) {
  return c->family == 6 ? memcmp(a, b, 16) == 0 : memcmp(a, b, 4) == 0;
}

static ALWAYS_INLINE int direction(const struct ta_conn *c,
                                   const struct ta_packet *p) {
  const struct ta_side *o = &c->side[ORIG];
  if (p->sport == o->port && same_addr(c, p->src, o->ip))
    return ORIG;
  return RESP;
}

/* ------------------------------------------------------------------------ */
/* History string */

static ALWAYS_INLINE void hist_add(struct ta_conn *c, char ch) {
  if (c->history_len < TA_MAX_HISTORY) {
    c->history[c->history_len++] = ch;
    c->history[c->history_len] = '\0';
  }
}

static char role_letter(int dir, char upper) {
  return dir == ORIG ? upper : (char)(upper - 'A' + 'a');
}

/* Records the letter the first time this role (side s, index dir) shows
 * it; returns true when it had been recorded before. */
static ALWAYS_INLINE bool hist_once(struct ta_conn *c, struct ta_side *s,
                                    int dir, uint8_t bit, char upper) {
  if (s->hist_seen & bit)
    return true;
  s->hist_seen |= bit;
  hist_add(c, role_letter(dir, upper));
  return false;
}

/* The event counts at which a repeating letter is recorded: powers of ten
 * while they fit in 32 bits, then the step past 10^9 where multiplying by
 * ten wraps, after which the count starts over at the same threshold. */
static const uint32_t hist_steps[] = {
    1u,       10u,       100u,       1000u,       10000u,     100000u,
    1000000u, 10000000u, 100000000u, 1000000000u, 1410065408u};
#define HIST_LAST_STEP (sizeof hist_steps / sizeof hist_steps[0] - 1)

/* Counts an event of a repeating letter and records the letter at the 1st,
 * 10th, 100th, ... event. */
static void hist_scaled(struct ta_conn *c, struct ta_side *s, int dir,
                        int which) {
  uint8_t level = s->hist_level[which];
  if (++s->hist_count[which] != hist_steps[level])
    return;
  hist_add(c, role_letter(dir, rep_letter[which]));
  if (level == HIST_LAST_STEP)
    s->hist_count[which] = 0; /* would wrap: keep the threshold */
  else
    s->hist_level[which] = (uint8_t)(level + 1);
}

/* A SYN, FIN or RST (or several): their letters repeat when the sequence
 * number moves. */
static ALWAYS_INLINE void zeek_history_ctl(struct ta_conn *c, struct ta_side *s,
                                           int dir, uint8_t fl, uint32_t rel,
                                           uint32_t len) {
  bool syn = fl & TA_TCP_SYN, fin = fl & TA_TCP_FIN, rst = fl & TA_TCP_RST;
  int bits = syn + fin + rst;
  if (bits > 1) {
    if (fin && rst)
      hist_once(c, s, dir, HB_FIN_RST, 'I');
    else
      hist_once(c, s, dir, HB_MULTI, 'Q');
  } else if (syn) {
    char code = (fl & TA_TCP_ACK) ? 'H' : 'S';
    if (hist_once(c, s, dir, HB_SYN, code) && rel != s->hist_last_syn)
      hist_add(c, role_letter(dir, code));
    s->hist_last_syn = rel;
  } else if (fin) {
    /* a FIN's position is after the data it carries */
    if (hist_once(c, s, dir, HB_FIN, 'F') && rel + len != s->hist_last_fin)
      hist_add(c, role_letter(dir, 'F'));
    s->hist_last_fin = rel + len;
  } else {
    if (hist_once(c, s, dir, HB_RST, 'R') && rel != s->hist_last_rst)
      hist_add(c, role_letter(dir, 'R'));
    s->hist_last_rst = rel;
  }
}

static ALWAYS_INLINE void zeek_history(struct ta_conn *c, struct ta_side *s,
                                       int dir, uint8_t fl, uint32_t rel,
                                       uint32_t len) {
  if (fl & (TA_TCP_SYN | TA_TCP_FIN | TA_TCP_RST))
    zeek_history_ctl(c, s, dir, fl, rel, len);
  else if (len)
    hist_once(c, s, dir, HB_DATA, 'D');
  else if (fl & TA_TCP_ACK)
    hist_once(c, s, dir, HB_ACK, 'A');
}

/* ------------------------------------------------------------------------ */
/* Flipping roles */

/* Swaps everything that belongs to an endpoint; callers decide about the
 * per-role history bits. */
static void swap_sides(struct ta_conn *c) {
  struct ta_side t = c->side[ORIG];
  c->side[ORIG] = c->side[RESP];
  c->side[RESP] = t;
  for (uint8_t i = 0; i < c->n_ladder && i < TA_LADDER_PKTS; i++)
    c->ladder[i].dir ^= 1;
  uint64_t b = c->payload_before_close[0];
  c->payload_before_close[0] = c->payload_before_close[1];
  c->payload_before_close[1] = b;
  if (c->close_initiator)
    c->close_initiator = (uint8_t)(3 - c->close_initiator);
  c->history_flipped = !c->history_flipped;
}

/* Zeek's flip in the middle of a connection (a SYN answering a SYN/ACK that
 * was seen first): the endpoints swap roles, the letters already written
 * stay as they are, and '^' marks the moment. */
static void flip_now(struct ta_conn *c) {
  uint32_t seen0 = c->side[ORIG].hist_seen, seen1 = c->side[RESP].hist_seen;
  swap_sides(c);
  c->side[ORIG].hist_seen = seen0;
  c->side[RESP].hist_seen = seen1;
  c->zeek_partial = false;
  hist_add(c, '^');
}

/* A record that began with SYN/ACKs turns out to have the other side as its
 * originator: rewrite it as if the roles had been swapped from its first
 * packet (which is what Zeek reports: "^h..."). Only SYN/ACKs have been
 * seen, so the SYN/ACK sender becomes an established responder. */
static void flip_from_start(struct ta_conn *c) {
  swap_sides(c);
  for (int d = 0; d < 2; d++) {
    struct ta_side *s = &c->side[d];
    if (s->zeek_state == TA_ZE_SYN_ACK_SENT) {
      s->zeek_prev_state = TA_ZE_INACTIVE;
      s->zeek_state = TA_ZE_ESTABLISHED;
    }
  }
  char old[TA_MAX_HISTORY + 1];
  memcpy(old, c->history, sizeof old);
  uint8_t n = c->history_len;
  c->history_len = 0;
  c->history[0] = '\0';
  hist_add(c, '^');
  for (uint8_t i = 0; i < n; i++) {
    char ch = old[i];
    if (ch >= 'A' && ch <= 'Z')
      ch = (char)(ch - 'A' + 'a');
    else if (ch >= 'a' && ch <= 'z')
      ch = (char)(ch - 'a' + 'A');
    hist_add(c, ch);
  }
  c->zeek_partial = false;
}

/* Decides the roles of a record that began with SYN/ACKs, given the next
 * packet (flags of pkt, before it is applied). */
static void resolve_roles(struct ta_conn *c, uint8_t fl) {
  bool syn = fl & TA_TCP_SYN, ack = fl & TA_TCP_ACK, rst = fl & TA_TCP_RST;
  if (syn && !ack) {
    /* the SYN it answered, seen late: the state machine sorts it out */
    c->roles_pending = false;
  } else if (syn) {
    /* another SYN/ACK: still undecided */
  } else if (!rst) {
    /* an ACK or data after a SYN/ACK is no scan: its receiver is the client */
    flip_from_start(c);
    c->roles_pending = false;
  } else {
    if (ports_say_flip(c->side[ORIG].port, c->side[RESP].port, true))
      flip_from_start(c);
    c->roles_pending = false;
  }
}

/* ------------------------------------------------------------------------ */
/* Zeek endpoint model */

static ALWAYS_INLINE void zset(struct ta_side *s, uint8_t state) {
  if (s->zeek_state != state) {
    s->zeek_prev_state = s->zeek_state;
    s->zeek_state = state;
  }
}

static ALWAYS_INLINE void zreinit(struct ta_side *s, uint32_t start,
                                  uint32_t last) {
  s->zeek_start = s->zeek_acked = start;
  s->zeek_last = last;
}

/* Sets up a side's sequence numbers from its packet, as Zeek does. */
static ALWAYS_INLINE void zeek_init_endpoint(struct ta_side *s, uint8_t fl,
                                             uint32_t base, uint32_t past) {
  bool syn = fl & TA_TCP_SYN;
  switch (s->zeek_state) {
  case TA_ZE_INACTIVE:
    if (syn)
      zreinit(s, base, past);
    else
      zreinit(s, base - 1, base); /* as if a SYN had been seen */
    break;
  case TA_ZE_SYN_SENT:
  case TA_ZE_SYN_ACK_SENT:
    if (syn && base != s->zeek_start)
      zreinit(s, base, past);
    break;
  case TA_ZE_ESTABLISHED:
  case TA_ZE_PARTIAL:
    if (syn)
      zreinit(s, base, past);
    break;
  case TA_ZE_RESET:
    if (syn && s->zeek_prev_state == TA_ZE_INACTIVE)
      zreinit(s, base, past); /* the earlier RST may have been injected */
    break;
  default:
    break;
  }
}

/* Advances the side's highest sequence number; a segment with data that
 * does not advance it is a retransmission ('T'). */
static ALWAYS_INLINE void zeek_last_seq(struct ta_conn *c, struct ta_side *s,
                                        int dir, uint32_t past, uint8_t fl,
                                        uint32_t len) {
  int32_t delta = seq_diff(past, s->zeek_last);
  if ((fl & (TA_TCP_SYN | TA_TCP_RST)) &&
      (delta > SEQ_JUMP_LIMIT || delta < -SEQ_JUMP_LIMIT))
    return; /* not trusted */
  if ((fl & TA_TCP_FIN) && s->zeek_last == s->zeek_start + 1)
    s->zeek_last = past; /* only SYN and FIN seen: trust the FIN */
  else if (s->zeek_state == TA_ZE_RESET)
    return;
  else if (delta > 0)
    s->zeek_last = past;
  else if (len > 0)
    hist_scaled(c, s, dir, REP_RXMIT);
}

static bool zeek_clean(const struct ta_side *s) {
  return s->zeek_state == TA_ZE_ESTABLISHED ||
         (s->zeek_state == TA_ZE_CLOSED &&
          s->zeek_prev_state == TA_ZE_ESTABLISHED);
}

/* Data of side s seen at relative [rel, rel + len). */
static ALWAYS_INLINE void gap_data(struct ta_side *s, uint32_t rel,
                                   uint32_t len) {
  uint32_t hi = rel + len;
  if (seq_diff(rel, s->gap_contig_rel) <= 0) {
    if (seq_diff(hi, s->gap_contig_rel) > 0)
      s->gap_contig_rel = hi;
    if (s->gap_above && seq_diff(s->gap_above_lo, s->gap_contig_rel) <= 0) {
      if (seq_diff(s->gap_above_hi, s->gap_contig_rel) > 0)
        s->gap_contig_rel = s->gap_above_hi;
      s->gap_above = false;
    }
  } else if (!s->gap_above) {
    s->gap_above = true;
    s->gap_above_lo = rel;
    s->gap_above_hi = hi;
  } else {
    /* one block is kept: merge (a second hole goes unreported) */
    if (seq_diff(rel, s->gap_above_lo) < 0)
      s->gap_above_lo = rel;
    if (seq_diff(hi, s->gap_above_hi) > 0)
      s->gap_above_hi = hi;
  }
}

/* The peer (o) acknowledged side s's data (index k) up to relative rel_ack:
 * bytes it acknowledged that were never seen are a content gap ('G'),
 * counted only while both sides are established or closing cleanly. */
static ALWAYS_INLINE void gap_ack(struct ta_conn *c, struct ta_side *s,
                                  const struct ta_side *o, int k,
                                  uint32_t rel_ack) {
  uint32_t up = rel_ack;
  if (s->zeek_fins && seq_diff(up, s->zeek_fin_rel) >= 0)
    up = s->zeek_fin_rel - 1; /* the FIN octet is not data */
  if (seq_diff(up, s->gap_trim_rel) <= 0)
    return;
  /* a partial connection's first ack says nothing about missing data */
  if (!(c->zeek_partial && up <= 2)) {
    bool report = zeek_clean(s) && zeek_clean(o);
    if (s->gap_above && seq_diff(s->gap_above_lo, up) < 0) {
      if (seq_diff(s->gap_above_lo, s->gap_contig_rel) > 0 && report)
        hist_scaled(c, s, k, REP_GAP);
      if (seq_diff(s->gap_above_hi, s->gap_contig_rel) > 0)
        s->gap_contig_rel = s->gap_above_hi;
      s->gap_above = false;
    }
    if (seq_diff(up, s->gap_contig_rel) > 0) {
      if (report)
        hist_scaled(c, s, k, REP_GAP);
      s->gap_contig_rel = up;
    }
  }
  s->gap_trim_rel = up;
}

/* The connection is over once a side is reset, both sides closed, or one
 * side closed while the other never sent anything (a test symmetric in
 * the two sides, so a and b may be either). */
static ALWAYS_INLINE void zeek_check_closed(struct ta_conn *c,
                                            const struct ta_side *a,
                                            const struct ta_side *b,
                                            int64_t ts) {
  bool over = a->zeek_state == TA_ZE_RESET || b->zeek_state == TA_ZE_RESET ||
              (a->zeek_did_close && b->zeek_did_close) ||
              (a->zeek_did_close && b->zeek_state == TA_ZE_INACTIVE) ||
              (b->zeek_did_close && a->zeek_state == TA_ZE_INACTIVE);
  if (over) {
    c->closed = true;
    c->closed_ts = ts;
  }
}

/* The state machine for a side that had sent nothing before this packet.
 * May flip the roles: then *e becomes ORIG, and since the sides' contents
 * swapped, the sender's record is the one *peer pointed to (the caller
 * swaps its pointers). Returns true when the packet closed the sender. */
static ALWAYS_INLINE bool zeek_inactive(struct ta_conn *c, int *e,
                                        struct ta_side *ep,
                                        struct ta_side *peer,
                                        const struct ta_packet *p, uint8_t fl) {
  bool syn = fl & TA_TCP_SYN, ack = fl & TA_TCP_ACK;
  bool is_orig = *e == ORIG;
  bool do_close = false;

  if (syn) {
    if (is_orig) {
      zset(ep, ack ? TA_ZE_SYN_ACK_SENT : TA_ZE_SYN_SENT);
    } else {
      if (!ack && peer->zeek_state == TA_ZE_SYN_ACK_SENT &&
          p->seq == ep->zeek_start) {
        /* the SYN/ACK was seen before the SYN it answers */
        flip_now(c);
        *e = ORIG;
        struct ta_side *t = ep;
        ep = peer;
        peer = t;
        zset(peer, TA_ZE_ESTABLISHED);
      }
      if (peer->zeek_state == TA_ZE_SYN_SENT)
        zset(peer, TA_ZE_ESTABLISHED);
      zset(ep, TA_ZE_ESTABLISHED);
    }
  }
  if (fl & TA_TCP_FIN) {
    zset(ep, TA_ZE_CLOSED);
    do_close = true;
  }
  if (fl & TA_TCP_RST) {
    zset(ep, TA_ZE_RESET);
    do_close = true;
  }
  if (ep->zeek_state == TA_ZE_INACTIVE) {
    if (!is_orig && p->payload_len == 0 &&
        c->side[ORIG].zeek_state == TA_ZE_SYN_SENT) {
      /* a bare ACK of a SYN before the SYN/ACK: not a partial connection */
    } else if (ack && peer->zeek_state == TA_ZE_ESTABLISHED) {
      zset(ep, TA_ZE_ESTABLISHED); /* the SYN was missed, the rest is here */
      c->zeek_partial = false;
    } else {
      zset(ep, TA_ZE_PARTIAL);
    }
  }
  return do_close;
}

/* Only a SYN, FIN or RST, or a first packet, moves a side's state (the
 * caller skips the rest). */
static ALWAYS_INLINE bool zeek_state_machine(struct ta_conn *c, int *e,
                                             struct ta_side *ep,
                                             struct ta_side *peer,
                                             const struct ta_packet *p,
                                             uint8_t fl) {
  bool do_close = false;
  switch (ep->zeek_state) {
  case TA_ZE_INACTIVE:
    return zeek_inactive(c, e, ep, peer, p, fl);
  case TA_ZE_SYN_SENT:
  case TA_ZE_SYN_ACK_SENT:
    if (fl & TA_TCP_FIN) {
      zset(ep, TA_ZE_CLOSED);
      do_close = true;
    }
    if (fl & TA_TCP_RST) {
      zset(ep, TA_ZE_RESET);
      do_close = true;
    }
    break;
  case TA_ZE_ESTABLISHED:
  case TA_ZE_PARTIAL:
    if ((fl & TA_TCP_SYN) && !(fl & TA_TCP_ACK) &&
        ep->zeek_state == TA_ZE_PARTIAL && peer->zeek_state == TA_ZE_INACTIVE)
      zset(ep, TA_ZE_SYN_SENT);
    if ((fl & TA_TCP_FIN) && !(fl & TA_TCP_RST)) {
      zset(ep, TA_ZE_CLOSED);
      /* a FIN then a RST from the peer was a normal close after all */
      if (peer->zeek_state == TA_ZE_RESET &&
          peer->zeek_prev_state == TA_ZE_CLOSED)
        zset(peer, TA_ZE_CLOSED);
      do_close = true;
    }
    if (fl & TA_TCP_RST) {
      zset(ep, TA_ZE_RESET);
      do_close = true;
    }
    break;
  case TA_ZE_CLOSED:
    /* a RST after both FINs changes nothing */
    if ((fl & TA_TCP_RST) && peer->zeek_state != TA_ZE_CLOSED) {
      zset(ep, TA_ZE_RESET);
      if (!ep->zeek_did_close)
        do_close = true;
    }
    break;
  default: /* RESET: nothing more changes it */
    break;
  }
  return do_close;
}

/* Zeek's is_partial: some side's first packet was not a SYN. */
static ALWAYS_INLINE void zeek_partial_status(struct ta_conn *c, int dir,
                                              uint8_t fl) {
  bool syn = fl & TA_TCP_SYN, ack = fl & TA_TCP_ACK;
  if (dir == ORIG)
    c->zeek_partial = !syn || ack;
  else if (!c->zeek_partial)
    c->zeek_partial = !syn;
}

/* The peer's side of this packet's ACK: its start, and how far acked.
 * Returns the ack relative to the peer's start (0: nothing to check). */
static ALWAYS_INLINE uint32_t zeek_ack(struct ta_side *peer,
                                       const struct ta_packet *p, bool rst) {
  if (peer->zeek_state == TA_ZE_INACTIVE) {
    zreinit(peer, p->ack - 1, p->ack - 1);
    return 1;
  }
  int32_t d = seq_diff(p->ack, peer->zeek_start);
  if (d < 0)
    return 0;
  int32_t adv = seq_diff(p->ack, peer->zeek_acked);
  /* an ack of 0 far ahead is more likely broken than a wrap */
  if (!rst && adv > 0 && !(p->ack == 0 && adv > SEQ_JUMP_LIMIT))
    peer->zeek_acked = p->ack;
  return (uint32_t)d;
}

/* Applies one packet to the Zeek model, sent by side *ep (index e) to
 * *peer; returns the sender's index, which changes when the roles flip
 * (then the caller's ep and peer are swapped too). end is the packet's
 * seq + payload + SYN + FIN. */
static ALWAYS_INLINE int zeek_packet(struct ta_conn *c, int e,
                                     struct ta_side **epp,
                                     struct ta_side **peerp,
                                     const struct ta_packet *p, uint8_t fl,
                                     uint32_t end) {
  struct ta_side *ep = *epp, *peer = *peerp;
  bool syn = fl & TA_TCP_SYN, fin = fl & TA_TCP_FIN, rst = fl & TA_TCP_RST;
  bool ack = fl & TA_TCP_ACK;
  bool ctl = fl & (TA_TCP_SYN | TA_TCP_FIN | TA_TCP_RST);
  uint32_t len = p->payload_len;

  if (ep->pkts == 0)
    zeek_partial_status(c, e, fl);

  /* a RST's payload is not part of the stream */
  uint32_t past = rst ? end - len : end;
  uint32_t seg_len = past - p->seq;

  if (syn || ep->zeek_state == TA_ZE_INACTIVE)
    zeek_init_endpoint(ep, fl, p->seq, past);
  int32_t rel_signed = seq_diff(p->seq, ep->zeek_start);
  uint32_t rel = (uint32_t)rel_signed;

  zeek_history(c, ep, e, fl, rel, len);
  if (p->window == 0 && !rst && peer->zeek_state != TA_ZE_CLOSED &&
      ep->zeek_state != TA_ZE_RESET)
    hist_scaled(c, ep, e, REP_WIN0);

  if (fin) {
    if (ep->zeek_fins < UINT8_MAX)
      ep->zeek_fins++;
    ep->zeek_fin_rel = rel + seg_len;
  }

  uint32_t rel_ack = ack ? zeek_ack(peer, p, rst) : 0;

  zeek_last_seq(c, ep, e, past, fl, len);

  bool do_close = false;
  if (ctl || ep->zeek_state == TA_ZE_INACTIVE) {
    int e0 = e;
    do_close = zeek_state_machine(c, &e, ep, peer, p, fl);
    if (e != e0) {
      struct ta_side *t = ep;
      ep = peer;
      peer = t;
      *epp = ep;
      *peerp = peer;
    }
  }

  if (rel_ack)
    gap_ack(c, peer, ep, !e, rel_ack);
  if (len > 0 && !rst && rel_signed >= 0 && p->payload_caplen >= len)
    gap_data(ep, syn ? rel + 1 : rel, len);
  if (do_close)
    ep->zeek_did_close = true;
  /* Only a SYN, FIN or RST resets or closes a side; a packet without them
   * cannot end a connection that was not over before it. */
  if (ctl && !c->closed)
    zeek_check_closed(c, ep, peer, p->ts_ns);
  return e;
}

/* Zeek's size of one side's stream: sequence span without SYN and FIN. */
static uint32_t zeek_size(const struct ta_side *s, const struct ta_side *peer) {
  bool no_data_acked =
      s->zeek_acked == s->zeek_start || s->zeek_acked == s->zeek_start + 1;
  if (s->zeek_prev_state == TA_ZE_SYN_SENT && s->zeek_state == TA_ZE_RESET &&
      peer->zeek_state == TA_ZE_INACTIVE && !no_data_acked)
    return 0;
  uint32_t top =
      seq_diff(s->zeek_last, s->zeek_acked) > 0 ? s->zeek_last : s->zeek_acked;
  uint32_t size = top - s->zeek_start;
  if (size)
    size--;
  if (s->zeek_fins && size)
    size--;
  return size;
}

/* Zeek's RSTOS0 test on the history: an optional '^', 'S', then anything but
 * H, A, F, G, I, Q up to an 'R'. */
static bool history_syn_then_rst(const char *h) {
  if (*h == '^')
    h++;
  if (*h++ != 'S')
    return false;
  for (; *h; h++) {
    if (*h == 'R')
      return true;
    if (strchr("HAFGIQ", *h))
      return false;
  }
  return false;
}

static uint8_t zeek_conn_state(const struct ta_conn *c) {
  const struct ta_side *o = &c->side[ORIG], *r = &c->side[RESP];
  uint8_t os = o->zeek_state, rs = r->zeek_state;
  bool o_inactive = os == TA_ZE_INACTIVE || os == TA_ZE_PARTIAL;
  bool r_inactive = rs == TA_ZE_INACTIVE || rs == TA_ZE_PARTIAL;
  if (rs == TA_ZE_RESET) {
    if (os == TA_ZE_SYN_SENT || os == TA_ZE_SYN_ACK_SENT ||
        (os == TA_ZE_RESET && zeek_size(o, r) == 0 && zeek_size(r, o) == 0))
      return TA_CS_REJ;
    return o_inactive ? TA_CS_RSTRH : TA_CS_RSTR;
  }
  if (os == TA_ZE_RESET) {
    if (!r_inactive)
      return TA_CS_RSTO;
    return history_syn_then_rst(c->history) ? TA_CS_RSTOS0 : TA_CS_OTH;
  }
  if (rs == TA_ZE_CLOSED && os == TA_ZE_CLOSED)
    return TA_CS_SF;
  if (os == TA_ZE_CLOSED)
    return r_inactive ? TA_CS_SH : TA_CS_S2;
  if (rs == TA_ZE_CLOSED)
    return o_inactive ? TA_CS_SHR : TA_CS_S3;
  if (os == TA_ZE_SYN_SENT && rs == TA_ZE_INACTIVE)
    return TA_CS_S0;
  if (os == TA_ZE_ESTABLISHED && rs == TA_ZE_ESTABLISHED)
    return TA_CS_S1;
  return TA_CS_OTH;
}

/* ------------------------------------------------------------------------ */
/* The analyst's view */

static void record_syn_features(struct ta_side *s, const struct ta_packet *p) {
  struct ta_syn_features *f = &s->syn;
  f->seen = true;
  f->ttl = p->ttl;
  f->tos = p->tos;
  f->df = p->df;
  f->ip_id = p->ip_id;
  f->window = p->window;
  f->flags = p->flags;
  f->reserved = p->reserved;
  f->anomalies = p->anomalies;
  f->opt = p->opt;
}

static int64_t ooo_window(const struct ta_conn *c) {
  int64_t rtt = 0;
  if (c->established_ts && c->last_syn_ts && c->established_ts > c->last_syn_ts)
    rtt = c->established_ts - c->last_syn_ts;
  return rtt > OOO_WINDOW_NS ? rtt : OOO_WINDOW_NS;
}

/* A segment below next_seq: the repair of the open hole (out of order when
 * it came soon after the hole appeared), or a retransmission. */
static void seq_behind(const struct ta_conn *c, struct ta_side *s,
                       const struct ta_packet *p, uint32_t end) {
  if (s->hole && seq_diff(p->seq, s->hole_lo) >= 0 &&
      seq_diff(p->seq, s->hole_hi) < 0) {
    if (p->ts_ns - s->hole_ts <= ooo_window(c))
      s->out_of_order++;
    else
      s->retransmits++; /* the hole was a loss, this is its repair */
    if (p->seq == s->hole_lo && seq_diff(end, s->hole_hi) >= 0)
      s->hole = false;
    else if (p->seq == s->hole_lo)
      s->hole_lo = end;
    else
      s->hole_hi = p->seq; /* keep the lower part of a split hole */
  } else {
    s->retransmits++;
  }
  if (seq_diff(end, s->next_seq) > 0)
    s->next_seq = end;
}

/* Retransmissions, out-of-order segments and keep-alives of side s from
 * its sequence numbers alone: one hole is remembered per side. end is the
 * packet's seq + payload + SYN + FIN. */
static ALWAYS_INLINE void track_sequence(const struct ta_conn *c,
                                         struct ta_side *s,
                                         const struct ta_packet *p, uint8_t fl,
                                         uint32_t end) {
  uint32_t len = p->payload_len;
  bool syn = fl & TA_TCP_SYN, rst = fl & TA_TCP_RST;
  bool syn_fin = fl & (TA_TCP_SYN | TA_TCP_FIN);

  if (!s->seq_valid || (syn && p->seq != s->isn)) {
    s->seq_valid = true;
    s->isn = p->seq;
    s->next_seq = rst ? p->seq : end;
    s->hole = false;
    return;
  }
  if (rst)
    return;
  if (!syn_fin) {
    if (len <= 1 && p->seq == s->next_seq - 1) {
      s->keepalives++;
      return;
    }
    if (len == 0)
      return; /* a bare ACK occupies no sequence space */
  }

  int32_t ahead = seq_diff(p->seq, s->next_seq);
  if (ahead < 0) {
    seq_behind(c, s, p, end);
    return;
  }
  if (ahead > 0 && !s->hole) {
    s->hole = true;
    s->hole_lo = s->next_seq;
    s->hole_hi = p->seq;
    s->hole_ts = p->ts_ns;
  }
  s->next_seq = end;
}

/* Microseconds since the connection's first packet, ns after it, clamped
 * to 32 bits (0 before it): an unsigned division where it fits, which is
 * cheaper than a signed one. */
static uint32_t ladder_dt_us(int64_t ns) {
  if ((uint64_t)ns < (UINT32_MAX + 1ull) * 1000)
    return (uint32_t)((uint64_t)ns / 1000);
  return ns < 0 ? 0 : UINT32_MAX;
}

static ALWAYS_INLINE void add_ladder(struct ta_conn *c, int d,
                                     const struct ta_side *s,
                                     const struct ta_side *o,
                                     const struct ta_packet *p, uint8_t fl) {
  struct ta_ladder_pkt *l = &c->ladder[c->n_ladder++];
  l->dt_us = ladder_dt_us(p->ts_ns - c->first_ts);
  l->seq_rel = p->seq - s->isn;
  l->ack_rel = ((fl & TA_TCP_ACK) && o->seq_valid) ? p->ack - o->isn : 0;
  l->window = p->window;
  l->payload = p->payload_len > UINT16_MAX ? UINT16_MAX : (uint16_t)p->payload_len;
  l->flags = p->flags;
  l->dir = (uint8_t)d;
}

/* ------------------------------------------------------------------------ */
/* Latency (docs/latency.md): constant work per packet, no history searched */

/* One round trip of leg l (side d's segment, the peer's ACK); o is the
 * other leg. The connection's whole round trip is this sample plus the
 * other leg's latest. */
static ALWAYS_INLINE void lat_sample(struct ta_conn *c, int d,
                                     struct ta_lat_leg *l,
                                     const struct ta_lat_leg *o, int64_t ns,
                                     bool syn) {
  if (ns < 0)
    return; /* time went backwards in the capture: not a measurement */
  uint32_t us = ta_lat_us(ns);
  if (l->samples == 0 || us < l->min_us)
    l->min_us = us;
  if (l->samples == 0 || us > l->max_us)
    l->max_us = us;
  if (l->samples < UINT32_MAX)
    l->samples++;
  l->sum_us += us;
  l->last_us = us;
  if (o->samples) {
    /* what ta_lat_us gives for the sum in nanoseconds, without dividing */
    uint64_t sum = (uint64_t)us + o->last_us;
    ta_lat_small_add_us(&c->lat.rtt,
                        sum > TA_LAT_MAX_US ? TA_LAT_MAX_US : (uint32_t)sum);
  }
  if (!syn)
    return;
  if (d == ORIG && !(c->lat.flags & TA_LAT_HS_SYN)) {
    c->lat.hs_us = us;
    c->lat.flags |= TA_LAT_HS_SYN;
  } else if (d == RESP && (c->lat.flags & TA_LAT_HS_SYN) &&
             !(c->lat.flags & TA_LAT_HS_DONE)) {
    uint64_t sum = (uint64_t)c->lat.hs_us + us;
    c->lat.hs_us = sum > TA_LAT_MAX_US ? TA_LAT_MAX_US : (uint32_t)sum;
    c->lat.flags |= TA_LAT_HS_DONE;
  }
}

/* This packet's ACK (from side s, index d) ends the peer's timings. An ACK
 * that covers more than the segment it matches may have been sent for a
 * later one (a receiver that ACKs every second segment): no sample then.
 * At most one of the three marks gives the sample; it is taken last, at
 * one place, so that lat_sample() is inlined once (it changes nothing the
 * tests before it read). */
static ALWAYS_INLINE void latency_ack(struct ta_conn *c, int d,
                                      const struct ta_side *s,
                                      struct ta_lat_leg *mine,
                                      struct ta_lat_leg *theirs,
                                      const struct ta_packet *p) {
  int64_t ts = p->ts_ns;
  bool took = false, syn = false;
  int64_t sent = 0;
  if (theirs->newest_ts && seq_diff(p->ack, theirs->newest_end) >= 0) {
    if (p->ack == theirs->newest_end) {
      sent = theirs->newest_ts;
      syn = theirs->flags & TA_LEG_NEWEST_SYN;
      took = true;
    }
    theirs->newest_ts = theirs->timed_ts = 0;
  } else if (theirs->timed_ts && seq_diff(p->ack, theirs->timed_end) >= 0) {
    if (p->ack == theirs->timed_end) {
      sent = theirs->timed_ts;
      syn = theirs->flags & TA_LEG_TIMED_SYN;
      took = true;
    }
    theirs->timed_ts = 0;
  }
  if (p->opt.has_ts && (theirs->flags & TA_LEG_TSV_LIVE) &&
      (theirs->flags & TA_LEG_TS_SEEN) && p->opt.ts_ecr == theirs->tsv &&
      (!s->ack_valid || seq_diff(p->ack, s->last_ack) > 0)) {
    if (!took) {
      sent = theirs->tsv_ts;
      syn = theirs->flags & TA_LEG_TSV_SYN;
      took = true;
    }
    theirs->flags &= (uint8_t)~TA_LEG_TSV_LIVE;
  }
  if (took)
    lat_sample(c, !d, theirs, mine, ts - sent, syn);
}

/* Runs before the packet touches the sender's sequence and ACK fields, so
 * s->next_seq and s->last_ack are still those of the previous packets.
 * s sent the packet (index d) to peer; end is seq + payload + SYN + FIN. */
static ALWAYS_INLINE void latency_packet(struct ta_conn *c, int d,
                                         struct ta_side *s,
                                         struct ta_side *peer,
                                         const struct ta_packet *p, uint8_t fl,
                                         uint32_t end) {
  struct ta_lat_leg *mine = &s->lat, *theirs = &peer->lat;
  bool syn = fl & TA_TCP_SYN;
  int64_t ts = p->ts_ns;
  if (fl & TA_TCP_RST)
    return; /* neither a segment of the stream nor a meaningful ACK */
  if (p->opt.has_ts)
    mine->flags |= TA_LEG_TS_SEEN;
  if (fl & TA_TCP_ACK)
    latency_ack(c, d, s, mine, theirs, p);

  if (end == p->seq)
    return; /* occupies no sequence space */
  bool restart = !s->seq_valid || (syn && p->seq != s->isn);
  int32_t ahead = seq_diff(p->seq, s->next_seq);
  bool fresh = restart || ahead >= 0;

  if (!fresh) {
    /* Karn: a segment sent again before its ACK gives no sample */
    if (mine->timed_ts && seq_diff(p->seq, mine->timed_end) < 0)
      mine->timed_ts = 0;
    if (mine->newest_ts && seq_diff(p->seq, mine->newest_end) < 0)
      mine->newest_ts = 0;
  } else if (!(peer->ack_valid && seq_diff(peer->last_ack, end) >= 0)) {
    /* (a segment the peer has ACKed already was captured late: not timed) */
    uint8_t sf = syn ? TA_LEG_TIMED_SYN | TA_LEG_NEWEST_SYN : 0;
    mine->newest_ts = ts;
    mine->newest_end = end;
    mine->flags = (uint8_t)((mine->flags & ~TA_LEG_NEWEST_SYN) |
                            (sf & TA_LEG_NEWEST_SYN));
    if (!mine->timed_ts) {
      mine->timed_ts = ts;
      mine->timed_end = end;
      mine->flags = (uint8_t)((mine->flags & ~TA_LEG_TIMED_SYN) |
                              (sf & TA_LEG_TIMED_SYN));
    }
  }
  /* An echo names a TSval, not a segment: it is timed from the first
   * segment that carried it, so not when that one left a gap before it (the
   * peer echoes only segments that arrive in order), nor once a segment was
   * sent again with the same TSval (Karn again). */
  if (p->opt.has_ts) {
    if (!mine->tsv_ts || p->opt.ts_val != mine->tsv) {
      bool in_order = restart || ahead <= 0;
      mine->tsv = p->opt.ts_val;
      mine->tsv_ts = ts;
      mine->flags =
          (uint8_t)((mine->flags & ~(TA_LEG_TSV_SYN | TA_LEG_TSV_LIVE)) |
                    (syn ? TA_LEG_TSV_SYN : 0) |
                    (in_order ? TA_LEG_TSV_LIVE : 0));
    } else if (!fresh) {
      mine->flags &= (uint8_t)~TA_LEG_TSV_LIVE;
    }
  }

  /* exchanges: the originator's newest payload, then the first answer */
  if (p->payload_len == 0 ||
      !(restart || seq_diff(end, s->next_seq) > 0))
    return;
  if (d == ORIG) {
    c->lat.req_ts = ts;
    c->lat.flags |= TA_LAT_REQ_OPEN;
  } else if (c->lat.flags & TA_LAT_REQ_OPEN) {
    if (ts >= c->lat.req_ts)
      ta_lat_small_add(&c->lat.response, ts - c->lat.req_ts);
    c->lat.flags &= (uint8_t)~TA_LAT_REQ_OPEN;
  }
}

/* The first FIN or RST, with what each side had sent before it (so before
 * this packet is counted); an RST answering the SYN is a refusal
 * (answered_by), not a close. */
static void note_close(struct ta_conn *c, int d, const struct ta_packet *p,
                       bool rst) {
  bool refusal = rst && d == RESP && c->syn_count && !c->synack_ts &&
                 c->answered_by != TA_ANSWER_SYNACK;
  if (refusal || c->close_how != TA_CLOSE_NONE)
    return;
  c->close_initiator = (uint8_t)(1 + d);
  c->close_how = rst ? TA_CLOSE_RST : TA_CLOSE_FIN;
  c->close_ts = p->ts_ns;
  c->payload_before_close[ORIG] = c->side[ORIG].payload_bytes;
  c->payload_before_close[RESP] = c->side[RESP].payload_bytes;
}

/* A SYN from the originator: one more attempt. */
static void note_syn(struct ta_conn *c, const struct ta_packet *p) {
  int64_t ts = p->ts_ns;
  c->syn_seen = true;
  if (c->syn_count == 0) {
    c->first_syn_ts = ts;
  } else if (c->n_syn_intervals < TA_MAX_SYN_INTERVALS) {
    c->syn_intervals_ns[c->n_syn_intervals++] = ts - c->last_syn_ts;
  }
  c->syn_count++;
  c->last_syn_ts = ts;
  c->syn_isn = p->seq;
  /* a retry after a refusal keeps the attempt alive: restart the clock */
  if (c->closed)
    c->closed_ts = ts;
}

static void note_synack(struct ta_conn *c, const struct ta_packet *p) {
  if (!c->synack_ts)
    c->synack_ts = p->ts_ns;
  c->synack_count++;
  c->answered_by = TA_ANSWER_SYNACK;
  struct ta_side *o = &c->side[ORIG], *r = &c->side[RESP];
  if (o->syn.seen && r->syn.seen && o->syn.opt.has_wscale &&
      r->syn.opt.has_wscale) {
    o->wscale = o->syn.opt.wscale;
    r->wscale = r->syn.opt.wscale;
  }
}

/* What a SYN, FIN or RST tells beyond the counters. Every step here is
 * independent of this packet's counting, which comes after. */
static ALWAYS_INLINE void analyst_ctl(struct ta_conn *c, int d,
                                      struct ta_side *s,
                                      const struct ta_packet *p, uint8_t fl) {
  bool syn = fl & TA_TCP_SYN, ack = fl & TA_TCP_ACK, fin = fl & TA_TCP_FIN;
  bool rst = fl & TA_TCP_RST;
  if (fin || rst)
    note_close(c, d, p, rst);
  if (fin)
    s->fin_seen = true;
  if (rst)
    s->rst_seen = true;
  if (syn && !s->syn.seen)
    record_syn_features(s, p);
  if (syn && !ack && d == ORIG)
    note_syn(c, p);
  if (syn && ack)
    note_synack(c, p);
  if (rst && d == RESP && c->syn_count && c->answered_by == TA_ANSWER_NONE)
    c->answered_by = TA_ANSWER_RST;
}

/* The originator's ACK of the SYN/ACK completes the handshake. */
static void note_established(struct ta_conn *c, int64_t ts) {
  c->established_ts = ts;
  if (c->close_how != TA_CLOSE_NONE && c->close_ts < ts) {
    /* that close belonged to the failed start, not to this connection */
    c->close_initiator = 0;
    c->close_how = TA_CLOSE_NONE;
    c->close_ts = 0;
    c->payload_before_close[ORIG] = c->payload_before_close[RESP] = 0;
  }
}

static ALWAYS_INLINE void analyst_packet(struct ta_conn *c, int d,
                                         struct ta_side *s, struct ta_side *o,
                                         const struct ta_packet *p, uint8_t fl,
                                         uint32_t end) {
  uint8_t ctl = fl & (TA_TCP_SYN | TA_TCP_FIN | TA_TCP_RST);

  latency_packet(c, d, s, o, p, fl, end);
  if (ctl)
    analyst_ctl(c, d, s, p, fl);

  s->pkts++;
  s->ip_bytes += p->ip_len;
  s->payload_bytes += p->payload_len;
  if (p->payload_len && !s->first_payload_ts)
    s->first_payload_ts = p->ts_ns;
  if (fl & TA_TCP_ACK) {
    s->last_ack = p->ack;
    s->ack_valid = true;
  }
  if (p->window == 0 && !(fl & TA_TCP_RST))
    s->zero_windows++;
  if (!c->established_ts && d == ORIG && !ctl && (fl & TA_TCP_ACK) &&
      !s->fin_seen && c->syn_seen && c->synack_ts)
    note_established(c, p->ts_ns);

  track_sequence(c, s, p, fl, end);
  if (c->n_ladder < TA_LADDER_PKTS)
    add_ladder(c, d, s, o, p, fl);
  else
    c->ladder_more++;
}

/* ------------------------------------------------------------------------ */
/* Public entry points */

/* Zeroes a whole record through the C library's memset, which clears it
 * with wide stores: with the size known, the compiler inlines a string
 * instruction instead, which takes one step per 8 bytes and starts slowly.
 * The empty asm hides the size from it (it emits no code). */
static void zero_record(struct ta_conn *c) {
  size_t n = sizeof *c;
  __asm__("" : "+r"(n));
  memset(c, 0, n);
}

void ta_conn_init(struct ta_conn *c, uint64_t id, const struct ta_packet *p) {
  zero_record(c);
  c->id = id;
  c->family = p->family == 6 ? 6 : 4;
  bool syn = p->flags & TA_TCP_SYN, ack = p->flags & TA_TCP_ACK;
  bool flip = false;
  if (syn && ack)
    c->roles_pending = true; /* decided by the next packet */
  else if (!syn)
    flip = ports_say_flip(p->sport, p->dport, false);
  c->roles_guessed = !(syn && !ack);

  struct ta_side *o = &c->side[ORIG], *r = &c->side[RESP];
  copy_addr(c, o->ip, flip ? p->dst : p->src);
  o->port = flip ? p->dport : p->sport;
  copy_addr(c, r->ip, flip ? p->src : p->dst);
  r->port = flip ? p->sport : p->dport;
  for (int d = 0; d < 2; d++) {
    struct ta_side *s = &c->side[d];
    s->zeek_state = s->zeek_prev_state = TA_ZE_INACTIVE;
    s->gap_contig_rel = s->gap_trim_rel = 1;
  }
  c->first_ts = c->last_ts = p->ts_ns;
  c->history[0] = '\0';
  if (flip) {
    hist_add(c, '^');
    c->history_flipped = true;
  }
}

/* The flags the update tests: the others are only recorded. */
#define UPDATE_FLAGS (TA_TCP_SYN | TA_TCP_FIN | TA_TCP_RST | TA_TCP_ACK)

/* What every packet leaves on the record: its anomalies and its time. */
static ALWAYS_INLINE void note_packet(struct ta_conn *c,
                                      const struct ta_packet *p) {
  c->anomalies |= p->anomalies;
  if (p->ts_ns > c->last_ts)
    c->last_ts = p->ts_ns;
  if (p->ts_ns < c->first_ts)
    c->first_ts = p->ts_ns;
}

/* The update once the sender, side d, is known. Only a SYN can flip the
 * roles on the way (zeek_packet), so without one d holds throughout. */
static ALWAYS_INLINE enum ta_dir update_from(struct ta_conn *restrict c,
                                             const struct ta_packet *restrict p,
                                             uint8_t fl, int d) {
  struct ta_side *s = &c->side[d], *o = &c->side[!d];
  uint32_t end = p->seq + p->payload_len + ((fl & TA_TCP_SYN) ? 1 : 0) +
                 ((fl & TA_TCP_FIN) ? 1 : 0);
  d = zeek_packet(c, d, &s, &o, p, fl, end);
  analyst_packet(c, d, s, o, p, fl, end);
  note_packet(c, p);
  return (enum ta_dir)d;
}

/* The update, for a packet whose SYN, FIN, RST and ACK flags are those of
 * fl (its other flags are not looked at). */
static ALWAYS_INLINE enum ta_dir update(struct ta_conn *restrict c,
                                        const struct ta_packet *restrict p,
                                        uint8_t fl) {
  if (p->checksum_bad) {
    /* A segment that failed checksum verification may be corrupt anywhere:
     * as in Zeek, it only marks its side ('C'/'c' on a log scale) and is
     * otherwise ignored. Arriving after a first SYN/ACK, it takes the place
     * of the packet that would have settled the roles, so they stay. */
    int bad = direction(c, p);
    hist_scaled(c, &c->side[bad], bad, REP_CHECKSUM);
    if (c->roles_pending && c->side[ORIG].pkts + c->side[RESP].pkts > 0)
      c->roles_pending = false;
    return (enum ta_dir)bad;
  }
  if (c->roles_pending && c->side[ORIG].pkts + c->side[RESP].pkts > 0)
    resolve_roles(c, fl);
  return update_from(c, p, fl, direction(c, p));
}

/* The same, compiled once for each direction: with the sender's side at a
 * constant place, its fields are reached without computing their address
 * (a variant that cannot flip the roles, see update_from). */
static ALWAYS_INLINE enum ta_dir update_by_dir(struct ta_conn *restrict c,
                                               const struct ta_packet *restrict p,
                                               uint8_t fl) {
  if (p->checksum_bad || c->roles_pending)
    return ta__conn_update_general(c, p);
  if (direction(c, p) == ORIG)
    return update_from(c, p, fl, ORIG);
  return update_from(c, p, fl, RESP);
}

/* ------------------------------------------------------------------------ */
/* The first SYN */

/* Nearly every record begins with the originator's SYN (an attempt is
 * replayed from it). On a record as ta_conn_init left it, a SYN without
 * payload or zero window, which would add history letters, from the side
 * init made the originator comes down to first_syn() below: what update()
 * would do, with none of its tests of a state that is known (tests/
 * test_conn.c compares it with the general update on real captures). */

/* True when c is as ta_conn_init left it: no packet counted, nothing in
 * the history (a packet with a bad checksum adds its letter; a flip at
 * init adds '^'), no roles waiting. */
static bool just_initialized(const struct ta_conn *c) {
  return c->side[ORIG].pkts == 0 && c->side[RESP].pkts == 0 &&
         c->history_len == 0 && !c->roles_pending;
}

static bool first_syn_applies(const struct ta_conn *c,
                              const struct ta_packet *p) {
  return !p->checksum_bad && p->payload_len == 0 && p->window != 0 &&
         just_initialized(c) && direction(c, p) == ORIG;
}

/* A SYN occupying only its own sequence number, on a fresh record. */
static void first_syn(struct ta_conn *c, const struct ta_packet *p) {
  struct ta_side *s = &c->side[ORIG], *o = &c->side[RESP];
  uint32_t end = p->seq + 1;
  /* zeek_packet: the side starts at the SYN and has sent it */
  zreinit(s, p->seq, end);
  s->hist_seen |= HB_SYN;
  hist_add(c, 'S');
  zset(s, TA_ZE_SYN_SENT);
  /* analyst_packet */
  latency_packet(c, ORIG, s, o, p, TA_TCP_SYN, end);
  record_syn_features(s, p);
  note_syn(c, p);
  s->pkts++;
  s->ip_bytes += p->ip_len;
  s->seq_valid = true;
  s->isn = p->seq;
  s->next_seq = end;
  add_ladder(c, ORIG, s, o, p, TA_TCP_SYN);
  note_packet(c, p);
}

/* ------------------------------------------------------------------------ */
/* A retried SYN */

/* An attempt's SYN sent again: the originator's SYN with the ISN of the
 * one before, nothing else sent by it, no answer but RSTs. Without payload
 * or zero window it comes down to retry_syn() below: what update() would
 * do, with none of its tests of a state that is known (tests/test_conn.c
 * compares it with the general update on real captures). */
static bool retry_syn_applies(const struct ta_conn *c,
                              const struct ta_packet *p) {
  const struct ta_side *s = &c->side[ORIG], *r = &c->side[RESP];
  uint32_t end = p->seq + 1;
  return !p->checksum_bad && p->payload_len == 0 && p->window != 0 &&
         !c->roles_pending && !c->synack_ts && s->seq_valid &&
         p->seq == s->isn && s->next_seq == end && !s->hole &&
         s->zeek_state == TA_ZE_SYN_SENT && p->seq == s->zeek_start &&
         s->zeek_last == end && s->hist_seen == HB_SYN &&
         s->hist_last_syn == 0 && s->syn.seen &&
         (r->zeek_state == TA_ZE_INACTIVE || r->zeek_state == TA_ZE_RESET) &&
         direction(c, p) == ORIG;
}

static void retry_syn(struct ta_conn *c, const struct ta_packet *p) {
  struct ta_side *s = &c->side[ORIG], *o = &c->side[RESP];
  uint32_t end = p->seq + 1;
  /* zeek_packet: a SYN repeated at its place adds no letter, moves no
   * sequence number and no state; it can close nothing that was open */
  if (!c->closed)
    zeek_check_closed(c, s, o, p->ts_ns);
  /* analyst_packet */
  latency_packet(c, ORIG, s, o, p, TA_TCP_SYN, end);
  note_syn(c, p);
  s->pkts++;
  s->ip_bytes += p->ip_len;
  s->retransmits++; /* behind next_seq, with no hole open */
  if (c->n_ladder < TA_LADDER_PKTS)
    add_ladder(c, ORIG, s, o, p, TA_TCP_SYN);
  else
    c->ladder_more++;
  note_packet(c, p);
}

/* ------------------------------------------------------------------------ */
/* The refusal */

/* Most short records of a scan are an attempt refused: the responder's
 * RST/ACK to the originator's SYN, the first packet of its side. On such a
 * record (SYNs only so far, neither answered nor closed) an RST/ACK without
 * payload from the responder comes down to refusal() below: what update()
 * would do, with none of its tests of a state that is known (tests/
 * test_conn.c compares it with the general update on real captures). */
static bool refusal_applies(const struct ta_conn *c,
                            const struct ta_packet *p) {
  const struct ta_side *o = &c->side[ORIG], *r = &c->side[RESP];
  return !p->checksum_bad && p->payload_len == 0 && !c->roles_pending &&
         !c->closed && !c->zeek_partial && c->syn_count && !c->synack_ts &&
         c->answered_by == TA_ANSWER_NONE &&
         c->n_ladder < TA_LADDER_PKTS && o->zeek_state == TA_ZE_SYN_SENT &&
         r->pkts == 0 && r->zeek_state == TA_ZE_INACTIVE &&
         r->hist_seen == 0 && !r->seq_valid && direction(c, p) == RESP;
}

/* The responder's first packet, an RST/ACK occupying no sequence space. */
static void refusal(struct ta_conn *c, const struct ta_packet *p) {
  struct ta_side *s = &c->side[RESP], *o = &c->side[ORIG];
  /* zeek_packet: a side's first packet without SYN makes it partial; it
   * starts as if a SYN had come before it, so the RST is at 1 */
  c->zeek_partial = true;
  zreinit(s, p->seq - 1, p->seq);
  s->hist_seen |= HB_RST;
  hist_add(c, 'r');
  s->hist_last_rst = 1;
  uint32_t rel_ack = zeek_ack(o, p, true);
  zset(s, TA_ZE_RESET);
  if (rel_ack)
    gap_ack(c, o, s, ORIG, rel_ack);
  s->zeek_did_close = true;
  c->closed = true;
  c->closed_ts = p->ts_ns;
  /* analyst_packet: no latency for an RST; a refusal, not a close */
  s->rst_seen = true;
  c->answered_by = TA_ANSWER_RST;
  s->pkts++;
  s->ip_bytes += p->ip_len;
  s->last_ack = p->ack;
  s->ack_valid = true;
  s->seq_valid = true;
  s->isn = p->seq;
  s->next_seq = p->seq;
  s->hole = false;
  add_ladder(c, RESP, s, o, p, TA_TCP_RST | TA_TCP_ACK);
  note_packet(c, p);
}

/* ------------------------------------------------------------------------ */
/* A record started by a SYN */

/* Nearly every record starts with the originator's SYN: every attempt the
 * flow table holds is replayed from one. ta_conn_start() does for such a
 * SYN (without payload or zero window, which would add history letters)
 * what ta_conn_init and then first_syn() would, in one step: the init's
 * tests of the flags, and the update's dispatch and tests of a state that
 * the init has just set, are left out (tests/test_conn.c compares it with
 * init and the general update on real captures). */
static bool start_syn_applies(const struct ta_packet *p) {
  return (p->flags & UPDATE_FLAGS) == TA_TCP_SYN && !p->checksum_bad &&
         p->payload_len == 0 && p->window != 0;
}

/* The originator's latency leg after its first SYN (latency_packet on a
 * side that has sent nothing, to a peer that has acknowledged nothing). */
static void start_syn_latency(struct ta_lat_leg *l, const struct ta_packet *p,
                              uint32_t end) {
  int64_t ts = p->ts_ns;
  l->newest_ts = l->timed_ts = ts;
  l->newest_end = l->timed_end = end;
  uint8_t flags = TA_LEG_TIMED_SYN | TA_LEG_NEWEST_SYN;
  if (p->opt.has_ts) {
    l->tsv = p->opt.ts_val;
    l->tsv_ts = ts;
    flags |= TA_LEG_TS_SEEN | TA_LEG_TSV_SYN | TA_LEG_TSV_LIVE;
  }
  l->flags = flags;
}

static void start_syn(struct ta_conn *c, uint64_t id,
                      const struct ta_packet *p) {
  zero_record(c);
  int64_t ts = p->ts_ns;
  uint32_t end = p->seq + 1;
  /* ta_conn_init: a SYN without ACK makes its sender the originator */
  c->id = id;
  c->family = p->family == 6 ? 6 : 4;
  struct ta_side *s = &c->side[ORIG], *o = &c->side[RESP];
  copy_addr(c, s->ip, p->src);
  s->port = p->sport;
  copy_addr(c, o->ip, p->dst);
  o->port = p->dport;
  s->gap_contig_rel = s->gap_trim_rel = 1;
  o->gap_contig_rel = o->gap_trim_rel = 1;
  c->first_ts = c->last_ts = ts;
  /* zeek_packet: the side starts at the SYN and has sent it */
  zreinit(s, p->seq, end);
  s->hist_seen = HB_SYN;
  c->history[0] = 'S';
  c->history_len = 1;
  s->zeek_state = TA_ZE_SYN_SENT;
  /* analyst_packet */
  start_syn_latency(&s->lat, p, end);
  record_syn_features(s, p);
  c->syn_seen = true;
  c->first_syn_ts = c->last_syn_ts = ts;
  c->syn_count = 1;
  c->syn_isn = p->seq;
  s->pkts = 1;
  s->ip_bytes = p->ip_len;
  s->seq_valid = true;
  s->isn = p->seq;
  s->next_seq = end;
  /* its ladder entry: at the start, at the ISN, no ACK */
  struct ta_ladder_pkt *l = &c->ladder[0];
  l->window = p->window;
  l->flags = p->flags;
  c->n_ladder = 1;
  c->anomalies = p->anomalies;
}

enum ta_dir ta_conn_start(struct ta_conn *c, uint64_t id,
                          const struct ta_packet *p) {
  if (start_syn_applies(p)) {
    start_syn(c, id, p);
    return TA_DIR_ORIG;
  }
  ta_conn_init(c, id, p);
  return ta_conn_update(c, p);
}

enum ta_dir ta__conn_update_general(struct ta_conn *c,
                                    const struct ta_packet *p) {
  return update(c, p, p->flags & UPDATE_FLAGS);
}

/* Most packets have one of a few combinations of these flags; with the
 * combination known, the compiler drops every test on them, and each
 * variant is the general update with fewer branches (tests/test_conn.c
 * compares them with the general one on real captures). Each is a
 * function of its own, which ta_conn_update() jumps to: the dispatch then
 * saves no registers, and a short path saves only those it uses. */
#define NOINLINE __attribute__((noinline))
enum { F_A = TA_TCP_FIN | TA_TCP_ACK, R_A = TA_TCP_RST | TA_TCP_ACK,
       S_A = TA_TCP_SYN | TA_TCP_ACK };

static NOINLINE enum ta_dir update_ack(struct ta_conn *c,
                                       const struct ta_packet *p) {
  return update_by_dir(c, p, TA_TCP_ACK);
}

static NOINLINE enum ta_dir update_syn(struct ta_conn *c,
                                       const struct ta_packet *p) {
  if (first_syn_applies(c, p)) {
    first_syn(c, p);
    return TA_DIR_ORIG;
  }
  if (retry_syn_applies(c, p)) {
    retry_syn(c, p);
    return TA_DIR_ORIG;
  }
  return update(c, p, TA_TCP_SYN);
}

static NOINLINE enum ta_dir update_syn_ack(struct ta_conn *c,
                                           const struct ta_packet *p) {
  return update_by_dir(c, p, S_A);
}

static NOINLINE enum ta_dir update_fin_ack(struct ta_conn *c,
                                           const struct ta_packet *p) {
  return update_by_dir(c, p, F_A);
}

static NOINLINE enum ta_dir update_rst_ack(struct ta_conn *c,
                                           const struct ta_packet *p) {
  if (refusal_applies(c, p)) {
    refusal(c, p);
    return TA_DIR_RESP;
  }
  return update(c, p, R_A);
}

static NOINLINE enum ta_dir update_rst(struct ta_conn *c,
                                       const struct ta_packet *p) {
  return update(c, p, TA_TCP_RST);
}

enum ta_dir ta_conn_update(struct ta_conn *c, const struct ta_packet *p) {
  switch (p->flags & UPDATE_FLAGS) {
  case TA_TCP_ACK:
    return update_ack(c, p);
  case TA_TCP_SYN:
    return update_syn(c, p);
  case S_A:
    return update_syn_ack(c, p);
  case F_A:
    return update_fin_ack(c, p);
  case R_A:
    return update_rst_ack(c, p);
  case TA_TCP_RST:
    return update_rst(c, p);
  default:
    return ta__conn_update_general(c, p);
  }
}

bool ta_conn_is_new_attempt(const struct ta_conn *c, const struct ta_packet *p) {
  bool syn = p->flags & TA_TCP_SYN, ack = p->flags & TA_TCP_ACK;
  /* a SYN repeating the attempt's ISN is a retry, even after a refusal
   * (the direction last: most packets are no SYN) */
  if (syn && !ack && c->syn_count && p->seq == c->syn_isn &&
      direction(c, p) == ORIG)
    return false;
  if (c->closed && p->ts_ns - c->closed_ts > TA_CONN_CLOSE_DELAY_NS)
    return true;
  if (!syn)
    return false;
  /* Zeek's reuse test: only SYNs, and SYN/ACKs of half connections */
  const struct ta_side *o = &c->side[ORIG], *r = &c->side[RESP];
  const struct ta_side *opener = o;
  if (ack) {
    if (o->zeek_state != TA_ZE_INACTIVE)
      return false;
    opener = r;
  }
  if (o->zeek_did_close || r->zeek_did_close)
    return true; /* a SYN with a new ISN after the close */
  if (p->seq == opener->zeek_start)
    return false;
  /* the SYN of a SYN/ACK seen first */
  if (!ack && opener->zeek_state == TA_ZE_SYN_ACK_SENT &&
      r->zeek_state == TA_ZE_INACTIVE && p->seq == r->zeek_start)
    return false;
  return true;
}

/* The analyst's scenario of a finished record. */
static void classify(struct ta_conn *c) {
  const struct ta_side *o = &c->side[ORIG], *r = &c->side[RESP];
  bool fin_any = o->fin_seen || r->fin_seen, rst_any = o->rst_seen || r->rst_seen;
  c->other_reason = NULL;
  if (o->pkts + r->pkts == 0) {
    /* every segment failed checksum verification: nothing to tell */
    c->scenario = TA_SC_OTHER;
    c->other_reason = "only segments with bad checksums";
  } else if (!c->syn_seen) {
    c->scenario = TA_SC_MIDSTREAM;
  } else if (c->answered_by == TA_ANSWER_RST) {
    c->scenario = TA_SC_REFUSED;
  } else if (r->pkts == 0) {
    c->scenario = TA_SC_UNANSWERED;
  } else if (!c->established_ts) {
    if (c->synack_ts && !fin_any && !rst_any && o->payload_bytes == 0 &&
        r->payload_bytes == 0) {
      c->scenario = TA_SC_HANDSHAKE_INCOMPLETE;
    } else {
      c->scenario = TA_SC_OTHER;
      if (!c->synack_ts)
        c->other_reason = "answered without a SYN/ACK";
      else if (o->fin_seen)
        c->other_reason = "originator closed before the handshake completed";
      else if (o->rst_seen)
        c->other_reason = "originator reset the handshake";
      else if (r->rst_seen)
        c->other_reason = "responder reset after its SYN/ACK";
      else if (r->fin_seen)
        c->other_reason = "responder closed before the handshake completed";
      else
        c->other_reason = "data before the handshake completed";
    }
  } else if (c->close_initiator == 1 + RESP &&
             c->payload_before_close[RESP] == 0) {
    c->scenario = TA_SC_ACCEPTED_THEN_CLOSED;
  } else if (o->fin_seen && r->fin_seen) {
    c->scenario = TA_SC_COMPLETED;
  } else if (rst_any) {
    c->scenario = TA_SC_RESET;
  } else if (fin_any) {
    c->scenario = TA_SC_HALF_CLOSED;
  } else {
    c->scenario = TA_SC_OPEN;
  }
}

void ta_conn_finalize(struct ta_conn *c, enum ta_end_reason why) {
  ta_conn_finalize_memo(c, why, NULL);
}

void ta_conn_finalize_memo(struct ta_conn *c, enum ta_end_reason why,
                           struct ta_fp_memo *memo) {
  c->end_reason = (uint8_t)why;
  if (c->roles_pending) {
    /* only SYN/ACKs were seen: fall back on the ports, as Zeek does */
    if (ports_say_flip(c->side[ORIG].port, c->side[RESP].port, true))
      flip_from_start(c);
    c->roles_pending = false;
  }
  c->conn_state = zeek_conn_state(c);
  classify(c);
  for (int d = 0; d < 2; d++)
    ta_fp_syn_match_memo(&c->side[d].syn, c->family, memo);
}
