import { WsError, WsErrorCode } from './ws-error';

/**
 * Small, explicit validators for the apps' config classes. Each returns the parsed value or
 * throws a WsError(INVALID_ARGUMENT) naming the setting and what was wrong, so a bad flag or
 * environment variable stops the app at boot with a message the operator can act on.
 */
export function invalid(setting: string, message: string): WsError {
  return new WsError(WsErrorCode.InvalidArgument, `invalid ${setting}: ${message}`);
}

export function parseInteger(setting: string, raw: string | number | undefined, opts: { min?: number; max?: number; default?: number } = {}): number {
  if (raw === undefined || raw === '') {
    if (opts.default === undefined) throw invalid(setting, 'a value is required');
    return opts.default;
  }
  const value = typeof raw === 'number' ? raw : /^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : NaN;
  if (!Number.isSafeInteger(value)) throw invalid(setting, `"${raw}" is not an integer`);
  if (opts.min !== undefined && value < opts.min) throw invalid(setting, `${value} is below the minimum ${opts.min}`);
  if (opts.max !== undefined && value > opts.max) throw invalid(setting, `${value} is above the maximum ${opts.max}`);
  return value;
}

export function parseAbsolutePath(setting: string, raw: string | undefined, fallback?: string): string {
  const value = raw === undefined || raw === '' ? fallback : raw;
  if (value === undefined) throw invalid(setting, 'a path is required');
  if (!value.startsWith('/')) throw invalid(setting, `"${value}" is not an absolute path`);
  if (value.includes('\0')) throw invalid(setting, 'the path contains a NUL byte');
  return value.length > 1 ? value.replace(/\/+$/, '') : value;
}

export function parseDurationMs(setting: string, raw: string | number | undefined, fallbackMs: number): number {
  if (raw === undefined || raw === '') return fallbackMs;
  if (typeof raw === 'number') return parseInteger(setting, raw, { min: 0 });
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(raw.trim());
  if (!m) throw invalid(setting, `"${raw}" is not a duration (examples: 500ms, 20s, 5m)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  return Math.round(Number(m[1]) * unit);
}

export function parseEnum<T extends string>(setting: string, raw: string | undefined, allowed: readonly T[], fallback: T): T {
  if (raw === undefined || raw === '') return fallback;
  if (!(allowed as readonly string[]).includes(raw)) throw invalid(setting, `"${raw}" is not one of ${allowed.join(', ')}`);
  return raw as T;
}

/** The node's workspace ids: the host uid/gid that is root inside, and the subordinate range. */
export interface WorkspaceIdRange {
  rootUid: number;
  subuidStart: number;
  subuidSize: number;
}

/**
 * --root-uid, --subuid-start and --subuid-size, checked the same way wherever they are set (the
 * daemon and content-init must agree): no id reaches host root, the range stays below the largest
 * id, and root's uid never lies inside the range.
 */
export function parseWorkspaceIdRange(input: { rootUid?: string; subuidStart?: string; subuidSize?: string }): WorkspaceIdRange {
  const rootUid = parseInteger('--root-uid', input.rootUid, { min: 1, max: 0xfffffffe, default: 33333 });
  const subuidStart = parseInteger('--subuid-start', input.subuidStart, { min: 1, max: 0xfffffffe, default: 100000 });
  const subuidSize = parseInteger('--subuid-size', input.subuidSize, { min: 2, max: 0xfffffffe, default: 65536 });
  if (subuidStart + subuidSize > 0xffffffff) throw invalid('--subuid-size', `the range ${subuidStart}+${subuidSize} passes the largest id`);
  if (rootUid >= subuidStart && rootUid < subuidStart + subuidSize) {
    throw invalid('--root-uid', `${rootUid} lies inside the subordinate range ${subuidStart}..${subuidStart + subuidSize - 1}`);
  }
  return { rootUid, subuidStart, subuidSize };
}
