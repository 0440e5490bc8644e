import { WsError, WsErrorCode } from '@wsrun/common';
import { connectUnix, FdChannel, FORWARDED_SIGNALS } from '@wsrun/native-ns';
import { constants } from 'node:os';
import { decode, encode, type LiftReply } from './lift-protocol';

/** `workspacekit lift -- cmd ...`: runs cmd in ring1's context; resolves with its exit code. */
export function lift(socketPath: string, argv: string[], cwd = process.cwd()): Promise<number> {
  let fd: number;
  try {
    fd = connectUnix(socketPath);
  } catch (err) {
    throw new WsError(WsErrorCode.Unavailable, `cannot reach ring0's lift socket ${socketPath}: ${(err as Error).message}`, { cause: err });
  }
  return new Promise((resolve, reject) => {
    const forward = (signal: NodeJS.Signals) => () => channel.send(encode({ type: 'signal', signal }));
    const handlers = FORWARDED_SIGNALS.filter((s) => s !== 'SIGPIPE').map((s) => [s, forward(s)] as const);
    const done = () => handlers.forEach(([s, h]) => process.off(s, h));
    const channel = new FdChannel(fd, (message) => {
      if (message === null) {
        done();
        reject(new WsError(WsErrorCode.Unavailable, 'ring0 closed the lift connection before the command ended'));
        return;
      }
      const reply = decode<LiftReply>(message.data);
      done();
      channel.close();
      if (reply.type === 'error') reject(new WsError(WsErrorCode.FailedPrecondition, `lift: ${reply.message}`));
      else resolve(reply.code ?? 128 + (reply.signal ? constants.signals[reply.signal] : 0));
    });
    handlers.forEach(([s, h]) => process.on(s, h));
    channel.send(encode({ type: 'run', argv, env: Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[1] !== undefined)), cwd }), [0, 1, 2]);
  });
}
