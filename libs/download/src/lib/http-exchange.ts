import * as http from 'node:http';
import * as https from 'node:https';
import { WsErrorCode } from '@wsrun/common';
import { DownloadAttemptError } from './download-error';

/** Where and how one download sends its requests. */
export interface ExchangeTarget {
  url: URL;
  agent: http.Agent;
  timeoutMs: number;
  /** Aborted when the whole download stops. */
  signal: AbortSignal;
}

/**
 * One GET request and its response body, with an inactivity deadline and cancellation.
 * Every failure settles as a DownloadAttemptError whose message starts with `where`. A failed
 * or discarded exchange destroys its socket, so the keep-alive pool never reuses a connection
 * with half a body on it; a body read to its end leaves the socket to the pool.
 */
export class HttpExchange {
  private readonly request: http.ClientRequest;
  private response?: http.IncomingMessage;
  private timer?: NodeJS.Timeout;
  private failure?: DownloadAttemptError;
  private settled = false;
  private paused = false;
  private received = 0;
  /** Rejects whatever the caller awaits now: the response headers or the body's end. */
  private reject?: (err: DownloadAttemptError) => void;

  private constructor(
    private readonly target: ExchangeTarget,
    headers: http.OutgoingHttpHeaders,
    readonly where: string,
  ) {
    const client = target.url.protocol === 'https:' ? https : http;
    this.request = client.get(target.url, { agent: target.agent, headers });
    // stays attached: destroying the request later may still emit an error
    this.request.on('error', (err) => this.fail(this.networkError(err)));
    target.signal.addEventListener('abort', this.onAbort);
    if (target.signal.aborted) this.onAbort();
    this.armTimer();
  }

  /** Sends the request; resolves at the response headers, rejects on network failure, timeout or abort. */
  static open(target: ExchangeTarget, headers: http.OutgoingHttpHeaders, where: string): Promise<HttpExchange> {
    const exchange = new HttpExchange(target, headers, where);
    return new Promise((resolve, reject) => {
      if (exchange.failure) return reject(exchange.failure);
      exchange.reject = reject;
      exchange.request.once('response', (res: http.IncomingMessage) => {
        exchange.reject = undefined;
        exchange.response = res;
        res.on('error', (err) => exchange.fail(exchange.networkError(err)));
        res.on('close', () => {
          if (!res.complete) exchange.fail(exchange.networkError(new Error('connection closed')));
        });
        exchange.armTimer();
        resolve(exchange);
      });
    });
  }

  get status(): number {
    return this.headersReceived().statusCode ?? 0;
  }

  get statusMessage(): string | undefined {
    return this.headersReceived().statusMessage;
  }

  get headers(): http.IncomingHttpHeaders {
    return this.headersReceived().headers;
  }

  /**
   * Streams the body to `onData`; resolves at its clean end. With `expectedLength`, a shorter or
   * longer body is a retryable failure. `onData` must not throw.
   */
  body(expectedLength: number | undefined, onData: (chunk: Buffer) => void): Promise<void> {
    const res = this.headersReceived();
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      this.reject = reject;
      res.on('data', (chunk: Buffer) => {
        if (this.settled) return;
        this.received += chunk.length;
        if (expectedLength !== undefined && this.received > expectedLength) {
          return this.fail(this.bodyError(`the body is longer than the ${expectedLength} bytes announced`));
        }
        this.timer?.refresh();
        onData(chunk);
      });
      res.on('end', () => {
        if (this.settled) return;
        if (expectedLength !== undefined && this.received < expectedLength) {
          return this.fail(this.bodyError(`the body ended after ${this.received} of ${expectedLength} bytes`));
        }
        this.settle();
        resolve();
      });
    });
  }

  /** Stops reading (the consumer is full); the inactivity deadline does not run meanwhile. */
  pause(): void {
    if (this.settled || this.paused) return;
    this.paused = true;
    clearTimeout(this.timer);
    this.response?.pause();
  }

  resume(): void {
    if (this.settled || !this.paused) return;
    this.paused = false;
    this.armTimer();
    this.response?.resume();
  }

  /** Drops the exchange without reading its body (an unwanted response); closes the socket. */
  discard(): void {
    if (this.settled) return;
    this.settle();
    this.request.destroy();
  }

  private fail(err: DownloadAttemptError): void {
    if (this.settled) return;
    this.failure = err;
    this.settle();
    this.request.destroy();
    this.reject?.(err);
  }

  private settle(): void {
    this.settled = true;
    clearTimeout(this.timer);
    this.target.signal.removeEventListener('abort', this.onAbort);
  }

  private armTimer(): void {
    clearTimeout(this.timer);
    if (this.settled) return;
    this.timer = setTimeout(() => {
      const message = `${this.where}: no data for ${this.target.timeoutMs} ms`;
      this.fail(new DownloadAttemptError(WsErrorCode.DeadlineExceeded, message, true));
    }, this.target.timeoutMs);
  }

  private readonly onAbort = (): void => {
    this.fail(new DownloadAttemptError(WsErrorCode.Cancelled, `${this.where}: cancelled`, false));
  };

  private networkError(err: Error): DownloadAttemptError {
    const after = this.response ? ` after ${this.received} body bytes` : '';
    return new DownloadAttemptError(WsErrorCode.Unavailable, `${this.where}: ${err.message}${after}`, true, { cause: err });
  }

  private bodyError(reason: string): DownloadAttemptError {
    return new DownloadAttemptError(WsErrorCode.Unavailable, `${this.where}: ${reason}`, true);
  }

  private headersReceived(): http.IncomingMessage {
    if (!this.response) throw new Error('HttpExchange used before its response arrived');
    return this.response;
  }
}
