/*
** fuzz_key.c — libFuzzer target for the order-preserving key decoder
** (ext/key.c).
**
** The input is read as a sequence of encoded values, decoded one by one
** until the end or the first malformed one.  Properties checked for every
** value that decodes: lsmx_key_skip agrees on its length, validating
** without a scratch buffer agrees, and encoding the decoded value again
** gives exactly the same bytes (the decoder accepts only what the encoder
** writes, so one value has one encoding and memcmp order is value order).
*/
#include "fuzz_support.h"
#include "ext_test_support.h"
#include "key.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  if (lsmx_test_init_sqlite_api() != 0) abort();
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const unsigned char *p = data, *end = data + size;
  lsm_buffer scratch = {0}, again = {0};
  while (p < end) {
    const unsigned char *q = p, *r = p;
    lsmx_value v, w;
    size_t skip = lsmx_key_skip(p, end);
    int rc = lsmx_key_decode(&q, end, &v, &scratch);
    int rc2 = lsmx_key_decode(&r, end, &w, NULL);
    if ((rc == LSM_OK) != (rc2 == LSM_OK) || (rc == LSM_OK && q != r)) {
      fprintf(stderr, "decoding with and without scratch disagree\n");
      abort();
    }
    if (rc != LSM_OK) {
      if (skip != 0) {
        fprintf(stderr, "skip accepts what decode rejects\n");
        abort();
      }
      break;
    }
    if (skip != (size_t)(q - p)) {
      fprintf(stderr, "skip says %zu bytes, decode used %zu\n", skip, (size_t)(q - p));
      abort();
    }
    again.len = 0;
    if (lsmx_key_append(&again, &v) != LSM_OK) abort();
    if (again.len != (size_t)(q - p) || memcmp(again.data, p, again.len) != 0) {
      fprintf(stderr, "re-encoding type %d gives %zu bytes, not the %zu decoded\n", v.type,
              again.len, (size_t)(q - p));
      abort();
    }
    p = q;
  }
  lsm_buffer_free(&scratch);
  lsm_buffer_free(&again);
  return 0;
}
