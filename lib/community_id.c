/* tcpaudit - reporters: Community ID v1 (corelight/community-id-spec).
 * SHA-1 comes from OpenSSL's libcrypto; this file lays out the bytes the
 * spec hashes and writes the digest's base64. */
#include "ta_community_id.h"

/* See sha1_block() for why the low-level SHA-1 calls, deprecated in
 * OpenSSL 3. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <string.h>

#include "ta_error.h"

/* seed(2) + two IPv6 addresses(32) + proto(1) + pad(1) + two ports(4): the
 * longest input leaves room in one 64-byte SHA-1 block for the padding
 * (a 0x80 byte and the 8-byte length), so every ID is one compression. */
#define CID_MAX_INPUT 40
#define SHA1_BLOCK 64

static void put16(uint8_t *p, uint16_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p) {
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
         p[3];
}

static uint64_t get64(const uint8_t *p) {
  return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* memcmp's order of two addresses of alen (4 or 16) bytes, as whole
 * big-endian words: no library call for a few bytes. */
static int addr_cmp(const uint8_t *a, const uint8_t *b, size_t alen) {
  if (alen == 4) {
    uint32_t x = get32(a), y = get32(b);
    return (x > y) - (x < y);
  }
  uint64_t x = get64(a), y = get64(b);
  if (x == y) {
    x = get64(a + 8);
    y = get64(b + 8);
  }
  return (x > y) - (x < y);
}

/* True when (a, ap) sorts after (b, bp): the spec hashes the smaller
 * endpoint first so both directions give one ID. */
static bool endpoint_after(const uint8_t *a, uint16_t ap, const uint8_t *b,
                           uint16_t bp, size_t alen) {
  int c = addr_cmp(a, b, alen);
  return c > 0 || (c == 0 && ap > bp);
}

/* SHA-1 of the n bytes that start block, already padded to one block
 * (bytes n.. as SHA-1 pads them), as its five state words. With the
 * low-level calls that is one compression into a context on the stack
 * set to SHA-1's initial words (SHA_CTX's words are public, and the
 * compression reads no other field): no SHA1_Init call, none of
 * SHA1_Update's copying, SHA1_Final's padding nor its wiping of the
 * context. EVP_Digest fetches the algorithm and allocates a context on
 * every call, which costs twice the hashing; a kept EVP context still
 * frees and allocates its state at each init in OpenSSL 3.0 (and would
 * need an owner in every thread that formats). Where libcrypto is built
 * without the deprecated calls, EVP serves. */
static bool sha1_block(const uint8_t *block, size_t n, uint32_t h[5]) {
#ifndef OPENSSL_NO_DEPRECATED_3_0
  (void)n;
  SHA_CTX ctx;
  ctx.h0 = 0x67452301u;
  ctx.h1 = 0xEFCDAB89u;
  ctx.h2 = 0x98BADCFEu;
  ctx.h3 = 0x10325476u;
  ctx.h4 = 0xC3D2E1F0u;
  SHA1_Transform(&ctx, block);
  h[0] = ctx.h0;
  h[1] = ctx.h1;
  h[2] = ctx.h2;
  h[3] = ctx.h3;
  h[4] = ctx.h4;
  return true;
#else
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  if (EVP_Digest(block, n, md, &mdlen, EVP_sha1(), NULL) != 1 || mdlen != 20)
    return false;
  for (int i = 0; i < 5; i++)
    h[i] = get32(md + 4 * i);
  return true;
#endif
}

/* Sixteen bytes as two 64-bit lanes or as bytes (the compiler's vector
 * types: SSE2 on x86-64, and plain code where there is none). */
typedef uint64_t lanes __attribute__((vector_size(16)));
typedef uint8_t bytes __attribute__((vector_size(16)));
typedef int8_t sbytes __attribute__((vector_size(16)));

/* The eight sextets of each lane's low 48 bits in the lane's bytes, the
 * top one first in memory: the halves, quarters and eighths of the bits
 * are taken apart, the upper one to the lower bytes each time. */
static inline bytes sextets(lanes x) {
  const lanes m12 = {0x00000FFF00000FFFull, 0x00000FFF00000FFFull};
  const lanes m6 = {0x003F003F003F003Full, 0x003F003F003F003Full};
  x = x >> 24 | (x & 0xFFFFFF) << 32;
  x = (x >> 12 & m12) | (x & m12) << 16;
  x = (x >> 6 & m6) | (x & m6) << 8;
  return (bytes)x;
}

/* The base64 alphabet's characters of sixteen sextets at once: 'A' + v,
 * moved on for the values at or past each range's start (26 'a', 52 '0',
 * 62 '+', 63 '/'). The values are below 64, so signed compares serve. */
static inline bytes base64_16(bytes v) {
  sbytes s = (sbytes)v;
  bytes d = (bytes)(s > 25) & 6;
  d += (bytes)(s > 51) & (uint8_t)(256 - 75);
  d += (bytes)(s > 61) & (uint8_t)(256 - 15);
  d += (bytes)(s > 62) & 3;
  return v + 'A' + d;
}

/* "1:" and the standard padded base64 of the digest h (160 bits: 26
 * whole sextets, four bits and '='): 30 characters at p, no NUL; 34
 * bytes are stored. Each lane holds 48 bits of the digest, eight
 * characters; the last lane's 16 give three and the padding. */
static char *put_id(char *p, const uint32_t h[5]) {
  lanes a = {(uint64_t)h[0] << 16 | h[1] >> 16,
             (uint64_t)(h[1] & 0xFFFF) << 32 | h[2]};
  lanes b = {(uint64_t)h[3] << 16 | h[4] >> 16, (uint64_t)(h[4] & 0xFFFF) << 32};
  bytes x = base64_16(sextets(a)), y = base64_16(sextets(b));
  p[0] = '1';
  p[1] = ':';
  memcpy(p + 2, &x, 16);
  memcpy(p + 18, &y, 16);
  p[29] = '=';
  return p + 30;
}

/* The spec's bytes for t in one block, with SHA-1's padding (the end
 * mark, the length in bits); returns their count. Inlined for each
 * address length, so that its copies are of constant size. */
static inline __attribute__((always_inline)) size_t
layout(uint8_t block[SHA1_BLOCK], uint16_t seed, const struct ta_flow_tuple *t,
       size_t alen) {
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
  memset(block, 0, SHA1_BLOCK);
  size_t n = 0;
  put16(block, seed);
  n += 2;
  memcpy(block + n, sa, alen);
  n += alen;
  memcpy(block + n, da, alen);
  n += alen;
  block[n++] = t->proto;
  block[n++] = 0;
  if (t->has_ports) {
    put16(block + n, sp);
    put16(block + n + 2, dp);
    n += 4;
  }
  block[n] = 0x80;
  put16(block + SHA1_BLOCK - 2, (uint16_t)(n * 8));
  return n;
}

/* The digest of t's bytes; false when the family is neither 4 nor 6 or
 * the digest failed. */
static bool digest_of(uint32_t h[5], uint16_t seed,
                      const struct ta_flow_tuple *t) {
  uint8_t block[SHA1_BLOCK];
  size_t n;
  if (t->family == 4)
    n = layout(block, seed, t, 4);
  else if (t->family == 6)
    n = layout(block, seed, t, 16);
  else
    return false;
  return sha1_block(block, n, h);
}

char *ta__community_id_put(char *p, uint16_t seed,
                           const struct ta_flow_tuple *t) {
  uint32_t h[5];
  return digest_of(h, seed, t) ? put_id(p, h) : NULL;
}

int ta_community_id(char *buf, size_t len, uint16_t seed,
                    const struct ta_flow_tuple *t) {
  if (len)
    buf[0] = 0;
  if (len < TA_COMMUNITY_ID_LEN || (t->family != 4 && t->family != 6))
    return TA_EINVAL;
  char text[TA__COMMUNITY_ID_ROOM];
  if (!ta__community_id_put(text, seed, t))
    return TA_ENOMEM;
  memcpy(buf, text, TA_COMMUNITY_ID_LEN - 1);
  buf[TA_COMMUNITY_ID_LEN - 1] = 0;
  return 0;
}
