/*
** test_powerloss.c — crashes and power losses at every point of a scripted
** workload never lose what the sync mode promises.
**
** First, fault_env's model of a power loss is itself tested on plain files
** (unsynced bytes and directory changes vanish, synced ones stay, torn
** tails hold only written bytes or zeros, a new directory needs a sync of
** its parent), lsm_open on a new nested directory, and the log reader on the case
** the loops first found: a sync=full record whose first sector never
** reached the disk must read as a torn tail.
**
** Then the loops (issue 5).  The workload of workload.c (batches, flushes,
** compactions, a reopen) is run once under a tracking fault_env to count
** its mutating calls (the crash points); then, for each point, rerun from
** scratch with the environment crashing there, in a forked child with a
** timeout.  The database directory is two levels below a new directory
** (case/new/db): lsm_open creates all three, and fault_env drops a new
** directory whose entry was not synced into its parent, so the loops also
** check that a new database survives with its directories.  After the crash the database is closed (every call fails), the
** directory is reopened with a clean environment and checked against the
** model, and one more commit must survive a further reopen.
**
**   sync=full, power loss     every acknowledged commit is there; the
**                             applied batches are a prefix of the script.
**   sync=normal, kill -9      every acknowledged commit is there (a killed
**                             process loses nothing the OS was given; a
**                             write() at the crash point may be torn).
**   sync=normal, power loss   the database opens and is not corrupt; the
**                             applied batches are a prefix, and include
**                             every batch acknowledged before the last
**                             successful flush, compaction or reopen.
**   sync=off, kill -9         every acknowledged commit is there.
**
** The power-loss modes are those of fault_env.h: unsynced data dropped,
** kept in order up to a random point (then zeros), or kept sector by sector
** at random (write-back out of order); every point runs in each mode, and
** while the budget lasts further rounds rerun the random modes with new
** seeds.
**
** The loops above run the engine with flushes and compactions inline
** (options.background = 0), which makes the script's file operations the
** same in every run, so a crash point is an exact place.  Three more loops
** (sync=full power loss, sync=normal kill, sync=normal power loss) run the
** default background mode, where a crash lands in the writer or in the
** background thread's flush or compaction, wherever the Nth operation falls
** that time; a run that ends before its point is verified all the same and
** counted apart.  The promise checked is the same.
**
** Each loop prints a "coverage:" line.  The default run keeps each loop to
** a time budget (6, 3, 2 and 5 s, and 4, 2, 4 s for the background loops;
** LSM_TEST_BUDGET=seconds overrides),
** visiting crash points in an order spread over the whole script;
** LSM_TORTURE=1 visits every point of a 200-batch script, then reruns the
** random modes with new seeds for 30 times the budget.
** LSM_CRASH_ONLY=sync:mode:N[:seed[:background]] runs one case in-process
** (in background mode not an exact replay).
*/
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fault_env.h"
#include "wal.h"
#include "workload.h"

static const char *mode_names[] = {"kill", "power-drop", "power-prefix", "power-sectors"};

/* ---------------------------------------------------------------- helpers */

static void write_file(lsm_env *env, const char *path, const char *data, int sync) {
  lsm_file *f = NULL;
  ck_assert_int_eq(env->open_append(env, path, &f), LSM_OK);
  ck_assert_int_eq(env->append(env, f, data, strlen(data)), LSM_OK);
  if (sync) ck_assert_int_eq(env->sync(env, f), LSM_OK);
  ck_assert_int_eq(env->close(env, f), LSM_OK);
}

/* Contents of a real file as a string ("<missing>" if absent). */
static const char *read_file(const char *path, char *buf, size_t n) {
  FILE *f = fopen(path, "rb");
  size_t got;
  if (f == NULL) return "<missing>";
  got = fread(buf, 1, n - 1, f);
  buf[got] = 0;
  fclose(f);
  return buf;
}

/* ---------------------------------------------------------------- model tests */

