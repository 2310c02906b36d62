/*
** batch.c — write batches: the lsm_batch_* API of lsm.h and the log
** encoding of batch.h.
**
** A batch is a private memtable.  Its n-th operation since the last clear
** (n counted from 0) is inserted with sequence number LSM_SEQ_OVERLAY + n,
** so within the batch the newest operation on a key sorts first and wins,
** and laid over committed data (all below LSM_SEQ_OVERLAY) it shadows every
** committed version.  Older operations on the same key stay in the memtable:
** a savepoint (lsm_batch_mark) is the operation count, and rolling back to
** it rebuilds the memtable from the entries with n below the mark, which
** restores exactly the state the batch had when the mark was taken.
**
** Invariants of struct lsm_batch:
**  - mem == NULL means the batch is empty (n_ops == 0); the memtable is
**    created on first use, so lsm_batch_clear() never needs memory.
**  - every entry of mem has seq in [LSM_SEQ_OVERLAY, LSM_SEQ_OVERLAY+n_ops);
**  - n_distinct is the number of distinct user keys in mem;
**  - user_bytes is the sum over those keys of key length plus the value
**    length of the newest entry (0 for a delete).
**
** Log payload layout (see batch.h), all integers little-endian:
**
**   seq_base   u64
**   count      u32
**   count times: kind u8, varint key length, key bytes,
**                [varint value length, value bytes   if kind == PUT]
**
** Operations are in user-key order, one per distinct key, the i-th with
** sequence number seq_base + i.
*/
#include "batch.h"

#include <assert.h>
#include <stdlib.h>

struct lsm_batch {
  lsm_mem *mem;         /* NULL while empty */
  uint64_t n_ops;       /* operations added since the last clear */
  size_t n_distinct;    /* distinct user keys */
  uint64_t user_bytes;  /* key + value bytes of the newest op per key */
};

int lsm_batch_new(lsm_batch **out) {
  lsm_batch *b = calloc(1, sizeof(*b));
  *out = b;
  return b ? LSM_OK : LSM_NOMEM;
}

void lsm_batch_free(lsm_batch *b) {
  if (b == NULL) return;
  lsm_mem_unref(b->mem);
  free(b);
}

void lsm_batch_clear(lsm_batch *b) {
  lsm_mem_unref(b->mem);
  b->mem = NULL;
  b->n_ops = 0;
  b->n_distinct = 0;
  b->user_bytes = 0;
}

size_t lsm_batch_count(const lsm_batch *b) {
  return b->n_distinct;
}

uint64_t lsm_batch_user_bytes(const lsm_batch *b) {
  return b->user_bytes;
}

/* Make sure b->mem exists. */
static int ensure_mem(lsm_batch *b) {
  if (b->mem) return LSM_OK;
  return lsm_mem_new(&b->mem);
}

/* Record one operation; the counters change only if the insert succeeds. */
static int batch_add(lsm_batch *b, int kind, lsm_slice key, lsm_slice val) {
  int rc, old_kind, existed;
  lsm_slice old_val;

  if (key.n > 0 && key.p == NULL) return LSM_MISUSE;
  if (val.n > 0 && val.p == NULL) return LSM_MISUSE;
  if (b->n_ops >= LSM_SEQ_MAX - LSM_SEQ_OVERLAY) return LSM_MISUSE;
  rc = ensure_mem(b);
  if (rc != LSM_OK) return rc;

  existed = lsm_mem_get(b->mem, key, LSM_SEQ_MAX, &old_kind, &old_val);
  rc = lsm_mem_add(b->mem, LSM_SEQ_OVERLAY + b->n_ops, kind, key, val);
  if (rc != LSM_OK) return rc;

  b->n_ops++;
  if (existed) {
    b->user_bytes -= key.n + old_val.n;
  } else {
    b->n_distinct++;
  }
  b->user_bytes += key.n + val.n;
  return LSM_OK;
}

int lsm_batch_put(lsm_batch *b, const void *key, size_t key_len,
                  const void *val, size_t val_len) {
  return batch_add(b, LSM_KIND_PUT, lsm_slice_make(key, key_len),
                   lsm_slice_make(val, val_len));
}

int lsm_batch_delete(lsm_batch *b, const void *key, size_t key_len) {
  return batch_add(b, LSM_KIND_DELETE, lsm_slice_make(key, key_len),
                   lsm_slice_make(NULL, 0));
}

