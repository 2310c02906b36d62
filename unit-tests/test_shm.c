/*
** test_shm.c — unit tests for lsm/shm.c, the state shared by the open
** instances of one directory: the DMS initialisation protocol, the WRITER
** and OWNER roles (and WRITER kept between transactions: writer_parked,
** joins), reader slots and the oldest-generation scan, the shared
** counters, validation of a damaged SHM file, and I/O faults.
**
** Most cases fork: the byte-range locks are per open file and released by
** the kernel when a process dies, which is exactly what is tested.  A child
** talks to its parent over two pipes (one byte per message) and leaves with
** _exit(); when a parent fails an assertion its pipes close and the child's
** next read ends it.  Cases that need a thread blocked on a lock wait until
** /proc/locks lists the blocked request, so no case depends on timing.
** Each case uses its own directory in the runner's scratch directory.
*/
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fault_env.h"
#include "lsm.h"
#include "shm.h"

/* ---------------------------------------------------------------- helpers */

static void make_dir(const char *dir) {
  ck_assert_msg(mkdir(dir, 0755) == 0 || errno == EEXIST, "mkdir %s", dir);
}

static char *path_in(const char *dir, const char *name) {
  static char buf[4][256];
  static int k;
  char *p = buf[k++ & 3];
  snprintf(p, sizeof buf[0], "%s/%s", dir, name);
  return p;
}

static lsm_shm_state state_of(uint64_t seq, uint64_t wal, uint64_t gen, uint64_t next) {
  lsm_shm_state st;
  st.commit_seq = seq;
  st.wal_number = wal;
  st.manifest_gen = gen;
  st.next_file = next;
  return st;
}

/* Open dir expecting LSM_OK and the given first-ness; a first opener is
** initialised with *st (if st is not NULL). */
static lsm_shm *open_ok(const char *dir, int want_first, const lsm_shm_state *st) {
  lsm_shm *s = NULL;
  lsm_buffer err = {0};
  int first = -1, rc;
  rc = lsm_shm_open(NULL, dir, 0, &s, &first, &err);
  ck_assert_msg(rc == LSM_OK, "open %s: %d %s", dir, rc, err.data ? (char *)err.data : "");
  ck_assert_int_eq(first, want_first);
  if (first && st) ck_assert_int_eq(lsm_shm_init_finish(s, st, NULL), LSM_OK);
  lsm_buffer_free(&err);
  return s;
}

static void assert_state(lsm_shm *s, const lsm_shm_state *want) {
  lsm_shm_state got;
  ck_assert_int_eq(lsm_shm_read_state(s, &got, NULL), LSM_OK);
  ck_assert_uint_eq(got.commit_seq, want->commit_seq);
  ck_assert_uint_eq(got.wal_number, want->wal_number);
  ck_assert_uint_eq(got.manifest_gen, want->manifest_gen);
  ck_assert_uint_eq(got.next_file, want->next_file);
}

static uint64_t oldest(lsm_shm *s) {
  uint64_t g = 0;
  ck_assert_int_eq(lsm_shm_oldest_gen(s, &g, NULL), LSM_OK);
  return g;
}

/* ---- a child process and its two pipes ---- */

typedef struct child {
  pid_t pid;
  int up[2];                 /* child -> parent */
  int down[2];               /* parent -> child */
} child;

/* Fork; returns 1 in the child, 0 in the parent. */
static int child_fork(child *c) {
  ck_assert_int_eq(pipe(c->up), 0);
  ck_assert_int_eq(pipe(c->down), 0);
  fflush(stdout);
  fflush(stderr);
  c->pid = fork();
  ck_assert_int_ge(c->pid, 0);
  if (c->pid == 0) {
    close(c->up[0]);
    close(c->down[1]);
    return 1;
  }
  close(c->up[1]);
  close(c->down[0]);
  return 0;
}

/* In the child: leave with `code` unless cond holds. */
static void need(int cond, int code, const char *what) {
  if (cond) return;
  fprintf(stderr, "child %d: %s\n", (int)getpid(), what);
  _exit(code);
}

static void child_say(child *c, char m) {
  need(write(c->up[1], &m, 1) == 1, 90, "write to parent");
}

/* In the child: the parent's next message (ends the child if the parent is
** gone). */
static char child_hear(child *c) {
  char m = 0;
  if (read(c->down[0], &m, 1) != 1) _exit(91);
  return m;
}

static char parent_hear(child *c) {
  char m = 0;
  ck_assert_msg(read(c->up[0], &m, 1) == 1, "child %d said nothing", (int)c->pid);
  return m;
}

static void parent_say(child *c, char m) {
  ck_assert_int_eq(write(c->down[1], &m, 1), 1);
}

