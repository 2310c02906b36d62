/*
** block.h — sorted blocks of key/value entries: the unit of SSTable I/O.
**
** Block contents (LevelDB-style prefix compression):
**
**   entry*:   varint shared | varint unshared | varint value_len |
**             key_delta[unshared] | value[value_len]
**   restarts: u32 offset of each restart entry (little-endian)
**   u32       number of restarts (>= 1)
**
** Every restart_interval-th entry is a restart point stored with shared = 0,
** so a reader can binary-search the restart array and then scan forward.
** Keys are internal keys (dbformat.h) compared with lsm_ikey_cmp.
**
** In a file each block is followed by a 5-byte trailer: u8 type (0 = raw)
** and u32 checksum32 of (contents || type byte).  The block handle that
** points at it is (varint offset, varint size), size excluding the trailer.
**
** The reader validates the restart array when the block is parsed and every
** entry's lengths when it decodes them; malformed contents make the
** iterator's status LSM_CORRUPT, never a read out of bounds.
*/
#ifndef LSM_BLOCK_H
#define LSM_BLOCK_H

#include "iter.h"

#define LSM_BLOCK_TRAILER_SIZE 5
#define LSM_BLOCK_RESTART_INTERVAL 16

/* ---- builder ---- */
typedef struct lsm_block_builder {
  lsm_buffer buf;          /* entries so far */
  lsm_buffer restarts;     /* u32 offsets */
  lsm_buffer last_key;
  int n_since_restart;
  int restart_interval;
  uint64_t n_entries;
  int rc;                  /* first error, latched */
} lsm_block_builder;

void lsm_block_builder_init(lsm_block_builder *b, int restart_interval);
void lsm_block_builder_free(lsm_block_builder *b);
/* Keys must be added in strictly increasing internal-key order. */
int lsm_block_builder_add(lsm_block_builder *b, lsm_slice key, lsm_slice val);
/* Size of the block if finished now. */
size_t lsm_block_builder_size(const lsm_block_builder *b);
int lsm_block_builder_empty(const lsm_block_builder *b);
/* Append the restart array; *out borrows the builder's buffer until reset. */
int lsm_block_builder_finish(lsm_block_builder *b, lsm_slice *out);
void lsm_block_builder_reset(lsm_block_builder *b);

/* ---- handles ---- */
typedef struct lsm_block_handle {
  uint64_t offset;
  uint64_t size;           /* contents only, trailer excluded */
} lsm_block_handle;

int lsm_block_handle_append(lsm_buffer *out, lsm_block_handle h);
/* NULL if malformed. */
const unsigned char *lsm_block_handle_decode(const unsigned char *p,
                                             const unsigned char *limit,
                                             lsm_block_handle *h);

/* ---- reader ---- */

/* An entry remembered for stepping backward (see block.c). */
typedef struct lsm_block_prev_entry {
  size_t cur, next;        /* offsets of the entry and of the one after it */
  size_t key_off, key_len; /* its whole key, in prev_keys */
  lsm_slice value;
} lsm_block_prev_entry;

/* A block iterator.  Owners that read many blocks (a table iterator) or one
** block per call (a point lookup) embed one and re-point it at each block
** with lsm_block_iter_reset: no allocation per block.  Use it through
** &it->base; the fields are private to block.c. */
typedef struct lsm_block_iter {
  lsm_it base;
  const unsigned char *data;  /* block contents */
  size_t data_end;            /* end of the entry region = restart array */
  const unsigned char *restarts;
  uint32_t n_restarts;
  size_t cur;                 /* offset of the current entry */
  size_t next;                /* offset just past the current entry */
  uint32_t restart_index;     /* restart group holding cur */
  size_t group_start;         /* its restart offset, and where the next */
  size_t group_end;           /* group starts (data_end after the last) */
  unsigned char *key;         /* current key, rebuilt from the deltas */
  size_t key_len, key_cap;    /* key is key_space while key_cap fits it */
  lsm_slice value;            /* borrowed from data */
  int valid;
  int status;                 /* sticky until the next reset */
  void (*release)(void *);
  void *release_arg;
  /* Backward steps: the entries of one restart group before the current
  ** entry, with their whole keys (block.c, "Stepping backward"). */
  lsm_block_prev_entry *prev;
  int n_prev, cap_prev, prev_pos;
  uint32_t prev_group;
  lsm_buffer prev_keys;
  unsigned char key_space[64];
} lsm_block_iter;

/* An iterator over nothing (status LSM_OK) that owns no memory yet. */
void lsm_block_iter_init(lsm_block_iter *it);
/* Point it at contents, calling the previous contents' release first.  The
** restart array is checked (malformed: the iterator is empty with status
** LSM_CORRUPT) unless trusted is set: contents whose restart array an
** earlier check found well formed (a table's index, checked when the table
** was opened).  Entries are bounds-checked as they are decoded either way.
** The iterator is not positioned. */
void lsm_block_iter_reset(lsm_block_iter *it, lsm_slice contents, int trusted,
                          void (*release)(void *), void *release_arg);
/* Release the contents (the iterator is then over nothing) but keep the
** buffers for the next reset. */
void lsm_block_iter_detach(lsm_block_iter *it);
/* Release the contents and free what the iterator allocated; it may be
** initialised again. */
void lsm_block_iter_clear(lsm_block_iter *it);

/* Restart points, for owners that index a block themselves (a table's
** summary of its index block, sst.c).  Restart i's entry stores its whole
** key: lsm_block_iter_restart_key reads it without moving the iterator (0
** if it is malformed); lsm_block_iter_seek_restart positions the iterator
** on it (invalid with LSM_CORRUPT if malformed).  i < n_restarts. */
static inline uint32_t lsm_block_iter_restarts(const lsm_block_iter *it) {
  return it->n_restarts;
}
int lsm_block_iter_restart_key(lsm_block_iter *it, uint32_t i, lsm_slice *key);
void lsm_block_iter_seek_restart(lsm_block_iter *it, uint32_t i);

/* Direct steps (what next/prev of &it->base do, without the indirect call:
** table iterators step their data block on every entry).  valid() must
** hold. */
void lsm_block_iter_next(lsm_block_iter *it);
void lsm_block_iter_prev(lsm_block_iter *it);

/* Direct reads of the state (what valid/key/value of &it->base return). */
static inline int lsm_block_iter_valid(const lsm_block_iter *it) {
  return it->valid;
}
static inline lsm_slice lsm_block_iter_key(const lsm_block_iter *it) {
  return lsm_slice_make(it->key, it->key_len);
}
static inline lsm_slice lsm_block_iter_value(const lsm_block_iter *it) {
  return it->value;
}

/* The same on the heap: an iterator over contents (restart array checked)
** whose lsm_it_free() calls release(release_arg) if release is not NULL (the
** owner of the bytes: a malloc()ed buffer or a cache handle).  NULL on
** NOMEM (release is then called). */
lsm_it *lsm_block_iter_new(lsm_slice contents, void (*release)(void *),
                           void *release_arg);

/* A heap iterator over trusted contents (see lsm_block_iter_reset).  NULL
** on NOMEM. */
lsm_it *lsm_block_iter_new_trusted(lsm_slice contents);

#endif /* LSM_BLOCK_H */
