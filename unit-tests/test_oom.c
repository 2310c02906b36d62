/*
** test_oom.c — out-of-memory injection (issue 5, "never lose a committed
** row"): failing the Nth allocation anywhere in the engine makes the call
** that needed it return LSM_NOMEM, never crash, never corrupt, never lose
** an acknowledged commit, never leave a batch in part, and leak nothing.
**
** How allocations are failed without touching the engine: this program is
** linked with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=strdup
** (the Makefile's LDWRAP for build/unit/test_oom and build/asan/unit/
** test_oom), so every call to those functions from the objects linked in
** statically — the engine, the test helpers and this file — goes to the
** __wrap_ functions below, which count the calls and fail the Nth one when
** armed.  Libraries linked dynamically (libc's own internal allocations,
** libcheck, opendir() inside the POSIX environment) are not wrapped: their
** allocations are neither counted nor failed.  free() is not wrapped.
** strdup() is wrapped too (the engine copies directory and file names with
** it); its replacement allocates through __wrap_malloc.
**
** The wrappers' counters are the one piece of global mutable state here:
** the linker hands malloc() no context to carry them in.  They are atomics,
** so the engine's background thread is counted too.  The main loop runs
** the engine with options.background = 0 (flushes and compactions inline),
** which makes the allocation sequence deterministic; a second, shorter
** loop runs the default background mode, where the Nth allocation is a
** different one from run to run (often the background thread's) and a run
** may make fewer than N (counted apart, verified all the same).
**
** The script (oom_script): open a database with small options (8 KiB
** memtable, 512-byte blocks, 16 KiB output files, 32 KiB level 1,
** compaction at 3 level-0 files), commit batches across several flushes
** and compactions, read keys back, iterate forward and backward over a
** snapshot with an overlay batch, lsm_flush, more batches, lsm_compact,
** lsm_check, more batches (left in the log), close, reopen (recovery from
** the log), more batches, reads, close.  It asserts nothing: every status
** is recorded and checked against what an allocation failure may cause —
** LSM_OK or LSM_NOMEM, LSM_NOTFOUND from reads, and after a failed write
** the engine's sticky error (LSM_NOMEM again, or LSM_READONLY).
**
** The loop: one unarmed run counts the script's allocations (A).  Then for
** N = 1..A (an even spread of them within a time budget by default, all
** of them with LSM_TORTURE=1) a forked child with an alarm runs the script
** from scratch with allocation N failing, then disarms and verifies: close
** whatever is open, reopen, and every batch whose lsm_write returned
** LSM_OK is there whole, a batch whose write failed is there whole or not
** at all, a batch never submitted is absent, nothing else is there, and
** lsm_check passes.  Each child leaves through exit(), so in the sanitizer
** build LeakSanitizer checks it and a leak fails that N.  A crash, a hang
** or a leak is reported with its N; LSM_OOM_ONLY=N reruns one case in this
** process (under a debugger, say; LSM_OOM_BACKGROUND=1 for background
** mode).  Each loop prints
**   coverage: oom: X of A allocation points, F failures
*/
#include <check.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lsm.h"
#include "workload.h"   /* lsm_test_forked, lsm_test_spread_order, budgets */

/* ---------------------------------------------------------------- allocator */

#include "oom_inject.h"   /* the wrappers, oom_arm, oom_disarm */

/* ---------------------------------------------------------------- model */

#define N_BATCHES 52     /* script batches, in phases (see oom_script) */
#define KEYS_PER_BATCH 4

/* Outcome of batch b. */
#define NOT_RUN 0        /* never submitted: must be absent */
#define ACKED 1          /* lsm_write returned LSM_OK: must be there */
#define FAILED 2         /* lsm_write failed: all or nothing */

typedef struct oom_run {
  char dir[64];
  int background;        /* options.background of every open */
  unsigned char status[N_BATCHES];
  int write_failed;      /* a write has failed: sticky errors allowed */
  int violation;
  char msg[512];
} oom_run;

/* Batch b puts keys "bBBB-J" (J = 0..3); every fifth batch (b % 5 == 4,
** b >= 5) also deletes key 3 of batch b-5. */
static int deleter(int b) { return b >= 5 && b % 5 == 4; }

