/*
** test_batch.c — unit tests for write batches (lsm/batch.c): the public
** lsm_batch_* API, savepoints, the hash index and the lazily built sorted
** view, the log encoding (newest op per key, in key order) and its
** validating replay; through a real database (lsm_open in the scratch
** directory), overlay iterators against later writes and rollbacks, and
** commits of repeated keys across a reopen; and a million-op batch.
**
** Randomised tests print their seed; set LSM_TEST_SEED to replay one.
*/
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "batch.h"
#include "dbformat.h"
#include "memtable.h"
#include "rand_support.h"

/* ------------------------------------------------------------------ */
/* Helpers. */

static lsm_slice S(const char *s) { return lsm_slice_make(s, strlen(s)); }

/* For hot loops: Check's ck_assert_* record a mark point per call (a pipe
** write in fork mode), which dominates a loop of a million operations. */
#define REQUIRE(cond)                                                    \
  do {                                                                   \
    if (!(cond)) ck_abort_msg("%s:%d: %s", __FILE__, __LINE__, #cond); \
  } while (0)

static int slice_eq(lsm_slice a, lsm_slice b) {
  return lsm_slice_cmp(a, b) == 0;
}

static void put(lsm_batch *b, const char *k, const char *v) {
  ck_assert_int_eq(lsm_batch_put(b, k, strlen(k), v, strlen(v)), LSM_OK);
}

static void del(lsm_batch *b, const char *k) {
  ck_assert_int_eq(lsm_batch_delete(b, k, strlen(k)), LSM_OK);
}

/* Expect the batch to hold a put of k with value v. */
static void expect_put(lsm_batch *b, const char *k, const char *v) {
  lsm_buffer val = {0};
  int is_deleted = -1;
  ck_assert_int_eq(lsm_batch_get(b, k, strlen(k), &is_deleted, &val), LSM_OK);
  ck_assert_int_eq(is_deleted, 0);
  ck_assert_msg(val.len == strlen(v) &&
                    (val.len == 0 || memcmp(val.data, v, val.len) == 0),
                "key %s: expected %s, got %.*s", k, v, (int)val.len,
                (const char *)val.data);
  lsm_buffer_free(&val);
}

static void expect_deleted(lsm_batch *b, const char *k) {
  int is_deleted = -1;
  ck_assert_int_eq(lsm_batch_get(b, k, strlen(k), &is_deleted, NULL), LSM_OK);
  ck_assert_int_eq(is_deleted, 1);
}

static void expect_absent(lsm_batch *b, const char *k) {
  int is_deleted = -1;
  ck_assert_int_eq(lsm_batch_get(b, k, strlen(k), &is_deleted, NULL),
                   LSM_NOTFOUND);
}

/* The batch's effective contents (newest op per key, in key order) as text:
** "k=v;" for puts, "k-;" for deletes.  Appended to out. */
static void dump(lsm_batch *b, lsm_buffer *out) {
  lsm_it *it = lsm_batch_iter_new(b);
  lsm_buffer prev = {0};
  int have_prev = 0;
  out->len = 0;
  ck_assert_ptr_nonnull(it);
  for (lsm_it_first(it); lsm_it_valid(it); lsm_it_next(it)) {
    lsm_ikey k;
    ck_assert(lsm_ikey_parse(lsm_it_key(it), &k));
    ck_assert_uint_ge(k.seq, LSM_SEQ_OVERLAY);
    ck_assert_uint_lt(k.seq, LSM_SEQ_OVERLAY + lsm_batch_mark(b));
    if (have_prev && slice_eq(lsm_slice_make(prev.data, prev.len), k.ukey))
      continue;
    have_prev = 1;
    ck_assert_int_eq(lsm_buffer_set(&prev, k.ukey.p, k.ukey.n), LSM_OK);
    ck_assert_int_eq(lsm_buffer_append(out, k.ukey.p, k.ukey.n), LSM_OK);
    if (k.kind == LSM_KIND_PUT) {
      lsm_slice v = lsm_it_value(it);
      ck_assert_int_eq(lsm_buffer_append(out, "=", 1), LSM_OK);
      ck_assert_int_eq(lsm_buffer_append(out, v.p, v.n), LSM_OK);
    } else {
      ck_assert_int_eq(lsm_buffer_append(out, "-", 1), LSM_OK);
    }
    ck_assert_int_eq(lsm_buffer_append(out, ";", 1), LSM_OK);
  }
  ck_assert_int_eq(lsm_buffer_append(out, "", 1), LSM_OK);  /* NUL */
  lsm_buffer_free(&prev);
  lsm_it_free(it);
}

/* ------------------------------------------------------------------ */
/* Basic operations. */

START_TEST(batch_last_op_on_a_key_wins) {
  lsm_batch *b;
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  put(b, "a", "1");
  put(b, "a", "2");
  expect_put(b, "a", "2");
  del(b, "a");
  expect_deleted(b, "a");
  put(b, "a", "3");
  expect_put(b, "a", "3");
  ck_assert_uint_eq(lsm_batch_count(b), 1);
  ck_assert_uint_eq(lsm_batch_user_bytes(b), 2);
  lsm_batch_free(b);
}
END_TEST

START_TEST(batch_count_and_user_bytes_track_distinct_keys) {
  lsm_batch *b;
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  ck_assert_uint_eq(lsm_batch_count(b), 0);
  ck_assert_uint_eq(lsm_batch_user_bytes(b), 0);
  put(b, "apple", "red");        /* 5+3 */
  put(b, "banana", "yellow");    /* 6+6 */
  put(b, "apple", "green");      /* 5+5 replaces 5+3 */
  put(b, "cherry", "dark");      /* 6+4 */
  del(b, "banana");              /* 6+0 replaces 6+6 */
  del(b, "durian");              /* 6+0 */
  ck_assert_uint_eq(lsm_batch_count(b), 4);
  ck_assert_uint_eq(lsm_batch_user_bytes(b), 10 + 6 + 10 + 6);
  ck_assert_uint_eq(lsm_batch_mark(b), 6);  /* every op counts for marks */
  lsm_batch_free(b);
}
END_TEST

START_TEST(batch_get_reports_put_deleted_and_absent) {
  lsm_batch *b;
  lsm_buffer val = {0};
  int is_deleted = -1;
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  expect_absent(b, "x");  /* empty batch */
  put(b, "k", "value");
  del(b, "gone");
  put(b, "empty", "");
  expect_put(b, "k", "value");
  expect_put(b, "empty", "");
  expect_deleted(b, "gone");
  expect_absent(b, "kk");
  expect_absent(b, "");
  expect_absent(b, "j");
  /* val NULL only tests existence. */
  ck_assert_int_eq(lsm_batch_get(b, "k", 1, &is_deleted, NULL), LSM_OK);
  ck_assert_int_eq(is_deleted, 0);
  /* A buffer is overwritten, not appended to. */
  ck_assert_int_eq(lsm_buffer_set(&val, "junk", 4), LSM_OK);
  ck_assert_int_eq(lsm_batch_get(b, "k", 1, &is_deleted, &val), LSM_OK);
  ck_assert_uint_eq(val.len, 5);
  ck_assert(memcmp(val.data, "value", 5) == 0);
  lsm_buffer_free(&val);
  lsm_batch_free(b);
}
END_TEST

START_TEST(batch_clear_discards_everything) {
  lsm_batch *b;
  lsm_buffer out = {0};
  uint32_t n = 99;
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  put(b, "a", "1");
  del(b, "b");
  lsm_batch_clear(b);
  ck_assert_uint_eq(lsm_batch_count(b), 0);
  ck_assert_uint_eq(lsm_batch_user_bytes(b), 0);
  ck_assert_uint_eq(lsm_batch_mark(b), 0);
  expect_absent(b, "a");
  expect_absent(b, "b");
  ck_assert_int_eq(lsm_batch_encode(b, 1, &out, &n), LSM_OK);
  ck_assert_uint_eq(n, 0);
  ck_assert_uint_eq(out.len, LSM_BATCH_HEADER_SIZE);
  /* Usable again after a clear. */
  put(b, "a", "2");
  expect_put(b, "a", "2");
  ck_assert_uint_eq(lsm_batch_count(b), 1);
  lsm_buffer_free(&out);
  lsm_batch_free(b);
}
END_TEST

START_TEST(batch_iterator_yields_overlay_seqs_newest_first) {
  lsm_batch *b;
  lsm_it *it;
  lsm_ikey k;
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  put(b, "b", "1");  /* op 0 */
  put(b, "a", "2");  /* op 1 */
  del(b, "b");       /* op 2 */
  it = lsm_batch_iter_new(b);
  ck_assert_ptr_nonnull(it);
  lsm_it_first(it);
  ck_assert(lsm_ikey_parse(lsm_it_key(it), &k));
  ck_assert(slice_eq(k.ukey, S("a")));
  ck_assert_uint_eq(k.seq, LSM_SEQ_OVERLAY + 1);
  lsm_it_next(it);
  ck_assert(lsm_ikey_parse(lsm_it_key(it), &k));
  ck_assert(slice_eq(k.ukey, S("b")));
  ck_assert_uint_eq(k.seq, LSM_SEQ_OVERLAY + 2);
  ck_assert_int_eq(k.kind, LSM_KIND_DELETE);
  lsm_it_next(it);
  ck_assert(lsm_ikey_parse(lsm_it_key(it), &k));
  ck_assert(slice_eq(k.ukey, S("b")));
  ck_assert_uint_eq(k.seq, LSM_SEQ_OVERLAY + 0);
  ck_assert(slice_eq(lsm_it_value(it), S("1")));
  lsm_it_next(it);
  ck_assert(!lsm_it_valid(it));
  lsm_it_free(it);

  /* An empty batch iterates as empty. */
  lsm_batch_clear(b);
  it = lsm_batch_iter_new(b);
  ck_assert_ptr_nonnull(it);
  lsm_it_first(it);
  ck_assert(!lsm_it_valid(it));
  lsm_it_free(it);
  lsm_batch_free(b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Savepoints. */

START_TEST(batch_rollback_to_nested_marks_restores_each_state) {
  lsm_batch *b;
  lsm_buffer s0 = {0}, s1 = {0}, s2 = {0}, now = {0};
  uint64_t m1, m2, m3;
  size_t c1, c2, c3;
  uint64_t u1, u2, u3;
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);

  put(b, "a", "a0");
  put(b, "b", "b0");
  m1 = lsm_batch_mark(b);
  dump(b, &s0);
  c1 = lsm_batch_count(b);
  u1 = lsm_batch_user_bytes(b);

  put(b, "a", "a1");
  del(b, "b");
  put(b, "c", "c1");
  m2 = lsm_batch_mark(b);
  dump(b, &s1);
  c2 = lsm_batch_count(b);
  u2 = lsm_batch_user_bytes(b);

  put(b, "b", "b2");
  del(b, "c");
  put(b, "d", "d2");
  m3 = lsm_batch_mark(b);
  dump(b, &s2);
  c3 = lsm_batch_count(b);
  u3 = lsm_batch_user_bytes(b);

  put(b, "a", "a3");
  put(b, "e", "e3");
  del(b, "d");

  /* Innermost first. */
  ck_assert_int_eq(lsm_batch_rollback_to(b, m3), LSM_OK);
  dump(b, &now);
  ck_assert_str_eq((char *)now.data, (char *)s2.data);
  ck_assert_str_eq((char *)s2.data, "a=a1;b=b2;c-;d=d2;");
  ck_assert_uint_eq(lsm_batch_count(b), c3);
  ck_assert_uint_eq(lsm_batch_user_bytes(b), u3);
  ck_assert_uint_eq(lsm_batch_mark(b), m3);
  expect_absent(b, "e");

  /* New work after a rollback, then roll it back too. */
  put(b, "f", "f");
  put(b, "a", "again");
  expect_put(b, "a", "again");
  ck_assert_int_eq(lsm_batch_rollback_to(b, m3), LSM_OK);
  dump(b, &now);
  ck_assert_str_eq((char *)now.data, (char *)s2.data);

  ck_assert_int_eq(lsm_batch_rollback_to(b, m2), LSM_OK);
  dump(b, &now);
  ck_assert_str_eq((char *)now.data, (char *)s1.data);
  ck_assert_str_eq((char *)s1.data, "a=a1;b-;c=c1;");
  ck_assert_uint_eq(lsm_batch_count(b), c2);
  ck_assert_uint_eq(lsm_batch_user_bytes(b), u2);
  expect_deleted(b, "b");
  expect_absent(b, "d");

  /* A mark above the current operation count is misuse. */
  ck_assert_int_eq(lsm_batch_rollback_to(b, m3), LSM_MISUSE);
  dump(b, &now);
  ck_assert_str_eq((char *)now.data, (char *)s1.data);

  ck_assert_int_eq(lsm_batch_rollback_to(b, m1), LSM_OK);
  dump(b, &now);
  ck_assert_str_eq((char *)now.data, (char *)s0.data);
  ck_assert_str_eq((char *)s0.data, "a=a0;b=b0;");
  ck_assert_uint_eq(lsm_batch_count(b), c1);
  ck_assert_uint_eq(lsm_batch_user_bytes(b), u1);

  ck_assert_int_eq(lsm_batch_rollback_to(b, 0), LSM_OK);
  ck_assert_uint_eq(lsm_batch_count(b), 0);
  ck_assert_uint_eq(lsm_batch_user_bytes(b), 0);
  expect_absent(b, "a");

  lsm_buffer_free(&s0);
  lsm_buffer_free(&s1);
  lsm_buffer_free(&s2);
  lsm_buffer_free(&now);
  lsm_batch_free(b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Encoding and replay. */

START_TEST(batch_encode_then_replay_reproduces_contents_with_seqs) {
  lsm_batch *b;
  lsm_buffer out = {0};
  lsm_mem *m;
  lsm_it *it;
  uint32_t n_enc = 0, n_rep = 0;
  uint64_t base = 0;
  static const char *const want_keys[] = {"", "a", "ab", "b", "c"};
  static const int want_kind[] = {LSM_KIND_PUT, LSM_KIND_PUT, LSM_KIND_DELETE,
                                  LSM_KIND_PUT, LSM_KIND_DELETE};
  static const char *const want_vals[] = {"empty-key", "A2", "", "", ""};
  int i;

  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  put(b, "b", "B");
  put(b, "a", "A1");
  put(b, "ab", "AB");
  put(b, "c", "C");
  put(b, "a", "A2");
  del(b, "ab");
  del(b, "c");
  put(b, "", "empty-key");
  put(b, "b", "");
  ck_assert_uint_eq(lsm_batch_count(b), 5);

  /* encode appends: existing bytes stay in front. */
  ck_assert_int_eq(lsm_buffer_append(&out, "XYZ", 3), LSM_OK);
  ck_assert_int_eq(lsm_batch_encode(b, 1000, &out, &n_enc), LSM_OK);
  ck_assert_uint_eq(n_enc, 5);
  ck_assert(memcmp(out.data, "XYZ", 3) == 0);
  ck_assert_uint_eq(lsm_get_u64(out.data + 3), 1000);
  ck_assert_uint_eq(lsm_get_u32(out.data + 11), 5);

  ck_assert_int_eq(lsm_mem_new(&m), LSM_OK);
  ck_assert_int_eq(lsm_batch_replay(lsm_slice_make(out.data + 3, out.len - 3),
                                    m, &base, &n_rep),
                   LSM_OK);
  ck_assert_uint_eq(base, 1000);
  ck_assert_uint_eq(n_rep, 5);
  ck_assert_uint_eq(lsm_mem_count(m), 5);

  it = lsm_mem_iter_new(m);
  ck_assert_ptr_nonnull(it);
  i = 0;
  for (lsm_it_first(it); lsm_it_valid(it); lsm_it_next(it), i++) {
    lsm_ikey k;
    ck_assert_int_lt(i, 5);
    ck_assert(lsm_ikey_parse(lsm_it_key(it), &k));
    ck_assert(slice_eq(k.ukey, S(want_keys[i])));
    ck_assert_uint_eq(k.seq, 1000 + (uint64_t)i);
    ck_assert_int_eq(k.kind, want_kind[i]);
    ck_assert(slice_eq(lsm_it_value(it), S(want_vals[i])));
  }
  ck_assert_int_eq(i, 5);
  lsm_it_free(it);

  /* The batch is unchanged by encoding. */
  ck_assert_uint_eq(lsm_batch_count(b), 5);
  expect_put(b, "a", "A2");

  lsm_mem_unref(m);
  lsm_buffer_free(&out);
  lsm_batch_free(b);
}
END_TEST

START_TEST(batch_encode_is_newest_op_per_key_in_key_order) {
  lsm_batch *b;
  lsm_buffer out = {0};
  uint32_t n = 0;
  static const unsigned char want_body[] = {
      LSM_KIND_DELETE, 0,                     /* delete "" */
      LSM_KIND_PUT,    1, 'a', 0,             /* put a="" */
      LSM_KIND_PUT,    2, 'a', 'b', 1, '2',   /* put ab=2 */
      LSM_KIND_PUT,    1, 'z', 2, 'z', '2',   /* put z=z2 */
  };
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  put(b, "z", "z1");
  put(b, "ab", "1");
  put(b, "a", "");
  del(b, "z");
  put(b, "z", "z2");
  del(b, "");
  put(b, "ab", "2");
  ck_assert_int_eq(lsm_batch_encode(b, 77, &out, &n), LSM_OK);
  ck_assert_uint_eq(n, 4);
  ck_assert_uint_eq(out.len, LSM_BATCH_HEADER_SIZE + sizeof(want_body));
  ck_assert_uint_eq(lsm_get_u64(out.data), 77);
  ck_assert_uint_eq(lsm_get_u32(out.data + 8), 4);
  ck_assert(memcmp(out.data + LSM_BATCH_HEADER_SIZE, want_body,
                   sizeof(want_body)) == 0);

  /* After a rollback, the state at the mark: z=z1, ab=1, a="". */
  ck_assert_int_eq(lsm_batch_rollback_to(b, 3), LSM_OK);
  out.len = 0;
  ck_assert_int_eq(lsm_batch_encode(b, 5, &out, &n), LSM_OK);
  ck_assert_uint_eq(n, 3);
  ck_assert_uint_eq(lsm_get_u32(out.data + 8), 3);
  {
    static const unsigned char want[] = {
        LSM_KIND_PUT, 1, 'a', 0,
        LSM_KIND_PUT, 2, 'a', 'b', 1, '1',
        LSM_KIND_PUT, 1, 'z', 2, 'z', '1',
    };
    ck_assert_uint_eq(out.len, LSM_BATCH_HEADER_SIZE + sizeof(want));
    ck_assert(memcmp(out.data + LSM_BATCH_HEADER_SIZE, want, sizeof(want)) ==
              0);
  }
  lsm_buffer_free(&out);
  lsm_batch_free(b);
}
END_TEST

/* Keys sharing their first 8 bytes (sorted on the rest), keys that are
** prefixes of others, and bytes >= 0x80 (unsigned order). */
START_TEST(batch_encode_sorts_keys_with_common_prefixes) {
  uint64_t s = lsm_test_seed("batch_encode_sorts_keys_with_common_prefixes");
  lsm_batch *b;
  lsm_buffer out = {0};
  const unsigned char *p, *end;
  uint32_t n = 0, i;
  lsm_slice prev = lsm_slice_make(NULL, 0);
  int round;
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  for (round = 0; round < 20; round++) {
    int ops = 1 + (int)(lsm_test_next(&s) % 3000);
    lsm_batch_clear(b);
    for (i = 0; i < (uint32_t)ops; i++) {
      unsigned char key[20];
      size_t len = (size_t)(lsm_test_next(&s) % 13), j;
      for (j = 0; j < len; j++) {
        /* Mostly the same leading bytes. */
        key[j] = j < 9 && lsm_test_next(&s) % 8 ? (unsigned char)(0x7e + j % 4)
                                      : (unsigned char)lsm_test_next(&s);
      }
      REQUIRE(lsm_batch_put(b, key, len, "v", 1) == LSM_OK);
    }
    out.len = 0;
    ck_assert_int_eq(lsm_batch_encode(b, 1, &out, &n), LSM_OK);
    ck_assert_uint_eq(n, lsm_batch_count(b));
    p = out.data + LSM_BATCH_HEADER_SIZE;
    end = out.data + out.len;
    for (i = 0; i < n; i++) {
      lsm_slice k, v;
      REQUIRE(*p++ == LSM_KIND_PUT);
      p = lsm_get_length_prefixed(p, end, &k);
      REQUIRE(p != NULL);
      p = lsm_get_length_prefixed(p, end, &v);
      REQUIRE(p != NULL);
      if (i > 0) REQUIRE(lsm_slice_cmp(prev, k) < 0);
      prev = k;
    }
    ck_assert(p == end);
  }
  lsm_buffer_free(&out);
  lsm_batch_free(b);
}
END_TEST

/* Payloads may repeat a key (the format allows it; older writers and other
** producers may emit them): each op gets its own sequence number and the
** last one wins. */
START_TEST(batch_replay_of_repeated_key_leaves_last_value_visible) {
  lsm_buffer pl = {0};
  lsm_mem *m;
  uint32_t n = 0;
  uint64_t base = 0;
  int kind;
  lsm_slice v;
  static const unsigned char body[] = {
      LSM_KIND_PUT,    1, 'k', 5, 'f', 'i', 'r', 's', 't',  /* seq 50 */
      LSM_KIND_PUT,    1, 'o', 1, 'o',                      /* seq 51 */
      LSM_KIND_DELETE, 1, 'k',                              /* seq 52 */
      LSM_KIND_PUT,    1, 'k', 4, 'l', 'a', 's', 't',       /* seq 53 */
  };
  ck_assert_int_eq(lsm_buffer_append_u64(&pl, 50), LSM_OK);
  ck_assert_int_eq(lsm_buffer_append_u32(&pl, 4), LSM_OK);
  ck_assert_int_eq(lsm_buffer_append(&pl, body, sizeof(body)), LSM_OK);
  ck_assert_int_eq(lsm_mem_new(&m), LSM_OK);
  ck_assert_int_eq(lsm_batch_replay(lsm_slice_make(pl.data, pl.len), m,
                                    &base, &n),
                   LSM_OK);
  ck_assert_uint_eq(base, 50);
  ck_assert_uint_eq(n, 4);
  ck_assert_uint_eq(lsm_mem_count(m), 4);
  ck_assert(lsm_mem_get(m, S("k"), LSM_SEQ_MAX, &kind, &v));
  ck_assert(kind == LSM_KIND_PUT && slice_eq(v, S("last")));
  ck_assert(lsm_mem_get(m, S("k"), 53, &kind, &v));
  ck_assert(kind == LSM_KIND_PUT && slice_eq(v, S("last")));
  ck_assert(lsm_mem_get(m, S("k"), 52, &kind, &v));
  ck_assert_int_eq(kind, LSM_KIND_DELETE);
  ck_assert(lsm_mem_get(m, S("o"), 53, &kind, &v));
  ck_assert(kind == LSM_KIND_PUT && slice_eq(v, S("o")));
  lsm_mem_unref(m);
  lsm_buffer_free(&pl);
}
END_TEST

START_TEST(batch_replay_of_empty_payload_inserts_nothing) {
  lsm_batch *b;
  lsm_buffer out = {0};
  lsm_mem *m;
  uint32_t n = 7;
  uint64_t base = 7;
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  ck_assert_int_eq(lsm_batch_encode(b, 42, &out, &n), LSM_OK);
  ck_assert_uint_eq(n, 0);
  ck_assert_int_eq(lsm_mem_new(&m), LSM_OK);
  ck_assert_int_eq(lsm_batch_replay(lsm_slice_make(out.data, out.len), m,
                                    &base, &n),
                   LSM_OK);
  ck_assert_uint_eq(base, 42);
  ck_assert_uint_eq(n, 0);
  ck_assert_uint_eq(lsm_mem_count(m), 0);
  lsm_mem_unref(m);
  lsm_buffer_free(&out);
  lsm_batch_free(b);
}
END_TEST

/* Replay payload p into a fresh memtable and expect LSM_CORRUPT with
** nothing inserted. */
static void expect_corrupt(const unsigned char *p, size_t n, const char *why) {
  lsm_mem *m;
  uint64_t base;
  uint32_t cnt;
  int rc;
  ck_assert_int_eq(lsm_mem_new(&m), LSM_OK);
  rc = lsm_batch_replay(lsm_slice_make(p, n), m, &base, &cnt);
  ck_assert_msg(rc == LSM_CORRUPT, "%s: replay returned %d, want CORRUPT", why,
                rc);
  ck_assert_msg(lsm_mem_count(m) == 0, "%s: %llu entries inserted", why,
                (unsigned long long)lsm_mem_count(m));
  lsm_mem_unref(m);
}

/* A small valid payload: put "k1"="v1", delete "k2", put "k3"="value3". */
static void sample_payload(lsm_buffer *out) {
  lsm_batch *b;
  uint32_t n;
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  put(b, "k1", "v1");
  del(b, "k2");
  put(b, "k3", "value3");
  out->len = 0;
  ck_assert_int_eq(lsm_batch_encode(b, 5, out, &n), LSM_OK);
  ck_assert_uint_eq(n, 3);
  lsm_batch_free(b);
}

START_TEST(batch_replay_rejects_truncated_payloads) {
  lsm_buffer pl = {0};
  size_t len;
  char why[64];
  sample_payload(&pl);
  /* Every proper prefix is malformed: the header or an op is cut short, or
  ** fewer ops than the count follow. */
  for (len = 0; len < pl.len; len++) {
    snprintf(why, sizeof(why), "prefix of %zu/%zu bytes", len, pl.len);
    expect_corrupt(pl.data, len, why);
  }
  lsm_buffer_free(&pl);
}
END_TEST

START_TEST(batch_replay_rejects_malformed_payloads) {
  lsm_buffer pl = {0}, bad = {0};
  size_t i;
  unsigned char *kind_byte;
  static const unsigned char huge_len[] = {0xff, 0xff, 0xff, 0xff, 0x0f};

  sample_payload(&pl);
  /* Layout: header(12) | 01 02 k1 02 v1 | 00 02 k2 | 01 02 k3 06 value3 */
  kind_byte = pl.data + LSM_BATCH_HEADER_SIZE;
  ck_assert_uint_eq(kind_byte[0], LSM_KIND_PUT);

  /* Trailing garbage after the last op. */
  ck_assert_int_eq(lsm_buffer_set(&bad, pl.data, pl.len), LSM_OK);
  ck_assert_int_eq(lsm_buffer_append(&bad, "\0", 1), LSM_OK);
  expect_corrupt(bad.data, bad.len, "trailing byte");

  /* Count larger, and smaller, than the ops present. */
  ck_assert_int_eq(lsm_buffer_set(&bad, pl.data, pl.len), LSM_OK);
  lsm_put_u32(bad.data + 8, 4);
  expect_corrupt(bad.data, bad.len, "count too large");
  lsm_put_u32(bad.data + 8, 2);
  expect_corrupt(bad.data, bad.len, "count too small");
  lsm_put_u32(bad.data + 8, 0xffffffffu);
  expect_corrupt(bad.data, bad.len, "count huge");

  /* Unknown kinds, first op and last op. */
  for (i = 2; i < 256; i += 37) {
    ck_assert_int_eq(lsm_buffer_set(&bad, pl.data, pl.len), LSM_OK);
    bad.data[LSM_BATCH_HEADER_SIZE] = (unsigned char)i;
    expect_corrupt(bad.data, bad.len, "bad kind of first op");
    ck_assert_int_eq(lsm_buffer_set(&bad, pl.data, pl.len), LSM_OK);
    bad.data[LSM_BATCH_HEADER_SIZE + 7 + 4] = (unsigned char)i;
    expect_corrupt(bad.data, bad.len, "bad kind of last op");
  }

  /* A PUT turned into a DELETE leaves its value as garbage. */
  ck_assert_int_eq(lsm_buffer_set(&bad, pl.data, pl.len), LSM_OK);
  bad.data[LSM_BATCH_HEADER_SIZE] = LSM_KIND_DELETE;
  expect_corrupt(bad.data, bad.len, "put read as delete");

  /* Key length beyond the payload; a varint that never ends. */
  ck_assert_int_eq(lsm_buffer_set(&bad, pl.data, pl.len), LSM_OK);
  bad.data[LSM_BATCH_HEADER_SIZE + 1] = 0x7f;
  expect_corrupt(bad.data, bad.len, "key length out of bounds");
  bad.len = LSM_BATCH_HEADER_SIZE + 1;
  ck_assert_int_eq(lsm_buffer_append(&bad, huge_len, sizeof(huge_len)),
                   LSM_OK);
  ck_assert_int_eq(lsm_buffer_append(&bad, "abc", 3), LSM_OK);
  expect_corrupt(bad.data, bad.len, "huge key length");
  memset(bad.data + LSM_BATCH_HEADER_SIZE + 1, 0x80, bad.len -
         LSM_BATCH_HEADER_SIZE - 1);
  expect_corrupt(bad.data, bad.len, "unterminated varint");

  /* Value length beyond the payload (last op's value length byte). */
  ck_assert_int_eq(lsm_buffer_set(&bad, pl.data, pl.len), LSM_OK);
  bad.data[pl.len - 7] = 7;
  expect_corrupt(bad.data, bad.len, "value length out of bounds");

  /* Sequence numbers past LSM_SEQ_MAX. */
  ck_assert_int_eq(lsm_buffer_set(&bad, pl.data, pl.len), LSM_OK);
  lsm_put_u64(bad.data, LSM_SEQ_MAX - 1);  /* needs MAX-1 .. MAX+1 */
  expect_corrupt(bad.data, bad.len, "seq overflow");
  lsm_put_u64(bad.data, UINT64_MAX);
  expect_corrupt(bad.data, bad.len, "seq_base out of range");
  lsm_put_u64(bad.data, LSM_SEQ_MAX - 2);  /* MAX-2 .. MAX: fine */
  {
    lsm_mem *m;
    uint64_t base;
    uint32_t n;
    ck_assert_int_eq(lsm_mem_new(&m), LSM_OK);
    ck_assert_int_eq(lsm_batch_replay(lsm_slice_make(bad.data, bad.len), m,
                                      &base, &n),
                     LSM_OK);
    ck_assert_uint_eq(lsm_mem_count(m), 3);
    lsm_mem_unref(m);
  }

  lsm_buffer_free(&pl);
  lsm_buffer_free(&bad);
}
END_TEST

START_TEST(batch_replay_of_garbled_payloads_is_all_or_nothing) {
  uint64_t s = lsm_test_seed("batch_replay_of_garbled_payloads_is_all_or_nothing");
  lsm_buffer pl = {0}, bad = {0};
  int round, corrupt = 0;
  sample_payload(&pl);
  for (round = 0; round < 3000; round++) {
    lsm_mem *m;
    uint64_t base;
    uint32_t n;
    int flips = 1 + (int)(lsm_test_next(&s) % 3), f, rc;
    ck_assert_int_eq(lsm_buffer_set(&bad, pl.data, pl.len), LSM_OK);
    /* Garble the body (the header's seq_base is not checksummed here and
    ** any value in range is legitimate), sometimes cut or extend it. */
    for (f = 0; f < flips; f++) {
      size_t at = 8 + (size_t)(lsm_test_next(&s) % (bad.len - 8));
      bad.data[at] = (unsigned char)lsm_test_next(&s);
    }
    if (lsm_test_next(&s) % 4 == 0) bad.len -= (size_t)(lsm_test_next(&s) % bad.len);
    if (lsm_test_next(&s) % 8 == 0) {
      unsigned char extra = (unsigned char)lsm_test_next(&s);
      ck_assert_int_eq(lsm_buffer_append(&bad, &extra, 1), LSM_OK);
    }
    ck_assert_int_eq(lsm_mem_new(&m), LSM_OK);
    rc = lsm_batch_replay(lsm_slice_make(bad.data, bad.len), m, &base, &n);
    if (rc == LSM_CORRUPT) {
      corrupt++;
      ck_assert_uint_eq(lsm_mem_count(m), 0);
    } else {
      /* Some garbling still parses (e.g. a changed key byte): then every
      ** op is inserted. */
      ck_assert_int_eq(rc, LSM_OK);
      ck_assert_uint_eq(lsm_mem_count(m), n);
      ck_assert_uint_eq(n, lsm_get_u32(bad.data + 8));
    }
    lsm_mem_unref(m);
  }
  ck_assert_int_gt(corrupt, 0);
  lsm_buffer_free(&pl);
  lsm_buffer_free(&bad);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Randomised comparison with a model. */

#define NKEYS 12
#define VAL_MAX 24

typedef struct model {
  int state[NKEYS];           /* 0 absent, 1 deleted, 2 put */
  char val[NKEYS][VAL_MAX];
  uint64_t n_ops;
} model;

static const char *model_key(int i) {
  /* "" and prefixes of each other, to exercise ordering edge cases. */
  static const char *const keys[NKEYS] = {
      "", "a", "aa", "aaa", "ab", "b", "ba", "c", "cat", "catalog", "d", "zz"};
  return keys[i];
}

static void check_against_model(lsm_batch *b, const model *md) {
  size_t count = 0;
  uint64_t bytes = 0;
  lsm_buffer got = {0}, want = {0};
  int i;
  for (i = 0; i < NKEYS; i++) {
    const char *k = model_key(i);
    if (md->state[i] == 0) {
      expect_absent(b, k);
      continue;
    }
    count++;
    bytes += strlen(k);
    ck_assert_int_eq(lsm_buffer_append(&want, k, strlen(k)), LSM_OK);
    if (md->state[i] == 1) {
      expect_deleted(b, k);
      ck_assert_int_eq(lsm_buffer_append(&want, "-", 1), LSM_OK);
    } else {
      expect_put(b, k, md->val[i]);
      bytes += strlen(md->val[i]);
      ck_assert_int_eq(lsm_buffer_append(&want, "=", 1), LSM_OK);
      ck_assert_int_eq(
          lsm_buffer_append(&want, md->val[i], strlen(md->val[i])), LSM_OK);
    }
    ck_assert_int_eq(lsm_buffer_append(&want, ";", 1), LSM_OK);
  }
  ck_assert_int_eq(lsm_buffer_append(&want, "", 1), LSM_OK);
  ck_assert_uint_eq(lsm_batch_count(b), count);
  ck_assert_uint_eq(lsm_batch_user_bytes(b), bytes);
  ck_assert_uint_eq(lsm_batch_mark(b), md->n_ops);
  dump(b, &got);
  ck_assert_str_eq((char *)got.data, (char *)want.data);
  lsm_buffer_free(&got);
  lsm_buffer_free(&want);
}

/* Encode b, replay it, and check the memtable holds exactly the model. */
static void check_roundtrip(lsm_batch *b, const model *md, uint64_t base) {
  lsm_buffer pl = {0};
  lsm_mem *m;
  lsm_it *it;
  uint32_t n_enc, n_rep;
  uint64_t got_base;
  int i, seen = 0;
  ck_assert_int_eq(lsm_batch_encode(b, base, &pl, &n_enc), LSM_OK);
  ck_assert_uint_eq(n_enc, lsm_batch_count(b));
  ck_assert_int_eq(lsm_mem_new(&m), LSM_OK);
  ck_assert_int_eq(lsm_batch_replay(lsm_slice_make(pl.data, pl.len), m,
                                    &got_base, &n_rep),
                   LSM_OK);
  ck_assert_uint_eq(got_base, base);
  ck_assert_uint_eq(n_rep, n_enc);
  it = lsm_mem_iter_new(m);
  ck_assert_ptr_nonnull(it);
  lsm_it_first(it);
  for (i = 0; i < NKEYS; i++) {
    lsm_ikey k;
    if (md->state[i] == 0) continue;
    ck_assert(lsm_it_valid(it));
    ck_assert(lsm_ikey_parse(lsm_it_key(it), &k));
    ck_assert(slice_eq(k.ukey, S(model_key(i))));
    ck_assert_uint_eq(k.seq, base + (uint64_t)seen);
    if (md->state[i] == 1) {
      ck_assert_int_eq(k.kind, LSM_KIND_DELETE);
    } else {
      ck_assert_int_eq(k.kind, LSM_KIND_PUT);
      ck_assert(slice_eq(lsm_it_value(it), S(md->val[i])));
    }
    seen++;
    lsm_it_next(it);
  }
  ck_assert(!lsm_it_valid(it));
  lsm_it_free(it);
  lsm_mem_unref(m);
  lsm_buffer_free(&pl);
}

START_TEST(batch_random_ops_match_model) {
  enum { STEPS = 4000, MAX_MARKS = 8 };
  uint64_t s = lsm_test_seed("batch_random_ops_match_model");
  lsm_batch *b;
  model md;
  model saved[MAX_MARKS];
  uint64_t marks[MAX_MARKS];
  int n_marks = 0, step;

  memset(&md, 0, sizeof(md));
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  for (step = 0; step < STEPS; step++) {
    unsigned r = (unsigned)(lsm_test_next(&s) % 100);
    int k = (int)(lsm_test_next(&s) % NKEYS);
    const char *key = model_key(k);
    if (r < 45) {
      snprintf(md.val[k], VAL_MAX, "v%d-%u", step,
               (unsigned)(lsm_test_next(&s) % 1000));
      if (lsm_test_next(&s) % 10 == 0) md.val[k][0] = '\0';  /* empty values too */
      ck_assert_int_eq(lsm_batch_put(b, key, strlen(key), md.val[k],
                                     strlen(md.val[k])),
                       LSM_OK);
      md.state[k] = 2;
      md.n_ops++;
    } else if (r < 70) {
      ck_assert_int_eq(lsm_batch_delete(b, key, strlen(key)), LSM_OK);
      md.state[k] = 1;
      md.val[k][0] = '\0';
      md.n_ops++;
    } else if (r < 80) {
      if (n_marks < MAX_MARKS) {
        marks[n_marks] = lsm_batch_mark(b);
        ck_assert_uint_eq(marks[n_marks], md.n_ops);
        saved[n_marks] = md;
        n_marks++;
      }
    } else if (r < 88) {
      if (n_marks > 0) {
        /* Roll back to a random savepoint; the ones inside it are gone,
        ** it stays usable (as with SQL savepoints). */
        int j = (int)(lsm_test_next(&s) % (uint64_t)n_marks);
        ck_assert_int_eq(lsm_batch_rollback_to(b, marks[j]), LSM_OK);
        md = saved[j];
        n_marks = j + 1;
      }
    } else if (r < 90) {
      lsm_batch_clear(b);
      memset(&md, 0, sizeof(md));
      n_marks = 0;
    } else if (r < 95) {
      check_roundtrip(b, &md, 1 + lsm_test_next(&s) % 1000000);
    } else {
      /* Release the innermost savepoint without rolling back. */
      if (n_marks > 0) n_marks--;
    }
    check_against_model(b, &md);
  }
  check_roundtrip(b, &md, 77);
  lsm_batch_free(b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Savepoints and the index, more closely. */

START_TEST(batch_rollback_restores_count_and_user_bytes) {
  lsm_batch *b;
  uint64_t m0, m1;
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  put(b, "key", "12345");               /* 3+5 */
  put(b, "k2", "v");                    /* 2+1 */
  m0 = lsm_batch_mark(b);
  ck_assert_uint_eq(lsm_batch_count(b), 2);
  ck_assert_uint_eq(lsm_batch_user_bytes(b), 11);

  put(b, "key", "1");                   /* 3+1 replaces 3+5 */
  del(b, "k2");                         /* 2+0 replaces 2+1 */
  put(b, "new", "xyz");                 /* 3+3 */
  put(b, "key", "123456789");           /* 3+9 replaces 3+1 */
  ck_assert_uint_eq(lsm_batch_count(b), 3);
  ck_assert_uint_eq(lsm_batch_user_bytes(b), 12 + 2 + 6);
  m1 = lsm_batch_mark(b);

  del(b, "new");
  del(b, "gone");
  ck_assert_uint_eq(lsm_batch_count(b), 4);
  ck_assert_uint_eq(lsm_batch_user_bytes(b), 12 + 2 + 3 + 4);

  /* Back to m1: "gone" disappears, "new" is a put again. */
  ck_assert_int_eq(lsm_batch_rollback_to(b, m1), LSM_OK);
  ck_assert_uint_eq(lsm_batch_count(b), 3);
  ck_assert_uint_eq(lsm_batch_user_bytes(b), 12 + 2 + 6);
  expect_put(b, "new", "xyz");
  expect_absent(b, "gone");
  expect_put(b, "key", "123456789");

  /* Back to m0: every key returns to its value before the mark. */
  ck_assert_int_eq(lsm_batch_rollback_to(b, m0), LSM_OK);
  ck_assert_uint_eq(lsm_batch_count(b), 2);
  ck_assert_uint_eq(lsm_batch_user_bytes(b), 11);
  expect_put(b, "key", "12345");
  expect_put(b, "k2", "v");
  expect_absent(b, "new");

  /* Writing again after the rollback counts from the restored state. */
  put(b, "new", "ab");
  put(b, "key", "");
  ck_assert_uint_eq(lsm_batch_count(b), 3);
  ck_assert_uint_eq(lsm_batch_user_bytes(b), 3 + 3 + 5);
  ck_assert_uint_eq(lsm_batch_mark(b), m0 + 2);
  lsm_batch_free(b);
}
END_TEST

/* Check every key of a model of KEYS keys against the batch, and the
** batch's count and user bytes.  st[k]: 0 absent, 1 deleted, else 2 + the
** value number. */
static void check_keys(lsm_batch *b, const uint32_t *st, int n_keys) {
  size_t count = 0;
  uint64_t bytes = 0;
  lsm_buffer got = {0};
  char key[16], val[32];
  int i;
  for (i = 0; i < n_keys; i++) {
    int is_deleted = -1, rc;
    snprintf(key, sizeof key, "key%d", i);
    rc = lsm_batch_get(b, key, strlen(key), &is_deleted, &got);
    if (st[i] == 0) {
      if (rc != LSM_NOTFOUND) {
        ck_abort_msg("%s: expected absent, got %d", key, rc);
      }
      continue;
    }
    if (rc != LSM_OK) ck_abort_msg("%s: expected present, got %d", key, rc);
    count++;
    bytes += strlen(key);
    if (st[i] == 1) {
      REQUIRE(is_deleted == 1);
    } else {
      snprintf(val, sizeof val, "v%u", (unsigned)(st[i] - 2));
      REQUIRE(is_deleted == 0);
      REQUIRE(got.len == strlen(val) && memcmp(got.data, val, got.len) == 0);
      bytes += strlen(val);
    }
  }
  ck_assert_uint_eq(lsm_batch_count(b), count);
  ck_assert_uint_eq(lsm_batch_user_bytes(b), bytes);
  lsm_buffer_free(&got);
}

/* Many keys, so the hash index grows (also between a mark and the rollback
** to it, which reorders probe clusters) and rollbacks remove entries from
** the middle of clusters.  Each round starts from a cleared batch. */
START_TEST(batch_many_keys_with_rollbacks_match_model) {
  enum { KEYS = 3000, ROUNDS = 80, MAX_MARKS = 6 };
  uint64_t s = lsm_test_seed("batch_many_keys_with_rollbacks_match_model");
  static uint32_t st[KEYS], saved[MAX_MARKS][KEYS];
  static uint64_t saved_mark[MAX_MARKS];
  int round;
  lsm_batch *b;
  char key[16], val[32];

  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  for (round = 0; round < ROUNDS; round++) {
    int n_keys = 1 + (int)(lsm_test_next(&s) % KEYS);
    int steps = (int)(lsm_test_next(&s) % 4000), step, n_marks = 0;
    lsm_batch_clear(b);
    memset(st, 0, sizeof(st));
    for (step = 0; step < steps; step++) {
      unsigned r = (unsigned)(lsm_test_next(&s) % 1000);
      /* Skewed key choice: repeats are common. */
      int k = (int)(lsm_test_next(&s) % (uint64_t)(lsm_test_next(&s) % 2 && n_keys > 50 ? 50
                                                                    : n_keys));
      snprintf(key, sizeof key, "key%d", k);
      if (r < 600) {
        uint32_t v = (uint32_t)(lsm_test_next(&s) % 100000);
        snprintf(val, sizeof val, "v%u", (unsigned)v);
        REQUIRE(lsm_batch_put(b, key, strlen(key), val, strlen(val)) == LSM_OK);
        st[k] = 2 + v;
      } else if (r < 900) {
        REQUIRE(lsm_batch_delete(b, key, strlen(key)) == LSM_OK);
        st[k] = 1;
      } else if (r < 960) {
        if (n_marks < MAX_MARKS) {
          saved_mark[n_marks] = lsm_batch_mark(b);
          memcpy(saved[n_marks], st, sizeof(st));
          n_marks++;
        }
      } else if (n_marks > 0) {
        int j = (int)(lsm_test_next(&s) % (uint64_t)n_marks);
        ck_assert_int_eq(lsm_batch_rollback_to(b, saved_mark[j]), LSM_OK);
        ck_assert_uint_eq(lsm_batch_mark(b), saved_mark[j]);
        memcpy(st, saved[j], sizeof(st));
        n_marks = j + 1;
        if (lsm_test_next(&s) % 8 == 0) check_keys(b, st, n_keys);
      }
    }
    check_keys(b, st, n_keys);
    /* Finally roll back to the first mark, the case that undoes the most. */
    if (n_marks > 0) {
      ck_assert_int_eq(lsm_batch_rollback_to(b, saved_mark[0]), LSM_OK);
      check_keys(b, saved[0], n_keys);
    }
  }
  lsm_batch_free(b);
}
END_TEST

/* Collect the user keys (with values) an internal iterator shows at a
** visibility limit, as dbiter.c would: newest entry with seq < limit per
** key, deletes hidden.  "k=v;" per key. */
static void dump_visible(lsm_it *it, uint64_t limit, lsm_buffer *out) {
  lsm_buffer prev = {0};
  int have_prev = 0;
  out->len = 0;
  for (lsm_it_first(it); lsm_it_valid(it); lsm_it_next(it)) {
    lsm_ikey k;
    ck_assert(lsm_ikey_parse(lsm_it_key(it), &k));
    if (k.seq >= limit) continue;
    if (have_prev && slice_eq(lsm_slice_make(prev.data, prev.len), k.ukey))
      continue;
    have_prev = 1;
    ck_assert_int_eq(lsm_buffer_set(&prev, k.ukey.p, k.ukey.n), LSM_OK);
    if (k.kind == LSM_KIND_DELETE) continue;
    ck_assert_int_eq(lsm_buffer_append(out, k.ukey.p, k.ukey.n), LSM_OK);
    ck_assert_int_eq(lsm_buffer_append(out, "=", 1), LSM_OK);
    ck_assert_int_eq(lsm_buffer_append(out, lsm_it_value(it).p,
                                       lsm_it_value(it).n), LSM_OK);
    ck_assert_int_eq(lsm_buffer_append(out, ";", 1), LSM_OK);
  }
  ck_assert_int_eq(lsm_buffer_append(out, "", 1), LSM_OK);
  lsm_buffer_free(&prev);
}

START_TEST(batch_iterators_across_rollback_and_later_writes) {
  lsm_batch *b;
  lsm_it *it1, *it2, *it3, *it4;
  uint64_t lim1, lim2, lim3, lim4, m;
  lsm_buffer got = {0};
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);

  put(b, "a", "1");
  put(b, "b", "1");
  it1 = lsm_batch_iter_new(b);
  ck_assert_ptr_nonnull(it1);
  lim1 = LSM_SEQ_OVERLAY + lsm_batch_mark(b);
  m = lsm_batch_mark(b);

  put(b, "a", "2");
  del(b, "b");
  put(b, "c", "2");
  it2 = lsm_batch_iter_new(b);
  ck_assert_ptr_nonnull(it2);
  lim2 = LSM_SEQ_OVERLAY + lsm_batch_mark(b);

  /* Roll back below it2's view, then write other things at the same op
  ** numbers. */
  ck_assert_int_eq(lsm_batch_rollback_to(b, m), LSM_OK);
  put(b, "d", "3");
  put(b, "a", "3");
  it3 = lsm_batch_iter_new(b);
  ck_assert_ptr_nonnull(it3);
  lim3 = LSM_SEQ_OVERLAY + lsm_batch_mark(b);

  /* A rollback to a mark at or above what it3 indexed keeps its view. */
  put(b, "e", "4");
  ck_assert_int_eq(lsm_batch_rollback_to(b, lsm_batch_mark(b) - 1), LSM_OK);
  put(b, "f", "4");
  it4 = lsm_batch_iter_new(b);
  ck_assert_ptr_nonnull(it4);
  lim4 = LSM_SEQ_OVERLAY + lsm_batch_mark(b);

  dump_visible(it1, lim1, &got);
  ck_assert_str_eq((char *)got.data, "a=1;b=1;");
  dump_visible(it2, lim2, &got);
  ck_assert_str_eq((char *)got.data, "a=2;c=2;");
  dump_visible(it3, lim3, &got);
  ck_assert_str_eq((char *)got.data, "a=3;b=1;d=3;");
  dump_visible(it4, lim4, &got);
  ck_assert_str_eq((char *)got.data, "a=3;b=1;d=3;f=4;");

  /* Iterators outlive a clear and the batch's later use. */
  lsm_batch_clear(b);
  put(b, "z", "5");
  dump_visible(it2, lim2, &got);
  ck_assert_str_eq((char *)got.data, "a=2;c=2;");
  dump_visible(it4, lim4, &got);
  ck_assert_str_eq((char *)got.data, "a=3;b=1;d=3;f=4;");
  dump(b, &got);
  ck_assert_str_eq((char *)got.data, "z=5;");

  lsm_it_free(it1);
  lsm_it_free(it2);
  lsm_it_free(it3);
  lsm_it_free(it4);
  lsm_buffer_free(&got);
  lsm_batch_free(b);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Through a real database. */

static lsm_db *open_db(const char *dir) {
  lsm_db *db = NULL;
  int rc = lsm_open(dir, NULL, &db);
  ck_assert_msg(rc == LSM_OK, "open %s: %d %s", dir, rc,
                db ? lsm_errmsg(db) : "");
  return db;
}

/* Everything an lsm_iter shows, as "k=v;". */
static void scan(lsm_iter *it, lsm_buffer *out) {
  out->len = 0;
  ck_assert_int_eq(lsm_iter_first(it), LSM_OK);
  for (; lsm_iter_valid(it); lsm_iter_next(it)) {
    size_t kl, vl;
    const void *k = lsm_iter_key(it, &kl);
    const void *v = lsm_iter_value(it, &vl);
    ck_assert_int_eq(lsm_buffer_append(out, k, kl), LSM_OK);
    ck_assert_int_eq(lsm_buffer_append(out, "=", 1), LSM_OK);
    ck_assert_int_eq(lsm_buffer_append(out, v, vl), LSM_OK);
    ck_assert_int_eq(lsm_buffer_append(out, ";", 1), LSM_OK);
  }
  ck_assert_int_eq(lsm_iter_status(it), LSM_OK);
  ck_assert_int_eq(lsm_buffer_append(out, "", 1), LSM_OK);
}

START_TEST(batch_overlay_iterator_does_not_see_later_writes) {
  lsm_db *db = open_db("overlay_later");
  lsm_batch *b;
  lsm_iter *it1, *it2, *it3;
  lsm_buffer got = {0};
  uint64_t m;

  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  put(b, "base1", "c");
  put(b, "base2", "c");
  ck_assert_int_eq(lsm_write(db, b, 0), LSM_OK);
  lsm_batch_clear(b);

  put(b, "x", "1");
  ck_assert_int_eq(lsm_iter_new(db, NULL, b, &it1), LSM_OK);
  put(b, "y", "2");
  del(b, "base1");
  put(b, "x", "changed");
  m = lsm_batch_mark(b);
  ck_assert_int_eq(lsm_iter_new(db, NULL, b, &it2), LSM_OK);
  put(b, "w", "3");
  /* it2 indexed the batch up to m; rolling back below that and writing
  ** again reuses op numbers it2 could see. */
  ck_assert_int_eq(lsm_batch_rollback_to(b, 1), LSM_OK);
  put(b, "v", "4");
  put(b, "x", "5");
  ck_assert_int_eq(lsm_iter_new(db, NULL, b, &it3), LSM_OK);
  ck_assert_uint_lt(lsm_batch_mark(b), m);

  scan(it1, &got);
  ck_assert_str_eq((char *)got.data, "base1=c;base2=c;x=1;");
  scan(it2, &got);
  ck_assert_str_eq((char *)got.data, "base2=c;x=changed;y=2;");
  scan(it3, &got);
  ck_assert_str_eq((char *)got.data, "base1=c;base2=c;v=4;x=5;");

  /* A clear leaves existing iterators as they were. */
  lsm_batch_clear(b);
  put(b, "after", "clear");
  scan(it2, &got);
  ck_assert_str_eq((char *)got.data, "base2=c;x=changed;y=2;");

  lsm_iter_free(it1);
  lsm_iter_free(it2);
  lsm_iter_free(it3);
  lsm_buffer_free(&got);
  lsm_batch_free(b);
  ck_assert_int_eq(lsm_close(db), LSM_OK);
}
END_TEST

START_TEST(batch_commit_with_repeated_keys_keeps_last_across_reopen) {
  lsm_db *db = open_db("repeat_commit");
  lsm_batch *b;
  lsm_buffer val = {0};
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  put(b, "k", "first");
  put(b, "gone", "x");
  put(b, "k", "second");
  del(b, "gone");
  put(b, "back", "1");
  del(b, "back");
  put(b, "back", "2");
  put(b, "k", "last");
  ck_assert_int_eq(lsm_write(db, b, 0), LSM_OK);
  lsm_batch_free(b);

  /* From the memtable, then from the log replayed at open. */
  for (int round = 0; round < 2; round++) {
    ck_assert_int_eq(lsm_get(db, NULL, "k", 1, &val), LSM_OK);
    ck_assert(val.len == 4 && memcmp(val.data, "last", 4) == 0);
    ck_assert_int_eq(lsm_get(db, NULL, "back", 4, &val), LSM_OK);
    ck_assert(val.len == 1 && memcmp(val.data, "2", 1) == 0);
    ck_assert_int_eq(lsm_get(db, NULL, "gone", 4, &val), LSM_NOTFOUND);
    ck_assert_int_eq(lsm_close(db), LSM_OK);
    db = open_db("repeat_commit");
  }
  ck_assert_int_eq(lsm_get(db, NULL, "k", 1, &val), LSM_OK);
  ck_assert(val.len == 4 && memcmp(val.data, "last", 4) == 0);
  lsm_buffer_free(&val);
  ck_assert_int_eq(lsm_close(db), LSM_OK);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Scale. */

/* Fixed-width formatting for the scale test (snprintf is slow under
** sanitizers). */
static void hex8(char *out, uint32_t v) {
  int i;
  for (i = 7; i >= 0; i--, v >>= 4) out[i] = "0123456789abcdef"[v & 15];
  out[8] = '\0';
}

static uint32_t unhex8(const unsigned char *p) {
  uint32_t v = 0;
  int i;
  for (i = 0; i < 8; i++) {
    v = v << 4 | (uint32_t)(p[i] <= '9' ? p[i] - '0' : p[i] - 'a' + 10);
  }
  return v;
}

static void dec7(char *out, uint32_t v) {
  int i;
  for (i = 6; i >= 0; i--, v /= 10) out[i] = (char)('0' + v % 10);
  out[7] = '\0';
}

START_TEST(batch_million_ops_fill_encode_get_iterate) {
  enum { N = 1000000, KEYSPACE = 700000 };
  /* Per key: index of the last put on it + 1 (0: none), over all N ops and
  ** over the first N/2. */
  static uint32_t last[KEYSPACE], last_half[KEYSPACE];
  lsm_batch *b;
  lsm_buffer out = {0}, val = {0};
  lsm_it *it;
  uint32_t n = 0, i, k;
  uint64_t s = 42, entries = 0;
  size_t distinct = 0, distinct_half = 0;
  char key[16], v[16];
  struct timespec t0, t1;
  double secs;

  memset(last, 0, sizeof(last));
  REQUIRE(lsm_batch_new(&b) == LSM_OK);
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (i = 0; i < N; i++) {
    if (i == N / 2) memcpy(last_half, last, sizeof(last));
    k = (uint32_t)(lsm_test_next(&s) % KEYSPACE);
    hex8(key, k);
    dec7(v, i);
    REQUIRE(lsm_batch_put(b, key, 8, v, 7) == LSM_OK);
    last[k] = i + 1;
  }
  REQUIRE(lsm_batch_encode(b, 1, &out, &n) == LSM_OK);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  secs = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
  printf("batch_million_ops: %d puts + encode in %.3fs (%.0f ops/s)\n", N,
         secs, N / secs);
  fflush(stdout);

  ck_assert_uint_eq(lsm_batch_mark(b), N);
  for (k = 0; k < KEYSPACE; k++) {
    distinct += last[k] != 0;
    distinct_half += last_half[k] != 0;
  }
  ck_assert_uint_eq(n, distinct);
  ck_assert_uint_eq(out.len,
                    LSM_BATCH_HEADER_SIZE + distinct * (1 + 1 + 8 + 1 + 7));
  /* The payload: each key once, ascending, with its last value. */
  {
    const unsigned char *p = out.data + LSM_BATCH_HEADER_SIZE;
    const unsigned char *end = out.data + out.len;
    lsm_slice prev = lsm_slice_make(NULL, 0);
    for (i = 0; i < n; i++) {
      lsm_slice pk, pv;
      REQUIRE(*p++ == LSM_KIND_PUT);
      p = lsm_get_length_prefixed(p, end, &pk);
      REQUIRE(p != NULL && pk.n == 8);
      p = lsm_get_length_prefixed(p, end, &pv);
      REQUIRE(p != NULL && pv.n == 7);
      if (i > 0) REQUIRE(lsm_slice_cmp(prev, pk) < 0);
      prev = pk;
      k = unhex8(pk.p);
      REQUIRE(k < KEYSPACE && last[k] != 0);
      dec7(v, last[k] - 1);
      REQUIRE(memcmp(pv.p, v, 7) == 0);
    }
    REQUIRE(p == end);
  }
  ck_assert_uint_eq(lsm_batch_count(b), distinct);
  ck_assert_uint_eq(lsm_batch_user_bytes(b), distinct * 15);

  /* The last value written wins. */
  for (k = 0; k < KEYSPACE; k += 7) {
    int rc;
    hex8(key, k);
    rc = lsm_batch_get(b, key, 8, NULL, &val);
    if (last[k] == 0) {
      REQUIRE(rc == LSM_NOTFOUND);
      continue;
    }
    REQUIRE(rc == LSM_OK);
    dec7(v, last[k] - 1);
    REQUIRE(val.len == 7 && memcmp(val.data, v, 7) == 0);
  }

  /* The sorted view holds every op. */
  it = lsm_batch_iter_new(b);
  REQUIRE(it != NULL);
  for (lsm_it_first(it); lsm_it_valid(it); lsm_it_next(it)) entries++;
  ck_assert_uint_eq(entries, N);
  lsm_it_free(it);

  /* Roll half of it back: the index is as it was at N/2. */
  REQUIRE(lsm_batch_rollback_to(b, N / 2) == LSM_OK);
  ck_assert_uint_eq(lsm_batch_mark(b), N / 2);
  ck_assert_uint_eq(lsm_batch_count(b), distinct_half);
  ck_assert_uint_eq(lsm_batch_user_bytes(b), distinct_half * 15);
  for (k = 0; k < KEYSPACE; k += 7) {
    int rc;
    hex8(key, k);
    rc = lsm_batch_get(b, key, 8, NULL, &val);
    if (last_half[k] == 0) {
      REQUIRE(rc == LSM_NOTFOUND);
      continue;
    }
    REQUIRE(rc == LSM_OK);
    dec7(v, last_half[k] - 1);
    REQUIRE(val.len == 7 && memcmp(val.data, v, 7) == 0);
  }

  /* After a clear (which releases the big buffers) the batch is reusable. */
  lsm_batch_clear(b);
  ck_assert_uint_eq(lsm_batch_count(b), 0);
  expect_absent(b, "00000000");
  put(b, "small", "batch");
  expect_put(b, "small", "batch");
  lsm_batch_clear(b);
  expect_absent(b, "small");

  lsm_buffer_free(&out);
  lsm_buffer_free(&val);
  lsm_batch_free(b);
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *batch_suite(void) {
  Suite *s = suite_create("batch");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, batch_last_op_on_a_key_wins);
  tcase_add_test(tc, batch_count_and_user_bytes_track_distinct_keys);
  tcase_add_test(tc, batch_get_reports_put_deleted_and_absent);
  tcase_add_test(tc, batch_clear_discards_everything);
  tcase_add_test(tc, batch_iterator_yields_overlay_seqs_newest_first);
  tcase_add_test(tc, batch_rollback_to_nested_marks_restores_each_state);
  tcase_add_test(tc, batch_encode_then_replay_reproduces_contents_with_seqs);
  tcase_add_test(tc, batch_replay_of_empty_payload_inserts_nothing);
  tcase_add_test(tc, batch_replay_rejects_truncated_payloads);
  tcase_add_test(tc, batch_replay_rejects_malformed_payloads);
  tcase_add_test(tc, batch_replay_of_garbled_payloads_is_all_or_nothing);
  tcase_add_test(tc, batch_random_ops_match_model);
  tcase_add_test(tc, batch_encode_is_newest_op_per_key_in_key_order);
  tcase_add_test(tc, batch_encode_sorts_keys_with_common_prefixes);
  tcase_add_test(tc, batch_replay_of_repeated_key_leaves_last_value_visible);
  tcase_add_test(tc, batch_rollback_restores_count_and_user_bytes);
  tcase_add_test(tc, batch_many_keys_with_rollbacks_match_model);
  tcase_add_test(tc, batch_iterators_across_rollback_and_later_writes);
  tcase_add_test(tc, batch_overlay_iterator_does_not_see_later_writes);
  tcase_add_test(tc, batch_commit_with_repeated_keys_keeps_last_across_reopen);
  tcase_add_test(tc, batch_million_ops_fill_encode_get_iterate);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(batch_suite());
  int failed;
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
