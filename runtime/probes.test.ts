/**
 * The kubelet's probes as the supervisor runs them: GET /_/health as kube-probe, healthy until
 * `failureThreshold` failures in a row (an error status, or no answer within the timeout), healthy
 * again after `successThreshold` successes; and the timings read from the environment.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { FAAS_NETES_PROBES, Probe, checkHealth, probeTimingsFromEnv } from './probes';

/** A /_/health that answers what the test says: a status, or nothing at all. */
async function healthServer() {
  const seen: { userAgent?: string; path?: string }[] = [];
  let answer: number | 'hang' = 200;
  const server = http.createServer((req, res) => {
    seen.push({ userAgent: req.headers['user-agent'], path: req.url });
    if (answer !== 'hang') res.writeHead(answer).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    seen,
    answer: (next: number | 'hang') => (answer = next),
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

const fast = { initialDelayMs: 0, periodMs: 5, timeoutMs: 2_000, failureThreshold: 3, successThreshold: 1 };

describe('probes', () => {
  it('uses faas-netes’s timings unless the environment sets others', () => {
    expect(FAAS_NETES_PROBES.readiness).toEqual({ initialDelayMs: 2_000, periodMs: 2_000, timeoutMs: 1_000, failureThreshold: 3, successThreshold: 1 });
    expect(FAAS_NETES_PROBES.liveness).toEqual(FAAS_NETES_PROBES.readiness);
    expect(probeTimingsFromEnv({})).toEqual(FAAS_NETES_PROBES);
    const tuned = probeTimingsFromEnv({ PROBE_PERIOD_SECONDS: '0.5', PROBE_TIMEOUT_SECONDS: '0.25', PROBE_INITIAL_DELAY_SECONDS: '0', PROBE_FAILURE_THRESHOLD: '5' });
    expect(tuned.liveness).toEqual({ initialDelayMs: 0, periodMs: 500, timeoutMs: 250, failureThreshold: 5, successThreshold: 1 });
    expect(probeTimingsFromEnv({ PROBE_PERIOD_SECONDS: 'often', PROBE_FAILURE_THRESHOLD: '0' })).toEqual(FAAS_NETES_PROBES);
  });

  it('checks /_/health as the kubelet does: 2xx-3xx healthy, anything else or no answer in time not', async () => {
    const s = await healthServer();
    try {
      expect(await checkHealth(s.port, 500)).toBeUndefined();
      expect(s.seen[0]).toEqual({ userAgent: expect.stringMatching(/^kube-probe\//), path: '/_/health' });
      s.answer(503);
      expect(await checkHealth(s.port, 500)).toBe('HTTP probe failed with statuscode: 503');
      s.answer('hang');
      expect(await checkHealth(s.port, 50)).toMatch(/context deadline exceeded/);
    } finally {
      await s.close();
    }
    expect(await checkHealth(s.port, 500)).toMatch(/ECONNREFUSED/);
  });

  it('reports unhealthy after exactly failureThreshold failures in a row, and healthy again after a success', async () => {
    const s = await healthServer();
    const changes: { healthy: boolean; reason?: string; probesSeen: number }[] = [];
    const probe = new Probe(s.port, fast, (healthy, reason) => changes.push({ healthy, reason, probesSeen: s.seen.length }));
    const until = async (condition: () => boolean) => {
      while (!condition()) await new Promise((r) => setTimeout(r, 5));
    };
    try {
      probe.start();
      await until(() => s.seen.length >= 5);
      expect(changes).toEqual([]);
      const before = s.seen.length;
      s.answer(500);
      await until(() => changes.length === 1);
      // One probe may have been answered 200 while the answer changed: three 500s, no more.
      expect(changes[0]).toEqual({ healthy: false, reason: 'HTTP probe failed with statuscode: 500', probesSeen: expect.any(Number) });
      expect((changes[0]?.probesSeen ?? 0) - before).toBeGreaterThanOrEqual(3);
      expect((changes[0]?.probesSeen ?? 0) - before).toBeLessThanOrEqual(4);
      s.answer(200);
      await until(() => changes.length === 2);
      expect(changes[1]).toMatchObject({ healthy: true });
    } finally {
      probe.stop();
      await s.close();
    }
  });
});
