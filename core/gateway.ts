/**
 * Calls to the shop's functions through the OpenFaaS gateway, for the functions that call
 * others (order-create, order-cancel: GATEWAY_URL, in the cluster
 * http://gateway.openfaas:8080) and for the storefront. One keep-alive agent per client; a
 * timeout on every attempt; retries only for calls the caller marks idempotent; the
 * caller's X-Call-Id passed on, so one checkout can be followed through the logs. Every
 * answer is validated with the functions' own schemas: a malformed one is a dependency
 * failure, never data.
 */
import got, { type Got } from 'got';
import { Agent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { z } from './zod';
import { shopError, unavailable, type ErrorCode, type ShopError } from './errors';
import { ErrorBody, Release, Reservation, type OrderLineRequest } from './schemas';

export interface FunctionCall {
  method?: 'GET' | 'POST';
  query?: Record<string, string | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  callId?: string;
  /** Safe to send again (reads; writes keyed by an id or Idempotency-Key): then it is retried. */
  idempotent?: boolean;
}

export interface GatewayClient {
  call<T>(fn: string, request: FunctionCall, schema: z.ZodType<T>): Promise<T>;
}

export interface GatewayOptions {
  baseUrl: string;
  /** Per attempt. */
  timeoutMs?: number;
  retries?: number;
  /** Error statuses whose code and message mean something to the caller; others become 503. */
  passThrough?: readonly number[];
  /** Told of every call: its function, HTTP status (0: no answer) and duration. */
  onCall?: (fn: string, status: number, seconds: number) => void;
}

export function createGatewayClient(options: GatewayOptions): GatewayClient {
  const retries = options.retries ?? 2;
  const passThrough = new Set(options.passThrough ?? [404, 409]);
  const http: Got = got.extend({
    prefixUrl: options.baseUrl.replace(/\/+$/, ''),
    agent: { http: new Agent({ keepAlive: true, maxSockets: 128 }), https: new HttpsAgent({ keepAlive: true, maxSockets: 128 }) },
    timeout: { request: options.timeoutMs ?? 2_500 },
    retry: {
      limit: retries,
      methods: ['GET', 'POST'],
      statusCodes: [408, 429, 502, 503, 504],
      calculateDelay: ({ computedValue, attemptCount }) => (computedValue === 0 ? 0 : Math.min(100 * 2 ** (attemptCount - 1), 400)),
    },
    throwHttpErrors: false,
    responseType: 'text',
  });

  return {
    async call<T>(fn: string, request: FunctionCall, schema: z.ZodType<T>): Promise<T> {
      const started = process.hrtime.bigint();
      const observe = (status: number) => options.onCall?.(fn, status, Number(process.hrtime.bigint() - started) / 1e9);
      let response;
      try {
        response = await http(`function/${fn}`, {
          method: request.method ?? 'GET',
          searchParams: request.query ? definedOnly(request.query) : undefined,
          json: request.body,
          headers: { ...request.headers, ...(request.callId ? { 'x-call-id': request.callId } : {}) },
          retry: { limit: request.idempotent ? retries : 0 },
        });
      } catch (error) {
        observe(0);
        throw unavailable(`${fn} could not be reached`, { function: fn, reason: (error as Error).message });
      }
      observe(response.statusCode);
      const parsed = parseJson(response.body);
      if (response.statusCode >= 200 && response.statusCode < 300) {
        const result = schema.safeParse(parsed);
        if (result.success) return result.data;
        throw unavailable(`${fn} sent an answer the shop does not understand`, { function: fn });
      }
      throw fromErrorResponse(fn, response.statusCode, parsed, passThrough);
    },
  };
}

export interface InventoryClient {
  reserve(orderId: string, items: readonly OrderLineRequest[], callId?: string): Promise<Reservation>;
  release(orderId: string, callId?: string): Promise<Release>;
}

/** The internal inventory functions, called with the shop-internal-token (read on each call, so a rotated secret applies at once). */
export function createInventoryClient(options: GatewayOptions & { token: () => string | undefined }): InventoryClient {
  const gateway = createGatewayClient({ ...options, passThrough: [404, 409] });
  const post = <T>(fn: string, body: unknown, schema: z.ZodType<T>, callId?: string) => {
    const token = options.token();
    if (!token) throw shopError(503, 'NOT_CONFIGURED', 'The shop-internal-token secret is not mounted');
    // Both are idempotent per order id, so a lost answer can safely be asked for again.
    return gateway.call(fn, { method: 'POST', body, headers: { authorization: `Bearer ${token}` }, callId, idempotent: true }, schema);
  };
  return {
    reserve: (orderId, items, callId) => post('inventory-reserve', { orderId, items }, Reservation, callId),
    release: (orderId, callId) => post('inventory-release', { orderId }, Release, callId),
  };
}

function definedOnly(query: Record<string, string | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(query).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

/** The JSON a text holds, or undefined when it is not JSON. */
export function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function fromErrorResponse(fn: string, status: number, body: unknown, passThrough: ReadonlySet<number>): ShopError {
  const error = ErrorBody.safeParse(body);
  if (error.success && passThrough.has(status)) {
    const { code, message, details } = error.data.error;
    return shopError(status, code as ErrorCode, message, details);
  }
  return unavailable(`${fn} answered ${status}`, { function: fn, status, ...(error.success ? { code: error.data.error.code } : {}) });
}
