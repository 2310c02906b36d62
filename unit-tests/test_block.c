/*
** test_block.c — unit tests of lsm/block.c: the prefix-compressed block
** builder, block handles and the block iterator (all directions, seeks), and
** the reader's defences against malformed contents.
**
** Randomised cases print their seed; set LSM_TEST_SEED to replay one.
*/
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "block.h"
#include "dbformat.h"
#include "rand_support.h"

/* ---- helpers ---- */

static uint64_t rng_state;

static uint64_t rnd(void) { return lsm_test_next(&rng_state); }

/* Internal key "k%06d" with sequence number seq, kind PUT. */
static void make_ikey(lsm_buffer *b, int i, uint64_t seq) {
  char tmp[32];
  int n = snprintf(tmp, sizeof tmp, "k%06d", i);
  b->len = 0;
  ck_assert_int_eq(lsm_ikey_append(b, lsm_slice_make(tmp, (size_t)n), seq,
                                   LSM_KIND_PUT), LSM_OK);
}

static lsm_slice buf_slice(const lsm_buffer *b) {
  return lsm_slice_make(b->data, b->len);
}

typedef struct entry {
  lsm_buffer key;
  lsm_buffer val;
} entry;

/* n entries: user keys k000000, k000002, ... (even numbers only, so odd
** numbers fall between keys), each with `versions` sequence numbers
** (descending within a user key as the internal order requires). */
static entry *make_entries(int n_keys, int versions, size_t *n_out) {
  entry *e = calloc((size_t)n_keys * (size_t)versions, sizeof(*e));
  size_t n = 0;
  int i, v;
  ck_assert_ptr_nonnull(e);
  for (i = 0; i < n_keys; i++) {
    for (v = versions; v >= 1; v--) {
      char val[64];
      int vn = snprintf(val, sizeof val, "value-%d-%d", i, v);
      make_ikey(&e[n].key, 2 * i, (uint64_t)(100 + v));
      /* vary value lengths, including empty ones */
      ck_assert_int_eq(lsm_buffer_set(&e[n].val, val, (size_t)(i % 7 == 0 ? 0 : vn)),
                       LSM_OK);
      n++;
    }
  }
  *n_out = n;
  return e;
}

static void free_entries(entry *e, size_t n) {
  size_t i;
  for (i = 0; i < n; i++) {
    lsm_buffer_free(&e[i].key);
    lsm_buffer_free(&e[i].val);
  }
  free(e);
}

/* Build a block of e[0..n) and return a malloc()ed exact-size copy of its
** contents (exact size so ASan catches any read past the end). */
static unsigned char *build_block(const entry *e, size_t n, int interval,
                                  size_t *len) {
  lsm_block_builder b;
  lsm_slice out;
  unsigned char *copy;
  size_t i;
  lsm_block_builder_init(&b, interval);
  ck_assert(lsm_block_builder_empty(&b));
  for (i = 0; i < n; i++)
    ck_assert_int_eq(lsm_block_builder_add(&b, buf_slice(&e[i].key),
                                           buf_slice(&e[i].val)), LSM_OK);
  ck_assert_int_eq(lsm_block_builder_finish(&b, &out), LSM_OK);
  ck_assert_uint_eq(out.n, lsm_block_builder_size(&b));
  copy = malloc(out.n ? out.n : 1);
  ck_assert_ptr_nonnull(copy);
  memcpy(copy, out.p, out.n);
  *len = out.n;
  lsm_block_builder_free(&b);
  return copy;
}

static void assert_at(lsm_it *it, const entry *e) {
  ck_assert(lsm_it_valid(it));
  ck_assert_int_eq(lsm_slice_cmp(lsm_it_key(it), buf_slice(&e->key)), 0);
  ck_assert_int_eq(lsm_slice_cmp(lsm_it_value(it), buf_slice(&e->val)), 0);
}

