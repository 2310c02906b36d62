/*
** fault_env.c — the fault-injecting test environment (see fault_env.h for
** what it models).
**
** Each method first checks whether the environment has crashed (frozen:
** fail), then, for a mutating call, whether this call is the crash point,
** then whether it is the call armed to fail with an I/O error, and
** otherwise forwards to the wrapped environment.  A call is numbered by an
** atomic fetch-and-add, so when several threads use the environment exactly
** one of them gets call number N.
**
** Durability tracking keeps, under fe->mu, a shadow of every tracked
** directory:
**
**   inode   the current contents of a file (every byte appended through
**           this environment, after the truncation of open_append) and its
**           durable contents (a copy taken at each successful sync), plus
**           the end offsets of the appends made since that sync (the sizes
**           a power loss may leave the file at);
**   dir     two lists of (name -> inode): `cur`, mirroring the real
**           directory, and `dur`, the entries as of the last successful
**           sync_dir.  A subdirectory made by mkdir is an entry with a NULL
**           inode; the dir it names is marked `created`.
**
** Inodes are reference counted by the entries naming them (in either list)
** and by open handles, so a file removed or renamed over stays in the
** shadow for as long as a durable entry or a writer still needs it.
**
** A power loss rewrites the real directory from the shadow: it deletes
** every regular file that has no durable entry and writes each durable
** entry's surviving contents (durable bytes plus whatever of the unsynced
** tail the mode keeps), skipping files whose real contents already equal
** that.  A directory created through mkdir whose entry is not durable in
** its parent (or whose parent is itself such a directory) is removed
** instead, with everything in it.  The shadow is then left as it was: the
** environment is frozen and only serves close/unlock until it is freed.
*/
#include "fault_env.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SECTOR 512

/* ---------------------------------------------------------------- shadow */

typedef struct bytes {
  unsigned char *p;
  size_t n, cap;
} bytes;

typedef struct inode {
  int refs;
  bytes data;                /* current contents */
  bytes dur;                 /* durable contents */
  int dur_prefix;            /* dur == data[0 .. dur.n) */
  size_t *bounds;            /* ends of the appends since the last sync */
  size_t n_bounds, cap_bounds;
} inode;

typedef struct entry {
  char *name;
  inode *ino;
} entry;

typedef struct entries {
  entry *e;
  int n, cap;
} entries;

typedef struct tdir {
  char *path;                /* normalised: no trailing '/' */
  entries cur, dur;
  int created;               /* made by mkdir while tracked: it survives a
                                power loss only if its entry does */
} tdir;

/* Directories are allocated one by one, so a tdir pointer stays valid when
** more directories are tracked. */
struct lsm_fault_track {
  tdir **dirs;
  int n_dirs, cap_dirs;
};

/* A handle: the target's file plus the shadow inode it writes (NULL when
** untracked or opened for reading). */
struct lsm_file {
  lsm_file *inner;
  inode *ino;
};

static int bytes_append(bytes *b, const void *p, size_t n) {
  if (n == 0) return LSM_OK;
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    unsigned char *q;
    while (cap < b->n + n) cap *= 2;
    q = realloc(b->p, cap);
    if (q == NULL) return LSM_NOMEM;
    b->p = q;
    b->cap = cap;
  }
  memcpy(b->p + b->n, p, n);
  b->n += n;
  return LSM_OK;
}

static inode *inode_new(void) {
  inode *i = calloc(1, sizeof *i);
  if (i) i->dur_prefix = 1;
  return i;
}

/* NULL is the inode of a directory entry: nothing to count. */
static void inode_ref(inode *i) {
  if (i) i->refs++;
}

static void inode_unref(inode *i) {
  if (i == NULL || --i->refs > 0) return;
  free(i->data.p);
  free(i->dur.p);
  free(i->bounds);
  free(i);
}

static int inode_append(inode *i, const void *p, size_t n) {
  int rc = bytes_append(&i->data, p, n);
  if (rc) return rc;
  if (i->n_bounds == i->cap_bounds) {
    size_t cap = i->cap_bounds ? i->cap_bounds * 2 : 16;
    size_t *q = realloc(i->bounds, cap * sizeof *q);
    if (q == NULL) return LSM_NOMEM;
    i->bounds = q;
    i->cap_bounds = cap;
  }
  i->bounds[i->n_bounds++] = i->data.n;
  return LSM_OK;
}

/* The durable contents become the current ones. */
static int inode_sync(inode *i) {
  int rc;
  if (i->dur_prefix) {
    rc = bytes_append(&i->dur, i->data.p + i->dur.n, i->data.n - i->dur.n);
  } else {
    i->dur.n = 0;
    rc = bytes_append(&i->dur, i->data.p, i->data.n);
  }
  if (rc) return rc;
  i->dur_prefix = 1;
  i->n_bounds = 0;
  return LSM_OK;
}

static void inode_truncate(inode *i) {
  i->data.n = 0;
  i->n_bounds = 0;
  i->dur_prefix = i->dur.n == 0;
}

