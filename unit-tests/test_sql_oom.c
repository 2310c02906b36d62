/*
** test_sql_oom.c — out-of-memory injection through the SQL layer and the
** extension (issue 5): failing the Nth allocation anywhere — in SQLite, in
** the lsm module, in the ext/ helpers or in the engine — makes the SQL
** statement that needed it fail with SQLITE_NOMEM (or succeed, where the
** failure is one SQLite or the module can absorb), never crash, never
** return wrong rows, never lose or half-apply a committed transaction, and
** leak nothing.
**
** The program links the extension statically (lsm_vtab.o, the ext/ and
** lsm/ objects) against libsqlite3 and registers it with
** sqlite3_auto_extension(), so every connection has the lsm module.
** Allocations are counted and failed in two places, on one counter:
**   - SQLite's: sqlite3_config(SQLITE_CONFIG_MALLOC) installs wrappers
**     around SQLite's default allocator (configured in main(), before
**     sqlite3_initialize());
**   - the module's and the engine's own malloc/calloc/realloc/strdup: the
**     program is linked with -Wl,--wrap=... (the Makefile's OOM_LDWRAP, as
**     for test_oom), so those calls from the statically linked objects go
**     to the __wrap_ functions below.
** libc's internal allocations (realpath(), opendir(), nftw()) are neither
** counted nor failed.  The counter is the one piece of global mutable state
** here: neither allocator hook has room for a context.
**
** The script (steps[] below) runs on a database file in a fresh directory:
** three lsm tables on disk (a TEXT key, a composite key, an INTEGER PRIMARY
** KEY) with 4 KiB memtables; a transaction with INSERT ... SELECT, a
** savepoint rolled back to, a released one, reads inside the transaction;
** autocommit INSERTs that flush and compact; UPDATEs (one moving keys),
** DELETEs, INSERT OR REPLACE / OR IGNORE; point, range, IN, full-scan and
** ORDER BY DESC reads; the flush, compact and integrity-check commands;
** SELECT * FROM lsm_stats('t1'); closing and reopening the connection
** (recovery from the log); more writes and reads after it.
**
** The model is a twin: a second, in-memory connection holding the same
** tables as native tables.  A statement that succeeds on the lsm side is
** run on the twin (with allocation failures paused); a query's rows must
** equal the twin's.  A statement that fails must fail with an error whose
** primary code is SQLITE_NOMEM; then SQLite has either rolled the
** statement back (the transaction stays open: nothing to mirror) or the
** whole transaction (sqlite3_get_autocommit() says so: the twin rolls back
** too).  A COMMIT that fails while the transaction stays open, and a
** failed RELEASE or ROLLBACK TO, are retried once (the one injected fault
** has been spent), as are a failed CREATE VIRTUAL TABLE and a failed open.
**
** One case the test tolerates, because it is not a failure of this module:
**   - lsm_write() fails with LSM_NOMEM *after* the transaction's log record
**     was written, when the memtable insert runs out of memory ("memtable
**     insert failed after logging").  The COMMIT reports SQLITE_NOMEM, the
**     table refuses writes until it is reopened, and the reopened table
**     holds the transaction (the log has it).  The test recognises the
**     message, mirrors the transaction as committed, reopens the connection
**     and counts the case ("committed after NOMEM" in the coverage line).
** Nothing is tolerated for xCommit: the module commits in xSync (whose
** error fails the COMMIT) and its xCommit only releases state, so there is
** no allocation there whose failure SQLite could not report.
** Transactions touch one table each: a transaction that writes several lsm
** tables commits them one after the other in xSync (a documented
** difference from native tables), so a failure between two of them cannot
** be all-or-nothing.
**
** After the script, with failures off: the database is reopened and every
** table must equal its twin (exactly the committed rows), the table's
** integrity-check command must pass, and every engine must have been
** closed (no instance of its directory is open).
**
** The loop: one unarmed run checks that the script reaches flushes and
** compactions (it reads the engine's counters after every step), another
** counts the allocations (A).  Then, for fault points N in
** 1..A, a forked child (lsm_test_forked: a crash, hang or sanitizer report
** fails that N) runs the script failing allocation N, then verifies.  Each
** child leaves through exit(), so in the ASan build LeakSanitizer checks
** every case.  `make test` visits every k-th point (k chosen so that about
** SQL_OOM_SHORT_POINTS are visited, starting at an offset drawn from the
** seed, default 1, LSM_TEST_SEED to change); LSM_TORTURE=1 visits all of
** them.  LSM_SQL_OOM_ONLY=N reruns one point in this process and prints
** every step (under a debugger, say).  The loop prints
**   coverage: sql-oom: X of A fault points (...), L leaks, C lost commits
*/
#include <check.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lsm.h"
#include "shm.h"        /* lsm_shm_open(LSM_SHM_EXCLUSIVE): is an instance open? */
#include "workload.h"   /* lsm_test_forked, lsm_test_enter_fast_dir, ... */

int sqlite3_lsmvtab_init(sqlite3 *db, char **pzErrMsg, const sqlite3_api_routines *pApi);

#define SQL_OOM_SHORT_POINTS 300   /* fault points visited by make test */
#define CASE_DIR "case"            /* one name for every case: allocation
                                      counts must not depend on N */

/* ---------------------------------------------------------------- allocator */

#include "oom_inject.h"   /* the wrappers, oom_arm, oom_disarm; oom_paused:
                              twin work */

static atomic_ulong oom_sqlite_calls;    /* ... of them SQLite's */

/* SQLite's default allocator, wrapped. */
static sqlite3_mem_methods default_mem;

static void *mem_malloc(int n) {
  if (atomic_load(&oom_counting) && !atomic_load(&oom_paused)) atomic_fetch_add(&oom_sqlite_calls, 1);
  if (oom_should_fail()) return NULL;
  return default_mem.xMalloc(n);
}

static void mem_free(void *p) {
  default_mem.xFree(p);
}

static void *mem_realloc(void *p, int n) {
  if (atomic_load(&oom_counting) && !atomic_load(&oom_paused)) atomic_fetch_add(&oom_sqlite_calls, 1);
  if (oom_should_fail()) return NULL;
  return default_mem.xRealloc(p, n);
}

