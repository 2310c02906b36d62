/*
** lsm_vtab.c — the SQLite virtual table module "lsm": tables stored in an
** lsm engine database (lsm/lsm.h), one engine directory per table.
**
**   .load ./lsm_vtab
**   CREATE VIRTUAL TABLE kv USING lsm(k TEXT PRIMARY KEY, v TEXT,
**                                     memtable_size=65536, sync=full);
**
** Mapping of a table onto the engine
**  - Engine key: the PRIMARY KEY column encoded by ext/key.h, whose memcmp
**    order is SQLite's order of the values (BINARY collation).  A table
**    without PRIMARY KEY is a rowid table and its key is the encoded rowid.
**    Only a single-column key is supported yet (SQLite can only write to a
**    WITHOUT ROWID virtual table through a single-column key anyway).
**  - Engine value: the non-key columns encoded by ext/row.h (which also
**    records whether the key value was a REAL, so 3.0 reads back as 3.0).
**  - Column affinity: SQLite hands xUpdate and xFilter the raw values, so
**    this module applies each column's affinity itself before encoding,
**    which makes stored values, key lookups and key ranges behave like a
**    native WITHOUT ROWID table.
**
** Where the data lives
**    dir='path'       relative to the database file's directory
**    default          <database file>-lsm/<table name>
**    :memory:/temp    a private mkdtemp() directory, removed on disconnect
**
** Transactions
**    Every write of a connection goes into that table's lsm_batch (created
**    lazily), which is the transaction: reads inside it lay the batch over
**    the committed data (lsm_iter_new overlay / lsm_batch_get), savepoints
**    are batch marks, xSync commits the batch with one lsm_write() (so an
**    engine error there still fails the COMMIT), xRollback discards it.
**    The engine never sees a partial transaction.
**
** Invariant for cursors: the engine forbids changing a batch while an
** iterator lays it over the data.  Every cursor keeps a private copy of its
** current key and value, and before any change to the batch the table frees
** the iterators of its cursors that use the batch (invalidate_overlays); such
** a cursor re-seeks past its copied key on its next move.
**
** One engine instance per directory per process: a second connection that
** opens the same table gets SQLITE_BUSY ("lsm: table kv is in use by another
** connection").
**
** Known differences from a native table (for now)
**  - A table with a PRIMARY KEY behaves as a native WITHOUT ROWID table, so
**    an INTEGER PRIMARY KEY is not a rowid alias (NULL is rejected).
**  - Composite keys and non-BINARY key collations are refused at CREATE.
**  - A read statement outside a transaction sees the table as of its
**    xFilter (a snapshot), not rows committed while it is stepping.
**  - UPDATE OR REPLACE that moves keys onto keys the same statement moves
**    later: SQLite hands a virtual table the old rows it collected before
**    the first change, so cascades differ from a native table.
**  - Several tables written in one transaction commit one after the other
**    in xSync; DROP TABLE removes the data at once, even if the transaction
**    that dropped it rolls back.
*/
#include "sqlite3ext.h"
SQLITE_EXTENSION_INIT1

#include <errno.h>
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

/* xBestIndex plans, encoded in idxNum. */
#define IDX_POINT    0x01  /* key = ?1 */
#define IDX_LO       0x02  /* lower bound on the key is an argument */
#define IDX_LO_INCL  0x04  /* ... and it is inclusive (>=) */
#define IDX_HI       0x08  /* upper bound on the key is an argument */
#define IDX_HI_INCL  0x10  /* ... and it is inclusive (<=) */
#define IDX_DESC     0x20  /* scan in descending key order */

/* Rough cost model: a scan costs one unit per row of a table guessed at a
** million rows; a bounded range a fraction of that; a point lookup ~10. */
#define EST_ROWS     1000000.0

/* Parent directories created on the way to a table directory, so a failed
** CREATE can remove exactly what it created. */
#define MAX_CREATED_DIRS 32

typedef struct lsm_vtab lsm_vtab;
typedef struct lsm_cursor lsm_cursor;

struct lsm_vtab {
  sqlite3_vtab base;           /* must be first */
  sqlite3 *db;
  char *name;                  /* table name, as in messages */
  char *schema;                /* "main", "temp", attached name */
  lsmx_table_def def;
  int key_col;                 /* column of the key; -1 for the rowid */
  char key_aff;                /* affinity applied to key values */
  int key_is_int;              /* rowid table: keys must be integers, NULL
                                  assigns max+1 */
  int n_nonkey;                /* columns stored in the row value */
  int *nonkey_idx;             /* column -> index in the row value, -1: key */
  char *dir;                   /* the engine directory */
  int dir_is_default;          /* <db>-lsm/<name>: follows RENAME */
  int dir_is_temp;             /* private directory, removed on disconnect */
  lsm_options opts;
  lsm_db *lsm;                 /* NULL when the directory was missing at
                                  connect or a RENAME failed: reopened on
                                  first use (ensure_open) */

  /* Transaction state. */
  lsm_batch *batch;            /* pending writes; NULL until the first */
  int in_txn;                  /* between xBegin and xCommit/xRollback */
  int written;                 /* xSync already applied the batch */
  uint64_t *marks;             /* batch mark of each savepoint level */
  int n_marks, cap_marks;
  int have_next_rowid;         /* next_rowid valid for this transaction */
  int rowid_at_max;            /* the largest rowid is INT64_MAX */
  sqlite3_int64 next_rowid;

  lsm_cursor *cursors;         /* open cursors (for invalidate_overlays) */

  /* Scratch reused by xUpdate. */
  lsm_buffer key, old_key, row, probe;
  sqlite3_value **holders;     /* converted copies of argv values */
  lsmx_value *vals;            /* non-key column values being encoded */
};

struct lsm_cursor {
  sqlite3_vtab_cursor base;    /* must be first */
  lsm_cursor *next_open;
  lsm_iter *it;                /* NULL for point lookups, or after the batch
                                  it overlays changed (then reseek) */
  int uses_overlay;            /* it was built with the batch as overlay */
  int reseek;                  /* it was dropped; re-seek past key */
  int point, desc, eof;
  int has_lo, lo_incl, has_hi, hi_incl;
  lsm_buffer lo, hi;           /* encoded bounds (point: lo is the key) */
  lsm_buffer key, val;         /* copy of the current entry */
  /* Lazily decoded parts of the current entry. */
  int key_decoded;
  lsmx_value keyv;
  lsm_buffer key_scratch;
  int row_parsed;
  lsmx_row row;
  int cols_decoded;
  lsmx_value *cols;            /* n_nonkey values, borrowed from val */
};

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

