import { constants as fsConstants } from 'node:fs';
import { closeFd, openPath } from './fd-passing';
import { native } from './loader';
import type { NativeJoinOp } from './native';
import { nativeError } from './native-ns.error';
import { pidfdOpen, pidfdSendSignal } from './processes';
import { spawnStage, withTimeout } from './stage';
import { attrMask, cloneFlags, type MountAttr, type Namespace, type Propagation, type StageStep } from './stage-program';
import { PropagationCode, UmountFlag } from './wire-constants';

/**
 * Running a closed list of mount operations inside another process's namespaces (and root).
 * A stage process joins them, works and exits (killed when it takes longer than timeoutMs). With
 * `fromThread`, a thread of this process made for the call does it instead (src/core/nsjoin.c:
 * it unshares its fs_struct, joins the mount, net, uts or ipc namespaces through a pidfd, works,
 * exits): no process to start, but a thread cannot be stopped, so only for paths no process of
 * the target can have made (a FUSE mount it serves would block the thread for as long as it
 * likes). Node's own threads never call setns. The list is closed on purpose: each operation is
 * one a privileged daemon needs to serve a workspace, with the target path always resolved
 * inside the target's root (RESOLVE_IN_ROOT).
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
/** what a thread may join (setns is per thread for these); see src/core/nsjoin.h */
const JOINABLE: readonly Namespace[] = ['mount', 'net', 'uts', 'ipc'];

/** Twin: enum ns_join_kind in src/core/nsjoin.h. */
const JoinKind = { attachTree: 1, openTree: 2, umount: 3, mkdir: 4, setattr: 5, mountFs: 6 } as const;

/**
 * Runs the operations in order in the target's namespaces; the first failure rejects and the
 * trees opened before it are closed. `timeoutMs` (default 10 s) bounds a stage; `fromThread`:
 * see the top of this file (the namespaces must all be joinable by a thread).
 */
export async function runInNamespaces(target: NsTarget, operations: NsOperation[], opts: { timeoutMs?: number; fromThread?: boolean } = {}): Promise<NsOpsResult> {
  if (opts.fromThread && !(target.namespaces.length > 0 && target.namespaces.every((ns) => JOINABLE.includes(ns)))) {
    throw new TypeError(`runInNamespaces: a thread can join only ${JOINABLE.join(', ')} namespaces, not ${target.namespaces.join(', ')}`);
  }
  const pidfd = pidfdOpen(target.pid);
  let rootFd = -1;
  try {
    if (target.enterRoot ?? true) {
      rootFd = openPath(`/proc/${target.pid}/root`, O_PATH | fsConstants.O_DIRECTORY);
      // the pid could have been recycled between pidfd_open and the open above: the pidfd says
      pidfdSendSignal(pidfd, 0);
    }
    if (opts.fromThread) return await runJoined(pidfd, target, rootFd, operations);
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

/** The operations on a thread that joins the target's namespaces (see the top of this file). */
async function runJoined(pidfd: number, target: NsTarget, rootFd: number, operations: NsOperation[]): Promise<NsOpsResult> {
  const ops = operations.map(joinOp);
  let fds: number[];
  try {
    fds = await native().runJoined(pidfd, cloneFlags(target.namespaces), rootFd, ops);
  } catch (err) {
    const step = (err as { step?: number }).step;
    if (err instanceof Error) {
      err.message +=
        step !== undefined && step >= 0
          ? ` (operation ${step + 1} of ${operations.length}, ${operations[step]!.op}, in the namespaces of pid ${target.pid})`
          : ` (before the first operation, joining the ${target.namespaces.join(', ')} namespaces of pid ${target.pid})`;
    }
    throw err;
  }
  return { trees: fds.filter((fd, i) => operations[i]!.op === 'openTree' && fd >= 0) };
}

function joinOp(o: NsOperation): NativeJoinOp {
  const propagation = (p?: Propagation) => (p ? PropagationCode[p] : 0);
  switch (o.op) {
    case 'attachTree':
      return { kind: JoinKind.attachTree, path: o.target, treeFd: o.treeFd, create: o.create ? 1 : 0, propagation: propagation(o.propagation) };
    case 'openTree':
      return { kind: JoinKind.openTree, path: o.path, recursive: o.recursive ? 1 : 0 };
    case 'umount':
      return { kind: JoinKind.umount, path: o.path, flags: o.detach ? UmountFlag.detach : 0 };
    case 'mkdir':
      return { kind: JoinKind.mkdir, path: o.path, mode: o.mode ?? 0o755 };
    case 'setattr':
      return { kind: JoinKind.setattr, path: o.path, attrSet: attrMask(o.set), attrClr: attrMask(o.clear), propagation: propagation(o.propagation), recursive: o.recursive ? 1 : 0 };
    case 'mountFs':
      return { kind: JoinKind.mountFs, path: o.target, fstype: o.fstype, options: o.options ?? '', attrSet: attrMask(o.attr), create: o.create ? 1 : 0 };
    default:
      throw new TypeError(`unknown namespace operation ${(o as { op: string }).op}`);
  }
}
