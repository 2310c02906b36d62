/*
** cache.c — the block cache (see cache.h for the contract and its
** invariants): a segmented LRU.
**
** A chained hash table indexes every entry.  The unreferenced entries sit
** on one of two circular doubly linked lists, least recently used first:
** probation holds entries not used since they were inserted, protected
** those used again while cached.  A new block enters probation; a hit
** promotes it to protected, whose entries may take up to PROTECTED_FIFTHS
** fifths of the bytes the cache has for blocks (the capacity less what
** tables reserve), the oldest moving back to probation beyond that.
** Eviction takes probation's oldest first, protected's only when probation
** is empty.  So blocks read once -- a scan's, or a seek's into the bottom
** level, of whose blocks any one seek needs one in tens of thousands -- push
** out only each other, while the blocks reads keep coming back to (the
** upper levels, which every seek passes through) stay.  Plain LRU evicts
** by recency alone: every seek's bottom-level block pushed out a block of
** the upper levels, and a full scan flushed the whole cache.
**
** An entry's refs count its handles plus one for being in the table.  One
** mutex guards everything: a lookup holds it for a hash probe and a few
** pointer updates, so contention stays low at our core counts (shard it if
** that changes).
*/
#include "cache.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>

struct lsm_cache_handle {
  lsm_cache *cache;
  uint64_t id, offset;
  void *data;                  /* the bytes after this struct when inline */
  size_t size;
  size_t charge;               /* counted in usage: size, or the inline
                                  data area's capacity */
  int refs;                    /* handles + 1 while in the table */
  int in_table;
  int is_inline;               /* data shares this allocation */
  int reused;                  /* looked up since it was inserted */
  int is_protected;            /* counted in protected_usage; on the
                                  protected list when unreferenced */
  lsm_cache_handle *next_hash;
  lsm_cache_handle *lru_prev, *lru_next;   /* on a segment's list iff refs == 1 && in_table */
};

/* Evicted inline entries kept for reuse (invariant 4); inline data areas
** are rounded up to DATA_ROUND bytes, and a spare serves any block it holds
** with at most an eighth to spare, so that blocks of about one size fit
** each other's spares. */
#define MAX_SPARES 4
#define DATA_ROUND 256
/* The protected segment's share of the bytes for blocks, in fifths. */
#define PROTECTED_FIFTHS 4

struct lsm_cache {
  pthread_mutex_t mu;
  lsm_cache_handle *spares[MAX_SPARES];
  int n_spares;
  size_t capacity, usage, n_entries;
  size_t reserved;             /* bytes charged by lsm_cache_reserve */
  uint64_t next_id;
  uint64_t hits, misses;
  lsm_cache_handle **buckets;
  size_t n_buckets;            /* power of two */
  size_t protected_usage;      /* charges of the protected entries */
  lsm_cache_handle probation;  /* list heads: .lru_next is the oldest */
  lsm_cache_handle protected_lru;
};

static size_t hash_key(uint64_t id, uint64_t offset) {
  uint64_t h = id * 0x9E3779B97F4A7C15ULL ^ (offset + 0x632BE59BD9B4E019ULL) * 0xBF58476D1CE4E5B9ULL;
  return (size_t)(h ^ (h >> 31));
}

lsm_cache *lsm_cache_new(size_t capacity) {
  lsm_cache *c = calloc(1, sizeof *c);
  if (c == NULL) return NULL;
  c->n_buckets = 1024;
  c->buckets = calloc(c->n_buckets, sizeof(lsm_cache_handle *));
  if (c->buckets == NULL) {
    free(c);
    return NULL;
  }
  pthread_mutex_init(&c->mu, NULL);
  c->capacity = capacity;
  c->next_id = 1;
  c->probation.lru_next = c->probation.lru_prev = &c->probation;
  c->protected_lru.lru_next = c->protected_lru.lru_prev = &c->protected_lru;
  return c;
}

static void entry_free(lsm_cache_handle *e) {
  if (!e->is_inline) free(e->data);
  free(e);
}

