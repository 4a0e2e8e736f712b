/**
 * Hostile input against every function, through the gateway: each case must answer 4xx with
 * a JSON error and leave every byte of the store as it was. The cases are generated from a
 * valid request per function by breaking one field at a time; the valid requests themselves
 * are sent afterwards and must be accepted, so a case cannot pass on a wrong token or a
 * target that does not exist. What there is to protect: a stocked product, a cart, and a real
 * confirmed order that every order-cancel case aims at.
 */
import { newIdempotencyKey, newShopperId } from './support/fixtures';
import { startTestShop, type TestShop } from './support/shop';

let t: TestShop;
beforeAll(async () => {
  t = await startTestShop();
});
afterAll(async () => {
  await t.stop();
});

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
interface Case {
  name: string;
  fn: string;
  method: 'GET' | 'POST';
  /** Query string (GET) or raw body (POST). */
  payload: string;
  headers?: Record<string, string>;
  contentType?: string;
}

/** The README's count: one case more or less is a change of the suite to say there. */
const CASES = 436;

const shopperId = newShopperId();
/** The shopper's confirmed order (placed in the test), and another shopper's. */
let orderId: string;
let othersOrderId: string;
/** An order id that nothing holds stock for yet: the internal calls' target. */
const freshOrderId = 'ord_AAAAAAAAAAAAAAAAAAAAAA';
const token = (name: string) => ({ authorization: `Bearer ${t.shop.secrets[name]}` });
const customer = { name: 'Eve', email: 'eve@example.com', address: '1 Attack Lane' };

/** Each function's valid request, in the order the controls send them (order-create needs the cart, order-cancel the order). */
const postFunctions = (): { fn: string; body: { [key: string]: Json }; headers?: () => Record<string, string> }[] => [
  { fn: 'cart-add', body: { shopperId, productId: 'espresso-tamper', quantity: 1 } },
  { fn: 'cart-update', body: { shopperId, productId: 'espresso-tamper', quantity: 2 } },
  { fn: 'order-create', body: { shopperId, customer }, headers: () => ({ 'idempotency-key': newIdempotencyKey() }) },
  { fn: 'cart-clear', body: { shopperId } },
  { fn: 'order-cancel', body: { orderId, shopperId } },
  { fn: 'inventory-reserve', body: { orderId: freshOrderId, items: [{ productId: 'espresso-tamper', quantity: 1 }] }, headers: () => token('shop-internal-token') },
  { fn: 'inventory-release', body: { orderId: freshOrderId }, headers: () => token('shop-internal-token') },
  { fn: 'inventory-restock', body: { productId: 'espresso-tamper', stock: 5 }, headers: () => token('shop-admin-token') },
  // Takes no body at all: anything sent is refused (an empty POST is its normal call).
  { fn: 'order-sweep', body: {} },
];

/** Values that no field of the shop accepts, whatever its type. */
function badValuesFor(path: string, value: Json): Json[] {
  const freeText = /(^|\.)(name|address)$/.test(path);
  const common: Json[] = [null, true, [], {}, { $gt: '' }, { $ne: null }, { $where: 'sleep(1000)' }, 'x'.repeat(5000)];
  if (typeof value === 'number') return [...common, -1, 1.5, 1e12, String(value), 'NaN'];
  if (typeof value === 'string') return [...common, 12345, 'a\u0000b', '', ...(freeText ? [] : ['../../etc/passwd'])];
  return common;
}

/** Every path to a leaf of the body, with the body rebuilt around a replaced or deleted leaf. */
function* mutations(body: Json, path: (string | number)[] = []): Generator<{ path: string; replace(v: Json | undefined): Json }> {
  if (body !== null && typeof body === 'object') {
    for (const [key, child] of Object.entries(body)) {
      const k = Array.isArray(body) ? Number(key) : key;
      for (const inner of mutations(child, [...path, k])) {
        yield {
          path: inner.path,
          replace(v) {
            const replaced = inner.replace(v);
            if (Array.isArray(body)) return body.map((item, i) => (i === k ? (replaced ?? null) : item));
            const { [key]: _dropped, ...rest } = body;
            return replaced === undefined ? rest : { ...rest, [key]: replaced };
          },
        };
      }
    }
  }
  if (path.length) yield { path: path.join('.'), replace: (v) => v as Json };
}

