/**
 * `npm start`'s watch, end to end, on a copy of the repository (the test saves the copy's
 * sources, never the real ones): saves roll out while callers in a closed loop keep calling,
 * every call is answered 2xx and the new behaviour is served; a type error or a build error
 * keeps the old code serving and is printed once with its file and line; a core/ change rolls
 * every function over; the storefront takes its own changes without dropping a request; a
 * stack.yml change applies like faas-cli deploy; a function on the node22 template runs as
 * node20 does. It waits for events (a line printed, an answer seen), never for a time.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BASIC_AUTH_FILE } from '../runtime/secrets';
import { newShopperId } from './support/fixtures';
import { copyRepo, startCopy, type RepoCopy, type StartedCopy } from './support/repo-copy';

jest.setTimeout(240_000);

let copy: RepoCopy;
let shop: StartedCopy;
const HANDLER = 'functions/inventory-get/handler.ts';

beforeAll(async () => {
  copy = copyRepo();
  copy.edit('stack.yml', /(inventory-list:\n\s+lang: )node20/, '$1node22');
  shop = await startCopy(copy);
});
afterAll(async () => {
  await shop?.stop();
  copy?.dispose();
});

interface Answer {
  status: number;
  headers: Headers;
  body: string;
}

/**
 * Callers in a closed loop, each sending its next call when its last is answered, until
 * stopped; `until` resolves at the first answer that passes a test. A failure is any answer
 * that is not 2xx, or a call that got no answer.
 */
function closedLoop(callers: number, call: (i: number) => Promise<Answer>) {
  const failures: string[] = [];
  let answered = 0;
  let stopped = false;
  const waiting = new Set<{ test: (a: Answer) => boolean; resolve: () => void }>();
  const loops = Array.from({ length: callers }, async (_, c) => {
    for (let i = 0; !stopped; i++) {
      try {
        const answer = await call(c * 1_000_000 + i);
        answered++;
        if (answer.status < 200 || answer.status > 299) failures.push(`${answer.status} ${answer.body.slice(0, 200)}`);
        for (const w of waiting) {
          if (!w.test(answer)) continue;
          waiting.delete(w);
          w.resolve();
        }
      } catch (error) {
        failures.push(String(error));
      }
    }
  });
  return {
    until: (test: (a: Answer) => boolean) => new Promise<void>((resolve) => waiting.add({ test, resolve })),
    async stop() {
      stopped = true;
      await Promise.all(loops);
      return { failures, answered };
    },
  };
}

const get = async (url: string): Promise<Answer> => {
  const res = await fetch(url);
  return { status: res.status, headers: res.headers, body: await res.text() };
};
const inventoryGet = () => get(`${shop.url}/function/inventory-get?id=gooseneck-kettle`);
const variant = (a: Answer) => a.headers.get('x-variant');
const basicAuth = () => `Basic ${Buffer.from(`admin:${readFileSync(join(copy.root, '.secrets', BASIC_AUTH_FILE), 'utf8').trim()}`).toString('base64')}`;
const system = async (path: string) => {
  const res = await fetch(`${shop.url}${path}`, { headers: { authorization: basicAuth() } });
  return { status: res.status, json: (await res.json().catch(() => undefined)) as Record<string, unknown> | undefined };
};
/** Saves the handler with a response header X-Variant set to `value` (source text, so a number is a type error). */
const saveVariant = (value: string) => {
  const text = copy.read(HANDLER).replace(/, headers: \{ 'X-Variant': [^}]* \}/, '');
  copy.save(HANDLER, text.replace('body: await findProduct(await call.store(), id) })', `body: await findProduct(await call.store(), id), headers: { 'X-Variant': ${value} } })`));
};
const count = (text: string, pattern: RegExp) => text.match(new RegExp(pattern, 'g'))?.length ?? 0;

