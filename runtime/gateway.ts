/**
 * An OpenFaaS-compatible gateway for the local runtime. Like the real one it serves
 *   /function/NAME[/path]   any method, proxied to the function
 *   /healthz                open
 *   GET /system/functions, GET /system/function/NAME   basic auth (admin)
 *   GET /metrics            Prometheus metrics with the gateway's own names (open, as the
 *                           real gateway's metrics port is inside the cluster)
 * and adds X-Call-Id, X-Start-Time and X-Forwarded-* to each call.
 *
 * Each function runs in its own node20 template app on a loopback port, as the watchdog's
 * upstream does in a pod, and the gateway proxies to it, applying the watchdog's
 * exec_timeout (504) and max_inflight (429) from the function's environment.
 */
import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { logLine } from '../core/log';
import { Counter, Gauge, Histogram, PROMETHEUS_CONTENT_TYPE, Registry } from '../core/metrics';
import type { Node20Handler } from '../core/node20';
import { sameSecret } from '../core/secrets';
import { FaultPlan, type Faults } from './faults';
import { node20App } from './node20';
import type { StackFunction } from './stack';

export interface LoadedFunction {
  name: string;
  spec: StackFunction;
  handler: Node20Handler;
}

export interface GatewayOptions {
  port: number;
  host?: string;
  /** Password of the `admin` user for /system/*. */
  basicAuthPassword: string;
  /** Fault injection, for reliability tests; absent in normal runs. */
  faults?: Faults;
}

export interface Gateway {
  url: string;
  /** Stops accepting calls, lets calls in flight finish, then closes. */
  close(): Promise<void>;
}

interface Upstream {
  fn: LoadedFunction;
  server: Server;
  port: number;
  execTimeoutMs: number;
  maxInflight: number;
  inflight: number;
  invocationCount: number;
}

const DEFAULT_EXEC_TIMEOUT_MS = 10_000;

/** Go-style durations as the watchdog reads them: "10s", "1m30s", "500ms"; a bare number is seconds. */
export function parseDuration(text: string | undefined, fallbackMs: number): number {
  if (!text) return fallbackMs;
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let match: RegExpExecArray | null;
  let consumed = 0;
  while ((match = re.exec(text))) {
    total += Number(match[1]) * (units[match[2] as string] ?? 0);
    consumed = re.lastIndex;
  }
  return consumed === text.length && total > 0 ? total : fallbackMs;
}

async function listen(server: Server, port: number, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return (server.address() as AddressInfo).port;
}

async function startUpstream(fn: LoadedFunction): Promise<Upstream> {
  const env = fn.spec.environment ?? {};
  const server = http.createServer(node20App(fn.handler, env));
  server.keepAliveTimeout = 60_000;
  const port = await listen(server, 0, '127.0.0.1');
  return {
    fn,
    server,
    port,
    execTimeoutMs: parseDuration(env.exec_timeout, DEFAULT_EXEC_TIMEOUT_MS),
    maxInflight: Number(env.max_inflight ?? 0) || 0,
    inflight: 0,
    invocationCount: 0,
  };
}

