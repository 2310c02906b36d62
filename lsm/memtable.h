/*
** memtable.h — the in-memory sorted table every write lands in first.
**
** A skiplist over an arena, ordered by internal key (dbformat.h).  Each entry
** holds (user key, sequence number, kind, value); deletes are tombstones
** (kind LSM_KIND_DELETE, empty value).  Entries are never removed or
** changed: a newer version of a key is a new entry with a higher sequence
** number, which sorts before the older one.
**
** Concurrency: one writer at a time (the caller serialises lsm_mem_add);
** readers may run concurrently with the writer, because a node is fully
** initialised before it is published with a release store and readers
** follow links with acquire loads.
**
** Lifetime: reference counted.  The engine holds a reference while the
** memtable is active or immutable; every iterator holds one, so a flushed
** memtable stays readable until the last iterator over it is freed.
*/
#ifndef LSM_MEMTABLE_H
#define LSM_MEMTABLE_H

#include "dbformat.h"
#include "iter.h"

typedef struct lsm_mem lsm_mem;

/* A new, empty memtable with one reference. */
int lsm_mem_new(lsm_mem **out);
void lsm_mem_ref(lsm_mem *m);
/* Drops a reference; frees the memtable at zero. */
void lsm_mem_unref(lsm_mem *m);

/* Insert (ukey, seq, kind, val).  (ukey, seq) must not already be present.
** LSM_OK or LSM_NOMEM (the memtable is unchanged then). */
int lsm_mem_add(lsm_mem *m, uint64_t seq, int kind, lsm_slice ukey,
                lsm_slice val);

/* Newest version of ukey with sequence number <= seq.  Returns 1 and sets
** *kind and *val (borrowed: valid while the caller holds a reference) when
** found, 0 when the memtable has no visible version of ukey.  A key filter
** (64 KiB, allocated with the first entry) answers most lookups of absent
** keys without walking the skiplist. */
int lsm_mem_get(lsm_mem *m, lsm_slice ukey, uint64_t seq, int *kind,
                lsm_slice *val);
/* The same with hash = lsm_checksum64(ukey) (the table filters' hash,
** lsm_bloom_hash) computed by the caller once per lookup. */
int lsm_mem_get_hashed(lsm_mem *m, lsm_slice ukey, uint64_t hash, uint64_t seq,
                       int *kind, lsm_slice *val);

/* Approximate memory used (arena bytes). */
size_t lsm_mem_bytes(const lsm_mem *m);
/* Number of entries (versions, tombstones included). */
uint64_t lsm_mem_count(const lsm_mem *m);

/* Iterator over internal keys; holds a reference on m.  key() is the
** internal key, value() the value (empty for tombstones). NULL on NOMEM. */
lsm_it *lsm_mem_iter_new(lsm_mem *m);

#endif /* LSM_MEMTABLE_H */
