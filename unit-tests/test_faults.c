/*
** test_faults.c — injected I/O errors never lose an acknowledged commit.
**
** The I/O-fault loop (issue 5): the scripted workload of workload.c (puts
** and deletes in batches, flushes, compactions, a reopen, reads) is run
** once under a counting fault_env to learn how many calls of each kind it
** makes; then, for each kind and each N (all of them, or every s-th when
** the time budget is short), it is rerun from scratch with the Nth call of
** that kind failing with LSM_IOERR.  Each case runs in a forked child with
** a timeout and checks:
**   - the run itself: no wrong value is ever read; errors are returned,
**     not crashes;
**   - in the same process, faults cleared: every acknowledged batch is
**     readable, no batch is there in part, lsm_check passes (the engine
**     may refuse writes, but what it serves is right);
**   - after close and a reopen with a clean environment: the same, and the
**     database accepts a new commit that survives another reopen.
** An I/O error is not a power loss: every acknowledged commit must be
** there whatever the sync mode.
**
** Three loops: sync=full; sync=normal with torn appends (a failed append
** leaves part of its buffer in the file); sync=full with sticky faults (the
** disk stays broken from the Nth call on).  Each prints one "coverage:"
** line saying what it covered.  The default run keeps each loop to a time
** budget (8, 5 and 4 s; LSM_TEST_BUDGET=seconds overrides), visiting the
** points in an order spread over every kind and the whole script;
** LSM_TORTURE=1 visits every point of a 200-batch script.
** LSM_FAULT_ONLY=kind:N[:sync[:sticky[:partial]]] runs one case in-process,
** for debugging.
*/
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fault_env.h"
#include "workload.h"

static const char *kind_names[LSM_FAULT_NKINDS] = {
  "open_read", "open_append", "pread", "append", "sync", "size", "close", "rename",
  "remove", "mkdir", "rmdir", "list", "sync_dir", "lock", "unlock",
  "open_shared", "lock_range", "lock_held", "same_file", "shm_map", "shm_unmap",
  "open_append_existing",
};

typedef struct fault_spec {
  int kind;
  uint64_t nth;
  int sticky;
  size_t partial;            /* bytes of a failed append that reach the file */
  int sync_mode;
  int n_batches;
} fault_spec;

/* Outcome codes of one case (>= 0: passed). */
#define CASE_SURFACED 0      /* the fault showed up as an error somewhere */
#define CASE_SILENT   1      /* the engine absorbed it (e.g. a failed remove) */

