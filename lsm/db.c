/*
** db.c — the database object: open and recovery, catching up with other
** processes, commits, point reads, snapshots, iterator construction, the
** background thread, maintenance calls and statistics.
**
** Directory contents:
**   LOCK          byte-range locks of the open instances (lsm/shm.c)
**   SHM           their shared counters (lsm/shm.c)
**   MANIFEST      live tables per level + counters (version.c)
**   NNNNNN.log    write-ahead logs of the active and immutable memtables,
**                 and (background mode) the next one, created ahead
**   NNNNNN.sst    tables (sst.c)
** All numbers come from one counter (next_file in SHM, recorded in the
** manifest as next_file_number).
**
** Several instances (processes) may have the directory open; FORMAT.md
** ("Multi-process protocol") is the protocol, this file its engine side:
**
** Open:
**   - lsm_shm_open.  The sole instance (first) recovers:
**     1. read MANIFEST (absent: new database);
**     2. replay every log numbered >= log_number, oldest first, into a fresh
**        memtable (a torn tail ends a log cleanly; mid-log corruption fails);
**     3. flush that memtable to a level-0 table and write a manifest naming a
**        new log number (so no log is ever appended to after a crash);
**     4. create the new log; delete obsolete logs and orphan tables;
**     5. publish the state in SHM (lsm_shm_init_finish), take OWNER.
**   - Any other opener joins: it reads MANIFEST and replays the live logs
**     read-only (a catch-up, below), writing nothing.
**   - start the background thread (options.background).
**
** Catch-up (catch_up_locked; at every read view, snapshot and commit): the
** fast path compares SHM's commit_seq and manifest_gen with this instance's
** last_seq and generation (two atomic loads).  The slow path, under
** catchup_mu: read commit_seq, wal_number W and manifest_gen g from SHM (in
** that order); publish the slot's min_gen; if g is newer, read MANIFEST
** (log_number L); plan one memtable per live log (L and W: at most two,
** db_impl.h invariant 3), reusing the ones this instance has; replay each
** from the offset already applied to the end of its valid records (a torn
** tail = an append in flight, "not yet"); then, under mu, install the
** version, the memtables and last_seq = max(last_seq, newest replayed,
** commit_seq read) at once, so a reader sees the old state or the new one.
** A log or table that vanished meanwhile (the owner moved on) restarts it.
**
** Commit (lsm_write), in steps kept apart (db_impl.h: the writer token):
**   become_writer         wait for the writer token (mutex held) and take
**                         WRITER across processes (unless lsm_write_begin
**                         holds it, or it was kept from the last
**                         transaction): LSM_BUSY if another process writes;
**   catch-up, forced      look at the log's end itself, not at commit_seq
**                         (a writer that died after its append never
**                         bumped it); a torn tail left by a dead writer
**                         makes this commit start a new log.  Not needed
**                         when WRITER was kept (nobody else appended);
**   make_room_for_write   when the memtable is full: switch to a fresh one
**                         and a new log (sync=normal: fsync the old log
**                         first), hand the full one to maintenance as imm;
**                         sleep (level 0 at the slowdown trigger) or wait
**                         (imm still being flushed, level 0 at the stop
**                         trigger);
**   append_to_log         encode the batch with sequence numbers
**                         last_seq+1..., append it to the log as one record
**                         (fsync if asked) — mutex released;
**   insert_into_memtable  decode the very bytes that were logged (the replay
**                         path) into the memtable — mutex released;
**   publish_commit        advance last_seq (mutex held), then SHM's
**                         commit_seq; release the token, and WRITER unless
**                         the instance is alone ("keeping WRITER" below).
** A failure after the log append latches bg_error (the log may end in a
** torn record, or the memtable lacks a logged commit).
**
** Maintenance (db_impl.h: the maintenance token) is the OWNER's: only the
** instance holding it flushes, compacts, writes the manifest and deletes
** files.  Its background thread (bg_main) loops: catch up when another
** instance rotated the log or it just became owner, flush imm if there is
** one, else run one compaction if a level scores >= 1 (compact.c), else
** delete obsolete files no instance may still read, else sleep (polling
** SHM every POLL_MS while other instances are open).  Other instances'
** threads retry OWNER (the role moves when its holder exits) and catch up
** on new manifests so that their slots let old files go.  A failed step
** latches bg_error and the thread does no more work.  lsm_close sets
** shutting_down and joins it: the step in flight finishes (its table and
** manifest are complete), nothing new starts; whatever is still in mem or
** imm is in their logs, which the next open replays.
**
** With options.background = 0 there is no thread: the writer that
** switched the memtable flushes it and runs compactions itself, under the
** same token, before its commit returns — the same calls in the same
** order every run, which the fault-injection loops rely on.  (With several
** processes a non-owner then waits for the owner's next commit to flush.)
*/
#include "db_impl.h"

#include "bloom.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif

/* How often an instance looks at SHM for other instances' progress: while
** it waits for maintenance, and in the background thread while other
** instances are open (IDLE_POLL_MS when alone: a newcomer is noticed). */
#define POLL_MS 10
#define BG_POLL_MS 20
#define IDLE_POLL_MS 250
/* Minimum time between two scans of the reader slots for deletable files. */
#define COLLECT_INTERVAL_US 100000
/* Background thread: heap trims at most this often (bg_trim_heap). */
#define TRIM_INTERVAL_US 1000000
/* A catch-up that keeps meeting a moving target gives up (LSM_BUSY). */
#define CATCH_UP_ATTEMPTS 1000
/* catch_up_once: start again. */
#define RETRY (-1000)

void lsm_options_init(lsm_options *o) {
  memset(o, 0, sizeof *o);
  o->memtable_size = 4u << 20;
  o->bloom_bits = 10;
  o->block_size = 4096;
  o->sync_mode = LSM_SYNC_NORMAL;
  o->l0_compaction_trigger = 4;
  o->l1_target_bytes = 10u << 20;
  o->level_multiplier = 10;
  o->target_file_size = 8u << 20;
  o->cache_size = 32u << 20;
  o->max_open_files = 1000;
  o->l0_slowdown_trigger = 20;
  o->l0_stop_trigger = 36;
  o->create_if_missing = 1;
  o->background = 1;
  o->env = NULL;
}

