import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Reads a stream to its end or error; records whether the consumer saw a clean 'end'. */
export async function consume(stream: Readable): Promise<{ data: Buffer; error?: unknown; ended: boolean }> {
  const chunks: Buffer[] = [];
  let ended = false;
  stream.on('end', () => (ended = true));
  try {
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return { data: Buffer.concat(chunks), ended };
  } catch (error) {
    return { data: Buffer.concat(chunks), error, ended };
  }
}
