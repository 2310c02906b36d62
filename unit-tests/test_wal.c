/*
** test_wal.c — unit tests for the write-ahead log (lsm/wal.c) and for the
** fault-injecting test environment (unit-tests/fault_env.c) they rely on.
**
** What is checked: the on-disk bytes match the layout in wal.h; replay
** hands back exactly the records appended, in order; every kind of torn
** tail (truncation at every byte of the last record, a garbage final record,
** a zero-filled tail) ends replay cleanly with valid_bytes at the end of the
** intact prefix; mid-log damage and a bad file header give LSM_CORRUPT with
** a message naming the file and offset; I/O failures poison the writer.
**
** Randomised parts print their seed; set LSM_TEST_SEED to replay one.
** Each test works on files named after itself in the current directory.
*/
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fault_env.h"
#include "wal.h"

static uint64_t g_seed;

/* ------------------------------------------------------------------ */
/* Helpers */

/* xorshift64*: deterministic for a seed. */
static uint64_t rnd_next(uint64_t *s) {
  uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *s = x;
  return x * 0x2545f4914f6cdd1dull;
}

static void fill_random(unsigned char *p, size_t n, uint64_t *s) {
  size_t i;
  for (i = 0; i < n; i++) p[i] = (unsigned char)(rnd_next(s) >> 56);
}

static void write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  if (n) ck_assert_uint_eq(fwrite(data, 1, n, f), n);
  ck_assert_int_eq(fclose(f), 0);
}

static unsigned char *read_whole(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  unsigned char *p;
  long sz;
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
  sz = ftell(f);
  ck_assert_int_ge(sz, 0);
  ck_assert_int_eq(fseek(f, 0, SEEK_SET), 0);
  p = malloc((size_t)sz + 1);
  ck_assert_ptr_nonnull(p);
  if (sz) ck_assert_uint_eq(fread(p, 1, (size_t)sz, f), (size_t)sz);
  fclose(f);
  *n = (size_t)sz;
  return p;
}

static void append_raw(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "ab");
  ck_assert_ptr_nonnull(f);
  if (n) ck_assert_uint_eq(fwrite(data, 1, n, f), n);
  ck_assert_int_eq(fclose(f), 0);
}

static uint64_t file_size(const char *path) {
  struct stat st;
  ck_assert_int_eq(stat(path, &st), 0);
  return (uint64_t)st.st_size;
}

/* Records collected by replay. */
typedef struct collected {
  int n;
  unsigned char **data;
  size_t *len;
  int fail_at;    /* 1-based record whose callback returns fail_rc; 0: none */
  int fail_rc;
  int calls;
} collected;

static int collect_fn(void *ctx, lsm_slice payload) {
  collected *c = ctx;
  c->calls++;
  if (c->fail_at && c->calls == c->fail_at) return c->fail_rc;
  c->data = realloc(c->data, sizeof *c->data * (size_t)(c->n + 1));
  c->len = realloc(c->len, sizeof *c->len * (size_t)(c->n + 1));
  ck_assert_ptr_nonnull(c->data);
  ck_assert_ptr_nonnull(c->len);
  c->data[c->n] = malloc(payload.n + 1);
  ck_assert_ptr_nonnull(c->data[c->n]);
  if (payload.n) memcpy(c->data[c->n], payload.p, payload.n);
  c->len[c->n] = payload.n;
  c->n++;
  return LSM_OK;
}

static void collected_free(collected *c) {
  int i;
  for (i = 0; i < c->n; i++) free(c->data[i]);
  free(c->data);
  free(c->len);
  memset(c, 0, sizeof *c);
}

/* A log written by the real writer, remembered record by record. */
typedef struct test_log {
  int n;
  unsigned char **data;
  size_t *len;
  uint64_t *off;   /* file offset of each record's header */
  uint64_t size;   /* file size after the last record */
} test_log;

/* Write n records with the given payload sizes and random contents. */
static void make_log(const char *path, int n, const size_t *sizes,
                     uint64_t seed, test_log *lg) {
  lsm_wal *w = NULL;
  int i;
  memset(lg, 0, sizeof *lg);
  lg->n = n;
  lg->data = calloc((size_t)n + 1, sizeof *lg->data);
  lg->len = calloc((size_t)n + 1, sizeof *lg->len);
  lg->off = calloc((size_t)n + 1, sizeof *lg->off);
  ck_assert_int_eq(lsm_wal_create(lsm_env_default(), path, &w), LSM_OK);
  for (i = 0; i < n; i++) {
    lg->len[i] = sizes[i];
    lg->data[i] = malloc(sizes[i] + 1);
    ck_assert_ptr_nonnull(lg->data[i]);
    fill_random(lg->data[i], sizes[i], &seed);
    lg->off[i] = lsm_wal_size(w);
    ck_assert_int_eq(
        lsm_wal_append(w, lsm_slice_make(lg->data[i], sizes[i]), 0), LSM_OK);
  }
  lg->size = lsm_wal_size(w);
  ck_assert_int_eq(lsm_wal_close(w), LSM_OK);
  ck_assert_uint_eq(file_size(path), lg->size);
}

static void test_log_free(test_log *lg) {
  int i;
  for (i = 0; i < lg->n; i++) free(lg->data[i]);
  free(lg->data);
  free(lg->len);
  free(lg->off);
}

/* The first `count` records collected equal the log's first `count`. */
static void assert_prefix(const collected *c, const test_log *lg, int count) {
  int i;
  ck_assert_int_eq(c->n, count);
  for (i = 0; i < count; i++) {
    ck_assert_uint_eq(c->len[i], lg->len[i]);
    ck_assert(lg->len[i] == 0 ||
              memcmp(c->data[i], lg->data[i], lg->len[i]) == 0);
  }
}

/* Replay path; returns the status and fills *c and *valid. */
static int replay(const char *path, collected *c, uint64_t *valid,
                  lsm_buffer *msg) {
  *valid = UINT64_MAX;
  return lsm_wal_replay(lsm_env_default(), path, collect_fn, c, valid, msg);
}

