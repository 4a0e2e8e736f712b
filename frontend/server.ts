/**
 * Starting the storefront: its configuration from the environment, and an HTTP server that
 * finishes requests in flight when stopped.
 *
 *   STOREFRONT_PORT (3000), STOREFRONT_HOST (127.0.0.1; 0.0.0.0 in its container)
 *   GATEWAY_URL (http://127.0.0.1:8080; on VM 1 http://192.168.122.11:31112)
 *   COOKIE_SECRET, or COOKIE_SECRET_FILE naming a file that holds it. Required when
 *   NODE_ENV=production; otherwise a random one is made (sessions end with the process).
 *   TRUST_PROXY (loopback): whose X-Forwarded-* headers to believe (nginx's address).
 *   SCALER_PASSWORD, or SCALER_PASSWORD_FILE (and SCALER_USER, scaler; SCALER_URL, GATEWAY_URL):
 *   credentials that can list and scale functions and nothing else, so the operator page shows
 *   and scales replicas; optional. The gateway's admin password (GATEWAY_PASSWORD), which can
 *   deploy code, is refused: the storefront must not hold it.
 *   STOREFRONT_PAGE_BUDGET_MS (4000): how long a page may wait for the gateway, retries included.
 *   STOREFRONT_MIN_INFLIGHT (8), STOREFRONT_MAX_INFLIGHT (200), STOREFRONT_SLOW_MS (300): the
 *   bound on pages in flight adapts between min and max; a page slower than SLOW_MS counts as
 *   overload (admission.ts). min = max fixes it.
 *   STOREFRONT_WORKERS (1): processes serving the storefront on the same port (workers.ts), one
 *   per core of VM 1 at most; each has its own bound on pages in flight.
 *   PROMETHEUS_URL (unset): the cluster's Prometheus (http://prometheus.openfaas:9090 inside k3s),
 *   for the charts of /admin/functions; unset, they come from the local runtime's window.
 */
import cluster from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { acceptOnMore } from './accept';
import { CONCURRENCY_DEFAULTS } from './admission';
import type { StorefrontConfig } from './app';
import { positive } from './env';
import { runStorefrontWorkers, storefrontWorkers } from './workers';

/**
 * How long an idle keep-alive connection stays open (Node's default, said here): nginx lets its
 * idle connections to the storefront go sooner (nginx.conf, keepalive_timeout of the upstream),
 * so it never sends a request on one the storefront is closing at that moment: a POST lost that
 * way is a 502 that nginx may not send again.
 */
export const KEEP_ALIVE_MS = 5_000;

export interface StorefrontEnv extends StorefrontConfig {
  port: number;
  host: string;
}

export function storefrontConfig(env: NodeJS.ProcessEnv = process.env): StorefrontEnv {
  let cookieSecret = env.COOKIE_SECRET || (env.COOKIE_SECRET_FILE ? readFileSync(env.COOKIE_SECRET_FILE, 'utf8').trim() : '');
  if (!cookieSecret) {
    if (env.NODE_ENV === 'production') throw new Error('Set COOKIE_SECRET or COOKIE_SECRET_FILE: sessions must survive restarts in production');
    cookieSecret = randomBytes(32).toString('base64url');
  }
  if (cookieSecret.length < 32) throw new Error('The cookie secret must be at least 32 characters');
  const trust = env.TRUST_PROXY;
  if (env.GATEWAY_PASSWORD || env.GATEWAY_PASSWORD_FILE) {
    throw new Error('GATEWAY_PASSWORD can deploy code on the cluster and is no longer read: give the storefront the scaler’s credentials instead (SCALER_PASSWORD_FILE; README, Security)');
  }
  const scalerPassword = env.SCALER_PASSWORD || (env.SCALER_PASSWORD_FILE ? readFileSync(env.SCALER_PASSWORD_FILE, 'utf8').trim() : '');
  const min = positive(env, 'STOREFRONT_MIN_INFLIGHT');
  const max = positive(env, 'STOREFRONT_MAX_INFLIGHT');
  const slowMs = positive(env, 'STOREFRONT_SLOW_MS');
  return {
    port: Number(env.STOREFRONT_PORT ?? 3000),
    host: env.STOREFRONT_HOST ?? '127.0.0.1',
    gatewayUrl: env.GATEWAY_URL ?? 'http://127.0.0.1:8080',
    cookieSecret,
    trustProxy: trust === undefined ? 'loopback' : trust === 'true' ? true : trust === 'false' ? false : trust,
    ...(scalerPassword ? { gatewayCredentials: { user: env.SCALER_USER || 'scaler', password: scalerPassword } } : {}),
    ...(env.SCALER_URL ? { scalerUrl: env.SCALER_URL } : {}),
    pageBudgetMs: positive(env, 'STOREFRONT_PAGE_BUDGET_MS'),
    // Only what is set: the rest keeps its default (a lone MAX below the default initial bound starts at MAX).
    concurrency: { ...(min ? { min } : {}), ...(max ? { max, initial: Math.min(max, CONCURRENCY_DEFAULTS.initial) } : {}), ...(slowMs ? { slowMs } : {}) },
    ...(env.PROMETHEUS_URL ? { prometheusUrl: env.PROMETHEUS_URL } : {}),
  };
}

