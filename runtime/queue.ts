/**
 * Asynchronous calls, as the gateway's /async-function/NAME and the queue-worker handle them:
 * the call is accepted (202, with its X-Call-Id) once it is kept in the store, runs later
 * through the gateway (a POST with the original path, query, headers and body), and its result
 * is POSTed to X-Callback-Url when one was given, with the function's answer headers plus
 * X-Call-Id, X-Function-Status, X-Function-Name and X-Duration-Seconds.
 *
 * - Each call has the queue's own id; a caller's X-Call-Id is kept and passed on (to the function
 *   and the callback), never used to tell calls apart. Headers that describe the caller's
 *   connection (hop-by-hop: Transfer-Encoding, Expect, Connection...) are dropped when the call
 *   is accepted: the queue makes a new request.
 * - A call answered 408, 429, 500, 502, 503 or 504, or not answered, runs again after a growing
 *   wait, up to a number of attempts (runtime/retries.ts, OpenFaaS Pro's queue-worker); then it is
 *   kept as a dead letter that the operator lists, retries or deletes (/system/dead-letters).
 *   The callback gets the final answer only: a success, another status, or the last failure.
 * - At most `maxPending` calls wait or run; beyond that a call is refused (the gateway answers 429).
 *
 * Durable: an accepted call survives a restart of the runtime. A worker leases a call before
 * running it; a runtime that dies mid-call leaves the lease to run out, and the call runs again
 * (at least once, as with NATS). Done calls are deleted, so the queue holds only what is pending
 * and the dead letters. Bodies are kept apart from the calls, so that counting and listing calls
 * never reads bodies. Several runtimes on one data directory share the queue: a lease is taken
 * atomically.
 */
import { randomUUID } from 'node:crypto';
import type { Collection, Filter } from '../core/store/collection';
import { postCallback, type CallbackPolicy } from './callbacks';
import { openCollections, type StoreTarget } from '../core/store/open';
import { retryWait, retryable, type RetryPolicy } from './retries';

export interface AsyncCall {
  /** The queue's own id. */
  _id: string;
  function: string;
  /** What follows /async-function/NAME, with the query. */
  path: string;
  headers: Record<string, string>;
  /** base64, in calls kept by versions before bodies were kept apart. */
  body?: string;
  callbackUrl?: string;
  status: 'queued' | 'running' | 'dead';
  /** When it may run: now or after its retry wait for a queued call, the lease's end for a running one, when it died for a dead one. */
  runAt: string;
  attempts: number;
  acceptedAt: string;
  /** The last failed attempt: its status (0: no answer) and why. */
  lastStatus?: number;
  lastError?: string;
}

interface AsyncCallBody {
  _id: string;
  /** base64 */
  body: string;
}

/** What the operator sees of a dead letter. */
export interface DeadLetter {
  id: string;
  function: string;
  path: string;
  callId?: string;
  callbackUrl?: string;
  attempts: number;
  lastStatus?: number;
  lastError?: string;
  acceptedAt: string;
  failedAt: string;
}

/** Headers that describe one connection, not the call (RFC 9110 7.6.1, plus what a new request sets itself). */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'expect', 'content-length', 'host']);

/** The headers worth keeping of a request or an answer: none of the hop-by-hop ones, nor those its Connection header names. */
export function endToEndHeaders(headers: Iterable<[string, string]>): Record<string, string> {
  const entries = [...headers].map(([name, value]) => [name.toLowerCase(), value] as const);
  const named = new Set(entries.filter(([name]) => name === 'connection').flatMap(([, value]) => value.split(',').map((token) => token.trim().toLowerCase())));
  return Object.fromEntries(entries.filter(([name]) => !HOP_BY_HOP.has(name) && !named.has(name)));
}

export const QUEUE_INDEXES = { asyncCalls: [{ status: 1, runAt: 1 }], asyncCallBodies: [] } as const;

export interface QueueOptions {
  /** Where to call the functions: the local gateway. */
  gatewayUrl(): string;
  concurrency: number;
  /** How long a worker holds a call before another may run it again. */
  leaseMs: number;
  pollMs: number;
  /** Where results may be POSTed (runtime/callbacks.ts); loopback only when absent. */
  callbacks?: CallbackPolicy;
  retry: RetryPolicy;
  /** Calls waiting or running at most; more are refused. */
  maxPending: number;
  log(line: string, fields?: Record<string, unknown>): void;
}