static const char *msg_text(const lsm_buffer *m) {
  return m->data ? (const char *)m->data : "";
}

static void flip_byte(const char *path, uint64_t off, unsigned char mask) {
  size_t n;
  unsigned char *p = read_whole(path, &n);
  ck_assert_uint_lt(off, n);
  p[off] ^= mask;
  write_file(path, p, n);
  free(p);
}

/* ------------------------------------------------------------------ */
/* Format */

START_TEST(wal_create_writes_checksummed_header) {
  lsm_wal *w = NULL;
  size_t n;
  unsigned char *p;
  ck_assert_int_eq(lsm_wal_create(lsm_env_default(), "hdr.log", &w), LSM_OK);
  ck_assert_ptr_nonnull(w);
  ck_assert_uint_eq(lsm_wal_size(w), LSM_WAL_HEADER_SIZE);
  ck_assert_int_eq(lsm_wal_close(w), LSM_OK);
  p = read_whole("hdr.log", &n);
  ck_assert_uint_eq(n, 16);
  ck_assert(memcmp(p, "LSMWAL\0\1", 8) == 0);
  ck_assert_uint_eq(lsm_get_u32(p + 8), 1);
  ck_assert_uint_eq(lsm_get_u32(p + 12), lsm_checksum32(p, 12));
  free(p);
}
END_TEST

START_TEST(wal_create_truncates_existing_file) {
  lsm_wal *w = NULL;
  unsigned char junk[100];
  memset(junk, 0xab, sizeof junk);
  write_file("trunc.log", junk, sizeof junk);
  ck_assert_int_eq(lsm_wal_create(lsm_env_default(), "trunc.log", &w), LSM_OK);
  ck_assert_int_eq(lsm_wal_close(w), LSM_OK);
  ck_assert_uint_eq(file_size("trunc.log"), 16);
}
END_TEST

