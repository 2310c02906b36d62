/*
** key.h — order-preserving encoding of SQLite values as engine keys.
**
** The engine orders keys by memcmp.  This encoding makes memcmp order equal
** SQLite's order of the values (BINARY collation): NULL < numbers < TEXT <
** BLOB, integers and reals compared numerically (1 and 1.0 encode the same).
** A key of several columns is the concatenation of its columns' encodings;
** each encoding is self-delimiting, so concatenation orders
** lexicographically by column.
**
**   NULL     0x05
**   number   0x15, then 8 bytes: the value as an IEEE double d (for an
**            integer, the nearest double), order-flipped (sign bit set for
**            d >= 0, all bits inverted for d < 0), big-endian.  When
**            |d| >= 2^53 the double may not hold an integer exactly, so 8
**            more bytes follow: delta = value - d as a signed 64-bit integer
**            with its sign bit flipped, big-endian (0 for reals).  Both
**            sides of a comparison with equal d carry the same layout, and
**            (d, delta) orders as the exact value.  -0.0 encodes as 0.0.
**   TEXT     0x25, bytes with 0x00 escaped as 0x00 0xFF, then 0x00 0x00
**   BLOB     0x35, bytes escaped likewise, then 0x00 0x00
**
** Decoding a number yields an INTEGER when d is integral and the exact
** value fits in 64 bits, else a REAL; the row stores which key columns were
** REAL (row.h) so a REAL 3.0 reads back as REAL.
*/
#ifndef LSMX_KEY_H
#define LSMX_KEY_H

#include <sqlite3.h>
#include "../lsm/lsm.h"

#define LSMX_KEY_NULL 0x05
#define LSMX_KEY_NUM  0x15
#define LSMX_KEY_TEXT 0x25
#define LSMX_KEY_BLOB 0x35

/* A decoded or to-be-encoded SQLite value, without a sqlite3_value. */
typedef struct lsmx_value {
  int type;                  /* SQLITE_NULL, _INTEGER, _FLOAT, _TEXT, _BLOB */
  sqlite3_int64 i;
  double r;
  const unsigned char *p;    /* TEXT/BLOB bytes (borrowed) */
  size_t n;
} lsmx_value;

/* Append the encoding of one value.  LSM_OK or LSM_NOMEM.  A NaN real
** encodes as NULL (SQLite turns NaN into NULL). */
int lsmx_key_append(lsm_buffer *out, const lsmx_value *v);
int lsmx_key_append_sqlite(lsm_buffer *out, sqlite3_value *v);
int lsmx_key_append_int(lsm_buffer *out, sqlite3_int64 i);

/* Decode the value starting at *pp (before end), advance *pp past it.
** TEXT/BLOB bytes are unescaped into scratch (reset first; v->p points
** into it, so decode one value per scratch buffer you keep) or, when
** nothing in them is escaped, v->p points into the input itself: v is
** valid as long as both the input and scratch are.
** LSM_CORRUPT if the bytes are not a valid encoding. */
int lsmx_key_decode(const unsigned char **pp, const unsigned char *end,
                    lsmx_value *v, lsm_buffer *scratch);

/* Bytes of the encoded value starting at p (for skipping a column);
** 0 if malformed. */
size_t lsmx_key_skip(const unsigned char *p, const unsigned char *end);

/* Set sqlite3 result / bind helpers. */
void lsmx_value_result(sqlite3_context *ctx, const lsmx_value *v);
void lsmx_value_from_sqlite(lsmx_value *out, sqlite3_value *v);

#endif /* LSMX_KEY_H */
