import type { Logger } from '@wsrun/common';
import { backupQueueName, contentQueueName, redisOptions } from '@wsrun/queue';
import type { ObjectStorage } from '@wsrun/storage';
import { Worker } from 'bullmq';
import { ContentProcessors } from './content-processors';
import type { WorkerConfig } from './worker-config';

/**
 * content-init's queue worker for one node: inits on content-<node>, backups, snapshots and
 * disposals on backup-<node>, each with its own concurrency. A job whose worker was killed is
 * taken up again once its lock expires (stalled); close() lets running jobs finish, and a forced
 * close leaves them to that same recovery.
 */
export class ContentWorker {
  private readonly workers: Worker[] = [];

  constructor(
    private readonly config: WorkerConfig,
    storage: ObjectStorage,
    bundleDir: string,
    private readonly log: Logger,
  ) {
    const processors = new ContentProcessors(config, storage, bundleDir, log);
    const connection = redisOptions(config.redisUrl);
    const common = { connection, lockDuration: config.lockDurationMs, stalledInterval: Math.max(1000, Math.floor(config.lockDurationMs / 2)), maxStalledCount: 3 };
    this.workers.push(
      new Worker(contentQueueName(config.node), (job) => processors.content(job), { ...common, concurrency: config.concurrency, autorun: false }),
      new Worker(backupQueueName(config.node), (job) => processors.backup(job), { ...common, concurrency: config.backupConcurrency, autorun: false }),
    );
    for (const w of this.workers) {
      w.on('failed', (job, err) => log.warn({ queue: w.name, job: job?.id, attempt: job?.attemptsMade, err: err.message }, 'job failed'));
      w.on('completed', (job) => log.info({ queue: w.name, job: job.id }, 'job completed'));
      w.on('error', (err) => log.error({ queue: w.name, err: err.message }, 'worker error'));
    }
  }

  async start(): Promise<void> {
    for (const w of this.workers) void w.run();
    await Promise.all(this.workers.map((w) => w.waitUntilReady()));
    this.log.info({ node: this.config.node, redis: this.config.redisUrl, concurrency: this.config.concurrency, backupConcurrency: this.config.backupConcurrency }, 'content worker ready');
  }

  /** Graceful: running jobs finish; force: they stop at once and are picked up again later. */
  async close(force = false): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close(force)));
  }
}
