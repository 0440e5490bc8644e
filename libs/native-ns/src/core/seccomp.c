#include "seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sys.h"

#if defined(__x86_64__)
#define NS_AUDIT_ARCH AUDIT_ARCH_X86_64
#define NS_X32_BIT 0x40000000
#elif defined(__aarch64__)
#define NS_AUDIT_ARCH AUDIT_ARCH_AARCH64
#else
#error "wsrun native-ns: unsupported architecture for seccomp filters"
#endif

#ifndef SECCOMP_USER_NOTIF_FLAG_CONTINUE
#define SECCOMP_USER_NOTIF_FLAG_CONTINUE (1UL << 0)
#endif
#ifndef SECCOMP_ADDFD_FLAG_SEND
#define SECCOMP_ADDFD_FLAG_SEND (1UL << 1)
#endif

/* The syscalls a sandbox policy names. Numbers come from the build's headers (this arch). */
static const struct {
  const char *name;
  int nr;
} SYSCALLS[] = {
#define S(n) {#n, __NR_##n},
    S(mount) S(umount2) S(pivot_root) S(chroot) S(unshare) S(setns) S(clone) S(clone3) S(open_tree)
    S(move_mount) S(fsopen) S(fsconfig) S(fsmount) S(fspick) S(mount_setattr) S(keyctl) S(add_key)
    S(request_key) S(ptrace) S(bpf) S(perf_event_open) S(kexec_load) S(kexec_file_load) S(init_module)
    S(finit_module) S(delete_module) S(reboot) S(swapon) S(swapoff) S(acct) S(settimeofday)
    S(clock_settime) S(clock_adjtime) S(adjtimex) S(sethostname) S(setdomainname) S(syslog)
    S(userfaultfd) S(personality) S(quotactl) S(mknodat) S(open_by_handle_at)
    S(name_to_handle_at) S(process_vm_readv) S(process_vm_writev) S(pidfd_getfd) S(io_uring_setup)
    S(io_uring_enter) S(io_uring_register) S(getpid) S(getppid) S(write) S(openat) S(mkdirat)
    S(chdir) S(fchdir) S(setuid) S(setgid) S(setgroups) S(setresuid) S(setresgid) S(capset)
    S(prctl) S(seccomp) S(kill) S(tgkill) S(pidfd_open) S(pidfd_send_signal) S(execve) S(execveat)
#if defined(__x86_64__)
    S(mknod) S(iopl) S(ioperm) S(create_module) S(get_kernel_syms) S(query_module) S(uselib) S(ustat)
    S(sysfs) S(_sysctl) S(fork) S(vfork) S(open) S(mkdir)
#endif
#undef S
};

int ns_syscall_number(const char *name) {
  for (size_t i = 0; i < sizeof(SYSCALLS) / sizeof(SYSCALLS[0]); i++) {
    if (strcmp(SYSCALLS[i].name, name) == 0) return SYSCALLS[i].nr >= 0 ? SYSCALLS[i].nr : -1;
  }
  return -1;
}

const char *ns_syscall_name(int nr) {
  for (size_t i = 0; i < sizeof(SYSCALLS) / sizeof(SYSCALLS[0]); i++) {
    if (SYSCALLS[i].nr == nr) return SYSCALLS[i].name;
  }
  return NULL;
}

int ns_seccomp_install(const struct ns_seccomp_rule *rules, int nrules, int want_listener, int set_nnp,
                       struct ns_error *err) {
  if (nrules < 0 || nrules > NS_SECCOMP_MAX_RULES) return ns_fail(err, E2BIG, "seccomp", NULL);
  struct sock_filter prog[8 + 2 * NS_SECCOMP_MAX_RULES];
  int n = 0;
  /* a foreign ABI gets ENOSYS: its syscall numbers would bypass the rules below */
  prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
  prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NS_AUDIT_ARCH, 1, 0);
  prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
  prog[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
#ifdef NS_X32_BIT
  prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, NS_X32_BIT, 0, 1);
  prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS);
#endif
  for (int i = 0; i < nrules; i++) {
    uint32_t ret;
    if (rules[i].action == NS_SECCOMP_ACT_NOTIFY) {
      if (!want_listener) return ns_fail(err, EINVAL, "seccomp", "notify rule without a listener");
      ret = SECCOMP_RET_USER_NOTIF;
    } else if (rules[i].action >= 1 && rules[i].action <= 4095) {
      ret = SECCOMP_RET_ERRNO | (uint32_t)rules[i].action;
    } else {
      return ns_fail(err, EINVAL, "seccomp", "rule action");
    }
    prog[n++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)rules[i].nr, 0, 1);
    prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, ret);
  }
  prog[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
  struct sock_fprog fprog = {.len = (unsigned short)n, .filter = prog};

  if (set_nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return ns_fail(err, errno, "prctl", "PR_SET_NO_NEW_PRIVS");
  unsigned long flags = want_listener ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0;
  long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &fprog);
  if (rc < 0) return ns_fail(err, errno, "seccomp", NULL);
  return want_listener ? (int)rc : 0;
}

