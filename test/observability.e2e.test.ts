/**
 * Following one checkout through the logs, and the metrics the gateway and the storefront
 * publish: one call id in the storefront's, the gateway's and the functions' log lines, and
 * Prometheus metrics under the OpenFaaS gateway's own names.
 */
import { logger } from '../core/log';
import { faultRecorder } from './support/faults';
import { parseMetrics, sampleValue } from './support/metrics';
import { startTestShop } from './support/shop';
import { startTestStorefront, type TestStorefront } from './support/storefront';

let s: TestStorefront;
beforeAll(async () => {
  s = await startTestStorefront();
});
afterAll(() => s.stop());

/** The JSON log lines written while `fn` runs. */
async function logsOf(fn: () => Promise<void>): Promise<Record<string, unknown>[]> {
  const lines: string[] = [];
  const write = process.stdout.write.bind(process.stdout);
  // The suite runs muted (LOG_LEVEL=silent); this window is logged at info, as in production.
  const level = logger.level;
  logger.level = 'info';
  process.stdout.write = ((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  }) as typeof process.stdout.write;
  try {
    await fn();
  } finally {
    process.stdout.write = write;
    logger.level = level;
  }
  return lines.flatMap((l) => l.split('\n')).filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
}

async function visitor() {
  const home = await fetch(`${s.url}/products/gooseneck-kettle`);
  const cookie = home.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  const csrf = /name="_csrf" value="([^"]+)"/.exec(await home.text())?.[1] as string;
  const post = (path: string, form: Record<string, string>, headers: Record<string, string> = {}) =>
    fetch(`${s.url}${path}`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', cookie, ...headers }, body: new URLSearchParams({ _csrf: csrf, ...form }).toString() });
  return { post };
}


describe('observability', () => {
  it('carries one call id from the storefront through the gateway to order-create and inventory-reserve', async () => {
    const v = await visitor();
    await v.post('/cart/add', { productId: 'gooseneck-kettle', quantity: '1' });
    const logs = await logsOf(async () => {
      const res = await v.post('/checkout', { name: 'Ada', email: 'ada@example.com', address: '1 Loop', idempotencyKey: 'trace-key-0123456789' }, { 'x-call-id': 'trace-checkout-42' });
      expect(res.status).toBe(303);
      expect(res.headers.get('x-call-id')).toBe('trace-checkout-42');
    });
    const traced = logs.filter((l) => l.callId === 'trace-checkout-42');
    expect(traced.map((l) => `${l.msg}:${String(l.function ?? l.route)}`).sort()).toEqual(
      expect.arrayContaining(['call:inventory-reserve', 'call:order-create', 'request:/checkout']),
    );
    expect(traced.every((l) => typeof l.time === 'string' && !Number.isNaN(Date.parse(l.time)) && typeof l.level === 'string')).toBe(true);
    expect(traced.find((l) => l.msg === 'request')).toMatchObject({ level: 'info', method: 'POST', route: '/checkout', status: 303, durationMs: expect.any(Number) });
  });

  it('publishes the gateway’s metrics under OpenFaaS’s names', async () => {
    const res = await fetch(`${s.t.shop.url}/metrics`);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const samples = parseMetrics(await res.text());
    expect(sampleValue(samples, 'gateway_function_invocation_total', { function_name: 'order-create.openfaas-fn', code: '201' })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(samples, 'gateway_functions_seconds_bucket', { function_name: 'inventory-reserve.openfaas-fn', code: '200', le: '+Inf' })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(samples, 'gateway_service_count', { function_name: 'cart-get.openfaas-fn' })).toBe(1);
    // What every Node service's dashboard expects, beside the gateway's own series.
    expect(sampleValue(samples, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(sampleValue(samples, 'nodejs_eventloop_lag_seconds')).toBeDefined();
  });

  it('publishes the storefront’s own metrics, with the functions it called', async () => {
    const samples = parseMetrics(await (await fetch(`${s.url}/metrics`)).text());
    expect(sampleValue(samples, 'http_requests_total', { method: 'POST', route: '/checkout', code: '303' })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(samples, 'http_request_duration_seconds_count', { method: 'GET', route: '/products/:id' })).toBeGreaterThanOrEqual(1);
    expect(sampleValue(samples, 'storefront_function_calls_total', { function_name: 'order-create', code: '201' })).toBe(1);
    expect(sampleValue(samples, 'storefront_function_seconds_count', { function_name: 'order-create' })).toBe(1);
    // What every Node service's dashboard expects, beside the storefront's own series.
    expect(sampleValue(samples, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(sampleValue(samples, 'nodejs_eventloop_lag_seconds')).toBeDefined();
    expect(sampleValue(samples, 'nodejs_heap_size_used_bytes')).toBeGreaterThan(0);
  });
});

describe('a function’s own log lines', () => {
  it('carry the call id of the call they were written for, as the replica logs them (read back through /system/logs)', async () => {
    // Replicas that log at info (the suite mutes them), and a store that fails on cue, so that
    // inventory-get writes a line of its own for this call.
    const t = await startTestShop({ faults: true, functionEnv: { LOG_LEVEL: 'info' } });
    try {
      const faults = faultRecorder(t);
      await faults.set({ store: [{ operation: 'getProducts', mode: 'fail', times: 1 }] });
      const failed = await t.call('inventory-get', { query: { id: 'gooseneck-kettle' }, headers: { 'x-call-id': 'trace-replica-7' } });
      expect([failed.status, failed.headers.get('x-call-id'), faults.fired()]).toEqual([503, 'trace-replica-7', { 'store:getProducts': 1 }]);
      const logs = await (await fetch(`${t.shop.url}/system/logs?name=inventory-get`, { headers: { authorization: t.admin() } })).text();
      const lines = logs
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { text: string }).text)
        .filter((text) => text.startsWith('{'))
        .map((text) => JSON.parse(text) as Record<string, unknown>);
      expect(lines.filter((l) => l.callId === 'trace-replica-7')).toEqual([expect.objectContaining({ function: 'inventory-get', callId: 'trace-replica-7', level: 'error' })]);
    } finally {
      await t.stop();
    }
  });
});
