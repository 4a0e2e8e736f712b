/**
 * The storefront in a real browser (Debian's Chromium) against the real stack: the
 * storefront, the local gateway, the functions and the embedded store. Screenshots of the
 * main pages go to test-results/screenshots/ (SCREENSHOT_DIR=docs/screenshots refreshes the
 * README's). Every page is also checked at a phone's size and a desktop's: nothing wider than
 * the screen, every control within reach and tall enough for a thumb, and axe-core's scan.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContextOptions, Page, Route } from 'playwright-core';
import { ROOT } from '../runtime/build';
import { count, includes, launchBrowser, settles, text, texts } from './support/browser';
import { faultRecorder } from './support/faults';
import { parseMetrics } from './support/metrics';
import { startTestStorefront, type TestStorefront } from './support/storefront';

// A test's own bound: several waits of up to WAIT_LIMIT_MS each on a loaded machine.
jest.setTimeout(240_000);

let browser: Browser;
let s: TestStorefront;
const shots = process.env.SCREENSHOT_DIR ? join(ROOT, process.env.SCREENSHOT_DIR) : join(ROOT, 'test-results', 'screenshots');
const admin = () => ({ authorization: `Bearer ${s.t.shop.secrets['shop-admin-token']}` });
const restock = (body: object) => s.t.call('inventory-restock', { headers: admin(), body });

beforeAll(async () => {
  // No catalog cache: a page shows the stock as it is now, with no wait for an entry to expire
  // (the cache's expiry is tested with a clock in frontend/app.test.ts).
  // Faults on: the gateway refuses a call when a test asks it to (429, as when every replica is busy).
  [browser, s] = await Promise.all([launchBrowser(), startTestStorefront({ catalogCacheMs: 0 }, { faults: true })]);
});
afterAll(async () => {
  await browser?.close();
  await s?.stop();
});

/** Every dialog any page opened: a script ran that should not have. */
const dialogs: string[] = [];
afterEach(() => expect(dialogs).toEqual([]));

async function newShopper(): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await context.newPage();
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    void dialog.dismiss();
  });
  return page;
}

/** order-create's answers so far, by status, from the gateway's metrics. */
async function orderCreateCalls(): Promise<Record<string, number>> {
  const samples = parseMetrics(await (await fetch(`${s.t.shop.url}/metrics`)).text());
  return Object.fromEntries(samples.filter((m) => m.name === 'gateway_function_invocation_total' && m.labels.function_name === 'order-create.openfaas-fn').map((m) => [m.labels.code, m.value]));
}

const cartCount = async (page: Page) => Number(await page.locator('.cart-link .count').textContent());

