/**
 * The template's contract, traps included: a handler that relies on a thrown error or on
 * returning an object fails here exactly as it would in the cluster.
 */
import { serveHandler } from '../test/support/fixtures';
import type { Node20Handler } from '../core/node20';

async function respond(handler: Node20Handler, options: Parameters<Awaited<ReturnType<typeof serveHandler>>['call']>[0] = {}, env?: Record<string, string>) {
  const fn = await serveHandler(handler, env ?? {});
  try {
    return await fn.call(options);
  } finally {
    await fn.close();
  }
}

// The template logs every error a handler raises with console.error, as here: kept, and checked, not printed.
let logged: jest.SpyInstance;
beforeEach(() => {
  logged = jest.spyOn(console, 'error').mockImplementation(() => {});
});
afterEach(() => logged.mockRestore());

describe('node20 template contract', () => {
  it('passes body, headers, method, query and path', async () => {
    let seen: unknown;
    const handler: Node20Handler = async (event) => {
      seen = event;
      return 'ok';
    };
    const fn = await serveHandler(handler, {});
    await fetch(`${fn.url}orders/7?x=1&y[z]=2`, { method: 'PUT', headers: { 'content-type': 'application/json', 'x-test': 'yes' }, body: '{"a":1}' });
    await fn.close();
    expect(seen).toMatchObject({ body: { a: 1 }, method: 'PUT', query: { x: '1', y: { z: '2' } }, path: '/orders/7', headers: { 'x-test': 'yes' } });
  });

  it('answers 200 with "Error: ..." when the handler rejects (the trap)', async () => {
    const res = await respond(async () => {
      throw new Error('database down');
    });
    expect(res.status).toBe(200);
    expect(res.text).toBe('Error: database down');
    expect(logged).toHaveBeenCalledWith(new Error('database down'));
  });

  it('keeps a status set before the handler rejects', async () => {
    const res = await respond(async (_e, ctx) => {
      ctx.status(503);
      throw new Error('down');
    });
    expect(res.status).toBe(503);
  });

  it('sends an object result as JSON text with Content-Type text/html', async () => {
    const res = await respond(async () => ({ hello: 'world' }));
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.text).toBe('{"hello":"world"}');
  });

  it('uses the headers and status the handler sets, replacing the header map', async () => {
    const res = await respond(async (_e, ctx) => {
      ctx.status(201);
      ctx.headers({ 'X-First': 'dropped' });
      ctx.headers({ 'Content-Type': 'application/json' });
      ctx.succeed({ ok: true });
    });
    expect(res.status).toBe(201);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('x-first')).toBeNull();
  });

  it('answers 500 "[object Object]" to fail(object)', async () => {
    const res = await respond(async (_e, ctx) => ctx.fail({ code: 'X' }));
    expect(res.status).toBe(500);
    expect(res.text).toBe('[object Object]');
  });

  it('gives a string body when there is no Content-Type, and {} for a GET', async () => {
    const bodies: unknown[] = [];
    const handler: Node20Handler = async (event) => {
      bodies.push(event.body);
      return 'ok';
    };
    const fn = await serveHandler(handler, {});
    await fetch(fn.url, { method: 'POST', body: '{"a":1}', headers: { 'content-type': '' } });
    await fetch(fn.url);
    await fn.close();
    expect(bodies).toEqual(['{"a":1}', {}]);
  });

  it('answers 400 to malformed JSON and 413 over MAX_JSON_SIZE, before the handler runs', async () => {
    const handler = jest.fn(async () => 'ok');
    expect((await respond(handler, { body: '{"a":', headers: { 'content-type': 'application/json' } })).status).toBe(400);
    expect((await respond(handler, { body: { pad: 'x'.repeat(200) } }, { MAX_JSON_SIZE: '100b' })).status).toBe(413);
    expect((await respond(handler, { body: { pad: 'x'.repeat(110 * 1024) } })).status).toBe(413);
    expect(handler).not.toHaveBeenCalled();
  });

  it('hands over a Buffer for any content type with RAW_BODY=true', async () => {
    let body: unknown;
    await respond(
      async (event) => {
        body = event.body;
        return '';
      },
      { body: 'a=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
      { RAW_BODY: 'true' },
    );
    expect(Buffer.isBuffer(body) && body.toString()).toBe('a=1');
  });
});
