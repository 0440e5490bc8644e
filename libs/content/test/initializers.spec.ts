import { createHash } from 'node:crypto';
import { chmodSync, chownSync, closeSync, existsSync, lchownSync, openSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { identityIdMapper, workspaceIdMappers } from '@wsrun/archive';
import { WsErrorCode } from '@wsrun/common';
import { initializer } from '@wsrun/proto';
import { initializeWorkspace, readReadyFile, runInitializer, toProtoMetrics, WORKSPACE_ID_MAPPING, type InitializerContext, type RemoteContent } from '../src';
import { directContext } from './support/direct-context';
import { git, makeRepos, pushCommit, type FixtureRepos } from './support/git-repos';
import { gitInitializer, gitSpec } from './support/git-spec';
import { packTree } from './support/pack-tree';
import { StorageFixture } from './support/storage-fixture';
import { tempDir } from './support/temp-dirs';
import { listTree, snapshotTree } from './support/tree-snapshot';

const sha256 = (b: string | Buffer) => createHash('sha256').update(b).digest('hex');

/**
 * Every initializer of the contract, run directly (no sandbox) as the sandbox would run them:
 * archive ids mapped to the workspace's host ids, files the run creates given to 33333.
 * Remote content comes from the local object storage over real HTTP (signed URLs).
 */
describe('initializers', () => {
  let base: ReturnType<typeof tempDir>;
  let storage: StorageFixture;
  let repos: FixtureRepos;
  let dst: string;
  let n = 0;
  let closers: (() => void)[] = [];

  beforeAll(async () => {
    base = tempDir('initializers');
    storage = await new StorageFixture(join(base.path, 'storage')).start();
    repos = makeRepos(base.path);
  });
  afterAll(async () => {
    await storage.close();
    base.cleanup();
  });
  beforeEach(() => {
    dst = join(base.path, `dst-${n++}`);
    mkdirSync(dst);
  });
  afterEach(() => {
    for (const c of closers) c();
    closers = [];
  });

  const context = (over: Partial<InitializerContext> = {}): InitializerContext => {
    const { ctx, close } = directContext(dst, over);
    closers.push(close);
    return ctx;
  };
  const source = (name: string, build: (dir: string) => void): string => {
    const dir = join(base.path, `${name}-${n++}`);
    mkdirSync(dir);
    build(dir);
    return dir;
  };

  describe('clean slate and ready file', () => {
    it('removes everything first, dotfiles and read-only folders included, then writes .wsrun/ready for the workspace user', async () => {
      writeFileSync(join(dst, '.env'), 'SECRET=1\n');
      mkdirSync(join(dst, '.wsrun'));
      writeFileSync(join(dst, '.wsrun/ready'), 'stale');
      mkdirSync(join(dst, 'locked/inner'), { recursive: true });
      writeFileSync(join(dst, 'locked/inner/file'), 'x');
      chmodSync(join(dst, 'locked/inner'), 0o555);
      chmodSync(join(dst, 'locked'), 0o000);
      symlinkSync('/etc', join(dst, 'etc-link'));
      mkdirSync(join(dst, '.wsrun-extract-0123456789abcdef'));
      const outcome = await initializeWorkspace(context(), { spec: { $case: 'empty', value: {} } });
      expect(outcome).toEqual({ source: 'empty', metrics: [expect.objectContaining({ type: 'empty', sizeBytes: 0 })] });
      expect(listTree(dst)).toEqual(['.wsrun', '.wsrun/ready']);
      expect(existsSync('/etc/passwd')).toBe(true);
      const st = statSync(join(dst, '.wsrun/ready'));
      expect({ uid: st.uid, gid: st.gid, mode: st.mode & 0o777 }).toEqual({ uid: 33333, gid: 33333, mode: 0o644 });
      expect(statSync(join(dst, '.wsrun')).uid).toBe(33333);
      const fd = openSync(dst, 'r');
      try {
        expect(readReadyFile(fd)).toEqual({ source: 'empty', metrics: outcome.metrics, readyAt: expect.any(String) });
      } finally {
        closeSync(fd);
      }
    });

    it('reports the proto metrics with whole numbers', () => {
      expect(toProtoMetrics([{ type: 'git', durationMs: 12.7, sizeBytes: 3, attempts: 2 }])).toEqual({ metric: [{ type: 'git', durationMs: 13, sizeBytes: 3 }] });
    });

    it('refuses an initializer without a spec', async () => {
      await expect(initializeWorkspace(context(), { spec: undefined })).rejects.toMatchObject({ code: WsErrorCode.InvalidArgument });
      expect(readdirSync(dst)).toEqual([]);
    });
  });

  describe('snapshot', () => {
    it('restores a snapshot with owners mapped to the workspace', async () => {
      // a workspace's tree on the node: root inside is 33333, container uid 999 is 100999
      const tree = source('snap', (d) => {
        mkdirSync(join(d, 'src'));
        writeFileSync(join(d, 'src/main.c'), 'int main;\n');
        symlinkSync('src/main.c', join(d, 'link'));
        writeFileSync(join(d, '.hidden'), 'dot\n', { mode: 0o600 });
        for (const p of ['', 'src', 'link', '.hidden']) lchownSync(join(d, p), 33333, 33333);
        chownSync(join(d, 'src/main.c'), 100999, 100999);
      });
      const snapshot = await storage.put(`snap-${n}.tar@snapshots`, await packTree(tree, workspaceIdMappers(WORKSPACE_ID_MAPPING).toWorkspace));
      const ctx = context({ remoteContent: { objects: { [`snap-${n - 1}.tar@snapshots`]: snapshot } } });
      const outcome = await runInitializer(ctx, { spec: { $case: 'snapshot', value: { snapshot: `snap-${n - 1}.tar@snapshots` } } });
      expect(outcome.source).toBe('snapshot');
      expect(outcome.metrics[0]).toMatchObject({ type: 'snapshot', sizeBytes: 14, entries: 4, refused: [], downloadedBytes: snapshot.sizeBytes });
      expect(snapshotTree(dst)).toEqual(snapshotTree(tree));
    });

    it("replaces a snapshot's own .wsrun folder with the new ready file", async () => {
      const tree = source('snap', (d) => {
        mkdirSync(join(d, '.wsrun'));
        writeFileSync(join(d, '.wsrun/ready'), '{"source":"old"}');
        writeFileSync(join(d, '.wsrun/other'), 'old state');
        writeFileSync(join(d, 'kept'), 'kept\n');
      });
      const name = `with-wsrun-${n}.tar@snapshots`;
      const ctx = context({ remoteContent: { objects: { [name]: await storage.put(name, await packTree(tree)) } } });
      const outcome = await initializeWorkspace(ctx, { spec: { $case: 'snapshot', value: { snapshot: name } } });
      expect(listTree(dst)).toEqual(['.wsrun', '.wsrun/ready', 'kept']);
      expect(JSON.parse(readFileSync(join(dst, '.wsrun/ready'), 'utf8'))).toMatchObject({ source: 'snapshot', metrics: JSON.parse(JSON.stringify(outcome.metrics)) });
    });

    it('fails clearly when no URL was resolved for the snapshot, or the object is missing', async () => {
      await expect(runInitializer(context(), { spec: { $case: 'snapshot', value: { snapshot: 'nope@snapshots' } } })).rejects.toMatchObject({
        code: WsErrorCode.FailedPrecondition,
        message: expect.stringContaining('no URL for "nope@snapshots"'),
      });
      const ctx = context({ remoteContent: { objects: { 'gone@snapshots': { url: await storage.missing('gone@snapshots') } } } });
      await expect(runInitializer(ctx, { spec: { $case: 'snapshot', value: { snapshot: 'gone@snapshots' } } })).rejects.toMatchObject({ code: WsErrorCode.NotFound });
      expect(readdirSync(dst)).toEqual([]);
    });

    it('leaves the workspace untouched when the archive does not match its digest', async () => {
      const tree = source('snap', (d) => writeFileSync(join(d, 'file'), 'content\n'));
      const snapshot = await storage.put('bad-digest.tar@snapshots', await packTree(tree));
      const ctx = context({ remoteContent: { objects: { 'bad-digest.tar@snapshots': { ...snapshot, sha256: sha256('something else') } } } });
      await expect(runInitializer(ctx, { spec: { $case: 'snapshot', value: { snapshot: 'bad-digest.tar@snapshots' } } })).rejects.toMatchObject({
        code: WsErrorCode.FailedPrecondition,
        message: expect.stringContaining('sha256'),
      });
      expect(readdirSync(dst)).toEqual([]);
    });
  });

  describe('backup', () => {
    let backup: RemoteContent['backup'];
    beforeAll(async () => {
      const tree = join(base.path, 'backup-source');
      mkdirSync(tree);
      writeFileSync(join(tree, 'work.txt'), 'unsaved work\n');
      backup = await storage.put('workspaces/ws-1/full.tar@backups', await packTree(tree));
    });

    it('wins over every other initializer when the workspace has one', async () => {
      const outcome = await initializeWorkspace(context({ remoteContent: { backup } }), gitInitializer({ remoteUri: `file://${repos.project}` }));
      expect(outcome.source).toBe('backup');
      expect(outcome.metrics).toEqual([expect.objectContaining({ type: 'backup', sizeBytes: 13 })]);
      expect(listTree(dst)).toEqual(['.wsrun', '.wsrun/ready', 'work.txt']);
    });

    it('is an error when asked for and there is none', async () => {
      await expect(initializeWorkspace(context(), { spec: { $case: 'backup', value: { checkoutLocation: '' } } })).rejects.toMatchObject({
        code: WsErrorCode.NotFound,
        message: expect.stringContaining('no backup'),
      });
      expect(readdirSync(dst)).toEqual([]);
    });
  });

  describe('prebuild', () => {
    /** A prebuilt workspace: the repo at c1 in "project" with outputs, packed as the prebuild snapshot. */
    const prebuildSnapshot = async (name: string, opts: { withGit: boolean }): Promise<RemoteContent> => {
      const tree = source('prebuild', (d) => {
        if (opts.withGit) git(d, 'clone', '-q', `file://${repos.project}`, 'project');
        else mkdirSync(join(d, 'project'));
        if (opts.withGit) git(join(d, 'project'), 'checkout', '-q', repos.commits.c1);
        mkdirSync(join(d, 'project/build'));
        writeFileSync(join(d, 'project/build/out.txt'), 'built\n');
        writeFileSync(join(d, '.prebuild-dotfile'), 'from the prebuild\n');
        if (opts.withGit) {
          // a hook that must never run: hooks are off for every git command
          writeFileSync(join(d, 'project/.git/hooks/post-checkout'), `#!/bin/sh\ntouch ${join(base.path, 'hook-ran')}\n`, { mode: 0o755 });
        }
      });
      const object = await storage.put(`${name}@prebuilds`, await packTree(tree));
      return { objects: { [`${name}@prebuilds`]: object } };
    };
    const prebuild = (name: string, git: initializer.GitInitializer[]): initializer.WorkspaceInitializer => ({ spec: { $case: 'prebuild', value: { prebuild: { snapshot: `${name}@prebuilds` }, git } } });

    it('restores the prebuild, then brings git to the target keeping the outputs, with hooks off', async () => {
      const newer = pushCommit(repos, 'NEWS.md', 'news\n');
      const remoteContent = await prebuildSnapshot('pb-1', { withGit: true });
      // as root on the node (no sandbox), git only works on repositories root owns: keep archive ids
      const ctx = context({ remoteContent, mapId: identityIdMapper, owner: undefined });
      const outcome = await runInitializer(ctx, prebuild('pb-1', [gitSpec({ remoteUri: `file://${repos.project}`, targetMode: initializer.CloneTargetMode.REMOTE_BRANCH, cloneTarget: 'main', checkoutLocation: 'project' })]));
      expect(outcome.source).toBe('prebuild');
      expect(outcome.metrics.map((m) => m.type)).toEqual(['prebuild', 'git']);
      const repo = join(dst, 'project');
      expect(git(repo, 'rev-parse', 'HEAD')).toBe(newer);
      expect(git(repo, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('main');
      expect(readFileSync(join(repo, 'NEWS.md'), 'utf8')).toBe('news\n');
      expect(readFileSync(join(repo, 'build/out.txt'), 'utf8')).toBe('built\n');
      expect(readFileSync(join(dst, '.prebuild-dotfile'), 'utf8')).toBe('from the prebuild\n');
      expect(existsSync(join(base.path, 'hook-ran'))).toBe(false);
    });

    it('falls back to a clean clone (dotfiles gone) when the prebuild has no working copy', async () => {
      const remoteContent = await prebuildSnapshot('pb-2', { withGit: false });
      const outcome = await runInitializer(context({ remoteContent }), prebuild('pb-2', [gitSpec({ remoteUri: `file://${repos.project}`, checkoutLocation: 'project' })]));
      expect(outcome.source).toBe('git');
      expect(outcome.metrics).toEqual([
        expect.objectContaining({ type: 'prebuild', failed: expect.stringContaining('no git working copy') }),
        expect.objectContaining({ type: 'git' }),
      ]);
      expect(readdirSync(dst)).toEqual(['project']);
      expect(existsSync(join(dst, 'project/build'))).toBe(false);
      expect(git(join(dst, 'project'), 'log', '-1', '--format=%s')).toMatch(/^(c3|update NEWS.md)$/);
    });

    it('falls back to a clean clone when the prebuild snapshot cannot be downloaded', async () => {
      const remoteContent = { objects: { 'pb-missing@prebuilds': { url: await storage.missing('pb-missing@prebuilds') } } };
      const outcome = await runInitializer(context({ remoteContent }), prebuild('pb-missing', [gitSpec({ remoteUri: `file://${repos.project}` })]));
      expect(outcome.source).toBe('git');
      expect(outcome.metrics[0]).toMatchObject({ type: 'prebuild', failed: expect.stringContaining('404') });
    });
  });

  describe('file download', () => {
    const download = (files: initializer.FileDownloadInitializer_FileInfo[], targetLocation = ''): initializer.WorkspaceInitializer => ({ spec: { $case: 'download', value: { files, targetLocation } } });

    it('writes each file atomically at its path, digest checked, owned by the workspace user', async () => {
      const a = await storage.put('files/a.txt@downloads', Buffer.from('alpha\n'));
      const b = await storage.put('files/b.bin@downloads', Buffer.alloc(3 * 1024 * 1024, 7));
      const outcome = await runInitializer(
        context(),
        download(
          [
            { url: a.url, digest: `sha256:${a.sha256}`, filePath: 'a.txt' },
            { url: b.url, digest: `sha256:${(b.sha256 ?? '').toUpperCase()}`, filePath: 'deep/dir/b.bin' },
          ],
          'tools',
        ),
      );
      expect(outcome).toEqual({ source: 'download', metrics: [expect.objectContaining({ type: 'download', sizeBytes: 6 + 3 * 1024 * 1024, files: 2 })] });
      expect(readFileSync(join(dst, 'tools/a.txt'), 'utf8')).toBe('alpha\n');
      expect(sha256(readFileSync(join(dst, 'tools/deep/dir/b.bin')))).toBe(b.sha256);
      expect(lstatSync(join(dst, 'tools/a.txt'))).toMatchObject({ uid: 33333, gid: 33333 });
    });

    it('refuses a file whose digest does not match and leaves nothing under its name', async () => {
      const a = await storage.put('files/c.txt@downloads', Buffer.from('gamma\n'));
      await expect(runInitializer(context(), download([{ url: a.url, digest: `sha256:${sha256('other')}`, filePath: 'c.txt' }]))).rejects.toMatchObject({
        code: WsErrorCode.FailedPrecondition,
      });
      expect(readdirSync(dst)).toEqual([]);
    });

    it('refuses paths that leave the workspace and malformed digests before downloading', async () => {
      const a = await storage.put('files/d.txt@downloads', Buffer.from('delta\n'));
      for (const [filePath, targetLocation] of [['../escape.txt', ''], ['x.txt', '../..'], ['/etc/cron.d/x', '']]) {
        await expect(runInitializer(context(), download([{ url: a.url, digest: `sha256:${a.sha256}`, filePath }], targetLocation))).rejects.toMatchObject({ code: WsErrorCode.InvalidArgument });
      }
      await expect(runInitializer(context(), download([{ url: a.url, digest: `md5:abc`, filePath: 'x' }]))).rejects.toMatchObject({ code: WsErrorCode.InvalidArgument });
      expect(readdirSync(dst)).toEqual([]);
    });
  });

  describe('composite', () => {
    it('runs its initializers in order and names every source that filled the folder', async () => {
      const tool = await storage.put('files/tool.sh@downloads', Buffer.from('#!/bin/sh\n'));
      const outcome = await runInitializer(context(), {
        spec: {
          $case: 'composite',
          value: {
            initializer: [
              { spec: { $case: 'empty', value: {} } },
              gitInitializer({ remoteUri: `file://${repos.project}`, checkoutLocation: 'repo' }),
              { spec: { $case: 'download', value: { targetLocation: 'bin', files: [{ url: tool.url, digest: `sha256:${tool.sha256}`, filePath: 'tool.sh' }] } } },
            ],
          },
        },
      });
      expect(outcome.source).toBe('git+download');
      expect(outcome.metrics.map((m) => m.type)).toEqual(['empty', 'git', 'download']);
      expect(readdirSync(dst).sort()).toEqual(['bin', 'repo']);
    });

    it('fails naming the initializer that failed', async () => {
      await expect(
        runInitializer(context(), { spec: { $case: 'composite', value: { initializer: [{ spec: { $case: 'empty', value: {} } }, gitInitializer({ remoteUri: `file://${base.path}/nope.git` })] } } }),
      ).rejects.toMatchObject({ message: expect.stringMatching(/^composite initializer 2 of 2: git clone: /) });
    });
  });
});
