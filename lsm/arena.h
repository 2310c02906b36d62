/*
** arena.h — a bump allocator for the memtable.
**
** Memory is carved from large blocks and released all at once when the arena
** is freed, so a memtable insert costs no malloc in the common case and the
** memtable's footprint is measured exactly (lsm_arena_bytes).  Allocations
** are 8-byte aligned.  Not thread-safe: the memtable has one writer.
*/
#ifndef LSM_ARENA_H
#define LSM_ARENA_H

#include <stddef.h>

typedef struct lsm_arena lsm_arena;

lsm_arena *lsm_arena_new(void);
void lsm_arena_free(lsm_arena *a);
/* NULL when out of memory.  n may exceed the block size. */
void *lsm_arena_alloc(lsm_arena *a, size_t n);
/* Bytes obtained from malloc, blocks included. */
size_t lsm_arena_bytes(const lsm_arena *a);

#endif /* LSM_ARENA_H */
