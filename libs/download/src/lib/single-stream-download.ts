import { WsError } from '@wsrun/common';
import type { DownloadOutput, Transfer } from './download-output';
import type { HttpExchange } from './http-exchange';

/**
 * Passes one whole 200 response through, for servers that ignore Range: one connection, paused
 * while the consumer is full, and no resume after a failure (there is no way to ask for the rest).
 */
export class SingleStreamDownload implements Transfer {
  constructor(
    private readonly exchange: HttpExchange,
    private readonly output: DownloadOutput,
  ) {}

  start(contentLength: number | undefined): void {
    const onData = (chunk: Buffer): void => {
      this.output.deliver(chunk);
      if (!this.output.wantsMore) this.exchange.pause();
    };
    this.exchange.body(contentLength, onData).then(
      () => this.output.finish(),
      (err: unknown) => {
        const cause = err instanceof WsError ? err : WsError.wrap(this.exchange.where, err);
        this.output.fail(new WsError(cause.code, `${cause.message} (the server does not serve ranges, so the download cannot resume)`, { cause }));
      },
    );
  }

  resume(): void {
    this.exchange.resume();
  }
}
