/*
** bench.c — a db_bench-style benchmark driver for the lsm engine, the lsm
** virtual table and their peers (native SQLite tables, LevelDB, RocksDB),
** all behind the bench_target interface of bench.h.
**
**   bench --target engine|vtab|native|leveldb|rocksdb --db DIR
**         [--benchmarks fillrandom,overwrite,readrandom,...] [--n 1M] ...
**
** One process runs one target over a sequence of workloads on one store
** (db_bench style: later workloads read what earlier ones wrote), so its
** peak RSS (getrusage) belongs to that target alone.  bench/run.sh runs the
** standard suite, one process per (target, sequence), and assembles the
** table.
**
** Workloads
**   fillseq        n rows in ascending key order, batch rows per commit
**   fillrandom     n rows, each key once, in random order
**   fill1txn       fillrandom with all n rows in one transaction
**   overwrite      n random existing keys rewritten (keys repeat)
**   readrandom     reads point lookups of existing keys
**   readmissing    reads point lookups of absent keys that lie inside the
**                  key range (so bloom filters, not key ranges, rule tables
**                  out)
**   seekrandom     reads times: seek to an existing key, then 10 nexts
**   readseq        one full scan in key order, latency per row (of one
**                  row in 16: timing each would slow the scan measurably)
**   readreverse    the same in descending order
**   readwhilewriting  readrandom by --threads readers while one writer
**                  thread overwrites random keys at --write-rate rows/s;
**                  the readers are measured
**   deleterandom   every key deleted once, in random order
**
** Keys (key_size bytes, >= 9): bytes 0..7 are a 64-bit number in big-endian
** order, bytes 8..size-2 filler derived from the row index, the last byte a
** tag, 0 for a stored key and 1 for its "missing" twin.  The number is the
** row index itself for fillseq (ascending keys) and a bijective 64-bit mix
** of the index otherwise, so fillrandom writes each key exactly once in
** random order, readrandom picks a random index < n, and a missing key sorts
** right after a stored one: inside every table's key range.  Nothing is
** allocated per row: keys come from the index, values are slices of one
** random buffer, the delete order is a Feistel permutation of [0, n).
**
** Output: lines "row <target> <workload> <metric> <value>" on stdout (the
** table is built from them) and a readable summary per workload on stderr.
** Metrics: ops_s, MB_s, p50_us, p99_us, max_us (latency per operation for
** reads, per committed batch for writes), found_pct, wamp (lsm targets:
** bytes the engine wrote: log + flushes + compactions, over user bytes
** written), wamp_io (bytes the process handed to write(), from
** /proc/self/io, over user bytes: comparable across all targets), space_amp
** (bytes of files in the directory over live user bytes), bloom_probes_op,
** bloom_neg_pct, cache_hit_pct, and for writes to lsm targets stall_ms
** (time writers spent slowed down or stopped by the engine: level 0 past
** its slowdown or stop trigger, or the previous memtable still being
** flushed), slowdowns, stops; at the end disk_MiB, rss_MiB (peak) and the
** whole run's wamp, wamp_io, space_amp, stall_ms.  Single-row commits:
** --batch 1 (each row its own BEGIN ... COMMIT for the SQL targets, its own
** lsm_write for engine); p99_us and max_us are then per commit.  User bytes are key_size +
** value_size per row written (key_size per delete), the same for every
** target.
*/
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <ftw.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

#define DEFAULT_BENCHMARKS \
  "fillrandom,overwrite,readrandom,readmissing,seekrandom,readseq,readreverse," \
  "readwhilewriting,deleterandom"

#define VALUE_POOL (1u << 20)   /* random bytes values are sliced from */
#define MAX_READERS 64
#define SCAN_SAMPLE 16          /* readseq/readreverse: rows per timed row */

/* ------------------------------------------------------------------ */
/* Histogram: log-linear buckets over nanoseconds.  Values below 2^HB get a
** bucket each; above, every power of two is split into 2^HB buckets, so a
** percentile is within 1/32 (3%) of the truth.  Fixed size, no allocation. */
#define HB 5
#define HIST_BUCKETS ((64 - HB + 1) << HB)

typedef struct hist {
  uint64_t count, sum, max;
  uint64_t b[HIST_BUCKETS];
} hist;

static int hist_index(uint64_t v) {
  int e;
  if (v < (1u << HB)) return (int)v;
  e = 63 - __builtin_clzll(v);          /* e >= HB */
  return ((e - HB + 1) << HB) + (int)((v >> (e - HB)) & ((1u << HB) - 1));
}

/* Midpoint of bucket i. */
static double hist_value(int i) {
  int e, sub;
  double lo, width;
  if (i < (1 << HB)) return i;
  e = (i >> HB) + HB - 1;
  sub = i & ((1 << HB) - 1);
  width = (double)(1ull << (e - HB));
  lo = (double)(1ull << e) + sub * width;
  return lo + width / 2;
}

