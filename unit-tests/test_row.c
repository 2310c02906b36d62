/*
** test_row.c — unit tests for ext/row.c, the row (engine value) encoding.
**
** Round trips of every type, lazy and partial decoding, columns missing
** from old rows, and hostile input: every truncation and every single-byte
** change of sample rows must give LSM_OK or LSM_CORRUPT, never a crash or
** an out-of-bounds read (each mutated row sits in a malloc()ed block of
** exactly its length, so ASan sees any overread).
**
** Randomised tests print their seed; set LSM_TEST_SEED to replay one.
*/
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>
#include "coding.h"
#include "row.h"
#include "ext_test_support.h"

static uint64_t g_seed;



static void assert_same_value(const lsmx_value *got, const lsmx_value *want,
                              int col) {
  ck_assert_msg(got->type == want->type, "column %d: type %d, want %d", col,
                got->type, want->type);
  switch (want->type) {
    case SQLITE_INTEGER:
      ck_assert_msg(got->i == want->i, "column %d: %lld, want %lld", col,
                    (long long)got->i, (long long)want->i);
      break;
    case SQLITE_FLOAT:
      ck_assert_msg(memcmp(&got->r, &want->r, sizeof got->r) == 0,
                    "column %d: %.17g, want %.17g", col, got->r, want->r);
      break;
    case SQLITE_TEXT:
    case SQLITE_BLOB:
      ck_assert_msg(got->n == want->n, "column %d: length %zu, want %zu", col,
                    got->n, want->n);
      if (want->type == SQLITE_TEXT) ck_assert_ptr_nonnull(got->p);
      if (want->n) ck_assert_mem_eq(got->p, want->p, want->n);
      break;
    default:
      break;
  }
}

static unsigned char long_blob[1000];

/* A sample row with every type and edge. */
static int sample_row(lsmx_value *cols) {
  int n = 0;
  size_t i;
  for (i = 0; i < sizeof long_blob; i++) long_blob[i] = (unsigned char)(i * 7);
  cols[n++] = v_null();
  cols[n++] = v_int(0);
  cols[n++] = v_int(-1);
  cols[n++] = v_int(INT64_MIN);
  cols[n++] = v_int(INT64_MAX);
  cols[n++] = v_int(300);
  cols[n++] = v_real(-0.0);
  cols[n++] = v_real(3.0);
  cols[n++] = v_real(-INFINITY);
  cols[n++] = v_real(1e-310);
  cols[n++] = v_bytes(SQLITE_TEXT, "", 0);
  cols[n++] = v_bytes(SQLITE_TEXT, "h\0llo", 5);
  cols[n++] = v_bytes(SQLITE_BLOB, "", 0);
  cols[n++] = v_bytes(SQLITE_BLOB, "\xff\0\x80", 3);
  cols[n++] = v_bytes(SQLITE_BLOB, long_blob, sizeof long_blob);
  cols[n++] = v_null();
  return n;
}

/* ------------------------------------------------------------------ */

START_TEST(row_round_trips_every_type) {
  lsmx_value cols[32], out[32];
  lsm_buffer b = {0};
  lsmx_row row;
  int n = sample_row(cols), i;
  const sqlite3_uint64 mask = 0x8000000000000005ull;

  ck_assert_int_eq(lsmx_row_encode(&b, mask, cols, n), LSM_OK);
  ck_assert_int_eq(lsmx_row_parse(&row, b.data, b.len), LSM_OK);
  ck_assert(row.real_mask == mask);
  ck_assert_int_eq(row.n_cols, n);
  ck_assert_int_eq(lsmx_row_columns(&row, out, n, ~(sqlite3_uint64)0), LSM_OK);
  for (i = 0; i < n; i++) assert_same_value(&out[i], &cols[i], i);
  for (i = 0; i < n; i++) {
    lsmx_value one;
    ck_assert_int_eq(lsmx_row_column(&row, i, &one), LSM_OK);
    assert_same_value(&one, &cols[i], i);
  }
  lsm_buffer_free(&b);
}
END_TEST

