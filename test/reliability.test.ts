/**
 * Proof that the shop holds under concurrency, duplicates and faults: everything goes over
 * HTTP through the local runtime (gateway, node20 emulation, built bundles, embedded store),
 * and after each scenario the stock invariant is checked from the data
 * (test/support/invariant.ts). Each scenario prints one summary line with its counts.
 *
 * No outcome here depends on the machine's speed. A fault case's outcome is decided by the
 * fault (runtime/faults.ts): a slowed step is slower than the gateway timeout by far, and every
 * other step far faster than it, and each case checks that its fault fired at the step it names.
 * Where many checkouts race (contention, duplicates), a step may still outlast the timeout on a
 * loaded machine: there each answer is checked against the order it left, not against "201".
 *
 * `npm test` runs the fast profile; `npm run test:reliability` the full one (RELIABILITY=full).
 */
import { orderIdFor } from '../core/checkout';
import type { Order } from '../core/schemas';
import { openStore } from '../core/store/open';
import type { FaultPlan } from '../runtime/faults';
import { seededRandom } from '../bench/random';
import { faultRecorder, type FaultRecorder, type FaultStep } from './support/faults';
import { newIdempotencyKey, newShopperId } from './support/fixtures';
import { InvariantSampler, catalogPrices, checkInvariant, ordersOf, report, snapshotInvariant } from './support/invariant';
import { startTestShop, type TestShop } from './support/shop';

const FULL = process.env.RELIABILITY === 'full';
const profile = FULL ? { shoppers: 400, duplicates: 60, rounds: 3 } : { shoppers: 60, duplicates: 12, rounds: 1 };
/** A call through the gateway gives up after this (per attempt): far above a step on a loaded machine... */
const TIMEOUT_MS = 2_000;
/** ...and far below a slowed step. */
const SLOW_MS = 3_500;

let t: TestShop;
let faults: FaultRecorder;
const shoppers = new Set<string>();
const customer = { name: 'Rel Iability', email: 'rel@example.com', address: '1 Invariant Way' };

beforeAll(async () => {
  process.env.GATEWAY_TIMEOUT_MS = String(TIMEOUT_MS);
  process.env.RESERVATION_TTL_SECONDS = '0';
  // Two replicas of the checkout and of the reservation, each its own process, racing on one store.
  // A checkout's worst case (three reservation and three release attempts of TIMEOUT_MS, and its
  // turn for the database among hundreds) must fit in exec_timeout, or the watchdog answers 504
  // (and the gateway 502) while the checkout runs on and the sweep races it: two minutes is a hang.
  t = await startTestShop({ faults: true, replicas: { 'order-create': 2, 'inventory-reserve': 2 }, functionEnv: { exec_timeout: '120s' } });
  faults = faultRecorder(t);
});
afterAll(async () => {
  delete process.env.GATEWAY_TIMEOUT_MS;
  delete process.env.RESERVATION_TTL_SECONDS;
  await t.stop();
});

const admin = () => ({ authorization: `Bearer ${t.shop.secrets['shop-admin-token']}` });
const internal = () => ({ authorization: `Bearer ${t.shop.secrets['shop-internal-token']}` });
async function restock(productId: string, stock: number): Promise<void> {
  const res = await t.call('inventory-restock', { headers: admin(), body: { productId, stock } });
  if (res.status !== 200) throw new Error(`restock ${productId}: ${res.status} ${res.text}`);
}

async function shopperWith(lines: [string, number][]): Promise<string> {
  const shopperId = newShopperId();
  shoppers.add(shopperId);
  for (const [productId, quantity] of lines) {
    // A 502 is the gateway giving up waiting (upstream timeout) on an oversubscribed machine: sent again, as a shopper would.
    let res = await t.call('cart-add', { body: { shopperId, productId, quantity } });
    for (let tries = 1; res.status === 502 && tries < 5; tries++) res = await t.call('cart-add', { body: { shopperId, productId, quantity } });
    if (res.status !== 200) throw new Error(`cart-add ${productId} x${quantity}: ${res.status} ${res.text}`);
  }
  return shopperId;
}

