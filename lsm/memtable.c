/*
** memtable.c — the in-memory sorted table (see memtable.h): a skiplist of
** internal keys living in an arena.
**
** Node layout (one arena allocation per entry):
**
**   struct mem_node { key_len, val_len, height, next[height] }
**   followed by the internal key bytes (user key || 8-byte trailer)
**   followed by the value bytes
**
** The lengths are stored in the node header in front of the bytes, so an
** entry is a length-prefixed key and a length-prefixed value.  The head node
** has LSM_MEM_MAX_HEIGHT links and no key; it is never compared.
**
** Skiplist: level 0 links every node in internal-key order (lsm_ikey_cmp);
** each higher level links a subset.  A node's height is drawn from a
** per-memtable xorshift generator with branching factor 3 (each extra level
** with probability 1/3), capped at LSM_MEM_MAX_HEIGHT = 16, which is plenty
** for the ~3^16 = 43M entries a memtable might hold before it is flushed.
** Factor 3 rather than 4 (LevelDB's): a search passes about b - 1 nodes per
** level and drops log_b(n) levels, and nearly every node it passes below
** the top levels is a cache miss; with the drops prefetched (find_ge), 3
** measured 11% faster seeks than 4 in a 20k-entry memtable, for 0.17 more
** links per node (2 with factor 2, no faster).
**
** Key filter: lsm_mem_get of a key the memtable does not hold (a new key's
** uniqueness check, a lookup of a key that lives in a table) would walk the
** whole skiplist, a cache miss per node.  A small bloom filter over the user
** keys answers most of those with one: FILTER_WORDS 64-bit words, a key
** sets FILTER_PROBES bits of the word its hash picks.  It is allocated with
** the first entry (an empty memtable has none) and never resized; a
** memtable holding far more keys than the filter was sized for (tiny rows,
** a huge memtable_size) just gets more false positives, which cost the
** search it would have done anyway.
**
** Finger: the engine inserts a commit's operations in key order (the batch
** encoding sorts them, and so does recovery's replay of that encoding), so
** an insert's key usually follows the previous one closely.  The writer
** keeps the previous insert's search path, finger[i] = the last node at
** level i whose key is <= the previously inserted key (the head above the
** levels in use), and when the new key sorts after the previous one it
** climbs from finger[0] to the lowest level whose successor is >= the new
** key and searches down from there: about log_3(gap) levels instead of
** log_3(count) from the head.  A key that sorts before the previous one
** (the next commit's first key, a random-order insert) costs one compare
** and the search from the head.
**
** Concurrency (one writer, many readers):
**  - A node is completely written (lengths, bytes, its own next pointers)
**    before it becomes reachable.  It is published level by level from the
**    bottom up with a release store into its predecessor's link; readers
**    load links with acquire loads, so a reader that sees a node also sees
**    its contents.  A reader that finds a node at level 0 but not yet at
**    level i just takes a slower path.
**  - max_height, count and bytes are read by readers with relaxed atomics.
**    A stale max_height only means searching from a lower level; a fresh
**    one seen before the new level's links only means finding NULL in the
**    head's link (the head's links are NULL from creation) and dropping a
**    level.  Either way every link followed is NULL or a published node.
**  - The arena itself is touched only by the writer.
**  - refs is changed with atomic read-modify-write operations.
**  - The finger (below) is the writer's alone.
**  - The filter pointer is published (release) before the first node, and
**    a key's filter bits are set (relaxed atomic OR) before its node is
**    published; a reader that may see the node (its sequence number was
**    committed before the reader took its view) therefore sees the bits.
*/
#include "memtable.h"
#include "arena.h"

#include <assert.h>
#include <stdlib.h>

#define LSM_MEM_MAX_HEIGHT 16
#define LSM_MEM_BRANCHING  3
#define FILTER_WORDS 8192    /* 64 KiB: ~17 bits per key at 30,000 keys */
#define FILTER_PROBES 3

typedef struct mem_node {
  size_t key_len;   /* internal key length (>= LSM_TRAILER_SIZE) */
  size_t val_len;
  int height;       /* number of entries in next[] */
  struct mem_node *next[];  /* next[i]: successor at level i */
} mem_node;

