import { createLogger, WsError, WsErrorCode } from '@wsrun/common';
import { runInitializerChild } from '@wsrun/content';
import { parseCommandLine } from './cli';
import { runInitCommand } from './commands/init.command';
import { ContentInitConfig } from './config/content-init-config';
import { runWorker } from './worker/worker.command';

// content-init: fills workspace folders. `worker` serves the node's content queues; `init` runs an
// initializer in the sandbox on a folder; `run-initializer` is the sandboxed child itself. All of
// them call the same @wsrun/content core.
async function main(): Promise<number> {
  const parsed = parseCommandLine(process.argv);
  switch (parsed.command) {
    case 'run-initializer':
      return runInitializerChild(createLogger('content-init'));
    case 'worker':
      return runWorker(parsed.config, parsed.logLevel, __dirname);
    case 'init': {
      const config = ContentInitConfig.from(parsed.config);
      // the sandboxed child logs at the operator's level
      process.env['WSRUN_LOG_LEVEL'] = config.logLevel;
      // the bundle's own folder: main.js and native/ are bound into the sandbox from here
      const outcome = await runInitCommand(parsed.input, config, __dirname);
      process.stdout.write(`${JSON.stringify(outcome, null, 2)}\n`);
      return 0;
    }
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    const message = err instanceof WsError ? `${err.code}: ${err.message}` : err instanceof Error ? (err.stack ?? err.message) : String(err);
    process.stderr.write(`content-init: ${message}\n`);
    process.exit(err instanceof WsError && err.code === WsErrorCode.InvalidArgument ? 2 : 1);
  },
);
