/*
** sqlite_api.h — how the ext/ helpers reach the SQLite API.
**
** The ext/ objects are linked into lsm_vtab.so, a loadable extension.  A
** loadable extension must not call libsqlite3's symbols directly (the host
** may have SQLite linked statically, or several copies): every call goes
** through the routine table SQLite hands to the extension's init function.
** sqlite3ext.h turns each sqlite3_xxx() call into sqlite3_api->xxx(), and
** SQLITE_EXTENSION_INIT3 declares the table pointer as extern.
**
** Who defines sqlite3_api:
**   - lsm_vtab.so: lsm_vtab.c (SQLITE_EXTENSION_INIT1), set by its init
**     function with SQLITE_EXTENSION_INIT2;
**   - unit-test programs: unit-tests/ext_test_support.c, set by
**     lsmx_test_init_sqlite_api() before any ext/ function runs.
** So one object file per ext/ source file serves both, with no special flags.
**
** Include this first in every ext/ source file that calls SQLite functions; headers
** that only need SQLite's types include <sqlite3.h> (same declarations).
*/
#ifndef LSMX_SQLITE_API_H
#define LSMX_SQLITE_API_H

#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT3

#endif /* LSMX_SQLITE_API_H */
