/*
** difftest.c — differential test of the `lsm` virtual table against native
** SQLite tables.
**
**   gcc -std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra sql-tests/difftest.c \
**       -lsqlite3 -o build/difftest
**   build/difftest --seeds 1-40 --ops 2000 --so ./lsm_vtab.so
**
** Idea
**   One on-disk database holds two tables with the same columns and key:
**     lsm_t   CREATE VIRTUAL TABLE lsm_t USING lsm(k T PRIMARY KEY, v, w, ...)
**     nat_t   its native twin: CREATE TABLE nat_t(k T PRIMARY KEY, v, w)
**             WITHOUT ROWID, or a rowid table when the lsm table has no
**             PRIMARY KEY or its key is a rowid alias (a single-column
**             PRIMARY KEY of declared type exactly INTEGER).
**   A seeded generator produces SQL statement *templates* in which "@T"
**   stands for the table.  Every template is run twice on the one
**   connection, once per table, and the two outcomes must be identical:
**   result code, error message (the native message with nat_t replaced by
**   lsm_t), result rows (types and bytes exactly; sorted first unless the
**   statement orders by a total order), sqlite3_changes() of writes,
**   sqlite3_last_insert_rowid(), and whether a transaction is still open.
**   Every --check-every statements, and at the end, the whole tables are
**   compared (SELECT [rowid,] * ... ORDER BY key).  Because both tables live
**   in the same file, every BEGIN/COMMIT/ROLLBACK/SAVEPOINT (run once, not
**   per table) covers both of them.
**
** Operations (struct op)
**   OP_TABLE     a template run on both tables and compared
**   OP_GLOBAL    transaction control, run once; it may only fail with
**                SQLite's own transaction-state messages
**   OP_LSM_ONLY  INSERT INTO t(t) VALUES('flush'|'compact'|'integrity-check'):
**                run on lsm_t only (no-op for the native twin), must succeed
**   OP_REOPEN    close the connection, open it again, reload the extension
**   The generator (struct gen) draws operations from an xorshift PRNG seeded
**   by --seed, and only reads the connection's autocommit state to keep its
**   savepoint model in step.  The executor (struct runner) runs a list of
**   operations and stops at the first difference, so a failing list can be
**   replayed without the generator: that is how a difference is minimised
**   (delta debugging over the operation list, same kind of difference
**   required), giving a short replayable script.
**
** Order of the two runs
**   lsm_t runs first.  If its statement ends the open transaction (INSERT OR
**   ROLLBACK hitting a conflict, or an error that rolls back), the native
**   twin's transaction has been rolled back too, so the native reference is
**   computed by replaying, natively, the statements of that transaction
**   (kept in runner.txn) and then the statement itself.
**
** Statements that native tables and virtual tables can never agree on are
** not generated (see difftest.md): UPDATE OR REPLACE moving several keys
** onto keys that are themselves updated later in the same statement, and
** subqueries on the table in the SET of an UPDATE that moves keys (a native
** UPDATE works row by row on the table as changed so far, SQLite computes a
** virtual table's new rows before the first xUpdate); a datatype mismatch
** half way through a non-ABORT multi-row write to a rowid table in a
** transaction (natively without a statement journal, so the earlier rows
** stay); an auto-assigned rowid after rowid 2^63-1 (random natively); and
** order-dependent aggregates.
**
** With --features=trigger a native helper table @T_h gets triggers that
** write the table, so it is written inside trigger sub-statements and while
** a correlated cursor on it is open.  --selfcheck makes lsm_t a native
** table too: any difference is then a bug of this program.
**
** Output: one line per seed, a full report on the first difference
** (seed, operation and statement number, SQL, both results, the path of
** the SQL log, which replays in the sqlite3 shell), and a last line
** "difftest: N seeds, N statements, N differences".  Exit status 0 when no
** difference was found, 1 on a difference, 2 on a usage or set-up error.
**
** This is a test driver, not library code: allocation failure exits(2).
*/
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#define LSM_NAME "lsm_t"
#define NAT_NAME "nat_t"
#define MAX_SP 16           /* savepoints the generator keeps open at most */
#define LASTROWID_SENTINEL 424242  /* last_insert_rowid() before each statement */
#define MAX_ROWS 1000000    /* result rows collected per statement at most */

/* ================================================================== */
/* Dynamic strings. */

typedef struct str {
  char *p;
  size_t n, cap;
} str;

static void die_nomem(void) {
  fputs("difftest: out of memory\n", stderr);
  exit(2);
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) die_nomem();
  return p;
}

static char *xstrdup(const char *s) {
  char *p = strdup(s ? s : "");
  if (!p) die_nomem();
  return p;
}

static void str_reserve(str *s, size_t extra) {
  size_t need = s->n + extra + 1;
  if (need > s->cap) {
    size_t cap = s->cap ? s->cap : 64;
    char *p;
    while (cap < need) cap *= 2;
    p = realloc(s->p, cap);
    if (!p) die_nomem();
    s->p = p;
    s->cap = cap;
  }
}

static void str_addn(str *s, const char *p, size_t n) {
  str_reserve(s, n);
  memcpy(s->p + s->n, p, n);
  s->n += n;
  s->p[s->n] = 0;
}

static void str_add(str *s, const char *p) { str_addn(s, p, strlen(p)); }

static void str_addf(str *s, const char *fmt, ...) {
  va_list ap, ap2;
  int n;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n > 0) {
    str_reserve(s, (size_t)n);
    vsnprintf(s->p + s->n, (size_t)n + 1, fmt, ap2);
    s->n += (size_t)n;
  }
  va_end(ap2);
}

static const char *str_c(const str *s) { return s->p ? s->p : ""; }

static void str_free(str *s) {
  free(s->p);
  s->p = NULL;
  s->n = s->cap = 0;
}

/* Copy of tmpl with every "@T" replaced by name. */
static char *expand(const char *tmpl, const char *name) {
  str o = {0};
  const char *p;
  while ((p = strstr(tmpl, "@T")) != NULL) {
    str_addn(&o, tmpl, (size_t)(p - tmpl));
    str_add(&o, name);
    tmpl = p + 2;
  }
  str_add(&o, tmpl);
  return o.p ? o.p : xstrdup("");
}

/* Copy of s with every `from` replaced by `to`. */
static char *replace_all(const char *s, const char *from, const char *to) {
  str o = {0};
  const char *p;
  size_t nf = strlen(from);
  while ((p = strstr(s, from)) != NULL) {
    str_addn(&o, s, (size_t)(p - s));
    str_add(&o, to);
    s = p + nf;
  }
  str_add(&o, s);
  return o.p ? o.p : xstrdup("");
}

/* ================================================================== */
/* PRNG: xorshift64*, seeded through splitmix64 so that neighbouring seeds
** give unrelated streams. */

typedef struct rng {
  uint64_t s;
} rng;

static void rng_seed(rng *r, uint64_t seed) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  r->s = z ? z : 1;
}

static uint64_t rng_next(rng *r) {
  uint64_t x = r->s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  r->s = x;
  return x * 0x2545F4914F6CDD1Dull;
}

/* Uniform in [0, n). */
static int rnd(rng *r, int n) {
  return n <= 1 ? 0 : (int)(rng_next(r) % (uint64_t)n);
}

/* Uniform in [lo, hi]. */
static int rnd_in(rng *r, int lo, int hi) { return lo + rnd(r, hi - lo + 1); }

static int chance(rng *r, int pct) { return rnd(r, 100) < pct; }

#define NELEM(a) ((int)(sizeof(a) / sizeof((a)[0])))
#define PICK(r, a) ((a)[rnd((r), NELEM(a))])

/* ================================================================== */
/* Feature families.  Each can be switched off with --features=-NAME so the
** test runs against a module that does not implement it yet. */

enum {
  F_TXN       = 1u << 0,
  F_SAVEPOINT = 1u << 1,
  F_CONFLICT  = 1u << 2,
  F_MULTIROW  = 1u << 3,
  F_KEYMOVE   = 1u << 4,
  F_SELFREF   = 1u << 5,
  F_IN        = 1u << 6,
  F_JOIN      = 1u << 7,
  F_AGG       = 1u << 8,
  F_LIMIT     = 1u << 9,
  F_DESC      = 1u << 10,
  F_COMMANDS  = 1u << 11,
  F_REOPEN    = 1u << 12,
  F_BADKEY    = 1u << 13,
  F_INTPK     = 1u << 14,
  F_ROWIDCOL  = 1u << 15,
  F_LONG      = 1u << 16,
  F_CHANGES   = 1u << 17,
  F_VALTYPE   = 1u << 18,
  F_COMPOSITE = 1u << 19,
  F_ROWID     = 1u << 20,
  F_NEGZERO   = 1u << 21,
  F_BIGINT    = 1u << 22,
  F_CROSSAFF  = 1u << 23,
  F_TRIGGER   = 1u << 24,
  F_LASTROWID = 1u << 25,
  F_COLLATE   = 1u << 26,
  F_ORPOINTS  = 1u << 27,
  F_ALL       = (1u << 28) - 1
};

static const struct feature {
  const char *name;
  unsigned bit;
  const char *doc;
} FEATURES[] = {
  {"txn", F_TXN, "BEGIN / COMMIT / ROLLBACK"},
  {"savepoint", F_SAVEPOINT, "SAVEPOINT / RELEASE / ROLLBACK TO, nested"},
  {"conflict", F_CONFLICT,
   "INSERT/UPDATE OR IGNORE, OR FAIL, OR ABORT, OR ROLLBACK, UPDATE OR "
   "REPLACE (plain INSERT, INSERT OR REPLACE and REPLACE INTO are always on)"},
  {"multirow", F_MULTIROW,
   "multi-row INSERT (VALUES lists, INSERT ... SELECT from a CTE) that may "
   "fail half way: statement atomicity"},
  {"keymove", F_KEYMOVE, "UPDATE of key columns, onto free and taken keys"},
  {"selfref", F_SELFREF,
   "statements reading the table they write: INSERT INTO t SELECT ... FROM t, "
   "subqueries on t in UPDATE/DELETE"},
  {"in", F_IN, "IN / NOT IN lists and subqueries on the key"},
  {"join", F_JOIN, "self-joins"},
  {"agg", F_AGG, "count/min/max/sum/total aggregates, GROUP BY"},
  {"limit", F_LIMIT, "LIMIT / OFFSET (with ORDER BY)"},
  {"desc", F_DESC, "ORDER BY key DESC"},
  {"commands", F_COMMANDS,
   "INSERT INTO t(t) VALUES('flush'|'compact'|'integrity-check')"},
  {"reopen", F_REOPEN, "close and reopen the connection"},
  {"badkey", F_BADKEY,
   "NULL keys (NOT NULL constraint), non-integers for a rowid key "
   "(datatype mismatch)"},
  {"intpk", F_INTPK,
   "integer mode may declare k INTEGER PRIMARY KEY: a rowid alias, twin is a "
   "rowid table (NULL/omitted key = max+1)"},
  {"rowidcol", F_ROWIDCOL,
   "read the rowid column (errors on WITHOUT ROWID twins, the key on rowid "
   "tables)"},
  {"long", F_LONG, "long values (text and blobs up to a few KB)"},
  {"changes", F_CHANGES, "compare sqlite3_changes() after writes"},
  {"valtype", F_VALTYPE, "value column w gets a declared type (affinity)"},
  {"composite", F_COMPOSITE, "mode composite: PRIMARY KEY(a, b)"},
  {"rowid", F_ROWID, "mode rowid: no PRIMARY KEY, implicit rowid key"},
  {"negzero", F_NEGZERO, "-0.0 as key and value (keeps its sign where native does)"},
  {"bigint", F_BIGINT,
   "integers beyond 2^53 as keys and bounds of numeric-mode keys (exact "
   "integer/real comparison)"},
  {"crossaff", F_CROSSAFF,
   "key compared with another column's values: k IN (SELECT v ...), joins "
   "ON y.k = x.v (comparison affinity of non-literals)"},
  {"trigger", F_TRIGGER,
   "a native helper table whose triggers write the table: writes inside "
   "trigger sub-statements, while a correlated cursor on the table is open"},
  {"lastrowid", F_LASTROWID,
   "compare sqlite3_last_insert_rowid() (set to a sentinel before each "
   "statement: a WITHOUT ROWID insert must leave it alone)"},
  {"collate", F_COLLATE,
   "text, mixed and composite keys may be declared COLLATE NOCASE or RTRIM "
   "(uniqueness, order and comparisons under the collation)"},
  {"orpoints", F_ORPOINTS,
   "ORs of whole-key points on composite keys (k = .. AND b = ..) OR (..): "
   "multi-index OR plans, whose write order shows in FAIL/IGNORE/REPLACE"},
};

/* The default: everything but orpoints, an order no virtual table can
** reproduce (README, "Differences from a native table"). */
#define F_DEFAULT (F_ALL & ~F_ORPOINTS)

