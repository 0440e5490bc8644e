import { attachTree, cloneTree, closeFd, dupFd, mount, openInRoot, openPath, pidfdOpen, pidfdSendSignal, runInNamespaces, setMountAttr, umount } from '@wsrun/native-ns';
import { randomUUID } from 'node:crypto';
import { constants as fsConstants, fstatSync, mkdirSync } from 'node:fs';
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
 */
export async function deliverTree(tree: number, to: { pid: number; target: string }, propagationDir: string): Promise<void> {
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
      await runInNamespaces({ pid: to.pid, namespaces: ['mount'] }, [
        { op: 'attachTree', treeFd: clone, target: to.target },
        { op: 'setattr', path: to.target, propagation: 'slave' },
      ]);
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

/** How deliverThroughMark ended: delivered; not tried (the tree is as it was); tried and undone (the tree is spent). */
export type MarkDelivery = 'delivered' | 'unsuitable' | 'undone';

/**
 * Delivers a detached tree at `target` of a process whose root is the workspace's root (ring2
 * after its pivot) without a stage: the tree is attached below the mark ON THE NODE, and mount
 * propagation copies it into the namespaces holding slave copies of the mark, the rings', where,
 * as with deliverTree, the masks under the copy's root are LOCKED for root inside. The mark is
 * the workspace's own shared point (RootFilesystem: one peer group per workspace), so no
 * propagation point and no stage (~1 ms of the ~2 ms) are needed. The node-side copy then
 * leaves the peer group (private) and is unmounted, as P is in deliverTree. Until then (the
 * answer goes out first) it is also at <mark>/<target> on the node, where the workspace user's
 * uid there (33333) could look: it would see the masked proc of the workspace's pid namespace,
 * whose processes it sees in the node's /proc anyway.
 *
 * Tried only when `target` resolves, inside the process's root, to the very folder it resolves to
 * inside the mark (not e.g. a folder on a tmpfs of the rings' own, or in a nested mount
 * namespace); afterwards the process must see the tree at `target`, else the node-side copy is
 * unmounted WITH propagation (taking the copies away again) and the caller uses deliverTree.
 */
export function deliverThroughMark(tree: number, to: { pid: number; target: string }, mark: string): MarkDelivery {
  const pidfd = pidfdOpen(to.pid);
  const fds = [pidfd];
  try {
    const markFd = openPath(mark, O_PATH | fsConstants.O_DIRECTORY);
    fds.push(markFd);
    const rootFd = openPath(`/proc/${to.pid}/root`, O_PATH | fsConstants.O_DIRECTORY);
    fds.push(rootFd);
    // the pid could have been recycled between its resolution and the open above: the pidfd says
    pidfdSendSignal(pidfd, 0);
    const seen = fileAt(rootFd, to.target);
    if (!seen || !sameFile(seen, fileAt(markFd, to.target))) return 'unsuitable';
    try {
      attachTree(tree, to.target, { rootFd: markFd });
    } catch {
      return 'unsuitable'; // nothing changed: deliverTree reports why it cannot be mounted there
    }
    // the tree fd now stands for the node-side mount: "." of it is exactly that mount
    if (sameFile(fileAt(rootFd, to.target), fstatSync(tree))) {
      setMountAttr(tree, { propagation: 'private', recursive: true });
      // Private, nothing passes between the node-side copy and the rings' any more. Its unmount
      // waits for an RCU grace period (0.05-1.5 ms here): it runs right after the answer is out.
      const copy = dupFd(tree);
      setImmediate(() => {
        try {
          umount('.', { rootFd: copy, detach: true });
        } catch {
          // left to Teardown, whose unmount of the mark takes everything below it
        } finally {
          closeFd(copy);
        }
      });
      return 'delivered';
    }
    umount('.', { rootFd: tree, detach: true });
    return 'undone';
  } finally {
    for (const fd of fds) closeFd(fd);
  }
}

/** dev and inode of what `path` is inside rootFd, or undefined when it cannot be opened. */
function fileAt(rootFd: number, path: string): { dev: number; ino: number } | undefined {
  let fd: number;
  try {
    fd = openInRoot(rootFd, path);
  } catch {
    return undefined;
  }
  try {
    return fstatSync(fd);
  } finally {
    closeFd(fd);
  }
}

function sameFile(a: { dev: number; ino: number } | undefined, b: { dev: number; ino: number } | undefined): boolean {
  return a !== undefined && b !== undefined && a.dev === b.dev && a.ino === b.ino;
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