describe('shopping in a browser', () => {
  it('browses, searches, fills a cart, checks out, finds the order and cancels it', async () => {
    const page = await newShopper();
    await page.goto(s.url);
    await settles(count(page.locator('.card')), 12);
    await page.screenshot({ path: join(shots, 'catalog.png'), fullPage: true });

    await page.fill('#q', 'kettle');
    await page.click('.search button');
    await settles(texts(page.locator('.card h2')), ['Gooseneck Kettle']);
    await page.click('.card a');
    await settles(text(page.locator('h1')), 'Gooseneck Kettle');
    await page.fill('#quantity', '2');
    await page.click('.add button');
    await settles(includes(page.locator('.flash-success'), 'Added 2 × Gooseneck Kettle'), true);
    expect(await cartCount(page)).toBe(2);
    await page.screenshot({ path: join(shots, 'product.png') });

    await page.goto(`${s.url}/products/milk-frother`);
    await page.click('.add button');
    await page.click('.cart-link');
    await settles(count(page.locator('.lines tbody tr')), 2);
    await page.fill('#qty-gooseneck-kettle', '1');
    await page.locator('tr', { hasText: 'Gooseneck Kettle' }).getByRole('button', { name: 'Update' }).click();
    await settles(text(page.locator('.flash-success')), 'Cart updated.');
    await settles(text(page.locator('tfoot .total')), '€57.00');
    await page.screenshot({ path: join(shots, 'cart.png') });
    await page.locator('tr', { hasText: 'Handheld Milk Frother' }).getByRole('button', { name: /Remove/ }).click();
    await settles(count(page.locator('.lines tbody tr')), 1);

    await page.click('text=Checkout');
    await page.fill('#name', 'Ada Lovelace');
    await page.fill('#email', 'not-an-email');
    await page.click('button.primary');
    await settles(text(page.locator('#email-error')), 'Enter a valid email address.');
    await settles(text(page.locator('#address-error')), 'Enter the delivery address.');
    expect(await page.locator('#name').inputValue()).toBe('Ada Lovelace');
    await page.screenshot({ path: join(shots, 'checkout-errors.png') });
    await page.fill('#email', 'ada@example.com');
    await page.fill('#address', '12 Analytical Row, London');
    await page.click('button.primary');

    await settles(includes(page.locator('.flash-success'), 'Your order ord_'), true);
    const orderId = (await page.locator('.order-id').textContent()) as string;
    await settles(text(page.locator('.status')), 'confirmed');
    await settles(text(page.locator('tfoot .total')), '€42.00');
    expect(await cartCount(page)).toBe(0);
    await page.screenshot({ path: join(shots, 'confirmation.png') });

    await page.click('text=My orders');
    const row = page.locator('tr', { hasText: orderId });
    await settles(text(row.locator('.status')), 'confirmed');
    await page.screenshot({ path: join(shots, 'orders.png') });
    const stockBefore = (await s.t.call('inventory-get', { query: { id: 'gooseneck-kettle' } })).json.stock;
    await row.getByRole('button', { name: /Cancel/ }).click();
    await settles(text(page.locator('.flash-success')), `Order ${orderId} is cancelled.`);
    await settles(text(page.locator('tr', { hasText: orderId }).locator('.status')), 'cancelled');
    expect((await s.t.call('inventory-get', { query: { id: 'gooseneck-kettle' } })).json.stock).toBe(stockBefore + 1);
  });

  it('gives two shoppers two carts', async () => {
    const [alice, bob] = await Promise.all([newShopper(), newShopper()]);
    await alice.goto(`${s.url}/products/digital-coffee-scale`);
    await alice.click('.add button');
    await bob.goto(`${s.url}/cart`);
    await settles(includes(bob.locator('main'), 'Your cart is empty'), true);
    expect(await cartCount(alice)).toBe(1);
    expect(await cartCount(bob)).toBe(0);
  });

  it('shows a sold-out product as sold out and refuses to add it', async () => {
    expect((await restock({ productId: 'espresso-tamper', stock: 0 })).status).toBe(200);
    const page = await newShopper();
    await page.goto(s.url);
    const card = page.locator('.card', { hasText: 'Espresso Tamper' });
    await settles(text(card.locator('.badge')), 'Sold out');
    await settles(count(card.getByRole('button')), 0);
    // A forged form post is refused by the backend, and the shopper is told which item.
    const csrf = await page.locator('input[name=_csrf]').first().inputValue();
    const refused = await page.request.post(`${s.url}/cart/add`, { form: { _csrf: csrf, productId: 'espresso-tamper', quantity: '1' }, maxRedirects: 0 });
    expect(refused.status()).toBe(303);
    await page.goto(`${s.url}/cart`);
    await settles(text(page.locator('.flash-error')), 'Sorry, Espresso Tamper is sold out.');
    await settles(includes(page.locator('main'), 'Your cart is empty'), true);
  });

  it('turns a "Place order" form sent twice at once (a double click) into one order', async () => {
    const page = await newShopper();
    await page.goto(`${s.url}/products/cold-brew-jar`);
    await page.click('.add button');
    await page.goto(`${s.url}/checkout`);
    await page.fill('#name', 'Double Clicker');
    await page.fill('#email', 'dc@example.com');
    await page.fill('#address', '2 Click Street');
    // A double click sends the form twice. Chromium's dblclick sends the second submission only if
    // the first is still pending, which depends on timing; so the page itself sends the form once
    // (its own data, cookies and key, by fetch) and the click sends it again. Both are held until
    // the second arrives, then sent to the storefront at once.
    const held: Route[] = [];
    const bothSent = new Promise<void>((resolve) => {
      void page.route('**/checkout', async (route) => {
        if (route.request().method() !== 'POST') return route.continue();
        held.push(route);
        if (held.length < 2) return;
        resolve();
        const answers = await Promise.all(held.map((r) => r.fetch({ maxRedirects: 0 })));
        // The fetch's page may be gone by then: the click navigated away.
        for (const [i, r] of held.entries()) await r.fulfill({ response: answers[i] }).catch(() => {});
      });
    });
    const ordersBefore = await orderCreateCalls();
    await page.evaluate(`(() => {
      const form = document.querySelector('button.primary').closest('form');
      void fetch(form.action, { method: 'POST', body: new URLSearchParams(new FormData(form)), redirect: 'manual' });
    })()`);
    await settles(async () => held.length, 1);
    await page.locator('button.primary').click();
    await bothSent;
    await page.locator('.order-id').waitFor();
    // Two order-create calls answered 201 (on a loaded machine the storefront may also have sent
    // attempts it gave up on: counted under 499, not here).
    expect(((await orderCreateCalls())[201] ?? 0) - (ordersBefore[201] ?? 0)).toBe(2);
    await page.goto(`${s.url}/orders`);
    await settles(count(page.locator('.lines tbody tr')), 1);
  });

  it('says the shop is unavailable while the gateway is down, and recovers by itself', async () => {
    const page = await newShopper();
    await page.goto(s.url);
    await s.t.down();
    try {
      const response = await page.goto(`${s.url}/cart`);
      expect(response?.status()).toBe(503);
      await settles(text(page.locator('h1')), 'We’ll be right back');
      await page.screenshot({ path: join(shots, 'unavailable.png') });
    } finally {
      await s.t.up();
    }
    const back = await page.goto(`${s.url}/cart`);
    expect(back?.status()).toBe(200);
    await settles(text(page.locator('h1')), 'Your cart');
  });

  it('shows hostile product text as text and runs no script', async () => {
    await restock({
      product: {
        id: 'xss-test',
        name: '<script>alert(1)</script>',
        description: '<img src=x onerror=alert(2)> "quoted" & more',
        priceCents: 100,
        stock: 5,
        image: '/images/xss-test.svg',
      },
    });
    const page = await newShopper();
    await page.goto(`${s.url}/?q=script`);
    await settles(text(page.locator('.card h2')), '<script>alert(1)</script>');
    await page.click('.card a');
    await settles(text(page.locator('.description')), '<img src=x onerror=alert(2)> "quoted" & more');
    await page.goto(`${s.url}/?q=${encodeURIComponent('"><script>alert(3)</script>')}`);
    await settles(includes(page.locator('h1'), '<script>alert(3)</script>'), true);
    expect(await page.locator('main script, main img[src="x"]').count()).toBe(0);
  });

  it('shows hostile customer details as text on the confirmation', async () => {
    const page = await newShopper();
    await page.goto(`${s.url}/products/paper-filters-100`);
    await page.click('.add button');
    await page.goto(`${s.url}/checkout`);
    await page.fill('#name', '<script>alert("name")</script>');
    await page.fill('#email', 'xss@example.com');
    await page.fill('#address', '<img src=x onerror=alert("address")>');
    await page.click('button.primary');
    await page.locator('.order-id').waitFor();
    await settles(text(page.locator('.address')), '<script>alert("name")</script><img src=x onerror=alert("address")>xss@example.com');
    expect(await page.locator('main script, main img[src="x"]').count()).toBe(0);
  });

  it('gives the operator stock levels, replicas, calls per function, recent orders, restock and scale forms, behind the admin token', async () => {
    const denied = await (await browser.newContext({ httpCredentials: { username: 'admin', password: 'not-the-token' } })).newPage();
    expect((await denied.goto(`${s.url}/admin`))?.status()).toBe(401);

    const context = await browser.newContext({ viewport: { width: 1200, height: 900 }, httpCredentials: { username: 'admin', password: s.t.shop.secrets['shop-admin-token'] as string } });
    const page = await context.newPage();
    expect((await page.goto(`${s.url}/admin`))?.status()).toBe(200);
    await settles(count(page.locator('svg.chart rect')), (await s.t.call('inventory-list', { query: { limit: '100' } })).json.items.length);
    await settles(includes(page.locator('#calls-title + table'), 'inventory-list'), true);
    await settles(includes(page.locator('#orders-title + table'), 'ord_'), true);
    await page.selectOption('#restock-product', 'milk-frother');
    await page.fill('#restock-stock', '77');
    await page.click('text=Set stock');
    await settles(text(page.locator('.flash-success')), 'Handheld Milk Frother: stock set to 77.');
    await settles(text(page.locator('svg.chart rect', { hasText: 'Handheld Milk Frother' }).locator('title')), 'Handheld Milk Frother: 77');
    expect((await s.t.call('inventory-get', { query: { id: 'milk-frother' } })).json.stock).toBe(77);

    // Each function's replicas, and scaling one through the gateway.
    const row = page.locator('table.replicas tr', { hasText: 'cart-get' });
    await settles(text(row.locator('.desired')), '1');
    await row.locator('input[name=replicas]').fill('2');
    await row.getByRole('button', { name: 'Scale' }).click();
    await settles(text(page.locator('.flash-success')), 'cart-get: scaling to 2 replicas (held to its bounds).');
    await settles(
      async () => {
        await page.reload();
        return text(page.locator('table.replicas tr', { hasText: 'cart-get' }).locator('.available'))();
      },
      '2',
    );
    await page.screenshot({ path: join(shots, 'operator.png'), fullPage: true });
  });
});

