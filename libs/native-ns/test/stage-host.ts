import { fork, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildSync } from 'esbuild';
import type { ExitStatus, StageOptions } from '../src';

/**
 * Test harness: runs fixtures/stage-host.ts (bundled with esbuild) as another user, and lets a
 * test drive the stages it spawns. Stage output goes to the host's stdout, collected here.
 */
export const NATIVE_DIR = resolve(__dirname, '../build/Release');
let bundleDir: string | undefined;

/** Bundles a fixture into a world-readable temp folder and returns the .js path. */
export function bundleFixture(entry: string): string {
  bundleDir ??= mkdtempSync(join(tmpdir(), 'wsrun-fixtures-'));
  chmodSync(bundleDir, 0o755);
  const outfile = join(bundleDir, entry.replace(/[/\\]/g, '_').replace(/\.ts$/, '.js'));
  buildSync({ entryPoints: [entry], outfile, bundle: true, platform: 'node', target: 'node20', format: 'cjs', logLevel: 'error' });
  chmodSync(outfile, 0o644);
  return outfile;
}

export function removeFixtureBundles(): void {
  if (bundleDir) rmSync(bundleDir, { recursive: true, force: true });
  bundleDir = undefined;
}

interface HostEvent {
  event: string;
  depth?: number;
  pid?: number;
  tag?: string;
  text?: string;
  status?: ExitStatus;
  error?: { message: string; code?: string; syscall?: string; step?: string };
  message?: string;
  syscall?: string;
  strings?: string[];
}

export class StageHost {
  readonly child: ChildProcess;
  output = '';
  private readonly events: HostEvent[] = [];
  private readonly listeners: ((e: HostEvent) => void)[] = [];

  constructor(uid: number, gid: number) {
    const script = bundleFixture(resolve(__dirname, 'fixtures/stage-host.ts'));
    this.child = fork(script, [], {
      uid,
      gid,
      cwd: '/',
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', WSRUN_NATIVE_DIR: NATIVE_DIR },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      execArgv: [],
    });
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.output += d));
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.output += d));
    this.child.on('message', (e: HostEvent) => {
      this.events.push(e);
      for (const l of this.listeners) l(e);
    });
  }

  /** Waits for an event matching pred (already received ones count). */
  next(pred: (e: HostEvent) => boolean, timeoutMs = 10_000): Promise<HostEvent> {
    const seen = this.events.find(pred);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => reject(new Error(`stage host: no matching event in ${timeoutMs} ms; got ${JSON.stringify(this.events)}; output: ${this.output}`)), timeoutMs);
      const listener = (e: HostEvent) => {
        if (!pred(e)) return;
        clearTimeout(timer);
        this.listeners.splice(this.listeners.indexOf(listener), 1);
        resolvePromise(e);
      };
      this.listeners.push(listener);
    });
  }

  async spawn(options: StageOptions): Promise<number> {
    await this.next((e) => e.event === 'hello');
    this.child.send({ cmd: 'spawn', options });
    const e = await this.next((ev) => (ev.event === 'spawned' && ev.depth === 0) || ev.event === 'failure');
    if (e.event === 'failure') throw Object.assign(new Error(e.message), { code: (e as { code?: string }).code });
    return e.pid!;
  }

  release(): void {
    this.child.send({ cmd: 'release' });
  }

  go(tag: string, depth: number): void {
    this.child.send({ cmd: 'go', tag, depth });
  }

  kill(signal: NodeJS.Signals): void {
    this.child.send({ cmd: 'kill', signal });
  }

  /**
   * Waits until the output holds `marker`: the stage's output travels through this host's stdout
   * pipe, and the exit message (IPC) can overtake its last bytes.
   */
  async outputUntil(marker: string, timeoutMs = 10_000): Promise<string> {
    const until = Date.now() + timeoutMs;
    while (!this.output.includes(marker)) {
      if (Date.now() > until) throw new Error(`stage host: "${marker}" not in the output: ${this.output}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.output;
  }

  async exited(): Promise<ExitStatus> {
    return (await this.next((e) => e.event === 'exited', 20_000)).status!;
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const done = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGKILL');
    await done;
  }
}
