/*
** env_posix.c — the default lsm_env: plain POSIX file I/O.
**
** Every file the engine touches goes through an lsm_env (lsm.h) so that
** tests can substitute one that injects faults or simulates power loss.
** This one is stateless: lsm_env_default() returns a pointer to a constant
** table of functions, shared by every database in the process.
**
** Locks use flock(), which belongs to the open file description: a second
** lock attempt on the same LOCK file fails with LSM_BUSY whether it comes
** from another process or from another engine instance in this process (an
** fcntl() lock would not see the latter).
**
** The byte-range locks of lock_range and lock_held (used by lsm/shm.c on
** the same LOCK file) are Linux open-file-description locks (F_OFD_SETLK,
** F_OFD_SETLKW, F_OFD_GETLK).  Like flock() they belong to the open file
** description, so two opens in one process conflict and threads sharing
** one never do; unlike classic fcntl() locks, closing some other descriptor
** of the file does not drop them.  On Linux flock() and fcntl()-family
** locks never interact, so both kinds can be held on LOCK at once.
** Shared memory is a MAP_SHARED mapping of an ordinary file (SHM).
*/
#include "lsm.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct lsm_file {
  int fd;
};

static int errno_status(int err) {
  if (err == ENOENT) return LSM_NOTFOUND;
  if (err == ENOMEM) return LSM_NOMEM;
  return LSM_IOERR;
}

static int file_new(int fd, lsm_file **out) {
  lsm_file *f = malloc(sizeof *f);
  if (f == NULL) {
    close(fd);
    return LSM_NOMEM;
  }
  f->fd = fd;
  *out = f;
  return LSM_OK;
}

static int posix_open_read(lsm_env *env, const char *path, lsm_file **out) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return errno_status(errno);
  return file_new(fd, out);
}

static int posix_open_append(lsm_env *env, const char *path, lsm_file **out) {
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) return errno_status(errno);
  return file_new(fd, out);
}

static int posix_open_append_existing(lsm_env *env, const char *path, lsm_file **out) {
  int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0) return errno_status(errno);
  return file_new(fd, out);
}

static int posix_pread(lsm_env *env, lsm_file *f, uint64_t off, void *buf,
                       size_t n, size_t *n_read) {
  size_t done = 0;
  while (done < n) {
    ssize_t r = pread(f->fd, (char *)buf + done, n - done, (off_t)(off + done));
    if (r < 0) {
      if (errno == EINTR) continue;
      return LSM_IOERR;
    }
    if (r == 0) break;
    done += (size_t)r;
  }
  *n_read = done;
  return LSM_OK;
}

static int posix_append(lsm_env *env, lsm_file *f, const void *buf, size_t n) {
  const char *p = buf;
  while (n > 0) {
    ssize_t w = write(f->fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return LSM_IOERR;
    }
    p += w;
    n -= (size_t)w;
  }
  return LSM_OK;
}

static int posix_sync(lsm_env *env, lsm_file *f) {
  return fdatasync(f->fd) == 0 ? LSM_OK : LSM_IOERR;
}

static int posix_size(lsm_env *env, lsm_file *f, uint64_t *size) {
  struct stat st;
  if (fstat(f->fd, &st) != 0) return LSM_IOERR;
  *size = (uint64_t)st.st_size;
  return LSM_OK;
}

static int posix_close(lsm_env *env, lsm_file *f) {
  int rc = close(f->fd) == 0 ? LSM_OK : LSM_IOERR;
  free(f);
  return rc;
}

static int posix_rename(lsm_env *env, const char *from, const char *to) {
  return rename(from, to) == 0 ? LSM_OK : errno_status(errno);
}

static int posix_remove(lsm_env *env, const char *path) {
  return unlink(path) == 0 ? LSM_OK : errno_status(errno);
}

static int posix_mkdir(lsm_env *env, const char *path) {
  struct stat st;
  if (mkdir(path, 0755) == 0) return LSM_OK;
  if (errno == EEXIST && stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return LSM_OK;
  return errno_status(errno);
}

static int posix_rmdir(lsm_env *env, const char *path) {
  return rmdir(path) == 0 ? LSM_OK : errno_status(errno);
}

void lsm_env_free_list(char **names, int n_names) {
  int i;
  if (names == NULL) return;
  for (i = 0; i < n_names; i++) free(names[i]);
  free(names);
}

static int posix_list(lsm_env *env, const char *dir, char ***names_out,
                      int *n_out) {
  DIR *d = opendir(dir);
  struct dirent *e;
  char **names = NULL;
  int n = 0, cap = 0, rc = LSM_OK;
  if (d == NULL) return errno_status(errno);
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (n == cap) {
      char **grown = realloc(names, sizeof(char *) * (size_t)(cap ? cap * 2 : 16));
      if (grown == NULL) { rc = LSM_NOMEM; break; }
      names = grown;
      cap = cap ? cap * 2 : 16;
    }
    names[n] = strdup(e->d_name);
    if (names[n] == NULL) { rc = LSM_NOMEM; break; }
    n++;
  }
  closedir(d);
  if (rc != LSM_OK) {
    lsm_env_free_list(names, n);
    return rc;
  }
  *names_out = names;
  *n_out = n;
  return LSM_OK;
}

