/*
** test_args.c — unit tests for ext/args.c, the CREATE VIRTUAL TABLE
** argument parser: column definitions (names, quoting, declared types and
** their affinities, constraints), PRIMARY KEY forms, options, sizes, and
** the error message for each kind of bad argument.  Also the status-code
** map of ext/errmap.c, which is too small for a program of its own.
*/
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include "args.h"
#include "errmap.h"
#include "lsm.h"
#include "ext_test_support.h"

#define MAX_ARGS 8

/* Parse the NULL-terminated argument list into *def; returns the status
** and, on failure, the message (caller frees with sqlite3_free). */
static int parse_list(lsmx_table_def *def, char **err, const char *first,
                      va_list ap) {
  const char *argv[MAX_ARGS];
  int argc = 0;
  const char *a = first;
  while (a != NULL) {
    ck_assert_int_lt(argc, MAX_ARGS);
    argv[argc++] = a;
    a = va_arg(ap, const char *);
  }
  return lsmx_args_parse(argc, argv, def, err);
}

/* Expect success. */
static void parse_ok(lsmx_table_def *def, const char *first, ...) {
  va_list ap;
  char *err = NULL;
  int rc;
  va_start(ap, first);
  rc = parse_list(def, &err, first, ap);
  va_end(ap);
  ck_assert_msg(rc == SQLITE_OK, "parse failed (%d): %s", rc,
                err ? err : "(no message)");
  ck_assert_ptr_null(err);
}

/* Expect failure with exactly this message, and an emptied def. */
static void parse_err(const char *want, const char *first, ...) {
  lsmx_table_def def;
  va_list ap;
  char *err = NULL;
  int rc;
  va_start(ap, first);
  rc = parse_list(&def, &err, first, ap);
  va_end(ap);
  ck_assert_msg(rc == SQLITE_ERROR, "expected failure '%s', got rc %d", want,
                rc);
  ck_assert_ptr_nonnull(err);
  ck_assert_str_eq(err, want);
  ck_assert_int_eq(def.n_cols, 0);
  ck_assert_ptr_null(def.cols);
  ck_assert_ptr_null(def.dir);
  sqlite3_free(err);
  lsmx_table_def_free(&def);               /* harmless after failure */
}

/* Expect failure, message starting "lsm: " and mentioning `part`. */
static void parse_err_like(const char *part, const char *first, ...) {
  lsmx_table_def def;
  va_list ap;
  char *err = NULL;
  int rc;
  va_start(ap, first);
  rc = parse_list(&def, &err, first, ap);
  va_end(ap);
  ck_assert_msg(rc == SQLITE_ERROR, "expected failure mentioning '%s'", part);
  ck_assert_ptr_nonnull(err);
  ck_assert_msg(strncmp(err, "lsm: ", 5) == 0 && strstr(err, part) != NULL,
                "message '%s' does not mention '%s'", err, part);
  ck_assert_int_eq(def.n_cols, 0);
  sqlite3_free(err);
}

/* ------------------------------------------------------------------ */

START_TEST(args_plain_columns_get_defaults) {
  lsmx_table_def def;
  parse_ok(&def, "k", "v BLOB", NULL);
  ck_assert_int_eq(def.n_cols, 2);
  ck_assert_str_eq(def.cols[0].name, "k");
  ck_assert_str_eq(def.cols[0].type, "");
  ck_assert_int_eq(def.cols[0].affinity, 'A');
  ck_assert_int_eq(def.cols[0].pk_pos, -1);
  ck_assert_ptr_null(def.cols[0].collate);
  ck_assert_int_eq(def.cols[0].not_null, 0);
  ck_assert_str_eq(def.cols[1].type, "BLOB");
  ck_assert_int_eq(def.n_pk, 0);
  ck_assert_ptr_null(def.dir);
  ck_assert_int_eq(def.memtable_size, -1);
  ck_assert_int_eq(def.bloom_bits, -1);
  ck_assert_int_eq(def.block_size, -1);
  ck_assert_int_eq(def.cache_size, -1);
  ck_assert_int_eq(def.sync_mode, -1);
  ck_assert_int_eq(def.background, -1);
  lsmx_table_def_free(&def);
  ck_assert_int_eq(def.n_cols, 0);
  ck_assert_ptr_null(def.cols);
}
END_TEST

