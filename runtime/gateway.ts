/**
 * The OpenFaaS gateway's HTTP API on the local runtime, route for route as openfaas/faas
 * gateway/main.go and faas-provider serve them, so faas-cli works against it as against VM 2:
 *   /function/NAME[.openfaas-fn][/path]   any method, open                  runtime/invoke.ts
 *   /async-function/NAME[...]             POST, open: 202 + X-Call-Id      runtime/queue.ts
 *                                         (429 when the queue is full)
 *   /healthz, /metrics                    open
 *   /system/info, /system/functions (GET POST PUT DELETE), /system/function/NAME,
 *   /system/scale-function/NAME, /system/secrets (GET POST PUT DELETE), /system/logs,
 *   /system/namespaces                    basic auth (admin)                 runtime/provider.ts
 *   GET /system/functions, POST /system/scale-function/NAME  also the `scaler` user (403 elsewhere)
 *   GET /system/metrics-window            basic auth, admin or scaler: the local runtime's own,
 *                                         the last 15 minutes per function   runtime/metrics-window.ts
 *   /system/dead-letters[/ID]             basic auth: the local runtime's own runtime/dead-letters.ts
 * A known path with another method answers 405, an unknown one 404, both before auth, as the
 * gateway's router does.
 */
import http, { type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import basicAuth from 'basic-auth';
import getRawBody from 'raw-body';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Logger } from '../core/log';
import { toShopError } from '../core/errors';
import { sameSecret } from '../core/secrets';
import { acceptOnMore } from '../frontend/accept';
import { refuseCallback, type CallbackPolicy } from './callbacks';
import { deleteDeadLetter, listDeadLetters, retryDeadLetter } from './dead-letters';
import { FaultPlan, type Faults } from './faults';
import { invoke } from './invoke';
import { NAMESPACE } from './deployments';
import type { FunctionLogs, LogQuery } from './logs';
import type { MetricsWindow } from './metrics-window';
import type { Answer, LocalProvider } from './provider';
import type { AsyncQueue } from './queue';
import type { Autoscaler } from './scaling';

export interface GatewayOptions {
  port: number;
  host?: string;
  /** Password of the `admin` user for /system/*. */
  basicAuthPassword: string;
  /**
   * Password of the `scaler` user, who may list functions and scale them and nothing else (the
   * storefront's operator page): 403 on every other /system route.
   */
  scalerPassword?: string;
  provider: LocalProvider;
  logs: FunctionLogs;
  queue?: AsyncQueue;
  autoscaler?: Autoscaler;
  /** The last minutes per function, for the operator page (404 when absent). */
  window?: MetricsWindow;
  /** Fault injection, for reliability tests; absent in normal runs. */
  faults?: Faults;
  /** How long a call waits in line when every replica is busy, and for a replica to become ready (runtime/invoke.ts). */
  admission: { busyWaitMs: number; noneReadyWaitMs: number };
  /** Where async calls' results may be POSTed (runtime/callbacks.ts). */
  callbacks: CallbackPolicy;
  /** Largest body an async call may carry (the functions' MAX_RAW_SIZE). */
  maxAsyncBodyBytes: number;
  version: { release: string; sha: string };
  logger: Logger;
  /** What /healthz answers (runtime/health.ts); "OK" when absent. */
  health?: () => Answer;
}

export interface Gateway {
  url: string;
  metrics: Registry;
  /** Stops accepting calls, lets calls in flight finish, then closes. */
  close(): Promise<void>;
}

/** `search` is the query part of the URL, with its '?'. */
type Handler = (req: IncomingMessage, res: ServerResponse, match: RegExpExecArray, search: string) => void | Promise<void>;
interface Route {
  path: RegExp;
  methods: readonly string[] | 'any';
  auth: boolean;
  /** Methods the `scaler` user may use here (none when absent). */
  scaler?: readonly string[];
  handle: Handler;
}

