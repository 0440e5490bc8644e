import { createDeferredLogger, WsError, WsErrorCode } from '@wsrun/common';
import { loadNative } from '@wsrun/native-ns';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runProgram, type CommandSpec } from './cli/command-line';
import { KitConfig } from './config/kit-config';
import { execInWorkspace, type SignalScope } from './exec/exec-command';
import { lift } from './lift/lift-client';
import { Ring0, type RuntimeState } from './ring0/ring0';

/** Environment of the command inside: ring0's own, minus workspacekit's settings. */
function commandEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name in process.env) {
    const value = process.env[name];
    if (value !== undefined && !name.startsWith('WORKSPACEKIT_')) env[name] = value;
  }
  return env;
}

function fail(err: unknown): never {
  process.stderr.write(`workspacekit: ${err instanceof WsError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(err instanceof WsError ? 2 : 1);
}

const ring0: CommandSpec = {
  name: 'ring0',
  description: 'start the workspace: rings 1 and 2 in new namespaces on the root the daemon prepares; runs until the command ends',
  words: { name: 'command', required: false, description: 'command run inside (default: $WORKSPACEKIT_SUPERVISOR, else $SHELL, else /bin/bash)' },
  options: [
    { name: 'daemon-socket', value: '<path>', description: 'the daemon\'s socket for this workspace', env: 'WORKSPACEKIT_DAEMON_SOCKET', default: '/.workspace/daemon.sock' },
    { name: 'connect-timeout', value: '<duration>', description: 'how long to wait for the daemon', env: 'WORKSPACEKIT_CONNECT_TIMEOUT', default: '30s' },
    { name: 'grace', value: '<duration>', description: 'on SIGTERM, time the inside gets before SIGKILL', env: 'WORKSPACEKIT_GRACE', default: '20s' },
    { name: 'runtime-dir', value: '<dir>', description: 'ring0\'s folder: root mount point, lift socket, state', env: 'WORKSPACEKIT_RUNTIME_DIR', default: '/tmp/workspacekit' },
    { name: 'hostname', value: '<name>', description: 'hostname inside', env: 'WORKSPACEKIT_HOSTNAME', default: 'workspace' },
    { name: 'supervisor', value: '<path>', description: 'command run inside when none is given', env: 'WORKSPACEKIT_SUPERVISOR' },
  ],
  helpAfter:
    'Exit status, as docker run: the command\'s (128+n when it died of signal n); 127 when it does\nnot exist, 126 when it cannot be run, 125 when a ring failed to set up; 69 when the daemon did\nnot answer; 2 for a bad command line or setting; 1 for any other failure.',
  async run(command, opts) {
    const config = KitConfig.from({
      daemonSocket: opts['daemon-socket'],
      connectTimeout: opts['connect-timeout'],
      grace: opts['grace'],
      runtimeDir: opts['runtime-dir'],
      hostname: opts['hostname'],
      supervisor: opts['supervisor'],
      command,
    });
    const log = createDeferredLogger('workspacekit');
    const code = await new Ring0(config, log).run(commandEnv());
    process.exit(code);
  },
};

const liftCommand: CommandSpec = {
  name: 'lift',
  description: 'run a command in ring1\'s context (root in the workspace\'s user namespace, outside ring2\'s mounts)',
  words: { name: 'command', required: true, description: 'the command and its arguments' },
  options: [{ name: 'socket', value: '<path>', description: 'ring0\'s lift socket', env: 'WORKSPACEKIT_LIFT_SOCKET', default: '/.workspace/lift.sock' }],
  async run(command, opts) {
    process.exit(await lift(opts['socket']!, command).catch(fail));
  },
};

const execCommand: CommandSpec = {
  name: 'exec',
  description: 'run a command inside a running workspace (its user, mount and pid namespaces and root), like docker exec',
  words: { name: 'command', required: true, description: 'the command and its arguments' },
  options: [
    { name: 'pid', value: '<pid>', description: 'the workspace\'s ring2 pid (as this process sees it)' },
    { name: 'workspace', value: '<runtime-dir>', description: 'the runtime folder of a running ring0 (its state.json names ring2)' },
    { name: 'signals', value: '<scope>', description: 'where received signals go', choices: ['process', 'group', 'workspace'], default: 'process' },
    { name: 'cwd', value: '<dir>', description: 'working directory inside', default: '/' },
    { name: 'user', value: '<uid:gid>', description: 'ids inside the workspace', default: '0:0' },
  ],
  async run(command, opts) {
    const user = opts['user']!;
    const ids = /^(\d+):(\d+)$/.exec(user);
    if (!ids) fail(new WsError(WsErrorCode.InvalidArgument, `exec: --user "${user}" is not uid:gid`));
    let ring2: number;
    if (opts['pid']) ring2 = Number(opts['pid']);
    else if (opts['workspace']) ring2 = (JSON.parse(readFileSync(join(opts['workspace'], 'state.json'), 'utf8')) as RuntimeState).ring2;
    else fail(new WsError(WsErrorCode.InvalidArgument, 'exec: give --pid or --workspace'));
    if (!Number.isInteger(ring2) || ring2 <= 0) fail(new WsError(WsErrorCode.InvalidArgument, `exec: invalid pid ${String(ring2)}`));
    const signalScope = opts['signals'] as SignalScope;
    process.exit(await execInWorkspace({ ring2, argv: command, cwd: opts['cwd']!, signalScope, uid: Number(ids[1]), gid: Number(ids[2]) }).catch(fail));
  },
};

runProgram({
  name: 'workspacekit',
  description: 'Starts a rootless workspace (ring0) and runs further commands in it (lift, exec).',
  commands: [ring0, liftCommand, execCommand],
  // every command works through the native addon: it is loaded with the program, before the
  // command starts (as the bundle is), not by the command's first namespace call (--help needs none)
  beforeRun: () => void loadNative(),
}).catch(fail);
