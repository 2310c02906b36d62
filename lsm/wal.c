/*
** wal.c — the write-ahead log writer and its recovery reader (see wal.h).
**
** Byte layout (all integers little-endian):
**
**   offset 0   header, 16 bytes
**                8  magic  "LSMWAL\0\1"
**                4  u32 format version (1)
**                4  u32 checksum32 of the 12 bytes above
**   offset 16  records, back to back, each
**                4  u32 payload length n (bits 0..30); bit 31 set when the
**                   record was fsynced before its commit was acknowledged
**                4  u32 checksum32 of the n payload bytes
**                4  u32 checksum32 of the 8 bytes above
**                n  payload (an encoded batch; opaque here)
**   (checksum32 = low 32 bits of XXH3-64, seed 0: lsm_checksum32())
**
** Writer.  Each record is assembled in a per-writer buffer and handed to the
** environment in ONE append call, so a crash in the middle leaves at most a
** prefix of the last record on disk (a torn tail), never a hole or a
** reordered record.  The first failed append or sync poisons the writer:
** after an I/O error the file's contents are unknown (a prefix of the
** record may be on disk, or an fsync may have dropped dirty pages), so no
** further record may be placed after it.  Every later call returns that
** first error.
**
** Reader.  Replay reads the file sequentially through a window buffer
** (pread in chunks of at least READ_CHUNK bytes) and classifies the end of
** the intact prefix.  The header's own checksum makes its length
** trustworthy, which tells a torn append from a damaged record:
**   - fewer than 12 bytes left, or an intact header whose length runs past
**     end of file: an append cut short by a crash — stop, LSM_OK;
**   - a damaged header or payload that shows what a power loss leaves — a
**     sector that never reached the disk (zeros from the damage to the end
**     of the file, a zero run up to a 512-byte boundary, or a zero sector)
**     — and after which no intact record carries the synced bit: stop,
**     LSM_OK.  The intact prefix is what was durable; nothing after it was
**     acknowledged as durable (point-in-time recovery).  A real header is
**     never all zero (its checksum of eight zero bytes is not zero);
**   - any other damage (bit flips, garbage, or an unwritten-looking hole
**     before a commit acknowledged as durable): mid-log corruption,
**     LSM_CORRUPT naming the file and the record's offset.
** Lengths are never trusted for allocation before the checksum is known to
** be good when they are large: a record longer than VERIFY_FIRST_LIMIT is
** checksummed by streaming it through the window first, so a corrupted
** length costs a read, not a huge allocation (an intact giant record is
** therefore read twice, which is rare and cheap next to applying it).
**
** An lsm_wal is not thread-safe: the engine serialises appends to its log.
**
** Error messages are left in the caller's lsm_buffer as NUL-terminated text
** (len counts the characters, not the NUL).
*/
#include "wal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

static const unsigned char wal_magic[8] = {'L', 'S', 'M', 'W', 'A', 'L', 0, 1};
#define WAL_VERSION 1

/* Smallest pread the reader issues (except at end of file). */
#define READ_CHUNK ((size_t)64 * 1024)
/* Records longer than this are checksummed in chunks before being loaded. */
#define VERIFY_FIRST_LIMIT ((uint32_t)16 * 1024 * 1024)
/* The writer drops its record buffer after a record larger than this, so a
** single huge commit does not pin its size in memory for the log's life. */
#define KEEP_BUFFER_LIMIT ((size_t)1024 * 1024)

struct lsm_wal {
  lsm_env *env;
  lsm_file *file;
  uint64_t size;      /* bytes appended so far, header included */
  int err;            /* first failure of append/sync; LSM_OK while healthy */
  lsm_buffer rec;     /* scratch space for assembling one record */
};