function cases(): Case[] {
  const all: Case[] = [];
  for (const { fn, body, headers } of postFunctions()) {
    const post = (name: string, payload: string, contentType = 'application/json') =>
      all.push({ name: `${fn}: ${name}`, fn, method: 'POST', payload, headers: headers?.(), contentType });
    for (const m of mutations(body)) {
      const leaf = m.path.split('.').reduce<Json>((node, key) => (node as Record<string, Json>)[key] as Json, body);
      if (leaf === null || typeof leaf !== 'object') post(`${m.path} missing`, JSON.stringify(m.replace(undefined)));
      for (const bad of badValuesFor(m.path, leaf)) post(`${m.path} = ${JSON.stringify(bad).slice(0, 40)}`, JSON.stringify(m.replace(bad)));
    }
    const json = JSON.stringify(body);
    post('__proto__ key', `${json.slice(0, -1)},"__proto__":{"isAdmin":true}}`);
    post('constructor.prototype key', `${json.slice(0, -1)},"constructor":{"prototype":{"isAdmin":true}}}`);
    post('an extra key', `${json.slice(0, -1)},"priceCents":1}`);
    post('malformed JSON', json.slice(0, Math.max(1, json.length - 3)));
    post('a JSON array', `[${json}]`);
    post('a JSON string', JSON.stringify(json));
    if (fn !== 'order-sweep') post('an empty body', '');
    post('no content type', json, '');
    post('text/plain', json, 'text/plain');
    post('urlencoded', 'shopperId[$gt]=&quantity=1', 'application/x-www-form-urlencoded');
    post('a 200 kB body', `${json.slice(0, -1)},"pad":"${'x'.repeat(200_000)}"}`);
    post('a 2 MB body', `${json.slice(0, -1)},"pad":"${'x'.repeat(2_000_000)}"}`);
    post('a huge array', JSON.stringify({ ...body, items: Array.from({ length: 5000 }, () => ({ productId: 'espresso-tamper', quantity: 1 })) }));
  }
  const get = (fn: string, query: string) => all.push({ name: `${fn}: ?${query.slice(0, 60)}`, fn, method: 'GET', payload: query });
  for (const q of ['limit=0', 'limit=-5', 'limit=1.5', 'limit=1e3', 'limit=abc', 'limit=1&limit=2', 'cursor=%7B%7D', 'cursor=../x', `q=${'x'.repeat(200)}`, 'q=%00', 'q[$regex]=.*', 'sort=price']) get('inventory-list', q);
  for (const q of ['', 'id=', 'id=..%2F..%2Fetc', 'id[$ne]=x', 'id=A', 'id=a&id=b', `id=${'a'.repeat(100)}`, 'id=%00x', 'id=no-such-product']) get('inventory-get', q);
  for (const fn of ['cart-get', 'order-list']) for (const q of ['', 'shopperId=short', 'shopperId[$gt]=', `shopperId=${'a'.repeat(65)}`, 'shopperId=demo_user', `shopperId=${shopperId}&shopperId=${shopperId}`, `shopperId=${'a'.repeat(21)}%0A`]) get(fn, q);
  // The last: another shopper's real order, asked for with this shopper's id.
  for (const q of [`id=${orderId}`, `shopperId=${shopperId}`, `id[$ne]=&shopperId=${shopperId}`, `id=ord_x&shopperId=${shopperId}`, `id=${othersOrderId}&shopperId=${shopperId}`]) get('order-get', q);
  get('order-list', `shopperId=${shopperId}&limit=1000`);
  for (const q of ['', 'limit=0', 'limit=abc', 'limit=1000', 'limit[$gt]=1', 'shopperId=x']) {
    all.push({ name: `order-recent (admin): ?${q}`, fn: 'order-recent', method: 'GET', payload: q, headers: q ? token('shop-admin-token') : {} });
  }
  // Not listed: ?__proto__[x]=1 and ?constructor[...]: the template's query parser (qs) drops
  // them before any handler runs, so they arrive as an ordinary, valid request.
  return all;
}

