import { setTimeout as sleep } from 'node:timers/promises';
import type { ObjectRef, ObjectStorage } from '../../src';
import { expectWsError, failingStream, randomData, readAll, sha256Hex, streamOf } from './files';

export interface ConformanceBackend {
  storage: ObjectStorage;
  /** files a failed put may have left outside the object namespace (the local backend's temp files) */
  leftovers(): Promise<string[]>;
  stop(): Promise<void>;
}

/**
 * The behaviour every ObjectStorage backend must have, written once and run against each
 * backend with real I/O. Each test gets a fresh bucket.
 */
export function describeObjectStorageConformance(name: string, start: () => Promise<ConformanceBackend>): void {
  describe(`${name} (ObjectStorage conformance)`, () => {
    let backend: ConformanceBackend;
    let storage: ObjectStorage;
    let bucket: string;
    let n = 0;
    const ref = (object: string): ObjectRef => ({ bucket, object });

    beforeAll(async () => {
      backend = await start();
      storage = backend.storage;
    });
    afterAll(async () => {
      await backend?.stop();
    });
    beforeEach(async () => {
      bucket = `conformance-${++n}`;
      await storage.ensureBucket(bucket);
    });

    async function putBytes(object: string, data: Buffer) {
      return storage.put(ref(object), streamOf(data));
    }
    async function getBytes(object: string) {
      return readAll(await storage.get(ref(object)));
    }

    it('stores a few MB and returns them byte for byte with their size and sha256', async () => {
      const data = randomData(3 * 1024 * 1024 + 17);
      const result = await putBytes('workspaces/ws-1/full.tar', data);
      expect(result).toEqual({ size: data.length, sha256: sha256Hex(data) });
      expect((await getBytes('workspaces/ws-1/full.tar')).equals(data)).toBe(true);
      const info = await storage.stat(ref('workspaces/ws-1/full.tar'));
      expect(info).toMatchObject({ bucket, object: 'workspaces/ws-1/full.tar', size: data.length });
      // a real date, of about now (fs dates come from another realm, so no instanceof)
      expect(Math.abs((info?.lastModified.getTime() ?? 0) - Date.now())).toBeLessThan(60_000);
      // backends record sha256 only when they know it; when present it must be right
      if (info?.sha256 !== undefined) expect(info.sha256).toBe(sha256Hex(data));
    });

    it('stores an empty object', async () => {
      expect(await putBytes('empty', Buffer.alloc(0))).toEqual({ size: 0, sha256: sha256Hex(Buffer.alloc(0)) });
      expect((await getBytes('empty')).length).toBe(0);
      expect((await storage.stat(ref('empty')))?.size).toBe(0);
    });

    it('reads byte ranges, clamping the end to the object size', async () => {
      const data = randomData(100_000);
      await putBytes('ranged', data);
      const read = async (start: number, end?: number) => readAll(await storage.get(ref('ranged'), { start, end }));
      expect((await read(10, 19)).equals(data.subarray(10, 20))).toBe(true);
      expect((await read(99_995)).equals(data.subarray(99_995))).toBe(true);
      expect((await read(99_990, 200_000)).equals(data.subarray(99_990))).toBe(true);
    });

    it('refuses ranges that start past the end or are malformed', async () => {
      await putBytes('ranged', randomData(1000));
      await expectWsError(storage.get(ref('ranged'), { start: 1000 }), 'INVALID_ARGUMENT', 'ranged@');
      await expectWsError(storage.get(ref('ranged'), { start: 10, end: 5 }), 'INVALID_ARGUMENT', 'end 5 must be an integer >= start 10');
      await expectWsError(storage.get(ref('ranged'), { start: -1 }), 'INVALID_ARGUMENT', 'start -1');
    });

    it('reports a missing object as null from stat and NOT_FOUND from get, naming it', async () => {
      expect(await storage.stat(ref('nope/missing.tar'))).toBeNull();
      await expectWsError(storage.get(ref('nope/missing.tar')), 'NOT_FOUND', `nope/missing.tar@${bucket}`);
    });

    it('refuses invalid names before touching the store', async () => {
      await expectWsError(storage.get({ bucket: 'Upper_Case', object: 'x' }), 'INVALID_ARGUMENT', 'invalid bucket name "Upper_Case"');
      await expectWsError(storage.put(ref('../x'), streamOf(Buffer.from('x'))), 'INVALID_ARGUMENT', 'contains a ".." segment');
      await expectWsError(storage.stat(ref('/etc/passwd')), 'INVALID_ARGUMENT', 'must be a relative path');
    });

    it('fails a put into a missing bucket with NOT_FOUND', async () => {
      await expectWsError(storage.put({ bucket: 'no-such-bucket-here', object: 'x' }, streamOf(Buffer.from('x'))), 'NOT_FOUND', 'x@no-such-bucket-here');
    });

    it('lists objects by prefix, sorted by name', async () => {
      for (const name of ['a/2', 'a/1', 'a/b/3', 'ab', 'b/1']) await putBytes(name, Buffer.from(name));
      const names = async (prefix: string) => (await storage.list(bucket, prefix)).map((o) => o.object);
      expect(await names('a/')).toEqual(['a/1', 'a/2', 'a/b/3']);
      expect(await names('a')).toEqual(['a/1', 'a/2', 'a/b/3', 'ab']);
      expect(await names('a/b')).toEqual(['a/b/3']);
      expect(await names('')).toEqual(['a/1', 'a/2', 'a/b/3', 'ab', 'b/1']);
      expect(await names('zzz/')).toEqual([]);
      const [first] = await storage.list(bucket, 'a/1');
      expect(first).toMatchObject({ bucket, object: 'a/1', size: 3 });
      await expectWsError(storage.list('no-such-bucket-here', ''), 'NOT_FOUND', 'no-such-bucket-here');
    });

    it('deletes objects, and deleting a missing one is not an error', async () => {
      await putBytes('gone', Buffer.from('bye'));
      await storage.delete(ref('gone'));
      expect(await storage.stat(ref('gone'))).toBeNull();
      await storage.delete(ref('gone'));
      await storage.delete(ref('never/existed'));
      expect(await storage.list(bucket, '')).toEqual([]);
    });

    it('commits a temporary name with copy: the final name switches from the old to the new object', async () => {
      const previous = randomData(200_000);
      const next = randomData(300_000);
      await putBytes('backups/ws-1/full.tar', previous);
      await putBytes('backups/ws-1/full.tar.tmp-1', next);
      await storage.copy(ref('backups/ws-1/full.tar.tmp-1'), ref('backups/ws-1/full.tar'));
      expect((await getBytes('backups/ws-1/full.tar')).equals(next)).toBe(true);
      expect((await getBytes('backups/ws-1/full.tar.tmp-1')).equals(next)).toBe(true);
      await storage.delete(ref('backups/ws-1/full.tar.tmp-1'));
      expect((await getBytes('backups/ws-1/full.tar')).equals(next)).toBe(true);
      expect((await storage.list(bucket, 'backups/')).map((o) => o.object)).toEqual(['backups/ws-1/full.tar']);
    });

    it('fails a copy from a missing object with NOT_FOUND and leaves the destination alone', async () => {
      await putBytes('dest', Buffer.from('keep me'));
      await expectWsError(storage.copy(ref('missing'), ref('dest')), 'NOT_FOUND', `missing@${bucket}`);
      expect((await getBytes('dest')).toString()).toBe('keep me');
    });

    it('keeps the previous object and shows no partial one when the upload stream fails midway', async () => {
      const previous = randomData(100_000);
      await putBytes('backup.tar', previous);
      const next = randomData(3 * 1024 * 1024);
      await expectWsError(storage.put(ref('backup.tar'), failingStream(next, 1024 * 1024, 'connection reset by peer')), 'INTERNAL', 'connection reset by peer');
      expect((await getBytes('backup.tar')).equals(previous)).toBe(true);
      await expectWsError(storage.put(ref('fresh.tar'), failingStream(next, 1024 * 1024, 'connection reset by peer')), 'INTERNAL', 'reading the upload stream');
      expect(await storage.stat(ref('fresh.tar'))).toBeNull();
      expect((await storage.list(bucket, '')).map((o) => o.object)).toEqual(['backup.tar']);
      expect(await backend.leftovers()).toEqual([]);
    });

    it('fails a put whose sha256 or size differ from the expected ones and keeps the previous object', async () => {
      const previous = randomData(50_000);
      await putBytes('verified.tar', previous);
      const next = randomData(60_000);
      const wrongSha = sha256Hex(Buffer.from('something else'));
      await expectWsError(storage.put(ref('verified.tar'), streamOf(next), { expectedSha256: wrongSha }), 'INVALID_ARGUMENT', `sha256 mismatch: expected ${wrongSha}, received ${sha256Hex(next)}`);
      expect((await getBytes('verified.tar')).equals(previous)).toBe(true);
      await expectWsError(storage.put(ref('verified.tar'), streamOf(next), { expectedSize: 60_001 }), 'INVALID_ARGUMENT', 'size mismatch: expected 60001 bytes, received 60000');
      await expectWsError(storage.put(ref('verified.tar'), streamOf(next), { expectedSize: 1000 }), 'INVALID_ARGUMENT', 'size mismatch: expected 1000 bytes');
      expect((await getBytes('verified.tar')).equals(previous)).toBe(true);
      expect(await backend.leftovers()).toEqual([]);
      // and the right expectations (in any hex case) pass
      const ok = await storage.put(ref('verified.tar'), streamOf(next), { expectedSha256: sha256Hex(next).toUpperCase(), expectedSize: next.length });
      expect(ok.sha256).toBe(sha256Hex(next));
      expect((await getBytes('verified.tar')).equals(next)).toBe(true);
    });

    it('signs download URLs that work with fetch, including Range requests', async () => {
      const data = randomData(500_000);
      await putBytes('dl/data.bin', data);
      const url = await storage.signedDownloadUrl(ref('dl/data.bin'), 300);
      const whole = await fetch(url);
      expect(whole.status).toBe(200);
      expect(Buffer.from(await whole.arrayBuffer()).equals(data)).toBe(true);
      const part = await fetch(url, { headers: { Range: 'bytes=1000-1999' } });
      expect(part.status).toBe(206);
      expect(part.headers.get('content-range')).toBe(`bytes 1000-1999/${data.length}`);
      expect(Buffer.from(await part.arrayBuffer()).equals(data.subarray(1000, 2000))).toBe(true);
      const tail = await fetch(url, { headers: { Range: 'bytes=499000-' } });
      expect(tail.status).toBe(206);
      expect(Buffer.from(await tail.arrayBuffer()).equals(data.subarray(499_000))).toBe(true);
    });

    it('refuses a download URL whose signature, object or method was tampered with', async () => {
      await putBytes('secret.bin', Buffer.from('secret'));
      await putBytes('other.bin', Buffer.from('other'));
      const url = await storage.signedDownloadUrl(ref('secret.bin'), 300);
      const last = url[url.length - 1];
      const tampered = url.slice(0, -1) + (last === '0' ? '1' : '0');
      const bad = await fetch(tampered);
      expect(bad.status).toBe(403);
      await bad.arrayBuffer();
      const otherObject = await fetch(url.replace('secret.bin', 'other.bin'));
      expect(otherObject.status).toBe(403);
      await otherObject.arrayBuffer();
      const asUpload = await fetch(url, { method: 'PUT', body: 'overwritten' });
      expect(asUpload.status).toBe(403);
      await asUpload.arrayBuffer();
      expect((await getBytes('secret.bin')).toString()).toBe('secret');
    });

    it('refuses a signed URL once it has expired', async () => {
      await putBytes('short-lived.bin', Buffer.from('soon gone'));
      const url = await storage.signedDownloadUrl(ref('short-lived.bin'), 1);
      // expiry has whole-second resolution on both backends: 2.1 s is past it for any start
      await sleep(2100);
      const res = await fetch(url);
      expect(res.status).toBe(403);
      await res.arrayBuffer();
    });

    it('signs upload URLs that accept a PUT via fetch', async () => {
      const data = randomData(700_000);
      const url = await storage.signedUploadUrl(ref('up/loaded.bin'), 300);
      const res = await fetch(url, { method: 'PUT', body: data });
      expect(res.status).toBe(200);
      await res.arrayBuffer();
      expect((await getBytes('up/loaded.bin')).equals(data)).toBe(true);
      expect((await storage.stat(ref('up/loaded.bin')))?.size).toBe(data.length);
      // an upload URL does not grant reading
      const read = await fetch(url);
      expect(read.status).toBe(403);
      await read.arrayBuffer();
    });

    it('refuses ttl values outside 1 s to one week', async () => {
      await expectWsError(storage.signedDownloadUrl(ref('x'), 0), 'INVALID_ARGUMENT', 'invalid signed URL ttl 0');
      await expectWsError(storage.signedUploadUrl(ref('x'), 8 * 24 * 3600), 'INVALID_ARGUMENT', 'invalid signed URL ttl');
    });
  });
}
