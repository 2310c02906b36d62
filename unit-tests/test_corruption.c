/*
** test_corruption.c — damaged files never give wrong rows, a crash or a
** hang: only the right data, a clean recovery of the intact commits of a
** log with a damaged tail, or LSM_CORRUPT naming the damaged file.
**
** The sweep (issue 5).  The scripted workload of workload.c builds a small
** database: a MANIFEST, tables on several levels and a log holding the last
** batches (the workload ends with a close, which does not flush).  Its
** files are kept in memory.  Then for each file and each byte position —
** all of them under LSM_TORTURE=1, otherwise as many as the time budget
** allows, visited in an order spread over every file kind and every part of
** each file — one case, in a forked child with a timeout:
**   write the pristine files to a fresh directory; damage one file: flip a
**   bit, zero 8 bytes, zero everything from the position on, truncate at
**   the position (and, once per file, delete it); open; read everything
**   (every marker and data key with lsm_get, full scans in both directions,
**   lsm_check).
** Allowed outcomes:
**   - intact: every read matches the model of all batches;
**   - prefix: (log only) reads match the model of batches 0..k-1, where k
**     includes every record before the damage; only when the damage hits
**     the log's last record, or is a truncation or a zeroed tail (a torn
**     tail cannot be told from these);
**   - corrupt: lsm_open fails with LSM_CORRUPT, or a read fails with it,
**     and the open's or some read's lsm_errmsg() names the damaged file; a
**     scan that fails names it in its own lsm_iter_errmsg();
**     whatever reads returned before and besides that is still right.
** Anything else fails the case: another status, a wrong or missing row, a
** marker pattern that is not a prefix, a crash (signal), a hang (alarm).
**
** The sweep prints per-file-kind outcome counts and a "coverage:" line.
** LSM_CORRUPT_ONLY=file:action:pos runs one case in-process (file is the
** file's name, action one of flip, zero8, zerotail, truncate, remove).
*/
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coding.h"
#include "fault_env.h"
#include "wal.h"
#include "workload.h"

#define MAX_FILES 64
#define MAX_RECORDS 256

enum { K_MANIFEST, K_LOG, K_SST, K_N };
static const char *kind_names[K_N] = {"MANIFEST", "log", "table"};

enum { A_FLIP, A_ZERO8, A_ZERO_TAIL, A_TRUNCATE, A_REMOVE, A_N };
static const char *action_names[A_N] = {"flip", "zero8", "zerotail", "truncate", "remove"};

enum { OUT_INTACT, OUT_PREFIX, OUT_CORRUPT_OPEN, OUT_CORRUPT_READ, OUT_N };
static const char *outcome_names[OUT_N] = {"intact", "torn-tail prefix", "LSM_CORRUPT at open",
                                           "LSM_CORRUPT on read"};

typedef struct image {
  char name[32];
  int kind;
  unsigned char *data;
  size_t n;
} image;

typedef struct pristine {
  image files[MAX_FILES];
  int n_files;
  int n_batches;
  int first_log_batch;         /* batches >= this are only in the log */
  size_t rec_start[MAX_RECORDS], rec_end[MAX_RECORDS];
  int n_records;
} pristine;

typedef struct damage {
  const pristine *p;
  int file;
  int action;
  size_t pos;
} damage;

/* ---------------------------------------------------------------- setup */

static int kind_of(const char *name) {
  size_t n = strlen(name);
  if (strcmp(name, "MANIFEST") == 0) return K_MANIFEST;
  if (n > 4 && strcmp(name + n - 4, ".log") == 0) return K_LOG;
  if (n > 4 && strcmp(name + n - 4, ".sst") == 0) return K_SST;
  return -1;
}

static void read_image(const char *path, image *im) {
  FILE *f = fopen(path, "rb");
  long n;
  ck_assert_ptr_nonnull(f);
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  im->data = malloc(n > 0 ? (size_t)n : 1);
  ck_assert_ptr_nonnull(im->data);
  im->n = fread(im->data, 1, (size_t)n, f);
  ck_assert_uint_eq(im->n, (size_t)n);
  fclose(f);
}

