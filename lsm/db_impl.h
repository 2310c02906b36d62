/*
** db_impl.h — the lsm_db structure, shared by db.c (open, write, read,
** snapshots, stats, the background thread), dbiter.c (the public iterator)
** and compact.c (flush and compaction).
**
** Several instances (processes) may have the directory open at once; they
** share state through lsm/shm.c (FORMAT.md "Multi-process protocol").
** Each instance has its own memtables, rebuilt from the logs: a memtable
** per live log (at most two: mem for the log commits go to, wal_number,
** and imm for the one before it while it waits for its flush), each with
** the offset up to which that log's records have been applied.  Catching
** up (db.c) brings them, the current version and last_seq up to what
** other instances committed.  Roles across instances: WRITER (one
** committing instance; kept between transactions while it is alone, see
** invariant 7 and db.c "keeping WRITER") and OWNER (the one that flushes, compacts, writes
** the manifest and deletes files); inside the instance the writer token
** and the maintenance token below.
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
**   catch-up mutex (catchup_mu)  a pthread mutex held by whoever changes
**       which memtables exist or inserts into them: a catch-up (replaying
**       other instances' commits) and the writer from its catch-up through
**       its insert.  Changes themselves happen under mu as well, so a
**       reader needs only mu to take a consistent view.
**
** Lock order: writer token (and the WRITER role), then catchup_mu, then
** maintenance token, then mu; never the other way (a maintenance step
** never waits for a writer), so a writer waiting for the background
** thread cannot deadlock with it.  A writer that must wait for maintenance
** releases catchup_mu first (the owner's background thread catches up
** before it flushes).
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
**      log file numbered >= vset.log_number.  mem holds exactly the records
**      of log wal_number before offset mem_off, imm those of log imm_log
**      before imm_off (all of them once imm_complete).
**  (2) last_seq is advanced only after a batch is entirely in mem, so a
**      reader at last_seq never sees part of a batch.
**  (3) imm, when not NULL, is a full memtable whose log is older than
**      wal_number; it is dropped only after the table holding it is in a
**      durable manifest whose log_number is above its log.  While imm is
**      set the writer does not switch memtables again (it waits).  Across
**      instances: a writer rotates the log only when the manifest it has
**      loaded retired every log before the current one, so at most two
**      logs are ever live.
**  (4) The current version changes only under the maintenance token, so a
**      token holder reads it without mu; readers take a reference under mu
**      and keep reading that version whatever is installed after.
**  (5) Logs numbered below vset.log_number (the durable manifest's) are
**      deleted; wal_number may be ahead of it while imm waits for its flush.
**  (6) Logs are written in the order of their numbers (recovery replays
**      them in that order): the number of the next log is reserved when
**      the current one starts (next_wal_number), and the background thread
**      creates the file ahead under that number.  With sync=normal a log is
**      fsynced before the next one receives a record, so a power loss
**      leaves a prefix of the commits.
**  (7) While writer_kept, this instance has held WRITER without a break
**      since its last commit (or forced catch-up) left mem_off at the end
**      of log wal_number and found no other instance open: nobody else can
**      have appended, so its next transaction skips the forced catch-up
**      (the look at the log's end) as well as the two lock calls.
*/
#ifndef LSM_DB_IMPL_H
#define LSM_DB_IMPL_H

#include <pthread.h>

#include "batch.h"
#include "memtable.h"
#include "shm.h"
#include "version.h"
#include "wal.h"

/* A snapshot pins the memtables and version it was taken on (as an
** iterator does), so what it reads is never compacted away under it, even
** by another process's owner, which knows nothing of this one's
** snapshots. */
struct lsm_snapshot {
  uint64_t seq;
  lsm_mem *mem, *imm;
  lsm_version *v;
  lsm_snapshot *prev, *next;  /* in db->snapshots, oldest first */
};

struct lsm_db {
  pthread_mutex_t mu;
  pthread_cond_t writer_cv, bg_cv, state_cv;
  int sync_objects;          /* mu and the condition variables exist */
  lsm_options opts;
  lsm_env *env;
  char *dir;
  lsm_shm *shm;              /* shared state of the directory (fixed) */
  int shm_live;              /* init_finish done (or joined): file numbers
                                and counters go through shm */
  pthread_mutex_t catchup_mu;

