import { spawn } from 'node:child_process';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A real git smart-HTTP server for tests: Node's http server running `git http-backend` as a
 * CGI program over a folder of bare repositories, with optional basic auth, injected transient
 * failures (503), and a one-time-secret endpoint (/ots/<token>, answers once).
 */
export interface GitHttpServerOptions {
  root: string;
  /** user → password; when set, every git request needs basic auth */
  users?: Record<string, string>;
  /** delay before answering each git request (keeps git's processes alive for inspection) */
  delayMs?: number;
}

export class GitHttpServer {
  readonly server: http.Server;
  url = '';
  /** requests answered 503 before serving again (set by a test) */
  failNext = 0;
  /** the Authorization headers seen, for leak checks */
  readonly authHeaders: string[] = [];
  requests = 0;
  private readonly ots = new Map<string, string>();

  constructor(private readonly opts: GitHttpServerOptions) {
    this.server = http.createServer((req, res) => this.handle(req, res));
  }

  async listen(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this.url;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** A one-time-secret URL that yields `secret` exactly once. */
  oneTimeSecret(token: string, secret: string): string {
    this.ots.set(token, secret);
    return `${this.url}/ots/${token}`;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (this.opts.delayMs) {
      setTimeout(() => this.serve(req, res), this.opts.delayMs);
      return;
    }
    this.serve(req, res);
  }

  private serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname.startsWith('/ots/')) {
      const token = url.pathname.slice('/ots/'.length);
      const secret = this.ots.get(token);
      this.ots.delete(token);
      res.writeHead(secret === undefined ? 404 : 200, { 'content-type': 'text/plain' }).end(secret ?? 'gone\n');
      return;
    }
    this.requests++;
    if (this.failNext > 0) {
      this.failNext--;
      res.writeHead(503, { 'content-type': 'text/plain' }).end('try later\n');
      return;
    }
    let user = '';
    if (this.opts.users) {
      const header = req.headers.authorization ?? '';
      if (header) this.authHeaders.push(header);
      const [scheme, value] = header.split(' ');
      const [name, password] = scheme === 'Basic' && value ? Buffer.from(value, 'base64').toString('utf8').split(':') : [];
      if (!name || this.opts.users[name] === undefined || this.opts.users[name] !== password) {
        res.writeHead(401, { 'www-authenticate': 'Basic realm="git"', 'content-type': 'text/plain' }).end('unauthorized\n');
        return;
      }
      user = name;
    }
    const cgi = spawn('git', ['http-backend'], {
      env: {
        PATH: '/usr/bin:/bin',
        GIT_PROJECT_ROOT: this.opts.root,
        GIT_HTTP_EXPORT_ALL: '1',
        GIT_CONFIG_NOSYSTEM: '1',
        REQUEST_METHOD: req.method ?? 'GET',
        PATH_INFO: decodeURIComponent(url.pathname),
        QUERY_STRING: url.search.slice(1),
        CONTENT_TYPE: req.headers['content-type'] ?? '',
        ...(req.headers['content-length'] ? { CONTENT_LENGTH: req.headers['content-length'] } : {}),
        ...(req.headers['content-encoding'] ? { HTTP_CONTENT_ENCODING: req.headers['content-encoding'] } : {}),
        ...(req.headers['git-protocol'] ? { GIT_PROTOCOL: String(req.headers['git-protocol']) } : {}),
        REMOTE_USER: user,
        REMOTE_ADDR: '127.0.0.1',
      },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    req.pipe(cgi.stdin);
    let head = Buffer.alloc(0);
    let headersDone = false;
    cgi.stdout.on('data', (chunk: Buffer) => {
      if (headersDone) {
        res.write(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end < 0) return;
      headersDone = true;
      let status = 200;
      const headers: Record<string, string> = {};
      for (const line of head.subarray(0, end).toString('latin1').split('\r\n')) {
        const i = line.indexOf(':');
        const name = line.slice(0, i).trim();
        const value = line.slice(i + 1).trim();
        if (name.toLowerCase() === 'status') status = parseInt(value, 10);
        else headers[name] = value;
      }
      res.writeHead(status, headers);
      res.write(head.subarray(end + 4));
    });
    cgi.stdout.on('end', () => {
      if (!headersDone) res.writeHead(500).end();
      else res.end();
    });
    cgi.stderr.resume();
  }
}
