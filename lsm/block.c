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
/* Iterator
**
** Stepping backward.  Entries only decode forward (each key extends the
** previous one), so a step back re-decodes the restart group from its
** restart point.  Doing that on every step would cost O(interval) per
** entry; instead the re-decoding records every entry of the group before
** the current one (offsets, value, whole key) in it->prev, and the
** following steps back inside the group replay that record.  The record is
** bounded (PREV_MAX_ENTRIES, PREV_MAX_KEY_BYTES): a group too large for it
** (never written by our builder; a crafted block) is simply re-decoded on
** each step, as before.  Invariant: prev_pos < n_prev and
** prev[prev_pos].cur == cur mean the record describes the current group
** (prev_group) up to the current entry. */

#define PREV_MAX_ENTRIES 256
#define PREV_MAX_KEY_BYTES (64 * 1024)

typedef lsm_block_iter block_iter;

static size_t restart_at(const block_iter *it, uint32_t i) {
  return lsm_get_u32(it->restarts + 4 * (size_t)i);
}

static void set_corrupt(block_iter *it) {
  it->status = LSM_CORRUPT;
  it->valid = 0;
}

/* Room for n key bytes, keeping the first `keep`.  0 when out of memory. */
static int key_reserve(block_iter *it, size_t n, size_t keep) {
  unsigned char *k;
  size_t cap;
  if (n <= it->key_cap) return 1;
  cap = it->key_cap * 2 > n ? it->key_cap * 2 : n;
  k = malloc(cap);
  if (k == NULL) return 0;
  if (keep) memcpy(k, it->key, keep);
  if (it->key != it->key_space) free(it->key);
  it->key = k;
  it->key_cap = cap;
  return 1;
}

/* Parse the entry header at off.  On success fills *shared, *unshared,
** *vlen and returns the offset of the key delta; returns 0 (never a valid
** delta offset: an entry header is at least 3 bytes) if the header or the
** bytes it announces do not fit in the entry region.  Inlined: it runs
** once per entry of every scan. */
LSM_HOT_INLINE size_t decode_header(const block_iter *it, size_t off, uint64_t *shared,
                                    uint64_t *unshared, uint64_t *vlen) {
  const unsigned char *p = it->data + off;
  const unsigned char *limit = it->data + it->data_end;
  if (limit - p >= 3 && (p[0] | p[1] | p[2]) < 0x80) {
    /* The common case: three one-byte varints. */
    *shared = p[0];
    *unshared = p[1];
    *vlen = p[2];
    p += 3;
  } else {
    p = lsm_varint_get(p, limit, shared);
    if (p) p = lsm_varint_get(p, limit, unshared);
    if (p) p = lsm_varint_get(p, limit, vlen);
    if (p == NULL) return 0;
  }
  if (*unshared > (uint64_t)(limit - p)) return 0;
  if (*vlen > (uint64_t)(limit - p) - *unshared) return 0;
  return (size_t)(p - it->data);
}

/* Make restart group i the current one (group_start, group_end cache its
** bounds so that a step reads no restart offset). */
static void set_group(block_iter *it, uint32_t i) {
  it->restart_index = i;
  it->group_start = restart_at(it, i);
  it->group_end = i + 1 < it->n_restarts ? restart_at(it, i + 1) : it->data_end;
}

/* cur passed the end of its restart group: find the group holding it. */
static void advance_group(block_iter *it) {
  uint32_t i = it->restart_index;
  while (i + 1 < it->n_restarts && restart_at(it, i + 1) <= it->cur) i++;
  set_group(it, i);
}

/* Key bytes copied with one fixed-size move when the delta is short (most
** keys): no call into memcpy for a handful of bytes. */
#define SHORT_DELTA 32

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
  if (it->cur >= it->group_end) advance_group(it);
  delta = decode_header(it, it->cur, &shared, &unshared, &vlen);
  if (delta == 0 || shared > it->key_len ||
      shared + unshared < LSM_TRAILER_SIZE ||
      (shared != 0 && it->group_start == it->cur)) {
    set_corrupt(it);
    return;
  }
  if (unshared <= SHORT_DELTA && shared + SHORT_DELTA <= it->key_cap &&
      delta + SHORT_DELTA <= it->data_end) {
    /* Copies a few bytes past the delta, inside both buffers; key_len
    ** below says which are the key's. */
    memcpy(it->key + shared, it->data + delta, SHORT_DELTA);
  } else {
    if (!key_reserve(it, (size_t)(shared + unshared), (size_t)shared)) {
      it->status = LSM_NOMEM;
      it->valid = 0;
      return;
    }
    memcpy(it->key + shared, it->data + delta, (size_t)unshared);
  }
  it->key_len = (size_t)(shared + unshared);
  it->value = lsm_slice_make(it->data + delta + unshared, (size_t)vlen);
  it->next = delta + (size_t)unshared + (size_t)vlen;
  it->valid = 1;
}