START_TEST(args_declared_types_get_sqlite_affinities) {
  static const struct { const char *type; char aff; } cases[] = {
    {"INT", 'D'}, {"integer", 'D'}, {"TINYINT", 'D'}, {"BIGINT", 'D'},
    {"UNSIGNED BIG INT", 'D'}, {"INT2", 'D'}, {"CHARINT", 'D'},
    {"FLOATING POINT", 'D'},  /* contains "INT": SQLite's own example */
    {"CHARACTER(20)", 'B'}, {"VARCHAR(255)", 'B'}, {"NCHAR(55)", 'B'},
    {"NVARCHAR(100)", 'B'}, {"TEXT", 'B'}, {"clob", 'B'}, {"TEXTBLOB", 'B'},
    {"BLOB", 'A'}, {"BLOBFLOAT", 'A'},
    {"REAL", 'E'}, {"DOUBLE", 'E'}, {"DOUBLE PRECISION", 'E'}, {"FLOAT", 'E'},
    {"NUMERIC", 'C'}, {"DECIMAL(10, 5)", 'C'}, {"BOOLEAN", 'C'}, {"DATE", 'C'},
    {"DATETIME", 'C'}, {"STRING", 'C'},
  };
  size_t i;
  for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    lsmx_table_def def;
    char arg[64];
    snprintf(arg, sizeof arg, "c %s", cases[i].type);
    parse_ok(&def, arg, NULL);
    ck_assert_str_eq(def.cols[0].type, cases[i].type);
    ck_assert_msg(def.cols[0].affinity == cases[i].aff,
                  "type '%s': affinity %c, want %c", cases[i].type,
                  def.cols[0].affinity, cases[i].aff);
    lsmx_table_def_free(&def);
  }
}
END_TEST

START_TEST(args_type_stops_at_constraint_keyword) {
  lsmx_table_def def;
  parse_ok(&def, "x UNSIGNED BIG INT NOT NULL",
           "y VARCHAR ( 10 ) COLLATE nocase", "z DECIMAL(10,-2) NULL",
           "w CONSTRAINT named NOT NULL", NULL);
  ck_assert_str_eq(def.cols[0].type, "UNSIGNED BIG INT");
  ck_assert_int_eq(def.cols[0].not_null, 1);
  ck_assert_str_eq(def.cols[1].type, "VARCHAR ( 10 )");
  ck_assert_int_eq(def.cols[1].affinity, 'B');
  ck_assert_str_eq(def.cols[1].collate, "nocase");
  ck_assert_str_eq(def.cols[2].type, "DECIMAL(10,-2)");
  ck_assert_int_eq(def.cols[2].not_null, 0);
  ck_assert_str_eq(def.cols[3].type, "");
  ck_assert_int_eq(def.cols[3].not_null, 1);
  lsmx_table_def_free(&def);
}
END_TEST

START_TEST(args_quoted_column_names_are_unquoted) {
  lsmx_table_def def;
  parse_ok(&def, "\"my col\" TEXT", "[a b] INT", "`x``y` BLOB",
           "\"q\"\"r\"", "'str' REAL", "_u$1", NULL);
  ck_assert_int_eq(def.n_cols, 6);
  ck_assert_str_eq(def.cols[0].name, "my col");
  ck_assert_str_eq(def.cols[0].type, "TEXT");
  ck_assert_str_eq(def.cols[1].name, "a b");
  ck_assert_str_eq(def.cols[2].name, "x`y");
  ck_assert_str_eq(def.cols[3].name, "q\"r");
  ck_assert_str_eq(def.cols[4].name, "str");
  ck_assert_int_eq(def.cols[4].affinity, 'E');
  ck_assert_str_eq(def.cols[5].name, "_u$1");
  lsmx_table_def_free(&def);
}
END_TEST

START_TEST(args_comments_are_whitespace) {
  lsmx_table_def def;
  parse_ok(&def, "k /* the key */ TEXT -- trailing\n PRIMARY KEY", "v", NULL);
  ck_assert_str_eq(def.cols[0].type, "TEXT");
  ck_assert_int_eq(def.n_pk, 1);
  lsmx_table_def_free(&def);
}
END_TEST

