/*
** test_key.c — unit tests for ext/key.c, the order-preserving key encoding.
**
** The central property: memcmp order of encodings equals SQLite's own
** order of the values, with equal encodings exactly when SQLite says the
** values are equal.  SQLite itself is the oracle: random values of every
** type are stored in an in-memory table, encoded by an SQL function backed
** by lsmx_key_append_sqlite, and SQLite's ORDER BY / comparison operators
** are checked against blob comparison of the encodings (SQLite compares
** blobs with memcmp, shorter first: the engine's key order).
**
** Randomised tests print their seed; set LSM_TEST_SEED to replay one.
*/
#include <check.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>
#include "coding.h"
#include "key.h"
#include "ext_test_support.h"

static uint64_t g_seed;

/* ------------------------------------------------------------------ */
/* Helpers. */


static int rng_int(uint64_t *s, int n) { return (int)(lsmx_test_rng(s) % (uint64_t)n); }


/* Encode one value into a fresh buffer. */
static lsm_buffer enc(lsmx_value v) {
  lsm_buffer b = {0};
  ck_assert_int_eq(lsmx_key_append(&b, &v), LSM_OK);
  return b;
}

static int buf_cmp(const lsm_buffer *a, const lsm_buffer *b) {
  return lsm_slice_cmp(lsm_slice_make(a->data, a->len),
                       lsm_slice_make(b->data, b->len));
}

static void exec(sqlite3 *db, const char *sql) {
  char *err = NULL;
  int rc = sqlite3_exec(db, sql, NULL, NULL, &err);
  ck_assert_msg(rc == SQLITE_OK, "%s: %s", sql, err ? err : "?");
}

/* SQL lsmx_enc(a, b, ...): the concatenated key encoding, as a blob. */
static void sql_enc(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  lsm_buffer b = {0};
  int i, rc = LSM_OK;
  for (i = 0; i < argc && rc == LSM_OK; i++) {
    rc = lsmx_key_append_sqlite(&b, argv[i]);
  }
  if (rc != LSM_OK) {
    sqlite3_result_error_code(ctx, SQLITE_NOMEM);
  } else {
    sqlite3_result_blob(ctx, b.data, (int)b.len, SQLITE_TRANSIENT);
  }
  lsm_buffer_free(&b);
}

/* SQL lsmx_dec(blob): decode one value, or an error. */
static void sql_dec(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  const unsigned char *p = sqlite3_value_blob(argv[0]);
  const unsigned char *end = p + sqlite3_value_bytes(argv[0]);
  lsm_buffer scratch = {0};
  lsmx_value v;
  (void)argc;
  if (lsmx_key_decode(&p, end, &v, &scratch) != LSM_OK || p != end) {
    sqlite3_result_error(ctx, "bad key", -1);
  } else {
    lsmx_value_result(ctx, &v);
  }
  lsm_buffer_free(&scratch);
}

static sqlite3 *open_db(void) {
  sqlite3 *db = NULL;
  ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
  ck_assert_int_eq(sqlite3_create_function(db, "lsmx_enc", -1, SQLITE_UTF8,
                                           NULL, sql_enc, NULL, NULL),
                   SQLITE_OK);
  ck_assert_int_eq(sqlite3_create_function(db, "lsmx_dec", 1, SQLITE_UTF8,
                                           NULL, sql_dec, NULL, NULL),
                   SQLITE_OK);
  return db;
}

static void bind_value(sqlite3_stmt *st, int i, const lsmx_value *v) {
  int rc;
  switch (v->type) {
    case SQLITE_INTEGER: rc = sqlite3_bind_int64(st, i, v->i); break;
    case SQLITE_FLOAT: rc = sqlite3_bind_double(st, i, v->r); break;
    case SQLITE_TEXT:
      rc = sqlite3_bind_text64(st, i, v->n ? (const char *)v->p : "", v->n,
                               SQLITE_STATIC, SQLITE_UTF8);
      break;
    case SQLITE_BLOB:
      rc = v->n ? sqlite3_bind_blob64(st, i, v->p, v->n, SQLITE_STATIC)
                : sqlite3_bind_zeroblob(st, i, 0);
      break;
    default: rc = sqlite3_bind_null(st, i); break;
  }
  ck_assert_int_eq(rc, SQLITE_OK);
}

/* ------------------------------------------------------------------ */
/* Random values, biased towards the edges of the encoding. */

typedef struct gen_value {
  lsmx_value v;
  unsigned char buf[8];
} gen_value;

static const sqlite3_int64 special_ints[] = {
  0, 1, -1, 2, -2, 255, 256, -256, INT64_MAX, INT64_MAX - 1, INT64_MAX - 511,
  INT64_MAX - 512, INT64_MAX - 513, INT64_MAX - 1024, INT64_MIN, INT64_MIN + 1,
  INT64_MIN + 1024, INT64_MIN + 1025, 9007199254740992LL, 9007199254740993LL,
  9007199254740991LL, 9007199254740994LL, -9007199254740992LL,
  -9007199254740993LL, -9007199254740991LL, 4611686018427387904LL,
  4611686018427387905LL, -4611686018427387904LL
};

