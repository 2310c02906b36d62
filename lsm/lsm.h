/*
** lsm.h — the one public header of the lsm storage engine.
**
** The engine is a log-structured merge tree in plain C with no SQLite
** dependency.  A database is a directory holding a write-ahead log, sorted
** string tables (SSTables) arranged in levels, and a manifest naming the
** live files.  Keys and values are arbitrary byte strings; keys are ordered
** by memcmp (shorter first on a common prefix).
**
**   lsm_open()     opens (or creates) a directory and replays its log.
**   lsm_write()    commits a batch of puts and deletes atomically: one WAL
**                  record, then the memtable.  A full memtable is handed to
**                  a background thread, which writes it to a table and
**                  runs compactions beside the writers.
**   lsm_get()      reads one key: memtable, immutable memtable, level 0 newest
**                  first, then deeper levels by key range; a table's bloom
**                  filter is consulted before any of its data blocks.
**                  Tables are opened at first use and kept open by a
**                  bounded table cache (max_open_files, and cache_size for
**                  their index blocks and filters), so a missing or damaged
**                  table may be reported by the read that first needs it
**                  rather than by lsm_open.
**   lsm_iter_*()   a merged, snapshot-consistent view over every source.
**
** Ownership: objects returned through an `**out` argument by a `_new` or
** `_open` call belong to the caller and are released with the matching
** `_free` or `_close`.  Pointers returned by lsm_iter_key()/lsm_iter_value()
** are borrowed: they stay valid until the iterator next moves or is freed.
**
** Errors: every call that can fail returns an LSM_* status.  After a failure
** lsm_errmsg() describes it ("lsm: checksum mismatch in 000012.sst block at
** offset 81920").
**
** Caveats
**  - Several instances (processes, or separate lsm_open() handles) may have
**    one directory open at once, up to 64.  Each read (lsm_get, an iterator,
**    a snapshot) sees every commit any instance made before it started;
**    readers never wait for a writer.  One instance writes at a time:
**    lsm_write() fails with LSM_BUSY while another holds the write lock
**    (lsm_write_begin() holds it across a transaction).  One instance, the
**    first to open (then another when it closes or dies), does every flush,
**    compaction and file deletion; the others' writers wait for it when
**    their memtables fill faster than it flushes.  A process may die at any
**    point: the others go on, and no acknowledged commit is lost.  The
**    protocol is in FORMAT.md.  Handles of one process share nothing: open
**    a directory once per process and share the lsm_db between threads.
**  - An lsm_db is safe to use from several threads; an lsm_iter or lsm_batch
**    is not (use one per thread).  Writers are serialised (one commit at a
**    time, in the order they get in); readers never wait for a writer's I/O
**    nor for a flush or compaction.
**  - Each lsm_db runs one background thread (options.background, on by
**    default) for flushes and compactions.  Writers wait for it only when
**    it falls behind: a new memtable fills while the previous one is still
**    being written (stop), or level 0 holds l0_slowdown_trigger tables
**    (each write sleeps about 1 ms) or l0_stop_trigger tables (writes wait
**    for a compaction).  lsm_get_stats() counts those stalls.
**  - A flush or compaction that fails (I/O error, out of memory) leaves a
**    sticky error: every later write, lsm_flush() and lsm_compact() fails
**    with it and lsm_errmsg() says what happened; reads go on.  Reopening
**    recovers every acknowledged commit.
**  - What each sync mode survives:
**      LSM_SYNC_OFF     never fsyncs.  Survives a crash of the process (data
**                       reached the OS with write()), not a power loss.
**      LSM_SYNC_NORMAL  every commit is written to the OS before lsm_write()
**                       returns; flushes and the manifest are fsynced.  Survives
**                       kill -9; a power loss may lose the newest commits but
**                       never corrupts the database.
**      LSM_SYNC_FULL    like NORMAL, and the log is fsynced at every commit:
**                       an acknowledged commit survives power loss.
*/
#ifndef LSM_H
#define LSM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Status codes.  Mapped to SQLite result codes in one place: ext/errmap.c. */
#define LSM_OK        0
#define LSM_ERROR     1   /* generic failure, see lsm_errmsg() */
#define LSM_BUSY      2   /* another instance holds what is needed (the
                                     write lock; the directory, for destroy) */
