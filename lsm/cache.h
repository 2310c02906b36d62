/*
** cache.h — a thread-safe cache of byte blocks with reference-counted
** handles: the block cache of SSTable data blocks.  Eviction is a
** segmented LRU (cache.c): blocks used again while cached are kept over
** blocks used once.
**
** Entries are keyed by (id, offset): id is a number the cache hands out per
** opened table (lsm_cache_new_id), offset the block's offset in the file, so
** a reopened or renumbered file never sees another file's blocks.  Each
** entry is charged its size; when the total charge exceeds the capacity
** entries that no handle references are evicted, the least recently used
** of those not used since their insert first.
**
** Memory held elsewhere can be charged to the same budget: the table cache
** (tcache.h) reserves the bytes of each open table's index and filter, so
** that one capacity bounds data blocks and table metadata together.  A
** reservation is never evicted by the cache; it makes data blocks go
** first (the table cache gives tables up only when their metadata alone
** exceeds the capacity).
**
** Invariants:
**  (1) An entry referenced by a handle is never freed; it is freed when it
**      has been evicted (or replaced) and its last handle is released.
**  (2) usage = sum of the charges of the entries in the table (referenced or
**      not) plus the bytes reserved (lsm_cache_reserve); only unreferenced
**      entries sit on the lists (probation or protected, see cache.c).
**  (3) The cache owns an entry's data from a successful insert on; it frees
**      it with free() (lsm_cache_insert) or with the entry, whose allocation
**      it shares (lsm_cache_insert_buffer).
**  (4) Up to a few evicted entries of the second kind are kept as spares
**      for lsm_cache_buffer_new instead of being freed (bytes outside the
**      capacity: at most MAX_SPARES blocks).
*/
#ifndef LSM_CACHE_H
#define LSM_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct lsm_cache lsm_cache;
typedef struct lsm_cache_handle lsm_cache_handle;

/* capacity in bytes; NULL when out of memory. */
lsm_cache *lsm_cache_new(size_t capacity);
/* All handles must have been released. */
void lsm_cache_free(lsm_cache *c);

uint64_t lsm_cache_new_id(lsm_cache *c);

/* A referenced handle for (id, offset), or NULL on a miss. */
lsm_cache_handle *lsm_cache_lookup(lsm_cache *c, uint64_t id, uint64_t offset);

/* Insert data (malloc()ed, size bytes; the cache takes ownership) and
** return a referenced handle to it.  NULL when out of memory (data is then
** freed).  An existing entry for the key is replaced. */
lsm_cache_handle *lsm_cache_insert(lsm_cache *c, uint64_t id, uint64_t offset,
                                   void *data, size_t size);

/* The read path's way in, without a separate allocation per entry: a
** buffer of at least size bytes that is the data area of an entry to be
** (recycled from an evicted entry when one fits, else allocated with its
** entry), which the caller fills and then either inserts with
** lsm_cache_insert_buffer (same size; the entry is charged the bytes
** allocated, at most 255 more than size) or gives back with
** lsm_cache_buffer_free.  NULL when out of memory. */
void *lsm_cache_buffer_new(lsm_cache *c, size_t size);
lsm_cache_handle *lsm_cache_insert_buffer(lsm_cache *c, uint64_t id, uint64_t offset,
                                          void *buf, size_t size);
void lsm_cache_buffer_free(lsm_cache *c, void *buf);

void *lsm_cache_data(const lsm_cache_handle *h);
size_t lsm_cache_size(const lsm_cache_handle *h);
void lsm_cache_release(lsm_cache *c, lsm_cache_handle *h);
/* The same, shaped as a release callback: h is an lsm_cache_handle *. */
void lsm_cache_release_handle(void *h);

/* Charge n more bytes to the capacity (evicting unreferenced entries while
** over it), or give n reserved bytes back. */
void lsm_cache_reserve(lsm_cache *c, size_t n);
void lsm_cache_unreserve(lsm_cache *c, size_t n);
size_t lsm_cache_capacity(const lsm_cache *c);

typedef struct lsm_cache_stats {
  uint64_t hits, misses;
  size_t usage, capacity;
  size_t reserved;           /* part of usage: lsm_cache_reserve */
  size_t entries;
} lsm_cache_stats;

void lsm_cache_get_stats(lsm_cache *c, lsm_cache_stats *out);

#endif /* LSM_CACHE_H */
