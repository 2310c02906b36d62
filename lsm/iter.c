/*
** iter.c — the empty iterator and the merging iterator.
**
** The merging iterator presents n sorted children as one sorted stream of
** internal keys.  It is the heart of reads and compaction: the database
** iterator merges the memtables, the level-0 tables and one level iterator
** per deeper level; a compaction merges its input tables.
**
** Invariants (the LevelDB design):
**  (1) When moving forward, every valid child other than `current` is
**      positioned at an entry > key(current); when moving backward, at an
**      entry < key(current).
**  (2) On a change of direction the other children are repositioned
**      relative to key(current) to re-establish (1).
** and of this implementation:
**  (3) keys[i] is child i's key whenever child i is valid: it is refreshed
**      after every move of that child (a child's key slice stays valid until
**      the child moves), so comparisons never call into the children.
**  (4) heap[0 .. n_heap) holds exactly the valid children, as a binary
**      heap ordered by (key, index): smallest first when moving forward,
**      largest first when moving backward.  heap[0] is `current`.
** A step forward moves only the current child and restores the heap with
** one sift-down: about log2(n) comparisons instead of n.
*/
#include "iter.h"

#include <stdlib.h>

#include "dbformat.h"

/* ---------------------------------------------------------------- empty */

typedef struct empty_it {
  lsm_it base;
  int rc;
} empty_it;

static int empty_valid(lsm_it *it) { return 0; }
static void empty_move(lsm_it *it) {}
static void empty_seek(lsm_it *it, lsm_slice t) {}
static lsm_slice empty_slice(lsm_it *it) { return lsm_slice_make(NULL, 0); }
static int empty_status(lsm_it *it) { return ((empty_it *)it)->rc; }
static void empty_free(lsm_it *it) { free(it); }

static const lsm_it_methods empty_methods = {
  empty_valid, empty_move, empty_move, empty_seek, empty_seek, empty_move,
  empty_move,  empty_slice, empty_slice, empty_status, empty_free, NULL,
};

lsm_it *lsm_it_new_empty(int rc) {
  empty_it *it = malloc(sizeof *it);
  if (it == NULL) return NULL;
  it->base.m = &empty_methods;
  it->rc = rc;
  return &it->base;
}

/* ---------------------------------------------------------------- merging */

enum { FORWARD, REVERSE };

typedef struct merge_it {
  lsm_it base;
  lsm_it **children;
  lsm_slice *keys;         /* invariant (3) */
  uint64_t *prefix;        /* user_prefix(keys[i]), with keys[i] */
  int *heap;               /* invariant (4) */
  int n;
  int n_heap;
  int direction;
  int rc;                  /* first error of a child, sticky */
  lsm_it *err_child;       /* the child that reported rc (its errmsg) */
} merge_it;

/* The first 8 bytes of an internal key's user key as a big-endian number,
** zero-padded when shorter.  If two keys' prefixes differ, they order the
** keys (a shorter key padded with zeros sorts no later than any key it is
** a prefix of, and a difference inside the 8 bytes decides); only equal
** prefixes need the whole comparison.  Keys mostly differ early, so the
** heap mostly compares two numbers. */
static uint64_t user_prefix(lsm_slice ikey) {
  size_t n = ikey.n - LSM_TRAILER_SIZE, i;
  uint64_t v = 0;
  if (n >= 8) return lsm_get_be64(ikey.p);
  for (i = 0; i < 8; i++) v = (v << 8) | (i < n ? ikey.p[i] : 0);
  return v;
}

/* Does child a come before child b in the current direction? */
static int before(const merge_it *m, int a, int b) {
  uint64_t pa = m->prefix[a], pb = m->prefix[b];
  int c;
  if (pa != pb) c = pa < pb ? -1 : 1;
  else c = lsm_ikey_cmp(m->keys[a], m->keys[b]);
  if (m->direction == FORWARD) return c < 0 || (c == 0 && a < b);
  return c > 0 || (c == 0 && a > b);
}

static void sift_down(merge_it *m, int i) {
  int *h = m->heap;
  int x = h[i];
  for (;;) {
    int l = 2 * i + 1, best;
    if (l >= m->n_heap) break;
    best = l;
    if (l + 1 < m->n_heap && before(m, h[l + 1], h[l])) best = l + 1;
    if (!before(m, h[best], x)) break;
    h[i] = h[best];
    i = best;
  }
  h[i] = x;
}

/* A child reports an error only by becoming invalid, so errors are looked
** for where a child may have become invalid.  Returns 1 if child i is
** valid (its key cached), 0 if not (its status noted). */
static int settle(merge_it *m, int i) {
  lsm_it *c = m->children[i];
  if (lsm_it_valid(c)) {
    m->keys[i] = lsm_it_key(c);
    m->prefix[i] = user_prefix(m->keys[i]);
    return 1;
  }
  if (m->rc == LSM_OK) {
    m->rc = lsm_it_status(c);
    if (m->rc) m->err_child = c;
  }
  return 0;
}

