/*
** shm.c — the shared state of the open instances of one directory: the
** byte-range locks of <dir>/LOCK and the mapped file <dir>/SHM.
**
** Several instances (processes, or separate lsm_shm handles of one process)
** may have a directory open at once.  They coordinate through two files.
**
** LOCK: byte-range locks (lsm_env.lock_range: Linux open-file-description
** locks, released by the kernel when the holder closes the file or dies):
**
**   byte 0       DMS     every ready instance holds it SHARED.  An opener
**                        first tries it EXCLUSIVE: success means no other
**                        instance is open, so it (re)initialises SHM.
**   byte 1       WRITER  EXCLUSIVE while an instance commits or rotates the
**                        log, and between its transactions while it is
**                        alone (writer_parked below); try-locked.
**   byte 2       OWNER   EXCLUSIVE by the one instance that flushes,
**                        compacts, writes the manifest and deletes files;
**                        try-locked, so it moves when its holder exits.
**   64 + i       slot i  EXCLUSIVE by the instance owning reader slot i,
**                        for its lifetime (i < LSM_SHM_SLOTS).
**
** SHM: LSM_SHM_SIZE bytes mapped MAP_SHARED by every instance.  Fields are
** naturally aligned, in the machine's byte order (the file is never shared
** between machines), read with acquire and written with release atomics:
**
**   0    u64  magic "LSMSHM\0\0" (stored last by the initialiser)
**   8    u32  version (2)
**   12   u32  slot_count (LSM_SHM_SLOTS)
**   16   u64  commit_seq     newest committed sequence number
**   24   u64  wal_number     the log new commits go to
**   32   u64  manifest_gen   generation of the newest durable MANIFEST
**   40   u64  next_file      next file number (fetch-add; logs and tables)
**   48   u64  joins          openers that joined a ready directory (fetch-add)
**   56   u64  writer_parked  1: the WRITER holder keeps it between
**                            transactions and gives it up on request
**   64   u64  min_gen of slot i at 64 + 8*i
**   rest zero
**
** Opening (lsm_shm_open):
**   1. Open LOCK; try DMS exclusive.  Refused: wait for DMS shared, then try
**      to convert it to exclusive (succeeds if every other holder left
**      meanwhile).  Holding it exclusive = first: zero the whole SHM and
**      return is_first; the caller recovers from disk and calls
**      lsm_shm_init_finish, which writes the counters, then the magic, and
**      converts DMS to shared (atomically: no opener can slip in between).
**   2. Check LOCK still is the file named <dir>/LOCK (a lsm_destroy may
**      have removed it while we waited); if not, start again.
**   3. Not first: the header must carry the magic.  Zero there means an
**      initialiser gave up (its process died or it closed before
**      init_finish): release DMS, back off, start again (bounded).
**   4. Claim the first slot whose byte can be locked exclusive; none free
**      is LSM_BUSY.  A non-first opener then validates the header (any
**      garbage, a wrong version or slot count, a counter out of range is
**      LSM_CORRUPT) and publishes manifest_gen in its slot.
**
** Invariants:
**   (1) An instance that is ready holds DMS shared; an initialising opener
**       holds it exclusive, so no ready instance exists while SHM is
**       rebuilt.
**   (2) The header is valid only between the initialiser's store of the
**       magic (release, after every other field) and the next
**       initialisation, which zeroes the file first.  A DMS-shared holder
**       that reads magic 0 knows the initialiser gave up.
**   (3) SHM is a cache of the directory's live state: everything in it can
**       be rebuilt from MANIFEST and the logs, which the first opener does.
**       Nothing durable exists only in SHM.
**   (4) next_file only grows (fetch-add), so a number is handed out once;
**       wal_number is always a number already handed out (< next_file).
**   (5) A live slot's min_gen is <= the generation of every version its
**       instance holds or will load, never decreases, and never exceeds
**       manifest_gen (its instance read manifest_gen before publishing).
**   (6) manifest_gen is raised only after the MANIFEST of that generation
**       is durable, so a MANIFEST read after seeing generation g is >= g:
**       publishing min_gen before reading MANIFEST keeps (5).
**   (7) A slot whose byte is not held belongs to nobody (its process has
**       died or closed); its min_gen is ignored.  Hence files obsolete at
**       generation G may be deleted once lsm_shm_oldest_gen() >= G.
**   (8) At most one instance holds WRITER, and within it one thread
**       (writer_held); at most one instance holds OWNER.
**   (9) joins only grows.  Every non-first opener adds 1 after claiming its
**       slot, so an instance that read joins, then found no other slot
**       held, sees joins change once anyone has arrived since.
**   (10) writer_parked is 1 only while the WRITER holder keeps it between
**       transactions (or after such a holder died: the next instance to
**       take WRITER clears it).  It is written only by the WRITER holder.
**
** State changes:
**   DMS   none -> exclusive      lsm_shm_open (try, or shared -> exclusive)
**         exclusive -> shared    lsm_shm_init_finish
**         -> none                lsm_shm_close, or a retry inside open
**   slot  none -> exclusive      lsm_shm_open;  -> none  lsm_shm_close
**   WRITER                       lsm_shm_writer_try / _release
**   writer_parked                lsm_shm_set_writer_parked; cleared by
**                                writer_try (a dead keeper's) and _release
**   OWNER                        lsm_shm_owner_try / _release / close
**
** Concurrency inside a process: `mu` guards writer_held and owner_held and
** serialises the lock calls that change them; they are also atomics so the
** setters can assert the role without the mutex.  Everything else in the
** handle is fixed after open.
*/
#include "shm.h"

