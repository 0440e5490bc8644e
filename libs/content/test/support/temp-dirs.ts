import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A temp folder others may enter (the sandbox runs as the workspace's uid), removed by cleanup. */
export function tempDir(prefix: string): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), `wsrun-${prefix}-`));
  chmodSync(path, 0o755);
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** A workspace folder as ws-daemon makes it: owned by the host uid that is root inside. */
export function workspaceDir(parent: string, name = 'workspace'): string {
  const path = join(parent, name);
  mkdirSync(path, { mode: 0o755 });
  chownSync(path, 33333, 33333);
  return path;
}
