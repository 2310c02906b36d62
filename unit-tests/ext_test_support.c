/*
** ext_test_support.c — defines the extension routine table pointer for
** unit-test programs and fills it from libsqlite3 (ext_test_support.h).
**
** The Makefile links every unit-tests/ file not named test_*.c into every
** test program, including those that never touch ext/ code.  That is what
** we need: the ext/ objects are in every program and reference
** `sqlite3_api`, so exactly one definition must exist there.  This file
** defines nothing else with external linkage but lsmx_test_init_sqlite_api.
**
** How the table is obtained: SQLite passes it to every extension entry
** point.  We register an auto-extension whose entry point records it, open
** an in-memory database (which runs the entry point), then unregister it.
** This file includes <sqlite3.h>, not sqlite3ext.h, so the calls below go
** straight to libsqlite3.
*/
#include <stddef.h>
#include <sqlite3.h>
#include "ext_test_support.h"

/* Declared extern by SQLITE_EXTENSION_INIT3 in ext/sqlite_api.h. */
const sqlite3_api_routines *sqlite3_api = 0;

static int capture_api(sqlite3 *db, char **errmsg,
                       const sqlite3_api_routines *api) {
  (void)db;
  (void)errmsg;
  sqlite3_api = api;
  return SQLITE_OK;
}

int lsmx_test_init_sqlite_api(void) {
  sqlite3 *db = NULL;
  /* The C standard has no conversion between function pointer types
  ** through void(*)(void) other than a cast; this is the signature SQLite
  ** documents for sqlite3_auto_extension. */
  void (*entry)(void) = (void (*)(void))capture_api;
  int rc;

  if (sqlite3_api != 0) return SQLITE_OK;
  rc = sqlite3_auto_extension(entry);
  if (rc != SQLITE_OK) return rc;
  rc = sqlite3_open(":memory:", &db);
  sqlite3_close(db);
  sqlite3_cancel_auto_extension(entry);
  if (rc == SQLITE_OK && sqlite3_api == 0) rc = SQLITE_ERROR;
  return rc;
}

