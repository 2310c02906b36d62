/*
** test_iter.c — unit tests of lsm/iter.c: the merging iterator against a
** sorted reference, over random children, in random walks that mix seeks,
** steps (plain and fused: next_key/prev_key) and changes of direction; and
** its error reporting.
**
** Children are block iterators (lsm/block.c) over disjoint random subsets
** of a universe of internal keys, so user keys repeat across children with
** different sequence numbers, as they do across a memtable and tables.
**
** Randomised cases print their seed; set LSM_TEST_SEED to replay one.
*/
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "block.h"
#include "dbformat.h"
#include "iter.h"
#include "rand_support.h"

#define N_USER 60          /* user keys in the universe */
#define N_SEQ 4            /* sequence numbers per user key */
#define MAX_CHILDREN 12

static uint64_t rng_state;

static uint64_t rnd(void) { return lsm_test_next(&rng_state); }

/* Internal key of universe entry e: user key "u%03d" (e / N_SEQ), sequence
** number N_SEQ - e % N_SEQ, so increasing e is increasing internal order. */
static int long_keys;   /* user keys "shared-prefix-u%03d": 8-byte ranks tie */
static int sticky;      /* entries come in runs from one child */

static void universe_key(lsm_buffer *b, int e) {
  char tmp[32];
  int n = snprintf(tmp, sizeof tmp, long_keys ? "shared-prefix-u%03d" : "u%03d", e / N_SEQ);
  b->len = 0;
  ck_assert_int_eq(lsm_ikey_append(b, lsm_slice_make(tmp, (size_t)n),
                                   (uint64_t)(N_SEQ - e % N_SEQ), LSM_KIND_PUT),
                   LSM_OK);
}

/* The value child c stores for entry e. */
static int value_of(char *out, size_t cap, int c, int e) {
  return snprintf(out, cap, "c%d-e%d", c, e);
}

typedef struct world {
  int n_children;
  int owner[N_USER * N_SEQ];     /* child holding entry e, or -1 */
  lsm_block_builder builders[MAX_CHILDREN];
  int sorted[N_USER * N_SEQ];    /* entries held by some child, in order */
  int n_sorted;
} world;

/* Spread a random subset of the universe over n random children and build
** the merging iterator over them. */
static lsm_it *make_world(world *w) {
  lsm_buffer k = {0};
  lsm_it **children;
  int c, e;
  w->n_children = (int)(rnd() % (MAX_CHILDREN + 1));
  w->n_sorted = 0;
  for (c = 0; c < w->n_children; c++) lsm_block_builder_init(&w->builders[c], 1 + (int)(rnd() % 4));
  c = 0;
  for (e = 0; e < N_USER * N_SEQ; e++) {
    w->owner[e] = -1;
    if (w->n_children == 0 || rnd() % 3 == 0) continue;
    if (!sticky || e == 0 || rnd() % 8 == 0) c = (int)(rnd() % (uint64_t)w->n_children);
    w->owner[e] = c;
    w->sorted[w->n_sorted++] = e;
    {
      char v[32];
      int n = value_of(v, sizeof v, c, e);
      universe_key(&k, e);
      ck_assert_int_eq(lsm_block_builder_add(&w->builders[c], lsm_slice_make(k.data, k.len),
                                             lsm_slice_make(v, (size_t)n)), LSM_OK);
    }
  }
  children = calloc((size_t)w->n_children + 1, sizeof(*children));
  ck_assert_ptr_nonnull(children);
  for (c = 0; c < w->n_children; c++) {
    lsm_slice contents;
    ck_assert_int_eq(lsm_block_builder_finish(&w->builders[c], &contents), LSM_OK);
    children[c] = lsm_block_iter_new(contents, NULL, NULL);
    ck_assert_ptr_nonnull(children[c]);
  }
  lsm_buffer_free(&k);
  return lsm_it_new_merging(children, w->n_children);
}

static void free_world(world *w, lsm_it *m) {
  int c;
  lsm_it_free(m);
  for (c = 0; c < w->n_children; c++) lsm_block_builder_free(&w->builders[c]);
}

/* The merged iterator is at reference position pos (-1 or n_sorted: off
** either end, i.e. invalid). */
static void expect_at(const world *w, lsm_it *m, int pos, const char *op) {
  lsm_buffer k = {0};
  char v[32];
  int e, n;
  ck_assert_int_eq(lsm_it_status(m), LSM_OK);
  if (pos < 0 || pos >= w->n_sorted) {
    ck_assert_msg(!lsm_it_valid(m), "after %s: expected the end, iterator is valid", op);
    return;
  }
  ck_assert_msg(lsm_it_valid(m), "after %s: expected entry %d, iterator is invalid", op,
                w->sorted[pos]);
  e = w->sorted[pos];
  universe_key(&k, e);
  ck_assert_msg(lsm_slice_cmp(lsm_it_key(m), lsm_slice_make(k.data, k.len)) == 0,
                "after %s: wrong key (expected entry %d)", op, e);
  n = value_of(v, sizeof v, w->owner[e], e);
  ck_assert_msg(lsm_slice_cmp(lsm_it_value(m), lsm_slice_make(v, (size_t)n)) == 0,
                "after %s: wrong value (expected child %d's)", op, w->owner[e]);
  lsm_buffer_free(&k);
}