#define LSM_NOMEM     3   /* allocation failed */
#define LSM_IOERR     4   /* the operating system reported an I/O error */
#define LSM_CORRUPT   5   /* on-disk data failed a checksum or bounds check */
#define LSM_NOTFOUND  6   /* lsm_get(): no such key (not an error) */
#define LSM_MISUSE    7   /* invalid argument or call sequence */
#define LSM_READONLY  8   /* the engine stopped accepting writes after an error */

#define LSM_MAX_LEVELS 7

/* Sync modes (lsm_options.sync_mode). */
#define LSM_SYNC_OFF    0
#define LSM_SYNC_NORMAL 1
#define LSM_SYNC_FULL   2

/* ------------------------------------------------------------------ */
/* Environment: every file operation the engine performs goes through one
** of these, so tests can inject faults and simulate power loss.  The default
** (lsm_env_default()) is POSIX.  An implementation defines its own
** lsm_file.  All calls return LSM_OK or an LSM_* error (LSM_IOERR for I/O
** failures, LSM_NOTFOUND where a path does not exist). */
typedef struct lsm_env lsm_env;
typedef struct lsm_file lsm_file;

struct lsm_env {
  /* Open an existing file for positional reads. */
  int (*open_read)(lsm_env *env, const char *path, lsm_file **out);
  /* Create (or truncate) a file for appending. */
  int (*open_append)(lsm_env *env, const char *path, lsm_file **out);
  /* Read up to n bytes at off; *n_read < n only at end of file. */
  int (*pread)(lsm_env *env, lsm_file *f, uint64_t off, void *buf, size_t n,
               size_t *n_read);
  /* Append n bytes at the end of the file (all or an error). */
  int (*append)(lsm_env *env, lsm_file *f, const void *buf, size_t n);
  /* Make every appended byte durable (fdatasync). */
  int (*sync)(lsm_env *env, lsm_file *f);
  int (*size)(lsm_env *env, lsm_file *f, uint64_t *size);
  /* Close and free; the status reports a failed close. */
  int (*close)(lsm_env *env, lsm_file *f);
  /* Atomically replace `to` by `from`. */
  int (*rename)(lsm_env *env, const char *from, const char *to);
  int (*remove)(lsm_env *env, const char *path);
  /* Create a directory; LSM_OK if it already exists. */
  int (*mkdir)(lsm_env *env, const char *path);
  int (*rmdir)(lsm_env *env, const char *path);
  /* Names (not paths) of the entries of dir, without "." and "..".  The
  ** array and each name are malloc()ed; free with lsm_env_free_list(). */
  int (*list)(lsm_env *env, const char *dir, char ***names, int *n_names);
  /* Make renames, creations and removals in dir durable. */
  int (*sync_dir)(lsm_env *env, const char *dir);
  /* Take an exclusive advisory lock on path (created if needed) without
  ** waiting; LSM_BUSY if another holder has it.  Released by unlock. */
  int (*lock)(lsm_env *env, const char *path, lsm_file **out);
  int (*unlock)(lsm_env *env, lsm_file *lock);

