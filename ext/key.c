/*
** key.c — order-preserving encoding of SQLite values as engine keys.
**
** The engine orders keys with memcmp; the virtual table needs them in
** SQLite's order (BINARY collation).  key.h gives the byte layout:
**
**   NULL     0x05
**   number   0x15, 8-byte order-flipped big-endian double d,
**            then, only when |d| >= 2^53, 8-byte delta = value - d
**            (signed, sign bit flipped, big-endian; 0 for reals)
**   TEXT     0x25, bytes with 0x00 -> 0x00 0xFF, then 0x00 0x00
**   BLOB     0x35, same escaping, then 0x00 0x00
**
** Why numbers order correctly: d is the value rounded to the nearest
** double, and rounding is monotonic, so d_a < d_b implies a < b.  When
** d_a == d_b both encodings have the same layout (the layout depends on d
** alone).  Below 2^53 every integer is exact, so equal d means equal
** values.  From 2^53 up every double is an integer, the exact value is
** d + delta, and the flipped big-endian delta compares as a signed number.
**
** Why TEXT/BLOB order correctly: the terminator 0x00 0x00 is smaller than
** any continuation (0x00 0xFF for a zero byte, or a nonzero byte), so a
** proper prefix sorts first; an escaped 0x00 still sorts below every other
** byte.  Each encoding is self-delimiting, so concatenated column encodings
** order lexicographically by column.
**
** The decoder accepts exactly the encodings the encoder can produce (no
** NaN, no -0.0, no delta that does not round back to d, every escape
** well-formed) and reports anything else as LSM_CORRUPT: key bytes come
** from disk.
**
** Convention for lsmx_value TEXT/BLOB: p may be NULL only when n == 0.
** p == NULL with n > 0 marks bytes SQLite could not produce (out of
** memory in sqlite3_value_text()); encoders report it as LSM_NOMEM.
*/
#include "sqlite_api.h"
#include "key.h"
#include "coding.h"

#include <math.h>
#include <string.h>

#define TWO53 9007199254740992.0           /* 2^53 */
#define TWO63 9223372036854775808.0        /* 2^63 */
#define SIGN64 ((uint64_t)1 << 63)

static void put_be64(unsigned char *p, uint64_t v) {
  int i;
  for (i = 7; i >= 0; i--) {
    p[i] = (unsigned char)v;
    v >>= 8;
  }
}

static uint64_t get_be64(const unsigned char *p) {
  uint64_t v = 0;
  int i;
  for (i = 0; i < 8; i++) v = (v << 8) | p[i];
  return v;
}

/* The double's bits rearranged so that unsigned comparison orders doubles
** numerically: positive values get the sign bit set, negative values have
** every bit inverted (so larger magnitudes sort lower). */
static uint64_t flip_double(double d) {
  uint64_t bits;
  if (d == 0.0) d = 0.0;                   /* -0.0 encodes as 0.0 */
  memcpy(&bits, &d, sizeof bits);
  return (bits & SIGN64) ? ~bits : (bits | SIGN64);
}

static double unflip_double(uint64_t bits) {
  double d;
  bits = (bits & SIGN64) ? (bits & ~SIGN64) : ~bits;
  memcpy(&d, &bits, sizeof d);
  return d;
}

/* Two's-complement conversions without implementation-defined casts. */
static uint64_t delta_to_u64(int64_t delta) {
  return (uint64_t)delta ^ SIGN64;
}

static int64_t u64_to_delta(uint64_t u) {
  uint64_t x = u ^ SIGN64;
  if (x <= (uint64_t)INT64_MAX) return (int64_t)x;
  return -(int64_t)(~x) - 1;
}

/* Append a number: is_int says whether i (exact) or r is the value. */
static int append_number(lsm_buffer *out, int is_int, int64_t i, double r) {
  unsigned char buf[17];
  size_t n = 9;
  double d = is_int ? (double)i : r;

  buf[0] = LSMX_KEY_NUM;
  put_be64(buf + 1, flip_double(d));
  if (fabs(d) >= TWO53) {
    int64_t delta = 0;
    if (is_int) {
      /* d is integral; for i near INT64_MAX it rounds up to 2^63, which
      ** int64 cannot hold, so compute i - 2^63 as (i - INT64_MAX) - 1. */
      if (d >= TWO63) {
        delta = (i - INT64_MAX) - 1;
      } else {
        delta = i - (int64_t)d;              /* |delta| <= 512: no overflow */
      }
    }
    put_be64(buf + 9, delta_to_u64(delta));
    n = 17;
  }
  return lsm_buffer_append(out, buf, n);
}

