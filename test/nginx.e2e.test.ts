/**
 * VM 1's front door: nginx with frontend/nginx.conf in front of the storefront, the
 * storefront bundle that its container runs, and the container files' shape.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { parse } from 'yaml';
import { KEEP_ALIVE_MS } from '../frontend/server';
import { ROOT, STOREFRONT_DIR } from '../runtime/build';
import { count, launchBrowser, settles, text } from './support/browser';
import { nginxTest, renderNginxConf, startNginx } from './support/nginx';
import { freePort } from './support/fixtures';
import { startTestStorefront, type TestStorefront } from './support/storefront';


describe('frontend/nginx.conf', () => {
  it('passes nginx -t', () => {
    const prefix = mkdtempSync(join(tmpdir(), 'shop-nginx-t-'));
    try {
      const conf = join(prefix, 'nginx.conf');
      writeFileSync(conf, renderNginxConf(prefix, { http: 8099, https: 8443, metrics: 9145 }, '127.0.0.1:3999'));
      const result = nginxTest(conf, prefix);
      expect(result.error).toBeUndefined();
      expect(result.stderr).toContain('test is successful');
      expect(result.status).toBe(0);
    } finally {
      rmSync(prefix, { recursive: true, force: true });
    }
  });

  it('lets an idle connection to the storefront go before the storefront would close it', () => {
    const upstream = /upstream storefront \{([^}]*)\}/.exec(readFileSync(join(ROOT, 'frontend', 'nginx.conf'), 'utf8'))?.[1] ?? '';
    const idleSeconds = Number(/^\s*keepalive_timeout (\d+)s;/m.exec(upstream)?.[1] ?? 60); // nginx's default
    expect(idleSeconds * 1000).toBeLessThan(KEEP_ALIVE_MS);
  });

  describe('serving the storefront', () => {
    let s: TestStorefront;
    let nginx: Awaited<ReturnType<typeof startNginx>>;
    let browser: Browser;

    beforeAll(async () => {
      s = await startTestStorefront();
      nginx = await startNginx(new URL(s.url).host);
      browser = await launchBrowser();
    });
    afterAll(async () => {
      await browser?.close();
      await nginx?.stop();
      await s?.stop();
    });

    it('carries a shopper from the catalog to a cart through the proxy', async () => {
      // The test's certificate is self-signed, as a LAN's would be: the shopper accepted it.
      const page = await (await browser.newContext({ ignoreHTTPSErrors: true })).newPage();
      await page.goto(nginx.url);
      await settles(count(page.locator('.card')), 12);
      await page.goto(`${nginx.url}/products/paper-filters-100`);
      await page.click('.add button');
      await settles(text(page.locator('.flash-success')), 'Added 1 × Paper Filters, 100 pack to your cart.');
      await settles(text(page.locator('.cart-link .count')), '1');
    });

    it('compresses and caches static assets, and hides its version', async () => {
      const css = await nginx.fetch('/static/style.css', { headers: { 'accept-encoding': 'gzip' } });
      expect(css.status).toBe(200);
      expect(css.headers.get('content-encoding')).toBe('gzip');
      expect(css.headers.get('cache-control')).toMatch(/public/);
      expect(css.headers.get('expires')).not.toBeNull();
      expect(css.headers.get('server')).toBe('nginx');
    });

    it('refuses bodies over 64 KB before they reach the storefront', async () => {
      const res = await nginx.fetch('/checkout', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `name=${'x'.repeat(70_000)}` });
      expect(res.status).toBe(413);
    });
  });
});

describe('the storefront container', () => {
  it('runs from the bundle alone and insists on a cookie secret in production', async () => {
    const run = (env: Record<string, string>) =>
      spawn(process.execPath, [join(STOREFRONT_DIR, 'server.js')], { cwd: STOREFRONT_DIR, env: { PATH: process.env.PATH, NODE_ENV: 'production', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });

    const refused = run({});
    let refusal = '';
    refused.stderr.on('data', (d) => (refusal += d));
    expect(await new Promise((resolve) => refused.on('exit', resolve))).toBe(1);
    expect(refusal).toMatch(/COOKIE_SECRET/);

    const port = await freePort();
    const child = run({ COOKIE_SECRET: 'x'.repeat(40), STOREFRONT_PORT: String(port), GATEWAY_URL: 'http://127.0.0.1:9' });
    try {
      await new Promise<void>((resolve) => child.stdout.on('data', (d) => String(d).includes('storefront on') && resolve()));
      expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
      // No gateway behind it: the shopper gets the polite 503 page, rendered from the bundled views.
      const home = await fetch(`http://127.0.0.1:${port}/`);
      expect(home.status).toBe(503);
      expect(await home.text()).toContain('We’ll be right back');
      expect((await fetch(`http://127.0.0.1:${port}/static/style.css`)).status).toBe(200);
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('publishes only nginx’s ports and points the storefront at VM 2’s gateway', () => {
    const compose = parse(readFileSync(join(ROOT, 'frontend', 'docker-compose.yml'), 'utf8'));
    expect(compose.services.nginx.ports).toEqual(['80:80', '443:443', '192.168.122.10:9145:9145']);
    expect(compose.services.nginx.volumes).toContain('./tls:/etc/nginx/tls:ro');
    expect(compose.services.storefront.ports).toBeUndefined();
    expect(compose.services.storefront.environment.GATEWAY_URL).toBe('${GATEWAY_URL:-http://192.168.122.11:31112}');
    expect(compose.services.nginx.volumes).toContain('./nginx.conf:/etc/nginx/nginx.conf:ro');
    const dockerfile = readFileSync(join(ROOT, 'frontend', 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/COPY --from=build \/src\/dist\/storefront/);
    expect(dockerfile).toMatch(/USER node/);
  });
});
