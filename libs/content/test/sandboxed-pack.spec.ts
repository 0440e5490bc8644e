import { chmodSync, lchownSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { extractTar } from '@wsrun/archive';
import { WsErrorCode } from '@wsrun/common';
import { runSandboxedPack } from '../src';
import { buildChildBundle } from './support/child-bundle';
import { tempDir, workspaceDir } from './support/temp-dirs';
import { snapshotTree } from './support/tree-snapshot';

/** Backups are packed by a confined child with the workspace's identity, never by host root. */
describe('sandboxed pack', () => {
  let bundle: ReturnType<typeof buildChildBundle>;
  let base: ReturnType<typeof tempDir>;

  beforeAll(() => {
    bundle = buildChildBundle();
    base = tempDir('pack');
  });
  afterAll(() => {
    base.cleanup();
    bundle.cleanup();
  });

  const collect = async (tar: Readable, into: Buffer[]) => {
    for await (const chunk of tar) into.push(chunk as Buffer);
  };

  it('streams the folder with workspace ids, unreadable files included, links stored as links', async () => {
    const dst = workspaceDir(base.path, 'ws-pack');
    mkdirSync(join(dst, 'src'));
    writeFileSync(join(dst, 'src/main.c'), 'int main() {}\n');
    writeFileSync(join(dst, 'secret-of-the-user'), 'only its owner reads this\n', { mode: 0o000 });
    symlinkSync('/etc/shadow', join(dst, 'shadow-link'));
    // owners as the kernel stores them: root inside = 33333, a user inside (1000) = 100999
    for (const p of ['src', 'src/main.c', 'secret-of-the-user', 'shadow-link']) lchownSync(join(dst, p), 100999, 100999);
    chmodSync(join(dst, 'secret-of-the-user'), 0o000);
    const chunks: Buffer[] = [];
    const stats = await runSandboxedPack({ destination: dst }, (tar) => collect(tar, chunks), { bundleDir: bundle.dir, timeoutMs: 60_000 });
    expect(stats.entries).toBeGreaterThanOrEqual(4);
    // what the child says it wrote is what arrived: the backup checks storage against these
    const archive = Buffer.concat(chunks);
    expect({ bytes: stats.bytes, sha256: stats.sha256 }).toEqual({ bytes: archive.length, sha256: createHash('sha256').update(archive).digest('hex') });
    const out = workspaceDir(base.path, 'ws-unpacked');
    await extractTar(Readable.from(chunks), { path: out }, { allowEscapingSymlinks: true });
    const tree = snapshotTree(out);
    expect(readFileSync(join(out, 'secret-of-the-user'), 'utf8')).toBe('only its owner reads this\n');
    // the archive carried workspace id 1000; extracted here without mapping it stays 1000
    expect(tree).toEqual(expect.objectContaining({ 'src/main.c': expect.objectContaining({ uid: 1000 }), 'shadow-link': expect.objectContaining({ type: 'symlink', content: '/etc/shadow' }) }));
    // the node's shadow file never entered the archive
    expect(archive.includes(readFileSync('/etc/shadow').subarray(0, 32))).toBe(false);
  });

  it('a consumer that fails stops the child and the error reaches the caller', async () => {
    const dst = workspaceDir(base.path, 'ws-pack-2');
    writeFileSync(join(dst, 'big'), Buffer.alloc(8 * 1024 * 1024, 1));
    const failing = async (tar: Readable) => {
      for await (const _ of tar) throw new Error('storage refused the upload');
    };
    await expect(runSandboxedPack({ destination: dst }, failing, { bundleDir: bundle.dir, timeoutMs: 60_000 })).rejects.toMatchObject({
      code: WsErrorCode.Internal,
      message: expect.stringContaining('storage refused the upload'),
    });
  });
});
