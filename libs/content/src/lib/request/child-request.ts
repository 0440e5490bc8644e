import { idMapProblem, type IdMapping } from '@wsrun/native-ns';
import { WsError, WsErrorCode } from '@wsrun/common';
import { initializer } from '@wsrun/proto';
import type { DownloadPolicy, GitPolicy } from '../initializers/initializer-context';
import type { RemoteContent, RemoteObject } from './remote-content';

/**
 * What the sandboxed child is asked to do: fill the workspace folder, or report the git status
 * of its repository. The parent writes it as JSON to an inherited socket (child-protocol.ts:
 * CHILD_FD.request) and never to a file: it holds signed URLs and git passwords. The
 * initializer travels in the proto's JSON form.
 */
interface ChildRequestBase {
  /** the workspace folder inside the sandbox (always SANDBOX_DESTINATION there) */
  destination: string;
  /** the workspace's id mapping (container → host), for archive owners */
  idMapping: IdMapping[];
}

export interface InitializeRequest extends ChildRequestBase {
  operation: 'initialize';
  initializer: initializer.WorkspaceInitializer;
  remoteContent: RemoteContent;
  git?: Partial<GitPolicy>;
  download?: DownloadPolicy;
}

export interface GitStatusRequest extends ChildRequestBase {
  operation: 'git-status';
  /** the repository's folder, relative to the workspace */
  checkoutLocation: string;
}

/** Pack the workspace folder into a tar stream on CHILD_FD.data (backups and snapshots). */
export interface PackRequest extends ChildRequestBase {
  operation: 'pack';
}

export type ChildRequest = InitializeRequest | GitStatusRequest | PackRequest;

/** Largest request accepted (initializers are small; a composite of many downloads stays far below). */
export const MAX_CHILD_REQUEST_BYTES = 4 * 1024 * 1024;

export function encodeChildRequest(request: ChildRequest): Buffer {
  if (request.operation !== 'initialize') return Buffer.from(JSON.stringify(request));
  return Buffer.from(JSON.stringify({ ...request, initializer: initializer.WorkspaceInitializer.toJSON(request.initializer) }));
}

function bad(message: string): WsError {
  return new WsError(WsErrorCode.InvalidArgument, `initializer request: ${message}`);
}

function remoteObject(where: string, raw: unknown): RemoteObject {
  const o = raw as Partial<RemoteObject> | null;
  if (!o || typeof o.url !== 'string' || !/^https?:\/\//.test(o.url)) throw bad(`${where}: url must be an http(s) URL`);
  if (o.sizeBytes !== undefined && (!Number.isSafeInteger(o.sizeBytes) || o.sizeBytes < 0)) throw bad(`${where}: sizeBytes is not a size`);
  if (o.sha256 !== undefined && !/^[0-9a-f]{64}$/i.test(o.sha256)) throw bad(`${where}: sha256 is not 64 hex digits`);
  return { url: o.url, ...(o.sizeBytes !== undefined ? { sizeBytes: o.sizeBytes } : {}), ...(o.sha256 !== undefined ? { sha256: o.sha256 } : {}) };
}

/** Parses and checks a request; throws WsError(INVALID_ARGUMENT) naming what is wrong. */
export function decodeChildRequest(bytes: Buffer): ChildRequest {
  if (bytes.length === 0) throw bad('empty (nothing was written to the request fd)');
  if (bytes.length > MAX_CHILD_REQUEST_BYTES) throw bad(`${bytes.length} bytes is more than ${MAX_CHILD_REQUEST_BYTES}`);
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch (err) {
    throw bad(`not JSON (${(err as Error).message})`);
  }
  if (typeof raw['destination'] !== 'string' || !raw['destination'].startsWith('/')) throw bad('destination must be an absolute path');
  const idMapping = raw['idMapping'] as IdMapping[];
  const problem = Array.isArray(idMapping) ? idMapProblem(idMapping) : 'not a list';
  if (problem) throw bad(`idMapping: ${problem}`);
  if (raw['operation'] === 'git-status') {
    if (typeof raw['checkoutLocation'] !== 'string') throw bad('checkoutLocation must be a string');
    return { operation: 'git-status', destination: raw['destination'], idMapping, checkoutLocation: raw['checkoutLocation'] };
  }
  if (raw['operation'] === 'pack') return { operation: 'pack', destination: raw['destination'], idMapping };
  if (raw['operation'] !== 'initialize') throw bad(`unknown operation ${JSON.stringify(raw['operation'])}`);
  const spec = initializer.WorkspaceInitializer.fromJSON(raw['initializer']);
  if (!spec.spec) throw bad('no initializer');
  const rc = (raw['remoteContent'] ?? {}) as { backup?: unknown; objects?: Record<string, unknown> };
  const remoteContent: RemoteContent = {};
  if (rc.backup !== undefined) remoteContent.backup = remoteObject('remoteContent.backup', rc.backup);
  if (rc.objects !== undefined) {
    remoteContent.objects = {};
    for (const [name, o] of Object.entries(rc.objects)) remoteContent.objects[name] = remoteObject(`remoteContent.objects[${JSON.stringify(name)}]`, o);
  }
  return {
    operation: 'initialize',
    destination: raw['destination'],
    initializer: spec,
    remoteContent,
    idMapping,
    ...(raw['git'] ? { git: raw['git'] as Partial<GitPolicy> } : {}),
    ...(raw['download'] ? { download: raw['download'] as DownloadPolicy } : {}),
  };
}

/** Every password in an initializer tree: blanked out of anything the child reports. */
export function secretsOf(spec: initializer.WorkspaceInitializer): string[] {
  const s = spec.spec;
  if (!s) return [];
  if (s.$case === 'git') return s.value.config?.authPassword ? [s.value.config.authPassword] : [];
  if (s.$case === 'prebuild') return s.value.git.flatMap((g) => (g.config?.authPassword ? [g.config.authPassword] : []));
  if (s.$case === 'composite') return s.value.initializer.flatMap(secretsOf);
  return [];
}