/* Build the database for a script of n batches, load its files, find the
** log's records. */
static void build_pristine_n(pristine *p, int n) {
  lsm_workload w;
  lsm_env *env = lsm_env_default();
  char **names = NULL;
  int n_names = 0, i;
  memset(p, 0, sizeof *p);
  lsm_test_remove_tree("pristine");
  lsm_workload_init(&w, "pristine", LSM_SYNC_NORMAL, n, NULL);
  ck_assert_msg(lsm_workload_run(&w, NULL) == 0, "building: %s", w.msg);
  ck_assert_msg(w.errors == 0, "building: status %d from %s", w.first_error, w.first_error_op);
  p->n_batches = w.n_batches;
  ck_assert_int_eq(env->list(env, "pristine", &names, &n_names), LSM_OK);
  for (i = 0; i < n_names; i++) {
    int kind = kind_of(names[i]);
    char path[96];
    image *im;
    if (kind < 0) continue;
    ck_assert_int_lt(p->n_files, MAX_FILES);
    im = &p->files[p->n_files++];
    snprintf(im->name, sizeof im->name, "%s", names[i]);
    im->kind = kind;
    snprintf(path, sizeof path, "pristine/%s", names[i]);
    read_image(path, im);
  }
  lsm_env_free_list(names, n_names);
  lsm_test_remove_tree("pristine");
  /* The log: a header, then records that start with their u32 length. */
  for (i = 0; i < p->n_files; i++) {
    const image *im = &p->files[i];
    size_t off = LSM_WAL_HEADER_SIZE;
    if (im->kind != K_LOG) continue;
    ck_assert_int_eq(p->n_records, 0);   /* one live log */
    while (off + LSM_WAL_RECORD_HEADER_SIZE <= im->n) {
      size_t len = (size_t)im->data[off] | (size_t)im->data[off + 1] << 8 |
                   (size_t)im->data[off + 2] << 16 | (size_t)im->data[off + 3] << 24;
      ck_assert_int_lt(p->n_records, MAX_RECORDS);
      p->rec_start[p->n_records] = off;
      p->rec_end[p->n_records] = off + LSM_WAL_RECORD_HEADER_SIZE + len;
      p->n_records++;
      off += LSM_WAL_RECORD_HEADER_SIZE + len;
    }
    ck_assert_uint_eq(off, im->n);
  }
  /* One record per batch: the log holds the last n_records batches. */
  p->first_log_batch = p->n_batches - p->n_records;
}

static void free_pristine(pristine *p);

/* The first script length from 60 down whose log keeps at least 5 batches
** (where the last automatic flush falls depends on the engine's memory
** accounting). */
static void build_pristine(pristine *p) {
  int n;
  for (n = 60; n > 30; n--) {
    build_pristine_n(p, n);
    if (p->n_records >= 5) return;
    free_pristine(p);
  }
  ck_abort_msg("no script length leaves 5 batches in the log");
}

static void free_pristine(pristine *p) {
  int i;
  for (i = 0; i < p->n_files; i++) free(p->files[i].data);
}

/* Which part of its file a position is in, for the coverage report. */
enum { S_LOG_HEADER, S_LOG_RECORDS, S_MAN_HEADER, S_MAN_ENTRIES, S_MAN_CHECKSUM, S_SST_DATA,
       S_SST_FILTER, S_SST_INDEX, S_SST_FOOTER, S_N };
static const char *section_names[S_N] = {"header", "records", "header", "file entries",
                                         "checksum", "data blocks", "bloom filter", "index",
                                         "footer"};

static int section_of(const image *im, size_t pos) {
  if (im->kind == K_LOG) return pos < LSM_WAL_HEADER_SIZE ? S_LOG_HEADER : S_LOG_RECORDS;
  if (im->kind == K_MANIFEST) {
    if (pos < 40) return S_MAN_HEADER;
    return pos + 8 >= im->n ? S_MAN_CHECKSUM : S_MAN_ENTRIES;
  }
  if (im->n >= 48) {
    const unsigned char *f = im->data + im->n - 48;
    uint64_t index_off = lsm_get_u64(f), filter_off = lsm_get_u64(f + 16);
    if (pos >= im->n - 48) return S_SST_FOOTER;
    if (pos >= index_off) return S_SST_INDEX;
    if (pos >= filter_off) return S_SST_FILTER;
  }
  return S_SST_DATA;
}

/* ---------------------------------------------------------------- one case */

static void case_dir(const damage *d, char *out, size_t n) {
  snprintf(out, n, "c-%s-%s-%zu", d->p->files[d->file].name, action_names[d->action], d->pos);
}

static int write_all(const char *path, const unsigned char *data, size_t n) {
  FILE *f = fopen(path, "wb");
  size_t put;
  if (f == NULL) return -1;
  put = n ? fwrite(data, 1, n, f) : 0;
  return (fclose(f) == 0 && put == n) ? 0 : -1;
}

/* Lay the damaged directory out. */
static int lay_out(const damage *d, const char *dir) {
  const pristine *p = d->p;
  int i;
  lsm_test_remove_tree(dir);
  if (mkdir(dir, 0755) != 0) return -1;
  for (i = 0; i < p->n_files; i++) {
    const image *im = &p->files[i];
    char path[160];
    size_t n = im->n, k;
    unsigned char *copy;
    snprintf(path, sizeof path, "%s/%s", dir, im->name);
    if (i != d->file) {
      if (write_all(path, im->data, im->n)) return -1;
      continue;
    }
    if (d->action == A_REMOVE) continue;
    copy = malloc(n ? n : 1);
    if (copy == NULL) return -1;
    memcpy(copy, im->data, n);
    switch (d->action) {
      case A_FLIP:
        copy[d->pos] ^= (unsigned char)(1u << (d->pos % 8));
        break;
      case A_ZERO8:
        for (k = d->pos; k < d->pos + 8 && k < n; k++) copy[k] = 0;
        break;
      case A_ZERO_TAIL:
        for (k = d->pos; k < n; k++) copy[k] = 0;
        break;
      case A_TRUNCATE:
        n = d->pos;
        break;
    }
    i = write_all(path, copy, n) ? -1 : i;
    free(copy);
    if (i < 0) return -1;
  }
  return 0;
}

