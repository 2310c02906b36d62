/*
** db.c — the database object: open and recovery, commits, point reads,
** snapshots, iterator construction, the background thread, maintenance
** calls and statistics.
**
** Directory contents:
**   LOCK          flock()ed by the open instance
**   MANIFEST      live tables per level + counters (version.c)
**   NNNNNN.log    write-ahead logs of the active and immutable memtables
**   NNNNNN.sst    tables (sst.c)
** All numbers come from one counter (vset.next_file_number).
**
** Open (recovery):
**   1. lock; read MANIFEST (absent: new database);
**   2. replay every log numbered >= log_number, oldest first, into a fresh
**      memtable (a torn tail ends a log cleanly; mid-log corruption fails);
**   3. flush that memtable to a level-0 table and write a manifest naming a
**      new log number (so no log is ever appended to after a crash);
**   4. create the new log; delete obsolete logs and orphan tables;
**   5. start the background thread (options.background).
**
** Commit (lsm_write), in steps kept apart (db_impl.h: the writer token):
**   become_writer         wait for the writer token (mutex held);
**   make_room_for_write   when the memtable is full: switch to a fresh one
**                         and a new log, hand the full one to maintenance
**                         as imm; sleep (level 0 at the slowdown trigger) or
**                         wait (imm still being flushed, level 0 at the stop
**                         trigger);
**   append_to_log         encode the batch with sequence numbers
**                         last_seq+1..., append it to the log as one record
**                         (fsync if asked) — mutex released;
**   insert_into_memtable  decode the very bytes that were logged (the replay
**                         path) into the memtable — mutex released;
**   publish_commit        advance last_seq (mutex held), release the token.
** A failure after the log append latches bg_error (the log may end in a
** torn record, or the memtable lacks a logged commit).
**
** Maintenance (db_impl.h: the maintenance token): the background thread
** (bg_main) loops: flush imm if there is one, else run one compaction if a
** level scores >= 1 (compact.c), else sleep on bg_cv.  A failed step
** latches bg_error and the thread does no more work.  lsm_close sets
** shutting_down and joins it: the step in flight finishes (its table and
** manifest are complete), nothing new starts; whatever is still in mem or
** imm is in their logs, which the next open replays.
**
** With options.background = 0 there is no thread: the writer that
** switched the memtable flushes it and runs compactions itself, under the
** same token, before its commit returns — the same calls in the same
** order every run, which the fault-injection loops rely on.
*/
#include "db_impl.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void lsm_options_init(lsm_options *o) {
  memset(o, 0, sizeof *o);
  o->memtable_size = 4u << 20;
  o->bloom_bits = 10;
  o->block_size = 4096;
  o->sync_mode = LSM_SYNC_NORMAL;
  o->l0_compaction_trigger = 4;
  o->l1_target_bytes = 10u << 20;
  o->level_multiplier = 10;
  o->target_file_size = 2u << 20;
  o->cache_size = 8u << 20;
  o->l0_slowdown_trigger = 8;
  o->l0_stop_trigger = 12;
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

uint64_t lsm_db_smallest_snapshot(lsm_db *db) {
  if (db->snapshots.next != &db->snapshots) return db->snapshots.next->seq;
  return db->last_seq;
}

uint64_t lsm_db_new_file_number(lsm_db *db) {
  return lsm_vset_new_file_number(&db->vset);
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
} replay_ctx;

