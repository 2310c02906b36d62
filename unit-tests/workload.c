/*
** workload.c — the scripted workload and its model (see workload.h).
**
** The model is the function "set of applied batches -> expected contents":
** batches are applied in order, each op of a batch in order (so the last
** op on a key wins, as in lsm_write).  A data key's expected value is named
** by the (batch, put index) that wrote it last, and regenerated from those
** two numbers when compared.
**
** During a run a second, partial model tracks what a reader may see right
** now: keys written by acknowledged batches are certain; a key written by a
** failed batch is uncertain until an acknowledged batch writes it again.
*/
#include "workload.h"
#include "coding.h"   /* lsm_get_u32, lsm_get_length_prefixed: lsm_test_manifest_tables */

#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_OPS 8
#define OP_PUT 1
#define OP_DEL 0

typedef struct op {
  int kind;
  int key;                   /* data key index, or -1 for the marker */
  int j;                     /* put index within the batch (value) */
} op;

static uint32_t mix(uint32_t a, uint32_t b) {
  uint32_t h = a * 0x9E3779B1u ^ (b + 0x7F4A7C15u) * 0x85EBCA77u;
  h ^= h >> 15;
  h *= 0x2C1B3C6Du;
  h ^= h >> 12;
  h *= 0x297A2D39u;
  h ^= h >> 15;
  return h;
}

/* The operations of batch b, in submission order. */
static int batch_ops(int b, op *ops) {
  int n = 0, j, puts = 1 + (int)(mix((uint32_t)b, 0) % 6);
  for (j = 0; j < puts; j++) {
    ops[n].kind = OP_PUT;
    ops[n].key = (int)(mix((uint32_t)b, (uint32_t)j + 1) % LSM_WL_KEYSPACE);
    ops[n].j = j;
    n++;
  }
  if (b % 3 == 2) {
    ops[n].kind = OP_DEL;
    ops[n].key = (int)(mix((uint32_t)b, 100) % LSM_WL_KEYSPACE);
    ops[n].j = 0;
    n++;
  }
  ops[n].kind = OP_PUT;
  ops[n].key = -1;
  ops[n].j = 0;
  n++;
  return n;
}

size_t lsm_workload_data_key(int i, char *out) {
  return (size_t)sprintf(out, "k%03d", i);
}

size_t lsm_workload_marker_key(int b, char *out) {
  return (size_t)sprintf(out, "m%05d", b);
}

size_t lsm_workload_marker_value(int b, char *out) {
  return (size_t)sprintf(out, "batch%05d", b);
}

size_t lsm_workload_value(int b, int j, char *out) {
  size_t len = 10 + mix((uint32_t)b, 200 + (uint32_t)j) % 121, n, i;
  if (b % 13 == 7 && j == 0) len = 700;   /* bigger than a block */
  n = (size_t)sprintf(out, "b%05d.%d:", b, j);
  for (i = n; i < len; i++) out[i] = (char)('a' + (b * 31 + j * 7 + (int)i) % 26);
  return len;
}

void lsm_workload_expected(int n_batches, const unsigned char *applied,
                           int writer[LSM_WL_KEYSPACE]) {
  op ops[MAX_OPS];
  int b, i;
  for (i = 0; i < LSM_WL_KEYSPACE; i++) writer[i] = -1;
  for (b = 0; b < n_batches; b++) {
    int n;
    if (!applied[b]) continue;
    n = batch_ops(b, ops);
    for (i = 0; i < n; i++) {
      if (ops[i].key >= 0) writer[ops[i].key] = ops[i].kind == OP_PUT ? b * MAX_OPS + ops[i].j : -1;
    }
  }
}

size_t lsm_workload_writer_value(int writer, char *out) {
  return lsm_workload_value(writer / MAX_OPS, writer % MAX_OPS, out);
}

void lsm_workload_init(lsm_workload *w, const char *dir, int sync_mode, int n_batches,
                       lsm_env *env) {
  memset(w, 0, sizeof *w);
  snprintf(w->dir, sizeof w->dir, "%s", dir);
  if (n_batches < 8) n_batches = 8;
  if (n_batches > LSM_WL_MAX_BATCHES) n_batches = LSM_WL_MAX_BATCHES;
  w->n_batches = n_batches;
  w->sync_mode = sync_mode;
  w->env = env;
}

