import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeFd, socketPair, spawnStage, type Stage, type StageOptions } from '../src';

/** A temp folder removed after the test file. */
export function tempDir(prefix: string): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), `wsrun-${prefix}-`));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

export const WORKSPACE_MAP = [
  { containerId: 0, hostId: 33333, size: 1 },
  { containerId: 1, hostId: 100000, size: 65534 },
];

/** Reads everything a stream socket gives until EOF. */
export function collect(fd: number): Promise<string> {
  // net.Socket takes ownership of the fd
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const net = require('node:net') as typeof import('node:net');
  const sock = new net.Socket({ fd, readable: true, writable: false });
  return new Promise((resolve, reject) => {
    let out = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => (out += d));
    sock.on('end', () => resolve(out));
    sock.on('error', reject);
  });
}

/**
 * Spawns a stage whose stdout/stderr go to a socket pair; returns the stage and its output
 * (resolved when the command closed its stdout).
 */
export function spawnCapturing(options: StageOptions): { stage: Stage; output: Promise<string> } {
  const [ours, theirs] = socketPair('stream');
  let stage: Stage;
  try {
    stage = spawnStage({ ...options, fds: { ...(options.fds ?? {}), 1: theirs, 2: theirs } });
  } catch (err) {
    closeFd(ours);
    closeFd(theirs);
    throw err;
  }
  // the stage got its copy with the program (or will, at release); ours must go for EOF to come
  const output = collect(ours);
  // with hold, the program (and this fd) is sent at release: close our copy once it is settled
  stage.ready.finally(() => closeFd(theirs)).catch(() => undefined);
  return { stage, output };
}