/* Fill the 12-byte record header for a payload of n bytes; synced: the
** record is fsynced before its commit is acknowledged. */
static void put_record_header(unsigned char *h, const unsigned char *payload, size_t n,
                              int synced) {
  lsm_put_u32(h, (uint32_t)n | (synced ? LSM_WAL_SYNCED_FLAG : 0));
  lsm_put_u32(h + 4, lsm_checksum32(payload, n));
  lsm_put_u32(h + 8, lsm_checksum32(h, 8));
}

/* 1 if the header's own checksum holds (its length can be trusted). */
static int header_ok(const unsigned char *h) {
  return lsm_get_u32(h + 8) == lsm_checksum32(h, 8);
}

static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

/* Replace the contents of errmsg (if not NULL) by the formatted text.  A
** message that cannot be allocated is dropped: the status still says what
** happened. */
static void set_errmsg(lsm_buffer *errmsg, const char *fmt, ...) {
  va_list ap;
  int n;
  if (errmsg == NULL) return;
  errmsg->len = 0;
  va_start(ap, fmt);
  n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || lsm_buffer_reserve(errmsg, (size_t)n + 1) != LSM_OK) return;
  va_start(ap, fmt);
  vsnprintf((char *)errmsg->data, (size_t)n + 1, fmt, ap);
  va_end(ap);
  errmsg->len = (size_t)n;
}

/* ------------------------------------------------------------------ */
/* Writer */

int lsm_wal_create(lsm_env *env, const char *path, lsm_wal **out) {
  lsm_wal *w = NULL;
  unsigned char hdr[LSM_WAL_HEADER_SIZE];
  int rc;

  *out = NULL;
  w = calloc(1, sizeof *w);
  if (w == NULL) return LSM_NOMEM;
  w->env = env;
  rc = env->open_append(env, path, &w->file);
  if (rc != LSM_OK) {
    w->file = NULL;
    goto done;
  }
  memcpy(hdr, wal_magic, 8);
  lsm_put_u32(hdr + 8, WAL_VERSION);
  lsm_put_u32(hdr + 12, lsm_checksum32(hdr, 12));
  rc = env->append(env, w->file, hdr, sizeof hdr);
  if (rc != LSM_OK) goto done;
  w->size = LSM_WAL_HEADER_SIZE;

done:
  if (rc != LSM_OK) {
    /* The creation error is what the caller needs to see; a close failure
    ** on this half-made file adds nothing. */
    if (w->file) env->close(env, w->file);
    free(w);
    return rc;
  }
  *out = w;
  return LSM_OK;
}

int lsm_wal_open(lsm_env *env, const char *path, lsm_wal **out) {
  lsm_wal *w = calloc(1, sizeof *w);
  int rc;
  *out = NULL;
  if (w == NULL) return LSM_NOMEM;
  w->env = env;
  rc = env->open_append_existing(env, path, &w->file);
  if (rc == LSM_OK) {
    rc = env->size(env, w->file, &w->size);
    if (rc) env->close(env, w->file);
  }
  if (rc) {
    free(w);
    return rc;
  }
  *out = w;
  return LSM_OK;
}

int lsm_wal_file_size(lsm_wal *w, uint64_t *size) {
  return w->env->size(w->env, w->file, size);
}

int lsm_wal_append(lsm_wal *w, lsm_slice payload, int sync) {
  unsigned char *rec;
  size_t rec_len;
  int rc;

  if (w->err != LSM_OK) return w->err;
  /* An argument the format cannot represent is rejected before any I/O and
  ** leaves the writer usable. */
  if ((uint64_t)payload.n > LSM_WAL_MAX_PAYLOAD ||
      payload.n > SIZE_MAX - LSM_WAL_RECORD_HEADER_SIZE) {
    return LSM_MISUSE;
  }
  rec_len = LSM_WAL_RECORD_HEADER_SIZE + payload.n;

  w->rec.len = 0;
  rc = lsm_buffer_reserve(&w->rec, rec_len);
  if (rc != LSM_OK) goto done;
  rec = w->rec.data;
  if (payload.n > 0) memcpy(rec + LSM_WAL_RECORD_HEADER_SIZE, payload.p, payload.n);
  put_record_header(rec, rec + LSM_WAL_RECORD_HEADER_SIZE, payload.n, sync);

  rc = w->env->append(w->env, w->file, rec, rec_len);
  if (rc != LSM_OK) goto done;
  w->size += rec_len;
  if (sync) rc = w->env->sync(w->env, w->file);

done:
  if (w->rec.cap > KEEP_BUFFER_LIMIT) lsm_buffer_free(&w->rec);
  if (rc != LSM_OK) w->err = rc;
  return rc;
}