export interface RunningStorefront {
  url: string;
  /** Stops at once: idle keep-alive connections are closed now (tests, shutdown of a whole run). */
  close(): Promise<void>;
  /**
   * Leaves without cutting anyone off (SIGTERM: a new storefront took over, or the container
   * stops): no new connections; every later answer closes its connection; idle connections end
   * at their keep-alive timeout, which each answer announced, so clients stop reusing them first.
   * http.Server#close would close idle connections at once, racing a request a client is
   * sending on one, so only the listening socket is closed (net.Server#close).
   */
  drain(): Promise<void>;
}

export async function startStorefront(config: StorefrontEnv): Promise<RunningStorefront> {
  // Loaded here, not at the top: a primary of several workers (below) needs none of the shop's pages.
  const { createStorefront } = await import('./app');
  const app = createStorefront(config);
  let draining = false;
  const server = http.createServer((req, res) => {
    if (draining) res.setHeader('Connection', 'close');
    app(req, res);
  });
  server.keepAliveTimeout = KEEP_ALIVE_MS;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, resolve);
  });
  const { port } = server.address() as AddressInfo;
  // Each listening handle's connections are counted by its own net.Server: closed when all are.
  const more = acceptOnMore(server);
  return {
    url: `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`,
    close: async () => {
      const closed = new Promise((resolve) => server.close(resolve));
      server.closeIdleConnections();
      await Promise.all([closed, more.close()]);
    },
    drain: async () => {
      draining = true;
      await Promise.all([new Promise((resolve) => net.Server.prototype.close.call(server, resolve)), more.close()]);
    },
  };
}

/** Starts this process's storefront, draining it on SIGTERM or SIGINT. */
function serve(config: StorefrontEnv): void {
  startStorefront(config)
    .then((storefront) => {
      console.log(`storefront on ${storefront.url}`);
      // Bounded: a client holding a connection open without using it is cut off after 15 s.
      const stop = () => Promise.race([storefront.drain(), new Promise((r) => setTimeout(r, 15_000).unref())]).then(() => process.exit(0));
      process.on('SIGTERM', stop);
      process.on('SIGINT', stop);
    })
    .catch((error: unknown) => {
      console.error(error instanceof Error ? error.message : error);
      process.exit(1);
    });
}

if (require.main === module) {
  try {
    const config = storefrontConfig();
    const workers = storefrontWorkers();
    if (cluster.isPrimary && workers > 1) {
      // One cookie secret for all: a random one (development) is made here and handed down, not
      // one per worker (sessions would not carry over); a configured one each worker reads itself.
      const configured = process.env.COOKIE_SECRET || process.env.COOKIE_SECRET_FILE;
      runStorefrontWorkers(workers, configured ? {} : { COOKIE_SECRET: config.cookieSecret });
    } else {
      serve(config);
    }
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  }
}
