/*
** db_impl.h — the lsm_db structure, shared by db.c (open, write, read,
** snapshots, stats, the background thread), dbiter.c (the public iterator)
** and compact.c (flush and compaction).
**
** Concurrency.  One mutex (mu) per database guards every field below not
** marked otherwise.  Nobody holds it across file I/O except to remove a
** file whose last reference is dropped (version.h invariant 1).  Two
** tokens, flags under mu, give one thread at a time the right to change
** state over a longer stretch with mu released:
**
**   writer token (writer_busy)   one commit at a time.  Its holder may
**       replace mem, wal, wal_number and write_buf, append to the log and
**       insert into mem without mu; it publishes last_seq under mu.
**       Steps: become_writer -> make_room_for_write (may switch the
**       memtable, sleep or wait) -> append_to_log -> insert_into_memtable
**       -> publish and release (db.c).
**   maintenance token (maint_busy)   one flush or compaction at a time.
**       Its holder may read imm and the current version without mu, write
**       table files, write the manifest, and install a new version under
**       mu (lsm_vset_prepare / _write / _install).  The background thread
**       takes it for each step of work; lsm_compact() and, with
**       options.background = 0, the writer that filled the memtable take
**       it themselves.
**
** Lock order: writer token, then maintenance token, then mu; never the
** other way (a maintenance step never waits for a writer), so a writer
** waiting for the background thread cannot deadlock with it.
**
** Who waits for whom (all on condition variables of mu):
**   writer_cv   writers waiting for the writer token;
**   bg_cv       the background thread waiting for work (imm set, a level
**               over its target, a token released, shutdown);
**   state_cv    everyone waiting for maintenance to progress: a writer
**               stopped on a full imm or level 0 at l0_stop_trigger,
**               lsm_flush waiting for its memtable, lsm_compact waiting
**               for the maintenance token.  Broadcast whenever imm is
**               flushed, a version is installed, the token is released or
**               bg_error is set.
** Every wait loop re-checks bg_error: once a maintenance step has failed
** nothing more will be flushed, so waiters return the sticky error.
**
** Invariants:
**  (1) Every commit with sequence number <= last_seq is in mem, imm, or a
**      table of the current version; commits in mem and imm are also in a
**      log file numbered >= vset.log_number.
**  (2) last_seq is advanced only after a batch is entirely in mem, so a
**      reader at last_seq never sees part of a batch.
**  (3) imm, when not NULL, is a full memtable whose log is older than
**      wal_number; it is dropped only after the table holding it is in a
**      durable manifest whose log_number is above its log.  While imm is
**      set the writer does not switch memtables again (it waits).
**  (4) The current version changes only under the maintenance token, so a
**      token holder reads it without mu; readers take a reference under mu
**      and keep reading that version whatever is installed after.
**  (5) Logs numbered below vset.log_number (the durable manifest's) are
**      deleted; wal_number may be ahead of it while imm waits for its flush.
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
  pthread_cond_t writer_cv, bg_cv, state_cv;
  int sync_objects;          /* mu and the condition variables exist */
  lsm_options opts;
  lsm_env *env;
  char *dir;
  lsm_file *lock;

  lsm_vset vset;
  lsm_mem *mem;              /* active memtable (replaced by the writer) */
  lsm_mem *imm;              /* memtable being flushed, or NULL */
  lsm_wal *wal;              /* log of mem (writer token) */
  uint64_t wal_number;
  lsm_wal *next_wal;         /* created ahead by the background thread for
                                the next switch, or NULL */
  uint64_t next_wal_number;  /* > wal_number */
  uint64_t next_wal_for;     /* imm_switched when it was last attempted */
  uint64_t last_log_number;  /* newest log number handed out (writer or
                                background thread): a prepared log whose
                                number is not this one is dropped */
  uint64_t last_seq;         /* newest committed sequence number */
  int bg_error;              /* sticky error from a failed flush, compaction
                                or log write: writes fail with it */
  lsm_buffer bg_errmsg;      /* its message (NUL-terminated) */

  /* tokens and the background thread */
  int writer_busy;           /* writer token taken */
  int maint_busy;            /* maintenance token taken */
  int maint_waiters;         /* lsm_compact calls waiting for the token:
                                the background thread lets them go first */
  int bg_started;            /* bg_thread runs (join it at close) */
  int shutting_down;         /* lsm_close: finish the step in flight, stop */
  pthread_t bg_thread;
  uint64_t imm_switched;     /* memtables made immutable so far */
  uint64_t imm_flushed;      /* ... of which flushed (lsm_flush waits) */
  lsm_buffer maint_msg;      /* error text of the maintenance step in
                                flight (maintenance token, no mu) */

  lsm_snapshot snapshots;    /* list head (circular) */
  int compact_pointer_valid[LSM_MAX_LEVELS];
  lsm_buffer compact_pointer[LSM_MAX_LEVELS];  /* round-robin key per level
                                                  (maintenance token) */

  lsm_buffer write_buf;      /* encoded batch of the commit in progress
                                (writer token) */
  lsm_buffer errmsg;         /* NUL-terminated text of the last error */

  /* statistics; bloom counters are updated by readers without the mutex */
  uint64_t bloom_probes, bloom_negatives;
  uint64_t user_bytes, wal_bytes, flush_bytes;
  uint64_t compact_read_bytes, compact_write_bytes;
  uint64_t flushes, compactions;
  uint64_t slowdown_count, slowdown_micros, stop_count, stop_micros;
};

/* Record an error message (printf-style) on db; returns rc.  Mutex held,
** or the db not yet shared (open). */
int lsm_db_error(lsm_db *db, int rc, const char *fmt, ...);

/* Oldest sequence number any snapshot can read (mutex held). */
uint64_t lsm_db_smallest_snapshot(lsm_db *db);

/* A new file number (mutex held). */
uint64_t lsm_db_new_file_number(lsm_db *db);

/* db.c: remove the logs numbered below log_number, which a durable
** manifest retired (invariant 5).  Best effort: a log left behind is
** deleted at the next open.  Maintenance token held, mutex not held. */
void lsm_db_delete_old_logs(lsm_db *db, uint64_t log_number);

/* compact.c.  Each is called with the mutex AND the maintenance token held;
** it releases the mutex around its file I/O and returns with it held.  On
** failure the message is in db->maint_msg. */
/* Write imm to a level-0 table and install it; drops imm. */
int lsm_db_flush_imm(lsm_db *db);
/* Does some level score >= 1 (see compact.c)? */
int lsm_db_needs_compaction(lsm_db *db);
/* One compaction of the level with the highest score >= 1, if any. */
int lsm_db_compact_once(lsm_db *db);
/* Compactions while some level scores >= 1 (bounded). */
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
