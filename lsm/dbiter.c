/*
** dbiter.c — the public iterator (lsm_iter): user keys at one sequence
** number, with old versions and tombstones hidden.
**
** It wraps a merging iterator over internal keys, where all versions of a
** user key are adjacent, newest first.  An entry is visible when its
** sequence number is <= the iterator's sequence number, or when it belongs
** to the overlay batch (sequence numbers >= LSM_SEQ_OVERLAY, above every
** committed one) and was in it when the iterator was created: operations
** added to the overlay later carry higher numbers (LSM_SEQ_OVERLAY + their
** index in the batch) and stay unseen, so a scan that writes into its own
** overlay (INSERT INTO t SELECT ... FROM t) sees the table as of its start.  The newest visible entry of a user key decides: a put is
** returned, a tombstone hides the key.
**
** Invariants (the LevelDB design):
**  (1) direction FORWARD and valid: the merged iterator is positioned at the
**      newest visible entry of the current user key; key/value read through.
**  (2) direction REVERSE and valid: the merged iterator is positioned just
**      before (in internal order) every entry of the current user key, whose
**      key and value are held in saved_key/saved_value.
**  (3) Any error from a source ends iteration: valid() becomes 0 and
**      status() reports it; a partial merge is never returned as data.
**      lsm_iter_errmsg() words it: the source's text (naming the file and
**      offset), kept in the iterator so that no other call on the db, in
**      this thread or another, can overwrite it.
*/
#include "db_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { FORWARD, REVERSE };

struct lsm_iter {
  lsm_db *db;
  lsm_it *it;              /* merging iterator over internal keys */
  uint64_t seq;
  int has_overlay;
  int at_snapshot;         /* made at a snapshot: never refreshed */
  uint64_t overlay_limit;  /* overlay entries with seq >= this are unseen */
  lsm_mem *mem, *imm;      /* references released on free */
  lsm_version *v;
  int direction;
  int valid;
  int rc;
  lsm_slice user_key;      /* FORWARD and valid: the current user key (in
                              the merged iterator's key) */
  lsm_buffer saved_key;    /* REVERSE: current key; FORWARD: key to skip */
  lsm_buffer saved_value;  /* REVERSE: current value */
  int merged_valid;        /* REVERSE and valid: the merged iterator's */
  lsm_slice merged_key;    /* validity and key (invariant 2's position) */
  lsm_buffer seek_key;
  lsm_buffer errmsg;       /* lsm_iter_errmsg() when no source words it */
};

lsm_iter *lsm_db_iter_new(lsm_db *db, lsm_it *merged, uint64_t seq, int at_snapshot,
                          int has_overlay, uint64_t overlay_ops, lsm_mem *mem,
                          lsm_mem *imm, lsm_version *v) {
  lsm_iter *it = calloc(1, sizeof *it);
  if (it == NULL) {
    lsm_it_free(merged);
    lsm_db_iter_release(db, mem, imm, v);
    return NULL;
  }
  it->db = db;
  it->it = merged;
  it->seq = seq;
  it->at_snapshot = at_snapshot;
  it->has_overlay = has_overlay;
  it->overlay_limit = LSM_SEQ_OVERLAY + overlay_ops;
  it->mem = mem;
  it->imm = imm;
  it->v = v;
  it->direction = FORWARD;
  return it;
}

lsm_db *lsm_db_iter_db(const lsm_iter *it) {
  return it->db;
}

int lsm_db_iter_rebase(lsm_iter *it, lsm_mem *mem, lsm_mem *imm, lsm_version *v,
                       uint64_t seq) {
  if (it->rc || lsm_it_status(it->it) || it->has_overlay || it->at_snapshot ||
      it->mem != mem || it->imm != imm || it->v != v || seq < it->seq) {
    return 0;
  }
  /* The same sources (held by this iterator, so not other objects at the
  ** same addresses): entries committed since are in them, and the new
  ** sequence number makes them visible.  The next move positions every
  ** source afresh. */
  it->seq = seq;
  it->direction = FORWARD;
  it->valid = 0;
  it->saved_key.len = 0;
  it->saved_value.len = 0;
  return 1;
}

void lsm_iter_free(lsm_iter *it) {
  if (it == NULL) return;
  lsm_it_free(it->it);
  lsm_db_iter_release(it->db, it->mem, it->imm, it->v);
  lsm_buffer_free(&it->saved_key);
  lsm_buffer_free(&it->saved_value);
  lsm_buffer_free(&it->seek_key);
  lsm_buffer_free(&it->errmsg);
  free(it);
}

static int visible(const lsm_iter *it, uint64_t seq) {
  if (seq < LSM_SEQ_OVERLAY) return seq <= it->seq;
  return it->has_overlay && seq < it->overlay_limit;
}