  /* ---- Sharing a directory between processes (lsm/shm.c). ---- */
  /* Open path for reading and writing, creating it empty if it is missing;
  ** never truncates.  Used for LOCK (byte-range locks) and SHM (mapped).
  ** Release with close, which also drops every lock taken through it. */
  int (*open_shared)(lsm_env *env, const char *path, lsm_file **out);
  /* Set the lock on bytes [off, off+len) of f to op (LSM_LOCK_UNLOCK,
  ** LSM_LOCK_SHARED or LSM_LOCK_EXCLUSIVE).  Locks belong to the open file
  ** f, not to a process or thread: threads using one f never conflict;
  ** two opens of the same file conflict even inside one process; they are
  ** released when f is closed or its process dies.  Converting a range
  ** between shared and exclusive is atomic, and a refused conversion keeps
  ** the lock already held.  wait == 0: LSM_BUSY at once if another open
  ** file holds a conflicting lock.  wait != 0: block until granted (never
  ** wait for a lock the same thread holds through another open file).
  ** Unlocking a range not locked is LSM_OK. */
  int (*lock_range)(lsm_env *env, lsm_file *f, uint64_t off, uint64_t len,
                    int op, int wait);
  /* *held = 1 if another open file holds any lock on a byte of
  ** [off, off+len), else 0.  Takes no lock; f's own locks never count. */
  int (*lock_held)(lsm_env *env, lsm_file *f, uint64_t off, uint64_t len,
                   int *held);
  /* *same = 1 if path currently names the file f is open on, 0 if it
  ** names another file or nothing (the file was removed or replaced). */
  int (*same_file)(lsm_env *env, lsm_file *f, const char *path, int *same);
  /* Map the first n bytes of f read-write and shared (every process
  ** mapping the file sees every store), first growing f to n bytes with
  ** zeros if it is shorter (never shrinking it).  *out is page-aligned. */
  int (*shm_map)(lsm_env *env, lsm_file *f, size_t n, void **out);
  /* Undo shm_map (p and n as mapped). */
  int (*shm_unmap)(lsm_env *env, void *p, size_t n);
  /* Open an existing file for appending at its end, without truncating it
  ** (a log another process created); LSM_NOTFOUND if it does not exist. */
  int (*open_append_existing)(lsm_env *env, const char *path, lsm_file **out);
};

/* Operations of lsm_env.lock_range. */
#define LSM_LOCK_UNLOCK    0
#define LSM_LOCK_SHARED    1
#define LSM_LOCK_EXCLUSIVE 2

/* The POSIX environment.  Stateless; shared by every caller. */
lsm_env *lsm_env_default(void);
void lsm_env_free_list(char **names, int n_names);

/* ------------------------------------------------------------------ */
/* Options. */
typedef struct lsm_options {
  size_t memtable_size;      /* bytes before a memtable is flushed; 4 MiB */
  int bloom_bits;            /* bloom bits per key; 0 disables; 10 */
  size_t block_size;         /* target data block size; 4096 */
  int sync_mode;             /* LSM_SYNC_*; LSM_SYNC_NORMAL */
  int l0_compaction_trigger; /* level-0 files that start a compaction; 4 */
  int l0_slowdown_trigger;   /* level-0 files from which each write sleeps
                                ~1 ms to let compaction catch up; 20 */
  int l0_stop_trigger;       /* level-0 files from which writes wait for a
                                compaction; 36.  Must hold: compaction
                                trigger <= slowdown <= stop */
  uint64_t l1_target_bytes;  /* target size of level 1; 10 MiB */
  int level_multiplier;      /* each deeper level is this much larger; 10 */
  uint64_t target_file_size; /* compaction output file size; 8 MiB */
  size_t cache_size;         /* the read cache's memory budget, bytes;
                                32 MiB.  It bounds data blocks together
                                with the index blocks and bloom filters of
                                the open tables (which are charged to it,
                                and evicted only after every data block;
                                a 10M-row store of 16-byte keys needs about
                                21 MiB of them).  0 disables the block
                                cache: then only max_open_files bounds the
                                tables' index blocks and filters */
  int max_open_files;        /* tables kept open (file descriptor, index
                                block, filter) by the table cache; least
                                recently used ones are closed beyond it;
                                1000; at least 1 */
  int create_if_missing;     /* create the directory if needed; 1 */
  int background;            /* 1: flushes and compactions run on the
                                db's background thread (the default);
                                0: inline, in the writer whose commit
                                filled the memtable, before lsm_write
                                returns (deterministic: the fault-injection
                                tests use it); no write stalls then */
  lsm_env *env;              /* NULL: lsm_env_default() */
} lsm_options;