static size_t batch_key(int b, int j, char *out) {
  return (size_t)snprintf(out, 16, "b%03d-%d", b, j);
}

/* 40 to 289 bytes, so that a memtable holds a dozen or so batches. */
static size_t batch_value(int b, int j, char *out) {
  size_t n = 40 + (size_t)((b * 37 + j * 101) % 250), i;
  int head = snprintf(out, 32, "v%03d-%d:", b, j);
  for (i = (size_t)head; i < n; i++) out[i] = (char)('a' + (b + j + (int)i) % 26);
  return n;
}

/* Whether key j of batch b should be there when applied[] says which
** batches are. */
static int key_expected(const unsigned char *applied, int b, int j) {
  if (!applied[b]) return 0;
  if (j == 3 && b + 5 < N_BATCHES && deleter(b + 5) && applied[b + 5]) return 0;
  return 1;
}

static int violation(oom_run *r, const char *fmt, const char *what, int rc) {
  if (!r->violation) {
    char text[256];
    snprintf(text, sizeof text, fmt, what);
    snprintf(r->msg, sizeof r->msg, "%s (status %d)", text, rc);
  }
  r->violation = 1;
  return -1;
}

/* Check a status any engine call may return under an allocation failure. */
static int allowed(oom_run *r, int rc, const char *what) {
  if (rc == LSM_OK || rc == LSM_NOMEM) return 0;
  if (r->write_failed && rc == LSM_READONLY) return 0;
  return violation(r, "%s returned an unexpected status", what, rc);
}

/* ---------------------------------------------------------------- script */

static void small_options(lsm_options *o, int background) {
  lsm_options_init(o);
  o->background = background;
  o->memtable_size = 8 * 1024;
  o->block_size = 512;
  o->target_file_size = 16 * 1024;
  o->l1_target_bytes = 32 * 1024;
  o->level_multiplier = 4;
  o->l0_compaction_trigger = 3;
}

/* Commit batches first..last-1 (each only if building it succeeded). */
static void commit_batches(oom_run *r, lsm_db *db, int first, int last) {
  lsm_batch *bt = NULL;
  int b, rc = lsm_batch_new(&bt);
  if (allowed(r, rc, "lsm_batch_new") || rc) return;
  for (b = first; b < last; b++) {
    char key[16], val[300];
    int j;
    lsm_batch_clear(bt);
    rc = LSM_OK;
    for (j = 0; j < KEYS_PER_BATCH && rc == LSM_OK; j++) {
      size_t kl = batch_key(b, j, key), vl = batch_value(b, j, val);
      rc = lsm_batch_put(bt, key, kl, val, vl);
    }
    if (rc == LSM_OK && deleter(b)) {
      size_t kl = batch_key(b - 5, 3, key);
      rc = lsm_batch_delete(bt, key, kl);
    }
    if (allowed(r, rc, "lsm_batch_put/delete")) break;
    if (rc) continue;                      /* not submitted: NOT_RUN */
    rc = lsm_write(db, bt, 0);
    if (allowed(r, rc, "lsm_write")) {
      r->status[b] = FAILED;
      break;
    }
    if (rc == LSM_OK) {
      r->status[b] = ACKED;
    } else {
      r->status[b] = FAILED;
      r->write_failed = 1;
    }
  }
  lsm_batch_free(bt);
}

/* Read key 0 of every acknowledged batch below `upto` (never deleted):
** LSM_OK with the right value, or LSM_NOMEM. */
static void read_back(oom_run *r, lsm_db *db, const lsm_snapshot *snap, int upto) {
  lsm_buffer v = {0};
  int b;
  for (b = 0; b < upto && !r->violation; b += 3) {
    char key[16], val[300];
    size_t kl = batch_key(b, 0, key), vl = batch_value(b, 0, val);
    int rc = lsm_get(db, snap, key, kl, &v);
    if (r->status[b] != ACKED) {
      if (rc != LSM_NOTFOUND) allowed(r, rc, "lsm_get");
      continue;
    }
    if (rc == LSM_NOTFOUND) {
      violation(r, "lsm_get lost acknowledged key %s", key, rc);
    } else if (allowed(r, rc, "lsm_get") == 0 && rc == LSM_OK &&
               (v.len != vl || memcmp(v.data, val, vl) != 0)) {
      violation(r, "lsm_get returned a wrong value for %s", key, rc);
    }
  }
  lsm_buffer_free(&v);
}

