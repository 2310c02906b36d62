/*
** version.h — versions (the set of live tables per level) and the manifest
** that makes them durable.
**
** A version is an immutable snapshot of which table files are live and at
** which level.  Level 0 holds flushed memtables, newest first, and its files
** may overlap; every deeper level holds files with disjoint user-key ranges
** sorted by key.  Readers take a reference on the current version and read
** it without locks; flushes and compactions build a new version, make it
** durable in the manifest, and only then install it as current.
**
** Invariants:
**  (1) A table file is deleted only when no version references it.  Since
**      the current version references every file the durable manifest names,
**      a file is deleted only after a durable manifest no longer names it.
**      Across processes it is also kept until no instance may still read a
**      manifest of a generation that names it (lsm_vset_delete_obsolete).
**  (2) A version is installed as current only after the manifest describing
**      it has been written (and, unless sync is off, fsynced and renamed into
**      place with the directory fsynced).
**  (3) In levels >= 1, files are sorted by smallest key and no user key
**      appears in two files of the same level (outputs are cut only between
**      user keys), so a level can be searched by binary search.
**  (4) Log files numbered below log_number hold only commits that are in
**      tables of the manifest; they may be deleted once it is durable.
**  (5) Each install raises generation by one; the manifest records it, so
**      another process tells a newer manifest from the one it has.
**
** The manifest file (MANIFEST, replaced atomically through MANIFEST.tmp) is
** documented byte by byte in FORMAT.md and above write_manifest() in
** version.c.
**
** Thread-safety: the lsm_vset is protected by the owning db's mutex; every
** function here except the iterators and lsm_vset_write must be called with
** it held.  Version and file-meta reference counts are plain ints guarded
** by that mutex.  Versions hold no open tables: readers get them from the
** table cache (vs->tables, its own mutex, taken after this one), which
** file_unref tells when a file leaves the last version.
*/
#ifndef LSM_VERSION_H
#define LSM_VERSION_H

#include "dbformat.h"
#include "iter.h"
#include "sst.h"
#include "tcache.h"

/* One live table file. Shared by every version that lists it.  Only what
** the manifest says: readers get the open table from the table cache
** (vset.tables) by number. */
typedef struct lsm_file_meta {
  int refs;                  /* versions listing this file */
  uint64_t number;           /* file name is %06llu.sst */
  uint64_t size;             /* bytes */
  uint64_t entries;
  uint64_t tombstones;
  lsm_buffer smallest;       /* internal keys */
  lsm_buffer largest;
} lsm_file_meta;

typedef struct lsm_version lsm_version;
struct lsm_version {
  int refs;
  int n_files[LSM_MAX_LEVELS];
  lsm_file_meta **files[LSM_MAX_LEVELS];
  uint64_t gen;              /* generation of the manifest describing it */
  int linked;                /* in the vset's list of live versions */
  lsm_version *older, *newer;
  uint64_t l0_read_charge;   /* atomic: level-0 table positionings made by
                                iterators reading this version (read-
                                triggered compaction, db.c) */
  int l0_read_compact;       /* atomic: that charge reached its budget:
                                compact level 0 below its trigger */
};

/* A file no version lists any more, waiting to be deleted (version.h
** invariant 1 and the multi-process rule of FORMAT.md): obsolete since
** manifest generation gen at the latest. */
typedef struct lsm_obsolete lsm_obsolete;
struct lsm_obsolete {
  uint64_t number;
  uint64_t gen;
  int is_log;                /* NNNNNN.log, else NNNNNN.sst */
  lsm_obsolete *next;
};