struct lsm_mem {
  lsm_arena *arena;
  mem_node *head;
  int max_height;       /* levels in use (>= 1); atomic for readers */
  uint64_t rng;         /* xorshift64 state; writer only */
  uint64_t count;       /* entries; atomic for readers */
  size_t bytes;         /* copy of lsm_arena_bytes(); atomic for readers */
  int refs;             /* atomic */
  uint64_t *filter;     /* FILTER_WORDS words or NULL; atomic pointer and
                           words (see Key filter) */
  mem_node *finger[LSM_MEM_MAX_HEIGHT];  /* see Finger; writer only.
                           finger[0] is the previous insert's node (every
                           node is at level 0), the head before the first */
};

/* ------------------------------------------------------------------ */
/* Node accessors. */

static unsigned char *node_bytes(mem_node *n) {
  return (unsigned char *)&n->next[n->height];
}

static lsm_slice node_key(mem_node *n) {
  return lsm_slice_make(node_bytes(n), n->key_len);
}

static lsm_slice node_value(mem_node *n) {
  return lsm_slice_make(node_bytes(n) + n->key_len, n->val_len);
}

static mem_node *node_next(mem_node *n, int level) {
  return __atomic_load_n(&n->next[level], __ATOMIC_ACQUIRE);
}

static void node_publish(mem_node *n, int level, mem_node *x) {
  __atomic_store_n(&n->next[level], x, __ATOMIC_RELEASE);
}

