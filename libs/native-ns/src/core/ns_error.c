#include "ns_error.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static void copy_bounded(char *dst, size_t size, const char *src) {
  size_t n = 0;
  if (src != NULL) {
    for (; n + 1 < size && src[n] != '\0'; n++) dst[n] = src[n];
  }
  dst[n] = '\0';
}

void ns_error_clear(struct ns_error *err) {
  if (err != NULL) memset(err, 0, sizeof(*err));
}

int ns_fail(struct ns_error *err, int errnum, const char *syscall, const char *path) {
  int saved = errno;
  if (err != NULL) {
    err->errnum = errnum;
    copy_bounded(err->syscall, sizeof(err->syscall), syscall);
    copy_bounded(err->path, sizeof(err->path), path);
    err->pid = 0;
    err->detail[0] = '\0';
  }
  errno = saved;
  return -1;
}

int ns_fail_pid(struct ns_error *err, int errnum, const char *syscall, int pid) {
  ns_fail(err, errnum, syscall, NULL);
  if (err != NULL) err->pid = pid;
  return -1;
}

int ns_context(struct ns_error *err, const char *fmt, ...) {
  int saved = errno;
  if (err != NULL && err->detail[0] == '\0') {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
    va_end(ap);
  }
  errno = saved;
  return -1;
}

const char *ns_errno_name(int errnum) {
  switch (errnum) {
#define N(e) \
  case e:    \
    return #e;
    N(EPERM) N(ENOENT) N(ESRCH) N(EINTR) N(EIO) N(ENXIO) N(E2BIG) N(ENOEXEC) N(EBADF) N(ECHILD)
    N(EAGAIN) N(ENOMEM) N(EACCES) N(EFAULT) N(ENOTBLK) N(EBUSY) N(EEXIST) N(EXDEV) N(ENODEV)
    N(ENOTDIR) N(EISDIR) N(EINVAL) N(ENFILE) N(EMFILE) N(ENOTTY) N(ETXTBSY) N(EFBIG) N(ENOSPC)
    N(ESPIPE) N(EROFS) N(EMLINK) N(EPIPE) N(EDOM) N(ERANGE) N(EDEADLK) N(ENAMETOOLONG) N(ENOLCK)
    N(ENOSYS) N(ENOTEMPTY) N(ELOOP) N(ENOMSG) N(EIDRM) N(ENODATA) N(ETIME) N(EOVERFLOW)
    N(EBADFD) N(EILSEQ) N(EUSERS) N(ENOTSOCK) N(EDESTADDRREQ) N(EMSGSIZE) N(EPROTOTYPE)
    N(ENOPROTOOPT) N(EPROTONOSUPPORT) N(EOPNOTSUPP) N(EAFNOSUPPORT) N(EADDRINUSE)
    N(EADDRNOTAVAIL) N(ENETDOWN) N(ENETUNREACH) N(ECONNABORTED) N(ECONNRESET) N(ENOBUFS)
    N(EISCONN) N(ENOTCONN) N(ETIMEDOUT) N(ECONNREFUSED) N(EHOSTUNREACH) N(EALREADY)
    N(EINPROGRESS) N(ESTALE) N(EDQUOT) N(ECANCELED) N(EOWNERDEAD) N(ENOTRECOVERABLE)
    N(EKEYREJECTED) N(ENOKEY) N(EPROTO) N(ENOMEDIUM) N(EMEDIUMTYPE) N(EREMOTEIO) N(EUCLEAN)
#undef N
    default:
      return "E?";
  }
}
