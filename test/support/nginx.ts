/**
 * Runs Debian's nginx on frontend/nginx.conf, unprivileged paths and loopback ports
 * substituted: the compose service name becomes the storefront's test address, port 80 a
 * free port, and pid, logs and temp files live in a temporary prefix.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../../runtime/build';

export const NGINX_CONF = join(ROOT, 'frontend', 'nginx.conf');

function replaceOnce(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`frontend/nginx.conf no longer contains "${from}"; update test/support/nginx.ts`);
  return text.replace(from, to);
}

export function renderNginxConf(prefix: string, listenPort: number, upstream: string): string {
  const temps = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'];
  for (const t of temps) {
    mkdirSync(join(prefix, t), { recursive: true });
    chmodSync(join(prefix, t), 0o777);
  }
  let conf = readFileSync(NGINX_CONF, 'utf8');
  conf = replaceOnce(conf, 'worker_processes auto;', `worker_processes 1;\npid ${join(prefix, 'nginx.pid')};\nerror_log ${join(prefix, 'error.log')} warn;`);
  conf = replaceOnce(conf, 'server storefront:3000;', `server ${upstream};`);
  conf = replaceOnce(conf, 'listen 80;', `listen 127.0.0.1:${listenPort};`);
  conf = replaceOnce(conf, 'access_log /dev/stdout main;', `access_log ${join(prefix, 'access.log')} main;\n${temps.map((t) => `  ${t}_temp_path ${join(prefix, t)};`).join('\n')}`);
  conf = replaceOnce(conf, 'error_log /dev/stderr warn;', '');
  return conf;
}

export function nginxTest(confFile: string, prefix: string) {
  return spawnSync('nginx', ['-t', '-p', `${prefix}/`, '-c', confFile], { encoding: 'utf8' });
}

export async function startNginx(listenPort: number, upstream: string): Promise<{ url: string; stop(): Promise<void> }> {
  const prefix = mkdtempSync(join(tmpdir(), 'shop-nginx-'));
  const confFile = join(prefix, 'nginx.conf');
  writeFileSync(confFile, renderNginxConf(prefix, listenPort, upstream));
  const child: ChildProcess = spawn('nginx', ['-p', `${prefix}/`, '-c', confFile, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += d));
  const url = `http://127.0.0.1:${listenPort}`;
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}`);
    if (await fetch(`${url}/healthz`).then(() => true, () => false)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    async stop() {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGQUIT');
      await exited;
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}
