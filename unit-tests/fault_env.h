/*
** fault_env.h — a fault-injecting lsm_env for unit tests, with crash and
** power-loss simulation.
**
** An lsm_fault_env wraps another environment (normally lsm_env_default())
** and forwards every call to it, counting the calls of each kind.  Three
** things can be injected:
**
** 1. I/O errors.  A test can arm a kind so that its Nth call (counting from
**    1 since the last lsm_fault_env_reset_counts) fails with LSM_IOERR, or
**    with another status chosen by lsm_fault_env_set_error; a "sticky" fault
**    also fails every later call of that kind, which models a disk that
**    stays broken.  An injected append fault can first write a prefix of the
**    buffer (lsm_fault_env_set_partial_append), which models a short write.
**    A failed call has no other effect (a failed rename renames nothing).
**
** 2. A process crash (LSM_CRASH_KILL): at the Nth *mutating* call (see
**    below) the environment freezes: that call and every later call fails
**    with LSM_IOERR and does nothing, exactly as if the process had died
**    there.  Every byte already handed to the OS stays, as with kill -9.
**    With lsm_fault_env_set_kill_partial(fe, 1) an append that is the crash
**    point first writes a random prefix of its buffer (a write() cut short
**    by the kill).
**
** 3. A power loss (LSM_CRASH_POWER_*): the environment freezes in the same
**    way and, at that moment, rewrites the real files of every tracked
**    directory to what a disk would hold after the power came back.  This
**    needs durability tracking (lsm_fault_env_track), which keeps a shadow
**    copy of every file written through the environment:
**
**      - File contents.  A file's durable contents are its contents at its
**        last successful sync (open_append's truncation included: truncating
**        a synced file without syncing it again leaves the old contents
**        durable).  What happens to the bytes appended since then depends on
**        the mode:
**          LSM_CRASH_POWER_DROP     every unsynced byte is lost;
**          LSM_CRASH_POWER_PREFIX   in-order write-back: the file ends at the
**                                   durable length or at the end of one of
**                                   the appends made since the sync (chosen
**                                   at random: the on-disk size), and its
**                                   unsynced part keeps a random prefix of
**                                   the data, cut at a 512-byte sector
**                                   boundary, followed by zeros up to that
**                                   size;
**          LSM_CRASH_POWER_SECTORS  out-of-order write-back: the size is
**                                   chosen as above, and each unsynced
**                                   512-byte sector (aligned to the file)
**                                   independently holds the new data or
**                                   zeros.
**        A file truncated and rewritten since its last sync keeps exactly its
**        durable contents in every mode.  Bytes are never garbled: disks
**        write whole sectors, and random garbage is the corruption test's
**        business, not this one's.
**      - Directory entries.  Creating a file (open_append of a new name,
**        lock creating its file), rename and remove change a directory's
**        entries; the changes become durable only when sync_dir of that
**        directory succeeds.  After a power loss every tracked directory
**        holds exactly its durable entries, each naming the durable contents
**        of its file (a removed or renamed-over file whose removal was not
**        made durable comes back with its durable contents).
**      - Directories.  A directory created by mkdir is an entry of its
**        parent like a file: durable only once sync_dir of the parent
**        succeeds.  After a power loss a new directory whose entry was not
**        durable is gone with everything in it (and so is one inside it,
**        whatever was synced there).  Directories that existed before they
**        were first touched are durable.
**      - Files already on disk when a directory is first touched after
**        lsm_fault_env_track are adopted as durable, so a database can be
**        reopened under a new tracking environment.
**
**    Mutating calls, the crash points, are: open_append, append, sync,
**    rename, remove, mkdir, rmdir, sync_dir, lock and open_shared
**    (open_append_existing truncates nothing and is not one).  Reads,
**    size, list, close, unlock and the byte-range lock and shared-memory
**    calls change nothing durable, so a crash before one of them is the
**    same as a crash before the next mutating call.  Stores into a shm_map
**    mapping bypass the environment: a mapped file (SHM) keeps whatever the
**    real file holds, or disappears at a power loss if its creation was
**    never made durable (the engine treats it as a rebuildable cache).  In power-loss
**    modes an append that is the crash point counts as written but unsynced
**    (it may survive in part); any other crash-point call does not happen.
**
** Frozen environment: after a crash every call fails with LSM_IOERR,
** except that close, unlock, lock_range(LSM_LOCK_UNLOCK) and shm_unmap
** still release the real descriptor, lock or mapping (then report
** LSM_IOERR), so the code under test can be closed without leaking
** anything and the directory reopened with a clean environment.
**
** Handles: the lsm_file pointers handed out are the wrapper's own (they
** remember which shadow file they write); pass them only back to this
** environment.  A failed close or unlock still closes the underlying file.
**
** There is no global state: the test owns the struct (on the stack or in
** the heap), calls lsm_fault_env_init() and passes lsm_fault_env_env() to
** the code under test, and calls lsm_fault_env_free() at the end (needed
** only when tracking was used).  Counters and fault settings are atomics
** and the shadow state has a mutex, so an engine that does I/O from a
** background thread can use it too.  Randomness (torn writes) comes from a
** seed (lsm_fault_env_set_seed), so a failing case replays exactly.
**
** This file and fault_env.c are linked into every unit-test program; they
** depend only on lsm.h (and POSIX for stat()) and define only
** lsm_fault_env_* symbols.
*/
#ifndef LSM_FAULT_ENV_H
#define LSM_FAULT_ENV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "lsm.h"