interface Answer {
  status: number;
  json?: { id?: string; status?: string; error?: { code?: string } };
}
/** Attempts that got no answer of the shop's (the gateway gave up waiting: 502, 504), and were sent again. */
let cutAttempts = 0;
/**
 * A checkout that insists, as a client with an Idempotency-Key does: an attempt cut off by a
 * timeout on an oversubscribed machine (the local gateway waits exec_timeout + 5 s of the stack,
 * whatever the test's exec_timeout) is sent again with the same key, which joins the same order.
 */
async function checkoutAnswered(shopperId: string, key: string): Promise<Answer> {
  let answer = await checkout(shopperId, key);
  for (let tries = 1; (answer.status === 502 || answer.status === 504) && tries < 5; tries++) {
    cutAttempts++;
    answer = await checkout(shopperId, key);
  }
  return answer;
}

const checkout = (shopperId: string, key = newIdempotencyKey(), signal?: AbortSignal): Promise<Answer> =>
  fetch(`${t.shop.url}/function/order-create`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify({ shopperId, customer }),
    signal,
  }).then(async (res) => ({ status: res.status, json: (await res.json().catch(() => undefined)) as Answer['json'] }));

/**
 * What an answer says about the order it was for, or why it does not match: a 201 is that
 * confirmed order; a 409 or 503 is that order failed, and the error is the order's failure (a
 * 503 BUSY: the inventory refused it for load until the checkout's deadline); a
 * 503 with no order is a checkout that could not even write its decision (the store did not
 * answer): nothing was decided, and the sweep gave its stock back.
 */
function mismatch(answer: Answer, order: Order | undefined): string | null {
  const seen = `answer ${answer.status} ${JSON.stringify(answer.json)} for order ${JSON.stringify(order && { id: order.id, status: order.status, failure: order.failure?.code })}`;
  if (!order) return answer.status === 503 ? null : `no order: ${seen}`;
  if (answer.status === 201) return answer.json?.id === order.id && order.status === 'confirmed' ? null : seen;
  if (answer.status === 409) return order.status === 'failed' && order.failure?.code === answer.json?.error?.code ? null : seen;
  // 503 BUSY: the inventory refused the reservation (429, or no replica ready) until the checkout gave up.
  if (answer.status === 503) return order.status === 'failed' && (answer.json?.error?.code === 'DEPENDENCY_UNAVAILABLE' || (answer.json?.error?.code === 'BUSY' && order.failure?.code === 'BUSY')) ? null : seen;
  return `unexpected status: ${seen}`;
}

/** A quiet moment: abandoned checkouts swept (batch after batch, as the next runs would), then the invariant checked over every order. */
async function settledInvariant() {
  // As the cron-connector would: run again while there is more, or while a run did not get
  // through (on a loaded machine a sweep can outlast the watchdog's exec_timeout: 504).
  let sweep = await t.call('order-sweep', { method: 'POST' });
  for (let runs = 1; (sweep.status !== 200 || sweep.json.more === true) && runs < 100; runs++) sweep = await t.call('order-sweep', { method: 'POST' });
  expect([sweep.status, sweep.json?.more, sweep.json?.errors]).toEqual([200, false, 0]);
  const store = await openStore();
  const orders = await ordersOf(store, shoppers);
  const result = await checkInvariant(store, orders, { prices: catalogPrices() });
  expect(result.violations).toEqual([]);
  expect(orders.filter((o) => o.status === 'pending' || o.status === 'cancelling')).toEqual([]);
  return { ...result, orders, sweep: sweep.json as { failedOrders: number; releasedReservations: number; finishedCancellations: number } };
}

const SCARCE = ['espresso-tamper', 'burr-coffee-grinder', 'cold-brew-jar', 'gooseneck-kettle'];

