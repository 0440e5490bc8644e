import { Injectable } from '@nestjs/common';
import { WsError, WsErrorCode, type Logger } from '@wsrun/common';
import { closeFd, umount, writeIdMap, type IdMapping } from '@wsrun/native-ns';
import { readdirSync, rmdirSync } from 'node:fs';
import { join, posix } from 'node:path';
import { DaemonConfig } from '../config/daemon-config';
import { createMaskedProc, createMaskedSysfs } from '../mounts/masked-filesystems';
import { isMountPoint } from '../mounts/mount-table';
import { RootFilesystem, type RootShiftKind } from '../mounts/root-filesystem';
import { deliverThroughMark, deliverTree, removeDeliveredTree } from '../mounts/tree-delivery';
import { WorkspaceRegistry } from '../registry/workspace-registry.service';
import type { WorkspaceRecord } from '../registry/workspace';
import { DaemonLogger } from '../daemon-logger';
import { CpuSampler, type ResourceUsage } from './cgroup-usage';
import { checkWorkspaceMapping } from './id-mapping-policy';
import { identify, isAlive, resolveWorkspacePid } from './process-tree';
import { RateLimiter } from './rate-limiter';
import type { PeerIdentity } from '../grpc/peer-identity';

export interface PreparedRoot {
  rootShift: RootShiftKind;
  markPath: string;
  workspacePath: string;
}

/**
 * The privileged half of a rootless workspace: what ring0 (uid 33333, no capabilities) may ask
 * the daemon to do for it. Every request is about the workspace whose socket it came in on; every
 * pid is resolved among the descendants of that workspace's ring0; once-only operations and the
 * id-map rate limit are kept in the registry and in memory. Calls for one workspace run one at a
 * time, so two racing calls cannot both pass a once-only check. The calls on a workspace's start
 * path record their registry change in the journal: on disk before they answer, as every change.
 */
@Injectable()
export class InWorkspaceService {
  private readonly limiter: RateLimiter;
  private readonly cpu = new CpuSampler();
  private readonly queues = new Map<string, Promise<unknown>>();
  /** workspaces prepared by this process whose first proc/sysfs mount is still to come */
  private readonly freshStarts = new Set<string>();
  private readonly log: Logger;

  constructor(
    private readonly config: DaemonConfig,
    private readonly registry: WorkspaceRegistry,
    private readonly rootfs: RootFilesystem,
    logger: DaemonLogger,
  ) {
    this.limiter = new RateLimiter(config.idMapRateLimit, config.idMapRateWindowMs);
    this.log = logger.child({ component: 'in-workspace' });
  }

  /** A connection arrived on the workspace's socket: the first live peer becomes its ring0. */
  acceptPeer(peer: PeerIdentity): boolean {
    if (peer.uid !== this.config.rootUid && peer.uid !== 0) return false;
    const ws = this.registry.find(peer.workspaceId);
    if (!ws) return false;
    if (ws.ring0 && isAlive(ws.ring0)) return true;
    const ring0 = identify(peer.pid);
    if (!ring0) return false;
    this.registry.update(ws.id, (w) => (w.ring0 = ring0), { journal: true });
    this.log.info({ workspace: ws.id, ring0: ring0.pid }, 'ring0 connected');
    // its PrepareForUserNS follows within milliseconds: unless the root was built ahead already
    // (buildRootAhead), it is built meanwhile, once this connection is set up (the accept first)
    setImmediate(() => this.buildRootAhead(ws.id));
    return true;
  }

  /**
   * Builds the root of a ready workspace that is not started, as a detached tree that no process
   * on the node can reach, so that its PrepareForUserNS only attaches it: when the workspace
   * becomes ready (init done, a stop's Teardown, the daemon's start) and when its ring0
   * connects. A no-op when one is built or mounted; a failed build is dropped and
   * PrepareForUserNS builds again and reports. Dispose and a closed socket discard it.
   */
  buildRootAhead(workspaceId: string): void {
    const ws = this.registry.find(workspaceId);
    if (ws && !ws.prepared && ws.state === 'ready') this.rootfs.buildAhead(this.registry.layout(ws.id), ws.idMapping);
  }

  /** The workspace's socket is closed (disposed, or the daemon stops): nothing is kept for it. */
  socketClosed(workspaceId: string): void {
    this.rootfs.discardAhead(this.registry.layout(workspaceId));
  }

  prepareForUserNS(peer: PeerIdentity): Promise<PreparedRoot> {
    return this.serialized(peer, async (ws) => {
      if (ws.prepared) throw new WsError(WsErrorCode.FailedPrecondition, `PrepareForUserNS was already called for workspace ${ws.id}`);
      if (ws.state !== 'ready' && ws.state !== 'running') {
        throw new WsError(WsErrorCode.FailedPrecondition, `workspace ${ws.id} is ${ws.state}, not ready to start`);
      }
      const layout = this.registry.layout(ws.id);
      const rootShift = await this.rootfs.mount(layout, ws.idMapping);
      this.registry.update(
        ws.id,
        (w) => {
          w.prepared = true;
          w.tornDown = false;
          w.state = 'running';
        },
        { journal: true },
      );
      this.freshStarts.add(ws.id);
      return { rootShift, markPath: layout.mark, workspacePath: layout.content };
    });
  }

