import { readFileSync, statSync } from 'node:fs';
import { dirname } from 'node:path';

/** Mount points of a process's mount namespace, from /proc/<pid>/mountinfo (field 5, unescaped). */
export function mountPoints(pid: number | 'self' = 'self'): string[] {
  return readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => unescapeMountinfo(line.split(' ')[4]!));
}

export interface MountEntry {
  id: number;
  parentId: number;
  /** the mounted folder inside its filesystem */
  root: string;
  /** where it is mounted, relative to the root of the process whose mountinfo this is */
  mountPoint: string;
  fstype: string;
}

/** The mounts of a process's mount namespace as that process sees them, in mount order. */
export function mountTable(pid: number | 'self' = 'self'): MountEntry[] {
  return readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const fields = line.split(' ');
      const dash = fields.indexOf('-');
      return {
        id: Number(fields[0]),
        parentId: Number(fields[1]),
        root: unescapeMountinfo(fields[3]!),
        mountPoint: unescapeMountinfo(fields[4]!),
        fstype: fields[dash + 1]!,
      };
    });
}

/** The mount on top at `path` (the last one mounted there), if any. */
export function topMountAt(path: string, pid: number | 'self' = 'self', table = mountTable(pid)): MountEntry | undefined {
  const at = table.filter((m) => m.mountPoint === path);
  // a mount stacked on another at the same place has the one below as its parent
  const ids = new Set(at.map((m) => m.parentId));
  return at.find((m) => !ids.has(m.id)) ?? at[at.length - 1];
}

export function isMountPoint(path: string, pid: number | 'self' = 'self'): boolean {
  return mountPoints(pid).includes(path);
}

/**
 * True when a filesystem of its own is mounted on `path` (its device differs from its parent
 * folder's): two stats, where isMountPoint reads the whole mount table, which grows with every
 * workspace on the node. Blind to a bind of the same filesystem: only for places where nothing
 * but a filesystem of its own is ever mounted (a workspace's mark gets an overlay).
 */
export function hasOwnFilesystem(path: string): boolean {
  try {
    return statSync(path).dev !== statSync(dirname(path)).dev;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

function unescapeMountinfo(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}
