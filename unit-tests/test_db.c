/*
** test_db.c — the engine as a whole, through lsm/lsm.h only: commits and
** reads, persistence across reopen, recovery from the log, the merging
** iterator in both directions over memtable + several levels with
** tombstones, snapshots, overlays, compaction against an in-memory model,
** and a kill -9 crash loop.
**
** Randomised tests print their seed; set LSM_TEST_SEED to replay one.
*/
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lsm.h"
#include "rand_support.h"
#include "db_test_support.h"
#include "coding.h"   /* lsm_buffer_append, to NUL-terminate values */
#include "workload.h" /* lsm_test_manifest_tables */

/* ---------------------------------------------------------------- helpers */

static uint64_t rng_state;

static uint64_t rnd(void) { return lsm_test_next(&rng_state); }

static void seed_rng(const char *test) { rng_state = lsm_test_seed(test); }

static void del(lsm_db *db, const char *k) {
  lsm_batch *b;
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  ck_assert_int_eq(lsm_batch_delete(b, k, strlen(k)), LSM_OK);
  ck_assert_int_eq(lsm_write(db, b, 0), LSM_OK);
  lsm_batch_free(b);
}

/* Value of k as a NUL-terminated string in buf, or NULL if absent. */
static const char *get(lsm_db *db, const lsm_snapshot *s, const char *k, lsm_buffer *buf) {
  int rc = lsm_get(db, s, k, strlen(k), buf);
  if (rc == LSM_NOTFOUND) return NULL;
  ck_assert_msg(rc == LSM_OK, "get %s: %d %s", k, rc, lsm_errmsg(db));
  ck_assert_int_eq(lsm_buffer_append(buf, "", 1), LSM_OK);
  return (const char *)buf->data;
}

/* ---------------------------------------------------------------- model */

#define MODEL_KEYS 4000

typedef struct model {
  int present[MODEL_KEYS];
  char value[MODEL_KEYS][64];
} model;

static void model_key(int i, char *out) {
  sprintf(out, "key%06d", i);
}

static void random_value(char *out) {
  int len = 1 + (int)(rnd() % 60), i;
  for (i = 0; i < len; i++) out[i] = (char)('a' + rnd() % 26);
  out[len] = 0;
}

/* Every key: lsm_get agrees; full scans forward and backward agree. */
static void check_against_model(lsm_db *db, const model *m) {
  lsm_buffer buf = {0};
  lsm_iter *it;
  char key[32];
  int i, n_present = 0, seen;
  for (i = 0; i < MODEL_KEYS; i++) {
    const char *v;
    model_key(i, key);
    v = get(db, NULL, key, &buf);
    if (m->present[i]) {
      ck_assert_msg(v != NULL, "key %s missing", key);
      ck_assert_str_eq(v, m->value[i]);
      n_present++;
    } else {
      ck_assert_msg(v == NULL, "key %s should be deleted, has %s", key, v);
    }
  }
  ck_assert_int_eq(lsm_iter_new(db, NULL, NULL, &it), LSM_OK);
  seen = 0;
  i = 0;
  for (lsm_iter_first(it); lsm_iter_valid(it); lsm_iter_next(it)) {
    size_t kl, vl;
    const char *k = lsm_iter_key(it, &kl);
    const char *v = lsm_iter_value(it, &vl);
    while (i < MODEL_KEYS && !m->present[i]) i++;
    ck_assert_int_lt(i, MODEL_KEYS);
    model_key(i, key);
    ck_assert_msg(kl == strlen(key) && memcmp(k, key, kl) == 0, "forward scan: expected %s", key);
    ck_assert_msg(vl == strlen(m->value[i]) && memcmp(v, m->value[i], vl) == 0, "value of %s", key);
    seen++;
    i++;
  }
  ck_assert_int_eq(lsm_iter_status(it), LSM_OK);
  ck_assert_int_eq(seen, n_present);
  seen = 0;
  i = MODEL_KEYS - 1;
  for (lsm_iter_last(it); lsm_iter_valid(it); lsm_iter_prev(it)) {
    size_t kl, vl;
    const char *k = lsm_iter_key(it, &kl);
    const char *v = lsm_iter_value(it, &vl);
    while (i >= 0 && !m->present[i]) i--;
    ck_assert_int_ge(i, 0);
    model_key(i, key);
    ck_assert_msg(kl == strlen(key) && memcmp(k, key, kl) == 0, "backward scan: expected %s", key);
    ck_assert_msg(vl == strlen(m->value[i]) && memcmp(v, m->value[i], vl) == 0, "value of %s", key);
    seen++;
    i--;
  }
  ck_assert_int_eq(seen, n_present);
  ck_assert_int_eq(lsm_iter_status(it), LSM_OK);
  lsm_iter_free(it);
  lsm_buffer_free(&buf);
}

/* Random seeks and direction changes against the model. */
static void check_seeks(lsm_db *db, const model *m, int rounds) {
  lsm_iter *it;
  char key[32];
  int r;
  ck_assert_int_eq(lsm_iter_new(db, NULL, NULL, &it), LSM_OK);
  for (r = 0; r < rounds; r++) {
    int target = (int)(rnd() % (MODEL_KEYS + 2)) - 1, i, steps, s;
    int le = (int)(rnd() % 2);
    /* target -1 and MODEL_KEYS probe past both ends; use a key between
    ** model keys half of the time ("keyNNNNNN~"). */
    int between = (int)(rnd() % 2);
    if (target < 0) strcpy(key, "a");
    else if (target >= MODEL_KEYS) strcpy(key, "z");
    else {
      model_key(target, key);
      if (between) strcat(key, "~");
    }
    if (le) {
      lsm_iter_seek_le(it, key, strlen(key));
      i = target < 0 ? -1 : (target >= MODEL_KEYS ? MODEL_KEYS - 1 : target);
      while (i >= 0 && !m->present[i]) i--;
    } else {
      lsm_iter_seek(it, key, strlen(key));
      i = target < 0 ? 0 : (target >= MODEL_KEYS ? MODEL_KEYS : target + between);
      while (i < MODEL_KEYS && !m->present[i]) i++;
    }
    steps = (int)(rnd() % 8);
    for (s = 0; s <= steps; s++) {
      int valid = i >= 0 && i < MODEL_KEYS;
      ck_assert_int_eq(lsm_iter_valid(it), valid);
      if (!valid) break;
      {
        size_t kl;
        const char *k = lsm_iter_key(it, &kl);
        char want[32];
        model_key(i, want);
        ck_assert_msg(kl == strlen(want) && memcmp(k, want, kl) == 0, "seek %s: expected %s", key, want);
      }
      if (rnd() % 2) {
        lsm_iter_next(it);
        i++;
        while (i < MODEL_KEYS && !m->present[i]) i++;
      } else {
        lsm_iter_prev(it);
        i--;
        while (i >= 0 && !m->present[i]) i--;
      }
    }
  }
  ck_assert_int_eq(lsm_iter_status(it), LSM_OK);
  lsm_iter_free(it);
}