static entry *entries_find(entries *es, const char *name) {
  int k;
  for (k = 0; k < es->n; k++) {
    if (strcmp(es->e[k].name, name) == 0) return &es->e[k];
  }
  return NULL;
}

/* Point name at ino (replacing what it named); takes a reference.  ino
** NULL: name is a subdirectory. */
static int entries_set(entries *es, const char *name, inode *ino) {
  entry *e = entries_find(es, name);
  if (e) {
    inode_ref(ino);
    inode_unref(e->ino);
    e->ino = ino;
    return LSM_OK;
  }
  if (es->n == es->cap) {
    int cap = es->cap ? es->cap * 2 : 16;
    entry *q = realloc(es->e, (size_t)cap * sizeof *q);
    if (q == NULL) return LSM_NOMEM;
    es->e = q;
    es->cap = cap;
  }
  es->e[es->n].name = strdup(name);
  if (es->e[es->n].name == NULL) return LSM_NOMEM;
  es->e[es->n].ino = ino;
  inode_ref(ino);
  es->n++;
  return LSM_OK;
}

static void entries_remove(entries *es, const char *name) {
  entry *e = entries_find(es, name);
  if (e == NULL) return;
  free(e->name);
  inode_unref(e->ino);
  *e = es->e[--es->n];
}

static void entries_clear(entries *es) {
  int k;
  for (k = 0; k < es->n; k++) {
    free(es->e[k].name);
    inode_unref(es->e[k].ino);
  }
  es->n = 0;
}

static int entries_copy(entries *to, const entries *from) {
  int k, rc = LSM_OK;
  entries_clear(to);
  for (k = 0; k < from->n && rc == LSM_OK; k++) {
    rc = entries_set(to, from->e[k].name, from->e[k].ino);
  }
  return rc;
}

/* Split path into its normalised directory and its last component. */
static int split_path(const char *path, char **dir, const char **name) {
  const char *slash = strrchr(path, '/');
  size_t n;
  if (slash == NULL) {
    *dir = strdup(".");
    *name = path;
    return *dir ? LSM_OK : LSM_NOMEM;
  }
  *name = slash + 1;
  n = (size_t)(slash - path);
  while (n > 1 && path[n - 1] == '/') n--;
  if (n == 0) n = 1;   /* "/x": the root */
  *dir = strndup(path, n);
  return *dir ? LSM_OK : LSM_NOMEM;
}

static char *normalise_dir(const char *path) {
  size_t n = strlen(path);
  while (n > 1 && path[n - 1] == '/') n--;
  return strndup(path, n);
}

static char *join(const char *dir, const char *name) {
  size_t n = strlen(dir) + strlen(name) + 2;
  char *p = malloc(n);
  if (p) {
    strcpy(p, dir);
    strcat(p, "/");
    strcat(p, name);
  }
  return p;
}

/* Read a whole real file through the target. */
static int read_real(lsm_env *t, const char *path, bytes *out) {
  lsm_file *f = NULL;
  uint64_t size = 0;
  size_t got = 0;
  int rc = t->open_read(t, path, &f);
  if (rc) return rc;
  rc = t->size(t, f, &size);
  out->n = 0;
  if (rc == LSM_OK && size > 0) {
    unsigned char *buf = malloc((size_t)size);
    if (buf == NULL) {
      rc = LSM_NOMEM;
    } else {
      rc = t->pread(t, f, 0, buf, (size_t)size, &got);
      if (rc == LSM_OK) rc = bytes_append(out, buf, got);
      free(buf);
    }
  }
  t->close(t, f);
  return rc;
}