/* The version set: current version plus the counters the manifest holds. */
typedef struct lsm_vset {
  lsm_env *env;
  char *dir;
  int sync;                  /* fsync manifest and directory */
  lsm_cache *cache;          /* block cache given to every table opened */
  lsm_tcache *tables;        /* open tables (owned: lsm_vset_free frees
                                it); a table is evicted from it when no
                                version lists it any more */
  lsm_version *current;
  uint64_t next_file_number;
  uint64_t last_seq;         /* as of the last manifest write */
  uint64_t log_number;       /* current log; older logs are obsolete */
  uint64_t generation;       /* of the manifest current comes from (0: a
                                format-1 manifest, or none yet) */
  uint64_t manifest_writes;  /* manifests installed */
  int closing;               /* set by lsm_vset_free: unref deletes nothing */
  int keep_files;            /* a manifest's durability is unknown: no file
                                is deleted until the next open */
  lsm_version *oldest, *newest;   /* live installed versions, oldest first */
  lsm_obsolete *obsolete;    /* files waiting for deletion (see
                                lsm_vset_delete_obsolete), one allocation
                                each: how many allocations a run makes
                                does not depend on when deletions happen
                                (the SQL out-of-memory test relies on it) */
  int n_obsolete;
} lsm_vset;

/* An edit: files removed and added to produce the next version. */
typedef struct lsm_version_edit {
  int n_deleted;
  struct { int level; uint64_t number; } *deleted;
  int n_added;
  struct { int level; lsm_file_meta *meta; } *added;   /* edit owns until applied */
  int applied;               /* set when lsm_vset_apply installed it, even
                                if it then reported an error */
} lsm_version_edit;

/* Path of a file in dir: "<dir>/<number padded to 6>.<ext>"; malloc()ed. */
char *lsm_file_path(const char *dir, uint64_t number, const char *ext);

void lsm_vset_init(lsm_vset *vs, lsm_env *env, const char *dir, int sync);
void lsm_vset_free(lsm_vset *vs);

/* Read <dir>/MANIFEST into vs.  Tables are not opened (the table cache
** opens them at first use), but each must exist with at least the size the
** manifest gives it.  LSM_NOTFOUND if there is no manifest; LSM_CORRUPT
** (with errmsg) if it is damaged or a table it names is missing or short. */
int lsm_vset_recover(lsm_vset *vs, lsm_buffer *errmsg);

/* Another instance's owner may have installed a newer manifest.
**   lsm_vset_reload_read     (mutex NOT held; nothing may install
**                            meanwhile: the caller holds the maintenance
**                            token) reads <dir>/MANIFEST into *l; if its
**                            generation is vs->generation and !force,
**                            l->same = 1.
**                            Otherwise it checks that the tables the
**                            current version does not have exist (those
**                            it has are shared).  LSM_NOTFOUND (errmsg
**                            set) when the manifest or a table it names has
**                            vanished (the owner moved on: read again);
**                            LSM_CORRUPT for a damaged manifest.
**   lsm_vset_reload_install  (mutex held) makes that version current, with
**                            the manifest's counters; LSM_NOMEM.
**   lsm_vset_loaded_free     releases *l either way. */
typedef struct lsm_vset_loaded {
  lsm_version_edit edit;
  int same;
  uint64_t next_file_number, last_seq, log_number, generation;
} lsm_vset_loaded;
int lsm_vset_reload_read(lsm_vset *vs, int force, lsm_vset_loaded *l, lsm_buffer *errmsg);
int lsm_vset_reload_install(lsm_vset *vs, lsm_vset_loaded *l);
void lsm_vset_loaded_free(lsm_vset_loaded *l);

/* Generation of the oldest version still referenced (the current one's if
** no older one is). */
uint64_t lsm_vset_oldest_gen(const lsm_vset *vs);

/* Obsolete files.  A table is queued when the last version listing it is
** dropped; a log when a durable manifest raised log_number past it
** (lsm_vset_add_obsolete).  Each is tagged with vs->generation at that
** moment.  lsm_vset_delete_obsolete(vs, oldest) removes the files tagged
** <= oldest (the oldest generation any instance may still read) and keeps
** the rest; nothing while keep_files.  Mutex held; the removals are
** cheap unlinks.  A file that cannot be queued (no memory) stays on disk
** as an orphan, which the next sole opener deletes. */
void lsm_vset_add_obsolete(lsm_vset *vs, uint64_t number, int is_log);
void lsm_vset_delete_obsolete(lsm_vset *vs, uint64_t oldest);
/* Drop the queue without deleting (an instance that is not the owner). */
void lsm_vset_forget_obsolete(lsm_vset *vs);