/* A whole pass forward from first() and one backward from last() each
** visit e[0..n) in order, and each ends not valid. */
static void assert_both_directions(lsm_it *it, const entry *e, size_t n) {
  size_t i;
  lsm_it_first(it);
  for (i = 0; i < n; i++) {
    assert_at(it, &e[i]);
    lsm_it_next(it);
  }
  ck_assert(!lsm_it_valid(it));
  lsm_it_last(it);
  for (i = n; i-- > 0;) {
    assert_at(it, &e[i]);
    lsm_it_prev(it);
  }
  ck_assert(!lsm_it_valid(it));
}

/* ---- tests ---- */

START_TEST(block_round_trip_forward_and_backward) {
  static const int intervals[] = {1, 2, 16, 1000};
  size_t n, len, i, k;
  entry *e = make_entries(1000, 3, &n);
  for (k = 0; k < sizeof intervals / sizeof intervals[0]; k++) {
    unsigned char *blk = build_block(e, n, intervals[k], &len);
    lsm_it *it = lsm_block_iter_new(lsm_slice_make(blk, len), free, blk);
    ck_assert_ptr_nonnull(it);
    ck_assert(!lsm_it_valid(it));
    assert_both_directions(it, e, n);
    /* direction changes in the middle */
    lsm_it_first(it);
    for (i = 0; i < 40; i++) lsm_it_next(it);
    assert_at(it, &e[40]);
    lsm_it_prev(it);
    lsm_it_prev(it);
    assert_at(it, &e[38]);
    lsm_it_next(it);
    assert_at(it, &e[39]);
    ck_assert_int_eq(lsm_it_status(it), LSM_OK);
    lsm_it_free(it);
  }
  free_entries(e, n);
}
END_TEST

/* last (which records the last restart group for the backward steps that
** follow) then steps both ways, for groups of every size, including one
** too large to record; seek_le past the end takes the same path. */
START_TEST(block_last_then_steps_both_ways_inside_the_recorded_group) {
  static const int intervals[] = {1, 2, 3, 16, 300};
  size_t n, len, k;
  entry *e = make_entries(300, 1, &n);
  for (k = 0; k < sizeof intervals / sizeof intervals[0]; k++) {
    unsigned char *blk = build_block(e, n, intervals[k], &len);
    lsm_it *it = lsm_block_iter_new(lsm_slice_make(blk, len), free, blk);
    lsm_buffer past = {0};
    ck_assert_ptr_nonnull(it);
    lsm_it_last(it);
    assert_at(it, &e[n - 1]);
    lsm_it_prev(it);
    lsm_it_prev(it);
    assert_at(it, &e[n - 3]);
    lsm_it_next(it);
    assert_at(it, &e[n - 2]);
    lsm_it_next(it);
    assert_at(it, &e[n - 1]);
    lsm_it_prev(it);
    assert_at(it, &e[n - 2]);
    lsm_it_next(it);
    lsm_it_next(it);
    ck_assert(!lsm_it_valid(it));
    make_ikey(&past, 2 * 300, 1);               /* after every key */
    lsm_it_seek_le(it, buf_slice(&past));
    assert_at(it, &e[n - 1]);
    lsm_it_prev(it);
    assert_at(it, &e[n - 2]);
    lsm_it_first(it);
    lsm_it_last(it);
    lsm_it_prev(it);
    assert_at(it, &e[n - 2]);
    ck_assert_int_eq(lsm_it_status(it), LSM_OK);
    lsm_buffer_free(&past);
    lsm_it_free(it);
  }
  free_entries(e, n);
}
END_TEST

