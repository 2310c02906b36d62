/*
** test_threads.c — one lsm_db used by several threads of one process while
** its background thread flushes and compacts (issue 6), through lsm/lsm.h
** only (plus a gating lsm_env written here).
**
**  - Four threads, a fixed number of operations: two writers, each owning a
**    key range and a counter, commit batches that rewrite their whole range
**    at once; two readers check, through snapshots, iterators and plain
**    reads, that every view shows each writer's range at exactly one
**    batch (all or nothing), that counters never go back, and that a
**    snapshot reads the same values again after flushes and compactions
**    ran beneath it.  One reader also calls lsm_flush and lsm_compact
**    meanwhile.  Then lsm_check, a reopen, the final state.
**  - lsm_close while the background thread has a backlog of flushes and
**    compactions: it waits for the step in flight and leaves a directory
**    with no MANIFEST.tmp and no table the MANIFEST does not name; the
**    reopened database holds every commit.
**  - Write stalls, made deterministic by an environment that holds the
**    background thread at a gate (table creation, or a compaction's first
**    read): a writer whose previous memtable cannot be flushed stops and
**    resumes when the gate opens; with level 0 past its slowdown trigger a
**    write sleeps, past its stop trigger a writer stops until compaction
**    brings level 0 down; the stall counters say so.
**  - A background failure (table creation fails) becomes the sticky error:
**    a writer stopped waiting for that flush wakes with it, later writes,
**    lsm_flush and lsm_compact return it with its message, reads go on, and
**    a reopen holds every acknowledged commit.
**
** No assertion depends on timing: the gate makes the stalls certain, and
** polling loops wait for an event (bounded, failing with a message if it
** never comes).  The threaded tests are also meant for ThreadSanitizer:
**   gcc -fsanitize=thread ... unit-tests/test_threads.c lsm/[a-z]*.c ...
*/
#include <check.h>
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lsm.h"
#include "db_test_support.h"
#include "workload.h" /* lsm_test_manifest_tables */

/* ---------------------------------------------------------------- helpers */

static void sleep_ms(int ms) {
  struct timespec ts;
  ts.tv_sec = ms / 1000;
  ts.tv_nsec = (long)(ms % 1000) * 1000000L;
  nanosleep(&ts, NULL);
}

static lsm_stats stats_of(lsm_db *db) {
  lsm_stats st;
  ck_assert_int_eq(lsm_get_stats(db, &st), LSM_OK);
  return st;
}

/* Wait (polling, at most about a minute) until stats.stop_count >= n. */
static void wait_for_stops(lsm_db *db, uint64_t n, const char *what) {
  int i;
  for (i = 0; i < 60000 && stats_of(db).stop_count < n; i++) sleep_ms(1);
  ck_assert_msg(stats_of(db).stop_count >= n, "%s: the writer never stopped", what);
}

/* ---------------------------------------------------------------- gate env */

/* An lsm_env over the POSIX one that can hold, or fail, the background
** thread's work at two places: creating a table file (a flush or a
** compaction output), and reading a table at offset 0 (the first data
** block: only a compaction reads that; opening a table reads its footer,
** index and filter, at the end). */
typedef struct gate_env {
  lsm_env base;              /* first: the engine passes &base back */
  lsm_env *target;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int hold_create;           /* open_append of a .sst waits while set */
  int fail_create;           /* ... then fails with LSM_IOERR */
  int hold_read0;            /* pread at offset 0 of a .sst waits while set */
  int waiting;               /* calls held at the gate now */
} gate_env;

struct lsm_file {
  lsm_file *inner;
  int is_sst;
};

static gate_env *gate_of(lsm_env *env) {
  return (gate_env *)env;
}

static int is_sst(const char *path) {
  size_t n = strlen(path);
  return n > 4 && strcmp(path + n - 4, ".sst") == 0;
}

/* Wait while *flag is set (gate mutex held). */
static void hold_while(gate_env *g, const int *flag) {
  if (!*flag) return;
  g->waiting++;
  pthread_cond_broadcast(&g->cv);
  while (*flag) pthread_cond_wait(&g->cv, &g->mu);
  g->waiting--;
}

static int wrap_file(lsm_file *inner, const char *path, lsm_file **out) {
  lsm_file *f = malloc(sizeof *f);
  if (f == NULL) return LSM_NOMEM;
  f->inner = inner;
  f->is_sst = is_sst(path);
  *out = f;
  return LSM_OK;
}

static int g_open_read(lsm_env *env, const char *path, lsm_file **out) {
  gate_env *g = gate_of(env);
  lsm_file *inner = NULL;
  int rc = g->target->open_read(g->target, path, &inner);
  if (rc) return rc;
  rc = wrap_file(inner, path, out);
  if (rc) g->target->close(g->target, inner);
  return rc;
}

