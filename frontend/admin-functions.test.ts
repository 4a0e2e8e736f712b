/**
 * /admin/functions, the operator's charts, with nock standing in for the gateway: drawn from
 * the local runtime's window, for the operator only, and still a page when the window is missing.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FunctionHistory, HistoryPoint } from '../core/function-history';
import { useNock } from '../test/support/nock';
import { createStorefront, type StorefrontConfig } from './app';

const GATEWAY = 'http://gateway.test:8080';
const TOKEN = 'an-admin-token-for-the-operator';
const asOperator = { authorization: `Basic ${Buffer.from(`admin:${TOKEN}`).toString('base64')}` };
const scalerAuth = `Basic ${Buffer.from('scaler:scaler-password').toString('base64')}`;
const nock = useNock();

let base: string;
let server: http.Server;
beforeAll(async () => {
  const config: StorefrontConfig = { gatewayUrl: GATEWAY, cookieSecret: 'a-cookie-secret-for-unit-tests-only-0123456789', gatewayTimeoutMs: 300, gatewayCredentials: { user: 'scaler', password: 'scaler-password' } };
  server = http.createServer(createStorefront(config));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

const recentOrders = () => nock(GATEWAY, { reqheaders: { authorization: `Bearer ${TOKEN}` } }).get('/function/order-recent').reply(200, { items: [] });
const point = (i: number, replicas: number): HistoryPoint => ({ t: 1_700_000_000 + i * 10, callsPerSecond: 12, errorsPerSecond: 0.1, refusalsPerSecond: 3, p50: 0.02, p95: 0.12, replicas, available: replicas });
const window: FunctionHistory = {
  stepSeconds: 10,
  functions: [
    { name: 'cart-get', points: Array.from({ length: 90 }, (_, i) => point(i, 1)) },
    { name: 'order-create', points: Array.from({ length: 90 }, (_, i) => point(i, i < 45 ? 1 : 2)) },
  ],
};

describe('/admin/functions', () => {
  it('charts each function’s calls, latency and replicas from the runtime’s window, marks scaling, and reloads itself', async () => {
    recentOrders();
    const read = nock(GATEWAY, { reqheaders: { authorization: scalerAuth } }).get('/system/metrics-window').reply(200, window);
    const res = await fetch(`${base}/admin/functions`, { headers: asOperator });
    const html = await res.text();
    read.done();
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('content-security-policy')).toMatch(/script-src 'self'/);
    expect(html).not.toMatch(/<script/);
    expect(html).toContain('<meta http-equiv="refresh" content="15">');
    expect(html).toContain('a point every 10 s over the last 15 minutes');
    expect(html.match(/<section class="history"/g)).toHaveLength(2);
    expect(html.match(/<figure class="history-chart"/g)).toHaveLength(6);
    for (const series of ['calls', 'refused', 'errors', 'p50', 'p95', 'desired', 'available']) expect(html).toContain(`data-series="${series}"`);
    expect(html).toContain('<strong data-latest="refused">3/s</strong>');
    expect(html).toContain('<strong data-latest="p95">120 ms</strong>');
    // order-create went from 1 to 2 replicas: marked once on each of its three charts, nowhere on cart-get's.
    expect(html.match(/<line class="scaling"/g)).toHaveLength(3);
    expect(html).toContain('<title>scaled from 1 to 2 replicas</title>');
  });

  it('is the operator’s: no credentials, no charts, and the gateway is not asked', async () => {
    const read = nock(GATEWAY).get('/system/metrics-window').reply(200, window);
    const res = await fetch(`${base}/admin/functions`);
    expect(res.status).toBe(401);
    expect(read.isDone()).toBe(false);
  });

  it('stays a page that says why when the window cannot be read (a cluster’s gateway has none, or a malformed answer)', async () => {
    for (const reply of [[404, '404 page not found'], [200, { stepSeconds: 10, functions: [{ name: 'x', points: [{ t: 'soon' }] }] }]] as const) {
      recentOrders();
      nock(GATEWAY).get('/system/metrics-window').reply(reply[0], reply[1]);
      const res = await fetch(`${base}/admin/functions`, { headers: asOperator });
      expect(res.status).toBe(200);
      expect(await res.text()).toMatch(/class="note history-note" role="status">the local runtime’s window \(GET \/system\/metrics-window\) did not answer \(The gateway answered (404|200)\)/);
    }
  });
});
