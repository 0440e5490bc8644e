import type { IncomingHttpHeaders } from 'node:http';

/**
 * The version of the object a download started with: its length and validators from the first
 * response. Every later response must match it, or the output would mix two versions.
 */
export class ObjectIdentity {
  private constructor(
    readonly totalBytes: number,
    private readonly etag: string | undefined,
    private readonly lastModified: string | undefined,
  ) {}

  static of(headers: IncomingHttpHeaders, totalBytes: number): ObjectIdentity {
    return new ObjectIdentity(totalBytes, headers.etag, headers['last-modified']);
  }

  /**
   * The If-Range value, so that a server whose object changed answers 200 instead of a range of
   * the new version. If-Range takes only a strong validator (RFC 9110 §13.1.5): a strong ETag,
   * else the Last-Modified date.
   */
  get ifRange(): string | undefined {
    return this.etag !== undefined && !this.etag.startsWith('W/') ? this.etag : this.lastModified;
  }

  /** How a response differs from this version, or undefined when it matches. */
  differenceFrom(headers: IncomingHttpHeaders, totalBytes: number | undefined): string | undefined {
    if (totalBytes !== undefined && totalBytes !== this.totalBytes) return `its length went from ${this.totalBytes} to ${totalBytes} bytes`;
    if (this.etag !== undefined && headers.etag !== this.etag) return `its ETag went from ${this.etag} to ${headers.etag ?? '(none)'}`;
    if (this.lastModified !== undefined && headers['last-modified'] !== this.lastModified) {
      return `its Last-Modified went from ${this.lastModified} to ${headers['last-modified'] ?? '(none)'}`;
    }
    return undefined;
  }
}
