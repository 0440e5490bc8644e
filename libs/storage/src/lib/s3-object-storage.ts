import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  UploadPartCopyCommand,
  type BucketLocationConstraint,
  type CompletedPart,
  type HeadObjectCommandOutput,
} from '@aws-sdk/client-s3';
import { WsError, WsErrorCode } from '@wsrun/common';
import { validateByteRange } from './byte-range';
import { formatObjectRef, validateBucketName, validateListPrefix, validateObjectRef, type ObjectRef } from './object-ref';
import type { ByteRange, ObjectInfo, ObjectStorage, PutOptions, PutResult } from './object-storage';
import { encodeS3Key, presignSigV4, type SigV4Credentials } from './sigv4-presign';
import { toBuffer, UploadDigest, validatePutOptions } from './upload-digest';
import { validateTtlSeconds } from './url-signing';

export interface S3ObjectStorageOptions {
  /** e.g. `https://s3.eu-central-1.amazonaws.com` or `http://minio:9000`; path-style addressing is always used */
  endpoint: string;
  /** default us-east-1 */
  region?: string;
  credentials: SigV4Credentials;
  /** the endpoint put into signed URLs when clients reach the store under another name; default `endpoint` */
  publicEndpoint?: string;
  /** multipart part size; default 8 MiB, at least 5 MiB (S3's minimum) */
  partSizeBytes?: number;
  /** objects larger than this are copied part by part (CopyObject's limit is 5 GiB); default 5 GiB */
  multipartCopyThresholdBytes?: number;
}

export const DEFAULT_PART_SIZE_BYTES = 8 * 1024 * 1024;
export const MIN_PART_SIZE_BYTES = 5 * 1024 * 1024;
const MAX_COPY_OBJECT_BYTES = 5 * 1024 * 1024 * 1024;
const COPY_PART_BYTES = 512 * 1024 * 1024;
const MAX_PARTS = 10_000;
/** user metadata key holding the hex sha256 of the object (`x-amz-meta-sha256`) */
const SHA256_METADATA_KEY = 'sha256';

/**
 * The scale-out backend: any S3-compatible store (S3, MinIO, GCS interop).
 *
 * put streams: the body is cut into parts and only one part is filled while at most one other
 * uploads, so memory stays at two parts whatever the object size. An object that fits in one
 * part is sent with a single PutObject once its size and sha256 are checked; a larger one is a
 * multipart upload completed only after the whole stream was checked, and aborted otherwise.
 * Either way S3 makes the object visible atomically, so a failed put leaves the previous object.
 *
 * sha256 is stored as user metadata: always for single-part uploads, and for multipart uploads
 * when the caller gave expectedSha256 (the metadata is set when the upload starts, and the
 * upload completes only if the bytes match it).
 */
export class S3ObjectStorage implements ObjectStorage {
  readonly client: S3Client;
  private readonly region: string;
  private readonly credentials: SigV4Credentials;
  private readonly publicEndpoint: string;
  private readonly partSize: number;
  private readonly multipartCopyThreshold: number;

