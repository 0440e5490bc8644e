#!/usr/bin/env node
// Restore benchmark (DESIGN.md §6, issue 6): a 512 MiB archive (many small files plus a few
// large ones) served by the local storage server, restored by
//   1. curl -s URL | tar -x                          (the reference stream)
//   2. aria2c -x16 -s16 -k1M, then tar -xf            (download-then-extract, the reference design)
//   3. wsrun in-process: download() → extractTar()    (segmented, streamed, safe extraction)
//   4. wsrun sandboxed: content-init init --backup    (the production path, Node start-up included)
// Prints the median of each and the ratios the budget names: wsrun ≥ 0.9× the throughput of
// curl | tar, and faster than download-then-extract. Data lives in /tmp and is removed.
//
//   node tools/bench/content-restore.mjs [--runs 3] [--size-mib 512]
import { randomBytes } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadLibs, median, MiB, scratchDir, sh, shAsync, startStorageServer, timeRuns, workspaceRoot } from './content-bench-support.mjs';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, 'size-mib': { type: 'string', default: '512' } } });
const runs = Number(values.runs);
const sizeMiB = Number(values['size-mib']);
const scratch = scratchDir('restore');
const bundle = join(workspaceRoot, 'dist/apps/content-init/main.js');

function makeTree(dir) {
  // half in small files (1-32 KiB, 64 folders), half in four large ones
  const smallBytes = (sizeMiB * MiB) / 2;
  let written = 0;
  let i = 0;
  while (written < smallBytes) {
    const folder = join(dir, `src/pkg-${i % 64}`);
    if (i < 64) mkdirSync(folder, { recursive: true });
    const size = 1024 + Math.floor(Math.random() * 31 * 1024);
    writeFileSync(join(folder, `file-${i}.txt`), randomBytes(size));
    written += size;
    i++;
  }
  mkdirSync(join(dir, 'assets'));
  const large = (sizeMiB * MiB) / 2 / 4;
  for (let j = 0; j < 4; j++) {
    const chunk = randomBytes(MiB);
    const parts = [];
    for (let k = 0; k < large / MiB; k++) parts.push(chunk);
    writeFileSync(join(dir, `assets/blob-${j}.bin`), Buffer.concat(parts));
  }
  return i;
}

async function main() {
  console.log(`content-restore: building a ${sizeMiB} MiB tree in ${scratch} ...`);
  const { storage: storageLib, download: downloadLib, archive: archiveLib } = await loadLibs(['storage', 'download', 'archive'], scratch);
  const tree = join(scratch, 'tree');
  mkdirSync(tree);
  const smallFiles = makeTree(tree);
  const tarFile = join(scratch, 'backup.tar');
  sh(`tar --format=pax -C ${tree} -cf ${tarFile} .`);
  rmSync(tree, { recursive: true, force: true });
  const archiveBytes = statSync(tarFile).size;

  const root = join(scratch, 'storage');
  const server = await startStorageServer(scratch, root);
  const storage = new storageLib.LocalObjectStorage({ root, signing: { baseUrl: server.baseUrl, secret: server.secret } });
  const ref = { bucket: 'backups', object: 'ws-bench/full.tar' };
  await storage.ensureBucket(ref.bucket);
  await storage.put(ref, createReadStream(tarFile));
  rmSync(tarFile);
  const url = await storage.signedDownloadUrl(ref, 3600);
  console.log(`archive: ${(archiveBytes / MiB).toFixed(0)} MiB, ${smallFiles} small files + 4 large; ${runs} runs each\n`);

  const dst = join(scratch, 'dst');
  const fresh = () => {
    rmSync(dst, { recursive: true, force: true });
    rmSync(join(scratch, 'dl'), { recursive: true, force: true });
    sh('sync');
    mkdirSync(dst);
  };
  // variants take turns run by run: the disk's write-back state drifts over a run, and each
  // variant should meet the same mix of it
  const variants = {
    'curl | tar -x': [fresh, () => shAsync(`curl -sf '${url}' | tar -x -C ${dst}`)],
    'aria2c -x16 then tar -x': [
      fresh,
      () => shAsync(`aria2c -q -x16 -s16 -k1M --allow-overwrite=true -d ${join(scratch, 'dl')} -o full.tar '${url}' && tar -x -C ${dst} -f ${join(scratch, 'dl/full.tar')}`),
    ],
    'wsrun download → extractTar': [
      fresh,
      async () => {
        const stream = downloadLib.download({ url, expectedSize: archiveBytes });
        const r = await archiveLib.extractTar(stream, { path: dst });
        if (r.refused.length) throw new Error(`refused: ${JSON.stringify(r.refused.slice(0, 3))}`);
      },
    ],
  };
  if (existsSync(bundle)) {
    const empty = join(scratch, 'empty.json');
    writeFileSync(empty, '{"empty": {}}');
    variants['wsrun sandboxed (content-init init)'] = [
      () => {
        fresh();
        rmSync(dst, { recursive: true, force: true }); // content-init creates it for the workspace root
      },
      () => shAsync(`node ${bundle} init --dst ${dst} --initializer ${empty} --backup '${url}' --log-level warn`),
    ];
  } else {
    console.log(`(skipping the sandboxed run: build ${bundle} with \`node tools/build/bundle.mjs content-init\`)`);
  }
  const results = Object.fromEntries(Object.keys(variants).map((name) => [name, []]));
  for (let i = 0; i < runs; i++) {
    for (const [name, [prepare, fn]] of Object.entries(variants)) results[name].push(...(await timeRuns(1, prepare, fn)));
  }
  await server.stop();

  const rows = Object.entries(results).map(([name, times]) => ({ name, median: median(times), times }));
  const mibps = (s) => archiveBytes / MiB / s;
  console.log('variant                                  median s   MiB/s   runs');
  for (const r of rows) console.log(`${r.name.padEnd(40)} ${r.median.toFixed(2).padStart(8)} ${mibps(r.median).toFixed(0).padStart(7)}   ${r.times.map((t) => t.toFixed(2)).join(' ')}`);
  const by = Object.fromEntries(rows.map((r) => [r.name, r.median]));
  const ratio = (a, b) => (by[b] / by[a]).toFixed(2);
  console.log('\nthroughput ratios (budget: ≥ 0.90 against curl | tar, > 1.00 against download-then-extract)');
  for (const ours of ['wsrun download → extractTar', 'wsrun sandboxed (content-init init)']) {
    if (!by[ours]) continue;
    console.log(`${ours}: ${ratio(ours, 'curl | tar -x')}× curl | tar, ${ratio(ours, 'aria2c -x16 then tar -x')}× download-then-extract`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