static void hist_add(hist *h, uint64_t ns) {
  h->count++;
  h->sum += ns;
  if (ns > h->max) h->max = ns;
  h->b[hist_index(ns)]++;
}

static void hist_merge(hist *into, const hist *from) {
  int i;
  into->count += from->count;
  into->sum += from->sum;
  if (from->max > into->max) into->max = from->max;
  for (i = 0; i < HIST_BUCKETS; i++) into->b[i] += from->b[i];
}

/* The q-quantile in nanoseconds (never above the maximum seen). */
static double hist_quantile(const hist *h, double q) {
  uint64_t want, seen = 0;
  int i;
  if (h->count == 0) return 0;
  want = (uint64_t)(q * (double)h->count);
  if (want < 1) want = 1;
  for (i = 0; i < HIST_BUCKETS; i++) {
    seen += h->b[i];
    if (seen >= want) {
      double v = hist_value(i);
      return v > (double)h->max ? (double)h->max : v;
    }
  }
  return (double)h->max;
}

/* ------------------------------------------------------------------ */
/* Small helpers. */

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A bijection on 64-bit integers (every step is invertible). */
static uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

static uint64_t rng_next(uint64_t *state) {
  *state += 0x9e3779b97f4a7c15ull;
  return mix64(*state);
}

/* Uniform-enough index below n. */
static uint64_t rng_below(uint64_t *state, uint64_t n) {
  return (uint64_t)(((unsigned __int128)rng_next(state) * n) >> 64);
}

/* A permutation of [0, n): a 4-round Feistel network on the smallest even
** number of bits covering n, with cycle walking for values >= n. */
typedef struct perm {
  uint64_t n, mask;
  int half;
  uint64_t key[4];
} perm;

static void perm_init(perm *p, uint64_t n, uint64_t seed) {
  int bits = 1, i;
  while (bits < 64 && (1ull << bits) < n) bits++;
  p->n = n;
  p->half = (bits + 1) / 2;
  p->mask = (1ull << p->half) - 1;
  for (i = 0; i < 4; i++) p->key[i] = mix64(seed + 0x1234567ull * (uint64_t)(i + 1));
}

static uint64_t perm_apply(const perm *p, uint64_t x) {
  do {
    uint64_t l = x >> p->half, r = x & p->mask;
    int i;
    for (i = 0; i < 4; i++) {
      uint64_t t = l ^ (mix64(r ^ p->key[i]) & p->mask);
      l = r;
      r = t;
    }
    x = (l << p->half) | r;
  } while (x >= p->n);
  return x;
}

/* /proc/self/io "wchar": bytes handed to write()-like calls by the process. */
static uint64_t io_wchar(void) {
  FILE *f = fopen("/proc/self/io", "r");
  char line[128];
  uint64_t v = 0;
  if (f == NULL) return 0;
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "wchar:", 6) == 0) {
      v = strtoull(line + 6, NULL, 10);
      break;
    }
  }
  fclose(f);
  return v;
}

static uint64_t du_total;
static int du_visit(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)path;
  (void)ftw;
  if (flag == FTW_F && S_ISREG(st->st_mode)) du_total += (uint64_t)st->st_size;
  return 0;
}

/* Bytes of the regular files under dir (apparent sizes). */
static uint64_t disk_usage(const char *dir) {
  du_total = 0;
  nftw(dir, du_visit, 16, FTW_PHYS);
  return du_total;
}

static double peak_rss_mib(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_maxrss / 1024.0;   /* KiB on Linux */
}

static int mkdir_p(const char *dir) {
  char buf[4096];
  size_t i, n = strlen(dir);
  if (n == 0 || n >= sizeof buf) return -1;
  memcpy(buf, dir, n + 1);
  for (i = 1; i <= n; i++) {
    if (buf[i] == '/' || buf[i] == 0) {
      char c = buf[i];
      buf[i] = 0;
      if (mkdir(buf, 0777) != 0 && errno != EEXIST) return -1;
      buf[i] = c;
    }
  }
  return 0;
}

/* ------------------------------------------------------------------ */
/* The run. */

typedef struct bench {
  const bench_target *t;
  bench_config cfg;
  const char *dir;
  const char *benchmarks;
  const char *label;
  uint64_t reads;
  uint64_t batch;
  int threads;
  uint64_t write_rate;
  int seek_nexts;
  uint64_t seed;
  int quiet;

  bench_store *store;
  bench_conn *conn;           /* the main thread's session */
  unsigned char *values;      /* VALUE_POOL + value_size random bytes */
  uint64_t live_rows;         /* rows the store holds, as far as we know */
  uint64_t user_written;      /* user bytes written by the whole run */
  uint64_t wchar0;            /* wchar when the run started */
  bench_stats stats0;         /* engine counters when the run started */
} bench;