#include <assert.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "coding.h"
#include "dbformat.h"

/* "LSMSHM\0\0" as a little-endian u64. */
#define SHM_MAGIC 0x00004d48534d534cULL

#define OFF_MAGIC 0
#define OFF_VERSION 8
#define OFF_SLOT_COUNT 12
#define OFF_COMMIT_SEQ 16
#define OFF_WAL_NUMBER 24
#define OFF_MANIFEST_GEN 32
#define OFF_NEXT_FILE 40
#define OFF_JOINS 48
#define OFF_WRITER_PARKED 56
#define OFF_SLOTS 64

/* Same bound as the manifest's counters (version.c). */
#define MAX_FILE_NUMBER (((uint64_t)1) << 62)
#define MAX_GENERATION (((uint64_t)1) << 62)

/* Rounds of "initialiser gave up / LOCK replaced" before LSM_BUSY. */
#define OPEN_ATTEMPTS 1000

struct lsm_shm {
  lsm_env *env;
  char *lock_path;           /* <dir>/LOCK */
  char *shm_path;            /* <dir>/SHM */
  lsm_file *lock;            /* LOCK: holds every byte lock of the handle */
  lsm_file *file;            /* SHM */
  unsigned char *map;        /* LSM_SHM_SIZE bytes of SHM, or NULL */
  int slot;                  /* slot byte held, or -1 */
  int initialising;          /* first opener before init_finish */
  pthread_mutex_t mu;        /* guards the role transitions below */
  atomic_int writer_held;
  atomic_int owner_held;
};

_Static_assert(OFF_SLOTS + 8 * LSM_SHM_SLOTS <= LSM_SHM_SIZE, "the slots fit in SHM");

/* ---------------------------------------------------------------- helpers */

static void set_error(lsm_buffer *errmsg, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  if (errmsg == NULL) return;
  va_start(ap, fmt);
  vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  lsm_buffer_set(errmsg, tmp, strlen(tmp) + 1);
}

static char *join(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s/%s", dir, name);
  return p;
}

static uint64_t *u64_at(const lsm_shm *s, size_t off) {
  return (uint64_t *)(void *)(s->map + off);
}

static uint32_t *u32_at(const lsm_shm *s, size_t off) {
  return (uint32_t *)(void *)(s->map + off);
}

static uint64_t load64(const lsm_shm *s, size_t off) {
  return __atomic_load_n(u64_at(s, off), __ATOMIC_ACQUIRE);
}

