/*
** block.c — sorted key/value blocks: the builder, block handles and the
** block iterator (see block.h).
**
** Byte layout of block contents (LevelDB-style prefix compression):
**
**   entry*:   varint shared | varint unshared | varint value_len |
**             key_delta[unshared] | value[value_len]
**   restarts: u32 offset of each restart entry (little-endian)
**   u32       number of restarts (>= 1)
**
** An entry's key is the first `shared` bytes of the previous key followed by
** key_delta.  Every restart_interval-th entry (the first one included) is a
** restart point: it stores shared = 0 and its offset is listed in the
** restart array, so a reader can binary-search the restarts and then scan
** forward.  An empty block is just "u32 0 | u32 1" (one restart at offset 0
** with no entries behind it).
**
** A block handle is (varint offset, varint size) of the contents in the
** file; the 5-byte trailer (u8 type, u32 checksum) is written and verified
** by the table layer (sst.c), not here.
**
** Reader invariants, checked before any byte is used:
**  - the block is at least 4 bytes, the restart count is >= 1 and the
**    restart array fits in the block;
**  - restart offsets start at 0, strictly increase and lie inside the entry
**    region (the bytes before the restart array);
**  - every entry's varints decode inside the entry region, `shared` does not
**    exceed the previous key's length (so a restart entry must have
**    shared = 0), the key delta and value lie inside the entry region, and
**    the resulting key is long enough to be an internal key.
** A violation makes the iterator invalid with the sticky status LSM_CORRUPT.
*/
#include "block.h"

#include <assert.h>
#include <stdlib.h>

#include "dbformat.h"

/* ------------------------------------------------------------------ */
/* Builder */

void lsm_block_builder_init(lsm_block_builder *b, int restart_interval) {
  memset(b, 0, sizeof(*b));
  b->restart_interval = restart_interval >= 1 ? restart_interval
                                              : LSM_BLOCK_RESTART_INTERVAL;
}

void lsm_block_builder_free(lsm_block_builder *b) {
  lsm_buffer_free(&b->buf);
  lsm_buffer_free(&b->restarts);
  lsm_buffer_free(&b->last_key);
  b->n_since_restart = 0;
  b->n_entries = 0;
  b->rc = LSM_OK;
}

/* n_since_restart < 0 marks a finished block: buf then holds the complete
** contents and only _finish (again), _reset or _free may follow. */
#define FINISHED(b) ((b)->n_since_restart < 0)

int lsm_block_builder_add(lsm_block_builder *b, lsm_slice key, lsm_slice val) {
  lsm_slice last = lsm_slice_make(b->last_key.data, b->last_key.len);
  size_t shared = 0;
  size_t start = b->buf.len;
  int rc;

  if (b->rc) return b->rc;
  assert(!FINISHED(b));
  if (FINISHED(b) || key.n < LSM_TRAILER_SIZE ||
      (b->n_entries > 0 && lsm_ikey_cmp(last, key) >= 0)) {
    b->rc = LSM_MISUSE;
    return b->rc;
  }
  /* Restart offsets are u32: refuse to grow a block past 4 GiB. */
  if (start > UINT32_MAX) {
    b->rc = LSM_MISUSE;
    return b->rc;
  }

  if (b->n_entries == 0 || b->n_since_restart >= b->restart_interval) {
    rc = lsm_buffer_append_u32(&b->restarts, (uint32_t)start);
    if (rc) goto done;
    b->n_since_restart = 0;
  } else {
    size_t max = last.n < key.n ? last.n : key.n;
    while (shared < max && last.p[shared] == key.p[shared]) shared++;
  }

  rc = lsm_buffer_append_varint(&b->buf, shared);
  if (rc == LSM_OK) rc = lsm_buffer_append_varint(&b->buf, key.n - shared);
  if (rc == LSM_OK) rc = lsm_buffer_append_varint(&b->buf, val.n);
  if (rc == LSM_OK) rc = lsm_buffer_append(&b->buf, key.p + shared, key.n - shared);
  if (rc == LSM_OK) rc = lsm_buffer_append(&b->buf, val.p, val.n);
  if (rc == LSM_OK) rc = lsm_buffer_set(&b->last_key, key.p, key.n);
  if (rc) goto done;

  b->n_since_restart++;
  b->n_entries++;

done:
  if (rc) {
    /* A half-written entry would corrupt the block; the error is latched
    ** anyway, but keep buf consistent for whoever inspects it. */
    b->buf.len = start;
    b->rc = rc;
  }
  return rc;
}