static int g_open_append(lsm_env *env, const char *path, lsm_file **out) {
  gate_env *g = gate_of(env);
  lsm_file *inner = NULL;
  int rc, fail = 0;
  if (is_sst(path)) {
    pthread_mutex_lock(&g->mu);
    hold_while(g, &g->hold_create);
    fail = g->fail_create;
    pthread_mutex_unlock(&g->mu);
  }
  if (fail) return LSM_IOERR;
  rc = g->target->open_append(g->target, path, &inner);
  if (rc) return rc;
  rc = wrap_file(inner, path, out);
  if (rc) g->target->close(g->target, inner);
  return rc;
}

static int g_pread(lsm_env *env, lsm_file *f, uint64_t off, void *buf, size_t n,
                   size_t *n_read) {
  gate_env *g = gate_of(env);
  if (f->is_sst && off == 0) {
    pthread_mutex_lock(&g->mu);
    hold_while(g, &g->hold_read0);
    pthread_mutex_unlock(&g->mu);
  }
  return g->target->pread(g->target, f->inner, off, buf, n, n_read);
}

static int g_append(lsm_env *env, lsm_file *f, const void *buf, size_t n) {
  gate_env *g = gate_of(env);
  return g->target->append(g->target, f->inner, buf, n);
}

static int g_sync(lsm_env *env, lsm_file *f) {
  gate_env *g = gate_of(env);
  return g->target->sync(g->target, f->inner);
}

static int g_size(lsm_env *env, lsm_file *f, uint64_t *size) {
  gate_env *g = gate_of(env);
  return g->target->size(g->target, f->inner, size);
}

static int g_close(lsm_env *env, lsm_file *f) {
  gate_env *g = gate_of(env);
  int rc = g->target->close(g->target, f->inner);
  free(f);
  return rc;
}

static int g_rename(lsm_env *env, const char *from, const char *to) {
  return gate_of(env)->target->rename(gate_of(env)->target, from, to);
}

static int g_remove(lsm_env *env, const char *path) {
  return gate_of(env)->target->remove(gate_of(env)->target, path);
}

static int g_mkdir(lsm_env *env, const char *path) {
  return gate_of(env)->target->mkdir(gate_of(env)->target, path);
}

static int g_rmdir(lsm_env *env, const char *path) {
  return gate_of(env)->target->rmdir(gate_of(env)->target, path);
}

static int g_list(lsm_env *env, const char *dir, char ***names, int *n_names) {
  return gate_of(env)->target->list(gate_of(env)->target, dir, names, n_names);
}

static int g_sync_dir(lsm_env *env, const char *dir) {
  return gate_of(env)->target->sync_dir(gate_of(env)->target, dir);
}

/* Locks pass straight through: the handle is the target's own. */
static int g_lock(lsm_env *env, const char *path, lsm_file **out) {
  return gate_of(env)->target->lock(gate_of(env)->target, path, out);
}

static int g_unlock(lsm_env *env, lsm_file *lock) {
  return gate_of(env)->target->unlock(gate_of(env)->target, lock);
}

/* The shared-state calls (lsm/shm.c) pass through on wrapped handles. */
static int g_open_shared(lsm_env *env, const char *path, lsm_file **out) {
  gate_env *g = gate_of(env);
  lsm_file *inner = NULL;
  int rc = g->target->open_shared(g->target, path, &inner);
  if (rc) return rc;
  rc = wrap_file(inner, path, out);
  if (rc) g->target->close(g->target, inner);
  return rc;
}

static int g_open_append_existing(lsm_env *env, const char *path, lsm_file **out) {
  gate_env *g = gate_of(env);
  lsm_file *inner = NULL;
  int rc = g->target->open_append_existing(g->target, path, &inner);
  if (rc) return rc;
  rc = wrap_file(inner, path, out);
  if (rc) g->target->close(g->target, inner);
  return rc;
}

static int g_lock_range(lsm_env *env, lsm_file *f, uint64_t off, uint64_t len, int op,
                        int wait) {
  gate_env *g = gate_of(env);
  return g->target->lock_range(g->target, f->inner, off, len, op, wait);
}

static int g_lock_held(lsm_env *env, lsm_file *f, uint64_t off, uint64_t len, int *held) {
  gate_env *g = gate_of(env);
  return g->target->lock_held(g->target, f->inner, off, len, held);
}

static int g_same_file(lsm_env *env, lsm_file *f, const char *path, int *same) {
  gate_env *g = gate_of(env);
  return g->target->same_file(g->target, f->inner, path, same);
}

static int g_shm_map(lsm_env *env, lsm_file *f, size_t n, void **out) {
  gate_env *g = gate_of(env);
  return g->target->shm_map(g->target, f->inner, n, out);
}