START_TEST(wal_append_lays_out_record_as_documented) {
  lsm_wal *w = NULL;
  unsigned char *p, cat[7];
  size_t n;
  ck_assert_int_eq(lsm_wal_create(lsm_env_default(), "layout.log", &w), LSM_OK);
  ck_assert_int_eq(lsm_wal_append(w, lsm_slice_make("abc", 3), 0), LSM_OK);
  ck_assert_int_eq(lsm_wal_append(w, lsm_slice_make(NULL, 0), 0), LSM_OK);
  ck_assert_uint_eq(lsm_wal_size(w), 16 + 12 + 3 + 12);
  ck_assert_int_eq(lsm_wal_close(w), LSM_OK);
  p = read_whole("layout.log", &n);
  ck_assert_uint_eq(n, 16 + 12 + 3 + 12);
  (void)cat;
  /* Record 1: len 3, checksum32("abc"), checksum32 of those 8 bytes, "abc". */
  ck_assert_uint_eq(lsm_get_u32(p + 16), 3);
  ck_assert_uint_eq(lsm_get_u32(p + 20), lsm_checksum32("abc", 3));
  ck_assert_uint_eq(lsm_get_u32(p + 24), lsm_checksum32(p + 16, 8));
  ck_assert(memcmp(p + 28, "abc", 3) == 0);
  /* Record 2: empty payload; the header checksum is never zero. */
  ck_assert_uint_eq(lsm_get_u32(p + 31), 0);
  ck_assert_uint_eq(lsm_get_u32(p + 35), lsm_checksum32("", 0));
  ck_assert_uint_eq(lsm_get_u32(p + 39), lsm_checksum32(p + 31, 8));
  ck_assert_uint_ne(lsm_get_u32(p + 39), 0);
  free(p);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Replay of intact logs */

START_TEST(wal_replay_returns_every_record_in_order) {
  enum { N = 60 };
  size_t sizes[N];
  uint64_t s = g_seed ^ 0x1111, valid;
  test_log lg;
  collected c = {0};
  lsm_buffer msg = {0};
  int i;
  for (i = 0; i < N; i++) {
    uint64_t r = rnd_next(&s);
    switch (i % 5) {
      case 0: sizes[i] = 0; break;
      case 1: sizes[i] = 1 + r % 16; break;
      case 2: sizes[i] = r % 300; break;
      case 3: sizes[i] = r % 70000; break; /* crosses the read chunk */
      default: sizes[i] = r % 5000; break;
    }
  }
  sizes[N / 2] = 1024 * 1024; /* 1 MiB */
  sizes[N - 1] = 1024 * 1024 + 3;
  make_log("order.log", N, sizes, g_seed, &lg);
  ck_assert_int_eq(replay("order.log", &c, &valid, &msg), LSM_OK);
  assert_prefix(&c, &lg, N);
  ck_assert_uint_eq(valid, lg.size);
  collected_free(&c);
  test_log_free(&lg);
  lsm_buffer_free(&msg);
}
END_TEST

START_TEST(wal_replay_of_header_only_log_delivers_nothing) {
  lsm_wal *w = NULL;
  collected c = {0};
  uint64_t valid;
  ck_assert_int_eq(lsm_wal_create(lsm_env_default(), "empty.log", &w), LSM_OK);
  ck_assert_int_eq(lsm_wal_close(w), LSM_OK);
  ck_assert_int_eq(replay("empty.log", &c, &valid, NULL), LSM_OK);
  ck_assert_int_eq(c.calls, 0);
  ck_assert_uint_eq(valid, 16);
}
END_TEST

START_TEST(wal_replay_reads_in_large_chunks) {
  enum { N = 2000 };
  size_t sizes[N];
  test_log lg;
  collected c = {0};
  lsm_fault_env fe;
  uint64_t valid;
  int i;
  for (i = 0; i < N; i++) sizes[i] = 20;
  make_log("chunks.log", N, sizes, g_seed, &lg); /* 56 KiB of records */
  lsm_fault_env_init(&fe, NULL);
  ck_assert_int_eq(lsm_wal_replay(lsm_fault_env_env(&fe), "chunks.log",
                                  collect_fn, &c, &valid, NULL),
                   LSM_OK);
  assert_prefix(&c, &lg, N);
  ck_assert_uint_eq(valid, lg.size);
  /* Not one pread per record or per header. */
  ck_assert_uint_le(lsm_fault_env_calls(&fe, LSM_FAULT_PREAD), 4);
  ck_assert_uint_eq(lsm_fault_env_calls(&fe, LSM_FAULT_OPEN_READ), 1);
  ck_assert_uint_eq(lsm_fault_env_calls(&fe, LSM_FAULT_CLOSE), 1);
  collected_free(&c);
  test_log_free(&lg);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Torn tails */

START_TEST(wal_replay_stops_at_torn_tail_at_every_offset) {
  enum { N = 5 };
  size_t sizes[N] = {10, 0, 200, 33, 300};
  test_log lg;
  size_t n;
  unsigned char *full;
  uint64_t t, last;
  make_log("torn_full.log", N, sizes, g_seed, &lg);
  full = read_whole("torn_full.log", &n);
  last = lg.off[N - 1];
  for (t = last; t < lg.size; t++) {
    collected c = {0};
    lsm_buffer msg = {0};
    uint64_t valid;
    int rc;
    write_file("torn.log", full, (size_t)t);
    rc = replay("torn.log", &c, &valid, &msg);
    ck_assert_msg(rc == LSM_OK, "truncated at %llu: rc %d (%s)",
                  (unsigned long long)t, rc, msg_text(&msg));
    assert_prefix(&c, &lg, N - 1);
    ck_assert_uint_eq(valid, last);
    collected_free(&c);
    lsm_buffer_free(&msg);
  }
  free(full);
  test_log_free(&lg);
}
END_TEST

START_TEST(wal_replay_reports_garbage_final_record) {
  /* A crash leaves a prefix of what was written, or zeros: never garbage.
  ** A final record with a valid header and a garbled payload reaching EOF,
  ** or a garbled header, is corruption. */
  size_t sizes[3] = {40, 50, 60};
  test_log lg;
  collected c = {0};
  uint64_t valid;
  unsigned char rec[12 + 25];
  make_log("garbage_tail.log", 3, sizes, g_seed, &lg);
  memset(rec, 0x5a, sizeof rec);
  lsm_put_u32(rec, 25);
  lsm_put_u32(rec + 4, 0x12345678);
  lsm_put_u32(rec + 8, lsm_checksum32(rec, 8));
  append_raw("garbage_tail.log", rec, sizeof rec);
  ck_assert_int_eq(replay("garbage_tail.log", &c, &valid, NULL), LSM_CORRUPT);
  assert_prefix(&c, &lg, 3);
  ck_assert_uint_eq(valid, lg.size);
  collected_free(&c);
  /* The same with its header garbled too. */
  flip_byte("garbage_tail.log", lg.size + 1, 0x10);
  ck_assert_int_eq(replay("garbage_tail.log", &c, &valid, NULL), LSM_CORRUPT);
  assert_prefix(&c, &lg, 3);
  collected_free(&c);
  test_log_free(&lg);
}
END_TEST

START_TEST(wal_replay_accepts_zero_filled_tail) {
  size_t sizes[3] = {40, 0, 60};
  test_log lg;
  unsigned char zeros[5000], torn[12 + 20];
  size_t tails[] = {1, 7, 8, 9, 4096, 5000};
  size_t i, n;
  unsigned char *base;
  make_log("zero_base.log", 3, sizes, g_seed, &lg);
  base = read_whole("zero_base.log", &n);
  memset(zeros, 0, sizeof zeros);
  for (i = 0; i < sizeof tails / sizeof tails[0]; i++) {
    collected c = {0};
    uint64_t valid;
    write_file("zero_tail.log", base, n);
    append_raw("zero_tail.log", zeros, tails[i]);
    ck_assert_int_eq(replay("zero_tail.log", &c, &valid, NULL), LSM_OK);
    assert_prefix(&c, &lg, 3);
    ck_assert_uint_eq(valid, lg.size);
    collected_free(&c);
  }
  /* A record whose header landed but whose payload and beyond read back as
  ** zeros (a file system extended the file before the data arrived). */
  {
    collected c = {0};
    uint64_t valid;
    memset(torn, 0, sizeof torn);
    lsm_put_u32(torn, 20);
    lsm_put_u32(torn + 4, 0xdeadbeef);
    lsm_put_u32(torn + 8, lsm_checksum32(torn, 8));
    write_file("zero_tail.log", base, n);
    append_raw("zero_tail.log", torn, sizeof torn);
    append_raw("zero_tail.log", zeros, 4000);
    ck_assert_int_eq(replay("zero_tail.log", &c, &valid, NULL), LSM_OK);
    assert_prefix(&c, &lg, 3);
    ck_assert_uint_eq(valid, lg.size);
    collected_free(&c);
  }
  free(base);
  test_log_free(&lg);
}
END_TEST

START_TEST(wal_replay_tells_torn_append_from_damaged_length) {
  /* An intact header whose length runs past end of file is an append cut
  ** short: replay ends cleanly there.  A damaged length fails the header's
  ** own checksum: corruption, though it too points past end of file. */
  size_t sizes[4] = {30, 31, 32, 33};
  test_log lg;
  collected c = {0};
  uint64_t valid;
  make_log("len_past.log", 4, sizes, g_seed, &lg);
  ck_assert_int_eq(truncate("len_past.log", (off_t)(lg.off[3] + 12 + 10)), 0);
  ck_assert_int_eq(replay("len_past.log", &c, &valid, NULL), LSM_OK);
  assert_prefix(&c, &lg, 3);
  ck_assert_uint_eq(valid, lg.off[3]);
  collected_free(&c);
  flip_byte("len_past.log", lg.off[2] + 3, 0x40); /* length + 2^30 */
  ck_assert_int_eq(replay("len_past.log", &c, &valid, NULL), LSM_CORRUPT);
  assert_prefix(&c, &lg, 2);
  ck_assert_uint_eq(valid, lg.off[2]);
  collected_free(&c);
  test_log_free(&lg);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Corruption */

START_TEST(wal_replay_reports_corrupt_payload_in_middle) {
  enum { N = 7 };
  size_t sizes[N] = {10, 100, 1000, 70000, 5, 17, 0};
  int bad;
  ck_assert(mkdir("corrupt_dir", 0755) == 0 || errno == EEXIST);
  for (bad = 1; bad < N - 1; bad++) {
    test_log lg;
    collected c = {0};
    lsm_buffer msg = {0};
    uint64_t valid;
    char want[128];
    /* The path has a directory; the message names only the file. */
    make_log("corrupt_dir/000007.log", N, sizes, g_seed, &lg);
    flip_byte("corrupt_dir/000007.log", lg.off[bad] + 12 + lg.len[bad] / 2,
              0x01);
    ck_assert_int_eq(replay("corrupt_dir/000007.log", &c, &valid, &msg),
                     LSM_CORRUPT);
    snprintf(want, sizeof want,
             "lsm: corrupt WAL record in 000007.log at offset %llu",
             (unsigned long long)lg.off[bad]);
    ck_assert_str_eq(msg_text(&msg), want);
    ck_assert_uint_eq(msg.len, strlen(want));
    assert_prefix(&c, &lg, bad);
    ck_assert_uint_eq(valid, lg.off[bad]);
    collected_free(&c);
    lsm_buffer_free(&msg);
    test_log_free(&lg);
  }
}
END_TEST

START_TEST(wal_replay_reports_corrupt_length_in_middle) {
  size_t sizes[5] = {64, 100, 64, 0, 64};
  test_log lg;
  unsigned char masks[] = {0x01, 0x02, 0x10, 0x80};
  size_t i;
  for (i = 0; i < sizeof masks; i++) {
    collected c = {0};
    lsm_buffer msg = {0};
    uint64_t valid;
    char want[128];
    make_log("len_mid.log", 5, sizes, g_seed, &lg);
    /* Length 100 becomes another length that still fits in the file. */
    flip_byte("len_mid.log", lg.off[1], masks[i]);
    ck_assert_int_eq(replay("len_mid.log", &c, &valid, &msg), LSM_CORRUPT);
    snprintf(want, sizeof want, "at offset %llu",
             (unsigned long long)lg.off[1]);
    ck_assert_ptr_nonnull(strstr(msg_text(&msg), want));
    ck_assert_ptr_nonnull(strstr(msg_text(&msg), "len_mid.log"));
    assert_prefix(&c, &lg, 1);
    ck_assert_uint_eq(valid, lg.off[1]);
    collected_free(&c);
    lsm_buffer_free(&msg);
    test_log_free(&lg);
  }
  /* The stored checksum itself damaged, mid-log. */
  {
    collected c = {0};
    uint64_t valid;
    make_log("len_mid.log", 5, sizes, g_seed, &lg);
    flip_byte("len_mid.log", lg.off[3] + 5, 0x20);
    ck_assert_int_eq(replay("len_mid.log", &c, &valid, NULL), LSM_CORRUPT);
    assert_prefix(&c, &lg, 3);
    ck_assert_uint_eq(valid, lg.off[3]);
    collected_free(&c);
    test_log_free(&lg);
  }
}
END_TEST

START_TEST(wal_replay_rejects_bad_file_header) {
  size_t sizes[2] = {10, 20};
  test_log lg;
  int variant;
  for (variant = 0; variant < 4; variant++) {
    collected c = {0};
    lsm_buffer msg = {0};
    uint64_t valid;
    size_t n;
    unsigned char *p;
    make_log("badhdr.log", 2, sizes, g_seed, &lg);
    p = read_whole("badhdr.log", &n);
    switch (variant) {
      case 0: p[0] = 'X'; break;                   /* wrong magic */
      case 1: p[7] = 2; break;                     /* wrong magic, last byte */
      case 2: p[13] ^= 1; break;                   /* bad header checksum */
      default:                                     /* future version */
        lsm_put_u32(p + 8, 2);
        lsm_put_u32(p + 12, lsm_checksum32(p, 12));
        break;
    }
    write_file("badhdr.log", p, n);
    free(p);
    ck_assert_int_eq(replay("badhdr.log", &c, &valid, &msg), LSM_CORRUPT);
    ck_assert_int_eq(c.calls, 0);
    ck_assert_uint_eq(valid, 0);
    ck_assert_ptr_nonnull(strstr(msg_text(&msg), "badhdr.log"));
    ck_assert_ptr_nonnull(strstr(msg_text(&msg), "WAL header"));
    lsm_buffer_free(&msg);
    test_log_free(&lg);
  }
  /* A zeroed header in front of real records is damage, not a torn create. */
  {
    collected c = {0};
    uint64_t valid;
    size_t n;
    unsigned char *p;
    make_log("badhdr.log", 2, sizes, g_seed, &lg);
    p = read_whole("badhdr.log", &n);
    memset(p, 0, 16);
    write_file("badhdr.log", p, n);
    free(p);
    ck_assert_int_eq(replay("badhdr.log", &c, &valid, NULL), LSM_CORRUPT);
    ck_assert_int_eq(c.calls, 0);
    test_log_free(&lg);
  }
}
END_TEST

START_TEST(wal_replay_treats_short_or_zero_file_as_empty) {
  unsigned char buf[8192];
  size_t lens[] = {0, 7, 15, 16, 100, 8192};
  size_t i;
  lsm_wal *w = NULL;
  for (i = 0; i < sizeof lens / sizeof lens[0]; i++) {
    collected c = {0};
    uint64_t valid;
    memset(buf, 0, sizeof buf);
    write_file("short.log", buf, lens[i]);
    ck_assert_int_eq(replay("short.log", &c, &valid, NULL), LSM_OK);
    ck_assert_int_eq(c.calls, 0);
    ck_assert_uint_eq(valid, 0);
  }
  /* A header torn by a crash: any prefix of it. */
  ck_assert_int_eq(lsm_wal_create(lsm_env_default(), "short_full.log", &w),
                   LSM_OK);
  ck_assert_int_eq(lsm_wal_close(w), LSM_OK);
  for (i = 1; i < 16; i++) {
    collected c = {0};
    uint64_t valid;
    size_t n;
    unsigned char *p = read_whole("short_full.log", &n);
    write_file("short.log", p, i);
    free(p);
    ck_assert_int_eq(replay("short.log", &c, &valid, NULL), LSM_OK);
    ck_assert_int_eq(c.calls, 0);
    ck_assert_uint_eq(valid, 0);
  }
}
END_TEST

START_TEST(wal_replay_of_missing_file_is_notfound) {
  collected c = {0};
  uint64_t valid;
  lsm_buffer msg = {0};
  ck_assert_int_eq(replay("no_such.log", &c, &valid, &msg), LSM_NOTFOUND);
  ck_assert_int_eq(c.calls, 0);
  ck_assert_uint_eq(valid, 0);
  ck_assert_ptr_nonnull(strstr(msg_text(&msg), "no_such.log"));
  lsm_buffer_free(&msg);
}
END_TEST

START_TEST(wal_replay_stops_with_callback_status) {
  size_t sizes[5] = {1, 2, 3, 4, 5};
  test_log lg;
  collected c = {0};
  uint64_t valid;
  make_log("cb_stop.log", 5, sizes, g_seed, &lg);
  c.fail_at = 3;
  c.fail_rc = LSM_NOMEM;
  ck_assert_int_eq(replay("cb_stop.log", &c, &valid, NULL), LSM_NOMEM);
  ck_assert_int_eq(c.calls, 3);
  assert_prefix(&c, &lg, 2);
  /* The rejected record was not applied: the intact prefix ends before it. */
  ck_assert_uint_eq(valid, lg.off[2]);
  collected_free(&c);
  test_log_free(&lg);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Large records and lengths */

START_TEST(wal_replay_handles_records_beyond_streaming_limit) {
  size_t sizes[3] = {100, 17u * 1024 * 1024, 50};
  test_log lg;
  collected c = {0};
  lsm_buffer msg = {0};
  uint64_t valid;
  make_log("big.log", 3, sizes, g_seed, &lg);
  ck_assert_int_eq(replay("big.log", &c, &valid, NULL), LSM_OK);
  assert_prefix(&c, &lg, 3);
  ck_assert_uint_eq(valid, lg.size);
  collected_free(&c);
  /* Damage deep inside the big record, with a record after it. */
  flip_byte("big.log", lg.off[1] + 12 + 16u * 1024 * 1024 + 7, 0x04);
  ck_assert_int_eq(replay("big.log", &c, &valid, &msg), LSM_CORRUPT);
  assert_prefix(&c, &lg, 1);
  ck_assert_uint_eq(valid, lg.off[1]);
  {
    char want[64];
    snprintf(want, sizeof want, "at offset %llu",
             (unsigned long long)lg.off[1]);
    ck_assert_ptr_nonnull(strstr(msg_text(&msg), want));
  }
  collected_free(&c);
  lsm_buffer_free(&msg);
  test_log_free(&lg);
}
END_TEST

START_TEST(wal_replay_checks_huge_length_that_fits_file) {
  /* One good record, then a header claiming 20 MiB (more than replay
  ** checksums in one piece) that the file does hold, as nonzero garbage,
  ** then more bytes.  The length is checked by checksum, not trusted;
  ** nonzero bytes after the bad record make it corruption. */
  size_t sizes[1] = {10};
  test_log lg;
  collected c = {0};
  lsm_buffer msg = {0};
  uint64_t valid, hdr_off;
  unsigned char hdr[12];
  const uint32_t huge = 20u * 1024 * 1024;
  unsigned char *garbage = malloc(huge + 100);
  ck_assert_ptr_nonnull(garbage);
  memset(garbage, 0x5a, huge + 100);
  make_log("huge.log", 1, sizes, g_seed, &lg);
  hdr_off = lg.size;
  lsm_put_u32(hdr, huge);
  lsm_put_u32(hdr + 4, 0x0badf00d);
  lsm_put_u32(hdr + 8, lsm_checksum32(hdr, 8));
  append_raw("huge.log", hdr, 12);
  append_raw("huge.log", garbage, huge + 100);
  free(garbage);
  append_raw("huge.log", "tail", 4);
  ck_assert_int_eq(replay("huge.log", &c, &valid, &msg), LSM_CORRUPT);
  assert_prefix(&c, &lg, 1);
  ck_assert_uint_eq(valid, hdr_off);
  collected_free(&c);
  lsm_buffer_free(&msg);
  /* The same length over a sparse (zero) region, then nonzero bytes: the
  ** zero sectors are what a power loss leaves, so replay stops cleanly. */
  ck_assert_int_eq(truncate("huge.log", (off_t)(hdr_off + 12)), 0);
  ck_assert_int_eq(truncate("huge.log", (off_t)(hdr_off + 12 + huge + 100)), 0);
  append_raw("huge.log", "tail", 4);
  ck_assert_int_eq(replay("huge.log", &c, &valid, NULL), LSM_OK);
  assert_prefix(&c, &lg, 1);
  ck_assert_uint_eq(valid, hdr_off);
  collected_free(&c);
  /* Same, but only zeros after it: a torn tail. */
  ck_assert_int_eq(truncate("huge.log", (off_t)(hdr_off + 12 + huge + 100)), 0);
  ck_assert_int_eq(replay("huge.log", &c, &valid, NULL), LSM_OK);
  assert_prefix(&c, &lg, 1);
  ck_assert_uint_eq(valid, hdr_off);
  collected_free(&c);
  test_log_free(&lg);
}
END_TEST

START_TEST(wal_append_rejects_unrepresentable_length_without_poisoning) {
  lsm_wal *w = NULL;
  collected c = {0};
  uint64_t valid;
  ck_assert_int_eq(lsm_wal_create(lsm_env_default(), "toolong.log", &w),
                   LSM_OK);
  if (SIZE_MAX > UINT32_MAX) {
    /* Rejected on its length alone: the pointer is never read. */
    lsm_slice s = lsm_slice_make("x", (size_t)((uint64_t)UINT32_MAX + 1));
    ck_assert_int_eq(lsm_wal_append(w, s, 0), LSM_MISUSE);
  }
  ck_assert_int_eq(lsm_wal_append(w, lsm_slice_make("ok", 2), 0), LSM_OK);
  ck_assert_int_eq(lsm_wal_close(w), LSM_OK);
  ck_assert_int_eq(replay("toolong.log", &c, &valid, NULL), LSM_OK);
  ck_assert_int_eq(c.n, 1);
  collected_free(&c);
}
END_TEST

/* ------------------------------------------------------------------ */
/* Writer I/O through the fault env */

START_TEST(wal_sync_flag_calls_env_sync) {
  lsm_fault_env fe;
  lsm_wal *w = NULL;
  lsm_fault_env_init(&fe, NULL);
  ck_assert_int_eq(lsm_wal_create(lsm_fault_env_env(&fe), "sync.log", &w),
                   LSM_OK);
  /* The header is one append; create does not sync. */
  ck_assert_uint_eq(lsm_fault_env_calls(&fe, LSM_FAULT_OPEN_APPEND), 1);
  ck_assert_uint_eq(lsm_fault_env_calls(&fe, LSM_FAULT_APPEND), 1);
  ck_assert_uint_eq(lsm_fault_env_calls(&fe, LSM_FAULT_SYNC), 0);
  ck_assert_int_eq(lsm_wal_append(w, lsm_slice_make("a", 1), 0), LSM_OK);
  ck_assert_uint_eq(lsm_fault_env_calls(&fe, LSM_FAULT_SYNC), 0);
  ck_assert_int_eq(lsm_wal_append(w, lsm_slice_make("bb", 2), 1), LSM_OK);
  ck_assert_uint_eq(lsm_fault_env_calls(&fe, LSM_FAULT_SYNC), 1);
  ck_assert_int_eq(lsm_wal_sync(w), LSM_OK);
  ck_assert_uint_eq(lsm_fault_env_calls(&fe, LSM_FAULT_SYNC), 2);
  /* Each record went out in exactly one append call. */
  ck_assert_uint_eq(lsm_fault_env_calls(&fe, LSM_FAULT_APPEND), 3);
  ck_assert_uint_eq(lsm_fault_env_bytes_appended(&fe), lsm_wal_size(w));
  ck_assert_uint_eq(lsm_wal_size(w), 16 + 13 + 14);
  ck_assert_int_eq(lsm_wal_close(w), LSM_OK);
  ck_assert_uint_eq(lsm_fault_env_calls(&fe, LSM_FAULT_CLOSE), 1);
}
END_TEST

START_TEST(wal_failed_append_poisons_writer) {
  lsm_fault_env fe;
  lsm_wal *w = NULL;
  collected c = {0};
  uint64_t valid, size_before;
  lsm_fault_env_init(&fe, NULL);
  ck_assert_int_eq(lsm_wal_create(lsm_fault_env_env(&fe), "poison.log", &w),
                   LSM_OK);
  ck_assert_int_eq(lsm_wal_append(w, lsm_slice_make("one", 3), 0), LSM_OK);
  size_before = lsm_wal_size(w);
  lsm_fault_env_fail_next(&fe, LSM_FAULT_APPEND, 0);
  ck_assert_int_eq(lsm_wal_append(w, lsm_slice_make("two", 3), 0), LSM_IOERR);
  ck_assert_uint_eq(lsm_fault_env_injected(&fe, LSM_FAULT_APPEND), 1);
  ck_assert_uint_eq(lsm_wal_size(w), size_before);
  /* The fault was one-shot, yet the writer refuses everything after it
  ** without touching the file. */
  ck_assert_int_eq(lsm_wal_append(w, lsm_slice_make("three", 5), 1), LSM_IOERR);
  ck_assert_int_eq(lsm_wal_sync(w), LSM_IOERR);
  ck_assert_uint_eq(lsm_fault_env_calls(&fe, LSM_FAULT_APPEND), 3);
  ck_assert_uint_eq(lsm_fault_env_calls(&fe, LSM_FAULT_SYNC), 0);
  ck_assert_uint_eq(lsm_wal_size(w), size_before);
  ck_assert_int_eq(lsm_wal_close(w), LSM_IOERR);
  ck_assert_uint_eq(lsm_fault_env_calls(&fe, LSM_FAULT_CLOSE), 1);
  ck_assert_int_eq(replay("poison.log", &c, &valid, NULL), LSM_OK);
  ck_assert_int_eq(c.n, 1);
  ck_assert_uint_eq(valid, size_before);
  collected_free(&c);
}
END_TEST

START_TEST(wal_torn_append_leaves_replayable_log) {
  /* Every possible torn prefix of a record written by a failing append
  ** leaves a log that replays to the records before it. */
  size_t keep;
  for (keep = 1; keep < 8 + 40; keep += 3) {
    lsm_fault_env fe;
    lsm_wal *w = NULL;
    collected c = {0};
    uint64_t valid, good;
    unsigned char payload[40];
    memset(payload, 0x77, sizeof payload);
    lsm_fault_env_init(&fe, NULL);
    lsm_fault_env_set_partial_append(&fe, keep);
    ck_assert_int_eq(lsm_wal_create(lsm_fault_env_env(&fe), "tornw.log", &w),
                     LSM_OK);
    ck_assert_int_eq(lsm_wal_append(w, lsm_slice_make("first", 5), 0), LSM_OK);
    good = lsm_wal_size(w);
    lsm_fault_env_fail_next(&fe, LSM_FAULT_APPEND, 1);
    ck_assert_int_eq(lsm_wal_append(w, lsm_slice_make(payload, 40), 0),
                     LSM_IOERR);
    ck_assert_int_eq(lsm_wal_close(w), LSM_IOERR);
    ck_assert_uint_eq(file_size("tornw.log"), good + keep);
    ck_assert_int_eq(replay("tornw.log", &c, &valid, NULL), LSM_OK);
    ck_assert_int_eq(c.n, 1);
    ck_assert_uint_eq(c.len[0], 5);
    ck_assert_uint_eq(valid, good);
    collected_free(&c);
  }
}
END_TEST

START_TEST(wal_failed_sync_poisons_writer) {
  lsm_fault_env fe;
  lsm_wal *w = NULL;
  lsm_fault_env_init(&fe, NULL);
  lsm_fault_env_set_error(&fe, LSM_IOERR);
  ck_assert_int_eq(lsm_wal_create(lsm_fault_env_env(&fe), "syncfail.log", &w),
                   LSM_OK);
  lsm_fault_env_fail(&fe, LSM_FAULT_SYNC, 1, 0);
  /* The record reached the file but its sync failed: the commit failed. */
  ck_assert_int_eq(lsm_wal_append(w, lsm_slice_make("x", 1), 1), LSM_IOERR);
  ck_assert_uint_eq(lsm_wal_size(w), 16 + 13);
  ck_assert_int_eq(lsm_wal_append(w, lsm_slice_make("y", 1), 0), LSM_IOERR);
  ck_assert_int_eq(lsm_wal_sync(w), LSM_IOERR);
  ck_assert_uint_eq(lsm_fault_env_calls(&fe, LSM_FAULT_SYNC), 1);
  ck_assert_uint_eq(lsm_fault_env_calls(&fe, LSM_FAULT_APPEND), 2);
  ck_assert_int_eq(lsm_wal_close(w), LSM_IOERR);

  /* lsm_wal_sync failing on its own poisons too. */
  lsm_fault_env_init(&fe, NULL);
  ck_assert_int_eq(lsm_wal_create(lsm_fault_env_env(&fe), "syncfail2.log", &w),
                   LSM_OK);
  ck_assert_int_eq(lsm_wal_append(w, lsm_slice_make("x", 1), 0), LSM_OK);
  lsm_fault_env_fail_next(&fe, LSM_FAULT_SYNC, 0);
  ck_assert_int_eq(lsm_wal_sync(w), LSM_IOERR);
  ck_assert_int_eq(lsm_wal_append(w, lsm_slice_make("y", 1), 0), LSM_IOERR);
  ck_assert_uint_eq(lsm_fault_env_calls(&fe, LSM_FAULT_APPEND), 2);
  ck_assert_int_eq(lsm_wal_close(w), LSM_IOERR);
}
END_TEST

START_TEST(wal_create_reports_open_and_header_failures) {
  lsm_fault_env fe;
  lsm_wal *w = (lsm_wal *)&fe; /* must be reset to NULL on failure */
  lsm_fault_env_init(&fe, NULL);
  lsm_fault_env_fail(&fe, LSM_FAULT_OPEN_APPEND, 1, 0);
  ck_assert_int_eq(lsm_wal_create(lsm_fault_env_env(&fe), "cfail.log", &w),
                   LSM_IOERR);
  ck_assert_ptr_null(w);
  ck_assert_uint_eq(lsm_fault_env_calls(&fe, LSM_FAULT_CLOSE), 0);

  lsm_fault_env_init(&fe, NULL);
  lsm_fault_env_fail(&fe, LSM_FAULT_APPEND, 1, 0);
  w = (lsm_wal *)&fe;
  ck_assert_int_eq(lsm_wal_create(lsm_fault_env_env(&fe), "cfail.log", &w),
                   LSM_IOERR);
  ck_assert_ptr_null(w);
  /* The half-made file was closed (no descriptor leak). */
  ck_assert_uint_eq(lsm_fault_env_calls(&fe, LSM_FAULT_CLOSE), 1);
  ck_assert_int_eq(lsm_wal_close(NULL), LSM_OK);
}
END_TEST

START_TEST(wal_replay_reports_read_errors) {
  size_t sizes[3] = {100, 200, 300};
  test_log lg;
  lsm_fault_env fe;
  lsm_fault_kind kinds[3] = {LSM_FAULT_OPEN_READ, LSM_FAULT_SIZE,
                             LSM_FAULT_PREAD};
  int i;
  make_log("rerr.log", 3, sizes, g_seed, &lg);
  for (i = 0; i < 3; i++) {
    collected c = {0};
    lsm_buffer msg = {0};
    uint64_t valid = UINT64_MAX;
    lsm_fault_env_init(&fe, NULL);
    lsm_fault_env_fail(&fe, kinds[i], 1, 1);
    ck_assert_int_eq(lsm_wal_replay(lsm_fault_env_env(&fe), "rerr.log",
                                    collect_fn, &c, &valid, &msg),
                     LSM_IOERR);
    ck_assert_int_eq(c.calls, 0);
    ck_assert_uint_eq(valid, 0);
    ck_assert_ptr_nonnull(strstr(msg_text(&msg), "rerr.log"));
    /* Whatever was opened was closed. */
    ck_assert_uint_eq(lsm_fault_env_calls(&fe, LSM_FAULT_CLOSE),
                      kinds[i] == LSM_FAULT_OPEN_READ ? 0 : 1);
    lsm_buffer_free(&msg);
  }
  test_log_free(&lg);
}
END_TEST

START_TEST(wal_replay_reports_read_error_after_some_records) {
  /* Records far apart (bigger than one read chunk) need several preads; a
  ** failure in a later one stops replay after the records already read. */
  size_t sizes[3] = {100000, 100000, 100000};
  test_log lg;
  lsm_fault_env fe;
  collected c = {0};
  uint64_t valid;
  make_log("rerr2.log", 3, sizes, g_seed, &lg);
  lsm_fault_env_init(&fe, NULL);
  lsm_fault_env_fail(&fe, LSM_FAULT_PREAD, 3, 0);
  ck_assert_int_eq(lsm_wal_replay(lsm_fault_env_env(&fe), "rerr2.log",
                                  collect_fn, &c, &valid, NULL),
                   LSM_IOERR);
  ck_assert_int_ge(c.n, 1);
  ck_assert_int_lt(c.n, 3);
  assert_prefix(&c, &lg, c.n);
  ck_assert_uint_eq(valid, lg.off[c.n]);
  collected_free(&c);
  test_log_free(&lg);
}
END_TEST

/* ------------------------------------------------------------------ */
/* The fault env itself */

START_TEST(fault_env_fails_only_the_nth_call_unless_sticky) {
  lsm_fault_env fe;
  lsm_env *env;
  int i;
  lsm_fault_env_init(&fe, NULL);
  env = lsm_fault_env_env(&fe);
  lsm_fault_env_fail(&fe, LSM_FAULT_MKDIR, 3, 0);
  for (i = 1; i <= 5; i++) {
    ck_assert_int_eq(env->mkdir(env, "fe_dir"), i == 3 ? LSM_IOERR : LSM_OK);
  }
  ck_assert_uint_eq(lsm_fault_env_calls(&fe, LSM_FAULT_MKDIR), 5);
  ck_assert_uint_eq(lsm_fault_env_injected(&fe, LSM_FAULT_MKDIR), 1);

  lsm_fault_env_set_error(&fe, LSM_NOMEM);
  lsm_fault_env_reset_counts(&fe);
  lsm_fault_env_fail(&fe, LSM_FAULT_MKDIR, 2, 1);
  ck_assert_int_eq(env->mkdir(env, "fe_dir"), LSM_OK);
  for (i = 2; i <= 4; i++) ck_assert_int_eq(env->mkdir(env, "fe_dir"), LSM_NOMEM);
  ck_assert_uint_eq(lsm_fault_env_injected(&fe, LSM_FAULT_MKDIR), 3);

  lsm_fault_env_clear(&fe);
  ck_assert_int_eq(env->mkdir(env, "fe_dir"), LSM_OK);
  /* Other kinds were never armed; the wrapper passes results through. */
  ck_assert_int_eq(env->rename(env, "fe_dir", "fe_dir2"), LSM_OK);
  ck_assert_int_eq(env->rename(env, "fe_missing", "fe_x"), LSM_NOTFOUND);
  ck_assert_uint_eq(lsm_fault_env_calls(&fe, LSM_FAULT_RENAME), 2);
  lsm_fault_env_fail_next(&fe, LSM_FAULT_RENAME, 0);
  ck_assert_int_eq(env->rename(env, "fe_dir2", "fe_dir"), LSM_NOMEM);
  ck_assert_int_eq(env->rmdir(env, "fe_dir2"), LSM_OK); /* rename did not run */
}
END_TEST

/* ------------------------------------------------------------------ */

static Suite *wal_suite(void) {
  Suite *s = suite_create("wal");
  TCase *tc = tcase_create("core");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, wal_create_writes_checksummed_header);
  tcase_add_test(tc, wal_create_truncates_existing_file);
  tcase_add_test(tc, wal_append_lays_out_record_as_documented);
  tcase_add_test(tc, wal_replay_returns_every_record_in_order);
  tcase_add_test(tc, wal_replay_of_header_only_log_delivers_nothing);
  tcase_add_test(tc, wal_replay_reads_in_large_chunks);
  tcase_add_test(tc, wal_replay_stops_at_torn_tail_at_every_offset);
  tcase_add_test(tc, wal_replay_reports_garbage_final_record);
  tcase_add_test(tc, wal_replay_accepts_zero_filled_tail);
  tcase_add_test(tc, wal_replay_tells_torn_append_from_damaged_length);
  tcase_add_test(tc, wal_replay_reports_corrupt_payload_in_middle);
  tcase_add_test(tc, wal_replay_reports_corrupt_length_in_middle);
  tcase_add_test(tc, wal_replay_rejects_bad_file_header);
  tcase_add_test(tc, wal_replay_treats_short_or_zero_file_as_empty);
  tcase_add_test(tc, wal_replay_of_missing_file_is_notfound);
  tcase_add_test(tc, wal_replay_stops_with_callback_status);
  tcase_add_test(tc, wal_replay_handles_records_beyond_streaming_limit);
  tcase_add_test(tc, wal_replay_checks_huge_length_that_fits_file);
  tcase_add_test(tc, wal_append_rejects_unrepresentable_length_without_poisoning);
  tcase_add_test(tc, wal_sync_flag_calls_env_sync);
  tcase_add_test(tc, wal_failed_append_poisons_writer);
  tcase_add_test(tc, wal_torn_append_leaves_replayable_log);
  tcase_add_test(tc, wal_failed_sync_poisons_writer);
  tcase_add_test(tc, wal_create_reports_open_and_header_failures);
  tcase_add_test(tc, wal_replay_reports_read_errors);
  tcase_add_test(tc, wal_replay_reports_read_error_after_some_records);
  tcase_add_test(tc, fault_env_fails_only_the_nth_call_unless_sticky);
  suite_add_tcase(s, tc);
  return s;
}

int main(void) {
  SRunner *sr;
  int failed;
  const char *env_seed = getenv("LSM_TEST_SEED");
  g_seed = env_seed ? strtoull(env_seed, NULL, 0) : (uint64_t)time(NULL);
  printf("test_wal: LSM_TEST_SEED=%llu\n", (unsigned long long)g_seed);
  fflush(stdout);
  sr = srunner_create(wal_suite());
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed == 0 ? 0 : 1;
}
