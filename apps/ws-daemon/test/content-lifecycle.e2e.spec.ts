import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, chownSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import S3rver from 's3rver';
import { ContentNode, eventually, GitStaticServer, makeRepository, snapshotTree, totalBytes } from './support/content-node';

jest.setTimeout(180_000);

const gitInit = (url: string) => ({ spec: { $case: 'git', value: { remoteUri: url, upstreamRemoteUri: '', targetMode: 0, cloneTarget: '', checkoutLocation: 'project', config: undefined, fullClone: true /* dumb HTTP cannot serve a shallow clone */ } } });

interface Backend {
  name: string;
  setUp(): Promise<{ flags: Record<string, string>; tearDown: () => Promise<void> }>;
}

const backends: Backend[] = [
  { name: 'local storage', setUp: async () => ({ flags: {}, tearDown: async () => undefined }) },
  {
    name: 'S3-compatible storage (s3rver)',
    setUp: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'wsrun-s3rver-'));
      const s3rver = new S3rver({ port: 0, address: '127.0.0.1', directory: dir, silent: true });
      const { port } = (await s3rver.run()) as { port: number };
      return {
        flags: { storage: 's3', s3Endpoint: `http://127.0.0.1:${port}`, s3AccessKeyId: 'S3RVER', s3SecretAccessKey: 'S3RVER', s3Region: 'us-east-1' },
        tearDown: async () => {
          await s3rver.close();
          rmSync(dir, { recursive: true, force: true });
        },
      };
    },
  },
];

describe.each(backends)('the content lifecycle with %s', (backend) => {
  let node: ContentNode;
  let git: GitStaticServer;
  let tearDownBackend: () => Promise<void>;
  const repoDir = mkdtempSync(join(tmpdir(), 'wsrun-repo-'));

  beforeAll(async () => {
    const b = await backend.setUp();
    tearDownBackend = b.tearDown;
    makeRepository(repoDir);
    git = new GitStaticServer(repoDir);
    await git.listen();
    node = new ContentNode(b.flags);
    await node.start();
    node.startWorker();
  });
  afterAll(async () => {
    await node.stop();
    await git.close();
    await tearDownBackend();
    rmSync(repoDir, { recursive: true, force: true });
  });

  it('init from git -> backup -> dispose -> init from backup gives the identical tree', async () => {
    const id = 'life-1';
    const meta = { owner: 'alice', metaId: '' };
    await node.call('initWorkspace', { id, metadata: meta, initializer: gitInit(`${git.url}/project.git`), storageQuotaBytes: 0 });
    const ready = await node.call<{ source: string }>('waitForInit', { id });
    expect(ready.source).toBe('git');
    const content = node.contentDir(id);
    expect(readFileSync(join(content, 'project/README.md'), 'utf8')).toBe('hello\n');
    // the user works: a new file owned by a user inside (uid 1000 -> 100999 on the node)
    writeFileSync(join(content, 'project/notes.txt'), 'unsaved work\n', { mode: 0o640 });
    chownSync(join(content, 'project/notes.txt'), 100999, 100999);
    const before = snapshotTree(content, (p) => p.startsWith('.wsrun'));
    expect(before['project/bin/run']).toMatchObject({ mode: 0o755 });
    expect(before['project/link-to-main']).toMatchObject({ type: 'symlink', content: 'src/main.c' });

    const backup = await node.call<{ url: string }>('backupWorkspace', { id });
    expect(backup.url).toBe('workspaces/life-1/full.tar@u-alice');
    const disposed = await node.call<{ gitStatus?: { branch: string; untrackedFiles: string[] } }>('disposeWorkspace', { id, backup: true });
    expect(disposed.gitStatus).toMatchObject({ branch: 'main', untrackedFiles: ['notes.txt'] });
    expect(existsSync(content)).toBe(false);
    expect(await node.call('isWorkspaceExists', { id })).toEqual({ exists: false });

    // the same git initializer again: the backup wins
    await node.call('initWorkspace', { id, metadata: meta, initializer: gitInit(`${git.url}/project.git`), storageQuotaBytes: 0 });
    expect((await node.call<{ source: string }>('waitForInit', { id })).source).toBe('backup');
    expect(snapshotTree(node.contentDir(id), (p) => p.startsWith('.wsrun'))).toEqual(before);
  });

  it('a workspace id used again after its dispose gets the final backup of its new life', async () => {
    const id = 'life-again';
    const meta = { owner: 'dora', metaId: '' };
    const empty = { spec: { $case: 'empty', value: {} } };
    for (const work of ['first life', 'second life']) {
      await node.call('initWorkspace', { id, metadata: meta, initializer: empty, storageQuotaBytes: 0 });
      await node.call('waitForInit', { id });
      const file = join(node.contentDir(id), 'work.txt');
      writeFileSync(file, work);
      chownSync(file, 33333, 33333);
      await node.call('disposeWorkspace', { id, backup: true });
    }
    await node.call('initWorkspace', { id, metadata: meta, initializer: empty, storageQuotaBytes: 0 });
    expect((await node.call<{ source: string }>('waitForInit', { id })).source).toBe('backup');
    expect(readFileSync(join(node.contentDir(id), 'work.txt'), 'utf8')).toBe('second life');
  });

  it('a snapshot is named object@bucket and initializes another workspace', async () => {
    const meta = { owner: 'bob', metaId: '' };
    await node.call('initWorkspace', { id: 'snap-src', metadata: meta, initializer: gitInit(`${git.url}/project.git`), storageQuotaBytes: 0 });
    await node.call('waitForInit', { id: 'snap-src' });
    const { url } = await node.call<{ url: string }>('takeSnapshot', { id: 'snap-src' });
    expect(url).toMatch(/^workspaces\/snap-src\/snapshot-.+\.tar@u-bob$/);
    await node.call('initWorkspace', { id: 'snap-dst', metadata: meta, initializer: { spec: { $case: 'snapshot', value: { snapshot: url } } }, storageQuotaBytes: 0 });
    expect((await node.call<{ source: string }>('waitForInit', { id: 'snap-dst' })).source).toBe('snapshot');
    expect(snapshotTree(node.contentDir('snap-dst'), (p) => p.startsWith('.wsrun'))).toEqual(snapshotTree(node.contentDir('snap-src'), (p) => p.startsWith('.wsrun')));
  });

  it('a failing initializer fails WaitForInit with its message', async () => {
    await node.call('initWorkspace', { id: 'bad-git', metadata: { owner: 'alice', metaId: '' }, initializer: gitInit(`${git.url}/missing.git`), storageQuotaBytes: 0 });
    await expect(node.call('waitForInit', { id: 'bad-git' })).rejects.toMatchObject({ details: expect.stringMatching(/initializing workspace bad-git failed: .*(not found|does not exist|repository)/i) });
  });
});

