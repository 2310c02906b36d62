/*
** check_main.c — the main() body and seed of the ext/ Check programs
** (declared in ext_test_support.h).  Kept apart from ext_test_support.c,
** which the fuzz targets link too: they have no Check library.
*/
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <sqlite3.h>
#include "ext_test_support.h"

int lsmx_test_main(const char *prog, Suite *s) {
  SRunner *sr;
  int failed;
  if (lsmx_test_init_sqlite_api() != SQLITE_OK) {
    fprintf(stderr, "%s: cannot obtain the SQLite routine table\n", prog);
    return 1;
  }
  sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}

uint64_t lsmx_test_seed(const char *prog) {
  const char *env = getenv("LSM_TEST_SEED");
  uint64_t seed = env ? strtoull(env, NULL, 0) : (uint64_t)time(NULL);
  printf("%s: seed %llu (set LSM_TEST_SEED to replay)\n", prog,
         (unsigned long long)seed);
  return seed;
}
