/*
** gen_seeds.c — writes the seed corpora of the fuzz targets into
** fuzz/corpus/<target>/ (run by `sh fuzz/run.sh --seeds`; the output is
** committed).  Every seed is made by the code under test itself, so the
** fuzzers start from valid inputs and mutate from there:
**
**   fuzz_sst       the fixture database's tables, and three tables built
**                  directly (bloom filter or not, one entry larger than a
**                  block, tombstones), each once with the "repair
**                  checksums" mode byte and once without;
**   fuzz_wal       the fixture's log as is, and its records re-framed for
**                  the structured mode, plus hand-made batches;
**   fuzz_manifest  the fixture's MANIFEST as is, and without its checksum
**                  for the mode that appends it (the fuzz target rebuilds
**                  the same fixture, so file numbers and sizes match);
**   fuzz_key       encodings of NULL, integers at the edges of the double
**                  range, reals, infinities, TEXT and BLOB with NULs, and a
**                  composite key;
**   fuzz_row       rows of every column type;
**   fuzz_args      CREATE argument lists, valid and not, NUL-separated.
**
** Usage: gen_seeds OUTDIR (OUTDIR/<target>/ must not need creating by
** anyone else; it is created here).
*/
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_support.h"
#include "batch.h"
#include "dbformat.h"
#include "ext_test_support.h"
#include "key.h"
#include "row.h"
#include "wal.h"

static const char *outdir;

static void seed(const char *target, const char *name, unsigned char mode, const void *data,
                 size_t n) {
  char path[512];
  unsigned char *buf = malloc(n + 1);
  if (buf == NULL) abort();
  buf[0] = mode;
  if (n) memcpy(buf + 1, data, n);
  snprintf(path, sizeof path, "%s/%s", outdir, target);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/%s/%s", outdir, target, name);
  if (spill(path, buf, n + 1)) {
    fprintf(stderr, "cannot write %s\n", path);
    exit(1);
  }
  free(buf);
}

/* A seed without a mode byte (key, row, args). */
static void seed_raw(const char *target, const char *name, const void *data, size_t n) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", outdir, target);
  mkdir(path, 0755);
  snprintf(path, sizeof path, "%s/%s/%s", outdir, target, name);
  if (spill(path, data, n)) {
    fprintf(stderr, "cannot write %s\n", path);
    exit(1);
  }
}

static void table(const char *dir, const char *name, int bloom_bits, size_t block_size, int n,
                  size_t big) {
  lsm_sst_options so;
  lsm_sst_builder *b = NULL;
  lsm_sst_info info;
  lsm_buffer ikey = {0};
  char path[256], key[32], *val = malloc(big + 64);
  unsigned char *img;
  size_t len;
  int i;
  so.block_size = block_size;
  so.bloom_bits = bloom_bits;
  so.sync = 0;
  snprintf(path, sizeof path, "%s/%s", dir, name);
  if (val == NULL || lsm_sst_builder_new(lsm_env_default(), path, &so, &b) != LSM_OK) abort();
  for (i = 0; i < n; i++) {
    size_t vl = (i == 1 && big) ? big : (size_t)(i % 30);
    snprintf(key, sizeof key, "row%04d", i);
    memset(val, 'a' + i % 26, vl);
    ikey.len = 0;
    lsm_ikey_append(&ikey, lsm_slice_make(key, strlen(key)), (uint64_t)(1000 - i),
                    i % 9 == 4 ? LSM_KIND_DELETE : LSM_KIND_PUT);
    if (lsm_sst_builder_add(b, lsm_slice_make(ikey.data, ikey.len),
                            lsm_slice_make(val, i % 9 == 4 ? 0 : vl)) != LSM_OK) {
      abort();
    }
  }
  memset(&info, 0, sizeof info);
  if (lsm_sst_builder_finish(b, &info) != LSM_OK) abort();
  lsm_buffer_free(&info.smallest);
  lsm_buffer_free(&info.largest);
  lsm_buffer_free(&ikey);
  free(val);
  img = slurp(path, &len);
  if (img == NULL) abort();
  snprintf(path, sizeof path, "fixed-%s", name);
  seed("fuzz_sst", path, 1, img, len);
  snprintf(path, sizeof path, "raw-%s", name);
  seed("fuzz_sst", path, 0, img, len);
  free(img);
}