/* Build the key of row idx.  seq: ascending keys (fillseq) instead of
** hashed ones; missing: the absent twin of the key. */
static void make_key(const bench *b, uint64_t idx, int seq, int missing, unsigned char *out) {
  uint64_t h = seq ? idx : mix64(idx ^ b->seed);
  uint64_t f = mix64(idx + 0x5bd1e995ull);
  size_t i, ks = b->cfg.key_size;
  for (i = 0; i < 8; i++) out[i] = (unsigned char)(h >> (56 - 8 * i));
  for (i = 8; i + 1 < ks; i++) {
    out[i] = (unsigned char)(f >> (8 * (i % 8)));
    if (i % 8 == 7) f = mix64(f);
  }
  out[ks - 1] = missing ? 1 : 0;
}

static const unsigned char *value_of(const bench *b, uint64_t idx, uint64_t salt) {
  return b->values + (mix64(idx * 31 + salt) % VALUE_POOL);
}

/* What one workload measured. */
typedef struct result {
  uint64_t ops;               /* operations (rows for writes and scans) */
  uint64_t bytes;             /* user bytes moved */
  uint64_t found;             /* point reads that found their key */
  uint64_t user_written;      /* user bytes written */
  int64_t live_delta;         /* rows added (fills) or removed (deletes) */
  uint64_t writer_rows;       /* readwhilewriting: rows the writer wrote */
  double secs;
  int is_write;
  int failed;
  hist h;
} result;

static void emit(const bench *b, const char *wl, const char *metric, double v) {
  printf("row %s %s %s %.6g\n", b->t->name, wl, metric, v);
}

static void emit_text(const bench *b, const char *wl, const char *metric, const char *v) {
  printf("row %s %s %s %s\n", b->t->name, wl, metric, v);
}

/* Writes.  mode: 0 fillseq, 1 fillrandom, 2 overwrite, 3 deleterandom. */
static int run_writes(bench *b, int mode, uint64_t batch, result *r) {
  bench_conn *c = b->conn;
  uint64_t n = b->cfg.n, i = 0, rng = b->seed * 7 + 1;
  size_t ks = b->cfg.key_size, vs = b->cfg.value_size;
  unsigned char key[1024];
  perm p;
  uint64_t t_start = now_ns();
  perm_init(&p, n, b->seed + 99);
  r->is_write = 1;
  while (i < n) {
    uint64_t t0 = now_ns(), j;
    if (b->t->begin(c)) goto fail;
    for (j = 0; j < batch && i < n; j++, i++) {
      uint64_t idx;
      switch (mode) {
        case 0:
        case 1: idx = i; break;
        case 2: idx = rng_below(&rng, n); break;
        default: idx = perm_apply(&p, i); break;
      }
      make_key(b, idx, mode == 0, 0, key);
      if (mode == 3) {
        if (b->t->del(c, key, ks)) goto fail;
        r->user_written += ks;
      } else {
        if (b->t->put(c, key, ks, value_of(b, idx, mode), vs, mode == 2)) goto fail;
        r->user_written += ks + vs;
      }
      r->ops++;
    }
    if (b->t->commit(c)) goto fail;
    hist_add(&r->h, now_ns() - t0);
  }
  r->bytes = r->user_written;
  r->live_delta = mode == 2 ? 0 : mode == 3 ? -(int64_t)n : (int64_t)n;
  r->secs = (double)(now_ns() - t_start) / 1e9;
  return 0;
fail:
  fprintf(stderr, "bench: %s: %s\n", b->t->name, b->t->errmsg(c));
  r->failed = 1;
  return -1;
}

/* Point reads.  missing: look up the absent twins. */
static int run_reads(bench *b, bench_conn *c, uint64_t count, int missing, uint64_t seed,
                     result *r) {
  uint64_t n = b->cfg.n, i, rng = seed;
  size_t ks = b->cfg.key_size;
  unsigned char key[1024];
  uint64_t t_start = now_ns();
  for (i = 0; i < count; i++) {
    uint64_t t0, idx = rng_below(&rng, n);
    int found;
    size_t vlen;
    make_key(b, idx, 0, missing, key);
    t0 = now_ns();
    if (b->t->get(c, key, ks, &found, &vlen)) goto fail;
    hist_add(&r->h, now_ns() - t0);
    r->found += (uint64_t)found;
    r->bytes += ks + vlen;
    r->ops++;
  }
  r->secs = (double)(now_ns() - t_start) / 1e9;
  return 0;
fail:
  fprintf(stderr, "bench: %s: %s\n", b->t->name, b->t->errmsg(c));
  r->failed = 1;
  return -1;
}

static int run_seeks(bench *b, result *r) {
  uint64_t n = b->cfg.n, i, rng = b->seed * 13 + 5;
  size_t ks = b->cfg.key_size;
  unsigned char key[1024];
  uint64_t t_start = now_ns();
  for (i = 0; i < b->reads; i++) {
    uint64_t t0, bytes = 0, idx = rng_below(&rng, n);
    int rows = 0;
    make_key(b, idx, 0, 0, key);
    t0 = now_ns();
    if (b->t->seek(b->conn, key, ks, b->seek_nexts + 1, &rows, &bytes)) goto fail;
    hist_add(&r->h, now_ns() - t0);
    r->found += rows > 0;
    r->bytes += bytes;
    r->ops++;
  }
  r->secs = (double)(now_ns() - t_start) / 1e9;
  return 0;
fail:
  fprintf(stderr, "bench: %s: %s\n", b->t->name, b->t->errmsg(b->conn));
  r->failed = 1;
  return -1;
}

