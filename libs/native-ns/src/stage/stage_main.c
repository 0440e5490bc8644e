/* wsrun-stage: the single-threaded helper that every namespace change runs in.
 *
 * Node (or a parent stage) clone3()s this process into its new namespaces and execs it with the
 * control channel at fd 3 and this binary at fd 4 (spawn.c). It reads one MSG_PROGRAM (wire.h),
 * runs its steps in order, applies the settings, and ends with one of: exec the command, stay as
 * the waiter of a nested stage, or exit. Any failure is sent to Node as MSG_ERROR (errno, syscall,
 * path) and the helper exits with STAGE_EXIT_SETUP. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "../core/caps.h"
#include "../core/fdpass.h"
#include "../core/mounts.h"
#include "../core/ns_error.h"
#include "../core/safe_path.h"
#include "../core/seccomp.h"
#include "../core/spawn.h"
#include "../core/sys.h"
#include "../core/wire.h"

/* Exit codes of the helper itself. Twin: StageExit in wire-constants.ts. */
#define STAGE_EXIT_SETUP 125   /* a step failed; MSG_ERROR says which */
#define STAGE_EXIT_ABORTED 124 /* Node sent MSG_ABORT or went away */
#define STAGE_EXIT_EXEC 127    /* the command could not be exec'd */

#define MAX_REFS NS_MAX_FDS_PER_MSG
#define MAX_LIST 1024
#define MAX_STEPS 256
#define MAX_ROOTS 16
#define MAX_FDMAP 64

/* Where the channel and our own executable live once the program is read: above any fd number
 * a program may ask for, so that placing fds never clobbers them. */
#define PARK_FD_MIN 900
#define TEMP_FD_MIN 600

struct step {
  uint32_t op;
  struct wire_cursor body;
};

static struct {
  int channel;
  int exe;
  int refs[MAX_REFS];
  int nrefs;
  char *argv[MAX_LIST + 1];
  int argc;
  char *envp[MAX_LIST + 1];
  int envc;
  char *cwd;
  int has_creds;
  uid_t uid;
  gid_t gid;
  gid_t groups[64];
  int ngroups;
  struct {
    int target, ref;
  } fdmap[MAX_FDMAP];
  int nfdmap;
  int pdeathsig;
  int setsid;
  int ctty;
  int nnp;
  int has_caps;
  struct ns_caps caps;
  int nocore;
  int has_seccomp;
  int seccomp_listener;
  int seccomp_nnp;
  char *seccomp_tag;
  struct ns_seccomp_rule rules[NS_SECCOMP_MAX_RULES];
  int nrules;
  struct step steps[MAX_STEPS];
  int nsteps;
  uint32_t final_op;
  int exit_code;
  int roots[MAX_ROOTS];
  pid_t child;
  int child_pidfd;
} S;

static uint8_t message[WIRE_MAX_MESSAGE];
static char arena[WIRE_MAX_MESSAGE + 64 * 1024];
static size_t arena_used;

/* ---- reporting -------------------------------------------------------------------------- */

static void send_record(struct wire_writer *w, const int *fds, int nfds) {
  long len = wire_end(w);
  struct ns_error ignored;
  if (len > 0) ns_send_with_fds(S.channel, w->buf, (size_t)len, fds, nfds, &ignored);
}

static void __attribute__((noreturn)) fail_step(int step, const struct ns_error *err, int code) {
  uint8_t buf[2048];
  struct wire_writer w;
  wire_begin(&w, buf, sizeof(buf), MSG_ERROR);
  wire_put_int(&w, step);
  wire_put_int(&w, err->errnum);
  wire_put_str(&w, err->syscall);
  wire_put_str(&w, err->path);
  wire_put_int(&w, err->pid);
  wire_put_str(&w, err->detail);
  send_record(&w, NULL, 0);
  _exit(code);
}

static void __attribute__((noreturn)) fail_protocol(const char *what) {
  struct ns_error err;
  ns_error_clear(&err);
  ns_fail(&err, EPROTO, "program", what);
  fail_step(-1, &err, STAGE_EXIT_SETUP);
}

static void notice(int step, const char *text) {
  uint8_t buf[1024];
  struct wire_writer w;
  wire_begin(&w, buf, sizeof(buf), MSG_NOTICE);
  wire_put_int(&w, step);
  wire_put_str(&w, text);
  send_record(&w, NULL, 0);
}

/* ---- decoding ----------------------------------------------------------------------------- */

