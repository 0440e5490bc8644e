import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnStage } from '../src';
import { spawnCapturing, tempDir } from './helpers';

const ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };

describe('pid and mount namespaces', () => {
  const tmp = tempDir('ns');
  afterAll(tmp.cleanup);

  it('a stage in a new pid namespace is pid 1 there', async () => {
    const { stage, output } = spawnCapturing({ namespaces: ['pid'], end: { exec: { argv: ['sh', '-c', 'echo $$'], env: ENV } } });
    await stage.ready;
    expect((await output).trim()).toBe('1');
    expect(await stage.exited).toEqual({ code: 0, signal: null });
  });

  it("mounts made in a new mount namespace are invisible outside", async () => {
    const dir = join(tmp.path, 'private-mount');
    mkdirSync(dir);
    const { stage, output } = spawnCapturing({
      namespaces: ['mount'],
      steps: [
        { op: 'rslave' },
        { op: 'mount', kind: 'fs', fstype: 'tmpfs', target: dir, options: 'size=1m' },
      ],
      end: { exec: { argv: ['sh', '-c', `touch ${dir}/inside && grep -c " ${dir} " /proc/self/mountinfo`], env: ENV } },
    });
    await stage.ready;
    expect((await output).trim()).toBe('1');
    expect(await stage.exited).toEqual({ code: 0, signal: null });
    // outside: no mount, and the file went to the tmpfs, not to the folder
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(` ${dir} `);
    expect(existsSync(join(dir, 'inside'))).toBe(false);
  });

  it('pivot_root into a prepared root works and the old root is gone', async () => {
    // a root holding only the host's /usr (bound read-only) and Debian's /bin, /lib links into it
    const root = join(tmp.path, 'newroot');
    mkdirSync(join(root, 'usr'), { recursive: true });
    for (const link of ['bin', 'lib', 'lib64', 'sbin']) symlinkSync(`usr/${link}`, join(root, link));
    writeFileSync(join(root, 'marker'), 'new root\n');
    const { stage, output } = spawnCapturing({
      namespaces: ['mount'],
      steps: [
        { op: 'rslave' },
        { op: 'mount', kind: 'rbind', source: '/usr', target: join(root, 'usr'), attr: ['rdonly'] },
        { op: 'pivotRoot', path: root },
      ],
      end: { exec: { argv: ['/bin/sh', '-c', 'echo $PWD; cat /marker; ls /; test -e /work && echo old-root-visible || echo old-root-gone'], env: ENV } },
    });
    await stage.ready;
    const out = await output;
    expect(await stage.exited).toEqual({ code: 0, signal: null });
    expect(out.trim().split('\n')).toEqual(['/', 'new root', 'bin', 'lib', 'lib64', 'marker', 'sbin', 'usr', 'old-root-gone']);
    // and outside nothing changed: the bind of /usr lived in the stage's namespace only
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(` ${join(root, 'usr')} `);
  });
});

describe('stage failures', () => {
  it('report the failing step with errno name, syscall and path', async () => {
    const stage = spawnStage({
      namespaces: ['mount'],
      steps: [{ op: 'mount', kind: 'bind', source: '/does/not/exist', target: '/tmp' }],
      end: { exit: 0 },
    });
    await expect(stage.ready).rejects.toMatchObject({
      name: 'NativeNsError',
      code: 'ENOENT',
      syscall: 'open_tree',
      path: '/does/not/exist',
      step: expect.stringContaining('mount bind /does/not/exist on /tmp'),
    });
    expect((await stage.exited).code).toBe(125);
  });

  it('a missing optional bind source is skipped and reported', async () => {
    const stage = spawnStage({
      namespaces: ['mount'],
      steps: [{ op: 'rslave' }, { op: 'mount', kind: 'bind', source: '/does/not/exist', target: '/tmp', optional: true }],
      end: { exit: 0 },
    });
    await stage.ready;
    expect(stage.notices).toEqual(['skipped: /does/not/exist does not exist']);
    expect((await stage.exited).code).toBe(0);
  });

  it('an exec of a missing command fails with ENOENT on execve', async () => {
    const stage = spawnStage({ end: { exec: { argv: ['/no/such/command'] } } });
    await expect(stage.ready).rejects.toMatchObject({ code: 'ENOENT', syscall: 'execve', path: '/no/such/command' });
    expect((await stage.exited).code).toBe(127);
  });

  it('a waiter has started (forwards signals) while its ready is still pending; a TERM then ends its command', async () => {
    const stage = spawnStage({
      steps: [{ op: 'spawn', stage: { name: 'inner', end: { exec: { argv: ['sleep', '100'] } } } }],
      end: 'waitChild',
    });
    let ready = false;
    void stage.ready.then(() => (ready = true));
    await stage.whenStarted();
    expect(ready).toBe(false);
    stage.kill('SIGTERM');
    // the waiter passed it on and died of the same signal as its command
    expect(await stage.exited).toEqual({ code: null, signal: 'SIGTERM' });
  });

  it('a stage killed before it read its program is reported as gone, not as a socket error', async () => {
    // the program (with the nested stage's channel in it) is unread when the stage dies: the
    // kernel resets the channel, which libuv reports as a poll error. A held stage execs at once
    // and reads whatever comes: stopped first, it cannot read what release sends
    for (let i = 0; i < 10; i++) {
      const stage = spawnStage({ hold: true, steps: [{ op: 'spawn', stage: { name: 'inner', end: { exec: { argv: ['/bin/true'] } } } }], end: 'waitChild' });
      process.kill(stage.pid, 'SIGSTOP');
      await untilStopped(stage.pid);
      stage.release();
      process.kill(stage.pid, 'SIGKILL');
      await expect(stage.ready).rejects.toMatchObject({ code: 'ECHILD', message: expect.stringContaining('went away before it finished setting up') });
      expect(await stage.exited).toEqual({ code: null, signal: 'SIGKILL' });
    }
  });

  it('whenStarted rejects for a stage that failed before its end', async () => {
    const stage = spawnStage({ steps: [{ op: 'mkdir', path: '/proc/no-such-dir/x' }], end: { exit: 0 } });
    await expect(stage.whenStarted()).rejects.toMatchObject({ code: 'ENOENT', syscall: expect.any(String) });
    await stage.exited;
  });

  it('creating a user namespace as an unmapped user fails in clone3 with EPERM', async () => {
    // the outer stage's map is never written: it is uid 65534 there, and the kernel refuses to
    // let an unmapped user own a namespace
    const stage = spawnStage({
      namespaces: ['user'],
      steps: [{ op: 'spawn', stage: { name: 'inner', namespaces: ['user'], end: { exit: 0 } } }],
      end: 'waitChild',
    });
    await expect(stage.ready).rejects.toMatchObject({ code: 'EPERM', syscall: 'clone3', step: expect.stringContaining('spawn inner') });
    expect((await stage.exited).code).toBe(125);
  });
});

/** Resolves once the process is in the stopped state (T in /proc/<pid>/stat). */
async function untilStopped(pid: number): Promise<void> {
  // the state follows the last ')': a comm may hold spaces and parentheses
  const state = () => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').pop()!.slice(0, 1);
  while (state() !== 'T') await new Promise((r) => setTimeout(r, 1));
}
