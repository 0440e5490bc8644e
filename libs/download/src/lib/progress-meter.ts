import type { DownloadProgress } from './download-options';

const REPORT_INTERVAL_MS = 250;

/** Turns a byte count that grows per chunk into throttled progress reports. */
export class ProgressMeter {
  /** Set once the server announces the object's length. */
  totalBytes?: number;
  private readonly startedAt: number;
  private lastAt: number;
  private lastBytes = 0;

  constructor(
    private readonly report: (progress: DownloadProgress) => void,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.startedAt = this.lastAt = now();
  }

  /** Reports when at least REPORT_INTERVAL_MS passed since the previous report. */
  update(bytes: number): void {
    const at = this.now();
    if (at - this.lastAt < REPORT_INTERVAL_MS) return;
    const bytesPerSecond = ((bytes - this.lastBytes) * 1000) / (at - this.lastAt);
    this.lastAt = at;
    this.lastBytes = bytes;
    this.report({ bytes, totalBytes: this.totalBytes, bytesPerSecond });
  }

  /** The last report: the whole download's average rate. */
  finish(bytes: number): void {
    const elapsed = this.now() - this.startedAt;
    this.report({ bytes, totalBytes: this.totalBytes, bytesPerSecond: elapsed > 0 ? (bytes * 1000) / elapsed : 0 });
  }
}