/* Wait for the child; its exit status (-1 if it did not exit normally). */
static int child_wait(child *c) {
  int status = 0;
  ck_assert_int_eq(waitpid(c->pid, &status, 0), c->pid);
  close(c->up[0]);
  close(c->down[1]);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void child_kill(child *c) {
  int status = 0;
  ck_assert_int_eq(kill(c->pid, SIGKILL), 0);
  ck_assert_int_eq(waitpid(c->pid, &status, 0), c->pid);
  ck_assert(WIFSIGNALED(status));
  close(c->up[0]);
  close(c->down[1]);
}

/* In the child: open dir, initialising it with st if first. */
static lsm_shm *child_open(const char *dir, const lsm_shm_state *st, int *first) {
  lsm_shm *s = NULL;
  need(lsm_shm_open(NULL, dir, 0, &s, first, NULL) == LSM_OK, 10, "open");
  if (*first && st) need(lsm_shm_init_finish(s, st, NULL) == LSM_OK, 11, "init_finish");
  return s;
}

/* ---- a thread that opens, and /proc/locks ---- */

typedef struct opener {
  const char *dir;
  lsm_env *env;
  lsm_shm *s;
  int first;
  int rc;
  atomic_int done;
  pthread_t tid;
} opener;

static void *open_thread(void *arg) {
  opener *o = arg;
  o->rc = lsm_shm_open(o->env, o->dir, 0, &o->s, &o->first, NULL);
  atomic_store(&o->done, 1);
  return NULL;
}

static void opener_start(opener *o, const char *dir, lsm_env *env) {
  memset(o, 0, sizeof *o);
  o->dir = dir;
  o->env = env;
  atomic_init(&o->done, 0);
  ck_assert_int_eq(pthread_create(&o->tid, NULL, open_thread, o), 0);
}

static void opener_join(opener *o) {
  ck_assert_int_eq(pthread_join(o->tid, NULL), 0);
}

/* Wait until /proc/locks shows a blocked lock request on path's inode (the
** "->" lines).  Fails the case after 60 s; returns at once if /proc/locks
** cannot be read (the case then only loses its ordering guarantee). */
static void wait_for_blocked_request(const char *path) {
  struct stat st;
  char needle[64], line[256];
  int i;
  ck_assert_int_eq(stat(path, &st), 0);
  snprintf(needle, sizeof needle, ":%llu ", (unsigned long long)st.st_ino);
  for (i = 0; i < 60000; i++) {
    FILE *f = fopen("/proc/locks", "r");
    int found = 0;
    struct timespec ts = {0, 1000000};
    if (f == NULL) return;
    while (!found && fgets(line, sizeof line, f)) {
      found = strstr(line, "->") != NULL && strstr(line, needle) != NULL;
    }
    fclose(f);
    if (found) return;
    nanosleep(&ts, NULL);
  }
  ck_abort_msg("no blocked lock request on %s", path);
}

/* ---------------------------------------------------------------- opening */

START_TEST(first_opener_initialises_and_later_opener_in_another_process_sees_it) {
  const char *dir = "shm_first";
  lsm_shm_state st = state_of(1234, 17, 9, 40);
  lsm_shm *s;
  child c;
  int first = 0, child_slot;
  make_dir(dir);
  if (child_fork(&c)) {
    lsm_shm *cs = child_open(dir, &st, &first);
    need(first == 1, 12, "child is first");
    child_say(&c, (char)lsm_shm_slot(cs));
    child_hear(&c);
    _exit(0);
  }
  child_slot = parent_hear(&c);
  s = open_ok(dir, 0, NULL);
  assert_state(s, &st);
  ck_assert_int_ne(lsm_shm_slot(s), child_slot);
  /* A later opener publishes the current generation in its slot. */
  ck_assert_uint_eq(oldest(s), 9);
  parent_say(&c, 'q');
  ck_assert_int_eq(child_wait(&c), 0);
  ck_assert_int_eq(lsm_shm_close(s), LSM_OK);
}
END_TEST

START_TEST(opener_waits_for_the_initialiser_and_sees_its_state) {
  const char *dir = "shm_wait_init";
  lsm_shm_state st = state_of(5, 2, 3, 8);
  opener o;
  child c;
  int first = 0;
  make_dir(dir);
  if (child_fork(&c)) {
    lsm_shm *cs = NULL;
    need(lsm_shm_open(NULL, dir, 0, &cs, &first, NULL) == LSM_OK && first, 12, "first open");
    child_say(&c, 'f');
    child_hear(&c);                           /* "recovery" lasts until told */
    need(lsm_shm_init_finish(cs, &st, NULL) == LSM_OK, 13, "init_finish");
    child_say(&c, 'i');
    child_hear(&c);
    _exit(0);
  }
  ck_assert_int_eq(parent_hear(&c), 'f');
  opener_start(&o, dir, NULL);
  wait_for_blocked_request(path_in(dir, "LOCK"));
  ck_assert_int_eq(atomic_load(&o.done), 0);  /* blocked on DMS */
  parent_say(&c, 'g');
  ck_assert_int_eq(parent_hear(&c), 'i');
  opener_join(&o);
  ck_assert_int_eq(o.rc, LSM_OK);
  ck_assert_int_eq(o.first, 0);
  assert_state(o.s, &st);
  parent_say(&c, 'q');
  ck_assert_int_eq(child_wait(&c), 0);
  ck_assert_int_eq(lsm_shm_close(o.s), LSM_OK);
}
END_TEST

START_TEST(initialiser_killed_before_finishing_makes_the_waiting_opener_first) {
  const char *dir = "shm_init_killed";
  lsm_shm_state st = state_of(0, 1, 1, 2);
  opener o;
  child c;
  lsm_shm *s2;
  int first = 0;
  make_dir(dir);
  if (child_fork(&c)) {
    lsm_shm *cs = NULL;
    need(lsm_shm_open(NULL, dir, 0, &cs, &first, NULL) == LSM_OK && first, 12, "first open");
    child_say(&c, 'f');
    child_hear(&c);
    _exit(0);
  }
  ck_assert_int_eq(parent_hear(&c), 'f');
  opener_start(&o, dir, NULL);
  wait_for_blocked_request(path_in(dir, "LOCK"));
  child_kill(&c);
  opener_join(&o);
  ck_assert_int_eq(o.rc, LSM_OK);
  ck_assert_int_eq(o.first, 1);
  ck_assert_int_eq(lsm_shm_init_finish(o.s, &st, NULL), LSM_OK);
  s2 = open_ok(dir, 0, NULL);
  assert_state(s2, &st);
  ck_assert_int_eq(lsm_shm_close(s2), LSM_OK);
  ck_assert_int_eq(lsm_shm_close(o.s), LSM_OK);
}
END_TEST

START_TEST(first_opener_that_closes_without_finishing_leaves_the_next_one_first) {
  const char *dir = "shm_abandon";
  lsm_shm_state st = state_of(3, 4, 5, 6);
  lsm_shm *s;
  make_dir(dir);
  s = open_ok(dir, 1, NULL);
  ck_assert_int_eq(lsm_shm_close(s), LSM_OK);
  s = open_ok(dir, 1, &st);
  assert_state(s, &st);
  ck_assert_int_eq(lsm_shm_close(s), LSM_OK);
  /* After the last instance closes, the next opener rebuilds the state. */
  s = open_ok(dir, 1, NULL);
  {
    lsm_shm_state zero;
    ck_assert_int_eq(lsm_shm_read_state(s, &zero, NULL), LSM_CORRUPT);  /* zeroed */
  }
  ck_assert_int_eq(lsm_shm_close(s), LSM_OK);
}
END_TEST

START_TEST(exclusive_open_is_busy_while_another_process_has_the_dir_open) {
  const char *dir = "shm_excl";
  lsm_shm_state st = state_of(1, 1, 1, 2);
  lsm_shm *s = NULL;
  lsm_buffer err = {0};
  child c;
  int first = -1;
  make_dir(dir);
  if (child_fork(&c)) {
    child_open(dir, &st, &first);
    child_say(&c, 'o');
    child_hear(&c);
    _exit(0);
  }
  ck_assert_int_eq(parent_hear(&c), 'o');
  ck_assert_int_eq(lsm_shm_open(NULL, dir, LSM_SHM_EXCLUSIVE, &s, &first, &err), LSM_BUSY);
  ck_assert_ptr_null(s);
  ck_assert_msg(strstr((char *)err.data, "shm_excl/LOCK") && strstr((char *)err.data, "in use"),
                "message: %s", (char *)err.data);
  parent_say(&c, 'q');
  ck_assert_int_eq(child_wait(&c), 0);
  ck_assert_int_eq(lsm_shm_open(NULL, dir, LSM_SHM_EXCLUSIVE, &s, &first, &err), LSM_OK);
  ck_assert_int_eq(first, 1);
  ck_assert_int_eq(lsm_shm_close(s), LSM_OK);
  lsm_buffer_free(&err);
}
END_TEST

START_TEST(opener_that_waited_on_a_removed_lock_file_starts_again_on_the_new_one) {
  /* What lsm_destroy does while holding DMS exclusive: remove LOCK and SHM.
  ** An opener blocked on the old LOCK must not end up alone on it while a
  ** later opener initialises a new one. */
  const char *dir = "shm_removed";
  lsm_shm_state st = state_of(1, 1, 1, 2);
  lsm_fault_env fe;
  opener o;
  child c;
  lsm_shm *s2;
  int first = 0;
  make_dir(dir);
  lsm_fault_env_init(&fe, NULL);
  if (child_fork(&c)) {
    lsm_shm *cs = NULL;
    need(lsm_shm_open(NULL, dir, LSM_SHM_EXCLUSIVE, &cs, &first, NULL) == LSM_OK, 12, "open");
    child_say(&c, 'f');
    child_hear(&c);
    need(unlink(path_in(dir, "SHM")) == 0 && unlink(path_in(dir, "LOCK")) == 0, 13, "unlink");
    _exit(0);
  }
  ck_assert_int_eq(parent_hear(&c), 'f');
  opener_start(&o, dir, lsm_fault_env_env(&fe));
  wait_for_blocked_request(path_in(dir, "LOCK"));
  parent_say(&c, 'g');
  ck_assert_int_eq(child_wait(&c), 0);
  opener_join(&o);
  ck_assert_int_eq(o.rc, LSM_OK);
  ck_assert_int_eq(o.first, 1);
  /* It checked the file twice: the removed one, then the new one. */
  ck_assert_uint_eq(lsm_fault_env_calls(&fe, LSM_FAULT_SAME_FILE), 2);
  ck_assert_int_eq(lsm_shm_init_finish(o.s, &st, NULL), LSM_OK);
  s2 = open_ok(dir, 0, NULL);   /* one shared state, not two */
  assert_state(s2, &st);
  ck_assert_int_eq(lsm_shm_close(s2), LSM_OK);
  ck_assert_int_eq(lsm_shm_close(o.s), LSM_OK);
  lsm_fault_env_free(&fe);
}
END_TEST

START_TEST(open_of_a_missing_directory_is_notfound) {
  lsm_shm *s = NULL;
  lsm_buffer err = {0};
  int first = -1;
  ck_assert_int_eq(lsm_shm_open(NULL, "shm_no_such_dir", 0, &s, &first, &err), LSM_NOTFOUND);
  ck_assert_ptr_null(s);
  ck_assert_ptr_nonnull(strstr((char *)err.data, "shm_no_such_dir/LOCK"));
  lsm_buffer_free(&err);
}
END_TEST

/* An env that closes a handle just before the first blocking wait for a
** shared lock: the opener then finds itself alone once it gets DMS. */
typedef struct hook_env {
  lsm_env base;              /* first: the env pointer is the struct */
  lsm_shm *close_first;      /* closed at the first wait, then NULL */
} hook_env;

static int hook_lock_range(lsm_env *env, lsm_file *f, uint64_t off, uint64_t len, int op,
                           int wait) {
  hook_env *h = (hook_env *)env;
  if (op == LSM_LOCK_SHARED && wait && h->close_first) {
    ck_assert_int_eq(lsm_shm_close(h->close_first), LSM_OK);
    h->close_first = NULL;
  }
  return lsm_env_default()->lock_range(lsm_env_default(), f, off, len, op, wait);
}

START_TEST(opener_left_alone_while_it_waited_becomes_first) {
  /* The last other instance closes between the opener's refused exclusive
  ** try and its wait for shared: the header it would find is the previous
  ** session's, so it must initialise again rather than join. */
  const char *dir = "shm_left_alone";
  lsm_shm_state st = state_of(1, 1, 1, 2);
  hook_env h;
  lsm_shm *s = NULL;
  int first = -1;
  make_dir(dir);
  h.base = *lsm_env_default();
  h.base.lock_range = hook_lock_range;
  h.close_first = open_ok(dir, 1, &st);
  ck_assert_int_eq(lsm_shm_open(&h.base, dir, 0, &s, &first, NULL), LSM_OK);
  ck_assert_ptr_null(h.close_first);   /* the hook ran */
  ck_assert_int_eq(first, 1);
  ck_assert_int_eq(lsm_shm_close(s), LSM_OK);
}
END_TEST

/* ---------------------------------------------------------------- roles */

START_TEST(writer_excludes_other_process_and_is_freed_when_the_holder_is_killed) {
  const char *dir = "shm_writer";
  lsm_shm_state st = state_of(1, 1, 1, 2);
  lsm_buffer err = {0};
  lsm_shm *s;
  child c;
  int first = 0;
  make_dir(dir);
  s = open_ok(dir, 1, &st);
  if (child_fork(&c)) {
    lsm_shm *cs = child_open(dir, NULL, &first);
    need(lsm_shm_writer_try(cs, NULL) == LSM_OK, 12, "writer");
    lsm_shm_set_commit_seq(cs, 99);
    child_say(&c, 'w');
    child_hear(&c);
    _exit(0);
  }
  ck_assert_int_eq(parent_hear(&c), 'w');
  ck_assert_int_eq(lsm_shm_writer_try(s, &err), LSM_BUSY);
  ck_assert_msg(strstr((char *)err.data, "write lock") != NULL, "message: %s", (char *)err.data);
  {
    uint64_t seq = 0;
    ck_assert_int_eq(lsm_shm_commit_seq(s, &seq, NULL), LSM_OK);
    ck_assert_uint_eq(seq, 99);
  }
  child_kill(&c);
  ck_assert_int_eq(lsm_shm_writer_try(s, NULL), LSM_OK);
  ck_assert_int_eq(lsm_shm_writer_release(s), LSM_OK);
  ck_assert_int_eq(lsm_shm_close(s), LSM_OK);
  lsm_buffer_free(&err);
}
END_TEST

/* A process that kept WRITER between transactions (writer_parked) dies:
** the kernel frees WRITER, and the next instance to take it clears the flag
** it left, so no writer waits for a keeper that is gone. */
START_TEST(writer_parked_left_by_a_killed_keeper_is_cleared_by_the_next_writer) {
  const char *dir = "shm_parked";
  lsm_shm_state st = state_of(1, 1, 1, 2);
  lsm_shm *s;
  child c;
  int first = 0;
  make_dir(dir);
  s = open_ok(dir, 1, &st);
  ck_assert_int_eq(lsm_shm_writer_parked(s), 0);
  if (child_fork(&c)) {
    lsm_shm *cs = child_open(dir, NULL, &first);
    need(lsm_shm_writer_try(cs, NULL) == LSM_OK, 12, "writer");
    lsm_shm_set_writer_parked(cs, 1);
    child_say(&c, 'p');
    child_hear(&c);
    _exit(0);
  }
  ck_assert_int_eq(parent_hear(&c), 'p');
  ck_assert_int_eq(lsm_shm_writer_parked(s), 1);
  ck_assert_int_eq(lsm_shm_writer_try(s, NULL), LSM_BUSY);
  child_kill(&c);
  ck_assert_int_eq(lsm_shm_writer_parked(s), 1);   /* stale */
  ck_assert_int_eq(lsm_shm_writer_try(s, NULL), LSM_OK);
  ck_assert_int_eq(lsm_shm_writer_parked(s), 0);
  /* A keeper's own release clears it too. */
  lsm_shm_set_writer_parked(s, 1);
  ck_assert_int_eq(lsm_shm_writer_parked(s), 1);
  ck_assert_int_eq(lsm_shm_writer_release(s), LSM_OK);
  ck_assert_int_eq(lsm_shm_writer_parked(s), 0);
  ck_assert_int_eq(lsm_shm_close(s), LSM_OK);
}
END_TEST

/* joins counts the openers that joined (never the first, never a close),
** each counted once its slot is held. */
START_TEST(joins_counts_every_joining_opener_once_its_slot_is_held) {
  const char *dir = "shm_joins";
  lsm_shm_state st = state_of(1, 1, 1, 2);
  lsm_shm *a, *b, *c2;
  int others = 0;
  make_dir(dir);
  a = open_ok(dir, 1, &st);
  ck_assert_uint_eq(lsm_shm_joins(a), 0);
  b = open_ok(dir, 0, NULL);
  ck_assert_uint_eq(lsm_shm_joins(a), 1);
  ck_assert_int_eq(lsm_shm_others_open(a, &others), LSM_OK);
  ck_assert_int_eq(others, 1);
  ck_assert_int_eq(lsm_shm_close(b), LSM_OK);
  ck_assert_uint_eq(lsm_shm_joins(a), 1);
  ck_assert_int_eq(lsm_shm_others_open(a, &others), LSM_OK);
  ck_assert_int_eq(others, 0);
  c2 = open_ok(dir, 0, NULL);
  ck_assert_uint_eq(lsm_shm_joins(a), 2);
  ck_assert_int_eq(lsm_shm_close(c2), LSM_OK);
  ck_assert_int_eq(lsm_shm_close(a), LSM_OK);
  /* A new session starts from zero. */
  a = open_ok(dir, 1, &st);
  ck_assert_uint_eq(lsm_shm_joins(a), 0);
  ck_assert_int_eq(lsm_shm_close(a), LSM_OK);
}
END_TEST

START_TEST(owner_moves_to_another_process_when_its_holder_exits) {
  const char *dir = "shm_owner";
  lsm_shm_state st = state_of(1, 1, 1, 2);
  lsm_shm *s;
  child c;
  int first = 0, is_owner = -1;
  make_dir(dir);
  s = open_ok(dir, 1, &st);
  if (child_fork(&c)) {
    lsm_shm *cs = child_open(dir, NULL, &first);
    int mine = 0;
    need(lsm_shm_owner_try(cs, &mine, NULL) == LSM_OK && mine, 12, "owner");
    lsm_shm_set_manifest_gen(cs, 4);
    child_say(&c, 'o');
    child_hear(&c);
    _exit(0);   /* exits holding OWNER: the kernel releases it */
  }
  ck_assert_int_eq(parent_hear(&c), 'o');
  ck_assert_int_eq(lsm_shm_owner_try(s, &is_owner, NULL), LSM_OK);
  ck_assert_int_eq(is_owner, 0);
  parent_say(&c, 'q');
  ck_assert_int_eq(child_wait(&c), 0);
  ck_assert_int_eq(lsm_shm_owner_try(s, &is_owner, NULL), LSM_OK);
  ck_assert_int_eq(is_owner, 1);
  /* Asking again while holding it is a cheap yes. */
  ck_assert_int_eq(lsm_shm_owner_try(s, &is_owner, NULL), LSM_OK);
  ck_assert_int_eq(is_owner, 1);
  {
    uint64_t gen = 0;
    ck_assert_int_eq(lsm_shm_manifest_gen(s, &gen, NULL), LSM_OK);
    ck_assert_uint_eq(gen, 4);
  }
  ck_assert_int_eq(lsm_shm_owner_release(s), LSM_OK);
  ck_assert_int_eq(lsm_shm_close(s), LSM_OK);
}
END_TEST

/* ---------------------------------------------------------------- slots */

START_TEST(dead_process_slot_is_ignored_by_the_scan_and_reclaimed) {
  const char *dir = "shm_dead_slot";
  lsm_shm_state st = state_of(1, 1, 5, 6);
  lsm_shm *s, *s2;
  child c;
  int first = 0, child_slot;
  make_dir(dir);
  s = open_ok(dir, 1, &st);
  if (child_fork(&c)) {
    lsm_shm *cs = child_open(dir, NULL, &first);
    lsm_shm_publish(cs, 2);   /* still reads generation 2 */
    child_say(&c, (char)lsm_shm_slot(cs));
    child_hear(&c);
    _exit(0);
  }
  child_slot = parent_hear(&c);
  ck_assert_uint_eq(oldest(s), 2);
  child_kill(&c);
  ck_assert_uint_eq(oldest(s), 5);   /* the dead slot's 2 is ignored */
  /* The next opener takes the freed slot and overwrites the stale value. */
  s2 = open_ok(dir, 0, NULL);
  ck_assert_int_eq(lsm_shm_slot(s2), child_slot);
  ck_assert_uint_eq(oldest(s), 5);
  ck_assert_int_eq(lsm_shm_close(s2), LSM_OK);
  ck_assert_int_eq(lsm_shm_close(s), LSM_OK);
}
END_TEST

START_TEST(live_slot_with_an_old_generation_holds_the_minimum) {
  const char *dir = "shm_live_slot";
  lsm_shm_state st = state_of(1, 1, 3, 4);
  lsm_shm *s;
  child c;
  int first = 0, is_owner = 0;
  make_dir(dir);
  s = open_ok(dir, 1, &st);
  ck_assert_int_eq(lsm_shm_owner_try(s, &is_owner, NULL), LSM_OK);
  ck_assert_int_eq(is_owner, 1);
  if (child_fork(&c)) {
    lsm_shm *cs = child_open(dir, NULL, &first);   /* publishes 3 */
    child_say(&c, 'o');
    child_hear(&c);
    lsm_shm_publish(cs, 5);
    child_say(&c, 'p');
    child_hear(&c);
    _exit(0);
  }
  ck_assert_int_eq(parent_hear(&c), 'o');
  /* The owner installs generations 4 and 5, moving its own reads to 4. */
  lsm_shm_set_manifest_gen(s, 4);
  lsm_shm_publish(s, 4);
  lsm_shm_set_manifest_gen(s, 5);
  ck_assert_uint_eq(oldest(s), 3);   /* the other process still reads 3 */
  parent_say(&c, 'g');
  ck_assert_int_eq(parent_hear(&c), 'p');
  ck_assert_uint_eq(oldest(s), 4);   /* this handle's own slot counts too */
  lsm_shm_publish(s, 5);
  ck_assert_uint_eq(oldest(s), 5);
  parent_say(&c, 'q');
  ck_assert_int_eq(child_wait(&c), 0);
  ck_assert_int_eq(lsm_shm_close(s), LSM_OK);
}
END_TEST

START_TEST(open_is_busy_when_every_reader_slot_is_taken) {
  const char *dir = "shm_full";
  lsm_shm_state st = state_of(1, 1, 1, 2);
  lsm_shm *s[LSM_SHM_SLOTS], *extra = NULL;
  lsm_buffer err = {0};
  int i, first = -1;
  make_dir(dir);
  s[0] = open_ok(dir, 1, &st);
  for (i = 1; i < LSM_SHM_SLOTS; i++) {
    s[i] = open_ok(dir, 0, NULL);
    ck_assert_int_eq(lsm_shm_slot(s[i]), i);
  }
  ck_assert_int_eq(lsm_shm_open(NULL, dir, 0, &extra, &first, &err), LSM_BUSY);
  ck_assert_ptr_null(extra);
  ck_assert_msg(strstr((char *)err.data, "reader slots") != NULL, "message: %s",
                (char *)err.data);
  /* Closing one frees its slot for the next opener. */
  ck_assert_int_eq(lsm_shm_close(s[17]), LSM_OK);
  s[17] = open_ok(dir, 0, NULL);
  ck_assert_int_eq(lsm_shm_slot(s[17]), 17);
  for (i = LSM_SHM_SLOTS - 1; i >= 0; i--) ck_assert_int_eq(lsm_shm_close(s[i]), LSM_OK);
  lsm_buffer_free(&err);
}
END_TEST

/* ---------------------------------------------------------------- counters */

#define ALLOC_PROCS 4
#define ALLOC_ROUNDS 5000

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

START_TEST(next_file_fetch_add_from_four_processes_yields_distinct_numbers) {
  /* The four processes also race to open a directory nobody has open:
  ** exactly one of them initialises it. */
  const char *dir = "shm_alloc";
  lsm_shm_state st = state_of(0, 1, 1, 2);
  child c[ALLOC_PROCS];
  uint64_t *all;
  size_t n_all = 0, want = 0, i;
  int k, firsts = 0;
  make_dir(dir);
  for (k = 0; k < ALLOC_PROCS; k++) {
    if (child_fork(&c[k])) {
      int first = 0, r, j;
      char name[64];
      FILE *f;
      lsm_shm *cs;
      /* Drop the parent's ends of the earlier children's pipes, so that
      ** they see end of file if the parent dies. */
      for (j = 0; j < k; j++) {
        close(c[j].up[0]);
        close(c[j].down[1]);
      }
      cs = child_open(dir, &st, &first);
      child_say(&c[k], first ? 'F' : 'o');
      child_hear(&c[k]);
      snprintf(name, sizeof name, "%s/alloc-%d", dir, k);
      f = fopen(name, "wb");
      need(f != NULL, 12, "fopen");
      for (r = 0; r < ALLOC_ROUNDS; r++) {
        uint64_t n = 1 + (uint64_t)(r % 3), first_num = 0, j;
        need(lsm_shm_alloc_file(cs, n, &first_num, NULL) == LSM_OK, 13, "alloc");
        for (j = 0; j < n; j++) {
          uint64_t v = first_num + j;
          need(fwrite(&v, sizeof v, 1, f) == 1, 14, "fwrite");
        }
      }
      need(fclose(f) == 0, 15, "fclose");
      child_say(&c[k], 'd');
      child_hear(&c[k]);   /* keep the state alive until all are done */
      _exit(0);
    }
  }
  for (k = 0; k < ALLOC_PROCS; k++) firsts += parent_hear(&c[k]) == 'F';
  ck_assert_int_eq(firsts, 1);
  for (k = 0; k < ALLOC_PROCS; k++) parent_say(&c[k], 'g');
  for (k = 0; k < ALLOC_PROCS; k++) ck_assert_int_eq(parent_hear(&c[k]), 'd');
  for (k = 0; k < ALLOC_PROCS; k++) parent_say(&c[k], 'q');
  for (k = 0; k < ALLOC_PROCS; k++) ck_assert_int_eq(child_wait(&c[k]), 0);
  for (i = 0; i < ALLOC_ROUNDS; i++) want += 1 + i % 3;
  want *= ALLOC_PROCS;
  all = malloc(want * sizeof *all);
  ck_assert_ptr_nonnull(all);
  for (k = 0; k < ALLOC_PROCS; k++) {
    char name[64];
    FILE *f;
    size_t got;
    snprintf(name, sizeof name, "%s/alloc-%d", dir, k);
    f = fopen(name, "rb");
    ck_assert_ptr_nonnull(f);
    got = fread(all + n_all, sizeof *all, want - n_all, f);
    n_all += got;
    fclose(f);
  }
  ck_assert_uint_eq(n_all, want);
  qsort(all, n_all, sizeof *all, cmp_u64);
  /* Distinct and gap-free from the initial next_file on. */
  for (i = 0; i < n_all; i++) ck_assert_uint_eq(all[i], st.next_file + i);
  free(all);
}
END_TEST

START_TEST(commit_seq_and_wal_number_are_seen_by_every_instance) {
  const char *dir = "shm_counters";
  lsm_shm_state st = state_of(10, 3, 2, 4);
  lsm_shm *a, *b;
  uint64_t v = 0, num = 0;
  make_dir(dir);
  a = open_ok(dir, 1, &st);
  b = open_ok(dir, 0, NULL);
  ck_assert_int_eq(lsm_shm_writer_try(a, NULL), LSM_OK);
  ck_assert_int_eq(lsm_shm_alloc_file(a, 1, &num, NULL), LSM_OK);
  ck_assert_uint_eq(num, 4);
  lsm_shm_set_wal_number(a, num);
  lsm_shm_set_commit_seq(a, 11);
  ck_assert_int_eq(lsm_shm_writer_release(a), LSM_OK);
  ck_assert_int_eq(lsm_shm_commit_seq(b, &v, NULL), LSM_OK);
  ck_assert_uint_eq(v, 11);
  ck_assert_int_eq(lsm_shm_wal_number(b, &v, NULL), LSM_OK);
  ck_assert_uint_eq(v, 4);
  {
    lsm_shm_state want = state_of(11, 4, 2, 5);
    assert_state(b, &want);
  }
  ck_assert_int_eq(lsm_shm_close(b), LSM_OK);
  ck_assert_int_eq(lsm_shm_close(a), LSM_OK);
}
END_TEST

START_TEST(init_finish_rejects_out_of_range_state) {
  const char *dir = "shm_bad_init";
  lsm_shm_state bad[] = {
    {(uint64_t)1 << 55, 1, 1, 2},   /* commit_seq in the overlay range */
    {1, 2, 1, 2},                   /* wal_number not below next_file */
    {1, 0, 1, 0},                   /* next_file 0 */
    {1, 1, (uint64_t)1 << 62, 2},   /* generation */
  };
  lsm_shm_state good = state_of(1, 1, 1, 2);
  lsm_buffer err = {0};
  lsm_shm *s;
  size_t i;
  make_dir(dir);
  s = open_ok(dir, 1, NULL);
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ck_assert_int_eq(lsm_shm_init_finish(s, &bad[i], &err), LSM_MISUSE);
  }
  ck_assert_ptr_nonnull(strstr((char *)err.data, "out of range"));
  ck_assert_int_eq(lsm_shm_init_finish(s, &good, NULL), LSM_OK);
  ck_assert_int_eq(lsm_shm_close(s), LSM_OK);
  lsm_buffer_free(&err);
}
END_TEST

