/*
** fault_env.c — the fault-injecting test environment (see fault_env.h).
**
** Each method counts its call, decides whether this call is the one armed
** to fail, and otherwise forwards to the wrapped environment unchanged.
** A call is numbered by an atomic fetch-and-add, so when several threads use
** the environment exactly one of them gets call number N.
*/
#include "fault_env.h"

/* `base` is the first member, so the lsm_env pointer the engine passes back
** is also a pointer to the whole struct. */
static lsm_fault_env *fault_of(lsm_env *env) {
  return (lsm_fault_env *)env;
}

/* Count a call of `kind`; nonzero if it must fail. */
static int hit(lsm_fault_env *fe, lsm_fault_kind kind) {
  uint64_t n = atomic_fetch_add(&fe->calls[kind], 1) + 1;
  uint64_t at = atomic_load(&fe->fail_at[kind]);
  if (at == 0) return 0;
  if (n == at || (n > at && atomic_load(&fe->sticky[kind]))) {
    atomic_fetch_add(&fe->injected[kind], 1);
    return 1;
  }
  return 0;
}

static int fault_status(lsm_fault_env *fe) {
  return atomic_load(&fe->error);
}

static int f_open_read(lsm_env *env, const char *path, lsm_file **out) {
  lsm_fault_env *fe = fault_of(env);
  if (hit(fe, LSM_FAULT_OPEN_READ)) return fault_status(fe);
  return fe->target->open_read(fe->target, path, out);
}

static int f_open_append(lsm_env *env, const char *path, lsm_file **out) {
  lsm_fault_env *fe = fault_of(env);
  if (hit(fe, LSM_FAULT_OPEN_APPEND)) return fault_status(fe);
  return fe->target->open_append(fe->target, path, out);
}

static int f_pread(lsm_env *env, lsm_file *f, uint64_t off, void *buf,
                   size_t n, size_t *n_read) {
  lsm_fault_env *fe = fault_of(env);
  if (hit(fe, LSM_FAULT_PREAD)) return fault_status(fe);
  return fe->target->pread(fe->target, f, off, buf, n, n_read);
}

static int f_append(lsm_env *env, lsm_file *f, const void *buf, size_t n) {
  lsm_fault_env *fe = fault_of(env);
  int rc;
  if (hit(fe, LSM_FAULT_APPEND)) {
    /* A torn write: part of the buffer reaches the file, then the error. */
    size_t keep = atomic_load(&fe->partial_append);
    if (keep > n) keep = n;
    if (keep > 0 && fe->target->append(fe->target, f, buf, keep) == LSM_OK) {
      atomic_fetch_add(&fe->bytes_appended, keep);
    }
    return fault_status(fe);
  }
  rc = fe->target->append(fe->target, f, buf, n);
  if (rc == LSM_OK) atomic_fetch_add(&fe->bytes_appended, n);
  return rc;
}

static int f_sync(lsm_env *env, lsm_file *f) {
  lsm_fault_env *fe = fault_of(env);
  if (hit(fe, LSM_FAULT_SYNC)) return fault_status(fe);
  return fe->target->sync(fe->target, f);
}

static int f_size(lsm_env *env, lsm_file *f, uint64_t *size) {
  lsm_fault_env *fe = fault_of(env);
  if (hit(fe, LSM_FAULT_SIZE)) return fault_status(fe);
  return fe->target->size(fe->target, f, size);
}

/* The file is closed even when the fault fires: callers treat a close as
** final whatever its status. */
static int f_close(lsm_env *env, lsm_file *f) {
  lsm_fault_env *fe = fault_of(env);
  int fail = hit(fe, LSM_FAULT_CLOSE);
  int rc = fe->target->close(fe->target, f);
  return fail ? fault_status(fe) : rc;
}

static int f_rename(lsm_env *env, const char *from, const char *to) {
  lsm_fault_env *fe = fault_of(env);
  if (hit(fe, LSM_FAULT_RENAME)) return fault_status(fe);
  return fe->target->rename(fe->target, from, to);
}

static int f_remove(lsm_env *env, const char *path) {
  lsm_fault_env *fe = fault_of(env);
  if (hit(fe, LSM_FAULT_REMOVE)) return fault_status(fe);
  return fe->target->remove(fe->target, path);
}

static int f_mkdir(lsm_env *env, const char *path) {
  lsm_fault_env *fe = fault_of(env);
  if (hit(fe, LSM_FAULT_MKDIR)) return fault_status(fe);
  return fe->target->mkdir(fe->target, path);
}

