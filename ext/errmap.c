/*
** errmap.c — the one place LSM_* status codes become SQLite result codes.
**
** The virtual table returns these from its xMethods; the message itself
** travels separately (zErrMsg / lsm_errmsg()).  Codes with no SQLite
** counterpart (LSM_ERROR and anything unknown) become SQLITE_ERROR.
*/
#include <sqlite3.h>
#include "errmap.h"
#include "lsm.h"

int lsmx_rc_to_sqlite(int lsm_rc) {
  switch (lsm_rc) {
    case LSM_OK:       return SQLITE_OK;
    case LSM_BUSY:     return SQLITE_BUSY;
    case LSM_NOMEM:    return SQLITE_NOMEM;
    case LSM_IOERR:    return SQLITE_IOERR;
    case LSM_CORRUPT:  return SQLITE_CORRUPT;
    case LSM_NOTFOUND: return SQLITE_NOTFOUND;
    case LSM_MISUSE:   return SQLITE_MISUSE;
    case LSM_READONLY: return SQLITE_READONLY;
    default:           return SQLITE_ERROR;
  }
}
