/*
** workload.h — a scripted engine workload and a model of its outcome,
** shared by the fault-injection, power-loss and corruption tests
** (test_faults.c, test_powerloss.c, test_corruption.c).
**
** The script: open a database with tiny options (a memtable of one 4 KiB
** arena block, about a dozen batches; 256-byte blocks; compaction after 2
** level-0 files; 4 KiB level 1) so that a few dozen commits cross flushes,
** compactions and three levels; commit n_batches batches;
** in between, lsm_flush, lsm_compact, a close and reopen, point reads and
** full scans checked against the model; finally close.  Everything is
** deterministic, so two runs make the same engine calls in the same order:
** a test counts the environment calls of a clean run, then reruns the
** script injecting a fault at each of them.  That needs the engine's
** flushes and compactions inline (options.background = 0, the default
** here); with w->background = 1 they run on the engine's thread, the calls
** interleave differently from run to run, and a loop can only sample crash
** points (what it verifies afterwards is the same).
**
** Batch b puts 1 to 6 data keys "kNNN" (a keyspace of 80, so batches
** overwrite each other; values of 10 to 130 bytes, now and then 700),
** deletes one data key every third batch, and always puts its own marker
** key "mNNNNN".  Markers are never overwritten or deleted, so after a crash
** the marker tells whether batch b was applied, and the model rebuilds the
** exact expected contents from the set of applied batches: every key, both
** scan directions.  A batch applied in part therefore shows up as a
** mismatch.
**
** The run never asserts: engine errors are expected under injected faults
** and are only recorded (the batch is FAILED: it may or may not be there
** afterwards, but not in part).  Reads during the run are checked only for
** keys whose value does not depend on a failed batch; a wrong value there
** is a violation.  Verification reports the first violation as text, so
** the tests can run cases in forked children and print what went wrong.
*/
#ifndef LSM_TEST_WORKLOAD_H
#define LSM_TEST_WORKLOAD_H

#include <stddef.h>

#include "lsm.h"

#define LSM_WL_MAX_BATCHES 2048
#define LSM_WL_KEYSPACE 80

/* Outcome of one batch. */
#define LSM_WL_NOT_RUN 0   /* never submitted: must be absent */
#define LSM_WL_ACKED   1   /* lsm_write returned LSM_OK */
#define LSM_WL_FAILED  2   /* lsm_write returned an error: all or nothing */

/* Verification flags. */
#define LSM_WL_ACKED_PRESENT 1  /* every acknowledged batch must be there */
#define LSM_WL_PREFIX        2  /* the applied batches are 0..k-1 for some k */
#define LSM_WL_DURABLE_UPTO  4  /* acknowledged batches below durable_upto
                                   must be there (flushed or recovered) */

typedef struct lsm_workload {
  /* configuration (lsm_workload_init) */
  char dir[256];
  int n_batches;
  int sync_mode;
  int background;            /* options.background of every open: 0 (set by
                                lsm_workload_init) runs flushes and
                                compactions inline, so two runs make the
                                same calls in the same order; 1 runs them on
                                the engine's thread (nondeterministic) */
  lsm_env *env;              /* environment of the run; NULL: default */
  /* outcome */
  unsigned char status[LSM_WL_MAX_BATCHES];
  int durable_upto;          /* acknowledged batches below this were made
                                durable by a successful flush, compaction
                                or recovery (sync_mode != off) */
  int errors;                /* engine calls that returned an error */
  int first_error;           /* status of the first of them */
  char first_error_op[64];   /* and what it was */
  int violation;             /* an invariant broke during the run */
  char msg[512];             /* ... which one */
} lsm_workload;

void lsm_workload_init(lsm_workload *w, const char *dir, int sync_mode, int n_batches,
                       lsm_env *env);
/* The options the workload opens its database with (env = w->env). */
void lsm_workload_options(const lsm_workload *w, lsm_options *o);

/* Run the script.  Returns 0, or -1 with w->msg set when an invariant broke
** (engine errors are recorded in w, not failures).  If keep_open is not
** NULL the final close is skipped and the open database (or NULL if it
** could not be kept open) is returned there. */
int lsm_workload_run(lsm_workload *w, lsm_db **keep_open);