static int is_regular(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* The tracked directory `path` (normalised), adopting it on first use:
** every regular file already in it becomes a durable entry. */
static int track_dir(lsm_fault_env *fe, const char *path, tdir **out) {
  lsm_fault_track *tr = fe->track;
  char **names = NULL;
  int n_names = 0, k, rc;
  tdir *d;
  for (k = 0; k < tr->n_dirs; k++) {
    if (strcmp(tr->dirs[k]->path, path) == 0) {
      *out = tr->dirs[k];
      return LSM_OK;
    }
  }
  if (tr->n_dirs == tr->cap_dirs) {
    int cap = tr->cap_dirs ? tr->cap_dirs * 2 : 8;
    tdir **q = realloc(tr->dirs, (size_t)cap * sizeof *q);
    if (q == NULL) return LSM_NOMEM;
    tr->dirs = q;
    tr->cap_dirs = cap;
  }
  d = calloc(1, sizeof *d);
  if (d == NULL) return LSM_NOMEM;
  d->path = strdup(path);
  if (d->path == NULL) {
    free(d);
    return LSM_NOMEM;
  }
  tr->dirs[tr->n_dirs++] = d;
  rc = fe->target->list(fe->target, path, &names, &n_names);
  if (rc == LSM_NOTFOUND) rc = LSM_OK;   /* not created yet */
  for (k = 0; k < n_names && rc == LSM_OK; k++) {
    char *p = join(path, names[k]);
    inode *ino;
    if (p == NULL) {
      rc = LSM_NOMEM;
      break;
    }
    if (!is_regular(p)) {
      free(p);
      continue;
    }
    ino = inode_new();
    if (ino == NULL) {
      free(p);
      rc = LSM_NOMEM;
      break;
    }
    inode_ref(ino);
    rc = read_real(fe->target, p, &ino->data);
    if (rc == LSM_OK) rc = inode_sync(ino);
    if (rc == LSM_OK) rc = entries_set(&d->cur, names[k], ino);
    if (rc == LSM_OK) rc = entries_set(&d->dur, names[k], ino);
    inode_unref(ino);
    free(p);
  }
  lsm_env_free_list(names, n_names);
  *out = d;
  return rc;
}

/* The tracked directory holding path, and path's last component. */
static int track_path(lsm_fault_env *fe, const char *path, tdir **d, const char **name) {
  char *dir = NULL;
  int rc = split_path(path, &dir, name);
  if (rc == LSM_OK) rc = track_dir(fe, dir, d);
  free(dir);
  return rc;
}

static uint64_t next_random(lsm_fault_env *fe) {
  /* xorshift64*; fe->mu held */
  uint64_t x = fe->rng ? fe->rng : 1;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  fe->rng = x;
  return x * 2685821657736338717ULL;
}

/* What survives of ino after a power loss in `mode`, into out. */
static int surviving_contents(lsm_fault_env *fe, inode *ino, int mode, bytes *out) {
  size_t size, keep, off, k;
  int rc;
  out->n = 0;
  rc = bytes_append(out, ino->dur.p, ino->dur.n);
  if (rc || mode == LSM_CRASH_POWER_DROP || !ino->dur_prefix || ino->n_bounds == 0) return rc;
  /* The size the file is left at: the durable size or the end of an append
  ** since the sync. */
  k = (size_t)(next_random(fe) % (ino->n_bounds + 1));
  size = k == 0 ? ino->dur.n : ino->bounds[k - 1];
  if (mode == LSM_CRASH_POWER_PREFIX) {
    /* Data reaches the disk in order: keep it up to a sector boundary (or
    ** up to the size), zeros after. */
    size_t first = (ino->dur.n / SECTOR + 1) * SECTOR;
    size_t n_choices = size > first ? (size - first) / SECTOR + 2 : 2;
    size_t pick = (size_t)(next_random(fe) % n_choices);
    if (pick == 0) keep = ino->dur.n;
    else if (pick == n_choices - 1) keep = size;
    else keep = first + (pick - 1) * SECTOR;
    if (keep > size) keep = size;
    rc = bytes_append(out, ino->data.p + ino->dur.n, keep - ino->dur.n);
    for (off = keep; off < size && rc == LSM_OK; off++) rc = bytes_append(out, "", 1);
    return rc;
  }
  /* LSM_CRASH_POWER_SECTORS: each sector of the unsynced part independently. */
  for (off = ino->dur.n; off < size && rc == LSM_OK;) {
    size_t end = (off / SECTOR + 1) * SECTOR;
    int survives = (int)(next_random(fe) & 1);
    if (end > size) end = size;
    if (survives) {
      rc = bytes_append(out, ino->data.p + off, end - off);
    } else {
      for (; off < end && rc == LSM_OK; off++) rc = bytes_append(out, "", 1);
    }
    off = end;
  }
  return rc;
}

static int write_real(lsm_env *t, const char *path, const bytes *b) {
  lsm_file *f = NULL;
  int rc = t->open_append(t, path, &f), rc2;
  if (rc) return rc;
  rc = b->n ? t->append(t, f, b->p, b->n) : LSM_OK;
  rc2 = t->close(t, f);
  return rc ? rc : rc2;
}

static tdir *find_dir(lsm_fault_track *tr, const char *path) {
  int k;
  for (k = 0; k < tr->n_dirs; k++) {
    if (strcmp(tr->dirs[k]->path, path) == 0) return tr->dirs[k];
  }
  return NULL;
}

/* Does directory d exist after a power loss?  One made by mkdir does when
** its entry in its parent is durable and the parent exists. */
static int dir_survives(lsm_fault_track *tr, const tdir *d) {
  char *parent = NULL;
  const char *name = NULL;
  tdir *pd;
  entry *e;
  int ok;
  if (!d->created) return 1;
  if (split_path(d->path, &parent, &name) != LSM_OK) return 1;
  pd = find_dir(tr, parent);
  free(parent);
  if (pd == NULL) return 1;
  e = entries_find(&pd->dur, name);
  ok = e != NULL && e->ino == NULL;
  return ok && dir_survives(tr, pd);
}

/* rm -rf path through the target (best effort). */
static void remove_real_tree(lsm_env *t, const char *path) {
  char **names = NULL;
  int n_names = 0, j;
  struct stat st;
  if (t->list(t, path, &names, &n_names) == LSM_OK) {
    for (j = 0; j < n_names; j++) {
      char *p = join(path, names[j]);
      if (p == NULL) continue;
      if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) remove_real_tree(t, p);
      else t->remove(t, p);
      free(p);
    }
    lsm_env_free_list(names, n_names);
  }
  t->rmdir(t, path);
}

