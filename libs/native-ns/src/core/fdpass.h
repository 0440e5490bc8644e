/* fdpass: messages with file descriptors (SCM_RIGHTS) over unix sockets, and peer credentials. */
#ifndef NS_FDPASS_H
#define NS_FDPASS_H

#include <stddef.h>
#include <sys/types.h>

#include "ns_error.h"

#define NS_MAX_FDS_PER_MSG 64

/* Sends one message (len bytes, may be 0 for SOCK_SEQPACKET) with nfds fds. Blocking unless the
 * socket is non-blocking. Returns bytes sent or -1 (EAGAIN when it would block). */
ssize_t ns_send_with_fds(int sock, const void *buf, size_t len, const int *fds, int nfds, struct ns_error *err);

/* Receives one message into buf; received fds (O_CLOEXEC) go to fds (capacity max_fds), their
 * count to *nfds. Fds beyond capacity are closed and the call fails with EMSGSIZE; a truncated
 * message fails with EMSGSIZE too. Returns bytes received (0 = peer closed) or -1. */
ssize_t ns_recv_with_fds(int sock, void *buf, size_t cap, int *fds, int max_fds, int *nfds, struct ns_error *err);

struct ns_peer_cred {
  pid_t pid;
  uid_t uid;
  gid_t gid;
};

/* A listening unix socket at path (SOCK_SEQPACKET when seqpacket, else SOCK_STREAM), non-blocking,
 * close-on-exec; a stale socket file is replaced. Returns the fd or -1. */
int ns_listen_unix(const char *path, int seqpacket, int backlog, struct ns_error *err);

/* Connects to a unix socket (blocking, close-on-exec). Returns the fd or -1. */
int ns_connect_unix(const char *path, int seqpacket, int nonblocking, struct ns_error *err);

/* Reads SO_PEERCRED of a connected unix socket. Returns 0 or -1. */
int ns_get_peer_cred(int sock, struct ns_peer_cred *out, struct ns_error *err);

#endif
