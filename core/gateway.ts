/**
 * Calls to the shop's functions through the OpenFaaS gateway, for the functions that call
 * others (order-create, order-cancel: GATEWAY_URL, in the cluster
 * http://gateway.openfaas:8080) and for the storefront. One keep-alive agent per client; a
 * timeout on every attempt, and a deadline on the whole call with its retries; the caller's
 * X-Call-Id passed on, so one checkout can be followed through the logs. Every answer is
 * validated with the functions' own schemas: a malformed one is a dependency failure, never data.
 *
 * Retries wait a random time that grows with each attempt (exponential backoff, full jitter),
 * and at least what a refusal's Retry-After asks, and only while the deadline leaves room for
 * another attempt. A call refused before it ran (429 from the gateway or a full watchdog, 503
 * from a gateway with no replica ready) is safe to send again whatever it does; other failures
 * (no answer, 502, 503 from the function, 504) only for calls the caller marks idempotent. A
 * caller that passes refusals on to its own caller instead (the storefront, which tells the
 * shopper when to come back) turns refusals' retries off.
 */
import got, { type Got, type Response } from 'got';
import { Agent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { z } from './zod';
import { retryAfterSeconds } from './duration';
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
  /** When the caller stops waiting (ms since the epoch): no attempt runs past it. */
  deadline?: number;
}

export interface GatewayClient {
  call<T>(fn: string, request: FunctionCall, schema: z.ZodType<T>): Promise<T>;
}

export interface GatewayOptions {
  baseUrl: string;
  /** Per attempt. */
  timeoutMs?: number;
  /** Retries after a failure (no answer, 502, 504...) at most, within the deadline; a refusal is retried while the deadline allows. */
  retries?: number;
  /** A call's deadline when the caller gives none: this long after it starts. */
  budgetMs?: number;
  /** Retry 429 and 503 (default); off, they fail at once with their Retry-After in the details. */
  retryRefusals?: boolean;
  /** Error statuses whose code and message mean something to the caller; others become 503. */
  passThrough?: readonly number[];
  /** Told of every attempt: its function, HTTP status (0: no answer) and duration. */
  onCall?: (fn: string, status: number, seconds: number) => void;
}

/**
 * What a failed call's details say besides the function and status: the upstream error's code and
 * details, whether it was refused before it ran (nothing happened, nothing to undo), how long the
 * refusal asked to wait, and whether the call's deadline ran out.
 */
export interface CallFailure {
  function: string;
  /** 0: no answer. */
  status: number;
  code?: string;
  upstream?: unknown;
  refused?: true;
  retryAfterSeconds?: number;
  outOfTime?: true;
}

/** Backoff: the first retry waits up to BASE_MS, each next one up to twice as long, never more than CAP_MS (plus a refusal's Retry-After). */
const BASE_MS = 50;
const CAP_MS = 1_000;
/** An attempt with less time than this left is not started. */
const MIN_ATTEMPT_MS = 100;
/** Attempts of one call at most, refusals included. */
const ATTEMPTS = 10;
const REFUSALS = new Set([429, 503]);
const FAILURES = new Set([408, 502, 504]);

/** Refused before it ran: the gateway or the watchdog turned it away, the function never saw it. */
const refusedUnrun = (status: number, body: unknown) => status === 429 || (status === 503 && !ErrorBody.safeParse(body).success);

