import { WsError, WsErrorCode } from '@wsrun/common';
import { DownloadAttemptError } from '../src/lib/download-error';
import { RetryPolicy } from '../src/lib/retry-policy';

describe('RetryPolicy', () => {
  it('backs off exponentially from 200 ms, with jitter in the upper half, capped at 5 s', () => {
    const low = new RetryPolicy(5, () => 0);
    const high = new RetryPolicy(5, () => 1);
    expect([0, 1, 2, 3].map((n) => low.delayMs(n))).toEqual([100, 200, 400, 800]);
    expect([0, 1, 2, 3].map((n) => high.delayMs(n))).toEqual([200, 400, 800, 1600]);
    expect(low.delayMs(20)).toBe(2500);
    expect(high.delayMs(20)).toBe(5000);
  });

  it('retries retryable attempt errors and counts them', async () => {
    const policy = new RetryPolicy(3, () => 0);
    let calls = 0;
    const result = await policy.run(async () => {
      if (++calls < 3) throw new DownloadAttemptError(WsErrorCode.Unavailable, 'GET u: HTTP 503', true);
      return 'ok';
    }, new AbortController().signal);
    expect(result).toBe('ok');
    expect(policy.retried).toBe(2);
  });

  it('gives up after the last retry with the last error, marked as final', async () => {
    const policy = new RetryPolicy(1, () => 0);
    const attempt = () => Promise.reject(new DownloadAttemptError(WsErrorCode.DeadlineExceeded, 'GET u: no data for 5 ms', true));
    const err = await policy.run(attempt, new AbortController().signal).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WsError);
    expect(err).toMatchObject({ code: WsErrorCode.DeadlineExceeded, message: 'GET u: no data for 5 ms (gave up after 2 attempts)' });
  });

  it('does not retry a permanent error', async () => {
    const policy = new RetryPolicy(5, () => 0);
    const permanent = new DownloadAttemptError(WsErrorCode.NotFound, 'GET u: HTTP 404', false);
    await expect(policy.run(() => Promise.reject(permanent), new AbortController().signal)).rejects.toBe(permanent);
    expect(policy.retried).toBe(0);
  });
});
