/** The ordered output a transfer hands bytes to (the DownloadStream). */
export interface DownloadOutput {
  /** Bytes handed over so far. */
  readonly deliveredBytes: number;
  /** False once the consumer's buffer is full; the output calls Transfer.resume() when it reads again. */
  readonly wantsMore: boolean;
  /** True once the download finished or failed: start no more work. */
  readonly stopped: boolean;
  /** Hands over the next bytes in object order. */
  deliver(chunk: Buffer): void;
  /** All bytes were handed over: verify and end. */
  finish(): void;
  /** Ends the download with an error; a no-op once it has ended. */
  fail(err: unknown): void;
}

/** A running way of getting the bytes (segmented ranges, or one whole response). */
export interface Transfer {
  /** The consumer wants more bytes. */
  resume(): void;
}
