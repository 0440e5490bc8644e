import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SeccompSupervisor, spawnStage, type SeccompNotification } from '../src';
import { spawnCapturing, tempDir } from './helpers';

const ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' };

interface Observed {
  notification: SeccompNotification;
  source: string;
  target: string;
  fstype: string;
  validBefore: boolean;
}

/** Runs `script` with mount() sent to a supervisor that answers with `answer`. */
async function runSupervised(script: string, answer: (s: SeccompSupervisor, n: SeccompNotification) => void): Promise<{ output: string; seen: Observed[]; code: number | null }> {
  const { stage, output } = spawnCapturing({
    namespaces: ['mount'],
    steps: [{ op: 'rslave' }],
    seccomp: { notify: ['mount'], errno: { open_tree: 'EPERM' }, listenerTag: 'seccomp' },
    end: { exec: { argv: ['sh', '-c', script], env: ENV } },
  });
  const supervisor = new SeccompSupervisor(await stage.receiveFd('seccomp'));
  const seen: Observed[] = [];
  const handled = (async () => {
    for await (const n of supervisor) {
      const [source, target, fstype] = [0, 1, 2].map((i) => (n.args[i] ? supervisor.readString(n.pid, n.args[i]!) : ''));
      seen.push({ notification: n, source: source!, target: target!, fstype: fstype!, validBefore: supervisor.isValid(n.id) });
      answer(supervisor, n);
    }
  })();
  await stage.ready;
  const status = await stage.exited;
  await handled; // the stream ends once no filtered task is left
  supervisor.close();
  return { output: await output, seen, code: status.code };
}

describe('seccomp user notifications', () => {
  const tmp = tempDir('seccomp');
  afterAll(tmp.cleanup);

  it('delivers mount("proc", target, "proc") with its arguments decoded; EPERM reaches the caller', async () => {
    const dir = join(tmp.path, 'p1');
    mkdirSync(dir);
    const { output, seen, code } = await runSupervised(`mount -t proc proc ${dir}; echo rc=$?`, (s, n) => s.respondError(n.id, 'EPERM'));
    expect(code).toBe(0);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ source: 'proc', target: dir, fstype: 'proc', validBefore: true });
    expect(seen[0]!.notification.syscall).toBe('mount');
    expect(output).toMatch(/permission denied/i);
    expect(output).toContain('rc=32');
  });

  it('a faked success returns 0 to the caller and mounts nothing', async () => {
    const dir = join(tmp.path, 'p2');
    mkdirSync(dir);
    const { output, seen } = await runSupervised(`mount -t proc proc ${dir} && echo mounted; ls ${dir} | wc -l`, (s, n) => s.respondValue(n.id, 0));
    expect(seen).toHaveLength(1);
    expect(output.trim().split('\n')).toEqual(['mounted', '0']);
  });

  it('continue lets the kernel perform the mount', async () => {
    const dir = join(tmp.path, 'p3');
    mkdirSync(dir);
    const { output, seen } = await runSupervised(`mount -t proc proc ${dir} && test -e ${dir}/self/status && echo real-proc`, (s, n) => s.respondContinue(n.id));
    expect(seen).toHaveLength(1);
    expect(output.trim()).toBe('real-proc');
  });

  it('syscalls on the errno list fail without reaching the supervisor', async () => {
    // open_tree is answered EPERM by the filter itself; python is not needed: perl can call it
    const { output, seen } = await runSupervised(
      `perl -e 'my $p = "/"; syscall(428, -100, $p, 1) == -1 and print "errno=", $!+0, "\\n"'`,
      (s, n) => s.respondError(n.id, 'EIO'),
    );
    expect(seen).toHaveLength(0);
    expect(output.trim()).toBe('errno=1');
  });

  it('a caller that dies while waiting makes its notification invalid and answering it fails with ENOENT', async () => {
    const dir = join(tmp.path, 'p4');
    mkdirSync(dir);
    let answerError: unknown;
    const notified = join(tmp.path, 'p4-notified');
    // the shell kills the caller once the supervisor holds its notification (it says so in a file)
    const script = `mount -t proc proc ${dir} & for i in $(seq 500); do [ -e ${notified} ] && break; sleep 0.02; done; kill -9 $!; wait`;
    const { seen } = await runSupervised(script, (s, n) => {
      writeFileSync(notified, '');
      // the caller gets killed by the shell while we wait here
      const until = Date.now() + 5000;
      while (s.isValid(n.id) && Date.now() < until) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
      try {
        s.respondError(n.id, 'EPERM');
      } catch (err) {
        answerError = err;
      }
    });
    expect(seen).toHaveLength(1);
    expect(answerError).toMatchObject({ code: 'ENOENT', syscall: 'ioctl' });
  });

  it('an installSeccomp step installs the filter there: the listener comes while the stage waits, and the filter holds after the wait', async () => {
    const { stage, output } = spawnCapturing({
      namespaces: ['mount'],
      steps: [{ op: 'rslave' }, { op: 'installSeccomp' }, { op: 'wait', tag: 'go' }],
      seccomp: { notify: ['mount'], listenerTag: 'seccomp' },
      end: { exec: { argv: ['sh', '-c', 'mount -t tmpfs none /mnt 2>/dev/null; echo $?'], env: ENV } },
    });
    // the stage is blocked in its wait step, yet its listener is here
    await stage.waitFor('go');
    const supervisor = new SeccompSupervisor(await stage.receiveFd('seccomp'));
    const seen: string[] = [];
    const handled = (async () => {
      for await (const n of supervisor) {
        seen.push(n.syscall ?? String(n.nr));
        supervisor.respondError(n.id, 'EACCES');
      }
    })();
    stage.go('go');
    await stage.exited;
    await handled;
    supervisor.close();
    // mount(8) may try again after the refusal: every try reached the supervisor
    expect(seen.length).toBeGreaterThan(0);
    expect(new Set(seen)).toEqual(new Set(['mount']));
    expect((await output).trim()).not.toBe('0');
  });

  it('refuses an installSeccomp step in a stage without a seccomp policy', () => {
    expect(() => spawnStage({ steps: [{ op: 'installSeccomp' }], end: { exit: 0 } })).toThrow(/no seccomp policy/);
  });
});
