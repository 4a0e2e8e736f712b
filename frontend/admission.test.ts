/** The storefront's adaptive bound on pages in flight, page by page (no clock: outcomes say how long a page took). */
import { EventEmitter } from 'node:events';
import type { Request, Response } from 'express';
import { admission, ConcurrencyLimit, eventLoopLateness, LATE_LOOP_MS } from './admission';

const fine = { ms: 20, overloaded: false };

/** Takes `n` permits; throws if one is refused. */
function take(limit: ConcurrencyLimit, n: number) {
  return Array.from({ length: n }, () => {
    const release = limit.tryAcquire();
    if (!release) throw new Error('refused below the limit');
    return release;
  });
}

describe('the bound on pages in flight', () => {
  it('lets exactly `limit` pages in, refuses the next, and lets one in again when one is done', () => {
    const limit = new ConcurrencyLimit({ initial: 3, min: 3, max: 3 });
    const permits = take(limit, 3);
    expect(limit.tryAcquire()).toBeUndefined();
    expect(limit.inflight).toBe(3);
    permits[0]?.(fine);
    permits[0]?.(fine); // given back twice: counted once
    expect(limit.inflight).toBe(2);
    expect(limit.tryAcquire()).toBeDefined();
    expect(limit.tryAcquire()).toBeUndefined();
  });

  it('grows by about one per limit’s worth of pages that went well with the limit in use, up to max', () => {
    const limit = new ConcurrencyLimit({ initial: 4, min: 1, max: 5 });
    const held = take(limit, 3); // three pages in flight: each page below is the fourth
    for (let i = 0; i < 4; i++) take(limit, 1)[0]?.(fine);
    expect(limit.limit).toBe(4); // 4 + 1/4 + 1/4.25 + ...: 4.92
    take(limit, 1)[0]?.(fine);
    expect(limit.limit).toBe(5);
    for (let i = 0; i < 20; i++) take(limit, 1)[0]?.(fine);
    expect(limit.limit).toBe(5);
    for (const release of held) release(fine);
  });

  it('does not grow while the shop uses less than half of it', () => {
    const limit = new ConcurrencyLimit({ initial: 10, min: 1, max: 100 });
    for (let i = 0; i < 50; i++) take(limit, 1)[0]?.(fine);
    expect(limit.limit).toBe(10);
  });

  it('grows back to where it started by one per page that went well once the shop is quiet', () => {
    const limit = new ConcurrencyLimit({ initial: 20, min: 4, max: 100 });
    for (let i = 0; i < 30; i++) take(limit, 1)[0]?.({ ms: 5, overloaded: true });
    expect(limit.limit).toBe(4);
    for (let i = 0; i < 7; i++) take(limit, 1)[0]?.(fine); // one page at a time: less than half of it in use
    expect(limit.limit).toBe(11);
    for (let i = 0; i < 20; i++) take(limit, 1)[0]?.(fine);
    expect(limit.limit).toBe(20);
  });

  it('grows back by one per page once a limit’s worth of pages got in without a refusal, however many are in flight', () => {
    /** The limit kept full, one page going out and another coming in each round; `refused`: one more is turned away each round, as in a rush. */
    const rounds = (refused: boolean) => {
      const limit = new ConcurrencyLimit({ initial: 40, min: 4, max: 100 });
      for (let i = 0; i < 30; i++) take(limit, 1)[0]?.({ ms: 5, overloaded: true });
      const inFlight = take(limit, 4);
      if (refused) expect(limit.tryAcquire()).toBeUndefined(); // the rush goes on: the next page is refused
      for (let i = 0; i < 12; i++) {
        inFlight.shift()?.(fine);
        inFlight.push(...take(limit, limit.limit - limit.inflight));
        if (refused) expect(limit.tryAcquire()).toBeUndefined();
      }
      return limit.limit;
    };
    expect(rounds(true)).toBeLessThan(10); // by 1/limit: 4 + 12 pages' worth of 1/4 to 1/7
    expect(rounds(false)).toBeGreaterThan(10); // 4 at 1/limit, then one per page
  });

  it('grows back no further than where it started, held to max: min = max stays fixed', () => {
    const fixed = new ConcurrencyLimit({ min: 10, max: 10 });
    for (let i = 0; i < 50; i++) take(fixed, 1)[0]?.(fine);
    expect(fixed.limit).toBe(10);
  });

  it('shrinks by a tenth per page refused upstream, out of budget or slower than slowMs, down to min', () => {
    const limit = new ConcurrencyLimit({ initial: 100, min: 20, max: 200, slowMs: 1_000 });
    take(limit, 1)[0]?.({ ms: 5, overloaded: true });
    expect(limit.limit).toBe(90);
    take(limit, 1)[0]?.({ ms: 1_001, overloaded: false });
    expect(limit.limit).toBe(81);
    for (let i = 0; i < 100; i++) take(limit, 1)[0]?.({ ms: 5, overloaded: true });
    expect(limit.limit).toBe(20);
  });

  it('learns nothing from a page whose client left before its answer', () => {
    const limit = new ConcurrencyLimit({ initial: 2, min: 1, max: 10 });
    for (const release of take(limit, 2)) release();
    expect([limit.limit, limit.inflight]).toEqual([2, 0]);
  });

  it('refuses bounds that cannot hold a page', () => {
    expect(() => new ConcurrencyLimit({ min: 0, max: 5 })).toThrow(/min/);
    expect(() => new ConcurrencyLimit({ min: 6, max: 5 })).toThrow(/min/);
  });

  it('counts a page that ends while the event loop runs late as overload', () => {
    const limit = new ConcurrencyLimit({ initial: 10, min: 1, max: 10 });
    let lateness = 0;
    const admit = admission(limit, () => new Error('busy'), () => lateness);
    const page = () => {
      const res = Object.assign(new EventEmitter(), { locals: {} });
      admit({} as Request, res as unknown as Response, () => undefined);
      return res;
    };
    page().emit('finish');
    expect(limit.limit).toBe(10);
    lateness = LATE_LOOP_MS + 1;
    page().emit('finish');
    expect(limit.limit).toBe(9);
  });
});

describe('the event loop’s lateness', () => {
  const until = async (ok: () => boolean) => {
    for (let i = 0; i < 100 && !ok(); i++) await new Promise((resolve) => setTimeout(resolve, 20));
    return ok();
  };

  it('reads how late the loop ran after it was held up, and forgets it once the loop keeps time again', async () => {
    const lateness = eventLoopLateness(50);
    await new Promise((resolve) => setTimeout(resolve, 60)); // its clock has ticked: it measures from its first tick
    const end = Date.now() + 200;
    while (Date.now() < end); // the loop held for 200 ms, as a burst of pages would
    expect(await until(() => lateness() > 100)).toBe(true);
    expect(await until(() => lateness() < 100)).toBe(true);
  });
});
