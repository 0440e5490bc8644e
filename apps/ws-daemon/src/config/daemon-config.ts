import { invalid, parseAbsolutePath, parseDurationMs, parseInteger } from '@wsrun/common';
import { join } from 'node:path';

/** Settings as they arrive from flags or environment variables. */
export interface DaemonConfigInput {
  stateDir?: string;
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
  ) {}

  static from(input: DaemonConfigInput): DaemonConfig {
    const stateDir = parseAbsolutePath('--state-dir', input.stateDir, '/var/lib/wsrun');
    const listen = input.listen ? input.listen : join(stateDir, 'daemon.sock');
    if (!listen.startsWith('/') && !/^[\w.-]+:\d{1,5}$/.test(listen)) {
      throw invalid('--listen', `"${listen}" is neither an absolute socket path nor host:port`);
    }
    const rootUid = parseInteger('--root-uid', input.rootUid, { min: 1, max: 0xfffffffe, default: 33333 });
    const subuidStart = parseInteger('--subuid-start', input.subuidStart, { min: 1, max: 0xfffffffe, default: 100000 });
    const subuidSize = parseInteger('--subuid-size', input.subuidSize, { min: 2, max: 0xfffffffe, default: 65536 });
    if (subuidStart + subuidSize > 0xffffffff) throw invalid('--subuid-size', `the range ${subuidStart}+${subuidSize} passes the largest id`);
    if (rootUid >= subuidStart && rootUid < subuidStart + subuidSize) {
      throw invalid('--root-uid', `${rootUid} lies inside the subordinate range ${subuidStart}..${subuidStart + subuidSize - 1}`);
    }
    const idMapRateLimit = parseInteger('--id-map-rate-limit', input.idMapRateLimit, { min: 1, default: 4 });
    const idMapRateWindowMs = parseDurationMs('--id-map-rate-window', input.idMapRateWindow, 10_000);
    return new DaemonConfig(stateDir, listen, rootUid, subuidStart, subuidSize, idMapRateLimit, idMapRateWindowMs);
  }

  get workspacesDir(): string {
    return join(this.stateDir, 'workspaces');
  }

  get registryFile(): string {
    return join(this.stateDir, 'registry.json');
  }

  get imagesDir(): string {
    return join(this.stateDir, 'images');
  }
}
