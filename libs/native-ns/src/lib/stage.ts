import { EventEmitter } from 'node:events';
import { constants as fsConstants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { loadNative, native } from './loader';
import { NativeNsError } from './native-ns.error';
import type { NativeChannel } from './native';
import { cloneFlags, describeStep, encodeStage, signalNumber, type EncodedStage, type NestedStageOptions, type StageOptions, type StageStep } from './stage-program';
import { decodeRecord, encodeRecord, fieldInt, fieldString, type DecodedRecord } from './wire';
import { Msg } from './wire-constants';

/**
 * Running stage programs (stage-program.ts). A Stage is a process made by the native process
 * manager's thread (so parent-death signals stay armed), running the wsrun-stage helper, talking
 * to this Node process over its control channel.
 */

export interface ExitStatus {
  /** exit code, or null when the process died of a signal */
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** 128+n for a death by signal n, the exit code otherwise: what a shell reports. */
export function exitCodeOf(status: ExitStatus): number {
  if (status.code !== null) return status.code;
  return 128 + (status.signal ? osConstants.signals[status.signal] : 0);
}

/** the signal's name by number; made at the first stage killed by a signal, not at start-up */
let signalNames: Map<number, NodeJS.Signals> | undefined;
const signalName = (n: number): NodeJS.Signals | undefined =>
  (signalNames ??= new Map(Object.entries(osConstants.signals).map(([name, number]) => [number, name as NodeJS.Signals]))).get(n);

// ---- exit tracking: one handler for the whole process --------------------------------------

const exitWaiters = new Map<number, (status: ExitStatus) => void>();

function onStageExit(pid: number, code: number | null, signal: number): void {
  const resolve = exitWaiters.get(pid);
  if (!resolve) return; // a stage of an earlier module instance (test runners reload modules)
  exitWaiters.delete(pid);
  if (exitWaiters.size === 0) native().setExitWatchRef(false);
  resolve({ code, signal: code === null ? (signalName(signal) ?? null) : null });
}

let helperFd = -1;

function processManager(): { helperFd: number } {
  if (helperFd < 0) {
    const { binding, stageHelper } = loadNative();
    binding.startProcessManager(onStageExit);
    // O_PATH: the child execs it through the fd, so no path lookup happens in its namespaces
    helperFd = binding.openPath(stageHelper, 0o10000000 /* O_PATH */ | fsConstants.O_RDONLY);
  }
  return { helperFd };
}

// ---- the channel side of a stage (shared by top-level and nested stages) -------------------

interface Waiter<T> {
  resolve: (v: T) => void;
  reject: (e: Error) => void;
}

/**
 * The Node end of a stage's control channel: messages from the stage become promises and events.
 * Events: 'notice' (text) for skipped optional mounts and the like.
 */
export class StageChannel extends EventEmitter {
  /** resolves when the stage has exec'd its command, become a waiter, or finished its program;
   *  rejects with the NativeNsError of the failing step */
  readonly ready: Promise<void>;
  readonly notices: string[] = [];
  private channel: NativeChannel | undefined;
  private settleReady!: { resolve: () => void; reject: (e: Error) => void };
  private readyState: 'pending' | 'ok' | 'failed' = 'pending';
  private started = false;
  private done = false;
  private closed = false;
  private failure: NativeNsError | undefined;
  private readonly fdQueue = new Map<string, number[]>();
  private readonly fdWaiters = new Map<string, Waiter<number>[]>();
  private readonly waiting = new Set<string>();
  private readonly waitingWaiters = new Map<string, Waiter<void>[]>();
  private readonly childWaiters: Waiter<{ pid: number; pidfd: number }>[] = [];
  private child: { pid: number; pidfd: number } | undefined;

  constructor(
    fd: number,
    readonly name: string,
    protected steps: readonly StageStep[],
  ) {
    super();
    this.ready = new Promise<void>((resolve, reject) => (this.settleReady = { resolve, reject }));
    this.ready.catch(() => undefined); // callers that never await ready must not crash the process
    this.channel = new (native().Channel)(fd, (data, fds, error) => this.onMessage(data, fds, error));
  }

  /** Lets the event loop exit while this channel is open (e.g. a long-lived waiter stage). */
  unref(): void {
    this.channel?.unref();
  }

  /** Answers a `wait` step. */
  go(tag: string): void {
    this.send(encodeRecord(Msg.GO, [tag]));
  }

  /** Resolves when the stage reaches `wait` step `tag`; rejects if the stage fails or goes away. */
  waitFor(tag: string): Promise<void> {
    if (this.waiting.has(tag)) return Promise.resolve();
    return this.enqueue(this.waitingWaiters, tag);
  }

  /** The next fd the stage sends under `tag` (seccomp listener, open_tree result). */
  receiveFd(tag: string): Promise<number> {
    const queued = this.fdQueue.get(tag);
    if (queued && queued.length > 0) return Promise.resolve(queued.shift()!);
    return this.enqueue(this.fdWaiters, tag);
  }

  /** The nested stage's pid (in this process's pid namespace) and a pidfd, once spawned. */
  nestedPid(): Promise<{ pid: number; pidfd: number }> {
    if (this.child) return Promise.resolve(this.child);
    if (this.closed) return Promise.reject(this.goneError('spawning its nested stage'));
    return new Promise((resolve, reject) => this.childWaiters.push({ resolve, reject }));
  }

  send(record: Buffer, fds: number[] = []): void {
    if (!this.channel) throw new NativeNsError({ errno: osConstants.errno.EPIPE, code: 'EPIPE', syscall: 'sendmsg', detail: `stage ${this.name} is gone` });
    this.channel.send(record, fds);
  }

  close(): void {
    this.channel?.close();
    this.channel = undefined;
    if (this.child) {
      native().close(this.child.pidfd);
      this.child = undefined;
    }
  }

  private enqueue<T>(map: Map<string, Waiter<T>[]>, tag: string): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.closed) return Promise.reject(this.goneError(`reaching "${tag}"`));
    return new Promise<T>((resolve, reject) => {
      const list = map.get(tag) ?? [];
      list.push({ resolve, reject });
      map.set(tag, list);
    });
  }

  private goneError(what: string): NativeNsError {
    return new NativeNsError({
      errno: osConstants.errno.ECHILD,
      code: 'ECHILD',
      syscall: 'recvmsg',
      detail: `stage ${this.name} went away before ${what}`,
    });
  }

  private onMessage(data: Buffer | null, fds: number[], error?: Error): void {
    if (error) {
      this.fail(error instanceof NativeNsError ? error : new NativeNsError({ errno: 5, code: 'EIO', syscall: 'recvmsg', detail: error.message }));
      return;
    }
    if (data === null) {
      this.onClosed();
      return;
    }
    let record: DecodedRecord;
    try {
      record = decodeRecord(data);
    } catch (err) {
      for (const fd of fds) native().close(fd);
      this.fail(new NativeNsError({ errno: 71, code: 'EPROTO', syscall: 'recvmsg', detail: (err as Error).message }));
      return;
    }
    switch (record.type) {
      case Msg.ERROR:
        this.fail(this.errorFrom(record));
        break;
      case Msg.CHILD:
        this.child = { pid: fieldInt(record, 1), pidfd: fds[0]! };
        for (const w of this.childWaiters.splice(0)) w.resolve(this.child);
        break;
      case Msg.FD: {
        const tag = fieldString(record, 0);
        const waiters = this.fdWaiters.get(tag);
        if (waiters && waiters.length > 0) waiters.shift()!.resolve(fds[0]!);
        else this.fdQueue.set(tag, [...(this.fdQueue.get(tag) ?? []), fds[0]!]);
        break;
      }
      case Msg.WAITING: {
        const tag = fieldString(record, 0);
        this.waiting.add(tag);
        for (const w of this.waitingWaiters.get(tag) ?? []) w.resolve();
        this.waitingWaiters.delete(tag);
        break;
      }
      case Msg.NOTICE: {
        const text = fieldString(record, 1);
        this.notices.push(text);
        this.emit('notice', text);
        break;
      }
      case Msg.DONE:
        this.done = true;
        this.settle();
        break;
      case Msg.STARTED:
        this.started = true;
        this.emit('started');
        break;
      default:
        for (const fd of fds) native().close(fd);
    }
  }

  private errorFrom(r: DecodedRecord): NativeNsError {
    const step = fieldInt(r, 0);
    const errno = fieldInt(r, 1);
    const code = Object.entries(osConstants.errno).find(([, n]) => n === errno)?.[0] ?? `E${errno}`;
    const path = fieldString(r, 3);
    const pid = fieldInt(r, 4);
    const detail = fieldString(r, 5);
    return new NativeNsError({
      errno,
      code,
      syscall: fieldString(r, 2),
      ...(path ? { path } : {}),
      ...(pid ? { pid } : {}),
      ...(detail ? { detail } : {}),
      step: `${this.name}: ${step < 0 ? 'setting up the command' : this.steps[step] ? describeStep(this.steps[step]) : `step ${step}`}`,
    });
  }

  private settle(): void {
    if (this.readyState !== 'pending') return;
    this.readyState = 'ok';
    this.settleReady.resolve();
  }

  private fail(err: NativeNsError): void {
    this.failure ??= err;
    if (this.readyState === 'pending') {
      this.readyState = 'failed';
      this.settleReady.reject(err);
    }
    this.rejectAll(err);
  }

  private onClosed(): void {
    this.closed = true;
    this.channel?.close();
    this.channel = undefined;
    // EOF after STARTED is the exec (the channel is close-on-exec); a waiter keeps it open
    if (this.started || this.done) this.settle();
    else this.fail(this.goneError('it finished setting up'));
    this.rejectAll(this.failure ?? this.goneError('answering'));
  }

  private rejectAll(err: Error): void {
    for (const list of this.fdWaiters.values()) for (const w of list) w.reject(err);
    for (const list of this.waitingWaiters.values()) for (const w of list) w.reject(err);
    for (const w of this.childWaiters) w.reject(err);
    this.fdWaiters.clear();
    this.waitingWaiters.clear();
    this.childWaiters.length = 0;
    if (this.started) this.settle();
  }

  /** True once the stage reached its end (exec, or waiting for its nested stage). */
  get hasStarted(): boolean {
    return this.started;
  }

  /**
   * Resolves once the stage reached its end: at its exec, or, for a waiter, once it forwards
   * signals to its nested stage (`ready` of a waiter settles only when it is gone). Rejects when
   * the stage failed before.
   */
  whenStarted(): Promise<void> {
    if (this.started) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.once('started', resolve);
      this.ready.then(resolve, reject);
    });
  }
}