static double special_real(int k) {
  switch (k) {
    case 0: return 0.0;
    case 1: return -0.0;
    case 2: return INFINITY;
    case 3: return -INFINITY;
    case 4: return DBL_MIN;
    case 5: return -DBL_MIN;
    case 6: return 4.9406564584124654e-324;   /* smallest denormal */
    case 7: return -4.9406564584124654e-324;
    case 8: return DBL_MAX;
    case 9: return -DBL_MAX;
    case 10: return 9007199254740992.0;       /* 2^53 */
    case 11: return 9223372036854775808.0;    /* 2^63 */
    case 12: return -9223372036854775808.0;
    case 13: return 18446744073709551616.0;   /* 2^64 */
    case 14: return nextafter(9223372036854775808.0, 0.0);
    case 15: return nextafter(-9223372036854775808.0, -INFINITY);
    case 16: return 0.5;
    case 17: return -0.5;
    case 18: return 1.0;
    case 19: return 4503599627370495.5;       /* 2^52 - 0.5 */
    default: return 1e-300;
  }
}

static sqlite3_int64 edge_int(uint64_t *s) {
  sqlite3_int64 r = rng_int(s, 2201) - 1100;
  int k = 53 + rng_int(s, 10);
  sqlite3_int64 base = (sqlite3_int64)1 << k;
  switch (rng_int(s, 4)) {
    case 0: return base + r;
    case 1: return -base + r;
    case 2: return INT64_MAX - (sqlite3_int64)rng_int(s, 3000);
    default: return INT64_MIN + (sqlite3_int64)rng_int(s, 3000);
  }
}

static void gen_random(uint64_t *s, gen_value *g) {
  static const unsigned char alphabet[] = {0x00, 0x01, 'a', 'b', 0x7F, 0xFE,
                                           0xFF};
  uint64_t bits;
  double d;
  size_t n, i;
  memset(g, 0, sizeof *g);
  switch (rng_int(s, 13)) {
    case 0: g->v = v_null(); break;
    case 1:
      g->v = v_int(special_ints[rng_int(
          s, (int)(sizeof special_ints / sizeof special_ints[0]))]);
      break;
    case 2: g->v = v_int((sqlite3_int64)lsmx_test_rng(s)); break;
    case 3: g->v = v_int(rng_int(s, 201) - 100); break;
    case 4: g->v = v_int(9007199254740992LL * (rng_int(s, 2) ? 1 : -1) +
                         rng_int(s, 9) - 4);
      break;
    case 5: g->v = v_int(edge_int(s)); break;
    case 6: g->v = v_real(special_real(rng_int(s, 21))); break;
    case 7: g->v = v_real((double)edge_int(s)); break;
    case 8:
      do {
        bits = lsmx_test_rng(s);
        memcpy(&d, &bits, sizeof d);
      } while (isnan(d));
      g->v = v_real(d);
      break;
    case 9: g->v = v_real(rng_int(s, 2000) / 8.0 - 125.0); break;
    case 10:
    case 11:
    case 12:
      n = (size_t)rng_int(s, 6);
      for (i = 0; i < n; i++) g->buf[i] = alphabet[rng_int(s, sizeof alphabet)];
      g->v = v_bytes(rng_int(s, 2) ? SQLITE_TEXT : SQLITE_BLOB, NULL, n);
      break;
  }
}

/* Fill table t(id, v) with n random values; returns them (caller frees). */
static gen_value *fill_table(sqlite3 *db, uint64_t *s, int n) {
  gen_value *vals = calloc((size_t)n, sizeof *vals);
  sqlite3_stmt *st = NULL;
  int i;
  ck_assert_ptr_nonnull(vals);
  exec(db, "CREATE TABLE t(id INTEGER PRIMARY KEY, v)");   /* no affinity */
  ck_assert_int_eq(sqlite3_prepare_v2(db, "INSERT INTO t(id, v) VALUES(?1, ?2)",
                                      -1, &st, NULL),
                   SQLITE_OK);
  for (i = 0; i < n; i++) {
    gen_random(s, &vals[i]);
    if (vals[i].v.type == SQLITE_TEXT || vals[i].v.type == SQLITE_BLOB) {
      vals[i].v.p = vals[i].buf;
    }
    sqlite3_bind_int64(st, 1, i + 1);
    bind_value(st, 2, &vals[i].v);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  return vals;
}

/* Run a query returning one row describing the first violation, if any. */
static void assert_no_rows(sqlite3 *db, const char *sql, const char *what) {
  sqlite3_stmt *st = NULL;
  int rc;
  ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
  rc = sqlite3_step(st);
  if (rc == SQLITE_ROW) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s (seed %llu): %s vs %s, keys %s vs %s", what,
             (unsigned long long)g_seed,
             (const char *)sqlite3_column_text(st, 0),
             (const char *)sqlite3_column_text(st, 1),
             (const char *)sqlite3_column_text(st, 2),
             (const char *)sqlite3_column_text(st, 3));
    sqlite3_finalize(st);
    ck_abort_msg("%s", msg);
  }
  ck_assert_msg(rc == SQLITE_DONE, "%s: %s", sql, sqlite3_errmsg(db));
  sqlite3_finalize(st);
}

