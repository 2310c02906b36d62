/*
** concurrency.c — several connections reading and writing one lsm table at
** once, through SQL, every read checked against what was committed.
**
**   concurrency --so ./lsm_vtab.so --threads 4 --ops 2000
**   concurrency --so ./lsm_vtab.so --procs 4 --ops 2000
**   (--strict / --no-strict, --separate-dbs / --shared-db: see below;
**   --procs implies --strict --separate-dbs)
**
** N workers (threads of this process, each with its own connection, or
** forked processes) share one database file and one lsm table, created
** with a small memtable so flushes and compactions happen during the run.
** Worker w owns the keys "wNN:00" .. "wNN:07".  A write transaction sets
** all eight to the worker's next counter value (BEGIN, eight statements,
** COMMIT).  A read picks a worker x and reads its eight keys in one
** statement; the invariants checked on every read:
**   - all or nothing: zero rows (x has not committed yet) or eight rows
**     holding one value — never a part of a transaction;
**   - never back: the value is at least the last one this worker saw for x;
**   - own writes: for x == w it is exactly w's last committed value.
** Some reads run inside the worker's own write transaction (they must see
** its uncommitted values).  SQLITE_BUSY (another writer holds the table
** past the busy timeout) rolls the transaction back and retries; any other
** error fails the run.  At the end one connection checks every worker's
** final value against its count of commits and runs integrity-check.
**
** With --separate-dbs (the default with --procs) each worker has a database
** file of its own whose table t names the shared table directory (dir=):
** no SQLite file lock keeps the writers apart, only the table's own lock
** across processes.
**
** --strict (the default with --procs) also requires real concurrency: a
** read never gets SQLITE_BUSY (readers never wait for a writer, in any
** process), and all workers but at most one committed something (a run in
** which the other processes could not open or write the table fails).
**
** Prints one line: "concurrency(threads): 4 workers, ... 0 failures" and
** exits non-zero on any failure.  The scratch directory is removed after a
** clean run and kept (its path printed) after a failure.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define KEYS_PER_WORKER 8
#define MAX_WORKERS 32

typedef struct config {
  const char *so;
  const char *dir;      /* scratch directory holding the database */
  int workers;
  int use_procs;
  int ops;
  int strict;           /* -1: default (on for processes) */
  int separate_dbs;     /* -1: default (on for processes) */
  uint64_t seed;
} config;

/* What a worker did; written to a pipe by a process worker. */
typedef struct result {
  long commits, reads, busy, read_busy, failures;
  long last_value;      /* the worker's final committed counter */
  char first_error[256];
} result;

typedef struct worker {
  const config *cfg;
  int id;
  pthread_t thread;
  result res;
} worker;

static void fail(result *r, const char *fmt, ...) {
  va_list ap;
  r->failures++;
  if (r->first_error[0]) return;
  va_start(ap, fmt);
  vsnprintf(r->first_error, sizeof r->first_error, fmt, ap);
  va_end(ap);
}

