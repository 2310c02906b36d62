/*
** affinity.c — SQLite's column affinity for the lsm module (affinity.h).
*/
#include "sqlite_api.h"
#include "affinity.h"
#include "lsm.h"

#include <stdint.h>

int lsmx_real_is_int(double r, sqlite3_int64 *out) {
  sqlite3_int64 ix;
  if (!(r > -9223372036854775808.0 && r < 9223372036854775808.0)) return 0;
  ix = (sqlite3_int64)r;
  if ((double)ix != r || ix == INT64_MIN || ix == INT64_MAX) return 0;
  *out = ix;
  return 1;
}

int lsmx_affinity_apply(sqlite3_value *in, char aff, lsmx_value *out,
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
        if (!z) {
          sqlite3_value_free(d);
          return LSM_NOMEM;
        }
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
        if (lsmx_real_is_int(out->r, &ix)) {
          out->type = SQLITE_INTEGER;
          out->i = ix;
        }
      } else if (out->type == SQLITE_INTEGER && aff == 'E') {
        out->type = SQLITE_FLOAT;
        out->r = (double)out->i;
      } else if (out->type == SQLITE_FLOAT && out->r == 0.0) {
        /* A REAL column stores an integral real as an integer, so -0.0
        ** reads back as 0.0. */
        out->r = 0.0;
      }
      break;
    default: /* 'A': BLOB or no affinity */
      break;
  }
  return LSM_OK;
}

int lsmx_value_to_rowid(sqlite3_value *in, sqlite3_int64 *out) {
  lsmx_value v;
  sqlite3_value *holder = NULL;
  int ok = 0;
  if (lsmx_affinity_apply(in, 'D', &v, &holder) == LSM_OK &&
      v.type == SQLITE_INTEGER) {
    *out = v.i;
    ok = 1;
  }
  sqlite3_value_free(holder);
  return ok;
}
