#!/usr/bin/env node
// Segmented download benchmark (issue 6): the local storage server caps each connection at
// 4 MiB/s (as a remote object store would throttle one stream), and one object is fetched by
//   1. aria2c -x16 -s16 -k1M           (the reference: 16 connections, 1 MiB pieces)
//   2. wsrun download(), 16 × 1 MiB     (the same parallelism, into a file)
//   3. wsrun download(), defaults       (8 × 4 MiB: what an initializer uses unless told)
// Prints the median of each and the ratio to aria2c (budget: within 1.1× of its time).
// Data lives in /tmp and is removed.
//
//   node tools/bench/content-download.mjs [--runs 3] [--size-mib 256]
import { createReadStream, createWriteStream, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import { loadLibs, median, MiB, scratchDir, sh, shAsync, startStorageServer, timeRuns } from './content-bench-support.mjs';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '3' }, 'size-mib': { type: 'string', default: '256' } } });
const runs = Number(values.runs);
const sizeMiB = Number(values['size-mib']);
const CAP = 4 * MiB;
const scratch = scratchDir('download');

async function main() {
  const { storage: storageLib, download: downloadLib } = await loadLibs(['storage', 'download'], scratch);
  const source = join(scratch, 'object.bin');
  sh(`head -c ${sizeMiB * MiB} /dev/urandom > ${source}`);
  const root = join(scratch, 'storage');
  const server = await startStorageServer(scratch, root, { maxBytesPerSecondPerConnection: CAP });
  const storage = new storageLib.LocalObjectStorage({ root, signing: { baseUrl: server.baseUrl, secret: server.secret } });
  const ref = { bucket: 'snapshots', object: 'bench/object.bin' };
  await storage.ensureBucket(ref.bucket);
  const { sha256 } = await storage.put(ref, createReadStream(source));
  rmSync(source);
  const url = await storage.signedDownloadUrl(ref, 3600);
  console.log(`content-download: ${sizeMiB} MiB object, server capped at ${CAP / MiB} MiB/s per connection, ${runs} runs each\n`);

  const out = join(scratch, 'out.bin');
  const prepare = () => {
    rmSync(out, { force: true });
    sh('sync');
  };
  const ours = (options) => async () => {
    const stream = downloadLib.download({ url, expectedSha256: sha256, ...options });
    await pipeline(stream, createWriteStream(out));
    if (statSync(out).size !== sizeMiB * MiB) throw new Error('short download');
  };
  const results = {
    'aria2c -x16 -s16 -k1M': await timeRuns(runs, prepare, () => shAsync(`aria2c -q -x16 -s16 -k1M --allow-overwrite=true -d ${scratch} -o out.bin '${url}'`)),
    'wsrun download 16 × 1 MiB': await timeRuns(runs, prepare, ours({ connections: 16, pieceSize: MiB })),
    'wsrun download defaults (8 × 4 MiB)': await timeRuns(runs, prepare, ours({})),
  };
  await server.stop();

  const ref0 = median(results['aria2c -x16 -s16 -k1M']);
  console.log('variant                                median s   MiB/s   time ratio to aria2c   runs');
  for (const [name, times] of Object.entries(results)) {
    const m = median(times);
    console.log(`${name.padEnd(38)} ${m.toFixed(2).padStart(8)} ${(sizeMiB / m).toFixed(1).padStart(7)}   ${(m / ref0).toFixed(2).padStart(20)}   ${times.map((t) => t.toFixed(2)).join(' ')}`);
  }
  console.log('\nbudget: wsrun 16 × 1 MiB within 1.10× of aria2c');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
