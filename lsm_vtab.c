/*
** lsm_vtab.c — the SQLite virtual table module "lsm": tables stored in an
** lsm engine database (lsm/lsm.h), one engine directory per table.
**
**   .load ./lsm_vtab
**   CREATE VIRTUAL TABLE kv USING lsm(k TEXT PRIMARY KEY, v TEXT,
**                                     memtable_size=65536, sync=full);
**
** The goal is a table that behaves exactly like the same table declared
** natively: a rowid table when there is no PRIMARY KEY or the key is an
** INTEGER PRIMARY KEY (a rowid alias), a WITHOUT ROWID table otherwise.
**
** Mapping of a table onto the engine
**  - Engine key: the key columns, each given its column's affinity
**    (ext/affinity.h) and encoded by ext/key.h, concatenated in PRIMARY KEY
**    order; memcmp order of keys is SQLite's order of the key values
**    (BINARY collation), lexicographic by column.  Rowid tables (no key,
**    or an INTEGER PRIMARY KEY) use the encoded rowid.
**  - Engine value: the non-key columns encoded by ext/row.h, then the text
**    as written of each NOCASE / RTRIM key column (its key is the folded
**    text: what the collation compares).  The row header's real_mask has
**    bit i set when key column i holds a REAL (3.0 reads back as 3.0) and
**    bit 32+i when that REAL is -0.0 (the key encoding makes it 0.0).
**  - What SQLite is told (sqlite3_declare_vtab):
**      rowid table       CREATE TABLE x(cols..., "<table>" HIDDEN); an
**                        INTEGER PRIMARY KEY column is declared as such
**                        (so PRAGMA table_info shows it) but SQLite does not
**                        alias it for a virtual table: this module makes
**                        the column and the rowid one value.
**      one-column key    ... PRIMARY KEY(k)) WITHOUT ROWID
**      composite key     ... "__lsm_key" HIDDEN, PRIMARY KEY("__lsm_key"))
**                        WITHOUT ROWID: SQLite only lets a writable WITHOUT
**                        ROWID virtual table have a one-column key, so a
**                        hidden column holds the encoded key; UPDATE and
**                        DELETE hand it back as the row's identity.
**    The hidden column named like the table takes commands (the FTS5
**    convention): INSERT INTO t(t) VALUES('flush' | 'compact' |
**    'integrity-check').  It is left out when a real column has that name.
**
** Where the data lives
**    dir='path'       relative to the database file's directory
**    default          <database file>-lsm/<table name>, or after a RENAME
**                     the directory the note <database file>-lsm/.alias-
**                     <table name> names (see "Renamed tables")
**    :memory:/temp    a private mkdtemp() directory, removed on disconnect
**  One engine instance per directory per process, shared by every
**  connection (ext/registry.h); other processes open the same directory
**  beside it (lsm/shm.c): each statement sees every commit made by any
**  process before it started.
**
** Transactions
**    Every write of a connection goes into that table's lsm_batch, which is
**    the transaction: reads lay the batch over the committed data
**    (lsm_iter_new overlay / lsm_batch_get), savepoints (SQLite's statement
**    savepoints included, which give statement atomicity) are batch marks,
**    xSync commits the batch with one lsm_write() (so an engine error there
**    still fails the COMMIT), xRollback discards it.  The engine never sees
**    a partial transaction.  The first write of a transaction takes the
**    table's write lock in the registry, which also takes the engine's
**    lock across processes (another connection's or process's write gets
**    SQLITE_BUSY, after its busy timeout); COMMIT/ROLLBACK release it.
**
** Cursors
**    A cursor sees the table as it was when xFilter started it: ranges and
**    scans through an iterator, which keeps the batch as it was then
**    (lsm_iter_new), a single lookup at once, a series of lookups (IN)
**    through a snapshot or an iterator.  So a statement that reads and
**    writes one table sees it as of its start, and writes never disturb
**    an open cursor.  A finished cursor's iterator (without batch) is kept
**    for the next one, which refreshes it to the latest commit
**    (lsm_iter_refresh) instead of building one (take_iter).  Plans (ext/plan.c) travel in idxNum; idxStr names the
**    plan for EXPLAIN QUERY PLAN and carries colUsed after its NUL, so that
**    only the columns used are decoded.
**
** Known differences from a native table
**  - INSERT naming both the rowid and the INTEGER PRIMARY KEY column (or an
**    UPDATE setting both) keeps the column's value; SQLite keeps the one
**    named last, which a virtual table cannot see.
**  - UPDATE OR REPLACE that moves a row onto a key which the same
**    statement updates later fails ("not supported"): a native table would
**    update the moved row a second time, re-evaluating the SET expressions,
**    which a virtual table cannot do.
**  - An UPDATE whose SET reads the table sees it as of the statement's
**    start: SQLite computes a virtual table's new rows before the first
**    xUpdate, a native table each row when it gets to it.
**  - Not a difference in results, but in speed: a TEXT or untyped key
**    compared with a value that is not a literal (it may have an affinity
**    of its own, which changes the comparison) is read as a superset that
**    SQLite checks (plan.h: lsmx_plan_cons.exact).
**  - Reads outside a write transaction see each statement's start, not a
**    snapshot of the whole transaction; several tables written in one
**    transaction commit one after the other in xSync.
**  - DROP TABLE removes the data at once, even if its transaction rolls
**    back; DROP and RENAME fail with SQLITE_BUSY while another connection
**    or process has the table open.
**  - Key columns with a collation other than BINARY, NOCASE or RTRIM are
**    refused at CREATE.
*/
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT1

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "lsm.h"
#include "key.h"
#include "row.h"
#include "args.h"
#include "errmap.h"
#include "affinity.h"
#include "plan.h"
#include "registry.h"
#include "stats.h"
#include "quirks.h"

/* Parent directories created on the way to a table directory, so a failed
** CREATE can remove exactly what it created. */
#define MAX_CREATED_DIRS 32

/* Key columns at most: the row header's real_mask (row.h) has a REAL bit
** per key column (bits 0..31) and, above it, a bit saying that REAL is
** -0.0 (bits 32..63), which the key encoding cannot tell from 0.0. */
#define MAX_KEY_COLS 32
#define NEGZERO_SHIFT 32

/* The first byte after every TEXT that looks like a number: SQLite's
** NUMERIC affinity converts text that starts (after whitespace 0x09-0x0D,
** 0x20) with a sign, a digit or '.', all below ':'. */
#define AFTER_NUMERIC_TEXT ':'

/* Rows assumed when the engine is not open (for planning only). */
#define UNKNOWN_ROWS 1000000.0

enum {
  KIND_ROWID,      /* no PRIMARY KEY: the key is the rowid */
  KIND_IPK,        /* INTEGER PRIMARY KEY: the column is the rowid */
  KIND_KEYED       /* any other PRIMARY KEY: WITHOUT ROWID */
};

typedef struct lsm_conn lsm_conn;
typedef struct lsm_vtab lsm_vtab;
typedef struct lsm_cursor lsm_cursor;

/* Per-connection context (the module's pAux): the tables this connection
** has connected, so lsm_stats can find their engines. */
struct lsm_conn {
  lsm_vtab *tabs;
  int limit_ok;                /* this SQLite offers LIMIT/OFFSET safely
                                  (ext/quirks.h) */
  int allow_any_dir;           /* lsm_allow_any_dir(1) was called: dir= may
                                  leave the database file's directory */
};

struct lsm_vtab {
  sqlite3_vtab base;           /* must be first */
  sqlite3 *db;
  lsm_conn *conn;
  lsm_vtab *next_in_conn;
  char *name;                  /* table name, as in messages */
  char *schema;                /* "main", "temp", attached name */
  lsmx_table_def def;
  int kind;                    /* KIND_* */
  int n_key;                   /* key columns (1 for rowid tables) */
  int key_cols[LSMX_PLAN_MAX_KEY]; /* column of each key position; -1: rowid */
  char key_aff[LSMX_PLAN_MAX_KEY]; /* affinity of each key position */
  char key_coll[LSMX_PLAN_MAX_KEY]; /* 0 BINARY, 'N' NOCASE, 'R' RTRIM */
  int orig_idx[LSMX_PLAN_MAX_KEY];  /* row index of the original text of a
                                      NOCASE / RTRIM key column, or -1 */
  int n_row_cols;              /* columns in the row value: the non-key
                                  ones, then the originals */
  int *key_pos;                /* column -> key position, -1 if not a key */
  int *nonkey_idx;             /* column -> index in the row value, -1 */
  int n_nonkey;
  int cmd_col;                 /* hidden command column, -1 if none */
  int hkey_col;                /* hidden encoded-key column, -1 if none */
  char *hkey_name;
  char *dir;                   /* the engine directory */
  int dir_is_default;          /* in <db>-lsm/: <name>, or the directory
                                  an alias of a renamed table names */
  int dir_is_temp;             /* private directory, removed on disconnect */
  lsm_options opts;
  lsmx_engine *eng;            /* NULL when the directory was missing at
                                  connect: acquired on first use */
  lsm_db *lsm;                 /* lsmx_engine_db(eng) */
  int n_cursors;               /* open cursors (RENAME waits for none) */

  /* Transaction state. */
  lsm_batch *batch;            /* pending writes; NULL until the first */
  int in_txn;                  /* between xBegin and xCommit/xRollback */
  int written;                 /* xSync already applied the batch */
  int have_lock;               /* holds the registry write lock */
  uint64_t *marks;             /* batch mark of each savepoint level */
  int n_marks, cap_marks;
  int have_next_rowid;         /* next_rowid valid for this transaction */
  int rowid_at_max;            /* the largest rowid is INT64_MAX */
  sqlite3_int64 next_rowid;
  /* Keys an UPDATE OR REPLACE overwrote in the current statement: a later
  ** update of one of them is a cascade this module cannot reproduce.
  ** Cleared whenever a statement can have started (xFilter, xBegin,
  ** savepoint calls). */
  lsm_batch *replaced;

  /* Scratch reused by xUpdate. */
  lsm_buffer key, old_key, row, probe;
  sqlite3_value **holders;     /* converted copies of argv values */
  lsm_cursor *spare_cursor;    /* a closed cursor's memory, for xOpen */
  lsm_iter *spare_iter;        /* a released cursor's iterator without
                                  overlay, for the next xFilter (see
                                  take_iter); dropped by writes and before
                                  the engine goes */
  lsmx_value *vals;            /* non-key column values being encoded */
  lsmx_value *kvals;           /* key values being encoded */
};

/* The values of one fixed key column of a cursor: encodings, sorted and
** without duplicates, concatenated in data with their offsets. */
typedef struct value_list {
  lsm_buffer data;
  size_t *off;                 /* n + 1 offsets into data */
  int n, cap;
} value_list;

struct lsm_cursor {
  sqlite3_vtab_cursor base;    /* must be first */
  /* The plan. */
  int n_eq;                    /* fixed key columns */
  int points;                  /* every key column fixed: lookups */
  int desc;
  int has_lo, lo_incl, has_hi, hi_incl;
  int inexact_from;            /* first key position read as a superset */
  value_list *lists;           /* n_eq lists; an item that is the single
                                  byte LSMX_KEY_TEXT stands for every TEXT
                                  value (see read_fixed_arg) */
  int *pos;                    /* odometer: current value of each list */
  lsm_buffer lo, hi;           /* encoded bounds on column n_eq */
  sqlite3_int64 max_rows;      /* rows to return, -1: no limit */
  sqlite3_int64 skip;          /* rows still to skip (OFFSET) */
  sqlite3_int64 n_returned;
  sqlite3_uint64 wanted_cols;  /* non-key columns used (row.h mask) */
  sqlite3_uint64 wanted_keys;  /* key positions used */
  int eof;
  int target_is_point;         /* the current target is one key */
  int live_batch;              /* lookups read the batch as it is (one
                                  lookup, made by xFilter) */
  /* Engine state. */
  lsm_iter *it;                /* for ranges and scans */
  int it_plain;                /* it has no overlay: reusable (take_iter) */
  lsm_snapshot *snap;          /* for a series of lookups */
  lsm_buffer target;           /* current prefix / point key */
  lsm_buffer lower, upper;     /* current interval [lower, upper) */
  int has_upper;
  /* The current row: borrowed from the iterator, or copied here. */
  const unsigned char *kp, *vp;
  size_t kn, vn;
  lsm_buffer key, val;
  /* Lazily decoded parts of the current row. */
  int key_decoded;
  lsmx_value *keyv;            /* n_key values */
  lsm_buffer *key_scratch;     /* n_key buffers */
  int row_parsed;
  lsmx_row row;
  int cols_decoded;
  lsmx_value *cols;            /* n_nonkey values, borrowed from the row */
};

static void cursor_free(lsm_cursor *cur, int n_key);

/* For the small helpers on the per-row path of a scan (xNext, xColumn),
** where a call costs as much as the work. */
#if defined(__GNUC__)
#define HOT_INLINE static inline __attribute__((always_inline))
#else
#define HOT_INLINE static inline
#endif

/* ------------------------------------------------------------------ */
/* Small helpers. */

/* Replace the contents of b by n bytes at p. */
static int buf_set(lsm_buffer *b, const void *p, size_t n) {
  if (n > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    unsigned char *d;
    while (cap < n) cap *= 2;
    d = realloc(b->data, cap);
    if (!d) return LSM_NOMEM;
    b->data = d;
    b->cap = cap;
  }
  if (n) memcpy(b->data, p, n);
  b->len = n;
  return LSM_OK;
}

/* Append n bytes at p to b. */
static int buf_append(lsm_buffer *b, const void *p, size_t n) {
  if (b->len + n > b->cap) {
    size_t cap = b->cap ? b->cap : 64;
    unsigned char *d;
    while (cap < b->len + n) cap *= 2;
    d = realloc(b->data, cap);
    if (!d) return LSM_NOMEM;
    b->data = d;
    b->cap = cap;
  }
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
  return LSM_OK;
}

/* memcmp order with a proper prefix first: the engine's key order. */
static int key_cmp(const void *a, size_t na, const void *b, size_t nb) {
  size_t n = na < nb ? na : nb;
  int c = n ? memcmp(a, b, n) : 0;
  if (c) return c;
  return na < nb ? -1 : (na > nb ? 1 : 0);
}

static const char *lsm_rc_text(int rc) {
  switch (rc) {
    case LSM_OK: return "not an error";
    case LSM_BUSY: return "database is locked";
    case LSM_NOMEM: return "out of memory";
    case LSM_IOERR: return "disk I/O error";
    case LSM_CORRUPT: return "database disk image is malformed";
    case LSM_NOTFOUND: return "not found";
    case LSM_MISUSE: return "library routine called out of sequence";
    case LSM_READONLY: return "table stopped accepting writes after an error";
    default: return "error";
  }
}

/* Set the vtab's error message to m, or when m is empty to a generic text
** for rc, and map rc to an SQLite code. */
static int fail_with(lsm_vtab *tab, int rc, const char *m) {
  sqlite3_free(tab->base.zErrMsg);
  if (m && m[0]) {
    tab->base.zErrMsg = sqlite3_mprintf("%s", m);
  } else {
    tab->base.zErrMsg = sqlite3_mprintf("lsm: %s (table %s)", lsm_rc_text(rc),
                                        tab->name);
  }
  return lsmx_rc_to_sqlite(rc);
}

/* Record an engine failure in the vtab's error message and map the code.
** from_db: the failure came from a call on tab->lsm, so lsm_errmsg() has
** the details. */
static int vtab_fail(lsm_vtab *tab, int rc, int from_db) {
  return fail_with(tab, rc, (from_db && tab->lsm) ? lsm_errmsg(tab->lsm) : "");
}

/* The same for an iterator's failure: the iterator's own text (naming the
** file and offset), which no other call on the shared engine, from this
** connection or another thread, can have overwritten. */
static int vtab_fail_iter(lsm_vtab *tab, int rc, lsm_iter *it) {
  return fail_with(tab, rc, it ? lsm_iter_errmsg(it) : "");
}

static int vtab_error(lsm_vtab *tab, int sqlite_rc, const char *msg) {
  sqlite3_free(tab->base.zErrMsg);
  tab->base.zErrMsg = sqlite3_mprintf("%s", msg);
  return sqlite_rc;
}

