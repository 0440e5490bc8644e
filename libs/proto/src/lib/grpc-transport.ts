import {
  credentials,
  Metadata,
  Server,
  ServerCredentials,
  type Client,
  type ChannelOptions,
  type ServiceError,
} from '@grpc/grpc-js';
import { unlink } from 'node:fs/promises';

/** gRPC target for a unix socket path. */
export function unixTarget(socketPath: string): string {
  return `unix:${socketPath}`;
}

/**
 * Channel options every wsrun client uses (main.ts and tests alike): fail fast when the server is
 * not there instead of queueing calls forever, and keep the connection without pings on a local
 * socket.
 */
export const CLIENT_CHANNEL_OPTIONS: ChannelOptions = {
  'grpc.enable_retries': 0,
  'grpc.max_receive_message_length': 16 * 1024 * 1024,
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
};

export type ClientConstructor<C extends Client> = new (
  address: string,
  creds: ReturnType<typeof credentials.createInsecure>,
  options?: ChannelOptions,
) => C;

/** A client of a generated service on a unix socket (or any gRPC target with `target:`). */
export function createClient<C extends Client>(ctor: ClientConstructor<C>, address: string | { target: string }): C {
  const target = typeof address === 'string' ? unixTarget(address) : address.target;
  return new ctor(target, credentials.createInsecure(), CLIENT_CHANNEL_OPTIONS);
}

type UnaryMethod<Req, Res> = (
  request: Req,
  metadata: Metadata,
  options: { deadline: Date; waitForReady?: boolean },
  callback: (error: ServiceError | null, response: Res) => void,
) => unknown;

/**
 * Calls a unary method with a deadline and returns a promise. Errors are grpc ServiceErrors.
 * With waitForReady the call waits for the channel to connect (until the deadline) instead of
 * failing at once when the server is not there yet.
 */
export function callUnary<Req, Res>(method: UnaryMethod<Req, Res>, request: Req, timeoutMs = 30_000, opts: { waitForReady?: boolean } = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    method(request, new Metadata(), { deadline: new Date(Date.now() + timeoutMs), waitForReady: opts.waitForReady ?? false }, (error, response) =>
      error ? reject(error) : resolve(response),
    );
  });
}

/**
 * Binds a server on a unix socket, replacing a stale socket file left by a crash.
 * Resolves once the socket accepts connections.
 */
export async function bindUnix(server: Server, socketPath: string): Promise<void> {
  await unlink(socketPath).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(unixTarget(socketPath), ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve())),
  );
}

/** Stops a server: waits up to graceMs for calls in flight, then cancels the rest. */
export async function shutdownServer(server: Server, graceMs = 5000): Promise<void> {
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => {
      server.forceShutdown();
      resolve();
    }, graceMs);
    server.tryShutdown(() => {
      clearTimeout(timer);
      resolve();
    });
  });
}
