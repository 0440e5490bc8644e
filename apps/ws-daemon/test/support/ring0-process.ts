import { fork, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildSync } from 'esbuild';
import type { StageOptions } from '@wsrun/native-ns';

const NATIVE_DIR = resolve(__dirname, '../../../../libs/native-ns/build/Release');
let bundle: string | undefined;
let bundleDir: string | undefined;

function fixture(): string {
  if (bundle) return bundle;
  bundleDir = mkdtempSync(join(tmpdir(), 'wsrun-ring0-'));
  chmodSync(bundleDir, 0o755);
  bundle = join(bundleDir, 'fake-ring0.js');
  buildSync({
    entryPoints: [resolve(__dirname, '../fixtures/fake-ring0.ts')],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    logLevel: 'error',
    tsconfig: resolve(__dirname, '../../tsconfig.spec.json'),
  });
  chmodSync(bundle, 0o644);
  return bundle;
}

export function removeRing0Bundle(): void {
  if (bundleDir) rmSync(bundleDir, { recursive: true, force: true });
  bundle = bundleDir = undefined;
}

export interface RpcResult<T = unknown> {
  ok?: T;
  error?: { code: number; details: string; errno?: string };
}

/** A fake ring0 (fixtures/fake-ring0.ts) running as the workspace user, driven over IPC. */
export class Ring0Process {
  readonly child: ChildProcess;
  output = '';
  private nextId = 1;
  private readonly waiting = new Map<number, (body: Record<string, unknown>) => void>();
  private readonly hello: Promise<void>;

  constructor(socket: string, uid = 33333) {
    this.child = fork(fixture(), [socket], {
      uid,
      gid: uid,
      cwd: '/',
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', WSRUN_NATIVE_DIR: NATIVE_DIR },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
      execArgv: [],
    });
    this.child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.output += d));
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.output += d));
    let helloSeen!: () => void;
    this.hello = new Promise((r) => (helloSeen = r));
    this.child.on('message', (m: { id: number } & Record<string, unknown>) => {
      if (m.id === 0) return helloSeen();
      this.waiting.get(m.id)?.(m);
      this.waiting.delete(m.id);
    });
  }

  private async request(body: object): Promise<Record<string, unknown>> {
    await this.hello;
    const id = this.nextId++;
    return new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => reject(new Error(`ring0: no answer to ${JSON.stringify(body)}; output: ${this.output}`)), 30_000);
      this.waiting.set(id, (m) => {
        clearTimeout(timer);
        if (m['failure']) reject(Object.assign(new Error((m['failure'] as { message: string }).message), m['failure']));
        else resolvePromise(m);
      });
      this.child.send({ id, ...body });
    });
  }

  async rpc<T = unknown>(method: string, request: object = {}): Promise<RpcResult<T>> {
    const { ok, error } = (await this.request({ cmd: 'rpc', method, request })) as RpcResult<T>;
    return error ? { error } : { ok: ok as T };
  }

  async health(): Promise<unknown> {
    return (await this.request({ cmd: 'health' }))['ok'];
  }

  async spawn(options: StageOptions): Promise<number> {
    return (await this.request({ cmd: 'spawn', options }))['pid'] as number;
  }

  async release(): Promise<void> {
    await this.request({ cmd: 'release' });
  }

  async nestedPid(depth = 1): Promise<number> {
    return (await this.request({ cmd: 'nested-pid', depth }))['pid'] as number;
  }

  async go(tag: string, depth: number): Promise<void> {
    await this.request({ cmd: 'go', tag, depth });
  }

  async waitFor(tag: string, depth: number): Promise<void> {
    await this.request({ cmd: 'wait-for', tag, depth });
  }

  /** Waits for `marker` in the output: the rings write through this process's stdout pipe, and
   *  the exit message (IPC) can overtake the last bytes. */
  async outputUntil(marker: string, timeoutMs = 10_000): Promise<string> {
    const until = Date.now() + timeoutMs;
    while (!this.output.includes(marker)) {
      if (Date.now() > until) throw new Error(`ring0: "${marker}" not in the output: ${this.output}`);
      await new Promise((r) => setTimeout(r, 10));
    }
    return this.output;
  }

  async exited(): Promise<{ code: number | null; signal: string | null }> {
    return (await this.request({ cmd: 'exited' }))['status'] as { code: number | null; signal: string | null };
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const done = new Promise((r) => this.child.once('exit', r));
    this.child.kill('SIGKILL');
    await done;
  }
}
