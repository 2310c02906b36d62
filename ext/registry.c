/*
** registry.c — the process-wide table of open engines (registry.h).
**
** Every lsm_open() of a directory is a separate engine instance with its
** own memtables, coordinating with the others through the directory's
** shared state as separate processes do.  SQLite connects a virtual table
** once per database connection; so that the connections of this process
** share one instance (one set of memtables, one background thread), every
** connection that opens table directory D shares one lsm_db, found here
** by D's canonical path and reference counted.
**
** State: a singly linked list of lsmx_engine, guarded by SQLite's static
** mutex SQLITE_MUTEX_STATIC_VFS3.  This list is the extension's only
** mutable global state.  Invariants (whenever the mutex is free):
**   - every entry has refs >= 1 and an open db;
**   - no two entries have the same path;
**   - writer == NULL  <=>  nobody holds the entry's write lock;
**   - writer != NULL  =>  the engine holds WRITER across processes
**     (lsm_write_begin), taken after writer was set and released before
**     it is cleared, both by the holder.
** An entry stays valid for as long as its caller holds a reference, so the
** functions that take an lsmx_engine* need no lookup; they take the mutex
** only to read or change refs / writer.
**
** Canonical path: two spellings of one directory ("d", "./d", "d/",
** "/abs/d", a symlink to it) must find the same entry, else the process
** would open a second instance of it.  An existing
** directory is canonicalised with realpath().  One that does not exist yet
** (lsm_open creates it, with its missing parents) is canonicalised through
** its deepest existing ancestor: realpath() of that, then the remaining
** components appended lexically ("." dropped, ".." removing the previous
** component) — which is exactly the path the directory will have once
** lsm_open has created it, because the created components are real
** directories, not symlinks.
**
** lsm_open() and lsm_close() are called with the registry mutex held.
** That serialises opens and closes across the process (a connection
** opening a table waits for another's open or last close of it to finish
** rather than opening a second instance beside it), and is safe because
** the engine never calls back into SQLite.  The engine is opened
** with the directory as the caller spelled it, so its error messages name
** the path the user wrote.
*/
#include "sqlite_api.h"
#include "registry.h"
#include "errmap.h"
#include "lsm.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct lsmx_engine {
  char *path;           /* canonical path of the directory; sqlite3_malloc */
  lsm_db *db;           /* the shared engine */
  int refs;             /* connections holding this entry */
  const void *writer;   /* owner of the write lock, or NULL */
  lsmx_engine *next;
};

/* Head of the registry list.  Guarded by registry_mutex(). */
static lsmx_engine *g_engines = NULL;

static sqlite3_mutex *registry_mutex(void) {
  /* Static mutexes exist for the life of the process: no allocation, no
  ** free, and the same pointer on every call. */
  return sqlite3_mutex_alloc(SQLITE_MUTEX_STATIC_VFS3);
}

/* ------------------------------------------------------------------ */
/* Canonical paths. */

/* Copy n bytes of s into a new NUL-terminated sqlite3_malloc()ed string. */
static char *dup_n(const char *s, size_t n) {
  char *p = sqlite3_malloc64(n + 1);
  if (p) {
    memcpy(p, s, n);
    p[n] = 0;
  }
  return p;
}

/* realpath() into an sqlite3_malloc()ed string.  Returns SQLITE_OK,
** SQLITE_NOMEM, or SQLITE_NOTFOUND when path cannot be resolved. */
static int real_path(const char *path, char **out) {
  char *r = realpath(path, NULL);
  *out = NULL;
  if (r == NULL) return errno == ENOMEM ? SQLITE_NOMEM : SQLITE_NOTFOUND;
  *out = dup_n(r, strlen(r));
  free(r);
  return *out ? SQLITE_OK : SQLITE_NOMEM;
}

/* Append the path components of tail (a relative path) to the canonical
** absolute path *base, lexically: empty and "." components are skipped,
** ".." drops the last component of what has been built (never above "/").
** *base is replaced by the result; returns SQLITE_OK or SQLITE_NOMEM. */
static int append_lexically(char **base, const char *tail) {
  size_t blen = strlen(*base), tlen = strlen(tail);
  char *out = sqlite3_malloc64(blen + tlen + 2);
  size_t n = blen;
  const char *s = tail;

  if (out == NULL) return SQLITE_NOMEM;
  memcpy(out, *base, blen + 1);
  while (*s) {
    const char *e = strchr(s, '/');
    size_t clen = e ? (size_t)(e - s) : strlen(s);
    if (clen == 0 || (clen == 1 && s[0] == '.')) {
      /* nothing to add */
    } else if (clen == 2 && s[0] == '.' && s[1] == '.') {
      while (n > 1 && out[n - 1] != '/') n--;   /* drop the last name */
      if (n > 1) n--;                           /* and its slash */
      out[n] = 0;
    } else {
      if (n > 0 && out[n - 1] != '/') out[n++] = '/';
      memcpy(out + n, s, clen);
      n += clen;
      out[n] = 0;
    }
    s += clen;
    if (*s == '/') s++;
  }
  sqlite3_free(*base);
  *base = out;
  return SQLITE_OK;
}

