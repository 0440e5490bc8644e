import { constants as fsConstants } from 'node:fs';
import { closeFd, openPath } from './fd-passing';
import { nativeError } from './native-ns.error';
import { pidfdOpen, pidfdSendSignal } from './processes';
import { spawnStage, withTimeout } from './stage';
import type { MountAttr, Namespace, Propagation, StageStep } from './stage-program';

/**
 * Running a closed list of mount operations inside another process's namespaces (and root).
 * Each call spawns a stage that joins the target's namespaces through a pidfd, optionally
 * enters its root, runs the operations and exits: Node itself never calls setns (its other
 * threads would stay behind). The list is closed on purpose: each operation is one a privileged
 * daemon needs to serve a workspace, with the target path always resolved inside the target's
 * root (RESOLVE_IN_ROOT).
 */
export type NsOperation =
  /** move a detached tree (an fd of this process) onto target */
  | { op: 'attachTree'; treeFd: number; target: string; create?: boolean; propagation?: Propagation }
  /** open_tree clone of path, handed back (see NsOpsResult.trees) */
  | { op: 'openTree'; path: string; recursive?: boolean }
  | { op: 'umount'; path: string; detach?: boolean }
  | { op: 'mkdir'; path: string; mode?: number }
  | { op: 'setattr'; path: string; set?: MountAttr[]; clear?: MountAttr[]; propagation?: Propagation; recursive?: boolean }
  /** a fresh filesystem mounted from inside (sysfs of the joined net namespace, tmpfs) */
  | { op: 'mountFs'; fstype: string; target: string; options?: string; attr?: MountAttr[]; create?: boolean };

export interface NsTarget {
  pid: number;
  /** namespaces to join, e.g. ['mount'] or ['user', 'mount', 'net'] */
  namespaces: Namespace[];
  /** enter the target's root (/proc/<pid>/root) after joining; default true */
  enterRoot?: boolean;
}

export interface NsOpsResult {
  /** fds of the trees opened by openTree operations, in order (owned by the caller) */
  trees: number[];
}

const O_PATH = 0o10000000;

export async function runInNamespaces(target: NsTarget, operations: NsOperation[], opts: { timeoutMs?: number } = {}): Promise<NsOpsResult> {
  const pidfd = pidfdOpen(target.pid);
  let rootFd = -1;
  try {
    if (target.enterRoot ?? true) {
      rootFd = openPath(`/proc/${target.pid}/root`, O_PATH | fsConstants.O_DIRECTORY);
      // the pid could have been recycled between pidfd_open and the open above: the pidfd says
      pidfdSendSignal(pidfd, 0);
    }
    const steps: StageStep[] = [{ op: 'setns', fd: pidfd, namespaces: target.namespaces }];
    if (rootFd >= 0) steps.push({ op: 'enterRoot', fd: rootFd });
    const treeTags: string[] = [];
    for (const [i, o] of operations.entries()) {
      switch (o.op) {
        case 'attachTree':
          steps.push({ op: 'mount', kind: 'fd', sourceFd: o.treeFd, target: o.target, create: o.create ?? false, ...(o.propagation ? { propagation: o.propagation } : {}) });
          break;
        case 'openTree':
          treeTags.push(`tree-${i}`);
          steps.push({ op: 'openTree', path: o.path, recursive: o.recursive ?? false, tag: `tree-${i}` });
          break;
        case 'umount':
          steps.push({ op: 'umount', path: o.path, detach: o.detach ?? false });
          break;
        case 'mkdir':
          steps.push({ op: 'mkdir', path: o.path, mode: o.mode ?? 0o755 });
          break;
        case 'setattr':
          steps.push({ op: 'setattr', path: o.path, set: o.set ?? [], clear: o.clear ?? [], ...(o.propagation ? { propagation: o.propagation } : {}), recursive: o.recursive ?? false });
          break;
        case 'mountFs':
          steps.push({ op: 'mount', kind: 'fs', fstype: o.fstype, target: o.target, options: o.options ?? '', attr: o.attr ?? [], create: o.create ?? false });
          break;
        default:
          throw new TypeError(`unknown namespace operation ${(o as { op: string }).op}`);
      }
    }
    const stage = spawnStage({ name: 'wsrun:ns-ops', steps, end: { exit: 0 } });
    const trees = treeTags.map((tag) => stage.receiveFd(tag));
    for (const t of trees) t.catch(() => undefined); // settled below; never an unhandled rejection
    try {
      await withTimeout(stage.ready, opts.timeoutMs ?? 10_000, `operations in the namespaces of pid ${target.pid}`);
    } catch (err) {
      try {
        stage.kill('SIGKILL');
      } catch {
        // it already exited after reporting its error
      }
      await stage.exited;
      for (const t of trees) t.then(closeFd, () => undefined);
      throw err;
    }
    const status = await stage.exited;
    if (status.code !== 0) throw nativeError('ECHILD', 10, 'waitid', { pid: stage.pid, detail: `namespace operations exited with ${status.code ?? status.signal}` });
    return { trees: await Promise.all(trees) };
  } finally {
    closeFd(pidfd);
    if (rootFd >= 0) closeFd(rootFd);
  }
}