START_TEST(block_seek_and_seek_le_at_and_between_every_key) {
  size_t n, len, i;
  lsm_buffer t = {0};
  entry *e = make_entries(500, 2, &n);
  unsigned char *blk = build_block(e, n, 16, &len);
  lsm_it *it = lsm_block_iter_new(lsm_slice_make(blk, len), free, blk);
  ck_assert_ptr_nonnull(it);

  /* exactly at every key */
  for (i = 0; i < n; i++) {
    lsm_it_seek(it, buf_slice(&e[i].key));
    assert_at(it, &e[i]);
    lsm_it_seek_le(it, buf_slice(&e[i].key));
    assert_at(it, &e[i]);
  }
  for (i = 0; i < 500; i++) {
    /* user key 2i at a sequence number newer than every version: seek lands
    ** on the newest version, seek_le on the previous user key's oldest. */
    make_ikey(&t, (int)(2 * i), 1000);
    lsm_it_seek(it, buf_slice(&t));
    assert_at(it, &e[2 * i]);
    lsm_it_seek_le(it, buf_slice(&t));
    if (i == 0)
      ck_assert(!lsm_it_valid(it));
    else
      assert_at(it, &e[2 * i - 1]);
    /* between the two versions (seq 101 < 102 < ... ) */
    make_ikey(&t, (int)(2 * i), 50);  /* older than every version */
    lsm_it_seek(it, buf_slice(&t));
    if (i + 1 < 500)
      assert_at(it, &e[2 * i + 2]);
    else
      ck_assert(!lsm_it_valid(it));
    lsm_it_seek_le(it, buf_slice(&t));
    assert_at(it, &e[2 * i + 1]);
    /* odd user keys lie strictly between stored user keys */
    make_ikey(&t, (int)(2 * i + 1), 101);
    lsm_it_seek(it, buf_slice(&t));
    if (i + 1 < 500)
      assert_at(it, &e[2 * i + 2]);
    else
      ck_assert(!lsm_it_valid(it));
    lsm_it_seek_le(it, buf_slice(&t));
    assert_at(it, &e[2 * i + 1]);
  }
  /* a key before everything */
  t.len = 0;
  ck_assert_int_eq(lsm_ikey_append(&t, lsm_slice_make("a", 1), 5, LSM_KIND_PUT), LSM_OK);
  lsm_it_seek(it, buf_slice(&t));
  assert_at(it, &e[0]);
  lsm_it_seek_le(it, buf_slice(&t));
  ck_assert(!lsm_it_valid(it));
  /* seek then walk both ways */
  lsm_it_seek(it, buf_slice(&e[101].key));
  lsm_it_prev(it);
  assert_at(it, &e[100]);
  lsm_it_next(it);
  lsm_it_next(it);
  assert_at(it, &e[102]);
  ck_assert_int_eq(lsm_it_status(it), LSM_OK);
  lsm_it_free(it);
  lsm_buffer_free(&t);
  free_entries(e, n);
}
END_TEST

START_TEST(block_empty_block_iterates_nothing) {
  size_t len;
  lsm_buffer t = {0};
  unsigned char *blk = build_block(NULL, 0, 16, &len);
  lsm_it *it = lsm_block_iter_new(lsm_slice_make(blk, len), free, blk);
  ck_assert_uint_eq(len, 8);
  lsm_it_first(it);
  ck_assert(!lsm_it_valid(it));
  lsm_it_last(it);
  ck_assert(!lsm_it_valid(it));
  make_ikey(&t, 1, 1);
  lsm_it_seek(it, buf_slice(&t));
  ck_assert(!lsm_it_valid(it));
  lsm_it_seek_le(it, buf_slice(&t));
  ck_assert(!lsm_it_valid(it));
  ck_assert_int_eq(lsm_it_status(it), LSM_OK);
  lsm_it_free(it);
  lsm_buffer_free(&t);
}
END_TEST

START_TEST(block_single_entry_with_large_key_and_value) {
  size_t len;
  entry e[1];
  unsigned char *blk;
  lsm_it *it;
  memset(e, 0, sizeof e);
  ck_assert_int_eq(lsm_buffer_reserve(&e[0].key, 1 << 20), LSM_OK);
  memset(e[0].key.data, 'x', 1 << 20);
  e[0].key.len = 1 << 20;  /* last 8 bytes serve as the trailer */
  ck_assert_int_eq(lsm_buffer_reserve(&e[0].val, 3 << 20), LSM_OK);
  memset(e[0].val.data, 'v', 3 << 20);
  e[0].val.len = 3 << 20;
  blk = build_block(e, 1, 16, &len);
  it = lsm_block_iter_new(lsm_slice_make(blk, len), free, blk);
  lsm_it_last(it);
  assert_at(it, &e[0]);
  lsm_it_seek(it, buf_slice(&e[0].key));
  assert_at(it, &e[0]);
  lsm_it_free(it);
  lsm_buffer_free(&e[0].key);
  lsm_buffer_free(&e[0].val);
}
END_TEST