/* ---------------------------------------------------------------- damage */

static void poke(const char *dir, off_t off, const void *p, size_t n) {
  int fd = open(path_in(dir, "SHM"), O_WRONLY);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(pwrite(fd, p, n, off), (ssize_t)n);
  close(fd);
}

static void poke64(const char *dir, off_t off, uint64_t v) {
  poke(dir, off, &v, sizeof v);
}

static void poke32(const char *dir, off_t off, uint32_t v) {
  poke(dir, off, &v, sizeof v);
}

/* A second opener of a damaged SHM fails with LSM_CORRUPT naming SHM and
** the damage. */
static void assert_open_corrupt(const char *dir, const char *what) {
  lsm_shm *s = NULL;
  lsm_buffer err = {0};
  int first = -1;
  ck_assert_int_eq(lsm_shm_open(NULL, dir, 0, &s, &first, &err), LSM_CORRUPT);
  ck_assert_ptr_null(s);
  ck_assert_msg(strstr((char *)err.data, "SHM") && strstr((char *)err.data, what),
                "message: %s", (char *)err.data);
  lsm_buffer_free(&err);
}

START_TEST(damaged_shm_header_gives_corrupt_never_a_crash) {
  const char *dir = "shm_damage";
  lsm_shm_state st = state_of(7, 3, 5, 9), got;
  lsm_shm *s;
  lsm_buffer err = {0};
  uint64_t v = 0, magic;
  make_dir(dir);
  s = open_ok(dir, 1, &st);
  memcpy(&magic, "LSMSHM\0\0", 8);

  poke(dir, 0, "garbage!", 8);
  assert_open_corrupt(dir, "bad magic");
  ck_assert_int_eq(lsm_shm_read_state(s, &got, NULL), LSM_CORRUPT);
  poke64(dir, 0, magic);

  poke32(dir, 8, LSM_SHM_VERSION + 1);
  assert_open_corrupt(dir, "unsupported version");
  poke32(dir, 8, LSM_SHM_VERSION);

  poke32(dir, 12, 1000);
  assert_open_corrupt(dir, "slot count");
  poke32(dir, 12, LSM_SHM_SLOTS);

  poke64(dir, 16, (uint64_t)1 << 60);
  assert_open_corrupt(dir, "commit_seq");
  ck_assert_int_eq(lsm_shm_commit_seq(s, &v, &err), LSM_CORRUPT);
  poke64(dir, 16, 7);

  poke64(dir, 24, 9);   /* wal_number == next_file */
  assert_open_corrupt(dir, "wal_number");
  ck_assert_int_eq(lsm_shm_wal_number(s, &v, NULL), LSM_CORRUPT);
  poke64(dir, 24, 3);

  poke64(dir, 32, UINT64_MAX);
  assert_open_corrupt(dir, "manifest_gen");
  ck_assert_int_eq(lsm_shm_manifest_gen(s, &v, NULL), LSM_CORRUPT);
  ck_assert_int_eq(lsm_shm_oldest_gen(s, &v, NULL), LSM_CORRUPT);
  poke64(dir, 32, 5);

  poke64(dir, 40, 0);
  assert_open_corrupt(dir, "next_file");
  ck_assert_int_eq(lsm_shm_alloc_file(s, 1, &v, NULL), LSM_CORRUPT);
  poke64(dir, 40, UINT64_MAX - 1);
  ck_assert_int_eq(lsm_shm_alloc_file(s, 1, &v, NULL), LSM_CORRUPT);
  poke64(dir, 40, 9);

  /* writer_parked is 0 or 1; garbage never makes a writer wait. */
  poke64(dir, 56, 7);
  assert_open_corrupt(dir, "writer_parked");
  ck_assert_int_eq(lsm_shm_writer_parked(s), 0);
  poke64(dir, 56, 0);

  /* A slot claiming a generation newer than the manifest's. */
  poke64(dir, 64 + 8 * lsm_shm_slot(s), 6);
  ck_assert_int_eq(lsm_shm_oldest_gen(s, &v, &err), LSM_CORRUPT);
  ck_assert_msg(strstr((char *)err.data, "newer than") != NULL, "message: %s",
                (char *)err.data);
  poke64(dir, 64 + 8 * lsm_shm_slot(s), 5);

  /* Repaired, everything reads again. */
  assert_state(s, &st);
  ck_assert_uint_eq(oldest(s), 5);
  {
    lsm_shm *s2 = open_ok(dir, 0, NULL);
    ck_assert_int_eq(lsm_shm_close(s2), LSM_OK);
  }
  ck_assert_int_eq(lsm_shm_close(s), LSM_OK);
  lsm_buffer_free(&err);
}
END_TEST