/* The set that passes against the module of issue 2 (see difftest.md). */
#define F_ISSUE2 (F_ALL & ~(F_COMPOSITE | F_COMMANDS | F_INTPK | F_NEGZERO | F_BIGINT | \
                       F_CROSSAFF | F_LASTROWID | F_COLLATE))

/* ================================================================== */
/* Modes and the schema of one run. */

enum mode {
  M_INTEGER,
  M_TEXT,
  M_BLOB,
  M_NUMERIC,
  M_MIXED,
  M_COMPOSITE,
  M_ROWID,
  N_MODES
};

static const char *const MODE_NAMES[N_MODES] = {
  "integer", "text", "blob", "numeric", "mixed", "composite", "rowid"};

typedef struct schema {
  enum mode mode;
  int rowid_key;            /* key is the rowid (mode rowid, INTEGER PK) */
  int nk;                   /* key columns: 1 or 2 */
  const char *k[2];         /* key columns in key order ("rowid" for M_ROWID) */
  const char *cols[4];      /* declared columns, in order */
  int ncols;
  char coldefs[200];        /* column definitions as declared */
  char opts[120];           /* lsm options */
  char helper[4][320];      /* templates: helper table and its triggers */
  int nhelper;
} schema;

/* ================================================================== */
/* Operations. */

enum op_kind { OP_TABLE, OP_GLOBAL, OP_LSM_ONLY, OP_REOPEN };

typedef struct op {
  enum op_kind kind;
  int ordered;              /* result rows compared in order */
  char *sql;                /* template: "@T" is the table */
} op;

typedef struct oplist {
  op *v;
  int n, cap;
} oplist;

static void oplist_push(oplist *l, enum op_kind kind, int ordered, char *sql) {
  if (l->n == l->cap) {
    int cap = l->cap ? l->cap * 2 : 256;
    op *v = realloc(l->v, sizeof(op) * (size_t)cap);
    if (!v) die_nomem();
    l->v = v;
    l->cap = cap;
  }
  l->v[l->n].kind = kind;
  l->v[l->n].ordered = ordered;
  l->v[l->n].sql = sql;
  l->n++;
}

static void oplist_free(oplist *l) {
  int i;
  for (i = 0; i < l->n; i++) free(l->v[i].sql);
  free(l->v);
  memset(l, 0, sizeof(*l));
}

/* ================================================================== */
/* Options. */

typedef struct options {
  unsigned long long seed_lo, seed_hi;
  int have_seed;
  long ops;
  double seconds;           /* > 0: run seeds until this much time passed */
  int modes[N_MODES];       /* modes to rotate through, by seed */
  int nmodes;
  unsigned feat;
  char so[PATH_MAX];        /* absolute path of the extension */
  int verbose;
  int check_every;
  int keep;                 /* keep the scratch directory */
  int minimize;
  double minimize_seconds;
  int timeout;              /* seconds per statement before giving up */
  int selfcheck;            /* lsm_t is a native table too: tests the test */
  int key_range;            /* integer keys mostly in [-2, key_range] */
  char root[PATH_MAX];      /* scratch directory of this process */
} options;

/* ================================================================== */
/* Results of one statement. */

typedef struct result {
  int rc;                   /* SQLITE_OK or the primary error code */
  char *msg;                /* error message, NULL on success */
  char **rows;
  int nrows, caprows;
  int is_write;             /* not read-only: changes is meaningful */
  int changes;
  long long lastrowid;
  int autocommit;           /* sqlite3_get_autocommit() afterwards */
} result;

static void result_clear(result *r) {
  int i;
  free(r->msg);
  for (i = 0; i < r->nrows; i++) free(r->rows[i]);
  free(r->rows);
  memset(r, 0, sizeof(*r));
}

static void result_add_row(result *r, char *row) {
  if (r->nrows == r->caprows) {
    int cap = r->caprows ? r->caprows * 2 : 16;
    char **v = realloc(r->rows, sizeof(char *) * (size_t)cap);
    if (!v) die_nomem();
    r->rows = v;
    r->caprows = cap;
  }
  r->rows[r->nrows++] = row;
}

/* One column of the current row, with its exact type:
**   n   i:<int>   r:<%.17g, round-trips>   t<len>:'<escaped>'   b<len>:<hex> */
static void serialize_value(str *o, sqlite3_stmt *st, int i) {
  switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
      str_addf(o, "i:%lld", (long long)sqlite3_column_int64(st, i));
      break;
    case SQLITE_FLOAT:
      str_addf(o, "r:%.17g", sqlite3_column_double(st, i));
      break;
    case SQLITE_TEXT: {
      const unsigned char *z = sqlite3_column_text(st, i);
      int n = sqlite3_column_bytes(st, i), j;
      str_addf(o, "t%d:'", n);
      for (j = 0; j < n; j++) {
        if (z[j] >= 0x20 && z[j] < 0x7f && z[j] != '\\') str_addn(o, (const char *)z + j, 1);
        else str_addf(o, "\\x%02x", z[j]);
      }
      str_add(o, "'");
      break;
    }
    case SQLITE_BLOB: {
      const unsigned char *z = sqlite3_column_blob(st, i);
      int n = sqlite3_column_bytes(st, i), j;
      str_addf(o, "b%d:", n);
      for (j = 0; j < n; j++) str_addf(o, "%02x", z[j]);
      break;
    }
    default:
      str_add(o, "n");
      break;
  }
}

static int cmp_rows(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ================================================================== */
/* Differences. */

enum diff_kind {
  D_NONE,
  D_SETUP,      /* CREATE or opening failed */
  D_RC,         /* result codes differ */
  D_MSG,        /* error messages differ */
  D_ROWS,       /* result rows differ */
  D_CHANGES,    /* sqlite3_changes() differs */
  D_ROWID,      /* last_insert_rowid() differs */
  D_TXN,        /* one side ended the transaction, the other did not */
  D_GLOBAL,     /* a transaction statement failed unexpectedly */
  D_LSMCMD      /* an lsm command failed */
};

static const char *const DIFF_NAMES[] = {
  "none", "set-up failed", "result codes differ", "error messages differ",
  "result rows differ", "changes() differs", "last_insert_rowid() differs",
  "transaction state differs", "transaction statement failed",
  "lsm command failed"};

static int same_str(const char *a, const char *b) {
  if (!a || !b) return a == b;
  return strcmp(a, b) == 0;
}

static enum diff_kind compare_results(const result *l, const result *n,
                                      unsigned feat) {
  int i;
  if (l->rc != n->rc) return D_RC;
  if (!same_str(l->msg, n->msg)) return D_MSG;
  if (l->nrows != n->nrows) return D_ROWS;
  for (i = 0; i < l->nrows; i++)
    if (strcmp(l->rows[i], n->rows[i]) != 0) return D_ROWS;
  if (l->autocommit != n->autocommit) return D_TXN;
  if ((feat & F_CHANGES) && l->is_write && n->is_write && l->changes != n->changes)
    return D_CHANGES;
  if ((feat & F_LASTROWID) && l->lastrowid != n->lastrowid) return D_ROWID;
  return D_NONE;
}

/* ================================================================== */
/* The crash/hang reporter: the one piece of global state, because a signal
** handler can reach nothing else.  The SQL log on disk is flushed after
** every statement, so it is complete whatever happens. */

static struct {
  unsigned long long seed;
  long stmt;
  char log[PATH_MAX];
} crash_where;

static void on_fatal_signal(int sig) {
  char buf[PATH_MAX + 200];
  int n = snprintf(buf, sizeof buf,
                   "\ndifftest: %s in seed %llu at statement %ld\n"
                   "difftest: SQL log: %s\n",
                   sig == SIGALRM ? "statement timed out" : "CRASH (signal)",
                   crash_where.seed, crash_where.stmt, crash_where.log);
  if (n > 0) {
    ssize_t w = write(2, buf, (size_t)n);
    (void)w;
  }
  if (sig == SIGALRM) _exit(1);
  raise(sig);   /* SA_RESETHAND: the default action now */
}

static void install_signal_handlers(void) {
  struct sigaction sa;
  int sigs[] = {SIGSEGV, SIGBUS, SIGABRT, SIGFPE, SIGILL, SIGALRM};
  int i;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_fatal_signal;
  sa.sa_flags = SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  for (i = 0; i < NELEM(sigs); i++) sigaction(sigs[i], &sa, NULL);
}

/* ================================================================== */
/* The executor. */

typedef struct runner {
  const options *opt;
  const schema *sch;
  unsigned long long seed;
  int quiet;                /* minimiser trials: no output at all */
  sqlite3 *db;
  char dir[PATH_MAX + 16];  /* this run's scratch directory */
  char dbpath[PATH_MAX + 32];
  FILE *log;                /* replayable SQL log */
  long nstmt;               /* SQL statements executed */
  long progress;            /* progress callbacks in the current statement */
  char **txn;               /* native statements of the open transaction */
  int ntxn, captxn;
  result l, n;              /* outcomes on lsm_t and nat_t */
  enum diff_kind diff;      /* first difference, D_NONE while none */
  int diff_op;
  char *diff_sql;
  int last_rc;              /* rc of the last OP_GLOBAL, for the generator */
} runner;

/* Interrupts runaway statements (a scan that never ends, say). */
static int progress_cb(void *p) {
  runner *r = p;
  return ++r->progress > 200000;   /* ~200M VM instructions */
}

static void log_line(runner *r, const char *fmt, ...) {
  va_list ap;
  if (!r->log) return;
  va_start(ap, fmt);
  vfprintf(r->log, fmt, ap);
  va_end(ap);
  fputc('\n', r->log);
  fflush(r->log);
}

static void txn_clear(runner *r) {
  int i;
  for (i = 0; i < r->ntxn; i++) free(r->txn[i]);
  r->ntxn = 0;
}

static void txn_add(runner *r, const char *sql) {
  if (r->ntxn == r->captxn) {
    int cap = r->captxn ? r->captxn * 2 : 32;
    char **v = realloc(r->txn, sizeof(char *) * (size_t)cap);
    if (!v) die_nomem();
    r->txn = v;
    r->captxn = cap;
  }
  r->txn[r->ntxn++] = xstrdup(sql);
}

/* Run one SQL statement, collecting everything compare_results looks at. */
static void run_stmt(runner *r, const char *sql, result *res) {
  sqlite3_stmt *st = NULL;
  int rc;

  result_clear(res);
  r->nstmt++;
  crash_where.stmt = r->nstmt;
  log_line(r, "%s;", sql);
  if (r->opt->verbose && !r->quiet) printf("  [%ld] %s\n", r->nstmt, sql);
  sqlite3_set_last_insert_rowid(r->db, LASTROWID_SENTINEL);
  r->progress = 0;
  alarm((unsigned)r->opt->timeout);
  rc = sqlite3_prepare_v2(r->db, sql, -1, &st, NULL);
  if (rc == SQLITE_OK && st) {
    int ncol = sqlite3_column_count(st);
    res->is_write = !sqlite3_stmt_readonly(st);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      str row = {0};
      int i;
      if (res->nrows >= MAX_ROWS) {
        /* A generator mistake, not a difference: same outcome both sides. */
        result_clear(res);
        res->rc = SQLITE_TOOBIG;
        res->msg = xstrdup("difftest: too many rows to compare");
        sqlite3_finalize(st);
        alarm(0);
        res->autocommit = sqlite3_get_autocommit(r->db);
        if (!r->quiet) fprintf(stderr, "difftest: warning: more than %d rows: %s\n", MAX_ROWS, sql);
        return;
      }
      for (i = 0; i < ncol; i++) {
        if (i) str_add(&row, "|");
        serialize_value(&row, st, i);
      }
      result_add_row(res, row.p ? row.p : xstrdup(""));
    }
    if (rc == SQLITE_DONE) rc = SQLITE_OK;
  }
  res->rc = rc & 0xff;
  if (rc != SQLITE_OK) res->msg = xstrdup(sqlite3_errmsg(r->db));
  sqlite3_finalize(st);
  alarm(0);
  res->changes = sqlite3_changes(r->db);
  res->lastrowid = (long long)sqlite3_last_insert_rowid(r->db);
  res->autocommit = sqlite3_get_autocommit(r->db);
  if (r->opt->verbose && !r->quiet && rc != SQLITE_OK)
    printf("      -> rc=%d %s\n", res->rc, res->msg);
}

