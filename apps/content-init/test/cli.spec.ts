import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { packDirectory } from '@wsrun/archive';
import { LocalObjectStorage, LocalStorageServer } from '@wsrun/storage';

const MAIN = resolve(__dirname, '../../../dist/apps/content-init/main.js');

/** Runs the built bundle (never blocking this process: the storage server lives here). */
function contentInit(args: string[], opts: { input?: string } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, [MAIN, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin' } });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdin.end(opts.input ?? '');
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}

const git = (cwd: string, ...args: string[]) =>
  execFileSync('git', ['-c', 'init.defaultBranch=main', '-c', 'user.name=t', '-c', 'user.email=t@example.com', ...args], { cwd, encoding: 'utf8', env: { PATH: '/usr/bin:/bin', GIT_CONFIG_NOSYSTEM: '1', HOME: '/nonexistent' } }).trim();

describe('content-init command line', () => {
  let base: string;
  let repo: string;

  beforeAll(() => {
    base = mkdtempSync(join(tmpdir(), 'wsrun-content-cli-'));
    chmodSync(base, 0o755);
    repo = join(base, 'repo');
    mkdirSync(repo);
    git(repo, 'init', '-q');
    writeFileSync(join(repo, 'hello.txt'), 'hello\n');
    git(repo, 'add', '.');
    git(repo, 'commit', '-qm', 'first');
  });
  afterAll(() => rmSync(base, { recursive: true, force: true }));

  it('prints its subcommands with --help, and the flags of init', async () => {
    const top = await contentInit(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toContain('Usage: content-init');
    expect(top.stdout).toMatch(/^\s+init \[options\]/m);
    expect(top.stdout).toMatch(/^\s+run-initializer/m);
    const init = await contentInit(['init', '--help']);
    for (const flag of ['--dst <dir>', '--initializer <file>', '--remote', '--backup <url>', '--read-only <path>', '--timeout <duration>', '--root-uid <uid>', '--log-level <level>']) expect(init.stdout).toContain(flag);
  });

  it('takes the download settings on init and worker, and refuses bad ones naming the flag (exit 2)', async () => {
    for (const command of ['init', 'worker']) {
      const help = await contentInit([command, '--help']);
      expect(help.stdout).toContain('--download-connections <n>');
      expect(help.stdout).toContain('--download-piece-size <size>');
    }
    const dst = join(base, 'never-made');
    const initializer = join(base, 'empty.json');
    writeFileSync(initializer, '{"empty": {}}');
    const none = await contentInit(['init', '--dst', dst, '--initializer', initializer, '--download-connections', '0']);
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--download-connections/);
    const odd = await contentInit(['init', '--dst', dst, '--initializer', initializer, '--download-piece-size', '12x']);
    expect(odd.code).toBe(2);
    expect(odd.stderr).toContain('"12x" is not a size');
    const tiny = await contentInit(['worker', '--download-piece-size', '1k', '--state-dir', base]);
    expect(tiny.code).toBe(2);
    expect(tiny.stderr).toContain('outside 64k..1G');
    expect(lstatSync(base).isDirectory()).toBe(true);
    expect(() => lstatSync(dst)).toThrow();
  });

  it('run-initializer started by hand fails on purpose (exit 42) and says why', async () => {
    const r = await contentInit(['run-initializer']);
    expect(r.code).toBe(42);
    expect(r.stderr).toContain('it is started by content-init, not by hand');
  });

  it('init clones a repository into a new folder in the sandbox, prints progress and the outcome', async () => {
    const dst = join(base, 'ws-git');
    writeFileSync(join(base, 'git.json'), JSON.stringify({ git: { remoteUri: `file://${repo}`, checkoutLocation: 'project' } }));
    const r = await contentInit(['init', '--dst', dst, '--initializer', join(base, 'git.json'), '--read-only', repo, '--log-level', 'warn']);
    expect(r.stderr).toContain('[git] clone');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ source: 'git', metrics: [expect.objectContaining({ type: 'git', attempts: 1 })] });
    expect(readFileSync(join(dst, 'project/hello.txt'), 'utf8')).toBe('hello\n');
    expect(lstatSync(dst)).toMatchObject({ uid: 33333, gid: 33333 });
    expect(lstatSync(join(dst, '.wsrun/ready'))).toMatchObject({ uid: 33333 });
  });

  it('init restores a snapshot from a signed URL given with --remote, reading the initializer from stdin', async () => {
    const tree = join(base, 'snap-tree');
    mkdirSync(tree);
    writeFileSync(join(tree, 'data.bin'), randomBytes(300_000));
    const fd = openSync(tree, 'r');
    const chunks: Buffer[] = [];
    const packed = packDirectory(fd);
    for await (const c of packed.stream) chunks.push(c as Buffer);
    await packed.done;
    closeSync(fd);
    const secret = randomBytes(16).toString('hex');
    const root = join(base, 'storage');
    const server = new LocalStorageServer({ storage: new LocalObjectStorage({ root }), secret, host: '127.0.0.1', port: 0 });
    const baseUrl = await server.listen();
    try {
      const storage = new LocalObjectStorage({ root, signing: { baseUrl, secret } });
      await storage.ensureBucket('snapshots');
      await storage.put({ bucket: 'snapshots', object: 's1.tar' }, Readable.from([Buffer.concat(chunks)]));
      const url = await storage.signedDownloadUrl({ bucket: 'snapshots', object: 's1.tar' }, 300);
      const dst = join(base, 'ws-snap');
      const r = await contentInit(['init', '--dst', dst, '--initializer', '-', '--remote', `s1.tar@snapshots=${url}`], { input: JSON.stringify({ snapshot: { snapshot: 's1.tar@snapshots' } }) });
      expect(r.code).toBe(0);
      expect(r.stderr).toContain('[snapshot] restore');
      expect(JSON.parse(r.stdout).source).toBe('snapshot');
      expect(readFileSync(join(dst, 'data.bin'))).toEqual(readFileSync(join(tree, 'data.bin')));
    } finally {
      await server.close();
    }
  });

  it('init reports a failing initializer with its code and exits 1', async () => {
    writeFileSync(join(base, 'missing.json'), JSON.stringify({ git: { remoteUri: `file://${base}/no-such-repo` } }));
    const r = await contentInit(['init', '--dst', join(base, 'ws-fail'), '--initializer', join(base, 'missing.json'), '--log-level', 'silent']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/content-init: NOT_FOUND: git clone: repository not found/);
  });

  it('init refuses bad input before starting anything (exit 2)', async () => {
    writeFileSync(join(base, 'bad.json'), '{"nothing": {}}');
    const bad = await contentInit(['init', '--dst', join(base, 'ws-bad'), '--initializer', join(base, 'bad.json')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('invalid --initializer: no initializer in it');
    const ids = await contentInit(['init', '--dst', join(base, 'ws-bad'), '--initializer', join(base, 'git.json'), '--root-uid', '100005']);
    expect(ids.code).toBe(2);
    expect(ids.stderr).toContain('invalid --root-uid: 100005 lies inside the subordinate range');
  });
});