describe('reliability', () => {
  it('contention: many shoppers with random carts over scarce products, all at once, the invariant holding on every snapshot during the rush', async () => {
    const random = seededRandom(20261125);
    const counts = { shoppers: 0, orders: 0, outOfStock: 0, overloaded: 0, undecided: 0 };
    const sampler = new InvariantSampler(await openStore());
    const keys = new Map<string, string>();
    const answers: { shopperId: string; answer: Answer }[] = [];
    try {
      for (let round = 0; round < profile.rounds; round++) {
        for (const [i, id] of SCARCE.entries()) await restock(id, 5 + 3 * i);
        // Every shopper gets a cart: a failed cart-add fails the test (shopperWith throws).
        const carts = await Promise.all(
          Array.from({ length: profile.shoppers }, () => {
            const picks = random.shuffle(SCARCE).slice(0, random.int(1, 3));
            return shopperWith([...picks.map((p) => [p, random.int(1, 2)] as [string, number]), ['paper-filters-100', 1]]);
          }),
        );
        for (const s of carts) keys.set(s, newIdempotencyKey());
        answers.push(...(await Promise.all(carts.map(async (shopperId) => ({ shopperId, answer: await checkoutAnswered(shopperId, keys.get(shopperId) as string) })))));
      }
    } finally {
      // Stopped however the rush ended: a failed setup must not leave it reading a closed store.
      await sampler.stop();
    }
    const { checks, orders } = await settledInvariant();
    const byId = new Map(orders.map((o) => [o.id, o]));
    const mismatches = answers.map(({ shopperId, answer }) => mismatch(answer, byId.get(orderIdFor(shopperId, keys.get(shopperId) as string)))).filter((m) => m !== null);
    expect(mismatches).toEqual([]);
    for (const { answer } of answers) {
      counts.shoppers++;
      if (answer.status === 201) counts.orders++;
      if (answer.status === 409) counts.outOfStock++;
      // A step that outlasted TIMEOUT_MS while hundreds of checkouts queue on two cores: its order
      // failed, its stock given back. How many depends on the machine: counted, and each checked above.
      if (answer.status === 503) counts.overloaded++;
    }
    // A 409 is out of stock: a retry after a timed-out reservation answers the order's own failure.
    expect(answers.filter(({ answer }) => answer.status === 409 && answer.json?.error?.code !== 'OUT_OF_STOCK')).toEqual([]);
    // One order per shopper, but for a checkout whose store write did not get through (503, nothing decided).
    counts.undecided = answers.filter(({ shopperId }) => !byId.has(orderIdFor(shopperId, keys.get(shopperId) as string))).length;
    expect(counts.shoppers).toBe(profile.shoppers * profile.rounds);
    expect(counts.undecided).toBeLessThanOrEqual(counts.overloaded);
    expect(counts.orders).toBeGreaterThan(0);
    expect(counts.outOfStock).toBeGreaterThan(0);
    expect(sampler.violations).toEqual([]);
    expect(sampler.samples).toBeGreaterThan(0);
    report('contention', { ...counts, cutAttemptsSentAgain: cutAttempts, snapshotsDuringRush: sampler.samples, snapshotsWithUnitsInFlight: sampler.inFlight, invariantChecks: checks });
  }, 900_000); // the full profile's 1,200 checkouts on an oversubscribed machine

  it('duplicates: double clicks, a client that times out and retries, replays of old keys', async () => {
    await restock('paper-filters-100', 10_000);
    const keys = new Map<string, string>(); // key -> shopper
    const doubleClicks = await Promise.all(
      Array.from({ length: profile.duplicates }, async () => {
        const shopperId = await shopperWith([['paper-filters-100', 2]]);
        const key = newIdempotencyKey();
        keys.set(key, shopperId);
        return { key, answers: await Promise.all([checkoutAnswered(shopperId, key), checkoutAnswered(shopperId, key)]) };
      }),
    );
    const retried = await Promise.all(
      Array.from({ length: profile.duplicates }, async () => {
        const shopperId = await shopperWith([['paper-filters-100', 1]]);
        const key = newIdempotencyKey();
        keys.set(key, shopperId);
        // The first attempt gives up after a few ms, while the shop may still complete it.
        const first = await checkout(shopperId, key, AbortSignal.timeout(3)).then((a) => (a.status === 502 || a.status === 504 ? null : a), () => null);
        const second = await checkoutAnswered(shopperId, key);
        return { key, first, second };
      }),
    );
    const replays = await Promise.all([...keys].map(async ([key, shopperId]) => ({ key, answer: await checkoutAnswered(shopperId, key) })));

    const { checks, orders } = await settledInvariant();
    const orderOf = (key: string) => orders.find((o) => o.id === orderIdFor(keys.get(key) as string, key));
    // Exactly one order per key, whatever each attempt answered.
    expect(orders.filter((o) => [...keys].some(([key, s]) => o.id === orderIdFor(s, key)))).toHaveLength(keys.size);
    // Every answer, first or duplicate, is the order its key made (a 503 under load is a failed order, on every attempt).
    const everyAnswer = [
      ...doubleClicks.flatMap(({ key, answers }) => answers.map((answer) => ({ key, answer }))),
      ...retried.flatMap(({ key, first, second }) => [...(first ? [{ key, answer: first }] : []), { key, answer: second }]),
      ...replays,
    ];
    expect(everyAnswer.map(({ key, answer }) => mismatch(answer, orderOf(key))).filter((m) => m !== null)).toEqual([]);
    const confirmed = [...keys.keys()].filter((key) => orderOf(key)?.status === 'confirmed').length;
    expect(confirmed).toBeGreaterThan(0);
    report('duplicates', {
      doubleClicks: doubleClicks.length,
      timeoutRetries: retried.length,
      firstAttemptsCutOff: retried.filter((r) => r.first === null).length,
      replays: replays.length,
      orders: keys.size,
      confirmed,
      failedUnderLoad: keys.size - confirmed,
      invariantChecks: checks,
    });
  }, 600_000);

  /**
   * Each case: the plan, the steps its faults must hit, the first one first (the checkout's store
   * operations and calls as core/checkout.ts and core/inventory.ts make them today: re-point `plan`
   * and `fired` together when they change), the exact answer and the order's end state, and, for a
   * step that freezes the checkout with stock held, that a snapshot taken there shows those units
   * in flight.
   */
  const faultCases: { name: string; plan: FaultPlan; fired: FaultStep[]; answer: number; order: 'confirmed' | 'failed' | 'none'; heldAtFault?: true }[] = [
    {
      name: 'inventory-reserve slow (finishes after order-create gave up)',
      plan: { store: [{ operation: 'holdStock', mode: 'slow', delayMs: SLOW_MS, times: 6 }] },
      fired: ['store:holdStock'],
      answer: 503,
      order: 'failed',
    },
    { name: 'inventory-reserve failing (500)', plan: { functions: { 'inventory-reserve': { status: 500 } } }, fired: ['function:inventory-reserve'], answer: 503, order: 'failed' },
    {
      name: 'inventory-reserve dying half-way through the items (the retry adopts the first hold)',
      plan: { store: [{ operation: 'holdStock', mode: 'hang', after: 1, times: 1 }] },
      fired: ['store:holdStock'],
      answer: 201,
      order: 'confirmed',
      heldAtFault: true,
    },
    { name: 'gateway timing out (504)', plan: { functions: { 'inventory-reserve': { status: 504 } } }, fired: ['function:inventory-reserve'], answer: 503, order: 'failed' },
    { name: 'gateway dropping the connection', plan: { functions: { 'inventory-reserve': { drop: true } } }, fired: ['function:inventory-reserve'], answer: 503, order: 'failed' },
    {
      name: 'store failing the order’s write (nothing decided; the sweep gives the stock back)',
      plan: { store: [{ operation: 'decideOrder', mode: 'fail', times: 1 }] },
      fired: ['store:decideOrder'],
      answer: 503,
      order: 'none',
      heldAtFault: true,
    },
    { name: 'store failing a stock hold (the retry holds everything)', plan: { store: [{ operation: 'holdStock', mode: 'fail', after: 1, times: 1 }] }, fired: ['store:holdStock'], answer: 201, order: 'confirmed' },
    {
      name: 'inventory down and the compensation failing too (no replica answers: asked again until the checkout gives up, the order failed BUSY, its stock given back by the sweep)',
      plan: { functions: { 'inventory-reserve': { status: 503 }, 'inventory-release': { status: 503 } } },
      fired: ['function:inventory-reserve', 'function:inventory-release'],
      answer: 503,
      order: 'failed',
    },
    { name: 'store failing to empty the cart after confirming', plan: { store: [{ operation: 'replaceCart', mode: 'fail', times: 1 }] }, fired: ['store:replaceCart'], answer: 201, order: 'confirmed' },
    {
      name: 'order-create dying between confirming the order and recording its sale (the sweep records it)',
      plan: { store: [{ operation: 'sellHold', mode: 'hang', times: 1 }] },
      fired: ['store:sellHold'],
      answer: 0,
      order: 'confirmed',
      heldAtFault: true,
    },
    {
      name: 'a late duplicate reservation landing after the order was sold (undone, not counted)',
      plan: { store: [{ operation: 'holdStock', mode: 'slow', delayMs: SLOW_MS, times: 1 }] },
      fired: ['store:holdStock'],
      answer: 201,
      order: 'confirmed',
    },
  ];

  it.each(faultCases)('faults: $name', async ({ name, plan, fired: steps, answer: expectedAnswer, order: expectedOrder, heldAtFault }) => {
    await restock('digital-coffee-scale', 20);
    await restock('milk-frother', 20);
    const shopperId = await shopperWith([['digital-coffee-scale', 2], ['milk-frother', 1]]);
    const key = newIdempotencyKey();
    await faults.set(plan);
    const shopper = new AbortController();
    const answered = checkout(shopperId, key, shopper.signal).catch(() => ({ status: 0 }) as Answer);
    // A snapshot where the fault stopped the checkout: the invariant holds mid-checkout too.
    await faults.firedAt(steps[0] as FaultStep);
    const atFault = await snapshotInvariant(await openStore());
    // A checkout whose process died there never answers: the shopper gives up on it.
    if (expectedAnswer === 0) shopper.abort();
    const answer = await answered;
    const fired = faults.fired();
    await faults.set(null);
    // A slow step still lands after its caller gave up: wait for it, then sweep.
    await faults.slowOperationsDone();
    const { checks, orders } = await settledInvariant();
    const order = orders.find((o) => o.id === orderIdFor(shopperId, key));
    expect({ fired: Object.keys(fired), answer: answer.status, order: order?.status }).toEqual({ fired: steps, answer: expectedAnswer, order: expectedOrder === 'none' ? undefined : expectedOrder });
    if (expectedAnswer !== 0) expect(mismatch(answer, order)).toBeNull();
    expect(atFault.violations).toEqual([]);
    if (heldAtFault) expect(atFault.inFlight).toBeGreaterThan(0);
    report(`fault [${name}]`, { fired: JSON.stringify(fired), answer: answer.status, order: order?.status ?? 'none', unitsInFlightAtFault: atFault.inFlight, invariantChecks: checks });
  });

  it('stuck reservations: stock held for an order that never confirms comes back', async () => {
    await restock('ceramic-pour-over-dripper', 10);
    // A reservation with no order behind it (its checkout crashed before writing one)...
    const orphan = `ord_${newIdempotencyKey().slice(0, 22)}`;
    expect((await t.call('inventory-reserve', { headers: internal(), body: { orderId: orphan, items: [{ productId: 'ceramic-pour-over-dripper', quantity: 3 }] } })).status).toBe(200);
    // ...and a checkout that died after reserving, before writing its order.
    const shopperId = await shopperWith([['ceramic-pour-over-dripper', 2]]);
    await faults.set({ store: [{ operation: 'decideOrder', mode: 'hang', times: 1 }] });
    const shopper = new AbortController();
    const stuck = checkout(shopperId, newIdempotencyKey(), shopper.signal).catch(() => null);
    await faults.firedAt('store:decideOrder');
    shopper.abort();
    expect(await stuck).toBeNull();
    await faults.set(null);
    const store = await openStore();
    expect((await store.getProducts(['ceramic-pour-over-dripper']))[0]?.stock).toBe(5);

    const { checks, sweep } = await settledInvariant();
    expect({ failedOrders: sweep.failedOrders, releasedReservations: sweep.releasedReservations }).toEqual({ failedOrders: 0, releasedReservations: 2 });
    expect((await store.getProducts(['ceramic-pour-over-dripper']))[0]?.stock).toBe(10);
    report('stuck reservations', { orphanReservations: 1, stuckOrders: 1, sweptOrders: sweep.failedOrders, sweptReservations: sweep.releasedReservations, invariantChecks: checks });
  });

  it('a cancellation whose first attempt stalls and lands after the retry finished: its take-back is undone', async () => {
    await restock('aeropress-coffee-maker', 20);
    const [first, second] = [await shopperWith([['aeropress-coffee-maker', 3]]), await shopperWith([['aeropress-coffee-maker', 2]])];
    const placed = [await checkout(first), await checkout(second)];
    expect(placed.map((p) => p.status)).toEqual([201, 201]);
    await faults.set({ store: [{ operation: 'takeBackSold', mode: 'slow', delayMs: SLOW_MS, times: 1 }] });
    const cancel = await t.call('order-cancel', { body: { orderId: placed[0]?.json?.id, shopperId: first } });
    const fired = faults.fired();
    await faults.set(null);
    await faults.slowOperationsDone();
    expect({ fired, status: cancel.status, order: cancel.json.status }).toEqual({ fired: { 'store:takeBackSold': 1 }, status: 200, order: 'cancelled' });
    const { checks } = await settledInvariant();
    const store = await openStore();
    expect((await store.getProducts(['aeropress-coffee-maker']))[0]?.stock).toBe(18);
    report('late cancellation attempt', { cancelled: 1, stockBack: 3, invariantChecks: checks });
  });

  it('stuck cancellations: a cancel whose release failed is finished by the sweep', async () => {
    await restock('double-wall-glass-mug', 10);
    const shopperId = await shopperWith([['double-wall-glass-mug', 4]]);
    const placed = await checkout(shopperId);
    expect(placed.status).toBe(201);
    await faults.set({ functions: { 'inventory-release': { status: 503 } } });
    const cancel = await t.call('order-cancel', { body: { orderId: placed.json?.id, shopperId } });
    const fired = faults.fired();
    await faults.set(null);
    expect({ fired: Object.keys(fired), status: cancel.status }).toEqual({ fired: ['function:inventory-release'], status: 503 });
    const store = await openStore();
    expect((await store.getOrder(placed.json?.id as string))?.status).toBe('cancelling');
    const { checks, sweep } = await settledInvariant();
    expect(sweep.finishedCancellations).toBe(1);
    expect((await store.getOrder(placed.json?.id as string))?.status).toBe('cancelled');
    expect((await store.getProducts(['double-wall-glass-mug']))[0]?.stock).toBe(10);
    report('stuck cancellations', { stuck: 1, finished: sweep.finishedCancellations, invariantChecks: checks });
  });

  it('auth: internal and admin functions refuse missing, wrong and wrong-kind tokens, changing nothing, and accept the right one', async () => {
    const before = t.snapshot();
    const tokens = { none: undefined, wrong: 'Bearer not-the-token', internal: internal().authorization, admin: admin().authorization };
    const orderId = `ord_${newIdempotencyKey().slice(0, 22)}`;
    const calls = [
      { fn: 'inventory-reserve', body: { orderId, items: [{ productId: 'paper-filters-100', quantity: 1 }] }, allowed: 'internal' },
      { fn: 'inventory-release', body: { orderId }, allowed: 'internal' },
      { fn: 'inventory-restock', body: { productId: 'paper-filters-100', stock: 1 }, allowed: 'admin' },
    ] as const;
    const refused: string[] = [];
    for (const call of calls) {
      for (const [kind, value] of Object.entries(tokens)) {
        if (kind === call.allowed) continue;
        const res = await t.call(call.fn, { body: call.body, headers: value ? { authorization: value } : {} });
        refused.push(`${call.fn} ${kind} ${res.status}`);
        expect(res.status).toBe(value ? 403 : 401);
      }
    }
    expect(t.snapshot()).toBe(before);
    // The control: the same calls with the right token go through (and change the store).
    for (const call of calls) expect(`${call.fn} ${(await t.call(call.fn, { body: call.body, headers: { authorization: tokens[call.allowed] } })).status}`).toBe(`${call.fn} 200`);
    expect(t.snapshot()).not.toBe(before);
    report('auth', { refusedCalls: refused.length, storeUnchanged: 'yes', acceptedWithTheRightToken: calls.length });
  });
});