/* ------------------------------------------------------------------ */
/* Tests. */

START_TEST(key_known_encodings_have_documented_bytes) {
  static const unsigned char one[] = {0x15, 0xBF, 0xF0, 0, 0, 0, 0, 0, 0};
  static const unsigned char zero[] = {0x15, 0x80, 0, 0, 0, 0, 0, 0, 0};
  static const unsigned char minus_one[] = {0x15, 0x40, 0x0F, 0xFF, 0xFF,
                                            0xFF, 0xFF, 0xFF, 0xFF};
  /* 2^53 + 1 rounds to 2^53 (0x4340000000000000), delta +1. */
  static const unsigned char big[] = {0x15, 0xC3, 0x40, 0, 0, 0, 0, 0, 0,
                                      0x80, 0, 0, 0, 0, 0, 0, 1};
  static const unsigned char text[] = {0x25, 'a', 0x00, 0xFF, 'b', 0x00, 0x00};
  static const unsigned char blob[] = {0x35, 0x00, 0xFF, 0x00, 0xFF, 0x00, 0x00};
  lsm_buffer b;

  b = enc(v_null());
  ck_assert_int_eq(b.len, 1);
  ck_assert_int_eq(b.data[0], LSMX_KEY_NULL);
  lsm_buffer_free(&b);

  b = enc(v_int(1));
  ck_assert_int_eq(b.len, sizeof one);
  ck_assert_mem_eq(b.data, one, sizeof one);
  lsm_buffer_free(&b);

  b = enc(v_int(0));
  ck_assert_mem_eq(b.data, zero, sizeof zero);
  lsm_buffer_free(&b);

  b = enc(v_real(-0.0));                     /* -0.0 encodes as 0.0 */
  ck_assert_int_eq(b.len, sizeof zero);
  ck_assert_mem_eq(b.data, zero, sizeof zero);
  lsm_buffer_free(&b);

  b = enc(v_int(-1));
  ck_assert_mem_eq(b.data, minus_one, sizeof minus_one);
  lsm_buffer_free(&b);

  b = enc(v_int(9007199254740993LL));
  ck_assert_int_eq(b.len, sizeof big);
  ck_assert_mem_eq(b.data, big, sizeof big);
  lsm_buffer_free(&b);

  b = enc(v_bytes(SQLITE_TEXT, "a\0b", 3));
  ck_assert_int_eq(b.len, sizeof text);
  ck_assert_mem_eq(b.data, text, sizeof text);
  lsm_buffer_free(&b);

  b = enc(v_bytes(SQLITE_BLOB, "\0\0", 2));
  ck_assert_int_eq(b.len, sizeof blob);
  ck_assert_mem_eq(b.data, blob, sizeof blob);
  lsm_buffer_free(&b);
}
END_TEST

START_TEST(key_nan_encodes_as_null) {
  lsm_buffer a = enc(v_real(NAN)), b = enc(v_null());
  ck_assert_int_eq(buf_cmp(&a, &b), 0);
  lsm_buffer_free(&a);
  lsm_buffer_free(&b);
}
END_TEST

START_TEST(key_equal_int_and_real_encode_identically) {
  static const sqlite3_int64 ints[] = {
    0, 1, -1, 1000000, 9007199254740992LL, -9007199254740992LL,
    1152921504606846976LL /* 2^60 */, INT64_MIN
  };
  size_t i;
  for (i = 0; i < sizeof ints / sizeof ints[0]; i++) {
    lsm_buffer a = enc(v_int(ints[i])), b = enc(v_real((double)ints[i]));
    ck_assert_msg(buf_cmp(&a, &b) == 0, "%lld", (long long)ints[i]);
    lsm_buffer_free(&a);
    lsm_buffer_free(&b);
  }
  /* ... but not when the double only approximates the integer:
  ** 9007199254740993 > 9007199254740992.0 in SQLite, and here. */
  {
    lsm_buffer a = enc(v_int(9007199254740993LL));
    lsm_buffer b = enc(v_real(9007199254740992.0));
    lsm_buffer c = enc(v_int(INT64_MAX));
    lsm_buffer d = enc(v_real(9223372036854775808.0));
    ck_assert_int_gt(buf_cmp(&a, &b), 0);
    ck_assert_int_lt(buf_cmp(&c, &d), 0);
    lsm_buffer_free(&a);
    lsm_buffer_free(&b);
    lsm_buffer_free(&c);
    lsm_buffer_free(&d);
  }
}
END_TEST