/* One kind per lsm_env method. */
typedef enum lsm_fault_kind {
  LSM_FAULT_OPEN_READ = 0,
  LSM_FAULT_OPEN_APPEND,
  LSM_FAULT_PREAD,
  LSM_FAULT_APPEND,
  LSM_FAULT_SYNC,
  LSM_FAULT_SIZE,
  LSM_FAULT_CLOSE,
  LSM_FAULT_RENAME,
  LSM_FAULT_REMOVE,
  LSM_FAULT_MKDIR,
  LSM_FAULT_RMDIR,
  LSM_FAULT_LIST,
  LSM_FAULT_SYNC_DIR,
  LSM_FAULT_LOCK,
  LSM_FAULT_UNLOCK,
  LSM_FAULT_OPEN_SHARED,
  LSM_FAULT_LOCK_RANGE,
  LSM_FAULT_LOCK_HELD,
  LSM_FAULT_SAME_FILE,
  LSM_FAULT_SHM_MAP,
  LSM_FAULT_SHM_UNMAP,
  LSM_FAULT_OPEN_APPEND_EXISTING,
  LSM_FAULT_NKINDS
} lsm_fault_kind;

/* What a crash does (see the top of the file). */
typedef enum lsm_crash_mode {
  LSM_CRASH_KILL = 0,
  LSM_CRASH_POWER_DROP,
  LSM_CRASH_POWER_PREFIX,
  LSM_CRASH_POWER_SECTORS
} lsm_crash_mode;

/* Shadow state of durability tracking (fault_env.c). */
typedef struct lsm_fault_track lsm_fault_track;

/* Treat as opaque: use the functions below.  `base` must stay the first
** member (the method table the engine sees). */
typedef struct lsm_fault_env {
  lsm_env base;
  lsm_env *target;                           /* the wrapped environment */
  _Atomic uint64_t calls[LSM_FAULT_NKINDS];  /* calls made, faults included */
  _Atomic uint64_t fail_at[LSM_FAULT_NKINDS];/* 1-based call to fail; 0: none */
  _Atomic int sticky[LSM_FAULT_NKINDS];      /* fail every call >= fail_at */
  _Atomic uint64_t injected[LSM_FAULT_NKINDS];/* faults injected */
  _Atomic int error;                         /* status of an injected fault */
  _Atomic size_t partial_append;             /* bytes written before a fault */
  _Atomic uint64_t bytes_appended;           /* bytes the target accepted */
  /* crash simulation */
  _Atomic uint64_t mutations;                /* mutating calls so far */
  _Atomic uint64_t crash_at;                 /* 1-based mutating call; 0: none */
  _Atomic int crash_mode;                    /* lsm_crash_mode */
  _Atomic int crashed;                       /* frozen */
  _Atomic int kill_partial;                  /* torn append at a kill */
  _Atomic int skip_sync;                     /* do not fsync for real */
  /* guards the shadow state and the random generator */
  pthread_mutex_t mu;
  uint64_t rng;
  lsm_fault_track *track;                    /* NULL: tracking off */
} lsm_fault_env;

