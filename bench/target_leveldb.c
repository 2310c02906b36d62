/*
** target_leveldb.c — the "leveldb" benchmark target: LevelDB through its C
** API (Debian's libleveldb-dev), compiled only with -DBENCH_HAVE_LEVELDB.
**
** Configured like the lsm engine: write buffer = memtable_bytes, an LRU
** block cache of cache_bytes, 10 (bloom_bits) bits/key bloom filters, no
** compression (the lsm engine has none, and the values are random anyway).
** sync=full sets WriteOptions.sync on every commit; off and normal both
** write the log without fsync (LevelDB has no finer setting).
*/
#ifdef BENCH_HAVE_LEVELDB

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <leveldb/c.h>

#include "bench.h"

struct bench_store {
  leveldb_t *db;
  leveldb_options_t *opts;
  leveldb_cache_t *cache;
  leveldb_filterpolicy_t *filter;
  leveldb_readoptions_t *ropts;
  leveldb_writeoptions_t *wopts;
};

struct bench_conn {
  bench_store *st;
  leveldb_writebatch_t *batch;
  leveldb_iterator_t *scan;
  int reverse, started;
  char err[512];
};

static void l_close(bench_store *st) {
  if (st->db) leveldb_close(st->db);
  if (st->opts) leveldb_options_destroy(st->opts);
  if (st->cache) leveldb_cache_destroy(st->cache);
  if (st->filter) leveldb_filterpolicy_destroy(st->filter);
  if (st->ropts) leveldb_readoptions_destroy(st->ropts);
  if (st->wopts) leveldb_writeoptions_destroy(st->wopts);
  free(st);
}

static int l_open(const bench_config *cfg, const char *dir, bench_store **out,
                  char *err, size_t err_len) {
  bench_store *st = calloc(1, sizeof *st);
  char *msg = NULL;
  if (st == NULL) {
    snprintf(err, err_len, "out of memory");
    return -1;
  }
  st->opts = leveldb_options_create();
  st->cache = leveldb_cache_create_lru(cfg->cache_bytes);
  st->filter = leveldb_filterpolicy_create_bloom(cfg->bloom_bits);
  st->ropts = leveldb_readoptions_create();
  st->wopts = leveldb_writeoptions_create();
  leveldb_options_set_create_if_missing(st->opts, 1);
  leveldb_options_set_write_buffer_size(st->opts, cfg->memtable_bytes);
  leveldb_options_set_cache(st->opts, st->cache);
  if (cfg->bloom_bits > 0) leveldb_options_set_filter_policy(st->opts, st->filter);
  leveldb_options_set_compression(st->opts, leveldb_no_compression);
  leveldb_writeoptions_set_sync(st->wopts, cfg->sync_mode == BENCH_SYNC_FULL);
  st->db = leveldb_open(st->opts, dir, &msg);
  if (msg) {
    snprintf(err, err_len, "leveldb_open(%s): %s", dir, msg);
    leveldb_free(msg);
    st->db = NULL;
    l_close(st);
    return -1;
  }
  *out = st;
  return 0;
}

static int l_conn_open(bench_store *st, bench_conn **out, char *err, size_t err_len) {
  bench_conn *c = calloc(1, sizeof *c);
  if (c == NULL) {
    snprintf(err, err_len, "out of memory");
    return -1;
  }
  c->st = st;
  c->batch = leveldb_writebatch_create();
  *out = c;
  return 0;
}

static void l_conn_close(bench_conn *c) {
  if (c->scan) leveldb_iter_destroy(c->scan);
  leveldb_writebatch_destroy(c->batch);
  free(c);
}

static int fail(bench_conn *c, const char *what, char *msg) {
  snprintf(c->err, sizeof c->err, "%s: %s", what, msg ? msg : "failed");
  if (msg) leveldb_free(msg);
  return -1;
}

static int l_begin(bench_conn *c) {
  leveldb_writebatch_clear(c->batch);
  return 0;
}

static int l_put(bench_conn *c, const void *k, size_t kl, const void *v, size_t vl,
                 int replace) {
  (void)replace;
  leveldb_writebatch_put(c->batch, k, kl, v, vl);
  return 0;
}

static int l_del(bench_conn *c, const void *k, size_t kl) {
  leveldb_writebatch_delete(c->batch, k, kl);
  return 0;
}

static int l_commit(bench_conn *c) {
  char *msg = NULL;
  leveldb_write(c->st->db, c->st->wopts, c->batch, &msg);
  leveldb_writebatch_clear(c->batch);
  return msg ? fail(c, "leveldb_write", msg) : 0;
}

static int l_get(bench_conn *c, const void *k, size_t kl, int *found, size_t *vlen) {
  char *msg = NULL;
  size_t n = 0;
  char *v = leveldb_get(c->st->db, c->st->ropts, k, kl, &n, &msg);
  if (msg) return fail(c, "leveldb_get", msg);
  *found = v != NULL;
  *vlen = v ? n : 0;
  leveldb_free(v);
  return 0;
}

static int l_seek(bench_conn *c, const void *k, size_t kl, int n, int *rows,
                  uint64_t *bytes) {
  leveldb_iterator_t *it = leveldb_create_iterator(c->st->db, c->st->ropts);
  char *msg = NULL;
  int got = 0;
  uint64_t b = 0;
  leveldb_iter_seek(it, k, kl);
  while (got < n && leveldb_iter_valid(it)) {
    size_t a, v;
    leveldb_iter_key(it, &a);
    leveldb_iter_value(it, &v);
    b += a + v;
    if (++got < n) leveldb_iter_next(it);
  }
  leveldb_iter_get_error(it, &msg);
  leveldb_iter_destroy(it);
  if (msg) return fail(c, "iterator", msg);
  *rows = got;
  *bytes = b;
  return 0;
}

static int l_scan_start(bench_conn *c, int reverse) {
  c->scan = leveldb_create_iterator(c->st->db, c->st->ropts);
  c->reverse = reverse;
  c->started = 0;
  return 0;
}

static int l_scan_step(bench_conn *c, int *more, size_t *bytes) {
  size_t a, v;
  if (!c->started) {
    c->started = 1;
    if (c->reverse) leveldb_iter_seek_to_last(c->scan);
    else leveldb_iter_seek_to_first(c->scan);
  } else if (c->reverse) {
    leveldb_iter_prev(c->scan);
  } else {
    leveldb_iter_next(c->scan);
  }
  if (!leveldb_iter_valid(c->scan)) {
    char *msg = NULL;
    leveldb_iter_get_error(c->scan, &msg);
    if (msg) return fail(c, "iterator", msg);
    *more = 0;
    *bytes = 0;
    return 0;
  }
  leveldb_iter_key(c->scan, &a);
  leveldb_iter_value(c->scan, &v);
  *more = 1;
  *bytes = a + v;
  return 0;
}

static void l_scan_end(bench_conn *c) {
  if (c->scan) leveldb_iter_destroy(c->scan);
  c->scan = NULL;
}

static const char *l_errmsg(bench_conn *c) {
  return c->err;
}

const bench_target bench_target_leveldb = {
  "leveldb", l_open, l_close, l_conn_open, l_conn_close,
  l_begin, l_put, l_del, l_commit, l_get, l_seek,
  l_scan_start, l_scan_step, l_scan_end, NULL, l_errmsg,
};

#else
/* Built without LevelDB: nothing here (ISO C wants a declaration). */
typedef int bench_no_leveldb;
#endif
