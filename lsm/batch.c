/*
** batch.c — write batches: the lsm_batch_* API of lsm.h and the log
** encoding of batch.h.
**
** Most batches are only filled and committed, so filling is made as cheap
** as possible and everything else is derived on demand:
**
**  - log: an append-only byte string holding the operations back to back,
**    in the order they were made, each in exactly its log payload form
**    (kind u8, varint key length, key, [varint value length, value]), so
**    lsm_batch_encode() copies operations without re-encoding them.
**  - ops[i]: where operation i starts in log, the low 32 bits of its key's
**    hash, and the index of the previous operation on the same key (NO_OP
**    if none).  A savepoint is an operation count, so rolling back is a
**    truncation of log and ops plus an undo of the index (below).
**  - slots: an open-addressing hash table (linear probing, power-of-two
**    size, at most half full, grown by doubling) mapping each distinct key
**    to its newest operation, which makes lsm_batch_get(), the distinct-key
**    count and the user-byte total O(1) per operation.
**  - mem: a sorted view for iterators, a memtable built lazily.  It holds
**    operations [0, indexed) with sequence numbers LSM_SEQ_OVERLAY + i;
**    lsm_batch_iter_new() inserts [indexed, n_ops) first.  Within the view
**    the newest operation on a key sorts first, and laid over committed data
**    (all below LSM_SEQ_OVERLAY) it shadows every committed version.  An
**    iterator created earlier holds a reference on mem and was given a
**    visibility limit of LSM_SEQ_OVERLAY + (operation count at its
**    creation) by dbiter.c, so entries added for later operations stay
**    unseen by it.
**  - sort, bits: lsm_batch_encode()'s scratch, reused between commits.
**
** Commit (lsm_batch_encode): the payload holds the newest operation of each
** key, in key order.  Copying the log as is would be cheaper here, but
** then the engine inserts the operations into its memtable in random key
** order, which is slower (successive skiplist searches no longer share
** their path).  Measured on 1M random 16-byte keys committed in 1000-op
** batches: copying the log as is gave back at commit all that cheaper
** filling saved; sorting costs about 4% of the commit and keeps the whole
** gain.  Dropping superseded operations also keeps them out of the log and
** the memtable.
**
** Invariants of struct lsm_batch:
**  (1) log.len == sum of the encoded sizes of ops [0, n_ops); ops[i].off is
**      the offset of operation i, increasing with i.
**  (2) n_ops <= BATCH_MAX_OPS, so an operation index fits in 31 bits and
**      the slot table (at most twice the distinct keys) in 2^32 entries.
**  (3) For every distinct key among ops [0, n_ops) exactly one slot holds
**      (newest op index + 1, its hash); other slots are 0.  n_distinct
**      counts them, and n_distinct * 2 <= n_slots when n_slots > 0.
**  (4) ops[i].prev is the largest j < i on the same key, or NO_OP.
**  (5) user_bytes is the sum over distinct keys of key length plus the
**      value length of the newest operation (0 for a delete).
**  (6) mem == NULL implies indexed == 0; otherwise mem holds exactly ops
**      [0, indexed) and indexed <= n_ops.  Operations are never changed
**      in place, so these entries stay right until a rollback truncates
**      below indexed, which drops mem (open iterators keep their
**      reference and keep seeing what they saw).
**
** Rollback to mark walks operations n_ops-1 down to mark: each one is the
** newest of its key at that point, so its slot is found by its hash and
** either re-pointed at ops[i].prev or, with no previous operation, removed
** (backward-shift deletion keeps every probe sequence unbroken).  It costs
** O(operations undone) and cannot fail.
**
** Memory: log, ops, slots and the scratch grow by doubling or to the size
** needed (no allocation per operation).  lsm_batch_clear() keeps them for
** the next transaction unless they are much larger than what the cleared
** batch used (a connection reuses one batch for every commit; a bulk load
** should not pin its memory, nor make every later clear wipe a huge
** table).
**
** Log payload layout (see batch.h), all integers little-endian:
**
**   seq_base   u64
**   count      u32   number of operations
**   count times: kind u8, varint key length, key bytes,
**                [varint value length, value bytes   if kind == PUT]
**
** The i-th operation has sequence number seq_base + i.  The encoder writes
** one operation per distinct key (the batch's newest on it), in key order.
** The replayer accepts any order and repeated keys: each occurrence is
** applied with its own sequence number, so the later one wins.
*/
#include "batch.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