/* lsm_buffer_set for the per-entry copies (the key to skip moving forward,
** key and value moving backward): a plain copy once the buffer has grown
** to the sizes the scan meets; keys of 8 to 32 bytes (most) are copied with
** two overlapping fixed-size moves instead of a call into memcpy. */
LSM_HOT_INLINE int save(lsm_buffer *b, const void *p, size_t n) {
  const unsigned char *src = p;
  if (n > b->cap) return lsm_buffer_set(b, p, n);
  if (n >= 8 && n <= 16) {
    memcpy(b->data, src, 8);
    memcpy(b->data + n - 8, src + n - 8, 8);
  } else if (n > 16 && n <= 32) {
    memcpy(b->data, src, 16);
    memcpy(b->data + n - 16, src + n - 16, 16);
  } else if (n) {
    memcpy(b->data, src, n);
  }
  b->len = n;
  return LSM_OK;
}

static lsm_slice saved(const lsm_buffer *b) {
  return lsm_slice_make(b->data, b->len);
}

/* Invariant (3): after every move, a source error ends iteration. */
static int finish_move(lsm_iter *it) {
  int rc = it->rc ? it->rc : lsm_it_status(it->it);
  if (rc) {
    it->rc = rc;
    it->valid = 0;
  }
  return rc;
}

/* The merged iterator's validity, and its key in *key when valid. */
static int merged_at(lsm_iter *it, lsm_slice *key) {
  if (!lsm_it_valid(it->it)) return 0;
  *key = lsm_it_key(it->it);
  return 1;
}

/* Forward from the merged position (valid: at key) to the next visible
** put; entries of the user key saved_key are hidden when skipping. */
LSM_HOT_INLINE void find_next_user_entry(lsm_iter *it, int skipping, int valid,
                                         lsm_slice key) {
  lsm_ikey k;
  while (valid) {
    if (!lsm_ikey_parse(key, &k)) {
      it->rc = LSM_CORRUPT;
      it->valid = 0;
      return;
    }
    if (visible(it, k.seq)) {
      if (k.kind == LSM_KIND_DELETE) {
        if (save(&it->saved_key, k.ukey.p, k.ukey.n)) {
          it->rc = LSM_NOMEM;
          it->valid = 0;
          return;
        }
        skipping = 1;
      } else if (!skipping || lsm_slice_cmp(k.ukey, saved(&it->saved_key)) > 0) {
        it->valid = 1;
        it->user_key = k.ukey;
        it->saved_key.len = 0;
        return;
      }
    }
    valid = lsm_it_next_key(it->it, &key);
  }
  it->saved_key.len = 0;
  it->valid = 0;
}

/* Backward from the merged position (valid: at key): collect the newest
** visible entry of the previous user key (invariant 2).  Where the merged
** iterator stops is kept in merged_valid/merged_key for the next step. */
LSM_HOT_INLINE void find_prev_user_entry(lsm_iter *it, int valid, lsm_slice key) {
  int kind = LSM_KIND_DELETE;
  lsm_ikey k;
  while (valid) {
    if (!lsm_ikey_parse(key, &k)) {
      it->rc = LSM_CORRUPT;
      it->valid = 0;
      return;
    }
    if (visible(it, k.seq)) {
      if (kind != LSM_KIND_DELETE && lsm_slice_cmp(k.ukey, saved(&it->saved_key)) < 0) {
        break;   /* passed every entry of the saved key */
      }
      kind = k.kind;
      if (kind == LSM_KIND_DELETE) {
        it->saved_key.len = 0;
        it->saved_value.len = 0;
      } else {
        lsm_slice v = lsm_it_value(it->it);
        if (save(&it->saved_key, k.ukey.p, k.ukey.n) ||
            save(&it->saved_value, v.p, v.n)) {
          it->rc = LSM_NOMEM;
          it->valid = 0;
          return;
        }
      }
    }
    valid = lsm_it_prev_key(it->it, &key);
  }
  it->merged_valid = valid;
  it->merged_key = key;
  if (kind == LSM_KIND_DELETE) {
    it->valid = 0;
    it->saved_key.len = 0;
    it->saved_value.len = 0;
    it->direction = FORWARD;
  } else {
    it->valid = 1;
  }
}

int lsm_iter_first(lsm_iter *it) {
  lsm_slice key;
  if (it->rc) return it->rc;
  if (it->v) lsm_db_charge_l0_read(it->db, it->v);
  it->direction = FORWARD;
  it->saved_value.len = 0;
  lsm_it_first(it->it);
  it->valid = 0;
  if (merged_at(it, &key)) find_next_user_entry(it, 0, 1, key);
  return finish_move(it);
}

int lsm_iter_last(lsm_iter *it) {
  lsm_slice key;
  int valid;
  if (it->rc) return it->rc;
  if (it->v) lsm_db_charge_l0_read(it->db, it->v);
  it->direction = REVERSE;
  it->saved_value.len = 0;
  lsm_it_last(it->it);
  valid = merged_at(it, &key);
  find_prev_user_entry(it, valid, key);
  return finish_move(it);
}

