/*
** db.c — the database object: open and recovery, commits, point reads,
** snapshots, iterator construction, maintenance calls and statistics.
**
** Directory contents:
**   LOCK          flock()ed by the open instance
**   MANIFEST      live tables per level + counters (version.c)
**   NNNNNN.log    write-ahead log of the active memtable (wal.c)
**   NNNNNN.sst    tables (sst.c)
** All numbers come from one counter (vset.next_file_number).
**
** Open (recovery):
**   1. lock; read MANIFEST (absent: new database);
**   2. replay every log numbered >= log_number, oldest first, into a fresh
**      memtable (a torn tail ends a log cleanly; mid-log corruption fails);
**   3. flush that memtable to a level-0 table and write a manifest naming a
**      new log number (so no log is ever appended to after a crash);
**   4. create the new log; delete obsolete logs and orphan tables.
**
** Commit (lsm_write), under the mutex:
**   make room (switch + flush + compact when the memtable is full); encode
**   the batch with sequence numbers last_seq+1...; append it to the log as
**   one record (fsync if asked); insert it into the memtable by decoding the
**   very bytes that were logged (the replay path); advance last_seq.
** See db_impl.h for the invariants.
*/
#include "db_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
  o->create_if_missing = 1;
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
** durable commit in a log the directory does not name. */
static int create_log(lsm_db *db, uint64_t number, lsm_wal **out) {
  char *path = lsm_file_path(db->dir, number, "log");
  int rc;
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
  if (rc) lsm_db_error(db, rc, "lsm: cannot create log %s", path);
  free(path);
  return rc;
}

void lsm_db_delete_old_logs(lsm_db *db) {
  char **names = NULL;
  int n = 0, i;
  if (db->env->list(db->env, db->dir, &names, &n) != LSM_OK) return;
  for (i = 0; i < n; i++) {
    uint64_t number;
    if (parse_file_name(names[i], "log", &number) && number < db->wal_number) {
      char *path = lsm_file_path(db->dir, number, "log");
      if (path) db->env->remove(db->env, path);
      free(path);
    }
  }
  lsm_env_free_list(names, n);
}

