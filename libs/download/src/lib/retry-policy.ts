import { setTimeout as sleep } from 'node:timers/promises';
import { WsError } from '@wsrun/common';
import { DownloadAttemptError } from './download-error';

const BASE_DELAY_MS = 200;
const MAX_DELAY_MS = 5_000;

/** Retries the attempts of one download, counting retries over all its pieces. */
export class RetryPolicy {
  /** Failed attempts retried so far. */
  retried = 0;

  constructor(
    private readonly retries: number,
    private readonly random: () => number = Math.random,
  ) {}

  /**
   * Wait before retry number `attempt` (0-based): exponential and capped, with "equal jitter"
   * (half fixed, half random) so the pieces that failed together do not retry together, yet
   * an overloaded server always gets some rest.
   */
  delayMs(attempt: number): number {
    const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** attempt);
    return ceiling / 2 + (this.random() * ceiling) / 2;
  }

  /**
   * Runs `attempt` until it succeeds, fails for good, or the retries are spent. Rejects with the
   * permanent error as is, or with the last retryable one marked as the final word.
   */
  async run<T>(attempt: () => Promise<T>, signal: AbortSignal): Promise<T> {
    for (let n = 0; ; n++) {
      try {
        return await attempt();
      } catch (err) {
        if (!(err instanceof DownloadAttemptError) || !err.retryable) throw err;
        if (n >= this.retries) throw new WsError(err.code, `${err.message} (gave up after ${n + 1} attempts)`, { cause: err });
        this.retried++;
        await sleep(this.delayMs(n), undefined, { signal });
      }
    }
  }
}
