/*
** version.c — versions, version edits, the manifest and level iterators.
**
** See version.h for the model and its invariants.  The manifest is a
** complete description of the database state, rewritten whole on every
** change (flush or compaction).  It is small (one entry per live table), so
** rewriting it is cheap, and a whole-file rewrite through a temporary file
** plus rename is atomic on POSIX filesystems:
**
**   write MANIFEST.tmp, fsync it, rename it over MANIFEST, fsync the dir.
**
** MANIFEST layout (all integers little-endian):
**
**   magic             8 bytes "LSMMANI1"
**   version           u32 = 2 (1 is still read: it has no generation)
**   n_files           u32
**   next_file_number  u64
**   last_seq          u64
**   log_number        u64
**   generation        u64 (version 2 only; +1 per manifest written)
**   n_files times:
**     level           u8  (< LSM_MAX_LEVELS)
**     number          u64
**     size            u64
**     entries         u64
**     tombstones      u64
**     smallest        varint length + internal key
**     largest         varint length + internal key
**   checksum          u64 checksum64 of every preceding byte
**
** Live versions.  Every installed version is linked, oldest first, in
** vs->oldest .. vs->newest until its last reference goes; the oldest one's
** generation is what this instance publishes as the oldest it may read
** (db.c).  Versions built but never installed are not linked.
**
** Deletion.  A file is never removed by the version code directly: when the
** last version listing a table goes, the table is queued with the current
** generation (vs->obsolete); the db removes queued files once no instance
** may read an older generation (lsm_vset_delete_obsolete).
*/
#include "version.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MANIFEST_MAGIC "LSMMANI1"
#define MANIFEST_VERSION 2
#define MANIFEST_HEADER_SIZE_V1 40
#define MANIFEST_HEADER_SIZE 48
#define MAX_COUNTER (((uint64_t)1) << 62)
#define MANIFEST_MAX_SIZE (256u << 20)

char *lsm_file_path(const char *dir, uint64_t number, const char *ext) {
  size_t n = strlen(dir) + strlen(ext) + 32;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s/%06llu.%s", dir, (unsigned long long)number, ext);
  return p;
}

static char *dir_path(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  if (p) snprintf(p, n, "%s/%s", dir, name);
  return p;
}

static void set_error(lsm_buffer *errmsg, const char *msg, const char *detail) {
  char tmp[512];
  if (errmsg == NULL) return;
  snprintf(tmp, sizeof tmp, "lsm: %s%s%s", msg, detail ? " " : "", detail ? detail : "");
  lsm_buffer_set(errmsg, tmp, strlen(tmp) + 1);
}

/* ---------------------------------------------------------------- metas */

lsm_file_meta *lsm_file_meta_new(void) {
  return calloc(1, sizeof(lsm_file_meta));
}

void lsm_file_meta_free(lsm_file_meta *m) {
  if (m == NULL) return;
  lsm_buffer_free(&m->smallest);
  lsm_buffer_free(&m->largest);
  free(m);
}

static lsm_slice meta_smallest_user(const lsm_file_meta *m) {
  return lsm_ikey_user(lsm_slice_make(m->smallest.data, m->smallest.len));
}

static lsm_slice meta_largest_user(const lsm_file_meta *m) {
  return lsm_ikey_user(lsm_slice_make(m->largest.data, m->largest.len));
}

/* ---------------------------------------------------------------- versions */

static lsm_version *version_new(void) {
  lsm_version *v = calloc(1, sizeof *v);
  if (v) v->refs = 1;
  return v;
}

void lsm_version_ref(lsm_version *v) {
  v->refs++;
}

static void file_unref(lsm_vset *vs, lsm_file_meta *m) {
  if (--m->refs > 0) return;
  /* Invariant (1): no version lists this file any more.  Closing: the file
  ** is still live on disk. */
  if (!vs->closing) lsm_vset_add_obsolete(vs, m->number, 0);
  lsm_tcache_evict(vs->tables, m->number);
  lsm_file_meta_free(m);
}

static void link_version(lsm_vset *vs, lsm_version *v) {
  v->gen = vs->generation;
  v->linked = 1;
  v->newer = NULL;
  v->older = vs->newest;
  if (vs->newest) vs->newest->newer = v;
  else vs->oldest = v;
  vs->newest = v;
}

static void unlink_version(lsm_vset *vs, lsm_version *v) {
  if (!v->linked) return;
  if (v->older) v->older->newer = v->newer;
  else vs->oldest = v->newer;
  if (v->newer) v->newer->older = v->older;
  else vs->newest = v->older;
  v->linked = 0;
}

/* Make v (one reference, the caller's) current, dropping the old one. */
static void set_current(lsm_vset *vs, lsm_version *v) {
  link_version(vs, v);
  if (vs->current) lsm_version_unref(vs, vs->current);
  vs->current = v;
}

uint64_t lsm_vset_oldest_gen(const lsm_vset *vs) {
  return vs->oldest ? vs->oldest->gen : vs->generation;
}

