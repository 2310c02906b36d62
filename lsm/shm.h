/*
** shm.h — the state shared by every open instance of one database
** directory, across processes: byte-range locks on <dir>/LOCK and a small
** shared-memory file <dir>/SHM.  The protocol, its invariants and the byte
** layout are described at the top of shm.c and in FORMAT.md ("Multi-process
** protocol").
**
** Life of a handle:
**
**   lsm_shm_open()          takes the DMS lock and a reader slot.  If
**                           *is_first, no other instance is open: the
**                           caller holds DMS exclusive, the SHM header is
**                           zero, and it must run recovery and then call
**   lsm_shm_init_finish()   with the recovered state, which publishes the
**                           header and lets other openers in.  Otherwise the
**                           header was validated and the handle is ready.
**   ...                     counters, WRITER / OWNER roles, slot publishing
**   lsm_shm_close()         releases everything (so does process death).
**
** Threads: after open (and init_finish) every call may be made from any
** thread.  The counters are atomics in the mapping.  The WRITER and OWNER
** roles are held by the handle, not by a thread: the handle refuses a
** second lsm_shm_writer_try while it holds WRITER, so at most one thread of
** the process holds it at a time.  lsm_shm_publish stores one value; callers
** serialise the computation of that value themselves (db->mu).
**
** One process normally has one handle per directory (ext/registry.c shares
** one engine per directory), but two handles in one process are two
** independent instances: their locks conflict exactly as between processes.
** A thread must never open a second handle while it holds one that is still
** initialising (is_first, before init_finish): the open would wait on the
** thread itself.
**
** fork(): a child shares its parent's open files and therefore its locks; a
** child must neither use nor close a handle opened before the fork (closing
** would release the parent's locks).  It opens its own.
*/
#ifndef LSM_SHM_H
#define LSM_SHM_H

#include "lsm.h"

/* Size of the SHM file and of its mapping. */
#define LSM_SHM_SIZE 4096
#define LSM_SHM_VERSION 2
/* Reader slots: at most this many instances have a directory open. */
#define LSM_SHM_SLOTS 64

/* Bytes of the LOCK file (see shm.c). */
#define LSM_SHM_LOCK_DMS 0
#define LSM_SHM_LOCK_WRITER 1
#define LSM_SHM_LOCK_OWNER 2
#define LSM_SHM_LOCK_SLOT0 64   /* slot i is byte 64 + i */

/* lsm_shm_open flags. */
#define LSM_SHM_EXCLUSIVE 1   /* succeed only as the sole instance, else
                                 LSM_BUSY without waiting (lsm_destroy) */

/* The counters of the SHM header. */
typedef struct lsm_shm_state {
  uint64_t commit_seq;       /* newest committed sequence number */
  uint64_t wal_number;       /* log that new commits go to */
  uint64_t manifest_gen;     /* generation of the newest durable MANIFEST */
  uint64_t next_file;        /* next file number to hand out */
} lsm_shm_state;

typedef struct lsm_shm lsm_shm;

/* Open the shared state of directory dir (which must exist), creating LOCK
** and SHM if missing, and claim a reader slot.  Waits while another opener
** initialises.  On LSM_OK *out is the handle and *is_first tells whether
** this is the only instance (see above).  Errors: LSM_BUSY (flag
** LSM_SHM_EXCLUSIVE and another instance is open; every reader slot is
** taken; or the state never became initialised), LSM_CORRUPT (the SHM
** header is garbage while other instances are open), LSM_NOTFOUND (no
** directory dir), LSM_IOERR, LSM_NOMEM; errmsg (may be NULL) receives a
** message naming the file. */
int lsm_shm_open(lsm_env *env, const char *dir, int flags, lsm_shm **out, int *is_first,
                 lsm_buffer *errmsg);

/* First opener only: fill the header with st (the recovered state), set
** this handle's slot to st->manifest_gen, mark the header valid and
** convert DMS to shared, which admits the openers waiting for it.
** LSM_MISUSE if st is out of range. */
int lsm_shm_init_finish(lsm_shm *shm, const lsm_shm_state *st, lsm_buffer *errmsg);

