import http from 'node:http';
import { buildLocalSignedUrl, LocalStorageServer, LocalObjectStorage, nowUnixSeconds, validateSigningSecret, type ObjectRef } from '../src';
import { randomData, readAll, sha256Hex, streamOf } from './support/files';
import { startLocalFixture, TEST_SECRET, type LocalFixture } from './support/local-fixture';

/** A raw request, for what fetch would normalize away (dot segments) or not show (HEAD bodies). */
function rawRequest(base: string, method: string, target: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, method, path: target, headers }, (res) => {
      readAll(res).then((body) => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }), reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('LocalStorageServer', () => {
  let fx: LocalFixture;
  const bucket = 'user-42';
  const ref = (object: string): ObjectRef => ({ bucket, object });
  const data = randomData(100_000);

  beforeAll(async () => {
    fx = await startLocalFixture();
    await fx.storage.ensureBucket(bucket);
    await fx.storage.put(ref('data.bin'), streamOf(data));
  });
  afterAll(async () => {
    await fx.stop();
  });

  const download = (object = 'data.bin') => fx.storage.signedDownloadUrl(ref(object), 300);
  const upload = (object: string) => fx.storage.signedUploadUrl(ref(object), 300);

  it('serves whole objects with their length and range support advertised', async () => {
    const res = await fetch(await download());
    expect(res.status).toBe(200);
    expect(res.headers.get('accept-ranges')).toBe('bytes');
    expect(res.headers.get('content-length')).toBe(String(data.length));
    expect(Buffer.from(await res.arrayBuffer()).equals(data)).toBe(true);
  });

  it.each([
    ['bytes=0-0', 0, 0],
    ['bytes=10-19', 10, 19],
    ['bytes=99990-', 99_990, 99_999],
    ['bytes=-10', 99_990, 99_999],
    ['bytes=-200000', 0, 99_999],
    ['bytes=99990-999999', 99_990, 99_999],
  ])('answers Range %s with 206 and the right bytes', async (range, start, end) => {
    const res = await fetch(await download(), { headers: { Range: range } });
    expect(res.status).toBe(206);
    expect(res.headers.get('content-range')).toBe(`bytes ${start}-${end}/${data.length}`);
    expect(res.headers.get('content-length')).toBe(String(end - start + 1));
    expect(Buffer.from(await res.arrayBuffer()).equals(data.subarray(start, end + 1))).toBe(true);
  });

  it.each(['bytes=100000-', 'bytes=200000-300000', 'bytes=-0'])('answers unsatisfiable Range %s with 416 and the size', async (range) => {
    const res = await fetch(await download(), { headers: { Range: range } });
    expect(res.status).toBe(416);
    expect(res.headers.get('content-range')).toBe(`bytes */${data.length}`);
    expect(await res.text()).toContain('range not satisfiable');
  });

  it('ignores Range headers it does not serve (multiple ranges, other units) and sends everything', async () => {
    for (const range of ['bytes=0-1,5-6', 'items=0-1', 'bytes=5-2']) {
      const res = await fetch(await download(), { headers: { Range: range } });
      expect(res.status).toBe(200);
      expect(Buffer.from(await res.arrayBuffer()).length).toBe(data.length);
    }
  });

  it('honours If-Range: a stale validator gets the whole (new) object', async () => {
    const url = await download();
    const etag = (await fetch(url, { method: 'HEAD' })).headers.get('etag') ?? '';
    const fresh = await fetch(url, { headers: { Range: 'bytes=0-9', 'If-Range': etag } });
    expect(fresh.status).toBe(206);
    await fresh.arrayBuffer();
    const stale = await fetch(url, { headers: { Range: 'bytes=0-9', 'If-Range': '"something-else"' } });
    expect(stale.status).toBe(200);
    expect((await stale.arrayBuffer()).byteLength).toBe(data.length);
  });

  it('answers HEAD with the headers of GET and no body', async () => {
    const url = new URL(await download());
    const res = await rawRequest(fx.server.url, 'HEAD', url.pathname + url.search, { Range: 'bytes=0-99' });
    expect(res.status).toBe(206);
    expect(res.headers['content-length']).toBe('100');
    expect(res.body.length).toBe(0);
  });

  it('answers 404 for a missing object under a valid signature', async () => {
    const res = await fetch(await download('missing.bin'));
    expect(res.status).toBe(404);
    expect(await res.text()).toBe('object not found: missing.bin@user-42\n');
  });

  it('answers 403 with a short reason for expired, forged or missing signatures', async () => {
    const secret = validateSigningSecret(TEST_SECRET);
    const expired = buildLocalSignedUrl(fx.server.url, secret, 'GET', ref('data.bin'), nowUnixSeconds() - 10);
    let res = await fetch(expired);
    expect(res.status).toBe(403);
    expect(await res.text()).toBe('signed URL expired\n');

    const forged = buildLocalSignedUrl(fx.server.url, validateSigningSecret('another-secret-of-enough-length'), 'GET', ref('data.bin'), nowUnixSeconds() + 60);
    res = await fetch(forged);
    expect(res.status).toBe(403);
    expect(await res.text()).toBe('signature does not match\n');

    // a forged signature with a past expiry says "does not match", not "expired"
    res = await fetch(buildLocalSignedUrl(fx.server.url, validateSigningSecret('another-secret-of-enough-length'), 'GET', ref('data.bin'), 1));
    expect(await res.text()).toBe('signature does not match\n');

    const bare = await fetch(`${fx.server.url}/o/user-42/data.bin`);
    expect(bare.status).toBe(403);
    expect(await bare.text()).toBe('missing or malformed expires/sig\n');

    const extended = new URL(await download());
    extended.searchParams.set('expires', String(Number(extended.searchParams.get('expires')) + 3600));
    res = await fetch(extended);
    expect(res.status).toBe(403);
    await res.arrayBuffer();
  });

  it('refuses traversal in the request path before checking anything else', async () => {
    const { search } = new URL(await download());
    for (const target of ['/o/user-42/../../etc/passwd', '/o/user-42/%2e%2e/%2e%2e/etc/passwd', '/o/user-42/a%2F..%2F..%2Fx', '/o/user-42//etc/passwd']) {
      const res = await rawRequest(fx.server.url, 'GET', target + search);
      expect(res.status).toBe(400);
      expect(res.body.toString()).toMatch(/invalid object name/);
    }
    const bad = await rawRequest(fx.server.url, 'GET', '/o/user-42/%E0%A4%A' + search);
    expect(bad.status).toBe(400);
    expect(bad.body.toString()).toBe('malformed percent-encoding in path\n');
    expect((await rawRequest(fx.server.url, 'GET', '/etc/passwd')).status).toBe(404);
  });

  it('answers 405 to methods other than GET, HEAD and PUT', async () => {
    const res = await fetch(await download(), { method: 'DELETE' });
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('GET, HEAD, PUT');
    await res.arrayBuffer();
    expect(await fx.storage.stat(ref('data.bin'))).not.toBeNull();
  });

  it('stores a PUT body and answers with its size and sha256', async () => {
    const body = randomData(3 * 1024 * 1024);
    const res = await fetch(await upload('uploads/new.bin'), { method: 'PUT', body, headers: { 'x-wsrun-sha256': sha256Hex(body) } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ size: body.length, sha256: sha256Hex(body) });
    expect((await readAll(await fx.storage.get(ref('uploads/new.bin')))).equals(body)).toBe(true);
  });

  it('streams a chunked PUT body of unknown length', async () => {
    const body = randomData(1024 * 1024);
    const res = await fetch(await upload('uploads/chunked.bin'), { method: 'PUT', body: streamOf(body) as unknown as ReadableStream, duplex: 'half' } as RequestInit);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ size: body.length, sha256: sha256Hex(body) });
  });

  it('refuses a PUT whose x-wsrun-sha256 does not match and keeps the previous object', async () => {
    await fx.storage.put(ref('uploads/kept.bin'), streamOf(Buffer.from('previous')));
    const wrong = sha256Hex(Buffer.from('other'));
    const res = await fetch(await upload('uploads/kept.bin'), { method: 'PUT', body: 'replacement', headers: { 'x-wsrun-sha256': wrong } });
    expect(res.status).toBe(400);
    expect(await res.text()).toContain(`sha256 mismatch: expected ${wrong}`);
    expect((await readAll(await fx.storage.get(ref('uploads/kept.bin')))).toString()).toBe('previous');
    const malformed = await fetch(await upload('uploads/kept.bin'), { method: 'PUT', body: 'x', headers: { 'x-wsrun-sha256': 'abc' } });
    expect(malformed.status).toBe(400);
    expect(await malformed.text()).toBe('x-wsrun-sha256 must be 64 hex digits\n');
    expect(await fx.tempFiles()).toEqual([]);
  });

  it('answers 404 to a PUT into a missing bucket', async () => {
    const res = await fetch(await fx.storage.signedUploadUrl({ bucket: 'no-such-bucket', object: 'x' }, 60), { method: 'PUT', body: 'x' });
    expect(res.status).toBe(404);
    expect(await res.text()).toBe('bucket not found: no-such-bucket\n');
  });

  it('keeps the previous object when a PUT connection drops midway', async () => {
    await fx.storage.put(ref('uploads/dropped.bin'), streamOf(Buffer.from('previous')));
    const url = new URL(await upload('uploads/dropped.bin'));
    const handled = fx.nextRequestDone();
    await new Promise<void>((resolve) => {
      const req = http.request({ host: url.hostname, port: url.port, method: 'PUT', path: url.pathname + url.search, headers: { 'Content-Length': '1000000' } });
      req.on('error', () => resolve());
      req.write(randomData(300_000), () => setTimeout(() => req.destroy(), 50));
      req.on('close', () => resolve());
    });
    // the server notices the drop asynchronously: once it is done with the request, nothing is left
    await handled;
    expect(await fx.tempFiles()).toEqual([]);
    expect((await readAll(await fx.storage.get(ref('uploads/dropped.bin')))).toString()).toBe('previous');
  });
});