/** The phone pictures the README shows. */
const PHONE_SHOTS = ['product', 'cart', 'checkout-errors', 'confirmation', 'orders', 'busy', 'checkout-busy'];

/** axe-core, evaluated in the page through the DevTools protocol: the page keeps its CSP. */
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

interface PageCheck {
  documentWidth: number;
  /** Visible controls narrower than the screen allows, or shorter than 44 px. */
  outOfReach: string[];
  tooSmall: string[];
  /** axe-core's findings of serious or critical impact. */
  serious: string[];
}

async function checkPage(page: Page, viewportWidth: number): Promise<PageCheck> {
  await page.waitForLoadState('load');
  // The skip link waits off screen until it is focused; visually hidden labels are 1 px.
  const controls = await page.locator('a:not(.skip), button, input:not([type=hidden]), select, textarea').evaluateAll((elements) =>
    elements
      .map((e) => ({ r: e.getBoundingClientRect(), what: `${e.tagName.toLowerCase()} "${(e.textContent ?? '').trim().slice(0, 30) || e.getAttribute('name')}"` }))
      .filter(({ r }) => r.width > 1 && r.height > 1)
      .map(({ r, what }) => ({ left: r.left, right: r.right, height: r.height, what: `${what} ${Math.round(r.left)}-${Math.round(r.right)}x${Math.round(r.height)}` })),
  );
  const layout = {
    documentWidth: (await page.evaluate('document.documentElement.scrollWidth')) as number,
    outOfReach: controls.filter((c) => c.left < 0 || c.right > viewportWidth).map((c) => c.what),
    tooSmall: controls.filter((c) => c.height < 44).map((c) => c.what),
  };
  await page.evaluate(AXE_SOURCE);
  const { violations } = (await page.evaluate('axe.run()')) as { violations: { id: string; impact: string; nodes: unknown[] }[] };
  const serious = violations.filter((v) => v.impact === 'serious' || v.impact === 'critical').map((v) => `${v.impact} ${v.id} (${v.nodes.length})`);
  return { ...layout, serious };
}

