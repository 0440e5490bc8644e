/**
 * The error every wsrun layer throws for a failure a caller may act on. `code` is the stable,
 * machine-readable reason (the transports map it to a gRPC status or an exit code); the message
 * says what was being done, and `cause` keeps the lower-level error (a NativeNsError keeps its
 * errno name, syscall and path).
 */
export enum WsErrorCode {
  InvalidArgument = 'INVALID_ARGUMENT',
  NotFound = 'NOT_FOUND',
  AlreadyExists = 'ALREADY_EXISTS',
  PermissionDenied = 'PERMISSION_DENIED',
  FailedPrecondition = 'FAILED_PRECONDITION',
  ResourceExhausted = 'RESOURCE_EXHAUSTED',
  Unavailable = 'UNAVAILABLE',
  DeadlineExceeded = 'DEADLINE_EXCEEDED',
  Cancelled = 'CANCELLED',
  Internal = 'INTERNAL',
}

export class WsError extends Error {
  override readonly name = 'WsError';
  readonly code: WsErrorCode;

  constructor(code: WsErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  /** Wraps any error with context, keeping its code when it already is a WsError. */
  static wrap(context: string, cause: unknown, code?: WsErrorCode): WsError {
    const inner = cause instanceof Error ? cause.message : String(cause);
    const innerCode = cause instanceof WsError ? cause.code : WsErrorCode.Internal;
    return new WsError(code ?? innerCode, `${context}: ${inner}`, { cause });
  }
}

/**
 * The errno name (`EPERM`) carried anywhere in an error's cause chain, if any. Any object with a
 * `code` counts, not only `instanceof Error`: node:fs errors come from another realm under test
 * runners.
 */
export function errnoCodeOf(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 8 && typeof e === 'object' && e !== null; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