int ns_notif_recv(int listener, struct ns_notification *out, struct ns_error *err) {
  struct seccomp_notif req;
  /* NOTIF_RECV fails with EINVAL unless the buffer is zeroed */
  memset(&req, 0, sizeof(req));
  if (NS_RETRY_EINTR(ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &req)) < 0) return ns_fail(err, errno, "ioctl", "SECCOMP_IOCTL_NOTIF_RECV");
  out->id = req.id;
  out->pid = req.pid;
  out->flags = req.flags;
  out->nr = req.data.nr;
  out->arch = req.data.arch;
  out->instruction_pointer = req.data.instruction_pointer;
  for (int i = 0; i < 6; i++) out->args[i] = req.data.args[i];
  return 0;
}

int ns_notif_id_valid(int listener, uint64_t id, struct ns_error *err) {
  if (ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) < 0) return ns_fail(err, errno, "ioctl", "SECCOMP_IOCTL_NOTIF_ID_VALID");
  return 0;
}

int ns_notif_respond(int listener, uint64_t id, int cont, int error, int64_t val, struct ns_error *err) {
  struct seccomp_notif_resp resp;
  memset(&resp, 0, sizeof(resp));
  resp.id = id;
  if (cont) {
    /* CONTINUE with a non-zero error or val is EINVAL */
    resp.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  } else {
    resp.error = error ? -error : 0;
    resp.val = error ? 0 : val;
  }
  if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp) < 0) return ns_fail(err, errno, "ioctl", "SECCOMP_IOCTL_NOTIF_SEND");
  return 0;
}

int ns_notif_addfd(int listener, uint64_t id, int src_fd, int send, struct ns_error *err) {
  struct seccomp_notif_addfd addfd;
  memset(&addfd, 0, sizeof(addfd));
  addfd.id = id;
  addfd.srcfd = (uint32_t)src_fd;
  addfd.newfd_flags = O_CLOEXEC;
  addfd.flags = send ? SECCOMP_ADDFD_FLAG_SEND : 0;
  int rc = ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd);
  if (rc < 0) return ns_fail(err, errno, "ioctl", "SECCOMP_IOCTL_NOTIF_ADDFD");
  return rc;
}

ssize_t ns_read_memory(pid_t pid, uint64_t addr, void *buf, size_t len, struct ns_error *err) {
  struct iovec local = {.iov_base = buf, .iov_len = len};
  struct iovec remote = {.iov_base = (void *)(uintptr_t)addr, .iov_len = len};
  ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
  if (n >= 0) return n;
  int first = errno;
  /* /proc/<pid>/mem also works where process_vm_readv is refused by a ptrace policy */
  char path[64];
  snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return ns_fail_pid(err, first, "process_vm_readv", (int)pid);
  n = NS_RETRY_EINTR(pread(fd, buf, len, (off_t)addr));
  int saved = errno;
  close(fd);
  if (n < 0) return ns_fail_pid(err, saved, "pread", (int)pid);
  return n;
}

ssize_t ns_read_string(pid_t pid, uint64_t addr, char *buf, size_t cap, struct ns_error *err) {
  size_t got = 0;
  const size_t page = 4096;
  if (cap == 0) return ns_fail_pid(err, EINVAL, "process_vm_readv", (int)pid);
  while (got < cap - 1) {
    /* read up to the next page boundary so an unmapped page after the string does not fail it */
    size_t chunk = page - ((addr + got) % page);
    if (chunk > cap - 1 - got) chunk = cap - 1 - got;
    ssize_t n = ns_read_memory(pid, addr + got, buf + got, chunk, err);
    if (n < 0) return -1;
    if (n == 0) return ns_fail_pid(err, EFAULT, "process_vm_readv", (int)pid);
    void *nul = memchr(buf + got, '\0', (size_t)n);
    if (nul != NULL) return (char *)nul - buf;
    got += (size_t)n;
  }
  buf[cap - 1] = '\0';
  return ns_fail_pid(err, ENAMETOOLONG, "process_vm_readv", (int)pid);
}
