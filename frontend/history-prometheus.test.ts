/**
 * The charts' cluster source: Prometheus's query_range, with nock answering as Prometheus 2.x
 * answers (a matrix of [unix seconds, "value"], "NaN" where a quantile has nothing to read).
 */
import { isShopError } from '../core/errors';
import { useNock } from '../test/support/nock';
import { historyView } from './history';
import { PROMETHEUS_STEP_SECONDS, QUERIES, prometheusHistory } from './history-prometheus';
import { storefrontConfig } from './server';

const PROMETHEUS = 'http://prometheus.openfaas:9090';
const nock = useNock();
// 1700000107 s: the last whole step of 15 s ends at 1700000100.
const NOW = 1_700_000_107_000;
const END = 1_700_000_100;
const START = END - 900 + PROMETHEUS_STEP_SECONDS;

const matrix = (result: { metric: Record<string, string>; values: [number, string][] }[]) => ({ status: 'success', data: { resultType: 'matrix', result } });
const series = (fn: string, values: [number, string][]) => ({ metric: { function_name: `${fn}.openfaas-fn` }, values });

/** Prometheus answering each query with `answers[series]`, an empty matrix for the others; the queries asked are kept. */
function prometheus(answers: Partial<Record<keyof typeof QUERIES, ReturnType<typeof series>[]>>) {
  const asked: URLSearchParams[] = [];
  const scope = nock(PROMETHEUS)
    .get('/api/v1/query_range')
    .query(true)
    .times(Object.keys(QUERIES).length)
    .reply((uri) => {
      const params = new URL(uri, PROMETHEUS).searchParams;
      asked.push(params);
      const key = (Object.keys(QUERIES) as (keyof typeof QUERIES)[]).find((k) => QUERIES[k] === params.get('query'));
      return [200, matrix(key ? (answers[key] ?? []) : [])];
    });
  return { scope, asked };
}

const source = () => prometheusHistory({ url: PROMETHEUS, timeoutMs: 500, now: () => NOW });

describe('the charts from Prometheus', () => {
  it('asks query_range for the last 15 minutes in 15 s steps, on OpenFaaS’s metric names', async () => {
    const { scope, asked } = prometheus({});
    await source().read();
    scope.done();
    expect(asked.map((p) => [p.get('start'), p.get('end'), p.get('step')])).toEqual(Array(7).fill([String(START), String(END), '15']));
    const queries = asked.map((p) => p.get('query')).join('\n');
    for (const fragment of [
      'rate(gateway_function_invocation_total[1m])',
      'gateway_function_invocation_total{code=~"429|503"}',
      'gateway_function_invocation_total{code=~"5..",code!="503"}',
      'histogram_quantile(0.95, sum by (function_name, le) (rate(gateway_functions_seconds_bucket{code!~"429|503"}[1m])))',
      'max by (function_name) (gateway_service_count)',
      'max by (function_name) (shop_function_replicas_available)',
    ]) {
      expect(queries).toContain(fragment);
    }
  });

  it('turns the matrices into one point per step per function, with nothing where Prometheus has nothing', async () => {
    prometheus({
      callsPerSecond: [series('order-create', [[START, '0'], [END - 15, '4.5'], [END, '12.25']]), series('cart-get', [[END, '1']])],
      p95: [series('order-create', [[END - 15, 'NaN'], [END, '0.12']])],
      replicas: [series('order-create', [[END - 15, '1'], [END, '3']])],
      available: [series('order-create', [[END, '2']])],
    });
    const history = await source().read();
    expect(history.stepSeconds).toBe(15);
    expect(history.functions.map((f) => f.name)).toEqual(['cart-get', 'order-create']);
    const points = history.functions[1]?.points ?? [];
    expect(points).toHaveLength(60);
    expect(points[0]).toMatchObject({ t: START, callsPerSecond: 0, p95: null, replicas: null });
    expect(points[1]?.callsPerSecond).toBeNull();
    expect(points.slice(-2)).toEqual([
      { t: END - 15, callsPerSecond: 4.5, errorsPerSecond: null, refusalsPerSecond: null, p50: null, p95: null, replicas: 1, available: null },
      { t: END, callsPerSecond: 12.25, errorsPerSecond: null, refusalsPerSecond: null, p50: null, p95: 0.12, replicas: 3, available: 2 },
    ]);
    const view = await historyView({ label: 'Prometheus', read: async () => history });
    expect(view).toMatchObject({ stepSeconds: 15, minutes: 15 });
    expect(view.functions[1]?.charts[2]?.events.map((e) => e.label)).toEqual(['scaled from 1 to 3 replicas']);
  });

  it('says Prometheus is unavailable when it refuses a query, answers something else, or cannot be reached', async () => {
    const refusal = { status: 'error', errorType: 'bad_data', error: 'invalid parameter "query": 1:1: parse error' };
    for (const reply of [
      () => nock(PROMETHEUS).get('/api/v1/query_range').query(true).times(7).reply(400, refusal),
      () => nock(PROMETHEUS).get('/api/v1/query_range').query(true).times(7).reply(200, { status: 'success', data: { resultType: 'vector', result: [] } }),
      () => nock(PROMETHEUS).get('/api/v1/query_range').query(true).times(7).replyWithError('connect ECONNREFUSED'),
    ]) {
      reply();
      const error = await source().read().catch((e: unknown) => e);
      expect(isShopError(error) && error.status === 503 && error.code === 'DEPENDENCY_UNAVAILABLE').toBe(true);
      nock.cleanAll();
    }
  });

  it('is chosen by PROMETHEUS_URL', () => {
    expect(storefrontConfig({ PROMETHEUS_URL: PROMETHEUS }).prometheusUrl).toBe(PROMETHEUS);
    expect(storefrontConfig({}).prometheusUrl).toBeUndefined();
  });
});