/* ---------------------------------------------------------------- tests */

START_TEST(db_put_get_delete_and_reopen) {
  lsm_db *db = lsm_test_open("basic", NULL);
  lsm_buffer buf = {0};
  lsm_test_put(db, "user:1", "alice");
  lsm_test_put(db, "user:2", "bob");
  lsm_test_put(db, "user:1", "alice_updated");
  del(db, "user:2");
  ck_assert_str_eq(get(db, NULL, "user:1", &buf), "alice_updated");
  ck_assert_ptr_null(get(db, NULL, "user:2", &buf));
  ck_assert_ptr_null(get(db, NULL, "user:3", &buf));
  ck_assert_int_eq(lsm_close(db), LSM_OK);
  /* Reopen: the commits come back from the log. */
  db = lsm_test_open("basic", NULL);
  ck_assert_str_eq(get(db, NULL, "user:1", &buf), "alice_updated");
  ck_assert_ptr_null(get(db, NULL, "user:2", &buf));
  ck_assert_int_eq(lsm_flush(db), LSM_OK);
  ck_assert_int_eq(lsm_close(db), LSM_OK);
  /* And from a table after a flush. */
  db = lsm_test_open("basic", NULL);
  ck_assert_str_eq(get(db, NULL, "user:1", &buf), "alice_updated");
  ck_assert_ptr_null(get(db, NULL, "user:2", &buf));
  ck_assert_int_eq(lsm_check(db), LSM_OK);
  ck_assert_int_eq(lsm_close(db), LSM_OK);
  lsm_buffer_free(&buf);
}
END_TEST

START_TEST(db_second_open_joins_the_first) {
  /* Two handles on one directory are two instances (as two processes
  ** would be): the second joins, and each sees the other's commits
  ** (test_multiproc.c tests the protocol itself). */
  lsm_db *db = lsm_test_open("join", NULL), *db2 = NULL;
  lsm_buffer buf = {0};
  lsm_test_put(db, "a", "1");
  db2 = lsm_test_open("join", NULL);
  ck_assert_str_eq(get(db2, NULL, "a", &buf), "1");
  lsm_test_put(db2, "b", "2");
  ck_assert_str_eq(get(db, NULL, "b", &buf), "2");
  ck_assert_int_eq(lsm_close(db2), LSM_OK);
  ck_assert_int_eq(lsm_close(db), LSM_OK);
  lsm_buffer_free(&buf);
}
END_TEST

START_TEST(db_batch_is_atomic_and_last_op_wins) {
  lsm_db *db = lsm_test_open("batch", NULL);
  lsm_batch *b;
  lsm_buffer buf = {0};
  lsm_stats st;
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  lsm_batch_put(b, "a", 1, "1", 1);
  lsm_batch_put(b, "b", 1, "2", 1);
  lsm_batch_delete(b, "a", 1);
  lsm_batch_put(b, "c", 1, "3", 1);
  ck_assert_int_eq(lsm_write(db, b, 1), LSM_OK);
  ck_assert_ptr_null(get(db, NULL, "a", &buf));
  ck_assert_str_eq(get(db, NULL, "b", &buf), "2");
  ck_assert_str_eq(get(db, NULL, "c", &buf), "3");
  lsm_get_stats(db, &st);
  ck_assert_uint_eq(st.last_seq, 3);   /* three distinct keys, one record */
  ck_assert_uint_gt(st.wal_bytes, 0);
  lsm_batch_free(b);
  lsm_close(db);
  lsm_buffer_free(&buf);
}
END_TEST

START_TEST(db_snapshot_sees_the_past_across_flush_and_compaction) {
  lsm_options o;
  lsm_db *db;
  lsm_snapshot *snap;
  lsm_buffer buf = {0};
  lsm_iter *it;
  char key[32];
  int i, n;
  lsm_test_small_options(&o);
  db = lsm_test_open("snap", &o);
  for (i = 0; i < 500; i++) {
    model_key(i, key);
    lsm_test_put(db, key, "old");
  }
  ck_assert_int_eq(lsm_snapshot_new(db, &snap), LSM_OK);
  for (i = 0; i < 500; i++) {
    model_key(i, key);
    if (i % 2) lsm_test_put(db, key, "new");
    else del(db, key);
  }
  ck_assert_int_eq(lsm_compact(db), LSM_OK);
  model_key(10, key);
  ck_assert_str_eq(get(db, snap, key, &buf), "old");
  ck_assert_ptr_null(get(db, NULL, key, &buf));
  model_key(11, key);
  ck_assert_str_eq(get(db, snap, key, &buf), "old");
  ck_assert_str_eq(get(db, NULL, key, &buf), "new");
  ck_assert_int_eq(lsm_iter_new(db, snap, NULL, &it), LSM_OK);
  n = 0;
  for (lsm_iter_first(it); lsm_iter_valid(it); lsm_iter_next(it)) {
    size_t vl;
    const char *v = lsm_iter_value(it, &vl);
    ck_assert(vl == 3 && memcmp(v, "old", 3) == 0);
    n++;
  }
  ck_assert_int_eq(n, 500);
  lsm_iter_free(it);
  lsm_snapshot_free(db, snap);
  /* Without the snapshot, a full compaction drops the tombstones. */
  ck_assert_int_eq(lsm_compact(db), LSM_OK);
  {
    lsm_stats st;
    int level;
    uint64_t entries = 0, tombs = 0;
    lsm_get_stats(db, &st);
    for (level = 0; level < LSM_MAX_LEVELS; level++) {
      entries += st.level[level].entries;
      tombs += st.level[level].tombstones;
    }
    ck_assert_uint_eq(entries, 250);
    ck_assert_uint_eq(tombs, 0);
  }
  lsm_close(db);
  lsm_buffer_free(&buf);
}
END_TEST

