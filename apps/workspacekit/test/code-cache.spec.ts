import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

// main.js is a loader of main.bundle.js with a V8 code cache made at build time
// (tools/build/code-cache.mjs): it makes every ring0 start faster, and must never break one.
const DIST = resolve(__dirname, '../../../dist/apps/workspacekit');
const help = (dir: string) =>
  spawnSync(process.execPath, [join(dir, 'main.js'), '--help'], { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '', WSRUN_CODE_CACHE_DEBUG: '1' } });

describe('workspacekit code cache', () => {
  it('the build makes a cache that this node accepts', () => {
    const r = help(DIST);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain('code cache: accepted');
    expect(r.stdout).toContain('Usage: workspacekit');
  });

  it('a damaged or missing cache only means a normal compile', () => {
    const copy = mkdtempSync(join(tmpdir(), 'wskit-cache-'));
    try {
      cpSync(DIST, copy, { recursive: true });
      writeFileSync(join(copy, 'main.bundle.js.cache'), Buffer.alloc(4096, 7));
      const damaged = help(copy);
      expect(damaged.stderr).toContain('code cache: rejected');
      expect(damaged.status).toBe(0);
      expect(damaged.stdout).toContain('Usage: workspacekit');
      rmSync(join(copy, 'main.bundle.js.cache'));
      const missing = help(copy);
      expect(missing.stderr).toContain('code cache: missing');
      expect(missing.status).toBe(0);
      expect(missing.stdout).toContain('Usage: workspacekit');
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });
});
