import { WsError, WsErrorCode, type Logger } from '@wsrun/common';
import { backupWorkspace, runSandboxedGitStatus, runSandboxedInitializer, type RemoteContent } from '@wsrun/content';
import { initializer } from '@wsrun/proto';
import {
  JobName,
  type BackupJobData,
  type BackupJobResult,
  type ContentProgress,
  type DisposeJobData,
  type DisposeJobResult,
  type FetchJobData,
  type FetchJobResult,
  type InitJobData,
  type InitJobResult,
} from '@wsrun/queue';
import type { ObjectStorage } from '@wsrun/storage';
import { UnrecoverableError, type Job } from 'bullmq';
import { checkRemoteObject } from './remote-check';
import type { WorkerConfig } from './worker-config';

/** Errors no retry can fix fail the job at once (BullMQ's UnrecoverableError); others retry. */
const PERMANENT = new Set<WsErrorCode>([WsErrorCode.InvalidArgument, WsErrorCode.NotFound, WsErrorCode.PermissionDenied, WsErrorCode.FailedPrecondition, WsErrorCode.AlreadyExists]);

function classify(err: unknown): Error {
  if (err instanceof WsError && PERMANENT.has(err.code)) return new UnrecoverableError(err.message);
  return err instanceof Error ? err : new Error(String(err));
}

/**
 * The queue's processors: thin adapters from jobs to the content services (@wsrun/content), the
 * same ones `content-init init` and the tests call directly.
 */
export class ContentProcessors {
  constructor(
    private readonly config: WorkerConfig,
    private readonly storage: ObjectStorage,
    private readonly bundleDir: string,
    private readonly log: Logger,
  ) {}

  async content(job: Job): Promise<unknown> {
    try {
      if (job.name === JobName.Fetch) return await checkRemoteObject((job.data as FetchJobData).object);
      if (job.name === JobName.Init) return await this.init(job as Job<InitJobData>);
      throw new WsError(WsErrorCode.InvalidArgument, `content queue: no processor for job "${job.name}"`);
    } catch (err) {
      throw classify(err);
    }
  }

  async backup(job: Job): Promise<unknown> {
    try {
      if (job.name === JobName.Backup || job.name === JobName.Snapshot) return await this.runBackup(job as Job<BackupJobData>, job.data as BackupJobData);
      if (job.name === JobName.Dispose) return await this.dispose(job as Job<DisposeJobData>);
      throw new WsError(WsErrorCode.InvalidArgument, `backup queue: no processor for job "${job.name}"`);
    } catch (err) {
      throw classify(err);
    }
  }

  private async init(job: Job<InitJobData>): Promise<InitJobResult> {
    const data = job.data;
    const spec = initializer.WorkspaceInitializer.fromJSON(data.initializer);
    // the fetch children checked every remote archive and learned its size
    const checked = Object.values(await job.getChildrenValues<FetchJobResult>());
    const remoteContent: RemoteContent = {};
    for (const [ref, object] of Object.entries(data.remote)) {
      const size = checked.find((c) => c.ref === ref)?.size ?? object.size;
      const remote = { url: object.url, ...(size !== undefined ? { sizeBytes: size } : {}), ...(object.sha256 ? { sha256: object.sha256 } : {}) };
      if (spec.spec?.$case === 'backup') remoteContent.backup = remote;
      else (remoteContent.objects ??= {})[ref] = remote;
    }
    this.log.info({ workspace: data.workspaceId, job: job.id, attempt: job.attemptsMade + 1, initializer: spec.spec?.$case }, 'initializing');
    const outcome = await runSandboxedInitializer(
      { destination: data.contentDir, initializer: spec, remoteContent, idMapping: data.idMapping, download: this.config.download },
      {
        bundleDir: this.bundleDir,
        timeoutMs: this.config.timeoutMs,
        onProgress: (p) => void job.updateProgress({ bytes: p.bytes ?? 0, files: 0, phase: `${p.initializer}:${p.phase}` } satisfies ContentProgress).catch(() => undefined),
      },
    );
    return { source: outcome.source, metrics: outcome.metrics.map((m) => ({ type: m.type, durationMs: Math.round(m.durationMs), sizeBytes: Math.round(m.sizeBytes) })) };
  }

  private async runBackup(job: Job, data: BackupJobData): Promise<BackupJobResult> {
    this.log.info({ workspace: data.workspaceId, job: job.id, kind: data.kind, target: data.target }, 'packing');
    let last = 0;
    const outcome = await backupWorkspace(
      { destination: data.contentDir, idMapping: data.idMapping, target: data.target },
      this.storage,
      {
        bundleDir: this.bundleDir,
        timeoutMs: this.config.timeoutMs,
        onBytes: (bytes) => {
          if (bytes - last < 4 * 1024 * 1024) return;
          last = bytes;
          void job.updateProgress({ bytes, files: 0, phase: 'upload' } satisfies ContentProgress).catch(() => undefined);
        },
      },
    );
    return outcome;
  }

  private async dispose(job: Job<DisposeJobData>): Promise<DisposeJobResult> {
    const data = job.data;
    const backup = data.backup ? await this.runBackup(job, data.backup) : undefined;
    let gitStatus: unknown;
    try {
      const status = await runSandboxedGitStatus(
        { destination: data.contentDir, checkoutLocation: data.checkoutLocation ?? '', idMapping: data.idMapping },
        { bundleDir: this.bundleDir, timeoutMs: 5 * 60_000 },
      );
      gitStatus = initializer.GitStatus.toJSON(status);
    } catch (err) {
      // no repository there: nothing to report
      this.log.info({ workspace: data.workspaceId, err: (err as Error).message }, 'no git status');
    }
    return { ...(backup ? { backup } : {}), ...(gitStatus !== undefined ? { gitStatus } : {}) };
  }
}
