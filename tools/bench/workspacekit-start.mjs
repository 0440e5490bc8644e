#!/usr/bin/env node
// Starting a workspace: `workspacekit ring0 -- /bin/true` as a whole process (Node's boot
// included), beside `bwrap --unshare-all --ro-bind / / /bin/true` and `runc run` of a minimal
// bundle, timed in one run. Also the rings' own time (ring0's entry to the command's exec, Node's
// boot excluded) as a ratio to bwrap's whole run (budget: within 3x), and the resident memory
// (PSS) of the workspace's runtime processes while the command runs (budget: under 60 MB).
import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { available, median, runCommand, table, timeRuns } from './bench-util.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DAEMON = join(root, 'dist/apps/ws-daemon/main.js');
const KIT = join(root, 'dist/apps/workspacekit/main.js');
for (const f of [DAEMON, KIT]) if (!existsSync(f)) throw new Error(`${f} missing: run npm run build`);
const runs = Number(process.env.BENCH_RUNS ?? 15);

// a node with one workspace, reused run after run (each ring0 prepares and tears it down)
const state = mkdtempSync(join(tmpdir(), 'wsrun-bench-node-'));
chmodSync(state, 0o755);
const ws = { id: 'bench', owner: 'bench', state: 'ready', createdAt: new Date().toISOString(), idMapping: [{ containerId: 0, hostId: 33333, size: 1 }, { containerId: 1, hostId: 100000, size: 65536 }], prepared: false, tornDown: false, idMapWritten: { uid: false, gid: false }, procMounts: [] };
writeFileSync(join(state, 'registry.json'), JSON.stringify({ version: 1, workspaces: [ws] }));
const content = join(state, 'workspaces/bench/content');
mkdirSync(content, { recursive: true });
chownSync(content, 33333, 33333);
const socket = join(state, 'workspaces/bench/daemon/daemon.sock');
const daemon = spawn(process.execPath, [DAEMON, '--state-dir', state, '--log-level', 'error', '--id-map-rate-limit', '100000'], { stdio: 'ignore' });
while (!existsSync(socket)) await new Promise((r) => setTimeout(r, 20));

const runtime = join(tmpdir(), 'wsrun-bench-kit');
const timingsFile = join(tmpdir(), `wsrun-bench-timings-${process.pid}.json`);
// everything below runs with the daemon up: it goes (with its mounts) also when a run fails
try {
  writeFileSync(timingsFile, '');
  chmodSync(timingsFile, 0o666);
  const ringTimes = [];
  const ring0 = (argv) =>
    spawnSync(process.execPath, [KIT, 'ring0', '--daemon-socket', socket, '--runtime-dir', runtime, '--', ...argv], {
      uid: 33333,
      gid: 33333,
      cwd: '/',
      env: { PATH: '/usr/bin:/bin', WORKSPACEKIT_TIMINGS: timingsFile, WSRUN_LOG_LEVEL: 'error', ...(process.env.NODE_EXTRA_CA_CERTS ? { NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS } : {}) },
      stdio: ['ignore', 'ignore', 'pipe'],
    });

  const rows = [];
  rows.push({
    name: 'workspacekit ring0 -- /bin/true (whole process)',
    ms: median(
      await timeRuns(
        () => {
          const r = ring0(['/bin/true']);
          if (r.status !== 0) throw new Error(`ring0 failed: ${r.stderr}`);
          const t = JSON.parse(readFileSync(timingsFile, 'utf8'));
          ringTimes.push(t.ringsMs);
          // BENCH_MARKS=1: each run's steps (ms since ring0's entry), to see where the time goes
          if (process.env.BENCH_MARKS) console.log(JSON.stringify(t.marks));
        },
        { runs },
      ),
    ),
  });
  rows.push({ name: 'bwrap --unshare-all --ro-bind / / /bin/true', ms: median(await timeRuns(() => runCommand(['bwrap', '--unshare-all', '--ro-bind', '/', '/', '/bin/true']), { runs })) });

  // runc: a minimal bundle whose rootfs is the node's /usr with the usual links
  if (available('runc')) {
    const bundle = mkdtempSync(join(tmpdir(), 'wsrun-bench-runc-'));
    const rootfs = join(bundle, 'rootfs');
    for (const d of ['usr', 'proc', 'dev', 'sys', 'tmp']) mkdirSync(join(rootfs, d), { recursive: true });
    for (const l of ['bin', 'lib', 'lib64', 'sbin']) if (existsSync(`/${l}`)) symlinkSync(`usr/${l}`, join(rootfs, l));
    runCommand(['runc', 'spec', '--bundle', bundle]);
    const spec = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'));
    spec.process.terminal = false;
    spec.process.args = ['/bin/true'];
    spec.root.readonly = true;
    spec.mounts.push({ destination: '/usr', type: 'bind', source: '/usr', options: ['rbind', 'ro'] });
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
    let n = 0;
    rows.push({ name: 'runc run (minimal bundle) /bin/true', ms: median(await timeRuns(() => runCommand(['runc', 'run', '--bundle', bundle, `wsrun-bench-${process.pid}-${n++}`]), { runs })) });
    rmSync(bundle, { recursive: true, force: true });
  }
  table(`starting a workspace and running /bin/true (${runs} runs each, median)`, rows, 'bwrap --unshare-all --ro-bind / / /bin/true');
  const bwrap = rows.find((r) => r.name.startsWith('bwrap'));
  const rings = median(ringTimes);
  console.log(`  the rings' own time (ring0 entry -> exec, Node boot excluded) median ${rings.toFixed(2)} ms = ${(rings / bwrap.ms).toFixed(2)}x of bwrap's whole run (budget 3x)`);

  // memory while a command runs
  const sleeper = spawn(process.execPath, [KIT, 'ring0', '--daemon-socket', socket, '--runtime-dir', runtime, '--', 'sleep', '3'], { uid: 33333, gid: 33333, cwd: '/', env: { PATH: '/usr/bin:/bin', WSRUN_LOG_LEVEL: 'error' }, stdio: 'ignore' });
  await new Promise((r) => setTimeout(r, 1500));
  const pss = (pid) => Number(/Pss:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))[1]);
  const children = (pid) => readdirSync(`/proc/${pid}/task`).flatMap((t) => readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
  const ring1 = children(sleeper.pid).find((p) => readFileSync(`/proc/${p}/comm`, 'utf8').trim() === 'wskit:ring1');
  const runtimeKb = pss(sleeper.pid) + (ring1 ? pss(ring1) : 0);
  console.log(`\nresident memory (PSS) of the runtime while "sleep 3" runs: ring0 ${(pss(sleeper.pid) / 1024).toFixed(1)} MB + ring1 ${ring1 ? (pss(ring1) / 1024).toFixed(2) : '?'} MB = ${(runtimeKb / 1024).toFixed(1)} MB (budget 60 MB)`);
  await new Promise((r) => sleeper.once('exit', r));
} finally {
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.once('exit', r));
  spawnSync('sh', ['-c', `grep -o ' ${state}[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l`]);
  rmSync(state, { recursive: true, force: true });
  rmSync(runtime, { recursive: true, force: true });
  rmSync(timingsFile, { force: true });
}
