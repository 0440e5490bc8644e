import { Command, Option } from 'commander';
import type { DaemonConfigInput } from './config/daemon-config';

/** ws-daemon's command line. Every flag has an environment variable twin for pods. */
export function parseCommandLine(argv: string[]): DaemonConfigInput & { logLevel?: string } {
  const program = new Command('ws-daemon')
    .description(
      'wsrun node daemon (runs as root): the workspace registry, one InWorkspaceService socket per ' +
        'workspace (id maps, proc/sysfs, root filesystem), and the platform gRPC endpoint.',
    )
    .addOption(new Option('--state-dir <dir>', 'state folder: registry, workspaces, sockets, base image').env('WSRUN_STATE_DIR').default('/var/lib/wsrun'))
    .addOption(new Option('--listen <address>', 'platform gRPC endpoint: unix socket path or host:port (default <state-dir>/daemon.sock)').env('WSRUN_LISTEN'))
    .addOption(new Option('--root-uid <uid>', 'host uid/gid that is root inside every workspace').env('WSRUN_ROOT_UID').default('33333'))
    .addOption(new Option('--subuid-start <id>', 'first host id of the subordinate range').env('WSRUN_SUBUID_START').default('100000'))
    .addOption(new Option('--subuid-size <n>', 'size of the subordinate range').env('WSRUN_SUBUID_SIZE').default('65536'))
    .addOption(new Option('--id-map-rate-limit <n>', 'WriteIDMapping calls allowed per workspace per window').env('WSRUN_ID_MAP_RATE_LIMIT').default('4'))
    .addOption(new Option('--id-map-rate-window <duration>', 'window of that limit (e.g. 10s)').env('WSRUN_ID_MAP_RATE_WINDOW').default('10s'))
    .addOption(new Option('--node <name>', 'this node\'s name: its content queues are content-<node> and backup-<node> (default: hostname)').env('WSRUN_NODE'))
    .addOption(new Option('--redis-url <url>', 'external Redis (redis://host:port/db or a socket path); default: a private redis-server in <state-dir>/redis').env('REDIS_URL'))
    .addOption(new Option('--storage <kind>', 'object storage for backups and snapshots').choices(['local', 's3']).env('WSRUN_STORAGE').default('local'))
    .addOption(new Option('--storage-dir <dir>', 'local storage folder (default <state-dir>/storage)').env('WSRUN_STORAGE_DIR'))
    .addOption(new Option('--storage-listen <host:port>', 'local storage: signed-URL HTTP endpoint').env('WSRUN_STORAGE_LISTEN').default('127.0.0.1:0'))
    .addOption(new Option('--storage-secret <secret>', 'local storage: URL signing secret (default: one kept in <state-dir>)').env('WSRUN_STORAGE_SECRET'))
    .addOption(new Option('--storage-bandwidth <bytes-per-second>', 'local storage: cap of each download connection (0 = none)').env('WSRUN_STORAGE_BANDWIDTH').default('0'))
    .addOption(new Option('--s3-endpoint <url>', 'S3-compatible endpoint (path-style)').env('WSRUN_S3_ENDPOINT'))
    .addOption(new Option('--s3-region <region>', 'S3 region').env('WSRUN_S3_REGION'))
    .addOption(new Option('--s3-access-key-id <id>', 'S3 access key id').env('WSRUN_S3_ACCESS_KEY_ID'))
    .addOption(new Option('--s3-secret-access-key <key>', 'S3 secret key (prefer the environment variable)').env('WSRUN_S3_SECRET_ACCESS_KEY'))
    .addOption(new Option('--log-level <level>', 'trace, debug, info, warn or error').env('WSRUN_LOG_LEVEL').default('info'))
    .showHelpAfterError()
    .exitOverride((err) => process.exit(err.exitCode));
  program.parse(argv, { from: 'node' });
  return program.opts();
}
