/* sys: raw wrappers for the kernel interfaces glibc 2.36 does not wrap everywhere (openat2,
 * clone3, pidfd_*, the new mount API, close_range, seccomp). Constants are defined here when the
 * installed headers lack them; values are the kernel's ABI and never change. */
#ifndef NS_SYS_H
#define NS_SYS_H

#include <stdint.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <linux/openat2.h>
#include <linux/sched.h>

#ifndef __NR_open_tree
#define __NR_open_tree 428
#define __NR_move_mount 429
#define __NR_fsopen 430
#define __NR_fsconfig 431
#define __NR_fsmount 432
#define __NR_fspick 433
#endif
#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef __NR_clone3
#define __NR_clone3 435
#endif
#ifndef __NR_close_range
#define __NR_close_range 436
#endif
#ifndef __NR_openat2
#define __NR_openat2 437
#endif
#ifndef __NR_pidfd_getfd
#define __NR_pidfd_getfd 438
#endif
#ifndef __NR_mount_setattr
#define __NR_mount_setattr 442
#endif
#ifndef __NR_pidfd_send_signal
#define __NR_pidfd_send_signal 424
#endif

/* open_tree */
#define NS_OPEN_TREE_CLONE 1
#define NS_OPEN_TREE_CLOEXEC 02000000
/* move_mount */
#define NS_MOVE_MOUNT_F_SYMLINKS 0x01
#define NS_MOVE_MOUNT_F_AUTOMOUNTS 0x02
#define NS_MOVE_MOUNT_F_EMPTY_PATH 0x04
#define NS_MOVE_MOUNT_T_SYMLINKS 0x10
#define NS_MOVE_MOUNT_T_AUTOMOUNTS 0x20
#define NS_MOVE_MOUNT_T_EMPTY_PATH 0x40
/* fsopen / fsmount */
#define NS_FSOPEN_CLOEXEC 0x1
#define NS_FSMOUNT_CLOEXEC 0x1
#define NS_FSCONFIG_SET_FLAG 0
#define NS_FSCONFIG_SET_STRING 1
#define NS_FSCONFIG_SET_FD 5
#define NS_FSCONFIG_CMD_CREATE 6
/* mount attributes (mount_setattr, fsmount) */
#define NS_MOUNT_ATTR_RDONLY 0x00000001
#define NS_MOUNT_ATTR_NOSUID 0x00000002
#define NS_MOUNT_ATTR_NODEV 0x00000004
#define NS_MOUNT_ATTR_NOEXEC 0x00000008
#define NS_MOUNT_ATTR__ATIME 0x00000070
#define NS_MOUNT_ATTR_RELATIME 0x00000000
#define NS_MOUNT_ATTR_NOATIME 0x00000010
#define NS_MOUNT_ATTR_NODIRATIME 0x00000080
#define NS_MOUNT_ATTR_IDMAP 0x00100000
#define NS_MOUNT_ATTR_NOSYMFOLLOW 0x00200000
#ifndef AT_RECURSIVE
#define AT_RECURSIVE 0x8000
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif

struct ns_mount_attr {
  uint64_t attr_set;
  uint64_t attr_clr;
  uint64_t propagation;
  uint64_t userns_fd;
};

static inline int sys_openat2(int dirfd, const char *path, struct open_how *how) {
  return (int)syscall(__NR_openat2, dirfd, path, how, sizeof(*how));
}
static inline long sys_clone3(struct clone_args *args) {
  return syscall(__NR_clone3, args, sizeof(*args));
}
static inline int sys_pidfd_open(pid_t pid, unsigned int flags) {
  return (int)syscall(__NR_pidfd_open, pid, flags);
}
static inline int sys_pidfd_send_signal(int pidfd, int sig, void *info, unsigned int flags) {
  return (int)syscall(__NR_pidfd_send_signal, pidfd, sig, info, flags);
}
static inline int sys_open_tree(int dirfd, const char *path, unsigned int flags) {
  return (int)syscall(__NR_open_tree, dirfd, path, flags);
}
static inline int sys_move_mount(int from_dirfd, const char *from_path, int to_dirfd, const char *to_path,
                                 unsigned int flags) {
  return (int)syscall(__NR_move_mount, from_dirfd, from_path, to_dirfd, to_path, flags);
}
static inline int sys_fsopen(const char *fstype, unsigned int flags) {
  return (int)syscall(__NR_fsopen, fstype, flags);
}
static inline int sys_fsconfig(int fd, unsigned int cmd, const char *key, const void *value, int aux) {
  return (int)syscall(__NR_fsconfig, fd, cmd, key, value, aux);
}
static inline int sys_fsmount(int fd, unsigned int flags, unsigned int attr_flags) {
  return (int)syscall(__NR_fsmount, fd, flags, attr_flags);
}
static inline int sys_mount_setattr(int dirfd, const char *path, unsigned int flags, struct ns_mount_attr *attr) {
  return (int)syscall(__NR_mount_setattr, dirfd, path, flags, attr, sizeof(*attr));
}
static inline int sys_close_range(unsigned int first, unsigned int last, unsigned int flags) {
  return (int)syscall(__NR_close_range, first, last, flags);
}
static inline int sys_pivot_root(const char *new_root, const char *put_old) {
  return (int)syscall(SYS_pivot_root, new_root, put_old);
}

/* Retries a syscall expression while it fails with EINTR. */
#define NS_RETRY_EINTR(expr)                   \
  ({                                           \
    long _r;                                   \
    do _r = (long)(expr);                      \
    while (_r == -1 && errno == EINTR);        \
    _r;                                        \
  })

#endif
