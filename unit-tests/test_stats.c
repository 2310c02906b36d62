/*
** test_stats.c — unit tests for ext/stats.c, the lsm_stats() table-valued
** function: its rows equal lsm_get_stats() of the table it names, level by
** level and for the table-wide counters; the hidden argument columns; the
** errors for an unknown table, a missing or NULL argument, and CREATE
** VIRTUAL TABLE on the eponymous-only module; use in a join, with WHERE on
** the hidden column, and with ORDER BY.
**
** The test opens an lsm database itself and fills it with small memtables
** so that several levels hold tables, then registers lsm_stats on an
** in-memory SQLite database with a lookup function that knows one table,
** main.t.  The module calls SQLite through the extension routine table,
** filled by lsmx_test_init_sqlite_api() in main().
*/
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include "stats.h"
#include "lsm.h"
#include "ext_test_support.h"

/* ---------------------------------------------------------------- fixture */

static lsm_db *g_lsm;        /* the engine behind table main.t */
static sqlite3 *g_db;        /* in-memory database with lsm_stats */
static int g_lookups;        /* calls of the lookup function */
static char g_dir[32];       /* the engine's directory */

static int test_lookup(void *ctx, sqlite3 *db, const char *schema,
                       const char *table, lsm_db **out, char **errmsg) {
  lsm_db *engine = ctx;
  g_lookups++;
  ck_assert_ptr_eq(db, g_db);
  if (strcmp(schema, "main") == 0 && strcmp(table, "t") == 0) {
    *out = engine;
    return SQLITE_OK;
  }
  *errmsg = sqlite3_mprintf("lsm_stats: no lsm table %s.%s", schema, table);
  return SQLITE_ERROR;
}

static void put_batch(lsm_db *db, int from, int n, int del_every) {
  lsm_batch *b;
  char key[32], val[64];
  int i;
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  for (i = from; i < from + n; i++) {
    snprintf(key, sizeof(key), "key%06d", i);
    if (del_every && i % del_every == 0) {
      ck_assert_int_eq(lsm_batch_delete(b, key, strlen(key)), LSM_OK);
    } else {
      snprintf(val, sizeof(val), "value-%d-padding-padding", i);
      ck_assert_int_eq(lsm_batch_put(b, key, strlen(key), val, strlen(val)),
                       LSM_OK);
    }
  }
  ck_assert_int_eq(lsm_write(db, b, 0), LSM_OK);
  lsm_batch_free(b);
}

/* Fill an engine so that level 0 and deeper levels hold tables, some with
** tombstones, and the memtable holds a few entries. */
static void setup(void) {
  lsm_options o;
  int rc, i;

  lsm_options_init(&o);
  o.memtable_size = 4 * 1024;
  o.block_size = 512;
  o.target_file_size = 8 * 1024;
  o.l1_target_bytes = 16 * 1024;
  o.level_multiplier = 4;
  o.l0_compaction_trigger = 3;
  o.sync_mode = LSM_SYNC_OFF;
  /* Flushes and compactions inline, in the writes that call for them: the
  ** fixture's levels and the counters the tests compare stay put. */
  o.background = 0;
  /* A directory of its own for each test case. */
  strcpy(g_dir, "stats_db_XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(g_dir));
  g_lsm = NULL;
  rc = lsm_open(g_dir, &o, &g_lsm);
  ck_assert_msg(rc == LSM_OK, "lsm_open: %d %s", rc,
                g_lsm ? lsm_errmsg(g_lsm) : "");
  for (i = 0; i < 3000; i += 50) put_batch(g_lsm, i, 50, 0);
  /* Deletes of every 7th key: tombstones in the newest tables. */
  for (i = 0; i < 600; i += 50) put_batch(g_lsm, i, 50, 7);
  ck_assert_int_eq(lsm_flush(g_lsm), LSM_OK);
  /* The flush compacted level 0 away.  With so small a memtable each write
  ** flushes the previous one: the second batch puts the first into a
  ** level-0 table and stays in the memtable. */
  put_batch(g_lsm, 5000, 5, 0);
  put_batch(g_lsm, 6000, 3, 0);

  ck_assert_int_eq(sqlite3_open(":memory:", &g_db), SQLITE_OK);
  ck_assert_int_eq(lsmx_stats_register(g_db, test_lookup, g_lsm), SQLITE_OK);
  g_lookups = 0;
}

static void teardown(void) {
  ck_assert_int_eq(sqlite3_close(g_db), SQLITE_OK);
  ck_assert_int_eq(lsm_close(g_lsm), LSM_OK);
  g_db = NULL;
  g_lsm = NULL;
}

/* Prepare sql, failing the test with SQLite's message if it does not. */
static sqlite3_stmt *prepare(const char *sql) {
  sqlite3_stmt *st = NULL;
  int rc = sqlite3_prepare_v2(g_db, sql, -1, &st, NULL);
  ck_assert_msg(rc == SQLITE_OK, "prepare '%s': %s", sql, sqlite3_errmsg(g_db));
  return st;
}

/* Run sql, which must fail; returns a copy of the error message. */
static char *expect_error(const char *sql) {
  sqlite3_stmt *st = NULL;
  char *msg;
  int rc = sqlite3_prepare_v2(g_db, sql, -1, &st, NULL);
  if (rc == SQLITE_OK) {
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    }
    ck_assert_msg(rc != SQLITE_DONE, "'%s' succeeded", sql);
  }
  msg = strdup(sqlite3_errmsg(g_db));
  sqlite3_finalize(st);
  return msg;
}

