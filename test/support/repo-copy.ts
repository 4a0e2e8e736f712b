/**
 * A copy of the repository in a temporary folder, to run `npm start` on and edit its sources
 * (the watch's tests and bench) without touching the real ones. node_modules is linked, not
 * copied; dist/, data/ and secrets are left out, so the copy builds its own bundles.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { ROOT } from '../../runtime/build';
import { freePort } from './fixtures';

const LEFT_OUT = new Set(['node_modules', 'dist', 'build', 'data', '.git', '.secrets', 'test-results', 'load-report', 'template']);

export interface RepoCopy {
  root: string;
  read(path: string): string;
  /** Saves a file as an editor that saves by rename does (write beside it, rename over it). */
  save(path: string, text: string): void;
  /** `edit(path, from, to)`: saves the file with `from` replaced by `to` (which must be there). */
  edit(path: string, from: string | RegExp, to: string): void;
  dispose(): void;
}

export function copyRepo(): RepoCopy {
  const root = mkdtempSync(join(tmpdir(), 'shop-copy-'));
  cpSync(ROOT, root, { recursive: true, filter: (src) => !LEFT_OUT.has(relative(ROOT, src).split('/')[0] as string) });
  symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'), 'dir');
  const read = (path: string) => readFileSync(join(root, path), 'utf8');
  const save = (path: string, text: string) => {
    const file = join(root, path);
    writeFileSync(`${file}~`, text);
    renameSync(`${file}~`, file);
  };
  return {
    root,
    read,
    save,
    edit(path, from, to) {
      const text = read(path);
      const next = text.replace(from, to);
      if (next === text) throw new Error(`${path} has no ${String(from)}`);
      save(path, next);
    },
    dispose: () => rmSync(root, { recursive: true, force: true }),
  };
}

export interface StartedCopy {
  child: ChildProcess;
  url: string;
  storefrontUrl: string;
  output(): string;
  /** Resolves once the output matches (checked as it arrives), with the output from `from` on. */
  waitFor(pattern: RegExp, from?: number, timeoutMs?: number): Promise<string>;
  stop(): Promise<number | null>;
}

/** `npm start`'s command in the copy, with the watch on (unless `env` says otherwise); resolves at its ready line. */
export async function startCopy(copy: RepoCopy, env: Record<string, string> = {}): Promise<StartedCopy> {
  const [port, storefrontPort] = [await freePort(), await freePort()];
  const command = (JSON.parse(copy.read('package.json')) as { scripts: { start: string } }).scripts.start;
  const child = spawn('sh', ['-c', `exec ${command}`], {
    cwd: copy.root,
    env: { ...process.env, CI: '', WATCH: '1', GATEWAY_PORT: String(port), STOREFRONT_PORT: String(storefrontPort), LOG_LEVEL: 'warn', AUTOSCALE: '0', SWEEP_EVERY_MS: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  const listeners = new Set<() => void>();
  const append = (d: Buffer) => {
    output += String(d);
    for (const listener of listeners) listener();
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const waitFor = (pattern: RegExp, from = 0, timeoutMs = 120_000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        if (!pattern.test(output.slice(from))) return;
        done();
        resolve(output.slice(from));
      };
      const timer = setTimeout(() => (done(), reject(new Error(`no ${pattern} in npm start's output:\n${output.slice(from)}`))), timeoutMs);
      const gone = () => (done(), reject(new Error(`npm start exited while waiting for ${pattern}:\n${output.slice(from)}`)));
      const done = () => {
        clearTimeout(timer);
        listeners.delete(check);
        child.off('exit', gone);
      };
      listeners.add(check);
      child.once('exit', gone);
      check();
    });
  await waitFor(/^ready: /m);
  return {
    child,
    url: `http://127.0.0.1:${port}`,
    storefrontUrl: `http://127.0.0.1:${storefrontPort}`,
    output: () => output,
    waitFor,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) process.kill(-(child.pid as number), 'SIGTERM');
      return exited;
    },
  };
}
