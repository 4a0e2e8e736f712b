/**
 * Shared test fixtures: a fresh data directory and secrets per test file, a handler served
 * through the node20 template emulation exactly as stack.yml configures it, and ids.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { closeStores, openStore } from '../../core/store/open';
import type { ShopStore } from '../../core/store/store';
import type { Node20Handler } from '../../core/node20';
import type { Product } from '../../core/schemas';
import { node20App } from '../../runtime/node20';

export const TOKENS = { internal: 'internal-token-for-tests-0123456789', admin: 'admin-token-for-tests-0123456789' };

/** Points the functions at a fresh data directory and secrets folder; returns a cleanup. */
export function useFreshShopEnvironment(): { dir: string; cleanup: () => Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), 'shop-test-'));
  const secrets = join(dir, 'secrets');
  mkdirSync(secrets);
  writeFileSync(join(secrets, 'shop-internal-token'), TOKENS.internal);
  writeFileSync(join(secrets, 'shop-admin-token'), TOKENS.admin);
  process.env.SECRETS_DIR = secrets;
  process.env.DATA_DIR = join(dir, 'data');
  delete process.env.MONGO_URL;
  return {
    dir,
    cleanup: async () => {
      await closeStores();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export const testStore = (): Promise<ShopStore> => openStore();

export function product(overrides: Partial<Product> = {}): Product {
  return {
    id: 'test-mug',
    name: 'Test Mug',
    description: 'A mug for tests',
    priceCents: 1250,
    stock: 10,
    image: '/images/test-mug.svg',
    ...overrides,
  };
}

export const newShopperId = () => randomBytes(16).toString('base64url');
export const newIdempotencyKey = () => randomBytes(16).toString('hex');

export interface CallOptions {
  method?: string;
  query?: Record<string, string>;
  /** An object is sent as JSON; a string as is. */
  body?: unknown;
  headers?: Record<string, string>;
}

export interface CallResult {
  status: number;
  headers: Headers;
  text: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any -- tests read arbitrary response shapes
}

export async function request(baseUrl: string, options: CallOptions = {}): Promise<CallResult> {
  const url = new URL(baseUrl);
  for (const [k, v] of Object.entries(options.query ?? {})) url.searchParams.append(k, v);
  const isJson = options.body !== undefined && typeof options.body !== 'string';
  const response = await fetch(url, {
    method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
    headers: { ...(isJson ? { 'content-type': 'application/json' } : {}), ...options.headers },
    body: options.body === undefined ? undefined : isJson ? JSON.stringify(options.body) : (options.body as string),
  });
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: response.status, headers: response.headers, text, json };
}

/**
 * A call sent again, as a client that honours Retry-After does, while the gateway refuses it
 * before it runs (429: every replica at its max_inflight); at most 30 times.
 */
export async function admitted(send: () => Promise<CallResult>): Promise<CallResult> {
  let answer = await send();
  for (let tries = 1; answer.status === 429 && tries < 30; tries++) {
    await new Promise((resolve) => setTimeout(resolve, (Number(answer.headers.get('retry-after')) || 1) * 1000));
    answer = await send();
  }
  return answer;
}

/**
 * Serves one handler through the node20 template emulation with stack.yml's settings
 * (RAW_BODY=true), on a loopback port, for the life of the test file.
 */
export async function serveHandler(handler: Node20Handler, env: Record<string, string> = { RAW_BODY: 'true', MAX_RAW_SIZE: '1mb' }) {
  const server = http.createServer(node20App(handler, env));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return {
    url,
    call: (options?: CallOptions) => request(url, options),
    close: () => new Promise<void>((resolve) => { server.close(() => resolve()); server.closeAllConnections(); }),
  };
}

/**
 * The usual setup of a function's test file: a fresh environment, the handler served for
 * the whole file, and cleanup. `gateway` points GATEWAY_URL somewhere for functions that call
 * other functions (the test puts nock there: test/support/nock.ts).
 */
export function useFunction(handler: Node20Handler, options: { gateway?: string; gatewayTimeoutMs?: number } = {}) {
  const env = useFreshShopEnvironment();
  let served: Awaited<ReturnType<typeof serveHandler>>;
  beforeAll(async () => {
    if (options.gateway) {
      process.env.GATEWAY_URL = options.gateway;
      process.env.GATEWAY_TIMEOUT_MS = String(options.gatewayTimeoutMs ?? 300);
    }
    served = await serveHandler(handler);
  });
  afterAll(async () => {
    await served.close();
    await env.cleanup();
  });
  return {
    call: (callOptions?: CallOptions) => served.call(callOptions),
    get url() {
      return served.url;
    },
  };
}

/** Ports freePort gave out in this process. */
const handedOut = new Set<number>();

/**
 * A loopback port nobody listens on right now, below the range the kernel gives outgoing
 * connections. A port from listen(0) is in that range: while a test's server is down between
 * two starts on the same port, any client socket on the machine could take it, and the restart
 * failed with EADDRINUSE.
 */
export async function freePort(): Promise<number> {
  let below = 32_768; // Linux's default start of that range
  try {
    below = Math.min(below, Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || below);
  } catch {
    // not Linux: the default
  }
  for (let attempt = 0; attempt < 50 && below > 11_000; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * (below - 10_000));
    if (handedOut.has(port)) continue; // given to a server of this process that may not listen yet
    const server = createServer();
    const listening = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (listening) {
      await new Promise((resolve) => server.close(resolve));
      handedOut.add(port);
      return port;
    }
  }
  // No room below it, or none free there: any port the kernel gives.
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Whether a process is still running (signal 0 only checks). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
