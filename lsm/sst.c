/*
** sst.c — sorted string tables: the builder that writes them, the reader
** that opens them, point lookups, a two-level iterator and a full checker
** (see sst.h).
**
** File layout (all integers little-endian):
**
**   data block 0 .. data block N-1   block.h contents, each + 5-byte trailer
**   filter block                     bloom.h filter (empty contents when the
**                                    table has no filter) + trailer
**   index block                      block.h contents + trailer; one entry
**                                    per data block: key = the block's last
**                                    internal key, value = its handle
**                                    (varint offset, varint size)
**   footer (48 bytes)                u64 index offset   u64 index size
**                                    u64 filter offset  u64 filter size
**                                    u32 version (1)    u32 checksum32 of
**                                                       bytes 0..35
**                                    u64 magic 0x4c534d5353543031
**
**   block trailer = u8 type (0 = raw) | u32 checksum32(contents || type)
**
** The blocks are contiguous: data block 0 starts at offset 0, each block
** starts where the previous one's trailer ends, the filter block follows the
** last data block and the index block follows the filter block.  The reader
** relies on this only to bound handles (data blocks lie before the filter
** block, the filter before the index, the index before the footer);
** lsm_sst_check verifies it fully.
**
** Builder: entries go into a data block builder; when the block reaches
** opts->block_size it is written with one append (contents and trailer
** buffered together) and its index entry is added right away (the index key
** is the block's last key, so nothing needs to be deferred).  One hash per
** distinct user key is collected for the filter.
**
** Reader: lsm_sst_open validates the footer and loads the index and filter
** blocks into memory (checksums verified), then summarises the index ("Index
** summary" below).  Data blocks are read on demand, one pread of contents +
** trailer each, verified on every read, through read_block() and the block
** cache; a table iterator that loads adjacent blocks switches to reading
** ahead into a buffer of its own ("Readahead").  The table is immutable
** after open and pread is positional, so any number of threads may read it
** at once; the only mutable field is the atomic reference count.
*/
#include "sst.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include "bloom.h"

#define BLOCK_TYPE_RAW 0

/* Footer field offsets. */
#define FOOTER_INDEX_OFF   0
#define FOOTER_INDEX_SIZE  8
#define FOOTER_FILTER_OFF  16
#define FOOTER_FILTER_SIZE 24
#define FOOTER_VERSION     32
#define FOOTER_CHECKSUM    36
#define FOOTER_MAGIC       40

/* Set *errmsg (if not NULL) to a NUL-terminated message; the terminator is
** counted in errmsg->len, like every other error buffer of the engine. */
static void set_err(lsm_buffer *errmsg, const char *fmt, ...) {
  char tmp[512];
  va_list ap;
  if (errmsg == NULL) return;
  va_start(ap, fmt);
  vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  lsm_buffer_set(errmsg, tmp, strlen(tmp) + 1);
}

static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

/* ================================================================== */
/* Builder */

struct lsm_sst_builder {
  lsm_env *env;
  lsm_file *file;            /* NULL once closed */
  lsm_sst_options opts;
  lsm_block_builder data;
  lsm_block_builder index;
  lsm_buffer last_key;       /* last internal key added */
  lsm_buffer smallest;
  uint64_t *hashes;          /* one per distinct user key (bloom_bits > 0) */
  size_t n_hashes, cap_hashes;
  lsm_buffer scratch;        /* block contents + trailer, one append */
  lsm_buffer handle;         /* encoded handle for an index entry */
  uint64_t offset;           /* bytes written so far */
  uint64_t entries, tombstones;
  int rc;                    /* first error, latched */
};

int lsm_sst_builder_new(lsm_env *env, const char *path,
                        const lsm_sst_options *opts, lsm_sst_builder **out) {
  lsm_sst_builder *b = calloc(1, sizeof(*b));
  int rc;
  *out = NULL;
  if (b == NULL) return LSM_NOMEM;
  b->env = env;
  b->opts = *opts;
  lsm_block_builder_init(&b->data, LSM_BLOCK_RESTART_INTERVAL);
  /* Restart at every index entry: the whole index is binary-searched. */
  lsm_block_builder_init(&b->index, 1);
  rc = env->open_append(env, path, &b->file);
  if (rc) {
    b->file = NULL;
    lsm_sst_builder_abandon(b);
    return rc;
  }
  *out = b;
  return LSM_OK;
}

/* Bytes are staged in b->scratch and handed to the file in appends of
** about WRITE_CHUNK bytes: one system call per 4 KiB block would dominate
** the cost of a flush or compaction. */
#define WRITE_CHUNK (256 * 1024)

static int flush_staged(lsm_sst_builder *b) {
  int rc = LSM_OK;
  if (b->scratch.len > 0) rc = b->env->append(b->env, b->file, b->scratch.data, b->scratch.len);
  b->scratch.len = 0;
  /* Do not keep a multi-megabyte buffer after a huge entry. */
  if (b->scratch.cap > 4 * (WRITE_CHUNK + b->opts.block_size)) lsm_buffer_free(&b->scratch);
  return rc;
}

/* Stage contents || type || checksum; *h locates the block in the file. */
static int write_block(lsm_sst_builder *b, lsm_slice contents,
                       lsm_block_handle *h) {
  unsigned char type = BLOCK_TYPE_RAW, *p;
  int rc = lsm_buffer_reserve(&b->scratch, contents.n + LSM_BLOCK_TRAILER_SIZE);
  if (rc) return rc;
  p = b->scratch.data + b->scratch.len;
  if (contents.n) memcpy(p, contents.p, contents.n);
  p[contents.n] = type;
  lsm_put_u32(p + contents.n + 1, lsm_checksum32(p, contents.n + 1));
  b->scratch.len += contents.n + LSM_BLOCK_TRAILER_SIZE;
  h->offset = b->offset;
  h->size = contents.n;
  b->offset += contents.n + LSM_BLOCK_TRAILER_SIZE;
  return b->scratch.len >= WRITE_CHUNK ? flush_staged(b) : LSM_OK;
}

static int flush_data_block(lsm_sst_builder *b) {
  lsm_slice contents;
  lsm_block_handle h;
  int rc;
  if (lsm_block_builder_empty(&b->data)) return LSM_OK;
  rc = lsm_block_builder_finish(&b->data, &contents);
  if (rc == LSM_OK) rc = write_block(b, contents, &h);
  if (rc) return rc;
  b->handle.len = 0;
  rc = lsm_block_handle_append(&b->handle, h);
  if (rc == LSM_OK)
    rc = lsm_block_builder_add(&b->index,
                               lsm_slice_make(b->last_key.data, b->last_key.len),
                               lsm_slice_make(b->handle.data, b->handle.len));
  lsm_block_builder_reset(&b->data);
  return rc;
}