  writeIdMapping(peer: PeerIdentity, pid: number, gid: boolean, mapping: IdMapping[]): Promise<void> {
    return this.serialized(peer, (ws) => {
      if (!this.limiter.take(ws.id)) {
        throw new WsError(WsErrorCode.ResourceExhausted, `too many WriteIDMapping calls: at most ${this.config.idMapRateLimit} per ${this.config.idMapRateWindowMs / 1000} s`);
      }
      const kind = gid ? 'gid' : 'uid';
      if (ws.idMapWritten[kind]) throw new WsError(WsErrorCode.FailedPrecondition, `the ${kind} map of workspace ${ws.id} was already written`);
      checkWorkspaceMapping(mapping, this.config);
      const target = this.resolvePid(ws, pid);
      try {
        writeIdMap(target, kind, mapping);
      } catch (err) {
        throw WsError.wrap(`writing the ${kind} map of pid ${pid}`, err, WsErrorCode.FailedPrecondition);
      }
      this.registry.update(ws.id, (w) => (w.idMapWritten[kind] = true), { journal: true });
      this.log.info({ workspace: ws.id, pid, hostPid: target, kind }, 'id map written');
    });
  }

  mountFs(peer: PeerIdentity, kind: 'proc' | 'sysfs', target: string, pid: number): Promise<void> {
    return this.serialized(peer, async (ws) => {
      const path = checkTarget(target);
      const hostPid = this.resolvePid(ws, pid);
      // the propagation folder (0700) is made where it is needed: deliverTree, createMaskedSysfs
      const layout = this.registry.layout(ws.id);
      const create = () => (kind === 'proc' ? createMaskedProc(hostPid) : createMaskedSysfs(hostPid, layout.propagationDir));
      let tree = await create();
      try {
        const to = { pid: hostPid, target: path };
        // The first mount after PrepareForUserNS (ring0's /proc for ring2, before ring2 runs the
        // command) takes the way without a stage: then the only namespaces holding copies of the
        // mark are the rings'. Later requests (forwarded from the seccomp handler, perhaps from a
        // nested namespace whose root is another slave of the mark), and any after a daemon
        // restart, take the stage, which reaches exactly the caller's namespace.
        const first = this.freshStarts.delete(ws.id);
        const byMark = first ? deliverThroughMark(tree, to, layout.mark) : 'unsuitable';
        if (byMark === 'undone') {
          // spent (attached, then taken away again): a fresh tree goes the way with a stage
          const spent = tree;
          tree = -1;
          closeFd(spent);
          tree = await create();
        }
        if (byMark !== 'delivered') await deliverTree(tree, to, layout.propagationDir);
      } catch (err) {
        throw WsError.wrap(`mounting ${kind} at ${path} for pid ${pid}`, err, WsErrorCode.FailedPrecondition);
      } finally {
        if (tree >= 0) closeFd(tree);
      }
      this.registry.update(ws.id, (w) => w.procMounts.push({ kind, target: path, pid }), { journal: true });
    });
  }

  umountFs(peer: PeerIdentity, kind: 'proc' | 'sysfs', target: string, pid: number): Promise<void> {
    return this.serialized(peer, async (ws) => {
      const path = checkTarget(target);
      const hostPid = this.resolvePid(ws, pid);
      let removed: boolean;
      try {
        removed = await removeDeliveredTree({ pid: hostPid, target: path }, kind);
      } catch (err) {
        throw WsError.wrap(`unmounting ${kind} at ${path} for pid ${pid}`, err, WsErrorCode.FailedPrecondition);
      }
      if (!removed) throw new WsError(WsErrorCode.NotFound, `no ${kind} is mounted at ${path} for pid ${pid}`);
      this.registry.update(ws.id, (w) => (w.procMounts = w.procMounts.filter((m) => !(m.kind === kind && m.target === path && m.pid === pid))));
    });
  }

  teardown(peer: PeerIdentity): Promise<void> {
    return this.serialized(peer, (ws) => {
      if (ws.tornDown) throw new WsError(WsErrorCode.FailedPrecondition, `Teardown was already called for workspace ${ws.id}`);
      this.tearDown(ws);
    });
  }

  /**
   * A connection on the workspace's socket closed. When that leaves the workspace without a live
   * ring0 (ring0 was killed, e.g. with SIGKILL, and could not call Teardown), the daemon tears the
   * workspace down itself.
   */
  async peerGone(workspaceId: string): Promise<void> {
    const ws = this.registry.find(workspaceId);
    if (!ws?.prepared || !ws.ring0) return;
    // the kernel closes a dying process's sockets before it is gone from /proc: give it a moment
    for (let i = 0; i < 40 && isAlive(ws.ring0); i++) await new Promise((r) => setTimeout(r, 50));
    return this.serialized({ workspaceId, pid: 0, uid: 0, gid: 0 }, (current) => {
      if (!current.prepared || (current.ring0 && isAlive(current.ring0))) return;
      this.log.warn({ workspace: current.id }, 'ring0 is gone without Teardown: tearing the workspace down');
      this.tearDown(current);
    });
  }

