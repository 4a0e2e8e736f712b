/**
 * The contract of the official OpenFaaS node20 template (template/node20/index.js): the
 * template requires `function/handler.js` and calls `await handler(event, context)`.
 * The local runtime (runtime/node20.ts) implements it; core/fn.ts builds handlers for it.
 */
import type { IncomingHttpHeaders } from 'node:http';

export interface FunctionEvent {
  /** A Buffer with RAW_BODY=true; else parsed JSON, a string for text/*, or {} when there is no body. */
  body: unknown;
  headers: IncomingHttpHeaders;
  method: string;
  /** Parsed by Express 4's qs: values can be strings, arrays or nested objects. */
  query: Record<string, unknown>;
  /** What follows /function/NAME. */
  path: string;
}

export interface FunctionContext {
  status(code?: number): unknown;
  /** Replaces the whole header map. */
  headers(values?: Record<string, string>): unknown;
  succeed(value: unknown): void;
  fail(value: unknown): void;
}

export type Node20Handler = (event: FunctionEvent, context: FunctionContext, callback?: unknown) => unknown;

/**
 * A shop function's handler also opens what its calls need ahead of them (`prepare`): the local
 * runtime's replica awaits it before it says it is ready. The template never calls it; in the
 * cluster the first call opens the store.
 */
export type PreparedHandler = Node20Handler & { prepare(): Promise<unknown> };
