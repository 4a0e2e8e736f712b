/**
 * Process supervision: every replica of every function is its own Node process (a pod), started
 * from dist/runtime/replica.js on the function's bundle. Like a Kubernetes Deployment:
 * - `scaleTo(n)` starts or drains replicas until n run;
 * - a replica takes calls once its watchdog listens; then readiness and liveness probes
 *   (runtime/probes.ts) run on it: failing readiness takes it out of the rotation until it
 *   passes again, failing liveness kills it (SIGTERM, SIGKILL after the grace period);
 * - a replica over its memory limit is OOM-killed (runtime/oom.ts watches, `oomKill` kills);
 * - a replica that dies or is killed is restarted in its slot with exponential backoff
 *   (CrashLoopBackOff), and the runtime log says why (Error, OOMKilled, liveness probe failed);
 * - an update is a rollout: new replicas on the new spec (a new generation), then the old ones
 *   drained; a newer update or a removal supersedes a rollout still under way;
 * - draining (scaling down, an update, stopping) first takes the replica out of the rotation,
 *   waits for the gateway's calls on it to finish, then sends SIGTERM, and SIGKILL after the
 *   grace period.
 * What a replica prints goes to `onLine`, line by line.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { heapLimitMb, type Watched } from './oom';
import { Probe, type ProbeTimings } from './probes';
import { WaitingLine } from './waiting-line';
import { watchdogOptions } from './watchdog';
import type { ToReplica, ToSupervisor } from './replica';

export interface ReplicaSpec {
  /** dist/functions/NAME/handler.js */
  handlerFile: string;
  /** The whole environment of the process. */
  env: Record<string, string>;
  /** limits.memory, in bytes: the heap limit and the OOM ceiling. */
  memoryLimitBytes?: number;
}

/** Why a replica's process ended on its own or was killed, in Kubernetes' words. */
export type TerminationReason = 'OOMKilled' | 'Liveness probe failed' | 'Error' | 'Completed';

export interface SupervisorOptions {
  /** dist/runtime/replica.js */
  replicaEntry: string;
  /** The first restart's delay; each next one doubles, up to `maxRestartDelayMs`. */
  restartDelayMs: number;
  maxRestartDelayMs: number;
  /** A replica that ran this long without dying starts again from the first delay. */
  restartResetMs: number;
  /** How long draining waits for calls in flight, then for the process to exit, before SIGKILL. */
  drainTimeoutMs: number;
  probes: ProbeTimings;
  /** How many steps of niceness below the runtime replicas run (0: at its own priority). */
  replicaNiceness: number;
  onLine(name: string, instance: string, line: string): void;
  /** Every message a replica sends, for fault injection. */
  onMessage?(replica: Replica, message: ToSupervisor): void;
  /** A replica's process ended (stopped or died). */
  onExit?(replica: Replica): void;
  /** A replica's process ended without being asked to (it died, or was killed by a probe or for memory). */
  onTerminated?(replica: Replica, reason: TerminationReason): void;
  log(line: string, fields?: Record<string, unknown>): void;
}

/** Five steps of niceness: a replica competing for a core gets about a third of the runtime's share (scheduler weights 335 and 1024). */
export const DEFAULT_REPLICA_NICENESS = 5;

/** REPLICA_NICENESS: 0-19 steps below the runtime's CPU priority; the default when unset or not one of those. */
export function replicaNicenessFromEnv(env: NodeJS.ProcessEnv): number {
  const steps = Number(env.REPLICA_NICENESS);
  return env.REPLICA_NICENESS && Number.isInteger(steps) && steps >= 0 && steps <= 19 ? steps : DEFAULT_REPLICA_NICENESS;
}

/** nice(1), from coreutils (Linux, macOS); without it replicas keep the runtime's priority. */
const NICE = ['/usr/bin/nice', '/bin/nice'].find((path) => existsSync(path));

