import { constants as osConstants } from 'node:os';
import { native } from './loader';
import type { NativeSeccompListener } from './native';
import { NativeNsError } from './native-ns.error';

/**
 * The supervisor side of seccomp user notifications. A stage installs the filter (its `seccomp`
 * setting) and hands the listener fd to Node; a SeccompSupervisor receives the notifications on
 * its own thread and delivers them here, in order, as an async iterable.
 */

export interface SeccompNotification {
  id: bigint;
  /** the calling thread, in this process's pid namespace */
  pid: number;
  nr: number;
  /** the syscall's name, or null when native-ns's table does not know the number */
  syscall: string | null;
  args: bigint[];
}

export class SeccompSupervisor implements AsyncIterable<SeccompNotification> {
  private readonly listener: NativeSeccompListener;
  private readonly queue: SeccompNotification[] = [];
  private readonly takers: ((n: IteratorResult<SeccompNotification>) => void)[] = [];
  private ended = false;
  private endError: Error | undefined;

  /** Takes ownership of listenerFd. */
  constructor(private readonly listenerFd: number) {
    this.listener = new (native().SeccompListener)(listenerFd, (n, error) => {
      if (n === null) {
        this.ended = true;
        this.endError = error;
        for (const take of this.takers.splice(0)) take({ done: true, value: undefined });
        return;
      }
      const notification: SeccompNotification = { id: n.id, pid: n.pid, nr: n.nr, syscall: n.syscall, args: n.args };
      const take = this.takers.shift();
      if (take) take({ done: false, value: notification });
      else this.queue.push(notification);
    });
  }

  /** Why the stream ended, when it ended with an error. */
  get error(): Error | undefined {
    return this.endError;
  }

  [Symbol.asyncIterator](): AsyncIterator<SeccompNotification> {
    return {
      next: () => {
        const queued = this.queue.shift();
        if (queued) return Promise.resolve({ done: false, value: queued });
        if (this.ended) return Promise.resolve({ done: true, value: undefined });
        return new Promise((resolve) => this.takers.push(resolve));
      },
      return: () => {
        this.close();
        return Promise.resolve({ done: true, value: undefined });
      },
    };
  }

  /** True while the caller still waits for an answer to `id` (check right before acting). */
  isValid(id: bigint): boolean {
    return native().notifIdValid(this.listenerFd, id);
  }

  /** The syscall fails with this errno (e.g. 'EPERM'). Throws ENOENT if the caller is gone. */
  respondError(id: bigint, errno: string): void {
    const n = (osConstants.errno as Record<string, number>)[errno];
    if (n === undefined) throw new TypeError(`unknown errno "${errno}"`);
    native().notifRespond(this.listenerFd, id, { error: n });
  }

  /** The syscall returns `value` without running (a faked success is 0). */
  respondValue(id: bigint, value = 0): void {
    native().notifRespond(this.listenerFd, id, { value });
  }

  /** The kernel runs the syscall as if it had not been intercepted. Never use it after a check
   *  whose result the kernel's own run could contradict (time-of-check races). */
  respondContinue(id: bigint): void {
    native().notifRespond(this.listenerFd, id, { continue: true });
  }

  /** Copies fd into the caller's fd table; with send, that is also the syscall's answer. */
  addFd(id: bigint, fd: number, send = false): number {
    return native().notifAddFd(this.listenerFd, id, fd, send);
  }

  /** Reads a NUL-terminated string argument from the caller's memory. */
  readString(pid: number, addr: bigint, max = 4096): string {
    return native().readString(pid, addr, max);
  }

  readMemory(pid: number, addr: bigint, length: number): Buffer {
    return native().readMemory(pid, addr, length);
  }

  /** Stops the thread and closes the listener: pending and later notified calls get ENOSYS. */
  close(): void {
    this.listener.close();
    if (!this.ended) {
      this.ended = true;
      for (const take of this.takers.splice(0)) take({ done: true, value: undefined });
    }
  }
}

/** The syscall number on this architecture (throws for unknown names). */
export function syscallNumber(name: string): number {
  const nr = native().syscallNumber(name);
  if (nr < 0) throw new NativeNsError({ errno: osConstants.errno.ENOSYS, code: 'ENOSYS', syscall: name, detail: 'unknown on this architecture' });
  return nr;
}
