/**
 * The operator's view over time on the running shop: the runtime's window at
 * GET /system/metrics-window (basic auth, the scaler may read it), /admin/functions drawn from it,
 * and the cluster's view (k3s/monitoring): every metric an alert rule or a dashboard panel names
 * is one the gateway or the storefront publishes.
 */
import { FunctionHistory } from '../core/function-history';
import { SCALER_PASSWORD_FILE } from '../runtime/secrets';
import { alertRuleQueries, dashboardQueries } from './support/monitoring';
import { parseMetrics, sampleValue } from './support/metrics';
import { startTestStorefront, type TestStorefront } from './support/storefront';

let s: TestStorefront;
beforeAll(async () => {
  s = await startTestStorefront();
});
afterAll(() => s.stop());

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const scaler = () => basic('scaler', s.t.shop.secrets[SCALER_PASSWORD_FILE] as string);

describe('the runtime’s metrics window', () => {
  it('answers the admin and the scaler, 401 to anyone else, 405 to another method', async () => {
    const url = `${s.t.shop.url}/system/metrics-window`;
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(url, { headers: { authorization: basic('scaler', 'wrong') } })).status).toBe(401);
    expect((await fetch(url, { method: 'POST', headers: { authorization: scaler() } })).status).toBe(405);
    expect((await fetch(url, { headers: { authorization: s.t.admin() } })).status).toBe(200);
    expect((await fetch(url, { headers: { authorization: scaler() } })).status).toBe(200);
  });

  it('holds every deployed function’s last 15 minutes, with the calls just made and the replicas running', async () => {
    for (let i = 0; i < 5; i++) expect((await s.t.call('inventory-get', { query: { id: 'gooseneck-kettle' } })).status).toBe(200);
    const res = await fetch(`${s.t.shop.url}/system/metrics-window`, { headers: { authorization: scaler() } });
    const history = FunctionHistory.parse(await res.json());
    expect(history.stepSeconds).toBe(10);
    expect(history.functions.map((f) => f.name).sort()).toEqual([...s.t.shop.functions].sort());
    expect(history.functions.every((f) => f.points.length === 90)).toBe(true);
    const inventoryGet = history.functions.find((f) => f.name === 'inventory-get')?.points ?? [];
    // The calls may straddle a step's end: counted over the last two steps.
    const calls = inventoryGet.slice(-2).reduce((sum, p) => sum + (p.callsPerSecond ?? 0) * history.stepSeconds, 0);
    expect(Math.round(calls)).toBeGreaterThanOrEqual(5);
    expect(inventoryGet.at(-1)).toMatchObject({ replicas: 1, available: 1 });
    expect(inventoryGet.slice(-2).some((p) => p.p50 !== null && p.p50 > 0)).toBe(true);
  });

  it('is what /admin/functions draws', async () => {
    const res = await fetch(`${s.url}/admin/functions`, { headers: { authorization: basic('admin', s.t.shop.secrets['shop-admin-token'] as string) } });
    const html = await res.text();
    expect(res.status).toBe(200);
    expect(html).toContain('From the local runtime’s window');
    expect(html).toContain('data-function="cart-get"');
    expect(html.match(/<figure class="history-chart"/g)).toHaveLength(3 * s.t.shop.functions.length);
  });
});

/** The metric names in PromQL expressions: every series the shop's monitoring reads has one of these prefixes. */
function metricNames(expressions: string[]): Set<string> {
  return new Set(expressions.flatMap((e) => e.match(/\b(?:gateway|shop|storefront|http|process|nodejs)_[a-zA-Z0-9_:]*/g) ?? []));
}

/** Every name a /metrics page lets PromQL use: its metrics, and a histogram's _bucket, _sum and _count. */
async function published(url: string): Promise<string[]> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].flatMap(([, name, type]) => (type === 'histogram' || type === 'summary' ? [name, `${name}_bucket`, `${name}_sum`, `${name}_count`] : [name])) as string[];
}

describe('the cluster’s rules and dashboard', () => {
  it('name only metrics the gateway or the storefront publish, and each of those the dashboard needs', async () => {
    const available = new Set([...(await published(s.t.shop.url)), ...(await published(s.url))]);
    const rules = ['gateway_function_invocation_total', 'gateway_functions_seconds_bucket', 'gateway_service_count', 'shop_checkouts_total', 'shop_function_replicas_available', 'shop_sold_out_total'];
    // The dashboard also shows the storefront's own refusals beside its bound on pages in flight.
    const dashboard = [...rules, 'storefront_concurrency_limit', 'storefront_pages_in_flight', 'storefront_refusals_total'];
    for (const [expressions, expected] of [[alertRuleQueries(), rules], [dashboardQueries(), dashboard]] as const) {
      const named = metricNames(expressions);
      expect([...named].sort()).toEqual(expected);
      expect([...named].filter((name) => !available.has(name))).toEqual([]);
    }
  });

  it('see the storefront’s checkouts and the replicas ready, as the rules read them', async () => {
    const v = await (async () => {
      const home = await fetch(`${s.url}/products/gooseneck-kettle`);
      const cookie = home.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
      const csrf = /name="_csrf" value="([^"]+)"/.exec(await home.text())?.[1] as string;
      return (path: string, form: Record<string, string>) =>
        fetch(`${s.url}${path}`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie }, body: new URLSearchParams({ _csrf: csrf, ...form }).toString() });
    })();
    expect((await v('/cart/add', { productId: 'gooseneck-kettle', quantity: '1' })).status).toBe(303);
    expect((await v('/checkout', { name: 'Ada', email: 'ada@example.com', address: '1 Loop', idempotencyKey: 'monitoring-key-0123456789' })).status).toBe(303);
    const metrics = parseMetrics(await (await fetch(`${s.url}/metrics`)).text());
    expect(sampleValue(metrics, 'shop_checkouts_total', { outcome: 'placed' })).toBe(1);
    expect(sampleValue(metrics, 'shop_checkouts_total', { outcome: 'pending' })).toBe(0);
    expect(sampleValue(metrics, 'shop_function_replicas_available', { function_name: 'order-create.openfaas-fn' })).toBe(1);
  });
});
