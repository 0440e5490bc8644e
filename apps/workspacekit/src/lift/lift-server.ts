import type { LevelLogger } from '@wsrun/common';
import { closeFd, FdChannel, spawnStage, UnixListener, type Stage } from '@wsrun/native-ns';
import { decode, encode, type LiftRequest } from './lift-protocol';

/**
 * Serves `workspacekit lift`: runs a command in ring1's context (its user and mount namespaces:
 * root in the workspace's user namespace, outside ring2's mounts), with the caller's stdio, and
 * sends back the exit status. Only the workspace's own user may connect (the socket sits in
 * ring0's runtime folder and is bound into the workspace at /.workspace/lift.sock).
 */
export class LiftServer {
  private listener: UnixListener | undefined;
  private readonly running = new Set<Stage>();

  constructor(
    private readonly socketPath: string,
    private readonly ring1Pidfd: () => number | undefined,
    private readonly log: LevelLogger,
  ) {}

  listen(): void {
    this.listener = new UnixListener(this.socketPath, (fd, peer) => {
      if (peer.uid !== process.getuid?.() && peer.uid !== 0) {
        closeFd(fd);
        return;
      }
      this.serve(fd);
    });
    this.listener.unref();
  }

  close(): void {
    this.listener?.close();
    for (const stage of this.running) {
      try {
        stage.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  private serve(fd: number): void {
    let stage: Stage | undefined;
    const channel = new FdChannel(fd, (message) => {
      if (message === null) {
        // the client went away: so does its command
        stage?.kill('SIGKILL');
        return;
      }
      const request = decode<LiftRequest>(message.data);
      if (request.type === 'signal') {
        try {
          stage?.kill(request.signal);
        } catch {
          // not running (any more)
        }
        return;
      }
      const fds = message.fds;
      try {
        stage = this.start(request, fds);
      } catch (err) {
        channel.send(encode({ type: 'error', message: (err as Error).message }));
        channel.close();
        return;
      } finally {
        // the stage got its copies with its program
        for (const f of fds) closeFd(f);
      }
      const started = stage;
      this.running.add(started);
      started.ready.catch((err: Error) => channel.send(encode({ type: 'error', message: err.message })));
      void started.exited.then((status) => {
        this.running.delete(started);
        try {
          channel.send(encode({ type: 'exit', code: status.code, signal: status.signal }));
        } catch {
          // the client is gone
        }
        channel.close();
      });
    });
  }

  private start(request: Extract<LiftRequest, { type: 'run' }>, fds: number[]): Stage {
    const ring1 = this.ring1Pidfd();
    if (ring1 === undefined) throw new Error('the workspace is not running');
    if (!Array.isArray(request.argv) || request.argv.length === 0) throw new Error('lift: no command given');
    this.log.info({ argv: request.argv }, 'lift');
    return spawnStage({
      name: 'wskit:lift',
      steps: [{ op: 'setns', fd: ring1, namespaces: ['user', 'mount'] }],
      fds: Object.fromEntries(fds.slice(0, 3).map((f, i) => [i, f])),
      end: { exec: { argv: request.argv, env: request.env ?? { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }, cwd: request.cwd ?? '/' } },
    });
  }
}
