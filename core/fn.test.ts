/**
 * A function prepared ahead of its calls (what a local replica does before it says it is ready)
 * has opened the very store its calls then use.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serveHandler } from '../test/support/fixtures';
import { defineFunction } from './fn';
import { closeStores } from './store/open';
import type { ShopStore } from './store/store';
import { z } from './zod';

const dir = mkdtempSync(join(tmpdir(), 'fn-prepare-'));
const saved = process.env.DATA_DIR;
beforeAll(() => (process.env.DATA_DIR = dir));
afterAll(async () => {
  await closeStores();
  if (saved === undefined) delete process.env.DATA_DIR;
  else process.env.DATA_DIR = saved;
  rmSync(dir, { recursive: true, force: true });
});

it('opens, when prepared, the store its calls use', async () => {
  const opened: { store?: ShopStore } = {};
  const handler = defineFunction({ name: 'uses-the-store', method: 'GET', schema: z.object({}), run: async (_input, call) => ({ body: { same: (await call.store()) === opened.store } }) });
  opened.store = (await handler.prepare()) as ShopStore;
  expect(typeof opened.store.listProducts).toBe('function');
  const fn = await serveHandler(handler);
  try {
    expect((await fn.call({ method: 'GET' })).json).toEqual({ same: true });
  } finally {
    await fn.close();
  }
});