static int push_hash(lsm_sst_builder *b, uint64_t h) {
  if (b->n_hashes == b->cap_hashes) {
    size_t cap = b->cap_hashes ? 2 * b->cap_hashes : 1024;
    uint64_t *p;
    if (cap > SIZE_MAX / sizeof(*p)) return LSM_NOMEM;
    p = realloc(b->hashes, cap * sizeof(*p));
    if (p == NULL) return LSM_NOMEM;
    b->hashes = p;
    b->cap_hashes = cap;
  }
  b->hashes[b->n_hashes++] = h;
  return LSM_OK;
}

int lsm_sst_builder_add(lsm_sst_builder *b, lsm_slice ikey, lsm_slice val) {
  lsm_slice last = lsm_slice_make(b->last_key.data, b->last_key.len);
  lsm_ikey parsed;
  int rc = b->rc;
  if (rc) return rc;

  if (!lsm_ikey_parse(ikey, &parsed) ||
      (b->entries > 0 && lsm_ikey_cmp(last, ikey) >= 0)) {
    rc = LSM_MISUSE;
    goto done;
  }
  if (b->opts.bloom_bits > 0 &&
      (b->entries == 0 || lsm_slice_cmp(lsm_ikey_user(last), parsed.ukey) != 0)) {
    rc = push_hash(b, lsm_bloom_hash(parsed.ukey));
    if (rc) goto done;
  }
  if (b->entries == 0) {
    rc = lsm_buffer_set(&b->smallest, ikey.p, ikey.n);
    if (rc) goto done;
  }
  rc = lsm_block_builder_add(&b->data, ikey, val);
  if (rc == LSM_OK) rc = lsm_buffer_set(&b->last_key, ikey.p, ikey.n);
  if (rc) goto done;
  b->entries++;
  if (parsed.kind == LSM_KIND_DELETE) b->tombstones++;
  if (lsm_block_builder_size(&b->data) >= b->opts.block_size)
    rc = flush_data_block(b);

done:
  if (rc) b->rc = rc;
  return rc;
}

uint64_t lsm_sst_builder_size(const lsm_sst_builder *b) {
  uint64_t filter = 0;
  if (b->opts.bloom_bits > 0)
    filter = lsm_bloom_size_bound(b->n_hashes, b->opts.bloom_bits);
  return b->offset + lsm_block_builder_size(&b->data) + b->index.buf.len +
         filter + 2 * LSM_BLOCK_TRAILER_SIZE + LSM_SST_FOOTER_SIZE;
}

uint64_t lsm_sst_builder_entries(const lsm_sst_builder *b) {
  return b->entries;
}

static void builder_free(lsm_sst_builder *b) {
  if (b->file) b->env->close(b->env, b->file);
  lsm_block_builder_free(&b->data);
  lsm_block_builder_free(&b->index);
  lsm_buffer_free(&b->last_key);
  lsm_buffer_free(&b->smallest);
  lsm_buffer_free(&b->scratch);
  lsm_buffer_free(&b->handle);
  free(b->hashes);
  free(b);
}

int lsm_sst_builder_finish(lsm_sst_builder *b, lsm_sst_info *info) {
  lsm_buffer filter = {0};
  lsm_slice contents;
  lsm_block_handle fh, ih;
  unsigned char footer[LSM_SST_FOOTER_SIZE];
  lsm_file *f;
  int rc = b->rc;
  if (rc) goto done;

  rc = flush_data_block(b);
  if (rc) goto done;
  if (b->opts.bloom_bits > 0) {
    rc = lsm_bloom_build(b->hashes, b->n_hashes, b->opts.bloom_bits, &filter);
    if (rc) goto done;
  }
  rc = write_block(b, lsm_slice_make(filter.data, filter.len), &fh);
  if (rc) goto done;
  rc = lsm_block_builder_finish(&b->index, &contents);
  if (rc == LSM_OK) rc = write_block(b, contents, &ih);
  if (rc) goto done;

  lsm_put_u64(footer + FOOTER_INDEX_OFF, ih.offset);
  lsm_put_u64(footer + FOOTER_INDEX_SIZE, ih.size);
  lsm_put_u64(footer + FOOTER_FILTER_OFF, fh.offset);
  lsm_put_u64(footer + FOOTER_FILTER_SIZE, fh.size);
  lsm_put_u32(footer + FOOTER_VERSION, LSM_SST_VERSION);
  lsm_put_u32(footer + FOOTER_CHECKSUM, lsm_checksum32(footer, FOOTER_CHECKSUM));
  lsm_put_u64(footer + FOOTER_MAGIC, LSM_SST_MAGIC);
  rc = lsm_buffer_append(&b->scratch, footer, sizeof footer);
  if (rc == LSM_OK) rc = flush_staged(b);
  if (rc) goto done;
  b->offset += sizeof footer;
  if (b->opts.sync) {
    rc = b->env->sync(b->env, b->file);
    if (rc) goto done;
  }
  f = b->file;
  b->file = NULL;
  rc = b->env->close(b->env, f);
  if (rc) goto done;

  info->file_size = b->offset;
  info->entries = b->entries;
  info->tombstones = b->tombstones;
  /* Hand the key buffers over to the caller. */
  info->smallest = b->smallest;
  info->largest = b->last_key;
  memset(&b->smallest, 0, sizeof b->smallest);
  memset(&b->last_key, 0, sizeof b->last_key);

done:
  lsm_buffer_free(&filter);
  builder_free(b);
  return rc;
}

void lsm_sst_builder_abandon(lsm_sst_builder *b) {
  if (b) builder_free(b);
}

/* ================================================================== */
/* Reader */

struct lsm_sst {
  atomic_long refs;
  lsm_env *env;
  lsm_file *file;
  uint64_t file_size;
  char *name;                /* basename of the path, for messages */
  unsigned char *index_buf;  /* index contents + trailer */
  lsm_slice index;
  uint64_t index_off;        /* for messages */
  unsigned char *filter_buf; /* filter contents + trailer */
  lsm_slice filter;          /* empty: no filter */
  lsm_bloom_reader bloom;    /* over filter */
  uint64_t data_end;         /* data blocks lie in [0, data_end) */
  lsm_cache *cache;          /* block cache of data blocks, or NULL */
  uint64_t cache_id;         /* this table's key space in the cache */
  /* Index summary (see "Index summary" below), or block_prefix NULL. */
  uint32_t *block_prefix;    /* per index entry */
  uint32_t n_blocks;         /* index entries */
  size_t prefix_skip;        /* bytes every index key's user key starts with */
  const unsigned char *common; /* those bytes, inside the first index key */
};

