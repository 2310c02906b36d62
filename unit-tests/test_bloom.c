/*
** test_bloom.c — unit tests of lsm/bloom.c: the blocked filter (no false
** negatives, its false-positive rate, encoded size, probe count and bit
** layout), filters in the legacy layout earlier versions wrote (still
** read), and the "malformed filter never hides a key" rule for both.
*/
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bloom.h"
#include "legacy_bloom.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

static uint64_t key_hash(const char *prefix, size_t i) {
  char tmp[48];
  int n = snprintf(tmp, sizeof tmp, "%s%zu", prefix, i);
  return lsm_bloom_hash(lsm_slice_make(tmp, (size_t)n));
}

/* Build a filter over n keys "present<i>" into *f. */
static uint64_t *build(size_t n, int bits, lsm_buffer *f) {
  uint64_t *h = malloc((n ? n : 1) * sizeof *h);
  size_t i;
  ck_assert_ptr_nonnull(h);
  for (i = 0; i < n; i++) h[i] = key_hash("present", i);
  ck_assert_int_eq(lsm_bloom_build(h, n, bits, f), LSM_OK);
  return h;
}

static uint64_t *present_hashes(size_t n) {
  uint64_t *h = malloc((n ? n : 1) * sizeof *h);
  size_t i;
  ck_assert_ptr_nonnull(h);
  for (i = 0; i < n; i++) h[i] = key_hash("present", i);
  return h;
}

/* Probe a copy of p[0..n) in a buffer of exactly n bytes, so that a read
** past either end is caught by the sanitizers. */
static int probe_exact(const unsigned char *p, size_t n, uint64_t hash) {
  unsigned char *copy = malloc(n ? n : 1);
  int r;
  ck_assert_ptr_nonnull(copy);
  if (n) memcpy(copy, p, n);
  r = lsm_bloom_may_contain(lsm_slice_make(n ? copy : NULL, n), hash);
  free(copy);
  return r;
}

/* A blocked filter at 10 bits/key averages ~51 keys per 512-bit line; with
** k = 6 the measured rate is 0.95% (bloom.c's table; a standard filter's
** theory is 0.82%).  Over 100k probes the rate's standard deviation is
** ~0.03%, so 1.6% only fails when the layout is broken (e.g. probes that
** are not independent of the line choice, or a wrong k). */
START_TEST(blocked_fp_rate_at_10_bits_below_1_6_percent_and_no_false_negatives) {
  const size_t n = 100000;
  lsm_buffer f = {0};
  uint64_t *h = build(n, 10, &f);
  lsm_slice filter = lsm_slice_make(f.data, f.len);
  size_t i, fp = 0;
  double rate;

  ck_assert_int_eq(filter.p[filter.n - 1], 0x81);  /* blocked kind */
  ck_assert_int_eq(filter.p[filter.n - 2], 6);     /* round(0.6 * 10) */
  for (i = 0; i < n; i++)
    ck_assert_int_eq(lsm_bloom_may_contain(filter, h[i]), 1);
  for (i = 0; i < n; i++)
    fp += (size_t)lsm_bloom_may_contain(filter, key_hash("absent", i));
  rate = (double)fp / (double)n;
  printf("blocked bloom: %zu false positives in %zu probes: rate %.4f%%\n",
         fp, n, 100.0 * rate);
  ck_assert(rate < 0.016);
  ck_assert(fp > 0);  /* a filter that says "no" to everything is broken too */
  free(h);
  lsm_buffer_free(&f);
}
END_TEST

START_TEST(bloom_no_false_negatives_at_any_bits_per_key) {
  static const int bits[] = {1, 2, 5, 10, 20, 50, 64, 100};
  size_t b, i;
  for (b = 0; b < sizeof bits / sizeof bits[0]; b++) {
    lsm_buffer f = {0};
    uint64_t *h = build(3000, bits[b], &f);
    for (i = 0; i < 3000; i++)
      ck_assert_int_eq(lsm_bloom_may_contain(lsm_slice_make(f.data, f.len), h[i]), 1);
    free(h);
    lsm_buffer_free(&f);
  }
}
END_TEST