size_t lsm_block_builder_size(const lsm_block_builder *b) {
  size_t restarts;
  if (FINISHED(b)) return b->buf.len;
  restarts = b->restarts.len ? b->restarts.len : 4;
  return b->buf.len + restarts + 4;
}

int lsm_block_builder_empty(const lsm_block_builder *b) {
  return b->n_entries == 0;
}

int lsm_block_builder_finish(lsm_block_builder *b, lsm_slice *out) {
  int rc = b->rc;
  if (rc) goto done;
  if (!FINISHED(b)) {
    uint32_t n_restarts;
    if (b->restarts.len == 0) {
      /* Empty block: one restart at offset 0 keeps "count >= 1". */
      rc = lsm_buffer_append_u32(&b->restarts, 0);
      if (rc) goto done;
    }
    n_restarts = (uint32_t)(b->restarts.len / 4);
    rc = lsm_buffer_reserve(&b->buf, b->restarts.len + 4);
    if (rc) goto done;
    rc = lsm_buffer_append(&b->buf, b->restarts.data, b->restarts.len);
    if (rc == LSM_OK) rc = lsm_buffer_append_u32(&b->buf, n_restarts);
    if (rc) goto done;
    b->n_since_restart = -1;
  }
  *out = lsm_slice_make(b->buf.data, b->buf.len);
done:
  if (rc) b->rc = rc;
  return rc;
}

void lsm_block_builder_reset(lsm_block_builder *b) {
  b->buf.len = 0;
  b->restarts.len = 0;
  b->last_key.len = 0;
  b->n_since_restart = 0;
  b->n_entries = 0;
  b->rc = LSM_OK;
}

/* ------------------------------------------------------------------ */
/* Handles */

int lsm_block_handle_append(lsm_buffer *out, lsm_block_handle h) {
  int rc = lsm_buffer_append_varint(out, h.offset);
  if (rc == LSM_OK) rc = lsm_buffer_append_varint(out, h.size);
  return rc;
}

const unsigned char *lsm_block_handle_decode(const unsigned char *p,
                                             const unsigned char *limit,
                                             lsm_block_handle *h) {
  p = lsm_varint_get(p, limit, &h->offset);
  if (p) p = lsm_varint_get(p, limit, &h->size);
  return p;
}

/* ------------------------------------------------------------------ */
/* Iterator */

typedef struct block_iter {
  lsm_it base;
  const unsigned char *data;  /* block contents */
  size_t data_end;            /* end of the entry region = restart array */
  const unsigned char *restarts;
  uint32_t n_restarts;
  size_t cur;                 /* offset of the current entry */
  size_t next;                /* offset just past the current entry */
  uint32_t restart_index;     /* restart group holding cur */
  lsm_buffer key;             /* current key, rebuilt from the deltas */
  lsm_slice value;            /* borrowed from data */
  int valid;
  int status;                 /* sticky */
  void (*release)(void *);
  void *release_arg;
} block_iter;

static size_t restart_at(const block_iter *it, uint32_t i) {
  return lsm_get_u32(it->restarts + 4 * (size_t)i);
}

static void set_corrupt(block_iter *it) {
  it->status = LSM_CORRUPT;
  it->valid = 0;
}

/* Parse the entry header at off.  On success fills *shared, *unshared,
** *vlen and returns the offset of the key delta; returns 0 (never a valid
** delta offset: an entry header is at least 3 bytes) if the header or the
** bytes it announces do not fit in the entry region. */
static size_t decode_header(const block_iter *it, size_t off, uint64_t *shared,
                            uint64_t *unshared, uint64_t *vlen) {
  const unsigned char *p = it->data + off;
  const unsigned char *limit = it->data + it->data_end;
  p = lsm_varint_get(p, limit, shared);
  if (p) p = lsm_varint_get(p, limit, unshared);
  if (p) p = lsm_varint_get(p, limit, vlen);
  if (p == NULL) return 0;
  if (*unshared > (uint64_t)(limit - p)) return 0;
  if (*vlen > (uint64_t)(limit - p) - *unshared) return 0;
  return (size_t)(p - it->data);
}

