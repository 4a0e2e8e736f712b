/**
 * Durations as OpenFaaS's components read them (the watchdog's exec_timeout, the queue-worker's
 * waits), the watchdog's default exec_timeout (a function that calls another, order-create,
 * bounds its own work by it), and HTTP's Retry-After, which every tier's refusals carry.
 */
/** Go durations as the watchdog reads them: "10s", "1m30s", "500ms"; a bare number is seconds. */
export function parseDuration(text: string | undefined, fallbackMs: number): number {
  if (!text) return fallbackMs;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  let consumed = 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  for (let match = re.exec(text); match; match = re.exec(text)) {
    total += Number(match[1]) * (units[match[2] as string] ?? 0);
    consumed = re.lastIndex;
  }
  return consumed === text.length && total > 0 ? total : fallbackMs;
}

/** of-watchdog's exec_timeout when the function's environment sets none. */
export const DEFAULT_EXEC_TIMEOUT_MS = 10_000;

/** Seconds a Retry-After asks for (seconds or an HTTP date), or undefined when it says nothing usable. */
export function retryAfterSeconds(header: string | undefined, now = Date.now()): number | undefined {
  const text = header?.trim() ?? '';
  const seconds = /^\d+$/.test(text) ? Number(text) : text ? Math.ceil((Date.parse(text) - now) / 1000) : NaN;
  return Number.isFinite(seconds) ? Math.max(0, seconds) : undefined;
}
