/*
** batch.h — write batches (public API in lsm.h) and their log encoding.
**
** A batch is an append-only log of operations, kept in exactly the form of
** a log payload's body, plus a hash index from each key to its newest
** operation (lsm_batch_get, lsm_batch_count and lsm_batch_user_bytes are
** O(1) per operation) and a sorted view built lazily for iterators: a
** private memtable whose entries carry sequence numbers LSM_SEQ_OVERLAY + n,
** n being the operation's index in the batch from 0.  So the last operation
** on a key wins, the batch can be iterated in key order and laid over
** committed data (its sequence numbers are above every committed one), and
** a savepoint is just an operation count (lsm_batch_mark).  See batch.c.
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
** The i-th operation gets sequence number seq_base + i.  lsm_batch_encode
** writes one operation per distinct key (the batch's newest on it), in key
** order, which is what the engine's memtable inserts fastest.  Replay
** accepts any order and repeated keys (a later occurrence gets a higher
** sequence number, so the last one wins).
*/
#ifndef LSM_BATCH_H
#define LSM_BATCH_H

#include "lsm.h"
#include "memtable.h"

#define LSM_BATCH_HEADER_SIZE 12

/* Encode b as a log payload whose operations get seq_base, seq_base+1, ...
** Appends to out; sets *n_ops to the number of operations encoded, which
** is lsm_batch_count(b).  Not const: it reuses scratch memory in b. */
int lsm_batch_encode(lsm_batch *b, uint64_t seq_base, lsm_buffer *out,
                     uint32_t *n_ops);

/* Decode a log payload and insert its operations into mem.  Sets
** *seq_base and *n_ops.  LSM_CORRUPT if the payload is malformed (it is then
** checked entirely before anything is inserted), LSM_NOMEM. */
int lsm_batch_replay(lsm_slice payload, lsm_mem *mem, uint64_t *seq_base,
                     uint32_t *n_ops);

/* Iterator over the batch's entries (internal keys with overlay sequence
** numbers, newest first per key; every operation made so far, repeats
** included).  It holds a reference on the batch's sorted view, so it stays
** valid across later operations, rollbacks and clears of b; operations made
** after its creation may or may not appear in it (they carry sequence
** numbers >= LSM_SEQ_OVERLAY + the lsm_batch_mark() of its creation, which
** is how dbiter.c hides them).  NULL on NOMEM. */
lsm_it *lsm_batch_iter_new(lsm_batch *b);

/* Sum over the distinct keys of the batch of key length plus the value
** length of the newest operation on the key (0 for a delete). */
uint64_t lsm_batch_user_bytes(const lsm_batch *b);

#endif /* LSM_BATCH_H */
