/*
** test_multiproc.c — several engine instances on one directory (FORMAT.md
** "Multi-process protocol"), through lsm/lsm.h.
**
** Two handles opened in one process are two instances exactly as two
** processes are (their locks are per open file, lsm/shm.c), which makes the
** protocol testable step by step: commits seen across instances, the
** WRITER lock (kept between transactions by a sole instance, handed over
** when another opens), log rotation by a non-owner flushed by the owner, the OWNER
** role moving when its holder closes, a dead writer's torn log tail,
** snapshots and iterators surviving another instance's compaction, files
** kept while another instance may read them, destroy refused while open.
**
** Then the real thing: four forked processes on one directory, each owning
** a key range and a counter (a write transaction sets its eight keys to the
** next value, under lsm_write_begin), reading each other's ranges: every
** read is all-or-nothing, never goes back, and shows at least every commit
** acknowledged before the read began (counters in a shared mapping).  A
** small memtable makes flushes and compactions happen throughout.  The
** process that opened first, the owner, is killed with SIGKILL mid-run (it
** may hold WRITER, be mid-append, mid-flush or mid-compaction); another
** takes over its role, all go on, and a reopen finds every acknowledged
** commit and passes lsm_check.
**
** Randomised: prints its seed; LSM_TEST_SEED replays.
*/
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lsm.h"
#include "db_test_support.h"
#include "coding.h"   /* lsm_buffer_append */

/* ---------------------------------------------------------------- helpers */

static void small_options(lsm_options *o) {
  lsm_test_small_options(o);
  o->l0_slowdown_trigger = 6;
  o->l0_stop_trigger = 10;
}

static int put_rc(lsm_db *db, const char *k, const char *v) {
  lsm_batch *b;
  int rc;
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  ck_assert_int_eq(lsm_batch_put(b, k, strlen(k), v, strlen(v)), LSM_OK);
  rc = lsm_write(db, b, 0);
  lsm_batch_free(b);
  return rc;
}

/* Value of k as a NUL-terminated string in buf, or NULL if absent. */
static const char *get(lsm_db *db, const lsm_snapshot *s, const char *k, lsm_buffer *buf) {
  int rc = lsm_get(db, s, k, strlen(k), buf);
  if (rc == LSM_NOTFOUND) return NULL;
  ck_assert_msg(rc == LSM_OK, "get %s: %d %s", k, rc, lsm_errmsg(db));
  ck_assert_int_eq(lsm_buffer_append(buf, "", 1), LSM_OK);
  return (const char *)buf->data;
}

/* Files of dir with extension ext (".sst", ".log"); their total size in
** *bytes (may be NULL). */
static int count_files(const char *dir, const char *ext, uint64_t *bytes) {
  DIR *d = opendir(dir);
  struct dirent *e;
  int n = 0;
  if (bytes) *bytes = 0;
  ck_assert_ptr_nonnull(d);
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (len > strlen(ext) && strcmp(e->d_name + len - strlen(ext), ext) == 0) {
      n++;
      if (bytes) {
        char path[512];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (stat(path, &st) == 0) *bytes += (uint64_t)st.st_size;
      }
    }
  }
  closedir(d);
  return n;
}

static int live_tables(lsm_db *db) {
  lsm_stats st;
  int l, n = 0;
  ck_assert_int_eq(lsm_get_stats(db, &st), LSM_OK);
  for (l = 0; l < LSM_MAX_LEVELS; l++) n += st.level[l].files;
  return n;
}

