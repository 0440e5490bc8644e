import * as http2 from 'node:http2';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { H2Connection } from '../../src/lib/h2/h2-connection';
import { encodeHeaders, HpackDecoder, HpackError } from '../../src/lib/h2/hpack';
import { CODES_PER_LENGTH, huffmanDecode, OCTETS_IN_CODE_ORDER } from '../../src/lib/h2/huffman';

// The header codec against nghttp2 (node:http2's encoder and decoder): whatever a real server
// writes must read back exactly, and what we write must read back in a real server.
describe('HPACK', () => {
  let dir: string;
  let server: http2.Http2Server;
  let socket: string;
  const connections: H2Connection[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'wsrun-hpack-'));
    socket = join(dir, 'h2.sock');
  });
  afterEach(async () => {
    for (const c of connections.splice(0)) c.destroy();
    await new Promise((r) => server?.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  /** A server answering every request with the headers that `respond` gives for its path. */
  async function serve(respond: (path: string, requestHeaders: http2.IncomingHttpHeaders) => http2.OutgoingHttpHeaders): Promise<void> {
    server = http2.createServer();
    server.on('stream', (stream, headers) => {
      stream.respond({ ':status': 200, ...respond(String(headers[':path']), headers) }, { endStream: true });
    });
    await new Promise<void>((r) => server.listen(socket, r));
  }
  async function connect(): Promise<H2Connection> {
    const c = await H2Connection.connect(socket);
    connections.push(c);
    return c;
  }
  const value = (headers: [string, string][], name: string) => headers.filter(([n]) => n === name).map(([, v]) => v);

  it('reads every octet a server can put in a header value, Huffman-coded by nghttp2', async () => {
    // each octet among many short-coded ones, so that nghttp2 chooses the Huffman form
    const octets = [9, ...Array.from({ length: 95 }, (_, i) => 32 + i), ...Array.from({ length: 128 }, (_, i) => 128 + i)];
    const probe = (o: number) => `aeiou${String.fromCharCode(o)}aeiouaeiouaeiou${String.fromCharCode(o)}`;
    await serve((path) => ({ 'x-probe': probe(Number(path.slice(1))) }));
    const c = await connect();
    for (const o of octets) {
      const r = await c.request([[':method', 'GET'], [':scheme', 'http'], [':path', `/${o}`], [':authority', 'localhost']], Buffer.alloc(0)).response;
      expect([o, value(r.headers, 'x-probe')]).toEqual([o, [probe(o)]]);
    }
  });

  it('keeps its dynamic table in step with the server over many responses, through evictions', async () => {
    // long values fill the 4096-octet table: nghttp2 indexes, refers back and evicts
    await serve((path) => ({ 'x-long': `${path}:${'v'.repeat(900)}`, 'x-same': 'repeated on every response', 'x-turn': path }));
    const c = await connect();
    for (let i = 0; i < 30; i++) {
      const path = `/${i % 7}`;
      const r = await c.request([[':method', 'GET'], [':scheme', 'http'], [':path', path], [':authority', 'localhost']], Buffer.alloc(0)).response;
      expect(value(r.headers, 'x-long')).toEqual([`${path}:${'v'.repeat(900)}`]);
      expect(value(r.headers, 'x-same')).toEqual(['repeated on every response']);
      expect(value(r.headers, 'x-turn')).toEqual([path]);
      expect(value(r.headers, ':status')).toEqual(['200']);
    }
  });

  it('writes request headers that a real server reads back as sent', async () => {
    let seen: http2.IncomingHttpHeaders = {};
    await serve((_path, headers) => {
      seen = headers;
      return {};
    });
    const c = await connect();
    const long = 'x'.repeat(300); // a length past the 7-bit prefix
    await c.request([[':method', 'POST'], [':scheme', 'http'], [':path', '/a/b?c=d'], [':authority', 'localhost'], ['content-type', 'application/grpc'], ['te', 'trailers'], ['x-long', long]], Buffer.from('body')).response;
    expect(seen).toMatchObject({ ':method': 'POST', ':path': '/a/b?c=d', ':authority': 'localhost', 'content-type': 'application/grpc', te: 'trailers', 'x-long': long });
  });

  it("holds RFC 7541's whole Huffman code, also for the octets no server of ours can send", () => {
    // all 256 octets, once each, and with EOS a complete prefix code (Kraft's sum is exactly 1)
    expect([...OCTETS_IN_CODE_ORDER].map((c) => c.charCodeAt(0)).sort((a, b) => a - b)).toEqual(Array.from({ length: 256 }, (_, i) => i));
    expect(CODES_PER_LENGTH.reduce((sum, n, length) => sum + n * 2 ** -length, 2 ** -30)).toBe(1);
    // codes from the RFC's table for control octets (node:http2 refuses to send them): 0x00 is
    // 1111111111000, 0x01 11111111111111111011000, '\n' 111111111111111111111111111100
    const bits = (s: string) => Buffer.from(s.padEnd(Math.ceil(s.length / 8) * 8, '1').match(/.{8}/g)!.map((b) => parseInt(b, 2)));
    expect(huffmanDecode(bits('1111111111000' + '11111111111111111011000' + '111111111111111111111111111100' + '00011'))).toBe('\x00\x01\na');
  });

  it('refuses malformed input instead of guessing', () => {
    const decoder = new HpackDecoder();
    expect(() => decoder.decode(Buffer.from([0x80]))).toThrow(HpackError); // index 0
    expect(() => decoder.decode(Buffer.from([0xff, 0x00]))).toThrow(/not in the table/); // index 127, table empty
    expect(() => decoder.decode(Buffer.from([0x00, 0x05, 0x61]))).toThrow(/longer than its block/);
    expect(() => decoder.decode(Buffer.from([0x3f, 0xe2, 0x1f]))).toThrow(/above the announced 4096/); // a size update to 4097
    expect(() => decoder.decode(Buffer.concat([encodeHeaders([['a', 'b']]), Buffer.from([0x20])]))).toThrow(/after a header field/);
    // Huffman: '0' is 00000; EOS (30 ones) and a padding of 8 or more bits are errors
    expect(huffmanDecode(Buffer.from([0x07]))).toBe('0');
    expect(() => huffmanDecode(Buffer.from([0xff, 0xff, 0xff, 0xff]))).toThrow(/EOS/);
    expect(() => huffmanDecode(Buffer.from([0x1f, 0xff]))).toThrow(/padding/); // "a", then 11 one-bits
    expect(() => huffmanDecode(Buffer.from([0x02]))).toThrow(/padding/); // 00000 010: padding not all ones
  });
});