START_TEST(row_layout_matches_documentation) {
  /* mask 1, 3 columns: INTEGER -2 (zigzag 3), REAL 1.0, TEXT "ab". */
  static const unsigned char want[] = {
    0x01, 0x03,
    0x01, 0x03,
    0x02, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F,
    0x03, 0x02, 'a', 'b'
  };
  lsmx_value cols[3];
  lsm_buffer b = {0};
  cols[0] = v_int(-2);
  cols[1] = v_real(1.0);
  cols[2] = v_bytes(SQLITE_TEXT, "ab", 2);
  ck_assert_int_eq(lsmx_row_encode(&b, 1, cols, 3), LSM_OK);
  ck_assert_uint_eq(b.len, sizeof want);
  ck_assert_mem_eq(b.data, want, sizeof want);
  lsm_buffer_free(&b);
}
END_TEST

START_TEST(row_encode_resets_output_buffer) {
  lsmx_value c = v_int(5);
  lsm_buffer b = {0};
  ck_assert_int_eq(lsm_buffer_append(&b, "junk", 4), LSM_OK);
  ck_assert_int_eq(lsmx_row_encode(&b, 0, &c, 1), LSM_OK);
  ck_assert_uint_eq(b.len, 4);             /* 00 01 01 0A */
  ck_assert_int_eq(b.data[3], 10);
  lsm_buffer_free(&b);
}
END_TEST

START_TEST(row_columns_skips_unwanted_columns) {
  lsmx_value cols[32], out[32];
  lsm_buffer b = {0};
  lsmx_row row;
  int n = sample_row(cols), i;
  const sqlite3_uint64 wanted = (1u << 3) | (1u << 11) | (1u << 14);
  ck_assert_int_eq(lsmx_row_encode(&b, 0, cols, n), LSM_OK);
  ck_assert_int_eq(lsmx_row_parse(&row, b.data, b.len), LSM_OK);
  ck_assert_int_eq(lsmx_row_columns(&row, out, n, wanted), LSM_OK);
  for (i = 0; i < n; i++) {
    if ((wanted >> i) & 1) {
      assert_same_value(&out[i], &cols[i], i);
    } else {
      ck_assert_int_eq(out[i].type, SQLITE_NULL);
    }
  }
  /* Asking for a prefix stops early. */
  ck_assert_int_eq(lsmx_row_columns(&row, out, 4, wanted), LSM_OK);
  assert_same_value(&out[3], &cols[3], 3);
  lsm_buffer_free(&b);
}
END_TEST

START_TEST(row_missing_trailing_columns_read_as_null) {
  lsmx_value cols[2], out[6], one;
  lsm_buffer b = {0};
  lsmx_row row;
  int i;
  cols[0] = v_int(7);
  cols[1] = v_bytes(SQLITE_TEXT, "x", 1);
  ck_assert_int_eq(lsmx_row_encode(&b, 0, cols, 2), LSM_OK);
  ck_assert_int_eq(lsmx_row_parse(&row, b.data, b.len), LSM_OK);
  ck_assert_int_eq(lsmx_row_columns(&row, out, 6, ~(sqlite3_uint64)0), LSM_OK);
  assert_same_value(&out[0], &cols[0], 0);
  assert_same_value(&out[1], &cols[1], 1);
  for (i = 2; i < 6; i++) ck_assert_int_eq(out[i].type, SQLITE_NULL);
  ck_assert_int_eq(lsmx_row_column(&row, 5, &one), LSM_OK);
  ck_assert_int_eq(one.type, SQLITE_NULL);
  lsm_buffer_free(&b);

  /* A row with no columns at all. */
  ck_assert_int_eq(lsmx_row_encode(&b, 0, NULL, 0), LSM_OK);
  ck_assert_int_eq(lsmx_row_parse(&row, b.data, b.len), LSM_OK);
  ck_assert_int_eq(row.n_cols, 0);
  ck_assert_int_eq(lsmx_row_columns(&row, out, 3, ~(sqlite3_uint64)0), LSM_OK);
  ck_assert_int_eq(out[2].type, SQLITE_NULL);
  lsm_buffer_free(&b);
}
END_TEST