START_TEST(garbage_shm_left_by_a_dead_session_is_rebuilt_by_the_first_opener) {
  /* The SHM of a previous session is a cache: the first opener ignores and
  ** zeroes whatever it holds, even a file that is too short. */
  const char *dir = "shm_stale";
  lsm_shm_state st = state_of(1, 1, 1, 2);
  lsm_shm *s;
  int fd;
  make_dir(dir);
  fd = open(path_in(dir, "SHM"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, "not a shared memory file", 24), 24);
  close(fd);
  s = open_ok(dir, 1, &st);
  assert_state(s, &st);
  ck_assert_int_eq(lsm_shm_close(s), LSM_OK);
}
END_TEST

START_TEST(all_zero_header_under_a_live_instance_gives_busy_after_retries) {
  /* Magic 0 while holding DMS shared normally means an initialiser gave up
  ** and its successor is about to start; if it stays so, give up too. */
  const char *dir = "shm_zeroed";
  lsm_shm_state st = state_of(1, 1, 1, 2);
  lsm_shm *s, *s2 = NULL;
  lsm_buffer err = {0};
  int first = -1;
  make_dir(dir);
  s = open_ok(dir, 1, &st);
  poke64(dir, 0, 0);
  ck_assert_int_eq(lsm_shm_open(NULL, dir, 0, &s2, &first, &err), LSM_BUSY);
  ck_assert_ptr_null(s2);
  ck_assert_msg(strstr((char *)err.data, "never initialised") != NULL, "message: %s",
                (char *)err.data);
  ck_assert_int_eq(lsm_shm_close(s), LSM_OK);
  lsm_buffer_free(&err);
}
END_TEST