/** A stage spawned by another stage (a `spawn` step). Its pid arrives once the parent spawned it. */
export class NestedStage extends StageChannel {
  nested?: NestedStage;

  /** pid in this process's pid namespace and a pidfd of the nested stage. */
  spawned(): Promise<{ pid: number; pidfd: number }> {
    return this.parent.nestedPid();
  }

  constructor(
    fd: number,
    name: string,
    steps: readonly StageStep[],
    private readonly parent: StageChannel,
  ) {
    super(fd, name, steps);
  }
}

/** What a stage spawned with spawnHeldStage runs once released. */
export type StageProgram = Omit<NestedStageOptions, 'name' | 'namespaces'>;

/** A stage this process spawned: its pid, a pidfd, and its exit status. */
export class Stage extends StageChannel {
  readonly pid: number;
  readonly pidfd: number;
  readonly exited: Promise<ExitStatus>;
  /** the stage spawned by this stage's `spawn` step, if any (from its release, when held) */
  nested?: NestedStage;
  private released = false;
  /** the program, encoded; undefined for a held stage that gets it at release */
  private pending: { program: Buffer; fds: number[]; closeAfterSend: number[] } | undefined;

  constructor(
    pid: number,
    pidfd: number,
    channelFd: number,
    name: string,
    encoded: EncodedStage | undefined,
    hold: boolean,
    /** in a new user namespace: a held stage becomes its root at release */
    private readonly newUserNamespace = false,
  ) {
    super(channelFd, name, encoded?.steps ?? []);
    this.pid = pid;
    this.pidfd = pidfd;
    this.exited = new Promise<ExitStatus>((resolve) => {
      if (exitWaiters.size === 0) native().setExitWatchRef(true);
      exitWaiters.set(pid, resolve);
    }).then((status) => {
      native().close(pidfd);
      this.dropUnsent();
      return status;
    });
    if (encoded) this.adopt(encoded);
    if (!hold) this.sendProgram();
  }