static void store64(const lsm_shm *s, size_t off, uint64_t v) {
  __atomic_store_n(u64_at(s, off), v, __ATOMIC_RELEASE);
}

static size_t slot_off(int i) {
  return OFF_SLOTS + 8 * (size_t)i;
}

static int lock_byte(lsm_shm *s, uint64_t byte, int op, int wait) {
  return s->env->lock_range(s->env, s->lock, byte, 1, op, wait);
}

/* Sleep a little before another open attempt; the length varies with the
** handle and the attempt so that openers that keep meeting stop doing so. */
static void backoff(const lsm_shm *s, int attempt) {
  uint64_t x = (uint64_t)(uintptr_t)s ^ ((uint64_t)attempt * 0x9e3779b97f4a7c15ULL);
  struct timespec ts;
  x ^= x >> 29;
  ts.tv_sec = 0;
  ts.tv_nsec = (long)(200000 + (x % 1800000));   /* 0.2 .. 2 ms */
  nanosleep(&ts, NULL);
}

/* ---------------------------------------------------------------- validation */

static int corrupt(const lsm_shm *s, lsm_buffer *errmsg, const char *what, uint64_t v) {
  set_error(errmsg, "lsm: shared memory %s is corrupt: %s %llu", s->shm_path, what,
            (unsigned long long)v);
  return LSM_CORRUPT;
}

static int check_header(const lsm_shm *s, lsm_buffer *errmsg) {
  uint64_t magic = load64(s, OFF_MAGIC);
  uint32_t version = __atomic_load_n(u32_at(s, OFF_VERSION), __ATOMIC_ACQUIRE);
  uint32_t slots = __atomic_load_n(u32_at(s, OFF_SLOT_COUNT), __ATOMIC_ACQUIRE);
  if (magic != SHM_MAGIC) return corrupt(s, errmsg, "bad magic", magic);
  if (version != LSM_SHM_VERSION) return corrupt(s, errmsg, "unsupported version", version);
  if (slots != LSM_SHM_SLOTS) return corrupt(s, errmsg, "slot count", slots);
  return LSM_OK;
}

static int state_in_range(const lsm_shm_state *st) {
  return st->commit_seq < LSM_SEQ_OVERLAY && st->next_file > 0 &&
         st->next_file < MAX_FILE_NUMBER && st->wal_number < st->next_file &&
         st->manifest_gen < MAX_GENERATION;
}

/* ---------------------------------------------------------------- opening */

/* Undo one open attempt: the mapping, SHM and LOCK (which drops its locks). */
static void detach(lsm_shm *s) {
  if (s->map) s->env->shm_unmap(s->env, s->map, LSM_SHM_SIZE);
  if (s->file) s->env->close(s->env, s->file);
  if (s->lock) s->env->close(s->env, s->lock);
  s->map = NULL;
  s->file = NULL;
  s->lock = NULL;
  s->slot = -1;
}

/* Take DMS: exclusive if no other instance is open (*first = 1), else
** shared after waiting for any initialiser (*first = 0). */
static int take_dms(lsm_shm *s, int flags, int *first, lsm_buffer *errmsg) {
  int rc = lock_byte(s, LSM_SHM_LOCK_DMS, LSM_LOCK_EXCLUSIVE, 0);
  *first = rc == LSM_OK;
  if (rc != LSM_BUSY) goto done;
  if (flags & LSM_SHM_EXCLUSIVE) {
    set_error(errmsg, "lsm: %s is in use by another instance", s->lock_path);
    return LSM_BUSY;
  }
  rc = lock_byte(s, LSM_SHM_LOCK_DMS, LSM_LOCK_SHARED, 1);
  if (rc) goto done;
  /* Everyone else may have left while we waited: then we are first. */
  rc = lock_byte(s, LSM_SHM_LOCK_DMS, LSM_LOCK_EXCLUSIVE, 0);
  *first = rc == LSM_OK;
  if (rc == LSM_BUSY) rc = LSM_OK;
done:
  if (rc) set_error(errmsg, "lsm: cannot lock %s", s->lock_path);
  return rc;
}