static int run_scan(bench *b, int reverse, result *r) {
  bench_conn *c = b->conn;
  uint64_t t_start = now_ns();
  int more = 1;
  if (b->t->scan_start(c, reverse)) goto fail;
  for (;;) {
    /* A row can take less than 100 ns: time one row in SCAN_SAMPLE, so
    ** the clock does not weigh on the throughput. */
    int timed = (r->ops % SCAN_SAMPLE) == 0;
    uint64_t t0 = timed ? now_ns() : 0;
    size_t bytes;
    if (b->t->scan_step(c, &more, &bytes)) goto fail;
    if (!more) break;
    if (timed) hist_add(&r->h, now_ns() - t0);
    r->bytes += bytes;
    r->ops++;
  }
  b->t->scan_end(c);
  r->found = r->ops;
  r->secs = (double)(now_ns() - t_start) / 1e9;
  return 0;
fail:
  fprintf(stderr, "bench: %s: %s\n", b->t->name, b->t->errmsg(c));
  b->t->scan_end(c);
  r->failed = 1;
  return -1;
}

/* readwhilewriting: reader threads do readrandom while one writer thread
** overwrites random keys at a fixed rate (commits of rate/100 rows, at most
** batch, on a fixed schedule; a late writer catches up, but never by more
** than a second's worth). */
typedef struct rww_shared {
  bench *b;
  bench_conn *writer;         /* the writer's session */
  volatile int stop;          /* readers done: the writer ends */
  int writer_failed;
  uint64_t writer_rows, writer_bytes;
} rww_shared;

typedef struct rww_reader {
  rww_shared *sh;
  bench_conn *conn;
  uint64_t count, seed;
  result r;
} rww_reader;

static void *rww_reader_main(void *arg) {
  rww_reader *rd = arg;
  run_reads(rd->sh->b, rd->conn, rd->count, 0, rd->seed, &rd->r);
  return NULL;
}

static void *rww_writer_main(void *arg) {
  rww_shared *sh = arg;
  bench *b = sh->b;
  bench_conn *c = sh->writer;
  uint64_t per_commit = b->write_rate / 100, rng = b->seed * 17 + 3, next, step;
  size_t ks = b->cfg.key_size, vs = b->cfg.value_size;
  unsigned char key[1024];
  if (per_commit < 1) per_commit = 1;
  if (per_commit > b->batch) per_commit = b->batch;
  step = (uint64_t)(1e9 * (double)per_commit / (double)(b->write_rate ? b->write_rate : 1));
  next = now_ns();
  while (!sh->stop) {
    uint64_t j, t = now_ns();
    if (t < next) {
      struct timespec ts;
      ts.tv_sec = (time_t)((next - t) / 1000000000ull);
      ts.tv_nsec = (long)((next - t) % 1000000000ull);
      nanosleep(&ts, NULL);
      continue;
    }
    if (t > next + 1000000000ull) next = t - 1000000000ull;
    next += step;
    if (b->t->begin(c)) goto fail;
    for (j = 0; j < per_commit; j++) {
      uint64_t idx = rng_below(&rng, b->cfg.n);
      make_key(b, idx, 0, 0, key);
      if (b->t->put(c, key, ks, value_of(b, idx, 7), vs, 1)) goto fail;
    }
    if (b->t->commit(c)) goto fail;
    sh->writer_rows += per_commit;
    sh->writer_bytes += per_commit * (ks + vs);
  }
  return NULL;
fail:
  fprintf(stderr, "bench: %s: writer: %s\n", b->t->name, b->t->errmsg(c));
  sh->writer_failed = 1;
  return NULL;
}