static int posix_sync_dir(lsm_env *env, const char *dir) {
  int rc, fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno_status(errno);
  rc = fsync(fd) == 0 ? LSM_OK : LSM_IOERR;
  close(fd);
  return rc;
}

static int posix_lock(lsm_env *env, const char *path, lsm_file **out) {
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return errno_status(errno);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int busy = (errno == EWOULDBLOCK);
    close(fd);
    return busy ? LSM_BUSY : LSM_IOERR;
  }
  return file_new(fd, out);
}

static int posix_unlock(lsm_env *env, lsm_file *lock) {
  flock(lock->fd, LOCK_UN);
  return posix_close(env, lock);
}

static int posix_open_shared(lsm_env *env, const char *path, lsm_file **out) {
  int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return errno_status(errno);
  return file_new(fd, out);
}

static int range_ok(uint64_t off, uint64_t len) {
  /* off_t is signed; a zero length would mean "to the end of the file". */
  return len > 0 && off <= (uint64_t)INT64_MAX && len <= (uint64_t)INT64_MAX - off;
}

static int posix_lock_range(lsm_env *env, lsm_file *f, uint64_t off, uint64_t len, int op,
                            int wait) {
  struct flock fl;
  if (!range_ok(off, len)) return LSM_MISUSE;
  memset(&fl, 0, sizeof fl);   /* l_pid must be 0 for OFD locks */
  switch (op) {
  case LSM_LOCK_UNLOCK: fl.l_type = F_UNLCK; break;
  case LSM_LOCK_SHARED: fl.l_type = F_RDLCK; break;
  case LSM_LOCK_EXCLUSIVE: fl.l_type = F_WRLCK; break;
  default: return LSM_MISUSE;
  }
  fl.l_whence = SEEK_SET;
  fl.l_start = (off_t)off;
  fl.l_len = (off_t)len;
  if (op == LSM_LOCK_UNLOCK) wait = 0;
  for (;;) {
    if (fcntl(f->fd, wait ? F_OFD_SETLKW : F_OFD_SETLK, &fl) == 0) return LSM_OK;
    if (errno == EINTR) continue;
    if (!wait && (errno == EAGAIN || errno == EACCES)) return LSM_BUSY;
    return LSM_IOERR;
  }
}

static int posix_lock_held(lsm_env *env, lsm_file *f, uint64_t off, uint64_t len, int *held) {
  struct flock fl;
  if (!range_ok(off, len)) return LSM_MISUSE;
  memset(&fl, 0, sizeof fl);
  fl.l_type = F_WRLCK;   /* conflicts with any lock another holder has */
  fl.l_whence = SEEK_SET;
  fl.l_start = (off_t)off;
  fl.l_len = (off_t)len;
  if (fcntl(f->fd, F_OFD_GETLK, &fl) != 0) return LSM_IOERR;
  *held = fl.l_type != F_UNLCK;
  return LSM_OK;
}

static int posix_same_file(lsm_env *env, lsm_file *f, const char *path, int *same) {
  struct stat a, b;
  if (fstat(f->fd, &a) != 0) return LSM_IOERR;
  if (stat(path, &b) != 0) {
    if (errno != ENOENT) return errno_status(errno);
    *same = 0;
    return LSM_OK;
  }
  *same = a.st_dev == b.st_dev && a.st_ino == b.st_ino;
  return LSM_OK;
}

static int posix_shm_map(lsm_env *env, lsm_file *f, size_t n, void **out) {
  struct stat st;
  void *p;
  if (n == 0 || (uint64_t)n > (uint64_t)INT64_MAX) return LSM_MISUSE;
  if (fstat(f->fd, &st) != 0) return LSM_IOERR;
  /* Grow only: another process may have grown it already, and shrinking a
  ** file that others map would make their accesses fault. */
  if ((uint64_t)st.st_size < (uint64_t)n && ftruncate(f->fd, (off_t)n) != 0) {
    return errno_status(errno);
  }
  p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd, 0);
  if (p == MAP_FAILED) return errno_status(errno);
  *out = p;
  return LSM_OK;
}

static int posix_shm_unmap(lsm_env *env, void *p, size_t n) {
  return munmap(p, n) == 0 ? LSM_OK : LSM_IOERR;
}

/* Never written after initialisation (not const only because lsm_env
** pointers are not). */
static lsm_env posix_env = {
  posix_open_read, posix_open_append, posix_pread, posix_append, posix_sync,
  posix_size,      posix_close,       posix_rename, posix_remove, posix_mkdir,
  posix_rmdir,     posix_list,        posix_sync_dir, posix_lock,  posix_unlock,
  posix_open_shared, posix_lock_range, posix_lock_held, posix_same_file,
  posix_shm_map,   posix_shm_unmap,   posix_open_append_existing,
};

lsm_env *lsm_env_default(void) {
  return &posix_env;
}
