/*
** dbformat.h — internal keys: how a user key, a sequence number and an
** operation kind are packed into the one byte string that memtables,
** SSTables and iterators sort.
**
**   internal key = user_key || trailer
**   trailer      = 8 bytes little-endian of (seq << 8) | kind
**
** Internal keys sort by user key ascending (memcmp, shorter first), then by
** sequence number DESCENDING, so the newest version of a key comes first.
** Sequence numbers are 56 bits.  Committed writes use sequence numbers below
** LSM_SEQ_OVERLAY; entries of a batch laid over an iterator (a transaction's
** own writes) use LSM_SEQ_OVERLAY + n so that they shadow every committed
** version of the same key.
*/
#ifndef LSM_DBFORMAT_H
#define LSM_DBFORMAT_H

#include "coding.h"

#define LSM_KIND_DELETE 0
#define LSM_KIND_PUT    1

#define LSM_TRAILER_SIZE 8
#define LSM_SEQ_MAX      ((((uint64_t)1) << 56) - 1)
#define LSM_SEQ_OVERLAY  (((uint64_t)1) << 55)

static inline uint64_t lsm_pack_trailer(uint64_t seq, int kind) {
  return (seq << 8) | (uint64_t)kind;
}

/* Parsed view of an internal key; ukey borrows the key's bytes. */
typedef struct lsm_ikey {
  lsm_slice ukey;
  uint64_t seq;
  int kind;
} lsm_ikey;

/* Returns 0 if ikey is shorter than a trailer or has an unknown kind. */
static inline int lsm_ikey_parse(lsm_slice ikey, lsm_ikey *out) {
  uint64_t t;
  if (ikey.n < LSM_TRAILER_SIZE) return 0;
  t = lsm_get_u64(ikey.p + ikey.n - LSM_TRAILER_SIZE);
  out->ukey = lsm_slice_make(ikey.p, ikey.n - LSM_TRAILER_SIZE);
  out->seq = t >> 8;
  out->kind = (int)(t & 0xff);
  return out->kind <= LSM_KIND_PUT;
}

static inline lsm_slice lsm_ikey_user(lsm_slice ikey) {
  return lsm_slice_make(ikey.p, ikey.n - LSM_TRAILER_SIZE);
}

/* The comparator of every sorted structure holding internal keys.  Both
** keys must be at least LSM_TRAILER_SIZE long. */
LSM_HOT_INLINE int lsm_ikey_cmp(lsm_slice a, lsm_slice b) {
  int c = lsm_slice_cmp(lsm_ikey_user(a), lsm_ikey_user(b));
  if (c) return c;
  {
    uint64_t ta = lsm_get_u64(a.p + a.n - LSM_TRAILER_SIZE);
    uint64_t tb = lsm_get_u64(b.p + b.n - LSM_TRAILER_SIZE);
    return ta > tb ? -1 : (ta < tb ? 1 : 0);
  }
}

/* Append user_key || trailer(seq, kind) to buf (the lookup key for "the
** newest version of ukey visible at seq" is lsm_ikey_append(ukey, seq,
** LSM_KIND_PUT)). */
static inline int lsm_ikey_append(lsm_buffer *buf, lsm_slice ukey,
                                  uint64_t seq, int kind) {
  int rc = lsm_buffer_append(buf, ukey.p, ukey.n);
  if (rc == LSM_OK) rc = lsm_buffer_append_u64(buf, lsm_pack_trailer(seq, kind));
  return rc;
}

#endif /* LSM_DBFORMAT_H */
