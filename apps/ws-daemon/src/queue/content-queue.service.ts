import { Injectable, type OnApplicationShutdown } from '@nestjs/common';
import { WsError, WsErrorCode } from '@wsrun/common';
import {
  backupQueueName,
  contentQueueName,
  JobName,
  jobIds,
  PrivateRedis,
  redisOptions,
  type BackupJobData,
  type BackupJobResult,
  type DisposeJobData,
  type DisposeJobResult,
  type FetchJobData,
  type InitJobData,
  type InitJobResult,
} from '@wsrun/queue';
import { FlowProducer, Queue, QueueEvents, type Job, type JobsOptions } from 'bullmq';
import { DaemonConfig } from '../config/daemon-config';
import { DaemonLogger } from '../daemon-logger';

const RETRIES: JobsOptions = { attempts: 3, backoff: { type: 'exponential', delay: 1000 }, removeOnComplete: { age: 24 * 3600 }, removeOnFail: { age: 7 * 24 * 3600 } };

/**
 * The producer side of the node's content queues (BullMQ on Redis): init flows on content-<node>,
 * backups and snapshots on backup-<node>. Starts the private redis-server when no REDIS_URL is set.
 * content-init's worker consumes (apps/content-init).
 */
@Injectable()
export class ContentQueue implements OnApplicationShutdown {
  private redis: PrivateRedis | undefined;
  private content!: Queue;
  private backups!: Queue;
  private flows!: FlowProducer;
  private contentEvents!: QueueEvents;
  private backupEvents!: QueueEvents;
  /** where workers reach Redis (the private socket, or REDIS_URL) */
  redisUrl = '';

  constructor(
    private readonly config: DaemonConfig,
    private readonly logger: DaemonLogger,
  ) {}

  async start(): Promise<void> {
    if (this.config.redisUrl) {
      this.redisUrl = this.config.redisUrl;
    } else {
      this.redis = new PrivateRedis(this.config.redisDir);
      this.redisUrl = await this.redis.start();
      this.logger.logger.info({ socket: this.redisUrl }, 'private redis-server started');
    }
    const connection = redisOptions(this.redisUrl);
    this.content = new Queue(contentQueueName(this.config.node), { connection });
    this.backups = new Queue(backupQueueName(this.config.node), { connection });
    this.flows = new FlowProducer({ connection });
    this.contentEvents = new QueueEvents(contentQueueName(this.config.node), { connection });
    this.backupEvents = new QueueEvents(backupQueueName(this.config.node), { connection });
    // every caller waiting for a job listens on these: hundreds at once are normal on a busy node
    for (const emitter of [this.content, this.backups, this.contentEvents, this.backupEvents]) emitter.setMaxListeners(0);
    await Promise.all([this.content.waitUntilReady(), this.backups.waitUntilReady(), this.contentEvents.waitUntilReady(), this.backupEvents.waitUntilReady()]);
  }

  /**
   * The init flow of a workspace: one fetch child per remote archive, then the initializer parent.
   * The job id derives from the workspace id: adding it again while it exists joins it.
   */
  async addInit(data: InitJobData, fetches: FetchJobData[]): Promise<Job<InitJobData, InitJobResult>> {
    const queueName = contentQueueName(this.config.node);
    const node = await this.flows.add({
      name: JobName.Init,
      queueName,
      data,
      opts: { ...RETRIES, jobId: jobIds.init(data.workspaceId) },
      children: fetches.map((f, n) => ({ name: JobName.Fetch, queueName, data: f, opts: { ...RETRIES, jobId: jobIds.fetch(data.workspaceId, n) } })),
    });
    return node.job as Job<InitJobData, InitJobResult>;
  }

  async initJob(workspaceId: string): Promise<Job<InitJobData, InitJobResult> | undefined> {
    return (await this.content.getJob(jobIds.init(workspaceId))) as Job<InitJobData, InitJobResult> | undefined;
  }

  /** Removes a finished (failed) init so that InitWorkspace can start over. */
  async forgetInit(workspaceId: string): Promise<void> {
    const job = await this.initJob(workspaceId);
    if (job) await job.remove({ removeChildren: true });
  }

  async addBackup(data: BackupJobData, stamp: string): Promise<Job<BackupJobData, BackupJobResult>> {
    const name = data.kind === 'backup' ? JobName.Backup : JobName.Snapshot;
    const jobId = data.kind === 'backup' ? jobIds.backup(data.workspaceId, stamp) : jobIds.snapshot(data.workspaceId, stamp);
    return (await this.backups.add(name, data, { ...RETRIES, jobId })) as Job<BackupJobData, BackupJobResult>;
  }

  /** `life`: the workspace's createdAt, see jobIds.dispose. */
  async addDispose(data: DisposeJobData, life: string): Promise<Job<DisposeJobData, DisposeJobResult>> {
    const jobId = jobIds.dispose(data.workspaceId, life);
    const existing = await this.backups.getJob(jobId);
    if (existing && (await existing.isFailed())) await existing.remove();
    return (await this.backups.add(JobName.Dispose, data, { ...RETRIES, jobId })) as Job<DisposeJobData, DisposeJobResult>;
  }

  /** Waits for a job's end; a failure after its last attempt is a WsError with the worker's message. */
  async finished<R>(job: Job<unknown, R>, timeoutMs?: number): Promise<R> {
    const events = job.queueName === this.backups.name ? this.backupEvents : this.contentEvents;
    try {
      return (await job.waitUntilFinished(events, timeoutMs)) as R;
    } catch (err) {
      const message = (err as Error).message;
      if (/timed out/i.test(message)) throw new WsError(WsErrorCode.DeadlineExceeded, `${job.name} of ${job.id}: ${message}`);
      throw new WsError(WsErrorCode.FailedPrecondition, message, { cause: err });
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await Promise.allSettled([this.content?.close(), this.backups?.close(), this.flows?.close(), this.contentEvents?.close(), this.backupEvents?.close()]);
    await this.redis?.stop();
  }
}