describe('content work survives crashes', () => {
  let node: ContentNode;
  beforeAll(async () => {
    // downloads are throttled so that a worker can be killed in the middle of one
    node = new ContentNode({ storageBandwidth: String(4 * 1024 * 1024) });
    await node.start();
  });
  afterAll(() => node.stop());

  /** A workspace with `mb` MiB of data, initialized and backed up once. */
  async function workspaceWithBackup(id: string, mb: number): Promise<string> {
    node.ensureWorker();
    await node.call('initWorkspace', { id, metadata: { owner: 'carol', metaId: '' }, initializer: { spec: { $case: 'empty', value: {} } }, storageQuotaBytes: 0 });
    await node.call('waitForInit', { id });
    const big = join(node.contentDir(id), 'big.bin');
    writeFileSync(big, Buffer.alloc(mb * 1024 * 1024, 7));
    chownSync(big, 33333, 33333);
    const { url } = await node.call<{ url: string }>('backupWorkspace', { id });
    return url;
  }

  const uploadingBytes = () => totalBytes(join(node.harness.stateDir, 'storage', '.tmp'));
  const storedBackup = (id: string) => join(node.harness.stateDir, 'storage', 'u-carol', `workspaces/${id}/full.tar`);

  it('kill -9 of the worker mid-init: the job is retried and the workspace ends clean and ready', async () => {
    await workspaceWithBackup('crash-init', 24);
    const backupBytes = readFileSync(storedBackup('crash-init'));
    await node.call('disposeWorkspace', { id: 'crash-init', backup: false });
    // restore: the backup comes at 4 MiB/s, so the worker is killed while extracting it
    const inits = node.logCount('initializing', 'crash-init');
    await node.call('initWorkspace', { id: 'crash-init', metadata: { owner: 'carol', metaId: '' }, initializer: { spec: { $case: 'empty', value: {} } }, storageQuotaBytes: 0 });
    await eventually(() => node.logCount('initializing', 'crash-init') > inits, 'the restore to start');
    // killed once part of the 24 MiB arrived: the (staged) extraction has begun
    await eventually(() => totalBytes(node.contentDir('crash-init')) > 2 * 1024 * 1024, 'the restore to write files');
    await node.killWorker();
    node.startWorker();
    expect((await node.call<{ source: string }>('waitForInit', { id: 'crash-init' })).source).toBe('backup');
    const content = node.contentDir('crash-init');
    expect(readFileSync(join(content, 'big.bin')).equals(Buffer.alloc(24 * 1024 * 1024, 7))).toBe(true);
    // no staging leftovers of the killed run
    expect(snapshotTree(content, (p) => p.startsWith('.wsrun'))).toEqual({ 'big.bin': expect.objectContaining({ type: 'file' }) });
    expect(readFileSync(storedBackup('crash-init')).equals(backupBytes)).toBe(true);
  });

  it('kill -9 during a backup upload: the previous backup stays intact; the retried backup commits', async () => {
    await workspaceWithBackup('crash-backup', 8);
    const previous = readFileSync(storedBackup('crash-backup'));
    // more data, so the next upload takes a while
    const more = join(node.contentDir('crash-backup'), 'more.bin');
    writeFileSync(more, Buffer.alloc(192 * 1024 * 1024, 9));
    chownSync(more, 33333, 33333);
    const packs = node.logCount('packing', 'crash-backup');
    const pending = node.call<{ url: string }>('backupWorkspace', { id: 'crash-backup' });
    await eventually(() => node.logCount('packing', 'crash-backup') > packs, 'the second backup to start');
    // killed in the middle of the upload: part of it is in storage's temp folder
    await eventually(() => uploadingBytes() > 16 * 1024 * 1024, 'the upload to be under way');
    await node.killWorker();
    expect(readFileSync(storedBackup('crash-backup')).equals(previous)).toBe(true);
    node.startWorker();
    await pending;
    expect(readFileSync(storedBackup('crash-backup')).length).toBeGreaterThan(192 * 1024 * 1024);
  });
});
