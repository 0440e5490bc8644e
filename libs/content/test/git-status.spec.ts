import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WsErrorCode } from '@wsrun/common';
import { gitStatus } from '../src';
import { git, makeRepos, type FixtureRepos } from './support/git-repos';
import { tempDir } from './support/temp-dirs';

/** gitStatus on real repositories, as DisposeWorkspace will report it. */
describe('gitStatus', () => {
  let base: ReturnType<typeof tempDir>;
  let repos: FixtureRepos;
  let clone: string;

  beforeAll(() => {
    base = tempDir('git-status');
    repos = makeRepos(base.path);
  });
  afterAll(() => base.cleanup());
  beforeEach(() => {
    clone = join(base.path, `clone-${Date.now()}`);
    git(base.path, 'clone', '-q', repos.project, clone);
  });
  afterEach(() => rmSync(clone, { recursive: true, force: true }));

  it('reports a clean checkout', async () => {
    expect(await gitStatus(clone)).toEqual({
      branch: 'main',
      latestCommit: repos.commits.c3,
      uncommitedFiles: [],
      totalUncommitedFiles: 0,
      untrackedFiles: [],
      totalUntrackedFiles: 0,
      unpushedCommits: [],
      totalUnpushedCommits: 0,
    });
  });

  it('reports changed, renamed, staged and untracked files (names with spaces) and unpushed commits', async () => {
    writeFileSync(join(clone, 'local.txt'), 'local\n');
    git(clone, 'add', 'local.txt');
    git(clone, 'commit', '-qm', 'local work');
    const local = git(clone, 'rev-parse', '--short', 'HEAD');
    writeFileSync(join(clone, 'README.md'), 'changed\n');
    git(clone, 'mv', '.gitignore', 'renamed ignore');
    writeFileSync(join(clone, 'staged.txt'), 'staged\n');
    git(clone, 'add', 'staged.txt');
    mkdirSync(join(clone, 'new dir'));
    writeFileSync(join(clone, 'new dir/untracked file.txt'), 'x\n');
    const status = await gitStatus(clone);
    expect(status.branch).toBe('main');
    expect(status.latestCommit).toBe(git(clone, 'rev-parse', 'HEAD'));
    expect(status.uncommitedFiles.sort()).toEqual(['README.md', 'renamed ignore', 'staged.txt']);
    expect(status.totalUncommitedFiles).toBe(3);
    expect(status.untrackedFiles).toEqual(['new dir/untracked file.txt']);
    expect(status.unpushedCommits).toEqual([`${local}: local work`]);
    expect(status.totalUnpushedCommits).toBe(1);
  });

  it('cuts the lists at the limit and keeps the totals', async () => {
    for (let i = 0; i < 5; i++) writeFileSync(join(clone, `u${i}`), '');
    const status = await gitStatus(clone, { limit: 2 });
    expect(status.untrackedFiles).toHaveLength(2);
    expect(status.totalUntrackedFiles).toBe(5);
  });

  it('reports a detached head without a branch name', async () => {
    git(clone, 'checkout', '-q', repos.commits.c1);
    expect(await gitStatus(clone)).toMatchObject({ branch: '', latestCommit: repos.commits.c1 });
  });

  it('fails with NOT_FOUND outside a repository', async () => {
    const plain = join(base.path, 'plain');
    mkdirSync(plain, { recursive: true });
    await expect(gitStatus(plain)).rejects.toMatchObject({ code: WsErrorCode.NotFound });
  });
});
