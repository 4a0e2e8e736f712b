/**
 * The OpenFaaS of-watchdog's behaviour in front of the node20 template, as it runs in every
 * function pod (HTTP mode):
 * - `/_/health` answers 200 while the replica takes calls, 503 once it is draining;
 * - `max_inflight` calls at most, further ones answer 429 (0: no limit);
 * - a call still running after `exec_timeout` answers 504 with an empty body, while the handler
 *   runs on to its end, as the template's process does when the watchdog gives up on it;
 * - `drain()` (SIGTERM) stops taking calls and resolves when those in flight are done;
 * - every call answered is logged on stderr as of-watchdog logs it (runtime/request-log.ts),
 *   so `faas-cli logs NAME` shows calls; a call cut off by exec_timeout logs that instead.
 */
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { requestLine } from './request-log';
import { DEFAULT_EXEC_TIMEOUT_MS, parseDuration } from '../core/duration';

export interface WatchdogOptions {
  execTimeoutMs: number;
  /** 0: no limit. */
  maxInflight: number;
  /** log_call_id=true: the request line ends with the call's X-Call-Id. */
  logCallId?: boolean;
  /** Where log lines go: the replica's stderr. */
  log?: (line: string) => void;
}

export interface Watchdog {
  listener: RequestListener;
  inflight(): number;
  /** Stops taking calls; resolves when every call in flight has answered. */
  drain(): Promise<void>;
}


/** The watchdog's settings from a function's environment (stack.yml `environment`). */
export function watchdogOptions(env: Record<string, string | undefined>): WatchdogOptions {
  return { execTimeoutMs: parseDuration(env.exec_timeout, DEFAULT_EXEC_TIMEOUT_MS), maxInflight: Number(env.max_inflight) || 0, logCallId: env.log_call_id === 'true' };
}

const toStderr = (line: string) => void process.stderr.write(`${line}\n`);

export function watchdog(upstream: RequestListener, options: WatchdogOptions): Watchdog {
  const log = options.log ?? toStderr;
  let inflight = 0;
  let draining = false;
  let drained: (() => void) | undefined;
  const settle = () => {
    if (draining && inflight === 0) drained?.();
  };

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/_/health' && (req.method === 'GET' || req.method === 'HEAD')) {
      res.writeHead(draining ? 503 : 200, { 'Content-Type': 'text/plain' });
      return void res.end(draining ? 'Service Unavailable' : 'OK');
    }
    if (draining) {
      res.writeHead(503, { 'Content-Type': 'text/plain', Connection: 'close' });
      return void res.end('Service Unavailable');
    }
    if (options.maxInflight > 0 && inflight >= options.maxInflight) {
      res.writeHead(429, { 'Content-Type': 'text/plain' });
      return void res.end(`Concurrent request limit exceeded. Max concurrent requests: ${options.maxInflight}\n`);
    }
    inflight++;
    const started = process.hrtime.bigint();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      log(`Upstream HTTP killed due to exec_timeout: ${options.execTimeoutMs / 1000}s`);
      if (res.headersSent) return void res.destroy();
      res.writeHead(504, { 'X-Duration-Seconds': (Number(process.hrtime.bigint() - started) / 1e9).toFixed(6) });
      res.end();
    }, options.execTimeoutMs);
    res.once('finish', () => {
      if (timedOut) return;
      const length = res.getHeader('content-length');
      const line = requestLine(
        {
          method: req.method ?? 'GET',
          uri: req.url ?? '/',
          status: res.statusCode,
          contentLength: length === undefined ? undefined : Number(length),
          seconds: Number(process.hrtime.bigint() - started) / 1e9,
          userAgent: req.headers['user-agent'],
          callId: req.headers['x-call-id'] as string | undefined,
        },
        options.logCallId ?? false,
      );
      if (line) log(line);
    });
    res.once('close', () => {
      clearTimeout(timer);
      inflight--;
      settle();
    });
    upstream(req, res);
  };

  return {
    listener,
    inflight: () => inflight,
    drain() {
      draining = true;
      return new Promise<void>((resolve) => {
        drained = resolve;
        settle();
      });
    },
  };
}