/* The single integer result of sql. */
static sqlite3_int64 query_int(const char *sql) {
  sqlite3_stmt *st = prepare(sql);
  sqlite3_int64 v;
  ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
  v = sqlite3_column_int64(st, 0);
  ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
  sqlite3_finalize(st);
  return v;
}

/* ---------------------------------------------------------------- tests */

START_TEST(fixture_has_tables_on_several_levels) {
  /* Guards the other tests: they only mean something if the engine really
  ** has files at level 0 and below. */
  lsm_stats s;
  int i, levels_with_files = 0;
  uint64_t tombstones = 0;
  ck_assert_int_eq(lsm_get_stats(g_lsm, &s), LSM_OK);
  for (i = 0; i < LSM_MAX_LEVELS; i++) {
    if (s.level[i].files > 0) levels_with_files++;
    tombstones += s.level[i].tombstones;
  }
  ck_assert_int_gt(s.level[0].files, 0);
  ck_assert_int_ge(levels_with_files, 2);
  ck_assert_uint_gt(tombstones, 0);
  ck_assert_uint_gt(s.memtable_entries, 0);
}
END_TEST

START_TEST(rows_match_lsm_get_stats_level_by_level) {
  sqlite3_stmt *st = prepare(
      "SELECT level, files, entries, tombstones, bytes FROM lsm_stats('t')");
  lsm_stats s;
  int row = 0;
  ck_assert_int_eq(lsm_get_stats(g_lsm, &s), LSM_OK);
  while (sqlite3_step(st) == SQLITE_ROW) {
    ck_assert_int_lt(row, LSM_MAX_LEVELS);
    ck_assert_int_eq(sqlite3_column_int(st, 0), row);
    ck_assert_int_eq(sqlite3_column_int(st, 1), s.level[row].files);
    ck_assert_int_eq(sqlite3_column_int64(st, 2),
                     (sqlite3_int64)s.level[row].entries);
    ck_assert_int_eq(sqlite3_column_int64(st, 3),
                     (sqlite3_int64)s.level[row].tombstones);
    ck_assert_int_eq(sqlite3_column_int64(st, 4),
                     (sqlite3_int64)s.level[row].bytes);
    row++;
  }
  ck_assert_int_eq(row, LSM_MAX_LEVELS);
  ck_assert_int_eq(sqlite3_finalize(st), SQLITE_OK);
  ck_assert_int_eq(g_lookups, 1);
}
END_TEST

