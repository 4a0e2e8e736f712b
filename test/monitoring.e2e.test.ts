/**
 * The operator's view over time on the running shop: the runtime's window at
 * GET /system/metrics-window (basic auth, the scaler may read it), and /admin/functions drawn from it.
 */
import { FunctionHistory } from '../core/function-history';
import { SCALER_PASSWORD_FILE } from '../runtime/secrets';
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
