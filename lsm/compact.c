/*
** compact.c — flushes and leveled compaction.
**
** A flush writes the immutable memtable to one level-0 table.  A compaction
** merges tables of level L with the overlapping tables of level L+1 into
** new tables of level L+1.  Both run the same loop (write_tables): a merge
** of the inputs in internal-key order, dropping entries no reader can see,
** cutting output files at target_file_size but only between user keys
** (version.h invariant 3).
**
** What is dropped (S = oldest sequence number any snapshot can read, taken
** when the step starts; a snapshot taken later has a larger number, so
** nothing it could read is dropped):
**  (1) an entry shadowed by a newer entry of the same user key whose
**      sequence number is <= S: every reader sees the newer one;
**  (2) a tombstone with sequence number <= S when no level below the
**      output can hold the key (otherwise it must keep hiding the older
**      versions down there).
**
** Picking work (pick_compaction): every level but the last gets a score,
** level 0 its file count over l0_compaction_trigger, level L >= 1 its bytes
** over its target (l1_target_bytes * level_multiplier^(L-1)); the highest
** score >= 1 wins (the shallower level on a tie).  Level 0 compacts all of
** its files plus the overlapping level-1 files; a deeper level one file,
** the one whose overlap in L+1 is smallest relative to its own size
** (lsm_compact_pick_file), plus that overlap.  When no level scores >= 1,
** level 0 is still compacted if reads asked for it (the current version's
** l0_read_compact, see "Read-triggered compaction" in db.c).  Inputs
** that share no user key with each other nor with the level below (a lone
** file; level-0 files of a sequential load) move down without being
** rewritten.
**
** Concurrency (db_impl.h): every entry point is called with the db mutex
** and the maintenance token held.  Picking the inputs, building the version
** edit of a trivial move, preparing and installing the manifest happen
** under the mutex; reading the inputs, writing the output tables and
** writing the manifest happen with the mutex released, which is safe
** because the current version and imm change only under
** the token, and tables, memtables and file metas being read are immutable.
** The one thing taken from shared state mid-step is a file number
** (lsm_db_new_file_number, under the mutex, from the counter all processes
** share).  Only the instance holding OWNER runs these steps (db.c); each
** installed manifest is published to the other instances
** (lsm_db_after_install), and the files it retires are deleted once no
** instance may still read them (lsm_db_collect_garbage).  One exception to "one step at
** a time": a compaction flushes imm as soon as a writer hands one over, in
** the middle of its merge (flush_imm_if_any), as LevelDB does, so a long
** compaction does not stop writers for its whole length; the flush installs
** its level-0 table first and the compaction's edit applies on top of it.
** Errors are described in db->maint_msg (the token's), never in
** db->errmsg, which readers write.
*/
#include "db_impl.h"

#include <assert.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_COMPACTIONS_PER_CALL 64

