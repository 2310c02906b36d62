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
**  (4) A tournament tree (a "loser tree") over K = the power of two >= n
**      leaves, leaf i being child i (leaves n..K-1 are permanently out):
**      each inner node 1..K-1 holds the loser of the match played there,
**      tree[0] the overall winner, which is `current`.  Children that are
**      invalid are "out": they lose to every valid one.  The order is
**      (key, index): smallest first moving forward, largest first moving
**      backward; equal keys (never produced by well-formed sources) go to
**      the lower index forward and the higher one backward.
**  (5) runner is the smallest rank among the valid losers on the winner's
**      path to the root (UINT64_MAX if none): the runner-up's rank, since
**      every other child lost to one of those.
** A step moves only the current child and replays its path to the root:
** exactly log2(K) matches, each a comparison of two cached numbers (the
** first 8 bytes of the user keys, see rank) made without branches, so the
** data-dependent outcome costs no mispredicted jump; only equal numbers
** (or two exhausted children) take the slow comparison.  When the moved
** child's new rank is still below runner it wins every match on its path
** again, so the tree stays as it is and the replay is skipped: in a scan
** most consecutive entries come from the largest sorted run.
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
  empty_move,  empty_slice, empty_slice, empty_status, empty_free, NULL, NULL, NULL,
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
  int n;                   /* children */
  int k;                   /* leaves: the power of two >= n (>= 1) */
  lsm_slice *keys;         /* [k] invariant (3) */
  uint64_t *rank;          /* [k] user_prefix(keys[i]), complemented when
                              moving backward: smaller ranks come first */
  unsigned char *out;      /* [k] 1: invalid child, or no child */
  int *tree;               /* [k] invariant (4) */
  int *scratch;            /* [2k] winners, while building */
  uint64_t runner;         /* invariant (5) */
  int direction;
  int rc;                  /* first error of a child, sticky */
  lsm_it *err_child;       /* the child that reported rc (its errmsg) */
} merge_it;

/* The first 8 bytes of an internal key's user key as a big-endian number,
** zero-padded when shorter.  If two keys' numbers differ, they order the
** keys (a shorter key padded with zeros sorts no later than any key it is
** a prefix of, and a difference inside the 8 bytes decides); only equal
** numbers need the whole comparison.  Keys mostly differ early. */
static uint64_t short_prefix(lsm_slice ikey) {
  size_t n = ikey.n - LSM_TRAILER_SIZE, i;
  uint64_t v = 0;
  for (i = 0; i < 8; i++) v = (v << 8) | (i < n ? ikey.p[i] : 0);
  return v;
}

LSM_HOT_INLINE uint64_t user_prefix(lsm_slice ikey) {
  if (ikey.n - LSM_TRAILER_SIZE >= 8) return lsm_get_be64(ikey.p);
  return short_prefix(ikey);
}

/* before() when the cheap test cannot decide: both children out, or equal
** numbers. */
static int tie_before(const merge_it *m, int a, int b) {
  int c;
  if (m->out[a]) return a < b;
  c = lsm_ikey_cmp(m->keys[a], m->keys[b]);
  if (m->direction == FORWARD) return c < 0 || (c == 0 && a < b);
  return c > 0 || (c == 0 && a > b);
}

/* Does leaf a come before leaf b?  Written with bitwise operators so that
** compilers make flags and conditional moves of it, not jumps. */
static int before(const merge_it *m, int a, int b) {
  unsigned oa = m->out[a], ob = m->out[b];
  uint64_t ra = m->rank[a], rb = m->rank[b];
  unsigned same = oa == ob;
  if (same & (ra == rb)) return tie_before(m, a, b);
  return (int)((oa < ob) | (same & (ra < rb)));
}

/* Child i is valid at key: invariant (3). */
static inline void settle_key(merge_it *m, int i, lsm_slice key) {
  uint64_t p = user_prefix(key);
  m->keys[i] = key;
  m->rank[i] = m->direction == FORWARD ? p : ~p;
  m->out[i] = 0;
}

/* Child i became invalid: out, and its error, if any, kept. */
static void settle_out(merge_it *m, int i) {
  m->out[i] = 1;
  if (m->rc == LSM_OK) {
    m->rc = lsm_it_status(m->children[i]);
    if (m->rc) m->err_child = m->children[i];
  }
}

/* A child reports an error only by becoming invalid, so errors are looked
** for where a child may have become invalid: every child after a
** repositioning of all of them, the moved child after next/prev. */
static void settle(merge_it *m, int i) {
  lsm_it *c = m->children[i];
  if (lsm_it_valid(c)) settle_key(m, i, lsm_it_key(c));
  else settle_out(m, i);
}

/* Invariant (5), from the tree. */
static void note_runner(merge_it *m) {
  uint64_t r = UINT64_MAX;
  int node;
  for (node = (m->tree[0] + m->k) >> 1; node >= 1; node >>= 1) {
    int loser = m->tree[node];
    if (!m->out[loser] && m->rank[loser] < r) r = m->rank[loser];
  }
  m->runner = r;
}