/* Keys the overlay puts ("bBBB-o", between a batch's keys and the next
** batch's) and deletes (key 1 of batches 0, 4, 8, ...). */
static int overlay_fill(lsm_batch *ov) {
  int b, rc = LSM_OK;
  for (b = 0; b < 24 && rc == LSM_OK; b += 4) {
    char key[16];
    snprintf(key, sizeof key, "b%03d-o", b + 2);
    rc = lsm_batch_put(ov, key, strlen(key), "overlay", 7);
    if (rc == LSM_OK) rc = lsm_batch_delete(ov, key, batch_key(b, 1, key));
  }
  return rc;
}

/* Iterate over snapshot + overlay forward then backward: keys strictly
** ordered; if a direction completes without error, it saw every overlay
** put and none of the overlay's deletes. */
static void iterate(oom_run *r, lsm_db *db) {
  lsm_snapshot *snap = NULL;
  lsm_batch *ov = NULL;
  lsm_iter *it = NULL;
  int rc, dir;
  rc = lsm_snapshot_new(db, &snap);
  if (allowed(r, rc, "lsm_snapshot_new") || rc) goto done;
  rc = lsm_batch_new(&ov);
  if (allowed(r, rc, "lsm_batch_new") || rc) goto done;
  rc = overlay_fill(ov);
  if (allowed(r, rc, "lsm_batch_put (overlay)") || rc) goto done;
  rc = lsm_iter_new(db, snap, ov, &it);
  if (allowed(r, rc, "lsm_iter_new") || rc) goto done;
  for (dir = 0; dir < 2 && !r->violation; dir++) {
    char prev[32] = "";
    size_t prev_len = 0;
    int n_overlay = 0, steps = 0;
    rc = dir == 0 ? lsm_iter_first(it) : lsm_iter_last(it);
    while (rc == LSM_OK && lsm_iter_valid(it)) {
      size_t kl, vl;
      const char *k = lsm_iter_key(it, &kl);
      const char *v = lsm_iter_value(it, &vl);
      int c;
      if (kl >= sizeof prev || v == NULL) {
        violation(r, "%s: iterator key of unexpected length", dir ? "backward" : "forward", 0);
        goto done;
      }
      if (steps > 0) {
        c = memcmp(prev, k, kl < prev_len ? kl : prev_len);
        if (c == 0) c = prev_len < kl ? -1 : prev_len > kl ? 1 : 0;
        if (dir == 0 ? c >= 0 : c <= 0) {
          violation(r, "%s iteration is out of order", dir ? "backward" : "forward", 0);
          goto done;
        }
      }
      if (kl == 6 && k[5] == 'o') n_overlay++;
      if (kl == 6 && k[5] == '1' && (atoi(k + 1) % 4) == 0 && atoi(k + 1) < 24) {
        violation(r, "iteration shows a key the overlay deleted (%s)", dir ? "backward" : "forward", 0);
        goto done;
      }
      memcpy(prev, k, kl);
      prev_len = kl;
      steps++;
      rc = dir == 0 ? lsm_iter_next(it) : lsm_iter_prev(it);
    }
    if (rc == LSM_OK) rc = lsm_iter_status(it);
    if (allowed(r, rc, "lsm_iter_first/next/last/prev")) goto done;
    if (rc == LSM_OK && n_overlay != 6) {
      violation(r, "%s iteration missed overlay puts", dir ? "backward" : "forward", n_overlay);
      goto done;
    }
  }
  /* A point read through the snapshot, too. */
  read_back(r, db, snap, 24);
done:
  lsm_iter_free(it);
  lsm_batch_free(ov);
  if (snap) lsm_snapshot_free(db, snap);
}

