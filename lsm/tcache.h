/*
** tcache.h — the table cache: a bounded set of open tables (lsm_sst), keyed
** by file number.
**
** Versions list table files by number and size only; a reader that needs
** a table asks the table cache, which hands out a referenced lsm_sst from
** its set or opens the file (footer, index, filter: lsm_sst_open) and adds
** it.  Open tables are kept in least-recently-used order and closed when
** there are more than max_open of them, or when the memory their index
** blocks, filters and index summaries take exceeds the block cache's
** capacity: that memory is charged to the block cache (lsm_cache_reserve),
** so one budget, options.cache_size, bounds data blocks and table metadata
** together, and data blocks are evicted first.
**
** A table the cache gives up stays open while someone still holds a
** reference (an iterator, a lookup, a compaction): the cache's own
** reference is one of several (lsm_sst counts them atomically), and the last
** lsm_sst_unref closes the file.
**
** Errors opening a table surface where the table is first needed: the
** lookup, iterator or compaction that asked gets LSM_CORRUPT (damaged, or
** missing: the manifest names it), LSM_IOERR or LSM_NOMEM, with a message
** naming the file.  A failed open is not cached: the next use tries again.
**
** Memory: the table cache opens a table (allocates its index, filter and
** summary) in the thread of the reader that first needs it.  The background
** thread does not add tables (a compaction's inputs it opens only for
** itself; its outputs it verifies and closes): with glibc's per-thread
** malloc arenas, metadata allocated there could not reuse the memory the
** readers' evicted data blocks free, and the process would hold both.
**
** Thread-safety: one mutex guards the set and the LRU order; file I/O (the
** open) and closes happen without it.  Lock order: the db mutex, then this
** one, then the block cache's.  Two threads missing the same table may both
** open it; the second to finish uses the first one's and closes its own.
*/
#ifndef LSM_TCACHE_H
#define LSM_TCACHE_H

#include "cache.h"
#include "iter.h"
#include "sst.h"

typedef struct lsm_tcache lsm_tcache;

/* Tables of directory dir, read through env.  blocks (may be NULL: no
** block cache, then only max_open bounds the set) is given to every table
** opened and charged their metadata; it must outlive the table cache.  dir
** is copied.  NULL when out of memory. */
lsm_tcache *lsm_tcache_new(lsm_env *env, const char *dir, lsm_cache *blocks, int max_open);
/* Drop the cache's references (tables still referenced elsewhere stay
** open until released). */
void lsm_tcache_free(lsm_tcache *tc);

/* A referenced open table for file `number` whose size the manifest says
** is `size`; release it with lsm_sst_unref.  On failure errmsg (may be NULL)
** names the file. */
int lsm_tcache_get(lsm_tcache *tc, uint64_t number, uint64_t size, lsm_sst **out,
                   lsm_buffer *errmsg);

/* For each of numbers[0..n-1], out[i] = the table, referenced, if the set
** has it open, else NULL (opening nothing): one trip through the mutex for
** the several tables a point lookup may probe. */
void lsm_tcache_lookup_many(lsm_tcache *tc, const uint64_t *numbers, int n, lsm_sst **out);

/* An iterator over the table (lsm_sst_iter_new_ex).  fill_cache == 0
** (compaction inputs, read once) adds neither the data blocks it reads to
** the block cache nor the table, if it was not open, to the set.  If the
** table cannot be opened, the iterator is invalid with the error as its
** status and the message as its errmsg.  NULL only when out of memory. */
lsm_it *lsm_tcache_iter_new(lsm_tcache *tc, uint64_t number, uint64_t size, int fill_cache);

/* Forget table `number` (its file is obsolete, or being removed). */
void lsm_tcache_evict(lsm_tcache *tc, uint64_t number);

typedef struct lsm_tcache_stats {
  size_t open;               /* tables in the set */
  size_t bytes;              /* their metadata (lsm_sst_memory) */
  uint64_t opens;            /* tables opened so far */
} lsm_tcache_stats;

void lsm_tcache_get_stats(lsm_tcache *tc, lsm_tcache_stats *out);

#endif /* LSM_TCACHE_H */
