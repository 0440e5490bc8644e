#include "fdpass.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <unistd.h>

#include "sys.h"

ssize_t ns_send_with_fds(int sock, const void *buf, size_t len, const int *fds, int nfds, struct ns_error *err) {
  if (nfds < 0 || nfds > NS_MAX_FDS_PER_MSG) return ns_fail(err, EINVAL, "sendmsg", NULL);
  char dummy = 0;
  struct iovec iov = {.iov_base = (void *)(len ? buf : &dummy), .iov_len = len ? len : 1};
  union {
    char buf[CMSG_SPACE(sizeof(int) * NS_MAX_FDS_PER_MSG)];
    struct cmsghdr align;
  } control;
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (nfds > 0) {
    memset(&control, 0, sizeof(control));
    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
    struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
    memcpy(CMSG_DATA(cmsg), fds, sizeof(int) * (size_t)nfds);
  }
  ssize_t n = NS_RETRY_EINTR(sendmsg(sock, &msg, MSG_NOSIGNAL));
  if (n < 0) return ns_fail(err, errno, "sendmsg", NULL);
  return len ? n : 0;
}

ssize_t ns_recv_with_fds(int sock, void *buf, size_t cap, int *fds, int max_fds, int *nfds, struct ns_error *err) {
  union {
    char buf[CMSG_SPACE(sizeof(int) * NS_MAX_FDS_PER_MSG)];
    struct cmsghdr align;
  } control;
  struct iovec iov = {.iov_base = buf, .iov_len = cap};
  struct msghdr msg;
  memset(&msg, 0, sizeof(msg));
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control.buf;
  msg.msg_controllen = sizeof(control.buf);
  *nfds = 0;
  ssize_t n = NS_RETRY_EINTR(recvmsg(sock, &msg, MSG_CMSG_CLOEXEC));
  if (n < 0) return ns_fail(err, errno, "recvmsg", NULL);
  int overflow = 0;
  for (struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg); cmsg != NULL; cmsg = CMSG_NXTHDR(&msg, cmsg)) {
    if (cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS) continue;
    int count = (int)((cmsg->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    int *data = (int *)CMSG_DATA(cmsg);
    for (int i = 0; i < count; i++) {
      if (*nfds < max_fds) fds[(*nfds)++] = data[i];
      else {
        close(data[i]);
        overflow = 1;
      }
    }
  }
  if (overflow || (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC))) {
    for (int i = 0; i < *nfds; i++) close(fds[i]);
    *nfds = 0;
    return ns_fail(err, EMSGSIZE, "recvmsg", NULL);
  }
  return n;
}

int ns_get_peer_cred(int sock, struct ns_peer_cred *out, struct ns_error *err) {
  struct ucred cred;
  socklen_t len = sizeof(cred);
  if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) return ns_fail(err, errno, "getsockopt", "SO_PEERCRED");
  out->pid = cred.pid;
  out->uid = cred.uid;
  out->gid = cred.gid;
  return 0;
}

static int unix_address(const char *path, struct sockaddr_un *addr, struct ns_error *err) {
  memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  if (strlen(path) >= sizeof(addr->sun_path)) return ns_fail(err, ENAMETOOLONG, "bind", path);
  strcpy(addr->sun_path, path);
  return 0;
}

int ns_listen_unix(const char *path, int seqpacket, int backlog, struct ns_error *err) {
  struct sockaddr_un addr;
  if (unix_address(path, &addr, err) < 0) return -1;
  int fd = socket(AF_UNIX, (seqpacket ? SOCK_SEQPACKET : SOCK_STREAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0) return ns_fail(err, errno, "socket", path);
  struct stat st;
  if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) unlink(path);
  if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, backlog) < 0) {
    int saved = errno;
    close(fd);
    return ns_fail(err, saved, "bind", path);
  }
  return fd;
}

int ns_connect_unix(const char *path, int seqpacket, int nonblocking, struct ns_error *err) {
  struct sockaddr_un addr;
  if (unix_address(path, &addr, err) < 0) return -1;
  // a non-blocking unix connect still completes at once, or fails with EAGAIN when the
  // listener's backlog is full (never EINPROGRESS): a stuck server cannot block the caller
  int fd = socket(AF_UNIX, (seqpacket ? SOCK_SEQPACKET : SOCK_STREAM) | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
  if (fd < 0) return ns_fail(err, errno, "socket", path);
  if (NS_RETRY_EINTR(connect(fd, (struct sockaddr *)&addr, sizeof(addr))) < 0) {
    int saved = errno;
    close(fd);
    return ns_fail(err, saved, "connect", path);
  }
  return fd;
}
