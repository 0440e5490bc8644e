import { Command, Option } from 'commander';
import type { InitCommandInput } from './commands/init.command';
import type { ContentInitConfigInput } from './config/content-init-config';
import { addDownloadOptions, type DownloadSettingsInput } from './config/download-settings';
import type { WorkerConfigInput } from './worker/worker-config';

export type ParsedCommand =
  | { command: 'init'; input: InitCommandInput; config: ContentInitConfigInput }
  | { command: 'worker'; config: WorkerConfigInput; logLevel: string }
  | { command: 'run-initializer' };

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** content-init's command line. Flags of `init` have environment variable twins like ws-daemon's. */
export function parseCommandLine(argv: string[]): ParsedCommand {
  let parsed: ParsedCommand | undefined;
  const program = new Command('content-init')
    .description('Fills workspace folders before they start: the sandboxed initializer and its tools.')
    .showHelpAfterError()
    .exitOverride((err) => process.exit(err.exitCode));
  const init = program
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
    .addOption(new Option('--log-level <level>', 'trace, debug, info, warn, error or silent (the sandbox logs JSON on stderr)').env('WSRUN_LOG_LEVEL').default('info'));
  addDownloadOptions(init).action((opts: InitCommandInput & ContentInitConfigInput & DownloadSettingsInput) => {
    parsed = {
      command: 'init',
      input: { dst: opts.dst, initializer: opts.initializer, ...(opts.remote ? { remote: opts.remote } : {}), ...(opts.backup ? { backup: opts.backup } : {}), ...(opts.readOnly ? { readOnly: opts.readOnly } : {}) },
      config: {
        rootUid: opts.rootUid,
        subuidStart: opts.subuidStart,
        subuidSize: opts.subuidSize,
        timeout: opts.timeout,
        logLevel: opts.logLevel,
        ...(opts.downloadConnections !== undefined ? { downloadConnections: opts.downloadConnections } : {}),
        ...(opts.downloadPieceSize !== undefined ? { downloadPieceSize: opts.downloadPieceSize } : {}),
      },
    };
  });
  const worker = program
    .command('worker')
    .description("serve this node's content queues (BullMQ): inits, backups, snapshots and disposals, each in the sandbox")
    .addOption(new Option('--state-dir <dir>', "ws-daemon's state folder: its private Redis socket and local storage are found there").env('WSRUN_STATE_DIR').default('/var/lib/wsrun'))
    .addOption(new Option('--redis-url <url>', 'Redis (redis://host:port/db or a socket path); default: <state-dir>/redis/redis.sock').env('REDIS_URL'))
    .addOption(new Option('--node <name>', "the node whose queues to serve (default: hostname)").env('WSRUN_NODE'))
    .addOption(new Option('--concurrency <n>', 'inits at once').env('WSRUN_WORKER_CONCURRENCY').default('4'))
    .addOption(new Option('--backup-concurrency <n>', 'backups, snapshots and disposals at once').env('WSRUN_BACKUP_CONCURRENCY').default('5'))
    .addOption(new Option('--lock-duration <duration>', "a killed worker's job is taken up again after this").env('WSRUN_LOCK_DURATION').default('30s'))
    .addOption(new Option('--timeout <duration>', 'a sandboxed run is stopped after this long').env('WSRUN_INIT_TIMEOUT').default('1h'))
    .addOption(new Option('--storage <kind>', 'object storage').choices(['local', 's3']).env('WSRUN_STORAGE').default('local'))
    .addOption(new Option('--storage-dir <dir>', 'local storage folder (default <state-dir>/storage)').env('WSRUN_STORAGE_DIR'))
    .addOption(new Option('--s3-endpoint <url>', 'S3-compatible endpoint').env('WSRUN_S3_ENDPOINT'))
    .addOption(new Option('--s3-region <region>', 'S3 region').env('WSRUN_S3_REGION'))
    .addOption(new Option('--s3-access-key-id <id>', 'S3 access key id').env('WSRUN_S3_ACCESS_KEY_ID'))
    .addOption(new Option('--s3-secret-access-key <key>', 'S3 secret key (prefer the environment variable)').env('WSRUN_S3_SECRET_ACCESS_KEY'))
    .addOption(new Option('--log-level <level>', 'trace, debug, info, warn or error').env('WSRUN_LOG_LEVEL').default('info'));
  addDownloadOptions(worker).action((opts: WorkerConfigInput & { logLevel: string }) => {
    const { logLevel, ...config } = opts;
    parsed = { command: 'worker', config, logLevel };
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
