/*
** test_registry.c — unit tests for ext/registry.c, the process-wide table
** of shared engines: one engine per directory however it is spelled
** (relative, absolute, "./", trailing slash, symlink, not yet existing),
** reference counting with close at the last release, the per-table write
** lock (exclusion, re-entrance, waiting with a timeout), a directory held
** by another process, and acquire/release racing from many threads.
**
** The registry calls SQLite through the extension routine table, so main()
** fills it with lsmx_test_init_sqlite_api() first.  Each test uses its own
** directory names in the scratch directory the runner gives it.
*/
#include <check.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>
#include "registry.h"
#include "lsm.h"
#include "shm.h"
#include "ext_test_support.h"

/* ---------------------------------------------------------------- helpers */

static lsmx_engine *acquire_ok(const char *dir) {
  lsmx_engine *e = NULL;
  char *err = NULL;
  lsm_options o;
  int rc;
  lsm_options_init(&o);
  rc = lsmx_engine_acquire(dir, &o, &e, &err);
  ck_assert_msg(rc == SQLITE_OK, "acquire %s: %d %s", dir, rc,
                err ? err : "(no message)");
  ck_assert_ptr_null(err);
  ck_assert_ptr_nonnull(e);
  ck_assert_ptr_nonnull(lsmx_engine_db(e));
  return e;
}

/* Whether no engine instance has dir open (LSM_OK) or one has
** (LSM_BUSY): the exclusive open lsm_destroy uses (lsm/shm.c). */
static int direct_open_status(const char *dir) {
  lsm_shm *shm = NULL;
  int first = 0, rc = lsm_shm_open(NULL, dir, LSM_SHM_EXCLUSIVE, &shm, &first, NULL);
  lsm_shm_close(shm);
  return rc;
}

static char *absolute(const char *rel) {
  char cwd[PATH_MAX];
  char *p;
  ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
  p = malloc(strlen(cwd) + strlen(rel) + 2);
  ck_assert_ptr_nonnull(p);
  sprintf(p, "%s/%s", cwd, rel);
  return p;
}

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---------------------------------------------------------------- engines */

START_TEST(acquire_same_dir_twice_shares_one_engine) {
  lsmx_engine *a = acquire_ok("reg_twice");
  lsmx_engine *b = acquire_ok("reg_twice");
  ck_assert_ptr_eq(a, b);
  ck_assert_ptr_eq(lsmx_engine_db(a), lsmx_engine_db(b));
  ck_assert_int_eq(lsmx_engine_refs(a), 2);
  ck_assert_int_eq(lsmx_engine_release(b), SQLITE_OK);
  ck_assert_int_eq(lsmx_engine_refs(a), 1);
  ck_assert_int_eq(lsmx_engine_release(a), SQLITE_OK);
}
END_TEST

START_TEST(different_spellings_of_one_dir_share_one_engine) {
  char *abs = absolute("reg_spell");
  char cwd[PATH_MAX], updown[PATH_MAX + 32];
  const char *base;
  const char *spellings[6];
  lsmx_engine *first, *e;
  int i, n = 0;

  ck_assert_ptr_nonnull(getcwd(cwd, sizeof(cwd)));
  base = strrchr(cwd, '/') + 1;
  snprintf(updown, sizeof(updown), "../%s/reg_spell", base);
  spellings[n++] = "./reg_spell";
  spellings[n++] = "reg_spell/";
  spellings[n++] = abs;
  spellings[n++] = "reg_spell//";
  spellings[n++] = updown;
  spellings[n++] = "./././reg_spell/.";

  first = acquire_ok("reg_spell");
  for (i = 0; i < n; i++) {
    e = acquire_ok(spellings[i]);
    ck_assert_msg(e == first, "'%s' got a different engine", spellings[i]);
    ck_assert_int_eq(lsmx_engine_refs(first), i + 2);
  }
  for (i = 0; i < n + 1; i++) {
    ck_assert_int_eq(lsmx_engine_release(first), SQLITE_OK);
  }
  ck_assert_int_eq(direct_open_status("reg_spell"), LSM_OK);
  free(abs);
}
END_TEST

START_TEST(symlink_to_dir_shares_its_engine) {
  lsmx_engine *a = acquire_ok("reg_target");
  lsmx_engine *b;
  ck_assert_int_eq(symlink("reg_target", "reg_link"), 0);
  b = acquire_ok("reg_link");
  ck_assert_ptr_eq(a, b);
  ck_assert_int_eq(lsmx_engine_refs(a), 2);
  lsmx_engine_release(a);
  lsmx_engine_release(b);
}
END_TEST