START_TEST(args_column_primary_key_is_recorded) {
  lsmx_table_def def;
  parse_ok(&def, "v BLOB", "k TEXT primary key ASC NOT NULL", NULL);
  ck_assert_int_eq(def.n_pk, 1);
  ck_assert_int_eq(def.pk_cols[0], 1);
  ck_assert_int_eq(def.cols[1].pk_pos, 0);
  ck_assert_int_eq(def.cols[1].not_null, 1);
  ck_assert_int_eq(def.cols[0].pk_pos, -1);
  lsmx_table_def_free(&def);

  /* As in SQLite, a constraint keyword names a column only when quoted;
  ** KEY is not one of them. */
  parse_ok(&def, "\"primary\" TEXT", "key INT", NULL);
  ck_assert_str_eq(def.cols[0].name, "primary");
  ck_assert_str_eq(def.cols[1].name, "key");
  ck_assert_int_eq(def.n_pk, 0);
  lsmx_table_def_free(&def);
  parse_err_like("column definition", "primary TEXT", NULL);
}
END_TEST

START_TEST(args_table_primary_key_lists_positions) {
  lsmx_table_def def;
  /* The constraint may come before the columns it names. */
  parse_ok(&def, "PRIMARY KEY(c, \"A\" ASC)", "a INT", "b", "c TEXT", NULL);
  ck_assert_int_eq(def.n_cols, 3);
  ck_assert_int_eq(def.n_pk, 2);
  ck_assert_int_eq(def.pk_cols[0], 2);
  ck_assert_int_eq(def.pk_cols[1], 0);
  ck_assert_int_eq(def.cols[2].pk_pos, 0);
  ck_assert_int_eq(def.cols[0].pk_pos, 1);
  ck_assert_int_eq(def.cols[1].pk_pos, -1);
  lsmx_table_def_free(&def);

  parse_ok(&def, "a", "b", "CONSTRAINT pk PRIMARY KEY ( b )", NULL);
  ck_assert_int_eq(def.n_pk, 1);
  ck_assert_int_eq(def.pk_cols[0], 1);
  lsmx_table_def_free(&def);
}
END_TEST

START_TEST(args_primary_key_errors_are_named) {
  parse_err("lsm: more than one PRIMARY KEY", "a PRIMARY KEY",
            "b PRIMARY KEY", NULL);
  parse_err("lsm: more than one PRIMARY KEY", "a PRIMARY KEY", "b",
            "PRIMARY KEY(b)", NULL);
  parse_err("lsm: more than one PRIMARY KEY", "PRIMARY KEY(a)", "a",
            "PRIMARY KEY(a)", NULL);
  parse_err("lsm: PRIMARY KEY names unknown column 'x'", "a", "PRIMARY KEY(a, x)",
            NULL);
  parse_err("lsm: column 'a' appears twice in PRIMARY KEY", "a", "b",
            "PRIMARY KEY(a, b, A)", NULL);
  parse_err_like("DESC", "k TEXT PRIMARY KEY DESC", NULL);
  parse_err_like("DESC", "a", "b", "PRIMARY KEY(a, b DESC)", NULL);
  parse_err_like("AUTOINCREMENT", "k INTEGER PRIMARY KEY AUTOINCREMENT", NULL);
  parse_err_like("ON CONFLICT", "k INTEGER PRIMARY KEY ON CONFLICT REPLACE",
                 NULL);
  parse_err_like("ON CONFLICT", "a", "PRIMARY KEY(a) ON CONFLICT IGNORE", NULL);
  parse_err_like("COLLATE", "a", "PRIMARY KEY(a COLLATE nocase)", NULL);
  parse_err_like("PRIMARY KEY", "a", "PRIMARY KEY a", NULL);
  parse_err_like("PRIMARY KEY", "a", "PRIMARY KEY(a,)", NULL);
  parse_err_like("PRIMARY KEY", "a", "PRIMARY KEY(a) junk", NULL);
}
END_TEST

START_TEST(args_collate_and_not_null_are_recorded) {
  lsmx_table_def def;
  parse_ok(&def, "v TEXT COLLATE NOCASE NOT NULL", "w NOT NULL COLLATE \"binary\"",
           "x NULL", NULL);
  ck_assert_str_eq(def.cols[0].collate, "NOCASE");
  ck_assert_int_eq(def.cols[0].not_null, 1);
  ck_assert_str_eq(def.cols[1].collate, "binary");
  ck_assert_int_eq(def.cols[1].not_null, 1);
  ck_assert_str_eq(def.cols[1].type, "");
  ck_assert_ptr_null(def.cols[2].collate);
  ck_assert_int_eq(def.cols[2].not_null, 0);
  lsmx_table_def_free(&def);
}
END_TEST