  constructor(opts: S3ObjectStorageOptions) {
    const endpoint = validateEndpoint('S3 endpoint', opts.endpoint);
    this.publicEndpoint = validateEndpoint('S3 public endpoint', opts.publicEndpoint ?? opts.endpoint);
    this.region = opts.region ?? 'us-east-1';
    if (!opts.credentials?.accessKeyId || !opts.credentials?.secretAccessKey) {
      throw new WsError(WsErrorCode.InvalidArgument, 'invalid S3 credentials: accessKeyId and secretAccessKey are required');
    }
    this.credentials = { ...opts.credentials };
    this.partSize = opts.partSizeBytes ?? DEFAULT_PART_SIZE_BYTES;
    if (!Number.isSafeInteger(this.partSize) || this.partSize < MIN_PART_SIZE_BYTES) {
      throw new WsError(WsErrorCode.InvalidArgument, `invalid S3 part size ${opts.partSizeBytes}: must be an integer >= ${MIN_PART_SIZE_BYTES}`);
    }
    this.multipartCopyThreshold = Math.min(opts.multipartCopyThresholdBytes ?? MAX_COPY_OBJECT_BYTES, MAX_COPY_OBJECT_BYTES);
    this.client = new S3Client({
      endpoint,
      region: this.region,
      forcePathStyle: true,
      credentials: this.credentials,
      // the SDK's default CRC32 trailers are not understood by every S3-compatible store
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  async get(ref: ObjectRef, range?: ByteRange): Promise<Readable> {
    const what = `reading object ${formatObjectRef(ref)}`;
    if (range !== undefined) validateByteRange(range);
    try {
      const out = await this.client.send(
        new GetObjectCommand({
          Bucket: ref.bucket,
          Key: ref.object,
          Range: range === undefined ? undefined : `bytes=${range.start}-${range.end ?? ''}`,
        }),
      );
      if (!(out.Body instanceof Readable)) throw new WsError(WsErrorCode.Internal, `${what}: the S3 client returned no stream`);
      return out.Body;
    } catch (err) {
      throw s3Error(what, err);
    }
  }

  async put(ref: ObjectRef, body: Readable, opts?: PutOptions): Promise<PutResult> {
    validateObjectRef(ref);
    const what = `storing object ${formatObjectRef(ref)}`;
    const expected = validatePutOptions(opts);
    const digest = new UploadDigest(what, expected);
    const upload = new MultipartUpload(this.client, ref, what, expected.expectedSha256);
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    const takePending = () => {
      const buf = Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      return buf;
    };
    try {
      try {
        for await (const chunk of body) {
          let buf = toBuffer(chunk);
          digest.update(buf);
          while (buf.length > 0) {
            // a full part goes out only once more bytes follow: an object of exactly one part
            // stays a single PutObject
            if (pendingBytes === this.partSize) await upload.addPart(takePending());
            const take = Math.min(buf.length, this.partSize - pendingBytes);
            pending.push(buf.subarray(0, take));
            pendingBytes += take;
            buf = buf.subarray(take);
          }
        }
      } catch (err) {
        if (err instanceof WsError) throw err;
        throw WsError.wrap(`${what}: reading the upload stream`, err);
      }
      if (!upload.started) {
        // the whole object fit in one part: check it, then one atomic PutObject
        const data = takePending();
        const result = digest.finish();
        await this.call(
          what,
          this.client.send(
            new PutObjectCommand({
            Bucket: ref.bucket,
            Key: ref.object,
            Body: data,
            ContentLength: data.length,
            ContentType: 'application/octet-stream',
              Metadata: { [SHA256_METADATA_KEY]: result.sha256 },
            }),
          ),
        );
        return result;
      }
      if (pendingBytes > 0) await upload.addPart(takePending());
      await upload.drain();
      const result = digest.finish();
      await upload.complete();
      return result;
    } catch (err) {
      await upload.abort();
      throw err;
    }
  }

  async stat(ref: ObjectRef): Promise<ObjectInfo | null> {
    validateObjectRef(ref);
    const head = await this.head(ref, `stat of object ${formatObjectRef(ref)}`);
    if (head === null) return null;
    return {
      bucket: ref.bucket,
      object: ref.object,
      size: head.ContentLength ?? 0,
      sha256: head.Metadata?.[SHA256_METADATA_KEY] || undefined,
      lastModified: head.LastModified ?? new Date(0),
    };
  }

  async delete(ref: ObjectRef): Promise<void> {
    validateObjectRef(ref);
    const what = `deleting object ${formatObjectRef(ref)}`;
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: ref.bucket, Key: ref.object }));
    } catch (err) {
      const mapped = s3Error(what, err);
      // nothing to delete, whether the object or its whole bucket is missing
      if (mapped.code !== WsErrorCode.NotFound) throw mapped;
    }
  }

  /** CopyObject (server-side, atomic for readers of `to`); part by part above the threshold. */
  async copy(from: ObjectRef, to: ObjectRef): Promise<void> {
    validateObjectRef(from);
    validateObjectRef(to);
    const what = `copying object ${formatObjectRef(from)} to ${formatObjectRef(to)}`;
    const head = await this.head(from, what);
    if (head === null) throw new WsError(WsErrorCode.NotFound, `${what}: source object not found`);
    // S3 refuses copying an object onto itself without changing it; it already is what we want
    if (from.bucket === to.bucket && from.object === to.object) return;
    const copySource = `${from.bucket}/${encodeS3Key(from.object)}`;
    const size = head.ContentLength ?? 0;
    if (size <= this.multipartCopyThreshold) {
      await this.call(what, this.client.send(new CopyObjectCommand({ Bucket: to.bucket, Key: to.object, CopySource: copySource, MetadataDirective: 'COPY' })));
      return;
    }
    const upload = new MultipartUpload(this.client, to, what, head.Metadata?.[SHA256_METADATA_KEY] || undefined);
    const partSize = Math.max(COPY_PART_BYTES, Math.ceil(size / MAX_PARTS));
    try {
      for (let start = 0; start < size; start += partSize) {
        const end = Math.min(start + partSize, size) - 1;
        await upload.addCopyPart(copySource, start, end);
      }
      await upload.drain();
      await upload.complete();
    } catch (err) {
      await upload.abort();
      throw err;
    }
  }

  async list(bucket: string, prefix: string): Promise<ObjectInfo[]> {
    validateBucketName(bucket);
    validateListPrefix(prefix);
    const what = `listing bucket ${bucket}`;
    const out: ObjectInfo[] = [];
    let token: string | undefined;
    do {
      const page = await this.call(what, this.client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix || undefined, ContinuationToken: token })));
      for (const item of page.Contents ?? []) {
        if (item.Key === undefined) continue;
        out.push({ bucket, object: item.Key, size: item.Size ?? 0, lastModified: item.LastModified ?? new Date(0) });
      }
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out.sort((a, b) => Buffer.compare(Buffer.from(a.object), Buffer.from(b.object)));
  }

  async ensureBucket(bucket: string): Promise<void> {
    validateBucketName(bucket);
    const what = `creating bucket ${bucket}`;
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: bucket }));
      return;
    } catch (err) {
      const mapped = s3Error(what, err);
      if (mapped.code !== WsErrorCode.NotFound) throw mapped;
    }
    try {
      await this.client.send(
        new CreateBucketCommand({
          Bucket: bucket,
          CreateBucketConfiguration: this.region === 'us-east-1' ? undefined : { LocationConstraint: this.region as BucketLocationConstraint },
        }),
      );
    } catch (err) {
      // created concurrently by someone else (us, or another node with the same credentials)
      if (errorName(err) === 'BucketAlreadyOwnedByYou') return;
      throw s3Error(what, err);
    }
  }

  async signedDownloadUrl(ref: ObjectRef, ttlSeconds: number): Promise<string> {
    return this.presign('GET', ref, ttlSeconds);
  }

  async signedUploadUrl(ref: ObjectRef, ttlSeconds: number): Promise<string> {
    return this.presign('PUT', ref, ttlSeconds);
  }

  /** Releases the client's sockets. */
  close(): void {
    this.client.destroy();
  }

  private presign(method: 'GET' | 'PUT', ref: ObjectRef, ttlSeconds: number): string {
    validateObjectRef(ref);
    validateTtlSeconds(ttlSeconds);
    return presignSigV4({
      method,
      url: `${this.publicEndpoint}/${ref.bucket}/${encodeS3Key(ref.object)}`,
      region: this.region,
      service: 's3',
      credentials: this.credentials,
      expiresInSeconds: ttlSeconds,
    });
  }

  private async head(ref: ObjectRef, what: string): Promise<HeadObjectCommandOutput | null> {
    try {
      return await this.client.send(new HeadObjectCommand({ Bucket: ref.bucket, Key: ref.object }));
    } catch (err) {
      const mapped = s3Error(what, err);
      if (mapped.code === WsErrorCode.NotFound && errorName(err) !== 'NoSuchBucket') return null;
      throw mapped;
    }
  }

  private async call<T>(what: string, request: Promise<T>): Promise<T> {
    try {
      return await request;
    } catch (err) {
      throw s3Error(what, err);
    }
  }
}