static int open_new_log(lsm_db *db) {
  return create_log(db, db->wal_number, &db->wal);
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
    if (lsm_mem_count(db->mem) > 0) {
      db->imm = db->mem;
      db->mem = NULL;
      rc = lsm_mem_new(&db->mem);
      if (rc == LSM_OK) rc = lsm_db_flush_imm(db);
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

/* ---------------------------------------------------------------- open/close */

static void db_free(lsm_db *db) {
  int i;
  if (db->wal) lsm_wal_close(db->wal);
  if (db->mem) lsm_mem_unref(db->mem);
  if (db->imm) lsm_mem_unref(db->imm);
  lsm_vset_free(&db->vset);
  /* After the tables (the vset), which hold cache handles only while read. */
  if (db->vset.cache) lsm_cache_free(db->vset.cache);
  if (db->lock) db->env->unlock(db->env, db->lock);
  for (i = 0; i < LSM_MAX_LEVELS; i++) lsm_buffer_free(&db->compact_pointer[i]);
  lsm_buffer_free(&db->write_buf);
  lsm_buffer_free(&db->errmsg);
  pthread_mutex_destroy(&db->mu);
  free(db->dir);
  free(db);
}

static int check_options(const lsm_options *o) {
  return o->memtable_size >= 1 && o->block_size >= 256 && o->bloom_bits >= 0 &&
         o->bloom_bits <= 64 && o->sync_mode >= LSM_SYNC_OFF &&
         o->sync_mode <= LSM_SYNC_FULL && o->l0_compaction_trigger >= 2 &&
         o->level_multiplier >= 2 && o->l1_target_bytes > 0 && o->target_file_size > 0;
}

int lsm_open(const char *dir, const lsm_options *opts, lsm_db **out) {
  lsm_db *db;
  char *lock_path = NULL;
  int rc;
  *out = NULL;
  db = calloc(1, sizeof *db);
  if (db == NULL) return LSM_NOMEM;
  if (opts) {
    db->opts = *opts;
  } else {
    lsm_options_init(&db->opts);
  }
  db->env = db->opts.env ? db->opts.env : lsm_env_default();
  db->dir = strdup(dir);
  pthread_mutex_init(&db->mu, NULL);
  db->snapshots.next = db->snapshots.prev = &db->snapshots;
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
  return recover(db);
}

int lsm_close(lsm_db *db) {
  int rc = LSM_OK;
  if (db == NULL) return LSM_OK;
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

/* Turn the full memtable into imm, start a new log, flush imm. */
static int switch_and_flush(lsm_db *db) {
  uint64_t new_number = lsm_vset_new_file_number(&db->vset);
  lsm_wal *old_wal = db->wal;
  lsm_mem *fresh = NULL;
  int rc;
  if (db->imm) {
    /* A flush that failed earlier left imm behind: finish it first. */
    rc = lsm_db_flush_imm(db);
    if (rc) return rc;
  }
  rc = lsm_mem_new(&fresh);
  if (rc) return rc;
  rc = create_log(db, new_number, &db->wal);
  if (rc) {
    db->wal = old_wal;
    lsm_mem_unref(fresh);
    return rc;
  }
  /* The old log's records are all in imm, which the flush makes durable in a
  ** table before the manifest stops naming that log. */
  lsm_wal_close(old_wal);
  db->imm = db->mem;
  db->mem = fresh;
  db->wal_number = new_number;
  rc = lsm_db_flush_imm(db);
  if (rc == LSM_OK) rc = lsm_db_maybe_compact(db);
  return rc;
}

int lsm_write(lsm_db *db, lsm_batch *b, int sync) {
  uint64_t seq_base;
  uint32_t n_ops = 0;
  int rc;
  if (lsm_batch_count(b) == 0) return LSM_OK;
  pthread_mutex_lock(&db->mu);
  if (db->bg_error) {
    rc = db->bg_error;
    goto done;
  }
  if (lsm_mem_bytes(db->mem) >= db->opts.memtable_size) {
    rc = switch_and_flush(db);
    if (rc) {
      db->bg_error = rc;
      goto done;
    }
  }
  seq_base = db->last_seq + 1;
  db->write_buf.len = 0;
  rc = lsm_batch_encode(b, seq_base, &db->write_buf, &n_ops);
  if (rc) goto done;
  if (seq_base + n_ops >= LSM_SEQ_OVERLAY) {
    rc = lsm_db_error(db, LSM_READONLY, "lsm: sequence numbers exhausted in %s", db->dir);
    goto done;
  }
  rc = lsm_wal_append(db->wal, lsm_slice_make(db->write_buf.data, db->write_buf.len),
                      sync || db->opts.sync_mode == LSM_SYNC_FULL);
  if (rc) {
    /* The log may now end in a torn record: accept no more writes to it. */
    db->bg_error = rc;
    lsm_db_error(db, rc, "lsm: write to log %06llu.log in %s failed",
                 (unsigned long long)db->wal_number, db->dir);
    goto done;
  }
  db->wal_bytes += db->write_buf.len + LSM_WAL_RECORD_HEADER_SIZE;
  {
    uint64_t base_check;
    uint32_t n_check;
    rc = lsm_batch_replay(lsm_slice_make(db->write_buf.data, db->write_buf.len), db->mem,
                          &base_check, &n_check);
  }
  if (rc) {
    /* Logged but not in the memtable: reads would miss a commit. */
    db->bg_error = rc;
    lsm_db_error(db, rc, "lsm: memtable insert failed after logging in %s", db->dir);
    goto done;
  }
  db->user_bytes += lsm_batch_user_bytes(b);
  db->last_seq = seq_base + n_ops - 1;   /* invariant (2) */
done:
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

int lsm_flush(lsm_db *db) {
  int rc = LSM_OK;
  pthread_mutex_lock(&db->mu);
  db->errmsg.len = 0;
  if (db->bg_error) rc = db->bg_error;
  else if (lsm_mem_count(db->mem) > 0) rc = switch_and_flush(db);
  pthread_mutex_unlock(&db->mu);
  return rc;
}

int lsm_compact(lsm_db *db) {
  int rc = LSM_OK;
  pthread_mutex_lock(&db->mu);
  db->errmsg.len = 0;
  if (db->bg_error) rc = db->bg_error;
  else if (lsm_mem_count(db->mem) > 0) rc = switch_and_flush(db);
  if (rc == LSM_OK) rc = lsm_db_compact_all(db);
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
