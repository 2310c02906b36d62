/*
** test_cache.c — the block cache (lsm/cache.h): hits and misses,
** eviction in least-recently-used order within the segmented LRU's
** segments, blocks used again kept over blocks read once, entries pinned
** by handles, and
** replacement of an entry that is still referenced (invariant (1)).
*/
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"

static void *block(size_t n, int fill) {
  void *p = malloc(n);
  memset(p, fill, n);
  return p;
}

START_TEST(cache_hit_after_insert_miss_before) {
  lsm_cache *c = lsm_cache_new(1000);
  lsm_cache_handle *h;
  lsm_cache_stats st;
  ck_assert_ptr_null(lsm_cache_lookup(c, 1, 0));
  h = lsm_cache_insert(c, 1, 0, block(100, 'a'), 100);
  ck_assert_ptr_nonnull(h);
  lsm_cache_release(c, h);
  h = lsm_cache_lookup(c, 1, 0);
  ck_assert_ptr_nonnull(h);
  ck_assert_uint_eq(lsm_cache_size(h), 100);
  ck_assert_int_eq(((char *)lsm_cache_data(h))[99], 'a');
  lsm_cache_release(c, h);
  ck_assert_ptr_null(lsm_cache_lookup(c, 2, 0));   /* other table id */
  ck_assert_ptr_null(lsm_cache_lookup(c, 1, 100)); /* other offset */
  lsm_cache_get_stats(c, &st);
  ck_assert_uint_eq(st.hits, 1);
  ck_assert_uint_eq(st.misses, 3);
  ck_assert_uint_eq(st.usage, 100);
  lsm_cache_free(c);
}
END_TEST

START_TEST(cache_evicts_least_recently_used_first) {
  lsm_cache *c = lsm_cache_new(300);
  lsm_cache_handle *h;
  int i;
  for (i = 0; i < 3; i++) lsm_cache_release(c, lsm_cache_insert(c, 1, (uint64_t)i, block(100, i), 100));
  /* Touch 0 so that 1 is the oldest. */
  lsm_cache_release(c, lsm_cache_lookup(c, 1, 0));
  lsm_cache_release(c, lsm_cache_insert(c, 1, 3, block(100, 3), 100));
  ck_assert_ptr_null(lsm_cache_lookup(c, 1, 1));
  h = lsm_cache_lookup(c, 1, 0);
  ck_assert_ptr_nonnull(h);
  lsm_cache_release(c, h);
  h = lsm_cache_lookup(c, 1, 2);
  ck_assert_ptr_nonnull(h);
  lsm_cache_release(c, h);
  lsm_cache_free(c);
}
END_TEST

START_TEST(cache_referenced_entry_survives_eviction_and_replacement) {
  lsm_cache *c = lsm_cache_new(100);
  lsm_cache_handle *pinned = lsm_cache_insert(c, 7, 0, block(100, 'p'), 100), *h;
  lsm_cache_stats st;
  /* Over capacity, but the pinned entry cannot go: the new one is evicted
  ** as soon as it is released instead. */
  lsm_cache_release(c, lsm_cache_insert(c, 7, 1, block(100, 'q'), 100));
  ck_assert_ptr_null(lsm_cache_lookup(c, 7, 1));
  ck_assert_int_eq(((char *)lsm_cache_data(pinned))[0], 'p');
  /* Replace the pinned key: the old bytes stay readable through the handle. */
  h = lsm_cache_insert(c, 7, 0, block(50, 'r'), 50);
  ck_assert_int_eq(((char *)lsm_cache_data(pinned))[99], 'p');
  ck_assert_int_eq(((char *)lsm_cache_data(h))[0], 'r');
  lsm_cache_release(c, pinned);
  lsm_cache_release(c, h);
  lsm_cache_get_stats(c, &st);
  ck_assert_uint_eq(st.entries, 1);
  ck_assert_uint_eq(st.usage, 50);
  lsm_cache_free(c);
}
END_TEST