/* Rewrite every tracked directory to its state after a power loss. */
static int power_loss(lsm_fault_env *fe, int mode) {
  lsm_fault_track *tr = fe->track;
  lsm_env *t = fe->target;
  bytes content = {0};
  int k, j, rc = LSM_OK;
  for (k = 0; k < tr->n_dirs; k++) {
    tdir *d = tr->dirs[k];
    char **names = NULL;
    int n_names = 0;
    if (!dir_survives(tr, d)) {
      remove_real_tree(t, d->path);   /* the directory never reached the disk */
      continue;
    }
    if (t->list(t, d->path, &names, &n_names) == LSM_OK) {
      for (j = 0; j < n_names; j++) {
        char *p = join(d->path, names[j]);
        if (p && entries_find(&d->dur, names[j]) == NULL && is_regular(p)) {
          int r = t->remove(t, p);
          if (r && rc == LSM_OK) rc = r;
        }
        free(p);
      }
      lsm_env_free_list(names, n_names);
    }
    for (j = 0; j < d->dur.n; j++) {
      entry *e = &d->dur.e[j];
      entry *c = entries_find(&d->cur, e->name);
      char *p;
      int r;
      if (e->ino == NULL) continue;   /* a subdirectory: tracked on its own */
      p = join(d->path, e->name);
      r = p ? surviving_contents(fe, e->ino, mode, &content) : LSM_NOMEM;
      /* Unchanged files are left alone (the LOCK file, untouched tables). */
      if (r == LSM_OK && !(c && c->ino == e->ino && e->ino->data.n == content.n &&
                           (content.n == 0 || memcmp(e->ino->data.p, content.p, content.n) == 0))) {
        r = write_real(t, p, &content);
      }
      if (r && rc == LSM_OK) rc = r;
      free(p);
    }
  }
  free(content.p);
  return rc;
}

/* ---------------------------------------------------------------- checks */

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

static int frozen(lsm_fault_env *fe) {
  return atomic_load(&fe->crashed);
}

/* Freeze; for a power loss rewrite the files (fe->mu held). */
static int do_crash(lsm_fault_env *fe, int mode) {
  atomic_store(&fe->crashed, 1);
  if (mode == LSM_CRASH_KILL) return LSM_OK;
  if (fe->track == NULL) return LSM_MISUSE;
  return power_loss(fe, mode);
}

/* Count a mutating call; nonzero if it is the crash point. */
static int crash_point(lsm_fault_env *fe) {
  uint64_t n = atomic_fetch_add(&fe->mutations, 1) + 1;
  uint64_t at = atomic_load(&fe->crash_at);
  return at != 0 && n == at;
}

/* The checks every mutating call makes first, in this order: a frozen env
** fails everything; the crash point freezes it (rewriting the files for a
** power loss) and fails the call; then the call's own injected fault.
** LSM_OK when the call may go ahead (fe->mu held). */
static int mutation_gate(lsm_fault_env *fe, lsm_fault_kind kind) {
  if (frozen(fe)) return LSM_IOERR;
  if (crash_point(fe)) {
    do_crash(fe, atomic_load(&fe->crash_mode));
    return LSM_IOERR;
  }
  return hit(fe, kind) ? fault_status(fe) : LSM_OK;
}

/* Wrap a target handle (on NOMEM the caller releases inner). */
static int wrap(lsm_file *inner, inode *ino, lsm_file **out) {
  lsm_file *f = malloc(sizeof *f);
  if (f == NULL) return LSM_NOMEM;
  f->inner = inner;
  f->ino = ino;
  if (ino) inode_ref(ino);
  *out = f;
  return LSM_OK;
}

/* ---------------------------------------------------------------- methods */

static int f_open_read(lsm_env *env, const char *path, lsm_file **out) {
  lsm_fault_env *fe = fault_of(env);
  lsm_file *inner = NULL;
  int rc;
  if (frozen(fe)) return LSM_IOERR;
  if (hit(fe, LSM_FAULT_OPEN_READ)) return fault_status(fe);
  rc = fe->target->open_read(fe->target, path, &inner);
  if (rc) return rc;
  rc = wrap(inner, NULL, out);
  if (rc) fe->target->close(fe->target, inner);
  return rc;
}

