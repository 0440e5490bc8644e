import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startRing0, until, WorkspaceNode } from './support/workspace-node';

/** Every process whose ancestry leads to pid (pid included), with its command name. */
function processTree(pid: number): { pid: number; comm: string }[] {
  const out: { pid: number; comm: string }[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift()!;
    try {
      out.push({ pid: p, comm: readFileSync(`/proc/${p}/comm`, 'utf8').trim() });
      for (const tid of readdirSync(`/proc/${p}/task`)) {
        queue.push(...readFileSync(`/proc/${p}/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
      }
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

const alive = (pid: number) => {
  try {
    return !/\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

describe('workspacekit ring0 on a real daemon', () => {
  const ids = ['kit-a', 'kit-b', 'kit-c', 'kit-d', 'kit-e', 'kit-f', 'kit-g', 'kit-h', 'kit-i', 'kit-j'];
  const node = new WorkspaceNode([...ids, 'kit-initializing'], { 'kit-initializing': 'initializing' });
  let next = 0;
  const take = () => ids[next++]!;

  beforeAll(() => node.start(), 30_000);
  afterAll(() => node.stop());

  // prepared by this ring0, and no longer: Teardown ran
  const tornDown = (id: string) => node.runtime(id)?.prepared === false && node.runtime(id)?.tornDown === true;

  it('runs the command as root in its own user and pid namespace, with exactly one Node process', async () => {
    const id = take();
    // the command runs until the test has looked at the process tree
    const run = startRing0(node.socket(id), ['sh', '-c', 'id -u; cat /proc/self/uid_map; echo $$; echo ready; while [ ! -e /workspace/go ]; do sleep 0.05; done']);
    await until(() => run.output().includes('ready'), 'the command');
    const tree = processTree(run.child.pid!);
    writeFileSync(join(node.contentDir(id), 'go'), '');
    expect(tree.filter((p) => p.comm.startsWith('node') || p.comm === 'MainThread').map((p) => p.pid)).toEqual([run.child.pid]);
    expect(tree.map((p) => p.comm)).toEqual(expect.arrayContaining(['wskit:ring1', 'sh']));
    expect(await run.exited).toEqual({ code: 0, signal: null });
    const lines = run.output().trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
    expect(lines.slice(0, 4)).toEqual(['0', '0 33333 1', '1 100000 65536', '1']);
    expect(tornDown(id)).toBe(true);
  });

  it('runs under a profiler: the profiler\'s own SIGPROF samples are not passed on to the workspace', async () => {
    const id = take();
    const profiles = mkdtempSync(join(tmpdir(), 'wskit-prof-'));
    chmodSync(profiles, 0o777);
    try {
      // a command that lives long enough for many samples (every 1 ms) to be taken
      const run = startRing0(node.socket(id), ['sh', '-c', 'sleep 0.3; echo survived'], { nodeArgs: ['--cpu-prof', '--cpu-prof-interval=1000', `--cpu-prof-dir=${profiles}`] });
      expect(await run.exited).toEqual({ code: 0, signal: null });
      expect(run.output()).toContain('survived');
      expect(readdirSync(profiles).some((f) => f.endsWith('.cpuprofile'))).toBe(true);
    } finally {
      rmSync(profiles, { recursive: true, force: true });
    }
  });

  it('a command that does not exist: says so, with how ring1 ended, and tears the workspace down', async () => {
    const id = take();
    const run = startRing0(node.socket(id), ['/no/such/command']);
    // as in a shell or docker: 127 for a command not found
    expect(await run.exited).toEqual({ code: 127, signal: null });
    expect(run.output()).toContain('workspacekit: wskit:ring2: setting up the command: execve /no/such/command: ENOENT (ring1 exited with code 127)');
    expect(tornDown(id)).toBe(true);
  });

  it('a workspace that is not ready: says so, and leaves no id map behind (its maps went in while PrepareForUserNS ran)', async () => {
    const run = startRing0(node.socket('kit-initializing'), ['/bin/true']);
    expect(await run.exited).toEqual({ code: 1, signal: null });
    expect(run.output()).toContain('workspacekit: PrepareForUserNS: workspace kit-initializing is initializing, not ready to start');
    // ring1's maps, written right behind the refused PrepareForUserNS, were undone by Teardown:
    // otherwise the next start would find them "already written"
    expect(node.runtime('kit-initializing')?.idMapWritten ?? { uid: false, gid: false }).toEqual({ uid: false, gid: false });
  });

  it('passes exit code 42 through every ring', async () => {
    const id = take();
    const run = startRing0(node.socket(id), ['sh', '-c', 'exit 42']);
    expect(await run.exited).toEqual({ code: 42, signal: null });
    expect(tornDown(id)).toBe(true);
  });

  it('mounts proc through the daemon on request, and refuses to unmount a mask', async () => {
    const id = take();
    const run = startRing0(node.socket(id), [
      'sh',
      '-c',
      [
        'mkdir -p /tmp/p && mount -t proc proc /tmp/p && echo mount=ok || echo mount=failed',
        'echo pids=$(ls /tmp/p | grep -E "^[0-9]+$" | sort -n | tr "\\n" " ")',
        'echo kallsyms-bytes=$(cat /tmp/p/kallsyms | wc -c)',
        'umount /proc/kallsyms; echo umount-mask=$?',
        'umount /tmp/p/kallsyms 2>&1; echo umount-later-mask=$?',
        'umount /tmp/p && echo umount-proc=ok',
        'test -e /tmp/p/self && echo still-there || echo gone',
      ].join('; '),
    ]);
    expect(await run.exited).toEqual({ code: 0, signal: null });
    const out = run.output();
    expect(out).toContain('mount=ok');
    expect(Math.max(...(/pids=([\d ]+)/.exec(out)![1]!.trim().split(' ').map(Number)))).toBeLessThan(20);
    expect(out).toContain('kallsyms-bytes=0');
    // EPERM, which util-linux words as "must be superuser"
    expect(out).toMatch(/umount: \/proc\/kallsyms: must be superuser/);
    expect(out).toMatch(/umount: \/tmp\/p\/kallsyms: must be superuser/);
    expect(out).toContain('umount-mask=32');
    expect(out).toContain('umount-proc=ok');
    expect(out).toContain('gone');
  });

  it('SIGTERM reaches a command that traps it, and it exits cleanly', async () => {
    const id = take();
    const run = startRing0(node.socket(id), ['sh', '-c', 'trap "echo got-term; sleep 1; exit 0" TERM; echo ready; while :; do sleep 0.1; done']);
    await until(() => run.output().includes('ready'), 'the command');
    run.child.kill('SIGTERM');
    expect(await run.exited).toEqual({ code: 0, signal: null });
    expect(run.output()).toContain('got-term');
    expect(tornDown(id)).toBe(true);
  });

  it('a command that ignores SIGTERM is killed after the grace period', async () => {
    const id = take();
    const run = startRing0(node.socket(id), ['sh', '-c', 'trap "" TERM; echo ready; while :; do sleep 0.1; done'], { grace: '1s' });
    await until(() => run.output().includes('ready'), 'the command');
    run.child.kill('SIGTERM');
    expect(await run.exited).toEqual({ code: 137, signal: null });
    expect(tornDown(id)).toBe(true);
  });

  it('kill -9 of ring0 leaves no process of the workspace alive, and the daemon tears it down', async () => {
    const id = take();
    const run = startRing0(node.socket(id), ['sh', '-c', 'sleep 100 & sleep 100 & echo ready; wait']);
    await until(() => run.output().includes('ready'), 'the command');
    const workspace = processTree(run.child.pid!).map((p) => p.pid);
    expect(workspace.length).toBeGreaterThanOrEqual(5); // ring0, ring1, ring2 (sh), two sleeps
    run.child.kill('SIGKILL');
    await run.exited;
    await until(() => workspace.every((p) => !alive(p)), 'every process of the workspace to end');
    await until(() => tornDown(id), 'the daemon to tear the workspace down');
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(` ${node.workspaceDir(id)}/mark `);
  });

  it('an image whose /workspace is a symlink to /etc gets the bind on its own /etc, never the node\'s', async () => {
    const id = take();
    const upper = join(node.workspaceDir(id), 'rootfs/root/upper');
    mkdirSync(upper, { recursive: true });
    chownSync(upper, 33333, 33333);
    symlinkSync('/etc', join(upper, 'workspace'));
    execFileSync('sh', ['-c', `echo from-content > ${node.contentDir(id)}/marker.txt`]);
    const run = startRing0(node.socket(id), ['sh', '-c', 'cat /etc/marker.txt; echo hacked >> /etc/passwd; touch /usr/bin/wsrun-kit-x; cat /etc/shadow | head -1']);
    expect(await run.exited).toEqual({ code: 0, signal: null });
    expect(run.output()).toContain('from-content');
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toMatch(/ \/etc rw/);
    expect(existsSync('/etc/marker.txt')).toBe(false);
    expect(readFileSync('/etc/passwd', 'utf8')).not.toContain('hacked');
    expect(existsSync('/usr/bin/wsrun-kit-x')).toBe(false);
    expect(run.output()).not.toContain(readFileSync('/etc/shadow', 'utf8').split('\n')[0]);
  });
});