START_TEST(db_iterator_keeps_its_view_while_files_change) {
  lsm_options o;
  lsm_db *db;
  lsm_iter *it;
  char key[32];
  int i, n = 0;
  lsm_test_small_options(&o);
  db = lsm_test_open("stable", &o);
  for (i = 0; i < 300; i++) {
    model_key(i, key);
    lsm_test_put(db, key, "v1");
  }
  ck_assert_int_eq(lsm_iter_new(db, NULL, NULL, &it), LSM_OK);
  lsm_iter_first(it);
  /* Rewrite everything, flushing and compacting, while the iterator is open. */
  for (i = 0; i < 300; i++) {
    model_key(i, key);
    if (i % 3 == 0) del(db, key);
    else lsm_test_put(db, key, "v2");
  }
  ck_assert_int_eq(lsm_compact(db), LSM_OK);
  for (; lsm_iter_valid(it); lsm_iter_next(it)) {
    size_t vl;
    const char *v = lsm_iter_value(it, &vl);
    ck_assert(vl == 2 && memcmp(v, "v1", 2) == 0);
    n++;
  }
  ck_assert_int_eq(lsm_iter_status(it), LSM_OK);
  ck_assert_int_eq(n, 300);
  lsm_iter_free(it);
  lsm_close(db);
}
END_TEST

/* lsm_iter_refresh: an iterator moved to the latest commit sees what was
** committed since, as a new one would, while its sources stay; once a flush
** replaced them (or for a snapshot or overlay iterator) it says LSM_BUSY
** and keeps its old view. */
static const char *value_at(lsm_iter *it, const char *key, char *out) {
  size_t kl, vl;
  const char *k, *v;
  lsm_iter_seek(it, key, strlen(key));
  if (!lsm_iter_valid(it)) return NULL;
  k = lsm_iter_key(it, &kl);
  if (kl != strlen(key) || memcmp(k, key, kl) != 0) return NULL;
  v = lsm_iter_value(it, &vl);
  memcpy(out, v, vl);
  out[vl] = 0;
  return out;
}

START_TEST(db_refreshed_iterator_sees_new_commits_until_its_sources_change) {
  lsm_db *db = lsm_test_open("refresh", NULL);
  lsm_iter *it, *at_snap, *with_overlay;
  lsm_snapshot *snap;
  lsm_batch *b;
  char key[32], v[64];
  size_t kl;
  const char *k;
  int i;
  for (i = 0; i < 100; i++) {
    model_key(i, key);
    lsm_test_put(db, key, "v1");
  }
  ck_assert_int_eq(lsm_iter_new(db, NULL, NULL, &it), LSM_OK);
  ck_assert_int_eq(lsm_snapshot_new(db, &snap), LSM_OK);
  ck_assert_int_eq(lsm_iter_new(db, snap, NULL, &at_snap), LSM_OK);
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  ck_assert_int_eq(lsm_batch_put(b, "x", 1, "y", 1), LSM_OK);
  ck_assert_int_eq(lsm_iter_new(db, NULL, b, &with_overlay), LSM_OK);
  /* Leave it moving backward, in the middle. */
  ck_assert_ptr_nonnull(value_at(it, "key000050", v));
  lsm_iter_prev(it);
  ck_assert(lsm_iter_valid(it));
  lsm_test_put(db, "key000050", "v2");
  del(db, "key000051");
  lsm_test_put(db, "key000050a", "new");
  ck_assert_str_eq(value_at(it, "key000050", v), "v1");     /* not yet */
  ck_assert_int_eq(lsm_iter_refresh(it), LSM_OK);
  ck_assert(!lsm_iter_valid(it));
  ck_assert_str_eq(value_at(it, "key000050", v), "v2");
  lsm_iter_next(it);
  k = lsm_iter_key(it, &kl);
  ck_assert(kl == 10 && memcmp(k, "key000050a", 10) == 0);
  lsm_iter_next(it);
  k = lsm_iter_key(it, &kl);
  ck_assert(kl == 9 && memcmp(k, "key000052", 9) == 0);   /* 051 deleted */
  lsm_iter_prev(it);
  k = lsm_iter_key(it, &kl);
  ck_assert(kl == 10 && memcmp(k, "key000050a", 10) == 0);
  lsm_iter_last(it);
  k = lsm_iter_key(it, &kl);
  ck_assert(kl == 9 && memcmp(k, "key000099", 9) == 0);
  /* Refreshing twice with nothing new changes nothing. */
  ck_assert_int_eq(lsm_iter_refresh(it), LSM_OK);
  ck_assert_str_eq(value_at(it, "key000050", v), "v2");
  /* Snapshot and overlay iterators are never refreshed. */
  ck_assert_int_eq(lsm_iter_refresh(at_snap), LSM_BUSY);
  ck_assert_int_eq(lsm_iter_refresh(with_overlay), LSM_BUSY);
  ck_assert_str_eq(value_at(at_snap, "key000050", v), "v1");
  /* A flush replaces the memtable: the old view stays, refresh refuses. */
  lsm_test_put(db, "key000050", "v3");
  ck_assert_int_eq(lsm_flush(db), LSM_OK);
  ck_assert_int_eq(lsm_iter_refresh(it), LSM_BUSY);
  ck_assert_str_eq(value_at(it, "key000050", v), "v2");
  ck_assert_int_eq(lsm_iter_status(it), LSM_OK);
  lsm_iter_free(it);
  lsm_iter_free(at_snap);
  lsm_iter_free(with_overlay);
  lsm_batch_free(b);
  lsm_snapshot_free(db, snap);
  lsm_close(db);
}
END_TEST