void lsm_version_unref(lsm_vset *vs, lsm_version *v) {
  int level, i;
  if (v == NULL || --v->refs > 0) return;
  unlink_version(vs, v);
  for (level = 0; level < LSM_MAX_LEVELS; level++) {
    for (i = 0; i < v->n_files[level]; i++) file_unref(vs, v->files[level][i]);
    free(v->files[level]);
  }
  free(v);
}

/* ---------------------------------------------------------------- obsolete files */

void lsm_vset_add_obsolete(lsm_vset *vs, uint64_t number, int is_log) {
  lsm_obsolete *o;
  for (o = vs->obsolete; o; o = o->next) {
    if (o->number == number && o->is_log == is_log) return;
  }
  o = malloc(sizeof *o);
  if (o == NULL) return;   /* an orphan: the next sole opener deletes it */
  o->number = number;
  o->gen = vs->generation;
  o->is_log = is_log;
  o->next = vs->obsolete;
  vs->obsolete = o;
  vs->n_obsolete++;
}

void lsm_vset_delete_obsolete(lsm_vset *vs, uint64_t oldest) {
  lsm_obsolete **pp = &vs->obsolete;
  if (vs->keep_files) return;
  while (*pp) {
    lsm_obsolete *o = *pp;
    char *path;
    if (o->gen > oldest) {
      pp = &o->next;
      continue;
    }
    path = lsm_file_path(vs->dir, o->number, o->is_log ? "log" : "sst");
    if (path == NULL) {
      pp = &o->next;   /* try again next time */
      continue;
    }
    vs->env->remove(vs->env, path);   /* best effort: an orphan otherwise */
    free(path);
    *pp = o->next;
    free(o);
    vs->n_obsolete--;
  }
}

void lsm_vset_forget_obsolete(lsm_vset *vs) {
  while (vs->obsolete) {
    lsm_obsolete *o = vs->obsolete;
    vs->obsolete = o->next;
    free(o);
  }
  vs->n_obsolete = 0;
}

/* ---------------------------------------------------------------- edits */

void lsm_version_edit_init(lsm_version_edit *e) {
  memset(e, 0, sizeof *e);
}

int lsm_version_edit_delete_file(lsm_version_edit *e, int level, uint64_t number) {
  void *p = realloc(e->deleted, sizeof(*e->deleted) * (size_t)(e->n_deleted + 1));
  if (p == NULL) return LSM_NOMEM;
  e->deleted = p;
  e->deleted[e->n_deleted].level = level;
  e->deleted[e->n_deleted].number = number;
  e->n_deleted++;
  return LSM_OK;
}

int lsm_version_edit_add_file(lsm_version_edit *e, int level, lsm_file_meta *meta) {
  void *p = realloc(e->added, sizeof(*e->added) * (size_t)(e->n_added + 1));
  if (p == NULL) {
    if (meta->refs == 0) lsm_file_meta_free(meta);   /* a moved file stays live */
    return LSM_NOMEM;
  }
  e->added = p;
  e->added[e->n_added].level = level;
  e->added[e->n_added].meta = meta;
  e->n_added++;
  return LSM_OK;
}

void lsm_version_edit_free(lsm_version_edit *e) {
  int i;
  for (i = 0; i < e->n_added; i++) {
    if (e->added[i].meta && e->added[i].meta->refs == 0) lsm_file_meta_free(e->added[i].meta);
  }
  free(e->added);
  free(e->deleted);
  lsm_version_edit_init(e);
}

static int edit_deletes(const lsm_version_edit *e, int level, uint64_t number) {
  int i;
  for (i = 0; i < e->n_deleted; i++) {
    if (e->deleted[i].level == level && e->deleted[i].number == number) return 1;
  }
  return 0;
}

static int cmp_level0(const void *a, const void *b) {
  /* Newest (highest file number) first. */
  const lsm_file_meta *x = *(lsm_file_meta *const *)a, *y = *(lsm_file_meta *const *)b;
  return x->number < y->number ? 1 : (x->number > y->number ? -1 : 0);
}

static int cmp_by_smallest(const void *a, const void *b) {
  const lsm_file_meta *x = *(lsm_file_meta *const *)a, *y = *(lsm_file_meta *const *)b;
  return lsm_ikey_cmp(lsm_slice_make(x->smallest.data, x->smallest.len),
                      lsm_slice_make(y->smallest.data, y->smallest.len));
}