static int one_case(void *arg, char *msg, size_t msg_size) {
  const fault_spec *s = arg;
  lsm_fault_env fe;
  lsm_workload w;
  lsm_db *db = NULL;
  char dir[96], sub[1024];
  int rc = CASE_SURFACED;
  snprintf(dir, sizeof dir, "f-%s-%d-%llu-%d", kind_names[s->kind], s->sync_mode,
           (unsigned long long)s->nth, s->sticky);
  lsm_test_remove_tree(dir);
  lsm_fault_env_init(&fe, NULL);
  lsm_fault_env_set_skip_sync(&fe, 1);
  lsm_fault_env_fail(&fe, (lsm_fault_kind)s->kind, s->nth, s->sticky);
  lsm_fault_env_set_partial_append(&fe, s->partial);
  lsm_workload_init(&w, dir, s->sync_mode, s->n_batches, lsm_fault_env_env(&fe));
  if (lsm_workload_run(&w, &db) != 0) {
    snprintf(msg, msg_size, "%s", w.msg);
    rc = -1;
    goto done;
  }
  if (db && lsm_fault_env_injected(&fe, (lsm_fault_kind)s->kind) == 0) {
    /* The point is in the final close: close with the fault armed. */
    int crc = lsm_close(db);
    db = NULL;
    if (crc) w.errors++;
  }
  if (lsm_fault_env_injected(&fe, (lsm_fault_kind)s->kind) == 0) {
    snprintf(msg, msg_size, "the fault was never injected (the run made fewer calls)");
    rc = -1;
    goto done;
  }
  if (w.errors == 0) rc = CASE_SILENT;
  lsm_fault_env_clear(&fe);
  if (db) {
    if (lsm_workload_verify(&w, db, LSM_WL_ACKED_PRESENT, sub, sizeof sub) != 0) {
      snprintf(msg, msg_size, "in the same process after the fault: %s", sub);
      rc = -1;
      goto done;
    }
    lsm_close(db);
    db = NULL;
  }
  {
    /* A clean environment (that does not fsync for real, for speed). */
    lsm_fault_env clean;
    lsm_fault_env_init(&clean, NULL);
    lsm_fault_env_set_skip_sync(&clean, 1);
    if (lsm_workload_reopen_verify(&w, lsm_fault_env_env(&clean), LSM_WL_ACKED_PRESENT, sub,
                                   sizeof sub) != 0) {
      snprintf(msg, msg_size, "after reopen: %s", sub);
      rc = -1;
    }
    lsm_fault_env_free(&clean);
  }
done:
  if (rc < 0 && w.errors > 0) {
    size_t n = strlen(msg);
    snprintf(msg + n, msg_size - n, " [first engine error: status %d from %s]", w.first_error,
             w.first_error_op);
  }
  if (db) lsm_close(db);
  lsm_fault_env_free(&fe);
  return rc;
}

/* Calls of each kind made by a clean run. */
static void count_calls(int sync_mode, int n_batches, uint64_t counts[LSM_FAULT_NKINDS]) {
  lsm_fault_env fe;
  lsm_workload w;
  char msg[1024];
  char dir[64];
  int k;
  snprintf(dir, sizeof dir, "count-%d-%d", sync_mode, n_batches);
  lsm_test_remove_tree(dir);
  lsm_fault_env_init(&fe, NULL);
  lsm_fault_env_set_skip_sync(&fe, 1);
  lsm_workload_init(&w, dir, sync_mode, n_batches, lsm_fault_env_env(&fe));
  ck_assert_msg(lsm_workload_run(&w, NULL) == 0, "clean run: %s", w.msg);
  ck_assert_msg(w.errors == 0, "clean run: status %d from %s", w.first_error, w.first_error_op);
  for (k = 0; k < LSM_FAULT_NKINDS; k++) counts[k] = lsm_fault_env_calls(&fe, (lsm_fault_kind)k);
  ck_assert_msg(lsm_workload_reopen_verify(&w, NULL, LSM_WL_ACKED_PRESENT, msg, sizeof msg) == 0,
                "clean run: %s", msg);
  lsm_fault_env_free(&fe);
  lsm_test_remove_tree(dir);
}