static char *dupz(const char *p, size_t len) {
  if (arena_used + len + 1 > sizeof(arena)) fail_protocol("program too large");
  char *s = arena + arena_used;
  memcpy(s, p, len);
  s[len] = '\0';
  arena_used += len + 1;
  if (memchr(s, '\0', len) != NULL) fail_protocol("string with a NUL byte");
  return s;
}

static int64_t get_int(struct wire_cursor *c) {
  struct wire_field f;
  if (wire_next_field(c, &f) != 1 || f.kind != WIRE_INT) fail_protocol("expected an int field");
  return f.num;
}

static char *get_str(struct wire_cursor *c) {
  struct wire_field f;
  if (wire_next_field(c, &f) != 1 || f.kind != WIRE_BYTES) fail_protocol("expected a bytes field");
  return dupz(f.bytes, f.len);
}

static int has_more(const struct wire_cursor *c) { return c->left > 0; }

static int ref_fd(int64_t ref) {
  if (ref == WIRE_NONE) return -1;
  if (ref < 0 || ref >= S.nrefs || S.refs[ref] < 0) fail_protocol("fd reference out of range");
  return S.refs[ref];
}

static int root_fd(int64_t reg, struct ns_error *err) {
  if (reg == WIRE_NONE) return ns_open_root("/", err);
  if (reg < 0 || reg >= MAX_ROOTS || S.roots[reg] < 0) fail_protocol("root register not open");
  int fd = dup(S.roots[reg]);
  if (fd < 0) return ns_fail(err, errno, "dup", NULL);
  return fd;
}

static void read_settings(uint32_t op, struct wire_cursor *b) {
  switch (op) {
    case OP_ARGV:
      while (has_more(b) && S.argc < MAX_LIST) S.argv[S.argc++] = get_str(b);
      break;
    case OP_ENV:
      while (has_more(b) && S.envc < MAX_LIST) S.envp[S.envc++] = get_str(b);
      break;
    case OP_CWD:
      S.cwd = get_str(b);
      break;
    case OP_CREDS:
      S.has_creds = 1;
      S.uid = (uid_t)get_int(b);
      S.gid = (gid_t)get_int(b);
      while (has_more(b) && S.ngroups < 64) S.groups[S.ngroups++] = (gid_t)get_int(b);
      break;
    case OP_FD:
      if (S.nfdmap >= MAX_FDMAP) fail_protocol("too many fds");
      S.fdmap[S.nfdmap].target = (int)get_int(b);
      S.fdmap[S.nfdmap].ref = (int)get_int(b);
      if (S.fdmap[S.nfdmap].target < 0 || S.fdmap[S.nfdmap].target >= TEMP_FD_MIN) fail_protocol("fd target out of range");
      ref_fd(S.fdmap[S.nfdmap].ref);
      S.nfdmap++;
      break;
    case OP_PDEATHSIG:
      S.pdeathsig = (int)get_int(b);
      break;
    case OP_SETSID:
      S.setsid = 1;
      S.ctty = (int)get_int(b);
      break;
    case OP_NNP:
      S.nnp = 1;
      break;
    case OP_CAPS:
      S.has_caps = 1;
      S.caps.bounding = (uint64_t)get_int(b);
      S.caps.effective = (uint64_t)get_int(b);
      S.caps.permitted = (uint64_t)get_int(b);
      S.caps.inheritable = (uint64_t)get_int(b);
      S.caps.ambient = (uint64_t)get_int(b);
      break;
    case OP_NOCORE:
      S.nocore = 1;
      break;
    case OP_SECCOMP:
      S.has_seccomp = 1;
      S.seccomp_listener = (int)get_int(b);
      S.seccomp_nnp = (int)get_int(b);
      S.seccomp_tag = get_str(b);
      while (has_more(b)) {
        if (S.nrules >= NS_SECCOMP_MAX_RULES) fail_protocol("too many seccomp rules");
        S.rules[S.nrules].nr = (int)get_int(b);
        S.rules[S.nrules].action = (int)get_int(b);
        S.nrules++;
      }
      break;
    default:
      fail_protocol("unknown directive");
  }
}

static void parent_gone_check(void);

/* MSG_RELEASE [int become_root]: a held stage's id maps are written. One in a new user namespace
 * was exec'd before that, as nobody there, keeping its capabilities in the ambient set
 * (spawn.c); it becomes the namespace's root now, and ends up as it would after an exec by that
 * root. Where 0 is not mapped setres[ug]id fail with EINVAL and the stage stays who it is. */
