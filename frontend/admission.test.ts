/** The storefront's adaptive bound on pages in flight, page by page (no clock: outcomes say how long a page took). */
import { ConcurrencyLimit } from './admission';

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

  it('grows by one per page that went well while at least half of it was in use, up to max', () => {
    const limit = new ConcurrencyLimit({ initial: 4, min: 1, max: 5 });
    for (const release of take(limit, 4)) release(fine);
    expect(limit.limit).toBe(5);
    for (const release of take(limit, 5)) release(fine);
    expect(limit.limit).toBe(5);
  });

  it('does not grow while the shop uses less than half of it', () => {
    const limit = new ConcurrencyLimit({ initial: 10, min: 1, max: 100 });
    for (let i = 0; i < 50; i++) take(limit, 1)[0]?.(fine);
    expect(limit.limit).toBe(10);
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
});
