/**
 * Where an async call's result may be POSTed (X-Callback-Url). The queue-worker POSTs to any
 * address and follows redirects, so whoever may call /async-function could make the runtime POST
 * to addresses only it reaches (a database's HTTP port, a cloud's metadata service). Here:
 * - allowed: http(s) to this machine's loopback (127.0.0.0/8, [::1], localhost), where the
 *   callers of a gateway that listens on 127.0.0.1 are anyway, and the origins the operator lists
 *   in ASYNC_CALLBACK_ORIGINS (comma-separated, e.g. `https://hooks.example.com,http://10.0.0.5:9000`);
 * - refused: everything else, when the call is accepted (400, naming the URL) and again when
 *   the result is POSTed (a call accepted under another policy, or by an older version);
 * - a callback that answers with a redirect is not followed.
 */
import { isIP } from 'node:net';

export interface CallbackPolicy {
  /** Origins allowed besides loopback, as URL.origin gives them (`http://host:port`). */
  origins: readonly string[];
}

export function callbackPolicyFromEnv(env: NodeJS.ProcessEnv = process.env): CallbackPolicy {
  const origins = (env.ASYNC_CALLBACK_ORIGINS ?? '')
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean)
    .map((o) => {
      const url = new URL(o);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`ASYNC_CALLBACK_ORIGINS: ${o} is not an http(s) origin`);
      return url.origin;
    });
  return { origins };
}

/** The hosts of this machine's loopback, as the WHATWG URL parser writes them (it turns 2130706433 or 0x7f.1 into 127.0.0.1). */
function loopback(hostname: string): boolean {
  if (hostname === 'localhost' || hostname === '[::1]') return true;
  return isIP(hostname) === 4 && hostname.startsWith('127.');
}

/** Why `raw` may not be a callback URL, or undefined when it may. */
export function refuseCallback(raw: string, policy: CallbackPolicy): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch (error) {
    return `parse "${raw}": ${(error as Error).message}`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `parse "${raw}": unsupported protocol scheme "${url.protocol.replace(':', '')}"`;
  if (url.username || url.password) return `callback URL ${url.origin} must not carry credentials`;
  if (loopback(url.hostname) || policy.origins.includes(url.origin)) return undefined;
  return `callback URL ${url.origin} is not allowed: callbacks go to this machine or to an origin listed in ASYNC_CALLBACK_ORIGINS`;
}

/**
 * POSTs an async call's result to its callback, if the policy still allows it; a redirect is
 * answered, not followed. Resolves to why it was not sent, or undefined.
 */
export async function postCallback(raw: string, init: { headers: Record<string, string>; body: Buffer }, policy: CallbackPolicy): Promise<string | undefined> {
  const refused = refuseCallback(raw, policy);
  if (refused) return refused;
  const res = await fetch(raw, { method: 'POST', headers: init.headers, body: init.body, redirect: 'manual', signal: AbortSignal.timeout(10_000) });
  await res.arrayBuffer();
  return res.status >= 300 && res.status < 400 ? `the callback answered ${res.status}; redirects are not followed` : undefined;
}