static int become_namespace_root(struct ns_error *err) {
  int pdeathsig = 0;
  if (prctl(PR_GET_PDEATHSIG, &pdeathsig, 0, 0, 0) < 0) return ns_fail(err, errno, "prctl", "PR_GET_PDEATHSIG");
  if (setresgid(0, 0, 0) < 0 && errno != EINVAL) return ns_fail(err, errno, "setresgid", "0");
  if (setresuid(0, 0, 0) < 0 && errno != EINVAL) return ns_fail(err, errno, "setresuid", "0");
  /* the ambient set only carried the capabilities across that exec: from here on what this
   * stage execs gets capabilities by the usual rules (its uid, its program's OP_CAPS) */
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) return ns_fail(err, errno, "prctl", "PR_CAP_AMBIENT_CLEAR_ALL");
  if (ns_caps_clear_inheritable(err) < 0) return -1;
  /* a parent that is root on the node made this a change of uid there (0 -> the workspace's
   * host uid), which clears dumpability and the parent-death signal; an exec after the change
   * restored dumpability before, so restore both */
  if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) != 1 && prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0) return ns_fail(err, errno, "prctl", "PR_SET_DUMPABLE");
  int now = 0;
  if (pdeathsig > 0 && prctl(PR_GET_PDEATHSIG, &now, 0, 0, 0) == 0 && now != pdeathsig) {
    if (prctl(PR_SET_PDEATHSIG, pdeathsig, 0, 0, 0) < 0) return ns_fail(err, errno, "prctl", "PR_SET_PDEATHSIG");
    parent_gone_check();
  }
  return 0;
}

/* Reads MSG_PROGRAM (with its fds) from the channel and sorts its directives. A held stage gets
 * MSG_RELEASE first. */
static void read_program(void) {
  struct ns_error err;
  ns_error_clear(&err);
  struct wire_cursor all, body, prog;
  uint32_t type;
  ssize_t n;
  int released = 0, became_root = 0;
  for (;;) {
    n = ns_recv_with_fds(S.channel, message, sizeof(message), S.refs, MAX_REFS, &S.nrefs, &err);
    if (n < 0) fail_step(-1, &err, STAGE_EXIT_SETUP);
    if (n == 0) _exit(STAGE_EXIT_ABORTED);
    all = (struct wire_cursor){message, (size_t)n};
    if (wire_next_record(&all, &type, &prog) != 1) fail_protocol("malformed message");
    if (type != MSG_RELEASE) break;
    if (released || S.nrefs > 0) fail_protocol("unexpected MSG_RELEASE");
    released = 1;
    if (get_int(&prog)) {
      if (become_namespace_root(&err) < 0) fail_step(-1, &err, STAGE_EXIT_SETUP);
      became_root = 1;
    }
  }
  if (type == MSG_ABORT) _exit(STAGE_EXIT_ABORTED);
  /* ambient capabilities only ever carry a held stage across its first exec (spawn.c), and
   * become_namespace_root clears them: a program that came without that release must not pass
   * them on to what it execs (its OP_CAPS, applied later, still set what it asks for) */
  if (!became_root && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0) {
    ns_fail(&err, errno, "prctl", "PR_CAP_AMBIENT_CLEAR_ALL");
    fail_step(-1, &err, STAGE_EXIT_SETUP);
  }
  if (type != MSG_PROGRAM) fail_protocol("expected MSG_PROGRAM");
  int r;
  while ((r = wire_next_record(&prog, &type, &body)) == 1) {
    if (type >= OP_MOUNT && type < OP_EXEC) {
      if (S.nsteps >= MAX_STEPS) fail_protocol("too many steps");
      S.steps[S.nsteps].op = type;
      S.steps[S.nsteps].body = body;
      S.nsteps++;
    } else if (type == OP_EXEC || type == OP_WAIT_CHILD || type == OP_EXIT) {
      S.final_op = type;
      if (type == OP_EXIT) S.exit_code = (int)get_int(&body);
    } else {
      read_settings(type, &body);
    }
  }
  if (r < 0) fail_protocol("malformed program");
  if (S.final_op == 0) fail_protocol("program has no end (exec, wait-child or exit)");
  if (S.final_op == OP_EXEC && S.argc == 0) fail_protocol("exec without argv");
}

/* ---- steps -------------------------------------------------------------------------------- */

