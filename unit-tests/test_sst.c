/*
** test_sst.c — unit tests of lsm/sst.c: building and reading tables, point
** lookups at every interesting sequence number, the two-level iterator
** against an in-memory model, huge keys and values, the bloom filter, and
** detection of damaged files (flipped bytes, truncation, bad footers).
**
** Randomised cases print their seed; set LSM_TEST_SEED to replay one.
** Files are created in the current (scratch) directory under names unique
** to each test case.
*/
#include <check.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bloom.h"
#include "legacy_bloom.h"
#include "sst.h"
#include "rand_support.h"

/* ---------------------------------------------------------------- helpers */

static uint64_t rng_state;

static uint64_t rnd(void) { return lsm_test_next(&rng_state); }

static void seed_rng(const char *test) { rng_state = lsm_test_seed(test); }

static lsm_slice bs(const lsm_buffer *b) { return lsm_slice_make(b->data, b->len); }

typedef struct entry {
  lsm_buffer key;            /* internal key */
  lsm_buffer val;
} entry;

typedef struct model {
  entry *e;
  size_t n;
  size_t tombstones;
  int n_keys;                /* user keys 0, 2, 4, ... 2*(n_keys-1) */
} model;

static void user_key(lsm_buffer *b, int i) {
  char tmp[32];
  int n = snprintf(tmp, sizeof tmp, "user%08d", i);
  ck_assert_int_eq(lsm_buffer_set(b, tmp, (size_t)n), LSM_OK);
}

static void internal_key(lsm_buffer *b, int i, uint64_t seq, int kind) {
  lsm_buffer u = {0};
  user_key(&u, i);
  b->len = 0;
  ck_assert_int_eq(lsm_ikey_append(b, bs(&u), seq, kind), LSM_OK);
  lsm_buffer_free(&u);
}

/* n_keys user keys (even numbers), each with 1..max_versions versions whose
** sequence numbers are spaced by 10 so that "between two versions" exists;
** about a quarter of the versions are tombstones.  Sorted internal order. */
static void model_make(model *m, int n_keys, int max_versions) {
  size_t cap = (size_t)n_keys * (size_t)max_versions, i;
  int k;
  memset(m, 0, sizeof *m);
  m->e = calloc(cap, sizeof *m->e);
  ck_assert_ptr_nonnull(m->e);
  m->n_keys = n_keys;
  for (k = 0; k < n_keys; k++) {
    int nv = 1 + (int)(rnd() % (uint64_t)max_versions), j;
    for (j = 0; j < nv; j++) {
      entry *e = &m->e[m->n++];
      uint64_t seq = (uint64_t)(nv - j) * 10 + rnd() % 5 + 1;
      int kind = rnd() % 4 == 0 ? LSM_KIND_DELETE : LSM_KIND_PUT;
      internal_key(&e->key, 2 * k, seq, kind);
      if (kind == LSM_KIND_PUT) {
        size_t len = (size_t)(rnd() % 200), b;
        ck_assert_int_eq(lsm_buffer_reserve(&e->val, len + 1), LSM_OK);
        for (b = 0; b < len; b++) e->val.data[b] = (unsigned char)('a' + (k + b + seq) % 26);
        e->val.len = len;
      } else {
        m->tombstones++;
      }
    }
  }
  for (i = 1; i < m->n; i++)
    ck_assert_int_lt(lsm_ikey_cmp(bs(&m->e[i - 1].key), bs(&m->e[i].key)), 0);
}

static void model_free(model *m) {
  size_t i;
  for (i = 0; i < m->n; i++) {
    lsm_buffer_free(&m->e[i].key);
    lsm_buffer_free(&m->e[i].val);
  }
  free(m->e);
}