/* A level whose files hold only part of the keys: seeks land inside it,
** past its last file and back, in random order, on one iterator refreshed
** between seeks as a cursor's is (the level keeps its table iterator aside
** while it is on no file, version.c set_file); every seek, and the steps
** forward and backward after it, across files and sources, give the
** sorted model's keys and values. */
START_TEST(db_iterator_seeks_in_and_past_a_level_that_holds_part_of_the_keys) {
  enum { N_A = 600, N_M = 100, N_Z = 10 };
  static char keys[N_A + N_M + N_Z][16];
  lsm_options o;
  lsm_stats st;
  lsm_db *db;
  lsm_iter *it;
  char v[64];
  int i, n = 0, step, deeper = 0;
  seed_rng("db_iterator_seeks_in_and_past_a_level_that_holds_part_of_the_keys");
  lsm_test_small_options(&o);
  db = lsm_test_open("partlevel", &o);
  for (i = 0; i < N_A; i++) snprintf(keys[n++], 16, "a%04d", i);
  for (i = 0; i < N_M; i++) snprintf(keys[n++], 16, "m%04d", i);
  for (i = 0; i < N_Z; i++) snprintf(keys[n++], 16, "z%04d", i);
  for (i = 0; i < N_A; i++) {
    snprintf(v, sizeof v, "value of %.15s ....................................", keys[i]);
    lsm_test_put(db, keys[i], v);
  }
  ck_assert_int_eq(lsm_compact(db), LSM_OK);          /* a....: one level, several files */
  for (i = N_A; i < N_A + N_M; i++) {
    snprintf(v, sizeof v, "value of %.15s ....................................", keys[i]);
    lsm_test_put(db, keys[i], v);
  }
  ck_assert_int_eq(lsm_flush(db), LSM_OK);            /* m....: a level-0 table */
  for (i = N_A + N_M; i < n; i++) {
    snprintf(v, sizeof v, "value of %.15s ....................................", keys[i]);
    lsm_test_put(db, keys[i], v);                     /* z....: the memtable */
  }
  ck_assert_int_eq(lsm_get_stats(db, &st), LSM_OK);
  for (i = 1; i < LSM_MAX_LEVELS; i++) deeper += st.level[i].files;
  ck_assert_int_ge(deeper, 2);
  ck_assert_int_eq(lsm_iter_new(db, NULL, NULL, &it), LSM_OK);
  for (step = 0; step < 600; step++) {
    char target[16];
    int want, moves;
    size_t kl, vl;
    const char *k, *val;
    switch (rnd() % 4) {
      case 0: snprintf(target, sizeof target, "a%04d", (int)(rnd() % (N_A + 50))); break;
      case 1: snprintf(target, sizeof target, "b"); break;
      case 2: snprintf(target, sizeof target, "m%04d", (int)(rnd() % (N_M + 5))); break;
      default: snprintf(target, sizeof target, "z%04d", (int)(rnd() % (N_Z + 2))); break;
    }
    if (lsm_iter_refresh(it) != LSM_OK) {             /* a compaction moved files */
      lsm_iter_free(it);
      ck_assert_int_eq(lsm_iter_new(db, NULL, NULL, &it), LSM_OK);
    }
    ck_assert_int_eq(lsm_iter_seek(it, target, strlen(target)), LSM_OK);
    for (want = 0; want < n && strcmp(keys[want], target) < 0; want++) {}
    for (moves = 0; moves < 4; moves++) {
      if (want >= n || want < 0) {
        ck_assert_msg(!lsm_iter_valid(it), "step %d: %s: valid past the end", step, target);
        break;
      }
      ck_assert_msg(lsm_iter_valid(it), "step %d: %s: want %s", step, target, keys[want]);
      k = lsm_iter_key(it, &kl);
      ck_assert_msg(kl == strlen(keys[want]) && memcmp(k, keys[want], kl) == 0,
                    "step %d: %s: want %s, got %.*s", step, target, keys[want], (int)kl, k);
      val = lsm_iter_value(it, &vl);
      snprintf(v, sizeof v, "value of %.15s ....................................", keys[want]);
      ck_assert(vl == strlen(v) && memcmp(val, v, vl) == 0);
      if (rnd() % 3 == 0) {
        ck_assert_int_eq(lsm_iter_prev(it), LSM_OK);
        want--;
      } else {
        ck_assert_int_eq(lsm_iter_next(it), LSM_OK);
        want++;
      }
    }
  }
  ck_assert_int_eq(lsm_iter_status(it), LSM_OK);
  lsm_iter_free(it);
  lsm_close(db);
}
END_TEST

START_TEST(db_overlay_batch_reads_its_own_writes) {
  lsm_db *db = lsm_test_open("overlay", NULL);
  lsm_batch *b;
  lsm_iter *it;
  const char *expect[] = {"a=1", "b=batch", "d=4"};
  int n = 0;
  lsm_test_put(db, "a", "1");
  lsm_test_put(db, "b", "2");
  lsm_test_put(db, "c", "3");
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  lsm_batch_put(b, "b", 1, "batch", 5);
  lsm_batch_delete(b, "c", 1);
  lsm_batch_put(b, "d", 1, "4", 1);
  ck_assert_int_eq(lsm_iter_new(db, NULL, b, &it), LSM_OK);
  for (lsm_iter_first(it); lsm_iter_valid(it); lsm_iter_next(it)) {
    size_t kl, vl;
    const char *k = lsm_iter_key(it, &kl);
    const char *v = lsm_iter_value(it, &vl);
    char got[32];
    snprintf(got, sizeof got, "%.*s=%.*s", (int)kl, k, (int)vl, v);
    ck_assert_int_lt(n, 3);
    ck_assert_str_eq(got, expect[n]);
    n++;
  }
  ck_assert_int_eq(n, 3);
  n = 3;
  for (lsm_iter_last(it); lsm_iter_valid(it); lsm_iter_prev(it)) n--;
  ck_assert_int_eq(n, 0);
  lsm_iter_seek(it, "b", 1);
  ck_assert(lsm_iter_valid(it));
  {
    size_t vl;
    const char *v = lsm_iter_value(it, &vl);
    ck_assert(vl == 5 && memcmp(v, "batch", 5) == 0);
  }
  lsm_iter_free(it);
  lsm_batch_free(b);
  lsm_close(db);
}
END_TEST

