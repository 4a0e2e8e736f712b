/**
 * The gateway's admission control (runtime/invoke.ts): a call that finds every replica at its
 * max_inflight waits a short while in line, and is then refused 429 with Retry-After, as is every
 * call beyond the line; a call that finds no replica ready is refused 503 with Retry-After after
 * a short wait, instead of queueing for 20 s. Refusals are counted in the gateway's metrics as
 * OpenFaaS counts them. Each case is ordered by events (a call held at the gateway, a replica
 * out of the rotation), never timed.
 */
import { parseMetrics, sampleValue } from './support/metrics';
import { startTestShop, type TestShop } from './support/shop';
import { until } from './support/until';


describe('admission at the gateway', () => {
  let t: TestShop;
  const system = (path: string, init: { method?: string; body?: unknown } = {}) =>
    fetch(`${t.shop.url}${path}`, { method: init.method ?? (init.body === undefined ? 'GET' : 'POST'), headers: { authorization: t.admin(), 'content-type': 'application/json' }, body: init.body === undefined ? undefined : JSON.stringify(init.body) });
  const available = async (name: string) => ((await (await system(`/system/function/${name}`)).json()) as { availableReplicas: number }).availableReplicas;
  const invocations = async (name: string, code: string) => sampleValue(parseMetrics(await (await fetch(`${t.shop.url}/metrics`)).text()), 'gateway_function_invocation_total', { function_name: `${name}.openfaas-fn`, code }) ?? 0;
  const call = (name: string, query: string) => fetch(`${t.shop.url}/function/${name}?${query}`).then(async (res) => ({ status: res.status, retryAfter: res.headers.get('retry-after'), text: await res.text() }));

  beforeAll(async () => {
    // Every replica takes one call at a time (max_inflight, as stack.yml sets it for the checkout's
    // functions); a short line and a short wait for a ready replica; readiness probed every 300 ms,
    // out at the first failure.
    const probe = { initialDelayMs: 200, periodMs: 300, timeoutMs: 1_000, successThreshold: 1 };
    t = await startTestShop({ faults: true, functionEnv: { max_inflight: '1' }, admission: { busyWaitMs: 200, noneReadyWaitMs: 300 }, probes: { readiness: { ...probe, failureThreshold: 1 }, liveness: { ...probe, failureThreshold: 1_000 } } });
  });
  afterAll(() => t.stop());

  it('serves what fits under max_inflight and refuses the rest at once with 429 and Retry-After, counted as OpenFaaS counts them', async () => {
    // The first call is held at the gateway for 10 s once admitted, keeping the only slot.
    expect((await system('/system/faults', { body: { functions: { 'inventory-get': { delayMs: 10_000, times: 1 } } } })).status).toBe(200);
    const held = call('inventory-get', 'id=gooseneck-kettle');
    await until(() => t.shop.provider.replicasOf('inventory-get')?.instances.some((r) => r.inflight === 1) === true);
    // Six more: one waits in line (as long as the function's slots) and gives up, five are refused at once.
    const refused = await Promise.all(Array.from({ length: 6 }, () => call('inventory-get', 'id=gooseneck-kettle')));
    expect(refused.map((r) => [r.status, r.retryAfter])).toEqual(Array(6).fill([429, '1']));
    expect(refused[0]?.text).toMatch(/busy/);
    expect((await held).status).toBe(200);
    // The slot is free again: the next call is served.
    expect((await call('inventory-get', 'id=gooseneck-kettle')).status).toBe(200);
    expect(await invocations('inventory-get', '429')).toBe(6);
    await system('/system/faults', { method: 'DELETE' });
  });

  it('answers 503 with Retry-After after a short wait when no replica is ready, and serves again once one is', async () => {
    const [replica] = t.shop.provider.replicasOf('inventory-list')?.instances ?? [];
    const pid = replica?.pid as number;
    process.kill(pid, 'SIGSTOP');
    try {
      await until(async () => (await available('inventory-list')) === 0);
      const res = await call('inventory-list', 'limit=1');
      expect([res.status, res.retryAfter, res.text]).toEqual([503, '2', 'No endpoints available for: inventory-list.']);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await until(async () => (await available('inventory-list')) === 1);
    expect((await call('inventory-list', 'limit=1')).status).toBe(200);
    expect(await invocations('inventory-list', '503')).toBe(1);
  });
});
