import { readFileSync, readdirSync, readlinkSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cloneTree, closeFd, runInNamespaces, spawnStage } from '../src';
import { spawnCapturing, tempDir } from './helpers';

const ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };

describe.each([
  ['a stage process', false],
  ['a thread of this process', true],
])('operations in another process\'s namespaces, from %s', (_how, fromThread) => {
  const tmp = tempDir('ns-ops');
  afterAll(tmp.cleanup);

  it('mkdir, attach a tree and open a tree out, inside the target mount namespace and root only', async () => {
    const base = join(tmp.path, 'target');
    mkdirSync(base);
    // the target: a process in its own mount namespace, waiting until we are done
    const { stage, output } = spawnCapturing({
      namespaces: ['mount'],
      steps: [{ op: 'rslave' }, { op: 'wait', tag: 'check' }],
      end: { exec: { argv: ['sh', '-c', `cat ${base}/made/inside/hello; grep -c " ${base}/made/inside " /proc/self/mountinfo`], env: ENV } },
    });
    await stage.waitFor('check');
    // a detached tree prepared here: a clone of a folder holding one file
    const scratch = join(tmp.path, 'scratch');
    mkdirSync(scratch);
    writeFileSync(join(scratch, 'hello'), 'from the daemon\n');
    const tree = cloneTree(scratch);
    const { trees } = await runInNamespaces(
      { pid: stage.pid, namespaces: ['mount'] },
      [
        { op: 'mkdir', path: `${base}/made/inside` },
        { op: 'attachTree', treeFd: tree, target: `${base}/made/inside` },
        { op: 'openTree', path: `${base}/made/inside` },
      ],
      { fromThread },
    );
    closeFd(tree);
    expect(trees).toHaveLength(1);
    closeFd(trees[0]!);
    stage.go('check');
    expect(await stage.exited).toEqual({ code: 0, signal: null });
    expect((await output).trim().split('\n')).toEqual(['from the daemon', '1']);
    // the directory was made in the shared filesystem, the mount stayed in the target's namespace
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(`${base}/made/inside`);
  });

  it('a failing operation rejects with the errno name and the path, inside a root the target may have changed', async () => {
    const stage = spawnStage({ namespaces: ['mount'], steps: [{ op: 'wait', tag: 'never' }], end: { exit: 0 } });
    await stage.waitFor('never');
    await expect(runInNamespaces({ pid: stage.pid, namespaces: ['mount'] }, [{ op: 'umount', path: '/definitely/not/here' }], { fromThread })).rejects.toMatchObject({
      code: 'ENOENT',
      syscall: 'openat2',
      path: '/definitely/not/here',
    });
    stage.abort();
    await stage.exited;
  });

  it('a pid that does not exist fails with ESRCH from pidfd_open', async () => {
    await expect(runInNamespaces({ pid: 2 ** 22 + 12345, namespaces: ['mount'] }, [], { fromThread })).rejects.toMatchObject({ code: 'ESRCH', syscall: 'pidfd_open' });
  });
});

describe('operations from a thread of this process (fromThread)', () => {
  it('joins from a thread of its own: every thread of this process stays in its namespaces, and a failure leaves no fd open', async () => {
    const nsOfThreads = () => readdirSync('/proc/self/task').map((t) => readlinkSync(`/proc/self/task/${t}/ns/mnt`));
    const ours = readlinkSync('/proc/self/ns/mnt');
    const stage = spawnStage({ namespaces: ['mount'], steps: [{ op: 'wait', tag: 'never' }], end: { exit: 0 } });
    await stage.waitFor('never');
    const theirs = readlinkSync(`/proc/${stage.pid}/ns/mnt`);
    expect(theirs).not.toBe(ours);
    const fds = readdirSync('/proc/self/fd').length;
    // the tree the first operation opened is closed when the second fails
    await expect(
      runInNamespaces(
        { pid: stage.pid, namespaces: ['mount'] },
        [
          { op: 'openTree', path: '/' },
          { op: 'setattr', path: '/definitely/not/here', propagation: 'private' },
        ],
        { fromThread: true },
      ),
    ).rejects.toMatchObject({ code: 'ENOENT', path: '/definitely/not/here', message: expect.stringContaining('operation 2 of 2, setattr') });
    expect(readdirSync('/proc/self/fd').length).toBe(fds);
    const { trees } = await runInNamespaces({ pid: stage.pid, namespaces: ['mount'] }, [{ op: 'openTree', path: '/' }], { fromThread: true });
    expect(trees).toHaveLength(1);
    closeFd(trees[0]!);
    expect(nsOfThreads().every((ns) => ns === ours)).toBe(true);
    stage.abort();
    await stage.exited;
  });

  it('refuses a user namespace: a multithreaded process cannot join one', async () => {
    await expect(runInNamespaces({ pid: process.pid, namespaces: ['user', 'mount'] }, [], { fromThread: true })).rejects.toThrow(/a thread can join only mount, net, uts, ipc namespaces, not user, mount/);
  });
});
