/* tcpaudit - memory: huge-page regions carved in order (see ta_arena.h).
 * A region is address space reserved inaccessible, which costs neither
 * memory nor commit charge, and made writable a huge page at a time as
 * blocks reach it. Its pages are first backed by small pages as they are
 * touched; once carving has moved past a huge page, that page is collapsed
 * into one. Backing it whole from the start would be quicker, but the last
 * huge page would then take 2 MiB however little of it is used. */
#include "ta_arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#define LINE 64u
/* Address space reserved at once: a default flow table holds some 40 MB,
 * a full one up to 600 MB; a later region is twice the one before, so a
 * table needs few, each wasting at most part of its last huge page. */
#define REGION_FIRST ((size_t)256 << 20)

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25 /* Linux 6.1; older kernels refuse it */
#endif

#if defined(__SANITIZE_ADDRESS__)
#define ARENA_PLAIN_ONLY 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ARENA_PLAIN_ONLY 1
#endif
#endif

/* The first line of each region. */
struct ta_arena_region {
  struct ta_arena_region *next; /* the one before */
  size_t reserved;              /* bytes of address space */
};

struct ta_arena_block {
  struct ta_arena_block *next; /* the block data follows, a line on */
};

void ta_arena_init(struct ta_arena *a) {
  *a = (struct ta_arena){0};
#ifdef ARENA_PLAIN_ONLY
  a->plain = true;
#endif
}

static size_t round_up(size_t n, size_t unit) {
  return (n + unit - 1) / unit * unit;
}

/* bytes of inaccessible address space starting on a huge page, or NULL. */
static void *reserve(size_t bytes) {
  size_t span = bytes + TA_ARENA_PAGE;
  if (span < bytes)
    return NULL;
  unsigned char *m = mmap(NULL, span, PROT_NONE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (m == MAP_FAILED)
    return NULL;
  unsigned char *at =
      (unsigned char *)round_up((uintptr_t)m, TA_ARENA_PAGE);
  if (at > m)
    munmap(m, (size_t)(at - m));
  if (at + bytes < m + span)
    munmap(at + bytes, (size_t)(m + span - (at + bytes)));
  return at;
}

/* A new current region with room for bytes past its first line; false
 * when the system refuses, huge pages included. */
static bool region_add(struct ta_arena *a, size_t bytes) {
  size_t size = a->regions ? 2 * a->regions->reserved : REGION_FIRST;
  size_t need = round_up(LINE + bytes, TA_ARENA_PAGE);
  if (need < bytes)
    return false;
  if (size < need)
    size = need;
  unsigned char *m = reserve(size);
  if (!m)
    return false;
  if (mprotect(m, TA_ARENA_PAGE, PROT_READ | PROT_WRITE) != 0) {
    munmap(m, size);
    return false;
  }
  struct ta_arena_region *r = (struct ta_arena_region *)m;
  r->next = a->regions;
  r->reserved = size;
  a->earlier += a->committed;
  a->regions = r;
  a->used = LINE;
  a->collapsed = 0;
  a->committed = TA_ARENA_PAGE;
  return true;
}

static void *plain_alloc(struct ta_arena *a, size_t bytes) {
  if (bytes > SIZE_MAX - 2 * LINE)
    return NULL;
  struct ta_arena_block *b = aligned_alloc(LINE, round_up(LINE + bytes, LINE));
  if (!b)
    return NULL;
  b->next = a->blocks;
  a->blocks = b;
  a->earlier += LINE + bytes;
  return (unsigned char *)b + LINE;
}

/* Huge pages for the current region's pages carving has moved past. A
 * kernel that cannot collapse them now is left to do it in the background
 * (khugepaged); a page that stays small is merely slower. */
static void collapse_done(struct ta_arena *a) {
  unsigned char *r = (unsigned char *)a->regions;
  for (; a->collapsed + TA_ARENA_PAGE <= a->used;
       a->collapsed += TA_ARENA_PAGE) {
    madvise(r + a->collapsed, TA_ARENA_PAGE, MADV_HUGEPAGE);
    madvise(r + a->collapsed, TA_ARENA_PAGE, MADV_COLLAPSE);
  }
}

void *ta_arena_alloc(struct ta_arena *a, size_t bytes) {
  if (a->plain)
    return plain_alloc(a, bytes);
  bytes = round_up(bytes ? bytes : 1, LINE);
  struct ta_arena_region *r = a->regions;
  if (r)
    collapse_done(a); /* the blocks before are in use by now */
  if (!r || r->reserved - a->used < bytes) {
    if (!region_add(a, bytes)) {
      a->plain = true; /* and stays so: the system said no */
      return plain_alloc(a, bytes);
    }
    r = a->regions;
  }
  size_t end = a->used + bytes;
  if (end > a->committed) {
    size_t to = round_up(end, TA_ARENA_PAGE);
    if (mprotect((unsigned char *)r + a->committed, to - a->committed,
                 PROT_READ | PROT_WRITE) != 0)
      return NULL;
    a->committed = to;
  }
  void *it = (unsigned char *)r + a->used;
  a->used = end;
  return it;
}

void ta_arena_free(struct ta_arena *a) {
  while (a->regions) {
    struct ta_arena_region *r = a->regions;
    a->regions = r->next;
    munmap(r, r->reserved);
  }
  while (a->blocks) {
    struct ta_arena_block *b = a->blocks;
    a->blocks = b->next;
    free(b);
  }
  ta_arena_init(a);
}

size_t ta_arena_footprint(const struct ta_arena *a) {
  return a->earlier + (a->regions ? a->committed : 0);
}