/* NOCASE text holding a NUL byte (see append_key_value): after the folded
** bytes before the first NUL, a 0x00 and the whole length, 8 bytes
** big-endian. */
static int append_nul_and_length(lsm_buffer *b, size_t n) {
  size_t at = b->len;
  int i;
  if (b->cap - b->len < 9) {
    size_t cap = b->len + 9 + 16;
    unsigned char *d = realloc(b->data, cap);
    if (!d) return LSM_NOMEM;
    b->data = d;
    b->cap = cap;
  }
  b->data[at] = 0;
  for (i = 0; i < 8; i++) {
    b->data[at + 1 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
  }
  b->len = at + 9;
  return LSM_OK;
}

/* Append the encoding of v as key column p.  A TEXT value of a NOCASE or
** RTRIM key column is encoded folded (ASCII upper case to lower case, or
** trailing spaces dropped: what the collation compares), so values the
** collation calls equal are one engine key and the key order is the
** collation's.  The original text is kept in the row (orig_idx).
**
** NOCASE and NUL: SQLite's NOCASE compares the folded bytes only up to the
** first NUL of either side (within the shorter length), then the lengths.
** So it orders text as the pair (folded bytes before the first NUL, whole
** length).  Text without a NUL is encoded as its folded bytes, as always;
** text with one as the folded bytes before it, then 0x00, then the length
** (append_nul_and_length).  memcmp of the escaped encodings orders these
** as the pair: a 0x00 (escaped 0x00 0xFF) sorts after the terminator of a
** NUL-free text with the same prefix (whose length is the prefix length,
** so smaller) and before any further text byte (never 0x00). */
static int append_key_value(const lsm_vtab *tab, int p, const lsmx_value *v,
                            lsm_buffer *out) {
  lsmx_value w;
  lsm_buffer folded = {0};
  size_t i;
  int rc;
  if (!tab->key_coll[p] || v->type != SQLITE_TEXT) return lsmx_key_append(out, v);
  if (v->p == NULL && v->n > 0) return LSM_NOMEM;   /* key.c's convention */
  w = *v;
  if (tab->key_coll[p] == 'R') {
    while (w.n > 0 && w.p[w.n - 1] == ' ') w.n--;
    return lsmx_key_append(out, &w);
  }
  if (w.n > 0) {
    const unsigned char *nul = memchr(v->p, 0, v->n);
    rc = buf_set(&folded, v->p, nul ? (size_t)(nul - v->p) : v->n);
    for (i = 0; rc == LSM_OK && i < folded.len; i++) {
      if (folded.data[i] >= 'A' && folded.data[i] <= 'Z') folded.data[i] += 32;
    }
    if (rc == LSM_OK && nul) rc = append_nul_and_length(&folded, v->n);
    if (rc != LSM_OK) { lsm_buffer_free(&folded); return rc; }
    w.p = folded.data;
    w.n = folded.len;
  }
  rc = lsmx_key_append(out, &w);
  lsm_buffer_free(&folded);
  return rc;
}

/* Encode argv value `in` as key column p: affinity, then the key encoding,
** appended to out.  Sets *is_null when the value (after affinity) is
** NULL, which no key holds.  lookup: `in` is compared with keys rather
** than stored; a native REAL key column compares with NUMERIC affinity
** (exactly: 2^53+1 does not find the stored real 2^53). */
static int append_key_arg(const lsm_vtab *tab, int p, sqlite3_value *in,
                          lsm_buffer *out, int *is_null, int lookup) {
  lsmx_value v;
  sqlite3_value *holder = NULL;
  char aff = tab->key_aff[p];
  int rc = lsmx_affinity_apply(in, lookup && aff == 'E' ? 'C' : aff, &v,
                               &holder);
  if (rc == LSM_OK) {
    *is_null = (v.type == SQLITE_NULL);
    if (!*is_null) rc = append_key_value(tab, p, &v, out);
  }
  sqlite3_value_free(holder);
  return rc;
}

static int is_rowid_kind(const lsm_vtab *tab) {
  return tab->kind != KIND_KEYED;
}

/* ------------------------------------------------------------------ */
/* Directories. */

/* Table name as one path component: bytes that could change the path's
** meaning ('/', '%', a leading '.') are written as %XX. */
static char *name_component(const char *name) {
  sqlite3_str *s = sqlite3_str_new(NULL);
  const unsigned char *p;
  for (p = (const unsigned char *)name; *p; p++) {
    if (*p == '/' || *p == '%' || *p == '\\' || (p == (const unsigned char *)name && *p == '.')) {
      sqlite3_str_appendf(s, "%%%02X", *p);
    } else {
      sqlite3_str_appendchar(s, 1, (char)*p);
    }
  }
  return sqlite3_str_finish(s);
}

static char *default_dir(const char *db_file, const char *name) {
  char *comp = name_component(name);
  char *r = comp ? sqlite3_mprintf("%s-lsm/%s", db_file, comp) : NULL;
  sqlite3_free(comp);
  return r;
}

static int dir_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* fsync directory path, so that an entry just created in it survives a
** power loss.  Returns 0 or an errno value. */
static int sync_dir_path(const char *path) {
  int fd = open(path[0] ? path : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), err = 0;
  if (fd < 0) return errno;
  if (fsync(fd) != 0) err = errno;
  close(fd);
  return err;
}

/* Create every missing ancestor directory of path (not path itself: the
** engine creates that, durably).  Records what it created in created[]
** (outermost first) so the caller can undo.  Unless sync is 0, each new
** directory is made durable in its parent (fsync of the parent), as the
** engine does for the directory itself.  Returns 0 or an errno value. */
static int make_parents(const char *path, char **created, int *n_created, int sync) {
  char *p = sqlite3_mprintf("%s", path);
  char *slash, *parent_end;
  int err = 0;
  if (!p) return ENOMEM;
  /* Drop trailing slashes, then the last component. */
  {
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/') p[--n] = 0;
    slash = strrchr(p, '/');
    if (!slash || slash == p) { sqlite3_free(p); return 0; }
    *slash = 0;
  }
  parent_end = p[0] == '/' ? p + 1 : p;     /* the parent of the first name */
  for (slash = p + 1; ; slash++) {
    int at_end = (*slash == 0);
    if (*slash == '/' || at_end) {
      char save = *slash;
      *slash = 0;
      if (!dir_exists(p)) {
        char keep;
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
          err = errno;
          break;
        }
        if (*n_created >= MAX_CREATED_DIRS ||
            !(created[*n_created] = sqlite3_mprintf("%s", p))) {
          rmdir(p);                       /* cannot record it: undo */
          err = *n_created >= MAX_CREATED_DIRS ? ENAMETOOLONG : ENOMEM;
          break;
        }
        (*n_created)++;
        keep = *parent_end;
        *parent_end = 0;
        err = sync ? sync_dir_path(p) : 0;
        *parent_end = keep;
        if (err) break;
      }
      *slash = save;
      parent_end = slash;
      if (at_end) break;
    }
  }
  sqlite3_free(p);
  return err;
}

static void remove_created(char **created, int n_created) {
  while (n_created > 0) {
    n_created--;
    rmdir(created[n_created]);
    sqlite3_free(created[n_created]);
  }
}

/* Renamed tables.  ALTER TABLE ... RENAME calls xRename, and SQLite may
** still fail the statement afterwards (out of memory while it reloads and
** checks the schema) and roll the schema back, with no call telling the
** module.  So before xRename moves a table's default directory from
** <db>-lsm/<old> to <db>-lsm/<new> it writes a note, <db>-lsm/.alias-<old>,
** holding the new directory's name.  Connecting a table whose default
** directory is missing follows its note: after a rolled-back rename the
** table, again under its old name, finds its data in the new directory (and
** a later rename back to that name moves nothing).  After a rename that
** stands the note is stale and inert: a table of the old name appears only
** through CREATE, which removes the note first, or a rename, which writes
** its own.  CREATE refuses a directory that a note names for a table whose
** own directory is gone (the data of a rolled-back rename), rather than
** giving one directory to two tables.  DROP TABLE removes the notes naming
** the directory it removes.  Note names start with '.', which no table
** directory's name does (name_component). */
#define ALIAS_PREFIX ".alias-"

/* The note of table `name` in the <db>-lsm directory `parent`. */
static char *alias_path(const char *parent, const char *name) {
  char *comp = name_component(name);
  char *r = comp ? sqlite3_mprintf("%s/" ALIAS_PREFIX "%s", parent, comp) : NULL;
  sqlite3_free(comp);
  return r;
}

/* The directory part of path (sqlite3_malloc()ed), "." if none. */
static char *parent_of(const char *path) {
  const char *slash = strrchr(path, '/');
  if (!slash) return sqlite3_mprintf(".");
  return sqlite3_mprintf("%.*s", (int)(slash == path ? 1 : slash - path), path);
}

/* The directory the note of `name` names, or NULL (no note, or not a plain
** directory name).  *nomem is set when memory ran out. */
static char *read_alias(const char *parent, const char *name, int *nomem) {
  char *path = alias_path(parent, name), *r = NULL;
  char buf[512];
  size_t n = 0;
  FILE *f;
  *nomem = path == NULL;
  if (!path) return NULL;
  f = fopen(path, "rb");
  if (f) {
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    if (n > 0 && buf[0] != '.' && !strchr(buf, '/') && strlen(buf) == n) {
      r = sqlite3_mprintf("%s/%s", parent, buf);
      *nomem = r == NULL;
    }
  }
  sqlite3_free(path);
  return r;
}

/* Write the note of `name` durably: it names directory `dir` (a path whose
** last component is the name written).  0 or an errno value. */
static int write_alias(const char *parent, const char *name, const char *dir) {
  char *path = alias_path(parent, name);
  char *tmp = path ? sqlite3_mprintf("%s.tmp", path) : NULL;
  const char *target = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
  int err = 0, fd = -1;
  if (!tmp) { err = ENOMEM; goto done; }
  fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) { err = errno; goto done; }
  if (write(fd, target, strlen(target)) != (ssize_t)strlen(target)) err = errno ? errno : EIO;
  if (!err && fsync(fd) != 0) err = errno;
  if (close(fd) != 0 && !err) err = errno;
  fd = -1;
  if (!err && rename(tmp, path) != 0) err = errno;
  if (!err) err = sync_dir_path(parent);
done:
  if (err && tmp) unlink(tmp);
  sqlite3_free(tmp);
  sqlite3_free(path);
  return err;
}

static void remove_alias(const char *parent, const char *name) {
  char *path = alias_path(parent, name);
  if (path) unlink(path);
  sqlite3_free(path);
}

/* Remove every note in parent that names directory dir (it is gone), and
** every note naming a directory that no longer exists (it protects
** nothing). */
static void remove_aliases_of(const char *parent, const char *dir) {
  const char *target = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
  size_t prefix = strlen(ALIAS_PREFIX);
  struct dirent *e;
  DIR *d = opendir(parent);
  if (!d) return;
  while ((e = readdir(d)) != NULL) {
    char *path, buf[512];
    size_t n = 0;
    FILE *f;
    if (strncmp(e->d_name, ALIAS_PREFIX, prefix) != 0) continue;
    path = sqlite3_mprintf("%s/%s", parent, e->d_name);
    if (!path) break;
    f = fopen(path, "rb");
    if (f) {
      n = fread(buf, 1, sizeof buf - 1, f);
      fclose(f);
      buf[n] = 0;
      if (strcmp(buf, target) == 0) {
        unlink(path);
      } else if (buf[0] != '.' && !strchr(buf, '/')) {
        char *named = sqlite3_mprintf("%s/%s", parent, buf);
        if (named && !dir_exists(named)) unlink(path);
        sqlite3_free(named);
      }
    }
    sqlite3_free(path);
  }
  closedir(d);
}

/* The name of a table whose note names directory dir while its own default
** directory is missing: dir holds that table's data (a rolled-back rename).
** NULL if none; *nomem is set when memory ran out. */
static char *alias_owner(const char *parent, const char *dir, int *nomem) {
  const char *target = strrchr(dir, '/') ? strrchr(dir, '/') + 1 : dir;
  size_t prefix = strlen(ALIAS_PREFIX);
  char *owner = NULL;
  struct dirent *e;
  DIR *d = opendir(parent);
  if (!d) return NULL;
  while (owner == NULL && (e = readdir(d)) != NULL) {
    char *path, *own_dir, buf[512];
    size_t n = 0;
    FILE *f;
    if (strncmp(e->d_name, ALIAS_PREFIX, prefix) != 0) continue;
    path = sqlite3_mprintf("%s/%s", parent, e->d_name);
    own_dir = sqlite3_mprintf("%s/%s", parent, e->d_name + prefix);
    if (!path || !own_dir) {
      *nomem = 1;
    } else if ((f = fopen(path, "rb")) != NULL) {
      n = fread(buf, 1, sizeof buf - 1, f);
      fclose(f);
      buf[n] = 0;
      if (strcmp(buf, target) == 0 && !dir_exists(own_dir)) {
        owner = sqlite3_mprintf("%s", e->d_name + prefix);
        if (!owner) *nomem = 1;
      }
    }
    sqlite3_free(path);
    sqlite3_free(own_dir);
    if (*nomem) break;
  }
  closedir(d);
  return owner;
}

/* The <db>-lsm directory of a default table directory, removed when the
** last table in it goes (rmdir fails harmlessly while others remain). */
static void remove_parent_if_empty(const char *dir) {
  char *p = sqlite3_mprintf("%s", dir);
  char *slash;
  if (!p) return;
  slash = strrchr(p, '/');
  if (slash && slash != p) {
    *slash = 0;
    rmdir(p);
  }
  sqlite3_free(p);
}


/* ------------------------------------------------------------------ */
/* Connecting. */

static void conn_remove(lsm_vtab *tab) {
  lsm_vtab **pp;
  if (!tab->conn) return;
  for (pp = &tab->conn->tabs; *pp; pp = &(*pp)->next_in_conn) {
    if (*pp == tab) {
      *pp = tab->next_in_conn;
      break;
    }
  }
  tab->conn = NULL;
}

/* Give up the engine (and the write lock, if held). */
static int release_engine(lsm_vtab *tab) {
  int rc = SQLITE_OK;
  lsm_iter_free(tab->spare_iter);
  tab->spare_iter = NULL;
  if (tab->eng) {
    if (tab->have_lock) lsmx_engine_unlock_write(tab->eng, tab);
    tab->have_lock = 0;
    rc = lsmx_engine_release(tab->eng);
    tab->eng = NULL;
    tab->lsm = NULL;
  }
  return rc;
}

static void vtab_free(lsm_vtab *tab) {
  if (!tab) return;
  conn_remove(tab);
  release_engine(tab);
  if (tab->dir_is_temp && tab->dir) {
    lsm_destroy(tab->dir, NULL);
    rmdir(tab->dir);
  }
  cursor_free(tab->spare_cursor, tab->n_key);
  lsm_batch_free(tab->batch);
  lsm_batch_free(tab->replaced);
  lsmx_table_def_free(&tab->def);
  sqlite3_free(tab->name);
  sqlite3_free(tab->schema);
  sqlite3_free(tab->dir);
  sqlite3_free(tab->hkey_name);
  sqlite3_free(tab->key_pos);
  sqlite3_free(tab->nonkey_idx);
  sqlite3_free(tab->marks);
  sqlite3_free(tab->holders);
  sqlite3_free(tab->vals);
  sqlite3_free(tab->kvals);
  lsm_buffer_free(&tab->key);
  lsm_buffer_free(&tab->old_key);
  lsm_buffer_free(&tab->row);
  lsm_buffer_free(&tab->probe);
  sqlite3_free(tab->base.zErrMsg);
  sqlite3_free(tab);
}

/* The schema handed to sqlite3_declare_vtab (see the top of the file). */
static char *declare_sql(const lsm_vtab *tab) {
  sqlite3_str *s = sqlite3_str_new(NULL);
  int i;
  sqlite3_str_appendall(s, "CREATE TABLE x(");
  for (i = 0; i < tab->def.n_cols; i++) {
    const lsmx_column *c = &tab->def.cols[i];
    if (i) sqlite3_str_appendall(s, ", ");
    sqlite3_str_appendf(s, "\"%w\"", c->name);
    if (c->type && c->type[0]) sqlite3_str_appendf(s, " %s", c->type);
    if (tab->kind == KIND_IPK && i == tab->key_cols[0]) {
      sqlite3_str_appendall(s, " PRIMARY KEY");
    }
    if (c->not_null) sqlite3_str_appendall(s, " NOT NULL");
    if (c->collate) sqlite3_str_appendf(s, " COLLATE \"%w\"", c->collate);
  }
  if (tab->cmd_col >= 0) {
    sqlite3_str_appendf(s, ", \"%w\" HIDDEN", tab->name);
  }
  if (tab->hkey_col >= 0) {
    sqlite3_str_appendf(s, ", \"%w\" HIDDEN, PRIMARY KEY(\"%w\")) WITHOUT ROWID",
                        tab->hkey_name, tab->hkey_name);
  } else if (tab->kind == KIND_KEYED) {
    sqlite3_str_appendf(s, ", PRIMARY KEY(\"%w\")) WITHOUT ROWID",
                        tab->def.cols[tab->key_cols[0]].name);
  } else {
    sqlite3_str_appendall(s, ")");
  }
  return sqlite3_str_finish(s);
}

