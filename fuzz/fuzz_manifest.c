/*
** fuzz_manifest.c — libFuzzer target for the manifest reader and database
** recovery (lsm/version.c, lsm/db.c).
**
** At start-up a small fixture database is built (fuzz_support.h) and its
** table and log files are kept.  Each input is a mode byte and a MANIFEST:
** with mode bit 0 set the harness appends the correct checksum64, so the
** fuzzer reaches the field decoding (levels, file numbers and sizes, key
** ranges); clear, the bytes are used as they are.  The fixture's tables and
** log plus the fuzzed MANIFEST are written to a scratch directory (under
** $FUZZ_TMPDIR, else /dev/shm when there is one, else /tmp; removed at
** exit) and opened with lsm_open; if that succeeds,
** the database is scanned both ways, probed with lsm_get and checked with
** lsm_check, then closed.  Any status is fine; a crash, a sanitizer report
** or a hang is a bug.
*/
#include <unistd.h>
#include <sys/stat.h>

#include "fuzz_support.h"

#define MAX_FIXTURE_FILES 64

static char base[128];           /* this process's directory, removed at exit */
static char scratch[160];        /* the directory each input is opened in */
static struct {
  char name[64];
  unsigned char *data;
  size_t n;
} fixture[MAX_FIXTURE_FILES];
static int n_fixture;

static void clear_dir(const char *dir) {
  lsm_env *env = lsm_env_default();
  char **names = NULL;
  int n = 0, i;
  if (env->list(env, dir, &names, &n) != LSM_OK) return;
  for (i = 0; i < n; i++) {
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    unlink(path);
  }
  lsm_env_free_list(names, n);
}

static void remove_base(void) {
  clear_dir(scratch);
  rmdir(scratch);
  rmdir(base);
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  char fixture_dir[200];
  const char *tmp = getenv("FUZZ_TMPDIR");
  lsm_env *env = lsm_env_default();
  char **names = NULL;
  int n = 0, i;
  (void)argc;
  (void)argv;
  if (tmp == NULL || tmp[0] == 0) tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
  snprintf(base, sizeof base, "%s/lsm-fuzz-manifest-XXXXXX", tmp);
  if (mkdtemp(base) == NULL) abort();
  snprintf(scratch, sizeof scratch, "%s/db", base);
  atexit(remove_base);
  snprintf(fixture_dir, sizeof fixture_dir, "%s/fixture", base);
  if (build_fixture(fixture_dir) != LSM_OK) abort();
  if (env->list(env, fixture_dir, &names, &n) != LSM_OK) abort();
  for (i = 0; i < n && n_fixture < MAX_FIXTURE_FILES; i++) {
    char path[256];
    size_t len = strlen(names[i]);
    if (len < 5 || (strcmp(names[i] + len - 4, ".sst") != 0 && strcmp(names[i] + len - 4, ".log") != 0)) {
      continue;
    }
    snprintf(path, sizeof path, "%s/%s", fixture_dir, names[i]);
    snprintf(fixture[n_fixture].name, sizeof fixture[n_fixture].name, "%s", names[i]);
    fixture[n_fixture].data = slurp(path, &fixture[n_fixture].n);
    if (fixture[n_fixture].data == NULL) abort();
    n_fixture++;
  }
  lsm_env_free_list(names, n);
  clear_dir(fixture_dir);
  rmdir(fixture_dir);
  mkdir(scratch, 0755);
  return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  lsm_options o;
  lsm_db *db = NULL;
  lsm_buffer man = {0}, val = {0};
  char path[256];
  int i;
  if (size < 1) return 0;
  clear_dir(scratch);
  for (i = 0; i < n_fixture; i++) {
    snprintf(path, sizeof path, "%s/%s", scratch, fixture[i].name);
    if (spill(path, fixture[i].data, fixture[i].n)) abort();
  }
  lsm_buffer_append(&man, data + 1, size - 1);
  if (data[0] & 1) lsm_buffer_append_u64(&man, lsm_checksum64(man.data, man.len));
  snprintf(path, sizeof path, "%s/MANIFEST", scratch);
  if (spill(path, man.data, man.len)) abort();
  lsm_options_init(&o);
  o.sync_mode = LSM_SYNC_OFF;
  o.create_if_missing = 0;
  o.cache_size = 64 * 1024;
  if (lsm_open(scratch, &o, &db) == LSM_OK) {
    lsm_iter *it = NULL;
    int k;
    if (lsm_iter_new(db, NULL, NULL, &it) == LSM_OK) {
      for (lsm_iter_first(it), k = 0; lsm_iter_valid(it) && k < 10000; lsm_iter_next(it), k++) {
        size_t kl;
        const void *key = lsm_iter_key(it, &kl);
        if (k % 16 == 0) lsm_get(db, NULL, key, kl, &val);
      }
      for (lsm_iter_last(it), k = 0; lsm_iter_valid(it) && k < 10000; lsm_iter_prev(it), k++) {
      }
      lsm_iter_free(it);
    }
    lsm_get(db, NULL, "key00007", 8, &val);
    lsm_check(db);
  }
  lsm_close(db);
  lsm_buffer_free(&man);
  lsm_buffer_free(&val);
  return 0;
}