export type Accepted = { accepted: true; id: string; callId: string } | { accepted: false; pending: number };

export class AsyncQueue {
  private running = 0;
  private claiming = false;
  private timer?: NodeJS.Timeout;
  private stopped = false;
  /** Whether this runtime runs calls (the queue-worker) or only accepts them. */
  private working = false;
  private readonly inflight = new Set<Promise<void>>();
  /** Accepts run one at a time, so that the bound holds for this runtime's callers. */
  private accepting: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly calls: Collection<AsyncCall>,
    private readonly bodies: Collection<AsyncCallBody>,
    private readonly closeStore: () => Promise<void>,
    private readonly options: QueueOptions,
  ) {}

  static async open(target: StoreTarget, options: QueueOptions): Promise<AsyncQueue> {
    const { collections, close } = await openCollections(target, QUEUE_INDEXES);
    return new AsyncQueue(collections.asyncCalls as unknown as Collection<AsyncCall>, collections.asyncCallBodies as unknown as Collection<AsyncCallBody>, close, options);
  }

  /**
   * Keeps the call under a new id of the queue's own, unless `maxPending` calls wait already.
   * Its X-Call-Id is the caller's, or the queue's id when the caller sent none.
   */
  accept(call: { function: string; path: string; headers: Record<string, string>; body: Buffer; callbackUrl?: string }): Promise<Accepted> {
    const next = this.accepting.then(async (): Promise<Accepted> => {
      const pending = await this.calls.count({ status: { $in: ['queued', 'running'] } });
      if (pending >= this.options.maxPending) return { accepted: false, pending };
      const id = randomUUID();
      const headers = endToEndHeaders(Object.entries(call.headers));
      const callId = headers['x-call-id'] || id;
      const at = new Date().toISOString();
      // The body first: a call is never seen without it.
      await this.bodies.insertOnce({ _id: id, body: call.body.toString('base64') });
      await this.calls.insertOnce({
        _id: id,
        function: call.function,
        path: call.path,
        headers: { ...headers, 'x-call-id': callId },
        ...(call.callbackUrl ? { callbackUrl: call.callbackUrl } : {}),
        status: 'queued',
        runAt: at,
        attempts: 0,
        acceptedAt: at,
      });
      void this.poll();
      return { accepted: true, id, callId };
    });
    this.accepting = next.catch(() => undefined);
    return next;
  }

  /** The dead letters, newest first, of one function or of all. */
  async deadLetters(options: { function?: string; limit: number }): Promise<DeadLetter[]> {
    const found = await this.calls.find({ status: 'dead', ...(options.function ? { function: options.function } : {}) }, { sort: { runAt: -1 }, limit: options.limit });
    return found.map((c) => ({
      id: c._id,
      function: c.function,
      path: c.path,
      ...(c.headers['x-call-id'] ? { callId: c.headers['x-call-id'] } : {}),
      ...(c.callbackUrl ? { callbackUrl: c.callbackUrl } : {}),
      attempts: c.attempts,
      ...(c.lastStatus !== undefined ? { lastStatus: c.lastStatus } : {}),
      ...(c.lastError ? { lastError: c.lastError } : {}),
      acceptedAt: c.acceptedAt,
      failedAt: c.runAt,
    }));
  }

  /** A dead letter queued again, with its attempts from zero; false when there is no such dead letter. */
  async retryDeadLetter(id: string): Promise<boolean> {
    const { doc } = await this.calls.updateOne({ _id: id, status: 'dead' }, { $set: { status: 'queued', runAt: new Date().toISOString(), attempts: 0 }, $unset: { lastStatus: '', lastError: '' } });
    if (doc) void this.poll();
    return doc !== null;
  }

  /** A dead letter deleted, with its body; false when there is no such dead letter. */
  async deleteDeadLetter(id: string): Promise<boolean> {
    if ((await this.calls.deleteMany({ _id: id, status: 'dead' })) === 0) return false;
    await this.bodies.deleteMany({ _id: id });
    return true;
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
    await this.accepting;
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
          .catch((error: unknown) => this.options.log('async call failed', { queueId: call._id, error: String(error) }))
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
      if (due.attempts >= this.options.retry.maxAttempts) {
        // Its last attempt's lease ran out: the runtime that ran it stopped half-way.
        await this.die(due, { status: due.lastStatus ?? 0, error: 'the runtime running its last attempt stopped' }, { _id: due._id, status: due.status, runAt: due.runAt });
        continue;
      }
      const lease = new Date(Date.now() + this.options.leaseMs).toISOString();
      const { doc } = await this.calls.updateOne({ _id: due._id, status: due.status, runAt: due.runAt }, { $set: { status: 'running', runAt: lease }, $inc: { attempts: 1 } });
      if (doc) return { ...due, attempts: due.attempts + 1 };
      // Another worker leased it first: look again.
    }
  }

  private async run(call: AsyncCall): Promise<void> {
    const started = process.hrtime.bigint();
    const fields = { queueId: call._id, callId: call.headers['x-call-id'], function: call.function, attempt: call.attempts };
    const body = call.body ?? (await this.bodies.findOne({ _id: call._id }))?.body ?? '';
    let answer: Response | undefined;
    let result = Buffer.alloc(0);
    let error = '';
    try {
      // Headers filtered again: calls kept by earlier versions may carry hop-by-hop ones.
      answer = await fetch(`${this.options.gatewayUrl()}/function/${call.function}${call.path}`, {
        method: 'POST',
        headers: endToEndHeaders(Object.entries(call.headers)),
        body: Buffer.from(body, 'base64'),
        signal: AbortSignal.timeout(this.options.leaseMs / 2),
      });
      result = Buffer.from(await answer.arrayBuffer());
    } catch (cause) {
      error = String(cause);
    }
    const status = answer?.status ?? 0;
    const leased = { _id: call._id, status: 'running' };
    if (retryable(this.options.retry, status)) {
      const failure = { status, error: error || `the function answered ${status}` };
      if (call.attempts < this.options.retry.maxAttempts) return this.retryLater(call, failure, answer?.headers.get('retry-after'), fields);
      await this.die(call, failure, leased);
    } else {
      this.options.log('async call done', { ...fields, status });
    }
    if (call.callbackUrl) await this.postResult(call, answer, result, status || 503, (Number(process.hrtime.bigint() - started) / 1e9).toFixed(6));
    if (!retryable(this.options.retry, status)) {
      await this.calls.deleteMany({ _id: call._id });
      await this.bodies.deleteMany({ _id: call._id });
    }
  }

  private async retryLater(call: AsyncCall, failure: { status: number; error: string }, retryAfter: string | null | undefined, fields: Record<string, unknown>): Promise<void> {
    const waitMs = retryWait(this.options.retry, call.attempts, failure.status, retryAfter);
    const runAt = new Date(Date.now() + waitMs).toISOString();
    await this.calls.updateOne({ _id: call._id, status: 'running' }, { $set: { status: 'queued', runAt, lastStatus: failure.status, lastError: failure.error } });
    this.options.log('async call failed; it will run again', { ...fields, status: failure.status, error: failure.error, retryInMs: waitMs, attemptsLeft: this.options.retry.maxAttempts - call.attempts });
    setTimeout(() => void this.poll(), waitMs + 5).unref();
  }

  /** Out of attempts: kept as a dead letter for the operator. */
  private async die(call: AsyncCall, failure: { status: number; error: string }, current: Filter): Promise<void> {
    const at = new Date().toISOString();
    await this.calls.updateOne(current, { $set: { status: 'dead', runAt: at, lastStatus: failure.status, lastError: failure.error } });
    this.options.log('async call failed for good: kept as a dead letter (GET /system/dead-letters)', { queueId: call._id, callId: call.headers['x-call-id'], function: call.function, attempts: call.attempts, status: failure.status, error: failure.error });
  }

  /** The result to X-Callback-Url, as the queue-worker posts it. */
  private async postResult(call: AsyncCall, answer: Response | undefined, result: Buffer, status: number, seconds: string): Promise<void> {
    const headers = answer ? endToEndHeaders(answer.headers) : {};
    headers['x-duration-seconds'] ??= seconds;
    Object.assign(headers, { 'x-function-status': String(status), 'x-call-id': call.headers['x-call-id'] ?? call._id, 'x-function-name': call.function });
    await postCallback(call.callbackUrl as string, { headers, body: result }, this.options.callbacks ?? { origins: [] }).then(
      (refused) => refused && this.options.log('async callback not sent', { queueId: call._id, callbackUrl: call.callbackUrl, reason: refused }),
      (error: unknown) => this.options.log('async callback failed', { queueId: call._id, callbackUrl: call.callbackUrl, error: String(error) }),
    );
  }
}
