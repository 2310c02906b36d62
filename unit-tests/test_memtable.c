/*
** test_memtable.c — unit tests for the arena and the skiplist memtable
** (lsm/arena.c, lsm/memtable.c).
**
** Checks internal-key ordering against a sorted model in both directions,
** version shadowing and tombstones, seek/seek_le semantics, large values,
** memory accounting, iterator lifetime and concurrent readers during
** writes.  Randomised tests print their seed; set LSM_TEST_SEED to replay.
*/
#include <check.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "dbformat.h"
#include "memtable.h"
#include "rand_support.h"

/* ------------------------------------------------------------------ */
/* Helpers. */

static lsm_slice S(const char *s) { return lsm_slice_make(s, strlen(s)); }

/* Build ukey || trailer(seq, kind) into buf (reset first). */
static lsm_slice ikey(lsm_buffer *buf, lsm_slice ukey, uint64_t seq, int kind) {
  buf->len = 0;
  ck_assert_int_eq(lsm_ikey_append(buf, ukey, seq, kind), LSM_OK);
  return lsm_slice_make(buf->data, buf->len);
}

static int slice_eq(lsm_slice a, lsm_slice b) {
  return lsm_slice_cmp(a, b) == 0;
}

/* Parse the iterator's current key and check it against expectations. */
static void expect_at(lsm_it *it, const char *ukey, uint64_t seq, int kind) {
  lsm_ikey k;
  ck_assert(lsm_it_valid(it));
  ck_assert(lsm_ikey_parse(lsm_it_key(it), &k));
  ck_assert_msg(slice_eq(k.ukey, S(ukey)), "expected key %s, got %.*s", ukey,
                (int)k.ukey.n, (const char *)k.ukey.p);
  ck_assert_uint_eq(k.seq, seq);
  ck_assert_int_eq(k.kind, kind);
}

/* ------------------------------------------------------------------ */
/* Arena. */

START_TEST(arena_returns_aligned_disjoint_memory) {
  lsm_arena *a = lsm_arena_new();
  unsigned char *ptrs[2000];
  size_t sizes[2000];
  size_t i, j, total = 0;
  ck_assert_ptr_nonnull(a);
  for (i = 0; i < 2000; i++) {
    sizes[i] = (i * 37) % 300 + (i % 100 == 0 ? 100000 : 0);
    ptrs[i] = lsm_arena_alloc(a, sizes[i]);
    ck_assert_ptr_nonnull(ptrs[i]);
    ck_assert_uint_eq((uintptr_t)ptrs[i] % 8, 0);
    memset(ptrs[i], (int)(i & 0xff), sizes[i]);
    total += sizes[i];
  }
  /* Nothing overwrote anything else. */
  for (i = 0; i < 2000; i++) {
    for (j = 0; j < sizes[i]; j++) {
      if (ptrs[i][j] != (i & 0xff)) {
        ck_abort_msg("allocation %zu byte %zu was overwritten", i, j);
      }
    }
  }
  ck_assert_uint_ge(lsm_arena_bytes(a), total);
  /* Waste stays bounded (< 2x the payload for this mix). */
  ck_assert_uint_lt(lsm_arena_bytes(a), 2 * total);
  lsm_arena_free(a);
}
END_TEST