static void map_options(lsm_vtab *tab) {
  lsm_options_init(&tab->opts);
  if (tab->def.memtable_size >= 0)
    tab->opts.memtable_size = (size_t)tab->def.memtable_size;
  if (tab->def.bloom_bits >= 0) tab->opts.bloom_bits = tab->def.bloom_bits;
  if (tab->def.block_size >= 0)
    tab->opts.block_size = (size_t)tab->def.block_size;
  if (tab->def.cache_size >= 0)
    tab->opts.cache_size = (size_t)tab->def.cache_size;
  if (tab->def.sync_mode >= 0) tab->opts.sync_mode = tab->def.sync_mode;
  if (tab->def.background >= 0) tab->opts.background = tab->def.background;
}

/* Decide where the table's data lives (no file system changes except a
** private temporary directory). */
/* Untrusted database files.  A schema comes from whoever made the database
** file, so its dir= must not make this process touch files elsewhere:
** unless the connection opted in with lsm_allow_any_dir(1), dir= must be a
** relative path without "..", and the directory it names (or, before it
** exists, its deepest existing ancestor) must resolve, symbolic links
** followed, inside the database file's directory. */
static int dir_is_confined(const char *dir, const char *db_file) {
  char *base, *probe, *real_base = NULL, *real_probe = NULL;
  const char *slash = strrchr(db_file, '/');
  int ok = 0;
  base = slash ? sqlite3_mprintf("%.*s", (int)(slash - db_file), db_file)
               : sqlite3_mprintf(".");
  probe = sqlite3_mprintf("%s", dir);
  if (!base || !probe) goto done;
  real_base = realpath(base[0] ? base : "/", NULL);
  while (real_base && !(real_probe = realpath(probe, NULL))) {
    char *cut = strrchr(probe, '/');
    if (errno != ENOENT || !cut || cut == probe) break;
    *cut = 0;
  }
  if (real_base && real_probe) {
    size_t n = strlen(real_base);
    ok = strncmp(real_probe, real_base, n) == 0 &&
         (real_probe[n] == '/' || real_probe[n] == 0 || strcmp(real_base, "/") == 0);
  }
done:
  free(real_base);
  free(real_probe);
  sqlite3_free(base);
  sqlite3_free(probe);
  return ok;
}

static int has_dotdot(const char *path) {
  const char *p = path;
  while ((p = strstr(p, "..")) != NULL) {
    if ((p == path || p[-1] == '/') && (p[2] == 0 || p[2] == '/')) return 1;
    p += 2;
  }
  return 0;
}

static int choose_dir(lsm_vtab *tab, const lsm_conn *conn, char **pzErr) {
  const char *db_file = sqlite3_db_filename(tab->db, tab->schema);
  int allow_any = conn && conn->allow_any_dir;
  if (!db_file) db_file = "";
  if (tab->def.dir && tab->def.dir[0] && db_file[0] && !allow_any &&
      (tab->def.dir[0] == '/' || has_dotdot(tab->def.dir))) {
    *pzErr = sqlite3_mprintf("lsm: dir='%s' of table %s leaves the database file's "
                             "directory (run SELECT lsm_allow_any_dir(1) on this "
                             "connection to allow it)", tab->def.dir, tab->name);
    return SQLITE_ERROR;
  }
  if (tab->def.dir && tab->def.dir[0]) {
    if (tab->def.dir[0] == '/' || !db_file[0]) {
      tab->dir = sqlite3_mprintf("%s", tab->def.dir);
    } else {
      const char *slash = strrchr(db_file, '/');
      if (slash) {
        tab->dir = sqlite3_mprintf("%.*s/%s", (int)(slash - db_file), db_file,
                                   tab->def.dir);
      } else {
        tab->dir = sqlite3_mprintf("%s", tab->def.dir);
      }
    }
    if (tab->dir && db_file[0] && !allow_any &&
        !dir_is_confined(tab->dir, db_file)) {
      *pzErr = sqlite3_mprintf("lsm: dir='%s' of table %s resolves outside the "
                               "database file's directory (run SELECT "
                               "lsm_allow_any_dir(1) on this connection to allow it)",
                               tab->def.dir, tab->name);
      sqlite3_free(tab->dir);
      tab->dir = NULL;
      return SQLITE_ERROR;
    }
  } else if (db_file[0]) {
    tab->dir = default_dir(db_file, tab->name);
    tab->dir_is_default = 1;
  } else {
    /* :memory: or temp database: the data dies with the connection. */
    const char *tmp = getenv("TMPDIR");
    char *templ = sqlite3_mprintf("%s/lsm_vtab-XXXXXX",
                                  (tmp && tmp[0]) ? tmp : "/tmp");
    if (!templ) return SQLITE_NOMEM;
    if (!mkdtemp(templ)) {
      *pzErr = sqlite3_mprintf("lsm: cannot create a temporary directory "
                               "for table %s: %s", tab->name, strerror(errno));
      sqlite3_free(templ);
      return SQLITE_CANTOPEN;
    }
    tab->dir = templ;
    tab->dir_is_temp = 1;
  }
  return tab->dir ? SQLITE_OK : SQLITE_NOMEM;
}

/* A path for messages: relative to the database file's directory when it
** lies below it (as the default directory does). */
static const char *shown_path(const lsm_vtab *tab, const char *path) {
  const char *db_file = sqlite3_db_filename(tab->db, tab->schema);
  const char *slash = db_file ? strrchr(db_file, '/') : NULL;
  if (slash) {
    size_t n = (size_t)(slash - db_file) + 1;
    if (strncmp(path, db_file, n) == 0 && path[n]) return path + n;
  }
  return path;
}

static const char *shown_dir(const lsm_vtab *tab) {
  return shown_path(tab, tab->dir);
}

/* Acquire the engine at tab->dir.  create: this is xCreate (or a private
** temporary directory); the directory and missing parents are created,
** and removed again if the open fails. */
static int open_engine(lsm_vtab *tab, int create, char **pzErr) {
  char *created[MAX_CREATED_DIRS];
  int n_created = 0;
  int existed = dir_exists(tab->dir);
  char *err = NULL;
  int rc;

  if (!create && !existed) {
    *pzErr = sqlite3_mprintf("lsm: cannot open table %s: no database in %s",
                             tab->name, shown_dir(tab));
    return SQLITE_CANTOPEN;
  }
  if (create && !existed) {
    int e = make_parents(tab->dir, created, &n_created,
                         tab->opts.sync_mode != LSM_SYNC_OFF);
    if (e) {
      remove_created(created, n_created);
      if (e == ENOMEM) return SQLITE_NOMEM;
      *pzErr = sqlite3_mprintf("lsm: cannot create directory for table %s "
                               "(%s): %s", tab->name, tab->dir, strerror(e));
      return SQLITE_CANTOPEN;
    }
  }
  tab->opts.create_if_missing = create;
  rc = lsmx_engine_acquire(tab->dir, &tab->opts, &tab->eng, &err);
  if (rc == SQLITE_OK) {
    tab->lsm = lsmx_engine_db(tab->eng);
    /* Only the names were needed: the directories stay. */
    while (n_created > 0) sqlite3_free(created[--n_created]);
    return SQLITE_OK;
  }
  tab->eng = NULL;
  if (rc == SQLITE_CANTOPEN) {
    *pzErr = sqlite3_mprintf("lsm: cannot open table %s: no database in %s",
                             tab->name, shown_dir(tab));
  } else if (err && err[0]) {
    const char *m = strncmp(err, "lsm: ", 5) == 0 ? err + 5 : err;
    *pzErr = sqlite3_mprintf("lsm: cannot open table %s: %s", tab->name, m);
  } else {
    *pzErr = sqlite3_mprintf("lsm: cannot open table %s (%s)", tab->name,
                             tab->dir);
  }
  sqlite3_free(err);
  if (create && !existed) {
    lsm_destroy(tab->dir, NULL);
    rmdir(tab->dir);
  }
  remove_created(created, n_created);
  return rc;
}

/* The engine of a table whose directory was missing when it was connected
** (see vtab_init) is acquired on first use. */
static int ensure_open(lsm_vtab *tab) {
  char *err = NULL;
  int rc;
  if (tab->lsm) return SQLITE_OK;
  rc = open_engine(tab, 0, &err);
  if (rc != SQLITE_OK) {
    rc = vtab_error(tab, rc, err ? err : "lsm: cannot open table");
    sqlite3_free(err);
  }
  return rc;
}

/* A renamed table's default directory is the one its note names (see
** "Renamed tables"); CREATE removes a stale note instead. */
static int resolve_default_dir(lsm_vtab *tab, int create, char **pzErr) {
  char *parent, *aliased = NULL;
  int nomem = 0;
  if (!tab->dir_is_default) return SQLITE_OK;
  parent = parent_of(tab->dir);
  if (!parent) return SQLITE_NOMEM;
  if (create) {
    remove_alias(parent, tab->name);
    if (dir_exists(tab->dir)) {
      char *owner = alias_owner(parent, tab->dir, &nomem);
      if (owner) {
        *pzErr = sqlite3_mprintf("lsm: cannot create table %s: %s holds the data of "
                                 "table %s (a rename that was rolled back)",
                                 tab->name, shown_dir(tab), owner);
        sqlite3_free(owner);
        sqlite3_free(parent);
        return SQLITE_ERROR;
      }
    }
  } else if (!dir_exists(tab->dir)) {
    aliased = read_alias(parent, tab->name, &nomem);
    if (aliased && dir_exists(aliased)) {
      sqlite3_free(tab->dir);
      tab->dir = aliased;
      aliased = NULL;
    }
  }
  sqlite3_free(aliased);
  sqlite3_free(parent);
  return nomem ? SQLITE_NOMEM : SQLITE_OK;
}

/* A name for the hidden key column that no column has. */
static char *unique_hidden_name(const lsmx_table_def *def, const char *table) {
  int n;
  for (n = 0; n < 1000; n++) {
    char *name = n ? sqlite3_mprintf("__lsm_key_%d", n)
                   : sqlite3_mprintf("__lsm_key");
    int i, clash = 0;
    if (!name) return NULL;
    if (sqlite3_stricmp(name, table) == 0) clash = 1;
    for (i = 0; i < def->n_cols && !clash; i++) {
      if (sqlite3_stricmp(def->cols[i].name, name) == 0) clash = 1;
    }
    if (!clash) return name;
    sqlite3_free(name);
  }
  return NULL;
}

/* Work out the table's kind, key and column maps from tab->def. */
static int setup_columns(lsm_vtab *tab, char **pzErr) {
  int i, j, p;

  if (tab->def.n_pk > MAX_KEY_COLS) {
    *pzErr = sqlite3_mprintf("lsm: too many PRIMARY KEY columns (max %d)",
                             MAX_KEY_COLS);
    return SQLITE_ERROR;
  }
  if (tab->def.n_pk == 0) {
    tab->kind = KIND_ROWID;
    tab->n_key = 1;
    tab->key_cols[0] = -1;
    tab->key_aff[0] = 'D';
  } else {
    const lsmx_column *k0 = &tab->def.cols[tab->def.pk_cols[0]];
    /* SQLite's rule for a rowid alias: one key column whose declared type
    ** is exactly "INTEGER". */
    tab->kind = (tab->def.n_pk == 1 && k0->type &&
                 sqlite3_stricmp(k0->type, "INTEGER") == 0)
                    ? KIND_IPK : KIND_KEYED;
    tab->n_key = tab->def.n_pk;
    for (p = 0; p < tab->n_key; p++) {
      const lsmx_column *c = &tab->def.cols[tab->def.pk_cols[p]];
      if (c->collate && sqlite3_stricmp(c->collate, "NOCASE") == 0) {
        tab->key_coll[p] = 'N';
      } else if (c->collate && sqlite3_stricmp(c->collate, "RTRIM") == 0) {
        tab->key_coll[p] = 'R';
      } else if (c->collate && sqlite3_stricmp(c->collate, "BINARY") != 0) {
        *pzErr = sqlite3_mprintf("lsm: PRIMARY KEY column %s has COLLATE %s; "
                                 "key columns may use BINARY, NOCASE or RTRIM",
                                 c->name, c->collate);
        return SQLITE_ERROR;
      }
      tab->key_cols[p] = tab->def.pk_cols[p];
      tab->key_aff[p] = tab->kind == KIND_IPK ? 'D' : c->affinity;
    }
  }

  tab->key_pos = sqlite3_malloc(sizeof(int) * tab->def.n_cols);
  tab->nonkey_idx = sqlite3_malloc(sizeof(int) * tab->def.n_cols);
  tab->holders = sqlite3_malloc(sizeof(sqlite3_value *) * (tab->def.n_cols + 2));
  tab->vals = sqlite3_malloc(sizeof(lsmx_value) * (tab->def.n_cols + 1));
  tab->kvals = sqlite3_malloc(sizeof(lsmx_value) * (tab->n_key + 1));
  if (!tab->key_pos || !tab->nonkey_idx || !tab->holders || !tab->vals ||
      !tab->kvals) {
    return SQLITE_NOMEM;
  }
  for (i = 0; i < tab->def.n_cols; i++) tab->key_pos[i] = -1;
  for (p = 0; p < tab->n_key; p++) {
    if (tab->key_cols[p] >= 0) tab->key_pos[tab->key_cols[p]] = p;
  }
  for (i = j = 0; i < tab->def.n_cols; i++) {
    tab->nonkey_idx[i] = tab->key_pos[i] >= 0 ? -1 : j++;
  }
  tab->n_nonkey = j;
  for (p = 0; p < tab->n_key; p++) {
    tab->orig_idx[p] = tab->key_coll[p] ? j++ : -1;
  }
  tab->n_row_cols = j;

  /* Hidden columns after the declared ones. */
  tab->cmd_col = -1;
  tab->hkey_col = -1;
  j = tab->def.n_cols;
  for (i = 0; i < tab->def.n_cols; i++) {
    if (sqlite3_stricmp(tab->def.cols[i].name, tab->name) == 0) break;
  }
  if (i == tab->def.n_cols) tab->cmd_col = j++;
  if (tab->kind == KIND_KEYED && tab->n_key > 1) {
    tab->hkey_name = unique_hidden_name(&tab->def, tab->name);
    if (!tab->hkey_name) return SQLITE_NOMEM;
    tab->hkey_col = j++;
  }
  return SQLITE_OK;
}

static int vtab_init(sqlite3 *db, void *aux, int argc, const char *const *argv,
                     sqlite3_vtab **ppVtab, char **pzErr, int create) {
  lsm_vtab *tab;
  char *sql = NULL;
  int rc = SQLITE_OK;

  *ppVtab = NULL;
  if (argc < 3) {
    *pzErr = sqlite3_mprintf("lsm: missing table name");
    return SQLITE_ERROR;
  }
  tab = sqlite3_malloc(sizeof(*tab));
  if (!tab) return SQLITE_NOMEM;
  memset(tab, 0, sizeof(*tab));
  tab->db = db;
  tab->name = sqlite3_mprintf("%s", argv[2]);
  tab->schema = sqlite3_mprintf("%s", argv[1]);
  if (!tab->name || !tab->schema) { rc = SQLITE_NOMEM; goto done; }

  /* 1. Everything that can be checked without touching the disk. */
  rc = lsmx_args_parse(argc - 3, argv + 3, &tab->def, pzErr);
  if (rc != SQLITE_OK) {
    if (rc != SQLITE_NOMEM && !*pzErr) *pzErr = sqlite3_mprintf("lsm: bad arguments");
    goto done;
  }
  if (tab->def.n_cols == 0) {
    *pzErr = sqlite3_mprintf("lsm: table %s has no columns", tab->name);
    rc = SQLITE_ERROR;
    goto done;
  }
  rc = setup_columns(tab, pzErr);
  if (rc != SQLITE_OK) goto done;
  map_options(tab);

  sql = declare_sql(tab);
  if (!sql) { rc = SQLITE_NOMEM; goto done; }
  rc = sqlite3_declare_vtab(db, sql);
  if (rc != SQLITE_OK) {
    *pzErr = sqlite3_mprintf("lsm: bad column definitions for table %s: %s",
                             tab->name, sqlite3_errmsg(db));
    goto done;
  }
  sqlite3_vtab_config(db, SQLITE_VTAB_CONSTRAINT_SUPPORT, 1);

  /* 2. The directory and the engine.  A table whose directory is gone
  ** connects anyway, so that DROP TABLE still works; every read or write
  ** reports the missing data. */
  rc = choose_dir(tab, (const lsm_conn *)aux, pzErr);
  if (rc == SQLITE_OK) rc = resolve_default_dir(tab, create, pzErr);
  if (rc != SQLITE_OK) goto done;
  if (create || tab->dir_is_temp || dir_exists(tab->dir)) {
    rc = open_engine(tab, create || tab->dir_is_temp, pzErr);
  }

done:
  sqlite3_free(sql);
  if (rc != SQLITE_OK) {
    if (tab->dir_is_temp && !tab->eng && tab->dir) {
      lsm_destroy(tab->dir, NULL);
      rmdir(tab->dir);
      tab->dir_is_temp = 0;
    }
    vtab_free(tab);
    return rc;
  }
  tab->conn = (lsm_conn *)aux;
  if (tab->conn) {
    tab->next_in_conn = tab->conn->tabs;
    tab->conn->tabs = tab;
  }
  *ppVtab = &tab->base;
  return SQLITE_OK;
}

