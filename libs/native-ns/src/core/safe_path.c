#include "safe_path.h"

#include <errno.h>
#include <limits.h>
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
  /* O_TMPFILE contains the O_DIRECTORY bit: test it whole */
  how.mode = ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) ? mode : 0;
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

/* Walks `path` inside root_fd one component at a time, the way RESOLVE_IN_ROOT would (symlinks
 * resolve inside the root, ".." stops at it), creating what is missing: directories for inner
 * components, and for the last one a directory or (file_mode >= 0) an empty regular file.
 * Returns an O_PATH fd of the result or -1. */
static int create_in_root(int root_fd, const char *path, mode_t dir_mode, int file_mode, struct ns_error *err) {
  char remaining[2 * NS_ERR_PATH_MAX];
  char resolved[2 * NS_ERR_PATH_MAX] = "";
  if (strlen(path) >= NS_ERR_PATH_MAX) return ns_fail(err, ENAMETOOLONG, "openat2", path);
  snprintf(remaining, sizeof(remaining), "%s", path);
  int cur = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
  if (cur < 0) return ns_fail(err, errno, "fcntl", path);
  int links = 0;
  char *rest = remaining;
  while (*rest != '\0') {
    while (*rest == '/') rest++;
    if (*rest == '\0') break;
    char comp[NAME_MAX + 1];
    size_t len = strcspn(rest, "/");
    if (len > NAME_MAX) {
      close(cur);
      return ns_fail(err, ENAMETOOLONG, "openat2", path);
    }
    memcpy(comp, rest, len);
    comp[len] = '\0';
    rest += len;
    int last = strspn(rest, "/") == strlen(rest);
    if (strcmp(comp, ".") == 0) continue;
    if (strcmp(comp, "..") == 0) {
      char *slash = strrchr(resolved, '/');
      if (slash != NULL) *slash = '\0';
      close(cur);
      cur = ns_open_in_root(root_fd, resolved[0] ? resolved : ".", O_PATH | O_DIRECTORY, err);
      if (cur < 0) return -1;
      continue;
    }
    int next = ns_openat2(cur, comp, O_PATH | O_NOFOLLOW, 0, NS_RESOLVE_BENEATH, err);
    if (next < 0 && err->errnum == ENOENT) {
      int rc;
      if (last && file_mode >= 0) {
        int dfd = openat(cur, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        rc = dfd < 0 ? -1 : openat(dfd, comp, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, (mode_t)file_mode);
        int saved = errno;
        if (rc >= 0) close(rc);
        if (dfd >= 0) close(dfd);
        errno = saved;
      } else {
        rc = mkdirat(cur, comp, dir_mode);
      }
      if (rc < 0 && errno != EEXIST) {
        ns_fail(err, errno, last && file_mode >= 0 ? "openat" : "mkdirat", path);
        close(cur);
        return -1;
      }
      next = ns_openat2(cur, comp, O_PATH | O_NOFOLLOW, 0, NS_RESOLVE_BENEATH, err);
    }
    if (next < 0) {
      close(cur);
      return -1;
    }
    struct stat st;
    if (fstat(next, &st) < 0) {
      ns_fail(err, errno, "fstat", path);
      close(next);
      close(cur);
      return -1;
    }
    if (S_ISLNK(st.st_mode)) {
      /* splice the link's target in front of what remains, resolved inside the root */
      char target[NS_ERR_PATH_MAX];
      ssize_t n = readlinkat(next, "", target, sizeof(target) - 1);
      close(next);
      if (n < 0 || ++links > 40) {
        ns_fail(err, n < 0 ? errno : ELOOP, "readlinkat", path);
        close(cur);
        return -1;
      }
      target[n] = '\0';
      char spliced[2 * NS_ERR_PATH_MAX];
      if ((size_t)snprintf(spliced, sizeof(spliced), "%s/%s", target, rest) >= sizeof(spliced)) {
        close(cur);
        return ns_fail(err, ENAMETOOLONG, "openat2", path);
      }
      snprintf(remaining, sizeof(remaining), "%s", spliced);
      rest = remaining;
      if (target[0] == '/') {
        resolved[0] = '\0';
        close(cur);
        cur = fcntl(root_fd, F_DUPFD_CLOEXEC, 3);
        if (cur < 0) return ns_fail(err, errno, "fcntl", path);
      }
      continue;
    }
    if (!S_ISDIR(st.st_mode) && !last) {
      close(next);
      close(cur);
      return ns_fail(err, ENOTDIR, "openat2", path);
    }
    size_t rlen = strlen(resolved);
    snprintf(resolved + rlen, sizeof(resolved) - rlen, "/%s", comp);
    close(cur);
    cur = next;
  }
  return cur;
}

int ns_mkdir_p_in_root(int root_fd, const char *path, mode_t mode, struct ns_error *err) {
  int fd = ns_open_in_root(root_fd, path, O_PATH | O_DIRECTORY, err);
  if (fd >= 0 || err->errnum != ENOENT) return fd;
  ns_error_clear(err);
  fd = create_in_root(root_fd, path, mode, -1, err);
  if (fd < 0) return -1;
  struct stat st;
  if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode)) {
    close(fd);
    return ns_fail(err, ENOTDIR, "mkdirat", path);
  }
  return fd;
}

int ns_touch_in_root(int root_fd, const char *path, mode_t mode, struct ns_error *err) {
  int fd = create_in_root(root_fd, path, 0755, (int)mode, err);
  if (fd < 0) return -1;
  close(fd);
  return 0;
}