/* Open r->dir; NULL if that failed (the failure is checked and recorded). */
static lsm_db *script_open(oom_run *r) {
  lsm_options o;
  lsm_db *db = NULL;
  int rc;
  small_options(&o, r->background);
  rc = lsm_open(r->dir, &o, &db);
  if (rc != LSM_OK) {
    allowed(r, rc, "lsm_open");
    if (db) lsm_close(db);
    return NULL;
  }
  return db;
}

/* The scripted workload.  Stops early when an open fails (there is no
** database to go on with); the verification after it copes with that.
** flushes/compactions, if not NULL, receive the engine's counts before the
** first close (the unarmed run checks that the script reaches them). */
static void oom_script(oom_run *r, uint64_t *flushes, uint64_t *compactions) {
  lsm_db *db = script_open(r);
  int rc;
  if (db == NULL) return;
  commit_batches(r, db, 0, 24);
  read_back(r, db, NULL, 24);
  iterate(r, db);
  rc = lsm_flush(db);
  allowed(r, rc, "lsm_flush");
  commit_batches(r, db, 24, 40);
  rc = lsm_compact(db);
  allowed(r, rc, "lsm_compact");
  rc = lsm_check(db);
  allowed(r, rc, "lsm_check");
  commit_batches(r, db, 40, 46);              /* left in the log */
  if (flushes) {
    lsm_stats st;
    if (lsm_get_stats(db, &st) == LSM_OK) {
      *flushes = st.flushes;
      *compactions = st.compactions;
    }
  }
  rc = lsm_close(db);
  allowed(r, rc, "lsm_close");
  db = script_open(r);                       /* recovery from the log */
  if (db == NULL) return;
  read_back(r, db, NULL, 46);
  commit_batches(r, db, 46, N_BATCHES);
  read_back(r, db, NULL, N_BATCHES);
  rc = lsm_close(db);
  allowed(r, rc, "lsm_close");
}

/* ---------------------------------------------------------------- verify */

/* Reopen r->dir without injected failures and check it against the
** outcome of the run.  0, or -1 with msg. */
static int oom_verify(const oom_run *r, char *msg, size_t msg_size) {
  unsigned char applied[N_BATCHES];
  lsm_options o;
  lsm_db *db = NULL;
  lsm_iter *it = NULL;
  lsm_buffer v = {0};
  int rc, b, j, n_expected = 0, n_seen = 0, result = -1;
  small_options(&o, r->background);
  o.create_if_missing = 1;   /* the script may have failed before creating it */
  rc = lsm_open(r->dir, &o, &db);
  if (rc != LSM_OK) {
    snprintf(msg, msg_size, "reopen after the run failed: %d %s", rc, db ? lsm_errmsg(db) : "");
    goto done;
  }
  /* Which batches are there: key 0 is never deleted. */
  for (b = 0; b < N_BATCHES; b++) {
    char key[16];
    size_t kl = batch_key(b, 0, key);
    rc = lsm_get(db, NULL, key, kl, NULL);
    if (rc != LSM_OK && rc != LSM_NOTFOUND) {
      snprintf(msg, msg_size, "lsm_get %s after reopen: %d %s", key, rc, lsm_errmsg(db));
      goto done;
    }
    applied[b] = rc == LSM_OK;
    if (r->status[b] == ACKED && !applied[b]) {
      snprintf(msg, msg_size, "batch %d was acknowledged but is missing after reopen", b);
      goto done;
    }
    if (r->status[b] == NOT_RUN && applied[b]) {
      snprintf(msg, msg_size, "batch %d was never submitted but is there after reopen", b);
      goto done;
    }
  }
  /* Every key of every batch matches the model: no batch is there in part. */
  for (b = 0; b < N_BATCHES; b++) {
    for (j = 0; j < KEYS_PER_BATCH; j++) {
      char key[16], val[300];
      size_t kl = batch_key(b, j, key), vl = batch_value(b, j, val);
      int want = key_expected(applied, b, j);
      rc = lsm_get(db, NULL, key, kl, &v);
      if (rc != LSM_OK && rc != LSM_NOTFOUND) {
        snprintf(msg, msg_size, "lsm_get %s after reopen: %d %s", key, rc, lsm_errmsg(db));
        goto done;
      }
      if (want != (rc == LSM_OK)) {
        snprintf(msg, msg_size, "key %s is %s after reopen (batch %d %s, status %d): a batch in part",
                 key, want ? "missing" : "present", b, applied[b] ? "applied" : "absent",
                 r->status[b]);
        goto done;
      }
      if (want && (v.len != vl || memcmp(v.data, val, vl) != 0)) {
        snprintf(msg, msg_size, "key %s has a wrong value after reopen", key);
        goto done;
      }
      n_expected += want;
    }
  }
  /* Nothing else is there (the overlay never was written). */
  rc = lsm_iter_new(db, NULL, NULL, &it);
  if (rc == LSM_OK) {
    for (rc = lsm_iter_first(it); rc == LSM_OK && lsm_iter_valid(it); rc = lsm_iter_next(it)) {
      n_seen++;
    }
    if (rc == LSM_OK) rc = lsm_iter_status(it);
  }
  if (rc != LSM_OK) {
    snprintf(msg, msg_size, "scan after reopen: %d %s", rc, lsm_errmsg(db));
    goto done;
  }
  if (n_seen != n_expected) {
    snprintf(msg, msg_size, "scan after reopen sees %d keys, the model %d", n_seen, n_expected);
    goto done;
  }
  rc = lsm_check(db);
  if (rc != LSM_OK) {
    snprintf(msg, msg_size, "lsm_check after reopen: %d %s", rc, lsm_errmsg(db));
    goto done;
  }
  result = 0;
done:
  lsm_iter_free(it);
  lsm_buffer_free(&v);
  if (db) lsm_close(db);
  return result;
}