/* Start an empty database: an empty version, counters at their start. */
int lsm_vset_create(lsm_vset *vs);

uint64_t lsm_vset_new_file_number(lsm_vset *vs);

/* Apply edit to the current version, write the manifest for the result
** (with last_seq and log_number as given), install it.  On failure before
** the manifest was renamed into place the current version is unchanged and
** the edit's added files are left to the caller (lsm_version_edit_free
** removes nothing from disk).  If only the directory sync after the rename
** failed, the version IS installed (edit->applied), the error is returned,
** and no file is deleted for the rest of the instance's life.
**
** lsm_vset_apply is the three steps below in a row.  They are separate so
** that the manifest's file I/O (two fsyncs) can run without the db mutex:
**   lsm_vset_prepare   (mutex held) builds the next version from current
**                      and encodes the manifest describing it;
**   lsm_vset_write     (mutex not needed) writes MANIFEST.tmp, syncs it,
**                      renames it over MANIFEST, syncs the directory;
**   lsm_vset_install   (mutex held) makes the version current, or drops it
**                      if the manifest was not renamed into place.
** Between prepare and install nothing else may change the current version
** or write the manifest: the caller holds the db's maintenance token
** (db_impl.h).  Counters the manifest records are taken at prepare. */
typedef struct lsm_vset_pending {
  lsm_version *v;            /* the next version (refs 1), not yet current */
  lsm_buffer bytes;          /* the encoded manifest */
  uint64_t last_seq, log_number, generation;
  int renamed;               /* set by lsm_vset_write: MANIFEST names v */
} lsm_vset_pending;

int lsm_vset_apply(lsm_vset *vs, lsm_version_edit *edit, uint64_t last_seq,
                   uint64_t log_number, lsm_buffer *errmsg);
int lsm_vset_prepare(lsm_vset *vs, const lsm_version_edit *edit, uint64_t last_seq,
                     uint64_t log_number, lsm_vset_pending *p);
int lsm_vset_write(lsm_vset *vs, lsm_vset_pending *p, lsm_buffer *errmsg);
/* Returns write_rc (the status of lsm_vset_write); frees p's contents. */
int lsm_vset_install(lsm_vset *vs, lsm_version_edit *edit, lsm_vset_pending *p,
                     int write_rc);
/* Release a prepared version that will not be written (after prepare). */
void lsm_vset_pending_free(lsm_vset_pending *p);

void lsm_version_ref(lsm_version *v);
/* Drop a reference; at zero drop the version's file references, queueing
** files no version lists any more for deletion (invariant 1). */
void lsm_version_unref(lsm_vset *vs, lsm_version *v);

/* Edits.  _add_file takes ownership of a new meta (refs == 0); a meta that
** versions already list (a file moving between levels) stays theirs. */
void lsm_version_edit_init(lsm_version_edit *e);
int lsm_version_edit_delete_file(lsm_version_edit *e, int level, uint64_t number);
int lsm_version_edit_add_file(lsm_version_edit *e, int level, lsm_file_meta *meta);
void lsm_version_edit_free(lsm_version_edit *e);

/* A file meta with one reference (refs = 0 until a version lists it). */
lsm_file_meta *lsm_file_meta_new(void);
void lsm_file_meta_free(lsm_file_meta *m);

/* Does any file of `level` or deeper overlap user key ukey? */
int lsm_version_overlaps_deeper(const lsm_version *v, int level, lsm_slice ukey);

/* Files of level whose user-key range intersects [lo, hi] (user keys; an
** empty slice with p == NULL means unbounded).  *out is malloc()ed. */
int lsm_version_overlapping(const lsm_version *v, int level, lsm_slice lo,
                            lsm_slice hi, lsm_file_meta ***out, int *n_out);

/* Iterator over the files of one level >= 1 in order, opening one table
** iterator at a time through tables.  Borrows v and tables: the caller
** holds a reference on v for the iterator's whole life.  NULL on NOMEM. */
lsm_it *lsm_level_iter_new(lsm_version *v, int level, lsm_tcache *tables);

#endif /* LSM_VERSION_H */
