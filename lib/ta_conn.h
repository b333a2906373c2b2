/* tcpaudit - tracker: the public connection record and its per-packet update.
 * struct ta_conn is what reporters read and what schemas/report.schema.json
 * describes. The tracker owns its update; the flow table only stores it. */
#ifndef TA_CONN_H
#define TA_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "ta_latency.h"
#include "ta_limits.h"
#include "ta_packet.h"

enum ta_dir { TA_DIR_ORIG = 0, TA_DIR_RESP = 1 };

#define TA_SCENARIO_MAP(X)                                                     \
  X(COMPLETED, "completed")                                                    \
  X(REFUSED, "refused")                                                        \
  X(UNANSWERED, "unanswered")                                                  \
  X(ACCEPTED_THEN_CLOSED, "accepted_then_closed")                              \
  X(RESET, "reset")                                                            \
  X(HALF_CLOSED, "half_closed")                                                \
  X(OPEN, "open")                                                              \
  X(HANDSHAKE_INCOMPLETE, "handshake_incomplete")                              \
  X(MIDSTREAM, "midstream")                                                    \
  X(OTHER, "other")

enum ta_scenario {
#define TA__SC_ENUM(name, str) TA_SC_##name,
  TA_SCENARIO_MAP(TA__SC_ENUM)
#undef TA__SC_ENUM
      TA_SC_COUNT
};

/* Zeek's conn_state codes, in Zeek's spelling. */
#define TA_CONN_STATE_MAP(X)                                                   \
  X(S0) X(S1) X(SF) X(REJ) X(S2) X(S3) X(RSTO) X(RSTR) X(RSTOS0) X(RSTRH)      \
  X(SH) X(SHR) X(OTH)

enum ta_conn_state {
#define TA__CS_ENUM(name) TA_CS_##name,
  TA_CONN_STATE_MAP(TA__CS_ENUM)
#undef TA__CS_ENUM
      TA_CS_COUNT
};

/* Why the record was handed on. */
#define TA_END_MAP(X)                                                          \
  X(CLOSED, "closed")           /* closed and the linger time passed */       \
  X(IDLE, "idle_timeout")       /* nothing seen for the idle timeout */       \
  X(EVICTED, "evicted")         /* table full, oldest idle made room */       \
  X(REUSED, "tuple_reused")     /* a new SYN started a new connection */      \
  X(CAPTURE_END, "capture_end") /* still held when the capture ended */

enum ta_end_reason {
#define TA__END_ENUM(name, str) TA_END_##name,
  TA_END_MAP(TA__END_ENUM)
#undef TA__END_ENUM
      TA_END_COUNT
};

enum ta_answer { TA_ANSWER_NONE = 0, TA_ANSWER_SYNACK, TA_ANSWER_RST };
enum ta_close_how { TA_CLOSE_NONE = 0, TA_CLOSE_FIN, TA_CLOSE_RST };

/* What a SYN or SYN/ACK showed of its sender's stack (for fingerprints). */
struct ta_syn_features {
  bool seen;
  uint8_t ttl;
  uint8_t tos;
  bool df;
  uint16_t ip_id;
  uint16_t window;
  uint8_t flags;
  uint8_t reserved;
  /* its signature match, set once by ta_conn_finalize so that the host
   * table and the report do not match it twice: 0 not matched yet, 1 no
   * entry matched, else 2 + the entry (lib/fingerprint.c) */
  int16_t fp_match;
  uint32_t anomalies;
  struct ta_tcp_options opt;
};

/* Zeek-compatible endpoint state, needed for conn_state. */
enum ta_zeek_endpoint {
  TA_ZE_INACTIVE = 0,
  TA_ZE_SYN_SENT,
  TA_ZE_SYN_ACK_SENT,
  TA_ZE_PARTIAL,
  TA_ZE_ESTABLISHED,
  TA_ZE_CLOSED,
  TA_ZE_RESET,
};

/* One direction of a connection. Fields are grouped by how often they are
 * touched: the tuple and what every packet reads or writes come first, so
 * a packet touches few cache lines; padding is closed by ordering. */
