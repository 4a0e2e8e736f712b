/**
 * Local secrets, one file per secret in SECRETS_DIR (default .secrets/), the layout
 * `faas-cli local-run` and the cluster use. Missing tokens are generated once, so a fresh
 * clone starts without setup, and kept, so restarts do not invalidate them.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SECRET_NAMES } from '../core/secrets';

export const BASIC_AUTH_SECRET = 'basic-auth-password';
export const COOKIE_SECRET = 'storefront-cookie-secret';
const GENERATED = [SECRET_NAMES.internalToken, SECRET_NAMES.adminToken, BASIC_AUTH_SECRET, COOKIE_SECRET];

export function ensureLocalSecrets(dir: string): Record<string, string> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const values: Record<string, string> = {};
  for (const name of GENERATED) {
    const file = join(dir, name);
    if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('base64url'), { mode: 0o600, flag: 'wx' });
    values[name] = readFileSync(file, 'utf8').trim();
  }
  return values;
}
