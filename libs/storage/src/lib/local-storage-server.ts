import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { pipeline } from 'node:stream/promises';
import { WsError, WsErrorCode } from '@wsrun/common';
import { ThrottleStream, TokenBucket } from './bandwidth-throttle';
import { parseHttpRange } from './byte-range';
import type { LocalObjectStorage } from './local-object-storage';
import { formatObjectRef, validateObjectRef, type ObjectRef } from './object-ref';
import { checkLocalSignature, LOCAL_OBJECT_PATH_PREFIX, nowUnixSeconds, validateSigningSecret } from './url-signing';

export interface LocalStorageServerOptions {
  /** the folder to serve */
  storage: LocalObjectStorage;
  /** the HMAC secret the signed URLs were made with (LocalObjectStorageOptions.signing.secret) */
  secret: string | Buffer;
  /** default 127.0.0.1 */
  host?: string;
  /** default 0: any free port (see `url` once listening) */
  port?: number;
  /** caps each connection's GET/HEAD response rate, for benchmarks that model a slower link; default off */
  maxBytesPerSecondPerConnection?: number;
  /** a connection silent for this long is dropped (stalled clients); default 120 s */
  idleTimeoutMs?: number;
  /** called with every request that failed on the server's side (5xx), for the app's logger */
  onError?: (err: unknown, req: { method?: string; url?: string }) => void;
  /**
   * called once the server is done with a request: response sent or connection gone, and what
   * the request left behind (an upload's temp file) cleaned up; for access logs and metrics
   */
  onRequestDone?: (req: { method?: string; url?: string; status: number }) => void;
}

const HEX_SHA256_RE = /^[0-9a-fA-F]{64}$/;
const UNIX_SECONDS_RE = /^\d{1,12}$/;
/** optional request header on PUT: the upload fails unless the body hashes to it */
export const SHA256_HEADER = 'x-wsrun-sha256';

class HttpFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/**
 * The embedded storage endpoint: serves the signed URLs of LocalObjectStorage (format in
 * url-signing.ts) over plain node:http.
 *
 *   GET|HEAD /o/<bucket>/<object>?expires=&sig=   200, or 206 for `Range: bytes=a-b | a- | -n`
 *   PUT      /o/<bucket>/<object>?expires=&sig=   body streamed into put(): temp file + rename
 *
 * Bodies stream from and to disk; nothing buffers a whole object. Errors are a status with a
 * one-line text body: 400 bad name or checksum, 403 bad or expired signature, 404 missing
 * object or bucket, 405 other methods, 416 unsatisfiable range, 500 anything else (details go
 * to `onError`, not to the URL holder).
 */
export class LocalStorageServer {
  private readonly server: http.Server;
  private readonly secret: Buffer;
  private readonly buckets = new WeakMap<Socket, TokenBucket>();
  private boundUrl: string | undefined;

  constructor(private readonly opts: LocalStorageServerOptions) {
    this.secret = validateSigningSecret(opts.secret);
    const rate = opts.maxBytesPerSecondPerConnection;
    if (rate !== undefined && !(Number.isFinite(rate) && rate > 0)) {
      throw new WsError(WsErrorCode.InvalidArgument, `invalid maxBytesPerSecondPerConnection ${rate}: must be a positive number`);
    }
    // no overall request deadline: a multi-GB backup PUT legitimately takes long; the idle
    // timeout catches stalled peers instead
    this.server = http.createServer({ requestTimeout: 0, headersTimeout: 60_000 }, (req, res) => {
      void this.handle(req, res).finally(() => this.opts.onRequestDone?.({ method: req.method, url: req.url, status: res.statusCode }));
    });
    this.server.setTimeout(opts.idleTimeoutMs ?? 120_000);
  }