int lsm_wal_sync(lsm_wal *w) {
  int rc;
  if (w->err != LSM_OK) return w->err;
  rc = w->env->sync(w->env, w->file);
  if (rc != LSM_OK) w->err = rc;
  return rc;
}

uint64_t lsm_wal_size(const lsm_wal *w) {
  return w->size;
}

/* A poisoned writer reports its first error here too, so a caller that only
** checks the close status still learns that the log is incomplete. */
int lsm_wal_close(lsm_wal *w) {
  int rc;
  if (w == NULL) return LSM_OK;
  rc = w->env->close(w->env, w->file);
  if (w->err != LSM_OK) rc = w->err;
  lsm_buffer_free(&w->rec);
  free(w);
  return rc;
}

/* ------------------------------------------------------------------ */
/* Reader */

/* A forward-moving window over the file: buf.data[0 .. buf.len) holds the
** file bytes starting at buf_off. */
typedef struct wal_reader {
  lsm_env *env;
  lsm_file *file;
  const char *name;      /* base name, for messages */
  uint64_t file_size;    /* size when replay began; nothing past it is read */
  lsm_buffer buf;
  uint64_t buf_off;
  lsm_buffer *errmsg;
} wal_reader;

/* Point *out at file bytes [off, off + n), which the caller has checked lie
** inside file_size.  Bytes already in the window at or after off are kept;
** the rest is read with one pread of at least READ_CHUNK bytes (clamped to
** the end of the file).  *out stays valid until the next fetch. */
static int reader_fetch(wal_reader *r, uint64_t off, size_t n,
                        const unsigned char **out) {
  uint64_t win_end = r->buf_off + r->buf.len;
  size_t keep = 0, want, got = 0;
  int rc;

  if (off >= r->buf_off && off + n <= win_end) {
    *out = r->buf.data + (off - r->buf_off);
    return LSM_OK;
  }
  if (off >= r->buf_off && off < win_end) {
    keep = (size_t)(win_end - off);
    memmove(r->buf.data, r->buf.data + (off - r->buf_off), keep);
  }
  r->buf.len = keep;
  r->buf_off = off;

  want = n > READ_CHUNK ? n : READ_CHUNK;
  if ((uint64_t)want > r->file_size - off) want = (size_t)(r->file_size - off);
  rc = lsm_buffer_reserve(&r->buf, want - keep);
  if (rc != LSM_OK) return rc;
  rc = r->env->pread(r->env, r->file, off + keep, r->buf.data + keep,
                     want - keep, &got);
  if (rc != LSM_OK) {
    set_errmsg(r->errmsg, "lsm: I/O error reading %s at offset %llu", r->name,
               (unsigned long long)(off + keep));
    return rc;
  }
  if (got < want - keep) {
    /* The file shrank under us: nobody may modify a log being replayed. */
    set_errmsg(r->errmsg, "lsm: short read from %s at offset %llu", r->name,
               (unsigned long long)(off + keep + got));
    return LSM_IOERR;
  }
  r->buf.len = want;
  *out = r->buf.data;
  return LSM_OK;
}

