/*
** ext_test_support.h — lets unit tests call the ext/ helpers.
**
** The ext/ objects call SQLite through the extension routine table
** `sqlite3_api` (see ext/sqlite_api.h).  In lsm_vtab.so, lsm_vtab.c defines
** and sets it.  Unit-test programs have no lsm_vtab.c, so
** ext_test_support.c defines it, and lsmx_test_init_sqlite_api() points it
** at the real table of the libsqlite3 the test links against.  Call it
** once in main() before running a suite that uses ext/ code (forked test
** cases inherit it).
*/
#ifndef LSMX_EXT_TEST_SUPPORT_H
#define LSMX_EXT_TEST_SUPPORT_H

/* Returns SQLITE_OK, or an SQLite error code if the table could not be
** obtained. */
int lsmx_test_init_sqlite_api(void);

#endif /* LSMX_EXT_TEST_SUPPORT_H */