START_TEST(table_wide_counters_repeat_on_every_row) {
  sqlite3_stmt *st = prepare(
      "SELECT memtable_bytes, memtable_entries, bloom_probes, "
      "bloom_negatives, user_bytes, wal_bytes, flush_bytes, "
      "compact_read_bytes, compact_write_bytes, flushes, compactions, "
      "slowdown_count, slowdown_micros, stop_count, stop_micros "
      "FROM lsm_stats('t')");
  lsm_stats s;
  uint64_t want[15];
  int row = 0, col;
  lsm_buffer val = {0};

  /* Some lookups so that the bloom counters are not all zero. */
  ck_assert_int_eq(lsm_get(g_lsm, NULL, "key000001", 9, &val), LSM_OK);
  ck_assert_int_eq(lsm_get(g_lsm, NULL, "nokey", 5, &val), LSM_NOTFOUND);
  lsm_buffer_free(&val);
  ck_assert_int_eq(lsm_get_stats(g_lsm, &s), LSM_OK);
  want[0] = s.memtable_bytes;
  want[1] = s.memtable_entries;
  want[2] = s.bloom_probes;
  want[3] = s.bloom_negatives;
  want[4] = s.user_bytes;
  want[5] = s.wal_bytes;
  want[6] = s.flush_bytes;
  want[7] = s.compact_read_bytes;
  want[8] = s.compact_write_bytes;
  want[9] = s.flushes;
  want[10] = s.compactions;
  want[11] = s.slowdown_count;
  want[12] = s.slowdown_micros;
  want[13] = s.stop_count;
  want[14] = s.stop_micros;
  ck_assert_uint_gt(s.user_bytes, 0);
  ck_assert_uint_gt(s.flushes, 0);
  ck_assert_uint_gt(s.compactions, 0);
  ck_assert_uint_gt(s.bloom_probes, 0);
  while (sqlite3_step(st) == SQLITE_ROW) {
    for (col = 0; col < 15; col++) {
      ck_assert_msg(sqlite3_column_int64(st, col) == (sqlite3_int64)want[col],
                    "row %d column %d: %lld, want %llu", row, col,
                    (long long)sqlite3_column_int64(st, col),
                    (unsigned long long)want[col]);
    }
    row++;
  }
  ck_assert_int_eq(row, LSM_MAX_LEVELS);
  sqlite3_finalize(st);
}
END_TEST

START_TEST(hidden_columns_hold_the_arguments) {
  sqlite3_stmt *st;
  ck_assert_int_eq(query_int("SELECT count(*) FROM lsm_stats('t') "
                             "WHERE tbl = 't' AND schema = 'main'"),
                   LSM_MAX_LEVELS);
  ck_assert_int_eq(query_int("SELECT count(*) FROM lsm_stats('t', 'main')"),
                   LSM_MAX_LEVELS);
  st = prepare("SELECT tbl, schema FROM lsm_stats('t', 'main') LIMIT 1");
  ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
  ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "t");
  ck_assert_str_eq((const char *)sqlite3_column_text(st, 1), "main");
  sqlite3_finalize(st);
  /* SELECT * leaves hidden columns out. */
  st = prepare("SELECT * FROM lsm_stats('t')");
  ck_assert_int_eq(sqlite3_column_count(st), 20);
  ck_assert_str_eq(sqlite3_column_name(st, 0), "level");
  ck_assert_str_eq(sqlite3_column_name(st, 15), "compactions");
  ck_assert_str_eq(sqlite3_column_name(st, 19), "stop_micros");
  sqlite3_finalize(st);
}
END_TEST

START_TEST(argument_may_be_given_as_where_constraint) {
  ck_assert_int_eq(
      query_int("SELECT count(*) FROM lsm_stats WHERE tbl = 't'"),
      LSM_MAX_LEVELS);
  ck_assert_int_eq(
      query_int("SELECT count(*) FROM lsm_stats "
                "WHERE schema = 'main' AND tbl = 't'"),
      LSM_MAX_LEVELS);
}
END_TEST

START_TEST(argument_may_come_from_a_join) {
  ck_assert_int_eq(sqlite3_exec(g_db,
                                "CREATE TABLE names(n TEXT);"
                                "INSERT INTO names VALUES ('t');",
                                NULL, NULL, NULL),
                   SQLITE_OK);
  ck_assert_int_eq(
      query_int("SELECT count(*) FROM names, lsm_stats(names.n)"),
      LSM_MAX_LEVELS);
  ck_assert_int_eq(
      query_int("SELECT count(*) FROM lsm_stats JOIN names "
                "ON lsm_stats.tbl = names.n"),
      LSM_MAX_LEVELS);
}
END_TEST

START_TEST(order_by_level_is_honoured_both_ways) {
  sqlite3_stmt *st = prepare(
      "SELECT level FROM lsm_stats('t') ORDER BY level DESC");
  int want = LSM_MAX_LEVELS - 1;
  while (sqlite3_step(st) == SQLITE_ROW) {
    ck_assert_int_eq(sqlite3_column_int(st, 0), want);
    want--;
  }
  ck_assert_int_eq(want, -1);
  sqlite3_finalize(st);
  st = prepare("SELECT level FROM lsm_stats('t') ORDER BY level");
  want = 0;
  while (sqlite3_step(st) == SQLITE_ROW) {
    ck_assert_int_eq(sqlite3_column_int(st, 0), want);
    want++;
  }
  ck_assert_int_eq(want, LSM_MAX_LEVELS);
  sqlite3_finalize(st);
}
END_TEST

