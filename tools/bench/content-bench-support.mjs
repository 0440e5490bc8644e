// Shared by the content benchmarks (content-restore.mjs, content-download.mjs): the workspace
// libraries bundled for plain Node, a storage server in its own process, timing helpers.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

export const workspaceRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const MiB = 1024 * 1024;

/** Bundles the named libs (libs/<name>/src/index.ts) into a temp folder and loads them. */
export async function loadLibs(names, scratch) {
  const out = join(scratch, 'libs');
  await build({
    entryPoints: Object.fromEntries(names.map((n) => [n, join(workspaceRoot, `libs/${n}/src/index.ts`)])),
    outdir: out,
    outExtension: { '.js': '.cjs' },
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    tsconfig: join(workspaceRoot, 'tsconfig.base.json'),
    logLevel: 'error',
  });
  process.env.WSRUN_NATIVE_DIR = join(workspaceRoot, 'libs/native-ns/build/Release');
  const require = createRequire(import.meta.url);
  return Object.fromEntries(names.map((n) => [n, require(join(out, `${n}.cjs`))]));
}

/** A scratch folder in /tmp, removed on exit (also on Ctrl-C). */
export function scratchDir(name) {
  const dir = mkdtempSync(join(tmpdir(), `wsrun-bench-${name}-`));
  // the content-init sandbox runs as the workspace's uid: it must be able to enter
  chmodSync(dir, 0o755);
  const remove = () => rmSync(dir, { recursive: true, force: true });
  process.on('exit', remove);
  for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));
  return dir;
}

/**
 * LocalStorageServer over `root` in a child process (so that the client under test does not
 * share its event loop with the server). Resolves with { baseUrl, secret, stop }.
 */
export async function startStorageServer(scratch, root, opts = {}) {
  const secret = randomBytes(32).toString('hex');
  const script = join(scratch, 'storage-server.cjs');
  writeFileSync(
    script,
    `const { LocalObjectStorage, LocalStorageServer } = require(${JSON.stringify(join(scratch, 'libs/storage.cjs'))});
     const server = new LocalStorageServer({ storage: new LocalObjectStorage({ root: ${JSON.stringify(root)} }), secret: ${JSON.stringify(secret)}, host: '127.0.0.1', port: 0${
       opts.maxBytesPerSecondPerConnection ? `, maxBytesPerSecondPerConnection: ${opts.maxBytesPerSecondPerConnection}` : ''
     } });
     server.listen().then((url) => process.stdout.write(url + '\\n'));
     process.on('SIGTERM', () => server.close().then(() => process.exit(0)));`,
  );
  const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const baseUrl = await new Promise((resolvePromise, reject) => {
    child.stdout.setEncoding('utf8').once('data', (d) => resolvePromise(d.trim()));
    child.once('exit', (code) => reject(new Error(`storage server exited (${code})`)));
  });
  return {
    baseUrl,
    secret,
    stop: () =>
      new Promise((r) => {
        child.once('exit', r);
        child.kill('SIGTERM');
      }),
  };
}

/** Runs a shell command, throwing on failure. */
export function sh(command) {
  const r = spawnSync('sh', ['-c', command], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${command}: exit ${r.status}: ${r.stderr}`);
}

/** Same, without blocking the event loop (the process under test may be this one). */
export function shAsync(command) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('sh', ['-c', command], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.setEncoding('utf8').on('data', (d) => (err += d));
    child.on('exit', (code) => (code === 0 ? resolvePromise() : reject(new Error(`${command}: exit ${code}: ${err}`))));
  });
}

/** Runs `fn` `runs` times (after `prepare` each time, untimed); returns the durations in seconds. */
export async function timeRuns(runs, prepare, fn) {
  const times = [];
  for (let i = 0; i < runs; i++) {
    await prepare();
    const t0 = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return times;
}

export const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

// `npm run bench` runs every .mjs here: this one only holds helpers
if (process.argv[1] === fileURLToPath(import.meta.url)) console.log('content-bench-support.mjs: helpers of content-restore.mjs and content-download.mjs; nothing to run');
