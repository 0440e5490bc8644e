import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { errnoCodeOf, WsError, WsErrorCode } from '@wsrun/common';

/**
 * The one mapping from errors to gRPC statuses (the "exception filter"). A WsError's code decides
 * the status; an errno anywhere in its cause chain travels in the trailing metadata
 * (`wsrun-errno`, `wsrun-syscall`) so that a caller answering a seccomp notification can hand the
 * same errno to the process inside. Anything else is INTERNAL.
 */
export function toStatus(code: WsErrorCode): status {
  switch (code) {
    case WsErrorCode.InvalidArgument:
      return status.INVALID_ARGUMENT;
    case WsErrorCode.NotFound:
      return status.NOT_FOUND;
    case WsErrorCode.AlreadyExists:
      return status.ALREADY_EXISTS;
    case WsErrorCode.PermissionDenied:
      return status.PERMISSION_DENIED;
    case WsErrorCode.FailedPrecondition:
      return status.FAILED_PRECONDITION;
    case WsErrorCode.ResourceExhausted:
      return status.RESOURCE_EXHAUSTED;
    case WsErrorCode.Unavailable:
      return status.UNAVAILABLE;
    case WsErrorCode.DeadlineExceeded:
      return status.DEADLINE_EXCEEDED;
    case WsErrorCode.Cancelled:
      return status.CANCELLED;
    case WsErrorCode.Internal:
      return status.INTERNAL;
  }
}

export function toServiceError(err: unknown): Partial<ServiceError> {
  const metadata = new Metadata();
  const errno = errnoCodeOf(err);
  if (errno) metadata.set('wsrun-errno', errno);
  for (let e: unknown = err; e instanceof Error; e = (e as { cause?: unknown }).cause) {
    const syscall = (e as { syscall?: unknown }).syscall;
    if (typeof syscall === 'string') {
      metadata.set('wsrun-syscall', syscall);
      break;
    }
  }
  if (err instanceof WsError) return { code: toStatus(err.code), details: err.message, metadata };
  return { code: status.INTERNAL, details: err instanceof Error ? err.message : String(err), metadata };
}