/* ---------------------------------------------------------------- one process */

START_TEST(two_handles_in_one_process_are_separate_instances) {
  const char *dir = "shm_two_handles";
  lsm_shm_state st = state_of(1, 1, 2, 3);
  lsm_shm *a, *b;
  lsm_shm *x = NULL;
  int is_owner = -1, first = -1;
  make_dir(dir);
  a = open_ok(dir, 1, &st);
  b = open_ok(dir, 0, NULL);
  ck_assert_int_ne(lsm_shm_slot(a), lsm_shm_slot(b));
  /* Their locks conflict as between processes. */
  ck_assert_int_eq(lsm_shm_open(NULL, dir, LSM_SHM_EXCLUSIVE, &x, &first, NULL), LSM_BUSY);
  ck_assert_int_eq(lsm_shm_writer_try(a, NULL), LSM_OK);
  ck_assert_int_eq(lsm_shm_writer_try(b, NULL), LSM_BUSY);
  ck_assert_int_eq(lsm_shm_writer_release(a), LSM_OK);
  ck_assert_int_eq(lsm_shm_writer_try(b, NULL), LSM_OK);
  ck_assert_int_eq(lsm_shm_writer_release(b), LSM_OK);
  ck_assert_int_eq(lsm_shm_owner_try(b, &is_owner, NULL), LSM_OK);
  ck_assert_int_eq(is_owner, 1);
  ck_assert_int_eq(lsm_shm_owner_try(a, &is_owner, NULL), LSM_OK);
  ck_assert_int_eq(is_owner, 0);
  /* Each sees the other's slot as live. */
  lsm_shm_set_manifest_gen(b, 3);
  lsm_shm_publish(b, 3);
  ck_assert_uint_eq(oldest(b), 2);   /* a still reads 2 */
  lsm_shm_publish(a, 3);
  ck_assert_uint_eq(oldest(b), 3);
  /* Closing the owner hands the role over. */
  ck_assert_int_eq(lsm_shm_close(b), LSM_OK);
  ck_assert_int_eq(lsm_shm_owner_try(a, &is_owner, NULL), LSM_OK);
  ck_assert_int_eq(is_owner, 1);
  ck_assert_int_eq(lsm_shm_close(a), LSM_OK);
}
END_TEST

