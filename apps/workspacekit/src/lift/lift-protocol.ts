/**
 * Messages on the lift socket (SOCK_SEQPACKET, JSON, one per packet). The client's stdio fds
 * travel with the `run` request (SCM_RIGHTS), so the command writes straight to the caller's
 * terminal or pipes: nothing is copied through ring0.
 */
export type LiftRequest =
  | { type: 'run'; argv: string[]; env?: Record<string, string>; cwd?: string }
  | { type: 'signal'; signal: NodeJS.Signals };

export type LiftReply = { type: 'exit'; code: number | null; signal: NodeJS.Signals | null } | { type: 'error'; message: string };

export function encode(message: LiftRequest | LiftReply): Buffer {
  return Buffer.from(JSON.stringify(message), 'utf8');
}

export function decode<T>(data: Buffer): T {
  return JSON.parse(data.toString('utf8')) as T;
}