/* After every child was repositioned: rebuild the heap for direction. */
static void rebuild(merge_it *m, int direction) {
  int i;
  m->direction = direction;
  m->n_heap = 0;
  for (i = 0; i < m->n; i++) {
    if (settle(m, i)) m->heap[m->n_heap++] = i;
  }
  for (i = m->n_heap / 2 - 1; i >= 0; i--) sift_down(m, i);
}

/* The current child moved: restore invariant (4). */
static void advance_top(merge_it *m) {
  if (!settle(m, m->heap[0])) m->heap[0] = m->heap[--m->n_heap];
  if (m->n_heap > 1) sift_down(m, 0);
}

static int merge_valid(lsm_it *it) {
  return ((merge_it *)it)->n_heap > 0;
}

static void merge_first(lsm_it *it) {
  merge_it *m = (merge_it *)it;
  int i;
  for (i = 0; i < m->n; i++) lsm_it_first(m->children[i]);
  rebuild(m, FORWARD);
}

static void merge_last(lsm_it *it) {
  merge_it *m = (merge_it *)it;
  int i;
  for (i = 0; i < m->n; i++) lsm_it_last(m->children[i]);
  rebuild(m, REVERSE);
}

static void merge_seek(lsm_it *it, lsm_slice target) {
  merge_it *m = (merge_it *)it;
  int i;
  for (i = 0; i < m->n; i++) lsm_it_seek(m->children[i], target);
  rebuild(m, FORWARD);
}

static void merge_seek_le(lsm_it *it, lsm_slice target) {
  merge_it *m = (merge_it *)it;
  int i;
  for (i = 0; i < m->n; i++) lsm_it_seek_le(m->children[i], target);
  rebuild(m, REVERSE);
}

/* Invariant (2): put every child but the current one strictly after
** (FORWARD) or before (REVERSE) key(current), then rebuild the heap. */
static void turn(merge_it *m, int direction) {
  int cur = m->heap[0], i;
  lsm_slice key = m->keys[cur];
  for (i = 0; i < m->n; i++) {
    lsm_it *c = m->children[i];
    if (i == cur) continue;
    if (direction == FORWARD) {
      lsm_it_seek(c, key);
      if (lsm_it_valid(c) && lsm_ikey_cmp(key, lsm_it_key(c)) == 0) lsm_it_next(c);
    } else {
      lsm_it_seek_le(c, key);
      if (lsm_it_valid(c) && lsm_ikey_cmp(key, lsm_it_key(c)) == 0) lsm_it_prev(c);
    }
  }
  rebuild(m, direction);
  /* The current child has the extreme key of them all: it is on top. */
}

static void merge_next(lsm_it *it) {
  merge_it *m = (merge_it *)it;
  if (m->direction != FORWARD) turn(m, FORWARD);
  lsm_it_next(m->children[m->heap[0]]);
  advance_top(m);
}

static void merge_prev(lsm_it *it) {
  merge_it *m = (merge_it *)it;
  if (m->direction != REVERSE) turn(m, REVERSE);
  lsm_it_prev(m->children[m->heap[0]]);
  advance_top(m);
}

static lsm_slice merge_key(lsm_it *it) {
  merge_it *m = (merge_it *)it;
  return m->keys[m->heap[0]];
}

static lsm_slice merge_value(lsm_it *it) {
  merge_it *m = (merge_it *)it;
  return lsm_it_value(m->children[m->heap[0]]);
}

static int merge_status(lsm_it *it) {
  return ((merge_it *)it)->rc;
}

static void merge_free(lsm_it *it) {
  merge_it *m = (merge_it *)it;
  int i;
  for (i = 0; i < m->n; i++) lsm_it_free(m->children[i]);
  free(m->children);
  free(m);
}

static const char *merge_errmsg(lsm_it *it) {
  merge_it *m = (merge_it *)it;
  return m->err_child ? lsm_it_errmsg(m->err_child) : NULL;
}

static const lsm_it_methods merge_methods = {
  merge_valid, merge_first, merge_last,  merge_seek,   merge_seek_le, merge_next,
  merge_prev,  merge_key,   merge_value, merge_status, merge_free, merge_errmsg,
};

lsm_it *lsm_it_new_merging(lsm_it **children, int n) {
  /* One allocation: the iterator, then its key, prefix and heap arrays. */
  size_t keys_off = (sizeof(merge_it) + sizeof(lsm_slice) - 1) / sizeof(lsm_slice) *
                    sizeof(lsm_slice);
  size_t prefix_off = keys_off + (size_t)n * sizeof(lsm_slice);
  size_t heap_off = prefix_off + (size_t)n * sizeof(uint64_t);
  merge_it *m = malloc(heap_off + (size_t)n * sizeof(int) + 1);
  if (m == NULL) {
    int i;
    for (i = 0; i < n; i++) lsm_it_free(children[i]);
    free(children);
    return NULL;
  }
  m->base.m = &merge_methods;
  m->children = children;
  m->keys = (lsm_slice *)((char *)m + keys_off);
  m->prefix = (uint64_t *)((char *)m + prefix_off);
  m->heap = (int *)((char *)m + heap_off);
  m->n = n;
  m->n_heap = 0;
  m->direction = FORWARD;
  m->rc = LSM_OK;
  m->err_child = NULL;
  return &m->base;
}