/* Waits for MSG_GO(tag) on the channel; anything else ends the stage. */
static void wait_for_go(int step, const char *tag) {
  uint8_t buf[512];
  struct wire_writer w;
  wire_begin(&w, buf, sizeof(buf), MSG_WAITING);
  wire_put_str(&w, tag);
  send_record(&w, NULL, 0);
  for (;;) {
    struct ns_error err;
    int fds[4], nfds = 0;
    ns_error_clear(&err);
    ssize_t n = ns_recv_with_fds(S.channel, buf, sizeof(buf), fds, 4, &nfds, &err);
    for (int i = 0; i < nfds; i++) close(fds[i]);
    if (n < 0) fail_step(step, &err, STAGE_EXIT_SETUP);
    if (n == 0) _exit(STAGE_EXIT_ABORTED);
    struct wire_cursor c = {buf, (size_t)n}, body;
    uint32_t type;
    if (wire_next_record(&c, &type, &body) != 1) fail_protocol("malformed message");
    if (type == MSG_ABORT) _exit(STAGE_EXIT_ABORTED);
    if (type != MSG_GO) continue;
    if (strcmp(get_str(&body), tag) == 0) return;
  }
}

static void send_fd(const char *tag, int fd) {
  uint8_t buf[512];
  struct wire_writer w;
  wire_begin(&w, buf, sizeof(buf), MSG_FD);
  wire_put_str(&w, tag);
  send_record(&w, &fd, 1);
}

static int step_mount(int index, struct wire_cursor *b, struct ns_error *err) {
  struct ns_mount_spec spec;
  memset(&spec, 0, sizeof(spec));
  spec.kind = (int)get_int(b);
  spec.source = get_str(b);
  int64_t src_root = get_int(b);
  spec.target = get_str(b);
  int64_t dst_root = get_int(b);
  spec.options = get_str(b);
  spec.pidns_fd = ref_fd(get_int(b));
  spec.attr = (uint64_t)get_int(b);
  spec.propagation = (int)get_int(b);
  spec.create_target = (int)get_int(b);
  int optional = (int)get_int(b);
  spec.source_fd = ref_fd(get_int(b));
  spec.source_root_fd = -1;
  if (src_root != WIRE_NONE && (spec.source_root_fd = root_fd(src_root, err)) < 0) return -1;
  if ((spec.target_root_fd = root_fd(dst_root, err)) < 0) {
    if (spec.source_root_fd >= 0) close(spec.source_root_fd);
    return -1;
  }
  int rc = ns_mount(&spec, err);
  if (spec.source_root_fd >= 0) close(spec.source_root_fd);
  close(spec.target_root_fd);
  if (rc < 0 && optional && err->errnum == ENOENT && strcmp(err->syscall, "open_tree") == 0) {
    char text[NS_ERR_PATH_MAX + 64];
    snprintf(text, sizeof(text), "skipped: %s does not exist", spec.source);
    notice(index, text);
    ns_error_clear(err);
    return 0;
  }
  return rc;
}

static void __attribute__((noreturn)) run_stage(int channel, int exe, const char *name, int pdeathsig);

/* Set by main: the nested stage shows its own name in /proc/<pid>/cmdline too. */
static char *own_argv0;

/* The child of a spawn step, right after clone3: becomes the nested stage in this process, as
 * if it had exec'd the helper (a fresh exec cost ~0.3 ms on ring1 -> ring2's critical path). It
 * leaves the parent stage's state behind: every fd but its own channel, the helper's fd and the
 * stdio an exec would keep is closed, the state is reset, and it is made dumpable as an exec
 * would. The parent is single-threaded and in no libc call: its locks are free. glibc's
 * cached thread id stays the parent's: nothing here calls raise() or pthread_*. */