/* Fill *opts with the defaults above. */
void lsm_options_init(lsm_options *opts);

/* ------------------------------------------------------------------ */
/* Byte buffers the engine fills.  Owned by the caller; the engine grows
** data with realloc() as needed.  Zero-initialise, release with
** lsm_buffer_free(). */
typedef struct lsm_buffer {
  unsigned char *data;
  size_t len;
  size_t cap;
} lsm_buffer;

void lsm_buffer_free(lsm_buffer *buf);

/* ------------------------------------------------------------------ */
/* Opening and closing. */
typedef struct lsm_db lsm_db;

/* Open the database in directory `dir` (created, with any missing parent,
** when create_if_missing; unless sync_mode is LSM_SYNC_OFF each directory
** created is fsynced into its parent, so a new database survives a power
** loss together with its directory).
** The first instance to open replays the write-ahead log; a torn tail is
** discarded, a corrupt record in the middle of the log fails the open with
** LSM_CORRUPT.  With another instance open, it joins: it loads the current
** state without writing anything.  Whatever the
** status, *out is set unless memory ran out: after a failure it serves only
** lsm_errmsg() and must be released with lsm_close(). */
int lsm_open(const char *dir, const lsm_options *opts, lsm_db **out);

/* Close the database.  Outstanding iterators and snapshots must be freed
** first, and no other thread may be using db.  Waits for the background
** thread's step in flight (a flush or one compaction), starts no other, and
** stops the thread.  Unflushed commits stay in the logs and are replayed by
** the next open.  Frees db whatever the status. */
int lsm_close(lsm_db *db);

/* Remove every file of the database in dir, then dir itself.  The database
** must not be open: LSM_BUSY if an instance (of this process or another)
** has it open. */
int lsm_destroy(const char *dir, lsm_env *env);

/* Whether any instance, of this process or another, has the database in
** dir open: LSM_OK if none, LSM_BUSY if one has (LSM_NOTFOUND: no such
** directory).  The answer may change as soon as it is given. */
int lsm_in_use(const char *dir, lsm_env *env);

/* Text of the most recent error on this db ("" if none).  Valid until the
** next call on db. */
const char *lsm_errmsg(lsm_db *db);

/* ------------------------------------------------------------------ */
/* Write batches.  A batch collects puts and deletes; lsm_write() applies
** them atomically.  Within a batch the last operation on a key wins.  A
** batch is also indexed: it can be read (lsm_batch_get) and laid over the
** database in an iterator (lsm_iter_new), which gives a transaction that
** reads its own writes. */
typedef struct lsm_batch lsm_batch;

int lsm_batch_new(lsm_batch **out);
void lsm_batch_free(lsm_batch *b);
int lsm_batch_put(lsm_batch *b, const void *key, size_t key_len,
                  const void *val, size_t val_len);
int lsm_batch_delete(lsm_batch *b, const void *key, size_t key_len);
/* Discard every operation. */
void lsm_batch_clear(lsm_batch *b);
/* Number of distinct keys the batch writes. */
size_t lsm_batch_count(const lsm_batch *b);

/* Look key up in the batch alone.  Returns LSM_OK and sets *is_deleted
** (0: put, value copied into val unless val is NULL; 1: deleted), or
** LSM_NOTFOUND if the batch does not touch the key. */
int lsm_batch_get(lsm_batch *b, const void *key, size_t key_len,
                  int *is_deleted, lsm_buffer *val);

/* Savepoints inside a batch: lsm_batch_mark() returns a mark;
** lsm_batch_rollback_to() discards every operation made after it. */
uint64_t lsm_batch_mark(const lsm_batch *b);
int lsm_batch_rollback_to(lsm_batch *b, uint64_t mark);