START_TEST(db_overlay_iterator_ignores_later_batch_writes) {
  lsm_db *db = lsm_test_open("overlay2", NULL);
  lsm_batch *b;
  lsm_iter *it;
  int n = 0;
  lsm_test_put(db, "a", "1");
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  lsm_batch_put(b, "b", 1, "2", 1);
  ck_assert_int_eq(lsm_iter_new(db, NULL, b, &it), LSM_OK);
  /* Writing into the overlay while scanning it, as INSERT INTO t SELECT
  ** ... FROM t does: the scan sees the batch as it was. */
  for (lsm_iter_first(it); lsm_iter_valid(it); lsm_iter_next(it)) {
    size_t kl;
    const char *k = lsm_iter_key(it, &kl);
    char next[8];
    snprintf(next, sizeof next, "%.*sx", (int)kl, k);
    lsm_batch_put(b, next, strlen(next), "new", 3);
    lsm_batch_delete(b, "b", 1);
    ck_assert_int_lt(++n, 10);
  }
  ck_assert_int_eq(n, 2);
  lsm_iter_free(it);
  /* A new iterator sees everything: a, ax, bx (b deleted). */
  ck_assert_int_eq(lsm_iter_new(db, NULL, b, &it), LSM_OK);
  n = 0;
  for (lsm_iter_first(it); lsm_iter_valid(it); lsm_iter_next(it)) n++;
  ck_assert_int_eq(n, 3);
  lsm_iter_free(it);
  lsm_batch_free(b);
  lsm_close(db);
}
END_TEST

START_TEST(db_model_random_ops_with_reopen) {
  static model m;
  lsm_options o;
  lsm_db *db;
  lsm_batch *b;
  char key[32];
  int op, ops = 100000;
  lsm_stats st;
  int level, deep = 0;
  seed_rng("db_model_random_ops_with_reopen");
  memset(&m, 0, sizeof m);
  lsm_test_small_options(&o);
  db = lsm_test_open("model", &o);
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  for (op = 0; op < ops; op++) {
    int i = (int)(rnd() % MODEL_KEYS);
    model_key(i, key);
    if (rnd() % 4 == 0) {
      lsm_batch_delete(b, key, strlen(key));
      m.present[i] = 0;
    } else {
      random_value(m.value[i]);
      lsm_batch_put(b, key, strlen(key), m.value[i], strlen(m.value[i]));
      m.present[i] = 1;
    }
    /* Batches of 1 to 16 operations. */
    if (rnd() % 8 == 0 || op == ops - 1) {
      ck_assert_int_eq(lsm_write(db, b, 0), LSM_OK);
      lsm_batch_clear(b);
    }
    if (op == ops / 2) {
      /* Commit what the model already holds, then reopen. */
      ck_assert_int_eq(lsm_write(db, b, 0), LSM_OK);
      lsm_batch_clear(b);
      ck_assert_int_eq(lsm_close(db), LSM_OK);
      db = lsm_test_open("model", &o);
      check_against_model(db, &m);
    }
  }
  check_against_model(db, &m);
  check_seeks(db, &m, 2000);
  lsm_get_stats(db, &st);
  for (level = 1; level < LSM_MAX_LEVELS; level++) {
    if (st.level[level].files > 0) deep = level;
  }
  ck_assert_msg(deep >= 2, "data should reach level 2 or deeper (deepest %d)", deep);
  ck_assert_uint_gt(st.compactions, 0);
  ck_assert_int_eq(lsm_check(db), LSM_OK);
  ck_assert_int_eq(lsm_close(db), LSM_OK);
  db = lsm_test_open("model", &o);
  check_against_model(db, &m);
  ck_assert_int_eq(lsm_compact(db), LSM_OK);
  check_against_model(db, &m);
  check_seeks(db, &m, 500);
  lsm_batch_free(b);
  lsm_close(db);
}
END_TEST

START_TEST(db_bloom_filter_rules_out_missing_keys) {
  lsm_options o;
  lsm_db *db;
  lsm_buffer buf = {0};
  lsm_stats st;
  char key[32];
  int i;
  lsm_test_small_options(&o);
  db = lsm_test_open("bloom", &o);
  for (i = 0; i < 2000; i++) {
    model_key(i, key);
    lsm_test_put(db, key, "x");
  }
  ck_assert_int_eq(lsm_flush(db), LSM_OK);
  for (i = 0; i < 2000; i++) {
    sprintf(key, "key%06d~", i);   /* inside the tables' key ranges */
    ck_assert_ptr_null(get(db, NULL, key, &buf));
  }
  lsm_get_stats(db, &st);
  ck_assert_uint_gt(st.bloom_probes, 0);
  /* At 10 bits per key about 1% of probes pass a filter by mistake. */
  ck_assert_uint_ge(st.bloom_negatives * 100, st.bloom_probes * 95);
  lsm_close(db);
  lsm_buffer_free(&buf);
}
END_TEST