static int g_shm_unmap(lsm_env *env, void *p, size_t n) {
  gate_env *g = gate_of(env);
  return g->target->shm_unmap(g->target, p, n);
}

static void gate_init(gate_env *g) {
  memset(g, 0, sizeof *g);
  g->target = lsm_env_default();
  g->base.open_read = g_open_read;
  g->base.open_append = g_open_append;
  g->base.pread = g_pread;
  g->base.append = g_append;
  g->base.sync = g_sync;
  g->base.size = g_size;
  g->base.close = g_close;
  g->base.rename = g_rename;
  g->base.remove = g_remove;
  g->base.mkdir = g_mkdir;
  g->base.rmdir = g_rmdir;
  g->base.list = g_list;
  g->base.sync_dir = g_sync_dir;
  g->base.lock = g_lock;
  g->base.unlock = g_unlock;
  g->base.open_shared = g_open_shared;
  g->base.lock_range = g_lock_range;
  g->base.lock_held = g_lock_held;
  g->base.same_file = g_same_file;
  g->base.shm_map = g_shm_map;
  g->base.shm_unmap = g_shm_unmap;
  g->base.open_append_existing = g_open_append_existing;
  pthread_mutex_init(&g->mu, NULL);
  pthread_cond_init(&g->cv, NULL);
}

static void gate_free(gate_env *g) {
  pthread_cond_destroy(&g->cv);
  pthread_mutex_destroy(&g->mu);
}

static void gate_set(gate_env *g, int *flag, int value) {
  pthread_mutex_lock(&g->mu);
  *flag = value;
  pthread_cond_broadcast(&g->cv);
  pthread_mutex_unlock(&g->mu);
}

/* Block until some call is held at the gate. */
static void gate_wait_held(gate_env *g) {
  pthread_mutex_lock(&g->mu);
  while (g->waiting == 0) pthread_cond_wait(&g->cv, &g->mu);
  pthread_mutex_unlock(&g->mu);
}

/* ---------------------------------------------------------------- keys */

/* Writer w's range: "w<w>/ctr" = the batch number, eight slots
** "w<w>/s<j>" whose values start with it, and one live key of four
** "w<w>/d<k>" (each batch deletes the previous one and writes its own), so
** a batch has puts, overwrites and a delete. */
#define SLOTS 8
#define DKEYS 4

/* Key buffers hold 32 bytes: w < 1000. */
static size_t ctr_key(int w, char *out) {
  return (size_t)sprintf(out, "w%d/ctr", w);
}

static size_t slot_key(int w, int j, char *out) {
  return (size_t)sprintf(out, "w%d/s%d", w, j);
}

static size_t d_key(int w, int k, char *out) {
  return (size_t)sprintf(out, "w%d/d%d", w, k);
}

/* Value of slot j in batch i: "%08d|" then filler, 10 to 69 more bytes. */
static size_t slot_value(int i, int j, char *out) {
  size_t n = (size_t)sprintf(out, "%08d|", i), len = n + 10 + (size_t)((i * 7 + j * 13) % 60);
  for (; n < len; n++) out[n] = (char)('a' + (i + j + (int)n) % 26);
  return len;
}

/* The batch number a value starts with, or -1. */
static int batch_of(const void *v, size_t n) {
  char tmp[9];
  if (n < 8) return -1;
  memcpy(tmp, v, 8);
  tmp[8] = 0;
  return atoi(tmp);
}

/* Batch i of range w into b. */
static int build_batch(lsm_batch *b, int w, int i) {
  char key[32], val[128];
  int j, rc;
  size_t vl;
  lsm_batch_clear(b);
  vl = (size_t)sprintf(val, "%08d", i);
  rc = lsm_batch_put(b, key, ctr_key(w, key), val, vl);
  for (j = 0; j < SLOTS && rc == LSM_OK; j++) {
    size_t kl = slot_key(w, j, key);
    vl = slot_value(i, j, val);
    rc = lsm_batch_put(b, key, kl, val, vl);
  }
  if (rc == LSM_OK && i > 1) rc = lsm_batch_delete(b, key, d_key(w, (i - 1) % DKEYS, key));
  vl = (size_t)sprintf(val, "%08d", i);
  if (rc == LSM_OK) rc = lsm_batch_put(b, key, d_key(w, i % DKEYS, key), val, vl);
  return rc;
}

static void write_batch(lsm_db *db, lsm_batch *b, int w, int i) {
  int rc = build_batch(b, w, i);
  if (rc == LSM_OK) rc = lsm_write(db, b, 0);
  ck_assert_msg(rc == LSM_OK, "writer %d batch %d: %d %s", w, i, rc, lsm_errmsg(db));
}

/* ---------------------------------------------------------------- views */

