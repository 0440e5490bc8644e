import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';

const KIT = resolve(__dirname, '../../../dist/apps/workspacekit/main.js');
const run = (args: string[], env: Record<string, string> = {}) => spawnSync(process.execPath, [KIT, ...args], { encoding: 'utf8', env: { PATH: process.env['PATH'] ?? '', ...env } });

describe('workspacekit command line', () => {
  it('--help lists ring0, lift and exec', () => {
    const out = run(['--help']).stdout;
    expect(out).toContain('Usage: workspacekit');
    for (const cmd of ['ring0', 'lift', 'exec']) expect(out).toContain(cmd);
  });

  it('ring0 gives up on an unreachable daemon with a clear message and exit code 69', () => {
    const r = run(['ring0', '--daemon-socket', '/nonexistent/daemon.sock', '--connect-timeout', '300ms', '--', 'true']);
    expect(r.status).toBe(69);
    expect(r.stderr).toMatch(/the daemon socket \/nonexistent\/daemon.sock did not answer within 0.3 s: .*connect .*ENOENT/);
  });

  it('refuses bad settings before doing anything', () => {
    const r = run(['ring0', '--grace', 'soon', '--', 'true']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('invalid --grace: "soon" is not a duration');
  });

  it('exec needs a workspace', () => {
    const r = run(['exec', '--', 'true']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('exec: give --pid or --workspace');
  });
});