START_TEST(db_block_cache_serves_repeated_reads) {
  lsm_options o;
  lsm_db *db;
  lsm_buffer buf = {0};
  lsm_stats st;
  char key[32];
  int i, round;
  lsm_test_small_options(&o);
  db = lsm_test_open("cache", &o);
  for (i = 0; i < 200; i++) {
    model_key(i, key);
    lsm_test_put(db, key, "cached-value");
  }
  ck_assert_int_eq(lsm_compact(db), LSM_OK);
  for (round = 0; round < 2; round++) {
    for (i = 0; i < 200; i++) {
      model_key(i, key);
      ck_assert_str_eq(get(db, NULL, key, &buf), "cached-value");
    }
  }
  lsm_get_stats(db, &st);
  /* The second round finds every block in the cache. */
  ck_assert_uint_ge(st.cache_hits, 200);
  ck_assert_uint_gt(st.cache_misses, 0);
  ck_assert_uint_gt(st.cache_bytes, 0);
  ck_assert_uint_le(st.cache_bytes, o.cache_size);
  ck_assert_int_eq(lsm_check(db), LSM_OK);
  lsm_close(db);
  lsm_buffer_free(&buf);
}
END_TEST

START_TEST(db_large_values_cross_blocks) {
  lsm_db *db = lsm_test_open("large", NULL);
  size_t n = 3u << 20, i;
  char *big = malloc(n);
  lsm_batch *b;
  lsm_buffer buf = {0};
  for (i = 0; i < n; i++) big[i] = (char)(i * 7);
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  ck_assert_int_eq(lsm_batch_put(b, big, 1u << 20, big, n), LSM_OK);
  ck_assert_int_eq(lsm_write(db, b, 0), LSM_OK);
  ck_assert_int_eq(lsm_flush(db), LSM_OK);
  lsm_close(db);
  db = lsm_test_open("large", NULL);
  ck_assert_int_eq(lsm_get(db, NULL, big, 1u << 20, &buf), LSM_OK);
  ck_assert_uint_eq(buf.len, n);
  ck_assert(memcmp(buf.data, big, n) == 0);
  lsm_batch_free(b);
  lsm_close(db);
  lsm_buffer_free(&buf);
  free(big);
}
END_TEST

START_TEST(db_destroy_removes_the_directory) {
  lsm_db *db = lsm_test_open("doomed", NULL);
  struct stat st;
  lsm_test_put(db, "k", "v");
  lsm_flush(db);
  ck_assert_int_eq(lsm_destroy("doomed", NULL), LSM_BUSY);   /* still open */
  lsm_close(db);
  ck_assert_int_eq(lsm_destroy("doomed", NULL), LSM_OK);
  ck_assert_int_ne(stat("doomed", &st), 0);
}
END_TEST

START_TEST(db_corrupt_log_middle_fails_open) {
  lsm_db *db = lsm_test_open("badlog", NULL);
  char path[64];
  FILE *f;
  int i;
  for (i = 0; i < 20; i++) lsm_test_put(db, "key", "value-value-value");
  lsm_close(db);
  /* After close, the log is 000002.log (1 was the first manifest's). */
  {
    lsm_env *env = lsm_env_default();
    char **names;
    int n, j;
    ck_assert_int_eq(env->list(env, "badlog", &names, &n), LSM_OK);
    path[0] = 0;
    for (j = 0; j < n; j++) {
      if (strstr(names[j], ".log")) snprintf(path, sizeof path, "badlog/%s", names[j]);
    }
    lsm_env_free_list(names, n);
  }
  ck_assert(path[0]);
  f = fopen(path, "r+b");
  ck_assert_ptr_nonnull(f);
  fseek(f, 16 + 8 + 5, SEEK_SET);   /* inside the first record's payload */
  fputc(0xEE, f);
  fclose(f);
  db = NULL;
  ck_assert_int_eq(lsm_open("badlog", NULL, &db), LSM_CORRUPT);
  ck_assert_ptr_nonnull(strstr(lsm_errmsg(db), ".log"));
  lsm_close(db);
}
END_TEST

START_TEST(db_manifest_recovery_restores_every_level) {
  lsm_options o;
  lsm_db *db;
  lsm_stats before, after;
  lsm_buffer buf = {0};
  char key[32];
  int i, level;
  lsm_test_small_options(&o);
  /* Inline maintenance: a background compaction finishing between the
  ** stats and the close would change the levels the reopen must match. */
  o.background = 0;
  db = lsm_test_open("manifest", &o);
  for (i = 0; i < 3000; i++) {
    model_key(i, key);
    lsm_test_put(db, key, "value-value-value");
  }
  ck_assert_int_eq(lsm_flush(db), LSM_OK);
  lsm_get_stats(db, &before);
  ck_assert_int_eq(lsm_close(db), LSM_OK);
  db = lsm_test_open("manifest", &o);
  lsm_get_stats(db, &after);
  for (level = 0; level < LSM_MAX_LEVELS; level++) {
    ck_assert_int_eq(after.level[level].files, before.level[level].files);
    ck_assert_uint_eq(after.level[level].bytes, before.level[level].bytes);
    ck_assert_uint_eq(after.level[level].entries, before.level[level].entries);
  }
  ck_assert_uint_eq(after.last_seq, before.last_seq);
  model_key(1234, key);
  ck_assert_str_eq(get(db, NULL, key, &buf), "value-value-value");
  lsm_close(db);
  lsm_buffer_free(&buf);
}
END_TEST

/* Flip one byte of MANIFEST at offset off (or truncate it to off bytes). */
static void damage_manifest(const char *dir, long off, int truncate_it) {
  char path[128];
  FILE *f;
  snprintf(path, sizeof path, "%s/MANIFEST", dir);
  if (truncate_it) {
    ck_assert_int_eq(truncate(path, off), 0);
    return;
  }
  f = fopen(path, "r+b");
  ck_assert_ptr_nonnull(f);
  fseek(f, off, SEEK_SET);
  {
    int c = fgetc(f);
    fseek(f, off, SEEK_SET);
    fputc(c ^ 0x40, f);
  }
  fclose(f);
}

