/* tcpaudit - hashing: the one 64-bit finalizer the keyed tables share.
 * Spreads every input bit over the whole word, so a table can take any
 * bits of the result; the tables' per-run seeds go in before it. */
#ifndef TA_HASH_H
#define TA_HASH_H

#include <stdint.h>

/* MurmurHash3's 64-bit finalizer (a public-domain bijection). */
static inline uint64_t ta_hash_mix64(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return x;
}

#endif
