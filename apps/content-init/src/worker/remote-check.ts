import { WsError, WsErrorCode } from '@wsrun/common';
import type { SignedObject } from '@wsrun/queue';

/**
 * A fetch child of the init flow: makes sure a remote archive can be read through its signed URL
 * and learns its size, before the initializer parent runs (a missing or expired object fails the
 * flow early with a clear message). Asks for one byte: a signed GET URL allows GET only.
 */
export async function checkRemoteObject(object: SignedObject, signal?: AbortSignal): Promise<SignedObject> {
  let response: Response;
  try {
    response = await fetch(object.url, { headers: { range: 'bytes=0-0' }, ...(signal ? { signal } : {}) });
  } catch (err) {
    throw new WsError(WsErrorCode.Unavailable, `${object.ref}: the storage did not answer: ${(err as Error).message}`, { cause: err });
  }
  await response.body?.cancel();
  if (response.status === 404) throw new WsError(WsErrorCode.NotFound, `${object.ref} does not exist (any more)`);
  if (response.status === 403) throw new WsError(WsErrorCode.PermissionDenied, `${object.ref}: the signed URL was refused (expired?)`);
  let size: number | undefined;
  if (response.status === 206) size = Number(/\/(\d+)$/.exec(response.headers.get('content-range') ?? '')?.[1]);
  else if (response.status === 200) size = Number(response.headers.get('content-length'));
  else if (response.status === 416) size = 0;
  else throw new WsError(WsErrorCode.Unavailable, `${object.ref}: the storage answered ${response.status}`);
  if (size === undefined || !Number.isSafeInteger(size)) throw new WsError(WsErrorCode.Unavailable, `${object.ref}: the storage did not say how large it is`);
  if (object.size !== undefined && object.size !== size) {
    throw new WsError(WsErrorCode.FailedPrecondition, `${object.ref} changed: ${size} bytes where ${object.size} were expected`);
  }
  return { ...object, size };
}
