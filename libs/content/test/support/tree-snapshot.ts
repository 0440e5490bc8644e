import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

/** What a test compares of a tree: type, mode, owner, and content or link target, by path. */
export interface TreeEntry {
  type: 'file' | 'dir' | 'symlink' | 'other';
  mode: number;
  uid: number;
  gid: number;
  content?: string;
}

export function snapshotTree(root: string, opts: { skip?: (path: string) => boolean } = {}): Record<string, TreeEntry> {
  const out: Record<string, TreeEntry> = {};
  const walk = (dir: string, prefix: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = prefix ? `${prefix}/${name}` : name;
      if (opts.skip?.(path)) continue;
      const full = join(dir, name);
      const st = lstatSync(full);
      const base = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
      if (st.isSymbolicLink()) out[path] = { type: 'symlink', ...base, content: readlinkSync(full) };
      else if (st.isFile()) out[path] = { type: 'file', ...base, content: createHash('sha256').update(readFileSync(full)).digest('hex').slice(0, 16) };
      else if (st.isDirectory()) {
        out[path] = { type: 'dir', ...base };
        walk(full, path);
      } else out[path] = { type: 'other', ...base };
    }
  };
  walk(root, '');
  return out;
}

/** Paths (names only) below root, sorted, dotfiles included. */
export function listTree(root: string): string[] {
  return Object.keys(snapshotTree(root)).sort();
}
