/*
** test_tcache.c — the table cache (lsm/tcache.h) and the bounds it puts on
** the engine: one open table per file number, shared; least recently used
** tables closed beyond max_open or when their metadata outgrows the block
** cache's capacity (to which it is charged, ahead of data blocks); a table
** still in use outlives its eviction; a table that cannot be opened is an
** error naming the file, at the read that needs it.  Then through lsm.h:
** max_open_files and cache_size bound the open tables of a database whose
** reads stay right.
*/
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "coding.h"
#include "lsm.h"
#include "tcache.h"
#include "workload.h"

#define DIR "tcache-dir"
#define KEYS_PER_TABLE 5000

/* Table `number` of DIR: keys "t<number>-<i>", i < KEYS_PER_TABLE. */
static uint64_t make_table(uint64_t number) {
  lsm_sst_options o = {4096, 10, 0};
  lsm_sst_builder *b = NULL;
  lsm_sst_info info;
  lsm_buffer k = {0};
  char path[64], key[32];
  int i;
  snprintf(path, sizeof path, DIR "/%06llu.sst", (unsigned long long)number);
  ck_assert_int_eq(lsm_sst_builder_new(lsm_env_default(), path, &o, &b), LSM_OK);
  for (i = 0; i < KEYS_PER_TABLE; i++) {
    snprintf(key, sizeof key, "t%llu-%04d", (unsigned long long)number, i);
    k.len = 0;
    ck_assert_int_eq(lsm_ikey_append(&k, lsm_slice_make(key, strlen(key)), 1, LSM_KIND_PUT),
                     LSM_OK);
    ck_assert_int_eq(lsm_sst_builder_add(b, lsm_slice_make(k.data, k.len),
                                         lsm_slice_make("value", 5)), LSM_OK);
  }
  memset(&info, 0, sizeof info);
  ck_assert_int_eq(lsm_sst_builder_finish(b, &info), LSM_OK);
  lsm_buffer_free(&info.smallest);
  lsm_buffer_free(&info.largest);
  lsm_buffer_free(&k);
  return info.file_size;
}

static uint64_t sizes[8];

static void setup_tables(void) {
  uint64_t n;
  lsm_test_remove_tree(DIR);
  ck_assert_int_eq(mkdir(DIR, 0755), 0);
  for (n = 1; n <= 4; n++) sizes[n] = make_table(n);
}

/* Is key i of table `number` found through t? */
static int finds(lsm_sst *t, uint64_t number, int i) {
  char key[32];
  int found = 0, kind = 0;
  snprintf(key, sizeof key, "t%llu-%04d", (unsigned long long)number, i);
  ck_assert_int_eq(lsm_sst_get(t, lsm_slice_make(key, strlen(key)), 10, &found, &kind, NULL,
                               NULL, NULL), LSM_OK);
  return found;
}

static lsm_sst *get(lsm_tcache *tc, uint64_t number) {
  lsm_sst *t = NULL;
  lsm_buffer err = {0};
  int rc = lsm_tcache_get(tc, number, sizes[number], &t, &err);
  ck_assert_msg(rc == LSM_OK, "get %llu: %d %s", (unsigned long long)number, rc,
                err.len ? (char *)err.data : "");
  lsm_buffer_free(&err);
  return t;
}

START_TEST(tcache_shares_one_open_table_per_number) {
  lsm_tcache *tc;
  lsm_tcache_stats st;
  lsm_sst *a, *b;
  setup_tables();
  tc = lsm_tcache_new(lsm_env_default(), DIR, NULL, 10);
  ck_assert_ptr_nonnull(tc);
  a = get(tc, 1);
  b = get(tc, 1);
  ck_assert_ptr_eq(a, b);
  ck_assert(finds(a, 1, 7));
  lsm_sst_unref(a);
  lsm_sst_unref(b);
  lsm_tcache_get_stats(tc, &st);
  ck_assert_uint_eq(st.open, 1);
  ck_assert_uint_eq(st.opens, 1);
  ck_assert_uint_gt(st.bytes, 0);
  lsm_tcache_evict(tc, 1);
  lsm_tcache_get_stats(tc, &st);
  ck_assert_uint_eq(st.open, 0);
  ck_assert_uint_eq(st.bytes, 0);
  lsm_tcache_free(tc);
  lsm_test_remove_tree(DIR);
}
END_TEST