/* Append tag, escaped bytes, terminator.  Reserves the worst case (every
** byte a zero) first so the buffer is unchanged on LSM_NOMEM. */
static int append_bytes(lsm_buffer *out, unsigned char tag,
                        const unsigned char *p, size_t n) {
  size_t i, start;
  int rc;
  unsigned char *w;

  if (p == NULL && n > 0) return LSM_NOMEM;
  if (n > (SIZE_MAX - 3) / 2) return LSM_NOMEM;
  rc = lsm_buffer_reserve(out, 1 + 2 * n + 2);
  if (rc != LSM_OK) return rc;

  w = out->data + out->len;
  *w++ = tag;
  start = 0;
  for (i = 0; i < n; i++) {
    if (p[i] == 0x00) {
      memcpy(w, p + start, i - start);
      w += i - start;
      *w++ = 0x00;
      *w++ = 0xFF;
      start = i + 1;
    }
  }
  if (n > start) {
    memcpy(w, p + start, n - start);
    w += n - start;
  }
  *w++ = 0x00;
  *w++ = 0x00;
  out->len = (size_t)(w - out->data);
  return LSM_OK;
}

int lsmx_key_append(lsm_buffer *out, const lsmx_value *v) {
  unsigned char tag;
  switch (v->type) {
    case SQLITE_INTEGER:
      return append_number(out, 1, v->i, 0.0);
    case SQLITE_FLOAT:
      if (isnan(v->r)) break;              /* SQLite stores NaN as NULL */
      return append_number(out, 0, 0, v->r);
    case SQLITE_TEXT:
    case SQLITE_BLOB:
      tag = v->type == SQLITE_TEXT ? LSMX_KEY_TEXT : LSMX_KEY_BLOB;
      return append_bytes(out, tag, v->p, v->n);
    default:
      break;
  }
  tag = LSMX_KEY_NULL;
  return lsm_buffer_append(out, &tag, 1);
}

int lsmx_key_append_sqlite(lsm_buffer *out, sqlite3_value *v) {
  lsmx_value x;
  lsmx_value_from_sqlite(&x, v);
  return lsmx_key_append(out, &x);
}

int lsmx_key_append_int(lsm_buffer *out, sqlite3_int64 i) {
  return append_number(out, 1, i, 0.0);
}

/* Decode a number whose tag is at p[-1]; p..end holds the rest. */
static int decode_number(const unsigned char **pp, const unsigned char *end,
                         lsmx_value *v) {
  const unsigned char *p = *pp;
  double d;
  int64_t delta, di, value;

  if (end - p < 8) return LSM_CORRUPT;
  d = unflip_double(get_be64(p));
  p += 8;
  if (isnan(d)) return LSM_CORRUPT;                    /* never encoded */
  if (d == 0.0 && signbit(d)) return LSM_CORRUPT;      /* -0.0 never encoded */

  if (fabs(d) < TWO53) {
    *pp = p;
    if (d == floor(d)) {
      v->type = SQLITE_INTEGER;
      v->i = (int64_t)d;
      v->r = d;
    } else {
      v->type = SQLITE_FLOAT;
      v->r = d;
      v->i = 0;
    }
    return LSM_OK;
  }

  if (end - p < 8) return LSM_CORRUPT;
  delta = u64_to_delta(get_be64(p));
  p += 8;

  if (delta == 0) {
    /* A real, or an integer exactly equal to d.  Integral (|d| >= 2^53)
    ** and inside [-2^63, 2^63) means it reads back as an INTEGER. */
    *pp = p;
    if (d >= -TWO63 && d < TWO63) {
      v->type = SQLITE_INTEGER;
      v->i = (int64_t)d;
    } else {
      v->type = SQLITE_FLOAT;
      v->i = 0;
    }
    v->r = d;
    return LSM_OK;
  }

  /* Nonzero delta: an integer that d only approximates.  It must fit in
  ** int64 and round to d, or the encoder could not have written it. */
  if (d == TWO63) {
    if (delta > 0) return LSM_CORRUPT;
    value = INT64_MAX + (delta + 1);       /* 2^63 + delta, no overflow */
  } else if (d >= -TWO63 && d < TWO63) {
    di = (int64_t)d;
    if (delta > 0 && di > INT64_MAX - delta) return LSM_CORRUPT;
    if (delta < 0 && di < INT64_MIN - delta) return LSM_CORRUPT;
    value = di + delta;
  } else {
    return LSM_CORRUPT;                    /* infinite or outside int64 */
  }
  if ((double)value != d) return LSM_CORRUPT;
  *pp = p;
  v->type = SQLITE_INTEGER;
  v->i = value;
  v->r = d;
  return LSM_OK;
}