/* Writer w's range through lsm_get at snap: returns the batch it shows
** (0: none yet), failing the test unless every key agrees on it. */
static int view_by_get(lsm_db *db, const lsm_snapshot *snap, int w) {
  lsm_buffer v = {0};
  char key[32];
  int c, j, k, rc;
  rc = lsm_get(db, snap, key, ctr_key(w, key), &v);
  ck_assert_msg(rc == LSM_OK || rc == LSM_NOTFOUND, "get ctr: %d %s", rc, lsm_errmsg(db));
  c = rc == LSM_OK ? batch_of(v.data, v.len) : 0;
  for (j = 0; j < SLOTS; j++) {
    rc = lsm_get(db, snap, key, slot_key(w, j, key), &v);
    if (c == 0) {
      ck_assert_msg(rc == LSM_NOTFOUND, "writer %d: slot %d present before any batch", w, j);
      continue;
    }
    ck_assert_msg(rc == LSM_OK, "writer %d batch %d: slot %d missing (%d)", w, c, j, rc);
    ck_assert_msg(batch_of(v.data, v.len) == c, "writer %d: slot %d holds batch %d, counter %d",
                  w, j, batch_of(v.data, v.len), c);
  }
  for (k = 0; k < DKEYS; k++) {
    int want = c > 0 && c % DKEYS == k;
    rc = lsm_get(db, snap, key, d_key(w, k, key), &v);
    ck_assert_msg(rc == (want ? LSM_OK : LSM_NOTFOUND),
                  "writer %d batch %d: d%d is %s", w, c, k, rc == LSM_OK ? "present" : "absent");
    if (want) ck_assert_int_eq(batch_of(v.data, v.len), c);
  }
  lsm_buffer_free(&v);
  return c;
}

/* The same through one iterator over the range "w<w>/". */
static int view_by_iter(lsm_db *db, const lsm_snapshot *snap, int w) {
  lsm_iter *it = NULL;
  char prefix[16];
  size_t pl = (size_t)sprintf(prefix, "w%d/", w);
  int c = -1, slots = 0, dkeys = 0, d_batch = -1, slot_batch[SLOTS], j;
  ck_assert_int_eq(lsm_iter_new(db, snap, NULL, &it), LSM_OK);
  for (lsm_iter_seek(it, prefix, pl); lsm_iter_valid(it); lsm_iter_next(it)) {
    size_t kl, vl;
    const char *k = lsm_iter_key(it, &kl);
    const char *v = lsm_iter_value(it, &vl);
    if (kl < pl || memcmp(k, prefix, pl) != 0) break;
    if (kl == pl + 3 && memcmp(k + pl, "ctr", 3) == 0) {
      c = batch_of(v, vl);
    } else if (k[pl] == 's') {
      ck_assert_int_lt(slots, SLOTS);
      slot_batch[slots++] = batch_of(v, vl);
    } else if (k[pl] == 'd') {
      dkeys++;
      d_batch = batch_of(v, vl);
    } else {
      ck_abort_msg("unexpected key %.*s", (int)kl, k);
    }
  }
  ck_assert_int_eq(lsm_iter_status(it), LSM_OK);
  lsm_iter_free(it);
  if (c < 0) {
    ck_assert_msg(slots == 0 && dkeys == 0, "writer %d: keys without a counter", w);
    return 0;
  }
  ck_assert_msg(slots == SLOTS && dkeys == 1, "writer %d batch %d: %d slots and %d d-keys", w, c,
                slots, dkeys);
  ck_assert_msg(d_batch == c, "writer %d: d-key of batch %d, counter %d", w, d_batch, c);
  for (j = 0; j < SLOTS; j++) {
    ck_assert_msg(slot_batch[j] == c, "writer %d: slot %d of batch %d, counter %d", w, j,
                  slot_batch[j], c);
  }
  return c;
}

/* ---------------------------------------------------------------- four threads */

#define WRITERS 2
#define READERS 2
#define BATCHES 2500          /* per writer */
#define READER_ROUNDS 600     /* per reader */
#define KEPT_SNAPSHOTS 4

typedef struct shared {
  lsm_db *db;
  atomic_int writers_done;
  atomic_int reader_rounds[READERS];
} shared;

typedef struct worker {
  shared *sh;
  int id;
} worker;

static void *writer_main(void *arg) {
  worker *wk = arg;
  lsm_batch *b = NULL;
  int i;
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  for (i = 1; i <= BATCHES; i++) write_batch(wk->sh->db, b, wk->id, i);
  lsm_batch_free(b);
  atomic_fetch_add(&wk->sh->writers_done, 1);
  return NULL;
}

/* A snapshot kept for a while, with what it showed when taken. */
typedef struct kept {
  lsm_snapshot *snap;
  int seen[WRITERS];
} kept;