  /**
   * At start: a workspace whose ring0 died while the daemon was down (no connection closed to
   * tell us) is torn down now, or its next start would find PrepareForUserNS "already called".
   */
  reconcile(): void {
    for (const ws of this.registry.list()) {
      if (!ws.prepared && ws.procMounts.length === 0) continue;
      if (ws.ring0 && isAlive(ws.ring0)) continue;
      this.log.warn({ workspace: ws.id, ring0: ws.ring0?.pid }, 'ring0 ended while the daemon was down: tearing the workspace down');
      this.tearDown(ws);
    }
  }

  private tearDown(ws: WorkspaceRecord): void {
    this.tearDownMounts(ws);
    this.registry.update(ws.id, (w) => {
      w.tornDown = true;
      w.prepared = false;
      w.idMapWritten = { uid: false, gid: false };
      w.procMounts = [];
      delete w.ring0;
      if (w.state === 'running') w.state = 'ready';
    });
    this.limiter.forget(ws.id);
    this.cpu.forget(ws.id);
    this.freshStarts.delete(ws.id);
    this.log.info({ workspace: ws.id }, 'torn down');
    // ready again: its next start finds the root built (after Teardown's answer is out)
    setImmediate(() => this.buildRootAhead(ws.id));
  }

  workspaceInfo(peer: PeerIdentity): Promise<ResourceUsage> {
    return this.serialized(peer, (ws) => {
      const ring0 = this.requireRing0(ws);
      const usage = this.cpu.usage(ws.id, ring0.pid);
      if (!usage) throw new WsError(WsErrorCode.Unavailable, `no cgroup found for the workspace's ring0 (pid ${ring0.pid})`);
      return usage;
    });
  }

  /** Unmounts the root filesystem (or drops one built ahead) and any propagation point left by a crash. Idempotent. */
  tearDownMounts(ws: WorkspaceRecord): void {
    const layout = this.registry.layout(ws.id);
    this.rootfs.discardAhead(layout);
    this.rootfs.unmount(layout);
    let points: string[] = [];
    try {
      points = readdirSync(layout.propagationDir);
    } catch {
      return;
    }
    for (const p of points) {
      const path = join(layout.propagationDir, p);
      while (isMountPoint(path)) {
        try {
          umount(path, { detach: true });
        } catch {
          break;
        }
      }
      try {
        rmdirSync(path);
      } catch {
        // not empty or busy: leave it for the next teardown
      }
    }
  }

  private requireRing0(ws: WorkspaceRecord) {
    if (!ws.ring0 || !isAlive(ws.ring0)) throw new WsError(WsErrorCode.FailedPrecondition, `workspace ${ws.id} has no running ring0`);
    return ws.ring0;
  }

  private resolvePid(ws: WorkspaceRecord, pid: number): number {
    if (!Number.isSafeInteger(pid) || pid <= 0) throw new WsError(WsErrorCode.InvalidArgument, `invalid pid ${pid}`);
    const ring0 = ws.ring0 ?? this.requireRing0(ws);
    // resolveWorkspacePid checks that ring0 lives; only a refusal asks again, for its message
    const hostPid = resolveWorkspacePid(ring0, pid);
    if (hostPid === undefined) {
      this.requireRing0(ws);
      throw new WsError(WsErrorCode.PermissionDenied, `pid ${pid} is not a process of workspace ${ws.id}`);
    }
    return hostPid;
  }

  /** Runs fn for the peer's workspace after every earlier call for that workspace finished. */
  private serialized<T>(peer: PeerIdentity, fn: (ws: WorkspaceRecord) => T | Promise<T>): Promise<T> {
    const previous = this.queues.get(peer.workspaceId);
    // after an earlier call: two turns of the event loop first, in which that call's answer goes
    // out whole (node:http2 submits the trailers in one turn and writes them in the next), so
    // that ring0 has it while this call runs
    const run = (previous ? previous.then(() => new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)))) : Promise.resolve()).then(() =>
      fn(this.registry.get(peer.workspaceId)),
    );
    const settled = run.catch(() => undefined);
    this.queues.set(peer.workspaceId, settled);
    void settled.then(() => {
      if (this.queues.get(peer.workspaceId) === settled) this.queues.delete(peer.workspaceId);
    });
    return run;
  }
}

function checkTarget(target: string): string {
  if (!target.startsWith('/') || target.includes('\0') || target.length > 4096) {
    throw new WsError(WsErrorCode.InvalidArgument, `invalid target "${target}": an absolute path is required`);
  }
  return posix.normalize(target);
}