START_TEST(cache_ids_are_distinct_and_table_grows) {
  lsm_cache *c = lsm_cache_new(1u << 30);
  uint64_t a = lsm_cache_new_id(c), b = lsm_cache_new_id(c);
  int i;
  ck_assert_uint_ne(a, b);
  for (i = 0; i < 5000; i++) lsm_cache_release(c, lsm_cache_insert(c, a, (uint64_t)i * 4096, block(8, 1), 8));
  for (i = 0; i < 5000; i++) {
    lsm_cache_handle *h = lsm_cache_lookup(c, a, (uint64_t)i * 4096);
    ck_assert_ptr_nonnull(h);
    lsm_cache_release(c, h);
  }
  lsm_cache_free(c);
}
END_TEST

static int cached(lsm_cache *c, uint64_t id, uint64_t off) {
  lsm_cache_handle *h = lsm_cache_lookup(c, id, off);
  if (h) lsm_cache_release(c, h);
  return h != NULL;
}

/* Segmented LRU: blocks used again while cached survive any number of
** blocks read once (a scan), which evict each other. */
START_TEST(cache_reused_blocks_outlive_a_scan_of_blocks_read_once) {
  lsm_cache *c = lsm_cache_new(1000);
  int i;
  for (i = 0; i < 5; i++) lsm_cache_release(c, lsm_cache_insert(c, 1, (uint64_t)i, block(100, i), 100));
  for (i = 0; i < 5; i++) ck_assert(cached(c, 1, (uint64_t)i));   /* reused: protected */
  for (i = 0; i < 50; i++) lsm_cache_release(c, lsm_cache_insert(c, 2, (uint64_t)i, block(100, i), 100));
  for (i = 0; i < 5; i++) ck_assert_msg(cached(c, 1, (uint64_t)i), "reused block %d evicted", i);
  /* The scan's last five blocks fill the rest; its earlier ones are gone. */
  for (i = 0; i < 45; i++) ck_assert(!cached(c, 2, (uint64_t)i));
  for (i = 45; i < 50; i++) ck_assert(cached(c, 2, (uint64_t)i));
  lsm_cache_free(c);
}
END_TEST

/* The protected segment holds at most four fifths of the bytes for blocks
** (capacity less reservations): beyond that its least recently used
** entries go back to probation, and a reservation shrinks the share. */
START_TEST(cache_protected_share_is_bounded_and_shrinks_with_reservations) {
  lsm_cache *c = lsm_cache_new(1000);
  lsm_cache_stats st;
  int i;
  for (i = 0; i < 10; i++) lsm_cache_release(c, lsm_cache_insert(c, 1, (uint64_t)i, block(100, i), 100));
  for (i = 0; i < 10; i++) ck_assert(cached(c, 1, (uint64_t)i));   /* 0 and 1 demoted */
  for (i = 0; i < 2; i++) lsm_cache_release(c, lsm_cache_insert(c, 2, (uint64_t)i, block(100, i), 100));
  ck_assert(!cached(c, 1, 0));
  ck_assert(!cached(c, 1, 1));
  for (i = 2; i < 10; i++) ck_assert(cached(c, 1, (uint64_t)i));
  /* 500 reserved: blocks get 500 bytes, protected 400. */
  lsm_cache_reserve(c, 500);
  lsm_cache_get_stats(c, &st);
  ck_assert_uint_le(st.usage, 1000);
  /* Over capacity, probation empty: protected's oldest (1:2-1:4) went.  A
  ** scan of five blocks then takes protected's oldest once (1:5) and after
  ** that only its own blocks. */
  for (i = 0; i < 5; i++) lsm_cache_release(c, lsm_cache_insert(c, 3, (uint64_t)i, block(100, i), 100));
  lsm_cache_get_stats(c, &st);
  ck_assert_uint_le(st.usage, 1000);
  ck_assert(!cached(c, 1, 5));
  for (i = 0; i < 4; i++) ck_assert(!cached(c, 3, (uint64_t)i));
  /* Promoting 3:4 puts protected over its new share of 400: its oldest,
  ** 1:6, goes back to probation, where the next insert evicts it. */
  ck_assert(cached(c, 3, 4));
  lsm_cache_release(c, lsm_cache_insert(c, 4, 0, block(100, 0), 100));
  ck_assert(!cached(c, 1, 6));
  for (i = 7; i < 10; i++) ck_assert(cached(c, 1, (uint64_t)i));
  ck_assert(cached(c, 3, 4));
  lsm_cache_unreserve(c, 500);
  lsm_cache_free(c);
}
END_TEST

