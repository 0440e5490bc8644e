import { WsError, WsErrorCode } from '@wsrun/common';
import { initializer } from '@wsrun/proto';
import type { GitSession } from './git-session';

/**
 * The git work of an initializer, in a folder already validated inside the workspace:
 * a fresh clone brought to the target (cloneRepository), or a prebuild's existing working copy
 * brought to the target while keeping its untracked and ignored outputs (updateWorkingCopy).
 * Network steps go through the session's retries; every other step fails at once.
 */

const { REMOTE_HEAD, REMOTE_COMMIT, REMOTE_BRANCH, LOCAL_BRANCH } = initializer.CloneTargetMode;

function depth(session: GitSession): string[] {
  return session.target.shallow ? ['--depth', '1'] : [];
}

/** Clones into the empty folder `dir`; `reset` empties it again before a retry. Returns the attempts made. */
export async function cloneRepository(session: GitSession, dir: string, reset: () => void): Promise<number> {
  const t = session.target;
  const config = t.customConfig.flatMap(([k, v]) => ['--config', `${k}=${v}`]);
  const submodules = t.mode === REMOTE_COMMIT ? [] : ['--recurse-submodules', ...(t.shallow ? ['--shallow-submodules'] : [])];
  const branch = t.mode === REMOTE_BRANCH ? ['--branch', t.target] : [];
  const noCheckout = t.mode === REMOTE_COMMIT ? ['--no-checkout'] : [];
  const { attempts } = await session.withRetries('clone', () => session.git.run(['clone', ...depth(session), ...submodules, ...branch, ...noCheckout, ...config, '--', t.remote, '.'], { cwd: dir }), reset);
  let extra = 0;
  if (t.mode === REMOTE_COMMIT) {
    extra += await fetchCommit(session, dir);
    await session.git.run(['checkout', '--quiet', '--detach', t.target, '--'], { cwd: dir, what: `checkout ${t.target}` });
    extra += await updateSubmodules(session, dir);
  } else if (t.mode === LOCAL_BRANCH) {
    await session.git.run(['checkout', '--quiet', '-b', t.target], { cwd: dir, what: `checkout -b ${t.target}` });
  }
  await addUpstream(session, dir);
  return attempts + extra;
}

/**
 * Brings the working copy at `dir` (from a prebuild) to the target: fetch, then a checkout that
 * carries local changes and leaves untracked and ignored files alone. Fails (and the prebuild
 * falls back to a fresh clone) when `dir` is no working copy or a change would be overwritten.
 */
export async function updateWorkingCopy(session: GitSession, dir: string): Promise<number> {
  const t = session.target;
  let top: string;
  try {
    top = (await session.git.run(['rev-parse', '--show-toplevel'], { cwd: dir })).stdout.trim();
  } catch (err) {
    throw new WsError(WsErrorCode.FailedPrecondition, `the prebuild has no git working copy at ${JSON.stringify(dir)}`, { cause: err });
  }
  if (top !== dir.replace(/\/+$/, '')) throw new WsError(WsErrorCode.FailedPrecondition, `the prebuild has no git working copy at ${JSON.stringify(dir)} (found ${JSON.stringify(top)})`);
  await session.git.run(['remote', 'set-url', 'origin', t.remote], { cwd: dir, what: 'remote set-url' }).catch(() => session.git.run(['remote', 'add', 'origin', t.remote], { cwd: dir, what: 'remote add' }));
  const dirty = (await session.git.run(['status', '--porcelain', '--untracked-files=no'], { cwd: dir })).stdout.trim() !== '';
  if (dirty) await session.git.run(['stash', 'push', '--quiet'], { cwd: dir });
  let attempts = 0;
  switch (t.mode) {
    case REMOTE_HEAD:
    case LOCAL_BRANCH: {
      attempts += (await session.withRetries('fetch', () => session.git.run(['fetch', '--quiet', ...depth(session), 'origin', 'HEAD'], { cwd: dir }))).attempts;
      if (t.mode === REMOTE_HEAD) await session.git.run(['reset', '--quiet', '--keep', 'FETCH_HEAD'], { cwd: dir, what: 'reset --keep' });
      else await session.git.run(['checkout', '--quiet', '-B', t.target, 'FETCH_HEAD'], { cwd: dir, what: `checkout -B ${t.target}` });
      break;
    }
    case REMOTE_BRANCH: {
      const ref = `+refs/heads/${t.target}:refs/remotes/origin/${t.target}`;
      attempts += (await session.withRetries('fetch', () => session.git.run(['fetch', '--quiet', ...depth(session), 'origin', ref], { cwd: dir }))).attempts;
      await session.git.run(['checkout', '--quiet', '-B', t.target, '--track', `origin/${t.target}`], { cwd: dir, what: `checkout ${t.target}` });
      break;
    }
    case REMOTE_COMMIT:
      attempts += await fetchCommit(session, dir);
      await session.git.run(['checkout', '--quiet', '--detach', t.target, '--'], { cwd: dir, what: `checkout ${t.target}` });
      break;
  }
  attempts += await updateSubmodules(session, dir);
  if (dirty) await session.git.run(['stash', 'pop', '--quiet'], { cwd: dir, what: 'stash pop' });
  await addUpstream(session, dir);
  return attempts;
}

/** Fetches the target commit unless it is already there (a full clone has it). */
async function fetchCommit(session: GitSession, dir: string): Promise<number> {
  const t = session.target;
  const present = await session.git.run(['cat-file', '-e', `${t.target}^{commit}`], { cwd: dir }).then(
    () => true,
    () => false,
  );
  if (present) return 0;
  try {
    return (await session.withRetries('fetch', () => session.git.run(['fetch', '--quiet', ...depth(session), 'origin', t.target], { cwd: dir }))).attempts;
  } catch (err) {
    if (err instanceof WsError && err.code === WsErrorCode.NotFound) throw new WsError(WsErrorCode.NotFound, `git: commit ${t.target} not found on the remote (${err.message})`, { cause: err });
    throw err;
  }
}

async function updateSubmodules(session: GitSession, dir: string): Promise<number> {
  const hasModules = await session.git.run(['ls-files', '--stage', '--', '.gitmodules'], { cwd: dir }).then((r) => r.stdout.trim() !== '');
  if (!hasModules) return 0;
  return (await session.withRetries('submodule update', () => session.git.run(['submodule', '--quiet', 'update', '--init', '--recursive', ...depth(session)], { cwd: dir }))).attempts;
}

async function addUpstream(session: GitSession, dir: string): Promise<void> {
  const upstream = session.target.upstream;
  if (!upstream) return;
  const existing = await session.git.run(['remote'], { cwd: dir }).then((r) => r.stdout.split('\n').includes('upstream'));
  await session.git.run(['remote', existing ? 'set-url' : 'add', 'upstream', upstream], { cwd: dir, what: 'remote add upstream' });
}
