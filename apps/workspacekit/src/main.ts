import { createLogger, WsError, WsErrorCode } from '@wsrun/common';
import { loadNative } from '@wsrun/native-ns';
import { Command, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KitConfig } from './config/kit-config';
import { execInWorkspace, type SignalScope } from './exec/exec-command';
import { lift } from './lift/lift-client';
import { Ring0, type RuntimeState } from './ring0/ring0';

/** Environment of the command inside: ring0's own, minus workspacekit's settings. */
function commandEnv(): Record<string, string> {
  return Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined && !e[0].startsWith('WORKSPACEKIT_')));
}

function fail(err: unknown): never {
  process.stderr.write(`workspacekit: ${err instanceof WsError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(err instanceof WsError ? 2 : 1);
}

const program = new Command('workspacekit')
  .description('Starts a rootless workspace (ring0) and runs further commands in it (lift, exec).')
  .showHelpAfterError()
  .enablePositionalOptions()
  // every command works through the native addon: it is loaded with the program, before the
  // command starts (as the bundle is), not by the command's first namespace call (--help needs none)
  .hook('preAction', () => void loadNative());

program
  .command('ring0')
  .description('start the workspace: rings 1 and 2 in new namespaces on the root the daemon prepares; runs until the command ends')
  .argument('[command...]', 'command run inside (default: $WORKSPACEKIT_SUPERVISOR, else $SHELL, else /bin/bash)')
  .addOption(new Option('--daemon-socket <path>', 'the daemon\'s socket for this workspace').env('WORKSPACEKIT_DAEMON_SOCKET').default('/.workspace/daemon.sock'))
  .addOption(new Option('--connect-timeout <duration>', 'how long to wait for the daemon').env('WORKSPACEKIT_CONNECT_TIMEOUT').default('30s'))
  .addOption(new Option('--grace <duration>', 'on SIGTERM, time the inside gets before SIGKILL').env('WORKSPACEKIT_GRACE').default('20s'))
  .addOption(new Option('--runtime-dir <dir>', 'ring0\'s folder: root mount point, lift socket, state').env('WORKSPACEKIT_RUNTIME_DIR').default('/tmp/workspacekit'))
  .addOption(new Option('--hostname <name>', 'hostname inside').env('WORKSPACEKIT_HOSTNAME').default('workspace'))
  .addOption(new Option('--supervisor <path>', 'command run inside when none is given').env('WORKSPACEKIT_SUPERVISOR'))
  .addHelpText(
    'after',
    '\nExit status, as docker run: the command\'s (128+n when it died of signal n); 127 when it does\nnot exist, 126 when it cannot be run, 125 when a ring failed to set up; 69 when the daemon did\nnot answer; 1 for any other failure.',
  )
  .passThroughOptions()
  .action(async (command: string[], opts: Record<string, string>) => {
    const config = KitConfig.from({ ...opts, command });
    const log = createLogger('workspacekit');
    const code = await new Ring0(config, log).run(commandEnv());
    process.exit(code);
  });

program
  .command('lift')
  .description('run a command in ring1\'s context (root in the workspace\'s user namespace, outside ring2\'s mounts)')
  .argument('<command...>', 'the command and its arguments')
  .addOption(new Option('--socket <path>', 'ring0\'s lift socket').env('WORKSPACEKIT_LIFT_SOCKET').default('/.workspace/lift.sock'))
  .passThroughOptions()
  .action(async (command: string[], opts: { socket: string }) => {
    process.exit(await lift(opts.socket, command).catch(fail));
  });

program
  .command('exec')
  .description('run a command inside a running workspace (its user, mount and pid namespaces and root), like docker exec')
  .argument('<command...>', 'the command and its arguments')
  .addOption(new Option('--pid <pid>', 'the workspace\'s ring2 pid (as this process sees it)'))
  .addOption(new Option('--workspace <runtime-dir>', 'the runtime folder of a running ring0 (its state.json names ring2)'))
  .addOption(new Option('--signals <scope>', 'where received signals go').choices(['process', 'group', 'workspace']).default('process'))
  .addOption(new Option('--cwd <dir>', 'working directory inside').default('/'))
  .addOption(new Option('--user <uid:gid>', 'ids inside the workspace').default('0:0'))
  .passThroughOptions()
  .action(async (command: string[], opts: { pid?: string; workspace?: string; signals: SignalScope; cwd: string; user: string }) => {
    const ids = /^(\d+):(\d+)$/.exec(opts.user);
    if (!ids) fail(new WsError(WsErrorCode.InvalidArgument, `exec: --user "${opts.user}" is not uid:gid`));
    let ring2: number;
    if (opts.pid) ring2 = Number(opts.pid);
    else if (opts.workspace) ring2 = (JSON.parse(readFileSync(join(opts.workspace, 'state.json'), 'utf8')) as RuntimeState).ring2;
    else fail(new WsError(WsErrorCode.InvalidArgument, 'exec: give --pid or --workspace'));
    if (!Number.isInteger(ring2) || ring2 <= 0) fail(new WsError(WsErrorCode.InvalidArgument, `exec: invalid pid ${String(ring2)}`));
    process.exit(await execInWorkspace({ ring2, argv: command, cwd: opts.cwd, signalScope: opts.signals, uid: Number(ids[1]), gid: Number(ids[2]) }).catch(fail));
  });

program.parseAsync(process.argv).catch(fail);