START_TEST(one_handle_shared_by_threads_lets_one_thread_hold_writer) {
  const char *dir = "shm_one_handle";
  lsm_shm_state st = state_of(1, 1, 1, 2);
  lsm_shm *s;
  make_dir(dir);
  s = open_ok(dir, 1, &st);
  ck_assert_int_eq(lsm_shm_writer_try(s, NULL), LSM_OK);
  /* A second try through the same handle (another thread) is refused, even
  ** though the kernel would grant it to the same open file. */
  ck_assert_int_eq(lsm_shm_writer_try(s, NULL), LSM_BUSY);
  ck_assert_int_eq(lsm_shm_writer_release(s), LSM_OK);
  ck_assert_int_eq(lsm_shm_writer_try(s, NULL), LSM_OK);
  ck_assert_int_eq(lsm_shm_writer_release(s), LSM_OK);
  ck_assert_int_eq(lsm_shm_close(s), LSM_OK);
}
END_TEST

#define THREADS 4
#define THREAD_ROUNDS 20000

typedef struct alloc_arg {
  lsm_shm *s;
  uint64_t *out;
  atomic_int *writers;       /* threads inside the writer section */
  int overlaps;              /* times another thread was found inside */
  int rc;
} alloc_arg;

static void *alloc_thread(void *p) {
  alloc_arg *a = p;
  int r;
  a->rc = LSM_OK;
  for (r = 0; r < THREAD_ROUNDS && a->rc == LSM_OK; r++) {
    a->rc = lsm_shm_alloc_file(a->s, 1, &a->out[r], NULL);
    if (a->rc == LSM_OK && lsm_shm_writer_try(a->s, NULL) == LSM_OK) {
      if (atomic_fetch_add(a->writers, 1) != 0) a->overlaps++;
      atomic_fetch_sub(a->writers, 1);
      a->rc = lsm_shm_writer_release(a->s);
    }
  }
  return NULL;
}