/* Set up fe to wrap target (NULL: lsm_env_default()), with no faults armed,
** tracking off and every counter at zero. */
void lsm_fault_env_init(lsm_fault_env *fe, lsm_env *target);
/* Release the shadow state (safe to call more than once). */
void lsm_fault_env_free(lsm_fault_env *fe);

/* The environment to hand to the code under test. */
lsm_env *lsm_fault_env_env(lsm_fault_env *fe);

/* Make the nth call of `kind` (1-based, counted since init or the last
** reset_counts) fail; with sticky != 0 every later call fails too.  nth 0
** disarms the kind. */
void lsm_fault_env_fail(lsm_fault_env *fe, lsm_fault_kind kind, uint64_t nth,
                        int sticky);
/* Make the next call of `kind` fail (nth = calls so far + 1). */
void lsm_fault_env_fail_next(lsm_fault_env *fe, lsm_fault_kind kind, int sticky);
/* Disarm every kind and any pending crash (counters are kept). */
void lsm_fault_env_clear(lsm_fault_env *fe);
/* Zero every counter (armed faults stay armed, relative to the new count). */
void lsm_fault_env_reset_counts(lsm_fault_env *fe);

/* Status returned by injected faults; LSM_IOERR unless changed. */
void lsm_fault_env_set_error(lsm_fault_env *fe, int status);
/* Before failing an injected append, pass the first min(n, len) bytes of
** its buffer to the target (a torn write).  0 (the default): write nothing. */
void lsm_fault_env_set_partial_append(lsm_fault_env *fe, size_t n);

/* Calls of `kind` so far (injected failures included). */
uint64_t lsm_fault_env_calls(lsm_fault_env *fe, lsm_fault_kind kind);
/* Faults injected into `kind` so far. */
uint64_t lsm_fault_env_injected(lsm_fault_env *fe, lsm_fault_kind kind);
/* Bytes actually appended through the target (torn prefixes included). */
uint64_t lsm_fault_env_bytes_appended(lsm_fault_env *fe);

/* ---- crash and power-loss simulation ---- */

/* Turn durability tracking on (needed by the LSM_CRASH_POWER_* modes).
** Call before the code under test touches its directory.  LSM_OK or
** LSM_NOMEM. */
int lsm_fault_env_track(lsm_fault_env *fe);
/* Seed of the random choices made at a crash (default 1). */
void lsm_fault_env_set_seed(lsm_fault_env *fe, uint64_t seed);
/* Crash at the nth mutating call (1-based, counted since init or the last
** reset_counts); 0 disarms. */
void lsm_fault_env_crash_at(lsm_fault_env *fe, uint64_t nth, lsm_crash_mode mode);
/* Crash right now, between two calls.  LSM_OK, or LSM_MISUSE for a power
** loss without tracking, or an I/O error from rewriting the files. */
int lsm_fault_env_crash_now(lsm_fault_env *fe, lsm_crash_mode mode);
/* Nonzero once the environment has crashed (and is frozen). */
int lsm_fault_env_crashed(lsm_fault_env *fe);
/* In LSM_CRASH_KILL mode, let an append that is the crash point write a
** random prefix of its buffer first. */
void lsm_fault_env_set_kill_partial(lsm_fault_env *fe, int on);
/* Mutating calls so far (the crash points a run passed). */
uint64_t lsm_fault_env_mutations(lsm_fault_env *fe);
/* With on != 0, sync and sync_dir are counted, can fail and update the
** shadow as usual, but are not passed to the real disk: loops of thousands
** of cases that simulate their own crashes need no real fsync. */
void lsm_fault_env_set_skip_sync(lsm_fault_env *fe, int on);

#endif /* LSM_FAULT_ENV_H */