START_TEST(tcache_closes_least_recently_used_beyond_max_open) {
  lsm_tcache *tc;
  lsm_tcache_stats st;
  lsm_sst *held;
  setup_tables();
  tc = lsm_tcache_new(lsm_env_default(), DIR, NULL, 2);
  held = get(tc, 1);               /* kept by the caller through eviction */
  lsm_sst_unref(get(tc, 2));
  lsm_sst_unref(get(tc, 1));       /* 1 is now the most recent */
  lsm_sst_unref(get(tc, 3));       /* evicts 2, the least recent */
  lsm_tcache_get_stats(tc, &st);
  ck_assert_uint_eq(st.open, 2);
  ck_assert_uint_eq(st.opens, 3);
  lsm_sst_unref(get(tc, 1));       /* still open: a hit */
  lsm_tcache_get_stats(tc, &st);
  ck_assert_uint_eq(st.opens, 3);
  lsm_sst_unref(get(tc, 2));       /* reopened; evicts 3 */
  lsm_sst_unref(get(tc, 4));       /* evicts 1, which `held` keeps open */
  lsm_tcache_get_stats(tc, &st);
  ck_assert_uint_eq(st.open, 2);
  ck_assert_uint_eq(st.opens, 5);
  ck_assert(finds(held, 1, KEYS_PER_TABLE - 1));
  ck_assert(!finds(held, 2, 0));
  lsm_sst_unref(held);
  lsm_tcache_free(tc);
  lsm_test_remove_tree(DIR);
}
END_TEST

START_TEST(tcache_charges_metadata_to_the_block_cache_and_keeps_within_it) {
  lsm_tcache *tc;
  lsm_tcache_stats st;
  lsm_cache_stats cs;
  lsm_cache *blocks;
  lsm_sst *t;
  size_t one, block;
  setup_tables();
  /* Measure one table's metadata and one data block's charge, then allow
  ** room for two tables and half a block: one table and a block fit. */
  blocks = lsm_cache_new(1u << 20);
  tc = lsm_tcache_new(lsm_env_default(), DIR, blocks, 10);
  t = get(tc, 1);
  ck_assert(finds(t, 1, 3));
  lsm_sst_unref(t);
  lsm_tcache_get_stats(tc, &st);
  lsm_cache_get_stats(blocks, &cs);
  one = st.bytes;
  block = cs.usage - cs.reserved;
  ck_assert_uint_gt(one, block / 2);
  lsm_tcache_free(tc);
  lsm_cache_free(blocks);

  blocks = lsm_cache_new(2 * one + block / 2);
  tc = lsm_tcache_new(lsm_env_default(), DIR, blocks, 10);
  /* A data block in the cache: metadata makes data blocks go first. */
  t = get(tc, 1);
  ck_assert(finds(t, 1, 3));
  lsm_sst_unref(t);
  lsm_cache_get_stats(blocks, &cs);
  ck_assert_uint_eq(cs.entries, 1);
  lsm_sst_unref(get(tc, 2));
  lsm_cache_get_stats(blocks, &cs);
  lsm_tcache_get_stats(tc, &st);
  ck_assert_uint_eq(st.open, 2);
  ck_assert_uint_eq(cs.reserved, st.bytes);
  ck_assert_uint_le(cs.usage, cs.capacity);
  ck_assert_uint_eq(cs.entries, 0);        /* the data block was evicted */
  lsm_sst_unref(get(tc, 3));               /* three do not fit: 1 goes */
  lsm_tcache_get_stats(tc, &st);
  lsm_cache_get_stats(blocks, &cs);
  ck_assert_uint_eq(st.open, 2);
  ck_assert_uint_eq(cs.reserved, st.bytes);
  ck_assert_uint_le(cs.usage, cs.capacity);
  lsm_tcache_free(tc);
  lsm_cache_get_stats(blocks, &cs);
  ck_assert_uint_eq(cs.reserved, 0);
  lsm_cache_free(blocks);
  lsm_test_remove_tree(DIR);
}
END_TEST