  lsm_vset vset;
  lsm_mem *mem;              /* active memtable (replaced by the writer) */
  lsm_mem *imm;              /* memtable being flushed, or NULL */
  lsm_wal *wal;              /* append handle on log wal_number, or NULL
                                (opened when this instance first writes to
                                a log another one created) */
  uint64_t wal_number;       /* log of mem */
  uint64_t mem_off;          /* records of it applied to mem end here */
  uint64_t imm_log, imm_off; /* log of imm and the end applied */
  int imm_complete;          /* imm holds every record of its log: the
                                owner may flush it */
  uint64_t loaded_gen;       /* vset.generation, also read atomically by
                                the catch-up fast path */
  uint64_t published_gen;    /* min_gen last stored in this slot */
  int is_owner;              /* this instance holds OWNER */
  uint64_t owner_epoch;      /* OWNER acquisitions so far */
  uint64_t synced_epoch;     /* epoch of the last catch-up done as owner:
                                maintenance runs only when it is
                                owner_epoch (the new owner has loaded the
                                previous owner's last manifest) */
  int owner_scan;            /* new owner: queue orphan files */
  int need_reload;           /* joined: the version is not loaded yet */
  int replay_broken;         /* a catch-up half applied a record: this
                                instance can no longer follow the logs */
  uint64_t last_collect;     /* now_micros() of the last slot scan */
  uint64_t last_trim;        /* now_micros() of the last bg_trim_heap */
  int write_locked;          /* WRITER held between lsm_write_begin and
                                lsm_write_end */
  int write_verified;        /* ... and the log's end looked at since it
                                was taken (no torn tail): commits need not
                                look again */
  int writer_kept;           /* WRITER held between transactions (SHM
                                writer_parked set): this instance was alone
                                when its last transaction ended and the
                                log's end is its own (invariant 7) */
  int alone_known, alone;    /* alone: no other instance had a slot when
                                joins read alone_joins (known: looked) */
  uint64_t alone_joins;
  uint64_t kept_txns;        /* transactions that ended keeping WRITER */
  uint64_t kept_seen;        /* kept_txns the background thread last saw, */
  uint64_t kept_active;      /* ... at this now_micros() */
  lsm_wal *next_wal;         /* created ahead by the background thread for
                                the next switch, or NULL */
  uint64_t next_wal_number;  /* > wal_number */
  uint64_t next_wal_for;     /* imm_switched when it was last attempted */
  uint64_t last_log_number;  /* newest log number handed out (writer or
                                background thread): a prepared log whose
                                number is not this one is dropped */
  uint64_t last_seq;         /* newest committed sequence number (stored
                                atomically: the fast path reads it) */
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

/* A new file number (mutex held): from the shared counter once the
** instance is live.  LSM_CORRUPT (message in errmsg) for a damaged SHM. */
int lsm_db_new_file_number(lsm_db *db, uint64_t *number, lsm_buffer *errmsg);

/* db.c, for compact.c.  Mutex and maintenance token held. */
/* Before preparing a manifest: raise its next_file_number to the shared
** counter. */
void lsm_db_before_install(lsm_db *db);
/* After a manifest was installed: record its generation and publish it to
** the other instances (the owner's job; imm already dropped by a flush). */
void lsm_db_after_install(lsm_db *db);
/* Queue log `number`, which a durable manifest retired (invariant 5), for
** deletion; then delete what no instance can still read.  Older logs left
** by a crash are deleted by the next sole opener (or a new owner). */
void lsm_db_retire_log(lsm_db *db, uint64_t number);
/* Delete queued obsolete files no instance may still read (the owner), or
** forget them (anyone else).  Mutex held. */
void lsm_db_collect_garbage(lsm_db *db);

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
/* Index of the file of sorted level (1 .. LSM_MAX_LEVELS-2, with at least
** one file) that a compaction of level picks: the least bytes of level+1
** overlapping it per byte of its own (compact.c).  Any lock that keeps v
** alive; exported for the tests. */
int lsm_compact_pick_file(const lsm_version *v, int level);

/* dbiter.c: the public iterator over an internal merging iterator. */
lsm_iter *lsm_db_iter_new(lsm_db *db, lsm_it *merged, uint64_t seq,
                          int at_snapshot, int has_overlay, uint64_t overlay_ops,
                          lsm_mem *mem, lsm_mem *imm, lsm_version *v);
/* lsm_iter_refresh (db.c) calls it with the mutex held and the latest
** view: 1 and the iterator moved to seq (not positioned) if its sources
** are mem, imm and v and it has neither overlay, snapshot nor error; 0
** otherwise.  lsm_db_iter_db: the iterator's database. */
int lsm_db_iter_rebase(lsm_iter *it, lsm_mem *mem, lsm_mem *imm, lsm_version *v,
                       uint64_t seq);
lsm_db *lsm_db_iter_db(const lsm_iter *it);
/* db.c: drop the references an iterator held (takes the mutex). */
void lsm_db_iter_release(lsm_db *db, lsm_mem *mem, lsm_mem *imm, lsm_version *v);
/* db.c: an iterator reading v positioned itself (seek or first/last):
** charge it to v's level-0 tables (read-triggered compaction). */
void lsm_db_charge_l0_read(lsm_db *db, lsm_version *v);

#endif /* LSM_DB_IMPL_H */
