import { MIN_PART_SIZE_BYTES, S3ObjectStorage, type ObjectRef } from '../src';
import { expectWsError, failingStream, randomData, readAll, sha256Hex, streamOf } from './support/files';
import { describeObjectStorageConformance } from './support/object-storage-conformance';
import { S3_REGION, S3RVER_CREDENTIALS, startS3Fixture, type S3Fixture } from './support/s3-fixture';

function s3Storage(endpoint: string, partSizeBytes?: number): S3ObjectStorage {
  return new S3ObjectStorage({ endpoint, region: S3_REGION, credentials: S3RVER_CREDENTIALS, partSizeBytes });
}

describeObjectStorageConformance('S3ObjectStorage', async () => {
  const fx = await startS3Fixture();
  const storage = s3Storage(fx.endpoint);
  return {
    storage,
    // parts of failed multipart uploads are invisible to readers and lists by construction
    leftovers: async () => [],
    async stop() {
      storage.close();
      await fx.stop();
    },
  };
});

describe('S3ObjectStorage (multipart uploads and S3 specifics)', () => {
  let fx: S3Fixture;
  let storage: S3ObjectStorage;
  let bucket: string;
  let n = 0;
  const ref = (object: string): ObjectRef => ({ bucket, object });
  // 5 MiB parts (S3's minimum) so a 12 MiB object takes three parts
  const partSize = MIN_PART_SIZE_BYTES;

  beforeAll(async () => {
    fx = await startS3Fixture();
    storage = s3Storage(fx.endpoint, partSize);
  });
  afterAll(async () => {
    storage?.close();
    await fx?.stop();
  });
  beforeEach(async () => {
    bucket = `multipart-${++n}`;
    await storage.ensureBucket(bucket);
  });

  it('uploads an object larger than a part in parts and reads it back whole and in ranges', async () => {
    const data = randomData(12 * 1024 * 1024 + 5);
    const result = await storage.put(ref('big.tar'), streamOf(data));
    expect(result).toEqual({ size: data.length, sha256: sha256Hex(data) });
    expect((await readAll(await storage.get(ref('big.tar')))).equals(data)).toBe(true);
    // a range across the first part boundary
    const across = await readAll(await storage.get(ref('big.tar'), { start: partSize - 10, end: partSize + 9 }));
    expect(across.equals(data.subarray(partSize - 10, partSize + 10))).toBe(true);
    expect((await storage.stat(ref('big.tar')))?.size).toBe(data.length);
  });

  it('uploads an object of exactly one part as a single PutObject', async () => {
    const data = randomData(partSize);
    expect(await storage.put(ref('one-part'), streamOf(data))).toEqual({ size: partSize, sha256: sha256Hex(data) });
    expect((await readAll(await storage.get(ref('one-part')))).equals(data)).toBe(true);
    // only a single PutObject records the sha256 without being told it
    expect((await storage.stat(ref('one-part')))?.sha256).toBe(sha256Hex(data));
  });

  it('records sha256 for single-part uploads, and for multipart ones when it was expected', async () => {
    const small = randomData(1000);
    await storage.put(ref('small'), streamOf(small));
    expect((await storage.stat(ref('small')))?.sha256).toBe(sha256Hex(small));
    const big = randomData(partSize + 1000);
    await storage.put(ref('big-unchecked'), streamOf(big));
    expect((await storage.stat(ref('big-unchecked')))?.sha256).toBeUndefined();
    await storage.put(ref('big-checked'), streamOf(big), { expectedSha256: sha256Hex(big) });
    expect((await storage.stat(ref('big-checked')))?.sha256).toBe(sha256Hex(big));
    // a copy keeps it
    await storage.copy(ref('big-checked'), ref('big-copy'));
    expect((await storage.stat(ref('big-copy')))?.sha256).toBe(sha256Hex(big));
  });

  it('does not complete a multipart upload whose sha256 differs; the previous object stays', async () => {
    const previous = randomData(100_000);
    await storage.put(ref('backup.tar'), streamOf(previous));
    const next = randomData(2 * partSize + 123);
    const wrong = sha256Hex(previous);
    await expectWsError(storage.put(ref('backup.tar'), streamOf(next), { expectedSha256: wrong }), 'INVALID_ARGUMENT', `sha256 mismatch: expected ${wrong}`);
    expect((await readAll(await storage.get(ref('backup.tar')))).equals(previous)).toBe(true);
    expect((await storage.list(bucket, '')).map((o) => o.object)).toEqual(['backup.tar']);
  });

  it('abandons a multipart upload whose stream fails after some parts; the previous object stays', async () => {
    const previous = randomData(100_000);
    await storage.put(ref('backup.tar'), streamOf(previous));
    const next = randomData(3 * partSize);
    await expectWsError(storage.put(ref('backup.tar'), failingStream(next, 2 * partSize + 4096, 'socket hang up')), 'INTERNAL', 'reading the upload stream: socket hang up');
    expect((await readAll(await storage.get(ref('backup.tar')))).equals(previous)).toBe(true);
    await expectWsError(storage.put(ref('never.tar'), failingStream(next, partSize + 1, 'socket hang up')), 'INTERNAL', 'socket hang up');
    expect(await storage.stat(ref('never.tar'))).toBeNull();
  });

  it('reports an unreachable store as UNAVAILABLE, naming the operation', async () => {
    const dead = s3Storage('http://127.0.0.1:1');
    try {
      await expectWsError(dead.stat({ bucket: 'any-bucket', object: 'x' }), 'UNAVAILABLE', 'stat of object x@any-bucket');
    } finally {
      dead.close();
    }
  });

  it('validates its options', () => {
    expect(() => s3Storage('ftp://host')).toThrow('must be http or https');
    expect(() => s3Storage(fx.endpoint, 1024)).toThrow(`must be an integer >= ${MIN_PART_SIZE_BYTES}`);
    expect(() => new S3ObjectStorage({ endpoint: fx.endpoint, credentials: { accessKeyId: '', secretAccessKey: '' } })).toThrow('accessKeyId and secretAccessKey are required');
  });
});