START_TEST(tcache_reports_a_missing_or_damaged_table_naming_it) {
  lsm_tcache *tc;
  lsm_tcache_stats st;
  lsm_sst *t = NULL;
  lsm_buffer err = {0};
  lsm_it *it;
  FILE *f;
  setup_tables();
  tc = lsm_tcache_new(lsm_env_default(), DIR, NULL, 10);
  ck_assert_int_eq(lsm_tcache_get(tc, 9, 1000, &t, &err), LSM_CORRUPT);
  ck_assert_ptr_null(t);
  ck_assert_msg(strstr((char *)err.data, "000009.sst") != NULL, "%s", (char *)err.data);
  /* Damage table 2's footer magic. */
  f = fopen(DIR "/000002.sst", "r+b");
  ck_assert_ptr_nonnull(f);
  fseek(f, (long)sizes[2] - 1, SEEK_SET);
  fputc(0, f);
  fclose(f);
  err.len = 0;
  ck_assert_int_eq(lsm_tcache_get(tc, 2, sizes[2], &t, &err), LSM_CORRUPT);
  ck_assert_msg(strstr((char *)err.data, "000002.sst") != NULL, "%s", (char *)err.data);
  /* An iterator over it is invalid and says why. */
  it = lsm_tcache_iter_new(tc, 2, sizes[2], 1);
  ck_assert_ptr_nonnull(it);
  lsm_it_first(it);
  ck_assert(!lsm_it_valid(it));
  ck_assert_int_eq(lsm_it_status(it), LSM_CORRUPT);
  ck_assert_msg(strstr(lsm_it_errmsg(it), "000002.sst") != NULL, "%s", lsm_it_errmsg(it));
  lsm_it_free(it);
  /* Failures are not cached. */
  lsm_tcache_get_stats(tc, &st);
  ck_assert_uint_eq(st.open, 0);
  lsm_buffer_free(&err);
  lsm_tcache_free(tc);
  lsm_test_remove_tree(DIR);
}
END_TEST

/* ---------------------------------------------------------------- lsm.h */

#define DB_DIR "tcache-db"
#define N_KEYS 20000

static void key_of(int i, char *key) {
  snprintf(key, 16, "k%08d", (int)((i * 7919u) % N_KEYS));
}

/* A database of many small tables on several levels. */
static void fill(lsm_db *db) {
  lsm_batch *b = NULL;
  char key[16], val[100];
  int i;
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  memset(val, 'v', sizeof val);
  for (i = 0; i < N_KEYS; i++) {
    key_of(i, key);
    ck_assert_int_eq(lsm_batch_put(b, key, strlen(key), val, sizeof val), LSM_OK);
    if (i % 500 == 499) {
      ck_assert_int_eq(lsm_write(db, b, 0), LSM_OK);
      lsm_batch_clear(b);
    }
  }
  lsm_batch_free(b);
  ck_assert_int_eq(lsm_flush(db), LSM_OK);
}

static void read_all(lsm_db *db) {
  lsm_buffer val = {0};
  lsm_iter *it = NULL;
  char key[16];
  int i, n = 0;
  for (i = 0; i < N_KEYS; i++) {
    key_of(i, key);
    ck_assert_int_eq(lsm_get(db, NULL, key, strlen(key), &val), LSM_OK);
    ck_assert_uint_eq(val.len, 100);
  }
  ck_assert_int_eq(lsm_get(db, NULL, "k0", 2, &val), LSM_NOTFOUND);
  ck_assert_int_eq(lsm_iter_new(db, NULL, NULL, &it), LSM_OK);
  for (lsm_iter_first(it); lsm_iter_valid(it); lsm_iter_next(it)) n++;
  ck_assert_int_eq(lsm_iter_status(it), LSM_OK);
  ck_assert_int_eq(n, N_KEYS);
  lsm_iter_free(it);
  lsm_buffer_free(&val);
}

static int table_count(const lsm_stats *st) {
  int l, n = 0;
  for (l = 0; l < LSM_MAX_LEVELS; l++) n += st->level[l].files;
  return n;
}

static void small_tables(lsm_options *o) {
  lsm_options_init(o);
  o->memtable_size = 64 * 1024;
  o->target_file_size = 32 * 1024;
  o->l1_target_bytes = 128 * 1024;
  o->background = 0;
  o->sync_mode = LSM_SYNC_OFF;
}

