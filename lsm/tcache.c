/*
** tcache.c — the table cache (see tcache.h for the contract).
**
** A chained hash table keyed by file number indexes the open tables; a
** circular doubly linked list orders them, least recently used first.
** Every entry holds one reference on its table.  A hit moves the entry to
** the most recent end and takes a reference for the caller: a hash probe
** per table, and one mutex round trip per call (lsm_get looks up every
** table it may probe in one call, lsm_tcache_lookup_many).
**
** Invariants (mu held):
**  (1) n_open = entries in the table = entries on the LRU list.
**  (2) bytes = sum of the entries' charges; the block cache's reservation
**      follows it, adjusted right after each change (outside mu).
**  (3) After an insert, n_open <= max_open, and bytes <= the block cache's
**      capacity unless a single table is bigger than it.
*/
#include "tcache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "version.h"   /* lsm_file_path */

typedef struct tc_entry tc_entry;
struct tc_entry {
  uint64_t number;
  lsm_sst *table;            /* one reference */
  size_t charge;             /* lsm_sst_memory(table) */
  tc_entry *next_hash;
  tc_entry *prev, *next;     /* LRU list */
};

struct lsm_tcache {
  pthread_mutex_t mu;
  lsm_env *env;
  char *dir;
  lsm_cache *blocks;         /* or NULL */
  size_t budget;             /* blocks' capacity (SIZE_MAX without) */
  size_t max_open;
  size_t n_open, bytes;
  uint64_t opens;
  tc_entry **buckets;
  size_t n_buckets;          /* power of two */
  tc_entry lru;              /* list head: lru.next is the oldest */
};

static size_t hash_number(uint64_t number) {
  uint64_t h = number * 0x9E3779B97F4A7C15ULL;
  return (size_t)(h ^ (h >> 29));
}

lsm_tcache *lsm_tcache_new(lsm_env *env, const char *dir, lsm_cache *blocks, int max_open) {
  lsm_tcache *tc = calloc(1, sizeof *tc);
  if (tc == NULL) return NULL;
  tc->n_buckets = 64;
  tc->buckets = calloc(tc->n_buckets, sizeof(tc_entry *));
  tc->dir = strdup(dir);
  if (tc->buckets == NULL || tc->dir == NULL) {
    free(tc->buckets);
    free(tc->dir);
    free(tc);
    return NULL;
  }
  pthread_mutex_init(&tc->mu, NULL);
  tc->env = env;
  tc->blocks = blocks;
  tc->budget = blocks ? lsm_cache_capacity(blocks) : SIZE_MAX;
  tc->max_open = max_open > 0 ? (size_t)max_open : 1;
  tc->lru.next = tc->lru.prev = &tc->lru;
  return tc;
}

void lsm_tcache_free(lsm_tcache *tc) {
  tc_entry *e, *next;
  if (tc == NULL) return;
  for (e = tc->lru.next; e != &tc->lru; e = next) {
    next = e->next;
    lsm_sst_unref(e->table);
    free(e);
  }
  if (tc->blocks && tc->bytes) lsm_cache_unreserve(tc->blocks, tc->bytes);
  pthread_mutex_destroy(&tc->mu);
  free(tc->buckets);
  free(tc->dir);
  free(tc);
}

static tc_entry **find_slot(lsm_tcache *tc, uint64_t number) {
  tc_entry **slot = &tc->buckets[hash_number(number) & (tc->n_buckets - 1)];
  while (*slot && (*slot)->number != number) slot = &(*slot)->next_hash;
  return slot;
}

static void lru_unlink(tc_entry *e) {
  e->prev->next = e->next;
  e->next->prev = e->prev;
}

static void lru_append(lsm_tcache *tc, tc_entry *e) {
  e->next = &tc->lru;
  e->prev = tc->lru.prev;
  e->prev->next = e;
  tc->lru.prev = e;
}

/* Take e out of the set (mu held); the caller frees it and drops its
** reference after unlocking.  Returns the charge to unreserve. */
static size_t detach(lsm_tcache *tc, tc_entry *e) {
  tc_entry **slot = find_slot(tc, e->number);
  *slot = e->next_hash;
  lru_unlink(e);
  tc->n_open--;
  tc->bytes -= e->charge;
  return e->charge;
}