static int xCreate(sqlite3 *db, void *aux, int argc, const char *const *argv,
                   sqlite3_vtab **ppVtab, char **pzErr) {
  return vtab_init(db, aux, argc, argv, ppVtab, pzErr, 1);
}

static int xConnect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                    sqlite3_vtab **ppVtab, char **pzErr) {
  return vtab_init(db, aux, argc, argv, ppVtab, pzErr, 0);
}

static int xDisconnect(sqlite3_vtab *pVtab) {
  vtab_free((lsm_vtab *)pVtab);
  return SQLITE_OK;
}

/* DROP TABLE: remove the directory.  Never while another connection of
** this process, or another process, has the table open (lsm_destroy
** refuses then). */
static int xDestroy(sqlite3_vtab *pVtab) {
  lsm_vtab *tab = (lsm_vtab *)pVtab;
  char *err = NULL;
  int rc;
  if (tab->eng && lsmx_engine_refs(tab->eng) > 1) {
    char *m = sqlite3_mprintf("lsm: cannot drop table %s: it is open in "
                              "another connection", tab->name);
    rc = vtab_error(tab, SQLITE_BUSY, m ? m : "lsm: table in use");
    sqlite3_free(m);
    return rc;
  }
  if (!tab->eng && dir_exists(tab->dir)) {
    rc = open_engine(tab, 0, &err);
    if (rc == SQLITE_BUSY) {
      rc = vtab_error(tab, rc, err ? err : "lsm: table in use");
      sqlite3_free(err);
      return rc;
    }
    sqlite3_free(err);    /* a table that cannot be opened can be dropped */
  }
  release_engine(tab);    /* a failed close loses nothing: the data goes */
  rc = lsm_destroy(tab->dir, NULL);
  if (rc == LSM_BUSY) {
    char *m = sqlite3_mprintf("lsm: cannot drop table %s: it is open in "
                              "another process", tab->name);
    rc = vtab_error(tab, SQLITE_BUSY, m ? m : "lsm: table in use");
    sqlite3_free(m);
    return rc;
  }
  if (rc != LSM_OK && dir_exists(tab->dir)) {
    if (rc == LSM_NOMEM) return SQLITE_NOMEM;
    return vtab_error(tab, SQLITE_IOERR,
                      "lsm: cannot remove the table directory");
  }
  rmdir(tab->dir);
  if (tab->dir_is_default) {
    char *parent = parent_of(tab->dir);
    if (parent) {
      remove_aliases_of(parent, tab->dir);
      remove_alias(parent, tab->name);
    }
    sqlite3_free(parent);
    remove_parent_if_empty(tab->dir);
  }
  tab->dir_is_temp = 0;
  vtab_free(tab);
  return SQLITE_OK;
}

