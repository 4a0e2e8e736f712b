/**
 * When the async queue tries a call again, as OpenFaaS Pro's queue-worker does (chart values
 * queueWorkerPro: maxRetryAttempts 10, initialRetryWait 10s, maxRetryWait 120s, httpRetryCodes
 * 408,429,500,502,503,504): a call answered one of those codes, or not answered at all (the
 * community queue-worker reports that as 503), waits and runs again, the wait doubling from the
 * initial one up to the maximum; a Retry-After on a 429 or 503 sets the wait instead (never below
 * the initial wait). After the last attempt the call is kept as a dead letter.
 */
import { parseDuration, retryAfterSeconds } from '../core/duration';

export interface RetryPolicy {
  /** Attempts in all, the first included. */
  maxAttempts: number;
  initialWaitMs: number;
  maxWaitMs: number;
  retryOn: readonly number[];
}

export const QUEUE_WORKER_PRO: RetryPolicy = { maxAttempts: 10, initialWaitMs: 10_000, maxWaitMs: 120_000, retryOn: [408, 429, 500, 502, 503, 504] };

/** The policy, with QUEUE_MAX_ATTEMPTS, QUEUE_INITIAL_RETRY_WAIT and QUEUE_MAX_RETRY_WAIT (Go durations, "10s") from the environment. */
export function retryPolicyFromEnv(env: NodeJS.ProcessEnv): RetryPolicy {
  const attempts = Number(env.QUEUE_MAX_ATTEMPTS);
  return {
    ...QUEUE_WORKER_PRO,
    maxAttempts: Number.isInteger(attempts) && attempts >= 1 ? attempts : QUEUE_WORKER_PRO.maxAttempts,
    initialWaitMs: parseDuration(env.QUEUE_INITIAL_RETRY_WAIT, QUEUE_WORKER_PRO.initialWaitMs),
    maxWaitMs: parseDuration(env.QUEUE_MAX_RETRY_WAIT, QUEUE_WORKER_PRO.maxWaitMs),
  };
}

/** A status that is worth another attempt (0: no answer at all). */
export function retryable(policy: RetryPolicy, status: number): boolean {
  return status === 0 || policy.retryOn.includes(status);
}

/** How long to wait after failed attempt number `attempt` (1 for the first), given the answer's Retry-After. */
export function retryWait(policy: RetryPolicy, attempt: number, status: number, retryAfter?: string | null): number {
  const backoff = Math.min(policy.initialWaitMs * 2 ** (attempt - 1), policy.maxWaitMs);
  if (!retryAfter || (status !== 429 && status !== 503)) return backoff;
  const seconds = retryAfterSeconds(retryAfter);
  if (seconds === undefined) return backoff;
  return Math.min(Math.max(seconds * 1000, policy.initialWaitMs), policy.maxWaitMs);
}