static void *reader_main(void *arg) {
  worker *wk = arg;
  lsm_db *db = wk->sh->db;
  int last[WRITERS] = {0}, round, w, n_kept = 0, k;
  kept keep[KEPT_SNAPSHOTS];
  for (round = 0; round < READER_ROUNDS; round++) {
    kept now;
    ck_assert_int_eq(lsm_snapshot_new(db, &now.snap), LSM_OK);
    for (w = 0; w < WRITERS; w++) {
      /* A new view never shows less than an earlier one; a snapshot shows
      ** the same whether read by lsm_get or by an iterator. */
      int c = view_by_get(db, now.snap, w);
      ck_assert_msg(c >= last[w], "reader %d: writer %d's counter went back from %d to %d",
                    wk->id, w, last[w], c);
      ck_assert_int_eq(view_by_iter(db, now.snap, w), c);
      now.seen[w] = c;
      last[w] = c;
      /* The latest state, through an iterator of its own. */
      c = view_by_iter(db, NULL, w);
      ck_assert_msg(c >= last[w], "reader %d: writer %d's counter went back", wk->id, w);
      last[w] = c;
    }
    /* Snapshots taken rounds ago still read what they read then, however
    ** many flushes and compactions ran since. */
    for (k = 0; k < n_kept; k++) {
      for (w = 0; w < WRITERS; w++) {
        ck_assert_msg(view_by_get(db, keep[k].snap, w) == keep[k].seen[w],
                      "reader %d: an old snapshot changed", wk->id);
      }
    }
    if (n_kept == KEPT_SNAPSHOTS) {
      lsm_snapshot_free(db, keep[0].snap);
      memmove(keep, keep + 1, sizeof(kept) * (KEPT_SNAPSHOTS - 1));
      n_kept--;
    }
    keep[n_kept++] = now;
    /* Reader 1 also runs the maintenance commands meanwhile. */
    if (wk->id == 1 && round % 150 == 75) {
      int rc = round == 375 ? lsm_compact(db) : lsm_flush(db);
      ck_assert_msg(rc == LSM_OK, "maintenance: %d %s", rc, lsm_errmsg(db));
    }
    atomic_store(&wk->sh->reader_rounds[wk->id], round + 1);
  }
  for (k = 0; k < n_kept; k++) lsm_snapshot_free(db, keep[k].snap);
  return NULL;
}

/* Options that make the test's few megabytes cross many flushes,
** compactions and levels, and (with tight level-0 triggers) stall now and
** then. */
static void busy_options(lsm_options *o) {
  lsm_options_init(o);
  o->memtable_size = 16 * 1024;
  o->block_size = 512;
  o->target_file_size = 16 * 1024;
  o->l1_target_bytes = 48 * 1024;
  o->level_multiplier = 4;
  o->l0_compaction_trigger = 2;
  o->l0_slowdown_trigger = 3;
  o->l0_stop_trigger = 5;
  o->sync_mode = LSM_SYNC_OFF;
}

START_TEST(threads_readers_see_whole_batches_and_counters_never_go_back) {
  lsm_options o;
  shared sh;
  worker wk[WRITERS + READERS];
  pthread_t th[WRITERS + READERS];
  lsm_stats st;
  int i, w;
  busy_options(&o);
  memset(&sh, 0, sizeof sh);
  sh.db = lsm_test_open("four", &o);
  for (i = 0; i < WRITERS + READERS; i++) {
    wk[i].sh = &sh;
    wk[i].id = i < WRITERS ? i : i - WRITERS;
    ck_assert_int_eq(pthread_create(&th[i], NULL, i < WRITERS ? writer_main : reader_main, &wk[i]),
                     0);
  }
  for (i = 0; i < WRITERS + READERS; i++) ck_assert_int_eq(pthread_join(th[i], NULL), 0);
  ck_assert_int_eq(atomic_load(&sh.writers_done), WRITERS);
  for (w = 0; w < WRITERS; w++) {
    ck_assert_int_eq(view_by_get(sh.db, NULL, w), BATCHES);
    ck_assert_int_eq(view_by_iter(sh.db, NULL, w), BATCHES);
  }
  ck_assert_msg(lsm_check(sh.db) == LSM_OK, "lsm_check: %s", lsm_errmsg(sh.db));
  st = stats_of(sh.db);
  printf("four threads: %d batches, %d reader rounds; %llu flushes, %llu compactions, "
         "%llu slowdowns (%llu us), %llu stops (%llu us)\n",
         WRITERS * BATCHES, READERS * READER_ROUNDS, (unsigned long long)st.flushes,
         (unsigned long long)st.compactions, (unsigned long long)st.slowdown_count,
         (unsigned long long)st.slowdown_micros, (unsigned long long)st.stop_count,
         (unsigned long long)st.stop_micros);
  ck_assert_uint_gt(st.flushes, 10);
  ck_assert_uint_gt(st.compactions, 0);
  ck_assert_int_eq(lsm_close(sh.db), LSM_OK);
  /* Everything is there after a reopen, too. */
  sh.db = lsm_test_open("four", &o);
  for (w = 0; w < WRITERS; w++) ck_assert_int_eq(view_by_iter(sh.db, NULL, w), BATCHES);
  ck_assert_int_eq(lsm_check(sh.db), LSM_OK);
  ck_assert_int_eq(lsm_close(sh.db), LSM_OK);
  ck_assert_int_eq(lsm_destroy("four", NULL), LSM_OK);
}
END_TEST