START_TEST(power_loss_keeps_synced_bytes_and_drops_the_rest) {
  lsm_fault_env fe;
  lsm_env *env;
  lsm_file *f = NULL;
  char buf[256];
  lsm_fault_env_init(&fe, NULL);
  ck_assert_int_eq(lsm_fault_env_track(&fe), LSM_OK);
  env = lsm_fault_env_env(&fe);
  ck_assert_int_eq(env->mkdir(env, "m1"), LSM_OK);
  ck_assert_int_eq(env->sync_dir(env, "."), LSM_OK);   /* the new directory is durable */
  ck_assert_int_eq(env->open_append(env, "m1/a", &f), LSM_OK);
  ck_assert_int_eq(env->append(env, f, "synced|", 7), LSM_OK);
  ck_assert_int_eq(env->sync(env, f), LSM_OK);
  ck_assert_int_eq(env->sync_dir(env, "m1"), LSM_OK);
  ck_assert_int_eq(env->append(env, f, "lost", 4), LSM_OK);
  ck_assert_str_eq(read_file("m1/a", buf, sizeof buf), "synced|lost");
  ck_assert_int_eq(lsm_fault_env_crash_now(&fe, LSM_CRASH_POWER_DROP), LSM_OK);
  ck_assert_str_eq(read_file("m1/a", buf, sizeof buf), "synced|");
  /* Frozen: everything fails, but the handle can still be closed. */
  ck_assert_int_eq(env->append(env, f, "x", 1), LSM_IOERR);
  ck_assert_int_eq(env->close(env, f), LSM_IOERR);
  ck_assert_int_eq(env->open_read(env, "m1/a", &f), LSM_IOERR);
  lsm_fault_env_free(&fe);
}
END_TEST

START_TEST(power_loss_undoes_directory_changes_not_synced) {
  lsm_fault_env fe;
  lsm_env *env;
  char buf[256];
  lsm_fault_env_init(&fe, NULL);
  ck_assert_int_eq(lsm_fault_env_track(&fe), LSM_OK);
  env = lsm_fault_env_env(&fe);
  ck_assert_int_eq(env->mkdir(env, "m2"), LSM_OK);
  ck_assert_int_eq(env->sync_dir(env, "."), LSM_OK);   /* the new directory is durable */
  write_file(env, "m2/keep", "kept", 1);
  write_file(env, "m2/old", "old contents", 1);
  write_file(env, "m2/gone", "removed", 1);
  ck_assert_int_eq(env->sync_dir(env, "m2"), LSM_OK);
  /* Not made durable: a new file (synced itself), a rename over an
  ** existing file, a removal. */
  write_file(env, "m2/new", "new file", 1);
  write_file(env, "m2/tmp", "replacement", 1);
  ck_assert_int_eq(env->rename(env, "m2/tmp", "m2/old"), LSM_OK);
  ck_assert_int_eq(env->remove(env, "m2/gone"), LSM_OK);
  ck_assert_str_eq(read_file("m2/old", buf, sizeof buf), "replacement");
  ck_assert_int_eq(lsm_fault_env_crash_now(&fe, LSM_CRASH_POWER_DROP), LSM_OK);
  ck_assert_str_eq(read_file("m2/keep", buf, sizeof buf), "kept");
  ck_assert_str_eq(read_file("m2/old", buf, sizeof buf), "old contents");
  ck_assert_str_eq(read_file("m2/gone", buf, sizeof buf), "removed");
  ck_assert_str_eq(read_file("m2/new", buf, sizeof buf), "<missing>");
  ck_assert_str_eq(read_file("m2/tmp", buf, sizeof buf), "<missing>");
  lsm_fault_env_free(&fe);
}
END_TEST

/* A directory made by mkdir is an entry of its parent: without a sync of
** the parent it is gone after a power loss, with whatever was synced in it
** (the case lsm_open's durable directory creation is for). */
START_TEST(power_loss_drops_a_new_directory_whose_parent_was_not_synced) {
  lsm_fault_env fe;
  lsm_env *env;
  char buf[256];
  struct stat st;
  lsm_fault_env_init(&fe, NULL);
  ck_assert_int_eq(lsm_fault_env_track(&fe), LSM_OK);
  env = lsm_fault_env_env(&fe);
  /* m6 durable, m6/sub not. */
  ck_assert_int_eq(env->mkdir(env, "m6"), LSM_OK);
  ck_assert_int_eq(env->sync_dir(env, "."), LSM_OK);
  write_file(env, "m6/kept", "kept", 1);
  ck_assert_int_eq(env->sync_dir(env, "m6"), LSM_OK);
  ck_assert_int_eq(env->mkdir(env, "m6/sub"), LSM_OK);
  write_file(env, "m6/sub/f", "synced", 1);
  ck_assert_int_eq(env->sync_dir(env, "m6/sub"), LSM_OK);
  /* m5 and m5/sub: everything inside synced, m5 itself never. */
  ck_assert_int_eq(env->mkdir(env, "m5"), LSM_OK);
  ck_assert_int_eq(env->mkdir(env, "m5/sub"), LSM_OK);
  write_file(env, "m5/sub/f", "synced", 1);
  ck_assert_int_eq(env->sync_dir(env, "m5/sub"), LSM_OK);
  ck_assert_int_eq(env->sync_dir(env, "m5"), LSM_OK);
  /* m7: an existing directory (made outside the environment) stays. */
  ck_assert_int_eq(mkdir("m7", 0755), 0);
  ck_assert_int_eq(env->mkdir(env, "m7"), LSM_OK);
  ck_assert_int_eq(lsm_fault_env_crash_now(&fe, LSM_CRASH_POWER_DROP), LSM_OK);
  ck_assert_int_ne(stat("m5", &st), 0);
  ck_assert_str_eq(read_file("m6/kept", buf, sizeof buf), "kept");
  ck_assert_int_ne(stat("m6/sub", &st), 0);
  ck_assert_int_eq(stat("m7", &st), 0);
  lsm_fault_env_free(&fe);
}
END_TEST

