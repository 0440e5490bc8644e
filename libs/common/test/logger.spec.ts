import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { buildSync } from 'esbuild';
import { createDeferredLogger, WsError } from '../src';

// A process that logs through createDeferredLogger, bundled like the apps are (pino left to node's
// require, so the child can tell whether it was loaded). It prints whether pino was loaded.
const dir = mkdtempSync(join(tmpdir(), 'wsrun-logger-'));
const entry = join(dir, 'entry.ts');
const out = join(dir, 'child.js');

beforeAll(() => {
  writeFileSync(
    entry,
    `import { createDeferredLogger } from ${JSON.stringify(resolve(__dirname, '../src'))};
const log = createDeferredLogger('kit');
log.debug({ step: 1 }, 'debugging');
log.info({ auth: { token: 'abc' }, ok: true }, 'started');
process.stdout.write(Object.keys(require.cache).some((f) => f.includes('/node_modules/pino/')) ? 'pino loaded' : 'pino not loaded');
`,
  );
  buildSync({ entryPoints: [entry], outfile: out, bundle: true, platform: 'node', format: 'cjs', external: ['pino'], nodePaths: [resolve(__dirname, '../../../node_modules')], logLevel: 'error' });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const run = (level: string) => spawnSync(process.execPath, [out], { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '', WSRUN_LOG_LEVEL: level, NODE_PATH: resolve(__dirname, '../../../node_modules') } });

describe('createDeferredLogger', () => {
  it('writes JSON lines at enabled levels, with the name, the pid and secrets redacted', () => {
    const r = run('debug');
    expect(r.status).toBe(0);
    const lines = r.stderr.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toEqual([
      expect.objectContaining({ level: 20, name: 'kit', pid: r.pid, step: 1, msg: 'debugging' }),
      expect.objectContaining({ level: 30, name: 'kit', pid: r.pid, ok: true, auth: { token: '[secret]' }, msg: 'started' }),
    ]);
    expect(r.stdout).toBe('pino loaded');
  });

  it('drops messages below its level, and loads no logger for them', () => {
    const r = run('warn');
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe('pino not loaded');
  });

  it('refuses an unknown level at once, naming the known ones', () => {
    expect(() => createDeferredLogger('kit', 'verbose')).toThrow(WsError);
    expect(() => createDeferredLogger('kit', 'verbose')).toThrow('unknown log level "verbose" (WSRUN_LOG_LEVEL): one of trace, debug, info, warn, error, fatal, silent');
  });
});
