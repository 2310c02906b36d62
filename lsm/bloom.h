/*
** bloom.h — the bloom filter of an SSTable.
**
** One filter per table over the table's distinct USER keys, probed with one
** 64-bit xxHash of the key (lsm_bloom_hash), which a lookup computes once
** and reuses for every table it probes.
**
** Two encodings (bloom.c and FORMAT.md have the byte layouts); the last
** byte of the filter tells them apart:
**   1..30   legacy "standard" filter (written before the blocked kind): k
**           probes by double hashing over the whole bit array;
**   0x81    "blocked" filter, the only kind written now: the hash picks one
**           64-byte line and all k probes land inside it, so a probe costs
**           one cache miss.
** Any other value, or a filter whose lengths do not add up, answers "may
** contain": a damaged or unknown filter never hides a key.
*/
#ifndef LSM_BLOOM_H
#define LSM_BLOOM_H

#include "coding.h"

uint64_t lsm_bloom_hash(lsm_slice ukey);

/* Build a blocked filter for n key hashes; appends it to out.  LSM_NOMEM if
** the filter would not fit in memory. */
int lsm_bloom_build(const uint64_t *hashes, size_t n, int bits_per_key,
                    lsm_buffer *out);

/* Upper bound on the encoded size lsm_bloom_build appends for n keys. */
uint64_t lsm_bloom_size_bound(uint64_t n, int bits_per_key);

/* 0 if the key with this hash is certainly absent; 1 if it may be present
** (also for a malformed filter or one of an unknown kind). */
int lsm_bloom_may_contain(lsm_slice filter, uint64_t hash);

/* A filter checked once for many probes: a table keeps one, so a probe
** neither re-reads the filter's trailer nor re-validates its size.  The
** fields are the reader's own (set by lsm_bloom_reader_init). */
typedef struct lsm_bloom_reader {
  lsm_slice filter;            /* as given */
  const unsigned char *lines;  /* a well-formed blocked filter's lines, else NULL */
  uint64_t n_lines;
  int k;
} lsm_bloom_reader;

/* filter must outlive the reader. */
void lsm_bloom_reader_init(lsm_bloom_reader *r, lsm_slice filter);
/* lsm_bloom_may_contain(r's filter, hash). */
int lsm_bloom_reader_may_contain(const lsm_bloom_reader *r, uint64_t hash);
/* Ask the CPU to fetch the cache line a probe of hash will read (blocked
** filters; a hint, nothing for other kinds).  A lookup that will probe
** several filters asks for all their lines first, so their cache misses
** overlap instead of following one another. */
void lsm_bloom_reader_prefetch(const lsm_bloom_reader *r, uint64_t hash);

#endif /* LSM_BLOOM_H */
