/**
 * order-create with nock standing in for the gateway: the inventory functions are another
 * function's business, reached over HTTP, so their answers (good, bad, slow, malformed) are
 * scripted here. The store is the real embedded one.
 */
import handler = require('./handler');
import { orderIdFor } from '../../core/checkout';
import { reserveStock, sellStock } from '../../core/inventory';
import { DATABASE_FILE, storeStats } from '../../core/store/embedded';
import Database from 'better-sqlite3';
import { join } from 'node:path';
import type { Interceptor } from 'nock';
import { useNock } from '../../test/support/nock';
import { TOKENS, newIdempotencyKey, newShopperId, product, testStore, useFunction } from '../../test/support/fixtures';
import { anOrder } from '../../test/support/orders';

// A write that finds the database locked by another process gives up after this long (503).
process.env.SQLITE_BUSY_TIMEOUT_MS = '200';
// The watchdog's exec_timeout: a checkout's reservation, refusals retried included, ends 0.75 s before it.
process.env.exec_timeout = '3s';

const GATEWAY = 'http://gateway.test:8080';
// The scripted inventory answers do real store work: a busy machine must not turn them into timeouts.
const TIMEOUT_MS = 1_500;
const fn = useFunction(handler, { gateway: GATEWAY, gatewayTimeoutMs: TIMEOUT_MS });
const nock = useNock();
const customer = { name: 'Ada Lovelace', email: 'ada@example.com', address: '12 Analytical Row, London' };

beforeAll(async () => {
  await (await testStore()).putProduct(product({ priceCents: 1250, stock: 1_000 }));
});

async function shopperWithCart(quantity = 2) {
  const shopperId = newShopperId();
  await (await testStore()).replaceCart(shopperId, [{ productId: 'test-mug', quantity }], 0, new Date().toISOString());
  return shopperId;
}

const checkout = (shopperId: string, key: string | null = newIdempotencyKey(), body: object = { shopperId, customer }) =>
  fn.call({ body, headers: key ? { 'idempotency-key': key, 'x-call-id': 'call-123' } : {} });

/** An async answer, in nock's error-first reply form. */
const answer =
  (body: () => Promise<object>) =>
  (_uri: string, _requestBody: unknown, done: (error: NodeJS.ErrnoException | null, body: object) => void): void => {
    body().then(
      (value) => done(null, value),
      (error: NodeJS.ErrnoException) => done(error, {}),
    );
  };

const mugs = (quantity = 2) => [{ productId: 'test-mug', quantity }];

/** inventory-reserve's answer: the stock really held in the store, priced at `priceCents`. */
const reserved = (orderId: string, priceCents: number, quantity = 2) =>
  answer(async () => {
    const reservation = await reserveStock(await testStore(), orderId, mugs(quantity));
    return { ...reservation, items: reservation.items.map((i) => ({ ...i, priceCents })) };
  });

/** Another attempt with the same key that got the stock and confirmed the order meanwhile. */
async function duplicateConfirms(orderId: string, shopperId: string): Promise<void> {
  const store = await testStore();
  const reservation = await reserveStock(store, orderId, mugs());
  const order = { ...anOrder(shopperId, { id: orderId, customer, requested: mugs() }), items: reservation.items, totalCents: 2500 };
  await store.decideOrder(order, reservation.holds);
  await sellStock(store, { order, holdTokens: reservation.holds });
}

const held = async () => (await (await testStore()).stockAudit()).find((a) => a.productId === 'test-mug')?.held;