/* Strictly increasing values across every boundary of the layout. */
START_TEST(key_numbers_near_limits_order_exactly) {
  const double two53 = 9007199254740992.0, two63 = 9223372036854775808.0;
  lsmx_value seq[] = {
    v_real(-INFINITY), v_real(-DBL_MAX), v_real(-1e300),
    v_real(nextafter(-two63, -INFINITY)), v_int(INT64_MIN),
    v_int(INT64_MIN + 1), v_int(INT64_MIN + 1023), v_int(INT64_MIN + 1024),
    v_int(INT64_MIN + 1025), v_real(-two53 - 2.0), v_int(-9007199254740993LL),
    v_int(-9007199254740992LL), v_int(-9007199254740991LL),
    v_real(-4503599627370495.5), v_real(-1.5), v_int(-1), v_real(-DBL_MIN), v_real(-4.9406564584124654e-324),
    v_int(0), v_real(4.9406564584124654e-324), v_real(DBL_MIN), v_real(0.5),
    v_int(1), v_real(1.5), v_real(4503599627370495.5), v_int(4503599627370496LL),
    v_int(9007199254740991LL), v_int(9007199254740992LL),
    v_int(9007199254740993LL), v_real(two53 + 2.0), v_int(9007199254740995LL),
    v_int(INT64_MAX - 1024), v_real(nextafter(two63, 0.0)),
    v_int(INT64_MAX - 513), v_int(INT64_MAX - 512), v_int(INT64_MAX - 511),
    v_int(INT64_MAX - 1),
    v_int(INT64_MAX), v_real(two63), v_real(18446744073709551616.0),
    v_real(1e300), v_real(DBL_MAX), v_real(INFINITY),
  };
  size_t n = sizeof seq / sizeof seq[0], i;
  for (i = 0; i + 1 < n; i++) {
    lsm_buffer a = enc(seq[i]), b = enc(seq[i + 1]);
    ck_assert_msg(buf_cmp(&a, &b) < 0, "entry %zu not below entry %zu", i,
                  i + 1);
    lsm_buffer_free(&a);
    lsm_buffer_free(&b);
  }
}
END_TEST

START_TEST(key_bytes_order_with_zero_bytes_and_prefixes) {
  /* Increasing in BINARY order; TEXT all below BLOB. */
  static const struct { int type; const char *p; size_t n; } seq[] = {
    {SQLITE_TEXT, "", 0},         {SQLITE_TEXT, "\0", 1},
    {SQLITE_TEXT, "\0\0", 2},     {SQLITE_TEXT, "\0\1", 2},
    {SQLITE_TEXT, "\0\xff", 2},   {SQLITE_TEXT, "\1", 1},
    {SQLITE_TEXT, "a", 1},        {SQLITE_TEXT, "a\0", 2},
    {SQLITE_TEXT, "a\0\0", 3},    {SQLITE_TEXT, "a\0b", 3},
    {SQLITE_TEXT, "a\1", 2},      {SQLITE_TEXT, "ab", 2},
    {SQLITE_TEXT, "b", 1},        {SQLITE_TEXT, "\xff", 1},
    {SQLITE_TEXT, "\xff\0", 2},   {SQLITE_TEXT, "\xff\xff", 2},
    {SQLITE_BLOB, "", 0},         {SQLITE_BLOB, "\0", 1},
    {SQLITE_BLOB, "\0\xff", 2},   {SQLITE_BLOB, "\xff", 1},
  };
  size_t n = sizeof seq / sizeof seq[0], i;
  lsm_buffer num = enc(v_real(INFINITY));
  lsm_buffer first = enc(v_bytes(seq[0].type, seq[0].p, seq[0].n));
  ck_assert_int_lt(buf_cmp(&num, &first), 0);   /* numbers before TEXT */
  lsm_buffer_free(&num);
  lsm_buffer_free(&first);
  for (i = 0; i + 1 < n; i++) {
    lsm_buffer a = enc(v_bytes(seq[i].type, seq[i].p, seq[i].n));
    lsm_buffer b = enc(v_bytes(seq[i + 1].type, seq[i + 1].p, seq[i + 1].n));
    ck_assert_msg(buf_cmp(&a, &b) < 0, "entry %zu not below entry %zu", i,
                  i + 1);
    lsm_buffer_free(&a);
    lsm_buffer_free(&b);
  }
}
END_TEST