START_TEST(blocked_encoded_size_and_probe_count) {
  lsm_buffer f = {0};
  uint64_t *h;
  /* n_lines = max(1, ceil(n * bits / 512)) lines of 64 bytes, then k and
  ** the kind byte */
  h = build(0, 10, &f);
  ck_assert_uint_eq(f.len, 64 + 2);
  ck_assert_int_eq(f.data[f.len - 2], 6);
  ck_assert_int_eq(f.data[f.len - 1], 0x81);
  free(h);
  f.len = 0;
  h = build(1001, 3, &f);
  ck_assert_uint_eq(f.len, 6 * 64 + 2);    /* ceil(3003 / 512) = 6 */
  ck_assert_int_eq(f.data[f.len - 2], 2);  /* round(0.6 * 3) */
  free(h);
  f.len = 0;
  h = build(1024, 10, &f);
  ck_assert_uint_eq(f.len, 20 * 64 + 2);   /* exactly 20 lines */
  ck_assert_uint_le(f.len, lsm_bloom_size_bound(1024, 10));
  free(h);
  f.len = 0;
  h = build(10, 1, &f);
  ck_assert_int_eq(f.data[f.len - 2], 1);  /* round(0.6): clamped up to 1 */
  free(h);
  f.len = 0;
  h = build(10, 100, &f);
  ck_assert_int_eq(f.data[f.len - 2], 16);  /* clamped down to 16 */
  free(h);
  /* appends after whatever the buffer already holds */
  f.len = 0;
  ck_assert_int_eq(lsm_buffer_append(&f, "xyz", 3), LSM_OK);
  h = build(5, 10, &f);
  ck_assert_uint_eq(f.len, 3 + 64 + 2);
  ck_assert_int_eq(memcmp(f.data, "xyz", 3), 0);
  ck_assert_int_eq(lsm_bloom_may_contain(lsm_slice_make(f.data + 3, f.len - 3), h[4]), 1);
  free(h);
  lsm_buffer_free(&f);
}
END_TEST

START_TEST(bloom_size_bound_covers_every_build) {
  static const size_t ns[] = {0, 1, 50, 51, 52, 1000, 4099};
  static const int bits[] = {1, 7, 10, 64};
  size_t a, b;
  for (a = 0; a < sizeof ns / sizeof ns[0]; a++) {
    for (b = 0; b < sizeof bits / sizeof bits[0]; b++) {
      lsm_buffer f = {0};
      uint64_t *h = build(ns[a], bits[b], &f);
      ck_assert_uint_le(f.len, lsm_bloom_size_bound(ns[a], bits[b]));
      free(h);
      lsm_buffer_free(&f);
    }
  }
}
END_TEST

START_TEST(bloom_empty_filter_over_no_keys_rules_everything_out) {
  lsm_buffer f = {0};
  uint64_t *h = build(0, 10, &f);
  size_t i, hits = 0;
  for (i = 0; i < 1000; i++)
    hits += (size_t)lsm_bloom_may_contain(lsm_slice_make(f.data, f.len),
                                          key_hash("absent", i));
  ck_assert_uint_eq(hits, 0);
  free(h);
  lsm_buffer_free(&f);
}
END_TEST

/* Hashes of n absent keys this filter rules out (at least one). */
static size_t ruled_out(lsm_slice filter, uint64_t *out, size_t n) {
  size_t i, got = 0;
  for (i = 0; got < n && i < 100000; i++) {
    uint64_t h = key_hash("absent", i);
    if (!lsm_bloom_may_contain(filter, h)) out[got++] = h;
  }
  ck_assert_uint_gt(got, 0);
  return got;
}

/* Damaged blocked filters: each damage either keeps the filter usable or
** makes it answer "may contain" — for keys it had ruled out, too — and no
** probe reads outside the filter (probe_exact; the ASan build checks). */
START_TEST(blocked_malformed_filter_answers_may_contain) {
  static const int bad_kinds[] = {0, 31, 0x80, 0x82, 0xff};
  lsm_buffer f = {0};
  uint64_t *h = build(300, 10, &f);
  uint64_t absent[64];
  size_t n_abs = ruled_out(lsm_slice_make(f.data, f.len), absent, 64), i, cut;
  unsigned char *d;

  for (i = 0; i < n_abs; i++) {
    /* empty, only the tail, one byte short of a line, and lengths that are
    ** not whole lines (bytes lost at the front or the end) */
    ck_assert_int_eq(probe_exact(NULL, 0, absent[i]), 1);
    ck_assert_int_eq(probe_exact(f.data + f.len - 1, 1, absent[i]), 1);
    ck_assert_int_eq(probe_exact(f.data + f.len - 2, 2, absent[i]), 1);
    ck_assert_int_eq(probe_exact(f.data + f.len - 65, 65, absent[i]), 1);
    for (cut = 1; cut < 64; cut += 13)
      ck_assert_int_eq(probe_exact(f.data + cut, f.len - cut, absent[i]), 1);
  }
  d = malloc(f.len);
  ck_assert_ptr_nonnull(d);
  for (i = 0; i < sizeof bad_kinds / sizeof bad_kinds[0]; i++) {
    size_t j;
    memcpy(d, f.data, f.len);
    d[f.len - 1] = (unsigned char)bad_kinds[i];
    for (j = 0; j < n_abs; j++)
      ck_assert_int_eq(probe_exact(d, f.len, absent[j]), 1);
  }
  memcpy(d, f.data, f.len);
  d[f.len - 2] = 0;  /* k = 0 */
  for (i = 0; i < n_abs; i++) ck_assert_int_eq(probe_exact(d, f.len, absent[i]), 1);
  d[f.len - 2] = 17;  /* k too large */
  for (i = 0; i < n_abs; i++) ck_assert_int_eq(probe_exact(d, f.len, absent[i]), 1);
  free(d);
  free(h);
  lsm_buffer_free(&f);
}
END_TEST