/** Each GET function's valid query (order-recent with the admin token). */
const validGets = (): { fn: string; query: string; headers?: Record<string, string> }[] => [
  { fn: 'inventory-list', query: 'limit=5' },
  { fn: 'inventory-get', query: 'id=espresso-tamper' },
  { fn: 'cart-get', query: `shopperId=${shopperId}` },
  { fn: 'order-list', query: `shopperId=${shopperId}` },
  { fn: 'order-get', query: `id=${orderId}&shopperId=${shopperId}` },
  { fn: 'order-recent', query: 'limit=5', headers: token('shop-admin-token') },
];

async function placeOrder(shopper: string): Promise<string> {
  const added = await t.call('cart-add', { body: { shopperId: shopper, productId: 'espresso-tamper', quantity: 1 } });
  const placed = await t.call('order-create', { body: { shopperId: shopper, customer }, headers: { 'idempotency-key': newIdempotencyKey() } });
  expect([added.status, placed.status, placed.json.status]).toEqual([200, 201, 'confirmed']);
  return placed.json.id;
}

describe('hostile input', () => {
  it('answers every case with a 4xx JSON error and changes nothing; the valid requests are accepted', async () => {
    // Something to protect: a stocked product, a confirmed order of this shopper and one of
    // another's, and a cart.
    const restocked = await t.call('inventory-restock', { headers: token('shop-admin-token'), body: { productId: 'espresso-tamper', stock: 50 } });
    expect(restocked.status).toBe(200);
    orderId = await placeOrder(shopperId);
    othersOrderId = await placeOrder(newShopperId());
    expect((await t.call('cart-add', { body: { shopperId, productId: 'espresso-tamper', quantity: 1 } })).status).toBe(200);
    const before = t.snapshot();
    const list = cases();
    const failures: string[] = [];
    for (const c of list) {
      const url = `${t.shop.url}/function/${c.fn}${c.method === 'GET' ? `?${c.payload}` : ''}`;
      const res = await fetch(url, {
        method: c.method,
        headers: { ...(c.contentType ? { 'content-type': c.contentType } : {}), ...c.headers },
        body: c.method === 'POST' ? c.payload : undefined,
      });
      const text = await res.text();
      let code: unknown;
      try {
        code = JSON.parse(text).error.code;
      } catch {
        code = undefined;
      }
      // Over the template's own MAX_RAW_SIZE (1mb) the template answers 413 before any of our code runs.
      const templateLimit = res.status === 413 && c.payload.length > 1_000_000;
      if (res.status < 400 || res.status >= 500 || (typeof code !== 'string' && !templateLimit)) failures.push(`${c.name} -> ${res.status} ${text.slice(0, 80)}`);
    }
    expect(failures).toEqual([]);
    expect(list.length).toBe(CASES);
    expect(t.snapshot()).toBe(before);

    // The controls: each valid request, with the same tokens and targets, is accepted.
    const controls: string[] = [];
    for (const { fn, query, headers } of validGets()) controls.push(`${fn} ${(await t.call(fn, { query: Object.fromEntries(new URLSearchParams(query)), headers: headers ?? {} })).status}`);
    for (const { fn, body, headers } of postFunctions()) {
      // order-sweep's valid call is an empty POST.
      const res = await t.call(fn, { method: 'POST', ...(Object.keys(body).length ? { body } : {}), headers: headers?.() ?? {} });
      controls.push(`${fn} ${res.status}${fn === 'order-cancel' ? ` ${res.json.status}` : ''}`);
    }
    expect(controls).toEqual([
      ...validGets().map(({ fn }) => `${fn} 200`),
      ...postFunctions().map(({ fn }) => `${fn} ${fn === 'order-create' ? '201' : '200'}${fn === 'order-cancel' ? ' cancelled' : ''}`),
    ]);
    console.log(`hostile input: ${list.length} cases, all 4xx, store unchanged; ${controls.length} valid requests accepted`);
  });
});
