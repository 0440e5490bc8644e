import { WsError } from '@wsrun/common';
import { parseCommandLine } from './cli';
import { DaemonConfig } from './config/daemon-config';
import { DaemonLogger } from './daemon-logger';
import { startDaemon } from './daemon';

async function main(): Promise<void> {
  const options = parseCommandLine(process.argv);
  const config = DaemonConfig.from(options);
  const logger = new DaemonLogger(options.logLevel);
  const daemon = await startDaemon(config, logger);
  logger.logger.info({ address: daemon.address, stateDir: config.stateDir }, 'ws-daemon ready');
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.logger.info({ signal }, 'stopping');
    daemon.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.logger.error({ err }, 'stopping failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((err: unknown) => {
  const message = err instanceof WsError ? err.message : err instanceof Error ? (err.stack ?? err.message) : String(err);
  process.stderr.write(`ws-daemon: ${message}\n`);
  process.exit(err instanceof WsError ? 2 : 1);
});
