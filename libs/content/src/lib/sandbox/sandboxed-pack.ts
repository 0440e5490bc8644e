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
 * CRC-32 of the archive as the child wrote it, to check what arrived against.
 */
export interface PackedArchive extends PackStats {
  /** zlib's crc32 of every byte the child wrote, in order */
  crc32: number;
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
