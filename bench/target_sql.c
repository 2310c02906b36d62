/*
** target_sql.c — the two SQL benchmark targets, measured with identical
** statements so that only the table type differs:
**
**   vtab    CREATE VIRTUAL TABLE kv USING lsm(k BLOB PRIMARY KEY, v BLOB,
**           memtable_size=, bloom_bits=, sync=, cache_size=)
**           in <dir>/bench.db, the extension loaded with
**           sqlite3_load_extension (its data under <dir>/bench.db-lsm/kv/);
**   native  CREATE TABLE kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID with
**           journal_mode=WAL, synchronous as the sync mode, and a page cache
**           (cache_size) equal to the lsm table's memory budget, memtable +
**           block cache, so both run with the same memory.
**
** Statements (prepared once per session):
**   INSERT INTO kv VALUES(?,?)               fills
**   INSERT OR REPLACE INTO kv VALUES(?,?)    overwrites
**   DELETE FROM kv WHERE k=?
**   SELECT v FROM kv WHERE k=?
**   SELECT k,v FROM kv WHERE k>=? ORDER BY k LIMIT ?
**   SELECT k,v FROM kv ORDER BY k [DESC]
** with BEGIN ... COMMIT around every batch of writes; reads run in
** autocommit mode, as an application's point queries would.
**
** Both databases get journal_mode=WAL and PRAGMA synchronous: the vtab's
** host database holds only the schema, but SQLite still opens a read
** transaction on it for every statement (to check the schema cookie), and
** in rollback-journal mode that costs fcntl() locks and a hot-journal
** stat() per statement, more than the lsm lookup itself.  --vtab-journal
** delete|exclusive measures the other settings.
**
** Every session has its own connection (a connection is used by one thread
** only).  The connection that created the table is handed to the first
** session, so a single-threaded run never opens the table twice.  The vtab's
** engine counters come from the lsm_stats() table-valued function when the
** extension has it (columns matched by name); without it stats report
** nothing.
*/
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "bench.h"

enum { ST_INS, ST_REP, ST_DEL, ST_GET, ST_SEEK, ST_FWD, ST_REV, ST_BEGIN, ST_COMMIT, ST_N };

static const char *const stmt_sql[ST_N] = {
  "INSERT INTO kv VALUES(?1,?2)",
  "INSERT OR REPLACE INTO kv VALUES(?1,?2)",
  "DELETE FROM kv WHERE k=?1",
  "SELECT v FROM kv WHERE k=?1",
  "SELECT k,v FROM kv WHERE k>=?1 ORDER BY k LIMIT ?2",
  "SELECT k,v FROM kv ORDER BY k",
  "SELECT k,v FROM kv ORDER BY k DESC",
  "BEGIN",
  "COMMIT",
};

struct bench_store {
  int is_vtab;
  bench_config cfg;
  char *path;                /* <dir>/bench.db */
  sqlite3 *first;            /* creating connection, handed to the first session */
};

struct bench_conn {
  bench_store *st;
  sqlite3 *db;
  sqlite3_stmt *s[ST_N];
  sqlite3_stmt *stats;       /* SELECT * FROM lsm_stats('kv'), or NULL */
  sqlite3_stmt *scan;        /* ST_FWD or ST_REV while scanning */
  int replace_fill;
  char err[512];
};

static const char *sync_name(int mode) {
  return mode == BENCH_SYNC_OFF ? "off" : mode == BENCH_SYNC_FULL ? "full" : "normal";
}

static int exec(sqlite3 *db, const char *sql, char *err, size_t err_len) {
  char *msg = NULL;
  if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
    snprintf(err, err_len, "%s: %s", sql, msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    return -1;
  }
  return 0;
}