static int map_shm(lsm_shm *s, lsm_buffer *errmsg) {
  void *p = NULL;
  int rc = s->env->open_shared(s->env, s->shm_path, &s->file);
  if (rc == LSM_OK) rc = s->env->shm_map(s->env, s->file, LSM_SHM_SIZE, &p);
  if (rc) {
    set_error(errmsg, "lsm: cannot map %s", s->shm_path);
    return rc == LSM_NOTFOUND ? LSM_IOERR : rc;
  }
  s->map = p;
  return LSM_OK;
}

/* One attempt at steps 1-3.  LSM_OK with *retry = 0: DMS held (exclusive
** when *first) and SHM mapped; *retry = 1: everything released, try again. */
static int attach(lsm_shm *s, int flags, int *first, int *retry, lsm_buffer *errmsg) {
  int rc, same = 0;
  uint64_t magic;
  *retry = 0;
  rc = s->env->open_shared(s->env, s->lock_path, &s->lock);
  if (rc) {
    set_error(errmsg, "lsm: cannot open %s", s->lock_path);
    return rc;   /* LSM_NOTFOUND: no such directory */
  }
  rc = take_dms(s, flags, first, errmsg);
  if (rc) return rc;
  rc = s->env->same_file(s->env, s->lock, s->lock_path, &same);
  if (rc) {
    set_error(errmsg, "lsm: cannot check %s", s->lock_path);
    return rc;
  }
  if (!same) goto again;
  rc = map_shm(s, errmsg);
  if (rc || *first) return rc;
  magic = load64(s, OFF_MAGIC);
  if (magic != 0) return LSM_OK;   /* validated by the caller */
again:
  detach(s);
  *retry = 1;
  return LSM_OK;
}

/* Step 4: the first slot whose byte nobody holds. */
static int claim_slot(lsm_shm *s, lsm_buffer *errmsg) {
  int i;
  for (i = 0; i < LSM_SHM_SLOTS; i++) {
    int rc = lock_byte(s, LSM_SHM_LOCK_SLOT0 + (uint64_t)i, LSM_LOCK_EXCLUSIVE, 0);
    if (rc == LSM_OK) {
      s->slot = i;
      return LSM_OK;
    }
    if (rc != LSM_BUSY) {
      set_error(errmsg, "lsm: cannot lock a reader slot in %s", s->lock_path);
      return rc;
    }
  }
  set_error(errmsg, "lsm: %s is open in too many processes (all %d reader slots are taken)",
            s->lock_path, LSM_SHM_SLOTS);
  return LSM_BUSY;
}

int lsm_shm_open(lsm_env *env, const char *dir, int flags, lsm_shm **out, int *is_first,
                 lsm_buffer *errmsg) {
  lsm_shm *s = calloc(1, sizeof *s);
  int rc = LSM_OK, attempt, first = 0, retry = 1;
  *out = NULL;
  *is_first = 0;
  if (s == NULL) return LSM_NOMEM;
  s->env = env ? env : lsm_env_default();
  s->slot = -1;
  atomic_init(&s->writer_held, 0);
  atomic_init(&s->owner_held, 0);
  if (pthread_mutex_init(&s->mu, NULL) != 0) {
    free(s);
    return LSM_NOMEM;
  }
  s->lock_path = join(dir, "LOCK");
  s->shm_path = join(dir, "SHM");
  if (s->lock_path == NULL || s->shm_path == NULL) {
    rc = LSM_NOMEM;
    goto done;
  }
  for (attempt = 0; retry && attempt < OPEN_ATTEMPTS; attempt++) {
    if (attempt > 0) backoff(s, attempt);
    rc = attach(s, flags, &first, &retry, errmsg);
    if (rc) goto done;
  }
  if (retry) {
    set_error(errmsg, "lsm: the shared memory of %s was never initialised by another opener",
              dir);
    rc = LSM_BUSY;
    goto done;
  }
  if (first) memset(s->map, 0, LSM_SHM_SIZE);
  rc = claim_slot(s, errmsg);
  if (rc) goto done;
  if (first) {
    s->initialising = 1;
  } else {
    /* Invariant (5): the caller reads nothing older than the generation
    ** current now. */
    lsm_shm_state st;
    rc = lsm_shm_read_state(s, &st, errmsg);
    if (rc == LSM_OK) store64(s, slot_off(s->slot), st.manifest_gen);
    /* Invariant (9): after the slot, so that an instance keeping WRITER
    ** either sees the slot or sees joins move. */
    if (rc == LSM_OK) __atomic_fetch_add(u64_at(s, OFF_JOINS), 1, __ATOMIC_ACQ_REL);
  }
done:
  if (rc) {
    lsm_shm_close(s);
    return rc;
  }
  *out = s;
  *is_first = first;
  return LSM_OK;
}