static int f_open_append(lsm_env *env, const char *path, lsm_file **out) {
  lsm_fault_env *fe = fault_of(env);
  lsm_file *inner = NULL;
  inode *ino = NULL;
  tdir *d = NULL;
  const char *name = NULL;
  int rc = LSM_OK;
  pthread_mutex_lock(&fe->mu);
  rc = mutation_gate(fe, LSM_FAULT_OPEN_APPEND);
  if (rc) goto done;
  /* Adopt the directory before the file exists, so that a new file is not
  ** taken for a durable one. */
  if (fe->track) rc = track_path(fe, path, &d, &name);
  if (rc) goto done;
  rc = fe->target->open_append(fe->target, path, &inner);
  if (rc) goto done;
  if (fe->track) {
    entry *e;
    int r = LSM_OK;
    e = entries_find(&d->cur, name);
    if (e) {
      ino = e->ino;   /* O_TRUNC keeps the file */
      inode_truncate(ino);
    } else {
      ino = inode_new();
      if (ino == NULL) r = LSM_NOMEM;
      else {
        inode_ref(ino);
        r = entries_set(&d->cur, name, ino);
        inode_unref(ino);   /* the entry holds it now */
      }
    }
    if (r) {
      fe->target->close(fe->target, inner);
      rc = r;
      goto done;
    }
  }
  rc = wrap(inner, ino, out);
  if (rc) fe->target->close(fe->target, inner);
done:
  pthread_mutex_unlock(&fe->mu);
  return rc;
}

/* Opens without truncating: nothing durable changes, so it is not a crash
** point.  A tracked file keeps its shadow inode; one created behind the
** environment's back (another process) is written untracked. */
static int f_open_append_existing(lsm_env *env, const char *path, lsm_file **out) {
  lsm_fault_env *fe = fault_of(env);
  lsm_file *inner = NULL;
  inode *ino = NULL;
  tdir *d = NULL;
  const char *name = NULL;
  int rc = LSM_OK;
  pthread_mutex_lock(&fe->mu);
  if (frozen(fe)) {
    rc = LSM_IOERR;
  } else if (hit(fe, LSM_FAULT_OPEN_APPEND_EXISTING)) {
    rc = fault_status(fe);
  }
  if (rc == LSM_OK && fe->track) rc = track_path(fe, path, &d, &name);
  if (rc == LSM_OK) rc = fe->target->open_append_existing(fe->target, path, &inner);
  if (rc == LSM_OK && fe->track) {
    entry *e = entries_find(&d->cur, name);
    if (e) ino = e->ino;
  }
  if (rc == LSM_OK) {
    rc = wrap(inner, ino, out);
    if (rc) fe->target->close(fe->target, inner);
  }
  pthread_mutex_unlock(&fe->mu);
  return rc;
}

static int f_pread(lsm_env *env, lsm_file *f, uint64_t off, void *buf,
                   size_t n, size_t *n_read) {
  lsm_fault_env *fe = fault_of(env);
  if (frozen(fe)) return LSM_IOERR;
  if (hit(fe, LSM_FAULT_PREAD)) return fault_status(fe);
  return fe->target->pread(fe->target, f->inner, off, buf, n, n_read);
}

static int f_append(lsm_env *env, lsm_file *f, const void *buf, size_t n) {
  lsm_fault_env *fe = fault_of(env);
  int rc = LSM_OK;
  pthread_mutex_lock(&fe->mu);
  if (frozen(fe)) {
    rc = LSM_IOERR;
  } else if (crash_point(fe)) {
    int mode = atomic_load(&fe->crash_mode);
    if (mode == LSM_CRASH_KILL) {
      if (atomic_load(&fe->kill_partial) && n > 0) {
        size_t keep = (size_t)(next_random(fe) % n);
        if (keep > 0 && fe->target->append(fe->target, f->inner, buf, keep) == LSM_OK) {
          atomic_fetch_add(&fe->bytes_appended, keep);
          if (f->ino) inode_append(f->ino, buf, keep);
        }
      }
    } else if (f->ino) {
      inode_append(f->ino, buf, n);   /* written, never synced */
    }
    do_crash(fe, mode);
    rc = LSM_IOERR;
  } else if (hit(fe, LSM_FAULT_APPEND)) {
    /* A torn write: part of the buffer reaches the file, then the error. */
    size_t keep = atomic_load(&fe->partial_append);
    if (keep > n) keep = n;
    if (keep > 0 && fe->target->append(fe->target, f->inner, buf, keep) == LSM_OK) {
      atomic_fetch_add(&fe->bytes_appended, keep);
      if (f->ino) inode_append(f->ino, buf, keep);
    }
    rc = fault_status(fe);
  } else {
    rc = fe->target->append(fe->target, f->inner, buf, n);
    if (rc == LSM_OK) {
      atomic_fetch_add(&fe->bytes_appended, n);
      if (f->ino) rc = inode_append(f->ino, buf, n);
    }
  }
  pthread_mutex_unlock(&fe->mu);
  return rc;
}

static int f_sync(lsm_env *env, lsm_file *f) {
  lsm_fault_env *fe = fault_of(env);
  int rc = LSM_OK;
  pthread_mutex_lock(&fe->mu);
  rc = mutation_gate(fe, LSM_FAULT_SYNC);
  if (rc == LSM_OK) {
    rc = atomic_load(&fe->skip_sync) ? LSM_OK : fe->target->sync(fe->target, f->inner);
    if (rc == LSM_OK && f->ino) rc = inode_sync(f->ino);
  }
  pthread_mutex_unlock(&fe->mu);
  return rc;
}