/* Run the loop over every kind; returns the number of failed cases.
** The points (kind, N) are visited in a spread order (workload.h), so a run
** cut short by the time budget still samples every kind and every phase of
** the script. */
static int fault_loop(const char *label, int sync_mode, int n_batches, int sticky,
                      size_t partial, double budget) {
  uint64_t counts[LSM_FAULT_NKINDS], total = 0, start_of[LSM_FAULT_NKINDS + 1];
  int k, failures = 0, kinds = 0;
  int kind_cases[LSM_FAULT_NKINDS], kind_fail[LSM_FAULT_NKINDS], kind_silent[LSM_FAULT_NKINDS];
  long cases = 0, silent = 0;
  size_t *order = NULL, i;
  double start = lsm_test_now();
  char msg[1024];
  count_calls(sync_mode, n_batches, counts);
  for (k = 0; k < LSM_FAULT_NKINDS; k++) {
    start_of[k] = total;
    total += counts[k];
    kind_cases[k] = kind_fail[k] = kind_silent[k] = 0;
    if (counts[k]) kinds++;
  }
  start_of[LSM_FAULT_NKINDS] = total;
  ck_assert_int_eq(lsm_test_spread_order((size_t)total, &order), 0);
  for (i = 0; i < total; i++) {
    fault_spec s;
    uint64_t point = order[i];
    int rc;
    if (!lsm_test_torture() && lsm_test_now() - start > budget) break;
    for (k = 0; start_of[k + 1] <= point; k++) {
    }
    s.kind = k;
    s.nth = point - start_of[k] + 1;
    s.sticky = sticky;
    s.partial = partial;
    s.sync_mode = sync_mode;
    s.n_batches = n_batches;
    rc = lsm_test_forked(one_case, &s, 60, msg, sizeof msg);
    kind_cases[k]++;
    cases++;
    if (rc == CASE_SILENT) {
      silent++;
      kind_silent[k]++;
    }
    if (rc < 0) {
      failures++;
      if (++kind_fail[k] <= 3) {
        printf("%s: FAIL %s call #%llu%s: %s\n", label, kind_names[k], (unsigned long long)s.nth,
               sticky ? " (sticky)" : "", msg);
      }
    } else {
      char dir[96];
      snprintf(dir, sizeof dir, "f-%s-%d-%llu-%d", kind_names[k], sync_mode,
               (unsigned long long)s.nth, sticky);
      lsm_test_remove_tree(dir);
    }
  }
  free(order);
  for (k = 0; k < LSM_FAULT_NKINDS; k++) {
    if (counts[k] == 0) continue;
    printf("%s:   %-11s %4llu calls, %4d injected (%d absorbed without an error), %d failed\n",
           label, kind_names[k], (unsigned long long)counts[k], kind_cases[k], kind_silent[k],
           kind_fail[k]);
  }
  printf("coverage: %s: %ld of %llu fault points over %d kinds%s, %ld absorbed silently, "
         "%d failures, %.1f s\n",
         label, cases, (unsigned long long)total, kinds,
         (uint64_t)cases < total ? " (time budget; LSM_TORTURE=1 for all)" : "", silent, failures,
         lsm_test_now() - start);
  fflush(stdout);
  return failures;
}

/* ---------------------------------------------------------------- tests */

START_TEST(io_fault_loop_sync_full_loses_no_acknowledged_commit) {
  int n = lsm_test_torture() ? 200 : 60;
  int failures = fault_loop("io-faults(sync=full)", LSM_SYNC_FULL, n, 0, 0, lsm_test_budget(8));
  ck_assert_msg(failures == 0, "%d fault points lost commits or misbehaved (see above)", failures);
}
END_TEST

START_TEST(io_fault_loop_sync_normal_torn_appends_lose_no_acknowledged_commit) {
  /* A failed append leaves 11 bytes of its buffer in the file. */
  int n = lsm_test_torture() ? 200 : 60;
  int failures = fault_loop("io-faults(sync=normal, torn appends)", LSM_SYNC_NORMAL, n, 0, 11,
                            lsm_test_budget(5));
  ck_assert_msg(failures == 0, "%d fault points lost commits or misbehaved (see above)", failures);
}
END_TEST

START_TEST(io_fault_loop_sticky_faults_lose_no_acknowledged_commit) {
  /* The disk stays broken from the Nth call of a kind on. */
  int n = lsm_test_torture() ? 200 : 60;
  int failures = fault_loop("io-faults(sync=full, sticky)", LSM_SYNC_FULL, n, 1, 0,
                            lsm_test_budget(4));
  ck_assert_msg(failures == 0, "%d fault points lost commits or misbehaved (see above)", failures);
}
END_TEST

