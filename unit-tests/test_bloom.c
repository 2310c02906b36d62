/*
** test_bloom.c — unit tests of lsm/bloom.c: no false negatives, a false-
** positive rate close to theory, the encoded size and probe count, and the
** "malformed filter never hides a key" rule.
*/
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "bloom.h"

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

START_TEST(bloom_fp_rate_at_10_bits_within_twice_theory_and_no_false_negatives) {
  const size_t n = 100000;
  const int bits = 10;
  lsm_buffer f = {0};
  uint64_t *h = build(n, bits, &f);
  lsm_slice filter = lsm_slice_make(f.data, f.len);
  size_t i, fp = 0;
  int k = filter.p[filter.n - 1];
  double m = (double)(filter.n - 1) * 8, theory, rate;

  ck_assert_int_eq(k, 7);  /* round(10 * ln 2) */
  for (i = 0; i < n; i++)
    ck_assert_int_eq(lsm_bloom_may_contain(filter, h[i]), 1);
  for (i = 0; i < n; i++)
    fp += (size_t)lsm_bloom_may_contain(filter, key_hash("absent", i));
  theory = pow(1.0 - exp(-(double)k * (double)n / m), k);
  rate = (double)fp / (double)n;
  printf("bloom: %zu false positives in %zu probes: rate %.5f, theory %.5f\n",
         fp, n, rate, theory);
  ck_assert(rate <= 2.0 * theory);
  ck_assert(fp > 0);  /* a filter that says "no" to everything is broken too */
  free(h);
  lsm_buffer_free(&f);
}
END_TEST

START_TEST(bloom_no_false_negatives_at_any_bits_per_key) {
  static const int bits[] = {1, 2, 5, 10, 20, 50, 100};
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

START_TEST(bloom_encoded_size_and_probe_count) {
  lsm_buffer f = {0};
  uint64_t *h;
  /* n_bits = max(64, n * bits) rounded up to 8, plus the k byte */
  h = build(0, 10, &f);
  ck_assert_uint_eq(f.len, 64 / 8 + 1);
  ck_assert_int_eq(f.data[f.len - 1], 7);
  free(h);
  f.len = 0;
  h = build(1001, 3, &f);
  ck_assert_uint_eq(f.len, (3003 + 7) / 8 + 1);
  ck_assert_int_eq(f.data[f.len - 1], 2);  /* round(3 * 0.693) */
  free(h);
  f.len = 0;
  h = build(10, 1, &f);
  ck_assert_int_eq(f.data[f.len - 1], 1);  /* clamped up to 1 */
  free(h);
  f.len = 0;
  h = build(10, 100, &f);
  ck_assert_int_eq(f.data[f.len - 1], 30);  /* clamped down to 30 */
  free(h);
  /* appends after whatever the buffer already holds */
  f.len = 0;
  ck_assert_int_eq(lsm_buffer_append(&f, "xyz", 3), LSM_OK);
  h = build(5, 10, &f);
  ck_assert_uint_eq(f.len, 3 + 8 + 1);
  ck_assert_int_eq(memcmp(f.data, "xyz", 3), 0);
  ck_assert_int_eq(lsm_bloom_may_contain(lsm_slice_make(f.data + 3, f.len - 3), h[4]), 1);
  free(h);
  lsm_buffer_free(&f);
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

START_TEST(bloom_malformed_filter_answers_may_contain) {
  lsm_buffer f = {0};
  uint64_t *h = build(100, 10, &f);
  uint64_t absent = 0;
  size_t i;
  /* find a key this filter rules out */
  for (i = 0; i < 1000; i++) {
    absent = key_hash("absent", i);
    if (!lsm_bloom_may_contain(lsm_slice_make(f.data, f.len), absent)) break;
  }
  ck_assert_uint_lt(i, 1000);
  ck_assert_int_eq(lsm_bloom_may_contain(lsm_slice_make(NULL, 0), absent), 1);
  ck_assert_int_eq(lsm_bloom_may_contain(lsm_slice_make(f.data + f.len - 1, 1), absent), 1);
  f.data[f.len - 1] = 0;  /* k = 0 */
  ck_assert_int_eq(lsm_bloom_may_contain(lsm_slice_make(f.data, f.len), absent), 1);
  f.data[f.len - 1] = 31;  /* k too large */
  ck_assert_int_eq(lsm_bloom_may_contain(lsm_slice_make(f.data, f.len), absent), 1);
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

/* The bits set are exactly those FORMAT.md documents: probe i of hash h
** sets bit (h1 + i*h2) mod n_bits, h1 = low 32 bits, h2 = high 32 bits | 1,
** for sizes where n_bits is and is not a power of two. */
START_TEST(bloom_bits_follow_the_documented_probe_formula) {
  static const size_t sizes[] = {1, 7, 64, 1000, 4096, 12345};
  size_t s, i, b;
  for (s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
    lsm_buffer f = {0};
    uint64_t *h = build(sizes[s], 10, &f);
    size_t n_bytes = f.len - 1;
    uint64_t n_bits = (uint64_t)n_bytes * 8;
    int k = f.data[n_bytes], j;
    unsigned char *expect = calloc(n_bytes, 1);
    ck_assert_ptr_nonnull(expect);
    for (i = 0; i < sizes[s]; i++) {
      uint64_t h1 = h[i] & 0xffffffffu, h2 = (h[i] >> 32) | 1;
      for (j = 0; j < k; j++) {
        uint64_t pos = (h1 + (uint64_t)j * h2) % n_bits;
        expect[pos / 8] |= (unsigned char)(1u << (pos % 8));
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

static Suite *bloom_suite(void) {
  Suite *s = suite_create("bloom");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, bloom_fp_rate_at_10_bits_within_twice_theory_and_no_false_negatives);
  tcase_add_test(tc, bloom_no_false_negatives_at_any_bits_per_key);
  tcase_add_test(tc, bloom_encoded_size_and_probe_count);
  tcase_add_test(tc, bloom_empty_filter_over_no_keys_rules_everything_out);
  tcase_add_test(tc, bloom_malformed_filter_answers_may_contain);
  tcase_add_test(tc, bloom_hash_is_checksum64_of_the_user_key);
  tcase_add_test(tc, bloom_bits_follow_the_documented_probe_formula);
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
