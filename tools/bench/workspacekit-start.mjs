#!/usr/bin/env node
// Starting a workspace: `workspacekit ring0 -- /bin/true` as a whole process (Node's boot
// included), beside `bwrap --unshare-all --ro-bind / / /bin/true` and `runc run` of a minimal
// bundle, timed in one run. Also the rings' own time (ring0's entry to the command's exec, Node's
// boot excluded) as a ratio to bwrap's whole run (budget: within 3x), and the resident memory
// (PSS) of the workspace's runtime processes while the command runs (budget: under 60 MB).
// To compare two builds of ring0 or the daemon, see workspacekit-ab.mjs.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { available, median, runCommand, table, timeRuns } from './bench-util.mjs';
import { BUILT_DAEMON, BUILT_KIT, withBenchNode } from './workspacekit-bench-support.mjs';

const KIT = BUILT_KIT;
if (!existsSync(KIT)) throw new Error(`${KIT} missing: run npm run build`);
const runs = Number(process.env.BENCH_RUNS ?? 15);

await withBenchNode(BUILT_DAEMON, async ({ ring0: runRing0, runtime, socket }) => {
  const ringTimes = [];
  const rows = [];
  rows.push({
    name: 'workspacekit ring0 -- /bin/true (whole process)',
    ms: median(
      await timeRuns(
        () => {
          const t = runRing0(KIT, ['/bin/true']).timings;
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
});