START_TEST(not_yet_existing_dir_is_canonicalised_like_after_creation) {
  /* Both directories, and their parents, do not exist before the first
  ** acquire creates them. */
  lsmx_engine *a = acquire_ok("reg_new/a/./b");
  lsmx_engine *b = acquire_ok("reg_new/a/b");
  lsmx_engine *c = acquire_ok("reg_new2/x/../y");
  lsmx_engine *d = acquire_ok("reg_new2/y");
  struct stat st;
  ck_assert_ptr_eq(a, b);
  ck_assert_ptr_eq(c, d);
  ck_assert_ptr_ne(a, c);
  ck_assert_int_eq(stat("reg_new/a/b", &st), 0);
  ck_assert(S_ISDIR(st.st_mode));
  lsmx_engine_release(a);
  lsmx_engine_release(b);
  lsmx_engine_release(c);
  lsmx_engine_release(d);
}
END_TEST

START_TEST(distinct_dirs_get_distinct_engines) {
  lsmx_engine *a = acquire_ok("reg_d1");
  lsmx_engine *b = acquire_ok("reg_d2");
  lsmx_engine *c = acquire_ok("reg_d10");   /* "reg_d1" is a prefix */
  ck_assert_ptr_ne(a, b);
  ck_assert_ptr_ne(a, c);
  ck_assert_ptr_ne(lsmx_engine_db(a), lsmx_engine_db(b));
  ck_assert_int_eq(lsmx_engine_refs(a), 1);
  ck_assert_int_eq(lsmx_engine_refs(b), 1);
  lsmx_engine_release(a);
  lsmx_engine_release(b);
  lsmx_engine_release(c);
}
END_TEST

START_TEST(last_release_closes_engine_and_unlocks_dir) {
  lsmx_engine *a = acquire_ok("reg_close");
  lsmx_engine *b = acquire_ok("reg_close/");
  lsmx_engine *c;
  ck_assert_int_eq(direct_open_status("reg_close"), LSM_BUSY);
  ck_assert_int_eq(lsmx_engine_release(a), SQLITE_OK);
  /* One reference left: still open. */
  ck_assert_int_eq(direct_open_status("reg_close"), LSM_BUSY);
  ck_assert_int_eq(lsmx_engine_release(b), SQLITE_OK);
  ck_assert_int_eq(direct_open_status("reg_close"), LSM_OK);
  /* And the registry opens it afresh. */
  c = acquire_ok("reg_close");
  ck_assert_int_eq(lsmx_engine_refs(c), 1);
  lsmx_engine_release(c);
}
END_TEST

START_TEST(data_written_through_one_reference_is_seen_through_another) {
  lsmx_engine *a = acquire_ok("reg_data");
  lsmx_engine *b = acquire_ok("./reg_data");
  lsm_batch *batch;
  lsm_buffer val = {0};
  ck_assert_int_eq(lsm_batch_new(&batch), LSM_OK);
  ck_assert_int_eq(lsm_batch_put(batch, "k", 1, "v", 1), LSM_OK);
  ck_assert_int_eq(lsm_write(lsmx_engine_db(a), batch, 0), LSM_OK);
  lsm_batch_free(batch);
  ck_assert_int_eq(lsm_get(lsmx_engine_db(b), NULL, "k", 1, &val), LSM_OK);
  ck_assert_uint_eq(val.len, 1);
  ck_assert_int_eq(val.data[0], 'v');
  lsm_buffer_free(&val);
  lsmx_engine_release(a);
  lsmx_engine_release(b);
}
END_TEST

START_TEST(failed_open_reports_message_and_registers_nothing) {
  lsmx_engine *e = NULL;
  char *err = NULL;
  lsm_options o;
  int rc;
  lsm_options_init(&o);
  o.create_if_missing = 0;
  rc = lsmx_engine_acquire("reg_missing", &o, &e, &err);
  ck_assert_int_eq(rc, SQLITE_CANTOPEN);
  ck_assert_ptr_null(e);
  ck_assert_ptr_nonnull(err);
  ck_assert_msg(strstr(err, "reg_missing") != NULL, "message: %s", err);
  sqlite3_free(err);
  /* Nothing left behind: a creating acquire now opens it with refs 1. */
  e = acquire_ok("reg_missing");
  ck_assert_int_eq(lsmx_engine_refs(e), 1);
  lsmx_engine_release(e);
}
END_TEST

START_TEST(empty_dir_name_is_misuse) {
  lsmx_engine *e = NULL;
  char *err = NULL;
  ck_assert_int_eq(lsmx_engine_acquire("", NULL, &e, &err), SQLITE_MISUSE);
  ck_assert_ptr_null(e);
  ck_assert_ptr_nonnull(err);
  sqlite3_free(err);
}
END_TEST

