/*
** affinity.h — SQLite's column affinity, applied by the lsm module itself.
**
** SQLite hands a virtual table the raw values of an INSERT, an UPDATE or a
** constraint: no affinity has been applied (it does that only for native
** tables).  The lsm module applies each column's affinity before encoding a
** value, so stored values, key equality and key order are those of a native
** table with the same declared types (datatype3.html, sections 3 and 4.2):
**
**   'A' BLOB / none   values stay as they are
**   'B' TEXT          integers and reals become their text
**   'C' NUMERIC       text that is a well-formed number becomes that number
**                     (hex stays text); a real that is an exact integer in
**                     (INT64_MIN, INT64_MAX) becomes an integer
**   'D' INTEGER       as NUMERIC
**   'E' REAL          as NUMERIC, then integers become reals (a native REAL
**                     PRIMARY KEY stores 2^53+1 as the real 2^53 too, and a
**                     lookup converts its argument the same way)
**
** The conversions use SQLite's own routines (sqlite3_value_numeric_type,
** sqlite3_value_text), so number <-> text spellings match SQLite's.
*/
#ifndef LSMX_AFFINITY_H
#define LSMX_AFFINITY_H

#include <sqlite3.h>
#include "key.h"

/* Apply affinity aff to in.  *out may point into a converted copy returned
** in *holder (NULL if none was needed), which the caller releases with
** sqlite3_value_free() once done with *out.  LSM_OK or LSM_NOMEM. */
int lsmx_affinity_apply(sqlite3_value *in, char aff, lsmx_value *out,
                        sqlite3_value **holder);

/* SQLite's test for a real that converts to an integer without loss
** (sqlite3VdbeIntegerAffinity): integral and strictly between INT64_MIN
** and INT64_MAX.  Sets *out when true. */
int lsmx_real_is_int(double r, sqlite3_int64 *out);

/* A rowid value as SQLite's OP_MustBeInt sees it: NUMERIC affinity, then
** it must be an INTEGER.  Returns 1 and sets *out, or 0 ("datatype
** mismatch"); NULL gives 0 too (callers decide what NULL means). */
int lsmx_value_to_rowid(sqlite3_value *in, sqlite3_int64 *out);

#endif /* LSMX_AFFINITY_H */