  /**
   * Lets a held stage run its program (after its id maps were written); one in a new user
   * namespace becomes its root first. A stage from spawnHeldStage gets its program now, or had it
   * from setProgram: what it runs may depend on answers that came while it was held. Throws (and
   * the stage stays held) when the program is invalid.
   */
  release(program?: StageProgram): void {
    if (this.released) return;
    if (program) {
      if (this.pending) throw new TypeError(`release: stage ${this.name} was spawned with its program`);
      this.setProgram(program);
    } else if (!this.pending) {
      throw new TypeError(`release: stage ${this.name} was spawned without a program and needs one now`);
    }
    this.send(encodeRecord(Msg.RELEASE, [this.newUserNamespace ? 1 : 0]));
    this.sendProgram();
  }

  /**
   * Gives a stage from spawnHeldStage its program ahead of its release (which then takes none):
   * encoded now, e.g. while the maps are still being written, and sent at release. Nested stages
   * exist from here on (`nested`). Throws when the program is invalid or the stage has one.
   */
  setProgram(program: StageProgram): void {
    if (this.pending) throw new TypeError(`setProgram: stage ${this.name} has its program already`);
    this.adopt(encodeStage({ ...program, name: this.name }));
  }

  /** Ends a held or waiting stage without running anything more. */
  abort(): void {
    try {
      this.send(encodeRecord(Msg.ABORT, []));
    } catch {
      // already gone
    }
  }