/* A failed log write: the commit is refused, the engine refuses further
** writes until reopened, reads keep working, nothing acknowledged is lost. */
START_TEST(failed_log_append_refuses_writes_until_reopen) {
  lsm_fault_env fe;
  lsm_options o;
  lsm_db *db = NULL;
  lsm_batch *b;
  lsm_buffer v = {0};
  lsm_fault_env_init(&fe, NULL);
  lsm_options_init(&o);
  o.env = lsm_fault_env_env(&fe);
  ck_assert_int_eq(lsm_open("latch", &o, &db), LSM_OK);
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  lsm_batch_put(b, "a", 1, "1", 1);
  ck_assert_int_eq(lsm_write(db, b, 0), LSM_OK);
  lsm_fault_env_fail_next(&fe, LSM_FAULT_APPEND, 0);
  lsm_fault_env_set_partial_append(&fe, 6);
  lsm_batch_clear(b);
  lsm_batch_put(b, "b", 1, "2", 1);
  ck_assert_int_eq(lsm_write(db, b, 0), LSM_IOERR);
  ck_assert_ptr_nonnull(strstr(lsm_errmsg(db), ".log"));
  /* The fault is gone, but the log may end in a torn record: no more writes. */
  lsm_batch_clear(b);
  lsm_batch_put(b, "c", 1, "3", 1);
  ck_assert_int_ne(lsm_write(db, b, 0), LSM_OK);
  ck_assert_int_ne(lsm_flush(db), LSM_OK);
  ck_assert_int_eq(lsm_get(db, NULL, "a", 1, &v), LSM_OK);
  ck_assert_int_eq(lsm_get(db, NULL, "b", 1, NULL), LSM_NOTFOUND);
  lsm_close(db);
  /* Reopened, the engine takes writes again; the torn record is gone. */
  ck_assert_int_eq(lsm_open("latch", &o, &db), LSM_OK);
  ck_assert_int_eq(lsm_get(db, NULL, "a", 1, &v), LSM_OK);
  ck_assert_int_eq(lsm_get(db, NULL, "b", 1, NULL), LSM_NOTFOUND);
  ck_assert_int_eq(lsm_write(db, b, 0), LSM_OK);
  ck_assert_int_eq(lsm_check(db), LSM_OK);
  lsm_close(db);
  lsm_batch_free(b);
  lsm_buffer_free(&v);
  lsm_fault_env_free(&fe);
}
END_TEST

/* A read error is returned to the reader and leaves the database as it was. */
START_TEST(failed_table_read_is_an_error_not_a_miss) {
  lsm_fault_env fe;
  lsm_options o;
  lsm_db *db = NULL;
  lsm_batch *b;
  lsm_iter *it;
  int i;
  lsm_fault_env_init(&fe, NULL);
  lsm_options_init(&o);
  o.env = lsm_fault_env_env(&fe);
  o.cache_size = 0;
  ck_assert_int_eq(lsm_open("readerr", &o, &db), LSM_OK);
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  for (i = 0; i < 100; i++) {
    char k[16];
    snprintf(k, sizeof k, "key%03d", i);
    lsm_batch_put(b, k, strlen(k), "value", 5);
  }
  ck_assert_int_eq(lsm_write(db, b, 0), LSM_OK);
  ck_assert_int_eq(lsm_flush(db), LSM_OK);
  lsm_fault_env_fail_next(&fe, LSM_FAULT_PREAD, 0);
  ck_assert_int_eq(lsm_get(db, NULL, "key050", 6, NULL), LSM_IOERR);
  ck_assert_int_eq(lsm_get(db, NULL, "key050", 6, NULL), LSM_OK);
  ck_assert_int_eq(lsm_iter_new(db, NULL, NULL, &it), LSM_OK);
  lsm_fault_env_fail_next(&fe, LSM_FAULT_PREAD, 0);
  lsm_iter_first(it);
  ck_assert(!lsm_iter_valid(it));
  ck_assert_int_eq(lsm_iter_status(it), LSM_IOERR);
  lsm_iter_free(it);
  /* Writes are not affected by a failed read. */
  ck_assert_int_eq(lsm_write(db, b, 0), LSM_OK);
  ck_assert_int_eq(lsm_check(db), LSM_OK);
  lsm_close(db);
  lsm_batch_free(b);
  lsm_fault_env_free(&fe);
}
END_TEST