/* Bit 7 of byte i set when byte i of x (in memory order) is 0x00; bits
** above the first zero byte may be set spuriously (a borrow), never below
** it, so the lowest set bit marks the first zero exactly. */
static inline uint64_t zero_bytes(uint64_t x) {
  return (x - 0x0101010101010101ull) & ~x & 0x8080808080808080ull;
}

/* Index in memory order of the first zero byte of the word at p, given
** its nonzero zero_bytes() mask. */
static inline size_t first_zero(const unsigned char *p, uint64_t mask) {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  (void)p;
  return (size_t)__builtin_ctzll(mask) >> 3;
#else
  size_t i = 0;
  (void)mask;
  while (p[i] != 0x00) i++;
  return i;
#endif
}

/* The first 0x00 in [p, end), or NULL.  Keys are mostly short: a look at
** the first few words inline costs less than a call to memchr, which takes
** over past 32 bytes.  A span that ends within those words is finished
** with one word ending at `end`: it overlaps bytes already seen to hold no
** zero, so its first zero is the one sought. */
static inline const unsigned char *find_zero(const unsigned char *p,
                                             const unsigned char *end) {
  const unsigned char *stop;
  uint64_t x, m;
  if (end - p < 8) {
    for (; p < end; p++) {
      if (*p == 0x00) return p;
    }
    return NULL;
  }
  stop = end - p > 32 ? p + 32 : end;
  for (; stop - p >= 8; p += 8) {
    memcpy(&x, p, sizeof x);
    m = zero_bytes(x);
    if (m) return p + first_zero(p, m);
  }
  if (stop == end) {
    if (p == end) return NULL;
    p = end - 8;
    memcpy(&x, p, sizeof x);
    m = zero_bytes(x);
    return m ? p + first_zero(p, m) : NULL;
  }
  return memchr(p, 0x00, (size_t)(end - p));
}

/* Unescape from p (which starts with an escaped zero, 0x00 0xFF) up to the
** terminator, writing at w; returns the byte after the terminator, or NULL
** if malformed.  *wn gets the bytes written.  Runs of ordinary bytes move a
** word at a time.  w has room for end - p bytes: the output never outgrows
** the input read so far, so each word written fits. */
static const unsigned char *unescape(const unsigned char *p,
                                     const unsigned char *end,
                                     unsigned char *w, size_t *wn) {
  unsigned char *o = w;
  uint64_t x;
  for (;;) {
    /* p is at a 0x00 with at least one byte after it, or returns. */
    if (p[1] == 0x00) break;
    if (p[1] != 0xFF) return NULL;        /* 0x00 must be escaped */
    *o++ = 0x00;
    p += 2;
    while (end - p >= 8) {
      memcpy(&x, p, sizeof x);
      if (zero_bytes(x)) break;
      memcpy(o, &x, sizeof x);
      o += 8;
      p += 8;
    }
    while (p < end && *p != 0x00) *o++ = *p++;
    if (end - p < 2) return NULL;         /* no terminator */
  }
  *wn = (size_t)(o - w);
  return p + 2;
}

/* Decode the escaped bytes at *pp..end (after the tag) and advance *pp past
** their terminator.  v->n gets the unescaped length; with scratch, v->p
** gets the bytes: the input's own when nothing is escaped (no copy), else
** their unescaped copy in scratch: the bytes before the first zero are
** copied whole, the rest unescaped by one pass that also finds the
** terminator. */
static int decode_bytes(const unsigned char **pp, const unsigned char *end,
                        lsmx_value *v, lsm_buffer *scratch) {
  const unsigned char *p = *pp;
  const unsigned char *z = find_zero(p, end);
  size_t run, n;
  if (z == NULL || end - z < 2) return LSM_CORRUPT;   /* no terminator */
  run = (size_t)(z - p);
  if (z[1] == 0x00) {
    /* Nothing escaped.  TEXT always gets a non-NULL pointer (see the
    ** convention above). */
    v->n = run;
    if (scratch != NULL) {
      scratch->len = 0;
      v->p = run > 0 ? p : scratch->data ? scratch->data : (const unsigned char *)"";
    }
    *pp = z + 2;
    return LSM_OK;
  }
  if (scratch == NULL) {
    /* Validate and measure only. */
    n = run;
    for (;;) {
      /* z is a 0x00 in [p, end) with a byte after it. */
      if (z[1] == 0x00) break;
      if (z[1] != 0xFF) return LSM_CORRUPT;           /* 0x00 must be escaped */
      p = z + 2;
      z = find_zero(p, end);
      if (z == NULL || end - z < 2) return LSM_CORRUPT;
      n += 1 + (size_t)(z - p);
    }
    v->n = n;
    *pp = z + 2;
    return LSM_OK;
  }
  /* The unescaped bytes are fewer than what is left of the input. */
  scratch->len = 0;
  if (lsm_buffer_reserve(scratch, (size_t)(end - p)) != LSM_OK) return LSM_NOMEM;
  if (run <= 16 && end - p >= 16) {
    /* A short run (most keys): two words, whatever run is (both sides
    ** have the room); bytes copied past the run are overwritten by the
    ** unescaping or lie past the decoded length. */
    uint64_t a, b;
    memcpy(&a, p, sizeof a);
    memcpy(&b, p + 8, sizeof b);
    memcpy(scratch->data, &a, sizeof a);
    memcpy(scratch->data + 8, &b, sizeof b);
  } else {
    memcpy(scratch->data, p, run);
  }
  z = unescape(z, end, scratch->data + run, &n);
  if (z == NULL) return LSM_CORRUPT;
  scratch->len = v->n = run + n;
  v->p = scratch->data;
  *pp = z;
  return LSM_OK;
}