/* lsm_open creating its directory and missing parents makes each of them
** durable: a commit acknowledged under sync=full survives a power loss
** right after it, directories and all. */
START_TEST(open_makes_a_new_database_directory_durable) {
  lsm_fault_env fe, clean;
  lsm_options o;
  lsm_db *db = NULL;
  lsm_batch *b = NULL;
  int rc;
  lsm_fault_env_init(&fe, NULL);
  ck_assert_int_eq(lsm_fault_env_track(&fe), LSM_OK);
  lsm_options_init(&o);
  o.sync_mode = LSM_SYNC_FULL;
  o.env = lsm_fault_env_env(&fe);
  ck_assert_int_eq(lsm_open("newdir/a/db", &o, &db), LSM_OK);
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  ck_assert_int_eq(lsm_batch_put(b, "k", 1, "v", 1), LSM_OK);
  ck_assert_int_eq(lsm_write(db, b, 0), LSM_OK);
  ck_assert_int_eq(lsm_fault_env_crash_now(&fe, LSM_CRASH_POWER_DROP), LSM_OK);
  lsm_close(db);
  lsm_batch_free(b);
  lsm_fault_env_free(&fe);
  lsm_fault_env_init(&clean, NULL);
  o.env = lsm_fault_env_env(&clean);
  o.create_if_missing = 0;
  rc = lsm_open("newdir/a/db", &o, &db);
  ck_assert_msg(rc == LSM_OK, "reopen after the power loss: %d %s", rc, db ? lsm_errmsg(db) : "");
  ck_assert_int_eq(lsm_get(db, NULL, "k", 1, NULL), LSM_OK);
  lsm_close(db);
  lsm_fault_env_free(&clean);
}
END_TEST

START_TEST(power_loss_after_directory_sync_keeps_the_rename) {
  lsm_fault_env fe;
  lsm_env *env;
  char buf[256];
  lsm_fault_env_init(&fe, NULL);
  ck_assert_int_eq(lsm_fault_env_track(&fe), LSM_OK);
  env = lsm_fault_env_env(&fe);
  ck_assert_int_eq(env->mkdir(env, "m3"), LSM_OK);
  ck_assert_int_eq(env->sync_dir(env, "."), LSM_OK);   /* the new directory is durable */
  write_file(env, "m3/MANIFEST", "v1", 1);
  ck_assert_int_eq(env->sync_dir(env, "m3"), LSM_OK);
  write_file(env, "m3/MANIFEST.tmp", "v2", 1);
  ck_assert_int_eq(env->rename(env, "m3/MANIFEST.tmp", "m3/MANIFEST"), LSM_OK);
  ck_assert_int_eq(env->sync_dir(env, "m3"), LSM_OK);
  /* Truncating and rewriting without a sync leaves the synced contents. */
  write_file(env, "m3/MANIFEST", "v3-unsynced", 0);
  ck_assert_int_eq(lsm_fault_env_crash_now(&fe, LSM_CRASH_POWER_SECTORS), LSM_OK);
  ck_assert_str_eq(read_file("m3/MANIFEST", buf, sizeof buf), "v2");
  ck_assert_str_eq(read_file("m3/MANIFEST.tmp", buf, sizeof buf), "<missing>");
  lsm_fault_env_free(&fe);
}
END_TEST

