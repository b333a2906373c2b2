/* tcpaudit - memory: a prefetch the compiler keeps.
 * GCC takes a function that does nothing but __builtin_prefetch (and
 * reads) for a pure one, and deletes a call to it whose result goes
 * unused: a helper that prefetches a list of lines, or a whole look-ahead
 * step that only prefetches, then compiles to nothing when it is not
 * inlined first, with no warning. An empty asm marked volatile is a side
 * effect it must keep, costs no instruction, and keeps the function and
 * every caller up the chain from being taken for pure. */
#ifndef TA_PREFETCH_H
#define TA_PREFETCH_H

/* Asks for the line holding a to be fetched into every cache level. */
static inline void ta_prefetch(const void *a) {
  __builtin_prefetch(a);
  __asm__ volatile("" : : "r"(a));
}

#endif