int lsm_shm_init_finish(lsm_shm *s, const lsm_shm_state *st, lsm_buffer *errmsg) {
  int rc;
  assert(s->initialising);
  if (!state_in_range(st)) {
    set_error(errmsg, "lsm: initial shared state out of range for %s", s->shm_path);
    return LSM_MISUSE;
  }
  store64(s, OFF_COMMIT_SEQ, st->commit_seq);
  store64(s, OFF_WAL_NUMBER, st->wal_number);
  store64(s, OFF_MANIFEST_GEN, st->manifest_gen);
  store64(s, OFF_NEXT_FILE, st->next_file);
  store64(s, slot_off(s->slot), st->manifest_gen);
  __atomic_store_n(u32_at(s, OFF_VERSION), LSM_SHM_VERSION, __ATOMIC_RELEASE);
  __atomic_store_n(u32_at(s, OFF_SLOT_COUNT), LSM_SHM_SLOTS, __ATOMIC_RELEASE);
  store64(s, OFF_MAGIC, SHM_MAGIC);   /* last: invariant (2) */
  rc = lock_byte(s, LSM_SHM_LOCK_DMS, LSM_LOCK_SHARED, 0);
  if (rc) {
    set_error(errmsg, "lsm: cannot downgrade the lock on %s", s->lock_path);
    return rc;
  }
  s->initialising = 0;
  return LSM_OK;
}

int lsm_shm_close(lsm_shm *s) {
  int rc = LSM_OK, r;
  if (s == NULL) return LSM_OK;
  if (atomic_load(&s->writer_held)) {
    r = lsm_shm_writer_release(s);
    if (rc == LSM_OK) rc = r;
  }
  if (atomic_load(&s->owner_held)) {
    r = lsm_shm_owner_release(s);
    if (rc == LSM_OK) rc = r;
  }
  if (s->map) {
    r = s->env->shm_unmap(s->env, s->map, LSM_SHM_SIZE);
    if (rc == LSM_OK) rc = r;
  }
  if (s->file) {
    r = s->env->close(s->env, s->file);
    if (rc == LSM_OK) rc = r;
  }
  /* Closing LOCK drops DMS and the slot with it. */
  if (s->lock) {
    r = s->env->close(s->env, s->lock);
    if (rc == LSM_OK) rc = r;
  }
  pthread_mutex_destroy(&s->mu);
  free(s->lock_path);
  free(s->shm_path);
  free(s);
  return rc;
}

/* ---------------------------------------------------------------- counters */

int lsm_shm_commit_seq(lsm_shm *s, uint64_t *out, lsm_buffer *errmsg) {
  uint64_t v = load64(s, OFF_COMMIT_SEQ);
  if (v >= LSM_SEQ_OVERLAY) return corrupt(s, errmsg, "commit_seq", v);
  *out = v;
  return LSM_OK;
}

int lsm_shm_wal_number(lsm_shm *s, uint64_t *out, lsm_buffer *errmsg) {
  /* wal_number first: next_file only grows, so a valid pair passes. */
  uint64_t v = load64(s, OFF_WAL_NUMBER);
  uint64_t next = load64(s, OFF_NEXT_FILE);
  if (next == 0 || next >= MAX_FILE_NUMBER) return corrupt(s, errmsg, "next_file", next);
  if (v >= next) return corrupt(s, errmsg, "wal_number", v);
  *out = v;
  return LSM_OK;
}

