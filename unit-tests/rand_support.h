/*
** rand_support.h — the seed and pseudo-random generator of the randomised
** unit tests (test_batch, test_block, test_compact, test_db, test_iter,
** test_memtable, test_sst).
**
** Every randomised test takes its seed from lsm_test_seed, which prints it,
** so a failure can be replayed exactly with LSM_TEST_SEED=<seed>.
*/
#ifndef LSM_TEST_RAND_SUPPORT_H
#define LSM_TEST_RAND_SUPPORT_H

#include <stdint.h>

/* LSM_TEST_SEED when set (decimal or 0x hex), else one derived from the
** time and the process id; never 0 (xorshift would stay at 0).  Prints
** "<what>: seed N (set LSM_TEST_SEED to replay)". */
uint64_t lsm_test_seed(const char *what);

/* The next value of the xorshift64* sequence in *state (nonzero). */
uint64_t lsm_test_next(uint64_t *state);

#endif
