import { Command, Option } from 'commander';
import type { InitCommandInput } from './commands/init.command';
import type { ContentInitConfigInput } from './config/content-init-config';

export type ParsedCommand =
  | { command: 'init'; input: InitCommandInput; config: ContentInitConfigInput }
  | { command: 'run-initializer' };

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** content-init's command line. Flags of `init` have environment variable twins like ws-daemon's. */
export function parseCommandLine(argv: string[]): ParsedCommand {
  let parsed: ParsedCommand | undefined;
  const program = new Command('content-init')
    .description('Fills workspace folders before they start: the sandboxed initializer and its tools.')
    .showHelpAfterError()
    .exitOverride((err) => process.exit(err.exitCode));
  program
    .command('init')
    .description('run an initializer on a folder in the sandbox, as a workspace would get it (progress on stderr, outcome as JSON on stdout)')
    .requiredOption('--dst <dir>', 'the folder to fill (created for the workspace root if missing; emptied first)')
    .requiredOption('--initializer <file>', 'the initializer as proto JSON, e.g. {"git": {"remoteUri": "https://..."}}; "-" reads stdin')
    .option('--remote <object@bucket=url>', 'a signed URL for a snapshot or prebuild the initializer names (repeatable)', collect)
    .option('--backup <url>', "a signed URL of the workspace's latest backup (it wins over the initializer)")
    .option('--read-only <path>', 'a node path made visible read-only in the sandbox, e.g. a local git mirror (repeatable)', collect)
    .addOption(new Option('--timeout <duration>', 'stop the run after this long (e.g. 30m)').env('WSRUN_INIT_TIMEOUT').default('1h'))
    .addOption(new Option('--root-uid <uid>', 'host uid/gid that is root inside the workspace').env('WSRUN_ROOT_UID').default('33333'))
    .addOption(new Option('--subuid-start <id>', 'first host id of the subordinate range').env('WSRUN_SUBUID_START').default('100000'))
    .addOption(new Option('--subuid-size <n>', 'size of the subordinate range').env('WSRUN_SUBUID_SIZE').default('65536'))
    .addOption(new Option('--log-level <level>', 'trace, debug, info, warn, error or silent (the sandbox logs JSON on stderr)').env('WSRUN_LOG_LEVEL').default('info'))
    .action((opts: InitCommandInput & ContentInitConfigInput) => {
      parsed = {
        command: 'init',
        input: { dst: opts.dst, initializer: opts.initializer, ...(opts.remote ? { remote: opts.remote } : {}), ...(opts.backup ? { backup: opts.backup } : {}), ...(opts.readOnly ? { readOnly: opts.readOnly } : {}) },
        config: { rootUid: opts.rootUid, subuidStart: opts.subuidStart, subuidSize: opts.subuidSize, timeout: opts.timeout, logLevel: opts.logLevel },
      };
    });
  program
    .command('run-initializer')
    .description('the sandboxed child: reads its request from fd 5, fills /dst (started by content-init itself, not by hand)')
    .action(() => {
      parsed = { command: 'run-initializer' };
    });
  program.parse(argv, { from: 'node' });
  // no subcommand: the help, and exit 1
  return parsed ?? program.help({ error: true });
}
