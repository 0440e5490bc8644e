import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const DIST = resolve(__dirname, '../../../../dist/apps');
export const DAEMON_MAIN = join(DIST, 'ws-daemon/main.js');
export const KIT_MAIN = join(DIST, 'workspacekit/main.js');
export const WORKSPACE_UID = 33333;

/**
 * A node for the tests: the built ws-daemon in its own process, on a temp state dir that already
 * knows the workspaces the test asks for (written in the daemon's registry format, version 1,
 * as a node that created them earlier would have left it).
 */
interface RuntimeRecord {
  prepared: boolean;
  tornDown: boolean;
  idMapWritten: { uid: boolean; gid: boolean };
}

export class WorkspaceNode {
  readonly stateDir = mkdtempSync(join(tmpdir(), 'wsrun-kit-node-'));
  daemon: ChildProcess | undefined;
  daemonLog = '';

  /** `states`: a workspace in another state than 'ready' (e.g. 'initializing': its files are not there yet) */
  constructor(
    readonly workspaces: string[],
    states: Record<string, string> = {},
  ) {
    chmodSync(this.stateDir, 0o755);
    const records = workspaces.map((id) => ({
      id,
      owner: 'test',
      state: states[id] ?? 'ready',
      createdAt: new Date().toISOString(),
      idMapping: [
        { containerId: 0, hostId: 33333, size: 1 },
        { containerId: 1, hostId: 100000, size: 65536 },
      ],
      prepared: false,
      tornDown: false,
      idMapWritten: { uid: false, gid: false },
      procMounts: [],
    }));
    writeFileSync(join(this.stateDir, 'registry.json'), JSON.stringify({ version: 1, workspaces: records }));
    for (const id of workspaces) {
      const content = this.contentDir(id);
      mkdirSync(content, { recursive: true });
      chownSync(content, WORKSPACE_UID, WORKSPACE_UID);
    }
  }

  workspaceDir(id: string): string {
    return join(this.stateDir, 'workspaces', id);
  }

  contentDir(id: string): string {
    return join(this.workspaceDir(id), 'content');
  }

  socket(id: string): string {
    return join(this.workspaceDir(id), 'daemon', 'daemon.sock');
  }

  /** The daemon's runtime state of each workspace (runtime.json: what this boot needs, see ws-daemon's RegistryRepository). */
  runtime(id: string): RuntimeRecord | undefined {
    const file = join(this.stateDir, 'runtime.json');
    if (!existsSync(file)) return undefined;
    return (JSON.parse(readFileSync(file, 'utf8')) as { workspaces: Record<string, RuntimeRecord> }).workspaces[id];
  }

  async start(): Promise<void> {
    this.daemon = spawn(process.execPath, [DAEMON_MAIN, '--state-dir', this.stateDir, '--log-level', 'info'], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.daemon.stderr!.setEncoding('utf8').on('data', (d: string) => (this.daemonLog += d));
    const until = Date.now() + 20_000;
    while (!this.workspaces.every((id) => existsSync(this.socket(id))) || !this.daemonLog.includes('ws-daemon ready')) {
      if (this.daemon.exitCode !== null || Date.now() > until) throw new Error(`ws-daemon did not start:\n${this.daemonLog}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async stop(): Promise<void> {
    // what a failed (timed-out) test left running: ring0s and execs, and with them their workspaces
    await killTracked();
    if (this.daemon && this.daemon.exitCode === null) {
      this.daemon.kill('SIGTERM');
      await new Promise((r) => this.daemon!.once('exit', r));
    }
    // anything a failed test left mounted under the state dir
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4])
      .filter((m): m is string => !!m && m.startsWith(this.stateDir))
      .sort()
      .reverse();
    for (const m of mounts) spawnSync('umount', ['-l', m]);
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}

export interface Ring0Run {
  child: ChildProcess;
  output: () => string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  runtimeDir: string;
}

const tracked = new Set<ChildProcess>();

/** Remembers a process a test started, for WorkspaceNode.stop to kill if the test did not end it. */
export function track<T extends ChildProcess>(child: T): T {
  tracked.add(child);
  child.once('exit', () => tracked.delete(child));
  return child;
}

async function killTracked(): Promise<void> {
  await Promise.all(
    [...tracked].map(async (child) => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await gone;
    }),
  );
}

/** `workspacekit ring0` as the workspace user, as a container would start it. */
export function startRing0(socket: string, command: string[], opts: { grace?: string; env?: Record<string, string>; nodeArgs?: string[] } = {}): Ring0Run {
  const runtimeDir = join(tmpdir(), `wskit-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
  const child = track(spawn(
    process.execPath,
    [...(opts.nodeArgs ?? []), KIT_MAIN, 'ring0', '--daemon-socket', socket, '--runtime-dir', runtimeDir, '--grace', opts.grace ?? '20s', '--', ...command],
    {
      uid: WORKSPACE_UID,
      gid: WORKSPACE_UID,
      cwd: '/',
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: '/root', WSRUN_LOG_LEVEL: 'warn', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  ));
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  // 'close', not 'exit': only then is everything the rings wrote read from the pipes
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child.once('close', (code, signal) => r({ code, signal })));
  return { child, output: () => out, exited, runtimeDir };
}

export async function until(cond: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