static void __attribute__((noreturn)) become_nested_stage(int channel, const char *name_in_arena, int pdeathsig, int parent) {
  /* the parent-death signal first, then whether the parent is still there: had it died since
   * the clone, no signal would ever come, and a command run later would outlive the workspace's
   * ring1. getppid() cannot tell (0 in a new pid namespace); the parent's pidfd can. */
  if (pdeathsig > 0) prctl(PR_SET_PDEATHSIG, pdeathsig, 0, 0, 0);
  if (parent >= 0) {
    struct pollfd gone = {.fd = parent, .events = POLLIN};
    if (poll(&gone, 1, 0) == 1) _exit(STAGE_EXIT_ABORTED);
    close(parent);
  }
  char name[64];
  snprintf(name, sizeof(name), "%s", name_in_arena);
  int exe = S.exe;
  struct ns_error err;
  ns_error_clear(&err);
  /* park ours high first: placing them at 3 and 4 must not clobber one with the other */
  int ch = fcntl(channel, F_DUPFD_CLOEXEC, TEMP_FD_MIN);
  int ex = ch < 0 ? -1 : fcntl(exe, F_DUPFD_CLOEXEC, TEMP_FD_MIN);
  if (ch < 0 || ex < 0) ns_fail(&err, errno, "fcntl", "F_DUPFD_CLOEXEC");
  else if (dup3(ch, NS_STAGE_CHANNEL_FD, 0) < 0 || dup3(ex, NS_STAGE_EXE_FD, 0) < 0) ns_fail(&err, errno, "dup3", NULL);
  if (err.errnum != 0) {
    S.channel = channel; /* reported on our own channel, as the helper would */
    fail_step(-1, &err, STAGE_EXIT_SETUP);
  }
  sys_close_range(NS_STAGE_EXE_FD + 1, ~0U, 0);
  /* 0-2 survive as an exec would keep them: unless they are close-on-exec (the parent stage's
   * own fds when it had no stdio) */
  for (int fd = 0; fd <= 2; fd++) {
    int flags = fcntl(fd, F_GETFD);
    if (flags >= 0 && (flags & FD_CLOEXEC)) close(fd);
  }
  memset(&S, 0, sizeof(S));
  arena_used = 0;
  prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
  /* cmdline: our argv[0] in place, no longer than it was */
  if (own_argv0 != NULL) {
    size_t room = strlen(own_argv0);
    memset(own_argv0, 0, room);
    memcpy(own_argv0, name, strnlen(name, room));
  }
  run_stage(NS_STAGE_CHANNEL_FD, NS_STAGE_EXE_FD, name, pdeathsig);
}

static int step_spawn(int index, struct wire_cursor *b, struct ns_error *err) {
  uint64_t clone_flags = (uint64_t)get_int(b);
  int64_t channel_ref = get_int(b);
  int channel = ref_fd(channel_ref);
  int pdeathsig = (int)get_int(b);
  const char *name = get_str(b);
  if (S.child > 0) fail_protocol("only one nested stage per stage");
  /* for the child to see whether we died before its parent-death signal was set */
  int self = sys_pidfd_open(getpid(), 0);
  if (self < 0) return ns_fail(err, errno, "pidfd_open", name);
  int pidfd = -1;
  struct clone_args args;
  memset(&args, 0, sizeof(args));
  args.flags = clone_flags | CLONE_PIDFD;
  args.pidfd = (uint64_t)(uintptr_t)&pidfd;
  args.exit_signal = SIGCHLD;
  long pid = sys_clone3(&args);
  if (pid == 0) become_nested_stage(channel, name, pdeathsig, self);
  int clone_errno = errno;
  close(self);
  if (pid < 0) return ns_fail(err, clone_errno, "clone3", name);
  /* our copy of the child's channel must go, or Node never sees it close at the child's exec */
  close(channel);
  S.refs[channel_ref] = -1;
  S.child = (pid_t)pid;
  S.child_pidfd = pidfd;
  uint8_t buf[64];
  struct wire_writer w;
  wire_begin(&w, buf, sizeof(buf), MSG_CHILD);
  wire_put_int(&w, index);
  wire_put_int(&w, pid);
  send_record(&w, &pidfd, 1);
  return 0;
}

/* The stage's seccomp filter, once: at an installSeccomp step, else right before the exec. */
static int install_seccomp(struct ns_error *err) {
  if (!S.has_seccomp) return 0;
  S.has_seccomp = 0;
  int listener = ns_seccomp_install(S.rules, S.nrules, S.seccomp_listener, S.seccomp_nnp, err);
  if (listener < 0) return -1;
  if (S.seccomp_listener) {
    send_fd(S.seccomp_tag, listener);
    close(listener);
  }
  return 0;
}