/* Record an engine failure in the vtab's error message and map the code.
** from_db: the failure came from a call on tab->lsm, so lsm_errmsg() has
** the details. */
static int vtab_fail(lsm_vtab *tab, int rc, int from_db) {
  const char *m = (from_db && tab->lsm) ? lsm_errmsg(tab->lsm) : "";
  sqlite3_free(tab->base.zErrMsg);
  if (m && m[0]) {
    tab->base.zErrMsg = sqlite3_mprintf("%s", m);
  } else {
    tab->base.zErrMsg = sqlite3_mprintf("lsm: %s (table %s)", lsm_rc_text(rc),
                                        tab->name);
  }
  return lsmx_rc_to_sqlite(rc);
}

static int vtab_error(lsm_vtab *tab, int sqlite_rc, const char *msg) {
  sqlite3_free(tab->base.zErrMsg);
  tab->base.zErrMsg = sqlite3_mprintf("%s", msg);
  return sqlite_rc;
}

/* ------------------------------------------------------------------ */
/* Affinity.  SQLite's rules (datatype3.html): TEXT turns numbers into
** their text; NUMERIC/INTEGER turn text that is a well-formed number into
** that number and reals that are exact integers into integers; REAL is
** NUMERIC that then keeps integers as reals; BLOB/none leaves values alone.
** The result may point into a converted copy returned in *holder, which the
** caller frees with sqlite3_value_free() after using the result.
**
** REAL affinity turns integers into reals for keys and comparison bounds
** too: a native REAL PRIMARY KEY does the same (2^63-1 and 2^63 collide),
** and a key read back through xColumn must encode to the same bytes for
** UPDATE and DELETE to find it. */

/* SQLite's test for a real that NUMERIC affinity stores as an integer. */
static int real_is_int(double r, sqlite3_int64 *out) {
  sqlite3_int64 ix;
  if (!(r > -9223372036854775808.0 && r < 9223372036854775808.0)) return 0;
  ix = (sqlite3_int64)r;
  if ((double)ix != r || ix == INT64_MIN || ix == INT64_MAX) return 0;
  *out = ix;
  return 1;
}

static int value_with_affinity(sqlite3_value *in, char aff, lsmx_value *out,
                               sqlite3_value **holder) {
  int t = sqlite3_value_type(in);
  *holder = NULL;
  lsmx_value_from_sqlite(out, in);
  switch (aff) {
    case 'B': /* TEXT */
      if (t == SQLITE_INTEGER || t == SQLITE_FLOAT) {
        sqlite3_value *d = sqlite3_value_dup(in);
        const unsigned char *z;
        if (!d) return LSM_NOMEM;
        z = sqlite3_value_text(d);       /* SQLite's own number -> text */
        if (!z) { sqlite3_value_free(d); return LSM_NOMEM; }
        out->type = SQLITE_TEXT;
        out->p = z;
        out->n = (size_t)sqlite3_value_bytes(d);
        *holder = d;
      }
      break;
    case 'C': /* NUMERIC */
    case 'D': /* INTEGER */
    case 'E': /* REAL */
      if (t == SQLITE_TEXT) {
        sqlite3_value *d = sqlite3_value_dup(in);
        if (!d) return LSM_NOMEM;
        if (sqlite3_value_numeric_type(d) != SQLITE_TEXT) {
          lsmx_value_from_sqlite(out, d);
          *holder = d;
        } else {
          sqlite3_value_free(d);
        }
      }
      if (out->type == SQLITE_FLOAT && aff != 'E') {
        sqlite3_int64 ix;
        if (real_is_int(out->r, &ix)) {
          out->type = SQLITE_INTEGER;
          out->i = ix;
        }
      } else if (out->type == SQLITE_INTEGER && aff == 'E') {
        out->type = SQLITE_FLOAT;
        out->r = (double)out->i;
      }
      break;
    default: /* 'A': BLOB or no affinity */
      break;
  }
  return LSM_OK;
}

/* Encode one key value (after affinity) into out (reset first). */
static int encode_key_value(lsm_buffer *out, const lsmx_value *v) {
  out->len = 0;
  return lsmx_key_append(out, v);
}

