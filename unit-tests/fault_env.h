/*
** fault_env.h — a fault-injecting lsm_env for unit tests.
**
** An lsm_fault_env wraps another environment (normally lsm_env_default())
** and forwards every call to it, counting the calls of each kind.  A test
** can arm a kind so that its Nth call (counting from 1 since the last
** lsm_fault_env_reset_counts) fails with LSM_IOERR, or with another status
** chosen by lsm_fault_env_set_error; a "sticky" fault also fails every later
** call of that kind, which models a disk that stays broken.  An injected
** append fault can first write a prefix of the buffer, which models a write
** torn by a crash.
**
** The wrapper keeps no per-file state: the lsm_file pointers it hands out
** are the wrapped environment's own.  A failed close or unlock still closes
** the underlying file, so an injected fault never leaks a descriptor.
**
** There is no global state: the test owns the struct (on the stack or in
** the heap), calls lsm_fault_env_init() and passes lsm_fault_env_env() to
** the code under test.  Counters and fault settings are atomics, so an
** engine that does I/O from a background thread can use it too.
**
** This file and fault_env.c are linked into every unit-test program; they
** depend only on lsm.h and define only lsm_fault_env_* symbols.
*/
#ifndef LSM_FAULT_ENV_H
#define LSM_FAULT_ENV_H

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
  LSM_FAULT_NKINDS
} lsm_fault_kind;

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
} lsm_fault_env;

/* Set up fe to wrap target (NULL: lsm_env_default()), with no faults armed
** and every counter at zero. */
void lsm_fault_env_init(lsm_fault_env *fe, lsm_env *target);

/* The environment to hand to the code under test. */
lsm_env *lsm_fault_env_env(lsm_fault_env *fe);

/* Make the nth call of `kind` (1-based, counted since init or the last
** reset_counts) fail; with sticky != 0 every later call fails too.  nth 0
** disarms the kind. */
void lsm_fault_env_fail(lsm_fault_env *fe, lsm_fault_kind kind, uint64_t nth,
                        int sticky);
/* Make the next call of `kind` fail (nth = calls so far + 1). */
void lsm_fault_env_fail_next(lsm_fault_env *fe, lsm_fault_kind kind, int sticky);
/* Disarm every kind (counters are kept). */
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

#endif /* LSM_FAULT_ENV_H */