/* Open the connection and load the extension.  0 on success. */
static int runner_connect(runner *r) {
  char *err = NULL;
  int rc = sqlite3_open_v2(r->dbpath, &r->db,
                           SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
  log_line(r, ".open %s", "difftest.db");
  if (rc != SQLITE_OK) goto fail;
  sqlite3_progress_handler(r->db, 1000, progress_cb, r);
  if (r->opt->so[0]) {
    sqlite3_enable_load_extension(r->db, 1);
    log_line(r, ".load %s sqlite3_lsmvtab_init", r->opt->so);
    rc = sqlite3_load_extension(r->db, r->opt->so, "sqlite3_lsmvtab_init", &err);
    if (rc != SQLITE_OK) goto fail;
  }
  /* Durability is not under test here: keep the native side fast. */
  run_stmt(r, "PRAGMA synchronous=OFF", &r->l);
  if (r->l.rc != SQLITE_OK) goto fail;
  return 0;
fail:
  if (!r->quiet)
    fprintf(stderr, "difftest: cannot open %s / load %s: %s\n", r->dbpath,
            r->opt->so, err ? err : (r->db ? sqlite3_errmsg(r->db) : "?"));
  sqlite3_free(err);
  return -1;
}

static void runner_disconnect(runner *r) {
  if (r->db) {
    int rc = sqlite3_close(r->db);
    if (rc != SQLITE_OK && !r->quiet)
      fprintf(stderr, "difftest: sqlite3_close: %s\n", sqlite3_errstr(rc));
    if (rc != SQLITE_OK) sqlite3_close_v2(r->db);
    r->db = NULL;
  }
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw) {
  (void)sb; (void)flag; (void)ftw;
  remove(path);
  return 0;
}

static void remove_tree(const char *path) {
  nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---------------------------------------------------------------- */
/* Reporting. */

static void print_value_list(FILE *f, const char *who, const result *x) {
  int i, shown = 0;
  fprintf(f, "  %-7s rc=%d (%s)", who, x->rc, sqlite3_errstr(x->rc));
  if (x->msg) fprintf(f, " msg=\"%s\"", x->msg);
  fprintf(f, " rows=%d changes=%d last_rowid=%lld autocommit=%d\n", x->nrows,
          x->changes, x->lastrowid, x->autocommit);
  for (i = 0; i < x->nrows && shown < 40; i++, shown++) {
    size_t len = strlen(x->rows[i]);
    if (len > 240) fprintf(f, "    [%d] %.240s... (%zu chars)\n", i, x->rows[i], len);
    else fprintf(f, "    [%d] %s\n", i, x->rows[i]);
  }
  if (i < x->nrows) fprintf(f, "    ... %d more rows\n", x->nrows - i);
}

/* Index of the first differing row (or -1). */
static int first_row_diff(const result *l, const result *n) {
  int i;
  for (i = 0; i < l->nrows && i < n->nrows; i++)
    if (strcmp(l->rows[i], n->rows[i]) != 0) return i;
  return l->nrows == n->nrows ? -1 : i;
}

static void describe_diff(runner *r, FILE *f) {
  int row = first_row_diff(&r->l, &r->n);
  fprintf(f, "difftest: DIFFERENCE (%s) in seed %llu (mode %s), ", DIFF_NAMES[r->diff],
          r->seed, MODE_NAMES[r->sch->mode]);
  if (r->diff_op < 0) fprintf(f, "during set-up, statement %ld\n", r->nstmt);
  else fprintf(f, "operation %d, statement %ld\n", r->diff_op + 1, r->nstmt);
  fprintf(f, "  table:  %s\n", r->sch->coldefs);
  fprintf(f, "  sql:    %s\n", r->diff_sql ? r->diff_sql : "");
  if (r->diff == D_ROWS && row >= 0) fprintf(f, "  first differing row: %d\n", row);
  print_value_list(f, "lsm:", &r->l);
  if (r->diff != D_GLOBAL && r->diff != D_LSMCMD && r->diff != D_SETUP)
    print_value_list(f, "native:", &r->n);
}

static void set_diff(runner *r, enum diff_kind d, int opno, const char *sql) {
  r->diff = d;
  r->diff_op = opno;
  free(r->diff_sql);
  r->diff_sql = xstrdup(sql);
  if (r->log) {
    fprintf(r->log, "-- ^^^ DIFFERENCE: %s\n", DIFF_NAMES[d]);
    fprintf(r->log, "-- lsm:    rc=%d %s, %d rows\n", r->l.rc,
            r->l.msg ? r->l.msg : "", r->l.nrows);
    if (d != D_GLOBAL && d != D_LSMCMD && d != D_SETUP)
      fprintf(r->log, "-- native: rc=%d %s, %d rows\n", r->n.rc,
              r->n.msg ? r->n.msg : "", r->n.nrows);
    fflush(r->log);
  }
}

/* ---------------------------------------------------------------- */
/* Running operations. */

/* The lsm statement ended the transaction: compute the native reference by
** replaying the transaction natively, then the statement. */
static void native_after_txn_end(runner *r, const char *sql_n) {
  int i;
  log_line(r, "-- the lsm statement ended the transaction: replay it natively");
  for (i = 0; i < r->ntxn; i++) run_stmt(r, r->txn[i], &r->n);
  run_stmt(r, sql_n, &r->n);
  if (!r->n.autocommit) {
    /* The native statement did not end it: leave a clean state. */
    run_stmt(r, "ROLLBACK", &r->n);
    r->n.autocommit = 0;
  }
}

static void run_table_op(runner *r, const op *o, int opno) {
  char *sql_l = expand(o->sql, LSM_NAME);
  char *sql_n = expand(o->sql, NAT_NAME);
  int ac0 = sqlite3_get_autocommit(r->db);
  enum diff_kind d;

  run_stmt(r, sql_l, &r->l);
  if (!ac0 && r->l.autocommit) native_after_txn_end(r, sql_n);
  else run_stmt(r, sql_n, &r->n);
  if (r->n.msg) {
    char *m = replace_all(r->n.msg, NAT_NAME, LSM_NAME);
    free(r->n.msg);
    r->n.msg = m;
  }
  if (!o->ordered) {
    if (r->l.nrows > 1) qsort(r->l.rows, (size_t)r->l.nrows, sizeof(char *), cmp_rows);
    if (r->n.nrows > 1) qsort(r->n.rows, (size_t)r->n.nrows, sizeof(char *), cmp_rows);
  }
  d = compare_results(&r->l, &r->n, r->opt->feat);
  if (d != D_NONE) set_diff(r, d, opno, sql_l);
  if (!sqlite3_get_autocommit(r->db)) txn_add(r, sql_n);
  free(sql_l);
  free(sql_n);
}

/* Transaction statements fail only for SQLite's own reasons. */
static int expected_txn_error(const char *msg) {
  static const char *const ok[] = {
    "cannot start a transaction within a transaction",
    "cannot commit - no transaction is active",
    "cannot rollback - no transaction is active",
    "no such savepoint: "};
  int i;
  for (i = 0; i < NELEM(ok); i++)
    if (msg && strncmp(msg, ok[i], strlen(ok[i])) == 0) return 1;
  return 0;
}

static void run_global_op(runner *r, const op *o, int opno) {
  int ac0 = sqlite3_get_autocommit(r->db);
  run_stmt(r, o->sql, &r->l);
  r->last_rc = r->l.rc;
  if (r->l.rc != SQLITE_OK && !expected_txn_error(r->l.msg)) {
    set_diff(r, D_GLOBAL, opno, o->sql);
    return;
  }
  if (ac0 && !r->l.autocommit) txn_clear(r);
  if (!r->l.autocommit) txn_add(r, o->sql);
}

static void run_lsm_only_op(runner *r, const op *o, int opno) {
  char *sql;
  if (r->opt->selfcheck) return;
  sql = expand(o->sql, LSM_NAME);
  run_stmt(r, sql, &r->l);
  if (r->l.rc != SQLITE_OK) set_diff(r, D_LSMCMD, opno, sql);
  free(sql);
}

static void run_reopen_op(runner *r, int opno) {
  log_line(r, "-- reopen");
  runner_disconnect(r);
  txn_clear(r);
  if (runner_connect(r) != 0) {
    result_clear(&r->l);
    r->l.rc = SQLITE_CANTOPEN;
    r->l.msg = xstrdup("cannot reopen the database");
    set_diff(r, D_SETUP, opno, "-- reopen");
  }
}

static void run_op(runner *r, const op *o, int opno) {
  switch (o->kind) {
    case OP_TABLE: run_table_op(r, o, opno); break;
    case OP_GLOBAL: run_global_op(r, o, opno); break;
    case OP_LSM_ONLY: run_lsm_only_op(r, o, opno); break;
    case OP_REOPEN: run_reopen_op(r, opno); break;
  }
  if (r->db && sqlite3_get_autocommit(r->db)) txn_clear(r);
}

/* Full comparison of the two tables. */
static char *check_sql(const schema *s, unsigned feat) {
  str o = {0};
  int i;
  str_add(&o, "SELECT ");
  if (s->mode == M_ROWID || (s->rowid_key && (feat & F_ROWIDCOL)))
    str_add(&o, "rowid, ");
  str_add(&o, "*, ");
  for (i = 0; i < s->ncols; i++) str_addf(&o, "%stypeof(%s)", i ? ", " : "", s->cols[i]);
  str_add(&o, " FROM @T ORDER BY ");
  for (i = 0; i < s->nk; i++) str_addf(&o, "%s%s", i ? ", " : "", s->k[i]);
  return o.p;
}

static void run_check(runner *r, int opno) {
  op o;
  o.kind = OP_TABLE;
  o.ordered = 1;
  o.sql = check_sql(r->sch, r->opt->feat);
  run_table_op(r, &o, opno);
  free(o.sql);
}

/* Create this run's directory, database and tables (helpers: also the
** helper table and its triggers).  0 on success. */
static int runner_start(runner *r, const options *opt, const schema *sch,
                        unsigned long long seed, const char *logpath, int quiet,
                        int helpers) {
  char *ddl;
  int i;
  memset(r, 0, sizeof(*r));
  r->opt = opt;
  r->sch = sch;
  r->seed = seed;
  r->quiet = quiet;
  snprintf(r->dir, sizeof r->dir, "%s/run-XXXXXX", opt->root);
  if (!mkdtemp(r->dir)) {
    fprintf(stderr, "difftest: mkdtemp %s: %s\n", r->dir, strerror(errno));
    return -1;
  }
  snprintf(r->dbpath, sizeof r->dbpath, "%s/difftest.db", r->dir);
  if (logpath) {
    r->log = fopen(logpath, "w");
    if (!r->log) {
      fprintf(stderr, "difftest: cannot write %s: %s\n", logpath, strerror(errno));
      return -1;
    }
    if (!quiet) snprintf(crash_where.log, sizeof crash_where.log, "%s", logpath);
  }
  crash_where.seed = seed;
  log_line(r, "-- difftest seed %llu, mode %s; replay with: sqlite3 < THIS_FILE "
           "(in an empty directory)", seed, MODE_NAMES[sch->mode]);
  if (runner_connect(r) != 0) return -1;
  ddl = expand("CREATE VIRTUAL TABLE @T USING lsm(", LSM_NAME);
  {
    str s = {0};
    if (opt->selfcheck)
      str_addf(&s, "CREATE TABLE %s(%s)%s", LSM_NAME, sch->coldefs,
               sch->rowid_key ? "" : " WITHOUT ROWID");
    else
      str_addf(&s, "%s%s, %s)", ddl, sch->coldefs, sch->opts);
    run_stmt(r, str_c(&s), &r->l);
    if (r->l.rc != SQLITE_OK) set_diff(r, D_SETUP, -1, str_c(&s));
    str_free(&s);
  }
  free(ddl);
  if (r->diff == D_NONE) {
    str s = {0};
    str_addf(&s, "CREATE TABLE %s(%s)%s", NAT_NAME, sch->coldefs,
             sch->rowid_key ? "" : " WITHOUT ROWID");
    run_stmt(r, str_c(&s), &r->n);
    if (r->n.rc != SQLITE_OK) {
      fprintf(stderr, "difftest: native CREATE failed: %s: %s\n", str_c(&s), r->n.msg);
      str_free(&s);
      return -1;
    }
    str_free(&s);
  }
  for (i = 0; helpers && r->diff == D_NONE && i < sch->nhelper; i++) {
    char *sql_l = expand(sch->helper[i], LSM_NAME);
    char *sql_n = expand(sch->helper[i], NAT_NAME);
    run_stmt(r, sql_l, &r->l);
    if (r->l.rc != SQLITE_OK) set_diff(r, D_SETUP, -1, sql_l);
    run_stmt(r, sql_n, &r->n);
    if (r->n.rc != SQLITE_OK) {
      fprintf(stderr, "difftest: native set-up failed: %s: %s\n", sql_n, r->n.msg);
      free(sql_l);
      free(sql_n);
      return -1;
    }
    free(sql_l);
    free(sql_n);
  }
  return 0;
}

static void runner_finish(runner *r, int remove_dir) {
  runner_disconnect(r);
  txn_clear(r);
  free(r->txn);
  result_clear(&r->l);
  result_clear(&r->n);
  free(r->diff_sql);
  if (r->log) fclose(r->log);
  r->log = NULL;
  if (remove_dir) remove_tree(r->dir);
}

/* Run ops[keep[0..n-1]] (all of ops when keep is NULL) then the final check.
** Returns the first difference (D_NONE if none); describes it unless quiet. */
static enum diff_kind replay(const options *opt, const schema *sch,
                             unsigned long long seed, const oplist *ops,
                             const int *keep, int n, const char *logpath,
                             int quiet) {
  runner r;
  enum diff_kind d;
  int i, helpers = 0;
  /* The helper table only when an operation still uses it: shorter
  ** minimal scripts. */
  for (i = 0; i < n && !helpers; i++)
    helpers = strstr(ops->v[keep ? keep[i] : i].sql, "@T_h") != NULL;
  if (runner_start(&r, opt, sch, seed, logpath, quiet, helpers) != 0) {
    runner_finish(&r, 1);
    return D_SETUP;
  }
  for (i = 0; i < n && r.diff == D_NONE; i++) {
    int k = keep ? keep[i] : i;
    run_op(&r, &ops->v[k], k);
  }
  if (r.diff == D_NONE) run_check(&r, n);
  d = r.diff;
  if (d != D_NONE && !quiet) describe_diff(&r, stdout);
  runner_finish(&r, 1);
  return d;
}

/* ================================================================== */
/* The generator. */

typedef struct gen {
  rng r;
  const schema *s;
  unsigned feat;
  int sp[MAX_SP];           /* open savepoints, innermost last */
  int nsp;
  int next_sp;
  int pending;              /* 1 SAVEPOINT, 2 RELEASE, 3 ROLLBACK TO */
  int pending_sp;
  /* Set while generating a multi-row write to a rowid-key table in a
  ** conflict mode other than ABORT: natively such a statement has no
  ** statement journal, so a "datatype mismatch" half way leaves the rows
  ** before it in place, while SQLite always rolls a virtual table's
  ** statement back.  No module can match that, so no bad keys there. */
  int no_badkey;
  int kr;                   /* integer keys are mostly in [-2, kr] */
} gen;

static int has(const gen *g, unsigned f) { return (g->feat & f) != 0; }

/* --- literals --- */

static void lit_real(str *o, double d) {
  char b[48];
  snprintf(b, sizeof b, "%.17g", d);
  if (!strpbrk(b, ".eEn")) strcat(b, ".0");
  str_add(o, b);
}

static void lit_text(str *o, const char *s) {
  str_add(o, "'");
  for (; *s; s++) {
    if (*s == '\'') str_add(o, "''");
    else str_addn(o, s, 1);
  }
  str_add(o, "'");
}

static void lit_blob(gen *g, str *o, int maxlen) {
  static const char *const BYTES[] = {"00", "01", "61", "7f", "80", "fe", "ff"};
  int n = rnd(&g->r, maxlen + 1), i;
  str_add(o, "x'");
  for (i = 0; i < n; i++) str_add(o, PICK(&g->r, BYTES));
  str_add(o, "'");
}

/* A short word over a tiny alphabet, so keys collide often. */
static void lit_word(gen *g, str *o, int maxlen) {
  /* Case pairs and trailing blanks matter under NOCASE and RTRIM. */
  static const char *const ALPHA[] = {"a", "b", "A", "\xc3\xa9", "a'", "B", " "};
  str w = {0};
  int n = rnd(&g->r, maxlen + 1), i;
  for (i = 0; i < n; i++) str_add(&w, PICK(&g->r, ALPHA));
  if (has(g, F_COLLATE) && chance(&g->r, 10)) {
    /* Text with a NUL byte: NOCASE compares only up to the first NUL (of
    ** either side), then the lengths. */
    const char *c = str_c(&w);
    size_t at = (size_t)rnd(&g->r, (int)strlen(c) + 1), j;
    str_add(o, "CAST(x'");
    for (j = 0; j <= strlen(c); j++) {
      if (j == at) str_add(o, "00");
      if (j < strlen(c)) str_addf(o, "%02x", (unsigned char)c[j]);
    }
    str_add(o, "' AS TEXT)");
  } else {
    lit_text(o, str_c(&w));
  }
  str_free(&w);
}

/* Zero, or minus zero when that family is on: -0.0, or the text '-0',
** which arithmetic with a real turns into -0.0 (v * 1.5). */
static void lit_zero(gen *g, str *o) {
  if (has(g, F_NEGZERO) && chance(&g->r, 60)) str_add(o, chance(&g->r, 70) ? "-0.0" : "'-0'");
  else str_add(o, PICK(&g->r, ((const char *const[]){"0.0", "0", "-0", "'0'"})));
}

static const char *const BIG_INTS[] = {
  "9223372036854775807", "-9223372036854775808", "9007199254740992",
  "9007199254740993", "-9007199254740993", "4294967296", "2147483648",
  "-2147483649"};

static const char *const NUMERIC_TEXTS[] = {
  "'12'", "' 13'", "'14 '", "'1e1'", "'7.0'", "'-7'", "'0x10'", "'2.5'",
  "'9223372036854775808'", "'+5'", "'3.'", "'.5'"};

/* Keys of an INT/BIGINT (not rowid alias) key column. */
static void key_integer(gen *g, str *o) {
  int p = rnd(&g->r, 100);
  if (p < 80) str_addf(o, "%d", rnd_in(&g->r, -2, g->kr));
  else if (p < 86) str_add(o, PICK(&g->r, BIG_INTS));
  else if (p < 92) str_add(o, PICK(&g->r, NUMERIC_TEXTS));
  else if (p < 95) lit_real(o, rnd_in(&g->r, 0, 20) + (chance(&g->r, 50) ? 0.5 : 0.0));
  else if (p < 98 && has(g, F_BADKEY)) str_add(o, "NULL");
  else lit_word(g, o, 2);
}

/* Keys of a rowid key (rowid, INTEGER PRIMARY KEY).  Never 2^63-1: after
** it a native table picks a random free rowid. */
static void key_rowid(gen *g, str *o) {
  static const char *const CONVERTIBLE[] = {"'7'", "7.0", "' 8'", "'1e1'", "0.0", "'10.0'"};
  /* Magnitudes stay below 2^62: a key shift must never overflow into a
  ** real (a mid-statement "datatype mismatch", see no_badkey). */
  static const char *const BIG[] = {"9007199254740993", "4294967296", "-5",
                                    "4611686018427387904", "-4611686018427387904", "0"};
  static const char *const BAD[] = {"'abc'", "2.5", "x'01'", "'1.5'", "''"};
  int p = rnd(&g->r, 100);
  if (p < 78) str_addf(o, "%d", rnd_in(&g->r, 1, g->kr));
  else if (p < 84) str_add(o, "NULL");
  else if (p < 90) str_add(o, PICK(&g->r, CONVERTIBLE));
  else if (p < 94) str_add(o, PICK(&g->r, BIG));
  else if (p < 97 && has(g, F_BADKEY) && !g->no_badkey) str_add(o, PICK(&g->r, BAD));
  else str_addf(o, "%d", rnd_in(&g->r, 1, g->kr));
}

static void key_text(gen *g, str *o) {
  int p = rnd(&g->r, 100);
  if (p < 76) lit_word(g, o, g->kr >= 1000 ? 5 : 3);
  else if (p < 84) str_addf(o, "%d", rnd_in(&g->r, 0, 20));
  else if (p < 88) lit_real(o, rnd_in(&g->r, 0, 5) + (chance(&g->r, 50) ? 0.5 : 0.0));
  else if (p < 93) lit_blob(g, o, 2);
  else if (p < 96 && has(g, F_BADKEY)) str_add(o, "NULL");
  else lit_word(g, o, 1);
}

static void key_blob(gen *g, str *o) {
  int p = rnd(&g->r, 100);
  if (p < 80) lit_blob(g, o, g->kr >= 1000 ? 5 : 3);
  else if (p < 86) lit_word(g, o, 2);
  else if (p < 92) str_addf(o, "%d", rnd_in(&g->r, 0, 5));
  else if (p < 95 && has(g, F_BADKEY)) str_add(o, "NULL");
  else lit_blob(g, o, 1);
}

static void key_numeric(gen *g, str *o) {
  static const double REALS[] = {
    9007199254740992.0, 9007199254740994.0, 9223372036854775807.0,
    -9223372036854775808.0, 1e20, 1e-300, 0.1, 0.30000000000000004,
    4503599627370495.5, -1e15, 123456789.125};
  switch (rnd(&g->r, 12)) {
    case 0: case 1: case 2: case 3:
      str_addf(o, "%d", rnd_in(&g->r, -3, 40));
      break;
    case 4: lit_real(o, rnd_in(&g->r, -3, 40) + 0.5); break;
    case 5: lit_real(o, (double)rnd_in(&g->r, -3, 40)); break;
    case 6:
      if (has(g, F_BIGINT)) str_add(o, PICK(&g->r, BIG_INTS));
      else str_add(o, PICK(&g->r, ((const char *const[]){"4294967296", "-2147483649"})));
      break;
    case 7: lit_zero(g, o); break;
    case 8: str_add(o, PICK(&g->r, NUMERIC_TEXTS)); break;
    case 9: lit_real(o, PICK(&g->r, REALS)); break;
    case 10:
      str_addf(o, "%lld", 9007199254740992LL + rnd_in(&g->r, has(g, F_BIGINT) ? -2 : -9, has(g, F_BIGINT) ? 2 : 0));
      break;
    default:
      if (has(g, F_BADKEY) && chance(&g->r, 50)) str_add(o, "NULL");
      else str_addf(o, "%d", rnd_in(&g->r, 0, 10));
      break;
  }
}

static void key_mixed(gen *g, str *o) {
  switch (rnd(&g->r, 10)) {
    case 0: case 1: case 2: str_addf(o, "%d", rnd_in(&g->r, 0, 15)); break;
    case 3: lit_real(o, rnd_in(&g->r, 0, 15) + 0.5); break;
    case 4: lit_real(o, (double)rnd_in(&g->r, 0, 15)); break;
    case 5: lit_word(g, o, 2); break;
    case 6: str_addf(o, "'%d'", rnd_in(&g->r, 0, 15)); break;
    case 7: lit_blob(g, o, 2); break;
    case 8:
      if (has(g, F_BADKEY)) { str_add(o, "NULL"); break; }
      /* fall through */
    default:
      if (chance(&g->r, 20)) lit_zero(g, o);
      else str_add(o, PICK(&g->r, ((const char *const[]){"9223372036854775807",
                                                         "-1", "1e100", "''", "x''"})));
      break;
  }
}

static void key_comp_a(gen *g, str *o) {
  int p = rnd(&g->r, 100);
  if (p < 84) str_addf(o, "%d", rnd_in(&g->r, 0, 12));
  else if (p < 89) str_add(o, PICK(&g->r, ((const char *const[]){"'3'", "'x'", "'10'"})));
  else if (p < 94) lit_real(o, rnd_in(&g->r, 0, 4) + (chance(&g->r, 50) ? 0.5 : 0.0));
  else if (p < 97 && has(g, F_BADKEY)) str_add(o, "NULL");
  else str_addf(o, "%d", rnd_in(&g->r, 0, 12));
}

static void key_comp_b(gen *g, str *o) {
  int p = rnd(&g->r, 100);
  if (p < 70) str_add(o, PICK(&g->r, ((const char *const[]){"'a'", "'b'", "'c'", "'ab'", "''", "'A'", "'a '"})));
  else if (p < 85) str_addf(o, "%d", rnd_in(&g->r, 0, 3));
  else if (p < 90) str_add(o, PICK(&g->r, ((const char *const[]){"x'01'", "x''", "1.5"})));
  else if (p < 94 && has(g, F_BADKEY)) str_add(o, "NULL");
  else str_add(o, "'a'");
}

/* A key value for key column `col` (a name from s->k). */
static void key_lit(gen *g, const char *col, str *o) {
  switch (g->s->mode) {
    case M_INTEGER:
      if (g->s->rowid_key) key_rowid(g, o);
      else key_integer(g, o);
      break;
    case M_ROWID: key_rowid(g, o); break;
    case M_TEXT: key_text(g, o); break;
    case M_BLOB: key_blob(g, o); break;
    case M_NUMERIC: key_numeric(g, o); break;
    case M_MIXED: key_mixed(g, o); break;
    case M_COMPOSITE:
      if (strcmp(col, "a") == 0) key_comp_a(g, o);
      else key_comp_b(g, o);
      break;
    case N_MODES: break;
  }
}

/* A value for a non-key column. */
static void val_lit(gen *g, str *o) {
  int p = rnd(&g->r, 100);
  if (p < 10) str_add(o, "NULL");
  else if (p < 38) str_addf(o, "%d", rnd_in(&g->r, -5, 50));
  else if (p < 50) lit_real(o, rnd_in(&g->r, -50, 50) / 4.0);
  else if (p < 70) lit_word(g, o, 4);
  else if (p < 75) str_add(o, PICK(&g->r, NUMERIC_TEXTS));
  else if (p < 84) lit_blob(g, o, 4);
  else if (p < 90 && has(g, F_LONG))
    str_addf(o, "printf('%%.*c', %d, '%c')", rnd_in(&g->r, 100, 4000),
             "xyz"[rnd(&g->r, 3)]);
  else if (p < 93 && has(g, F_LONG))
    str_addf(o, "zeroblob(%d)", rnd_in(&g->r, 100, 3000));
  else if (p < 96) str_add(o, PICK(&g->r, BIG_INTS));
  else if (p < 98) lit_zero(g, o);
  else lit_real(o, PICK(&g->r, ((const double[]){0.0, 1e300, 1.0, 2.5})));
}

/* A literal for column `col` of the table. */
static void col_lit(gen *g, const char *col, str *o) {
  int i;
  for (i = 0; i < g->s->nk; i++)
    if (strcmp(col, g->s->k[i]) == 0) { key_lit(g, col, o); return; }
  val_lit(g, o);
}

/* --- conditions --- */

static const char *const CMP_OPS[] = {"<", "<=", ">", ">="};

/* "k = lit" (composite: on both or on the first key column). */
static void key_eq(gen *g, str *o) {
  const schema *s = g->s;
  str_addf(o, "%s = ", s->k[0]);
  key_lit(g, s->k[0], o);
  if (s->nk == 2) {
    str_addf(o, " AND %s = ", s->k[1]);
    key_lit(g, s->k[1], o);
  }
}

static void lit_list(gen *g, const char *col, str *o) {
  int n = rnd_in(&g->r, 1, 5), i;
  for (i = 0; i < n; i++) {
    if (i) str_add(o, ", ");
    key_lit(g, col, o);
  }
}

/* A condition on the key: points, ranges, IN lists, combinations. */
static void key_cond(gen *g, str *o) {
  const schema *s = g->s;
  const char *K = s->k[0];
  switch (rnd(&g->r, 11)) {
    case 0: case 1:
      key_eq(g, o);
      break;
    case 2: case 3:
      str_addf(o, "%s %s ", K, PICK(&g->r, CMP_OPS));
      key_lit(g, K, o);
      break;
    case 4:
      str_addf(o, "%s %sBETWEEN ", K, chance(&g->r, 15) ? "NOT " : "");
      key_lit(g, K, o);
      str_add(o, " AND ");
      key_lit(g, K, o);
      break;
    case 5:
      str_addf(o, "%s %s ", K, PICK(&g->r, ((const char *const[]){">", ">="})));
      key_lit(g, K, o);
      str_addf(o, " AND %s %s ", K, PICK(&g->r, ((const char *const[]){"<", "<="})));
      key_lit(g, K, o);
      break;
    case 6:
      if (has(g, F_IN)) {
        if (s->nk == 2 && chance(&g->r, 50)) {
          int n = rnd_in(&g->r, 1, 4), i;
          str_addf(o, "(%s, %s) IN (VALUES ", s->k[0], s->k[1]);
          for (i = 0; i < n; i++) {
            str_add(o, i ? ", (" : "(");
            key_lit(g, s->k[0], o);
            str_add(o, ", ");
            key_lit(g, s->k[1], o);
            str_add(o, ")");
          }
          str_add(o, ")");
        } else {
          str_addf(o, "%s %sIN (", K, chance(&g->r, 15) ? "NOT " : "");
          lit_list(g, K, o);
          str_add(o, ")");
        }
        break;
      }
      key_eq(g, o);
      break;
    case 7:
      /* On a composite key SQLite plans a MULTI-INDEX OR, and a write then
      ** visits the rows in the order of the OR's terms (natively: in key
      ** order), which FAIL, IGNORE and REPLACE make visible. */
      if (s->nk == 2 && !has(g, F_ORPOINTS)) {
        key_eq(g, o);
        break;
      }
      key_eq(g, o);
      str_add(o, " OR ");
      key_eq(g, o);
      break;
    case 8:
      str_addf(o, "%s IS ", K);
      if (chance(&g->r, 30)) str_add(o, chance(&g->r, 50) ? "NULL" : "NOT NULL");
      else key_lit(g, K, o);
      break;
    case 9:
      if (s->nk == 2) {
        str_addf(o, "(%s, %s) %s (", s->k[0], s->k[1], PICK(&g->r, CMP_OPS));
        key_lit(g, s->k[0], o);
        str_add(o, ", ");
        key_lit(g, s->k[1], o);
        str_add(o, ")");
      } else {
        str_addf(o, "%s != ", K);
        key_lit(g, K, o);
      }
      break;
    default:
      /* Defeats the key plan: the module scans, SQLite filters. */
      str_addf(o, "+%s %s ", K, PICK(&g->r, CMP_OPS));
      key_lit(g, K, o);
      break;
  }
}

/* A condition on the value columns (or mixing in the key). */
static void val_cond(gen *g, str *o) {
  const char *K = g->s->k[0];
  switch (rnd(&g->r, 9)) {
    case 0: str_addf(o, "v IS %sNULL", chance(&g->r, 50) ? "NOT " : ""); break;
    case 1:
      str_addf(o, "typeof(%s) = '%s'", chance(&g->r, 50) ? "v" : "w",
               PICK(&g->r, ((const char *const[]){"integer", "real", "text", "blob", "null"})));
      break;
    case 2: str_addf(o, "v %s ", PICK(&g->r, CMP_OPS)); val_lit(g, o); break;
    case 3: str_add(o, "w = "); val_lit(g, o); break;
    case 4: str_addf(o, "length(w) > %d", rnd_in(&g->r, 0, 200)); break;
    case 5: str_addf(o, "v = %s", K); break;
    case 6: str_addf(o, "v %s w", PICK(&g->r, CMP_OPS)); break;
    case 7: str_addf(o, "(%s %% %d) = 0", K, rnd_in(&g->r, 2, 5)); break;
    default: str_addf(o, "v BETWEEN %d AND %d", rnd_in(&g->r, -5, 20), rnd_in(&g->r, 10, 50)); break;
  }
}

static void cond(gen *g, str *o) {
  int p = rnd(&g->r, 100);
  if (p < 60) key_cond(g, o);
  else if (p < 82) val_cond(g, o);
  else {
    str_add(o, "(");
    key_cond(g, o);
    str_add(o, chance(&g->r, 60) ? ") AND (" : ") OR (");
    val_cond(g, o);
    str_add(o, ")");
  }
}

/* ORDER BY the key (a total order); a composite key sometimes in mixed
** directions, which the scan cannot provide. */
static void key_order(gen *g, str *o, int desc) {
  int i, mixed = g->s->nk == 2 && chance(&g->r, 20);
  str_add(o, " ORDER BY ");
  for (i = 0; i < g->s->nk; i++) {
    int d = mixed && i == 1 ? !desc : desc;
    str_addf(o, "%s%s%s", i ? ", " : "", g->s->k[i], d ? " DESC" : "");
  }
}

/* The key columns as a select list. */
static const char *key_list(const schema *s) {
  return s->nk == 2 ? (strcmp(s->k[0], "a") == 0 ? "a, b" : "b, a") : s->k[0];
}

/* --- statements --- */

static const char *insert_verb(gen *g) {
  static const char *const BASIC[] = {"INSERT", "INSERT", "INSERT OR REPLACE", "REPLACE"};
  static const char *const ALL[] = {"INSERT", "INSERT", "INSERT OR REPLACE", "REPLACE",
                                    "INSERT OR IGNORE", "INSERT OR FAIL",
                                    "INSERT OR ABORT", "INSERT OR ROLLBACK"};
  return has(g, F_CONFLICT) ? PICK(&g->r, ALL) : PICK(&g->r, BASIC);
}

static const char *update_verb(gen *g) {
  static const char *const ALL[] = {"UPDATE", "UPDATE", "UPDATE OR REPLACE", "UPDATE OR IGNORE",
                                    "UPDATE OR FAIL", "UPDATE OR ABORT", "UPDATE OR ROLLBACK"};
  return has(g, F_CONFLICT) ? PICK(&g->r, ALL) : "UPDATE";
}

/* Column list of an INSERT: all declared columns (shuffled or not), the
** value columns only (key omitted), or none (declared order implied). */
static int insert_columns(gen *g, const char **cols, int *listed) {
  const schema *s = g->s;
  int n = 0, i, p = rnd(&g->r, 100);
  *listed = 1;
  if (p < 10) {
    /* No column list: the declared columns, in order. */
    *listed = 0;
    for (i = 0; i < s->ncols; i++) cols[n++] = s->cols[i];
    return n;
  }
  if (s->mode == M_ROWID) cols[n++] = "rowid";
  for (i = 0; i < s->ncols; i++) cols[n++] = s->cols[i];
  if (p < 16 && (s->rowid_key || has(g, F_BADKEY))) {
    /* Leave out the (first) key column. */
    for (i = 0; i < n; i++)
      if (strcmp(cols[i], s->k[0]) == 0) {
        memmove(cols + i, cols + i + 1, sizeof(char *) * (size_t)(n - i - 1));
        n--;
        break;
      }
  } else if (p < 40) {
    for (i = n - 1; i > 0; i--) {
      int j = rnd(&g->r, i + 1);
      const char *t = cols[i];
      cols[i] = cols[j];
      cols[j] = t;
    }
  }
  return n;
}

static void insert_values(gen *g, str *o, const char *verb) {
  const char *cols[5];
  int listed, n = insert_columns(g, cols, &listed), i, r;
  int rows = (has(g, F_MULTIROW) && chance(&g->r, 25)) ? rnd_in(&g->r, 2, 6) : 1;
  g->no_badkey = rows > 1 && g->s->rowid_key && strcmp(verb, "INSERT") != 0 &&
                 strcmp(verb, "INSERT OR ABORT") != 0;
  str_addf(o, "%s INTO @T", verb);
  if (listed) {
    str_add(o, "(");
    for (i = 0; i < n; i++) str_addf(o, "%s%s", i ? ", " : "", cols[i]);
    str_add(o, ")");
  }
  str_add(o, " VALUES");
  for (r = 0; r < rows; r++) {
    str_add(o, r ? ", (" : "(");
    for (i = 0; i < n; i++) {
      if (i) str_add(o, ", ");
      col_lit(g, cols[i], o);
    }
    str_add(o, ")");
  }
  g->no_badkey = 0;
}

/* Key expression of row x of a generated series. */
static void series_key(gen *g, const char *col, str *o) {
  int off = rnd_in(&g->r, -2, g->kr), step = rnd_in(&g->r, 1, 4);
  switch (g->s->mode) {
    case M_INTEGER: case M_ROWID:
      if (g->s->rowid_key && chance(&g->r, 20)) str_add(o, "NULL");
      else str_addf(o, "x * %d + %d", step, off);
      break;
    case M_TEXT: str_addf(o, "'%c' || x", "abAB"[rnd(&g->r, 4)]); break;
    case M_BLOB: str_addf(o, "CAST('%c' || x AS BLOB)", "ab"[rnd(&g->r, 2)]); break;
    case M_NUMERIC: str_addf(o, "x * 0.5 + %d", off / 4); break;
    case M_MIXED:
      str_add(o, "CASE x % 3 WHEN 0 THEN x WHEN 1 THEN 'm' || x ELSE x + 0.5 END");
      break;
    case M_COMPOSITE:
      if (strcmp(col, "a") == 0) str_addf(o, "%d + x / 4", rnd_in(&g->r, 0, 12));
      else str_add(o, "char(97 + x % 4)");
      break;
    case N_MODES: break;
  }
}

static void series_value(gen *g, str *o) {
  switch (rnd(&g->r, 5)) {
    case 0: str_add(o, "x"); break;
    case 1: str_add(o, "'val' || x"); break;
    case 2:
      if (has(g, F_LONG)) { str_add(o, "printf('%.*c', x * 40, 'y')"); break; }
      /* fall through */
    case 3: str_add(o, "CASE WHEN x % 5 = 0 THEN NULL ELSE x * 1.5 END"); break;
    default: val_lit(g, o); break;
  }
}

/* WITH RECURSIVE c(x) ... INSERT INTO @T(...) SELECT ... FROM c */
static void insert_series(gen *g, str *o, const char *verb) {
  const schema *s = g->s;
  int n = chance(&g->r, 15) ? rnd_in(&g->r, 50, 300) : rnd_in(&g->r, 2, 30), i;
  str_addf(o, "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
           "WHERE x < %d) %s INTO @T(", n, verb);
  if (s->mode == M_ROWID) str_add(o, "rowid, ");
  for (i = 0; i < s->ncols; i++) str_addf(o, "%s%s", i ? ", " : "", s->cols[i]);
  str_add(o, ") SELECT ");
  if (s->mode == M_ROWID) { series_key(g, "rowid", o); str_add(o, ", "); }
  for (i = 0; i < s->ncols; i++) {
    int is_key = 0, j;
    if (i) str_add(o, ", ");
    for (j = 0; j < s->nk; j++) is_key |= strcmp(s->cols[i], s->k[j]) == 0;
    if (is_key) series_key(g, s->cols[i], o);
    else series_value(g, o);
  }
  str_add(o, " FROM c");
}

/* An expression moving key column K somewhere else (may collide). */
static void key_shift(gen *g, const char *K, str *o) {
  switch (g->s->mode) {
    case M_TEXT:
      str_addf(o, PICK(&g->r, ((const char *const[]){"%s || 'a'", "'b' || %s", "upper(%s)"})), K);
      break;
    case M_BLOB:
      str_addf(o, PICK(&g->r, ((const char *const[]){"CAST(%s || x'00' AS BLOB)",
                                                     "CAST(x'61' || %s AS BLOB)"})), K);
      break;
    case M_COMPOSITE:
      if (strcmp(K, "a") == 0) str_addf(o, "%s + %d", K, rnd_in(&g->r, -3, 20));
      else str_addf(o, "%s || 'a'", K);
      break;
    default:
      /* No product for rowid keys: it could overflow into a real, a
      ** mid-statement datatype mismatch (see no_badkey). */
      str_addf(o, (g->s->rowid_key ? PICK(&g->r, ((const char *const[]){"%s + %d", "%s - %d"}))
                                    : PICK(&g->r, ((const char *const[]){"%s + %d", "%s - %d",
                                                                         "%s * %d"}))),
               K, rnd_in(&g->r, 1, 30));
      break;
  }
}

/* INSERT INTO @T SELECT <moved key>, ... FROM @T WHERE ...: the scan must
** see the table as of its start.  A rowid key may be left out (new rowids). */
static void insert_self(gen *g, str *o, const char *verb) {
  const schema *s = g->s;
  const char *cols[5];
  int n = 0, i, omit_key = s->rowid_key && chance(&g->r, 30);
  if (s->mode == M_ROWID) cols[n++] = "rowid";
  for (i = 0; i < s->ncols; i++) cols[n++] = s->cols[i];
  if (omit_key) { memmove(cols, cols + 1, sizeof(char *) * (size_t)(n - 1)); n--; }
  str_addf(o, "%s INTO @T(", verb);
  for (i = 0; i < n; i++) str_addf(o, "%s%s", i ? ", " : "", cols[i]);
  str_add(o, ") SELECT ");
  for (i = 0; i < n; i++) {
    const char *c = cols[i];
    if (i) str_add(o, ", ");
    if (strcmp(c, s->k[0]) == 0) key_shift(g, c, o);
    else if (s->nk == 2 && strcmp(c, s->k[1]) == 0) str_add(o, c);
    else str_add(o, chance(&g->r, 50) ? "v" : "w");
  }
  str_add(o, " FROM @T");
  if (chance(&g->r, 70)) {
    str_add(o, " WHERE ");
    cond(g, o);
  }
}

static void gen_insert(gen *g, str *o) {
  const char *verb = insert_verb(g);
  int p = rnd(&g->r, 100);
  if (p < 8 && has(g, F_SELFREF)) insert_self(g, o, verb);
  else if (p < 20 && has(g, F_MULTIROW)) insert_series(g, o, verb);
  else insert_values(g, o, verb);
}

/* A new value expression for a value column. */
/* selfref: subqueries on the table are allowed.  Only in UPDATEs that
** move no key: a native UPDATE evaluates them row by row against the
** table as changed so far, a virtual table's UPDATE evaluates them all
** before the first change, and the subqueries below depend only on the
** keys. */
static void val_expr(gen *g, str *o, int selfref) {
  const char *K = g->s->k[0];
  int p = rnd(&g->r, 100);
  if (p < 50) { val_lit(g, o); return; }
  if (p < 80) {
    str_addf(o, PICK(&g->r, ((const char *const[]){
                 "v || 'x'", "v + 1", "w", "%s", "length(w)", "typeof(v)", "0 - v",
                 "v * 1.5", "coalesce(v, %s)", "CAST(v AS TEXT)"})), K, K);
    return;
  }
  if (selfref && has(g, F_SELFREF)) {
    if (p < 88) {
      str_add(o, "(SELECT count(*) FROM @T)");
    } else if (p < 94 || g->kr > 200) {
      /* Correlated, a few point lookups per row. */
      str_addf(o, "(SELECT count(*) FROM @T AS s WHERE s.%s IN (@T.%s, ", K, K);
      key_lit(g, K, o);
      str_add(o, ", ");
      key_lit(g, K, o);
      str_add(o, "))");
    } else {
      /* Correlated, a range per row: quadratic, so small tables only. */
      str_addf(o, "(SELECT count(*) FROM @T AS s WHERE s.%s < @T.%s)", K, K);
    }
    return;
  }
  val_lit(g, o);
}

/* UPDATE OR REPLACE moving several rows: the new keys must lie outside the
** set of rows being updated, or a native table (which re-reads each row as
** it goes) and a virtual table (which gets values computed up front)
** legitimately end up different.  Two shapes guarantee that: a numeric
** shift by more than the width of the updated key range, and blob keys
** (which sort after every non-blob and which no affinity converts) built
** from keys below x'ff'. */
static void replace_move(gen *g, str *o, const char *verb) {
  const schema *s = g->s;
  const char *K = s->k[0];
  int numeric = s->rowid_key || s->mode == M_INTEGER || s->mode == M_NUMERIC;
  if (numeric || (s->mode == M_MIXED && chance(&g->r, 50))) {
    int lo = rnd_in(&g->r, -2, g->kr), w = rnd_in(&g->r, 0, 40);
    int shift = (chance(&g->r, 50) ? 1 : -1) * rnd_in(&g->r, 200, 1000);
    str_addf(o, "%s @T SET %s = %s + %d WHERE %s BETWEEN %d AND %d", verb, K, K,
             shift, K, lo, lo + w);
  } else {
    str_addf(o, "%s @T SET %s = CAST(x'ff' || %s AS BLOB) WHERE %s < x'ff'", verb,
             K, K, K);
    if (chance(&g->r, 60)) {
      str_add(o, " AND (");
      cond(g, o);
      str_add(o, ")");
    }
  }
}

static void key_move(gen *g, str *o, const char *verb) {
  const schema *s = g->s;
  int replace = strstr(verb, "REPLACE") != NULL, i;
  int p = rnd(&g->r, 100);
  if (p < 40) {
    /* One row (WHERE names the whole key) onto any key. */
    str_addf(o, "%s @T SET ", verb);
    for (i = 0; i < s->nk; i++) {
      if (i) str_add(o, ", ");
      str_addf(o, "%s = ", s->k[i]);
      key_lit(g, s->k[i], o);
    }
    if (chance(&g->r, 30)) { str_add(o, ", v = "); val_expr(g, o, 0); }
    str_add(o, " WHERE ");
    key_eq(g, o);
    return;
  }
  if (replace) { replace_move(g, o, verb); return; }
  str_addf(o, "%s @T SET %s = ", verb, s->k[0]);
  if (p < 55) key_lit(g, s->k[0], o);   /* many rows onto one key */
  else key_shift(g, s->k[0], o);
  if (chance(&g->r, 30)) { str_add(o, ", v = "); val_expr(g, o, 0); }
  str_add(o, " WHERE ");
  cond(g, o);
}

static void gen_update(gen *g, str *o) {
  const char *verb = update_verb(g);
  if (has(g, F_KEYMOVE) && chance(&g->r, 35)) { key_move(g, o, verb); return; }
  str_addf(o, "%s @T SET v = ", verb);
  val_expr(g, o, 1);
  if (chance(&g->r, 40)) { str_add(o, ", w = "); val_expr(g, o, 1); }
  if (chance(&g->r, 97)) { str_add(o, " WHERE "); cond(g, o); }
}

/* Mostly small deletes (one key, a short range), so that tables grow. */
static void gen_delete(gen *g, str *o) {
  const schema *s = g->s;
  const char *K = s->k[0];
  int p = rnd(&g->r, 1000);
  str_add(o, "DELETE FROM @T");
  if (p < 2) return;
  str_add(o, " WHERE ");
  if (p < 100 && has(g, F_SELFREF)) {
    if (chance(&g->r, 50)) {
      const char *kl = key_list(s);
      str_addf(o, s->nk == 2 ? "(%s) IN (SELECT %s FROM @T WHERE " : "%s IN (SELECT %s FROM @T WHERE ",
               kl, kl);
      val_cond(g, o);
      str_add(o, ")");
    } else {
      str_addf(o, "%s = (SELECT %s(%s) FROM @T)", K, chance(&g->r, 50) ? "max" : "min", K);
    }
  } else if (p < 300) {
    cond(g, o);
  } else if (p < 700 || s->nk == 2) {
    key_eq(g, o);
  } else {
    int lo = rnd_in(&g->r, -2, g->kr);
    str_addf(o, "%s BETWEEN %d AND %d", K, lo, lo + rnd(&g->r, 8));
  }
}

/* Key range scans in key order, with LIMIT/OFFSET; with a filter on the
** values sometimes, which must keep LIMIT out of the scan. */
static void select_key_ordered(gen *g, str *o) {
  int desc = has(g, F_DESC) && chance(&g->r, 50), p = rnd(&g->r, 100);
  str_addf(o, "SELECT %s, v, typeof(w) FROM @T", key_list(g->s));
  if (p < 60) { str_add(o, " WHERE "); key_cond(g, o); }
  else if (p < 85) { str_add(o, " WHERE "); cond(g, o); }
  key_order(g, o, desc);
  if (has(g, F_LIMIT) && chance(&g->r, 40)) {
    str_addf(o, " LIMIT %d", rnd_in(&g->r, -1, 10));
    if (chance(&g->r, 50)) str_addf(o, " OFFSET %d", rnd_in(&g->r, 0, 10));
  }
}

/* Aggregates whose results do not depend on the scan order.  Returns
** whether the rows come in a total order. */
static int select_agg(gen *g, str *o) {
  const char *K = g->s->k[0];
  if (chance(&g->r, 25)) {
    str_addf(o, "SELECT typeof(%s), typeof(v), count(*) FROM @T GROUP BY 1, 2", K);
    return 0;
  }
  str_add(o, "SELECT count(*), count(v), "
             "sum(CASE WHEN typeof(v) = 'integer' AND abs(v) < 1000000 THEN v END), "
             "total(length(w))");
  /* A composite key's first column may hold 1 and 1.0 in two rows. */
  if (g->s->nk == 1) str_addf(o, ", min(%s), max(%s)", K, K);
  str_add(o, " FROM @T");
  if (chance(&g->r, 70)) { str_add(o, " WHERE "); cond(g, o); }
  return 1;
}

static void select_join(gen *g, str *o) {
  const char *K = g->s->k[0];
  str_addf(o, "SELECT x.%s, x.v, y.%s FROM @T AS x JOIN @T AS y ON ", K, K);
  if (has(g, F_CROSSAFF) && chance(&g->r, 40)) {
    /* v has no affinity, w may have any: the comparison's affinity is not
    ** the key's. */
    str_addf(o, "y.%s %s x.%s", K, chance(&g->r, 60) ? "=" : PICK(&g->r, CMP_OPS),
             chance(&g->r, 50) ? "v" : "w");
  } else if (chance(&g->r, 50)) {
    str_addf(o, "y.%s = x.%s", K, K);
  } else {
    str_addf(o, "y.%s > x.%s", K, K);
  }
  /* An inequality join restricted to one row of x: linear, not quadratic. */
  if (strstr(o->p, " = x.")) str_addf(o, " WHERE x.%s %s ", K, PICK(&g->r, CMP_OPS));
  else str_addf(o, " WHERE x.%s = ", K);
  key_lit(g, K, o);
}

/* Filter on the values, ordered by value then key: a total order. */
static void select_value_ordered(gen *g, str *o) {
  int i;
  str_addf(o, "SELECT %s, v FROM @T WHERE ", key_list(g->s));
  val_cond(g, o);
  str_add(o, " ORDER BY v");
  for (i = 0; i < g->s->nk; i++) str_addf(o, ", %s", g->s->k[i]);
  if (has(g, F_DESC) && chance(&g->r, 30)) str_add(o, " DESC");
}

/* Returns whether the rows come in a total order. */
static int gen_select(gen *g, str *o) {
  const schema *s = g->s;
  const char *K = s->k[0];
  int p = rnd(&g->r, 100);
  if (p < 25) {
    /* Various column subsets (the module decodes only what is used). */
    str_addf(o, "SELECT %s FROM @T WHERE ",
             PICK(&g->r, ((const char *const[]){"*", "*", "w", "v, w", "length(v), typeof(w)",
                                                "w, *", "count(*) OVER ()"})));
    cond(g, o);
    return 0;
  }
  if (p < 50) { select_key_ordered(g, o); return 1; }
  if (p < 60) {
    /* Lookups with literals of other types: affinity of the comparison. */
    str_addf(o, "SELECT typeof(%s), %s, v FROM @T WHERE ", K, key_list(s));
    key_cond(g, o);
    return 0;
  }
  if (p < 70 && has(g, F_AGG)) return select_agg(g, o);
  if (p < 76 && has(g, F_JOIN)) { select_join(g, o); return 0; }
  if (p < 82 && has(g, F_IN) && has(g, F_CROSSAFF)) {
    str_addf(o, "SELECT %s, w FROM @T WHERE %s IN (SELECT v FROM @T WHERE ", key_list(s), K);
    val_cond(g, o);
    str_add(o, ")");
    return 0;
  }
  if (p < 87) { select_value_ordered(g, o); return 1; }
  if (p < 90 && has(g, F_ROWIDCOL)) {
    str_add(o, "SELECT rowid, v FROM @T WHERE ");
    key_cond(g, o);
    return 0;
  }
  if (p < 94) {
    str_addf(o, "SELECT EXISTS (SELECT 1 FROM @T WHERE ");
    key_cond(g, o);
    str_add(o, ")");
    return 1;
  }
  str_addf(o, "SELECT * FROM @T WHERE ");
  key_eq(g, o);
  return 0;
}

static void gen_txn(gen *g, int autocommit, str *o) {
  int p = rnd(&g->r, 100);
  int sp = has(g, F_SAVEPOINT), txn = has(g, F_TXN);
  g->pending = 0;
  if (autocommit) {
    if (sp && (!txn || p < 35)) {
      g->pending = 1;
      g->pending_sp = g->next_sp++;
      str_addf(o, "SAVEPOINT s%d", g->pending_sp);
    } else if (p < 95) {
      str_add(o, PICK(&g->r, ((const char *const[]){"BEGIN", "BEGIN", "BEGIN IMMEDIATE",
                                                     "BEGIN DEFERRED"})));
    } else {
      str_add(o, chance(&g->r, 50) ? "COMMIT" : "ROLLBACK");  /* errors */
    }
    return;
  }
  if (sp && p < 30 && g->nsp < MAX_SP) {
    g->pending = 1;
    g->pending_sp = g->next_sp++;
    str_addf(o, "SAVEPOINT s%d", g->pending_sp);
    return;
  }
  if (sp && p < 60 && (g->nsp > 0 || p < 33)) {
    int id = g->nsp && chance(&g->r, 95) ? g->sp[rnd(&g->r, g->nsp)] : 9999;
    g->pending = p < 45 ? 2 : 3;
    g->pending_sp = id;
    str_addf(o, "%s s%d", p < 45 ? "RELEASE" : "ROLLBACK TO", id);
    return;
  }
  if (!txn) {
    /* Savepoints only: leave by releasing the outermost. */
    g->pending = 2;
    g->pending_sp = g->nsp ? g->sp[0] : 9999;
    str_addf(o, "RELEASE s%d", g->pending_sp);
    return;
  }
  if (p < 80) str_add(o, chance(&g->r, 85) ? "COMMIT" : "END");
  else if (p < 97) str_add(o, "ROLLBACK");
  else str_add(o, "BEGIN");  /* error: already in a transaction */
}

/* Keep the savepoint model in step after an operation ran. */
static void gen_after(gen *g, int rc, int autocommit) {
  int i;
  if (g->pending && rc == SQLITE_OK) {
    if (g->pending == 1) {
      if (g->nsp < MAX_SP) g->sp[g->nsp++] = g->pending_sp;
    } else {
      for (i = g->nsp - 1; i >= 0; i--)
        if (g->sp[i] == g->pending_sp) break;
      if (i >= 0) g->nsp = g->pending == 2 ? i : i + 1;
    }
  }
  g->pending = 0;
  if (autocommit) g->nsp = 0;
}

/* Statements on the helper table, whose triggers write the table. */
static void gen_trigger_op(gen *g, str *o) {
  const char *K = g->s->k[0];
  switch (rnd(&g->r, 5)) {
    case 0: case 1: {
      const char *verb = insert_verb(g);
      /* The trigger's INSERT takes this statement's conflict mode. */
      g->no_badkey = g->s->rowid_key && strcmp(verb, "INSERT") != 0 &&
                     strcmp(verb, "INSERT OR ABORT") != 0;
      str_addf(o, "%s INTO @T_h VALUES(", verb);
      key_lit(g, K, o);
      g->no_badkey = 0;
      str_add(o, ", ");
      val_lit(g, o);
      str_add(o, ")");
      break;
    }
    case 2:
      str_addf(o, "%s INTO @T_h SELECT %s, v FROM @T WHERE ", insert_verb(g), K);
      cond(g, o);
      break;
    case 3:
      str_addf(o, "DELETE FROM @T_h WHERE x IN (SELECT %s FROM @T WHERE ", K);
      cond(g, o);
      str_add(o, ")");
      break;
    default:
      /* The trigger writes the table while the correlated subquery's cursor
      ** on it stays open between rows. */
      str_addf(o, "UPDATE @T_h SET y = ");
      val_lit(g, o);
      str_addf(o, " WHERE EXISTS (SELECT 1 FROM @T WHERE %s = @T_h.x)", K);
      break;
  }
}

static const char *const COMMANDS[] = {"flush", "compact", "integrity-check"};

/* Append the next operation to ops. */
static void gen_op(gen *g, int autocommit, oplist *ops) {
  str o = {0};
  enum op_kind kind = OP_TABLE;
  int ordered = 0, p = rnd(&g->r, 1000);
  g->pending = 0;
  if (p < 40 && has(g, F_TXN | F_SAVEPOINT)) {
    gen_txn(g, autocommit, &o);
    kind = OP_GLOBAL;
  } else if (p < 55 && has(g, F_COMMANDS)) {
    str_addf(&o, "INSERT INTO @T(@T) VALUES('%s')", PICK(&g->r, COMMANDS));
    kind = OP_LSM_ONLY;
  } else if (p < 60 && has(g, F_REOPEN) && autocommit) {
    str_add(&o, "-- reopen");
    kind = OP_REOPEN;
  } else if (p < 90 && has(g, F_TRIGGER)) {
    gen_trigger_op(g, &o);
  } else if (p < 380) {
    gen_insert(g, &o);
  } else if (p < 560) {
    gen_update(g, &o);
  } else if (p < 660) {
    gen_delete(g, &o);
  } else {
    ordered = gen_select(g, &o);
  }
  oplist_push(ops, kind, ordered, o.p ? o.p : xstrdup(""));
}

/* ================================================================== */
/* Schemas. */

/* The helper table @T_h(x, y) and triggers that mirror its changes into
** the table: x holds key values and has the key's declared type, so that
** comparisons between the two need no conversion (see crossaff). */
static void helper_ddl(schema *s, const char *ktype) {
  const char *K = s->k[0];
  char ins[160];
  if (s->nk == 2)
    snprintf(ins, sizeof ins, "(%s, %s, v, w) VALUES(new.x, 'tr', new.y, 'trig')", s->k[0], s->k[1]);
  else
    snprintf(ins, sizeof ins, "(%s, v, w) VALUES(new.x, new.y, 'trig')", K);
  snprintf(s->helper[0], sizeof s->helper[0], "CREATE TABLE @T_h(x%s%s PRIMARY KEY, y)",
           ktype[0] ? " " : "", ktype);
  snprintf(s->helper[1], sizeof s->helper[1],
           "CREATE TRIGGER @T_ai AFTER INSERT ON @T_h BEGIN INSERT INTO @T%s; END", ins);
  snprintf(s->helper[2], sizeof s->helper[2],
           "CREATE TRIGGER @T_ad AFTER DELETE ON @T_h BEGIN DELETE FROM @T WHERE %s = old.x; END",
           K);
  snprintf(s->helper[3], sizeof s->helper[3],
           "CREATE TRIGGER @T_au AFTER UPDATE ON @T_h BEGIN UPDATE @T SET v = new.y, "
           "w = 'trig-upd' WHERE %s = new.x; END", K);
  s->nhelper = 4;
}

static void schema_init(schema *s, enum mode m, rng *r, unsigned feat) {
  static const char *const WTYPES[] = {"", "", "TEXT", "INTEGER", "REAL", "NUMERIC", "BLOB"};
  const char *wt = (feat & F_VALTYPE) ? PICK(r, WTYPES) : "";
  const char *kt = "";
  char wdef[32];
  memset(s, 0, sizeof(*s));
  s->mode = m;
  s->nk = 1;
  s->k[0] = "k";
  snprintf(wdef, sizeof wdef, "w%s%s", wt[0] ? " " : "", wt);
  switch (m) {
    case M_INTEGER:
      if ((feat & F_INTPK) && chance(r, 50)) {
        kt = "INTEGER";
        s->rowid_key = 1;
      } else {
        kt = PICK(r, ((const char *const[]){"INT", "BIGINT", "INT8"}));
      }
      break;
    case M_TEXT:
      kt = PICK(r, ((const char *const[]){"TEXT", "VARCHAR(8)", "CLOB"}));
      if ((feat & F_COLLATE) && chance(r, 50))
        kt = PICK(r, ((const char *const[]){"TEXT COLLATE NOCASE", "TEXT COLLATE RTRIM",
                                            "VARCHAR(8) COLLATE NOCASE", "COLLATE BINARY"}));
      break;
    case M_BLOB: kt = "BLOB"; break;
    case M_NUMERIC:
      kt = PICK(r, ((const char *const[]){"NUMERIC", "REAL", "DECIMAL(10,2)", "FLOAT",
                                          "", "INT", "ANY"}));
      break;
    case M_MIXED:
      kt = (feat & F_COLLATE) && chance(r, 30) ? "COLLATE NOCASE" : "";
      break;
    case M_COMPOSITE: case M_ROWID: case N_MODES: break;
  }
  if (m == M_COMPOSITE) {
    const char *at = PICK(r, ((const char *const[]){"INT", "", "TEXT", "NUMERIC"}));
    const char *bt = PICK(r, ((const char *const[]){"TEXT", "", "INT", "BLOB"}));
    if ((feat & F_COLLATE) && chance(r, 30))
      bt = PICK(r, ((const char *const[]){"TEXT COLLATE NOCASE", "COLLATE RTRIM"}));
    int swap = chance(r, 25);
    kt = swap ? bt : at;
    s->nk = 2;
    s->k[0] = swap ? "b" : "a";
    s->k[1] = swap ? "a" : "b";
    s->cols[0] = "a"; s->cols[1] = "b"; s->cols[2] = "v"; s->cols[3] = "w";
    s->ncols = 4;
    snprintf(s->coldefs, sizeof s->coldefs, "a%s%s, b%s%s, v, %s, PRIMARY KEY(%s, %s)",
             at[0] ? " " : "", at, bt[0] ? " " : "", bt, wdef, s->k[0], s->k[1]);
  } else if (m == M_ROWID) {
    s->rowid_key = 1;
    s->k[0] = "rowid";
    s->cols[0] = "v"; s->cols[1] = "w";
    s->ncols = 2;
    snprintf(s->coldefs, sizeof s->coldefs, "v, %s", wdef);
  } else {
    s->cols[0] = "k"; s->cols[1] = "v"; s->cols[2] = "w";
    s->ncols = 3;
    snprintf(s->coldefs, sizeof s->coldefs, "k%s%s PRIMARY KEY, v, %s",
             kt[0] ? " " : "", kt, wdef);
  }
  if (feat & F_TRIGGER) helper_ddl(s, s->rowid_key ? "INT" : kt);
  snprintf(s->opts, sizeof s->opts, "memtable_size=%d, block_size=%d, sync=off",
           PICK(r, ((const int[]){1024, 2048, 2048, 4096})),
           PICK(r, ((const int[]){256, 1024, 4096})));
}

/* ================================================================== */
/* Minimising a failing operation list (delta debugging). */

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Shrink keep[0..*n-1] while replaying it still gives difference `want`. */
static void minimize(const options *opt, const schema *sch, unsigned long long seed,
                     const oplist *ops, int *keep, int *n, enum diff_kind want) {
  double deadline = now_seconds() + opt->minimize_seconds;
  int chunks = 2;
  int *trial = xmalloc(sizeof(int) * (size_t)(*n + 1));
  while (*n >= 2 && now_seconds() < deadline) {
    int size = (*n + chunks - 1) / chunks, c, reduced = 0;
    for (c = 0; c < chunks && now_seconds() < deadline; c++) {
      int lo = c * size, hi = lo + size, m = 0, i;
      if (lo >= *n) break;
      for (i = 0; i < *n; i++)
        if (i < lo || i >= hi) trial[m++] = keep[i];
      if (replay(opt, sch, seed, ops, trial, m, NULL, 1) == want) {
        memcpy(keep, trial, sizeof(int) * (size_t)m);
        *n = m;
        chunks = chunks > 2 ? chunks - 1 : 2;
        reduced = 1;
        break;
      }
    }
    if (!reduced) {
      if (chunks >= *n) break;
      chunks = chunks * 2 < *n ? chunks * 2 : *n;
    }
  }
  free(trial);
}

static void print_file(const char *path) {
  FILE *f = fopen(path, "r");
  char line[4096];
  if (!f) return;
  while (fgets(line, sizeof line, f)) fputs(line, stdout);
  fclose(f);
}

/* ================================================================== */
/* One seed. */

static enum mode mode_for_seed(const options *opt, unsigned long long seed) {
  return (enum mode)opt->modes[seed % (unsigned long long)opt->nmodes];
}

/* Returns 0 (no difference), 1 (difference) or 2 (set-up error); adds the
** statements it ran to *nops. */
static int run_seed(const options *opt, unsigned long long seed, long *nops) {
  rng srng;
  schema sch;
  gen g;
  runner r;
  oplist ops = {0};
  char logpath[PATH_MAX + 64];
  long i;
  int status = 0;

  rng_seed(&srng, seed);
  schema_init(&sch, mode_for_seed(opt, seed), &srng, opt->feat);
  memset(&g, 0, sizeof g);
  g.r = srng;
  g.s = &sch;
  g.feat = opt->feat;
  g.next_sp = 1;
  g.kr = opt->key_range;
  snprintf(logpath, sizeof logpath, "%s/seed-%llu.sql", opt->root, seed);
  printf("difftest: seed %llu, mode %s: %s (%s)\n", seed, MODE_NAMES[sch.mode],
         sch.coldefs, sch.opts);
  fflush(stdout);

  if (runner_start(&r, opt, &sch, seed, logpath, 0, 1) != 0) {
    runner_finish(&r, 1);
    return 2;
  }
  for (i = 0; i < opt->ops && r.diff == D_NONE; i++) {
    int ac = sqlite3_get_autocommit(r.db);
    if (opt->check_every > 0 && i % opt->check_every == opt->check_every - 1) {
      oplist_push(&ops, OP_TABLE, 1, check_sql(&sch, opt->feat));
    } else {
      gen_op(&g, ac, &ops);
    }
    r.last_rc = SQLITE_OK;
    run_op(&r, &ops.v[ops.n - 1], ops.n - 1);
    gen_after(&g, r.last_rc, r.db ? sqlite3_get_autocommit(r.db) : 1);
    (*nops)++;
  }
  if (r.diff == D_NONE) run_check(&r, ops.n);

  if (r.diff != D_NONE) {
    int n = r.diff_op < 0 ? 0 : (r.diff_op < ops.n ? r.diff_op + 1 : ops.n);
    int *keep = xmalloc(sizeof(int) * (size_t)(n + 1)), k;
    enum diff_kind want = r.diff;
    status = 1;
    describe_diff(&r, stdout);
    printf("difftest: SQL log (replay with `sqlite3 < FILE` in an empty directory): %s\n",
           logpath);
    runner_finish(&r, !opt->keep);
    for (k = 0; k < n; k++) keep[k] = k;
    if (opt->minimize && want != D_SETUP && n > 1) {
      char minpath[PATH_MAX + 64];
      printf("difftest: minimising %d operations (at most %.0f s)...\n", n,
             opt->minimize_seconds);
      fflush(stdout);
      minimize(opt, &sch, seed, &ops, keep, &n, want);
      snprintf(minpath, sizeof minpath, "%s/seed-%llu-min.sql", opt->root, seed);
      printf("difftest: minimal case, %d operations:\n", n);
      replay(opt, &sch, seed, &ops, keep, n, minpath, 0);
      printf("difftest: minimal SQL log: %s\n", minpath);
      if (n <= 60) {
        printf("---- %s\n", minpath);
        print_file(minpath);
        printf("----\n");
      }
    }
    free(keep);
  } else {
    runner_finish(&r, !opt->keep);
    if (!opt->keep) remove(logpath);
  }
  oplist_free(&ops);
  return status;
}

/* ================================================================== */
/* Command line. */

static void usage(FILE *f) {
  int i;
  fprintf(f,
    "usage: difftest [options]\n"
    "  --seed N          run seed N (default: from the clock)\n"
    "  --seeds A-B       run seeds A..B\n"
    "  --seconds S       run seeds from the first one on until S seconds passed\n"
    "  --ops N           operations per seed (default 2000)\n"
    "  --mode LIST       integer,text,blob,numeric,mixed,composite,rowid or all\n"
    "                    (default all; a seed picks its mode: seed %% count)\n"
    "  --features LIST   comma list: -NAME disables, +NAME or NAME enables, all,\n"
    "                    none, issue2 (the set the issue-2 module passed);\n"
    "                    default: all but orpoints\n"
    "  --so PATH         the extension (default ./lsm_vtab.so)\n"
    "  --check-every N   compare whole tables every N operations (default 50)\n"
    "  --key-range N     integer keys mostly in [-2, N] (default 100; larger\n"
    "                    gives larger tables)\n"
    "  --timeout S       give up on a statement after S seconds (default 120)\n"
    "  --no-minimize     do not minimise a failing case\n"
    "  --minimize-seconds S  time budget for minimising (default 120)\n"
    "  --keep            keep the scratch directory\n"
    "  --selfcheck       test the test: lsm_t is a native table as well, so any\n"
    "                    difference is a bug of difftest (run with all features)\n"
    "  -v                echo every statement\n"
    "feature families:\n");
  for (i = 0; i < NELEM(FEATURES); i++)
    fprintf(f, "  %-10s %s\n", FEATURES[i].name, FEATURES[i].doc);
}

static int parse_features(const char *list, unsigned *feat) {
  char *copy = xstrdup(list), *save = NULL, *tok;
  int ok = 1;
  for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    int off = 0, i, found = 0;
    if (*tok == '-') { off = 1; tok++; }
    else if (*tok == '+') tok++;
    if (strcmp(tok, "all") == 0) { *feat = off ? 0 : F_ALL; continue; }
    if (strcmp(tok, "none") == 0) { *feat = 0; continue; }
    if (strcmp(tok, "issue2") == 0) { *feat = F_ISSUE2; continue; }
    for (i = 0; i < NELEM(FEATURES); i++) {
      if (strcmp(tok, FEATURES[i].name) == 0) {
        if (off) *feat &= ~FEATURES[i].bit;
        else *feat |= FEATURES[i].bit;
        found = 1;
      }
    }
    if (!found) {
      fprintf(stderr, "difftest: unknown feature '%s'\n", tok);
      ok = 0;
    }
  }
  free(copy);
  return ok;
}

static int parse_modes(const char *list, int *want) {
  char *copy = xstrdup(list), *save = NULL, *tok;
  int ok = 1, i;
  for (i = 0; i < N_MODES; i++) want[i] = 0;
  for (tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
    int found = 0;
    if (strcmp(tok, "all") == 0) {
      for (i = 0; i < N_MODES; i++) want[i] = 1;
      continue;
    }
    for (i = 0; i < N_MODES; i++)
      if (strcmp(tok, MODE_NAMES[i]) == 0) want[i] = found = 1;
    if (!found) {
      fprintf(stderr, "difftest: unknown mode '%s'\n", tok);
      ok = 0;
    }
  }
  free(copy);
  return ok;
}

/* Value of option `name` given as "--name V" or "--name=V". */
static const char *opt_value(int argc, char **argv, int *i, const char *name) {
  size_t n = strlen(name);
  if (strncmp(argv[*i], name, n) != 0) return NULL;
  if (argv[*i][n] == '=') return argv[*i] + n + 1;
  if (argv[*i][n] == 0 && *i + 1 < argc) return argv[++*i];
  return NULL;
}

static int parse_args(int argc, char **argv, options *opt) {
  const char *so = "./lsm_vtab.so", *v;
  int want[N_MODES], i;
  memset(opt, 0, sizeof(*opt));
  opt->ops = 2000;
  opt->feat = F_DEFAULT;
  opt->check_every = 50;
  opt->minimize = 1;
  opt->minimize_seconds = 120;
  opt->timeout = 120;
  opt->key_range = 100;
  for (i = 0; i < N_MODES; i++) want[i] = 1;
  for (i = 1; i < argc; i++) {
    if ((v = opt_value(argc, argv, &i, "--seeds"))) {
      if (sscanf(v, "%llu-%llu", &opt->seed_lo, &opt->seed_hi) != 2 ||
          opt->seed_hi < opt->seed_lo) {
        fprintf(stderr, "difftest: bad --seeds '%s'\n", v);
        return 0;
      }
      opt->have_seed = 1;
    } else if ((v = opt_value(argc, argv, &i, "--seed"))) {
      opt->seed_lo = opt->seed_hi = strtoull(v, NULL, 10);
      opt->have_seed = 1;
    } else if ((v = opt_value(argc, argv, &i, "--seconds"))) {
      opt->seconds = atof(v);
    } else if ((v = opt_value(argc, argv, &i, "--ops"))) {
      opt->ops = atol(v);
    } else if ((v = opt_value(argc, argv, &i, "--mode"))) {
      if (!parse_modes(v, want)) return 0;
    } else if ((v = opt_value(argc, argv, &i, "--features"))) {
      if (!parse_features(v, &opt->feat)) return 0;
    } else if ((v = opt_value(argc, argv, &i, "--so"))) {
      so = v;
    } else if ((v = opt_value(argc, argv, &i, "--check-every"))) {
      opt->check_every = atoi(v);
    } else if ((v = opt_value(argc, argv, &i, "--key-range"))) {
      opt->key_range = atoi(v) > 10 ? atoi(v) : 10;
    } else if ((v = opt_value(argc, argv, &i, "--timeout"))) {
      opt->timeout = atoi(v);
    } else if ((v = opt_value(argc, argv, &i, "--minimize-seconds"))) {
      opt->minimize_seconds = atof(v);
    } else if (strcmp(argv[i], "--no-minimize") == 0) {
      opt->minimize = 0;
    } else if (strcmp(argv[i], "--selfcheck") == 0) {
      opt->selfcheck = 1;
    } else if (strcmp(argv[i], "--keep") == 0) {
      opt->keep = 1;
    } else if (strcmp(argv[i], "-v") == 0) {
      opt->verbose = 1;
    } else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
      usage(stdout);
      exit(0);
    } else {
      fprintf(stderr, "difftest: unknown argument '%s'\n", argv[i]);
      usage(stderr);
      return 0;
    }
  }
  if (!want[M_COMPOSITE] || !(opt->feat & F_COMPOSITE)) want[M_COMPOSITE] = 0;
  if (!want[M_ROWID] || !(opt->feat & F_ROWID)) want[M_ROWID] = 0;
  for (i = 0; i < N_MODES; i++)
    if (want[i]) opt->modes[opt->nmodes++] = i;
  if (opt->nmodes == 0) {
    fprintf(stderr, "difftest: no mode left to run (check --mode and --features)\n");
    return 0;
  }
  if (!realpath(so, opt->so)) {
    if (opt->selfcheck) opt->so[0] = 0;   /* not needed */
    else {
    fprintf(stderr, "difftest: extension %s: %s\n", so, strerror(errno));
    return 0;
    }
  }
  if (!opt->have_seed) {
    opt->seed_lo = opt->seed_hi =
        (unsigned long long)time(NULL) ^ ((unsigned long long)getpid() << 16);
    opt->seed_lo %= 1000000000ull;
    opt->seed_hi = opt->seed_lo;
  }
  if (opt->ops < 0) opt->ops = 0;
  if (opt->timeout <= 0) opt->timeout = 120;
  return 1;
}

