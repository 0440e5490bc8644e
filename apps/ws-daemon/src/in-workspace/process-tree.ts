import { readdirSync, readFileSync } from 'node:fs';
import type { ProcessIdentity } from '../registry/workspace';

/**
 * Processes as the daemon sees them (it runs in the node's pid namespace), read from /proc.
 * A workspace names processes by the pids of ITS pid namespace; resolveWorkspacePid translates
 * such a pid by looking only at descendants of the workspace's ring0, matching at the level of
 * ring0's pid namespace (NSpid), never at any other level.
 */
export interface ProcessInfo {
  pid: number;
  ppid: number;
  /** pids of this process in each pid namespace it is in, outermost (the node's) first */
  nspid: number[];
  startTime: number;
}

export function readProcess(pid: number): ProcessInfo | undefined {
  let status: string;
  let stat: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim() ?? '';
  if (/^[ZX]/.test(field('State'))) return undefined; // a zombie is not a live process
  // stat's fields after the last ")" (the command name may contain anything): starttime is #22
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    pid,
    ppid: Number(field('PPid')),
    nspid: field('NSpid').split(/\s+/).filter(Boolean).map(Number),
    startTime: Number(rest[19]),
  };
}

export function identify(pid: number): ProcessIdentity | undefined {
  const p = readProcess(pid);
  return p ? { pid: p.pid, startTime: p.startTime } : undefined;
}

/** True while the process recorded as `id` is alive (same pid AND same start time). */
export function isAlive(id: ProcessIdentity): boolean {
  return readProcess(id.pid)?.startTime === id.startTime;
}

function childrenOf(pid: number): number[] {
  const children: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return children;
  }
  for (const tid of tasks) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) children.push(...text.split(/\s+/).map(Number));
    } catch {
      // the thread exited meanwhile
    }
  }
  return children;
}

/** Every live descendant of pid (not pid itself), breadth first. */
export function descendants(pid: number): ProcessInfo[] {
  const found: ProcessInfo[] = [];
  const queue = childrenOf(pid);
  const seen = new Set<number>();
  while (queue.length > 0) {
    const next = queue.shift()!;
    if (seen.has(next)) continue;
    seen.add(next);
    const info = readProcess(next);
    if (!info) continue;
    found.push(info);
    queue.push(...childrenOf(next));
  }
  return found;
}

/**
 * The node pid of the descendant of ring0 that ring0's pid namespace calls `pid`, or undefined.
 * Only descendants count: a pid of another workspace, of the daemon or of ring0 itself never
 * matches, whatever number it has in some other namespace.
 */
export function resolveWorkspacePid(ring0: ProcessIdentity, pid: number): number | undefined {
  const root = readProcess(ring0.pid);
  if (!root || root.startTime !== ring0.startTime) return undefined;
  const level = root.nspid.length - 1;
  return descendants(ring0.pid).find((d) => d.nspid[level] === pid)?.pid;
}