/* *zero = 1 if every byte in [from, file_size) is zero (vacuously so when
** from == file_size). */
static int tail_is_zero(wal_reader *r, uint64_t from, int *zero) {
  uint64_t off = from;
  *zero = 1;
  while (off < r->file_size) {
    const unsigned char *p;
    size_t i, n = READ_CHUNK;
    int rc;
    if ((uint64_t)n > r->file_size - off) n = (size_t)(r->file_size - off);
    rc = reader_fetch(r, off, n, &p);
    if (rc != LSM_OK) return rc;
    for (i = 0; i < n; i++) {
      if (p[i] != 0) {
        *zero = 0;
        return LSM_OK;
      }
    }
    off += n;
  }
  return LSM_OK;
}

/* 1 if the n bytes at off (clipped to the file) are all zero and n > 0. */
static int zero_run(wal_reader *r, uint64_t off, size_t n, int *rc) {
  const unsigned char *p;
  size_t i;
  if (off >= r->file_size) return 0;
  if ((uint64_t)n > r->file_size - off) n = (size_t)(r->file_size - off);
  *rc = reader_fetch(r, off, n, &p);
  if (*rc != LSM_OK) return 0;
  for (i = 0; i < n && p[i] == 0; i++) {}
  return i == n;
}

/* *found = 1 if the damaged region [from, to] shows a sector that never
** reached the disk.  That is what a power loss leaves in a log whose tail
** was not fsynced: file systems may make a file's new size durable before
** all of its new data, and a sector whose new data never landed still
** holds its old contents, which past the old end of the file are zeros.
** So, at some 512-byte boundary b of the file within the region, either
** the bytes before b are zero from the damaged record's start or for at
** least UNWRITTEN_RUN bytes (the old end of file fell in that sector), or
** the sector starting at b is zero (to end of file).  Bit flips and garbage
** do not look like this. */
#define SECTOR 512
#define UNWRITTEN_RUN 16
static int has_unwritten_gap(wal_reader *r, uint64_t from, uint64_t to, int *found) {
  uint64_t b;
  int rc = LSM_OK;
  *found = 0;
  for (b = from - from % SECTOR + SECTOR; b <= to && b <= r->file_size; b += SECTOR) {
    size_t before = b - from < UNWRITTEN_RUN ? (size_t)(b - from) : UNWRITTEN_RUN;
    if (zero_run(r, b - before, before, &rc) || zero_run(r, b, SECTOR, &rc)) {
      *found = 1;
    }
    if (rc != LSM_OK || *found) return rc;
  }
  return rc;
}

/* *found = 1 if an intact record written with LSM_WAL_SYNCED_FLAG starts
** anywhere in [from, end of file): its commit was acknowledged as durable,
** so every byte before it was on disk, and damage there is not a power loss
** artefact.  Recovery with damage only: every offset is tried (a header
** checksum is cheap; a payload is checked only behind a valid header). */
static int synced_record_after(wal_reader *r, uint64_t from, int *found) {
  uint64_t pos;
  *found = 0;
  for (pos = from; r->file_size - pos >= LSM_WAL_RECORD_HEADER_SIZE && pos < r->file_size; pos++) {
    const unsigned char *p;
    uint32_t word, len;
    int rc = reader_fetch(r, pos, LSM_WAL_RECORD_HEADER_SIZE, &p);
    if (rc != LSM_OK) return rc;
    word = lsm_get_u32(p);
    if (!(word & LSM_WAL_SYNCED_FLAG) || !header_ok(p)) continue;
    len = word & ~LSM_WAL_SYNCED_FLAG;
    if (len > r->file_size - pos - LSM_WAL_RECORD_HEADER_SIZE || len > VERIFY_FIRST_LIMIT) continue;
    {
      uint32_t crc = lsm_get_u32(p + 4);
      rc = reader_fetch(r, pos, LSM_WAL_RECORD_HEADER_SIZE + (size_t)len, &p);
      if (rc != LSM_OK) return rc;
      if (lsm_checksum32(p + LSM_WAL_RECORD_HEADER_SIZE, len) == crc) {
        *found = 1;
        return LSM_OK;
      }
    }
  }
  return LSM_OK;
}