START_TEST(row_wanted_bit_63_covers_later_columns) {
  lsmx_value cols[70], out[70];
  lsm_buffer b = {0};
  lsmx_row row;
  int i;
  for (i = 0; i < 70; i++) cols[i] = v_int(i * 1000);
  ck_assert_int_eq(lsmx_row_encode(&b, 0, cols, 70), LSM_OK);
  ck_assert_int_eq(lsmx_row_parse(&row, b.data, b.len), LSM_OK);
  ck_assert_int_eq(lsmx_row_columns(&row, out, 70, (sqlite3_uint64)1 << 63),
                   LSM_OK);
  for (i = 0; i < 63; i++) ck_assert_int_eq(out[i].type, SQLITE_NULL);
  for (i = 63; i < 70; i++) assert_same_value(&out[i], &cols[i], i);
  lsm_buffer_free(&b);
}
END_TEST

/* Decode everything every way; returns LSM_OK only if all succeeded.  Any
** decoded TEXT/BLOB must lie inside the buffer. */
static int decode_everything(const unsigned char *p, size_t n, int n_want) {
  lsmx_row row;
  lsmx_value out[40], one;
  int rc, i, ok = 1;
  rc = lsmx_row_parse(&row, p, n);
  if (rc != LSM_OK) {
    ck_assert_int_eq(rc, LSM_CORRUPT);
    return rc;
  }
  rc = lsmx_row_columns(&row, out, n_want, ~(sqlite3_uint64)0);
  ck_assert(rc == LSM_OK || rc == LSM_CORRUPT);
  if (rc == LSM_OK) {
    for (i = 0; i < n_want; i++) {
      if (out[i].type == SQLITE_TEXT || out[i].type == SQLITE_BLOB) {
        ck_assert(out[i].p >= p && out[i].p + out[i].n <= p + n);
      }
    }
  } else {
    ok = 0;
  }
  for (i = 0; i < n_want; i++) {
    int rc1 = lsmx_row_column(&row, i, &one);
    ck_assert(rc1 == LSM_OK || rc1 == LSM_CORRUPT);
    if (rc1 == LSM_OK && (one.type == SQLITE_TEXT || one.type == SQLITE_BLOB)) {
      ck_assert(one.p >= p && one.p + one.n <= p + n);
    }
  }
  return ok ? LSM_OK : LSM_CORRUPT;
}

START_TEST(row_every_truncation_is_corrupt) {
  lsmx_value cols[32];
  lsm_buffer b = {0};
  int n = sample_row(cols);
  size_t cut;
  ck_assert_int_eq(lsmx_row_encode(&b, 3, cols, n), LSM_OK);
  ck_assert_int_eq(decode_everything(b.data, b.len, n), LSM_OK);
  for (cut = 0; cut < b.len; cut++) {
    unsigned char *copy = malloc(cut ? cut : 1);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, b.data, cut);
    ck_assert_msg(decode_everything(copy, cut, n) == LSM_CORRUPT,
                  "truncation to %zu bytes accepted", cut);
    free(copy);
  }
  lsm_buffer_free(&b);
}
END_TEST

START_TEST(row_trailing_bytes_are_corrupt) {
  lsmx_value cols[2], out[2];
  lsm_buffer b = {0};
  lsmx_row row;
  cols[0] = v_int(1);
  cols[1] = v_null();
  ck_assert_int_eq(lsmx_row_encode(&b, 0, cols, 2), LSM_OK);
  ck_assert_int_eq(lsm_buffer_append(&b, "\0", 1), LSM_OK);
  ck_assert_int_eq(lsmx_row_parse(&row, b.data, b.len), LSM_OK);
  ck_assert_int_eq(lsmx_row_columns(&row, out, 2, 3), LSM_CORRUPT);
  ck_assert_int_eq(lsmx_row_column(&row, 1, &out[1]), LSM_CORRUPT);
  /* A reader of the first column alone does not walk that far. */
  ck_assert_int_eq(lsmx_row_column(&row, 0, &out[0]), LSM_OK);
  lsm_buffer_free(&b);
}
END_TEST