/**
 * How a replica's process is started: through nice(1) when it is to run below the runtime, so
 * that every thread of it does (a priority set on its pid after the start would reach its main
 * thread only, not the threads Node has started by then). Replicas are the work the gateway lets
 * in: below it, they leave it the CPU to admit, forward and refuse calls at once while every
 * replica is busy (in the cluster the gateway is Go on every core and each replica is held to its
 * limits.cpu). nice adds the steps to the runtime's own niceness, up to 19.
 */
function replicaCommand(nodeArgs: string[], niceness: number): { execPath?: string; execArgv: string[] } {
  return niceness > 0 && NICE ? { execPath: NICE, execArgv: ['-n', String(niceness), process.execPath, ...nodeArgs] } : { execArgv: nodeArgs };
}

type State = 'starting' | 'ready' | 'unready' | 'draining' | 'stopped';
const SIGNALS: Partial<Record<NodeJS.Signals, number>> = { SIGKILL: 9, SIGTERM: 15, SIGABRT: 6, SIGSEGV: 11, SIGINT: 2 };

/** A slot of a function's deployment (a pod): its process is restarted in place when it dies. */
export class Replica implements Watched {
  state: State = 'starting';
  child?: ChildProcess;
  port?: number;
  /** Calls the gateway has sent to this replica and not yet seen answered. */
  inflight = 0;
  /** Calls the gateway has sent to this replica, ever. */
  served = 0;
  restarts = 0;
  startedAt = 0;
  rssBytes?: number;
  /** max_inflight of its spec: the calls its watchdog takes at once (0: no limit); read once, it is asked on every call. */
  readonly maxInflight: number;
  private idle?: () => void;
  private restartTimer?: NodeJS.Timeout;
  private killTimer?: NodeJS.Timeout;
  private probes: Probe[] = [];
  /** Set when the runtime kills the process, for the reason its exit is logged with. */
  private killedFor?: TerminationReason;

  constructor(
    readonly name: string,
    readonly instance: string,
    readonly generation: number,
    private readonly spec: ReplicaSpec,
    private readonly options: SupervisorOptions,
    private readonly onChange: () => void,
  ) {
    this.maxInflight = watchdogOptions(spec.env).maxInflight;
  }

  get pid(): number | undefined {
    const child = this.child;
    return child && child.exitCode === null && child.signalCode === null ? child.pid : undefined;
  }

  get memoryLimitBytes(): number | undefined {
    return this.spec.memoryLimitBytes;
  }

