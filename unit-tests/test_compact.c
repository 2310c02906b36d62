/*
** test_compact.c — how compaction picks its work (lsm/compact.c): a
** compaction of a sorted level takes the file whose overlap with the next
** level is smallest relative to its own size, and a store filled with
** random keys, its maintenance run inline, ends with every level within its
** target size and level 0 below its trigger, with every row readable.
**
** The picking test builds versions by hand (file metas with only keys and
** sizes; no table behind them); the fill goes through lsm/lsm.h.
** Randomised tests print their seed; set LSM_TEST_SEED to replay one.
*/
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "db_impl.h"
#include "rand_support.h"

/* ---------------------------------------------------------------- helpers */

static uint64_t rng_state;

static uint64_t rnd(void) { return lsm_test_next(&rng_state); }

static void seed_rng(const char *test) { rng_state = lsm_test_seed(test); }

/* A file meta covering user keys [lo, hi] of the given size. */
static lsm_file_meta *meta(const char *lo, const char *hi, uint64_t size) {
  lsm_file_meta *m = lsm_file_meta_new();
  ck_assert_ptr_nonnull(m);
  m->size = size;
  ck_assert_int_eq(lsm_ikey_append(&m->smallest, lsm_slice_make(lo, strlen(lo)), 2, LSM_KIND_PUT),
                   LSM_OK);
  ck_assert_int_eq(lsm_ikey_append(&m->largest, lsm_slice_make(hi, strlen(hi)), 1, LSM_KIND_PUT),
                   LSM_OK);
  return m;
}

/* Level `level` of v holds the n metas given (sorted, disjoint). */
static void set_level(lsm_version *v, int level, lsm_file_meta **files, int n) {
  v->files[level] = files;
  v->n_files[level] = n;
}

static void free_metas(lsm_file_meta **files, int n) {
  int i;
  for (i = 0; i < n; i++) lsm_file_meta_free(files[i]);
}

/* ---------------------------------------------------------------- picking */

START_TEST(compact_picks_the_file_with_the_least_overlap_per_byte) {
  lsm_version v;
  /* Level 1: four files.  Level 2 under them:
  **   a..c  (1 MiB)  over b (4 MiB)               ratio 4
  **   d..f  (1 MiB)  over e (1 MiB)               ratio 1
  **   g..i  (2 MiB)  over h (1 MiB) + i (2 MiB)   ratio 1.5
  **   j..l  (1 MiB)  over nothing                 ratio 0 */
  lsm_file_meta *l1[4], *l2[4];
  memset(&v, 0, sizeof v);
  l1[0] = meta("a", "c", 1 << 20);
  l1[1] = meta("d", "f", 1 << 20);
  l1[2] = meta("g", "i", 2 << 20);
  l1[3] = meta("j", "l", 1 << 20);
  l2[0] = meta("b", "b", 4 << 20);
  l2[1] = meta("e", "e", 1 << 20);
  l2[2] = meta("h", "h", 1 << 20);
  l2[3] = meta("i", "i", 2 << 20);
  set_level(&v, 1, l1, 4);
  set_level(&v, 2, l2, 4);
  ck_assert_int_eq(lsm_compact_pick_file(&v, 1), 3);   /* no overlap at all */

  /* Without the free file, d..f (ratio 1) beats g..i (1.5) and a..c (4). */
  set_level(&v, 1, l1, 3);
  ck_assert_int_eq(lsm_compact_pick_file(&v, 1), 1);

  /* Relative, not absolute: g..i overlaps 3 MiB but is twice as big as
  ** a..c, which overlaps 4 MiB; with e grown to 8 MiB g..i wins. */
  l2[1]->size = 8 << 20;
  ck_assert_int_eq(lsm_compact_pick_file(&v, 1), 2);

  /* An empty next level: every ratio is 0 and the first file is taken. */
  set_level(&v, 2, l2, 0);
  ck_assert_int_eq(lsm_compact_pick_file(&v, 1), 0);
  free_metas(l1, 4);
  free_metas(l2, 4);
}
END_TEST