struct ta_side {
  uint8_t ip[16];
  uint16_t port;
  uint8_t zeek_state;      /* enum ta_zeek_endpoint */
  uint8_t zeek_prev_state; /* enum ta_zeek_endpoint before the last change */
  uint8_t hist_seen;       /* history letters already recorded once */
  bool seq_valid;          /* isn and next_seq are set */
  bool ack_valid;          /* last_ack is set */
  bool hole;               /* the analyst's open hole, see hole_lo */
  uint64_t pkts;
  uint64_t ip_bytes;        /* sum of IP total lengths */
  uint64_t payload_bytes;   /* sum of TCP payload lengths (retransmits too) */
  int64_t first_payload_ts; /* 0 when no payload */

  /* sequence tracking (relative to isn once seq_valid) */
  uint32_t isn;       /* first sequence number seen from this side */
  uint32_t next_seq;  /* highest seq + len (+SYN/FIN) seen */
  uint32_t last_ack;

  /* Zeek bookkeeping (lib/conn.c says how each is used). Sequence numbers
   * are absolute; the *_rel ones are relative to zeek_start. */
  uint32_t zeek_start;      /* Zeek's start sequence (ISN, or first seq - 1) */
  uint32_t zeek_last;       /* one past the highest sequence sent */
  uint32_t zeek_acked;      /* highest ack the peer sent for this side */
  /* content gaps as Zeek's reassembler sees them: data up to gap_contig
   * is accounted for, [gap_above_lo, gap_above_hi) was seen beyond a hole */
  uint32_t gap_contig_rel, gap_trim_rel;
  bool gap_above;
  bool fin_seen, rst_seen;
  bool zeek_did_close;      /* a FIN or RST of this side closed it */
  uint8_t zeek_fins;        /* FINs seen (stops at 255) */
  uint8_t wscale;     /* from this side's SYN, if both sides negotiated it */
  /* the repeating letters C, G, T, W are recorded at their 1st, 10th,
   * 100th, ... event: the step reached, 0 before the first */
  uint8_t hist_level[4];
  uint32_t gap_above_lo, gap_above_hi;
  uint32_t zeek_fin_rel;    /* one past this side's FIN */
  /* the analyst's view: one open hole in this side's sequence space */
  uint32_t hole_lo, hole_hi;

  uint32_t retransmits;
  uint32_t out_of_order;
  uint32_t zero_windows;
  uint32_t keepalives;

  uint32_t hist_last_syn, hist_last_fin, hist_last_rst; /* relative */
  uint32_t hist_count[4];   /* C, G, T, W events so far */

  struct ta_syn_features syn; /* this side's SYN or SYN/ACK */
  int64_t hole_ts;          /* when the hole appeared */

  /* round trips of this side's segments to the peer and back, as seen at
   * the capture point (docs/latency.md) */
  struct ta_lat_leg lat;
};

/* One packet of the ladder diagram, relative to the connection. */
struct ta_ladder_pkt {
  uint32_t dt_us;   /* microseconds since the connection's first packet */
  uint32_t seq_rel; /* seq relative to the sender's ISN */
  uint32_t ack_rel; /* ack relative to the peer's ISN (0 when no ACK flag) */
  uint16_t window;
  uint16_t payload;
  uint8_t flags;
  uint8_t dir;      /* enum ta_dir */
};

/* Ordered like struct ta_side: what every packet reads first, the tuple
 * (in side[]) early so that a packed record's tuple is found in its first
 * words (lib/flow.c), the bulky and rarely touched arrays last. */
struct ta_conn {
  uint64_t id;       /* number of the frame that started it: unique */
  uint8_t family;    /* 4 or 6 */
  bool syn_seen;     /* originator chosen from a SYN without ACK */
  bool roles_guessed; /* no SYN: orig is the first sender (not a guess) */
  /* role and lifetime bookkeeping (lib/conn.c) */
  bool roles_pending;   /* began with a SYN/ACK: roles wait for the next packet */
  bool zeek_partial;    /* Zeek's is_partial: a side began without a SYN */
  bool closed;          /* over as far as TCP goes: both FINs, an RST, or a
                           FIN from a side whose peer has sent nothing */
  uint8_t answered_by;  /* enum ta_answer */
  uint8_t close_how;    /* enum ta_close_how */
  struct ta_side side[2]; /* indexed by enum ta_dir */