/* Decode the entry at it->next into the iterator, extending the key held in
** it->key (the previous entry's, or empty right after a restart).  Leaves
** the iterator invalid at the end of the block or on corruption. */
static void parse_next(block_iter *it) {
  uint64_t shared, unshared, vlen;
  size_t delta;

  it->cur = it->next;
  if (it->cur >= it->data_end) {
    it->valid = 0;  /* past the last entry */
    return;
  }
  while (it->restart_index + 1 < it->n_restarts &&
         restart_at(it, it->restart_index + 1) <= it->cur)
    it->restart_index++;
  delta = decode_header(it, it->cur, &shared, &unshared, &vlen);
  if (delta == 0 || shared > it->key.len ||
      shared + unshared < LSM_TRAILER_SIZE ||
      (shared != 0 && restart_at(it, it->restart_index) == it->cur)) {
    set_corrupt(it);
    return;
  }
  it->key.len = (size_t)shared;
  if (lsm_buffer_append(&it->key, it->data + delta, (size_t)unshared)) {
    it->status = LSM_NOMEM;
    it->valid = 0;
    return;
  }
  it->value = lsm_slice_make(it->data + delta + unshared, (size_t)vlen);
  it->next = delta + (size_t)unshared + (size_t)vlen;
  it->valid = 1;
}

static void seek_to_restart(block_iter *it, uint32_t i) {
  it->key.len = 0;
  it->restart_index = i;
  it->next = restart_at(it, i);
  parse_next(it);
}

/* Key of restart entry i without touching the iterator's position (a
** restart entry stores its whole key).  0 on corruption. */
static int restart_key(block_iter *it, uint32_t i, lsm_slice *key) {
  uint64_t shared, unshared, vlen;
  size_t off = restart_at(it, i);
  size_t delta;
  if (off >= it->data_end) return 0;
  delta = decode_header(it, off, &shared, &unshared, &vlen);
  if (delta == 0 || shared != 0 || unshared < LSM_TRAILER_SIZE) return 0;
  *key = lsm_slice_make(it->data + delta, (size_t)unshared);
  return 1;
}

static int bi_valid(lsm_it *base) {
  return ((block_iter *)base)->valid;
}

static void bi_first(lsm_it *base) {
  block_iter *it = (block_iter *)base;
  it->valid = 0;
  if (it->status) return;
  seek_to_restart(it, 0);
}

static void bi_last(lsm_it *base) {
  block_iter *it = (block_iter *)base;
  it->valid = 0;
  if (it->status) return;
  seek_to_restart(it, it->n_restarts - 1);
  while (it->valid && it->next < it->data_end) parse_next(it);
}

static void bi_seek(lsm_it *base, lsm_slice target) {
  block_iter *it = (block_iter *)base;
  uint32_t left = 0, right;
  it->valid = 0;
  if (it->status) return;
  /* Find the last restart whose key is < target; the answer is in its
  ** group or the first entry of the next group. */
  right = it->n_restarts - 1;
  while (left < right) {
    uint32_t mid = left + (right - left + 1) / 2;
    lsm_slice k;
    if (!restart_key(it, mid, &k)) {
      set_corrupt(it);
      return;
    }
    if (lsm_ikey_cmp(k, target) < 0)
      left = mid;
    else
      right = mid - 1;
  }
  seek_to_restart(it, left);
  while (it->valid &&
         lsm_ikey_cmp(lsm_slice_make(it->key.data, it->key.len), target) < 0)
    parse_next(it);
}

