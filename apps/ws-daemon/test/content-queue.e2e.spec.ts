import { Queue } from 'bullmq';
import { contentQueueName, redisOptions } from '@wsrun/queue';
import { ContentNode, eventually } from './support/content-node';

jest.setTimeout(300_000);

const empty = { spec: { $case: 'empty', value: {} } };

/** The queue under load and under a Redis restart, with the real worker. */
describe('the content queue', () => {
  let node: ContentNode;
  beforeAll(async () => {
    // a long lock: a worker busy for a second under this load must not have its jobs taken as
    // stalled and run twice (the crash tests use short ones on purpose)
    node = new ContentNode({}, ['--concurrency', '4', '--lock-duration', '30s']);
    await node.start();
  });
  afterAll(() => node.stop());

  it('Redis restarted while 50 inits are queued: all 50 complete, none twice', async () => {
    const ids = Array.from({ length: 50 }, (_, i) => `queued-${i}`);
    // no worker yet: everything waits in Redis
    await Promise.all(ids.map((id) => node.call('initWorkspace', { id, metadata: { owner: 'dave', metaId: '' }, initializer: empty, storageQuotaBytes: 0 })));
    await node.redis.kill();
    await node.redis.start();
    node.startWorker();
    const results = await Promise.all(ids.map((id) => node.call<{ source: string }>('waitForInit', { id })));
    expect(results.every((r) => r.source === 'empty')).toBe(true);
    // each init ran exactly once: one "initializing" line per workspace in the worker's log
    const runs = ids.map((id) => node.logCount('initializing', id));
    expect(runs).toEqual(ids.map(() => 1));
    await node.stopWorker();
  });

  it('200 inits submitted at once complete with at most --concurrency of them running on the node', async () => {
    const ids = Array.from({ length: 200 }, (_, i) => `burst-${i}`);
    const queue = new Queue(contentQueueName(node.harness.config.node), { connection: redisOptions(node.redis.socket) });
    let maxActive = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        maxActive = Math.max(maxActive, await queue.getActiveCount());
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
    try {
      // all submitted before the worker starts: it cannot drain them one by one as they come
      await Promise.all(ids.map((id) => node.call('initWorkspace', { id, metadata: { owner: 'erin', metaId: '' }, initializer: empty, storageQuotaBytes: 0 })));
      node.startWorker();
      const results = await Promise.all(ids.map((id) => node.call<{ source: string }>('waitForInit', { id }, 280_000)));
      expect(results.filter((r) => r.source === 'empty')).toHaveLength(200);
    } finally {
      sampling = false;
      await sampler;
      await queue.close();
    }
    expect(maxActive).toBeGreaterThan(1);
    expect(maxActive).toBeLessThanOrEqual(4);
    await eventually(() => ids.every((id) => node.harness.registry.get(id).state === 'ready'), 'every workspace to be ready');
  });
});