describe('LocalStorageServer with a bandwidth cap', () => {
  let fx: LocalFixture;
  const ref: ObjectRef = { bucket: 'bench', object: 'payload.bin' };
  const data = randomData(256 * 1024);

  beforeAll(async () => {
    fx = await startLocalFixture({ maxBytesPerSecondPerConnection: 2 * 1024 * 1024 });
    await fx.storage.ensureBucket('bench');
    await fx.storage.put(ref, streamOf(data));
  });
  afterAll(async () => {
    await fx.stop();
  });

  it('still delivers every byte, whole and in ranges', async () => {
    const url = await fx.storage.signedDownloadUrl(ref, 60);
    expect(Buffer.from(await (await fetch(url)).arrayBuffer()).equals(data)).toBe(true);
    const part = await fetch(url, { headers: { Range: 'bytes=1000-150000' } });
    expect(Buffer.from(await part.arrayBuffer()).equals(data.subarray(1000, 150_001))).toBe(true);
  });

  it('lets a download in flight finish on close, then refuses new connections', async () => {
    const url = await fx.storage.signedDownloadUrl(ref, 60);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    const closing = fx.server.close();
    expect(Buffer.from(await res.arrayBuffer()).equals(data)).toBe(true);
    await closing;
    await expect(fetch(url)).rejects.toThrow('fetch failed');
  });

  it('refuses a cap that is not a positive rate', () => {
    const storage = new LocalObjectStorage({ root: fx.root });
    expect(() => new LocalStorageServer({ storage, secret: TEST_SECRET, maxBytesPerSecondPerConnection: 0 })).toThrow('must be a positive number');
  });
});
