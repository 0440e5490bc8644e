#include "fsat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "safe_path.h"
#include "sys.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

int ns_mkdirat(int dirfd, const char *name, mode_t mode, struct ns_error *err) {
  if (mkdirat(dirfd, name, mode) < 0) return ns_fail(err, errno, "mkdirat", name);
  return 0;
}

int ns_symlinkat(const char *target, int dirfd, const char *name, struct ns_error *err) {
  if (symlinkat(target, dirfd, name) < 0) return ns_fail(err, errno, "symlinkat", name);
  return 0;
}

int ns_linkat(int olddirfd, const char *oldname, int newdirfd, const char *newname, struct ns_error *err) {
  if (linkat(olddirfd, oldname, newdirfd, newname, 0) < 0) return ns_fail(err, errno, "linkat", newname);
  return 0;
}

int ns_mknodat(int dirfd, const char *name, mode_t mode, dev_t dev, struct ns_error *err) {
  if (mknodat(dirfd, name, mode, dev) < 0) return ns_fail(err, errno, "mknodat", name);
  return 0;
}

int ns_unlinkat(int dirfd, const char *name, int is_dir, struct ns_error *err) {
  if (unlinkat(dirfd, name, is_dir ? AT_REMOVEDIR : 0) < 0) return ns_fail(err, errno, "unlinkat", name);
  return 0;
}

int ns_renameat(int olddirfd, const char *oldname, int newdirfd, const char *newname, int noreplace, struct ns_error *err) {
  if (syscall(SYS_renameat2, olddirfd, oldname, newdirfd, newname, noreplace ? RENAME_NOREPLACE : 0) < 0) {
    return ns_fail(err, errno, "renameat2", newname);
  }
  return 0;
}

int ns_lchownat(int dirfd, const char *name, uid_t uid, gid_t gid, struct ns_error *err) {
  int flags = AT_SYMLINK_NOFOLLOW | (name[0] == '\0' ? AT_EMPTY_PATH : 0);
  if (fchownat(dirfd, name, uid, gid, flags) < 0) return ns_fail(err, errno, "fchownat", name);
  return 0;
}

/* ns since the epoch as a timespec; floor division: a time before 1970 with a fraction still
 * needs 0 <= tv_nsec < 1e9 */
static struct timespec timespec_of(int64_t ns) {
  int64_t sec = ns / 1000000000, rem = ns % 1000000000;
  if (rem < 0) {
    rem += 1000000000;
    sec -= 1;
  }
  struct timespec ts = {.tv_sec = (time_t)sec, .tv_nsec = (long)rem};
  return ts;
}

int ns_lutimensat(int dirfd, const char *name, int64_t atime_ns, int64_t mtime_ns, struct ns_error *err) {
  struct timespec ts[2] = {timespec_of(atime_ns), timespec_of(mtime_ns)};
  if (name[0] == '\0') {
    /* utimensat(fd, NULL, ...) works on a real fd; an O_PATH fd goes through /proc/self/fd */
    if (futimens(dirfd, ts) == 0) return 0;
    if (errno != EBADF) return ns_fail(err, errno, "futimens", NULL);
    char path[32];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", dirfd);
    if (utimensat(AT_FDCWD, path, ts, 0) < 0) return ns_fail(err, errno, "utimensat", path);
    return 0;
  }
  if (utimensat(dirfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0) return ns_fail(err, errno, "utimensat", name);
  return 0;
}

ssize_t ns_readlinkat(int dirfd, const char *name, char *buf, size_t cap, struct ns_error *err) {
  ssize_t n = readlinkat(dirfd, name, buf, cap);
  if (n < 0) return ns_fail(err, errno, "readlinkat", name);
  if ((size_t)n == cap) return ns_fail(err, ENAMETOOLONG, "readlinkat", name);
  return n;
}

/* Body, owner, mode and times of a file just created (fd is ours, a regular file). Returns 0 or -1. */
static int fill_new_file(int fd, const char *name, const void *data, size_t len, int64_t uid, int64_t gid, mode_t mode,
                         int64_t atime_ns, int64_t mtime_ns, struct ns_error *err) {
  const char *p = data;
  for (size_t done = 0; done < len;) {
    ssize_t n = pwrite(fd, p + done, len - done, (off_t)done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ns_fail(err, errno, "pwrite", name);
    if (n == 0) return ns_fail(err, EIO, "pwrite", name);
    done += (size_t)n;
  }
  /* chown before chmod: chown drops setuid/setgid bits */
  if (uid >= 0 && gid >= 0 && fchown(fd, (uid_t)uid, (gid_t)gid) < 0) return ns_fail(err, errno, "fchown", name);
  if (fchmod(fd, mode & 07777) < 0) return ns_fail(err, errno, "fchmod", name);
  struct timespec ts[2] = {timespec_of(atime_ns), timespec_of(mtime_ns)};
  if (futimens(fd, ts) < 0) return ns_fail(err, errno, "futimens", name);
  return 0;
}

int ns_create_file_at(int dirfd, const char *name, const void *data, size_t len, int64_t uid, int64_t gid, mode_t mode,
                      int64_t atime_ns, int64_t mtime_ns, struct ns_error *err) {
  /* one component only: callers cache parent directory fds by path */
  if (name[0] == '\0' || strchr(name, '/') != NULL) return ns_fail(err, EINVAL, "openat2", name);
  int fd = ns_openat2(dirfd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW, 0600, NS_RESOLVE_BENEATH_NO_SYMLINKS, err);
  if (fd < 0) return -1;
  int rc = fill_new_file(fd, name, data, len, uid, gid, mode, atime_ns, mtime_ns, err);
  if (close(fd) < 0 && rc == 0) rc = ns_fail(err, errno, "close", name);
  return rc;
}

int ns_fsetxattr(int fd, const char *name, const void *value, size_t len, struct ns_error *err) {
  if (fsetxattr(fd, name, value, len, 0) < 0) return ns_fail(err, errno, "fsetxattr", name);
  return 0;
}

ssize_t ns_flistxattr(int fd, char *buf, size_t cap, struct ns_error *err) {
  ssize_t n = flistxattr(fd, buf, cap);
  if (n < 0) return ns_fail(err, errno, "flistxattr", NULL);
  return n;
}

ssize_t ns_fgetxattr(int fd, const char *name, void *buf, size_t cap, struct ns_error *err) {
  ssize_t n = fgetxattr(fd, name, buf, cap);
  if (n < 0) return ns_fail(err, errno, "fgetxattr", name);
  return n;
}

int ns_readdir_fd(int dirfd, void (*cb)(const char *name, unsigned char type, void *ctx), void *ctx,
                  struct ns_error *err) {
  int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ns_fail(err, errno, "openat", ".");
  DIR *dir = fdopendir(fd);
  if (dir == NULL) {
    int saved = errno;
    close(fd);
    return ns_fail(err, saved, "fdopendir", NULL);
  }
  errno = 0;
  struct dirent *e;
  while ((e = readdir(dir)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    cb(e->d_name, e->d_type, ctx);
  }
  int saved = errno;
  closedir(dir);
  if (saved != 0) return ns_fail(err, saved, "readdir", NULL);
  return 0;
}
