import { createHash, createHmac, type Hash, type Hmac } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignatureV4 } from '@smithy/signature-v4';
import S3rver from 's3rver';
import { makeTempDir, removeTempDir } from './files';

export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' };
export const S3_REGION = 'us-east-1';

export interface S3Fixture {
  /** the gateway in front of s3rver: use it as the S3 endpoint */
  endpoint: string;
  stop(): Promise<void>;
}

/**
 * A real s3rver (in-process, on a temp folder) behind a small gateway that checks SigV4
 * presigned URLs. s3rver checks the expiry of presigned URLs but not their signature
 * ("Signature version 4 calculation is unimplemented" in its authentication middleware), so
 * the gateway recomputes every query signature with the AWS SDK's own signer
 * (@smithy/signature-v4, installed with @aws-sdk/client-s3) and answers 403 on a mismatch, as
 * S3 does. Requests signed in the Authorization header (the SDK's own calls) pass through.
 */
export async function startS3Fixture(): Promise<S3Fixture> {
  const dir = await makeTempDir('s3rver');
  const s3rver = new S3rver({ port: 0, address: '127.0.0.1', directory: dir, silent: true });
  const { port: upstreamPort } = await s3rver.run();
  const signer = new SignatureV4({ credentials: S3RVER_CREDENTIALS, region: S3_REGION, service: 's3', sha256: NodeSha256, uriEscapePath: false });

  const gateway = http.createServer((req, res) => {
    void (async () => {
      const problem = await checkPresignedSignature(signer, req);
      if (problem !== null) {
        res.writeHead(403, { 'Content-Type': 'application/xml' });
        res.end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>SignatureDoesNotMatch</Code><Message>${problem}</Message></Error>`);
        req.resume();
        return;
      }
      const upstream = http.request(
        { host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers: req.headers },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      upstream.on('error', () => res.destroy());
      req.pipe(upstream);
    })();
  });
  await new Promise<void>((resolve) => gateway.listen(0, '127.0.0.1', resolve));
  const { port } = gateway.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    async stop() {
      gateway.closeAllConnections();
      await new Promise<void>((resolve) => gateway.close(() => resolve()));
      await s3rver.close();
      await removeTempDir(dir);
    },
  };
}

/** null when the request is not presigned or its signature is right; otherwise why not. */
async function checkPresignedSignature(signer: SignatureV4, req: http.IncomingMessage): Promise<string | null> {
  const target = req.url ?? '/';
  const q = target.indexOf('?');
  if (q < 0) return null;
  const params = new URLSearchParams(target.slice(q + 1));
  const provided = params.get('X-Amz-Signature');
  if (provided === null) return null;
  const date = params.get('X-Amz-Date') ?? '';
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(date);
  if (!m) return 'malformed X-Amz-Date';
  const signingDate = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]));
  if (params.get('X-Amz-SignedHeaders') !== 'host') return 'this gateway checks only URLs that sign the host header alone';
  if (!params.get('X-Amz-Credential')?.startsWith(`${S3RVER_CREDENTIALS.accessKeyId}/`)) return 'unknown access key';
  // the signer adds the X-Amz-* auth parameters itself; everything else is part of the request
  const query: Record<string, string> = {};
  for (const [k, v] of params) {
    if (!['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-SignedHeaders', 'X-Amz-Signature'].includes(k)) query[k] = v;
  }
  const [hostname, port] = (req.headers.host ?? '').split(':');
  const presigned = await signer.presign(
    {
      method: req.method ?? 'GET',
      protocol: 'http:',
      hostname,
      port: port === undefined ? undefined : Number(port),
      path: target.slice(0, q),
      query,
      headers: { host: req.headers.host ?? '', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' },
    },
    {
      signingDate,
      expiresIn: Number(params.get('X-Amz-Expires')),
      unsignableHeaders: new Set(['x-amz-content-sha256']),
      unhoistableHeaders: new Set(['x-amz-content-sha256']),
    },
  );
  return presigned.query?.['X-Amz-Signature'] === provided ? null : 'The request signature we calculated does not match the signature you provided.';
}

/** The hash constructor interface the smithy signer expects, on node:crypto. */
export class NodeSha256 {
  private readonly h: Hash | Hmac;

  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', toBuffer(secret));
  }

  update(data: string | ArrayBuffer | ArrayBufferView): void {
    this.h.update(toBuffer(data));
  }

  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.h.digest());
  }

  reset(): void {
    throw new Error('not needed by the signer');
  }
}

function toBuffer(data: string | ArrayBuffer | ArrayBufferView): Buffer {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (ArrayBuffer.isView(data)) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return Buffer.from(data);
}