/* Sort a few thousand random values with SQLite; consecutive values must
** have increasing encodings, or equal ones exactly when SQLite says IS. */
START_TEST(key_memcmp_order_matches_sqlite_order) {
  uint64_t s = g_seed ^ 0x1111;
  sqlite3 *db = open_db();
  gen_value *vals = fill_table(db, &s, 4000);
  exec(db, "CREATE TABLE e AS SELECT id, v, lsmx_enc(v) AS k FROM t");
  assert_no_rows(db,
      "WITH o AS (SELECT v, k, row_number() OVER (ORDER BY v) AS rn FROM e) "
      "SELECT quote(a.v), quote(b.v), hex(a.k), hex(b.k) "
      "FROM o a JOIN o b ON b.rn = a.rn + 1 "
      "WHERE NOT CASE WHEN a.v IS b.v THEN a.k = b.k ELSE a.k < b.k END "
      "LIMIT 1",
      "sorted neighbours disagree");
  /* Every pair of a sample, compared directly. */
  assert_no_rows(db,
      "WITH s AS (SELECT v, k FROM e WHERE id <= 400) "
      "SELECT quote(a.v), quote(b.v), hex(a.k), hex(b.k) FROM s a, s b "
      "WHERE CASE WHEN a.v IS b.v THEN a.k <> b.k "
      "           WHEN a.v IS NULL THEN NOT a.k < b.k "
      "           WHEN b.v IS NULL THEN NOT a.k > b.k "
      "           WHEN a.v < b.v THEN NOT a.k < b.k "
      "           ELSE NOT a.k > b.k END "
      "LIMIT 1",
      "pair comparison disagrees");
  /* lsmx_key_append (C values) agrees with lsmx_key_append_sqlite. */
  {
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT id, k FROM e", -1, &st,
                                        NULL),
                     SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
      int id = sqlite3_column_int(st, 0);
      lsm_buffer b = enc(vals[id - 1].v);
      ck_assert_int_eq((int)b.len, sqlite3_column_bytes(st, 1));
      ck_assert_mem_eq(b.data, sqlite3_column_blob(st, 1), b.len);
      lsm_buffer_free(&b);
    }
    sqlite3_finalize(st);
  }
  free(vals);
  sqlite3_close(db);
}
END_TEST

START_TEST(key_composite_keys_order_lexicographically) {
  uint64_t s = g_seed ^ 0x2222;
  sqlite3 *db = open_db();
  gen_value *vals = fill_table(db, &s, 3000);
  /* First column from a small pool of values (many ties, including 1 and
  ** 1.0, prefixes and zero bytes), second column random. */
  exec(db,
       "CREATE TABLE pool(n INTEGER PRIMARY KEY, v);"
       "INSERT INTO pool VALUES (0, NULL), (1, 0), (2, 1), (3, 1.0), (4, -1.5),"
       "  (5, 'a'), (6, CAST(x'6100' AS TEXT)), (7, ''), (8, x''), (9, x'00'),"
       "  (10, 9223372036854775807), (11, 9223372036854775808.0);"
       "CREATE TABLE c AS SELECT t.id AS id, p.v AS v1, t.v AS v2 "
       "  FROM t JOIN pool p ON p.n = (t.id * 7919) % 12;"
       "CREATE TABLE ce AS SELECT id, v1, v2, lsmx_enc(v1, v2) AS k FROM c;");
  assert_no_rows(db,
      "WITH o AS (SELECT v1, v2, k, row_number() OVER (ORDER BY v1, v2) AS rn "
      "           FROM ce) "
      "SELECT quote(a.v1) || ',' || quote(a.v2), quote(b.v1) || ',' || "
      "  quote(b.v2), hex(a.k), hex(b.k) "
      "FROM o a JOIN o b ON b.rn = a.rn + 1 "
      "WHERE NOT CASE WHEN a.v1 IS b.v1 AND a.v2 IS b.v2 THEN a.k = b.k "
      "               ELSE a.k < b.k END "
      "LIMIT 1",
      "composite neighbours disagree");
  free(vals);
  sqlite3_close(db);
}
END_TEST

/* Expected decoding of v: integral numbers in int64 range read back as
** INTEGER, NaN as NULL. */
static lsmx_value expected_decode(lsmx_value v) {
  if (v.type == SQLITE_FLOAT) {
    if (isnan(v.r)) return v_null();
    if (v.r == floor(v.r) && v.r >= -9223372036854775808.0 &&
        v.r < 9223372036854775808.0) {
      return v_int((sqlite3_int64)v.r);
    }
  }
  return v;
}

static void check_round_trip(lsmx_value v) {
  lsm_buffer b = enc(v), scratch = {0};
  const unsigned char *p = b.data;
  lsmx_value out, want = expected_decode(v);
  ck_assert_msg(lsmx_key_decode(&p, b.data + b.len, &out, &scratch) == LSM_OK,
                "decode failed: type %d i %lld r %.17g", v.type, (long long)v.i,
                v.r);
  ck_assert_ptr_eq(p, b.data + b.len);
  ck_assert_int_eq(lsmx_key_skip(b.data, b.data + b.len), b.len);
  ck_assert_int_eq(out.type, want.type);
  switch (want.type) {
    case SQLITE_INTEGER: ck_assert_int_eq(out.i, want.i); break;
    case SQLITE_FLOAT:
      ck_assert_mem_eq(&out.r, &want.r, sizeof out.r);   /* bit-exact */
      break;
    case SQLITE_TEXT:
    case SQLITE_BLOB:
      ck_assert_uint_eq(out.n, want.n);
      ck_assert_ptr_nonnull(out.p);
      if (want.n) ck_assert_mem_eq(out.p, want.p, want.n);
      break;
    default: break;
  }
  lsm_buffer_free(&b);
  lsm_buffer_free(&scratch);
}