/**
 * One multipart upload: started lazily by the first part, at most one part in flight while the
 * caller fills the next, completed or aborted exactly once.
 */
class MultipartUpload {
  private uploadId: string | undefined;
  private readonly parts: CompletedPart[] = [];
  private inflight: Promise<void> | undefined;
  private nextPart = 1;

  constructor(
    private readonly client: S3Client,
    private readonly ref: ObjectRef,
    private readonly what: string,
    private readonly sha256: string | undefined,
  ) {}

  get started(): boolean {
    return this.uploadId !== undefined;
  }

  /** Waits for the previous part, then starts uploading this one. */
  async addPart(data: Buffer): Promise<void> {
    const uploadId = await this.begin();
    await this.drain();
    const partNumber = this.nextPart++;
    this.track(
      this.call(`uploading part ${partNumber}`, async () => {
        const out = await this.client.send(
          new UploadPartCommand({ Bucket: this.ref.bucket, Key: this.ref.object, UploadId: uploadId, PartNumber: partNumber, Body: data, ContentLength: data.length }),
        );
        this.parts.push({ PartNumber: partNumber, ETag: out.ETag });
      }),
    );
  }

  /** Waits for the previous part, then starts a server-side copy of bytes [start, end] of `copySource`. */
  async addCopyPart(copySource: string, start: number, end: number): Promise<void> {
    const uploadId = await this.begin();
    await this.drain();
    const partNumber = this.nextPart++;
    this.track(
      this.call(`copying part ${partNumber}`, async () => {
        const out = await this.client.send(
          new UploadPartCopyCommand({
            Bucket: this.ref.bucket,
            Key: this.ref.object,
            UploadId: uploadId,
            PartNumber: partNumber,
            CopySource: copySource,
            CopySourceRange: `bytes=${start}-${end}`,
          }),
        );
        this.parts.push({ PartNumber: partNumber, ETag: out.CopyPartResult?.ETag });
      }),
    );
  }