/* Invariant (2); lsm_batch_put/delete return LSM_MISUSE beyond it.  Not a
** practical limit: that many operations take at least 4 GiB of log plus
** 32 GiB of ops, and a log record (LSM_WAL_MAX_PAYLOAD, 2^31-1 bytes)
** holds far fewer distinct keys. */
#define BATCH_MAX_OPS ((uint32_t)0x7fffffff)
#define NO_OP UINT32_MAX

#define MIN_SLOTS 16
/* lsm_batch_clear() keeps a buffer of up to this many bytes, or up to four
** times what the cleared batch used. */
#define KEEP_BYTES ((size_t)64 << 10)

typedef struct batch_op {
  uint64_t off;   /* start of the operation in log */
  uint32_t hash;  /* low 32 bits of the key's hash */
  uint32_t prev;  /* previous operation on the same key, or NO_OP */
} batch_op;

/* An operation to encode, with the first 8 bytes of its key as a
** big-endian integer (zero-padded), which decides most comparisons. */
typedef struct batch_sort_ent {
  uint64_t prefix;
  uint32_t op;
} batch_sort_ent;

typedef struct batch_slot {
  uint32_t op1;   /* newest operation on the key + 1; 0: empty slot */
  uint32_t hash;  /* that key's hash */
} batch_slot;

struct lsm_batch {
  lsm_buffer log;        /* invariant (1) */
  batch_op *ops;
  uint32_t n_ops, cap_ops;
  batch_slot *slots;     /* NULL while n_slots == 0 */
  size_t n_slots;        /* 0 or a power of two */
  size_t n_distinct;     /* distinct user keys */
  uint64_t user_bytes;   /* key + value bytes of the newest op per key */
  lsm_mem *mem;          /* lazy sorted view, invariant (6) */
  uint32_t indexed;
  batch_sort_ent *sort;  /* lsm_batch_encode's scratch: cap_sort entries */
  size_t cap_sort;
  uint64_t *bits;        /* and cap_bits words of bitmap */
  size_t cap_bits;
};

/* One decoded operation (of a payload or of a batch's log). */
typedef struct batch_rec {
  int kind;
  lsm_slice key;
  lsm_slice val;
} batch_rec;

/* Decode the operation at *p (before end) into rec and advance *p.
** LSM_CORRUPT if it is truncated or has an unknown kind. */
static int decode_op(const unsigned char **p, const unsigned char *end,
                     batch_rec *rec) {
  const unsigned char *q = *p;
  if (q >= end) return LSM_CORRUPT;
  rec->kind = *q++;
  if (rec->kind != LSM_KIND_PUT && rec->kind != LSM_KIND_DELETE) {
    return LSM_CORRUPT;
  }
  q = lsm_get_length_prefixed(q, end, &rec->key);
  if (q == NULL) return LSM_CORRUPT;
  rec->val = lsm_slice_make(NULL, 0);
  if (rec->kind == LSM_KIND_PUT) {
    q = lsm_get_length_prefixed(q, end, &rec->val);
    if (q == NULL) return LSM_CORRUPT;
  }
  *p = q;
  return LSM_OK;
}

/* Operation i of b (i < n_ops); the slices borrow b's log. */
static batch_rec op_at(const lsm_batch *b, uint32_t i) {
  const unsigned char *p = b->log.data + b->ops[i].off;
  batch_rec rec;
  int rc = decode_op(&p, b->log.data + b->log.len, &rec);
  assert(rc == LSM_OK && "batch log holds a malformed operation");
  (void)rc;
  return rec;
}

static uint32_t key_hash(lsm_slice key) {
  return (uint32_t)lsm_checksum64(key.p, key.n);
}

/* The slot holding key (hash h), or else the empty slot ending its probe
** sequence.  Requires n_slots > 0 (and so, by (3), an empty slot). */
static size_t find_slot(const lsm_batch *b, lsm_slice key, uint32_t h) {
  size_t mask = b->n_slots - 1, i = h & mask;
  for (;; i = (i + 1) & mask) {
    const batch_slot *s = &b->slots[i];
    if (s->op1 == 0) return i;
    if (s->hash == h && lsm_slice_cmp(op_at(b, s->op1 - 1).key, key) == 0) {
      return i;
    }
  }
}