static void print_features(const options *opt) {
  int i;
  printf("difftest: features:");
  for (i = 0; i < NELEM(FEATURES); i++)
    printf(" %s%s", (opt->feat & FEATURES[i].bit) ? "+" : "-", FEATURES[i].name);
  printf("\n");
}

int main(int argc, char **argv) {
  options opt;
  const char *tmp = getenv("TMPDIR");
  unsigned long long seed;
  long nseeds = 0, nops = 0;
  int diffs = 0, status = 0;
  double start = now_seconds();

  if (!parse_args(argc, argv, &opt)) return 2;
  snprintf(opt.root, sizeof opt.root, "%s/difftest-XXXXXX", (tmp && tmp[0]) ? tmp : "/tmp");
  if (!mkdtemp(opt.root)) {
    fprintf(stderr, "difftest: mkdtemp %s: %s\n", opt.root, strerror(errno));
    return 2;
  }
  install_signal_handlers();
  printf("difftest: extension %s, scratch %s, %ld ops per seed, seeds %llu%s%llu%s\n",
         opt.so, opt.root, opt.ops, opt.seed_lo, opt.seconds > 0 ? "..." : "-",
         opt.seed_hi, opt.seconds > 0 ? " (until time is up)" : "");
  print_features(&opt);

  for (seed = opt.seed_lo;; seed++) {
    int rc;
    if (opt.seconds > 0) {
      if (nseeds > 0 && now_seconds() - start >= opt.seconds) break;
    } else if (seed > opt.seed_hi) {
      break;
    }
    rc = run_seed(&opt, seed, &nops);
    nseeds++;
    if (rc == 2) { status = 2; break; }
    if (rc == 1) { diffs++; status = 1; break; }
    if (seed == ~0ull) break;
  }
  printf("difftest: %ld seeds, %ld statements, %d difference%s\n", nseeds, nops,
         diffs, diffs == 1 ? "" : "s");
  if (status == 0 && !opt.keep) remove_tree(opt.root);
  else printf("difftest: scratch directory kept: %s\n", opt.root);
  return status;
}
