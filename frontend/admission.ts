/**
 * The storefront's bound on the pages it works on at once. Beyond it a page is refused at once
 * (the busy page, 503 + Retry-After) without calling anything, so the pages let in keep the
 * speed of a quiet day instead of everybody waiting.
 *
 * The bound adapts as TCP's congestion window does (additive increase, multiplicative decrease,
 * the scheme of Netflix's concurrency-limits AIMD limit): every page that went well while at
 * least half the bound was in use raises it by 1/bound, so by one per bound's worth of pages; a
 * page that met overload lowers it by a tenth: a function or the gateway refused it (429, 503),
 * it ran out of its budget, it took longer than `slowMs`, or it ended while the storefront's own
 * event loop ran late (admission below). At a steady rush the bound settles where raises and
 * cuts balance. Grown by one per page (Netflix's default), that is where about 10 / bound of the
 * pages are slow: 5 % at 200, so the bound rose to its maximum with most pages waiting for the
 * CPU (checkout p99 1.3-10 s under a rush). Grown by one per bound's worth, it is where about
 * 10 / bound² of them are: 1 % at 32 pages, 2.5 % at 20, so the slow threshold bounds the pages'
 * p97-p99. Below where it started, once the shop is quiet again (less than half of it in use, or
 * a limit's worth of pages let in without a refusal), it grows back by one per page that went
 * well: the rush is over, and that bound is the one a quiet day was measured with.
 *
 * AIMD rather than a gradient of latency: the storefront's pages differ some thirty-fold in cost
 * (a catalog page from the cache, a checkout), so a change in the mix of pages looks like
 * queueing to a gradient of mean latency, while a threshold above the costliest quiet page does
 * not depend on the mix. min = max gives a fixed bound.
 */
import type { NextFunction, Request, Response } from 'express';

export interface ConcurrencyLimitOptions {
  /** The bound at start; it then moves between min and max. */
  initial: number;
  min: number;
  max: number;
  /** A page slower than this counts as overload. */
  slowMs: number;
}

/** 50 at start (a quiet shop's few dozen pages at once fit), 8 to 200, slow above 300 ms (3 x a quiet checkout): README, "Under a rush". */
export const CONCURRENCY_DEFAULTS: ConcurrencyLimitOptions = { initial: 50, min: 8, max: 200, slowMs: 300 };
const BACKOFF = 0.9;

export interface PageOutcome {
  ms: number;
  /** Refused upstream or out of budget. */
  overloaded: boolean;
}

export class ConcurrencyLimit {
  private estimate: number;
  /** Where it started: `initial` held to min and max. */
  private readonly start: number;
  private running = 0;
  private admittedSinceRefusal = 0;
  readonly options: ConcurrencyLimitOptions;

  constructor(options: Partial<ConcurrencyLimitOptions> = {}) {
    this.options = { ...CONCURRENCY_DEFAULTS, ...options };
    const { min, max } = this.options;
    if (!(min >= 1 && max >= min)) throw new Error(`A concurrency limit needs 1 <= min <= max (got ${min} and ${max})`);
    this.start = clamp(this.options.initial, min, max);
    this.estimate = this.start;
  }

  get limit(): number {
    return Math.floor(this.estimate);
  }

  get inflight(): number {
    return this.running;
  }

  /** A permit, or undefined when the limit is reached; the permit is given back once with how the page went (undefined: not a sample, e.g. the client left). */
  tryAcquire(): ((outcome?: PageOutcome) => void) | undefined {
    if (this.running >= this.limit) {
      this.admittedSinceRefusal = 0;
      return undefined;
    }
    const inUse = ++this.running;
    const admitted = ++this.admittedSinceRefusal;
    // Quiet: less than half of it in use, or a limit's worth of pages let in since the last refusal.
    const quiet = inUse * 2 < this.limit || admitted > this.limit;
    let released = false;
    return (outcome) => {
      if (released) return;
      released = true;
      this.running--;
      if (!outcome) return;
      const { min, max, slowMs } = this.options;
      if (outcome.overloaded || outcome.ms > slowMs) this.estimate = Math.max(min, this.estimate * BACKOFF);
      // Below where it started, with the shop quiet again: back by one per page, so that the rush's bound does not outlast it.
      else if (quiet && this.estimate < this.start) this.estimate = Math.min(this.start, this.estimate + 1);
      // Raised when the limit was what held pages back (a shop using a tenth of it learns nothing about more).
      else if (inUse * 2 >= this.limit) this.estimate = Math.min(max, this.estimate + 1 / this.estimate);
    };
  }
}

const clamp = (n: number, min: number, max: number) => Math.min(max, Math.max(min, n));

/**
 * How late the event loop has been lately (ms): the longest delay of a 10 ms timer over the window
 * under way and the one before it (a tenth of a second each), so a stall counts at once and for
 * a window after. A late loop means requests wait unread in the kernel, before any limit can see
 * them, and refusals wait with them: the storefront has more pages in flight than its CPU
 * serves. Measured with a timer of its own: perf_hooks' delay histogram, once reset, drops the
 * delay of the tick it was waiting for, so a stall across a reset went unseen. One per process
 * (`processLateness`); its timer does not keep the process alive.
 */
export function eventLoopLateness(windowMs = 100): () => number {
  const TICK_MS = 10;
  let last = performance.now();
  let windowStart = last;
  let current = 0;
  let previous = 0;
  setInterval(() => {
    const now = performance.now();
    current = Math.max(current, now - last - TICK_MS);
    last = now;
    if (now - windowStart >= windowMs) [previous, current, windowStart] = [current, 0, now];
  }, TICK_MS).unref();
  return () => Math.max(previous, current);
}

let shared: (() => number) | undefined;
/** The process's one lateness reading, made on first use. */
export const processLateness = (): (() => number) => (shared ??= eventLoopLateness());

/**
 * A page that ends while the event loop runs later than this counts as overload. At 25 ms rather
 * than 50 a rush leaves the loop less behind, so refusals are answered sooner (p99 117-125 ms
 * against 183-237, p50 35 against 55) and admitted checkouts too, for the same orders/s
 * (README, Under a rush); a quiet shop's loop stayed under it, from a cold start on.
 */
export const LATE_LOOP_MS = 25;

/**
 * Admits a page within the limit, or passes `refuse()` to the error handler at once. The page's
 * outcome is read when its answer is sent: `res.locals.overloaded` is set by whoever saw the
 * overload (the error handler, for refusals from upstream and pages out of budget), and a page
 * that ends while the event loop runs late counts as overloaded too.
 */
export function admission(limit: ConcurrencyLimit, refuse: () => unknown, lateness: () => number = processLateness()) {
  return (_req: Request, res: Response, next: NextFunction): void => {
    const release = limit.tryAcquire();
    if (!release) return next(refuse());
    const started = process.hrtime.bigint();
    res.once('finish', () => release({ ms: Number(process.hrtime.bigint() - started) / 1e6, overloaded: res.locals.overloaded === true || lateness() > LATE_LOOP_MS }));
    res.once('close', () => release());
    next();
  };
}
