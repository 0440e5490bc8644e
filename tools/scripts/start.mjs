#!/usr/bin/env node
// `npm start`: builds the apps (Nx, cached) and runs the embedded node in the foreground:
// ws-daemon (private Redis, local storage, gRPC on <state-dir>/daemon.sock) and content-init's
// queue worker beside it. Arguments after `--` go to ws-daemon, e.g.
// `npm start -- --state-dir /tmp/wsrun` or `npm start -- --help`. Ctrl-C stops both.
import { spawn, spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(import.meta.url), '../../..');
const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' };
const args = process.argv.slice(2);
const build = spawnSync(join(root, 'node_modules/.bin/nx'), ['run-many', '-t', 'build', '-p', 'ws-daemon', 'content-init', '--outputStyle=static'], { cwd: root, env, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

const daemonMain = join(root, 'dist/apps/ws-daemon/main.js');
if (args.includes('--help') || args.includes('-h')) {
  process.exit(spawnSync(process.execPath, [daemonMain, '--help'], { stdio: 'inherit' }).status ?? 0);
}
// the worker finds the daemon's Redis and storage through the same state folder
const stateAt = args.indexOf('--state-dir');
const stateDir = stateAt >= 0 ? args[stateAt + 1] : (process.env.WSRUN_STATE_DIR ?? '/var/lib/wsrun');

const children = [];
let stopping = false;
const stopAll = (signal) => {
  stopping = true;
  for (const c of children) if (c.exitCode === null) c.kill(signal);
};
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => stopAll(signal));

const daemon = spawn(process.execPath, [daemonMain, ...args], { cwd: root, stdio: ['ignore', 'inherit', 'pipe'] });
children.push(daemon);
let started = false;
daemon.stderr.on('data', (d) => {
  process.stderr.write(d);
  if (!started && d.toString().includes('ws-daemon ready')) {
    started = true;
    const worker = spawn(process.execPath, [join(root, 'dist/apps/content-init/main.js'), 'worker', '--state-dir', stateDir], { cwd: root, stdio: 'inherit' });
    children.push(worker);
    worker.on('exit', (code) => {
      if (!stopping) {
        process.stderr.write(`start: content-init worker exited (${code}); stopping ws-daemon\n`);
        stopAll('SIGTERM');
      }
    });
  }
});
daemon.on('exit', (code, signal) => {
  stopAll('SIGTERM');
  process.exitCode = code ?? (signal ? 128 : 1);
});
