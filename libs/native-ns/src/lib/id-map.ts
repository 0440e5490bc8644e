import { native } from './loader';
import { nativeError } from './native-ns.error';

/** One line of a uid_map or gid_map. */
export interface IdMapping {
  containerId: number;
  hostId: number;
  size: number;
}

const ID_MAX = 0xffffffff; // ids are u32; (u32)-1 is never valid

/** The kernel accepts at most this many lines per map (since Linux 4.15). */
export const MAX_ID_MAP_LINES = 340;

/**
 * Checks a map the way the kernel would, plus what the kernel lets through silently: every range
 * is non-empty, both its bounds stay below 2^32-1 on both sides, and no two ranges overlap on
 * either side. Returns the error message, or null when valid.
 */
export function idMapProblem(mappings: readonly IdMapping[]): string | null {
  if (mappings.length === 0) return 'the map is empty';
  if (mappings.length > MAX_ID_MAP_LINES) return `the map has ${mappings.length} ranges; the kernel takes at most ${MAX_ID_MAP_LINES}`;
  for (const [i, m] of mappings.entries()) {
    for (const key of ['containerId', 'hostId', 'size'] as const) {
      if (!Number.isInteger(m[key]) || m[key] < 0) return `range ${i}: ${key} ${m[key]} is not a non-negative integer`;
    }
    if (m.size === 0) return `range ${i} is empty (size 0)`;
    if (m.containerId + m.size > ID_MAX) return `range ${i}: container ids ${m.containerId}+${m.size} pass the upper bound ${ID_MAX}`;
    if (m.hostId + m.size > ID_MAX) return `range ${i}: host ids ${m.hostId}+${m.size} pass the upper bound ${ID_MAX}`;
  }
  for (let i = 0; i < mappings.length; i++) {
    for (let j = i + 1; j < mappings.length; j++) {
      const a = mappings[i]!;
      const b = mappings[j]!;
      if (overlaps(a.containerId, a.size, b.containerId, b.size)) return `ranges ${i} and ${j} overlap in container ids`;
      if (overlaps(a.hostId, a.size, b.hostId, b.size)) return `ranges ${i} and ${j} overlap in host ids`;
    }
  }
  return null;
}

function overlaps(a: number, alen: number, b: number, blen: number): boolean {
  return a < b + blen && b < a + alen;
}

/** The text the kernel expects: one "container host size" line per range. */
export function formatIdMap(mappings: readonly IdMapping[]): string {
  return mappings.map((m) => `${m.containerId} ${m.hostId} ${m.size}\n`).join('');
}

/**
 * Writes the uid or gid map of `pid` in one write (the kernel takes exactly one). For gid maps,
 * `setgroups: 'deny'` is written first when asked (after the gid map it would be EPERM).
 * Throws NativeNsError: EINVAL for a map that fails idMapProblem (nothing written), EPERM for a
 * second write, ESRCH/ENOENT when the process is gone.
 */
export function writeIdMap(pid: number, kind: 'uid' | 'gid', mappings: readonly IdMapping[], opts: { setgroups?: 'allow' | 'deny' } = {}): void {
  const problem = idMapProblem(mappings);
  if (problem) throw nativeError('EINVAL', 22, 'write', { path: `/proc/${pid}/${kind}_map`, pid, detail: problem });
  if (kind === 'gid' && opts.setgroups) native().writeSetgroups(pid, opts.setgroups);
  native().writeIdMap(pid, kind === 'uid' ? 'uid_map' : 'gid_map', formatIdMap(mappings));
}