/* Describe the failure of the step in flight in db->maint_msg; returns rc. */
static int maint_error(lsm_db *db, int rc, const char *fmt, ...) {
  char tmp[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  lsm_buffer_set(&db->maint_msg, tmp, strlen(tmp) + 1);
  return rc;
}

/* Remove the table files of the added (unapplied) files of an edit.  Mutex
** held: a moved file is told from a new one by its references. */
static void remove_outputs(lsm_db *db, lsm_version_edit *edit) {
  int i;
  if (edit->applied) return;   /* the manifest names them */
  for (i = 0; i < edit->n_added; i++) {
    lsm_file_meta *m = edit->added[i].meta;
    char *path;
    if (m->refs > 0) continue;   /* a moved file, still live */
    lsm_tcache_evict(db->vset.tables, m->number);
    path = lsm_file_path(db->dir, m->number, "sst");
    if (path) db->env->remove(db->env, path);
    free(path);
  }
}

/* Write, then install, the manifest of current + edit (mutex held on entry
** and return, released while the manifest is written). */
static int install_edit(lsm_db *db, lsm_version_edit *edit, uint64_t log_number) {
  lsm_vset_pending p;
  int rc;
  lsm_db_before_install(db);
  rc = lsm_vset_prepare(&db->vset, edit, db->last_seq, log_number, &p);
  if (rc) return maint_error(db, rc, "lsm: out of memory preparing the manifest of %s", db->dir);
  pthread_mutex_unlock(&db->mu);
  rc = lsm_vset_write(&db->vset, &p, &db->maint_msg);
  pthread_mutex_lock(&db->mu);
  rc = lsm_vset_install(&db->vset, edit, &p, rc);
  pthread_cond_broadcast(&db->state_cv);
  return rc;
}

typedef struct output_state {
  lsm_db *db;
  lsm_version_edit *edit;
  int level;
  lsm_sst_builder *builder;
  uint64_t number;
  uint64_t bytes_written;
} output_state;

static int open_output(output_state *o) {
  lsm_sst_options so;
  char *path;
  int rc;
  so.block_size = o->db->opts.block_size;
  so.bloom_bits = o->db->opts.bloom_bits;
  so.sync = o->db->opts.sync_mode != LSM_SYNC_OFF;
  pthread_mutex_lock(&o->db->mu);
  rc = lsm_db_new_file_number(o->db, &o->number, &o->db->maint_msg);
  pthread_mutex_unlock(&o->db->mu);
  if (rc) return rc;
  path = lsm_file_path(o->db->dir, o->number, "sst");
  if (path == NULL) return LSM_NOMEM;
  rc = lsm_sst_builder_new(o->db->env, path, &so, &o->builder);
  if (rc == LSM_NOTFOUND) rc = LSM_IOERR;   /* the directory vanished */
  if (rc) maint_error(o->db, rc, "lsm: cannot create table %s", path);
  free(path);
  return rc;
}

/* Finish the open output, open it for reading and add it to the edit. */
static int finish_output(output_state *o) {
  lsm_sst_info info;
  lsm_file_meta *m;
  lsm_sst *t = NULL;
  char *path;
  int rc;
  memset(&info, 0, sizeof info);
  rc = lsm_sst_builder_finish(o->builder, &info);
  o->builder = NULL;
  path = lsm_file_path(o->db->dir, o->number, "sst");
  if (path == NULL) rc = rc ? rc : LSM_NOMEM;
  m = rc ? NULL : lsm_file_meta_new();
  if (rc == LSM_OK && m == NULL) rc = LSM_NOMEM;
  if (rc) {
    maint_error(o->db, rc, "lsm: cannot write table %06llu.sst", (unsigned long long)o->number);
    if (path) o->db->env->remove(o->db->env, path);
    goto done;
  }
  m->number = o->number;
  m->size = info.file_size;
  m->entries = info.entries;
  m->tombstones = info.tombstones;
  m->smallest = info.smallest;
  m->largest = info.largest;
  memset(&info.smallest, 0, sizeof info.smallest);
  memset(&info.largest, 0, sizeof info.largest);
  o->db->maint_msg.len = 0;
  /* Read its footer, index and filter back: a table that cannot be opened
  ** is not installed.  Closed again: readers open it through the table
  ** cache, in their own threads (tcache.h, "Memory"). */
  rc = lsm_sst_open(o->db->env, path, m->size, &t, &o->db->maint_msg);
  lsm_sst_unref(t);
  if (rc) {
    o->db->env->remove(o->db->env, path);
    lsm_file_meta_free(m);
    goto done;
  }
  o->bytes_written += m->size;
  rc = lsm_version_edit_add_file(o->edit, o->level, m);   /* m is private: refs 0 */
  if (rc) o->db->env->remove(o->db->env, path);
done:
  lsm_buffer_free(&info.smallest);
  lsm_buffer_free(&info.largest);
  free(path);
  return rc;
}

/* What a merge needs to know about the database, captured under the mutex
** when the step starts. */
typedef struct merge_params {
  int out_level;
  int base_level;            /* first level that is NOT an input or the
                                output: a tombstone may be dropped only if no
                                file from there down overlaps its key */
  uint64_t max_file_size;    /* cut outputs past this size */
  uint64_t smallest_snapshot;
  const lsm_version *v;      /* the version the inputs come from (a
                                reference is held for the whole merge) */
  int flush_meanwhile;       /* a compaction: flush imm when it appears */
} merge_params;

/* How many input entries a compaction merges between two looks at imm. */
#define IMM_CHECK_INTERVAL 1024

/* A compaction may run for seconds; a memtable that fills meanwhile is
** flushed right away, between two entries of the merge, rather than after
** it, so that writers do not stop for the whole compaction (the token
** holder may: a flush adds a level-0 table, which changes nothing the
** merge reads, and installs its own manifest before ours).  Mutex NOT held
** on entry or return. */
static int flush_imm_if_any(lsm_db *db) {
  int rc = LSM_OK;
  pthread_mutex_lock(&db->mu);
  if (db->imm && db->imm_complete) rc = lsm_db_flush_imm(db);
  pthread_mutex_unlock(&db->mu);
  return rc;
}

/* The loop shared by flush and compaction (see the top of the file).  Runs
** without the mutex. */
static int write_tables(lsm_db *db, lsm_it *input, const merge_params *mp,
                        lsm_version_edit *edit, uint64_t *bytes_written) {
  output_state o;
  lsm_buffer cur_key = {0};
  int has_cur = 0, rc = LSM_OK;
  uint64_t last_seq_for_key = 0, seen = 0;

  memset(&o, 0, sizeof o);
  o.db = db;
  o.edit = edit;
  o.level = mp->out_level;
  for (lsm_it_first(input); rc == LSM_OK && lsm_it_valid(input); lsm_it_next(input)) {
    lsm_slice key;
    lsm_ikey k;
    int new_user_key = 0, drop = 0;
    if (mp->flush_meanwhile && ++seen % IMM_CHECK_INTERVAL == 0) {
      rc = flush_imm_if_any(db);
      if (rc) break;
    }
    key = lsm_it_key(input);
    if (!lsm_ikey_parse(key, &k)) {
      rc = maint_error(db, LSM_CORRUPT, "lsm: malformed internal key during compaction in %s",
                       db->dir);
      break;
    }
    if (!has_cur || lsm_slice_cmp(k.ukey, lsm_slice_make(cur_key.data, cur_key.len)) != 0) {
      if (lsm_buffer_set(&cur_key, k.ukey.p, k.ukey.n)) {
        rc = LSM_NOMEM;
        break;
      }
      has_cur = 1;
      new_user_key = 1;
      last_seq_for_key = UINT64_MAX;
    }
    if (last_seq_for_key <= mp->smallest_snapshot) {
      drop = 1;                                          /* rule (1) */
    } else if (k.kind == LSM_KIND_DELETE && k.seq <= mp->smallest_snapshot &&
               (mp->base_level >= LSM_MAX_LEVELS ||
                !lsm_version_overlaps_deeper(mp->v, mp->base_level, k.ukey))) {
      drop = 1;                                          /* rule (2) */
    }
    last_seq_for_key = k.seq;
    if (drop) continue;
    if (o.builder && new_user_key && lsm_sst_builder_size(o.builder) >= mp->max_file_size) {
      rc = finish_output(&o);
      if (rc) break;
    }
    if (o.builder == NULL) {
      rc = open_output(&o);
      if (rc) break;
    }
    rc = lsm_sst_builder_add(o.builder, key, lsm_it_value(input));
  }
  if (rc == LSM_OK && (rc = lsm_it_status(input)) != LSM_OK && lsm_it_errmsg(input)) {
    maint_error(db, rc, "%s", lsm_it_errmsg(input));    /* names the input file */
  }
  if (rc == LSM_OK && o.builder) rc = finish_output(&o);
  if (o.builder) {
    char *path = lsm_file_path(db->dir, o.number, "sst");
    lsm_sst_builder_abandon(o.builder);
    if (path) db->env->remove(db->env, path);
    free(path);
  }
  lsm_buffer_free(&cur_key);
  *bytes_written = o.bytes_written;
  return rc;
}

int lsm_db_flush_imm(lsm_db *db) {
  lsm_version_edit edit;
  merge_params mp;
  lsm_mem *imm = db->imm;
  /* Every log below wal_number holds only commits in imm or in tables
  ** (db_impl.h invariant 3): the new manifest retires them. */
  uint64_t bytes = 0, log_number = db->wal_number, imm_log = db->imm_log;
  lsm_it *it;
  int rc;
  /* Every record of imm's log is in imm (db_impl.h invariant 1). */
  assert(imm != NULL && db->imm_complete);
  lsm_version_edit_init(&edit);
  mp.out_level = 0;
  mp.base_level = 0;
  mp.max_file_size = UINT64_MAX;
  mp.smallest_snapshot = lsm_db_smallest_snapshot(db);
  mp.v = db->vset.current;   /* stays current: nothing installs meanwhile */
  mp.flush_meanwhile = 0;
  pthread_mutex_unlock(&db->mu);
  it = lsm_mem_iter_new(imm);
  if (it == NULL) {
    rc = LSM_NOMEM;
  } else {
    rc = write_tables(db, it, &mp, &edit, &bytes);
    lsm_it_free(it);
  }
  pthread_mutex_lock(&db->mu);
  if (rc == LSM_OK) rc = install_edit(db, &edit, log_number);
  if (rc) {
    remove_outputs(db, &edit);
    lsm_version_edit_free(&edit);
    if (db->maint_msg.len == 0) maint_error(db, rc, "lsm: flush failed in %s", db->dir);
    return rc;
  }
  lsm_version_edit_free(&edit);
  db->flush_bytes += bytes;
  db->flushes++;
  db->imm = NULL;
  db->imm_log = db->imm_off = 0;
  db->imm_complete = 0;
  db->imm_flushed++;
  lsm_mem_unref(imm);
  pthread_cond_broadcast(&db->state_cv);
  /* Only now may another instance's writer rotate past our mem's log. */
  lsm_db_after_install(db);
  lsm_db_retire_log(db, imm_log);
  return LSM_OK;
}

/* ---------------------------------------------------------------- compaction */

typedef struct compaction {
  int level;                 /* inputs[0] come from level */
  int out_level;             /* inputs[1] come from and outputs go to it */
  lsm_file_meta **inputs[2];
  int n_inputs[2];
} compaction;

static void compaction_free(compaction *c) {
  free(c->inputs[0]);
  free(c->inputs[1]);
  memset(c, 0, sizeof *c);
}

static uint64_t level_bytes(const lsm_version *v, int level) {
  uint64_t n = 0;
  int i;
  for (i = 0; i < v->n_files[level]; i++) n += v->files[level][i]->size;
  return n;
}

static uint64_t level_target(const lsm_db *db, int level) {
  uint64_t t = db->opts.l1_target_bytes;
  int l;
  for (l = 1; l < level; l++) t *= (uint64_t)db->opts.level_multiplier;
  return t;
}

/* How urgently level needs compacting; >= 1 means it does. */
static double level_score(const lsm_db *db, const lsm_version *v, int level) {
  if (level == 0) return (double)v->n_files[0] / (double)db->opts.l0_compaction_trigger;
  return (double)level_bytes(v, level) / (double)level_target(db, level);
}

/* The level with the highest score >= 1 (the shallower on a tie); else 0
** if reads asked for level 0's tables to be merged down; else -1. */
static int best_level(const lsm_db *db, const lsm_version *v) {
  double best_score = 1.0;
  int level, best = -1;
  for (level = 0; level < LSM_MAX_LEVELS - 1; level++) {
    double score = level_score(db, v, level);
    if (score >= best_score && (best < 0 || score > best_score)) {
      best_score = score;
      best = level;
    }
  }
  if (best < 0 && v->n_files[0] > 0 && __atomic_load_n(&v->l0_read_compact, __ATOMIC_RELAXED)) {
    best = 0;
  }
  return best;
}

int lsm_db_needs_compaction(lsm_db *db) {
  return best_level(db, db->vset.current) >= 0;
}

static lsm_slice user_smallest(const lsm_file_meta *m) {
  return lsm_ikey_user(lsm_slice_make(m->smallest.data, m->smallest.len));
}

static lsm_slice user_largest(const lsm_file_meta *m) {
  return lsm_ikey_user(lsm_slice_make(m->largest.data, m->largest.len));
}

/* User-key range covered by files. */
static void key_range(lsm_file_meta **files, int n, lsm_slice *lo, lsm_slice *hi) {
  int i;
  *lo = user_smallest(files[0]);
  *hi = user_largest(files[0]);
  for (i = 1; i < n; i++) {
    if (lsm_slice_cmp(user_smallest(files[i]), *lo) < 0) *lo = user_smallest(files[i]);
    if (lsm_slice_cmp(user_largest(files[i]), *hi) > 0) *hi = user_largest(files[i]);
  }
}

/* Inputs: `files` of level (copied), plus the overlapping files of level+1. */
static int setup_compaction(lsm_db *db, int level, lsm_file_meta **files, int n,
                            compaction *c) {
  lsm_slice lo, hi;
  int rc;
  memset(c, 0, sizeof *c);
  c->level = level;
  c->out_level = level + 1;
  c->inputs[0] = malloc(sizeof(lsm_file_meta *) * (size_t)n);
  if (c->inputs[0] == NULL) return LSM_NOMEM;
  memcpy(c->inputs[0], files, sizeof(lsm_file_meta *) * (size_t)n);
  c->n_inputs[0] = n;
  key_range(files, n, &lo, &hi);
  rc = lsm_version_overlapping(db->vset.current, level + 1, lo, hi, &c->inputs[1],
                               &c->n_inputs[1]);
  if (rc) compaction_free(c);
  return rc;
}

/* The file of sorted level L (>= 1) whose compaction rewrites the fewest
** bytes per byte it pushes down: the smallest ratio of the bytes of its
** overlapping files in L+1 to its own size (the first such file on a tie).
** Round-robin would take every file in turn, including those that overlap
** the most; with random keys the overlaps vary enough that the cheapest
** file pushes noticeably fewer bytes of L+1 through each compaction.  Both
** levels are sorted and disjoint, so one sweep finds every overlap. */
int lsm_compact_pick_file(const lsm_version *v, int level) {
  lsm_file_meta **up = v->files[level], **down = v->files[level + 1];
  int n_up = v->n_files[level], n_down = v->n_files[level + 1], i, j = 0, best = 0;
  double best_ratio = 0.0;
  for (i = 0; i < n_up; i++) {
    uint64_t overlap = 0;
    double ratio;
    int k;
    /* Files of level+1 entirely before file i are before every later one. */
    while (j < n_down && lsm_slice_cmp(user_largest(down[j]), user_smallest(up[i])) < 0) j++;
    for (k = j; k < n_down && lsm_slice_cmp(user_smallest(down[k]), user_largest(up[i])) <= 0; k++) {
      overlap += down[k]->size;
    }
    ratio = (double)overlap / (double)(up[i]->size ? up[i]->size : 1);
    if (i == 0 || ratio < best_ratio) {
      best_ratio = ratio;
      best = i;
    }
  }
  return best;
}

/* Returns 1 and fills c when there is work to do. */
static int pick_compaction(lsm_db *db, compaction *c, int *rc) {
  lsm_version *v = db->vset.current;
  int best = best_level(db, v), i;
  *rc = LSM_OK;
  if (best < 0) return 0;
  if (best == 0) {
    *rc = setup_compaction(db, 0, v->files[0], v->n_files[0], c);
    return *rc == LSM_OK;
  }
  i = lsm_compact_pick_file(v, best);
  *rc = setup_compaction(db, best, &v->files[best][i], 1, c);
  return *rc == LSM_OK;
}

/* 1 if no two of files share a user key (level-0 files of a sequential
** load, typically), so they can move down a level as they are. */
static int pairwise_disjoint(lsm_file_meta **files, int n) {
  int i, j;
  for (i = 0; i < n; i++) {
    for (j = i + 1; j < n; j++) {
      if (lsm_slice_cmp(user_largest(files[i]), user_smallest(files[j])) >= 0 &&
          lsm_slice_cmp(user_largest(files[j]), user_smallest(files[i])) >= 0) {
        return 0;
      }
    }
  }
  return 1;
}

/* Merge c's inputs into new tables of c->out_level (mutex NOT held). */
static int merge_inputs(lsm_db *db, compaction *c, const merge_params *mp,
                        lsm_version_edit *edit, uint64_t *written) {
  int n = c->n_inputs[0] + c->n_inputs[1], which, i, k = 0, rc = LSM_OK;
  lsm_it **children = calloc((size_t)n, sizeof(lsm_it *)), *merged;
  if (children == NULL) return LSM_NOMEM;
  for (which = 0; which < 2; which++) {
    for (i = 0; i < c->n_inputs[which]; i++) {
      lsm_file_meta *m = c->inputs[which][i];
      children[k] = lsm_tcache_iter_new(db->vset.tables, m->number, m->size, 0);
      if (children[k++] == NULL) rc = LSM_NOMEM;
    }
  }
  if (rc) {
    for (i = 0; i < k; i++) lsm_it_free(children[i]);
    free(children);
    return rc;
  }
  merged = lsm_it_new_merging(children, n);   /* frees children on failure */
  if (merged == NULL) return LSM_NOMEM;
  rc = write_tables(db, merged, mp, edit, written);
  lsm_it_free(merged);
  return rc;
}

static int run_compaction(lsm_db *db, compaction *c, int allow_move) {
  lsm_version_edit edit;
  uint64_t read_bytes = 0, written = 0;
  int which, i, rc = LSM_OK;

  lsm_version_edit_init(&edit);
  for (which = 0; which < 2; which++) {
    for (i = 0; i < c->n_inputs[which]; i++) {
      rc = lsm_version_edit_delete_file(&edit, which ? c->out_level : c->level,
                                        c->inputs[which][i]->number);
      if (rc) goto done;
      read_bytes += c->inputs[which][i]->size;
    }
  }
  if (allow_move && c->n_inputs[1] == 0 && pairwise_disjoint(c->inputs[0], c->n_inputs[0])) {
    /* Trivial move: the same files, one level down (version.h invariant 3
    ** holds: they share no user key with each other or with the level). */
    for (i = 0; i < c->n_inputs[0] && rc == LSM_OK; i++) {
      rc = lsm_version_edit_add_file(&edit, c->out_level, c->inputs[0][i]);
    }
    if (rc) goto done;   /* never apply an edit that deletes but does not add */
    read_bytes = 0;
  } else {
    merge_params mp;
    lsm_version *v = db->vset.current;
    mp.out_level = c->out_level;
    mp.base_level = c->out_level + 1;
    mp.max_file_size = db->opts.target_file_size;
    mp.smallest_snapshot = lsm_db_smallest_snapshot(db);
    mp.v = v;
    mp.flush_meanwhile = 1;
    /* A flush may install a newer version during the merge: the inputs'
    ** version must outlive it. */
    lsm_version_ref(v);
    pthread_mutex_unlock(&db->mu);
    rc = merge_inputs(db, c, &mp, &edit, &written);
    pthread_mutex_lock(&db->mu);
    lsm_version_unref(&db->vset, v);
    if (rc) goto done;
  }
  rc = install_edit(db, &edit, db->vset.log_number);
  if (rc) goto done;
  lsm_db_after_install(db);
  lsm_db_collect_garbage(db);
  db->compact_read_bytes += read_bytes;
  db->compact_write_bytes += written;
  db->compactions++;
done:
  if (rc) {
    remove_outputs(db, &edit);
    if (db->maint_msg.len == 0) maint_error(db, rc, "lsm: compaction failed in %s", db->dir);
  }
  lsm_version_edit_free(&edit);
  return rc;
}

int lsm_db_compact_once(lsm_db *db) {
  compaction c;
  int rc;
  if (!pick_compaction(db, &c, &rc)) return rc;
  rc = run_compaction(db, &c, 1);
  compaction_free(&c);
  return rc;
}

int lsm_db_maybe_compact(lsm_db *db) {
  int i, rc = LSM_OK;
  for (i = 0; i < MAX_COMPACTIONS_PER_CALL && rc == LSM_OK && lsm_db_needs_compaction(db); i++) {
    rc = lsm_db_compact_once(db);
  }
  return rc;
}

int lsm_db_compact_all(lsm_db *db) {
  int level, deepest = -1, target, rc = LSM_OK;
  compaction c;
  for (level = 0; level < LSM_MAX_LEVELS; level++) {
    if (db->vset.current->n_files[level] > 0) deepest = level;
  }
  if (deepest < 0) return LSM_OK;
  target = deepest > 0 ? deepest : 1;
  /* Push every level above target - 1 down one step at a time... */
  for (level = 0; level < target - 1 && rc == LSM_OK; level++) {
    lsm_version *v = db->vset.current;
    if (v->n_files[level] == 0) continue;
    rc = setup_compaction(db, level, v->files[level], v->n_files[level], &c);
    if (rc == LSM_OK) rc = run_compaction(db, &c, 1);
    compaction_free(&c);
  }
  if (rc) return rc;
  /* ...then merge all of level target - 1 with ALL of target (not only the
  ** overlap), rewriting every file: the result holds one version per key
  ** and no tombstone that no snapshot needs. */
  {
    lsm_version *v = db->vset.current;
    int above = target - 1, which;
    memset(&c, 0, sizeof c);
    c.level = above;
    c.out_level = target;
    for (which = 0; which < 2; which++) {
      int lv = which ? target : above, n = v->n_files[lv];
      if (n == 0) continue;
      c.inputs[which] = malloc(sizeof(lsm_file_meta *) * (size_t)n);
      if (c.inputs[which] == NULL) {
        compaction_free(&c);
        return LSM_NOMEM;
      }
      memcpy(c.inputs[which], v->files[lv], sizeof(lsm_file_meta *) * (size_t)n);
      c.n_inputs[which] = n;
    }
    rc = run_compaction(db, &c, 0);
    compaction_free(&c);
  }
  return rc;
}
