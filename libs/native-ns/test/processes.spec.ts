import { Socket } from 'node:net';
import { closeSync, openSync, readFileSync, readdirSync, readlinkSync, readSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { closeFd, createFs, peerCredentials, recvFds, sendFds, socketPair, spawnStage } from '../src';
import { collect, spawnCapturing, tempDir } from './helpers';
import { removeFixtureBundles, StageHost } from './stage-host';

const ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };

function zombieChildren(): number[] {
  const zombies: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z' && Number(fields[1]) === process.pid) zombies.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return zombies;
}

describe('fd passing', () => {
  const tmp = tempDir('fds');
  afterAll(tmp.cleanup);

  it('passes fds both ways over a unix socket, with the data', () => {
    const [a, b] = socketPair('seqpacket');
    const file = join(tmp.path, 'shared');
    const fd = openSync(file, 'w+');
    try {
      sendFds(a, Buffer.from('to b'), [fd]);
      const atB = recvFds(b);
      expect(atB.data.toString()).toBe('to b');
      expect(atB.fds).toHaveLength(1);
      writeSync(atB.fds[0]!, 'written through the passed fd');
      sendFds(b, Buffer.from('back to a'), [atB.fds[0]!]);
      const atA = recvFds(a);
      expect(atA.data.toString()).toBe('back to a');
      const buf = Buffer.alloc(64);
      const n = readSync(atA.fds[0]!, buf, 0, 64, 0);
      expect(buf.subarray(0, n).toString()).toBe('written through the passed fd');
      closeSync(atA.fds[0]!);
      closeSync(atB.fds[0]!);
    } finally {
      closeSync(fd);
      closeFd(a);
      closeFd(b);
    }
  });

  it('gives a stream pair deep buffers on request: 3 MiB go into the kernel with nobody reading', () => {
    const written = (bufferBytes?: number): number => {
      const [a, b] = socketPair('stream', bufferBytes);
      try {
        // a blocking fd would hang on a full buffer: count what one non-blocking writer gets in
        const sock = new Socket({ fd: a, readable: false, writable: true });
        sock.write(Buffer.alloc(3 * 1024 * 1024));
        const queuedHere = sock.writableLength;
        sock.destroy();
        return 3 * 1024 * 1024 - queuedHere;
      } finally {
        closeFd(b);
      }
    };
    expect(written(4 * 1024 * 1024)).toBe(3 * 1024 * 1024);
    expect(written()).toBeLessThan(3 * 1024 * 1024);
  });

  it('reads the peer credentials of a connected socket', () => {
    const [a, b] = socketPair('stream');
    try {
      expect(peerCredentials(a)).toEqual({ pid: process.pid, uid: 0, gid: 0 });
    } finally {
      closeFd(a);
      closeFd(b);
    }
  });

  it('a nested stage keeps nothing of its parent stage (no fd of it) and shows its own name', async () => {
    // the nested stage runs in a fork of its parent stage's helper, not a fresh exec: what the
    // parent held (here a root register on a folder, the parent's channel) must be gone
    const parentsDir = tempDir('parents-root');
    const [ours, theirs] = socketPair('stream');
    try {
      const stage = spawnStage({
        name: 'test:parent-stage',
        steps: [
          { op: 'openRoot', register: 1, path: parentsDir.path },
          {
            op: 'spawn',
            stage: {
              name: 'test:nested',
              steps: [{ op: 'wait', tag: 'look' }],
              fds: { 0: theirs, 1: theirs, 2: theirs },
              end: { exec: { argv: ['sh', '-c', 'ls /proc/self/fd | sort -n | tr "\\n" " "'], env: ENV } },
            },
          },
        ],
        end: 'waitChild',
      });
      closeFd(theirs);
      const output = collect(ours);
      const nested = stage.nested!;
      const { pid } = await nested.spawned();
      await nested.waitFor('look');
      const links = readdirSync(`/proc/${pid}/fd`).map((fd) => readlinkSync(`/proc/${pid}/fd/${fd}`));
      expect(links.filter((l) => l.startsWith(parentsDir.path))).toEqual([]);
      expect(links.filter((l) => l.startsWith('socket:'))).toHaveLength(2); // its channel, the capture socket
      expect(readFileSync(`/proc/${pid}/comm`, 'utf8')).toBe('test:nested\n');
      expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0]).toBe('test:nested');
      nested.go('look');
      expect(await stage.exited).toEqual({ code: 0, signal: null });
      // 0-2 the capture socket, 3 ls's own directory fd
      expect((await output).trim()).toBe('0 1 2 3');
    } finally {
      parentsDir.cleanup();
    }
  });

  it('a stage sees exactly the fds it was given, at the numbers asked for', async () => {
    const extra = openSync(join(tmp.path, 'extra'), 'w');
    const devNull = openSync('/dev/null', 'r');
    const tree = createFs('tmpfs', { options: 'size=1m' }); // sent to the stage for a step, not for the command
    try {
      const { stage, output } = spawnCapturing({
        namespaces: ['mount'],
        steps: [{ op: 'rslave' }, { op: 'mount', kind: 'fd', sourceFd: tree, target: '/mnt' }],
        fds: { 0: devNull, 7: extra },
        end: { exec: { argv: ['sh', '-c', 'ls /proc/self/fd | sort -n | tr "\\n" " "; echo; echo through-7 >&7'], env: ENV } },
      });
      await stage.ready;
      expect(await stage.exited).toEqual({ code: 0, signal: null });
      // 0 /dev/null, 1 and 2 the capture socket, 3 ls's own directory fd, 7 the extra file;
      // the tree fd used by the mount step and every fd of this Node process are gone
      expect((await output).trim()).toBe('0 1 2 3 7');
      expect(readFileSync(join(tmp.path, 'extra'), 'utf8')).toBe('through-7\n');
    } finally {
      closeSync(extra);
      closeSync(devNull);
      closeFd(tree);
    }
  });
});

