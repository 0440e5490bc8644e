#!/usr/bin/env node
// Backup throughput: the workspace folder packed by the confined child and streamed into the
// local storage (what content-init's worker does, verify and commit included), against
// `tar -c DIR | curl -T - URL` to a signed upload URL of the same storage. Target: >= 0.9x.
import { execFileSync, spawn } from 'node:child_process';
import { chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { median } from './bench-util.mjs';
import { loadLibs, MiB, scratchDir, workspaceRoot } from './content-bench-support.mjs';

const scratch = scratchDir('backup');
const { storage: st, content } = await loadLibs(['storage', 'content'], scratch);
const bundleDir = join(workspaceRoot, 'dist/apps/content-init');
const runs = Number(process.env.BENCH_RUNS ?? 3);

// ~512 MiB: 8000 small files and four large ones, owned like a workspace's
const ws = join(scratch, 'ws');
mkdirSync(ws, { recursive: true });
for (let d = 0; d < 80; d++) {
  mkdirSync(join(ws, `dir-${d}`));
  for (let f = 0; f < 100; f++) writeFileSync(join(ws, `dir-${d}`, `f-${f}.txt`), randomBytes(8 * 1024));
}
for (let i = 0; i < 4; i++) writeFileSync(join(ws, `big-${i}.bin`), randomBytes(112 * MiB));
execFileSync('chown', ['-R', '33333:33333', ws]);
chownSync(ws, 33333, 33333);
const size = Number(execFileSync('du', ['-sb', ws]).toString().split('\t')[0]);

const root = join(scratch, 'storage');
const secret = randomBytes(32).toString('hex');
const server = new st.LocalStorageServer({ storage: new st.LocalObjectStorage({ root }), secret });
const baseUrl = await server.listen();
const storage = new st.LocalObjectStorage({ root, signing: { baseUrl, secret } });
await storage.ensureBucket('bench');

const ours = [];
const reference = [];
const runOurs = async () => {
  execFileSync('sync');
  const t = process.hrtime.bigint();
  await content.backupWorkspace({ destination: ws, idMapping: content.WORKSPACE_ID_MAPPING, target: `ws/full.tar@bench` }, storage, { bundleDir, timeoutMs: 600_000 });
  ours.push(Number(process.hrtime.bigint() - t) / 1e6);
};
const runReference = async () => {
  // the same object every run, replaced like a workspace's backup is
  const url = await storage.signedUploadUrl({ bucket: 'bench', object: 'ref/full.tar' }, 3600);
  execFileSync('sync');
  const t = process.hrtime.bigint();
  // asynchronously: the storage server answering curl runs in this very process
  const child = spawn('bash', ['-o', 'pipefail', '-c', `tar -C '${ws}' -c . | curl -sS -f -T - '${url}' -o /dev/null`], { stdio: ['ignore', 'ignore', 'inherit'] });
  const code = await new Promise((r) => child.on('exit', r));
  if (code !== 0) throw new Error(`tar | curl failed (${code})`);
  reference.push(Number(process.hrtime.bigint() - t) / 1e6);
};
// each run's writes are synced before the next one is timed, and the two take turns going first
for (let i = 0; i < runs; i++) {
  if (i % 2 === 0) {
    await runOurs();
    await runReference();
  } else {
    await runReference();
    await runOurs();
  }
}
await server.close();
const mbps = (ms) => ((size / MiB) / (ms / 1000)).toFixed(0);
console.log(`\nbackup of ${(size / MiB).toFixed(0)} MiB (8000 small files, 4 large), ${runs} runs, median`);
console.log(`  tar -c | curl -T (signed upload URL)         ${median(reference).toFixed(0).padStart(6)} ms  ${mbps(median(reference))} MiB/s`);
console.log(`  backupWorkspace (sandboxed pack, verify, commit) ${median(ours).toFixed(0).padStart(6)} ms  ${mbps(median(ours))} MiB/s  = ${(median(reference) / median(ours)).toFixed(2)}x the throughput of tar | curl (target >= 0.9x)`);
process.exit(0);