START_TEST(block_builder_rejects_out_of_order_and_short_keys) {
  lsm_block_builder b;
  lsm_buffer k1 = {0}, k2 = {0};
  lsm_slice v = lsm_slice_make("v", 1), out;
  lsm_block_builder_init(&b, 16);
  /* a key shorter than a trailer is not an internal key */
  ck_assert_int_eq(lsm_block_builder_add(&b, lsm_slice_make("abc", 3), v), LSM_MISUSE);
  /* the error is latched */
  make_ikey(&k1, 1, 5);
  ck_assert_int_eq(lsm_block_builder_add(&b, buf_slice(&k1), v), LSM_MISUSE);
  ck_assert_int_eq(lsm_block_builder_finish(&b, &out), LSM_MISUSE);
  lsm_block_builder_reset(&b);
  ck_assert_int_eq(lsm_block_builder_add(&b, buf_slice(&k1), v), LSM_OK);
  /* same key again, and an older version first, are both out of order */
  ck_assert_int_eq(lsm_block_builder_add(&b, buf_slice(&k1), v), LSM_MISUSE);
  lsm_block_builder_reset(&b);
  make_ikey(&k2, 1, 6);  /* newer version sorts before k1 */
  ck_assert_int_eq(lsm_block_builder_add(&b, buf_slice(&k1), v), LSM_OK);
  ck_assert_int_eq(lsm_block_builder_add(&b, buf_slice(&k2), v), LSM_MISUSE);
  lsm_block_builder_free(&b);
  lsm_buffer_free(&k1);
  lsm_buffer_free(&k2);
}
END_TEST

START_TEST(block_builder_reset_builds_a_fresh_block) {
  size_t n, i;
  lsm_block_builder b;
  lsm_slice out;
  lsm_it *it;
  entry *e = make_entries(100, 1, &n);
  lsm_block_builder_init(&b, 4);
  for (i = 0; i < 50; i++)
    ck_assert_int_eq(lsm_block_builder_add(&b, buf_slice(&e[i].key), buf_slice(&e[i].val)), LSM_OK);
  ck_assert_int_eq(lsm_block_builder_finish(&b, &out), LSM_OK);
  lsm_block_builder_reset(&b);
  ck_assert(lsm_block_builder_empty(&b));
  for (i = 50; i < 100; i++)
    ck_assert_int_eq(lsm_block_builder_add(&b, buf_slice(&e[i].key), buf_slice(&e[i].val)), LSM_OK);
  ck_assert_int_eq(lsm_block_builder_finish(&b, &out), LSM_OK);
  it = lsm_block_iter_new(out, NULL, NULL);
  lsm_it_first(it);
  for (i = 50; i < 100; i++) {
    assert_at(it, &e[i]);
    lsm_it_next(it);
  }
  ck_assert(!lsm_it_valid(it));
  lsm_it_free(it);
  lsm_block_builder_free(&b);
  free_entries(e, n);
}
END_TEST

static int iter_status_of(const unsigned char *blk, size_t len) {
  unsigned char *copy = malloc(len ? len : 1);
  lsm_it *it;
  int rc;
  memcpy(copy, blk, len);
  it = lsm_block_iter_new(lsm_slice_make(copy, len), free, copy);
  lsm_it_first(it);
  while (lsm_it_valid(it)) lsm_it_next(it);
  rc = lsm_it_status(it);
  ck_assert(!lsm_it_valid(it));
  lsm_it_free(it);
  return rc;
}