START_TEST(key_decode_round_trips_every_type) {
  uint64_t s = g_seed ^ 0x3333;
  size_t i;
  int k;
  for (i = 0; i < sizeof special_ints / sizeof special_ints[0]; i++) {
    check_round_trip(v_int(special_ints[i]));
  }
  for (k = 0; k < 21; k++) check_round_trip(v_real(special_real(k)));
  check_round_trip(v_real(3.0));
  check_round_trip(v_real(-1e-5));
  check_round_trip(v_bytes(SQLITE_TEXT, "", 0));
  check_round_trip(v_bytes(SQLITE_BLOB, "", 0));
  check_round_trip(v_bytes(SQLITE_TEXT, "\0a\0\0\xff", 5));
  for (i = 0; i < 20000; i++) {
    gen_value g;
    gen_random(&s, &g);
    if (g.v.type == SQLITE_TEXT || g.v.type == SQLITE_BLOB) g.v.p = g.buf;
    check_round_trip(g.v);
  }
}
END_TEST

START_TEST(key_int64_max_decodes_from_two63_with_negative_delta) {
  /* INT64_MAX rounds to 2^63; the delta (-1) brings it back. */
  lsm_buffer b = enc(v_int(INT64_MAX));
  const unsigned char *p = b.data;
  lsmx_value out;
  ck_assert_int_eq(b.len, 17);
  ck_assert_int_eq(b.data[1], 0xC3);
  ck_assert_int_eq(b.data[2], 0xE0);        /* 2^63 = 0x43E0000000000000 */
  ck_assert_int_eq(b.data[16], 0xFF);       /* delta -1, sign flipped */
  ck_assert_int_eq(b.data[9], 0x7F);
  ck_assert_int_eq(lsmx_key_decode(&p, b.data + b.len, &out, NULL), LSM_OK);
  ck_assert_int_eq(out.type, SQLITE_INTEGER);
  ck_assert(out.i == INT64_MAX);
  lsm_buffer_free(&b);
}
END_TEST

