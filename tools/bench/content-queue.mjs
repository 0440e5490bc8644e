#!/usr/bin/env node
// Queue overhead per content job: BullMQ on the private redis-server, a no-op processor, jobs
// added and awaited the way ws-daemon does. Prints the latency of one job alone (median) and the
// cost per job when 1000 are queued at once. Target: under 5 ms per job.
import { median } from './bench-util.mjs';
import { loadLibs, scratchDir } from './content-bench-support.mjs';
import { Queue, QueueEvents, Worker } from 'bullmq';
import { join } from 'node:path';

const scratch = scratchDir('queue');
const { queue: q } = await loadLibs(['queue'], scratch);
const redis = new q.PrivateRedis(join(scratch, 'redis'));
const connection = q.redisOptions(await redis.start());
const name = q.contentQueueName('bench');
const queue = new Queue(name, { connection });
const events = new QueueEvents(name, { connection });
const worker = new Worker(name, async () => ({ ok: true }), { connection, concurrency: 8 });
await Promise.all([queue.waitUntilReady(), events.waitUntilReady(), worker.waitUntilReady()]);

const single = [];
for (let i = 0; i < 100; i++) {
  const t = process.hrtime.bigint();
  const job = await queue.add('init', { workspaceId: `one-${i}` }, { jobId: `one-${i}` });
  await job.waitUntilFinished(events);
  single.push(Number(process.hrtime.bigint() - t) / 1e6);
}
const n = 1000;
const t0 = process.hrtime.bigint();
const jobs = await queue.addBulk(Array.from({ length: n }, (_, i) => ({ name: 'init', data: { workspaceId: `bulk-${i}` }, opts: { jobId: `bulk-${i}` } })));
await Promise.all(jobs.map((j) => j.waitUntilFinished(events)));
const perJob = Number(process.hrtime.bigint() - t0) / 1e6 / n;
console.log(`\nqueue overhead (BullMQ on a private redis-server, no-op processor, concurrency 8)`);
console.log(`  one job alone, add -> processed -> seen done: median ${median(single).toFixed(2)} ms`);
console.log(`  ${n} jobs queued at once: ${perJob.toFixed(2)} ms per job (target < 5 ms)`);
await Promise.all([worker.close(), queue.close(), events.close()]);
await redis.stop();
process.exit(0);
