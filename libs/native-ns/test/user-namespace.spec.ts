import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeFd, idMapProblem, mount, NativeNsError, openPath, setMountAttr, socketPair, spawnHeldStage, spawnStage, umount, writeIdMap } from '../src';
import { collect, spawnCapturing, WORKSPACE_MAP } from './helpers';
import { removeFixtureBundles, StageHost } from './stage-host';

const SHELL_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };
const O_PATH = 0o10000000;

const isMountPointSync = (path: string): boolean => readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === path);

afterAll(removeFixtureBundles);

describe('a stage in a new user namespace', () => {
  it('is held until its two-range map is written, then sees uid 0 and exactly that map', async () => {
    // created by an unprivileged process (uid 33333), mapped by root: the production topology
    const host = new StageHost(33333, 33333);
    try {
      const pid = await host.spawn({
        name: 'test:userns',
        namespaces: ['user'],
        hold: true,
        end: { exec: { argv: ['sh', '-c', 'id -u; id -g; cat /proc/self/uid_map /proc/self/gid_map; echo END'], env: SHELL_ENV } },
      });
      // held: nothing ran yet, the map is still empty
      expect(host.output).toBe('');
      writeIdMap(pid, 'uid', WORKSPACE_MAP);
      writeIdMap(pid, 'gid', WORKSPACE_MAP);
      host.release();
      expect(await host.exited()).toEqual({ code: 0, signal: null });
      const lines = (await host.outputUntil('END')).trim().split('\n').map((l) => l.trim().split(/\s+/).join(' '));
      expect(lines).toEqual(['0', '0', '0 33333 1', '1 100000 65534', '0 33333 1', '1 100000 65534', 'END']);
    } finally {
      await host.close();
    }
  });

  it('refuses a second write of the same map with EPERM and leaves the first one', async () => {
    const stage = spawnStage({ namespaces: ['user'], hold: true, end: { exit: 0 } });
    writeIdMap(stage.pid, 'uid', WORKSPACE_MAP);
    let error: unknown;
    try {
      writeIdMap(stage.pid, 'uid', [{ containerId: 0, hostId: 0, size: 1 }]);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(NativeNsError);
    expect(error).toMatchObject({ code: 'EPERM', syscall: 'write', pid: stage.pid });
    stage.abort();
    expect((await stage.exited).code).toBe(127);
  });

  it('validates maps before writing: empty, empty range, overlap, bounds', () => {
    expect(idMapProblem([])).toBe('the map is empty');
    expect(idMapProblem([{ containerId: 0, hostId: 1, size: 0 }])).toMatch(/empty \(size 0\)/);
    expect(idMapProblem([{ containerId: 0, hostId: 100, size: 10 }, { containerId: 5, hostId: 200, size: 1 }])).toMatch(/overlap in container ids/);
    expect(idMapProblem([{ containerId: 0, hostId: 100, size: 10 }, { containerId: 20, hostId: 105, size: 1 }])).toMatch(/overlap in host ids/);
    expect(idMapProblem([{ containerId: 0, hostId: 0xfffffff0, size: 0x10 }])).toMatch(/upper bound/);
    expect(idMapProblem(WORKSPACE_MAP)).toBeNull();
  });

  it('rejects an invalid map with EINVAL without writing anything', async () => {
    const stage = spawnStage({ namespaces: ['user'], hold: true, end: { exit: 0 } });
    expect(() => writeIdMap(stage.pid, 'uid', [])).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'write' }));
    // nothing was written: a valid map still goes in
    writeIdMap(stage.pid, 'uid', WORKSPACE_MAP);
    stage.abort();
    await stage.exited;
  });
});