/* ---------------------------------------------------------------- cases */

typedef struct oom_case {
  unsigned long fail_at;   /* 0: the counting run */
  int background;          /* engine flushes and compacts on its thread */
  char dir[64];
} oom_case;

/* One case (in a forked child, or in-process for LSM_OOM_ONLY): run the
** script failing allocation c->fail_at, verify.  Returns the number of
** allocations the script made when c->fail_at is 0; otherwise 1 if the
** failure was injected, 0 if the script made fewer allocations; -1 with
** msg on a violation. */
static int oom_case_run(void *arg, char *msg, size_t msg_size) {
  oom_case *c = arg;
  oom_run *r = calloc(1, sizeof *r);
  uint64_t flushes = 0, compactions = 0;
  unsigned long calls, injected;
  int result = -1;
  if (r == NULL) {
    snprintf(msg, msg_size, "out of memory in the test");
    return -1;
  }
  snprintf(r->dir, sizeof r->dir, "%s", c->dir);
  r->background = c->background;
  lsm_test_remove_tree(r->dir);
  oom_arm(c->fail_at);
  oom_script(r, c->fail_at ? NULL : &flushes, c->fail_at ? NULL : &compactions);
  oom_disarm();
  calls = atomic_load(&oom_calls);
  injected = atomic_load(&oom_injected);
  if (r->violation) {
    snprintf(msg, msg_size, "during the run: %s", r->msg);
    goto done;
  }
  if (oom_verify(r, msg, msg_size) != 0) goto done;
  if (c->fail_at == 0) {
    if (flushes < 3 || compactions < 1) {
      snprintf(msg, msg_size, "the script made %llu flushes and %llu compactions: too few",
               (unsigned long long)flushes, (unsigned long long)compactions);
      goto done;
    }
    snprintf(msg, msg_size, "%lu allocations, %llu flushes, %llu compactions", calls,
             (unsigned long long)flushes, (unsigned long long)compactions);
    result = calls > (unsigned long)0x7fffffff ? 0x7fffffff : (int)calls;
  } else {
    /* Background mode: allocations interleave differently in every run, so
    ** a run may make fewer than fail_at (2: verified all the same). */
    result = injected > 0 ? 1 : c->background ? 2 : 0;
    snprintf(msg, msg_size, "allocation %lu of %lu failed", c->fail_at, calls);
  }
done:
  lsm_test_remove_tree(r->dir);
  free(r);
  return result;
}

