import { spawn } from 'node:child_process';
import { WsError, WsErrorCode } from '@wsrun/common';
import { GitCommandError } from './git-command.error';
import { classifyGitFailure } from './git-failure';
import { redactSecrets } from './secret-redaction';

/**
 * Runs git for an initializer. Every command gets the same hardened settings: no system or
 * global config, hooks and fsmonitor off (a repository or a snapshot must not run code through
 * them), no terminal prompts, the C locale (failures are classified from git's messages), and
 * the credential helper of the run, if any. Secrets never appear on a command line or in the
 * environment: the credential helper holds them (git-credentials.ts).
 */
export interface GitRunnerSettings {
  /** HOME for git (a private temporary folder) */
  home: string;
  /** `git credential-cache --socket` path holding this run's credentials */
  credentialSocket?: string;
  /** allow file:// and local paths, also for submodules (only when the remote itself is local) */
  allowFileProtocol?: boolean;
  /**
   * a global config file (default none). For a local remote it allows `safe.directory`: the
   * repository (a read-only mirror the operator made visible) belongs to another uid and git
   * would refuse it as "dubious"; the upload-pack of a local clone does not see `-c` options.
   */
  globalConfig?: string;
  /** values to blank out of every message */
  secrets?: string[];
  signal?: AbortSignal;
}

export interface GitResult {
  stdout: string;
  stderr: string;
}

/** git's own output kept for error messages (the end is what matters) */
const STDERR_TAIL = 8 * 1024;

export class GitRunner {
  constructor(private readonly settings: GitRunnerSettings) {}

  /** Adds a secret to blank out (e.g. a password fetched later from a one-time-secret URL). */
  addSecret(secret: string): void {
    (this.settings.secrets ??= []).push(secret);
  }

  redact(text: string): string {
    return redactSecrets(text, this.settings.secrets);
  }

  /** The `-c` options every command starts with. */
  hardeningOptions(): string[] {
    const c = [
      'core.hooksPath=/dev/null',
      'core.fsmonitor=false',
      'advice.detachedHead=false',
      'init.defaultBranch=main',
      // git ≥ 2.38 refuses local submodules by default; a local remote needs them
      `protocol.file.allow=${this.settings.allowFileProtocol ? 'always' : 'user'}`,
      'credential.helper=',
    ];
    if (this.settings.credentialSocket) c.push(`credential.helper=cache --socket ${this.settings.credentialSocket}`);
    return c.flatMap((kv) => ['-c', kv]);
  }

  env(): NodeJS.ProcessEnv {
    return {
      PATH: '/usr/local/bin:/usr/bin:/bin',
      HOME: this.settings.home,
      LC_ALL: 'C',
      GIT_TERMINAL_PROMPT: '0',
      GIT_CONFIG_NOSYSTEM: '1',
      GIT_CONFIG_GLOBAL: this.settings.globalConfig ?? '/dev/null',
      GIT_ASKPASS: '',
      SSH_ASKPASS: '',
      GIT_SSH_COMMAND: 'ssh -o BatchMode=yes',
      // stash (prebuilds) needs an identity; nothing here commits on the user's behalf
      GIT_AUTHOR_NAME: 'wsrun',
      GIT_AUTHOR_EMAIL: 'wsrun@localhost',
      GIT_COMMITTER_NAME: 'wsrun',
      GIT_COMMITTER_EMAIL: 'wsrun@localhost',
    };
  }

  /**
   * Runs `git <args>` in cwd. Resolves with its output; rejects with GitCommandError (classified,
   * redacted) on a non-zero exit, WsError(CANCELLED) when the signal aborts.
   */
  run(args: string[], opts: { cwd: string; input?: string; what?: string } = { cwd: '/' }): Promise<GitResult> {
    const signal = this.settings.signal;
    const what = opts.what ?? args.find((a) => !a.startsWith('-')) ?? 'git';
    if (signal?.aborted) return Promise.reject(new WsError(WsErrorCode.Cancelled, `git ${what}: cancelled`));
    return new Promise<GitResult>((resolve, reject) => {
      const child = spawn('git', [...this.hardeningOptions(), ...args], {
        cwd: opts.cwd,
        env: this.env(),
        stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        // its own process group: a cancel takes git's helpers (remote-http, index-pack) along
        detached: true,
      });
      let stdout = '';
      let stderr = '';
      child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr?.setEncoding('utf8').on('data', (d: string) => {
        stderr = (stderr + d).slice(-STDERR_TAIL);
      });
      const onAbort = (): void => {
        try {
          if (child.pid) process.kill(-child.pid, 'SIGKILL');
        } catch {
          // gone already
        }
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      if (opts.input !== undefined) child.stdin?.end(opts.input);
      child.on('error', (err) => {
        signal?.removeEventListener('abort', onAbort);
        reject(WsError.wrap(`running git ${what}`, err, WsErrorCode.Internal));
      });
      child.on('close', (code, sig) => {
        signal?.removeEventListener('abort', onAbort);
        if (signal?.aborted) return reject(new WsError(WsErrorCode.Cancelled, `git ${what}: cancelled`));
        if (code === 0) return resolve({ stdout, stderr });
        const safe = this.redact(stderr);
        reject(new GitCommandError(what, classifyGitFailure(safe), safe, sig ? `killed by ${sig}` : `exit code ${code}`));
      });
    });
  }
}