static int owner_a, owner_b;   /* their addresses identify two owners */

START_TEST(dir_open_in_another_process_is_shared_and_writers_exclude_each_other) {
  int ready[2], go[2], done[2];
  pid_t pid;
  char c = 0;
  lsmx_engine *e = NULL;
  lsm_batch *b;
  lsm_buffer val = {0};
  int rc, status, by_process = -1;

  ck_assert_int_eq(pipe(ready), 0);
  ck_assert_int_eq(pipe(go), 0);
  ck_assert_int_eq(pipe(done), 0);
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    /* Child: write a row and hold the write lock until the parent says go;
    ** then commit one more row and report what it reads of the parent's. */
    lsm_db *db = NULL;
    lsm_batch *cb = NULL;
    char ok = 'y';
    close(ready[0]);
    close(go[1]);
    close(done[0]);
    if (lsm_open("reg_other_proc", NULL, &db) != LSM_OK || lsm_batch_new(&cb) != LSM_OK) _exit(2);
    lsm_batch_put(cb, "child", 5, "1", 1);
    if (lsm_write(db, cb, 0) != LSM_OK || lsm_write_begin(db) != LSM_OK) ok = 'n';
    if (write(ready[1], &ok, 1) != 1) _exit(3);
    if (read(go[0], &ok, 1) != 1) _exit(4);
    lsm_batch_put(cb, "child2", 6, "2", 1);
    ok = lsm_write(db, cb, 0) == LSM_OK && lsm_write_end(db) == LSM_OK ? 'y' : 'n';
    if (write(done[1], &ok, 1) != 1) _exit(5);
    if (read(go[0], &ok, 1) != 1) _exit(6);
    ok = lsm_get(db, NULL, "parent", 6, NULL) == LSM_OK ? 'y' : 'n';
    if (write(done[1], &ok, 1) != 1) _exit(7);
    lsm_batch_free(cb);
    lsm_close(db);
    _exit(0);
  }
  close(ready[1]);
  close(go[0]);
  close(done[1]);
  ck_assert_int_eq(read(ready[0], &c, 1), 1);
  ck_assert_int_eq(c, 'y');

  /* The table opens beside the other process and shows its commit. */
  e = acquire_ok("reg_other_proc");
  ck_assert_int_eq(lsm_get(lsmx_engine_db(e), NULL, "child", 5, &val), LSM_OK);
  /* The other process holds the write lock: busy, and said so. */
  rc = lsmx_engine_lock_write(e, &owner_a, 50, &by_process);
  ck_assert_int_eq(rc, SQLITE_BUSY);
  ck_assert_int_eq(by_process, 1);
  /* Once it commits and lets go, the lock is ours, and its commit shows. */
  ck_assert_int_eq(write(go[1], "x", 1), 1);
  ck_assert_int_eq(read(done[0], &c, 1), 1);
  ck_assert_int_eq(c, 'y');
  ck_assert_int_eq(lsmx_engine_lock_write(e, &owner_a, 5000, &by_process), SQLITE_OK);
  ck_assert_int_eq(lsm_get(lsmx_engine_db(e), NULL, "child2", 6, &val), LSM_OK);
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  ck_assert_int_eq(lsm_batch_put(b, "parent", 6, "3", 1), LSM_OK);
  ck_assert_int_eq(lsm_write(lsmx_engine_db(e), b, 0), LSM_OK);
  lsm_batch_free(b);
  lsmx_engine_unlock_write(e, &owner_a);
  ck_assert_int_eq(write(go[1], "x", 1), 1);
  ck_assert_int_eq(read(done[0], &c, 1), 1);
  ck_assert_int_eq(c, 'y');
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  close(ready[0]);
  close(go[1]);
  close(done[0]);
  lsm_buffer_free(&val);
  lsmx_engine_release(e);
}
END_TEST

/* Many threads acquire and release the same directory (under different
** spellings) at once: every acquire succeeds, including those that race
** the last release's close, and the engine is closed at the end. */
#define RACE_THREADS 8
#define RACE_ROUNDS 200

static void *race_thread(void *arg) {
  const char *dir = arg;
  long failures = 0;
  int i;
  for (i = 0; i < RACE_ROUNDS; i++) {
    lsmx_engine *e = NULL;
    char *err = NULL;
    if (lsmx_engine_acquire(dir, NULL, &e, &err) != SQLITE_OK) {
      failures++;
      sqlite3_free(err);
      continue;
    }
    if (lsmx_engine_db(e) == NULL) failures++;
    if (lsmx_engine_release(e) != SQLITE_OK) failures++;
  }
  return (void *)failures;
}