/* The smallest number of batches a clean recovery must keep, or -1 if the
** damage must not shorten the data at all. */
static int min_prefix(const damage *d) {
  const pristine *p = d->p;
  const image *im = &p->files[d->file];
  int r, before = 0;
  if (im->kind != K_LOG) return -1;
  if (d->action != A_TRUNCATE && d->action != A_ZERO_TAIL && d->action != A_REMOVE &&
      d->pos < p->rec_start[p->n_records - 1]) {
    return -1;   /* damage before the last record: not a torn tail */
  }
  if (d->action == A_REMOVE) return p->first_log_batch;
  for (r = 0; r < p->n_records; r++) {
    if (p->rec_end[r] <= d->pos) before++;
  }
  return p->first_log_batch + before;
}

typedef struct reader {
  const char *file;          /* name of the damaged file */
  int corrupt;               /* some call returned LSM_CORRUPT */
  int named;                 /* ... and lsm_errmsg named the file */
  int scan_corrupt;
  char last_msg[256];
} reader;

/* Classify a status from a read: 0 fine (OK/NOTFOUND), 1 corruption seen,
** -1 anything else.  it_msg: the call was a scan and this is the
** iterator's lsm_iter_errmsg(), which must name the damaged file itself
** (-2 if it does not). */
static int note(reader *r, lsm_db *db, int rc, const char *it_msg) {
  const char *m = it_msg ? it_msg : lsm_errmsg(db);
  if (rc == LSM_OK || rc == LSM_NOTFOUND) return 0;
  if (rc != LSM_CORRUPT) return -1;
  r->corrupt = 1;
  if (it_msg) r->scan_corrupt = 1;
  snprintf(r->last_msg, sizeof r->last_msg, "%s", m);
  if (strstr(m, r->file)) r->named = 1;
  else if (it_msg) return -2;
  return 1;
}

static int describe(char *msg, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int describe(char *msg, size_t n, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, n, fmt, ap);
  va_end(ap);
  return -1;
}

/* Scan in one direction comparing each entry, as it arrives, with the model
** of batches 0..k-1.  A CORRUPT status ends the scan (noted); anything
** wrong returned before that fails. */
static int scan(lsm_db *db, reader *r, int backward, int k, int n_batches, const int *writer,
                char *msg, size_t msg_size) {
  lsm_iter *it = NULL;
  int total = LSM_WL_KEYSPACE + n_batches, pos = backward ? total - 1 : 0, rc, count = 0;
  rc = lsm_iter_new(db, NULL, NULL, &it);
  if (rc) return describe(msg, msg_size, "lsm_iter_new: status %d", rc);
  if (backward) lsm_iter_last(it);
  else lsm_iter_first(it);
  for (;;) {
    char key[16], val[LSM_WL_VALUE_MAX];
    size_t kl = 0, vl = 0, gl, gvl;
    const char *gk, *gv;
    while (pos >= 0 && pos < total) {
      if (pos < LSM_WL_KEYSPACE ? writer[pos] >= 0 : pos - LSM_WL_KEYSPACE < k) break;
      pos += backward ? -1 : 1;
    }
    if (pos >= 0 && pos < total) {
      if (pos < LSM_WL_KEYSPACE) {
        kl = lsm_workload_data_key(pos, key);
        vl = lsm_workload_writer_value(writer[pos], val);
      } else {
        kl = lsm_workload_marker_key(pos - LSM_WL_KEYSPACE, key);
        vl = lsm_workload_marker_value(pos - LSM_WL_KEYSPACE, val);
      }
      key[kl] = 0;
    }
    if (!lsm_iter_valid(it)) {
      int noted;
      rc = lsm_iter_status(it);
      noted = note(r, db, rc, lsm_iter_errmsg(it));
      lsm_iter_free(it);
      if (noted == -2) {
        return describe(msg, msg_size, "%s scan: LSM_CORRUPT, but lsm_iter_errmsg() does not name "
                        "%s: '%s'", backward ? "backward" : "forward", r->file, r->last_msg);
      }
      if (noted < 0) {
        return describe(msg, msg_size, "%s scan: status %d", backward ? "backward" : "forward", rc);
      }
      if (rc == LSM_OK && pos >= 0 && pos < total) {
        return describe(msg, msg_size, "WRONG ROWS: %s scan ended after %d entries without an "
                    "error; %s missing", backward ? "backward" : "forward", count, key);
      }
      return 0;
    }
    gk = lsm_iter_key(it, &gl);
    gv = lsm_iter_value(it, &gvl);
    if (pos < 0 || pos >= total || gl != kl || memcmp(gk, key, kl) != 0 || gvl != vl ||
        memcmp(gv, val, vl) != 0) {
      char got[16];
      snprintf(got, sizeof got, "%.*s", (int)(gl < 12 ? gl : 12), gk);
      lsm_iter_free(it);
      return describe(msg, msg_size, "WRONG ROWS: %s scan entry %d is '%s' (%zu-byte value), "
                  "expected '%s'", backward ? "backward" : "forward", count, got, gvl,
                  pos >= 0 && pos < total ? key : "the end");
    }
    count++;
    pos += backward ? -1 : 1;
    if (backward) lsm_iter_prev(it);
    else lsm_iter_next(it);
  }
}