START_TEST(db_damaged_manifest_fails_open_with_corrupt) {
  /* magic, version, counters, first file entry; -1: truncated */
  long offsets[] = {0, 9, 20, 45, -1};
  int i;
  for (i = 0; i < 5; i++) {
    char dir[32];
    lsm_db *db;
    snprintf(dir, sizeof dir, "badmanifest%d", i);
    db = lsm_test_open(dir, NULL);
    lsm_test_put(db, "k", "v");
    ck_assert_int_eq(lsm_flush(db), LSM_OK);
    lsm_close(db);
    if (offsets[i] >= 0) damage_manifest(dir, offsets[i], 0);
    else damage_manifest(dir, 30, 1);
    db = NULL;
    ck_assert_int_eq(lsm_open(dir, NULL, &db), LSM_CORRUPT);
    ck_assert_ptr_nonnull(strstr(lsm_errmsg(db), "MANIFEST"));
    lsm_close(db);
  }
}
END_TEST

/* ---------------------------------------------------------------- crash */

/* Options of the crash rounds: a 4 KiB memtable (a dozen transactions),
** so that a flush, and every few flushes a compaction, runs all the time
** and a kill often lands in one. */
static void crash_options(lsm_options *o) {
  lsm_test_small_options(o);
  o->memtable_size = 4 * 1024;
  o->block_size = 256;
  o->target_file_size = 8 * 1024;
  o->l1_target_bytes = 16 * 1024;
  o->l0_compaction_trigger = 2;
}

/* The tables in dir that its MANIFEST does not name (written by a flush or
** compaction the manifest never took in, or inputs of a compaction not yet
** deleted), into orphans[]; *tmp set if a MANIFEST.tmp is there.  Returns
** the number of orphans. */
static int crash_orphans(const char *dir, uint64_t *orphans, int max, int *tmp) {
  uint64_t named[4096];
  int n_named = lsm_test_manifest_tables(dir, named, 4096), n = 0, i;
  struct dirent *e;
  DIR *d = opendir(dir);
  *tmp = 0;
  if (d == NULL) return 0;
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    uint64_t num;
    if (strcmp(e->d_name, "MANIFEST.tmp") == 0) *tmp = 1;
    if (len < 5 || strcmp(e->d_name + len - 4, ".sst") != 0) continue;
    num = strtoull(e->d_name, NULL, 10);
    for (i = 0; i < n_named && named[i] != num; i++) {
    }
    if (i == n_named && n < max) orphans[n++] = num;
  }
  closedir(d);
  return n;
}

/* Logs in dir holding at least one record (longer than the 16-byte
** header).  Two or more: a full memtable was waiting for its flush or in
** it (background mode; inline, the commit that switches flushes at once,
** before the new log gets a record). */
static int crash_busy_logs(const char *dir) {
  struct dirent *e;
  DIR *d = opendir(dir);
  int n = 0;
  if (d == NULL) return 0;
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    char path[512];
    struct stat st;
    if (len < 5 || strcmp(e->d_name + len - 4, ".log") != 0) continue;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (stat(path, &st) == 0 && st.st_size > 16) n++;
  }
  closedir(d);
  return n;
}

/* Milliseconds on the monotonic clock. */
static long long clock_gettime_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Directory of the crash rounds: under /dev/shm when there is one.  A
** kill -9 loses nothing the OS was given, so real fsyncs only slow the
** rounds down (with a 4 KiB memtable they would take most of the time). */
static void crash_dir(char *parent, size_t parent_size, char *dir, size_t dir_size) {
  snprintf(parent, parent_size, "/dev/shm/lsm-crash-XXXXXX");
  if (mkdtemp(parent) == NULL) parent[0] = 0;
  snprintf(dir, dir_size, "%s%scrash", parent, parent[0] ? "/" : "");
}

/* Child: commit transactions of 8 keys "t<txn>-<j>" forever, reporting each
** acknowledged transaction number on the pipe.  background: flushes and
** compactions on the engine's thread (the default) or inline. */
static void crash_child(const char *dir, int fd, int start, int background) {
  lsm_options o;
  lsm_db *db = NULL;
  lsm_batch *b = NULL;
  int txn;
  crash_options(&o);
  o.background = background;
  if (lsm_open(dir, &o, &db) != LSM_OK || lsm_batch_new(&b) != LSM_OK) _exit(2);
  for (txn = start;; txn++) {
    char key[32], val[64];
    int j;
    lsm_batch_clear(b);
    for (j = 0; j < 8; j++) {
      snprintf(key, sizeof key, "t%08d-%d", txn, j);
      snprintf(val, sizeof val, "value-of-%08d", txn);
      lsm_batch_put(b, key, strlen(key), val, strlen(val));
    }
    if (lsm_write(db, b, 0) != LSM_OK) _exit(3);
    if (write(fd, &txn, sizeof txn) != sizeof txn) _exit(4);
  }
}

