/*
** test_quirks.c — unit tests for ext/quirks.c: the LIMIT/OFFSET pushdown
** check answers for the SQLite linked here, agrees with what that SQLite
** does (checked with a second, independent probe written in the test), and
** leaves no module behind.
*/
#include <check.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>
#include "quirks.h"
#include "ext_test_support.h"

/* An independent witness: a virtual table recording whether LIMIT reached
** xBestIndex for `WHERE a >= b LIMIT 5`. */
static int g_offered;

static int w_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                     sqlite3_vtab **pp, char **err) {
  static sqlite3_vtab v;
  (void)aux; (void)argc; (void)argv; (void)err;
  memset(&v, 0, sizeof v);
  *pp = &v;
  return sqlite3_declare_vtab(db, "CREATE TABLE x(a, b)");
}
static int w_disconnect(sqlite3_vtab *p) { (void)p; return SQLITE_OK; }
static int w_best(sqlite3_vtab *p, sqlite3_index_info *info) {
  int i;
  (void)p;
  for (i = 0; i < info->nConstraint; i++) {
    if (info->aConstraint[i].op == SQLITE_INDEX_CONSTRAINT_LIMIT) g_offered = 1;
  }
  return SQLITE_OK;
}
static int w_open(sqlite3_vtab *p, sqlite3_vtab_cursor **c) {
  static sqlite3_vtab_cursor cur;
  (void)p;
  *c = &cur;
  return SQLITE_OK;
}
static int w_close(sqlite3_vtab_cursor *c) { (void)c; return SQLITE_OK; }
static int w_filter(sqlite3_vtab_cursor *c, int n, const char *s, int argc,
                    sqlite3_value **argv) {
  (void)c; (void)n; (void)s; (void)argc; (void)argv;
  return SQLITE_OK;
}
static int w_next(sqlite3_vtab_cursor *c) { (void)c; return SQLITE_OK; }
static int w_eof(sqlite3_vtab_cursor *c) { (void)c; return 1; }
static int w_column(sqlite3_vtab_cursor *c, sqlite3_context *x, int i) {
  (void)c; (void)x; (void)i;
  return SQLITE_OK;
}
static int w_rowid(sqlite3_vtab_cursor *c, sqlite3_int64 *r) {
  (void)c;
  *r = 0;
  return SQLITE_OK;
}
static sqlite3_module witness = {
  0, NULL, w_connect, w_best, w_disconnect, NULL, w_open, w_close, w_filter,
  w_next, w_eof, w_column, w_rowid, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL, NULL, NULL, NULL,
#if SQLITE_VERSION_NUMBER >= 3044000
  NULL,
#endif
};

START_TEST(quirks_limit_check_agrees_with_this_sqlite) {
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  int safe;
  ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
  safe = lsmx_limit_pushdown_safe(db);
  ck_assert_int_eq(sqlite3_create_module(db, "witness", &witness, NULL),
                   SQLITE_OK);
  g_offered = 0;
  ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT a FROM witness WHERE a >= b "
                                      "LIMIT 5", -1, &st, NULL), SQLITE_OK);
  sqlite3_finalize(st);
  /* Offering LIMIT past `a >= b` is exactly what makes pushdown unsafe. */
  if (g_offered) ck_assert_int_eq(safe, 0);
  printf("SQLite %s: LIMIT/OFFSET pushdown %s\n", sqlite3_libversion(),
         safe ? "safe" : "unsafe");
  sqlite3_close(db);
}
END_TEST

START_TEST(quirks_check_leaves_no_module_behind) {
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
  lsmx_limit_pushdown_safe(db);
  ck_assert_int_ne(sqlite3_prepare_v2(db, "SELECT * FROM lsm_quirk_probe", -1,
                                      &st, NULL), SQLITE_OK);
  sqlite3_finalize(st);
  /* Twice on one connection: the same answer. */
  ck_assert_int_eq(lsmx_limit_pushdown_safe(db), lsmx_limit_pushdown_safe(db));
  ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
}
END_TEST

static Suite *quirks_suite(void) {
  Suite *s = suite_create("quirks");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, quirks_limit_check_agrees_with_this_sqlite);
  tcase_add_test(tc, quirks_check_leaves_no_module_behind);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return lsmx_test_main("test_quirks", quirks_suite());
}
