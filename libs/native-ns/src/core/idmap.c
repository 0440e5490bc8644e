#include "idmap.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "sys.h"

static int write_proc_file(pid_t pid, const char *file, const char *content, struct ns_error *err) {
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
  int fd = open(path, O_WRONLY | O_CLOEXEC);
  if (fd < 0) {
    ns_fail(err, errno, "open", path);
    err->pid = (int)pid;
    return -1;
  }
  size_t len = strlen(content);
  ssize_t n = NS_RETRY_EINTR(write(fd, content, len));
  int saved = errno;
  close(fd);
  if (n < 0 || (size_t)n != len) {
    ns_fail(err, n < 0 ? saved : EIO, "write", path);
    err->pid = (int)pid;
    return -1;
  }
  return 0;
}

int ns_write_idmap(pid_t pid, const char *file, const char *content, struct ns_error *err) {
  if (strcmp(file, "uid_map") != 0 && strcmp(file, "gid_map") != 0) return ns_fail(err, EINVAL, "write", file);
  return write_proc_file(pid, file, content, err);
}

int ns_write_setgroups(pid_t pid, const char *value, struct ns_error *err) {
  if (strcmp(value, "allow") != 0 && strcmp(value, "deny") != 0) return ns_fail(err, EINVAL, "write", "setgroups");
  return write_proc_file(pid, "setgroups", value, err);
}
