// Shared by the workspace start benchmarks (workspacekit-start.mjs, workspacekit-ab.mjs): a node
// with one ready workspace served by a real ws-daemon, and a ring0 run on it as the workspace
// user, which reports its own timings (WORKSPACEKIT_TIMINGS).
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const workspaceRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const BUILT_DAEMON = join(workspaceRoot, 'dist/apps/ws-daemon/main.js');
export const BUILT_KIT = join(workspaceRoot, 'dist/apps/workspacekit/main.js');

/**
 * Runs `body` with a daemon (`daemon`: its main.js) serving one workspace, reused run after run
 * (each ring0 prepares it and tears it down). The daemon goes, with its mounts, also when the
 * body fails. `body` gets { ring0(kit, argv), runtime, socket }: ring0 runs workspacekit's main.js
 * `kit` as uid 33333 and returns { status, stderr, timings } (timings: ringsMs and the marks).
 */
export async function withBenchNode(daemon, body) {
  if (!existsSync(daemon)) throw new Error(`${daemon} missing: run npm run build`);
  const state = mkdtempSync(join(tmpdir(), 'wsrun-bench-node-'));
  chmodSync(state, 0o755);
  const ws = { id: 'bench', owner: 'bench', state: 'ready', createdAt: new Date().toISOString(), idMapping: [{ containerId: 0, hostId: 33333, size: 1 }, { containerId: 1, hostId: 100000, size: 65536 }] };
  writeFileSync(join(state, 'registry.json'), JSON.stringify({ version: 1, workspaces: [ws] }));
  const content = join(state, 'workspaces/bench/content');
  mkdirSync(content, { recursive: true });
  chownSync(content, 33333, 33333);
  const socket = join(state, 'workspaces/bench/daemon/daemon.sock');
  const daemonProcess = spawn(process.execPath, [daemon, '--state-dir', state, '--log-level', 'error', '--id-map-rate-limit', '100000'], { stdio: 'ignore' });
  const runtime = join(tmpdir(), 'wsrun-bench-kit');
  const timingsFile = join(tmpdir(), `wsrun-bench-timings-${process.pid}.json`);
  try {
    while (!existsSync(socket)) {
      if (daemonProcess.exitCode !== null) throw new Error(`the daemon exited with ${daemonProcess.exitCode}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    writeFileSync(timingsFile, '');
    chmodSync(timingsFile, 0o666);
    const ring0 = (kit, argv) => {
      const r = spawnSync(process.execPath, [kit, 'ring0', '--daemon-socket', socket, '--runtime-dir', runtime, '--', ...argv], {
        uid: 33333,
        gid: 33333,
        cwd: '/',
        env: { PATH: '/usr/bin:/bin', WORKSPACEKIT_TIMINGS: timingsFile, WSRUN_LOG_LEVEL: 'error', ...(process.env.NODE_EXTRA_CA_CERTS ? { NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS } : {}) },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      if (r.status !== 0) throw new Error(`ring0 (${kit}) failed with ${r.status ?? r.signal}: ${r.stderr}`);
      return { status: r.status, stderr: r.stderr.toString(), timings: JSON.parse(readFileSync(timingsFile, 'utf8')) };
    };
    return await body({ ring0, runtime, socket });
  } finally {
    daemonProcess.kill('SIGTERM');
    if (daemonProcess.exitCode === null) await new Promise((r) => daemonProcess.once('exit', r));
    spawnSync('sh', ['-c', `grep -o ' ${state}[^ ]*' /proc/self/mountinfo | sort -r | xargs -r -n1 umount -l`]);
    rmSync(state, { recursive: true, force: true });
    rmSync(runtime, { recursive: true, force: true });
    rmSync(timingsFile, { force: true });
  }
}
