import { errnoCodeOf } from '@wsrun/common';

/**
 * The errno name (ENOENT ...) anywhere in an error's cause chain. Unlike errnoCodeOf it does not
 * require `instanceof Error`: node:fs errors come from another realm under test runners.
 */
export function errnoOf(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 8 && typeof e === 'object' && e !== null; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return errnoCodeOf(err);
}
