/*
** stats.h — the lsm_stats() table-valued function.
**
**   SELECT * FROM lsm_stats('t');          -- table t of schema main
**   SELECT * FROM lsm_stats('t', 'aux');   -- of an attached schema
**
** One row per level (0 .. LSM_MAX_LEVELS-1, every level, empty ones too),
** columns:
**   level, files, entries, tombstones, bytes      that level's tables
**   memtable_bytes, memtable_entries,             the whole table's figures,
**   bloom_probes, bloom_negatives,                the same on every row
**   user_bytes, wal_bytes, flush_bytes,
**   compact_read_bytes, compact_write_bytes,
**   flushes, compactions,
**   slowdown_count, slowdown_micros,              write stalls: writes that
**   stop_count, stop_micros                       slept (level 0 at the
**                                                 slowdown trigger) or waited
**                                                 (memtable or level 0 stop)
** so write amplification is
**   SELECT (wal_bytes + flush_bytes + compact_write_bytes) * 1.0 / user_bytes
**   FROM lsm_stats('t') LIMIT 1;
** Arguments are hidden columns "tbl" and "schema".
*/
#ifndef LSMX_STATS_H
#define LSMX_STATS_H

#include <sqlite3.h>
#include "../lsm/lsm.h"

/* Finds the engine of lsm table `table` in `schema` of db; returns an SQLite
** code and sets *out (borrowed: valid for the current statement), or sets
** *errmsg (sqlite3_malloc()ed) e.g. "lsm_stats: no lsm table main.x". */
typedef int (*lsmx_table_lookup_fn)(void *ctx, sqlite3 *db, const char *schema,
                                    const char *table, lsm_db **out,
                                    char **errmsg);

/* Register lsm_stats on db; lookup(ctx, ...) resolves table names. */
int lsmx_stats_register(sqlite3 *db, lsmx_table_lookup_fn lookup, void *ctx);

#endif /* LSMX_STATS_H */
