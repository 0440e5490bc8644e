import { Injectable } from '@nestjs/common';
import { WsError, WsErrorCode, type Logger } from '@wsrun/common';
import { initializer } from '@wsrun/proto';
import type { BackupJobData, BackupJobResult, DisposeJobResult, FetchJobData, InitJobResult, SignedObject } from '@wsrun/queue';
import { formatObjectRef, ownerBucket, parseObjectRef, workspaceObjects } from '@wsrun/storage';
import { chownSync, mkdirSync, rmSync } from 'node:fs';
import { DaemonConfig } from '../config/daemon-config';
import { DaemonLogger } from '../daemon-logger';
import { isAlive } from '../in-workspace/process-tree';
import { WorkspaceSockets } from '../in-workspace/workspace-sockets.service';
import { ContentQueue } from '../queue/content-queue.service';
import { InWorkspaceService } from '../in-workspace/in-workspace.service';
import { WorkspaceRegistry } from '../registry/workspace-registry.service';
import type { WorkspaceRecord } from '../registry/workspace';
import { DaemonStorage } from '../storage/daemon-storage.service';

/** How long a signed URL handed to a worker stays valid. */
const URL_TTL_SECONDS = 6 * 3600;

export interface InitRequest {
  id: string;
  owner: string;
  initializer: initializer.WorkspaceInitializer | undefined;
  storageQuotaBytes: number;
}

/**
 * The platform's view of a workspace's content: creating it (InitWorkspace schedules the
 * initializer on the node's queue and returns), waiting for it, backups, snapshots and disposal.
 * The work itself runs in content-init's worker; this service decides what to do, signs the URLs
 * the worker may read, and keeps the registry in step with the jobs.
 */
@Injectable()
export class WorkspaceContentService {
  private readonly log: Logger;
  private readonly watching = new Map<string, Promise<void>>();

  constructor(
    private readonly config: DaemonConfig,
    private readonly registry: WorkspaceRegistry,
    private readonly sockets: WorkspaceSockets,
    private readonly inWorkspace: InWorkspaceService,
    private readonly queue: ContentQueue,
    private readonly storage: DaemonStorage,
    logger: DaemonLogger,
  ) {
    this.log = logger.child({ component: 'workspace-content' });
  }

  /** After a restart: follow the inits that were running. */
  async resume(): Promise<void> {
    for (const ws of this.registry.list()) {
      if (ws.init?.status === 'running') this.watchInit(ws.id);
    }
  }

  async initWorkspace(req: InitRequest): Promise<void> {
    WorkspaceRegistry.validateId(req.id);
    if (!req.owner) throw new WsError(WsErrorCode.InvalidArgument, 'InitWorkspace: metadata.owner is required');
    if (!req.initializer?.spec) throw new WsError(WsErrorCode.InvalidArgument, 'InitWorkspace: an initializer is required');
    const existing = this.registry.find(req.id);
    if (existing && existing.init?.status !== 'failed') {
      // idempotent: a second call while the first runs (or after it succeeded) joins it
      if (existing.owner !== req.owner) throw new WsError(WsErrorCode.AlreadyExists, `workspace ${req.id} exists with another owner`);
      return;
    }
    const bucket = ownerBucket(req.owner);
    // collect remote content before anything is created: a missing snapshot is the caller's error
    const backupRef = { bucket, object: workspaceObjects.backup(req.id) };
    const backup = await this.storage.objects.stat(backupRef);
    let spec = req.initializer;
    const remote: Record<string, SignedObject> = {};
    if (backup) {
      // a backup wins over every other initializer: it holds the user's latest work
      spec = { spec: { $case: 'backup', value: { checkoutLocation: '' } } };
      remote[formatObjectRef(backupRef)] = await this.sign(backupRef, backup.size, backup.sha256);
    } else {
      for (const ref of snapshotsOf(req.initializer)) {
        const parsed = parseObjectRef(ref);
        const info = await this.storage.objects.stat(parsed);
        if (!info) throw new WsError(WsErrorCode.NotFound, `InitWorkspace: snapshot ${ref} does not exist`);
        remote[ref] = await this.sign(parsed, info.size, info.sha256);
      }
    }
    // a finished job of an earlier life of this workspace id would be joined instead of run
    await this.queue.forgetInit(req.id);
    if (!existing) this.registry.create(req.id, req.owner, 'initializing');
    const checkoutLocation = checkoutLocationOf(req.initializer);
    this.registry.update(req.id, (w) => {
      w.init = { status: 'running' };
      if (checkoutLocation !== undefined) w.checkoutLocation = checkoutLocation;
    });
    const layout = this.registry.layout(req.id);
    mkdirSync(layout.content, { recursive: true, mode: 0o755 });
    chownSync(layout.content, this.config.rootUid, this.config.rootUid);
    await this.sockets.open(req.id);
    const ws = this.registry.get(req.id);
    const fetches: FetchJobData[] = Object.values(remote).map((object) => ({ workspaceId: req.id, object }));
    await this.queue.addInit(
      {
        workspaceId: req.id,
        owner: req.owner,
        contentDir: layout.content,
        initializer: initializer.WorkspaceInitializer.toJSON(spec),
        remote,
        idMapping: ws.idMapping,
        quotaBytes: req.storageQuotaBytes,
      },
      fetches,
    );
    this.log.info({ workspace: req.id, source: spec.spec?.$case, remote: Object.keys(remote) }, 'init scheduled');
    this.watchInit(req.id);
  }

