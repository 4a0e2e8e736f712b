/**
 * Calling a function, as the OpenFaaS gateway and provider do: pick a ready replica (round
 * robin), forward the request with the path the function sees (what follows /function/NAME),
 * and add X-Call-Id (kept if the caller sent one, also on the answer), X-Start-Time,
 * X-Forwarded-For and X-Forwarded-Host. When no replica is ready (all starting or restarting),
 * the call waits for one, as the gateway waits for a function to become available. A call in
 * flight on a replica that dies answers 502 "Can't reach service".
 */
import { randomUUID } from 'node:crypto';
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import type { Faults } from './faults';
import type { FunctionReplicas } from './supervisor';

export interface InvokeDeps {
  replicasOf(name: string): FunctionReplicas | undefined;
  agent: http.Agent;
  /** How long a call waits for a replica to become ready. */
  waitForReplicaMs: number;
  /** The gateway's own limit on a call, beyond the watchdog's exec_timeout. */
  upstreamTimeoutMs: number;
  faults?: Faults;
  started(name: string): void;
  finished(name: string, status: number, seconds: number, fields: { callId: string; method: string; path: string }): void;
}

function text(res: ServerResponse, status: number, body: string, callId: string): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Call-Id': callId });
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
  const replica = fn.pick() ?? (await fn.whenAvailable(deps.waitForReplicaMs));
  if (!replica || replica.port === undefined) {
    if (replica) replica.release();
    finish(503);
    return text(res, 503, `No endpoints available for: ${name}.`, callId);
  }
  if (fault?.delayMs) await new Promise((r) => setTimeout(r, fault.delayMs));

  const headers = {
    ...req.headers,
    'x-call-id': callId,
    'x-start-time': `${Date.now()}000000`, // nanoseconds, as the gateway sends it
    'x-forwarded-for': (req.headers['x-forwarded-for'] as string | undefined) ?? req.socket.remoteAddress ?? '',
    'x-forwarded-host': (req.headers['x-forwarded-host'] as string | undefined) ?? req.headers.host ?? '',
  };
  const upstream = http.request({ host: '127.0.0.1', port: replica.port, method: req.method, path, headers, agent: deps.agent, timeout: deps.upstreamTimeoutMs });
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
      finish(answer.statusCode ?? 502);
    });
    answer.on('error', () => {
      release();
      finish(502);
      res.destroy();
    });
  });
  upstream.on('timeout', () => upstream.destroy(new Error('upstream timeout')));
  upstream.on('error', () => {
    release();
    // The replica died or never answered.
    if (!status) text(res, 502, `Can't reach service for: ${name}.`, callId);
    finish(502);
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
