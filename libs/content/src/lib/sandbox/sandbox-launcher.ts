import { closeSync } from 'node:fs';
import { spawnStage, type ExitStatus, type Stage, type StageOptions } from '@wsrun/native-ns';

/**
 * The sandbox launcher: a short-lived Node process running as the workspace's host uid (33333)
 * that spawns the sandbox stage for the privileged parent. Why it exists: a stage cloned by
 * host root keeps kuid 0, which the workspace mapping (0 → 33333) leaves unmapped, so the
 * stage's exec of its helper drops every capability and its first mount fails with EPERM.
 * Cloned by uid 33333, the stage is root of its namespace once the parent wrote the maps
 * (ring0 and ring1 work the same way). See the report on native-ns in the issue.
 *
 * Protocol on the Node IPC channel (JSON):
 *   parent → launcher   {type:'spawn', options: StageOptions}   {type:'release'}
 *   launcher → parent   {type:'spawned', pid}   {type:'ready'}   {type:'failed', error}   {type:'exited', status}
 * The fds the stage places are the launcher's fds LAUNCHER_FIRST_FD.. (stdio of the spawn).
 * If the parent goes away, the launcher exits, and the stage's parent-death signal kills it.
 */
export const LAUNCHER_FIRST_FD = 4;

export interface LauncherError {
  message: string;
  code?: string;
  syscall?: string;
  path?: string;
  step?: string;
}

export type LauncherRequest = { type: 'spawn'; options: StageOptions } | { type: 'release' };
export type LauncherEvent =
  | { type: 'spawned'; pid: number }
  | { type: 'ready' }
  | { type: 'failed'; error: LauncherError }
  | { type: 'exited'; status: ExitStatus };

export function runSandboxLauncher(): Promise<number> {
  const send = (event: LauncherEvent): void => {
    process.send?.(event);
  };
  return new Promise<number>((resolve) => {
    if (!process.send) {
      process.stderr.write('sandbox-launcher: started by content-init only (no IPC channel)\n');
      resolve(2);
      return;
    }
    let stage: Stage | undefined;
    process.on('disconnect', () => resolve(1));
    process.on('message', (msg: LauncherRequest) => {
      if (msg.type === 'spawn' && !stage) {
        try {
          stage = spawnStage(msg.options);
        } catch (err) {
          send({ type: 'failed', error: errorFields(err) });
          closePassedFds(msg.options);
          resolve(1);
          return;
        }
        const options = msg.options;
        send({ type: 'spawned', pid: stage.pid });
        stage.ready.then(
          () => send({ type: 'ready' }),
          (err: unknown) => send({ type: 'failed', error: errorFields(err) }),
        );
        // our copies of the sandbox's fds must go once it has them, or the parent never sees EOF
        stage.ready.finally(() => closePassedFds(options)).catch(() => undefined);
        stage.exited.then((status) => {
          send({ type: 'exited', status });
          process.disconnect?.();
          resolve(0);
        });
      } else if (msg.type === 'release' && stage) {
        stage.release();
      }
    });
  });
}

function closePassedFds(options: StageOptions): void {
  for (const fd of Object.values(options.fds ?? {})) {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
  }
}

function errorFields(err: unknown): LauncherError {
  const e = err as { message?: string; code?: string; syscall?: string; path?: string; step?: string };
  return {
    message: e?.message ?? String(err),
    ...(e?.code ? { code: e.code } : {}),
    ...(e?.syscall ? { syscall: e.syscall } : {}),
    ...(e?.path ? { path: e.path } : {}),
    ...(e?.step ? { step: e.step } : {}),
  };
}