/* Filters in the old layout, as tables written before the blocked kind hold
** them: no false negatives, a false-positive rate near a standard filter's
** theory, and the same answers as the old probe formula. */
START_TEST(legacy_filters_are_still_read) {
  static const size_t sizes[] = {0, 1, 7, 1000, 100000};
  size_t s, i;
  for (s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    size_t n = sizes[s], fp = 0, probes = n < 1000 ? 1000 : n;
    uint64_t *h = present_hashes(n);
    lsm_buffer f = {0};
    lsm_slice filter;
    ck_assert_int_eq(legacy_bloom_build(h, n, 10, &f), LSM_OK);
    filter = lsm_slice_make(f.data, f.len);
    ck_assert_int_eq(filter.p[filter.n - 1], 7);
    for (i = 0; i < n; i++) ck_assert_int_eq(lsm_bloom_may_contain(filter, h[i]), 1);
    for (i = 0; i < probes; i++)
      fp += (size_t)lsm_bloom_may_contain(filter, key_hash("absent", i));
    if (n == 0) ck_assert_uint_eq(fp, 0);
    if (n == 100000) {
      /* theory (1 - e^{-7/10})^7 = 0.82% */
      printf("legacy bloom: rate %.4f%%\n", 100.0 * (double)fp / (double)probes);
      ck_assert_uint_gt(fp, 0);
      ck_assert_uint_lt(fp, 2 * 819);
    }
    free(h);
    lsm_buffer_free(&f);
  }
}
END_TEST

/* The old layout's "malformed answers may contain" rules still hold. */
START_TEST(legacy_malformed_filter_answers_may_contain) {
  lsm_buffer f = {0};
  uint64_t *h = present_hashes(100);
  uint64_t absent[16];
  size_t n_abs, i;
  ck_assert_int_eq(legacy_bloom_build(h, 100, 10, &f), LSM_OK);
  n_abs = ruled_out(lsm_slice_make(f.data, f.len), absent, 16);
  for (i = 0; i < n_abs; i++) {
    ck_assert_int_eq(probe_exact(f.data + f.len - 1, 1, absent[i]), 1);
    f.data[f.len - 1] = 31;  /* k too large: an unknown kind */
    ck_assert_int_eq(probe_exact(f.data, f.len, absent[i]), 1);
    f.data[f.len - 1] = 0;   /* k = 0 */
    ck_assert_int_eq(probe_exact(f.data, f.len, absent[i]), 1);
    f.data[f.len - 1] = 7;
  }
  free(h);
  lsm_buffer_free(&f);
}
END_TEST

START_TEST(bloom_hash_is_checksum64_of_the_user_key) {
  ck_assert_uint_eq(lsm_bloom_hash(lsm_slice_make("abc", 3)), lsm_checksum64("abc", 3));
  ck_assert_uint_eq(lsm_bloom_hash(lsm_slice_make(NULL, 0)), lsm_checksum64("", 0));
  ck_assert_uint_ne(lsm_bloom_hash(lsm_slice_make("abc", 3)),
                    lsm_bloom_hash(lsm_slice_make("abd", 3)));
}
END_TEST

/* The bits set are exactly those FORMAT.md documents: line L = ((h mod
** 2^32) * n_lines) >> 32; a = h >> 32, probe i sets bit a >> 23 of the line,
** then a = a * 0x9E3779B9 mod 2^32; for line counts that are and are not
** powers of two. */
START_TEST(blocked_bits_follow_the_documented_probe_formula) {
  static const size_t sizes[] = {1, 7, 64, 1000, 4096, 12345};
  size_t s, i, b;
  for (s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    lsm_buffer f = {0};
    uint64_t *h = build(sizes[s], 10, &f);
    size_t n_bytes = f.len - 2;
    uint64_t n_lines = n_bytes / 64;
    int k = f.data[n_bytes], j;
    unsigned char *expect = calloc(n_bytes, 1);
    ck_assert_ptr_nonnull(expect);
    ck_assert_uint_eq(n_bytes % 64, 0);
    for (i = 0; i < sizes[s]; i++) {
      uint64_t line = ((h[i] & 0xffffffffu) * n_lines) >> 32;
      uint32_t a = (uint32_t)(h[i] >> 32);
      for (j = 0; j < k; j++) {
        unsigned bit = a >> 23;
        expect[line * 64 + bit / 8] |= (unsigned char)(1u << (bit % 8));
        a *= 0x9E3779B9u;
      }
    }
    for (b = 0; b < n_bytes; b++) ck_assert_uint_eq(f.data[b], expect[b]);
    free(expect);
    free(h);
    lsm_buffer_free(&f);
  }
}
END_TEST

