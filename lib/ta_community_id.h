/* tcpaudit - reporters: Community ID v1 flow hashes ("1:" + base64 SHA-1).
 * Owns only the hash of a flow tuple; knows nothing of connections or
 * output formats. The same tuple in either direction gives the same ID. */
#ifndef TA_COMMUNITY_ID_H
#define TA_COMMUNITY_ID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* "1:" + 28 base64 characters + NUL. */
#define TA_COMMUNITY_ID_LEN 31

/* One flow as the hash sees it. Addresses are 4 (family 4) or 16 (family 6)
 * bytes in network order, in the first bytes of the arrays. Ports are
 * host-order numbers; has_ports is false for protocols without ports, whose
 * hash then covers addresses and protocol only. ICMP type/code mapping is
 * the caller's business (tcpaudit only hashes TCP). */
struct ta_flow_tuple {
  uint8_t family;    /* 4 or 6 */
  uint8_t proto;     /* IANA protocol number: 6 for TCP */
  uint8_t src[16], dst[16];
  uint16_t sport, dport;
  bool has_ports;
};

/* Writes the Community ID v1 of t with the given seed into buf (at least
 * TA_COMMUNITY_ID_LEN bytes). Returns 0, TA_EINVAL for a bad family or a
 * short buffer, or TA_ENOMEM when the digest could not be computed; buf is
 * then an empty string. */
int ta_community_id(char *buf, size_t len, uint16_t seed,
                    const struct ta_flow_tuple *t);

/* The same ID written in place (see ta_jsonw_room): its
 * TA_COMMUNITY_ID_LEN - 1 characters at p, without a NUL, though up to
 * TA__COMMUNITY_ID_ROOM bytes are stored. Returns their end, or NULL
 * where ta_community_id fails. */
#define TA__COMMUNITY_ID_ROOM 34
char *ta__community_id_put(char *p, uint16_t seed,
                           const struct ta_flow_tuple *t);

#endif