/* Classify damage found at off, whose suspect bytes reach to `to`: *torn = 1
** when it is what a power loss leaves (an unwritten sector, and no later
** commit was acknowledged as durable), so replay ends cleanly there
** (point-in-time recovery); else it is corruption. */
static int damage_is_power_loss(wal_reader *r, uint64_t off, uint64_t to, int *torn) {
  uint64_t first_boundary = off - off % SECTOR + SECTOR;
  int gap, rc = tail_is_zero(r, off, &gap);
  *torn = 0;
  if (rc == LSM_OK && !gap) {
    rc = has_unwritten_gap(r, off, to > first_boundary ? to : first_boundary, &gap);
  }
  if (rc != LSM_OK || !gap) return rc;
  rc = synced_record_after(r, off + 1, torn);
  *torn = !*torn;
  return rc;
}

/* Checksum the len-byte payload at off chunk by chunk, without holding it
** all in memory.  *ok = 1 if it matches want. */
static int verify_streaming(wal_reader *r, uint64_t off, uint32_t len,
                            uint32_t want, int *ok) {
  XXH3_state_t st;
  uint64_t end = off + len;
  XXH3_64bits_reset(&st);
  while (off < end) {
    const unsigned char *p;
    size_t n = READ_CHUNK;
    int rc;
    if ((uint64_t)n > end - off) n = (size_t)(end - off);
    rc = reader_fetch(r, off, n, &p);
    if (rc != LSM_OK) return rc;
    XXH3_64bits_update(&st, p, n);
    off += n;
  }
  *ok = (uint32_t)XXH3_64bits_digest(&st) == want;
  return LSM_OK;
}

/* Validate the 16-byte file header.  *empty = 1 if the file holds no log
** at all (shorter than a header, or nothing but zero bytes: a creation
** torn by a crash). */
static int check_header(wal_reader *r, int *empty) {
  const unsigned char *h;
  int rc, zero;

  *empty = 0;
  if (r->file_size < LSM_WAL_HEADER_SIZE) {
    *empty = 1;
    return LSM_OK;
  }
  rc = reader_fetch(r, 0, LSM_WAL_HEADER_SIZE, &h);
  if (rc != LSM_OK) return rc;
  if (memcmp(h, wal_magic, 8) != 0) {
    rc = tail_is_zero(r, 0, &zero);
    if (rc != LSM_OK) return rc;
    if (zero) {
      *empty = 1;
      return LSM_OK;
    }
    set_errmsg(r->errmsg, "lsm: bad WAL header in %s at offset 0 (wrong magic)",
               r->name);
    return LSM_CORRUPT;
  }
  if (lsm_get_u32(h + 12) != lsm_checksum32(h, 12)) {
    set_errmsg(r->errmsg,
               "lsm: bad WAL header in %s at offset 0 (checksum mismatch)",
               r->name);
    return LSM_CORRUPT;
  }
  if (lsm_get_u32(h + 8) != WAL_VERSION) {
    set_errmsg(r->errmsg,
               "lsm: bad WAL header in %s at offset 0 (unsupported version %lu)",
               r->name, (unsigned long)lsm_get_u32(h + 8));
    return LSM_CORRUPT;
  }
  return LSM_OK;
}

int lsm_wal_replay(lsm_env *env, const char *path, lsm_wal_record_fn fn,
                   void *ctx, uint64_t *valid_bytes, lsm_buffer *errmsg) {
  return lsm_wal_replay_from(env, path, 0, fn, ctx, valid_bytes, NULL, errmsg);
}