static int f_rmdir(lsm_env *env, const char *path) {
  lsm_fault_env *fe = fault_of(env);
  if (hit(fe, LSM_FAULT_RMDIR)) return fault_status(fe);
  return fe->target->rmdir(fe->target, path);
}

static int f_list(lsm_env *env, const char *dir, char ***names, int *n_names) {
  lsm_fault_env *fe = fault_of(env);
  if (hit(fe, LSM_FAULT_LIST)) return fault_status(fe);
  return fe->target->list(fe->target, dir, names, n_names);
}

static int f_sync_dir(lsm_env *env, const char *dir) {
  lsm_fault_env *fe = fault_of(env);
  if (hit(fe, LSM_FAULT_SYNC_DIR)) return fault_status(fe);
  return fe->target->sync_dir(fe->target, dir);
}

static int f_lock(lsm_env *env, const char *path, lsm_file **out) {
  lsm_fault_env *fe = fault_of(env);
  if (hit(fe, LSM_FAULT_LOCK)) return fault_status(fe);
  return fe->target->lock(fe->target, path, out);
}

/* Like close: the lock is released even when the fault fires. */
static int f_unlock(lsm_env *env, lsm_file *lock) {
  lsm_fault_env *fe = fault_of(env);
  int fail = hit(fe, LSM_FAULT_UNLOCK);
  int rc = fe->target->unlock(fe->target, lock);
  return fail ? fault_status(fe) : rc;
}

void lsm_fault_env_init(lsm_fault_env *fe, lsm_env *target) {
  int k;
  fe->base.open_read = f_open_read;
  fe->base.open_append = f_open_append;
  fe->base.pread = f_pread;
  fe->base.append = f_append;
  fe->base.sync = f_sync;
  fe->base.size = f_size;
  fe->base.close = f_close;
  fe->base.rename = f_rename;
  fe->base.remove = f_remove;
  fe->base.mkdir = f_mkdir;
  fe->base.rmdir = f_rmdir;
  fe->base.list = f_list;
  fe->base.sync_dir = f_sync_dir;
  fe->base.lock = f_lock;
  fe->base.unlock = f_unlock;
  fe->target = target ? target : lsm_env_default();
  for (k = 0; k < LSM_FAULT_NKINDS; k++) {
    atomic_init(&fe->calls[k], 0);
    atomic_init(&fe->fail_at[k], 0);
    atomic_init(&fe->sticky[k], 0);
    atomic_init(&fe->injected[k], 0);
  }
  atomic_init(&fe->error, LSM_IOERR);
  atomic_init(&fe->partial_append, 0);
  atomic_init(&fe->bytes_appended, 0);
}

lsm_env *lsm_fault_env_env(lsm_fault_env *fe) {
  return &fe->base;
}

void lsm_fault_env_fail(lsm_fault_env *fe, lsm_fault_kind kind, uint64_t nth,
                        int sticky) {
  /* sticky first, so a racing call never sees the new nth with a stale
  ** sticky flag from an earlier arming. */
  atomic_store(&fe->sticky[kind], sticky != 0);
  atomic_store(&fe->fail_at[kind], nth);
}

void lsm_fault_env_fail_next(lsm_fault_env *fe, lsm_fault_kind kind,
                             int sticky) {
  lsm_fault_env_fail(fe, kind, atomic_load(&fe->calls[kind]) + 1, sticky);
}

void lsm_fault_env_clear(lsm_fault_env *fe) {
  int k;
  for (k = 0; k < LSM_FAULT_NKINDS; k++) {
    atomic_store(&fe->fail_at[k], 0);
    atomic_store(&fe->sticky[k], 0);
  }
}

void lsm_fault_env_reset_counts(lsm_fault_env *fe) {
  int k;
  for (k = 0; k < LSM_FAULT_NKINDS; k++) {
    atomic_store(&fe->calls[k], 0);
    atomic_store(&fe->injected[k], 0);
  }
  atomic_store(&fe->bytes_appended, 0);
}

void lsm_fault_env_set_error(lsm_fault_env *fe, int status) {
  atomic_store(&fe->error, status);
}

void lsm_fault_env_set_partial_append(lsm_fault_env *fe, size_t n) {
  atomic_store(&fe->partial_append, n);
}

uint64_t lsm_fault_env_calls(lsm_fault_env *fe, lsm_fault_kind kind) {
  return atomic_load(&fe->calls[kind]);
}

uint64_t lsm_fault_env_injected(lsm_fault_env *fe, lsm_fault_kind kind) {
  return atomic_load(&fe->injected[kind]);
}

uint64_t lsm_fault_env_bytes_appended(lsm_fault_env *fe) {
  return atomic_load(&fe->bytes_appended);
}