START_TEST(arena_bytes_counts_large_allocations) {
  lsm_arena *a = lsm_arena_new();
  size_t before;
  void *p;
  ck_assert_ptr_nonnull(a);
  before = lsm_arena_bytes(a);
  p = lsm_arena_alloc(a, 3u << 20);
  ck_assert_ptr_nonnull(p);
  memset(p, 0xab, 3u << 20);
  ck_assert_uint_ge(lsm_arena_bytes(a), before + (3u << 20));
  lsm_arena_free(a);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Memtable ordering. */

typedef struct model_entry {
  unsigned char ikey[32];
  size_t ikey_len;
  char val[32];
} model_entry;

static int model_cmp(const void *a, const void *b) {
  const model_entry *x = a, *y = b;
  return lsm_ikey_cmp(lsm_slice_make(x->ikey, x->ikey_len),
                      lsm_slice_make(y->ikey, y->ikey_len));
}

START_TEST(mem_iterates_random_inserts_in_order_both_directions) {
  enum { N = 5000 };
  uint64_t s = lsm_test_seed("mem_iterates_random_inserts_in_order");
  model_entry *model = calloc(N, sizeof(*model));
  lsm_mem *m;
  lsm_it *it;
  lsm_buffer kb = {0};
  int i, n;
  ck_assert_ptr_nonnull(model);
  ck_assert_int_eq(lsm_mem_new(&m), LSM_OK);

  for (i = 0; i < N; i++) {
    /* Few distinct user keys (of varying length, some prefixes of others),
    ** each with several versions; seq = i keeps (ukey, seq) unique. */
    char uk[16];
    int kind = lsm_test_next(&s) % 5 == 0 ? LSM_KIND_DELETE : LSM_KIND_PUT;
    int len = snprintf(uk, sizeof(uk), "k%llu",
                       (unsigned long long)(lsm_test_next(&s) % 700));
    lsm_slice ik = ikey(&kb, lsm_slice_make(uk, (size_t)len), (uint64_t)i + 1,
                        kind);
    memcpy(model[i].ikey, ik.p, ik.n);
    model[i].ikey_len = ik.n;
    if (kind == LSM_KIND_PUT) {
      snprintf(model[i].val, sizeof(model[i].val), "v%d", i);
    }
    ck_assert_int_eq(lsm_mem_add(m, (uint64_t)i + 1, kind,
                                 lsm_slice_make(uk, (size_t)len),
                                 S(model[i].val)),
                     LSM_OK);
  }
  ck_assert_uint_eq(lsm_mem_count(m), N);
  qsort(model, N, sizeof(*model), model_cmp);

  it = lsm_mem_iter_new(m);
  ck_assert_ptr_nonnull(it);
  ck_assert(!lsm_it_valid(it));
  n = 0;
  for (lsm_it_first(it); lsm_it_valid(it); lsm_it_next(it), n++) {
    ck_assert_int_lt(n, N);
    ck_assert(slice_eq(lsm_it_key(it),
                       lsm_slice_make(model[n].ikey, model[n].ikey_len)));
    ck_assert(slice_eq(lsm_it_value(it), S(model[n].val)));
  }
  ck_assert_int_eq(n, N);

  n = N - 1;
  for (lsm_it_last(it); lsm_it_valid(it); lsm_it_prev(it), n--) {
    ck_assert_int_ge(n, 0);
    ck_assert(slice_eq(lsm_it_key(it),
                       lsm_slice_make(model[n].ikey, model[n].ikey_len)));
    ck_assert(slice_eq(lsm_it_value(it), S(model[n].val)));
  }
  ck_assert_int_eq(n, -1);
  ck_assert_int_eq(lsm_it_status(it), LSM_OK);

  /* Seeking to every model key lands exactly on it. */
  for (i = 0; i < N; i += 7) {
    lsm_slice t = lsm_slice_make(model[i].ikey, model[i].ikey_len);
    lsm_it_seek(it, t);
    ck_assert(lsm_it_valid(it));
    ck_assert(slice_eq(lsm_it_key(it), t));
    lsm_it_seek_le(it, t);
    ck_assert(lsm_it_valid(it));
    ck_assert(slice_eq(lsm_it_key(it), t));
  }

  lsm_it_free(it);
  lsm_mem_unref(m);
  lsm_buffer_free(&kb);
  free(model);
}
END_TEST

/* Commits insert their batch in key order, which the memtable searches
** from the previous insertion point: runs of ascending keys (with versions
** of earlier keys, keys before the run's previous one at each new run, and
** prefixes of each other) must leave every level ordered: iteration, seeks
** to every entry and lookups all agree with a sorted model. */
START_TEST(mem_sorted_runs_of_inserts_keep_every_level_ordered) {
  enum { RUNS = 40, RUN = 300, N = RUNS * RUN };
  uint64_t s = lsm_test_seed("mem_sorted_runs_of_inserts_keep_every_level_ordered");
  model_entry *model = calloc(N, sizeof(*model));
  char (*run)[16] = calloc(RUN, 16);
  lsm_mem *m;
  lsm_it *it;
  lsm_buffer kb = {0};
  int r, i, n = 0;
  ck_assert_ptr_nonnull(model);
  ck_assert_ptr_nonnull(run);
  ck_assert_int_eq(lsm_mem_new(&m), LSM_OK);
  for (r = 0; r < RUNS; r++) {
    for (i = 0; i < RUN; i++) {
      snprintf(run[i], 16, "k%llu", (unsigned long long)(lsm_test_next(&s) % 5000));
    }
    qsort(run, RUN, 16, (int (*)(const void *, const void *))strcmp);
    for (i = 0; i < RUN; i++) {
      /* a repeated key in a run gets a newer version, as the batch's
      ** replay would (in key order the newer one comes right after) */
      uint64_t seq = (uint64_t)n + 1;
      lsm_slice uk = S(run[i]);
      lsm_slice ik = ikey(&kb, uk, seq, LSM_KIND_PUT);
      memcpy(model[n].ikey, ik.p, ik.n);
      model[n].ikey_len = ik.n;
      snprintf(model[n].val, sizeof(model[n].val), "v%d", n);
      ck_assert_int_eq(lsm_mem_add(m, seq, LSM_KIND_PUT, uk, S(model[n].val)), LSM_OK);
      n++;
    }
  }
  qsort(model, N, sizeof(*model), model_cmp);
  it = lsm_mem_iter_new(m);
  ck_assert_ptr_nonnull(it);
  i = 0;
  for (lsm_it_first(it); lsm_it_valid(it); lsm_it_next(it), i++) {
    ck_assert_int_lt(i, N);
    ck_assert(slice_eq(lsm_it_key(it), lsm_slice_make(model[i].ikey, model[i].ikey_len)));
  }
  ck_assert_int_eq(i, N);
  for (i = 0; i < N; i++) {
    lsm_slice t = lsm_slice_make(model[i].ikey, model[i].ikey_len);
    lsm_ikey pk;
    lsm_slice v;
    int kind;
    lsm_it_seek(it, t);
    ck_assert(lsm_it_valid(it));
    ck_assert(slice_eq(lsm_it_key(it), t));
    ck_assert(slice_eq(lsm_it_value(it), S(model[i].val)));
    ck_assert(lsm_ikey_parse(t, &pk));
    ck_assert(lsm_mem_get(m, pk.ukey, pk.seq, &kind, &v));
    ck_assert(slice_eq(v, S(model[i].val)));
  }
  lsm_it_free(it);
  lsm_mem_unref(m);
  lsm_buffer_free(&kb);
  free(run);
  free(model);
}
END_TEST

START_TEST(mem_empty_table_has_no_entries) {
  lsm_mem *m;
  lsm_it *it;
  lsm_buffer kb = {0};
  int kind;
  lsm_slice v;
  ck_assert_int_eq(lsm_mem_new(&m), LSM_OK);
  ck_assert_uint_eq(lsm_mem_count(m), 0);
  ck_assert_int_eq(lsm_mem_get(m, S("a"), LSM_SEQ_MAX, &kind, &v), 0);
  it = lsm_mem_iter_new(m);
  ck_assert_ptr_nonnull(it);
  lsm_it_first(it);
  ck_assert(!lsm_it_valid(it));
  lsm_it_last(it);
  ck_assert(!lsm_it_valid(it));
  lsm_it_seek(it, ikey(&kb, S("a"), 1, LSM_KIND_PUT));
  ck_assert(!lsm_it_valid(it));
  lsm_it_seek_le(it, ikey(&kb, S("a"), 1, LSM_KIND_PUT));
  ck_assert(!lsm_it_valid(it));
  ck_assert_int_eq(lsm_it_status(it), LSM_OK);
  lsm_it_free(it);
  lsm_mem_unref(m);
  lsm_buffer_free(&kb);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Versions. */

START_TEST(mem_newer_seq_shadows_older_and_tombstones_are_returned) {
  lsm_mem *m;
  int kind = -1;
  lsm_slice v;
  ck_assert_int_eq(lsm_mem_new(&m), LSM_OK);
  ck_assert_int_eq(lsm_mem_add(m, 1, LSM_KIND_PUT, S("k"), S("one")), LSM_OK);
  ck_assert_int_eq(lsm_mem_add(m, 9, LSM_KIND_DELETE, S("k"), S("")), LSM_OK);
  ck_assert_int_eq(lsm_mem_add(m, 5, LSM_KIND_PUT, S("k"), S("five")), LSM_OK);
  /* Neighbours that must not be confused with "k". */
  ck_assert_int_eq(lsm_mem_add(m, 3, LSM_KIND_PUT, S("j"), S("jj")), LSM_OK);
  ck_assert_int_eq(lsm_mem_add(m, 4, LSM_KIND_PUT, S("ka"), S("kaka")), LSM_OK);
  ck_assert_int_eq(lsm_mem_add(m, 2, LSM_KIND_PUT, S("k2"), S("kk")), LSM_OK);

  ck_assert_int_eq(lsm_mem_get(m, S("k"), LSM_SEQ_MAX, &kind, &v), 1);
  ck_assert_int_eq(kind, LSM_KIND_DELETE);
  ck_assert_uint_eq(v.n, 0);
  ck_assert_int_eq(lsm_mem_get(m, S("k"), 9, &kind, &v), 1);
  ck_assert_int_eq(kind, LSM_KIND_DELETE);
  ck_assert_int_eq(lsm_mem_get(m, S("k"), 8, &kind, &v), 1);
  ck_assert_int_eq(kind, LSM_KIND_PUT);
  ck_assert(slice_eq(v, S("five")));
  ck_assert_int_eq(lsm_mem_get(m, S("k"), 5, &kind, &v), 1);
  ck_assert(slice_eq(v, S("five")));
  ck_assert_int_eq(lsm_mem_get(m, S("k"), 4, &kind, &v), 1);
  ck_assert_int_eq(kind, LSM_KIND_PUT);
  ck_assert(slice_eq(v, S("one")));
  ck_assert_int_eq(lsm_mem_get(m, S("k"), 1, &kind, &v), 1);
  ck_assert(slice_eq(v, S("one")));
  ck_assert_int_eq(lsm_mem_get(m, S("k"), 0, &kind, &v), 0);

  ck_assert_int_eq(lsm_mem_get(m, S("ka"), LSM_SEQ_MAX, &kind, &v), 1);
  ck_assert(slice_eq(v, S("kaka")));
  ck_assert_int_eq(lsm_mem_get(m, S("ka"), 3, &kind, &v), 0);
  ck_assert_int_eq(lsm_mem_get(m, S("j"), 100, &kind, &v), 1);
  ck_assert(slice_eq(v, S("jj")));
  /* Absent keys: before, between and after the stored ones, and a prefix. */
  ck_assert_int_eq(lsm_mem_get(m, S("a"), LSM_SEQ_MAX, &kind, &v), 0);
  ck_assert_int_eq(lsm_mem_get(m, S("jz"), LSM_SEQ_MAX, &kind, &v), 0);
  ck_assert_int_eq(lsm_mem_get(m, S("z"), LSM_SEQ_MAX, &kind, &v), 0);
  ck_assert_int_eq(lsm_mem_get(m, S(""), LSM_SEQ_MAX, &kind, &v), 0);
  ck_assert_uint_eq(lsm_mem_count(m), 6);
  lsm_mem_unref(m);
}
END_TEST

START_TEST(mem_iterates_versions_newest_first) {
  lsm_mem *m;
  lsm_it *it;
  ck_assert_int_eq(lsm_mem_new(&m), LSM_OK);
  ck_assert_int_eq(lsm_mem_add(m, 1, LSM_KIND_PUT, S("b"), S("1")), LSM_OK);
  ck_assert_int_eq(lsm_mem_add(m, 7, LSM_KIND_DELETE, S("b"), S("")), LSM_OK);
  ck_assert_int_eq(lsm_mem_add(m, 4, LSM_KIND_PUT, S("b"), S("4")), LSM_OK);
  ck_assert_int_eq(lsm_mem_add(m, 2, LSM_KIND_PUT, S("a"), S("2")), LSM_OK);
  it = lsm_mem_iter_new(m);
  ck_assert_ptr_nonnull(it);
  lsm_it_first(it);
  expect_at(it, "a", 2, LSM_KIND_PUT);
  lsm_it_next(it);
  expect_at(it, "b", 7, LSM_KIND_DELETE);
  ck_assert_uint_eq(lsm_it_value(it).n, 0);
  lsm_it_next(it);
  expect_at(it, "b", 4, LSM_KIND_PUT);
  ck_assert(slice_eq(lsm_it_value(it), S("4")));
  lsm_it_next(it);
  expect_at(it, "b", 1, LSM_KIND_PUT);
  lsm_it_next(it);
  ck_assert(!lsm_it_valid(it));
  lsm_it_free(it);
  lsm_mem_unref(m);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Seeks. */

START_TEST(mem_seek_finds_first_ge_and_seek_le_last_le) {
  lsm_mem *m;
  lsm_it *it;
  lsm_buffer kb = {0};
  ck_assert_int_eq(lsm_mem_new(&m), LSM_OK);
  /* a@3, c@9, c@5, e@2 */
  ck_assert_int_eq(lsm_mem_add(m, 3, LSM_KIND_PUT, S("a"), S("a3")), LSM_OK);
  ck_assert_int_eq(lsm_mem_add(m, 5, LSM_KIND_PUT, S("c"), S("c5")), LSM_OK);
  ck_assert_int_eq(lsm_mem_add(m, 9, LSM_KIND_PUT, S("c"), S("c9")), LSM_OK);
  ck_assert_int_eq(lsm_mem_add(m, 2, LSM_KIND_DELETE, S("e"), S("")), LSM_OK);
  it = lsm_mem_iter_new(m);
  ck_assert_ptr_nonnull(it);

  /* seek: first entry >= target. */
  lsm_it_seek(it, ikey(&kb, S(""), LSM_SEQ_MAX, LSM_KIND_PUT));
  expect_at(it, "a", 3, LSM_KIND_PUT);
  lsm_it_seek(it, ikey(&kb, S("b"), LSM_SEQ_MAX, LSM_KIND_PUT));
  expect_at(it, "c", 9, LSM_KIND_PUT);
  lsm_it_seek(it, ikey(&kb, S("c"), LSM_SEQ_MAX, LSM_KIND_PUT));
  expect_at(it, "c", 9, LSM_KIND_PUT);
  lsm_it_seek(it, ikey(&kb, S("c"), 9, LSM_KIND_PUT));
  expect_at(it, "c", 9, LSM_KIND_PUT);
  lsm_it_seek(it, ikey(&kb, S("c"), 9, LSM_KIND_DELETE));  /* just after c@9 */
  expect_at(it, "c", 5, LSM_KIND_PUT);
  lsm_it_seek(it, ikey(&kb, S("c"), 7, LSM_KIND_PUT));  /* visible at 7 */
  expect_at(it, "c", 5, LSM_KIND_PUT);
  ck_assert(slice_eq(lsm_it_value(it), S("c5")));
  lsm_it_seek(it, ikey(&kb, S("c"), 4, LSM_KIND_PUT));
  expect_at(it, "e", 2, LSM_KIND_DELETE);
  lsm_it_seek(it, ikey(&kb, S("e"), 1, LSM_KIND_PUT));
  ck_assert(!lsm_it_valid(it));
  lsm_it_seek(it, ikey(&kb, S("f"), LSM_SEQ_MAX, LSM_KIND_PUT));
  ck_assert(!lsm_it_valid(it));

  /* seek_le: last entry <= target. */
  lsm_it_seek_le(it, ikey(&kb, S("a"), 4, LSM_KIND_PUT));  /* before a@3 */
  ck_assert(!lsm_it_valid(it));
  lsm_it_seek_le(it, ikey(&kb, S("a"), 3, LSM_KIND_PUT));
  expect_at(it, "a", 3, LSM_KIND_PUT);
  lsm_it_seek_le(it, ikey(&kb, S("a"), 0, LSM_KIND_DELETE));
  expect_at(it, "a", 3, LSM_KIND_PUT);
  lsm_it_seek_le(it, ikey(&kb, S("b"), LSM_SEQ_MAX, LSM_KIND_PUT));
  expect_at(it, "a", 3, LSM_KIND_PUT);
  lsm_it_seek_le(it, ikey(&kb, S("c"), 7, LSM_KIND_PUT));
  expect_at(it, "c", 9, LSM_KIND_PUT);
  lsm_it_seek_le(it, ikey(&kb, S("d"), LSM_SEQ_MAX, LSM_KIND_PUT));
  expect_at(it, "c", 5, LSM_KIND_PUT);
  lsm_it_seek_le(it, ikey(&kb, S("zzz"), 0, LSM_KIND_DELETE));
  expect_at(it, "e", 2, LSM_KIND_DELETE);

  /* Moving from a seek position works in both directions. */
  lsm_it_seek(it, ikey(&kb, S("c"), 5, LSM_KIND_PUT));
  expect_at(it, "c", 5, LSM_KIND_PUT);
  lsm_it_prev(it);
  expect_at(it, "c", 9, LSM_KIND_PUT);
  lsm_it_prev(it);
  expect_at(it, "a", 3, LSM_KIND_PUT);
  lsm_it_prev(it);
  ck_assert(!lsm_it_valid(it));
  lsm_it_seek_le(it, ikey(&kb, S("c"), 9, LSM_KIND_PUT));
  lsm_it_next(it);
  expect_at(it, "c", 5, LSM_KIND_PUT);
  lsm_it_next(it);
  expect_at(it, "e", 2, LSM_KIND_DELETE);
  lsm_it_next(it);
  ck_assert(!lsm_it_valid(it));

  lsm_it_free(it);
  lsm_mem_unref(m);
  lsm_buffer_free(&kb);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Sizes and lifetime. */

START_TEST(mem_stores_1mib_values) {
  enum { MIB = 1 << 20, N = 4 };
  lsm_mem *m;
  lsm_it *it;
  unsigned char *val = malloc(MIB);
  int i, kind;
  lsm_slice v;
  char key[24];
  ck_assert_ptr_nonnull(val);
  ck_assert_int_eq(lsm_mem_new(&m), LSM_OK);
  for (i = 0; i < N; i++) {
    memset(val, 'a' + i, MIB);
    val[0] = (unsigned char)i;
    snprintf(key, sizeof(key), "big%d", i);
    ck_assert_int_eq(lsm_mem_add(m, (uint64_t)i + 1, LSM_KIND_PUT, S(key),
                                 lsm_slice_make(val, MIB)),
                     LSM_OK);
    /* Small entries between the big ones share ordinary blocks. */
    snprintf(key, sizeof(key), "sm%d", i);
    ck_assert_int_eq(lsm_mem_add(m, (uint64_t)i + 100, LSM_KIND_PUT, S(key),
                                 S("small")),
                     LSM_OK);
  }
  ck_assert_uint_ge(lsm_mem_bytes(m), (size_t)N * MIB);
  for (i = 0; i < N; i++) {
    size_t j;
    snprintf(key, sizeof(key), "big%d", i);
    ck_assert_int_eq(lsm_mem_get(m, S(key), LSM_SEQ_MAX, &kind, &v), 1);
    ck_assert_uint_eq(v.n, MIB);
    ck_assert_uint_eq(v.p[0], i);
    for (j = 1; j < MIB; j++) {
      if (v.p[j] != 'a' + i) ck_abort_msg("value %d byte %zu differs", i, j);
    }
    snprintf(key, sizeof(key), "sm%d", i);
    ck_assert_int_eq(lsm_mem_get(m, S(key), LSM_SEQ_MAX, &kind, &v), 1);
    ck_assert(slice_eq(v, S("small")));
  }
  it = lsm_mem_iter_new(m);
  ck_assert_ptr_nonnull(it);
  lsm_it_first(it);
  expect_at(it, "big0", 1, LSM_KIND_PUT);
  ck_assert_uint_eq(lsm_it_value(it).n, MIB);
  lsm_it_free(it);
  lsm_mem_unref(m);
  free(val);
}
END_TEST

START_TEST(mem_bytes_grows_with_inserts) {
  lsm_mem *m;
  size_t prev, start;
  int i;
  char key[16];
  ck_assert_int_eq(lsm_mem_new(&m), LSM_OK);
  start = prev = lsm_mem_bytes(m);
  ck_assert_uint_gt(start, 0);
  for (i = 0; i < 20000; i++) {
    size_t now;
    snprintf(key, sizeof(key), "key%06d", i);
    ck_assert_int_eq(lsm_mem_add(m, (uint64_t)i + 1, LSM_KIND_PUT, S(key),
                                 S("some value bytes")),
                     LSM_OK);
    now = lsm_mem_bytes(m);
    ck_assert_uint_ge(now, prev);
    prev = now;
  }
  /* At least the key and value bytes of every entry are accounted for. */
  ck_assert_uint_ge(prev - start, 20000u * (9 + 8 + 16));
  ck_assert_uint_eq(lsm_mem_count(m), 20000);
  lsm_mem_unref(m);
}
END_TEST

START_TEST(mem_iterator_keeps_memtable_alive_after_unref) {
  lsm_mem *m;
  lsm_it *it;
  ck_assert_int_eq(lsm_mem_new(&m), LSM_OK);
  ck_assert_int_eq(lsm_mem_add(m, 1, LSM_KIND_PUT, S("x"), S("y")), LSM_OK);
  it = lsm_mem_iter_new(m);
  ck_assert_ptr_nonnull(it);
  lsm_mem_unref(m);  /* the iterator's reference keeps it alive */
  lsm_it_first(it);
  expect_at(it, "x", 1, LSM_KIND_PUT);
  ck_assert(slice_eq(lsm_it_value(it), S("y")));
  lsm_it_free(it);  /* frees the memtable (ASan reports a leak otherwise) */
}
END_TEST

START_TEST(mem_handles_empty_and_binary_keys) {
  lsm_mem *m;
  lsm_it *it;
  int kind;
  lsm_slice v;
  const unsigned char bin[3] = {0x00, 0xff, 0x00};
  ck_assert_int_eq(lsm_mem_new(&m), LSM_OK);
  ck_assert_int_eq(lsm_mem_add(m, 2, LSM_KIND_PUT, lsm_slice_make(bin, 3),
                               S("bin")),
                   LSM_OK);
  ck_assert_int_eq(lsm_mem_add(m, 1, LSM_KIND_PUT, lsm_slice_make(NULL, 0),
                               lsm_slice_make(NULL, 0)),
                   LSM_OK);
  ck_assert_int_eq(lsm_mem_add(m, 3, LSM_KIND_PUT, lsm_slice_make(bin, 1),
                               S("zero")),
                   LSM_OK);
  ck_assert_int_eq(lsm_mem_get(m, lsm_slice_make(NULL, 0), 5, &kind, &v), 1);
  ck_assert_uint_eq(v.n, 0);
  ck_assert_int_eq(lsm_mem_get(m, lsm_slice_make(bin, 3), 5, &kind, &v), 1);
  ck_assert(slice_eq(v, S("bin")));
  ck_assert_int_eq(lsm_mem_get(m, lsm_slice_make(bin, 2), 5, &kind, &v), 0);
  it = lsm_mem_iter_new(m);
  ck_assert_ptr_nonnull(it);
  lsm_it_first(it);
  ck_assert_uint_eq(lsm_it_key(it).n, LSM_TRAILER_SIZE);  /* "" first */
  lsm_it_next(it);
  ck_assert(slice_eq(lsm_ikey_user(lsm_it_key(it)), lsm_slice_make(bin, 1)));
  lsm_it_next(it);
  ck_assert(slice_eq(lsm_ikey_user(lsm_it_key(it)), lsm_slice_make(bin, 3)));
  lsm_it_free(it);
  lsm_mem_unref(m);
}
END_TEST

/* Keys of 0 to 5 bytes over {00, 01, 7f, 80, ff}, inserted in random
** order: short keys, keys that are zero-padded versions of each other and
** keys that agree on all but their last byte, which a comparison must
** order by their bytes and lengths alone.  Iteration gives the sorted
** order, every key is found by get, seek and seek_le. */
START_TEST(mem_orders_short_and_zero_padded_keys_like_their_bytes) {
  static const unsigned char alphabet[5] = {0x00, 0x01, 0x7f, 0x80, 0xff};
  enum { MAXLEN = 5, N = 1 + 5 + 25 + 125 + 625 + 3125 };
  uint64_t s = lsm_test_seed("mem_orders_short_and_zero_padded_keys_like_their_bytes");
  unsigned char (*keys)[MAXLEN] = calloc(N, MAXLEN);
  size_t *lens = calloc(N, sizeof(size_t));
  int *order = calloc(N, sizeof(int));
  lsm_buffer kb = {0};
  lsm_mem *m;
  lsm_it *it;
  int i, n = 0, len;
  ck_assert_ptr_nonnull(keys);
  ck_assert_ptr_nonnull(lens);
  ck_assert_ptr_nonnull(order);
  /* Enumerate in sorted order: shorter first at each prefix (depth-first). */
  {
    int stack[MAXLEN + 1], depth = 0;
    lens[n++] = 0;
    stack[0] = 0;
    while (depth >= 0) {
      if (stack[depth] == 5) {
        depth--;
        if (depth >= 0) stack[depth]++;
        continue;
      }
      memcpy(keys[n], keys[n - 1], MAXLEN);
      for (len = 0; len <= depth; len++) keys[n][len] = alphabet[stack[len]];
      lens[n] = (size_t)depth + 1;
      n++;
      if (depth + 1 < MAXLEN) {
        stack[++depth] = 0;
      } else {
        stack[depth]++;
      }
    }
  }
  ck_assert_int_eq(n, N);
  for (i = 1; i < N; i++) {
    ck_assert(lsm_slice_cmp(lsm_slice_make(keys[i - 1], lens[i - 1]),
                            lsm_slice_make(keys[i], lens[i])) < 0);
  }
  for (i = 0; i < N; i++) order[i] = i;
  for (i = N - 1; i > 0; i--) {
    int j = (int)(lsm_test_next(&s) % (uint64_t)(i + 1)), t = order[i];
    order[i] = order[j];
    order[j] = t;
  }
  ck_assert_int_eq(lsm_mem_new(&m), LSM_OK);
  for (i = 0; i < N; i++) {
    int k = order[i];
    ck_assert_int_eq(lsm_mem_add(m, (uint64_t)i + 1, LSM_KIND_PUT,
                                 lsm_slice_make(keys[k], lens[k]),
                                 lsm_slice_make(&k, sizeof k)),
                     LSM_OK);
  }
  it = lsm_mem_iter_new(m);
  ck_assert_ptr_nonnull(it);
  lsm_it_first(it);
  for (i = 0; i < N; i++) {
    ck_assert(lsm_it_valid(it));
    ck_assert(slice_eq(lsm_ikey_user(lsm_it_key(it)), lsm_slice_make(keys[i], lens[i])));
    lsm_it_next(it);
  }
  ck_assert(!lsm_it_valid(it));
  for (i = 0; i < N; i++) {
    lsm_slice uk = lsm_slice_make(keys[i], lens[i]), v;
    int kind, got;
    ck_assert_int_eq(lsm_mem_get(m, uk, LSM_SEQ_MAX, &kind, &v), 1);
    ck_assert_uint_eq(v.n, sizeof got);
    memcpy(&got, v.p, sizeof got);
    ck_assert_int_eq(got, i);
    lsm_it_seek(it, ikey(&kb, uk, LSM_SEQ_MAX, LSM_KIND_PUT));
    ck_assert(lsm_it_valid(it));
    ck_assert(slice_eq(lsm_ikey_user(lsm_it_key(it)), uk));
    lsm_it_seek_le(it, ikey(&kb, uk, 0, LSM_KIND_DELETE));
    ck_assert(lsm_it_valid(it));
    ck_assert(slice_eq(lsm_ikey_user(lsm_it_key(it)), uk));
    if (i > 0) {
      /* Just before every version of uk: the previous key. */
      lsm_it_seek_le(it, ikey(&kb, uk, LSM_SEQ_MAX, LSM_KIND_PUT));
      ck_assert(lsm_it_valid(it));
      ck_assert(slice_eq(lsm_ikey_user(lsm_it_key(it)), lsm_slice_make(keys[i - 1], lens[i - 1])));
    }
  }
  lsm_it_free(it);
  lsm_mem_unref(m);
  lsm_buffer_free(&kb);
  free(keys);
  free(lens);
  free(order);
}
END_TEST

/* ------------------------------------------------------------------ */
/* One writer, concurrent readers. */

typedef struct reader_arg {
  lsm_mem *m;
  volatile int *stop;
  int bad;     /* set when an ordering or content check fails */
  long scans;
} reader_arg;

static void *reader_main(void *p) {
  reader_arg *ra = p;
  while (!__atomic_load_n(ra->stop, __ATOMIC_ACQUIRE)) {
    lsm_it *it = lsm_mem_iter_new(ra->m);
    lsm_buffer prev = {0};
    uint64_t n = 0, count_before = lsm_mem_count(ra->m);
    if (it == NULL) { ra->bad = 1; break; }
    for (lsm_it_first(it); lsm_it_valid(it); lsm_it_next(it)) {
      lsm_slice k = lsm_it_key(it), v = lsm_it_value(it);
      /* Every value repeats its user key: a half-published node would
      ** show up as a mismatch. */
      if (!slice_eq(lsm_ikey_user(k), v)) ra->bad = 1;
      if (prev.len && lsm_ikey_cmp(lsm_slice_make(prev.data, prev.len), k) >= 0)
        ra->bad = 1;
      if (lsm_buffer_set(&prev, k.p, k.n) != LSM_OK) ra->bad = 1;
      n++;
    }
    /* Entries are only added, so a full scan sees at least as many as
    ** were counted before it started. */
    if (n < count_before) ra->bad = 1;
    lsm_buffer_free(&prev);
    lsm_it_free(it);
    ra->scans++;
  }
  return NULL;
}

START_TEST(mem_readers_see_consistent_list_during_writes) {
  enum { READERS = 3, N = 30000 };
  uint64_t s = lsm_test_seed("mem_readers_see_consistent_list_during_writes");
  lsm_mem *m;
  pthread_t th[READERS];
  reader_arg ra[READERS];
  volatile int stop = 0;
  int i;
  char key[24];
  ck_assert_int_eq(lsm_mem_new(&m), LSM_OK);
  for (i = 0; i < READERS; i++) {
    ra[i].m = m;
    ra[i].stop = &stop;
    ra[i].bad = 0;
    ra[i].scans = 0;
    ck_assert_int_eq(pthread_create(&th[i], NULL, reader_main, &ra[i]), 0);
  }
  for (i = 0; i < N; i++) {
    int len = snprintf(key, sizeof(key), "%016llx",
                       (unsigned long long)lsm_test_next(&s));
    lsm_slice k = lsm_slice_make(key, (size_t)len);
    ck_assert_int_eq(lsm_mem_add(m, (uint64_t)i + 1, LSM_KIND_PUT, k, k),
                     LSM_OK);
  }
  __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
  for (i = 0; i < READERS; i++) {
    ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    ck_assert_msg(!ra[i].bad, "reader %d saw an inconsistent list", i);
    ck_assert_int_gt(ra[i].scans, 0);
  }
  ck_assert_uint_eq(lsm_mem_count(m), N);
  lsm_mem_unref(m);
}
END_TEST

/* Lookups go through the memtable's key filter first: every stored key is
** still found, with far more keys than the filter is sized for too, and
** absent keys are not. */
START_TEST(mem_get_finds_every_key_and_no_absent_one_past_the_filter_size) {
  enum { N = 200000 };
  uint64_t s = lsm_test_seed("mem_get_finds_every_key_and_no_absent_one_past_the_filter_size");
  uint64_t s0 = s;
  lsm_mem *m;
  lsm_slice v;
  int i, kind;
  char key[24];
  ck_assert_int_eq(lsm_mem_new(&m), LSM_OK);
  ck_assert(!lsm_mem_get(m, S("nothing"), LSM_SEQ_MAX, &kind, &v));
  for (i = 0; i < N; i++) {
    int len = snprintf(key, sizeof(key), "k%015llx", (unsigned long long)lsm_test_next(&s));
    lsm_slice k = lsm_slice_make(key, (size_t)len);
    ck_assert_int_eq(lsm_mem_add(m, (uint64_t)i + 1, LSM_KIND_PUT, k, k), LSM_OK);
    if (i == 999 || i == N - 1) {
      /* every key so far, and as many absent ones */
      uint64_t r = s0;
      int j;
      for (j = 0; j <= i; j++) {
        int n = snprintf(key, sizeof(key), "k%015llx", (unsigned long long)lsm_test_next(&r));
        ck_assert_msg(lsm_mem_get(m, lsm_slice_make(key, (size_t)n), LSM_SEQ_MAX, &kind, &v),
                      "key %d of %d not found", j, i + 1);
        ck_assert(slice_eq(v, lsm_slice_make(key, (size_t)n)));
        key[0] = 'a';   /* sorts before every stored key: absent */
        ck_assert(!lsm_mem_get(m, lsm_slice_make(key, (size_t)n), LSM_SEQ_MAX, &kind, &v));
      }
    }
  }
  lsm_mem_unref(m);
}
END_TEST

/* A reader that learns (acquire) that key j was added finds it, while the
** writer goes on adding: the filter bits are visible no later than the
** node. */
typedef struct getter_arg {
  lsm_mem *m;
  volatile int *published;
  volatile int *stop;
  int missed;
  long gets;
} getter_arg;

static int getter_key(char *buf, size_t cap, int j) {
  return snprintf(buf, cap, "g%015llx", (unsigned long long)(((uint64_t)j + 1) * 0x9e3779b97f4a7c15ull));
}

static void *getter_main(void *p) {
  getter_arg *a = p;
  uint64_t r = 12345;
  char key[24];
  while (!__atomic_load_n(a->stop, __ATOMIC_ACQUIRE)) {
    int n = __atomic_load_n(a->published, __ATOMIC_ACQUIRE), j, len, kind;
    lsm_slice v;
    if (n == 0) continue;
    j = (int)(lsm_test_next(&r) % (uint64_t)n);
    len = getter_key(key, sizeof key, j);
    if (!lsm_mem_get(a->m, lsm_slice_make(key, (size_t)len), LSM_SEQ_MAX, &kind, &v)) a->missed++;
    a->gets++;
  }
  return NULL;
}

START_TEST(mem_get_sees_every_key_published_before_it_during_writes) {
  enum { READERS = 2, N = 100000 };
  lsm_mem *m;
  pthread_t th[READERS];
  getter_arg ga[READERS];
  volatile int stop = 0, published = 0;
  int i;
  char key[24];
  ck_assert_int_eq(lsm_mem_new(&m), LSM_OK);
  for (i = 0; i < READERS; i++) {
    ga[i].m = m;
    ga[i].published = &published;
    ga[i].stop = &stop;
    ga[i].missed = 0;
    ga[i].gets = 0;
    ck_assert_int_eq(pthread_create(&th[i], NULL, getter_main, &ga[i]), 0);
  }
  for (i = 0; i < N; i++) {
    int len = getter_key(key, sizeof key, i);
    lsm_slice k = lsm_slice_make(key, (size_t)len);
    ck_assert_int_eq(lsm_mem_add(m, (uint64_t)i + 1, LSM_KIND_PUT, k, k), LSM_OK);
    __atomic_store_n(&published, i + 1, __ATOMIC_RELEASE);
  }
  __atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
  for (i = 0; i < READERS; i++) {
    ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    ck_assert_msg(ga[i].missed == 0, "reader %d missed %d of %ld published keys", i,
                  ga[i].missed, ga[i].gets);
  }
  lsm_mem_unref(m);
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *memtable_suite(void) {
  Suite *s = suite_create("memtable");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, arena_returns_aligned_disjoint_memory);
  tcase_add_test(tc, arena_bytes_counts_large_allocations);
  tcase_add_test(tc, mem_iterates_random_inserts_in_order_both_directions);
  tcase_add_test(tc, mem_sorted_runs_of_inserts_keep_every_level_ordered);
  tcase_add_test(tc, mem_empty_table_has_no_entries);
  tcase_add_test(tc, mem_newer_seq_shadows_older_and_tombstones_are_returned);
  tcase_add_test(tc, mem_iterates_versions_newest_first);
  tcase_add_test(tc, mem_seek_finds_first_ge_and_seek_le_last_le);
  tcase_add_test(tc, mem_stores_1mib_values);
  tcase_add_test(tc, mem_bytes_grows_with_inserts);
  tcase_add_test(tc, mem_iterator_keeps_memtable_alive_after_unref);
  tcase_add_test(tc, mem_handles_empty_and_binary_keys);
  tcase_add_test(tc, mem_orders_short_and_zero_padded_keys_like_their_bytes);
  tcase_add_test(tc, mem_readers_see_consistent_list_during_writes);
  tcase_add_test(tc, mem_get_finds_every_key_and_no_absent_one_past_the_filter_size);
  tcase_add_test(tc, mem_get_sees_every_key_published_before_it_during_writes);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(memtable_suite());
  int failed;
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
