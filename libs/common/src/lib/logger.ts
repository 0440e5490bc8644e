import type { LevelWithSilent, LogFn, Logger } from 'pino';
import { WsError, WsErrorCode } from './ws-error';

export type { Logger };

/** The calls a component that only reports needs (a pino Logger has them). */
export type LevelLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>;

const LEVELS: Record<LevelWithSilent, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60, silent: Infinity };

function levelValue(level: string): number {
  const value = LEVELS[level as LevelWithSilent];
  if (value === undefined) throw new WsError(WsErrorCode.InvalidArgument, `unknown log level "${level}" (WSRUN_LOG_LEVEL): one of ${Object.keys(LEVELS).join(', ')}`);
  return value;
}

/**
 * One JSON-lines logger per process, to stderr (stdout belongs to the command's output where a
 * process is a CLI). Level from WSRUN_LOG_LEVEL (default info). Secrets are redacted by path.
 * pino is loaded here, on the first call, not when @wsrun/common is imported (see below).
 */
export function createLogger(name: string, level = process.env['WSRUN_LOG_LEVEL'] ?? 'info'): Logger {
  levelValue(level);
  const pino = require('pino') as typeof import('pino');
  return pino(
    {
      name,
      level,
      base: { pid: process.pid },
      redact: { paths: ['*.password', '*.authPassword', '*.secret', '*.token', '*.authorization'], censor: '[secret]' },
    },
    pino.destination({ fd: 2, sync: true }),
  );
}

/**
 * createLogger's logger, made at the first message of an enabled level (the level is checked at
 * once). For a process on a workspace's start-up path: loading pino and making its logger cost
 * about 300 KB of young heap, one more scavenge in the middle of ring0's start, and ring0 has
 * nothing to say before the command runs.
 */
export function createDeferredLogger(name: string, level = process.env['WSRUN_LOG_LEVEL'] ?? 'info'): LevelLogger {
  const threshold = levelValue(level);
  let logger: Logger | undefined;
  const at = (method: keyof LevelLogger): LogFn =>
    ((...args: unknown[]) => {
      if (LEVELS[method] < threshold) return;
      logger ??= createLogger(name, level);
      (logger[method] as (...a: unknown[]) => void)(...args);
    }) as LogFn;
  return { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
