import { invalid } from '@wsrun/common';
import type { RedisOptions } from 'bullmq';

/**
 * Connection options for BullMQ from a REDIS_URL (redis://[:password@]host:port[/db],
 * rediss://..., or unix:///path/to/redis.sock) or a plain socket path. BullMQ's workers need
 * maxRetriesPerRequest: null (they block on Redis); reconnects back off up to 2 s, so a
 * restarted Redis is picked up again without losing the worker.
 */
export function redisOptions(url: string): RedisOptions {
  const base: RedisOptions = {
    maxRetriesPerRequest: null,
    enableOfflineQueue: true,
    retryStrategy: (times) => Math.min(50 * 2 ** Math.min(times, 6), 2000),
  };
  if (url.startsWith('/')) return { ...base, path: url };
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw invalid('REDIS_URL', `"${url}" is neither a redis:// URL nor a socket path`);
  }
  if (parsed.protocol === 'unix:') return { ...base, path: parsed.pathname };
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw invalid('REDIS_URL', `unsupported scheme "${parsed.protocol}"`);
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw invalid('REDIS_URL', `"${parsed.pathname}" is not a database number`);
  return {
    ...base,
    host: parsed.hostname,
    port: parsed.port ? Number(parsed.port) : 6379,
    db,
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}