static void wal_seeds(const unsigned char *log, size_t n) {
  lsm_buffer framed = {0};
  size_t off = LSM_WAL_HEADER_SIZE;
  seed("fuzz_wal", "raw-fixture.log", 0, log, n);
  while (off + LSM_WAL_RECORD_HEADER_SIZE <= n) {
    uint32_t len = lsm_get_u32(log + off);   /* a record starts with its length */
    unsigned char l2[2];
    if (len > n - off - LSM_WAL_RECORD_HEADER_SIZE || len > 65535) break;
    l2[0] = (unsigned char)(len & 0xff);
    l2[1] = (unsigned char)(len >> 8);
    lsm_buffer_append(&framed, l2, 2);
    lsm_buffer_append(&framed, log + off + LSM_WAL_RECORD_HEADER_SIZE, len);
    off += LSM_WAL_RECORD_HEADER_SIZE + len;
  }
  seed("fuzz_wal", "framed-fixture.log", 1, framed.data, framed.len);
  /* Two hand-made batches: puts and deletes, then an empty-valued put. */
  {
    lsm_batch *b = NULL;
    lsm_buffer payload = {0}, out = {0};
    uint32_t n_ops;
    unsigned char l2[2];
    if (lsm_batch_new(&b) != LSM_OK) abort();
    lsm_batch_put(b, "alpha", 5, "1", 1);
    lsm_batch_delete(b, "beta", 4);
    lsm_batch_put(b, "gamma", 5, "", 0);
    lsm_batch_encode(b, 7, &payload, &n_ops);
    l2[0] = (unsigned char)(payload.len & 0xff);
    l2[1] = (unsigned char)(payload.len >> 8);
    lsm_buffer_append(&out, l2, 2);
    lsm_buffer_append(&out, payload.data, payload.len);
    lsm_batch_clear(b);
    payload.len = 0;
    lsm_batch_put(b, "\0\1\2", 3, "binary\0value", 12);
    lsm_batch_encode(b, 10, &payload, &n_ops);
    l2[0] = (unsigned char)(payload.len & 0xff);
    l2[1] = (unsigned char)(payload.len >> 8);
    lsm_buffer_append(&out, l2, 2);
    lsm_buffer_append(&out, payload.data, payload.len);
    lsm_buffer_append(&out, "torn", 4);
    seed("fuzz_wal", "framed-handmade.log", 1, out.data, out.len);
    lsm_batch_free(b);
    lsm_buffer_free(&payload);
    lsm_buffer_free(&out);
  }
  lsm_buffer_free(&framed);
}

static void key_seeds(void) {
  static const char *names[] = {"null", "zero", "one", "minus-one", "two53-plus-1", "int64-min",
                                "int64-max", "half", "big-real", "infinity", "text", "blob"};
  lsmx_value v[12];
  lsm_buffer all = {0};
  int i;
  memset(v, 0, sizeof v);
  v[0].type = SQLITE_NULL;
  v[1].type = SQLITE_INTEGER;
  v[2].type = SQLITE_INTEGER, v[2].i = 1;
  v[3].type = SQLITE_INTEGER, v[3].i = -1;
  v[4].type = SQLITE_INTEGER, v[4].i = (1LL << 53) + 1;
  v[5].type = SQLITE_INTEGER, v[5].i = INT64_MIN;
  v[6].type = SQLITE_INTEGER, v[6].i = INT64_MAX;
  v[7].type = SQLITE_FLOAT, v[7].r = 0.5;
  v[8].type = SQLITE_FLOAT, v[8].r = -1e300;
  v[9].type = SQLITE_FLOAT, v[9].r = 1.0 / 0.0;
  v[10].type = SQLITE_TEXT, v[10].p = (const unsigned char *)"hello\0world", v[10].n = 11;
  v[11].type = SQLITE_BLOB, v[11].p = (const unsigned char *)"\0\0\xff\x01", v[11].n = 4;
  for (i = 0; i < 12; i++) {
    lsm_buffer one = {0};
    if (lsmx_key_append(&one, &v[i]) != LSM_OK || lsmx_key_append(&all, &v[i]) != LSM_OK) abort();
    seed_raw("fuzz_key", names[i], one.data, one.len);
    lsm_buffer_free(&one);
  }
  seed_raw("fuzz_key", "composite", all.data, all.len);
  lsm_buffer_free(&all);
}