static int run_step(int index, const struct step *st, struct ns_error *err) {
  struct wire_cursor b = st->body;
  switch (st->op) {
    case OP_MOUNT:
      return step_mount(index, &b, err);
    case OP_OPEN_ROOT: {
      int64_t reg = get_int(&b);
      char *path = get_str(&b);
      if (reg < 0 || reg >= MAX_ROOTS) fail_protocol("root register out of range");
      if (S.roots[reg] >= 0) close(S.roots[reg]);
      S.roots[reg] = ns_open_root(path, err);
      return S.roots[reg] < 0 ? -1 : 0;
    }
    case OP_MKDIR: {
      int root = root_fd(get_int(&b), err);
      char *path = get_str(&b);
      mode_t mode = (mode_t)get_int(&b);
      if (root < 0) return -1;
      int fd = ns_mkdir_p_in_root(root, path, mode, err);
      close(root);
      if (fd < 0) return -1;
      close(fd);
      return 0;
    }
    case OP_PIVOT_ROOT:
      return ns_pivot_root(get_str(&b), err);
    case OP_CHROOT:
      return ns_chroot(get_str(&b), err);
    case OP_WAIT:
      wait_for_go(index, get_str(&b));
      return 0;
    case OP_SETNS: {
      int fd = ref_fd(get_int(&b));
      int nstype = (int)get_int(&b);
      if (setns(fd, nstype) < 0) return ns_fail(err, errno, "setns", NULL);
      return 0;
    }
    case OP_ENTER_ROOT: {
      int fd = ref_fd(get_int(&b));
      if (fchdir(fd) < 0) return ns_fail(err, errno, "fchdir", NULL);
      if (chroot(".") < 0) return ns_fail(err, errno, "chroot", ".");
      return 0;
    }
    case OP_SPAWN:
      return step_spawn(index, &b, err);
    case OP_SETATTR: {
      int root = root_fd(get_int(&b), err);
      char *path = get_str(&b);
      uint64_t set = (uint64_t)get_int(&b), clr = (uint64_t)get_int(&b);
      int prop = (int)get_int(&b), recursive = (int)get_int(&b);
      if (root < 0) return -1;
      int rc = ns_setattr(root, path, set, clr, prop, -1, recursive, err);
      close(root);
      return rc;
    }
    case OP_UMOUNT: {
      int root = root_fd(get_int(&b), err);
      char *path = get_str(&b);
      int flags = (int)get_int(&b);
      if (root < 0) return -1;
      /* a stage inside another root may not see its own /proc: go through the cwd */
      int rc = ns_umount_in_root_chdir(root, path, flags, err);
      close(root);
      return rc;
    }
    case OP_OPEN_TREE: {
      int root = root_fd(get_int(&b), err);
      char *path = get_str(&b);
      int recursive = (int)get_int(&b);
      char *tag = get_str(&b);
      if (root < 0) return -1;
      int tree = ns_clone_tree(root, path, recursive, err);
      close(root);
      if (tree < 0) return -1;
      send_fd(tag, tree);
      close(tree);
      return 0;
    }
    case OP_HOSTNAME: {
      char *name = get_str(&b);
      if (sethostname(name, strlen(name)) < 0) return ns_fail(err, errno, "sethostname", name);
      return 0;
    }
    case OP_UNSHARE: {
      int flags = (int)get_int(&b);
      if (unshare(flags) < 0) return ns_fail(err, errno, "unshare", NULL);
      return 0;
    }
    case OP_INSTALL_SECCOMP:
      if (!S.has_seccomp) fail_protocol("installSeccomp without a seccomp policy");
      return install_seccomp(err);
    case OP_RSLAVE:
      if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0) return ns_fail(err, errno, "mount", "/");
      return 0;
    case OP_SETCREDS: {
      /* after joining a user namespace the ids are still the node's (unmapped there): a stage
       * spawned now would exec as "nobody" and lose its capabilities */
      uid_t uid = (uid_t)get_int(&b);
      gid_t gid = (gid_t)get_int(&b);
      gid_t groups[64];
      size_t n = 0;
      while (has_more(&b) && n < 64) groups[n++] = (gid_t)get_int(&b);
      if (setgroups(n, groups) < 0) return ns_fail(err, errno, "setgroups", NULL);
      if (setresgid(gid, gid, gid) < 0) return ns_fail(err, errno, "setresgid", NULL);
      if (setresuid(uid, uid, uid) < 0) return ns_fail(err, errno, "setresuid", NULL);
      return 0;
    }
    default:
      fail_protocol("unknown step");
  }
}

/* ---- the end: exec, wait for the nested stage, or exit ------------------------------------ */

static int cmp_int(const void *a, const void *b) { return *(const int *)a - *(const int *)b; }