/* Build base + edit as a new version (refs 1), taking file references. */
static int version_apply_edit(const lsm_version *base, const lsm_version_edit *e,
                              lsm_version **out) {
  lsm_version *v = version_new();
  int level, i;
  if (v == NULL) return LSM_NOMEM;
  for (level = 0; level < LSM_MAX_LEVELS; level++) {
    int cap = (base ? base->n_files[level] : 0) + e->n_added;
    if (cap == 0) continue;
    v->files[level] = malloc(sizeof(lsm_file_meta *) * (size_t)cap);
    if (v->files[level] == NULL) goto nomem;
    if (base) {
      for (i = 0; i < base->n_files[level]; i++) {
        lsm_file_meta *m = base->files[level][i];
        if (!edit_deletes(e, level, m->number)) v->files[level][v->n_files[level]++] = m;
      }
    }
    for (i = 0; i < e->n_added; i++) {
      if (e->added[i].level == level) v->files[level][v->n_files[level]++] = e->added[i].meta;
    }
    qsort(v->files[level], (size_t)v->n_files[level], sizeof(lsm_file_meta *),
          level == 0 ? cmp_level0 : cmp_by_smallest);
  }
  for (level = 0; level < LSM_MAX_LEVELS; level++) {
    for (i = 0; i < v->n_files[level]; i++) v->files[level][i]->refs++;
  }
  *out = v;
  return LSM_OK;
nomem:
  for (level = 0; level < LSM_MAX_LEVELS; level++) free(v->files[level]);
  free(v);
  return LSM_NOMEM;
}

/* ---------------------------------------------------------------- vset */

void lsm_vset_init(lsm_vset *vs, lsm_env *env, const char *dir, int sync) {
  memset(vs, 0, sizeof *vs);
  vs->env = env;
  vs->dir = strdup(dir);
  vs->sync = sync;
}

void lsm_vset_free(lsm_vset *vs) {
  vs->closing = 1;
  if (vs->current) lsm_version_unref(vs, vs->current);
  vs->current = NULL;
  lsm_vset_forget_obsolete(vs);
  lsm_tcache_free(vs->tables);
  vs->tables = NULL;
  free(vs->dir);
  vs->dir = NULL;
}

int lsm_vset_create(lsm_vset *vs) {
  vs->current = version_new();
  if (vs->current == NULL) return LSM_NOMEM;
  vs->next_file_number = 1;
  vs->last_seq = 0;
  vs->log_number = 0;
  vs->generation = 0;
  return LSM_OK;
}

uint64_t lsm_vset_new_file_number(lsm_vset *vs) {
  return vs->next_file_number++;
}

static int encode_manifest(lsm_vset *vs, const lsm_version *v, uint64_t last_seq,
                           uint64_t log_number, uint64_t generation, lsm_buffer *b) {
  int level, i, rc = LSM_OK;
  uint32_t n_files = 0;
  for (level = 0; level < LSM_MAX_LEVELS; level++) n_files += (uint32_t)v->n_files[level];
  b->len = 0;
  rc = lsm_buffer_append(b, MANIFEST_MAGIC, 8);
  if (!rc) rc = lsm_buffer_append_u32(b, MANIFEST_VERSION);
  if (!rc) rc = lsm_buffer_append_u32(b, n_files);
  if (!rc) rc = lsm_buffer_append_u64(b, vs->next_file_number);
  if (!rc) rc = lsm_buffer_append_u64(b, last_seq);
  if (!rc) rc = lsm_buffer_append_u64(b, log_number);
  if (!rc) rc = lsm_buffer_append_u64(b, generation);
  for (level = 0; level < LSM_MAX_LEVELS && !rc; level++) {
    for (i = 0; i < v->n_files[level] && !rc; i++) {
      const lsm_file_meta *m = v->files[level][i];
      unsigned char lv = (unsigned char)level;
      rc = lsm_buffer_append(b, &lv, 1);
      if (!rc) rc = lsm_buffer_append_u64(b, m->number);
      if (!rc) rc = lsm_buffer_append_u64(b, m->size);
      if (!rc) rc = lsm_buffer_append_u64(b, m->entries);
      if (!rc) rc = lsm_buffer_append_u64(b, m->tombstones);
      if (!rc) rc = lsm_buffer_append_varint(b, m->smallest.len);
      if (!rc) rc = lsm_buffer_append(b, m->smallest.data, m->smallest.len);
      if (!rc) rc = lsm_buffer_append_varint(b, m->largest.len);
      if (!rc) rc = lsm_buffer_append(b, m->largest.data, m->largest.len);
    }
  }
  if (!rc) rc = lsm_buffer_append_u64(b, lsm_checksum64(b->data, b->len));
  return rc;
}

/* Write the encoded manifest `bytes` atomically (invariant 2).  *renamed
** is set once MANIFEST names the new version (durably or not). */
static int write_manifest(lsm_vset *vs, const lsm_buffer *bytes, int *renamed,
                          lsm_buffer *errmsg) {
  lsm_env *env = vs->env;
  lsm_file *f = NULL;
  char *tmp = dir_path(vs->dir, "MANIFEST.tmp");
  char *final = dir_path(vs->dir, "MANIFEST");
  int rc;
  *renamed = 0;
  if (tmp == NULL || final == NULL) {
    rc = LSM_NOMEM;
    goto done;
  }
  rc = env->open_append(env, tmp, &f);
  if (rc) goto io_failed;
  rc = env->append(env, f, bytes->data, bytes->len);
  if (!rc && vs->sync) rc = env->sync(env, f);
  {
    int close_rc = env->close(env, f);
    if (!rc) rc = close_rc;
  }
  if (rc) goto io_failed;
  rc = env->rename(env, tmp, final);
  if (rc) goto io_failed;
  *renamed = 1;
  if (vs->sync) rc = env->sync_dir(env, vs->dir);
  if (rc) goto io_failed;
  goto done;
io_failed:
  set_error(errmsg, "cannot write manifest", final);
  if (rc == LSM_NOTFOUND) rc = LSM_IOERR;
done:
  free(tmp);
  free(final);
  return rc;
}

