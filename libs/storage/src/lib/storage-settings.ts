import { createHash } from 'node:crypto';
import { invalid } from '@wsrun/common';
import { LocalObjectStorage } from './local-object-storage';
import type { ObjectStorage } from './object-storage';
import { S3ObjectStorage } from './s3-object-storage';

/**
 * Which storage a process uses, as one value both ws-daemon and content-init's worker build from
 * their flags: the local folder (the embedded default) or an S3-compatible service.
 */
export type StorageSettings =
  | { kind: 'local'; dir: string; signing?: { baseUrl: string; secret: string | Buffer } }
  | { kind: 's3'; endpoint: string; region: string; accessKeyId: string; secretAccessKey: string; publicEndpoint?: string };

export interface StorageSettingsInput {
  storage?: string;
  storageDir?: string;
  s3Endpoint?: string;
  s3Region?: string;
  s3AccessKeyId?: string;
  s3SecretAccessKey?: string;
  s3PublicEndpoint?: string;
}

/** Validates storage flags (names in messages are the flags'). `defaultDir` is used for local. */
export function parseStorageSettings(input: StorageSettingsInput, defaultDir: string): StorageSettings {
  const kind = input.storage ?? 'local';
  if (kind === 'local') {
    const dir = input.storageDir ?? defaultDir;
    if (!dir.startsWith('/')) throw invalid('--storage-dir', `"${dir}" is not an absolute path`);
    return { kind: 'local', dir };
  }
  if (kind !== 's3') throw invalid('--storage', `"${kind}" is not one of local, s3`);
  const need = (flag: string, v: string | undefined) => {
    if (!v) throw invalid(flag, 'required with --storage s3');
    return v;
  };
  const endpoint = need('--s3-endpoint', input.s3Endpoint);
  if (!/^https?:\/\//.test(endpoint)) throw invalid('--s3-endpoint', `"${endpoint}" is not an http(s) URL`);
  return {
    kind: 's3',
    endpoint,
    region: input.s3Region ?? 'us-east-1',
    accessKeyId: need('--s3-access-key-id', input.s3AccessKeyId),
    secretAccessKey: need('--s3-secret-access-key', input.s3SecretAccessKey),
    ...(input.s3PublicEndpoint ? { publicEndpoint: input.s3PublicEndpoint } : {}),
  };
}

export function createObjectStorage(settings: StorageSettings): ObjectStorage {
  if (settings.kind === 'local') return new LocalObjectStorage({ root: settings.dir, ...(settings.signing ? { signing: settings.signing } : {}) });
  return new S3ObjectStorage({
    endpoint: settings.endpoint,
    region: settings.region,
    credentials: { accessKeyId: settings.accessKeyId, secretAccessKey: settings.secretAccessKey },
    ...(settings.publicEndpoint ? { publicEndpoint: settings.publicEndpoint } : {}),
  });
}

/** Backups live in the owner's bucket; owner ids become valid bucket names. */
export function ownerBucket(owner: string): string {
  const clean = owner.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '');
  if (clean.length >= 1 && clean.length <= 40 && clean === owner) return `u-${clean}`;
  // anything else gets a stable hash suffix, so distinct owners never share a bucket
  const hash = createHash('sha256').update(owner).digest('hex').slice(0, 12);
  return `u-${clean.slice(0, 40) || 'owner'}-${hash}`.replace(/-+/g, '-');
}

export const workspaceObjects = {
  backup: (workspaceId: string) => `workspaces/${workspaceId}/full.tar`,
  snapshot: (workspaceId: string, stamp: string) => `workspaces/${workspaceId}/snapshot-${stamp}.tar`,
};
