/*
** stats.c — the lsm_stats() table-valued function (stats.h).
**
** An eponymous-only virtual table module: it exists in every schema as
** "lsm_stats" without CREATE VIRTUAL TABLE (xCreate is NULL, so CREATE
** VIRTUAL TABLE ... USING lsm_stats is refused).  Its two hidden columns
** tbl and schema are the function's arguments: lsm_stats('t', 'aux') is
** the table lsm_stats with constraints tbl = 't' AND schema = 'aux'.
**
** Planning: xBestIndex hands the usable "tbl =" constraint to xFilter as
** argument 1 and the "schema =" one as argument 2 (idxNum bits HAS_TBL,
** HAS_SCHEMA say which were given).  A tbl or schema constraint that is not
** usable in this plan (a join whose other side is not yet known) makes the
** plan SQLITE_CONSTRAINT, so SQLite picks an order where it is usable.
** With no tbl constraint at all there is no plan that can answer; rather
** than let SQLite fail with a bare "no query solution", xBestIndex accepts
** at a prohibitive cost and xFilter reports "lsm_stats: table name argument
** required".
**
** Data: xFilter resolves (schema, tbl) to an lsm_db through the lookup
** function given to lsmx_stats_register() (the lsm module knows which
** tables exist; this file does not), copies lsm_get_stats() into the
** cursor, and yields rows 0 .. LSM_MAX_LEVELS-1, one per level.  The copy
** makes the rows one consistent snapshot of the counters and means the
** borrowed lsm_db is not touched after xFilter returns.
*/
#include "sqlite_api.h"
#include "stats.h"
#include "errmap.h"
#include "lsm.h"

#include <string.h>

/* Column numbers, in the order of the declaration in stats_connect. */
enum {
  COL_LEVEL,
  COL_FILES,
  COL_ENTRIES,
  COL_TOMBSTONES,
  COL_BYTES,
  COL_MEMTABLE_BYTES,
  COL_MEMTABLE_ENTRIES,
  COL_BLOOM_PROBES,
  COL_BLOOM_NEGATIVES,
  COL_USER_BYTES,
  COL_WAL_BYTES,
  COL_FLUSH_BYTES,
  COL_COMPACT_READ_BYTES,
  COL_COMPACT_WRITE_BYTES,
  COL_FLUSHES,
  COL_COMPACTIONS,
  COL_SLOWDOWN_COUNT,
  COL_SLOWDOWN_MICROS,
  COL_STOP_COUNT,
  COL_STOP_MICROS,
  COL_TBL,     /* hidden: argument 1 */
  COL_SCHEMA   /* hidden: argument 2 */
};

/* idxNum bits. */
#define HAS_TBL    1
#define HAS_SCHEMA 2

/* The module's pAux: how to resolve table names.  Freed by SQLite (through
** sqlite3_free) when the module is dropped or the connection closes. */
typedef struct stats_aux {
  lsmx_table_lookup_fn lookup;
  void *ctx;
} stats_aux;

typedef struct stats_vtab {
  sqlite3_vtab base;   /* must be first */
  sqlite3 *db;
  stats_aux *aux;      /* borrowed from the module */
} stats_vtab;

typedef struct stats_cursor {
  sqlite3_vtab_cursor base;   /* must be first */
  lsm_stats st;               /* copied at xFilter */
  char *tbl;                  /* the arguments, for the hidden columns */
  char *schema;
  int row;                    /* current level; LSM_MAX_LEVELS at EOF */
} stats_cursor;

/* Replace the vtab's error message with a formatted one. */
static void set_error(stats_vtab *v, const char *fmt, const char *arg) {
  sqlite3_free(v->base.zErrMsg);
  v->base.zErrMsg = sqlite3_mprintf(fmt, arg);
}

static int stats_connect(sqlite3 *db, void *paux, int argc,
                         const char *const *argv, sqlite3_vtab **out,
                         char **errmsg) {
  stats_vtab *v;
  int rc;

  *out = NULL;
  rc = sqlite3_declare_vtab(db,
      "CREATE TABLE x(level, files, entries, tombstones, bytes, "
      "memtable_bytes, memtable_entries, bloom_probes, bloom_negatives, "
      "user_bytes, wal_bytes, flush_bytes, compact_read_bytes, "
      "compact_write_bytes, flushes, compactions, "
      "slowdown_count, slowdown_micros, stop_count, stop_micros, "
      "tbl HIDDEN, schema HIDDEN)");
  if (rc != SQLITE_OK) return rc;
  v = sqlite3_malloc(sizeof(*v));
  if (v == NULL) return SQLITE_NOMEM;
  memset(v, 0, sizeof(*v));
  v->db = db;
  v->aux = paux;
  *out = &v->base;
  return SQLITE_OK;
}

static int stats_disconnect(sqlite3_vtab *vtab) {
  sqlite3_free(vtab);
  return SQLITE_OK;
}

