/*
** test_affinity.c — unit tests for ext/affinity.c: the values each column
** affinity gives are the values SQLite itself stores in a native column of
** that affinity (SQLite is the oracle: the same values go through a native
** table), plus the rowid conversion of OP_MustBeInt.
*/
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include "affinity.h"
#include "lsm.h"
#include "ext_test_support.h"

static const char *const inputs[] = {
  "1", "-1", "0", "2.5", "3.0", "'4'", "'4.0'", "'  5 '", "'1e2'", "'0x10'",
  "'abc'", "''", "x'00'", "x''", "x'3130'", "'10'", "1e300", "-1e300",
  "9223372036854775807", "-9223372036854775808", "'9223372036854775808'",
  "9007199254740993", "'-0'", "-0.0", "'12abc'", "'.5'", "'5.'", "NULL",
  "'-9223372036854775808'", "'9223372036854775807.0'", "1e18", "-1e19",
};

/* Value of `expr` as SQLite computes it, duplicated (caller frees). */
static sqlite3_value *eval(sqlite3 *db, const char *expr) {
  sqlite3_stmt *st = NULL;
  char *sql = sqlite3_mprintf("SELECT %s", expr);
  sqlite3_value *v;
  ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
  v = sqlite3_value_dup(sqlite3_column_value(st, 0));
  ck_assert_ptr_nonnull(v);
  sqlite3_finalize(st);
  sqlite3_free(sql);
  return v;
}

/* Render an lsmx_value like SQL's quote(). */
static void render(const lsmx_value *v, char *out, size_t n) {
  size_t i, o;
  switch (v->type) {
    case SQLITE_NULL: snprintf(out, n, "NULL"); break;
    case SQLITE_INTEGER: snprintf(out, n, "%lld", (long long)v->i); break;
    case SQLITE_FLOAT: snprintf(out, n, "real:%.17g", v->r); break;
    case SQLITE_TEXT:
      snprintf(out, n, "'%.*s'", (int)v->n, (const char *)v->p);
      break;
    default:
      o = (size_t)snprintf(out, n, "X'");
      for (i = 0; i < v->n && o + 3 < n; i++) {
        o += (size_t)snprintf(out + o, n - o, "%02X", v->p[i]);
      }
      snprintf(out + o, n - o, "'");
      break;
  }
}

/* The same, for what a native column stored. */
static void render_sqlite(sqlite3_value *v, char *out, size_t n) {
  lsmx_value x;
  lsmx_value_from_sqlite(&x, v);
  render(&x, out, n);
}

START_TEST(affinity_matches_native_column_storage) {
  static const struct { const char *decl; char aff; } cols[] = {
    {"INTEGER", 'D'}, {"REAL", 'E'}, {"NUMERIC", 'C'}, {"TEXT", 'B'},
    {"BLOB", 'A'}, {"", 'A'},
  };
  sqlite3 *db = NULL;
  size_t c, i;
  ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
  for (c = 0; c < sizeof cols / sizeof cols[0]; c++) {
    char *sql = sqlite3_mprintf("CREATE TABLE t%d(x %s)", (int)c, cols[c].decl);
    ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_free(sql);
    for (i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
      sqlite3_stmt *st = NULL;
      sqlite3_value *in = eval(db, inputs[i]), *holder = NULL;
      lsmx_value got;
      char want_s[128], got_s[128];
      /* Native: store, read back. */
      sql = sqlite3_mprintf("DELETE FROM t%d; INSERT INTO t%d VALUES(%s)",
                            (int)c, (int)c, inputs[i]);
      ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
      sqlite3_free(sql);
      sql = sqlite3_mprintf("SELECT x FROM t%d", (int)c);
      ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
      ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
      render_sqlite(sqlite3_column_value(st, 0), want_s, sizeof want_s);
      sqlite3_finalize(st);
      sqlite3_free(sql);
      /* Ours. */
      ck_assert_int_eq(lsmx_affinity_apply(in, cols[c].aff, &got, &holder),
                       LSM_OK);
      render(&got, got_s, sizeof got_s);
      ck_assert_msg(strcmp(want_s, got_s) == 0, "%s affinity of %s: native %s, "
                    "ours %s", cols[c].decl, inputs[i], want_s, got_s);
      sqlite3_value_free(holder);
      sqlite3_value_free(in);
    }
  }
  sqlite3_close(db);
}
END_TEST

START_TEST(affinity_rowid_conversion_is_must_be_int) {
  /* Which of the inputs a native rowid table accepts as a rowid, and as
  ** what: INSERT INTO r(rowid) VALUES(x) either stores rowid or fails with
  ** a datatype mismatch. */
  sqlite3 *db = NULL;
  size_t i;
  ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
  ck_assert_int_eq(sqlite3_exec(db, "CREATE TABLE r(a)", NULL, NULL, NULL),
                   SQLITE_OK);
  for (i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
    sqlite3_value *in = eval(db, inputs[i]);
    sqlite3_int64 got = 0, want = 0;
    int ok, native_ok;
    char *sql = sqlite3_mprintf("DELETE FROM r; INSERT INTO r(rowid, a) "
                                "VALUES(%s, 1)", inputs[i]);
    native_ok = sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK;
    sqlite3_free(sql);
    if (native_ok) {
      sqlite3_stmt *st = NULL;
      ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT rowid FROM r", -1, &st,
                                          NULL), SQLITE_OK);
      ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
      want = sqlite3_column_int64(st, 0);
      sqlite3_finalize(st);
    }
    ok = lsmx_value_to_rowid(in, &got);
    if (sqlite3_value_type(in) == SQLITE_NULL) {
      /* NULL means "next rowid" natively; the caller handles it. */
      ck_assert_int_eq(ok, 0);
    } else {
      ck_assert_msg(ok == native_ok, "%s: native %d ours %d", inputs[i],
                    native_ok, ok);
      if (ok) ck_assert_msg(got == want, "%s: %lld vs %lld", inputs[i],
                            (long long)got, (long long)want);
    }
    sqlite3_value_free(in);
  }
  sqlite3_close(db);
}
END_TEST

START_TEST(affinity_real_is_int_excludes_the_extremes) {
  sqlite3_int64 i = 0;
  ck_assert(lsmx_real_is_int(3.0, &i) && i == 3);
  ck_assert(lsmx_real_is_int(-0.0, &i) && i == 0);
  ck_assert(!lsmx_real_is_int(2.5, &i));
  ck_assert(!lsmx_real_is_int(9223372036854775808.0, &i));
  ck_assert(!lsmx_real_is_int(-9223372036854775808.0, &i));
  ck_assert(!lsmx_real_is_int(1e300, &i));
}
END_TEST

static Suite *affinity_suite(void) {
  Suite *s = suite_create("affinity");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, affinity_matches_native_column_storage);
  tcase_add_test(tc, affinity_rowid_conversion_is_must_be_int);
  tcase_add_test(tc, affinity_real_is_int_excludes_the_extremes);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return lsmx_test_main("test_affinity", affinity_suite());
}
