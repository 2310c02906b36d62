/*
** bloom.h — the bloom filter of an SSTable.
**
** One filter per table over the table's distinct USER keys.  Probe positions
** come from one 64-bit xxHash of the key by double hashing: h1 = low 32 bits,
** h2 = high 32 bits (forced odd), probe i at (h1 + i*h2) mod n_bits.
**
** Encoded filter: n_bits/8 bytes of bit array (bit j is byte j/8, bit j%8)
** followed by one byte k = number of probes.  k = round(bits_per_key*ln2)
** clamped to [1, 30]; n_bits = max(64, n_keys*bits_per_key) rounded up to a
** multiple of 8.
*/
#ifndef LSM_BLOOM_H
#define LSM_BLOOM_H

#include "coding.h"

uint64_t lsm_bloom_hash(lsm_slice ukey);

/* Build a filter for n key hashes; appends it to out. */
int lsm_bloom_build(const uint64_t *hashes, size_t n, int bits_per_key,
                    lsm_buffer *out);

/* 0 if the key with this hash is certainly absent; 1 if it may be present.
** A malformed filter (too short, k out of range) answers 1: it never hides
** a key. */
int lsm_bloom_may_contain(lsm_slice filter, uint64_t hash);

#endif /* LSM_BLOOM_H */