export async function startGateway(functions: readonly LoadedFunction[], options: GatewayOptions): Promise<Gateway> {
  const upstreams = new Map<string, Upstream>();
  for (const fn of functions) upstreams.set(fn.name, await startUpstream(fn));
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  // The OpenFaaS gateway's own metric names, so the same dashboards work locally and in the cluster.
  const metrics = new Registry();
  const started = metrics.register(new Counter('gateway_function_invocation_started', 'Function invocations started, by function'));
  const invocations = metrics.register(new Counter('gateway_function_invocation_total', 'Function invocations by function and status code'));
  const seconds = metrics.register(new Histogram('gateway_functions_seconds', 'Function call duration in seconds'));
  const replicas = metrics.register(new Gauge('gateway_service_count', 'Replicas of each function'));
  const functionName = (name: string) => `${name}.openfaas-fn`;
  for (const name of upstreams.keys()) replicas.set({ function_name: functionName(name) }, 1);
  let inflight = 0;
  let closing = false;

  const server = http.createServer((req, res) => {
    inflight++;
    res.on('close', () => inflight--);
    if (closing) res.setHeader('Connection', 'close');
    route(req, res);
  });
  server.keepAliveTimeout = 60_000;

  function route(req: IncomingMessage, res: ServerResponse): void {
    // The hot path: /function/NAME[/path][?query], matched without building a URL object.
    const fnMatch = /^\/function\/([^/?]+)(\/[^?]*)?(\?.*)?$/.exec(req.url ?? '/');
    if (fnMatch) return invoke(req, res, decodeURIComponent(fnMatch[1] as string), `${fnMatch[2] ?? '/'}${fnMatch[3] ?? ''}`);
    const url = new URL(req.url ?? '/', 'http://gateway');
    if (url.pathname === '/healthz' && (req.method === 'GET' || req.method === 'HEAD')) return text(res, 200, 'OK');
    if (url.pathname === '/metrics' && req.method === 'GET') {
      res.writeHead(200, { 'Content-Type': PROMETHEUS_CONTENT_TYPE });
      return void res.end(metrics.render());
    }
    if (url.pathname.startsWith('/system/')) {
      if (!authorized(req)) {
        res.setHeader('WWW-Authenticate', 'Basic realm="Restricted"');
        return text(res, 401, 'Unauthorized');
      }
      if (req.method === 'GET' && url.pathname === '/system/functions') return json(res, 200, [...upstreams.values()].map(describe));
      if (url.pathname === '/system/faults' && options.faults) return void setFaults(req, res, options.faults);
      const one = /^\/system\/function\/([^/]+)$/.exec(url.pathname);
      const upstream = one && upstreams.get(decodeURIComponent(one[1] as string));
      if (req.method === 'GET' && upstream) return json(res, 200, describe(upstream));
      if (one) return text(res, 404, 'function not found');
    }
    return text(res, 404, 'Not Found');
  }

  async function setFaults(req: IncomingMessage, res: ServerResponse, faults: Faults): Promise<void> {
    if (req.method === 'GET') return json(res, 200, { injected: faults.injected, pending: faults.pending });
    if (req.method === 'DELETE') {
      faults.clear();
      return json(res, 200, { injected: faults.injected });
    }
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let body: unknown;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString());
    } catch {
      body = undefined;
    }
    const plan = FaultPlan.safeParse(body);
    if (req.method !== 'POST' || !plan.success) return text(res, 400, 'POST a fault plan (runtime/faults.ts)');
    faults.set(plan.data);
    json(res, 200, { injected: faults.injected });
  }

  function authorized(req: IncomingMessage): boolean {
    const match = /^Basic (.+)$/.exec(req.headers.authorization ?? '');
    if (!match?.[1]) return false;
    const decoded = Buffer.from(match[1], 'base64').toString('utf8');
    return sameSecret(decoded, `admin:${options.basicAuthPassword}`);
  }

  function invoke(req: IncomingMessage, res: ServerResponse, name: string, path: string): void {
    const upstream = upstreams.get(name);
    if (!upstream) return text(res, 404, `error finding function ${name}: not found`);
    if (upstream.maxInflight > 0 && upstream.inflight >= upstream.maxInflight) return text(res, 429, 'Concurrent request limit exceeded');

    const startedAt = process.hrtime.bigint();
    const callId = typeof req.headers['x-call-id'] === 'string' && req.headers['x-call-id'] ? req.headers['x-call-id'] : randomUUID();
    started.inc({ function_name: functionName(name) });
    upstream.inflight++;
    upstream.invocationCount++;
    const headers = {
      ...req.headers,
      'x-call-id': callId,
      'x-start-time': `${Date.now()}000000`, // nanoseconds, as the real gateway sends
      'x-forwarded-for': req.socket.remoteAddress ?? '',
      'x-forwarded-host': req.headers.host ?? '',
    };
    const logCall = (status: number) => {
      const durationMs = Number(process.hrtime.bigint() - startedAt) / 1e6;
      const labels = { function_name: functionName(name), code: String(status) };
      invocations.inc(labels);
      seconds.observe(labels, durationMs / 1000);
      logLine('info', 'call', { function: name, callId, method: req.method, path, status, durationMs: Math.round(durationMs * 100) / 100 });
    };
    const fault = options.faults?.forFunction(name);
    if (fault?.status || fault?.drop) {
      upstream.inflight--;
      if (fault.status) text(res, fault.status, `injected fault: ${name} answered ${fault.status}`, callId);
      else res.destroy();
      return logCall(fault.status ?? 502);
    }

    let done = false;
    const finish = (status: number) => {
      if (done) return;
      done = true;
      upstream.inflight--;
      clearTimeout(timer);
      logCall(status);
    };
    const proxied = http.request({ host: '127.0.0.1', port: upstream.port, method: req.method, path, headers, agent }, (answer) => {
      const durationSeconds = (Number(process.hrtime.bigint() - startedAt) / 1e9).toFixed(6);
      res.writeHead(answer.statusCode ?? 502, { ...answer.headers, 'x-call-id': callId, 'x-duration-seconds': durationSeconds });
      answer.pipe(res);
      answer.on('end', () => finish(answer.statusCode ?? 502));
      answer.on('error', () => finish(502));
    });
    const timer = setTimeout(() => {
      proxied.destroy();
      if (!res.headersSent) text(res, 504, `Function timed out after ${upstream.execTimeoutMs / 1000}s`, callId);
      else res.destroy();
      finish(504);
    }, upstream.execTimeoutMs);
    proxied.on('error', () => {
      if (done) return;
      if (!res.headersSent) text(res, 502, `Can't reach service for: ${name}.`, callId);
      finish(502);
    });
    res.on('close', () => {
      // The caller went away before the answer: drop the upstream connection, as the real
      // gateway does. The handler itself runs on, as it would in the pod.
      if (done) return;
      proxied.destroy();
      finish(499);
    });
    if (fault?.delayMs) {
      req.pause();
      setTimeout(() => req.pipe(proxied), fault.delayMs);
    } else req.pipe(proxied);
  }

  const port = await listen(server, options.port, options.host ?? '127.0.0.1');
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    async close() {
      closing = true;
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      while (inflight > 0) await new Promise((r) => setTimeout(r, 20));
      server.closeAllConnections();
      await closed;
      agent.destroy();
      await Promise.all(
        [...upstreams.values()].map(
          (u) =>
            new Promise<void>((resolve) => {
              u.server.close(() => resolve());
              u.server.closeAllConnections();
            }),
        ),
      );
    },
  };
}

function describe(u: Upstream) {
  return {
    name: u.fn.name,
    image: u.fn.spec.image,
    namespace: 'openfaas-fn',
    invocationCount: u.invocationCount,
    replicas: 1,
    availableReplicas: 1,
    envProcess: 'node index.js',
    labels: u.fn.spec.labels ?? {},
    annotations: u.fn.spec.annotations ?? {},
  };
}

function text(res: ServerResponse, status: number, body: string, callId?: string): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...(callId ? { 'X-Call-Id': callId } : {}) });
  res.end(body);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}
