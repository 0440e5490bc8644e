import { lstatSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WsErrorCode } from '@wsrun/common';
import { runSandboxedInitializer, type InitializerMetricDetail } from '../src';
import { buildChildBundle } from './support/child-bundle';
import { archive, paxEntry, rawEntry } from './support/raw-tar';
import { StorageFixture } from './support/storage-fixture';
import { tempDir, workspaceDir } from './support/temp-dirs';
import { snapshotTree } from './support/tree-snapshot';

/**
 * Each known tar attack as a snapshot restored through the sandboxed initializer. The extractor
 * itself is tested in libs/archive; here the point is that the production path uses it, reports
 * what it refused in the metrics, and that nothing lands outside /dst: a sentinel folder next to
 * the workspace (which the attacks name by its node path) must stay exactly as it was.
 */
describe('archive attacks through the sandboxed snapshot initializer', () => {
  let bundle: ReturnType<typeof buildChildBundle>;
  let base: ReturnType<typeof tempDir>;
  let storage: StorageFixture;
  let outside: string;
  let dst: string;
  let before: ReturnType<typeof snapshotTree>;
  let n = 0;

  beforeAll(async () => {
    bundle = buildChildBundle();
    base = tempDir('attacks');
    storage = await new StorageFixture(join(base.path, 'storage')).start();
    outside = join(base.path, 'outside');
    mkdirSync(outside);
    writeFileSync(join(outside, 'file'), 'original\n');
  });
  afterAll(async () => {
    await storage.close();
    base.cleanup();
    bundle.cleanup();
  });
  const outsideOfWorkspaces = () => snapshotTree(base.path, { skip: (p) => p.startsWith('ws-') || p.startsWith('storage') });
  beforeEach(() => {
    dst = workspaceDir(base.path, `ws-${n++}`);
    before = outsideOfWorkspaces();
  });
  afterEach(() => {
    expect(outsideOfWorkspaces()).toEqual(before);
  });

  const restore = async (bytes: Buffer) => {
    const name = `attack-${n}.tar@snapshots`;
    const object = await storage.put(name, bytes);
    return runSandboxedInitializer(
      { destination: dst, initializer: { spec: { $case: 'snapshot', value: { snapshot: name } } }, remoteContent: { objects: { [name]: object } } },
      { bundleDir: bundle.dir, timeoutMs: 30_000 },
    );
  };
  const refusedOf = (metrics: InitializerMetricDetail[]) => metrics[0].refused ?? [];
  const workspace = () => readdirSync(dst).filter((e) => e !== '.wsrun').sort();
  const file = (name: string, body = 'pwned\n') => rawEntry({ name, body });

  const perEntry: [string, () => Buffer, { refused: [string, RegExp][]; kept: string[] }][] = [
    ['absolute paths', () => archive(file(`${outside}/abs-pwned`), file(`///${outside}/abs2-pwned`), file('fine')), { refused: [[`${'/'}OUT/abs-pwned`, /absolute path/], [`////OUT/abs2-pwned`, /absolute path/]], kept: ['fine'] }],
    ['".." anywhere', () => archive(file('a/../../outside/pwned'), file('../outside/pwned2'), file('fine')), { refused: [['a/../../outside/pwned', /"\.\."/], ['../outside/pwned2', /"\.\."/]], kept: ['fine'] }],
    [
      'a symlink, then an entry written through it',
      () => archive(rawEntry({ name: 'evil', type: '2', linkname: outside }), file('evil/pwned'), rawEntry({ name: 'rel', type: '2', linkname: '../outside' }), file('rel/pwned')),
      // the links are refused, so what was meant to go through them lands in plain folders inside
      { refused: [['evil', /absolute/], ['rel', /leaves the root/]], kept: ['evil', 'rel'] },
    ],
    [
      'hard links that leave the root',
      () => archive(rawEntry({ name: 'passwd', type: '1', linkname: '/etc/passwd' }), rawEntry({ name: 'up', type: '1', linkname: '../outside/file' }), rawEntry({ name: 'ghost', type: '1', linkname: 'not-extracted' })),
      { refused: [['passwd', /outside the root/], ['up', /outside the root/], ['ghost', /not a file extracted/]], kept: [] },
    ],
    [
      'a directory replaced by a symlink',
      () => archive(rawEntry({ name: 'd', type: '5' }), rawEntry({ name: 'd', type: '2', linkname: outside }), file('d/x')),
      { refused: [['d', /absolute/]], kept: ['d'] },
    ],
    [
      'device nodes and FIFOs',
      () => archive(rawEntry({ name: 'null', type: '3', devMajor: 1, devMinor: 3 }), rawEntry({ name: 'disk', type: '4', devMajor: 8, devMinor: 0 }), rawEntry({ name: 'pipe', type: '6' }), file('fine')),
      { refused: [['null', /char device not allowed/], ['disk', /block device not allowed/], ['pipe', /FIFO not allowed/]], kept: ['fine'] },
    ],
  ];

  it.each(perEntry)('%s: refused entries are reported, the rest is restored', async (_name, build, expected) => {
    const outcome = await restore(build());
    expect(outcome.source).toBe('snapshot');
    const refused = refusedOf(outcome.metrics).map((r) => ({ path: r.path.replace(outside.slice(1), 'OUT').replace(outside, '/OUT'), reason: r.reason }));
    for (const [path, reason] of expected.refused) expect(refused).toContainEqual({ path, reason: expect.stringMatching(reason) });
    expect(workspace()).toEqual(expected.kept);
    for (const entry of expected.kept) expect(lstatSync(join(dst, entry)).isSymbolicLink()).toBe(false);
  });

  it('a backup keeps a symlink that points outside, and still never writes through it', async () => {
    const name = `backup-${n}.tar@backups`;
    const backup = await storage.put(name, archive(rawEntry({ name: 'evil', type: '2', linkname: outside }), file('evil/pwned'), file('fine')));
    const outcome = await runSandboxedInitializer({ destination: dst, initializer: { spec: { $case: 'empty', value: {} } }, remoteContent: { backup } }, { bundleDir: bundle.dir, timeoutMs: 30_000 });
    expect(outcome.source).toBe('backup');
    expect(refusedOf(outcome.metrics)).toEqual([{ path: 'evil/pwned', reason: expect.stringMatching(/symlink/) }]);
    expect(workspace()).toEqual(['evil', 'fine']);
    expect(lstatSync(join(dst, 'evil')).isSymbolicLink()).toBe(true);
  });

  const whole: [string, () => Buffer][] = [
    ['an oversized pax header', () => archive(paxEntry({ comment: 'x'.repeat(1100 * 1024) }), file('after'))],
    ['a malformed pax record', () => archive(rawEntry({ name: 'PaxHeader', type: 'x', body: '99 path=short\n' }), file('after'))],
    ['a size field that disagrees with the pax size', () => archive(paxEntry({ size: '100' }), file('sized', 'five!'))],
    ['a size field larger than the archive', () => Buffer.concat([rawEntry({ name: 'truncated', body: 'abc', sizeField: 4096 }), Buffer.alloc(1024)])],
  ];

  it.each(whole)('%s: the whole archive is refused and the workspace stays empty', async (_name, build) => {
    const err = await restore(build()).catch((e: Error) => e);
    expect(err).toMatchObject({ code: WsErrorCode.InvalidArgument, message: expect.stringContaining('restoring the snapshot') });
    expect(readdirSync(dst)).toEqual([]);
  });
});
