/**
 * The local runtime and the storefront against a hostile caller (issue "Security of the three
 * VMs and the local runtime"): a deployment cannot choose how a replica starts, the secrets API
 * keeps away from the runtime's own secrets, async results go only where the policy allows and
 * never follow a redirect, the data is the owner's only, the scaler user can scale and nothing
 * else, and the operator page throttles password guesses without calling a function each time.
 */
import Database from 'better-sqlite3';
import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { DATABASE_FILE } from '../core/store/embedded';
import { storefrontConfig } from '../frontend/server';
import { LOGIN_THROTTLE } from '../frontend/admin';
import { ROOT } from '../runtime/build';
import { deploymentFromStack } from '../runtime/deployments';
import { BASIC_AUTH_FILE, SCALER_PASSWORD_FILE } from '../runtime/secrets';
import { readStack } from '../runtime/stack';
import { startTestStorefront, type TestStorefront } from './support/storefront';
import { until } from './support/until';

let s: TestStorefront;
const stack = readStack(join(ROOT, 'stack.yml'), {});
const fromStack = (name: string) => deploymentFromStack(name, stack.functions[name] as NonNullable<(typeof stack.functions)[string]>);

beforeAll(async () => {
  // The data directory as an older version left it: world-readable folder, database and WAL.
  s = await startTestStorefront({}, {
    prepare: async (dataDir) => {
      mkdirSync(dataDir, { recursive: true });
      chmodSync(dataDir, 0o755);
      for (const file of [DATABASE_FILE, `${DATABASE_FILE}-wal`]) writeFileSync(join(dataDir, file), '', { mode: 0o644 });
    },
  });
});
afterAll(() => s?.stop());

const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
const api = (path: string, init: { method?: string; body?: unknown; auth?: string } = {}) =>
  fetch(`${s.t.shop.url}${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: { authorization: init.auth ?? s.t.admin(), 'content-type': 'application/json' },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
const secretsDir = () => process.env.SECRETS_DIR as string;
/** Every path under SECRETS_DIR, so that "changes nothing" covers temporary files too. */
const tree = (dir: string, prefix = ''): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? [`${prefix}${e.name}/`, ...tree(join(dir, e.name), `${prefix}${e.name}/`)] : [`${prefix}${e.name}`]));

async function receiver(answer: (res: http.ServerResponse) => void = (res) => res.end()) {
  const hits: { path: string; body: string }[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      hits.push({ path: req.url ?? '', body });
      answer(res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return { port, url: `http://127.0.0.1:${port}`, hits, close: () => new Promise((r) => server.close(r)) };
}

describe('deployments cannot choose how a replica starts', () => {
  it('refuses NODE_*, LD_*, PATH and the runtime’s own variables with a 400 naming the variable, and runs nothing', async () => {
    const marker = join(tmpdir(), `shop-node-options-ran-${process.pid}`);
    const base = fromStack('inventory-list');
    const hostile: Record<string, string>[] = [
      // Verified before this fix: the replica ran this module as the runtime's user.
      { NODE_OPTIONS: `--import=data:text/javascript,require('fs').writeFileSync(${JSON.stringify(marker)},'x')` },
      { node_options: '--inspect' },
      { LD_PRELOAD: '/tmp/evil.so' },
      { PATH: '/tmp' },
      { DATA_DIR: '/tmp/elsewhere' },
      { SECRETS_DIR: '/tmp' },
      { FUNCTION_HANDLER: '/tmp/evil.js' },
      { OPENSSL_CONF: '/tmp/evil.cnf' },
    ];
    for (const envVars of hostile) {
      const name = Object.keys(envVars)[0] as string;
      for (const method of ['PUT', 'POST']) {
        const body = method === 'PUT' ? { ...base, envVars: { ...base.envVars, ...envVars } } : { ...base, service: 'new-fn', envVars };
        const res = await api('/system/functions', { method, body });
        expect([name, method, res.status, await res.text()]).toEqual([name, method, 400, expect.stringContaining(`validation failed: envVars: ${name} cannot be set`)]);
      }
    }
    expect(((await (await api('/system/function/inventory-list')).json()) as { envVars: unknown }).envVars).toEqual(base.envVars);
    expect((await api('/system/function/new-fn')).status).toBe(404);
    expect(existsSync(marker)).toBe(false);
    // What a function may configure still goes through.
    expect((await api('/system/functions', { method: 'PUT', body: { ...base, envVars: { ...base.envVars, LOG_LEVEL: 'warn' } } })).status).toBe(202);
    expect((await api('/system/functions', { method: 'PUT', body: base })).status).toBe(202);
  });
});

