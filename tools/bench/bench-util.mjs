// Shared helpers of the benchmarks: timing loops, medians, side-by-side tables.
import { spawnSync } from 'node:child_process';

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Runs fn `runs` times after `warmup` runs; returns the durations in ms. */
export async function timeRuns(fn, { runs = 30, warmup = 3 } = {}) {
  for (let i = 0; i < warmup; i++) await fn();
  const out = [];
  for (let i = 0; i < runs; i++) {
    const t = process.hrtime.bigint();
    await fn();
    out.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return out;
}

/** A whole command, spawned and awaited; throws when it fails. */
export function runCommand(argv, opts = {}) {
  const r = spawnSync(argv[0], argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'], ...opts });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr?.toString().slice(0, 400)}`);
}

export function available(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** Prints rows {name, ms} with the ratio to the reference row. */
export function table(title, rows, reference) {
  const ref = rows.find((r) => r.name === reference);
  console.log(`\n${title}`);
  for (const r of rows) {
    const ratio = ref ? ` ${(r.ms / ref.ms).toFixed(2)}x of ${reference}` : '';
    console.log(`  ${r.name.padEnd(58)} median ${r.ms.toFixed(2).padStart(8)} ms${ratio}`);
  }
}