static int run_readwhilewriting(bench *b, result *r) {
  rww_shared sh;
  rww_reader *rd = calloc((size_t)b->threads, sizeof *rd);
  pthread_t writer, readers[MAX_READERS];
  int i, started = 0, writer_started = 0, rc = 0;
  uint64_t t_start;
  char err[512];
  memset(&sh, 0, sizeof sh);
  sh.b = b;
  if (rd == NULL) return -1;
  /* Sessions are opened before any thread starts, so a target that cannot
  ** open a second one (the table is in use) fails at once. */
  if (b->t->conn_open(b->store, &sh.writer, err, sizeof err)) {
    fprintf(stderr, "bench: %s: writer session: %s\n", b->t->name, err);
    rc = -1;
    goto done;
  }
  /* Reader sessions: the main one, then one more per extra thread. */
  for (i = 0; i < b->threads; i++) {
    rd[i].sh = &sh;
    rd[i].count = b->reads / (uint64_t)b->threads + ((uint64_t)i < b->reads % (uint64_t)b->threads);
    rd[i].seed = b->seed * 101 + (uint64_t)i;
    if (i == 0) {
      rd[i].conn = b->conn;
    } else if (b->t->conn_open(b->store, &rd[i].conn, err, sizeof err)) {
      fprintf(stderr, "bench: %s: reader session: %s\n", b->t->name, err);
      rc = -1;
      goto done;
    }
  }
  if (pthread_create(&writer, NULL, rww_writer_main, &sh) != 0) {
    rc = -1;
    goto done;
  }
  writer_started = 1;
  t_start = now_ns();
  for (started = 0; started < b->threads; started++) {
    if (pthread_create(&readers[started], NULL, rww_reader_main, &rd[started]) != 0) {
      rc = -1;
      break;
    }
  }
  for (i = 0; i < started; i++) pthread_join(readers[i], NULL);
  r->secs = (double)(now_ns() - t_start) / 1e9;
done:
  sh.stop = 1;
  if (writer_started) pthread_join(writer, NULL);
  if (sh.writer) b->t->conn_close(sh.writer);
  for (i = 0; i < b->threads; i++) {
    hist_merge(&r->h, &rd[i].r.h);
    r->ops += rd[i].r.ops;
    r->bytes += rd[i].r.bytes;
    r->found += rd[i].r.found;
    if (rd[i].r.failed) rc = -1;
    if (i > 0 && rd[i].conn) b->t->conn_close(rd[i].conn);
  }
  if (sh.writer_failed) rc = -1;
  r->writer_rows = sh.writer_rows;
  r->user_written = sh.writer_bytes;
  r->failed = rc != 0;
  free(rd);
  return rc;
}

/* Engine counters, or zeros when the target has none. */
static void get_stats(bench *b, bench_stats *s) {
  memset(s, 0, sizeof *s);
  if (b->t->stats && b->t->stats(b->conn, s)) {
    fprintf(stderr, "bench: %s: stats: %s\n", b->t->name, b->t->errmsg(b->conn));
    memset(s, 0, sizeof *s);
  }
}

static uint64_t engine_written(const bench_stats *s) {
  return s->wal_bytes + s->flush_bytes + s->compact_write_bytes;
}

/* Microseconds writers spent slowed down or stopped. */
static uint64_t stall_micros(const bench_stats *s) {
  return s->slowdown_micros + s->stop_micros;
}

static double space_amp(const bench *b, uint64_t disk) {
  uint64_t live = b->live_rows * (b->cfg.key_size + b->cfg.value_size);
  return live ? (double)disk / (double)live : -1;
}