/* Rounds: a child commits transactions (flushing and compacting all the
** time with the tiny memtable) until it is killed with SIGKILL after a
** random delay; then the directory is inspected (did the kill land in a
** flush or a compaction?), reopened and checked: every acknowledged
** transaction is there whole, none is partial, no gaps, lsm_check passes.
** Even rounds run the engine's default background mode (the kill may land
** in the background thread's flush or compaction while the writer goes
** on), odd rounds flushes and compactions inline.  20 rounds (200 with
** LSM_TORTURE=1), more if no kill has yet landed in a flush or compaction
** in either mode. */
START_TEST(db_crash_kill9_loses_no_acknowledged_commit) {
  int round, rounds = getenv("LSM_TORTURE") && strcmp(getenv("LSM_TORTURE"), "0") != 0 &&
                              getenv("LSM_TORTURE")[0] ? 200 : 20;
  int next_txn = 0, max_acked = -1, mid_maintenance = 0, mid_by_mode[2] = {0, 0};
  uint64_t stale[64];       /* orphans already there after the last close */
  int n_stale = 0, tmp_after;
  char parent[64], dir[96];
  double t0 = (double)clock_gettime_ms();
  seed_rng("db_crash_kill9_loses_no_acknowledged_commit");
  crash_dir(parent, sizeof parent, dir, sizeof dir);
  /* A kill lands in a flush or compaction in about one round in five; if
  ** none has by the last round, go on (up to three times as many rounds) so
  ** that the default run reliably covers that case. */
  for (round = 0;
       round < rounds || ((mid_by_mode[0] == 0 || mid_by_mode[1] == 0) && round < 3 * rounds);
       round++) {
    int background = round % 2 == 0;
    int fds[2], status, txn, tmp, n_orphans, i, j, fresh = 0;
    uint64_t orphans[64];
    pid_t pid;
    lsm_db *db;
    lsm_iter *it;
    lsm_options o;
    int seen_keys = 0, max_seen = -1;
    ck_assert_int_eq(pipe(fds), 0);
    pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
      close(fds[0]);
      crash_child(dir, fds[1], next_txn, background);
    }
    close(fds[1]);
    usleep((useconds_t)(30000 + rnd() % 120000));
    kill(pid, SIGKILL);
    while (read(fds[0], &txn, sizeof txn) == sizeof txn) {
      if (txn > max_acked) max_acked = txn;
    }
    close(fds[0]);
    waitpid(pid, &status, 0);
    ck_assert(WIFSIGNALED(status));
    /* Where did the kill land?  A table the manifest does not name (and
    ** that the last clean close did not leave either), a MANIFEST.tmp, or
    ** two logs with records (a memtable handed to the background thread
    ** and not yet flushed) mean it interrupted a flush or a compaction. */
    n_orphans = crash_orphans(dir, orphans, 64, &tmp);
    for (i = 0; i < n_orphans; i++) {
      for (j = 0; j < n_stale && stale[j] != orphans[i]; j++) {
      }
      if (j == n_stale) fresh = 1;
    }
    if (crash_busy_logs(dir) >= 2) fresh = 1;   /* a memtable waiting for its flush */
    if (fresh || tmp) {
      mid_maintenance++;
      mid_by_mode[background]++;
    }
    /* Every acknowledged transaction is there, whole; none is partial. */
    crash_options(&o);
    db = lsm_test_open(dir, &o);
    ck_assert_int_eq(lsm_iter_new(db, NULL, NULL, &it), LSM_OK);
    {
      int cur = -1, count = 0;
      for (lsm_iter_first(it); lsm_iter_valid(it); lsm_iter_next(it)) {
        size_t kl;
        const char *k = lsm_iter_key(it, &kl);
        int t = atoi(k + 1);
        if (t != cur) {
          ck_assert_msg(cur < 0 || count == 8, "transaction %d is partial (%d keys)", cur, count);
          cur = t;
          count = 0;
        }
        count++;
        seen_keys++;
        if (t > max_seen) max_seen = t;
      }
      ck_assert_msg(cur < 0 || count == 8, "transaction %d is partial (%d keys)", cur, count);
    }
    ck_assert_int_eq(lsm_iter_status(it), LSM_OK);
    lsm_iter_free(it);
    ck_assert_msg(max_seen >= max_acked, "round %d: acknowledged %d but only %d survived (%s)",
                  round, max_acked, max_seen,
                  fresh || tmp ? "killed mid-flush/compaction" : "killed between commits");
    ck_assert_int_eq(seen_keys, (max_seen + 1) * 8);   /* no gaps */
    ck_assert_int_eq(lsm_check(db), LSM_OK);
    lsm_close(db);
    n_stale = crash_orphans(dir, stale, 64, &tmp_after);
    next_txn = max_seen + 1;
    printf("crash round %d (%s): %d transactions survive (last acknowledged %d)%s\n", round,
           background ? "background" : "inline", max_seen + 1, max_acked,
           fresh || tmp ? ", killed mid-flush/compaction" : "");
  }
  printf("coverage: kill-9: %d rounds, %d killed mid-flush/compaction (%d background, %d inline), "
         "%d transactions, 0 lost, %.1f s\n", round, mid_maintenance, mid_by_mode[1],
         mid_by_mode[0], next_txn, ((double)clock_gettime_ms() - t0) / 1000);
  fflush(stdout);
  ck_assert_int_eq(lsm_destroy(dir, NULL), LSM_OK);
  if (parent[0]) rmdir(parent);
  ck_assert_int_gt(next_txn, 0);
  ck_assert_msg(mid_by_mode[0] > 0 && mid_by_mode[1] > 0,
                "no kill landed in a flush or compaction in %s mode: tune the timing",
                mid_by_mode[1] == 0 ? "background" : "inline");
}
END_TEST

static Suite *db_suite(void) {
  Suite *s = suite_create("db");
  TCase *tc = tcase_create("db");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, db_put_get_delete_and_reopen);
  tcase_add_test(tc, db_second_open_joins_the_first);
  tcase_add_test(tc, db_batch_is_atomic_and_last_op_wins);
  tcase_add_test(tc, db_refreshed_iterator_sees_new_commits_until_its_sources_change);
  tcase_add_test(tc, db_iterator_seeks_in_and_past_a_level_that_holds_part_of_the_keys);
  tcase_add_test(tc, db_snapshot_sees_the_past_across_flush_and_compaction);
  tcase_add_test(tc, db_iterator_keeps_its_view_while_files_change);
  tcase_add_test(tc, db_overlay_batch_reads_its_own_writes);
  tcase_add_test(tc, db_overlay_iterator_ignores_later_batch_writes);
  tcase_add_test(tc, db_model_random_ops_with_reopen);
  tcase_add_test(tc, db_bloom_filter_rules_out_missing_keys);
  tcase_add_test(tc, db_block_cache_serves_repeated_reads);
  tcase_add_test(tc, db_large_values_cross_blocks);
  tcase_add_test(tc, db_destroy_removes_the_directory);
  tcase_add_test(tc, db_corrupt_log_middle_fails_open);
  tcase_add_test(tc, db_manifest_recovery_restores_every_level);
  tcase_add_test(tc, db_damaged_manifest_fails_open_with_corrupt);
  tcase_add_test(tc, db_crash_kill9_loses_no_acknowledged_commit);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(db_suite());
  int failed;
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