/* Open a connection to the store's database with the per-connection
** settings (extension loaded; native: synchronous and page cache). */
static int connect(bench_store *st, sqlite3 **out, char *err, size_t err_len) {
  sqlite3 *db = NULL;
  char sql[256];
  int rc = sqlite3_open_v2(st->path, &db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                           NULL);
  if (rc != SQLITE_OK) {
    snprintf(err, err_len, "open %s: %s", st->path, db ? sqlite3_errmsg(db) : "out of memory");
    goto fail;
  }
  sqlite3_busy_timeout(db, 10000);
  if (st->is_vtab) {
    char *msg = NULL;
    sqlite3_enable_load_extension(db, 1);
    if (sqlite3_load_extension(db, st->cfg.ext_path, "sqlite3_lsmvtab_init", &msg) != SQLITE_OK) {
      snprintf(err, err_len, "load %s: %s", st->cfg.ext_path, msg ? msg : sqlite3_errmsg(db));
      sqlite3_free(msg);
      goto fail;
    }
    if (strcmp(st->cfg.vtab_journal, "exclusive") == 0 &&
        exec(db, "PRAGMA locking_mode=EXCLUSIVE", err, err_len)) {
      goto fail;
    }
    snprintf(sql, sizeof sql, "PRAGMA synchronous=%s;", sync_name(st->cfg.sync_mode));
  } else {
    snprintf(sql, sizeof sql, "PRAGMA synchronous=%s; PRAGMA cache_size=-%llu;",
             sync_name(st->cfg.sync_mode),
             (unsigned long long)((st->cfg.memtable_bytes + st->cfg.cache_bytes) / 1024));
  }
  if (exec(db, sql, err, err_len)) goto fail;
  *out = db;
  return 0;
fail:
  sqlite3_close(db);
  return -1;
}

static int create_vtab(bench_store *st, sqlite3 *db, int with_cache, char *err,
                       size_t err_len) {
  char sql[1024];
  char cache[64] = "";
  if (with_cache) {
    snprintf(cache, sizeof cache, ", cache_size=%llu", (unsigned long long)st->cfg.cache_bytes);
  }
  snprintf(sql, sizeof sql,
           "CREATE VIRTUAL TABLE IF NOT EXISTS kv USING lsm(k BLOB PRIMARY KEY, v BLOB, "
           "memtable_size=%llu, bloom_bits=%d, sync=%s%s%s%s)",
           (unsigned long long)st->cfg.memtable_bytes, st->cfg.bloom_bits,
           sync_name(st->cfg.sync_mode), cache,
           st->cfg.vtab_opts[0] ? ", " : "", st->cfg.vtab_opts);
  return exec(db, sql, err, err_len);
}

static int open_common(int is_vtab, const bench_config *cfg, const char *dir,
                       bench_store **out, char *err, size_t err_len) {
  bench_store *st = calloc(1, sizeof *st);
  size_t n = strlen(dir) + 16;
  if (st == NULL || (st->path = malloc(n)) == NULL) {
    free(st);
    snprintf(err, err_len, "out of memory");
    return -1;
  }
  snprintf(st->path, n, "%s/bench.db", dir);
  st->is_vtab = is_vtab;
  st->cfg = *cfg;
  if (connect(st, &st->first, err, err_len)) goto fail;
  if (!is_vtab || strcmp(cfg->vtab_journal, "wal") == 0) {
    if (exec(st->first, "PRAGMA journal_mode=WAL", err, err_len)) goto fail;
  }
  if (is_vtab) {
    /* cache_size is newer than the module: a build without it refuses the
    ** option, and then runs with the engine's default cache. */
    if (create_vtab(st, st->first, 1, err, err_len)) {
      if (strstr(err, "cache_size") == NULL) goto fail;
      fprintf(stderr, "bench: vtab: this lsm_vtab has no cache_size option; "
                      "using its default block cache\n");
      if (create_vtab(st, st->first, 0, err, err_len)) goto fail;
    }
  } else {
    if (exec(st->first,
             "CREATE TABLE IF NOT EXISTS kv(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID",
             err, err_len)) {
      goto fail;
    }
  }
  *out = st;
  return 0;
fail:
  sqlite3_close(st->first);
  free(st->path);
  free(st);
  return -1;
}

static int vtab_open(const bench_config *cfg, const char *dir, bench_store **out,
                     char *err, size_t err_len) {
  return open_common(1, cfg, dir, out, err, err_len);
}

static int native_open(const bench_config *cfg, const char *dir, bench_store **out,
                       char *err, size_t err_len) {
  return open_common(0, cfg, dir, out, err, err_len);
}

static void s_close(bench_store *st) {
  sqlite3_close(st->first);
  free(st->path);
  free(st);
}

static void s_conn_close(bench_conn *c) {
  int i;
  for (i = 0; i < ST_N; i++) sqlite3_finalize(c->s[i]);
  sqlite3_finalize(c->stats);
  if (sqlite3_close(c->db) != SQLITE_OK) {
    fprintf(stderr, "bench: close: %s\n", sqlite3_errmsg(c->db));
  }
  free(c);
}

