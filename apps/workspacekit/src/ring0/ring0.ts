import { replaceFile, WsError, WsErrorCode, type LevelLogger } from '@wsrun/common';
import { exitCodeOf, forwardSignals, SeccompSupervisor, spawnHeldStage, withTimeout, type ExitStatus, type Stage } from '@wsrun/native-ns';
import { chmodSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import type { KitConfig } from '../config/kit-config';
import { LiftServer } from '../lift/lift-server';
import { MountHandler } from '../seccomp/mount-handler';
import { DaemonClient } from './daemon-client';
import { RING1, RING2_GO, ring1Program, SECCOMP_LISTENER } from './ring-programs';

/** The workspace's id map: root inside is the workspace user on the node; 1.. the daemon checks. */
const ID_MAP = [
  { containerId: 0, hostId: 33333, size: 1 },
  { containerId: 1, hostId: 100000, size: 65536 },
];

/** Deadlines of the start-up handshake (ring2 reaching its wait step, its listener fd). */
const RING2_READY_MS = 10_000;
const LISTENER_MS = 5_000;
/** After a failure: how long ring0 waits to learn whether ring1 ended by itself */
const RING1_END_GRACE_MS = 100;

/** What ring0 writes to its runtime folder for `workspacekit exec --workspace`. */
export interface RuntimeState {
  ring0: number;
  ring1: number;
  ring2: number;
  liftSocket: string;
}

/**
 * ring0: the workspace's only Node process (the workspace user, no capabilities). It asks the
 * daemon to prepare the root and, meanwhile, starts ring1 held until the daemon wrote its maps, has the daemon
 * mount /proc for ring2 before letting it go on, answers ring2's seccomp notifications, forwards
 * every signal, gives the inside a grace period on SIGTERM, calls Teardown on every way out, and
 * exits with the command's status (128+n for a death by signal n).
 */
export class Ring0 {
  private ring1: Stage | undefined;
  private daemon: DaemonClient | undefined;
  private lift: LiftServer | undefined;
  private supervisor: SeccompSupervisor | undefined;
  private graceTimer: NodeJS.Timeout | undefined;
  /** the daemon holds state for this start (root prepared, a map written): every way out calls Teardown */
  private daemonHoldsState = false;
  /** the WriteIDMapping calls, settled: a failed start waits for them before deciding on Teardown */
  private mapping: Promise<unknown> | undefined;
  /** ring0's entry -> the command's exec, for the benchmark (tools/bench) */
  readonly timings: { startedAt: bigint; execAt?: bigint; marks: [string, bigint][] } = { startedAt: process.hrtime.bigint(), marks: [] };
  private mark(label: string): void {
    this.timings.marks.push([label, process.hrtime.bigint()]);
  }

  constructor(
    private readonly config: KitConfig,
    private readonly log: LevelLogger,
  ) {}

  async run(env: Record<string, string>): Promise<number> {
    let stopForwarding: (() => void) | undefined;
    try {
      this.daemon = DaemonClient.open(this.config.daemonSocket);
      const daemon = this.daemon;
      // ring1 first, held in its user namespace: then PrepareForUserNS and both maps go out
      // together, and the daemon works through them in one go (it takes a workspace's calls one
      // at a time, in order) while ring0 goes on
      const ring1 = spawnHeldStage(RING1);
      this.ring1 = ring1;
      ring1.ready.catch(() => undefined);
      stopForwarding = forwardSignals(ring1.pidfd, (signal) => this.onSignal(signal));
      this.mark('ring1 spawned');
      // ring1's program is made from the answer as soon as its message is in: the daemon sends
      // the status after the maps (its calls queued behind), and the program is encoded meanwhile
      const program = (answer: { markPath: string; workspacePath: string }) =>
        ring1.setProgram(ring1Program(this.config, { markPath: answer.markPath, workspacePath: answer.workspacePath, env }));
      let programmed = false;
      let programFailed: unknown;
      const preparing = daemon.prepareForUserNSWhenReady(this.config.connectTimeoutMs, (answer) => {
        // a failure waits for the call's status: the daemon holds state then, Teardown follows
        try {
          program(answer);
          programmed = true;
        } catch (err) {
          programFailed = err;
        }
      });
      preparing.catch(() => undefined); // awaited below
      const mapping = Promise.all(
        [false, true].map((gid) =>
          // behind PrepareForUserNS on the same connection, waiting for it as long as it does
          daemon.writeIdMapping(ring1.pid, gid, ID_MAP, this.config.connectTimeoutMs).then(() => {
            this.mark(gid ? 'gid' : 'uid');
            this.daemonHoldsState = true;
          }),
        ),
      );
      this.mapping = mapping.catch(() => undefined); // awaited below; on a way out, before Teardown
      this.prepareRuntimeDir();
      const prepared = await preparing;
      this.daemonHoldsState = true;
      this.mark('prepared');
      if (programFailed !== undefined) throw programFailed;
      // at 'mapped' the release only sends it
      if (!programmed) program(prepared);
      await mapping;
      this.mark('mapped');
      ring1.release();

      const ring2 = ring1.nested!;
      const { pid: ring2Pid } = await withTimeout(Promise.race([ring2.spawned(), failureOf(ring1.ready)]), RING2_READY_MS, 'ring1 starting ring2');
      await withTimeout(Promise.race([ring2.waitFor(RING2_GO), failureOf(ring2.ready)]), RING2_READY_MS, 'ring2 pivoting into the workspace root');
      this.mark('ring2 waiting');
      const procMounted = this.daemon.mount('proc', '/proc', ring2Pid);
      procMounted.catch(() => undefined); // awaited below
      // while the daemon mounts /proc: ring2 sent its seccomp listener before it began to wait,
      // and the state is written before ring2 may exec (`workspacekit exec --workspace` reads it)
      const listener = await withTimeout(ring2.receiveFd(SECCOMP_LISTENER), LISTENER_MS, 'ring2 handing over its seccomp listener');
      this.supervisor = new SeccompSupervisor(listener);
      void new MountHandler(this.supervisor, this.daemon, this.log, [{ kind: 'proc', target: '/proc' }]).run();
      this.mark('listener');
      this.writeState({ ring0: process.pid, ring1: ring1.pid, ring2: ring2Pid, liftSocket: this.config.liftSocket });
      // lift serves a running workspace: its socket (in the folder ring2 sees as /.workspace) is
      // made here, before the command runs, while the daemon mounts /proc
      this.lift = new LiftServer(this.config.liftSocket, () => this.ring1?.pidfd, this.log);
      this.lift.listen();
      await procMounted;
      this.mark('proc mounted');
      ring2.go(RING2_GO);
      await ring2.ready;
      this.timings.execAt = process.hrtime.bigint();
      this.reportTimings();
      this.log.info({ ring1: ring1.pid, ring2: ring2Pid, command: this.config.command }, 'workspace started');

      const status = await ring1.exited;
      this.log.info({ status }, 'workspace ended');
      return exitCodeOf(status);
    } catch (err) {
      let message = (err as Error).message;
      let ended: ExitStatus | undefined;
      if (this.ring1) {
        // ring1 ending on its own is often the cause: say how it ended (it is reaped within ms)
        ended = await Promise.race([this.ring1.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), RING1_END_GRACE_MS))]);
        if (ended) message += ` (ring1 ${describeEnd(ended)})`;
        try {
          this.ring1.kill('SIGKILL');
        } catch {
          // gone already
        }
        await this.ring1.exited;
      }
      this.log.error({ err: message }, 'workspace failed');
      process.stderr.write(`workspacekit: ${message}\n`);
      // a command that could not be run ends like it does in a shell or docker (127: not found)
      if (ended) return exitCodeOf(ended);
      return err instanceof WsError && err.code === WsErrorCode.Unavailable ? 69 : 1;
    } finally {
      stopForwarding?.();
      if (this.graceTimer) clearTimeout(this.graceTimer);
      this.supervisor?.close();
      this.lift?.close();
      await this.teardown();
      rmSync(this.config.stateFile, { force: true });
    }
  }

  /** SIGTERM: pass it on, then SIGKILL once the grace period is over. Other signals pass as is. */
  private onSignal(signal: NodeJS.Signals): boolean {
    if (signal !== 'SIGTERM' || !this.ring1) return false;
    if (!this.graceTimer) {
      this.log.info({ graceMs: this.config.graceMs }, 'SIGTERM: the workspace has its grace period');
      this.graceTimer = setTimeout(() => {
        this.log.warn('grace period over: SIGKILL');
        try {
          this.ring1?.kill('SIGKILL');
        } catch {
          // ended meanwhile
        }
      }, this.config.graceMs);
    }
    return false; // forward the TERM itself too
  }

  private async teardown(): Promise<void> {
    if (!this.daemon) return;
    await this.mapping;
    try {
      if (this.daemonHoldsState) await this.daemon.teardown();
    } catch (err) {
      this.log.warn({ err: (err as Error).message }, 'Teardown failed');
    } finally {
      this.daemon.close();
    }
  }

  /** WORKSPACEKIT_TIMINGS=<file>: the rings' own start-up time, for tools/bench (Node's boot excluded). */
  private reportTimings(): void {
    const file = process.env['WORKSPACEKIT_TIMINGS'];
    if (!file || this.timings.execAt === undefined) return;
    const ringsMs = Number(this.timings.execAt - this.timings.startedAt) / 1e6;
    const marks = Object.fromEntries(this.timings.marks.map(([l, t]) => [l, Number(t - this.timings.startedAt) / 1e6]));
    writeFileSync(file, JSON.stringify({ ringsMs, uptimeMs: process.uptime() * 1000, marks }) + '\n');
  }

  private prepareRuntimeDir(): void {
    for (const dir of [this.config.runtimeDir, this.config.rootMountPoint, this.config.shareDir]) {
      mkdirSync(dir, { recursive: true, mode: 0o755 });
    }
    chmodSync(this.config.runtimeDir, 0o755);
  }

  /** A reader sees the whole state or none; not fsynced: it means nothing after a reboot. */
  private writeState(state: RuntimeState): void {
    replaceFile(this.config.stateFile, JSON.stringify(state) + '\n', { durable: false, mode: 0o644 });
  }
}

function describeEnd(status: ExitStatus): string {
  return status.signal ? `was killed by ${status.signal}` : `exited with code ${status.code}`;
}

/** Rejects when `p` rejects (a stage whose set-up failed); never settles otherwise. */
function failureOf(p: Promise<unknown>): Promise<never> {
  return p.then(() => new Promise<never>(() => undefined));
}