START_TEST(key_decode_rejects_malformed_input) {
  static const struct { const char *what; unsigned char b[20]; size_t n; } bad[] = {
    {"empty", {0}, 0},
    {"tag 0x00", {0x00}, 1},
    {"tag 0x06", {0x06}, 1},
    {"tag 0x14", {0x14}, 1},
    {"tag 0x45", {0x45, 0x00, 0x00}, 3},
    {"tag 0xff", {0xFF}, 1},
    {"number, 7 bytes", {0x15, 0xBF, 0xF0, 0, 0, 0, 0, 0}, 8},
    {"NaN", {0x15, 0xFF, 0xF8, 0, 0, 0, 0, 0, 0}, 9},
    {"-0.0", {0x15, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, 9},
    {"2^53 without delta", {0x15, 0xC3, 0x40, 0, 0, 0, 0, 0, 0}, 9},
    {"2^53, 7-byte delta", {0x15, 0xC3, 0x40, 0, 0, 0, 0, 0, 0,
                            0x80, 0, 0, 0, 0, 0, 0}, 16},
    {"2^60 + 1000 does not round to 2^60",
     {0x15, 0xC3, 0xB0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0x03, 0xE8}, 17},
    {"2^53 - 1 does not round to 2^53",
     {0x15, 0xC3, 0x40, 0, 0, 0, 0, 0, 0,
      0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, 17},
    {"+inf with delta", {0x15, 0xFF, 0xF0, 0, 0, 0, 0, 0, 0,
                         0x80, 0, 0, 0, 0, 0, 0, 1}, 17},
    {"2^64 with delta -1", {0x15, 0xC3, 0xF0, 0, 0, 0, 0, 0, 0,
                            0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, 17},
    {"2^63 with delta +1", {0x15, 0xC3, 0xE0, 0, 0, 0, 0, 0, 0,
                            0x80, 0, 0, 0, 0, 0, 0, 1}, 17},
    {"-2^63 with delta -1", {0x15, 0x3C, 0x1F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                             0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, 17},
    {"text, no terminator", {0x25, 'a', 'b'}, 3},
    {"text, tag only", {0x25}, 1},
    {"text, lone 0x00", {0x25, 'a', 0x00}, 3},
    {"text, bad escape", {0x25, 0x00, 0x01, 0x00, 0x00}, 5},
    {"text, escape then end", {0x25, 'a', 0x00, 0xFF}, 4},
    {"blob, bad escape", {0x35, 0x00, 0xFE, 0x00, 0x00}, 5},
    {"blob, no terminator", {0x35, 0x00, 0xFF}, 3},
  };
  size_t i;
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    lsm_buffer scratch = {0};
    const unsigned char *p = bad[i].b;
    lsmx_value v;
    ck_assert_msg(lsmx_key_decode(&p, bad[i].b + bad[i].n, &v, &scratch) ==
                      LSM_CORRUPT,
                  "accepted: %s", bad[i].what);
    ck_assert_msg(p == bad[i].b, "moved on failure: %s", bad[i].what);
    ck_assert_msg(lsmx_key_skip(bad[i].b, bad[i].b + bad[i].n) == 0,
                  "skip accepted: %s", bad[i].what);
    lsm_buffer_free(&scratch);
  }
}
END_TEST

/* The code is self-delimiting: no proper prefix of an encoding decodes. */
START_TEST(key_every_truncation_is_rejected) {
  uint64_t s = g_seed ^ 0x4444;
  int i;
  for (i = 0; i < 3000; i++) {
    gen_value g;
    lsm_buffer b;
    size_t cut;
    gen_random(&s, &g);
    if (g.v.type == SQLITE_TEXT || g.v.type == SQLITE_BLOB) g.v.p = g.buf;
    b = enc(g.v);
    for (cut = 0; cut < b.len; cut++) {
      const unsigned char *p = b.data;
      lsmx_value v;
      ck_assert_int_eq(lsmx_key_decode(&p, b.data + cut, &v, NULL),
                       LSM_CORRUPT);
      ck_assert_int_eq(lsmx_key_skip(b.data, b.data + cut), 0);
    }
    lsm_buffer_free(&b);
  }
}
END_TEST

/* Byte strings of every length up to 80 with zero bytes here and there
** (none, one, runs of them, at either end), alone and followed by a second
** column: the decoder reads several bytes at a time, so every position of
** a zero relative to a word, and a column that ends mid-word with more key
** after it, must come out exactly.  A damaged escape in a long string is
** still caught. */
START_TEST(key_long_bytes_with_zeros_round_trip_alone_and_composite) {
  uint64_t s = g_seed ^ 0x5555;
  unsigned char raw[80];
  int iter;
  for (iter = 0; iter < 20000; iter++) {
    size_t n = (size_t)rng_int(&s, 81), i, cut, first_len;
    int zeros = rng_int(&s, 4), type = rng_int(&s, 2) ? SQLITE_TEXT : SQLITE_BLOB;
    lsm_buffer b = {0}, scratch = {0};
    lsmx_value v, out, second;
    const unsigned char *p, *end;
    for (i = 0; i < n; i++) {
      raw[i] = (unsigned char)(1 + rng_int(&s, 255));
      if (zeros == 1 && rng_int(&s, 16) == 0) raw[i] = 0x00;
      if (zeros == 2 && rng_int(&s, 3) == 0) raw[i] = 0x00;
    }
    if (zeros == 3 && n > 0) raw[rng_int(&s, 2) ? 0 : n - 1] = 0x00;
    v = v_bytes(type, n ? (const char *)raw : "", n);
    ck_assert_int_eq(lsmx_key_append(&b, &v), LSM_OK);
    first_len = b.len;
    if (iter % 2) ck_assert_int_eq(lsmx_key_append_int(&b, iter), LSM_OK);
    p = b.data;
    end = b.data + b.len;
    ck_assert_int_eq(lsmx_key_decode(&p, end, &out, &scratch), LSM_OK);
    ck_assert_int_eq(out.type, type);
    ck_assert_uint_eq(out.n, n);
    ck_assert_ptr_nonnull(out.p);
    if (n) ck_assert_mem_eq(out.p, raw, n);
    if (iter % 2) {
      ck_assert_int_eq(lsmx_key_decode(&p, end, &second, NULL), LSM_OK);
      ck_assert_int_eq(second.i, iter);
    }
    ck_assert_ptr_eq(p, end);
    /* Without scratch: same length, same end. */
    p = b.data;
    ck_assert_int_eq(lsmx_key_decode(&p, end, &out, NULL), LSM_OK);
    ck_assert_uint_eq(out.n, n);
    /* Every escape damaged in turn is corrupt, with or without scratch. */
    for (cut = 1; cut + 3 < first_len; cut++) {
      if (b.data[cut] == 0x00 && b.data[cut + 1] == 0xFF) {
        b.data[cut + 1] = 0xFE;
        p = b.data;
        ck_assert_int_eq(lsmx_key_decode(&p, end, &out, &scratch), LSM_CORRUPT);
        ck_assert_int_eq(lsmx_key_skip(b.data, end), 0);
        b.data[cut + 1] = 0xFF;
        cut++;
      }
    }
    lsm_buffer_free(&b);
    lsm_buffer_free(&scratch);
  }
}
END_TEST

START_TEST(key_composite_decodes_column_by_column) {
  lsm_buffer b = {0}, s1 = {0}, s2 = {0};
  lsmx_value a = v_bytes(SQLITE_TEXT, "x\0y", 3), c = v_int(-7), d = v_null();
  lsmx_value o1, o2, o3;
  const unsigned char *p, *end;
  ck_assert_int_eq(lsmx_key_append(&b, &a), LSM_OK);
  ck_assert_int_eq(lsmx_key_append_int(&b, -7), LSM_OK);
  ck_assert_int_eq(lsmx_key_append(&b, &d), LSM_OK);
  p = b.data;
  end = b.data + b.len;
  ck_assert_int_eq(lsmx_key_skip(p, end), 7);     /* 0x25 x 00 FF y 00 00 */
  ck_assert_int_eq(lsmx_key_decode(&p, end, &o1, &s1), LSM_OK);
  ck_assert_int_eq(lsmx_key_decode(&p, end, &o2, &s2), LSM_OK);
  ck_assert_int_eq(lsmx_key_decode(&p, end, &o3, NULL), LSM_OK);
  ck_assert_ptr_eq(p, end);
  ck_assert_int_eq(o1.type, SQLITE_TEXT);
  ck_assert_uint_eq(o1.n, 3);
  ck_assert_mem_eq(o1.p, "x\0y", 3);
  ck_assert_int_eq(o2.type, SQLITE_INTEGER);
  ck_assert_int_eq(o2.i, c.i);
  ck_assert_int_eq(o3.type, SQLITE_NULL);
  lsm_buffer_free(&b);
  lsm_buffer_free(&s1);
  lsm_buffer_free(&s2);
}
END_TEST

/* lsmx_value_from_sqlite -> encode -> decode -> lsmx_value_result gives
** back the value SQLite started with (integral reals come back INTEGER). */
START_TEST(key_sqlite_helpers_round_trip_through_sql) {
  sqlite3 *db = open_db();
  assert_no_rows(db,
      "WITH v(x) AS (VALUES (NULL), (0), (-5), (9223372036854775807), "
      "  (-9223372036854775808), (2.5), (-1e300), (9e18), (1e19), ('abc'), "
      "  (''), (x''), (x'00ff00'), (CAST(x'610062' AS TEXT))), "
      "r AS (SELECT x, lsmx_dec(lsmx_enc(x)) AS d FROM v) "
      "SELECT quote(x), quote(d), typeof(x), typeof(d) FROM r "
      "WHERE NOT (d IS x) "
      "   OR (typeof(x) <> typeof(d) "
      "       AND NOT (typeof(x) = 'real' AND typeof(d) = 'integer')) "
      "   OR (typeof(x) IN ('text', 'blob') "
      "       AND length(CAST(x AS BLOB)) <> length(CAST(d AS BLOB))) "
      "LIMIT 1",
      "round trip through SQL changed the value");
  /* Integral REAL comes back INTEGER (row.h keeps the REAL bit). */
  assert_no_rows(db,
      "SELECT typeof(lsmx_dec(lsmx_enc(3.0))), '', '', '' "
      "WHERE typeof(lsmx_dec(lsmx_enc(3.0))) <> 'integer'",
      "3.0 did not decode as INTEGER");
  sqlite3_close(db);
}
END_TEST

START_TEST(key_text_without_bytes_reports_nomem) {
  /* p == NULL with n > 0 marks bytes SQLite could not produce. */
  lsm_buffer b = {0};
  lsmx_value v = v_bytes(SQLITE_TEXT, NULL, 1);
  ck_assert_int_eq(lsmx_key_append(&b, &v), LSM_NOMEM);
  ck_assert_uint_eq(b.len, 0);
  lsm_buffer_free(&b);
}
END_TEST

static Suite *key_suite(void) {
  Suite *s = suite_create("key");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, key_known_encodings_have_documented_bytes);
  tcase_add_test(tc, key_nan_encodes_as_null);
  tcase_add_test(tc, key_equal_int_and_real_encode_identically);
  tcase_add_test(tc, key_numbers_near_limits_order_exactly);
  tcase_add_test(tc, key_bytes_order_with_zero_bytes_and_prefixes);
  tcase_add_test(tc, key_memcmp_order_matches_sqlite_order);
  tcase_add_test(tc, key_composite_keys_order_lexicographically);
  tcase_add_test(tc, key_decode_round_trips_every_type);
  tcase_add_test(tc, key_int64_max_decodes_from_two63_with_negative_delta);
  tcase_add_test(tc, key_decode_rejects_malformed_input);
  tcase_add_test(tc, key_every_truncation_is_rejected);
  tcase_add_test(tc, key_composite_decodes_column_by_column);
  tcase_add_test(tc, key_long_bytes_with_zeros_round_trip_alone_and_composite);
  tcase_add_test(tc, key_sqlite_helpers_round_trip_through_sql);
  tcase_add_test(tc, key_text_without_bytes_reports_nomem);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  g_seed = lsmx_test_seed("test_key");
  return lsmx_test_main("test_key", key_suite());
}
