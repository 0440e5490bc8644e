import { WsError, WsErrorCode } from '@wsrun/common';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readlinkSync, realpathSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { join } from 'node:path';

/**
 * A private redis-server (Debian's package) for one node: a unix socket in the daemon's state
 * folder, no TCP port, persistence on (append-only file, fsync on every write: a job the caller
 * was told about survives a restart of Redis). Started by ws-daemon when no REDIS_URL is given and
 * stopped with it.
 *
 * It never outlives its owner: it runs with a parent-death signal (setpriv --pdeathsig), and a
 * server still running on the same folder (an owner killed before the signal could be set, or
 * one started by hand) is stopped before a new one starts: two servers appending to one file
 * would corrupt the queue.
 */
export class PrivateRedis {
  private process: ChildProcess | undefined;
  private log = '';

  constructor(readonly dir: string) {}

  get socket(): string {
    return join(this.dir, 'redis.sock');
  }

  get pidFile(): string {
    return join(this.dir, 'redis.pid');
  }

  /** Starts the server (or a new one on the same data after a crash); resolves once it answers. */
  async start(timeoutMs = 10_000): Promise<string> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    await this.stopStaleServer();
    const config = join(this.dir, 'redis.conf');
    writeFileSync(
      config,
      [
        'port 0',
        `unixsocket ${this.socket}`,
        'unixsocketperm 700',
        `dir ${this.dir}`,
        'appendonly yes',
        'appendfsync always',
        'save ""',
        'daemonize no',
        `pidfile ${this.pidFile}`,
        'protected-mode yes',
        'loglevel warning',
        // BullMQ keeps its state in keys that must never be evicted
        'maxmemory-policy noeviction',
      ].join('\n') + '\n',
      { mode: 0o600 },
    );
    // TERM when this process dies (the signal follows the thread that forked: Node's main thread)
    const child = spawn('setpriv', ['--pdeathsig', 'TERM', '--', 'redis-server', config], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.process = child;
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (this.log += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.log += d));
    const failed = new Promise<never>((_, reject) => {
      child.once('error', (err) =>
        reject(new WsError(WsErrorCode.Unavailable, `redis-server could not start (${(err as NodeJS.ErrnoException).code}); install Debian's redis-server and util-linux (setpriv)`, { cause: err })),
      );
      child.once('exit', (code) => reject(new WsError(WsErrorCode.Unavailable, `redis-server exited with ${code}: ${this.log.trim().slice(-500)}`)));
    });
    failed.catch(() => undefined);
    const until = Date.now() + timeoutMs;
    for (;;) {
      if (existsSync(this.socket) && (await ping(this.socket))) return this.socket;
      if (Date.now() > until) throw new WsError(WsErrorCode.Unavailable, `redis-server did not answer on ${this.socket} within ${timeoutMs} ms: ${this.log}`);
      await Promise.race([new Promise((r) => setTimeout(r, 20)), failed]);
    }
  }

  /** Stops the server, letting it flush its append-only file; SIGKILL after the grace period. */
  async stop(graceMs = 5000): Promise<void> {
    const child = this.process;
    this.process = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }

  /**
   * A redis-server left running on this folder by an earlier owner: the pid in the pid file, if
   * that process is a redis-server working in this folder. TERM (it flushes), KILL after 5 s.
   */
  private async stopStaleServer(): Promise<void> {
    let pid: number;
    try {
      pid = Number(readFileSync(this.pidFile, 'utf8').trim());
    } catch {
      return;
    }
    if (!Number.isInteger(pid) || pid <= 1 || !isRedisIn(pid, this.dir)) return;
    const signal = (sig: NodeJS.Signals): void => {
      try {
        process.kill(pid, sig);
      } catch {
        // gone meanwhile
      }
    };
    signal('SIGTERM');
    for (let waited = 0; isRedisIn(pid, this.dir); waited += 20) {
      if (waited === 5000) signal('SIGKILL');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** SIGKILL, as a crash would (tests of "Redis restarted while work is queued"). */
  async kill(): Promise<void> {
    const child = this.process;
    this.process = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGKILL');
    await exited;
  }
}

/** pid is a live redis-server whose working folder is dir (its `dir` setting). */
function isRedisIn(pid: number, dir: string): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/\) [ZX] /.test(stat)) return false;
    return readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith('redis-server') && readlinkSync(`/proc/${pid}/cwd`) === realpathSync(dir);
  } catch {
    return false;
  }
}

function ping(socket: string): Promise<boolean> {
  return new Promise((resolve) => {
    const conn = createConnection(socket);
    const done = (ok: boolean) => {
      conn.destroy();
      resolve(ok);
    };
    conn.once('error', () => done(false));
    conn.once('data', (d) => done(d.toString().startsWith('+PONG')));
    conn.write('PING\r\n');
  });
}