static int corruption_case(void *arg, char *msg, size_t msg_size) {
  const damage *d = arg;
  const pristine *p = d->p;
  const image *im = &p->files[d->file];
  lsm_workload w;
  lsm_options o;
  lsm_db *db = NULL;
  lsm_buffer val = {0};
  reader r;
  char dir[128], key[16], want[LSM_WL_VALUE_MAX];
  unsigned char applied[LSM_WL_MAX_BATCHES], known[LSM_WL_MAX_BATCHES];
  int writer[LSM_WL_KEYSPACE];
  int rc, b, i, k, min_k = min_prefix(d), result = -1;
  memset(&r, 0, sizeof r);
  r.file = im->name;
  case_dir(d, dir, sizeof dir);
  if (lay_out(d, dir)) return describe(msg, msg_size, "cannot write %s", dir);
  lsm_workload_init(&w, dir, LSM_SYNC_NORMAL, p->n_batches, NULL);
  lsm_workload_options(&w, &o);
  rc = lsm_open(dir, &o, &db);
  if (rc != LSM_OK) {
    if (rc == LSM_CORRUPT && strstr(lsm_errmsg(db), im->name)) {
      lsm_close(db);
      return OUT_CORRUPT_OPEN;
    }
    describe(msg, msg_size, "open: status %d (%s), expected LSM_OK or LSM_CORRUPT naming %s", rc,
         lsm_errmsg(db), im->name);
    lsm_close(db);
    return -1;
  }
  /* Markers: which batches are there. */
  for (b = 0; b < p->n_batches; b++) {
    size_t kl = lsm_workload_marker_key(b, key);
    rc = lsm_get(db, NULL, key, kl, &val);
    known[b] = rc == LSM_OK || rc == LSM_NOTFOUND;
    applied[b] = rc == LSM_OK;
    if (note(&r, db, rc, NULL) < 0) {
      describe(msg, msg_size, "lsm_get(%s): status %d (%s)", key, rc, lsm_errmsg(db));
      goto done;
    }
    if (rc == LSM_OK) {
      size_t wl = lsm_workload_marker_value(b, want);
      if (val.len != wl || memcmp(val.data, want, wl) != 0) {
        describe(msg, msg_size, "WRONG ROWS: marker %s has a wrong value", key);
        goto done;
      }
    }
  }
  /* They must be a prefix 0..k-1 (ignoring unreadable ones)... */
  for (k = 0; k < p->n_batches && (!known[k] || applied[k]); k++) {
  }
  for (b = k; b < p->n_batches; b++) {
    if (known[b] && applied[b]) {
      describe(msg, msg_size, "WRONG ROWS: batch %d is missing but batch %d is there", k, b);
      goto done;
    }
  }
  /* ...keeping everything the damage cannot have touched. */
  if (k < p->n_batches && (min_k < 0 || k < min_k)) {
    if (min_k < 0) {
      describe(msg, msg_size, "LOST COMMITS: batches %d.. are gone without an error, but the "
           "damage (offset %zu of %s) is not a torn log tail", k, d->pos, im->name);
    } else {
      describe(msg, msg_size, "LOST COMMITS: only batches 0..%d recovered, but the log records "
           "up to batch %d end before the damage (offset %zu of %s)", k - 1, min_k - 1, d->pos,
           im->name);
    }
    goto done;
  }
  for (b = 0; b < p->n_batches; b++) applied[b] = b < k;
  lsm_workload_expected(p->n_batches, applied, writer);
  for (i = 0; i < LSM_WL_KEYSPACE; i++) {
    size_t kl = lsm_workload_data_key(i, key);
    rc = lsm_get(db, NULL, key, kl, &val);
    if (note(&r, db, rc, NULL) < 0) {
      describe(msg, msg_size, "lsm_get(%s): status %d (%s)", key, rc, lsm_errmsg(db));
      goto done;
    }
    if (rc == LSM_CORRUPT) continue;
    if ((rc == LSM_OK) != (writer[i] >= 0)) {
      describe(msg, msg_size, "WRONG ROWS: lsm_get(%s) says %s", key, rc == LSM_OK ? "present" : "absent");
      goto done;
    }
    if (rc == LSM_OK) {
      size_t wl = lsm_workload_writer_value(writer[i], want);
      if (val.len != wl || memcmp(val.data, want, wl) != 0) {
        describe(msg, msg_size, "WRONG ROWS: lsm_get(%s) returned a wrong value", key);
        goto done;
      }
    }
  }
  if (scan(db, &r, 0, k, p->n_batches, writer, msg, msg_size)) goto done;
  if (scan(db, &r, 1, k, p->n_batches, writer, msg, msg_size)) goto done;
  rc = lsm_check(db);
  if (note(&r, db, rc, NULL) < 0) {
    describe(msg, msg_size, "lsm_check: status %d (%s)", rc, lsm_errmsg(db));
    goto done;
  }
  if (r.corrupt) {
    if (!r.named) {
      describe(msg, msg_size, "LSM_CORRUPT%s, but no message names %s (last: '%s')",
           r.scan_corrupt ? " from a scan" : "", im->name, r.last_msg);
      goto done;
    }
    result = OUT_CORRUPT_READ;
  } else {
    result = k == p->n_batches ? OUT_INTACT : OUT_PREFIX;
  }
done:
  lsm_buffer_free(&val);
  lsm_close(db);
  return result;
}