/* Buffers filled in place: charged their rounded-up size, evicted in LRU
** order like the others, recycled after eviction with their bytes
** overwritten by the new owner, and a buffer given back is not an entry. */
START_TEST(cache_buffers_are_charged_rounded_evicted_and_recycled) {
  lsm_cache *c = lsm_cache_new(1024);
  lsm_cache_stats st;
  lsm_cache_handle *h;
  void *buf;
  int i;
  for (i = 0; i < 4; i++) {
    buf = lsm_cache_buffer_new(c, 200);
    ck_assert_ptr_nonnull(buf);
    memset(buf, 'a' + i, 200);
    h = lsm_cache_insert_buffer(c, 1, (uint64_t)i, buf, 200);
    ck_assert_uint_eq(lsm_cache_size(h), 200);
    lsm_cache_release(c, h);
  }
  lsm_cache_get_stats(c, &st);
  ck_assert_uint_eq(st.usage, 4 * 256);
  ck_assert_uint_eq(st.entries, 4);
  /* A fifth evicts the oldest (offset 0), whose memory may come back. */
  for (i = 4; i < 40; i++) {
    buf = lsm_cache_buffer_new(c, 150 + (size_t)i);
    ck_assert_ptr_nonnull(buf);
    memset(buf, 'a' + i % 26, 150 + (size_t)i);
    lsm_cache_release(c, lsm_cache_insert_buffer(c, 1, (uint64_t)i, buf, 150 + (size_t)i));
    ck_assert_ptr_null(lsm_cache_lookup(c, 1, (uint64_t)(i - 4)));
  }
  for (i = 36; i < 40; i++) {
    h = lsm_cache_lookup(c, 1, (uint64_t)i);
    ck_assert_ptr_nonnull(h);
    ck_assert_uint_eq(lsm_cache_size(h), 150 + (size_t)i);
    ck_assert_int_eq(((char *)lsm_cache_data(h))[149 + i], 'a' + i % 26);
    lsm_cache_release(c, h);
  }
  buf = lsm_cache_buffer_new(c, 5000);
  ck_assert_ptr_nonnull(buf);
  lsm_cache_buffer_free(c, buf);
  lsm_cache_get_stats(c, &st);
  ck_assert_uint_eq(st.entries, 4);
  ck_assert_uint_le(st.usage, 1024);
  lsm_cache_free(c);
}
END_TEST

/* A miss on a full cache takes the memory of the entry it would evict on
** insert (the oldest, when it fits: sizes within an eighth), instead of
** allocating; an oldest entry that does not fit stays cached. */
START_TEST(cache_full_miss_reuses_the_oldest_entrys_memory) {
  lsm_cache *c = lsm_cache_new(4 * 4352);
  lsm_cache_handle *h;
  void *first = NULL, *buf;
  lsm_cache_stats st;
  int i;
  for (i = 0; i < 4; i++) {
    buf = lsm_cache_buffer_new(c, 4200);
    ck_assert_ptr_nonnull(buf);
    if (i == 0) first = buf;
    lsm_cache_release(c, lsm_cache_insert_buffer(c, 1, (uint64_t)i, buf, 4200));
  }
  /* 4100 bytes fit entry 0's 4352-byte area: it is evicted and reused. */
  buf = lsm_cache_buffer_new(c, 4100);
  ck_assert_ptr_eq(buf, first);
  ck_assert_ptr_null(lsm_cache_lookup(c, 1, 0));
  lsm_cache_release(c, lsm_cache_insert_buffer(c, 1, 4, buf, 4100));
  /* 1000 bytes would waste most of entry 1's area: it stays until the
  ** insert needs the room. */
  buf = lsm_cache_buffer_new(c, 1000);
  ck_assert_ptr_nonnull(buf);
  h = lsm_cache_lookup(c, 1, 1);
  ck_assert_ptr_nonnull(h);
  lsm_cache_release(c, h);
  lsm_cache_buffer_free(c, buf);
  lsm_cache_get_stats(c, &st);
  ck_assert_uint_eq(st.entries, 4);
  ck_assert_uint_le(st.usage, 4 * 4352);
  lsm_cache_free(c);
}
END_TEST

