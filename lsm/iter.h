/*
** iter.h — the internal iterator interface: the seam between layers.
**
** Memtables, blocks, tables, levels and the merge all expose this one
** interface over INTERNAL keys (dbformat.h), so a new source plugs into the
** merging iterator without touching it.  (The public lsm_iter of lsm.h is a
** different object: it wraps a merging iterator, speaks user keys and hides
** old versions and tombstones.)
**
** Contract:
**  - A new iterator is not positioned (valid() == 0).
**  - seek(target) positions at the first entry >= target (internal order);
**    seek_le(target) at the last entry <= target.
**  - next()/prev() require valid().  Moving past either end leaves the
**    iterator invalid.
**  - key()/value() require valid(); the slices stay valid until the
**    iterator moves or is freed.
**  - An error (I/O, corruption) makes the iterator invalid and is reported
**    by status(); it is sticky.  errmsg() gives its text, naming the file
**    and offset where the error was found ("lsm: checksum mismatch in
**    000012.sst block at offset 81920"), or NULL when there is none (no
**    error, or one without details such as LSM_NOMEM); the text belongs to
**    the iterator and stays valid until it moves or is freed.  A source
**    whose errors need no text may leave the method NULL.
**  - next_key()/prev_key(), optional (NULL: composed from the others), are
**    fused steps for the per-entry path of scans: next() (prev()), then
**    return valid() and, when valid, store key() in *key.  One indirect
**    call per entry instead of three.
*/
#ifndef LSM_ITER_H
#define LSM_ITER_H

#include "coding.h"

typedef struct lsm_it lsm_it;

typedef struct lsm_it_methods {
  int (*valid)(lsm_it *it);
  void (*first)(lsm_it *it);
  void (*last)(lsm_it *it);
  void (*seek)(lsm_it *it, lsm_slice target);
  void (*seek_le)(lsm_it *it, lsm_slice target);
  void (*next)(lsm_it *it);
  void (*prev)(lsm_it *it);
  lsm_slice (*key)(lsm_it *it);
  lsm_slice (*value)(lsm_it *it);
  int (*status)(lsm_it *it);
  void (*free)(lsm_it *it);
  const char *(*errmsg)(lsm_it *it);   /* may be NULL */
  int (*next_key)(lsm_it *it, lsm_slice *key);   /* may be NULL */
  int (*prev_key)(lsm_it *it, lsm_slice *key);   /* may be NULL */
} lsm_it_methods;

/* Every iterator implementation embeds this as its first member. */
struct lsm_it {
  const lsm_it_methods *m;
};

static inline int lsm_it_valid(lsm_it *it) { return it->m->valid(it); }
static inline void lsm_it_first(lsm_it *it) { it->m->first(it); }
static inline void lsm_it_last(lsm_it *it) { it->m->last(it); }
static inline void lsm_it_seek(lsm_it *it, lsm_slice t) { it->m->seek(it, t); }
static inline void lsm_it_seek_le(lsm_it *it, lsm_slice t) { it->m->seek_le(it, t); }
static inline void lsm_it_next(lsm_it *it) { it->m->next(it); }
static inline void lsm_it_prev(lsm_it *it) { it->m->prev(it); }
static inline lsm_slice lsm_it_key(lsm_it *it) { return it->m->key(it); }
static inline lsm_slice lsm_it_value(lsm_it *it) { return it->m->value(it); }
static inline int lsm_it_status(lsm_it *it) { return it->m->status(it); }
static inline void lsm_it_free(lsm_it *it) { if (it) it->m->free(it); }
static inline const char *lsm_it_errmsg(lsm_it *it) {
  return it->m->errmsg ? it->m->errmsg(it) : NULL;
}

/* Fused steps (see the contract): valid() after the move, *key set when
** valid. */
static inline int lsm_it_next_key(lsm_it *it, lsm_slice *key) {
  if (it->m->next_key) return it->m->next_key(it, key);
  it->m->next(it);
  if (!it->m->valid(it)) return 0;
  *key = it->m->key(it);
  return 1;
}
static inline int lsm_it_prev_key(lsm_it *it, lsm_slice *key) {
  if (it->m->prev_key) return it->m->prev_key(it, key);
  it->m->prev(it);
  if (!it->m->valid(it)) return 0;
  *key = it->m->key(it);
  return 1;
}

/* An iterator over nothing that reports status rc (LSM_OK for empty). */
lsm_it *lsm_it_new_empty(int rc);

/* Merge n child iterators (internal-key order, all directions).  Takes
** ownership of the children and of the array.  Ties between equal internal
** keys (which well-formed sources never produce) go to the lower index.
** Constructors in this and other modules return NULL only when out of
** memory, after freeing whatever they were given ownership of. */
lsm_it *lsm_it_new_merging(lsm_it **children, int n);

#endif /* LSM_ITER_H */