/* The manifest is renamed into place, then the directory is fsynced.  If
** that fsync fails, the new MANIFEST is already what a reopen reads: the
** tables it names must not be deleted as "unused outputs of a failed
** flush", or the database no longer opens. */
START_TEST(failed_directory_sync_after_manifest_rename_keeps_database_openable) {
  lsm_fault_env fe;
  lsm_options o;
  lsm_db *db = NULL;
  lsm_batch *b;
  int rc;
  lsm_fault_env_init(&fe, NULL);
  lsm_options_init(&o);
  o.env = lsm_fault_env_env(&fe);
  ck_assert_int_eq(lsm_open("dirsync", &o, &db), LSM_OK);
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  lsm_batch_put(b, "a", 1, "1", 1);
  ck_assert_int_eq(lsm_write(db, b, 0), LSM_OK);
  lsm_fault_env_fail_next(&fe, LSM_FAULT_SYNC_DIR, 0);
  ck_assert_int_eq(lsm_flush(db), LSM_IOERR);
  lsm_close(db);
  o.env = NULL;
  rc = lsm_open("dirsync", &o, &db);
  ck_assert_msg(rc == LSM_OK, "reopen after a failed directory fsync: %d %s", rc, lsm_errmsg(db));
  ck_assert_int_eq(lsm_get(db, NULL, "a", 1, NULL), LSM_OK);
  ck_assert_int_eq(lsm_check(db), LSM_OK);
  lsm_close(db);
  lsm_batch_free(b);
  lsm_fault_env_free(&fe);
}
END_TEST

static Suite *faults_suite(void) {
  Suite *s = suite_create("faults");
  TCase *tc = tcase_create("faults");
  tcase_set_timeout(tc, lsm_test_torture() ? 36000 : 300);
  tcase_add_test(tc, failed_log_append_refuses_writes_until_reopen);
  tcase_add_test(tc, failed_table_read_is_an_error_not_a_miss);
  tcase_add_test(tc, failed_directory_sync_after_manifest_rename_keeps_database_openable);
  tcase_add_test(tc, io_fault_loop_sync_full_loses_no_acknowledged_commit);
  tcase_add_test(tc, io_fault_loop_sync_normal_torn_appends_lose_no_acknowledged_commit);
  tcase_add_test(tc, io_fault_loop_sticky_faults_lose_no_acknowledged_commit);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(faults_suite());
  int failed;
  const char *only = getenv("LSM_FAULT_ONLY");
  if (only) {
    /* kind:N[:sync[:sticky[:partial]]] — one case, in this process. */
    fault_spec s = {0, 1, 0, 0, LSM_SYNC_FULL, 60};
    char name[32], msg[1024];
    int k, sync = LSM_SYNC_FULL, sticky = 0, partial = 0, rc;
    unsigned long long n = 1;
    if (sscanf(only, "%31[a-z_]:%llu:%d:%d:%d", name, &n, &sync, &sticky, &partial) < 2) {
      fprintf(stderr, "LSM_FAULT_ONLY=kind:N[:sync[:sticky[:partial]]]\n");
      return 2;
    }
    for (k = 0; k < LSM_FAULT_NKINDS && strcmp(kind_names[k], name) != 0; k++) {
    }
    if (k == LSM_FAULT_NKINDS) return 2;
    s.kind = k;
    s.nth = n;
    s.sync_mode = sync;
    s.sticky = sticky;
    s.partial = (size_t)partial;
    if (lsm_test_torture()) s.n_batches = 200;
    rc = one_case(&s, msg, sizeof msg);
    printf("%s#%llu: %s %s\n", name, n, rc < 0 ? "FAIL" : "ok", msg);
    return rc < 0;
  }
  lsm_test_enter_fast_dir();
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  lsm_test_leave_fast_dir();
  return failed == 0 ? 0 : 1;
}
