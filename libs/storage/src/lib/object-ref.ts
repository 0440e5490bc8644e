import { WsError, WsErrorCode } from '@wsrun/common';

/**
 * The address of one stored object. The canonical string form is `object@bucket`
 * (`workspaces/ws-1/full.tar@user-42`): bucket names cannot contain `@`, so the last `@` splits.
 *
 * Names are validated the same way for every backend, so a name that works on the local folder
 * also works on S3 and the other way round. The object rules exist because the local backend maps
 * an object name onto a path below the storage folder: they are the first wall against escaping it.
 */
export interface ObjectRef {
  bucket: string;
  object: string;
}

export const MAX_OBJECT_NAME_BYTES = 1024;
/** NAME_MAX of Linux file systems: each `/`-separated segment becomes one file or folder name */
export const MAX_OBJECT_SEGMENT_BYTES = 255;

// S3's bucket naming rules, minus the ones that only matter to AWS (xn-- prefixes and the like)
const BUCKET_RE = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
const IPV4_RE = /^\d{1,3}(\.\d{1,3}){3}$/;
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f]/;

function invalidRef(what: string, value: string, reason: string): WsError {
  return new WsError(WsErrorCode.InvalidArgument, `invalid ${what} ${JSON.stringify(value)}: ${reason}`);
}

/** Throws WsError(INVALID_ARGUMENT) naming the rule the bucket name breaks. */
export function validateBucketName(bucket: string): string {
  if (typeof bucket !== 'string') throw invalidRef('bucket name', String(bucket), 'not a string');
  if (bucket.length < 3 || bucket.length > 63) throw invalidRef('bucket name', bucket, 'must be 3 to 63 characters long');
  if (!BUCKET_RE.test(bucket)) {
    throw invalidRef('bucket name', bucket, 'use lowercase letters, digits, "-" and "."; start and end with a letter or digit');
  }
  if (bucket.includes('..') || bucket.includes('.-') || bucket.includes('-.')) {
    throw invalidRef('bucket name', bucket, 'must not contain "..", ".-" or "-."');
  }
  if (IPV4_RE.test(bucket)) throw invalidRef('bucket name', bucket, 'must not look like an IP address');
  return bucket;
}

/** Throws WsError(INVALID_ARGUMENT) naming the rule the object name breaks. */
export function validateObjectName(object: string): string {
  if (typeof object !== 'string') throw invalidRef('object name', String(object), 'not a string');
  if (object.length === 0) throw invalidRef('object name', object, 'must not be empty');
  if (object.includes('\0')) throw invalidRef('object name', object, 'contains a NUL byte');
  if (CONTROL_RE.test(object)) throw invalidRef('object name', object, 'contains a control character');
  if (Buffer.byteLength(object, 'utf8') > MAX_OBJECT_NAME_BYTES) {
    throw invalidRef('object name', object, `is longer than ${MAX_OBJECT_NAME_BYTES} bytes`);
  }
  if (object.startsWith('/')) throw invalidRef('object name', object, 'must be a relative path (it starts with "/")');
  if (object.endsWith('/')) throw invalidRef('object name', object, 'must not end with "/"');
  for (const segment of object.split('/')) {
    if (segment === '') throw invalidRef('object name', object, 'contains an empty path segment ("//")');
    if (segment === '..') throw invalidRef('object name', object, 'contains a ".." segment');
    if (segment === '.') throw invalidRef('object name', object, 'contains a "." segment');
    if (Buffer.byteLength(segment, 'utf8') > MAX_OBJECT_SEGMENT_BYTES) {
      throw invalidRef('object name', object, `has a path segment longer than ${MAX_OBJECT_SEGMENT_BYTES} bytes`);
    }
  }
  return object;
}

/** Returns the ref when both parts are valid; throws WsError(INVALID_ARGUMENT) otherwise. */
export function validateObjectRef(ref: ObjectRef): ObjectRef {
  if (ref === null || typeof ref !== 'object') throw new WsError(WsErrorCode.InvalidArgument, 'invalid object ref: not an object');
  validateBucketName(ref.bucket);
  validateObjectName(ref.object);
  return ref;
}

/** A validated ref from its parts. */
export function objectRef(bucket: string, object: string): ObjectRef {
  return validateObjectRef({ bucket, object });
}

/** Parses `object@bucket`; throws WsError(INVALID_ARGUMENT) saying which part is wrong. */
export function parseObjectRef(text: string): ObjectRef {
  if (typeof text !== 'string') throw invalidRef('object ref', String(text), 'not a string');
  const at = text.lastIndexOf('@');
  if (at < 0) throw invalidRef('object ref', text, 'expected "object@bucket"');
  return objectRef(text.slice(at + 1), text.slice(0, at));
}

/** The canonical `object@bucket` form of a (validated) ref. */
export function formatObjectRef(ref: ObjectRef): string {
  validateObjectRef(ref);
  return `${ref.object}@${ref.bucket}`;
}

/**
 * Validates a list prefix: any string an object name could start with (so `a/` or `a/b` are fine,
 * `..` segments and NUL are not). The empty prefix lists the whole bucket.
 */
export function validateListPrefix(prefix: string): string {
  if (typeof prefix !== 'string') throw invalidRef('list prefix', String(prefix), 'not a string');
  if (prefix === '') return prefix;
  if (prefix.includes('\0')) throw invalidRef('list prefix', prefix, 'contains a NUL byte');
  if (Buffer.byteLength(prefix, 'utf8') > MAX_OBJECT_NAME_BYTES) {
    throw invalidRef('list prefix', prefix, `is longer than ${MAX_OBJECT_NAME_BYTES} bytes`);
  }
  if (prefix.startsWith('/')) throw invalidRef('list prefix', prefix, 'must be relative (it starts with "/")');
  // the last segment may be partial ("ws-" matches "ws-1/..."), the complete ones must be clean
  const complete = prefix.split('/').slice(0, -1);
  if (complete.some((s) => s === '' || s === '.' || s === '..')) {
    throw invalidRef('list prefix', prefix, 'contains an empty, "." or ".." segment');
  }
  return prefix;
}