START_TEST(concurrent_acquire_release_never_fails) {
  static const char *dirs[2] = {"reg_race", "./reg_race/"};
  pthread_t th[RACE_THREADS];
  int i;
  for (i = 0; i < RACE_THREADS; i++) {
    ck_assert_int_eq(
        pthread_create(&th[i], NULL, race_thread, (void *)dirs[i % 2]), 0);
  }
  for (i = 0; i < RACE_THREADS; i++) {
    void *res;
    ck_assert_int_eq(pthread_join(th[i], &res), 0);
    ck_assert_int_eq((long)res, 0);
  }
  ck_assert_int_eq(direct_open_status("reg_race"), LSM_OK);
}
END_TEST

START_TEST(release_of_null_is_harmless) {
  ck_assert_int_eq(lsmx_engine_release(NULL), SQLITE_OK);
}
END_TEST

/* ---------------------------------------------------------------- write lock */


START_TEST(write_lock_excludes_other_owner_until_unlocked) {
  lsmx_engine *e = acquire_ok("reg_lock");
  ck_assert_int_eq(lsmx_engine_lock_write(e, &owner_a, 0, NULL), SQLITE_OK);
  ck_assert_int_eq(lsmx_engine_lock_write(e, &owner_b, 0, NULL), SQLITE_BUSY);
  lsmx_engine_unlock_write(e, &owner_a);
  ck_assert_int_eq(lsmx_engine_lock_write(e, &owner_b, 0, NULL), SQLITE_OK);
  ck_assert_int_eq(lsmx_engine_lock_write(e, &owner_a, 0, NULL), SQLITE_BUSY);
  lsmx_engine_unlock_write(e, &owner_b);
  lsmx_engine_release(e);
}
END_TEST

START_TEST(write_lock_is_reentrant_and_one_unlock_releases_it) {
  lsmx_engine *e = acquire_ok("reg_reenter");
  ck_assert_int_eq(lsmx_engine_lock_write(e, &owner_a, 0, NULL), SQLITE_OK);
  ck_assert_int_eq(lsmx_engine_lock_write(e, &owner_a, 0, NULL), SQLITE_OK);
  ck_assert_int_eq(lsmx_engine_lock_write(e, &owner_a, 100, NULL), SQLITE_OK);
  lsmx_engine_unlock_write(e, &owner_a);
  ck_assert_int_eq(lsmx_engine_lock_write(e, &owner_b, 0, NULL), SQLITE_OK);
  lsmx_engine_unlock_write(e, &owner_b);
  lsmx_engine_release(e);
}
END_TEST

START_TEST(unlock_by_non_holder_does_nothing) {
  lsmx_engine *e = acquire_ok("reg_nonholder");
  ck_assert_int_eq(lsmx_engine_lock_write(e, &owner_a, 0, NULL), SQLITE_OK);
  lsmx_engine_unlock_write(e, &owner_b);
  ck_assert_int_eq(lsmx_engine_lock_write(e, &owner_b, 0, NULL), SQLITE_BUSY);
  lsmx_engine_unlock_write(e, &owner_a);
  /* Unlocking a free lock is harmless too. */
  lsmx_engine_unlock_write(e, &owner_a);
  ck_assert_int_eq(lsmx_engine_lock_write(e, &owner_b, 0, NULL), SQLITE_OK);
  lsmx_engine_unlock_write(e, &owner_b);
  lsmx_engine_release(e);
}
END_TEST

START_TEST(write_lock_is_per_engine) {
  lsmx_engine *e1 = acquire_ok("reg_pe1");
  lsmx_engine *e2 = acquire_ok("reg_pe2");
  ck_assert_int_eq(lsmx_engine_lock_write(e1, &owner_a, 0, NULL), SQLITE_OK);
  ck_assert_int_eq(lsmx_engine_lock_write(e2, &owner_b, 0, NULL), SQLITE_OK);
  lsmx_engine_unlock_write(e1, &owner_a);
  lsmx_engine_unlock_write(e2, &owner_b);
  lsmx_engine_release(e1);
  lsmx_engine_release(e2);
}
END_TEST