/* ---------------------------------------------------------------- close */

/* Fail unless every table in dir is named by its MANIFEST and there is no
** MANIFEST.tmp. */
static void check_directory_consistent(const char *dir) {
  uint64_t named[1024];
  int n_named = lsm_test_manifest_tables(dir, named, 1024), i;
  struct dirent *e;
  DIR *d = opendir(dir);
  ck_assert_msg(n_named >= 0, "%s: MANIFEST unreadable", dir);
  ck_assert_ptr_nonnull(d);
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    uint64_t num;
    ck_assert_msg(strcmp(e->d_name, "MANIFEST.tmp") != 0, "%s: MANIFEST.tmp left behind", dir);
    if (len < 5 || strcmp(e->d_name + len - 4, ".sst") != 0) continue;
    num = strtoull(e->d_name, NULL, 10);
    for (i = 0; i < n_named && named[i] != num; i++) {
    }
    ck_assert_msg(i < n_named, "%s: table %s is not in the MANIFEST", dir, e->d_name);
  }
  closedir(d);
}

/* Rounds: commit at least 1000 batches, then until the background thread
** has a backlog (level 0 at least 4 tables, which its compactions cannot
** keep down with these triggers), close at once, inspect the directory, reopen and check every
** range written so far (batches go round-robin over 50 writers' ranges). */
#define CLOSE_RANGES 50

START_TEST(threads_close_during_background_work_leaves_a_consistent_directory) {
  lsm_options o;
  lsm_batch *b = NULL;
  int round, rounds = 6, total = 0, backlog_rounds = 0, last[CLOSE_RANGES] = {0}, w;
  lsm_options_init(&o);
  o.memtable_size = 4 * 1024;
  o.block_size = 256;
  o.target_file_size = 8 * 1024;
  o.l1_target_bytes = 16 * 1024;
  o.l0_compaction_trigger = 2;
  o.l0_slowdown_trigger = 40;
  o.l0_stop_trigger = 60;
  o.sync_mode = LSM_SYNC_OFF;
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  for (round = 0; round < rounds; round++) {
    lsm_db *db = lsm_test_open("closing", &o);
    int i;
    for (i = 1; i <= 20000; i++) {
      w = total % CLOSE_RANGES;
      write_batch(db, b, 10 + w, ++last[w]);
      total++;
      if (i >= 1000 && i % 16 == 0 && stats_of(db).level[0].files >= 4) break;
    }
    if (stats_of(db).level[0].files >= 4) backlog_rounds++;
    ck_assert_int_eq(lsm_close(db), LSM_OK);
    check_directory_consistent("closing");
    /* Reopen: every range shows its last batch, whole. */
    db = lsm_test_open("closing", &o);
    for (w = 0; w < CLOSE_RANGES; w++) ck_assert_int_eq(view_by_get(db, NULL, 10 + w), last[w]);
    ck_assert_msg(lsm_check(db) == LSM_OK, "lsm_check: %s", lsm_errmsg(db));
    ck_assert_int_eq(lsm_close(db), LSM_OK);
  }
  printf("close during background work: %d rounds, %d batches, %d closed with a level-0 "
         "backlog\n", rounds, total, backlog_rounds);
  ck_assert_msg(backlog_rounds > 0, "the background thread always kept up: no close under load");
  lsm_batch_free(b);
  ck_assert_int_eq(lsm_destroy("closing", NULL), LSM_OK);
}
END_TEST

/* ---------------------------------------------------------------- stalls */

typedef struct stall_writer {
  lsm_db *db;
  int w, first, n;
  atomic_int done;
  int rc;                    /* first failure, or LSM_OK */
  int failed_at;             /* batch of that failure */
} stall_writer;

/* Commit batches first..first+n-1 of range w; stop at the first error. */
static void *stall_writer_main(void *arg) {
  stall_writer *s = arg;
  lsm_batch *b = NULL;
  int i;
  s->rc = lsm_batch_new(&b);
  for (i = s->first; s->rc == LSM_OK && i < s->first + s->n; i++) {
    s->rc = build_batch(b, s->w, i);
    if (s->rc == LSM_OK) s->rc = lsm_write(s->db, b, 0);
    if (s->rc) s->failed_at = i;
  }
  lsm_batch_free(b);
  atomic_store(&s->done, 1);
  return NULL;
}

