/**
 * Calls from one function to another, through the OpenFaaS gateway (GATEWAY_URL; in the
 * cluster http://gateway.openfaas:8080). One keep-alive agent per process; a timeout on
 * every attempt; retries only for calls that are idempotent by design (reserve and release
 * are, per order id); the caller's X-Call-Id goes along so one checkout can be followed
 * through the logs. Every answer is validated: a malformed one is a dependency failure.
 */
import got, { type Got } from 'got';
import { Agent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { z } from 'zod';
import { shopError, unavailable, type ErrorCode, type ShopError } from './errors';
import { ErrorBody, Release, Reservation, type OrderLineRequest } from './schemas';

export interface InventoryClient {
  reserve(orderId: string, items: readonly OrderLineRequest[], callId?: string): Promise<Reservation>;
  release(orderId: string, callId?: string): Promise<Release>;
}

export interface GatewayOptions {
  baseUrl: string;
  /** Read on each call, so a rotated secret applies at once. */
  token: () => string | undefined;
  /** Per attempt. Attempts plus back-off stay under the watchdog's 10 s exec_timeout. */
  timeoutMs?: number;
  retries?: number;
}

/** Errors from the inventory that mean something to the shopper keep their code and status. */
const PASSED_THROUGH = new Set([404, 409]);

export function createInventoryClient(options: GatewayOptions): InventoryClient {
  const http: Got = got.extend({
    prefixUrl: options.baseUrl.replace(/\/+$/, ''),
    agent: { http: new Agent({ keepAlive: true, maxSockets: 128 }), https: new HttpsAgent({ keepAlive: true, maxSockets: 128 }) },
    timeout: { request: options.timeoutMs ?? 2_500 },
    retry: {
      limit: options.retries ?? 2,
      methods: ['POST'],
      statusCodes: [408, 429, 502, 503, 504],
      calculateDelay: ({ computedValue, attemptCount }) => (computedValue === 0 ? 0 : Math.min(100 * 2 ** (attemptCount - 1), 400)),
    },
    throwHttpErrors: false,
    responseType: 'text',
  });

  async function call<T>(fn: string, body: unknown, schema: z.ZodType<T>, callId?: string): Promise<T> {
    const token = options.token();
    if (!token) throw shopError(503, 'NOT_CONFIGURED', 'The shop-internal-token secret is not mounted');
    let response;
    try {
      response = await http.post(`function/${fn}`, {
        json: body,
        headers: { authorization: `Bearer ${token}`, ...(callId ? { 'x-call-id': callId } : {}) },
      });
    } catch (error) {
      throw unavailable(`${fn} could not be reached`, { function: fn, reason: (error as Error).message });
    }
    const parsed = parseJson(response.body);
    if (response.statusCode === 200) {
      const result = schema.safeParse(parsed);
      if (result.success) return result.data;
      throw unavailable(`${fn} sent an answer the shop does not understand`, { function: fn });
    }
    throw fromErrorResponse(fn, response.statusCode, parsed);
  }

  return {
    reserve: (orderId, items, callId) => call('inventory-reserve', { orderId, items }, Reservation, callId),
    release: (orderId, callId) => call('inventory-release', { orderId }, Release, callId),
  };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function fromErrorResponse(fn: string, status: number, body: unknown): ShopError {
  const error = ErrorBody.safeParse(body);
  if (error.success && PASSED_THROUGH.has(status)) {
    const { code, message, details } = error.data.error;
    return shopError(status, code as ErrorCode, message, details);
  }
  return unavailable(`${fn} answered ${status}`, { function: fn, status, ...(error.success ? { code: error.data.error.code } : {}) });
}