START_TEST(write_lock_timeout_expires_with_busy) {
  lsmx_engine *e = acquire_ok("reg_timeout");
  int64_t t0, waited;
  ck_assert_int_eq(lsmx_engine_lock_write(e, &owner_a, 0, NULL), SQLITE_OK);
  t0 = now_ms();
  ck_assert_int_eq(lsmx_engine_lock_write(e, &owner_b, 60, NULL), SQLITE_BUSY);
  waited = now_ms() - t0;
  ck_assert_msg(waited >= 55, "gave up after %lld ms", (long long)waited);
  ck_assert_msg(waited < 2000, "waited %lld ms", (long long)waited);
  lsmx_engine_unlock_write(e, &owner_a);
  lsmx_engine_release(e);
}
END_TEST

typedef struct {
  lsmx_engine *e;
  int delay_ms;
} unlocker_arg;

static void *unlocker(void *p) {
  unlocker_arg *a = p;
  struct timespec ts = {0, (long)a->delay_ms * 1000000L};
  nanosleep(&ts, NULL);
  lsmx_engine_unlock_write(a->e, &owner_a);
  return NULL;
}

START_TEST(write_lock_waiter_gets_lock_when_holder_unlocks) {
  lsmx_engine *e = acquire_ok("reg_wait");
  unlocker_arg arg;
  pthread_t th;
  int64_t t0, waited;

  ck_assert_int_eq(lsmx_engine_lock_write(e, &owner_a, 0, NULL), SQLITE_OK);
  arg.e = e;
  arg.delay_ms = 50;
  t0 = now_ms();
  ck_assert_int_eq(pthread_create(&th, NULL, unlocker, &arg), 0);
  ck_assert_int_eq(lsmx_engine_lock_write(e, &owner_b, 5000, NULL), SQLITE_OK);
  waited = now_ms() - t0;
  ck_assert_int_eq(pthread_join(th, NULL), 0);
  ck_assert_msg(waited >= 45, "got the lock after %lld ms, before the unlock",
                (long long)waited);
  ck_assert_msg(waited < 2000, "waited %lld ms", (long long)waited);
  /* b holds it now. */
  ck_assert_int_eq(lsmx_engine_lock_write(e, &owner_a, 0, NULL), SQLITE_BUSY);
  lsmx_engine_unlock_write(e, &owner_b);
  ck_assert_int_eq(lsmx_engine_lock_write(e, &owner_a, 0, NULL), SQLITE_OK);
  lsmx_engine_unlock_write(e, &owner_a);
  lsmx_engine_release(e);
}
END_TEST

START_TEST(write_lock_rejects_null_owner) {
  lsmx_engine *e = acquire_ok("reg_nullowner");
  ck_assert_int_eq(lsmx_engine_lock_write(e, NULL, 0, NULL), SQLITE_MISUSE);
  ck_assert_int_eq(lsmx_engine_lock_write(e, &owner_a, 0, NULL), SQLITE_OK);
  lsmx_engine_unlock_write(e, &owner_a);
  lsmx_engine_release(e);
}
END_TEST

/* ---------------------------------------------------------------- main */

static Suite *registry_suite(void) {
  Suite *s = suite_create("registry");
  TCase *tc = tcase_create("engines");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, acquire_same_dir_twice_shares_one_engine);
  tcase_add_test(tc, different_spellings_of_one_dir_share_one_engine);
  tcase_add_test(tc, symlink_to_dir_shares_its_engine);
  tcase_add_test(tc, not_yet_existing_dir_is_canonicalised_like_after_creation);
  tcase_add_test(tc, distinct_dirs_get_distinct_engines);
  tcase_add_test(tc, last_release_closes_engine_and_unlocks_dir);
  tcase_add_test(tc, data_written_through_one_reference_is_seen_through_another);
  tcase_add_test(tc, failed_open_reports_message_and_registers_nothing);
  tcase_add_test(tc, empty_dir_name_is_misuse);
  tcase_add_test(tc, dir_open_in_another_process_is_shared_and_writers_exclude_each_other);
  tcase_add_test(tc, concurrent_acquire_release_never_fails);
  tcase_add_test(tc, release_of_null_is_harmless);
  suite_add_tcase(s, tc);

  tc = tcase_create("write_lock");
  tcase_set_timeout(tc, 30);
  tcase_add_test(tc, write_lock_excludes_other_owner_until_unlocked);
  tcase_add_test(tc, write_lock_is_reentrant_and_one_unlock_releases_it);
  tcase_add_test(tc, unlock_by_non_holder_does_nothing);
  tcase_add_test(tc, write_lock_is_per_engine);
  tcase_add_test(tc, write_lock_timeout_expires_with_busy);
  tcase_add_test(tc, write_lock_waiter_gets_lock_when_holder_unlocks);
  tcase_add_test(tc, write_lock_rejects_null_owner);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  return lsmx_test_main("test_registry", registry_suite());
}
