import { readFileSync } from 'node:fs';
import { writeIdMap, type StageOptions } from '../src';
import { WORKSPACE_MAP } from './helpers';
import { removeFixtureBundles, StageHost } from './stage-host';

const ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };

/**
 * The shape of a workspace: stage 1 (new user+mount namespaces, held for its map, assembles a
 * root), stage 2 (new mount+pid namespaces, pivot_root, waits for the go-ahead, seccomp listener
 * handed to Node, exec). Run by a uid-33333 Node process; the test plays the privileged daemon.
 */
function twoStages(script: string): StageOptions {
  return {
    name: 'test:ring1',
    namespaces: ['user', 'mount'],
    hold: true,
    steps: [
      { op: 'rslave' },
      // a private scratch tmpfs for the new root, then the host's tree bound into it
      { op: 'mount', kind: 'fs', fstype: 'tmpfs', target: '/tmp', options: 'mode=755,size=1m' },
      { op: 'mkdir', path: '/tmp/root' },
      { op: 'mount', kind: 'rbind', source: '/', target: '/tmp/root' },
      { op: 'mount', kind: 'fs', fstype: 'tmpfs', target: '/tmp/root/mnt', options: 'size=1m' },
      {
        op: 'spawn',
        stage: {
          name: 'test:ring2',
          namespaces: ['mount', 'pid'],
          steps: [{ op: 'pivotRoot', path: '/tmp/root' }, { op: 'wait', tag: 'go' }],
          seccomp: { notify: ['mount', 'umount2'], errno: { open_tree: 'EPERM', move_mount: 'EPERM' }, listenerTag: 'seccomp' },
          end: { exec: { argv: ['sh', '-c', script], env: ENV } },
        },
      },
    ],
    end: 'waitChild',
  };
}

async function startWorkspace(host: StageHost, script: string): Promise<{ ring1: number; ring2: number }> {
  const ring1 = await host.spawn(twoStages(script));
  writeIdMap(ring1, 'uid', WORKSPACE_MAP);
  writeIdMap(ring1, 'gid', WORKSPACE_MAP);
  host.release();
  const ring2 = (await host.next((e) => e.event === 'spawned' && e.depth === 1)).pid!;
  return { ring1, ring2 };
}

describe('a two-stage program (ring1 + ring2)', () => {
  let host: StageHost;
  beforeEach(() => (host = new StageHost(33333, 33333)));
  afterEach(() => host.close());
  afterAll(removeFixtureBundles);

  it('runs the command as root in its own pid namespace, after the go-ahead, with mount handed to the supervisor', async () => {
    const { ring1 } = await startWorkspace(host, 'id -u; echo $$; cat /proc/self/uid_map | tr -s " "; mount -t proc proc /mnt; echo mount-rc=$?; echo END; exit 42');
    // held at the wait step: nothing has run yet, whatever the scheduler does
    expect(host.output).toBe('');
    // stage 1 stays small: it is the C helper, not a copy of Node
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${ring1}/status`, 'utf8'))![1]);
    expect(rssKb).toBeLessThan(4096);
    host.go('go', 1);
    await host.next((e) => e.event === 'listener');
    const status = await host.exited();
    expect(status).toEqual({ code: 42, signal: null });
    const notification = await host.next((e) => e.event === 'notification');
    expect(notification).toMatchObject({ syscall: 'mount', strings: ['proc', '/mnt', 'proc'] });
    const lines = (await host.outputUntil('END')).trim().split('\n');
    expect(lines.slice(0, 4)).toEqual(['0', '1', ' 0 33333 1', ' 1 100000 65534']);
    expect(lines).toContain('mount-rc=32');
  });

  it('passes signals through both stages: TERM reaches a command that traps it', async () => {
    await startWorkspace(host, 'trap "echo got-term; exit 7" TERM; echo ready; while :; do sleep 0.05; done');
    host.go('go', 1);
    await waitForOutput(host, 'ready');
    host.kill('SIGTERM');
    expect(await host.exited()).toEqual({ code: 7, signal: null });
    expect(await host.outputUntil('got-term')).toContain('got-term');
  });

  it('a command killed by a signal is reported as killed by that signal', async () => {
    const { ring2 } = await startWorkspace(host, 'echo ready; sleep 100');
    host.go('go', 1);
    await waitForOutput(host, 'ready');
    process.kill(ring2, 'SIGKILL');
    expect(await host.exited()).toEqual({ code: null, signal: 'SIGKILL' });
  });

  it('killing stage 1 takes stage 2 and everything in its pid namespace with it', async () => {
    const { ring1, ring2 } = await startWorkspace(host, 'sleep 100 & sleep 100');
    host.go('go', 1);
    await waitForOutput(host, '', () => childrenOf(ring2).length > 0);
    const inside = childrenOf(ring2);
    process.kill(ring1, 'SIGKILL');
    expect(await host.exited()).toEqual({ code: null, signal: 'SIGKILL' });
    await eventually(() => [ring2, ...inside].every((pid) => !alive(pid)));
  });
});

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}

function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

async function eventually(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

function waitForOutput(host: StageHost, text: string, cond?: () => boolean): Promise<void> {
  return eventually(() => host.output.includes(text) && (cond ? cond() : true));
}
