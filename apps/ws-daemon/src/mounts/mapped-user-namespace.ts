import { openPath, spawnStage, writeIdMap, type IdMapping } from '@wsrun/native-ns';

/**
 * A user namespace fd with a given id map, for idmapped mounts (MOUNT_ATTR_IDMAP takes the
 * mapping from a user namespace). A held stage is created in a new user namespace, its maps are
 * written, its namespace is opened, and the stage is ended without ever running: the fd keeps
 * the namespace alive for as long as the caller holds it.
 */
export async function openMappedUserNamespace(mapping: IdMapping[]): Promise<number> {
  const holder = spawnStage({ name: 'wsrun:userns', namespaces: ['user'], hold: true, end: { exit: 0 } });
  try {
    writeIdMap(holder.pid, 'uid', mapping);
    writeIdMap(holder.pid, 'gid', mapping, { setgroups: 'deny' });
    return openPath(`/proc/${holder.pid}/ns/user`, 0);
  } finally {
    holder.abort();
    await holder.exited;
  }
}