/* Drop a version that was never installed: its references on the files,
** without deleting any file or the metas an edit still owns. */
static void discard_version(lsm_version *v) {
  int level, i;
  for (level = 0; level < LSM_MAX_LEVELS; level++) {
    for (i = 0; i < v->n_files[level]; i++) v->files[level][i]->refs--;
    free(v->files[level]);
  }
  free(v);
}

int lsm_vset_prepare(lsm_vset *vs, const lsm_version_edit *edit, uint64_t last_seq,
                     uint64_t log_number, lsm_vset_pending *p) {
  int rc;
  memset(p, 0, sizeof *p);
  p->last_seq = last_seq;
  p->log_number = log_number;
  p->generation = vs->generation + 1;
  rc = version_apply_edit(vs->current, edit, &p->v);
  if (rc) return rc;
  rc = encode_manifest(vs, p->v, last_seq, log_number, p->generation, &p->bytes);
  if (rc) lsm_vset_pending_free(p);
  return rc;
}

int lsm_vset_write(lsm_vset *vs, lsm_vset_pending *p, lsm_buffer *errmsg) {
  return write_manifest(vs, &p->bytes, &p->renamed, errmsg);
}

int lsm_vset_install(lsm_vset *vs, lsm_version_edit *edit, lsm_vset_pending *p,
                     int write_rc) {
  if (write_rc && !p->renamed) {
    /* Not installed: the edit's added files stay the caller's. */
    lsm_vset_pending_free(p);
    return write_rc;
  }
  if (write_rc) {
    /* MANIFEST names the new version but the directory sync failed: after
    ** a power loss either manifest may be the one on disk, so both
    ** versions' files must stay.  Install it (it is what the directory
    ** says now) and delete no file for the rest of this instance's life. */
    vs->keep_files = 1;
  }
  vs->manifest_writes++;
  edit->applied = 1;
  vs->last_seq = p->last_seq;
  vs->log_number = p->log_number;
  vs->generation = p->generation;
  set_current(vs, p->v);
  p->v = NULL;
  lsm_vset_pending_free(p);
  return write_rc;
}

void lsm_vset_pending_free(lsm_vset_pending *p) {
  if (p->v) discard_version(p->v);
  p->v = NULL;
  lsm_buffer_free(&p->bytes);
}

int lsm_vset_apply(lsm_vset *vs, lsm_version_edit *edit, uint64_t last_seq,
                   uint64_t log_number, lsm_buffer *errmsg) {
  lsm_vset_pending p;
  int rc = lsm_vset_prepare(vs, edit, last_seq, log_number, &p);
  if (rc) return rc;
  rc = lsm_vset_write(vs, &p, errmsg);
  return lsm_vset_install(vs, edit, &p, rc);
}

/* ---------------------------------------------------------------- recovery */

static int read_whole_file(lsm_env *env, const char *path, lsm_buffer *out) {
  lsm_file *f = NULL;
  uint64_t size;
  size_t got;
  int rc = env->open_read(env, path, &f);
  if (rc) return rc;
  rc = env->size(env, f, &size);
  if (!rc && size > MANIFEST_MAX_SIZE) rc = LSM_CORRUPT;
  if (!rc) {
    out->len = 0;
    rc = lsm_buffer_reserve(out, (size_t)size);
  }
  if (!rc) rc = env->pread(env, f, 0, out->data, (size_t)size, &got);
  if (!rc && got != size) rc = LSM_IOERR;
  if (!rc) out->len = (size_t)size;
  env->close(env, f);
  return rc;
}

static int decode_file_entry(const unsigned char **pp, const unsigned char *end,
                             int *level, lsm_file_meta *m) {
  const unsigned char *p = *pp;
  lsm_slice s;
  if (end - p < 33) return LSM_CORRUPT;
  *level = p[0];
  m->number = lsm_get_u64(p + 1);
  m->size = lsm_get_u64(p + 9);
  m->entries = lsm_get_u64(p + 17);
  m->tombstones = lsm_get_u64(p + 25);
  p += 33;
  if (*level >= LSM_MAX_LEVELS) return LSM_CORRUPT;
  p = lsm_get_length_prefixed(p, end, &s);
  if (p == NULL || s.n < LSM_TRAILER_SIZE) return LSM_CORRUPT;
  if (lsm_buffer_set(&m->smallest, s.p, s.n)) return LSM_NOMEM;
  p = lsm_get_length_prefixed(p, end, &s);
  if (p == NULL || s.n < LSM_TRAILER_SIZE) return LSM_CORRUPT;
  if (lsm_buffer_set(&m->largest, s.p, s.n)) return LSM_NOMEM;
  if (lsm_ikey_cmp(lsm_slice_make(m->smallest.data, m->smallest.len),
                   lsm_slice_make(m->largest.data, m->largest.len)) > 0) {
    return LSM_CORRUPT;
  }
  *pp = p;
  return LSM_OK;
}