/**
 * Overload: more checkouts at once than the checkout's replicas take (max_inflight 2 on one
 * replica each), every shopper a client that honours Retry-After: a refused attempt (429 from
 * the gateway, nothing ran) is sent again with the same key after the wait it was told; an order
 * failed BUSY (503: the inventory refused it until its deadline; its key is spent) is placed
 * again with a new key. Bounded by counts: attempts per shopper, not time.
 */
describe('overload', () => {
  let busy: TestShop;
  const overloaded = new Set<string>();
  beforeAll(async () => {
    busy = await startTestShop({ functionEnv: { max_inflight: '2', exec_timeout: '20s' }, admission: { busyWaitMs: 50, noneReadyWaitMs: 5_000 } });
  });
  afterAll(() => busy.stop());

  const place = (shopperId: string, key: string) =>
    fetch(`${busy.shop.url}/function/order-create`, { method: 'POST', headers: { 'content-type': 'application/json', 'idempotency-key': key }, body: JSON.stringify({ shopperId, customer }) }).then(async (res) => ({
      status: res.status,
      retryAfter: Number(res.headers.get('retry-after')),
      json: (await res.json().catch(() => undefined)) as Answer['json'],
    }));

  it('serves what fits, refuses the rest with Retry-After, and ends with one decided order per shopper and the stock exact', async () => {
    const units = 15;
    const restocked = await busy.call('inventory-restock', { headers: { authorization: `Bearer ${busy.shop.secrets['shop-admin-token']}` }, body: { productId: 'gooseneck-kettle', stock: units } });
    expect(restocked.status).toBe(200);
    const ids = Array.from({ length: profile.shoppers }, newShopperId);
    for (const shopperId of ids) {
      overloaded.add(shopperId);
      expect((await busy.call('cart-add', { body: { shopperId, productId: 'gooseneck-kettle', quantity: 1 } })).status).toBe(200);
    }
    const statuses: Record<number, number> = {};
    const unanswered: string[] = [];
    const finals = await Promise.all(
      ids.map(async (shopperId) => {
        let key = newIdempotencyKey();
        for (let attempt = 0; attempt < 60; attempt++) {
          const answer = await place(shopperId, key);
          statuses[answer.status] = (statuses[answer.status] ?? 0) + 1;
          if (answer.status === 201 || answer.status === 409) return answer;
          if (answer.status !== 429 && answer.status !== 503) return answer;
          // A BUSY order is decided (failed): a new order needs a new key. A 429 never ran: the same key.
          if (answer.json?.error?.code === 'BUSY') key = newIdempotencyKey();
          await new Promise((resolve) => setTimeout(resolve, (answer.retryAfter || 1) * 1000));
        }
        unanswered.push(shopperId);
        return undefined;
      }),
    );
    // The overload happened: some attempts were refused, each with a Retry-After the client honoured.
    expect((statuses[429] ?? 0) + (statuses[503] ?? 0)).toBeGreaterThan(0);
    expect(Object.keys(statuses).filter((s) => !['201', '409', '429', '503'].includes(s))).toEqual([]);
    expect(unanswered).toEqual([]);
    expect(finals.filter((a) => a?.status === 201)).toHaveLength(units);
    expect(finals.filter((a) => a?.status === 409).map((a) => a?.json?.error?.code)).toEqual(Array(ids.length - units).fill('OUT_OF_STOCK'));

    // Refused checkouts hold nothing once the sweep has run; every confirmed order is one 201.
    await busy.call('order-sweep', { method: 'POST' });
    await busy.shop.stop();
    const store = await openStore({ kind: 'embedded', location: busy.dataDir });
    try {
      const orders = await ordersOf(store, overloaded);
      expect(orders.filter((o) => o.status === 'confirmed')).toHaveLength(units);
      expect(orders.filter((o) => o.status !== 'confirmed' && o.status !== 'failed')).toEqual([]);
      const { violations, checks } = await checkInvariant(store, orders, { prices: catalogPrices() });
      expect(violations).toEqual([]);
      report('overload', { shoppers: ids.length, units, ...Object.fromEntries(Object.entries(statuses).map(([s, n]) => [`answers${s}`, n])), invariantChecks: checks });
    } finally {
      await store.close();
    }
  });
});