int lsm_batch_get(lsm_batch *b, const void *key, size_t key_len,
                  int *is_deleted, lsm_buffer *val) {
  int kind;
  lsm_slice v;

  if (key_len > 0 && key == NULL) return LSM_MISUSE;
  if (b->mem == NULL ||
      !lsm_mem_get(b->mem, lsm_slice_make(key, key_len), LSM_SEQ_MAX, &kind,
                   &v)) {
    return LSM_NOTFOUND;
  }
  if (is_deleted) *is_deleted = kind == LSM_KIND_DELETE;
  if (kind == LSM_KIND_PUT && val) return lsm_buffer_set(val, v.p, v.n);
  return LSM_OK;
}

uint64_t lsm_batch_mark(const lsm_batch *b) {
  return b->n_ops;
}

/* A mark is only meaningful until the batch is cleared or rolled back to an
** earlier mark; a mark above the current operation count is misuse. */
int lsm_batch_rollback_to(lsm_batch *b, uint64_t mark) {
  lsm_mem *fresh = NULL;
  lsm_it *it = NULL;
  lsm_slice prev_ukey = lsm_slice_make(NULL, 0);
  int have_prev = 0;
  size_t n_distinct = 0;
  uint64_t user_bytes = 0;
  int rc = LSM_OK;

  if (mark > b->n_ops) return LSM_MISUSE;
  if (mark == b->n_ops) return LSM_OK;
  if (mark == 0) {
    lsm_batch_clear(b);
    return LSM_OK;
  }

  rc = lsm_mem_new(&fresh);
  if (rc != LSM_OK) goto done;
  it = lsm_mem_iter_new(b->mem);
  if (it == NULL) { rc = LSM_NOMEM; goto done; }

  /* Entries come newest first per user key, so the first surviving entry
  ** of each key is the one that counts towards n_distinct/user_bytes. */
  for (lsm_it_first(it); lsm_it_valid(it); lsm_it_next(it)) {
    lsm_ikey k;
    lsm_slice v = lsm_it_value(it);
    if (!lsm_ikey_parse(lsm_it_key(it), &k)) {
      assert(0 && "batch memtable holds a malformed key");
      continue;
    }
    if (k.seq >= LSM_SEQ_OVERLAY + mark) continue;
    rc = lsm_mem_add(fresh, k.seq, k.kind, k.ukey, v);
    if (rc != LSM_OK) goto done;
    if (!have_prev || lsm_slice_cmp(prev_ukey, k.ukey) != 0) {
      n_distinct++;
      user_bytes += k.ukey.n + v.n;
      prev_ukey = k.ukey;
      have_prev = 1;
    }
  }

  lsm_it_free(it);
  it = NULL;
  lsm_mem_unref(b->mem);
  b->mem = fresh;
  fresh = NULL;
  b->n_ops = mark;
  b->n_distinct = n_distinct;
  b->user_bytes = user_bytes;

done:
  lsm_it_free(it);
  lsm_mem_unref(fresh);
  return rc;
}

lsm_it *lsm_batch_iter_new(lsm_batch *b) {
  if (ensure_mem(b) != LSM_OK) return NULL;
  return lsm_mem_iter_new(b->mem);
}

/* ------------------------------------------------------------------ */
/* Log encoding. */