const NAME = '([-a-zA-Z_0-9.]+)';

/** Whether the `namespace` query parameter names one other than openfaas-fn (the only one CE has). */
function otherNamespace(search: string): boolean {
  const namespace = new URLSearchParams(search).get('namespace');
  return !!namespace && namespace !== NAMESPACE;
}
const wrongNamespace: Answer = { status: 400, body: `namespace must be: ${NAMESPACE}\n` };

function send(res: ServerResponse, answer: Answer): void {
  if (answer.body === undefined || typeof answer.body === 'string') {
    res.writeHead(answer.status, answer.body ? { 'Content-Type': 'text/plain; charset=utf-8' } : {});
    return void res.end(answer.body ?? '');
  }
  res.writeHead(answer.status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(answer.body));
}

/** The body, or undefined when it is over `limit` bytes. */
async function readBody(req: IncomingMessage, limit = 1024 * 1024): Promise<Buffer | undefined> {
  try {
    return await getRawBody(req, { limit });
  } catch (error) {
    if ((error as { type?: string }).type === 'entity.too.large') return undefined;
    throw error;
  }
}

/** The JSON body, or undefined when it is not JSON (each handler answers that its own way). */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const body = await readBody(req);
  try {
    return body && body.length ? JSON.parse(body.toString('utf8')) : undefined;
  } catch {
    return undefined;
  }
}

