/*
** wal.h — the write-ahead log: one checksummed record per committed batch.
**
** File layout (see FORMAT.md):
**
**   header   16 bytes: magic "LSMWAL\0\1" (8), u32 format version (1),
**            u32 checksum32 of the first 12 bytes
**   records  back to back:
**              u32 payload length n (bits 0..30), bit 31 set when the
**                  record was fsynced before its commit was acknowledged
**              u32 checksum32 of the payload
**              u32 checksum32 of the 8 bytes above (so a damaged length is
**                  told from an append cut short by a crash)
**              n bytes payload
**
** Recovery (lsm_wal_replay) hands each intact record to a callback in
** order.  It stops cleanly, reporting LSM_OK, at a torn tail: a record
** header or payload that runs past end of file, or a final record whose
** checksum fails and which extends exactly to the end of the file, or a
** tail of zero bytes, or a damaged record that looks cut by a power loss (an
** unwritten sector) and after which no intact record carries the synced
** bit.  Any other record that fails its checksum but is followed by
** further bytes is mid-log corruption: LSM_CORRUPT.  A half-written batch is
** therefore never applied.
**
** The writer appends a whole record with one append call, so a record is
** either entirely in the OS or (after a crash in the call) torn at the tail.
*/
#ifndef LSM_WAL_H
#define LSM_WAL_H

#include "coding.h"

#define LSM_WAL_HEADER_SIZE 16
#define LSM_WAL_RECORD_HEADER_SIZE 12
#define LSM_WAL_SYNCED_FLAG 0x80000000u   /* in the length word */
#define LSM_WAL_MAX_PAYLOAD 0x7fffffffu

typedef struct lsm_wal lsm_wal;

/* Create (truncate) path and write the file header (not synced). */
int lsm_wal_create(lsm_env *env, const char *path, lsm_wal **out);
/* Append one record; sync != 0 fsyncs before returning.  After a failed
** append the writer is poisoned: every later call returns the first error. */
/* Open the existing log path for appending at its end (another instance
** created it; lsm_env.open_append_existing).  LSM_NOTFOUND if missing. */
int lsm_wal_open(lsm_env *env, const char *path, lsm_wal **out);
int lsm_wal_append(lsm_wal *w, lsm_slice payload, int sync);
/* The file's size now (appends by other processes included). */
int lsm_wal_file_size(lsm_wal *w, uint64_t *size);
int lsm_wal_sync(lsm_wal *w);
/* Bytes written to the file so far, header included. */
uint64_t lsm_wal_size(const lsm_wal *w);
/* Close and free (w may be NULL). */
int lsm_wal_close(lsm_wal *w);

/* Replay path.  For each intact record calls fn(ctx, payload); a nonzero
** return from fn stops replay with that status.  *valid_bytes (may be NULL)
** receives the length of the intact prefix.  On LSM_CORRUPT, errmsg (may
** be NULL) receives a message naming the file and offset. */
typedef int (*lsm_wal_record_fn)(void *ctx, lsm_slice payload);
int lsm_wal_replay(lsm_env *env, const char *path, lsm_wal_record_fn fn,
                   void *ctx, uint64_t *valid_bytes, lsm_buffer *errmsg);
/* The same from offset start, the end of records already delivered (0:
** from the header, which is then checked).  Used to follow a log another
** process appends to: a record being written shows as a torn tail, so
** replay stops before it.  *file_size (may be NULL) receives the size seen;
** *valid_bytes < *file_size means the log ends in a torn record (or an
** append in flight).  A file shorter than start is LSM_CORRUPT. */
int lsm_wal_replay_from(lsm_env *env, const char *path, uint64_t start, lsm_wal_record_fn fn,
                        void *ctx, uint64_t *valid_bytes, uint64_t *file_size,
                        lsm_buffer *errmsg);

#endif /* LSM_WAL_H */
