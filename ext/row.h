/*
** row.h — encoding of a table row as the engine value.
**
** The key columns live in the engine key (key.h); the value holds:
**
**   varint real_mask   bit i set when key column i holds a REAL (the key
**                      encoding cannot tell 3 from 3.0)
**   varint n_cols      number of non-key columns encoded
**   per column, in declaration order:
**     u8 type          0 NULL, 1 INTEGER, 2 REAL, 3 TEXT, 4 BLOB
**     INTEGER          zigzag varint
**     REAL             8 bytes, IEEE double little-endian
**     TEXT, BLOB       varint length, bytes
**
** A decoder given fewer columns than the table has reads the missing ones
** as NULL (room for ADD COLUMN); every length is bounds-checked.
*/
#ifndef LSMX_ROW_H
#define LSMX_ROW_H

#include <limits.h>

#include "key.h"
#include "coding.h"

/* Encode: out is reset first. */
int lsmx_row_encode(lsm_buffer *out, sqlite3_uint64 real_mask,
                    const lsmx_value *cols, int n_cols);
int lsmx_row_encode_sqlite(lsm_buffer *out, sqlite3_uint64 real_mask,
                           sqlite3_value **cols, int n_cols);

/* A parsed row: offsets of each column, filled lazily up to the highest
** column asked for so that only the columns used are decoded. */
typedef struct lsmx_row {
  const unsigned char *p, *end;
  sqlite3_uint64 real_mask;
  int n_cols;                /* columns present in the encoding */
} lsmx_row;

/* LSM_CORRUPT if the header is malformed.  Inline: a scan parses every
** row's header, and the two varints cost less than a call. */
static inline int lsmx_row_parse(lsmx_row *row, const unsigned char *p, size_t n) {
  const unsigned char *end;
  uint64_t mask, n_cols;

  row->p = row->end = NULL;
  row->real_mask = 0;
  row->n_cols = 0;
  if (p == NULL) return n == 0 ? LSM_CORRUPT : LSM_MISUSE;
  end = p + n;
  p = lsm_varint_get(p, end, &mask);
  if (p == NULL) return LSM_CORRUPT;
  p = lsm_varint_get(p, end, &n_cols);
  if (p == NULL) return LSM_CORRUPT;
  /* Every column takes at least its type byte. */
  if (n_cols > (uint64_t)(end - p) || n_cols > INT_MAX) return LSM_CORRUPT;
  row->p = p;
  row->end = end;
  row->real_mask = mask;
  row->n_cols = (int)n_cols;
  return LSM_OK;
}
/* Column i (0-based among non-key columns); a column past n_cols is NULL.
** Walks from the start: callers wanting several columns use
** lsmx_row_columns.  LSM_CORRUPT if malformed. */
int lsmx_row_column(const lsmx_row *row, int i, lsmx_value *out);
/* Decode columns 0..n-1 into out[] in one pass; columns whose bit in
** `wanted` is clear are skipped without decoding (left NULL). */
int lsmx_row_columns(const lsmx_row *row, lsmx_value *out, int n,
                     sqlite3_uint64 wanted);

#endif /* LSMX_ROW_H */
