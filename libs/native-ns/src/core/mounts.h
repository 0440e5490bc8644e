/* mounts: every mount wsrun makes, through the new mount API and onto fds opened safely inside a
 * root. A mount never follows a path string after the target was checked: the tree is attached
 * with move_mount onto the target's fd. */
#ifndef NS_MOUNTS_H
#define NS_MOUNTS_H

#include <stdint.h>

#include "ns_error.h"

/* Mount kinds. Twin: MountKind in libs/native-ns/src/lib/wire-constants.ts. */
enum ns_mount_kind {
  NS_MOUNT_BIND = 1,  /* open_tree clone of source (non-recursive) */
  NS_MOUNT_RBIND = 2, /* open_tree clone of source with its submounts */
  NS_MOUNT_FS = 3,    /* a new filesystem: fsopen(fstype) + options + fsmount (tmpfs, proc, sysfs, ...) */
  NS_MOUNT_FD = 4,    /* an already detached tree given as source_fd */
};

/* Propagation values. Twin: Propagation in wire-constants.ts. */
enum ns_propagation {
  NS_PROP_NONE = 0,
  NS_PROP_PRIVATE = 1,
  NS_PROP_SLAVE = 2,
  NS_PROP_SHARED = 3,
  NS_PROP_UNBINDABLE = 4,
};

struct ns_mount_spec {
  int kind;
  const char *source;    /* BIND/RBIND: path; FS: the fstype */
  int source_root_fd;    /* BIND/RBIND: resolve source inside this root; -1 = plain path */
  int source_fd;         /* FD: the detached tree */
  const char *options;   /* FS: comma-separated fsconfig options ("size=64m,mode=1777") */
  int pidns_fd;          /* FS proc: the pid namespace (fsconfig "pidns"); -1 = the caller's */
  const char *target;    /* path of the mount point inside target_root_fd */
  int target_root_fd;    /* root the target is resolved in (RESOLVE_IN_ROOT) */
  uint64_t attr;         /* NS_MOUNT_ATTR_* to set on the new mount (recursively for RBIND) */
  int propagation;       /* ns_propagation applied after the attach */
  int create_target;     /* create a missing mount point (dir, or file for a non-dir source) */
};

/* Creates the mount described by spec. Returns 0, or -1 with err naming the failing syscall and
 * path; nothing is attached on failure. */
int ns_mount(const struct ns_mount_spec *spec, struct ns_error *err);

/* Creates a detached tree: a clone of `path` (recursive when `recursive`) resolved inside
 * root_fd (or plainly when root_fd < 0). Returns the tree fd or -1. */
int ns_clone_tree(int root_fd, const char *path, int recursive, struct ns_error *err);

/* Creates a detached filesystem (see NS_MOUNT_FS). fd_keys/fds (n of them) are fsconfig
 * FSCONFIG_SET_FD parameters, e.g. "pidns" for proc or "lowerdir+" for overlay. Returns the
 * tree fd or -1. */
int ns_new_fs(const char *fstype, const char *options, const char *const *fd_keys, const int *fds, int nfds, uint64_t attr,
              struct ns_error *err);

/* Changes attributes / propagation of the mount at path inside root_fd. attr_set/attr_clr are
 * NS_MOUNT_ATTR_*; userns_fd >= 0 with NS_MOUNT_ATTR_IDMAP idmaps a DETACHED tree. Returns 0/-1. */
int ns_setattr(int root_fd, const char *path, uint64_t attr_set, uint64_t attr_clr, int propagation, int userns_fd,
               int recursive, struct ns_error *err);

/* Same on a tree fd (path ""). */
int ns_setattr_fd(int tree_fd, uint64_t attr_set, uint64_t attr_clr, int propagation, int userns_fd, int recursive,
                  struct ns_error *err);

/* Attaches a detached tree onto the target resolved inside root_fd (created if create_target).
 * Returns 0/-1. */
int ns_attach_tree(int tree_fd, int root_fd, const char *target, int create_target, struct ns_error *err);

/* Unmounts the mount at path resolved inside root_fd (flags: MNT_DETACH etc.) through
 * /proc/self/fd. Returns 0/-1. */
int ns_umount_in_root(int root_fd, const char *path, int flags, struct ns_error *err);

/* The same without /proc (a stage inside a root whose /proc is not its own): fchdir to the
 * mount and umount2("."), then back. Changes the cwd meanwhile: single-threaded callers only. */
int ns_umount_in_root_chdir(int root_fd, const char *path, int flags, struct ns_error *err);

/* pivot_root into new_root (a plain path): binds it onto itself recursively, makes the mount
 * namespace a slave so nothing propagates back, pivots and detaches the old root. Returns 0/-1. */
int ns_pivot_root(const char *new_root, struct ns_error *err);

/* chroot into path and chdir("/"). Returns 0/-1. */
int ns_chroot(const char *path, struct ns_error *err);

#endif