static void row_seeds(void) {
  lsmx_value cols[5];
  lsm_buffer out = {0};
  memset(cols, 0, sizeof cols);
  cols[0].type = SQLITE_NULL;
  cols[1].type = SQLITE_INTEGER, cols[1].i = -123456789;
  cols[2].type = SQLITE_FLOAT, cols[2].r = 3.25;
  cols[3].type = SQLITE_TEXT, cols[3].p = (const unsigned char *)"some text", cols[3].n = 9;
  cols[4].type = SQLITE_BLOB, cols[4].p = (const unsigned char *)"\0\1\2\3", cols[4].n = 4;
  if (lsmx_row_encode(&out, 5, cols, 5) != LSM_OK) abort();
  seed_raw("fuzz_row", "all-types", out.data, out.len);
  if (lsmx_row_encode(&out, 0, cols + 3, 1) != LSM_OK) abort();
  seed_raw("fuzz_row", "one-text", out.data, out.len);
  if (lsmx_row_encode(&out, 0, cols, 0) != LSM_OK) abort();
  seed_raw("fuzz_row", "empty", out.data, out.len);
  lsm_buffer_free(&out);
}

static void args_seeds(void) {
  static const struct {
    const char *name;
    const char *args;
    size_t n;
  } s[] = {
#define ARGS(name, lit) {name, lit, sizeof lit - 1}
    ARGS("kv", "k TEXT PRIMARY KEY\0v TEXT"),
    ARGS("options", "k INTEGER PRIMARY KEY\0v BLOB\0memtable_size='64K'\0bloom_bits=12\0"
                    "block_size=4096\0sync=full\0dir='data/t'"),
    ARGS("composite", "a TEXT\0b INT\0c\0PRIMARY KEY(a, b)"),
    ARGS("rowid", "x REAL NOT NULL\0y TEXT COLLATE NOCASE\0sync=off"),
    ARGS("quoted", "\"weird name\" VARCHAR(20) PRIMARY KEY\0[v] DOUBLE PRECISION"),
    ARGS("bad-option", "k TEXT PRIMARY KEY\0memtable_sz=1"),
    ARGS("bad-size", "k TEXT PRIMARY KEY\0memtable_size='64Q'"),
#undef ARGS
  };
  size_t i;
  for (i = 0; i < sizeof s / sizeof s[0]; i++) seed_raw("fuzz_args", s[i].name, s[i].args, s[i].n);
}

int main(int argc, char **argv) {
  char tmp[] = "/tmp/lsm-seeds-XXXXXX", fix[64], path[160];
  lsm_env *env = lsm_env_default();
  char **names = NULL;
  int n = 0, i;
  if (argc != 2) {
    fprintf(stderr, "usage: gen_seeds OUTDIR\n");
    return 2;
  }
  outdir = argv[1];
  mkdir(outdir, 0755);
  if (lsmx_test_init_sqlite_api() != 0 || mkdtemp(tmp) == NULL) return 1;
  snprintf(fix, sizeof fix, "%s/fixture", tmp);
  if (build_fixture(fix) != LSM_OK) return 1;
  if (env->list(env, fix, &names, &n) != LSM_OK) return 1;
  for (i = 0; i < n; i++) {
    size_t len = 0, nl = strlen(names[i]);
    unsigned char *img;
    snprintf(path, sizeof path, "%s/%s", fix, names[i]);
    img = slurp(path, &len);
    if (img == NULL) continue;
    if (nl > 4 && strcmp(names[i] + nl - 4, ".sst") == 0) {
      char name[96];
      snprintf(name, sizeof name, "fixed-fixture-%s", names[i]);
      seed("fuzz_sst", name, 1, img, len);
      snprintf(name, sizeof name, "raw-fixture-%s", names[i]);
      seed("fuzz_sst", name, 0, img, len);
    } else if (nl > 4 && strcmp(names[i] + nl - 4, ".log") == 0) {
      wal_seeds(img, len);
    } else if (strcmp(names[i], "MANIFEST") == 0 && len >= 8) {
      seed("fuzz_manifest", "raw-MANIFEST", 0, img, len);
      seed("fuzz_manifest", "body-MANIFEST", 1, img, len - 8);
    }
    free(img);
    unlink(path);
  }
  lsm_env_free_list(names, n);
  rmdir(fix);
  table(tmp, "bloom.sst", 10, 256, 120, 0);
  table(tmp, "nobloom.sst", 0, 4096, 5, 0);
  table(tmp, "bigvalue.sst", 10, 256, 9, 3000);
  unlink(strcat(strcpy(path, tmp), "/bloom.sst"));
  unlink(strcat(strcpy(path, tmp), "/nobloom.sst"));
  unlink(strcat(strcpy(path, tmp), "/bigvalue.sst"));
  rmdir(tmp);
  key_seeds();
  row_seeds();
  args_seeds();
  return 0;
}