/* Torn tails: the file ends at the synced size or at the end of one of the
** appends since, and every unsynced byte is the written byte or zero (with
** PREFIX, written bytes first, then zeros). */
START_TEST(power_loss_torn_tails_hold_written_bytes_or_zeros) {
  int seed, mode;
  static const size_t ends[] = {3000, 3100, 4000, 6000};   /* appends after the sync at 1000 */
  for (mode = LSM_CRASH_POWER_PREFIX; mode <= LSM_CRASH_POWER_SECTORS; mode++) {
    int saw_partial = 0;
    for (seed = 1; seed <= 60; seed++) {
      lsm_fault_env fe;
      lsm_env *env;
      lsm_file *f = NULL;
      unsigned char data[6000], got[7000];
      char dir[32], path[64];
      size_t n, i, k, prev = 1000;
      FILE *fp;
      int zero_seen = 0, ok_end = 0;
      for (i = 0; i < sizeof data; i++) data[i] = (unsigned char)(1 + i % 251);
      snprintf(dir, sizeof dir, "t%d-%d", mode, seed);
      snprintf(path, sizeof path, "%s/f", dir);
      lsm_fault_env_init(&fe, NULL);
      lsm_fault_env_set_seed(&fe, (uint64_t)seed);
      ck_assert_int_eq(lsm_fault_env_track(&fe), LSM_OK);
      env = lsm_fault_env_env(&fe);
      ck_assert_int_eq(env->mkdir(env, dir), LSM_OK);
      ck_assert_int_eq(env->sync_dir(env, "."), LSM_OK);
      ck_assert_int_eq(env->open_append(env, path, &f), LSM_OK);
      ck_assert_int_eq(env->append(env, f, data, 1000), LSM_OK);
      ck_assert_int_eq(env->sync(env, f), LSM_OK);
      ck_assert_int_eq(env->sync_dir(env, dir), LSM_OK);
      for (k = 0; k < 4; k++) {
        ck_assert_int_eq(env->append(env, f, data + prev, ends[k] - prev), LSM_OK);
        prev = ends[k];
      }
      ck_assert_int_eq(lsm_fault_env_crash_now(&fe, (lsm_crash_mode)mode), LSM_OK);
      env->close(env, f);
      fp = fopen(path, "rb");
      ck_assert_ptr_nonnull(fp);
      n = fread(got, 1, sizeof got, fp);
      fclose(fp);
      ok_end = n == 1000;
      for (k = 0; k < 4; k++) ok_end |= n == ends[k];
      ck_assert_msg(ok_end, "mode %d seed %d: size %zu is not an append boundary", mode, seed, n);
      ck_assert(memcmp(got, data, 1000) == 0);
      for (i = 1000; i < n; i++) {
        ck_assert_msg(got[i] == data[i] || got[i] == 0, "byte %zu is neither written nor zero", i);
        if (got[i] == 0) zero_seen = 1;
        else if (mode == LSM_CRASH_POWER_PREFIX) ck_assert_msg(!zero_seen, "data after zeros");
      }
      if (n > 1000 && n < 6000) saw_partial = 1;
      lsm_fault_env_free(&fe);
    }
    ck_assert_msg(saw_partial, "mode %d never left a partial tail", mode);
  }
}
END_TEST

START_TEST(kill_keeps_every_byte_written) {
  lsm_fault_env fe;
  lsm_env *env;
  lsm_file *f = NULL;
  char buf[64];
  lsm_fault_env_init(&fe, NULL);
  env = lsm_fault_env_env(&fe);
  ck_assert_int_eq(env->mkdir(env, "m4"), LSM_OK);
  ck_assert_int_eq(env->open_append(env, "m4/a", &f), LSM_OK);
  ck_assert_int_eq(env->append(env, f, "never synced", 12), LSM_OK);
  /* The 3rd mutating call from now is the crash point. */
  lsm_fault_env_crash_at(&fe, lsm_fault_env_mutations(&fe) + 2, LSM_CRASH_KILL);
  ck_assert_int_eq(env->append(env, f, "+more", 5), LSM_OK);
  ck_assert_int_eq(env->sync(env, f), LSM_IOERR);
  ck_assert(lsm_fault_env_crashed(&fe));
  ck_assert_int_eq(env->append(env, f, "x", 1), LSM_IOERR);
  env->close(env, f);
  ck_assert_str_eq(read_file("m4/a", buf, sizeof buf), "never synced+more");
  lsm_fault_env_free(&fe);
}
END_TEST

/* ---------------------------------------------------------------- the log */

static int count_record(void *ctx, lsm_slice payload) {
  (void)payload;
  (*(int *)ctx)++;
  return LSM_OK;
}

/* sync=full appends a record and fsyncs it.  If the power fails during
** that fsync, the record's sectors reach the disk in any order: here the
** part of its first sector (which it shares with the synced records
** before it) never made it and reads as zeros, while its second sector
** did.  The record was never acknowledged; the log must replay as its
** intact prefix, not fail as mid-log corruption. */
START_TEST(wal_final_record_with_a_lost_first_sector_is_a_torn_tail) {
  lsm_env *env = lsm_env_default();
  lsm_wal *w = NULL;
  unsigned char rec[1000];
  lsm_buffer err = {0};
  uint64_t synced, valid = 0;
  int n = 0, rc;
  FILE *f;
  memset(rec, 'a', sizeof rec);
  ck_assert_int_eq(lsm_wal_create(env, "lost-sector.log", &w), LSM_OK);
  ck_assert_int_eq(lsm_wal_append(w, lsm_slice_make(rec, 200), 1), LSM_OK);
  synced = lsm_wal_size(w);                     /* 16 + 8 + 200 = 224 */
  ck_assert_int_eq(lsm_wal_append(w, lsm_slice_make(rec, 1000), 0), LSM_OK);
  ck_assert_int_eq(lsm_wal_close(w), LSM_OK);
  /* The power loss: bytes synced..511 of sector 0 are lost (zeros). */
  f = fopen("lost-sector.log", "r+b");
  ck_assert_ptr_nonnull(f);
  fseek(f, (long)synced, SEEK_SET);
  {
    size_t k;
    for (k = (size_t)synced; k < 512; k++) fputc(0, f);
  }
  fclose(f);
  rc = lsm_wal_replay(env, "lost-sector.log", count_record, &n, &valid, &err);
  ck_assert_msg(rc == LSM_OK, "replay: status %d: %s", rc, err.len ? (char *)err.data : "");
  ck_assert_int_eq(n, 1);
  ck_assert_uint_eq(valid, synced);
  lsm_buffer_free(&err);
}
END_TEST

