/**
 * The OpenFaaS node20 template, re-implemented for the local runtime with the same parts
 * (Express 4, installed as express4; body-parser) and the same behaviour, traps included:
 * - no Content-Type means text/plain; JSON over MAX_JSON_SIZE (100kb) is 413, malformed
 *   JSON is 400, both as Express's HTML error page;
 * - RAW_BODY=true hands every body over as a Buffer (limit MAX_RAW_SIZE);
 * - an object or array result is sent as JSON text, with Content-Type text/html unless the
 *   handler set one;
 * - a handler that rejects answers 200 (or the status it set) with "Error: ...";
 *   fail() answers 500 with the value's toString().
 * A handler that passes here behaves the same inside the template's image.
 */
import bodyParser from 'body-parser';
import express, { type Request, type Response } from 'express4';
import type { FunctionContext, FunctionEvent, Node20Handler } from '../core/node20';

export interface TemplateEnv {
  RAW_BODY?: string;
  MAX_RAW_SIZE?: string;
  MAX_JSON_SIZE?: string;
}

const BODY_PARSER_DEFAULT_LIMIT = '100kb';
const METHODS = ['post', 'get', 'patch', 'put', 'delete', 'options'] as const;

const isPlainArrayOrObject = (v: unknown) =>
  !!v && ((v as object).constructor === Array || (v as object).constructor === Object);

type Callback = (error: unknown, result?: unknown) => void;

class Context implements FunctionContext {
  statusCode = 200;
  headerValues: Record<string, string> = {};
  callbackCalls = 0;

  constructor(private readonly callback: Callback) {}

  status(code?: number): unknown {
    if (!code) return this.statusCode;
    this.statusCode = code;
    return this;
  }

  headers(values?: Record<string, string>): unknown {
    if (!values) return this.headerValues;
    this.headerValues = values;
    return this;
  }

  succeed(value: unknown): void {
    this.callbackCalls++;
    this.callback(undefined, value);
  }

  fail(value: unknown): void {
    if (this.statusCode === 200) this.statusCode = 500;
    this.callbackCalls++;
    this.callback(value);
  }
}

export function node20App(handler: Node20Handler, env: TemplateEnv = {}): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.use((req, _res, next) => {
    if (!req.headers['content-type']) req.headers['content-type'] = 'text/plain';
    next();
  });
  if (env.RAW_BODY === 'true') {
    app.use(bodyParser.raw({ type: '*/*', limit: env.MAX_RAW_SIZE || BODY_PARSER_DEFAULT_LIMIT }));
  } else {
    app.use(bodyParser.text({ type: 'text/*' }));
    app.use(bodyParser.json({ limit: env.MAX_JSON_SIZE || BODY_PARSER_DEFAULT_LIMIT }));
    app.use(bodyParser.urlencoded({ extended: true }));
  }

  const invoke = (req: Request, res: Response) => {
    const send: Callback = (error, result) => {
      // The watchdog answered already (exec_timeout): in the pod this write goes to a closed connection.
      if (res.headersSent) return;
      if (error) {
        console.error(error);
        const text = (error as { toString?: () => string }).toString ? String(error) : error;
        res.status(context.statusCode).send(text);
        return;
      }
      res.set(context.headerValues).status(context.statusCode);
      res.send(isPlainArrayOrObject(result) ? JSON.stringify(result) : result);
    };
    const event: FunctionEvent = { body: req.body, headers: req.headers, method: req.method, query: req.query as Record<string, unknown>, path: req.path };
    const context = new Context(send);
    let outcome: Promise<unknown>;
    try {
      outcome = Promise.resolve(handler(event, context, send));
    } catch (error) {
      // In the template (an async middleware) this is an unhandled rejection that ends the
      // replica's process; here it must not end every function, so it answers 500 and says so.
      console.error('node20: the handler threw synchronously; in the cluster this crashes the replica', error);
      res.status(500).send(String(error));
      return;
    }
    outcome
      .then((result) => {
        if (!context.callbackCalls) context.succeed(result);
      })
      .catch((error: unknown) => send(error));
  };
  for (const method of METHODS) app[method]('/*', invoke);
  return app;
}
