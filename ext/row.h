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
#include <string.h>

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
/* Decode columns 0..n-1 into out[] in one pass; columns whose bit in
** `wanted` is clear are skipped without decoding (left NULL). */
int lsmx_row_columns(const lsmx_row *row, lsmx_value *out, int n,
                     sqlite3_uint64 wanted);


/* ------------------------------------------------------------------ */
/* Reading one column, inline like lsmx_row_parse: a scan reads a column of
** every row, and a call would cost about as much as the reading. */

#define LSMX_ROW_NULL    0
#define LSMX_ROW_INTEGER 1
#define LSMX_ROW_REAL    2
#define LSMX_ROW_TEXT    3
#define LSMX_ROW_BLOB    4

static inline int64_t lsmx_row_unzigzag(uint64_t u) {
  uint64_t x = (u >> 1) ^ (~(u & 1) + 1);  /* all ones when u is odd */
  if (x <= (uint64_t)INT64_MAX) return (int64_t)x;
  return -(int64_t)(~x) - 1;
}

/* Read (decode != 0) or step over one column at *pp. */
LSM_HOT_INLINE int lsmx_row_read_column(const unsigned char **pp,
                                        const unsigned char *end, int decode,
                                        lsmx_value *out) {
  const unsigned char *p = *pp;
  uint64_t u;
  unsigned char type;

  if (p >= end) return LSM_CORRUPT;
  type = *p++;
  if (decode) memset(out, 0, sizeof *out);
  switch (type) {
    case LSMX_ROW_NULL:
      if (decode) out->type = SQLITE_NULL;
      break;
    case LSMX_ROW_INTEGER:
      p = lsm_varint_get(p, end, &u);
      if (p == NULL) return LSM_CORRUPT;
      if (decode) {
        out->type = SQLITE_INTEGER;
        out->i = lsmx_row_unzigzag(u);
      }
      break;
    case LSMX_ROW_REAL:
      if (end - p < 8) return LSM_CORRUPT;
      if (decode) {
        u = lsm_get_u64(p);
        out->type = SQLITE_FLOAT;
        memcpy(&out->r, &u, sizeof out->r);
      }
      p += 8;
      break;
    case LSMX_ROW_TEXT:
    case LSMX_ROW_BLOB:
      p = lsm_varint_get(p, end, &u);
      if (p == NULL || u > (uint64_t)(end - p)) return LSM_CORRUPT;
      if (decode) {
        out->type = type == LSMX_ROW_TEXT ? SQLITE_TEXT : SQLITE_BLOB;
        /* TEXT gets a non-NULL pointer even when empty (key.c convention);
        ** p is inside or at the end of the caller's buffer. */
        out->p = p;
        out->n = (size_t)u;
      }
      p += u;
      break;
    default:
      return LSM_CORRUPT;
  }
  *pp = p;
  return LSM_OK;
}

/* Column i (0-based among non-key columns); a column past n_cols is NULL.
** Walks from the start: callers wanting several columns use
** lsmx_row_columns.  LSM_CORRUPT if malformed. */
LSM_HOT_INLINE int lsmx_row_column(const lsmx_row *row, int i, lsmx_value *out) {
  const unsigned char *p = row->p;
  int j, rc;

  if (i < 0 || out == NULL) return LSM_MISUSE;
  memset(out, 0, sizeof *out);
  out->type = SQLITE_NULL;
  if (i >= row->n_cols) return LSM_OK;     /* added after the row was written */
  if (p == NULL) return LSM_CORRUPT;
  for (j = 0; j < i; j++) {
    rc = lsmx_row_read_column(&p, row->end, 0, NULL);
    if (rc != LSM_OK) return rc;
  }
  rc = lsmx_row_read_column(&p, row->end, 1, out);
  if (rc != LSM_OK) return rc;
  if (i == row->n_cols - 1 && p != row->end) return LSM_CORRUPT;
  return LSM_OK;
}

#endif /* LSMX_ROW_H */
