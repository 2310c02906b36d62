/*
** sst.h — sorted string tables: immutable files of sorted internal keys.
**
** File layout (see FORMAT.md):
**
**   data block*     (block.h format, each followed by its 5-byte trailer)
**   filter block    bloom filter (bloom.h) + 5-byte trailer; empty
**                   contents when bloom_bits is 0
**   index block     block.h format + trailer; one entry per data block:
**                   key = the block's last internal key, value = handle
**   footer          48 bytes:
**                     u64 index offset, u64 index size,
**                     u64 filter offset, u64 filter size,
**                     u32 format version (1), u32 checksum32 of bytes 0..35,
**                     u64 magic 0x4c534d5353543031 ("LSMSST01")
**
** Builder protocol (LevelDB's): _new, then _add in strictly increasing
** internal-key order, then exactly one of _finish or _abandon.  The first
** error is latched: later calls do nothing and return it.
**
** Reader: lsm_sst_open reads and checks the footer, then loads the index and
** filter into memory (checksums verified, every length and offset bounds-
** checked) and builds a small summary of the index (4 bytes per data block)
** that lookups search first.  Data blocks are read on demand and verified
** on every read: through the block cache for lookups and seeks, from a
** 64 KiB read-ahead buffer of the iterator's own (not filling the cache)
** once an iterator loads adjacent blocks, as scans and compactions do.
** A table is reference counted: the table cache (tcache.h), lookups and
** iterators hold references; the last one closes the file.
*/
#ifndef LSM_SST_H
#define LSM_SST_H

#include "block.h"
#include "cache.h"
#include "dbformat.h"

#define LSM_SST_FOOTER_SIZE 48
#define LSM_SST_MAGIC 0x4c534d5353543031ULL
#define LSM_SST_VERSION 1

typedef struct lsm_sst_options {
  size_t block_size;       /* target data block size */
  int bloom_bits;          /* bits per key, 0 = no filter */
  int sync;                /* fsync the file in _finish */
} lsm_sst_options;

/* What a finished table holds; smallest/largest are internal keys. */
typedef struct lsm_sst_info {
  uint64_t file_size;
  uint64_t entries;
  uint64_t tombstones;
  lsm_buffer smallest;     /* owned by the caller after _finish */
  lsm_buffer largest;
} lsm_sst_info;

typedef struct lsm_sst_builder lsm_sst_builder;

int lsm_sst_builder_new(lsm_env *env, const char *path,
                        const lsm_sst_options *opts, lsm_sst_builder **out);
int lsm_sst_builder_add(lsm_sst_builder *b, lsm_slice ikey, lsm_slice val);
/* Bytes the file would have if finished now (approximate). */
uint64_t lsm_sst_builder_size(const lsm_sst_builder *b);
uint64_t lsm_sst_builder_entries(const lsm_sst_builder *b);
/* Write filter, index and footer, sync if asked, close, free b.  Fills
** *info (caller frees its buffers with lsm_buffer_free) on LSM_OK. */
int lsm_sst_builder_finish(lsm_sst_builder *b, lsm_sst_info *info);
/* Close and free b; the caller removes the file. */
void lsm_sst_builder_abandon(lsm_sst_builder *b);

/* ---- reader ---- */
typedef struct lsm_sst lsm_sst;

/* Open the table at path whose size the manifest says is file_size.  On
** failure errmsg (may be NULL) names the file and what was wrong. */
int lsm_sst_open(lsm_env *env, const char *path, uint64_t file_size,
                 lsm_sst **out, lsm_buffer *errmsg);
/* Read data blocks through cache (before the table is shared; the cache
** must outlive the table). */
void lsm_sst_set_cache(lsm_sst *t, lsm_cache *cache);
/* Bytes the open table holds in memory: index, filter, index summary. */
size_t lsm_sst_memory(const lsm_sst *t);
void lsm_sst_ref(lsm_sst *t);
void lsm_sst_unref(lsm_sst *t);

/* 0 if the bloom filter rules ukey out, 1 otherwise (also with no filter). */
int lsm_sst_may_contain(lsm_sst *t, lsm_slice ukey);
int lsm_sst_has_filter(lsm_sst *t);
/* Prefetch the filter line a lookup of the key with this hash will read
** (lsm_bloom_prefetch): a lookup probing several tables asks for all of
** them before probing the first. */
void lsm_sst_prefetch_filter(lsm_sst *t, uint64_t hash);

/* Newest version of ukey with sequence number <= seq.  Consults the bloom
** filter first (*bloom_negative = 1 when it ruled the key out, else 0).
** Returns LSM_OK with *found = 1, *kind and the value (copied into val, if
** val is not NULL) when the table holds a visible version; LSM_OK with
** *found = 0 when not; LSM_CORRUPT / LSM_IOERR on a bad read (errmsg names
** file and offset). */
int lsm_sst_get(lsm_sst *t, lsm_slice ukey, uint64_t seq, int *found,
                int *kind, lsm_buffer *val, int *bloom_negative,
                lsm_buffer *errmsg);
/* The same with the key's hash (lsm_bloom_hash(ukey)) computed by the
** caller, once for all the tables one lookup probes. */
int lsm_sst_get_hashed(lsm_sst *t, lsm_slice ukey, uint64_t hash, uint64_t seq,
                       int *found, int *kind, lsm_buffer *val,
                       int *bloom_negative, lsm_buffer *errmsg);

/* Iterator over the table's internal keys; holds a reference on t.  NULL on
** NOMEM. */
lsm_it *lsm_sst_iter_new(lsm_sst *t);
/* The same; fill_cache == 0 reads blocks missing from the block cache
** without inserting them (compaction inputs, read once). */
lsm_it *lsm_sst_iter_new_ex(lsm_sst *t, int fill_cache);
/* Point such an iterator, whose status is LSM_OK, at table t instead (it
** then references t, not its old table): not positioned, its buffers
** kept.  The level iterator moves from file to file so. */
void lsm_sst_iter_retarget(lsm_it *it, lsm_sst *t);
/* What valid/next/prev/key/value of such an iterator do, as direct calls
** (the level iterator's children are always table iterators, and it steps
** one on every entry).  Only for iterators made by the two above. */
int lsm_sst_iter_valid(lsm_it *it);
void lsm_sst_iter_next(lsm_it *it);
void lsm_sst_iter_prev(lsm_it *it);
lsm_slice lsm_sst_iter_key(lsm_it *it);
lsm_slice lsm_sst_iter_value(lsm_it *it);
/* The fused steps of iter.h (next_key, prev_key), direct. */
int lsm_sst_iter_next_key(lsm_it *it, lsm_slice *key);
int lsm_sst_iter_prev_key(lsm_it *it, lsm_slice *key);
/* The data block iterator inside such an iterator (the same one for the
** iterator's whole life, retargets included).  While the table iterator is
** valid, its owner may step that block iterator itself (one call less per
** entry) and, when the step leaves the block iterator invalid, must call
** lsm_sst_iter_next_block (prev_block) at once: it goes on into the
** following (preceding) blocks and returns valid() and the key, as the
** fused steps do. */
lsm_block_iter *lsm_sst_iter_block(lsm_it *it);
int lsm_sst_iter_next_block(lsm_it *it, lsm_slice *key);
int lsm_sst_iter_prev_block(lsm_it *it, lsm_slice *key);

/* Verify every block checksum, key order within and across blocks, that
** each index entry is its block's last key, and that every key passes the
** filter.  LSM_CORRUPT with errmsg naming file and offset. */
int lsm_sst_check(lsm_sst *t, lsm_buffer *errmsg);

#endif /* LSM_SST_H */
