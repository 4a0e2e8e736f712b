/**
 * Process supervision: every replica of every function is its own Node process (a pod), started
 * from dist/runtime/replica.js on the function's bundle. Like a Kubernetes Deployment:
 * - `scaleTo(n)` starts or drains replicas until n run;
 * - a replica is ready (takes calls) once its watchdog listens;
 * - a replica that dies is restarted with exponential backoff (CrashLoopBackOff), in its slot;
 * - draining (scaling down, an update, stopping) first takes the replica out of the rotation,
 *   waits for the gateway's calls on it to finish, then sends SIGTERM, and SIGKILL after a grace
 *   period.
 * What a replica prints goes to `onLine`, line by line.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { ToReplica, ToSupervisor } from './replica';

export interface ReplicaSpec {
  /** dist/functions/NAME/handler.js */
  handlerFile: string;
  /** The whole environment of the process. */
  env: Record<string, string>;
}

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
  onLine(name: string, instance: string, line: string): void;
  /** Every message a replica sends, for fault injection. */
  onMessage?(replica: Replica, message: ToSupervisor): void;
  /** A replica's process ended (stopped or died). */
  onExit?(replica: Replica): void;
  log(line: string, fields?: Record<string, unknown>): void;
}

type State = 'starting' | 'ready' | 'draining' | 'stopped';

/** A slot of a function's deployment (a pod): its process is restarted in place when it dies. */
export class Replica {
  state: State = 'starting';
  child?: ChildProcess;
  port?: number;
  /** Calls the gateway has sent to this replica and not yet seen answered. */
  inflight = 0;
  /** Calls the gateway has sent to this replica, ever. */
  served = 0;
  restarts = 0;
  startedAt = 0;
  private idle?: () => void;
  private restartTimer?: NodeJS.Timeout;

  constructor(
    readonly name: string,
    readonly instance: string,
    private readonly spec: ReplicaSpec,
    private readonly options: SupervisorOptions,
    private readonly onReady: () => void,
  ) {}

  start(): void {
    this.state = 'starting';
    this.startedAt = Date.now();
    // A plain node, as in the template's image: not the runtime's own flags (its TypeScript loader).
    const child = fork(this.options.replicaEntry, [], { env: this.spec.env, execArgv: [], stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
    this.child = child;
    for (const stream of [child.stdout, child.stderr]) {
      if (stream) createInterface({ input: stream }).on('line', (line) => this.options.onLine(this.name, this.instance, line));
    }
    child.on('message', (message: ToSupervisor) => {
      if (message.type === 'ready' && child === this.child && this.state === 'starting') {
        this.port = message.port;
        this.state = 'ready';
        this.onReady();
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
  release(): void {
    this.inflight--;
    if (this.inflight === 0) this.idle?.();
  }

  private exited(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (child !== this.child) return;
    this.port = undefined;
    this.options.onExit?.(this);
    if (this.state === 'draining' || this.state === 'stopped') {
      this.state = 'stopped';
      return;
    }
    // Died on its own: restarted in place, later each time it keeps dying.
    if (Date.now() - this.startedAt > this.options.restartResetMs) this.restarts = 0;
    const delay = Math.min(this.options.restartDelayMs * 2 ** this.restarts, this.options.maxRestartDelayMs);
    this.restarts++;
    this.state = 'starting';
    this.options.log('replica exited; restarting', { function: this.name, instance: this.instance, code, signal, restartInMs: delay, restarts: this.restarts });
    this.restartTimer = setTimeout(() => this.start(), delay);
  }

  /** Out of the rotation, calls in flight finished, then SIGTERM (SIGKILL after the grace period). */
  async drain(): Promise<void> {
    clearTimeout(this.restartTimer);
    if (this.state === 'stopped') return;
    this.state = 'draining';
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

/** Every replica of one function. */
export class FunctionReplicas {
  private readonly replicas: Replica[] = [];
  private readonly waiting = new Set<() => void>();
  private cursor = 0;
  private started = 0;
  desired = 0;

  constructor(
    readonly name: string,
    private spec: ReplicaSpec,
    private readonly options: SupervisorOptions,
  ) {}

  get instances(): readonly Replica[] {
    return this.replicas;
  }

  available(): number {
    return this.replicas.filter((r) => r.state === 'ready').length;
  }

  /** Starts or drains replicas until `n` run; resolves when the drained ones have stopped. */
  async scaleTo(n: number): Promise<void> {
    this.desired = n;
    while (this.replicas.length < n) this.add();
    // Like a ReplicaSet: the ones not ready yet go first, then the newest.
    const extra = [...this.replicas].sort((a, b) => Number(a.state === 'ready') - Number(b.state === 'ready') || b.startedAt - a.startedAt).slice(0, Math.max(0, this.replicas.length - n));
    for (const replica of extra) this.replicas.splice(this.replicas.indexOf(replica), 1);
    await Promise.all(extra.map((r) => r.drain()));
  }

  /** A rolling update: new replicas on the new spec first, then the old ones drained. */
  async update(spec: ReplicaSpec, replicas: number): Promise<void> {
    this.spec = spec;
    const old = this.replicas.splice(0, this.replicas.length);
    this.desired = replicas;
    for (let i = 0; i < replicas; i++) this.add();
    await this.whenReady(this.options.drainTimeoutMs);
    await Promise.all(old.map((r) => r.drain()));
  }

  /** The next ready replica, round robin; the caller releases it when its call is done. */
  pick(): Replica | undefined {
    const count = this.replicas.length;
    for (let tried = 0; tried < count; tried++) {
      const replica = this.replicas[this.cursor++ % count] as Replica;
      if (replica.state !== 'ready') continue;
      replica.inflight++;
      replica.served++;
      return replica;
    }
    return undefined;
  }

  /** A ready replica, waiting up to `timeoutMs` for one to come up (it is starting, or restarting). */
  async whenAvailable(timeoutMs: number): Promise<Replica | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const replica = this.pick();
      if (replica || !(await this.whenReady(deadline - Date.now()))) return replica;
    }
  }

  /** True once some replica is ready, false when none is within `timeoutMs` (or none exists). */
  async whenReady(timeoutMs: number): Promise<boolean> {
    if (this.available() > 0) return true;
    if (this.replicas.length === 0 || timeoutMs <= 0) return false;
    let wake = () => {};
    const ready = await withTimeout(new Promise<void>((resolve) => this.waiting.add((wake = resolve))), timeoutMs);
    this.waiting.delete(wake);
    return ready && this.available() > 0;
  }

  broadcast(message: ToReplica): void {
    for (const replica of this.replicas) replica.send(message);
  }

  async stop(): Promise<void> {
    await this.scaleTo(0);
  }

  private add(): void {
    const replica = new Replica(this.name, `${this.name}-${++this.started}`, this.spec, this.options, () => {
      for (const wake of this.waiting) wake();
    });
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
