/* tcpaudit - reporters: Community ID v1 (corelight/community-id-spec).
 * SHA-1 comes from OpenSSL's libcrypto; this file lays out the bytes the
 * spec hashes and writes the digest's base64. */
#include "ta_community_id.h"

/* See sha1() for why the low-level SHA-1 calls, deprecated in OpenSSL 3. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/evp.h>
#include <openssl/sha.h>
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

/* SHA-1 of in[0..n) into md (20 bytes). The low-level calls hash in a
 * context on the stack; EVP_Digest fetches the algorithm and allocates a
 * context on every call, which costs twice the hashing of 40 bytes, and a
 * kept EVP context still frees and allocates its state at each init in
 * OpenSSL 3.0 (and would need an owner in every thread that formats).
 * Where libcrypto is built without the deprecated calls, EVP serves. */
static bool sha1(const uint8_t *in, size_t n, unsigned char *md) {
#ifndef OPENSSL_NO_DEPRECATED_3_0
  SHA_CTX ctx;
  return SHA1_Init(&ctx) == 1 && SHA1_Update(&ctx, in, n) == 1 &&
         SHA1_Final(md, &ctx) == 1;
#else
  unsigned int mdlen = 0;
  return EVP_Digest(in, n, md, &mdlen, EVP_sha1(), NULL) == 1 && mdlen == 20;
#endif
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Standard padded base64 of a 20-byte digest: 28 characters, no NUL. Six
 * whole 3-byte groups, then two bytes as three characters and '='. */
static void base64_20(char *p, const unsigned char *md) {
  for (int i = 0; i < 18; i += 3, p += 4) {
    uint32_t v = (uint32_t)md[i] << 16 | (uint32_t)md[i + 1] << 8 | md[i + 2];
    p[0] = b64_alphabet[v >> 18];
    p[1] = b64_alphabet[v >> 12 & 63];
    p[2] = b64_alphabet[v >> 6 & 63];
    p[3] = b64_alphabet[v & 63];
  }
  uint32_t v = (uint32_t)md[18] << 16 | (uint32_t)md[19] << 8;
  p[0] = b64_alphabet[v >> 18];
  p[1] = b64_alphabet[v >> 12 & 63];
  p[2] = b64_alphabet[v >> 6 & 63];
  p[3] = '=';
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
  if (!sha1(in, n, md))
    return TA_ENOMEM;
  memcpy(buf, "1:", 2);
  base64_20(buf + 2, md);
  buf[30] = 0;
  return 0;
}
