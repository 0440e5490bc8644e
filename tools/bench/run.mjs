#!/usr/bin/env node
// `npm run bench`: builds the apps, then runs every benchmark in tools/bench one after another.
// Each prints medians and ratios against reference tools timed in the same run.
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const env = { ...process.env, NX_DAEMON: 'false', NX_TUI: 'false' };
const build = spawnSync(join(root, 'node_modules/.bin/nx'), ['run-many', '-t', 'build', '--outputStyle=static'], { cwd: root, env, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);
const only = process.argv[2];
let failed = 0;
for (const file of readdirSync(here).filter((f) => f.endsWith('.mjs') && !['run.mjs', 'bench-util.mjs', 'content-bench-support.mjs', 'workspacekit-bench-support.mjs'].includes(f)).sort()) {
  if (only && !file.includes(only)) continue;
  console.log(`\n=== ${file}`);
  const r = spawnSync(process.execPath, [join(here, file)], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
