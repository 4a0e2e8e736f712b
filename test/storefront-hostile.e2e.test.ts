/**
 * Hostile input against every storefront form, through the real storefront and backend:
 * each case answers a 4xx HTML page and leaves every byte of the store as it was. Includes
 * POSTs without a CSRF token, with another session's (stale) token, and another shopper's
 * order. Afterwards each form's valid submission, with the same session and token, must be
 * accepted (and my own order cancelled), so no case passes on a token that was never valid.
 */
import { randomUUID } from 'node:crypto';
import { openStore } from '../core/store/open';
import { report } from './support/invariant';
import { startTestStorefront, type TestStorefront } from './support/storefront';

let s: TestStorefront;
beforeAll(async () => {
  s = await startTestStorefront();
});
afterAll(() => s.stop());

async function session() {
  const res = await fetch(`${s.url}/products/gooseneck-kettle`);
  const cookie = res.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await res.text())?.[1] as string;
  return { cookie, csrf };
}

interface FormCase {
  name: string;
  path: string;
  body: string;
  contentType?: string;
  cookie?: string;
}

/** The README's count: one case more or less is a change of the suite to say there. */
const CASES = 144;

const BAD_VALUES = ['', ' ', '-1', '0', '1.5', '1e3', '100', 'abc', '../../etc/passwd', 'UPPER', '<script>alert(1)</script>', '{"$gt":""}', 'x\u0000y', 'a'.repeat(3000)];