START_TEST(write_amplification_query_from_the_header_runs) {
  sqlite3_stmt *st = prepare(
      "SELECT (wal_bytes + flush_bytes + compact_write_bytes) * 1.0 / "
      "user_bytes FROM lsm_stats('t') LIMIT 1");
  lsm_stats s;
  double want;
  ck_assert_int_eq(lsm_get_stats(g_lsm, &s), LSM_OK);
  want = (double)(s.wal_bytes + s.flush_bytes + s.compact_write_bytes) /
         (double)s.user_bytes;
  ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
  ck_assert_int_eq(sqlite3_column_type(st, 0), SQLITE_FLOAT);
  ck_assert_double_eq_tol(sqlite3_column_double(st, 0), want, 1e-9);
  ck_assert_double_gt(sqlite3_column_double(st, 0), 1.0);
  sqlite3_finalize(st);
}
END_TEST

START_TEST(stats_follow_later_writes) {
  /* Each row put_batch writes is a 9-byte key and a 26-byte value. */
  sqlite3_int64 before = query_int(
      "SELECT user_bytes FROM lsm_stats('t') LIMIT 1");
  put_batch(g_lsm, 9000, 3, 0);
  ck_assert_int_eq(
      query_int("SELECT user_bytes FROM lsm_stats('t') LIMIT 1"),
      before + 3 * (9 + 26));
}
END_TEST

START_TEST(unknown_table_reports_lookup_message) {
  char *msg = expect_error("SELECT * FROM lsm_stats('nosuch')");
  ck_assert_str_eq(msg, "lsm_stats: no lsm table main.nosuch");
  free(msg);
  msg = expect_error("SELECT * FROM lsm_stats('t', 'aux')");
  ck_assert_str_eq(msg, "lsm_stats: no lsm table aux.t");
  free(msg);
}
END_TEST

START_TEST(missing_table_argument_is_a_clear_error) {
  char *msg = expect_error("SELECT * FROM lsm_stats");
  ck_assert_str_eq(msg, "lsm_stats: table name argument required");
  free(msg);
  msg = expect_error("SELECT * FROM lsm_stats WHERE level = 0");
  ck_assert_str_eq(msg, "lsm_stats: table name argument required");
  free(msg);
  msg = expect_error("SELECT * FROM lsm_stats(NULL)");
  ck_assert_str_eq(msg, "lsm_stats: table name argument required");
  free(msg);
  ck_assert_int_eq(g_lookups, 0);
}
END_TEST

START_TEST(create_virtual_table_using_lsm_stats_is_refused) {
  char *msg = expect_error("CREATE VIRTUAL TABLE x USING lsm_stats");
  ck_assert_ptr_nonnull(strstr(msg, "lsm_stats"));
  free(msg);
}
END_TEST

START_TEST(table_is_read_only) {
  char *msg = expect_error("DELETE FROM lsm_stats WHERE tbl = 't'");
  ck_assert_ptr_nonnull(strstr(msg, "lsm_stats"));
  free(msg);
}
END_TEST

START_TEST(register_without_lookup_is_misuse) {
  ck_assert_int_eq(lsmx_stats_register(g_db, NULL, NULL), SQLITE_MISUSE);
  /* The registration made in setup still works. */
  ck_assert_int_eq(query_int("SELECT count(*) FROM lsm_stats('t')"),
                   LSM_MAX_LEVELS);
}
END_TEST

/* ---------------------------------------------------------------- main */

static Suite *stats_suite(void) {
  Suite *s = suite_create("stats");
  TCase *tc = tcase_create("lsm_stats");
  tcase_add_checked_fixture(tc, setup, teardown);
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, fixture_has_tables_on_several_levels);
  tcase_add_test(tc, rows_match_lsm_get_stats_level_by_level);
  tcase_add_test(tc, table_wide_counters_repeat_on_every_row);
  tcase_add_test(tc, hidden_columns_hold_the_arguments);
  tcase_add_test(tc, argument_may_be_given_as_where_constraint);
  tcase_add_test(tc, argument_may_come_from_a_join);
  tcase_add_test(tc, order_by_level_is_honoured_both_ways);
  tcase_add_test(tc, write_amplification_query_from_the_header_runs);
  tcase_add_test(tc, stats_follow_later_writes);
  tcase_add_test(tc, unknown_table_reports_lookup_message);
  tcase_add_test(tc, missing_table_argument_is_a_clear_error);
  tcase_add_test(tc, create_virtual_table_using_lsm_stats_is_refused);
  tcase_add_test(tc, table_is_read_only);
  tcase_add_test(tc, register_without_lookup_is_misuse);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return lsmx_test_main("test_stats", stats_suite());
}
