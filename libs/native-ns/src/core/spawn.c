#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <signal.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sys.h"

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#endif
#ifndef CLONE_INTO_CGROUP
#define CLONE_INTO_CGROUP 0x200000000ULL
#endif

/* The child's system calls between clone and exec. They leave errno alone: a child that shares
 * its parent's memory (NS_SPAWN_SHARE_MEMORY) would otherwise write the errno of the parent
 * thread it was cloned from. Returns -errno on failure. */
static inline long raw_syscall(long n, long a, long b, long c, long d, long e) {
  long ret;
#if defined(__x86_64__)
  register long r10 __asm__("r10") = d;
  register long r8 __asm__("r8") = e;
  __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8) : "rcx", "r11", "memory");
#elif defined(__aarch64__)
  register long x8 __asm__("x8") = n;
  register long x0 __asm__("x0") = a;
  register long x1 __asm__("x1") = b;
  register long x2 __asm__("x2") = c;
  register long x3 __asm__("x3") = d;
  register long x4 __asm__("x4") = e;
  __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4) : "memory");
  ret = x0;
#else
#error "raw_syscall: add this architecture"
#endif
  return ret;
}
#define RAW(n, a, b, c, d, e) raw_syscall((n), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e))

/* A held child in a new user namespace execs the helper before its maps are written, off the
 * critical path of its release: it is nobody in the namespace then, and exec would drop its
 * capabilities. Raised into the inheritable and ambient sets they survive the exec; the helper
 * drops both again once it is the namespace's root (become_namespace_root in stage_main.c).
 * Failures are not fatal here: the helper's setresuid at release then fails and says so. */
static void keep_caps_across_exec(void) {
  struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
  struct __user_cap_data_struct data[2];
  if (RAW(SYS_capget, &hdr, data, 0, 0, 0) < 0) return;
  data[0].inheritable = data[0].permitted;
  data[1].inheritable = data[1].permitted;
  if (RAW(SYS_capset, &hdr, data, 0, 0, 0) < 0) return;
  /* EINVAL past the kernel's last capability */
  for (long cap = 0; cap < 64; cap++) {
    if (RAW(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) == -EINVAL) break;
  }
}

/* Runs in the child between clone and exec: raw syscalls on its own stack only. Never returns. */
static void __attribute__((noreturn)) child_exec(const struct ns_spawn_request *req, char *const argv[]) {
  static char *const empty_env[] = {NULL};
  if (req->pdeathsig > 0) RAW(SYS_prctl, PR_SET_PDEATHSIG, req->pdeathsig, 0, 0, 0);
  /* until its exec the child is a copy of its parent: name it so `ps` tells them apart */
  RAW(SYS_prctl, PR_SET_NAME, argv[0], 0, 0, 0);
  /* park both fds above the fixed numbers first, so neither clobbers the other */
  long channel = RAW(SYS_fcntl, req->channel_fd, F_DUPFD_CLOEXEC, 10, 0, 0);
  long exe = RAW(SYS_fcntl, req->exe_fd, F_DUPFD_CLOEXEC, 10, 0, 0);
  if (channel < 0 || exe < 0) RAW(SYS_exit_group, 126, 0, 0, 0, 0);
  if (RAW(SYS_dup3, channel, NS_STAGE_CHANNEL_FD, 0, 0, 0) < 0) RAW(SYS_exit_group, 126, 0, 0, 0, 0);
  if (RAW(SYS_dup3, exe, NS_STAGE_EXE_FD, 0, 0, 0) < 0) RAW(SYS_exit_group, 126, 0, 0, 0, 0);
  if (req->hold && (req->clone_flags & CLONE_NEWUSER)) keep_caps_across_exec();
  RAW(SYS_execveat, NS_STAGE_EXE_FD, "", argv, empty_env, AT_EMPTY_PATH);
  RAW(SYS_exit_group, 127, 0, 0, 0, 0);
  __builtin_unreachable();
}

/* A child sharing the parent's memory: everything it reads, and its stack, live in this block,
 * which stays mapped until the parent reaps the child (ns_spawn_free). */
struct child_block {
  size_t size;
  struct ns_spawn_request req;
  char name[64];
  char *argv[2];
};
#define CHILD_BLOCK_SIZE (64 * 1024)

static int child_main(void *arg) {
  struct child_block *b = arg;
  child_exec(&b->req, b->argv);
}

void ns_spawn_free(void *block) {
  if (block) munmap(block, ((struct child_block *)block)->size);
}

/* clone(CLONE_VM) like posix_spawn: no page tables copied, and no copy-on-write faults slowing
 * the parent while a held child waits (a copy of a 50 MB Node process made ring0's every write
 * to its heap fault until ring1 exec'd). The caller's signals must all be blocked: the child runs
 * with the parent's handlers until its exec. */
static pid_t spawn_sharing_memory(const struct ns_spawn_request *req, int *pidfd_out, void **block_out, struct ns_error *err) {
  struct child_block *b = mmap(NULL, CHILD_BLOCK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (b == MAP_FAILED) return ns_fail(err, errno, "mmap", req->name);
  b->size = CHILD_BLOCK_SIZE;
  b->req = *req;
  strncpy(b->name, req->name ? req->name : "wsrun-stage", sizeof(b->name) - 1);
  b->name[sizeof(b->name) - 1] = '\0';
  b->req.name = b->name;
  b->argv[0] = b->name;
  b->argv[1] = NULL;
  /* the stack grows down from the block's end, 16-byte aligned */
  char *stack_top = (char *)b + CHILD_BLOCK_SIZE;
  stack_top = (char *)((uintptr_t)stack_top & ~(uintptr_t)15);
  int pidfd = -1;
  int flags = (int)req->clone_flags | CLONE_VM | CLONE_PIDFD | SIGCHLD;
  pid_t pid = clone(child_main, stack_top, flags, b, &pidfd);
  if (pid < 0) {
    int e = errno;
    munmap(b, CHILD_BLOCK_SIZE);
    return ns_fail(err, e, "clone", req->name);
  }
  *pidfd_out = pidfd;
  *block_out = b;
  return pid;
}

pid_t ns_spawn_stage(const struct ns_spawn_request *req, int *pidfd_out, void **block_out, struct ns_error *err) {
  if (block_out) *block_out = NULL;
  if (block_out && req->cgroup_fd < 0) return spawn_sharing_memory(req, pidfd_out, block_out, err);
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