/* ---------------------------------------------------------------- the sweep */

typedef struct plan {
  damage *cases;
  size_t n;
} plan;

/* Every case on files of one kind, spread over files and positions. */
static void plan_kind(const pristine *p, int kind, plan *out) {
  size_t total = 0, k = 0, *order = NULL, i;
  damage *all;
  int f, a;
  for (f = 0; f < p->n_files; f++) {
    if (p->files[f].kind == kind) total += 4 * p->files[f].n;
  }
  all = malloc((total ? total : 1) * sizeof *all);
  out->cases = malloc((total ? total : 1) * sizeof *out->cases);
  ck_assert(all != NULL && out->cases != NULL);
  /* Action-major, then every position of every file: the spread order
  ** (workload.h) takes its first picks from the most significant part of
  ** the index, so any prefix of it covers the actions evenly, then the
  ** files and positions. */
  for (a = 0; a < A_REMOVE; a++) {
    for (f = 0; f < p->n_files; f++) {
      size_t pos;
      if (p->files[f].kind != kind) continue;
      for (pos = 0; pos < p->files[f].n; pos++) {
        all[k].p = p;
        all[k].file = f;
        all[k].action = a;
        all[k].pos = pos;
        k++;
      }
    }
  }
  ck_assert_int_eq(lsm_test_spread_order(total, &order), 0);
  for (i = 0; i < total; i++) out->cases[i] = all[order[i]];
  out->n = total;
  free(order);
  free(all);
}

START_TEST(corruption_sweep_never_returns_wrong_rows) {
  static pristine p;
  plan plans[K_N];
  size_t next[K_N], done_kind[K_N], files_of[K_N], removes[K_N], sections[S_N];
  long outcomes[K_N][OUT_N], failures = 0, cases = 0;
  double start = lsm_test_now(), budget = lsm_test_budget(14);
  char msg[1024];
  int kind, f, o, progress = 1, printed = 0;
  build_pristine(&p);
  memset(outcomes, 0, sizeof outcomes);
  memset(sections, 0, sizeof sections);
  for (kind = 0; kind < K_N; kind++) {
    plan_kind(&p, kind, &plans[kind]);
    next[kind] = done_kind[kind] = files_of[kind] = removes[kind] = 0;
  }
  for (f = 0; f < p.n_files; f++) files_of[p.files[f].kind]++;
  /* Deleting a file: the manifest and every table. */
  for (f = 0; f < p.n_files; f++) {
    damage d = {&p, f, A_REMOVE, 0};
    int rc;
    if (p.files[f].kind == K_LOG) continue;   /* a lost log cannot be detected */
    rc = lsm_test_forked(corruption_case, &d, 20, msg, sizeof msg);
    cases++;
    done_kind[p.files[f].kind]++;
    removes[p.files[f].kind]++;
    if (rc < 0) {
      failures++;
      if (printed++ < 10) printf("corruption: FAIL remove %s: %s\n", p.files[f].name, msg);
    } else {
      outcomes[p.files[f].kind][rc]++;
      case_dir(&d, msg, sizeof msg);
      lsm_test_remove_tree(msg);
    }
  }
  /* Round robin over the kinds, each in its spread order. */
  while (progress) {
    progress = 0;
    for (kind = 0; kind < K_N; kind++) {
      damage *d;
      int rc;
      if (next[kind] >= plans[kind].n) continue;
      if (!lsm_test_torture() && lsm_test_now() - start > budget) break;
      progress = 1;
      d = &plans[kind].cases[next[kind]++];
      rc = lsm_test_forked(corruption_case, d, 20, msg, sizeof msg);
      cases++;
      done_kind[kind]++;
      sections[section_of(&p.files[d->file], d->pos)]++;
      if (rc < 0) {
        failures++;
        if (printed++ < 10) {
          printf("corruption: FAIL %s %s at %zu: %s\n", p.files[d->file].name,
                 action_names[d->action], d->pos, msg);
          printf("corruption:   replay: LSM_CORRUPT_ONLY=%s:%s:%zu\n", p.files[d->file].name,
                 action_names[d->action], d->pos);
        }
      } else {
        outcomes[kind][rc]++;
        case_dir(d, msg, sizeof msg);
        lsm_test_remove_tree(msg);
      }
    }
  }
  for (kind = 0; kind < K_N; kind++) {
    printf("corruption:   %-8s %2zu file%s, %6zu of %6zu cases:", kind_names[kind],
           files_of[kind], files_of[kind] == 1 ? " " : "s", done_kind[kind],
           plans[kind].n + removes[kind]);
    for (o = 0; o < OUT_N; o++) {
      if (outcomes[kind][o]) printf(" %ld %s,", outcomes[kind][o], outcome_names[o]);
    }
    printf("\ncorruption:            byte cases by part:");
    for (o = 0; o < S_N; o++) {
      int of_kind = kind == K_LOG ? o <= S_LOG_RECORDS
                                  : kind == K_MANIFEST ? (o >= S_MAN_HEADER && o <= S_MAN_CHECKSUM)
                                                       : o >= S_SST_DATA;
      if (of_kind) printf(" %s %zu,", section_names[o], sections[o]);
    }
    printf("\n");
    free(plans[kind].cases);
  }
  printf("coverage: corruption: %ld of %zu cases over %d files (flip, zero 8, zero tail, "
         "truncate at each byte position%s; delete), %ld failures, %.1f s\n",
         cases, plans[0].n + plans[1].n + plans[2].n + removes[0] + removes[1] + removes[2],
         p.n_files,
         next[0] + next[1] + next[2] < plans[0].n + plans[1].n + plans[2].n
             ? ", sampled evenly within the time budget; LSM_TORTURE=1 for all" : "",
         failures, lsm_test_now() - start);
  fflush(stdout);
  free_pristine(&p);
  ck_assert_msg(failures == 0, "%ld damaged-file cases misbehaved (see above)", failures);
}
END_TEST

