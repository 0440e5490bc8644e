import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { WsError, WsErrorCode, type Logger } from '@wsrun/common';
import type { initializer } from '@wsrun/proto';
import type { GitPolicy } from '../initializers/initializer-context';
import { CredentialCache, resolveGitCredentials, type GitCredentials } from './git-credentials';
import { GitCommandError } from './git-command.error';
import { GitRunner } from './git-runner';
import { parseGitInitializer, type GitTarget } from './git-spec';

/**
 * One git initializer's working set: the validated target, a GitRunner with the run's
 * credentials behind a credential cache, and the retry policy for network operations.
 */
export class GitSession {
  private constructor(
    readonly git: GitRunner,
    readonly target: GitTarget,
    private readonly policy: GitPolicy,
    private readonly logger: Logger,
    private readonly signal: AbortSignal | undefined,
    private readonly cache?: CredentialCache,
    private readonly credentials?: GitCredentials,
  ) {}

  /** Validates spec, fetches a one-time secret if asked, and starts the credential cache. */
  static async open(spec: initializer.GitInitializer, env: { tmpDir: string; policy: GitPolicy; logger: Logger; signal?: AbortSignal }): Promise<GitSession> {
    const target = parseGitInitializer(spec);
    const home = join(env.tmpDir, 'git-home');
    mkdirSync(home, { recursive: true, mode: 0o700 });
    const credentials = await resolveGitCredentials(spec.config, env.signal);
    const secrets = credentials?.password ? [credentials.password] : [];
    const cache = credentials ? new CredentialCache(env.tmpDir) : undefined;
    let globalConfig: string | undefined;
    if (target.local) {
      globalConfig = join(home, 'local-remote.gitconfig');
      writeFileSync(globalConfig, '[safe]\n\tdirectory = *\n', { mode: 0o600 });
    }
    const git = new GitRunner({
      home,
      ...(globalConfig ? { globalConfig } : {}),
      ...(cache ? { credentialSocket: cache.socket } : {}),
      allowFileProtocol: target.local,
      secrets,
      ...(env.signal ? { signal: env.signal } : {}),
    });
    return new GitSession(git, target, env.policy, env.logger, env.signal, cache, credentials);
  }

  /**
   * Runs a network operation, again after a transient failure (backoff doubling from
   * policy.backoffMs, with jitter), calling `reset` before each new attempt. Credentials are
   * stored again first: git erases them from the cache when a server rejects them.
   */
  async withRetries<T>(what: string, op: () => Promise<T>, reset?: () => void | Promise<void>): Promise<{ value: T; attempts: number }> {
    for (let attempt = 1; ; attempt++) {
      if (this.cache && this.credentials && this.target.remoteUrl) await this.cache.store(this.git, this.target.remoteUrl, this.credentials);
      try {
        return { value: await op(), attempts: attempt };
      } catch (err) {
        const transient = err instanceof GitCommandError && err.transient;
        if (!transient || attempt >= this.policy.attempts) {
          if (transient) throw new WsError((err as WsError).code, `${(err as Error).message} (gave up after ${attempt} attempts)`, { cause: err });
          throw err;
        }
        const delay = this.policy.backoffMs * 2 ** (attempt - 1) * (0.75 + Math.random() * 0.5);
        this.logger.warn({ what, attempt, delayMs: Math.round(delay), err: (err as Error).message }, 'git: transient failure, trying again');
        try {
          await sleep(delay, undefined, this.signal ? { signal: this.signal } : undefined);
        } catch {
          throw new WsError(WsErrorCode.Cancelled, `git ${what}: cancelled`);
        }
        await reset?.();
      }
    }
  }

  /** Stops the credential cache; never throws. */
  async close(): Promise<void> {
    await this.cache?.close(this.git);
  }
}