  start(): void {
    this.state = 'starting';
    this.startedAt = Date.now();
    this.killedFor = undefined;
    this.rssBytes = undefined;
    // A plain node, as in the template's image (not the runtime's TypeScript loader), with the heap its memory limit allows.
    const execArgv = this.spec.memoryLimitBytes ? [`--max-old-space-size=${heapLimitMb(this.spec.memoryLimitBytes)}`] : [];
    const child = fork(this.options.replicaEntry, [], { env: this.spec.env, ...replicaCommand(execArgv, this.options.replicaNiceness), stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    this.child = child;
    for (const stream of [child.stdout, child.stderr]) {
      if (stream) createInterface({ input: stream }).on('line', (line) => this.options.onLine(this.name, this.instance, line));
    }
    child.on('message', (message: ToSupervisor) => {
      if (message.type === 'ready' && child === this.child && this.state === 'starting' && !this.killedFor) {
        this.port = message.port;
        this.state = 'ready';
        this.startProbes(message.port);
        this.onChange();
      }
      this.options.onMessage?.(this, message);
    });
    child.once('exit', (code, signal) => this.exited(child, code, signal));
    // A fork that fails or a channel that breaks ends in 'exit' too, which restarts the replica.
    child.on('error', (error) => this.options.log('replica process error', { function: this.name, instance: this.instance, error: String(error) }));
  }

  /** A message to the replica; lost if it is dying (EPIPE): its replacement asks afresh when ready. */
  send(message: ToReplica): void {
    if (this.child?.connected) this.child.send(message, (error: Error | null) => {
      if (error) this.options.log('message to a dying replica lost', { function: this.name, instance: this.instance, type: message.type });
    });
  }

  /** The gateway is done with one of its calls. */

  /** Ready, with room for one more call under its max_inflight. */
  get hasRoom(): boolean {
    return this.state === 'ready' && (this.maxInflight === 0 || this.inflight < this.maxInflight);
  }

  release(): void {
    this.inflight--;
    if (this.inflight === 0) this.idle?.();
    this.onChange();
  }

  /** Over its memory limit: killed at once, as the kernel's OOM killer does. */
  oomKill(rssBytes: number): void {
    if (!this.kill('OOMKilled', 'SIGKILL')) return;
    this.options.log('replica over its memory limit: OOMKilled', { function: this.name, instance: this.instance, rssBytes, limitBytes: this.spec.memoryLimitBytes });
  }

  private startProbes(port: number): void {
    const { readiness, liveness } = this.options.probes;
    const fields = { function: this.name, instance: this.instance };
    this.probes = [
      new Probe(port, readiness, (healthy, reason) => {
        if (!healthy && this.state === 'ready') {
          this.state = 'unready';
          this.options.log('replica not ready: out of the rotation', { ...fields, probe: 'readiness', reason });
        } else if (healthy && this.state === 'unready' && !this.killedFor) {
          this.state = 'ready';
          this.options.log('replica ready again', { ...fields, probe: 'readiness' });
        } else return;
        this.onChange();
      }),
      new Probe(port, liveness, (healthy, reason) => {
        if (healthy || !this.kill('Liveness probe failed', 'SIGTERM')) return;
        this.options.log('replica failed its liveness probe: killed, it will be restarted', { ...fields, probe: 'liveness', reason });
      }),
    ];
    for (const probe of this.probes) probe.start();
  }

  private stopProbes(): void {
    for (const probe of this.probes.splice(0)) probe.stop();
  }

  /** Kills the running process for `reason` (SIGTERM: SIGKILL after the grace period); false if there is none to kill. */
  private kill(reason: TerminationReason, signal: 'SIGTERM' | 'SIGKILL'): boolean {
    const child = this.child;
    if (!child || this.pid === undefined || this.killedFor || this.state === 'draining' || this.state === 'stopped') return false;
    this.killedFor = reason;
    this.stopProbes();
    if (this.state === 'ready') this.state = 'unready';
    this.onChange();
    child.kill(signal);
    if (signal === 'SIGTERM') this.killTimer = setTimeout(() => child.kill('SIGKILL'), this.options.drainTimeoutMs);
    return true;
  }

  private exited(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (child !== this.child) return;
    clearTimeout(this.killTimer);
    this.stopProbes();
    this.port = undefined;
    this.options.onExit?.(this);
    if (this.state === 'draining' || this.state === 'stopped') {
      this.state = 'stopped';
      this.onChange();
      return;
    }
    // Died or was killed: restarted in place, later each time it keeps dying.
    const reason: TerminationReason = this.killedFor ?? (code === 0 ? 'Completed' : 'Error');
    const exitCode = code ?? 128 + (SIGNALS[signal as NodeJS.Signals] ?? 0);
    if (Date.now() - this.startedAt > this.options.restartResetMs) this.restarts = 0;
    const delay = Math.min(this.options.restartDelayMs * 2 ** this.restarts, this.options.maxRestartDelayMs);
    this.restarts++;
    this.state = 'starting';
    this.options.onTerminated?.(this, reason);
    this.options.log(`replica exited (${reason}); restarting`, { function: this.name, instance: this.instance, reason, exitCode, signal, restartInMs: delay, restarts: this.restarts });
    this.onChange();
    this.restartTimer = setTimeout(() => this.start(), delay);
  }

  /** Out of the rotation, calls in flight finished, then SIGTERM (SIGKILL after the grace period). */
  async drain(): Promise<void> {
    clearTimeout(this.restartTimer);
    this.stopProbes();
    if (this.state === 'stopped') return;
    this.state = 'draining';
    this.onChange();
    const child = this.child;
    if (this.inflight > 0) await withTimeout(new Promise<void>((resolve) => (this.idle = resolve)), this.options.drainTimeoutMs);
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      this.state = 'stopped';
      return;
    }
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    if (!(await withTimeout(exited, this.options.drainTimeoutMs))) child.kill('SIGKILL');
    await exited;
    this.state = 'stopped';
  }
}

/** How much each answered call moves the mean call time (an exponentially weighted mean over about the last 20 calls). */
const CALL_MS_WEIGHT = 0.1;
/** Calls that wait at most for a function with no ready replica; more are refused at once. */
const NONE_READY_LINE = 1_000;

/** How a rollout ended: its replicas took calls, a newer update or a removal replaced it, or time ran out. */
export type Rollout = 'ready' | 'replaced' | 'timeout';

/** Every replica of one function. */
export class FunctionReplicas {
  private readonly replicas: Replica[] = [];
  private readonly listeners = new Set<() => void>();
  private readonly line = new WaitingLine<Replica>();
  /** Recent mean of a call's time on a replica, in ms (0: none measured yet). */
  private callMs = 0;
  private cursor = 0;
  private started = 0;
  private stopped = false;
  desired = 0;
  /** The deployment's revision: each update starts a new one. */
  generation = 1;