static int f_size(lsm_env *env, lsm_file *f, uint64_t *size) {
  lsm_fault_env *fe = fault_of(env);
  if (frozen(fe)) return LSM_IOERR;
  if (hit(fe, LSM_FAULT_SIZE)) return fault_status(fe);
  return fe->target->size(fe->target, f->inner, size);
}

/* The file is closed even when the fault fires or the environment is
** frozen: callers treat a close as final whatever its status. */
static int f_close(lsm_env *env, lsm_file *f) {
  lsm_fault_env *fe = fault_of(env);
  int fail = frozen(fe) || hit(fe, LSM_FAULT_CLOSE);
  int rc = fe->target->close(fe->target, f->inner);
  pthread_mutex_lock(&fe->mu);
  inode_unref(f->ino);
  pthread_mutex_unlock(&fe->mu);
  free(f);
  if (frozen(fe)) return LSM_IOERR;
  return fail ? fault_status(fe) : rc;
}

static int f_rename(lsm_env *env, const char *from, const char *to) {
  lsm_fault_env *fe = fault_of(env);
  int rc = LSM_OK;
  pthread_mutex_lock(&fe->mu);
  rc = mutation_gate(fe, LSM_FAULT_RENAME);
  if (rc == LSM_OK) {
    tdir *dfrom = NULL, *dto = NULL;
    const char *nfrom = NULL, *nto = NULL;
    if (fe->track) {
      rc = track_path(fe, from, &dfrom, &nfrom);
      if (rc == LSM_OK) rc = track_path(fe, to, &dto, &nto);
    }
    if (rc == LSM_OK) rc = fe->target->rename(fe->target, from, to);
    if (rc == LSM_OK && fe->track) {
      entry *e = entries_find(&dfrom->cur, nfrom);
      if (e) {
        inode *ino = e->ino;
        inode_ref(ino);
        entries_remove(&dfrom->cur, nfrom);
        rc = entries_set(&dto->cur, nto, ino);
        inode_unref(ino);
      }
    }
  }
  pthread_mutex_unlock(&fe->mu);
  return rc;
}

static int f_remove(lsm_env *env, const char *path) {
  lsm_fault_env *fe = fault_of(env);
  int rc = LSM_OK;
  pthread_mutex_lock(&fe->mu);
  rc = mutation_gate(fe, LSM_FAULT_REMOVE);
  if (rc == LSM_OK) {
    tdir *d = NULL;
    const char *name = NULL;
    if (fe->track) rc = track_path(fe, path, &d, &name);
    if (rc == LSM_OK) rc = fe->target->remove(fe->target, path);
    if (rc == LSM_OK && d) entries_remove(&d->cur, name);
  }
  pthread_mutex_unlock(&fe->mu);
  return rc;
}

static int f_mkdir(lsm_env *env, const char *path) {
  lsm_fault_env *fe = fault_of(env);
  int rc = LSM_OK;
  pthread_mutex_lock(&fe->mu);
  rc = mutation_gate(fe, LSM_FAULT_MKDIR);
  if (rc == LSM_OK) {
    struct stat st;
    int existed = stat(path, &st) == 0;
    char *dir = normalise_dir(path);
    tdir *parent = NULL, *d = NULL;
    const char *name = NULL;
    if (dir == NULL) rc = LSM_NOMEM;
    /* The parent first, so that the new entry is not adopted as durable. */
    if (rc == LSM_OK && fe->track && !existed) rc = track_path(fe, dir, &parent, &name);
    if (rc == LSM_OK) rc = fe->target->mkdir(fe->target, path);
    if (rc == LSM_OK && fe->track) {
      /* Adopt what an existing directory holds (see fault_env.h); a new
      ** one is an entry of its parent, durable after sync_dir of it. */
      rc = track_dir(fe, dir, &d);
      if (rc == LSM_OK && !existed) {
        d->created = 1;
        rc = entries_set(&parent->cur, name, NULL);
      }
    }
    free(dir);
  }
  pthread_mutex_unlock(&fe->mu);
  return rc;
}

static int f_rmdir(lsm_env *env, const char *path) {
  lsm_fault_env *fe = fault_of(env);
  int rc = LSM_OK;
  pthread_mutex_lock(&fe->mu);
  rc = mutation_gate(fe, LSM_FAULT_RMDIR);
  if (rc == LSM_OK) {
    rc = fe->target->rmdir(fe->target, path);
    if (rc == LSM_OK && fe->track) {
      char *parent = NULL;
      const char *name = NULL;
      tdir *pd;
      char *norm = normalise_dir(path);
      if (norm && split_path(norm, &parent, &name) == LSM_OK) {
        pd = find_dir(fe->track, parent);
        if (pd) entries_remove(&pd->cur, name);
      }
      free(parent);
      free(norm);
    }
  }
  pthread_mutex_unlock(&fe->mu);
  return rc;
}

static int f_list(lsm_env *env, const char *dir, char ***names, int *n_names) {
  lsm_fault_env *fe = fault_of(env);
  if (frozen(fe)) return LSM_IOERR;
  if (hit(fe, LSM_FAULT_LIST)) return fault_status(fe);
  return fe->target->list(fe->target, dir, names, n_names);
}