START_TEST(args_unenforceable_constraints_are_rejected) {
  parse_err("lsm: unsupported constraint DEFAULT on column 'v'",
            "v INT DEFAULT 5", NULL);
  parse_err_like("UNIQUE", "v TEXT UNIQUE", NULL);
  parse_err_like("CHECK", "v INT CHECK (v > 0)", NULL);
  parse_err_like("REFERENCES", "v INT REFERENCES t(x)", NULL);
  parse_err_like("GENERATED", "v INT GENERATED ALWAYS AS (1)", NULL);
  parse_err_like("AS", "v INT AS (1)", NULL);
  parse_err_like("UNIQUE(a)", "a", "UNIQUE(a)", NULL);
  parse_err_like("CHECK", "a", "CHECK(a > 1)", NULL);
  parse_err_like("FOREIGN", "a", "FOREIGN KEY(a) REFERENCES t(x)", NULL);
  parse_err_like("CONSTRAINT", "a", "CONSTRAINT u UNIQUE(a)", NULL);
}
END_TEST

START_TEST(args_malformed_column_definitions_are_rejected) {
  parse_err("lsm: duplicate column name: v", "v", "v", NULL);
  parse_err("lsm: duplicate column name: V", "v INT", "V TEXT", NULL);
  parse_err("lsm: no columns defined", "sync=off", NULL);
  parse_err("lsm: empty argument", "a", "  ", NULL);
  parse_err_like("empty column name", "\"\" INT", NULL);
  parse_err_like("NOT", "v INT NOT", NULL);
  parse_err_like("KEY", "v INT PRIMARY", NULL);
  parse_err_like("COLLATE", "v INT COLLATE", NULL);
  parse_err_like("foo", "v INT NOT NULL foo", NULL);
  parse_err_like("parenthes", "v DECIMAL(10", NULL);
  parse_err_like("column definition", "=5", NULL);
  parse_err_like("column definition", "(a)", NULL);
  parse_err_like("column definition", "NOT NULL", NULL);
  parse_err_like("\"abc", "\"abc", NULL);
  parse_err_like("'abc", "v 'abc", NULL);
}
END_TEST

START_TEST(args_no_arguments_means_no_columns) {
  lsmx_table_def def;
  char *err = NULL;
  ck_assert_int_eq(lsmx_args_parse(0, NULL, &def, &err), SQLITE_ERROR);
  ck_assert_str_eq(err, "lsm: no columns defined");
  sqlite3_free(err);
}
END_TEST

START_TEST(args_column_limit_is_enforced) {
  const int n = LSMX_MAX_COLUMNS + 1;
  const char **argv = calloc((size_t)n, sizeof *argv);
  char (*names)[16] = calloc((size_t)n, sizeof *names);
  lsmx_table_def def;
  char *err = NULL;
  int i;
  ck_assert_ptr_nonnull(argv);
  ck_assert_ptr_nonnull(names);
  for (i = 0; i < n; i++) {
    snprintf(names[i], sizeof names[i], "c%d", i);
    argv[i] = names[i];
  }
  ck_assert_int_eq(lsmx_args_parse(n - 1, argv, &def, &err), SQLITE_OK);
  ck_assert_int_eq(def.n_cols, LSMX_MAX_COLUMNS);
  ck_assert_str_eq(def.cols[LSMX_MAX_COLUMNS - 1].name, "c1999");
  lsmx_table_def_free(&def);
  ck_assert_int_eq(lsmx_args_parse(n, argv, &def, &err), SQLITE_ERROR);
  ck_assert_str_eq(err, "lsm: too many columns (max 2000)");
  sqlite3_free(err);
  free(argv);
  free(names);
}
END_TEST