  /** exec_timeout of the current spec: how long its watchdog lets a call run; read once per spec, it is asked on every call. */
  execTimeoutMs: number;

  constructor(
    readonly name: string,
    private spec: ReplicaSpec,
    private readonly options: SupervisorOptions,
  ) {
    this.execTimeoutMs = watchdogOptions(spec.env).execTimeoutMs;
  }

  get instances(): readonly Replica[] {
    return this.replicas;
  }

  available(): number {
    return this.replicas.filter((r) => r.state === 'ready').length;
  }

  /** Resident memory of the running replicas, as last sampled. */
  memoryBytes(): number {
    return this.replicas.reduce((sum, r) => sum + (r.pid !== undefined ? (r.rssBytes ?? 0) : 0), 0);
  }

  /** Starts or drains replicas of the current generation until `n` run; resolves when the drained ones have stopped. */
  async scaleTo(n: number): Promise<void> {
    if (this.stopped) return;
    this.desired = n;
    const current = this.replicas.filter((r) => r.generation === this.generation);
    for (let i = current.length; i < n; i++) this.add();
    // Like a ReplicaSet: the ones not ready yet go first, then the newest.
    const extra = current.sort((a, b) => Number(a.state === 'ready') - Number(b.state === 'ready') || b.startedAt - a.startedAt).slice(0, Math.max(0, current.length - n));
    await this.drain(extra);
  }

  /**
   * A rolling update as a Deployment with maxUnavailable 0 does it: new replicas on the new spec
   * start beside the old ones, which keep taking calls until every new one is ready; then the old
   * ones leave the rotation and drain. A rollout that does not become ready within the drain
   * timeout answers 'timeout' and leaves the old replicas serving until it does; a newer update or
   * a removal replaces it (the newer rollout retires every older generation).
   */
  async update(spec: ReplicaSpec, replicas: number): Promise<Rollout> {
    if (this.stopped) return 'replaced';
    this.spec = spec;
    this.execTimeoutMs = watchdogOptions(spec.env).execTimeoutMs;
    const generation = ++this.generation;
    this.desired = replicas;
    for (let i = 0; i < replicas; i++) this.add();
    this.changed();
    const rollout = await this.rolledOut(generation, this.options.drainTimeoutMs);
    if (rollout === 'ready') await this.retireOlderThan(generation);
    if (rollout === 'timeout') void this.retireWhenRolledOut(generation);
    return rollout;
  }