/* sync=normal never fsyncs the log, so after a power loss any of its
** sectors may be missing, in any order: here the second sector (part of a
** large first record) never reached the disk while the third, holding two
** later small records whole, did.  Nothing in the log was promised to
** survive; the database must open, holding a prefix of the commits (found
** by the torture run of the sync=normal power-loss loop). */
START_TEST(sync_normal_log_missing_a_middle_sector_opens_at_a_prefix) {
  lsm_options o;
  lsm_db *db = NULL;
  lsm_batch *b;
  char big[1050], path[160] = "";
  lsm_env *env = lsm_env_default();
  char **names = NULL;
  int n_names = 0, i, rc, have[3];
  FILE *f;
  memset(big, 'x', sizeof big);
  lsm_options_init(&o);
  o.sync_mode = LSM_SYNC_NORMAL;
  ck_assert_int_eq(lsm_open("midsector", &o, &db), LSM_OK);
  ck_assert_int_eq(lsm_batch_new(&b), LSM_OK);
  lsm_batch_put(b, "a", 1, big, sizeof big);        /* record 0: ~16..1100 */
  ck_assert_int_eq(lsm_write(db, b, 0), LSM_OK);
  lsm_batch_clear(b);
  lsm_batch_put(b, "b", 1, "2", 1);                 /* records 1, 2: in 1024..1536 */
  ck_assert_int_eq(lsm_write(db, b, 0), LSM_OK);
  lsm_batch_clear(b);
  lsm_batch_put(b, "c", 1, "3", 1);
  ck_assert_int_eq(lsm_write(db, b, 0), LSM_OK);
  lsm_close(db);
  ck_assert_int_eq(env->list(env, "midsector", &names, &n_names), LSM_OK);
  for (i = 0; i < n_names; i++) {
    if (strstr(names[i], ".log")) snprintf(path, sizeof path, "midsector/%s", names[i]);
  }
  lsm_env_free_list(names, n_names);
  ck_assert(path[0]);
  f = fopen(path, "r+b");
  ck_assert_ptr_nonnull(f);
  fseek(f, 0, SEEK_END);
  ck_assert_int_gt(ftell(f), 1100);
  ck_assert_int_lt(ftell(f), 1536);
  fseek(f, 512, SEEK_SET);
  for (i = 0; i < 512; i++) fputc(0, f);
  fclose(f);
  rc = lsm_open("midsector", &o, &db);
  ck_assert_msg(rc == LSM_OK, "open after the power loss: status %d (%s)", rc, lsm_errmsg(db));
  have[0] = lsm_get(db, NULL, "a", 1, NULL) == LSM_OK;
  have[1] = lsm_get(db, NULL, "b", 1, NULL) == LSM_OK;
  have[2] = lsm_get(db, NULL, "c", 1, NULL) == LSM_OK;
  ck_assert_msg(!have[0], "the damaged first commit came back");
  ck_assert_msg(!have[1] && !have[2], "later commits applied without the first: not a prefix");
  ck_assert_int_eq(lsm_check(db), LSM_OK);
  lsm_close(db);
  lsm_batch_free(b);
}
END_TEST

/* ---------------------------------------------------------------- loops */

typedef struct crash_spec {
  int sync_mode;
  int background;            /* options.background of the workload */
  int mode;                  /* lsm_crash_mode */
  uint64_t point;            /* mutating call that crashes */
  uint64_t seed;
  int n_batches;
} crash_spec;

static void case_dir(const crash_spec *s, char *out, size_t n) {
  snprintf(out, n, "p-%d-%d-%llu-%llu%s", s->sync_mode, s->mode, (unsigned long long)s->point,
           (unsigned long long)s->seed, s->background ? "-bg" : "");
}