  /** Sends a signal through the pidfd (never to a recycled pid). */
  kill(signal: NodeJS.Signals | number = 'SIGTERM'): void {
    native().pidfdSendSignal(this.pidfd, signalNumber(signal, osConstants.signals.SIGTERM));
  }

  private adopt(encoded: EncodedStage): void {
    this.steps = encoded.steps;
    this.pending = { program: encoded.program, fds: encoded.fds, closeAfterSend: encoded.closeAfterSend };
    this.nested = startNested(encoded, this);
  }

  /** A program never sent (the stage ended while held): its fds and nested channels go. */
  private dropUnsent(): void {
    if (this.released || !this.pending) return;
    for (const fd of this.pending.closeAfterSend) native().close(fd);
    this.pending = undefined;
    for (let n = this.nested; n; n = n.nested) n.close();
  }

  private sendProgram(): void {
    const pending = this.pending!;
    this.released = true;
    this.send(pending.program, pending.fds);
    for (const fd of pending.closeAfterSend) native().close(fd);
  }
}

/** Sends each nested stage its program over its own channel and wraps that channel. */
function startNested(encoded: EncodedStage, parent: StageChannel): NestedStage | undefined {
  for (const { encoded: child, parentEnd } of encoded.nested.values()) {
    const stage = new NestedStage(parentEnd, child.options.name ?? 'wsrun-stage', child.steps, parent);
    stage.send(child.program, child.fds);
    for (const fd of child.closeAfterSend) native().close(fd);
    stage.nested = startNested(child, stage);
    return stage;
  }
  return undefined;
}

/**
 * Spawns a stage process. Throws NativeNsError when the clone itself fails (e.g. EPERM for a
 * namespace the caller may not create); failures inside the stage reject `ready`.
 */
export function spawnStage(options: StageOptions): Stage {
  return spawn(options, encodeStage(options), options.hold ?? false);
}

/**
 * Spawns a stage held before its exec, whose program is given at release
 * (`stage.release(program)`): the clone, and the id maps its parent has written meanwhile, need
 * not wait for what the program depends on.
 */
export function spawnHeldStage(options: Pick<StageOptions, 'name' | 'namespaces' | 'pdeathsig' | 'cgroupFd'>): Stage {
  return spawn(options, undefined, true);
}

function spawn(options: Pick<StageOptions, 'name' | 'namespaces' | 'pdeathsig' | 'cgroupFd'>, encoded: EncodedStage | undefined, hold: boolean): Stage {
  const { helperFd: exeFd } = processManager();
  const name = options.name ?? 'wsrun-stage';
  const [nodeEnd, childEnd] = native().socketpair('seqpacket');
  let spawned: { pid: number; pidfd: number };
  try {
    spawned = native().spawnStage({
      cloneFlags: cloneFlags(options.namespaces),
      channelFd: childEnd,
      exeFd,
      name,
      pdeathsig: signalNumber(options.pdeathsig, osConstants.signals.SIGKILL),
      hold,
      ...(options.cgroupFd !== undefined ? { cgroupFd: options.cgroupFd } : {}),
    });
  } catch (err) {
    native().close(nodeEnd);
    native().close(childEnd);
    for (const fd of encoded?.closeAfterSend ?? []) native().close(fd);
    for (const { parentEnd } of encoded?.nested.values() ?? []) native().close(parentEnd);
    throw err;
  }
  native().close(childEnd);
  return new Stage(spawned.pid, spawned.pidfd, nodeEnd, name, encoded, hold, options.namespaces?.includes('user') ?? false);
}

/** Rejects with ETIMEDOUT when `promise` does not settle within ms. */
export function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new NativeNsError({ errno: osConstants.errno.ETIMEDOUT, code: 'ETIMEDOUT', syscall: 'wait', detail: `${what} took longer than ${ms} ms` })),
      ms,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
