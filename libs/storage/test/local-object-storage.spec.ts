import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { LocalObjectStorage, type ObjectRef } from '../src';
import { expectWsError, failingStream, makeTempDir, randomData, readAll, removeTempDir, streamOf } from './support/files';
import { startLocalFixture, type LocalFixture } from './support/local-fixture';
import { describeObjectStorageConformance } from './support/object-storage-conformance';

describeObjectStorageConformance('LocalObjectStorage', async () => {
  const fx = await startLocalFixture();
  return { storage: fx.storage, leftovers: fx.tempFiles, stop: fx.stop };
});

describe('LocalObjectStorage (local folder specifics)', () => {
  let fx: LocalFixture;
  let outside: string;
  const bucket = 'user-42';
  const ref = (object: string): ObjectRef => ({ bucket, object });

  beforeEach(async () => {
    fx = await startLocalFixture();
    outside = await makeTempDir('outside');
    await fx.storage.ensureBucket(bucket);
  });
  afterEach(async () => {
    await fx.stop();
    await removeTempDir(outside);
  });

  it('keeps each object as a plain file at <root>/<bucket>/<object>', async () => {
    const data = randomData(10_000);
    await fx.storage.put(ref('workspaces/ws-1/full.tar'), streamOf(data));
    const onDisk = await fsp.readFile(path.join(fx.root, bucket, 'workspaces/ws-1/full.tar'));
    expect(onDisk.equals(data)).toBe(true);
    expect(await fx.tempFiles()).toEqual([]);
    // readable only by the daemon's user: these are people's files
    expect((await fsp.stat(path.join(fx.root, bucket, 'workspaces/ws-1/full.tar'))).mode & 0o777).toBe(0o600);
  });

  it('refuses ".." and absolute object names, creating nothing outside the root', async () => {
    for (const object of ['../escape', 'a/../../escape', '/etc/passwd', `${path.relative('/', outside)}/../x`]) {
      await expectWsError(fx.storage.put(ref(object), streamOf(Buffer.from('x'))), 'INVALID_ARGUMENT', 'invalid object name');
    }
    expect(await fsp.readdir(path.dirname(fx.root)).then((names) => names.includes('escape'))).toBe(false);
    expect(await fsp.readdir(outside)).toEqual([]);
  });

  it('refuses a symlink planted inside the storage folder as a folder on the path', async () => {
    await fsp.writeFile(path.join(outside, 'secret'), 'host secret');
    await fsp.symlink(outside, path.join(fx.root, bucket, 'link'));
    await expectWsError(fx.storage.get(ref('link/secret')), 'PERMISSION_DENIED', 'refusing symlink');
    await expectWsError(fx.storage.stat(ref('link/secret')), 'PERMISSION_DENIED', 'refusing symlink');
    await expectWsError(fx.storage.put(ref('link/planted'), streamOf(Buffer.from('x'))), 'PERMISSION_DENIED', 'refusing symlink');
    await expectWsError(fx.storage.copy(ref('link/secret'), ref('copied')), 'PERMISSION_DENIED', 'refusing symlink');
    await expectWsError(fx.storage.list(bucket, 'link/'), 'PERMISSION_DENIED', 'refusing symlink');
    expect(await fsp.readdir(outside)).toEqual(['secret']);
    expect(await fx.storage.stat(ref('copied'))).toBeNull();
    // and over HTTP, with a perfectly valid signature
    const res = await fetch(await fx.storage.signedDownloadUrl(ref('link/secret'), 60));
    expect(res.status).toBe(403);
    expect(await res.text()).not.toContain('host secret');
  });

  it('refuses a symlink planted as the object itself and leaves its target alone', async () => {
    await fsp.writeFile(path.join(outside, 'secret'), 'host secret');
    await fsp.symlink(path.join(outside, 'secret'), path.join(fx.root, bucket, 'innocent.tar'));
    await expectWsError(fx.storage.get(ref('innocent.tar')), 'PERMISSION_DENIED', 'refusing symlink');
    await expectWsError(fx.storage.stat(ref('innocent.tar')), 'PERMISSION_DENIED', 'refusing symlink');
    expect(await fx.storage.list(bucket, '')).toEqual([]);
    // replacing or deleting the name replaces or removes the link, never writes through it
    await fx.storage.put(ref('innocent.tar'), streamOf(Buffer.from('new')));
    expect(await fsp.readFile(path.join(outside, 'secret'), 'utf8')).toBe('host secret');
    expect((await readAll(await fx.storage.get(ref('innocent.tar')))).toString()).toBe('new');
    await fsp.symlink(path.join(outside, 'secret'), path.join(fx.root, bucket, 'link2'));
    await fx.storage.delete(ref('link2'));
    expect(await fsp.readFile(path.join(outside, 'secret'), 'utf8')).toBe('host secret');
  });

  it('refuses a bucket folder that is a symlink', async () => {
    await fsp.symlink(outside, path.join(fx.root, 'evil-bucket'));
    await expectWsError(fx.storage.put({ bucket: 'evil-bucket', object: 'x' }, streamOf(Buffer.from('x'))), 'PERMISSION_DENIED', 'refusing symlink');
    await expectWsError(fx.storage.ensureBucket('evil-bucket'), 'PERMISSION_DENIED', 'refusing symlink');
    expect(await fsp.readdir(outside)).toEqual([]);
  });

  it('cleans its temp file when an upload fails, and removes only stale temp files on request', async () => {
    await expect(fx.storage.put(ref('a'), failingStream(randomData(300_000), 200_000, 'boom'))).rejects.toThrow('boom');
    await expect(fx.storage.put(ref('a'), streamOf(Buffer.from('abc')), { expectedSize: 4 })).rejects.toThrow('size mismatch');
    expect(await fx.tempFiles()).toEqual([]);

    // as if a crash left two uploads behind, one long ago
    const tmpDir = path.join(fx.root, '.tmp');
    await fsp.writeFile(path.join(tmpDir, 'old.tmp'), 'partial');
    await fsp.writeFile(path.join(tmpDir, 'recent.tmp'), 'partial');
    const dayAgo = new Date(Date.now() - 25 * 3600 * 1000);
    await fsp.utimes(path.join(tmpDir, 'old.tmp'), dayAgo, dayAgo);
    expect(await fx.storage.removeStaleTempFiles()).toBe(1);
    expect(await fx.tempFiles()).toEqual(['recent.tmp']);
  });

  it('reads single-byte ranges', async () => {
    const data = randomData(1000);
    await fx.storage.put(ref('tiny'), streamOf(data));
    expect((await readAll(await fx.storage.get(ref('tiny'), { start: 0, end: 0 }))).equals(data.subarray(0, 1))).toBe(true);
    expect((await readAll(await fx.storage.get(ref('tiny'), { start: 999, end: 999 }))).equals(data.subarray(999))).toBe(true);
  });

  it('lets a reader finish the old bytes while the object is replaced', async () => {
    const previous = randomData(2 * 1024 * 1024);
    const next = randomData(1024 * 1024);
    await fx.storage.put(ref('busy.tar'), streamOf(previous));
    const reading = await fx.storage.get(ref('busy.tar'));
    await fx.storage.put(ref('busy.tar'), streamOf(next));
    expect((await readAll(reading)).equals(previous)).toBe(true);
    expect((await readAll(await fx.storage.get(ref('busy.tar')))).equals(next)).toBe(true);
  });

  it('keeps a copy unchanged when its source is replaced or deleted later', async () => {
    await fx.storage.put(ref('src'), streamOf(Buffer.from('version 1')));
    await fx.storage.copy(ref('src'), ref('dst'));
    await fx.storage.put(ref('src'), streamOf(Buffer.from('version 2')));
    expect((await readAll(await fx.storage.get(ref('dst')))).toString()).toBe('version 1');
    await fx.storage.delete(ref('src'));
    expect((await readAll(await fx.storage.get(ref('dst')))).toString()).toBe('version 1');
    await fx.storage.copy(ref('dst'), ref('dst'));
    expect((await readAll(await fx.storage.get(ref('dst')))).toString()).toBe('version 1');
    expect(await fx.tempFiles()).toEqual([]);
  });

  it('explains a name that collides with a folder of other objects, keeping both', async () => {
    await fx.storage.put(ref('ws/backup'), streamOf(Buffer.from('file')));
    await expectWsError(fx.storage.put(ref('ws/backup/part'), streamOf(Buffer.from('x'))), 'FAILED_PRECONDITION', 'is an object, not a folder');
    await fx.storage.put(ref('dir/child'), streamOf(Buffer.from('child')));
    await expectWsError(fx.storage.put(ref('dir'), streamOf(Buffer.from('x'))), 'FAILED_PRECONDITION', 'is a folder holding other objects');
    expect((await readAll(await fx.storage.get(ref('ws/backup')))).toString()).toBe('file');
    expect((await readAll(await fx.storage.get(ref('dir/child')))).toString()).toBe('child');
    expect(await fx.storage.stat(ref('dir'))).toBeNull();
    expect(await fx.tempFiles()).toEqual([]);
  });

  it('needs signing options for signed URLs', async () => {
    const unsigned = new LocalObjectStorage({ root: fx.root });
    await expectWsError(unsigned.signedDownloadUrl(ref('x'), 60), 'FAILED_PRECONDITION', 'no signing options');
    expect(() => new LocalObjectStorage({ root: fx.root, signing: { baseUrl: 'http://x', secret: 'short' } })).toThrow('at least 16 bytes');
    expect(() => new LocalObjectStorage({ root: 'relative/dir' })).toThrow('is not an absolute path');
  });
});