  async waitForInit(id: string): Promise<InitJobResult> {
    const ws = this.registry.find(id);
    if (!ws || !ws.init) throw new WsError(WsErrorCode.NotFound, `workspace ${id} has no init: call InitWorkspace first`);
    if (ws.init.status === 'running') await this.watchInit(id);
    const outcome = this.registry.get(id).init!;
    if (outcome.status === 'failed') throw new WsError(WsErrorCode.FailedPrecondition, `initializing workspace ${id} failed: ${outcome.error}`);
    return { source: outcome.source ?? '', metrics: outcome.metrics ?? [] };
  }

  isWorkspaceExists(id: string): boolean {
    const ws = this.registry.find(id);
    return ws !== undefined && ws.state !== 'disposed';
  }

  async takeSnapshot(id: string): Promise<string> {
    const ws = this.contentReady(id);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const target = formatObjectRef({ bucket: ownerBucket(ws.owner), object: workspaceObjects.snapshot(id, stamp) });
    const result = await this.runBackup(ws, 'snapshot', target, stamp);
    return result.ref;
  }

  async backupWorkspace(id: string): Promise<string> {
    const ws = this.contentReady(id);
    const target = formatObjectRef({ bucket: ownerBucket(ws.owner), object: workspaceObjects.backup(id) });
    const result = await this.runBackup(ws, 'backup', target, Date.now().toString(36));
    return result.ref;
  }

  /**
   * With backup: a final backup, committed, and only then are the local files removed. The git
   * status is read by the worker in its sandbox (a repository's config can run commands).
   */
  async disposeWorkspace(id: string, backup: boolean): Promise<DisposeJobResult> {
    const ws = this.registry.find(id);
    if (!ws) throw new WsError(WsErrorCode.NotFound, `workspace ${id} does not exist on this node`);
    if (ws.ring0 && isAlive(ws.ring0)) throw new WsError(WsErrorCode.FailedPrecondition, `workspace ${id} is running (ring0 pid ${ws.ring0.pid}): stop it first`);
    if (ws.init?.status === 'running') throw new WsError(WsErrorCode.FailedPrecondition, `workspace ${id} is still initializing`);
    const layout = this.registry.layout(id);
    this.registry.update(id, (w) => (w.state = 'stopping'));
    const data = {
      workspaceId: id,
      contentDir: layout.content,
      idMapping: ws.idMapping,
      ...(ws.checkoutLocation !== undefined ? { checkoutLocation: ws.checkoutLocation } : {}),
      ...(backup && ws.init?.status === 'done'
        ? { backup: this.backupData(ws, 'backup', formatObjectRef({ bucket: ownerBucket(ws.owner), object: workspaceObjects.backup(id) })) }
        : {}),
    };
    const result = await this.queue.finished(await this.queue.addDispose(data, ws.createdAt));
    // the backup is committed (or none was asked for): the local files may go now
    await this.sockets.close(id);
    rmSync(layout.dir, { recursive: true, force: true });
    this.registry.remove(id);
    this.log.info({ workspace: id, backup: result.backup?.ref }, 'disposed');
    return result;
  }

