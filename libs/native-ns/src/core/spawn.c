#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sys.h"
#include "wire.h"

#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/* Runs in the child between clone and exec: raw syscalls only. Never returns. */
static void __attribute__((noreturn)) child_exec(const struct ns_spawn_request *req, char *const argv[]) {
  static char *const empty_env[] = {NULL};
  if (req->pdeathsig > 0) syscall(SYS_prctl, PR_SET_PDEATHSIG, req->pdeathsig, 0, 0, 0);
  /* while held, the child is still a copy of its parent: name it so `ps` tells them apart */
  syscall(SYS_prctl, PR_SET_NAME, argv[0], 0, 0, 0);
  /* park both fds above the fixed numbers first, so neither clobbers the other */
  int channel = (int)syscall(SYS_fcntl, req->channel_fd, F_DUPFD_CLOEXEC, 10);
  int exe = (int)syscall(SYS_fcntl, req->exe_fd, F_DUPFD_CLOEXEC, 10);
  if (channel < 0 || exe < 0) syscall(SYS_exit_group, 126);
  if (syscall(SYS_dup3, channel, NS_STAGE_CHANNEL_FD, 0) < 0) syscall(SYS_exit_group, 126);
  if (syscall(SYS_dup3, exe, NS_STAGE_EXE_FD, 0) < 0) syscall(SYS_exit_group, 126);
  if (req->hold) {
    /* a SEQPACKET read returns exactly one message; only RELEASE lets us go on */
    uint8_t msg[64];
    long n;
    do n = syscall(SYS_read, NS_STAGE_CHANNEL_FD, msg, sizeof(msg));
    while (n < 0 && errno == EINTR);
    if (n < 8 || msg[0] != MSG_RELEASE || msg[1] != 0 || msg[2] != 0 || msg[3] != 0) syscall(SYS_exit_group, 127);
    if (req->clone_flags & CLONE_NEWUSER) {
      /* the maps are written now. Become the namespace's root: a parent that is not the
       * namespace's root on the node (host root creating a workspace-mapped namespace) left us
       * with ids the map does not cover, and exec would drop every capability. Raw syscalls:
       * glibc's wrappers would signal threads this copy of the parent does not have. Where 0
       * is not mapped these fail and nothing changes. */
      syscall(SYS_setresgid, 0, 0, 0);
      syscall(SYS_setresuid, 0, 0, 0);
    }
  }
  syscall(SYS_execveat, NS_STAGE_EXE_FD, "", argv, empty_env, AT_EMPTY_PATH);
  syscall(SYS_exit_group, 127);
  __builtin_unreachable();
}

pid_t ns_spawn_stage(const struct ns_spawn_request *req, int *pidfd_out, struct ns_error *err) {
  /* argv lives on this stack; the child is a copy of this address space, so it stays valid */
  char *argv[] = {(char *)(req->name ? req->name : "wsrun-stage"), NULL};
  int pidfd = -1;
  struct clone_args args;
  memset(&args, 0, sizeof(args));
  args.flags = req->clone_flags | CLONE_PIDFD | (req->cgroup_fd >= 0 ? CLONE_INTO_CGROUP : 0);
  args.pidfd = (uint64_t)(uintptr_t)&pidfd;
  args.exit_signal = SIGCHLD;
  if (req->cgroup_fd >= 0) args.cgroup = (uint64_t)req->cgroup_fd;
  long pid = sys_clone3(&args);
  if (pid < 0) return ns_fail(err, errno, "clone3", req->name);
  if (pid == 0) child_exec(req, argv);
  *pidfd_out = pidfd;
  return (pid_t)pid;
}