/* Directed: a damaged data block or footer is reported by the read that
** meets it, naming the table, and lsm_check finds it too; a truncated table
** fails the open. */
START_TEST(flipped_table_byte_is_reported_naming_the_table) {
  static pristine p;
  damage d;
  char msg[1024];
  int f, rc;
  build_pristine(&p);
  for (f = 0; f < p.n_files && p.files[f].kind != K_SST; f++) {
  }
  ck_assert_int_lt(f, p.n_files);
  d.p = &p;
  d.file = f;
  d.action = A_FLIP;
  d.pos = 3;   /* inside the first data block */
  rc = lsm_test_forked(corruption_case, &d, 20, msg, sizeof msg);
  ck_assert_msg(rc == OUT_CORRUPT_READ, "outcome %d: %s", rc, msg);
  /* The footer's magic: tables are opened at first use (the table cache),
  ** so the first read that needs the table reports it; lsm_open checks only
  ** that the file is there with its size. */
  d.pos = p.files[f].n - 1;
  rc = lsm_test_forked(corruption_case, &d, 20, msg, sizeof msg);
  ck_assert_msg(rc == OUT_CORRUPT_READ, "outcome %d: %s", rc, msg);
  d.action = A_TRUNCATE;     /* a short table still fails the open */
  rc = lsm_test_forked(corruption_case, &d, 20, msg, sizeof msg);
  ck_assert_msg(rc == OUT_CORRUPT_OPEN, "outcome %d: %s", rc, msg);
  free_pristine(&p);
}
END_TEST

/* Flip one byte of a file in place. */
static void flip_byte(const char *path, long pos) {
  FILE *f = fopen(path, "r+b");
  int c;
  ck_assert_ptr_nonnull(f);
  ck_assert_int_eq(fseek(f, pos, SEEK_SET), 0);
  c = fgetc(f);
  ck_assert_int_ne(c, EOF);
  ck_assert_int_eq(fseek(f, pos, SEEK_SET), 0);
  fputc(c ^ 0x5a, f);
  fclose(f);
}

/* Directed: a scan that meets a damaged data block fails with LSM_CORRUPT,
** and lsm_iter_errmsg() — the iterator's own text, not the db's — names the
** table file and the block's offset.  Once for a level-0 table (a direct
** source of the merge) and once for a deeper one (behind the level
** iterator), in both directions.  A compaction that reads the block fails
** naming the file in lsm_errmsg(). */
START_TEST(scan_over_a_damaged_block_names_the_table_in_the_iterator_message) {
  static const char *dir = "itermsg";
  lsm_options o;
  lsm_db *db = NULL;
  lsm_batch *b = NULL;
  char **names = NULL, key[16], val[64];
  int n_names = 0, i, f, rc, tables = 0, compactions_failed = 0;
  lsm_test_remove_tree(dir);
  lsm_options_init(&o);
  o.block_size = 256;
  o.cache_size = 0;
  ck_assert_int_eq(lsm_open(dir, &o, &db), LSM_OK);
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  for (i = 0; i < 300; i++) {
    snprintf(key, sizeof key, "key%04d", i);
    snprintf(val, sizeof val, "value-%04d-padding-padding", i);
    ck_assert_int_eq(lsm_batch_put(b, key, strlen(key), val, strlen(val)), LSM_OK);
    if (i == 199) {
      /* The first 200 keys end up on a deeper level, the rest in level 0. */
      ck_assert_int_eq(lsm_write(db, b, 0), LSM_OK);
      lsm_batch_clear(b);
      ck_assert_int_eq(lsm_compact(db), LSM_OK);
    }
  }
  ck_assert_int_eq(lsm_write(db, b, 0), LSM_OK);
  ck_assert_int_eq(lsm_flush(db), LSM_OK);
  lsm_batch_free(b);
  ck_assert_int_eq(lsm_close(db), LSM_OK);
  ck_assert_int_eq(lsm_env_default()->list(lsm_env_default(), dir, &names, &n_names), LSM_OK);
  for (f = 0; f < n_names; f++) {
    char path[256];
    int backward;
    if (!strstr(names[f], ".sst")) continue;
    tables++;
    snprintf(path, sizeof path, "%s/%s", dir, names[f]);
    flip_byte(path, 10);      /* inside the first data block */
    ck_assert_int_eq(lsm_open(dir, &o, &db), LSM_OK);
    for (backward = 0; backward < 2; backward++) {
      lsm_iter *it = NULL;
      const char *m;
      ck_assert_int_eq(lsm_iter_new(db, NULL, NULL, &it), LSM_OK);
      rc = backward ? lsm_iter_last(it) : lsm_iter_first(it);
      while (rc == LSM_OK && lsm_iter_valid(it)) rc = backward ? lsm_iter_prev(it) : lsm_iter_next(it);
      ck_assert_int_eq(lsm_iter_status(it), LSM_CORRUPT);
      m = lsm_iter_errmsg(it);
      ck_assert_msg(strstr(m, names[f]) != NULL && strstr(m, "offset 0") != NULL,
                    "%s scan over damaged %s: message '%s'", backward ? "backward" : "forward",
                    names[f], m);
      lsm_iter_free(it);
    }
    /* A compaction that reads the block says which file failed it. */
    rc = lsm_compact(db);
    if (rc != LSM_OK) {
      ck_assert_int_eq(rc, LSM_CORRUPT);
      ck_assert_msg(strstr(lsm_errmsg(db), names[f]) != NULL, "compaction over damaged %s: '%s'",
                    names[f], lsm_errmsg(db));
      compactions_failed++;
    }
    lsm_close(db);
    flip_byte(path, 10);      /* undo */
  }
  lsm_env_free_list(names, n_names);
  ck_assert_int_ge(tables, 2);
  ck_assert_int_ge(compactions_failed, 1);
  lsm_test_remove_tree(dir);
}
END_TEST

