import { createLogger, type Logger } from '@wsrun/common';

/** The daemon's logger (JSON lines on stderr), injectable so services log with context. */
export class DaemonLogger {
  readonly logger: Logger;

  constructor(level?: string) {
    this.logger = createLogger('ws-daemon', level);
  }

  child(bindings: Record<string, unknown>): Logger {
    return this.logger.child(bindings);
  }
}
