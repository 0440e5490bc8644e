#!/usr/bin/env node
// `npm start`: builds the apps (Nx, cached) and runs ws-daemon on its embedded defaults in the
// foreground. Extra arguments go to ws-daemon: `npm start -- --state-dir /tmp/wsrun --help`.
import { spawn, spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(import.meta.url), '../../..');
const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' };
const build = spawnSync(join(root, 'node_modules/.bin/nx'), ['run', 'ws-daemon:build', '--outputStyle=static'], { cwd: root, env, stdio: 'inherit' });
if (build.status !== 0) process.exit(build.status ?? 1);

const daemon = spawn(process.execPath, [join(root, 'dist/apps/ws-daemon/main.js'), ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => daemon.kill(signal));
daemon.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 : 1)));
