import { createLogger } from '@wsrun/common';
import { createObjectStorage } from '@wsrun/storage';
import { ContentWorker } from './content-worker';
import { WorkerConfig, type WorkerConfigInput } from './worker-config';

/** After a second signal, the process exits this long after asking BullMQ to stop at once. */
const FORCED_EXIT_MS = 5000;

/**
 * `content-init worker`: runs until SIGTERM/SIGINT. The first signal lets running jobs finish;
 * a second one stops at once (those jobs are taken up again when their lock expires), and exits
 * within FORCED_EXIT_MS even when Redis is gone and BullMQ cannot close cleanly.
 */
export async function runWorker(input: WorkerConfigInput, logLevel: string, bundleDir: string): Promise<number> {
  const config = WorkerConfig.from(input);
  process.env['WSRUN_LOG_LEVEL'] = logLevel;
  const log = createLogger('content-init', logLevel);
  const worker = new ContentWorker(config, createObjectStorage(config.storage), bundleDir, log);
  await worker.start();
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string) => {
      log.info({ signal, force: stopping }, stopping ? 'stopping now' : 'stopping: running jobs finish');
      const force = stopping;
      stopping = true;
      if (force) setTimeout(() => resolve(1), FORCED_EXIT_MS).unref();
      worker.close(force).then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}