static uint64_t rng(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Worker w's connection (w = -1: set-up and final check): the shared
** database file conc.db, or with separate_dbs a file of its own, conc-W.db,
** whose table t names conc.db's table directory with dir=. */
static int open_db(const config *cfg, int w, sqlite3 **out, char *err, size_t n) {
  char path[1024];
  char *msg = NULL;
  sqlite3 *db = NULL;
  int rc;
  if (cfg->separate_dbs && w >= 0) snprintf(path, sizeof path, "%s/conc-%d.db", cfg->dir, w);
  else snprintf(path, sizeof path, "%s/conc.db", cfg->dir);
  rc = sqlite3_open(path, &db);
  if (rc == SQLITE_OK) rc = sqlite3_enable_load_extension(db, 1);
  if (rc == SQLITE_OK) rc = sqlite3_load_extension(db, cfg->so, NULL, &msg);
  if (rc == SQLITE_OK) rc = sqlite3_busy_timeout(db, 10000);
  if (rc == SQLITE_OK && cfg->separate_dbs && w >= 0) {
    /* dir= is relative to the database file's directory, cfg->dir. */
    rc = sqlite3_exec(db, "CREATE VIRTUAL TABLE IF NOT EXISTS t USING lsm(k TEXT PRIMARY KEY, "
                      "v INTEGER, dir='conc.db-lsm/t', memtable_size=16384, block_size=1024)",
                      NULL, NULL, NULL);
  }
  if (rc != SQLITE_OK) {
    snprintf(err, n, "open %.200s: %.200s", path, msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    sqlite3_close(db);
    return rc;
  }
  *out = db;
  return SQLITE_OK;
}

/* Run one statement with no result rows. */
static int exec(sqlite3 *db, const char *sql) {
  return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* Read worker x's keys; check all-or-nothing and return the value (-1 when
** no row).  Returns an SQLite code; a broken invariant is recorded in r. */
static int read_worker(sqlite3 *db, int x, long *value, result *r) {
  sqlite3_stmt *st = NULL;
  char lo[16], hi[16];
  int rc, rows = 0;
  long v = -1;
  snprintf(lo, sizeof lo, "w%02d:", x);
  snprintf(hi, sizeof hi, "w%02d;", x);
  rc = sqlite3_prepare_v2(db, "SELECT v FROM t WHERE k >= ?1 AND k < ?2", -1, &st, NULL);
  if (rc != SQLITE_OK) return rc;
  sqlite3_bind_text(st, 1, lo, -1, SQLITE_STATIC);
  sqlite3_bind_text(st, 2, hi, -1, SQLITE_STATIC);
  while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
    long got = (long)sqlite3_column_int64(st, 0);
    if (rows > 0 && got != v) {
      fail(r, "worker %d's keys hold %ld and %ld in one read (a part of a transaction)",
           x, v, got);
    }
    v = got;
    rows++;
  }
  sqlite3_finalize(st);
  if (rc != SQLITE_DONE) return rc;
  if (rows != 0 && rows != KEYS_PER_WORKER) {
    fail(r, "read %d of worker %d's %d keys", rows, x, KEYS_PER_WORKER);
  }
  *value = v;
  return SQLITE_OK;
}

/* One write transaction setting w's keys to value; a read of w's keys
** inside it must see the new value.  SQLITE_BUSY leaves nothing behind. */
static int write_txn(sqlite3 *db, int w, long value, result *r) {
  sqlite3_stmt *st = NULL;
  long seen;
  int rc, i;
  rc = exec(db, "BEGIN");
  if (rc != SQLITE_OK) return rc;
  rc = sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO t(k, v) VALUES(?1, ?2)", -1, &st, NULL);
  for (i = 0; rc == SQLITE_OK && i < KEYS_PER_WORKER; i++) {
    char key[16];
    snprintf(key, sizeof key, "w%02d:%02d", w, i);
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, value);
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) rc = SQLITE_OK;
    sqlite3_reset(st);
  }
  sqlite3_finalize(st);
  if (rc == SQLITE_OK && (value % 4) == 0) {
    rc = read_worker(db, w, &seen, r);
    if (rc == SQLITE_OK && seen != value) {
      fail(r, "worker %d read %ld inside its transaction writing %ld", w, seen, value);
    }
  }
  if (rc == SQLITE_OK) rc = exec(db, "COMMIT");
  if (rc != SQLITE_OK) exec(db, "ROLLBACK");
  return rc;
}

static void run_worker(const config *cfg, int w, result *r) {
  long last_seen[MAX_WORKERS];
  long committed = 0;
  uint64_t s = cfg->seed * 1000003u + (uint64_t)w;
  sqlite3 *db = NULL;
  int i, rc;
  memset(r, 0, sizeof *r);
  for (i = 0; i < MAX_WORKERS; i++) last_seen[i] = -1;
  if (open_db(cfg, w, &db, r->first_error, sizeof r->first_error) != SQLITE_OK) {
    r->failures++;
    return;
  }
  for (i = 0; i < cfg->ops && r->failures == 0; i++) {
    if (rng(&s) % 2 == 0) {
      rc = write_txn(db, w, committed + 1, r);
      if (rc == SQLITE_OK) {
        committed++;
        r->commits++;
      } else if (rc == SQLITE_BUSY) {
        r->busy++;
      } else {
        fail(r, "worker %d write: %s (%d)", w, sqlite3_errmsg(db), rc);
      }
    } else {
      int x = (int)(rng(&s) % (uint64_t)cfg->workers);
      long v;
      rc = read_worker(db, x, &v, r);
      if (rc == SQLITE_BUSY) {
        r->busy++;
        r->read_busy++;
        continue;
      }
      if (rc != SQLITE_OK) {
        fail(r, "worker %d read: %s (%d)", w, sqlite3_errmsg(db), rc);
        continue;
      }
      r->reads++;
      if (v < last_seen[x]) {
        fail(r, "worker %d saw worker %d's value go back from %ld to %ld", w, x,
             last_seen[x], v);
      }
      if (x == w && v != (committed ? committed : -1)) {
        fail(r, "worker %d read its own value %ld after committing %ld", w, v, committed);
      }
      last_seen[x] = v;
    }
  }
  r->last_value = committed;
  sqlite3_close(db);
}