static int replay_record(void *arg, lsm_slice payload) {
  replay_ctx *c = arg;
  uint64_t seq_base;
  uint32_t n_ops;
  int rc = lsm_batch_replay(payload, c->mem, &seq_base, &n_ops);
  if (rc) return rc;
  if (n_ops > 0) {
    uint64_t last = seq_base + n_ops - 1;
    if (seq_base == 0 || last >= LSM_SEQ_OVERLAY) return LSM_CORRUPT;
    if (last > c->db->last_seq) c->db->last_seq = last;
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
  free(logs);
  return ensure_message(db, rc, "log replay");
}

/* Remove logs older than the current one and tables no version names. */
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

void lsm_db_delete_old_logs(lsm_db *db, uint64_t log_number) {
  char **names = NULL;
  int n = 0, i;
  if (db->env->list(db->env, db->dir, &names, &n) != LSM_OK) return;
  for (i = 0; i < n; i++) {
    uint64_t number;
    if (parse_file_name(names[i], "log", &number) && number < log_number) {
      char *path = lsm_file_path(db->dir, number, "log");
      if (path) db->env->remove(db->env, path);
      free(path);
    }
  }
  lsm_env_free_list(names, n);
}

static int open_new_log(lsm_db *db) {
  int rc = create_log(db, db->wal_number, &db->wal);
  return rc ? log_error(db, rc, db->wal_number) : LSM_OK;
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
  db->last_seq = db->vset.last_seq;

  rc = lsm_mem_new(&db->mem);
  if (rc == LSM_OK) rc = replay_logs(db, names, n_names);

  /* Step 3: whatever was replayed goes to a table; the manifest then names
  ** a brand-new log so that no log is appended to after a torn tail. */
  if (rc == LSM_OK) {
    db->wal_number = lsm_vset_new_file_number(&db->vset);
    db->last_log_number = db->wal_number;
    if (lsm_mem_count(db->mem) > 0) {
      db->imm = db->mem;
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
  return rc;
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
** token held). */
static int run_inline_maintenance(lsm_db *db, int compact) {
  int rc;
  maint_acquire(db, 0);
  rc = db->imm ? lsm_db_flush_imm(db) : LSM_OK;
  if (rc == LSM_OK && compact) rc = lsm_db_maybe_compact(db);
  if (maint_release(db, rc)) return sticky_error(db);
  return LSM_OK;
}

/* ---------------------------------------------------------------- background thread */

/* Is there a maintenance step for the background thread (mutex held)? */
static int bg_has_work(lsm_db *db) {
  if (db->bg_error || db->maint_busy || db->maint_waiters > 0) return 0;
  return db->imm != NULL || lsm_db_needs_compaction(db);
}

/* Should the background thread create the next log now (mutex held)?
** Once per memtable switch, so a failure is not retried in a loop (the
** writer then creates the log itself and reports any error). */
static int bg_wants_next_log(lsm_db *db) {
  return db->next_wal == NULL && !db->bg_error && db->next_wal_for != db->imm_switched;
}

/* Create the log the next memtable switch will use (mutex held, released
** meanwhile): the writer's switch then costs only the old log's fsync. */
static void prepare_next_log(lsm_db *db) {
  uint64_t number = lsm_db_new_file_number(db);
  lsm_wal *w = NULL;
  int rc;
  db->next_wal_for = db->imm_switched;
  db->last_log_number = number;
  pthread_mutex_unlock(&db->mu);
  rc = create_log(db, number, &w);
  if (rc) {
    /* Best effort: leave no half-made log behind. */
    char *path = lsm_file_path(db->dir, number, "log");
    if (path) db->env->remove(db->env, path);
    free(path);
  }
  pthread_mutex_lock(&db->mu);
  if (rc == LSM_OK && number != db->last_log_number) {
    /* The writer switched meanwhile, to a log it numbered itself: logs
    ** must be used in the order of their numbers (replay follows them), so
    ** this older one is dropped. */
    char *path = lsm_file_path(db->dir, number, "log");
    pthread_mutex_unlock(&db->mu);
    lsm_wal_close(w);
    if (path) db->env->remove(db->env, path);
    free(path);
    pthread_mutex_lock(&db->mu);
    return;
  }
  if (rc == LSM_OK) {
    db->next_wal = w;
    db->next_wal_number = number;
  }
}

static void *bg_main(void *arg) {
  lsm_db *db = arg;
  pthread_mutex_lock(&db->mu);
  while (!db->shutting_down) {
    int rc;
    if (bg_has_work(db) && db->imm != NULL) {
      /* A waiting writer needs imm gone before anything else. */
      maint_acquire(db, 0);
      rc = lsm_db_flush_imm(db);
      maint_release(db, rc);
    } else if (bg_wants_next_log(db)) {
      prepare_next_log(db);
    } else if (bg_has_work(db)) {
      maint_acquire(db, 0);
      rc = lsm_db_compact_once(db);
      maint_release(db, rc);
    } else {
      pthread_cond_wait(&db->bg_cv, &db->mu);
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
  if (db->next_wal) {
    char *path = lsm_file_path(db->dir, db->next_wal_number, "log");
    lsm_wal_close(db->next_wal);
    db->next_wal = NULL;
    if (path) db->env->remove(db->env, path);
    free(path);
  }
}

/* ---------------------------------------------------------------- open/close */

static void db_free(lsm_db *db) {
  int i;
  if (db->wal) lsm_wal_close(db->wal);
  if (db->next_wal) lsm_wal_close(db->next_wal);
  if (db->mem) lsm_mem_unref(db->mem);
  if (db->imm) lsm_mem_unref(db->imm);
  lsm_vset_free(&db->vset);
  /* After the tables (the vset), which hold cache handles only while read. */
  if (db->vset.cache) lsm_cache_free(db->vset.cache);
  if (db->lock) db->env->unlock(db->env, db->lock);
  for (i = 0; i < LSM_MAX_LEVELS; i++) lsm_buffer_free(&db->compact_pointer[i]);
  lsm_buffer_free(&db->write_buf);
  lsm_buffer_free(&db->errmsg);
  lsm_buffer_free(&db->bg_errmsg);
  lsm_buffer_free(&db->maint_msg);
  if (db->sync_objects) {
    pthread_cond_destroy(&db->writer_cv);
    pthread_cond_destroy(&db->bg_cv);
    pthread_cond_destroy(&db->state_cv);
    pthread_mutex_destroy(&db->mu);
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
         o->level_multiplier >= 2 && o->l1_target_bytes > 0 && o->target_file_size > 0;
}

static int init_sync_objects(lsm_db *db) {
  if (pthread_mutex_init(&db->mu, NULL) != 0) return LSM_NOMEM;
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
  pthread_mutex_destroy(&db->mu);
  return LSM_NOMEM;
}

int lsm_open(const char *dir, const lsm_options *opts, lsm_db **out) {
  lsm_db *db;
  char *lock_path = NULL;
  int rc;
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
  db->next_wal_for = UINT64_MAX;   /* the background thread prepares a log at once */
  lsm_vset_init(&db->vset, db->env, dir, db->opts.sync_mode != LSM_SYNC_OFF);
  *out = db;
  if (db->dir == NULL || db->vset.dir == NULL) return LSM_NOMEM;
  if (db->opts.cache_size > 0) {
    db->vset.cache = lsm_cache_new(db->opts.cache_size);
    if (db->vset.cache == NULL) return LSM_NOMEM;
  }
  if (!check_options(&db->opts)) {
    return lsm_db_error(db, LSM_MISUSE, "lsm: invalid options for %s", dir);
  }

  lock_path = join_path(dir, "LOCK");
  if (lock_path == NULL) return LSM_NOMEM;
  rc = db->env->lock(db->env, lock_path, &db->lock);
  if (rc == LSM_NOTFOUND && db->opts.create_if_missing) {
    /* No directory yet: create it (and missing parents) durably. */
    rc = make_dirs(db->env, dir, db->opts.sync_mode != LSM_SYNC_OFF);
    if (rc) {
      free(lock_path);
      return lsm_db_error(db, rc == LSM_NOTFOUND ? LSM_IOERR : rc,
                          "lsm: cannot create directory %s", dir);
    }
    rc = db->env->lock(db->env, lock_path, &db->lock);
  }
  free(lock_path);
  if (rc == LSM_BUSY) {
    return lsm_db_error(db, rc, "lsm: database %s is in use by another instance", dir);
  }
  if (rc == LSM_NOTFOUND) {
    return lsm_db_error(db, rc, "lsm: no database in %s", dir);
  }
  if (rc) return lsm_db_error(db, rc, "lsm: cannot lock %s", dir);
  rc = recover(db);
  if (rc == LSM_OK && db->opts.background) rc = start_bg_thread(db);
  return rc;
}

int lsm_close(lsm_db *db) {
  int rc = LSM_OK;
  if (db == NULL) return LSM_OK;
  stop_bg_thread(db);
  if (db->wal) {
    rc = lsm_wal_close(db->wal);
    db->wal = NULL;
  }
  db_free(db);
  return rc;
}

int lsm_destroy(const char *dir, lsm_env *env) {
  char **names = NULL, **paths = NULL;
  int n = 0, n_paths = 0, i, rc;
  lsm_file *lock = NULL;
  char *lock_path;
  if (env == NULL) env = lsm_env_default();
  lock_path = join_path(dir, "LOCK");
  if (lock_path == NULL) return LSM_NOMEM;
  rc = env->lock(env, lock_path, &lock);
  if (rc) {
    free(lock_path);
    return rc;
  }
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
  env->remove(env, lock_path);
  env->unlock(env, lock);
  free(lock_path);
  if (rc == LSM_OK) rc = env->rmdir(env, dir);
  return rc;
}

/* ---------------------------------------------------------------- writes */

/* Step 1: wait for the writer token (mutex held).  Fails with the sticky
** error, without the token, once a failure has latched one. */
static int become_writer(lsm_db *db) {
  while (db->writer_busy) pthread_cond_wait(&db->writer_cv, &db->mu);
  if (db->bg_error) return sticky_error(db);
  db->writer_busy = 1;
  return LSM_OK;
}

static void release_writer(lsm_db *db) {
  db->writer_busy = 0;
  pthread_cond_signal(&db->writer_cv);
}

/* Turn mem into imm and start a fresh memtable with a new log (mutex and
** writer token held; released while the log is created).  imm is NULL. */
static int switch_memtable(lsm_db *db) {
  lsm_wal *old_wal = db->wal, *new_wal = db->next_wal;
  uint64_t number = new_wal ? db->next_wal_number : lsm_db_new_file_number(db);
  lsm_mem *fresh = NULL;
  int rc;
  /* The background thread prepares the next log ahead (prepare_next_log);
  ** a log taken from it is already created and synced, and is the newest
  ** log number handed out. */
  assert(new_wal == NULL || number == db->last_log_number);
  db->last_log_number = number;
  db->next_wal = NULL;
  pthread_mutex_unlock(&db->mu);
  /* sync=normal: the old log must be durable before the new one receives a
  ** record.  imm is flushed later, beside new commits; were the old log's
  ** tail lost in a power loss while the new log's records survived, the
  ** database would reopen with a hole in its history, not at a prefix (and
  ** a commit made with lsm_write(sync=1) in the new log would sit after
  ** lost ones).  sync=full has synced every record already; sync=off
  ** promises nothing across a power loss. */
  rc = db->opts.sync_mode == LSM_SYNC_NORMAL ? lsm_wal_sync(old_wal) : LSM_OK;
  if (rc) {
    lsm_wal_close(new_wal);   /* a prepared log stays empty: replay skips it */
    pthread_mutex_lock(&db->mu);
    lsm_db_error(db, rc, "lsm: cannot sync log %06llu.log in %s",
                 (unsigned long long)db->wal_number, db->dir);
    latch_error(db, rc, NULL);
    return rc;
  }
  rc = lsm_mem_new(&fresh);
  if (rc == LSM_OK && new_wal == NULL) rc = create_log(db, number, &new_wal);
  /* Every record of the old log is in mem, which becomes imm: the flush
  ** makes it durable in a table before a manifest retires that log. */
  if (rc == LSM_OK) lsm_wal_close(old_wal);
  pthread_mutex_lock(&db->mu);
  if (rc) {
    if (fresh) lsm_mem_unref(fresh);
    lsm_wal_close(new_wal);
    log_error(db, rc, number);
    latch_error(db, rc, NULL);
    return rc;
  }
  db->wal = new_wal;
  db->wal_number = number;
  db->imm = db->mem;
  db->mem = fresh;
  db->imm_switched++;
  return LSM_OK;
}

/* Wait on state_cv for maintenance to progress, counting the time as a
** stop (mutex held).  *stopped: this write was already counted. */
static void stall_wait(lsm_db *db, int *stopped) {
  uint64_t t0 = now_micros();
  if (!*stopped) db->stop_count++;
  *stopped = 1;
  pthread_cond_wait(&db->state_cv, &db->mu);
  db->stop_micros += now_micros() - t0;
}

/* Step 2: make sure mem has room for this commit (mutex and writer token
** held).  force: switch even if mem is not full (lsm_flush; mem is not
** empty).  See the top of the file; every wait re-checks bg_error. */
static int make_room_for_write(lsm_db *db, int force) {
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
      pthread_mutex_unlock(&db->mu);
      nanosleep(&ts, NULL);
      pthread_mutex_lock(&db->mu);
      db->slowdown_count++;
      db->slowdown_micros += now_micros() - t0;
      allow_delay = 0;
      continue;
    }
    /* An empty memtable always has room: its arena alone may exceed a tiny
    ** memtable_size, and switching it would flush nothing. */
    if (!force && (lsm_mem_bytes(db->mem) < db->opts.memtable_size ||
                   lsm_mem_count(db->mem) == 0)) {
      return LSM_OK;
    }
    if (db->imm != NULL) {
      /* The previous memtable is still being flushed. */
      if (!db->opts.background) {
        rc = run_inline_maintenance(db, 0);
        if (rc) return rc;
      } else {
        stall_wait(db, &stopped);
      }
      continue;
    }
    if (db->opts.background && l0 >= db->opts.l0_stop_trigger) {
      stall_wait(db, &stopped);
      continue;
    }
    rc = switch_memtable(db);
    if (rc) return rc;
    if (!db->opts.background) return run_inline_maintenance(db, 1);
    pthread_cond_signal(&db->bg_cv);
    return LSM_OK;
  }
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
** invariant (2). */
static void publish_commit(lsm_db *db, uint64_t last, uint64_t user_bytes) {
  db->wal_bytes += db->write_buf.len + LSM_WAL_RECORD_HEADER_SIZE;
  db->user_bytes += user_bytes;
  db->last_seq = last;
}

int lsm_write(lsm_db *db, lsm_batch *b, int sync) {
  uint64_t seq_base;
  uint32_t n_ops = 0;
  int rc;
  if (lsm_batch_count(b) == 0) return LSM_OK;
  pthread_mutex_lock(&db->mu);
  rc = become_writer(db);
  if (rc) goto unlock;
  rc = make_room_for_write(db, 0);
  if (rc) goto release;
  /* last_seq changes only under the writer token: stable from here. */
  seq_base = db->last_seq + 1;
  pthread_mutex_unlock(&db->mu);

  db->write_buf.len = 0;
  rc = lsm_batch_encode(b, seq_base, &db->write_buf, &n_ops);
  if (rc == LSM_OK && seq_base + n_ops >= LSM_SEQ_OVERLAY) rc = LSM_READONLY;
  if (rc) {
    pthread_mutex_lock(&db->mu);
    if (rc == LSM_READONLY) {
      lsm_db_error(db, rc, "lsm: sequence numbers exhausted in %s", db->dir);
    }
    goto release;
  }
  rc = append_to_log(db, sync);
  if (rc) {
    pthread_mutex_lock(&db->mu);
    /* The log may now end in a torn record: accept no more writes to it. */
    lsm_db_error(db, rc, "lsm: write to log %06llu.log in %s failed",
                 (unsigned long long)db->wal_number, db->dir);
    latch_error(db, rc, NULL);
    goto release;
  }
  rc = insert_into_memtable(db);
  pthread_mutex_lock(&db->mu);
  if (rc) {
    /* Logged but not in the memtable: reads would miss a commit. */
    db->wal_bytes += db->write_buf.len + LSM_WAL_RECORD_HEADER_SIZE;
    lsm_db_error(db, rc, "lsm: memtable insert failed after logging in %s", db->dir);
    latch_error(db, rc, NULL);
    goto release;
  }
  publish_commit(db, seq_base + n_ops - 1, lsm_batch_user_bytes(b));
release:
  release_writer(db);
unlock:
  if (rc && rc != LSM_NOMEM && db->errmsg.len == 0) ensure_message(db, rc, "write");
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

static void view_acquire(lsm_db *db, const lsm_snapshot *snap, read_view *rv) {
  pthread_mutex_lock(&db->mu);
  rv->mem = db->mem;
  lsm_mem_ref(rv->mem);
  rv->imm = db->imm;
  if (rv->imm) lsm_mem_ref(rv->imm);
  rv->v = db->vset.current;
  lsm_version_ref(rv->v);
  rv->seq = snap ? snap->seq : db->last_seq;
  pthread_mutex_unlock(&db->mu);
}

static void view_release(lsm_db *db, read_view *rv) {
  lsm_mem_unref(rv->mem);
  if (rv->imm) lsm_mem_unref(rv->imm);
  pthread_mutex_lock(&db->mu);
  lsm_version_unref(&db->vset, rv->v);
  pthread_mutex_unlock(&db->mu);
}

static int mem_lookup(lsm_mem *m, lsm_slice key, uint64_t seq, lsm_buffer *val,
                      int *found) {
  int kind;
  lsm_slice v;
  *found = lsm_mem_get(m, key, seq, &kind, &v);
  if (!*found) return LSM_OK;
  if (kind == LSM_KIND_DELETE) return LSM_NOTFOUND;
  return val ? lsm_buffer_set(val, v.p, v.n) : LSM_OK;
}

static int table_lookup(lsm_db *db, lsm_file_meta *m, lsm_slice key, uint64_t seq,
                        lsm_buffer *val, int *found) {
  int kind = 0, negative = 0, rc;
  lsm_buffer err = {0};
  int filtered = lsm_sst_has_filter(m->table);
  rc = lsm_sst_get(m->table, key, seq, found, &kind, val, &negative, &err);
  if (filtered) {
    __atomic_add_fetch(&db->bloom_probes, 1, __ATOMIC_RELAXED);
    if (negative) __atomic_add_fetch(&db->bloom_negatives, 1, __ATOMIC_RELAXED);
  }
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

int lsm_get(lsm_db *db, const lsm_snapshot *snap, const void *key, size_t key_len,
            lsm_buffer *val) {
  read_view rv;
  lsm_slice k = lsm_slice_make(key, key_len);
  int found = 0, rc = LSM_OK, level, i;
  view_acquire(db, snap, &rv);
  rc = mem_lookup(rv.mem, k, rv.seq, val, &found);
  if (!found && rv.imm) rc = mem_lookup(rv.imm, k, rv.seq, val, &found);
  /* Level 0 newest first: files may overlap. */
  for (i = 0; !found && rc == LSM_OK && i < rv.v->n_files[0]; i++) {
    lsm_file_meta *m = rv.v->files[0][i];
    if (in_range(m, k)) rc = table_lookup(db, m, k, rv.seq, val, &found);
  }
  /* Deeper levels: at most one file per level can hold the key. */
  for (level = 1; !found && rc == LSM_OK && level < LSM_MAX_LEVELS; level++) {
    int lo = 0, hi = rv.v->n_files[level];
    lsm_file_meta **files = rv.v->files[level];
    while (lo < hi) {
      int mid = lo + (hi - lo) / 2;
      lsm_slice largest = lsm_ikey_user(lsm_slice_make(files[mid]->largest.data,
                                                       files[mid]->largest.len));
      if (lsm_slice_cmp(largest, k) < 0) lo = mid + 1;
      else hi = mid;
    }
    if (lo < rv.v->n_files[level] && in_range(files[lo], k)) {
      rc = table_lookup(db, files[lo], k, rv.seq, val, &found);
    }
  }
  view_release(db, &rv);
  if (rc == LSM_OK && !found) rc = LSM_NOTFOUND;
  return rc;
}

/* ---------------------------------------------------------------- snapshots */

int lsm_snapshot_new(lsm_db *db, lsm_snapshot **out) {
  lsm_snapshot *s = malloc(sizeof *s);
  if (s == NULL) return LSM_NOMEM;
  pthread_mutex_lock(&db->mu);
  s->seq = db->last_seq;
  /* Appended at the tail: the list stays sorted by seq, oldest first. */
  s->next = &db->snapshots;
  s->prev = db->snapshots.prev;
  s->prev->next = s;
  db->snapshots.prev = s;
  pthread_mutex_unlock(&db->mu);
  *out = s;
  return LSM_OK;
}

void lsm_snapshot_free(lsm_db *db, lsm_snapshot *s) {
  if (s == NULL) return;
  pthread_mutex_lock(&db->mu);
  s->prev->next = s->next;
  s->next->prev = s->prev;
  pthread_mutex_unlock(&db->mu);
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
  *out = NULL;
  view_acquire(db, snap, &rv);
  cap = 3 + rv.v->n_files[0] + LSM_MAX_LEVELS;
  children = calloc((size_t)cap, sizeof(lsm_it *));
  if (children == NULL) goto nomem;
  if (overlay && (children[n++] = lsm_batch_iter_new(overlay)) == NULL) goto nomem;
  if ((children[n++] = lsm_mem_iter_new(rv.mem)) == NULL) goto nomem;
  if (rv.imm && (children[n++] = lsm_mem_iter_new(rv.imm)) == NULL) goto nomem;
  for (i = 0; i < rv.v->n_files[0]; i++) {
    if ((children[n++] = lsm_sst_iter_new(rv.v->files[0][i]->table)) == NULL) goto nomem;
  }
  for (level = 1; level < LSM_MAX_LEVELS; level++) {
    if (rv.v->n_files[level] == 0) continue;
    if ((children[n++] = lsm_level_iter_new(rv.v, level)) == NULL) goto nomem;
  }
  merged = lsm_it_new_merging(children, n);   /* frees children on failure */
  children = NULL;
  n = 0;
  if (merged == NULL) goto nomem;
  /* From here the iterator owns the view's references, even on failure. */
  it = lsm_db_iter_new(db, merged, rv.seq, overlay != NULL,
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
void lsm_db_iter_release(lsm_db *db, lsm_mem *mem, lsm_mem *imm, lsm_version *v) {
  read_view rv;
  rv.mem = mem;
  rv.imm = imm;
  rv.v = v;
  view_release(db, &rv);
}

/* ---------------------------------------------------------------- maintenance */

/* Switch the memtable if it holds anything and wait until every memtable
** switched so far is in a table (mutex held). */
static int flush_and_wait(lsm_db *db) {
  uint64_t target;
  int rc = become_writer(db);
  if (rc) return rc;
  if (lsm_mem_count(db->mem) > 0) rc = make_room_for_write(db, 1);
  target = db->imm_switched;
  release_writer(db);
  while (rc == LSM_OK && db->imm_flushed < target) {
    if (db->bg_error) return sticky_error(db);
    pthread_cond_wait(&db->state_cv, &db->mu);
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
  rc = flush_and_wait(db);
  if (rc == LSM_OK) {
    /* The background thread finishes its step and then waits for us. */
    maint_acquire(db, 1);
    rc = db->bg_error ? db->bg_error : lsm_db_compact_all(db);
    if (maint_release(db, rc)) rc = sticky_error(db);
  }
  pthread_mutex_unlock(&db->mu);
  return rc;
}

static int check_noop_record(void *ctx, lsm_slice payload) {
  return LSM_OK;
}

int lsm_check(lsm_db *db) {
  read_view rv;
  lsm_buffer err = {0};
  int rc = LSM_OK, level, i;
  char *log_path;
  view_acquire(db, NULL, &rv);
  for (level = 0; level < LSM_MAX_LEVELS && rc == LSM_OK; level++) {
    lsm_file_meta **files = rv.v->files[level];
    for (i = 0; i < rv.v->n_files[level] && rc == LSM_OK; i++) {
      rc = lsm_sst_check(files[i]->table, &err);
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
    pthread_mutex_lock(&db->mu);
    log_path = lsm_file_path(db->dir, db->wal_number, "log");
    if (log_path == NULL) rc = LSM_NOMEM;
    else rc = lsm_wal_replay(db->env, log_path, check_noop_record, NULL, NULL, &err);
    free(log_path);
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
  return LSM_OK;
}
