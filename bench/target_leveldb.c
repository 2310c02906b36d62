/*
** target_leveldb.c — the "leveldb" benchmark target: LevelDB through its C
** API (Debian's libleveldb-dev), compiled only with -DBENCH_HAVE_LEVELDB.
** The operations are peer_target.h's; this file configures the store.
**
** Configured like the lsm engine: write buffer = memtable_bytes, an LRU
** block cache of cache_bytes, 10 (bloom_bits) bits/key bloom filters, no
** compression (the lsm engine has none, and the values are random anyway).
** sync=full sets WriteOptions.sync on every commit; off and normal both
** write the log without fsync (LevelDB has no finer setting).
*/
#ifdef BENCH_HAVE_LEVELDB

#include <leveldb/c.h>

#define PEER(name) leveldb_##name
#define PEER_LABEL "leveldb"

#include "bench.h"

struct bench_store {
  leveldb_t *db;
  leveldb_options_t *opts;
  leveldb_cache_t *cache;
  leveldb_readoptions_t *ropts;
  leveldb_writeoptions_t *wopts;
  leveldb_filterpolicy_t *filter;
};

#include "peer_target.h"

static void peer_configure(bench_store *st, const bench_config *cfg) {
  st->opts = leveldb_options_create();
  st->cache = leveldb_cache_create_lru(cfg->cache_bytes);
  st->filter = leveldb_filterpolicy_create_bloom(cfg->bloom_bits);
  st->ropts = leveldb_readoptions_create();
  st->wopts = leveldb_writeoptions_create();
  leveldb_options_set_create_if_missing(st->opts, 1);
  leveldb_options_set_write_buffer_size(st->opts, cfg->memtable_bytes);
  leveldb_options_set_cache(st->opts, st->cache);
  if (cfg->bloom_bits > 0) leveldb_options_set_filter_policy(st->opts, st->filter);
  leveldb_options_set_compression(st->opts, leveldb_no_compression);
  leveldb_writeoptions_set_sync(st->wopts, cfg->sync_mode == BENCH_SYNC_FULL);
}

static void peer_release(bench_store *st) {
  if (st->filter) leveldb_filterpolicy_destroy(st->filter);
}

const bench_target bench_target_leveldb = PEER_TARGET;

#else
/* Built without LevelDB: nothing here (ISO C wants a declaration). */
typedef int bench_no_leveldb;
#endif