/* Is the block at h (contents and trailer) inside [0, limit)? */
static int check_handle(const lsm_sst *t, lsm_block_handle h, uint64_t limit,
                        lsm_buffer *errmsg) {
  if (h.size > limit || h.offset > limit - h.size ||
      limit - h.size - h.offset < LSM_BLOCK_TRAILER_SIZE ||
      h.size > SIZE_MAX - LSM_BLOCK_TRAILER_SIZE) {
    set_err(errmsg, "lsm: block handle out of range in %s (block at offset %llu, "
            "size %llu)", t->name, (unsigned long long)h.offset,
            (unsigned long long)h.size);
    return LSM_CORRUPT;
  }
  return LSM_OK;
}

/* Verify the block at h whose contents and trailer are at p (already in
** memory: a readahead chunk). */
static int verify_in_memory(const lsm_sst *t, lsm_block_handle h, const unsigned char *p,
                            lsm_buffer *errmsg) {
  if (lsm_get_u32(p + h.size + 1) != lsm_checksum32(p, (size_t)h.size + 1)) {
    set_err(errmsg, "lsm: checksum mismatch in %s block at offset %llu",
            t->name, (unsigned long long)h.offset);
    return LSM_CORRUPT;
  }
  if (p[h.size] != BLOCK_TYPE_RAW) {
    set_err(errmsg, "lsm: unknown block type %d in %s block at offset %llu",
            p[h.size], t->name, (unsigned long long)h.offset);
    return LSM_CORRUPT;
  }
  return LSM_OK;
}

/* Read the block at h (contents + trailer, one pread; check_handle passed)
** into p, which has room for h.size + LSM_BLOCK_TRAILER_SIZE bytes, and
** verify it. */
static int read_verified(const lsm_sst *t, lsm_block_handle h, unsigned char *p,
                         lsm_buffer *errmsg) {
  size_t n = (size_t)h.size + LSM_BLOCK_TRAILER_SIZE, got = 0;
  int rc = t->env->pread(t->env, t->file, h.offset, p, n, &got);
  if (rc) {
    set_err(errmsg, "lsm: read error in %s block at offset %llu", t->name,
            (unsigned long long)h.offset);
    return rc;
  }
  if (got < n) {
    set_err(errmsg, "lsm: truncated %s: block at offset %llu ends past the "
            "end of the file", t->name, (unsigned long long)h.offset);
    return LSM_CORRUPT;
  }
  return verify_in_memory(t, h, p, errmsg);
}

/* Read the block at h into a malloc()ed buffer and verify it.  The block
** and its trailer must end at or before `limit`.  On success *buf owns the
** bytes and the contents are its first h.size bytes. */
static int read_raw(const lsm_sst *t, lsm_block_handle h, uint64_t limit,
                    unsigned char **buf, lsm_buffer *errmsg) {
  unsigned char *p;
  int rc = check_handle(t, h, limit, errmsg);
  *buf = NULL;
  if (rc) return rc;
  /* 64-byte aligned: a blocked bloom filter's lines (bloom.c) then each
  ** fill exactly one cache line. */
  if (posix_memalign((void **)&p, 64, (size_t)h.size + LSM_BLOCK_TRAILER_SIZE))
    return LSM_NOMEM;
  rc = read_verified(t, h, p, errmsg);
  if (rc) {
    free(p);
    return rc;
  }
  *buf = p;
  return LSM_OK;
}

/* Fetch data block h.  The caller passes *release(*arg) ownership of the
** bytes to the block iterator: a cache handle when the table has a block
** cache (a hit costs no read; a miss reads, verifies, then inserts), else
** a malloc()ed buffer.  How the cache is used is the caller's choice: */
enum read_mode {
  READ_CACHED,             /* look up, and insert what was read (reads) */
  READ_NO_FILL,            /* look up, but do not insert (compaction: its
                              inputs are read once and then deleted) */
  READ_DISK                /* bypass the cache (integrity checks verify the
                              bytes on disk) */
};

static int read_block(const lsm_sst *t, lsm_block_handle h, enum read_mode mode,
                      lsm_slice *contents, void (**release)(void *), void **arg,
                      lsm_buffer *errmsg) {
  unsigned char *buf;
  lsm_cache_handle *ch = NULL;
  int rc;
  if (t->cache && mode != READ_DISK) {
    ch = lsm_cache_lookup(t->cache, t->cache_id, h.offset);
    if (ch && lsm_cache_size(ch) == h.size) goto from_cache;
    if (ch) lsm_cache_release(t->cache, ch);   /* cannot happen: same id, same offset */
  }
  if (t->cache && mode == READ_CACHED) {
    /* Read straight into the data area of the cache entry to be. */
    rc = check_handle(t, h, t->data_end, errmsg);
    if (rc) return rc;
    buf = lsm_cache_buffer_new(t->cache, (size_t)h.size + LSM_BLOCK_TRAILER_SIZE);
    if (buf == NULL) return LSM_NOMEM;
    rc = read_verified(t, h, buf, errmsg);
    if (rc) {
      lsm_cache_buffer_free(t->cache, buf);
      return rc;
    }
    ch = lsm_cache_insert_buffer(t->cache, t->cache_id, h.offset, buf, (size_t)h.size);
    goto from_cache;
  }
  rc = read_raw(t, h, t->data_end, &buf, errmsg);
  if (rc) return rc;
  *contents = lsm_slice_make(buf, (size_t)h.size);
  *release = free;
  *arg = buf;
  return LSM_OK;
from_cache:
  *contents = lsm_slice_make(lsm_cache_data(ch), (size_t)h.size);
  *release = lsm_cache_release_handle;
  *arg = ch;
  return LSM_OK;
}

void lsm_sst_set_cache(lsm_sst *t, lsm_cache *cache) {
  t->cache = cache;
  t->cache_id = cache ? lsm_cache_new_id(cache) : 0;
}

/* Point the block iterator `into` at data block h. */
static int load_data_block(const lsm_sst *t, lsm_block_handle h, enum read_mode mode,
                           lsm_block_iter *into, lsm_buffer *errmsg) {
  lsm_slice contents;
  void (*release)(void *);
  void *arg;
  int rc = read_block(t, h, mode, &contents, &release, &arg, errmsg);
  if (rc) return rc;
  lsm_block_iter_reset(into, contents, 0, release, arg);
  return LSM_OK;
}

/* Decode the handle that is the value of an index entry. */
static int decode_index_value(lsm_slice v, lsm_block_handle *h) {
  const unsigned char *end = lsm_block_handle_decode(v.p, v.p + v.n, h);
  return end != NULL && end == v.p + v.n;
}

