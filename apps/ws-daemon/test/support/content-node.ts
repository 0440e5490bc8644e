import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, existsSync, lstatSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, normalize, resolve } from 'node:path';
import { createHash } from 'node:crypto';
import { callUnary, createClient, workspaceContent } from '@wsrun/proto';
import { PrivateRedis } from '@wsrun/queue';
import { DaemonHarness } from './daemon-harness';

const WORKER_MAIN = resolve(__dirname, '../../../../dist/apps/content-init/main.js');

/**
 * A node with everything content needs: a Redis the test controls (started here, given to the
 * daemon as REDIS_URL), the daemon in this process (gRPC on a temp socket), the storage (local, or
 * S3 when the test passes s3 settings), and content-init's worker as a separate process, the way
 * a node runs it.
 */
export class ContentNode {
  readonly harness: DaemonHarness;
  readonly redis: PrivateRedis;
  worker: ChildProcess | undefined;
  workerLog = '';
  client!: workspaceContent.WorkspaceContentServiceClient;

  constructor(private readonly storageFlags: Record<string, string> = {}, private readonly workerFlags: string[] = []) {
    this.harness = new DaemonHarness({ ...storageFlags });
    this.redis = new PrivateRedis(join(this.harness.stateDir, 'test-redis'));
  }

  async start(): Promise<void> {
    const socket = await this.redis.start();
    (this.harness.overrides as Record<string, string>)['redisUrl'] = socket;
    await this.harness.start();
    this.client = createClient(workspaceContent.WorkspaceContentServiceClient, this.harness.daemon.address);
  }

  /** Starts a worker; there is at most one: a test that wants another stops or kills the first. */
  startWorker(extra: string[] = []): ChildProcess {
    if (this.worker && this.worker.exitCode === null && this.worker.signalCode === null) throw new Error('a worker is already running');
    const args = [WORKER_MAIN, 'worker', '--state-dir', this.harness.stateDir, '--redis-url', this.redis.socket, '--node', this.harness.config.node, '--lock-duration', '2s', '--log-level', 'info', ...this.storageArgs(), ...this.workerFlags, ...extra];
    const worker = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    worker.stderr!.setEncoding('utf8').on('data', (d: string) => (this.workerLog += d));
    this.worker = worker;
    return worker;
  }

  /** The running worker, or a new one. */
  ensureWorker(): ChildProcess {
    if (this.worker && this.worker.exitCode === null && this.worker.signalCode === null) return this.worker;
    return this.startWorker();
  }

  async killWorker(): Promise<void> {
    const w = this.worker;
    if (!w || w.exitCode !== null || w.signalCode !== null) return;
    const gone = new Promise((r) => w.once('exit', r));
    w.kill('SIGKILL');
    await gone;
  }

  async stopWorker(): Promise<void> {
    const w = this.worker;
    if (!w || w.exitCode !== null || w.signalCode !== null) return;
    const gone = new Promise((r) => w.once('exit', r));
    w.kill('SIGTERM');
    await gone;
  }

  /** How many lines of the worker's log say `message` about workspace `id`. */
  logCount(message: string, id: string): number {
    return this.workerLog.split('\n').filter((l) => l.includes(`"${message}"`) && l.includes(`"workspace":"${id}"`)).length;
  }

  call<Res>(method: keyof workspaceContent.WorkspaceContentServiceClient, request: object, timeoutMs = 120_000): Promise<Res> {
    return callUnary<object, Res>((this.client[method] as (...a: unknown[]) => unknown).bind(this.client) as never, request, timeoutMs);
  }

  contentDir(id: string): string {
    return this.harness.registry.layout(id).content;
  }

  async stop(): Promise<void> {
    await this.killWorker();
    this.client?.close();
    await this.harness.stop();
    await this.redis.stop();
  }

  private storageArgs(): string[] {
    const f = this.storageFlags;
    const out: string[] = [];
    if (f['storage']) out.push('--storage', f['storage']);
    if (f['storageDir']) out.push('--storage-dir', f['storageDir']);
    if (f['s3Endpoint']) out.push('--s3-endpoint', f['s3Endpoint'], '--s3-access-key-id', f['s3AccessKeyId']!, '--s3-secret-access-key', f['s3SecretAccessKey']!, '--s3-region', f['s3Region'] ?? 'us-east-1');
    return out;
  }
}

/** A git repository served over "dumb" HTTP (static files, as git update-server-info leaves them). */
export class GitStaticServer {
  private server: Server | undefined;
  url = '';

  constructor(readonly root: string) {}

  async listen(): Promise<void> {
    this.server = createServer((req, res) => {
      const path = normalize(join(this.root, decodeURIComponent((req.url ?? '/').split('?')[0]!)));
      if (!path.startsWith(this.root) || !existsSync(path) || !statSync(path).isFile()) {
        res.writeHead(404).end();
        return;
      }
      res.writeHead(200, { 'content-length': statSync(path).size });
      createReadStream(path).pipe(res);
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', () => r()));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    await new Promise((r) => this.server?.close(r));
  }
}

/** A bare repository with files of several kinds, ready to be cloned over dumb HTTP. */
export function makeRepository(dir: string): { bare: string } {
  const work = join(dir, 'work');
  const bare = join(dir, 'project.git');
  const sh = (script: string, cwd = dir) => execFileSync('sh', ['-c', script], { cwd, stdio: 'pipe', env: { ...process.env, GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@t', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@t' } });
  sh(`git init -q -b main ${work}`);
  sh('mkdir -p src bin && echo "hello" > README.md && echo "int main(){}" > src/main.c && printf "#!/bin/sh\\necho run\\n" > bin/run && chmod 755 bin/run && ln -s src/main.c link-to-main && git add -A && git commit -qm first', work);
  sh(`git clone -q --bare ${work} ${bare} && git --git-dir=${bare} update-server-info`);
  return { bare };
}

export interface TreeEntry {
  type: string;
  mode: number;
  uid: number;
  gid: number;
  content?: string;
}

/** Every entry below root (content hashed, links read), for comparing trees. */
export function snapshotTree(root: string, skip: (p: string) => boolean = () => false): Record<string, TreeEntry> {
  const out: Record<string, TreeEntry> = {};
  const walk = (dir: string, prefix: string) => {
    for (const name of readdirSync(dir).sort()) {
      const rel = prefix ? `${prefix}/${name}` : name;
      if (skip(rel)) continue;
      const full = join(dir, name);
      const st = lstatSync(full);
      const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
      if (st.isSymbolicLink()) out[rel] = { type: 'symlink', ...base, content: readlinkSync(full) };
      else if (st.isFile()) out[rel] = { type: 'file', ...base, content: createHash('sha256').update(readFileSync(full)).digest('hex') };
      else if (st.isDirectory()) {
        out[rel] = { type: 'dir', ...base };
        walk(full, rel);
      } else out[rel] = { type: 'other', ...base };
    }
  };
  walk(root, '');
  return out;
}

export async function eventually<T>(fn: () => T | Promise<T>, what: string, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      if (Date.now() > until) throw err;
    }
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Bytes of the regular files under `dir` right now (0 when it does not exist); files may vanish meanwhile. */
export function totalBytes(dir: string): number {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return 0;
  }
  let sum = 0;
  for (const name of entries) {
    const st = lstatSync(join(dir, name), { throwIfNoEntry: false });
    if (st?.isDirectory()) sum += totalBytes(join(dir, name));
    else if (st?.isFile()) sum += st.size;
  }
  return sum;
}