static int mem_size(void *p) {
  return default_mem.xSize(p);
}

static int mem_roundup(int n) {
  return default_mem.xRoundup(n);
}

static int mem_init(void *app) {
  (void)app;
  return default_mem.xInit(default_mem.pAppData);
}

static void mem_shutdown(void *app) {
  (void)app;
  default_mem.xShutdown(default_mem.pAppData);
}

static int install_sqlite_allocator(void) {
  static sqlite3_mem_methods wrapped = {
    mem_malloc, mem_free, mem_realloc, mem_size, mem_roundup, mem_init, mem_shutdown, NULL,
  };
  int rc = sqlite3_config(SQLITE_CONFIG_GETMALLOC, &default_mem);
  if (rc == SQLITE_OK) rc = sqlite3_config(SQLITE_CONFIG_MALLOC, &wrapped);
  return rc;
}

/* oom_arm, and SQLite's share of the count from zero too. */
static void oom_arm_all(unsigned long fail_at) {
  atomic_store(&oom_sqlite_calls, 0);
  oom_arm(fail_at);
}

/* ---------------------------------------------------------------- script */

enum {
  S_CREATE,      /* CREATE VIRTUAL TABLE (twin: the native table); retried */
  S_WRITE,       /* a write, mirrored on the twin when it succeeds */
  S_QUERY,       /* rows compared with the twin's */
  S_COMMAND,     /* INSERT INTO t(t) VALUES('...'): lsm only */
  S_STATS,       /* SELECT ... FROM lsm_stats: lsm only, 7 levels */
  S_BEGIN,
  S_SAVEPOINT,
  S_RELEASE,
  S_ROLLBACK_TO,
  S_COMMIT,
  S_REOPEN,      /* close the connection and open it again */
  S_RENAME,      /* ALTER TABLE ... RENAME (twin_sql: the new name); retried */
  S_DROP         /* DROP TABLE; retried */
};

typedef struct step {
  int kind;
  const char *sql;
  const char *twin_sql;      /* S_CREATE: the native table */
} step;

#define CTE(n) "WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i+1 FROM c WHERE i<" #n ") "

