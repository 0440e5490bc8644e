/** A sliding-window limit per key: at most `limit` events within `windowMs`. */
export class RateLimiter {
  private readonly events = new Map<string, number[]>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records an attempt; false when it is over the limit (the attempt still counts). */
  take(key: string): boolean {
    const t = this.now();
    const recent = (this.events.get(key) ?? []).filter((at) => t - at < this.windowMs);
    recent.push(t);
    this.events.set(key, recent);
    return recent.length <= this.limit;
  }

  forget(key: string): void {
    this.events.delete(key);
  }
}