/* ALTER TABLE ... RENAME.  A table in its default directory moves with its
** name; the note of the old name is written first (see "Renamed tables"),
** so a rename SQLite rolls back after this returns still finds its data. */
static int xRename(sqlite3_vtab *pVtab, const char *zNew) {
  lsm_vtab *tab = (lsm_vtab *)pVtab;
  char *new_dir = NULL, *new_name = NULL, *parent = NULL, *m = NULL;
  char *err = NULL;
  int rc = SQLITE_OK, e;

  if (tab->dir_is_default) {
    if (tab->batch && lsm_batch_count(tab->batch) > 0) {
      return vtab_error(tab, SQLITE_ERROR, "lsm: cannot rename a table with "
                        "uncommitted changes");
    }
    if ((tab->eng && lsmx_engine_refs(tab->eng) > 1) || tab->n_cursors > 0) {
      m = sqlite3_mprintf("lsm: cannot rename table %s: it is in use by %s",
                          tab->name, tab->n_cursors > 0 ? "a running statement"
                                                        : "another connection");
      rc = vtab_error(tab, SQLITE_BUSY, m ? m : "lsm: table in use");
      sqlite3_free(m);
      return rc;
    }
    new_dir = default_dir(sqlite3_db_filename(tab->db, tab->schema), zNew);
    parent = parent_of(tab->dir);
    new_name = sqlite3_mprintf("%s", zNew);
    if (!new_dir || !parent || !new_name) { rc = SQLITE_NOMEM; goto done; }
    if (strcmp(new_dir, tab->dir) == 0) {
      /* A table that kept a directory after a rolled-back rename gets the
      ** directory's name back: nothing moves. */
      remove_alias(parent, tab->name);
    } else if (dir_exists(new_dir)) {
      m = sqlite3_mprintf("lsm: cannot rename table %s: %s exists", tab->name,
                          shown_path(tab, new_dir));
      rc = vtab_error(tab, SQLITE_ERROR, m ? m : "lsm: cannot rename");
      goto done;
    } else if ((e = write_alias(parent, tab->name, new_dir)) != 0) {
      if (e == ENOMEM) { rc = SQLITE_NOMEM; goto done; }
      m = sqlite3_mprintf("lsm: cannot rename table %s: cannot write %s/" ALIAS_PREFIX "%s: %s",
                          tab->name, shown_path(tab, parent), tab->name, strerror(e));
      rc = vtab_error(tab, SQLITE_IOERR, m ? m : "lsm: cannot rename");
      goto done;
    } else {
      /* The engine keeps files open in its directory: close around rename.
      ** Another process's engine would keep using the old path: refuse. */
      release_engine(tab);
      if (lsm_in_use(tab->dir, NULL) == LSM_BUSY) {
        remove_alias(parent, tab->name);
        m = sqlite3_mprintf("lsm: cannot rename table %s: it is open in another process",
                            tab->name);
        if (open_engine(tab, 0, &err) != SQLITE_OK) sqlite3_free(err);
        rc = vtab_error(tab, SQLITE_BUSY, m ? m : "lsm: table in use");
        goto done;
      }
      if (rename(tab->dir, new_dir) != 0 || sync_dir_path(parent) != 0) {
        int saved = errno;
        if (!dir_exists(tab->dir) && dir_exists(new_dir)) rename(new_dir, tab->dir);
        remove_alias(parent, tab->name);
        m = sqlite3_mprintf("lsm: cannot rename %s to %s: %s", shown_dir(tab),
                            shown_path(tab, new_dir), strerror(saved));
        if (open_engine(tab, 0, &err) != SQLITE_OK) sqlite3_free(err);
        rc = vtab_error(tab, SQLITE_IOERR, m ? m : "lsm: cannot rename");
        goto done;
      }
      sqlite3_free(tab->dir);
      tab->dir = new_dir;
      new_dir = NULL;
    }
    remove_alias(parent, zNew);   /* a stale note of the new name */
  } else {
    new_name = sqlite3_mprintf("%s", zNew);
    if (!new_name) { rc = SQLITE_NOMEM; goto done; }
  }
  sqlite3_free(tab->name);
  tab->name = new_name;
  new_name = NULL;
done:
  sqlite3_free(m);
  sqlite3_free(new_dir);
  sqlite3_free(new_name);
  sqlite3_free(parent);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Query planning: translate SQLite's view into ext/plan.h's and back. */

/* Key position of SQLite column iCol (-1 the rowid), or -1. */
static int column_key_pos(const lsm_vtab *tab, int iCol) {
  if (iCol < 0) return is_rowid_kind(tab) ? 0 : -1;
  if (iCol == tab->hkey_col) return LSMX_PLAN_RAWKEY_POS;
  if (iCol < tab->def.n_cols) return tab->key_pos[iCol];
  return -1;
}

/* Rows in the table, for costs: entries of every level and the memtables
** (old versions and tombstones included: an estimate). */
static double table_rows(const lsm_vtab *tab) {
  lsm_stats st;
  double n = 0;
  int l;
  if (!tab->lsm || lsm_get_stats(tab->lsm, &st) != LSM_OK) return UNKNOWN_ROWS;
  for (l = 0; l < LSM_MAX_LEVELS; l++) n += (double)st.level[l].entries;
  return n + (double)st.memtable_entries;
}

static int xBestIndex(sqlite3_vtab *pVtab, sqlite3_index_info *info) {
  lsm_vtab *tab = (lsm_vtab *)pVtab;
  lsmx_plan_cons *cons = NULL;
  lsmx_plan_order *order = NULL;
  lsmx_plan_use *use = NULL;
  lsmx_plan plan;
  char *idx_str;
  size_t n_kind;
  int i, rc = SQLITE_OK;

  cons = sqlite3_malloc64(sizeof(*cons) * (sqlite3_uint64)(info->nConstraint + 1));
  use = sqlite3_malloc64(sizeof(*use) * (sqlite3_uint64)(info->nConstraint + 1));
  order = sqlite3_malloc64(sizeof(*order) * (sqlite3_uint64)(info->nOrderBy + 1));
  if (!cons || !use || !order) { rc = SQLITE_NOMEM; goto done; }

  for (i = 0; i < info->nConstraint; i++) {
    const struct sqlite3_index_constraint *c = &info->aConstraint[i];
    lsmx_plan_cons *pc = &cons[i];
    pc->usable = c->usable;
    pc->in_list = 0;
    pc->key_pos = -1;
    pc->exact = 1;
    pc->keeps_check = 0;
    switch (c->op) {
      case SQLITE_INDEX_CONSTRAINT_EQ:
      case SQLITE_INDEX_CONSTRAINT_IS: pc->op = LSMX_OP_EQ; break;
      case SQLITE_INDEX_CONSTRAINT_GT: pc->op = LSMX_OP_GT; break;
      case SQLITE_INDEX_CONSTRAINT_GE: pc->op = LSMX_OP_GE; break;
      case SQLITE_INDEX_CONSTRAINT_LT: pc->op = LSMX_OP_LT; break;
      case SQLITE_INDEX_CONSTRAINT_LE: pc->op = LSMX_OP_LE; break;
#ifdef SQLITE_INDEX_CONSTRAINT_LIMIT
      case SQLITE_INDEX_CONSTRAINT_LIMIT: pc->op = LSMX_OP_LIMIT; break;
      case SQLITE_INDEX_CONSTRAINT_OFFSET: pc->op = LSMX_OP_OFFSET; break;
#endif
      default: pc->op = LSMX_OP_OTHER; break;
    }
    if (pc->op == LSMX_OP_LIMIT || pc->op == LSMX_OP_OFFSET) {
      /* Not where SQLite may offer them past terms the table never sees
      ** (ext/quirks.h): a cursor stopping after LIMIT rows would lose
      ** rows SQLite then filters out. */
      if (!tab->conn || !tab->conn->limit_ok) pc->usable = 0;
      continue;
    }
    if (pc->op == LSMX_OP_OTHER) continue;
    pc->key_pos = column_key_pos(tab, c->iColumn);
    if (pc->key_pos >= 0 && !(is_rowid_kind(tab))) {
      /* Key order is the key column's collation; another needs SQLite. */
      static const char *const names[] = {"BINARY", "NOCASE", "RTRIM"};
      const char *coll = sqlite3_vtab_collation(info, i);
      int kc = tab->key_coll[pc->key_pos];
      const char *want = names[kc == 'N' ? 1 : kc == 'R' ? 2 : 0];
      if (sqlite3_stricmp(coll ? coll : "BINARY", want) != 0) pc->key_pos = -1;
    }
    if (pc->op == LSMX_OP_EQ && pc->key_pos >= 0 && c->usable &&
        c->op == SQLITE_INDEX_CONSTRAINT_EQ) {
      pc->in_list = sqlite3_vtab_in(info, i, -1);
    }
    if (c->op == SQLITE_INDEX_CONSTRAINT_GE || c->op == SQLITE_INDEX_CONSTRAINT_LE) {
      /* SQLite turns (a, b) > (x, y) into a >= x for a virtual table and
      ** checks the whole comparison itself; such a bound has no right-hand
      ** value to show, and a plain `a >= ?` cannot be told from it. */
      sqlite3_value *rhs = NULL;
      pc->keeps_check = sqlite3_vtab_rhs_value(info, i, &rhs) != SQLITE_OK;
    }
    if (pc->key_pos >= 0) {
      /* A TEXT or untyped key compared with a value that has an affinity
      ** of its own (another table's column) follows other rules than
      ** with a literal or a parameter (datatype3.html 4.2); only a
      ** literal right-hand side is known to have none. */
      char aff = tab->key_aff[pc->key_pos];
      sqlite3_value *rhs = NULL;
      if ((aff == 'A' || aff == 'B') &&
          (pc->in_list || sqlite3_vtab_rhs_value(info, i, &rhs) != SQLITE_OK)) {
        pc->exact = 0;
      }
    }
  }
  for (i = 0; i < info->nOrderBy; i++) {
    order[i].key_pos = column_key_pos(tab, info->aOrderBy[i].iColumn);
    order[i].desc = info->aOrderBy[i].desc;
  }

  lsmx_plan_best(tab->n_key, cons, info->nConstraint, order, info->nOrderBy,
                 table_rows(tab), sqlite3_libversion_number() >= 3040000, use,
                 &plan);

  for (i = 0; i < info->nConstraint; i++) {
    info->aConstraintUsage[i].argvIndex = use[i].argv_index;
    info->aConstraintUsage[i].omit = (unsigned char)use[i].omit;
    if (use[i].in_all) sqlite3_vtab_in(info, i, 1);
  }
  info->idxNum = plan.idx_num;
  info->orderByConsumed = plan.order_consumed;
  info->estimatedCost = plan.cost;
  info->estimatedRows = plan.rows;
  if (plan.unique) info->idxFlags |= SQLITE_INDEX_SCAN_UNIQUE;

  /* idxStr: the plan's name for EXPLAIN QUERY PLAN, then (after its NUL)
  ** the columns used in hex, so the cursor decodes only those.  SQLite
  ** hands xFilter this very pointer. */
  n_kind = strlen(plan.kind);
  idx_str = sqlite3_malloc64(n_kind + 1 + 17);
  if (!idx_str) { rc = SQLITE_NOMEM; goto done; }
  memcpy(idx_str, plan.kind, n_kind + 1);
  snprintf(idx_str + n_kind + 1, 17, "%llx",
           (unsigned long long)info->colUsed);
  info->idxStr = idx_str;
  info->needToFreeIdxStr = 1;

done:
  sqlite3_free(cons);
  sqlite3_free(use);
  sqlite3_free(order);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Cursors. */

static void list_reset(value_list *l) {
  l->data.len = 0;
  l->n = 0;
}

static void list_free(value_list *l) {
  lsm_buffer_free(&l->data);
  sqlite3_free(l->off);
  memset(l, 0, sizeof *l);
}

static const unsigned char *list_item(const value_list *l, int i, size_t *n) {
  *n = l->off[i + 1] - l->off[i];
  return l->data.data + l->off[i];
}

/* Append one encoding (the bytes appended to data since the last item). */
static int list_commit_item(value_list *l) {
  if (l->n + 2 > l->cap) {
    int cap = l->cap ? l->cap * 2 : 8;
    size_t *off = sqlite3_realloc64(l->off, sizeof(size_t) * (sqlite3_uint64)cap);
    if (!off) return LSM_NOMEM;
    l->off = off;
    l->cap = cap;
  }
  if (l->n == 0) l->off[0] = 0;
  l->n++;
  l->off[l->n] = l->data.len;
  return LSM_OK;
}

typedef struct item_ref {
  const unsigned char *p;
  size_t n;
} item_ref;

static int item_cmp(const void *a, const void *b) {
  const item_ref *x = a, *y = b;
  return key_cmp(x->p, x->n, y->p, y->n);
}

/* The item "every TEXT value that may look like a number" (those below
** ':', see AFTER_NUMERIC_TEXT): the single byte LSMX_KEY_TEXT. */
static int is_class_item(const unsigned char *v, size_t n) {
  return n == 1 && v[0] == LSMX_KEY_TEXT;
}

/* Does the class item cover encoded value v? */
static int class_covers(const unsigned char *v, size_t n) {
  return n >= 2 && v[0] == LSMX_KEY_TEXT && v[1] < AFTER_NUMERIC_TEXT;
}

/* Sort the list in key order and drop duplicates. */
static int list_sort(value_list *l) {
  item_ref *refs;
  lsm_buffer sorted = {0};
  int i, n = 0, rc = LSM_OK;
  if (l->n < 2) return LSM_OK;
  refs = sqlite3_malloc64(sizeof(item_ref) * (sqlite3_uint64)l->n);
  if (!refs) return LSM_NOMEM;
  for (i = 0; i < l->n; i++) refs[i].p = list_item(l, i, &refs[i].n);
  qsort(refs, (size_t)l->n, sizeof(item_ref), item_cmp);
  for (i = 0; i < l->n && rc == LSM_OK; i++) {
    if (i > 0 && item_cmp(&refs[i - 1], &refs[i]) == 0) continue;
    /* Values covered by the class item (which sorts before them). */
    if (n > 0 && is_class_item(sorted.data + l->off[n - 1],
                               sorted.len - l->off[n - 1]) &&
        class_covers(refs[i].p, refs[i].n)) {
      continue;
    }
    rc = buf_append(&sorted, refs[i].p, refs[i].n);
    if (rc == LSM_OK) l->off[++n] = sorted.len;
  }
  sqlite3_free(refs);
  if (rc != LSM_OK) {
    lsm_buffer_free(&sorted);
    return rc;
  }
  lsm_buffer_free(&l->data);
  l->data = sorted;
  l->n = n;
  return LSM_OK;
}

/* Drop the engine state of a cursor (before a new xFilter or xClose).  An
** iterator without overlay is kept for the table's next xFilter (one). */
static void cursor_release(lsm_cursor *cur) {
  lsm_vtab *tab = (lsm_vtab *)cur->base.pVtab;
  if (cur->it && cur->it_plain && tab->spare_iter == NULL) {
    tab->spare_iter = cur->it;
  } else {
    lsm_iter_free(cur->it);
  }
  cur->it = NULL;
  if (cur->snap) lsm_snapshot_free(tab->lsm, cur->snap);
  cur->snap = NULL;
}

static void cursor_free(lsm_cursor *cur, int n_key) {
  int p;
  if (!cur) return;
  for (p = 0; p < n_key; p++) {
    list_free(&cur->lists[p]);
    lsm_buffer_free(&cur->key_scratch[p]);
  }
  lsm_buffer_free(&cur->lo);
  lsm_buffer_free(&cur->hi);
  lsm_buffer_free(&cur->target);
  lsm_buffer_free(&cur->lower);
  lsm_buffer_free(&cur->upper);
  lsm_buffer_free(&cur->key);
  lsm_buffer_free(&cur->val);
  sqlite3_free(cur->cols);
  sqlite3_free(cur->keyv);
  sqlite3_free(cur->key_scratch);
  sqlite3_free(cur->lists);
  sqlite3_free(cur->pos);
  sqlite3_free(cur);
}

/* Bytes of scratch a closed cursor may keep for the next one. */
#define SPARE_CURSOR_MAX_BYTES (64 * 1024)

static size_t cursor_scratch_bytes(const lsm_cursor *cur, int n_key) {
  size_t n = cur->lo.cap + cur->hi.cap + cur->target.cap + cur->lower.cap +
             cur->upper.cap + cur->key.cap + cur->val.cap;
  int p;
  for (p = 0; p < n_key; p++) {
    n += cur->lists[p].data.cap + (size_t)cur->lists[p].cap * sizeof(size_t) +
         cur->key_scratch[p].cap;
  }
  return n;
}

/* A cursor's memory lives on between statements: SQLite opens and closes
** a cursor for every execution of a statement, and a point lookup would
** otherwise pay five allocations and their frees for it.  xClose keeps one
** (tab->spare_cursor, scratch buffers and all) unless its buffers grew
** large; xOpen takes it back with every field but the buffers reset. */
static int xOpen(sqlite3_vtab *pVtab, sqlite3_vtab_cursor **ppCursor) {
  lsm_vtab *tab = (lsm_vtab *)pVtab;
  lsm_cursor *cur = tab->spare_cursor;
  if (cur) {
    lsm_cursor keep = *cur;
    tab->spare_cursor = NULL;
    memset(cur, 0, sizeof(*cur));
    cur->lists = keep.lists;
    cur->pos = keep.pos;
    cur->lo = keep.lo;
    cur->hi = keep.hi;
    cur->target = keep.target;
    cur->lower = keep.lower;
    cur->upper = keep.upper;
    cur->key = keep.key;
    cur->val = keep.val;
    cur->keyv = keep.keyv;
    cur->key_scratch = keep.key_scratch;
    cur->cols = keep.cols;
    goto ready;
  }
  cur = sqlite3_malloc(sizeof(*cur));
  if (!cur) return SQLITE_NOMEM;
  memset(cur, 0, sizeof(*cur));
  cur->cols = sqlite3_malloc64(sizeof(lsmx_value) * (sqlite3_uint64)(tab->n_nonkey + 1));
  cur->keyv = sqlite3_malloc64(sizeof(lsmx_value) * (sqlite3_uint64)tab->n_key);
  cur->key_scratch = sqlite3_malloc64(sizeof(lsm_buffer) * (sqlite3_uint64)tab->n_key);
  cur->lists = sqlite3_malloc64(sizeof(value_list) * (sqlite3_uint64)tab->n_key);
  cur->pos = sqlite3_malloc64(sizeof(int) * (sqlite3_uint64)tab->n_key);
  if (!cur->cols || !cur->keyv || !cur->key_scratch || !cur->lists ||
      !cur->pos) {
    sqlite3_free(cur->cols);
    sqlite3_free(cur->keyv);
    sqlite3_free(cur->key_scratch);
    sqlite3_free(cur->lists);
    sqlite3_free(cur->pos);
    sqlite3_free(cur);
    return SQLITE_NOMEM;
  }
  memset(cur->key_scratch, 0, sizeof(lsm_buffer) * (size_t)tab->n_key);
  memset(cur->lists, 0, sizeof(value_list) * (size_t)tab->n_key);
ready:
  cur->eof = 1;
  tab->n_cursors++;
  *ppCursor = &cur->base;
  return SQLITE_OK;
}

static int xClose(sqlite3_vtab_cursor *pCur) {
  lsm_cursor *cur = (lsm_cursor *)pCur;
  lsm_vtab *tab = (lsm_vtab *)pCur->pVtab;
  cursor_release(cur);
  tab->n_cursors--;
  if (!tab->spare_cursor &&
      cursor_scratch_bytes(cur, tab->n_key) <= SPARE_CURSOR_MAX_BYTES) {
    tab->spare_cursor = cur;
  } else {
    cursor_free(cur, tab->n_key);
  }
  return SQLITE_OK;
}

static lsm_batch *txn_overlay(lsm_vtab *tab) {
  return (tab->in_txn && tab->batch && lsm_batch_count(tab->batch) > 0)
             ? tab->batch : NULL;
}

static void cursor_row_reset(lsm_cursor *cur) {
  cur->key_decoded = cur->row_parsed = cur->cols_decoded = 0;
}

/* Positions of the odometer that matter: up to the first "every TEXT"
** item, after which the target is a prefix range. */
static int active_positions(const lsm_cursor *cur) {
  int p;
  for (p = 0; p < cur->n_eq; p++) {
    size_t n;
    const unsigned char *v = list_item(&cur->lists[p], cur->pos[p], &n);
    if (is_class_item(v, n)) return p + 1;
  }
  return cur->n_eq;
}

/* Build the current target from the odometer: the concatenated values of
** the fixed columns.  Sets *exact when every one is a single value (else
** the target is a prefix ending in a TEXT class byte). */
static int build_target(lsm_cursor *cur, int *exact) {
  int p, rc = LSM_OK;
  cur->target.len = 0;
  *exact = 1;
  for (p = 0; p < cur->n_eq && rc == LSM_OK && *exact; p++) {
    size_t n;
    const unsigned char *v = list_item(&cur->lists[p], cur->pos[p], &n);
    rc = buf_append(&cur->target, v, n);
    if (is_class_item(v, n)) *exact = 0;
  }
  return rc;
}

static void odometer_reset(lsm_cursor *cur, int from) {
  int p;
  for (p = from; p < cur->n_eq; p++) {
    cur->pos[p] = cur->desc ? cur->lists[p].n - 1 : 0;
  }
}

/* Step the odometer to the next combination in the cursor's direction.
** Returns 0 when there is none. */
static int odometer_step(lsm_cursor *cur) {
  int p;
  for (p = active_positions(cur) - 1; p >= 0; p--) {
    if (!cur->desc ? ++cur->pos[p] < cur->lists[p].n : --cur->pos[p] >= 0) {
      odometer_reset(cur, p + 1);
      return 1;
    }
  }
  return 0;
}

/* Point lookup of cur->target: the transaction's batch first, then the
** committed data (at the cursor's snapshot, if it has one).  *found. */
static int lookup_target(lsm_cursor *cur, int *found) {
  lsm_vtab *tab = (lsm_vtab *)cur->base.pVtab;
  int rc = LSM_NOTFOUND;
  *found = 0;
  cur->val.len = 0;
  if (cur->it) {
    /* The cursor's iterator: the view as of the cursor's start. */
    size_t nk;
    const unsigned char *k;
    rc = lsm_iter_seek(cur->it, cur->target.data, cur->target.len);
    if (rc == LSM_OK) rc = lsm_iter_status(cur->it);
    if (rc != LSM_OK) return vtab_fail_iter(tab, rc, cur->it);
    if (!lsm_iter_valid(cur->it)) return SQLITE_OK;
    k = lsm_iter_key(cur->it, &nk);
    if (key_cmp(k, nk, cur->target.data, cur->target.len) != 0) return SQLITE_OK;
    cur->kp = k;
    cur->kn = nk;
    cur->vp = lsm_iter_value(cur->it, &cur->vn);
    *found = 1;
    return SQLITE_OK;
  }
  if (cur->live_batch && txn_overlay(tab)) {
    int deleted = 0;
    rc = lsm_batch_get(tab->batch, cur->target.data, cur->target.len, &deleted,
                       &cur->val);
    if (rc == LSM_OK && deleted) return SQLITE_OK;
    if (rc != LSM_OK && rc != LSM_NOTFOUND) return vtab_fail(tab, rc, 0);
  }
  if (rc == LSM_NOTFOUND) {
    cur->val.len = 0;
    rc = lsm_get(tab->lsm, cur->snap, cur->target.data, cur->target.len,
                 &cur->val);
    if (rc == LSM_NOTFOUND) return SQLITE_OK;
    if (rc != LSM_OK) return vtab_fail(tab, rc, 1);
  }
  if (buf_set(&cur->key, cur->target.data, cur->target.len) != LSM_OK) {
    return SQLITE_NOMEM;
  }
  cur->kp = cur->key.data;
  cur->kn = cur->key.len;
  cur->vp = cur->val.data;
  cur->vn = cur->val.len;
  *found = 1;
  return SQLITE_OK;
}

/* The interval [lower, upper) of keys the current target covers: keys
** starting with the target whose next column satisfies the bounds. */
static int build_interval(lsm_cursor *cur, int exact) {
  int rc = buf_set(&cur->lower, cur->target.data, cur->target.len);
  if (!exact) {
    /* Ends in the class item: the TEXT values below ':', no bounds. */
    static const unsigned char end = AFTER_NUMERIC_TEXT;
    if (rc == LSM_OK) rc = buf_set(&cur->upper, cur->target.data, cur->target.len);
    if (rc == LSM_OK) rc = buf_append(&cur->upper, &end, 1);
    cur->has_upper = 1;
    return rc;
  }
  if (rc == LSM_OK && cur->has_lo) {
    rc = buf_append(&cur->lower, cur->lo.data, cur->lo.len);
    /* > lo: past every key that starts with target || lo. */
    if (rc == LSM_OK && !cur->lo_incl) lsmx_key_successor(&cur->lower);
  }
  if (rc != LSM_OK) return rc;
  rc = buf_set(&cur->upper, cur->target.data, cur->target.len);
  if (rc == LSM_OK && cur->has_hi) {
    rc = buf_append(&cur->upper, cur->hi.data, cur->hi.len);
    /* <= hi: up to the end of the keys that start with target || hi. */
    if (rc == LSM_OK) {
      cur->has_upper = cur->hi_incl ? lsmx_key_successor(&cur->upper) : 1;
    }
  } else if (rc == LSM_OK) {
    cur->has_upper = lsmx_key_successor(&cur->upper);
  }
  return rc;
}

/* Position the iterator at the first key of the current interval in the
** cursor's direction. */
static int seek_interval(lsm_cursor *cur) {
  int rc;
  if (!cur->desc) {
    if (cur->lower.len > 0) {
      rc = lsm_iter_seek(cur->it, cur->lower.data, cur->lower.len);
    } else {
      rc = lsm_iter_first(cur->it);
    }
  } else if (cur->has_upper) {
    rc = lsm_iter_seek_le(cur->it, cur->upper.data, cur->upper.len);
    if (rc == LSM_OK && lsm_iter_valid(cur->it)) {
      size_t nk;
      const void *k = lsm_iter_key(cur->it, &nk);
      if (key_cmp(k, nk, cur->upper.data, cur->upper.len) == 0) {
        rc = lsm_iter_prev(cur->it);
      }
    }
  } else {
    rc = lsm_iter_last(cur->it);
  }
  return rc;
}

/* After an iterator move: is it on a key of the current interval?  Sets
** the current row if so.  A move returns the iterator's status, and an
** iterator that met an error is not valid, so the status is looked at
** again only at the end of the data, not per row.  An empty lower bound
** (a scan down to the first key) needs no comparison. */
HOT_INLINE int iter_in_interval(lsm_cursor *cur, int move_rc, int *in) {
  const unsigned char *k;
  size_t nk;
  int rc = move_rc, valid = rc == LSM_OK && lsm_iter_valid(cur->it);
  *in = 0;
  if (rc == LSM_OK && !valid) rc = lsm_iter_status(cur->it);
  if (rc != LSM_OK) return vtab_fail_iter((lsm_vtab *)cur->base.pVtab, rc, cur->it);
  if (!valid) return SQLITE_OK;
  k = lsm_iter_key(cur->it, &nk);
  if (!cur->desc) {
    if (cur->has_upper && key_cmp(k, nk, cur->upper.data, cur->upper.len) >= 0)
      return SQLITE_OK;
  } else if (cur->lower.len > 0) {
    if (key_cmp(k, nk, cur->lower.data, cur->lower.len) < 0) return SQLITE_OK;
  }
  cur->kp = k;
  cur->kn = nk;
  cur->vp = lsm_iter_value(cur->it, &cur->vn);
  *in = 1;
  return SQLITE_OK;
}

/* Find the next row of the cursor.  first: start with the first target.
** Sets cur->eof when there is none. */
static int cursor_seek_row(lsm_cursor *cur, int first) {
  lsm_vtab *tab = (lsm_vtab *)cur->base.pVtab;
  int rc, in = 0, enter = first, exact = 1;

  cursor_row_reset(cur);
  for (;;) {
    if (enter) {
      /* Enter the current target (the odometer already points at it). */
      rc = build_target(cur, &exact);
      if (rc != LSM_OK) return vtab_fail(tab, rc, 0);
      cur->target_is_point = cur->points && exact;
      if (cur->target_is_point) {
        rc = lookup_target(cur, &in);
        if (rc != SQLITE_OK) return rc;
      } else {
        rc = build_interval(cur, exact);
        if (rc != LSM_OK) return vtab_fail(tab, rc, 0);
        rc = iter_in_interval(cur, seek_interval(cur), &in);
        if (rc != SQLITE_OK) return rc;
      }
      enter = 0;
    } else if (!cur->target_is_point) {
      rc = iter_in_interval(cur, cur->desc ? lsm_iter_prev(cur->it)
                                           : lsm_iter_next(cur->it), &in);
      if (rc != SQLITE_OK) return rc;
    } else {
      in = 0;     /* a point target has one row at most */
    }
    if (in) {
      if (cur->skip > 0) {
        cur->skip--;
        continue;
      }
      return SQLITE_OK;
    }
    /* This target is exhausted: the next one. */
    if (!odometer_step(cur)) {
      cur->eof = 1;
      return SQLITE_OK;
    }
    enter = 1;
  }
}

/* Add the key values that `= v` can match to list l (key position p).
** exact: v compares as a literal would.  Otherwise v may carry an
** affinity of its own: a number compared with a TEXT or untyped key may
** then also match TEXT keys that look like numbers (NUMERIC affinity
** applied to the key), so the list also gets the class item (the TEXT
** values below ':'), and SQLite checks each row.  A text v matches only
** itself whatever its affinity. */
static int add_fixed_value(const lsm_vtab *tab, int p, sqlite3_value *v,
                           int exact, value_list *l) {
  int t = sqlite3_value_type(v), is_null = 0, rc = LSM_OK;
  char aff = tab->key_aff[p];
  size_t before = l->data.len;
  if (!exact && (t == SQLITE_INTEGER || t == SQLITE_FLOAT) &&
      (aff == 'A' || aff == 'B')) {
    /* The texts that may look like numbers, and v as the key's affinity
    ** makes it (its text may sort above ':': "Inf"). */
    unsigned char c = LSMX_KEY_TEXT;
    rc = buf_append(&l->data, &c, 1);
    if (rc == LSM_OK) rc = list_commit_item(l);
    if (rc != LSM_OK) return rc;
    before = l->data.len;
  }
  rc = append_key_arg(tab, p, v, &l->data, &is_null, 1);
  if (rc == LSM_OK && !is_null) rc = list_commit_item(l);
  if (is_null) l->data.len = before;       /* NULL matches nothing */
  return rc;
}

/* Read one fixed key column's argument: a value, or an IN list handed
** over whole.  Values get the key column's affinity; NULLs match nothing
** and are dropped. */
static int read_fixed_arg(lsm_cursor *cur, int p, sqlite3_value *arg) {
  lsm_vtab *tab = (lsm_vtab *)cur->base.pVtab;
  value_list *l = &cur->lists[p];
  sqlite3_value *v = NULL;
  int rc, exact = p < cur->inexact_from;

  list_reset(l);
  rc = sqlite3_vtab_in_first(arg, &v);
  if (rc == SQLITE_ERROR || rc == SQLITE_MISUSE) {
    /* Not an IN list (3.40 says MISUSE, later versions ERROR): a single
    ** value. */
    rc = add_fixed_value(tab, p, arg, exact, l);
    if (rc == LSM_OK) rc = list_sort(l);
    return rc == LSM_OK ? SQLITE_OK : vtab_fail(tab, rc, 0);
  }
  while (rc == SQLITE_OK) {
    int lrc = add_fixed_value(tab, p, v, exact, l);
    if (lrc != LSM_OK) return vtab_fail(tab, lrc, 0);
    rc = sqlite3_vtab_in_next(arg, &v);
  }
  if (rc != SQLITE_DONE) return rc;
  rc = list_sort(l);
  return rc == LSM_OK ? SQLITE_OK : vtab_fail(tab, rc, 0);
}

/* Whether text v compares with a TEXT or untyped key the same whatever
** affinity v brings: it looks like a number (so no numeric column holds
** it as text), or it sorts after every text that looks like a number. */
static int text_is_unambiguous(sqlite3_value *v) {
  const unsigned char *z = sqlite3_value_text(v);
  sqlite3_value *d;
  int numeric;
  if (!z) return 0;
  if (z[0] > '9') return 1;
  d = sqlite3_value_dup(v);
  if (!d) return 0;
  numeric = sqlite3_value_numeric_type(d) != SQLITE_TEXT;
  sqlite3_value_free(d);
  return numeric;
}

enum { BOUND_KEEP, BOUND_DROP, BOUND_NUMERIC_TEXT };

/* What to do with an inexact bound v on key position p.  With a TEXT or
** untyped key, which rows `k < v` or `k > v` select may depend on v's own
** affinity: compared with a NUMERIC column's value, TEXT keys that look
** like numbers become numbers (smaller than any text); compared with an
** untyped column's number, every TEXT key is greater.  So:
**   lower bound   a number on a TEXT key: drop it; else keep it (what the
**                 other rules select lies within it);
**   upper bound   a number, or a text that is not unambiguous: raise it
**                 to "every TEXT below ':'" (BOUND_NUMERIC_TEXT), which
**                 covers the texts that look like numbers.
** The cursor then reads a superset; SQLite checks each row. */
static int widen_bound(const lsm_vtab *tab, int p, sqlite3_value *v,
                       int is_upper) {
  int t = sqlite3_value_type(v);
  char aff = tab->key_aff[p];
  if (aff != 'A' && aff != 'B') return BOUND_KEEP;
  if (t == SQLITE_BLOB) return BOUND_KEEP;
  if (t == SQLITE_TEXT && text_is_unambiguous(v)) return BOUND_KEEP;
  if (!is_upper) {
    return (aff == 'B' && t != SQLITE_TEXT) ? BOUND_DROP : BOUND_KEEP;
  }
  return BOUND_NUMERIC_TEXT;
}

/* Append the encoding of the TEXT value ":" (AFTER_NUMERIC_TEXT). */
static int append_numeric_text_end(lsm_buffer *out) {
  static const unsigned char colon = AFTER_NUMERIC_TEXT;
  lsmx_value v;
  memset(&v, 0, sizeof v);
  v.type = SQLITE_TEXT;
  v.p = &colon;
  v.n = 1;
  return lsmx_key_append(out, &v);
}

/* A LIMIT / OFFSET argument as SQLite evaluates it; -1 if it is not an
** integer (SQLite then fails the statement itself). */
static sqlite3_int64 int_arg(sqlite3_value *v) {
  sqlite3_int64 i;
  if (!lsmx_value_to_rowid(v, &i)) return -1;
  return i;
}

/* An iterator at the latest commit, with the transaction's batch laid over
** it if it has one.  Without batch, the iterator a finished cursor left
** (tab->spare_iter) is refreshed to the latest commit when the engine can
** (lsm_iter_refresh: nothing flushed or compacted since), which saves
** building one per statement: a seek then costs the seeks alone, and lands
** in the blocks the last statement left loaded when it can.  Reuse holds
** the iterator's memtables and tables between statements (until the next
** statement or a write of this table drops it), never more than one. */
static int take_iter(lsm_vtab *tab, lsm_iter **out, int *plain) {
  lsm_batch *overlay = txn_overlay(tab);
  lsm_iter *it = tab->spare_iter;
  tab->spare_iter = NULL;
  *plain = overlay == NULL;
  if (it && overlay == NULL && lsm_iter_refresh(it) == LSM_OK) {
    *out = it;
    return LSM_OK;
  }
  lsm_iter_free(it);
  return lsm_iter_new(tab->lsm, NULL, overlay, out);
}

static int xFilter(sqlite3_vtab_cursor *pCur, int idxNum, const char *idxStr,
                   int argc, sqlite3_value **argv) {
  lsm_cursor *cur = (lsm_cursor *)pCur;
  lsm_vtab *tab = (lsm_vtab *)pCur->pVtab;
  sqlite3_uint64 col_used = ~(sqlite3_uint64)0;
  int argi = 0, is_null = 0, rc, p, i, n_in = 0, n_widened = 0;

  cursor_release(cur);
  cur->eof = 1;
  cur->n_returned = 0;
  cursor_row_reset(cur);
  /* A statement may be starting: see tab->replaced. */
  if (tab->replaced) lsm_batch_clear(tab->replaced);
  rc = ensure_open(tab);
  if (rc != SQLITE_OK) return rc;

  /* The columns used, after the plan's name in idxStr. */
  if (idxStr) {
    const char *hex = idxStr + strlen(idxStr) + 1;
    char *end = NULL;
    unsigned long long u = strtoull(hex, &end, 16);
    if (end && end != hex && *end == 0) col_used = (sqlite3_uint64)u;
  }
  cur->wanted_cols = 0;
  cur->wanted_keys = 0;
  for (i = 0; i < tab->def.n_cols; i++) {
    if (!((col_used >> (i < 63 ? i : 63)) & 1)) continue;
    if (tab->nonkey_idx[i] >= 0) {
      int j = tab->nonkey_idx[i];
      cur->wanted_cols |= (sqlite3_uint64)1 << (j < 63 ? j : 63);
    } else if (tab->key_pos[i] >= 0 && tab->key_pos[i] < 64) {
      cur->wanted_keys |= (sqlite3_uint64)1 << tab->key_pos[i];
    }
  }
  if (is_rowid_kind(tab)) cur->wanted_keys = 1;    /* xRowid needs it */

  cur->desc = (idxNum & LSMX_PLAN_DESC) != 0;
  cur->has_lo = (idxNum & LSMX_PLAN_LO) != 0;
  cur->lo_incl = (idxNum & LSMX_PLAN_LO_INCL) != 0;
  cur->has_hi = (idxNum & LSMX_PLAN_HI) != 0;
  cur->hi_incl = (idxNum & LSMX_PLAN_HI_INCL) != 0;
  cur->max_rows = -1;
  cur->skip = 0;
  cur->inexact_from = lsmx_plan_inexact_from(idxNum);

  if (idxNum & LSMX_PLAN_RAWKEY) {
    /* The hidden key column holds the encoded key as a blob. */
    value_list *l = &cur->lists[0];
    if (argc < 1) return SQLITE_ERROR;
    list_reset(l);
    if (sqlite3_value_type(argv[0]) != SQLITE_BLOB) return SQLITE_OK;
    {
      const void *p = sqlite3_value_blob(argv[0]);
      size_t n = (size_t)sqlite3_value_bytes(argv[0]);
      /* NULL with bytes: a zeroblob SQLite had no memory to expand. */
      rc = p == NULL && n > 0 ? LSM_NOMEM : buf_set(&l->data, p, n);
    }
    if (rc == LSM_OK) rc = list_commit_item(l);
    if (rc != LSM_OK) return vtab_fail(tab, rc, 0);
    cur->n_eq = 1;
    cur->points = 1;
    argi = 1;
  } else {
    cur->n_eq = lsmx_plan_n_eq(idxNum, argc);
    if (cur->n_eq > tab->n_key) return SQLITE_ERROR;
    cur->points = cur->n_eq == tab->n_key;
    for (p = 0; p < cur->n_eq; p++) {
      rc = read_fixed_arg(cur, p, argv[argi++]);
      if (rc != SQLITE_OK) return rc;
      if (cur->lists[p].n == 0) return SQLITE_OK;    /* matches nothing */
      if (cur->lists[p].n > 1) n_in++;
      for (i = 0; i < cur->lists[p].n; i++) {
        size_t n0;
        const unsigned char *v0 = list_item(&cur->lists[p], i, &n0);
        if (is_class_item(v0, n0)) n_widened++;
      }
    }
  }
  cur->lo.len = cur->hi.len = 0;
  if (cur->has_lo) {
    sqlite3_value *v;
    if (argi >= argc) return SQLITE_ERROR;
    v = argv[argi++];
    if (sqlite3_value_type(v) == SQLITE_NULL) return SQLITE_OK;
    if (cur->n_eq >= cur->inexact_from &&
        widen_bound(tab, cur->n_eq, v, 0) == BOUND_DROP) {
      cur->has_lo = 0;
    } else {
      /* no key compares true with NULL */
      rc = append_key_arg(tab, cur->n_eq, v, &cur->lo, &is_null, 1);
      if (rc != LSM_OK) return vtab_fail(tab, rc, 0);
      if (is_null) return SQLITE_OK;
    }
  }
  if (cur->has_hi) {
    sqlite3_value *v;
    if (argi >= argc) return SQLITE_ERROR;
    v = argv[argi++];
    if (sqlite3_value_type(v) == SQLITE_NULL) return SQLITE_OK;
    if (cur->n_eq >= cur->inexact_from &&
        widen_bound(tab, cur->n_eq, v, 1) == BOUND_NUMERIC_TEXT) {
      /* k < ':' (as TEXT), or the bound itself if it is larger. */
      lsm_buffer b = {0};
      rc = append_numeric_text_end(&cur->hi);
      if (rc == LSM_OK) rc = append_key_arg(tab, cur->n_eq, v, &b, &is_null, 1);
      if (rc == LSM_OK && !is_null &&
          key_cmp(b.data, b.len, cur->hi.data, cur->hi.len) >= 0) {
        rc = buf_set(&cur->hi, b.data, b.len);
      } else {
        cur->hi_incl = 0;
      }
      lsm_buffer_free(&b);
      if (rc != LSM_OK) return vtab_fail(tab, rc, 0);
    } else {
      rc = append_key_arg(tab, cur->n_eq, v, &cur->hi, &is_null, 1);
      if (rc != LSM_OK) return vtab_fail(tab, rc, 0);
      if (is_null) return SQLITE_OK;
    }
  }
  if (idxNum & LSMX_PLAN_LIMIT) {
    sqlite3_int64 limit, offset = 0;
    if (argi >= argc) return SQLITE_ERROR;
    limit = int_arg(argv[argi++]);
    if (idxNum & LSMX_PLAN_OFFSET) {
      if (argi >= argc) return SQLITE_ERROR;
      offset = int_arg(argv[argi++]);
      if (offset < 0) offset = 0;
    }
    if (limit >= 0) {
      if (idxNum & LSMX_PLAN_OFFSET_SKIP) {
        cur->max_rows = limit;
        cur->skip = offset;
      } else {
        cur->max_rows = offset > INT64_MAX - limit ? -1 : limit + offset;
      }
    } else if (idxNum & LSMX_PLAN_OFFSET_SKIP) {
      cur->skip = offset;
    }
  }
  if (cur->max_rows == 0) return SQLITE_OK;

  /* The cursor sees the table as of now.  One lookup is made now.  Ranges,
  ** and lookups in a transaction that has written, go through an iterator
  ** (it keeps the batch as it is now).  Lookups with nothing written yet
  ** use a snapshot of the committed data (and its bloom filters). */
  cur->live_batch = 0;
  if (cur->points && n_in == 0 && n_widened == 0) {
    cur->live_batch = 1;
  } else if (!cur->points || n_widened > 0 || txn_overlay(tab)) {
    rc = take_iter(tab, &cur->it, &cur->it_plain);
    if (rc != LSM_OK) {
      cur->it = NULL;
      return vtab_fail(tab, rc, 1);
    }
  } else {
    rc = lsm_snapshot_new(tab->lsm, &cur->snap);
    if (rc != LSM_OK) {
      cur->snap = NULL;
      return vtab_fail(tab, rc, 1);
    }
  }
  odometer_reset(cur, 0);
  cur->eof = 0;
  rc = cursor_seek_row(cur, 1);
  if (rc != SQLITE_OK) {
    cur->eof = 1;
    return rc;
  }
  if (!cur->eof) cur->n_returned = 1;
  return SQLITE_OK;
}

static int xNext(sqlite3_vtab_cursor *pCur) {
  lsm_cursor *cur = (lsm_cursor *)pCur;
  int rc, in;
  if (cur->eof) return SQLITE_OK;
  if (cur->max_rows >= 0 && cur->n_returned >= cur->max_rows) {
    cur->eof = 1;
    return SQLITE_OK;
  }
  if (!cur->target_is_point && cur->skip == 0) {
    /* The common case, a scan: the next key of the current interval,
    ** without the target loop of cursor_seek_row (entered only when the
    ** interval runs out). */
    cursor_row_reset(cur);
    rc = iter_in_interval(cur, cur->desc ? lsm_iter_prev(cur->it)
                                         : lsm_iter_next(cur->it), &in);
    if (rc == SQLITE_OK && !in) {
      if (odometer_step(cur)) {
        rc = cursor_seek_row(cur, 1);
      } else {
        cur->eof = 1;
      }
    }
  } else {
    rc = cursor_seek_row(cur, 0);
  }
  if (rc != SQLITE_OK) {
    cur->eof = 1;
    return rc;
  }
  if (!cur->eof) cur->n_returned++;
  return SQLITE_OK;
}

static int xEof(sqlite3_vtab_cursor *pCur) {
  return ((lsm_cursor *)pCur)->eof;
}

/* A row that cannot be decoded: corrupt, or no memory to decode it (then
** SQLite's own "out of memory" says it). */
static int cursor_corrupt(lsm_cursor *cur, int rc) {
  lsm_vtab *tab = (lsm_vtab *)cur->base.pVtab;
  if (rc != LSM_NOMEM) {
    sqlite3_free(tab->base.zErrMsg);
    tab->base.zErrMsg = sqlite3_mprintf("lsm: malformed row in table %s", tab->name);
  }
  return lsmx_rc_to_sqlite(rc);
}

/* Decode the key columns the statement uses (skip the others), once per
** row.  A one-column key (the common case) is decoded without the loop. */
HOT_INLINE int cursor_decode_key(lsm_cursor *cur) {
  lsm_vtab *tab = (lsm_vtab *)cur->base.pVtab;
  const unsigned char *p = cur->kp, *end = cur->kp + cur->kn;
  int k, rc;
  if (cur->key_decoded) return LSM_OK;
  if (tab->n_key == 1 && (cur->wanted_keys & 1)) {
    rc = lsmx_key_decode(&p, end, &cur->keyv[0], &cur->key_scratch[0]);
    if (rc != LSM_OK) return rc;
    if (p != end) return LSM_CORRUPT;
    cur->key_decoded = 1;
    return LSM_OK;
  }
  for (k = 0; k < tab->n_key; k++) {
    if (k >= 64 || ((cur->wanted_keys >> k) & 1)) {
      rc = lsmx_key_decode(&p, end, &cur->keyv[k], &cur->key_scratch[k]);
      if (rc != LSM_OK) return rc;
    } else {
      size_t n = lsmx_key_skip(p, end);
      if (n == 0) return LSM_CORRUPT;
      p += n;
      cur->keyv[k].type = SQLITE_NULL;
    }
  }
  if (p != end) return LSM_CORRUPT;
  cur->key_decoded = 1;
  return LSM_OK;
}

HOT_INLINE int cursor_parse_row(lsm_cursor *cur) {
  int rc;
  if (cur->row_parsed) return LSM_OK;
  rc = lsmx_row_parse(&cur->row, cur->vp, cur->vn);
  if (rc != LSM_OK) return rc;
  cur->row_parsed = 1;
  return LSM_OK;
}

/* The integer key of a rowid table's current row. */
static int cursor_rowid(lsm_cursor *cur, sqlite3_int64 *out) {
  int rc = cursor_decode_key(cur);
  if (rc != LSM_OK) return rc;
  if (cur->keyv[0].type != SQLITE_INTEGER) return LSM_CORRUPT;
  *out = cur->keyv[0].i;
  return LSM_OK;
}

/* Hand SQLite one value of the current row.  A non-empty BLOB or TEXT, what
** scans return most, is set here directly, with the int-length calls (the
** 64-bit ones cost a little more per row); SQLite copies the bytes
** (SQLITE_TRANSIENT: they live only until the cursor moves, and SQLite may
** keep a result across rows). */
HOT_INLINE void column_result(sqlite3_context *ctx, const lsmx_value *v) {
  if (v->p != NULL && v->n > 0 && v->n <= INT_MAX) {
    if (v->type == SQLITE_BLOB) {
      sqlite3_result_blob(ctx, v->p, (int)v->n, SQLITE_TRANSIENT);
      return;
    }
    if (v->type == SQLITE_TEXT) {
      sqlite3_result_text(ctx, (const char *)v->p, (int)v->n, SQLITE_TRANSIENT);
      return;
    }
  }
  lsmx_value_result(ctx, v);
}

/* Key position k of the current row. */
static int key_column(lsm_cursor *cur, sqlite3_context *ctx, int k) {
  lsm_vtab *tab = (lsm_vtab *)cur->base.pVtab;
  lsmx_value v;
  int rc;
  if (k < 64 && !((cur->wanted_keys >> k) & 1)) {
    /* Not announced in colUsed: decode everything from now on. */
    cur->wanted_keys = ~(sqlite3_uint64)0;
    cur->key_decoded = 0;
  }
  rc = cursor_decode_key(cur);
  if (rc != LSM_OK) return cursor_corrupt(cur, rc);
  if (tab->orig_idx[k] >= 0) {
    /* A folded TEXT key: the row has the text as written. */
    rc = cursor_parse_row(cur);
    if (rc == LSM_OK) rc = lsmx_row_column(&cur->row, tab->orig_idx[k], &v);
    if (rc != LSM_OK) return cursor_corrupt(cur, rc);
    if (v.type == SQLITE_TEXT) {
      column_result(ctx, &v);
      return SQLITE_OK;
    }
  }
  if (tab->kind == KIND_KEYED) {
    /* The row header says which keys hold a REAL (3.0 encodes as 3); it
    ** is read even when no key is a number, to validate the row as the
    ** value columns would. */
    rc = cursor_parse_row(cur);
    if (rc != LSM_OK) return cursor_corrupt(cur, rc);
    if (((cur->row.real_mask >> k) & 1) && cur->keyv[k].type == SQLITE_INTEGER) {
      v = cur->keyv[k];
      v.type = SQLITE_FLOAT;
      v.r = (double)v.i;
      if ((cur->row.real_mask >> (NEGZERO_SHIFT + k)) & 1) v.r = -0.0;
      lsmx_value_result(ctx, &v);
      return SQLITE_OK;
    }
  }
  column_result(ctx, &cur->keyv[k]);
  return SQLITE_OK;
}

/* Non-key column j (index in the row value) of the current row.  With one
** column wanted it is read straight from the row; with several, the row is
** walked once and the values kept for the other xColumn calls. */
static int value_column(lsm_cursor *cur, sqlite3_context *ctx, int j) {
  lsm_vtab *tab = (lsm_vtab *)cur->base.pVtab;
  sqlite3_uint64 w = cur->wanted_cols;
  lsmx_value v;
  int rc = cursor_parse_row(cur);
  if (rc != LSM_OK) return cursor_corrupt(cur, rc);
  if (!((w >> (j < 63 ? j : 63)) & 1) || (w & (w - 1)) == 0) {
    /* Not announced in colUsed, or the only column wanted. */
    rc = lsmx_row_column(&cur->row, j, &v);
    if (rc != LSM_OK) return cursor_corrupt(cur, rc);
    column_result(ctx, &v);
    return SQLITE_OK;
  }
  if (!cur->cols_decoded) {
    rc = lsmx_row_columns(&cur->row, cur->cols, tab->n_nonkey, w);
    if (rc != LSM_OK) return cursor_corrupt(cur, rc);
    cur->cols_decoded = 1;
  }
  column_result(ctx, &cur->cols[j]);
  return SQLITE_OK;
}

static int xColumn(sqlite3_vtab_cursor *pCur, sqlite3_context *ctx, int i) {
  lsm_cursor *cur = (lsm_cursor *)pCur;
  lsm_vtab *tab = (lsm_vtab *)pCur->pVtab;
  int k;

  if (cur->eof) return SQLITE_OK;
  if (i < 0 || i >= tab->def.n_cols) {
    if (i == tab->hkey_col && i >= 0) {
      sqlite3_result_blob(ctx, cur->kp, (int)cur->kn, SQLITE_TRANSIENT);
    }
    return SQLITE_OK;                                    /* command: NULL */
  }
  k = tab->key_pos[i];
  if (k >= 0) return key_column(cur, ctx, k);
  return value_column(cur, ctx, tab->nonkey_idx[i]);
}

static int xRowid(sqlite3_vtab_cursor *pCur, sqlite3_int64 *pRowid) {
  lsm_cursor *cur = (lsm_cursor *)pCur;
  int rc;
  *pRowid = 0;
  if (cur->eof) return SQLITE_OK;
  rc = cursor_rowid(cur, pRowid);
  if (rc != LSM_OK) return cursor_corrupt(cur, rc);
  return SQLITE_OK;
}

/* ------------------------------------------------------------------ */
/* Writes. */

static int get_batch(lsm_batch **b) {
  if (*b) return LSM_OK;
  return lsm_batch_new(b);
}

/* Does `key` exist, as the transaction sees it?  *exists set; LSM_* rc. */
static int key_exists(lsm_vtab *tab, const lsm_buffer *key, int *exists) {
  int rc;
  *exists = 0;
  if (tab->batch && lsm_batch_count(tab->batch) > 0) {
    int deleted = 0;
    rc = lsm_batch_get(tab->batch, key->data, key->len, &deleted, NULL);
    if (rc == LSM_OK) { *exists = !deleted; return LSM_OK; }
    if (rc != LSM_NOTFOUND) return rc;
  }
  rc = lsm_get(tab->lsm, NULL, key->data, key->len, NULL);
  if (rc == LSM_OK) { *exists = 1; return LSM_OK; }
  return rc == LSM_NOTFOUND ? LSM_OK : rc;
}

/* The rowid SQLite would assign: the largest rowid + 1 (1 for an empty
** table), as the transaction sees it; once the largest is INT64_MAX, random
** unused positive rowids (SQLITE_FULL after 100 collisions), as SQLite
** does.  The largest is cached for the transaction (the write lock keeps
** other connections out); deletes and rollbacks drop the cache. */
static int next_rowid(lsm_vtab *tab, sqlite3_int64 *out) {
  lsm_iter *it = NULL;
  int rc, tries;
  if (!tab->have_next_rowid) {
    rc = lsm_iter_new(tab->lsm, NULL, txn_overlay(tab), &it);
    if (rc == LSM_OK) rc = lsm_iter_last(it);
    if (rc == LSM_OK) rc = lsm_iter_status(it);
    if (rc != LSM_OK) {
      rc = vtab_fail_iter(tab, rc, it);
      lsm_iter_free(it);
      return rc;
    }
    tab->next_rowid = 1;
    tab->rowid_at_max = 0;
    if (lsm_iter_valid(it)) {
      size_t nk;
      const unsigned char *k = lsm_iter_key(it, &nk);
      lsmx_value v;
      rc = lsmx_key_decode(&k, k + nk, &v, &tab->probe);
      if (rc != LSM_OK || v.type != SQLITE_INTEGER) {
        /* Rowid keys only ever hold integers. */
        lsm_iter_free(it);
        return vtab_fail(tab, rc != LSM_OK ? rc : LSM_CORRUPT, 0);
      }
      if (v.i == INT64_MAX) tab->rowid_at_max = 1;
      else tab->next_rowid = v.i + 1;
    }
    lsm_iter_free(it);
    tab->have_next_rowid = 1;
  }
  if (!tab->rowid_at_max) {
    *out = tab->next_rowid;
    return SQLITE_OK;
  }
  for (tries = 0; tries < 100; tries++) {
    sqlite3_int64 r;
    int exists = 0;
    sqlite3_randomness(sizeof(r), &r);
    r = (r & (INT64_MAX >> 1)) + 1;
    tab->probe.len = 0;
    rc = lsmx_key_append_int(&tab->probe, r);
    if (rc == LSM_OK) rc = key_exists(tab, &tab->probe, &exists);
    if (rc != LSM_OK) return vtab_fail(tab, rc, 1);
    if (!exists) {
      *out = r;
      return SQLITE_OK;
    }
  }
  return vtab_error(tab, SQLITE_FULL, "database or disk is full");
}

static int not_null_error(lsm_vtab *tab, const char *col) {
  sqlite3_free(tab->base.zErrMsg);
  tab->base.zErrMsg = sqlite3_mprintf("NOT NULL constraint failed: %s.%s",
                                      tab->name, col);
  return SQLITE_CONSTRAINT_NOTNULL;
}

/* "UNIQUE constraint failed: t.a, t.b" — the key columns, as SQLite names
** them for a native table. */
static int unique_error(lsm_vtab *tab) {
  sqlite3_str *s = sqlite3_str_new(NULL);
  int p;
  sqlite3_str_appendall(s, "UNIQUE constraint failed: ");
  for (p = 0; p < tab->n_key; p++) {
    int c = tab->key_cols[p];
    if (p) sqlite3_str_appendall(s, ", ");
    sqlite3_str_appendf(s, "%s.%s", tab->name,
                        c < 0 ? "rowid" : tab->def.cols[c].name);
  }
  sqlite3_free(tab->base.zErrMsg);
  tab->base.zErrMsg = sqlite3_str_finish(s);
  return tab->kind == KIND_ROWID ? SQLITE_CONSTRAINT_ROWID
                                 : SQLITE_CONSTRAINT_PRIMARYKEY;
}

static void free_holders(lsm_vtab *tab, int n) {
  int i;
  for (i = 0; i < n; i++) {
    sqlite3_value_free(tab->holders[i]);
    tab->holders[i] = NULL;
  }
}

/* The key of the row an UPDATE or DELETE names in argv[0]: the rowid, the
** key column's value (a value this module produced), or the hidden
** column's encoded key. */
static int old_key_from(lsm_vtab *tab, sqlite3_value *v, lsm_buffer *out) {
  int is_null = 0, rc;
  out->len = 0;
  if (is_rowid_kind(tab)) {
    return lsmx_key_append_int(out, sqlite3_value_int64(v));
  }
  if (tab->hkey_col >= 0) {
    const unsigned char *p = sqlite3_value_blob(v);
    size_t n = (size_t)sqlite3_value_bytes(v);
    if (sqlite3_value_type(v) != SQLITE_BLOB) return LSM_CORRUPT;
    if (p == NULL && n > 0) return LSM_NOMEM;
    return buf_set(out, p, n);
  }
  rc = append_key_arg(tab, 0, v, out, &is_null, 0);
  return rc;
}

/* Take the table's write lock for this transaction.  Busy: wait up to the
** connection's busy timeout (read with PRAGMA busy_timeout, as SQLite has
** no getter for it). */
static int take_write_lock(lsm_vtab *tab) {
  int rc, timeout = 0, by_process = 0;
  if (tab->have_lock) return SQLITE_OK;
  rc = lsmx_engine_lock_write(tab->eng, tab, 0, &by_process);
  if (rc == SQLITE_BUSY) {
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(tab->db, "PRAGMA busy_timeout", -1, &st, NULL) ==
            SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW) {
      timeout = sqlite3_column_int(st, 0);
    }
    sqlite3_finalize(st);
    if (timeout > 0) rc = lsmx_engine_lock_write(tab->eng, tab, timeout, &by_process);
  }
  if (rc == SQLITE_BUSY) {
    char *m = sqlite3_mprintf("lsm: table %s is locked by another %s", tab->name,
                              by_process ? "process" : "connection");
    rc = vtab_error(tab, SQLITE_BUSY, m ? m : "lsm: table is locked");
    sqlite3_free(m);
    return rc;
  }
  if (rc != SQLITE_OK) {
    /* lsm_write_begin failed catching up: the engine says why. */
    const char *m = tab->lsm ? lsm_errmsg(tab->lsm) : "";
    return vtab_error(tab, rc, m && m[0] ? m : "lsm: cannot take the write lock");
  }
  tab->have_lock = 1;
  return SQLITE_OK;
}

/* INSERT INTO t(t) VALUES('command'). */
static int run_command(lsm_vtab *tab, sqlite3_value *cmd) {
  const char *c = (const char *)sqlite3_value_text(cmd);
  int rc;
  if (!c && sqlite3_value_type(cmd) != SQLITE_NULL) return SQLITE_NOMEM;
  if (!c) c = "";
  if (sqlite3_stricmp(c, "flush") == 0) {
    rc = lsm_flush(tab->lsm);
  } else if (sqlite3_stricmp(c, "compact") == 0) {
    rc = lsm_compact(tab->lsm);
  } else if (sqlite3_stricmp(c, "integrity-check") == 0) {
    rc = lsm_check(tab->lsm);
  } else {
    char *m = sqlite3_mprintf("lsm: unknown command '%s' for table %s "
                              "(flush, compact, integrity-check)", c,
                              tab->name);
    rc = vtab_error(tab, SQLITE_ERROR, m ? m : "lsm: unknown command");
    sqlite3_free(m);
    return rc;
  }
  return rc == LSM_OK ? SQLITE_OK : vtab_fail(tab, rc, 1);
}

/* The new key of a rowid table's INSERT / UPDATE, as SQLite computes a
** rowid: NULL on INSERT takes the next one; anything that is not an
** integer after NUMERIC affinity is a datatype mismatch.  For an INTEGER
** PRIMARY KEY the column and the rowid are one value: a changed column
** wins over argv[1]. */
static int new_rowid(lsm_vtab *tab, int is_insert, sqlite3_value **argv,
                     sqlite3_int64 *out) {
  sqlite3_value *v = argv[1];
  sqlite3_int64 old = is_insert ? 0 : sqlite3_value_int64(argv[0]);
  if (tab->kind == KIND_IPK) {
    sqlite3_value *col = argv[2 + tab->key_cols[0]];
    if (is_insert) {
      if (sqlite3_value_type(col) != SQLITE_NULL) v = col;
    } else {
      sqlite3_int64 c;
      if (!lsmx_value_to_rowid(col, &c)) {
        return vtab_error(tab, SQLITE_MISMATCH, "datatype mismatch");
      }
      if (c != old) v = col;
    }
  }
  if (sqlite3_value_type(v) == SQLITE_NULL) {
    if (!is_insert) {
      return vtab_error(tab, SQLITE_MISMATCH, "datatype mismatch");
    }
    return next_rowid(tab, out);
  }
  if (!lsmx_value_to_rowid(v, out)) {
    return vtab_error(tab, SQLITE_MISMATCH, "datatype mismatch");
  }
  return SQLITE_OK;
}

/* INSERT: argv[0] NULL.  UPDATE: argv[0] the old key.  argv[1] the new
** rowid (rowid tables) or key (NULL on INSERT into WITHOUT ROWID tables);
** argv[2..] the columns.  DELETE: argc == 1, argv[0] the key.
** Constraint failures return SQLITE_CONSTRAINT (SQLITE_VTAB_CONSTRAINT_
** SUPPORT): SQLite then applies the statement's conflict mode (IGNORE
** skips the row, FAIL keeps the statement's earlier rows, ABORT rolls the
** statement back to its savepoint, ROLLBACK the transaction). */
static int xUpdate(sqlite3_vtab *pVtab, int argc, sqlite3_value **argv,
                   sqlite3_int64 *pRowid) {
  lsm_vtab *tab = (lsm_vtab *)pVtab;
  int n_held = 0, rc = SQLITE_OK, lrc, i;
  int is_insert, key_changed = 1, exists = 0, mode;
  sqlite3_uint64 real_mask = 0;
  sqlite3_int64 rowid = 0;

  /* SQLite sets last_insert_rowid() from *pRowid after an INSERT: only a
  ** rowid table's insert changes it, as natively. */
  *pRowid = sqlite3_last_insert_rowid(tab->db);
  rc = ensure_open(tab);
  if (rc != SQLITE_OK) return rc;
  if (tab->spare_iter) {
    /* Writes (and commands: a flush or compaction must be free to drop
    ** the files it replaces) do not keep a read's sources alive. */
    lsm_iter_free(tab->spare_iter);
    tab->spare_iter = NULL;
  }

  if (argc > 1 && sqlite3_value_type(argv[0]) == SQLITE_NULL &&
      tab->cmd_col >= 0 &&
      sqlite3_value_type(argv[2 + tab->cmd_col]) != SQLITE_NULL) {
    return run_command(tab, argv[2 + tab->cmd_col]);
  }
  rc = take_write_lock(tab);
  if (rc != SQLITE_OK) return rc;
  lrc = get_batch(&tab->batch);
  if (lrc != LSM_OK) return vtab_fail(tab, lrc, 0);

  if (argc == 1) {
    lrc = old_key_from(tab, argv[0], &tab->old_key);
    if (lrc == LSM_OK) {
      lrc = lsm_batch_delete(tab->batch, tab->old_key.data, tab->old_key.len);
    }
    if (lrc != LSM_OK) return vtab_fail(tab, lrc, 0);
    if (is_rowid_kind(tab) && tab->have_next_rowid &&
        (tab->rowid_at_max ||
         sqlite3_value_int64(argv[0]) == tab->next_rowid - 1)) {
      tab->have_next_rowid = 0;      /* the largest rowid went */
    }
    return SQLITE_OK;
  }
  if (argc != 2 + tab->def.n_cols + (tab->cmd_col >= 0) + (tab->hkey_col >= 0)) {
    return vtab_error(tab, SQLITE_ERROR, "lsm: unexpected xUpdate arguments");
  }
  is_insert = sqlite3_value_type(argv[0]) == SQLITE_NULL;
  mode = sqlite3_vtab_on_conflict(tab->db);

  /* 1. A rowid table's key first: SQLite computes the rowid (and fails
  ** with a datatype mismatch) before checking any constraint. */
  if (is_rowid_kind(tab)) {
    rc = new_rowid(tab, is_insert, argv, &rowid);
    if (rc != SQLITE_OK) goto done;
    tab->kvals[0].type = SQLITE_INTEGER;
    tab->kvals[0].i = rowid;
  }

  /* 2. Every column after affinity, NOT NULL checked in column order (key
  ** columns of a WITHOUT ROWID table are NOT NULL), as SQLite does. */
  for (i = 0; i < tab->def.n_cols; i++) {
    int j = tab->nonkey_idx[i], k = tab->key_pos[i];
    lsmx_value *v;
    if (j < 0 && tab->kind != KIND_KEYED) continue;   /* the rowid */
    v = j >= 0 ? &tab->vals[j] : &tab->kvals[k];
    lrc = lsmx_affinity_apply(argv[2 + i], j >= 0 ? tab->def.cols[i].affinity
                                                  : tab->key_aff[k],
                              v, &tab->holders[n_held++]);
    if (lrc != LSM_OK) { rc = vtab_fail(tab, lrc, 0); goto done; }
    if (v->type == SQLITE_NULL && (j < 0 || tab->def.cols[i].not_null)) {
      if (mode == SQLITE_IGNORE) { rc = SQLITE_CONSTRAINT; goto done; }
      rc = not_null_error(tab, tab->def.cols[i].name);
      goto done;
    }
    if (j < 0 && v->type == SQLITE_FLOAT) {
      real_mask |= (sqlite3_uint64)1 << k;
      if (v->r == 0.0 && signbit(v->r)) {
        real_mask |= (sqlite3_uint64)1 << (NEGZERO_SHIFT + k);
      }
    }
  }

  /* 3. The new key, and whether it moves. */
  tab->key.len = 0;
  for (i = 0; i < tab->n_key; i++) {
    lrc = append_key_value(tab, i, &tab->kvals[i], &tab->key);
    if (lrc != LSM_OK) { rc = vtab_fail(tab, lrc, 0); goto done; }
    if (tab->orig_idx[i] >= 0) {
      /* The original text of a NOCASE / RTRIM key (the key is folded). */
      lsmx_value *o = &tab->vals[tab->orig_idx[i]];
      if (tab->kvals[i].type == SQLITE_TEXT) {
        *o = tab->kvals[i];
      } else {
        memset(o, 0, sizeof *o);
        o->type = SQLITE_NULL;
      }
    }
  }
  if (!is_insert) {
    lrc = old_key_from(tab, argv[0], &tab->old_key);
    if (lrc != LSM_OK) { rc = vtab_fail(tab, lrc, 0); goto done; }
    key_changed = key_cmp(tab->old_key.data, tab->old_key.len, tab->key.data,
                          tab->key.len) != 0;
    if (tab->replaced && lsm_batch_count(tab->replaced) > 0) {
      int deleted = 0;
      lrc = lsm_batch_get(tab->replaced, tab->old_key.data, tab->old_key.len,
                          &deleted, NULL);
      if (lrc == LSM_OK) {
        char *m = sqlite3_mprintf("lsm: UPDATE OR REPLACE on table %s moved a "
                                  "row onto a row it updates later; such "
                                  "cascades are not supported", tab->name);
        rc = vtab_error(tab, SQLITE_ERROR, m ? m : "lsm: unsupported cascade");
        sqlite3_free(m);
        goto done;
      }
    }
  }
  /* INSERT OR REPLACE is a blind write: whether the key exists changes
  ** nothing (the put overwrites it), so it costs no lookup. */
  if (key_changed && !(is_insert && mode == SQLITE_REPLACE)) {
    lrc = key_exists(tab, &tab->key, &exists);
    if (lrc != LSM_OK) { rc = vtab_fail(tab, lrc, 1); goto done; }
    if (exists) {
      if (mode == SQLITE_IGNORE) { rc = SQLITE_CONSTRAINT; goto done; }
      if (mode != SQLITE_REPLACE) { rc = unique_error(tab); goto done; }
      /* REPLACE: the put below overwrites the existing row. */
      if (!is_insert) {
        lrc = get_batch(&tab->replaced);
        if (lrc == LSM_OK) {
          lrc = lsm_batch_put(tab->replaced, tab->key.data, tab->key.len, "", 0);
        }
        if (lrc != LSM_OK) { rc = vtab_fail(tab, lrc, 0); goto done; }
      }
    }
  }

  /* 4. Write. */
  lrc = lsmx_row_encode(&tab->row, real_mask, tab->vals, tab->n_row_cols);
  if (lrc == LSM_OK && !is_insert && key_changed) {
    lrc = lsm_batch_delete(tab->batch, tab->old_key.data, tab->old_key.len);
    tab->have_next_rowid = 0;
  }
  if (lrc == LSM_OK) {
    lrc = lsm_batch_put(tab->batch, tab->key.data, tab->key.len,
                        tab->row.data, tab->row.len);
  }
  if (lrc != LSM_OK) { rc = vtab_fail(tab, lrc, 0); goto done; }
  if (is_rowid_kind(tab)) {
    if (is_insert) *pRowid = rowid;
    if (tab->have_next_rowid && !tab->rowid_at_max && rowid >= tab->next_rowid) {
      if (rowid == INT64_MAX) tab->rowid_at_max = 1;
      else tab->next_rowid = rowid + 1;
    }
  }

done:
  free_holders(tab, n_held);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Transactions. */

static void statement_boundary(lsm_vtab *tab) {
  if (tab->replaced) lsm_batch_clear(tab->replaced);
}

static void txn_reset(lsm_vtab *tab) {
  if (tab->batch) lsm_batch_clear(tab->batch);
  statement_boundary(tab);
  tab->n_marks = 0;
  tab->written = 0;
  tab->have_next_rowid = 0;
  if (tab->have_lock && tab->eng) lsmx_engine_unlock_write(tab->eng, tab);
  tab->have_lock = 0;
}

static int xBegin(sqlite3_vtab *pVtab) {
  lsm_vtab *tab = (lsm_vtab *)pVtab;
  txn_reset(tab);
  tab->in_txn = 1;
  return SQLITE_OK;
}

/* The commit itself: one lsm_write() of the whole transaction.  Done in
** xSync because an error there still fails the COMMIT (SQLite ignores
** errors from xCommit). */
static int xSync(sqlite3_vtab *pVtab) {
  lsm_vtab *tab = (lsm_vtab *)pVtab;
  int rc;
  if (tab->written || !tab->batch || lsm_batch_count(tab->batch) == 0) {
    tab->written = 1;
    return SQLITE_OK;
  }
  rc = ensure_open(tab);
  if (rc != SQLITE_OK) return rc;
  rc = lsm_write(tab->lsm, tab->batch, tab->opts.sync_mode == LSM_SYNC_FULL);
  if (rc != LSM_OK) return vtab_fail(tab, rc, 1);
  tab->written = 1;
  return SQLITE_OK;
}

static int xCommit(sqlite3_vtab *pVtab) {
  lsm_vtab *tab = (lsm_vtab *)pVtab;
  int rc = SQLITE_OK;
  if (!tab->written) rc = xSync(pVtab);   /* SQLite always syncs first */
  txn_reset(tab);
  tab->in_txn = 0;
  return rc;
}

static int xRollback(sqlite3_vtab *pVtab) {
  lsm_vtab *tab = (lsm_vtab *)pVtab;
  txn_reset(tab);
  tab->in_txn = 0;
  return SQLITE_OK;
}

/* Savepoint level N starts at marks[N].  Levels SQLite opened before this
** table joined the transaction start where the table's writes start (the
** batch is empty at xBegin, mark 0).  Level -1 is the transaction itself:
** SQLite rolls back to it for ROLLBACK TO of a SAVEPOINT that opened the
** transaction, which must undo everything but keep the transaction open. */
static int xSavepoint(sqlite3_vtab *pVtab, int iSavepoint) {
  lsm_vtab *tab = (lsm_vtab *)pVtab;
  uint64_t mark = tab->batch ? lsm_batch_mark(tab->batch) : 0;
  statement_boundary(tab);
  if (iSavepoint < 0) return SQLITE_OK;
  if (iSavepoint >= tab->cap_marks) {
    int cap = tab->cap_marks ? tab->cap_marks * 2 : 8;
    uint64_t *m;
    while (cap <= iSavepoint) cap *= 2;
    m = sqlite3_realloc64(tab->marks, sizeof(uint64_t) * (sqlite3_uint64)cap);
    if (!m) return SQLITE_NOMEM;
    tab->marks = m;
    tab->cap_marks = cap;
  }
  while (tab->n_marks < iSavepoint) tab->marks[tab->n_marks++] = 0;
  tab->marks[iSavepoint] = mark;
  tab->n_marks = iSavepoint + 1;
  return SQLITE_OK;
}

static int xRelease(sqlite3_vtab *pVtab, int iSavepoint) {
  lsm_vtab *tab = (lsm_vtab *)pVtab;
  statement_boundary(tab);
  if (iSavepoint < 0) tab->n_marks = 0;
  else if (iSavepoint < tab->n_marks) tab->n_marks = iSavepoint;
  return SQLITE_OK;
}

static int xRollbackTo(sqlite3_vtab *pVtab, int iSavepoint) {
  lsm_vtab *tab = (lsm_vtab *)pVtab;
  uint64_t mark;
  int rc;
  statement_boundary(tab);
  if (iSavepoint >= tab->n_marks || !tab->batch) return SQLITE_OK;
  mark = iSavepoint < 0 ? 0 : tab->marks[iSavepoint];
  rc = lsm_batch_rollback_to(tab->batch, mark);
  if (rc != LSM_OK) return vtab_fail(tab, rc, 0);
  /* The savepoint itself stays open. */
  tab->n_marks = iSavepoint < 0 ? 0 : iSavepoint + 1;
  tab->have_next_rowid = 0;
  tab->written = 0;
  return SQLITE_OK;
}

/* ------------------------------------------------------------------ */

static sqlite3_module lsm_module = {
  2,              /* iVersion: savepoints */
  xCreate,
  xConnect,
  xBestIndex,
  xDisconnect,
  xDestroy,
  xOpen,
  xClose,
  xFilter,
  xNext,
  xEof,
  xColumn,
  xRowid,
  xUpdate,
  xBegin,
  xSync,
  xCommit,
  xRollback,
  NULL,           /* xFindFunction */
  xRename,
  xSavepoint,
  xRelease,
  xRollbackTo,
  NULL,           /* xShadowName (v3) */
#if SQLITE_VERSION_NUMBER >= 3044000
  NULL,           /* xIntegrity (v4) */
#endif
};

/* lsm_stats('t', 'schema'): find table (schema, name) among this
** connection's connected lsm tables; connect it first if it exists but is
** not connected yet. */
static lsm_vtab *find_table(lsm_conn *conn, const char *schema,
                            const char *name) {
  lsm_vtab *t;
  for (t = conn->tabs; t; t = t->next_in_conn) {
    if (sqlite3_stricmp(t->name, name) == 0 &&
        sqlite3_stricmp(t->schema, schema) == 0) {
      return t;
    }
  }
  return NULL;
}

static int stats_lookup(void *ctx, sqlite3 *db, const char *schema,
                        const char *table, lsm_db **out, char **errmsg) {
  lsm_conn *conn = (lsm_conn *)ctx;
  lsm_vtab *t;
  if (!schema) schema = "main";
  t = find_table(conn, schema, table);
  if (!t) {
    /* Preparing a statement on the table connects it. */
    char *sql = sqlite3_mprintf("SELECT 1 FROM \"%w\".\"%w\" LIMIT 0", schema,
                                table);
    sqlite3_stmt *st = NULL;
    if (!sql) return SQLITE_NOMEM;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
      t = find_table(conn, schema, table);
    }
    sqlite3_finalize(st);
    sqlite3_free(sql);
  }
  if (!t) {
    *errmsg = sqlite3_mprintf("lsm_stats: no lsm table %s.%s", schema, table);
    return SQLITE_ERROR;
  }
  if (!t->lsm) {
    int rc = ensure_open(t);
    if (rc != SQLITE_OK) {
      *errmsg = sqlite3_mprintf("%s", t->base.zErrMsg ? t->base.zErrMsg
                                                      : "lsm: cannot open");
      return rc;
    }
  }
  *out = t->lsm;
  return SQLITE_OK;
}

/* SELECT lsm_allow_any_dir(flag): let this connection's lsm tables use a
** dir= outside the database file's directory (see dir_is_confined).
** Returns the previous setting.  SQLITE_DIRECTONLY: a schema (trigger,
** view) cannot call it, only the application. */
static void allow_any_dir_func(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  lsm_conn *conn = sqlite3_user_data(ctx);
  int prev = conn->allow_any_dir;
  (void)argc;
  conn->allow_any_dir = sqlite3_value_int(argv[0]) != 0;
  sqlite3_result_int(ctx, prev);
}

#ifdef _WIN32
__declspec(dllexport)
#else
__attribute__((visibility("default")))
#endif
int sqlite3_lsmvtab_init(sqlite3 *db, char **pzErrMsg,
                         const sqlite3_api_routines *pApi) {
  lsm_conn *conn;
  int rc;
  SQLITE_EXTENSION_INIT2(pApi);
  (void)pzErrMsg;
  conn = sqlite3_malloc(sizeof(*conn));
  if (!conn) return SQLITE_NOMEM;
  memset(conn, 0, sizeof(*conn));
  /* SQLite frees conn (sqlite3_free) when the module goes: when the
  ** connection closes, after every table has been disconnected. */
  conn->limit_ok = lsmx_limit_pushdown_safe(db);
  rc = sqlite3_create_module_v2(db, "lsm", &lsm_module, conn, sqlite3_free);
  if (rc == SQLITE_OK) rc = lsmx_stats_register(db, stats_lookup, conn);
  if (rc == SQLITE_OK) {
    rc = sqlite3_create_function(db, "lsm_allow_any_dir", 1,
                                 SQLITE_UTF8 | SQLITE_DIRECTONLY, conn,
                                 allow_any_dir_func, NULL, NULL);
  }
  return rc;
}
