import { WsError, WsErrorCode } from '@wsrun/common';
import { closeFd, exitCodeOf, FORWARDED_SIGNALS, openPath, pidfdOpen, spawnStage } from '@wsrun/native-ns';
import { readdirSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';

/** Where `workspacekit exec` delivers the signals it receives. */
export type SignalScope = 'process' | 'group' | 'workspace';

export interface ExecOptions {
  /** ring2's pid (the workspace's pid 1, as this process sees it) */
  ring2: number;
  argv: string[];
  env?: Record<string, string>;
  cwd?: string;
  signalScope?: SignalScope;
  /** ids inside the workspace; default root (0:0) */
  uid?: number;
  gid?: number;
}

const O_PATH = 0o10000000;
const O_DIRECTORY = 0o200000;

/**
 * `docker exec` for a workspace: runs a command in ring2's user, mount and pid namespaces and root,
 * with this process's stdio, and resolves with its exit status. A stage joins the namespaces
 * (through a pidfd, so a recycled pid can never be joined) and enters the root; a nested stage,
 * created after the join, is the command, inside the workspace's pid namespace, in a process group
 * of its own. Signals this process receives go to the command, its process group, or every
 * process of the workspace.
 */
export async function execInWorkspace(opts: ExecOptions): Promise<number> {
  const pidfd = pidfdOpen(opts.ring2);
  const rootFd = openPath(`/proc/${opts.ring2}/root`, O_PATH | O_DIRECTORY);
  // handlers first: a signal that came before the command was running would otherwise end this
  // process (the default action) and leave the command to its parent-death signal
  const signals = new SignalGate();
  try {
    const stage = spawnStage({
      name: 'wskit:exec',
      steps: [
        { op: 'setns', fd: pidfd, namespaces: ['user', 'mount', 'pid'] },
        { op: 'enterRoot', fd: rootFd },
        // root of the joined user namespace, so the command's stage keeps its capabilities
        { op: 'setCreds', uid: 0, gid: 0 },
        {
          op: 'spawn',
          stage: {
            name: 'wskit:exec-cmd',
            setsid: true,
            // ids inside the joined user namespace: root there is the workspace user on the node
            uid: opts.uid ?? 0,
            gid: opts.gid ?? 0,
            groups: [],
            fds: { 0: 0, 1: 1, 2: 2 },
            end: { exec: { argv: opts.argv, env: opts.env ?? { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root' }, cwd: opts.cwd ?? '/' } },
          },
        },
      ],
      end: 'waitChild',
    });
    const command = await stage.nested!.spawned().catch(async (err: Error) => {
      await stage.exited;
      throw new WsError(WsErrorCode.FailedPrecondition, `exec into the workspace of pid ${opts.ring2}: ${err.message}`, { cause: err });
    });
    const started = stage.nested!.ready.catch((err: Error) => process.stderr.write(`workspacekit exec: ${err.message}\n`));
    // signals go on once the waiter forwards them (stage ready) and the command's process group
    // exists (its stage is at exec); until then they wait in the gate
    void Promise.allSettled([stage.whenStarted(), started]).then(() => signals.open(target(opts.signalScope ?? 'process', opts.ring2, command.pid, (sig) => stage.kill(sig))));
    await started;
    return exitCodeOf(await stage.exited);
  } finally {
    signals.close();
    closeFd(pidfd);
    closeFd(rootFd);
  }
}

/** Catches every forwarded signal from its creation; holds them until there is a target. */
class SignalGate {
  private readonly held: NodeJS.Signals[] = [];
  private deliver: ((sig: NodeJS.Signals) => void) | undefined;
  private readonly handlers = FORWARDED_SIGNALS.map((sig) => {
    const handler = () => (this.deliver ? this.deliver(sig) : this.held.push(sig));
    process.on(sig, handler);
    return [sig, handler] as const;
  });

  open(deliver: (sig: NodeJS.Signals) => void): void {
    this.deliver = deliver;
    for (const sig of this.held.splice(0)) deliver(sig);
  }

  close(): void {
    this.deliver = undefined;
    for (const [sig, h] of this.handlers) process.off(sig, h);
  }
}

/** Where a signal goes: the command (through its waiter stage), its process group, or the whole workspace. */
function target(scope: SignalScope, ring2: number, command: number, toStage: (sig: NodeJS.Signals) => void): (sig: NodeJS.Signals) => void {
  return (sig) => {
    try {
      if (scope === 'process') toStage(sig); // the waiter stage passes it on to the command
      else if (scope === 'group') process.kill(-command, sig);
      else for (const pid of [ring2, ...descendants(ring2)]) process.kill(pid, constants.signals[sig]);
    } catch {
      // gone meanwhile
    }
  };
}

function descendants(pid: number): number[] {
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const next = queue.shift()!;
    let tasks: string[] = [];
    try {
      tasks = readdirSync(`/proc/${next}/task`);
    } catch {
      continue;
    }
    for (const tid of tasks) {
      try {
        const children = readFileSync(`/proc/${next}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
        out.push(...children);
        queue.push(...children);
      } catch {
        // exited
      }
    }
  }
  return out;
}