/* Read and decode <dir>/MANIFEST: its counters into l, its files into
** l->edit (metas without open tables).  LSM_NOTFOUND if there is none;
** LSM_CORRUPT (with errmsg) if it is damaged. */
static int read_manifest(lsm_vset *vs, lsm_vset_loaded *l, lsm_buffer *errmsg) {
  char *path = dir_path(vs->dir, "MANIFEST");
  lsm_buffer buf = {0};
  const unsigned char *p, *end;
  uint32_t n_files, i, version;
  size_t header;
  int rc;
  if (path == NULL) return LSM_NOMEM;
  rc = read_whole_file(vs->env, path, &buf);
  if (rc == LSM_NOTFOUND) {
    set_error(errmsg, "no manifest", path);
    goto done;
  }
  if (rc == LSM_CORRUPT) {
    set_error(errmsg, "manifest too large:", path);
    goto done;
  }
  if (rc) {
    set_error(errmsg, "cannot read", path);
    goto done;
  }
  rc = LSM_CORRUPT;
  if (buf.len < MANIFEST_HEADER_SIZE_V1 + 8 || memcmp(buf.data, MANIFEST_MAGIC, 8) != 0) {
    set_error(errmsg, "bad manifest header in", path);
    goto done;
  }
  if (lsm_get_u64(buf.data + buf.len - 8) != lsm_checksum64(buf.data, buf.len - 8)) {
    set_error(errmsg, "checksum mismatch in", path);
    goto done;
  }
  version = lsm_get_u32(buf.data + 8);
  if (version != 1 && version != MANIFEST_VERSION) {
    set_error(errmsg, "unsupported manifest version in", path);
    goto done;
  }
  header = version == 1 ? MANIFEST_HEADER_SIZE_V1 : MANIFEST_HEADER_SIZE;
  if (buf.len < header + 8) {
    set_error(errmsg, "bad manifest header in", path);
    goto done;
  }
  n_files = lsm_get_u32(buf.data + 12);
  l->next_file_number = lsm_get_u64(buf.data + 16);
  l->last_seq = lsm_get_u64(buf.data + 24);
  l->log_number = lsm_get_u64(buf.data + 32);
  l->generation = version == 1 ? 0 : lsm_get_u64(buf.data + 40);
  /* Counters the engine relies on: sequence numbers stay below the overlay
  ** range, the log is a number already handed out. */
  if (l->last_seq >= LSM_SEQ_OVERLAY || l->log_number > l->next_file_number ||
      l->next_file_number >= MAX_COUNTER || l->generation >= MAX_COUNTER) {
    set_error(errmsg, "counters out of range in", path);
    goto done;
  }
  p = buf.data + header;
  end = buf.data + buf.len - 8;
  for (i = 0; i < n_files; i++) {
    int level;
    lsm_file_meta *m = lsm_file_meta_new();
    if (m == NULL) {
      rc = LSM_NOMEM;
      goto done;
    }
    rc = decode_file_entry(&p, end, &level, m);
    if (rc == LSM_OK && m->number >= l->next_file_number) rc = LSM_CORRUPT;
    if (rc) {
      lsm_file_meta_free(m);
      if (rc == LSM_CORRUPT) set_error(errmsg, "malformed file entry in", path);
      goto done;
    }
    rc = lsm_version_edit_add_file(&l->edit, level, m);
    if (rc) goto done;
  }
  if (p != end) {
    rc = LSM_CORRUPT;
    set_error(errmsg, "trailing bytes in", path);
    goto done;
  }
  rc = LSM_OK;
done:
  lsm_buffer_free(&buf);
  free(path);
  return rc;
}

/* The meta of table `number` in v (NULL: none). */
static lsm_file_meta *find_meta(const lsm_version *v, uint64_t number) {
  int level, i;
  if (v == NULL) return NULL;
  for (level = 0; level < LSM_MAX_LEVELS; level++) {
    for (i = 0; i < v->n_files[level]; i++) {
      if (v->files[level][i]->number == number) return v->files[level][i];
    }
  }
  return NULL;
}