/* Every table runs its flushes and compactions inline (background=off):
** with the engine's background thread the allocations of a run would
** interleave differently every time, and the loop needs the Nth one to be
** the same place in every run. */
static const step steps[] = {
  {S_CREATE, "CREATE VIRTUAL TABLE t1 USING lsm(k TEXT PRIMARY KEY, v TEXT, "
             "memtable_size=4096, block_size=512, background=off)",
   "CREATE TABLE t1(k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID"},
  {S_CREATE, "CREATE VIRTUAL TABLE t2 USING lsm(a INTEGER, b TEXT, c BLOB, "
             "PRIMARY KEY(a, b), memtable_size=4096, background=off)",
   "CREATE TABLE t2(a INTEGER, b TEXT, c BLOB, PRIMARY KEY(a, b)) WITHOUT ROWID"},
  {S_CREATE, "CREATE VIRTUAL TABLE t3 USING lsm(id INTEGER PRIMARY KEY, x REAL, y TEXT, "
             "memtable_size=4096, background=off)",
   "CREATE TABLE t3(id INTEGER PRIMARY KEY, x REAL, y TEXT)"},

  /* A transaction with savepoints on t1. */
  {S_BEGIN, "BEGIN", NULL},
  {S_WRITE, CTE(39) "INSERT INTO t1 SELECT printf('k%03d', i), printf('v%03d-%.*c', i, 20 + i % 50, 'x') "
            "FROM c", NULL},
  {S_SAVEPOINT, "SAVEPOINT sp1", NULL},
  {S_WRITE, CTE(9) "INSERT INTO t1 SELECT printf('k%03d', 40 + i), 'in-sp1' FROM c", NULL},
  {S_WRITE, "UPDATE t1 SET v = v || '+u' WHERE k BETWEEN 'k005' AND 'k012'", NULL},
  {S_QUERY, "SELECT k, v FROM t1 WHERE k >= 'k004' AND k < 'k014'", NULL},
  {S_ROLLBACK_TO, "ROLLBACK TO sp1", NULL},
  {S_WRITE, "INSERT INTO t1 VALUES('k050', 'single')", NULL},
  {S_RELEASE, "RELEASE sp1", NULL},
  {S_QUERY, "SELECT k, v FROM t1 WHERE k = 'k003'", NULL},
  {S_QUERY, "SELECT k FROM t1 WHERE k >= 'k010' AND k < 'k020'", NULL},
  {S_COMMIT, "COMMIT", NULL},

  /* Autocommit writes: each commits, the memtable fills and flushes. */
  {S_WRITE, CTE(39) "INSERT INTO t1 SELECT printf('k%03d', 100 + i), printf('w%03d-%.*c', i, 60 + i % 40, 'y') "
            "FROM c", NULL},
  {S_WRITE, CTE(39) "INSERT INTO t1 SELECT printf('k%03d', 140 + i), printf('z%03d-%.*c', i, 80, 'z') "
            "FROM c", NULL},
  {S_WRITE, "UPDATE t1 SET v = 'upd-' || k WHERE k BETWEEN 'k100' AND 'k119'", NULL},
  {S_WRITE, "UPDATE t1 SET k = 'm' || substr(k, 2) WHERE k BETWEEN 'k020' AND 'k024'", NULL},
  {S_WRITE, "DELETE FROM t1 WHERE k BETWEEN 'k030' AND 'k034'", NULL},
  {S_WRITE, "DELETE FROM t1 WHERE k IN ('k001', 'k002', 'k140')", NULL},
  {S_WRITE, "INSERT OR REPLACE INTO t1 VALUES('k000', 'replaced'), ('r001', 'new')", NULL},
  {S_WRITE, "INSERT OR IGNORE INTO t1 VALUES('k003', 'ignored'), ('i001', 'inserted')", NULL},
  {S_QUERY, "SELECT k, v FROM t1 WHERE k = 'k010'", NULL},
  {S_QUERY, "SELECT k, v FROM t1 WHERE k IN ('k004', 'k050', 'm021', 'zzz')", NULL},
  {S_QUERY, "SELECT k FROM t1 WHERE k BETWEEN 'k100' AND 'k160'", NULL},
  {S_QUERY, "SELECT count(*), sum(length(v)) FROM t1", NULL},
  {S_QUERY, "SELECT k, v FROM t1 ORDER BY k DESC", NULL},
  {S_COMMAND, "INSERT INTO t1(t1) VALUES('flush')", NULL},
  {S_STATS, "SELECT level, files, entries, memtable_entries FROM lsm_stats('t1')", NULL},

  /* The composite key. */
  {S_BEGIN, "BEGIN", NULL},
  {S_WRITE, CTE(49) "INSERT INTO t2 SELECT i / 5, char(97 + i % 5), CASE i % 3 WHEN 0 THEN NULL "
            "WHEN 1 THEN zeroblob(i % 5) ELSE CAST(printf('blob%d', i) AS BLOB) END FROM c", NULL},
  {S_WRITE, "UPDATE t2 SET c = NULL WHERE a = 2", NULL},
  {S_WRITE, "UPDATE t2 SET b = b || 'm' WHERE a = 3 AND b IN ('a', 'b')", NULL},
  {S_WRITE, "DELETE FROM t2 WHERE a = 4 AND b > 'c'", NULL},
  {S_QUERY, "SELECT a, b, c FROM t2 WHERE a = 3", NULL},
  {S_COMMIT, "COMMIT", NULL},
  {S_QUERY, "SELECT a, b, c FROM t2 WHERE a = 1", NULL},
  {S_QUERY, "SELECT a, b FROM t2 WHERE a = 3 AND b = 'am'", NULL},
  {S_QUERY, "SELECT a, b FROM t2 WHERE a IN (0, 5, 9) ORDER BY a DESC, b DESC", NULL},
  {S_QUERY, "SELECT * FROM t2 ORDER BY a, b", NULL},

  /* The INTEGER PRIMARY KEY. */
  {S_WRITE, CTE(59) "INSERT INTO t3(x, y) SELECT i * 0.5, printf('y%d', i) FROM c", NULL},
  {S_WRITE, "INSERT INTO t3 VALUES(1000, 1.5, 'big')", NULL},
  {S_WRITE, "INSERT INTO t3(x, y) VALUES(2.5, 'after-big')", NULL},
  {S_WRITE, "UPDATE t3 SET id = id + 500 WHERE id BETWEEN 3 AND 5", NULL},
  {S_WRITE, "DELETE FROM t3 WHERE id % 7 = 0", NULL},
  {S_QUERY, "SELECT * FROM t3 WHERE id BETWEEN 10 AND 20", NULL},
  {S_QUERY, "SELECT * FROM t3 WHERE id = 1001", NULL},
  {S_QUERY, "SELECT id FROM t3 ORDER BY id DESC", NULL},

  /* A NOCASE key, OR REPLACE moving a row onto another, a self-insert,
  ** LIMIT / OFFSET, IN inside a transaction, RENAME, and DROP. */
  {S_CREATE, "CREATE VIRTUAL TABLE t4 USING lsm(name TEXT PRIMARY KEY COLLATE NOCASE, n INTEGER, "
             "background=off)",
   "CREATE TABLE t4(name TEXT PRIMARY KEY COLLATE NOCASE, n INTEGER) WITHOUT ROWID"},
  {S_WRITE, "INSERT INTO t4 VALUES('Alpha', 1), ('beta', 2), ('GAMMA', 3), ('delta', 4)", NULL},
  {S_WRITE, "INSERT OR REPLACE INTO t4 VALUES('ALPHA', 10)", NULL},
  {S_WRITE, "UPDATE OR REPLACE t4 SET name = 'gamma' WHERE name = 'delta'", NULL},
  {S_WRITE, "INSERT INTO t4 SELECT name || '-copy', n * 100 FROM t4", NULL},
  {S_QUERY, "SELECT name, n FROM t4 WHERE name >= 'b' ORDER BY name LIMIT 3 OFFSET 1", NULL},
  {S_BEGIN, "BEGIN", NULL},
  {S_WRITE, "INSERT INTO t4 VALUES('epsilon', 5)", NULL},
  {S_QUERY, "SELECT name, n FROM t4 WHERE name IN ('Epsilon', 'alpha', 'zeta')", NULL},
  {S_COMMIT, "COMMIT", NULL},
  {S_RENAME, "ALTER TABLE t4 RENAME TO u4", "u4"},
  {S_WRITE, "DELETE FROM u4 WHERE n > 100", NULL},
  {S_QUERY, "SELECT * FROM u4 ORDER BY name DESC", NULL},
  {S_CREATE, "CREATE VIRTUAL TABLE t5 USING lsm(a, b, background=off)", "CREATE TABLE t5(a, b)"},
  {S_WRITE, "INSERT INTO t5 VALUES(1, 2), ('x', x'00')", NULL},
  {S_DROP, "DROP TABLE t5", NULL},

  /* Maintenance. */
  {S_COMMAND, "INSERT INTO t1(t1) VALUES('compact')", NULL},
  {S_COMMAND, "INSERT INTO t2(t2) VALUES('flush')", NULL},
  {S_COMMAND, "INSERT INTO t1(t1) VALUES('integrity-check')", NULL},
  {S_COMMAND, "INSERT INTO t3(t3) VALUES('integrity-check')", NULL},
  {S_QUERY, "SELECT k, v FROM t1 WHERE k > 'k150' ORDER BY k DESC", NULL},

  /* Left in the logs, then recovered by the reopen. */
  {S_WRITE, CTE(19) "INSERT INTO t1 SELECT printf('k%03d', 200 + i), 'late' FROM c", NULL},
  {S_WRITE, "INSERT INTO t3(x, y) VALUES(9.5, 'late')", NULL},
  {S_WRITE, "UPDATE t2 SET c = x'ff' WHERE a = 0", NULL},
  {S_REOPEN, NULL, NULL},
  {S_QUERY, "SELECT k, v FROM t1 ORDER BY k", NULL},
  {S_QUERY, "SELECT * FROM t2 ORDER BY a DESC, b DESC", NULL},
  {S_QUERY, "SELECT id, x, y FROM t3 WHERE id > 1000", NULL},
  {S_BEGIN, "BEGIN", NULL},
  {S_WRITE, "INSERT INTO t1 VALUES('k300', 'after-reopen')", NULL},
  {S_WRITE, "DELETE FROM t1 WHERE k BETWEEN 'k200' AND 'k209'", NULL},
  {S_COMMIT, "COMMIT", NULL},
  {S_WRITE, "DELETE FROM t3 WHERE id < 10", NULL},
  {S_QUERY, "SELECT count(*) FROM t1 WHERE k >= 'k200'", NULL},
  {S_STATS, "SELECT level, files, entries, memtable_entries FROM lsm_stats('t3')", NULL},
};