static void *thread_main(void *arg) {
  worker *wk = arg;
  run_worker(wk->cfg, wk->id, &wk->res);
  return NULL;
}

/* Fork one process per worker; each sends its result through a pipe. */
static int run_procs(const config *cfg, worker *wk) {
  int fds[MAX_WORKERS][2];
  pid_t pids[MAX_WORKERS];
  int i, bad = 0;
  for (i = 0; i < cfg->workers; i++) {
    if (pipe(fds[i]) != 0) return -1;
    pids[i] = fork();
    if (pids[i] < 0) return -1;
    if (pids[i] == 0) {
      result r;
      ssize_t n;
      close(fds[i][0]);
      run_worker(cfg, i, &r);
      n = write(fds[i][1], &r, sizeof r);
      _exit(n == (ssize_t)sizeof r ? 0 : 1);
    }
    close(fds[i][1]);
  }
  for (i = 0; i < cfg->workers; i++) {
    int status = 0;
    ssize_t n = read(fds[i][0], &wk[i].res, sizeof wk[i].res);
    close(fds[i][0]);
    waitpid(pids[i], &status, 0);
    if (n != (ssize_t)sizeof wk[i].res || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      memset(&wk[i].res, 0, sizeof wk[i].res);
      fail(&wk[i].res, "worker process %d died (status %d)", i, status);
      bad = 1;
    }
  }
  return bad;
}

/* Every worker's keys hold its final committed value; integrity-check. */
static void final_check(const config *cfg, worker *wk, result *r) {
  sqlite3 *db = NULL;
  int i, rc;
  if (open_db(cfg, -1, &db, r->first_error, sizeof r->first_error) != SQLITE_OK) {
    r->failures++;
    return;
  }
  for (i = 0; i < cfg->workers; i++) {
    long v;
    rc = read_worker(db, i, &v, r);
    if (rc != SQLITE_OK) fail(r, "final read: %s", sqlite3_errmsg(db));
    else if (v != (wk[i].res.last_value ? wk[i].res.last_value : -1)) {
      fail(r, "worker %d committed %ld transactions but its keys hold %ld", i,
           wk[i].res.last_value, v);
    }
  }
  rc = exec(db, "INSERT INTO t(t) VALUES('integrity-check')");
  if (rc != SQLITE_OK) fail(r, "integrity-check: %s", sqlite3_errmsg(db));
  sqlite3_close(db);
}

static int setup(const config *cfg) {
  sqlite3 *db = NULL;
  char err[512];
  int rc;
  if (open_db(cfg, -1, &db, err, sizeof err) != SQLITE_OK) {
    fprintf(stderr, "concurrency: %s\n", err);
    return 1;
  }
  rc = exec(db, "PRAGMA journal_mode=WAL");
  if (rc == SQLITE_OK) {
    rc = exec(db, "CREATE VIRTUAL TABLE t USING lsm(k TEXT PRIMARY KEY, v INTEGER, "
                  "memtable_size=16384, block_size=1024)");
  }
  if (rc != SQLITE_OK) fprintf(stderr, "concurrency: setup: %s\n", sqlite3_errmsg(db));
  sqlite3_close(db);
  return rc != SQLITE_OK;
}

static void usage(void) {
  fprintf(stderr,
          "usage: concurrency --so PATH (--threads N | --procs N) [--ops N] [--seed N] [--dir D]\n"
          "                   [--strict | --no-strict] [--separate-dbs | --shared-db]\n");
  exit(2);
}