/* What the reopened database must satisfy. */
static int crash_flags(const crash_spec *s) {
  if (s->mode == LSM_CRASH_KILL || s->sync_mode == LSM_SYNC_FULL) {
    return LSM_WL_ACKED_PRESENT | LSM_WL_PREFIX;
  }
  return LSM_WL_PREFIX | LSM_WL_DURABLE_UPTO;   /* sync=normal, power loss */
}

/* One case.  Returns 0 when the run crashed and the database passed the
** checks, 1 when (background mode) the run ended before the crash point
** and the database passed them, -1 with msg otherwise. */
static int crash_case(void *arg, char *msg, size_t msg_size) {
  const crash_spec *s = arg;
  lsm_fault_env fe, clean;
  lsm_workload w;
  char dir[96], db_dir[128], sub[1024];
  int rc = 0, crashed;
  case_dir(s, dir, sizeof dir);
  lsm_test_remove_tree(dir);
  /* The database lives two new directories down: lsm_open creates all
  ** three (crash points too), and they must survive with it. */
  snprintf(db_dir, sizeof db_dir, "%s/new/db", dir);
  lsm_fault_env_init(&fe, NULL);
  lsm_fault_env_set_skip_sync(&fe, 1);
  lsm_fault_env_set_seed(&fe, s->seed * 1000003 + s->point);
  lsm_fault_env_set_kill_partial(&fe, 1);
  if (lsm_fault_env_track(&fe) != LSM_OK) {
    snprintf(msg, msg_size, "out of memory");
    return -1;
  }
  lsm_fault_env_crash_at(&fe, s->point, (lsm_crash_mode)s->mode);
  lsm_workload_init(&w, db_dir, s->sync_mode, s->n_batches, lsm_fault_env_env(&fe));
  w.background = s->background;
  if (lsm_workload_run(&w, NULL) != 0) {
    snprintf(msg, msg_size, "%s", w.msg);
    rc = -1;
  }
  crashed = lsm_fault_env_crashed(&fe);
  if (rc == 0 && !crashed && !s->background) {
    /* Inline mode is deterministic: every counted point is reached. */
    snprintf(msg, msg_size, "the crash point was never reached");
    rc = -1;
  }
  lsm_fault_env_free(&fe);
  if (rc) return rc;
  lsm_fault_env_init(&clean, NULL);
  lsm_fault_env_set_skip_sync(&clean, 1);
  if (lsm_workload_reopen_verify(&w, lsm_fault_env_env(&clean), crash_flags(s), sub,
                                 sizeof sub) != 0) {
    int acked = 0, b;
    for (b = 0; b < w.n_batches; b++) acked += w.status[b] == LSM_WL_ACKED;
    snprintf(msg, msg_size, "%s [%d batches acknowledged before the crash]", sub, acked);
    rc = -1;
  }
  lsm_fault_env_free(&clean);
  return rc == 0 && !crashed ? 1 : rc;
}

/* Mutating calls of a clean run: the crash points (in background mode, of
** one run: others make about as many). */
static uint64_t count_points(int sync_mode, int background, int n_batches) {
  lsm_fault_env fe;
  lsm_workload w;
  uint64_t n;
  char dir[64], db_dir[96];
  snprintf(dir, sizeof dir, "pcount-%d-%d", sync_mode, background);
  snprintf(db_dir, sizeof db_dir, "%s/new/db", dir);   /* as in crash_case */
  lsm_test_remove_tree(dir);
  lsm_fault_env_init(&fe, NULL);
  lsm_fault_env_set_skip_sync(&fe, 1);
  ck_assert_int_eq(lsm_fault_env_track(&fe), LSM_OK);
  lsm_workload_init(&w, db_dir, sync_mode, n_batches, lsm_fault_env_env(&fe));
  w.background = background;
  ck_assert_msg(lsm_workload_run(&w, NULL) == 0, "clean run: %s", w.msg);
  ck_assert_msg(w.errors == 0, "clean run: status %d from %s", w.first_error, w.first_error_op);
  n = lsm_fault_env_mutations(&fe);
  lsm_fault_env_free(&fe);
  lsm_test_remove_tree(dir);
  return n;
}