/** /function/NAME.NAMESPACE/rest?query -> the function, and the path it sees. */
function target(match: RegExpExecArray, search: string): { name: string; namespace: string; path: string } {
  const [name = '', namespace = NAMESPACE] = (match[1] as string).split('.', 2);
  return { name, namespace, path: `${match[2] || '/'}${search}` };
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const { provider, logs } = options;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

  // The OpenFaaS gateway's own metric names, so the same dashboards work locally and in the cluster.
  const metrics = new Registry();
  collectDefaultMetrics({ register: metrics });
  const started = new Counter({ name: 'gateway_function_invocation_started', help: 'Function invocations started', labelNames: ['function_name'], registers: [metrics] });
  const invocations = new Counter({ name: 'gateway_function_invocation_total', help: 'Function invocations by function and status code', labelNames: ['function_name', 'code'], registers: [metrics] });
  const seconds = new Histogram({ name: 'gateway_functions_seconds', help: 'Function call duration in seconds', labelNames: ['function_name', 'code'], registers: [metrics] });
  new Gauge({
    name: 'gateway_service_count',
    help: 'Replicas of each function',
    labelNames: ['function_name'],
    registers: [metrics],
    collect() {
      this.reset();
      for (const fn of provider.list()) this.set({ function_name: `${fn.name}.${NAMESPACE}` }, fn.replicas);
    },
  });

  // Each label set's child metric, kept: the hot path then skips hashing labels on every call.
  type Child<M extends { labels: (...args: never[]) => unknown }> = ReturnType<M['labels']>;
  const startedBy = new Map<string, Child<typeof started>>();
  const finishedBy = new Map<string, { invocations: Child<typeof invocations>; seconds: Child<typeof seconds> }>();
  const finishedFor = (name: string, code: number) => {
    const key = `${name} ${code}`;
    let children = finishedBy.get(key);
    if (!children) {
      const labels = { function_name: `${name}.${NAMESPACE}`, code: String(code) };
      finishedBy.set(key, (children = { invocations: invocations.labels(labels), seconds: seconds.labels(labels) }));
    }
    return children;
  };
  const invokeDeps = {
    replicasOf: (name: string) => provider.replicasOf(name),
    agent,
    admission: options.admission,
    faults: options.faults,
    started: (name: string) => {
      let child = startedBy.get(name);
      if (!child) startedBy.set(name, (child = started.labels({ function_name: `${name}.${NAMESPACE}` })));
      child.inc();
    },
    finished: (name: string, status: number, duration: number, fields: { callId: string; method: string; path: string }) => {
      const children = finishedFor(name, status);
      children.invocations.inc();
      children.seconds.observe(duration);
      provider.counted(name);
      options.autoscaler?.record(name, status);
      options.window?.record(name, status, duration);
      // Checked first: the fields are not even built when info is off (the hot path).
      if (options.logger.isLevelEnabled('info')) options.logger.info({ function: name, ...fields, status, durationMs: Math.round(duration * 100_000) / 100 }, 'call');
    },
  };

  const functionStatusRoute: Handler = (_req, res, match, search) => {
    if (otherNamespace(search)) return send(res, wrongNamespace);
    const status = provider.status(match[1] as string);
    send(res, status ? { status: 200, body: status } : { status: 404 });
  };

  const routes: Route[] = [
    {
      path: new RegExp(`^/function/${NAME}(/.*)?$`),
      methods: 'any',
      auth: false,
      handle: (req, res, match, search) => {
        const { name, namespace, path } = target(match, search);
        if (namespace !== NAMESPACE) return send(res, { status: 404, body: `Cannot find service: ${name}.${namespace}.` });
        return invoke(req, res, name, path, invokeDeps);
      },
    },
    {
      path: new RegExp(`^/async-function/${NAME}(/.*)?$`),
      methods: ['POST'],
      auth: false,
      handle: async (req, res, match, search) => {
        const { name, namespace, path } = target(match, search);
        if (!options.queue) return send(res, { status: 404, body: '404 page not found\n' });
        if (namespace !== NAMESPACE || !provider.replicasOf(name)) return send(res, { status: 404, body: `Function not found: ${name}` });
        const callback = req.headers['x-callback-url'];
        const callbackUrl = typeof callback === 'string' && callback ? callback : undefined;
        const refused = callbackUrl && refuseCallback(callbackUrl, options.callbacks);
        if (refused) return send(res, { status: 400, body: refused });
        const body = await readBody(req, options.maxAsyncBodyBytes);
        if (!body) return send(res, { status: 413, body: 'http: request body too large' });
        const headers = Object.fromEntries(Object.entries(req.headers).filter((e): e is [string, string] => typeof e[1] === 'string'));
        const kept = await options.queue.accept({ function: name, path, headers, body, callbackUrl });
        if (!kept.accepted) {
          res.writeHead(429, { 'Content-Type': 'text/plain; charset=utf-8', 'Retry-After': '10' });
          return void res.end(`the async queue holds ${kept.pending} calls, its limit (QUEUE_MAX_PENDING): try again later\n`);
        }
        res.writeHead(202, { 'X-Call-Id': kept.callId });
        res.end();
      },
    },
    {
      path: /^\/system\/dead-letters$/,
      methods: ['GET'],
      auth: true,
      handle: async (_req, res, _match, search) => send(res, options.queue ? await listDeadLetters(options.queue, search) : { status: 404 }),
    },
    {
      path: /^\/system\/dead-letters\/([-a-zA-Z0-9]{1,64})$/,
      methods: ['POST', 'DELETE'],
      auth: true,
      handle: async (req, res, match) => {
        const id = match[1] as string;
        if (!options.queue) return send(res, { status: 404 });
        send(res, req.method === 'POST' ? await retryDeadLetter(options.queue, id) : await deleteDeadLetter(options.queue, id));
      },
    },
    {
      path: /^\/system\/metrics-window$/,
      methods: ['GET'],
      auth: true,
      scaler: ['GET'],
      handle: (_req, res) => send(res, options.window ? { status: 200, body: options.window.snapshot() } : { status: 404 }),
    },
    { path: /^\/healthz$/, methods: ['GET', 'HEAD'], auth: false, handle: (_req, res) => send(res, options.health?.() ?? { status: 200, body: 'OK' }) },
    {
      path: /^\/metrics$/,
      methods: ['GET'],
      auth: false,
      handle: async (_req, res) => {
        res.writeHead(200, { 'Content-Type': metrics.contentType });
        res.end(await metrics.metrics());
      },
    },
    {
      path: /^\/system\/info$/,
      methods: ['GET'],
      auth: true,
      handle: (_req, res) =>
        send(res, {
          status: 200,
          body: {
            provider: { provider: 'openfaas-shop local runtime', orchestration: 'processes', version: options.version },
            version: options.version,
            arch: process.arch === 'x64' ? 'x86_64' : process.arch,
          },
        }),
    },
    {
      path: /^\/system\/functions$/,
      methods: ['GET', 'POST', 'PUT', 'DELETE'],
      auth: true,
      scaler: ['GET'],
      handle: async (req, res, _match, search) => {
        if (otherNamespace(search)) return send(res, wrongNamespace);
        if (req.method === 'GET') return send(res, { status: 200, body: provider.list() });
        const body = await readJson(req);
        if (req.method === 'POST') return send(res, provider.deploy(body));
        if (req.method === 'PUT') return send(res, provider.update(body));
        return send(res, await provider.remove(body));
      },
    },
    { path: new RegExp(`^/system/function/${NAME}$`), methods: ['GET'], auth: true, handle: functionStatusRoute },
    {
      path: new RegExp(`^/system/scale-function/${NAME}$`),
      methods: ['POST'],
      auth: true,
      scaler: ['POST'],
      handle: async (req, res, match, search) => send(res, otherNamespace(search) ? wrongNamespace : provider.scale(match[1] as string, await readJson(req))),
    },
    {
      path: /^\/system\/secrets$/,
      methods: ['GET', 'POST', 'PUT', 'DELETE'],
      auth: true,
      handle: async (req, res, _match, search) => {
        if (otherNamespace(search)) return send(res, { status: 400 });
        if (req.method === 'GET') return send(res, provider.listSecrets());
        const body = await readJson(req);
        if (req.method === 'DELETE') return send(res, provider.deleteSecret(body));
        return send(res, provider.writeSecret(body, req.method === 'POST' ? 'create' : 'update'));
      },
    },
    { path: /^\/system\/logs$/, methods: ['GET'], auth: true, handle: (req, res, _match, search) => (otherNamespace(search) ? send(res, wrongNamespace) : streamLogs(req, res, logs, provider, following)) },
    { path: /^\/system\/namespaces$/, methods: ['GET'], auth: true, handle: (_req, res) => send(res, { status: 200, body: [NAMESPACE] }) },
  ];
  if (options.faults) {
    const faults = options.faults;
    routes.push({
      path: /^\/system\/faults$/,
      methods: ['GET', 'POST', 'DELETE'],
      auth: true,
      handle: async (req, res) => {
        if (req.method === 'DELETE') faults.clear();
        if (req.method === 'POST') {
          const plan = FaultPlan.safeParse(await readJson(req));
          if (!plan.success) return send(res, { status: 400, body: 'POST a fault plan (runtime/faults.ts)' });
          faults.set(plan.data);
        }
        send(res, { status: 200, body: { injected: faults.injected, pending: faults.pending } });
      },
    });
  }

  /** Who the caller is: the admin, the scaler, or nobody. */
  const caller = (req: IncomingMessage): 'admin' | 'scaler' | undefined => {
    const credentials = basicAuth(req);
    if (credentials?.name === 'admin' && sameSecret(credentials.pass, options.basicAuthPassword)) return 'admin';
    if (credentials?.name === 'scaler' && options.scalerPassword && sameSecret(credentials.pass, options.scalerPassword)) return 'scaler';
    return undefined;
  };

  /** Followed log streams: ended when the gateway closes, or they would keep it open for ever. */
  const following = new Set<ServerResponse>();
  let inflight = 0;
  let closing = false;
  const server: Server = http.createServer((req, res) => {
    inflight++;
    res.once('close', () => inflight--);
    if (closing) res.setHeader('Connection', 'close');
    const url = req.url ?? '/';
    const queryAt = url.indexOf('?');
    const pathOnly = queryAt < 0 ? url : url.slice(0, queryAt);
    const search = queryAt < 0 ? '' : url.slice(queryAt);
    let known = false;
    for (const route of routes) {
      const match = route.path.exec(pathOnly);
      if (!match) continue;
      known = true;
      if (route.methods !== 'any' && !route.methods.includes(req.method ?? '')) continue;
      const who = route.auth ? caller(req) : 'admin';
      if (!who) {
        res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="Restricted"' });
        return void res.end('invalid credentials');
      }
      if (who === 'scaler' && !route.scaler?.includes(req.method ?? '')) return send(res, { status: 403, body: 'the scaler may only list and scale functions, and read their metrics window\n' });
      return void Promise.resolve(route.handle(req, res, match, search)).catch((error: unknown) => {
        options.logger.error({ path: pathOnly, error: String(error) }, 'gateway error');
        if (res.headersSent) return void res.destroy();
        // The store busy or unable to write (the async queue, dead letters): 503 with when to come back, never 500.
        const failure = toShopError(error);
        if (failure.status !== 503) return send(res, { status: 500, body: 'Internal Server Error' });
        res.writeHead(503, { 'Content-Type': 'text/plain; charset=utf-8', 'Retry-After': String(failure.retryAfterSeconds ?? 1) });
        res.end(`${failure.message}\n`);
      });
    }
    if (known) {
      res.writeHead(405);
      return void res.end();
    }
    send(res, { status: 404, body: '404 page not found\n' });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  // New callers taken several per turn of the event loop under a rush, as the Go gateway takes them (frontend/accept.ts).
  const more = acceptOnMore(server);

  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    metrics,
    async close() {
      closing = true;
      for (const stream of following) stream.end();
      const closed = Promise.all([new Promise((resolve) => server.close(resolve)), more.close()]);
      server.closeIdleConnections();
      while (inflight > 0) await new Promise((r) => setTimeout(r, 20));
      server.closeAllConnections();
      await closed;
      agent.destroy();
    },
  };
}

/**
 * GET /system/logs?name=&instance=&since=&tail=&follow=: newline-delimited JSON messages, as the
 * provider streams them (faas-provider logs/handler.go); with follow, until the caller leaves.
 */
function streamLogs(req: IncomingMessage, res: ServerResponse, logs: FunctionLogs, provider: LocalProvider, following: Set<ServerResponse>): void {
  const query = new URL(req.url ?? '/', 'http://gateway').searchParams;
  const last = (key: string) => query.getAll(key).at(-1) ?? '';
  const tail = last('tail');
  const since = last('since');
  const request: LogQuery = {
    name: last('name'),
    instance: last('instance') || undefined,
    tail: tail ? Number(tail) : undefined,
    since: since ? new Date(since) : undefined,
    follow: ['1', 't', 'T', 'TRUE', 'true', 'True'].includes(last('follow')),
  };
  if ((tail && !/^-?\d+$/.test(tail)) || (since && Number.isNaN(request.since?.getTime()))) return send(res, { status: 422, body: 'could not parse the log request\n' });
  if (!provider.replicasOf(request.name)) return send(res, { status: 500, body: 'function log request failed\n' });
  res.writeHead(200, { 'Content-Type': 'application/x-ndjson', Connection: 'Keep-Alive' });
  for (const message of logs.history(request)) res.write(`${JSON.stringify(message)}\n`);
  if (!request.follow) return void res.end();
  // A follower with no history yet still gets its answer's head now, as the provider flushes it.
  res.flushHeaders();
  const stop = logs.follow(request, (message) => res.write(`${JSON.stringify(message)}\n`));
  following.add(res);
  res.once('close', () => {
    stop();
    following.delete(res);
  });
}