static int count_keys(lsm_db *db, const lsm_snapshot *snap) {
  lsm_iter *it;
  int n = 0;
  ck_assert_int_eq(lsm_iter_new(db, snap, NULL, &it), LSM_OK);
  for (lsm_iter_first(it); lsm_iter_valid(it); lsm_iter_next(it)) n++;
  ck_assert_int_eq(lsm_iter_status(it), LSM_OK);
  lsm_iter_free(it);
  return n;
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(int ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (long)(ms % 1000) * 1000000L;
  nanosleep(&ts, NULL);
}

/* Is WRITER (byte 1 of dir/LOCK, FORMAT.md) held by some instance?  Asked
** through a descriptor of its own, which holds no lock. */
static int writer_held(const char *dir) {
  char path[512];
  struct flock fl;
  int fd;
  snprintf(path, sizeof path, "%s/LOCK", dir);
  fd = open(path, O_RDWR);
  ck_assert_int_ge(fd, 0);
  memset(&fl, 0, sizeof fl);
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_start = 1;
  fl.l_len = 1;
  ck_assert_int_eq(fcntl(fd, F_OFD_GETLK, &fl), 0);
  close(fd);
  return fl.l_type != F_UNLCK;
}

/* SHM writer_parked (offset 56, FORMAT.md): the holder keeps WRITER
** between transactions. */
static uint64_t writer_parked(const char *dir) {
  char path[512];
  uint64_t v = 0;
  int fd;
  snprintf(path, sizeof path, "%s/SHM", dir);
  fd = open(path, O_RDONLY);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(pread(fd, &v, sizeof v, 56), (ssize_t)sizeof v);
  close(fd);
  return v;
}

/* ---------------------------------------------------------------- two instances */

START_TEST(instances_see_each_others_commits) {
  lsm_db *a = lsm_test_open("mp_see", NULL), *b = lsm_test_open("mp_see", NULL);
  lsm_buffer buf = {0};
  lsm_test_put(a, "k1", "from a");
  ck_assert_str_eq(get(b, NULL, "k1", &buf), "from a");
  lsm_test_put(b, "k2", "from b");
  ck_assert_str_eq(get(a, NULL, "k2", &buf), "from b");
  lsm_test_put(b, "k1", "b again");
  ck_assert_str_eq(get(a, NULL, "k1", &buf), "b again");
  ck_assert_int_eq(count_keys(a, NULL), 2);
  ck_assert_int_eq(lsm_close(a), LSM_OK);
  ck_assert_int_eq(lsm_close(b), LSM_OK);
  /* Both commits survive a reopen by a sole instance. */
  a = lsm_test_open("mp_see", NULL);
  ck_assert_str_eq(get(a, NULL, "k1", &buf), "b again");
  ck_assert_str_eq(get(a, NULL, "k2", &buf), "from b");
  ck_assert_int_eq(lsm_close(a), LSM_OK);
  lsm_buffer_free(&buf);
}
END_TEST

START_TEST(one_writer_at_a_time_across_instances) {
  lsm_db *a = lsm_test_open("mp_writer", NULL), *b = lsm_test_open("mp_writer", NULL);
  lsm_buffer buf = {0};
  int rc;
  lsm_test_put(a, "n", "1");
  /* A holds the write lock for a read-modify-write transaction. */
  ck_assert_int_eq(lsm_write_begin(a), LSM_OK);
  ck_assert_int_eq(lsm_write_begin(a), LSM_OK);   /* held: no-op */
  rc = put_rc(b, "n", "from b");
  ck_assert_int_eq(rc, LSM_BUSY);
  ck_assert_msg(strstr(lsm_errmsg(b), "another process") != NULL, "%s", lsm_errmsg(b));
  ck_assert_int_eq(lsm_write_begin(b), LSM_BUSY);
  /* B still reads. */
  ck_assert_str_eq(get(b, NULL, "n", &buf), "1");
  lsm_test_put(a, "n", "2");
  lsm_test_put(a, "m", "2");
  ck_assert_int_eq(lsm_write_end(a), LSM_OK);
  /* Released: B writes, and its transaction starts from A's commits. */
  ck_assert_int_eq(lsm_write_begin(b), LSM_OK);
  ck_assert_str_eq(get(b, NULL, "n", &buf), "2");
  lsm_test_put(b, "n", "3");
  ck_assert_int_eq(put_rc(a, "n", "x"), LSM_BUSY);
  ck_assert_int_eq(lsm_write_end(b), LSM_OK);
  ck_assert_str_eq(get(a, NULL, "n", &buf), "3");
  ck_assert_int_eq(lsm_close(a), LSM_OK);
  ck_assert_int_eq(lsm_close(b), LSM_OK);
  lsm_buffer_free(&buf);
}
END_TEST

/* A sole instance keeps WRITER from one transaction to the next; a second
** instance that opens gets it from the idle holder without LSM_BUSY; then
** both take it per transaction; once the second has closed, the first
** keeps it again. */
START_TEST(a_sole_instance_keeps_writer_and_hands_it_to_a_newcomer) {
  lsm_db *a = lsm_test_open("mp_keep", NULL), *b;
  lsm_buffer buf = {0};
  char k[32];
  int i, rc;
  double deadline;
  lsm_test_put(a, "k1", "a");
  ck_assert(writer_held("mp_keep"));
  ck_assert_uint_eq(writer_parked("mp_keep"), 1);
  /* Kept across write transactions too; in use (not parked) inside one. */
  ck_assert_int_eq(lsm_write_begin(a), LSM_OK);
  ck_assert_uint_eq(writer_parked("mp_keep"), 0);
  lsm_test_put(a, "k2", "a");
  ck_assert_int_eq(lsm_write_end(a), LSM_OK);
  ck_assert(writer_held("mp_keep"));
  ck_assert_uint_eq(writer_parked("mp_keep"), 1);
  /* B arrives while A is idle: A lets go (its background thread), B's
  ** transaction waits for that instead of failing with LSM_BUSY.  The wait
  ** is bounded (PARK_WAIT_MS, then LSM_BUSY for the caller's busy handler
  ** to retry); a machine loaded enough to starve A's thread that long
  ** gets a retry here rather than a failed test. */
  b = lsm_test_open("mp_keep", NULL);
  deadline = now_s() + 30;
  while ((rc = lsm_write_begin(b)) == LSM_BUSY && now_s() < deadline) sleep_ms(1);
  ck_assert_int_eq(rc, LSM_OK);
  ck_assert_str_eq(get(b, NULL, "k2", &buf), "a");
  lsm_test_put(b, "k3", "b");
  /* A writer in a transaction still means LSM_BUSY at once. */
  ck_assert_int_eq(put_rc(a, "k4", "a"), LSM_BUSY);
  ck_assert_int_eq(lsm_write_end(b), LSM_OK);
  /* Two instances: WRITER is taken and released per transaction. */
  ck_assert(!writer_held("mp_keep"));
  ck_assert_str_eq(get(a, NULL, "k3", &buf), "b");
  for (i = 0; i < 20; i++) {
    snprintf(k, sizeof k, "r%02d", i);
    lsm_test_put(i % 2 ? a : b, k, i % 2 ? "a" : "b");
    ck_assert(!writer_held("mp_keep"));
    ck_assert_str_eq(get(i % 2 ? b : a, NULL, k, &buf), i % 2 ? "a" : "b");
  }
  ck_assert_int_eq(lsm_close(b), LSM_OK);
  /* B gone: A's background thread sees no other slot held, and a later
  ** commit of A's keeps WRITER again. */
  deadline = now_s() + 20;
  for (i = 0; !writer_held("mp_keep") && now_s() < deadline; i++) {
    snprintf(k, sizeof k, "s%05d", i);
    lsm_test_put(a, k, "a");
    if (!writer_held("mp_keep")) sleep_ms(5);
  }
  ck_assert(writer_held("mp_keep"));
  ck_assert_uint_eq(writer_parked("mp_keep"), 1);
  ck_assert_int_eq(lsm_close(a), LSM_OK);
  ck_assert(!writer_held("mp_keep"));
  a = lsm_test_open("mp_keep", NULL);
  ck_assert_str_eq(get(a, NULL, "k1", &buf), "a");
  ck_assert_str_eq(get(a, NULL, "k3", &buf), "b");
  ck_assert_str_eq(get(a, NULL, "r19", &buf), "a");
  ck_assert_str_eq(get(a, NULL, "s00000", &buf), "a");
  ck_assert_int_eq(lsm_close(a), LSM_OK);
  lsm_buffer_free(&buf);
}
END_TEST

/* A keeper that becomes idle lets WRITER go by itself (its background
** thread), and its next commit keeps it again; a keeper in the middle of
** many commits hands it to a newcomer at the end of one of them. */
START_TEST(an_idle_keeper_lets_go_and_a_busy_one_hands_over_between_commits) {
  lsm_db *a = lsm_test_open("mp_idle", NULL), *b;
  lsm_buffer buf = {0};
  char k[32];
  int i, rc;
  double deadline;
  lsm_test_put(a, "k", "1");
  ck_assert(writer_held("mp_idle"));
  deadline = now_s() + 20;
  while (writer_held("mp_idle") && now_s() < deadline) sleep_ms(20);
  ck_assert(!writer_held("mp_idle"));
  ck_assert_uint_eq(writer_parked("mp_idle"), 0);
  lsm_test_put(a, "k", "2");
  ck_assert(writer_held("mp_idle"));
  /* B opens; A goes on committing (no idle time) and still hands WRITER
  ** over: B's first write succeeds after at most a few LSM_BUSY, each
  ** meaning that A was inside a commit. */
  b = lsm_test_open("mp_idle", NULL);
  for (i = 0, rc = LSM_BUSY; rc == LSM_BUSY && i < 100000; i++) {
    snprintf(k, sizeof k, "a%06d", i);
    lsm_test_put(a, k, "a");
    rc = put_rc(b, "from b", "b");
  }
  ck_assert_msg(rc == LSM_OK, "b: %d %s", rc, lsm_errmsg(b));
  ck_assert_str_eq(get(a, NULL, "from b", &buf), "b");
  ck_assert_str_eq(get(b, NULL, "k", &buf), "2");
  ck_assert_int_eq(lsm_close(a), LSM_OK);
  ck_assert_int_eq(lsm_close(b), LSM_OK);
  lsm_buffer_free(&buf);
}
END_TEST

/* The same across processes: a child keeps WRITER while alone; the parent
** opens and writes without LSM_BUSY; the child sees the parent's commit and
** writes again (per transaction now). */
START_TEST(a_keeper_in_another_process_hands_writer_over) {
  int up[2], down[2];
  char m = 0;
  pid_t pid;
  lsm_db *a;
  lsm_buffer buf = {0};
  int status = 0;
  ck_assert_int_eq(pipe(up), 0);
  ck_assert_int_eq(pipe(down), 0);
  fflush(stdout);
  fflush(stderr);
  pid = fork();
  ck_assert_int_ge(pid, 0);
  if (pid == 0) {
    lsm_db *c = NULL;
    lsm_buffer cb = {0};
    int ok;
    close(up[0]);
    close(down[1]);
    ok = lsm_open("mp_keep_fork", NULL, &c) == LSM_OK && put_rc(c, "child", "1") == LSM_OK &&
         writer_held("mp_keep_fork");
    m = ok ? 'k' : 'x';
    if (write(up[1], &m, 1) != 1 || read(down[0], &m, 1) != 1) _exit(2);
    /* The parent has committed: seen here, and this process still writes. */
    ok = lsm_get(c, NULL, "parent", 6, &cb) == LSM_OK && cb.len == 1 &&
         put_rc(c, "child", "2") == LSM_OK;
    m = ok ? 'w' : 'x';
    if (write(up[1], &m, 1) != 1 || read(down[0], &m, 1) != 1) _exit(2);
    lsm_buffer_free(&cb);
    _exit(lsm_close(c) == LSM_OK ? 0 : 3);
  }
  close(up[1]);
  close(down[0]);
  ck_assert_int_eq(read(up[0], &m, 1), 1);
  ck_assert_int_eq(m, 'k');
  ck_assert(writer_held("mp_keep_fork"));
  a = lsm_test_open("mp_keep_fork", NULL);
  ck_assert_int_eq(put_rc(a, "parent", "p"), LSM_OK);
  ck_assert_str_eq(get(a, NULL, "child", &buf), "1");
  ck_assert_int_eq(write(down[1], "g", 1), 1);
  ck_assert_int_eq(read(up[0], &m, 1), 1);
  ck_assert_int_eq(m, 'w');
  ck_assert_str_eq(get(a, NULL, "child", &buf), "2");
  ck_assert(!writer_held("mp_keep_fork"));
  ck_assert_int_eq(write(down[1], "q", 1), 1);
  ck_assert_int_eq(waitpid(pid, &status, 0), pid);
  ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  close(up[0]);
  close(down[1]);
  ck_assert_int_eq(lsm_close(a), LSM_OK);
  lsm_buffer_free(&buf);
}
END_TEST

/* With options.background = 0 nothing could let an idle instance's WRITER
** go, so it is never kept. */
START_TEST(without_a_background_thread_writer_is_never_kept) {
  lsm_options o;
  lsm_db *a;
  lsm_options_init(&o);
  o.background = 0;
  a = lsm_test_open("mp_nobg", &o);
  lsm_test_put(a, "k", "v");
  ck_assert(!writer_held("mp_nobg"));
  ck_assert_int_eq(lsm_write_begin(a), LSM_OK);
  ck_assert(writer_held("mp_nobg"));
  ck_assert_int_eq(lsm_write_end(a), LSM_OK);
  ck_assert(!writer_held("mp_nobg"));
  ck_assert_int_eq(lsm_close(a), LSM_OK);
}
END_TEST

/* B is not the owner: its commits fill log after log, which A's background
** thread flushes and compacts; B's lsm_flush waits for A to do it. */
START_TEST(a_non_owner_fills_logs_the_owner_flushes) {
  lsm_options o;
  lsm_db *a, *b;
  lsm_buffer buf = {0};
  lsm_stats st;
  char k[32], v[64];
  int i;
  double deadline;
  small_options(&o);
  a = lsm_test_open("mp_rotate", &o);
  b = lsm_test_open("mp_rotate", &o);
  for (i = 0; i < 3000; i++) {
    snprintf(k, sizeof k, "key%05d", i % 1500);
    snprintf(v, sizeof v, "value %d written by b", i);
    lsm_test_put(b, k, v);
  }
  ck_assert_int_eq(lsm_flush(b), LSM_OK);
  ck_assert_int_eq(lsm_get_stats(a, &st), LSM_OK);
  ck_assert_uint_gt(st.flushes, 5);
  ck_assert_int_eq(lsm_get_stats(b, &st), LSM_OK);
  ck_assert_uint_eq(st.flushes, 0);   /* not b's job */
  ck_assert_uint_eq(st.compactions, 0);
  for (i = 1500; i < 3000; i++) {
    snprintf(k, sizeof k, "key%05d", i % 1500);
    snprintf(v, sizeof v, "value %d written by b", i);
    ck_assert_str_eq(get(a, NULL, k, &buf), v);
    ck_assert_str_eq(get(b, NULL, k, &buf), v);
  }
  ck_assert_int_eq(count_keys(a, NULL), 1500);
  ck_assert_int_eq(count_keys(b, NULL), 1500);
  /* At most two live logs, plus one created ahead by each instance, once
  ** the owner has deleted the retired ones (after B's slot let them go). */
  deadline = now_s() + 20;
  while (count_files("mp_rotate", ".log", NULL) > 4 && now_s() < deadline) {
    ck_assert_int_eq(count_keys(b, NULL), 1500);
    sleep_ms(20);
  }
  ck_assert_int_le(count_files("mp_rotate", ".log", NULL), 4);
  ck_assert_int_eq(lsm_check(a), LSM_OK);
  ck_assert_int_eq(lsm_check(b), LSM_OK);
  ck_assert_int_eq(lsm_close(a), LSM_OK);
  ck_assert_int_eq(lsm_close(b), LSM_OK);
  lsm_buffer_free(&buf);
}
END_TEST

START_TEST(the_owner_role_moves_when_its_holder_closes) {
  lsm_options o;
  lsm_db *a, *b;
  lsm_buffer buf = {0};
  lsm_stats st;
  char k[32];
  int i;
  small_options(&o);
  a = lsm_test_open("mp_owner", &o);
  b = lsm_test_open("mp_owner", &o);
  for (i = 0; i < 500; i++) {
    snprintf(k, sizeof k, "a%04d", i);
    lsm_test_put(a, k, "1");
  }
  /* B cannot compact: A maintains the directory. */
  ck_assert_int_eq(lsm_compact(b), LSM_BUSY);
  ck_assert_int_eq(lsm_close(a), LSM_OK);
  /* A is gone: B takes the role (at its next commit or call). */
  for (i = 0; i < 500; i++) {
    snprintf(k, sizeof k, "b%04d", i);
    lsm_test_put(b, k, "2");
  }
  ck_assert_int_eq(lsm_compact(b), LSM_OK);
  ck_assert_int_eq(lsm_get_stats(b, &st), LSM_OK);
  ck_assert_uint_gt(st.compactions, 0);
  for (i = 1; i < LSM_MAX_LEVELS - 1; i++) {
    if (st.level[i].files) break;
  }
  ck_assert_int_eq(st.level[0].files, 0);
  ck_assert_int_eq(count_keys(b, NULL), 1000);
  /* Everything not in B's version is deleted: B owns the directory now. */
  ck_assert_int_eq(count_files("mp_owner", ".sst", NULL), live_tables(b));
  ck_assert_int_eq(lsm_close(b), LSM_OK);
  a = lsm_test_open("mp_owner", &o);
  ck_assert_str_eq(get(a, NULL, "a0000", &buf), "1");
  ck_assert_str_eq(get(a, NULL, "b0499", &buf), "2");
  ck_assert_int_eq(count_keys(a, NULL), 1000);
  ck_assert_int_eq(lsm_check(a), LSM_OK);
  ck_assert_int_eq(lsm_close(a), LSM_OK);
  lsm_buffer_free(&buf);
}
END_TEST

/* The newest log file (highest number) holding records, as a path. */
static void current_log(const char *dir, char *out, size_t n) {
  DIR *d = opendir(dir);
  struct dirent *e;
  unsigned long best = 0;
  ck_assert_ptr_nonnull(d);
  out[0] = 0;
  while ((e = readdir(d)) != NULL) {
    char path[512];
    struct stat st;
    unsigned long num;
    if (strstr(e->d_name, ".log") == NULL) continue;
    num = strtoul(e->d_name, NULL, 10);
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (stat(path, &st) == 0 && st.st_size > 16 && num > best) {
      best = num;
      snprintf(out, n, "%s", path);
    }
  }
  closedir(d);
  ck_assert_msg(out[0] != 0, "no log with records in %s", dir);
}

static off_t file_size(const char *path) {
  struct stat st;
  ck_assert_int_eq(stat(path, &st), 0);
  return st.st_size;
}

START_TEST(a_dead_writers_torn_tail_is_left_alone_and_the_next_commit_starts_a_log) {
  lsm_db *a = lsm_test_open("mp_torn", NULL), *b = lsm_test_open("mp_torn", NULL);
  lsm_buffer buf = {0};
  char log[512];
  off_t torn_size;
  FILE *f;
  lsm_test_put(a, "before", "1");
  /* A writer that died in the middle of its append (the first bytes of a
  ** record header), without publishing a commit. */
  current_log("mp_torn", log, sizeof log);
  f = fopen(log, "ab");
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(fwrite("\x21\x00\x00", 1, 3, f), 3);
  fclose(f);
  torn_size = file_size(log);
  /* Readers stop at the torn bytes ("not yet"). */
  ck_assert_str_eq(get(b, NULL, "before", &buf), "1");
  /* The next writer must not append after them: a new log. */
  lsm_test_put(b, "after", "2");
  ck_assert_int_eq(file_size(log), torn_size);
  ck_assert_str_eq(get(a, NULL, "after", &buf), "2");
  lsm_test_put(a, "later", "3");
  ck_assert_str_eq(get(b, NULL, "later", &buf), "3");
  ck_assert_int_eq(lsm_close(a), LSM_OK);
  ck_assert_int_eq(lsm_close(b), LSM_OK);
  a = lsm_test_open("mp_torn", NULL);
  ck_assert_str_eq(get(a, NULL, "before", &buf), "1");
  ck_assert_str_eq(get(a, NULL, "after", &buf), "2");
  ck_assert_str_eq(get(a, NULL, "later", &buf), "3");
  ck_assert_int_eq(lsm_check(a), LSM_OK);
  ck_assert_int_eq(lsm_close(a), LSM_OK);
  lsm_buffer_free(&buf);
}
END_TEST

/* B's snapshot and iterator keep reading what they started on while A
** overwrites everything and compacts it away; the files B reads stay on
** disk until B lets go of them, then the owner deletes them. */
START_TEST(readers_keep_their_view_while_another_instance_compacts) {
  lsm_options o;
  lsm_db *a, *b;
  lsm_snapshot *snap;
  lsm_iter *it;
  lsm_buffer buf = {0};
  char k[32];
  int i, n;
  double deadline;
  small_options(&o);
  a = lsm_test_open("mp_views", &o);
  b = lsm_test_open("mp_views", &o);
  for (i = 0; i < 800; i++) {
    snprintf(k, sizeof k, "k%04d", i);
    lsm_test_put(a, k, "old");
  }
  ck_assert_int_eq(lsm_compact(a), LSM_OK);
  ck_assert_int_eq(lsm_snapshot_new(b, &snap), LSM_OK);
  ck_assert_int_eq(lsm_iter_new(b, NULL, NULL, &it), LSM_OK);
  for (i = 0; i < 800; i++) {
    snprintf(k, sizeof k, "k%04d", i);
    if (i % 2) lsm_test_put(a, k, "new");
    else {
      lsm_batch *bt;
      ck_assert_int_eq(lsm_batch_new(&bt), LSM_OK);
      ck_assert_int_eq(lsm_batch_delete(bt, k, strlen(k)), LSM_OK);
      ck_assert_int_eq(lsm_write(a, bt, 0), LSM_OK);
      lsm_batch_free(bt);
    }
  }
  ck_assert_int_eq(lsm_compact(a), LSM_OK);
  /* B's current reads see A's writes... */
  ck_assert_str_eq(get(b, NULL, "k0001", &buf), "new");
  ck_assert_ptr_null(get(b, NULL, "k0000", &buf));
  ck_assert_int_eq(count_keys(b, NULL), 400);
  /* ...its snapshot and iterator the old state, whole. */
  ck_assert_str_eq(get(b, snap, "k0000", &buf), "old");
  ck_assert_str_eq(get(b, snap, "k0001", &buf), "old");
  ck_assert_int_eq(count_keys(b, snap), 800);
  n = 0;
  for (lsm_iter_first(it); lsm_iter_valid(it); lsm_iter_next(it)) {
    size_t vl;
    const char *v = lsm_iter_value(it, &vl);
    ck_assert(vl == 3 && memcmp(v, "old", 3) == 0);
    n++;
  }
  ck_assert_int_eq(lsm_iter_status(it), LSM_OK);
  ck_assert_int_eq(n, 800);
  /* The old tables are still on disk: B may read them. */
  ck_assert_int_gt(count_files("mp_views", ".sst", NULL), live_tables(a));
  lsm_iter_free(it);
  lsm_snapshot_free(b, snap);
  /* B lets go and catches up (any read publishes its slot); the owner's
  ** background thread deletes the files within a few polls. */
  deadline = now_s() + 20;
  while (count_files("mp_views", ".sst", NULL) > live_tables(a) && now_s() < deadline) {
    ck_assert_int_eq(count_keys(b, NULL), 400);
    sleep_ms(20);
  }
  ck_assert_int_eq(count_files("mp_views", ".sst", NULL), live_tables(a));
  ck_assert_int_eq(lsm_close(b), LSM_OK);
  ck_assert_int_eq(lsm_close(a), LSM_OK);
  lsm_buffer_free(&buf);
}
END_TEST

START_TEST(destroy_waits_for_every_instance_to_close) {
  lsm_db *a = lsm_test_open("mp_destroy", NULL), *b = lsm_test_open("mp_destroy", NULL);
  lsm_test_put(a, "k", "v");
  ck_assert_int_eq(lsm_in_use("mp_destroy", NULL), LSM_BUSY);
  ck_assert_int_eq(lsm_destroy("mp_destroy", NULL), LSM_BUSY);
  ck_assert_int_eq(lsm_close(a), LSM_OK);
  ck_assert_int_eq(lsm_destroy("mp_destroy", NULL), LSM_BUSY);
  ck_assert_int_eq(lsm_close(b), LSM_OK);
  ck_assert_int_eq(lsm_in_use("mp_destroy", NULL), LSM_OK);
  ck_assert_int_eq(lsm_destroy("mp_destroy", NULL), LSM_OK);
  ck_assert_int_eq(access("mp_destroy", F_OK), -1);
  ck_assert_int_eq(lsm_in_use("mp_destroy", NULL), LSM_NOTFOUND);
}
END_TEST

/* ---------------------------------------------------------------- four processes */

#define WORKERS 4
#define KEYS_PER_WORKER 8
#define VICTIM 0                 /* the worker killed mid-run: it opens
                                    first, so it is the owner */

/* Shared by the parent and the workers (an anonymous shared mapping). */
typedef struct board {
  _Atomic long acked[WORKERS];   /* last counter whose commit returned OK */
  _Atomic long commits[WORKERS], reads[WORKERS], busy[WORKERS];
  _Atomic int failed;
  _Atomic int first;             /* 1 + the worker that failed first, or 0 */
  _Atomic int opened;            /* the victim has the directory open */
  char error[WORKERS][256];
} board;

static void worker_fail(board *bd, int w, const char *fmt, ...) {
  va_list ap;
  int none = 0;
  if (bd->error[w][0] == 0) {
    va_start(ap, fmt);
    vsnprintf(bd->error[w], sizeof bd->error[w], fmt, ap);
    va_end(ap);
  }
  atomic_compare_exchange_strong(&bd->first, &none, w + 1);
  atomic_store(&bd->failed, 1);
}

static uint64_t xorshift(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* Read worker x's keys in one iterator: all-or-nothing; returns the value
** (-1 none), or -2 after recording a failure. */
static long read_range(lsm_db *db, board *bd, int w, int x) {
  lsm_iter *it;
  char lo[16];
  long value = -1;
  int rows = 0, rc;
  snprintf(lo, sizeof lo, "w%d:", x);
  rc = lsm_iter_new(db, NULL, NULL, &it);
  if (rc) {
    worker_fail(bd, w, "worker %d: iterator: %d %s", w, rc, lsm_errmsg(db));
    return -2;
  }
  for (lsm_iter_seek(it, lo, strlen(lo)); lsm_iter_valid(it); lsm_iter_next(it)) {
    size_t kl, vl;
    const char *k = lsm_iter_key(it, &kl), *v = lsm_iter_value(it, &vl);
    char tmp[32];
    long got;
    if (kl < strlen(lo) || memcmp(k, lo, strlen(lo)) != 0) break;
    snprintf(tmp, sizeof tmp, "%.*s", (int)(vl < 31 ? vl : 31), v);
    got = atol(tmp);
    if (rows > 0 && got != value) {
      worker_fail(bd, w, "worker %d: worker %d's keys hold %ld and %ld in one read", w, x, value,
                  got);
    }
    value = got;
    rows++;
  }
  rc = lsm_iter_status(it);
  if (rc) worker_fail(bd, w, "worker %d: scan: %d %s", w, rc, lsm_iter_errmsg(it));
  lsm_iter_free(it);
  if (rows != 0 && rows != KEYS_PER_WORKER) {
    worker_fail(bd, w, "worker %d: read %d of worker %d's keys", w, rows, x);
  }
  return atomic_load(&bd->failed) ? -2 : value;
}

/* One write transaction: the next counter value on all of w's keys. */
static int write_txn(lsm_db *db, board *bd, int w, long next) {
  lsm_batch *b = NULL;
  long own;
  int rc, i;
  while ((rc = lsm_write_begin(db)) == LSM_BUSY) {
    atomic_fetch_add(&bd->busy[w], 1);
    usleep(200);
  }
  if (rc) {
    worker_fail(bd, w, "worker %d: write_begin: %d %s", w, rc, lsm_errmsg(db));
    return rc;
  }
  /* Read-modify-write: under the lock, w's keys hold exactly next - 1. */
  own = read_range(db, bd, w, w);
  if (own != -2 && own != (next > 1 ? next - 1 : -1)) {
    worker_fail(bd, w, "worker %d: its own keys hold %ld, not %ld", w, own, next - 1);
  }
  rc = lsm_batch_new(&b);
  for (i = 0; rc == LSM_OK && i < KEYS_PER_WORKER; i++) {
    char k[16], v[32];
    snprintf(k, sizeof k, "w%d:%02d", w, i);
    snprintf(v, sizeof v, "%ld", next);
    rc = lsm_batch_put(b, k, strlen(k), v, strlen(v));
  }
  if (rc == LSM_OK) rc = lsm_write(db, b, 0);
  if (rc) worker_fail(bd, w, "worker %d: write: %d %s", w, rc, lsm_errmsg(db));
  lsm_batch_free(b);
  if (lsm_write_end(db) != LSM_OK) worker_fail(bd, w, "worker %d: write_end", w);
  if (rc == LSM_OK) atomic_store(&bd->acked[w], next);
  return rc;
}

static void worker_main(board *bd, int w, int ops, uint64_t seed) {
  lsm_options o;
  lsm_db *db = NULL;
  long last_seen[WORKERS], committed = 0;
  uint64_t s = seed * 2654435761u + (uint64_t)w + 1;
  int i, rc, x;
  for (x = 0; x < WORKERS; x++) last_seen[x] = -1;
  small_options(&o);
  rc = lsm_open("mp_four", &o, &db);
  if (rc) {
    worker_fail(bd, w, "worker %d: open: %d %s", w, rc, db ? lsm_errmsg(db) : "");
    lsm_close(db);
    _exit(1);
  }
  if (w == VICTIM) atomic_store(&bd->opened, 1);
  for (i = 0; (w == VICTIM || i < ops) && !atomic_load(&bd->failed); i++) {
    if (xorshift(&s) % 2 == 0) {
      if (write_txn(db, bd, w, committed + 1) != LSM_OK) break;
      committed++;
      atomic_fetch_add(&bd->commits[w], 1);
    } else {
      long before, v;
      x = (int)(xorshift(&s) % WORKERS);
      /* Every commit acknowledged before the read starts must show. */
      before = atomic_load(&bd->acked[x]);
      v = read_range(db, bd, w, x);
      if (v == -2) break;
      if (v < before && !(before == 0 && v == -1)) {
        worker_fail(bd, w, "worker %d: read %ld of worker %d, which had acknowledged %ld", w, v,
                    x, before);
      }
      if (v < last_seen[x]) {
        worker_fail(bd, w, "worker %d: worker %d's value went back from %ld to %ld", w, x,
                    last_seen[x], v);
      }
      if (x == w && v != (committed ? committed : -1)) {
        worker_fail(bd, w, "worker %d: read its own value %ld after committing %ld", w, v,
                    committed);
      }
      last_seen[x] = v;
      atomic_fetch_add(&bd->reads[w], 1);
    }
  }
  rc = lsm_close(db);
  if (rc) worker_fail(bd, w, "worker %d: close: %d", w, rc);
  _exit(atomic_load(&bd->failed) ? 1 : 0);
}

START_TEST(four_processes_read_and_write_one_killed_mid_run) {
  board *bd = mmap(NULL, sizeof(board), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  const char *env = getenv("LSM_TEST_SEED");
  uint64_t seed = env ? strtoull(env, NULL, 10) : (uint64_t)time(NULL) ^ (uint64_t)getpid();
  int ops = getenv("LSM_TORTURE") && strcmp(getenv("LSM_TORTURE"), "0") != 0 ? 20000 : 1500;
  pid_t pids[WORKERS];
  long at_kill[WORKERS];
  lsm_options o;
  lsm_db *db;
  lsm_stats st;
  double t0 = now_s();
  int w, status, l, deeper = 0;
  long total_commits = 0, total_reads = 0, total_busy = 0;
  printf("four_processes: seed %llu (LSM_TEST_SEED to replay)\n", (unsigned long long)seed);
  fflush(stdout);
  ck_assert(bd != MAP_FAILED);
  memset(bd, 0, sizeof *bd);
  for (w = 0; w < WORKERS; w++) {
    pids[w] = fork();
    ck_assert_int_ge(pids[w], 0);
    if (pids[w] == 0) worker_main(bd, w, ops, seed);
    /* The victim opens alone (recovery, OWNER), the others join. */
    while (w == VICTIM && !atomic_load(&bd->opened) && !atomic_load(&bd->failed)) sleep_ms(1);
  }
  /* Kill the victim once it has committed a while, mid-whatever. */
  while (atomic_load(&bd->acked[VICTIM]) < 150 && !atomic_load(&bd->failed) &&
         now_s() - t0 < 60) {
    sleep_ms(1);
  }
  sleep_ms((int)(seed % 7));
  kill(pids[VICTIM], SIGKILL);
  ck_assert_int_eq(waitpid(pids[VICTIM], &status, 0), pids[VICTIM]);
  ck_assert_msg(WIFSIGNALED(status), "the victim ended before the kill: %s",
                bd->error[VICTIM]);
  for (w = 0; w < WORKERS; w++) at_kill[w] = atomic_load(&bd->acked[w]);
  for (w = 0; w < WORKERS; w++) {
    if (w == VICTIM) continue;
    ck_assert_int_eq(waitpid(pids[w], &status, 0), pids[w]);
    /* A failure stops every worker: name the first one's. */
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "worker %d (status %d): %s", w,
                  status, atomic_load(&bd->first) ? bd->error[atomic_load(&bd->first) - 1] : "died");
  }
  for (w = 0; w < WORKERS; w++) {
    ck_assert_msg(bd->error[w][0] == 0, "%s", bd->error[w]);
    total_commits += atomic_load(&bd->commits[w]);
    total_reads += atomic_load(&bd->reads[w]);
    total_busy += atomic_load(&bd->busy[w]);
    /* The survivors went on after the kill. */
    if (w != VICTIM) ck_assert_int_gt(atomic_load(&bd->acked[w]), at_kill[w]);
  }
  /* A sole instance recovers every acknowledged commit, whole. */
  small_options(&o);
  db = lsm_test_open("mp_four", &o);
  for (w = 0; w < WORKERS; w++) {
    long v = read_range(db, bd, 0, w), acked = atomic_load(&bd->acked[w]);
    ck_assert_msg(bd->error[0][0] == 0, "%s", bd->error[0]);
    if (w == VICTIM) {
      /* Killed after its commit but before it noted it: one more. */
      ck_assert_msg(v == acked || v == acked + 1, "victim: %ld acknowledged, %ld found", acked, v);
    } else {
      ck_assert_msg(v == acked, "worker %d: %ld acknowledged, %ld found", w, acked, v);
    }
  }
  ck_assert_msg(lsm_check(db) == LSM_OK, "lsm_check: %s", lsm_errmsg(db));
  ck_assert_int_eq(lsm_get_stats(db, &st), LSM_OK);
  for (l = 1; l < LSM_MAX_LEVELS; l++) deeper += st.level[l].files;
  ck_assert_int_gt(deeper, 0);   /* compactions happened during the run */
  ck_assert_int_eq(lsm_close(db), LSM_OK);
  printf("coverage: multiproc: %d processes (the owner killed at %ld commits), %ld commits, %ld reads "
         "checked, %ld busy retries, 0 lost, %.1f s\n", WORKERS, at_kill[VICTIM], total_commits,
         total_reads, total_busy, now_s() - t0);
  fflush(stdout);
  ck_assert_int_eq(lsm_destroy("mp_four", NULL), LSM_OK);
  munmap(bd, sizeof *bd);
}
END_TEST

static Suite *multiproc_suite(void) {
  Suite *s = suite_create("multiproc");
  TCase *tc = tcase_create("instances");
  tcase_set_timeout(tc, 180);
  tcase_add_test(tc, instances_see_each_others_commits);
  tcase_add_test(tc, one_writer_at_a_time_across_instances);
  tcase_add_test(tc, a_sole_instance_keeps_writer_and_hands_it_to_a_newcomer);
  tcase_add_test(tc, an_idle_keeper_lets_go_and_a_busy_one_hands_over_between_commits);
  tcase_add_test(tc, a_keeper_in_another_process_hands_writer_over);
  tcase_add_test(tc, without_a_background_thread_writer_is_never_kept);
  tcase_add_test(tc, a_non_owner_fills_logs_the_owner_flushes);
  tcase_add_test(tc, the_owner_role_moves_when_its_holder_closes);
  tcase_add_test(tc, a_dead_writers_torn_tail_is_left_alone_and_the_next_commit_starts_a_log);
  tcase_add_test(tc, readers_keep_their_view_while_another_instance_compacts);
  tcase_add_test(tc, destroy_waits_for_every_instance_to_close);
  tcase_add_test(tc, four_processes_read_and_write_one_killed_mid_run);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(multiproc_suite());
  int failed;
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
