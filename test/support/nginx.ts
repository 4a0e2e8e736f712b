/**
 * Runs Debian's nginx on frontend/nginx.conf, unprivileged paths and loopback ports
 * substituted: the compose service name becomes the storefront's test address, ports 80, 443
 * and 9145 free ports, the certificate a pair made by frontend/make-tls-cert.sh in the prefix,
 * and pid, logs and temp files live in a temporary prefix.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../../runtime/build';
import { freePort } from './fixtures';

export const NGINX_CONF = join(ROOT, 'frontend', 'nginx.conf');
export const MAKE_TLS_CERT = join(ROOT, 'frontend', 'make-tls-cert.sh');

function replaceOnce(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`frontend/nginx.conf no longer contains "${from}"; update test/support/nginx.ts`);
  return text.replace(from, to);
}

export interface NginxPorts {
  http: number;
  https: number;
  metrics: number;
}

export interface RenderOptions {
  /**
   * Every limit_req rate set to one request a minute: the bursts and zones stay as written, and
   * no token comes back while a test runs, however slow the machine.
   */
  frozenRates?: boolean;
}

/** Makes a self-signed pair for 127.0.0.1 with the project's own script, in DIR/tls. */
export function makeTestCertificate(dir: string): { cert: string; key: string } {
  execFileSync('bash', [MAKE_TLS_CERT, '127.0.0.1', 'localhost'], { env: { ...process.env, TLS_DIR: join(dir, 'tls') }, stdio: 'pipe' });
  return { cert: join(dir, 'tls', 'shop.crt'), key: join(dir, 'tls', 'shop.key') };
}

export function renderNginxConf(prefix: string, ports: NginxPorts, upstream: string, options: RenderOptions = {}): string {
  const temps = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'];
  for (const t of temps) {
    mkdirSync(join(prefix, t), { recursive: true });
    chmodSync(join(prefix, t), 0o777);
  }
  const pair = makeTestCertificate(prefix);
  let conf = readFileSync(NGINX_CONF, 'utf8');
  conf = replaceOnce(conf, 'worker_processes auto;', `worker_processes 1;\npid ${join(prefix, 'nginx.pid')};\nerror_log ${join(prefix, 'error.log')} warn;`);
  conf = replaceOnce(conf, 'server storefront:3000;', `server ${upstream};`);
  conf = replaceOnce(conf, 'listen 80;', `listen 127.0.0.1:${ports.http};`);
  conf = replaceOnce(conf, 'listen 443 ssl;', `listen 127.0.0.1:${ports.https} ssl;`);
  conf = replaceOnce(conf, 'listen 9145;', `listen 127.0.0.1:${ports.metrics};`);
  conf = replaceOnce(conf, 'ssl_certificate /etc/nginx/tls/shop.crt;', `ssl_certificate ${pair.cert};`);
  conf = replaceOnce(conf, 'ssl_certificate_key /etc/nginx/tls/shop.key;', `ssl_certificate_key ${pair.key};`);
  conf = replaceOnce(conf, 'access_log /dev/stdout main;', `access_log ${join(prefix, 'access.log')} main;\n${temps.map((t) => `  ${t}_temp_path ${join(prefix, t)};`).join('\n')}`);
  conf = replaceOnce(conf, 'error_log /dev/stderr warn;', '');
  if (options.frozenRates) conf = conf.replace(/ rate=\d+r\/[sm];/g, ' rate=1r/m;');
  return conf;
}

export function nginxTest(confFile: string, prefix: string) {
  return spawnSync('nginx', ['-t', '-p', `${prefix}/`, '-c', confFile], { encoding: 'utf8' });
}

export interface RunningNginx {
  /** https://127.0.0.1:PORT */
  url: string;
  httpUrl: string;
  metricsUrl: string;
  /** The self-signed certificate it serves, to trust in requests. */
  ca: Buffer;
  /** fetch over TLS, trusting `ca` (the global fetch cannot be given a CA). */
  fetch(path: string, init?: TlsInit): Promise<Response>;
  stop(): Promise<void>;
}

export async function startNginx(upstream: string, options: RenderOptions = {}): Promise<RunningNginx> {
  const prefix = mkdtempSync(join(tmpdir(), 'shop-nginx-'));
  const ports = { http: await freePort(), https: await freePort(), metrics: await freePort() };
  const confFile = join(prefix, 'nginx.conf');
  writeFileSync(confFile, renderNginxConf(prefix, ports, upstream, options));
  const ca = readFileSync(join(prefix, 'tls', 'shop.crt'));
  const child: ChildProcess = spawn('nginx', ['-p', `${prefix}/`, '-c', confFile, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += d));
  const httpUrl = `http://127.0.0.1:${ports.http}`;
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}`);
    if (await fetch(`${httpUrl}/`, { redirect: 'manual' }).then(() => true, () => false)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const url = `https://127.0.0.1:${ports.https}`;
  return {
    url,
    httpUrl,
    metricsUrl: `http://127.0.0.1:${ports.metrics}`,
    ca,
    fetch: (path, init = {}) => tlsFetch(`${url}${path}`, ca, init),
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGQUIT');
      await exited;
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}

export interface TlsInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  /** Another loopback source address (127.0.0.2...): another client, as nginx's limits see it. */
  localAddress?: string;
}

/** One request over TLS with `ca` trusted, answered as a fetch Response (no redirect followed). */
export function tlsFetch(url: string, ca: Buffer, init: TlsInit = {}): Promise<Response> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: init.method ?? 'GET', headers: init.headers, ca, agent: false, localAddress: init.localAddress }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        const headers = new Headers();
        for (let i = 0; i < res.rawHeaders.length; i += 2) headers.append(res.rawHeaders[i] as string, res.rawHeaders[i + 1] as string);
        const status = res.statusCode ?? 0;
        resolve(new Response(status === 204 || status === 304 ? null : Buffer.concat(chunks), { status, headers }));
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(init.body);
  });
}
