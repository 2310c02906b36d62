/*
** legacy_bloom.h — a builder for the bloom filter layout tables written
** before the blocked filter hold (FORMAT.md, "legacy standard filter").  The
** engine only reads that layout now; the tests write it with this builder
** to show such tables are still read correctly.
*/
#ifndef LSM_TEST_LEGACY_BLOOM_H
#define LSM_TEST_LEGACY_BLOOM_H

#include "coding.h"

/* Append the legacy filter over n key hashes at bits_per_key (>= 1):
** n_bits = max(64, n * bits) rounded up to 8, k = round(bits * ln 2)
** clamped to 1..30, probe i sets bit (h1 + i*h2) mod n_bits. */
int legacy_bloom_build(const uint64_t *hashes, size_t n, int bits_per_key,
                       lsm_buffer *out);

#endif /* LSM_TEST_LEGACY_BLOOM_H */