static int count_record(void *ctx, lsm_slice payload) {
  (void)payload;
  (*(int *)ctx)++;
  return LSM_OK;
}

/* A bit flipped in the length field of a record in the middle of the log
** can make the length run past end of file, which looks like a torn append.
** But intact records follow the damaged one: replay must report mid-log
** corruption, not end the log there and drop them. */
START_TEST(wal_length_flipped_past_eof_in_a_middle_record_is_corruption) {
  lsm_env *env = lsm_env_default();
  lsm_wal *w = NULL;
  unsigned char rec[100];
  lsm_buffer err = {0};
  uint64_t second;
  int n = 0, rc;
  FILE *f;
  memset(rec, 'r', sizeof rec);
  ck_assert_int_eq(lsm_wal_create(env, "lenflip.log", &w), LSM_OK);
  ck_assert_int_eq(lsm_wal_append(w, lsm_slice_make(rec, 100), 0), LSM_OK);
  second = lsm_wal_size(w);
  ck_assert_int_eq(lsm_wal_append(w, lsm_slice_make(rec, 100), 0), LSM_OK);
  ck_assert_int_eq(lsm_wal_append(w, lsm_slice_make(rec, 100), 0), LSM_OK);
  ck_assert_int_eq(lsm_wal_close(w), LSM_OK);
  f = fopen("lenflip.log", "r+b");
  ck_assert_ptr_nonnull(f);
  fseek(f, (long)second + 1, SEEK_SET);   /* length 100 becomes 100 + 0x4000 */
  fputc(0x40, f);
  fclose(f);
  rc = lsm_wal_replay(env, "lenflip.log", count_record, &n, NULL, &err);
  ck_assert_msg(rc == LSM_CORRUPT, "replay returned %d after %d records (the third record is "
                "intact and was dropped)", rc, n);
  lsm_buffer_free(&err);
}
END_TEST

/* A directory with tables but no MANIFEST is damaged, not new: opening it
** must fail with LSM_CORRUPT naming the manifest, and must not delete the
** tables as orphans. */
START_TEST(missing_manifest_with_tables_present_is_corruption) {
  lsm_db *db = NULL;
  lsm_batch *b;
  lsm_env *env = lsm_env_default();
  char **names = NULL;
  int n_names = 0, i, tables = 0, rc;
  ck_assert_int_eq(lsm_open("nomanifest", NULL, &db), LSM_OK);
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  lsm_batch_put(b, "k", 1, "v", 1);
  ck_assert_int_eq(lsm_write(db, b, 0), LSM_OK);
  ck_assert_int_eq(lsm_flush(db), LSM_OK);
  lsm_close(db);
  lsm_batch_free(b);
  ck_assert_int_eq(remove("nomanifest/MANIFEST"), 0);
  db = NULL;
  rc = lsm_open("nomanifest", NULL, &db);
  ck_assert_msg(rc == LSM_CORRUPT && strstr(lsm_errmsg(db), "MANIFEST"),
                "open without MANIFEST: status %d (%s)", rc, lsm_errmsg(db));
  lsm_close(db);
  ck_assert_int_eq(env->list(env, "nomanifest", &names, &n_names), LSM_OK);
  for (i = 0; i < n_names; i++) tables += strstr(names[i], ".sst") != NULL;
  lsm_env_free_list(names, n_names);
  ck_assert_msg(tables > 0, "the open deleted the tables");
}
END_TEST

