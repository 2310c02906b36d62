/*
** fuzz_args.c — libFuzzer target for CREATE VIRTUAL TABLE argument parsing
** (ext/args.c).
**
** The input is split at NUL bytes into up to 32 arguments, as SQLite would
** hand them to xCreate, and parsed; each argument also goes through
** lsmx_parse_size.  Properties checked: a failed parse sets a message and a
** successful one does not; a successful parse has 1 to LSMX_MAX_COLUMNS
** columns with names and types, primary-key column indexes in range, and
** option values in their documented ranges.
*/
#include "fuzz_support.h"
#include "args.h"
#include "ext_test_support.h"
#include <sqlite3.h>

#define MAX_ARGS 32

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  if (lsmx_test_init_sqlite_api() != 0) abort();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *copy = malloc(size + 1), *argv[MAX_ARGS];
  int argc = 0, rc, i;
  size_t start = 0, k;
  lsmx_table_def def;
  char *err = NULL;
  if (copy == NULL) return 0;
  memcpy(copy, data, size);
  copy[size] = 0;
  for (k = 0; k <= size && argc < MAX_ARGS; k++) {
    if (copy[k] == 0) {
      argv[argc++] = copy + start;
      start = k + 1;
    }
  }
  for (i = 0; i < argc; i++) (void)lsmx_parse_size(argv[i]);
  memset(&def, 0, sizeof def);
  rc = lsmx_args_parse(argc, (const char *const *)argv, &def, &err);
  if (rc != 0) {
    if (err == NULL) {
      fprintf(stderr, "a failed parse without a message\n");
      abort();
    }
  } else {
    if (err != NULL) {
      fprintf(stderr, "a successful parse with a message: %s\n", err);
      abort();
    }
    if (def.n_cols < 1 || def.n_cols > LSMX_MAX_COLUMNS || def.n_pk < 0 || def.n_pk > 64 ||
        def.n_pk > def.n_cols) {
      fprintf(stderr, "bad column counts: %d columns, %d key columns\n", def.n_cols, def.n_pk);
      abort();
    }
    for (i = 0; i < def.n_cols; i++) {
      if (def.cols[i].name == NULL || def.cols[i].type == NULL) {
        fprintf(stderr, "column %d without a name or type\n", i);
        abort();
      }
    }
    for (i = 0; i < def.n_pk; i++) {
      if (def.pk_cols[i] < 0 || def.pk_cols[i] >= def.n_cols) {
        fprintf(stderr, "key column index %d out of range\n", def.pk_cols[i]);
        abort();
      }
    }
    if ((def.bloom_bits != -1 && (def.bloom_bits < 0 || def.bloom_bits > 64)) ||
        (def.block_size != -1 && (def.block_size < 256 || def.block_size > (64 << 20))) ||
        (def.memtable_size != -1 && def.memtable_size < 1) ||
        (def.sync_mode != -1 && (def.sync_mode < LSM_SYNC_OFF || def.sync_mode > LSM_SYNC_FULL))) {
      fprintf(stderr, "an option value out of its range\n");
      abort();
    }
  }
  sqlite3_free(err);
  lsmx_table_def_free(&def);
  free(copy);
  return 0;
}