/* Release the roles, the slot, DMS, the mapping and both files; frees shm
** (NULL is fine).  The status reports a failed release. */
int lsm_shm_close(lsm_shm *shm);

/* ---- counters (acquire loads, release stores) ---- */

/* Each getter validates what it reads: LSM_CORRUPT with a message for a
** value out of range. */
int lsm_shm_commit_seq(lsm_shm *shm, uint64_t *out, lsm_buffer *errmsg);
int lsm_shm_wal_number(lsm_shm *shm, uint64_t *out, lsm_buffer *errmsg);
int lsm_shm_manifest_gen(lsm_shm *shm, uint64_t *out, lsm_buffer *errmsg);
/* Every counter, plus the header's magic, version and slot count. */
int lsm_shm_read_state(lsm_shm *shm, lsm_shm_state *out, lsm_buffer *errmsg);

/* Setters.  commit_seq and wal_number are written only by the WRITER
** holder, manifest_gen only by the OWNER holder (asserted). */
void lsm_shm_set_commit_seq(lsm_shm *shm, uint64_t seq);
void lsm_shm_set_wal_number(lsm_shm *shm, uint64_t number);
void lsm_shm_set_manifest_gen(lsm_shm *shm, uint64_t gen);

/* Reserve n (>= 1) consecutive file numbers: *first .. *first + n - 1,
** distinct across every process (atomic fetch-add of next_file). */
int lsm_shm_alloc_file(lsm_shm *shm, uint64_t n, uint64_t *first, lsm_buffer *errmsg);

/* ---- roles ---- */

/* Take WRITER without waiting: LSM_OK, or LSM_BUSY if another instance or
** this handle already holds it. */
int lsm_shm_writer_try(lsm_shm *shm, lsm_buffer *errmsg);
int lsm_shm_writer_release(lsm_shm *shm);

/* Keeping WRITER between transactions (lsm/db.c): an instance that is alone
** may hold WRITER after its transaction ends, marking it parked, and gives
** it up when joins moves (another instance arrived).  A writer refused
** WRITER while it is parked waits a little for that instead of failing.
** _set_writer_parked: WRITER holder only (asserted); writer_release and a
** successful writer_try clear it. */
void lsm_shm_set_writer_parked(lsm_shm *shm, int parked);
int lsm_shm_writer_parked(lsm_shm *shm);
/* Openers that have joined the directory since it was initialised (only
** grows; each non-first opener adds 1 once its slot is claimed). */
uint64_t lsm_shm_joins(lsm_shm *shm);

/* Take OWNER without waiting if this handle does not hold it yet.  LSM_OK
** with *is_owner = 1 if this handle holds it (now or already), 0 if another
** instance does; an error only for an I/O failure. */
int lsm_shm_owner_try(lsm_shm *shm, int *is_owner, lsm_buffer *errmsg);
int lsm_shm_owner_release(lsm_shm *shm);

/* ---- reader slots ---- */

/* Index of this handle's slot (0 .. LSM_SHM_SLOTS-1). */
int lsm_shm_slot(const lsm_shm *shm);
/* Publish the oldest manifest generation this instance may still read:
** min(generations of the versions it holds, manifest_gen read now).  Must
** never exceed the manifest_gen it read, and never decreases. */
void lsm_shm_publish(lsm_shm *shm, uint64_t min_gen);
/* The oldest generation any live instance may read: the minimum over this
** handle's slot and every slot whose byte another instance holds, never
** above manifest_gen.  Slots of dead processes are skipped.  Files made
** obsolete by generation G may be deleted once this is >= G. */
int lsm_shm_oldest_gen(lsm_shm *shm, uint64_t *out, lsm_buffer *errmsg);

/* *yes = 1 if another instance has the directory open (holds a slot).
** One lock query; an instance polls other instances' progress only then. */
int lsm_shm_others_open(lsm_shm *shm, int *yes);

#endif /* LSM_SHM_H */
