import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** What to do to requests for one range start: reset mid-body, stall, lie about the range, or answer a status. */
export interface Fault {
  /** First byte of the requested range the fault applies to. */
  start: number;
  /** Which request for that start (1-based), or every one; default 1. */
  nth?: number | 'all';
  /** reset: headers and half the body, then socket.destroy(); stall: headers, then nothing. */
  kind: 'reset' | 'stall' | 'wrong-range' | number;
}

export interface RangeServerOptions {
  body: Buffer;
  /** Serve Range requests (206); false answers 200 with the whole body. Default true. */
  ranges?: boolean;
  /** Answer 200 (whole new version) when If-Range does not match; false ignores If-Range. Default true. */
  honorIfRange?: boolean;
  /** Answer every request with this status and no body. */
  status?: number;
  faults?: Fault[];
  /** Wait this long before answering each request. */
  delayMs?: number;
  /** Per-connection bandwidth cap. */
  bytesPerSecond?: number;
  /** From request number afterRequests + 1 on, serve this body as a new version (new ETag). */
  change?: { afterRequests: number; body: Buffer };
  /** Called for each request as it arrives, before the answer. */
  onRequest?: (entry: RequestLogEntry) => void;
}

export interface RequestLogEntry {
  seq: number;
  /** Requested range; undefined without a Range header. */
  start?: number;
  end?: number;
  ifRange?: string;
  status?: number;
}

interface Version {
  body: Buffer;
  etag: string;
  lastModified: string;
}

const SLICE = 16 * 1024;

/** A real HTTP server on 127.0.0.1 that serves one buffer with Range support and scripted faults. */
export class RangeServer {
  readonly log: RequestLogEntry[] = [];
  /** Most requests in progress at once. */
  maxConcurrent = 0;
  connectionsOpened = 0;
  private inProgress = 0;
  private readonly sockets = new Set<Socket>();
  private readonly faultCounts = new Map<number, number>();
  private readonly versions: Version[];

  private constructor(
    private readonly server: http.Server,
    private readonly options: RangeServerOptions,
  ) {
    this.versions = [version(options.body, 'Mon, 01 Jan 2024 00:00:00 GMT')];
    if (options.change) this.versions.push(version(options.change.body, 'Tue, 02 Jan 2024 00:00:00 GMT'));
  }

  static async start(options: RangeServerOptions): Promise<RangeServer> {
    const server = http.createServer();
    const rangeServer = new RangeServer(server, options);
    server.on('connection', (socket: Socket) => rangeServer.track(socket));
    server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => rangeServer.handle(req, res));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return rangeServer;
  }

  /** The object's URL, signed like a storage URL so tests can check the signature never shows. */
  get url(): string {
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}/backups/ws-1.tar?X-Signature=s3cr3t`;
  }

  get etag(): string {
    return this.versions[0].etag;
  }

  /** Resolves once the client has closed every connection (the test's timeout catches a leak). */
  async allConnectionsClosed(): Promise<void> {
    while (this.sockets.size > 0) await new Promise((resolve) => setTimeout(resolve, 5));
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private track(socket: Socket): void {
    this.connectionsOpened++;
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    const entry: RequestLogEntry = {
      seq: this.log.length + 1,
      start: range ? Number(range[1]) : undefined,
      end: range && range[2] !== '' ? Number(range[2]) : undefined,
      ifRange: req.headers['if-range'] as string | undefined,
    };
    this.log.push(entry);
    this.inProgress++;
    this.maxConcurrent = Math.max(this.maxConcurrent, this.inProgress);
    res.on('close', () => this.inProgress--);
    this.options.onRequest?.(entry);
    const answer = (): void => this.answer(entry, res);
    if (this.options.delayMs) setTimeout(answer, this.options.delayMs);
    else answer();
  }

  private answer(entry: RequestLogEntry, res: http.ServerResponse): void {
    const current = this.options.change && entry.seq > this.options.change.afterRequests ? this.versions[1] : this.versions[0];
    const fault = entry.start === undefined ? undefined : this.faultFor(entry.start);
    const status = this.options.status ?? (typeof fault?.kind === 'number' ? fault.kind : undefined);
    if (status !== undefined) {
      entry.status = status;
      res.writeHead(status, { 'content-length': 0 }).end();
      return;
    }
    const { body } = current;
    const headers: http.OutgoingHttpHeaders = { etag: current.etag, 'last-modified': current.lastModified, 'accept-ranges': 'bytes' };
    const ifRangeMatches = entry.ifRange === undefined || this.options.honorIfRange === false || entry.ifRange === current.etag;
    if (this.options.ranges === false || entry.start === undefined || !ifRangeMatches) {
      entry.status = 200;
      res.writeHead(200, { ...headers, 'content-length': body.length });
      this.send(res, body, fault?.kind);
      return;
    }
    if (entry.start >= body.length) {
      entry.status = 416;
      res.writeHead(416, { 'content-range': `bytes */${body.length}`, 'content-length': 0 }).end();
      return;
    }
    const end = Math.min(entry.end ?? body.length - 1, body.length - 1);
    const shift = fault?.kind === 'wrong-range' ? 1 : 0;
    entry.status = 206;
    res.writeHead(206, {
      ...headers,
      'content-range': `bytes ${entry.start + shift}-${end}/${body.length}`,
      'content-length': end - entry.start + 1 - shift,
    });
    this.send(res, body.subarray(entry.start + shift, end + 1), fault?.kind);
  }

  private faultFor(start: number): Fault | undefined {
    const count = (this.faultCounts.get(start) ?? 0) + 1;
    this.faultCounts.set(start, count);
    return this.options.faults?.find((f) => f.start === start && (f.nth === 'all' || (f.nth ?? 1) === count));
  }

  private send(res: http.ServerResponse, data: Buffer, fault: Fault['kind'] | undefined): void {
    if (fault === 'reset') {
      res.write(data.subarray(0, Math.floor(data.length / 2)), () => res.socket?.destroy());
      return;
    }
    if (fault === 'stall') {
      res.flushHeaders();
      return;
    }
    if (!this.options.bytesPerSecond) {
      res.end(data);
      return;
    }
    this.pace(res, data, this.options.bytesPerSecond);
  }

  /** Writes in slices at the capped rate, stopping when the client goes away. */
  private pace(res: http.ServerResponse, data: Buffer, bytesPerSecond: number): void {
    let offset = 0;
    const next = (): void => {
      if (res.destroyed) return;
      if (offset >= data.length) {
        res.end();
        return;
      }
      const slice = data.subarray(offset, offset + SLICE);
      offset += slice.length;
      res.write(slice);
      setTimeout(next, (slice.length * 1000) / bytesPerSecond);
    };
    next();
  }
}

function version(body: Buffer, lastModified: string): Version {
  return { body, etag: `"${createHash('sha256').update(body).digest('hex').slice(0, 16)}"`, lastModified };
}