/* After a fused step (next_key/prev_key) that returned valid and key: the
** same as the iterator says, and the reference position. */
static void expect_step(const world *w, lsm_it *m, int valid, lsm_slice key, int pos,
                        const char *op) {
  ck_assert_int_eq(valid, lsm_it_valid(m));
  if (valid) ck_assert_int_eq(lsm_slice_cmp(key, lsm_it_key(m)), 0);
  expect_at(w, m, pos, op);
}

/* First reference position whose entry is >= e (internal order is entry
** order). */
static int lower_bound(const world *w, int e) {
  int i = 0;
  while (i < w->n_sorted && w->sorted[i] < e) i++;
  return i;
}

static void random_walks(int rounds) {
  int round;
  for (round = 0; round < rounds; round++) {
    world w;
    lsm_it *m = make_world(&w);
    lsm_buffer target = {0};
    int pos = -1, step;
    ck_assert_ptr_nonnull(m);
    ck_assert(!lsm_it_valid(m));
    for (step = 0; step < 200; step++) {
      int op = (int)(rnd() % 10);
      int valid = pos >= 0 && pos < w.n_sorted;
      if (op == 0) {
        lsm_it_first(m);
        pos = 0;
        expect_at(&w, m, pos, "first");
      } else if (op == 1) {
        lsm_it_last(m);
        pos = w.n_sorted - 1;
        expect_at(&w, m, pos, "last");
      } else if (op == 2 || op == 3) {
        int e = (int)(rnd() % (N_USER * N_SEQ));
        universe_key(&target, e);
        if (op == 2) {
          lsm_it_seek(m, lsm_slice_make(target.data, target.len));
          pos = lower_bound(&w, e);
          expect_at(&w, m, pos, "seek");
        } else {
          lsm_it_seek_le(m, lsm_slice_make(target.data, target.len));
          pos = lower_bound(&w, e + 1) - 1;
          expect_at(&w, m, pos, "seek_le");
        }
      } else if (valid && op < 7) {
        pos++;
        if (rnd() % 2) {
          lsm_slice k;
          int v = lsm_it_next_key(m, &k);
          expect_step(&w, m, v, k, pos, "next_key");
        } else {
          lsm_it_next(m);
          expect_at(&w, m, pos, "next");
        }
      } else if (valid) {
        pos--;
        if (rnd() % 2) {
          lsm_slice k;
          int v = lsm_it_prev_key(m, &k);
          expect_step(&w, m, v, k, pos, "prev_key");
        } else {
          lsm_it_prev(m);
          expect_at(&w, m, pos, "prev");
        }
      }
    }
    lsm_buffer_free(&target);
    free_world(&w, m);
  }
}

START_TEST(merge_random_walks_match_a_sorted_reference) {
  rng_state = lsm_test_seed("test_iter");
  long_keys = sticky = 0;
  random_walks(300);
}
END_TEST

/* Runs of entries from one child take the merge's shortcut (the moved
** child still ranks below the runner-up); long keys sharing their first 8
** bytes make every rank tie, which must not. */
START_TEST(merge_random_walks_with_runs_from_one_child_and_shared_prefixes) {
  rng_state = lsm_test_seed("test_iter") + 2;
  sticky = 1;
  long_keys = 0;
  random_walks(200);
  long_keys = 1;
  random_walks(200);
  sticky = 0;
  random_walks(100);
  long_keys = sticky = 0;
}
END_TEST

START_TEST(merge_full_scans_both_ways_visit_every_entry_once) {
  int round;
  rng_state = lsm_test_seed("test_iter") + 1;
  for (round = 0; round < 100; round++) {
    world w;
    lsm_it *m = make_world(&w);
    int pos;
    ck_assert_ptr_nonnull(m);
    for (lsm_it_first(m), pos = 0; lsm_it_valid(m); lsm_it_next(m), pos++) {
      expect_at(&w, m, pos, "next");
    }
    ck_assert_int_eq(pos, w.n_sorted);
    for (lsm_it_last(m), pos = w.n_sorted - 1; lsm_it_valid(m); lsm_it_prev(m), pos--) {
      expect_at(&w, m, pos, "prev");
    }
    ck_assert_int_eq(pos, -1);
    free_world(&w, m);
  }
}
END_TEST

START_TEST(merge_reports_a_child_error_and_a_merge_of_nothing_is_empty) {
  lsm_it **children = calloc(2, sizeof(*children));
  lsm_it *m;
  ck_assert_ptr_nonnull(children);
  children[0] = lsm_it_new_empty(LSM_OK);
  children[1] = lsm_it_new_empty(LSM_CORRUPT);
  m = lsm_it_new_merging(children, 2);
  ck_assert_ptr_nonnull(m);
  lsm_it_first(m);
  ck_assert(!lsm_it_valid(m));
  ck_assert_int_eq(lsm_it_status(m), LSM_CORRUPT);
  lsm_it_free(m);

  m = lsm_it_new_merging(calloc(1, sizeof(lsm_it *)), 0);
  ck_assert_ptr_nonnull(m);
  lsm_it_last(m);
  ck_assert(!lsm_it_valid(m));
  ck_assert_int_eq(lsm_it_status(m), LSM_OK);
  lsm_it_free(m);
}
END_TEST

static Suite *iter_suite(void) {
  Suite *s = suite_create("iter");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, merge_random_walks_match_a_sorted_reference);
  tcase_add_test(tc, merge_random_walks_with_runs_from_one_child_and_shared_prefixes);
  tcase_add_test(tc, merge_full_scans_both_ways_visit_every_entry_once);
  tcase_add_test(tc, merge_reports_a_child_error_and_a_merge_of_nothing_is_empty);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(iter_suite());
  int failed;
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
