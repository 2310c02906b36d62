/*
** legacy_bloom.c — the old (standard, double-hashing) bloom filter layout,
** written only by tests (legacy_bloom.h).
*/
#include "legacy_bloom.h"

int legacy_bloom_build(const uint64_t *hashes, size_t n, int bits_per_key,
                       lsm_buffer *out) {
  size_t n_bits = n * (size_t)bits_per_key, n_bytes, i;
  int k = (int)((double)bits_per_key * 0.69314718055994530942 + 0.5), j, rc;
  if (k < 1) k = 1;
  if (k > 30) k = 30;
  if (n_bits < 64) n_bits = 64;
  n_bytes = (n_bits + 7) / 8;
  rc = lsm_buffer_reserve(out, n_bytes + 1);
  if (rc) return rc;
  memset(out->data + out->len, 0, n_bytes);
  for (i = 0; i < n; i++) {
    uint64_t h1 = hashes[i] & 0xffffffffu, h2 = (hashes[i] >> 32) | 1;
    for (j = 0; j < k; j++) {
      uint64_t pos = (h1 + (uint64_t)j * h2) % ((uint64_t)n_bytes * 8);
      out->data[out->len + pos / 8] |= (unsigned char)(1u << (pos % 8));
    }
  }
  out->data[out->len + n_bytes] = (unsigned char)k;
  out->len += n_bytes + 1;
  return LSM_OK;
}
