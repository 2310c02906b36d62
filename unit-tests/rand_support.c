/*
** rand_support.c — seeds and xorshift64* for the randomised unit tests
** (rand_support.h).
*/
#include "rand_support.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

uint64_t lsm_test_seed(const char *what) {
  const char *env = getenv("LSM_TEST_SEED");
  uint64_t seed = env ? strtoull(env, NULL, 0)
                      : ((uint64_t)time(NULL) << 16) ^ (uint64_t)getpid();
  if (seed == 0) seed = 1;
  printf("%s: seed %llu (set LSM_TEST_SEED to replay)\n", what, (unsigned long long)seed);
  fflush(stdout);
  return seed;
}

uint64_t lsm_test_next(uint64_t *state) {
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545f4914f6cdd1dull;
}
