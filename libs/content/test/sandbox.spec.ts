import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildChildBundle } from './support/child-bundle';
import { probeSandbox } from './support/sandbox-probe';
import { tempDir, workspaceDir } from './support/temp-dirs';

/**
 * The sandbox itself, attacked from inside: a shell runs in exactly the layout the initializer
 * child gets, and tries to read the node's secrets, write outside /dst, gain privileges, mount,
 * and see the node's processes.
 */
describe('content-init sandbox', () => {
  let bundle: ReturnType<typeof buildChildBundle>;
  let base: ReturnType<typeof tempDir>;
  let dst: string;

  beforeAll(() => {
    bundle = buildChildBundle();
    base = tempDir('sandbox');
    dst = workspaceDir(base.path);
  });
  afterAll(() => {
    base.cleanup();
    bundle.cleanup();
  });

  const probe = (script: string) => probeSandbox({ bundleDir: bundle.dir, destination: dst, script });

  it("cannot see the node's /etc/shadow; /etc holds only generated files and public ones", async () => {
    const { output, status } = await probe('test -e /etc/shadow && echo shadow-visible || echo no-shadow; cat /etc/passwd; ls -A /etc | tr "\\n" " "');
    expect(status).toEqual({ code: 0, signal: null });
    expect(output).toContain('no-shadow');
    expect(output).toContain('root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534');
    expect(output).not.toMatch(/^[a-z_][a-z0-9_-]*:x:(?!0:|65534:)/m);
    const etc = (output.trim().split('\n').pop() ?? '').trim().split(' ');
    expect(etc).toEqual(expect.arrayContaining(['passwd', 'group', 'nsswitch.conf', 'resolv.conf', 'hosts', 'ssl']));
    for (const secret of ['shadow', 'gshadow', 'ssh', 'sudoers', 'machine-id']) expect(etc).not.toContain(secret);
  });

  it('can write /dst (as the workspace root on the node) and /tmp, and nothing else', async () => {
    const targets = ['/dst/ok', '/tmp/ok', '/x', '/usr/x', '/etc/passwd', '/etc/x', '/opt/wsrun/content-init/x', '/dev/x', '/proc/x', '/root/x'];
    const script = targets.map((t) => `(echo pwned > ${t}) 2>/dev/null && echo "wrote ${t}" || echo "refused ${t}"`).join('; ');
    const { output } = await probe(script);
    expect(output.trim().split('\n')).toEqual(targets.map((t) => (t === '/dst/ok' || t === '/tmp/ok' ? `wrote ${t}` : `refused ${t}`)));
    expect(lstatSync(join(dst, 'ok'))).toMatchObject({ uid: 33333, gid: 33333 });
  });

  it('runs as root of its own user namespace with the workspace mapping, four capabilities and no_new_privs', async () => {
    const { output } = await probe('id -u; id -G; cat /proc/self/uid_map /proc/self/gid_map | tr -s " "; grep -E "^(CapEff|CapPrm|CapBnd|CapAmb|NoNewPrivs)" /proc/self/status');
    const lines = output.trim().split('\n');
    expect(lines.slice(0, 2)).toEqual(['0', '0']);
    expect(lines.slice(2, 6)).toEqual([' 0 33333 1', ' 1 100000 65536', ' 0 33333 1', ' 1 100000 65536']);
    // CHOWN (0), FOWNER (3), MKNOD (27), SETFCAP (31)
    expect(lines.slice(6)).toEqual(['CapPrm:\t0000000088000009', 'CapEff:\t0000000088000009', 'CapBnd:\t0000000088000009', 'CapAmb:\t0000000000000000', 'NoNewPrivs:\t1']);
  });

  it('cannot mount, cannot chroot out, and sees only its own processes', async () => {
    const { output } = await probe(
      'mkdir /tmp/m; mount -t tmpfs x /tmp/m 2>/dev/null && echo mounted || echo no-mount; mount --bind /dst /tmp/m 2>/dev/null && echo bound || echo no-bind; echo "pid $$"; ls /proc | grep -cE "^[0-9]+$"; test -e /work && echo work-visible || echo no-work; test -e /var && echo var-visible || echo no-var',
    );
    const lines = output.trim().split('\n');
    expect(lines).toEqual(['no-mount', 'no-bind', 'pid 1', expect.stringMatching(/^[1-4]$/), 'no-work', 'no-var']);
  });

  it('has the device nodes tools need, and no others', async () => {
    const { output } = await probe('head -c 8 /dev/urandom | wc -c; echo x > /dev/null && echo null-ok; ls -A /dev | tr "\\n" " "');
    const lines = output.trim().split('\n');
    expect(lines.slice(0, 2)).toEqual(['8', 'null-ok']);
    expect(lines[2].trim().split(' ').sort()).toEqual(['fd', 'full', 'null', 'random', 'stderr', 'stdin', 'stdout', 'urandom', 'zero']);
  });

  it("leaves nothing behind on the node: no skeleton, no mounts in the node's namespace", async () => {
    writeFileSync(join(dst, 'marker'), '');
    // a folder of this test's own: other tests running meanwhile make skeletons in /tmp
    const parent = join(base.path, 'skeletons');
    mkdirSync(parent, { mode: 0o755 });
    const skeletons = () => readdirSync(parent);
    const { output } = await probeSandbox({ bundleDir: bundle.dir, destination: dst, script: 'grep -q "/skeletons/wsrun-content-root-[^ ]* / " /proc/self/mountinfo && echo skeleton-in-parent', skeletonParent: parent });
    expect(output.trim()).toBe('skeleton-in-parent');
    expect(skeletons()).toEqual([]);
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
    expect(mounts).not.toContain('wsrun-content-root-');
    expect(existsSync(join(dst, 'marker'))).toBe(true);
  });
});
