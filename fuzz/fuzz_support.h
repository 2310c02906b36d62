/*
** fuzz_support.h — helpers shared by the libFuzzer targets in fuzz/ (each
** target is one program, so these are static functions in a header).
**
**   mem_env     an lsm_env over one in-memory file under any path: the
**               SSTable and WAL targets read their input through it, and
**               the WAL target writes logs with the engine's own writer into
**               it, with no file system in the loop.
**   fix_sst     recompute every checksum of an SSTable image (footer, index,
**               filter and each data block the index points at), so that
**               mutated tables get past the checksums into the parsers.
**   build_fixture  a small deterministic database (tables on two levels, a
**               log with a few records), used by gen_seeds.c to make the
**               seed corpora and by fuzz_manifest.c as the tables a fuzzed
**               MANIFEST can name.
**
** The fuzz targets' inputs start with a mode byte: bit 0 set means "repair
** the checksums first" (structure-aware fuzzing of the parsers), clear means
** "use the bytes as they are" (the checksum and bounds checks themselves).
*/
#ifndef LSM_FUZZ_SUPPORT_H
#define LSM_FUZZ_SUPPORT_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "block.h"
#include "coding.h"
#include "lsm.h"
#include "sst.h"

/* ---------------------------------------------------------------- mem_env */

typedef struct mem_env {
  lsm_env base;              /* first: the engine passes &base back */
  const unsigned char *data; /* what reads see */
  size_t n;
  lsm_buffer written;        /* what open_append + append wrote (the
                                caller points data at it to read it back) */
} mem_env;

struct lsm_file {
  int open;
};

static int mem_open_read(lsm_env *env, const char *path, lsm_file **out) {
  lsm_file *f = malloc(sizeof *f);
  (void)env;
  (void)path;
  if (f == NULL) return LSM_NOMEM;
  f->open = 1;
  *out = f;
  return LSM_OK;
}

static int mem_pread(lsm_env *env, lsm_file *f, uint64_t off, void *buf, size_t n,
                     size_t *n_read) {
  mem_env *m = (mem_env *)env;
  (void)f;
  if (off >= m->n) {
    *n_read = 0;
    return LSM_OK;
  }
  if (n > m->n - off) n = (size_t)(m->n - off);
  memcpy(buf, m->data + off, n);
  *n_read = n;
  return LSM_OK;
}

static int mem_size(lsm_env *env, lsm_file *f, uint64_t *size) {
  (void)f;
  *size = ((mem_env *)env)->n;
  return LSM_OK;
}

static int mem_close(lsm_env *env, lsm_file *f) {
  (void)env;
  free(f);
  return LSM_OK;
}

static int mem_no_open(lsm_env *env, const char *path, lsm_file **out) {
  (void)env;
  (void)path;
  (void)out;
  return LSM_IOERR;
}

/* Writing: one file, truncated by open_append. */
static int mem_open_append(lsm_env *env, const char *path, lsm_file **out) {
  ((mem_env *)env)->written.len = 0;
  return mem_open_read(env, path, out);
}

static int mem_append(lsm_env *env, lsm_file *f, const void *buf, size_t n) {
  (void)f;
  return lsm_buffer_append(&((mem_env *)env)->written, buf, n);
}

static int mem_sync(lsm_env *env, lsm_file *f) {
  (void)env;
  (void)f;
  return LSM_OK;
}

static int mem_no_file(lsm_env *env, lsm_file *f) {
  (void)env;
  (void)f;
  return LSM_IOERR;
}

static int mem_no_path(lsm_env *env, const char *path) {
  (void)env;
  (void)path;
  return LSM_IOERR;
}

static int mem_no_rename(lsm_env *env, const char *from, const char *to) {
  (void)env;
  (void)from;
  (void)to;
  return LSM_IOERR;
}

static int mem_no_list(lsm_env *env, const char *dir, char ***names, int *n) {
  (void)env;
  (void)dir;
  (void)names;
  (void)n;
  return LSM_IOERR;
}

/* Set m up to read data[0..n); m->written starts empty (free it with
** lsm_buffer_free). */
static inline void mem_env_init(mem_env *m, const unsigned char *data, size_t n) {
  memset(m, 0, sizeof *m);
  m->base.open_read = mem_open_read;
  m->base.open_append = mem_open_append;
  m->base.pread = mem_pread;
  m->base.append = mem_append;
  m->base.sync = mem_sync;
  m->base.size = mem_size;
  m->base.close = mem_close;
  m->base.rename = mem_no_rename;
  m->base.remove = mem_no_path;
  m->base.mkdir = mem_no_path;
  m->base.rmdir = mem_no_path;
  m->base.list = mem_no_list;
  m->base.sync_dir = mem_no_path;
  m->base.lock = mem_no_open;
  m->base.unlock = mem_no_file;
  m->data = data;
  m->n = n;
}