START_TEST(block_corrupt_restart_array_is_detected) {
  size_t n, len;
  entry *e = make_entries(100, 1, &n);
  unsigned char *blk = build_block(e, n, 16, &len);
  unsigned char *bad = malloc(len);
  uint32_t n_restarts = lsm_get_u32(blk + len - 4);
  size_t rs = len - 4 - 4 * (size_t)n_restarts;
  ck_assert_uint_eq(n_restarts, (100 + 15) / 16);
  ck_assert_int_eq(iter_status_of(blk, len), LSM_OK);

  /* restart count too large for the block */
  memcpy(bad, blk, len);
  lsm_put_u32(bad + len - 4, 0x7fffffff);
  ck_assert_int_eq(iter_status_of(bad, len), LSM_CORRUPT);
  /* zero restarts */
  lsm_put_u32(bad + len - 4, 0);
  ck_assert_int_eq(iter_status_of(bad, len), LSM_CORRUPT);
  /* a restart offset pointing into the restart array */
  memcpy(bad, blk, len);
  lsm_put_u32(bad + rs + 4, (uint32_t)rs);
  ck_assert_int_eq(iter_status_of(bad, len), LSM_CORRUPT);
  /* restart offsets out of order */
  memcpy(bad, blk, len);
  lsm_put_u32(bad + rs + 8, lsm_get_u32(blk + rs + 4) - 1);
  ck_assert_int_eq(iter_status_of(bad, len), LSM_CORRUPT);
  /* first restart not at offset 0 */
  memcpy(bad, blk, len);
  lsm_put_u32(bad + rs, 1);
  ck_assert_int_eq(iter_status_of(bad, len), LSM_CORRUPT);
  /* too short to hold a restart count */
  ck_assert_int_eq(iter_status_of(blk, 3), LSM_CORRUPT);
  ck_assert_int_eq(iter_status_of(blk, 0), LSM_CORRUPT);
  free(bad);
  free(blk);
  free_entries(e, n);
}
END_TEST

START_TEST(block_corrupt_restart_array_iterator_is_empty_and_sticky) {
  size_t n, len;
  entry *e = make_entries(20, 1, &n);
  unsigned char *blk = build_block(e, n, 16, &len);
  lsm_it *it;
  lsm_put_u32(blk + len - 4, 1000);
  it = lsm_block_iter_new(lsm_slice_make(blk, len), free, blk);
  ck_assert_int_eq(lsm_it_status(it), LSM_CORRUPT);
  lsm_it_first(it);
  ck_assert(!lsm_it_valid(it));
  lsm_it_last(it);
  ck_assert(!lsm_it_valid(it));
  lsm_it_seek(it, buf_slice(&e[3].key));
  ck_assert(!lsm_it_valid(it));
  lsm_it_seek_le(it, buf_slice(&e[3].key));
  ck_assert(!lsm_it_valid(it));
  ck_assert_int_eq(lsm_it_status(it), LSM_CORRUPT);
  lsm_it_free(it);
  free_entries(e, n);
}
END_TEST

START_TEST(block_corrupt_entry_lengths_are_detected) {
  size_t n, len;
  entry *e = make_entries(3, 1, &n);
  unsigned char *blk = build_block(e, n, 16, &len);
  unsigned char *bad = malloc(len);
  /* entry 0 is at offset 0: shared = 0, unshared, value_len */
  memcpy(bad, blk, len);
  bad[1] = 0x7f;  /* key delta runs past the entry region */
  ck_assert_int_eq(iter_status_of(bad, len), LSM_CORRUPT);
  memcpy(bad, blk, len);
  bad[2] = 0x7f;  /* value runs past the entry region */
  ck_assert_int_eq(iter_status_of(bad, len), LSM_CORRUPT);
  memcpy(bad, blk, len);
  bad[0] = 3;     /* shared bytes at a restart point */
  ck_assert_int_eq(iter_status_of(bad, len), LSM_CORRUPT);
  memcpy(bad, blk, len);
  bad[0] = 0xff;  /* varint that never ends inside the region */
  bad[1] = 0xff;
  bad[2] = 0xff;
  ck_assert_int_eq(iter_status_of(bad, len), LSM_CORRUPT);
  memcpy(bad, blk, len);
  bad[1] = 2;     /* key shorter than a trailer */
  bad[2] = 0;
  ck_assert_int_eq(iter_status_of(bad, len), LSM_CORRUPT);
  free(bad);
  free(blk);
  free_entries(e, n);
}
END_TEST