describe('the secrets API and the runtime’s own secrets', () => {
  it('refuses to update, delete, create or mount the runtime’s folders with a 4xx, and leaves no file behind', async () => {
    const before = tree(secretsDir());
    for (const name of ['openfaas', 'storefront']) {
      for (const method of ['PUT', 'DELETE', 'POST']) {
        const res = await api('/system/secrets', { method, body: { name, value: 'overwritten' } });
        expect([name, method, res.status]).toEqual([name, method, 403]);
        expect(await res.text()).toContain('runtime');
      }
      const deploy = await api('/system/functions', { method: 'PUT', body: { ...fromStack('inventory-get'), secrets: ['mongo-url', name] } });
      expect([deploy.status, await deploy.text()]).toEqual([400, `unable to fetch secrets: secrets "${name}" not found\n`]);
    }
    expect(((await (await api('/system/secrets')).json()) as { name: string }[]).map((x) => x.name)).not.toEqual(expect.arrayContaining(['openfaas']));
    expect(tree(secretsDir())).toEqual(before);
  });
});

describe('async callbacks', () => {
  it('refuses a callback outside the policy when the call is accepted, and never POSTs there', async () => {
    const listener = await receiver();
    try {
      // 0.0.0.0 and an IPv4-mapped address reach this machine's listener, yet are not loopback names.
      for (const url of [`http://0.0.0.0:${listener.port}/x`, `http://[::ffff:127.0.0.1]:${listener.port}/x`, 'http://169.254.169.254/latest/meta-data/', `http://user:pass@127.0.0.1:${listener.port}/`]) {
        const res = await fetch(`${s.t.shop.url}/async-function/cart-get`, { method: 'POST', headers: { 'x-callback-url': url }, body: '{}' });
        expect([url, res.status]).toEqual([url, 400]);
        expect(await res.text()).toMatch(/not allowed|credentials/);
      }
      // An allowed one still goes through, and is the only one delivered.
      const ok = await fetch(`${s.t.shop.url}/async-function/cart-get`, { method: 'POST', headers: { 'x-callback-url': `${listener.url}/ok` }, body: '{}' });
      expect(ok.status).toBe(202);
      await until(() => listener.hits.length > 0);
      await until(() => pendingAsyncCalls() === 0);
      expect(listener.hits.map((h) => h.path)).toEqual(['/ok']);
    } finally {
      await listener.close();
    }
  });

  it('does not follow a redirect from the callback', async () => {
    const elsewhere = await receiver();
    const redirecting = await receiver((res) => {
      res.writeHead(303, { location: `${elsewhere.url}/stolen` });
      res.end();
    });
    try {
      const res = await fetch(`${s.t.shop.url}/async-function/cart-get`, { method: 'POST', headers: { 'x-callback-url': `${redirecting.url}/hook` }, body: '{}' });
      expect(res.status).toBe(202);
      await until(() => redirecting.hits.length === 1);
      // The call is deleted only once its callback was answered: by then a followed redirect would have arrived.
      await until(() => pendingAsyncCalls() === 0);
      expect(elsewhere.hits).toEqual([]);
    } finally {
      await redirecting.close();
      await elsewhere.close();
    }
  });
});

