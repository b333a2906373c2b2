/* tcpaudit - limits: every cap and timeout in one place.
 * Each constant says why it has the value it has. Those a user may need to
 * change are defaults for fields of struct ta_config, not hard limits. */
#ifndef TA_LIMITS_H
#define TA_LIMITS_H

/* Default cap on connections held at once; the least recently active one
 * is handed on early (evicted, counted and still reported) when a new one
 * would exceed it. A connection's record is about 1.3 KB while active and
 * about 700 B once idle (packed, lib/flow.c); an unanswered attempt's or a
 * refusal's (held as its packets) 128 B over IPv4 (a little more over
 * IPv6) plus 56 B a packet after the first SYN. So a table full of active
 * connections costs about 380 MB (and its packed records at most half as
 * much again); a busy capture (5,000 new
 * connections a second, a third of them unanswered scans) holds about
 * 100,000 at once, three quarters of them attempts and refusals, in about
 * 40 MB. That must fit: evicting a live connection splits it in two.
 * --max-connections overrides. */
#define TA_DEFAULT_MAX_CONNS 262144u
/* Zeek's tcp_inactivity_timeout: a connection idle this long is over. */
#define TA_DEFAULT_IDLE_TIMEOUT_S 300
/* SYNs with no answer at all, idle this long, are an unanswered attempt
 * that is over. Stacks back off to at most 32 s between SYN retries (Linux
 * and macOS defaults; Windows waits 3 s, then 6 s), so a longer gap is a
 * new attempt; holding them for the full idle timeout would let a scan or
 * a SYN flood fill the table. --attempt-timeout overrides. */
#define TA_DEFAULT_ATTEMPT_TIMEOUT_S 40
/* SYNs an attempt keeps as they came (56 B each, against 1.4 KB for a
 * full record) before it takes a full record: Linux retries 6 times,
 * 1, 2, 4, 8, 16 and 32 s apart, so its 7 SYNs fit, and a flood of
 * retries on one tuple still costs a bounded record. */
#define TA_ATTEMPT_MAX_SYNS 8
/* A closed connection stays this long to absorb late ACKs, retransmitted
 * FINs and SYN retries that reuse the ISN after a refusal (Windows retries
 * a refused connect after 0.5 s, twice). Past Zeek's 5 s close delay
 * (TA_CONN_CLOSE_DELAY_NS) any packet starts a new connection anyway, so
 * holding a closed record longer would only cost memory. */
#define TA_DEFAULT_CLOSED_LINGER_S 5
/* A closed connection's record idle this long is packed to about half
 * its size (lib/flow.c) until its next packet: late ACKs and retransmitted
 * FINs come within a round trip or two, so they find it unpacked, and the
 * rest of the linger time costs half the memory. */
#define TA_PACK_CLOSED_AFTER_MS 1000
/* An open connection's record idle this long is packed too. Clients pause
 * for a few seconds between requests, and a record unpacked at each one
 * would cost more work than the memory it saves; past that, an idle
 * connection (one half closed, a session left open) may stay for the whole
 * idle timeout. */
#define TA_PACK_OPEN_AFTER_MS 5000
/* Records are packed only while a table holds at least this many (about
 * 24 MB of full records): below it memory is small and packing and
 * unpacking cost more (4% of the work on long transfers) than it saves. */
#define TA_PACK_MIN_HELD 16384u
/* A closed record lingers only for the close delay, so packing it saves
 * memory for those few seconds at the price of a pack and an unpack per
 * connection, which took 7% of the time on a capture of a million short
 * connections (3 MB held less). So closed records are packed only in a
 * table half full at the default cap (TA_DEFAULT_MAX_CONNS), as a flood
 * of connections makes it; a busy capture holds a third of that. */
#define TA_PACK_CLOSED_MIN_HELD 131072u

/* VLAN tags stacked on one frame (QinQ uses 2; more is hostile). */
#define TA_MAX_VLAN_TAGS 8
/* MPLS label stack entries popped from one frame: transport, service and
 * entropy labels make 3 or 4; segment routing stacks reach about 10. */
#define TA_MAX_MPLS_LABELS 16
/* IP-in-UDP tunnels (GTP-U, Teredo) unwrapped in one frame; deeper nesting
 * is hostile (Zeek's Tunnel::max_depth is 2 as well). */
#define TA_MAX_TUNNEL_DEPTH 2
/* GTP-U extension headers followed in one header (real ones chain 1 or 2). */
#define TA_MAX_GTP_EXT_HEADERS 8
/* IPv6 extension headers walked before giving up on finding TCP. */
#define TA_MAX_IPV6_EXT_HEADERS 16
/* TCP options in one header: 40 bytes of options, at least 1 byte each. */
#define TA_MAX_TCP_OPTIONS 40
/* Option kinds remembered in order for the fingerprint layout. */
#define TA_MAX_OPT_LAYOUT 16
/* SYN retry intervals kept per connection; later ones are only counted. */
#define TA_MAX_SYN_INTERVALS 16
/* Packets of a connection kept for its ladder diagram (the start of the
 * story is what explains a refusal or an ACL drop). */
#define TA_LADDER_PKTS 12
/* Zeek's history string is short; ours is bounded the same way. */
#define TA_MAX_HISTORY 32

/* Input files merged into one capture in a single run. */
#define TA_MAX_INPUTS 1024
/* pcapng: interfaces declared in one section. */
#define TA_MAX_PCAPNG_IFACES 256
/* pcapng: largest block accepted (libpcap uses 16 MiB too). */
#define TA_MAX_PCAPNG_BLOCK (16u * 1024u * 1024u)
/* pcapng text kept per input for the report (section comment, interface
 * names and descriptions): it is untrusted, so each string is cut to this
 * many bytes, and only the first interfaces of a file are described. */
#define TA_MAX_PCAPNG_TEXT 256
#define TA_MAX_INPUT_IFACES 8
/* Largest packet record accepted from any format. */
#define TA_MAX_CAPLEN (256u * 1024u)
/* Warnings kept for the report; later ones are only counted. */
#define TA_MAX_WARNINGS 64

/* Per-host aggregates: hosts held at once, and services (ports) per host.
 * Past them, counts are folded into an overflow bucket that is reported. */
#define TA_DEFAULT_MAX_HOSTS 65536u
/* Worker threads for --threads: far more than the cores of any machine
 * that reads captures, small enough to index workers with a byte. */
#define TA_MAX_THREADS 64u
#define TA_MAX_SERVICES_PER_HOST 64

#endif
