// Numbers shared with the C side. Twin: libs/native-ns/src/core/wire.h, mounts.h, spawn.h,
// seccomp.h and src/stage/stage_main.c. Keep them equal.

export const Msg = {
  RELEASE: 1,
  ABORT: 2,
  PROGRAM: 3,
  GO: 4,
  ERROR: 10,
  CHILD: 11,
  FD: 12,
  WAITING: 13,
  NOTICE: 14,
  DONE: 15,
  STARTED: 16,
} as const;

export const Op = {
  ARGV: 1,
  ENV: 2,
  CWD: 3,
  CREDS: 4,
  FD: 5,
  PDEATHSIG: 6,
  SETSID: 7,
  NNP: 8,
  CAPS: 9,
  NOCORE: 11,
  SECCOMP: 13,
  MOUNT: 20,
  OPEN_ROOT: 21,
  MKDIR: 22,
  PIVOT_ROOT: 23,
  CHROOT: 24,
  WAIT: 25,
  SETNS: 26,
  ENTER_ROOT: 27,
  SPAWN: 28,
  SETATTR: 29,
  UMOUNT: 30,
  OPEN_TREE: 31,
  HOSTNAME: 32,
  RSLAVE: 33,
  SETCREDS: 34,
  UNSHARE: 35,
  INSTALL_SECCOMP: 36,
  EXEC: 40,
  WAIT_CHILD: 41,
  EXIT: 42,
} as const;

export const WIRE_NONE = -1;
export const WIRE_MAX_MESSAGE = 256 * 1024;

/** Exit codes of the stage helper itself (stage_main.c). */
export const StageExit = {
  SETUP: 125,
  ABORTED: 124,
  EXEC: 127,
} as const;

/** ns_mount_kind (mounts.h). */
export const MountKind = { bind: 1, rbind: 2, fs: 3, fd: 4 } as const;

/** ns_propagation (mounts.h). */
export const PropagationCode = { none: 0, private: 1, slave: 2, shared: 3, unbindable: 4 } as const;

/** NS_MOUNT_ATTR_* (sys.h, the kernel's MOUNT_ATTR_*). */
export const MountAttrBit = {
  rdonly: 0x1,
  nosuid: 0x2,
  nodev: 0x4,
  noexec: 0x8,
  noatime: 0x10,
  nodiratime: 0x80,
  idmap: 0x100000,
  nosymfollow: 0x200000,
} as const;

/** NS_SECCOMP_ACT_NOTIFY (seccomp.h). */
export const SECCOMP_ACT_NOTIFY = -1;

/** clone(2) namespace flags. */
export const CloneFlag = {
  cgroup: 0x02000000,
  uts: 0x04000000,
  ipc: 0x08000000,
  user: 0x10000000,
  pid: 0x20000000,
  net: 0x40000000,
  mount: 0x00020000,
} as const;

/** umount2 flags. */
export const UmountFlag = { force: 1, detach: 2, expire: 4, nofollow: 8 } as const;