START_TEST(row_malformed_headers_and_types_are_corrupt) {
  static const struct { const char *what; unsigned char b[16]; size_t n; } bad[] = {
    {"empty", {0}, 0},
    {"mask only", {0x00}, 1},
    {"unterminated mask varint", {0x80, 0x80}, 2},
    {"11-byte varint", {0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
                        0xFF, 0x01, 0x00}, 12},
    {"more columns than bytes", {0x00, 0x05, 0x00, 0x00}, 4},
    {"type byte 5", {0x00, 0x01, 0x05}, 3},
    {"type byte 0xff", {0x00, 0x01, 0xFF}, 3},
    {"integer without varint", {0x00, 0x01, 0x01}, 3},
    {"real with 7 bytes", {0x00, 0x01, 0x02, 1, 2, 3, 4, 5, 6, 7}, 10},
    {"text longer than row", {0x00, 0x01, 0x03, 0x05, 'a', 'b'}, 6},
    {"blob length huge", {0x00, 0x01, 0x04, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F}, 8},
  };
  size_t i;
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    unsigned char *copy = malloc(bad[i].n ? bad[i].n : 1);
    ck_assert_ptr_nonnull(copy);
    memcpy(copy, bad[i].b, bad[i].n);
    ck_assert_msg(decode_everything(copy, bad[i].n, 3) == LSM_CORRUPT,
                  "accepted: %s", bad[i].what);
    free(copy);
  }
}
END_TEST

/* Every single-byte change of a sample row: no crash, no overread, status
** LSM_OK or LSM_CORRUPT (some changes still form a valid row). */
START_TEST(row_single_byte_changes_never_crash) {
  static const unsigned char xors[] = {0x01, 0x02, 0x04, 0x08, 0x10, 0x20,
                                       0x40, 0x80, 0xFF, 0x7F};
  lsmx_value cols[32];
  lsm_buffer b = {0};
  int n = sample_row(cols), corrupt = 0;
  size_t pos, k;
  /* A short row, so the test stays quick but covers every field kind. */
  cols[14] = v_bytes(SQLITE_BLOB, "0123456789", 10);
  ck_assert_int_eq(lsmx_row_encode(&b, 0x1234, cols, n), LSM_OK);
  for (pos = 0; pos < b.len; pos++) {
    for (k = 0; k < sizeof xors + 2; k++) {
      unsigned char *copy = malloc(b.len);
      ck_assert_ptr_nonnull(copy);
      memcpy(copy, b.data, b.len);
      if (k < sizeof xors) copy[pos] ^= xors[k];
      else copy[pos] = k == sizeof xors ? 0x00 : 0xFF;
      if (decode_everything(copy, b.len, n + 2) == LSM_CORRUPT) corrupt++;
      free(copy);
    }
  }
  ck_assert_int_gt(corrupt, 0);
  lsm_buffer_free(&b);
}
END_TEST

START_TEST(row_random_rows_round_trip) {
  uint64_t s = g_seed ^ 0x5151;
  unsigned char bytes[40][16];
  int iter;
  for (iter = 0; iter < 2000; iter++) {
    lsmx_value cols[40], out[40];
    lsm_buffer b = {0};
    lsmx_row row;
    int n = (int)(lsmx_test_rng(&s) % 40), i;
    sqlite3_uint64 mask = lsmx_test_rng(&s);
    for (i = 0; i < n; i++) {
      uint64_t r = lsmx_test_rng(&s);
      size_t len = (size_t)(r >> 40) % 16, j;
      double d;
      switch (r % 5) {
        case 0: cols[i] = v_null(); break;
        case 1: cols[i] = v_int((sqlite3_int64)lsmx_test_rng(&s) >> (r >> 58)); break;
        case 2:
          r = lsmx_test_rng(&s);
          memcpy(&d, &r, sizeof d);
          cols[i] = v_real(d);              /* any bits, NaN included */
          break;
        default:
          for (j = 0; j < len; j++) bytes[i][j] = (unsigned char)lsmx_test_rng(&s);
          cols[i] = v_bytes(r % 5 == 3 ? SQLITE_TEXT : SQLITE_BLOB, bytes[i], len);
          break;
      }
    }
    ck_assert_int_eq(lsmx_row_encode(&b, mask, cols, n), LSM_OK);
    ck_assert_int_eq(lsmx_row_parse(&row, b.data, b.len), LSM_OK);
    ck_assert(row.real_mask == mask);
    ck_assert_int_eq(lsmx_row_columns(&row, out, n, ~(sqlite3_uint64)0), LSM_OK);
    for (i = 0; i < n; i++) assert_same_value(&out[i], &cols[i], i);
    lsm_buffer_free(&b);
  }
}
END_TEST