static int stats_best_index(sqlite3_vtab *vtab, sqlite3_index_info *info) {
  int tbl = -1, schema = -1;
  int tbl_seen = 0, schema_seen = 0;
  int i;

  for (i = 0; i < info->nConstraint; i++) {
    const struct sqlite3_index_constraint *c = &info->aConstraint[i];
    if (c->iColumn != COL_TBL && c->iColumn != COL_SCHEMA) continue;
    if (c->op != SQLITE_INDEX_CONSTRAINT_EQ) continue;
    if (c->iColumn == COL_TBL) {
      tbl_seen = 1;
      if (c->usable && tbl < 0) tbl = i;
    } else {
      schema_seen = 1;
      if (c->usable && schema < 0) schema = i;
    }
  }
  /* An argument exists but its value is not known in this plan: ask for
  ** another plan rather than answer without it. */
  if ((tbl_seen && tbl < 0) || (schema_seen && schema < 0)) {
    return SQLITE_CONSTRAINT;
  }
  if (tbl < 0) {
    /* No table argument at all: accept, so that xFilter can say so. */
    info->idxNum = 0;
    info->estimatedCost = 1e300;
    info->estimatedRows = LSM_MAX_LEVELS;
    return SQLITE_OK;
  }
  info->idxNum = HAS_TBL;
  info->aConstraintUsage[tbl].argvIndex = 1;
  info->aConstraintUsage[tbl].omit = 1;
  if (schema >= 0) {
    info->idxNum |= HAS_SCHEMA;
    info->aConstraintUsage[schema].argvIndex = 2;
    info->aConstraintUsage[schema].omit = 1;
  }
  /* Rows come out in ascending level order. */
  if (info->nOrderBy == 1 && info->aOrderBy[0].iColumn == COL_LEVEL &&
      !info->aOrderBy[0].desc) {
    info->orderByConsumed = 1;
  }
  info->estimatedCost = (double)LSM_MAX_LEVELS;
  info->estimatedRows = LSM_MAX_LEVELS;
  return SQLITE_OK;
}

static int stats_open(sqlite3_vtab *vtab, sqlite3_vtab_cursor **out) {
  stats_cursor *c = sqlite3_malloc(sizeof(*c));
  *out = NULL;
  if (c == NULL) return SQLITE_NOMEM;
  memset(c, 0, sizeof(*c));
  c->row = LSM_MAX_LEVELS;
  *out = &c->base;
  return SQLITE_OK;
}

static int stats_close(sqlite3_vtab_cursor *cur) {
  stats_cursor *c = (stats_cursor *)cur;
  sqlite3_free(c->tbl);
  sqlite3_free(c->schema);
  sqlite3_free(c);
  return SQLITE_OK;
}

static int stats_filter(sqlite3_vtab_cursor *cur, int idxnum,
                        const char *idxstr, int argc, sqlite3_value **argv) {
  stats_cursor *c = (stats_cursor *)cur;
  stats_vtab *v = (stats_vtab *)cur->pVtab;
  const char *tbl = NULL, *schema = "main";
  char *errmsg = NULL;
  lsm_db *db = NULL;
  int rc, lrc;

  c->row = LSM_MAX_LEVELS;   /* EOF until the stats are in */
  sqlite3_free(c->tbl);
  sqlite3_free(c->schema);
  c->tbl = c->schema = NULL;

  if ((idxnum & HAS_TBL) && argc >= 1) {
    tbl = (const char *)sqlite3_value_text(argv[0]);
    /* NULL for a value that is not NULL: no memory to convert it. */
    if (tbl == NULL && sqlite3_value_type(argv[0]) != SQLITE_NULL) return SQLITE_NOMEM;
  }
  if ((idxnum & HAS_SCHEMA) && argc >= 2) {
    schema = (const char *)sqlite3_value_text(argv[1]);
    if (schema == NULL && sqlite3_value_type(argv[1]) != SQLITE_NULL) return SQLITE_NOMEM;
    if (schema == NULL) {
      set_error(v, "%s", "lsm_stats: schema name argument is NULL");
      return SQLITE_ERROR;
    }
  }
  if (tbl == NULL) {
    set_error(v, "%s", "lsm_stats: table name argument required");
    return SQLITE_ERROR;
  }
  c->tbl = sqlite3_mprintf("%s", tbl);
  c->schema = sqlite3_mprintf("%s", schema);
  if (c->tbl == NULL || c->schema == NULL) return SQLITE_NOMEM;

  rc = v->aux->lookup(v->aux->ctx, v->db, c->schema, c->tbl, &db, &errmsg);
  if (rc != SQLITE_OK || db == NULL) {
    if (rc == SQLITE_OK) rc = SQLITE_ERROR;
    sqlite3_free(v->base.zErrMsg);
    v->base.zErrMsg = errmsg ? errmsg
                             : sqlite3_mprintf("lsm_stats: no lsm table %s.%s",
                                               c->schema, c->tbl);
    return rc;
  }
  sqlite3_free(errmsg);

  lrc = lsm_get_stats(db, &c->st);
  if (lrc != LSM_OK) {
    set_error(v, "%s", lsm_errmsg(db));
    return lsmx_rc_to_sqlite(lrc);
  }
  c->row = 0;
  return SQLITE_OK;
}