int main(int argc, char **argv) {
  config cfg = {"./lsm_vtab.so", NULL, 4, 0, 2000, -1, -1, 1};
  worker wk[MAX_WORKERS];
  result total, fin;
  char tmpl[] = "/tmp/lsm-concurrency-XXXXXX";
  int i, writers = 0;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--strict") == 0 || strcmp(a, "--no-strict") == 0) {
      cfg.strict = strcmp(a, "--strict") == 0;
      continue;
    }
    if (strcmp(a, "--separate-dbs") == 0 || strcmp(a, "--shared-db") == 0) {
      cfg.separate_dbs = strcmp(a, "--separate-dbs") == 0;
      continue;
    }
    if (!v) usage();
    if (strcmp(a, "--so") == 0) cfg.so = v;
    else if (strcmp(a, "--threads") == 0) { cfg.workers = atoi(v); cfg.use_procs = 0; }
    else if (strcmp(a, "--procs") == 0) { cfg.workers = atoi(v); cfg.use_procs = 1; }
    else if (strcmp(a, "--ops") == 0) cfg.ops = atoi(v);
    else if (strcmp(a, "--seed") == 0) cfg.seed = strtoull(v, NULL, 0);
    else if (strcmp(a, "--dir") == 0) cfg.dir = v;
    else usage();
    i++;
  }
  if (cfg.workers < 1 || cfg.workers > MAX_WORKERS || cfg.ops < 1) usage();
  if (cfg.strict < 0) cfg.strict = cfg.use_procs;
  if (cfg.separate_dbs < 0) cfg.separate_dbs = cfg.use_procs;
  if (!cfg.dir && !(cfg.dir = mkdtemp(tmpl))) {
    perror("concurrency: mkdtemp");
    return 1;
  }
  if (setup(&cfg)) return 1;
  for (i = 0; i < cfg.workers; i++) {
    wk[i].cfg = &cfg;
    wk[i].id = i;
    memset(&wk[i].res, 0, sizeof wk[i].res);
  }
  if (cfg.use_procs) {
    if (run_procs(&cfg, wk) < 0) {
      perror("concurrency: fork");
      return 1;
    }
  } else {
    for (i = 0; i < cfg.workers; i++) pthread_create(&wk[i].thread, NULL, thread_main, &wk[i]);
    for (i = 0; i < cfg.workers; i++) pthread_join(wk[i].thread, NULL);
  }
  memset(&total, 0, sizeof total);
  memset(&fin, 0, sizeof fin);
  for (i = 0; i < cfg.workers; i++) {
    total.commits += wk[i].res.commits;
    total.reads += wk[i].res.reads;
    total.busy += wk[i].res.busy;
    total.read_busy += wk[i].res.read_busy;
    total.failures += wk[i].res.failures;
    if (wk[i].res.commits > 0) writers++;
    if (wk[i].res.first_error[0]) fprintf(stderr, "concurrency: %s\n", wk[i].res.first_error);
  }
  if (cfg.strict && total.read_busy > 0) {
    fprintf(stderr, "concurrency: %ld reads got SQLITE_BUSY (readers must never wait)\n",
            total.read_busy);
    total.failures++;
  }
  if (cfg.strict && writers < cfg.workers - 1) {
    fprintf(stderr, "concurrency: only %d of %d workers committed anything\n", writers,
            cfg.workers);
    total.failures++;
  }
  final_check(&cfg, wk, &fin);
  if (fin.first_error[0]) fprintf(stderr, "concurrency: %s\n", fin.first_error);
  total.failures += fin.failures;
  printf("concurrency(%s%s%s): %d workers x %d ops, %d wrote, %ld commits, %ld reads checked, "
         "%ld busy retries (%ld reads), integrity-check %s, %ld failures (dir %s)\n",
         cfg.use_procs ? "processes" : "threads", cfg.separate_dbs ? ", separate dbs" : "",
         cfg.strict ? ", strict" : "", cfg.workers,
         cfg.ops, writers, total.commits, total.reads, total.busy, total.read_busy,
         fin.failures ? "FAILED" : "ok", total.failures, cfg.dir);
  if (cfg.dir == tmpl && total.failures == 0) {
    /* Our own scratch directory (mkdtemp: no shell metacharacters). */
    char cmd[sizeof tmpl + 16];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpl);
    if (system(cmd) != 0) fprintf(stderr, "concurrency: could not remove %s\n", tmpl);
  }
  return total.failures ? 1 : 0;
}
