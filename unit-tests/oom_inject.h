/*
** oom_inject.h — fail the Nth allocation: the malloc, calloc, realloc,
** posix_memalign and strdup wrappers shared by the programs linked with
** -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,--wrap=posix_memalign,
** --wrap=strdup
** (Makefile OOM_LDWRAP: test_oom, test_sql_oom).
**
** It defines its state and the __wrap_ functions, so it is included by
** exactly one file of each such program, and by no other program: the
** others are not linked with --wrap and have no __real_ symbols.
**
** oom_arm(N) starts counting allocations from zero and makes the Nth fail
** (0: none); oom_disarm() stops counting.  While oom_paused is nonzero
** allocations are neither counted nor failed (work of the test itself
** between the statements under test).
*/
#ifndef LSM_OOM_INJECT_H
#define LSM_OOM_INJECT_H

#include <errno.h>
#include <stdatomic.h>
#include <stddef.h>
#include <string.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
int __real_posix_memalign(void **p, size_t align, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
int __wrap_posix_memalign(void **p, size_t align, size_t n);
char *__wrap_strdup(const char *s);

static atomic_int oom_counting;          /* count allocations now */
static atomic_int oom_paused;            /* neither count nor fail */
static atomic_ulong oom_calls;           /* allocations counted */
static atomic_ulong oom_fail_at;         /* 1-based allocation to fail; 0: none */
static atomic_ulong oom_injected;        /* failures injected */

/* Nonzero when this allocation is the one to fail. */
static int oom_should_fail(void) {
  unsigned long n, at;
  if (!atomic_load(&oom_counting) || atomic_load(&oom_paused)) return 0;
  n = atomic_fetch_add(&oom_calls, 1) + 1;
  at = atomic_load(&oom_fail_at);
  if (at != 0 && n == at) {
    atomic_fetch_add(&oom_injected, 1);
    return 1;
  }
  return 0;
}

void *__wrap_malloc(size_t n) {
  if (oom_should_fail()) return NULL;
  return __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size) {
  if (oom_should_fail()) return NULL;
  return __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n) {
  /* A failed realloc leaves p allocated and unchanged. */
  if (oom_should_fail()) return NULL;
  return __real_realloc(p, n);
}

int __wrap_posix_memalign(void **p, size_t align, size_t n) {
  if (oom_should_fail()) return ENOMEM;
  return __real_posix_memalign(p, align, n);
}

char *__wrap_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = __wrap_malloc(n);
  if (d) memcpy(d, s, n);
  return d;
}

/* Start counting from zero; fail allocation fail_at (0: none). */
static void oom_arm(unsigned long fail_at) {
  atomic_store(&oom_calls, 0);
  atomic_store(&oom_injected, 0);
  atomic_store(&oom_paused, 0);
  atomic_store(&oom_fail_at, fail_at);
  atomic_store(&oom_counting, 1);
}

static void oom_disarm(void) {
  atomic_store(&oom_counting, 0);
  atomic_store(&oom_fail_at, 0);
}

#endif /* LSM_OOM_INJECT_H */
