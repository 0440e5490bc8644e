import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { WsError, WsErrorCode, type Logger } from '@wsrun/common';
import { closeFd, umount, writeIdMap, type IdMapping } from '@wsrun/native-ns';
import { readdirSync, rmdirSync } from 'node:fs';
import { join, posix } from 'node:path';
import { DaemonConfig } from '../config/daemon-config';
import { createMaskedProc, createMaskedSysfs } from '../mounts/masked-filesystems';
import { isMountPoint } from '../mounts/mount-table';
import { RootFilesystem, type RootShiftKind } from '../mounts/root-filesystem';
import { deliverTree, removeDeliveredTree } from '../mounts/tree-delivery';
import { WorkspaceRegistry } from '../registry/workspace-registry.service';
import type { ProcessIdentity, WorkspaceRecord } from '../registry/workspace';
import { DaemonLogger } from '../daemon-logger';
import { CpuSampler, type ResourceUsage } from './cgroup-usage';
import { checkWorkspaceMapping } from './id-mapping-policy';
import { identify, isAlive, resolveWorkspacePid } from './process-tree';
import { RateLimiter } from './rate-limiter';
import type { PeerIdentity } from '../grpc/peer-identity';

/** After a Teardown: how long the root built ahead waits for the workspace's processes to be gone */
const INSIDE_GONE_POLL_MS = 10;
const INSIDE_GONE_WAIT_MS = 10_000;

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
export class InWorkspaceService implements OnApplicationShutdown {
  private readonly limiter: RateLimiter;
  private readonly cpu = new CpuSampler();
  private readonly queues = new Map<string, Promise<unknown>>();
  /** per running workspace: the process its first /proc went to (ring2, the init of its pid namespace) */
  private readonly insides = new Map<string, ProcessIdentity>();
  private stopped = false;
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
      if (!this.insides.has(ws.id)) {
        const inside = identify(hostPid);
        if (inside) this.insides.set(ws.id, inside);
      }
      // the start's own /proc: ring0 asks first, before ring2 runs anything (recorded before the
      // work, whatever its outcome: a second ask is never ring0's)
      const startsOwn = kind === 'proc' && !ws.ring0ProcAsked;
      if (startsOwn) this.registry.update(ws.id, (w) => (w.ring0ProcAsked = true), { journal: true });
      // the propagation folder (0700) is made where it is needed: deliverTree, createMaskedSysfs
      const layout = this.registry.layout(ws.id);
      const tree = kind === 'proc' ? createMaskedProc(hostPid) : await createMaskedSysfs(hostPid, layout.propagationDir);
      try {
        // through a propagation point of its own, joined only by the caller's namespace: never
        // through the mark, whose slaves are in every namespace that copied the node's mounts
        // while the workspace ran (another ring1 on one machine, a service's private /tmp) and
        // would keep the workspace's root mounted there after its Teardown
        // the start's own /proc from a thread: no process of the workspace exists yet that could
        // have made the way there block (a FUSE mount); everything asked later, through the
        // seccomp handler, from a stage that can be killed
        await deliverTree(tree, { pid: hostPid, target: path }, layout.propagationDir, { fromThread: startsOwn });
      } catch (err) {
        throw WsError.wrap(`mounting ${kind} at ${path} for pid ${pid}`, err, WsErrorCode.FailedPrecondition);
      } finally {
        closeFd(tree);
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
  reconcile(): string[] {
    const tornDown: string[] = [];
    for (const ws of this.registry.list()) {
      if (!ws.prepared && ws.procMounts.length === 0) continue;
      if (ws.ring0 && isAlive(ws.ring0)) continue;
      this.log.warn({ workspace: ws.id, ring0: ws.ring0?.pid }, 'ring0 ended while the daemon was down: tearing the workspace down');
      this.tearDown(ws);
      tornDown.push(ws.id);
    }
    return tornDown;
  }

  private tearDown(ws: WorkspaceRecord): void {
    this.tearDownMounts(ws);
    this.registry.update(ws.id, (w) => {
      w.tornDown = true;
      w.prepared = false;
      w.idMapWritten = { uid: false, gid: false };
      w.procMounts = [];
      delete w.ring0ProcAsked;
      delete w.ring0;
      if (w.state === 'running') w.state = 'ready';
    });
    this.limiter.forget(ws.id);
    this.cpu.forget(ws.id);
    this.log.info({ workspace: ws.id }, 'torn down');
    // Ready again: its next start finds the root built, once nothing of this run can still hold
    // the old root (a second overlay on the same folders while one lives is undefined behaviour
    // for the user's files). ring2 gone means its pid namespace is (the kernel ends all of it
    // with its init) and ring1, killed before Teardown, is too; unknown: the start builds it.
    const inside = this.insides.get(ws.id);
    this.insides.delete(ws.id);
    if (inside) void this.buildRootAheadOnceGone(ws.id, inside);
  }

  private async buildRootAheadOnceGone(workspaceId: string, inside: ProcessIdentity): Promise<void> {
    for (let waited = 0; isAlive(inside); waited += INSIDE_GONE_POLL_MS) {
      if (waited >= INSIDE_GONE_WAIT_MS) return; // still there: the next start builds its root
      await new Promise((resolve) => setTimeout(resolve, INSIDE_GONE_POLL_MS).unref());
    }
    if (!this.stopped) this.buildRootAhead(workspaceId);
  }

  onApplicationShutdown(): void {
    this.stopped = true;
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
