import { createHmac, timingSafeEqual } from 'node:crypto';
import { WsError, WsErrorCode } from '@wsrun/common';
import { validateObjectRef, type ObjectRef } from './object-ref';

/**
 * Signed URLs of the local backend, served by LocalStorageServer:
 *
 *   <baseUrl>/o/<bucket>/<object>?expires=<unix seconds>&sig=<hex>
 *
 * `<object>` is percent-encoded segment by segment (its `/` stay). The signature is
 * HMAC-SHA256(secret, `${method}\n${bucket}\n${object}\n${expires}`) over the decoded names,
 * lowercase hex. A GET signature also allows HEAD. Neither names nor the decimal expiry can
 * contain a newline, so the message is unambiguous.
 */
export type SignedMethod = 'GET' | 'PUT';

export const MIN_SECRET_BYTES = 16;
/** longest ttl a signed URL may have; matches S3's presigned URL limit of one week */
export const MAX_SIGNED_URL_TTL_SECONDS = 7 * 24 * 3600;
export const LOCAL_OBJECT_PATH_PREFIX = '/o/';

/** The secret as bytes; throws WsError(INVALID_ARGUMENT) when it is too short to be one. */
export function validateSigningSecret(secret: string | Buffer): Buffer {
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret;
  if (!Buffer.isBuffer(bytes) || bytes.length < MIN_SECRET_BYTES) {
    throw new WsError(WsErrorCode.InvalidArgument, `invalid storage signing secret: must be at least ${MIN_SECRET_BYTES} bytes`);
  }
  return bytes;
}

/** Throws WsError(INVALID_ARGUMENT) unless `ttlSeconds` is a whole number of seconds in [1, one week]. */
export function validateTtlSeconds(ttlSeconds: number): number {
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_SIGNED_URL_TTL_SECONDS) {
    throw new WsError(WsErrorCode.InvalidArgument, `invalid signed URL ttl ${ttlSeconds}: must be 1 to ${MAX_SIGNED_URL_TTL_SECONDS} seconds`);
  }
  return ttlSeconds;
}

/** Lowercase hex HMAC of one request. */
export function signLocalRequest(secret: Buffer, method: SignedMethod, ref: ObjectRef, expires: number): string {
  return createHmac('sha256', secret).update(`${method}\n${ref.bucket}\n${ref.object}\n${expires}`, 'utf8').digest('hex');
}

export type SignatureCheck = 'valid' | 'expired' | 'bad-signature';

/** Checks a signature in constant time; `nowSeconds` is unix time. Expiry counts only for a genuine signature. */
export function checkLocalSignature(
  secret: Buffer,
  method: SignedMethod,
  ref: ObjectRef,
  expires: number,
  sigHex: string,
  nowSeconds: number,
): SignatureCheck {
  const expected = Buffer.from(signLocalRequest(secret, method, ref, expires), 'hex');
  const given = /^[0-9a-f]{64}$/i.test(sigHex) ? Buffer.from(sigHex, 'hex') : Buffer.alloc(0);
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'bad-signature';
  return nowSeconds > expires ? 'expired' : 'valid';
}

/** `/o/<bucket>/<object>` with each segment percent-encoded. */
export function localObjectPath(ref: ObjectRef): string {
  validateObjectRef(ref);
  return `${LOCAL_OBJECT_PATH_PREFIX}${encodeURIComponent(ref.bucket)}/${ref.object.split('/').map(encodeURIComponent).join('/')}`;
}

/** A complete signed URL below `baseUrl` that expires at `expires` (unix seconds). */
export function buildLocalSignedUrl(baseUrl: string, secret: Buffer, method: SignedMethod, ref: ObjectRef, expires: number): string {
  const sig = signLocalRequest(secret, method, ref, expires);
  return `${baseUrl.replace(/\/+$/, '')}${localObjectPath(ref)}?expires=${expires}&sig=${sig}`;
}

/** Unix seconds now. */
export function nowUnixSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
