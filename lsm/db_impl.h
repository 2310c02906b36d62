/*
** db_impl.h — the lsm_db structure, shared by db.c (open, write, read,
** snapshots, stats), dbiter.c (the public iterator) and compact.c (flush and
** compaction).
**
** Concurrency: one mutex per database protects every field below that is
** not marked otherwise.  Writers hold it for the whole of lsm_write
** (including a flush or compaction it triggers: synchronous for now, which
** also serialises writers).  Readers hold it only to take references on
** the memtables and the current version, then read without it.
**
** Invariants:
**  (1) Every commit with sequence number <= last_seq is in mem, imm, or a
**      table of the current version; commits in mem and imm are also in a
**      log file numbered >= vset.log_number.
**  (2) last_seq is advanced only after a batch is entirely in mem, so a
**      reader at last_seq never sees part of a batch.
**  (3) imm, when not NULL, is a full memtable whose log is older than the
**      current log; it is dropped only after the table holding it is in a
**      durable manifest.
*/
#ifndef LSM_DB_IMPL_H
#define LSM_DB_IMPL_H

#include <pthread.h>

#include "batch.h"
#include "memtable.h"
#include "version.h"
#include "wal.h"

struct lsm_snapshot {
  uint64_t seq;
  lsm_snapshot *prev, *next;  /* in db->snapshots, oldest first */
};

struct lsm_db {
  pthread_mutex_t mu;
  lsm_options opts;
  lsm_env *env;
  char *dir;
  lsm_file *lock;

  lsm_vset vset;
  lsm_mem *mem;              /* active memtable */
  lsm_mem *imm;              /* memtable being flushed, or NULL */
  lsm_wal *wal;              /* log of mem */
  uint64_t wal_number;
  uint64_t last_seq;         /* newest committed sequence number */
  int bg_error;              /* sticky error from a failed flush or log write */

  lsm_snapshot snapshots;    /* list head (circular) */
  int compact_pointer_valid[LSM_MAX_LEVELS];
  lsm_buffer compact_pointer[LSM_MAX_LEVELS];  /* round-robin key per level */

  lsm_buffer write_buf;      /* encoded batch of the commit in progress */
  lsm_buffer errmsg;         /* NUL-terminated text of the last error */

  /* statistics; bloom counters are updated by readers without the mutex */
  uint64_t bloom_probes, bloom_negatives;
  uint64_t user_bytes, wal_bytes, flush_bytes;
  uint64_t compact_read_bytes, compact_write_bytes;
  uint64_t flushes, compactions;
};

/* Record an error message (printf-style) on db; returns rc. */
int lsm_db_error(lsm_db *db, int rc, const char *fmt, ...);

/* Remove the logs numbered below the current one: the durable manifest's
** log_number retired them (version.h invariant 4).  Best effort: a log
** left behind is deleted at the next open.  Mutex held. */
void lsm_db_delete_old_logs(lsm_db *db);

/* Oldest sequence number any snapshot can read (mutex held). */
uint64_t lsm_db_smallest_snapshot(lsm_db *db);

/* compact.c (mutex held) */
/* Write imm to a level-0 table and install it; drops imm. */
int lsm_db_flush_imm(lsm_db *db);
/* Run compactions while some level is over its target. */
int lsm_db_maybe_compact(lsm_db *db);
/* Merge every level down into the deepest occupied one (>= 1). */
int lsm_db_compact_all(lsm_db *db);

/* dbiter.c: the public iterator over an internal merging iterator. */
lsm_iter *lsm_db_iter_new(lsm_db *db, lsm_it *merged, uint64_t seq,
                          int has_overlay, uint64_t overlay_ops, lsm_mem *mem,
                          lsm_mem *imm, lsm_version *v);
/* db.c: drop the references an iterator held (takes the mutex). */
void lsm_db_iter_release(lsm_db *db, lsm_mem *mem, lsm_mem *imm, lsm_version *v);

#endif /* LSM_DB_IMPL_H */
