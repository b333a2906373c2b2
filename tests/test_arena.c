/* tcpaudit - tests: the arena's blocks are aligned, apart and kept intact
 * while their huge pages are made, and the arena takes about what it hands
 * out. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "ta_arena.h"

/* A block's bytes, a function of where it is and which it is. */
static void fill(unsigned char *p, size_t bytes, unsigned tag) {
  for (size_t i = 0; i < bytes; i += 512)
    p[i] = (unsigned char)(tag * 31 + i / 512);
  p[bytes - 1] = (unsigned char)tag;
}

static int intact(const unsigned char *p, size_t bytes, unsigned tag) {
  for (size_t i = 0; i < bytes; i += 512)
    if (p[i] != (unsigned char)(tag * 31 + i / 512))
      return 0;
  return p[bytes - 1] == (unsigned char)tag;
}

/* Sizes as the flow table's pools ask for them: a chunk of full records
 * (well over half a huge page), of attempts, of packed records. */
static const size_t sizes[] = {1441792, 131072, 65536, 57344, 65472, 4160};

static void test_blocks(void **state) {
  (void)state;
  struct ta_arena a;
  ta_arena_init(&a);
  enum { N = 48 };
  unsigned char *got[N];
  size_t len[N], total = 0;
  for (unsigned i = 0; i < N; i++) {
    len[i] = sizes[i % (sizeof sizes / sizeof *sizes)];
    got[i] = ta_arena_alloc(&a, len[i]);
    assert_non_null(got[i]);
    assert_int_equal((uintptr_t)got[i] % 64, 0);
    fill(got[i], len[i], i);
    total += len[i];
  }
  /* none overlaps another, and huge pages made on the way kept them */
  for (unsigned i = 0; i < N; i++) {
    assert_true(intact(got[i], len[i], i));
    for (unsigned j = 0; j < i; j++)
      assert_true(got[i] + len[i] <= got[j] || got[j] + len[j] <= got[i]);
  }
  size_t used = ta_arena_footprint(&a);
  assert_true(used >= total);
  /* carved in order: at most the rest of a huge page is left over (each
   * block allocated on its own costs a line more) */
  assert_true(used - total < TA_ARENA_PAGE || used - total <= N * 128);
  ta_arena_free(&a);
  assert_int_equal(ta_arena_footprint(&a), 0);
}

/* A block larger than a region is given one of its own, and the arena can
 * be used again after it is freed. */
static void test_large_and_reuse(void **state) {
  (void)state;
  struct ta_arena a;
  ta_arena_init(&a);
  unsigned char *small = ta_arena_alloc(&a, 100);
  assert_non_null(small);
  size_t big_len = (size_t)300 << 20; /* address space: only ends touched */
  unsigned char *big = ta_arena_alloc(&a, big_len);
  assert_non_null(big);
  assert_int_equal((uintptr_t)big % 64, 0);
  big[0] = 1;
  big[big_len - 1] = 2;
  unsigned char *after = ta_arena_alloc(&a, 0);
  assert_non_null(after);
  assert_true(after != small && after != big);
  assert_int_equal(big[0] + big[big_len - 1], 3);
  ta_arena_free(&a);
  unsigned char *again = ta_arena_alloc(&a, 4096);
  assert_non_null(again);
  fill(again, 4096, 7);
  assert_true(intact(again, 4096, 7));
  ta_arena_free(&a);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_blocks),
      cmocka_unit_test(test_large_and_reuse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