static void stall_options(lsm_options *o, gate_env *g) {
  lsm_options_init(o);
  o->memtable_size = 8 * 1024;
  o->block_size = 512;
  o->sync_mode = LSM_SYNC_OFF;
  o->env = &g->base;
}

/* The first flush is held at table creation: the writer fills the next
** memtable and stops (imm still there); it goes on when the flush can. */
START_TEST(threads_writer_stops_while_the_previous_memtable_is_flushed) {
  gate_env g;
  lsm_options o;
  stall_writer s;
  pthread_t th;
  lsm_stats st;
  gate_init(&g);
  stall_options(&o, &g);
  memset(&s, 0, sizeof s);
  s.db = lsm_test_open("stop_imm", &o);
  s.w = 0;
  s.first = 1;
  s.n = 200;                 /* ~20 memtables */
  gate_set(&g, &g.hold_create, 1);
  ck_assert_int_eq(pthread_create(&th, NULL, stall_writer_main, &s), 0);
  gate_wait_held(&g);        /* the first flush is at the gate */
  wait_for_stops(s.db, 1, "memtable stop");
  ck_assert_msg(!atomic_load(&s.done), "the writer finished while its memtable could not be flushed");
  st = stats_of(s.db);
  ck_assert_uint_eq(st.flushes, 0);
  gate_set(&g, &g.hold_create, 0);
  ck_assert_int_eq(pthread_join(th, NULL), 0);
  ck_assert_msg(s.rc == LSM_OK, "write failed: %d", s.rc);
  ck_assert_int_eq(view_by_get(s.db, NULL, 0), 200);
  st = stats_of(s.db);
  ck_assert_uint_ge(st.stop_count, 1);
  ck_assert_uint_gt(st.stop_micros, 0);
  ck_assert_uint_gt(st.flushes, 0);
  ck_assert_int_eq(lsm_close(s.db), LSM_OK);
  gate_free(&g);
}
END_TEST

/* Level 0 over both triggers (six tables made with loose triggers, then
** reopened with tight ones) while the compaction that would bring it down
** is held at its first read: a write sleeps once (slowdown), and a writer
** whose memtable fills stops until the compaction runs. */
START_TEST(threads_level0_triggers_slow_down_then_stop_writers) {
  gate_env g;
  lsm_options o;
  stall_writer s;
  pthread_t th;
  lsm_stats st;
  lsm_db *db;
  lsm_batch *b = NULL;
  int t;
  gate_init(&g);
  stall_options(&o, &g);
  o.l0_compaction_trigger = 10;
  o.l0_slowdown_trigger = 10;
  o.l0_stop_trigger = 10;
  db = lsm_test_open("stop_l0", &o);
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  for (t = 1; t <= 6; t++) {
    write_batch(db, b, 1, t);
    ck_assert_int_eq(lsm_flush(db), LSM_OK);
  }
  lsm_batch_free(b);
  ck_assert_int_eq(stats_of(db).level[0].files, 6);
  ck_assert_int_eq(lsm_close(db), LSM_OK);

  o.l0_compaction_trigger = 2;
  o.l0_slowdown_trigger = 3;
  o.l0_stop_trigger = 5;
  gate_set(&g, &g.hold_read0, 1);
  memset(&s, 0, sizeof s);
  s.db = lsm_test_open("stop_l0", &o);
  gate_wait_held(&g);        /* the compaction of level 0 is at the gate */
  s.w = 0;
  s.first = 1;
  s.n = 100;
  ck_assert_int_eq(pthread_create(&th, NULL, stall_writer_main, &s), 0);
  wait_for_stops(s.db, 1, "level-0 stop");
  ck_assert_msg(!atomic_load(&s.done), "the writer finished while level 0 was past its stop trigger");
  st = stats_of(s.db);
  ck_assert_int_eq(st.level[0].files, 6);
  ck_assert_uint_ge(st.slowdown_count, 1);
  ck_assert_uint_gt(st.slowdown_micros, 0);
  gate_set(&g, &g.hold_read0, 0);
  ck_assert_int_eq(pthread_join(th, NULL), 0);
  ck_assert_msg(s.rc == LSM_OK, "write failed: %d", s.rc);
  ck_assert_int_eq(view_by_get(s.db, NULL, 0), 100);
  ck_assert_int_eq(view_by_get(s.db, NULL, 1), 6);
  st = stats_of(s.db);
  ck_assert_uint_gt(st.compactions, 0);
  ck_assert_uint_gt(st.stop_micros, 0);
  ck_assert_int_lt(st.level[0].files, 6);
  ck_assert_int_eq(lsm_check(s.db), LSM_OK);
  ck_assert_int_eq(lsm_close(s.db), LSM_OK);
  gate_free(&g);
}
END_TEST

