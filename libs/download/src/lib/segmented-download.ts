import type { DownloadOutput, Transfer } from './download-output';
import type { HttpExchange } from './http-exchange';
import type { Piece, PieceFetcher } from './piece-fetcher';
import { ReorderBuffer } from './reorder-buffer';

export interface SegmentLimits {
  pieceSize: number;
  connections: number;
  maxBufferedBytes: number;
}

/**
 * Fetches the object as pieces over up to `connections` parallel range requests and hands the
 * bytes over strictly in order. Memory is bounded by a sliding window: a piece is requested only
 * when all bytes up to its end are within `maxBufferedBytes` of what the consumer has taken, so
 * a consumer that stops reading stops new requests, and early pieces wait within the budget.
 */
export class SegmentedDownload implements Transfer {
  readonly pieces: Piece[];
  private readonly buffer: ReorderBuffer;
  private nextToStart = 1;
  private inFlight = 0;
  private flushing = false;

  constructor(
    private readonly output: DownloadOutput,
    private readonly fetcher: PieceFetcher,
    totalBytes: number,
    private readonly limits: SegmentLimits,
  ) {
    const { pieceSize } = limits;
    this.pieces = Array.from({ length: Math.ceil(totalBytes / pieceSize) }, (_, index) => ({
      index,
      start: index * pieceSize,
      end: Math.min(totalBytes, (index + 1) * pieceSize) - 1,
      received: 0,
    }));
    this.buffer = new ReorderBuffer(this.pieces.length);
  }

  /** Starts with the probe's exchange, whose body is the first piece. */
  start(firstPiece: HttpExchange): void {
    this.startPiece(this.pieces[0], firstPiece);
    this.fill();
  }

  resume(): void {
    this.flush();
  }

  private startPiece(piece: Piece, opened?: HttpExchange): void {
    this.inFlight++;
    const onData = (chunk: Buffer): void => {
      this.buffer.append(piece.index, chunk);
      this.flush();
    };
    this.fetcher.fetch(piece, onData, opened).then(
      () => {
        this.inFlight--;
        this.buffer.complete(piece.index);
        this.flush();
      },
      (err: unknown) => this.output.fail(err),
    );
  }

  /** Hands over what is in order while the consumer wants it, then tops up the requests. */
  private flush(): void {
    // deliver() can re-enter through the consumer; the outer loop covers what the inner call would do
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.output.wantsMore) {
        const chunk = this.buffer.take();
        if (chunk === undefined) break;
        this.output.deliver(chunk);
      }
    } finally {
      this.flushing = false;
    }
    if (this.buffer.done) this.output.finish();
    else this.fill();
  }

  private fill(): void {
    const { connections, maxBufferedBytes } = this.limits;
    while (!this.output.stopped && this.inFlight < connections && this.nextToStart < this.pieces.length) {
      const piece = this.pieces[this.nextToStart];
      if (piece.end + 1 - this.output.deliveredBytes > maxBufferedBytes) return;
      this.nextToStart++;
      this.startPiece(piece);
    }
  }
}
