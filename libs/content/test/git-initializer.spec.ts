import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { WsErrorCode } from '@wsrun/common';
import { initializer } from '@wsrun/proto';
import { runInitializer } from '../src';
import { directContext } from './support/direct-context';
import { git, makeRepos, type FixtureRepos } from './support/git-repos';
import { GitHttpServer } from './support/git-http-server';
import { gitConfig, gitInitializer } from './support/git-spec';
import { tempDir } from './support/temp-dirs';

const { REMOTE_COMMIT, REMOTE_BRANCH, LOCAL_BRANCH } = initializer.CloneTargetMode;
const { BASIC_AUTH, BASIC_AUTH_OTS } = initializer.GitAuthMethod;

/**
 * The git initializer against real repositories: a bare repository with history, a branch and a
 * submodule, served over file:// and over HTTP by `git http-backend` (with basic auth on the
 * second server). Run directly (no sandbox) into a fresh folder per test.
 */
describe('git initializer', () => {
  let base: ReturnType<typeof tempDir>;
  let repos: FixtureRepos;
  let open: GitHttpServer;
  let authed: GitHttpServer;
  let dst: string;
  let cleanups: (() => void)[] = [];

  beforeAll(async () => {
    base = tempDir('git-init');
    repos = makeRepos(base.path);
    open = new GitHttpServer({ root: repos.dir });
    authed = new GitHttpServer({ root: repos.dir, users: { alice: 'open-sesame-42' } });
    await open.listen();
    await authed.listen();
  });
  afterAll(async () => {
    await open.close();
    await authed.close();
    base.cleanup();
  });
  let n = 0;
  beforeEach(() => {
    dst = join(base.path, `dst-${n++}`);
    mkdirSync(dst);
  });
  afterEach(() => {
    for (const c of cleanups) c();
    cleanups = [];
  });

  const run = async (spec: initializer.WorkspaceInitializer) => {
    const { ctx, close } = directContext(dst);
    cleanups.push(close);
    return runInitializer(ctx, spec);
  };
  const fileRemote = () => `file://${repos.project}`;
  const httpRemote = (server: GitHttpServer) => `${server.url}/project.git`;
  const head = (dir = dst) => git(dir, 'rev-parse', 'HEAD');

  it('clones the remote head over file://, shallow by default, with submodules', async () => {
    const outcome = await run(gitInitializer({ remoteUri: fileRemote() }));
    expect(outcome.source).toBe('git');
    expect(outcome.metrics).toEqual([expect.objectContaining({ type: 'git', attempts: 1 })]);
    expect(outcome.metrics[0].sizeBytes).toBeGreaterThan(0);
    expect(head()).toBe(repos.commits.c3);
    expect(git(dst, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('main');
    expect(git(dst, 'rev-parse', '--is-shallow-repository')).toBe('true');
    expect(readFileSync(join(dst, 'README.md'), 'utf8')).toBe('v3\n');
    expect(readFileSync(join(dst, 'libs/sub/sub.txt'), 'utf8')).toBe('from the submodule\n');
  });

  it('makes a full clone on request', async () => {
    await run(gitInitializer({ remoteUri: httpRemote(open), fullClone: true }));
    expect(git(dst, 'rev-parse', '--is-shallow-repository')).toBe('false');
    expect(git(dst, 'rev-list', '--count', 'HEAD')).toBe('3');
  });

  it('checks out a remote branch over HTTP', async () => {
    await run(gitInitializer({ remoteUri: httpRemote(open), targetMode: REMOTE_BRANCH, cloneTarget: 'feature' }));
    expect(head()).toBe(repos.feature);
    expect(git(dst, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('feature');
    expect(readFileSync(join(dst, 'feature.txt'), 'utf8')).toBe('feature\n');
  });

  it('checks out a remote commit that is not a branch head, detached, with its submodules', async () => {
    await run(gitInitializer({ remoteUri: httpRemote(open), targetMode: REMOTE_COMMIT, cloneTarget: repos.commits.c2 }));
    expect(head()).toBe(repos.commits.c2);
    expect(git(dst, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('HEAD');
    expect(readFileSync(join(dst, 'README.md'), 'utf8')).toBe('v1\n');
    expect(readFileSync(join(dst, 'libs/sub/sub.txt'), 'utf8')).toBe('from the submodule\n');
  });

  it('creates a new local branch from the remote head', async () => {
    await run(gitInitializer({ remoteUri: fileRemote(), targetMode: LOCAL_BRANCH, cloneTarget: 'my-work' }));
    expect(git(dst, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('my-work');
    expect(head()).toBe(repos.commits.c3);
  });

  it('clones into a checkout location inside the workspace, with custom config and an upstream remote', async () => {
    await run(
      gitInitializer({
        remoteUri: fileRemote(),
        upstreamRemoteUri: `file://${repos.dir}/sub.git`,
        checkoutLocation: 'org/project',
        config: gitConfig({ customConfig: { 'core.autocrlf': 'input', 'pull.rebase': 'true' } }),
      }),
    );
    const repo = join(dst, 'org/project');
    expect(head(repo)).toBe(repos.commits.c3);
    expect(git(repo, 'config', 'core.autocrlf')).toBe('input');
    expect(git(repo, 'config', 'pull.rebase')).toBe('true');
    expect(git(repo, 'remote', 'get-url', 'upstream')).toBe(`file://${repos.dir}/sub.git`);
    expect(readdirSync(dst)).toEqual(['org']);
  });

  it.each(['../outside', 'a/../../outside', '/etc/outside'])('refuses the checkout location %s before touching anything', async (location) => {
    await expect(run(gitInitializer({ remoteUri: fileRemote(), checkoutLocation: location }))).rejects.toMatchObject({ code: WsErrorCode.InvalidArgument });
    expect(readdirSync(dst)).toEqual([]);
    expect(existsSync(join(base.path, 'outside'))).toBe(false);
  });

  it('refuses a checkout location that passes through a symlink in the workspace', async () => {
    const outside = join(base.path, `outside-${n}`);
    mkdirSync(outside);
    symlinkSync(outside, join(dst, 'link'));
    await expect(run(gitInitializer({ remoteUri: fileRemote(), checkoutLocation: 'link/project' }))).rejects.toMatchObject({
      code: WsErrorCode.FailedPrecondition,
      message: expect.stringContaining('symlink'),
    });
    expect(readdirSync(outside)).toEqual([]);
  });

  it('refuses custom config that would turn the hardening off', async () => {
    for (const key of ['core.hooksPath', 'credential.helper', 'include.path', 'core.fsmonitor']) {
      await expect(run(gitInitializer({ remoteUri: fileRemote(), config: gitConfig({ customConfig: { [key]: '/tmp/x' } }) }))).rejects.toMatchObject({
        code: WsErrorCode.InvalidArgument,
        message: expect.stringContaining('not allowed'),
      });
    }
  });

  it('refuses target names that git would read as options', async () => {
    await expect(run(gitInitializer({ remoteUri: fileRemote(), targetMode: REMOTE_BRANCH, cloneTarget: '--upload-pack=touch /tmp/x' }))).rejects.toMatchObject({ code: WsErrorCode.InvalidArgument });
    await expect(run(gitInitializer({ remoteUri: '--upload-pack=touch /tmp/x' }))).rejects.toMatchObject({ code: WsErrorCode.InvalidArgument });
    await expect(run(gitInitializer({ remoteUri: 'ext::sh -c touch% /tmp/x' }))).rejects.toMatchObject({ code: WsErrorCode.InvalidArgument });
  });

  it('fails clearly for a branch the remote does not have', async () => {
    await expect(run(gitInitializer({ remoteUri: httpRemote(open), targetMode: REMOTE_BRANCH, cloneTarget: 'no-such-branch' }))).rejects.toMatchObject({
      code: WsErrorCode.NotFound,
      message: expect.stringContaining('Remote branch no-such-branch not found'),
    });
  });

  it('fails clearly for a commit the remote does not have', async () => {
    await expect(run(gitInitializer({ remoteUri: httpRemote(open), targetMode: REMOTE_COMMIT, cloneTarget: 'deadbeef'.repeat(5) }))).rejects.toMatchObject({
      code: WsErrorCode.NotFound,
      message: expect.stringContaining(`commit ${'deadbeef'.repeat(5)} not found`),
    });
  });

  it('fails clearly for a repository that does not exist', async () => {
    await expect(run(gitInitializer({ remoteUri: `${open.url}/nope.git` }))).rejects.toMatchObject({ code: WsErrorCode.NotFound });
  });

  describe('authentication', () => {
    const password = 'open-sesame-42';

    it('clones with basic auth, the password given to git only through its credential helper', async () => {
      const slow = new GitHttpServer({ root: repos.dir, users: { alice: password }, delayMs: 150 });
      await slow.listen();
      const leaks: string[] = [];
      let sampling = true;
      // every process's command line and environment, sampled while git runs
      const sample = async () => {
        while (sampling) {
          for (const pid of await readdir('/proc').catch(() => [])) {
            if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
            for (const file of ['cmdline', 'environ']) {
              const text = await readFile(`/proc/${pid}/${file}`, 'utf8').catch(() => '');
              if (text.includes(password)) leaks.push(`${pid}/${file}: ${text.replace(/\0/g, ' ')}`);
            }
          }
          await new Promise((r) => setTimeout(r, 10));
        }
      };
      const sampler = sample();
      try {
        await run(gitInitializer({ remoteUri: `${slow.url}/project.git`, config: gitConfig({ authentication: BASIC_AUTH, authUser: 'alice', authPassword: password }) }));
      } finally {
        sampling = false;
        await sampler;
        await slow.close();
      }
      expect(head()).toBe(repos.commits.c3);
      expect(slow.authHeaders.length).toBeGreaterThan(0);
      expect(leaks).toEqual([]);
      // nothing of the credentials stays in the repository
      expect(readFileSync(join(dst, '.git/config'), 'utf8')).not.toContain(password);
      expect(git(dst, 'remote', 'get-url', 'origin')).toBe(`${slow.url}/project.git`);
    });

    it('fails at once with a clear error on a wrong password, without the password in the message', async () => {
      const before = authed.requests;
      const err = await run(gitInitializer({ remoteUri: httpRemote(authed), config: gitConfig({ authentication: BASIC_AUTH, authUser: 'alice', authPassword: 'wrong-pass-77' }) })).catch((e: Error) => e);
      expect(err).toMatchObject({ code: WsErrorCode.PermissionDenied, message: expect.stringContaining('authentication failed') });
      expect((err as Error).message).not.toContain('wrong-pass-77');
      // a permanent failure is not retried: one clone attempt (git's own 401 round trip)
      expect(authed.requests - before).toBeLessThanOrEqual(2);
    });

    it('fails with a clear error when the remote needs credentials and none are given', async () => {
      await expect(run(gitInitializer({ remoteUri: httpRemote(authed) }))).rejects.toMatchObject({ code: WsErrorCode.PermissionDenied });
    });

    it('fetches a one-time secret once and clones with it', async () => {
      const ots = authed.oneTimeSecret('token-1', password);
      const outcome = await run(gitInitializer({ remoteUri: httpRemote(authed), config: gitConfig({ authentication: BASIC_AUTH_OTS, authUser: 'alice', authOts: ots }) }));
      expect(outcome.source).toBe('git');
      expect(head()).toBe(repos.commits.c3);
      // it was used up
      expect((await fetch(ots)).status).toBe(404);
    });

    it('fails clearly when the one-time secret was already used', async () => {
      const ots = authed.oneTimeSecret('token-2', password);
      await fetch(ots);
      await expect(run(gitInitializer({ remoteUri: httpRemote(authed), config: gitConfig({ authentication: BASIC_AUTH_OTS, authUser: 'alice', authOts: ots }) }))).rejects.toMatchObject({
        code: WsErrorCode.PermissionDenied,
        message: expect.stringContaining('one-time secret'),
      });
    });
  });

  describe('transient failures', () => {
    it('retries with backoff and succeeds, reporting the attempts', async () => {
      open.failNext = 2;
      const outcome = await run(gitInitializer({ remoteUri: httpRemote(open) }));
      expect(outcome.metrics[0].attempts).toBe(3);
      expect(head()).toBe(repos.commits.c3);
    });

    it('gives up after the configured attempts with UNAVAILABLE', async () => {
      open.failNext = 100;
      try {
        await expect(run(gitInitializer({ remoteUri: httpRemote(open) }))).rejects.toMatchObject({
          code: WsErrorCode.Unavailable,
          message: expect.stringContaining('gave up after 3 attempts'),
        });
      } finally {
        open.failNext = 0;
      }
      // the partial clone of the last attempt does not stay
      expect(readdirSync(dst)).toEqual([]);
    });
  });
});