/* ---------------------------------------------------------------- errors */

/* The writer is stopped behind a flush held at table creation; the
** creation then fails.  The stopped writer wakes with the error (it does
** not hang), and so does every later write, lsm_flush and lsm_compact,
** each with the message; reads go on; a reopen has every commit the writer
** had acknowledged. */
START_TEST(threads_background_error_is_sticky_and_wakes_stopped_writers) {
  gate_env g;
  lsm_options o;
  stall_writer s;
  pthread_t th;
  lsm_batch *b = NULL;
  char msg[512];
  int last_ok;
  gate_init(&g);
  stall_options(&o, &g);
  memset(&s, 0, sizeof s);
  s.db = lsm_test_open("bg_error", &o);
  s.w = 0;
  s.first = 1;
  s.n = 200;
  gate_set(&g, &g.hold_create, 1);
  ck_assert_int_eq(pthread_create(&th, NULL, stall_writer_main, &s), 0);
  gate_wait_held(&g);
  wait_for_stops(s.db, 1, "stop before the failure");
  pthread_mutex_lock(&g.mu);
  g.fail_create = 1;
  g.hold_create = 0;
  pthread_cond_broadcast(&g.cv);
  pthread_mutex_unlock(&g.mu);
  ck_assert_int_eq(pthread_join(th, NULL), 0);
  ck_assert_int_eq(s.rc, LSM_IOERR);
  last_ok = s.failed_at - 1;
  snprintf(msg, sizeof msg, "%s", lsm_errmsg(s.db));
  ck_assert_msg(strstr(msg, "cannot create table") != NULL, "message: %s", msg);
  /* Sticky: later writes and the maintenance calls fail the same way. */
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  lsm_batch_put(b, "late", 4, "x", 1);
  ck_assert_int_eq(lsm_write(s.db, b, 0), LSM_IOERR);
  ck_assert_str_eq(lsm_errmsg(s.db), msg);
  ck_assert_int_eq(lsm_flush(s.db), LSM_IOERR);
  ck_assert_int_eq(lsm_compact(s.db), LSM_IOERR);
  ck_assert_str_eq(lsm_errmsg(s.db), msg);
  /* Reads go on, and see every acknowledged commit. */
  ck_assert_int_eq(view_by_get(s.db, NULL, 0), last_ok);
  ck_assert_int_eq(lsm_get(s.db, NULL, "late", 4, NULL), LSM_NOTFOUND);
  ck_assert_int_eq(lsm_close(s.db), LSM_OK);
  /* A working disk again: everything acknowledged is there. */
  g.fail_create = 0;
  s.db = lsm_test_open("bg_error", &o);
  ck_assert_int_eq(view_by_get(s.db, NULL, 0), last_ok);
  ck_assert_int_eq(lsm_write(s.db, b, 0), LSM_OK);
  ck_assert_int_eq(lsm_check(s.db), LSM_OK);
  ck_assert_int_eq(lsm_close(s.db), LSM_OK);
  lsm_batch_free(b);
  gate_free(&g);
}
END_TEST

/* Option checks: a stop trigger below the compaction trigger would let a
** writer wait for a compaction that never starts. */
START_TEST(threads_inconsistent_level0_triggers_are_refused) {
  lsm_options o;
  lsm_db *db = NULL;
  lsm_options_init(&o);
  o.l0_compaction_trigger = 6;
  o.l0_slowdown_trigger = 4;
  ck_assert_int_eq(lsm_open("badopts", &o, &db), LSM_MISUSE);
  lsm_close(db);
  lsm_options_init(&o);
  o.l0_stop_trigger = o.l0_slowdown_trigger - 1;
  db = NULL;
  ck_assert_int_eq(lsm_open("badopts", &o, &db), LSM_MISUSE);
  lsm_close(db);
}
END_TEST

static Suite *threads_suite(void) {
  Suite *s = suite_create("threads");
  TCase *tc = tcase_create("threads");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, threads_readers_see_whole_batches_and_counters_never_go_back);
  tcase_add_test(tc, threads_close_during_background_work_leaves_a_consistent_directory);
  tcase_add_test(tc, threads_writer_stops_while_the_previous_memtable_is_flushed);
  tcase_add_test(tc, threads_level0_triggers_slow_down_then_stop_writers);
  tcase_add_test(tc, threads_background_error_is_sticky_and_wakes_stopped_writers);
  tcase_add_test(tc, threads_inconsistent_level0_triggers_are_refused);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(threads_suite());
  int failed;
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