/* Commit b atomically as one log record.  sync != 0 fsyncs the log before
** returning (LSM_SYNC_FULL semantics for this commit).  The batch is left
** unchanged; clear it to reuse it.  When the memtable is full the commit
** first switches to a new one and a new log; it may wait for the
** background thread (see Caveats), or, with options.background = 0, flush
** and compact itself before returning. */
int lsm_write(lsm_db *db, lsm_batch *b, int sync);

/* Write transactions across processes.  Several processes may have one
** directory open; one of them at a time may write.  lsm_write takes that
** right (the WRITER lock) for the duration of its commit and fails with
** LSM_BUSY if another process holds it.  A transaction that reads before
** it writes (read-modify-write, uniqueness checks) must hold it from its
** first read to its commit, or another process's commit could slip in
** between: lsm_write_begin takes it (LSM_OK, or LSM_BUSY at once if
** another process writes: retry later) and catches up with every commit
** made so far; lsm_write calls made until lsm_write_end use it.  The lock
** belongs to the db handle, not to a thread: the caller serialises its
** transactions (lsm_write_begin while held is a no-op; lsm_write_end waits
** for a commit in flight, then releases).  While no other instance has the
** directory open, an instance with a background thread keeps the lock
** between transactions (it costs nothing then) and gives it up when
** another opens the directory; a writer that finds it kept by an idle
** instance waits for that (up to 2 s) rather than failing with LSM_BUSY
** (FORMAT.md, "Writing"). */
int lsm_write_begin(lsm_db *db);
int lsm_write_end(lsm_db *db);

/* ------------------------------------------------------------------ */
/* Snapshots: a consistent read view.  Reads through a snapshot never see
** writes committed after it was taken. */
typedef struct lsm_snapshot lsm_snapshot;

int lsm_snapshot_new(lsm_db *db, lsm_snapshot **out);
void lsm_snapshot_free(lsm_db *db, lsm_snapshot *snap);

/* ------------------------------------------------------------------ */
/* Reads.  snap NULL reads the latest committed state.  Returns LSM_OK with
** the value copied into *val (val may be NULL to test existence), or
** LSM_NOTFOUND, or an error. */
int lsm_get(lsm_db *db, const lsm_snapshot *snap, const void *key,
            size_t key_len, lsm_buffer *val);

/* Iterators.  The view is fixed when the iterator is created: at snap, or
** at the latest commit if snap is NULL.  If overlay is not NULL the
** operations it holds at that moment are laid over the view (its puts are
** seen, its deletes hide keys).  Operations added to the overlay afterwards
** are not seen, so a loop may scan and write the same batch.  The overlay
** must outlive the iterator; lsm_batch_rollback_to() and lsm_batch_clear()
** on it are allowed (the iterator keeps seeing what it saw).  Newly created
** iterators are not positioned. */
typedef struct lsm_iter lsm_iter;

int lsm_iter_new(lsm_db *db, const lsm_snapshot *snap, lsm_batch *overlay,
                 lsm_iter **out);
