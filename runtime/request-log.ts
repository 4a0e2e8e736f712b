/**
 * of-watchdog's request log: one line per call on the replica's stderr, which is what
 * `faas-cli logs NAME` shows of a function that logs nothing itself (executor/http_runner.go):
 *
 *     2026/05/01 10:00:00 GET /?id=x - 200 OK - ContentLength: 1.234kB (0.0031s)
 *
 * with ` [CALL_ID]` at the end when log_call_id=true. Calls from the kubelet's probes
 * (User-Agent kube-probe/...) are left out, as of-watchdog leaves them out. The size is the
 * answer's Content-Length in go-units' HumanSize (decimal units, 4 significant digits); -1B when
 * the answer had none, as of-watchdog prints it.
 */
import { STATUS_CODES } from 'node:http';

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB', 'ZB', 'YB'];

/** go-units HumanSize: 335 -> "335B", 1234 -> "1.234kB", 12_345_678 -> "12.35MB". */
export function humanSize(bytes: number): string {
  let size = bytes;
  let unit = 0;
  while (size >= 1000 && unit < UNITS.length - 1) {
    size /= 1000;
    unit++;
  }
  return `${Number(size.toPrecision(4))}${UNITS[unit]}`;
}

/** Go's log prefix (log.LstdFlags), in UTC as in a container: 2026/05/01 10:00:00. */
export function goLogTime(date: Date): string {
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${date.getUTCFullYear()}/${pad(date.getUTCMonth() + 1)}/${pad(date.getUTCDate())} ${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`;
}

export interface LoggedCall {
  method: string;
  uri: string;
  status: number;
  /** The answer's Content-Length, if it had one. */
  contentLength?: number;
  seconds: number;
  userAgent?: string;
  callId?: string;
}

/** The line of-watchdog writes for a call, or undefined for a probe's call. */
export function requestLine(call: LoggedCall, logCallId: boolean, now = new Date()): string | undefined {
  if (call.userAgent?.startsWith('kube-probe')) return undefined;
  const size = humanSize(call.contentLength ?? -1);
  const line = `${goLogTime(now)} ${call.method} ${call.uri} - ${call.status} ${STATUS_CODES[call.status] ?? ''} - ContentLength: ${size} (${call.seconds.toFixed(4)}s)`;
  return logCallId ? `${line} [${call.callId || 'none'}]` : line;
}
