/*
** coding.c — varints, growable buffers and checksums (see coding.h).
*/
#include "coding.h"

#include <stdlib.h>
#define XXH_INLINE_ALL
#include <xxhash.h>

/* Long inputs (data blocks, log records) go to libxxhash's x86 dispatcher,
** which picks AVX2 or AVX-512 at run time: the inline build is SSE2 only
** and verifying 4 KiB blocks was ~5% of a scan.  Same XXH3, same values.
** The dispatcher ships with the library wherever its header does. */
#if defined(__x86_64__) && defined(__has_include)
#if __has_include(<xxh_x86dispatch.h>)
#define LSM_XXH3_DISPATCH 1
XXH64_hash_t XXH3_64bits_dispatch(const void *input, size_t len);
#endif
#endif
#define DISPATCH_MIN 1024    /* below this the inline call is cheaper */

static uint64_t xxh3(const void *p, size_t n) {
#ifdef LSM_XXH3_DISPATCH
  if (n >= DISPATCH_MIN) return XXH3_64bits_dispatch(p, n);
#endif
  return XXH3_64bits(p, n);
}

size_t lsm_varint_len(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) { v >>= 7; n++; }
  return n;
}

size_t lsm_varint_put(unsigned char *p, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    p[n++] = (unsigned char)(v | 0x80);
    v >>= 7;
  }
  p[n++] = (unsigned char)v;
  return n;
}

const unsigned char *lsm_varint_get_long(const unsigned char *p,
                                         const unsigned char *limit, uint64_t *v) {
  uint64_t result = 0;
  unsigned shift;
  for (shift = 0; shift <= 63 && p < limit; shift += 7) {
    uint64_t byte = *p++;
    /* The tenth byte may carry only the top bit of a 64-bit value. */
    if (shift == 63 && byte > 1) return NULL;
    result |= (byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      *v = result;
      return p;
    }
  }
  return NULL;
}

const unsigned char *lsm_get_length_prefixed(const unsigned char *p,
                                             const unsigned char *limit,
                                             lsm_slice *out) {
  uint64_t len;
  p = lsm_varint_get(p, limit, &len);
  if (p == NULL || len > (uint64_t)(limit - p)) return NULL;
  out->p = p;
  out->n = (size_t)len;
  return p + len;
}

void lsm_buffer_free(lsm_buffer *b) {
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

int lsm_buffer_grow(lsm_buffer *b, size_t extra) {
  size_t need, cap;
  unsigned char *p;
  if (extra > SIZE_MAX - b->len) return LSM_NOMEM;
  need = b->len + extra;
  if (need <= b->cap) return LSM_OK;
  cap = b->cap ? b->cap : 64;
  while (cap < need) cap = cap > SIZE_MAX / 2 ? need : cap * 2;
  p = realloc(b->data, cap);
  if (p == NULL) return LSM_NOMEM;
  b->data = p;
  b->cap = cap;
  return LSM_OK;
}

int lsm_buffer_append_u32(lsm_buffer *b, uint32_t v) {
  unsigned char tmp[4];
  lsm_put_u32(tmp, v);
  return lsm_buffer_append(b, tmp, 4);
}

int lsm_buffer_append_u64(lsm_buffer *b, uint64_t v) {
  unsigned char tmp[8];
  lsm_put_u64(tmp, v);
  return lsm_buffer_append(b, tmp, 8);
}

uint32_t lsm_checksum32(const void *p, size_t n) {
  return (uint32_t)xxh3(p, n);
}

uint64_t lsm_checksum64(const void *p, size_t n) {
  return xxh3(p, n);
}