START_TEST(compact_overlap_counts_files_touching_the_edges) {
  lsm_version v;
  /* A level-2 file that shares only the boundary key with a level-1 file
  ** overlaps it (user keys are inclusive at both ends). */
  lsm_file_meta *l1[2], *l2[3];
  memset(&v, 0, sizeof v);
  l1[0] = meta("c", "e", 1 << 20);
  l1[1] = meta("m", "p", 1 << 20);
  l2[0] = meta("a", "c", 3 << 20);   /* touches c..e at c */
  l2[1] = meta("f", "l", 9 << 20);   /* between them: overlaps neither */
  l2[2] = meta("p", "z", 2 << 20);   /* touches m..p at p */
  set_level(&v, 1, l1, 2);
  set_level(&v, 2, l2, 3);
  ck_assert_int_eq(lsm_compact_pick_file(&v, 1), 1);   /* 2 MiB < 3 MiB */
  l2[2]->size = 4 << 20;
  ck_assert_int_eq(lsm_compact_pick_file(&v, 1), 0);
  free_metas(l1, 2);
  free_metas(l2, 3);
}
END_TEST

/* ---------------------------------------------------------------- shape */

static uint64_t level_target(const lsm_options *o, int level) {
  uint64_t t = o->l1_target_bytes;
  int l;
  for (l = 1; l < level; l++) t *= (uint64_t)o->level_multiplier;
  return t;
}

START_TEST(compact_random_fill_keeps_every_level_within_its_target) {
  char dir[] = "/tmp/lsm_test_compact_XXXXXX";
  lsm_options o;
  lsm_db *db = NULL;
  lsm_stats st;
  int i, level, deepest = 0;
  const int rows = 40000;
  seed_rng("compact_random_fill_keeps_every_level_within_its_target");
  ck_assert_ptr_nonnull(mkdtemp(dir));
  lsm_options_init(&o);
  o.memtable_size = 16 * 1024;
  o.block_size = 1024;
  o.target_file_size = 16 * 1024;
  o.l1_target_bytes = 64 * 1024;
  o.level_multiplier = 4;
  o.l0_compaction_trigger = 3;
  o.background = 0;   /* every needed compaction ran when a write returns */
  o.sync_mode = LSM_SYNC_OFF;
  ck_assert_int_eq(lsm_open(dir, &o, &db), LSM_OK);
  for (i = 0; i < rows; i++) {
    char k[32], v[64];
    lsm_batch *b;
    snprintf(k, sizeof k, "%016llx", (unsigned long long)(rnd() % 1000000));
    snprintf(v, sizeof v, "value-%d-%s", i, k);
    ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
    ck_assert_int_eq(lsm_batch_put(b, k, strlen(k), v, strlen(v)), LSM_OK);
    ck_assert_int_eq(lsm_write(db, b, 0), LSM_OK);
    lsm_batch_free(b);
  }
  ck_assert_int_eq(lsm_get_stats(db, &st), LSM_OK);
  ck_assert_uint_gt(st.compactions, 0);
  for (level = 0; level < LSM_MAX_LEVELS; level++) {
    if (st.level[level].files > 0) deepest = level;
  }
  ck_assert_int_ge(deepest, 3);   /* the fill reached several levels */
  ck_assert_int_lt(st.level[0].files, o.l0_compaction_trigger);
  for (level = 1; level < deepest; level++) {
    ck_assert_msg(st.level[level].bytes <= level_target(&o, level),
                  "level %d holds %llu bytes, target %llu", level,
                  (unsigned long long)st.level[level].bytes,
                  (unsigned long long)level_target(&o, level));
  }
  ck_assert_int_eq(lsm_check(db), LSM_OK);
  ck_assert_int_eq(lsm_close(db), LSM_OK);
  ck_assert_int_eq(lsm_destroy(dir, NULL), LSM_OK);
}
END_TEST

