/*
** fuzz_sst.c — libFuzzer target for the SSTable reader (lsm/sst.c,
** lsm/block.c, lsm/bloom.c).
**
** Input: a mode byte (bit 0: repair every checksum first, see
** fuzz_support.h), then the table file's bytes.  The table is opened through
** an in-memory environment with the input's size as its manifest size, then
** read every way the engine reads it: a forward and a backward scan, seeks
** to each key met, point lookups of each user key (through the bloom
** filter), and the full integrity check.  Any status is fine; a crash, a
** sanitizer report, a hang or an out-of-bounds read is a bug.  One
** property is checked as well: a table that lsm_sst_check accepts scans in
** strictly increasing internal-key order.
*/
#include "fuzz_support.h"
#include "dbformat.h"

#define MAX_ENTRIES 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  mem_env env;
  unsigned char *img;
  lsm_sst *t = NULL;
  lsm_buffer err = {0}, prev = {0}, val = {0};
  lsm_it *it;
  size_t n;
  int k, have_prev = 0, order_ok = 1;
  if (size < 1) return 0;
  n = size - 1;
  img = malloc(n ? n : 1);
  if (img == NULL) return 0;
  memcpy(img, data + 1, n);
  if (data[0] & 1) fix_sst(img, n);
  mem_env_init(&env, img, n);
  if (lsm_sst_open(&env.base, "fuzz.sst", n, &t, &err) != LSM_OK) goto done;

  it = lsm_sst_iter_new(t);
  if (it) {
    for (lsm_it_first(it), k = 0; lsm_it_valid(it) && k < MAX_ENTRIES; lsm_it_next(it), k++) {
      lsm_slice key = lsm_it_key(it);
      int found = 0, kind = 0, neg = 0;
      lsm_ikey ik;
      if (have_prev && lsm_ikey_cmp(lsm_slice_make(prev.data, prev.len), key) >= 0) order_ok = 0;
      lsm_buffer_set(&prev, key.p, key.n);
      have_prev = 1;
      if (lsm_ikey_parse(key, &ik)) {
        lsm_sst_get(t, ik.ukey, UINT64_MAX >> 8, &found, &kind, &val, &neg, &err);
      }
    }
    for (lsm_it_last(it), k = 0; lsm_it_valid(it) && k < MAX_ENTRIES; lsm_it_prev(it), k++) {
    }
    lsm_it_free(it);
  }
  /* Seeks to each key seen (re-scanning is bounded by MAX_ENTRIES). */
  it = lsm_sst_iter_new(t);
  if (it) {
    lsm_it *probe = lsm_sst_iter_new(t);
    if (probe) {
      for (lsm_it_first(probe), k = 0; lsm_it_valid(probe) && k < 64; lsm_it_next(probe), k++) {
        lsm_slice key = lsm_it_key(probe);
        lsm_it_seek(it, key);
        if (lsm_it_valid(it)) lsm_it_next(it);
        lsm_it_seek_le(it, key);
        if (lsm_it_valid(it)) lsm_it_prev(it);
      }
      lsm_it_free(probe);
    }
    lsm_it_free(it);
  }
  if (lsm_sst_check(t, &err) == LSM_OK && !order_ok) {
    fprintf(stderr, "lsm_sst_check accepted a table that does not scan in order\n");
    abort();
  }
  lsm_sst_unref(t);
done:
  lsm_buffer_free(&err);
  lsm_buffer_free(&prev);
  lsm_buffer_free(&val);
  free(img);
  return 0;
}
