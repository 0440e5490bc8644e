import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { WsError, WsErrorCode } from '@wsrun/common';
import { initializer } from '@wsrun/proto';
import type { GitRunner } from './git-runner';
import { redactSecrets } from './secret-redaction';

/**
 * Credentials for a clone, held by git's own credential cache daemon on a unix socket in a
 * private (0700) folder: the password goes to it once over a pipe (`credential-cache store`
 * reads stdin), and git asks it through `credential.helper=cache --socket ...`. So the secret is
 * never on a command line, in an environment, in a file, or in a log. The daemon lives in the
 * sandbox's pid namespace and dies with it; `close()` stops it earlier.
 */
export interface GitCredentials {
  username: string;
  password: string;
}

export class CredentialCache {
  readonly socket: string;
  private readonly dir: string;

  constructor(tmpDir: string) {
    this.dir = join(tmpDir, `git-credentials-${randomBytes(6).toString('hex')}`);
    // credential-cache refuses a socket folder that others can enter
    mkdirSync(this.dir, { mode: 0o700 });
    this.socket = join(this.dir, 'socket');
  }

  /** Stores credentials for the protocol and host of `remote` (stdin only). */
  async store(git: GitRunner, remote: URL, credentials: GitCredentials): Promise<void> {
    const input = [`protocol=${remote.protocol.replace(/:$/, '')}`, `host=${remote.host}`, `username=${credentials.username}`, `password=${credentials.password}`, '', ''].join('\n');
    await git.run(['credential-cache', '--socket', this.socket, '--timeout', '86400', 'store'], { cwd: this.dir, input, what: 'credential-cache store' });
  }

  /** Stops the daemon and removes the folder; never throws. */
  async close(git: GitRunner): Promise<void> {
    try {
      await git.run(['credential-cache', '--socket', this.socket, 'exit'], { cwd: this.dir, what: 'credential-cache exit' });
    } catch {
      // not running (nothing was stored) or already gone
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * The credentials a GitConfig asks for, or undefined for NO_AUTH. A one-time secret is fetched
 * here, exactly once per initializer run. Throws WsError(INVALID_ARGUMENT) for an incomplete
 * config, PERMISSION_DENIED/UNAVAILABLE when the one-time secret cannot be had.
 */
export async function resolveGitCredentials(config: initializer.GitConfig | undefined, signal?: AbortSignal): Promise<GitCredentials | undefined> {
  const method = config?.authentication ?? initializer.GitAuthMethod.NO_AUTH;
  switch (method) {
    case initializer.GitAuthMethod.NO_AUTH:
      return undefined;
    case initializer.GitAuthMethod.BASIC_AUTH:
      if (!config?.authUser) throw new WsError(WsErrorCode.InvalidArgument, 'git basic auth: authUser is empty');
      return { username: config.authUser, password: config.authPassword };
    case initializer.GitAuthMethod.BASIC_AUTH_OTS:
      if (!config?.authUser) throw new WsError(WsErrorCode.InvalidArgument, 'git basic auth: authUser is empty');
      if (!config.authOts) throw new WsError(WsErrorCode.InvalidArgument, 'git basic auth: authOts (the one-time-secret URL) is empty');
      return { username: config.authUser, password: await fetchOneTimeSecret(config.authOts, signal) };
    default:
      throw new WsError(WsErrorCode.InvalidArgument, `git: unknown authentication method ${String(method)}`);
  }
}

/** GETs a one-time-secret URL; its body (trimmed) is the secret. The URL is never echoed whole. */
export async function fetchOneTimeSecret(url: string, signal?: AbortSignal): Promise<string> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new WsError(WsErrorCode.InvalidArgument, 'git: the one-time-secret URL is not a valid URL');
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new WsError(WsErrorCode.InvalidArgument, `git: the one-time-secret URL has the unsupported protocol ${parsed.protocol}`);
  const safe = redactSecrets(`${parsed.origin}${parsed.pathname}`, []);
  let res: Response;
  try {
    res = await fetch(parsed, { signal: signal ?? AbortSignal.timeout(30_000), redirect: 'error' });
  } catch (err) {
    if (signal?.aborted) throw new WsError(WsErrorCode.Cancelled, 'fetching the one-time secret: cancelled');
    throw new WsError(WsErrorCode.Unavailable, `fetching the one-time secret from ${safe}: ${(err as Error).message}`, { cause: err });
  }
  if (!res.ok) {
    await res.body?.cancel();
    const code = res.status === 404 || res.status === 410 || res.status === 401 || res.status === 403 ? WsErrorCode.PermissionDenied : WsErrorCode.Unavailable;
    throw new WsError(code, `fetching the one-time secret from ${safe}: HTTP ${res.status} (it can be used only once)`);
  }
  const secret = (await res.text()).trim();
  if (!secret) throw new WsError(WsErrorCode.PermissionDenied, `the one-time secret from ${safe} is empty`);
  return secret;
}