describe('npm start, watching', () => {
  it('runs a function whose stack.yml lang is node22 as node20 does', async () => {
    const list = await get(`${shop.url}/function/inventory-list?limit=2`);
    expect(list.status).toBe(200);
    expect((await system('/system/function/inventory-list')).json).toMatchObject({ name: 'inventory-list', availableReplicas: 1 });
  });

  it('rolls a saved handler out while calls flow: every call answered 2xx, then the new code serving', async () => {
    const loop = closedLoop(4, inventoryGet);
    const from = shop.output().length;
    saveVariant(`'2'`);
    await loop.until((a) => variant(a) === '2');
    const { failures, answered } = await loop.stop();
    expect(failures).toEqual([]);
    expect(answered).toBeGreaterThan(0);
    expect(await shop.waitFor(/new code serving: inventory-get,/, from)).not.toMatch(/error/);
    expect(variant(await inventoryGet())).toBe('2');
  });

  it('keeps the old code serving on a type error or a build error, prints each once with its file and line, and rolls the next good save out', async () => {
    let from = shop.output().length;
    saveVariant('3'); // a number where the headers are strings
    let out = await shop.waitFor(/inventory-get: not rolled out/, from);
    expect(count(out, /functions\/inventory-get\/handler\.ts:\d+:\d+: error: TS2322/)).toBe(1);
    expect(variant(await inventoryGet())).toBe('2');

    // Saved again with the same error: not printed again.
    from = shop.output().length;
    copy.save(HANDLER, `${copy.read(HANDLER)}\n// still broken\n`);
    out = await shop.waitFor(/inventory-get: not rolled out/, from);
    expect(out).not.toMatch(/TS2322/);

    from = shop.output().length;
    copy.save(HANDLER, copy.read(HANDLER).replace('export =', 'export = ='));
    out = await shop.waitFor(/inventory-get: not rolled out/, from);
    expect(count(out, /functions\/inventory-get\/handler\.ts:\d+:\d+: error: /)).toBe(1);
    expect(out).not.toMatch(/TS2322/);
    expect(variant(await inventoryGet())).toBe('2');

    from = shop.output().length;
    copy.save(HANDLER, copy.read(HANDLER).replace('export = =', 'export ='));
    saveVariant(`'4'`);
    await shop.waitFor(/new code serving: inventory-get,/, from);
    expect(variant(await inventoryGet())).toBe('4');
  });

  it('rolls all 15 functions over after a core/ change, no call failing meanwhile', async () => {
    const loop = closedLoop(4, (i) => (i % 2 ? inventoryGet() : get(`${shop.url}/function/cart-get?shopperId=${newShopperId()}`)));
    const from = shop.output().length;
    copy.edit('core/fn.ts', `'Cache-Control': 'no-store',`, `'Cache-Control': 'no-store', 'X-Core-Build': '1',`);
    const out = await shop.waitFor(/new code serving: .*order-sweep,/, from);
    const { failures } = await loop.stop();
    expect(failures).toEqual([]);
    const functions = ((await system('/system/functions')).json as unknown as { name: string }[]).map((f) => f.name);
    expect(functions).toHaveLength(15);
    for (const name of functions) {
      expect(out).toContain(name);
      // Whatever each answers to a bare GET, it comes from the new core/fn.ts.
      expect([name, (await fetch(`${shop.url}/function/${name}`)).headers.get('x-core-build')]).toEqual([name, '1']);
    }
  });

  it('restarts the storefront on its own changes (views and code) without dropping a request, and keeps it when the new one does not start', async () => {
    const loop = closedLoop(4, (i) => get(`${shop.storefrontUrl}/${i % 2 ? 'healthz' : ''}`));
    let from = shop.output().length;
    copy.edit('frontend/views/partials/footer.ejs', 'served by OpenFaaS functions', 'served by OpenFaaS functions, saved a moment ago');
    await loop.until((a) => a.body.includes('saved a moment ago'));
    await shop.waitFor(/new code serving: storefront,/, from);
    from = shop.output().length;
    copy.edit('frontend/app.ts', `res.json({ status: 'ok' })`, `res.json({ status: 'ok', saved: true })`);
    await loop.until((a) => a.body.includes('"saved":true'));
    await shop.waitFor(/new code serving: storefront,/, from);
    // One that dies as it starts: the one serving stays.
    from = shop.output().length;
    const server = copy.read('frontend/server.ts');
    copy.edit('frontend/server.ts', 'if (require.main === module) {', `if (require.main === module) {\n  if (process.env.GATEWAY_URL) throw new Error('broken on purpose');`);
    await shop.waitFor(/storefront: the new one did not start, the old one keeps serving/, from);
    expect((await get(`${shop.storefrontUrl}/healthz`)).body).toContain('"saved":true');
    from = shop.output().length;
    copy.save('frontend/server.ts', server);
    await shop.waitFor(/new code serving: storefront,/, from);
    const { failures, answered } = await loop.stop();
    expect(failures).toEqual([]);
    expect(answered).toBeGreaterThan(0);
  });

  it('applies stack.yml like faas-cli deploy: a changed environment rolls out, a dropped function goes, an added one comes', async () => {
    let from = shop.output().length;
    copy.edit('stack.yml', /(cart-get:\n(?:.*\n)*?\s+environment: )\*env/, '$1{ <<: *env, SHOP_WATCH_TEST: "1" }');
    await shop.waitFor(/new code serving: cart-get,/, from);
    expect((await system('/system/function/cart-get')).json?.envVars).toMatchObject({ SHOP_WATCH_TEST: '1' });

    const stack = copy.read('stack.yml');
    const recent = /\n {2}order-recent:\n(?: {4}.*\n)+/.exec(stack)?.[0] as string;
    from = shop.output().length;
    copy.save('stack.yml', stack.replace(recent, '\n'));
    await shop.waitFor(/removed: order-recent/, from);
    expect((await get(`${shop.url}/function/order-recent`)).status).toBe(404);

    from = shop.output().length;
    copy.save('stack.yml', stack);
    await shop.waitFor(/new code serving: order-recent,/, from);
    expect((await system('/system/function/order-recent')).status).toBe(200);

    // A file faas-cli would refuse: printed once, nothing applied.
    from = shop.output().length;
    copy.save('stack.yml', stack.replace('com.openfaas.scale.max: "5"', 'com.openfaas.scale.max: "9"'));
    const out = await shop.waitFor(/stack\.yml: .*1\.\.5/, from);
    expect(count(out, /stack\.yml: /)).toBe(1);
    expect((await system('/system/functions')).json).toHaveLength(15);
    copy.save('stack.yml', stack);
  });

  it('stops on SIGTERM with exit code 0', async () => {
    expect(await shop.stop()).toBe(0);
  });
});