static void grow(lsm_tcache *tc) {
  size_t n = tc->n_buckets * 2, i;
  tc_entry **b = calloc(n, sizeof(tc_entry *));
  if (b == NULL) return;   /* longer chains, still correct */
  for (i = 0; i < tc->n_buckets; i++) {
    tc_entry *e = tc->buckets[i], *next;
    for (; e; e = next) {
      size_t j = hash_number(e->number) & (n - 1);
      next = e->next_hash;
      e->next_hash = b[j];
      b[j] = e;
    }
  }
  free(tc->buckets);
  tc->buckets = b;
  tc->n_buckets = n;
}

/* Close a list of detached entries (linked through next_hash), mu not
** held: closing a file is a system call. */
static void release_entries(lsm_tcache *tc, tc_entry *list, size_t charge) {
  while (list) {
    tc_entry *next = list->next_hash;
    lsm_sst_unref(list->table);
    free(list);
    list = next;
  }
  if (tc->blocks && charge) lsm_cache_unreserve(tc->blocks, charge);
}

/* The table's entry if the set has it, referenced for the caller (mu
** held). */
static lsm_sst *lookup_locked(lsm_tcache *tc, uint64_t number) {
  tc_entry *e = *find_slot(tc, number);
  if (e == NULL) return NULL;
  if (e != tc->lru.prev) {
    lru_unlink(e);
    lru_append(tc, e);
  }
  lsm_sst_ref(e->table);
  return e->table;
}

static int open_table(lsm_tcache *tc, uint64_t number, uint64_t size, lsm_sst **out,
                      lsm_buffer *errmsg) {
  char *path = lsm_file_path(tc->dir, number, "sst");
  int rc;
  if (path == NULL) return LSM_NOMEM;
  rc = lsm_sst_open(tc->env, path, size, out, errmsg);
  if (rc == LSM_NOTFOUND) {
    /* The manifest names it: a missing table is a damaged database. */
    char tmp[512];
    rc = LSM_CORRUPT;
    snprintf(tmp, sizeof tmp, "lsm: missing table file %s", path);
    if (errmsg) lsm_buffer_set(errmsg, tmp, strlen(tmp) + 1);
  }
  free(path);
  if (rc == LSM_OK) lsm_sst_set_cache(*out, tc->blocks);
  return rc;
}

/* lsm_tcache_get; with fill == 0 a table not in the set is opened for the
** caller alone and closed when released. */
static int get_table(lsm_tcache *tc, uint64_t number, uint64_t size, int fill, lsm_sst **out,
                     lsm_buffer *errmsg) {
  lsm_sst *t, *other;
  tc_entry *e, *evicted = NULL;
  size_t freed = 0, charge;
  int rc;
  pthread_mutex_lock(&tc->mu);
  t = lookup_locked(tc, number);
  pthread_mutex_unlock(&tc->mu);
  if (t) {
    *out = t;
    return LSM_OK;
  }
  *out = NULL;
  rc = open_table(tc, number, size, &t, errmsg);
  if (rc || !fill) {
    if (rc == LSM_OK) *out = t;
    return rc;
  }
  charge = lsm_sst_memory(t);
  e = malloc(sizeof *e);   /* NULL: the table is used uncached */

  pthread_mutex_lock(&tc->mu);
  tc->opens++;
  other = lookup_locked(tc, number);
  if (other == NULL && e != NULL) {
    tc_entry **slot = find_slot(tc, number);
    e->number = number;
    e->table = t;
    e->charge = charge;
    e->next_hash = *slot;
    *slot = e;
    lru_append(tc, e);
    lsm_sst_ref(t);          /* the set's reference */
    tc->n_open++;
    tc->bytes += charge;
    if (tc->n_open > tc->n_buckets) grow(tc);
    e = NULL;
    /* Invariant (3): give up the least recently used tables. */
    while (tc->n_open > tc->max_open || (tc->bytes > tc->budget && tc->n_open > 1)) {
      tc_entry *old = tc->lru.next;
      freed += detach(tc, old);
      old->next_hash = evicted;
      evicted = old;
    }
  } else {
    charge = 0;              /* nothing added: nothing to reserve */
  }
  pthread_mutex_unlock(&tc->mu);

  free(e);
  if (tc->blocks && charge) lsm_cache_reserve(tc->blocks, charge);
  release_entries(tc, evicted, freed);
  if (other) {
    lsm_sst_unref(t);        /* another thread opened it first */
    t = other;
  }
  *out = t;
  return LSM_OK;
}