/* The step most entries take: the entry after the current one lies in the
** current restart group, its three varints are single bytes and its key
** delta is short.  Checks exactly what parse_next checks (the entry fits in
** the entry region, shared <= the previous key's length, a key as long as
** a trailer, shared == 0 at a restart point) and returns 0 without
** touching the iterator when any of it does not hold, for parse_next to
** take the entry (and report it).  Requires valid. */
LSM_HOT_INLINE int next_fast(block_iter *it) {
  size_t cur = it->next, room;
  const unsigned char *p;
  unsigned shared, unshared, vlen;
  if (cur >= it->group_end || it->data_end - cur < 3 + SHORT_DELTA) return 0;
  p = it->data + cur;
  shared = p[0];
  unshared = p[1];
  vlen = p[2];
  room = it->data_end - cur - 3;   /* >= SHORT_DELTA */
  if ((shared | unshared | vlen) >= 0x80 || shared > it->key_len ||
      shared + unshared < LSM_TRAILER_SIZE || unshared > SHORT_DELTA ||
      shared + SHORT_DELTA > it->key_cap || (size_t)unshared + vlen > room ||
      (shared != 0 && cur == it->group_start))
    return 0;
  memcpy(it->key + shared, p + 3, SHORT_DELTA);
  it->cur = cur;
  it->key_len = shared + unshared;
  it->value = lsm_slice_make(p + 3 + unshared, vlen);
  it->next = cur + 3 + unshared + vlen;
  return 1;
}

static void seek_to_restart(block_iter *it, uint32_t i) {
  it->key_len = 0;
  set_group(it, i);
  it->next = restart_at(it, i);
  parse_next(it);
}

