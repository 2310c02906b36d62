/*
** db_test_support.c — engine helpers for the whole-db Check programs
** (db_test_support.h).
*/
#include "db_test_support.h"

#include <check.h>
#include <string.h>

void lsm_test_small_options(lsm_options *o) {
  lsm_options_init(o);
  o->memtable_size = 8 * 1024;
  o->block_size = 512;
  o->target_file_size = 16 * 1024;
  o->l1_target_bytes = 32 * 1024;
  o->level_multiplier = 4;
  o->l0_compaction_trigger = 3;
}

lsm_db *lsm_test_open(const char *dir, const lsm_options *o) {
  lsm_db *db = NULL;
  int rc = lsm_open(dir, o, &db);
  ck_assert_msg(rc == LSM_OK, "open %s: %d %s", dir, rc, db ? lsm_errmsg(db) : "");
  return db;
}

void lsm_test_put(lsm_db *db, const char *k, const char *v) {
  lsm_batch *b;
  int rc;
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  ck_assert_int_eq(lsm_batch_put(b, k, strlen(k), v, strlen(v)), LSM_OK);
  rc = lsm_write(db, b, 0);
  lsm_batch_free(b);
  ck_assert_msg(rc == LSM_OK, "put %s: %d %s", k, rc, lsm_errmsg(db));
}