static int current_height(const lsm_mem *m) {
  return __atomic_load_n(&m->max_height, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------ */
/* Key filter. */

/* The word a user key's bits go to and the bits: FILTER_PROBES 6-bit
** positions from the low bits of the hash, the word from the high ones. */
static uint64_t filter_mask(uint64_t h, size_t *word) {
  uint64_t mask = 0;
  int i;
  *word = (size_t)((h >> 32) % FILTER_WORDS);
  for (i = 0; i < FILTER_PROBES; i++) mask |= (uint64_t)1 << ((h >> (6 * i)) & 63);
  return mask;
}

static uint64_t filter_hash(lsm_slice ukey) {
  static const unsigned char empty = 0;
  return lsm_checksum64(ukey.p ? (const void *)ukey.p : (const void *)&empty, ukey.n);
}

/* 0 if the memtable certainly holds no version of the user key whose
** filter_hash is h. */
static int filter_may_contain(const lsm_mem *m, uint64_t h) {
  uint64_t *f = __atomic_load_n(&m->filter, __ATOMIC_ACQUIRE);
  uint64_t mask;
  size_t word;
  if (f == NULL) return 1;
  mask = filter_mask(h, &word);
  return (__atomic_load_n(&f[word], __ATOMIC_RELAXED) & mask) == mask;
}

/* Writer only.  Out of memory: no filter (every lookup searches). */
static void filter_add(lsm_mem *m, lsm_slice ukey) {
  uint64_t mask;
  size_t word;
  if (m->filter == NULL) {
    uint64_t *f = calloc(FILTER_WORDS, sizeof(uint64_t));
    if (f == NULL) return;
    __atomic_store_n(&m->filter, f, __ATOMIC_RELEASE);
  }
  mask = filter_mask(filter_hash(ukey), &word);
  __atomic_fetch_or(&m->filter[word], mask, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------ */
/* Searches.  A search target is an internal key split into its user key
** and trailer, so lookups can search for ukey || trailer(seq, PUT) without
** building that key in memory.  Each search returns NULL for "no such node"
** (never the head). */

typedef struct mem_target {
  lsm_slice ukey;
  uint64_t trailer;
} mem_target;

static mem_target target_of(lsm_slice ikey) {
  mem_target t;
  assert(ikey.n >= LSM_TRAILER_SIZE);
  t.ukey = lsm_ikey_user(ikey);
  t.trailer = lsm_get_u64(ikey.p + ikey.n - LSM_TRAILER_SIZE);
  return t;
}

/* lsm_ikey_cmp(node's key, target). */
static int cmp_target(mem_node *n, const mem_target *t) {
  lsm_slice k = node_key(n);
  int c = lsm_slice_cmp(lsm_ikey_user(k), t->ukey);
  uint64_t tr;
  if (c) return c;
  tr = lsm_get_u64(k.p + k.n - LSM_TRAILER_SIZE);
  return tr > t->trailer ? -1 : (tr < t->trailer ? 1 : 0);
}

/* Ask for the node a search at x goes on with if it drops a level, while it
** compares the node to the right on this one: a search drops a level at
** every level, and the lower levels' nodes are rarely in the CPU cache.  A
** hint (never a fault; nodes live as long as the memtable). */
static void prefetch_below(mem_node *x, int level) {
  if (level > 0) __builtin_prefetch(__atomic_load_n(&x->next[level - 1], __ATOMIC_RELAXED));
}

/* First node with key >= target, searching down from node x (< target, or
** the head) at level.  If prev is not NULL, prev[i] receives the last node
** at level i whose key is < target for every level <= level. */
static mem_node *find_ge_from(mem_node *x, int level, const mem_target *t,
                              mem_node **prev) {
  for (;;) {
    mem_node *next = node_next(x, level);
    prefetch_below(x, level);
    if (next && cmp_target(next, t) < 0) {
      x = next;
      continue;
    }
    if (prev) prev[level] = x;
    if (level == 0) return next;
    level--;
  }
}

/* First node with key >= target.  If prev is not NULL, prev[i] receives the
** last node at level i whose key is < target (possibly the head) for every
** level below the current height. */
static mem_node *find_ge(lsm_mem *m, const mem_target *t, mem_node **prev) {
  return find_ge_from(m->head, current_height(m) - 1, t, prev);
}

/* find_ge for an insert: the first node >= target, with prev[] filled for
** every level below LSM_MEM_MAX_HEIGHT (the head above the levels in use),
** starting from the finger when the target sorts after the previous
** insert (see Finger).  Writer only. */
static mem_node *find_ge_for_insert(lsm_mem *m, const mem_target *t,
                                    mem_node **prev) {
  int height = current_height(m), level, i;
  mem_node *next;

  /* finger[0] is the previous insert's node (the head before the first). */
  if (m->finger[0] == m->head || cmp_target(m->finger[0], t) >= 0) {
    for (i = height; i < LSM_MEM_MAX_HEIGHT; i++) prev[i] = m->head;
    return find_ge(m, t, prev);
  }
  /* Every finger[i] is < target.  Climb to the lowest level whose
  ** successor is >= target (or the top level in use).  Above it the
  ** finger is already the answer: a node at a higher level that is after
  ** the previous key is also at this level, so it is >= target too. */
  for (level = 0; level < height - 1; level++) {
    next = node_next(m->finger[level], level);
    if (next == NULL || cmp_target(next, t) >= 0) break;
  }
  for (i = level + 1; i < LSM_MEM_MAX_HEIGHT; i++) prev[i] = m->finger[i];
  return find_ge_from(m->finger[level], level, t, prev);
}

/* Last node with key < target (or_equal == 0) or <= target (or_equal). */
static mem_node *find_before(lsm_mem *m, const mem_target *t, int or_equal) {
  mem_node *x = m->head;
  int level = current_height(m) - 1;
  for (;;) {
    mem_node *next = node_next(x, level);
    prefetch_below(x, level);
    if (next && cmp_target(next, t) < or_equal) {
      x = next;
      continue;
    }
    if (level == 0) return x == m->head ? NULL : x;
    level--;
  }
}

/* Last node of the list. */
static mem_node *find_last(lsm_mem *m) {
  mem_node *x = m->head;
  int level = current_height(m) - 1;
  for (;;) {
    mem_node *next = node_next(x, level);
    if (next) {
      x = next;
      continue;
    }
    if (level == 0) return x == m->head ? NULL : x;
    level--;
  }
}

/* ------------------------------------------------------------------ */
/* Lifetime. */

int lsm_mem_new(lsm_mem **out) {
  lsm_mem *m = NULL;
  size_t head_size =
      sizeof(mem_node) + LSM_MEM_MAX_HEIGHT * sizeof(mem_node *);
  int rc = LSM_OK, i;

  *out = NULL;
  m = calloc(1, sizeof(*m));
  if (m == NULL) { rc = LSM_NOMEM; goto done; }
  m->arena = lsm_arena_new();
  if (m->arena == NULL) { rc = LSM_NOMEM; goto done; }
  m->head = lsm_arena_alloc(m->arena, head_size);
  if (m->head == NULL) { rc = LSM_NOMEM; goto done; }
  m->head->key_len = 0;
  m->head->val_len = 0;
  m->head->height = LSM_MEM_MAX_HEIGHT;
  for (i = 0; i < LSM_MEM_MAX_HEIGHT; i++) {
    m->head->next[i] = NULL;
    m->finger[i] = m->head;
  }
  m->max_height = 1;
  /* Any nonzero seed works; a fixed one makes layouts reproducible. */
  m->rng = 0x9e3779b97f4a7c15ull;
  m->count = 0;
  m->bytes = lsm_arena_bytes(m->arena) + sizeof(*m);
  m->refs = 1;

done:
  if (rc != LSM_OK && m) {
    lsm_arena_free(m->arena);
    free(m);
    m = NULL;
  }
  *out = m;
  return rc;
}

void lsm_mem_ref(lsm_mem *m) {
  __atomic_add_fetch(&m->refs, 1, __ATOMIC_RELAXED);
}

void lsm_mem_unref(lsm_mem *m) {
  if (m == NULL) return;
  /* acq_rel: every use by other holders happens before the free. */
  if (__atomic_sub_fetch(&m->refs, 1, __ATOMIC_ACQ_REL) == 0) {
    lsm_arena_free(m->arena);
    free(m->filter);
    free(m);
  }
}

/* ------------------------------------------------------------------ */
/* Writing. */

static int random_height(lsm_mem *m) {
  int h = 1;
  for (;;) {
    uint64_t x = m->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    m->rng = x;
    if (h >= LSM_MEM_MAX_HEIGHT || (x >> 32) % LSM_MEM_BRANCHING != 0) break;
    h++;
  }
  return h;
}

int lsm_mem_add(lsm_mem *m, uint64_t seq, int kind, lsm_slice ukey,
                lsm_slice val) {
  mem_node *prev[LSM_MEM_MAX_HEIGHT];
  mem_node *x, *succ;
  mem_target t;
  unsigned char *p;
  size_t key_len, size;
  int height, cur_height, i;

  assert(seq <= LSM_SEQ_MAX);
  assert(kind == LSM_KIND_PUT || kind == LSM_KIND_DELETE);

  height = random_height(m);
  if (ukey.n > SIZE_MAX - LSM_TRAILER_SIZE) return LSM_NOMEM;
  key_len = ukey.n + LSM_TRAILER_SIZE;
  size = sizeof(mem_node) + (size_t)height * sizeof(mem_node *);
  if (key_len > SIZE_MAX - size) return LSM_NOMEM;
  size += key_len;
  if (val.n > SIZE_MAX - size) return LSM_NOMEM;
  size += val.n;

  x = lsm_arena_alloc(m->arena, size);
  if (x == NULL) return LSM_NOMEM;
  x->key_len = key_len;
  x->val_len = val.n;
  x->height = height;
  p = node_bytes(x);
  if (ukey.n) memcpy(p, ukey.p, ukey.n);
  lsm_put_u64(p + ukey.n, lsm_pack_trailer(seq, kind));
  if (val.n) memcpy(p + key_len, val.p, val.n);

  /* A failed filter allocation only costs this key's lookups a search:
  ** the filter is then NULL for good (see filter_add). */
  if (m->filter != NULL || m->count == 0) filter_add(m, ukey);

  t = target_of(node_key(x));
  succ = find_ge_for_insert(m, &t, prev);
  assert(succ == NULL || cmp_target(succ, &t) != 0);  /* (ukey, seq) is new */
  (void)succ;

  cur_height = current_height(m);
  /* Link the node's own pointers (not yet visible), then publish it bottom
  ** up so that a reader finding it at level i can follow it at level i. */
  for (i = 0; i < height; i++) {
    __atomic_store_n(&x->next[i], node_next(prev[i], i), __ATOMIC_RELAXED);
  }
  for (i = 0; i < height; i++) {
    node_publish(prev[i], i, x);
  }
  if (height > cur_height) {
    __atomic_store_n(&m->max_height, height, __ATOMIC_RELAXED);
  }
  /* The new finger: x itself where x has links, its predecessors above. */
  for (i = 0; i < height; i++) m->finger[i] = x;
  for (; i < LSM_MEM_MAX_HEIGHT; i++) m->finger[i] = prev[i];
  __atomic_store_n(&m->count, m->count + 1, __ATOMIC_RELAXED);
  __atomic_store_n(&m->bytes, lsm_arena_bytes(m->arena) + sizeof(*m),
                   __ATOMIC_RELAXED);
  return LSM_OK;
}

/* ------------------------------------------------------------------ */
/* Reading. */

int lsm_mem_get(lsm_mem *m, lsm_slice ukey, uint64_t seq, int *kind,
                lsm_slice *val) {
  return lsm_mem_get_hashed(m, ukey, filter_hash(ukey), seq, kind, val);
}

int lsm_mem_get_hashed(lsm_mem *m, lsm_slice ukey, uint64_t hash, uint64_t seq,
                       int *kind, lsm_slice *val) {
  /* The lookup key ukey || trailer(seq, PUT) sorts after every version of
  ** ukey newer than seq and before every version at or below it (at equal
  ** seq, PUT has the larger trailer and so sorts first), so the first node
  ** >= it is the answer if it belongs to ukey at all. */
  mem_target t;
  mem_node *x;
  lsm_ikey parsed;

  assert(seq <= LSM_SEQ_MAX);
  if (!filter_may_contain(m, hash)) return 0;
  t.ukey = ukey;
  t.trailer = lsm_pack_trailer(seq, LSM_KIND_PUT);
  x = find_ge(m, &t, NULL);
  if (x == NULL || !lsm_ikey_parse(node_key(x), &parsed) ||
      lsm_slice_cmp(parsed.ukey, ukey) != 0) {
    return 0;
  }
  *kind = parsed.kind;
  *val = node_value(x);
  return 1;
}

size_t lsm_mem_bytes(const lsm_mem *m) {
  return __atomic_load_n(&m->bytes, __ATOMIC_RELAXED);
}

uint64_t lsm_mem_count(const lsm_mem *m) {
  return __atomic_load_n(&m->count, __ATOMIC_RELAXED);
}

/* ------------------------------------------------------------------ */
/* Iterator. */

typedef struct mem_iter {
  lsm_it base;
  lsm_mem *mem;   /* referenced */
  mem_node *node; /* current entry, NULL when not positioned */
} mem_iter;

static int mi_valid(lsm_it *it) {
  return ((mem_iter *)it)->node != NULL;
}

static void mi_first(lsm_it *it) {
  mem_iter *mi = (mem_iter *)it;
  mi->node = node_next(mi->mem->head, 0);
}

static void mi_last(lsm_it *it) {
  mem_iter *mi = (mem_iter *)it;
  mi->node = find_last(mi->mem);
}

static void mi_seek(lsm_it *it, lsm_slice target) {
  mem_iter *mi = (mem_iter *)it;
  mem_target t = target_of(target);
  mi->node = find_ge(mi->mem, &t, NULL);
}

static void mi_seek_le(lsm_it *it, lsm_slice target) {
  mem_iter *mi = (mem_iter *)it;
  mem_target t = target_of(target);
  mi->node = find_before(mi->mem, &t, 1);
}

static void mi_next(lsm_it *it) {
  mem_iter *mi = (mem_iter *)it;
  assert(mi->node);
  mi->node = node_next(mi->node, 0);
}

static void mi_prev(lsm_it *it) {
  /* Nodes have no back links: search for the last node before this one. */
  mem_iter *mi = (mem_iter *)it;
  mem_target t;
  assert(mi->node);
  t = target_of(node_key(mi->node));
  mi->node = find_before(mi->mem, &t, 0);
}

/* Fused step (iter.h). */
static int mi_next_key(lsm_it *it, lsm_slice *key) {
  mem_iter *mi = (mem_iter *)it;
  assert(mi->node);
  mi->node = node_next(mi->node, 0);
  if (mi->node == NULL) return 0;
  *key = node_key(mi->node);
  return 1;
}

static lsm_slice mi_key(lsm_it *it) {
  mem_iter *mi = (mem_iter *)it;
  assert(mi->node);
  return node_key(mi->node);
}

static lsm_slice mi_value(lsm_it *it) {
  mem_iter *mi = (mem_iter *)it;
  assert(mi->node);
  return node_value(mi->node);
}

static int mi_status(lsm_it *it) {
  (void)it;
  return LSM_OK;  /* memory cannot be corrupt or fail to read */
}

static void mi_free(lsm_it *it) {
  mem_iter *mi = (mem_iter *)it;
  lsm_mem_unref(mi->mem);
  free(mi);
}

static const lsm_it_methods mem_iter_methods = {
  mi_valid, mi_first, mi_last, mi_seek, mi_seek_le, mi_next, mi_prev,
  mi_key, mi_value, mi_status, mi_free, NULL, mi_next_key, NULL,
};

lsm_it *lsm_mem_iter_new(lsm_mem *m) {
  mem_iter *mi = malloc(sizeof(*mi));
  if (mi == NULL) return NULL;
  mi->base.m = &mem_iter_methods;
  mi->mem = m;
  mi->node = NULL;
  lsm_mem_ref(m);
  return &mi->base;
}
