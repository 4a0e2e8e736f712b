/** Seeding: idempotent upserts, --reset, hot-swapping through a running shop, and seed/seed.js kept in step. */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { ROOT } from '../runtime/build';
import { readCatalog } from '../seed/catalog';
import { MONGOSH_FILE, mongoshScript } from '../seed/mongosh';
import { SHOP_INDEXES } from '../core/store/document-store';
import { closeStores, openCollections, openStore } from '../core/store/open';
import { checkInvariant } from './support/invariant';
import { startTestShop } from './support/shop';

const seedCommand = (args: string[]) => ['--import', 'tsx', 'seed/seed.ts', ...args];
const seedEnv = (env: Record<string, string>) => ({ ...process.env, ...env, MONGO_URL: '' });
const seed = (args: string[], env: Record<string, string>) =>
  execFileSync(process.execPath, seedCommand(args), { cwd: ROOT, env: seedEnv(env), encoding: 'utf8' });
/** For a shop running in this process: its event loop must keep serving while the seed runs. */
const seedAsync = async (args: string[], env: Record<string, string>) =>
  (await promisify(execFile)(process.execPath, seedCommand(args), { cwd: ROOT, env: seedEnv(env), encoding: 'utf8' })).stdout;

describe('the catalog file', () => {
  it('passes the schema the functions use', () => {
    expect(readCatalog().length).toBeGreaterThanOrEqual(10);
  });

  it('is what seed/seed.js upserts (regenerate: npm run seed -- --write-mongosh)', () => {
    expect(readFileSync(MONGOSH_FILE, 'utf8')).toBe(mongoshScript(readCatalog()));
  });

  it('seeds through seed/seed.js keeping the stock invariant: new products supplied in the ledger, existing stock untouched', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'shop-mongosh-'));
    const target = { kind: 'embedded', location: dataDir } as const;
    const { collections, close } = await openCollections(target, SHOP_INDEXES);
    const store = await openStore(target);
    try {
      /** Runs seed.js against a stand-in for mongosh's db, then applies its upserts to the embedded store as MongoDB would. */
      const runScript = async () => {
        const calls: [{ _id: string }, { $set: object; $setOnInsert: object }][] = [];
        const printed: string[] = [];
        let ids = 0;
        const products = { updateOne: (filter: { _id: string }, update: { $set: object; $setOnInsert: object }) => (calls.push([filter, update]), { upsertedCount: 0, modifiedCount: 0 }) };
        runInNewContext(readFileSync(MONGOSH_FILE, 'utf8'), {
          db: { getSiblingDB: (name: string) => (name === 'shopdb' ? { products } : null) },
          ObjectId: class {
            toString = () => `objectid-${++ids}`;
          },
          print: (line: string) => printed.push(line),
        });
        for (const [filter, update] of calls) {
          if (!(await collections.products.insertOnce({ ...filter, ...update.$set, ...update.$setOnInsert }))) await collections.products.updateOne(filter, { $set: update.$set });
        }
        await store.flushLedger();
        return printed;
      };
      expect(await runScript()).toEqual([expect.stringMatching(/^catalog: 12 products/)]);
      expect(await checkInvariant(store, [])).toMatchObject({ products: 12, violations: [] });
      const sold = await store.setStock('gooseneck-kettle', 3);
      expect(sold?.stock).toBe(3);

      await runScript();
      expect((await store.getProducts(['gooseneck-kettle']))[0]?.stock).toBe(3);
      expect(await checkInvariant(store, [])).toMatchObject({ products: 12, violations: [] });
    } finally {
      await close();
      await closeStores();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe('npm run seed', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'shop-seed-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('upserts by id, changes nothing the second time, and --reset removes what the file lacks', () => {
    const env = { DATA_DIR: join(dir, 'data') };
    expect(seed([], env)).toMatch(/12 created, 0 updated, 0 unchanged, 0 removed/);
    expect(seed([], env)).toMatch(/0 created, 0 updated, 12 unchanged, 0 removed/);
    const smaller = join(dir, 'catalog.json');
    const catalog = readCatalog().slice(0, 3);
    writeFileSync(smaller, JSON.stringify([{ ...catalog[0], priceCents: 1 }, ...catalog.slice(1)]));
    expect(seed(['--file', smaller, '--reset'], env)).toMatch(/0 created, 1 updated, 2 unchanged, 9 removed/);
  });

  it('refuses a catalog the schema rejects, naming the problem', () => {
    const bad = join(dir, 'catalog.json');
    writeFileSync(bad, JSON.stringify([{ ...readCatalog()[0], priceCents: -5 }]));
    expect(() => seed(['--file', bad], { DATA_DIR: join(dir, 'data') })).toThrow(/priceCents/);
  });

  it('hot-swaps the inventory of a running shop through inventory-restock', async () => {
    const t = await startTestShop();
    try {
      const changed = readCatalog().map((p) => (p.id === 'gooseneck-kettle' ? { ...p, priceCents: 3999, stock: 77 } : p));
      const file = join(dir, 'catalog.json');
      writeFileSync(file, JSON.stringify([...changed, { ...changed[0], id: 'brand-new-thing', name: 'Brand New Thing' }]));
      const tokenFile = join(dir, 'token');
      writeFileSync(tokenFile, t.shop.secrets['shop-admin-token'] as string);
      const out = await seedAsync(['--gateway', t.shop.url, '--file', file, '--token-file', tokenFile], {});
      expect(out).toMatch(/1 created, 12 updated, 0 failed/);
      expect((await t.call('inventory-get', { query: { id: 'gooseneck-kettle' } })).json).toMatchObject({ priceCents: 3999, stock: 77 });
      expect((await t.call('inventory-get', { query: { id: 'brand-new-thing' } })).status).toBe(200);
    } finally {
      await t.stop();
    }
  });
});