describe('a held stage created by host root in a workspace-mapped user namespace', () => {
  it('becomes root of the namespace at release and keeps its capabilities (it can mount)', async () => {
    // host root (uid 0) is not covered by 0 -> 33333: without becoming the namespace's root the
    // stage would exec as nobody and lose every capability
    const { stage, output } = spawnCapturing({
      namespaces: ['user', 'mount'],
      hold: true,
      steps: [{ op: 'rslave' }, { op: 'mount', kind: 'fs', fstype: 'tmpfs', target: '/mnt', options: 'size=1m' }],
      end: { exec: { argv: ['sh', '-c', 'id -u; id -g; grep -c " /mnt " /proc/self/mountinfo'], env: SHELL_ENV } },
    });
    writeIdMap(stage.pid, 'uid', WORKSPACE_MAP);
    writeIdMap(stage.pid, 'gid', WORKSPACE_MAP);
    stage.release();
    await stage.ready;
    expect(await stage.exited).toEqual({ code: 0, signal: null });
    expect((await output).trim().split('\n')).toEqual(['0', '0', '1']);
  });
});

describe('a held stage given its program at release (spawnHeldStage)', () => {
  it('runs what it gets at release, and a mount namespace it makes then copies mounts made while it was held', async () => {
    // a private mount point: what is mounted below it later reaches no namespace copied before
    const dir = mkdtempSync(join(tmpdir(), 'wsrun-held-'));
    mount({ kind: 'bind', source: dir, target: dir });
    const [ours, theirs] = socketPair('stream');
    try {
      const dirFd = openPath(dir, O_PATH);
      setMountAttr(dirFd, { propagation: 'private' });
      closeFd(dirFd);
      const stage = spawnHeldStage({ name: 'test:held', namespaces: ['user'] });
      mkdirSync(join(dir, 'late'));
      mount({ kind: 'fs', source: 'tmpfs', target: join(dir, 'late'), options: 'size=1m' });
      writeIdMap(stage.pid, 'uid', WORKSPACE_MAP);
      writeIdMap(stage.pid, 'gid', WORKSPACE_MAP);
      const output = collect(ours);
      stage.release({
        steps: [{ op: 'unshare', namespaces: ['mount'] }, { op: 'rslave' }, { op: 'mount', kind: 'fs', fstype: 'tmpfs', target: '/mnt', options: 'size=1m' }],
        fds: { 1: theirs, 2: theirs },
        end: { exec: { argv: ['sh', '-c', `id -u; grep -c " ${dir}/late " /proc/self/mountinfo; grep -c " /mnt " /proc/self/mountinfo`], env: SHELL_ENV } },
      });
      closeFd(theirs);
      expect(await stage.exited).toEqual({ code: 0, signal: null });
      // root of its namespace, saw the late mount, and could mount (its own namespace)
      expect((await output).trim().split('\n')).toEqual(['0', '1', '1']);
      expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toMatch(/ \/mnt .* tmpfs /);
    } finally {
      while (isMountPointSync(dir)) umount(dir, { detach: true });
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a release without a program, and a program for a stage spawned with one', async () => {
    const deferred = spawnHeldStage({ namespaces: ['user'] });
    expect(() => deferred.release()).toThrow(/spawned without a program/);
    deferred.abort();
    expect((await deferred.exited).code).toBe(127);
    const complete = spawnStage({ namespaces: ['user'], hold: true, end: { exit: 0 } });
    expect(() => complete.release({ end: { exit: 1 } })).toThrow(/spawned with its program/);
    complete.abort();
    expect((await complete.exited).code).toBe(127);
  });

  it('takes its program before the release (load) and runs it once released', async () => {
    const held = spawnHeldStage({ namespaces: ['user'] });
    held.load({ end: { exit: 7 } });
    expect(() => held.load({ end: { exit: 8 } })).toThrow(/already has its program/);
    // held until released, whatever it was given
    const early = await Promise.race([held.exited, new Promise((r) => setTimeout(() => r('still held'), 100))]);
    expect(early).toBe('still held');
    held.release();
    expect(await held.exited).toMatchObject({ code: 7 });
  });
});
