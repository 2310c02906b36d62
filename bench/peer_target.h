/*
** peer_target.h — the body shared by the "leveldb" and "rocksdb" benchmark
** targets.  Their C APIs have the same shape under different prefixes
** (leveldb_write / rocksdb_write, leveldb_iter_next / rocksdb_iter_next ...),
** so one body serves both: a target file includes its library's c.h, then
** defines
**
**   PEER(name)         the library's name for `name`: leveldb_##name
**   PEER_LABEL         its target name, "leveldb"
**   struct bench_store at least the members db, opts, cache, ropts, wopts
**                      (the library's handles), plus whatever its
**                      configuration needs
**   peer_configure()   fills opts/cache/ropts/wopts (and its own members)
**                      from the bench configuration, before the open
**   peer_release()     destroys its own members (not the common five)
**
** and then includes this file, which defines the store, connection, write,
** read and scan functions and PEER_TARGET, the bench_target initializer.
** Only target_leveldb.c and target_rocksdb.c include it, each once.
*/
#ifndef BENCH_PEER_TARGET_H
#define BENCH_PEER_TARGET_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

static void peer_configure(bench_store *st, const bench_config *cfg);
static void peer_release(bench_store *st);

struct bench_conn {
  bench_store *st;
  PEER(writebatch_t) *batch;
  PEER(iterator_t) *scan;
  int reverse, started;
  char err[512];
};

static void p_close(bench_store *st) {
  if (st->db) PEER(close)(st->db);
  if (st->opts) PEER(options_destroy)(st->opts);
  peer_release(st);
  if (st->cache) PEER(cache_destroy)(st->cache);
  if (st->ropts) PEER(readoptions_destroy)(st->ropts);
  if (st->wopts) PEER(writeoptions_destroy)(st->wopts);
  free(st);
}

static int p_open(const bench_config *cfg, const char *dir, bench_store **out,
                  char *err, size_t err_len) {
  bench_store *st = calloc(1, sizeof *st);
  char *msg = NULL;
  if (st == NULL) {
    snprintf(err, err_len, "out of memory");
    return -1;
  }
  peer_configure(st, cfg);
  st->db = PEER(open)(st->opts, dir, &msg);
  if (msg) {
    snprintf(err, err_len, "%s open(%s): %s", PEER_LABEL, dir, msg);
    PEER(free)(msg);
    st->db = NULL;
    p_close(st);
    return -1;
  }
  *out = st;
  return 0;
}

static int p_conn_open(bench_store *st, bench_conn **out, char *err, size_t err_len) {
  bench_conn *c = calloc(1, sizeof *c);
  if (c == NULL) {
    snprintf(err, err_len, "out of memory");
    return -1;
  }
  c->st = st;
  c->batch = PEER(writebatch_create)();
  *out = c;
  return 0;
}

static void p_conn_close(bench_conn *c) {
  if (c->scan) PEER(iter_destroy)(c->scan);
  PEER(writebatch_destroy)(c->batch);
  free(c);
}

/* Records the library's message (and frees it) as the connection's error. */
static int fail(bench_conn *c, const char *what, char *msg) {
  snprintf(c->err, sizeof c->err, "%s %s: %s", PEER_LABEL, what, msg ? msg : "failed");
  if (msg) PEER(free)(msg);
  return -1;
}

static int p_begin(bench_conn *c) {
  PEER(writebatch_clear)(c->batch);
  return 0;
}

/* Both libraries' puts overwrite: `replace` changes nothing. */
static int p_put(bench_conn *c, const void *k, size_t kl, const void *v, size_t vl,
                 int replace) {
  (void)replace;
  PEER(writebatch_put)(c->batch, k, kl, v, vl);
  return 0;
}

static int p_del(bench_conn *c, const void *k, size_t kl) {
  PEER(writebatch_delete)(c->batch, k, kl);
  return 0;
}

static int p_commit(bench_conn *c) {
  char *msg = NULL;
  PEER(write)(c->st->db, c->st->wopts, c->batch, &msg);
  PEER(writebatch_clear)(c->batch);
  return msg ? fail(c, "write", msg) : 0;
}

static int p_get(bench_conn *c, const void *k, size_t kl, int *found, size_t *vlen) {
  char *msg = NULL;
  size_t n = 0;
  char *v = PEER(get)(c->st->db, c->st->ropts, k, kl, &n, &msg);
  if (msg) return fail(c, "get", msg);
  *found = v != NULL;
  *vlen = v ? n : 0;
  PEER(free)(v);
  return 0;
}

static int p_seek(bench_conn *c, const void *k, size_t kl, int n, int *rows,
                  uint64_t *bytes) {
  PEER(iterator_t) *it = PEER(create_iterator)(c->st->db, c->st->ropts);
  char *msg = NULL;
  int got = 0;
  uint64_t b = 0;
  PEER(iter_seek)(it, k, kl);
  while (got < n && PEER(iter_valid)(it)) {
    size_t a, v;
    PEER(iter_key)(it, &a);
    PEER(iter_value)(it, &v);
    b += a + v;
    if (++got < n) PEER(iter_next)(it);
  }
  PEER(iter_get_error)(it, &msg);
  PEER(iter_destroy)(it);
  if (msg) return fail(c, "iterator", msg);
  *rows = got;
  *bytes = b;
  return 0;
}

static int p_scan_start(bench_conn *c, int reverse) {
  c->scan = PEER(create_iterator)(c->st->db, c->st->ropts);
  c->reverse = reverse;
  c->started = 0;
  return 0;
}

static int p_scan_step(bench_conn *c, int *more, size_t *bytes) {
  size_t a, v;
  if (!c->started) {
    c->started = 1;
    if (c->reverse) PEER(iter_seek_to_last)(c->scan);
    else PEER(iter_seek_to_first)(c->scan);
  } else if (c->reverse) {
    PEER(iter_prev)(c->scan);
  } else {
    PEER(iter_next)(c->scan);
  }
  if (!PEER(iter_valid)(c->scan)) {
    char *msg = NULL;
    PEER(iter_get_error)(c->scan, &msg);
    if (msg) return fail(c, "iterator", msg);
    *more = 0;
    *bytes = 0;
    return 0;
  }
  PEER(iter_key)(c->scan, &a);
  PEER(iter_value)(c->scan, &v);
  *more = 1;
  *bytes = a + v;
  return 0;
}

static void p_scan_end(bench_conn *c) {
  if (c->scan) PEER(iter_destroy)(c->scan);
  c->scan = NULL;
}

static const char *p_errmsg(bench_conn *c) {
  return c->err;
}

#define PEER_TARGET                                                 \
  {                                                                 \
    PEER_LABEL, p_open, p_close, p_conn_open, p_conn_close,         \
    p_begin, p_put, p_del, p_commit, p_get, p_seek,                 \
    p_scan_start, p_scan_step, p_scan_end, NULL, p_errmsg,          \
  }

#endif /* BENCH_PEER_TARGET_H */
