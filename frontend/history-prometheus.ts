/**
 * The operator's charts from the cluster's Prometheus (PROMETHEUS_URL: OpenFaaS's, in namespace
 * openfaas): one query_range per series over the last 15 minutes, on OpenFaaS's metric names and
 * the storefront's shop_function_replicas_available, classed as core/function-history.ts classes
 * calls. Answers are validated like every other: a malformed one is Prometheus being unavailable.
 */
import got, { type Got } from 'got';
import { unavailable } from '../core/errors';
import { CODE_MATCHERS, HISTORY_SECONDS, type FunctionHistory, type HistoryPoint } from '../core/function-history';
import { parseJson } from '../core/gateway';
import { z } from '../core/zod';
import type { HistorySource } from './history';

/** OpenFaaS's Prometheus scrapes every 15 s: a step finer than that draws nothing new. */
export const PROMETHEUS_STEP_SECONDS = 15;
/** Four scrapes, so that rate() always has two samples. */
const RANGE = '1m';
const NOT_REFUSED = `code!~"429|503"`;

type Series = Exclude<keyof HistoryPoint, 't'>;

/** Each series of a point, and the query that gives it per function_name. */
export const QUERIES: Record<Series, string> = {
  callsPerSecond: `sum by (function_name) (rate(gateway_function_invocation_total[${RANGE}]))`,
  errorsPerSecond: `sum by (function_name) (rate(gateway_function_invocation_total{${CODE_MATCHERS.error}}[${RANGE}]))`,
  refusalsPerSecond: `sum by (function_name) (rate(gateway_function_invocation_total{${CODE_MATCHERS.refused}}[${RANGE}]))`,
  p50: `histogram_quantile(0.5, sum by (function_name, le) (rate(gateway_functions_seconds_bucket{${NOT_REFUSED}}[${RANGE}])))`,
  p95: `histogram_quantile(0.95, sum by (function_name, le) (rate(gateway_functions_seconds_bucket{${NOT_REFUSED}}[${RANGE}])))`,
  replicas: 'max by (function_name) (gateway_service_count)',
  available: 'max by (function_name) (shop_function_replicas_available)',
};

/** A query_range answer (the Prometheus HTTP API, resultType matrix); values are [unix seconds, "number"]. */
const RangeAnswer = z.object({
  status: z.literal('success'),
  data: z.object({
    resultType: z.literal('matrix'),
    result: z.array(z.object({ metric: z.record(z.string(), z.string()), values: z.array(z.array(z.union([z.number(), z.string()]))) })),
  }),
});

/** Prometheus writes NaN where a quantile has no call to read, and ±Inf beyond its buckets: no value. */
function valueOf(text: unknown): number | null {
  const value = typeof text === 'string' ? Number(text) : NaN;
  return Number.isFinite(value) && value >= 0 ? value : null;
}

/** The function a series is about: OpenFaaS labels it NAME.NAMESPACE. */
const functionOf = (metric: Record<string, string>) => metric.function_name?.split('.')[0];

export function prometheusHistory(options: { url: string; timeoutMs?: number; now?: () => number }): HistorySource {
  const http: Got = got.extend({ prefixUrl: options.url.replace(/\/+$/, ''), timeout: { request: options.timeoutMs ?? 4_000 }, retry: { limit: 0 }, throwHttpErrors: false, responseType: 'text' });
  const now = options.now ?? Date.now;

  const queryRange = async (query: string, start: number, end: number) => {
    const searchParams = { query, start: String(start), end: String(end), step: String(PROMETHEUS_STEP_SECONDS) };
    const res = await http('api/v1/query_range', { searchParams }).catch((error: unknown) => {
      throw unavailable('Prometheus could not be reached', { reason: (error as Error).message });
    });
    const parsed = RangeAnswer.safeParse(res.statusCode === 200 ? parseJson(res.body) : undefined);
    if (!parsed.success) throw unavailable(`Prometheus answered ${res.statusCode}`);
    return parsed.data.data.result;
  };

  return {
    label: `Prometheus at ${options.url}`,
    async read(): Promise<FunctionHistory> {
      // Steps on multiples of the step, so each answer's timestamps are the points' own.
      const end = Math.floor(now() / 1000 / PROMETHEUS_STEP_SECONDS) * PROMETHEUS_STEP_SECONDS;
      const start = end - HISTORY_SECONDS + PROMETHEUS_STEP_SECONDS;
      const steps = HISTORY_SECONDS / PROMETHEUS_STEP_SECONDS;
      const series = Object.keys(QUERIES) as Series[];
      const answers = await Promise.all(series.map((s) => queryRange(QUERIES[s], start, end)));
      const functions = new Map<string, HistoryPoint[]>();
      const pointsOf = (name: string) => {
        let points = functions.get(name);
        if (!points) {
          const empty = { callsPerSecond: null, errorsPerSecond: null, refusalsPerSecond: null, p50: null, p95: null, replicas: null, available: null };
          functions.set(name, (points = Array.from({ length: steps }, (_, i) => ({ t: start + i * PROMETHEUS_STEP_SECONDS, ...empty }))));
        }
        return points;
      };
      answers.forEach((result, i) => {
        const key = series[i] as Series;
        for (const { metric, values } of result) {
          const name = functionOf(metric);
          if (!name) continue;
          const points = pointsOf(name);
          for (const [t, text] of values) {
            const index = (Number(t) - start) / PROMETHEUS_STEP_SECONDS;
            const point = Number.isInteger(index) ? points[index] : undefined;
            if (point) (point as Record<Series, number | null>)[key] = key === 'replicas' || key === 'available' ? roundCount(valueOf(text)) : valueOf(text);
          }
        }
      });
      return { stepSeconds: PROMETHEUS_STEP_SECONDS, functions: [...functions].sort(([a], [b]) => a.localeCompare(b)).map(([name, points]) => ({ name, points })) };
    },
  };
}

const roundCount = (value: number | null) => (value === null ? null : Math.round(value));
