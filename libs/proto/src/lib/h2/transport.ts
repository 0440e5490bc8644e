import type * as net from 'node:net';

/**
 * The byte stream under an HTTP/2 connection. write() takes everything it is given (queueing
 * what the kernel does not take at once) in order; onData gets the bytes as they arrive, each
 * chunk in a buffer of its own that the transport does not touch again; onClose fires once, when
 * the stream ended or failed, with the error if it failed.
 */
export interface H2Transport {
  write(data: Buffer): void;
  /** Writes `data` (if any), then closes the stream for writing and ends it. */
  end(data?: Buffer): void;
  destroy(): void;
  onData(listener: (chunk: Buffer) => void): void;
  onClose(listener: (err?: Error) => void): void;
}

/** Opens a connected transport to a unix socket path; rejects (or throws) when it cannot connect. */
export type H2Connector = (path: string) => H2Transport | Promise<H2Transport>;

/**
 * node:net's unix socket as the transport: the default for every client. node:net is loaded at
 * the first connect, not with this module: ring0 brings its own transport, and loading it is
 * young-heap garbage and time on every workspace's start.
 */
export const netConnector: H2Connector = (path) =>
  new Promise((resolve, reject) => {
    const socket = (require('node:net') as typeof net).connect(path);
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(netTransport(socket));
    });
  });

function netTransport(socket: net.Socket): H2Transport {
  return {
    write: (data) => void socket.write(data),
    end: (data) => {
      if (data) socket.end(data);
      else socket.end();
      socket.destroySoon();
    },
    destroy: () => socket.destroy(),
    onData: (listener) => void socket.on('data', listener),
    onClose: (listener) => {
      let error: Error | undefined;
      socket.on('error', (err) => (error = err));
      socket.once('close', () => listener(error));
    },
  };
}
