import type { PackStats } from '@wsrun/archive';
import { onlyCapabilities, type IdMapping } from '@wsrun/native-ns';
import type { Readable } from 'node:stream';
import { SANDBOX_DESTINATION } from '../request/child-protocol';
import { runSandboxedChild, WORKSPACE_ID_MAPPING, type SandboxedRunOptions } from './sandboxed-child';

/**
 * The tar stream of a workspace folder, produced by a confined child running with the workspace's
 * identity inside the folder (never by host root following links the user made): the folder is
 * bound read-only, the child may read every file (DAC_READ_SEARCH, nothing else), and the ids in
 * the archive are the workspace's own (the kernel shows them through the user namespace).
 * `consume` gets the bytes as they come (e.g. an upload); resolves with what was packed, and the
 * sha256 of the archive as the child wrote it (hashed there, on the child's own core), to check
 * what storage stored against.
 */
export interface PackedArchive extends PackStats {
  sha256: string;
}

export async function runSandboxedPack(
  request: { destination: string; idMapping?: IdMapping[] },
  consume: (tar: Readable) => Promise<void>,
  options: SandboxedRunOptions,
): Promise<PackedArchive> {
  const idMapping = request.idMapping ?? WORKSPACE_ID_MAPPING;
  return runSandboxedChild<PackedArchive>(
    { destination: request.destination, idMapping },
    { operation: 'pack', destination: SANDBOX_DESTINATION, idMapping },
    options,
    { capabilities: onlyCapabilities(['DAC_READ_SEARCH']), readOnlyDestination: true, consumeData: consume },
  );
}