START_TEST(args_options_are_parsed) {
  lsmx_table_def def;
  parse_ok(&def, "k", "dir='data dir'", "memtable_size='4M'", "bloom_bits=0",
           "block_size = 8k", "sync=off", NULL);
  ck_assert_int_eq(def.n_cols, 1);
  ck_assert_str_eq(def.dir, "data dir");
  ck_assert_int_eq(def.memtable_size, 4 << 20);
  ck_assert_int_eq(def.bloom_bits, 0);
  ck_assert_int_eq(def.block_size, 8192);
  ck_assert_int_eq(def.sync_mode, LSM_SYNC_OFF);
  lsmx_table_def_free(&def);

  parse_ok(&def, "DIR=plain", "MEMTABLE_SIZE=1048576", "bloom_bits='64'",
           "block_size=\"64M\"", "sync='NORMAL'", "k", NULL);
  ck_assert_str_eq(def.dir, "plain");
  ck_assert_int_eq(def.memtable_size, 1048576);
  ck_assert_int_eq(def.bloom_bits, 64);
  ck_assert_int_eq(def.block_size, 64 << 20);
  ck_assert_int_eq(def.sync_mode, LSM_SYNC_NORMAL);
  lsmx_table_def_free(&def);

  parse_ok(&def, "k", "dir='it''s'", "memtable_size=1G", "block_size=256",
           "sync=\"Full\"", NULL);
  ck_assert_str_eq(def.dir, "it's");
  ck_assert_int_eq(def.memtable_size, (int64_t)1 << 30);
  ck_assert_int_eq(def.block_size, 256);
  ck_assert_int_eq(def.sync_mode, LSM_SYNC_FULL);
  ck_assert_int_eq(def.bloom_bits, -1);
  ck_assert_int_eq(def.background, -1);
  lsmx_table_def_free(&def);

  parse_ok(&def, "k", "background=off", NULL);
  ck_assert_int_eq(def.background, 0);
  lsmx_table_def_free(&def);
  parse_ok(&def, "k", "BACKGROUND='On'", NULL);
  ck_assert_int_eq(def.background, 1);
  lsmx_table_def_free(&def);
  parse_ok(&def, "k", "background=0", NULL);
  ck_assert_int_eq(def.background, 0);
  lsmx_table_def_free(&def);
  parse_ok(&def, "k", "cache_size='64M'", NULL);
  ck_assert_int_eq(def.cache_size, 64 << 20);
  lsmx_table_def_free(&def);
  parse_ok(&def, "k", "CACHE_SIZE=0", NULL);   /* no block cache */
  ck_assert_int_eq(def.cache_size, 0);
  lsmx_table_def_free(&def);
}
END_TEST

START_TEST(args_bad_options_name_the_argument) {
  parse_err("lsm: unknown option 'memtable_sz'", "k", "memtable_sz=4M", NULL);
  parse_err("lsm: bad value for memtable_size: '64Q'", "k",
            "memtable_size='64Q'", NULL);
  parse_err("lsm: bad value for memtable_size: '64Q'", "k",
            "memtable_size=64Q", NULL);
  parse_err("lsm: bad value for memtable_size: '0'", "k", "memtable_size=0",
            NULL);
  parse_err("lsm: bad value for bloom_bits: '65'", "k", "bloom_bits=65", NULL);
  parse_err("lsm: bad value for bloom_bits: '-1'", "k", "bloom_bits=-1", NULL);
  parse_err("lsm: bad value for bloom_bits: '1K'", "k", "bloom_bits=1K", NULL);
  parse_err("lsm: bad value for bloom_bits: ''", "k", "bloom_bits=", NULL);
  parse_err("lsm: bad value for block_size: '255'", "k", "block_size=255", NULL);
  parse_err("lsm: bad value for block_size: '65M'", "k", "block_size='65M'",
            NULL);
  parse_err("lsm: bad value for cache_size: '8Q'", "k", "cache_size='8Q'", NULL);
  parse_err("lsm: bad value for cache_size: '2048G'", "k", "cache_size='2048G'", NULL);
  parse_err("lsm: bad value for sync: 'fast'", "k", "sync=fast", NULL);
  parse_err("lsm: bad value for background: 'maybe'", "k", "background=maybe", NULL);
  parse_err("lsm: bad value for dir: ''", "k", "dir=''", NULL);
  parse_err("lsm: bad value for dir: ''abc'", "k", "dir='abc", NULL);
  parse_err("lsm: option sync given more than once", "k", "sync=off",
            "sync=full", NULL);
}
END_TEST

