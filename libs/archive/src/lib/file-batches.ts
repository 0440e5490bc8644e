import { createFilesAt, type NewFile } from '@wsrun/native-ns';

/**
 * Small regular files of one extraction, created on the thread pool while the JS thread parses
 * the next members: createFilesAt makes each file (openat2 O_CREAT|O_EXCL under its parent fd,
 * write, owner, mode, times, close) in one native call, with no JS in between. One batch is in
 * flight while the next one fills; files are created in the order they were queued.
 *
 * A batch stops at its first failure (a name already taken, a refusal, a full disk). From then on
 * nothing more is sent, and settle() hands that file and every one queued after it back to the
 * caller, which creates them one by one the sequential way: so a failure means exactly what it
 * would have meant without batching.
 */

/** A batch is sent once it holds this many files or bytes: fewer round trips through the pool ... */
const SEND_FILES = 16;
const SEND_BYTES = 1024 * 1024;
/** ... and while one is in flight, the next grows up to this before add() asks the caller to wait. */
const FULL_FILES = 128;
const FULL_BYTES = 8 * 1024 * 1024;

interface Queued<T> {
  file: NewFile;
  owner: T;
}

export class FileBatches<T> {
  private filling: Queued<T>[] = [];
  private fillingBytes = 0;
  /** never rejects: failures become `failed` */
  private inFlight: Promise<void> | undefined;
  /** the files of a failed batch from the failed one on */
  private failed: Queued<T>[] | undefined;

  /** onCreated runs for each file made, in order, on the JS thread; it must not throw. */
  constructor(private readonly onCreated: (owner: T) => void) {}

  /** Nothing queued, in flight or left over. */
  get idle(): boolean {
    return this.inFlight === undefined && this.filling.length === 0 && this.failed === undefined;
  }

  /**
   * Queues a file (its dirFd must stay open and its data unchanged until onCreated or settle()
   * gives it back). Returns a promise to wait for when the next batch is full, else undefined.
   */
  add(file: NewFile, owner: T): Promise<void> | undefined {
    this.filling.push({ file, owner });
    this.fillingBytes += file.data.length;
    // after a failure nothing more is sent: settle() hands it all back
    if (this.failed) return undefined;
    if (!this.inFlight) {
      if (this.filling.length >= SEND_FILES || this.fillingBytes >= SEND_BYTES) this.send();
      return undefined;
    }
    return this.filling.length >= FULL_FILES || this.fillingBytes >= FULL_BYTES ? this.inFlight : undefined;
  }

  /**
   * Sends what is queued and waits until all of it is created. After a failure, returns the file
   * that failed and every one queued after it, in order (the caller creates them itself); else [].
   */
  async settle(): Promise<T[]> {
    for (;;) {
      if (this.inFlight) await this.inFlight;
      else if (this.failed) break;
      else if (this.filling.length > 0) this.send();
      else return [];
    }
    return this.takeRest();
  }

  /** Stops: waits for the batch in flight (never leaves a write running) and returns every file not created. */
  async discard(): Promise<T[]> {
    const dropped = this.takeRest();
    if (this.inFlight) await this.inFlight;
    return [...dropped, ...this.takeRest()];
  }

  /** Empties the queue: the failed batch's rest, then what was filling. */
  private takeRest(): T[] {
    const rest = [...(this.failed ?? []), ...this.filling].map((q) => q.owner);
    this.failed = undefined;
    this.filling = [];
    this.fillingBytes = 0;
    return rest;
  }

  private send(): void {
    const batch = this.filling;
    this.filling = [];
    this.fillingBytes = 0;
    this.inFlight = createFilesAt(batch.map((q) => q.file)).then(
      ({ created, error }) => this.finished(batch, created, error),
      // a rejection (bad arguments) fails the whole batch: its files go the sequential way
      () => this.finished(batch, 0, true),
    );
  }

  private finished(batch: Queued<T>[], created: number, failed: unknown): void {
    this.inFlight = undefined;
    for (let i = 0; i < created; i++) this.onCreated(batch[i].owner);
    if (failed) {
      // the caller sees why when it creates the file itself
      this.failed = batch.slice(created);
      return;
    }
    // keep the pool busy: what filled up meanwhile goes out at once
    if (this.filling.length >= SEND_FILES || this.fillingBytes >= SEND_BYTES) this.send();
  }
}
