import { readFileSync } from 'node:fs';
import { status } from '@grpc/grpc-js';
import { DaemonHarness } from './support/daemon-harness';
import { removeRing0Bundle, Ring0Process } from './support/ring0-process';

const MAP = [
  { containerId: 0, hostId: 33333, size: 1 },
  { containerId: 1, hostId: 100000, size: 65536 },
];

const mapOf = (pid: number, kind: 'uid' | 'gid') => readFileSync(`/proc/${pid}/${kind}_map`, 'utf8').trim().split('\n').map((l) => l.trim().split(/\s+/).join(' ')).filter(Boolean);

describe('WriteIDMapping over a workspace socket', () => {
  const harness = new DaemonHarness({ idMapRateWindow: '10s' });
  const ring0s: Ring0Process[] = [];
  const ring0 = (socket: string) => {
    const r = new Ring0Process(socket);
    ring0s.push(r);
    return r;
  };

  beforeAll(() => harness.start());
  afterEach(async () => {
    for (const r of ring0s.splice(0)) await r.close();
  });
  afterAll(async () => {
    await harness.stop();
    removeRing0Bundle();
  });

  /** A ring0 of a fresh workspace with a child held in a new user namespace. */
  async function heldChild(id: string) {
    const socket = await harness.workspace(id);
    const r0 = ring0(socket);
    const pid = await r0.spawn({ name: 'test:held', namespaces: ['user'], hold: true, end: { exit: 0 } });
    return { r0, pid };
  }

  it('writes the uid and gid maps of a held child of the caller', async () => {
    const { r0, pid } = await heldChild('maps-ok');
    expect(await r0.rpc('writeIdMapping', { pid, gid: false, mapping: MAP })).toEqual({ ok: {} });
    expect(await r0.rpc('writeIdMapping', { pid, gid: true, mapping: MAP })).toEqual({ ok: {} });
    expect(mapOf(pid, 'uid')).toEqual(['0 33333 1', '1 100000 65536']);
    expect(mapOf(pid, 'gid')).toEqual(['0 33333 1', '1 100000 65536']);
  });

  const refusals: [string, (pid: number) => object, number, RegExp][] = [
    ['container 0 mapped to host root', (pid) => ({ pid, gid: false, mapping: [{ containerId: 0, hostId: 0, size: 1 }] }), status.PERMISSION_DENIED, /container id 0 must map to host id 33333/],
    ['a range over the upper bound', (pid) => ({ pid, gid: false, mapping: [MAP[0], { containerId: 1, hostId: 100000, size: 65537 }] }), status.PERMISSION_DENIED, /leaves the subordinate range 100000..165535/],
    ['a range under the lower bound', (pid) => ({ pid, gid: false, mapping: [MAP[0], { containerId: 1, hostId: 99999, size: 10 }] }), status.PERMISSION_DENIED, /leaves the subordinate range/],
    ['overlapping ranges', (pid) => ({ pid, gid: false, mapping: [MAP[0], { containerId: 1, hostId: 100000, size: 100 }, { containerId: 50, hostId: 100200, size: 10 }] }), status.INVALID_ARGUMENT, /overlap in container ids/],
    ['an empty mapping', (pid) => ({ pid, gid: false, mapping: [] }), status.INVALID_ARGUMENT, /the map is empty/],
  ];

  it.each(refusals)('refuses %s and writes nothing', async (_name, request, code, message) => {
    const { r0, pid } = await heldChild(`refuse-${refusals.findIndex((r) => r[0] === _name)}`);
    const result = await r0.rpc('writeIdMapping', request(pid));
    expect(result.error).toMatchObject({ code });
    expect(result.error!.details).toMatch(message);
    expect(mapOf(pid, 'uid')).toEqual([]);
  });

  it('refuses a pid that is not a descendant of the workspace ring0', async () => {
    const { r0 } = await heldChild('not-descendant');
    const result = await r0.rpc('writeIdMapping', { pid: process.pid, gid: false, mapping: MAP });
    expect(result.error).toMatchObject({ code: status.PERMISSION_DENIED });
    expect(result.error!.details).toMatch(`pid ${process.pid} is not a process of workspace not-descendant`);
    expect(mapOf(process.pid, 'uid')).toEqual(['0 0 4294967295']);
  });

  it("refuses a pid of another workspace's ring0", async () => {
    const a = await heldChild('ws-a');
    const b = await heldChild('ws-b');
    const result = await a.r0.rpc('writeIdMapping', { pid: b.pid, gid: false, mapping: MAP });
    expect(result.error).toMatchObject({ code: status.PERMISSION_DENIED });
    expect(mapOf(b.pid, 'uid')).toEqual([]);
    // b's own ring0 may
    expect(await b.r0.rpc('writeIdMapping', { pid: b.pid, gid: false, mapping: MAP })).toEqual({ ok: {} });
  });

  it('refuses a second write of the same map', async () => {
    const { r0, pid } = await heldChild('second-write');
    expect(await r0.rpc('writeIdMapping', { pid, gid: false, mapping: MAP })).toEqual({ ok: {} });
    const again = await r0.rpc('writeIdMapping', { pid, gid: false, mapping: [MAP[0]] });
    expect(again.error).toMatchObject({ code: status.FAILED_PRECONDITION });
    expect(again.error!.details).toMatch(/uid map of workspace second-write was already written/);
    expect(mapOf(pid, 'uid')).toEqual(['0 33333 1', '1 100000 65536']);
  });

  it('refuses the fifth call inside the rate window', async () => {
    const { r0, pid } = await heldChild('rate-limit');
    const bad = { pid, gid: false, mapping: [{ containerId: 0, hostId: 0, size: 1 }] };
    for (let i = 0; i < 4; i++) expect((await r0.rpc('writeIdMapping', bad)).error!.code).toBe(status.PERMISSION_DENIED);
    const fifth = await r0.rpc('writeIdMapping', { pid, gid: false, mapping: MAP });
    expect(fifth.error).toMatchObject({ code: status.RESOURCE_EXHAUSTED });
    expect(fifth.error!.details).toMatch(/at most 4 per 10 s/);
    expect(mapOf(pid, 'uid')).toEqual([]);
  });

  it('serves the standard health service on the workspace socket', async () => {
    const socket = await harness.workspace('health');
    expect(await ring0(socket).health()).toEqual({ status: 1 });
  });
});
