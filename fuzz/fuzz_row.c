/*
** fuzz_row.c — libFuzzer target for the row decoder (ext/row.c).
**
** The input is a row value as stored in the engine.  It is parsed, then
** decoded column by column (lsmx_row_column) and in one pass
** (lsmx_row_columns, all columns wanted, then every other one), asking for
** a few columns past the end too (they read as NULL).  Properties checked:
** both ways agree on every column's status, type and bytes; a column
** skipped by the one-pass decoder is left NULL.
*/
#include "fuzz_support.h"
#include "ext_test_support.h"
#include "row.h"

#define MAX_COLS 64

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  if (lsmx_test_init_sqlite_api() != 0) abort();
  return 0;
}

static int same(const lsmx_value *a, const lsmx_value *b) {
  if (a->type != b->type) return 0;
  switch (a->type) {
    case SQLITE_INTEGER: return a->i == b->i;
    case SQLITE_FLOAT: return memcmp(&a->r, &b->r, sizeof a->r) == 0;
    case SQLITE_TEXT:
    case SQLITE_BLOB: return a->n == b->n && (a->n == 0 || memcmp(a->p, b->p, a->n) == 0);
    default: return 1;
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lsmx_row row;
  lsmx_value all[MAX_COLS], some[MAX_COLS];
  int n, i, rc_all, rc_some;
  if (lsmx_row_parse(&row, data, size) != LSM_OK) return 0;
  n = row.n_cols + 3;
  if (n > MAX_COLS) n = MAX_COLS;
  memset(all, 0, sizeof all);
  memset(some, 0, sizeof some);
  rc_all = lsmx_row_columns(&row, all, n, ~(sqlite3_uint64)0);
  rc_some = lsmx_row_columns(&row, some, n, 0x5555555555555555ULL);
  for (i = 0; i < n; i++) {
    lsmx_value one;
    int rc = lsmx_row_column(&row, i, &one);
    if (rc_all == LSM_OK && (rc != LSM_OK || !same(&one, &all[i]))) {
      fprintf(stderr, "column %d: lsmx_row_column disagrees with lsmx_row_columns\n", i);
      abort();
    }
    if (rc_all == LSM_OK && rc_some == LSM_OK) {
      if ((i % 2 == 0) ? !same(&some[i], &all[i]) : some[i].type != SQLITE_NULL) {
        fprintf(stderr, "column %d: the wanted mask is not honoured\n", i);
        abort();
      }
    }
  }
  return 0;
}
