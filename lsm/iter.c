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
** Children are few (memtables, level-0 files, one per level), so the
** smallest/largest child is found by a linear scan.
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
  int n;
  int current;             /* index of the child at the merged position, -1 */
  int direction;
  int rc;                  /* first error of a child, sticky */
  lsm_it *err_child;       /* the child that reported rc (its errmsg) */
} merge_it;

/* A child reports an error only by becoming invalid, so errors are looked
** for where a child may have become invalid: every child after a
** repositioning of all of them, the moved child after next/prev.  This
** keeps status() O(1) on the hot path of scans. */
static void note_status(merge_it *m, lsm_it *c) {
  if (m->rc == LSM_OK && !lsm_it_valid(c)) {
    m->rc = lsm_it_status(c);
    if (m->rc) m->err_child = c;
  }
}

static void note_all(merge_it *m) {
  int i;
  for (i = 0; i < m->n && m->rc == LSM_OK; i++) note_status(m, m->children[i]);
}

static void find_smallest(merge_it *m) {
  int i, best = -1;
  lsm_slice best_key = {0};
  for (i = 0; i < m->n; i++) {
    lsm_it *c = m->children[i];
    if (!lsm_it_valid(c)) continue;
    if (best < 0 || lsm_ikey_cmp(lsm_it_key(c), best_key) < 0) {
      best = i;
      best_key = lsm_it_key(c);
    }
  }
  m->current = best;
}

static void find_largest(merge_it *m) {
  int i, best = -1;
  lsm_slice best_key = {0};
  for (i = m->n - 1; i >= 0; i--) {
    lsm_it *c = m->children[i];
    if (!lsm_it_valid(c)) continue;
    if (best < 0 || lsm_ikey_cmp(lsm_it_key(c), best_key) > 0) {
      best = i;
      best_key = lsm_it_key(c);
    }
  }
  m->current = best;
}

static int merge_valid(lsm_it *it) {
  return ((merge_it *)it)->current >= 0;
}

static void merge_first(lsm_it *it) {
  merge_it *m = (merge_it *)it;
  int i;
  for (i = 0; i < m->n; i++) lsm_it_first(m->children[i]);
  note_all(m);
  find_smallest(m);
  m->direction = FORWARD;
}

static void merge_last(lsm_it *it) {
  merge_it *m = (merge_it *)it;
  int i;
  for (i = 0; i < m->n; i++) lsm_it_last(m->children[i]);
  note_all(m);
  find_largest(m);
  m->direction = REVERSE;
}

static void merge_seek(lsm_it *it, lsm_slice target) {
  merge_it *m = (merge_it *)it;
  int i;
  for (i = 0; i < m->n; i++) lsm_it_seek(m->children[i], target);
  note_all(m);
  find_smallest(m);
  m->direction = FORWARD;
}

static void merge_seek_le(lsm_it *it, lsm_slice target) {
  merge_it *m = (merge_it *)it;
  int i;
  for (i = 0; i < m->n; i++) lsm_it_seek_le(m->children[i], target);
  note_all(m);
  find_largest(m);
  m->direction = REVERSE;
}

static void merge_next(lsm_it *it) {
  merge_it *m = (merge_it *)it;
  lsm_it *cur = m->children[m->current];
  if (m->direction != FORWARD) {
    /* Invariant (2): put every other child after key(current). */
    lsm_slice key = lsm_it_key(cur);
    int i;
    for (i = 0; i < m->n; i++) {
      lsm_it *c = m->children[i];
      if (c == cur) continue;
      lsm_it_seek(c, key);
      if (lsm_it_valid(c) && lsm_ikey_cmp(key, lsm_it_key(c)) == 0) lsm_it_next(c);
      note_status(m, c);
    }
    m->direction = FORWARD;
  }
  lsm_it_next(cur);
  note_status(m, cur);
  find_smallest(m);
}

static void merge_prev(lsm_it *it) {
  merge_it *m = (merge_it *)it;
  lsm_it *cur = m->children[m->current];
  if (m->direction != REVERSE) {
    /* Invariant (2): put every other child before key(current). */
    lsm_slice key = lsm_it_key(cur);
    int i;
    for (i = 0; i < m->n; i++) {
      lsm_it *c = m->children[i];
      if (c == cur) continue;
      lsm_it_seek_le(c, key);
      if (lsm_it_valid(c) && lsm_ikey_cmp(key, lsm_it_key(c)) == 0) lsm_it_prev(c);
      note_status(m, c);
    }
    m->direction = REVERSE;
  }
  lsm_it_prev(cur);
  note_status(m, cur);
  find_largest(m);
}

static lsm_slice merge_key(lsm_it *it) {
  merge_it *m = (merge_it *)it;
  return lsm_it_key(m->children[m->current]);
}

static lsm_slice merge_value(lsm_it *it) {
  merge_it *m = (merge_it *)it;
  return lsm_it_value(m->children[m->current]);
}

static int merge_status(lsm_it *it) {
  return ((merge_it *)it)->rc;
}

static const char *merge_errmsg(lsm_it *it) {
  merge_it *m = (merge_it *)it;
  return m->err_child ? lsm_it_errmsg(m->err_child) : NULL;
}

static void merge_free(lsm_it *it) {
  merge_it *m = (merge_it *)it;
  int i;
  for (i = 0; i < m->n; i++) lsm_it_free(m->children[i]);
  free(m->children);
  free(m);
}

static const lsm_it_methods merge_methods = {
  merge_valid, merge_first, merge_last,  merge_seek,   merge_seek_le, merge_next,
  merge_prev,  merge_key,   merge_value, merge_status, merge_free, merge_errmsg,
};

lsm_it *lsm_it_new_merging(lsm_it **children, int n) {
  merge_it *m = malloc(sizeof *m);
  if (m == NULL) {
    int i;
    for (i = 0; i < n; i++) lsm_it_free(children[i]);
    free(children);
    return NULL;
  }
  m->base.m = &merge_methods;
  m->children = children;
  m->n = n;
  m->current = -1;
  m->direction = FORWARD;
  m->rc = LSM_OK;
  m->err_child = NULL;
  return &m->base;
}
