import { invalid, parseAbsolutePath, parseDurationMs } from '@wsrun/common';
import { join } from 'node:path';

/** Settings of `workspacekit ring0`, from flags and WORKSPACEKIT_* environment variables. */
export interface KitConfigInput {
  daemonSocket?: string;
  connectTimeout?: string;
  grace?: string;
  runtimeDir?: string;
  hostname?: string;
  supervisor?: string;
  command?: string[];
}

/**
 * ring0's validated configuration. The command run inside is, in order: the command line, the
 * supervisor (WORKSPACEKIT_SUPERVISOR), the user's shell ($SHELL, else /bin/bash).
 */
export class KitConfig {
  constructor(
    readonly daemonSocket: string,
    readonly connectTimeoutMs: number,
    readonly graceMs: number,
    /** ring0's own folder: the rings' root mount point, the lift socket, the runtime state */
    readonly runtimeDir: string,
    readonly hostname: string,
    readonly command: string[],
  ) {}

  static from(input: KitConfigInput, env: NodeJS.ProcessEnv = process.env): KitConfig {
    const daemonSocket = parseAbsolutePath('--daemon-socket', input.daemonSocket ?? env['WORKSPACEKIT_DAEMON_SOCKET'], '/.workspace/daemon.sock');
    const connectTimeoutMs = parseDurationMs('--connect-timeout', input.connectTimeout ?? env['WORKSPACEKIT_CONNECT_TIMEOUT'], 30_000);
    const graceMs = parseDurationMs('--grace', input.grace ?? env['WORKSPACEKIT_GRACE'], 20_000);
    const runtimeDir = parseAbsolutePath('--runtime-dir', input.runtimeDir ?? env['WORKSPACEKIT_RUNTIME_DIR'], '/tmp/workspacekit');
    const hostname = input.hostname ?? env['WORKSPACEKIT_HOSTNAME'] ?? 'workspace';
    if (!/^[a-zA-Z0-9]([a-zA-Z0-9.-]{0,62})$/.test(hostname)) throw invalid('--hostname', `"${hostname}" is not a valid hostname`);
    const supervisor = input.supervisor ?? env['WORKSPACEKIT_SUPERVISOR'];
    const command = input.command && input.command.length > 0 ? input.command : supervisor ? [supervisor] : [env['SHELL'] || '/bin/bash'];
    return new KitConfig(daemonSocket, connectTimeoutMs, graceMs, runtimeDir, hostname, command);
  }

  /** where ring1 assembles ring2's root (in ring1's own mount namespace) */
  get rootMountPoint(): string {
    return join(this.runtimeDir, 'root');
  }

  /** bound into the workspace at /.workspace: the lift socket */
  get shareDir(): string {
    return join(this.runtimeDir, 'share');
  }

  get liftSocket(): string {
    return join(this.shareDir, 'lift.sock');
  }

  get stateFile(): string {
    return join(this.runtimeDir, 'state.json');
  }
}
