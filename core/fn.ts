/**
 * Turns a function's spec into a node20 handler that never lets an error escape.
 *
 * The template answers 200 with "Error: ..." when a handler throws, so every outcome here,
 * success or failure, is chosen explicitly: status, JSON body, Content-Type. This is also the
 * one place where errors become responses.
 *
 * Functions run with RAW_BODY=true (stack.yml), so the body arrives as bytes and is parsed
 * here: malformed or oversized JSON gets a JSON error, not the template's HTML page.
 */
import { randomUUID } from 'node:crypto';
import type { z } from './zod';
import { errorBody, invalidInput, shopError, toShopError, type ShopError } from './errors';
import { logger, type LogFields } from './log';
import type { FunctionEvent, Node20Handler, PreparedHandler } from './node20';
import { SECRET_NAMES, readSecret, sameSecret } from './secrets';
import { openStore } from './store/open';
import type { ShopStore } from './store/store';

export const MAX_BODY_BYTES = 64 * 1024;

export interface Call {
  callId: string;
  store(): Promise<ShopStore>;
  now(): string;
  log(msg: string, fields?: LogFields): void;
}

export interface Reply {
  status?: number;
  body: unknown;
  headers?: Record<string, string>;
}

export interface FunctionSpec<S extends z.ZodType> {
  name: string;
  method: 'GET' | 'POST';
  /** internal: shop-internal-token; admin: shop-admin-token. */
  auth?: 'internal' | 'admin';
  schema: S;
  /** The value the schema checks; by default the query (GET) or the JSON body (POST). */
  input?: (event: FunctionEvent, body: unknown) => unknown;
  /** false: a POST that takes no body (the cron-connector sends an empty one); any body is refused. */
  readsBody?: false;
  run(input: z.infer<S>, call: Call): Promise<Reply>;
}

export function defineFunction<S extends z.ZodType>(spec: FunctionSpec<S>): PreparedHandler {
  const handler: Node20Handler = async (event, context) => {
    const callId = headerValue(event, 'x-call-id') ?? randomUUID();
    let reply: Reply;
    try {
      reply = await handle(spec, event, callId);
    } catch (error) {
      const failure = toShopError(error);
      if (failure.status >= 500) logFailure(spec.name, callId, failure, error);
      reply = {
        status: failure.status,
        body: errorBody(failure),
        headers: { ...(failure.status === 401 ? { 'WWW-Authenticate': 'Bearer' } : {}), ...(failure.retryAfterSeconds ? { 'Retry-After': String(failure.retryAfterSeconds) } : {}) },
      };
    }
    context.status(reply.status ?? 200);
    context.headers({ 'Content-Type': 'application/json; charset=utf-8', 'Cache-Control': 'no-store', 'X-Call-Id': callId, ...reply.headers });
    context.succeed(JSON.stringify(reply.body));
  };
  return Object.assign(handler, { prepare: async () => openStore() });
}

async function handle<S extends z.ZodType>(spec: FunctionSpec<S>, event: FunctionEvent, callId: string): Promise<Reply> {
  if (event.method !== spec.method) {
    throw shopError(405, 'METHOD_NOT_ALLOWED', `${spec.name} accepts ${spec.method} only`);
  }
  if (spec.auth) authorize(event, spec.auth);
  if (spec.readsBody === false && Buffer.isBuffer(event.body) && event.body.length > 0) throw invalidInput(`${spec.name} takes no body`);
  const body = spec.method === 'POST' && spec.readsBody !== false ? readJsonBody(event) : undefined;
  const raw = spec.input ? spec.input(event, body) : spec.method === 'GET' ? event.query : body;
  const parsed = spec.schema.safeParse(raw);
  if (!parsed.success) {
    throw invalidInput(
      'The request is not valid',
      parsed.error.issues.map((i) => ({ path: i.path.map(String), message: i.message })),
    );
  }
  return spec.run(parsed.data, callContext(spec.name, callId));
}

function callContext(fn: string, callId: string): Call {
  return {
    callId,
    store: () => openStore(),
    now: () => new Date().toISOString(),
    log: (msg, fields) => logger.info({ function: fn, callId, ...fields }, msg),
  };
}

function headerValue(event: FunctionEvent, name: string): string | undefined {
  const value = event.headers[name];
  return typeof value === 'string' && value.length > 0 && value.length <= 200 ? value : undefined;
}

function authorize(event: FunctionEvent, kind: 'internal' | 'admin'): void {
  const secretName = kind === 'internal' ? SECRET_NAMES.internalToken : SECRET_NAMES.adminToken;
  const expected = readSecret(secretName);
  if (!expected) throw shopError(503, 'NOT_CONFIGURED', `The ${secretName} secret is not mounted`);
  const match = /^Bearer ([^\s]+)$/.exec(event.headers.authorization ?? '');
  if (!match?.[1]) throw shopError(401, 'UNAUTHENTICATED', 'Send Authorization: Bearer <token>');
  if (!sameSecret(match[1], expected)) throw shopError(403, 'FORBIDDEN', 'That token does not grant this call');
}

/** The body as a JSON object: bytes under RAW_BODY=true, or whatever the template parsed otherwise. */
function readJsonBody(event: FunctionEvent): unknown {
  const type = String(event.headers['content-type'] ?? '');
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw shopError(415, 'UNSUPPORTED_MEDIA_TYPE', 'Send a JSON body with Content-Type: application/json');
  }
  let value: unknown = event.body;
  if (Buffer.isBuffer(value)) {
    if (value.length > MAX_BODY_BYTES) throw shopError(413, 'PAYLOAD_TOO_LARGE', `A request body is at most ${MAX_BODY_BYTES} bytes`);
    try {
      value = JSON.parse(value.toString('utf8'));
    } catch {
      throw invalidInput('The body is not valid JSON');
    }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw invalidInput('The body must be a JSON object');
  return value;
}

function logFailure(fn: string, callId: string, failure: ShopError, error: unknown): void {
  logger.error(
    {
      function: fn,
      callId,
      code: failure.code,
      status: failure.status,
      ...(failure.code === 'INTERNAL' && error instanceof Error ? { error: error.message, stack: error.stack } : {}),
    },
    failure.message,
  );
}
