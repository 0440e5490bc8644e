#!/usr/bin/env node
// `npm test`: lint, build and test every project through Nx, then print ONE plain summary line,
// `N passed, N failed`, counting every Jest test plus one check per project for lint and build.
// Exits non-zero on any failure.
//
// Which projects: all of them, unless NX_BASE names a git revision that exists here; then only
// the projects affected since it (`nx affected`). A fresh single-commit clone has no HEAD~1, so
// it always runs everything. Test results are never replayed from the Nx cache (nx.json: test
// targets have cache: false; the cache itself lives in .nx/cache inside this clone).
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(import.meta.url), '../../..');
const resultsDir = join(root, '.test-results');
const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false', FORCE_COLOR: '0' };
const parallel = process.env.WSRUN_TEST_PARALLEL ?? '2';

function nxBin() {
  return join(root, 'node_modules/.bin/nx');
}

function selection() {
  const base = process.env.NX_BASE;
  if (base) {
    const ok = spawnSync('git', ['rev-parse', '--verify', '--quiet', `${base}^{commit}`], { cwd: root }).status === 0;
    if (ok) return { mode: 'affected', args: ['affected', `--base=${base}`] };
    console.log(`test: NX_BASE=${base} does not exist in this clone; running every project`);
  }
  return { mode: 'all', args: ['run-many', '--all'] };
}

function projectsWith(target, sel) {
  const args = sel.mode === 'affected' ? ['show', 'projects', '--affected', `--base=${process.env.NX_BASE}`] : ['show', 'projects'];
  const out = spawnSync(nxBin(), [...args, '--withTarget', target, '--json'], { cwd: root, env, encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`nx show projects failed: ${out.stderr}`);
  return JSON.parse(out.stdout);
}

/** Runs nx, streaming its output, and returns the exit code and the tasks it reported failed. */
function runNx(args) {
  return new Promise((resolvePromise) => {
    const child = spawn(nxBin(), args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let text = '';
    const relay = (stream, out) =>
      stream.on('data', (d) => {
        text += d;
        out.write(d);
      });
    relay(child.stdout, process.stdout);
    relay(child.stderr, process.stderr);
    child.on('close', (code) => {
      const failed = new Set();
      const section = text.split(/Failed tasks:/)[1] ?? '';
      for (const m of section.matchAll(/^\s*-\s+([\w@./-]+):(\w+)/gm)) failed.add(`${m[1]}:${m[2]}`);
      resolvePromise({ code: code ?? 1, failed });
    });
  });
}

const sel = selection();
rmSync(resultsDir, { recursive: true, force: true });
mkdirSync(resultsDir, { recursive: true });

const checks = { lint: projectsWith('lint', sel), build: projectsWith('build', sel), test: projectsWith('test', sel) };
console.log(`test: ${sel.mode === 'all' ? 'every project' : `projects affected since ${process.env.NX_BASE}`}: ${checks.test.join(', ') || '(none)'}`);

const common = ['--parallel', parallel, '--outputStyle=stream', '--nxBail=false'];
const lintBuild = await runNx([...sel.args, '-t', 'lint', 'build', ...common]);
// test targets are never cached (nx.json): every run runs every test; builds may come from the cache
const tests = await runNx([...sel.args, '-t', 'test', ...common]);
const failedTasks = new Set([...lintBuild.failed, ...tests.failed]);

let passed = 0;
let failed = 0;
const problems = [];
for (const target of ['lint', 'build']) {
  for (const project of checks[target]) {
    if (failedTasks.has(`${project}:${target}`)) {
      failed++;
      problems.push(`${project}:${target}`);
    } else passed++;
  }
}
for (const project of checks.test) {
  const file = join(resultsDir, `${project}.json`);
  if (!existsSync(file)) {
    failed++;
    problems.push(`${project}:test (no results: the run failed before or outside Jest)`);
    continue;
  }
  const r = JSON.parse(readFileSync(file, 'utf8'));
  passed += r.numPassedTests;
  failed += r.numFailedTests + r.numRuntimeErrorTestSuites;
  if (r.numFailedTests + r.numRuntimeErrorTestSuites > 0) {
    for (const suite of r.testResults.filter((s) => s.status === 'failed')) {
      problems.push(`${project}: ${suite.name.replace(`${root}/`, '')}`);
    }
  }
}
const unexplained = (lintBuild.code !== 0 || tests.code !== 0) && problems.length === 0;
if (unexplained) {
  failed++;
  problems.push(`nx exited with ${lintBuild.code || tests.code} without naming a failed task`);
}
const stray = readdirSync(resultsDir).length;
console.log('');
console.log(`test: ${checks.lint.length} lint and ${checks.build.length} build checks, Jest results of ${stray} projects`);
for (const p of problems) console.log(`  failed: ${p}`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed > 0 ? 1 : 0);