static int run_one(bench *b, const char *wl) {
  result *r = calloc(1, sizeof *r);
  bench_stats s0, s1;
  uint64_t w0, w1;
  int rc;
  if (r == NULL) return -1;
  get_stats(b, &s0);
  w0 = io_wchar();
  if (strcmp(wl, "fillseq") == 0) rc = run_writes(b, 0, b->batch, r);
  else if (strcmp(wl, "fillrandom") == 0) rc = run_writes(b, 1, b->batch, r);
  else if (strcmp(wl, "fill1txn") == 0) rc = run_writes(b, 1, b->cfg.n, r);
  else if (strcmp(wl, "overwrite") == 0) rc = run_writes(b, 2, b->batch, r);
  else if (strcmp(wl, "deleterandom") == 0) rc = run_writes(b, 3, b->batch, r);
  else if (strcmp(wl, "readrandom") == 0) rc = run_reads(b, b->conn, b->reads, 0, b->seed * 3 + 1, r);
  else if (strcmp(wl, "readmissing") == 0) rc = run_reads(b, b->conn, b->reads, 1, b->seed * 5 + 1, r);
  else if (strcmp(wl, "seekrandom") == 0) rc = run_seeks(b, r);
  else if (strcmp(wl, "readseq") == 0) rc = run_scan(b, 0, r);
  else if (strcmp(wl, "readreverse") == 0) rc = run_scan(b, 1, r);
  else if (strcmp(wl, "readwhilewriting") == 0) rc = run_readwhilewriting(b, r);
  else {
    fprintf(stderr, "bench: unknown benchmark '%s'\n", wl);
    free(r);
    return -1;
  }
  w1 = io_wchar();
  get_stats(b, &s1);
  if (rc || r->failed) {
    emit_text(b, wl, "ops_s", "ERR");
    free(r);
    return -1;
  }
  b->live_rows = (uint64_t)((int64_t)b->live_rows + r->live_delta);
  b->user_written += r->user_written;
  {
    double secs = r->secs > 0 ? r->secs : 1e-9;
    double ops_s = (double)r->ops / secs;
    double mb_s = (double)r->bytes / secs / 1e6;
    double p50 = hist_quantile(&r->h, 0.50) / 1e3, p99 = hist_quantile(&r->h, 0.99) / 1e3;
    double mx = (double)r->h.max / 1e3;
    uint64_t disk = disk_usage(b->dir);
    emit(b, wl, "ops_s", ops_s);
    emit(b, wl, "MB_s", mb_s);
    emit(b, wl, "p50_us", p50);
    emit(b, wl, "p99_us", p99);
    emit(b, wl, "max_us", mx);
    if (!r->is_write && strcmp(wl, "readwhilewriting") != 0 && strncmp(wl, "read", 4) == 0 &&
        strcmp(wl, "readseq") != 0 && strcmp(wl, "readreverse") != 0) {
      emit(b, wl, "found_pct", r->ops ? 100.0 * (double)r->found / (double)r->ops : 0);
    }
    if (strcmp(wl, "readwhilewriting") == 0) {
      emit(b, wl, "found_pct", r->ops ? 100.0 * (double)r->found / (double)r->ops : 0);
      emit(b, wl, "writer_rows_s", (double)r->writer_rows / secs);
    }
    if (r->user_written) {
      if (s1.has_lsm) {
        emit(b, wl, "wamp", (double)(engine_written(&s1) - engine_written(&s0)) /
                                (double)r->user_written);
      }
      if (s1.has_stalls) {
        emit(b, wl, "stall_ms", (double)(stall_micros(&s1) - stall_micros(&s0)) / 1e3);
        emit(b, wl, "slowdowns", (double)(s1.slowdown_count - s0.slowdown_count));
        emit(b, wl, "stops", (double)(s1.stop_count - s0.stop_count));
      }
      emit(b, wl, "wamp_io", (double)(w1 - w0) / (double)r->user_written);
      if (space_amp(b, disk) >= 0) emit(b, wl, "space_amp", space_amp(b, disk));
    }
    if (s1.has_lsm && s1.bloom_probes > s0.bloom_probes && r->ops) {
      uint64_t probes = s1.bloom_probes - s0.bloom_probes;
      emit(b, wl, "bloom_probes_op", (double)probes / (double)r->ops);
      emit(b, wl, "bloom_neg_pct",
           100.0 * (double)(s1.bloom_negatives - s0.bloom_negatives) / (double)probes);
    }
    if (s1.has_cache && !r->is_write) {
      uint64_t hits = s1.cache_hits - s0.cache_hits, misses = s1.cache_misses - s0.cache_misses;
      if (hits + misses) emit(b, wl, "cache_hit_pct", 100.0 * (double)hits / (double)(hits + misses));
    }
    fflush(stdout);
    if (!b->quiet) {
      fprintf(stderr, "%-8s %-16s %10" PRIu64 " ops %8.2f s %11.0f ops/s %8.1f MB/s  "
                      "p50 %.1f p99 %.1f max %.0f us%s",
              b->t->name, wl, r->ops, secs, ops_s, mb_s, p50, p99, mx,
              r->is_write ? " (per batch)" : "");
      if (s1.has_lsm) {
        fprintf(stderr, "  L0..L3 files %d/%d/%d/%d flushes %" PRIu64 " compactions %" PRIu64,
                s1.level_files[0], s1.level_files[1], s1.level_files[2], s1.level_files[3],
                s1.flushes, s1.compactions);
      }
      if (s1.has_stalls && r->user_written) {
        fprintf(stderr, "  stalls %.0f ms (%" PRIu64 " slowdowns, %" PRIu64 " stops)",
                (double)(stall_micros(&s1) - stall_micros(&s0)) / 1e3,
                s1.slowdown_count - s0.slowdown_count, s1.stop_count - s0.stop_count);
      }
      fprintf(stderr, "\n");
    }
  }
  free(r);
  return 0;
}

/* ------------------------------------------------------------------ */
/* Flags. */

static void usage(void) {
  fprintf(stderr,
    "usage: bench --target NAME --db DIR [options]\n"
    "  --target T        engine | vtab | native"
#ifdef BENCH_HAVE_LEVELDB
    " | leveldb"
#endif
#ifdef BENCH_HAVE_ROCKSDB
    " | rocksdb"
#endif
    "\n"
    "  --db DIR          directory of the store (created if missing)\n"
    "  --benchmarks L    comma list (default " DEFAULT_BENCHMARKS ");\n"
    "                    also fillseq, fill1txn (fillrandom in one transaction)\n"
    "  --n N             rows (default 1000000; suffixes k, m: 1000-based)\n"
    "  --reads N         operations of each read workload (default n)\n"
    "  --key-size B      bytes per key, >= 9 (default 16)\n"
    "  --value-size B    bytes per value (default 100)\n"
    "  --batch N         rows per transaction / write batch (default 1000)\n"
    "  --sync MODE       off | normal | full (default normal)\n"
    "  --memtable-mb M   memtable / write buffer (default 4)\n"
    "  --cache-mb M      block cache; native page cache = memtable + cache (default 32)\n"
    "  --bloom-bits B    bloom filter bits per key (default 10)\n"
    "  --ext PATH        the extension, for vtab (default ./lsm_vtab.so)\n"
    "  --vtab-opts S     extra CREATE options for vtab, e.g. \"block_size=8192\"\n"
    "  --vtab-journal J  vtab host database: wal (default), delete, exclusive\n"
    "  --replace-fill    SQL fills use INSERT OR REPLACE instead of INSERT\n"
    "  --threads T       readers in readwhilewriting (default 1)\n"
    "  --write-rate R    writer rows/s in readwhilewriting (default 10000)\n"
    "  --seek-nexts K    rows read after each seek (default 10)\n"
    "  --seed S          (default 1)\n"
    "  --label L         names this process's end-of-run rows (default run)\n"
    "  --quiet           no per-workload summary on stderr\n");
}

