/*
** ext_test_support.h — lets unit tests call the ext/ helpers.
**
** The ext/ objects call SQLite through the extension routine table
** `sqlite3_api` (see ext/sqlite_api.h).  In lsm_vtab.so, lsm_vtab.c defines
** and sets it.  Unit-test programs have no lsm_vtab.c, so
** ext_test_support.c defines it, and lsmx_test_init_sqlite_api() points it
** at the real table of the libsqlite3 the test links against.  Call it
** once in main() before running a suite that uses ext/ code (forked test
** cases inherit it).
*/
#ifndef LSMX_EXT_TEST_SUPPORT_H
#define LSMX_EXT_TEST_SUPPORT_H

#include <stdint.h>
#include <string.h>
#include <check.h>
#include "../ext/key.h"

/* Returns SQLITE_OK, or an SQLite error code if the table could not be
** obtained. */
int lsmx_test_init_sqlite_api(void);

/* main() of an ext/ test program: obtain the routine table, run suite s,
** and return the program's exit status (0 when every test passed). */
int lsmx_test_main(const char *prog, Suite *s);

/* The seed of a randomised test: LSM_TEST_SEED if set, else the clock;
** printed with the program's name so a failure can be replayed. */
uint64_t lsmx_test_seed(const char *prog);

/* splitmix64: the tests' pseudo-random numbers. */
static inline uint64_t lsmx_test_rng(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* lsmx_value constructors (TEXT/BLOB bytes are borrowed). */
static inline lsmx_value v_null(void) {
  lsmx_value v;
  memset(&v, 0, sizeof v);
  v.type = SQLITE_NULL;
  return v;
}
static inline lsmx_value v_int(sqlite3_int64 i) {
  lsmx_value v = v_null();
  v.type = SQLITE_INTEGER;
  v.i = i;
  return v;
}
static inline lsmx_value v_real(double r) {
  lsmx_value v = v_null();
  v.type = SQLITE_FLOAT;
  v.r = r;
  return v;
}
static inline lsmx_value v_bytes(int type, const void *p, size_t n) {
  lsmx_value v = v_null();
  v.type = type;
  v.p = (const unsigned char *)p;
  v.n = n;
  return v;
}

#endif /* LSMX_EXT_TEST_SUPPORT_H */
