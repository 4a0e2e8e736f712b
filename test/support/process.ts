/**
 * `npm start`'s exact command as a real process in its own process group (as in a terminal,
 * where Ctrl-C or systemd's stop signal the whole group), exec'd so that the runtime's own
 * exit code is seen (npm itself dies of the signal instead of reporting its child's exit).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../../runtime/build';
import { BASIC_AUTH_FILE } from '../../runtime/secrets';
import { freePort } from './fixtures';

export interface ShopProcess {
  child: ChildProcess;
  output(): string;
  exited: Promise<number | null>;
  signal(signal: NodeJS.Signals): void;
}

export interface ShopProcessHome {
  dir: string;
  dataDir: string;
  port: number;
  storefrontPort: number;
  fn(name: string): string;
  /** The Authorization header of the gateway's admin user (once started). */
  basicAuth(): string;
  start(env?: Record<string, string>): Promise<ShopProcess>;
  /** Kills whatever is still running and deletes the folder. */
  dispose(): void;
}

export async function shopProcessHome(): Promise<ShopProcessHome> {
  const dir = mkdtempSync(join(tmpdir(), 'shop-process-'));
  const [port, storefrontPort] = [await freePort(), await freePort()];
  const started: ChildProcess[] = [];
  const command = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }).scripts.start;

  const start = (env: Record<string, string> = {}): Promise<ShopProcess> => {
    const child = spawn('sh', ['-c', `exec ${command}`], {
      cwd: ROOT,
      env: { ...process.env, GATEWAY_PORT: String(port), STOREFRONT_PORT: String(storefrontPort), DATA_DIR: join(dir, 'data'), SECRETS_DIR: join(dir, 'secrets'), LOG_LEVEL: 'info', WATCH: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    started.push(child);
    let output = '';
    child.stdout?.on('data', (d) => (output += d));
    child.stderr?.on('data', (d) => (output += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const handle: ShopProcess = { child, output: () => output, exited, signal: (s) => process.kill(-(child.pid as number), s) };
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`npm start did not come up:\n${output}`)), 60_000);
      child.stdout?.on('data', () => {
        if (output.includes(`http://127.0.0.1:${port}`) && output.includes(`http://127.0.0.1:${storefrontPort}`)) {
          clearTimeout(timer);
          resolve(handle);
        }
      });
      void exited.then((code) => reject(new Error(`npm start exited with ${code}:\n${output}`)));
    });
  };

  return {
    dir,
    dataDir: join(dir, 'data'),
    port,
    storefrontPort,
    fn: (name) => `http://127.0.0.1:${port}/function/${name}`,
    basicAuth: () => `Basic ${Buffer.from(`admin:${readFileSync(join(dir, 'secrets', BASIC_AUTH_FILE), 'utf8').trim()}`).toString('base64')}`,
    start,
    dispose() {
      for (const child of started) if (child.exitCode === null && child.signalCode === null) process.kill(-(child.pid as number), 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