static int parse_count(const char *s, uint64_t *out) {
  char *end;
  unsigned long long v;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno || end == s) return -1;
  if (*end == 'k' || *end == 'K') v *= 1000ull, end++;
  else if (*end == 'm' || *end == 'M') v *= 1000000ull, end++;
  else if (*end == 'g' || *end == 'G') v *= 1000000000ull, end++;
  if (*end) return -1;
  *out = v;
  return 0;
}

static const bench_target *find_target(const char *name) {
  static const bench_target *const all[] = {
    &bench_target_engine, &bench_target_vtab, &bench_target_native,
#ifdef BENCH_HAVE_LEVELDB
    &bench_target_leveldb,
#endif
#ifdef BENCH_HAVE_ROCKSDB
    &bench_target_rocksdb,
#endif
  };
  size_t i;
  for (i = 0; i < sizeof all / sizeof all[0]; i++) {
    if (strcmp(all[i]->name, name) == 0) return all[i];
  }
  return NULL;
}

static int parse_args(bench *b, int argc, char **argv) {
  int i, num = 0;
  const char *bad_arg = "";
  uint64_t v, memtable_mb = 4, cache_mb = 32;
  b->cfg.n = 1000000;
  b->cfg.key_size = 16;
  b->cfg.value_size = 100;
  b->cfg.sync_mode = BENCH_SYNC_NORMAL;
  b->cfg.bloom_bits = 10;
  b->cfg.ext_path = "./lsm_vtab.so";
  b->cfg.vtab_opts = "";
  b->cfg.vtab_journal = "wal";
  b->benchmarks = DEFAULT_BENCHMARKS;
  b->label = "run";
  b->batch = 1000;
  b->threads = 1;
  b->write_rate = 10000;
  b->seek_nexts = 10;
  b->seed = 1;
  b->reads = UINT64_MAX;
  for (i = 1; i < argc; i++) {
    const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
    bad_arg = a;
    num = 0;
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage();
      exit(0);
    }
    if (strcmp(a, "--quiet") == 0) {
      b->quiet = 1;
      continue;
    }
    if (strcmp(a, "--replace-fill") == 0) {
      b->cfg.replace_fill = 1;
      continue;
    }
    if (val == NULL) goto bad;
    i++;
    if (strcmp(a, "--target") == 0) {
      b->t = find_target(val);
      if (b->t == NULL) {
        fprintf(stderr, "bench: unknown or not built target '%s'\n", val);
        return -1;
      }
    } else if (strcmp(a, "--db") == 0) b->dir = val;
    else if (strcmp(a, "--benchmarks") == 0) b->benchmarks = val;
    else if (strcmp(a, "--ext") == 0) b->cfg.ext_path = val;
    else if (strcmp(a, "--vtab-opts") == 0) b->cfg.vtab_opts = val;
    else if (strcmp(a, "--vtab-journal") == 0) {
      if (strcmp(val, "wal") && strcmp(val, "delete") && strcmp(val, "exclusive")) goto bad;
      b->cfg.vtab_journal = val;
    }
    else if (strcmp(a, "--label") == 0) b->label = val;
    else if (strcmp(a, "--sync") == 0) {
      if (strcmp(val, "off") == 0) b->cfg.sync_mode = BENCH_SYNC_OFF;
      else if (strcmp(val, "normal") == 0) b->cfg.sync_mode = BENCH_SYNC_NORMAL;
      else if (strcmp(val, "full") == 0) b->cfg.sync_mode = BENCH_SYNC_FULL;
      else goto bad;
    } else {
      num = 1;
      if (parse_count(val, &v)) goto bad;
      if (strcmp(a, "--n") == 0) b->cfg.n = v;
      else if (strcmp(a, "--reads") == 0) b->reads = v;
      else if (strcmp(a, "--key-size") == 0) b->cfg.key_size = (size_t)v;
      else if (strcmp(a, "--value-size") == 0) b->cfg.value_size = (size_t)v;
      else if (strcmp(a, "--batch") == 0) b->batch = v;
      else if (strcmp(a, "--memtable-mb") == 0) memtable_mb = v;
      else if (strcmp(a, "--cache-mb") == 0) cache_mb = v;
      else if (strcmp(a, "--bloom-bits") == 0) b->cfg.bloom_bits = (int)v;
      else if (strcmp(a, "--threads") == 0) b->threads = (int)v;
      else if (strcmp(a, "--write-rate") == 0) b->write_rate = v;
      else if (strcmp(a, "--seek-nexts") == 0) b->seek_nexts = (int)v;
      else if (strcmp(a, "--seed") == 0) b->seed = v;
      else {
        num = 0;
        goto bad;
      }
    }
  }
  if (b->t == NULL || b->dir == NULL) {
    usage();
    return -1;
  }
  if (b->cfg.key_size < 9 || b->cfg.key_size > 1024 || b->cfg.value_size > (1u << 20) ||
      b->cfg.n == 0 || b->batch == 0 || b->threads < 1 || b->threads > MAX_READERS ||
      memtable_mb == 0 || b->seek_nexts < 0) {
    fprintf(stderr, "bench: out-of-range option (key size 9..1024, value size <= 1 MiB, "
                    "n, batch, memtable >= 1, threads 1..%d)\n", MAX_READERS);
    return -1;
  }
  if (b->reads == UINT64_MAX) b->reads = b->cfg.n;
  b->cfg.memtable_bytes = (size_t)(memtable_mb << 20);
  b->cfg.cache_bytes = (size_t)(cache_mb << 20);
  return 0;