function pendingAsyncCalls(): number {
  const db = new Database(join(s.t.dataDir, DATABASE_FILE), { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM asyncCalls').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

describe('the data directory', () => {
  it('is the owner’s only, with every file in it 0600, even as an older version left it', () => {
    const mode = (path: string) => statSync(path).mode & 0o777;
    expect(mode(s.t.dataDir)).toBe(0o700);
    const files = readdirSync(s.t.dataDir).filter((f) => statSync(join(s.t.dataDir, f)).isFile());
    expect(files).toEqual(expect.arrayContaining([DATABASE_FILE, `${DATABASE_FILE}-wal`, `${DATABASE_FILE}-shm`]));
    for (const file of files) expect([file, mode(join(s.t.dataDir, file))]).toEqual([file, 0o600]);
  });
});

describe('the scaler user', () => {
  it('lists and scales functions, and is refused (403) everything else', async () => {
    const scaler = basic('scaler', s.t.shop.secrets[SCALER_PASSWORD_FILE] as string);
    expect((await api('/system/functions', { auth: scaler })).status).toBe(200);
    expect((await api('/system/scale-function/cart-get', { auth: scaler, body: { serviceName: 'cart-get', replicas: 1 } })).status).toBe(202);
    const forbidden: [string, string, unknown?][] = [
      ['/system/functions', 'POST', { ...fromStack('cart-get'), service: 'other' }],
      ['/system/functions', 'PUT', fromStack('cart-get')],
      ['/system/functions', 'DELETE', { functionName: 'cart-get' }],
      ['/system/secrets', 'GET'],
      ['/system/secrets', 'PUT', { name: 'shop-admin-token', value: 'x' }],
      ['/system/function/cart-get', 'GET'],
      ['/system/logs?name=cart-get', 'GET'],
      ['/system/info', 'GET'],
    ];
    for (const [path, method, body] of forbidden) expect([path, method, (await api(path, { method, body, auth: scaler })).status]).toEqual([path, method, 403]);
    expect((await api('/system/functions', { auth: basic('scaler', 'wrong') })).status).toBe(401);
    expect((await api('/system/function/cart-get')).status).toBe(200);
  });
});

describe('k3s/scale.sh', () => {
  it('scales a function through the gateway’s API with the password off its command line (run against the local gateway)', async () => {
    const run = promisify(execFile);
    const env = { PATH: process.env.PATH, OPENFAAS_URL: s.t.shop.url, OPENFAAS_PASSWORD: s.t.shop.secrets[BASIC_AUTH_FILE] };
    const { stdout } = await run('bash', [join(ROOT, 'k3s', 'scale.sh'), 'cart-get', '2'], { env });
    expect(stdout).toContain('cart-get: scaling to 2');
    expect(((await (await api('/system/function/cart-get')).json()) as { replicas: number }).replicas).toBe(2);
    await expect(run('bash', [join(ROOT, 'k3s', 'scale.sh'), 'cart-get', '2'], { env: { ...env, OPENFAAS_PASSWORD: 'wrong' } })).rejects.toThrow(/answered 401/);
    await run('bash', [join(ROOT, 'k3s', 'scale.sh'), 'cart-get', '1'], { env });
  });
});

describe('the storefront', () => {
  it('refuses to start with the gateway’s admin password', () => {
    expect(() => storefrontConfig({ COOKIE_SECRET: 'x'.repeat(40), GATEWAY_PASSWORD: 'admin-password' })).toThrow(/GATEWAY_PASSWORD/);
    expect(() => storefrontConfig({ COOKIE_SECRET: 'x'.repeat(40), GATEWAY_PASSWORD_FILE: '/run/secrets/x' })).toThrow(/GATEWAY_PASSWORD/);
    expect(storefrontConfig({ COOKIE_SECRET: 'x'.repeat(40), SCALER_PASSWORD: 'p' }).gatewayCredentials).toEqual({ user: 'scaler', password: 'p' });
  });

  it('answers 429 with Retry-After after too many wrong operator passwords, without calling a function', async () => {
    const admin = (password: string) => fetch(`${s.url}/admin`, { headers: { authorization: basic('admin', password) } });
    const recentCalls = () => s.t.shop.provider.status('order-recent')?.invocationCount ?? 0;
    // The browser's first, bare request is a challenge, not a guess.
    for (let i = 0; i < LOGIN_THROTTLE.attempts + 2; i++) expect((await fetch(`${s.url}/admin`)).status).toBe(401);
    for (let i = 0; i < LOGIN_THROTTLE.attempts; i++) expect((await admin(`wrong-${i}`)).status).toBe(401);
    const calls = recentCalls();
    for (const password of ['wrong-again', 'another', s.t.shop.secrets['shop-admin-token'] as string]) {
      const res = await admin(password);
      expect(res.status).toBe(429);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(await res.text()).toContain('Too many wrong passwords');
    }
    expect(recentCalls()).toBe(calls);
  });
});