void lsm_workload_options(const lsm_workload *w, lsm_options *o) {
  lsm_options_init(o);
  o->memtable_size = 6000;   /* the first 4 KiB arena block: ~12 batches */
  o->block_size = 256;
  o->bloom_bits = 10;
  o->l0_compaction_trigger = 2;
  o->l1_target_bytes = 4096;
  o->level_multiplier = 2;
  o->target_file_size = 2048;
  o->cache_size = 16 * 1024;
  o->sync_mode = w->sync_mode;
  o->background = w->background;
  o->env = w->env;
}

/* ---------------------------------------------------------------- run */

typedef struct run_model {
  int writer[LSM_WL_KEYSPACE];        /* b * MAX_OPS + j, or -1: absent */
  unsigned char certain[LSM_WL_KEYSPACE];
} run_model;

static void note_error(lsm_workload *w, int rc, const char *what, int b) {
  if (w->errors++ == 0) {
    w->first_error = rc;
    snprintf(w->first_error_op, sizeof w->first_error_op, "%s (batch %d)", what, b);
  }
}

static int violation(lsm_workload *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int violation(lsm_workload *w, const char *fmt, ...) {
  if (!w->violation) {
    char tmp[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    snprintf(w->msg, sizeof w->msg, "during the run: %s", tmp);
  }
  w->violation = 1;
  return -1;
}

static int write_batch(lsm_workload *w, lsm_db *db, lsm_batch *bt, int b, run_model *m) {
  op ops[MAX_OPS];
  char key[16], val[LSM_WL_VALUE_MAX];
  int n = batch_ops(b, ops), i, rc = LSM_OK;
  lsm_batch_clear(bt);
  for (i = 0; i < n && rc == LSM_OK; i++) {
    size_t kl, vl;
    if (ops[i].key < 0) {
      kl = lsm_workload_marker_key(b, key);
      vl = lsm_workload_marker_value(b, val);
    } else {
      kl = lsm_workload_data_key(ops[i].key, key);
      vl = lsm_workload_value(b, ops[i].j, val);
    }
    rc = ops[i].kind == OP_PUT ? lsm_batch_put(bt, key, kl, val, vl)
                               : lsm_batch_delete(bt, key, kl);
  }
  if (rc == LSM_OK) rc = lsm_write(db, bt, 0);
  w->status[b] = rc == LSM_OK ? LSM_WL_ACKED : LSM_WL_FAILED;
  if (rc) note_error(w, rc, "lsm_write", b);
  for (i = 0; i < n; i++) {
    int k = ops[i].key;
    if (k < 0) continue;
    if (rc == LSM_OK) {
      m->writer[k] = ops[i].kind == OP_PUT ? b * MAX_OPS + ops[i].j : -1;
      m->certain[k] = 1;
    } else {
      m->certain[k] = 0;
    }
  }
  return rc;
}

/* Does (v, vl) equal the value named by writer? */
static int value_matches(int writer, const void *v, size_t vl) {
  char want[LSM_WL_VALUE_MAX];
  size_t n = lsm_workload_value(writer / MAX_OPS, writer % MAX_OPS, want);
  return vl == n && memcmp(v, want, n) == 0;
}

/* Point reads of a few data keys and the newest marker. */
static void point_reads(lsm_workload *w, lsm_db *db, int b, const run_model *m) {
  lsm_buffer val = {0};
  char key[16];
  int r;
  for (r = 0; r < 6; r++) {
    int k = (int)(mix((uint32_t)b, 300 + (uint32_t)r) % LSM_WL_KEYSPACE);
    size_t kl = lsm_workload_data_key(k, key);
    int rc = lsm_get(db, NULL, key, kl, &val);
    if (rc != LSM_OK && rc != LSM_NOTFOUND) {
      note_error(w, rc, "lsm_get", b);
      continue;
    }
    if (!m->certain[k]) continue;
    if ((rc == LSM_OK) != (m->writer[k] >= 0)) {
      violation(w, "lsm_get(%s) after batch %d: found=%d, model disagrees", key, b, rc == LSM_OK);
    } else if (rc == LSM_OK && !value_matches(m->writer[k], val.data, val.len)) {
      violation(w, "lsm_get(%s) after batch %d returned a wrong value", key, b);
    }
  }
  {
    size_t kl = lsm_workload_marker_key(b, key);
    int rc = lsm_get(db, NULL, key, kl, NULL);
    if (rc != LSM_OK && rc != LSM_NOTFOUND) note_error(w, rc, "lsm_get", b);
    else if (w->status[b] == LSM_WL_ACKED && rc != LSM_OK) {
      violation(w, "acknowledged marker %s of batch %d not readable", key, b);
    }
  }
  lsm_buffer_free(&val);
}

/* A full forward scan compared with the certain part of the model. */
static void scan_check(lsm_workload *w, lsm_db *db, int b, const run_model *m) {
  lsm_iter *it = NULL;
  unsigned char seen_key[LSM_WL_KEYSPACE];
  unsigned char *seen_marker = calloc((size_t)w->n_batches, 1);
  int rc, i;
  memset(seen_key, 0, sizeof seen_key);
  if (seen_marker == NULL) return;
  rc = lsm_iter_new(db, NULL, NULL, &it);
  if (rc) {
    note_error(w, rc, "lsm_iter_new", b);
    free(seen_marker);
    return;
  }
  for (lsm_iter_first(it); lsm_iter_valid(it); lsm_iter_next(it)) {
    size_t kl, vl;
    const char *k = lsm_iter_key(it, &kl);
    const char *v = lsm_iter_value(it, &vl);
    char name[16];
    int idx;
    if (kl == 4 && k[0] == 'k' && sscanf(k + 1, "%3d", &idx) == 1 && idx >= 0 &&
        idx < LSM_WL_KEYSPACE) {
      seen_key[idx] = 1;
      snprintf(name, sizeof name, "%.*s", (int)kl, k);
      if (m->certain[idx] && (m->writer[idx] < 0 || !value_matches(m->writer[idx], v, vl))) {
        violation(w, "scan after batch %d: %s has a value the model does not", b, name);
      }
    } else if (kl == 6 && k[0] == 'm' && sscanf(k + 1, "%5d", &idx) == 1 && idx >= 0 &&
               idx < w->n_batches) {
      seen_marker[idx] = 1;
      snprintf(name, sizeof name, "%.*s", (int)kl, k);
      if (w->status[idx] == LSM_WL_NOT_RUN) {
        violation(w, "scan after batch %d: marker %s of a batch never run", b, name);
      }
    } else {
      snprintf(name, sizeof name, "%.*s", (int)(kl < 12 ? kl : 12), k);
      violation(w, "scan after batch %d: unexpected key '%s'", b, name);
    }
  }
  rc = lsm_iter_status(it);
  lsm_iter_free(it);
  if (rc) {
    note_error(w, rc, "scan", b);
  } else {
    for (i = 0; i < LSM_WL_KEYSPACE; i++) {
      if (m->certain[i] && m->writer[i] >= 0 && !seen_key[i]) {
        char name[16];
        lsm_workload_data_key(i, name);
        violation(w, "scan after batch %d: %s missing", b, name);
      }
    }
    for (i = 0; i <= b && i < w->n_batches; i++) {
      if (w->status[i] == LSM_WL_ACKED && !seen_marker[i]) {
        char name[16];
        lsm_workload_marker_key(i, name);
        violation(w, "scan after batch %d: acknowledged marker %s missing", b, name);
      }
    }
  }
  free(seen_marker);
}

int lsm_workload_run(lsm_workload *w, lsm_db **keep_open) {
  lsm_options o;
  lsm_db *db = NULL;
  lsm_batch *bt = NULL;
  run_model m;
  int b, n = w->n_batches, rc, i;
  for (i = 0; i < LSM_WL_KEYSPACE; i++) {
    m.writer[i] = -1;
    m.certain[i] = 1;
  }
  if (keep_open) *keep_open = NULL;
  lsm_workload_options(w, &o);
  if (lsm_batch_new(&bt) != LSM_OK) return violation(w, "out of memory");
  rc = lsm_open(w->dir, &o, &db);
  if (rc) {
    note_error(w, rc, "lsm_open", -1);
    lsm_close(db);
    db = NULL;
  }
  for (b = 0; b < n && db; b++) {
    write_batch(w, db, bt, b, &m);
    if (b % 8 == 7) point_reads(w, db, b, &m);
    if (b == n / 4 || b == (5 * n) / 6) {
      rc = lsm_flush(db);
      if (rc) note_error(w, rc, "lsm_flush", b);
      else if (w->sync_mode != LSM_SYNC_OFF) w->durable_upto = b + 1;
    }
    if (b == n / 3 || b == n - 1) scan_check(w, db, b, &m);
    if (b == n / 2) {
      rc = lsm_compact(db);
      if (rc) note_error(w, rc, "lsm_compact", b);
      else if (w->sync_mode != LSM_SYNC_OFF) w->durable_upto = b + 1;
    }
    if (b == (2 * n) / 3) {
      rc = lsm_close(db);
      if (rc) note_error(w, rc, "lsm_close", b);
      db = NULL;
      rc = lsm_open(w->dir, &o, &db);
      if (rc) {
        note_error(w, rc, "lsm_open (reopen)", b);
        lsm_close(db);
        db = NULL;
      } else if (w->sync_mode != LSM_SYNC_OFF) {
        w->durable_upto = b + 1;
      }
    }
  }
  lsm_batch_free(bt);
  if (keep_open) {
    *keep_open = db;
  } else if (db) {
    rc = lsm_close(db);
    if (rc) note_error(w, rc, "lsm_close", n);
  }
  return w->violation ? -1 : 0;
}

/* ---------------------------------------------------------------- verify */

static int fail(char *msg, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *msg, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, n, fmt, ap);
  va_end(ap);
  return -1;
}

/* Compare one scan direction with the expected keys. */
static int check_scan(lsm_db *db, int backward, const int *writer, const unsigned char *applied,
                      int n_batches, char *msg, size_t msg_size) {
  lsm_iter *it = NULL;
  /* Expected order: data keys k000.. then markers m00000.. ("k" < "m"). */
  int total = LSM_WL_KEYSPACE + n_batches, pos, rc, count = 0;
  rc = lsm_iter_new(db, NULL, NULL, &it);
  if (rc) return fail(msg, msg_size, "lsm_iter_new: status %d: %s", rc, lsm_errmsg(db));
  pos = backward ? total - 1 : 0;
  if (backward) lsm_iter_last(it);
  else lsm_iter_first(it);
  for (;;) {
    char key[16], val[LSM_WL_VALUE_MAX];
    size_t kl = 0, vl = 0, gl, gvl;
    const char *gk, *gv;
    /* Next expected entry. */
    while (pos >= 0 && pos < total) {
      if (pos < LSM_WL_KEYSPACE ? writer[pos] >= 0 : applied[pos - LSM_WL_KEYSPACE]) break;
      pos += backward ? -1 : 1;
    }
    if (pos >= 0 && pos < total) {
      if (pos < LSM_WL_KEYSPACE) {
        kl = lsm_workload_data_key(pos, key);
        vl = lsm_workload_value(writer[pos] / MAX_OPS, writer[pos] % MAX_OPS, val);
      } else {
        kl = lsm_workload_marker_key(pos - LSM_WL_KEYSPACE, key);
        vl = lsm_workload_marker_value(pos - LSM_WL_KEYSPACE, val);
      }
    }
    if (!lsm_iter_valid(it)) {
      rc = lsm_iter_status(it);
      lsm_iter_free(it);
      if (rc) {
        return fail(msg, msg_size, "%s scan failed with status %d after %d entries: %s",
                    backward ? "backward" : "forward", rc, count, lsm_errmsg(db));
      }
      if (pos >= 0 && pos < total) {
        key[kl] = 0;
        return fail(msg, msg_size, "%s scan ended early: %s missing",
                    backward ? "backward" : "forward", key);
      }
      return 0;
    }
    gk = lsm_iter_key(it, &gl);
    gv = lsm_iter_value(it, &gvl);
    if (pos < 0 || pos >= total || gl != kl || memcmp(gk, key, kl) != 0) {
      char got[16];
      snprintf(got, sizeof got, "%.*s", (int)(gl < 12 ? gl : 12), gk);
      lsm_iter_free(it);
      key[pos >= 0 && pos < total ? kl : 0] = 0;
      return fail(msg, msg_size, "%s scan: got key '%s' (entry %d), expected '%s'",
                  backward ? "backward" : "forward", got, count, key);
    }
    if (gvl != vl || memcmp(gv, val, vl) != 0) {
      key[kl] = 0;
      lsm_iter_free(it);
      return fail(msg, msg_size, "%s scan: wrong value for %s (%zu bytes)",
                  backward ? "backward" : "forward", key, gvl);
    }
    count++;
    pos += backward ? -1 : 1;
    if (backward) lsm_iter_prev(it);
    else lsm_iter_next(it);
  }
}

int lsm_workload_verify(const lsm_workload *w, lsm_db *db, int flags, char *msg,
                        size_t msg_size) {
  int writer[LSM_WL_KEYSPACE];
  unsigned char *applied = calloc((size_t)w->n_batches, 1);
  lsm_buffer val = {0};
  char key[16], want[LSM_WL_VALUE_MAX];
  int b, i, rc = 0, last_applied = -1;
  msg[0] = 0;
  if (applied == NULL) return fail(msg, msg_size, "out of memory");
  /* Which batches are there, by their markers. */
  for (b = 0; b < w->n_batches && rc == 0; b++) {
    size_t kl = lsm_workload_marker_key(b, key);
    int r = lsm_get(db, NULL, key, kl, &val);
    if (r == LSM_OK) {
      size_t wl = lsm_workload_marker_value(b, want);
      applied[b] = 1;
      last_applied = b;
      if (val.len != wl || memcmp(val.data, want, wl) != 0) {
        rc = fail(msg, msg_size, "marker %s of batch %d has a wrong value", key, b);
      }
    } else if (r != LSM_NOTFOUND) {
      rc = fail(msg, msg_size, "lsm_get(%s) failed with status %d: %s", key, r, lsm_errmsg(db));
    }
  }
  for (b = 0; b < w->n_batches && rc == 0; b++) {
    if (applied[b] && w->status[b] == LSM_WL_NOT_RUN) {
      rc = fail(msg, msg_size, "batch %d was never submitted but its marker is there", b);
    } else if (!applied[b] && w->status[b] == LSM_WL_ACKED && (flags & LSM_WL_ACKED_PRESENT)) {
      rc = fail(msg, msg_size, "LOST COMMIT: acknowledged batch %d is missing", b);
    } else if (!applied[b] && w->status[b] == LSM_WL_ACKED && (flags & LSM_WL_DURABLE_UPTO) &&
               b < w->durable_upto) {
      rc = fail(msg, msg_size,
                "LOST COMMIT: batch %d is missing although a flush, compaction or "
                "recovery made it durable", b);
    } else if (!applied[b] && (flags & LSM_WL_PREFIX) && b < last_applied) {
      rc = fail(msg, msg_size, "not a prefix: batch %d is missing but batch %d is there", b,
                last_applied);
    }
  }
  /* Expected contents. */
  lsm_workload_expected(w->n_batches, applied, writer);
  for (i = 0; i < LSM_WL_KEYSPACE && rc == 0; i++) {
    size_t kl = lsm_workload_data_key(i, key);
    int r = lsm_get(db, NULL, key, kl, &val);
    if (r != LSM_OK && r != LSM_NOTFOUND) {
      rc = fail(msg, msg_size, "lsm_get(%s) failed with status %d: %s", key, r, lsm_errmsg(db));
    } else if ((r == LSM_OK) != (writer[i] >= 0)) {
      rc = fail(msg, msg_size, "lsm_get(%s): %s, but the model says %s", key,
                r == LSM_OK ? "present" : "absent", r == LSM_OK ? "absent" : "present");
    } else if (r == LSM_OK && !value_matches(writer[i], val.data, val.len)) {
      rc = fail(msg, msg_size, "lsm_get(%s): wrong value (%zu bytes)", key, val.len);
    }
  }
  if (rc == 0) rc = check_scan(db, 0, writer, applied, w->n_batches, msg, msg_size);
  if (rc == 0) rc = check_scan(db, 1, writer, applied, w->n_batches, msg, msg_size);
  if (rc == 0) {
    int r = lsm_check(db);
    if (r) rc = fail(msg, msg_size, "lsm_check failed with status %d: %s", r, lsm_errmsg(db));
  }
  lsm_buffer_free(&val);
  free(applied);
  return rc;
}

int lsm_workload_reopen_verify(const lsm_workload *w, lsm_env *env, int flags, char *msg,
                               size_t msg_size) {
  lsm_options o;
  lsm_db *db = NULL;
  lsm_batch *bt = NULL;
  int rc;
  lsm_workload_options(w, &o);
  o.env = env;
  rc = lsm_open(w->dir, &o, &db);
  if (rc) {
    fail(msg, msg_size, "reopen failed with status %d: %s", rc, lsm_errmsg(db));
    lsm_close(db);
    return -1;
  }
  if (lsm_workload_verify(w, db, flags, msg, msg_size)) {
    lsm_close(db);
    return -1;
  }
  /* Usable: one more commit survives a close and reopen. */
  rc = lsm_batch_new(&bt);
  if (rc == LSM_OK) rc = lsm_batch_put(bt, "zextra", 6, "after", 5);
  if (rc == LSM_OK) rc = lsm_write(db, bt, 1);
  lsm_batch_free(bt);
  if (rc) {
    fail(msg, msg_size, "commit after recovery failed with status %d: %s", rc, lsm_errmsg(db));
    lsm_close(db);
    return -1;
  }
  rc = lsm_close(db);
  db = NULL;
  if (rc == LSM_OK) rc = lsm_open(w->dir, &o, &db);
  if (rc == LSM_OK) rc = lsm_get(db, NULL, "zextra", 6, NULL);
  if (rc) {
    fail(msg, msg_size, "commit after recovery did not survive a reopen (status %d): %s", rc,
         db ? lsm_errmsg(db) : "");
    lsm_close(db);
    return -1;
  }
  rc = lsm_close(db);
  if (rc) return fail(msg, msg_size, "close failed with status %d", rc);
  return 0;
}

/* ---------------------------------------------------------------- harness */

typedef struct child_report {
  int rc;
  char msg[1024];
} child_report;

/* Cases run so far: every leak_every-th child exits through exit(), where
** LeakSanitizer (in sanitizer builds) checks the error paths for leaks; the
** others leave with _exit(), because a leak check costs a sanitized child
** several times what its case does. */
static unsigned long forked_cases;

static int leak_every(void) {
  const char *e = getenv("LSM_TEST_LEAK_EVERY");
  if (e && atoi(e) > 0) return atoi(e);
  return lsm_test_torture() ? 1 : 8;
}

int lsm_test_forked(int (*fn)(void *arg, char *msg, size_t msg_size), void *arg,
                    unsigned timeout_s, char *msg, size_t msg_size) {
  child_report rep;
  int fds[2], status = 0, check_leaks = forked_cases++ % (unsigned long)leak_every() == 0;
  ssize_t got = 0;
  pid_t pid;
  msg[0] = 0;
  if (pipe(fds) != 0) return fail(msg, msg_size, "pipe failed");
  fflush(stdout);
  fflush(stderr);
  pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    return fail(msg, msg_size, "fork failed");
  }
  if (pid == 0) {
    close(fds[0]);
    alarm(timeout_s);
    memset(&rep, 0, sizeof rep);
    rep.rc = fn(arg, rep.msg, sizeof rep.msg);
    if (write(fds[1], &rep, sizeof rep) != (ssize_t)sizeof rep) _exit(97);
    close(fds[1]);
    if (check_leaks) exit(0);
    _exit(0);
  }
  close(fds[1]);
  while (got < (ssize_t)sizeof rep) {
    ssize_t r = read(fds[0], (char *)&rep + got, sizeof rep - (size_t)got);
    if (r <= 0) break;
    got += r;
  }
  close(fds[0]);
  while (waitpid(pid, &status, 0) < 0) {
  }
  if (WIFSIGNALED(status)) {
    if (WTERMSIG(status) == SIGALRM) return fail(msg, msg_size, "timed out after %u s (a hang?)", timeout_s);
    if (WTERMSIG(status) == SIGABRT) {
      return fail(msg, msg_size, "child aborted (an assertion or a sanitizer report: see stderr)");
    }
    return fail(msg, msg_size, "child killed by signal %d (a crash)", WTERMSIG(status));
  }
  if (got != (ssize_t)sizeof rep) {
    return fail(msg, msg_size, "child exited with status %d before reporting", WEXITSTATUS(status));
  }
  if (WEXITSTATUS(status) != 0) {
    return fail(msg, msg_size, "child exited with status %d (sanitizer report on stderr?) after: %s",
                WEXITSTATUS(status), rep.rc < 0 ? rep.msg : "success");
  }
  snprintf(msg, msg_size, "%s", rep.msg);
  return rep.rc;
}