static int s_conn_open(bench_store *st, bench_conn **out, char *err, size_t err_len) {
  bench_conn *c = calloc(1, sizeof *c);
  int i;
  if (c == NULL) {
    snprintf(err, err_len, "out of memory");
    return -1;
  }
  c->st = st;
  c->replace_fill = st->cfg.replace_fill;
  if (st->first) {
    c->db = st->first;
    st->first = NULL;
  } else if (connect(st, &c->db, err, err_len)) {
    free(c);
    return -1;
  }
  for (i = 0; i < ST_N; i++) {
    if (sqlite3_prepare_v2(c->db, stmt_sql[i], -1, &c->s[i], NULL) != SQLITE_OK) {
      snprintf(err, err_len, "prepare %s: %s", stmt_sql[i], sqlite3_errmsg(c->db));
      s_conn_close(c);
      return -1;
    }
  }
  if (st->is_vtab &&
      sqlite3_prepare_v2(c->db, "SELECT * FROM lsm_stats('kv')", -1, &c->stats, NULL) != SQLITE_OK) {
    c->stats = NULL;   /* no lsm_stats in this build */
  }
  *out = c;
  return 0;
}

static int fail(bench_conn *c, const char *what) {
  snprintf(c->err, sizeof c->err, "%s: %s", what, sqlite3_errmsg(c->db));
  return -1;
}

/* Step a statement that returns no rows, then reset it. */
static int run_done(bench_conn *c, sqlite3_stmt *s, const char *what) {
  int rc = sqlite3_step(s);
  sqlite3_reset(s);
  return rc == SQLITE_DONE ? 0 : fail(c, what);
}

static int s_begin(bench_conn *c) {
  return run_done(c, c->s[ST_BEGIN], "BEGIN");
}

static int s_commit(bench_conn *c) {
  return run_done(c, c->s[ST_COMMIT], "COMMIT");
}

static int s_put(bench_conn *c, const void *k, size_t kl, const void *v, size_t vl,
                 int replace) {
  sqlite3_stmt *s = c->s[replace || c->replace_fill ? ST_REP : ST_INS];
  sqlite3_bind_blob(s, 1, k, (int)kl, SQLITE_STATIC);
  sqlite3_bind_blob(s, 2, v, (int)vl, SQLITE_STATIC);
  return run_done(c, s, "INSERT");
}

static int s_del(bench_conn *c, const void *k, size_t kl) {
  sqlite3_stmt *s = c->s[ST_DEL];
  sqlite3_bind_blob(s, 1, k, (int)kl, SQLITE_STATIC);
  return run_done(c, s, "DELETE");
}

static int s_get(bench_conn *c, const void *k, size_t kl, int *found, size_t *vlen) {
  sqlite3_stmt *s = c->s[ST_GET];
  int rc;
  sqlite3_bind_blob(s, 1, k, (int)kl, SQLITE_STATIC);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    /* Fetch the value as a program would, so a lazily decoded value is paid for. */
    (void)sqlite3_column_blob(s, 0);
    *vlen = (size_t)sqlite3_column_bytes(s, 0);
    *found = 1;
    rc = sqlite3_step(s);
  } else {
    *found = 0;
    *vlen = 0;
  }
  sqlite3_reset(s);
  return rc == SQLITE_DONE ? 0 : fail(c, "SELECT v");
}

static int s_seek(bench_conn *c, const void *k, size_t kl, int n, int *rows,
                  uint64_t *bytes) {
  sqlite3_stmt *s = c->s[ST_SEEK];
  int rc, got = 0;
  uint64_t b = 0;
  sqlite3_bind_blob(s, 1, k, (int)kl, SQLITE_STATIC);
  sqlite3_bind_int(s, 2, n);
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    (void)sqlite3_column_blob(s, 0);
    (void)sqlite3_column_blob(s, 1);
    b += (uint64_t)sqlite3_column_bytes(s, 0) + (uint64_t)sqlite3_column_bytes(s, 1);
    got++;
  }
  sqlite3_reset(s);
  if (rc != SQLITE_DONE) return fail(c, "SELECT range");
  *rows = got;
  *bytes = b;
  return 0;
}

