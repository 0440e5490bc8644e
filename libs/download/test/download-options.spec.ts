import { WsErrorCode } from '@wsrun/common';
import { download } from '../src/lib/download';
import { resolveDownloadOptions } from '../src/lib/download-options';

describe('download options', () => {
  it('fills in the documented defaults', () => {
    const options = resolveDownloadOptions({ url: 'https://storage.example/b.tar?sig=1' });
    expect(options).toMatchObject({ connections: 8, pieceSize: 4 * 1024 * 1024, retries: 5, timeoutMs: 30_000, maxBufferedBytes: 64 * 1024 * 1024 });
  });

  it.each([
    [{ url: 'not a url?sig=s3cr3t' }, 'invalid url: not a valid URL'],
    [{ url: 'ftp://host/x' }, 'invalid url: unsupported protocol ftp:'],
    [{ url: 'http://h/x', connections: 0 }, 'invalid connections: 0 is below the minimum 1'],
    [{ url: 'http://h/x', pieceSize: 1.5 }, 'invalid pieceSize: "1.5" is not an integer'],
    [{ url: 'http://h/x', pieceSize: 100, maxBufferedBytes: 99 }, 'invalid maxBufferedBytes: 99 is below the minimum 100'],
    [{ url: 'http://h/x', expectedSha256: 'abc' }, 'invalid expectedSha256: expected 64 hex digits'],
  ])('rejects %j synchronously with INVALID_ARGUMENT', (options, message) => {
    expect(() => download(options)).toThrow(expect.objectContaining({ code: WsErrorCode.InvalidArgument, message }));
  });
});
