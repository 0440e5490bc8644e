import { chmodSync, chownSync, existsSync, linkSync, lchownSync, lstatSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { identityIdMapper, workspaceIdMappers } from '@wsrun/archive';
import { WsErrorCode } from '@wsrun/common';
import { initializer } from '@wsrun/proto';
import { runSandboxedGitStatus, runSandboxedInitializer, WORKSPACE_ID_MAPPING, type InitializerProgress, type SandboxedInitializerRequest, type SandboxedRunOptions } from '../src';
import { buildChildBundle } from './support/child-bundle';
import { git, makeRepos, pushCommit, type FixtureRepos } from './support/git-repos';
import { GitHttpServer } from './support/git-http-server';
import { gitConfig, gitInitializer, gitSpec } from './support/git-spec';
import { packTree } from './support/pack-tree';
import { StorageFixture } from './support/storage-fixture';
import { tempDir, workspaceDir } from './support/temp-dirs';
import { listTree, snapshotTree } from './support/tree-snapshot';

const { toWorkspace } = workspaceIdMappers(WORKSPACE_ID_MAPPING);

/**
 * The whole path as production runs it: runSandboxedInitializer starts the child (a bundle of
 * the real entry point) in the sandbox with the workspace's id mapping; remote content comes
 * over real HTTP from the local object storage, repositories from `git http-backend`.
 */
describe('sandboxed initializer', () => {
  let bundle: ReturnType<typeof buildChildBundle>;
  let base: ReturnType<typeof tempDir>;
  let storage: StorageFixture;
  let repos: FixtureRepos;
  let server: GitHttpServer;
  let dst: string;
  let n = 0;
  const password = 'sandbox-secret-913';

  beforeAll(async () => {
    bundle = buildChildBundle();
    base = tempDir('sandboxed');
    storage = await new StorageFixture(join(base.path, 'storage')).start();
    repos = makeRepos(base.path);
    server = new GitHttpServer({ root: repos.dir, users: { alice: password } });
    await server.listen();
  });
  afterAll(async () => {
    await server.close();
    await storage.close();
    base.cleanup();
    bundle.cleanup();
  });
  beforeEach(() => {
    dst = workspaceDir(base.path, `ws-${n++}`);
  });

  const run = (request: Omit<SandboxedInitializerRequest, 'destination'>, options: Partial<SandboxedRunOptions> = {}) =>
    runSandboxedInitializer({ destination: dst, git: { attempts: 2, backoffMs: 20 }, ...request }, { bundleDir: bundle.dir, timeoutMs: 60_000, ...options });
  const authedGit = (pw: string) => gitInitializer({ remoteUri: `${server.url}/project.git`, config: gitConfig({ authentication: initializer.GitAuthMethod.BASIC_AUTH, authUser: 'alice', authPassword: pw }) });
  /** git as the workspace would run it on its files (they belong to 33333 on the node) */
  const gitAsWorkspace = (dir: string, ...args: string[]) => git(dir, '-c', `safe.directory=${dir}`, ...args);

  it('writes .wsrun/ready owned by the workspace root, and reports the outcome', async () => {
    const progress: InitializerProgress[] = [];
    const outcome = await run({ initializer: { spec: { $case: 'empty', value: {} } } }, { onProgress: (p) => progress.push(p) });
    expect(outcome).toEqual({ source: 'empty', metrics: [expect.objectContaining({ type: 'empty' })] });
    expect(lstatSync(join(dst, '.wsrun/ready'))).toMatchObject({ uid: 33333, gid: 33333 });
    expect(lstatSync(join(dst, '.wsrun'))).toMatchObject({ uid: 33333, gid: 33333 });
    expect(JSON.parse(readFileSync(join(dst, '.wsrun/ready'), 'utf8'))).toMatchObject({ source: 'empty' });
    expect(progress.map((p) => p.phase)).toEqual(['clean', 'ready']);
  });

  it('clones over HTTP with basic auth; the password shows up nowhere', async () => {
    const logs: string[] = [];
    const progress: string[] = [];
    const outcome = await run({ initializer: authedGit(password) }, { onLog: (l) => logs.push(l), onProgress: (p) => progress.push(JSON.stringify(p)) });
    expect(outcome.source).toBe('git');
    expect(gitAsWorkspace(dst, 'rev-parse', 'HEAD')).toBe(git(repos.project, 'rev-parse', 'main'));
    expect(lstatSync(join(dst, 'README.md'))).toMatchObject({ uid: 33333, gid: 33333 });
    expect(readFileSync(join(dst, 'libs/sub/sub.txt'), 'utf8')).toBe('from the submodule\n');
    const everything = [...logs, ...progress, JSON.stringify(outcome), readFileSync(join(dst, '.wsrun/ready'), 'utf8'), readFileSync(join(dst, '.git/config'), 'utf8')].join('\n');
    expect(everything).not.toContain(password);
  });

  it('fails with the child\'s message and code on a wrong password, without the password', async () => {
    const logs: string[] = [];
    const err = await run({ initializer: authedGit('not-the-password-555') }, { onLog: (l) => logs.push(l) }).catch((e: Error) => e);
    expect(err).toMatchObject({ code: WsErrorCode.PermissionDenied, message: expect.stringContaining('authentication failed') });
    expect([(err as Error).message, ...logs].join('\n')).not.toContain('not-the-password-555');
    expect(existsSync(join(dst, '.wsrun/ready'))).toBe(false);
  });

  it('clones a file:// remote made visible read-only in the sandbox', async () => {
    const outcome = await run({ initializer: gitInitializer({ remoteUri: `file://${repos.project}`, checkoutLocation: 'src/project' }) }, { extraReadOnly: [repos.dir] });
    expect(outcome.source).toBe('git');
    expect(readFileSync(join(dst, 'src/project/libs/sub/sub.txt'), 'utf8')).toBe('from the submodule\n');
  });

  it('restores a backup exactly: content, modes, symlinks, hard links and owners as mapped', async () => {
    const tree = join(base.path, `backup-tree-${n}`);
    mkdirSync(join(tree, 'src/empty'), { recursive: true });
    writeFileSync(join(tree, 'src/run.sh'), '#!/bin/sh\necho hi\n', { mode: 0o755 });
    writeFileSync(join(tree, '.env'), 'KEY=1\n', { mode: 0o600 });
    writeFileSync(join(tree, 'shared.txt'), 'one inode\n');
    linkSync(join(tree, 'shared.txt'), join(tree, 'src/hardlink.txt'));
    symlinkSync('../shared.txt', join(tree, 'src/rel-link'));
    symlinkSync('/usr/bin/env', join(tree, 'abs-link'));
    mkdirSync(join(tree, 'private'), { mode: 0o700 });
    writeFileSync(join(tree, 'private/user-file'), 'owned by a user\n', { mode: 0o640 });
    chmodSync(join(tree, 'private'), 0o750);
    for (const p of ['', 'src', 'src/empty', 'src/run.sh', '.env', 'shared.txt', 'src/rel-link', 'abs-link']) lchownSync(join(tree, p), 33333, 33333);
    // container uid 1000 / gid 1001 of the workspace
    chownSync(join(tree, 'private'), 101000, 101001);
    chownSync(join(tree, 'private/user-file'), 101000, 101001);
    const backup = await storage.put(`workspaces/ws-${n}/full.tar@backups`, await packTree(tree, toWorkspace));
    // the backup wins over the git initializer asked for
    const outcome = await run({ initializer: gitInitializer({ remoteUri: 'https://example.invalid/x.git' }), remoteContent: { backup } });
    expect(outcome.source).toBe('backup');
    expect(outcome.metrics[0]).toMatchObject({ type: 'backup', refused: [] });
    expect(snapshotTree(dst, { skip: (p) => p.startsWith('.wsrun') })).toEqual(snapshotTree(tree));
    expect(lstatSync(join(dst, 'src/hardlink.txt')).ino).toBe(lstatSync(join(dst, 'shared.txt')).ino);
  });

  it('restores a prebuild and brings its repository to the branch head, as the workspace root', async () => {
    const head = pushCommit(repos, `file-${n}.txt`, 'new\n');
    const tree = join(base.path, `prebuild-${n}`);
    mkdirSync(tree);
    git(tree, 'clone', '-q', `file://${repos.project}`, 'project');
    git(join(tree, 'project'), 'checkout', '-q', repos.commits.c1);
    mkdirSync(join(tree, 'project/build'));
    writeFileSync(join(tree, 'project/build/out.txt'), 'built\n');
    // packed as ws-daemon would from a workspace: root's files are the workspace root's
    const prebuild = await storage.put(`pb-${n}.tar@prebuilds`, await packTree(tree, identityIdMapper));
    const outcome = await run({
      initializer: {
        spec: {
          $case: 'prebuild',
          value: {
            prebuild: { snapshot: `pb-${n}.tar@prebuilds` },
            git: [gitSpec({ remoteUri: `${server.url}/project.git`, targetMode: initializer.CloneTargetMode.REMOTE_BRANCH, cloneTarget: 'main', checkoutLocation: 'project', config: gitConfig({ authentication: initializer.GitAuthMethod.BASIC_AUTH, authUser: 'alice', authPassword: password }) })],
          },
        },
      },
      remoteContent: { objects: { [`pb-${n}.tar@prebuilds`]: prebuild } },
    });
    expect(outcome.source).toBe('prebuild');
    expect(gitAsWorkspace(join(dst, 'project'), 'rev-parse', 'HEAD')).toBe(head);
    expect(readFileSync(join(dst, 'project/build/out.txt'), 'utf8')).toBe('built\n');
    expect(lstatSync(join(dst, 'project/build/out.txt'))).toMatchObject({ uid: 33333 });
  });

  it('runs a composite and reports each initializer', async () => {
    const file = await storage.put(`files/${n}.txt@downloads`, Buffer.from('downloaded\n'));
    const outcome = await run({
      initializer: {
        spec: {
          $case: 'composite',
          value: {
            initializer: [
              gitInitializer({ remoteUri: `${server.url}/project.git`, checkoutLocation: 'repo', config: gitConfig({ authentication: initializer.GitAuthMethod.BASIC_AUTH, authUser: 'alice', authPassword: password }) }),
              { spec: { $case: 'download', value: { targetLocation: 'repo/tools', files: [{ url: file.url, digest: `sha256:${file.sha256}`, filePath: 'f.txt' }] } } },
            ],
          },
        },
      },
    });
    expect(outcome.source).toBe('git+download');
    expect(outcome.metrics.map((m) => m.type)).toEqual(['git', 'download']);
    expect(readFileSync(join(dst, 'repo/tools/f.txt'), 'utf8')).toBe('downloaded\n');
    expect(lstatSync(join(dst, 'repo/tools/f.txt'))).toMatchObject({ uid: 33333 });
  });

  it("reports git status in the sandbox, where the repository's own programs cannot reach the node", async () => {
    await run({ initializer: gitInitializer({ remoteUri: `file://${repos.project}`, checkoutLocation: 'repo' }) }, { extraReadOnly: [repos.dir] });
    const repo = join(dst, 'repo');
    // the user's repository names a clean filter: git status runs it for a changed file
    const planted = join(base.path, `filter-ran-${n}`);
    writeFileSync(join(repo, '.git/config'), `${readFileSync(join(repo, '.git/config'), 'utf8')}[filter "evil"]\n\tclean = "sh -c 'id -u > /dst/repo/filter-uid; touch ${planted}; cat'"\n`);
    writeFileSync(join(repo, '.git/info/attributes'), 'README.md filter=evil\n');
    // same size as the committed 'v3\n': git must read it, through the filter, to see the change
    writeFileSync(join(repo, 'README.md'), 'v4\n');
    writeFileSync(join(repo, 'new.txt'), 'new\n');
    for (const f of ['.git/config', '.git/info/attributes', 'README.md', 'new.txt']) chownSync(join(repo, f), 33333, 33333);
    const status = await runSandboxedGitStatus({ destination: dst, checkoutLocation: 'repo' }, { bundleDir: bundle.dir, timeoutMs: 30_000 });
    expect(status).toMatchObject({ branch: 'main', latestCommit: git(repos.project, 'rev-parse', 'main'), uncommitedFiles: ['README.md'], untrackedFiles: expect.arrayContaining(['new.txt']) });
    // it ran, as the workspace's root, and could not touch the node's files
    expect(readFileSync(join(repo, 'filter-uid'), 'utf8')).toBe('0\n');
    expect(lstatSync(join(repo, 'filter-uid')).uid).toBe(33333);
    expect(existsSync(planted)).toBe(false);
  });

  describe('interrupted runs', () => {
    let slow: StorageFixture;
    let tree: string;
    let archive: Buffer;
    beforeAll(async () => {
      // the same storage folder behind a server that paces each connection
      slow = await new StorageFixture(join(base.path, 'storage'), { maxBytesPerSecondPerConnection: 512 * 1024 }).start();
      tree = join(base.path, 'big-tree');
      mkdirSync(tree);
      for (let i = 0; i < 40; i++) writeFileSync(join(tree, `file-${String(i).padStart(2, '0')}.bin`), Buffer.alloc(100 * 1024, i));
      archive = await packTree(tree);
    });
    afterAll(() => slow.close());

    it('a child killed mid-extraction leaves only leftovers, and the retry gives a clean, complete tree', async () => {
      await storage.put('big.tar@snapshots', archive);
      const pacedUrl = await slow.put('big.tar@snapshots', archive);
      const abort = new AbortController();
      let seen = 0;
      const request = (url: typeof pacedUrl) => ({ initializer: { spec: { $case: 'snapshot' as const, value: { snapshot: 'big.tar@snapshots' } } }, remoteContent: { objects: { 'big.tar@snapshots': url } }, download: { connections: 1 } });
      const err = await run(request(pacedUrl), {
        signal: abort.signal,
        onProgress: (p) => {
          seen = Math.max(seen, p.bytes ?? 0);
          if (seen > 512 * 1024) abort.abort(); // mid-extraction: part of the archive is in
        },
      }).catch((e: Error) => e);
      expect(err).toMatchObject({ code: WsErrorCode.Cancelled });
      // SIGKILL gave the extractor no chance to clean up: its staging folder is what is left
      expect(readdirSync(dst)).toEqual([expect.stringMatching(/^\.wsrun-extract-[0-9a-f]{16}$/)]);
      const retry = await run(request(await storage.put('big.tar@snapshots', archive)));
      expect(retry.source).toBe('snapshot');
      expect(listTree(dst)).toEqual(['.wsrun', '.wsrun/ready', ...readdirSync(tree).sort()]);
      expect(snapshotTree(dst, { skip: (p) => p.startsWith('.wsrun') })).toEqual(
        Object.fromEntries(Object.entries(snapshotTree(tree)).map(([p, e]) => [p, { ...e, uid: 33333, gid: 33333 }])),
      );
    });

    it('stops a run that passes its deadline', async () => {
      const pacedUrl = await slow.put('big2.tar@snapshots', archive);
      await expect(
        run({ initializer: { spec: { $case: 'snapshot', value: { snapshot: 'big2.tar@snapshots' } } }, remoteContent: { objects: { 'big2.tar@snapshots': pacedUrl } }, download: { connections: 1 } }, { timeoutMs: 1500 }),
      ).rejects.toMatchObject({ code: WsErrorCode.DeadlineExceeded, message: expect.stringContaining('did not finish within 2 s') });
      expect(existsSync(join(dst, '.wsrun/ready'))).toBe(false);
    });
  });

  describe('refusals before and after the start', () => {
    it('refuses a destination not owned by the workspace root, or a symlink', async () => {
      const notOwned = join(base.path, `not-owned-${n}`);
      mkdirSync(notOwned);
      await expect(runSandboxedInitializer({ destination: notOwned, initializer: { spec: { $case: 'empty', value: {} } } }, { bundleDir: bundle.dir })).rejects.toMatchObject({
        code: WsErrorCode.FailedPrecondition,
        message: expect.stringContaining('owned by uid 0, not by 33333'),
      });
      const link = join(base.path, `link-${n}`);
      symlinkSync(dst, link);
      await expect(runSandboxedInitializer({ destination: link, initializer: { spec: { $case: 'empty', value: {} } } }, { bundleDir: bundle.dir })).rejects.toMatchObject({
        code: WsErrorCode.FailedPrecondition,
        message: expect.stringContaining('not a directory'),
      });
    });

    it('reports a child that crashed as INTERNAL with its exit status and last log lines', async () => {
      const crashing = join(base.path, `crash-bundle-${n}`);
      mkdirSync(crashing);
      chmodSync(crashing, 0o755);
      writeFileSync(join(crashing, 'sandbox-child.js'), "console.error('boom: out of luck'); process.exit(3);\n");
      await expect(runSandboxedInitializer({ destination: dst, initializer: { spec: { $case: 'empty', value: {} } } }, { bundleDir: crashing })).rejects.toMatchObject({
        code: WsErrorCode.Internal,
        message: expect.stringMatching(/crashed \(exit status 3\); last log lines:\nboom: out of luck/),
      });
    });

    it('is cancelled before it starts when the signal already fired', async () => {
      await expect(run({ initializer: { spec: { $case: 'empty', value: {} } } }, { signal: AbortSignal.abort() })).rejects.toMatchObject({ code: WsErrorCode.Cancelled });
    });
  });
});