bad:
  fprintf(stderr, "bench: bad %s: %s\n", num ? "value for" : "or incomplete option", bad_arg);
  usage();
  return -1;
}

int main(int argc, char **argv) {
  bench b;
  char err[512];
  char *list = NULL, *wl, *save = NULL;
  size_t i;
  int failures = 0;
  uint64_t rng = 12345;
  memset(&b, 0, sizeof b);
  if (parse_args(&b, argc, argv)) return 2;
  if (mkdir_p(b.dir)) {
    fprintf(stderr, "bench: cannot create %s: %s\n", b.dir, strerror(errno));
    return 1;
  }
  b.values = malloc(VALUE_POOL + b.cfg.value_size);
  list = strdup(b.benchmarks);
  if (b.values == NULL || list == NULL) {
    fprintf(stderr, "bench: out of memory\n");
    return 1;
  }
  /* Random bytes: values do not compress, whatever a target would do. */
  for (i = 0; i < VALUE_POOL + b.cfg.value_size; i++) b.values[i] = (unsigned char)rng_next(&rng);

  if (b.t->open(&b.cfg, b.dir, &b.store, err, sizeof err)) {
    fprintf(stderr, "bench: %s: %s\n", b.t->name, err);
    return 1;
  }
  if (b.t->conn_open(b.store, &b.conn, err, sizeof err)) {
    fprintf(stderr, "bench: %s: %s\n", b.t->name, err);
    b.t->close(b.store);
    return 1;
  }
  printf("# target=%s n=%" PRIu64 " reads=%" PRIu64 " key=%zu value=%zu batch=%" PRIu64
         " sync=%s memtable=%zuMiB cache=%zuMiB bloom=%d threads=%d write-rate=%" PRIu64 "\n",
         b.t->name, b.cfg.n, b.reads, b.cfg.key_size, b.cfg.value_size, b.batch,
         b.cfg.sync_mode == BENCH_SYNC_OFF    ? "off"
         : b.cfg.sync_mode == BENCH_SYNC_FULL ? "full"
                                              : "normal",
         b.cfg.memtable_bytes >> 20, b.cfg.cache_bytes >> 20, b.cfg.bloom_bits, b.threads,
         b.write_rate);
  get_stats(&b, &b.stats0);
  b.wchar0 = io_wchar();

  for (wl = strtok_r(list, ",", &save); wl; wl = strtok_r(NULL, ",", &save)) {
    if (run_one(&b, wl)) failures++;
  }

  {
    char end[128];
    bench_stats s;
    uint64_t disk = disk_usage(b.dir), w = io_wchar();
    get_stats(&b, &s);
    snprintf(end, sizeof end, "end:%s", b.label);
    emit(&b, end, "disk_MiB", (double)disk / 1048576.0);
    if (space_amp(&b, disk) >= 0) emit(&b, end, "space_amp", space_amp(&b, disk));
    if (b.user_written) {
      if (s.has_lsm) {
        emit(&b, end, "wamp", (double)(engine_written(&s) - engine_written(&b.stats0)) /
                                  (double)b.user_written);
      }
      emit(&b, end, "wamp_io", (double)(w - b.wchar0) / (double)b.user_written);
      if (s.has_stalls) {
        emit(&b, end, "stall_ms", (double)(stall_micros(&s) - stall_micros(&b.stats0)) / 1e3);
      }
    }
    if (s.has_lsm) {
      int l;
      for (l = 0; l < 8; l++) {
        if (s.level_files[l] == 0) continue;
        printf("# %s level %d: %d files, %" PRIu64 " bytes\n", b.t->name, l,
               s.level_files[l], s.level_bytes[l]);
      }
    }
    b.t->conn_close(b.conn);
    b.t->close(b.store);
    emit(&b, end, "rss_MiB", peak_rss_mib());
  }
  free(list);
  free(b.values);
  return failures ? 1 : 0;
}