static int stats_next(sqlite3_vtab_cursor *cur) {
  stats_cursor *c = (stats_cursor *)cur;
  if (c->row < LSM_MAX_LEVELS) c->row++;
  return SQLITE_OK;
}

static int stats_eof(sqlite3_vtab_cursor *cur) {
  return ((stats_cursor *)cur)->row >= LSM_MAX_LEVELS;
}

/* Counters are uint64_t; SQLite integers are signed 64-bit.  No counter
** can realistically pass 2^63, but clamp rather than wrap negative. */
static void result_u64(sqlite3_context *ctx, uint64_t x) {
  sqlite3_result_int64(ctx, x > (uint64_t)INT64_MAX ? INT64_MAX
                                                    : (sqlite3_int64)x);
}

static int stats_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx,
                        int col) {
  stats_cursor *c = (stats_cursor *)cur;
  const lsm_stats *s = &c->st;
  const lsm_level_stats *l = &s->level[c->row];

  switch (col) {
    case COL_LEVEL:               sqlite3_result_int(ctx, c->row); break;
    case COL_FILES:               sqlite3_result_int(ctx, l->files); break;
    case COL_ENTRIES:             result_u64(ctx, l->entries); break;
    case COL_TOMBSTONES:          result_u64(ctx, l->tombstones); break;
    case COL_BYTES:               result_u64(ctx, l->bytes); break;
    case COL_MEMTABLE_BYTES:      result_u64(ctx, s->memtable_bytes); break;
    case COL_MEMTABLE_ENTRIES:    result_u64(ctx, s->memtable_entries); break;
    case COL_BLOOM_PROBES:        result_u64(ctx, s->bloom_probes); break;
    case COL_BLOOM_NEGATIVES:     result_u64(ctx, s->bloom_negatives); break;
    case COL_USER_BYTES:          result_u64(ctx, s->user_bytes); break;
    case COL_WAL_BYTES:           result_u64(ctx, s->wal_bytes); break;
    case COL_FLUSH_BYTES:         result_u64(ctx, s->flush_bytes); break;
    case COL_COMPACT_READ_BYTES:  result_u64(ctx, s->compact_read_bytes); break;
    case COL_COMPACT_WRITE_BYTES: result_u64(ctx, s->compact_write_bytes); break;
    case COL_FLUSHES:             result_u64(ctx, s->flushes); break;
    case COL_COMPACTIONS:         result_u64(ctx, s->compactions); break;
    case COL_SLOWDOWN_COUNT:      result_u64(ctx, s->slowdown_count); break;
    case COL_SLOWDOWN_MICROS:     result_u64(ctx, s->slowdown_micros); break;
    case COL_STOP_COUNT:          result_u64(ctx, s->stop_count); break;
    case COL_STOP_MICROS:         result_u64(ctx, s->stop_micros); break;
    case COL_TBL:
      sqlite3_result_text(ctx, c->tbl, -1, SQLITE_TRANSIENT);
      break;
    case COL_SCHEMA:
      sqlite3_result_text(ctx, c->schema, -1, SQLITE_TRANSIENT);
      break;
    default:
      sqlite3_result_null(ctx);
      break;
  }
  return SQLITE_OK;
}

static int stats_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid) {
  *rowid = ((stats_cursor *)cur)->row;
  return SQLITE_OK;
}

/* Designated initialisers: every method not named is NULL (no xCreate:
** eponymous-only; no xUpdate: read-only; no transactions). */
static const sqlite3_module stats_module = {
  .iVersion = 0,
  .xCreate = NULL,
  .xConnect = stats_connect,
  .xBestIndex = stats_best_index,
  .xDisconnect = stats_disconnect,
  .xOpen = stats_open,
  .xClose = stats_close,
  .xFilter = stats_filter,
  .xNext = stats_next,
  .xEof = stats_eof,
  .xColumn = stats_column,
  .xRowid = stats_rowid,
};

int lsmx_stats_register(sqlite3 *db, lsmx_table_lookup_fn lookup, void *ctx) {
  stats_aux *aux;

  if (lookup == NULL) return SQLITE_MISUSE;
  aux = sqlite3_malloc(sizeof(*aux));
  if (aux == NULL) return SQLITE_NOMEM;
  aux->lookup = lookup;
  aux->ctx = ctx;
  /* SQLite calls the destructor on aux even when registration fails. */
  return sqlite3_create_module_v2(db, "lsm_stats", &stats_module, aux,
                                  sqlite3_free);
}
