/**
 * The async queue as dependable as OpenFaaS's queue-worker: a call's hop-by-hop headers are dropped
 * when it is accepted (chunked and Expect: 100-continue calls are delivered, and so is a call an
 * earlier version kept with them), each call has the queue's own id (a caller's X-Call-Id is kept,
 * never used to drop a call), 408/429/500/502/503/504 are retried with growing waits up to a number
 * of attempts and then kept as a dead letter the operator lists, retries or deletes, and the
 * number of pending calls is bounded (429 beyond it). Waits are shortened (20 ms growing to
 * 100 ms, 4 attempts); every step is waited for as an event (a callback, a fault counted).
 */
import Database from 'better-sqlite3';
import http from 'node:http';
import { join } from 'node:path';
import { DATABASE_FILE } from '../core/store/embedded';
import { callbackServer } from './support/callback';
import { newShopperId, request } from './support/fixtures';
import { startTestShop, type TestShop } from './support/shop';
import { until } from './support/until';

let t: TestShop;
let callback: Awaited<ReturnType<typeof callbackServer>>;
const retry = { maxAttempts: 4, initialWaitMs: 20, maxWaitMs: 100 };

beforeAll(async () => {
  callback = await callbackServer();
  t = await startTestShop({ faults: true, queue: { retry } });
});
afterAll(async () => {
  await t.stop();
  await callback.close();
});