/* Check db against the outcome of the run under `flags` (LSM_WL_*): every
** marker, every data key by lsm_get, full scans in both directions, then
** lsm_check.  Returns 0, or -1 with a description in msg. */
int lsm_workload_verify(const lsm_workload *w, lsm_db *db, int flags, char *msg,
                        size_t msg_size);

/* Open w->dir with a clean environment (as a process restarting would):
** env, or the default one if env is NULL.  Verify it under `flags`, then
** check that the database is usable: commit one more batch, close, reopen,
** read it back.  0 or -1 with msg. */
int lsm_workload_reopen_verify(const lsm_workload *w, lsm_env *env, int flags, char *msg,
                               size_t msg_size);

/* The key and value bytes of the model: data key i ("kNNN"), marker of
** batch b ("mNNNNN") and its value, the value batch b writes as its j-th
** put.  Return the length written to out (out must hold LSM_WL_VALUE_MAX
** bytes). */
#define LSM_WL_VALUE_MAX 800
size_t lsm_workload_data_key(int i, char *out);
size_t lsm_workload_marker_key(int b, char *out);
size_t lsm_workload_marker_value(int b, char *out);
size_t lsm_workload_value(int b, int j, char *out);

/* Expected contents when exactly the batches b < n_batches with applied[b]
** != 0 are there: writer[i] names the put that data key i holds, or is -1
** when the key is absent; lsm_workload_writer_value() gives its bytes. */
void lsm_workload_expected(int n_batches, const unsigned char *applied,
                           int writer[LSM_WL_KEYSPACE]);
size_t lsm_workload_writer_value(int writer, char *out);

/* ---- harness helpers for loops of many cases ---- */

/* Run fn(arg, msg, msg_size) in a forked child that is killed after
** timeout_s seconds (alarm), so that a crash or a hang of one case is
** reported instead of ending the test.  Returns fn's return value when fn
** returned (>= 0 is success; what it means is the caller's), or -1 with msg
** set when fn failed or the child died ("killed by signal 11", "timed out
** after 30 s", "exited with status 23": a sanitizer report is on stderr).
** One child in LSM_TEST_LEAK_EVERY (default 8, every one under
** LSM_TORTURE) exits through exit(), so that LeakSanitizer checks it. */
int lsm_test_forked(int (*fn)(void *arg, char *msg, size_t msg_size), void *arg,
                    unsigned timeout_s, char *msg, size_t msg_size);
/* Move to a fresh directory on a RAM file system (/dev/shm) when there is
** one: loops of thousands of cases spend most of their time creating,
** renaming and deleting files, which tmpfs does several times faster than
** a journalling disk file system.  Nothing here depends on the disk being
** real: crashes are simulated by fault_env.  LSM_TEST_FAST_DIR=0 stays in
** the current directory.  Call once from main(), before running the suite;
** lsm_test_leave_fast_dir() at the end of main() removes the directory. */
void lsm_test_enter_fast_dir(void);
void lsm_test_leave_fast_dir(void);
/* Fill order[0..n-1] with a permutation of 0..n-1 in bit-reversed order
** (0, n/2, n/4, 3n/4, ...): any prefix of it is spread evenly over the
** whole range, so a loop cut short by its time budget still samples every
** part of it.  Returns 0, or -1 if out of memory. */
int lsm_test_spread_order(size_t n, size_t **order);
/* rm -rf path (errors ignored). */
void lsm_test_remove_tree(const char *path);
/* Nonzero when LSM_TORTURE is set to something other than "" or "0". */
int lsm_test_torture(void);
/* Seconds since an arbitrary origin (monotonic). */
double lsm_test_now(void);

/* Table numbers the MANIFEST of dir names (at most max, into numbers):
** the count, or -1 if unreadable. */
int lsm_test_manifest_tables(const char *dir, uint64_t *numbers, int max);
/* The time budget of one loop: LSM_TEST_BUDGET seconds if set, else
** default_s (or 30 times that under LSM_TORTURE). */
double lsm_test_budget(double default_s);

#endif /* LSM_TEST_WORKLOAD_H */