/* Check every new meta of edit against its file: it must exist and hold at
** least the bytes the manifest says (three system calls; the table is
** opened, and its footer, index and filter verified, at first use through
** the table cache).  So a missing or truncated table fails the open, and a
** catch-up that finds a table gone (the owner moved on) starts again.  A
** table `have` already lists replaces the decoded meta (it is shared).  A
** missing table is missing_rc. */
static int check_tables(lsm_vset *vs, lsm_version_edit *edit, const lsm_version *have,
                        int missing_rc, lsm_buffer *errmsg) {
  int i, rc = LSM_OK;
  for (i = 0; i < edit->n_added && rc == LSM_OK; i++) {
    lsm_file_meta *m = edit->added[i].meta, *old = find_meta(have, m->number);
    lsm_file *f = NULL;
    uint64_t size = 0;
    char *tpath;
    if (old) {
      lsm_file_meta_free(m);
      edit->added[i].meta = old;   /* refs > 0: the edit does not own it */
      continue;
    }
    tpath = lsm_file_path(vs->dir, m->number, "sst");
    if (tpath == NULL) return LSM_NOMEM;
    rc = vs->env->open_read(vs->env, tpath, &f);
    if (rc == LSM_OK) {
      rc = vs->env->size(vs->env, f, &size);
      vs->env->close(vs->env, f);
      if (rc) set_error(errmsg, "cannot read table file", tpath);
    } else if (rc == LSM_NOTFOUND) {
      rc = missing_rc;
      set_error(errmsg, "missing table file", tpath);
    } else {
      set_error(errmsg, "cannot open table file", tpath);
    }
    if (rc == LSM_OK && size < m->size) {
      rc = LSM_CORRUPT;
      set_error(errmsg, "truncated table file", tpath);
    }
    free(tpath);
  }
  return rc;
}

static void take_counters(lsm_vset *vs, const lsm_vset_loaded *l) {
  vs->next_file_number = l->next_file_number;
  vs->last_seq = l->last_seq;
  vs->log_number = l->log_number;
  vs->generation = l->generation;
}

int lsm_vset_recover(lsm_vset *vs, lsm_buffer *errmsg) {
  lsm_vset_loaded l;
  lsm_version *v = NULL;
  int rc;
  memset(&l, 0, sizeof l);
  lsm_version_edit_init(&l.edit);
  rc = read_manifest(vs, &l, errmsg);
  if (rc == LSM_OK) rc = check_tables(vs, &l.edit, NULL, LSM_CORRUPT, errmsg);
  if (rc == LSM_OK) rc = version_apply_edit(NULL, &l.edit, &v);
  if (rc == LSM_OK) {
    take_counters(vs, &l);
    set_current(vs, v);
  }
  lsm_vset_loaded_free(&l);
  return rc;
}

int lsm_vset_reload_read(lsm_vset *vs, int force, lsm_vset_loaded *l, lsm_buffer *errmsg) {
  int rc;
  memset(l, 0, sizeof *l);
  lsm_version_edit_init(&l->edit);
  rc = read_manifest(vs, l, errmsg);
  if (rc == LSM_OK && !force && l->generation == vs->generation) {
    l->same = 1;
    return LSM_OK;
  }
  if (rc == LSM_OK) rc = check_tables(vs, &l->edit, vs->current, LSM_NOTFOUND, errmsg);
  return rc;
}

int lsm_vset_reload_install(lsm_vset *vs, lsm_vset_loaded *l) {
  lsm_version *v = NULL;
  int rc;
  if (l->same) return LSM_OK;
  rc = version_apply_edit(NULL, &l->edit, &v);
  if (rc) return rc;
  take_counters(vs, l);
  set_current(vs, v);
  return LSM_OK;
}

void lsm_vset_loaded_free(lsm_vset_loaded *l) {
  lsm_version_edit_free(&l->edit);
}

/* ---------------------------------------------------------------- queries */

/* Compare user key k against a file's range: <0 before, 0 inside, >0 after. */
static int range_cmp(const lsm_file_meta *m, lsm_slice ukey) {
  if (lsm_slice_cmp(ukey, meta_smallest_user(m)) < 0) return -1;
  if (lsm_slice_cmp(ukey, meta_largest_user(m)) > 0) return 1;
  return 0;
}

int lsm_version_overlaps_deeper(const lsm_version *v, int level, lsm_slice ukey) {
  int l, i;
  for (l = level; l < LSM_MAX_LEVELS; l++) {
    for (i = 0; i < v->n_files[l]; i++) {
      if (range_cmp(v->files[l][i], ukey) == 0) return 1;
    }
  }
  return 0;
}

int lsm_version_overlapping(const lsm_version *v, int level, lsm_slice lo,
                            lsm_slice hi, lsm_file_meta ***out, int *n_out) {
  lsm_file_meta **res = NULL;
  int i, n = 0;
  if (v->n_files[level] > 0) {
    res = malloc(sizeof(lsm_file_meta *) * (size_t)v->n_files[level]);
    if (res == NULL) return LSM_NOMEM;
  }
  for (i = 0; i < v->n_files[level]; i++) {
    lsm_file_meta *m = v->files[level][i];
    if (lo.p && lsm_slice_cmp(meta_largest_user(m), lo) < 0) continue;
    if (hi.p && lsm_slice_cmp(meta_smallest_user(m), hi) > 0) continue;
    res[n++] = m;
  }
  *out = res;
  *n_out = n;
  return LSM_OK;
}

