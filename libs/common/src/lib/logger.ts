import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * One JSON-lines logger per process, to stderr (stdout belongs to the command's output where a
 * process is a CLI). Level from WSRUN_LOG_LEVEL (default info). Secrets are redacted by path.
 */
export function createLogger(name: string, level = process.env['WSRUN_LOG_LEVEL'] ?? 'info'): Logger {
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
