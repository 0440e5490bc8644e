import { attachTree, cloneTree, closeFd, mount, openPath, runInNamespaces, setMountAttr, umount } from '@wsrun/native-ns';
import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { mountTable, topMountAt } from './mount-table';

const O_PATH = 0o10000000;
const PROPAGATION_POINT = /\/propagation\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * Delivers a detached tree (a masked proc or sysfs) into another process's mount namespace at
 * `target`, resolved inside that process's root, so that the tree's masks arrive LOCKED for root
 * inside the workspace:
 *
 * 1. a fresh propagation point P on the node: a bind of an empty folder onto itself, shared in a
 *    peer group of its own (one per delivery: two workspaces sharing one saw each other's proc);
 * 2. a clone of P is moved into the target's namespace at `target` and made a slave there;
 * 3. the tree is attached on P: the kernel copies it into the slave, and because the slave's
 *    namespace belongs to a less privileged user namespace, every mount under the copy's root
 *    (the masks) is locked: root inside cannot unmount them, remount them read-write or mount a
 *    fresh unmasked proc (a plain move_mount into the namespace locks nothing);
 * 4. P leaves its peer group (private) and is unmounted on the node: it would pin the pid
 *    namespace, and without the peer group nothing of the unmount propagates to the workspace.
 *    Its folder is kept (see below) and removed at Teardown.
 *
 * `fromThread`: step 2 from a thread of the daemon (runInNamespaces), for a target that no
 * process of the workspace can have made (a FUSE mount on the way would block that thread).
 */
export async function deliverTree(tree: number, to: { pid: number; target: string }, propagationDir: string, opts: { fromThread?: boolean } = {}): Promise<void> {
  const point = join(propagationDir, randomUUID());
  mkdirSync(point, { recursive: true, mode: 0o700 });
  let pointFd = -1;
  try {
    mount({ kind: 'bind', source: point, target: point });
    pointFd = openPath(point, O_PATH);
    setMountAttr(pointFd, { propagation: 'private' });
    setMountAttr(pointFd, { propagation: 'shared' });
    const clone = cloneTree(point);
    try {
      await runInNamespaces(
        { pid: to.pid, namespaces: ['mount'] },
        [
          { op: 'attachTree', treeFd: clone, target: to.target },
          { op: 'setattr', path: to.target, propagation: 'slave' },
        ],
        { fromThread: opts.fromThread ?? false },
      );
    } finally {
      closeFd(clone);
    }
    attachTree(tree, point);
  } finally {
    if (pointFd >= 0) {
      setMountAttr(pointFd, { propagation: 'private', recursive: true });
      closeFd(pointFd);
    }
    unmountAll(point);
    // the folder stays until Teardown: deleting a folder detaches every mount on it in EVERY
    // namespace, and the delivered tree sits on the slave's root, which is this very folder
  }
}

/**
 * Unmounts everything stacked on `point` (the tree, then the bind below it) until umount says it
 * is no mount point (EINVAL): a few syscalls, where asking mountinfo before each step reads the
 * daemon's whole mount table, which grows with every workspace on the node.
 */
function unmountAll(point: string): void {
  // at most the bind and the tree are stacked there: the bound is only against a surprise
  for (let i = 0; i < 8; i++) {
    try {
      umount(point, { detach: true });
    } catch (err) {
      if ((err as { code?: string }).code === 'EINVAL') return;
      throw err;
    }
  }
}

/**
 * Removes a tree delivered at `target` inside the process, and the propagation point's slave
 * under it, in one stage (the process may react to the first unmount and exit before a second
 * visit). Only a mount of `fstype` is taken away, and under it only a propagation point of ours:
 * a path where something else is mounted on top is refused, never unmounted blindly.
 */
export async function removeDeliveredTree(to: { pid: number; target: string }, fstype: 'proc' | 'sysfs'): Promise<boolean> {
  const table = mountTable(to.pid);
  const top = topMountAt(to.target, to.pid, table);
  if (!top || top.fstype !== fstype) return false;
  const below = table.find((m) => m.id === top.parentId);
  // a propagation point's root is its folder, relative to the filesystem the state dir is on
  const withPoint = below !== undefined && below.mountPoint === to.target && PROPAGATION_POINT.test(below.root);
  const umount = { op: 'umount' as const, path: to.target, detach: true };
  await runInNamespaces({ pid: to.pid, namespaces: ['mount'] }, withPoint ? [umount, umount] : [umount]);
  return true;
}