int lsm_shm_manifest_gen(lsm_shm *s, uint64_t *out, lsm_buffer *errmsg) {
  uint64_t v = load64(s, OFF_MANIFEST_GEN);
  if (v >= MAX_GENERATION) return corrupt(s, errmsg, "manifest_gen", v);
  *out = v;
  return LSM_OK;
}

int lsm_shm_read_state(lsm_shm *s, lsm_shm_state *out, lsm_buffer *errmsg) {
  int rc = check_header(s, errmsg);
  if (rc == LSM_OK) rc = lsm_shm_commit_seq(s, &out->commit_seq, errmsg);
  if (rc == LSM_OK) rc = lsm_shm_wal_number(s, &out->wal_number, errmsg);
  if (rc == LSM_OK) rc = lsm_shm_manifest_gen(s, &out->manifest_gen, errmsg);
  if (rc == LSM_OK) {
    out->next_file = load64(s, OFF_NEXT_FILE);
    if (out->next_file <= out->wal_number || out->next_file >= MAX_FILE_NUMBER) {
      rc = corrupt(s, errmsg, "next_file", out->next_file);
    }
  }
  if (rc == LSM_OK) {
    uint64_t parked = load64(s, OFF_WRITER_PARKED);
    if (parked > 1) rc = corrupt(s, errmsg, "writer_parked", parked);
  }
  return rc;
}

void lsm_shm_set_commit_seq(lsm_shm *s, uint64_t seq) {
  assert(atomic_load(&s->writer_held) && seq < LSM_SEQ_OVERLAY);
  store64(s, OFF_COMMIT_SEQ, seq);
}

void lsm_shm_set_wal_number(lsm_shm *s, uint64_t number) {
  assert(atomic_load(&s->writer_held));
  store64(s, OFF_WAL_NUMBER, number);
}

void lsm_shm_set_manifest_gen(lsm_shm *s, uint64_t gen) {
  assert(atomic_load(&s->owner_held) && gen < MAX_GENERATION);
  store64(s, OFF_MANIFEST_GEN, gen);
}

int lsm_shm_alloc_file(lsm_shm *s, uint64_t n, uint64_t *first, lsm_buffer *errmsg) {
  uint64_t v;
  assert(n >= 1 && n < MAX_FILE_NUMBER);
  v = __atomic_fetch_add(u64_at(s, OFF_NEXT_FILE), n, __ATOMIC_ACQ_REL);
  if (v == 0 || v >= MAX_FILE_NUMBER - n) return corrupt(s, errmsg, "next_file", v);
  *first = v;
  return LSM_OK;
}

/* ---------------------------------------------------------------- roles */

int lsm_shm_writer_try(lsm_shm *s, lsm_buffer *errmsg) {
  int rc;
  pthread_mutex_lock(&s->mu);
  if (atomic_load(&s->writer_held)) {
    rc = LSM_BUSY;
  } else {
    rc = lock_byte(s, LSM_SHM_LOCK_WRITER, LSM_LOCK_EXCLUSIVE, 0);
    if (rc == LSM_OK) {
      atomic_store(&s->writer_held, 1);
      /* Invariant (10): a keeper that died left it set. */
      if (load64(s, OFF_WRITER_PARKED) != 0) store64(s, OFF_WRITER_PARKED, 0);
    }
  }
  pthread_mutex_unlock(&s->mu);
  if (rc == LSM_BUSY) {
    set_error(errmsg, "lsm: another writer holds the write lock of %s", s->lock_path);
  } else if (rc) {
    set_error(errmsg, "lsm: cannot take the write lock of %s", s->lock_path);
  }
  return rc;
}

int lsm_shm_writer_release(lsm_shm *s) {
  int rc;
  pthread_mutex_lock(&s->mu);
  assert(atomic_load(&s->writer_held));
  if (load64(s, OFF_WRITER_PARKED) != 0) store64(s, OFF_WRITER_PARKED, 0);
  rc = lock_byte(s, LSM_SHM_LOCK_WRITER, LSM_LOCK_UNLOCK, 0);
  atomic_store(&s->writer_held, 0);
  pthread_mutex_unlock(&s->mu);
  return rc;
}

