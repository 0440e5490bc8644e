import type { SeccompPolicy } from '@wsrun/native-ns';

/**
 * The seccomp filter of every workspace command (installed by ring2 right before exec), as data
 * with the reason for each entry. Everything not listed runs unfiltered; the kernel's own checks
 * for a root user inside a user namespace still apply.
 */
export const NOTIFIED_SYSCALLS: { syscall: string; why: string }[] = [
  { syscall: 'mount', why: 'proc and sysfs are mounted by the daemon, masked and locked; other types go on to the kernel' },
  { syscall: 'umount2', why: 'the masks of a daemon-mounted proc must stay; the proc itself is unmounted by the daemon' },
];

export const REFUSED_SYSCALLS: { syscall: string; errno: string; why: string }[] = [
  { syscall: 'open_tree', errno: 'EPERM', why: 'a detached copy of a masked proc would carry no masks' },
  { syscall: 'move_mount', errno: 'EPERM', why: 'moving mounts around would dodge the mount handler' },
];

export function workspaceSeccompPolicy(listenerTag: string): SeccompPolicy {
  return {
    notify: NOTIFIED_SYSCALLS.map((s) => s.syscall),
    errno: Object.fromEntries(REFUSED_SYSCALLS.map((s) => [s.syscall, s.errno])),
    listenerTag,
  };
}