static int s_scan_start(bench_conn *c, int reverse) {
  c->scan = c->s[reverse ? ST_REV : ST_FWD];
  return 0;
}

static int s_scan_step(bench_conn *c, int *more, size_t *bytes) {
  int rc = sqlite3_step(c->scan);
  if (rc == SQLITE_ROW) {
    (void)sqlite3_column_blob(c->scan, 0);
    (void)sqlite3_column_blob(c->scan, 1);
    *bytes = (size_t)sqlite3_column_bytes(c->scan, 0) + (size_t)sqlite3_column_bytes(c->scan, 1);
    *more = 1;
    return 0;
  }
  *more = 0;
  *bytes = 0;
  return rc == SQLITE_DONE ? 0 : fail(c, "SELECT scan");
}

static void s_scan_end(bench_conn *c) {
  if (c->scan) sqlite3_reset(c->scan);
  c->scan = NULL;
}

/* lsm_stats('kv'): one row per level; the whole-table counters repeat on
** every row.  Columns are found by name so extra or missing ones are fine. */
static int s_stats(bench_conn *c, bench_stats *out) {
  sqlite3_stmt *s = c->stats;
  int rc, row = 0;
  memset(out, 0, sizeof *out);
  if (s == NULL) return 0;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    int i, n = sqlite3_column_count(s), level = -1;
    for (i = 0; i < n; i++) {
      const char *name = sqlite3_column_name(s, i);
      uint64_t v = (uint64_t)sqlite3_column_int64(s, i);
      if (strcmp(name, "level") == 0) level = (int)v;
    }
    for (i = 0; i < n; i++) {
      const char *name = sqlite3_column_name(s, i);
      uint64_t v = (uint64_t)sqlite3_column_int64(s, i);
      if (level >= 0 && level < 8) {
        if (strcmp(name, "files") == 0) out->level_files[level] = (int)v;
        if (strcmp(name, "bytes") == 0) out->level_bytes[level] = v;
      }
      if (row > 0) continue;
      if (strcmp(name, "user_bytes") == 0) out->user_bytes = v;
      else if (strcmp(name, "wal_bytes") == 0) out->wal_bytes = v;
      else if (strcmp(name, "flush_bytes") == 0) out->flush_bytes = v;
      else if (strcmp(name, "compact_read_bytes") == 0) out->compact_read_bytes = v;
      else if (strcmp(name, "compact_write_bytes") == 0) out->compact_write_bytes = v;
      else if (strcmp(name, "flushes") == 0) out->flushes = v;
      else if (strcmp(name, "compactions") == 0) out->compactions = v;
      else if (strcmp(name, "bloom_probes") == 0) out->bloom_probes = v;
      else if (strcmp(name, "bloom_negatives") == 0) out->bloom_negatives = v;
      else if (strcmp(name, "memtable_bytes") == 0) out->memtable_bytes = v;
      else if (strcmp(name, "cache_hits") == 0) out->cache_hits = v, out->has_cache = 1;
      else if (strcmp(name, "cache_misses") == 0) out->cache_misses = v;
      else if (strcmp(name, "cache_bytes") == 0) out->cache_bytes = v;
      else if (strcmp(name, "slowdown_count") == 0) out->slowdown_count = v, out->has_stalls = 1;
      else if (strcmp(name, "slowdown_micros") == 0) out->slowdown_micros = v;
      else if (strcmp(name, "stop_count") == 0) out->stop_count = v;
      else if (strcmp(name, "stop_micros") == 0) out->stop_micros = v;
    }
    row++;
  }
  sqlite3_reset(s);
  if (rc != SQLITE_DONE) return fail(c, "lsm_stats");
  out->has_lsm = row > 0;
  return 0;
}

static const char *s_errmsg(bench_conn *c) {
  return c->err;
}

const bench_target bench_target_vtab = {
  "vtab", vtab_open, s_close, s_conn_open, s_conn_close,
  s_begin, s_put, s_del, s_commit, s_get, s_seek,
  s_scan_start, s_scan_step, s_scan_end, s_stats, s_errmsg,
};

const bench_target bench_target_native = {
  "native", native_open, s_close, s_conn_open, s_conn_close,
  s_begin, s_put, s_del, s_commit, s_get, s_seek,
  s_scan_start, s_scan_step, s_scan_end, NULL, s_errmsg,
};