/* Free an entry whose last reference went (mutex held): inline ones may
** become spares. */
static void entry_retire(lsm_cache *c, lsm_cache_handle *e) {
  if (e->is_inline && c->n_spares < MAX_SPARES) {
    c->spares[c->n_spares++] = e;
    return;
  }
  entry_free(e);
}

void lsm_cache_free(lsm_cache *c) {
  size_t i;
  if (c == NULL) return;
  for (i = 0; i < c->n_buckets; i++) {
    lsm_cache_handle *e = c->buckets[i], *next;
    for (; e; e = next) {
      next = e->next_hash;
      entry_free(e);
    }
  }
  while (c->n_spares > 0) entry_free(c->spares[--c->n_spares]);
  free(c->buckets);
  pthread_mutex_destroy(&c->mu);
  free(c);
}

uint64_t lsm_cache_new_id(lsm_cache *c) {
  uint64_t id;
  pthread_mutex_lock(&c->mu);
  id = c->next_id++;
  pthread_mutex_unlock(&c->mu);
  return id;
}

static void lru_remove(lsm_cache_handle *e) {
  e->lru_prev->lru_next = e->lru_next;
  e->lru_next->lru_prev = e->lru_prev;
  e->lru_next = e->lru_prev = NULL;
}

static void lru_append(lsm_cache_handle *list, lsm_cache_handle *e) {
  e->lru_next = list;
  e->lru_prev = list->lru_prev;
  e->lru_prev->lru_next = e;
  list->lru_prev = e;
}

static size_t protected_capacity(const lsm_cache *c) {
  size_t blocks = c->capacity > c->reserved ? c->capacity - c->reserved : 0;
  return blocks / 5 * PROTECTED_FIFTHS;
}

/* e just became unreferenced but for the table (mutex held): onto the
** list of its segment, a reused entry promoted; protected entries beyond
** the segment's share move back to probation, oldest first. */
static void segment_append(lsm_cache *c, lsm_cache_handle *e) {
  if (!e->reused) {
    lru_append(&c->probation, e);
    return;
  }
  if (!e->is_protected) {
    e->is_protected = 1;
    c->protected_usage += e->charge;
  }
  lru_append(&c->protected_lru, e);
  while (c->protected_usage > protected_capacity(c) &&
         c->protected_lru.lru_next != &c->protected_lru) {
    lsm_cache_handle *old = c->protected_lru.lru_next;
    lru_remove(old);
    old->is_protected = 0;
    c->protected_usage -= old->charge;
    lru_append(&c->probation, old);
  }
}

/* The unreferenced entry eviction takes next, or NULL (mutex held). */
static lsm_cache_handle *victim(lsm_cache *c) {
  if (c->probation.lru_next != &c->probation) return c->probation.lru_next;
  if (c->protected_lru.lru_next != &c->protected_lru) return c->protected_lru.lru_next;
  return NULL;
}

static lsm_cache_handle **find_slot(lsm_cache *c, uint64_t id, uint64_t offset) {
  lsm_cache_handle **slot = &c->buckets[hash_key(id, offset) & (c->n_buckets - 1)];
  while (*slot && ((*slot)->id != id || (*slot)->offset != offset)) slot = &(*slot)->next_hash;
  return slot;
}

/* Drop one reference (mutex held).  Invariant (1). */
static void unref_locked(lsm_cache *c, lsm_cache_handle *e) {
  e->refs--;
  if (e->refs == 0) {
    entry_retire(c, e);
  } else if (e->refs == 1 && e->in_table) {
    segment_append(c, e);
  }
}

/* Take e out of the table (mutex held; e is in it). */
static void remove_from_table(lsm_cache *c, lsm_cache_handle *e) {
  lsm_cache_handle **slot = find_slot(c, e->id, e->offset);
  *slot = e->next_hash;
  e->in_table = 0;
  c->usage -= e->charge;
  c->n_entries--;
  if (e->is_protected) {
    e->is_protected = 0;
    c->protected_usage -= e->charge;
  }
  if (e->lru_next) lru_remove(e);
  unref_locked(c, e);
}