int lsm_test_spread_order(size_t n, size_t **order) {
  size_t bits = 0, j, k = 0;
  *order = malloc((n ? n : 1) * sizeof **order);
  if (*order == NULL) return -1;
  while (((size_t)1 << bits) < n) bits++;
  for (j = 0; j < ((size_t)1 << bits) && k < n; j++) {
    size_t r = 0, b;
    for (b = 0; b < bits; b++) {
      if (j & ((size_t)1 << b)) r |= (size_t)1 << (bits - 1 - b);
    }
    if (r < n) (*order)[k++] = r;
  }
  return 0;
}

static char fast_dir[64];
static char home_dir[4096];

void lsm_test_enter_fast_dir(void) {
  const char *opt = getenv("LSM_TEST_FAST_DIR");
  if (opt && strcmp(opt, "0") == 0) return;
  if (getcwd(home_dir, sizeof home_dir) == NULL) return;
  snprintf(fast_dir, sizeof fast_dir, "/dev/shm/lsm-test-XXXXXX");
  if (mkdtemp(fast_dir) == NULL || chdir(fast_dir) != 0) fast_dir[0] = 0;
}

void lsm_test_leave_fast_dir(void) {
  if (fast_dir[0] == 0) return;
  if (chdir(home_dir) == 0) lsm_test_remove_tree(fast_dir);
  fast_dir[0] = 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

void lsm_test_remove_tree(const char *path) {
  nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

int lsm_test_torture(void) {
  const char *t = getenv("LSM_TORTURE");
  return t != NULL && t[0] != 0 && strcmp(t, "0") != 0;
}

double lsm_test_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double lsm_test_budget(double default_s) {
  const char *b = getenv("LSM_TEST_BUDGET");
  if (b && atof(b) > 0) return atof(b);
  return lsm_test_torture() ? default_s * 30 : default_s;
}

/* Table numbers the MANIFEST of dir names, parsed per FORMAT.md (magic,
** u32 version, u32 n_files, u64 next_file_number, u64 last_seq, u64
** log_number, in version 2 u64 generation, then per file u8 level, u64
** number, u64 size, u64 entries, u64 tombstones and two length-prefixed
** keys).  The count, or -1 if the manifest is unreadable or names more
** than max tables. */
int lsm_test_manifest_tables(const char *dir, uint64_t *numbers, int max) {
  char path[256];
  unsigned char *data = NULL;
  const unsigned char *p, *limit;
  long size;
  uint32_t n_files, i;
  int n = -1;
  FILE *f;
  snprintf(path, sizeof path, "%s/MANIFEST", dir);
  f = fopen(path, "rb");
  if (f == NULL) return -1;
  if (fseek(f, 0, SEEK_END) != 0 || (size = ftell(f)) < 48 || fseek(f, 0, SEEK_SET) != 0) goto done;
  data = malloc((size_t)size);
  if (data == NULL || fread(data, 1, (size_t)size, f) != (size_t)size) goto done;
  if (memcmp(data, "LSMMANI1", 8) != 0) goto done;
  n_files = lsm_get_u32(data + 12);
  if (n_files > (uint32_t)max) goto done;
  p = data + (lsm_get_u32(data + 8) == 1 ? 40 : 48);
  limit = data + size - 8;
  for (i = 0; i < n_files; i++) {
    lsm_slice key;
    if (limit - p < 33) goto done;
    numbers[i] = lsm_get_u64(p + 1);
    p += 33;
    if ((p = lsm_get_length_prefixed(p, limit, &key)) == NULL) goto done;
    if ((p = lsm_get_length_prefixed(p, limit, &key)) == NULL) goto done;
  }
  n = (int)n_files;
done:
  free(data);
  fclose(f);
  return n;
}
