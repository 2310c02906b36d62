/*
** target_rocksdb.c — the "rocksdb" benchmark target: RocksDB through its C
** API (Debian's librocksdb-dev), compiled only with -DBENCH_HAVE_ROCKSDB.
**
** Configured like the lsm engine: write buffer = memtable_bytes, an LRU
** block cache of cache_bytes, 10 (bloom_bits) bits/key full bloom filters,
** no compression (the lsm engine has none, and the values are random
** anyway); everything else RocksDB's defaults (background flush and
** compaction threads).
** sync=full sets WriteOptions.sync on every commit; off and normal both
** write the log without fsync (RocksDB has no finer setting).
*/
#ifdef BENCH_HAVE_ROCKSDB

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rocksdb/c.h>

#include "bench.h"

struct bench_store {
  rocksdb_t *db;
  rocksdb_options_t *opts;
  rocksdb_block_based_table_options_t *table;
  rocksdb_cache_t *cache;
  rocksdb_readoptions_t *ropts;
  rocksdb_writeoptions_t *wopts;
};

struct bench_conn {
  bench_store *st;
  rocksdb_writebatch_t *batch;
  rocksdb_iterator_t *scan;
  int reverse, started;
  char err[512];
};

static void l_close(bench_store *st) {
  if (st->db) rocksdb_close(st->db);
  if (st->opts) rocksdb_options_destroy(st->opts);
  if (st->table) rocksdb_block_based_options_destroy(st->table);
  if (st->cache) rocksdb_cache_destroy(st->cache);
  if (st->ropts) rocksdb_readoptions_destroy(st->ropts);
  if (st->wopts) rocksdb_writeoptions_destroy(st->wopts);
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
  st->opts = rocksdb_options_create();
  st->table = rocksdb_block_based_options_create();
  st->cache = rocksdb_cache_create_lru(cfg->cache_bytes);
  st->ropts = rocksdb_readoptions_create();
  st->wopts = rocksdb_writeoptions_create();
  rocksdb_block_based_options_set_block_cache(st->table, st->cache);
  /* The table options take ownership of the filter policy. */
  if (cfg->bloom_bits > 0) {
    rocksdb_block_based_options_set_filter_policy(
        st->table, rocksdb_filterpolicy_create_bloom_full(cfg->bloom_bits));
  }
  rocksdb_options_set_block_based_table_factory(st->opts, st->table);
  rocksdb_options_set_create_if_missing(st->opts, 1);
  rocksdb_options_set_write_buffer_size(st->opts, cfg->memtable_bytes);
  rocksdb_options_set_compression(st->opts, rocksdb_no_compression);
  rocksdb_writeoptions_set_sync(st->wopts, cfg->sync_mode == BENCH_SYNC_FULL);
  st->db = rocksdb_open(st->opts, dir, &msg);
  if (msg) {
    snprintf(err, err_len, "rocksdb_open(%s): %s", dir, msg);
    rocksdb_free(msg);
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
  c->batch = rocksdb_writebatch_create();
  *out = c;
  return 0;
}

static void l_conn_close(bench_conn *c) {
  if (c->scan) rocksdb_iter_destroy(c->scan);
  rocksdb_writebatch_destroy(c->batch);
  free(c);
}

static int fail(bench_conn *c, const char *what, char *msg) {
  snprintf(c->err, sizeof c->err, "%s: %s", what, msg ? msg : "failed");
  if (msg) rocksdb_free(msg);
  return -1;
}

static int l_begin(bench_conn *c) {
  rocksdb_writebatch_clear(c->batch);
  return 0;
}

static int l_put(bench_conn *c, const void *k, size_t kl, const void *v, size_t vl,
                 int replace) {
  (void)replace;
  rocksdb_writebatch_put(c->batch, k, kl, v, vl);
  return 0;
}

static int l_del(bench_conn *c, const void *k, size_t kl) {
  rocksdb_writebatch_delete(c->batch, k, kl);
  return 0;
}

static int l_commit(bench_conn *c) {
  char *msg = NULL;
  rocksdb_write(c->st->db, c->st->wopts, c->batch, &msg);
  rocksdb_writebatch_clear(c->batch);
  return msg ? fail(c, "rocksdb_write", msg) : 0;
}

static int l_get(bench_conn *c, const void *k, size_t kl, int *found, size_t *vlen) {
  char *msg = NULL;
  size_t n = 0;
  char *v = rocksdb_get(c->st->db, c->st->ropts, k, kl, &n, &msg);
  if (msg) return fail(c, "rocksdb_get", msg);
  *found = v != NULL;
  *vlen = v ? n : 0;
  rocksdb_free(v);
  return 0;
}

static int l_seek(bench_conn *c, const void *k, size_t kl, int n, int *rows,
                  uint64_t *bytes) {
  rocksdb_iterator_t *it = rocksdb_create_iterator(c->st->db, c->st->ropts);
  char *msg = NULL;
  int got = 0;
  uint64_t b = 0;
  rocksdb_iter_seek(it, k, kl);
  while (got < n && rocksdb_iter_valid(it)) {
    size_t a, v;
    rocksdb_iter_key(it, &a);
    rocksdb_iter_value(it, &v);
    b += a + v;
    if (++got < n) rocksdb_iter_next(it);
  }
  rocksdb_iter_get_error(it, &msg);
  rocksdb_iter_destroy(it);
  if (msg) return fail(c, "iterator", msg);
  *rows = got;
  *bytes = b;
  return 0;
}

static int l_scan_start(bench_conn *c, int reverse) {
  c->scan = rocksdb_create_iterator(c->st->db, c->st->ropts);
  c->reverse = reverse;
  c->started = 0;
  return 0;
}

static int l_scan_step(bench_conn *c, int *more, size_t *bytes) {
  size_t a, v;
  if (!c->started) {
    c->started = 1;
    if (c->reverse) rocksdb_iter_seek_to_last(c->scan);
    else rocksdb_iter_seek_to_first(c->scan);
  } else if (c->reverse) {
    rocksdb_iter_prev(c->scan);
  } else {
    rocksdb_iter_next(c->scan);
  }
  if (!rocksdb_iter_valid(c->scan)) {
    char *msg = NULL;
    rocksdb_iter_get_error(c->scan, &msg);
    if (msg) return fail(c, "iterator", msg);
    *more = 0;
    *bytes = 0;
    return 0;
  }
  rocksdb_iter_key(c->scan, &a);
  rocksdb_iter_value(c->scan, &v);
  *more = 1;
  *bytes = a + v;
  return 0;
}

static void l_scan_end(bench_conn *c) {
  if (c->scan) rocksdb_iter_destroy(c->scan);
  c->scan = NULL;
}

static const char *l_errmsg(bench_conn *c) {
  return c->err;
}

const bench_target bench_target_rocksdb = {
  "rocksdb", l_open, l_close, l_conn_open, l_conn_close,
  l_begin, l_put, l_del, l_commit, l_get, l_seek,
  l_scan_start, l_scan_step, l_scan_end, NULL, l_errmsg,
};

#else
/* Built without RocksDB: nothing here (ISO C wants a declaration). */
typedef int bench_no_rocksdb;
#endif