#define N_STEPS ((int)(sizeof steps / sizeof steps[0]))
#define N_TABLES 6
static const char *const table_names[N_TABLES] = {"t1", "t2", "t3", "t4", "u4", "t5"};
/* The directory of each (a rename moves the directory; after a rename
** SQLite rolled back, t4's data is where its note says: table_dir()). */
static const char *const table_dirs[N_TABLES] = {"t1", "t2", "t3", "t4", "u4", "t5"};
/* Where table t's data is: its directory, or after a rename SQLite rolled
** back, the directory its note (<db>-lsm/.alias-<name>) names. */
static void table_dir(int t, char *dir, size_t n) {
  char note[128], target[48];
  size_t got = 0;
  FILE *f;
  snprintf(dir, n, CASE_DIR "/t.db-lsm/%s", table_dirs[t]);
  if (access(dir, F_OK) == 0) return;
  snprintf(note, sizeof note, CASE_DIR "/t.db-lsm/.alias-%s", table_names[t]);
  f = fopen(note, "rb");
  if (!f) return;
  got = fread(target, 1, sizeof target - 1, f);
  fclose(f);
  target[got] = 0;
  snprintf(dir, n, CASE_DIR "/t.db-lsm/%s", target);
}

static const char *const table_dumps[N_TABLES] = {
  "SELECT k, v FROM t1 ORDER BY k",
  "SELECT a, b, c FROM t2 ORDER BY a, b",
  "SELECT id, x, y FROM t3 ORDER BY id",
  "SELECT name, n FROM t4 ORDER BY name",
  "SELECT name, n FROM u4 ORDER BY name",
  "SELECT rowid, a, b FROM t5 ORDER BY rowid",
};

/* ---------------------------------------------------------------- run state */

typedef struct text {
  char *p;
  size_t n, cap;
} text;

typedef struct oom_run {
  sqlite3 *db;               /* the lsm side; NULL when not open */
  sqlite3 *twin;             /* native tables; allocations never fail */
  int verbose;
  int have[N_TABLES];        /* CREATE succeeded (the twin has it) */
  int sp_open;               /* SAVEPOINT sp1 is open */
  int step;                  /* current step, for messages */
  int violation;
  char msg[1024];
  long nomem;                /* statements that failed with SQLITE_NOMEM */
  long logged;               /* commits that failed after logging */
  int read_stats;            /* the unarmed run: add up the counters */
  long flushes, compactions; /* of t1, from lsm_stats */
  long seg_flushes, seg_compactions;  /* ... since the engine was opened */
  text got, want;            /* query results */
} oom_run;

/* The test's own buffers use the real allocator (this file is linked with
** the wrap too), so they neither count nor fail. */
static void text_reset(text *t) {
  t->n = 0;
  if (t->p) t->p[0] = 0;
}

