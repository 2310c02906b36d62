/*
** bench.h — the interface between the benchmark driver (bench.c) and the
** storage targets it measures (target_*.c).
**
** A target is a table of functions (bench_target).  The driver opens the
** store once per process (open), then one session per thread (conn_open):
** a session is what one thread uses to write batches, read keys and scan.
** Sessions of one store may run on different threads at the same time
** (readwhilewriting); a session itself is used by one thread only.
**
**   engine    lsm/lsm.h directly                          (target_engine.c)
**   vtab      SQL on the lsm virtual table (lsm_vtab.so)  (target_sql.c)
**   native    the same SQL on a WITHOUT ROWID table       (target_sql.c)
**   leveldb   LevelDB's C API, when built with it         (target_leveldb.c)
**   rocksdb   RocksDB's C API, when built with it         (target_rocksdb.c)
**
** Every method returns 0 on success and -1 on failure; the failure's text
** is then available from errmsg(session) (or, for open, in the err buffer).
** No method allocates per operation on the driver's behalf: keys and
** values are the driver's buffers, and what a read returns is only
** counted (its length), never handed back.
*/
#ifndef BENCH_H
#define BENCH_H

#include <stddef.h>
#include <stdint.h>

#define BENCH_SYNC_OFF    0
#define BENCH_SYNC_NORMAL 1
#define BENCH_SYNC_FULL   2

/* Run parameters every target may need (the rest is the driver's). */
typedef struct bench_config {
  uint64_t n;               /* rows of a fill */
  size_t key_size;          /* bytes per key (>= 9) */
  size_t value_size;        /* bytes per value */
  int sync_mode;            /* BENCH_SYNC_* */
  size_t memtable_bytes;    /* lsm memtable / LevelDB, RocksDB write buffer */
  size_t cache_bytes;       /* block cache (lsm, LevelDB, RocksDB) */
  int bloom_bits;           /* bloom filter bits per key */
  const char *ext_path;     /* vtab: the extension to load */
  const char *vtab_opts;    /* vtab: extra CREATE options ("" if none) */
  const char *vtab_journal; /* vtab: host database "wal" (default), "delete"
                               or "exclusive" (delete + locking_mode) */
  int replace_fill;         /* SQL fills use INSERT OR REPLACE */
} bench_config;

/* Engine counters, for the targets built on the lsm engine.  Fields the
** target cannot report stay zero; has_lsm says whether any were read,
** has_cache whether the cache figures are real. */
typedef struct bench_stats {
  int has_lsm;
  int has_cache;
  uint64_t user_bytes, wal_bytes, flush_bytes;
  uint64_t compact_read_bytes, compact_write_bytes;
  uint64_t flushes, compactions;
  uint64_t bloom_probes, bloom_negatives;
  uint64_t cache_hits, cache_misses, cache_bytes;
  uint64_t memtable_bytes;
  int has_stalls;            /* the stall counters below are real */
  uint64_t slowdown_count, slowdown_micros;   /* writes slowed by level 0 */
  uint64_t stop_count, stop_micros;           /* writes stopped */
  int level_files[8];
  uint64_t level_bytes[8];
} bench_stats;

typedef struct bench_store bench_store;   /* one per process: the open store */
typedef struct bench_conn bench_conn;     /* one per thread: a session */

typedef struct bench_target {
  const char *name;
  /* Open (create when missing) the store in directory dir, which exists. */
  int (*open)(const bench_config *cfg, const char *dir, bench_store **out,
              char *err, size_t err_len);
  void (*close)(bench_store *st);
  int (*conn_open)(bench_store *st, bench_conn **out, char *err, size_t err_len);
  void (*conn_close)(bench_conn *c);

  /* Writes: begin, then puts/dels, then commit: one transaction (SQL) or
  ** one write batch (engines).  replace: the key may exist (overwrite). */
  int (*begin)(bench_conn *c);
  int (*put)(bench_conn *c, const void *k, size_t kl, const void *v, size_t vl,
             int replace);
  int (*del)(bench_conn *c, const void *k, size_t kl);
  int (*commit)(bench_conn *c);

  /* Point read: *found = 0/1, *vlen = length of the value read. */
  int (*get)(bench_conn *c, const void *k, size_t kl, int *found, size_t *vlen);
  /* Position at the first key >= k and read up to n rows from there;
  ** *rows and *bytes (keys + values) count what was read. */
  int (*seek)(bench_conn *c, const void *k, size_t kl, int n, int *rows,
              uint64_t *bytes);
  /* Whole-store scan in key order (reverse: descending), one row per call
  ** of scan_step: *more = 0 at the end; *bytes = key + value length. */
  int (*scan_start)(bench_conn *c, int reverse);
  int (*scan_step)(bench_conn *c, int *more, size_t *bytes);
  void (*scan_end)(bench_conn *c);

  /* Engine counters (NULL or has_lsm = 0 when the target has none). */
  int (*stats)(bench_conn *c, bench_stats *out);
  const char *(*errmsg)(bench_conn *c);
} bench_target;

extern const bench_target bench_target_engine;
extern const bench_target bench_target_vtab;
extern const bench_target bench_target_native;
#ifdef BENCH_HAVE_LEVELDB
extern const bench_target bench_target_leveldb;
#endif
#ifdef BENCH_HAVE_ROCKSDB
extern const bench_target bench_target_rocksdb;
#endif

#endif /* BENCH_H */