/* Level 0 below its trigger stays as it is under point reads, and is
** merged into level 1 by the background thread once iterator positionings
** have charged its tables their compaction's cost (db.c, "Read-triggered
** compaction"); every row is still there afterwards. */
static void fill_range(lsm_db *db, int from, int to) {
  lsm_batch *b;
  int i;
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  for (i = from; i < to; i++) {
    char k[32], v[64];
    /* interleaved ranges: each level-0 table spans the whole key space */
    snprintf(k, sizeof k, "key%08d", (i * 7919) % 4000);
    snprintf(v, sizeof v, "value-%d", i);
    ck_assert_int_eq(lsm_batch_put(b, k, strlen(k), v, strlen(v)), LSM_OK);
  }
  ck_assert_int_eq(lsm_write(db, b, 0), LSM_OK);
  lsm_batch_free(b);
  ck_assert_int_eq(lsm_flush(db), LSM_OK);
}

static int level0_files(lsm_db *db) {
  lsm_stats st;
  ck_assert_int_eq(lsm_get_stats(db, &st), LSM_OK);
  return st.level[0].files;
}

START_TEST(compact_iterator_seeks_merge_level0_down_point_reads_do_not) {
  char dir[] = "/tmp/lsm_test_compact_XXXXXX";
  lsm_options o;
  lsm_db *db = NULL;
  lsm_iter *it = NULL;
  int i, n, waited;
  ck_assert_ptr_nonnull(mkdtemp(dir));
  lsm_options_init(&o);
  o.memtable_size = 1 << 20;   /* only lsm_flush makes tables */
  o.block_size = 1024;
  o.sync_mode = LSM_SYNC_OFF;
  o.background = 1;
  ck_assert_int_eq(lsm_open(dir, &o, &db), LSM_OK);
  fill_range(db, 0, 2000);
  fill_range(db, 2000, 4000);
  ck_assert_int_eq(level0_files(db), 2);   /* below the trigger (4) */

  for (i = 0; i < 20000; i++) {
    char k[32];
    snprintf(k, sizeof k, "key%08d", i % 4000);
    ck_assert_int_eq(lsm_get(db, NULL, k, strlen(k), NULL), LSM_OK);
  }
  usleep(200 * 1000);
  ck_assert_int_eq(level0_files(db), 2);

  /* Two tables of about 60 KiB over an empty level 1: a budget of about
  ** 120 units, two per seek. */
  ck_assert_int_eq(lsm_iter_new(db, NULL, NULL, &it), LSM_OK);
  for (i = 0; i < 200; i++) {
    char k[32];
    snprintf(k, sizeof k, "key%08d", (i * 31) % 4000);
    ck_assert_int_eq(lsm_iter_seek(it, k, strlen(k)), LSM_OK);
    ck_assert(lsm_iter_valid(it));
  }
  lsm_iter_free(it);
  for (waited = 0; level0_files(db) > 0 && waited < 10000; waited += 10) usleep(10 * 1000);
  ck_assert_int_eq(level0_files(db), 0);

  ck_assert_int_eq(lsm_iter_new(db, NULL, NULL, &it), LSM_OK);
  n = 0;
  ck_assert_int_eq(lsm_iter_first(it), LSM_OK);
  while (lsm_iter_valid(it)) {
    n++;
    ck_assert_int_eq(lsm_iter_next(it), LSM_OK);
  }
  ck_assert_int_eq(lsm_iter_status(it), LSM_OK);
  ck_assert_int_eq(n, 4000);
  lsm_iter_free(it);
  ck_assert_int_eq(lsm_check(db), LSM_OK);
  ck_assert_int_eq(lsm_close(db), LSM_OK);
  ck_assert_int_eq(lsm_destroy(dir, NULL), LSM_OK);
}
END_TEST

static Suite *compact_suite(void) {
  Suite *s = suite_create("compact");
  TCase *tc = tcase_create("compact");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, compact_picks_the_file_with_the_least_overlap_per_byte);
  tcase_add_test(tc, compact_overlap_counts_files_touching_the_edges);
  tcase_add_test(tc, compact_random_fill_keeps_every_level_within_its_target);
  tcase_add_test(tc, compact_iterator_seeks_merge_level0_down_point_reads_do_not);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(compact_suite());
  int failed;
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
