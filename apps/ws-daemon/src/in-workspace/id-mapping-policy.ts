import { WsError, WsErrorCode } from '@wsrun/common';
import { idMapProblem, type IdMapping } from '@wsrun/native-ns';
import type { DaemonConfig } from '../config/daemon-config';

/**
 * What a workspace may ask to be mapped: container 0 to the workspace's root uid (size 1), and any
 * other container ids only into the node's subordinate range, both bounds checked, no overlaps.
 * In particular host root (0) is never mapped. Throws WsError; nothing is written on refusal.
 */
export function checkWorkspaceMapping(mappings: IdMapping[], config: DaemonConfig): void {
  const problem = idMapProblem(mappings);
  if (problem) throw new WsError(WsErrorCode.InvalidArgument, `invalid mapping: ${problem}`);
  const root = mappings.filter((m) => m.containerId === 0);
  if (root.length !== 1 || root[0]!.hostId !== config.rootUid || root[0]!.size !== 1) {
    throw new WsError(WsErrorCode.PermissionDenied, `container id 0 must map to host id ${config.rootUid} with size 1`);
  }
  const low = config.subuidStart;
  const high = config.subuidStart + config.subuidSize; // exclusive
  for (const m of mappings) {
    if (m.containerId === 0) continue;
    if (m.hostId < low || m.hostId + m.size > high) {
      throw new WsError(
        WsErrorCode.PermissionDenied,
        `range ${m.containerId}->${m.hostId}+${m.size} leaves the subordinate range ${low}..${high - 1}`,
      );
    }
  }
}
