import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeFd, idMapProblem, mount, NativeNsError, openPath, setMountAttr, socketPair, spawnHeldStage, spawnStage, StageExit, umount, writeIdMap } from '../src';
import { collect, spawnCapturing, WORKSPACE_MAP } from './helpers';
import { NATIVE_DIR, removeFixtureBundles, StageHost } from './stage-host';

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
    expect((await stage.exited).code).toBe(StageExit.ABORTED);
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
    expect((await deferred.exited).code).toBe(StageExit.ABORTED);
    const complete = spawnStage({ namespaces: ['user'], hold: true, end: { exit: 0 } });
    expect(() => complete.release({ end: { exit: 1 } })).toThrow(/spawned with its program/);
    complete.abort();
    expect((await complete.exited).code).toBe(StageExit.ABORTED);
  });
});

/** The capability lines of /proc/<pid>/status, e.g. { CapEff: '000001ffffffffff', ... }. */
function capabilities(status: string): Record<string, string> {
  return Object.fromEntries([...status.matchAll(/^(Cap\w+):\s+([0-9a-f]+)$/gm)].map((m) => [m[1]!, m[2]!]));
}

/** Every capability of this kernel, as /proc/<pid>/status shows it: what a new user namespace's
 * root has there. */
const allCapabilities = (): string => {
  const last = BigInt(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim());
  return ((BigInt(1) << (last + BigInt(1))) - BigInt(1)).toString(16).padStart(16, '0');
};

