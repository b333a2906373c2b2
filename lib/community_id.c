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

/* v's bytes, the top first, in one store. */
static inline void put64(char *p, uint64_t v) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  memcpy(p, &v, 8);
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
 * low-level calls that is one compression into a context on the stack:
 * the digest is the state (SHA_CTX's words are public), with none of
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
  if (SHA1_Init(&ctx) != 1)
    return false;
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

/* Eight base64 characters of the 48 bits x, the first in the top byte.
 * The sextets are spread into the eight bytes (halves, quarters, eighths),
 * then mapped to the alphabet in all bytes at once: 'A' + v, moved on for
 * the values at or past each range's start (26 'a', 52 '0', 62 '+', 63
 * '/'). The positive and negative moves are summed apart so that no byte
 * ever borrows from its neighbour. */
static inline uint64_t base64_8(uint64_t x) {
  const uint64_t ones = 0x0101010101010101ull, high = ones << 7;
  uint64_t y = (x & 0xFFFFFF000000ull) << 8 | (x & 0xFFFFFFull);
  y = (y & 0x00FFF00000FFF000ull) << 4 | (y & 0x00000FFF00000FFFull);
  y = (y & 0x0FC00FC00FC00FC0ull) << 2 | (y & 0x003F003F003F003Full);
#define AT_LEAST(k) (((y + (128 - (k)) * ones) & high) >> 7)
  uint64_t up = y + 'A' * ones + 6 * AT_LEAST(26) + 3 * AT_LEAST(63);
  uint64_t down = 75 * AT_LEAST(52) + 15 * AT_LEAST(62);
#undef AT_LEAST
  return up - down;
}

/* "1:" and the standard padded base64 of the digest h (160 bits: 26
 * whole sextets, four bits and '='), with a NUL: 31 bytes, each stored
 * once (a staging copy would be read back before its stores are done). */
static void put_id(char *buf, const uint32_t h[5]) {
  buf[0] = '1';
  buf[1] = ':';
  put64(buf + 2, base64_8((uint64_t)h[0] << 16 | h[1] >> 16));
  put64(buf + 10, base64_8((uint64_t)(h[1] & 0xFFFF) << 32 | h[2]));
  put64(buf + 18, base64_8((uint64_t)h[3] << 16 | h[4] >> 16));
  uint64_t last = base64_8((uint64_t)(h[4] & 0xFFFF) << 32);
  buf[26] = (char)(last >> 56);
  buf[27] = (char)(last >> 48);
  buf[28] = (char)(last >> 40);
  buf[29] = '=';
  buf[30] = 0;
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
  uint8_t block[SHA1_BLOCK] = {0};
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
  block[n] = 0x80; /* SHA-1's padding: the end mark, the length in bits */
  put16(block + SHA1_BLOCK - 2, (uint16_t)(n * 8));
  uint32_t h[5];
  if (!sha1_block(block, n, h))
    return TA_ENOMEM;
  put_id(buf, h);
  return 0;
}
