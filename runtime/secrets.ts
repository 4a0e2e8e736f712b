/**
 * Secrets of the local runtime, laid out as the cluster has them:
 * - the functions' secrets (namespace openfaas-fn) are files in SECRETS_DIR (default .secrets/),
 *   one per secret, managed through /system/secrets like `faas-cli secret`;
 * - each replica sees only the secrets its deployment lists, in a folder of links to those
 *   files (its /var/openfaas/secrets), so a rotated secret applies at once;
 * - the runtime's own secrets are apart, as in the cluster's openfaas namespace: the gateway's
 *   admin password and the scaler's in SECRETS_DIR/openfaas/, the storefront's cookie secret in
 *   SECRETS_DIR/storefront/.
 * Missing ones are generated on the first start and kept, so a fresh clone starts without setup
 * and restarts do not invalidate them.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SECRET_NAMES } from '../core/secrets';

export const BASIC_AUTH_FILE = join('openfaas', 'basic-auth-password');
/** The gateway's `scaler` user: lists and scales functions, nothing else (the storefront's operator page). */
export const SCALER_PASSWORD_FILE = join('openfaas', 'scaler-password');
export const COOKIE_SECRET_FILE = join('storefront', 'cookie-secret');
const GENERATED = [SECRET_NAMES.internalToken, SECRET_NAMES.adminToken, BASIC_AUTH_FILE, SCALER_PASSWORD_FILE, COOKIE_SECRET_FILE];
/** Where an earlier version kept the runtime's own secrets, beside the functions'. */
const MOVED: Record<string, string> = { 'basic-auth-password': BASIC_AUTH_FILE, 'storefront-cookie-secret': COOKIE_SECRET_FILE };

/** A Kubernetes secret name (DNS-1123 subdomain): also a safe file name. */
const SECRET_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
export const isSecretName = (name: string) => name.length <= 253 && SECRET_NAME.test(name);
/** The runtime's own folders in SECRETS_DIR, as the cluster's openfaas namespace: never a function's secret. */
const RUNTIME_FOLDERS = ['openfaas', 'storefront'];
export const isRuntimeFolder = (name: string) => RUNTIME_FOLDERS.includes(name);

export function ensureLocalSecrets(dir: string): Record<string, string> {
  for (const sub of ['', ...RUNTIME_FOLDERS]) {
    mkdirSync(join(dir, sub), { recursive: true, mode: 0o700 });
    chmodSync(join(dir, sub), 0o700);
  }
  for (const [old, now] of Object.entries(MOVED)) if (existsSync(join(dir, old)) && !existsSync(join(dir, now))) renameSync(join(dir, old), join(dir, now));
  const values: Record<string, string> = {};
  for (const name of GENERATED) {
    const file = join(dir, name);
    if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('base64url'), { mode: 0o600, flag: 'wx' });
    values[name] = readFileSync(file, 'utf8').trim();
  }
  return values;
}

/** The functions' secrets, as /system/secrets manages them. Values are never read back. */
export class SecretFiles {
  constructor(readonly dir: string) {}

  names(): string[] {
    return readdirSync(this.dir)
      .filter((name) => this.exists(name))
      .sort();
  }

  /** Only a regular file is a secret: the runtime's folders and anything else are not. */
  exists(name: string): boolean {
    if (!isSecretName(name) || isRuntimeFolder(name)) return false;
    try {
      return lstatSync(join(this.dir, name)).isFile();
    } catch {
      return false;
    }
  }

  /** false when it exists already. */
  create(name: string, value: Buffer): boolean {
    try {
      writeFileSync(join(this.dir, name), value, { mode: 0o600, flag: 'wx' });
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    }
  }

  /** false when there is no such secret. Written whole, then moved in place: a reader never sees half. */
  update(name: string, value: Buffer): boolean {
    if (!this.exists(name)) return false;
    const next = join(this.dir, `.${name}.${process.pid}.next`);
    try {
      writeFileSync(next, value, { mode: 0o600 });
      renameSync(next, join(this.dir, name));
    } finally {
      rmSync(next, { force: true });
    }
    return true;
  }

  remove(name: string): boolean {
    if (!this.exists(name)) return false;
    rmSync(join(this.dir, name));
    return true;
  }

  /** A replica's secrets folder: links to the secrets its deployment lists, and nothing else. */
  mount(mountDir: string, names: readonly string[]): string {
    rmSync(mountDir, { recursive: true, force: true });
    mkdirSync(mountDir, { recursive: true, mode: 0o700 });
    for (const name of names) if (this.exists(name)) symlinkSync(join(this.dir, name), join(mountDir, name));
    return mountDir;
  }
}