const system = (path: string, init: { method?: string; body?: unknown; auth?: string | null } = {}) =>
  fetch(`${t.shop.url}${path}`, {
    method: init.method ?? (init.body === undefined ? 'GET' : 'POST'),
    headers: { ...(init.auth === null ? {} : { authorization: t.admin() }), 'content-type': 'application/json' },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
const faults = (plan: unknown) => system('/system/faults', plan ? { body: plan } : { method: 'DELETE' });
const injected = async () => ((await (await system('/system/faults')).json()) as { injected: number }).injected;
/** Callbacks received for the call with this X-Call-Id. */
const resultsFor = (callId: string) => callback.received.filter((r) => r.headers['x-call-id'] === callId);

/** An async call as a client sends it, its body written as the headers say (chunked, or after 100 Continue). */
type AsyncAnswer = { status: number; headers: http.IncomingHttpHeaders; text: string };
/**
 * A call sent to the queue. The store that keeps it may be busy on a loaded machine: then the
 * gateway answers 503 with Retry-After and keeps nothing, and the call is sent again, as a
 * client should (a few times at most).
 */
async function sendAsync(fn: string, body: string, headers: Record<string, string> = {}): Promise<AsyncAnswer> {
  for (let attempt = 1; ; attempt++) {
    const answer = await sendAsyncOnce(fn, body, headers);
    if (answer.status !== 503 || answer.headers['retry-after'] === undefined || attempt === 5) return answer;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
function sendAsyncOnce(fn: string, body: string, headers: Record<string, string>): Promise<AsyncAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(`${t.shop.url}/async-function/${fn}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-callback-url': callback.url, ...headers } }, (res) => {
      let text = '';
      res.on('data', (d) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
    });
    req.on('error', reject);
    if (headers.expect) req.on('continue', () => req.end(body));
    else if (headers['transfer-encoding']) {
      req.write(body.slice(0, 5));
      req.end(body.slice(5));
    } else req.end(body);
  });
}
const cartAdd = (shopperId = newShopperId()) => JSON.stringify({ shopperId, productId: 'paper-filters-100', quantity: 1 });
/** The calls kept in the store, as the queue keeps them. */
function keptCalls(): { id: string; doc: { headers: Record<string, string>; status: string } }[] {
  const db = new Database(join(t.dataDir, DATABASE_FILE), { readonly: true });
  try {
    return (db.prepare('SELECT id, json(doc) AS doc FROM asyncCalls').all() as { id: string; doc: string }[]).map((r) => ({ id: r.id, doc: JSON.parse(r.doc) }));
  } finally {
    db.close();
  }
}

describe('async calls', () => {
  it('drops hop-by-hop headers when it accepts a call: chunked and Expect: 100-continue calls, and one an earlier version kept with them, are delivered', async () => {
    await t.restart({ queueWorker: false });
    const chunked = await sendAsync('cart-add', cartAdd(), { 'transfer-encoding': 'chunked', connection: 'keep-alive, x-hop', 'x-hop': 'for this connection', 'x-call-id': 'chunked-call' });
    const continued = await sendAsync('cart-add', cartAdd(), { expect: '100-continue', 'content-length': String(Buffer.byteLength(cartAdd())), 'x-call-id': 'expect-call' });
    expect([chunked.status, continued.status]).toEqual([202, 202]);
    const kept = keptCalls();
    expect(kept).toHaveLength(2);
    for (const { doc } of kept) {
      expect(Object.keys(doc.headers).filter((h) => ['transfer-encoding', 'expect', 'connection', 'x-hop', 'content-length', 'host'].includes(h))).toEqual([]);
    }
    // A call kept by an earlier version: its body inline, its caller's hop-by-hop headers with it.
    const db = new Database(join(t.dataDir, DATABASE_FILE));
    const at = new Date().toISOString();
    const old = { _id: 'kept-by-an-earlier-version', function: 'cart-add', path: '/', headers: { 'content-type': 'application/json', 'transfer-encoding': 'chunked', expect: '100-continue', 'x-call-id': 'old-call' }, body: Buffer.from(cartAdd()).toString('base64'), callbackUrl: callback.url, status: 'queued', runAt: at, attempts: 0, acceptedAt: at };
    db.prepare('INSERT INTO asyncCalls (id, doc) VALUES (?, jsonb(?))').run(old._id, JSON.stringify(old));
    db.close();
    await t.restart({ queueWorker: true });
    await until(() => ['chunked-call', 'expect-call', 'old-call'].every((id) => resultsFor(id).length === 1));
    expect(['chunked-call', 'expect-call', 'old-call'].map((id) => resultsFor(id)[0]?.headers['x-function-status'])).toEqual(['200', '200', '200']);
    await until(() => keptCalls().length === 0);
  });

  it('gives every call the queue’s own id: two calls with one X-Call-Id are both run, each with the caller’s id', async () => {
    const shoppers = [newShopperId(), newShopperId()];
    const answers = [await sendAsync('cart-add', cartAdd(shoppers[0]), { 'x-call-id': 'same-id-twice' }), await sendAsync('cart-add', cartAdd(shoppers[1]), { 'x-call-id': 'same-id-twice' })];
    expect(answers.map((a) => [a.status, a.headers['x-call-id']])).toEqual([[202, 'same-id-twice'], [202, 'same-id-twice']]);
    await until(() => resultsFor('same-id-twice').length === 2);
    for (const shopperId of shoppers) expect((await request(`${t.shop.url}/function/cart-get`, { query: { shopperId } })).json.items).toHaveLength(1);
    // Without one, the call's X-Call-Id is the queue's id.
    const plain = await sendAsync('cart-add', cartAdd());
    expect(plain.headers['x-call-id']).toMatch(/^[0-9a-f-]{36}$/);
    await until(() => resultsFor(plain.headers['x-call-id'] as string).length === 1);
  });

  it('runs a call answered 503 again after growing waits, and posts only the answer that ends it', async () => {
    await faults({ functions: { 'cart-clear': { status: 503, times: 2 } } });
    const attemptsBefore = await injected();
    const accepted = await sendAsync('cart-clear', JSON.stringify({ shopperId: newShopperId() }), { 'x-call-id': 'retried-call' });
    expect(accepted.status).toBe(202);
    await until(() => resultsFor('retried-call').length === 1);
    expect(resultsFor('retried-call')[0]?.headers['x-function-status']).toBe('200');
    expect((await injected()) - attemptsBefore).toBe(2);
    // A 400 is the call's answer: posted once, never retried.
    const invalid = await sendAsync('cart-clear', '{"shopperId": 7}', { 'x-call-id': 'invalid-call' });
    expect(invalid.status).toBe(202);
    await until(() => resultsFor('invalid-call').length === 1);
    expect(resultsFor('invalid-call')[0]?.headers['x-function-status']).toBe('400');
    await faults(null);
  });

  it('keeps a call that fails every attempt as a dead letter, which the operator lists, retries and deletes', async () => {
    await faults({ functions: { 'cart-clear': { status: 503 } } });
    const attemptsBefore = await injected();
    const shopperId = newShopperId();
    for (const id of ['dead-then-retried', 'dead-then-deleted']) expect((await sendAsync('cart-clear', JSON.stringify({ shopperId }), { 'x-call-id': id })).status).toBe(202);
    await until(() => resultsFor('dead-then-retried').length === 1 && resultsFor('dead-then-deleted').length === 1);
    // Four attempts each, then the last answer posted once.
    expect((await injected()) - attemptsBefore).toBe(8);
    expect(resultsFor('dead-then-retried')[0]?.headers['x-function-status']).toBe('503');
    const list = (await (await system('/system/dead-letters?function=cart-clear')).json()) as { id: string; callId: string; attempts: number; lastStatus: number; function: string }[];
    expect(list.map((d) => [d.callId, d.function, d.attempts, d.lastStatus]).sort()).toEqual([
      ['dead-then-deleted', 'cart-clear', 4, 503],
      ['dead-then-retried', 'cart-clear', 4, 503],
    ]);
    const retried = list.find((d) => d.callId === 'dead-then-retried')?.id as string;
    const deleted = list.find((d) => d.callId === 'dead-then-deleted')?.id as string;

    await faults(null);
    expect((await system(`/system/dead-letters/${retried}`, { method: 'POST' })).status).toBe(202);
    await until(() => resultsFor('dead-then-retried').length === 2);
    expect(resultsFor('dead-then-retried')[1]?.headers['x-function-status']).toBe('200');
    expect((await system(`/system/dead-letters/${deleted}`, { method: 'DELETE' })).status).toBe(202);
    expect(await (await system('/system/dead-letters')).json()).toEqual([]);
    expect((await system(`/system/dead-letters/${deleted}`, { method: 'POST' })).status).toBe(404);
    expect((await system(`/system/dead-letters/${retried}`, { method: 'DELETE' })).status).toBe(404);
    expect((await system('/system/dead-letters', { auth: null })).status).toBe(401);
    expect((await system('/system/dead-letters?limit=0')).status).toBe(400);
  });

  it('refuses calls beyond the bound on pending calls with 429 and Retry-After', async () => {
    // The earlier cases' calls done first: the bound counts every call waiting or running.
    await until(() => keptCalls().every((c) => c.doc.status !== 'queued' && c.doc.status !== 'running'));
    await t.restart({ queueWorker: false, queue: { retry, maxPending: 3 } });
    const statuses = [];
    for (let i = 0; i < 3; i++) statuses.push((await sendAsync('cart-add', cartAdd())).status);
    const refused = await sendAsync('cart-add', cartAdd());
    expect([...statuses, refused.status, refused.headers['retry-after']]).toEqual([202, 202, 202, 429, '10']);
    expect(refused.text).toBe('the async queue holds 3 calls, its limit (QUEUE_MAX_PENDING): try again later\n');
    expect(keptCalls().filter((c) => c.doc.status === 'queued')).toHaveLength(3);
  });
});
