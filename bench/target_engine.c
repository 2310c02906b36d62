/*
** target_engine.c — the "engine" benchmark target: the lsm engine through
** lsm/lsm.h, with no SQL in between.
**
** The store is one lsm_db (safe to share between threads); a session owns a
** write batch, a value buffer reused by every read, and the iterator of a
** running scan.  Memory budget: memtable_bytes for the memtable and
** cache_bytes for the block cache (the same budget the SQL targets get).
** Build with -DBENCH_LSM_NO_CACHE against an engine whose lsm_options has no
** cache_size yet, and -DBENCH_LSM_NO_STALLS against one whose lsm_stats has
** no stall counters (run.sh does both when lsm.h lacks them), to measure an
** older engine with this bench.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "lsm.h"

struct bench_store {
  lsm_db *db;
  int sync_full;
};

struct bench_conn {
  bench_store *st;
  lsm_batch *batch;
  lsm_buffer val;
  lsm_iter *scan;
  int reverse;
  int started;               /* scan positioned already */
  char err[512];
};

static int fail(bench_conn *c, int rc, const char *what) {
  snprintf(c->err, sizeof c->err, "%s: status %d: %s", what, rc, lsm_errmsg(c->st->db));
  return -1;
}

static int e_open(const bench_config *cfg, const char *dir, bench_store **out,
                  char *err, size_t err_len) {
  lsm_options o;
  bench_store *st = calloc(1, sizeof *st);
  int rc;
  if (st == NULL) {
    snprintf(err, err_len, "out of memory");
    return -1;
  }
  lsm_options_init(&o);
  o.memtable_size = cfg->memtable_bytes;
  o.bloom_bits = cfg->bloom_bits;
#ifndef BENCH_LSM_NO_CACHE
  o.cache_size = cfg->cache_bytes;
#endif
  o.sync_mode = cfg->sync_mode == BENCH_SYNC_OFF    ? LSM_SYNC_OFF
                : cfg->sync_mode == BENCH_SYNC_FULL ? LSM_SYNC_FULL
                                                    : LSM_SYNC_NORMAL;
  st->sync_full = cfg->sync_mode == BENCH_SYNC_FULL;
  rc = lsm_open(dir, &o, &st->db);
  if (rc != LSM_OK) {
    snprintf(err, err_len, "lsm_open(%s): status %d: %s", dir, rc, lsm_errmsg(st->db));
    if (st->db) lsm_close(st->db);
    free(st);
    return -1;
  }
  *out = st;
  return 0;
}

static void e_close(bench_store *st) {
  lsm_close(st->db);
  free(st);
}

static int e_conn_open(bench_store *st, bench_conn **out, char *err, size_t err_len) {
  bench_conn *c = calloc(1, sizeof *c);
  if (c == NULL || lsm_batch_new(&c->batch) != LSM_OK) {
    free(c);
    snprintf(err, err_len, "out of memory");
    return -1;
  }
  c->st = st;
  *out = c;
  return 0;
}

static void e_conn_close(bench_conn *c) {
  if (c->scan) lsm_iter_free(c->scan);
  lsm_batch_free(c->batch);
  lsm_buffer_free(&c->val);
  free(c);
}

static int e_begin(bench_conn *c) {
  lsm_batch_clear(c->batch);
  return 0;
}

static int e_put(bench_conn *c, const void *k, size_t kl, const void *v, size_t vl,
                 int replace) {
  int rc = lsm_batch_put(c->batch, k, kl, v, vl);
  (void)replace;
  return rc == LSM_OK ? 0 : fail(c, rc, "lsm_batch_put");
}

static int e_del(bench_conn *c, const void *k, size_t kl) {
  int rc = lsm_batch_delete(c->batch, k, kl);
  return rc == LSM_OK ? 0 : fail(c, rc, "lsm_batch_delete");
}

static int e_commit(bench_conn *c) {
  int rc = lsm_write(c->st->db, c->batch, c->st->sync_full);
  lsm_batch_clear(c->batch);
  return rc == LSM_OK ? 0 : fail(c, rc, "lsm_write");
}

static int e_get(bench_conn *c, const void *k, size_t kl, int *found, size_t *vlen) {
  int rc = lsm_get(c->st->db, NULL, k, kl, &c->val);
  if (rc == LSM_NOTFOUND) {
    *found = 0;
    *vlen = 0;
    return 0;
  }
  if (rc != LSM_OK) return fail(c, rc, "lsm_get");
  *found = 1;
  *vlen = c->val.len;
  return 0;
}

