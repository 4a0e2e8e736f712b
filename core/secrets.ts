/**
 * Secrets are files, one per secret, as OpenFaaS mounts them (/var/openfaas/secrets/NAME).
 * The local runtime points SECRETS_DIR at .secrets/. Secrets never travel in environment
 * variables (MONGO_URL is the one exception, for developers running tests against their
 * own MongoDB).
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const SECRET_NAMES = {
  mongoUrl: 'mongo-url',
  internalToken: 'shop-internal-token',
  adminToken: 'shop-admin-token',
} as const;

export const secretsDir = () => process.env.SECRETS_DIR || '/var/openfaas/secrets';

/** The trimmed secret, or undefined when it is not mounted. Read on each call: cheap, and a rotated secret applies at once. */
export function readSecret(name: string): string | undefined {
  try {
    const value = readFileSync(join(secretsDir(), name), 'utf8').trim();
    return value || undefined;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Compares in constant time, whatever the lengths. */
export function sameSecret(given: string, expected: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(given), digest(expected));
}