describe('storefront forms', () => {
  it('answer every hostile submission with a 4xx page and change nothing', async () => {
    const mine = await session();
    const theirs = await session();
    // Another shopper's confirmed order, for the cancel form.
    const other = await s.t.call('cart-add', { body: { shopperId: 'S'.repeat(22), productId: 'gooseneck-kettle', quantity: 1 } });
    expect(other.status).toBe(200);
    const otherOrder = await s.t.call('order-create', {
      body: { shopperId: 'S'.repeat(22), customer: { name: 'Other', email: 'o@example.com', address: 'Elsewhere' } },
      headers: { 'idempotency-key': randomUUID() },
    });
    expect(otherOrder.status).toBe(201);
    // Something in my cart, so that the checkout form is judged on its fields.
    const added = await fetch(`${s.url}/cart/add`, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: mine.cookie },
      body: new URLSearchParams({ _csrf: mine.csrf, productId: 'gooseneck-kettle', quantity: '1' }).toString(),
    });
    expect(added.status).toBe(303);
    const before = s.t.snapshot();

    const forms: Record<string, Record<string, string>> = {
      '/cart/add': { productId: 'gooseneck-kettle', quantity: '1' },
      '/cart/update': { productId: 'gooseneck-kettle', quantity: '3' },
      '/checkout': { name: 'Ada', email: 'ada@example.com', address: '1 Loop Road', idempotencyKey: randomUUID() },
      [`/orders/${otherOrder.json.id}/cancel`]: {},
    };
    const cases: FormCase[] = [];
    const encode = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
    for (const [path, fields] of Object.entries(forms)) {
      const valid: Record<string, string> = { _csrf: mine.csrf, ...fields };
      for (const field of Object.keys(fields)) {
        for (const bad of BAD_VALUES) {
          if (path === '/cart/update' && field === 'quantity' && bad === '0') continue; // 0 removes the line: valid
          // Free text may be anything printable: only values it must refuse are used there.
          if (['name', 'address'].includes(field) && !(bad.trim() === '' || bad.includes('\u0000') || bad.length > 500)) continue;
          cases.push({ name: `${path} ${field}=${JSON.stringify(bad).slice(0, 30)}`, path, body: encode({ ...valid, [field]: bad }) });
        }
        const { [field]: _missing, ...without } = valid;
        cases.push({ name: `${path} without ${field}`, path, body: encode(without) });
        cases.push({ name: `${path} ${field} twice`, path, body: `${encode(valid)}&${encode({ [field]: valid[field] as string })}` });
      }
      cases.push({ name: `${path} with a price`, path, body: encode({ ...valid, priceCents: '1' }) });
      cases.push({ name: `${path} with a shopper id`, path, body: encode({ ...valid, shopperId: 'S'.repeat(22) }) });
      cases.push({ name: `${path} with __proto__`, path, body: `${encode(valid)}&__proto__[admin]=1` });
      cases.push({ name: `${path} without CSRF token`, path, body: encode(fields) });
      cases.push({ name: `${path} with another session's token`, path, body: encode({ ...fields, _csrf: theirs.csrf }) });
      cases.push({ name: `${path} with a forged token`, path, body: encode({ ...fields, _csrf: 'x'.repeat(43) }) });
      cases.push({ name: `${path} as JSON`, path, body: JSON.stringify(valid), contentType: 'application/json' });
      cases.push({ name: `${path} 100 kB`, path, body: encode({ ...valid, pad: 'x'.repeat(100_000) }) });
      cases.push({ name: `${path} with no session`, path, body: encode(valid), cookie: '' });
    }
    cases.push({ name: 'cancel of a malformed order id', path: '/orders/..%2F..%2Fx/cancel', body: encode({ _csrf: mine.csrf }) });

    const failures: string[] = [];
    for (const c of cases) {
      const res = await fetch(`${s.url}${c.path}`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': c.contentType ?? 'application/x-www-form-urlencoded', cookie: c.cookie ?? mine.cookie },
        body: c.body,
      });
      const html = await res.text();
      if (res.status < 400 || res.status >= 500 || !/^text\/html/.test(res.headers.get('content-type') ?? '') || !html.includes('<h1>')) {
        failures.push(`${c.name} -> ${res.status}`);
      }
    }
    expect(failures).toEqual([]);
    expect(cases.length).toBe(CASES);
    expect(s.t.snapshot()).toBe(before);

    // The controls: the valid forms, same session and token, are accepted; the checkout places my
    // order and my own order's cancel form cancels it.
    const submit = (path: string, fields: Record<string, string>) =>
      fetch(`${s.url}${path}`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: mine.cookie }, body: encode({ _csrf: mine.csrf, ...fields }) });
    // A refused cart form also redirects (with a flash), so each is judged by the cart it leaves.
    const kettlesInCart = async () => {
      const html = await (await fetch(`${s.url}/cart`, { headers: { cookie: mine.cookie } })).text();
      return Number(/id="qty-gooseneck-kettle"[^>]*value="(\d+)"/.exec(html)?.[1] ?? 0);
    };
    const controls: string[] = [];
    let myOrder = '';
    for (const [path, fields] of Object.entries(forms).filter(([path]) => !path.startsWith('/orders/'))) {
      const res = await submit(path, fields);
      const location = res.headers.get('location') ?? '';
      if (path === '/checkout') myOrder = location.replace('/orders/', '');
      controls.push(`${path} ${res.status} ${location.replace(myOrder || '-', 'ORDER')} cart ${await kettlesInCart()}`);
    }
    const cancelled = await submit(`/orders/${myOrder}/cancel`, {});
    controls.push(`cancel ${cancelled.status} ${cancelled.headers.get('location')}`);
    expect(controls).toEqual(['/cart/add 303 / cart 2', '/cart/update 303 /cart cart 3', '/checkout 303 /orders/ORDER cart 0', 'cancel 303 /orders']);
    const store = await openStore();
    const placed = await store.getOrder(myOrder);
    expect([placed?.status, placed?.requested, (await store.getOrder(otherOrder.json.id))?.status]).toEqual(['cancelled', [{ productId: 'gooseneck-kettle', quantity: 3 }], 'confirmed']);
    report('storefront hostile input', { cases: cases.length, all4xx: 'yes', storeUnchanged: 'yes', validFormsAccepted: controls.length });
  });
});