int lsm_wal_replay_from(lsm_env *env, const char *path, uint64_t start, lsm_wal_record_fn fn,
                        void *ctx, uint64_t *valid_bytes, uint64_t *file_size,
                        lsm_buffer *errmsg) {
  wal_reader r;
  uint64_t off = start;   /* end of the intact prefix */
  int rc, empty = 0;

  memset(&r, 0, sizeof r);
  r.env = env;
  r.name = base_name(path);
  r.errmsg = errmsg;

  rc = env->open_read(env, path, &r.file);
  if (rc != LSM_OK) {
    r.file = NULL;
    set_errmsg(errmsg, "lsm: cannot open %s", r.name);
    goto done;
  }
  rc = env->size(env, r.file, &r.file_size);
  if (rc != LSM_OK) {
    set_errmsg(errmsg, "lsm: cannot get the size of %s", r.name);
    goto done;
  }
  if (start > r.file_size) {
    /* Logs only grow: a file shorter than what was read before is not
    ** the log (or it was damaged). */
    set_errmsg(errmsg, "lsm: log %s shrank below offset %llu", r.name,
               (unsigned long long)start);
    rc = LSM_CORRUPT;
    goto done;
  }
  if (start < LSM_WAL_HEADER_SIZE) {
    off = 0;
    rc = check_header(&r, &empty);
    if (rc != LSM_OK || empty) goto done;
    off = LSM_WAL_HEADER_SIZE;
  }

  /* Invariant: off <= file_size and [0, off) has been delivered. */
  for (;;) {
    const unsigned char *p;
    uint32_t len, crc;
    uint64_t rec_end;
    int ok, torn;

    if (r.file_size - off < LSM_WAL_RECORD_HEADER_SIZE) break; /* end or torn */
    rc = reader_fetch(&r, off, LSM_WAL_RECORD_HEADER_SIZE, &p);
    if (rc != LSM_OK) goto done;
    if (!header_ok(p)) {
      rc = damage_is_power_loss(&r, off, off + LSM_WAL_RECORD_HEADER_SIZE, &torn);
      if (rc != LSM_OK) goto done;
      if (torn) break;
      set_errmsg(errmsg, "lsm: corrupt WAL record header in %s at offset %llu",
                 r.name, (unsigned long long)off);
      rc = LSM_CORRUPT;
      goto done;
    }
    len = lsm_get_u32(p) & ~LSM_WAL_SYNCED_FLAG;
    crc = lsm_get_u32(p + 4);
    /* The header is intact, so a length past the end of the file is an
    ** append cut short by a crash. */
    if (len > r.file_size - off - LSM_WAL_RECORD_HEADER_SIZE) break; /* torn */
    rec_end = off + LSM_WAL_RECORD_HEADER_SIZE + len;

    if (len > VERIFY_FIRST_LIMIT) {
      rc = verify_streaming(&r, off + LSM_WAL_RECORD_HEADER_SIZE, len, crc, &ok);
      if (rc != LSM_OK) goto done;
      if (ok) {
        rc = reader_fetch(&r, off, LSM_WAL_RECORD_HEADER_SIZE + (size_t)len, &p);
        if (rc != LSM_OK) goto done;
      }
    } else {
      rc = reader_fetch(&r, off, LSM_WAL_RECORD_HEADER_SIZE + (size_t)len, &p);
      if (rc != LSM_OK) goto done;
      ok = lsm_checksum32(p + LSM_WAL_RECORD_HEADER_SIZE, len) == crc;
    }

    if (!ok) {
      rc = damage_is_power_loss(&r, off, rec_end, &torn);
      if (rc != LSM_OK) goto done;
      if (torn) break;
      set_errmsg(errmsg, "lsm: corrupt WAL record in %s at offset %llu",
                 r.name, (unsigned long long)off);
      rc = LSM_CORRUPT;
      goto done;
    }

    /* off stays at the record's start if fn rejects it: it was not applied. */
    rc = fn(ctx, lsm_slice_make(p + LSM_WAL_RECORD_HEADER_SIZE, len));
    if (rc != LSM_OK) goto done;
    off = rec_end;
  }

done:
  if (valid_bytes) *valid_bytes = off;
  if (file_size) *file_size = r.file_size;
  if (r.file) env->close(env, r.file);
  lsm_buffer_free(&r.buf);
  return rc;
}
