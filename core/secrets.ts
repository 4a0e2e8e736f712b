/**
 * Secrets are files, one per secret, as OpenFaaS mounts them (/var/openfaas/secrets/NAME).
 * The local runtime points SECRETS_DIR at .secrets/. Secrets never travel in environment
 * variables (MONGO_URL is the one exception, for developers running tests against their
 * own MongoDB).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const SECRET_NAMES = {
  mongoUrl: 'mongo-url',
  internalToken: 'shop-internal-token',
  adminToken: 'shop-admin-token',
} as const;

export const secretsDir = () => process.env.SECRETS_DIR || '/var/openfaas/secrets';

const known = new Map<string, { changedMs: number; size: number; value: string | undefined }>();

/**
 * The trimmed secret, or undefined when it is not mounted. Looked at on each call, so a rotated
 * secret applies at once (Kubernetes swaps the mounted file), but read again only when the file
 * changed: a stat per call, not an open, read and close.
 */
export function readSecret(name: string): string | undefined {
  const file = join(secretsDir(), name);
  const stat = statSync(file, { throwIfNoEntry: false });
  if (!stat || !stat.isFile()) {
    known.delete(file);
    return undefined;
  }
  const cached = known.get(file);
  if (cached && cached.changedMs === stat.mtimeMs && cached.size === stat.size) return cached.value;
  const value = readFileSync(file, 'utf8').trim() || undefined;
  known.set(file, { changedMs: stat.mtimeMs, size: stat.size, value });
  return value;
}

/** Compares in constant time, whatever the lengths. */
export function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}