/* ------------------------------------------------------------------ */
/* Index summary.  Finding a key's block binary-searches the index block:
** each probe decodes an entry header and compares whole keys, a cache miss
** or two per probe in an index nobody touched lately.  When every index
** entry is a restart point (our builder writes index blocks so), the table
** also keeps, per entry, 4 bytes of its user key as a big-endian number:
** the bytes right after the prefix every key of the table shares (taken
** from the first and last index keys: every key between two keys sharing a
** prefix shares it).  Numbers that differ order their keys (zero padding
** makes a shorter key sort no later than its extensions), so the search
** runs over one small array and compares whole keys only among entries
** whose 4 bytes equal the target's.  An index that is not all restarts, or
** whose entries do not decode, gets no summary and is searched as before. */

#define SUMMARY_BYTES 4

static uint32_t summary_prefix(lsm_slice ukey, size_t skip) {
  uint32_t v = 0;
  size_t i;
  for (i = skip; i < skip + SUMMARY_BYTES; i++) v = (v << 8) | (i < ukey.n ? ukey.p[i] : 0);
  return v;
}

static void build_summary(lsm_sst *t) {
  lsm_block_iter it;
  lsm_slice first, last;
  uint32_t n = 0, i;
  size_t skip = 0;
  uint32_t *prefix = NULL;
  lsm_block_iter_init(&it);
  lsm_block_iter_reset(&it, t->index, 1, NULL, NULL);
  for (lsm_it_first(&it.base); lsm_block_iter_valid(&it); lsm_it_next(&it.base)) n++;
  if (it.status || n == 0 || n != lsm_block_iter_restarts(&it)) goto done;
  if (!lsm_block_iter_restart_key(&it, 0, &first) ||
      !lsm_block_iter_restart_key(&it, n - 1, &last)) {
    goto done;
  }
  first = lsm_ikey_user(first);
  last = lsm_ikey_user(last);
  while (skip < first.n && skip < last.n && first.p[skip] == last.p[skip]) skip++;
  prefix = malloc((size_t)n * sizeof(*prefix));
  if (prefix == NULL) goto done;   /* no summary: searched as before */
  for (i = 0; i < n; i++) {
    lsm_slice k;
    if (!lsm_block_iter_restart_key(&it, i, &k) || lsm_ikey_user(k).n < skip) {
      free(prefix);
      prefix = NULL;
      goto done;
    }
    prefix[i] = summary_prefix(lsm_ikey_user(k), skip);
  }
  t->block_prefix = prefix;
  t->n_blocks = n;
  t->prefix_skip = skip;
  t->common = first.p;
done:
  lsm_block_iter_clear(&it);
}

/* With a summary: the first index entry whose key is >= target (n_blocks
** if none), positioning nothing.  index is an iterator over t->index, used
** only to read whole keys.  0 on a malformed entry. */
static int summary_find(const lsm_sst *t, lsm_block_iter *index, lsm_slice target,
                        uint32_t *out) {
  lsm_slice tu = lsm_ikey_user(target);
  uint32_t lo = 0, hi = t->n_blocks, tp;
  if (t->prefix_skip > 0) {
    size_t m = tu.n < t->prefix_skip ? tu.n : t->prefix_skip;
    int c = m ? memcmp(tu.p, t->common, m) : 0;
    if (c < 0 || (c == 0 && tu.n < t->prefix_skip)) {
      *out = 0;              /* before every key of the table */
      return 1;
    }
    if (c > 0) {
      *out = t->n_blocks;    /* after every key */
      return 1;
    }
  }
  tp = summary_prefix(tu, t->prefix_skip);
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (t->block_prefix[mid] < tp) lo = mid + 1;
    else hi = mid;
  }
  if (lo == t->n_blocks || t->block_prefix[lo] != tp) {
    *out = lo;
    return 1;
  }
  /* Entries [lo, hi) share the target's 4 bytes: compare whole keys. */
  hi = lo + 1;
  while (hi < t->n_blocks && t->block_prefix[hi] == tp) hi++;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    lsm_slice k;
    if (!lsm_block_iter_restart_key(index, mid, &k)) return 0;
    if (lsm_ikey_cmp(k, target) < 0) lo = mid + 1;
    else hi = mid;
  }
  *out = lo;
  return 1;
}

/* Position index (an iterator over t->index) on the first entry whose key
** is >= target; invalid past the end, or with its status set. */
static void index_seek(const lsm_sst *t, lsm_block_iter *index, lsm_slice target) {
  uint32_t i;
  if (t->block_prefix == NULL) {
    lsm_it_seek(&index->base, target);
    return;
  }
  if (!summary_find(t, index, target, &i)) {
    index->status = LSM_CORRUPT;
    index->valid = 0;
    return;
  }
  if (i == t->n_blocks) {
    index->valid = 0;
    return;
  }
  lsm_block_iter_seek_restart(index, i);
}

static void table_free(lsm_sst *t) {
  if (t->file) t->env->close(t->env, t->file);
  free(t->block_prefix);
  free(t->index_buf);
  free(t->filter_buf);
  free(t->name);
  free(t);
}

