/**
 * The watchdog in front of every replica: health, max_inflight, exec_timeout, draining and the
 * request log, as of-watchdog behaves in a pod.
 */
import http, { type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { humanSize, requestLine } from './request-log';
import { parseDuration } from '../core/duration';
import { watchdog, watchdogOptions, type Watchdog } from './watchdog';

/** What the watchdog served in the test logged. */
let logged: string[] = [];

async function serve(upstream: RequestListener, options: { execTimeoutMs: number; maxInflight: number; logCallId?: boolean }) {
  const dog = watchdog(upstream, { ...options, log: (line) => logged.push(line) });
  const server = http.createServer(dog.listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    dog,
    url,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

/** An upstream whose calls finish when the test says so. */
function heldUpstream() {
  const waiting: (() => void)[] = [];
  const started: string[] = [];
  const listener: RequestListener = (req, res) => {
    started.push(req.url ?? '');
    waiting.push(() => res.end('done'));
  };
  return { listener, started, releaseAll: () => waiting.splice(0).forEach((f) => f()) };
}

const until = async (condition: () => boolean) => {
  while (!condition()) await new Promise((r) => setTimeout(r, 5));
};

describe('watchdog', () => {
  let close: () => Promise<void> = async () => {};
  beforeEach(() => (logged = []));
  afterEach(() => close());

  it('reads the template’s settings as Go durations', () => {
    expect(watchdogOptions({ exec_timeout: '1m30s', max_inflight: '4', log_call_id: 'true' })).toEqual({ execTimeoutMs: 90_000, maxInflight: 4, logCallId: true });
    expect(watchdogOptions({})).toEqual({ execTimeoutMs: 10_000, maxInflight: 0, logCallId: false });
    expect(parseDuration('500ms', 1)).toBe(500);
    expect(parseDuration('7', 1)).toBe(7_000);
    expect(parseDuration('ten seconds', 1)).toBe(1);
  });

  it('answers /_/health without calling the function', async () => {
    const up = heldUpstream();
    const w = await serve(up.listener, { execTimeoutMs: 1_000, maxInflight: 0 });
    close = w.close;
    const res = await fetch(`${w.url}/_/health`);
    expect([res.status, await res.text()]).toEqual([200, 'OK']);
    expect(up.started).toEqual([]);
  });

  it('answers 429 beyond max_inflight, and takes calls again once one finishes', async () => {
    const up = heldUpstream();
    const w = await serve(up.listener, { execTimeoutMs: 5_000, maxInflight: 2 });
    close = w.close;
    const first = [fetch(`${w.url}/a`), fetch(`${w.url}/b`)];
    await until(() => up.started.length === 2);
    const refused = await fetch(`${w.url}/c`);
    expect(refused.status).toBe(429);
    expect(await refused.text()).toMatch(/Max concurrent requests: 2/);
    up.releaseAll();
    expect((await Promise.all(first)).map((r) => r.status)).toEqual([200, 200]);
    const again = fetch(`${w.url}/d`);
    await until(() => up.started.length === 3);
    up.releaseAll();
    expect((await again).status).toBe(200);
  });

  it('answers 504 with an empty body after exec_timeout, while the function runs on', async () => {
    const up = heldUpstream();
    const w = await serve(up.listener, { execTimeoutMs: 50, maxInflight: 0 });
    close = w.close;
    const res = await fetch(`${w.url}/slow`);
    expect(res.status).toBe(504);
    expect(await res.text()).toBe('');
    expect(Number(res.headers.get('x-duration-seconds'))).toBeGreaterThan(0);
    expect(up.started).toEqual(['/slow']);
    up.releaseAll(); // its late answer goes nowhere
    expect(logged).toEqual(['Upstream HTTP killed due to exec_timeout: 0.05s']);
  });

  it('logs one line per call as of-watchdog does, none for health checks or the kubelet’s probes', async () => {
    // As Express answers: the length set as a header, then the body.
    const w = await serve((_req, res) => res.setHeader('Content-Length', '1234').writeHead(201).end('x'.repeat(1234)), { execTimeoutMs: 5_000, maxInflight: 0, logCallId: true });
    close = w.close;
    await (await fetch(`${w.url}/orders?id=7`, { method: 'POST', body: '{}', headers: { 'x-call-id': 'call-42' } })).text();
    await (await fetch(`${w.url}/_/health`)).text();
    await (await fetch(`${w.url}/probe`, { headers: { 'user-agent': 'kube-probe/1.31' } })).text();
    await (await fetch(`${w.url}/no-id`)).text();
    await until(() => logged.length === 2);
    expect(logged[0]).toMatch(/^\d{4}\/\d\d\/\d\d \d\d:\d\d:\d\d POST \/orders\?id=7 - 201 Created - ContentLength: 1\.234kB \(\d+\.\d{4}s\) \[call-42\]$/);
    expect(logged[1]).toMatch(/ GET \/no-id - 201 Created - ContentLength: 1\.234kB \(\d+\.\d{4}s\) \[none\]$/);
  });

  it('writes sizes and lines exactly as of-watchdog does', () => {
    expect([0, 335, 1234, 12_345, 999_999, 12_345_678, -1].map(humanSize)).toEqual(['0B', '335B', '1.234kB', '12.35kB', '1000kB', '12.35MB', '-1B']);
    const at = new Date('2026-05-01T10:00:00Z');
    expect(requestLine({ method: 'GET', uri: '/?id=x', status: 200, contentLength: 1200, seconds: 0.00312 }, false, at)).toBe('2026/05/01 10:00:00 GET /?id=x - 200 OK - ContentLength: 1.2kB (0.0031s)');
    expect(requestLine({ method: 'GET', uri: '/', status: 503, seconds: 1 }, false, at)).toBe('2026/05/01 10:00:00 GET / - 503 Service Unavailable - ContentLength: -1B (1.0000s)');
    expect(requestLine({ method: 'GET', uri: '/_/health', status: 200, seconds: 0, userAgent: 'kube-probe/1.31' }, false, at)).toBeUndefined();
  });

  it('drains on SIGTERM: health turns 503, new calls are refused, calls in flight finish first', async () => {
    const up = heldUpstream();
    const w = await serve(up.listener, { execTimeoutMs: 5_000, maxInflight: 0 });
    close = w.close;
    const inFlight = fetch(`${w.url}/in-flight`);
    await until(() => up.started.length === 1);
    let drained = false;
    const draining = (w.dog as Watchdog).drain().then(() => (drained = true));
    expect((await fetch(`${w.url}/_/health`)).status).toBe(503);
    expect((await fetch(`${w.url}/late`)).status).toBe(503);
    expect(drained).toBe(false);
    up.releaseAll();
    expect((await inFlight).status).toBe(200);
    await draining;
    expect(drained).toBe(true);
  });
});
