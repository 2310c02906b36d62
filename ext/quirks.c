/*
** quirks.c — run-time checks of SQLite behaviours (quirks.h).
**
** The probe is an eponymous-only virtual table "lsm_quirk_probe" (columns
** a, b) registered for the duration of the check and removed again.  Its
** xBestIndex records whether a LIMIT or OFFSET constraint was offered;
** nothing is ever stepped, so the cursor methods only need to exist.
*/
#include "sqlite_api.h"
#include "quirks.h"

#include <string.h>

#define PROBE_NAME "lsm_quirk_probe"

typedef struct probe_vtab {
  sqlite3_vtab base;
  int *offered;              /* set when LIMIT/OFFSET reach xBestIndex */
} probe_vtab;

static int probe_connect(sqlite3 *db, void *aux, int argc,
                         const char *const *argv, sqlite3_vtab **pp,
                         char **err) {
  probe_vtab *v;
  int rc = sqlite3_declare_vtab(db, "CREATE TABLE x(a, b)");
  (void)argc; (void)argv; (void)err;
  if (rc != SQLITE_OK) return rc;
  v = sqlite3_malloc(sizeof(*v));
  if (!v) return SQLITE_NOMEM;
  memset(v, 0, sizeof(*v));
  v->offered = (int *)aux;
  *pp = &v->base;
  return SQLITE_OK;
}

static int probe_disconnect(sqlite3_vtab *p) {
  sqlite3_free(p);
  return SQLITE_OK;
}

static int probe_best_index(sqlite3_vtab *p, sqlite3_index_info *info) {
  probe_vtab *v = (probe_vtab *)p;
  int i;
  for (i = 0; i < info->nConstraint; i++) {
#ifdef SQLITE_INDEX_CONSTRAINT_LIMIT
    if (info->aConstraint[i].op == SQLITE_INDEX_CONSTRAINT_LIMIT ||
        info->aConstraint[i].op == SQLITE_INDEX_CONSTRAINT_OFFSET) {
      *v->offered = 1;
    }
#endif
  }
  info->estimatedCost = 1e6;
  return SQLITE_OK;
}

static int probe_open(sqlite3_vtab *p, sqlite3_vtab_cursor **pp) {
  sqlite3_vtab_cursor *c = sqlite3_malloc(sizeof(*c));
  (void)p;
  if (!c) return SQLITE_NOMEM;
  memset(c, 0, sizeof(*c));
  *pp = c;
  return SQLITE_OK;
}

static int probe_close(sqlite3_vtab_cursor *c) {
  sqlite3_free(c);
  return SQLITE_OK;
}

static int probe_filter(sqlite3_vtab_cursor *c, int n, const char *s, int argc,
                        sqlite3_value **argv) {
  (void)c; (void)n; (void)s; (void)argc; (void)argv;
  return SQLITE_OK;
}

static int probe_next(sqlite3_vtab_cursor *c) {
  (void)c;
  return SQLITE_OK;
}

static int probe_eof(sqlite3_vtab_cursor *c) {
  (void)c;
  return 1;
}

static int probe_column(sqlite3_vtab_cursor *c, sqlite3_context *ctx, int i) {
  (void)c; (void)ctx; (void)i;
  return SQLITE_OK;
}

static int probe_rowid(sqlite3_vtab_cursor *c, sqlite3_int64 *r) {
  (void)c;
  *r = 0;
  return SQLITE_OK;
}

static sqlite3_module probe_module = {
  0, NULL, probe_connect, probe_best_index, probe_disconnect, NULL,
  probe_open, probe_close, probe_filter, probe_next, probe_eof, probe_column,
  probe_rowid, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
  NULL,
#if SQLITE_VERSION_NUMBER >= 3044000
  NULL,
#endif
};

/* Does preparing sql offer LIMIT/OFFSET to the probe?  -1 if it failed. */
static int offered_by(sqlite3 *db, const char *sql, int *offered) {
  sqlite3_stmt *st = NULL;
  int rc;
  *offered = 0;
  rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
  sqlite3_finalize(st);
  return rc == SQLITE_OK ? *offered : -1;
}

int lsmx_limit_pushdown_safe(sqlite3 *db) {
  int offered = 0, safe = 0;
  if (sqlite3_libversion_number() < 3038000) return 0;
  if (sqlite3_create_module_v2(db, PROBE_NAME, &probe_module, &offered,
                               NULL) != SQLITE_OK) {
    return 0;
  }
  /* Offered at all (the check works)?  Then it must not be offered past
  ** a term the table never sees, nor into an arm of a compound. */
  if (offered_by(db, "SELECT a FROM " PROBE_NAME " LIMIT 5", &offered) == 1 &&
      offered_by(db, "SELECT a FROM " PROBE_NAME " WHERE a >= b LIMIT 5",
                 &offered) == 0 &&
      offered_by(db, "SELECT a FROM " PROBE_NAME " UNION ALL SELECT a FROM "
                     PROBE_NAME " LIMIT 5 OFFSET 1", &offered) == 0) {
    safe = 1;
  }
  /* A NULL module removes the registration (and the eponymous table). */
  sqlite3_create_module_v2(db, PROBE_NAME, NULL, NULL, NULL);
  return safe;
}