/* The slot pointing at operation i, which must be its key's newest. */
static size_t slot_of_op(const lsm_batch *b, uint32_t i) {
  size_t mask = b->n_slots - 1, j = b->ops[i].hash & mask;
  while (b->slots[j].op1 != i + 1) {
    assert(b->slots[j].op1 != 0 && "batch op missing from its index");
    j = (j + 1) & mask;
  }
  return j;
}

/* Empty slot j, moving later members of its cluster back so that every
** key stays reachable from its home slot without crossing an empty one. */
static void remove_slot(lsm_batch *b, size_t j) {
  size_t mask = b->n_slots - 1, k = j;
  for (;;) {
    size_t home;
    k = (k + 1) & mask;
    if (b->slots[k].op1 == 0) break;
    home = b->slots[k].hash & mask;
    /* Slot k may move to j unless its home lies cyclically in (j, k]. */
    if (j <= k ? (home > j && home <= k) : (home > j || home <= k)) continue;
    b->slots[j] = b->slots[k];
    j = k;
  }
  b->slots[j].op1 = 0;
  b->slots[j].hash = 0;
}

/* Make room for one more distinct key: keep the table at most half full. */
static int ensure_slots(lsm_batch *b) {
  size_t n, i, mask;
  batch_slot *fresh;
  if ((b->n_distinct + 1) * 2 <= b->n_slots) return LSM_OK;
  if (b->n_slots > SIZE_MAX / 2 / sizeof(*fresh)) return LSM_NOMEM;
  n = b->n_slots ? b->n_slots * 2 : MIN_SLOTS;
  fresh = calloc(n, sizeof(*fresh));
  if (fresh == NULL) return LSM_NOMEM;
  mask = n - 1;
  for (i = 0; i < b->n_slots; i++) {
    size_t j;
    if (b->slots[i].op1 == 0) continue;
    /* Keys are distinct: no comparison, just the first empty slot. */
    for (j = b->slots[i].hash & mask; fresh[j].op1 != 0; j = (j + 1) & mask) {
    }
    fresh[j] = b->slots[i];
  }
  free(b->slots);
  b->slots = fresh;
  b->n_slots = n;
  return LSM_OK;
}

static int ensure_ops(lsm_batch *b) {
  uint32_t cap;
  batch_op *p;
  if (b->n_ops < b->cap_ops) return LSM_OK;
  cap = b->cap_ops ? b->cap_ops * 2 : 64;
  if (cap > BATCH_MAX_OPS) cap = BATCH_MAX_OPS;
  if ((uint64_t)cap * sizeof(*p) > SIZE_MAX) return LSM_NOMEM;
  p = realloc(b->ops, (size_t)cap * sizeof(*p));
  if (p == NULL) return LSM_NOMEM;
  b->ops = p;
  b->cap_ops = cap;
  return LSM_OK;
}

/* Drop the sorted view (iterators keep their references). */
static void drop_mem(lsm_batch *b) {
  lsm_mem_unref(b->mem);
  b->mem = NULL;
  b->indexed = 0;
}

int lsm_batch_new(lsm_batch **out) {
  lsm_batch *b = calloc(1, sizeof(*b));
  *out = b;
  return b ? LSM_OK : LSM_NOMEM;
}

void lsm_batch_free(lsm_batch *b) {
  if (b == NULL) return;
  lsm_mem_unref(b->mem);
  lsm_buffer_free(&b->log);
  free(b->ops);
  free(b->slots);
  free(b->sort);
  free(b->bits);
  free(b);
}

/* Whether clear() should release a buffer of cap bytes of which used were
** in use by the batch being cleared. */
static int too_big_to_keep(size_t cap, size_t used) {
  return cap > KEEP_BYTES && cap / 4 > used;
}

