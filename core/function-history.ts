/**
 * What the operator page charts per function over the last minutes, whichever source gives it:
 * the local runtime's window (runtime/metrics-window.ts, GET /system/metrics-window) or the
 * cluster's Prometheus (frontend/history-prometheus.ts). Both count a call the same way,
 * by its status code, as gateway_function_invocation_total labels it.
 */
import { z } from './zod';

/** How a call ended, for the charts and the alert rules alike. */
export type CallOutcome = 'ok' | 'error' | 'refused';

/**
 * 429 and 503 are refusals (no capacity now: the caller is told to come back), other 5xx are
 * errors; a 4xx is the caller's mistake or the shop's answer (sold out), not the function failing.
 */
export function callOutcome(status: number): CallOutcome {
  if (status === 429 || status === 503) return 'refused';
  return status >= 500 ? 'error' : 'ok';
}

/** The same classes as label matchers on `code`, for PromQL. */
export const CODE_MATCHERS: Record<Exclude<CallOutcome, 'ok'>, string> = {
  refused: 'code=~"429|503"',
  error: 'code=~"5..",code!="503"',
};

/** One step of one function; null where the source has nothing (no call to time, no sample yet). */
export const HistoryPoint = z.object({
  /** The step's end, in Unix seconds. */
  t: z.number().int().nonnegative(),
  callsPerSecond: z.number().nonnegative().nullable(),
  errorsPerSecond: z.number().nonnegative().nullable(),
  refusalsPerSecond: z.number().nonnegative().nullable(),
  /** Latency of the calls that were not refused, in seconds. */
  p50: z.number().nonnegative().nullable(),
  p95: z.number().nonnegative().nullable(),
  replicas: z.number().int().nonnegative().nullable(),
  available: z.number().int().nonnegative().nullable(),
});
export type HistoryPoint = z.infer<typeof HistoryPoint>;

export const FunctionHistory = z.object({
  stepSeconds: z.number().int().positive(),
  functions: z
    .array(z.object({ name: z.string().max(200), points: z.array(HistoryPoint).max(2_000) }))
    .max(100),
});
export type FunctionHistory = z.infer<typeof FunctionHistory>;

/** The window the page shows: 15 minutes. */
export const HISTORY_SECONDS = 15 * 60;
