/*
** bloom.c — the per-table bloom filter over distinct user keys (bloom.h).
**
** Hashing (both kinds): h = XXH3-64(user key, seed 0) (lsm_checksum64).
**
** Blocked filter (kind 0x81, the only kind written) — the contents of an
** SSTable's filter block:
**
**   lines       n_lines * 64 bytes (n_lines >= 1); bit b of line L is
**               (byte L*64 + b/8) >> (b%8) & 1, 0 <= b < 512
**   u8 k        probes per key, 1..16
**   u8 kind     0x81
**
** A key's line is L = ((h mod 2^32) * n_lines) >> 32 (the low 32 bits of h
** scaled onto [0, n_lines) without a division).  Its k bit positions come
** from the high 32 bits: a = h >> 32; probe i tests bit a >> 23 (the top 9
** bits: 0..511) and then a = a * 0x9E3779B9 mod 2^32.  The two halves are
** independent, so keys that share a line still scatter over it.  All probes
** of a key read one 64-byte line: one cache miss per table probed (when the
** filter sits at a 64-byte aligned address) instead of ~k for a filter
** spread over the whole bit array.
**
** Sizing: n_lines = ceil(n_keys * bits_per_key / 512), at least 1 (so tiny
** tables pay up to 64 bytes); k = round(0.6 * bits_per_key) clamped to
** [1, 16].  A blocked filter wants fewer probes than a standard one
** (round(ln 2 * bits) = 7 at 10 bits/key): lines hold unequal numbers of
** keys, and crowded lines punish every extra probe.  Measured false-positive
** rates, 1M keys:
**
**   bits/key  k=4     k=5     k=6     k=7     k=8     k=9
**      8      2.49%   2.31%*  2.35%   2.55%   2.87%
**     10      1.24%   1.02%   0.95%*  0.96%   1.02%   1.13%
**     12      0.69%   0.51%   0.43%   0.41%*  0.40%   0.42%
**     16      0.27%   0.16%   0.12%   0.10%   0.084%  0.080%  (k=10*: 0.086%)
**
** (* = the k the formula picks; a standard filter at 10 bits/key, k = 7,
** is 0.82% in theory: the blocked layout trades ~15% more false positives
** for one cache miss per probe.)
**
** Legacy standard filter (kind byte = k, 1..30; written by earlier
** versions, still read):
**
**   bit array   n_bits/8 bytes; bit j is (byte j/8) >> (j%8) & 1
**   u8 k        number of probes, 1..30
**
** h1 = low 32 bits of h, h2 = high 32 bits with the lowest bit forced on;
** probe i (0 <= i < k) tests bit (h1 + i*h2) mod n_bits in 64-bit
** arithmetic.
**
** A reader that meets a malformed filter (too short, a blocked filter whose
** line area is not a whole number of lines, k out of range, an unknown kind
** byte) answers "may contain": a damaged filter can cost a block read but
** never hide a key.  Readers before the blocked kind see 0x81 as a bad k
** and so read new tables as unfiltered, correctly.
*/
#include "bloom.h"

#define LEGACY_MAX_PROBES 30
#define BLOCKED_KIND 0x81
#define BLOCKED_MAX_PROBES 16
#define LINE_BYTES 64
#define LINE_BITS (LINE_BYTES * 8)
#define BLOCKED_TAIL 2 /* u8 k, u8 kind */
#define PROBE_MUL 0x9E3779B9u /* odd: multiplying permutes 32-bit values */

uint64_t lsm_bloom_hash(lsm_slice ukey) {
  static const unsigned char empty = 0;
  /* Never hand a NULL pointer to the hash, even for the empty key. */
  return lsm_checksum64(ukey.p ? (const void *)ukey.p : (const void *)&empty,
                        ukey.n);
}

/* ------------------------------------------------------------ blocked */

static int blocked_probes(int bits_per_key) {
  /* round half up; bits_per_key >= 1 so the product is positive */
  long k = (long)((double)bits_per_key * 0.6 + 0.5);
  if (k < 1) k = 1;
  if (k > BLOCKED_MAX_PROBES) k = BLOCKED_MAX_PROBES;
  return (int)k;
}

/* Offset of the line of hash h in a filter of n_lines lines
** (n_lines < 2^32, so the product fits in 64 bits). */
static size_t line_offset(uint64_t h, uint64_t n_lines) {
  return (size_t)((((h & 0xffffffffu) * n_lines) >> 32) * LINE_BYTES);
}

uint64_t lsm_bloom_size_bound(uint64_t n, int bits_per_key) {
  if (bits_per_key < 1) bits_per_key = 1;
  return n * (uint64_t)bits_per_key / 8 + LINE_BYTES + BLOCKED_TAIL;
}