static void text_add(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void text_add(text *t, const char *fmt, ...) {
  va_list ap;
  int n;
  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (t->n + (size_t)n + 1 > t->cap) {
    size_t cap = t->cap ? t->cap : 256;
    char *p;
    while (cap < t->n + (size_t)n + 1) cap *= 2;
    p = __real_realloc(t->p, cap);
    if (p == NULL) abort();
    t->p = p;
    t->cap = cap;
  }
  va_start(ap, fmt);
  vsnprintf(t->p + t->n, t->cap - t->n, fmt, ap);
  va_end(ap);
  t->n += (size_t)n;
}

static void text_free(text *t) {
  free(t->p);
  memset(t, 0, sizeof *t);
}

static void violation(oom_run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void violation(oom_run *r, const char *fmt, ...) {
  if (!r->violation) {
    char tmp[900];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (r->step >= 0 && r->step < N_STEPS) {
      snprintf(r->msg, sizeof r->msg, "step %d (%.60s): %s", r->step,
               steps[r->step].sql ? steps[r->step].sql : "reopen", tmp);
    } else {
      snprintf(r->msg, sizeof r->msg, "%s", tmp);
    }
  }
  r->violation = 1;
}

/* Twin work is never failed (nor counted). */
static void pause_faults(void) {
  atomic_fetch_add(&oom_paused, 1);
}

static void resume_faults(void) {
  atomic_fetch_sub(&oom_paused, 1);
}

/* Run sql on db, appending every row to out (if not NULL) as text.
** Returns the SQLite code (SQLITE_OK when it ran to the end); *errmsg gets
** a copy of the error text.  A value that cannot be read (out of memory
** in sqlite3_column_text) fails the statement with SQLITE_NOMEM. */
static int run_sql(sqlite3 *db, const char *sql, text *out, char *errmsg, size_t errmsg_size) {
  sqlite3_stmt *st = NULL;
  int rc, i;
  errmsg[0] = 0;
  if (out) text_reset(out);
  rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
  while (rc == SQLITE_OK) {
    rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
      rc = SQLITE_OK;
      break;
    }
    if (rc != SQLITE_ROW) break;
    rc = SQLITE_OK;
    for (i = 0; out && i < sqlite3_column_count(st); i++) {
      switch (sqlite3_column_type(st, i)) {
        case SQLITE_NULL: text_add(out, "NULL"); break;
        case SQLITE_INTEGER: text_add(out, "%lld", sqlite3_column_int64(st, i)); break;
        case SQLITE_FLOAT: text_add(out, "%.17g", sqlite3_column_double(st, i)); break;
        case SQLITE_TEXT: {
          const unsigned char *z = sqlite3_column_text(st, i);
          if (z == NULL) {
            rc = SQLITE_NOMEM;
            break;
          }
          text_add(out, "'%s'", (const char *)z);
          break;
        }
        default: {
          const unsigned char *b = sqlite3_column_blob(st, i);
          int n = sqlite3_column_bytes(st, i), j;
          if (b == NULL && n > 0) {
            rc = SQLITE_NOMEM;
            break;
          }
          text_add(out, "x'");
          for (j = 0; j < n; j++) text_add(out, "%02x", b[j]);
          text_add(out, "'");
        }
      }
      if (rc != SQLITE_OK) break;
      text_add(out, i + 1 < sqlite3_column_count(st) ? "|" : "\n");
    }
  }
  if (rc != SQLITE_OK) {
    const char *m = sqlite3_errmsg(db);
    if (rc == SQLITE_NOMEM && sqlite3_errcode(db) == SQLITE_OK) m = "out of memory (reading a column)";
    snprintf(errmsg, errmsg_size, "%s", m ? m : "");
  }
  sqlite3_finalize(st);
  return rc;
}

/* Run sql on the twin: it must succeed. */
static void twin_exec(oom_run *r, const char *sql, text *out) {
  char err[512];
  int rc;
  pause_faults();
  rc = run_sql(r->twin, sql, out, err, sizeof err);
  resume_faults();
  if (rc != SQLITE_OK) violation(r, "the twin failed %s: %d %s", sql, rc, err);
}

static int in_txn(sqlite3 *db) {
  return db != NULL && !sqlite3_get_autocommit(db);
}

/* After a statement failed on the lsm side: if SQLite rolled the whole
** transaction back, so does the twin. */
static void follow_rollback(oom_run *r) {
  if (!in_txn(r->db) && in_txn(r->twin)) {
    twin_exec(r, "ROLLBACK", NULL);
    r->sp_open = 0;
  }
}

/* An allowed failure?  NOMEM as the primary code.  Anything else is a
** violation. */
static int check_failure(oom_run *r, int rc, const char *err) {
  if ((rc & 0xff) == SQLITE_NOMEM) {
    r->nomem++;
    if (r->verbose) printf("    -> SQLITE_NOMEM (%d): %s\n", rc, err);
    return 0;
  }
  violation(r, "failed with %d (not SQLITE_NOMEM): %s", rc, err);
  return -1;
}

/* The transaction (or autocommit statement) whose commit failed with this
** message was logged before the engine ran out of memory: it is committed
** for every reader after a reopen (see the top of the file). */
static int committed_after_nomem(const char *err) {
  return strstr(err, "after logging") != NULL;
}

static int open_db(oom_run *r);
static void close_db(oom_run *r);

/* A commit reported SQLITE_NOMEM but the engine had logged it: mirror it
** as committed, then reopen so that the table's engine (which refuses
** writes after such an error) recovers it from the log. */
static void accept_logged_commit(oom_run *r, const char *twin_sql) {
  r->logged++;
  if (in_txn(r->twin)) twin_exec(r, "COMMIT", NULL);
  else if (twin_sql) twin_exec(r, twin_sql, NULL);
  r->sp_open = 0;
  close_db(r);
  if (open_db(r) != SQLITE_OK) violation(r, "reopen after a commit failed after logging failed");
}

static int slot_of(const char *name) {
  int t;
  for (t = 0; t < N_TABLES; t++) {
    if (strcmp(table_names[t], name) == 0) return t;
  }
  return -1;
}

/* The first table the statement names (after a space). */
static int table_of(const char *sql) {
  int t;
  for (t = 0; t < N_TABLES; t++) {
    char name[8];
    snprintf(name, sizeof name, " %s", table_names[t]);
    if (strstr(sql, name)) return t;
  }
  return -1;
}

static int open_db(oom_run *r) {
  int rc, attempt;
  for (attempt = 0; attempt < 2; attempt++) {
    rc = sqlite3_open_v2(CASE_DIR "/t.db", &r->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc == SQLITE_OK) {
      sqlite3_extended_result_codes(r->db, 1);
      return SQLITE_OK;
    }
    if (check_failure(r, rc, r->db ? sqlite3_errmsg(r->db) : "no handle") != 0) {
      sqlite3_close(r->db);
      r->db = NULL;
      return rc;
    }
    sqlite3_close(r->db);
    r->db = NULL;
  }
  return rc;
}

static void close_db(oom_run *r) {
  if (r->db) {
    int rc = sqlite3_close(r->db);
    if (rc != SQLITE_OK) violation(r, "sqlite3_close failed: %d %s", rc, sqlite3_errmsg(r->db));
  }
  r->db = NULL;
  if (in_txn(r->twin)) twin_exec(r, "ROLLBACK", NULL);
  r->sp_open = 0;
}

static void read_counters(oom_run *r);

/* With the one fault spent: table slot t must read exactly like its twin. */
static void check_table(oom_run *r, int t, const char *after) {
  char err[512];
  int rc = run_sql(r->db, table_dumps[t], &r->got, err, sizeof err);
  if (rc != SQLITE_OK) {
    violation(r, "after %s, reading %s fails: %d %s", after, table_names[t], rc, err);
    return;
  }
  twin_exec(r, table_dumps[t], &r->want);
  if (!r->violation && strcmp(r->got.p ? r->got.p : "", r->want.p ? r->want.p : "") != 0) {
    violation(r, "after %s, %s reads wrong rows:\n--- lsm\n%.300s--- native\n%.300s", after,
              table_names[t], r->got.p ? r->got.p : "", r->want.p ? r->want.p : "");
  }
}

/* Run one step. */
static void run_step(oom_run *r, const step *s) {
  char err[512];
  int rc, attempt, t;
  if (s->kind == S_REOPEN) {
    close_db(r);
    open_db(r);
    return;
  }
  if (r->db == NULL) return;       /* the open failed (reported) */
  t = table_of(s->sql);
  if (t >= 0 && !r->have[t] && s->kind != S_CREATE) return;
  switch (s->kind) {
    case S_RENAME:
    case S_DROP:
      /* A failed RENAME must leave the table as it was (the module renamed
      ** its directory in xRename, which SQLite may undo by failing
      ** later); a failed DROP may have removed the data already (README:
      ** DROP removes the data at once), so only its retry is checked. */
      for (attempt = 0; attempt < 2 && !r->violation; attempt++) {
        rc = run_sql(r->db, s->sql, NULL, err, sizeof err);
        if (rc == SQLITE_OK) {
          twin_exec(r, s->sql, NULL);
          if (s->kind == S_RENAME) r->have[slot_of(s->twin_sql)] = 1;
          r->have[t] = 0;
          return;
        }
        if (check_failure(r, rc, err) != 0) return;
        follow_rollback(r);
        if (s->kind == S_RENAME) check_table(r, t, "a failed RENAME");
      }
      return;
    case S_CREATE:
      for (attempt = 0; attempt < 2 && !r->violation; attempt++) {
        rc = run_sql(r->db, s->sql, NULL, err, sizeof err);
        if (rc == SQLITE_OK) {
          twin_exec(r, s->twin_sql, NULL);
          r->have[t] = 1;
          return;
        }
        if (check_failure(r, rc, err) == 0) follow_rollback(r);
      }
      return;
    case S_WRITE:
      rc = run_sql(r->db, s->sql, NULL, err, sizeof err);
      if (rc == SQLITE_OK) {
        twin_exec(r, s->sql, NULL);
      } else if (check_failure(r, rc, err) == 0) {
        if (committed_after_nomem(err) && !in_txn(r->twin)) accept_logged_commit(r, s->sql);
        else follow_rollback(r);
      }
      return;
    case S_QUERY:
      rc = run_sql(r->db, s->sql, &r->got, err, sizeof err);
      if (rc == SQLITE_OK) {
        twin_exec(r, s->sql, &r->want);
        if (!r->violation && strcmp(r->got.p ? r->got.p : "", r->want.p ? r->want.p : "") != 0) {
          violation(r, "wrong rows:\n--- lsm\n%.300s--- native\n%.300s", r->got.p ? r->got.p : "",
                    r->want.p ? r->want.p : "");
        }
      } else if (check_failure(r, rc, err) == 0) {
        follow_rollback(r);
      }
      return;
    case S_COMMAND:
      rc = run_sql(r->db, s->sql, NULL, err, sizeof err);
      if (rc != SQLITE_OK && check_failure(r, rc, err) == 0) follow_rollback(r);
      return;
    case S_STATS:
      rc = run_sql(r->db, s->sql, &r->got, err, sizeof err);
      if (rc == SQLITE_OK) {
        int lines = 0;
        const char *p;
        for (p = r->got.p ? r->got.p : ""; *p; p++) lines += *p == '\n';
        if (lines != LSM_MAX_LEVELS) violation(r, "lsm_stats returned %d rows", lines);
      } else if (check_failure(r, rc, err) == 0) {
        follow_rollback(r);
      }
      return;
    case S_BEGIN:
    case S_SAVEPOINT:
      if (s->kind == S_BEGIN && in_txn(r->db)) {
        violation(r, "BEGIN inside a transaction (test bug)");
        return;
      }
      rc = run_sql(r->db, s->sql, NULL, err, sizeof err);
      if (rc == SQLITE_OK) {
        twin_exec(r, s->sql, NULL);
        if (s->kind == S_SAVEPOINT) r->sp_open = 1;
      } else if (check_failure(r, rc, err) == 0) {
        follow_rollback(r);
      }
      return;
    case S_RELEASE:
    case S_ROLLBACK_TO:
    case S_COMMIT:
      if (s->kind == S_COMMIT ? !in_txn(r->db) : !r->sp_open) return;   /* gone already */
      for (attempt = 0; attempt < 2 && !r->violation; attempt++) {
        rc = run_sql(r->db, s->sql, NULL, err, sizeof err);
        if (rc == SQLITE_OK) {
          twin_exec(r, s->sql, NULL);
          if (s->kind == S_RELEASE) r->sp_open = 0;
          if (s->kind == S_COMMIT) r->sp_open = 0;
          return;
        }
        if (check_failure(r, rc, err) != 0) return;
        if (s->kind == S_COMMIT && committed_after_nomem(err)) {
          accept_logged_commit(r, NULL);
          return;
        }
        follow_rollback(r);
        if (!in_txn(r->db)) return;      /* rolled back: nothing to retry */
      }
      return;
  }
}

/* The unarmed run reads t1's engine counters after every step.  They are
** totals since the engine was opened, and it is opened anew after every
** close and every schema change (SQLite reconnects every table), so the
** run's total is the sum of the last value before each drop. */
static void read_counters(oom_run *r) {
  char err[256];
  long f = 0, c = 0;
  int rc;
  if (r->db == NULL || !r->have[0]) return;
  pause_faults();       /* the armed runs do not make these calls */
  rc = run_sql(r->db, "SELECT max(flushes), max(compactions) FROM lsm_stats('t1')", &r->got, err,
               sizeof err);
  resume_faults();
  if (rc == SQLITE_OK && r->got.p && sscanf(r->got.p, "%ld|%ld", &f, &c) == 2) {
    if (f < r->seg_flushes || c < r->seg_compactions) {
      r->flushes += r->seg_flushes;
      r->compactions += r->seg_compactions;
    }
    r->seg_flushes = f;
    r->seg_compactions = c;
  }
}

static void oom_script(oom_run *r, int read_stats) {
  int i;
  r->read_stats = read_stats;
  pause_faults();
  if (sqlite3_open(":memory:", &r->twin) != SQLITE_OK) violation(r, "cannot open the twin");
  resume_faults();
  if (r->violation) return;
  r->step = -1;
  if (open_db(r) != SQLITE_OK) return;
  for (i = 0; i < N_STEPS && !r->violation; i++) {
    r->step = i;
    if (r->verbose) printf("step %d: %s\n", i, steps[i].sql ? steps[i].sql : "(reopen)");
    run_step(r, &steps[i]);
    if (read_stats && !r->violation) read_counters(r);
  }
  r->step = N_STEPS;
  r->flushes += r->seg_flushes;
  r->compactions += r->seg_compactions;
  close_db(r);
}

/* ---------------------------------------------------------------- verify */

/* With failures off: every table equals its twin, passes integrity-check,
** and its engine was closed.  0, or -1 with msg. */
static int oom_verify(oom_run *r, int *lost, char *msg, size_t msg_size) {
  sqlite3 *db = NULL;
  char err[512];
  int t, rc, result = -1;
  *lost = 0;
  rc = sqlite3_open(CASE_DIR "/t.db", &db);
  if (rc != SQLITE_OK) {
    snprintf(msg, msg_size, "reopen for verification failed: %d", rc);
    goto done;
  }
  for (t = 0; t < N_TABLES; t++) {
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM sqlite_schema WHERE name = '%s'", table_names[t]);
    rc = run_sql(db, sql, &r->got, err, sizeof err);
    if (rc != SQLITE_OK) {
      snprintf(msg, msg_size, "reading the schema: %d %s", rc, err);
      goto done;
    }
    if (atoi(r->got.p) != r->have[t]) {
      snprintf(msg, msg_size, "table %s %s after the run", table_names[t],
               r->have[t] ? "is missing" : "exists (its CREATE failed)");
      goto done;
    }
    if (!r->have[t]) continue;
    rc = run_sql(db, table_dumps[t], &r->got, err, sizeof err);
    if (rc != SQLITE_OK) {
      snprintf(msg, msg_size, "reading %s after the run: %d %s", table_names[t], rc, err);
      goto done;
    }
    twin_exec(r, table_dumps[t], &r->want);
    if (r->violation) {
      snprintf(msg, msg_size, "%s", r->msg);
      goto done;
    }
    if (strcmp(r->got.p ? r->got.p : "", r->want.p ? r->want.p : "") != 0) {
      *lost = 1;
      snprintf(msg, msg_size, "table %s differs from the committed rows after reopen:\n--- lsm\n%.400s"
               "--- committed\n%.400s", table_names[t], r->got.p ? r->got.p : "",
               r->want.p ? r->want.p : "");
      goto done;
    }
    snprintf(sql, sizeof sql, "INSERT INTO %s(%s) VALUES('integrity-check')", table_names[t],
             table_names[t]);
    rc = run_sql(db, sql, NULL, err, sizeof err);
    if (rc != SQLITE_OK) {
      snprintf(msg, msg_size, "integrity-check of %s after the run: %d %s", table_names[t], rc, err);
      goto done;
    }
  }
  rc = sqlite3_close(db);
  db = NULL;
  if (rc != SQLITE_OK) {
    snprintf(msg, msg_size, "closing after verification: %d", rc);
    goto done;
  }
  /* Every engine is closed now: the directory opens, and as its only
  ** instance (an engine left open would be another one). */
  for (t = 0; t < N_TABLES; t++) {
    char dir[128];
    lsm_options o;
    lsm_db *ldb = NULL;
    lsm_shm *shm = NULL;
    int first = 0;
    if (!r->have[t]) continue;
    table_dir(t, dir, sizeof dir);
    rc = lsm_shm_open(NULL, dir, LSM_SHM_EXCLUSIVE, &shm, &first, NULL);
    lsm_shm_close(shm);
    if (rc == LSM_BUSY) {
      snprintf(msg, msg_size, "the engine of %s is still open after every connection closed",
               table_names[t]);
      goto done;
    }
    lsm_options_init(&o);
    o.create_if_missing = 0;
    if (rc == LSM_OK) rc = lsm_open(dir, &o, &ldb);
    lsm_close(ldb);
    if (rc != LSM_OK) {
      snprintf(msg, msg_size, "the directory of %s (%s) does not open: %d", table_names[t], dir, rc);
      goto done;
    }
  }
  result = 0;
done:
  sqlite3_close(db);
  return result;
}

/* ---------------------------------------------------------------- cases */

typedef struct oom_case {
  unsigned long fail_at;     /* 0: the counting run */
  int probe;                 /* a run that reads the engine's counters (the
                                counting run must not: that changes what
                                SQLite allocates) */
  int verbose;
} oom_case;

/* Result codes of a case (>= 0 is not a violation). */
#define CASE_NOT_REACHED 0
#define CASE_OK 1
#define CASE_LOGGED 2        /* ok, and a commit failed after logging */

static int oom_case_run(void *arg, char *msg, size_t msg_size) {
  oom_case *c = arg;
  oom_run *r = calloc(1, sizeof *r);
  unsigned long calls, injected;
  int result = -1, lost = 0;
  if (r == NULL) {
    snprintf(msg, msg_size, "out of memory in the test");
    return -1;
  }
  r->verbose = c->verbose;
  lsm_test_remove_tree(CASE_DIR);
  if (mkdir(CASE_DIR, 0755) != 0) {
    snprintf(msg, msg_size, "cannot create %s", CASE_DIR);
    free(r);
    return -1;
  }
  oom_arm_all(c->fail_at);
  oom_script(r, c->probe);
  oom_disarm();
  calls = atomic_load(&oom_calls);
  injected = atomic_load(&oom_injected);
  if (r->violation) {
    snprintf(msg, msg_size, "during the run: %s", r->msg);
    goto done;
  }
  if (oom_verify(r, &lost, msg, msg_size) != 0) {
    if (lost) {
      size_t n = strlen(msg);
      snprintf(msg + n, msg_size - n, " [lost commit]");
    }
    goto done;
  }
  if (c->probe) {
    if (r->flushes < 3 || r->compactions < 1) {
      snprintf(msg, msg_size, "the script made %ld flushes and %ld compactions of t1: too few",
               r->flushes, r->compactions);
      goto done;
    }
    snprintf(msg, msg_size, "%ld flushes and %ld compactions of t1", r->flushes, r->compactions);
    result = 1;
  } else if (c->fail_at == 0) {
    snprintf(msg, msg_size, "%lu allocations (%lu by SQLite, %lu by the module and the engine)",
             calls, atomic_load(&oom_sqlite_calls), calls - atomic_load(&oom_sqlite_calls));
    result = calls > 0x7fffffffUL ? 0x7fffffff : (int)calls;
  } else {
    result = injected == 0 ? CASE_NOT_REACHED : r->logged ? CASE_LOGGED : CASE_OK;
    snprintf(msg, msg_size, "allocation %lu of %lu failed; %ld statements failed with NOMEM",
             c->fail_at, calls, r->nomem);
  }
done:
  pause_faults();
  if (r->twin) sqlite3_close(r->twin);
  resume_faults();
  text_free(&r->got);
  text_free(&r->want);
  free(r);
  lsm_test_remove_tree(CASE_DIR);
  return result;
}

static unsigned long test_seed(void) {
  const char *s = getenv("LSM_TEST_SEED");
  return s && *s ? strtoul(s, NULL, 10) : 1;
}

START_TEST(sql_oom_every_failed_allocation_fails_a_statement_with_nomem_and_loses_nothing) {
  oom_case c;
  char msg[2048];
  unsigned long total, stride, offset, n, seed = test_seed();
  long visited = 0, failures = 0, leaks = 0, lost = 0, logged = 0;
  double start = lsm_test_now();
  int torture = lsm_test_torture(), a;
  memset(&c, 0, sizeof c);
  c.probe = 1;
  a = lsm_test_forked(oom_case_run, &c, 120, msg, sizeof msg);
  ck_assert_msg(a > 0, "the unarmed run failed: %s", msg);
  printf("sql-oom: unarmed run: %s\n", msg);
  c.probe = 0;
  a = lsm_test_forked(oom_case_run, &c, 120, msg, sizeof msg);
  ck_assert_msg(a > 0, "the counting run failed: %s", msg);
  printf("sql-oom: counting run: %s\n", msg);
  total = (unsigned long)a;
  /* Every point under LSM_TORTURE; otherwise every stride-th one, from an
  ** offset drawn from the seed (deterministic for a given seed). */
  stride = torture || total <= SQL_OOM_SHORT_POINTS ? 1
                                                     : (total + SQL_OOM_SHORT_POINTS - 1) / SQL_OOM_SHORT_POINTS;
  offset = stride > 1 ? (seed * 2654435761UL) % stride : 0;
  printf("sql-oom: seed %lu: %s\n", seed,
         stride == 1 ? "every fault point" : "every stride-th fault point");
  fflush(stdout);
  for (n = 1 + offset; n <= total; n += stride) {
    int rc;
    c.fail_at = n;
    rc = lsm_test_forked(oom_case_run, &c, 120, msg, sizeof msg);
    visited++;
    if (rc < 0) {
      failures++;
      if (strstr(msg, "status 23")) leaks++;   /* LeakSanitizer's exit code */
      if (strstr(msg, "[lost commit]")) lost++;
      printf("sql-oom: FAIL at allocation %lu: %s\n", n, msg);
      printf("sql-oom:   replay: LSM_SQL_OOM_ONLY=%lu\n", n);
      fflush(stdout);
    } else if (rc == CASE_NOT_REACHED) {
      failures++;
      printf("sql-oom: FAIL at allocation %lu: never reached (the script is not deterministic?)\n", n);
    } else if (rc == CASE_LOGGED) {
      logged++;
    }
  }
  if (stride == 1) {
    /* The loop is over when a run meets no injected fault. */
    c.fail_at = total + 1;
    if (lsm_test_forked(oom_case_run, &c, 120, msg, sizeof msg) != CASE_NOT_REACHED) {
      failures++;
      printf("sql-oom: FAIL: allocation %lu (past the end) was reached or failed: %s\n",
             total + 1, msg);
    }
  }
  printf("coverage: sql-oom: %ld of %lu fault points (%s%lu from %lu, seed %lu%s), %ld failures, "
         "%ld leaks%s, %ld lost commits, %ld committed after NOMEM, %.1f s\n",
         visited, total, stride == 1 ? "all: " : "every ", stride, 1 + offset, seed,
         stride == 1 ? "" : "; LSM_TORTURE=1 for all", failures, leaks,
#if defined(__SANITIZE_ADDRESS__)
         "",
#else
         " (no LeakSanitizer in this build)",
#endif
         lost, logged, lsm_test_now() - start);
  fflush(stdout);
  ck_assert_msg(failures == 0, "%ld fault points failed (see above)", failures);
}
END_TEST

static Suite *sql_oom_suite(void) {
  Suite *s = suite_create("sql_oom");
  TCase *tc = tcase_create("sql_oom");
  tcase_set_timeout(tc, lsm_test_torture() ? 72000 : 240);
  tcase_add_test(tc, sql_oom_every_failed_allocation_fails_a_statement_with_nomem_and_loses_nothing);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr;
  int failed;
  const char *only = getenv("LSM_SQL_OOM_ONLY");
  void (*entry)(void) = (void (*)(void))sqlite3_lsmvtab_init;
  /* Before anything initialises SQLite. */
  if (install_sqlite_allocator() != SQLITE_OK || sqlite3_initialize() != SQLITE_OK ||
      sqlite3_auto_extension(entry) != SQLITE_OK) {
    fprintf(stderr, "cannot set up SQLite\n");
    return 1;
  }
  /* Every child leaves through exit(), so LeakSanitizer checks each case. */
  setenv("LSM_TEST_LEAK_EVERY", "1", 0);
  if (only) {
    oom_case c;
    char msg[2048];
    int rc;
    memset(&c, 0, sizeof c);
    c.fail_at = strtoul(only, NULL, 10);
    c.verbose = 1;
    rc = oom_case_run(&c, msg, sizeof msg);
    printf("%s: %s\n", rc < 0 ? "FAIL" : "ok", msg);
    return rc < 0;
  }
  sr = srunner_create(sql_oom_suite());
  lsm_test_enter_fast_dir();
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  lsm_test_leave_fast_dir();
  return failed == 0 ? 0 : 1;
}