START_TEST(args_parse_size_accepts_suffixes_and_quotes) {
  ck_assert_int_eq(lsmx_parse_size("0"), 0);
  ck_assert_int_eq(lsmx_parse_size("123"), 123);
  ck_assert_int_eq(lsmx_parse_size("4k"), 4096);
  ck_assert_int_eq(lsmx_parse_size("4K"), 4096);
  ck_assert_int_eq(lsmx_parse_size("2m"), 2 << 20);
  ck_assert_int_eq(lsmx_parse_size("1G"), (int64_t)1 << 30);
  ck_assert_int_eq(lsmx_parse_size("'64K'"), 65536);
  ck_assert_int_eq(lsmx_parse_size("\"8M\""), 8 << 20);
  ck_assert_int_eq(lsmx_parse_size("9223372036854775807"), INT64_MAX);
  ck_assert_int_eq(lsmx_parse_size("8589934591G"), (int64_t)8589934591 << 30);
}
END_TEST

START_TEST(args_parse_size_rejects_garbage) {
  static const char *const bad[] = {
    "", "K", "12Q", "1.5M", "-1", "+1", "'4M", "4M'", "'4M\"", " 4", "4 ",
    "4KB", "''", "9223372036854775808", "99999999999999999999",
    "8589934592G", "9007199254740992K",
  };
  size_t i;
  ck_assert_int_eq(lsmx_parse_size(NULL), -1);
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ck_assert_msg(lsmx_parse_size(bad[i]) == -1, "accepted '%s'", bad[i]);
  }
}
END_TEST

START_TEST(errmap_maps_every_lsm_status) {
  ck_assert_int_eq(lsmx_rc_to_sqlite(LSM_OK), SQLITE_OK);
  ck_assert_int_eq(lsmx_rc_to_sqlite(LSM_ERROR), SQLITE_ERROR);
  ck_assert_int_eq(lsmx_rc_to_sqlite(LSM_BUSY), SQLITE_BUSY);
  ck_assert_int_eq(lsmx_rc_to_sqlite(LSM_NOMEM), SQLITE_NOMEM);
  ck_assert_int_eq(lsmx_rc_to_sqlite(LSM_IOERR), SQLITE_IOERR);
  ck_assert_int_eq(lsmx_rc_to_sqlite(LSM_CORRUPT), SQLITE_CORRUPT);
  ck_assert_int_eq(lsmx_rc_to_sqlite(LSM_NOTFOUND), SQLITE_NOTFOUND);
  ck_assert_int_eq(lsmx_rc_to_sqlite(LSM_MISUSE), SQLITE_MISUSE);
  ck_assert_int_eq(lsmx_rc_to_sqlite(LSM_READONLY), SQLITE_READONLY);
  ck_assert_int_eq(lsmx_rc_to_sqlite(99), SQLITE_ERROR);
  ck_assert_int_eq(lsmx_rc_to_sqlite(-1), SQLITE_ERROR);
}
END_TEST

static Suite *args_suite(void) {
  Suite *s = suite_create("args");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, args_plain_columns_get_defaults);
  tcase_add_test(tc, args_declared_types_get_sqlite_affinities);
  tcase_add_test(tc, args_type_stops_at_constraint_keyword);
  tcase_add_test(tc, args_quoted_column_names_are_unquoted);
  tcase_add_test(tc, args_comments_are_whitespace);
  tcase_add_test(tc, args_column_primary_key_is_recorded);
  tcase_add_test(tc, args_table_primary_key_lists_positions);
  tcase_add_test(tc, args_primary_key_errors_are_named);
  tcase_add_test(tc, args_collate_and_not_null_are_recorded);
  tcase_add_test(tc, args_unenforceable_constraints_are_rejected);
  tcase_add_test(tc, args_malformed_column_definitions_are_rejected);
  tcase_add_test(tc, args_no_arguments_means_no_columns);
  tcase_add_test(tc, args_column_limit_is_enforced);
  tcase_add_test(tc, args_options_are_parsed);
  tcase_add_test(tc, args_bad_options_name_the_argument);
  tcase_add_test(tc, args_parse_size_accepts_suffixes_and_quotes);
  tcase_add_test(tc, args_parse_size_rejects_garbage);
  suite_add_tcase(s, tc);
  tc = tcase_create("errmap");
  tcase_add_test(tc, errmap_maps_every_lsm_status);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return lsmx_test_main("test_args", args_suite());
}