/* ---------------------------------------------------------------- level iterator */

/* Iterates the files of one sorted level as one sequence: a binary search
** over the files' largest keys picks the file, and a table iterator over
** that file runs until it is exhausted, then the next file is opened.  The
** per-entry calls into the table iterator are direct (lsm_sst_iter_*), and
** a scan's step within a data block moves the table's block iterator
** itself. */
typedef struct level_it {
  lsm_it base;
  lsm_version *v;
  lsm_tcache *tables;
  int level;
  int file;                /* index of the open file, -1 none */
  lsm_it *table_it;
  lsm_block_iter *blk;     /* table_it's data block iterator
                              (lsm_sst_iter_block): steps move it directly */
  lsm_it *parked;          /* a healthy table iterator kept while the level
                              is positioned on no file (see set_file), or
                              NULL; never at the same time as table_it */
  int rc;
  lsm_buffer err;          /* text of rc, kept when its table iterator goes */
} level_it;

static lsm_file_meta **lvl_files(level_it *l) { return l->v->files[l->level]; }
static int lvl_n(level_it *l) { return l->v->n_files[l->level]; }

/* Records a failed table open as the level's error (its message NUL-ended). */
static void set_open_error(level_it *l, int rc, lsm_buffer *msg) {
  if (!l->rc) l->rc = rc;
  if (l->err.len == 0 && msg->len && lsm_buffer_set(&l->err, msg->data, msg->len) == LSM_OK &&
      l->err.data[l->err.len - 1] != '\0') {
    lsm_buffer_append(&l->err, "", 1);    /* best effort */
  }
}

/* Position on file `file` of the level (-1 or past the end: none).  The
** table comes from the table cache; a table that cannot be opened stops the
** level with its error, so the table iterator, when there is one, is always
** a table's (the per-entry calls into it are direct).
**
** Positioned on no file, the level keeps its table iterator aside (parked)
** when it is healthy, and the next file takes it back, re-pointed: a level
** that covers part of the key space is left on every seek past its last
** file and entered again on the next seek inside it, and a statement's
** seek (a cursor's iterator is refreshed and seeks again for the next
** statement) would otherwise allocate and free a table iterator each time.
** A parked iterator keeps its table referenced and may hold its last block
** (both released when it is re-pointed or freed). */
static void set_file(level_it *l, int file) {
  lsm_sst *t = NULL;
  lsm_buffer msg = {0};
  int rc;
  if (l->file == file && l->table_it) return;
  if (file >= 0 && file < lvl_n(l)) {
    rc = lsm_tcache_get(l->tables, lvl_files(l)[file]->number, lvl_files(l)[file]->size, &t,
                        &msg);
    if (rc) {
      set_open_error(l, rc, &msg);
      lsm_buffer_free(&msg);
      file = -1;
    }
  }
  if (t && l->table_it == NULL && l->parked) {
    l->table_it = l->parked;
    l->blk = lsm_sst_iter_block(l->table_it);
    l->parked = NULL;
  }
  if (t && l->table_it && lsm_it_status(l->table_it) == LSM_OK) {
    /* Another file of the level: the same table iterator, re-pointed (a
    ** seek that changes files costs no allocation). */
    lsm_sst_iter_retarget(l->table_it, t);
    lsm_sst_unref(t);
    l->file = file;
    return;
  }
  if (t == NULL && l->rc == LSM_OK && l->table_it && l->parked == NULL &&
      lsm_it_status(l->table_it) == LSM_OK) {
    l->parked = l->table_it;
    l->table_it = NULL;
    l->blk = NULL;
    l->file = -1;
    return;
  }
  if (l->table_it) {
    rc = lsm_it_status(l->table_it);
    if (rc && !l->rc) l->rc = rc;
    if (rc && l->err.len == 0) {
      const char *m = lsm_it_errmsg(l->table_it);
      if (m) lsm_buffer_set(&l->err, m, strlen(m) + 1);   /* best effort */
    }
    lsm_it_free(l->table_it);
    l->table_it = NULL;
    l->blk = NULL;
  }
  l->file = -1;
  if (t == NULL) return;
  l->table_it = lsm_sst_iter_new_ex(t, 1);   /* takes its own reference */
  if (l->table_it) l->blk = lsm_sst_iter_block(l->table_it);
  lsm_sst_unref(t);
  if (l->table_it == NULL) {
    if (!l->rc) l->rc = LSM_NOMEM;
    return;
  }
  l->file = file;
}

static int level_valid(lsm_it *it) {
  level_it *l = (level_it *)it;
  return l->rc == LSM_OK && l->table_it && lsm_sst_iter_valid(l->table_it);
}

/* Move to following files while the current one is exhausted. */
static void skip_forward(level_it *l) {
  while (l->rc == LSM_OK && l->table_it && !lsm_sst_iter_valid(l->table_it)) {
    int rc = lsm_it_status(l->table_it);
    if (rc) {
      l->rc = rc;
      return;
    }
    if (l->file + 1 >= lvl_n(l)) {
      set_file(l, -1);
      return;
    }
    set_file(l, l->file + 1);
    if (l->table_it) lsm_it_first(l->table_it);
  }
}