/* After every child was repositioned: play the whole tournament. */
static void rebuild(merge_it *m, int direction) {
  int *win = m->scratch, i, node;
  m->direction = direction;
  for (i = 0; i < m->n; i++) settle(m, i);
  for (i = 0; i < m->k; i++) win[m->k + i] = i;
  for (node = m->k - 1; node >= 1; node--) {
    int a = win[2 * node], b = win[2 * node + 1];
    int a_wins = before(m, a, b);
    win[node] = a_wins ? a : b;
    m->tree[node] = a_wins ? b : a;
  }
  m->tree[0] = m->k > 1 ? win[1] : 0;
  note_runner(m);
}

/* The current child moved and is settled, and invariant (5) could not
** keep it the winner: replay its matches up to the root. */
static void replay_current(merge_it *m) {
  int winner = m->tree[0], node;
  for (node = (winner + m->k) >> 1; node >= 1; node >>= 1) {
    int loser = m->tree[node];
    int swap = before(m, loser, winner);
    m->tree[node] = swap ? winner : loser;
    winner = swap ? loser : winner;
  }
  m->tree[0] = winner;
  note_runner(m);
}

static int merge_valid(lsm_it *it) {
  merge_it *m = (merge_it *)it;
  return !m->out[m->tree[0]];
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
** (FORWARD) or before (REVERSE) key(current), then replay the tournament.
** The current child has the extreme key of them all, so it wins again. */
static void turn(merge_it *m, int direction) {
  int cur = m->tree[0], i;
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
}

/* Step the current child with the fused step (iter.h), settle it and
** restore the tree; the direction is already `forward`'s. */
LSM_HOT_INLINE void step_current(merge_it *m, int forward) {
  int w = m->tree[0];
  lsm_it *c = m->children[w];
  lsm_slice key;
  if (forward ? lsm_it_next_key(c, &key) : lsm_it_prev_key(c, &key)) {
    uint64_t p = user_prefix(key);
    uint64_t rank = forward ? p : ~p;
    m->keys[w] = key;
    m->rank[w] = rank;
    m->out[w] = 0;
    if (rank < m->runner) return;   /* (5): still the winner */
  } else {
    settle_out(m, w);
  }
  replay_current(m);
}

static void merge_next(lsm_it *it) {
  merge_it *m = (merge_it *)it;
  if (m->direction != FORWARD) turn(m, FORWARD);
  step_current(m, 1);
}

static void merge_prev(lsm_it *it) {
  merge_it *m = (merge_it *)it;
  if (m->direction != REVERSE) turn(m, REVERSE);
  step_current(m, 0);
}

static int merge_next_key(lsm_it *it, lsm_slice *key) {
  merge_it *m = (merge_it *)it;
  if (m->direction != FORWARD) turn(m, FORWARD);
  step_current(m, 1);
  if (m->out[m->tree[0]]) return 0;
  *key = m->keys[m->tree[0]];
  return 1;
}

static int merge_prev_key(lsm_it *it, lsm_slice *key) {
  merge_it *m = (merge_it *)it;
  if (m->direction != REVERSE) turn(m, REVERSE);
  step_current(m, 0);
  if (m->out[m->tree[0]]) return 0;
  *key = m->keys[m->tree[0]];
  return 1;
}

static lsm_slice merge_key(lsm_it *it) {
  merge_it *m = (merge_it *)it;
  return m->keys[m->tree[0]];
}

static lsm_slice merge_value(lsm_it *it) {
  merge_it *m = (merge_it *)it;
  return lsm_it_value(m->children[m->tree[0]]);
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
  merge_next_key, merge_prev_key,
};

/* Round up to a multiple of the alignment of every array we carve. */
static size_t carve(size_t off) {
  return (off + 15) & ~(size_t)15;
}

lsm_it *lsm_it_new_merging(lsm_it **children, int n) {
  /* One allocation: the iterator, then its arrays. */
  int k = 1, i;
  size_t keys_off, rank_off, out_off, tree_off, scratch_off, size;
  merge_it *m;
  while (k < n) k *= 2;
  keys_off = carve(sizeof(merge_it));
  rank_off = carve(keys_off + (size_t)k * sizeof(lsm_slice));
  out_off = carve(rank_off + (size_t)k * sizeof(uint64_t));
  tree_off = carve(out_off + (size_t)k);
  scratch_off = carve(tree_off + (size_t)k * sizeof(int));
  size = scratch_off + 2 * (size_t)k * sizeof(int);
  m = malloc(size);
  if (m == NULL) {
    for (i = 0; i < n; i++) lsm_it_free(children[i]);
    free(children);
    return NULL;
  }
  m->base.m = &merge_methods;
  m->children = children;
  m->n = n;
  m->k = k;
  m->keys = (lsm_slice *)((char *)m + keys_off);
  m->rank = (uint64_t *)((char *)m + rank_off);
  m->out = (unsigned char *)m + out_off;
  m->tree = (int *)((char *)m + tree_off);
  m->scratch = (int *)((char *)m + scratch_off);
  for (i = 0; i < k; i++) m->out[i] = 1;
  m->tree[0] = 0;
  m->runner = UINT64_MAX;
  m->direction = FORWARD;
  m->rc = LSM_OK;
  m->err_child = NULL;
  return &m->base;
}
