import { applyMasks, closeFd, createFs, openPath, runInNamespaces, setMountAttr, type MaskKind } from '@wsrun/native-ns';
import { mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';

/**
 * proc and sysfs for a workspace, built on the node as detached trees and masked like a container
 * runtime masks them, before anything reaches the workspace (see TreeDelivery for how they get
 * there with their masks locked). Each entry says why it is there.
 */
interface Mask {
  path: string;
  /** file: /dev/null over it; dir: an empty read-only tmpfs over it; readonly: a read-only bind of itself */
  how: MaskKind;
  why: string;
}

export const PROC_MASKS: readonly Mask[] = [
  { path: 'kcore', how: 'file', why: 'physical memory of the node' },
  { path: 'kallsyms', how: 'file', why: 'kernel symbol addresses (KASLR bypass)' },
  { path: 'keys', how: 'file', why: 'keys of the kernel keyring' },
  { path: 'timer_list', how: 'file', why: 'timers of every process on the node' },
  { path: 'timer_stats', how: 'file', why: 'timers of every process on the node' },
  { path: 'sched_debug', how: 'file', why: 'scheduler state of every process on the node' },
  { path: 'latency_stats', how: 'file', why: 'kernel latency data' },
  { path: 'sysrq-trigger', how: 'file', why: 'reboots or crashes the node' },
  { path: 'acpi', how: 'dir', why: 'hardware control' },
  { path: 'scsi', how: 'dir', why: 'device control' },
  { path: 'asound', how: 'dir', why: 'sound devices of the node' },
  { path: 'sys', how: 'readonly', why: 'kernel tunables are the node\'s, not the workspace\'s' },
  { path: 'bus', how: 'readonly', why: 'device configuration' },
  { path: 'fs', how: 'readonly', why: 'filesystem tunables' },
  { path: 'irq', how: 'readonly', why: 'interrupt routing' },
];

export const SYSFS_MASKS: readonly Mask[] = [
  { path: 'firmware', how: 'dir', why: 'firmware tables and EFI variables of the node' },
  { path: 'devices/virtual/powercap', how: 'dir', why: 'energy counters (power side channel)' },
  { path: 'kernel/security', how: 'dir', why: 'LSM policy of the node' },
  { path: 'kernel/debug', how: 'dir', why: 'debugfs of the node' },
];

/** A masked proc of the pid namespace of host pid `pid`. Returns the detached tree's fd. */
export function createMaskedProc(pid: number): number {
  const pidns = openPath(`/proc/${pid}/ns/pid`, 0);
  try {
    const tree = createFs('proc', { pidnsFd: pidns, attr: ['nosuid', 'nodev', 'noexec'] });
    try {
      applyMasks(tree, PROC_MASKS);
      return tree;
    } catch (err) {
      closeFd(tree);
      throw err;
    }
  } finally {
    closeFd(pidns);
  }
}

/**
 * A masked, read-only sysfs of the net namespace of host pid `pid`. sysfs takes the net namespace
 * of the task that creates it, so a thread of the daemon joins that namespace (only it: every
 * path is the daemon's own), mounts it on a scratch folder on the node and hands a clone back.
 */
export async function createMaskedSysfs(pid: number, scratchDir: string): Promise<number> {
  const scratch = join(scratchDir, `sysfs-${randomUUID()}`);
  mkdirSync(scratch, { recursive: true, mode: 0o700 });
  let tree: number;
  try {
    const { trees } = await runInNamespaces(
      { pid, namespaces: ['net'], enterRoot: false },
      [
        { op: 'mountFs', fstype: 'sysfs', target: scratch, attr: ['nosuid', 'nodev', 'noexec'] },
        { op: 'openTree', path: scratch, recursive: true },
        { op: 'umount', path: scratch, detach: true },
      ],
      { fromThread: true },
    );
    tree = trees[0]!;
  } finally {
    rmdirSync(scratch);
  }
  try {
    applyMasks(tree, SYSFS_MASKS);
    setMountAttr(tree, { set: ['rdonly'], recursive: true });
    return tree;
  } catch (err) {
    closeFd(tree);
    throw err;
  }
}