async function until(what: string, pred: () => boolean): Promise<void> {
  for (let i = 0; !pred(); i++) {
    if (i > 2000) throw new Error(`gave up waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const isGone = (pid: number): boolean => {
  try {
    return /\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
};

describe('a held stage given its program ahead of its release (setProgram)', () => {
  it('runs it at release, and refuses a second program', async () => {
    const stage = spawnHeldStage({ name: 'test:ahead', namespaces: ['user'] });
    const [ours, theirs] = socketPair('stream');
    const output = collect(ours);
    stage.setProgram({ fds: { 1: theirs, 2: theirs }, end: { exec: { argv: ['sh', '-c', 'id -u'], env: SHELL_ENV } } });
    expect(() => stage.setProgram({ end: { exit: 1 } })).toThrow(/has its program already/);
    expect(() => stage.release({ end: { exit: 1 } })).toThrow(/spawned with its program/);
    writeIdMap(stage.pid, 'uid', WORKSPACE_MAP);
    writeIdMap(stage.pid, 'gid', WORKSPACE_MAP);
    stage.release();
    closeFd(theirs);
    expect(await stage.exited).toEqual({ code: 0, signal: null });
    expect((await output).trim()).toBe('0');
  });

  it('closes what the unsent program holds (a nested stage\'s channel) when the stage ends unreleased', async () => {
    const openFds = () => readdirSync('/proc/self/fd').length;
    const before = openFds();
    const stage = spawnHeldStage({ namespaces: ['user'] });
    stage.setProgram({ steps: [{ op: 'spawn', stage: { name: 'test:inner', end: { exit: 0 } } }], end: 'waitChild' });
    expect(openFds()).toBeGreaterThan(before);
    stage.abort();
    expect((await stage.exited).code).toBe(StageExit.ABORTED);
    await stage.ready.catch(() => undefined);
    expect(openFds()).toBe(before);
  });
});

describe('a held stage in a new user namespace execs the helper at once', () => {
  it('runs the helper before its maps are written, and after them is root with full capabilities and empty ambient and inheritable sets', async () => {
    const host = new StageHost(33333, 33333);
    try {
      const pid = await host.spawn({
        name: 'test:early',
        namespaces: ['user'],
        hold: true,
        end: { exec: { argv: ['sh', '-c', 'id -u; grep ^Cap /proc/self/status; echo END'], env: SHELL_ENV } },
      });
      // held, unmapped: already the helper, carrying its capabilities in the ambient set
      const helper = join(NATIVE_DIR, 'wsrun-stage');
      await until('the held stage exec\'d the helper', () => readlinkSync(`/proc/${pid}/exe`) === helper);
      const held = readFileSync(`/proc/${pid}/status`, 'utf8');
      expect(held).toMatch(/^Uid:\s+33333\s+33333\s+33333\s+33333$/m);
      expect(capabilities(held)['CapAmb']).not.toBe('0000000000000000');
      expect(readFileSync(`/proc/${pid}/uid_map`, 'utf8')).toBe('');
      writeIdMap(pid, 'uid', WORKSPACE_MAP);
      writeIdMap(pid, 'gid', WORKSPACE_MAP);
      host.release();
      expect(await host.exited()).toEqual({ code: 0, signal: null });
      const lines = (await host.outputUntil('END')).trim().split('\n');
      expect(lines[0]).toBe('0');
      const caps = capabilities(lines.join('\n'));
      expect(caps).toMatchObject({ CapInh: '0000000000000000', CapAmb: '0000000000000000', CapPrm: allCapabilities(), CapEff: allCapabilities() });
    } finally {
      await host.close();
    }
  });

  it('leaks no capability into a command that runs as a non-root user', async () => {
    // the ambient set that carried the capabilities across the early exec must not survive into
    // a command that drops to an ordinary uid: it would keep every capability of the namespace
    const { stage, output } = spawnCapturing({
      namespaces: ['user'],
      hold: true,
      uid: 1000,
      gid: 1000,
      groups: [],
      end: { exec: { argv: ['sh', '-c', 'id -u; grep ^Cap /proc/self/status'], env: SHELL_ENV } },
    });
    writeIdMap(stage.pid, 'uid', WORKSPACE_MAP);
    writeIdMap(stage.pid, 'gid', WORKSPACE_MAP);
    stage.release();
    expect(await stage.exited).toEqual({ code: 0, signal: null });
    const lines = (await output).trim().split('\n');
    expect(lines[0]).toBe('1000');
    expect(capabilities(lines.join('\n'))).toMatchObject({ CapInh: '0000000000000000', CapPrm: '0000000000000000', CapEff: '0000000000000000', CapAmb: '0000000000000000' });
  });

  it('dies with its parent while held', async () => {
    const host = new StageHost(33333, 33333);
    try {
      const pid = await host.spawn({ name: 'test:held-orphan', namespaces: ['user'], hold: true, end: { exit: 0 } });
      await until('the held stage exec\'d the helper', () => readlinkSync(`/proc/${pid}/exe`).endsWith('/wsrun-stage'));
      host.child.kill('SIGKILL');
      await until('the held stage died with its parent', () => isGone(pid));
    } finally {
      await host.close();
    }
  });

  it('dies with its parent after becoming root, also where that changed its uid on the node', async () => {
    // a parent that is host root: 0 -> 33333 on the node clears the parent-death signal, which
    // the helper sets again. As a waiter the stage no longer reads its channel: only that signal
    // can end it when the parent dies
    const host = new StageHost(0, 0);
    try {
      const pid = await host.spawn({
        name: 'test:root-orphan',
        namespaces: ['user'],
        hold: true,
        steps: [{ op: 'spawn', stage: { name: 'test:inner', end: { exec: { argv: ['sleep', '100'], env: SHELL_ENV } } } }],
        end: 'waitChild',
      });
      await until('the held stage exec\'d the helper', () => readlinkSync(`/proc/${pid}/exe`).endsWith('/wsrun-stage'));
      writeIdMap(pid, 'uid', WORKSPACE_MAP);
      writeIdMap(pid, 'gid', WORKSPACE_MAP);
      host.release();
      await until('the stage waits for its nested stage', () => readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim() !== '');
      expect(readFileSync(`/proc/${pid}/status`, 'utf8')).toMatch(/^Uid:\s+33333\s+33333\s+33333\s+33333$/m);
      host.child.kill('SIGKILL');
      await until('the released stage died with its parent', () => isGone(pid));
    } finally {
      await host.close();
    }
  });
});
