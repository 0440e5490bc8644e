/* nsjoin: mount operations in another process's namespaces, from a thread of the caller.
 *
 * setns is per thread for the mount, net, uts and ipc namespaces (not for a user namespace,
 * which a multithreaded process may not join, nor pid, which only affects children). A new
 * thread that first unshares its fs_struct (CLONE_FS: setns into a mount namespace refuses one
 * shared with other threads) joins the target's namespaces, does the operations and exits; the
 * process and its other threads never leave their namespaces. This replaces a stage process
 * (clone, exec of the helper, its program over a channel: 0.5-0.9 ms) for a daemon's quick
 * mount operations, e.g. delivering /proc to a starting workspace. */
#ifndef NS_NSJOIN_H
#define NS_NSJOIN_H

#include <sched.h>
#include <stdint.h>

#include "ns_error.h"

/* Twin: JoinOp in libs/native-ns/src/lib/ns-ops.ts. */
enum ns_join_kind {
  NS_JOIN_ATTACH = 1,    /* move tree_fd onto path (created if create), then propagation */
  NS_JOIN_OPEN_TREE = 2, /* open_tree clone of path (recursive) into result_fd */
  NS_JOIN_UMOUNT = 3,    /* umount path with flags */
  NS_JOIN_MKDIR = 4,     /* mkdir -p path with mode */
  NS_JOIN_SETATTR = 5,   /* mount_setattr on path: attr_set, attr_clr, propagation, recursive */
  NS_JOIN_MOUNT_FS = 6,  /* a new filesystem fstype with options and attr_set on path (created if create) */
};

struct ns_join_op {
  int kind;
  const char *path;
  int tree_fd;
  int create;
  int propagation;
  uint64_t attr_set;
  uint64_t attr_clr;
  int recursive;
  int flags;
  int mode;
  const char *fstype;
  const char *options;
  int result_fd; /* OPEN_TREE: the tree, owned by the caller after success; else -1 */
};

/* The namespaces a thread can join. */
#define NS_JOINABLE_FLAGS (CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWUTS | CLONE_NEWIPC)

/* Joins the namespaces `nstypes` (CLONE_NEW* flags within NS_JOINABLE_FLAGS) of the process
 * behind `pidfd` on a new thread and runs ops in order, every path resolved inside root_fd
 * (RESOLVE_IN_ROOT; -1: the caller's "/"). Blocks the calling thread until the thread is done.
 * Returns 0, or -1 with err filled and *failed the index of the failing op (-1: before the
 * first); trees opened before a failure are closed. */
int ns_run_joined(int pidfd, int nstypes, int root_fd, struct ns_join_op *ops, int n, int *failed, struct ns_error *err);

#endif
