import { createHash, createHmac } from 'node:crypto';

/**
 * AWS Signature Version 4 query-string presigning (the "presigned URL" of S3), written out
 * because @aws-sdk/s3-request-presigner is not a dependency. Reference:
 * https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
 *
 * Only the `host` header is signed and the payload is UNSIGNED-PAYLOAD, so any client (curl,
 * fetch) can use the URL with any body and with a Range header.
 */
export interface SigV4Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface SigV4PresignRequest {
  method: string;
  /** scheme, host[:port] and the path exactly as it will be sent (already URI-encoded, see encodeS3Key) */
  url: string;
  region: string;
  /** `s3` for object storage */
  service: string;
  credentials: SigV4Credentials;
  expiresInSeconds: number;
  /** signing time; default now */
  now?: Date;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';
const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

/** RFC 3986 encoding as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~ is %XX (uppercase). */
export function uriEncode(value: string): string {
  return encodeURIComponent(value).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** An S3 key as a URL path: each `/`-separated segment encoded, the slashes kept. */
export function encodeS3Key(key: string): string {
  return key.split('/').map(uriEncode).join('/');
}

/** `20130524T000000Z` */
export function amzDate(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/** Returns `url` with the X-Amz-* query parameters of a valid SigV4 presigned request. */
export function presignSigV4(req: SigV4PresignRequest): string {
  const url = new URL(req.url);
  const date = amzDate(req.now ?? new Date());
  const day = date.slice(0, 8);
  const scope = `${day}/${req.region}/${req.service}/aws4_request`;

  const query = new Map<string, string>();
  for (const [k, v] of url.searchParams) query.set(k, v);
  query.set('X-Amz-Algorithm', ALGORITHM);
  query.set('X-Amz-Credential', `${req.credentials.accessKeyId}/${scope}`);
  query.set('X-Amz-Date', date);
  query.set('X-Amz-Expires', String(req.expiresInSeconds));
  if (req.credentials.sessionToken) query.set('X-Amz-Security-Token', req.credentials.sessionToken);
  query.set('X-Amz-SignedHeaders', 'host');

  // sorted by encoded name (code point order), then each pair encoded
  const canonicalQuery = [...query]
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
  const canonicalRequest = [
    req.method.toUpperCase(),
    // S3 signs the path as sent (no second encoding, no dot-segment normalization)
    url.pathname || '/',
    canonicalQuery,
    `host:${url.host}\n`,
    'host',
    UNSIGNED_PAYLOAD,
  ].join('\n');
  const stringToSign = [ALGORITHM, date, scope, sha256Hex(canonicalRequest)].join('\n');

  const kDate = hmac(`AWS4${req.credentials.secretAccessKey}`, day);
  const kRegion = hmac(kDate, req.region);
  const kService = hmac(kRegion, req.service);
  const kSigning = hmac(kService, 'aws4_request');
  const signature = createHmac('sha256', kSigning).update(stringToSign, 'utf8').digest('hex');

  return `${url.origin}${url.pathname}?${canonicalQuery}&X-Amz-Signature=${signature}`;
}

function hmac(key: string | Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

function sha256Hex(data: string): string {
  return createHash('sha256').update(data, 'utf8').digest('hex');
}
