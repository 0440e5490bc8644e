import { createProjectGraphAsync } from '@nx/devkit';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

/**
 * The architecture rules in eslint.config.mjs must actually fire. Each case lints a small piece of
 * code as if it were a file of the named project, with the real ESLint CLI, the real config and
 * the real project graph (the code goes in on stdin; no file is written).
 */
const root = resolve(__dirname, '../..');

async function lint(filePath: string, code: string): Promise<string[]> {
  const run = spawnSync(resolve(root, 'node_modules/.bin/eslint'), ['--stdin', '--stdin-filename', filePath, '--format', 'json'], {
    cwd: root,
    input: code,
    encoding: 'utf8',
    env: { ...process.env, NX_DAEMON: 'false' },
  });
  if (run.stdout.trim() === '') throw new Error(`eslint produced no report: ${run.stderr}`);
  const [result] = JSON.parse(run.stdout) as { messages: { ruleId: string; message: string }[] }[];
  return result!.messages.map((m) => `${m.ruleId}: ${m.message}`);
}

describe('module boundaries', () => {
  beforeAll(async () => {
    // the rule reads the cached project graph; make sure there is one
    await createProjectGraphAsync({ exitOnError: false });
  }, 60_000);

  it('an app may not import another app', async () => {
    const messages = await lint('apps/workspacekit/src/probe.ts', "import { x } from '../../ws-daemon/src/main';\nexport const y = x;\n");
    expect(messages.join('\n')).toMatch(/@nx\/enforce-module-boundaries/);
  });

  it('a domain lib may not import a transport package', async () => {
    const messages = await lint('libs/common/src/probe.ts', "import { Server } from '@grpc/grpc-js';\nexport const s = Server;\n");
    expect(messages.join('\n')).toMatch(/@nx\/enforce-module-boundaries.*@grpc\/grpc-js/);
  });

  it('a shared lib may not depend on a content-scoped lib', async () => {
    const messages = await lint('libs/storage/src/probe.ts', "import { download } from '@wsrun/download';\nexport const d = download;\n");
    expect(messages.join('\n')).toMatch(/@nx\/enforce-module-boundaries.*scope:shared/);
  });

  it('the kit app may not use content-scoped libs', async () => {
    const messages = await lint('apps/workspacekit/src/probe.ts', "import { download } from '@wsrun/download';\nexport const d = download;\n");
    expect(messages.join('\n')).toMatch(/@nx\/enforce-module-boundaries.*scope:kit/);
  });

  it('only native-ns loads native code', async () => {
    const messages = await lint('apps/ws-daemon/src/probe.ts', "import addon = require('./native_ns.node');\nexport const a = addon;\n");
    expect(messages.join('\n')).toMatch(/no-restricted-imports.*Only libs\/native-ns/);
  });

  it('allowed imports pass', async () => {
    const messages = await lint('apps/ws-daemon/src/probe.ts', "import { spawnStage } from '@wsrun/native-ns';\nimport { WsError } from '@wsrun/common';\nexport const a = [spawnStage, WsError];\n");
    expect(messages).toEqual([]);
  });
});
