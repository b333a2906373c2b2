/* tcpaudit - memory: an arena for tables that grow and never shrink.
 * Blocks are carved one after another from address space reserved in
 * large regions, and each 2 MiB of them, once carving has moved past it,
 * is made a transparent huge page: a table whose records are read in
 * random order (the flow table's) then misses the TLB far less, which
 * matters most in a virtual machine, where each miss walks two page
 * tables. Since blocks are carved in order, are only freed all at once,
 * and the part of a huge page not handed out yet keeps small pages, the
 * arena takes no more memory than its blocks. Where the reservation is
 * refused (or under AddressSanitizer, which checks each block only when it
 * comes from malloc) each block is allocated on its own instead. */
#ifndef TA_ARENA_H
#define TA_ARENA_H

#include <stdbool.h>
#include <stddef.h>

/* A huge page, the unit of commitment and alignment. */
#define TA_ARENA_PAGE ((size_t)2 << 20)

struct ta_arena_region; /* reserved address space */
struct ta_arena_block;  /* a block allocated on its own */

struct ta_arena {
  struct ta_arena_region *regions; /* the current one first, or NULL */
  size_t used;      /* bytes of the current region handed out */
  size_t committed; /* bytes of it readable and writable */
  size_t collapsed; /* bytes of it on huge pages */
  size_t earlier;   /* bytes committed in the regions before it */
  struct ta_arena_block *blocks;   /* blocks allocated on their own */
  bool plain; /* huge pages refused: allocate each block on its own */
};

/* An empty arena; costs nothing until the first block. */
void ta_arena_init(struct ta_arena *a);
/* bytes of memory (not necessarily zeroed), aligned to a cache line (64 bytes), living until
 * ta_arena_free; NULL when memory ran out. */
void *ta_arena_alloc(struct ta_arena *a, size_t bytes);
/* Releases every block at once; the arena may be used again. */
void ta_arena_free(struct ta_arena *a);
/* Bytes taken from the system so far, for tests and statistics. */
size_t ta_arena_footprint(const struct ta_arena *a);

#endif