static void bi_prev(lsm_it *base) {
  block_iter *it = (block_iter *)base;
  size_t original = it->cur;
  assert(it->valid);
  if (!it->valid) return;
  /* Back up to the restart group that starts before the current entry, then
  ** scan forward to the entry just before it. */
  while (restart_at(it, it->restart_index) >= original) {
    if (it->restart_index == 0) {
      it->valid = 0;  /* the current entry was the first */
      return;
    }
    it->restart_index--;
  }
  seek_to_restart(it, it->restart_index);
  while (it->valid && it->next < original) parse_next(it);
}

static void bi_seek_le(lsm_it *base, lsm_slice target) {
  block_iter *it = (block_iter *)base;
  bi_seek(base, target);
  if (it->status) return;
  if (!it->valid) {
    bi_last(base);  /* every key is < target */
    return;
  }
  if (lsm_ikey_cmp(lsm_slice_make(it->key.data, it->key.len), target) > 0)
    bi_prev(base);
}

static void bi_next(lsm_it *base) {
  block_iter *it = (block_iter *)base;
  assert(it->valid);
  if (!it->valid) return;
  parse_next(it);
}

static lsm_slice bi_key(lsm_it *base) {
  block_iter *it = (block_iter *)base;
  assert(it->valid);
  return lsm_slice_make(it->key.data, it->key.len);
}

static lsm_slice bi_value(lsm_it *base) {
  block_iter *it = (block_iter *)base;
  assert(it->valid);
  return it->value;
}

static int bi_status(lsm_it *base) {
  return ((block_iter *)base)->status;
}

static void bi_free(lsm_it *base) {
  block_iter *it = (block_iter *)base;
  lsm_buffer_free(&it->key);
  if (it->release) it->release(it->release_arg);
  free(it);
}

static const lsm_it_methods block_iter_methods = {
  bi_valid, bi_first, bi_last, bi_seek, bi_seek_le, bi_next, bi_prev,
  bi_key, bi_value, bi_status, bi_free, NULL,   /* the table iterator words errors */
};

/* Check the restart array of contents; fills the iterator's geometry and
** returns 1 if it is well formed. */
static int parse_restarts(block_iter *it, lsm_slice contents) {
  uint32_t n, i;
  size_t prev = 0;
  if (contents.n < 4) return 0;
  n = lsm_get_u32(contents.p + contents.n - 4);
  if (n == 0 || n > (contents.n - 4) / 4) return 0;
  it->n_restarts = n;
  it->data_end = contents.n - 4 - 4 * (size_t)n;
  it->restarts = contents.p + it->data_end;
  if (restart_at(it, 0) != 0) return 0;
  if (it->data_end == 0) return n == 1;  /* the empty block */
  for (i = 0; i < n; i++) {
    size_t off = restart_at(it, i);
    if (off >= it->data_end || (i > 0 && off <= prev)) return 0;
    prev = off;
  }
  return 1;
}

/* Only the geometry of the restart array, for contents whose restart array
** was validated before (lsm_block_iter_new_trusted). */
static void parse_restarts_trusted(block_iter *it, lsm_slice contents) {
  it->n_restarts = lsm_get_u32(contents.p + contents.n - 4);
  it->data_end = contents.n - 4 - 4 * (size_t)it->n_restarts;
  it->restarts = contents.p + it->data_end;
}

lsm_it *lsm_block_iter_new_trusted(lsm_slice contents) {
  block_iter *it = calloc(1, sizeof(*it));
  if (it == NULL) return NULL;
  it->base.m = &block_iter_methods;
  it->data = contents.p;
  parse_restarts_trusted(it, contents);
  return &it->base;
}

lsm_it *lsm_block_iter_new(lsm_slice contents, void (*release)(void *),
                           void *release_arg) {
  block_iter *it = calloc(1, sizeof(*it));
  if (it == NULL) {
    if (release) release(release_arg);
    return NULL;
  }
  it->base.m = &block_iter_methods;
  it->data = contents.p;
  it->release = release;
  it->release_arg = release_arg;
  if (!parse_restarts(it, contents)) {
    /* Empty iterator reporting the corruption; never touches the bytes. */
    it->n_restarts = 0;
    it->data_end = 0;
    it->status = LSM_CORRUPT;
  }
  return &it->base;
}
