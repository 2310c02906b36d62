/*
** fuzz_wal.c — libFuzzer target for write-ahead log replay (lsm/wal.c) and
** the batch decoder it feeds (lsm/batch.c into lsm/memtable.c).
**
** Input: a mode byte, then
**   mode bit 0 clear: the log file's bytes as they are (header, record
**     framing, checksums, torn-tail and corruption rules);
**   mode bit 0 set: the rest of the input is cut into records — u16
**     little-endian length, that many payload bytes — written with the
**     engine's own log writer (lsm_wal_create/lsm_wal_append into memory),
**     so they are framed and checksummed whatever the current format, and
**     the fuzzer reaches the batch decoder; bytes left over are appended
**     raw (a torn tail).
** Each intact record is decoded into a memtable, which is then scanned.
** Properties checked: replay's valid prefix is within the file, and
** replaying just that prefix delivers the same records without error.
*/
#include "fuzz_support.h"
#include "batch.h"
#include "memtable.h"
#include "wal.h"

typedef struct replay_state {
  lsm_mem *mem;
  int records;
} replay_state;

static int on_record(void *ctx, lsm_slice payload) {
  replay_state *s = ctx;
  uint64_t seq_base;
  uint32_t n_ops;
  s->records++;
  /* A malformed batch is LSM_CORRUPT (checked before anything is inserted);
  ** sequence numbers may collide across records, so insert each into a
  ** fresh memtable. */
  if (lsm_mem_new(&s->mem) != LSM_OK) return LSM_NOMEM;
  lsm_batch_replay(payload, s->mem, &seq_base, &n_ops);
  {
    lsm_it *it = lsm_mem_iter_new(s->mem);
    int k = 0;
    if (it) {
      for (lsm_it_first(it); lsm_it_valid(it) && k < 100000; lsm_it_next(it), k++) {
      }
      lsm_it_free(it);
    }
  }
  lsm_mem_unref(s->mem);
  s->mem = NULL;
  return LSM_OK;
}

static int count_only(void *ctx, lsm_slice payload) {
  (void)payload;
  (*(int *)ctx)++;
  return LSM_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lsm_buffer file = {0}, err = {0};
  replay_state s = {NULL, 0};
  mem_env env;
  uint64_t valid = 0;
  int rc;
  if (size < 1) return 0;
  if (data[0] & 1) {
    /* Frame the records with the engine's writer, so the checksums and the
    ** layout are whatever the current format is. */
    lsm_wal *w = NULL;
    size_t off = 1;
    mem_env_init(&env, NULL, 0);
    if (lsm_wal_create(&env.base, "fuzz.log", &w) != LSM_OK) abort();
    while (off + 2 <= size) {
      size_t len = (size_t)data[off] | (size_t)data[off + 1] << 8;
      if (len > size - off - 2) break;
      if (lsm_wal_append(w, lsm_slice_make(data + off + 2, len), 0) != LSM_OK) abort();
      off += 2 + len;
    }
    lsm_wal_close(w);
    lsm_buffer_append(&file, env.written.data, env.written.len);
    lsm_buffer_append(&file, data + off, size - off);   /* a torn tail */
    lsm_buffer_free(&env.written);
  } else {
    lsm_buffer_append(&file, data + 1, size - 1);
  }
  mem_env_init(&env, file.data, file.len);
  rc = lsm_wal_replay(&env.base, "fuzz.log", on_record, &s, &valid, &err);
  if (valid > file.len) {
    fprintf(stderr, "valid prefix %llu past end of file %zu\n", (unsigned long long)valid, file.len);
    abort();
  }
  if (rc == LSM_OK) {
    /* The valid prefix alone replays to the same records. */
    int again = 0;
    mem_env_init(&env, file.data, (size_t)valid);
    rc = lsm_wal_replay(&env.base, "fuzz.log", count_only, &again, NULL, &err);
    if (rc != LSM_OK || again != s.records) {
      fprintf(stderr, "prefix replay: status %d, %d records instead of %d\n", rc, again, s.records);
      abort();
    }
  }
  lsm_buffer_free(&file);
  lsm_buffer_free(&err);
  return 0;
}