void lsm_iter_free(lsm_iter *it);
/* Move the view of an iterator made with neither snap nor overlay to the
** latest commit, as a new iterator would see it (not positioned), without
** building it again.  That is possible while the iterator's sources are
** still the database's: no memtable switched, no flush or compaction
** finished since it was made (or last refreshed), and it met no error.
** Returns LSM_OK then; LSM_BUSY when not (the iterator is unchanged: free
** it and make a new one); or an error reading the other processes'
** commits.  Cheap: a reader that runs many short scans keeps one iterator
** (and the blocks its tables hold) instead of building one per scan. */
int lsm_iter_refresh(lsm_iter *it);
int lsm_iter_first(lsm_iter *it);
int lsm_iter_last(lsm_iter *it);
/* Position at the first key >= key. */
int lsm_iter_seek(lsm_iter *it, const void *key, size_t key_len);
/* Position at the last key <= key. */
int lsm_iter_seek_le(lsm_iter *it, const void *key, size_t key_len);
int lsm_iter_next(lsm_iter *it);
int lsm_iter_prev(lsm_iter *it);
/* Nonzero while positioned on an entry. */
int lsm_iter_valid(const lsm_iter *it);
const void *lsm_iter_key(const lsm_iter *it, size_t *key_len);
const void *lsm_iter_value(const lsm_iter *it, size_t *val_len);
/* First error met by the iterator, or LSM_OK. */
int lsm_iter_status(const lsm_iter *it);
/* Text of that error ("" when there is none), naming the file and offset
** where it was found: "lsm: checksum mismatch in 000012.sst block at
** offset 81920".  Use it rather than lsm_errmsg(), which is the db's and
** may describe another call (of this thread or another).  Valid until the
** iterator next moves or is freed. */
const char *lsm_iter_errmsg(lsm_iter *it);

/* ------------------------------------------------------------------ */
/* Maintenance. */

/* Write the memtable to a level-0 table (no-op when empty) and return
** once that table is in the manifest: the background thread does the work
** (that of the instance that maintains the directory), the caller waits for
** it.  Takes the write lock for the switch: LSM_BUSY if another instance
** writes. */
int lsm_flush(lsm_db *db);
/* Flush, then merge every level down until all data is in one level.  Runs
** in the caller's thread; the background thread pauses meanwhile.  Only in
** the instance that maintains the directory: LSM_BUSY elsewhere. */
int lsm_compact(lsm_db *db);
/* Read every table and the log: verify every checksum, key order within
** blocks, across blocks and across the files of a level, that the index
** matches the blocks and that every key passes its table's bloom filter.
** LSM_CORRUPT with lsm_errmsg() naming file and offset on failure. */
int lsm_check(lsm_db *db);

/* ------------------------------------------------------------------ */
/* Statistics. */
typedef struct lsm_level_stats {
  int files;
  uint64_t bytes;
  uint64_t entries;          /* entries, tombstones included */
  uint64_t tombstones;
} lsm_level_stats;

typedef struct lsm_stats {
  lsm_level_stats level[LSM_MAX_LEVELS];
  uint64_t memtable_bytes;   /* active plus immutable memtable */
  uint64_t memtable_entries;
  uint64_t bloom_probes;     /* bloom filter lookups by lsm_get */
  uint64_t bloom_negatives;  /* ... that ruled the table out */
  uint64_t user_bytes;       /* key+value bytes committed by lsm_write */
  uint64_t wal_bytes;        /* bytes appended to the log */
  uint64_t flush_bytes;      /* bytes of tables written by flushes */
  uint64_t compact_read_bytes;
  uint64_t compact_write_bytes;
  uint64_t flushes;
  uint64_t compactions;
  uint64_t last_seq;         /* sequence number of the newest commit */
  uint64_t cache_hits;       /* data blocks found in the block cache */
  uint64_t cache_misses;     /* ... and read from disk */
  uint64_t cache_bytes;      /* bytes charged to the block cache: data
                                blocks plus the open tables' metadata */
  uint64_t open_tables;      /* tables the table cache holds open */
  uint64_t open_table_bytes; /* their index blocks, filters and index
                                summaries (part of cache_bytes) */
  uint64_t table_opens;      /* tables opened so far (misses of the table
                                cache) */
  /* Write stalls (background mode): */
  uint64_t slowdown_count;   /* writes that slept: level 0 at the slowdown
                                trigger */
  uint64_t slowdown_micros;  /* ... time they slept */
  uint64_t stop_count;       /* writes that waited: the previous memtable
                                still being flushed, or level 0 at the stop
                                trigger */
  uint64_t stop_micros;      /* ... time they waited */
} lsm_stats;

int lsm_get_stats(lsm_db *db, lsm_stats *out);

#ifdef __cplusplus
}
#endif
#endif /* LSM_H */
