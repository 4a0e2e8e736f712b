/**
 * VM 1's front door under attack, with Debian's real nginx on frontend/nginx.conf and a
 * self-signed pair made by frontend/make-tls-cert.sh: HTTPS only (HTTP redirects, HSTS, Secure
 * cookies behind the proxy), no metrics in any spelling, forwarded headers the client cannot
 * forge, and limits per client address answering 429 with Retry-After. And VM 2's scaler
 * (k3s/scaler-nginx.conf) in front of the local gateway: the storefront's credentials list and
 * scale functions, and nothing else.
 *
 * Rate limits are checked on a copy whose rates are one request a minute (bursts and zones as
 * written), so that no token comes back during the test however slow the machine: the count
 * admitted is exactly the burst plus one.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSystemClient } from '../frontend/system-client';
import { ROOT } from '../runtime/build';
import { BASIC_AUTH_FILE } from '../runtime/secrets';
import { freePort } from './support/fixtures';
import { nginxTest, startNginx, tlsFetch, type RunningNginx } from './support/nginx';
import { startTestStorefront, type TestStorefront } from './support/storefront';

let s: TestStorefront;
let nginx: RunningNginx;
let frozen: RunningNginx;

beforeAll(async () => {
  s = await startTestStorefront();
  const upstream = new URL(s.url).host;
  nginx = await startNginx(upstream);
  frozen = await startNginx(upstream, { frozenRates: true });
});
afterAll(async () => {
  await nginx?.stop();
  await frozen?.stop();
  await s?.stop();
});

describe('TLS on VM 1', () => {
  it('redirects every plain HTTP request to the same address over HTTPS, without proxying it', async () => {
    for (const [method, path] of [['GET', '/cart?x=1'], ['POST', '/checkout'], ['GET', '/admin'], ['GET', '/metrics']]) {
      const res = await fetch(`${nginx.httpUrl}${path}`, { method, redirect: 'manual' });
      expect([method, path, res.status, res.headers.get('location')]).toEqual([method, path, 301, `https://127.0.0.1${path}`]);
    }
  });

  it('serves the shop with the certificate it was given, and refuses a client that does not trust it', async () => {
    expect((await nginx.fetch('/')).status).toBe(200);
    // The other instance's pair: self-signed too, but not this server's.
    await expect(tlsFetch(`${nginx.url}/`, frozen.ca)).rejects.toThrow(/self[- ]signed|unable to verify|certificate/i);
  });

  it('sends HSTS on pages, assets, errors and refusals', async () => {
    for (const path of ['/', '/static/style.css', '/images/gooseneck-kettle.svg', '/no-such-page', '/metrics']) {
      const res = await nginx.fetch(path);
      expect([path, res.headers.get('strict-transport-security')]).toEqual([path, 'max-age=31536000']);
    }
  });

  it('makes the storefront’s cookies Secure behind the proxy, and only there', async () => {
    const proxied = (await nginx.fetch('/')).headers.getSetCookie();
    expect(proxied.find((c) => c.startsWith('shopper='))).toMatch(/; Secure/);
    const direct = (await fetch(`${s.url}/`)).headers.getSetCookie();
    expect(direct.find((c) => c.startsWith('shopper='))).not.toMatch(/Secure/);
  });
});

describe('metrics', () => {
  it('are unreachable through the shop’s port in any spelling', async () => {
    const spellings = ['/metrics', '/metrics/', '/METRICS', '/Metrics/', '/%6Detrics', '/%6detrics', '/%6D%65trics', '//metrics', '///metrics/', '/./metrics', '/static/../metrics', '/metrics?x=1', '/%2Fmetrics', '/metrics%2F'];
    for (const path of spellings) {
      const res = await nginx.fetch(path);
      const body = await res.text();
      expect([path, res.status, body.includes('# HELP')]).toEqual([path, 404, false]);
    }
  });

  it('are served to the VMs’ network on port 9145, and nothing else is', async () => {
    const res = await fetch(`${nginx.metricsUrl}/metrics`);
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('# HELP http_requests_total');
    expect((await fetch(`${nginx.metricsUrl}/`)).status).toBe(404);
    expect((await fetch(`${nginx.metricsUrl}/admin`)).status).toBe(404);
  });
});

/** An upstream that records what nginx forwards, and holds /static/hold requests until released. */
async function recordingUpstream() {
  const seen: http.IncomingHttpHeaders[] = [];
  const held: http.ServerResponse[] = [];
  let arrived = () => {};
  const server = http.createServer((req, res) => {
    if (req.url === '/static/hold') {
      held.push(res);
      return arrived();
    }
    seen.push(req.headers);
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    host: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    held,
    /** Resolves once `n` requests are held. */
    holding: (n: number) =>
      new Promise<void>((resolve) => {
        arrived = () => held.length >= n && resolve();
        arrived();
      }),
    close: () => {
      for (const res of held) res.end();
      server.closeAllConnections();
      return new Promise((r) => server.close(r));
    },
  };
}

describe('forwarded headers', () => {
  it('tell the storefront the client’s real address and scheme, whatever the client claims', async () => {
    const upstream = await recordingUpstream();
    const proxy = await startNginx(upstream.host);
    try {
      await proxy.fetch('/', { headers: { 'x-forwarded-for': '6.6.6.6', 'x-forwarded-proto': 'http', 'x-real-ip': '6.6.6.6' } });
      expect(upstream.seen[0]).toMatchObject({ 'x-forwarded-for': '127.0.0.1', 'x-forwarded-proto': 'https', 'x-real-ip': '127.0.0.1' });
    } finally {
      await proxy.stop();
      await upstream.close();
    }
  });
});

describe('limits per client address', () => {
  /** Requests one after another from `client` until the first refusal; how many were let through, and that refusal. */
  async function untilRefused(path: string, client: string, method = 'GET', max = 60) {
    for (let admitted = 0; admitted < max; admitted++) {
      const res = await frozen.fetch(path, { method, localAddress: client, headers: method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {}, body: method === 'POST' ? 'a=1' : undefined });
      if (res.status === 429) return { admitted, refusal: res, body: await res.text() };
      await res.arrayBuffer();
    }
    throw new Error(`${max} requests to ${path} and none refused`);
  }

  it('pages: a burst of 20 beyond the rate, then 429 with Retry-After; assets stay outside the page budget', async () => {
    const { admitted, refusal, body } = await untilRefused('/healthz', '127.0.0.2');
    expect(admitted).toBe(21);
    expect(refusal.headers.get('retry-after')).toBe('1');
    expect(refusal.headers.get('strict-transport-security')).toBe('max-age=31536000');
    expect(body).toMatch(/busy.*try again in 1 second\./);
    expect((await frozen.fetch('/static/style.css', { localAddress: '127.0.0.2' })).status).toBe(200);
    // Another address has its own budget.
    expect((await frozen.fetch('/healthz', { localAddress: '127.0.0.3' })).status).toBe(200);
  });

  it('placing an order: a burst of 3 beyond the rate, then 429 with Retry-After 10; the checkout page is not held to it', async () => {
    const { admitted, refusal, body } = await untilRefused('/checkout', '127.0.0.4', 'POST');
    expect(admitted).toBe(4);
    expect(refusal.headers.get('retry-after')).toBe('10');
    expect(body).toMatch(/try again in 10 seconds\./);
    expect((await frozen.fetch('/checkout', { localAddress: '127.0.0.4' })).status).not.toBe(429);
  });

  it('the operator page, in any spelling: a burst of 10, then 429 with Retry-After 2', async () => {
    const spellings = ['/admin', '/ADMIN', '/Admin/', '/%61dmin', '//admin'];
    let admitted = 0;
    for (;;) {
      const res = await frozen.fetch(spellings[admitted % spellings.length] as string, { localAddress: '127.0.0.6' });
      await res.arrayBuffer();
      if (res.status === 429) {
        expect(res.headers.get('retry-after')).toBe('2');
        break;
      }
      admitted++;
      expect(admitted).toBeLessThan(30);
    }
    expect(admitted).toBe(11);
  });

  it('connections: 20 at once from one address, the next refused with 429 and Retry-After', async () => {
    const upstream = await recordingUpstream();
    const proxy = await startNginx(upstream.host, { frozenRates: true });
    try {
      const holding = Array.from({ length: 20 }, () => proxy.fetch('/static/hold', { localAddress: '127.0.0.7' }));
      await upstream.holding(20);
      const refused = await proxy.fetch('/static/hold', { localAddress: '127.0.0.7' });
      expect(refused.status).toBe(429);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(upstream.held).toHaveLength(20);
      for (const res of upstream.held) res.end('done');
      expect((await Promise.all(holding)).map((r) => r.status)).toEqual(Array(20).fill(200));
    } finally {
      // Held requests first: nginx stops gracefully, after the requests it still serves.
      await upstream.close();
      await proxy.stop();
    }
  });
});

describe('the scaler on VM 2 (k3s/scaler-nginx.conf)', () => {
  let prefix: string;
  let url: string;
  let child: ReturnType<typeof spawn>;
  const password = 'scaler-password-for-tests-0123456789';

  beforeAll(async () => {
    prefix = mkdtempSync(join(tmpdir(), 'shop-scaler-'));
    // nginx's workers run as nobody when the test runs as root: they read the htpasswd file at each request.
    chmodSync(prefix, 0o755);
    for (const t of ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(prefix, t), { mode: 0o777 });
    // The files install-scaler.sh writes, made the same way.
    const hash = execFileSync('openssl', ['passwd', '-6', '-stdin'], { input: password, encoding: 'utf8' }).trim();
    writeFileSync(join(prefix, 'htpasswd'), `scaler:${hash}\n`, { mode: 0o644 });
    const admin = Buffer.from(`admin:${s.t.shop.secrets[BASIC_AUTH_FILE]}`).toString('base64');
    writeFileSync(join(prefix, 'gateway-auth.conf'), `proxy_set_header Authorization "Basic ${admin}";\n`);
    const port = await freePort();
    const replace = (text: string, from: string, to: string) => {
      if (!text.includes(from)) throw new Error(`k3s/scaler-nginx.conf no longer contains "${from}"`);
      return text.replace(from, to);
    };
    let conf = readFileSync(join(ROOT, 'k3s', 'scaler-nginx.conf'), 'utf8');
    conf = replace(conf, 'worker_processes 1;', `worker_processes 1;\npid ${join(prefix, 'nginx.pid')};\nerror_log ${join(prefix, 'error.log')} warn;`);
    conf = replace(conf, 'server gateway.openfaas.svc.cluster.local:8080;', `server ${new URL(s.t.shop.url).host};`);
    conf = replace(conf, 'listen 8080;', `listen 127.0.0.1:${port};`);
    conf = replace(conf, '/etc/scaler/htpasswd', join(prefix, 'htpasswd'));
    conf = replace(conf, '/etc/scaler/gateway-auth.conf', join(prefix, 'gateway-auth.conf'));
    conf = replace(conf, 'access_log /dev/stdout;', `access_log ${join(prefix, 'access.log')};\n${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${join(prefix, t)};`).join('\n')}`);
    conf = replace(conf, 'error_log /dev/stderr warn;', '');
    writeFileSync(join(prefix, 'nginx.conf'), conf);
    const test = nginxTest(join(prefix, 'nginx.conf'), prefix);
    expect(test.stderr).toContain('test is successful');
    child = spawn('nginx', ['-p', `${prefix}/`, '-c', join(prefix, 'nginx.conf'), '-g', 'daemon off;'], { stdio: 'ignore' });
    url = `http://127.0.0.1:${port}`;
    while (!(await fetch(`${url}/healthz`).then((r) => r.ok, () => false))) await new Promise((r) => setTimeout(r, 50));
  });
  afterAll(async () => {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGQUIT');
    await exited;
    rmSync(prefix, { recursive: true, force: true });
  });

  const as = (pass: string | undefined, path: string, method = 'GET', body?: unknown) =>
    fetch(`${url}${path}`, {
      method,
      headers: { ...(pass === undefined ? {} : { authorization: `Basic ${Buffer.from(`scaler:${pass}`).toString('base64')}` }), 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });

  it('lets the storefront’s client list and scale functions with the scaler’s credentials', async () => {
    const system = createSystemClient({ gatewayUrl: url, credentials: { user: 'scaler', password } });
    expect((await system.functions()).map((f) => f.name)).toContain('cart-get');
    await system.scale('cart-get', 1);
  });

  it('forwards nothing else, and asks for credentials first', async () => {
    const forbidden: [string, string, unknown?][] = [
      ['/system/functions', 'POST', { service: 'evil', image: 'x/y:1' }],
      ['/system/functions', 'PUT', { service: 'cart-get', image: 'x/y:1', envVars: { A: 'b' } }],
      ['/system/functions', 'DELETE', { functionName: 'cart-get' }],
      ['/system/secrets', 'GET'],
      ['/system/secrets', 'PUT', { name: 'shop-admin-token', value: 'x' }],
      ['/system/function/cart-get', 'GET'],
      ['/system/logs?name=cart-get', 'GET'],
      ['/system/info', 'GET'],
      ['/system/scale-function/cart-get', 'GET'],
      ['/system/scale-function/../functions', 'POST', { service: 'evil', image: 'x/y:1' }],
      ['/function/order-recent', 'GET'],
    ];
    for (const [path, method, body] of forbidden) expect([path, method, (await as(password, path, method, body)).status]).toEqual([path, method, 403]);
    expect((await as(undefined, '/system/functions')).status).toBe(401);
    expect((await as('wrong', '/system/functions')).status).toBe(401);
    expect((await as('wrong', '/system/scale-function/cart-get', 'POST', { replicas: 2 })).status).toBe(401);
    expect(((await (await fetch(`${s.t.shop.url}/system/functions`, { headers: { authorization: s.t.admin() } })).json()) as { name: string }[]).map((f) => f.name)).not.toContain('evil');
  });
});
