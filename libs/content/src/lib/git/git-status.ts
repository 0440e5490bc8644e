import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { initializer } from '@wsrun/proto';
import { GitRunner } from './git-runner';

/**
 * The state of a workspace's repository for DisposeWorkspace: branch, latest commit, uncommitted
 * and untracked files, and commits on local branches that no remote has. Runs git with the
 * hardened settings of GitRunner (no hooks, no fsmonitor, no system/global config) and
 * --no-optional-locks, so it changes nothing in the repository. The repository's own config can
 * still name filters: run it where the workspace's code may run (the content-init sandbox).
 * Lists are cut at `limit` entries; the totals count all.
 */
export async function gitStatus(dir: string, opts: { limit?: number; signal?: AbortSignal } = {}): Promise<initializer.GitStatus> {
  const limit = opts.limit ?? 100;
  const home = mkdtempSync(join(tmpdir(), 'wsrun-git-status-'));
  try {
    const git = new GitRunner({ home, ...(opts.signal ? { signal: opts.signal } : {}) });
    const status = await git.run(['--no-optional-locks', 'status', '--porcelain=v2', '--branch', '-z', '--untracked-files=all'], { cwd: dir, what: 'status' });
    let branch = '';
    let latestCommit = '';
    const uncommitted: string[] = [];
    const untracked: string[] = [];
    const records = status.stdout.split('\0');
    for (let i = 0; i < records.length; i++) {
      const r = records[i];
      if (r.startsWith('# branch.head ')) branch = r.slice('# branch.head '.length).replace('(detached)', '');
      else if (r.startsWith('# branch.oid ')) latestCommit = r.slice('# branch.oid '.length).replace('(initial)', '');
      else if (r.startsWith('1 ')) uncommitted.push(field(r, 9));
      else if (r.startsWith('2 ')) {
        uncommitted.push(field(r, 10));
        i++; // the rename's original path follows as its own record
      } else if (r.startsWith('u ')) uncommitted.push(field(r, 11));
      else if (r.startsWith('? ')) untracked.push(r.slice(2));
    }
    const unpushed = latestCommit
      ? (await git.run(['--no-optional-locks', 'log', '--pretty=format:%h: %s', '--branches', '--not', '--remotes', '--'], { cwd: dir, what: 'log' })).stdout.split('\n').filter(Boolean)
      : [];
    return {
      branch,
      latestCommit,
      uncommitedFiles: uncommitted.slice(0, limit),
      totalUncommitedFiles: uncommitted.length,
      untrackedFiles: untracked.slice(0, limit),
      totalUntrackedFiles: untracked.length,
      unpushedCommits: unpushed.slice(0, limit),
      totalUnpushedCommits: unpushed.length,
    };
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
}

/** The path of a porcelain v2 record: everything after the (n-1)th space (paths may hold spaces). */
function field(record: string, n: number): string {
  let at = 0;
  for (let i = 1; i < n; i++) at = record.indexOf(' ', at) + 1;
  return record.slice(at);
}
