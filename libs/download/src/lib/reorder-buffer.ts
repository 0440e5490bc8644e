/**
 * Holds the chunks of pieces that arrive before their turn and releases them strictly in piece
 * order. The head is the lowest piece not yet fully released; its chunks go out as they come.
 */
export class ReorderBuffer {
  private readonly slots = new Map<number, { chunks: Buffer[]; complete: boolean }>();
  private headIndex = 0;

  constructor(private readonly pieceCount: number) {}

  /** Whether every piece has been released. */
  get done(): boolean {
    return this.headIndex >= this.pieceCount;
  }

  append(index: number, chunk: Buffer): void {
    this.slot(index).chunks.push(chunk);
  }

  /** Marks a piece as having all its bytes appended. */
  complete(index: number): void {
    this.slot(index).complete = true;
  }

  /** The next chunk in object order, or undefined when it has not arrived yet. */
  take(): Buffer | undefined {
    while (this.headIndex < this.pieceCount) {
      const slot = this.slots.get(this.headIndex);
      if (slot === undefined) return undefined;
      const chunk = slot.chunks.shift();
      if (chunk !== undefined) return chunk;
      if (!slot.complete) return undefined;
      this.slots.delete(this.headIndex);
      this.headIndex++;
    }
    return undefined;
  }

  private slot(index: number): { chunks: Buffer[]; complete: boolean } {
    let slot = this.slots.get(index);
    if (slot === undefined) {
      slot = { chunks: [], complete: false };
      this.slots.set(index, slot);
    }
    return slot;
  }
}
