import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ENV = {
  PATH: '/usr/bin:/bin',
  HOME: '/nonexistent',
  GIT_CONFIG_NOSYSTEM: '1',
  GIT_CONFIG_GLOBAL: '/dev/null',
  GIT_AUTHOR_NAME: 'Test',
  GIT_AUTHOR_EMAIL: 'test@example.com',
  GIT_COMMITTER_NAME: 'Test',
  GIT_COMMITTER_EMAIL: 'test@example.com',
  LC_ALL: 'C',
};

/** Runs git for a fixture (never the code under test); returns trimmed stdout. */
export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', ['-c', 'init.defaultBranch=main', '-c', 'protocol.file.allow=always', ...args], { cwd, env: ENV, encoding: 'utf8' }).trim();
}

export interface FixtureRepos {
  /** folder holding the bare repositories (project.git, sub.git): the git server's root */
  dir: string;
  /** path of the bare main repository */
  project: string;
  /** commits on main, oldest first: c1 (no submodule), c2 (adds libs/sub), c3 (head) */
  commits: { c1: string; c2: string; c3: string };
  /** the head of branch "feature" (c1 + feature.txt) */
  feature: string;
  /** a working copy of project (to push more commits) */
  work: string;
}

/**
 * Two repositories built in `base`: sub.git (one file), and project.git with history on main
 * (c1 → c2 adds submodule libs/sub via the relative URL ../sub.git → c3), a branch "feature",
 * and a .gitignore for build/ (prebuild outputs).
 */
export function makeRepos(base: string): FixtureRepos {
  const dir = join(base, 'repos');
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const subWork = join(base, 'sub-work');
  mkdirSync(subWork);
  git(subWork, 'init', '-q');
  writeFileSync(join(subWork, 'sub.txt'), 'from the submodule\n');
  git(subWork, 'add', '.');
  git(subWork, 'commit', '-qm', 'sub');
  git(base, 'clone', '-q', '--bare', subWork, join(dir, 'sub.git'));

  const work = join(base, 'work');
  mkdirSync(work);
  git(work, 'init', '-q');
  writeFileSync(join(work, 'README.md'), 'v1\n');
  writeFileSync(join(work, '.gitignore'), 'build/\n');
  git(work, 'add', '.');
  git(work, 'commit', '-qm', 'c1');
  const c1 = git(work, 'rev-parse', 'HEAD');
  git(work, 'checkout', '-qb', 'feature');
  writeFileSync(join(work, 'feature.txt'), 'feature\n');
  git(work, 'add', '.');
  git(work, 'commit', '-qm', 'feature');
  const feature = git(work, 'rev-parse', 'HEAD');
  git(work, 'checkout', '-q', 'main');
  git(work, 'submodule', '--quiet', 'add', join(dir, 'sub.git'), 'libs/sub');
  // relative to the remote, so the same repository works over file:// and http://
  git(work, 'config', '-f', '.gitmodules', 'submodule.libs/sub.url', '../sub.git');
  git(work, 'add', '.');
  git(work, 'commit', '-qm', 'c2');
  const c2 = git(work, 'rev-parse', 'HEAD');
  writeFileSync(join(work, 'README.md'), 'v3\n');
  git(work, 'commit', '-qam', 'c3');
  const c3 = git(work, 'rev-parse', 'HEAD');
  const project = join(dir, 'project.git');
  git(base, 'clone', '-q', '--bare', work, project);
  git(project, 'update-ref', 'refs/heads/feature', feature);
  git(work, 'remote', 'add', 'origin', project);
  return { dir, project, commits: { c1, c2, c3 }, feature, work };
}

/** Adds a commit on main of the fixture (pushed to the bare repository); returns its id. */
export function pushCommit(repos: FixtureRepos, file: string, content: string): string {
  writeFileSync(join(repos.work, file), content);
  git(repos.work, 'add', '.');
  git(repos.work, 'commit', '-qm', `update ${file}`);
  git(repos.work, 'push', '-q', 'origin', 'main');
  return git(repos.work, 'rev-parse', 'HEAD');
}