  /** Waits until every replica of `generation` is ready, it was replaced (an update, a removal), or `timeoutMs` ran out. */
  async rolledOut(generation: number, timeoutMs: number): Promise<Rollout> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.generation !== generation || this.stopped) return 'replaced';
      const own = this.replicas.filter((r) => r.generation === generation);
      if (own.length > 0 && own.every((r) => r.state === 'ready')) return 'ready';
      if (!(await this.nextChange(deadline - Date.now()))) return 'timeout';
    }
  }

  private async retireWhenRolledOut(generation: number): Promise<void> {
    for (;;) {
      const rollout = await this.rolledOut(generation, this.options.drainTimeoutMs);
      if (rollout === 'replaced') return;
      if (rollout === 'ready') return this.retireOlderThan(generation);
    }
  }

  private retireOlderThan(generation: number): Promise<void> {
    return this.drain(this.replicas.filter((r) => r.generation < generation));
  }

  /** Takes `replicas` out of the rotation at once and waits for them to drain. */
  private async drain(replicas: Replica[]): Promise<void> {
    for (const replica of replicas) this.replicas.splice(this.replicas.indexOf(replica), 1);
    this.changed();
    await Promise.all(replicas.map((r) => r.drain()));
  }

  /** The next ready replica with room for a call, round robin; the caller releases it when its call is done. */
  pick(): Replica | undefined {
    const count = this.replicas.length;
    for (let tried = 0; tried < count; tried++) {
      const replica = this.replicas[this.cursor++ % count] as Replica;
      if (!replica.hasRoom) continue;
      replica.inflight++;
      replica.served++;
      return replica;
    }
    return undefined;
  }

  /** A call's time on a replica, admitted to answered: the line's expected wait is measured with it. */
  observeCall(ms: number): void {
    this.callMs = this.callMs === 0 ? ms : this.callMs + CALL_MS_WEIGHT * (ms - this.callMs);
  }

  /**
   * A replica for a call, or why there is none. When every ready replica is at its max_inflight
   * the call waits in line for a free slot up to `limits.busyWaitMs`. The line adapts to measured
   * latency: a call whose expected wait (the calls ahead of it shared among the slots, each
   * taking the recent mean call time) is longer than that is refused at once, so the line is
   * as long as what the function serves within the wait; before any call was measured it is as
   * long as the function's slots. When no replica is ready (starting, restarting, failing its
   * readiness probe) a call waits up to `limits.noneReadyWaitMs` for one.
   */
  async admit(limits: { busyWaitMs: number; noneReadyWaitMs: number }): Promise<Replica | 'busy' | 'none-ready'> {
    const replica = this.pick();
    if (replica) return replica;
    const ready = this.replicas.filter((r) => r.state === 'ready');
    if (ready.length > 0) {
      const slots = ready.reduce((sum, r) => sum + r.maxInflight, 0);
      const ahead = this.line.length + 1;
      if (this.callMs > 0 ? (ahead / slots) * this.callMs > limits.busyWaitMs : ahead > slots) return 'busy';
    } else if (this.replicas.length === 0 || this.line.length >= NONE_READY_LINE) return 'none-ready';
    const given = await this.line.wait(ready.length > 0 ? limits.busyWaitMs : limits.noneReadyWaitMs);
    return given ?? (this.available() > 0 ? 'busy' : 'none-ready');
  }

  broadcast(message: ToReplica): void {
    for (const replica of this.replicas) replica.send(message);
  }

  /** Drains every replica; the function takes no further scaling or update. */
  async stop(): Promise<void> {
    const all = this.replicas.splice(0, this.replicas.length);
    this.desired = 0;
    this.stopped = true;
    this.changed();
    await Promise.all(all.map((r) => r.drain()));
  }

  /** Resolves true at the next change of any replica's state, false after `timeoutMs` without one. */
  private async nextChange(timeoutMs: number): Promise<boolean> {
    if (timeoutMs <= 0) return false;
    let wake = () => {};
    const changed = await withTimeout(new Promise<void>((resolve) => this.listeners.add((wake = resolve))), timeoutMs);
    this.listeners.delete(wake);
    return changed;
  }

  private changed(): void {
    for (const wake of this.listeners) wake();
    // A slot freed or a replica ready: the calls in line take it in turn.
    while (this.line.length > 0) {
      const replica = this.pick();
      if (!replica) break;
      if (!this.line.give(replica)) replica.release();
    }
  }

  private add(): void {
    const replica = new Replica(this.name, `${this.name}-${++this.started}`, this.generation, this.spec, this.options, () => this.changed());
    this.replicas.push(replica);
    replica.start();
  }
}

/** Resolves true if `promise` settled within `ms`, false otherwise. */
async function withTimeout(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), Math.max(0, ms))));
  try {
    return await Promise.race([promise.then(() => true), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}