static int f_sync_dir(lsm_env *env, const char *dir) {
  lsm_fault_env *fe = fault_of(env);
  int rc = LSM_OK;
  pthread_mutex_lock(&fe->mu);
  rc = mutation_gate(fe, LSM_FAULT_SYNC_DIR);
  if (rc == LSM_OK) {
    tdir *d = NULL;
    if (fe->track) {
      char *path = normalise_dir(dir);
      rc = path ? track_dir(fe, path, &d) : LSM_NOMEM;
      free(path);
    }
    if (rc == LSM_OK && !atomic_load(&fe->skip_sync)) rc = fe->target->sync_dir(fe->target, dir);
    if (rc == LSM_OK && d) rc = entries_copy(&d->dur, &d->cur);
  }
  pthread_mutex_unlock(&fe->mu);
  return rc;
}

static int f_lock(lsm_env *env, const char *path, lsm_file **out) {
  lsm_fault_env *fe = fault_of(env);
  lsm_file *inner = NULL;
  tdir *d = NULL;
  const char *name = NULL;
  int rc = LSM_OK;
  pthread_mutex_lock(&fe->mu);
  rc = mutation_gate(fe, LSM_FAULT_LOCK);
  if (rc) goto done;
  if (fe->track) rc = track_path(fe, path, &d, &name);
  if (rc) goto done;
  rc = fe->target->lock(fe->target, path, &inner);
  if (rc) goto done;
  if (fe->track) {
    /* The lock file is created if missing: a new, empty, unsynced entry. */
    int r = LSM_OK;
    if (entries_find(&d->cur, name) == NULL) {
      inode *ino = inode_new();
      if (ino == NULL) r = LSM_NOMEM;
      else {
        inode_ref(ino);
        r = entries_set(&d->cur, name, ino);
        inode_unref(ino);
      }
    }
    if (r) {
      fe->target->unlock(fe->target, inner);
      rc = r;
      goto done;
    }
  }
  rc = wrap(inner, NULL, out);
  if (rc) fe->target->unlock(fe->target, inner);
done:
  pthread_mutex_unlock(&fe->mu);
  return rc;
}

/* Like close: the lock is released even when the fault fires. */
static int f_unlock(lsm_env *env, lsm_file *lock) {
  lsm_fault_env *fe = fault_of(env);
  int fail = frozen(fe) || hit(fe, LSM_FAULT_UNLOCK);
  int rc = fe->target->unlock(fe->target, lock->inner);
  free(lock);
  if (frozen(fe)) return LSM_IOERR;
  return fail ? fault_status(fe) : rc;
}

/* Like lock: creating the file is a mutating call, and a tracked directory
** gains an empty, unsynced entry when the file is new. */
static int f_open_shared(lsm_env *env, const char *path, lsm_file **out) {
  lsm_fault_env *fe = fault_of(env);
  lsm_file *inner = NULL;
  tdir *d = NULL;
  const char *name = NULL;
  int rc = LSM_OK;
  pthread_mutex_lock(&fe->mu);
  rc = mutation_gate(fe, LSM_FAULT_OPEN_SHARED);
  if (rc) goto done;
  if (fe->track) rc = track_path(fe, path, &d, &name);
  if (rc) goto done;
  rc = fe->target->open_shared(fe->target, path, &inner);
  if (rc) goto done;
  if (fe->track && entries_find(&d->cur, name) == NULL) {
    inode *ino = inode_new();
    int r = LSM_NOMEM;
    if (ino) {
      inode_ref(ino);
      r = entries_set(&d->cur, name, ino);
      inode_unref(ino);
    }
    if (r) {
      fe->target->close(fe->target, inner);
      rc = r;
      goto done;
    }
  }
  rc = wrap(inner, NULL, out);
  if (rc) fe->target->close(fe->target, inner);
done:
  pthread_mutex_unlock(&fe->mu);
  return rc;
}

/* An unlock is passed on even when it fails or the environment is frozen,
** like unlock: the caller is letting go whatever the status. */
static int f_lock_range(lsm_env *env, lsm_file *f, uint64_t off, uint64_t len, int op,
                        int wait) {
  lsm_fault_env *fe = fault_of(env);
  int fail;
  if (op == LSM_LOCK_UNLOCK) {
    int rc;
    fail = frozen(fe) || hit(fe, LSM_FAULT_LOCK_RANGE);
    rc = fe->target->lock_range(fe->target, f->inner, off, len, op, 0);
    if (frozen(fe)) return LSM_IOERR;
    return fail ? fault_status(fe) : rc;
  }
  if (frozen(fe)) return LSM_IOERR;
  if (hit(fe, LSM_FAULT_LOCK_RANGE)) return fault_status(fe);
  return fe->target->lock_range(fe->target, f->inner, off, len, op, wait);
}

static int f_lock_held(lsm_env *env, lsm_file *f, uint64_t off, uint64_t len, int *held) {
  lsm_fault_env *fe = fault_of(env);
  if (frozen(fe)) return LSM_IOERR;
  if (hit(fe, LSM_FAULT_LOCK_HELD)) return fault_status(fe);
  return fe->target->lock_held(fe->target, f->inner, off, len, held);
}