  private contentReady(id: string): WorkspaceRecord {
    const ws = this.registry.find(id);
    if (!ws) throw new WsError(WsErrorCode.NotFound, `workspace ${id} does not exist on this node`);
    if (ws.init?.status !== 'done') throw new WsError(WsErrorCode.FailedPrecondition, `workspace ${id} has no initialized content yet`);
    return ws;
  }

  private backupData(ws: WorkspaceRecord, kind: 'backup' | 'snapshot', target: string): BackupJobData {
    return { workspaceId: ws.id, owner: ws.owner, contentDir: this.registry.layout(ws.id).content, idMapping: ws.idMapping, kind, target };
  }

  private async runBackup(ws: WorkspaceRecord, kind: 'backup' | 'snapshot', target: string, stamp: string): Promise<BackupJobResult> {
    const result = await this.queue.finished(await this.queue.addBackup(this.backupData(ws, kind, target), stamp));
    if (kind === 'backup') this.registry.update(ws.id, (w) => (w.lastBackup = result.ref));
    this.log.info({ workspace: ws.id, kind, ref: result.ref, bytes: result.size }, `${kind} committed`);
    return result;
  }

  private async sign(ref: { bucket: string; object: string }, size?: number, sha256?: string): Promise<SignedObject> {
    return {
      ref: formatObjectRef(ref),
      url: await this.storage.objects.signedDownloadUrl(ref, URL_TTL_SECONDS),
      ...(size !== undefined ? { size } : {}),
      ...(sha256 ? { sha256 } : {}),
    };
  }

  /** Follows the init job of a workspace to its end and records the outcome in the registry. */
  private watchInit(id: string): Promise<void> {
    const existing = this.watching.get(id);
    if (existing) return existing;
    const watch = (async () => {
      const job = await this.queue.initJob(id);
      if (!job) {
        this.registry.update(id, (w) => (w.init = { status: 'failed', error: 'the init job is gone from the queue' }));
        return;
      }
      try {
        const result = await this.queue.finished(job);
        this.registry.update(id, (w) => {
          w.init = { status: 'done', source: result.source, metrics: result.metrics };
          w.state = 'ready';
        });
        this.log.info({ workspace: id, source: result.source }, 'workspace ready');
        this.inWorkspace.buildRootAhead(id);
      } catch (err) {
        this.registry.update(id, (w) => (w.init = { status: 'failed', error: (err as Error).message }));
        this.log.warn({ workspace: id, err: (err as Error).message }, 'init failed');
      }
    })().finally(() => this.watching.delete(id));
    this.watching.set(id, watch);
    return watch;
  }
}

/** The "object@bucket" names of the snapshots an initializer needs (snapshot, prebuild, composite). */
export function snapshotsOf(init: initializer.WorkspaceInitializer | undefined): string[] {
  const spec = init?.spec;
  if (!spec) return [];
  switch (spec.$case) {
    case 'snapshot':
      return [spec.value.snapshot];
    case 'prebuild':
      return spec.value.prebuild ? [spec.value.prebuild.snapshot] : [];
    case 'composite':
      return spec.value.initializer.flatMap(snapshotsOf);
    default:
      return [];
  }
}

/** Where an initializer puts the workspace's repository, if it makes one. */
export function checkoutLocationOf(init: initializer.WorkspaceInitializer | undefined): string | undefined {
  const spec = init?.spec;
  if (!spec) return undefined;
  switch (spec.$case) {
    case 'git':
      return spec.value.checkoutLocation;
    case 'prebuild':
      return spec.value.git[0]?.checkoutLocation;
    case 'backup':
      return spec.value.checkoutLocation || undefined;
    case 'composite':
      return spec.value.initializer.map(checkoutLocationOf).find((l) => l !== undefined);
    default:
      return undefined;
  }
}