int lsm_sst_open(lsm_env *env, const char *path, uint64_t file_size,
                 lsm_sst **out, lsm_buffer *errmsg) {
  lsm_sst *t = calloc(1, sizeof(*t));
  unsigned char footer[LSM_SST_FOOTER_SIZE];
  lsm_block_handle ih, fh;
  uint64_t footer_off;
  size_t got = 0;
  lsm_it *probe;
  uint32_t version;
  int rc;

  *out = NULL;
  if (t == NULL) return LSM_NOMEM;
  atomic_init(&t->refs, 1);
  t->env = env;
  t->file_size = file_size;
  t->name = strdup(base_name(path));
  if (t->name == NULL) {
    rc = LSM_NOMEM;
    goto done;
  }
  rc = env->open_read(env, path, &t->file);
  if (rc) {
    t->file = NULL;
    set_err(errmsg, "lsm: cannot open table %s", t->name);
    goto done;
  }

  if (file_size < LSM_SST_FOOTER_SIZE) {
    rc = LSM_CORRUPT;
    set_err(errmsg, "lsm: %s is too short to be a table (%llu bytes)", t->name,
            (unsigned long long)file_size);
    goto done;
  }
  footer_off = file_size - LSM_SST_FOOTER_SIZE;
  rc = env->pread(env, t->file, footer_off, footer, sizeof footer, &got);
  if (rc) {
    set_err(errmsg, "lsm: read error in %s footer at offset %llu", t->name,
            (unsigned long long)footer_off);
    goto done;
  }
  if (got < sizeof footer) {
    rc = LSM_CORRUPT;
    set_err(errmsg, "lsm: truncated %s: footer at offset %llu is missing",
            t->name, (unsigned long long)footer_off);
    goto done;
  }
  if (lsm_get_u64(footer + FOOTER_MAGIC) != LSM_SST_MAGIC) {
    rc = LSM_CORRUPT;
    set_err(errmsg, "lsm: bad magic number in %s footer at offset %llu",
            t->name, (unsigned long long)footer_off);
    goto done;
  }
  if (lsm_get_u32(footer + FOOTER_CHECKSUM) != lsm_checksum32(footer, FOOTER_CHECKSUM)) {
    rc = LSM_CORRUPT;
    set_err(errmsg, "lsm: checksum mismatch in %s footer at offset %llu",
            t->name, (unsigned long long)footer_off);
    goto done;
  }
  version = lsm_get_u32(footer + FOOTER_VERSION);
  if (version != LSM_SST_VERSION) {
    rc = LSM_CORRUPT;
    set_err(errmsg, "lsm: unsupported table format version %u in %s footer at "
            "offset %llu", (unsigned)version, t->name,
            (unsigned long long)footer_off);
    goto done;
  }
  ih.offset = lsm_get_u64(footer + FOOTER_INDEX_OFF);
  ih.size = lsm_get_u64(footer + FOOTER_INDEX_SIZE);
  fh.offset = lsm_get_u64(footer + FOOTER_FILTER_OFF);
  fh.size = lsm_get_u64(footer + FOOTER_FILTER_SIZE);

  /* Layout: data < filter < index < footer.  read_raw bounds each block by
  ** the start of the next region, so none overlaps its successor. */
  if (ih.offset > footer_off) {
    rc = LSM_CORRUPT;
    set_err(errmsg, "lsm: index handle out of range in %s footer at offset %llu",
            t->name, (unsigned long long)footer_off);
    goto done;
  }
  rc = read_raw(t, ih, footer_off, &t->index_buf, errmsg);
  if (rc) goto done;
  t->index = lsm_slice_make(t->index_buf, (size_t)ih.size);
  t->index_off = ih.offset;
  rc = read_raw(t, fh, ih.offset, &t->filter_buf, errmsg);
  if (rc) goto done;
  t->filter = lsm_slice_make(t->filter_buf, (size_t)fh.size);
  lsm_bloom_reader_init(&t->bloom, t->filter);
  t->data_end = fh.offset;

  /* The index is used on every lookup: check its restart array now. */
  probe = lsm_block_iter_new(t->index, NULL, NULL);
  if (probe == NULL) {
    rc = LSM_NOMEM;
    goto done;
  }
  rc = lsm_it_status(probe);
  lsm_it_free(probe);
  if (rc) {
    set_err(errmsg, "lsm: corrupt index block in %s at offset %llu", t->name,
            (unsigned long long)ih.offset);
    goto done;
  }
  build_summary(t);

done:
  if (rc) {
    table_free(t);
    return rc;
  }
  *out = t;
  return LSM_OK;
}

void lsm_sst_ref(lsm_sst *t) {
  atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
}

