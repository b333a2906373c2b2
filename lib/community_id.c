/* tcpaudit - reporters: Community ID v1 (corelight/community-id-spec).
 * SHA-1 and base64 come from OpenSSL's libcrypto; this file only lays out
 * the bytes the spec hashes. */
#include "ta_community_id.h"

#include <openssl/evp.h>
#include <string.h>

#include "ta_error.h"

/* seed(2) + two IPv6 addresses(32) + proto(1) + pad(1) + two ports(4) */
#define CID_MAX_INPUT 40

static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

/* True when (a, ap) sorts after (b, bp): the spec hashes the smaller
 * endpoint first so both directions give one ID. */
static bool endpoint_after(const uint8_t *a, uint16_t ap, const uint8_t *b,
                           uint16_t bp, size_t alen) {
  int c = memcmp(a, b, alen);
  return c > 0 || (c == 0 && ap > bp);
}

int ta_community_id(char *buf, size_t len, uint16_t seed,
                    const struct ta_flow_tuple *t) {
  if (len)
    buf[0] = 0;
  if (len < TA_COMMUNITY_ID_LEN || (t->family != 4 && t->family != 6))
    return TA_EINVAL;
  size_t alen = t->family == 4 ? 4 : 16;
  const uint8_t *sa = t->src, *da = t->dst;
  uint16_t sp = t->sport, dp = t->dport;
  if (endpoint_after(sa, t->has_ports ? sp : 0, da, t->has_ports ? dp : 0,
                     alen)) {
    const uint8_t *ta = sa;
    sa = da;
    da = ta;
    uint16_t tp = sp;
    sp = dp;
    dp = tp;
  }
  uint8_t in[CID_MAX_INPUT];
  size_t n = 0;
  put16(in, seed);
  n += 2;
  memcpy(in + n, sa, alen);
  n += alen;
  memcpy(in + n, da, alen);
  n += alen;
  in[n++] = t->proto;
  in[n++] = 0;
  if (t->has_ports) {
    put16(in + n, sp);
    put16(in + n + 2, dp);
    n += 4;
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  if (EVP_Digest(in, n, md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20)
    return TA_ENOMEM;
  /* 20 bytes encode to 28 characters plus NUL */
  unsigned char b64[32];
  if (EVP_EncodeBlock(b64, md, (int)mdlen) != 28)
    return TA_ENOMEM;
  memcpy(buf, "1:", 2);
  memcpy(buf + 2, b64, 29);
  return 0;
}