/* Offsets of the entries of a block whose headers are one-byte varints
** (the blocks of make_entries); returns how many, at most max. */
static size_t entry_offsets(const unsigned char *blk, size_t len, size_t *off, size_t max) {
  uint32_t n_restarts = lsm_get_u32(blk + len - 4);
  size_t end = len - 4 - 4 * (size_t)n_restarts, at = 0, n = 0;
  while (at < end && n < max) {
    ck_assert(blk[at] < 0x80 && blk[at + 1] < 0x80 && blk[at + 2] < 0x80);
    off[n++] = at;
    at += 3 + (size_t)blk[at + 1] + blk[at + 2];
  }
  ck_assert_uint_eq(at, end);
  return n;
}

/* Damage to an entry inside a restart group (reached by a step from the
** entry before it, the common short-entry path) is reported as it is at a
** restart point. */
START_TEST(block_corrupt_entry_inside_a_group_is_detected) {
  size_t n, len, off[64], n_off, last_roomy, i;
  entry *e = make_entries(20, 1, &n);
  unsigned char *blk = build_block(e, n, 16, &len);
  unsigned char *bad = malloc(len);
  uint32_t n_restarts = lsm_get_u32(blk + len - 4);
  size_t end = len - 4 - 4 * (size_t)n_restarts;
  n_off = entry_offsets(blk, len, off, 64);
  ck_assert_uint_eq(n_off, n);
  ck_assert_int_eq(iter_status_of(blk, len), LSM_OK);
  /* entry 1 shares "k00000" (6 bytes) with entry 0's 15-byte key */
  ck_assert_uint_eq(blk[off[1]], 6);
  memcpy(bad, blk, len);
  bad[off[1]] = 16;               /* shares more than the previous key has */
  ck_assert_int_eq(iter_status_of(bad, len), LSM_CORRUPT);
  memcpy(bad, blk, len);
  bad[off[1] + 1] = 1;            /* key shorter than a trailer */
  ck_assert_int_eq(iter_status_of(bad, len), LSM_CORRUPT);
  memcpy(bad, blk, len);
  bad[off[1] + 2] = 0x81;         /* a two-byte value length: 0x81 0x..  */
  ck_assert_int_eq(iter_status_of(bad, len), LSM_CORRUPT);
  /* the last entry in a group with a long way to the region's end: its
  ** value announced past the end */
  last_roomy = 1;
  for (i = 1; i < n_off; i++)
    if (i % 16 != 0 && end - off[i] >= 40) last_roomy = i;
  memcpy(bad, blk, len);
  bad[off[last_roomy] + 2] = (unsigned char)(end - off[last_roomy] - 3 - bad[off[last_roomy] + 1] + 1);
  ck_assert(bad[off[last_roomy] + 2] < 0x80);
  ck_assert_int_eq(iter_status_of(bad, len), LSM_CORRUPT);
  free(bad);
  free(blk);
  free_entries(e, n);
}
END_TEST

