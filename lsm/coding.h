/*
** coding.h — byte-level encoding helpers shared by every on-disk format.
**
** Fixed-width integers are little-endian.  Varints are LEB128 (7 bits per
** byte, low group first, high bit set on every byte but the last); a 64-bit
** varint takes at most 10 bytes.  Decoders never read past the limit they
** are given and report a malformed or truncated input by returning NULL, so
** readers of on-disk bytes can turn that into LSM_CORRUPT.
**
** lsm_slice is the borrowed (pointer, length) pair used between layers;
** lsm_buffer (lsm.h) is the owned, growable one.
*/
#ifndef LSM_CODING_H
#define LSM_CODING_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include "lsm.h"

/* For the few small functions on every comparison path, which compilers
** otherwise keep out of line once they grow past a few lines. */
#if defined(__GNUC__)
#define LSM_HOT_INLINE static inline __attribute__((always_inline))
#else
#define LSM_HOT_INLINE static inline
#endif

typedef struct lsm_slice {
  const unsigned char *p;
  size_t n;
} lsm_slice;

static inline lsm_slice lsm_slice_make(const void *p, size_t n) {
  lsm_slice s;
  s.p = (const unsigned char *)p;
  s.n = n;
  return s;
}

/* p[0..7] as a big-endian number: comparing two of these compares the
** bytes as memcmp does (compilers make it one load and a byte swap). */
static inline uint64_t lsm_get_be64(const unsigned char *p) {
  return ((uint64_t)p[0] << 56) | ((uint64_t)p[1] << 48) | ((uint64_t)p[2] << 40) |
         ((uint64_t)p[3] << 32) | ((uint64_t)p[4] << 24) | ((uint64_t)p[5] << 16) |
         ((uint64_t)p[6] << 8) | (uint64_t)p[7];
}

/* Keys up to this long are compared inline, 8 bytes at a time: most keys
** are short, and a call to memcmp costs more than the comparison. */
#define LSM_INLINE_CMP_MAX 32

/* memcmp order, a proper prefix first.  Only the sign of the result
** means anything. */
LSM_HOT_INLINE int lsm_slice_cmp(lsm_slice a, lsm_slice b) {
  size_t n = a.n < b.n ? a.n : b.n;
  const unsigned char *p = a.p, *q = b.p;
  if (n <= LSM_INLINE_CMP_MAX) {
    for (; n >= 8; n -= 8, p += 8, q += 8) {
      uint64_t x = lsm_get_be64(p), y = lsm_get_be64(q);
      if (x != y) return x < y ? -1 : 1;
    }
    for (; n > 0; n--, p++, q++) {
      if (*p != *q) return *p < *q ? -1 : 1;
    }
  } else {
    int c = memcmp(p, q, n);
    if (c) return c;
  }
  return a.n < b.n ? -1 : (a.n > b.n ? 1 : 0);
}

static inline void lsm_put_u32(unsigned char *p, uint32_t v) {
  p[0] = (unsigned char)v; p[1] = (unsigned char)(v >> 8);
  p[2] = (unsigned char)(v >> 16); p[3] = (unsigned char)(v >> 24);
}
static inline void lsm_put_u64(unsigned char *p, uint64_t v) {
  lsm_put_u32(p, (uint32_t)v);
  lsm_put_u32(p + 4, (uint32_t)(v >> 32));
}
static inline uint32_t lsm_get_u32(const unsigned char *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) |
         ((uint32_t)p[3] << 24);
}
static inline uint64_t lsm_get_u64(const unsigned char *p) {
  return (uint64_t)lsm_get_u32(p) | ((uint64_t)lsm_get_u32(p + 4) << 32);
}

#define LSM_MAX_VARINT64 10

/* Encode v at p (room for LSM_MAX_VARINT64 bytes); returns bytes written. */
size_t lsm_varint_put(unsigned char *p, uint64_t v);
/* Bytes lsm_varint_put would write. */
size_t lsm_varint_len(uint64_t v);
/* Decode a varint from [p, limit).  Returns the byte after it, or NULL if
** the input is truncated or longer than 10 bytes / overflows 64 bits.
** One-byte varints (values below 128: most lengths) are decoded inline. */
const unsigned char *lsm_varint_get_long(const unsigned char *p,
                                         const unsigned char *limit, uint64_t *v);
static inline const unsigned char *lsm_varint_get(const unsigned char *p,
                                                  const unsigned char *limit,
                                                  uint64_t *v) {
  if (p < limit && *p < 0x80) {
    *v = *p;
    return p + 1;
  }
  return lsm_varint_get_long(p, limit, v);
}
/* Decode a varint length followed by that many bytes; NULL if they do not
** fit before limit. */
const unsigned char *lsm_get_length_prefixed(const unsigned char *p,
                                             const unsigned char *limit,
                                             lsm_slice *out);

/* Growable buffers.  Each returns LSM_OK or LSM_NOMEM; on failure the buffer
** is unchanged.  reserve, append, set and append_varint are inline: a
** flush or compaction calls them several times per entry, and all but a
** few calls find room already (len <= cap always holds); lsm_buffer_grow
** is the out-of-line rest. */
int lsm_buffer_grow(lsm_buffer *b, size_t extra);

static inline int lsm_buffer_reserve(lsm_buffer *b, size_t extra) {
  return extra <= b->cap - b->len ? LSM_OK : lsm_buffer_grow(b, extra);
}

static inline int lsm_buffer_append(lsm_buffer *b, const void *p, size_t n) {
  int rc = lsm_buffer_reserve(b, n);
  if (rc) return rc;
  if (n) memcpy(b->data + b->len, p, n);
  b->len += n;
  return LSM_OK;
}

static inline int lsm_buffer_set(lsm_buffer *b, const void *p, size_t n) {
  b->len = 0;
  return lsm_buffer_append(b, p, n);
}

static inline int lsm_buffer_append_varint(lsm_buffer *b, uint64_t v) {
  int rc = lsm_buffer_reserve(b, LSM_MAX_VARINT64);
  if (rc) return rc;
  b->len += lsm_varint_put(b->data + b->len, v);
  return LSM_OK;
}

int lsm_buffer_append_u32(lsm_buffer *b, uint32_t v);
int lsm_buffer_append_u64(lsm_buffer *b, uint64_t v);

/* Checksums.  Every checksum in every file format is one of these two:
** XXH3 (64-bit, seed 0) from the system's libxxhash, and its low 32 bits.
** XXH3 verifies a 4 KiB block in about half the time XXH32 takes. */
uint32_t lsm_checksum32(const void *p, size_t n);
uint64_t lsm_checksum64(const void *p, size_t n);

#endif /* LSM_CODING_H */
