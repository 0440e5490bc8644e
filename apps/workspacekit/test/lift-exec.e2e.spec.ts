import { spawn } from 'node:child_process';
import { readlinkSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { KIT_MAIN, startRing0, track, until, WorkspaceNode, type Ring0Run } from './support/workspace-node';

function runKit(args: string[]): { exited: Promise<number | null>; output: () => string; kill: (s: NodeJS.Signals) => void } {
  const child = track(spawn(process.execPath, [KIT_MAIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } }));
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (out += d));
  return { exited: new Promise((r) => child.once('close', (code) => r(code))), output: () => out, kill: (s) => child.kill(s) };
}

const state = (run: Ring0Run) => JSON.parse(readFileSync(join(run.runtimeDir, 'state.json'), 'utf8')) as { ring1: number; ring2: number };

describe('lift and exec', () => {
  const node = new WorkspaceNode(['lift-1', 'exec-1', 'exec-2']);
  beforeAll(() => node.start(), 30_000);
  afterAll(() => node.stop());

  it('lift runs a command in ring1\'s context, with stdio attached and the exit status returned', async () => {
    const run = startRing0(node.socket('lift-1'), ['sh', '-c', 'test -S /.workspace/lift.sock && echo lift-socket-inside; echo ready; sleep 30']);
    await until(() => run.output().includes('ready'), 'the workspace');
    const { ring1, ring2 } = state(run);
    const lifted = runKit(['lift', '--socket', join(run.runtimeDir, 'share/lift.sock'), '--', 'sh', '-c', 'id -u; readlink /proc/self/ns/mnt; readlink /proc/self/ns/user; exit 7']);
    expect(await lifted.exited).toBe(7);
    const [uid, mnt, user] = lifted.output().trim().split('\n');
    expect(uid).toBe('0');
    expect(mnt).toBe(readlinkSync(`/proc/${ring1}/ns/mnt`));
    expect(mnt).not.toBe(readlinkSync(`/proc/${ring2}/ns/mnt`));
    expect(user).toBe(readlinkSync(`/proc/${ring1}/ns/user`));
    expect(run.output()).toContain('lift-socket-inside');
    run.child.kill('SIGKILL');
    await run.exited;
  });

  it('exec runs a further process inside the workspace\'s namespaces and root; its status comes back', async () => {
    const run = startRing0(node.socket('exec-1'), ['sh', '-c', 'echo inside > /tmp/only-inside; echo ready; sleep 30']);
    await until(() => run.output().includes('ready'), 'the workspace');
    const { ring2 } = state(run);
    const exec = runKit(['exec', '--workspace', run.runtimeDir, '--', 'sh', '-c', 'cat /tmp/only-inside; readlink /proc/self/ns/pid; cat /proc/1/comm; id -u; exit 3']);
    expect(await exec.exited).toBe(3);
    expect(exec.output().trim().split('\n')).toEqual(['inside', readlinkSync(`/proc/${ring2}/ns/pid`), 'sh', '0']);
    run.child.kill('SIGKILL');
    await run.exited;
  });

  it('exec passes signals to the process or its whole group; stopping the workspace ends exec\'d processes too', async () => {
    const run = startRing0(node.socket('exec-2'), ['sh', '-c', 'echo ready; while :; do sleep 0.1; done'], { grace: '1s' });
    await until(() => run.output().includes('ready'), 'the workspace');
    const trapping = runKit(['exec', '--pid', String(state(run).ring2), '--', 'sh', '-c', 'trap "echo trapped; exit 5" TERM; echo started; while :; do sleep 0.1; done']);
    await until(() => trapping.output().includes('started'), 'the exec\'d command');
    trapping.kill('SIGTERM');
    expect(await trapping.exited).toBe(5);
    expect(trapping.output()).toContain('trapped');

    const group = runKit(['exec', '--pid', String(state(run).ring2), '--signals', 'group', '--', 'sh', '-c', 'sleep 100 & echo started; wait; echo wait-ended $?']);
    await until(() => group.output().includes('started'), 'the exec\'d group');
    group.kill('SIGTERM');
    expect(await group.exited).toBe(143);

    const lingering = runKit(['exec', '--pid', String(state(run).ring2), '--', 'sh', '-c', 'echo started; sleep 100']);
    await until(() => lingering.output().includes('started'), 'the exec\'d command');
    run.child.kill('SIGTERM');
    expect((await run.exited).code).toBe(137);
    expect(await lingering.exited).toBe(137);
  });
});