/* Keys and values of every size class the steps tell apart (short and long
** key deltas, one- and two-byte length varints, keys longer than the
** iterator's inline key space, entries close to the end of the block)
** read back the same both ways and after a change of direction. */
START_TEST(block_entries_of_mixed_sizes_round_trip) {
  static const int intervals[] = {1, 4, 16};
  size_t n = 300, i, k, len;
  entry *e = calloc(n, sizeof(*e));
  ck_assert_ptr_nonnull(e);
  rng_state = lsm_test_seed("test_block");
  for (i = 0; i < n; i++) {
    /* a shared 3-byte stem, the index, then 0..150 filler bytes */
    char key[256], val[400];
    size_t extra = (size_t)(rnd() % 4 == 0 ? rnd() % 151 : rnd() % 12);
    size_t vlen = (size_t)(rnd() % 3 == 0 ? 120 + rnd() % 200 : rnd() % 40);
    int kn = snprintf(key, sizeof key, "key%06zu", i);
    memset(key + kn, 'a' + (int)(i % 26), extra);
    memset(val, 'v', vlen);
    if (vlen) val[0] = (char)i;
    ck_assert_int_eq(lsm_ikey_append(&e[i].key, lsm_slice_make(key, (size_t)kn + extra), 7,
                                     LSM_KIND_PUT), LSM_OK);
    ck_assert_int_eq(lsm_buffer_set(&e[i].val, val, vlen), LSM_OK);
  }
  for (k = 0; k < sizeof intervals / sizeof intervals[0]; k++) {
    unsigned char *blk = build_block(e, n, intervals[k], &len);
    lsm_it *it = lsm_block_iter_new(lsm_slice_make(blk, len), free, blk);
    ck_assert_ptr_nonnull(it);
    assert_both_directions(it, e, n);
    lsm_it_seek(it, buf_slice(&e[n / 2].key));
    lsm_it_prev(it);
    assert_at(it, &e[n / 2 - 1]);
    lsm_it_next(it);
    lsm_it_next(it);
    assert_at(it, &e[n / 2 + 1]);
    ck_assert_int_eq(lsm_it_status(it), LSM_OK);
    lsm_it_free(it);
  }
  free_entries(e, n);
}
END_TEST

/* Random byte damage anywhere in a block must give either valid entries or
** LSM_CORRUPT, never an out-of-bounds read (ASan watches). */
START_TEST(block_random_damage_never_reads_out_of_bounds) {
  size_t n, len, round;
  entry *e = make_entries(200, 2, &n);
  unsigned char *blk = build_block(e, n, 8, &len);
  rng_state = lsm_test_seed("test_block");
  for (round = 0; round < 2000; round++) {
    unsigned char *bad = malloc(len);
    lsm_it *it;
    int flips = 1 + (int)(rnd() % 4), f, steps;
    memcpy(bad, blk, len);
    for (f = 0; f < flips; f++) bad[rnd() % len] ^= (unsigned char)(1 + rnd() % 255);
    it = lsm_block_iter_new(lsm_slice_make(bad, len), free, bad);
    lsm_it_first(it);
    for (steps = 0; lsm_it_valid(it) && steps < 10000; steps++) {
      (void)lsm_it_key(it);
      lsm_it_next(it);
    }
    lsm_it_last(it);
    for (steps = 0; lsm_it_valid(it) && steps < 10000; steps++) lsm_it_prev(it);
    lsm_it_seek(it, buf_slice(&e[rnd() % n].key));
    lsm_it_seek_le(it, buf_slice(&e[rnd() % n].key));
    ck_assert(lsm_it_status(it) == LSM_OK || lsm_it_status(it) == LSM_CORRUPT);
    lsm_it_free(it);
  }
  free(blk);
  free_entries(e, n);
}
END_TEST

