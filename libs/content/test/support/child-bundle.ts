import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildSync } from 'esbuild';

const NATIVE_DIR = resolve(__dirname, '../../../native-ns/build/Release');

/**
 * A content-init-like bundle of the sandboxed child (fixtures/child-main.ts) and its download
 * thread, with the native-ns addon next to them, in a world-readable temp folder: the sandbox
 * runs as the workspace's uid.
 */
export function buildChildBundle(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'wsrun-content-child-'));
  chmodSync(dir, 0o755);
  buildSync({
    // the child, and beside it the thread it downloads archives on, as in content-init's bundle
    entryPoints: { 'sandbox-child': resolve(__dirname, '../fixtures/child-main.ts'), 'download-thread': resolve(__dirname, '../fixtures/download-thread.ts') },
    outdir: dir,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    tsconfig: resolve(__dirname, '../../tsconfig.lib.json'),
    logLevel: 'error',
  });
  mkdirSync(join(dir, 'native'), { mode: 0o755 });
  chmodSync(join(dir, 'native'), 0o755);
  for (const f of ['native_ns.node', 'wsrun-stage']) copyFileSync(join(NATIVE_DIR, f), join(dir, 'native', f));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