export function createGatewayClient(options: GatewayOptions): GatewayClient {
  const retries = options.retries ?? 2;
  const timeoutMs = options.timeoutMs ?? 2_500;
  const budgetMs = options.budgetMs ?? timeoutMs * (retries + 1);
  const retryRefusals = options.retryRefusals ?? true;
  const passThrough = new Set(options.passThrough ?? [404, 409]);
  const http: Got = got.extend({
    prefixUrl: options.baseUrl.replace(/\/+$/, ''),
    agent: { http: new Agent({ keepAlive: true, maxSockets: 128 }), https: new HttpsAgent({ keepAlive: true, maxSockets: 128 }) },
    retry: { limit: 0 },
    throwHttpErrors: false,
    responseType: 'text',
  });

  type Attempt<T> = { ok: true; value: T } | { ok: false; failure: ShopError; retryable: boolean; refused?: boolean; waitMs?: number; timedOut?: boolean };

  async function attempt<T>(fn: string, request: FunctionCall, schema: z.ZodType<T>, deadline: number): Promise<Attempt<T>> {
    const started = process.hrtime.bigint();
    const observe = (status: number) => options.onCall?.(fn, status, Number(process.hrtime.bigint() - started) / 1e9);
    const left = deadline - Date.now();
    const timeout = Math.max(1, Math.min(timeoutMs, left));
    let response: Response<string>;
    try {
      response = await http(`function/${fn}`, {
        method: request.method ?? 'GET',
        searchParams: request.query ? definedOnly(request.query) : undefined,
        json: request.body,
        headers: { ...request.headers, ...(request.callId ? { 'x-call-id': request.callId } : {}) },
        timeout: { request: timeout },
      });
    } catch (error) {
      observe(0);
      const timedOut = (error as { code?: unknown }).code === 'ETIMEDOUT';
      const details: CallFailure = { function: fn, status: 0, ...(timedOut && timeout >= left ? { outOfTime: true } : {}) };
      return { ok: false, failure: unavailable(`${fn} could not be reached`, { ...details, reason: (error as Error).message }), retryable: request.idempotent === true, timedOut };
    }
    const status = response.statusCode;
    observe(status);
    const parsed = parseJson(response.body);
    if (status >= 200 && status < 300) {
      const result = schema.safeParse(parsed);
      if (result.success) return { ok: true, value: result.data };
      throw unavailable(`${fn} sent an answer the shop does not understand`, { function: fn, status } satisfies CallFailure);
    }
    const waitS = REFUSALS.has(status) ? retryAfterSeconds(response.headers['retry-after']) : undefined;
    const refused = refusedUnrun(status, parsed);
    const retryable = REFUSALS.has(status) ? retryRefusals && (refused || request.idempotent === true) : FAILURES.has(status) && request.idempotent === true;
    return { ok: false, failure: fromErrorResponse(fn, status, parsed, passThrough, waitS), retryable, refused, ...(waitS === undefined ? {} : { waitMs: waitS * 1000 }) };
  }

  return {
    async call<T>(fn: string, request: FunctionCall, schema: z.ZodType<T>): Promise<T> {
      const deadline = request.deadline ?? Date.now() + budgetMs;
      for (let n = 0, failures = 0; ; n++) {
        const outcome = await attempt(fn, request, schema, deadline);
        if (outcome.ok) return outcome.value;
        // Refusals are tried again as long as the deadline allows (ATTEMPTS at most), other failures `retries` times.
        if (!outcome.retryable || n + 1 >= ATTEMPTS || (!outcome.refused && ++failures > retries)) throw outcome.failure;
        const pause = Math.max(Math.random() * Math.min(CAP_MS, BASE_MS * 2 ** n), outcome.waitMs ?? 0);
        if (Date.now() + pause + MIN_ATTEMPT_MS > deadline) throw outcome.timedOut ? outOfTime(outcome.failure) : outcome.failure;
        await new Promise((resolve) => setTimeout(resolve, pause));
      }
    },
  };
}

/** A failure the call's deadline ended: no time was left for another attempt. */
const outOfTime = (failure: ShopError): ShopError => ({ ...failure, details: { ...(failure.details as CallFailure), outOfTime: true } });

export interface InventoryClient {
  reserve(orderId: string, items: readonly OrderLineRequest[], call?: { callId?: string; deadline?: number }): Promise<Reservation>;
  release(orderId: string, callId?: string): Promise<Release>;
}

/** The internal inventory functions, called with the shop-internal-token (read on each call, so a rotated secret applies at once). */
export function createInventoryClient(options: GatewayOptions & { token: () => string | undefined }): InventoryClient {
  const gateway = createGatewayClient({ ...options, passThrough: [404, 409] });
  const post = <T>(fn: string, body: unknown, schema: z.ZodType<T>, call: { callId?: string; deadline?: number } = {}) => {
    const token = options.token();
    if (!token) throw shopError(503, 'NOT_CONFIGURED', 'The shop-internal-token secret is not mounted');
    // Both are idempotent per order id, so a lost answer can safely be asked for again.
    return gateway.call(fn, { method: 'POST', body, headers: { authorization: `Bearer ${token}` }, ...call, idempotent: true }, schema);
  };
  return {
    reserve: (orderId, items, call) => post('inventory-reserve', { orderId, items }, Reservation, call),
    release: (orderId, callId) => post('inventory-release', { orderId }, Release, { callId }),
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

/**
 * The caller's view of a failed answer: the upstream error itself for the statuses the caller
 * passes on; otherwise a dependency failure whose details (CallFailure) say whether the call was
 * refused before it ran (nothing happened: the caller may answer "busy" with nothing to undo) and
 * how long the refusal asked to wait.
 */
function fromErrorResponse(fn: string, status: number, body: unknown, passThrough: ReadonlySet<number>, waitS?: number): ShopError {
  const error = ErrorBody.safeParse(body);
  if (error.success && passThrough.has(status)) {
    const { code, message, details } = error.data.error;
    return shopError(status, code as ErrorCode, message, details);
  }
  const details: CallFailure = {
    function: fn,
    status,
    ...(error.success ? { code: error.data.error.code, ...(error.data.error.details === undefined ? {} : { upstream: error.data.error.details }) } : {}),
    ...(refusedUnrun(status, body) ? { refused: true } : {}),
    ...(waitS === undefined ? {} : { retryAfterSeconds: waitS }),
  };
  return unavailable(`${fn} answered ${status}`, details);
}
