import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { PrivateRedis, redisOptions } from '../src';

describe('the private redis-server', () => {
  const dir = mkdtempSync(join(tmpdir(), 'wsrun-redis-'));
  const redis = new PrivateRedis(join(dir, 'redis'));
  afterAll(async () => {
    await redis.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves on a unix socket and keeps acknowledged jobs across a kill -9 and a restart', async () => {
    const socket = await redis.start();
    const queue = new Queue('persist-test', { connection: redisOptions(socket) });
    await queue.add('job', { n: 1 }, { jobId: 'kept-1' });
    await queue.close();
    await redis.kill(); // appendfsync always: what Redis acknowledged is on disk
    await redis.start();
    const again = new Queue('persist-test', { connection: redisOptions(socket) });
    expect((await again.getJob('kept-1'))?.data).toEqual({ n: 1 });
    await again.close();
  });

  it('stops a server still running on its folder before it starts its own (two would share one append-only file)', async () => {
    await redis.stop();
    // an earlier owner's server, left running (started by hand here: no death signal)
    const stale = spawn('redis-server', [join(redis.dir, 'redis.conf')], { stdio: 'ignore' });
    const staleGone = new Promise((r) => stale.once('exit', r));
    // redis creates the pid file, then writes it: wait for the number
    const pidInFile = () => (existsSync(redis.pidFile) ? Number(readFileSync(redis.pidFile, 'utf8')) : 0);
    for (let i = 0; i < 200 && pidInFile() !== stale.pid; i++) await new Promise((r) => setTimeout(r, 20));
    expect(pidInFile()).toBe(stale.pid);
    const socket = await redis.start();
    await staleGone;
    expect(stale.exitCode ?? stale.signalCode).not.toBeNull();
    // the new server has the data the old one had
    const queue = new Queue('persist-test', { connection: redisOptions(socket) });
    expect((await queue.getJob('kept-1'))?.data).toEqual({ n: 1 });
    await queue.close();
    expect(Number(readFileSync(redis.pidFile, 'utf8'))).not.toBe(stale.pid);
  });
});

describe('redisOptions', () => {
  it('understands sockets, redis:// and unix:// URLs', () => {
    expect(redisOptions('/run/redis.sock')).toMatchObject({ path: '/run/redis.sock', maxRetriesPerRequest: null });
    expect(redisOptions('unix:///run/r.sock')).toMatchObject({ path: '/run/r.sock' });
    expect(redisOptions('redis://:pw@redis.example:6380/2')).toMatchObject({ host: 'redis.example', port: 6380, db: 2, password: 'pw' });
  });

  it('refuses what it cannot use, naming REDIS_URL', () => {
    expect(() => redisOptions('http://x')).toThrow('invalid REDIS_URL: unsupported scheme "http:"');
    expect(() => redisOptions('not a url')).toThrow('invalid REDIS_URL');
  });
});