int lsm_tcache_get(lsm_tcache *tc, uint64_t number, uint64_t size, lsm_sst **out,
                   lsm_buffer *errmsg) {
  return get_table(tc, number, size, 1, out, errmsg);
}

void lsm_tcache_lookup_many(lsm_tcache *tc, const uint64_t *numbers, int n, lsm_sst **out) {
  int i;
  pthread_mutex_lock(&tc->mu);
  for (i = 0; i < n; i++) out[i] = lookup_locked(tc, numbers[i]);
  pthread_mutex_unlock(&tc->mu);
}

void lsm_tcache_evict(lsm_tcache *tc, uint64_t number) {
  tc_entry *e;
  size_t freed = 0;
  if (tc == NULL) return;
  pthread_mutex_lock(&tc->mu);
  e = *find_slot(tc, number);
  if (e) {
    freed = detach(tc, e);
    e->next_hash = NULL;
  }
  pthread_mutex_unlock(&tc->mu);
  release_entries(tc, e, freed);
}

void lsm_tcache_get_stats(lsm_tcache *tc, lsm_tcache_stats *out) {
  pthread_mutex_lock(&tc->mu);
  out->open = tc->n_open;
  out->bytes = tc->bytes;
  out->opens = tc->opens;
  pthread_mutex_unlock(&tc->mu);
}

/* ------------------------------------------------------------------ */
/* Iterators.  A table that cannot be opened gives an iterator that is never
** valid and reports the open's status and message, so that the merge it
** joins fails like one over a damaged block. */

typedef struct error_it {
  lsm_it base;
  int rc;
  lsm_buffer msg;            /* NUL-terminated, or empty */
} error_it;

static int ei_valid(lsm_it *it) {
  (void)it;
  return 0;
}

static void ei_move(lsm_it *it) {
  (void)it;
}

static void ei_seek(lsm_it *it, lsm_slice target) {
  (void)it;
  (void)target;
}

static lsm_slice ei_slice(lsm_it *it) {
  (void)it;
  return lsm_slice_make(NULL, 0);
}

static int ei_status(lsm_it *it) {
  return ((error_it *)it)->rc;
}

static const char *ei_errmsg(lsm_it *it) {
  error_it *e = (error_it *)it;
  return e->msg.len ? (const char *)e->msg.data : NULL;
}

static void ei_free(lsm_it *it) {
  error_it *e = (error_it *)it;
  lsm_buffer_free(&e->msg);
  free(e);
}

static const lsm_it_methods error_methods = {
  ei_valid, ei_move, ei_move,  ei_seek,   ei_seek, ei_move,
  ei_move,  ei_slice, ei_slice, ei_status, ei_free, ei_errmsg, NULL, NULL,
};

lsm_it *lsm_tcache_iter_new(lsm_tcache *tc, uint64_t number, uint64_t size, int fill_cache) {
  lsm_sst *t = NULL;
  error_it *e;
  lsm_it *it;
  lsm_buffer msg = {0};
  int rc = get_table(tc, number, size, fill_cache, &t, &msg);
  if (rc == LSM_OK) {
    it = lsm_sst_iter_new_ex(t, fill_cache);   /* takes its own reference */
    lsm_sst_unref(t);
    lsm_buffer_free(&msg);
    return it;
  }
  if (rc == LSM_NOMEM || (e = calloc(1, sizeof *e)) == NULL) {
    lsm_buffer_free(&msg);
    return NULL;
  }
  e->base.m = &error_methods;
  e->rc = rc;
  e->msg = msg;
  return &e->base;
}