/* Encode argv value `in` as a key: affinity, then the key encoding.  Sets
** *is_null when the value (after affinity) is NULL. */
static int encode_key_arg(lsm_vtab *tab, sqlite3_value *in, lsm_buffer *out,
                          int *is_null) {
  lsmx_value v;
  sqlite3_value *holder = NULL;
  int rc = value_with_affinity(in, tab->key_aff, &v, &holder);
  if (rc == LSM_OK) {
    *is_null = (v.type == SQLITE_NULL);
    rc = encode_key_value(out, &v);
  }
  sqlite3_value_free(holder);
  return rc;
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

/* Create every missing ancestor directory of path (not path itself: the
** engine creates that).  Records what it created in created[] (outermost
** first) so the caller can undo.  Returns 0 or an errno value. */
static int make_parents(const char *path, char **created, int *n_created) {
  char *p = sqlite3_mprintf("%s", path);
  char *slash;
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
  for (slash = p + 1; ; slash++) {
    int at_end = (*slash == 0);
    if (*slash == '/' || at_end) {
      char save = *slash;
      *slash = 0;
      if (!dir_exists(p)) {
        if (mkdir(p, 0777) != 0 && errno != EEXIST) {
          err = errno;
          break;
        }
        if (*n_created < MAX_CREATED_DIRS) {
          created[*n_created] = sqlite3_mprintf("%s", p);
          if (created[*n_created]) (*n_created)++;
        }
      }
      *slash = save;
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

static void vtab_free(lsm_vtab *tab) {
  if (!tab) return;
  if (tab->lsm) lsm_close(tab->lsm);
  if (tab->dir_is_temp && tab->dir) lsm_destroy(tab->dir, NULL);
  lsm_batch_free(tab->batch);
  lsmx_table_def_free(&tab->def);
  sqlite3_free(tab->name);
  sqlite3_free(tab->schema);
  sqlite3_free(tab->dir);
  sqlite3_free(tab->nonkey_idx);
  sqlite3_free(tab->marks);
  sqlite3_free(tab->holders);
  sqlite3_free(tab->vals);
  lsm_buffer_free(&tab->key);
  lsm_buffer_free(&tab->old_key);
  lsm_buffer_free(&tab->row);
  lsm_buffer_free(&tab->probe);
  sqlite3_free(tab->base.zErrMsg);
  sqlite3_free(tab);
}

/* The schema handed to sqlite3_declare_vtab: the columns as declared
** (types kept so that SQLite knows their affinity, collations kept), and for
** a keyed table PRIMARY KEY(k) WITHOUT ROWID. */
static char *declare_sql(const lsm_vtab *tab) {
  sqlite3_str *s = sqlite3_str_new(NULL);
  int i;
  sqlite3_str_appendall(s, "CREATE TABLE x(");
  for (i = 0; i < tab->def.n_cols; i++) {
    const lsmx_column *c = &tab->def.cols[i];
    if (i) sqlite3_str_appendall(s, ", ");
    sqlite3_str_appendf(s, "\"%w\"", c->name);
    if (c->type && c->type[0]) sqlite3_str_appendf(s, " %s", c->type);
    if (c->not_null) sqlite3_str_appendall(s, " NOT NULL");
    if (c->collate) sqlite3_str_appendf(s, " COLLATE \"%w\"", c->collate);
  }
  if (tab->key_col >= 0) {
    sqlite3_str_appendf(s, ", PRIMARY KEY(\"%w\")) WITHOUT ROWID",
                        tab->def.cols[tab->key_col].name);
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
  if (tab->def.sync_mode >= 0) tab->opts.sync_mode = tab->def.sync_mode;
}

/* Decide where the table's data lives (no file system changes). */
static int choose_dir(lsm_vtab *tab, char **pzErr) {
  const char *db_file = sqlite3_db_filename(tab->db, tab->schema);
  if (!db_file) db_file = "";
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

/* tab->dir for messages: relative to the database file's directory when
** it lies below it (as the default directory does). */
static const char *shown_dir(const lsm_vtab *tab) {
  const char *db_file = sqlite3_db_filename(tab->db, tab->schema);
  const char *slash = db_file ? strrchr(db_file, '/') : NULL;
  if (slash) {
    size_t n = (size_t)(slash - db_file) + 1;
    if (strncmp(tab->dir, db_file, n) == 0 && tab->dir[n]) return tab->dir + n;
  }
  return tab->dir;
}

/* Open the engine at tab->dir.  create: this is xCreate (or a private temp
** directory); the directory and missing parents are created, and removed
** again if the open fails.  *lsm_rc (if not NULL) gets the engine status. */
static int open_engine(lsm_vtab *tab, int create, char **pzErr, int *lsm_rc) {
  char *created[MAX_CREATED_DIRS];
  int n_created = 0;
  int existed = dir_exists(tab->dir);
  lsm_db *db = NULL;
  int rc;

  if (create && !existed) {
    int err = make_parents(tab->dir, created, &n_created);
    if (err) {
      *pzErr = sqlite3_mprintf("lsm: cannot create directory for table %s "
                               "(%s): %s", tab->name, tab->dir, strerror(err));
      remove_created(created, n_created);
      return SQLITE_CANTOPEN;
    }
  }
  tab->opts.create_if_missing = create;
  rc = lsm_open(tab->dir, &tab->opts, &db);
  if (lsm_rc) *lsm_rc = rc;
  if (rc == LSM_OK) {
    tab->lsm = db;
    /* Only the names were needed: the directories stay. */
    while (n_created > 0) sqlite3_free(created[--n_created]);
    return SQLITE_OK;
  }
  if (rc == LSM_BUSY) {
    *pzErr = sqlite3_mprintf("lsm: table %s is in use by another connection",
                             tab->name);
  } else if (rc == LSM_NOTFOUND) {
    *pzErr = sqlite3_mprintf("lsm: cannot open table %s: no database in %s",
                             tab->name, shown_dir(tab));
  } else if (db && lsm_errmsg(db)[0]) {
    const char *m = lsm_errmsg(db);
    if (strncmp(m, "lsm: ", 5) == 0) m += 5;
    *pzErr = sqlite3_mprintf("lsm: cannot open table %s: %s", tab->name, m);
  } else {
    *pzErr = sqlite3_mprintf("lsm: cannot open table %s (%s): %s", tab->name,
                             tab->dir, lsm_rc_text(rc));
  }
  if (db) lsm_close(db);
  if (create && !existed) {
    lsm_destroy(tab->dir, NULL);
    rmdir(tab->dir);
  }
  remove_created(created, n_created);
  return rc == LSM_NOTFOUND ? SQLITE_CANTOPEN : lsmx_rc_to_sqlite(rc);
}

/* The engine of a table whose directory was missing when it was connected
** (see vtab_init) is opened on first use. */
static int ensure_open(lsm_vtab *tab) {
  char *err = NULL;
  int rc;
  if (tab->lsm) return SQLITE_OK;
  rc = open_engine(tab, 0, &err, NULL);
  if (rc != SQLITE_OK) {
    rc = vtab_error(tab, rc, err ? err : "lsm: cannot open table");
    sqlite3_free(err);
  }
  return rc;
}

static int vtab_init(sqlite3 *db, void *aux, int argc, const char *const *argv,
                     sqlite3_vtab **ppVtab, char **pzErr, int create) {
  lsm_vtab *tab;
  char *sql = NULL;
  int rc = SQLITE_OK;
  int i, j;

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
  if (lsmx_args_parse(argc - 3, argv + 3, &tab->def, pzErr)) {
    if (!*pzErr) *pzErr = sqlite3_mprintf("lsm: bad arguments");
    rc = SQLITE_ERROR;
    goto done;
  }
  if (tab->def.n_cols == 0) {
    *pzErr = sqlite3_mprintf("lsm: table %s has no columns", tab->name);
    rc = SQLITE_ERROR;
    goto done;
  }
  if (tab->def.n_pk > 1) {
    *pzErr = sqlite3_mprintf("lsm: composite PRIMARY KEY is not supported yet");
    rc = SQLITE_ERROR;
    goto done;
  }
  if (tab->def.n_pk == 1) {
    const lsmx_column *k;
    tab->key_col = tab->def.pk_cols[0];
    k = &tab->def.cols[tab->key_col];
    if (k->collate && sqlite3_stricmp(k->collate, "BINARY") != 0) {
      *pzErr = sqlite3_mprintf("lsm: COLLATE %s on the PRIMARY KEY is not "
                               "supported yet", k->collate);
      rc = SQLITE_ERROR;
      goto done;
    }
    tab->key_aff = k->affinity;
    /* A keyed table behaves as a native WITHOUT ROWID table, where even an
    ** INTEGER PRIMARY KEY is an ordinary (NOT NULL) column, not a rowid. */
    tab->key_is_int = 0;
  } else {
    tab->key_col = -1;
    tab->key_aff = 'D';
    tab->key_is_int = 1;
  }
  tab->nonkey_idx = sqlite3_malloc(sizeof(int) * tab->def.n_cols);
  tab->holders = sqlite3_malloc(sizeof(sqlite3_value *) * (tab->def.n_cols + 1));
  tab->vals = sqlite3_malloc(sizeof(lsmx_value) * (tab->def.n_cols + 1));
  if (!tab->nonkey_idx || !tab->holders || !tab->vals) {
    rc = SQLITE_NOMEM;
    goto done;
  }
  for (i = j = 0; i < tab->def.n_cols; i++) {
    tab->nonkey_idx[i] = (i == tab->key_col) ? -1 : j++;
  }
  tab->n_nonkey = j;
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

  /* 2. The directory and the engine. */
  rc = choose_dir(tab, pzErr);
  if (rc != SQLITE_OK) goto done;
  {
    int lsm_rc = LSM_OK;
    rc = open_engine(tab, create || tab->dir_is_temp, pzErr, &lsm_rc);
    if (rc != SQLITE_OK && !create && lsm_rc == LSM_NOTFOUND) {
      /* The table's directory is gone.  Connect anyway, so that DROP TABLE
      ** still works; every read or write reports the open error. */
      sqlite3_free(*pzErr);
      *pzErr = NULL;
      rc = SQLITE_OK;
    }
  }

done:
  sqlite3_free(sql);
  if (rc != SQLITE_OK) {
    if (tab->dir_is_temp && !tab->lsm && tab->dir) {
      lsm_destroy(tab->dir, NULL);
      rmdir(tab->dir);
      tab->dir_is_temp = 0;
    }
    vtab_free(tab);
    return rc;
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

static int xDestroy(sqlite3_vtab *pVtab) {
  lsm_vtab *tab = (lsm_vtab *)pVtab;
  int rc = LSM_OK;
  if (!tab->lsm && dir_exists(tab->dir)) {
    /* Never remove a directory another connection is using. */
    char *err = NULL;
    int lsm_rc = LSM_OK;
    if (open_engine(tab, 0, &err, &lsm_rc) != SQLITE_OK && lsm_rc == LSM_BUSY) {
      rc = vtab_error(tab, SQLITE_BUSY, err ? err : "lsm: table is in use");
      sqlite3_free(err);
      return rc;
    }
    sqlite3_free(err);
  }
  if (tab->lsm) {
    rc = lsm_close(tab->lsm);
    tab->lsm = NULL;
  }
  (void)rc; /* a failed close loses nothing we keep: the data goes anyway */
  rc = lsm_destroy(tab->dir, NULL);
  if (rc != LSM_OK && dir_exists(tab->dir)) {
    return vtab_error(tab, SQLITE_IOERR,
                      "lsm: cannot remove the table directory");
  }
  if (tab->dir_is_default) remove_parent_if_empty(tab->dir);
  tab->dir_is_temp = 0;
  vtab_free(tab);
  return SQLITE_OK;
}

static int xRename(sqlite3_vtab *pVtab, const char *zNew) {
  lsm_vtab *tab = (lsm_vtab *)pVtab;
  char *new_dir, *new_name;
  char *err = NULL;
  int rc;

  new_name = sqlite3_mprintf("%s", zNew);
  if (!new_name) return SQLITE_NOMEM;
  if (!tab->dir_is_default) {
    sqlite3_free(tab->name);
    tab->name = new_name;
    return SQLITE_OK;
  }
  if (tab->in_txn && tab->batch && lsm_batch_count(tab->batch) > 0) {
    sqlite3_free(new_name);
    return vtab_error(tab, SQLITE_ERROR, "lsm: cannot rename a table with "
                      "uncommitted changes");
  }
  new_dir = default_dir(sqlite3_db_filename(tab->db, tab->schema), zNew);
  if (!new_dir) { sqlite3_free(new_name); return SQLITE_NOMEM; }
  if (dir_exists(new_dir)) {
    char *m = sqlite3_mprintf("lsm: cannot rename table %s: %s exists",
                              tab->name, new_dir);
    sqlite3_free(new_dir);
    sqlite3_free(new_name);
    rc = vtab_error(tab, SQLITE_ERROR, m ? m : "lsm: cannot rename");
    sqlite3_free(m);
    return rc;
  }
  /* The engine keeps files open in its directory: close around rename. */
  if (tab->lsm) {
    lsm_close(tab->lsm);
    tab->lsm = NULL;
  }
  if (dir_exists(tab->dir) && rename(tab->dir, new_dir) != 0) {
    char *m = sqlite3_mprintf("lsm: cannot rename %s to %s: %s", tab->dir,
                              new_dir, strerror(errno));
    sqlite3_free(new_dir);
    sqlite3_free(new_name);
    if (open_engine(tab, 0, &err, NULL) != SQLITE_OK) sqlite3_free(err);
    rc = vtab_error(tab, SQLITE_IOERR, m ? m : "lsm: cannot rename");
    sqlite3_free(m);
    return rc;
  }
  sqlite3_free(tab->dir);
  tab->dir = new_dir;
  sqlite3_free(tab->name);
  tab->name = new_name;
  if (!dir_exists(tab->dir)) return SQLITE_OK;  /* still missing */
  rc = open_engine(tab, 0, &err, NULL);
  if (rc != SQLITE_OK) {
    rc = vtab_error(tab, rc, err ? err : "lsm: cannot reopen after rename");
    sqlite3_free(err);
  }
  return rc;
}

/* ------------------------------------------------------------------ */
/* Query planning. */

static int xBestIndex(sqlite3_vtab *pVtab, sqlite3_index_info *info) {
  lsm_vtab *tab = (lsm_vtab *)pVtab;
  int key_icol = tab->key_col;    /* -1 is the rowid: both mean "the key" */
  int eq = -1, lo = -1, hi = -1;
  int idx = 0, i;

  for (i = 0; i < info->nConstraint; i++) {
    const struct sqlite3_index_constraint *c = &info->aConstraint[i];
    const char *coll;
    if (!c->usable || c->iColumn != key_icol) continue;
    /* Key order is BINARY order; any other collation needs a scan. */
    coll = sqlite3_vtab_collation(info, i);
    if (coll && sqlite3_stricmp(coll, "BINARY") != 0) continue;
    switch (c->op) {
      case SQLITE_INDEX_CONSTRAINT_EQ:
      case SQLITE_INDEX_CONSTRAINT_IS:
        if (eq < 0) eq = i;
        break;
      case SQLITE_INDEX_CONSTRAINT_GT:
      case SQLITE_INDEX_CONSTRAINT_GE:
        if (lo < 0) lo = i;
        break;
      case SQLITE_INDEX_CONSTRAINT_LT:
      case SQLITE_INDEX_CONSTRAINT_LE:
        if (hi < 0) hi = i;
        break;
      default:
        break;
    }
  }

  if (eq >= 0) {
    /* Exact after affinity (keys are never NULL, and a NULL argument
    ** matches nothing, as `k IS NULL` and `k = NULL` both do): omit. */
    info->aConstraintUsage[eq].argvIndex = 1;
    info->aConstraintUsage[eq].omit = 1;
    info->idxNum = IDX_POINT;
    info->idxStr = "point";
    info->estimatedCost = 10.0;
    info->estimatedRows = 1;
    info->idxFlags = SQLITE_INDEX_SCAN_UNIQUE;
    return SQLITE_OK;
  }

  /* Range bounds are not omitted: SQLite re-checks them, so mixed-type
  ** comparisons keep SQLite's exact semantics whatever the bounds pick. */
  {
    int argv_i = 1;
    double rows = EST_ROWS;
    if (lo >= 0) {
      idx |= IDX_LO;
      if (info->aConstraint[lo].op == SQLITE_INDEX_CONSTRAINT_GE) idx |= IDX_LO_INCL;
      info->aConstraintUsage[lo].argvIndex = argv_i++;
      rows /= 4;
    }
    if (hi >= 0) {
      idx |= IDX_HI;
      if (info->aConstraint[hi].op == SQLITE_INDEX_CONSTRAINT_LE) idx |= IDX_HI_INCL;
      info->aConstraintUsage[hi].argvIndex = argv_i++;
      rows /= 4;
    }
    if (info->nOrderBy >= 1 && info->aOrderBy[0].iColumn == key_icol) {
      /* The key is unique, so ordering by it orders by any later terms. */
      if (info->aOrderBy[0].desc) idx |= IDX_DESC;
      info->orderByConsumed = 1;
    }
    info->idxNum = idx;
    info->idxStr = (idx & (IDX_LO | IDX_HI)) ? "range" : "scan";
    info->estimatedCost = rows;
    info->estimatedRows = (sqlite3_int64)rows;
  }
  return SQLITE_OK;
}

/* ------------------------------------------------------------------ */
/* Cursors. */

static int xOpen(sqlite3_vtab *pVtab, sqlite3_vtab_cursor **ppCursor) {
  lsm_vtab *tab = (lsm_vtab *)pVtab;
  lsm_cursor *cur = sqlite3_malloc(sizeof(*cur));
  if (!cur) return SQLITE_NOMEM;
  memset(cur, 0, sizeof(*cur));
  if (tab->n_nonkey > 0) {
    cur->cols = sqlite3_malloc(sizeof(lsmx_value) * tab->n_nonkey);
    if (!cur->cols) { sqlite3_free(cur); return SQLITE_NOMEM; }
  }
  cur->eof = 1;
  cur->next_open = tab->cursors;
  tab->cursors = cur;
  *ppCursor = &cur->base;
  return SQLITE_OK;
}

static int xClose(sqlite3_vtab_cursor *pCur) {
  lsm_cursor *cur = (lsm_cursor *)pCur;
  lsm_vtab *tab = (lsm_vtab *)pCur->pVtab;
  lsm_cursor **pp;
  for (pp = &tab->cursors; *pp; pp = &(*pp)->next_open) {
    if (*pp == cur) { *pp = cur->next_open; break; }
  }
  lsm_iter_free(cur->it);
  lsm_buffer_free(&cur->lo);
  lsm_buffer_free(&cur->hi);
  lsm_buffer_free(&cur->key);
  lsm_buffer_free(&cur->val);
  lsm_buffer_free(&cur->key_scratch);
  sqlite3_free(cur->cols);
  sqlite3_free(cur);
  return SQLITE_OK;
}

/* Called before every change to tab->batch: drop the iterators that lay
** it over the data (see the invariant at the top of the file). */
static void invalidate_overlays(lsm_vtab *tab) {
  lsm_cursor *cur;
  for (cur = tab->cursors; cur; cur = cur->next_open) {
    if (cur->it && cur->uses_overlay) {
      lsm_iter_free(cur->it);
      cur->it = NULL;
      cur->reseek = !cur->eof;
    }
  }
}

static lsm_batch *txn_overlay(lsm_vtab *tab) {
  return (tab->in_txn && tab->batch && lsm_batch_count(tab->batch) > 0)
             ? tab->batch : NULL;
}

static int cursor_new_iter(lsm_cursor *cur) {
  lsm_vtab *tab = (lsm_vtab *)cur->base.pVtab;
  lsm_batch *ov;
  int rc = ensure_open(tab);
  if (rc != SQLITE_OK) return rc;
  ov = txn_overlay(tab);
  rc = lsm_iter_new(tab->lsm, NULL, ov, &cur->it);
  if (rc != LSM_OK) {
    cur->it = NULL;
    return vtab_fail(tab, rc, 1);
  }
  cur->uses_overlay = (ov != NULL);
  return SQLITE_OK;
}

/* After a move: check the end bound, copy the entry, reset lazy decoding. */
static int cursor_settle(lsm_cursor *cur, int move_rc) {
  lsm_vtab *tab = (lsm_vtab *)cur->base.pVtab;
  const void *k, *v;
  size_t nk, nv;
  int rc = move_rc;

  if (rc == LSM_OK) rc = lsm_iter_status(cur->it);
  if (rc != LSM_OK) {
    cur->eof = 1;
    return vtab_fail(tab, rc, 1);
  }
  cur->key_decoded = cur->row_parsed = cur->cols_decoded = 0;
  if (!lsm_iter_valid(cur->it)) {
    cur->eof = 1;
    return SQLITE_OK;
  }
  k = lsm_iter_key(cur->it, &nk);
  if (!cur->desc && cur->has_hi) {
    int c = key_cmp(k, nk, cur->hi.data, cur->hi.len);
    if (c > 0 || (c == 0 && !cur->hi_incl)) { cur->eof = 1; return SQLITE_OK; }
  }
  if (cur->desc && cur->has_lo) {
    int c = key_cmp(k, nk, cur->lo.data, cur->lo.len);
    if (c < 0 || (c == 0 && !cur->lo_incl)) { cur->eof = 1; return SQLITE_OK; }
  }
  v = lsm_iter_value(cur->it, &nv);
  if (buf_set(&cur->key, k, nk) != LSM_OK || buf_set(&cur->val, v, nv) != LSM_OK) {
    cur->eof = 1;
    return SQLITE_NOMEM;
  }
  cur->eof = 0;
  return SQLITE_OK;
}

/* Position a fresh iterator at the start of the cursor's range. */
static int cursor_start(lsm_cursor *cur) {
  int rc;
  if (!cur->desc) {
    if (cur->has_lo) {
      rc = lsm_iter_seek(cur->it, cur->lo.data, cur->lo.len);
      if (rc == LSM_OK && !cur->lo_incl && lsm_iter_valid(cur->it)) {
        size_t nk;
        const void *k = lsm_iter_key(cur->it, &nk);
        if (key_cmp(k, nk, cur->lo.data, cur->lo.len) == 0)
          rc = lsm_iter_next(cur->it);
      }
    } else {
      rc = lsm_iter_first(cur->it);
    }
  } else {
    if (cur->has_hi) {
      rc = lsm_iter_seek_le(cur->it, cur->hi.data, cur->hi.len);
      if (rc == LSM_OK && !cur->hi_incl && lsm_iter_valid(cur->it)) {
        size_t nk;
        const void *k = lsm_iter_key(cur->it, &nk);
        if (key_cmp(k, nk, cur->hi.data, cur->hi.len) == 0)
          rc = lsm_iter_prev(cur->it);
      }
    } else {
      rc = lsm_iter_last(cur->it);
    }
  }
  return cursor_settle(cur, rc);
}

/* Point lookup: the transaction's batch first, then the committed data. */
static int cursor_point(lsm_cursor *cur) {
  lsm_vtab *tab = (lsm_vtab *)cur->base.pVtab;
  int rc;
  cur->key_decoded = cur->row_parsed = cur->cols_decoded = 0;
  cur->eof = 1;
  rc = ensure_open(tab);
  if (rc != SQLITE_OK) return rc;
  rc = LSM_NOTFOUND;
  cur->val.len = 0;
  if (txn_overlay(tab)) {
    int deleted = 0;
    rc = lsm_batch_get(tab->batch, cur->lo.data, cur->lo.len, &deleted, &cur->val);
    if (rc == LSM_OK && deleted) return SQLITE_OK;
    if (rc != LSM_OK && rc != LSM_NOTFOUND) return vtab_fail(tab, rc, 0);
  }
  if (rc == LSM_NOTFOUND) {
    cur->val.len = 0;
    rc = lsm_get(tab->lsm, NULL, cur->lo.data, cur->lo.len, &cur->val);
    if (rc == LSM_NOTFOUND) return SQLITE_OK;
    if (rc != LSM_OK) return vtab_fail(tab, rc, 1);
  }
  if (buf_set(&cur->key, cur->lo.data, cur->lo.len) != LSM_OK) return SQLITE_NOMEM;
  cur->eof = 0;
  return SQLITE_OK;
}

static int xFilter(sqlite3_vtab_cursor *pCur, int idxNum, const char *idxStr,
                   int argc, sqlite3_value **argv) {
  lsm_cursor *cur = (lsm_cursor *)pCur;
  lsm_vtab *tab = (lsm_vtab *)pCur->pVtab;
  int argi = 0, is_null = 0, rc;

  lsm_iter_free(cur->it);
  cur->it = NULL;
  cur->uses_overlay = cur->reseek = 0;
  cur->eof = 1;
  cur->point = (idxNum & IDX_POINT) != 0;
  cur->desc = (idxNum & IDX_DESC) != 0;
  cur->has_lo = (idxNum & (IDX_POINT | IDX_LO)) != 0;
  cur->lo_incl = (idxNum & (IDX_POINT | IDX_LO_INCL)) != 0;
  cur->has_hi = (idxNum & IDX_HI) != 0;
  cur->hi_incl = (idxNum & IDX_HI_INCL) != 0;

  if (cur->has_lo) {
    if (argi >= argc) return SQLITE_ERROR;
    rc = encode_key_arg(tab, argv[argi++], &cur->lo, &is_null);
    if (rc != LSM_OK) return vtab_fail(tab, rc, 0);
    if (is_null) return SQLITE_OK;   /* no key compares true with NULL */
  }
  if (cur->has_hi) {
    if (argi >= argc) return SQLITE_ERROR;
    rc = encode_key_arg(tab, argv[argi++], &cur->hi, &is_null);
    if (rc != LSM_OK) return vtab_fail(tab, rc, 0);
    if (is_null) return SQLITE_OK;
  }
  if (cur->point) return cursor_point(cur);
  rc = cursor_new_iter(cur);
  if (rc != SQLITE_OK) return rc;
  return cursor_start(cur);
}

/* Rebuild a dropped iterator just past the current (copied) key. */
static int cursor_reseek(lsm_cursor *cur) {
  int rc = cursor_new_iter(cur);
  size_t nk;
  const void *k;
  cur->reseek = 0;
  if (rc != SQLITE_OK) { cur->eof = 1; return rc; }
  if (!cur->desc) {
    rc = lsm_iter_seek(cur->it, cur->key.data, cur->key.len);
    if (rc == LSM_OK && lsm_iter_valid(cur->it)) {
      k = lsm_iter_key(cur->it, &nk);
      if (key_cmp(k, nk, cur->key.data, cur->key.len) == 0)
        rc = lsm_iter_next(cur->it);
    }
  } else {
    rc = lsm_iter_seek_le(cur->it, cur->key.data, cur->key.len);
    if (rc == LSM_OK && lsm_iter_valid(cur->it)) {
      k = lsm_iter_key(cur->it, &nk);
      if (key_cmp(k, nk, cur->key.data, cur->key.len) == 0)
        rc = lsm_iter_prev(cur->it);
    }
  }
  return cursor_settle(cur, rc);
}

static int xNext(sqlite3_vtab_cursor *pCur) {
  lsm_cursor *cur = (lsm_cursor *)pCur;
  if (cur->eof) return SQLITE_OK;
  if (cur->point) { cur->eof = 1; return SQLITE_OK; }
  if (!cur->it) {
    if (cur->reseek) return cursor_reseek(cur);
    cur->eof = 1;
    return SQLITE_OK;
  }
  return cursor_settle(cur, cur->desc ? lsm_iter_prev(cur->it)
                                      : lsm_iter_next(cur->it));
}

static int xEof(sqlite3_vtab_cursor *pCur) {
  return ((lsm_cursor *)pCur)->eof;
}

static int cursor_corrupt(lsm_cursor *cur, int rc) {
  lsm_vtab *tab = (lsm_vtab *)cur->base.pVtab;
  char *m = sqlite3_mprintf("lsm: malformed %s in table %s",
                            rc == LSM_NOMEM ? "(out of memory) row" : "row",
                            tab->name);
  sqlite3_free(tab->base.zErrMsg);
  tab->base.zErrMsg = m;
  return lsmx_rc_to_sqlite(rc);
}

static int cursor_decode_key(lsm_cursor *cur) {
  const unsigned char *p = cur->key.data;
  int rc;
  if (cur->key_decoded) return LSM_OK;
  rc = lsmx_key_decode(&p, cur->key.data + cur->key.len, &cur->keyv,
                       &cur->key_scratch);
  if (rc != LSM_OK) return rc;
  cur->key_decoded = 1;
  return LSM_OK;
}

static int cursor_parse_row(lsm_cursor *cur) {
  int rc;
  if (cur->row_parsed) return LSM_OK;
  rc = lsmx_row_parse(&cur->row, cur->val.data, cur->val.len);
  if (rc != LSM_OK) return rc;
  cur->row_parsed = 1;
  return LSM_OK;
}

static int xColumn(sqlite3_vtab_cursor *pCur, sqlite3_context *ctx, int i) {
  lsm_cursor *cur = (lsm_cursor *)pCur;
  lsm_vtab *tab = (lsm_vtab *)pCur->pVtab;
  int rc, j;

  if (cur->eof || i < 0 || i >= tab->def.n_cols) return SQLITE_OK;
  rc = cursor_parse_row(cur);
  if (rc != LSM_OK) return cursor_corrupt(cur, rc);
  j = tab->nonkey_idx[i];
  if (j < 0) {
    lsmx_value v;
    rc = cursor_decode_key(cur);
    if (rc != LSM_OK) return cursor_corrupt(cur, rc);
    v = cur->keyv;
    if ((cur->row.real_mask & 1) && v.type == SQLITE_INTEGER) {
      v.type = SQLITE_FLOAT;
      v.r = (double)v.i;
    }
    lsmx_value_result(ctx, &v);
    return SQLITE_OK;
  }
  if (!cur->cols_decoded) {
    if (tab->n_nonkey <= 64) {
      rc = lsmx_row_columns(&cur->row, cur->cols, tab->n_nonkey, ~(sqlite3_uint64)0);
      if (rc != LSM_OK) return cursor_corrupt(cur, rc);
    } else {
      int c;
      for (c = 0; c < tab->n_nonkey; c++) {
        rc = lsmx_row_column(&cur->row, c, &cur->cols[c]);
        if (rc != LSM_OK) return cursor_corrupt(cur, rc);
      }
    }
    cur->cols_decoded = 1;
  }
  lsmx_value_result(ctx, &cur->cols[j]);
  return SQLITE_OK;
}

static int xRowid(sqlite3_vtab_cursor *pCur, sqlite3_int64 *pRowid) {
  lsm_cursor *cur = (lsm_cursor *)pCur;
  int rc;
  *pRowid = 0;
  if (cur->eof) return SQLITE_OK;
  rc = cursor_decode_key(cur);
  if (rc != LSM_OK) return cursor_corrupt(cur, rc);
  if (cur->keyv.type == SQLITE_INTEGER) *pRowid = cur->keyv.i;
  else if (cur->keyv.type == SQLITE_FLOAT) *pRowid = (sqlite3_int64)cur->keyv.r;
  return SQLITE_OK;
}

/* ------------------------------------------------------------------ */
/* Writes. */

static int get_batch(lsm_vtab *tab) {
  if (tab->batch) return LSM_OK;
  return lsm_batch_new(&tab->batch);
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
** does.  The largest is cached for the transaction; deletes and rollbacks
** drop the cache. */
static int next_rowid(lsm_vtab *tab, sqlite3_int64 *out) {
  lsm_iter *it = NULL;
  int rc, tries;
  if (!tab->have_next_rowid) {
    rc = lsm_iter_new(tab->lsm, NULL, txn_overlay(tab), &it);
    if (rc == LSM_OK) rc = lsm_iter_last(it);
    if (rc == LSM_OK) rc = lsm_iter_status(it);
    if (rc != LSM_OK) { lsm_iter_free(it); return vtab_fail(tab, rc, 1); }
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

static int constraint_error(lsm_vtab *tab, int rc, const char *kind,
                            const char *col) {
  sqlite3_free(tab->base.zErrMsg);
  tab->base.zErrMsg = sqlite3_mprintf("%s constraint failed: %s.%s", kind,
                                      tab->name, col);
  return rc;
}

static void free_holders(lsm_vtab *tab, int n) {
  int i;
  for (i = 0; i < n; i++) {
    sqlite3_value_free(tab->holders[i]);
    tab->holders[i] = NULL;
  }
}

static int batch_delete(lsm_vtab *tab, const lsm_buffer *key) {
  int rc = get_batch(tab);
  if (rc != LSM_OK) return rc;
  invalidate_overlays(tab);
  return lsm_batch_delete(tab->batch, key->data, key->len);
}

static int batch_put(lsm_vtab *tab, const lsm_buffer *key,
                     const lsm_buffer *val) {
  int rc = get_batch(tab);
  if (rc != LSM_OK) return rc;
  invalidate_overlays(tab);
  return lsm_batch_put(tab->batch, key->data, key->len, val->data, val->len);
}

/* Encode the old key of an UPDATE/DELETE (a value this module produced,
** so it already has the key's affinity). */
static int encode_old_key(lsm_vtab *tab, sqlite3_value *v, lsm_buffer *out) {
  int is_null = 0;
  return encode_key_arg(tab, v, out, &is_null);
}

/* INSERT: argv[0] NULL.  UPDATE: argv[0] the old key.  argv[1] the new
** rowid (rowid tables) or the new key (WITHOUT ROWID, NULL on INSERT);
** argv[2..] the columns.  DELETE: argc == 1, argv[0] the key. */
static int xUpdate(sqlite3_vtab *pVtab, int argc, sqlite3_value **argv,
                   sqlite3_int64 *pRowid) {
  lsm_vtab *tab = (lsm_vtab *)pVtab;
  int n_held = 0, rc = SQLITE_OK, lrc, i;
  int is_insert, key_changed = 1, exists = 0;
  sqlite3_uint64 real_mask = 0;
  lsmx_value keyv;
  sqlite3_value *key_arg;
  const char *key_name;

  rc = ensure_open(tab);
  if (rc != SQLITE_OK) return rc;

  if (argc == 1) {
    lrc = encode_old_key(tab, argv[0], &tab->old_key);
    if (lrc == LSM_OK) lrc = batch_delete(tab, &tab->old_key);
    if (lrc != LSM_OK) return vtab_fail(tab, lrc, 0);
    tab->have_next_rowid = 0;
    return SQLITE_OK;
  }
  if (argc != tab->def.n_cols + 2) return SQLITE_ERROR;

  is_insert = sqlite3_value_type(argv[0]) == SQLITE_NULL;
  key_arg = tab->key_col < 0 ? argv[1] : argv[2 + tab->key_col];
  key_name = tab->key_col < 0 ? "rowid" : tab->def.cols[tab->key_col].name;

  /* The new key, after affinity. */
  lrc = value_with_affinity(key_arg, tab->key_aff, &keyv, &tab->holders[n_held++]);
  if (lrc != LSM_OK) { rc = vtab_fail(tab, lrc, 0); goto done; }
  if (keyv.type == SQLITE_NULL) {
    if (!tab->key_is_int) {
      if (sqlite3_vtab_on_conflict(tab->db) == SQLITE_IGNORE) {
        rc = SQLITE_CONSTRAINT;   /* skipped, not counted as a change */
        goto done;
      }
      rc = constraint_error(tab, SQLITE_CONSTRAINT_NOTNULL, "NOT NULL", key_name);
      goto done;
    }
    if (!is_insert) {
      /* SQLite's UPDATE ... SET rowid = NULL */
      rc = vtab_error(tab, SQLITE_MISMATCH, "datatype mismatch");
      goto done;
    }
    rc = next_rowid(tab, &keyv.i);
    if (rc != SQLITE_OK) goto done;
    keyv.type = SQLITE_INTEGER;
  } else if (tab->key_is_int && keyv.type != SQLITE_INTEGER) {
    rc = vtab_error(tab, SQLITE_MISMATCH, "datatype mismatch");
    goto done;
  }
  if (keyv.type == SQLITE_FLOAT) real_mask |= 1;
  if (tab->key_col < 0 && pRowid) *pRowid = keyv.i;

  /* Non-key columns, after affinity; NOT NULL is checked before UNIQUE,
  ** as SQLite does. */
  for (i = 0; i < tab->def.n_cols; i++) {
    int j = tab->nonkey_idx[i];
    lsmx_value *v;
    if (j < 0) continue;
    v = &tab->vals[j];
    lrc = value_with_affinity(argv[2 + i], tab->def.cols[i].affinity, v,
                              &tab->holders[n_held++]);
    if (lrc != LSM_OK) { rc = vtab_fail(tab, lrc, 0); goto done; }
    if (v->type == SQLITE_NULL && tab->def.cols[i].not_null) {
      if (sqlite3_vtab_on_conflict(tab->db) == SQLITE_IGNORE) {
        rc = SQLITE_CONSTRAINT;
        goto done;
      }
      rc = constraint_error(tab, SQLITE_CONSTRAINT_NOTNULL, "NOT NULL",
                            tab->def.cols[i].name);
      goto done;
    }
  }

  lrc = encode_key_value(&tab->key, &keyv);
  if (lrc != LSM_OK) { rc = vtab_fail(tab, lrc, 0); goto done; }
  if (!is_insert) {
    lrc = encode_old_key(tab, argv[0], &tab->old_key);
    if (lrc != LSM_OK) { rc = vtab_fail(tab, lrc, 0); goto done; }
    key_changed = key_cmp(tab->old_key.data, tab->old_key.len,
                          tab->key.data, tab->key.len) != 0;
  }
  if (key_changed) {
    lrc = key_exists(tab, &tab->key, &exists);
    if (lrc != LSM_OK) { rc = vtab_fail(tab, lrc, 1); goto done; }
    if (exists) {
      int mode = sqlite3_vtab_on_conflict(tab->db);
      if (mode == SQLITE_IGNORE) {
        rc = SQLITE_CONSTRAINT;
        goto done;
      }
      if (mode != SQLITE_REPLACE) {
        rc = constraint_error(tab, tab->key_col < 0 ? SQLITE_CONSTRAINT_ROWID
                                                    : SQLITE_CONSTRAINT_PRIMARYKEY,
                              "UNIQUE", key_name);
        goto done;
      }
      /* REPLACE: the put below overwrites the existing row. */
    }
  }

  lrc = lsmx_row_encode(&tab->row, real_mask, tab->vals, tab->n_nonkey);
  if (lrc == LSM_OK && !is_insert && key_changed) {
    lrc = batch_delete(tab, &tab->old_key);
    tab->have_next_rowid = 0;
  }
  if (lrc == LSM_OK) lrc = batch_put(tab, &tab->key, &tab->row);
  if (lrc != LSM_OK) { rc = vtab_fail(tab, lrc, 0); goto done; }
  if (tab->key_is_int && tab->have_next_rowid && !tab->rowid_at_max &&
      keyv.i >= tab->next_rowid) {
    if (keyv.i == INT64_MAX) tab->rowid_at_max = 1;
    else tab->next_rowid = keyv.i + 1;
  }

done:
  free_holders(tab, n_held);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Transactions. */

static void txn_reset(lsm_vtab *tab) {
  if (tab->batch) {
    invalidate_overlays(tab);
    lsm_batch_clear(tab->batch);
  }
  tab->n_marks = 0;
  tab->written = 0;
  tab->have_next_rowid = 0;
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
  if (iSavepoint < 0) tab->n_marks = 0;
  else if (iSavepoint < tab->n_marks) tab->n_marks = iSavepoint;
  return SQLITE_OK;
}

static int xRollbackTo(sqlite3_vtab *pVtab, int iSavepoint) {
  lsm_vtab *tab = (lsm_vtab *)pVtab;
  uint64_t mark;
  int rc;
  if (iSavepoint >= tab->n_marks || !tab->batch) return SQLITE_OK;
  mark = iSavepoint < 0 ? 0 : tab->marks[iSavepoint];
  invalidate_overlays(tab);
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

#ifdef _WIN32
__declspec(dllexport)
#endif
int sqlite3_lsmvtab_init(sqlite3 *db, char **pzErrMsg,
                         const sqlite3_api_routines *pApi) {
  SQLITE_EXTENSION_INIT2(pApi);
  (void)pzErrMsg;
  return sqlite3_create_module_v2(db, "lsm", &lsm_module, NULL, NULL);
}
