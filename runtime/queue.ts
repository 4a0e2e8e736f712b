/**
 * Asynchronous calls, as the gateway's /async-function/NAME and the queue-worker handle them:
 * the call is accepted (202, with its X-Call-Id) once it is kept in the store, runs later
 * through the gateway (a POST with the original path, query, headers and body), and its result
 * is POSTed to X-Callback-Url when one was given, with the function's answer headers plus
 * X-Call-Id, X-Function-Status, X-Function-Name and X-Duration-Seconds.
 *
 * Durable: an accepted call survives a restart of the runtime. A worker leases a call before
 * running it; a runtime that dies mid-call leaves the lease to run out, and the call runs again
 * (at least once, as with NATS). Done calls are deleted, so the queue holds only what is pending.
 * Several runtimes on one data directory share the queue: a lease is taken atomically.
 */
import { randomUUID } from 'node:crypto';
import type { Collection } from '../core/store/collection';
import { postCallback, type CallbackPolicy } from './callbacks';
import { openCollections, type StoreTarget } from '../core/store/open';

export interface AsyncCall {
  _id: string;
  function: string;
  /** What follows /async-function/NAME, with the query. */
  path: string;
  headers: Record<string, string>;
  /** base64 */
  body: string;
  callbackUrl?: string;
  status: 'queued' | 'running';
  /** When it may run: now for a queued call, the lease's end for a running one. */
  runAt: string;
  attempts: number;
  acceptedAt: string;
}

/** Headers that describe one connection, not the answer; fetch refuses to send them. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'upgrade'];

export const QUEUE_INDEXES = { asyncCalls: [{ status: 1, runAt: 1 }] } as const;

export interface QueueOptions {
  /** Where to call the functions: the local gateway. */
  gatewayUrl(): string;
  concurrency: number;
  /** How long a worker holds a call before another may run it again. */
  leaseMs: number;
  pollMs: number;
  /** Where results may be POSTed (runtime/callbacks.ts); loopback only when absent. */
  callbacks?: CallbackPolicy;
  log(line: string, fields?: Record<string, unknown>): void;
}

export class AsyncQueue {
  private running = 0;
  private claiming = false;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  /** Whether this runtime runs calls (the queue-worker) or only accepts them. */
  private working = false;
  private readonly inflight = new Set<Promise<void>>();

  private constructor(
    private readonly calls: Collection<AsyncCall>,
    private readonly closeStore: () => Promise<void>,
    private readonly options: QueueOptions,
  ) {}

  static async open(target: StoreTarget, options: QueueOptions): Promise<AsyncQueue> {
    const { collections, close } = await openCollections(target, QUEUE_INDEXES);
    return new AsyncQueue(collections.asyncCalls as unknown as Collection<AsyncCall>, close, options);
  }

  /** Keeps the call; its id is the X-Call-Id it came with, or a new one. */
  async accept(call: { function: string; path: string; headers: Record<string, string>; body: Buffer; callbackUrl?: string; callId?: string }): Promise<string> {
    const id = call.callId || randomUUID();
    const at = new Date().toISOString();
    await this.calls.insertOnce({
      _id: id,
      function: call.function,
      path: call.path,
      headers: { ...call.headers, 'x-call-id': id },
      body: call.body.toString('base64'),
      ...(call.callbackUrl ? { callbackUrl: call.callbackUrl } : {}),
      status: 'queued',
      runAt: at,
      attempts: 0,
      acceptedAt: at,
    });
    void this.poll();
    return id;
  }

  start(): void {
    this.working = true;
    this.timer ??= setInterval(() => void this.poll(), this.options.pollMs);
    this.timer.unref();
    void this.poll();
  }

  /** Stops taking calls and waits for those running (a call cut off runs again after the restart). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await Promise.all(this.inflight);
    await this.closeStore();
  }

  /** Leases due calls, one at a time, while fewer than `concurrency` run. */
  private async poll(): Promise<void> {
    if (this.claiming || this.stopped || !this.working) return;
    this.claiming = true;
    try {
      while (!this.stopped && this.running < this.options.concurrency) {
        const call = await this.claim();
        if (!call) break;
        this.running++;
        const work: Promise<void> = this.run(call)
          .catch((error: unknown) => this.options.log('async call failed', { callId: call._id, error: String(error) }))
          .finally(() => {
            this.running--;
            this.inflight.delete(work);
            void this.poll();
          });
        this.inflight.add(work);
      }
    } catch (error) {
      this.options.log('async queue unavailable', { error: String(error) });
    } finally {
      this.claiming = false;
    }
  }

  /** The oldest due call, leased to this worker; undefined when none is due. */
  private async claim(): Promise<AsyncCall | undefined> {
    for (;;) {
      const now = new Date().toISOString();
      const [due] = await this.calls.find({ status: { $in: ['queued', 'running'] }, runAt: { $lte: now } }, { sort: { runAt: 1 }, limit: 1 });
      if (!due) return undefined;
      const lease = new Date(Date.now() + this.options.leaseMs).toISOString();
      const { doc } = await this.calls.updateOne({ _id: due._id, status: due.status, runAt: due.runAt }, { $set: { status: 'running', runAt: lease }, $inc: { attempts: 1 } });
      if (doc) return due;
      // Another worker leased it first: look again.
    }
  }

  private async run(call: AsyncCall): Promise<void> {
    const started = process.hrtime.bigint();
    let answer: Response;
    try {
      answer = await fetch(`${this.options.gatewayUrl()}/function/${call.function}${call.path}`, {
        method: 'POST',
        headers: call.headers,
        body: Buffer.from(call.body, 'base64'),
      });
    } catch (error) {
      // The gateway is going away: the lease runs out and the call runs again.
      this.options.log('async call not delivered; it will run again', { callId: call._id, function: call.function, error: String(error) });
      return;
    }
    const result = Buffer.from(await answer.arrayBuffer());
    const seconds = (Number(process.hrtime.bigint() - started) / 1e9).toFixed(6);
    if (call.callbackUrl) {
      const headers = Object.fromEntries([...answer.headers].filter(([name]) => !HOP_BY_HOP.includes(name)));
      headers['x-duration-seconds'] ??= seconds;
      Object.assign(headers, { 'x-function-status': String(answer.status), 'x-call-id': call._id, 'x-function-name': call.function });
      await postCallback(call.callbackUrl, { headers, body: result }, this.options.callbacks ?? { origins: [] }).then(
        (refused) => refused && this.options.log('async callback not sent', { callId: call._id, callbackUrl: call.callbackUrl, reason: refused }),
        (error: unknown) => this.options.log('async callback failed', { callId: call._id, callbackUrl: call.callbackUrl, error: String(error) }),
      );
    }
    this.options.log('async call done', { callId: call._id, function: call.function, status: answer.status, attempts: call.attempts + 1 });
    await this.calls.deleteMany({ _id: call._id });
  }
}