int lsm_iter_seek(lsm_iter *it, const void *key, size_t key_len) {
  /* With an overlay, its sequence numbers are above it->seq: seek above
  ** every version of the key. */
  uint64_t seq = it->has_overlay ? LSM_SEQ_MAX : it->seq;
  lsm_slice at;
  if (it->rc) return it->rc;
  if (it->v) lsm_db_charge_l0_read(it->db, it->v);
  it->direction = FORWARD;
  it->saved_value.len = 0;
  it->seek_key.len = 0;
  if (lsm_ikey_append(&it->seek_key, lsm_slice_make(key, key_len), seq, LSM_KIND_PUT)) {
    return it->rc = LSM_NOMEM;
  }
  lsm_it_seek(it->it, saved(&it->seek_key));
  it->valid = 0;
  if (merged_at(it, &at)) find_next_user_entry(it, 0, 1, at);
  return finish_move(it);
}

int lsm_iter_seek_le(lsm_iter *it, const void *key, size_t key_len) {
  lsm_slice at;
  int valid;
  if (it->rc) return it->rc;
  if (it->v) lsm_db_charge_l0_read(it->db, it->v);
  it->direction = REVERSE;
  it->seek_key.len = 0;
  /* (key, 0, DELETE) sorts after every version of key. */
  if (lsm_ikey_append(&it->seek_key, lsm_slice_make(key, key_len), 0, LSM_KIND_DELETE)) {
    return it->rc = LSM_NOMEM;
  }
  lsm_it_seek_le(it->it, saved(&it->seek_key));
  valid = merged_at(it, &at);
  find_prev_user_entry(it, valid, at);
  return finish_move(it);
}

int lsm_iter_next(lsm_iter *it) {
  lsm_slice key;
  int valid;
  if (it->rc || !it->valid) return it->rc;
  if (it->direction == REVERSE) {
    /* Invariant (2) -> (1): step onto the entries of the saved key. */
    it->direction = FORWARD;
    if (lsm_it_valid(it->it)) lsm_it_next(it->it);
    else lsm_it_first(it->it);
    if (!merged_at(it, &key)) {
      it->valid = 0;
      it->saved_key.len = 0;
      return finish_move(it);
    }
    valid = 1;
  } else {
    if (save(&it->saved_key, it->user_key.p, it->user_key.n)) return it->rc = LSM_NOMEM;
    valid = lsm_it_next_key(it->it, &key);
  }
  /* Skip the rest of the current key's versions. */
  find_next_user_entry(it, 1, valid, key);
  return finish_move(it);
}

int lsm_iter_prev(lsm_iter *it) {
  lsm_slice key;
  int valid;
  if (it->rc || !it->valid) return it->rc;
  if (it->direction == FORWARD) {
    /* Invariant (1) -> (2): back up before every entry of the current key. */
    if (save(&it->saved_key, it->user_key.p, it->user_key.n)) return it->rc = LSM_NOMEM;
    for (;;) {
      if (!lsm_it_prev_key(it->it, &key)) {
        it->valid = 0;
        it->saved_key.len = 0;
        it->saved_value.len = 0;
        return finish_move(it);
      }
      if (lsm_slice_cmp(lsm_ikey_user(key), saved(&it->saved_key)) < 0) break;
    }
    it->direction = REVERSE;
    valid = 1;
  } else {
    valid = it->merged_valid;
    key = it->merged_key;
  }
  find_prev_user_entry(it, valid, key);
  return finish_move(it);
}

int lsm_iter_valid(const lsm_iter *it) {
  return it->valid;
}

const void *lsm_iter_key(const lsm_iter *it, size_t *key_len) {
  if (it->direction == REVERSE) {
    *key_len = it->saved_key.len;
    return it->saved_key.data ? (const void *)it->saved_key.data : "";
  } else {
    *key_len = it->user_key.n;
    return it->user_key.p;
  }
}

const void *lsm_iter_value(const lsm_iter *it, size_t *val_len) {
  if (it->direction == REVERSE) {
    *val_len = it->saved_value.len;
    return it->saved_value.data;
  } else {
    lsm_slice v = lsm_it_value(it->it);
    *val_len = v.n;
    return v.p;
  }
}

int lsm_iter_status(const lsm_iter *it) {
  return it->rc ? it->rc : lsm_it_status(it->it);
}

const char *lsm_iter_errmsg(lsm_iter *it) {
  int rc = lsm_iter_status(it);
  const char *m;
  char tmp[512];
  if (rc == LSM_OK) return "";
  /* A source's error (the merged iterator's status latched in rc), or one
  ** of this file's own: a malformed internal key, no memory. */
  m = lsm_it_status(it->it) == rc ? lsm_it_errmsg(it->it) : NULL;
  if (m && m[0]) return m;
  if (rc == LSM_NOMEM) return "lsm: out of memory";
  snprintf(tmp, sizeof tmp, "lsm: %s while iterating over %s",
           rc == LSM_CORRUPT ? "malformed entry" : "error", it->db->dir);
  if (lsm_buffer_set(&it->errmsg, tmp, strlen(tmp) + 1) != LSM_OK) return "lsm: out of memory";
  return (const char *)it->errmsg.data;
}
