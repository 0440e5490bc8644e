#!/usr/bin/env node
// Compares builds of workspacekit (ring0) or of ws-daemon on the workspace start, interleaved run
// by run on one node: this machine's speed drifts by more than most changes save, so two builds
// are only comparable side by side in the same minutes. Prints per build the rings' own time
// (median, quartiles, sorted), the whole process, and the median of each step's mark.
//
//   node tools/bench/workspacekit-ab.mjs --kit /tmp/before/main.js --kit dist/apps/workspacekit/main.js
//   node tools/bench/workspacekit-ab.mjs --daemon /tmp/before/main.js --daemon dist/apps/ws-daemon/main.js
//
// A build is a copy of dist/apps/<app> (its main.js); copy one before changing the code. Runs per
// build: --runs (default 30). Without builds to compare (as in `npm run bench`) it compares the
// current build with itself, which shows how far apart two identical builds come out.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { median, runCommand, timeRuns } from './bench-util.mjs';
import { BUILT_DAEMON, BUILT_KIT, withBenchNode } from './workspacekit-bench-support.mjs';

const { values } = parseArgs({ options: { kit: { type: 'string', multiple: true }, daemon: { type: 'string', multiple: true }, runs: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
if (values.help) {
  console.log('usage: workspacekit-ab.mjs [--kit main.js]... [--daemon main.js]... [--runs N]\n(one list of builds: kits on the built daemon, or daemons under the built kit)');
  process.exit(0);
}
const kits = (values.kit ?? []).map((p) => resolve(p));
const daemons = (values.daemon ?? []).map((p) => resolve(p));
if (kits.length > 0 && daemons.length > 0) throw new Error('compare kits or daemons, not both at once');
const runs = Number(values.runs ?? 30);
if (!Number.isInteger(runs) || runs < 3) throw new Error(`--runs ${values.runs}: a number of runs (3 or more) is required`);
for (const f of [...kits, ...daemons]) if (!existsSync(f)) throw new Error(`${f} does not exist`);

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];

/** Runs each kit in turn (the order reversed every other round), `rounds` rounds after 2 warm-up rounds. */
async function interleaved(daemon, kitList, rounds) {
  return withBenchNode(daemon, async ({ ring0 }) => {
    const per = kitList.map(() => ({ rings: [], whole: [], marks: [] }));
    for (let round = 0; round < rounds + 2; round++) {
      const order = kitList.map((_, i) => i);
      if (round % 2) order.reverse();
      for (const i of order) {
        const started = process.hrtime.bigint();
        const { timings } = ring0(kitList[i], ['/bin/true']);
        const whole = Number(process.hrtime.bigint() - started) / 1e6;
        if (round < 2) continue;
        per[i].rings.push(timings.ringsMs);
        per[i].whole.push(whole);
        per[i].marks.push(timings.marks);
      }
    }
    return per;
  });
}

function report(label, r, bwrap) {
  const sorted = [...r.rings].sort((a, b) => a - b);
  const m = median(r.rings);
  console.log(`${label}`);
  console.log(`  rings' own time: median ${m.toFixed(2)} ms = ${(m / bwrap).toFixed(2)}x bwrap, quartiles ${quantile(sorted, 0.25).toFixed(2)} / ${quantile(sorted, 0.75).toFixed(2)} ms; whole process median ${median(r.whole).toFixed(1)} ms`);
  console.log(`  sorted: ${sorted.map((x) => x.toFixed(1)).join(' ')}`);
  const steps = Object.keys(r.marks[0] ?? {});
  console.log(`  steps (median ms since ring0's entry): ${steps.map((k) => `${k} ${median(r.marks.map((x) => x[k] ?? NaN)).toFixed(2)}`).join(' | ')}`);
}

const results = [];
if (daemons.length > 0) {
  // one node per daemon: alternate the daemons block by block, one kit
  const blocks = 3;
  const per = daemons.map(() => ({ rings: [], whole: [], marks: [] }));
  for (let b = 0; b < blocks; b++) {
    for (const [i, d] of daemons.entries()) {
      const [r] = await interleaved(d, [BUILT_KIT], Math.ceil(runs / blocks));
      for (const k of ['rings', 'whole', 'marks']) per[i][k].push(...r[k]);
    }
  }
  daemons.forEach((d, i) => results.push([`daemon ${d}`, per[i]]));
} else {
  const list = kits.length > 0 ? kits : [BUILT_KIT, BUILT_KIT];
  const per = await interleaved(BUILT_DAEMON, list, runs);
  list.forEach((k, i) => results.push([`kit ${k}${kits.length === 0 ? ` (#${i + 1})` : ''}`, per[i]]));
}
const bwrap = median(await timeRuns(() => runCommand(['bwrap', '--unshare-all', '--ro-bind', '/', '/', '/bin/true']), { runs: 21 }));
console.log(`\nworkspace start, builds interleaved (${results[0][1].rings.length} runs each${daemons.length ? ', in 3 blocks per daemon' : ''}); bwrap --unshare-all --ro-bind / / /bin/true: median ${bwrap.toFixed(2)} ms`);
for (const [label, r] of results) report(label, r, bwrap);