static void skip_backward(level_it *l) {
  while (l->rc == LSM_OK && l->table_it && !lsm_sst_iter_valid(l->table_it)) {
    int rc = lsm_it_status(l->table_it);
    if (rc) {
      l->rc = rc;
      return;
    }
    if (l->file == 0) {
      set_file(l, -1);
      return;
    }
    set_file(l, l->file - 1);
    if (l->table_it) lsm_it_last(l->table_it);
  }
}

static void level_first(lsm_it *it) {
  level_it *l = (level_it *)it;
  set_file(l, 0);
  if (l->table_it) lsm_it_first(l->table_it);
  skip_forward(l);
}

static void level_last(lsm_it *it) {
  level_it *l = (level_it *)it;
  set_file(l, lvl_n(l) - 1);
  if (l->table_it) lsm_it_last(l->table_it);
  skip_backward(l);
}

/* Index of the first file whose largest key >= target (n if none). */
static int find_file(level_it *l, lsm_slice target) {
  int lo = 0, hi = lvl_n(l);
  while (lo < hi) {
    int mid = lo + (hi - lo) / 2;
    lsm_file_meta *m = lvl_files(l)[mid];
    if (lsm_ikey_cmp(lsm_slice_make(m->largest.data, m->largest.len), target) < 0) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return lo;
}

static void level_seek(lsm_it *it, lsm_slice target) {
  level_it *l = (level_it *)it;
  int f = find_file(l, target);
  set_file(l, f);
  if (l->table_it) lsm_it_seek(l->table_it, target);
  skip_forward(l);
}

static void level_seek_le(lsm_it *it, lsm_slice target) {
  level_it *l = (level_it *)it;
  int f = find_file(l, target);
  if (f >= lvl_n(l)) f = lvl_n(l) - 1;
  set_file(l, f);
  if (l->table_it) lsm_it_seek_le(l->table_it, target);
  skip_backward(l);
}

static void level_next(lsm_it *it) {
  level_it *l = (level_it *)it;
  lsm_sst_iter_next(l->table_it);
  skip_forward(l);
}

static void level_prev(lsm_it *it) {
  level_it *l = (level_it *)it;
  lsm_sst_iter_prev(l->table_it);
  skip_backward(l);
}

/* Fused steps (iter.h): a step that stays in the file is one direct call. */
static int level_next_key(lsm_it *it, lsm_slice *key) {
  level_it *l = (level_it *)it;
  lsm_block_iter_next(l->blk);
  if (lsm_block_iter_valid(l->blk)) {
    *key = lsm_block_iter_key(l->blk);
    return 1;
  }
  if (lsm_sst_iter_next_block(l->table_it, key)) return 1;
  skip_forward(l);
  if (!level_valid(it)) return 0;
  *key = lsm_sst_iter_key(l->table_it);
  return 1;
}

static int level_prev_key(lsm_it *it, lsm_slice *key) {
  level_it *l = (level_it *)it;
  lsm_block_iter_prev(l->blk);
  if (lsm_block_iter_valid(l->blk)) {
    *key = lsm_block_iter_key(l->blk);
    return 1;
  }
  if (lsm_sst_iter_prev_block(l->table_it, key)) return 1;
  skip_backward(l);
  if (!level_valid(it)) return 0;
  *key = lsm_sst_iter_key(l->table_it);
  return 1;
}

static lsm_slice level_key(lsm_it *it) {
  return lsm_sst_iter_key(((level_it *)it)->table_it);
}

static lsm_slice level_value(lsm_it *it) {
  return lsm_sst_iter_value(((level_it *)it)->table_it);
}

static int level_status(lsm_it *it) {
  level_it *l = (level_it *)it;
  if (l->rc) return l->rc;
  return l->table_it ? lsm_it_status(l->table_it) : LSM_OK;
}

static const char *level_errmsg(lsm_it *it) {
  level_it *l = (level_it *)it;
  if (l->err.len) return (const char *)l->err.data;
  return l->rc && l->table_it ? lsm_it_errmsg(l->table_it) : NULL;
}

static void level_free(lsm_it *it) {
  level_it *l = (level_it *)it;
  lsm_it_free(l->table_it);
  lsm_it_free(l->parked);
  lsm_buffer_free(&l->err);
  free(l);
}

static const lsm_it_methods level_methods = {
  level_valid, level_first, level_last,  level_seek,   level_seek_le, level_next,
  level_prev,  level_key,   level_value, level_status, level_free, level_errmsg,
  level_next_key, level_prev_key,
};

lsm_it *lsm_level_iter_new(lsm_version *v, int level, lsm_tcache *tables) {
  level_it *l = calloc(1, sizeof *l);
  if (l == NULL) return NULL;
  l->base.m = &level_methods;
  l->v = v;
  l->tables = tables;
  l->level = level;
  l->file = -1;
  return &l->base;
}