START_TEST(db_keeps_at_most_max_open_files_tables_open) {
  lsm_options o;
  lsm_db *db = NULL;
  lsm_stats st;
  lsm_test_remove_tree(DB_DIR);
  small_tables(&o);
  o.max_open_files = 3;
  ck_assert_int_eq(lsm_open(DB_DIR, &o, &db), LSM_OK);
  fill(db);
  read_all(db);
  ck_assert_int_eq(lsm_get_stats(db, &st), LSM_OK);
  ck_assert_int_gt(table_count(&st), 10);
  ck_assert_uint_le(st.open_tables, 3);
  ck_assert_uint_gt(st.table_opens, (uint64_t)table_count(&st));
  ck_assert_int_eq(lsm_close(db), LSM_OK);
  /* Reopened: nothing is open until read. */
  ck_assert_int_eq(lsm_open(DB_DIR, &o, &db), LSM_OK);
  ck_assert_int_eq(lsm_get_stats(db, &st), LSM_OK);
  ck_assert_uint_eq(st.open_tables, 0);
  read_all(db);
  ck_assert_int_eq(lsm_check(db), LSM_OK);
  ck_assert_int_eq(lsm_close(db), LSM_OK);
  o.max_open_files = 0;
  ck_assert_int_eq(lsm_open(DB_DIR, &o, &db), LSM_MISUSE);
  lsm_close(db);
  lsm_test_remove_tree(DB_DIR);
}
END_TEST

START_TEST(db_cache_size_bounds_data_blocks_and_table_metadata_together) {
  lsm_options o;
  lsm_db *db = NULL;
  lsm_stats st;
  lsm_test_remove_tree(DB_DIR);
  small_tables(&o);
  o.cache_size = 16 * 1024;
  ck_assert_int_eq(lsm_open(DB_DIR, &o, &db), LSM_OK);
  fill(db);
  read_all(db);
  ck_assert_int_eq(lsm_get_stats(db, &st), LSM_OK);
  ck_assert_uint_gt(st.open_tables, 0);
  ck_assert_uint_lt(st.open_tables, (uint64_t)table_count(&st));
  ck_assert_uint_le(st.open_table_bytes, st.cache_bytes);
  ck_assert_uint_le(st.cache_bytes, o.cache_size);
  ck_assert_int_eq(lsm_close(db), LSM_OK);
  /* With room for all of it, every table stays open. */
  o.cache_size = 8u << 20;
  ck_assert_int_eq(lsm_open(DB_DIR, &o, &db), LSM_OK);
  read_all(db);
  ck_assert_int_eq(lsm_get_stats(db, &st), LSM_OK);
  ck_assert_uint_eq(st.open_tables, (uint64_t)table_count(&st));
  ck_assert_uint_eq(st.table_opens, (uint64_t)table_count(&st));
  ck_assert_uint_gt(st.cache_bytes, st.open_table_bytes);   /* and data blocks */
  ck_assert_int_eq(lsm_close(db), LSM_OK);
  lsm_test_remove_tree(DB_DIR);
}
END_TEST

START_TEST(db_missing_table_fails_the_open_naming_it) {
  lsm_options o;
  lsm_db *db = NULL;
  uint64_t numbers[1024];
  char path[128], name[32];
  int n;
  lsm_test_remove_tree(DB_DIR);
  small_tables(&o);
  ck_assert_int_eq(lsm_open(DB_DIR, &o, &db), LSM_OK);
  fill(db);
  ck_assert_int_eq(lsm_close(db), LSM_OK);
  n = lsm_test_manifest_tables(DB_DIR, numbers, 1024);
  ck_assert_int_gt(n, 0);
  snprintf(name, sizeof name, "%06llu.sst", (unsigned long long)numbers[n - 1]);
  snprintf(path, sizeof path, DB_DIR "/%s", name);
  ck_assert_int_eq(remove(path), 0);
  ck_assert_int_eq(lsm_open(DB_DIR, &o, &db), LSM_CORRUPT);
  ck_assert_msg(strstr(lsm_errmsg(db), name) != NULL, "%s", lsm_errmsg(db));
  lsm_close(db);
  lsm_test_remove_tree(DB_DIR);
}
END_TEST

int main(void) {
  Suite *s = suite_create("tcache");
  TCase *tc = tcase_create("tcache");
  SRunner *sr;
  int failed;
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, tcache_shares_one_open_table_per_number);
  tcase_add_test(tc, tcache_closes_least_recently_used_beyond_max_open);
  tcase_add_test(tc, tcache_charges_metadata_to_the_block_cache_and_keeps_within_it);
  tcase_add_test(tc, tcache_reports_a_missing_or_damaged_table_naming_it);
  tcase_add_test(tc, db_keeps_at_most_max_open_files_tables_open);
  tcase_add_test(tc, db_cache_size_bounds_data_blocks_and_table_metadata_together);
  tcase_add_test(tc, db_missing_table_fails_the_open_naming_it);
  suite_add_tcase(s, tc);
  lsm_test_enter_fast_dir();
  sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  lsm_test_leave_fast_dir();
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
