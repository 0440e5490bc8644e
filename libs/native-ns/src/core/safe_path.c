#include "safe_path.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sys.h"

static uint64_t resolve_flags(int mode) {
  switch (mode) {
    case NS_RESOLVE_BENEATH:
      return RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    case NS_RESOLVE_BENEATH_NO_SYMLINKS:
      return RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_SYMLINKS;
    case NS_RESOLVE_IN_ROOT:
    default:
      return RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  }
}

int ns_openat2(int dirfd, const char *path, int flags, mode_t mode, int resolve_mode, struct ns_error *err) {
  struct open_how how;
  memset(&how, 0, sizeof(how));
  how.flags = (uint64_t)(flags | O_CLOEXEC);
  how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;
  how.resolve = resolve_flags(resolve_mode);
  for (int attempt = 0; attempt < 64; attempt++) {
    int fd = sys_openat2(dirfd, path[0] == '\0' ? "." : path, &how);
    if (fd >= 0) return fd;
    if (errno != EAGAIN && errno != EINTR) break;
  }
  return ns_fail(err, errno, "openat2", path);
}

int ns_open_in_root(int root_fd, const char *path, int flags, struct ns_error *err) {
  return ns_openat2(root_fd, path, flags, 0, NS_RESOLVE_IN_ROOT, err);
}

int ns_open_root(const char *path, struct ns_error *err) {
  int fd = open(path, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ns_fail(err, errno, "open", path);
  return fd;
}

void ns_fd_path(int fd, char *buf, size_t size) {
  snprintf(buf, size, "/proc/self/fd/%d", fd);
}

/* Splits the last component off a copy of path: dir gets the parent ("/" or ""), name the rest. */
static int split_last(const char *path, char *dir, size_t dir_size, const char **name) {
  size_t len = strlen(path);
  while (len > 1 && path[len - 1] == '/') len--;
  if (len >= dir_size) return -1;
  memcpy(dir, path, len);
  dir[len] = '\0';
  char *slash = strrchr(dir, '/');
  if (slash == NULL) {
    *name = path;
    dir[0] = '\0';
    return 0;
  }
  *name = path + (slash - dir) + 1;
  if (slash == dir) dir[1] = '\0';
  else *slash = '\0';
  /* the name must not carry the trailing slashes */
  return 0;
}

int ns_mkdir_p_in_root(int root_fd, const char *path, mode_t mode, struct ns_error *err) {
  char prefix[NS_ERR_PATH_MAX];
  size_t len = strlen(path);
  if (len >= sizeof(prefix)) return ns_fail(err, ENAMETOOLONG, "mkdirat", path);
  int fd = ns_open_in_root(root_fd, path, O_PATH | O_DIRECTORY, err);
  if (fd >= 0 || err->errnum != ENOENT) return fd;
  /* walk the prefixes; create what is missing below the deepest existing one */
  for (size_t i = 1; i <= len; i++) {
    if (i != len && path[i] != '/') continue;
    memcpy(prefix, path, i);
    prefix[i] = '\0';
    if (i > 0 && prefix[i - 1] == '/') continue; /* "//" */
    char parent[NS_ERR_PATH_MAX];
    const char *name;
    if (split_last(prefix, parent, sizeof(parent), &name) < 0) return ns_fail(err, ENAMETOOLONG, "mkdirat", path);
    if (name[0] == '\0' || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) continue;
    int pfd = ns_open_in_root(root_fd, parent[0] ? parent : ".", O_PATH | O_DIRECTORY, err);
    if (pfd < 0) return -1;
    char shortname[NS_ERR_PATH_MAX];
    snprintf(shortname, sizeof(shortname), "%.*s", (int)(prefix + i - name), name);
    int rc = mkdirat(pfd, shortname, mode);
    int saved = errno;
    close(pfd);
    if (rc < 0 && saved != EEXIST) return ns_fail(err, saved, "mkdirat", prefix);
  }
  return ns_open_in_root(root_fd, path, O_PATH | O_DIRECTORY, err);
}

int ns_touch_in_root(int root_fd, const char *path, mode_t mode, struct ns_error *err) {
  char parent[NS_ERR_PATH_MAX];
  const char *name;
  if (split_last(path, parent, sizeof(parent), &name) < 0) return ns_fail(err, ENAMETOOLONG, "openat", path);
  if (name[0] == '\0' || strcmp(name, "..") == 0 || strcmp(name, ".") == 0) return ns_fail(err, EINVAL, "openat", path);
  int pfd = ns_mkdir_p_in_root(root_fd, parent[0] ? parent : "/", 0755, err);
  if (pfd < 0) return -1;
  /* O_PATH dirs cannot be used for O_CREAT through openat; reopen the parent as a directory */
  int dfd = openat(pfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  close(pfd);
  if (dfd < 0) return ns_fail(err, errno, "openat", parent);
  int fd = openat(dfd, name, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, mode);
  int saved = errno;
  close(dfd);
  if (fd < 0 && saved != EEXIST) return ns_fail(err, saved, "openat", path);
  if (fd >= 0) close(fd);
  return 0;
}