/* The loop over allocation points of one mode.  Returns the failures. */
static long oom_loop(const char *label, int background, double budget) {
  oom_case c;
  char msg[1024];
  size_t *order = NULL, i, total;
  long failures = 0, visited = 0, not_reached = 0;
  double start = lsm_test_now();
  int torture = lsm_test_torture(), a;
  memset(&c, 0, sizeof c);
  c.background = background;
  snprintf(c.dir, sizeof c.dir, "oom-count-%d", background);
  a = lsm_test_forked(oom_case_run, &c, 60, msg, sizeof msg);
  ck_assert_msg(a > 0, "the unarmed run failed: %s", msg);
  printf("%s: unarmed run: %s\n", label, msg);
  total = (size_t)a;
  ck_assert_int_eq(lsm_test_spread_order(total, &order), 0);
  for (i = 0; i < total; i++) {
    int rc;
    if (!torture && lsm_test_now() - start > budget) break;
    c.fail_at = order[i] + 1;
    snprintf(c.dir, sizeof c.dir, "oom-%d-%lu", background, c.fail_at);
    rc = lsm_test_forked(oom_case_run, &c, 60, msg, sizeof msg);
    visited++;
    if (rc < 0) {
      failures++;
      printf("%s: FAIL at allocation %lu: %s\n", label, c.fail_at, msg);
      printf("%s:   replay: LSM_OOM_ONLY=%lu%s\n", label, c.fail_at,
             background ? " LSM_OOM_BACKGROUND=1 (not an exact replay)" : "");
      fflush(stdout);
      lsm_test_remove_tree(c.dir);
    } else if (rc == 0) {
      failures++;
      printf("%s: FAIL at allocation %lu: never reached (the script is not deterministic?)\n",
             label, c.fail_at);
    } else if (rc == 2) {
      not_reached++;
    }
  }
  free(order);
  printf("coverage: %s: %ld of %zu allocation points%s", label, visited, total,
         (size_t)visited < total ? " (time budget; LSM_TORTURE=1 for all)" : "");
  if (background) printf(" (%ld runs made fewer allocations)", not_reached);
  printf(", %ld failures, %.1f s\n", failures, lsm_test_now() - start);
  fflush(stdout);
  return failures;
}

START_TEST(oom_every_allocation_failure_returns_nomem_and_loses_nothing) {
  long failures = oom_loop("oom", 0, lsm_test_budget(15));
  ck_assert_msg(failures == 0, "%ld allocation points failed (see above)", failures);
}
END_TEST

/* The same with flushes and compactions on the engine's thread: a failed
** allocation there latches LSM_NOMEM as the sticky error (later writes
** return it), frees what the step took, and loses no acknowledged commit. */
START_TEST(oom_in_background_mode_returns_nomem_and_loses_nothing) {
  long failures = oom_loop("oom(background)", 1, lsm_test_budget(3));
  ck_assert_msg(failures == 0, "%ld allocation points failed (see above)", failures);
}
END_TEST

static Suite *oom_suite(void) {
  Suite *s = suite_create("oom");
  TCase *tc = tcase_create("oom");
  tcase_set_timeout(tc, lsm_test_torture() ? 36000 : 120);
  tcase_add_test(tc, oom_every_allocation_failure_returns_nomem_and_loses_nothing);
  tcase_add_test(tc, oom_in_background_mode_returns_nomem_and_loses_nothing);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr;
  int failed;
  const char *only = getenv("LSM_OOM_ONLY");
  /* Every child leaves through exit(), so LeakSanitizer checks each case. */
  setenv("LSM_TEST_LEAK_EVERY", "1", 0);
  if (only) {
    oom_case c;
    char msg[1024];
    int rc;
    memset(&c, 0, sizeof c);
    c.fail_at = strtoul(only, NULL, 10);
    c.background = getenv("LSM_OOM_BACKGROUND") != NULL && atoi(getenv("LSM_OOM_BACKGROUND")) != 0;
    snprintf(c.dir, sizeof c.dir, "oom-only-%lu", c.fail_at);
    rc = oom_case_run(&c, msg, sizeof msg);
    printf("%s: %s\n", rc < 0 ? "FAIL" : "ok", msg);
    return rc < 0;
  }
  sr = srunner_create(oom_suite());
  lsm_test_enter_fast_dir();
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  lsm_test_leave_fast_dir();
  return failed == 0 ? 0 : 1;
}
