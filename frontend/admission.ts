/**
 * The storefront's bound on the pages it works on at once. Beyond it a page is refused at once
 * (the busy page, 503 + Retry-After) without calling anything, so the pages let in keep the
 * speed of a quiet day instead of everybody waiting.
 *
 * The bound adapts as Netflix's concurrency-limits AIMD limit does: a page that went well while
 * at least half the limit was in use raises it by one; a page that met overload lowers it by a
 * tenth: a function or the gateway refused it (429, 503), it ran out of its budget, or it took
 * longer than `slowMs`. AIMD rather than a gradient of latency: the storefront's pages differ
 * some thirty-fold in cost (a catalog page from the cache, a checkout), so a change in the mix
 * of pages looks like queueing to a gradient of mean latency, while AIMD's signals do not depend
 * on the mix. min = max gives a fixed bound.
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

/** 50 at start (a quiet shop's few dozen pages at once fit), 10 to 200, slow above 1 s: README, "Under a rush". */
export const CONCURRENCY_DEFAULTS: ConcurrencyLimitOptions = { initial: 50, min: 10, max: 200, slowMs: 1_000 };
const BACKOFF = 0.9;

export interface PageOutcome {
  ms: number;
  /** Refused upstream or out of budget. */
  overloaded: boolean;
}

export class ConcurrencyLimit {
  private estimate: number;
  private running = 0;
  readonly options: ConcurrencyLimitOptions;

  constructor(options: Partial<ConcurrencyLimitOptions> = {}) {
    this.options = { ...CONCURRENCY_DEFAULTS, ...options };
    const { min, max } = this.options;
    if (!(min >= 1 && max >= min)) throw new Error(`A concurrency limit needs 1 <= min <= max (got ${min} and ${max})`);
    this.estimate = clamp(this.options.initial, min, max);
  }

  get limit(): number {
    return Math.floor(this.estimate);
  }

  get inflight(): number {
    return this.running;
  }

  /** A permit, or undefined when the limit is reached; the permit is given back once with how the page went (undefined: not a sample, e.g. the client left). */
  tryAcquire(): ((outcome?: PageOutcome) => void) | undefined {
    if (this.running >= this.limit) return undefined;
    const inUse = ++this.running;
    let released = false;
    return (outcome) => {
      if (released) return;
      released = true;
      this.running--;
      if (!outcome) return;
      const { min, max, slowMs } = this.options;
      if (outcome.overloaded || outcome.ms > slowMs) this.estimate = Math.max(min, this.estimate * BACKOFF);
      // Raised only when the limit was what held pages back: a shop using a tenth of it learns nothing about more.
      else if (inUse * 2 >= this.limit) this.estimate = Math.min(max, this.estimate + 1);
    };
  }
}

const clamp = (n: number, min: number, max: number) => Math.min(max, Math.max(min, n));

/**
 * Admits a page within the limit, or passes `refuse()` to the error handler at once. The page's
 * outcome is read when its answer is sent: `res.locals.overloaded` is set by whoever saw the
 * overload (the error handler, for refusals from upstream and pages out of budget).
 */
export function admission(limit: ConcurrencyLimit, refuse: () => unknown) {
  return (_req: Request, res: Response, next: NextFunction): void => {
    const release = limit.tryAcquire();
    if (!release) return next(refuse());
    const started = process.hrtime.bigint();
    res.once('finish', () => release({ ms: Number(process.hrtime.bigint() - started) / 1e6, overloaded: res.locals.overloaded === true }));
    res.once('close', () => release());
    next();
  };
}
