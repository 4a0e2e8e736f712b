/**
 * The async queue's retries, as OpenFaaS Pro's queue-worker retries: which answers are tried
 * again, and how long each wait is.
 */
import { QUEUE_WORKER_PRO, retryPolicyFromEnv, retryWait, retryable } from './retries';

describe('async retries', () => {
  it('retries 408, 429, 500, 502, 503, 504 and calls not answered, 10 attempts in all, by default', () => {
    expect(QUEUE_WORKER_PRO).toMatchObject({ maxAttempts: 10, initialWaitMs: 10_000, maxWaitMs: 120_000 });
    expect([0, 408, 429, 500, 502, 503, 504].every((s) => retryable(QUEUE_WORKER_PRO, s))).toBe(true);
    expect([200, 201, 202, 400, 401, 403, 404, 409, 413, 415, 501].some((s) => retryable(QUEUE_WORKER_PRO, s))).toBe(false);
  });

  it('waits 10 s, doubling up to 120 s', () => {
    expect(Array.from({ length: 9 }, (_, i) => retryWait(QUEUE_WORKER_PRO, i + 1, 500) / 1000)).toEqual([10, 20, 40, 80, 120, 120, 120, 120, 120]);
  });

  it('waits what a 429 or 503 asks with Retry-After, between the initial and the longest wait', () => {
    expect(retryWait(QUEUE_WORKER_PRO, 1, 429, '30')).toBe(30_000);
    expect(retryWait(QUEUE_WORKER_PRO, 1, 503, '1')).toBe(10_000);
    expect(retryWait(QUEUE_WORKER_PRO, 1, 503, '3600')).toBe(120_000);
    expect(retryWait(QUEUE_WORKER_PRO, 1, 503, new Date(Date.now() + 60_000).toUTCString())).toBeGreaterThan(55_000);
    expect(retryWait(QUEUE_WORKER_PRO, 2, 500, '30')).toBe(20_000); // only 429 and 503 say when
    expect(retryWait(QUEUE_WORKER_PRO, 1, 503, 'soon')).toBe(10_000);
  });

  it('reads its settings from the environment as Go durations', () => {
    expect(retryPolicyFromEnv({ QUEUE_MAX_ATTEMPTS: '3', QUEUE_INITIAL_RETRY_WAIT: '50ms', QUEUE_MAX_RETRY_WAIT: '1s' })).toMatchObject({ maxAttempts: 3, initialWaitMs: 50, maxWaitMs: 1_000 });
    expect(retryPolicyFromEnv({ QUEUE_MAX_ATTEMPTS: 'many' })).toEqual(QUEUE_WORKER_PRO);
  });
});
