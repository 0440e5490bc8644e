import { execFileSync } from 'node:child_process';
import { resolve } from 'node:path';

describe('content-init command line', () => {
  it('prints its subcommands with --help', () => {
    const out = execFileSync(process.execPath, [resolve(__dirname, '../../../dist/apps/content-init/main.js'), '--help'], { encoding: 'utf8' });
    expect(out).toContain('Usage: content-init');
  });
});