START_TEST(threads_with_shared_and_separate_handles_get_distinct_numbers_and_one_writer) {
  /* Threads 0 and 1 share one handle, 2 and 3 have one each. */
  const char *dir = "shm_threads";
  lsm_shm_state st = state_of(1, 1, 1, 2);
  lsm_shm *h[3];
  pthread_t tid[THREADS];
  alloc_arg arg[THREADS];
  atomic_int writers;
  uint64_t *all = malloc(sizeof(uint64_t) * THREADS * THREAD_ROUNDS);
  int t;
  size_t i;
  ck_assert_ptr_nonnull(all);
  atomic_init(&writers, 0);
  make_dir(dir);
  h[0] = open_ok(dir, 1, &st);
  h[1] = open_ok(dir, 0, NULL);
  h[2] = open_ok(dir, 0, NULL);
  for (t = 0; t < THREADS; t++) {
    arg[t].s = h[t < 2 ? 0 : t - 1];
    arg[t].out = all + (size_t)t * THREAD_ROUNDS;
    arg[t].writers = &writers;
    arg[t].overlaps = 0;
    ck_assert_int_eq(pthread_create(&tid[t], NULL, alloc_thread, &arg[t]), 0);
  }
  for (t = 0; t < THREADS; t++) {
    ck_assert_int_eq(pthread_join(tid[t], NULL), 0);
    ck_assert_int_eq(arg[t].rc, LSM_OK);
    ck_assert_int_eq(arg[t].overlaps, 0);
  }
  qsort(all, (size_t)THREADS * THREAD_ROUNDS, sizeof *all, cmp_u64);
  for (i = 0; i < (size_t)THREADS * THREAD_ROUNDS; i++) ck_assert_uint_eq(all[i], 2 + i);
  for (t = 0; t < 3; t++) ck_assert_int_eq(lsm_shm_close(h[t]), LSM_OK);
  free(all);
}
END_TEST

/* ---------------------------------------------------------------- faults */

/* Fail the nth call of kind during a first open and init of dir; the open
** (or init) reports the injected error and leaves nothing held: a clean
** open afterwards is first again. */
static void fault_during_first_open(const char *dir, lsm_fault_kind kind, uint64_t nth,
                                    int *surfaced) {
  lsm_fault_env fe;
  lsm_shm_state st = state_of(1, 1, 1, 2);
  lsm_shm *s = NULL;
  int first = -1, rc;
  lsm_fault_env_init(&fe, NULL);
  lsm_fault_env_fail(&fe, kind, nth, 0);
  rc = lsm_shm_open(lsm_fault_env_env(&fe), dir, 0, &s, &first, NULL);
  if (rc == LSM_OK) {
    ck_assert_int_eq(first, 1);
    rc = lsm_shm_init_finish(s, &st, NULL);
    lsm_shm_close(s);
  } else {
    ck_assert_ptr_null(s);
  }
  if (lsm_fault_env_injected(&fe, kind) > 0) {
    ck_assert_int_eq(rc, LSM_IOERR);
    (*surfaced)++;
  } else {
    ck_assert_int_eq(rc, LSM_OK);
  }
  lsm_fault_env_free(&fe);
  s = open_ok(dir, 1, NULL);
  ck_assert_int_eq(lsm_shm_close(s), LSM_OK);
}

START_TEST(io_faults_in_open_give_ioerr_and_leave_nothing_held) {
  const char *dir = "shm_faults_open";
  lsm_fault_kind kinds[] = {LSM_FAULT_OPEN_SHARED, LSM_FAULT_LOCK_RANGE, LSM_FAULT_SAME_FILE,
                            LSM_FAULT_SHM_MAP};
  size_t k;
  int surfaced = 0;
  uint64_t n;
  make_dir(dir);
  for (k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    for (n = 1; n <= 4; n++) fault_during_first_open(dir, kinds[k], n, &surfaced);
  }
  /* open_shared x2, lock_range x3 (DMS, slot, downgrade), same_file, shm_map */
  ck_assert_int_eq(surfaced, 7);
}
END_TEST

START_TEST(io_faults_in_a_joining_open_give_ioerr_and_leave_the_state_intact) {
  const char *dir = "shm_faults_join";
  lsm_shm_state st = state_of(4, 2, 3, 5);
  lsm_fault_kind kinds[] = {LSM_FAULT_OPEN_SHARED, LSM_FAULT_LOCK_RANGE, LSM_FAULT_SAME_FILE,
                            LSM_FAULT_SHM_MAP};
  lsm_shm *s;
  size_t k;
  uint64_t n;
  int surfaced = 0;
  make_dir(dir);
  s = open_ok(dir, 1, &st);
  for (k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    for (n = 1; n <= 6; n++) {
      lsm_fault_env fe;
      lsm_shm *j = NULL;
      int first = -1, rc;
      lsm_fault_env_init(&fe, NULL);
      lsm_fault_env_fail(&fe, kinds[k], n, 0);
      rc = lsm_shm_open(lsm_fault_env_env(&fe), dir, 0, &j, &first, NULL);
      if (lsm_fault_env_injected(&fe, kinds[k]) > 0) {
        ck_assert_int_eq(rc, LSM_IOERR);
        ck_assert_ptr_null(j);
        surfaced++;
      } else {
        ck_assert_int_eq(rc, LSM_OK);
        ck_assert_int_eq(first, 0);
        ck_assert_int_eq(lsm_shm_close(j), LSM_OK);
      }
      lsm_fault_env_free(&fe);
    }
  }
  /* open_shared x2; lock_range: DMS try, DMS wait, DMS upgrade try, slot 0
  ** (busy), slot 1; same_file; shm_map */
  ck_assert_int_eq(surfaced, 9);
  assert_state(s, &st);
  ck_assert_uint_eq(oldest(s), 3);   /* no slot left behind */
  ck_assert_int_eq(lsm_shm_close(s), LSM_OK);
}
END_TEST

