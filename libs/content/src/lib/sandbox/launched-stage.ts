import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { WsError, WsErrorCode } from '@wsrun/common';
import { closeFd, pidfdOpen, pidfdSendSignal, type ExitStatus, type StageOptions } from '@wsrun/native-ns';
import { LAUNCHER_FIRST_FD, type LauncherError, type LauncherEvent, type LauncherRequest } from './sandbox-launcher';

/**
 * The parent's handle on a sandbox stage started through the launcher (sandbox-launcher.ts):
 * like native-ns's Stage (pid, release, ready, exited, kill), across the launcher's IPC channel.
 * The parent (root) writes the id maps between `spawned` and `release()`.
 */
export class LaunchedStage {
  /** resolves with the stage's pid (in this pid namespace) once it is held for its maps */
  readonly spawned: Promise<number>;
  /** resolves when the command was exec'd; rejects with the failing step */
  readonly ready: Promise<void>;
  readonly exited: Promise<ExitStatus>;
  private readonly launcher: ChildProcess;
  private pidfd = -1;
  private output = '';

  /**
   * Starts the launcher (`node <bundle>/main.js sandbox-launcher`) as uid/gid, with `passFds`
   * (fds of this process) at LAUNCHER_FIRST_FD.. in it, and asks it to spawn `options`, whose
   * `fds` must name those launcher fds.
   */
  constructor(opts: { nodePath: string; bundleDir: string; uid: number; gid: number; options: StageOptions; passFds: number[] }) {
    this.launcher = spawn(opts.nodePath, [join(opts.bundleDir, 'main.js'), 'sandbox-launcher'], {
      uid: opts.uid,
      gid: opts.gid,
      cwd: '/',
      env: { PATH: '/usr/bin:/bin', WSRUN_NATIVE_DIR: join(opts.bundleDir, 'native') },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc', ...opts.passFds],
    });
    for (const s of [this.launcher.stdout, this.launcher.stderr]) s?.setEncoding('utf8').on('data', (d: string) => (this.output = (this.output + d).slice(-4096)));
    let onSpawned!: { resolve: (pid: number) => void; reject: (e: Error) => void };
    let onReady!: { resolve: () => void; reject: (e: Error) => void };
    let onExited!: { resolve: (s: ExitStatus) => void; reject: (e: Error) => void };
    this.spawned = new Promise((resolve, reject) => (onSpawned = { resolve, reject }));
    this.ready = new Promise((resolve, reject) => (onReady = { resolve, reject }));
    this.exited = new Promise((resolve, reject) => (onExited = { resolve, reject }));
    for (const p of [this.spawned, this.ready, this.exited]) p.catch(() => undefined);
    this.launcher.on('message', (event: LauncherEvent) => {
      switch (event.type) {
        case 'spawned':
          // a pidfd right away: signals can never reach a recycled pid
          this.pidfd = pidfdOpen(event.pid);
          onSpawned.resolve(event.pid);
          break;
        case 'ready':
          onReady.resolve();
          break;
        case 'failed': {
          const err = launcherError(event.error);
          onSpawned.reject(err);
          onReady.reject(err);
          break;
        }
        case 'exited':
          onExited.resolve(event.status);
          break;
      }
    });
    // 'close' comes after every IPC message was delivered
    this.launcher.on('close', (code, signal) => {
      const gone = new WsError(WsErrorCode.Internal, `the sandbox launcher exited (${signal ?? `code ${code}`}) early${this.output ? `: ${this.output.trim()}` : ''}`);
      onSpawned.reject(gone);
      onReady.reject(gone);
      onExited.reject(gone);
    });
    this.launcher.on('error', (err) => {
      const e = WsError.wrap('starting the sandbox launcher', err, WsErrorCode.Internal);
      onSpawned.reject(e);
      onReady.reject(e);
      onExited.reject(e);
    });
    this.request({ type: 'spawn', options: opts.options });
  }

  release(): void {
    this.request({ type: 'release' });
  }

  /** SIGKILL to the stage (pid 1 of its namespace: everything inside dies) and to the launcher. */
  kill(): void {
    if (this.pidfd >= 0) {
      try {
        pidfdSendSignal(this.pidfd, 'SIGKILL');
      } catch {
        // gone already
      }
    }
    this.launcher.kill('SIGKILL');
  }

  /** Frees the pidfd; the launcher ends by itself after reporting the exit. */
  close(): void {
    if (this.pidfd >= 0) closeFd(this.pidfd);
    this.pidfd = -1;
    if (this.launcher.exitCode === null && this.launcher.signalCode === null) this.launcher.kill('SIGKILL');
  }

  private request(msg: LauncherRequest): void {
    if (this.launcher.connected) this.launcher.send(msg);
  }
}

/** Where the child's fds are in the launcher, for StageOptions.fds. */
export function launcherFdMap(targets: number[]): Record<number, number> {
  return Object.fromEntries(targets.map((t, i) => [t, LAUNCHER_FIRST_FD + i]));
}

function launcherError(e: LauncherError): WsError {
  const err = new WsError(WsErrorCode.Internal, e.message);
  Object.assign(err, { cause: { code: e.code, syscall: e.syscall, path: e.path, step: e.step } });
  return err;
}