void lsm_sst_unref(lsm_sst *t) {
  if (t == NULL) return;
  /* acq_rel: every use by other holders happens before the free. */
  if (atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
    table_free(t);
}

size_t lsm_sst_memory(const lsm_sst *t) {
  return sizeof(*t) + strlen(t->name) + 1 + t->index.n + t->filter.n +
         2 * LSM_BLOCK_TRAILER_SIZE + (size_t)t->n_blocks * sizeof(uint32_t);
}

int lsm_sst_has_filter(lsm_sst *t) {
  return t->filter.n > 0;
}

void lsm_sst_prefetch_filter(lsm_sst *t, uint64_t hash) {
  lsm_bloom_reader_prefetch(&t->bloom, hash);
}

int lsm_sst_may_contain(lsm_sst *t, lsm_slice ukey) {
  if (t->filter.n == 0) return 1;
  return lsm_bloom_reader_may_contain(&t->bloom, lsm_bloom_hash(ukey));
}

/* Lookup keys up to this long are built on the stack. */
#define LOOKUP_KEY_STACK 128

int lsm_sst_get(lsm_sst *t, lsm_slice ukey, uint64_t seq, int *found,
                int *kind, lsm_buffer *val, int *bloom_negative,
                lsm_buffer *errmsg) {
  return lsm_sst_get_hashed(t, ukey, lsm_bloom_hash(ukey), seq, found, kind,
                            val, bloom_negative, errmsg);
}

int lsm_sst_get_hashed(lsm_sst *t, lsm_slice ukey, uint64_t hash, uint64_t seq,
                       int *found, int *kind, lsm_buffer *val,
                       int *bloom_negative, lsm_buffer *errmsg) {
  unsigned char stack_key[LOOKUP_KEY_STACK];
  unsigned char *key_mem = NULL;
  unsigned char *k = stack_key;
  lsm_slice target;
  lsm_block_iter index, data;
  lsm_block_handle h = {0, 0};
  lsm_ikey parsed;
  int rc = LSM_OK;

  *found = 0;
  if (bloom_negative) *bloom_negative = 0;
  if (t->filter.n > 0 && !lsm_bloom_reader_may_contain(&t->bloom, hash)) {
    if (bloom_negative) *bloom_negative = 1;
    return LSM_OK;
  }
  lsm_block_iter_init(&index);
  lsm_block_iter_init(&data);
  if (seq > LSM_SEQ_MAX) seq = LSM_SEQ_MAX;
  if (ukey.n > sizeof stack_key - LSM_TRAILER_SIZE) {
    k = key_mem = malloc(ukey.n + LSM_TRAILER_SIZE);
    if (k == NULL) {
      rc = LSM_NOMEM;
      goto done;
    }
  }
  if (ukey.n) memcpy(k, ukey.p, ukey.n);
  lsm_put_u64(k + ukey.n, lsm_pack_trailer(seq, LSM_KIND_PUT));
  target = lsm_slice_make(k, ukey.n + LSM_TRAILER_SIZE);

  /* The first index entry >= target names the only block that can hold
  ** the first entry >= target: its last key is >= target and every
  ** earlier block ends below it. */
  lsm_block_iter_reset(&index, t->index, 1, NULL, NULL);
  index_seek(t, &index, target);
  if (!lsm_block_iter_valid(&index)) {
    rc = lsm_it_status(&index.base);
    if (rc)
      set_err(errmsg, "lsm: corrupt index block in %s at offset %llu", t->name,
              (unsigned long long)t->index_off);
    goto done;
  }
  if (!decode_index_value(lsm_block_iter_value(&index), &h)) {
    rc = LSM_CORRUPT;
    set_err(errmsg, "lsm: bad block handle in %s index block at offset %llu",
            t->name, (unsigned long long)t->index_off);
    goto done;
  }
  rc = load_data_block(t, h, READ_CACHED, &data, errmsg);
  if (rc) goto done;
  lsm_it_seek(&data.base, target);
  if (!lsm_block_iter_valid(&data)) {
    rc = lsm_it_status(&data.base);
    if (rc == LSM_OK) rc = LSM_CORRUPT;  /* the index promised a key >= target */
    set_err(errmsg, "lsm: corrupt block in %s at offset %llu", t->name,
            (unsigned long long)h.offset);
    goto done;
  }
  if (!lsm_ikey_parse(lsm_block_iter_key(&data), &parsed)) {
    rc = LSM_CORRUPT;
    set_err(errmsg, "lsm: bad key kind in %s block at offset %llu", t->name,
            (unsigned long long)h.offset);
    goto done;
  }
  if (lsm_slice_cmp(parsed.ukey, ukey) != 0) goto done;  /* not in table */
  /* Versions newer than seq sort before target, so this is the newest
  ** version visible at seq. */
  if (val) {
    lsm_slice v = lsm_block_iter_value(&data);
    rc = lsm_buffer_set(val, v.p, v.n);
    if (rc) goto done;
  }
  *found = 1;
  if (kind) *kind = parsed.kind;

done:
  lsm_block_iter_clear(&data);
  lsm_block_iter_clear(&index);
  free(key_mem);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Two-level iterator: an index iterator picks the data block, a block
** iterator walks it.  Empty blocks are skipped; a block that cannot be read
** or decoded latches its status and leaves the iterator invalid, and the
** message naming the table and the block's offset goes to `err` (errmsg()). */

/* Readahead.  A scan loads block after block, each with a pread: for
** 4 KiB blocks the system call costs about as much as the copy.  After
** READAHEAD_AFTER loads of consecutive blocks in one direction, the
** iterator reads READAHEAD_BYTES of the file at once (blocks are laid out
** back to back) into a buffer of its own and serves the following blocks
** from it, verifying each block's checksum when it is loaded, as always.
** Blocks served so bypass the block cache (a scan neither pays a cache
** lookup per block nor evicts the blocks point reads keep hot).  The data
** iterator may point into the buffer; it is detached before any refill. */
#define READAHEAD_BYTES (64 * 1024)
#define READAHEAD_AFTER 2

typedef struct sst_iter {
  lsm_it base;
  lsm_sst *t;                /* one reference */
  lsm_block_iter index;
  lsm_block_iter data;       /* over nothing when no block is loaded */
  int has_data;              /* a block is loaded */
  lsm_block_handle data_h;   /* handle of the loaded block */
  int status;                /* sticky */
  lsm_buffer err;            /* text of status (NUL-terminated), or empty */
  enum read_mode mode;       /* how data blocks use the block cache */
  int streak;                /* consecutive loads of adjacent blocks */
  int streak_dir;            /* their direction: 1 forward, -1 backward */
  unsigned char *ra;         /* readahead buffer (READAHEAD_BYTES) or NULL */
  uint64_t ra_off;           /* file bytes [ra_off, ra_off + ra_len) held */
  size_t ra_len;
} sst_iter;

static void drop_block(sst_iter *it) {
  lsm_block_iter_detach(&it->data);
  it->has_data = 0;
}

static uint64_t block_end(lsm_block_handle h) {
  return h.offset + h.size + LSM_BLOCK_TRAILER_SIZE;
}

/* Count adjacent loads (before the new block h replaces data_h). */
static void note_load(sst_iter *it, lsm_block_handle h) {
  int dir = 0;
  if (it->has_data && h.offset == block_end(it->data_h)) dir = 1;
  else if (it->has_data && block_end(h) == it->data_h.offset) dir = -1;
  if (dir != 0 && dir == it->streak_dir) {
    it->streak++;
  } else {
    it->streak = dir != 0;
    it->streak_dir = dir;
  }
}

/* Point the data iterator at block h from the readahead buffer, refilling
** it if the scan calls for it.  Returns 1 when done (or failed: status
** latched), 0 when the block is to be read the ordinary way. */
static int load_from_readahead(sst_iter *it, lsm_block_handle h) {
  const lsm_sst *t = it->t;
  uint64_t end;
  int rc;
  if (it->mode == READ_DISK || check_handle(t, h, t->data_end, NULL) != LSM_OK) return 0;
  end = block_end(h);
  if (it->ra == NULL || h.offset < it->ra_off || end > it->ra_off + it->ra_len) {
    uint64_t start;
    size_t got = 0;
    if (it->streak < READAHEAD_AFTER || end - h.offset > READAHEAD_BYTES) return 0;
    if (it->ra == NULL) {
      it->ra = malloc(READAHEAD_BYTES);
      if (it->ra == NULL) return 0;    /* read the ordinary way */
    }
    if (it->streak_dir > 0) {
      start = h.offset;
    } else {
      start = end > READAHEAD_BYTES ? end - READAHEAD_BYTES : 0;
    }
    if (start + READAHEAD_BYTES > t->data_end) {
      /* Not past the data blocks (forward), nor needlessly short (backward). */
      start = t->data_end > READAHEAD_BYTES ? t->data_end - READAHEAD_BYTES : 0;
      if (start > h.offset) start = h.offset;
    }
    it->ra_len = 0;
    rc = t->env->pread(t->env, t->file, start, it->ra,
                       (size_t)(t->data_end - start < READAHEAD_BYTES
                                    ? t->data_end - start : READAHEAD_BYTES),
                       &got);
    if (rc) return 0;                  /* the ordinary read reports it */
    it->ra_off = start;
    it->ra_len = got;
    if (h.offset < start || end > start + got) return 0;   /* short file */
  }
  rc = verify_in_memory(t, h, it->ra + (h.offset - it->ra_off), &it->err);
  if (rc) {
    it->status = rc;
    return 1;
  }
  lsm_block_iter_reset(&it->data, lsm_slice_make(it->ra + (h.offset - it->ra_off),
                                                 (size_t)h.size), 0, NULL, NULL);
  return 1;
}

/* Load the block the index iterator is on (kept if already loaded).
** Returns 0 and latches the status on failure. */
static int load_block(sst_iter *it) {
  lsm_block_handle h;
  int rc;
  if (!decode_index_value(lsm_block_iter_value(&it->index), &h)) {
    it->status = LSM_CORRUPT;
    set_err(&it->err, "lsm: bad block handle in %s index block at offset %llu", it->t->name,
            (unsigned long long)it->t->index_off);
    drop_block(it);
    return 0;
  }
  if (it->has_data && h.offset == it->data_h.offset && h.size == it->data_h.size)
    return 1;
  note_load(it, h);
  drop_block(it);
  if (load_from_readahead(it, h)) {
    if (it->status) return 0;
  } else {
    rc = load_data_block(it->t, h, it->mode, &it->data, &it->err);
    if (rc) {
      it->status = rc;
      return 0;
    }
  }
  it->has_data = 1;
  it->data_h = h;
  return 1;
}

/* After the index moved: 1 if it is on an entry and its block is loaded;
** 0 otherwise (end of the index, or an error, which is latched). */
static int index_settled(sst_iter *it) {
  if (!lsm_block_iter_valid(&it->index)) {
    it->status = lsm_it_status(&it->index.base);
    if (it->status) {
      set_err(&it->err, "lsm: corrupt index block in %s at offset %llu", it->t->name,
              (unsigned long long)it->t->index_off);
    }
    drop_block(it);
    return 0;
  }
  return load_block(it);
}

/* The loaded data block failed to decode: latch its status. */
static int block_failed(sst_iter *it) {
  it->status = lsm_it_status(&it->data.base);
  if (it->status) {
    set_err(&it->err, "lsm: corrupt block in %s at offset %llu", it->t->name,
            (unsigned long long)it->data_h.offset);
  }
  return it->status;
}

/* Move forward over exhausted and empty blocks. */
static void skip_forward(sst_iter *it) {
  while (it->status == LSM_OK && it->has_data && !lsm_block_iter_valid(&it->data)) {
    if (block_failed(it)) return;
    lsm_it_next(&it->index.base);
    if (!index_settled(it)) return;
    lsm_it_first(&it->data.base);
  }
}

static void skip_backward(sst_iter *it) {
  while (it->status == LSM_OK && it->has_data && !lsm_block_iter_valid(&it->data)) {
    if (block_failed(it)) return;
    lsm_it_prev(&it->index.base);
    if (!index_settled(it)) return;
    lsm_it_last(&it->data.base);
  }
}

static int si_valid(lsm_it *base) {
  sst_iter *it = (sst_iter *)base;
  return it->status == LSM_OK && it->has_data && lsm_block_iter_valid(&it->data);
}

static void si_first(lsm_it *base) {
  sst_iter *it = (sst_iter *)base;
  if (it->status) return;
  lsm_it_first(&it->index.base);
  if (!index_settled(it)) return;
  lsm_it_first(&it->data.base);
  skip_forward(it);
}

static void si_last(lsm_it *base) {
  sst_iter *it = (sst_iter *)base;
  if (it->status) return;
  lsm_it_last(&it->index.base);
  if (!index_settled(it)) return;
  lsm_it_last(&it->data.base);
  skip_backward(it);
}

static void si_seek(lsm_it *base, lsm_slice target) {
  sst_iter *it = (sst_iter *)base;
  if (it->status) return;
  index_seek(it->t, &it->index, target);
  if (!index_settled(it)) return;
  lsm_it_seek(&it->data.base, target);
  skip_forward(it);
}

static void si_seek_le(lsm_it *base, lsm_slice target) {
  sst_iter *it = (sst_iter *)base;
  if (it->status) return;
  /* The first block whose last key is >= target may hold the answer; if it
  ** does not (all its keys are > target), the previous block's last entry
  ** is it.  If no block ends >= target, the table's last entry is. */
  index_seek(it->t, &it->index, target);
  if (!lsm_block_iter_valid(&it->index) && lsm_it_status(&it->index.base) == LSM_OK)
    lsm_it_last(&it->index.base);
  if (!index_settled(it)) return;
  lsm_it_seek_le(&it->data.base, target);
  skip_backward(it);
}

static void si_next(lsm_it *base) {
  sst_iter *it = (sst_iter *)base;
  if (!si_valid(base)) return;
  lsm_block_iter_next(&it->data);
  if (!lsm_block_iter_valid(&it->data)) skip_forward(it);
}

static void si_prev(lsm_it *base) {
  sst_iter *it = (sst_iter *)base;
  if (!si_valid(base)) return;
  lsm_block_iter_prev(&it->data);
  if (!lsm_block_iter_valid(&it->data)) skip_backward(it);
}

/* A step ran off the data block: on to the following (preceding) blocks;
** then valid() and the key, as the fused steps return them. */
static int block_ran_out(sst_iter *it, int forward, lsm_slice *key) {
  if (forward) skip_forward(it);
  else skip_backward(it);
  if (!si_valid(&it->base)) return 0;
  *key = lsm_block_iter_key(&it->data);
  return 1;
}

/* Fused steps (iter.h): most steps stay inside the loaded block. */
static int si_next_key(lsm_it *base, lsm_slice *key) {
  sst_iter *it = (sst_iter *)base;
  if (!si_valid(base)) return 0;
  lsm_block_iter_next(&it->data);
  if (!lsm_block_iter_valid(&it->data)) return block_ran_out(it, 1, key);
  *key = lsm_block_iter_key(&it->data);
  return 1;
}

static int si_prev_key(lsm_it *base, lsm_slice *key) {
  sst_iter *it = (sst_iter *)base;
  if (!si_valid(base)) return 0;
  lsm_block_iter_prev(&it->data);
  if (!lsm_block_iter_valid(&it->data)) return block_ran_out(it, 0, key);
  *key = lsm_block_iter_key(&it->data);
  return 1;
}

static lsm_slice si_key(lsm_it *base) {
  return lsm_block_iter_key(&((sst_iter *)base)->data);
}

static lsm_slice si_value(lsm_it *base) {
  return lsm_block_iter_value(&((sst_iter *)base)->data);
}

static int si_status(lsm_it *base) {
  sst_iter *it = (sst_iter *)base;
  if (it->status) return it->status;
  if (it->has_data && it->data.status) return it->data.status;
  return it->index.status;
}

static const char *si_errmsg(lsm_it *base) {
  sst_iter *it = (sst_iter *)base;
  int rc = si_status(base);
  if (rc == LSM_OK || rc == LSM_NOMEM) return NULL;
  if (it->err.len == 0) {
    /* Every error is worded where it is latched; this is a safety net. */
    set_err(&it->err, "lsm: error %d reading %s", rc, it->t->name);
  }
  return it->err.len ? (const char *)it->err.data : NULL;
}

static void si_free(lsm_it *base) {
  sst_iter *it = (sst_iter *)base;
  lsm_block_iter_clear(&it->data);
  lsm_block_iter_clear(&it->index);
  lsm_buffer_free(&it->err);
  lsm_sst_unref(it->t);
  free(it->ra);
  free(it);
}

void lsm_sst_iter_retarget(lsm_it *base, lsm_sst *t) {
  sst_iter *it = (sst_iter *)base;
  if (it->status) return;     /* callers check; never on an error */
  drop_block(it);
  lsm_block_iter_reset(&it->index, t->index, 1, NULL, NULL);
  lsm_sst_ref(t);
  lsm_sst_unref(it->t);
  it->t = t;
  it->err.len = 0;
  it->streak = 0;
  it->streak_dir = 0;
  it->ra_off = 0;
  it->ra_len = 0;            /* the buffer held the other file's bytes */
}

/* The level iterator's direct entry points (sst.h). */
int lsm_sst_iter_valid(lsm_it *it) { return si_valid(it); }
void lsm_sst_iter_next(lsm_it *it) { si_next(it); }
void lsm_sst_iter_prev(lsm_it *it) { si_prev(it); }
lsm_slice lsm_sst_iter_key(lsm_it *it) { return si_key(it); }
int lsm_sst_iter_next_key(lsm_it *it, lsm_slice *key) { return si_next_key(it, key); }
int lsm_sst_iter_prev_key(lsm_it *it, lsm_slice *key) { return si_prev_key(it, key); }
lsm_block_iter *lsm_sst_iter_block(lsm_it *it) { return &((sst_iter *)it)->data; }
int lsm_sst_iter_next_block(lsm_it *it, lsm_slice *key) {
  return block_ran_out((sst_iter *)it, 1, key);
}
int lsm_sst_iter_prev_block(lsm_it *it, lsm_slice *key) {
  return block_ran_out((sst_iter *)it, 0, key);
}
lsm_slice lsm_sst_iter_value(lsm_it *it) { return si_value(it); }

static const lsm_it_methods sst_iter_methods = {
  si_valid, si_first, si_last, si_seek, si_seek_le, si_next, si_prev,
  si_key, si_value, si_status, si_free, si_errmsg, si_next_key, si_prev_key,
};

lsm_it *lsm_sst_iter_new(lsm_sst *t) {
  return lsm_sst_iter_new_ex(t, 1);
}

lsm_it *lsm_sst_iter_new_ex(lsm_sst *t, int fill_cache) {
  sst_iter *it = calloc(1, sizeof(*it));
  if (it == NULL) return NULL;
  it->mode = fill_cache ? READ_CACHED : READ_NO_FILL;
  it->base.m = &sst_iter_methods;
  lsm_block_iter_init(&it->index);
  lsm_block_iter_init(&it->data);
  lsm_block_iter_reset(&it->index, t->index, 1, NULL, NULL);
  lsm_sst_ref(t);
  it->t = t;
  return &it->base;
}

/* ------------------------------------------------------------------ */
/* Checker */

int lsm_sst_check(lsm_sst *t, lsm_buffer *errmsg) {
  lsm_it *index = NULL;
  lsm_block_iter blk;
  lsm_it *data = &blk.base;
  lsm_buffer prev = {0};
  uint64_t expect = 0;       /* where the next data block must start */
  int rc = LSM_OK;

  lsm_block_iter_init(&blk);
  index = lsm_block_iter_new(t->index, NULL, NULL);
  if (index == NULL) {
    rc = LSM_NOMEM;
    goto done;
  }
  for (lsm_it_first(index); lsm_it_valid(index); lsm_it_next(index)) {
    lsm_block_handle h;
    lsm_slice index_key = lsm_it_key(index);
    int n = 0;
    if (!decode_index_value(lsm_it_value(index), &h)) {
      rc = LSM_CORRUPT;
      set_err(errmsg, "lsm: bad block handle in the index of %s after block "
              "at offset %llu", t->name, (unsigned long long)expect);
      goto done;
    }
    if (h.offset != expect) {
      rc = LSM_CORRUPT;
      set_err(errmsg, "lsm: %s block at offset %llu does not start where the "
              "previous block ends (%llu)", t->name,
              (unsigned long long)h.offset, (unsigned long long)expect);
      goto done;
    }
    rc = load_data_block(t, h, READ_DISK, &blk, errmsg);
    if (rc) goto done;
    for (lsm_it_first(data); lsm_it_valid(data); lsm_it_next(data)) {
      lsm_slice key = lsm_it_key(data);
      lsm_ikey parsed;
      if (!lsm_ikey_parse(key, &parsed)) {
        rc = LSM_CORRUPT;
        set_err(errmsg, "lsm: bad key kind in %s block at offset %llu",
                t->name, (unsigned long long)h.offset);
        goto done;
      }
      if (prev.len && lsm_ikey_cmp(lsm_slice_make(prev.data, prev.len), key) >= 0) {
        rc = LSM_CORRUPT;
        set_err(errmsg, "lsm: keys out of order in %s block at offset %llu",
                t->name, (unsigned long long)h.offset);
        goto done;
      }
      if (!lsm_sst_may_contain(t, parsed.ukey)) {
        rc = LSM_CORRUPT;
        set_err(errmsg, "lsm: key missing from the bloom filter of %s (block "
                "at offset %llu)", t->name, (unsigned long long)h.offset);
        goto done;
      }
      rc = lsm_buffer_set(&prev, key.p, key.n);
      if (rc) goto done;
      n++;
    }
    rc = lsm_it_status(data);
    if (rc) {
      set_err(errmsg, "lsm: corrupt block in %s at offset %llu", t->name,
              (unsigned long long)h.offset);
      goto done;
    }
    if (n == 0 || lsm_slice_cmp(index_key, lsm_slice_make(prev.data, prev.len)) != 0) {
      rc = LSM_CORRUPT;
      set_err(errmsg, "lsm: index key does not match the last key of %s block "
              "at offset %llu", t->name, (unsigned long long)h.offset);
      goto done;
    }
    lsm_block_iter_detach(&blk);
    expect = h.offset + h.size + LSM_BLOCK_TRAILER_SIZE;
  }
  rc = lsm_it_status(index);
  if (rc) {
    set_err(errmsg, "lsm: corrupt index block in %s at offset %llu", t->name,
            (unsigned long long)t->index_off);
    goto done;
  }
  if (expect != t->data_end) {
    rc = LSM_CORRUPT;
    set_err(errmsg, "lsm: data blocks of %s end at offset %llu but the filter "
            "block starts at %llu", t->name, (unsigned long long)expect,
            (unsigned long long)t->data_end);
    goto done;
  }

done:
  lsm_block_iter_clear(&blk);
  lsm_it_free(index);
  lsm_buffer_free(&prev);
  return rc;
}
