/* seccomp: building and installing a filter (notify for some syscalls, an errno for others,
 * allow the rest) and the supervisor side of user notifications. */
#ifndef NS_SECCOMP_H
#define NS_SECCOMP_H

#include <stdint.h>
#include <sys/types.h>

#include "ns_error.h"

/* Action of one rule. Twin: SeccompAction in libs/native-ns/src/lib/wire-constants.ts. */
#define NS_SECCOMP_ACT_NOTIFY (-1) /* user notification to the listener */
/* any value >= 1 is an errno returned without calling the kernel */

struct ns_seccomp_rule {
  int nr;     /* syscall number for the running architecture */
  int action; /* NS_SECCOMP_ACT_NOTIFY or an errno */
};

#define NS_SECCOMP_MAX_RULES 128

/* Installs the filter on the calling thread (use it single-threaded, before exec). With
 * want_listener, returns the user-notify listener fd (O_CLOEXEC); else 0. set_nnp sets
 * no_new_privs first (required unless the caller has CAP_SYS_ADMIN in its user namespace).
 * Syscalls of a foreign ABI (i386, x32) get ENOSYS, so a rule cannot be dodged through them.
 * Returns -1 with err on failure. */
int ns_seccomp_install(const struct ns_seccomp_rule *rules, int nrules, int want_listener, int set_nnp,
                       struct ns_error *err);

/* The syscall number of `name` on this architecture, or -1 when this table does not know it
 * (or the architecture has no such syscall, like umount on x86_64). */
int ns_syscall_number(const char *name);

/* The name of syscall `nr`, or NULL. */
const char *ns_syscall_name(int nr);

/* One received notification, decoded. */
struct ns_notification {
  uint64_t id;
  uint32_t pid;
  uint32_t flags;
  int nr;
  uint32_t arch;
  uint64_t instruction_pointer;
  uint64_t args[6];
};

/* Blocks until a notification arrives on listener. Returns 0, or -1 (ENOENT: the caller died
 * between the kernel queuing and us receiving; ENOSYS/EBADF: the filter is gone). */
int ns_notif_recv(int listener, struct ns_notification *out, struct ns_error *err);

/* 0 when the notification id is still valid (the caller still waits), else -1 with ENOENT. */
int ns_notif_id_valid(int listener, uint64_t id, struct ns_error *err);

/* Answers a notification: with cont, the kernel performs the syscall (error/val ignored);
 * otherwise the syscall returns -error when error != 0, else val. Returns 0 or -1 (ENOENT:
 * the caller is gone). */
int ns_notif_respond(int listener, uint64_t id, int cont, int error, int64_t val, struct ns_error *err);

/* Installs src_fd into the caller's fd table (SECCOMP_IOCTL_NOTIF_ADDFD); with send, also
 * answers the notification with the new fd number. Returns the fd number in the target or -1. */
int ns_notif_addfd(int listener, uint64_t id, int src_fd, int send, struct ns_error *err);

/* Reads len bytes of process pid at addr (process_vm_readv, /proc/<pid>/mem as fallback).
 * Returns bytes read (may be short at an unmapped page) or -1. */
ssize_t ns_read_memory(pid_t pid, uint64_t addr, void *buf, size_t len, struct ns_error *err);

/* Reads a NUL-terminated string of at most cap-1 bytes from pid at addr into buf. Returns its
 * length, or -1 (ENAMETOOLONG when no NUL within cap-1, EFAULT when unreadable). */
ssize_t ns_read_string(pid_t pid, uint64_t addr, char *buf, size_t cap, struct ns_error *err);

#endif
