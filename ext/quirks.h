/*
** quirks.h — run-time checks of SQLite behaviours the lsm module depends
** on but that differ between SQLite versions.
**
** LIMIT/OFFSET pushdown.  Since 3.38 SQLite may hand a virtual table the
** LIMIT and OFFSET of a query (SQLITE_INDEX_CONSTRAINT_LIMIT / _OFFSET),
** meant to be offered only when every WHERE term reaches xBestIndex.  Some
** versions (3.40 among them) also offer them when a term compares two
** columns of the table (`WHERE v >= w`: never passed to xBestIndex, checked
** by SQLite after the cursor), or to one arm of a compound SELECT; a
** cursor that stopped after LIMIT rows would then lose rows.  Rather than
** trusting a version number, lsmx_limit_pushdown_safe() asks the SQLite in
** use: it prepares such queries against a throw-away eponymous virtual
** table and watches what its xBestIndex is offered.
*/
#ifndef LSMX_QUIRKS_H
#define LSMX_QUIRKS_H

#include <sqlite3.h>

/* 1 if db's SQLite offers LIMIT/OFFSET only when they are safe to apply in
** the cursor, 0 otherwise (or if the check itself failed). */
int lsmx_limit_pushdown_safe(sqlite3 *db);

#endif /* LSMX_QUIRKS_H */
