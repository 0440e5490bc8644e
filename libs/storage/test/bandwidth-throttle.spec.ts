import { TokenBucket } from '../src';

describe('TokenBucket', () => {
  it('lets a burst through, then asks to wait exactly as long as the rate requires', () => {
    let now = 0;
    const bucket = new TokenBucket(1000, 100, () => now);
    expect(bucket.take(100)).toBe(0);
    expect(bucket.take(50)).toBe(50); // 50 bytes of debt at 1000 B/s
    now += 50;
    expect(bucket.take(0)).toBe(0);
    now += 10_000; // idle time refills only up to the burst
    expect(bucket.take(100)).toBe(0);
    expect(bucket.take(1000)).toBe(1000);
  });

  it('refuses a rate that is not positive', () => {
    expect(() => new TokenBucket(0)).toThrow('bytesPerSecond must be positive');
  });
});