/* ---------------------------------------------------------------- fix_sst */

/* Rewrite the trailer checksum of block h if it lies inside [0, limit). */
static inline void fix_block(unsigned char *b, uint64_t limit, lsm_block_handle h) {
  if (h.size > limit || h.offset > limit - h.size ||
      limit - h.offset - h.size < LSM_BLOCK_TRAILER_SIZE) {
    return;
  }
  lsm_put_u32(b + h.offset + h.size + 1, lsm_checksum32(b + h.offset, (size_t)h.size + 1));
}

static inline void fix_sst(unsigned char *b, size_t n) {
  unsigned char *footer;
  lsm_block_handle ih, fh;
  if (n < LSM_SST_FOOTER_SIZE) return;
  footer = b + n - LSM_SST_FOOTER_SIZE;
  ih.offset = lsm_get_u64(footer);
  ih.size = lsm_get_u64(footer + 8);
  fh.offset = lsm_get_u64(footer + 16);
  fh.size = lsm_get_u64(footer + 24);
  /* Data blocks first (the index names them), then filter, index, footer. */
  if (ih.size <= n - LSM_SST_FOOTER_SIZE && ih.offset <= n - LSM_SST_FOOTER_SIZE - ih.size) {
    lsm_it *it = lsm_block_iter_new(lsm_slice_make(b + ih.offset, (size_t)ih.size), NULL, NULL);
    int k = 0;
    if (it) {
      for (lsm_it_first(it); lsm_it_valid(it) && k < 100000; lsm_it_next(it), k++) {
        lsm_slice v = lsm_it_value(it);
        lsm_block_handle h;
        if (lsm_block_handle_decode(v.p, v.p + v.n, &h)) fix_block(b, n - LSM_SST_FOOTER_SIZE, h);
      }
      lsm_it_free(it);
    }
  }
  fix_block(b, n - LSM_SST_FOOTER_SIZE, fh);
  fix_block(b, n - LSM_SST_FOOTER_SIZE, ih);
  lsm_put_u32(footer + 36, lsm_checksum32(footer, 36));
}

/* ---------------------------------------------------------------- fixture */

/* A small database in dir: 300 keys compacted to level 1, 100 more flushed
** to level 0, 20 batches left in the log.  Deterministic.  LSM_OK or an
** error status. */
static inline int build_fixture(const char *dir) {
  lsm_options o;
  lsm_db *db = NULL;
  lsm_batch *b = NULL;
  char key[32], val[64];
  int i, rc;
  lsm_options_init(&o);
  o.sync_mode = LSM_SYNC_OFF;
  o.block_size = 256;
  o.memtable_size = 1 << 20;
  rc = lsm_open(dir, &o, &db);
  if (rc == LSM_OK) rc = lsm_batch_new(&b);
  for (i = 0; rc == LSM_OK && i < 420; i++) {
    lsm_batch_clear(b);
    snprintf(key, sizeof key, "key%05d", (i * 7919) % 400);
    snprintf(val, sizeof val, "value-%d-%.*s", i, i % 40, "abcdefghijklmnopqrstuvwxyzabcdefghijklmnop");
    rc = lsm_batch_put(b, key, strlen(key), val, strlen(val));
    if (rc == LSM_OK && i % 11 == 5) {
      snprintf(key, sizeof key, "key%05d", (i * 31) % 400);
      rc = lsm_batch_delete(b, key, strlen(key));
    }
    if (rc == LSM_OK) rc = lsm_write(db, b, 0);
    if (rc == LSM_OK && i == 299) rc = lsm_compact(db);
    if (rc == LSM_OK && i == 399) rc = lsm_flush(db);
  }
  lsm_batch_free(b);
  if (db) {
    int rc2 = lsm_close(db);
    if (rc == LSM_OK) rc = rc2;
  }
  return rc;
}

/* Read a whole file into a malloc()ed buffer; NULL on failure. */
static inline unsigned char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  unsigned char *buf = NULL;
  long len;
  if (f == NULL) return NULL;
  if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
    buf = malloc(len ? (size_t)len : 1);
    if (buf && fread(buf, 1, (size_t)len, f) != (size_t)len) {
      free(buf);
      buf = NULL;
    }
    *n = (size_t)len;
  }
  fclose(f);
  return buf;
}

static inline int spill(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  int ok;
  if (f == NULL) return -1;
  ok = (n == 0 || fwrite(data, 1, n, f) == n);
  return (fclose(f) == 0 && ok) ? 0 : -1;
}

#endif /* LSM_FUZZ_SUPPORT_H */