int lsm_batch_encode(lsm_batch *b, uint64_t seq_base, lsm_buffer *out,
                     uint32_t *n_ops) {
  size_t start = out->len;
  lsm_it *it = NULL;
  lsm_slice prev_ukey = lsm_slice_make(NULL, 0);
  int have_prev = 0;
  uint32_t count = 0;
  unsigned char header[LSM_BATCH_HEADER_SIZE];
  int rc;

  if (n_ops) *n_ops = 0;
  if (b->n_distinct > UINT32_MAX) return LSM_MISUSE;
  if (seq_base > LSM_SEQ_MAX || b->n_distinct > LSM_SEQ_MAX - seq_base) {
    return LSM_MISUSE;
  }

  /* Header placeholder; the count is filled in at the end. */
  memset(header, 0, sizeof(header));
  rc = lsm_buffer_append(out, header, sizeof(header));
  if (rc != LSM_OK) goto done;

  if (b->mem) {
    it = lsm_mem_iter_new(b->mem);
    if (it == NULL) { rc = LSM_NOMEM; goto done; }
    for (lsm_it_first(it); lsm_it_valid(it); lsm_it_next(it)) {
      lsm_ikey k;
      unsigned char kind;
      if (!lsm_ikey_parse(lsm_it_key(it), &k)) {
        assert(0 && "batch memtable holds a malformed key");
        continue;
      }
      /* Only the newest entry of each key (the first one met) is encoded. */
      if (have_prev && lsm_slice_cmp(prev_ukey, k.ukey) == 0) continue;
      prev_ukey = k.ukey;
      have_prev = 1;

      kind = (unsigned char)k.kind;
      rc = lsm_buffer_append(out, &kind, 1);
      if (rc == LSM_OK) rc = lsm_buffer_append_varint(out, k.ukey.n);
      if (rc == LSM_OK) rc = lsm_buffer_append(out, k.ukey.p, k.ukey.n);
      if (rc == LSM_OK && k.kind == LSM_KIND_PUT) {
        lsm_slice v = lsm_it_value(it);
        rc = lsm_buffer_append_varint(out, v.n);
        if (rc == LSM_OK) rc = lsm_buffer_append(out, v.p, v.n);
      }
      if (rc != LSM_OK) goto done;
      count++;
    }
  }
  assert(count == b->n_distinct);

  lsm_put_u64(out->data + start, seq_base);
  lsm_put_u32(out->data + start + 8, count);
  if (n_ops) *n_ops = count;

done:
  lsm_it_free(it);
  if (rc != LSM_OK) out->len = start;  /* leave out as we found it */
  return rc;
}

/* One decoded operation of a payload. */
typedef struct batch_op {
  int kind;
  lsm_slice key;
  lsm_slice val;
} batch_op;

/* Decode the operation at *p (before end) into op and advance *p.
** LSM_CORRUPT if it is truncated or has an unknown kind. */
static int decode_op(const unsigned char **p, const unsigned char *end,
                     batch_op *op) {
  const unsigned char *q = *p;
  if (q >= end) return LSM_CORRUPT;
  op->kind = *q++;
  if (op->kind != LSM_KIND_PUT && op->kind != LSM_KIND_DELETE) {
    return LSM_CORRUPT;
  }
  q = lsm_get_length_prefixed(q, end, &op->key);
  if (q == NULL) return LSM_CORRUPT;
  op->val = lsm_slice_make(NULL, 0);
  if (op->kind == LSM_KIND_PUT) {
    q = lsm_get_length_prefixed(q, end, &op->val);
    if (q == NULL) return LSM_CORRUPT;
  }
  *p = q;
  return LSM_OK;
}

int lsm_batch_replay(lsm_slice payload, lsm_mem *mem, uint64_t *seq_base,
                     uint32_t *n_ops) {
  const unsigned char *p, *end;
  uint64_t base;
  uint32_t count, i;
  batch_op op;
  int rc = LSM_OK;

  *seq_base = 0;
  *n_ops = 0;
  if (payload.n < LSM_BATCH_HEADER_SIZE) return LSM_CORRUPT;
  base = lsm_get_u64(payload.p);
  count = lsm_get_u32(payload.p + 8);
  /* Every sequence number seq_base .. seq_base+count-1 must be valid. */
  if (base > LSM_SEQ_MAX || (count > 0 && count - 1 > LSM_SEQ_MAX - base)) {
    return LSM_CORRUPT;
  }
  end = payload.p + payload.n;

  /* Pass 1: validate everything, so a bad payload inserts nothing. */
  p = payload.p + LSM_BATCH_HEADER_SIZE;
  for (i = 0; i < count; i++) {
    rc = decode_op(&p, end, &op);
    if (rc != LSM_OK) goto done;
  }
  if (p != end) { rc = LSM_CORRUPT; goto done; }  /* trailing garbage */

  /* Pass 2: insert.  Only LSM_NOMEM can fail here, and then mem may hold a
  ** prefix of the operations (entries cannot be removed from a memtable);
  ** the caller must not use mem as a faithful replay after an error. */
  p = payload.p + LSM_BATCH_HEADER_SIZE;
  for (i = 0; i < count; i++) {
    rc = decode_op(&p, end, &op);
    assert(rc == LSM_OK);
    rc = lsm_mem_add(mem, base + i, op.kind, op.key, op.val);
    if (rc != LSM_OK) goto done;
  }
  *seq_base = base;
  *n_ops = count;

done:
  return rc;
}
