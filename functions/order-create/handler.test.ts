/**
 * order-create with nock standing in for the gateway: the inventory functions are another
 * function's business, reached over HTTP, so their answers (good, bad, slow, malformed) are
 * scripted here. The store is the real embedded one.
 */
import handler = require('./handler');
import { orderIdFor } from '../../core/checkout';
import type { Interceptor } from 'nock';
import { useNock } from '../../test/support/nock';
import { TOKENS, newIdempotencyKey, newShopperId, product, testStore, useFunction } from '../../test/support/fixtures';

const GATEWAY = 'http://gateway.test:8080';
const fn = useFunction(handler, { gateway: GATEWAY });
const nock = useNock();
const customer = { name: 'Ada Lovelace', email: 'ada@example.com', address: '12 Analytical Row, London' };

beforeAll(async () => {
  await (await testStore()).putProduct(product({ priceCents: 1250 }));
});

async function shopperWithCart(quantity = 2) {
  const shopperId = newShopperId();
  await (await testStore()).replaceCart(shopperId, [{ productId: 'test-mug', quantity }], 0, new Date().toISOString());
  return shopperId;
}

const checkout = (shopperId: string, key: string | null = newIdempotencyKey(), body: object = { shopperId, customer }) =>
  fn.call({ body, headers: key ? { 'idempotency-key': key, 'x-call-id': 'call-123' } : {} });

const reservedAt = (orderId: string, priceCents: number, quantity = 2) => ({
  orderId,
  items: [{ productId: 'test-mug', name: 'Test Mug', priceCents, quantity }],
});

/** An async answer, in nock's error-first reply form. */
const answer =
  (body: () => Promise<object>) =>
  (_uri: string, _requestBody: unknown, done: (error: NodeJS.ErrnoException | null, body: object) => void): void => {
    body().then(
      (value) => done(null, value),
      (error: NodeJS.ErrnoException) => done(error, {}),
    );
  };

/** What inventory-reserve records in the store (order-create then claims it for the sale). */
async function recordHeld(orderId: string, priceCents: number, quantity = 2): Promise<void> {
  const store = await testStore();
  const at = new Date().toISOString();
  await store.openReservation(orderId, [{ productId: 'test-mug', quantity }], at);
  await store.updateReservation(orderId, ['holding'], { status: 'held', items: reservedAt(orderId, priceCents, quantity).items, holdTokens: { 'test-mug': 'nock' }, updatedAt: at });
}

/** inventory-reserve's answer, with the reservation it records. */
const reserved = (orderId: string, priceCents: number, quantity = 2) =>
  answer(async () => {
    await recordHeld(orderId, priceCents, quantity);
    return reservedAt(orderId, priceCents, quantity);
  });

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
    expect(res.json).toMatchObject({ id: orderId, status: 'confirmed', shopperId, customer, totalCents: 1998, items: reservedAt(orderId, 999).items });
    scope.done();
    expect((await (await testStore()).getCart(shopperId)).lines).toEqual([]);
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
    ['keeps answering 503', (s: Interceptor) => s.times(3).reply(503, 'busy')],
    ['times out', (s: Interceptor) => s.times(3).delay(1_000).reply(200, {})],
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

  it('leaves the order pending when not even the release gets through, and a replay completes it', async () => {
    const shopperId = await shopperWithCart();
    const key = newIdempotencyKey();
    const orderId = orderIdFor(shopperId, key);
    nock(GATEWAY).post('/function/inventory-reserve').times(3).reply(503, 'down');
    nock(GATEWAY).post('/function/inventory-release').times(3).reply(503, 'down');
    expect((await checkout(shopperId, key)).status).toBe(503);
    expect((await (await testStore()).getOrder(orderId))?.status).toBe('pending');

    nock(GATEWAY).post('/function/inventory-reserve').reply(200, reserved(orderId, 1250));
    const replay = await checkout(shopperId, key);
    expect(replay.status).toBe(201);
    expect(replay.json.status).toBe('confirmed');
  });

  it('carries on with the sale when its compensation finds a duplicate attempt already claimed it', async () => {
    const shopperId = await shopperWithCart();
    const key = newIdempotencyKey();
    const orderId = orderIdFor(shopperId, key);
    // This attempt never hears back from the inventory, while a duplicate got the stock and claimed it for the sale.
    nock(GATEWAY).post('/function/inventory-reserve').times(3).reply(504, 'timeout');
    const release = nock(GATEWAY)
      .post('/function/inventory-release', { orderId })
      .reply(
        409,
        answer(async () => {
          await recordHeld(orderId, 1250);
          await (await testStore()).updateReservation(orderId, ['held'], { status: 'selling' });
          return { error: { code: 'RESERVATION_SOLD', message: 'sold' } };
        }),
      );
    const res = await checkout(shopperId, key);
    expect(res.status).toBe(201);
    expect(res.json).toMatchObject({ status: 'confirmed', totalCents: 2500 });
    release.done();
    expect((await (await testStore()).getReservation(orderId))?.status).toBe('sold');
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