/* SQL lsmx_row(...): lsmx_row_encode_sqlite of the arguments. */
static void sql_row(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  lsm_buffer b = {0};
  if (lsmx_row_encode_sqlite(&b, 6, argv, argc) != LSM_OK) {
    sqlite3_result_error_nomem(ctx);
  } else {
    sqlite3_result_blob(ctx, b.data, (int)b.len, SQLITE_TRANSIENT);
  }
  lsm_buffer_free(&b);
}

/* SQL lsmx_row_col(row, i): column i through lsmx_value_result. */
static void sql_row_col(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  const unsigned char *p = sqlite3_value_blob(argv[0]);
  size_t n = (size_t)sqlite3_value_bytes(argv[0]);
  lsmx_row row;
  lsmx_value v;
  (void)argc;
  if (lsmx_row_parse(&row, p, n) != LSM_OK ||
      lsmx_row_column(&row, sqlite3_value_int(argv[1]), &v) != LSM_OK) {
    sqlite3_result_error(ctx, "corrupt row", -1);
    return;
  }
  lsmx_value_result(ctx, &v);
}

START_TEST(row_encode_sqlite_matches_encode) {
  sqlite3 *db = NULL;
  sqlite3_stmt *st = NULL;
  lsmx_value cols[6];
  lsm_buffer b = {0};
  ck_assert_int_eq(sqlite3_open(":memory:", &db), SQLITE_OK);
  ck_assert_int_eq(sqlite3_create_function(db, "lsmx_row", -1, SQLITE_UTF8, NULL,
                                           sql_row, NULL, NULL),
                   SQLITE_OK);
  ck_assert_int_eq(sqlite3_create_function(db, "lsmx_row_col", 2, SQLITE_UTF8,
                                           NULL, sql_row_col, NULL, NULL),
                   SQLITE_OK);
  ck_assert_int_eq(
      sqlite3_prepare_v2(db,
                         "SELECT lsmx_row(NULL, -70, 2.5, 'hé', x'00ff', x''), "
                         "  quote(lsmx_row_col(lsmx_row(NULL, -70, 2.5, 'hé', "
                         "    x'00ff', x''), 3)), "
                         "  typeof(lsmx_row_col(lsmx_row(x''), 0)), "
                         "  typeof(lsmx_row_col(lsmx_row(1), 9))",
                         -1, &st, NULL),
      SQLITE_OK);
  ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
  cols[0] = v_null();
  cols[1] = v_int(-70);
  cols[2] = v_real(2.5);
  cols[3] = v_bytes(SQLITE_TEXT, "h\xc3\xa9", 3);
  cols[4] = v_bytes(SQLITE_BLOB, "\0\xff", 2);
  cols[5] = v_bytes(SQLITE_BLOB, "", 0);
  ck_assert_int_eq(lsmx_row_encode(&b, 6, cols, 6), LSM_OK);
  ck_assert_int_eq((int)b.len, sqlite3_column_bytes(st, 0));
  ck_assert_mem_eq(b.data, sqlite3_column_blob(st, 0), b.len);
  ck_assert_str_eq((const char *)sqlite3_column_text(st, 1), "'hé'");
  ck_assert_str_eq((const char *)sqlite3_column_text(st, 2), "blob");
  ck_assert_str_eq((const char *)sqlite3_column_text(st, 3), "null");
  sqlite3_finalize(st);
  sqlite3_close(db);
  lsm_buffer_free(&b);
}
END_TEST

static Suite *row_suite(void) {
  Suite *s = suite_create("row");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, row_round_trips_every_type);
  tcase_add_test(tc, row_layout_matches_documentation);
  tcase_add_test(tc, row_encode_resets_output_buffer);
  tcase_add_test(tc, row_columns_skips_unwanted_columns);
  tcase_add_test(tc, row_missing_trailing_columns_read_as_null);
  tcase_add_test(tc, row_wanted_bit_63_covers_later_columns);
  tcase_add_test(tc, row_every_truncation_is_corrupt);
  tcase_add_test(tc, row_trailing_bytes_are_corrupt);
  tcase_add_test(tc, row_malformed_headers_and_types_are_corrupt);
  tcase_add_test(tc, row_single_byte_changes_never_crash);
  tcase_add_test(tc, row_random_rows_round_trip);
  tcase_add_test(tc, row_encode_sqlite_matches_encode);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  g_seed = lsmx_test_seed("test_row");
  return lsmx_test_main("test_row", row_suite());
}
