/**
 * The gateway's own API, for the operator page: each function's replicas, and scaling one, with
 * credentials that may do only that (the `scaler` user: SCALER_PASSWORD_FILE; `npm start` passes
 * the local gateway's). Without them the operator page leaves the replicas out. Answers are
 * validated like every other: a malformed one is the gateway being unavailable, never data.
 */
import got, { type Got } from 'got';
import { z } from '../core/zod';
import { shopError, unavailable } from '../core/errors';
import { FunctionHistory } from '../core/function-history';
import { parseJson } from '../core/gateway';

export interface GatewayCredentials {
  user: string;
  password: string;
}

/** What the page shows of a FunctionStatus; the gateway leaves zero counts out (Go's omitempty). */
const FunctionSummary = z.object({
  name: z.string(),
  replicas: z.number().int().min(0).default(0),
  availableReplicas: z.number().int().min(0).default(0),
  invocationCount: z.number().min(0).default(0),
  labels: z.record(z.string(), z.string()).nullish(),
});
export type FunctionSummary = z.infer<typeof FunctionSummary>;

export type SystemClient = ReturnType<typeof createSystemClient>;

export function createSystemClient(options: { gatewayUrl: string; credentials: GatewayCredentials; timeoutMs?: number }) {
  const http: Got = got.extend({
    prefixUrl: options.gatewayUrl.replace(/\/+$/, ''),
    username: options.credentials.user,
    password: options.credentials.password,
    timeout: { request: options.timeoutMs ?? 4_000 },
    retry: { limit: 0 },
    throwHttpErrors: false,
    responseType: 'text',
  });
  const send = async (path: string, init: { method?: 'GET' | 'POST'; json?: unknown } = {}) => {
    try {
      return await http(path, { method: init.method ?? 'GET', json: init.json });
    } catch (error) {
      throw unavailable('The gateway could not be reached', { reason: (error as Error).message });
    }
  };
  /** A GET whose answer must match `schema`: anything else is the gateway being unavailable. */
  const read = async <T>(path: string, schema: z.ZodType<T>): Promise<T> => {
    const res = await send(path);
    if (res.statusCode === 401) throw shopError(403, 'FORBIDDEN', 'The gateway refused the storefront’s credentials');
    const parsed = schema.safeParse(res.statusCode === 200 ? parseJson(res.body) : undefined);
    if (!parsed.success) throw unavailable(`The gateway answered ${res.statusCode}`);
    return parsed.data;
  };
  return {
    async functions(): Promise<FunctionSummary[]> {
      return (await read('system/functions', z.array(FunctionSummary))).sort((a, b) => a.name.localeCompare(b.name));
    },
    /** The local runtime's last minutes per function (runtime/metrics-window.ts); a cluster's gateway has none (404). */
    metricsWindow(): Promise<FunctionHistory> {
      return read('system/metrics-window', FunctionHistory);
    },
    /** The gateway holds the count to the function's bounds, as it does for every caller. */
    async scale(name: string, replicas: number): Promise<void> {
      const res = await send(`system/scale-function/${encodeURIComponent(name)}`, { method: 'POST', json: { serviceName: name, replicas } });
      if (res.statusCode === 202 || res.statusCode === 200) return;
      if (res.statusCode === 400 || res.statusCode === 404 || res.statusCode === 500) throw shopError(409, 'CONFLICT', res.body.trim() || `The gateway refused to scale ${name}`);
      throw unavailable(`The gateway answered ${res.statusCode}`);
    },
  };
}
