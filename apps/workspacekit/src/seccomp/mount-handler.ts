import type { LevelLogger } from '@wsrun/common';
import type { SeccompNotification, SeccompSupervisor } from '@wsrun/native-ns';
import { readFileSync, readlinkSync } from 'node:fs';
import { posix } from 'node:path';
import { DaemonCallError, type DaemonClient } from '../ring0/daemon-client';

// mount(2) flags that make a call something other than "mount a new filesystem"
const MS_REMOUNT = 0x20n;
const MS_BIND = 0x1000n;
const MS_MOVE = 0x2000n;
const MS_SHARED_KINDS = 0x100000n | 0x80000n | 0x40000n | 0x20000n; // shared, slave, private, unbindable
const NOT_A_NEW_MOUNT = MS_REMOUNT | MS_BIND | MS_MOVE | MS_SHARED_KINDS;

const DAEMON_MOUNTED = new Set(['proc', 'sysfs']);

export interface DaemonMount {
  kind: 'proc' | 'sysfs';
  /** the path inside the workspace, as resolved for the call that mounted it */
  target: string;
}

/**
 * ring0's answer to the workspace's mount(2) and umount2(2) calls (the seccomp filter sends them
 * here). proc and sysfs go to the daemon, which mounts them masked and locked; umount of such a
 * mount goes to the daemon, and umount of anything below one (its masks) is refused with EPERM.
 * Everything else is left to the kernel (CONTINUE), which applies its own rules for root in a
 * user namespace: nothing is decided here on a check the kernel's run could contradict.
 */
export class MountHandler {
  private readonly mounts: DaemonMount[] = [];
  private lastErrorLog = 0;
  private suppressed = 0;

  constructor(
    private readonly supervisor: SeccompSupervisor,
    private readonly daemon: DaemonClient,
    private readonly log: LevelLogger,
    /** mounts the daemon made before the filter existed (the workspace's /proc) */
    initial: DaemonMount[] = [],
  ) {
    this.mounts.push(...initial);
  }

  /** Handles notifications until the filter is gone (every filtered process exited). */
  async run(): Promise<void> {
    for await (const n of this.supervisor) {
      try {
        await this.handle(n);
      } catch (err) {
        this.logRateLimited(n, err);
        this.answer(n, () => this.supervisor.respondError(n.id, 'EPERM'));
      }
    }
  }

  private async handle(n: SeccompNotification): Promise<void> {
    if (n.syscall === 'mount') return this.onMount(n);
    if (n.syscall === 'umount2' || n.syscall === 'umount') return this.onUmount(n);
    this.answer(n, () => this.supervisor.respondContinue(n.id));
  }

  private async onMount(n: SeccompNotification): Promise<void> {
    const fstype = n.args[2] ? this.supervisor.readString(n.pid, n.args[2]) : '';
    const flags = n.args[3] ?? 0n;
    if (!DAEMON_MOUNTED.has(fstype) || (flags & NOT_A_NEW_MOUNT) !== 0n) {
      this.answer(n, () => this.supervisor.respondContinue(n.id));
      return;
    }
    const target = this.resolve(n.pid, this.supervisor.readString(n.pid, n.args[1]!));
    // the caller may have died while we read its memory: nothing to do then
    if (!this.supervisor.isValid(n.id)) return;
    const kind = fstype as 'proc' | 'sysfs';
    try {
      await this.daemon.mount(kind, target, n.pid);
      this.mounts.push({ kind, target });
      this.answer(n, () => this.supervisor.respondValue(n.id, 0));
    } catch (err) {
      this.answer(n, () => this.supervisor.respondError(n.id, errnoOf(err)));
    }
  }

  private async onUmount(n: SeccompNotification): Promise<void> {
    const target = this.resolve(n.pid, this.supervisor.readString(n.pid, n.args[0]!));
    if (this.mounts.some((m) => target.startsWith(`${m.target}/`))) {
      this.answer(n, () => this.supervisor.respondError(n.id, 'EPERM'));
      return;
    }
    const index = this.mounts.findIndex((m) => m.target === target);
    if (index < 0) {
      this.answer(n, () => this.supervisor.respondContinue(n.id));
      return;
    }
    if (!this.supervisor.isValid(n.id)) return;
    try {
      await this.daemon.umount(this.mounts[index]!.kind, target, n.pid);
      this.mounts.splice(index, 1);
      this.answer(n, () => this.supervisor.respondValue(n.id, 0));
    } catch (err) {
      this.answer(n, () => this.supervisor.respondError(n.id, errnoOf(err)));
    }
  }

  /**
   * The target as a path inside the caller's root: relative paths join the caller's cwd and
   * /proc/self names the caller by its pid in its own pid namespace. The daemon resolves the
   * result inside the caller's root again (symlinks included), so nothing here has to be trusted.
   */
  private resolve(pid: number, target: string): string {
    let path = target;
    if (!path.startsWith('/')) path = posix.join(readlinkSync(`/proc/${pid}/cwd`), path);
    path = posix.normalize(path);
    if (path === '/proc/self' || path.startsWith('/proc/self/')) {
      const nspid = /^NSpid:\s*(.*)$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]?.trim().split(/\s+/).pop();
      if (nspid) path = path.replace('/proc/self', `/proc/${nspid}`);
    }
    return path.length > 1 ? path.replace(/\/+$/, '') : path;
  }

  /** Sends an answer; a caller that died meanwhile (ENOENT) needs none. */
  private answer(n: SeccompNotification, respond: () => void): void {
    try {
      respond();
    } catch (err) {
      if ((err as { code?: string }).code !== 'ENOENT') this.logRateLimited(n, err);
    }
  }

  /** At most one error line per second, with the number of the ones not shown. */
  private logRateLimited(n: SeccompNotification, err: unknown): void {
    const now = Date.now();
    if (now - this.lastErrorLog < 1000) {
      this.suppressed++;
      return;
    }
    this.log.warn({ syscall: n.syscall, pid: n.pid, err: (err as Error).message, suppressed: this.suppressed }, 'seccomp notification failed');
    this.lastErrorLog = now;
    this.suppressed = 0;
  }
}

function errnoOf(err: unknown): string {
  if (err instanceof DaemonCallError && err.errno) return err.errno;
  if (err instanceof DaemonCallError) {
    // no errno from the kernel: map the daemon's refusal
    return err.grpcCode === 7 ? 'EPERM' : err.grpcCode === 3 ? 'EINVAL' : err.grpcCode === 5 ? 'ENOENT' : 'EPERM';
  }
  return 'EPERM';
}