  int64_t first_ts, last_ts;
  int64_t closed_ts;    /* when closed became true, or a SYN retried since */

  /* handshake */
  int64_t synack_ts;   /* first SYN/ACK, 0 if none */
  int64_t established_ts; /* originator's ACK of the SYN/ACK, 0 if none */

  /* SYN attempts by the originator */
  int64_t first_syn_ts, last_syn_ts;
  uint32_t syn_count;
  uint32_t syn_isn;
  uint32_t synack_count;
  uint32_t anomalies;   /* OR of packet anomalies */

  /* story */
  uint32_t ladder_more; /* packets not kept */
  uint8_t n_ladder;
  uint8_t n_syn_intervals;

  /* close */
  uint8_t close_initiator; /* 0 none, 1 + enum ta_dir */
  uint8_t history_len;
  int64_t close_ts;        /* first FIN or RST after the handshake */
  uint64_t payload_before_close[2];

  char history[TA_MAX_HISTORY + 1];
  bool history_flipped;

  /* filled by ta_conn_finalize() */
  uint8_t end_reason;   /* enum ta_end_reason */
  uint8_t scenario;     /* enum ta_scenario */
  uint8_t conn_state;   /* enum ta_conn_state */
  const char *other_reason; /* static string when scenario is OTHER */

  /* whole round trips and server response times (docs/latency.md) */
  struct ta_conn_latency lat;

  int64_t syn_intervals_ns[TA_MAX_SYN_INTERVALS];
  struct ta_ladder_pkt ladder[TA_LADDER_PKTS];
};

/* Zeek's tcp_close_delay: a closed connection is forgotten this long after
 * its close, so a later packet on the tuple starts a new record. */
#define TA_CONN_CLOSE_DELAY_NS (5 * 1000000000LL)

/* Starts a record from its first packet; dir tells who sent it. */
void ta_conn_init(struct ta_conn *c, uint64_t id, const struct ta_packet *pkt);

/* ta_conn_init then ta_conn_update with the same packet, in one step
 * where it is the originator's SYN; returns its direction. */
enum ta_dir ta_conn_start(struct ta_conn *c, uint64_t id,
                          const struct ta_packet *p);

/* Applies one packet; returns its direction. Cannot fail, never allocates. */
enum ta_dir ta_conn_update(struct ta_conn *c, const struct ta_packet *pkt);

/* The same without the variants and short paths that ta_conn_update()
 * picks by the packet's flags and the record's state; gives the same
 * result. For tests. */
enum ta_dir ta__conn_update_general(struct ta_conn *c,
                                    const struct ta_packet *pkt);

/* True when pkt starts a new connection on c's tuple rather than
 * continuing it: a SYN with a new ISN (a SYN repeating the attempt's ISN is
 * a retry, even after an RST), or any packet once c has been closed for
 * TA_CONN_CLOSE_DELAY_NS. Cannot fail. */
bool ta_conn_is_new_attempt(const struct ta_conn *c, const struct ta_packet *pkt);

/* Computes scenario, conn_state and end_reason, and matches each side's
 * SYN or SYN/ACK against the OS signatures. Cannot fail. */
void ta_conn_finalize(struct ta_conn *c, enum ta_end_reason why);
/* The same, matching the SYNs' fingerprints through memo (a struct
 * ta_fp_memo of lib/ta_fingerprint.h, one per thread; NULL for none). */
struct ta_fp_memo;
void ta_conn_finalize_memo(struct ta_conn *c, enum ta_end_reason why,
                           struct ta_fp_memo *memo);

const char *ta_scenario_name(int s);
const char *ta_conn_state_name(int s);
const char *ta_end_reason_name(int r);

#endif
