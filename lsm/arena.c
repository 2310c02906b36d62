/*
** arena.c — the bump allocator behind every memtable (see arena.h).
**
** Memory comes from a singly linked list of malloc()ed blocks.  Small
** requests are carved from the current block by advancing a pointer; when
** the block is exhausted a new one is started and the unused tail of the old
** one is simply abandoned (at most a quarter of a block, see below).  Nothing
** is freed individually: lsm_arena_free() releases every block at once.
**
** Block sizes start small (LSM_ARENA_MIN_BLOCK) and double up to
** LSM_ARENA_MAX_BLOCK, so that the many tiny memtables behind short write
** batches do not each pin a 64 KiB block, while a busy memtable still pays
** one malloc per 64 KiB.  A request larger than a quarter of the next block
** gets a block of its own, exactly sized, and leaves the current block in
** place: this bounds the waste from abandoned tails to 25% and lets values
** of any size be stored.
**
** Invariants:
**  - every pointer returned is 8-byte aligned (cur is aligned before use);
**  - cur <= end, and [cur, end) is the free tail of the current block;
**  - bytes == sum over blocks of the size passed to malloc() for it.
*/
#include "arena.h"

#include <stdint.h>
#include <stdlib.h>

#define LSM_ARENA_ALIGN     8
#define LSM_ARENA_MIN_BLOCK 4096
#define LSM_ARENA_MAX_BLOCK 65536

/* Header at the start of every block; the usable bytes follow it, starting
** at an aligned offset. */
typedef struct arena_block {
  struct arena_block *prev;
} arena_block;

#define BLOCK_HEADER \
  ((sizeof(arena_block) + LSM_ARENA_ALIGN - 1) & ~(size_t)(LSM_ARENA_ALIGN - 1))

struct lsm_arena {
  arena_block *blocks;   /* newest block first; NULL when nothing allocated */
  unsigned char *cur;    /* next free byte of the current block */
  unsigned char *end;    /* end of the current block */
  size_t next_block;     /* size of the next regular block */
  size_t bytes;          /* bytes obtained from malloc, blocks included */
};

lsm_arena *lsm_arena_new(void) {
  lsm_arena *a = calloc(1, sizeof(*a));
  if (a == NULL) return NULL;
  a->next_block = LSM_ARENA_MIN_BLOCK;
  a->bytes = sizeof(*a);
  return a;
}

void lsm_arena_free(lsm_arena *a) {
  arena_block *b;
  if (a == NULL) return;
  b = a->blocks;
  while (b) {
    arena_block *prev = b->prev;
    free(b);
    b = prev;
  }
  free(a);
}

/* malloc a block with `usable` bytes after its header and link it in.
** Returns the first usable byte, or NULL. */
static unsigned char *new_block(lsm_arena *a, size_t usable) {
  arena_block *b;
  if (usable > SIZE_MAX - BLOCK_HEADER) return NULL;
  b = malloc(BLOCK_HEADER + usable);
  if (b == NULL) return NULL;
  b->prev = a->blocks;
  a->blocks = b;
  a->bytes += BLOCK_HEADER + usable;
  return (unsigned char *)b + BLOCK_HEADER;
}

void *lsm_arena_alloc(lsm_arena *a, size_t n) {
  unsigned char *p;
  uintptr_t pad;
  if (n == 0) n = 1;  /* distinct, valid pointers even for empty requests */

  /* Fast path: fits in the current block after alignment. */
  if (a->cur) {
    pad = (LSM_ARENA_ALIGN - ((uintptr_t)a->cur & (LSM_ARENA_ALIGN - 1))) &
          (LSM_ARENA_ALIGN - 1);
    if (pad <= (size_t)(a->end - a->cur) &&
        n <= (size_t)(a->end - a->cur) - pad) {
      p = a->cur + pad;
      a->cur = p + n;
      return p;
    }
  }

  /* Large request: its own block, the current block stays current. */
  if (n > a->next_block / 4) {
    return new_block(a, n);
  }

  /* Start a new regular block (its start is aligned: malloc's alignment is
  ** at least 8 and BLOCK_HEADER is a multiple of 8). */
  p = new_block(a, a->next_block);
  if (p == NULL) return NULL;
  a->cur = p + n;
  a->end = p + a->next_block;
  if (a->next_block < LSM_ARENA_MAX_BLOCK) a->next_block *= 2;
  return p;
}

size_t lsm_arena_bytes(const lsm_arena *a) {
  return a->bytes;
}