/* The canonical path of directory dir (see the header comment), in an
** sqlite3_malloc()ed string.  Returns SQLITE_OK, SQLITE_NOMEM, or
** SQLITE_CANTOPEN when not even an ancestor (or the current directory, for
** a relative path) can be resolved. */
static int canonical_path(const char *dir, char **out) {
  char *prefix = NULL, *base = NULL;
  size_t cut;
  int rc;

  *out = NULL;
  rc = real_path(dir, out);
  if (rc != SQLITE_NOTFOUND) return rc;

  /* Walk up: prefix = dir[0..cut), tail = dir[cut..].  At each step cut
  ** moves to the previous '/' (ignoring runs of slashes at the end). */
  cut = strlen(dir);
  for (;;) {
    while (cut > 1 && dir[cut - 1] == '/') cut--;
    while (cut > 0 && dir[cut - 1] != '/') cut--;
    /* Now dir[0..cut) is empty (relative path: resolve "."), "/" or ends
    ** with '/' (harmless to realpath). */
    if (cut == 0) {
      rc = real_path(".", &base);
    } else {
      prefix = dup_n(dir, cut);
      if (prefix == NULL) {
        rc = SQLITE_NOMEM;
        goto done;
      }
      rc = real_path(prefix, &base);
      sqlite3_free(prefix);
      prefix = NULL;
    }
    if (rc != SQLITE_NOTFOUND) break;
    if (cut <= 1) {
      /* "." or "/" itself could not be resolved. */
      rc = SQLITE_CANTOPEN;
      goto done;
    }
  }
  if (rc != SQLITE_OK) goto done;
  rc = append_lexically(&base, dir + cut);
  if (rc != SQLITE_OK) goto done;
  *out = base;
  base = NULL;

done:
  sqlite3_free(base);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Acquire and release. */

/* Open dir as a new entry with path `path` (ownership moves to the entry
** on success).  Called with the registry mutex held. */
static int open_entry(const char *dir, char *path, const lsm_options *opts,
                      lsmx_engine **out, char **errmsg) {
  lsmx_engine *e = NULL;
  lsm_db *db = NULL;
  int lrc, rc = SQLITE_OK;

  *out = NULL;
  lrc = lsm_open(dir, opts, &db);
  if (lrc != LSM_OK) {
    if (lrc == LSM_BUSY) {
      const char *m = db ? lsm_errmsg(db) : "";
      rc = SQLITE_BUSY;
      *errmsg = (m && m[0]) ? sqlite3_mprintf("%s", m)
                            : sqlite3_mprintf("lsm: table directory %s is busy", dir);
    } else {
      const char *m = db ? lsm_errmsg(db) : "";
      /* "No database here" is an open failure, not SQLite's file-control
      ** SQLITE_NOTFOUND. */
      rc = lrc == LSM_NOTFOUND ? SQLITE_CANTOPEN : lsmx_rc_to_sqlite(lrc);
      *errmsg = (m && m[0]) ? sqlite3_mprintf("%s", m)
                            : sqlite3_mprintf("lsm: cannot open %s", dir);
    }
    goto done;
  }
  e = sqlite3_malloc(sizeof(*e));
  if (e == NULL) {
    rc = SQLITE_NOMEM;
    goto done;
  }
  memset(e, 0, sizeof(*e));
  e->path = path;
  e->db = db;
  e->refs = 1;
  db = NULL;
  *out = e;

done:
  if (db) lsm_close(db);
  return rc;
}

int lsmx_engine_acquire(const char *dir, const lsm_options *opts,
                        lsmx_engine **out, char **errmsg) {
  sqlite3_mutex *mu = registry_mutex();
  char *path = NULL;
  lsmx_engine *e;
  int rc;

  *out = NULL;
  *errmsg = NULL;
  if (dir == NULL || dir[0] == 0) {
    *errmsg = sqlite3_mprintf("lsm: empty table directory name");
    return SQLITE_MISUSE;
  }
  rc = canonical_path(dir, &path);
  if (rc != SQLITE_OK) {
    if (rc != SQLITE_NOMEM) {
      *errmsg = sqlite3_mprintf("lsm: cannot resolve table directory %s",
                                dir);
    }
    return rc;
  }

  sqlite3_mutex_enter(mu);
  for (e = g_engines; e != NULL; e = e->next) {
    if (strcmp(e->path, path) == 0) break;
  }
  if (e != NULL) {
    e->refs++;
  } else {
    rc = open_entry(dir, path, opts, &e, errmsg);
    if (rc == SQLITE_OK) {
      path = NULL;                /* owned by e */
      e->next = g_engines;
      g_engines = e;
    }
  }
  sqlite3_mutex_leave(mu);

  sqlite3_free(path);
  if (rc == SQLITE_OK) *out = e;
  return rc;
}

int lsmx_engine_release(lsmx_engine *e) {
  sqlite3_mutex *mu = registry_mutex();
  lsmx_engine **pp;
  int rc = SQLITE_OK;

  if (e == NULL) return SQLITE_OK;
  sqlite3_mutex_enter(mu);
  if (e->refs <= 0) {
    rc = SQLITE_MISUSE;           /* released more often than acquired */
    goto done;
  }
  e->refs--;
  if (e->refs > 0) goto done;
  for (pp = &g_engines; *pp != NULL; pp = &(*pp)->next) {
    if (*pp == e) {
      *pp = e->next;
      break;
    }
  }
  /* Closed with the mutex held, so that the directory's LOCK is released
  ** before anyone can look the path up again: an acquire racing this
  ** release either finds the entry (and keeps it alive) or opens the
  ** directory afresh after the close, never against our own lock. */
  rc = lsmx_rc_to_sqlite(lsm_close(e->db));
  sqlite3_free(e->path);
  sqlite3_free(e);

done:
  sqlite3_mutex_leave(mu);
  return rc;
}

lsm_db *lsmx_engine_db(lsmx_engine *e) { return e->db; }

int lsmx_engine_refs(lsmx_engine *e) {
  sqlite3_mutex *mu = registry_mutex();
  int refs;
  sqlite3_mutex_enter(mu);
  refs = e->refs;
  sqlite3_mutex_leave(mu);
  return refs;
}

/* ------------------------------------------------------------------ */
/* The write lock. */

static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Take the lock if free or already ours.  Called with the mutex held. */
static int try_lock(lsmx_engine *e, const void *owner) {
  if (e->writer == NULL || e->writer == owner) {
    e->writer = owner;
    return 1;
  }
  return 0;
}

/* Wait for the lock among this process's connections until deadline_ms
** (0: do not wait).  *already: owner held it before.  Polls with the mutex
** released, backing off from 1 ms to 10 ms steps: short waits stay short,
** long ones cost little CPU. */
static int lock_in_process(lsmx_engine *e, const void *owner, int64_t deadline_ms,
                           int *already) {
  sqlite3_mutex *mu = registry_mutex();
  int step = 1, got;
  sqlite3_mutex_enter(mu);
  *already = e->writer == owner;
  got = try_lock(e, owner);
  sqlite3_mutex_leave(mu);
  while (!got) {
    int64_t left = deadline_ms - now_ms();
    if (deadline_ms == 0 || left <= 0) return SQLITE_BUSY;
    sqlite3_sleep(left < step ? (int)left : step);
    if (step < 10) step = step * 2 > 10 ? 10 : step * 2;
    sqlite3_mutex_enter(mu);
    got = try_lock(e, owner);
    sqlite3_mutex_leave(mu);
  }
  return SQLITE_OK;
}

/* Take WRITER across processes (lsm_write_begin), retrying LSM_BUSY until
** deadline_ms (0: once), with the same back-off. */
static int lock_across_processes(lsmx_engine *e, int64_t deadline_ms) {
  int step = 1, rc;
  for (;;) {
    int64_t left;
    rc = lsm_write_begin(e->db);
    if (rc != LSM_BUSY) break;
    left = deadline_ms - now_ms();
    if (deadline_ms == 0 || left <= 0) break;
    sqlite3_sleep(left < step ? (int)left : step);
    if (step < 10) step = step * 2 > 10 ? 10 : step * 2;
  }
  return rc == LSM_OK ? SQLITE_OK : lsmx_rc_to_sqlite(rc);
}

int lsmx_engine_lock_write(lsmx_engine *e, const void *owner, int timeout_ms,
                           int *by_process) {
  sqlite3_mutex *mu = registry_mutex();
  int64_t deadline = timeout_ms > 0 ? now_ms() + timeout_ms : 0;
  int already = 0, rc;

  if (by_process) *by_process = 0;
  if (owner == NULL) return SQLITE_MISUSE;
  rc = lock_in_process(e, owner, deadline, &already);
  if (rc != SQLITE_OK || already) return rc;
  /* Ours now; no other connection of this process can call the engine's
  ** write_begin or write_end until we let go. */
  rc = lock_across_processes(e, deadline);
  if (rc != SQLITE_OK) {
    if (by_process) *by_process = rc == SQLITE_BUSY;
    sqlite3_mutex_enter(mu);
    e->writer = NULL;
    sqlite3_mutex_leave(mu);
  }
  return rc;
}

void lsmx_engine_unlock_write(lsmx_engine *e, const void *owner) {
  sqlite3_mutex *mu = registry_mutex();
  int mine;
  sqlite3_mutex_enter(mu);
  mine = e->writer == owner;
  sqlite3_mutex_leave(mu);
  if (!mine) return;
  /* Release across processes first: a connection that takes the lock next
  ** must find WRITER free to take it again. */
  lsm_write_end(e->db);
  sqlite3_mutex_enter(mu);
  e->writer = NULL;
  sqlite3_mutex_leave(mu);
}
