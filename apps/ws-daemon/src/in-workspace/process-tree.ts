import { closeSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs';
import type { ProcessIdentity } from '../registry/workspace';

/**
 * Processes as the daemon sees them (it runs in the node's pid namespace), read from /proc.
 * A workspace names processes by the pids of ITS pid namespace; resolveWorkspacePid translates
 * such a pid by looking only at descendants of the workspace's ring0, matching at the level of
 * ring0's pid namespace (NSpid), never at any other level.
 */

interface Stat {
  state: string;
  ppid: number;
  startTime: number;
}

const buffer = Buffer.allocUnsafe(8192);

/**
 * A small /proc file: open, read, close (readFileSync also stats it and reads again to find the
 * end, each a syscall, on the start path of every workspace). Undefined when it is gone.
 */
function readProcFile(path: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    let length = 0;
    for (;;) {
      const n = readSync(fd, buffer, length, buffer.length - length, null);
      length += n;
      if (n === 0) return buffer.toString('latin1', 0, length);
      if (length === buffer.length) return readFileSync(path, 'latin1'); // a big one: rare
    }
  } catch {
    return undefined; // the process went away meanwhile (ESRCH)
  } finally {
    closeSync(fd);
  }
}

/** State, parent and start time from /proc/<pid>/stat (one read); undefined when it is gone. */
function readStat(pid: number): Stat | undefined {
  const stat = readProcFile(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  // the fields after the last ")" (the command name may contain anything): state #3, ppid #4, starttime #22
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { state: rest[0]!, ppid: Number(rest[1]), startTime: Number(rest[19]) };
}

/** A zombie is not a live process. */
const isLive = (s: Stat | undefined): s is Stat => s !== undefined && s.state !== 'Z' && s.state !== 'X';

/** pids of a live process in each pid namespace it is in, outermost (the node's) first. */
function nsPids(pid: number): number[] | undefined {
  const status = readProcFile(`/proc/${pid}/status`);
  if (status === undefined) return undefined;
  if (/^State:\s*[ZX]/m.test(status)) return undefined;
  return /^NSpid:\s*(.*)$/m.exec(status)?.[1]?.trim().split(/\s+/).map(Number);
}

export function identify(pid: number): ProcessIdentity | undefined {
  const s = readStat(pid);
  return isLive(s) ? { pid, startTime: s.startTime } : undefined;
}

/** True while the process recorded as `id` is alive (same pid AND same start time). */
export function isAlive(id: ProcessIdentity): boolean {
  const s = readStat(id.pid);
  return isLive(s) && s.startTime === id.startTime;
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
    // undefined: the thread exited meanwhile
    const text = readProcFile(`/proc/${pid}/task/${tid}/children`)?.trim();
    if (text) children.push(...text.split(/\s+/).map(Number));
  }
  return children;
}

/** Deeper than any process tree a workspace makes: a bound on walking up a chain of parents. */
const MAX_DEPTH = 1024;

/** True when `ancestor` is the parent, grandparent, ... of the live process `pid`. */
function descendsFrom(pid: number, ancestor: number): boolean {
  const self = readStat(pid);
  if (!isLive(self)) return false;
  let ppid = self.ppid;
  for (let hops = 0; hops < MAX_DEPTH && ppid > 0; hops++) {
    if (ppid === ancestor) return true;
    const parent = readStat(ppid);
    if (!parent) return false;
    ppid = parent.ppid;
  }
  return false;
}

/** ring0's pid namespace level (0: the daemon's own) by identity: a process never changes it. */
const levels = new Map<string, number>();

function pidNamespaceLevel(ring0: ProcessIdentity): number | undefined {
  const key = `${ring0.pid}:${ring0.startTime}`;
  let level = levels.get(key);
  if (level === undefined) {
    const ids = nsPids(ring0.pid);
    if (!ids) return undefined;
    level = ids.length - 1;
    // a node starts many workspaces over the daemon's life: forget old ring0s now and then
    if (levels.size >= 1024) levels.clear();
    levels.set(key, level);
  }
  return level;
}

/**
 * The node pid of the descendant of ring0 that ring0's pid namespace calls `pid`, or undefined.
 * Only descendants count: a pid of another workspace, of the daemon or of ring0 itself never
 * matches, whatever number it has in some other namespace.
 */
export function resolveWorkspacePid(ring0: ProcessIdentity, pid: number): number | undefined {
  if (!isAlive(ring0)) return undefined;
  const level = pidNamespaceLevel(ring0);
  if (level === undefined) return undefined;
  // ring0 in the daemon's own pid namespace (one machine): `pid` is a node pid, and a walk up its
  // parents (a few reads) tells whether it descends from ring0, where a walk down ring0's tree
  // reads the children of every thread of ring0 (a Node process: ~10) and of each descendant
  if (level === 0) return descendsFrom(pid, ring0.pid) ? pid : undefined;
  // deeper (a pod's pid namespace), only NSpid maps a pid of that namespace to a node pid
  const queue = childrenOf(ring0.pid);
  const seen = new Set<number>();
  while (queue.length > 0) {
    const next = queue.shift()!;
    if (seen.has(next)) continue;
    seen.add(next);
    const ids = nsPids(next);
    if (!ids) continue;
    if (ids[level] === pid) return next;
    queue.push(...childrenOf(next));
  }
  return undefined;
}