/* Long inputs are hashed by libxxhash's run-time dispatcher where there is
** one (coding.c): every checksum must still be plain XXH3-64 (seed 0), at
** every length around the switch and for misaligned inputs. */
START_TEST(checksums_are_xxh3_at_every_length_and_alignment) {
  size_t n, off;
  unsigned char *buf = malloc(5000 + 16);
  ck_assert_ptr_nonnull(buf);
  for (n = 0; n < 5000 + 16; n++) buf[n] = (unsigned char)(n * 131 + (n >> 7));
  for (n = 0; n <= 5000; n += n < 1100 ? 1 : 97) {
    for (off = 0; off < 16; off += 5) {
      uint64_t want = XXH3_64bits(buf + off, n);
      ck_assert_uint_eq(lsm_checksum64(buf + off, n), want);
      ck_assert_uint_eq(lsm_checksum32(buf + off, n), (uint32_t)want);
    }
  }
  free(buf);
}
END_TEST

/* A reader (a filter checked once, as tables keep it) answers every
** probe as lsm_bloom_may_contain does: blocked, legacy, empty and
** malformed filters, present and absent keys; its prefetch is only a
** hint (it must not fault on any of them). */
START_TEST(bloom_reader_agrees_with_may_contain_on_every_kind) {
  lsm_buffer blocked = {0}, legacy = {0}, broken = {0};
  uint64_t *h = build(2000, 10, &blocked), hashes[2000];
  lsm_slice filters[5];
  size_t i, f;
  for (i = 0; i < 2000; i++) hashes[i] = h[i];
  ck_assert_int_eq(legacy_bloom_build(hashes, 2000, 10, &legacy), LSM_OK);
  ck_assert_int_eq(lsm_buffer_set(&broken, blocked.data, blocked.len), LSM_OK);
  broken.data[broken.len - 2] = 0;   /* k = 0: malformed */
  filters[0] = lsm_slice_make(blocked.data, blocked.len);
  filters[1] = lsm_slice_make(legacy.data, legacy.len);
  filters[2] = lsm_slice_make(NULL, 0);
  filters[3] = lsm_slice_make(broken.data, broken.len);
  filters[4] = lsm_slice_make(blocked.data, 40);   /* shorter than a line */
  for (f = 0; f < 5; f++) {
    lsm_bloom_reader r;
    lsm_bloom_reader_init(&r, filters[f]);
    for (i = 0; i < 4000; i++) {
      uint64_t x = i < 2000 ? hashes[i] : key_hash("absent", i);
      lsm_bloom_reader_prefetch(&r, x);
      ck_assert_int_eq(lsm_bloom_reader_may_contain(&r, x), lsm_bloom_may_contain(filters[f], x));
    }
  }
  free(h);
  lsm_buffer_free(&blocked);
  lsm_buffer_free(&legacy);
  lsm_buffer_free(&broken);
}
END_TEST

static Suite *bloom_suite(void) {
  Suite *s = suite_create("bloom");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, blocked_fp_rate_at_10_bits_below_1_6_percent_and_no_false_negatives);
  tcase_add_test(tc, bloom_no_false_negatives_at_any_bits_per_key);
  tcase_add_test(tc, blocked_encoded_size_and_probe_count);
  tcase_add_test(tc, bloom_size_bound_covers_every_build);
  tcase_add_test(tc, bloom_empty_filter_over_no_keys_rules_everything_out);
  tcase_add_test(tc, blocked_malformed_filter_answers_may_contain);
  tcase_add_test(tc, legacy_filters_are_still_read);
  tcase_add_test(tc, legacy_malformed_filter_answers_may_contain);
  tcase_add_test(tc, bloom_reader_agrees_with_may_contain_on_every_kind);
  tcase_add_test(tc, bloom_hash_is_checksum64_of_the_user_key);
  tcase_add_test(tc, blocked_bits_follow_the_documented_probe_formula);
  tcase_add_test(tc, checksums_are_xxh3_at_every_length_and_alignment);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(bloom_suite());
  int failed;
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
