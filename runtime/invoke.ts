/**
 * Calling a function, as the OpenFaaS gateway and provider do: pick a ready replica with room
 * (round robin), forward the request with the path the function sees (what follows
 * /function/NAME), and add X-Call-Id (kept if the caller sent one, also on the answer),
 * X-Start-Time, X-Forwarded-For and X-Forwarded-Host. A call in flight on a replica that dies
 * answers 502 "Can't reach service".
 *
 * Admission, bounded at every step (runtime/supervisor.ts `admit`): a call that finds every
 * replica at its max_inflight waits a short while in line, then is refused 429 with Retry-After;
 * one that finds no replica ready waits a few seconds for one, then is refused 503 with
 * Retry-After. A replica that has not answered a little after its own exec_timeout (frozen, or
 * its watchdog stuck) is given up with 504, the gateway's timeout status.
 */
import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Faults } from './faults';
import type { FunctionReplicas } from './supervisor';

export interface InvokeDeps {
  replicasOf(name: string): FunctionReplicas | undefined;
  agent: http.Agent;
  /** How long a call waits in line when every replica is busy, and for a replica to become ready. */
  admission: { busyWaitMs: number; noneReadyWaitMs: number };
  faults?: Faults;
  started(name: string): void;
  finished(name: string, status: number, seconds: number, fields: { callId: string; method: string; path: string }): void;
}

/** How long after a function's exec_timeout (when its watchdog answers 504 itself) the gateway stops waiting. */
const UPSTREAM_MARGIN_MS = 2_000;
/** Retry-After of a call refused because every replica was busy (they free up within a call's time), and because none was ready (one starts in a second or two). */
export const RETRY_AFTER_S = { busy: 1, noneReady: 2 } as const;

function text(res: ServerResponse, status: number, body: string, callId: string, headers: Record<string, string> = {}): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Call-Id': callId, ...headers });
  res.end(body);
}

export async function invoke(req: IncomingMessage, res: ServerResponse, name: string, path: string, deps: InvokeDeps): Promise<void> {
  const started = process.hrtime.bigint();
  const given = req.headers['x-call-id'];
  const callId = typeof given === 'string' && given ? given : randomUUID();
  const fn = deps.replicasOf(name);
  if (!fn) return text(res, 404, `Cannot find service: ${name}.`, callId);

  deps.started(name);
  let status = 0;
  const finish = (s: number) => {
    if (status) return;
    status = s;
    deps.finished(name, s, Number(process.hrtime.bigint() - started) / 1e9, { callId, method: req.method ?? 'GET', path });
  };

  const fault = deps.faults?.forFunction(name);
  if (fault?.status) {
    finish(fault.status);
    return text(res, fault.status, `injected fault: ${name} answered ${fault.status}`, callId);
  }
  if (fault?.drop) {
    finish(502);
    return void res.destroy();
  }

  req.pause();
  const replica = await fn.admit(deps.admission);
  if (replica === 'busy') {
    finish(429);
    return text(res, 429, `Every replica of ${name} is busy: try again\n`, callId, { 'Retry-After': String(RETRY_AFTER_S.busy) });
  }
  if (replica === 'none-ready' || replica.port === undefined) {
    if (replica !== 'none-ready') replica.release();
    finish(503);
    return text(res, 503, `No endpoints available for: ${name}.`, callId, { 'Retry-After': String(RETRY_AFTER_S.noneReady) });
  }
  if (fault?.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs));

  const headers = {
    ...req.headers,
    'x-call-id': callId,
    'x-start-time': `${Date.now()}000000`, // nanoseconds, as the gateway sends it
    'x-forwarded-for': (req.headers['x-forwarded-for'] as string | undefined) ?? req.socket.remoteAddress ?? '',
    'x-forwarded-host': (req.headers['x-forwarded-host'] as string | undefined) ?? req.headers.host ?? '',
  };
  const admittedAt = performance.now();
  const upstream = http.request({ host: '127.0.0.1', port: replica.port, method: req.method, path, headers, agent: deps.agent, timeout: fn.execTimeoutMs + UPSTREAM_MARGIN_MS });
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    replica.release();
  };
  upstream.on('response', (answer) => {
    const seconds = (Number(process.hrtime.bigint() - started) / 1e9).toFixed(6);
    res.writeHead(answer.statusCode ?? 502, { ...answer.headers, 'x-call-id': callId, 'x-duration-seconds': answer.headers['x-duration-seconds'] ?? seconds });
    answer.pipe(res);
    answer.on('end', () => {
      release();
      fn.observeCall(performance.now() - admittedAt);
      finish(answer.statusCode ?? 502);
    });
    answer.on('error', () => {
      release();
      finish(502);
      res.destroy();
    });
  });
  let timedOut = false;
  upstream.on('timeout', () => {
    timedOut = true;
    upstream.destroy(new Error('upstream timeout'));
  });
  upstream.on('error', () => {
    release();
    // The replica never answered in time (504), or died (502).
    const failed = timedOut ? 504 : 502;
    if (!status) text(res, failed, timedOut ? `${name} did not answer in time.` : `Can't reach service for: ${name}.`, callId);
    finish(failed);
  });
  res.on('close', () => {
    if (status) return;
    // The caller went away: drop the call to the replica, whose handler runs on, as in a pod.
    upstream.destroy();
    release();
    finish(499);
  });
  req.pipe(upstream);
  req.resume();
}