static int f_same_file(lsm_env *env, lsm_file *f, const char *path, int *same) {
  lsm_fault_env *fe = fault_of(env);
  if (frozen(fe)) return LSM_IOERR;
  if (hit(fe, LSM_FAULT_SAME_FILE)) return fault_status(fe);
  return fe->target->same_file(fe->target, f->inner, path, same);
}

static int f_shm_map(lsm_env *env, lsm_file *f, size_t n, void **out) {
  lsm_fault_env *fe = fault_of(env);
  if (frozen(fe)) return LSM_IOERR;
  if (hit(fe, LSM_FAULT_SHM_MAP)) return fault_status(fe);
  return fe->target->shm_map(fe->target, f->inner, n, out);
}

/* Like close: the mapping is released even when the fault fires. */
static int f_shm_unmap(lsm_env *env, void *p, size_t n) {
  lsm_fault_env *fe = fault_of(env);
  int fail = frozen(fe) || hit(fe, LSM_FAULT_SHM_UNMAP);
  int rc = fe->target->shm_unmap(fe->target, p, n);
  if (frozen(fe)) return LSM_IOERR;
  return fail ? fault_status(fe) : rc;
}

/* ---------------------------------------------------------------- API */

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
  fe->base.open_shared = f_open_shared;
  fe->base.lock_range = f_lock_range;
  fe->base.lock_held = f_lock_held;
  fe->base.same_file = f_same_file;
  fe->base.shm_map = f_shm_map;
  fe->base.shm_unmap = f_shm_unmap;
  fe->base.open_append_existing = f_open_append_existing;
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
  atomic_init(&fe->mutations, 0);
  atomic_init(&fe->crash_at, 0);
  atomic_init(&fe->crash_mode, LSM_CRASH_KILL);
  atomic_init(&fe->crashed, 0);
  atomic_init(&fe->kill_partial, 0);
  atomic_init(&fe->skip_sync, 0);
  pthread_mutex_init(&fe->mu, NULL);
  fe->rng = 1;
  fe->track = NULL;
}

void lsm_fault_env_free(lsm_fault_env *fe) {
  int k;
  pthread_mutex_lock(&fe->mu);
  if (fe->track) {
    for (k = 0; k < fe->track->n_dirs; k++) {
      tdir *d = fe->track->dirs[k];
      entries_clear(&d->cur);
      entries_clear(&d->dur);
      free(d->cur.e);
      free(d->dur.e);
      free(d->path);
      free(d);
    }
    free(fe->track->dirs);
    free(fe->track);
    fe->track = NULL;
  }
  pthread_mutex_unlock(&fe->mu);
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
  atomic_store(&fe->crash_at, 0);
}

void lsm_fault_env_reset_counts(lsm_fault_env *fe) {
  int k;
  for (k = 0; k < LSM_FAULT_NKINDS; k++) {
    atomic_store(&fe->calls[k], 0);
    atomic_store(&fe->injected[k], 0);
  }
  atomic_store(&fe->bytes_appended, 0);
  atomic_store(&fe->mutations, 0);
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

int lsm_fault_env_track(lsm_fault_env *fe) {
  int rc = LSM_OK;
  pthread_mutex_lock(&fe->mu);
  if (fe->track == NULL) {
    fe->track = calloc(1, sizeof *fe->track);
    if (fe->track == NULL) rc = LSM_NOMEM;
  }
  pthread_mutex_unlock(&fe->mu);
  return rc;
}

void lsm_fault_env_set_seed(lsm_fault_env *fe, uint64_t seed) {
  pthread_mutex_lock(&fe->mu);
  fe->rng = seed ? seed : 1;
  pthread_mutex_unlock(&fe->mu);
}

void lsm_fault_env_crash_at(lsm_fault_env *fe, uint64_t nth, lsm_crash_mode mode) {
  atomic_store(&fe->crash_mode, (int)mode);
  atomic_store(&fe->crash_at, nth);
}

int lsm_fault_env_crash_now(lsm_fault_env *fe, lsm_crash_mode mode) {
  int rc;
  if (mode != LSM_CRASH_KILL && fe->track == NULL) return LSM_MISUSE;
  pthread_mutex_lock(&fe->mu);
  rc = frozen(fe) ? LSM_OK : do_crash(fe, (int)mode);
  pthread_mutex_unlock(&fe->mu);
  return rc;
}

int lsm_fault_env_crashed(lsm_fault_env *fe) {
  return frozen(fe);
}

void lsm_fault_env_set_kill_partial(lsm_fault_env *fe, int on) {
  atomic_store(&fe->kill_partial, on != 0);
}

void lsm_fault_env_set_skip_sync(lsm_fault_env *fe, int on) {
  atomic_store(&fe->skip_sync, on != 0);
}

uint64_t lsm_fault_env_mutations(lsm_fault_env *fe) {
  return atomic_load(&fe->mutations);
}