/* Evict unreferenced entries while over capacity (mutex held). */
static void evict_over_capacity(lsm_cache *c) {
  lsm_cache_handle *e;
  while (c->usage > c->capacity && (e = victim(c)) != NULL) remove_from_table(c, e);
}

static void grow_table(lsm_cache *c) {
  size_t n = c->n_buckets * 2, i;
  lsm_cache_handle **b = calloc(n, sizeof(lsm_cache_handle *));
  if (b == NULL) return;   /* keep the longer chains */
  for (i = 0; i < c->n_buckets; i++) {
    lsm_cache_handle *e = c->buckets[i], *next;
    for (; e; e = next) {
      size_t j = hash_key(e->id, e->offset) & (n - 1);
      next = e->next_hash;
      e->next_hash = b[j];
      b[j] = e;
    }
  }
  free(c->buckets);
  c->buckets = b;
  c->n_buckets = n;
}

lsm_cache_handle *lsm_cache_lookup(lsm_cache *c, uint64_t id, uint64_t offset) {
  lsm_cache_handle *e;
  pthread_mutex_lock(&c->mu);
  e = *find_slot(c, id, offset);
  if (e) {
    if (e->refs == 1) lru_remove(e);
    e->refs++;
    e->reused = 1;
    c->hits++;
  } else {
    c->misses++;
  }
  pthread_mutex_unlock(&c->mu);
  return e;
}

/* Put e (refs 2: the table's and the caller's) in the table, replacing an
** entry with its key, and evict while over capacity (mutex held). */
static void insert_locked(lsm_cache *c, lsm_cache_handle *e) {
  lsm_cache_handle **slot = find_slot(c, e->id, e->offset);
  if (*slot) remove_from_table(c, *slot);
  slot = find_slot(c, e->id, e->offset);
  e->next_hash = *slot;
  *slot = e;
  c->usage += e->charge;
  c->n_entries++;
  if (c->n_entries > c->n_buckets) grow_table(c);
  evict_over_capacity(c);
}

static void entry_init(lsm_cache_handle *e, lsm_cache *c, uint64_t id,
                       uint64_t offset, size_t size) {
  e->cache = c;
  e->id = id;
  e->offset = offset;
  e->size = size;
  e->refs = 2;             /* the table's and the caller's */
  e->in_table = 1;
  e->reused = 0;
  e->is_protected = 0;
  e->next_hash = NULL;
  e->lru_prev = e->lru_next = NULL;
}

lsm_cache_handle *lsm_cache_insert(lsm_cache *c, uint64_t id, uint64_t offset,
                                   void *data, size_t size) {
  lsm_cache_handle *e = calloc(1, sizeof *e);
  if (e == NULL) {
    free(data);
    return NULL;
  }
  entry_init(e, c, id, offset, size);
  e->data = data;
  e->charge = size;
  pthread_mutex_lock(&c->mu);
  insert_locked(c, e);
  pthread_mutex_unlock(&c->mu);
  return e;
}

static lsm_cache_handle *entry_of(void *buf) {
  return (lsm_cache_handle *)buf - 1;
}

/* Whether e's data area holds size bytes without wasting more than an
** eighth of it (at least the rounding to cap is allowed).  The entry is
** charged its whole area, so the waste is counted. */
static int fits(const lsm_cache_handle *e, size_t size, size_t cap) {
  size_t slack = size / 8 > cap - size ? size / 8 : cap - size;
  return e->is_inline && e->charge >= size && e->charge - size <= slack;
}

/* A spare that fits (removed from the spares), or NULL (mutex held). */
static lsm_cache_handle *take_spare(lsm_cache *c, size_t size, size_t cap) {
  int i;
  for (i = 0; i < c->n_spares; i++) {
    lsm_cache_handle *e = c->spares[i];
    if (fits(e, size, cap)) {
      c->spares[i] = c->spares[--c->n_spares];
      return e;
    }
  }
  return NULL;
}