describe('process lifetime', () => {
  afterAll(removeFixtureBundles);

  it('killing the parent kills a stage spawned with a parent-death signal', async () => {
    const host = new StageHost(0, 0);
    const pid = await host.spawn({ name: 'test:orphan', end: { exec: { argv: ['sleep', '100'], env: ENV } } });
    await host.next((e) => e.event === 'ready' && e.depth === 0);
    host.child.kill('SIGKILL');
    const until = Date.now() + 5000;
    let alive = true;
    while (alive && Date.now() < until) {
      try {
        alive = !/\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      } catch {
        alive = false;
      }
      if (alive) await new Promise((r) => setTimeout(r, 20));
    }
    expect(alive).toBe(false);
  });

  it('killing a stage kills its nested stage while that one still sets up (its parent-death signal)', async () => {
    // the nested stage waits at a step, reading its channel to this process, which stays open
    const stage = spawnStage({
      name: 'test:parent',
      steps: [{ op: 'spawn', stage: { name: 'test:nested', steps: [{ op: 'wait', tag: 'never' }], end: { exit: 0 } } }],
      end: 'waitChild',
    });
    const { pid } = await stage.nested!.spawned();
    await stage.nested!.waitFor('never');
    stage.kill('SIGKILL');
    expect(await stage.exited).toEqual({ code: null, signal: 'SIGKILL' });
    for (let i = 0; ; i++) {
      let gone: boolean;
      try {
        gone = /\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      } catch {
        gone = true;
      }
      if (gone) break;
      if (i > 500) throw new Error(`nested stage ${pid} outlived its parent`);
      await new Promise((r) => setTimeout(r, 10));
    }
  });

  it('a stage shows its stage name in ps, held or running', async () => {
    const stage = spawnStage({ name: 'wskit:test-name', hold: true, end: { exit: 0 } });
    try {
      // the held child names itself first thing after clone, which can come after spawnStage returns
      const comm = () => readFileSync(`/proc/${stage.pid}/comm`, 'utf8');
      for (let i = 0; i < 100 && comm() !== 'wskit:test-name\n'; i++) await new Promise((r) => setTimeout(r, 10));
      expect(comm()).toBe('wskit:test-name\n');
    } finally {
      stage.abort();
      await stage.exited;
    }
    // once exec'd into the helper, comm carries the name too
    const named = spawnStage({ name: 'wskit:named', steps: [{ op: 'wait', tag: 'x' }], end: { exit: 0 } });
    await named.waitFor('x');
    expect(readFileSync(`/proc/${named.pid}/comm`, 'utf8')).toBe('wskit:named\n');
    expect(readFileSync(`/proc/${named.pid}/cmdline`, 'utf8')).toBe('wskit:named\0');
    named.go('x');
    await named.exited;
  });

  it('leaves no zombie behind after many stages', async () => {
    const stages = Array.from({ length: 20 }, (_, i) => spawnStage({ end: { exec: { argv: ['sh', '-c', `exit ${i % 3}`], env: ENV } } }));
    const statuses = await Promise.all(stages.map((s) => s.exited));
    expect(statuses.map((s) => s.code)).toEqual(stages.map((_, i) => i % 3));
    expect(zombieChildren()).toEqual([]);
  });

  it('a stage can be signalled through its pidfd', async () => {
    const stage = spawnStage({ end: { exec: { argv: ['sleep', '100'], env: ENV } } });
    await stage.ready;
    stage.kill('SIGTERM');
    expect(await stage.exited).toEqual({ code: null, signal: 'SIGTERM' });
  });
});
