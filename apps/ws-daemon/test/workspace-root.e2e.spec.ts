import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { DaemonHarness } from './support/daemon-harness';
import { removeRing0Bundle, Ring0Process } from './support/ring0-process';
import { outputContains, startRings } from './support/workspace-rings';

/**
 * The workspace's own root filesystem and the proc/sysfs the daemon delivers into it, exercised
 * by root inside a real user namespace (ring1 mapped 0 -> 33333, ring2 pivoted into the mark).
 */
describe('a workspace on its own root', () => {
  const harness = new DaemonHarness();
  let r0: Ring0Process;
  let n = 0;

  beforeAll(() => harness.start(), 60_000);
  afterEach(async () => {
    await r0?.close();
  });
  afterAll(async () => {
    await harness.stop();
    removeRing0Bundle();
  });

  async function newWorkspace(): Promise<{ id: string; socket: string }> {
    const id = `root-${++n}`;
    const socket = await harness.workspace(id);
    r0 = new Ring0Process(socket);
    return { id, socket };
  }

  it('root inside writes /etc/passwd and /usr into its own layer; the node is untouched and its /etc/shadow unreachable', async () => {
    const { id } = await newWorkspace();
    const passwdBefore = readFileSync('/etc/passwd', 'utf8');
    const shadowFirstLine = readFileSync('/etc/shadow', 'utf8').split('\n')[0]!;
    const { prepared } = await startRings(
      r0,
      'id -u; echo "intruder:x:0:0::/:/bin/sh" >> /etc/passwd && echo passwd-written; touch /usr/bin/wsrun-x && echo usr-written; cat /etc/shadow; echo end',
    );
    expect(prepared.rootShift).toBe(1); // ROOT_SHIFT_IDMAPPED
    await r0.go('go', 1);
    expect(await r0.exited()).toEqual({ code: 0, signal: null });
    const out = await r0.outputUntil('end');
    expect(out.split('\n')[0]).toBe('0');
    expect(out).toContain('passwd-written');
    expect(out).toContain('usr-written');
    // the image's shadow holds locked entries only; nothing of the node's
    expect(out).toContain('root:*:');
    expect(out).not.toContain(shadowFirstLine);
    expect(readFileSync('/etc/passwd', 'utf8')).toBe(passwdBefore);
    expect(existsSync('/usr/bin/wsrun-x')).toBe(false);
    const layers = join(harness.registry.layout(id).rootfsLayers);
    expect(readFileSync(join(layers, 'root/upper/etc/passwd'), 'utf8')).toContain('intruder:x:0:0');
    expect(existsSync(join(layers, 'usr/upper/bin/wsrun-x'))).toBe(true);
  });

  it('proc shows only the workspace\'s processes, its masks hold, and root inside cannot undo them', async () => {
    const { id } = await newWorkspace();
    await startRings(
      r0,
      [
        'echo pids=$(ls /proc | grep -E "^[0-9]+$" | sort -n | tr "\\n" " ")',
        'echo kallsyms-bytes=$(cat /proc/kallsyms | wc -c)',
        'echo keys-bytes=$(cat /proc/keys | wc -c)',
        'umount /proc/kallsyms 2>/dev/null && echo umount-mask=done || echo umount-mask=refused',
        'umount -l /proc/timer_list 2>/dev/null && echo detach-mask=done || echo detach-mask=refused',
        'mkdir -p /tmp/away; mount --move /proc/keys /tmp/away 2>/dev/null && echo move-mask=done || echo move-mask=refused',
        'mount -o remount,rw /proc/sys 2>/dev/null && echo remount-sys=done || echo remount-sys=refused',
        'mount -o remount,bind,rw /proc/sys 2>/dev/null && echo rebind-sys=done || echo rebind-sys=refused',
        'mkdir -p /tmp/p2; mount -t proc proc /tmp/p2 2>/dev/null && echo fresh-proc=done || echo fresh-proc=refused',
        'echo end',
      ].join('; '),
    );
    // /proc of ring2 came through a propagation point of its own: nothing of it stays mounted on
    // the node, neither at the point nor below the mark
    const layout = harness.registry.layout(id);
    const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
    expect(mountinfo).not.toContain(` ${layout.mark}/proc `);
    expect(mountinfo).not.toContain(layout.propagationDir);
    expect(readdirSync(layout.propagationDir)).toHaveLength(1);
    await r0.go('go', 1);
    expect(await r0.exited()).toEqual({ code: 0, signal: null });
    const out = await r0.outputUntil('end');
    const pids = /pids=([\d ]+)/.exec(out)![1]!.trim().split(' ').map(Number);
    expect(pids[0]).toBe(1);
    expect(Math.max(...pids)).toBeLessThan(20);
    expect(out).toContain('kallsyms-bytes=0');
    expect(out).toContain('keys-bytes=0');
    for (const attack of ['umount-mask', 'detach-mask', 'move-mask', 'remount-sys', 'rebind-sys', 'fresh-proc']) {
      expect(out).toContain(`${attack}=refused`);
    }
  });

  it('a proc mounted later on request is masked and locked too, and UmountProc takes it away', async () => {
    const { id } = await newWorkspace();
    const { ring2 } = await startRings(
      r0,
      [
        'mkdir -p /tmp/later; echo ready-for-later',
        'for i in $(seq 1500); do test -e /tmp/later/self/status && break; sleep 0.02; done',
        'echo later-kallsyms-bytes=$(cat /tmp/later/kallsyms | wc -c)',
        'umount /tmp/later/kallsyms 2>/dev/null && echo umount-mask=done || echo umount-mask=refused',
        'mount -o remount,rw /tmp/later/sys 2>/dev/null && echo remount-sys=done || echo remount-sys=refused',
        'mkdir -p /tmp/p3; mount -t proc proc /tmp/p3 2>/dev/null && echo fresh-proc=done || echo fresh-proc=refused',
        'echo attacks-done',
        // the test says when UmountProc returned: ring2 lives until then, whatever the mount does
        'for i in $(seq 1500); do test -e /workspace/umounted && break; sleep 0.02; done',
        'test -e /tmp/later/self/status && echo later=still-there || echo later=gone',
      ].join('; '),
    );
    await r0.go('go', 1);
    await outputContains(r0, 'ready-for-later');
    expect(await r0.rpc('mountProc', { target: '/tmp/later', pid: ring2 })).toEqual({ ok: {} });
    // a propagation point each: ring2's /proc at the start, this one
    expect(readdirSync(harness.registry.layout(id).propagationDir)).toHaveLength(2);
    await outputContains(r0, 'attacks-done');
    const umounted = await r0.rpc('umountProc', { target: '/tmp/later', pid: ring2 });
    expect({ ...umounted, output: umounted.error ? r0.output : '' }).toEqual({ ok: {}, output: '' });
    writeFileSync(join(harness.registry.layout(id).content, 'umounted'), '');
    expect(await r0.exited()).toEqual({ code: 0, signal: null });
    const out = await r0.outputUntil('later=gone');
    expect(out).toContain('later-kallsyms-bytes=0');
    expect(out).toContain('umount-mask=refused');
    expect(out).toContain('remount-sys=refused');
    expect(out).toContain('fresh-proc=refused');
    expect(out).toContain('later=gone');
    // nothing is mounted there any more: a second UmountProc says so
  });

  it('the start\'s own /proc stays the only one delivered from a daemon thread: unmounting it does not make the next ask look like ring0\'s', async () => {
    // a thread blocked on a FUSE mount of the workspace could never be stopped: only ring0's ask
    // at the start (ring0ProcAsked unset) goes through a thread, whatever a workspace process asks
    // later through a stage that can be killed; the mark stays until Teardown
    const { id } = await newWorkspace();
    const { ring2 } = await startRings(r0, 'mkdir -p /tmp/again; echo ready; for i in $(seq 1500); do test -e /workspace/done && break; sleep 0.02; done; test -e /tmp/again/self/status && echo again=mounted');
    await r0.go('go', 1);
    await outputContains(r0, 'ready');
    expect(harness.registry.get(id).ring0ProcAsked).toBe(true);
    expect(await r0.rpc('umountProc', { target: '/proc', pid: ring2 })).toEqual({ ok: {} });
    expect(harness.registry.get(id)).toMatchObject({ procMounts: [], ring0ProcAsked: true });
    expect(await r0.rpc('mountProc', { target: '/tmp/again', pid: ring2 })).toEqual({ ok: {} });
    writeFileSync(join(harness.registry.layout(id).content, 'done'), '');
    expect(await r0.exited()).toEqual({ code: 0, signal: null });
    expect(await r0.outputUntil('again=mounted')).toContain('again=mounted');
    expect(await r0.rpc('teardown', {})).toEqual({ ok: { success: true } });
    expect(harness.registry.get(id).ring0ProcAsked).toBeUndefined();
  });

  it('a folder of the root that the rings covered with a private bind: proc arrives on the bind, masked and locked, and nothing stays hidden below it', async () => {
    const { id } = await newWorkspace();
    const { ring2 } = await startRings(
      r0,
      [
        // the same folder of the root, seen through a mount the mark does not propagate into
        'mkdir -p /mnt/p; mount --bind /mnt /mnt; mount --make-private /mnt; echo ready-for-p',
        'for i in $(seq 1500); do test -e /mnt/p/self/status && break; sleep 0.02; done',
        'echo p-kallsyms-bytes=$(cat /mnt/p/kallsyms | wc -c)',
        'umount /mnt/p/kallsyms 2>/dev/null && echo umount-mask=done || echo umount-mask=refused',
        'echo procs-at-p=$(grep -c " /mnt/p .* - proc " /mnt/p/self/mountinfo)',
        'echo end',
      ].join('; '),
      // this is the start's first proc mount
      { mountProc: false },
    );
    await r0.go('go', 1);
    await outputContains(r0, 'ready-for-p');
    expect(await r0.rpc('mountProc', { target: '/mnt/p', pid: ring2 })).toEqual({ ok: {} });
    expect(await r0.exited()).toEqual({ code: 0, signal: null });
    const out = await r0.outputUntil('end');
    expect(out).toContain('p-kallsyms-bytes=0');
    expect(out).toContain('umount-mask=refused');
    // exactly one proc at /mnt/p, and none below the bind
    expect(out).toContain('procs-at-p=1');
    expect(readdirSync(harness.registry.layout(id).propagationDir)).toHaveLength(1);
  });

  it('a target that is a symlink out of the workspace root is resolved inside it', async () => {
    const { id } = await newWorkspace();
    // the workspace's own layer holds /escape -> /tmp/outside-target (an absolute link)
    const upper = join(harness.registry.layout(id).rootfsLayers, 'root/upper');
    mkdirSync(upper, { recursive: true });
    chownSync(upper, 33333, 33333);
    symlinkSync('/tmp/outside-target', join(upper, 'escape'));
    const nodeDir = '/tmp/outside-target';
    const existedOnNode = existsSync(nodeDir);
    const { ring2 } = await startRings(
      r0,
      'mkdir -p /tmp/outside-target; echo ready; for i in $(seq 1500); do test -e /tmp/outside-target/self/status && break; sleep 0.02; done; test -e /tmp/outside-target/self/status && echo inside=proc || echo inside=nothing',
    );
    await r0.go('go', 1);
    await outputContains(r0, 'ready');
    expect(await r0.rpc('mountProc', { target: '/escape', pid: ring2 })).toEqual({ ok: {} });
    expect(await r0.exited()).toEqual({ code: 0, signal: null });
    expect(await r0.outputUntil('inside=')).toContain('inside=proc');
    // on the node, no proc appeared at the link's target
    expect(existsSync(nodeDir) ? readdirSync(nodeDir).includes('self') : existedOnNode).toBe(false);
  });

  it('sysfs of the workspace\'s net namespace, read-only with the firmware masked; UmountSysfs removes it', async () => {
    const { id } = await newWorkspace();
    const { ring2 } = await startRings(
      r0,
      [
        'mkdir -p /tmp/sys; echo ready-for-sysfs',
        'for i in $(seq 1500); do test -e /tmp/sys/class && break; sleep 0.02; done',
        'echo nets=$(ls /tmp/sys/class/net | tr "\\n" " ")',
        'echo firmware=$(ls /tmp/sys/firmware | wc -l)',
        'touch /tmp/sys/kernel/x 2>/dev/null && echo write=done || echo write=refused',
        'umount /tmp/sys/firmware 2>/dev/null && echo umount-mask=done || echo umount-mask=refused',
        'echo sysfs-checked',
        'for i in $(seq 1500); do test -e /workspace/umounted && break; sleep 0.02; done',
        'test -e /tmp/sys/class && echo sys=still-there || echo sys=gone',
      ].join('; '),
      { net: true },
    );
    await r0.go('go', 1);
    await outputContains(r0, 'ready-for-sysfs');
    expect(await r0.rpc('mountSysfs', { target: '/tmp/sys', pid: ring2 })).toEqual({ ok: {} });
    await outputContains(r0, 'sysfs-checked');
    const umounted = await r0.rpc('umountSysfs', { target: '/tmp/sys', pid: ring2 });
    expect({ ...umounted, output: umounted.error ? r0.output : '' }).toEqual({ ok: {}, output: '' });
    writeFileSync(join(harness.registry.layout(id).content, 'umounted'), '');
    expect(await r0.exited()).toEqual({ code: 0, signal: null });
    const out = await r0.outputUntil('sys=gone');
    expect(out).toMatch(/^nets=lo\s*$/m);
    expect(out).toContain('firmware=0');
    expect(out).toContain('write=refused');
    expect(out).toContain('umount-mask=refused');
    expect(out).toContain('sys=gone');
  });

  it('WorkspaceInfo reports memory and CPU of the workspace cgroup; Teardown unmounts the root once', async () => {
    const { id } = await newWorkspace();
    await startRings(r0, 'echo up; sleep 0.3');
    const info = await r0.rpc<{ resources: { memory: { usedBytes: number; limitBytes: number }; cpu: { usedMillicores: number } } }>('workspaceInfo', {});
    expect(info.ok!.resources.memory.usedBytes).toBeGreaterThan(0);
    expect(info.ok!.resources.cpu.usedMillicores).toBeGreaterThanOrEqual(0);
    await r0.go('go', 1);
    await r0.exited();
    const mark = harness.registry.layout(id).mark;
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).toContain(` ${mark} `);
    expect(await r0.rpc('teardown', {})).toEqual({ ok: { success: true } });
    expect(readFileSync('/proc/self/mountinfo', 'utf8')).not.toContain(` ${mark} `);
    const again = await r0.rpc('teardown', {});
    expect(again.error).toMatchObject({ code: status.FAILED_PRECONDITION });
  });

  it('ring0 connecting mounts nothing on the node: the root, built meanwhile, appears at the mark with PrepareForUserNS', async () => {
    const { id } = await newWorkspace();
    const mark = harness.registry.layout(id).mark;
    const mounted = () => readFileSync('/proc/self/mountinfo', 'utf8').includes(` ${mark} `);
    expect(await r0.health()).toEqual({ status: 1 });
    await new Promise((r) => setTimeout(r, 200));
    expect(mounted()).toBe(false);
    expect((await r0.rpc('prepareForUserNs', {})).ok).toMatchObject({ markPath: mark });
    expect(mounted()).toBe(true);
    expect(await r0.rpc('teardown', {})).toEqual({ ok: { success: true } });
    expect(mounted()).toBe(false);
  });

  it('a ring0 that dies before PrepareForUserNS: the next ring0 starts on a working root', async () => {
    const { socket } = await newWorkspace();
    expect(await r0.health()).toEqual({ status: 1 });
    await r0.close();
    r0 = new Ring0Process(socket);
    await startRings(r0, 'id -u; touch /usr/bin/wsrun-y && echo usr-written; echo end');
    await r0.go('go', 1);
    expect(await r0.exited()).toEqual({ code: 0, signal: null });
    const out = await r0.outputUntil('end');
    expect(out.split('\n')[0]).toBe('0');
    expect(out).toContain('usr-written');
    expect(existsSync('/usr/bin/wsrun-y')).toBe(false);
  });

  it('a root found mounted already (left by a crash that lost the runtime state) is refused, not mounted over', async () => {
    const { id } = await newWorkspace();
    const mark = harness.registry.layout(id).mark;
    mkdirSync(mark, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'stale', mark]);
    try {
      const result = await r0.rpc('prepareForUserNs', {});
      expect(result.error).toMatchObject({ code: status.FAILED_PRECONDITION });
      expect(result.error!.details).toMatch(`the root filesystem of ${harness.registry.layout(id).dir} is already mounted`);
      expect(readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(` ${mark} `))).toHaveLength(1);
      expect(harness.registry.get(id).prepared).toBe(false);
    } finally {
      execFileSync('umount', [mark]);
    }
  });

  it('a second PrepareForUserNS is refused', async () => {
    await newWorkspace();
    expect((await r0.rpc('prepareForUserNs', {})).ok).toBeDefined();
    const again = await r0.rpc('prepareForUserNs', {});
    expect(again.error).toMatchObject({ code: status.FAILED_PRECONDITION });
    expect(again.error!.details).toMatch(/already called/);
  });
});