int lsm_bloom_build(const uint64_t *hashes, size_t n, int bits_per_key,
                    lsm_buffer *out) {
  size_t n_lines, n_bytes, i;
  unsigned char *bits;
  int k, rc;

  if (bits_per_key < 1) bits_per_key = 1;
  k = blocked_probes(bits_per_key);
  if (n > (SIZE_MAX - 2 * LINE_BITS) / (size_t)bits_per_key) return LSM_NOMEM;
  n_lines = (n * (size_t)bits_per_key + LINE_BITS - 1) / LINE_BITS;
  if (n_lines < 1) n_lines = 1;
  if ((uint64_t)n_lines > 0xffffffffu) return LSM_NOMEM;  /* 256 GiB */
  n_bytes = n_lines * LINE_BYTES;

  rc = lsm_buffer_reserve(out, n_bytes + BLOCKED_TAIL);
  if (rc) return rc;
  bits = out->data + out->len;
  memset(bits, 0, n_bytes);
  for (i = 0; i < n; i++) {
    unsigned char *line = bits + line_offset(hashes[i], n_lines);
    uint32_t a = (uint32_t)(hashes[i] >> 32);
    int j;
    for (j = 0; j < k; j++) {
      unsigned b = a >> 23;
      line[b / 8] |= (unsigned char)(1u << (b % 8));
      a *= PROBE_MUL;
    }
  }
  bits[n_bytes] = (unsigned char)k;
  bits[n_bytes + 1] = BLOCKED_KIND;
  out->len += n_bytes + BLOCKED_TAIL;
  return LSM_OK;
}

/* The line area's size in lines, or 0 if the blocked filter is malformed. */
static uint64_t blocked_lines(lsm_slice filter, int *k) {
  size_t n_bytes;
  if (filter.n < LINE_BYTES + BLOCKED_TAIL) return 0;
  n_bytes = filter.n - BLOCKED_TAIL;
  *k = filter.p[n_bytes];
  if (n_bytes % LINE_BYTES || *k < 1 || *k > BLOCKED_MAX_PROBES) return 0;
  if ((uint64_t)(n_bytes / LINE_BYTES) > 0xffffffffu) return 0;
  return (uint64_t)(n_bytes / LINE_BYTES);
}

/* Are all k probe bits of hash set in its line of lines? */
static int probe_line(const unsigned char *lines, uint64_t n_lines, int k, uint64_t hash) {
  const unsigned char *line = lines + line_offset(hash, n_lines);
  uint32_t a = (uint32_t)(hash >> 32);
  int j;
  for (j = 0; j < k; j++) {
    unsigned b = a >> 23;
    if ((line[b / 8] & (1u << (b % 8))) == 0) return 0;
    a *= PROBE_MUL;
  }
  return 1;
}

static int blocked_may_contain(lsm_slice filter, uint64_t hash) {
  int k;
  uint64_t n_lines = blocked_lines(filter, &k);
  if (n_lines == 0) return 1;
  return probe_line(filter.p, n_lines, k, hash);
}

/* ------------------------------------------------------------- legacy */

/* Probe j+1's bit from probe j's: (h1 + (j+1)*h2) mod n is
** ((h1 + j*h2) mod n + h2 mod n) mod n, and both terms are below n, so one
** subtraction replaces a division per probe. */
static uint64_t next_probe(uint64_t pos, uint64_t step, uint64_t n_bits) {
  pos += step;
  return pos >= n_bits ? pos - n_bits : pos;
}

/* filter ends in its k byte, 1..LEGACY_MAX_PROBES. */
static int legacy_may_contain(lsm_slice filter, uint64_t hash) {
  uint64_t h1 = hash & 0xffffffffu;
  uint64_t h2 = (hash >> 32) | 1;
  uint64_t n_bits, pos, step;
  int k, j;

  if (filter.n < 2) return 1;
  k = filter.p[filter.n - 1];
  n_bits = (uint64_t)(filter.n - 1) * 8;
  pos = h1 % n_bits;
  step = h2 % n_bits;
  for (j = 0; j < k; j++) {
    if ((filter.p[pos / 8] & (1u << (pos % 8))) == 0) return 0;
    pos = next_probe(pos, step, n_bits);
  }
  return 1;
}

void lsm_bloom_reader_init(lsm_bloom_reader *r, lsm_slice filter) {
  int k = 0;
  r->filter = filter;
  r->lines = NULL;
  r->n_lines = 0;
  r->k = 0;
  if (filter.n == 0 || filter.p[filter.n - 1] != BLOCKED_KIND) return;
  r->n_lines = blocked_lines(filter, &k);
  if (r->n_lines == 0) return;   /* malformed: lsm_bloom_may_contain says 1 */
  r->lines = filter.p;
  r->k = k;
}

int lsm_bloom_reader_may_contain(const lsm_bloom_reader *r, uint64_t hash) {
  if (r->lines == NULL) return lsm_bloom_may_contain(r->filter, hash);
  return probe_line(r->lines, r->n_lines, r->k, hash);
}

void lsm_bloom_reader_prefetch(const lsm_bloom_reader *r, uint64_t hash) {
  if (r->lines) __builtin_prefetch(r->lines + line_offset(hash, r->n_lines));
}

int lsm_bloom_may_contain(lsm_slice filter, uint64_t hash) {
  int kind;
  if (filter.n == 0) return 1;
  kind = filter.p[filter.n - 1];
  if (kind == BLOCKED_KIND) return blocked_may_contain(filter, hash);
  if (kind >= 1 && kind <= LEGACY_MAX_PROBES)
    return legacy_may_contain(filter, hash);
  return 1;  /* unknown kind */
}
