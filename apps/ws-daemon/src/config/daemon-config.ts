import { invalid, parseAbsolutePath, parseDurationMs, parseInteger, parseWorkspaceIdRange } from '@wsrun/common';
import { parseStorageSettings, type StorageSettings, type StorageSettingsInput } from '@wsrun/storage';
import { hostname } from 'node:os';
import { join } from 'node:path';

/** Settings as they arrive from flags or environment variables. */
export interface DaemonConfigInput extends StorageSettingsInput {
  stateDir?: string;
  node?: string;
  redisUrl?: string;
  storageListen?: string;
  storageSecret?: string;
  storageBandwidth?: string;
  listen?: string;
  rootUid?: string;
  subuidStart?: string;
  subuidSize?: string;
  idMapRateLimit?: string;
  idMapRateWindow?: string;
}

/**
 * The node's configuration for ws-daemon, validated once at boot. The id ranges are checked so
 * that no workspace mapping can ever reach host root (0), and the workspace's root uid never lies
 * inside the subordinate range it maps the other ids to.
 */
export class DaemonConfig {
  constructor(
    /** where the registry, the workspaces' folders and sockets, and the base image live */
    readonly stateDir: string,
    /** the platform's gRPC endpoint: an absolute unix socket path, or host:port */
    readonly listen: string,
    /** host uid and gid that are root inside every workspace */
    readonly rootUid: number,
    /** first host id of the subordinate range that container ids 1.. map into */
    readonly subuidStart: number,
    readonly subuidSize: number,
    /** at most this many WriteIDMapping calls per workspace ... */
    readonly idMapRateLimit: number,
    /** ... within this window */
    readonly idMapRateWindowMs: number,
    /** this node's name: its content queues are content-<node> and backup-<node> */
    readonly node: string,
    /** an external Redis; undefined = a private redis-server on a socket in the state dir */
    readonly redisUrl: string | undefined,
    readonly storage: StorageSettings,
    /** local storage: where its signed-URL HTTP endpoint listens (host:port, port 0 = any) */
    readonly storageListen: { host: string; port: number },
    /** local storage: the URL-signing secret (a secret: never logged); undefined = one kept in the state dir */
    readonly storageSecret: string | undefined,
    /** local storage: cap of each download connection in bytes/s (0 = none), to spare the node's disk and network */
    readonly storageBandwidth: number,
  ) {}

  static from(input: DaemonConfigInput): DaemonConfig {
    const stateDir = parseAbsolutePath('--state-dir', input.stateDir, '/var/lib/wsrun');
    const listen = input.listen ? input.listen : join(stateDir, 'daemon.sock');
    if (!listen.startsWith('/') && !/^[\w.-]+:\d{1,5}$/.test(listen)) {
      throw invalid('--listen', `"${listen}" is neither an absolute socket path nor host:port`);
    }
    const { rootUid, subuidStart, subuidSize } = parseWorkspaceIdRange(input);
    const idMapRateLimit = parseInteger('--id-map-rate-limit', input.idMapRateLimit, { min: 1, default: 4 });
    const idMapRateWindowMs = parseDurationMs('--id-map-rate-window', input.idMapRateWindow, 10_000);
    const node = input.node ?? hostname();
    if (!/^[a-z0-9][a-z0-9.-]{0,62}$/i.test(node)) throw invalid('--node', `"${node}" is not a valid node name`);
    const storage = parseStorageSettings(input, join(stateDir, 'storage'));
    const listenMatch = /^([\w.-]+):(\d{1,5})$/.exec(input.storageListen ?? '127.0.0.1:0');
    if (!listenMatch) throw invalid('--storage-listen', `"${input.storageListen}" is not host:port`);
    const storageListen = { host: listenMatch[1]!, port: parseInteger('--storage-listen', listenMatch[2], { min: 0, max: 65535 }) };
    if (input.storageSecret !== undefined && input.storageSecret.length < 16) throw invalid('--storage-secret', 'at least 16 characters');
    const storageBandwidth = parseInteger('--storage-bandwidth', input.storageBandwidth, { min: 0, default: 0 });
    return new DaemonConfig(stateDir, listen, rootUid, subuidStart, subuidSize, idMapRateLimit, idMapRateWindowMs, node, input.redisUrl || undefined, storage, storageListen, input.storageSecret, storageBandwidth);
  }

  get workspacesDir(): string {
    return join(this.stateDir, 'workspaces');
  }

  get registryFile(): string {
    return join(this.stateDir, 'registry.json');
  }

  /** what the registry keeps for this boot only (see RegistryRepository) */
  get runtimeFile(): string {
    return join(this.stateDir, 'runtime.json');
  }

  /** runtime changes since runtime.json was written, one line each (see RegistryRepository) */
  get runtimeJournalFile(): string {
    return join(this.stateDir, 'runtime.log');
  }

  get redisDir(): string {
    return join(this.stateDir, 'redis');
  }

  get imagesDir(): string {
    return join(this.stateDir, 'images');
  }
}
