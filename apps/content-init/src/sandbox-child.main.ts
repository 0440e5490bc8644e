import { createLogger } from '@wsrun/common';
import { runInitializerChild } from '@wsrun/content';

// The sandboxed child (`content-init run-initializer`) as its own small bundle: it starts once
// per initializer, backup and git status, and loading only what the child runs (no queue, no S3
// SDK, no gRPC) saves most of the start-up of the full main.js.
runInitializerChild(createLogger('content-init')).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`content-init run-initializer: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
