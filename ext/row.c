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
** they live as long as the buffer given to lsmx_row_parse.  This file makes
** no SQLite calls (lsmx_value_from_sqlite is in key.c).
*/
#include "row.h"
#include "coding.h"

#include <limits.h>
#include <string.h>

#define ROW_NULL    0
#define ROW_INTEGER 1
#define ROW_REAL    2
#define ROW_TEXT    3
#define ROW_BLOB    4

static uint64_t zigzag(int64_t i) {
  uint64_t u = (uint64_t)i;
  return (u << 1) ^ (i < 0 ? ~(uint64_t)0 : 0);
}

static int64_t unzigzag(uint64_t u) {
  uint64_t x = (u >> 1) ^ (~(u & 1) + 1);  /* all ones when u is odd */
  if (x <= (uint64_t)INT64_MAX) return (int64_t)x;
  return -(int64_t)(~x) - 1;
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
      buf[0] = ROW_INTEGER;
      n += lsm_varint_put(buf + 1, zigzag(v->i));
      return lsm_buffer_append(out, buf, n);
    case SQLITE_FLOAT:
      buf[0] = ROW_REAL;
      memcpy(&bits, &v->r, sizeof bits);
      lsm_put_u64(buf + 1, bits);
      return lsm_buffer_append(out, buf, 9);
    case SQLITE_TEXT:
    case SQLITE_BLOB:
      if (v->p == NULL && v->n > 0) return LSM_NOMEM;   /* see key.c */
      buf[0] = v->type == SQLITE_TEXT ? ROW_TEXT : ROW_BLOB;
      n += lsm_varint_put(buf + 1, (uint64_t)v->n);
      rc = lsm_buffer_append(out, buf, n);
      if (rc == LSM_OK && v->n > 0) rc = lsm_buffer_append(out, v->p, v->n);
      return rc;
    default:
      buf[0] = ROW_NULL;
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

/* Read (decode != 0) or step over one column at *pp.  Inline: it is the
** whole per-column cost of a scan, and a call would be a good part of it. */
LSM_HOT_INLINE int read_column(const unsigned char **pp, const unsigned char *end,
                       int decode, lsmx_value *out) {
  const unsigned char *p = *pp;
  uint64_t u;
  unsigned char type;

  if (p >= end) return LSM_CORRUPT;
  type = *p++;
  if (decode) memset(out, 0, sizeof *out);
  switch (type) {
    case ROW_NULL:
      if (decode) out->type = SQLITE_NULL;
      break;
    case ROW_INTEGER:
      p = lsm_varint_get(p, end, &u);
      if (p == NULL) return LSM_CORRUPT;
      if (decode) {
        out->type = SQLITE_INTEGER;
        out->i = unzigzag(u);
      }
      break;
    case ROW_REAL:
      if (end - p < 8) return LSM_CORRUPT;
      if (decode) {
        u = lsm_get_u64(p);
        out->type = SQLITE_FLOAT;
        memcpy(&out->r, &u, sizeof out->r);
      }
      p += 8;
      break;
    case ROW_TEXT:
    case ROW_BLOB:
      p = lsm_varint_get(p, end, &u);
      if (p == NULL || u > (uint64_t)(end - p)) return LSM_CORRUPT;
      if (decode) {
        out->type = type == ROW_TEXT ? SQLITE_TEXT : SQLITE_BLOB;
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
    rc = read_column(&p, row->end, is_wanted(wanted, i), &out[i]);
    if (rc != LSM_OK) return rc;
  }
  /* Having walked every encoded column, nothing may follow. */
  if (i == row->n_cols && p != row->end) return LSM_CORRUPT;
  return LSM_OK;
}

int lsmx_row_column(const lsmx_row *row, int i, lsmx_value *out) {
  const unsigned char *p = row->p;
  int j, rc;

  if (i < 0 || out == NULL) return LSM_MISUSE;
  memset(out, 0, sizeof *out);
  out->type = SQLITE_NULL;
  if (i >= row->n_cols) return LSM_OK;     /* added after the row was written */
  if (p == NULL) return LSM_CORRUPT;
  for (j = 0; j < i; j++) {
    rc = read_column(&p, row->end, 0, NULL);
    if (rc != LSM_OK) return rc;
  }
  rc = read_column(&p, row->end, 1, out);
  if (rc != LSM_OK) return rc;
  if (i == row->n_cols - 1 && p != row->end) return LSM_CORRUPT;
  return LSM_OK;
}
