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
/* Iterator over block contents.  The iterator borrows contents; when it is
** freed it calls release(release_arg) if release is not NULL (the owner of
** the bytes: a malloc()ed buffer, later a cache handle).  If the restart
** array is malformed the iterator is empty with status LSM_CORRUPT.  NULL
** on NOMEM (release is then called). */
lsm_it *lsm_block_iter_new(lsm_slice contents, void (*release)(void *),
                           void *release_arg);

/* An iterator over contents whose restart array an earlier
** lsm_block_iter_new() found well formed (a table's index, checked when
** the table was opened): skips the O(restarts) check.  Entries are still
** bounds-checked as they are decoded.  NULL on NOMEM. */
lsm_it *lsm_block_iter_new_trusted(lsm_slice contents);

#endif /* LSM_BLOCK_H */