/* The table's removals (eviction and replacement) keep every other entry
** findable: entries of several tables over a window that slides through
** thousands of keys (a removal unlinks an entry from its chain), some
** keys replaced while in the window, and the table growing meanwhile. */
START_TEST(cache_table_finds_every_entry_after_evictions_and_replacements) {
  enum { WINDOW = 300, KEYS = 6000 };
  lsm_cache *c = lsm_cache_new(WINDOW * 8);
  lsm_cache_stats st;
  int i, j;
  for (i = 0; i < KEYS; i++) {
    uint64_t id = 1 + (uint64_t)(i % 3), off = (uint64_t)(i / 3) * 4096;
    lsm_cache_release(c, lsm_cache_insert(c, id, off, block(8, i & 0x7f), 8));
    if (i % 7 == 0 && i >= WINDOW) {
      /* Replace a key inside the window: it becomes the newest. */
      int r = i - WINDOW / 2;
      lsm_cache_release(c, lsm_cache_insert(c, 1 + (uint64_t)(r % 3), (uint64_t)(r / 3) * 4096,
                                            block(8, r & 0x7f), 8));
    }
    if (i % 97 != 0) continue;
    /* The newest WINDOW / 10 keys are always cached (probation keeps a
    ** fifth of the capacity).  These lookups promote them, and protected
    ** holds four fifths, the keys of the last 8 checks (776 inserts):
    ** keys older than 4 * WINDOW are never cached. */
    for (j = i; j >= 0 && j > i - WINDOW / 10; j--) {
      lsm_cache_handle *h = lsm_cache_lookup(c, 1 + (uint64_t)(j % 3), (uint64_t)(j / 3) * 4096);
      ck_assert_ptr_nonnull(h);
      ck_assert_int_eq(((char *)lsm_cache_data(h))[0], j & 0x7f);
      lsm_cache_release(c, h);
    }
    for (j = i - 4 * WINDOW; j >= 0 && j > i - 5 * WINDOW; j--) {
      ck_assert_ptr_null(lsm_cache_lookup(c, 1 + (uint64_t)(j % 3), (uint64_t)(j / 3) * 4096));
    }
  }
  lsm_cache_get_stats(c, &st);
  ck_assert_uint_eq(st.entries, WINDOW);
  ck_assert_uint_eq(st.usage, WINDOW * 8);
  lsm_cache_free(c);
}
END_TEST

int main(void) {
  Suite *s = suite_create("cache");
  TCase *tc = tcase_create("cache");
  SRunner *sr;
  int failed;
  tcase_add_test(tc, cache_hit_after_insert_miss_before);
  tcase_add_test(tc, cache_evicts_least_recently_used_first);
  tcase_add_test(tc, cache_reused_blocks_outlive_a_scan_of_blocks_read_once);
  tcase_add_test(tc, cache_protected_share_is_bounded_and_shrinks_with_reservations);
  tcase_add_test(tc, cache_referenced_entry_survives_eviction_and_replacement);
  tcase_add_test(tc, cache_ids_are_distinct_and_table_grows);
  tcase_add_test(tc, cache_buffers_are_charged_rounded_evicted_and_recycled);
  tcase_add_test(tc, cache_full_miss_reuses_the_oldest_entrys_memory);
  tcase_add_test(tc, cache_table_finds_every_entry_after_evictions_and_replacements);
  suite_add_tcase(s, tc);
  sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