void lsm_shm_set_writer_parked(lsm_shm *s, int parked) {
  assert(atomic_load(&s->writer_held));
  store64(s, OFF_WRITER_PARKED, parked ? 1 : 0);
}

int lsm_shm_writer_parked(lsm_shm *s) {
  /* Anything but 1 (garbage included) reads as "not parked": a writer then
  ** reports LSM_BUSY at once, as for a holder inside a transaction. */
  return load64(s, OFF_WRITER_PARKED) == 1;
}

uint64_t lsm_shm_joins(lsm_shm *s) {
  return load64(s, OFF_JOINS);
}

int lsm_shm_owner_try(lsm_shm *s, int *is_owner, lsm_buffer *errmsg) {
  int rc = LSM_OK;
  pthread_mutex_lock(&s->mu);
  if (!atomic_load(&s->owner_held)) {
    rc = lock_byte(s, LSM_SHM_LOCK_OWNER, LSM_LOCK_EXCLUSIVE, 0);
    if (rc == LSM_OK) atomic_store(&s->owner_held, 1);
    if (rc == LSM_BUSY) rc = LSM_OK;
  }
  *is_owner = atomic_load(&s->owner_held);
  pthread_mutex_unlock(&s->mu);
  if (rc) set_error(errmsg, "lsm: cannot take the owner lock of %s", s->lock_path);
  return rc;
}

int lsm_shm_owner_release(lsm_shm *s) {
  int rc = LSM_OK;
  pthread_mutex_lock(&s->mu);
  if (atomic_load(&s->owner_held)) {
    rc = lock_byte(s, LSM_SHM_LOCK_OWNER, LSM_LOCK_UNLOCK, 0);
    atomic_store(&s->owner_held, 0);
  }
  pthread_mutex_unlock(&s->mu);
  return rc;
}

/* ---------------------------------------------------------------- slots */

int lsm_shm_slot(const lsm_shm *s) {
  return s->slot;
}

void lsm_shm_publish(lsm_shm *s, uint64_t min_gen) {
  store64(s, slot_off(s->slot), min_gen);
}

int lsm_shm_oldest_gen(lsm_shm *s, uint64_t *out, lsm_buffer *errmsg) {
  uint64_t oldest = UINT64_MAX, newest = 0, gen;
  int i, rc, newest_slot = -1;
  for (i = 0; i < LSM_SHM_SLOTS; i++) {
    uint64_t v;
    if (i != s->slot) {
      int held = 0;
      rc = s->env->lock_held(s->env, s->lock, LSM_SHM_LOCK_SLOT0 + (uint64_t)i, 1, &held);
      if (rc) {
        set_error(errmsg, "lsm: cannot test the reader slots of %s", s->lock_path);
        return rc;
      }
      if (!held) continue;   /* invariant (7) */
    }
    v = load64(s, slot_off(i));
    if (v < oldest) oldest = v;
    if (v >= newest) {
      newest = v;
      newest_slot = i;
    }
  }
  /* Read after the slots: every valid slot value is <= it (invariant 5). */
  rc = lsm_shm_manifest_gen(s, &gen, errmsg);
  if (rc) return rc;
  if (newest_slot >= 0 && newest > gen) {
    set_error(errmsg, "lsm: shared memory %s is corrupt: slot %d reads generation %llu, "
              "newer than %llu", s->shm_path, newest_slot, (unsigned long long)newest,
              (unsigned long long)gen);
    return LSM_CORRUPT;
  }
  *out = oldest < gen ? oldest : gen;
  return LSM_OK;
}

int lsm_shm_others_open(lsm_shm *s, int *yes) {
  /* The handle's own slot lock does not count (lsm_env.lock_held). */
  return s->env->lock_held(s->env, s->lock, LSM_SHM_LOCK_SLOT0, LSM_SHM_SLOTS, yes);
}