describe('order-create', () => {
  it('confirms an order at the prices the inventory reserved, then empties the cart', async () => {
    const shopperId = await shopperWithCart();
    const key = newIdempotencyKey();
    const orderId = orderIdFor(shopperId, key);
    const scope = nock(GATEWAY, { reqheaders: { authorization: `Bearer ${TOKENS.internal}`, 'x-call-id': 'call-123' } })
      .post('/function/inventory-reserve', { orderId, items: [{ productId: 'test-mug', quantity: 2 }] })
      .reply(200, reserved(orderId, 999));
    const res = await checkout(shopperId, key);
    expect(res.status).toBe(201);
    expect(res.json).toMatchObject({ id: orderId, status: 'confirmed', shopperId, customer, totalCents: 1998, items: [{ productId: 'test-mug', name: 'Test Mug', priceCents: 999, quantity: 2 }] });
    scope.done();
    expect((await (await testStore()).getCart(shopperId)).lines).toEqual([]);
    // Its holds are sold: nothing is left held.
    expect(await held()).toBe(0);
  });

  it.each([
    ['one line', 1, 5],
    ['three lines', 3, 5 + 2 * 2],
  ])('costs at most a fixed number of synced commits for %s, on a quiet store', async (_name, lines, most) => {
    const store = await testStore();
    for (let i = 0; i < lines; i++) await store.putProduct(product({ id: `cost-${i}`, stock: 1_000 }));
    const shopperId = newShopperId();
    await store.replaceCart(shopperId, Array.from({ length: lines }, (_, i) => ({ productId: `cost-${i}`, quantity: 1 })), 0, new Date().toISOString());
    const key = newIdempotencyKey();
    const orderId = orderIdFor(shopperId, key);
    nock(GATEWAY)
      .post('/function/inventory-reserve')
      .reply(200, answer(() => reserveStock(store, orderId, Array.from({ length: lines }, (_, i) => ({ productId: `cost-${i}`, quantity: 1 })))));
    const before = { ...storeStats };
    expect((await checkout(shopperId, key)).status).toBe(201);
    // This process is the whole store here: order-create, and the reservation answered in-process.
    expect(storeStats.commits - before.commits).toBeLessThanOrEqual(most);
    expect(storeStats.commits - before.commits).toBe(storeStats.writes - before.writes);
  });

  it('replays the same order for the same key without reserving again', async () => {
    const shopperId = await shopperWithCart();
    const key = newIdempotencyKey();
    nock(GATEWAY).post('/function/inventory-reserve').once().reply(200, reserved(orderIdFor(shopperId, key), 1250));
    const first = await checkout(shopperId, key);
    const replay = await checkout(shopperId, key);
    expect(replay.status).toBe(201);
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect(replay.json).toEqual(first.json);
  });

  it('refuses a key reused for a different customer', async () => {
    const shopperId = await shopperWithCart();
    const key = newIdempotencyKey();
    nock(GATEWAY).post('/function/inventory-reserve').reply(200, reserved(orderIdFor(shopperId, key), 1250));
    await checkout(shopperId, key);
    const res = await checkout(shopperId, key, { shopperId, customer: { ...customer, name: 'Someone Else' } });
    expect(res.status).toBe(409);
    expect(res.json.error.code).toBe('IDEMPOTENCY_KEY_REUSED');
  });

  it('answers 409 OUT_OF_STOCK, fails the order and keeps the cart', async () => {
    const shopperId = await shopperWithCart();
    const key = newIdempotencyKey();
    const details = [{ productId: 'test-mug', requested: 2, available: 1 }];
    nock(GATEWAY).post('/function/inventory-reserve').reply(409, { error: { code: 'OUT_OF_STOCK', message: 'only 1 of test-mug left', details } });
    const res = await checkout(shopperId, key);
    expect(res.status).toBe(409);
    expect(res.json.error).toMatchObject({ code: 'OUT_OF_STOCK', details: { orderId: orderIdFor(shopperId, key), reasons: details } });
    expect((await (await testStore()).getOrder(orderIdFor(shopperId, key)))?.status).toBe('failed');
    expect((await (await testStore()).getCart(shopperId)).lines).toHaveLength(1);
    // A replay gives the same answer.
    expect((await checkout(shopperId, key)).json).toEqual(res.json);
  });

  it.each([
    ['keeps answering 502', (s: Interceptor) => s.times(3).reply(502, 'bad gateway')],
    // Each attempt waits for the answer until the order's deadline: two fit in its 2.25 s.
    ['times out', (s: Interceptor) => s.times(2).delay(TIMEOUT_MS + 500).reply(200, {})],
    ['sends a malformed answer', (s: Interceptor) => s.reply(200, '{"orderId": 12')],
    ['answers 401 (misconfigured token)', (s: Interceptor) => s.reply(401, { error: { code: 'UNAUTHENTICATED', message: 'no' } })],
  ])('releases the reservation and answers 503 when the inventory %s', async (_name, reply) => {
    const shopperId = await shopperWithCart();
    const key = newIdempotencyKey();
    const orderId = orderIdFor(shopperId, key);
    const reserve = reply(nock(GATEWAY).post('/function/inventory-reserve'));
    const release = nock(GATEWAY).post('/function/inventory-release', { orderId }).reply(200, { orderId, released: [] });
    const res = await checkout(shopperId, key);
    expect(res.status).toBe(503);
    expect(res.json.error.code).toBe('DEPENDENCY_UNAVAILABLE');
    reserve.done();
    release.done();
    expect((await (await testStore()).getOrder(orderId))?.status).toBe('failed');
    expect((await (await testStore()).getCart(shopperId)).lines).toHaveLength(1);
  });

  it('retries a reservation that failed once, since it is idempotent', async () => {
    const shopperId = await shopperWithCart();
    const key = newIdempotencyKey();
    const scope = nock(GATEWAY)
      .post('/function/inventory-reserve').reply(502, 'bad gateway')
      .post('/function/inventory-reserve').reply(200, reserved(orderIdFor(shopperId, key), 1250));
    const res = await checkout(shopperId, key);
    expect(res.status).toBe(201);
    scope.done();
  });

  it('retries a reservation refused for load (429) after its Retry-After, and confirms the order', async () => {
    const shopperId = await shopperWithCart();
    const key = newIdempotencyKey();
    const scope = nock(GATEWAY)
      .post('/function/inventory-reserve').times(4).reply(429, 'Every replica of inventory-reserve is busy', { 'retry-after': '0' })
      .post('/function/inventory-reserve').reply(200, reserved(orderIdFor(shopperId, key), 1250));
    const res = await checkout(shopperId, key);
    expect([res.status, res.json.status]).toEqual([201, 'confirmed']);
    scope.done();
  });

  it('fails an order whose reservation is refused until its deadline: 503 BUSY with Retry-After, its stock released, the cart kept', async () => {
    const shopperId = await shopperWithCart();
    const key = newIdempotencyKey();
    const orderId = orderIdFor(shopperId, key);
    // Refused for a second each time: within the 2.25 s the order has, a few attempts, then it gives up.
    let attempts = 0;
    nock(GATEWAY).post('/function/inventory-reserve').times(10).reply(() => (attempts++, [429, 'busy', { 'retry-after': '1' }]));
    const release = nock(GATEWAY).post('/function/inventory-release', { orderId }).reply(200, { orderId, released: [] });
    const res = await checkout(shopperId, key);
    expect([res.status, res.headers.get('retry-after'), res.json.error.code, res.json.error.details]).toEqual([503, '2', 'BUSY', { orderId }]);
    release.done();
    // More than one attempt, and fewer than the ten allowed: the deadline ended them.
    expect(attempts).toBeGreaterThan(1);
    expect(attempts).toBeLessThan(10);
    expect((await (await testStore()).getOrder(orderId))?.status).toBe('failed');
    expect((await (await testStore()).getCart(shopperId)).lines).toHaveLength(1);
    const replay = await checkout(shopperId, key);
    expect([replay.status, replay.headers.get('retry-after'), replay.json]).toEqual([503, '2', res.json]);
  });

  it('fails the order even when the release cannot get through; a replay answers the same failure', async () => {
    const shopperId = await shopperWithCart();
    const key = newIdempotencyKey();
    const orderId = orderIdFor(shopperId, key);
    nock(GATEWAY).post('/function/inventory-reserve').times(3).reply(502, 'down');
    const release = nock(GATEWAY).post('/function/inventory-release').times(3).reply(502, 'down');
    const first = await checkout(shopperId, key);
    expect(first.status).toBe(503);
    release.done();
    expect((await (await testStore()).getOrder(orderId))?.status).toBe('failed');
    // Decided: the replay asks the inventory nothing (nock would refuse the call) and answers the same.
    const replay = await checkout(shopperId, key);
    expect([replay.status, replay.json]).toEqual([503, first.json]);
  });

  it('decides nothing when the store cannot write the order, so that a replay completes the checkout', async () => {
    const shopperId = await shopperWithCart();
    const key = newIdempotencyKey();
    const orderId = orderIdFor(shopperId, key);
    // Another process holds the database's write lock from the moment the stock is held until the answer.
    const other = new Database(join(process.env.DATA_DIR as string, DATABASE_FILE));
    nock(GATEWAY)
      .post('/function/inventory-reserve')
      .reply(
        200,
        answer(async () => {
          const reservation = await reserveStock(await testStore(), orderId, mugs());
          other.exec('BEGIN IMMEDIATE');
          return reservation;
        }),
      );
    const res = await checkout(shopperId, key).finally(() => other.exec('ROLLBACK'));
    other.close();
    expect(res.status).toBe(503);
    expect(await (await testStore()).getDecision(orderId)).toBeNull();
    expect(await held()).toBe(2);

    // The replay finds the holds of the first attempt and adopts them.
    nock(GATEWAY).post('/function/inventory-reserve').reply(200, answer(async () => reserveStock(await testStore(), orderId, mugs())));
    const replay = await checkout(shopperId, key);
    expect([replay.status, replay.json.status]).toEqual([201, 'confirmed']);
    expect(await held()).toBe(0);
  });

  it('answers the order a duplicate attempt confirmed while this one lost its reservation', async () => {
    const shopperId = await shopperWithCart();
    const key = newIdempotencyKey();
    const orderId = orderIdFor(shopperId, key);
    nock(GATEWAY)
      .post('/function/inventory-reserve')
      .times(3)
      .reply(
        504,
        answer(async () => {
          if ((await (await testStore()).getDecision(orderId)) === null) await duplicateConfirms(orderId, shopperId);
          return { error: { code: 'TIMEOUT', message: 'timeout' } };
        }),
      );
    const res = await checkout(shopperId, key);
    expect(res.status).toBe(201);
    expect(res.headers.get('idempotent-replayed')).toBe('true');
    expect(res.json).toMatchObject({ status: 'confirmed', totalCents: 2500 });
    expect(await held()).toBe(0);
  });

  it('gives back the stock it held itself when a duplicate attempt confirmed the order first', async () => {
    const shopperId = await shopperWithCart();
    const key = newIdempotencyKey();
    const orderId = orderIdFor(shopperId, key);
    const before = (await (await testStore()).stockAudit()).find((a) => a.productId === 'test-mug');
    nock(GATEWAY)
      .post('/function/inventory-reserve')
      .reply(
        200,
        answer(async () => {
          // The duplicate holds, confirms and sells first; this attempt's hold lands after it.
          await duplicateConfirms(orderId, shopperId);
          return reserveStock(await testStore(), orderId, mugs());
        }),
      );
    const res = await checkout(shopperId, key);
    expect([res.status, res.headers.get('idempotent-replayed')]).toEqual([201, 'true']);
    expect((await (await testStore()).stockAudit()).find((a) => a.productId === 'test-mug')).toMatchObject({ held: 0, sold: (before?.sold ?? 0) + 2 });
  });

  it('answers 409 CART_EMPTY for an empty cart and creates no order', async () => {
    const shopperId = newShopperId();
    const key = newIdempotencyKey();
    const res = await checkout(shopperId, key);
    expect(res.status).toBe(409);
    expect(res.json.error.code).toBe('CART_EMPTY');
    expect(await (await testStore()).getOrder(orderIdFor(shopperId, key))).toBeNull();
  });

  it.each([
    ['no Idempotency-Key', null, {}],
    ['a short Idempotency-Key', 'abc', {}],
    ['a bad email', newIdempotencyKey(), { customer: { ...customer, email: 'not-an-email' } }],
    ['an empty name', newIdempotencyKey(), { customer: { ...customer, name: '   ' } }],
    ['a control character in the address', newIdempotencyKey(), { customer: { ...customer, address: 'a\u0000b' } }],
    ['a price from the caller', newIdempotencyKey(), { totalCents: 1 }],
    ['an operator in the email', newIdempotencyKey(), { customer: { ...customer, email: { $ne: '' } } }],
  ])('answers 400 to %s and creates nothing', async (_name, key, override) => {
    const shopperId = await shopperWithCart();
    const res = await checkout(shopperId, key, { shopperId, customer, ...override });
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe('INVALID_INPUT');
    expect(await (await testStore()).listOrders(shopperId, 10)).toEqual([]);
  });
});
