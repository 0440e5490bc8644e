import { closeSync, openSync, constants } from 'node:fs';
import { packDirectory, type IdMapper } from '@wsrun/archive';

/** The tar of a folder as TakeSnapshot/BackupWorkspace make it (host ids mapped through mapId). */
export async function packTree(dir: string, mapId?: IdMapper): Promise<Buffer> {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    const { stream, done } = packDirectory(fd, mapId ? { mapId } : {});
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    await done;
    return Buffer.concat(chunks);
  } finally {
    closeSync(fd);
  }
}
