/*
** db_test_support.h — engine helpers shared by the Check programs that
** drive a whole lsm_db (test_db, test_multiproc, test_threads): small
** options, and an open and a put that fail the test with the engine's
** message instead of returning a status.
*/
#ifndef LSM_TEST_DB_TEST_SUPPORT_H
#define LSM_TEST_DB_TEST_SUPPORT_H

#include "lsm.h"

/* lsm_options_init, then sizes small enough that a few thousand rows cross
** many files and levels (8 KiB memtable, 512-byte blocks, 16 KiB tables,
** 32 KiB level 1, levels 4x apart, compaction at 3 level-0 files). */
void lsm_test_small_options(lsm_options *o);

/* lsm_open(dir, o); fails the test, naming dir, status and message,
** unless it succeeds. */
lsm_db *lsm_test_open(const char *dir, const lsm_options *o);

/* k = v in a batch of its own; fails the test unless the write succeeds. */
void lsm_test_put(lsm_db *db, const char *k, const char *v);

#endif