  /** Starts listening; resolves with the base URL (e.g. `http://127.0.0.1:41234`). */
  listen(): Promise<string> {
    const host = this.opts.host ?? '127.0.0.1';
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => reject(WsError.wrap(`storage server: listening on ${host}:${this.opts.port ?? 0}`, err, WsErrorCode.Unavailable));
      this.server.once('error', onError);
      this.server.listen(this.opts.port ?? 0, host, () => {
        this.server.off('error', onError);
        const addr = this.server.address() as AddressInfo;
        const h = addr.family === 'IPv6' || addr.address.includes(':') ? `[${addr.address}]` : addr.address;
        this.boundUrl = `http://${h}:${addr.port}`;
        resolve(this.boundUrl);
      });
    });
  }

  /** The base URL once listening. */
  get url(): string {
    if (this.boundUrl === undefined) throw new WsError(WsErrorCode.FailedPrecondition, 'storage server: not listening');
    return this.boundUrl;
  }

  /**
   * Stops accepting connections, lets requests in flight finish for up to `graceMs`, then drops
   * whatever is left.
   */
  async close(graceMs = 5000): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const timer = setTimeout(() => this.server.closeAllConnections(), graceMs);
    await closed;
    clearTimeout(timer);
    this.boundUrl = undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const method = req.method ?? '';
      if (method !== 'GET' && method !== 'HEAD' && method !== 'PUT') {
        throw new HttpFailure(405, `method ${method} not allowed`, { Allow: 'GET, HEAD, PUT' });
      }
      const { ref, expires, sig } = parseRequestTarget(req.url ?? '/');
      const check = checkLocalSignature(this.secret, method === 'PUT' ? 'PUT' : 'GET', ref, expires, sig, nowUnixSeconds());
      if (check === 'bad-signature') throw new HttpFailure(403, 'signature does not match');
      if (check === 'expired') throw new HttpFailure(403, 'signed URL expired');
      if (method === 'PUT') await this.servePut(req, res, ref);
      else await this.serveGet(req, res, ref, method === 'HEAD');
    } catch (err) {
      this.fail(req, res, err);
    }
  }

  private async serveGet(req: IncomingMessage, res: ServerResponse, ref: ObjectRef, headOnly: boolean): Promise<void> {
    const opened = await this.opts.storage.open(ref);
    if (opened === null) throw new HttpFailure(404, `object not found: ${formatObjectRef(ref)}`);
    let handleOwned = true;
    try {
      const { size, lastModified } = opened.info;
      const ifRange = req.headers['if-range'];
      // If-Range: a client resuming against a replaced object gets the whole new object
      const rangeHeader = ifRange === undefined || ifRange === opened.etag ? req.headers.range : undefined;
      const range = parseHttpRange(rangeHeader, size);
      res.setHeader('Accept-Ranges', 'bytes');
      res.setHeader('ETag', opened.etag);
      res.setHeader('Last-Modified', lastModified.toUTCString());
      if (range.kind === 'unsatisfiable') {
        throw new HttpFailure(416, `range not satisfiable for ${size} bytes`, { 'Content-Range': `bytes */${size}` });
      }
      const start = range.kind === 'partial' ? range.start : 0;
      const end = range.kind === 'partial' ? range.end : size - 1;
      res.statusCode = range.kind === 'partial' ? 206 : 200;
      if (range.kind === 'partial') res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
      res.setHeader('Content-Type', 'application/octet-stream');
      res.setHeader('Content-Length', String(end - start + 1));
      if (headOnly || size === 0) {
        res.end();
        return;
      }
      handleOwned = false; // the read stream closes it
      // 256 KiB reads: fewer syscalls and event-loop turns than the 64 KiB default on fast links
      const body = opened.handle.createReadStream({ start, end, highWaterMark: 256 * 1024 });
      const rate = this.opts.maxBytesPerSecondPerConnection;
      try {
        if (rate === undefined) await pipeline(body, res);
        else await pipeline(body, new ThrottleStream(this.bucketFor(req.socket, rate)), res);
      } catch {
        // the client went away or the disk failed mid-body: the headers are out, so all we can
        // do is cut the connection (pipeline already destroyed both ends)
      }
    } finally {
      if (handleOwned) await opened.handle.close().catch(() => undefined);
    }
  }

  private async servePut(req: IncomingMessage, res: ServerResponse, ref: ObjectRef): Promise<void> {
    const shaHeader = req.headers[SHA256_HEADER];
    if (shaHeader !== undefined && (typeof shaHeader !== 'string' || !HEX_SHA256_RE.test(shaHeader))) {
      throw new HttpFailure(400, `${SHA256_HEADER} must be 64 hex digits`);
    }
    // checked here so the client gets a 404 instead of a reset connection
    if ((await this.opts.storage.folder.bucketDir(ref.bucket)) === null) throw new HttpFailure(404, `bucket not found: ${ref.bucket}`);
    const contentLength = req.headers['content-length'];
    const result = await this.opts.storage.put(ref, req, {
      expectedSha256: shaHeader,
      expectedSize: contentLength !== undefined ? Number(contentLength) : undefined,
    });
    const body = JSON.stringify(result);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  }

  private bucketFor(socket: Socket, rate: number): TokenBucket {
    let bucket = this.buckets.get(socket);
    if (bucket === undefined) {
      bucket = new TokenBucket(rate);
      this.buckets.set(socket, bucket);
    }
    return bucket;
  }

  private fail(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    const failure = toHttpFailure(err);
    if (failure.status >= 500) this.opts.onError?.(err, { method: req.method, url: req.url?.split('?')[0] });
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    const body = `${failure.message}\n`;
    // the request body may be unread: do not try to reuse this connection
    const unread = !req.complete;
    for (const name of res.getHeaderNames()) res.removeHeader(name);
    res.writeHead(failure.status, {
      ...failure.headers,
      'Content-Type': 'text/plain; charset=utf-8',
      'Content-Length': Buffer.byteLength(body),
      ...(unread ? { Connection: 'close' } : {}),
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }
}

/** Splits `/o/<bucket>/<object>?expires=&sig=` without URL normalization (which would resolve `..`). */
function parseRequestTarget(target: string): { ref: ObjectRef; expires: number; sig: string } {
  const q = target.indexOf('?');
  const rawPath = q < 0 ? target : target.slice(0, q);
  const params = new URLSearchParams(q < 0 ? '' : target.slice(q + 1));
  if (!rawPath.startsWith(LOCAL_OBJECT_PATH_PREFIX)) throw new HttpFailure(404, 'not found');
  let segments: string[];
  try {
    segments = rawPath.slice(LOCAL_OBJECT_PATH_PREFIX.length).split('/').map(decodeURIComponent);
  } catch {
    throw new HttpFailure(400, 'malformed percent-encoding in path');
  }
  const ref = { bucket: segments[0], object: segments.slice(1).join('/') };
  try {
    validateObjectRef(ref);
  } catch (err) {
    throw new HttpFailure(400, (err as Error).message);
  }
  const expires = params.get('expires');
  const sig = params.get('sig');
  if (expires === null || sig === null || !UNIX_SECONDS_RE.test(expires)) throw new HttpFailure(403, 'missing or malformed expires/sig');
  return { ref, expires: Number(expires), sig };
}

function toHttpFailure(err: unknown): HttpFailure {
  if (err instanceof HttpFailure) return err;
  if (err instanceof WsError) {
    switch (err.code) {
      case WsErrorCode.InvalidArgument:
        return new HttpFailure(400, err.message);
      case WsErrorCode.NotFound:
        return new HttpFailure(404, 'not found');
      case WsErrorCode.PermissionDenied:
        return new HttpFailure(403, 'forbidden');
      case WsErrorCode.FailedPrecondition:
      case WsErrorCode.AlreadyExists:
        return new HttpFailure(409, 'the object name conflicts with existing objects');
      case WsErrorCode.ResourceExhausted:
        return new HttpFailure(507, 'insufficient storage');
      case WsErrorCode.Unavailable:
        return new HttpFailure(503, 'unavailable, retry');
      default:
        return new HttpFailure(500, 'internal error');
    }
  }
  return new HttpFailure(500, 'internal error');
}
