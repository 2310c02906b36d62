/*
** batch.h — write batches (public API in lsm.h) and their log encoding.
**
** A batch is an indexed set of operations: internally a private memtable
** whose entries carry sequence numbers LSM_SEQ_OVERLAY + n, n counting the
** batch's operations from 0.  So the last operation on a key wins, the batch
** can be read and iterated in key order, it can be laid over committed data
** (its sequence numbers are above every committed one), and a savepoint is
** just an operation count (rollback rebuilds the memtable from the entries
** below the mark).
**
** Log record payload of a committed batch (one WAL record per commit):
**
**   seq_base   u64   sequence number of the first operation
**   count      u32   number of operations
**   count times:
**     kind     u8    LSM_KIND_PUT or LSM_KIND_DELETE
**     key      varint length, bytes
**     value    varint length, bytes          (LSM_KIND_PUT only)
**
** Operations are in key order, one per distinct key (the batch's newest
** operation on that key), and the i-th gets sequence number seq_base + i.
*/
#ifndef LSM_BATCH_H
#define LSM_BATCH_H

#include "lsm.h"
#include "memtable.h"

#define LSM_BATCH_HEADER_SIZE 12

/* Encode b as a log payload whose operations get seq_base, seq_base+1, ...
** Appends to out; sets *n_ops to the number of operations encoded. */
int lsm_batch_encode(lsm_batch *b, uint64_t seq_base, lsm_buffer *out,
                     uint32_t *n_ops);

/* Decode a log payload and insert its operations into mem.  Sets
** *seq_base and *n_ops.  LSM_CORRUPT if the payload is malformed (it is then
** checked entirely before anything is inserted), LSM_NOMEM. */
int lsm_batch_replay(lsm_slice payload, lsm_mem *mem, uint64_t *seq_base,
                     uint32_t *n_ops);

/* Iterator over the batch's entries (internal keys with overlay sequence
** numbers, newest first per key).  NULL on NOMEM. */
lsm_it *lsm_batch_iter_new(lsm_batch *b);

/* Sum of key and value bytes of the batch's distinct operations. */
uint64_t lsm_batch_user_bytes(const lsm_batch *b);

#endif /* LSM_BATCH_H */