/* Index of the first entry >= target (m->n if none). */
static size_t model_lower(const model *m, lsm_slice target) {
  size_t lo = 0, hi = m->n;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    if (lsm_ikey_cmp(bs(&m->e[mid].key), target) < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return lo;
}

static lsm_sst_options sst_opts(size_t block_size, int bloom_bits) {
  lsm_sst_options o;
  o.block_size = block_size;
  o.bloom_bits = bloom_bits;
  o.sync = 0;
  return o;
}

static uint64_t build_table(lsm_env *env, const char *path, const entry *e,
                            size_t n, lsm_sst_options o, lsm_sst_info *info) {
  lsm_sst_builder *b;
  size_t i;
  ck_assert_int_eq(lsm_sst_builder_new(env, path, &o, &b), LSM_OK);
  for (i = 0; i < n; i++)
    ck_assert_int_eq(lsm_sst_builder_add(b, bs(&e[i].key), bs(&e[i].val)), LSM_OK);
  ck_assert_uint_eq(lsm_sst_builder_entries(b), n);
  ck_assert_int_eq(lsm_sst_builder_finish(b, info), LSM_OK);
  return info->file_size;
}

static uint64_t file_size_of(const char *path) {
  struct stat st;
  ck_assert_int_eq(stat(path, &st), 0);
  return (uint64_t)st.st_size;
}

static lsm_sst *open_table(const char *path, uint64_t size) {
  lsm_sst *t = NULL;
  lsm_buffer err = {0};
  int rc = lsm_sst_open(lsm_env_default(), path, size, &t, &err);
  ck_assert_msg(rc == LSM_OK, "open %s: %d %s", path, rc, err.len ? (char *)err.data : "");
  lsm_buffer_free(&err);
  return t;
}

static void flip_byte(const char *path, uint64_t off) {
  FILE *f = fopen(path, "r+b");
  int c;
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(fseek(f, (long)off, SEEK_SET), 0);
  c = fgetc(f);
  ck_assert_int_ne(c, EOF);
  ck_assert_int_eq(fseek(f, (long)off, SEEK_SET), 0);
  fputc(c ^ 0x5a, f);
  ck_assert_int_eq(fclose(f), 0);
}

static void truncate_to(const char *path, uint64_t size) {
  ck_assert_int_eq(truncate(path, (off_t)size), 0);
}

static void assert_it_at(lsm_it *it, const model *m, size_t i) {
  if (i >= m->n) {
    ck_assert_msg(!lsm_it_valid(it), "iterator valid, expected the end");
    return;
  }
  ck_assert_msg(lsm_it_valid(it), "iterator invalid, expected entry %zu", i);
  ck_assert_int_eq(lsm_slice_cmp(lsm_it_key(it), bs(&m->e[i].key)), 0);
  ck_assert_int_eq(lsm_slice_cmp(lsm_it_value(it), bs(&m->e[i].val)), 0);
}

/* Compare lsm_sst_get(ukey i, seq) with the model. */
static void check_get(lsm_sst *t, const model *m, int i, uint64_t seq) {
  lsm_buffer u = {0}, ik = {0}, val = {0}, err = {0};
  int found = -1, kind = -1, neg = -1;
  size_t pos;
  int expect_found;
  user_key(&u, i);
  ck_assert_int_eq(lsm_ikey_append(&ik, bs(&u), seq > LSM_SEQ_MAX ? LSM_SEQ_MAX : seq,
                                   LSM_KIND_PUT), LSM_OK);
  pos = model_lower(m, bs(&ik));
  expect_found = pos < m->n &&
                 lsm_slice_cmp(lsm_ikey_user(bs(&m->e[pos].key)), bs(&u)) == 0;
  ck_assert_int_eq(lsm_sst_get(t, bs(&u), seq, &found, &kind, &val, &neg, &err), LSM_OK);
  ck_assert_int_eq(found, expect_found);
  if (expect_found) {
    lsm_ikey p;
    ck_assert(lsm_ikey_parse(bs(&m->e[pos].key), &p));
    ck_assert_int_eq(neg, 0);
    ck_assert_int_eq(kind, p.kind);
    ck_assert_int_eq(lsm_slice_cmp(bs(&val), bs(&m->e[pos].val)), 0);
  }
  lsm_buffer_free(&u);
  lsm_buffer_free(&ik);
  lsm_buffer_free(&val);
  lsm_buffer_free(&err);
}

/* The number i of a user key made by user_key(). */
static int key_number(lsm_slice ukey) {
  char tmp[16];
  ck_assert_uint_eq(ukey.n, 12);
  memcpy(tmp, ukey.p + 4, 8);
  tmp[8] = 0;
  return atoi(tmp);
}

/* ---------------------------------------------------------------- tests */

static void round_trip(size_t block_size, int bloom_bits, const char *path) {
  model m;
  lsm_sst_info info;
  lsm_sst *t;
  lsm_buffer err = {0};
  size_t i;
  int k;
  model_make(&m, 5000, 4);
  ck_assert_uint_ge(m.n, 10000);
  build_table(lsm_env_default(), path, m.e, m.n, sst_opts(block_size, bloom_bits), &info);
  ck_assert_uint_eq(info.file_size, file_size_of(path));
  ck_assert_uint_eq(info.entries, m.n);
  ck_assert_uint_eq(info.tombstones, m.tombstones);
  ck_assert_int_eq(lsm_slice_cmp(bs(&info.smallest), bs(&m.e[0].key)), 0);
  ck_assert_int_eq(lsm_slice_cmp(bs(&info.largest), bs(&m.e[m.n - 1].key)), 0);

  t = open_table(path, info.file_size);
  ck_assert_int_eq(lsm_sst_has_filter(t), bloom_bits > 0);
  ck_assert_int_eq(lsm_sst_check(t, &err), LSM_OK);
  /* every version at its own seq, just below it (the next older version),
  ** above everything, and below the oldest */
  for (i = 0; i < m.n; i++) {
    lsm_ikey p;
    int uk;
    ck_assert(lsm_ikey_parse(bs(&m.e[i].key), &p));
    uk = key_number(p.ukey);
    check_get(t, &m, uk, p.seq);
    check_get(t, &m, uk, p.seq - 1);
    check_get(t, &m, uk, p.seq + 1);
  }
  for (k = 0; k < m.n_keys; k++) {
    check_get(t, &m, 2 * k, LSM_SEQ_MAX);
    check_get(t, &m, 2 * k, 0);
    check_get(t, &m, 2 * k + 1, LSM_SEQ_MAX);  /* absent */
  }
  check_get(t, &m, -1, LSM_SEQ_MAX);  /* before the first key ("user-0000001") */
  lsm_sst_unref(t);
  lsm_buffer_free(&info.smallest);
  lsm_buffer_free(&info.largest);
  lsm_buffer_free(&err);
  model_free(&m);
}

START_TEST(sst_round_trip_get_at_every_version_with_small_blocks) {
  seed_rng("sst_round_trip_small_blocks");
  /* 64-byte blocks: versions of one key routinely straddle blocks */
  round_trip(64, 10, "rt_small.sst");
}
END_TEST

START_TEST(sst_round_trip_get_at_every_version_with_default_blocks) {
  seed_rng("sst_round_trip_default_blocks");
  round_trip(4096, 10, "rt_default.sst");
}
END_TEST

START_TEST(sst_round_trip_without_filter) {
  seed_rng("sst_round_trip_without_filter");
  round_trip(1024, 0, "rt_nofilter.sst");
}
END_TEST

START_TEST(sst_iterator_matches_model_in_every_direction) {
  model m;
  lsm_sst_info info;
  lsm_sst *t;
  lsm_it *it;
  lsm_buffer target = {0};
  size_t i, round;
  seed_rng("sst_iterator_matches_model");
  model_make(&m, 4000, 4);
  build_table(lsm_env_default(), "iter.sst", m.e, m.n, sst_opts(512, 10), &info);
  t = open_table("iter.sst", info.file_size);
  it = lsm_sst_iter_new(t);
  ck_assert_ptr_nonnull(it);
  /* the iterator holds its own reference */
  lsm_sst_unref(t);
  ck_assert(!lsm_it_valid(it));

  lsm_it_first(it);
  for (i = 0; i < m.n; i++) {
    assert_it_at(it, &m, i);
    lsm_it_next(it);
  }
  ck_assert(!lsm_it_valid(it));
  lsm_it_last(it);
  for (i = m.n; i-- > 0;) {
    assert_it_at(it, &m, i);
    lsm_it_prev(it);
  }
  ck_assert(!lsm_it_valid(it));

  /* seeks at existing keys, between versions and between user keys, then a
  ** random walk in both directions */
  for (round = 0; round < 3000; round++) {
    int uk = (int)(rnd() % (uint64_t)(2 * m.n_keys + 2)) - 1;
    uint64_t seq = rnd() % 60;
    size_t pos, steps;
    internal_key(&target, uk, seq, rnd() % 2 ? LSM_KIND_PUT : LSM_KIND_DELETE);
    if (round % 3 == 0) {
      size_t j = (size_t)(rnd() % m.n);
      target.len = 0;
      ck_assert_int_eq(lsm_buffer_set(&target, m.e[j].key.data, m.e[j].key.len), LSM_OK);
    }
    pos = model_lower(&m, bs(&target));
    if (round % 2 == 0) {
      lsm_it_seek(it, bs(&target));
    } else {
      lsm_it_seek_le(it, bs(&target));
      /* last entry <= target */
      if (pos < m.n && lsm_ikey_cmp(bs(&m.e[pos].key), bs(&target)) == 0) {
        /* exact hit */
      } else {
        pos = pos == 0 ? m.n : pos - 1;
      }
    }
    assert_it_at(it, &m, pos);
    if (pos >= m.n) continue;
    for (steps = 0; steps < 20; steps++) {
      if (rnd() % 2) {
        lsm_it_next(it);
        pos++;
      } else {
        lsm_it_prev(it);
        pos = pos == 0 ? m.n : pos - 1;
      }
      assert_it_at(it, &m, pos);
      if (pos >= m.n) break;
    }
  }
  ck_assert_int_eq(lsm_it_status(it), LSM_OK);
  lsm_it_free(it);
  lsm_buffer_free(&target);
  lsm_buffer_free(&info.smallest);
  lsm_buffer_free(&info.largest);
  model_free(&m);
}
END_TEST

/* Keys that defeat the index summary's 4-byte numbers: a long prefix
** shared by the whole table, bytes from a 3-letter alphabet (zero bytes
** included) so that many index keys share their 4 bytes, lengths from 2 to
** 12 so that keys are prefixes of one another and shorter than the shared
** prefix.  Point lookups and seeks (both ways) at every key and at random
** absent keys, inside and outside the table's range, match a sorted model. */
static void tricky_user_key(lsm_buffer *b, int with_prefix) {
  static const unsigned char alphabet[3] = {0x00, 'a', 'b'};
  unsigned char tmp[24];
  size_t n = 0, len = 2 + (size_t)(rnd() % 11), i;
  if (with_prefix) {
    memcpy(tmp, "pp\x00q", 4);
    n = 4;
  } else if (rnd() % 2) {
    tmp[n++] = 'z';     /* after every key of the table */
  }
  for (i = 0; i < len; i++) tmp[n++] = alphabet[rnd() % 3];
  ck_assert_int_eq(lsm_buffer_set(b, tmp, n), LSM_OK);
}

static int entry_cmp(const void *a, const void *b) {
  const entry *x = a, *y = b;
  return lsm_ikey_cmp(bs(&x->key), bs(&y->key));
}

START_TEST(sst_lookups_and_seeks_agree_with_model_on_keys_sharing_long_prefixes) {
  model m;
  lsm_sst_info info;
  lsm_sst *t;
  lsm_it *it;
  lsm_buffer u = {0}, target = {0}, val = {0}, err = {0};
  size_t i, w;
  int round;
  seed_rng("sst_lookups_and_seeks_agree_with_model_on_keys_sharing_long_prefixes");
  memset(&m, 0, sizeof m);
  m.e = calloc(6000, sizeof *m.e);
  ck_assert_ptr_nonnull(m.e);
  for (i = 0; i < 6000; i++) {
    tricky_user_key(&u, 1);
    ck_assert_int_eq(lsm_ikey_append(&m.e[i].key, bs(&u), 1 + rnd() % 1000, LSM_KIND_PUT), LSM_OK);
    ck_assert_int_eq(lsm_buffer_set(&m.e[i].val, m.e[i].key.data, m.e[i].key.len), LSM_OK);
  }
  qsort(m.e, 6000, sizeof *m.e, entry_cmp);
  for (i = 0, w = 0; i < 6000; i++) {       /* drop duplicate internal keys */
    if (w > 0 && lsm_ikey_cmp(bs(&m.e[w - 1].key), bs(&m.e[i].key)) == 0) {
      lsm_buffer_free(&m.e[i].key);
      lsm_buffer_free(&m.e[i].val);
      continue;
    }
    m.e[w++] = m.e[i];
  }
  m.n = w;
  build_table(lsm_env_default(), "tricky.sst", m.e, m.n, sst_opts(128, 10), &info);
  t = open_table("tricky.sst", info.file_size);
  it = lsm_sst_iter_new(t);
  ck_assert_ptr_nonnull(it);
  for (round = 0; round < 20000; round++) {
    size_t pos;
    int found = -1, kind = -1;
    if (round % 4 == 0) {
      ck_assert_int_eq(lsm_buffer_set(&target, m.e[round % m.n].key.data,
                                      m.e[round % m.n].key.len), LSM_OK);
    } else {
      tricky_user_key(&u, round % 4 != 3);   /* some outside the prefix */
      if (round % 8 == 7) u.len = rnd() % 4; /* shorter than the prefix */
      target.len = 0;
      ck_assert_int_eq(lsm_ikey_append(&target, bs(&u), rnd() % 1100, LSM_KIND_PUT), LSM_OK);
    }
    pos = model_lower(&m, bs(&target));
    lsm_it_seek(it, bs(&target));
    assert_it_at(it, &m, pos);
    lsm_it_seek_le(it, bs(&target));
    if (!(pos < m.n && lsm_ikey_cmp(bs(&m.e[pos].key), bs(&target)) == 0)) {
      pos = pos == 0 ? m.n : pos - 1;
    }
    assert_it_at(it, &m, pos);
    /* lookup: the newest version <= the target's sequence number */
    {
      lsm_ikey tk;
      size_t p;
      int expect;
      ck_assert(lsm_ikey_parse(bs(&target), &tk));
      p = model_lower(&m, bs(&target));
      expect = p < m.n && lsm_slice_cmp(lsm_ikey_user(bs(&m.e[p].key)), tk.ukey) == 0;
      ck_assert_int_eq(lsm_sst_get(t, tk.ukey, tk.seq, &found, &kind, &val, NULL, &err), LSM_OK);
      ck_assert_int_eq(found, expect);
      if (expect) ck_assert_int_eq(lsm_slice_cmp(bs(&val), bs(&m.e[p].val)), 0);
    }
  }
  ck_assert_int_eq(lsm_it_status(it), LSM_OK);
  lsm_it_free(it);
  lsm_sst_unref(t);
  lsm_buffer_free(&u);
  lsm_buffer_free(&target);
  lsm_buffer_free(&val);
  lsm_buffer_free(&err);
  lsm_buffer_free(&info.smallest);
  lsm_buffer_free(&info.largest);
  model_free(&m);
}
END_TEST

/* Scans read ahead (64 KiB at a time after a few adjacent blocks): a
** damaged block deep in the table is still reported by scans in both
** directions, each entry before it is returned intact, and a table cut
** short under an open iterator gives an error, never a crash. */
START_TEST(sst_scans_reading_ahead_report_damage_deep_in_the_table) {
  model m;
  lsm_sst_info info;
  lsm_sst *t;
  lsm_it *it;
  size_t i, size;
  uint64_t bad_off;
  seed_rng("sst_scans_reading_ahead_report_damage_deep_in_the_table");
  model_make(&m, 30000, 1);
  build_table(lsm_env_default(), "deep.sst", m.e, m.n, sst_opts(1024, 10), &info);
  size = (size_t)info.file_size;
  bad_off = size / 2;                      /* well past the first chunks */
  flip_byte("deep.sst", bad_off);
  t = open_table("deep.sst", info.file_size);
  it = lsm_sst_iter_new(t);
  for (lsm_it_first(it), i = 0; lsm_it_valid(it); lsm_it_next(it), i++) assert_it_at(it, &m, i);
  ck_assert_int_eq(lsm_it_status(it), LSM_CORRUPT);
  ck_assert_msg(lsm_it_errmsg(it) && strstr(lsm_it_errmsg(it), "deep.sst block at offset"),
                "message: %s", lsm_it_errmsg(it) ? lsm_it_errmsg(it) : "(none)");
  ck_assert_uint_gt(i, 1000);             /* it got far before the damage */
  ck_assert_uint_lt(i, m.n);
  lsm_it_free(it);
  it = lsm_sst_iter_new(t);
  for (lsm_it_last(it), i = m.n; lsm_it_valid(it); lsm_it_prev(it)) assert_it_at(it, &m, --i);
  ck_assert_int_eq(lsm_it_status(it), LSM_CORRUPT);
  ck_assert_msg(lsm_it_errmsg(it) && strstr(lsm_it_errmsg(it), "deep.sst block at offset"),
                "message: %s", lsm_it_errmsg(it) ? lsm_it_errmsg(it) : "(none)");
  ck_assert_uint_gt(i, 0);
  lsm_it_free(it);
  flip_byte("deep.sst", bad_off);         /* repaired */
  /* cut short while a forward scan is under way */
  it = lsm_sst_iter_new(t);
  lsm_it_first(it);
  for (i = 0; i < 200 && lsm_it_valid(it); i++) lsm_it_next(it);
  truncate_to("deep.sst", size / 3);
  while (lsm_it_valid(it)) lsm_it_next(it);
  ck_assert(lsm_it_status(it) == LSM_CORRUPT || lsm_it_status(it) == LSM_IOERR);
  lsm_it_free(it);
  lsm_sst_unref(t);
  lsm_buffer_free(&info.smallest);
  lsm_buffer_free(&info.largest);
  model_free(&m);
}
END_TEST

START_TEST(sst_huge_key_and_value_round_trip) {
  entry e[3];
  model m;
  lsm_sst_info info;
  lsm_sst *t;
  lsm_it *it;
  lsm_buffer val = {0}, err = {0};
  const size_t klen = (1 << 20) + 17, vlen = (2 << 20) + 3;
  int found, kind, neg;
  size_t i;
  memset(e, 0, sizeof e);
  internal_key(&e[0].key, 1, 5, LSM_KIND_PUT);
  ck_assert_int_eq(lsm_buffer_set(&e[0].val, "small", 5), LSM_OK);
  /* user key "user00000002" followed by 1 MiB of filler */
  user_key(&e[1].key, 2);
  ck_assert_int_eq(lsm_buffer_reserve(&e[1].key, klen), LSM_OK);
  for (i = e[1].key.len; i < klen; i++) e[1].key.data[i] = (unsigned char)(i * 7);
  e[1].key.len = klen;
  ck_assert_int_eq(lsm_buffer_append_u64(&e[1].key, lsm_pack_trailer(9, LSM_KIND_PUT)), LSM_OK);
  ck_assert_int_eq(lsm_buffer_reserve(&e[1].val, vlen), LSM_OK);
  for (i = 0; i < vlen; i++) e[1].val.data[i] = (unsigned char)(i * 13 + 1);
  e[1].val.len = vlen;
  internal_key(&e[2].key, 3, 5, LSM_KIND_PUT);
  ck_assert_int_eq(lsm_buffer_set(&e[2].val, "after", 5), LSM_OK);
  memset(&m, 0, sizeof m);
  m.e = e;
  m.n = 3;

  build_table(lsm_env_default(), "huge.sst", e, 3, sst_opts(4096, 10), &info);
  ck_assert_uint_gt(info.file_size, klen * 2 + vlen);  /* key in block and index */
  t = open_table("huge.sst", info.file_size);
  ck_assert_int_eq(lsm_sst_check(t, &err), LSM_OK);
  ck_assert_int_eq(lsm_sst_get(t, lsm_ikey_user(bs(&e[1].key)), 100, &found, &kind,
                               &val, &neg, &err), LSM_OK);
  ck_assert_int_eq(found, 1);
  ck_assert_int_eq(kind, LSM_KIND_PUT);
  ck_assert_uint_eq(val.len, vlen);
  ck_assert_int_eq(memcmp(val.data, e[1].val.data, vlen), 0);
  /* at a seq below the version the key is not visible */
  ck_assert_int_eq(lsm_sst_get(t, lsm_ikey_user(bs(&e[1].key)), 8, &found, &kind,
                               &val, &neg, &err), LSM_OK);
  ck_assert_int_eq(found, 0);
  check_get(t, &m, 3, 100);

  it = lsm_sst_iter_new(t);
  lsm_it_first(it);
  for (i = 0; i < 3; i++) {
    assert_it_at(it, &m, i);
    lsm_it_next(it);
  }
  ck_assert(!lsm_it_valid(it));
  lsm_it_last(it);
  for (i = 3; i-- > 0;) {
    assert_it_at(it, &m, i);
    lsm_it_prev(it);
  }
  lsm_it_seek_le(it, bs(&e[1].key));
  assert_it_at(it, &m, 1);
  lsm_it_free(it);
  lsm_sst_unref(t);
  for (i = 0; i < 3; i++) {
    lsm_buffer_free(&e[i].key);
    lsm_buffer_free(&e[i].val);
  }
  lsm_buffer_free(&val);
  lsm_buffer_free(&err);
  lsm_buffer_free(&info.smallest);
  lsm_buffer_free(&info.largest);
}
END_TEST

START_TEST(sst_flipped_data_byte_is_corrupt_for_get_iterator_and_check) {
  model m;
  lsm_sst_info info;
  lsm_sst *t;
  lsm_it *it;
  lsm_buffer err = {0}, u = {0};
  int found, kind, neg;
  const char *path = "flip/000012.sst";
  seed_rng("sst_flipped_data_byte");
  model_make(&m, 2000, 2);
  ck_assert_int_eq(mkdir("flip", 0755), 0);
  build_table(lsm_env_default(), path, m.e, m.n, sst_opts(4096, 10), &info);
  flip_byte(path, 20);  /* inside the first data block */
  t = open_table(path, info.file_size);  /* index and filter are intact */

  /* a key in the first block: get reports the damage */
  user_key(&u, 0);
  ck_assert_int_eq(lsm_sst_get(t, bs(&u), LSM_SEQ_MAX, &found, &kind, NULL, &neg, &err),
                   LSM_CORRUPT);
  ck_assert_msg(strstr((char *)err.data, "checksum mismatch in 000012.sst block at offset 0"),
                "message: %s", (char *)err.data);
  ck_assert_uint_eq(err.len, strlen((char *)err.data) + 1);
  /* a key in the last block still reads */
  check_get(t, &m, 2 * (m.n_keys - 1), LSM_SEQ_MAX);

  it = lsm_sst_iter_new(t);
  lsm_it_first(it);
  ck_assert(!lsm_it_valid(it));
  ck_assert_int_eq(lsm_it_status(it), LSM_CORRUPT);
  lsm_it_last(it);  /* sticky */
  ck_assert(!lsm_it_valid(it));
  ck_assert_int_eq(lsm_it_status(it), LSM_CORRUPT);
  lsm_it_free(it);
  /* walking backwards from the end meets the damaged block too */
  it = lsm_sst_iter_new(t);
  lsm_it_last(it);
  while (lsm_it_valid(it)) lsm_it_prev(it);
  ck_assert_int_eq(lsm_it_status(it), LSM_CORRUPT);
  lsm_it_free(it);

  err.len = 0;
  ck_assert_int_eq(lsm_sst_check(t, &err), LSM_CORRUPT);
  ck_assert_msg(strstr((char *)err.data, "000012.sst block at offset 0"),
                "message: %s", (char *)err.data);
  lsm_sst_unref(t);
  lsm_buffer_free(&err);
  lsm_buffer_free(&u);
  lsm_buffer_free(&info.smallest);
  lsm_buffer_free(&info.largest);
  model_free(&m);
}
END_TEST

START_TEST(sst_check_names_offset_of_damaged_later_block) {
  model m;
  lsm_sst_info info;
  lsm_sst *t;
  lsm_it *it;
  lsm_buffer err = {0};
  uint64_t off;
  seed_rng("sst_check_later_block");
  model_make(&m, 2000, 2);
  build_table(lsm_env_default(), "later.sst", m.e, m.n, sst_opts(4096, 10), &info);
  /* The middle of the file lies well inside the data blocks (filter and
  ** index are a few KiB at the end). */
  off = info.file_size / 2;
  flip_byte("later.sst", off);
  t = open_table("later.sst", info.file_size);
  ck_assert_int_eq(lsm_sst_check(t, &err), LSM_CORRUPT);
  ck_assert_msg(strstr((char *)err.data, "checksum mismatch in later.sst block at offset "),
                "message: %s", (char *)err.data);
  /* the named offset is a block start at or before the damaged byte */
  {
    const char *p = strstr((char *)err.data, "offset ") + 7;
    unsigned long long named = strtoull(p, NULL, 10);
    ck_assert_uint_le(named, off);
    ck_assert_uint_gt(named, 0);
    ck_assert_uint_gt(named + 4096 + 1024, off);  /* the block holding the byte */
  }
  /* the iterator stops at the same block */
  it = lsm_sst_iter_new(t);
  lsm_it_first(it);
  while (lsm_it_valid(it)) lsm_it_next(it);
  ck_assert_int_eq(lsm_it_status(it), LSM_CORRUPT);
  lsm_it_free(it);
  lsm_sst_unref(t);
  lsm_buffer_free(&err);
  lsm_buffer_free(&info.smallest);
  lsm_buffer_free(&info.largest);
  model_free(&m);
}
END_TEST

START_TEST(sst_truncated_or_bad_footer_fails_open_with_corrupt) {
  model m;
  lsm_sst_info info;
  lsm_sst *t = NULL;
  lsm_buffer err = {0};
  const char *path = "trunc.sst";
  uint64_t size;
  seed_rng("sst_truncated_or_bad_footer");
  model_make(&m, 500, 2);
  size = build_table(lsm_env_default(), path, m.e, m.n, sst_opts(1024, 10), &info);

  /* bad magic */
  flip_byte(path, size - 1);
  ck_assert_int_eq(lsm_sst_open(lsm_env_default(), path, size, &t, &err), LSM_CORRUPT);
  ck_assert_ptr_null(t);
  ck_assert_msg(strstr((char *)err.data, "magic") && strstr((char *)err.data, path),
                "message: %s", (char *)err.data);
  flip_byte(path, size - 1);
  t = open_table(path, size);
  lsm_sst_unref(t);
  t = NULL;

  /* damaged footer field (checksum catches it) */
  flip_byte(path, size - LSM_SST_FOOTER_SIZE + 2);
  ck_assert_int_eq(lsm_sst_open(lsm_env_default(), path, size, &t, &err), LSM_CORRUPT);
  ck_assert_msg(strstr((char *)err.data, "checksum mismatch in trunc.sst footer"),
                "message: %s", (char *)err.data);
  flip_byte(path, size - LSM_SST_FOOTER_SIZE + 2);

  /* damaged index block */
  flip_byte(path, size - LSM_SST_FOOTER_SIZE - 10);
  ck_assert_int_eq(lsm_sst_open(lsm_env_default(), path, size, &t, &err), LSM_CORRUPT);
  ck_assert_msg(strstr((char *)err.data, "checksum mismatch in trunc.sst block"),
                "message: %s", (char *)err.data);
  flip_byte(path, size - LSM_SST_FOOTER_SIZE - 10);

  /* the manifest says a size larger than the file */
  ck_assert_int_eq(lsm_sst_open(lsm_env_default(), path, size + 100, &t, &err), LSM_CORRUPT);
  /* truncated: with the recorded size, and with the actual size */
  truncate_to(path, size - 7);
  ck_assert_int_eq(lsm_sst_open(lsm_env_default(), path, size, &t, &err), LSM_CORRUPT);
  ck_assert_msg(strstr((char *)err.data, "truncated"), "message: %s", (char *)err.data);
  ck_assert_int_eq(lsm_sst_open(lsm_env_default(), path, size - 7, &t, &err), LSM_CORRUPT);
  truncate_to(path, 20);
  ck_assert_int_eq(lsm_sst_open(lsm_env_default(), path, 20, &t, &err), LSM_CORRUPT);
  ck_assert_msg(strstr((char *)err.data, "too short"), "message: %s", (char *)err.data);
  truncate_to(path, 0);
  ck_assert_int_eq(lsm_sst_open(lsm_env_default(), path, 0, &t, &err), LSM_CORRUPT);
  ck_assert_ptr_null(t);
  /* missing file */
  ck_assert_int_eq(lsm_sst_open(lsm_env_default(), "no-such.sst", 100, &t, &err), LSM_NOTFOUND);

  lsm_buffer_free(&err);
  lsm_buffer_free(&info.smallest);
  lsm_buffer_free(&info.largest);
  model_free(&m);
}
END_TEST

/* Footers rewritten (with a valid checksum) to point outside the file or at
** overlapping regions are rejected without reading out of bounds. */
static void rewrite_footer(const char *path, uint64_t size, uint64_t io, uint64_t is,
                           uint64_t fo, uint64_t fs, uint32_t version) {
  unsigned char f[LSM_SST_FOOTER_SIZE];
  FILE *fp = fopen(path, "r+b");
  ck_assert_ptr_nonnull(fp);
  lsm_put_u64(f, io);
  lsm_put_u64(f + 8, is);
  lsm_put_u64(f + 16, fo);
  lsm_put_u64(f + 24, fs);
  lsm_put_u32(f + 32, version);
  lsm_put_u32(f + 36, lsm_checksum32(f, 36));
  lsm_put_u64(f + 40, LSM_SST_MAGIC);
  ck_assert_int_eq(fseek(fp, (long)(size - LSM_SST_FOOTER_SIZE), SEEK_SET), 0);
  ck_assert_uint_eq(fwrite(f, 1, sizeof f, fp), sizeof f);
  ck_assert_int_eq(fclose(fp), 0);
}

static void read_footer(const char *path, uint64_t size, uint64_t v[4]) {
  unsigned char f[LSM_SST_FOOTER_SIZE];
  FILE *fp = fopen(path, "rb");
  int i;
  ck_assert_ptr_nonnull(fp);
  ck_assert_int_eq(fseek(fp, (long)(size - LSM_SST_FOOTER_SIZE), SEEK_SET), 0);
  ck_assert_uint_eq(fread(f, 1, sizeof f, fp), sizeof f);
  ck_assert_int_eq(fclose(fp), 0);
  for (i = 0; i < 4; i++) v[i] = lsm_get_u64(f + 8 * i);
}

static void expect_open_fails(const char *path, uint64_t size, const char *what) {
  lsm_sst *t = NULL;
  lsm_buffer err = {0};
  ck_assert_int_eq(lsm_sst_open(lsm_env_default(), path, size, &t, &err), LSM_CORRUPT);
  ck_assert_ptr_null(t);
  ck_assert_msg(strstr((char *)err.data, what), "message: %s", (char *)err.data);
  lsm_buffer_free(&err);
}

START_TEST(sst_footer_with_bad_handles_fails_open_with_corrupt) {
  model m;
  lsm_sst_info info;
  lsm_sst *t;
  const char *p = "handles.sst";
  uint64_t size, v[4], io, is, fo, fs, footer_off;
  seed_rng("sst_footer_with_bad_handles");
  model_make(&m, 300, 2);
  size = build_table(lsm_env_default(), p, m.e, m.n, sst_opts(1024, 10), &info);
  footer_off = size - LSM_SST_FOOTER_SIZE;
  read_footer(p, size, v);
  io = v[0]; is = v[1]; fo = v[2]; fs = v[3];
  ck_assert_uint_eq(io + is + LSM_BLOCK_TRAILER_SIZE, footer_off);
  ck_assert_uint_eq(fo + fs + LSM_BLOCK_TRAILER_SIZE, io);

  /* the rewrite itself is harmless */
  rewrite_footer(p, size, io, is, fo, fs, LSM_SST_VERSION);
  t = open_table(p, size);
  lsm_sst_unref(t);

  rewrite_footer(p, size, io, is + 1, fo, fs, LSM_SST_VERSION);  /* trailer into footer */
  expect_open_fails(p, size, "out of range");
  rewrite_footer(p, size, io, size * 2, fo, fs, LSM_SST_VERSION);  /* past the end */
  expect_open_fails(p, size, "out of range");
  rewrite_footer(p, size, UINT64_MAX - 2, is, fo, fs, LSM_SST_VERSION);
  expect_open_fails(p, size, "handles.sst");
  rewrite_footer(p, size, io, UINT64_MAX - 3, fo, fs, LSM_SST_VERSION);
  expect_open_fails(p, size, "out of range");
  rewrite_footer(p, size, io, is, fo, fs + 1, LSM_SST_VERSION);  /* filter into index */
  expect_open_fails(p, size, "out of range");
  rewrite_footer(p, size, io, is, UINT64_MAX - 1, fs, LSM_SST_VERSION);
  expect_open_fails(p, size, "out of range");
  rewrite_footer(p, size, io + 1, is - 1, fo, fs, LSM_SST_VERSION);  /* shifted */
  expect_open_fails(p, size, "checksum mismatch in handles.sst block");
  rewrite_footer(p, size, io, is, fo, fs, 2);
  expect_open_fails(p, size, "version");
  lsm_buffer_free(&info.smallest);
  lsm_buffer_free(&info.largest);
  model_free(&m);
}
END_TEST

/* A table written by hand, block by block, following the format in sst.h,
** so that lsm_sst_check can be shown damage a checksum cannot reveal. */
typedef struct raw_table {
  FILE *fp;
  uint64_t off;
  lsm_block_builder index;
} raw_table;

static lsm_block_handle raw_block(raw_table *r, lsm_slice contents) {
  unsigned char trailer[LSM_BLOCK_TRAILER_SIZE];
  lsm_buffer tmp = {0};
  lsm_block_handle h;
  ck_assert_int_eq(lsm_buffer_append(&tmp, contents.p, contents.n), LSM_OK);
  ck_assert_int_eq(lsm_buffer_append(&tmp, "\0", 1), LSM_OK);
  trailer[0] = 0;
  lsm_put_u32(trailer + 1, lsm_checksum32(tmp.data, tmp.len));
  if (contents.n) ck_assert_uint_eq(fwrite(contents.p, 1, contents.n, r->fp), contents.n);
  ck_assert_uint_eq(fwrite(trailer, 1, sizeof trailer, r->fp), sizeof trailer);
  h.offset = r->off;
  h.size = contents.n;
  r->off += contents.n + LSM_BLOCK_TRAILER_SIZE;
  lsm_buffer_free(&tmp);
  return h;
}

/* Write a data block holding user keys keys[0..n) (seq 1) and index it
** under the internal key of user key index_key. */
static void raw_data_block(raw_table *r, const int *keys, int n, int index_key) {
  lsm_block_builder b;
  lsm_buffer k = {0}, hv = {0};
  lsm_slice contents;
  lsm_block_handle h;
  int i;
  lsm_block_builder_init(&b, 16);
  for (i = 0; i < n; i++) {
    internal_key(&k, keys[i], 1, LSM_KIND_PUT);
    ck_assert_int_eq(lsm_block_builder_add(&b, bs(&k), lsm_slice_make("v", 1)), LSM_OK);
  }
  ck_assert_int_eq(lsm_block_builder_finish(&b, &contents), LSM_OK);
  h = raw_block(r, contents);
  ck_assert_int_eq(lsm_block_handle_append(&hv, h), LSM_OK);
  internal_key(&k, index_key, 1, LSM_KIND_PUT);
  ck_assert_int_eq(lsm_block_builder_add(&r->index, bs(&k), bs(&hv)), LSM_OK);
  lsm_block_builder_free(&b);
  lsm_buffer_free(&k);
  lsm_buffer_free(&hv);
}

/* Filter over user keys keys[0..n) (the blocked layout, or the legacy one
** earlier versions wrote), then the index and the footer.  Returns the
** file size. */
static uint64_t raw_finish_as(raw_table *r, const int *keys, int n, int legacy) {
  lsm_buffer filter = {0}, u = {0};
  uint64_t *h = malloc(sizeof(*h) * (size_t)(n + 1));
  unsigned char f[LSM_SST_FOOTER_SIZE];
  lsm_block_handle fh, ih;
  lsm_slice contents;
  int i;
  for (i = 0; i < n; i++) {
    user_key(&u, keys[i]);
    h[i] = lsm_bloom_hash(bs(&u));
  }
  if (legacy) ck_assert_int_eq(legacy_bloom_build(h, (size_t)n, 10, &filter), LSM_OK);
  else ck_assert_int_eq(lsm_bloom_build(h, (size_t)n, 10, &filter), LSM_OK);
  fh = raw_block(r, bs(&filter));
  ck_assert_int_eq(lsm_block_builder_finish(&r->index, &contents), LSM_OK);
  ih = raw_block(r, contents);
  lsm_put_u64(f, ih.offset);
  lsm_put_u64(f + 8, ih.size);
  lsm_put_u64(f + 16, fh.offset);
  lsm_put_u64(f + 24, fh.size);
  lsm_put_u32(f + 32, LSM_SST_VERSION);
  lsm_put_u32(f + 36, lsm_checksum32(f, 36));
  lsm_put_u64(f + 40, LSM_SST_MAGIC);
  ck_assert_uint_eq(fwrite(f, 1, sizeof f, r->fp), sizeof f);
  ck_assert_int_eq(fclose(r->fp), 0);
  lsm_block_builder_free(&r->index);
  lsm_buffer_free(&filter);
  lsm_buffer_free(&u);
  free(h);
  return r->off + sizeof f;
}

static uint64_t raw_finish(raw_table *r, const int *keys, int n) {
  return raw_finish_as(r, keys, n, 0);
}

static void raw_start(raw_table *r, const char *path) {
  r->fp = fopen(path, "wb");
  ck_assert_ptr_nonnull(r->fp);
  r->off = 0;
  lsm_block_builder_init(&r->index, 1);
}

static void expect_check(const char *path, uint64_t size, int rc, const char *what) {
  lsm_sst *t = open_table(path, size);
  lsm_buffer err = {0};
  ck_assert_int_eq(lsm_sst_check(t, &err), rc);
  if (what)
    ck_assert_msg(strstr((char *)err.data, what), "message: %s", (char *)err.data);
  lsm_sst_unref(t);
  lsm_buffer_free(&err);
}

START_TEST(sst_check_finds_disorder_index_mismatch_and_filter_gaps) {
  raw_table r;
  static const int b1[] = {1, 3, 5}, b2[] = {7, 9}, b2_low[] = {4, 9};
  static const int all[] = {1, 3, 5, 7, 9};
  uint64_t size;

  /* a well-formed hand-written table passes: the format is as documented */
  raw_start(&r, "raw_ok.sst");
  raw_data_block(&r, b1, 3, 5);
  raw_data_block(&r, b2, 2, 9);
  size = raw_finish(&r, all, 5);
  expect_check("raw_ok.sst", size, LSM_OK, NULL);

  /* keys out of order across blocks */
  raw_start(&r, "raw_order.sst");
  raw_data_block(&r, b1, 3, 5);
  raw_data_block(&r, b2_low, 2, 9);
  size = raw_finish(&r, all, 5);
  expect_check("raw_order.sst", size, LSM_CORRUPT, "out of order in raw_order.sst block at offset ");

  /* index key is not the block's last key */
  raw_start(&r, "raw_index.sst");
  raw_data_block(&r, b1, 3, 6);
  raw_data_block(&r, b2, 2, 9);
  size = raw_finish(&r, all, 5);
  expect_check("raw_index.sst", size, LSM_CORRUPT,
               "index key does not match the last key of raw_index.sst block at offset 0");

  /* a key the filter does not know (filter built without key 7) */
  raw_start(&r, "raw_filter.sst");
  raw_data_block(&r, b1, 3, 5);
  raw_data_block(&r, b2, 2, 9);
  size = raw_finish(&r, b1, 3);
  expect_check("raw_filter.sst", size, LSM_CORRUPT, "bloom filter of raw_filter.sst");
}
END_TEST

/* A table whose filter has the layout earlier versions wrote (a standard
** bloom filter, FORMAT.md) passes the check, finds every key it holds and
** still rules out most absent ones. */
START_TEST(sst_table_with_legacy_filter_is_read_correctly) {
  enum { N_BLOCKS = 20, PER_BLOCK = 20 };
  int keys[N_BLOCKS * PER_BLOCK];
  raw_table r;
  lsm_sst *t;
  lsm_buffer u = {0}, err = {0}, val = {0};
  uint64_t size;
  int i, b, found, kind, neg, negatives = 0;
  for (i = 0; i < N_BLOCKS * PER_BLOCK; i++) keys[i] = 2 * i;
  raw_start(&r, "raw_legacy.sst");
  for (b = 0; b < N_BLOCKS; b++)
    raw_data_block(&r, keys + b * PER_BLOCK, PER_BLOCK, keys[b * PER_BLOCK + PER_BLOCK - 1]);
  size = raw_finish_as(&r, keys, N_BLOCKS * PER_BLOCK, 1);
  expect_check("raw_legacy.sst", size, LSM_OK, NULL);
  t = open_table("raw_legacy.sst", size);
  ck_assert(lsm_sst_has_filter(t));
  for (i = 0; i < N_BLOCKS * PER_BLOCK; i++) {
    user_key(&u, 2 * i);
    ck_assert_int_eq(lsm_sst_get(t, bs(&u), LSM_SEQ_MAX, &found, &kind, &val, &neg, &err),
                     LSM_OK);
    ck_assert_int_eq(found, 1);
    ck_assert_int_eq(neg, 0);
    ck_assert_int_eq(kind, LSM_KIND_PUT);
    ck_assert_int_eq(val.len == 1 && val.data[0] == 'v', 1);
    user_key(&u, 2 * i + 1);  /* absent */
    ck_assert_int_eq(lsm_sst_get(t, bs(&u), LSM_SEQ_MAX, &found, &kind, NULL, &neg, &err),
                     LSM_OK);
    ck_assert_int_eq(found, 0);
    negatives += neg;
  }
  /* ~0.8% false positives at 10 bits per key */
  ck_assert_int_gt(negatives, N_BLOCKS * PER_BLOCK * 95 / 100);
  lsm_sst_unref(t);
  lsm_buffer_free(&u);
  lsm_buffer_free(&val);
  lsm_buffer_free(&err);
}
END_TEST

static unsigned char *slurp(const char *path, size_t *n) {
  FILE *fp = fopen(path, "rb");
  unsigned char *p;
  ck_assert_ptr_nonnull(fp);
  *n = (size_t)file_size_of(path);
  p = malloc(*n);
  ck_assert_uint_eq(fread(p, 1, *n, fp), *n);
  ck_assert_int_eq(fclose(fp), 0);
  return p;
}

static void spill(const char *path, const unsigned char *p, size_t n) {
  FILE *fp = fopen(path, "wb");
  ck_assert_ptr_nonnull(fp);
  ck_assert_uint_eq(fwrite(p, 1, n, fp), n);
  ck_assert_int_eq(fclose(fp), 0);
}

/* Random damage anywhere in a file: every call either works or reports
** LSM_CORRUPT; nothing crashes or reads out of bounds (ASan watches). */
START_TEST(sst_random_damage_is_reported_never_crashes) {
  model m;
  lsm_sst_info info;
  unsigned char *orig, *bad;
  size_t n, round;
  int corrupt_seen = 0;
  seed_rng("sst_random_damage");
  model_make(&m, 300, 2);
  build_table(lsm_env_default(), "fuzz.sst", m.e, m.n, sst_opts(512, 10), &info);
  orig = slurp("fuzz.sst", &n);
  bad = malloc(n);
  for (round = 0; round < 300; round++) {
    lsm_sst *t = NULL;
    lsm_buffer err = {0};
    int flips = 1 + (int)(rnd() % 3), f, rc;
    memcpy(bad, orig, n);
    /* bias towards the footer and index at the end, where handles live */
    for (f = 0; f < flips; f++) {
      size_t at = rnd() % 2 ? (size_t)(rnd() % n) : n - 1 - (size_t)(rnd() % (n < 200 ? n : 200));
      bad[at] ^= (unsigned char)(1 + rnd() % 255);
    }
    spill("fuzz.sst", bad, n);
    rc = lsm_sst_open(lsm_env_default(), "fuzz.sst", n, &t, &err);
    ck_assert(rc == LSM_OK || rc == LSM_CORRUPT);
    if (rc == LSM_OK) {
      lsm_it *it = lsm_sst_iter_new(t);
      size_t j;
      int found, kind, neg;
      lsm_it_first(it);
      while (lsm_it_valid(it)) lsm_it_next(it);
      ck_assert(lsm_it_status(it) == LSM_OK || lsm_it_status(it) == LSM_CORRUPT);
      lsm_it_free(it);
      for (j = 0; j < m.n; j += 37) {
        rc = lsm_sst_get(t, lsm_ikey_user(bs(&m.e[j].key)), LSM_SEQ_MAX, &found, &kind,
                         NULL, &neg, &err);
        ck_assert(rc == LSM_OK || rc == LSM_CORRUPT);
      }
      rc = lsm_sst_check(t, &err);
      ck_assert(rc == LSM_OK || rc == LSM_CORRUPT);
      lsm_sst_unref(t);
    }
    if (rc == LSM_CORRUPT) {
      corrupt_seen++;
      ck_assert_msg(strstr((char *)err.data, "fuzz.sst"), "message: %s", (char *)err.data);
    }
    lsm_buffer_free(&err);
  }
  ck_assert_int_gt(corrupt_seen, 250);
  free(orig);
  free(bad);
  lsm_buffer_free(&info.smallest);
  lsm_buffer_free(&info.largest);
  model_free(&m);
}
END_TEST

START_TEST(sst_bloom_negatives_are_reported_and_never_hide_keys) {
  model m;
  lsm_sst_info info;
  lsm_sst *t;
  lsm_buffer u = {0}, err = {0};
  int k, found, kind, neg, negatives = 0;
  seed_rng("sst_bloom_negatives");
  model_make(&m, 3000, 1);
  build_table(lsm_env_default(), "bloom.sst", m.e, m.n, sst_opts(4096, 10), &info);
  t = open_table("bloom.sst", info.file_size);
  ck_assert(lsm_sst_has_filter(t));
  for (k = 0; k < m.n_keys; k++) {
    user_key(&u, 2 * k);
    ck_assert_int_eq(lsm_sst_may_contain(t, bs(&u)), 1);
    ck_assert_int_eq(lsm_sst_get(t, bs(&u), LSM_SEQ_MAX, &found, &kind, NULL, &neg, &err),
                     LSM_OK);
    ck_assert_int_eq(neg, 0);
    ck_assert_int_eq(found, 1);
    user_key(&u, 2 * k + 1);  /* absent */
    ck_assert_int_eq(lsm_sst_get(t, bs(&u), LSM_SEQ_MAX, &found, &kind, NULL, &neg, &err),
                     LSM_OK);
    ck_assert_int_eq(found, 0);
    ck_assert_int_eq(neg, !lsm_sst_may_contain(t, bs(&u)));
    negatives += neg;
  }
  /* about 1% false positives at 10 bits per key */
  ck_assert_int_gt(negatives, m.n_keys * 95 / 100);
  lsm_sst_unref(t);
  lsm_buffer_free(&info.smallest);
  lsm_buffer_free(&info.largest);

  /* without a filter nothing is ruled out */
  build_table(lsm_env_default(), "nobloom.sst", m.e, m.n, sst_opts(4096, 0), &info);
  t = open_table("nobloom.sst", info.file_size);
  ck_assert(!lsm_sst_has_filter(t));
  user_key(&u, 1);
  ck_assert_int_eq(lsm_sst_may_contain(t, bs(&u)), 1);
  ck_assert_int_eq(lsm_sst_get(t, bs(&u), LSM_SEQ_MAX, &found, &kind, NULL, &neg, &err), LSM_OK);
  ck_assert_int_eq(neg, 0);
  ck_assert_int_eq(found, 0);
  lsm_sst_unref(t);
  lsm_buffer_free(&u);
  lsm_buffer_free(&err);
  lsm_buffer_free(&info.smallest);
  lsm_buffer_free(&info.largest);
  model_free(&m);
}
END_TEST

START_TEST(sst_empty_table_opens_and_holds_nothing) {
  lsm_sst_info info;
  lsm_sst *t;
  lsm_it *it;
  lsm_buffer u = {0}, err = {0};
  int found, kind, neg;
  build_table(lsm_env_default(), "empty.sst", NULL, 0, sst_opts(4096, 10), &info);
  ck_assert_uint_eq(info.entries, 0);
  t = open_table("empty.sst", info.file_size);
  ck_assert_int_eq(lsm_sst_check(t, &err), LSM_OK);
  user_key(&u, 1);
  ck_assert_int_eq(lsm_sst_get(t, bs(&u), 5, &found, &kind, NULL, &neg, &err), LSM_OK);
  ck_assert_int_eq(found, 0);
  it = lsm_sst_iter_new(t);
  lsm_it_first(it);
  ck_assert(!lsm_it_valid(it));
  lsm_it_last(it);
  ck_assert(!lsm_it_valid(it));
  ck_assert_int_eq(lsm_it_status(it), LSM_OK);
  lsm_it_free(it);
  lsm_sst_unref(t);
  lsm_buffer_free(&u);
  lsm_buffer_free(&err);
  lsm_buffer_free(&info.smallest);
  lsm_buffer_free(&info.largest);
}
END_TEST

START_TEST(sst_builder_rejects_out_of_order_keys_and_latches) {
  lsm_sst_builder *b;
  lsm_sst_options o = sst_opts(4096, 10);
  lsm_buffer k1 = {0}, k2 = {0};
  lsm_slice v = lsm_slice_make("v", 1);
  internal_key(&k1, 2, 5, LSM_KIND_PUT);
  internal_key(&k2, 1, 5, LSM_KIND_PUT);
  ck_assert_int_eq(lsm_sst_builder_new(lsm_env_default(), "order.sst", &o, &b), LSM_OK);
  ck_assert_int_eq(lsm_sst_builder_add(b, bs(&k1), v), LSM_OK);
  ck_assert_int_eq(lsm_sst_builder_add(b, bs(&k2), v), LSM_MISUSE);
  ck_assert_int_eq(lsm_sst_builder_add(b, bs(&k1), v), LSM_MISUSE);
  lsm_sst_builder_abandon(b);
  /* a key too short to be an internal key; finish reports the latched error */
  ck_assert_int_eq(lsm_sst_builder_new(lsm_env_default(), "order2.sst", &o, &b), LSM_OK);
  ck_assert_int_eq(lsm_sst_builder_add(b, lsm_slice_make("abc", 3), v), LSM_MISUSE);
  {
    lsm_sst_info info;
    ck_assert_int_eq(lsm_sst_builder_finish(b, &info), LSM_MISUSE);
  }
  /* a directory that does not exist */
  ck_assert_int_eq(lsm_sst_builder_new(lsm_env_default(), "nodir/x.sst", &o, &b), LSM_NOTFOUND);
  lsm_buffer_free(&k1);
  lsm_buffer_free(&k2);
}
END_TEST

/* An env that counts appends and can fail reads, wrapping the default. */
typedef struct test_env {
  lsm_env base;
  lsm_env *inner;
  int appends;
  size_t min_append;
  int fail_reads;
} test_env;

static int te_open_read(lsm_env *e, const char *p, lsm_file **o) {
  test_env *t = (test_env *)e;
  return t->inner->open_read(t->inner, p, o);
}
static int te_open_append(lsm_env *e, const char *p, lsm_file **o) {
  test_env *t = (test_env *)e;
  return t->inner->open_append(t->inner, p, o);
}
static int te_pread(lsm_env *e, lsm_file *f, uint64_t off, void *buf, size_t n, size_t *got) {
  test_env *t = (test_env *)e;
  if (t->fail_reads) return LSM_IOERR;
  return t->inner->pread(t->inner, f, off, buf, n, got);
}
static int te_append(lsm_env *e, lsm_file *f, const void *buf, size_t n) {
  test_env *t = (test_env *)e;
  t->appends++;
  if (n < t->min_append) t->min_append = n;
  return t->inner->append(t->inner, f, buf, n);
}
static int te_sync(lsm_env *e, lsm_file *f) {
  test_env *t = (test_env *)e;
  return t->inner->sync(t->inner, f);
}
static int te_close(lsm_env *e, lsm_file *f) {
  test_env *t = (test_env *)e;
  return t->inner->close(t->inner, f);
}

static void test_env_init(test_env *t) {
  memset(t, 0, sizeof *t);
  t->inner = lsm_env_default();
  t->base = *t->inner;
  t->base.open_read = te_open_read;
  t->base.open_append = te_open_append;
  t->base.pread = te_pread;
  t->base.append = te_append;
  t->base.sync = te_sync;
  t->base.close = te_close;
  t->min_append = SIZE_MAX;
}

START_TEST(sst_builder_writes_one_append_per_block_through_the_env) {
  test_env env;
  model m;
  lsm_sst_info info;
  lsm_sst *t = NULL;
  lsm_buffer err = {0};
  lsm_it *it;
  int found, kind, neg;
  size_t n;
  seed_rng("sst_appends");
  test_env_init(&env);
  model_make(&m, 3000, 2);
  build_table(&env.base, "env.sst", m.e, m.n, sst_opts(4096, 10), &info);
  ck_assert_uint_eq(info.file_size, file_size_of("env.sst"));
  /* data blocks of ~4 KiB each, plus filter, index and footer */
  n = (size_t)(info.file_size / 4096);
  ck_assert_int_le(env.appends, (int)n + 4);
  /* only the last data block, the filter, the index and the footer may be
  ** small */
  ck_assert_uint_ge(info.file_size / (uint64_t)env.appends, 2048);
  ck_assert_uint_ge(env.min_append, 8);

  /* read errors surface as LSM_IOERR from get and the iterator */
  ck_assert_int_eq(lsm_sst_open(&env.base, "env.sst", info.file_size, &t, &err), LSM_OK);
  env.fail_reads = 1;
  ck_assert_int_eq(lsm_sst_get(t, lsm_ikey_user(bs(&m.e[0].key)), LSM_SEQ_MAX, &found,
                               &kind, NULL, &neg, &err), LSM_IOERR);
  ck_assert_msg(strstr((char *)err.data, "env.sst"), "message: %s", (char *)err.data);
  it = lsm_sst_iter_new(t);
  lsm_it_seek(it, bs(&m.e[m.n / 2].key));
  ck_assert(!lsm_it_valid(it));
  ck_assert_int_eq(lsm_it_status(it), LSM_IOERR);
  lsm_it_free(it);
  env.fail_reads = 0;
  lsm_sst_unref(t);
  t = NULL;
  env.fail_reads = 1;
  ck_assert_int_eq(lsm_sst_open(&env.base, "env.sst", info.file_size, &t, &err), LSM_IOERR);
  ck_assert_ptr_null(t);
  lsm_buffer_free(&err);
  lsm_buffer_free(&info.smallest);
  lsm_buffer_free(&info.largest);
  model_free(&m);
}
END_TEST

typedef struct reader_arg {
  lsm_sst *t;
  const model *m;
  uint64_t seed;
  int errors;
} reader_arg;

static void *reader_main(void *p) {
  reader_arg *a = p;
  lsm_buffer u = {0}, val = {0}, err = {0};
  uint64_t s = a->seed;
  int i, found, kind, neg;
  for (i = 0; i < 5000; i++) {
    size_t j;
    lsm_ikey pk;
    s = s * 6364136223846793005ULL + 1442695040888963407ULL;
    j = (size_t)((s >> 33) % a->m->n);
    if (!lsm_ikey_parse(bs(&a->m->e[j].key), &pk) ||
        lsm_sst_get(a->t, pk.ukey, pk.seq, &found, &kind, &val, &neg, &err) != LSM_OK ||
        !found || kind != pk.kind ||
        (kind == LSM_KIND_PUT && lsm_slice_cmp(bs(&val), bs(&a->m->e[j].val)) != 0))
      a->errors++;
  }
  lsm_buffer_free(&u);
  lsm_buffer_free(&val);
  lsm_buffer_free(&err);
  return NULL;
}

START_TEST(sst_concurrent_readers_see_consistent_data) {
  model m;
  lsm_sst_info info;
  lsm_sst *t;
  pthread_t th[4];
  reader_arg args[4];
  int i;
  seed_rng("sst_concurrent_readers");
  model_make(&m, 3000, 3);
  build_table(lsm_env_default(), "conc.sst", m.e, m.n, sst_opts(1024, 10), &info);
  t = open_table("conc.sst", info.file_size);
  for (i = 0; i < 4; i++) {
    args[i].t = t;
    args[i].m = &m;
    args[i].seed = rnd();
    args[i].errors = 0;
    ck_assert_int_eq(pthread_create(&th[i], NULL, reader_main, &args[i]), 0);
  }
  for (i = 0; i < 4; i++) {
    ck_assert_int_eq(pthread_join(th[i], NULL), 0);
    ck_assert_int_eq(args[i].errors, 0);
  }
  lsm_sst_unref(t);
  lsm_buffer_free(&info.smallest);
  lsm_buffer_free(&info.largest);
  model_free(&m);
}
END_TEST

static Suite *sst_suite(void) {
  Suite *s = suite_create("sst");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, sst_round_trip_get_at_every_version_with_small_blocks);
  tcase_add_test(tc, sst_scans_reading_ahead_report_damage_deep_in_the_table);
  tcase_add_test(tc, sst_lookups_and_seeks_agree_with_model_on_keys_sharing_long_prefixes);
  tcase_add_test(tc, sst_round_trip_get_at_every_version_with_default_blocks);
  tcase_add_test(tc, sst_round_trip_without_filter);
  tcase_add_test(tc, sst_iterator_matches_model_in_every_direction);
  tcase_add_test(tc, sst_huge_key_and_value_round_trip);
  tcase_add_test(tc, sst_flipped_data_byte_is_corrupt_for_get_iterator_and_check);
  tcase_add_test(tc, sst_check_names_offset_of_damaged_later_block);
  tcase_add_test(tc, sst_truncated_or_bad_footer_fails_open_with_corrupt);
  tcase_add_test(tc, sst_footer_with_bad_handles_fails_open_with_corrupt);
  tcase_add_test(tc, sst_check_finds_disorder_index_mismatch_and_filter_gaps);
  tcase_add_test(tc, sst_table_with_legacy_filter_is_read_correctly);
  tcase_add_test(tc, sst_random_damage_is_reported_never_crashes);
  tcase_add_test(tc, sst_bloom_negatives_are_reported_and_never_hide_keys);
  tcase_add_test(tc, sst_empty_table_opens_and_holds_nothing);
  tcase_add_test(tc, sst_builder_rejects_out_of_order_keys_and_latches);
  tcase_add_test(tc, sst_builder_writes_one_append_per_block_through_the_env);
  tcase_add_test(tc, sst_concurrent_readers_see_consistent_data);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(sst_suite());
  int failed;
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