  /** Resolves when no part is in flight; rejects with the first part failure. */
  async drain(): Promise<void> {
    const inflight = this.inflight;
    this.inflight = undefined;
    await inflight;
  }

  /** Makes the object visible under its name. */
  async complete(): Promise<void> {
    const uploadId = this.uploadId;
    if (uploadId === undefined) throw new WsError(WsErrorCode.Internal, `${this.what}: completing a multipart upload that never started`);
    await this.call('completing the multipart upload', () =>
      this.client.send(
        new CompleteMultipartUploadCommand({
          Bucket: this.ref.bucket,
          Key: this.ref.object,
          UploadId: uploadId,
          MultipartUpload: { Parts: [...this.parts].sort((a, b) => (a.PartNumber ?? 0) - (b.PartNumber ?? 0)) },
        }),
      ),
    );
    this.uploadId = undefined;
  }

  /**
   * Best effort: waits for the part in flight, then discards the upload's parts. Failure is
   * swallowed because the caller is already failing with the real error, and stores without
   * AbortMultipartUpload (s3rver) or a transient error leave only invisible parts that a bucket
   * lifecycle rule for incomplete uploads removes.
   */
  async abort(): Promise<void> {
    await this.drain().catch(() => undefined);
    const uploadId = this.uploadId;
    if (uploadId === undefined) return;
    this.uploadId = undefined;
    await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.ref.bucket, Key: this.ref.object, UploadId: uploadId })).catch(() => undefined);
  }

  private async begin(): Promise<string> {
    if (this.uploadId !== undefined) return this.uploadId;
    const out = await this.call('starting a multipart upload', () =>
      this.client.send(
        new CreateMultipartUploadCommand({
          Bucket: this.ref.bucket,
          Key: this.ref.object,
          ContentType: 'application/octet-stream',
          Metadata: this.sha256 ? { [SHA256_METADATA_KEY]: this.sha256 } : undefined,
        }),
      ),
    );
    if (!out.UploadId) throw new WsError(WsErrorCode.Internal, `${this.what}: the store returned no upload id`);
    this.uploadId = out.UploadId;
    return out.UploadId;
  }

  private track(p: Promise<void>): void {
    // observed here so a failure while the caller is still reading is not an unhandled
    // rejection; drain() rethrows it
    p.catch(() => undefined);
    this.inflight = p;
  }

  private async call<T>(step: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw s3Error(`${this.what}: ${step}`, err);
    }
  }
}

function validateEndpoint(setting: string, raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new WsError(WsErrorCode.InvalidArgument, `invalid ${setting} ${JSON.stringify(raw)}: not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new WsError(WsErrorCode.InvalidArgument, `invalid ${setting} ${JSON.stringify(raw)}: must be http or https`);
  }
  return raw.replace(/\/+$/, '');
}

function errorName(err: unknown): string | undefined {
  const name = (err as { name?: unknown; Code?: unknown } | null)?.name;
  return typeof name === 'string' ? name : undefined;
}

const NETWORK_ERRNO_RE = /\b(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|EPIPE)\b/;

/** Maps an S3 client error to a WsError with context; a WsError keeps its code. */
export function s3Error(context: string, err: unknown): WsError {
  if (err instanceof WsError) return WsError.wrap(context, err);
  const name = errorName(err) ?? '';
  const status = (err as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode;
  // the SDK wraps socket errors in an Error whose only trace of the errno is its message
  const message = (err instanceof Error ? err.message : String(err)).replace(/^AWS SDK error wrapper for /, '');
  const errno = (err as { code?: unknown } | null)?.code;
  let code = WsErrorCode.Internal;
  if (['NoSuchKey', 'NotFound', 'NoSuchBucket', 'NoSuchUpload'].includes(name) || status === 404) code = WsErrorCode.NotFound;
  else if (['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'Forbidden'].includes(name) || status === 403) code = WsErrorCode.PermissionDenied;
  else if (name === 'InvalidRange' || status === 416) code = WsErrorCode.InvalidArgument;
  else if (['SlowDown', 'ServiceUnavailable', 'RequestTimeout'].includes(name) || status === 503) code = WsErrorCode.Unavailable;
  else if ((typeof errno === 'string' && NETWORK_ERRNO_RE.test(errno)) || NETWORK_ERRNO_RE.test(message)) code = WsErrorCode.Unavailable;
  const detail = name && name !== 'Error' && !message.includes(name) ? ` (${name})` : '';
  return new WsError(code, `${context}: ${message}${detail}`, { cause: err });
}