/* A MANIFEST whose checksum is right but whose last_seq is beyond the
** largest sequence number (found by fuzz_manifest).  Opening must fail with
** LSM_CORRUPT; it used to open, and the first read tripped an assertion in
** the memtable (an abort of the host process). */
static int open_manifest_with_last_seq(void *arg, char *msg, size_t msg_size) {
  uint64_t last_seq = *(const uint64_t *)arg;
  lsm_db *db = NULL;
  lsm_batch *b = NULL;
  unsigned char buf[4096];
  size_t n;
  FILE *f;
  int rc;
  lsm_test_remove_tree("bigseq");
  if (lsm_open("bigseq", NULL, &db) != LSM_OK || lsm_batch_new(&b) != LSM_OK) return -1;
  lsm_batch_put(b, "k", 1, "v", 1);
  if (lsm_write(db, b, 0) != LSM_OK || lsm_flush(db) != LSM_OK) return -1;
  lsm_batch_free(b);
  lsm_close(db);
  f = fopen("bigseq/MANIFEST", "r+b");
  if (f == NULL) return -1;
  n = fread(buf, 1, sizeof buf, f);
  lsm_put_u64(buf + 24, last_seq);                       /* last_seq */
  lsm_put_u64(buf + n - 8, lsm_checksum64(buf, n - 8));  /* still valid */
  fseek(f, 0, SEEK_SET);
  fwrite(buf, 1, n, f);
  fclose(f);
  db = NULL;
  rc = lsm_open("bigseq", NULL, &db);
  if (rc == LSM_OK) {
    rc = lsm_get(db, NULL, "k", 1, NULL);
    snprintf(msg, msg_size, "opened; lsm_get returned %d", rc);
    lsm_close(db);
    return -1;
  }
  snprintf(msg, msg_size, "%s", lsm_errmsg(db));
  lsm_close(db);
  return rc;
}

START_TEST(manifest_last_seq_out_of_range_is_corruption) {
  uint64_t seq = (uint64_t)1 << 58;
  char msg[1024];
  int rc = lsm_test_forked(open_manifest_with_last_seq, &seq, 20, msg, sizeof msg);
  ck_assert_msg(rc == LSM_CORRUPT && strstr(msg, "MANIFEST"), "status %d: %s", rc, msg);
}
END_TEST

static Suite *corruption_suite(void) {
  Suite *s = suite_create("corruption");
  TCase *tc = tcase_create("corruption");
  tcase_set_timeout(tc, lsm_test_torture() ? 36000 : 300);
  tcase_add_test(tc, flipped_table_byte_is_reported_naming_the_table);
  tcase_add_test(tc, scan_over_a_damaged_block_names_the_table_in_the_iterator_message);
  tcase_add_test(tc, wal_length_flipped_past_eof_in_a_middle_record_is_corruption);
  tcase_add_test(tc, missing_manifest_with_tables_present_is_corruption);
  tcase_add_test(tc, manifest_last_seq_out_of_range_is_corruption);
  tcase_add_test(tc, corruption_sweep_never_returns_wrong_rows);
  suite_add_tcase(s, tc);
  return s;
}

/* LSM_CORRUPT_ONLY=file:action:pos — one case, in this process. */
START_TEST(one_case_from_the_environment) {
  static pristine p;
  const char *only = getenv("LSM_CORRUPT_ONLY");
  char file[32], action[16], msg[1024];
  unsigned long pos = 0;
  damage d;
  int rc;
  ck_assert_msg(sscanf(only, "%31[^:]:%15[a-z0-9]:%lu", file, action, &pos) >= 2,
                "LSM_CORRUPT_ONLY=file:action:pos");
  build_pristine(&p);
  for (d.file = 0; d.file < p.n_files && strcmp(p.files[d.file].name, file) != 0; d.file++) {
  }
  for (d.action = 0; d.action < A_N && strcmp(action_names[d.action], action) != 0; d.action++) {
  }
  if (d.file == p.n_files) {
    printf("no file %s; the files are:", file);
    for (d.file = 0; d.file < p.n_files; d.file++) printf(" %s", p.files[d.file].name);
    printf("\n");
  }
  ck_assert(d.file < p.n_files && d.action < A_N);
  d.p = &p;
  d.pos = pos;
  rc = corruption_case(&d, msg, sizeof msg);
  printf("%s %s at %lu: %s %s\n", file, action, pos, rc < 0 ? "FAIL" : outcome_names[rc], msg);
  free_pristine(&p);
  ck_assert(rc >= 0);
}
END_TEST

int main(void) {
  SRunner *sr;
  int failed;
  if (getenv("LSM_CORRUPT_ONLY")) {
    Suite *s = suite_create("corruption");
    TCase *tc = tcase_create("one");
    tcase_add_test(tc, one_case_from_the_environment);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
  } else {
    sr = srunner_create(corruption_suite());
  }
  lsm_test_enter_fast_dir();
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  lsm_test_leave_fast_dir();
  return failed == 0 ? 0 : 1;
}