/* Crash at every point (visited in spread order) in each of the given
** modes; then again with new random seeds for the torn tails while the time
** budget lasts.  background: the engine flushes and compacts on its own
** thread, so a point is a different operation from run to run (often one
** of that thread's) and a run may end before it.  Returns the number of
** failed cases. */
static int crash_loop(const char *label, int sync_mode, int background, const int *modes,
                      int n_modes, double budget) {
  int torture = lsm_test_torture();
  int n_batches = torture ? 200 : 60, max_rounds = torture ? 1000 : 20;
  uint64_t points = count_points(sync_mode, background, n_batches);
  size_t *order = NULL, i;
  long cases = 0, lost = 0, failures = 0, printed = 0, not_reached = 0;
  uint64_t visited = 0;
  double start = lsm_test_now();
  char msg[1024];
  int m, round = 1, stop = 0, rounds_done = 0;
  ck_assert_int_eq(lsm_test_spread_order((size_t)points, &order), 0);
  for (round = 1; !stop && round <= max_rounds; round++) {
    for (i = 0; i < points && !stop; i++) {
      /* The first round is complete under LSM_TORTURE; otherwise stop at
      ** the budget. */
      if (lsm_test_now() - start > budget && !(torture && round == 1)) {
        stop = 1;
        break;
      }
      if (round == 1) visited++;
      for (m = 0; m < n_modes; m++) {
        crash_spec s;
        int rc;
        char dir[96];
        /* No randomness in these (but in background mode the scheduling). */
        if (round > 1 && !background && modes[m] == LSM_CRASH_POWER_DROP) continue;
        if (round > 1 && !background && modes[m] == LSM_CRASH_KILL) continue;
        s.sync_mode = sync_mode;
        s.background = background;
        s.mode = modes[m];
        s.point = order[i] + 1;
        s.seed = (uint64_t)round;
        s.n_batches = n_batches;
        rc = lsm_test_forked(crash_case, &s, 60, msg, sizeof msg);
        cases++;
        case_dir(&s, dir, sizeof dir);
        if (rc < 0) {
          failures++;
          if (strstr(msg, "LOST COMMIT")) lost++;
          if (printed++ < 6) {
            printf("%s: FAIL crash at mutating call #%llu (%s, seed %d): %s\n", label,
                   (unsigned long long)s.point, mode_names[s.mode], round, msg);
            printf("%s:   replay: LSM_CRASH_ONLY=%d:%s:%llu:%d:%d%s\n", label, sync_mode,
                   mode_names[s.mode], (unsigned long long)s.point, round, background,
                   background ? " (background mode: not an exact replay)" : "");
          }
        } else {
          if (rc == 1) not_reached++;
          lsm_test_remove_tree(dir);
        }
      }
    }
    if (!stop) rounds_done = round;
    /* Only the random modes gain from more rounds (every mode does in
    ** background mode, where each run interleaves differently). */
    for (m = 0; m < n_modes && !background; m++) {
      if (modes[m] == LSM_CRASH_POWER_PREFIX || modes[m] == LSM_CRASH_POWER_SECTORS) break;
    }
    if (!background && m == n_modes) break;
  }
  free(order);
  printf("coverage: %s: %llu of %llu crash points%s x %d mode%s (", label,
         (unsigned long long)visited, (unsigned long long)points,
         visited < points ? " (time budget; LSM_TORTURE=1 for all)" : "", n_modes,
         n_modes > 1 ? "s" : "");
  for (m = 0; m < n_modes; m++) printf("%s%s", m ? "/" : "", mode_names[modes[m]]);
  printf("), %ld cases", cases);
  if (background) printf(" (%ld ended before their crash point)", not_reached);
  printf(", %d full round%s, %ld lost commits, %ld failures, %.1f s\n", rounds_done,
         rounds_done == 1 ? "" : "s", lost, failures, lsm_test_now() - start);
  fflush(stdout);
  return (int)failures;
}

static const int power_modes[] = {LSM_CRASH_POWER_DROP, LSM_CRASH_POWER_PREFIX,
                                  LSM_CRASH_POWER_SECTORS};
static const int kill_mode[] = {LSM_CRASH_KILL};

START_TEST(power_loss_sync_full_keeps_every_acknowledged_commit) {
  int f = crash_loop("power-loss(sync=full)", LSM_SYNC_FULL, 0, power_modes, 3,
                     lsm_test_budget(6));
  ck_assert_msg(f == 0, "%d crash cases failed (see above)", f);
}
END_TEST

START_TEST(kill_sync_normal_keeps_every_acknowledged_commit) {
  int f = crash_loop("kill(sync=normal)", LSM_SYNC_NORMAL, 0, kill_mode, 1, lsm_test_budget(3));
  ck_assert_msg(f == 0, "%d crash cases failed (see above)", f);
}
END_TEST

START_TEST(kill_sync_off_keeps_every_acknowledged_commit) {
  int f = crash_loop("kill(sync=off)", LSM_SYNC_OFF, 0, kill_mode, 1, lsm_test_budget(2));
  ck_assert_msg(f == 0, "%d crash cases failed (see above)", f);
}
END_TEST

START_TEST(power_loss_sync_normal_opens_with_a_prefix_of_commits) {
  int f = crash_loop("power-loss(sync=normal)", LSM_SYNC_NORMAL, 0, power_modes, 3,
                     lsm_test_budget(5));
  ck_assert_msg(f == 0, "%d crash cases failed (see above)", f);
}
END_TEST