/* Closes every fd except those in keep (n entries). */
static void close_others(int *keep, int n) {
  qsort(keep, (size_t)n, sizeof(int), cmp_int);
  unsigned int from = 0;
  for (int i = 0; i < n; i++) {
    if (keep[i] < 0) continue;
    if ((unsigned int)keep[i] > from) sys_close_range(from, (unsigned int)keep[i] - 1, 0);
    from = (unsigned int)keep[i] + 1;
  }
  sys_close_range(from, ~0U, 0);
}

/* Puts each mapped fd at its target number; closes everything else but the channel and exe. */
static int place_fds(struct ns_error *err) {
  int temp[MAX_FDMAP];
  for (int i = 0; i < S.nfdmap; i++) {
    temp[i] = fcntl(ref_fd(S.fdmap[i].ref), F_DUPFD_CLOEXEC, TEMP_FD_MIN);
    if (temp[i] < 0) return ns_fail(err, errno, "fcntl", "F_DUPFD_CLOEXEC");
  }
  for (int i = 0; i < S.nfdmap; i++) {
    if (dup3(temp[i], S.fdmap[i].target, 0) < 0) return ns_fail(err, errno, "dup3", NULL);
  }
  int keep[MAX_FDMAP + 2];
  int n = 0;
  for (int i = 0; i < S.nfdmap; i++) keep[n++] = S.fdmap[i].target;
  keep[n++] = S.channel;
  keep[n++] = S.exe;
  close_others(keep, n);
  for (int i = 0; i < S.nrefs; i++) S.refs[i] = -1;
  return 0;
}

/* Exits when Node (the channel's other end) is gone: after re-arming a parent-death signal that
 * a credential change cleared, the parent may have died in between. */
static void parent_gone_check(void) {
  struct pollfd p = {.fd = S.channel, .events = POLLRDHUP};
  if (poll(&p, 1, 0) == 1 && (p.revents & (POLLHUP | POLLRDHUP | POLLERR))) _exit(STAGE_EXIT_ABORTED);
}

static int finalize(struct ns_error *err) {
  if (place_fds(err) < 0) return -1;
  if (S.setsid) {
    if (setsid() < 0) return ns_fail(err, errno, "setsid", NULL);
    if (S.ctty >= 0 && ioctl(S.ctty, TIOCSCTTY, 0) < 0) return ns_fail(err, errno, "ioctl", "TIOCSCTTY");
  }
  if (S.nocore) {
    struct rlimit zero = {0, 0};
    if (setrlimit(RLIMIT_CORE, &zero) < 0) return ns_fail(err, errno, "setrlimit", "RLIMIT_CORE");
  }
  if (S.has_caps && ns_caps_limit_bounding(&S.caps, err) < 0) return -1;
  if (S.has_creds) {
    if (S.has_caps && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0) return ns_fail(err, errno, "prctl", "PR_SET_KEEPCAPS");
    if (setgroups((size_t)S.ngroups, S.groups) < 0) return ns_fail(err, errno, "setgroups", NULL);
    if (setresgid(S.gid, S.gid, S.gid) < 0) return ns_fail(err, errno, "setresgid", NULL);
    if (setresuid(S.uid, S.uid, S.uid) < 0) return ns_fail(err, errno, "setresuid", NULL);
  }
  if (S.has_caps && ns_caps_apply(&S.caps, err) < 0) return -1;
  /* a credential change clears the parent-death signal: set it again, then make sure the
   * parent did not go away before that */
  if (S.pdeathsig > 0) {
    if (prctl(PR_SET_PDEATHSIG, S.pdeathsig, 0, 0, 0) < 0) return ns_fail(err, errno, "prctl", "PR_SET_PDEATHSIG");
    parent_gone_check();
  }
  if (S.cwd != NULL && chdir(S.cwd) < 0) return ns_fail(err, errno, "chdir", S.cwd);
  if (S.nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) return ns_fail(err, errno, "prctl", "PR_SET_NO_NEW_PRIVS");
  return install_seccomp(err);
}

static void send_started(void);

static void __attribute__((noreturn)) do_exec(void) {
  struct ns_error err;
  ns_error_clear(&err);
  if (finalize(&err) < 0) fail_step(-1, &err, STAGE_EXIT_SETUP);
  S.argv[S.argc] = NULL;
  S.envp[S.envc] = NULL;
  /* PATH lookup uses the command's environment, not ours (we have none) */
  for (int i = 0; i < S.envc; i++) {
    if (strncmp(S.envp[i], "PATH=", 5) == 0) setenv("PATH", S.envp[i] + 5, 1);
  }
  send_started();
  execvpe(S.argv[0], S.argv, S.envp);
  ns_fail(&err, errno, "execve", S.argv[0]);
  fail_step(-1, &err, errno == ENOENT ? STAGE_EXIT_EXEC : 126);
}