static int e_seek(bench_conn *c, const void *k, size_t kl, int n, int *rows,
                  uint64_t *bytes) {
  lsm_iter *it = NULL;
  int rc = lsm_iter_new(c->st->db, NULL, NULL, &it);
  int got = 0;
  uint64_t b = 0;
  if (rc == LSM_OK) rc = lsm_iter_seek(it, k, kl);
  while (rc == LSM_OK && got < n && lsm_iter_valid(it)) {
    size_t a, v;
    lsm_iter_key(it, &a);
    lsm_iter_value(it, &v);
    b += a + v;
    got++;
    if (got < n) rc = lsm_iter_next(it);
  }
  if (rc == LSM_OK && it) rc = lsm_iter_status(it);
  if (it) lsm_iter_free(it);
  if (rc != LSM_OK) return fail(c, rc, "seek");
  *rows = got;
  *bytes = b;
  return 0;
}

static int e_scan_start(bench_conn *c, int reverse) {
  int rc = lsm_iter_new(c->st->db, NULL, NULL, &c->scan);
  if (rc != LSM_OK) return fail(c, rc, "lsm_iter_new");
  c->reverse = reverse;
  c->started = 0;
  return 0;
}

static int e_scan_step(bench_conn *c, int *more, size_t *bytes) {
  int rc;
  size_t a, v;
  if (!c->started) {
    c->started = 1;
    rc = c->reverse ? lsm_iter_last(c->scan) : lsm_iter_first(c->scan);
  } else {
    rc = c->reverse ? lsm_iter_prev(c->scan) : lsm_iter_next(c->scan);
  }
  if (rc != LSM_OK) return fail(c, rc, "scan");
  if (!lsm_iter_valid(c->scan)) {
    rc = lsm_iter_status(c->scan);
    if (rc != LSM_OK) return fail(c, rc, "scan");
    *more = 0;
    *bytes = 0;
    return 0;
  }
  lsm_iter_key(c->scan, &a);
  lsm_iter_value(c->scan, &v);
  *more = 1;
  *bytes = a + v;
  return 0;
}

static void e_scan_end(bench_conn *c) {
  if (c->scan) lsm_iter_free(c->scan);
  c->scan = NULL;
}

static int e_stats(bench_conn *c, bench_stats *out) {
  lsm_stats s;
  int rc = lsm_get_stats(c->st->db, &s), i;
  memset(out, 0, sizeof *out);
  if (rc != LSM_OK) return fail(c, rc, "lsm_get_stats");
  out->has_lsm = 1;
  out->user_bytes = s.user_bytes;
  out->wal_bytes = s.wal_bytes;
  out->flush_bytes = s.flush_bytes;
  out->compact_read_bytes = s.compact_read_bytes;
  out->compact_write_bytes = s.compact_write_bytes;
  out->flushes = s.flushes;
  out->compactions = s.compactions;
  out->bloom_probes = s.bloom_probes;
  out->bloom_negatives = s.bloom_negatives;
  out->memtable_bytes = s.memtable_bytes;
#ifndef BENCH_LSM_NO_STALLS
  out->has_stalls = 1;
  out->slowdown_count = s.slowdown_count;
  out->slowdown_micros = s.slowdown_micros;
  out->stop_count = s.stop_count;
  out->stop_micros = s.stop_micros;
#endif
#ifndef BENCH_LSM_NO_CACHE
  out->has_cache = 1;
  out->cache_hits = s.cache_hits;
  out->cache_misses = s.cache_misses;
  out->cache_bytes = s.cache_bytes;
#endif
  for (i = 0; i < LSM_MAX_LEVELS && i < 8; i++) {
    out->level_files[i] = s.level[i].files;
    out->level_bytes[i] = s.level[i].bytes;
  }
  return 0;
}

static const char *e_errmsg(bench_conn *c) {
  return c->err;
}

const bench_target bench_target_engine = {
  "engine", e_open, e_close, e_conn_open, e_conn_close,
  e_begin, e_put, e_del, e_commit, e_get, e_seek,
  e_scan_start, e_scan_step, e_scan_end, e_stats, e_errmsg,
};