/* The same promises with flushes and compactions on the engine's background
** thread, where a crash may land in that thread while the writer goes on
** (these found that sync=normal must sync the old log when it switches to
** a new one: see switch_memtable in db.c). */
START_TEST(background_power_loss_sync_full_keeps_every_acknowledged_commit) {
  int f = crash_loop("power-loss(sync=full, background)", LSM_SYNC_FULL, 1, power_modes, 3,
                     lsm_test_budget(4));
  ck_assert_msg(f == 0, "%d crash cases failed (see above)", f);
}
END_TEST

START_TEST(background_kill_sync_normal_keeps_every_acknowledged_commit) {
  int f = crash_loop("kill(sync=normal, background)", LSM_SYNC_NORMAL, 1, kill_mode, 1,
                     lsm_test_budget(2));
  ck_assert_msg(f == 0, "%d crash cases failed (see above)", f);
}
END_TEST

START_TEST(background_power_loss_sync_normal_opens_with_a_prefix_of_commits) {
  int f = crash_loop("power-loss(sync=normal, background)", LSM_SYNC_NORMAL, 1, power_modes, 3,
                     lsm_test_budget(4));
  ck_assert_msg(f == 0, "%d crash cases failed (see above)", f);
}
END_TEST

static Suite *powerloss_suite(void) {
  Suite *s = suite_create("powerloss");
  TCase *model = tcase_create("model");
  TCase *loops = tcase_create("loops");
  tcase_set_timeout(model, 60);
  tcase_add_test(model, power_loss_keeps_synced_bytes_and_drops_the_rest);
  tcase_add_test(model, power_loss_undoes_directory_changes_not_synced);
  tcase_add_test(model, power_loss_after_directory_sync_keeps_the_rename);
  tcase_add_test(model, power_loss_drops_a_new_directory_whose_parent_was_not_synced);
  tcase_add_test(model, open_makes_a_new_database_directory_durable);
  tcase_add_test(model, power_loss_torn_tails_hold_written_bytes_or_zeros);
  tcase_add_test(model, kill_keeps_every_byte_written);
  tcase_add_test(model, wal_final_record_with_a_lost_first_sector_is_a_torn_tail);
  tcase_add_test(model, sync_normal_log_missing_a_middle_sector_opens_at_a_prefix);
  suite_add_tcase(s, model);
  tcase_set_timeout(loops, lsm_test_torture() ? 36000 : 300);
  tcase_add_test(loops, power_loss_sync_full_keeps_every_acknowledged_commit);
  tcase_add_test(loops, kill_sync_normal_keeps_every_acknowledged_commit);
  tcase_add_test(loops, kill_sync_off_keeps_every_acknowledged_commit);
  tcase_add_test(loops, power_loss_sync_normal_opens_with_a_prefix_of_commits);
  tcase_add_test(loops, background_power_loss_sync_full_keeps_every_acknowledged_commit);
  tcase_add_test(loops, background_kill_sync_normal_keeps_every_acknowledged_commit);
  tcase_add_test(loops, background_power_loss_sync_normal_opens_with_a_prefix_of_commits);
  suite_add_tcase(s, loops);
  return s;
}

int main(void) {
  SRunner *sr;
  int failed;
  const char *only = getenv("LSM_CRASH_ONLY");
  if (only) {
    /* sync:mode:N[:seed[:background]] — one case, in this process. */
    crash_spec s;
    char mode[32], msg[1024];
    int sync = 0, seed = 1, background = 0, m, rc;
    unsigned long long n = 0;
    if (sscanf(only, "%d:%31[a-z-]:%llu:%d:%d", &sync, mode, &n, &seed, &background) < 3) {
      fprintf(stderr, "LSM_CRASH_ONLY=sync:mode:N[:seed[:background]], mode one of kill, "
                      "power-drop, power-prefix, power-sectors\n");
      return 2;
    }
    for (m = 0; m < 4 && strcmp(mode_names[m], mode) != 0; m++) {
    }
    if (m == 4) return 2;
    s.sync_mode = sync;
    s.background = background;
    s.mode = m;
    s.point = n;
    s.seed = (uint64_t)seed;
    s.n_batches = lsm_test_torture() ? 200 : 60;
    rc = crash_case(&s, msg, sizeof msg);
    printf("%s: %s\n", rc < 0 ? "FAIL" : rc == 1 ? "ok (ended before the crash point)" : "ok",
           msg);
    return rc < 0;
  }
  sr = srunner_create(powerloss_suite());
  lsm_test_enter_fast_dir();
  srunner_run_all(sr, CK_NORMAL);
  failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  lsm_test_leave_fast_dir();
  return failed == 0 ? 0 : 1;
}