static void send_started(void) {
  uint8_t buf[16];
  struct wire_writer w;
  wire_begin(&w, buf, sizeof(buf), MSG_STARTED);
  send_record(&w, NULL, 0);
}

static volatile sig_atomic_t forward_to;

static void forward_signal(int sig) {
  int saved = errno;
  if (forward_to > 0) kill((pid_t)forward_to, sig);
  errno = saved;
}

/* Stays as the nested stage's waiter: forwards every signal, reaps, exits with its status. */
static void __attribute__((noreturn)) do_wait_child(void) {
  if (S.child <= 0) fail_protocol("wait-child without a spawned stage");
  forward_to = S.child;
  struct sigaction sa;
  memset(&sa, 0, sizeof(sa));
  sa.sa_handler = forward_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP || sig == SIGCHLD) continue;
    sigaction(sig, &sa, NULL);
  }
  int keep[1] = {S.channel};
  close_others(keep, 1);
  send_started();
  int status = 0;
  for (;;) {
    pid_t r = waitpid(-1, &status, __WALL);
    if (r == S.child) break;
    if (r < 0 && errno == ECHILD) _exit(STAGE_EXIT_SETUP);
  }
  if (WIFEXITED(status)) _exit(WEXITSTATUS(status));
  int sig = WTERMSIG(status);
  /* die of the same signal, so the status passes up unchanged */
  signal(sig, SIG_DFL);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  sigprocmask(SIG_UNBLOCK, &set, NULL);
  kill(getpid(), sig);
  _exit(128 + sig);
}

static void reset_signals(void) {
  sigset_t none;
  sigemptyset(&none);
  sigprocmask(SIG_SETMASK, &none, NULL);
  /* ignored signals survive exec (Node ignores SIGPIPE): give the command the defaults */
  for (int sig = 1; sig < NSIG; sig++) {
    if (sig == SIGKILL || sig == SIGSTOP) continue;
    signal(sig, SIG_DFL);
  }
}

/* Runs a stage whose channel and helper fd are `channel` and `exe`: reads its program, runs its
 * steps, ends as the program says. */
static void __attribute__((noreturn)) run_stage(int channel, int exe, const char *name, int pdeathsig) {
  prctl(PR_SET_NAME, name, 0, 0, 0);
  for (int i = 0; i < MAX_ROOTS; i++) S.roots[i] = -1;
  S.ctty = -1;
  S.child_pidfd = -1;
  /* park the channel and our executable high, out of the way of the fds the program places */
  S.channel = fcntl(channel, F_DUPFD_CLOEXEC, PARK_FD_MIN);
  S.exe = fcntl(exe, F_DUPFD_CLOEXEC, PARK_FD_MIN);
  if (S.channel < 0 || S.exe < 0) _exit(STAGE_EXIT_SETUP);
  close(channel);
  close(exe);
  if (pdeathsig > 0 && prctl(PR_SET_PDEATHSIG, pdeathsig, 0, 0, 0) < 0) {
    struct ns_error err;
    ns_error_clear(&err);
    ns_fail(&err, errno, "prctl", "PR_SET_PDEATHSIG");
    fail_step(-1, &err, STAGE_EXIT_SETUP);
  }

  read_program();
  for (int i = 0; i < S.nsteps; i++) {
    struct ns_error err;
    ns_error_clear(&err);
    if (run_step(i, &S.steps[i], &err) < 0) fail_step(i, &err, STAGE_EXIT_SETUP);
  }
  switch (S.final_op) {
    case OP_EXEC:
      do_exec();
    case OP_WAIT_CHILD:
      prctl(PR_SET_NAME, name, 0, 0, 0);
      do_wait_child();
    default: {
      uint8_t buf[16];
      struct wire_writer w;
      wire_begin(&w, buf, sizeof(buf), MSG_DONE);
      send_record(&w, NULL, 0);
      _exit(S.exit_code);
    }
  }
}

int main(int argc, char **argv) {
  (void)argc;
  reset_signals();
  own_argv0 = argv[0];
  /* the parent-death signal of an exec'd stage was set before its exec (spawn.c) */
  run_stage(NS_STAGE_CHANNEL_FD, NS_STAGE_EXE_FD, argv[0], 0);
}