/* The decoder proper.  v and scratch may be NULL (validate and skip). */
static int decode_one(const unsigned char **pp, const unsigned char *end,
                      lsmx_value *v, lsm_buffer *scratch) {
  const unsigned char *p = *pp;
  lsmx_value tmp;
  unsigned char tag;
  int rc;

  if (v == NULL) v = &tmp;
  memset(v, 0, sizeof *v);
  if (p >= end) return LSM_CORRUPT;
  tag = *p++;
  switch (tag) {
    case LSMX_KEY_NULL:
      v->type = SQLITE_NULL;
      *pp = p;
      return LSM_OK;
    case LSMX_KEY_NUM:
      rc = decode_number(&p, end, v);
      if (rc == LSM_OK) *pp = p;
      return rc;
    case LSMX_KEY_TEXT:
    case LSMX_KEY_BLOB:
      rc = decode_bytes(&p, end, v, scratch);
      if (rc != LSM_OK) return rc;
      v->type = tag == LSMX_KEY_TEXT ? SQLITE_TEXT : SQLITE_BLOB;
      *pp = p;
      return LSM_OK;
    default:
      return LSM_CORRUPT;
  }
}

/* scratch may be NULL to validate and step over a value without its
** bytes: TEXT/BLOB then come back with n set and p NULL. */
int lsmx_key_decode(const unsigned char **pp, const unsigned char *end,
                    lsmx_value *v, lsm_buffer *scratch) {
  return decode_one(pp, end, v, scratch);
}

size_t lsmx_key_skip(const unsigned char *p, const unsigned char *end) {
  const unsigned char *q = p;
  if (decode_one(&q, end, NULL, NULL) != LSM_OK) return 0;
  return (size_t)(q - p);
}

void lsmx_value_result(sqlite3_context *ctx, const lsmx_value *v) {
  switch (v->type) {
    case SQLITE_INTEGER:
      sqlite3_result_int64(ctx, v->i);
      break;
    case SQLITE_FLOAT:
      sqlite3_result_double(ctx, v->r);
      break;
    case SQLITE_TEXT:
      if (v->p == NULL && v->n > 0) {
        sqlite3_result_error_nomem(ctx);
      } else {
        sqlite3_result_text64(ctx, v->p ? (const char *)v->p : "", v->n,
                              SQLITE_TRANSIENT, SQLITE_UTF8);
      }
      break;
    case SQLITE_BLOB:
      if (v->p == NULL && v->n > 0) {
        sqlite3_result_error_nomem(ctx);
      } else if (v->n == 0) {
        /* A NULL pointer would make a NULL result, not an empty blob. */
        sqlite3_result_zeroblob(ctx, 0);
      } else {
        sqlite3_result_blob64(ctx, v->p, v->n, SQLITE_TRANSIENT);
      }
      break;
    default:
      sqlite3_result_null(ctx);
      break;
  }
}

void lsmx_value_from_sqlite(lsmx_value *out, sqlite3_value *v) {
  memset(out, 0, sizeof *out);
  out->type = sqlite3_value_type(v);
  switch (out->type) {
    case SQLITE_INTEGER:
      out->i = sqlite3_value_int64(v);
      break;
    case SQLITE_FLOAT:
      out->r = sqlite3_value_double(v);
      break;
    case SQLITE_TEXT:
      /* Pointer first, then length: the documented safe order. */
      out->p = sqlite3_value_text(v);
      out->n = (size_t)sqlite3_value_bytes(v);
      if (out->p == NULL) out->n = 1;      /* out of memory: see above */
      break;
    case SQLITE_BLOB:
      out->p = (const unsigned char *)sqlite3_value_blob(v);
      out->n = (size_t)sqlite3_value_bytes(v);
      break;
    default:
      out->type = SQLITE_NULL;
      break;
  }
}
