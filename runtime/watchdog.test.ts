/**
 * The watchdog in front of every replica: health, max_inflight, exec_timeout and draining, as
 * of-watchdog behaves in a pod.
 */
import http, { type RequestListener } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseDuration, watchdog, watchdogOptions, type Watchdog } from './watchdog';

async function serve(upstream: RequestListener, options: { execTimeoutMs: number; maxInflight: number }) {
  const dog = watchdog(upstream, options);
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
  afterEach(() => close());

  it('reads the template’s settings as Go durations', () => {
    expect(watchdogOptions({ exec_timeout: '1m30s', max_inflight: '4' })).toEqual({ execTimeoutMs: 90_000, maxInflight: 4 });
    expect(watchdogOptions({})).toEqual({ execTimeoutMs: 10_000, maxInflight: 0 });
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
