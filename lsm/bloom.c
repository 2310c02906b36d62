/*
** bloom.c — the per-table bloom filter over distinct user keys (bloom.h).
**
** Encoded filter (the contents of an SSTable's filter block):
**
**   bit array   n_bits/8 bytes; bit j is (byte j/8) >> (j%8) & 1
**   u8 k        number of probes, 1..30
**
** Hashing: h = XXH3-64(user key, seed 0) (lsm_checksum64).  h1 = low 32 bits,
** h2 = high 32 bits with the lowest bit forced on (odd, so successive probes
** never collapse onto one position when n_bits is a power of two).  Probe i
** (0 <= i < k) sets / tests bit (h1 + i*h2) mod n_bits, computed in 64-bit
** arithmetic (no 32-bit wrap-around; i*h2 < 2^37 so nothing overflows).
**
** Sizing: k = round(bits_per_key * ln 2) clamped to [1, 30] (the k that
** minimises the false-positive rate for that many bits per key);
** n_bits = max(64, n_keys * bits_per_key) rounded up to a multiple of 8.  The
** minimum keeps the rate sane for tiny tables.
**
** A reader that meets a malformed filter answers "may contain": a damaged
** filter can cost a block read but never hide a key.
*/
#include "bloom.h"

#define BLOOM_MAX_PROBES 30

uint64_t lsm_bloom_hash(lsm_slice ukey) {
  static const unsigned char empty = 0;
  /* Never hand a NULL pointer to the hash, even for the empty key. */
  return lsm_checksum64(ukey.p ? (const void *)ukey.p : (const void *)&empty,
                        ukey.n);
}

/* Probe j+1's bit from probe j's: (h1 + (j+1)*h2) mod n is
** ((h1 + j*h2) mod n + h2 mod n) mod n, and both terms are below n, so one
** subtraction replaces a division per probe. */
static uint64_t next_probe(uint64_t pos, uint64_t step, uint64_t n_bits) {
  pos += step;
  return pos >= n_bits ? pos - n_bits : pos;
}

static int probes_for(int bits_per_key) {
  /* round half up; bits_per_key >= 1 so the product is positive */
  long k = (long)((double)bits_per_key * 0.69314718055994530942 + 0.5);
  if (k < 1) k = 1;
  if (k > BLOOM_MAX_PROBES) k = BLOOM_MAX_PROBES;
  return (int)k;
}

int lsm_bloom_build(const uint64_t *hashes, size_t n, int bits_per_key,
                    lsm_buffer *out) {
  size_t n_bits, n_bytes, i;
  unsigned char *bits;
  int k, rc;

  if (bits_per_key < 1) bits_per_key = 1;
  k = probes_for(bits_per_key);
  if (n > (SIZE_MAX - 8) / (size_t)bits_per_key) return LSM_NOMEM;
  n_bits = n * (size_t)bits_per_key;
  if (n_bits < 64) n_bits = 64;
  n_bytes = (n_bits + 7) / 8;
  n_bits = n_bytes * 8;

  rc = lsm_buffer_reserve(out, n_bytes + 1);
  if (rc) return rc;
  bits = out->data + out->len;
  memset(bits, 0, n_bytes);
  for (i = 0; i < n; i++) {
    uint64_t pos = (hashes[i] & 0xffffffffu) % n_bits;
    uint64_t step = ((hashes[i] >> 32) | 1) % n_bits;
    int j;
    for (j = 0; j < k; j++) {
      bits[pos / 8] |= (unsigned char)(1u << (pos % 8));
      pos = next_probe(pos, step, n_bits);
    }
  }
  bits[n_bytes] = (unsigned char)k;
  out->len += n_bytes + 1;
  return LSM_OK;
}

int lsm_bloom_may_contain(lsm_slice filter, uint64_t hash) {
  uint64_t h1 = hash & 0xffffffffu;
  uint64_t h2 = (hash >> 32) | 1;
  uint64_t n_bits, pos, step;
  int k, j;

  if (filter.n < 2) return 1;
  k = filter.p[filter.n - 1];
  if (k < 1 || k > BLOOM_MAX_PROBES) return 1;
  n_bits = (uint64_t)(filter.n - 1) * 8;
  pos = h1 % n_bits;
  step = h2 % n_bits;
  for (j = 0; j < k; j++) {
    if ((filter.p[pos / 8] & (1u << (pos % 8))) == 0) return 0;
    pos = next_probe(pos, step, n_bits);
  }
  return 1;
}