describe.each([
  { device: 'phone', viewport: { width: 360, height: 780 }, isMobile: true, hasTouch: true },
  { device: 'desktop', viewport: { width: 1280, height: 900 }, isMobile: false, hasTouch: false },
])('every page on a $device ($viewport.width px)', ({ device, ...screen }) => {
  let page: Page;
  const expectFits = async (name: string) => {
    const check = await checkPage(page, screen.viewport.width);
    expect({ page: name, ...check }).toEqual({ page: name, documentWidth: screen.viewport.width, outOfReach: [], tooSmall: [], serious: [] });
    if (device === 'phone' && PHONE_SHOTS.includes(name)) await page.screenshot({ path: join(shots, `phone-${name}.png`) });
  };
  const addToCart = async (id: string) => {
    await page.goto(`${s.url}/products/${id}`);
    await page.click('.add button');
    await page.locator('.flash-success').waitFor();
  };
  const checkout = async (fields: { name: string; email?: string; address?: string }) => {
    await page.goto(`${s.url}/checkout`);
    await page.fill('#name', fields.name);
    await page.fill('#email', fields.email ?? '');
    await page.fill('#address', fields.address ?? '');
    await page.click('button.primary');
  };

  beforeAll(async () => {
    page = await (await browser.newContext(screen as BrowserContextOptions)).newPage();
  });
  afterAll(() => page.context().close());

  it('the catalog, search results and a product', async () => {
    await page.goto(s.url);
    // The tiles' pictures are decorative: the link's heading names the product.
    const alts = await page.locator('.card img').evaluateAll((imgs) => imgs.map((i) => i.getAttribute('alt')));
    expect([alts.length >= 12, new Set(alts)]).toEqual([true, new Set([''])]);
    await expectFits('catalog');
    await page.goto(`${s.url}/?q=kettle`);
    await expectFits('search');
    await page.goto(`${s.url}/products/gooseneck-kettle`);
    await expectFits('product');
  });

  it('a cart with several lines, a checkout with field errors, the confirmation and the order history', async () => {
    for (const id of ['gooseneck-kettle', 'paper-filters-100']) await addToCart(id);
    await checkout({ name: 'Ada Lovelace', email: 'ada@example.com', address: '12 Analytical Row, London' });
    await page.locator('.order-id').waitFor();
    for (const id of ['gooseneck-kettle', 'paper-filters-100', 'milk-frother']) await addToCart(id);
    await page.goto(`${s.url}/cart`);
    expect(await page.locator('.lines tbody tr').count()).toBe(3);
    await expectFits('cart');
    await checkout({ name: 'Ada Lovelace', email: 'not-an-email' });
    await page.locator('#address-error').waitFor();
    await expectFits('checkout-errors');
    await page.fill('#email', 'ada@example.com');
    await page.fill('#address', '12 Analytical Row, London');
    await page.click('button.primary');
    await page.locator('.order-id').waitFor();
    await expectFits('confirmation');
    await page.goto(`${s.url}/orders`);
    expect(await page.locator('.lines tbody tr').count()).toBe(2);
    await expectFits('orders');
  });

  it('the 404 and 503 pages', async () => {
    expect((await page.goto(`${s.url}/nowhere`))?.status()).toBe(404);
    await expectFits('not-found');
    await s.t.down();
    try {
      expect((await page.goto(`${s.url}/cart`))?.status()).toBe(503);
      await expectFits('unavailable');
    } finally {
      await s.t.up();
    }
  });

  it('the busy page, and a checkout refused, then placed once', async () => {
    const faults = faultRecorder(s.t);
    await addToCart('cold-brew-jar');
    const units = await cartCount(page);
    try {
      await faults.set({ functions: { 'cart-get': { status: 429, times: 1 } } });
      const busy = await page.goto(`${s.url}/cart`);
      expect([busy?.status(), await busy?.headerValue('retry-after')]).toEqual([503, '2']);
      await settles(text(page.locator('h1')), 'The shop is busy');
      await expectFits('busy');
      await page.getByRole('link', { name: 'Try again' }).click();
      await settles(text(page.locator('h1')), 'Your cart');
      expect(await cartCount(page)).toBe(units);

      await page.goto(`${s.url}/orders`);
      const ordersBefore = await page.locator('.lines tbody tr').count();
      await page.goto(`${s.url}/checkout`);
      const key = await page.locator('input[name=idempotencyKey]').inputValue();
      await page.fill('#name', 'Grace Hopper');
      await page.fill('#email', 'grace@example.com');
      await page.fill('#address', '1 Compiler Way');
      await faults.set({ functions: { 'order-create': { status: 429, times: 1 } } });
      const [refused] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST' && r.url().endsWith('/checkout')), page.click('button.primary')]);
      expect(refused.status()).toBe(503);
      await settles(includes(page.locator('.flash-error'), 'your order is not placed yet'), true);
      expect([await page.locator('#name').inputValue(), await page.locator('#address').inputValue(), await page.locator('input[name=idempotencyKey]').inputValue()]).toEqual(['Grace Hopper', '1 Compiler Way', key]);
      await expectFits('checkout-busy');
      await page.click('button.primary');
      await page.locator('.order-id').waitFor();
      await page.goto(`${s.url}/orders`);
      expect(await page.locator('.lines tbody tr').count()).toBe(ordersBefore + 1);
    } finally {
      await faults.set(null);
    }
  });

  it('the operator page', async () => {
    const operator = await browser.newContext({ ...(screen as BrowserContextOptions), httpCredentials: { username: 'admin', password: s.t.shop.secrets['shop-admin-token'] as string } });
    const shopperPage = page;
    page = await operator.newPage();
    try {
      expect((await page.goto(`${s.url}/admin`))?.status()).toBe(200);
      await expectFits('operator');
    } finally {
      await operator.close();
      page = shopperPage;
    }
  });
});
