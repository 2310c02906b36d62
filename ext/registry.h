/*
** registry.h — one engine instance per table directory per process, shared
** by every connection that opens the table.
**
** SQLite opens a virtual table once per connection (xConnect).  Each
** lsm_open of a directory is one engine instance, and instances of one
** directory (in this process or others) coordinate like processes do
** (lsm/shm.c), each with its own memtables.  So that the connections of a
** process share one instance, the registry maps the canonical path of a
** directory to one shared lsm_db with a reference count: the first
** acquire opens it, the last release closes it.  Other processes open
** their own instance beside it.
**
** Writers: lsm_write() itself is serialised by the engine, but a SQL write
** transaction spans many statements (its uniqueness checks read the
** committed data), so two writers must not interleave write transactions
** on one table.  A connection takes the table's write lock at its first
** write of a transaction and holds it until COMMIT or ROLLBACK: first the
** lock among this process's connections, then the engine's lock among
** processes (lsm_write_begin).  Another writer then fails with SQLITE_BUSY
** (after waiting up to its busy timeout, when one is given).  Readers
** never take it.
**
** The registry is the extension's one piece of process-wide state; it is
** protected by a SQLite static mutex (SQLITE_MUTEX_STATIC_VFS3).
*/
#ifndef LSMX_REGISTRY_H
#define LSMX_REGISTRY_H

#include "../lsm/lsm.h"

typedef struct lsmx_engine lsmx_engine;

/* Acquire the engine for dir, opening it with opts if no connection of this
** process has it open (opts is ignored otherwise).  Returns an SQLite
** result code; on failure *errmsg (sqlite3_malloc()ed) says why, e.g.
** SQLITE_BUSY "lsm: table directory x is in use by another process";
** SQLITE_CANTOPEN when there is no database and opts forbids creating one;
** other engine failures through lsmx_rc_to_sqlite() with lsm_errmsg(). */
int lsmx_engine_acquire(const char *dir, const lsm_options *opts,
                        lsmx_engine **out, char **errmsg);
/* Drop a reference; the last one closes the engine.  Returns an SQLite code. */
int lsmx_engine_release(lsmx_engine *e);
/* The shared engine handle (valid while the reference is held). */
lsm_db *lsmx_engine_db(lsmx_engine *e);
/* Number of references (connections) currently holding e. */
int lsmx_engine_refs(lsmx_engine *e);

/* Write lock.  owner (not NULL) identifies the holder (the vtab of one
** connection).  Re-entrant without counting: taking it again while holding
** it is a no-op, and one unlock_write releases it however often it was
** taken (take it at each write, release it once at COMMIT/ROLLBACK).
** unlock_write by a non-holder does nothing.  timeout_ms > 0 waits up to
** that long (polling) before giving up with SQLITE_BUSY; *by_process (may
** be NULL) then tells whether another process held the table (1) or
** another connection of this one (0).  Other failures of lsm_write_begin
** come back as their SQLite codes.  Release does not unlock: unlock before
** dropping the last reference you write through. */
int lsmx_engine_lock_write(lsmx_engine *e, const void *owner, int timeout_ms,
                           int *by_process);
void lsmx_engine_unlock_write(lsmx_engine *e, const void *owner);

#endif /* LSMX_REGISTRY_H */
