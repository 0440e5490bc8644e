import { DownloadProgress } from '../src/lib/download-options';
import { ProgressMeter } from '../src/lib/progress-meter';

describe('ProgressMeter', () => {
  it('reports at most every 250 ms with the recent rate, then a final average', () => {
    let now = 1000;
    const reports: DownloadProgress[] = [];
    const meter = new ProgressMeter((p) => reports.push(p), () => now);
    meter.totalBytes = 10_000;
    now += 100;
    meter.update(1000);
    expect(reports).toHaveLength(0);
    now += 150;
    meter.update(2000);
    now += 100;
    meter.update(2500);
    now += 250;
    meter.update(4000);
    now += 400;
    meter.finish(10_000);
    expect(reports).toEqual([
      { bytes: 2000, totalBytes: 10_000, bytesPerSecond: 8000 },
      { bytes: 4000, totalBytes: 10_000, bytesPerSecond: 5714.285714285715 },
      { bytes: 10_000, totalBytes: 10_000, bytesPerSecond: 10_000 },
    ]);
  });
});