START_TEST(io_faults_in_roles_and_scan_give_ioerr) {
  const char *dir = "shm_faults_roles";
  lsm_shm_state st = state_of(1, 1, 1, 2);
  lsm_fault_env fe;
  lsm_shm *s = NULL;
  lsm_buffer err = {0};
  uint64_t g;
  int first = -1, is_owner = -1;
  make_dir(dir);
  lsm_fault_env_init(&fe, NULL);
  ck_assert_int_eq(lsm_shm_open(lsm_fault_env_env(&fe), dir, 0, &s, &first, NULL), LSM_OK);
  ck_assert_int_eq(lsm_shm_init_finish(s, &st, NULL), LSM_OK);

  lsm_fault_env_fail_next(&fe, LSM_FAULT_LOCK_RANGE, 0);
  ck_assert_int_eq(lsm_shm_writer_try(s, &err), LSM_IOERR);
  ck_assert_ptr_nonnull(strstr((char *)err.data, "write lock"));
  ck_assert_int_eq(lsm_shm_writer_try(s, NULL), LSM_OK);   /* not left half-held */
  ck_assert_int_eq(lsm_shm_writer_release(s), LSM_OK);

  lsm_fault_env_fail_next(&fe, LSM_FAULT_LOCK_RANGE, 0);
  ck_assert_int_eq(lsm_shm_owner_try(s, &is_owner, &err), LSM_IOERR);
  ck_assert_int_eq(is_owner, 0);
  ck_assert_int_eq(lsm_shm_owner_try(s, &is_owner, NULL), LSM_OK);
  ck_assert_int_eq(is_owner, 1);

  lsm_fault_env_fail_next(&fe, LSM_FAULT_LOCK_HELD, 0);
  ck_assert_int_eq(lsm_shm_oldest_gen(s, &g, &err), LSM_IOERR);
  ck_assert_ptr_nonnull(strstr((char *)err.data, "reader slots"));
  ck_assert_int_eq(lsm_shm_oldest_gen(s, &g, NULL), LSM_OK);

  /* A failed unmap at close is reported; the handle is freed anyway. */
  lsm_fault_env_fail_next(&fe, LSM_FAULT_SHM_UNMAP, 0);
  ck_assert_int_eq(lsm_shm_close(s), LSM_IOERR);
  s = open_ok(dir, 1, NULL);   /* everything was released */
  ck_assert_int_eq(lsm_shm_close(s), LSM_OK);
  lsm_fault_env_free(&fe);
  lsm_buffer_free(&err);
}
END_TEST

START_TEST(frozen_fault_env_still_releases_locks_at_close) {
  const char *dir = "shm_frozen";
  lsm_shm_state st = state_of(1, 1, 1, 2);
  lsm_fault_env fe;
  lsm_shm *s = NULL, *s2;
  int first = -1;
  make_dir(dir);
  lsm_fault_env_init(&fe, NULL);
  ck_assert_int_eq(lsm_shm_open(lsm_fault_env_env(&fe), dir, 0, &s, &first, NULL), LSM_OK);
  ck_assert_int_eq(lsm_shm_init_finish(s, &st, NULL), LSM_OK);
  ck_assert_int_eq(lsm_shm_writer_try(s, NULL), LSM_OK);
  ck_assert_int_eq(lsm_fault_env_crash_now(&fe, LSM_CRASH_KILL), LSM_OK);
  s2 = open_ok(dir, 0, NULL);
  ck_assert_int_eq(lsm_shm_writer_try(s2, NULL), LSM_BUSY);   /* still held for real */
  ck_assert_int_eq(lsm_shm_close(s), LSM_IOERR);
  ck_assert_int_eq(lsm_shm_writer_try(s2, NULL), LSM_OK);     /* released by the close */
  ck_assert_int_eq(lsm_shm_close(s2), LSM_OK);
  lsm_fault_env_free(&fe);
}
END_TEST

/* ---------------------------------------------------------------- main */

static Suite *shm_suite(void) {
  Suite *s = suite_create("shm");
  TCase *tc = tcase_create("open");
  tcase_add_test(tc, first_opener_initialises_and_later_opener_in_another_process_sees_it);
  tcase_add_test(tc, opener_waits_for_the_initialiser_and_sees_its_state);
  tcase_add_test(tc, initialiser_killed_before_finishing_makes_the_waiting_opener_first);
  tcase_add_test(tc, first_opener_that_closes_without_finishing_leaves_the_next_one_first);
  tcase_add_test(tc, exclusive_open_is_busy_while_another_process_has_the_dir_open);
  tcase_add_test(tc, opener_that_waited_on_a_removed_lock_file_starts_again_on_the_new_one);
  tcase_add_test(tc, opener_left_alone_while_it_waited_becomes_first);
  tcase_add_test(tc, open_of_a_missing_directory_is_notfound);
  suite_add_tcase(s, tc);

  tc = tcase_create("roles");
  tcase_add_test(tc, writer_excludes_other_process_and_is_freed_when_the_holder_is_killed);
  tcase_add_test(tc, writer_parked_left_by_a_killed_keeper_is_cleared_by_the_next_writer);
  tcase_add_test(tc, joins_counts_every_joining_opener_once_its_slot_is_held);
  tcase_add_test(tc, owner_moves_to_another_process_when_its_holder_exits);
  suite_add_tcase(s, tc);

  tc = tcase_create("slots");
  tcase_add_test(tc, dead_process_slot_is_ignored_by_the_scan_and_reclaimed);
  tcase_add_test(tc, live_slot_with_an_old_generation_holds_the_minimum);
  tcase_add_test(tc, open_is_busy_when_every_reader_slot_is_taken);
  suite_add_tcase(s, tc);

  tc = tcase_create("counters");
  tcase_add_test(tc, next_file_fetch_add_from_four_processes_yields_distinct_numbers);
  tcase_add_test(tc, commit_seq_and_wal_number_are_seen_by_every_instance);
  tcase_add_test(tc, init_finish_rejects_out_of_range_state);
  suite_add_tcase(s, tc);

  tc = tcase_create("damage");
  tcase_add_test(tc, damaged_shm_header_gives_corrupt_never_a_crash);
  tcase_add_test(tc, garbage_shm_left_by_a_dead_session_is_rebuilt_by_the_first_opener);
  tcase_add_test(tc, all_zero_header_under_a_live_instance_gives_busy_after_retries);
  suite_add_tcase(s, tc);

  tc = tcase_create("one process");
  tcase_add_test(tc, two_handles_in_one_process_are_separate_instances);
  tcase_add_test(tc, one_handle_shared_by_threads_lets_one_thread_hold_writer);
  tcase_add_test(tc, threads_with_shared_and_separate_handles_get_distinct_numbers_and_one_writer);
  suite_add_tcase(s, tc);

  tc = tcase_create("faults");
  tcase_add_test(tc, io_faults_in_open_give_ioerr_and_leave_nothing_held);
  tcase_add_test(tc, io_faults_in_a_joining_open_give_ioerr_and_leave_the_state_intact);
  tcase_add_test(tc, io_faults_in_roles_and_scan_give_ioerr);
  tcase_add_test(tc, frozen_fault_env_still_releases_locks_at_close);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(shm_suite());
  int failed;
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
