/*
** target_rocksdb.c — the "rocksdb" benchmark target: RocksDB through its C
** API (Debian's librocksdb-dev), compiled only with -DBENCH_HAVE_ROCKSDB.
** The operations are peer_target.h's; this file configures the store.
**
** Configured like the lsm engine: write buffer = memtable_bytes, an LRU
** block cache of cache_bytes, 10 (bloom_bits) bits/key full bloom filters,
** no compression (the lsm engine has none, and the values are random
** anyway); everything else RocksDB's defaults (background flush and
** compaction threads).
** sync=full sets WriteOptions.sync on every commit; off and normal both
** write the log without fsync (RocksDB has no finer setting).
*/
#ifdef BENCH_HAVE_ROCKSDB

#include <rocksdb/c.h>

#define PEER(name) rocksdb_##name
#define PEER_LABEL "rocksdb"

#include "bench.h"

struct bench_store {
  rocksdb_t *db;
  rocksdb_options_t *opts;
  rocksdb_cache_t *cache;
  rocksdb_readoptions_t *ropts;
  rocksdb_writeoptions_t *wopts;
  rocksdb_block_based_table_options_t *table;
};

#include "peer_target.h"

static void peer_configure(bench_store *st, const bench_config *cfg) {
  st->opts = rocksdb_options_create();
  st->table = rocksdb_block_based_options_create();
  st->cache = rocksdb_cache_create_lru(cfg->cache_bytes);
  st->ropts = rocksdb_readoptions_create();
  st->wopts = rocksdb_writeoptions_create();
  rocksdb_block_based_options_set_block_cache(st->table, st->cache);
  /* The table options take ownership of the filter policy. */
  if (cfg->bloom_bits > 0) {
    rocksdb_block_based_options_set_filter_policy(
        st->table, rocksdb_filterpolicy_create_bloom_full(cfg->bloom_bits));
  }
  rocksdb_options_set_block_based_table_factory(st->opts, st->table);
  rocksdb_options_set_create_if_missing(st->opts, 1);
  rocksdb_options_set_write_buffer_size(st->opts, cfg->memtable_bytes);
  rocksdb_options_set_compression(st->opts, rocksdb_no_compression);
  rocksdb_writeoptions_set_sync(st->wopts, cfg->sync_mode == BENCH_SYNC_FULL);
}

static void peer_release(bench_store *st) {
  if (st->table) rocksdb_block_based_options_destroy(st->table);
}

const bench_target bench_target_rocksdb = PEER_TARGET;

#else
/* Built without RocksDB: nothing here (ISO C wants a declaration). */
typedef int bench_no_rocksdb;
#endif