static lsm_slice cur_key(const block_iter *it) {
  return lsm_slice_make(it->key, it->key_len);
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

int lsm_block_iter_restart_key(lsm_block_iter *it, uint32_t i, lsm_slice *key) {
  if (it->status || i >= it->n_restarts) return 0;
  return restart_key(it, i, key);
}

void lsm_block_iter_seek_restart(lsm_block_iter *it, uint32_t i) {
  it->valid = 0;
  if (it->status || i >= it->n_restarts) return;
  seek_to_restart(it, i);
}

static inline void prev_record(block_iter *it);

static int bi_valid(lsm_it *base) {
  return ((block_iter *)base)->valid;
}

static void bi_first(lsm_it *base) {
  block_iter *it = (block_iter *)base;
  it->valid = 0;
  if (it->status || it->n_restarts == 0) return;
  seek_to_restart(it, 0);
}

/* The last entry is reached by decoding the last restart group; that walk
** records the group for the backward steps that usually follow (a reverse
** scan enters every block here), so the first of them does not decode the
** group again. */
static void bi_last(lsm_it *base) {
  block_iter *it = (block_iter *)base;
  it->valid = 0;
  if (it->status || it->n_restarts == 0) return;
  it->n_prev = 0;
  it->prev_keys.len = 0;
  it->prev_group = it->n_restarts - 1;
  seek_to_restart(it, it->n_restarts - 1);
  while (it->valid) {
    prev_record(it);
    if (it->next >= it->data_end) break;
    if (!next_fast(it)) parse_next(it);
  }
  it->prev_pos = it->n_prev - 1;   /* -2 when not recorded: no replay */
}

static void bi_seek(lsm_it *base, lsm_slice target) {
  block_iter *it = (block_iter *)base;
  uint32_t left = 0, right;
  it->valid = 0;
  if (it->status || it->n_restarts == 0) return;
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
  while (it->valid && lsm_ikey_cmp(cur_key(it), target) < 0) parse_next(it);
}

/* Copy an internal key (>= 8 bytes): keys up to 32 bytes with two
** overlapping fixed-size moves, no call. */
LSM_HOT_INLINE void copy_key(unsigned char *dst, const unsigned char *src, size_t n) {
  if (n >= 16 && n <= 32) {
    memcpy(dst, src, 16);
    memcpy(dst + n - 16, src + n - 16, 16);
  } else if (n >= 8 && n < 16) {
    memcpy(dst, src, 8);
    memcpy(dst + n - 8, src + n - 8, 8);
  } else {
    memcpy(dst, src, n);
  }
}

/* Room for one more recorded entry.  0 when out of memory. */
static int prev_grow(block_iter *it) {
  int cap = it->cap_prev ? 2 * it->cap_prev : 16;
  lsm_block_prev_entry *p = realloc(it->prev, (size_t)cap * sizeof(*p));
  if (p == NULL) return 0;
  it->prev = p;
  it->cap_prev = cap;
  return 1;
}

/* Record the current entry as the next one of the backward record; stops
** recording (n_prev = -1) when the record would outgrow its bounds or
** memory runs out (no record: the slow way still works).  Inlined: it runs
** once per entry of a reverse scan. */
LSM_HOT_INLINE void prev_record(block_iter *it) {
  lsm_block_prev_entry *e;
  if (it->n_prev < 0) return;
  if (it->n_prev >= PREV_MAX_ENTRIES ||
      it->prev_keys.len + it->key_len > PREV_MAX_KEY_BYTES ||
      (it->n_prev == it->cap_prev && !prev_grow(it)) ||
      lsm_buffer_reserve(&it->prev_keys, it->key_len)) {
    it->n_prev = -1;
    return;
  }
  e = &it->prev[it->n_prev++];
  e->cur = it->cur;
  e->next = it->next;
  e->key_off = it->prev_keys.len;
  e->key_len = it->key_len;
  e->value = it->value;
  copy_key(it->prev_keys.data + it->prev_keys.len, it->key, it->key_len);
  it->prev_keys.len += it->key_len;
}

/* Make recorded entry i the current one. */
static void prev_replay(block_iter *it, int i) {
  const lsm_block_prev_entry *e = &it->prev[i];
  /* key_cap >= every recorded key: each was the current key once. */
  copy_key(it->key, it->prev_keys.data + e->key_off, e->key_len);
  it->key_len = e->key_len;
  it->cur = e->cur;
  it->next = e->next;
  it->value = e->value;
  if (it->restart_index != it->prev_group) set_group(it, it->prev_group);
  it->prev_pos = i;
  it->valid = 1;
}

static void bi_prev(lsm_it *base) {
  block_iter *it = (block_iter *)base;
  size_t original = it->cur;
  assert(it->valid);
  if (!it->valid) return;
  if (it->prev_pos > 0 && it->prev_pos < it->n_prev &&
      it->prev[it->prev_pos].cur == original) {
    prev_replay(it, it->prev_pos - 1);
    return;
  }
  /* Back up to the restart group that starts before the current entry, then
  ** decode forward to the entry just before it, recording the way. */
  while (restart_at(it, it->restart_index) >= original) {
    if (it->restart_index == 0) {
      it->valid = 0;  /* the current entry was the first */
      return;
    }
    it->restart_index--;
  }
  it->n_prev = 0;
  it->prev_keys.len = 0;
  it->prev_group = it->restart_index;
  seek_to_restart(it, it->restart_index);
  while (it->valid) {
    prev_record(it);
    if (it->next >= original) break;
    if (!next_fast(it)) parse_next(it);
  }
  it->prev_pos = it->n_prev - 1;   /* -2 when not recorded: no replay */
}

static void bi_seek_le(lsm_it *base, lsm_slice target) {
  block_iter *it = (block_iter *)base;
  bi_seek(base, target);
  if (it->status) return;
  if (!it->valid) {
    bi_last(base);  /* every key is < target */
    return;
  }
  if (lsm_ikey_cmp(cur_key(it), target) > 0) bi_prev(base);
}

static void bi_next(lsm_it *base) {
  lsm_block_iter_next((block_iter *)base);
}

void lsm_block_iter_next(lsm_block_iter *it) {
  assert(it->valid);
  if (!it->valid) return;
  if (!next_fast(it)) parse_next(it);
}

void lsm_block_iter_prev(lsm_block_iter *it) {
  bi_prev(&it->base);
}

static lsm_slice bi_key(lsm_it *base) {
  block_iter *it = (block_iter *)base;
  assert(it->valid);
  return cur_key(it);
}

static lsm_slice bi_value(lsm_it *base) {
  block_iter *it = (block_iter *)base;
  assert(it->valid);
  return it->value;
}

static int bi_status(lsm_it *base) {
  return ((block_iter *)base)->status;
}

static void bi_free_embedded(lsm_it *base) {
  lsm_block_iter_clear((block_iter *)base);
}

static void bi_free(lsm_it *base) {
  lsm_block_iter_clear((block_iter *)base);
  free(base);
}

/* Embedded iterators are released by their owner (lsm_block_iter_clear);
** lsm_it_free() on one only clears it. */
static const lsm_it_methods embedded_methods = {
  bi_valid, bi_first, bi_last, bi_seek, bi_seek_le, bi_next, bi_prev,
  bi_key, bi_value, bi_status, bi_free_embedded, NULL,   /* the table iterator words errors */
  NULL, NULL,
};

static const lsm_it_methods heap_methods = {
  bi_valid, bi_first, bi_last, bi_seek, bi_seek_le, bi_next, bi_prev,
  bi_key, bi_value, bi_status, bi_free, NULL,   /* the table iterator words errors */
  NULL, NULL,
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
** was validated before. */
static void parse_restarts_trusted(block_iter *it, lsm_slice contents) {
  it->n_restarts = lsm_get_u32(contents.p + contents.n - 4);
  it->data_end = contents.n - 4 - 4 * (size_t)it->n_restarts;
  it->restarts = contents.p + it->data_end;
}

void lsm_block_iter_init(lsm_block_iter *it) {
  it->base.m = &embedded_methods;
  it->data = NULL;
  it->data_end = 0;
  it->restarts = NULL;
  it->n_restarts = 0;
  it->cur = it->next = 0;
  it->restart_index = 0;
  it->group_start = it->group_end = 0;   /* set by the first seek */
  it->key = it->key_space;
  it->key_len = 0;
  it->key_cap = sizeof it->key_space;
  it->value = lsm_slice_make(NULL, 0);
  it->valid = 0;
  it->status = LSM_OK;
  it->release = NULL;
  it->release_arg = NULL;
  it->prev = NULL;
  it->n_prev = it->cap_prev = 0;
  it->prev_pos = -1;
  it->prev_group = 0;
  it->prev_keys.data = NULL;
  it->prev_keys.len = it->prev_keys.cap = 0;
}

static void release_contents(block_iter *it) {
  if (it->release) it->release(it->release_arg);
  it->release = NULL;
  it->release_arg = NULL;
}

void lsm_block_iter_reset(lsm_block_iter *it, lsm_slice contents, int trusted,
                          void (*release)(void *), void *release_arg) {
  release_contents(it);
  it->data = contents.p;
  it->release = release;
  it->release_arg = release_arg;
  it->cur = it->next = 0;
  it->restart_index = 0;
  it->group_start = it->group_end = 0;   /* set by the first seek */
  it->key_len = 0;
  it->valid = 0;
  it->status = LSM_OK;
  it->n_prev = 0;
  it->prev_pos = -1;
  if (trusted) {
    parse_restarts_trusted(it, contents);
  } else if (!parse_restarts(it, contents)) {
    /* Empty iterator reporting the corruption; never touches the bytes. */
    it->n_restarts = 0;
    it->data_end = 0;
    it->status = LSM_CORRUPT;
  }
}

void lsm_block_iter_detach(lsm_block_iter *it) {
  release_contents(it);
  it->data = NULL;
  it->restarts = NULL;
  it->n_restarts = 0;
  it->data_end = 0;
  it->valid = 0;
  it->status = LSM_OK;
  it->n_prev = 0;
  it->prev_pos = -1;
}

void lsm_block_iter_clear(lsm_block_iter *it) {
  release_contents(it);
  if (it->key != it->key_space) free(it->key);
  if (it->prev) free(it->prev);
  if (it->prev_keys.data) lsm_buffer_free(&it->prev_keys);
  lsm_block_iter_init(it);
}

static lsm_it *heap_iter(lsm_slice contents, int trusted, void (*release)(void *),
                         void *release_arg) {
  block_iter *it = malloc(sizeof(*it));
  if (it == NULL) {
    if (release) release(release_arg);
    return NULL;
  }
  lsm_block_iter_init(it);
  it->base.m = &heap_methods;
  lsm_block_iter_reset(it, contents, trusted, release, release_arg);
  return &it->base;
}

lsm_it *lsm_block_iter_new_trusted(lsm_slice contents) {
  return heap_iter(contents, 1, NULL, NULL);
}

lsm_it *lsm_block_iter_new(lsm_slice contents, void (*release)(void *),
                           void *release_arg) {
  return heap_iter(contents, 0, release, release_arg);
}