void lsm_batch_clear(lsm_batch *b) {
  drop_mem(b);
  if (too_big_to_keep(b->log.cap, b->log.len)) lsm_buffer_free(&b->log);
  b->log.len = 0;
  if (too_big_to_keep((size_t)b->cap_ops * sizeof(batch_op),
                      (size_t)b->n_ops * sizeof(batch_op))) {
    free(b->ops);
    b->ops = NULL;
    b->cap_ops = 0;
  }
  if (too_big_to_keep(b->cap_sort * sizeof(batch_sort_ent),
                      b->n_distinct * 2 * sizeof(batch_sort_ent))) {
    free(b->sort);
    b->sort = NULL;
    b->cap_sort = 0;
  }
  if (too_big_to_keep(b->cap_bits * sizeof(uint64_t), b->n_ops / 8 + 8)) {
    free(b->bits);
    b->bits = NULL;
    b->cap_bits = 0;
  }
  /* Wiping the table costs its size: keep it only while that is in
  ** proportion to the work of the batch just cleared. */
  if (too_big_to_keep(b->n_slots * sizeof(batch_slot),
                      b->n_distinct * 2 * sizeof(batch_slot))) {
    free(b->slots);
    b->slots = NULL;
    b->n_slots = 0;
  } else if (b->n_distinct > 0) {
    memset(b->slots, 0, b->n_slots * sizeof(batch_slot));
  }
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

/* Record one operation.  Everything that can fail (the misuse checks and
** the three allocations) happens before the batch changes. */
static int batch_add(lsm_batch *b, int kind, lsm_slice key, lsm_slice val) {
  size_t need, slot;
  uint32_t h, i, prev;
  unsigned char *p;
  int rc;

  if (key.n > 0 && key.p == NULL) return LSM_MISUSE;
  if (val.n > 0 && val.p == NULL) return LSM_MISUSE;
  if (b->n_ops >= BATCH_MAX_OPS) return LSM_MISUSE;
  if (key.n > SIZE_MAX / 2 - 2 * LSM_MAX_VARINT64 ||
      val.n > SIZE_MAX / 2 - 2 * LSM_MAX_VARINT64) {
    return LSM_NOMEM;
  }
  need = 1 + lsm_varint_len(key.n) + key.n;
  if (kind == LSM_KIND_PUT) need += lsm_varint_len(val.n) + val.n;

  rc = ensure_ops(b);
  if (rc == LSM_OK) rc = ensure_slots(b);
  if (rc == LSM_OK) rc = lsm_buffer_reserve(&b->log, need);
  if (rc != LSM_OK) return rc;

  h = key_hash(key);
  slot = find_slot(b, key, h);
  i = b->n_ops;
  prev = b->slots[slot].op1 ? b->slots[slot].op1 - 1 : NO_OP;

  /* Append the operation in its log form (invariant (1)). */
  p = b->log.data + b->log.len;
  *p++ = (unsigned char)kind;
  p += lsm_varint_put(p, key.n);
  if (key.n) memcpy(p, key.p, key.n);
  p += key.n;
  if (kind == LSM_KIND_PUT) {
    p += lsm_varint_put(p, val.n);
    if (val.n) memcpy(p, val.p, val.n);
    p += val.n;
  }
  assert((size_t)(p - (b->log.data + b->log.len)) == need);
  b->ops[i].off = b->log.len;
  b->ops[i].hash = h;
  b->ops[i].prev = prev;
  b->log.len += need;
  b->n_ops++;

  if (prev == NO_OP) {
    b->n_distinct++;
  } else {
    b->user_bytes -= key.n + op_at(b, prev).val.n;
  }
  b->user_bytes += key.n + val.n;
  b->slots[slot].op1 = i + 1;
  b->slots[slot].hash = h;
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
  lsm_slice k = lsm_slice_make(key, key_len);
  batch_rec rec;
  size_t slot;

  if (key_len > 0 && key == NULL) return LSM_MISUSE;
  if (b->n_distinct == 0) return LSM_NOTFOUND;
  slot = find_slot(b, k, key_hash(k));
  if (b->slots[slot].op1 == 0) return LSM_NOTFOUND;
  rec = op_at(b, b->slots[slot].op1 - 1);
  if (is_deleted) *is_deleted = rec.kind == LSM_KIND_DELETE;
  if (rec.kind == LSM_KIND_PUT && val) {
    return lsm_buffer_set(val, rec.val.p, rec.val.n);
  }
  return LSM_OK;
}

uint64_t lsm_batch_mark(const lsm_batch *b) {
  return b->n_ops;
}

/* A mark is only meaningful until the batch is cleared or rolled back to an
** earlier mark; a mark above the current operation count is misuse. */
int lsm_batch_rollback_to(lsm_batch *b, uint64_t mark) {
  uint32_t i;

  if (mark > b->n_ops) return LSM_MISUSE;
  if (mark == b->n_ops) return LSM_OK;
  if (mark == 0) {
    lsm_batch_clear(b);
    return LSM_OK;
  }

  /* Undo the index newest first: operation i is then its key's newest. */
  for (i = b->n_ops; i-- > mark;) {
    size_t slot = slot_of_op(b, i);
    uint32_t prev = b->ops[i].prev;
    batch_rec rec = op_at(b, i);
    b->user_bytes -= rec.key.n + rec.val.n;
    if (prev == NO_OP) {
      remove_slot(b, slot);
      b->n_distinct--;
    } else {
      b->slots[slot].op1 = prev + 1;
      b->user_bytes += rec.key.n + op_at(b, prev).val.n;
    }
  }
  b->log.len = (size_t)b->ops[mark].off;
  b->n_ops = (uint32_t)mark;
  /* Invariant (6): entries for operations at or after mark would now be
  ** wrong (those numbers will be reused by new operations). */
  if (b->indexed > mark) drop_mem(b);
  return LSM_OK;
}

lsm_it *lsm_batch_iter_new(lsm_batch *b) {
  if (b->mem == NULL) {
    if (lsm_mem_new(&b->mem) != LSM_OK) return NULL;
    b->indexed = 0;
  }
  /* Bring the sorted view up to date; a failure leaves it consistent with
  ** indexed (invariant (6)), and the next call resumes there. */
  while (b->indexed < b->n_ops) {
    batch_rec rec = op_at(b, b->indexed);
    if (lsm_mem_add(b->mem, LSM_SEQ_OVERLAY + b->indexed, rec.kind, rec.key,
                    rec.val) != LSM_OK) {
      return NULL;
    }
    b->indexed++;
  }
  return lsm_mem_iter_new(b->mem);
}

/* ------------------------------------------------------------------ */
/* Log encoding. */

static uint64_t key_prefix(lsm_slice key) {
  uint64_t v = 0;
  size_t i;
  if (key.n >= 8) return __builtin_bswap64(lsm_get_u64(key.p));
  for (i = 0; i < 8; i++) v = v << 8 | (i < key.n ? key.p[i] : 0);
  return v;
}

/* Key order; the keys of the entries sorted are distinct. */
static int sort_less(const lsm_batch *b, const batch_sort_ent *x,
                     const batch_sort_ent *y) {
  if (x->prefix != y->prefix) return x->prefix < y->prefix;
  return lsm_slice_cmp(op_at(b, x->op).key, op_at(b, y->op).key) < 0;
}

/* Merge sort of a[0, n) using tmp[0, n/2) as scratch.  Linear on input
** already in order (keys inserted ascending, as bulk loads often are). */
static void sort_ents(const lsm_batch *b, batch_sort_ent *a,
                      batch_sort_ent *tmp, size_t n) {
  size_t h, i, j, k;
  if (n <= 16) {
    for (i = 1; i < n; i++) {
      batch_sort_ent e = a[i];
      for (j = i; j > 0 && sort_less(b, &e, &a[j - 1]); j--) a[j] = a[j - 1];
      a[j] = e;
    }
    return;
  }
  h = n / 2;
  sort_ents(b, a, tmp, h);
  sort_ents(b, a + h, tmp, n - h);
  if (!sort_less(b, &a[h], &a[h - 1])) return;
  memcpy(tmp, a, h * sizeof(*a));
  i = 0;
  j = h;
  k = 0;
  while (i < h && j < n) {
    a[k++] = sort_less(b, &a[j], &tmp[i]) ? a[j++] : tmp[i++];
  }
  while (i < h) a[k++] = tmp[i++];
}

/* Encoded size of operation i. */
static size_t op_size(const lsm_batch *b, uint32_t i) {
  uint64_t end = i + 1 < b->n_ops ? b->ops[i + 1].off : b->log.len;
  return (size_t)(end - b->ops[i].off);
}

/* Scratch of at least need (>= 1) elements of size elem in place of old,
** whose contents are not kept: old itself if its *cap elements suffice, else
** a new allocation (old freed, *cap updated).  NULL on NOMEM (old kept). */
static void *scratch(void *old, size_t *cap, size_t need, size_t elem) {
  void *fresh;
  if (need <= *cap) return old;
  if (need > SIZE_MAX / elem) return NULL;
  fresh = malloc(need * elem);
  if (fresh == NULL) return NULL;
  free(old);
  *cap = need;
  return fresh;
}

/* Only the newest operation on each key is encoded, in key order: the
** payload is smaller than the log when keys repeat, and the commit inserts
** it into the engine's memtable in key order, which is markedly faster
** than random order (successive skiplist searches share their path; for
** 1000-op batches of random keys the sort costs far less than it saves).
**
** The newest operations are the ones the slots point to (invariant (3)).
** They are marked in a bitmap and then visited in log order, so their keys
** are read from the log front to back rather than at random. */
int lsm_batch_encode(lsm_batch *b, uint64_t seq_base, lsm_buffer *out,
                     uint32_t *n_ops) {
  size_t d = b->n_distinct, n = 0, bytes = 0, words, i, w;
  batch_sort_ent *sort;
  uint64_t *bits;
  unsigned char *p;
  int rc;

  if (n_ops) *n_ops = 0;
  if (seq_base > LSM_SEQ_MAX || d > LSM_SEQ_MAX - seq_base) return LSM_MISUSE;
  words = ((size_t)b->n_ops + 63) / 64;
  /* d entries to sort and d/2 for merging. */
  sort = scratch(b->sort, &b->cap_sort, d + d / 2 + 1, sizeof(*sort));
  if (sort == NULL) return LSM_NOMEM;
  b->sort = sort;
  bits = scratch(b->bits, &b->cap_bits, words + 1, sizeof(*bits));
  if (bits == NULL) return LSM_NOMEM;
  b->bits = bits;

  memset(b->bits, 0, words * sizeof(uint64_t));
  for (i = 0; i < b->n_slots; i++) {
    uint32_t op1 = b->slots[i].op1;
    if (op1) b->bits[(op1 - 1) / 64] |= (uint64_t)1 << ((op1 - 1) % 64);
  }
  for (w = 0; w < words; w++) {
    uint64_t word = b->bits[w];
    while (word) {
      uint32_t op = (uint32_t)(w * 64 + (size_t)__builtin_ctzll(word));
      word &= word - 1;
      b->sort[n].op = op;
      b->sort[n].prefix = key_prefix(op_at(b, op).key);
      bytes += op_size(b, op);  /* sum <= log.len: no overflow */
      n++;
    }
  }
  assert(n == d);
  sort_ents(b, b->sort, b->sort + d, n);

  if (bytes > SIZE_MAX - LSM_BATCH_HEADER_SIZE) return LSM_NOMEM;
  rc = lsm_buffer_reserve(out, LSM_BATCH_HEADER_SIZE + bytes);
  if (rc != LSM_OK) return rc;
  p = out->data + out->len;
  lsm_put_u64(p, seq_base);
  lsm_put_u32(p + 8, (uint32_t)d);  /* fits: invariant (2) */
  p += LSM_BATCH_HEADER_SIZE;
  for (i = 0; i < n; i++) {
    uint32_t op = b->sort[i].op;
    size_t size = op_size(b, op);
    memcpy(p, b->log.data + b->ops[op].off, size);
    p += size;
  }
  out->len += LSM_BATCH_HEADER_SIZE + bytes;
  if (n_ops) *n_ops = (uint32_t)d;
  return LSM_OK;
}

int lsm_batch_replay(lsm_slice payload, lsm_mem *mem, uint64_t *seq_base,
                     uint32_t *n_ops) {
  const unsigned char *p, *end;
  uint64_t base;
  uint32_t count, i;
  batch_rec rec;
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
    rc = decode_op(&p, end, &rec);
    if (rc != LSM_OK) goto done;
  }
  if (p != end) { rc = LSM_CORRUPT; goto done; }  /* trailing garbage */

  /* Pass 2: insert.  A key may occur several times; each occurrence gets
  ** its own sequence number, the last the highest, so it wins.  Only
  ** LSM_NOMEM can fail here, and then mem may hold a prefix of the
  ** operations (entries cannot be removed from a memtable); the caller must
  ** not use mem as a faithful replay after an error. */
  p = payload.p + LSM_BATCH_HEADER_SIZE;
  for (i = 0; i < count; i++) {
    rc = decode_op(&p, end, &rec);
    assert(rc == LSM_OK);
    rc = lsm_mem_add(mem, base + i, rec.kind, rec.key, rec.val);
    if (rc != LSM_OK) goto done;
  }
  *seq_base = base;
  *n_ops = count;

done:
  return rc;
}