int lsm_db_error(lsm_db *db, int rc, const char *fmt, ...) {
  char tmp[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  lsm_buffer_set(&db->errmsg, tmp, strlen(tmp) + 1);
  return rc;
}

const char *lsm_errmsg(lsm_db *db) {
  if (db == NULL) return "lsm: out of memory";
  if (db->errmsg.len == 0 || db->errmsg.data[db->errmsg.len - 1] != 0) {
    if (lsm_buffer_append(&db->errmsg, "", 1)) return "lsm: out of memory";
  }
  return (const char *)db->errmsg.data;
}

/* Make sure a module's message buffer reads as a message; returns rc. */
static int ensure_message(lsm_db *db, int rc, const char *what) {
  if (rc != LSM_OK && rc != LSM_NOTFOUND && db->errmsg.len == 0) {
    lsm_db_error(db, rc, "lsm: %s failed (status %d) in %s", what, rc, db->dir);
  }
  return rc;
}

/* Copy a module's message (msg) to errmsg (mutex held); returns rc. */
static int take_message(lsm_db *db, int rc, const lsm_buffer *msg, const char *what) {
  if (rc == LSM_OK) return rc;
  if (msg->len) lsm_buffer_set(&db->errmsg, msg->data, msg->len);
  else db->errmsg.len = 0;
  return ensure_message(db, rc, what);
}

uint64_t lsm_db_smallest_snapshot(lsm_db *db) {
  if (db->snapshots.next != &db->snapshots) return db->snapshots.next->seq;
  return db->last_seq;
}

/* last_seq and loaded_gen are read without the mutex by the fast path. */
static void set_last_seq(lsm_db *db, uint64_t seq) {
  __atomic_store_n(&db->last_seq, seq, __ATOMIC_RELEASE);
}

static void set_loaded_gen(lsm_db *db) {
  __atomic_store_n(&db->loaded_gen, db->vset.generation, __ATOMIC_RELEASE);
}

int lsm_db_new_file_number(lsm_db *db, uint64_t *number, lsm_buffer *errmsg) {
  if (!db->shm_live) {
    *number = lsm_vset_new_file_number(&db->vset);
    return LSM_OK;
  }
  return lsm_shm_alloc_file(db->shm, 1, number, errmsg);
}

/* Latch rc as the sticky error, with the message in msg (or errmsg) (mutex
** held).  The first error wins. */
static void latch_error(lsm_db *db, int rc, const lsm_buffer *msg) {
  if (db->bg_error) return;
  db->bg_error = rc;
  if (msg == NULL || msg->len == 0) msg = &db->errmsg;
  if (msg->len == 0 || lsm_buffer_set(&db->bg_errmsg, msg->data, msg->len) != LSM_OK) {
    db->bg_errmsg.len = 0;
  }
  pthread_cond_broadcast(&db->state_cv);
}

/* The sticky error, its message copied to errmsg (mutex held). */
static int sticky_error(lsm_db *db) {
  if (db->bg_errmsg.len > 0) {
    lsm_buffer_set(&db->errmsg, db->bg_errmsg.data, db->bg_errmsg.len);
  } else if (db->bg_error != LSM_NOMEM) {
    lsm_db_error(db, db->bg_error, "lsm: %s refuses writes after an earlier failure (status %d)",
                 db->dir, db->bg_error);
  }
  return db->bg_error;
}

static uint64_t now_micros(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Wait on cv (mutex mu held) for at most ms milliseconds. */
static void timed_wait(pthread_cond_t *cv, pthread_mutex_t *mu, int ms) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  ts.tv_nsec += (long)ms * 1000000L;
  ts.tv_sec += ts.tv_nsec / 1000000000L;
  ts.tv_nsec %= 1000000000L;
  pthread_cond_timedwait(cv, mu, &ts);
}

static char *join_path(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s/%s", dir, name);
  return p;
}

/* Whether directory path exists: LSM_OK with *exists set, or an error.
** The environment has no stat(); list() tells a missing directory
** (LSM_NOTFOUND) from an existing one. */
static int dir_exists(lsm_env *env, const char *path, int *exists) {
  char **names = NULL;
  int n = 0, rc = env->list(env, path, &names, &n);
  lsm_env_free_list(names, n);
  *exists = rc == LSM_OK;
  return rc == LSM_NOTFOUND ? LSM_OK : rc;
}

/* mkdir -p, durably: each directory this creates is made durable in its
** parent (sync_dir of the parent) unless sync is 0, so that a database
** created in a new directory does not vanish with it at a power loss.  The
** deepest existing ancestor is found first (from the bottom up); only the
** components below it are created. */
static int make_dirs(lsm_env *env, const char *dir, int sync) {
  char *p = strdup(dir);
  size_t n, end, parent_end;
  int rc = LSM_OK, exists = 0;
  if (p == NULL) return LSM_NOMEM;
  n = strlen(p);
  while (n > 1 && p[n - 1] == '/') p[--n] = 0;
  /* p[0..end) is the deepest existing directory ("" for the current one). */
  for (end = n; end > 0; ) {
    char save = p[end];
    p[end] = 0;
    rc = dir_exists(env, p, &exists);
    p[end] = save;
    if (rc || exists) break;
    while (end > 0 && p[end - 1] != '/') end--;        /* drop the last name */
    while (end > 1 && p[end - 1] == '/') end--;        /* and its slashes */
    if (end == 1 && p[0] == '/') break;                /* the root exists */
  }
  parent_end = end;
  while (rc == LSM_OK && end < n) {
    /* The next component: p[0..end) after skipping slashes and a name. */
    char save;
    while (end < n && p[end] == '/') end++;
    while (end < n && p[end] != '/') end++;
    save = p[end];
    p[end] = 0;
    rc = env->mkdir(env, p);
    p[end] = save;
    if (rc == LSM_OK && sync) {
      save = p[parent_end];
      p[parent_end] = 0;
      rc = env->sync_dir(env, parent_end == 0 ? "." : p);
      p[parent_end] = save;
    }
    parent_end = end;
  }
  free(p);
  return rc;
}

/* Parse "NNNNNN.ext"; returns 1 and the number if name has that form. */
static int parse_file_name(const char *name, const char *ext, uint64_t *number) {
  const char *dot = strchr(name, '.');
  uint64_t n = 0;
  const char *p;
  if (dot == NULL || dot == name || strcmp(dot + 1, ext) != 0) return 0;
  for (p = name; p < dot; p++) {
    if (*p < '0' || *p > '9' || n > UINT64_MAX / 10 - 1) return 0;
    n = n * 10 + (uint64_t)(*p - '0');
  }
  *number = n;
  return 1;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : (x > y ? 1 : 0);
}

/* ---------------------------------------------------------------- recovery */

typedef struct replay_ctx {
  lsm_db *db;
  lsm_mem *mem;
  uint64_t max_seq;          /* newest sequence number applied */
  int half_applied;          /* a record failed after some of its
                                operations went in (out of memory) */
} replay_ctx;

static int replay_record(void *arg, lsm_slice payload) {
  replay_ctx *c = arg;
  uint64_t seq_base;
  uint32_t n_ops;
  int rc = lsm_batch_replay(payload, c->mem, &seq_base, &n_ops);
  if (rc == LSM_NOMEM) c->half_applied = 1;
  if (rc) return rc;
  if (n_ops > 0) {
    uint64_t last = seq_base + n_ops - 1;
    if (seq_base == 0 || last >= LSM_SEQ_OVERLAY) return LSM_CORRUPT;
    if (last > c->max_seq) c->max_seq = last;
  }
  return LSM_OK;
}

/* Replay logs numbered >= log_number into db->mem. */
static int replay_logs(lsm_db *db, char **names, int n_names) {
  uint64_t *logs = NULL;
  int n_logs = 0, i, rc = LSM_OK;
  replay_ctx ctx;
  if (n_names > 0) {
    logs = malloc(sizeof(uint64_t) * (size_t)n_names);
    if (logs == NULL) return LSM_NOMEM;
  }
  for (i = 0; i < n_names; i++) {
    uint64_t number;
    if (parse_file_name(names[i], "log", &number) && number >= db->vset.log_number) {
      logs[n_logs++] = number;
    }
  }
  qsort(logs, (size_t)n_logs, sizeof(uint64_t), cmp_u64);
  ctx.db = db;
  ctx.mem = db->mem;
  ctx.max_seq = db->last_seq;
  ctx.half_applied = 0;
  for (i = 0; i < n_logs && rc == LSM_OK; i++) {
    char *path = lsm_file_path(db->dir, logs[i], "log");
    if (path == NULL) {
      rc = LSM_NOMEM;
      break;
    }
    db->errmsg.len = 0;
    rc = lsm_wal_replay(db->env, path, replay_record, &ctx, NULL, &db->errmsg);
    if (rc == LSM_CORRUPT && db->errmsg.len == 0) {
      lsm_db_error(db, rc, "lsm: malformed batch in %s", path);
    }
    if (logs[i] >= db->vset.next_file_number) db->vset.next_file_number = logs[i] + 1;
    free(path);
  }
  set_last_seq(db, ctx.max_seq);
  free(logs);
  return ensure_message(db, rc, "log replay");
}

/* Remove logs older than the current one and tables no version names (the
** sole instance, at open). */
static void delete_obsolete_files(lsm_db *db, char **names, int n_names) {
  int i, level, j;
  for (i = 0; i < n_names; i++) {
    uint64_t number;
    int obsolete = 0;
    if (parse_file_name(names[i], "log", &number)) {
      obsolete = number < db->wal_number;
    } else if (parse_file_name(names[i], "sst", &number)) {
      obsolete = 1;
      for (level = 0; level < LSM_MAX_LEVELS && obsolete; level++) {
        for (j = 0; j < db->vset.current->n_files[level]; j++) {
          if (db->vset.current->files[level][j]->number == number) obsolete = 0;
        }
      }
      /* Tables written during this open are not in names (listed before). */
    } else if (strcmp(names[i], "MANIFEST.tmp") == 0) {
      obsolete = 1;
    }
    if (obsolete) {
      char *path = join_path(db->dir, names[i]);
      if (path) db->env->remove(db->env, path);
      free(path);
    }
  }
}

/* Create log `number` as *out.  Unless sync is off, its header and its
** directory entry are made durable at once: a power loss must never leave
** a log whose header is torn (recovery would call that corruption) or a
** durable commit in a log the directory does not name.  No mutex needed
** (the caller describes a failure). */
static int create_log(lsm_db *db, uint64_t number, lsm_wal **out) {
  char *path = lsm_file_path(db->dir, number, "log");
  int rc;
  *out = NULL;
  if (path == NULL) return LSM_NOMEM;
  rc = lsm_wal_create(db->env, path, out);
  if (rc == LSM_OK && db->opts.sync_mode != LSM_SYNC_OFF) {
    rc = lsm_wal_sync(*out);
    if (rc == LSM_OK) rc = db->env->sync_dir(db->env, db->dir);
    if (rc) {
      lsm_wal_close(*out);
      *out = NULL;
    }
  }
  if (rc == LSM_NOTFOUND) rc = LSM_IOERR;   /* the directory vanished */
  free(path);
  return rc;
}

static int log_error(lsm_db *db, int rc, uint64_t number) {
  if (rc == LSM_NOMEM) return rc;
  return lsm_db_error(db, rc, "lsm: cannot create log %s/%06llu.log", db->dir,
                      (unsigned long long)number);
}

static void remove_log(lsm_db *db, uint64_t number) {
  char *path = lsm_file_path(db->dir, number, "log");
  if (path) db->env->remove(db->env, path);
  free(path);
}

static int open_new_log(lsm_db *db) {
  int rc = create_log(db, db->wal_number, &db->wal);
  if (rc) return log_error(db, rc, db->wal_number);
  db->mem_off = lsm_wal_size(db->wal);
  return LSM_OK;
}

/* A log or table file in names: the directory holds a database. */
static int has_data_files(char **names, int n_names) {
  int i;
  for (i = 0; i < n_names; i++) {
    uint64_t number;
    if (parse_file_name(names[i], "log", &number) || parse_file_name(names[i], "sst", &number)) {
      return 1;
    }
  }
  return 0;
}

/* Steps 1-4 of the sole instance's open (see the top of the file). */
static int recover(lsm_db *db) {
  char **names = NULL;
  int n_names = 0, rc;
  lsm_version_edit edit;

  rc = db->env->list(db->env, db->dir, &names, &n_names);
  if (rc) return lsm_db_error(db, rc, "lsm: cannot list %s", db->dir);
  db->errmsg.len = 0;
  rc = lsm_vset_recover(&db->vset, &db->errmsg);
  if (rc == LSM_NOTFOUND) {
    if (has_data_files(names, n_names)) {
      /* A manifest is written before the first log is created, so log or
      ** table files without one mean the manifest was lost. */
      rc = lsm_db_error(db, LSM_CORRUPT, "lsm: %s/MANIFEST is missing but the directory "
                        "holds table or log files", db->dir);
    } else if (!db->opts.create_if_missing) {
      rc = lsm_db_error(db, LSM_NOTFOUND, "lsm: no database in %s", db->dir);
    } else {
      rc = lsm_vset_create(&db->vset);
    }
  }
  if (rc) {
    lsm_env_free_list(names, n_names);
    return ensure_message(db, rc, "manifest recovery");
  }
  set_last_seq(db, db->vset.last_seq);

  rc = lsm_mem_new(&db->mem);
  if (rc == LSM_OK) rc = replay_logs(db, names, n_names);

  /* Step 3: whatever was replayed goes to a table; the manifest then names
  ** a brand-new log so that no log is appended to after a torn tail. */
  if (rc == LSM_OK) {
    db->wal_number = lsm_vset_new_file_number(&db->vset);
    if (lsm_mem_count(db->mem) > 0) {
      db->imm = db->mem;
      db->imm_complete = 1;
      db->imm_switched++;
      db->mem = NULL;
      rc = lsm_mem_new(&db->mem);
      if (rc == LSM_OK) {
        /* No other thread yet; the token and mutex are taken because
        ** lsm_db_flush_imm expects them. */
        pthread_mutex_lock(&db->mu);
        db->maint_busy = 1;
        db->maint_msg.len = 0;
        rc = lsm_db_flush_imm(db);
        if (rc && db->maint_msg.len) lsm_buffer_set(&db->errmsg, db->maint_msg.data, db->maint_msg.len);
        db->maint_busy = 0;
        pthread_mutex_unlock(&db->mu);
      }
    } else {
      lsm_version_edit_init(&edit);
      db->errmsg.len = 0;
      rc = lsm_vset_apply(&db->vset, &edit, db->last_seq, db->wal_number, &db->errmsg);
      lsm_version_edit_free(&edit);
      ensure_message(db, rc, "manifest write");
    }
  }
  if (rc == LSM_OK) rc = open_new_log(db);
  if (rc == LSM_OK) delete_obsolete_files(db, names, n_names);
  lsm_env_free_list(names, n_names);
  set_loaded_gen(db);
  return rc;
}

/* ---------------------------------------------------------------- roles, slot, garbage */

/* May this instance run maintenance: it is the owner and has loaded the
** last manifest of any previous owner (mutex held). */
static int may_maintain(lsm_db *db) {
  return db->is_owner && db->synced_epoch == db->owner_epoch;
}

/* Take OWNER if it is free (mutex held): its holder exited.  The new
** owner catches up before its first maintenance step and queues the files
** the previous one left behind. */
static void try_become_owner(lsm_db *db) {
  int owner = 0;
  if (db->is_owner || db->shm == NULL) return;
  if (lsm_shm_owner_try(db->shm, &owner, NULL) != LSM_OK || !owner) return;
  db->is_owner = 1;
  db->owner_epoch++;
  db->owner_scan = 1;
  pthread_cond_signal(&db->bg_cv);
}

/* Store this instance's oldest readable generation in its slot (mutex
** held): min(oldest version still referenced, shm_gen read now), never
** lower than before (FORMAT.md: slots never decrease). */
static void publish_slot(lsm_db *db, uint64_t shm_gen) {
  uint64_t v = lsm_vset_oldest_gen(&db->vset);
  if (shm_gen < v) v = shm_gen;
  if (v > db->published_gen) {
    db->published_gen = v;
    lsm_shm_publish(db->shm, v);
  }
}

void lsm_db_collect_garbage(lsm_db *db) {
  uint64_t gen, oldest;
  int rc;
  if (db->vset.n_obsolete == 0 || !db->shm_live) return;
  if (!db->is_owner) {
    /* Not this instance's job; the owner (or the next one, which scans
    ** for orphans) deletes them. */
    lsm_vset_forget_obsolete(&db->vset);
    return;
  }
  if (lsm_shm_manifest_gen(db->shm, &gen, NULL) != LSM_OK) return;
  publish_slot(db, gen);
  /* One lock query per slot, under the mutex: short, and the steps that
  ** call this keep their place in the order of events. */
  rc = lsm_shm_oldest_gen(db->shm, &oldest, NULL);
  if (rc == LSM_OK) lsm_vset_delete_obsolete(&db->vset, oldest);
}

void lsm_db_before_install(lsm_db *db) {
  lsm_shm_state st;
  if (!db->shm_live || lsm_shm_read_state(db->shm, &st, NULL) != LSM_OK) return;
  /* The manifest's counter covers every number handed out, logs too. */
  if (st.next_file > db->vset.next_file_number) db->vset.next_file_number = st.next_file;
}

void lsm_db_after_install(lsm_db *db) {
  set_loaded_gen(db);
  if (db->shm_live && db->is_owner) lsm_shm_set_manifest_gen(db->shm, db->vset.generation);
}

void lsm_db_retire_log(lsm_db *db, uint64_t number) {
  if (number) lsm_vset_add_obsolete(&db->vset, number, 1);   /* 0: recovery's */
  lsm_db_collect_garbage(db);
}

/* A new owner queues what a previous one left: tables no manifest names
** (outputs of a step it never installed, files it never got to delete) and
** logs below log_number (mutex and maintenance token held; the owner has
** caught up, and no other instance writes tables). */
static void scan_orphans(lsm_db *db) {
  char **names = NULL;
  int n = 0, i, rc, level, j;
  db->owner_scan = 0;
  pthread_mutex_unlock(&db->mu);
  rc = db->env->list(db->env, db->dir, &names, &n);
  pthread_mutex_lock(&db->mu);
  if (rc != LSM_OK) return;
  for (i = 0; i < n; i++) {
    uint64_t number;
    if (parse_file_name(names[i], "log", &number)) {
      if (number < db->vset.log_number) lsm_vset_add_obsolete(&db->vset, number, 1);
    } else if (parse_file_name(names[i], "sst", &number)) {
      int live = 0;
      for (level = 0; level < LSM_MAX_LEVELS && !live; level++) {
        for (j = 0; j < db->vset.current->n_files[level]; j++) {
          if (db->vset.current->files[level][j]->number == number) live = 1;
        }
      }
      if (!live) lsm_vset_add_obsolete(&db->vset, number, 0);
    }
  }
  lsm_env_free_list(names, n);
  lsm_db_collect_garbage(db);
}

/* ---------------------------------------------------------------- keeping WRITER */

/* Most stores have one instance.  Taking and releasing WRITER at every
** transaction (two lock calls) and then looking at the log's end (fstat)
** cost as much as a small commit itself, so an instance that is alone keeps
** WRITER from one transaction to the next (writer_kept, SHM writer_parked;
** db_impl.h invariant 7) and hands it over when another instance arrives:
**
**   - an opener that joins adds 1 to SHM joins after claiming its slot;
**   - the keeper compares joins with the value it read when it last found
**     itself alone: one atomic load at the end of each transaction, and in
**     its background thread every PARK_POLL_MS while it keeps WRITER;
**     changed, it releases WRITER (at the end of the transaction in
**     flight, if any, else at once);
**   - a writer refused WRITER while writer_parked is set waits for that,
**     up to PARK_WAIT_MS (mutex released), instead of failing at once;
**     refused while the holder is in a transaction, it fails at once, as
**     before;
**   - after PARK_IDLE_US without a transaction the keeper releases WRITER
**     anyway, so an idle instance polls as rarely as before; its next
**     transaction takes WRITER again and, still alone, keeps it.
** Only an instance with a background thread keeps WRITER (nothing else
** would give it up while the instance is idle).  A keeper that dies loses
** WRITER with its locks, as any holder does; writer_parked it left set is
** cleared by the next instance to take WRITER (shm.c).  Once the other
** instances have gone (the background thread finds no other slot held),
** the next transaction looks again and keeps WRITER from then on. */

/* Keeper's background poll; a newcomer's longest wait; idle time before
** the keeper lets go by itself. */
#define PARK_POLL_MS 10
#define PARK_WAIT_MS 2000
#define PARK_IDLE_US 500000

/* Is this instance still alone (mutex held)?  One atomic load while joins
** has not moved since it last looked; else one lock query. */
static int still_alone(lsm_db *db) {
  uint64_t joins = lsm_shm_joins(db->shm);
  int others = 1;
  if (!db->alone_known || joins != db->alone_joins) {
    if (lsm_shm_others_open(db->shm, &others) != LSM_OK) others = 1;
    db->alone_known = 1;
    db->alone_joins = joins;
    db->alone = !others;
  }
  return db->alone;
}

/* The background thread found no other instance open (mutex held): if it
** had found one before, the next transaction looks again. */
static void others_left(lsm_db *db) {
  if (db->alone_known && !db->alone) db->alone_known = 0;
}

/* End of a transaction that took WRITER (mutex held): keep it if the log's
** end is this instance's (clean: the transaction started verified and did
** not fail half way) and the instance is alone, else release it.  The
** status reports a failed release. */
static int give_back_writer(lsm_db *db, int clean) {
  if (clean && db->bg_started && !db->shutting_down && !db->bg_error && db->shm_live &&
      still_alone(db)) {
    db->writer_kept = 1;
    db->kept_txns++;
    lsm_shm_set_writer_parked(db->shm, 1);
    return LSM_OK;
  }
  return lsm_shm_writer_release(db->shm);
}

/* Release a kept WRITER (mutex held; no transaction uses it). */
static void drop_kept_writer(lsm_db *db) {
  db->writer_kept = 0;
  lsm_shm_writer_release(db->shm);   /* clears writer_parked */
}

/* The background thread's look at a kept WRITER (mutex held): release it
** when another instance arrived, on a failure, or after PARK_IDLE_US
** without a transaction. */
static void bg_check_kept_writer(lsm_db *db) {
  uint64_t now;
  if (!db->writer_kept) return;
  now = now_micros();
  if (db->kept_txns != db->kept_seen) {
    db->kept_seen = db->kept_txns;
    db->kept_active = now;
  }
  if (db->bg_error || lsm_shm_joins(db->shm) != db->alone_joins ||
      now - db->kept_active >= PARK_IDLE_US) {
    drop_kept_writer(db);
  }
}

/* ---------------------------------------------------------------- catching up */

/* Has another instance committed or installed a manifest since this one
** last caught up?  Atomic loads only (no mutex). */
static int shm_moved(lsm_db *db) {
  uint64_t seq, gen;
  if (!db->shm_live) return 0;
  /* A damaged value takes the slow path, which reports it. */
  if (lsm_shm_commit_seq(db->shm, &seq, NULL) || lsm_shm_manifest_gen(db->shm, &gen, NULL)) return 1;
  return seq > __atomic_load_n(&db->last_seq, __ATOMIC_ACQUIRE) ||
         gen > __atomic_load_n(&db->loaded_gen, __ATOMIC_ACQUIRE);
}

/* One memtable of a catch-up plan: the one for log `log`, shared (it is
** db->mem or db->imm now) or fresh (owned by the plan until installed). */
typedef struct plan_mem {
  lsm_mem *m;
  uint64_t log, off;
  int fresh;
  int complete;              /* every record of its log applied */
  int broken;                /* a record is half applied (out of memory) */
} plan_mem;

/* Replay log pm->log from pm->off into pm->m (catchup_mu held, mutex not
** held).  *torn (may be NULL): the log ends in bytes that are not a whole
** record.  LSM_NOTFOUND: the log has vanished. */
static int replay_tail(lsm_db *db, plan_mem *pm, uint64_t *max_seq, int *torn,
                       lsm_buffer *msg) {
  char *path = lsm_file_path(db->dir, pm->log, "log");
  replay_ctx ctx;
  uint64_t valid = pm->off, size = 0;
  int rc;
  if (path == NULL) return LSM_NOMEM;
  ctx.db = db;
  ctx.mem = pm->m;
  ctx.max_seq = *max_seq;
  ctx.half_applied = 0;
  rc = lsm_wal_replay_from(db->env, path, pm->off, replay_record, &ctx, &valid, &size, msg);
  free(path);
  /* Records applied before a failure stay applied: never apply them twice. */
  pm->off = valid;
  pm->broken = ctx.half_applied;
  *max_seq = ctx.max_seq;
  if (torn) *torn = rc == LSM_OK && valid < size;
  return rc;
}

/* Write the offsets reached back to the memtables that are the db's
** (mutex held). */
static void write_back(lsm_db *db, const plan_mem *pm) {
  if (pm->m == NULL || pm->fresh) return;
  if (pm->m == db->mem && pm->log == db->wal_number) db->mem_off = pm->off;
  if (pm->m == db->imm && pm->log == db->imm_log) {
    db->imm_off = pm->off;
    if (pm->complete) db->imm_complete = 1;
  }
}

static void plan_free(plan_mem *pm) {
  if (pm->m && pm->fresh) lsm_mem_unref(pm->m);
  pm->m = NULL;
}

/* The memtable for log `log`: the db's if it has one, else a fresh one
** (mutex held). */
static int plan_for(lsm_db *db, uint64_t log, plan_mem *pm) {
  memset(pm, 0, sizeof *pm);
  pm->log = log;
  if (db->mem && db->wal_number == log) {
    pm->m = db->mem;
    pm->off = db->mem_off;
    return LSM_OK;
  }
  if (db->imm && db->imm_log == log) {
    pm->m = db->imm;
    pm->off = db->imm_off;
    pm->complete = db->imm_complete;
    return LSM_OK;
  }
  pm->fresh = 1;
  return lsm_mem_new(&pm->m);
}

/* Make the plan the db's state (mutex held): version first (already
** installed by the caller), then memtables: a memtable the plan does not
** keep is dropped (its log is in tables of the version now); last_seq
** last.  *old_wal receives an append handle to close. */
static void install_plan(lsm_db *db, plan_mem *nm, plan_mem *ni, uint64_t last,
                         lsm_wal **old_wal) {
  lsm_mem *old_mem = db->mem, *old_imm = db->imm;
  if (ni->m && ni->log < db->vset.log_number) {
    /* Flushed meanwhile (this instance's own owner thread): in tables. */
    if (ni->fresh) lsm_mem_unref(ni->m);
    ni->m = NULL;
  }
  if (ni->m && ni->fresh) db->imm_switched++;
  if (ni->m && ni->m == old_mem) db->imm_switched++;
  if (old_imm && old_imm != ni->m) {
    db->imm_flushed++;
    lsm_mem_unref(old_imm);
  }
  if (old_mem && old_mem != nm->m && old_mem != ni->m) {
    /* Retired whole while this instance was not looking. */
    db->imm_switched++;
    db->imm_flushed++;
    lsm_mem_unref(old_mem);
  }
  if (old_mem != nm->m) {
    *old_wal = db->wal;
    db->wal = NULL;
  }
  db->mem = nm->m;
  db->wal_number = nm->log;
  db->mem_off = nm->off;
  db->imm = ni->m;
  db->imm_log = ni->m ? ni->log : 0;
  db->imm_off = ni->m ? ni->off : 0;
  db->imm_complete = ni->m ? ni->complete : 0;
  nm->fresh = ni->fresh = 0;   /* the db's now */
  if (last > db->last_seq) set_last_seq(db, last);
  pthread_cond_broadcast(&db->state_cv);
  if (db->imm) pthread_cond_signal(&db->bg_cv);   /* the owner flushes it */
}

/* The writer's quick check (force, nothing moved): does log wal_number end
** where mem's records end?  Only an instance that wrote last can say so
** without reading the log (catchup_mu held, mutex not held). */
static int log_end_known(lsm_db *db) {
  uint64_t size = 0;
  return db->wal && lsm_wal_file_size(db->wal, &size) == LSM_OK && size == db->mem_off;
}

/* One catch-up attempt (catchup_mu held, mutex not held).  RETRY: the
** shared state moved under it; start again. */
static int catch_up_once(lsm_db *db, int force, int *torn) {
  lsm_shm_state st;
  lsm_vset_loaded loaded;
  plan_mem nm, ni;
  lsm_buffer msg = {0};
  lsm_wal *old_wal = NULL;
  uint64_t L, max_seq = 0, epoch;
  int rc, reload;

  memset(&loaded, 0, sizeof loaded);
  memset(&nm, 0, sizeof nm);
  memset(&ni, 0, sizeof ni);
  pthread_mutex_lock(&db->mu);
  if (db->replay_broken) {
    rc = sticky_error(db);
    goto unlock;
  }
  db->errmsg.len = 0;
  epoch = db->is_owner ? db->owner_epoch : 0;
  /* commit_seq, then wal_number, then manifest_gen: every commit up to the
  ** commit_seq read is in a log up to the wal_number read, or in tables. */
  rc = lsm_shm_read_state(db->shm, &st, &db->errmsg);
  if (rc) goto unlock;
  publish_slot(db, st.manifest_gen);   /* before reading MANIFEST */
  reload = db->need_reload || st.manifest_gen > db->vset.generation;
  if (!reload && force && (!db->imm || db->imm_complete) && st.wal_number == db->wal_number &&
      st.commit_seq <= db->last_seq && log_end_known(db)) {
    if (epoch) db->synced_epoch = epoch;
    goto unlock;   /* the writer's fast path: nothing anywhere to read */
  }
  pthread_mutex_unlock(&db->mu);

  if (reload) {
    rc = lsm_vset_reload_read(&db->vset, db->need_reload, &loaded, &msg);
    if (rc == LSM_NOTFOUND) rc = RETRY;
  }
  pthread_mutex_lock(&db->mu);
  if (rc) goto unlock;
  L = reload && !loaded.same ? loaded.log_number : db->vset.log_number;
  if (L > st.wal_number) {
    rc = RETRY;   /* the log we read of was retired meanwhile */
    goto unlock;
  }
  rc = plan_for(db, st.wal_number, &nm);
  if (rc == LSM_OK && L < st.wal_number) rc = plan_for(db, L, &ni);
  pthread_mutex_unlock(&db->mu);

  if (rc == LSM_OK && ni.m && !ni.complete) {
    /* A closed log: complete once replayed to its end. */
    rc = replay_tail(db, &ni, &max_seq, NULL, &msg);
    ni.complete = rc == LSM_OK;
  }
  if (rc == LSM_OK) rc = replay_tail(db, &nm, &max_seq, torn, &msg);
  if (rc == LSM_NOTFOUND) rc = RETRY;

  pthread_mutex_lock(&db->mu);
  write_back(db, &nm);
  write_back(db, &ni);
  if ((nm.broken && !nm.fresh) || (ni.broken && !ni.fresh)) {
    /* A record may be half applied: this instance's memtables can no
    ** longer follow the log. */
    db->replay_broken = 1;
    lsm_db_error(db, rc, "lsm: out of memory replaying the log of %s", db->dir);
    latch_error(db, rc, NULL);
  }
  if (rc) goto unlock;
  if (reload) {
    rc = lsm_vset_reload_install(&db->vset, &loaded);
    if (rc) goto unlock;
    db->need_reload = 0;
    set_loaded_gen(db);
  }
  if (st.wal_number < db->vset.log_number) {
    rc = RETRY;
    goto unlock;
  }
  install_plan(db, &nm, &ni, max_seq > st.commit_seq ? max_seq : st.commit_seq, &old_wal);
  if (epoch && epoch == db->owner_epoch) db->synced_epoch = epoch;
unlock:
  if (rc && rc != RETRY) {
    /* A module's message, else the one already in errmsg, else a generic one. */
    if (msg.len) take_message(db, rc, &msg, "catch-up");
    else ensure_message(db, rc, "catch-up");
  }
  pthread_mutex_unlock(&db->mu);
  plan_free(&nm);
  plan_free(&ni);
  lsm_vset_loaded_free(&loaded);
  lsm_buffer_free(&msg);
  if (old_wal) lsm_wal_close(old_wal);
  return rc;
}

/* Catch up with the other instances (catchup_mu held, mutex not held).
** force: also when SHM shows nothing new, looking at the log's end itself
** (the writer; *torn, may be NULL, then tells whether the log ends in a
** torn record, which must not be appended to). */
static int catch_up_locked(lsm_db *db, int force, int *torn) {
  int attempt, rc = LSM_OK, t = 0;
  if (torn) *torn = 0;
  if (!db->shm_live || (!force && !shm_moved(db))) return LSM_OK;
  for (attempt = 0; attempt < CATCH_UP_ATTEMPTS; attempt++) {
    if (attempt > 10) {
      struct timespec ts = {0, 1000000};
      nanosleep(&ts, NULL);
    }
    t = 0;
    rc = catch_up_once(db, force, &t);
    if (rc != RETRY) {
      if (torn) *torn = t;
      return rc;
    }
  }
  pthread_mutex_lock(&db->mu);
  rc = lsm_db_error(db, LSM_BUSY, "lsm: the files of %s kept changing while reading them", db->dir);
  pthread_mutex_unlock(&db->mu);
  return rc;
}

/* The readers' entry: the fast path, else a catch-up (no lock held). */
static int catch_up(lsm_db *db) {
  int rc;
  if (!shm_moved(db)) return LSM_OK;
  pthread_mutex_lock(&db->catchup_mu);
  rc = catch_up_locked(db, 0, NULL);
  pthread_mutex_unlock(&db->catchup_mu);
  return rc;
}

/* The writer's: forced (catchup_mu held, mutex not held). */
static int writer_catch_up(lsm_db *db, int *torn) {
  return catch_up_locked(db, 1, torn);
}

/* ---------------------------------------------------------------- maintenance token */

/* Take the maintenance token (mutex held), waiting while someone else has
** it.  A user call (lsm_compact) registers as a waiter so that the
** background thread lets it in between two of its steps. */
static void maint_acquire(lsm_db *db, int user) {
  if (user) db->maint_waiters++;
  while (db->maint_busy) pthread_cond_wait(&db->state_cv, &db->mu);
  if (user) db->maint_waiters--;
  db->maint_busy = 1;
  db->maint_msg.len = 0;
}

/* Release the token (mutex held); a failed step latches the sticky error,
** described by the step's message.  Returns rc. */
static int maint_release(lsm_db *db, int rc) {
  if (rc) {
    if (db->maint_msg.len == 0) {
      lsm_db_error(db, rc, "lsm: flush or compaction failed in %s (status %d)", db->dir, rc);
      latch_error(db, rc, &db->errmsg);
    } else {
      latch_error(db, rc, &db->maint_msg);
    }
  }
  db->maint_msg.len = 0;
  db->maint_busy = 0;
  pthread_cond_broadcast(&db->state_cv);
  pthread_cond_signal(&db->bg_cv);
  return rc;
}

/* options.background = 0: the writer that switched the memtable flushes it
** and, if compact, runs the compactions it calls for (mutex and writer
** token held).  Only the owner does (another instance's owner flushes at
** its own next commit). */
static int run_inline_maintenance(lsm_db *db, int compact) {
  int rc = LSM_OK;
  if (!may_maintain(db)) return LSM_OK;
  maint_acquire(db, 0);
  if (db->owner_scan) scan_orphans(db);
  if (db->imm && db->imm_complete) rc = lsm_db_flush_imm(db);
  if (rc == LSM_OK && compact) rc = lsm_db_maybe_compact(db);
  if (maint_release(db, rc)) return sticky_error(db);
  return LSM_OK;
}

/* ---------------------------------------------------------------- background thread */

/* Is there a maintenance step for the background thread (mutex held)? */
static int bg_has_work(lsm_db *db) {
  if (db->bg_error || db->maint_busy || db->maint_waiters > 0 || !may_maintain(db)) return 0;
  return db->owner_scan || (db->imm != NULL && db->imm_complete) || lsm_db_needs_compaction(db);
}

/* Should the background thread create the next log now (mutex held)?  A
** number is reserved for it (the writer reserves the next one at each
** switch), and no attempt has failed since (the writer then creates the
** log itself and reports any error). */
static int bg_wants_next_log(lsm_db *db) {
  return db->next_wal == NULL && !db->bg_error && db->next_wal_for != db->imm_switched;
}

/* Create the log the next memtable switch will use, under the number the
** writer reserved (mutex held, released meanwhile): the switch then costs
** only the old log's fsync. */
static void prepare_next_log(lsm_db *db) {
  uint64_t number;
  lsm_wal *w = NULL;
  int rc;
  db->next_wal_for = db->imm_switched;
  if (lsm_db_new_file_number(db, &number, NULL) != LSM_OK) return;
  db->last_log_number = number;
  pthread_mutex_unlock(&db->mu);
  rc = create_log(db, number, &w);
  if (rc) remove_log(db, number);   /* best effort: no half-made log */
  pthread_mutex_lock(&db->mu);
  if (rc == LSM_OK && number != db->last_log_number) {
    /* The writer switched meanwhile, to a log it numbered itself: logs
    ** must be used in the order of their numbers (replay follows them), so
    ** this older one is dropped. */
    pthread_mutex_unlock(&db->mu);
    lsm_wal_close(w);
    remove_log(db, number);
    pthread_mutex_lock(&db->mu);
    return;
  }
  if (rc == LSM_OK) {
    db->next_wal = w;
    db->next_wal_number = number;
  }
}

/* Does the background thread need to catch up (mutex held)?  When another
** instance rotated the log (the owner flushes the closed one), installed a
** manifest (this instance's slot then lets old files go), or this instance
** just became the owner. */
static int bg_wants_catch_up(lsm_db *db) {
  uint64_t wal, gen;
  if (!db->shm_live || db->bg_error) return 0;
  if (db->is_owner && db->synced_epoch != db->owner_epoch) return 1;
  if (lsm_shm_wal_number(db->shm, &wal, NULL) || lsm_shm_manifest_gen(db->shm, &gen, NULL)) {
    return 0;   /* a damaged SHM: readers report it */
  }
  return wal != db->wal_number || gen > db->vset.generation;
}

/* Sleep until signalled or the next poll (mutex held).  While it keeps
** WRITER the instance is alone unless joins moves, which the next round
** looks at: no lock query then. */
static void bg_sleep(lsm_db *db) {
  int others = 0;
  if (db->writer_kept) {
    timed_wait(&db->bg_cv, &db->mu, PARK_POLL_MS);
    return;
  }
  if (db->shm_live && lsm_shm_others_open(db->shm, &others) == LSM_OK && !others) {
    others_left(db);
  }
  timed_wait(&db->bg_cv, &db->mu, others ? BG_POLL_MS : IDLE_POLL_MS);
}

/* Delete what no instance reads any more, at most every
** COLLECT_INTERVAL_US (mutex held). */
static int bg_collect(lsm_db *db) {
  uint64_t now = now_micros();
  if (!db->is_owner || db->vset.n_obsolete == 0 || now - db->last_collect < COLLECT_INTERVAL_US) {
    return 0;
  }
  db->last_collect = now;
  lsm_db_collect_garbage(db);
  return 1;
}

/* Hand the heap's free pages back to the system after a flush or a
** compaction, at most every TRIM_INTERVAL_US (mutex held; released around
** the trim).  A compaction allocates and frees megabytes of block and
** output buffers on this thread, in glibc's arena for it; glibc returns
** only free memory at the top of a heap, so those pages stayed resident,
** and with level-0 merges of up to l0_stop_trigger tables the process's
** peak RSS rose with them (vtab, 10M-row fill, 4 MiB memtable, 32 MiB
** cache: 69.1 and 70.4 MiB without the trim, 55.4 and 55.6 with it).
** Other C libraries: nothing to do here. */
static void bg_trim_heap(lsm_db *db) {
#ifdef __GLIBC__
  uint64_t now = now_micros();
  if (now - db->last_trim < TRIM_INTERVAL_US) return;
  db->last_trim = now;
  pthread_mutex_unlock(&db->mu);
  malloc_trim(0);
  pthread_mutex_lock(&db->mu);
#else
  (void)db;
#endif
}

static void *bg_main(void *arg) {
  lsm_db *db = arg;
  pthread_mutex_lock(&db->mu);
  while (!db->shutting_down) {
    int rc;
    bg_check_kept_writer(db);
    if (!db->is_owner) try_become_owner(db);
    if (bg_wants_catch_up(db)) {
      pthread_mutex_unlock(&db->mu);
      pthread_mutex_lock(&db->catchup_mu);
      rc = catch_up_locked(db, 1, NULL);
      pthread_mutex_unlock(&db->catchup_mu);
      pthread_mutex_lock(&db->mu);
      if (rc && !db->shutting_down) bg_sleep(db);   /* readers see the error */
    } else if (bg_has_work(db) && db->owner_scan) {
      maint_acquire(db, 0);
      scan_orphans(db);
      maint_release(db, LSM_OK);
    } else if (bg_has_work(db) && db->imm != NULL && db->imm_complete) {
      /* A waiting writer needs imm gone before anything else. */
      maint_acquire(db, 0);
      rc = lsm_db_flush_imm(db);
      maint_release(db, rc);
      bg_trim_heap(db);
    } else if (bg_wants_next_log(db)) {
      prepare_next_log(db);
    } else if (bg_has_work(db)) {
      maint_acquire(db, 0);
      rc = lsm_db_compact_once(db);
      maint_release(db, rc);
      bg_trim_heap(db);
    } else if (!bg_collect(db)) {
      bg_sleep(db);
    }
  }
  pthread_mutex_unlock(&db->mu);
  return NULL;
}

static int start_bg_thread(lsm_db *db) {
  int err = pthread_create(&db->bg_thread, NULL, bg_main, db);
  if (err) {
    return lsm_db_error(db, LSM_NOMEM, "lsm: cannot start the background thread of %s (%s)",
                        db->dir, strerror(err));
  }
  db->bg_started = 1;
  /* Work recovery left (level 0 over its trigger, say) starts now. */
  pthread_mutex_lock(&db->mu);
  pthread_cond_signal(&db->bg_cv);
  pthread_mutex_unlock(&db->mu);
  return LSM_OK;
}

/* Let the step in flight finish, then stop and join the thread.  A log
** prepared for a switch that will not come is removed (it is empty). */
static void stop_bg_thread(lsm_db *db) {
  if (!db->bg_started) return;
  pthread_mutex_lock(&db->mu);
  db->shutting_down = 1;
  pthread_cond_signal(&db->bg_cv);
  pthread_mutex_unlock(&db->mu);
  pthread_join(db->bg_thread, NULL);
  db->bg_started = 0;
  /* Nothing would let a kept WRITER go any more: a newcomer gets it now. */
  pthread_mutex_lock(&db->mu);
  if (db->writer_kept) drop_kept_writer(db);
  pthread_mutex_unlock(&db->mu);
  if (db->next_wal) {
    lsm_wal_close(db->next_wal);
    db->next_wal = NULL;
    remove_log(db, db->next_wal_number);
  }
}

/* ---------------------------------------------------------------- open/close */

static void db_free(lsm_db *db) {
  if (db->wal) lsm_wal_close(db->wal);
  if (db->next_wal) lsm_wal_close(db->next_wal);
  if (db->mem) lsm_mem_unref(db->mem);
  if (db->imm) lsm_mem_unref(db->imm);
  lsm_vset_free(&db->vset);
  /* After the tables (the vset), which hold cache handles only while read. */
  if (db->vset.cache) lsm_cache_free(db->vset.cache);
  /* Last: releases WRITER, OWNER, the slot and DMS. */
  lsm_shm_close(db->shm);
  lsm_buffer_free(&db->write_buf);
  lsm_buffer_free(&db->errmsg);
  lsm_buffer_free(&db->bg_errmsg);
  lsm_buffer_free(&db->maint_msg);
  if (db->sync_objects) {
    pthread_cond_destroy(&db->writer_cv);
    pthread_cond_destroy(&db->bg_cv);
    pthread_cond_destroy(&db->state_cv);
    pthread_mutex_destroy(&db->mu);
    pthread_mutex_destroy(&db->catchup_mu);
  }
  free(db->dir);
  free(db);
}

static int check_options(const lsm_options *o) {
  return o->memtable_size >= 1 && o->block_size >= 256 && o->bloom_bits >= 0 &&
         o->bloom_bits <= 64 && o->sync_mode >= LSM_SYNC_OFF &&
         o->sync_mode <= LSM_SYNC_FULL && o->l0_compaction_trigger >= 2 &&
         /* A writer stopped at l0_stop_trigger must be one a compaction
         ** will release: level 0 scores >= 1 there. */
         o->l0_slowdown_trigger >= o->l0_compaction_trigger &&
         o->l0_stop_trigger >= o->l0_slowdown_trigger &&
         o->level_multiplier >= 2 && o->l1_target_bytes > 0 && o->target_file_size > 0 &&
         o->max_open_files >= 1;
}

static int init_sync_objects(lsm_db *db) {
  if (pthread_mutex_init(&db->mu, NULL) != 0) return LSM_NOMEM;
  if (pthread_mutex_init(&db->catchup_mu, NULL) != 0) goto no_catchup_mu;
  if (pthread_cond_init(&db->writer_cv, NULL) != 0) goto no_writer_cv;
  if (pthread_cond_init(&db->bg_cv, NULL) != 0) goto no_bg_cv;
  if (pthread_cond_init(&db->state_cv, NULL) != 0) goto no_state_cv;
  db->sync_objects = 1;
  return LSM_OK;
no_state_cv:
  pthread_cond_destroy(&db->bg_cv);
no_bg_cv:
  pthread_cond_destroy(&db->writer_cv);
no_writer_cv:
  pthread_mutex_destroy(&db->catchup_mu);
no_catchup_mu:
  pthread_mutex_destroy(&db->mu);
  return LSM_NOMEM;
}

/* lsm_shm_open, creating the directory first if it is missing and
** create_if_missing allows. */
static int open_shared_state(lsm_db *db, int *first) {
  const char *dir = db->dir;
  int rc = lsm_shm_open(db->env, dir, 0, &db->shm, first, &db->errmsg);
  if (rc == LSM_NOTFOUND && db->opts.create_if_missing) {
    /* No directory yet: create it (and missing parents) durably. */
    rc = make_dirs(db->env, dir, db->opts.sync_mode != LSM_SYNC_OFF);
    if (rc) {
      return lsm_db_error(db, rc == LSM_NOTFOUND ? LSM_IOERR : rc,
                          "lsm: cannot create directory %s", dir);
    }
    db->errmsg.len = 0;
    rc = lsm_shm_open(db->env, dir, 0, &db->shm, first, &db->errmsg);
  }
  if (rc == LSM_NOTFOUND) return lsm_db_error(db, rc, "lsm: no database in %s", dir);
  if (rc) return ensure_message(db, rc, "opening the shared state");
  return LSM_OK;
}

/* The sole instance: recover, then publish the state for the others. */
static int open_first(lsm_db *db) {
  lsm_shm_state st;
  int rc;
  pthread_mutex_lock(&db->mu);
  try_become_owner(db);
  db->synced_epoch = db->owner_epoch;   /* nothing newer exists */
  db->owner_scan = 0;                   /* recovery deletes orphans */
  pthread_mutex_unlock(&db->mu);
  rc = recover(db);
  if (rc) return rc;
  st.commit_seq = db->last_seq;
  st.wal_number = db->wal_number;
  st.manifest_gen = db->vset.generation;
  st.next_file = db->vset.next_file_number;
  rc = lsm_shm_init_finish(db->shm, &st, &db->errmsg);
  if (rc) return ensure_message(db, rc, "publishing the shared state");
  db->published_gen = st.manifest_gen;
  db->shm_live = 1;
  return LSM_OK;
}

/* Another instance has the directory open: load its state read-only. */
static int open_join(lsm_db *db) {
  int rc = lsm_vset_create(&db->vset);
  if (rc) return rc;
  db->need_reload = 1;
  db->shm_live = 1;
  /* lsm_shm_open stored the generation current then in the slot. */
  lsm_shm_manifest_gen(db->shm, &db->published_gen, NULL);
  db->errmsg.len = 0;
  pthread_mutex_lock(&db->catchup_mu);
  rc = catch_up_locked(db, 1, NULL);
  pthread_mutex_unlock(&db->catchup_mu);
  if (rc) return ensure_message(db, rc, "joining");
  pthread_mutex_lock(&db->mu);
  try_become_owner(db);
  pthread_mutex_unlock(&db->mu);
  return LSM_OK;
}

int lsm_open(const char *dir, const lsm_options *opts, lsm_db **out) {
  lsm_db *db;
  int rc, first = 0;
  *out = NULL;
  db = calloc(1, sizeof *db);
  if (db == NULL) return LSM_NOMEM;
  if (init_sync_objects(db) != LSM_OK) {
    free(db);
    return LSM_NOMEM;
  }
  if (opts) {
    db->opts = *opts;
  } else {
    lsm_options_init(&db->opts);
  }
  db->env = db->opts.env ? db->opts.env : lsm_env_default();
  db->dir = strdup(dir);
  db->snapshots.next = db->snapshots.prev = &db->snapshots;
  lsm_vset_init(&db->vset, db->env, dir, db->opts.sync_mode != LSM_SYNC_OFF);
  *out = db;
  if (db->dir == NULL || db->vset.dir == NULL) return LSM_NOMEM;
  if (!check_options(&db->opts)) {
    return lsm_db_error(db, LSM_MISUSE, "lsm: invalid options for %s", dir);
  }
  if (db->opts.cache_size > 0) {
    db->vset.cache = lsm_cache_new(db->opts.cache_size);
    if (db->vset.cache == NULL) return LSM_NOMEM;
  }
  db->vset.tables = lsm_tcache_new(db->env, dir, db->vset.cache, db->opts.max_open_files);
  if (db->vset.tables == NULL) return LSM_NOMEM;
  rc = open_shared_state(db, &first);
  if (rc == LSM_OK) rc = first ? open_first(db) : open_join(db);
  if (rc == LSM_OK && db->opts.background) rc = start_bg_thread(db);
  return rc;
}

int lsm_close(lsm_db *db) {
  int rc = LSM_OK;
  if (db == NULL) return LSM_OK;
  stop_bg_thread(db);
  if (db->shm_live) {
    /* Best effort: what no instance reads any more goes now. */
    pthread_mutex_lock(&db->mu);
    lsm_db_collect_garbage(db);
    pthread_mutex_unlock(&db->mu);
  }
  if (db->wal) {
    rc = lsm_wal_close(db->wal);
    db->wal = NULL;
  }
  db_free(db);
  return rc;
}

int lsm_in_use(const char *dir, lsm_env *env) {
  lsm_shm *shm = NULL;
  int first = 0, rc = lsm_shm_open(env, dir, LSM_SHM_EXCLUSIVE, &shm, &first, NULL);
  lsm_shm_close(shm);
  return rc;
}

int lsm_destroy(const char *dir, lsm_env *env) {
  char **names = NULL, **paths = NULL;
  int n = 0, n_paths = 0, i, rc, first = 0;
  lsm_shm *shm = NULL;
  char *lock_path, *shm_path;
  if (env == NULL) env = lsm_env_default();
  lock_path = join_path(dir, "LOCK");
  shm_path = join_path(dir, "SHM");
  if (lock_path == NULL || shm_path == NULL) {
    rc = LSM_NOMEM;
    goto done;
  }
  /* Only when no instance has it open (LSM_BUSY otherwise). */
  rc = lsm_shm_open(env, dir, LSM_SHM_EXCLUSIVE, &shm, &first, NULL);
  if (rc) goto done;
  rc = env->list(env, dir, &names, &n);
  /* Every path before the first removal: running out of memory half way
  ** would leave some of the files, a corrupt database. */
  if (rc == LSM_OK && n > 0 && (paths = calloc((size_t)n, sizeof *paths)) == NULL) rc = LSM_NOMEM;
  for (i = 0; rc == LSM_OK && i < n; i++) {
    uint64_t number;
    if (parse_file_name(names[i], "log", &number) || parse_file_name(names[i], "sst", &number) ||
        strcmp(names[i], "MANIFEST") == 0 || strcmp(names[i], "MANIFEST.tmp") == 0) {
      if ((paths[n_paths++] = join_path(dir, names[i])) == NULL) rc = LSM_NOMEM;
    }
  }
  for (i = 0; rc == LSM_OK && i < n_paths; i++) rc = env->remove(env, paths[i]);
  for (i = 0; i < n_paths; i++) free(paths[i]);
  free(paths);
  lsm_env_free_list(names, n);
  /* The shared files last, while DMS is still held: an opener waiting for
  ** it finds LOCK replaced and starts again. */
  env->remove(env, shm_path);
  env->remove(env, lock_path);
  lsm_shm_close(shm);
  if (rc == LSM_OK) rc = env->rmdir(env, dir);
done:
  free(lock_path);
  free(shm_path);
  return rc;
}

/* ---------------------------------------------------------------- writes */

static void take_writer_token(lsm_db *db) {
  while (db->writer_busy) pthread_cond_wait(&db->writer_cv, &db->mu);
  db->writer_busy = 1;
}

static void release_writer(lsm_db *db) {
  db->writer_busy = 0;
  pthread_cond_signal(&db->writer_cv);
}

/* Step 1: wait for the writer token (mutex held).  Fails with the sticky
** error, without the token, once a failure has latched one. */
static int become_writer(lsm_db *db) {
  take_writer_token(db);
  if (db->bg_error) {
    release_writer(db);
    return sticky_error(db);
  }
  return LSM_OK;
}

/* Take WRITER (mutex and writer token held).  Refused while another
** instance keeps it between transactions, wait for it to let go (see
** "keeping WRITER"), with the mutex released. */
static int acquire_writer(lsm_db *db) {
  uint64_t deadline = 0;
  int rc;
  for (;;) {
    struct timespec ts = {0, 1000000};
    db->errmsg.len = 0;
    rc = lsm_shm_writer_try(db->shm, &db->errmsg);
    if (rc != LSM_BUSY || !lsm_shm_writer_parked(db->shm)) return rc;
    if (deadline == 0) {
      deadline = now_micros() + (uint64_t)PARK_WAIT_MS * 1000;
    } else if (now_micros() >= deadline) {
      return rc;
    }
    pthread_mutex_unlock(&db->mu);
    nanosleep(&ts, NULL);
    pthread_mutex_lock(&db->mu);
  }
}

/* With the writer token: take WRITER across processes unless this instance
** holds it already, for lsm_write_begin or kept from its last transaction
** (mutex held).  *took: give it back after (give_back_writer).  *verified:
** held since the log's end was last seen to be this instance's, so the
** forced catch-up is not needed. */
static int take_writer_role(lsm_db *db, int *took, int *verified) {
  int rc;
  *took = 0;
  *verified = 0;
  if (db->write_locked) {
    *verified = db->write_verified;
    return LSM_OK;
  }
  if (db->writer_kept) {
    /* In use now: a newcomer meanwhile gets LSM_BUSY at once, as from any
    ** writer in a transaction, and WRITER at its end. */
    db->writer_kept = 0;
    lsm_shm_set_writer_parked(db->shm, 0);
    *took = *verified = 1;
    return LSM_OK;
  }
  rc = acquire_writer(db);
  if (rc == LSM_BUSY) {
    return lsm_db_error(db, rc, "lsm: %s is being written by another process", db->dir);
  }
  if (rc) return ensure_message(db, rc, "taking the write lock");
  *took = 1;
  return LSM_OK;
}

/* Sync a log this instance may not have open for writing (sync=normal, at
** a switch; no mutex): another instance may have appended to it. */
static int sync_log(lsm_db *db, lsm_wal *w, uint64_t number) {
  char *path;
  int rc;
  if (w) return lsm_wal_sync(w);
  path = lsm_file_path(db->dir, number, "log");
  if (path == NULL) return LSM_NOMEM;
  rc = lsm_wal_open(db->env, path, &w);
  free(path);
  if (rc == LSM_OK) rc = lsm_wal_sync(w);
  if (w) {
    int close_rc = lsm_wal_close(w);
    if (rc == LSM_OK) rc = close_rc;
  }
  return rc;
}

/* Turn mem into imm and start a fresh memtable with a new log (mutex,
** catchup_mu, writer token and WRITER held; the mutex released while the
** log is created).  imm is NULL; mem holds every record of its log. */
static int switch_memtable(lsm_db *db) {
  lsm_wal *old_wal = db->wal, *new_wal = NULL, *stale = NULL;
  uint64_t number = 0, stale_number = 0, old_number = db->wal_number;
  lsm_mem *fresh = NULL;
  int rc;
  /* The background thread prepares the next log ahead (prepare_next_log);
  ** a log taken from it is already created and synced.  Logs are used in
  ** the order of their numbers, across instances too: one numbered before
  ** the current log (another instance switched since) is dropped. */
  if (db->next_wal && db->next_wal_number > db->wal_number &&
      db->next_wal_number == db->last_log_number) {
    new_wal = db->next_wal;
    number = db->next_wal_number;
  } else {
    stale = db->next_wal;
    stale_number = db->next_wal_number;
    rc = lsm_db_new_file_number(db, &number, &db->errmsg);
    if (rc) {
      db->next_wal = NULL;
      if (stale) {
        lsm_wal_close(stale);
        remove_log(db, stale_number);
      }
      return ensure_message(db, rc, "allocating a log number");
    }
  }
  db->next_wal = NULL;
  db->last_log_number = number;
  pthread_mutex_unlock(&db->mu);
  if (stale) {
    lsm_wal_close(stale);   /* empty, never named by SHM: nobody reads it */
    remove_log(db, stale_number);
  }
  /* sync=normal: the old log must be durable before the new one receives a
  ** record.  imm is flushed later, beside new commits; were the old log's
  ** tail lost in a power loss while the new log's records survived, the
  ** database would reopen with a hole in its history, not at a prefix (and
  ** a commit made with lsm_write(sync=1) in the new log would sit after
  ** lost ones).  sync=full has synced every record already; sync=off
  ** promises nothing across a power loss. */
  rc = db->opts.sync_mode == LSM_SYNC_NORMAL ? sync_log(db, old_wal, old_number) : LSM_OK;
  if (rc) {
    lsm_wal_close(new_wal);   /* a prepared log stays empty: replay skips it */
    pthread_mutex_lock(&db->mu);
    lsm_db_error(db, rc, "lsm: cannot sync log %06llu.log in %s",
                 (unsigned long long)old_number, db->dir);
    latch_error(db, rc, NULL);
    return rc;
  }
  rc = lsm_mem_new(&fresh);
  if (rc == LSM_OK && new_wal == NULL) rc = create_log(db, number, &new_wal);
  /* Every record of the old log is in mem, which becomes imm: the flush
  ** makes it durable in a table before a manifest retires that log. */
  if (rc == LSM_OK && old_wal) lsm_wal_close(old_wal);
  pthread_mutex_lock(&db->mu);
  if (rc) {
    if (fresh) lsm_mem_unref(fresh);
    lsm_wal_close(new_wal);
    log_error(db, rc, number);
    latch_error(db, rc, NULL);
    return rc;
  }
  db->wal = new_wal;
  db->imm = db->mem;
  db->imm_log = old_number;
  db->imm_off = db->mem_off;
  db->imm_complete = 1;
  db->mem = fresh;
  db->wal_number = number;
  db->mem_off = lsm_wal_size(new_wal);
  db->imm_switched++;
  /* Last: the log exists (and is durable) before anyone is sent to it. */
  if (db->shm_live) lsm_shm_set_wal_number(db->shm, number);
  return LSM_OK;
}

/* Wait for maintenance (this instance's or another's) to progress, up to
** POLL_MS, then catch up again (mutex and catchup_mu held on entry and
** return, both released meanwhile).  Counted as a stop; *stopped: this
** write was already counted. */
static int wait_for_maintenance(lsm_db *db, int *stopped, int *torn) {
  uint64_t t0 = now_micros();
  int rc;
  if (!*stopped) db->stop_count++;
  *stopped = 1;
  pthread_mutex_unlock(&db->catchup_mu);
  timed_wait(&db->state_cv, &db->mu, POLL_MS);
  db->stop_micros += now_micros() - t0;
  pthread_mutex_unlock(&db->mu);
  pthread_mutex_lock(&db->catchup_mu);
  rc = writer_catch_up(db, torn);
  pthread_mutex_lock(&db->mu);
  return rc;
}

/* Step 2: make sure mem has room for this commit (mutex, catchup_mu,
** writer token and WRITER held; the writer has caught up).  force: switch
** even if mem is not full (lsm_flush; mem is not empty).  *torn: the log
** ends in a torn record a dead writer left, so it takes no more records:
** switch.  See the top of the file; every wait re-checks bg_error. */
static int make_room_for_write(lsm_db *db, int force, int *torn) {
  int allow_delay = !force, stopped = 0, rc;
  for (;;) {
    int l0 = db->vset.current->n_files[0];
    if (db->bg_error) return sticky_error(db);
    if (db->opts.background && allow_delay && l0 >= db->opts.l0_slowdown_trigger) {
      /* Level 0 is piling up: hand this writer's next millisecond to
      ** compaction rather than stop every writer at once later.  Once per
      ** write. */
      uint64_t t0 = now_micros();
      struct timespec ts = {0, 1000000};
      pthread_mutex_unlock(&db->catchup_mu);
      pthread_mutex_unlock(&db->mu);
      nanosleep(&ts, NULL);
      pthread_mutex_lock(&db->catchup_mu);
      rc = writer_catch_up(db, torn);
      pthread_mutex_lock(&db->mu);
      db->slowdown_count++;
      db->slowdown_micros += now_micros() - t0;
      if (rc) return rc;
      allow_delay = 0;
      continue;
    }
    /* An empty memtable always has room: its arena alone may exceed a tiny
    ** memtable_size, and switching it would flush nothing. */
    if (!force && !*torn && (lsm_mem_bytes(db->mem) < db->opts.memtable_size ||
                             lsm_mem_count(db->mem) == 0)) {
      return LSM_OK;
    }
    if (db->imm != NULL) {
      /* The previous memtable is still being flushed. */
      if (!db->opts.background && may_maintain(db)) {
        rc = run_inline_maintenance(db, 0);
      } else {
        rc = wait_for_maintenance(db, &stopped, torn);
      }
      if (rc) return rc;
      continue;
    }
    if (db->opts.background && l0 >= db->opts.l0_stop_trigger) {
      rc = wait_for_maintenance(db, &stopped, torn);
      if (rc) return rc;
      continue;
    }
    rc = switch_memtable(db);
    if (rc) return rc;
    *torn = 0;
    if (!db->opts.background) return run_inline_maintenance(db, 1);
    pthread_cond_signal(&db->bg_cv);
    return LSM_OK;
  }
}

/* Before the append: an append handle on log wal_number, which another
** instance may have created (catchup_mu held, mutex not held). */
static int open_log_for_append(lsm_db *db) {
  char *path;
  lsm_wal *w = NULL;
  int rc;
  if (db->wal) return LSM_OK;
  path = lsm_file_path(db->dir, db->wal_number, "log");
  if (path == NULL) return LSM_NOMEM;
  rc = lsm_wal_open(db->env, path, &w);
  free(path);
  pthread_mutex_lock(&db->mu);
  if (rc == LSM_OK) {
    db->wal = w;
  } else if (rc != LSM_NOMEM) {
    if (rc == LSM_NOTFOUND) rc = LSM_IOERR;
    lsm_db_error(db, rc, "lsm: cannot open log %s/%06llu.log for writing", db->dir,
                 (unsigned long long)db->wal_number);
  }
  pthread_mutex_unlock(&db->mu);
  return rc;
}

/* Step 3: append the encoded batch (write_buf) to the log (writer token
** held, mutex NOT held). */
static int append_to_log(lsm_db *db, int sync) {
  return lsm_wal_append(db->wal, lsm_slice_make(db->write_buf.data, db->write_buf.len),
                        sync || db->opts.sync_mode == LSM_SYNC_FULL);
}

/* Step 4: apply the logged bytes to mem (writer token held, mutex NOT
** held: mem takes one writer beside concurrent readers). */
static int insert_into_memtable(lsm_db *db) {
  uint64_t base_check;
  uint32_t n_check;
  return lsm_batch_replay(lsm_slice_make(db->write_buf.data, db->write_buf.len), db->mem,
                          &base_check, &n_check);
}

/* Step 5: make the commit visible (mutex and writer token held):
** invariant (2), then to the other instances. */
static void publish_commit(lsm_db *db, uint64_t last, uint64_t user_bytes) {
  db->wal_bytes += db->write_buf.len + LSM_WAL_RECORD_HEADER_SIZE;
  db->user_bytes += user_bytes;
  set_last_seq(db, last);
  if (db->shm_live) lsm_shm_set_commit_seq(db->shm, last);
}

/* Steps 3-5 (catchup_mu and writer token held, mutex held on entry and
** return).  The record lands at mem_off: this instance caught up to the
** log's end under WRITER, so nobody appended since. */
static int commit_batch(lsm_db *db, lsm_batch *b, int sync) {
  uint64_t seq_base = db->last_seq + 1;
  uint32_t n_ops = 0;
  int rc;
  pthread_mutex_unlock(&db->mu);
  db->write_buf.len = 0;
  rc = lsm_batch_encode(b, seq_base, &db->write_buf, &n_ops);
  if (rc == LSM_OK && seq_base + n_ops >= LSM_SEQ_OVERLAY) rc = LSM_READONLY;
  if (rc) {
    pthread_mutex_lock(&db->mu);
    if (rc == LSM_READONLY) {
      lsm_db_error(db, rc, "lsm: sequence numbers exhausted in %s", db->dir);
    }
    return rc;
  }
  rc = open_log_for_append(db);
  if (rc) {
    pthread_mutex_lock(&db->mu);
    return rc;
  }
  rc = append_to_log(db, sync);
  if (rc) {
    pthread_mutex_lock(&db->mu);
    /* The log may now end in a torn record: accept no more writes to it. */
    lsm_db_error(db, rc, "lsm: write to log %06llu.log in %s failed",
                 (unsigned long long)db->wal_number, db->dir);
    latch_error(db, rc, NULL);
    return rc;
  }
  db->mem_off += db->write_buf.len + LSM_WAL_RECORD_HEADER_SIZE;
  rc = insert_into_memtable(db);
  pthread_mutex_lock(&db->mu);
  if (rc) {
    /* Logged but not in the memtable: reads would miss a commit. */
    db->wal_bytes += db->write_buf.len + LSM_WAL_RECORD_HEADER_SIZE;
    lsm_db_error(db, rc, "lsm: memtable insert failed after logging in %s", db->dir);
    latch_error(db, rc, NULL);
    return rc;
  }
  publish_commit(db, seq_base + n_ops - 1, lsm_batch_user_bytes(b));
  return LSM_OK;
}

int lsm_write(lsm_db *db, lsm_batch *b, int sync) {
  int rc, took = 0, torn = 0, verified = 0;
  if (lsm_batch_count(b) == 0) return LSM_OK;
  pthread_mutex_lock(&db->mu);
  rc = become_writer(db);
  if (rc) goto unlock;
  /* verified: holding WRITER since the log's end was looked at (by
  ** lsm_write_begin, or before it was kept): nobody else has appended
  ** since, only a manifest may have moved. */
  rc = take_writer_role(db, &took, &verified);
  if (rc) goto release;
  pthread_mutex_unlock(&db->mu);
  pthread_mutex_lock(&db->catchup_mu);
  rc = verified ? catch_up_locked(db, 0, NULL) : writer_catch_up(db, &torn);
  pthread_mutex_lock(&db->mu);
  /* last_seq changes only under WRITER and catchup_mu: stable from here. */
  if (rc == LSM_OK) rc = make_room_for_write(db, 0, &torn);
  if (rc == LSM_OK) rc = commit_batch(db, b, sync);
  pthread_mutex_unlock(&db->catchup_mu);
  if (!db->is_owner) try_become_owner(db);
  if (took) give_back_writer(db, rc == LSM_OK);
release:
  release_writer(db);
unlock:
  if (rc && rc != LSM_NOMEM && db->errmsg.len == 0) ensure_message(db, rc, "write");
  pthread_mutex_unlock(&db->mu);
  return rc;
}

int lsm_write_begin(lsm_db *db) {
  int rc, took = 0, torn = 0, verified = 0;
  pthread_mutex_lock(&db->mu);
  rc = become_writer(db);
  if (rc) goto unlock;
  rc = take_writer_role(db, &took, &verified);
  if (took) db->write_locked = 1;
  release_writer(db);
unlock:
  pthread_mutex_unlock(&db->mu);
  if (rc) return rc;
  /* Reads for this transaction see every commit, a dead writer's last
  ** one included (verified: there is none since WRITER was kept). */
  pthread_mutex_lock(&db->catchup_mu);
  rc = catch_up_locked(db, !verified, &torn);
  pthread_mutex_unlock(&db->catchup_mu);
  if (rc) {
    lsm_write_end(db);
    return rc;
  }
  pthread_mutex_lock(&db->mu);
  /* A torn tail: the first commit must look again (and start a new log). */
  db->write_verified = !torn;
  pthread_mutex_unlock(&db->mu);
  return LSM_OK;
}

int lsm_write_end(lsm_db *db) {
  int rc = LSM_OK;
  pthread_mutex_lock(&db->mu);
  /* A commit in flight in another thread uses the role: let it finish. */
  while (db->writer_busy) pthread_cond_wait(&db->writer_cv, &db->mu);
  if (db->write_locked) {
    /* write_verified: the log's end was this instance's at the start, and
    ** every commit since either extended it or latched bg_error. */
    int clean = db->write_verified;
    db->write_locked = 0;
    db->write_verified = 0;
    rc = give_back_writer(db, clean);
  }
  pthread_cond_signal(&db->writer_cv);
  pthread_mutex_unlock(&db->mu);
  return rc;
}

/* ---------------------------------------------------------------- reads */

/* References to everything a read at one sequence number needs. */
typedef struct read_view {
  lsm_mem *mem, *imm;
  lsm_version *v;
  uint64_t seq;
} read_view;

/* A view of the latest commit (after catching up with the other
** instances) or of snap (the state it pinned). */
static int view_acquire(lsm_db *db, const lsm_snapshot *snap, read_view *rv) {
  if (snap == NULL) {
    int rc = catch_up(db);
    if (rc) return rc;
  }
  pthread_mutex_lock(&db->mu);
  rv->mem = snap ? snap->mem : db->mem;
  lsm_mem_ref(rv->mem);
  rv->imm = snap ? snap->imm : db->imm;
  if (rv->imm) lsm_mem_ref(rv->imm);
  rv->v = snap ? snap->v : db->vset.current;
  lsm_version_ref(rv->v);
  rv->seq = snap ? snap->seq : db->last_seq;
  pthread_mutex_unlock(&db->mu);
  return LSM_OK;
}

static void view_release(lsm_db *db, read_view *rv) {
  int queued;
  uint64_t gen;
  lsm_mem_unref(rv->mem);
  if (rv->imm) lsm_mem_unref(rv->imm);
  pthread_mutex_lock(&db->mu);
  queued = db->vset.n_obsolete;
  lsm_version_unref(&db->vset, rv->v);
  /* The last reader of an old version lets its files go: here, or (its
  ** slot now says it reads only newer generations) in the owner. */
  if (db->shm_live && lsm_vset_oldest_gen(&db->vset) > db->published_gen &&
      lsm_shm_manifest_gen(db->shm, &gen, NULL) == LSM_OK) {
    publish_slot(db, gen);
  }
  if (db->vset.n_obsolete > queued) lsm_db_collect_garbage(db);
  pthread_mutex_unlock(&db->mu);
}
static int mem_lookup(lsm_mem *m, lsm_slice key, uint64_t hash, uint64_t seq,
                      lsm_buffer *val, int *found) {
  int kind;
  lsm_slice v;
  *found = lsm_mem_get_hashed(m, key, hash, seq, &kind, &v);
  if (!*found) return LSM_OK;
  if (kind == LSM_KIND_DELETE) return LSM_NOTFOUND;
  return val ? lsm_buffer_set(val, v.p, v.n) : LSM_OK;
}

/* A lookup's bloom statistics, added to the db's counters once per lookup:
** an atomic add per table probed was the costliest line of lsm_get when
** an INSERT's uniqueness check passed a dozen level-0 filters. */
typedef struct probe_counts {
  uint64_t probes, negatives;
} probe_counts;

/* Look key up in table m, open as t (referenced by the caller), or, when t
** is NULL (not open yet), through the table cache. */
static int table_lookup(lsm_db *db, lsm_file_meta *m, lsm_sst *t, lsm_slice key,
                        uint64_t hash, uint64_t seq, lsm_buffer *val, int *found,
                        probe_counts *pc) {
  int kind = 0, negative = 0, rc = LSM_OK;
  lsm_buffer err = {0};
  lsm_sst *opened = NULL;
  if (t == NULL) {
    rc = lsm_tcache_get(db->vset.tables, m->number, m->size, &opened, &err);
    t = opened;
  }
  if (rc == LSM_OK) {
    int filtered = lsm_sst_has_filter(t);
    rc = lsm_sst_get_hashed(t, key, hash, seq, found, &kind, val, &negative, &err);
    if (filtered) {
      pc->probes++;
      pc->negatives += negative != 0;
    }
  }
  lsm_sst_unref(opened);
  if (rc) {
    pthread_mutex_lock(&db->mu);
    if (err.len) lsm_buffer_set(&db->errmsg, err.data, err.len);
    else lsm_db_error(db, rc, "lsm: read of table %06llu.sst failed", (unsigned long long)m->number);
    pthread_mutex_unlock(&db->mu);
    lsm_buffer_free(&err);
    return rc;
  }
  lsm_buffer_free(&err);
  if (*found && kind == LSM_KIND_DELETE) return LSM_NOTFOUND;
  return LSM_OK;
}

static int in_range(const lsm_file_meta *m, lsm_slice key) {
  return lsm_slice_cmp(key, lsm_ikey_user(lsm_slice_make(m->smallest.data, m->smallest.len))) >= 0 &&
         lsm_slice_cmp(key, lsm_ikey_user(lsm_slice_make(m->largest.data, m->largest.len))) <= 0;
}

/* The tables of v that may hold key, in the order to probe them: level 0
** newest first (its files may overlap), then at most one per deeper level.
** files has room for v->n_files[0] + LSM_MAX_LEVELS. */
static int candidates(const lsm_version *v, lsm_slice k, lsm_file_meta **files) {
  int n = 0, level, i;
  for (i = 0; i < v->n_files[0]; i++) {
    if (in_range(v->files[0][i], k)) files[n++] = v->files[0][i];
  }
  for (level = 1; level < LSM_MAX_LEVELS; level++) {
    lsm_file_meta **lf = v->files[level];
    int lo = 0, hi = v->n_files[level];
    while (lo < hi) {
      int mid = lo + (hi - lo) / 2;
      lsm_slice largest = lsm_ikey_user(lsm_slice_make(lf[mid]->largest.data,
                                                       lf[mid]->largest.len));
      if (lsm_slice_cmp(largest, k) < 0) lo = mid + 1;
      else hi = mid;
    }
    if (lo < v->n_files[level] && in_range(lf[lo], k)) files[n++] = lf[lo];
  }
  return n;
}

/* Tables a lookup probes without allocating its lists. */
#define GET_STACK_TABLES 32

/* The key's hash (lsm_bloom_hash) is computed once and serves the memtable
** filters and the filter of every table probed. */
int lsm_get(lsm_db *db, const lsm_snapshot *snap, const void *key, size_t key_len,
            lsm_buffer *val) {
  read_view rv;
  lsm_slice k = lsm_slice_make(key, key_len);
  lsm_file_meta *stack_files[GET_STACK_TABLES], **files = stack_files;
  lsm_sst *stack_open[GET_STACK_TABLES], **open = stack_open;
  uint64_t stack_numbers[GET_STACK_TABLES], *numbers = stack_numbers;
  uint64_t hash = lsm_bloom_hash(k);
  probe_counts pc = {0, 0};
  int found = 0, rc, n = 0, i;
  rc = view_acquire(db, snap, &rv);
  if (rc) return rc;
  rc = mem_lookup(rv.mem, k, hash, rv.seq, val, &found);
  if (!found && rv.imm) rc = mem_lookup(rv.imm, k, hash, rv.seq, val, &found);
  if (!found && rc == LSM_OK) {
    size_t cap = (size_t)rv.v->n_files[0] + LSM_MAX_LEVELS;
    if (cap > GET_STACK_TABLES) {
      files = malloc(cap * sizeof(*files));
      open = malloc(cap * sizeof(*open));
      numbers = malloc(cap * sizeof(*numbers));
      if (files == NULL || open == NULL || numbers == NULL) rc = LSM_NOMEM;
    }
  }
  if (!found && rc == LSM_OK) {
    /* One trip to the table cache for every table open already (a table
    ** not open yet is opened when its turn comes). */
    n = candidates(rv.v, k, files);
    for (i = 0; i < n; i++) numbers[i] = files[i]->number;
    lsm_tcache_lookup_many(db->vset.tables, numbers, n, open);
    /* Each filter probe is a cache miss (a line per table, random within
    ** its filter): ask for them all at once, so they overlap. */
    for (i = 0; i < n; i++) {
      if (open[i]) lsm_sst_prefetch_filter(open[i], hash);
    }
    for (i = 0; !found && rc == LSM_OK && i < n; i++) {
      rc = table_lookup(db, files[i], open[i], k, hash, rv.seq, val, &found, &pc);
    }
    for (i = 0; i < n; i++) lsm_sst_unref(open[i]);
  }
  if (pc.probes) {
    __atomic_add_fetch(&db->bloom_probes, pc.probes, __ATOMIC_RELAXED);
    if (pc.negatives) __atomic_add_fetch(&db->bloom_negatives, pc.negatives, __ATOMIC_RELAXED);
  }
  if (files != stack_files) {
    free(files);
    free(open);
    free(numbers);
  }
  view_release(db, &rv);
  if (rc == LSM_OK && !found) rc = LSM_NOTFOUND;
  return rc;
}

/* ---------------------------------------------------------------- snapshots */

int lsm_snapshot_new(lsm_db *db, lsm_snapshot **out) {
  lsm_snapshot *s = malloc(sizeof *s);
  read_view rv;
  int rc;
  *out = NULL;
  if (s == NULL) return LSM_NOMEM;
  rc = view_acquire(db, NULL, &rv);
  if (rc) {
    free(s);
    return rc;
  }
  s->seq = rv.seq;
  s->mem = rv.mem;
  s->imm = rv.imm;
  s->v = rv.v;
  pthread_mutex_lock(&db->mu);
  /* Appended at the tail: the list stays sorted by seq, oldest first (a
  ** later snapshot never has a lower seq: last_seq only grows). */
  s->next = &db->snapshots;
  s->prev = db->snapshots.prev;
  s->prev->next = s;
  db->snapshots.prev = s;
  pthread_mutex_unlock(&db->mu);
  *out = s;
  return LSM_OK;
}

void lsm_snapshot_free(lsm_db *db, lsm_snapshot *s) {
  read_view rv;
  if (s == NULL) return;
  pthread_mutex_lock(&db->mu);
  s->prev->next = s->next;
  s->next->prev = s->prev;
  pthread_mutex_unlock(&db->mu);
  rv.mem = s->mem;
  rv.imm = s->imm;
  rv.v = s->v;
  view_release(db, &rv);
  free(s);
}

/* ---------------------------------------------------------------- iterators */

int lsm_iter_new(lsm_db *db, const lsm_snapshot *snap, lsm_batch *overlay,
                 lsm_iter **out) {
  read_view rv;
  lsm_it **children;
  lsm_it *merged;
  int n = 0, cap, level, i;
  lsm_iter *it;
  int rc;
  *out = NULL;
  rc = view_acquire(db, snap, &rv);
  if (rc) return rc;
  cap = 3 + rv.v->n_files[0] + LSM_MAX_LEVELS;
  children = calloc((size_t)cap, sizeof(lsm_it *));
  if (children == NULL) goto nomem;
  if (overlay && (children[n++] = lsm_batch_iter_new(overlay)) == NULL) goto nomem;
  if ((children[n++] = lsm_mem_iter_new(rv.mem)) == NULL) goto nomem;
  if (rv.imm && (children[n++] = lsm_mem_iter_new(rv.imm)) == NULL) goto nomem;
  for (i = 0; i < rv.v->n_files[0]; i++) {
    lsm_file_meta *m = rv.v->files[0][i];
    children[n++] = lsm_tcache_iter_new(db->vset.tables, m->number, m->size, 1);
    if (children[n - 1] == NULL) goto nomem;
  }
  for (level = 1; level < LSM_MAX_LEVELS; level++) {
    if (rv.v->n_files[level] == 0) continue;
    if ((children[n++] = lsm_level_iter_new(rv.v, level, db->vset.tables)) == NULL) goto nomem;
  }
  merged = lsm_it_new_merging(children, n);   /* frees children on failure */
  children = NULL;
  n = 0;
  if (merged == NULL) goto nomem;
  /* From here the iterator owns the view's references, even on failure. */
  it = lsm_db_iter_new(db, merged, rv.seq, snap != NULL, overlay != NULL,
                       overlay ? lsm_batch_mark(overlay) : 0, rv.mem, rv.imm, rv.v);
  if (it == NULL) return LSM_NOMEM;
  *out = it;
  return LSM_OK;
nomem:
  for (i = 0; i < n; i++) lsm_it_free(children[i]);
  free(children);
  view_release(db, &rv);
  return LSM_NOMEM;
}

/* Called by dbiter.c when an iterator is freed. */
int lsm_iter_refresh(lsm_iter *it) {
  lsm_db *db = lsm_db_iter_db(it);
  int rc = catch_up(db), same;
  if (rc) return rc;
  pthread_mutex_lock(&db->mu);
  same = lsm_db_iter_rebase(it, db->mem, db->imm, db->vset.current, db->last_seq);
  pthread_mutex_unlock(&db->mu);
  return same ? LSM_OK : LSM_BUSY;
}

void lsm_db_iter_release(lsm_db *db, lsm_mem *mem, lsm_mem *imm, lsm_version *v) {
  read_view rv;
  rv.mem = mem;
  rv.imm = imm;
  rv.v = v;
  view_release(db, &rv);
}

/* Read-triggered compaction.  Level 0 is compacted when it holds
** l0_compaction_trigger tables, so after a burst of writes it keeps up to
** trigger - 1 of them for as long as nothing else is written; point reads
** hardly notice (a table's bloom filter answers for it), but every seek
** and scan positions an iterator in each of them: with two level-0 tables
** after a 1M-row fill, a seek merges five tables instead of three.
** LevelDB's answer is the seek-triggered compaction: a file that reads
** keep paying for is compacted once they have paid about what compacting
** it costs.  Here every positioning of an iterator charges its version
** one unit per level-0 table, and when the charge reaches the budget
** below the version asks for level 0 to be merged into level 1, which the
** background thread does when no level needs compaction on its own.  The
** budget is the break-even point: one iterator positioning in a table costs
** about 1 us of CPU (2k instructions and a few cache misses per table
** seek), merging costs about 1 us per KiB of input (the compaction
** thread's CPU over the bytes it wrote in a 10M-row fill), and the merge's
** input is level 0 plus the level-1 tables it overlaps (taken as all of
** level 1: level-0 tables of random keys span it).  A new version (every
** flush and compaction) starts a new charge.  Only iterator positionings
** count, never point reads; only with the background thread. */
#define L0_READ_BYTES_PER_UNIT 1024

static uint64_t l0_read_budget(const lsm_version *v) {
  uint64_t bytes = 0;
  int level, i;
  for (level = 0; level <= 1 && level < LSM_MAX_LEVELS; level++) {
    for (i = 0; i < v->n_files[level]; i++) bytes += v->files[level][i]->size;
  }
  return bytes / L0_READ_BYTES_PER_UNIT;
}

void lsm_db_charge_l0_read(lsm_db *db, lsm_version *v) {
  uint64_t n = (uint64_t)v->n_files[0], budget, after;
  if (n == 0 || !db->opts.background) return;
  after = __atomic_add_fetch(&v->l0_read_charge, n, __ATOMIC_RELAXED);
  budget = l0_read_budget(v);
  /* Exactly one positioning crosses the budget. */
  if (after - n >= budget || after < budget) return;
  __atomic_store_n(&v->l0_read_compact, 1, __ATOMIC_RELAXED);
  pthread_mutex_lock(&db->mu);
  pthread_cond_signal(&db->bg_cv);
  pthread_mutex_unlock(&db->mu);
}

/* ---------------------------------------------------------------- maintenance */

/* Switch the memtable if it holds anything and wait until every memtable
** switched so far is in a table (mutex held): flushed by this instance's
** owner thread, or by another instance's (a catch-up then drops it). */
static int flush_and_wait(lsm_db *db) {
  uint64_t target;
  int rc, took = 0, torn = 0, verified = 0;
  rc = become_writer(db);
  if (rc) return rc;
  rc = take_writer_role(db, &took, &verified);
  if (rc) {
    release_writer(db);
    return rc;
  }
  pthread_mutex_unlock(&db->mu);
  pthread_mutex_lock(&db->catchup_mu);
  rc = writer_catch_up(db, &torn);
  pthread_mutex_lock(&db->mu);
  if (rc == LSM_OK && (lsm_mem_count(db->mem) > 0 || torn)) rc = make_room_for_write(db, 1, &torn);
  target = db->imm_switched;
  pthread_mutex_unlock(&db->catchup_mu);
  if (took) give_back_writer(db, rc == LSM_OK);
  release_writer(db);
  while (rc == LSM_OK && db->imm_flushed < target) {
    if (db->bg_error) return sticky_error(db);
    if (!db->opts.background && may_maintain(db)) {
      maint_acquire(db, 1);
      rc = db->imm && db->imm_complete ? lsm_db_flush_imm(db) : LSM_OK;
      if (maint_release(db, rc)) rc = sticky_error(db);
      continue;
    }
    timed_wait(&db->state_cv, &db->mu, POLL_MS);
    if (!may_maintain(db)) {
      /* Another instance flushes: its manifest retires our imm. */
      pthread_mutex_unlock(&db->mu);
      rc = catch_up(db);
      pthread_mutex_lock(&db->mu);
    }
  }
  return rc;
}

int lsm_flush(lsm_db *db) {
  int rc;
  pthread_mutex_lock(&db->mu);
  db->errmsg.len = 0;
  rc = flush_and_wait(db);
  pthread_mutex_unlock(&db->mu);
  return rc;
}

int lsm_compact(lsm_db *db) {
  int rc;
  pthread_mutex_lock(&db->mu);
  db->errmsg.len = 0;
  try_become_owner(db);
  if (!db->is_owner) {
    rc = lsm_db_error(db, LSM_BUSY, "lsm: another process maintains %s (it compacts on its "
                      "own schedule)", db->dir);
    goto unlock;
  }
  rc = flush_and_wait(db);
  while (rc == LSM_OK && !may_maintain(db)) {
    /* Just became the owner: load the previous owner's last manifest. */
    pthread_mutex_unlock(&db->mu);
    pthread_mutex_lock(&db->catchup_mu);
    rc = catch_up_locked(db, 1, NULL);
    pthread_mutex_unlock(&db->catchup_mu);
    pthread_mutex_lock(&db->mu);
  }
  if (rc == LSM_OK) {
    /* The background thread finishes its step and then waits for us. */
    maint_acquire(db, 1);
    rc = db->bg_error ? db->bg_error : lsm_db_compact_all(db);
    if (maint_release(db, rc)) rc = sticky_error(db);
  }
unlock:
  pthread_mutex_unlock(&db->mu);
  return rc;
}

static int check_noop_record(void *ctx, lsm_slice payload) {
  return LSM_OK;
}

int lsm_check(lsm_db *db) {
  read_view rv;
  lsm_buffer err = {0};
  int rc, level, i;
  char *log_path;
  rc = view_acquire(db, NULL, &rv);
  if (rc) return rc;
  for (level = 0; level < LSM_MAX_LEVELS && rc == LSM_OK; level++) {
    lsm_file_meta **files = rv.v->files[level];
    for (i = 0; i < rv.v->n_files[level] && rc == LSM_OK; i++) {
      lsm_sst *t = NULL;
      rc = lsm_tcache_get(db->vset.tables, files[i]->number, files[i]->size, &t, &err);
      if (rc == LSM_OK) rc = lsm_sst_check(t, &err);
      lsm_sst_unref(t);
      if (rc == LSM_OK && level > 0 && i > 0) {
        /* Invariant (3) of version.h: disjoint, sorted user-key ranges. */
        lsm_slice prev = lsm_ikey_user(lsm_slice_make(files[i - 1]->largest.data, files[i - 1]->largest.len));
        lsm_slice cur = lsm_ikey_user(lsm_slice_make(files[i]->smallest.data, files[i]->smallest.len));
        if (lsm_slice_cmp(prev, cur) >= 0) {
          rc = LSM_CORRUPT;
          lsm_db_error(db, rc, "lsm: level %d files %06llu.sst and %06llu.sst overlap", level,
                       (unsigned long long)files[i - 1]->number, (unsigned long long)files[i]->number);
        }
      }
    }
  }
  if (rc == LSM_OK) {
    /* The active log: as the writer, so that no commit is appended to it,
    ** nor the log switched, while it is read. */
    pthread_mutex_lock(&db->mu);
    take_writer_token(db);
    log_path = lsm_file_path(db->dir, db->wal_number, "log");
    pthread_mutex_unlock(&db->mu);
    if (log_path == NULL) rc = LSM_NOMEM;
    else rc = lsm_wal_replay(db->env, log_path, check_noop_record, NULL, NULL, &err);
    free(log_path);
    pthread_mutex_lock(&db->mu);
    release_writer(db);
    pthread_mutex_unlock(&db->mu);
  }
  if (rc != LSM_OK && err.len) {
    pthread_mutex_lock(&db->mu);
    lsm_buffer_set(&db->errmsg, err.data, err.len);
    pthread_mutex_unlock(&db->mu);
  }
  lsm_buffer_free(&err);
  view_release(db, &rv);
  return rc;
}

int lsm_get_stats(lsm_db *db, lsm_stats *out) {
  int level, i;
  memset(out, 0, sizeof *out);
  pthread_mutex_lock(&db->mu);
  for (level = 0; level < LSM_MAX_LEVELS; level++) {
    lsm_version *v = db->vset.current;
    for (i = 0; i < v->n_files[level]; i++) {
      lsm_file_meta *m = v->files[level][i];
      out->level[level].files++;
      out->level[level].bytes += m->size;
      out->level[level].entries += m->entries;
      out->level[level].tombstones += m->tombstones;
    }
  }
  out->memtable_bytes = lsm_mem_bytes(db->mem) + (db->imm ? lsm_mem_bytes(db->imm) : 0);
  out->memtable_entries = lsm_mem_count(db->mem) + (db->imm ? lsm_mem_count(db->imm) : 0);
  out->bloom_probes = __atomic_load_n(&db->bloom_probes, __ATOMIC_RELAXED);
  out->bloom_negatives = __atomic_load_n(&db->bloom_negatives, __ATOMIC_RELAXED);
  out->user_bytes = db->user_bytes;
  out->wal_bytes = db->wal_bytes;
  out->flush_bytes = db->flush_bytes;
  out->compact_read_bytes = db->compact_read_bytes;
  out->compact_write_bytes = db->compact_write_bytes;
  out->flushes = db->flushes;
  out->compactions = db->compactions;
  out->last_seq = db->last_seq;
  out->slowdown_count = db->slowdown_count;
  out->slowdown_micros = db->slowdown_micros;
  out->stop_count = db->stop_count;
  out->stop_micros = db->stop_micros;
  pthread_mutex_unlock(&db->mu);
  if (db->vset.cache) {
    lsm_cache_stats cs;
    lsm_cache_get_stats(db->vset.cache, &cs);
    out->cache_hits = cs.hits;
    out->cache_misses = cs.misses;
    out->cache_bytes = cs.usage;
  }
  if (db->vset.tables) {
    lsm_tcache_stats ts;
    lsm_tcache_get_stats(db->vset.tables, &ts);
    out->open_tables = ts.open;
    out->open_table_bytes = ts.bytes;
    out->table_opens = ts.opens;
  }
  return LSM_OK;
}