void *lsm_cache_buffer_new(lsm_cache *c, size_t size) {
  lsm_cache_handle *e = NULL, *oldest;
  size_t cap;
  if (size > SIZE_MAX - sizeof(*e) - DATA_ROUND) return NULL;
  cap = (size + DATA_ROUND - 1) / DATA_ROUND * DATA_ROUND;
  pthread_mutex_lock(&c->mu);
  e = take_spare(c, size, cap);
  /* A full cache evicts its oldest entry for this block anyway when the
  ** block is inserted: if that entry's memory fits, evict it now and reuse
  ** the memory instead of allocating.  Besides saving a malloc and a free,
  ** this keeps the cache's blocks in the memory they were first given:
  ** glibc gives each thread its own malloc arena, and a cache that frees
  ** blocks into one arena while another thread allocates its misses in a
  ** second one ends up holding the budget's worth of memory in each
  ** (measured: 74 MiB peak RSS with a 32 MiB cache once a second thread
  ** had read, 43 MiB with this). */
  oldest = victim(c);
  /* (An entry on a list is referenced only by the table.) */
  if (e == NULL && c->usage + cap > c->capacity && oldest != NULL && fits(oldest, size, cap)) {
    if (c->n_spares == MAX_SPARES) entry_free(c->spares[--c->n_spares]);
    remove_from_table(c, oldest);   /* its last reference: retired to the spares */
    e = take_spare(c, size, cap);
  }
  pthread_mutex_unlock(&c->mu);
  if (e == NULL) {
    e = malloc(sizeof(*e) + (cap ? cap : 1));
    if (e == NULL) return NULL;
    e->charge = cap;
    e->is_inline = 1;
  }
  e->data = e + 1;
  return e->data;
}

lsm_cache_handle *lsm_cache_insert_buffer(lsm_cache *c, uint64_t id, uint64_t offset,
                                          void *buf, size_t size) {
  lsm_cache_handle *e = entry_of(buf);
  entry_init(e, c, id, offset, size);
  pthread_mutex_lock(&c->mu);
  insert_locked(c, e);
  pthread_mutex_unlock(&c->mu);
  return e;
}

void lsm_cache_buffer_free(lsm_cache *c, void *buf) {
  if (buf == NULL) return;
  pthread_mutex_lock(&c->mu);
  entry_retire(c, entry_of(buf));
  pthread_mutex_unlock(&c->mu);
}

void *lsm_cache_data(const lsm_cache_handle *h) {
  return h->data;
}

size_t lsm_cache_size(const lsm_cache_handle *h) {
  return h->size;
}

void lsm_cache_release(lsm_cache *c, lsm_cache_handle *h) {
  pthread_mutex_lock(&c->mu);
  unref_locked(c, h);
  /* A released entry may let an over-full cache shrink. */
  evict_over_capacity(c);
  pthread_mutex_unlock(&c->mu);
}

void lsm_cache_release_handle(void *h) {
  lsm_cache_handle *e = h;
  lsm_cache_release(e->cache, e);
}

void lsm_cache_reserve(lsm_cache *c, size_t n) {
  pthread_mutex_lock(&c->mu);
  c->reserved += n;
  c->usage += n;
  evict_over_capacity(c);
  pthread_mutex_unlock(&c->mu);
}

void lsm_cache_unreserve(lsm_cache *c, size_t n) {
  pthread_mutex_lock(&c->mu);
  assert(n <= c->reserved);
  c->reserved -= n;
  c->usage -= n;
  pthread_mutex_unlock(&c->mu);
}

size_t lsm_cache_capacity(const lsm_cache *c) {
  return c->capacity;   /* fixed at lsm_cache_new */
}

void lsm_cache_get_stats(lsm_cache *c, lsm_cache_stats *out) {
  pthread_mutex_lock(&c->mu);
  out->hits = c->hits;
  out->misses = c->misses;
  out->usage = c->usage;
  out->capacity = c->capacity;
  out->reserved = c->reserved;
  out->entries = c->n_entries;
  pthread_mutex_unlock(&c->mu);
}