/* One embedded iterator re-pointed at blocks of different restart
** intervals (groups longer than the backward record included) and keys
** longer than its inline key space; random walks mixing steps both ways
** and seeks must match the entries. */
START_TEST(block_embedded_iterator_reused_across_blocks_walks_both_ways) {
  static const int intervals[] = {1, 3, 16, 300, 2};
  lsm_block_iter it;
  size_t k;
  rng_state = lsm_test_seed("test_block");
  lsm_block_iter_init(&it);
  for (k = 0; k < sizeof intervals / sizeof intervals[0]; k++) {
    size_t n = 400 + rnd() % 300, len, i;
    long pos = -1;
    int step;
    unsigned char *blk;
    entry *e = calloc(n, sizeof(*e));
    ck_assert_ptr_nonnull(e);
    for (i = 0; i < n; i++) {
      /* keys of 10 to 130 bytes sharing long prefixes */
      char tmp[160];
      int kn = snprintf(tmp, sizeof tmp, "key%06zu", i);
      size_t pad = (size_t)(rnd() % 120);
      memset(tmp + kn, 'p', pad);
      ck_assert_int_eq(lsm_ikey_append(&e[i].key, lsm_slice_make(tmp, (size_t)kn + pad), 7,
                                       LSM_KIND_PUT), LSM_OK);
      ck_assert_int_eq(lsm_buffer_set(&e[i].val, tmp, (size_t)kn), LSM_OK);
    }
    blk = build_block(e, n, intervals[k], &len);
    lsm_block_iter_reset(&it, lsm_slice_make(blk, len), 0, free, blk);
    for (step = 0; step < 3000; step++) {
      int op = (int)(rnd() % 16);
      if (op == 0) {
        lsm_it_first(&it.base);
        pos = 0;
      } else if (op == 1) {
        lsm_it_last(&it.base);
        pos = (long)n - 1;
      } else if (op == 2) {
        pos = (long)(rnd() % n);
        lsm_it_seek(&it.base, buf_slice(&e[pos].key));
      } else if (pos >= 0 && pos < (long)n && op < 6) {
        lsm_it_next(&it.base);
        pos++;
      } else if (pos >= 0 && pos < (long)n) {
        lsm_it_prev(&it.base);
        pos--;
      } else {
        continue;
      }
      if (pos < 0 || pos >= (long)n) {
        ck_assert(!lsm_block_iter_valid(&it));
      } else {
        assert_at(&it.base, &e[pos]);
      }
    }
    ck_assert_int_eq(lsm_it_status(&it.base), LSM_OK);
    free_entries(e, n);
  }
  lsm_block_iter_clear(&it);
}
END_TEST

START_TEST(block_handle_round_trip_and_truncation) {
  lsm_buffer b = {0};
  lsm_block_handle h = {123456789012345ULL, 81920}, g;
  const unsigned char *end;
  size_t cut;
  ck_assert_int_eq(lsm_block_handle_append(&b, h), LSM_OK);
  end = lsm_block_handle_decode(b.data, b.data + b.len, &g);
  ck_assert_ptr_eq(end, b.data + b.len);
  ck_assert_uint_eq(g.offset, h.offset);
  ck_assert_uint_eq(g.size, h.size);
  for (cut = 0; cut < b.len; cut++)
    ck_assert_ptr_null(lsm_block_handle_decode(b.data, b.data + cut, &g));
  lsm_buffer_free(&b);
}
END_TEST

static Suite *block_suite(void) {
  Suite *s = suite_create("block");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, block_round_trip_forward_and_backward);
  tcase_add_test(tc, block_seek_and_seek_le_at_and_between_every_key);
  tcase_add_test(tc, block_empty_block_iterates_nothing);
  tcase_add_test(tc, block_single_entry_with_large_key_and_value);
  tcase_add_test(tc, block_builder_rejects_out_of_order_and_short_keys);
  tcase_add_test(tc, block_builder_reset_builds_a_fresh_block);
  tcase_add_test(tc, block_last_then_steps_both_ways_inside_the_recorded_group);
  tcase_add_test(tc, block_corrupt_restart_array_is_detected);
  tcase_add_test(tc, block_corrupt_restart_array_iterator_is_empty_and_sticky);
  tcase_add_test(tc, block_corrupt_entry_lengths_are_detected);
  tcase_add_test(tc, block_corrupt_entry_inside_a_group_is_detected);
  tcase_add_test(tc, block_entries_of_mixed_sizes_round_trip);
  tcase_add_test(tc, block_random_damage_never_reads_out_of_bounds);
  tcase_add_test(tc, block_embedded_iterator_reused_across_blocks_walks_both_ways);
  tcase_add_test(tc, block_handle_round_trip_and_truncation);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(block_suite());
  int failed;
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
