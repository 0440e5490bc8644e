import { WsError, WsErrorCode } from '@wsrun/common';

/** The errno name of a Node fs error (`ENOENT`), if it is one. */
export function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * Wraps an fs error with context and a code a caller can act on; a WsError keeps its code. The
 * errno stays reachable through `cause` (errnoCodeOf in @wsrun/common finds it).
 */
export function fsError(context: string, err: unknown): WsError {
  if (err instanceof WsError) return WsError.wrap(context, err);
  switch (errnoOf(err)) {
    case 'ENOENT':
      return WsError.wrap(context, err, WsErrorCode.NotFound);
    case 'EACCES':
    case 'EPERM':
    case 'ELOOP':
      return WsError.wrap(context, err, WsErrorCode.PermissionDenied);
    case 'ENOSPC':
    case 'EDQUOT':
    case 'EMFILE':
    case 'ENFILE':
      return WsError.wrap(context, err, WsErrorCode.ResourceExhausted);
    case 'EISDIR':
    case 'ENOTDIR':
    case 'ENAMETOOLONG':
      return WsError.wrap(context, err, WsErrorCode.FailedPrecondition);
    default:
      return WsError.wrap(context, err, WsErrorCode.Internal);
  }
}
