/*
** row.c — encoding of a table row (its non-key columns) as the engine value.
**
** Byte layout (row.h):
**
**   varint real_mask   bit i set when key column i holds a REAL
**   varint n_cols      number of non-key columns encoded
**   per column, in declaration order:
**     u8 type          0 NULL, 1 INTEGER, 2 REAL, 3 TEXT, 4 BLOB
**     INTEGER          zigzag varint ((i << 1) ^ (i >> 63))
**     REAL             8 bytes, IEEE double little-endian
**     TEXT, BLOB       varint length, then the bytes
**
** Rows come from disk, so the decoder trusts nothing: every varint is
** bounded by the end of the value, every length is checked against the
** bytes left, unknown type bytes are corrupt, and once the walk has covered
** all n_cols columns the value must end exactly there.  Columns past n_cols
** (added to the table after the row was written) read as NULL.
**
** The decoder returns TEXT/BLOB pointers into the row bytes themselves, so
** they live as long as the buffer given to lsmx_row_parse.  The header
** parse and the one-column reader are inline in row.h (a scan runs them
** for every row); this file has the encoders and the several-column
** decoder.  No SQLite calls here (lsmx_value_from_sqlite is in key.c).
*/
#include "row.h"
#include "coding.h"

#include <limits.h>
#include <string.h>

static uint64_t zigzag(int64_t i) {
  uint64_t u = (uint64_t)i;
  return (u << 1) ^ (i < 0 ? ~(uint64_t)0 : 0);
}

/* Append one column.  The buffer may be partly extended on LSM_NOMEM; the
** caller discards the whole row then. */
static int append_column(lsm_buffer *out, const lsmx_value *v) {
  unsigned char buf[1 + LSM_MAX_VARINT64];
  size_t n = 1;
  uint64_t bits;
  int rc;

  switch (v->type) {
    case SQLITE_INTEGER:
      buf[0] = LSMX_ROW_INTEGER;
      n += lsm_varint_put(buf + 1, zigzag(v->i));
      return lsm_buffer_append(out, buf, n);
    case SQLITE_FLOAT:
      buf[0] = LSMX_ROW_REAL;
      memcpy(&bits, &v->r, sizeof bits);
      lsm_put_u64(buf + 1, bits);
      return lsm_buffer_append(out, buf, 9);
    case SQLITE_TEXT:
    case SQLITE_BLOB:
      if (v->p == NULL && v->n > 0) return LSM_NOMEM;   /* see key.c */
      buf[0] = v->type == SQLITE_TEXT ? LSMX_ROW_TEXT : LSMX_ROW_BLOB;
      n += lsm_varint_put(buf + 1, (uint64_t)v->n);
      rc = lsm_buffer_append(out, buf, n);
      if (rc == LSM_OK && v->n > 0) rc = lsm_buffer_append(out, v->p, v->n);
      return rc;
    default:
      buf[0] = LSMX_ROW_NULL;
      return lsm_buffer_append(out, buf, 1);
  }
}

static int append_header(lsm_buffer *out, sqlite3_uint64 real_mask,
                         int n_cols) {
  int rc;
  out->len = 0;
  rc = lsm_buffer_append_varint(out, real_mask);
  if (rc == LSM_OK) rc = lsm_buffer_append_varint(out, (uint64_t)n_cols);
  return rc;
}

int lsmx_row_encode(lsm_buffer *out, sqlite3_uint64 real_mask,
                    const lsmx_value *cols, int n_cols) {
  int rc, i;
  if (n_cols < 0) return LSM_MISUSE;
  rc = append_header(out, real_mask, n_cols);
  for (i = 0; rc == LSM_OK && i < n_cols; i++) rc = append_column(out, &cols[i]);
  return rc;
}

int lsmx_row_encode_sqlite(lsm_buffer *out, sqlite3_uint64 real_mask,
                           sqlite3_value **cols, int n_cols) {
  int rc, i;
  if (n_cols < 0) return LSM_MISUSE;
  rc = append_header(out, real_mask, n_cols);
  for (i = 0; rc == LSM_OK && i < n_cols; i++) {
    lsmx_value v;
    lsmx_value_from_sqlite(&v, cols[i]);
    rc = append_column(out, &v);
  }
  return rc;
}

/* Whether column i is in `wanted`.  As in SQLite's colUsed, bit 63 stands
** for column 63 and every column after it. */
static int is_wanted(sqlite3_uint64 wanted, int i) {
  return (int)((wanted >> (i < 63 ? i : 63)) & 1);
}

int lsmx_row_columns(const lsmx_row *row, lsmx_value *out, int n,
                     sqlite3_uint64 wanted) {
  const unsigned char *p = row->p;
  int i, rc;

  if (n < 0 || (n > 0 && out == NULL)) return LSM_MISUSE;
  for (i = 0; i < n; i++) {
    memset(&out[i], 0, sizeof out[i]);
    out[i].type = SQLITE_NULL;
  }
  if (row->n_cols > 0 && p == NULL) return LSM_CORRUPT;
  for (i = 0; i < n && i < row->n_cols; i++) {
    rc = lsmx_row_read_column(&p, row->end, is_wanted(wanted, i), &out[i]);
    if (rc != LSM_OK) return rc;
  }
  /* Having walked every encoded column, nothing may follow. */
  if (i == row->n_cols && p != row->end) return LSM_CORRUPT;
  return LSM_OK;
}
