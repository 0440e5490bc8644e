import type { IdMapping } from '@wsrun/native-ns';
import type { IdMapper } from './tar-entry';

/**
 * IdMappers from a workspace's user-namespace map (the ranges written to uid_map/gid_map): for
 * packing a backup (host → workspace ids) and for restoring it (workspace → host ids). An id
 * outside every range becomes the overflow id 65534, as the kernel shows unmapped ids.
 */

export const OVERFLOW_ID = 65534;

function lookup(ranges: readonly IdMapping[], id: number, from: 'hostId' | 'containerId', to: 'hostId' | 'containerId'): number {
  for (const r of ranges) if (id >= r[from] && id < r[from] + r.size) return r[to] + (id - r[from]);
  return OVERFLOW_ID;
}

export function workspaceIdMappers(uidMap: readonly IdMapping[], gidMap: readonly IdMapping[] = uidMap): { toWorkspace: IdMapper; toHost: IdMapper } {
  return {
    toWorkspace: { uid: (id) => lookup(uidMap, id, 'hostId', 'containerId'), gid: (id) => lookup(gidMap, id, 'hostId', 'containerId') },
    toHost: { uid: (id) => lookup(uidMap, id, 'containerId', 'hostId'), gid: (id) => lookup(gidMap, id, 'containerId', 'hostId') },
  };
}
