import { SignatureV4 } from '@smithy/signature-v4';
import { encodeS3Key, presignSigV4 } from '../src';
import { NodeSha256 } from './support/s3-fixture';

// The example of https://docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html
const AWS_EXAMPLE = {
  credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
  date: new Date('2013-05-24T00:00:00Z'),
};

describe('SigV4 query-string presigning', () => {
  it('reproduces the presigned URL of the AWS documentation', () => {
    const url = presignSigV4({
      method: 'GET',
      url: 'https://examplebucket.s3.amazonaws.com/test.txt',
      region: 'us-east-1',
      service: 's3',
      credentials: AWS_EXAMPLE.credentials,
      expiresInSeconds: 86400,
      now: AWS_EXAMPLE.date,
    });
    expect(url).toBe(
      'https://examplebucket.s3.amazonaws.com/test.txt' +
        '?X-Amz-Algorithm=AWS4-HMAC-SHA256' +
        '&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request' +
        '&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host' +
        '&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404',
    );
  });

  it.each([
    ['PUT', 'workspaces/ws-1/full.tar'],
    ['GET', "odd names/with spaces+plus&amp=eq?q#hash/ünï(c)!*'~.tar"],
  ])('agrees with the AWS SDK signer for a path-style %s of %j on a custom port', async (method, key) => {
    const date = new Date('2024-02-29T12:34:56Z');
    const path = `/user-42/${encodeS3Key(key)}`;
    const ours = new URL(
      presignSigV4({ method, url: `http://127.0.0.1:9000${path}`, region: 'eu-central-1', service: 's3', credentials: AWS_EXAMPLE.credentials, expiresInSeconds: 600, now: date }),
    );
    const sdk = await new SignatureV4({ credentials: AWS_EXAMPLE.credentials, region: 'eu-central-1', service: 's3', sha256: NodeSha256, uriEscapePath: false }).presign(
      { method, protocol: 'http:', hostname: '127.0.0.1', port: 9000, path, query: {}, headers: { host: '127.0.0.1:9000', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } },
      { signingDate: date, expiresIn: 600, unsignableHeaders: new Set(['x-amz-content-sha256']), unhoistableHeaders: new Set(['x-amz-content-sha256']) },
    );
    expect(ours.pathname).toBe(path);
    expect(ours.searchParams.get('X-Amz-Signature')).toBe(sdk.query?.['X-Amz-Signature']);
    expect(ours.searchParams.get('X-Amz-Credential')).toBe(sdk.query?.['X-Amz-Credential']);
  });

  it('encodes keys per segment the way S3 expects', () => {
    expect(encodeS3Key("a b/c+d/e(f)!*'~_-.")).toBe('a%20b/c%2Bd/e%28f%29%21%2A%27~_-.');
  });
});
