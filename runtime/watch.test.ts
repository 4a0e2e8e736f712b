/** What the watch sees (every save, editors' side files left out) and what it rebuilds for it. */
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { STOREFRONT_BUNDLE, functionBundle } from './build';
import type { FileEvent } from './typecheck';
import { BundleInputs, watchFiles } from './watch';

const change = (...paths: string[]): FileEvent[] => paths.map((path) => ({ path, kind: 'change' }));
const ids = (inputs: BundleInputs, events: FileEvent[]) => inputs.plan(events).bundles.map((b) => b.id).sort();

describe('what a save rebuilds', () => {
  const bundles = [functionBundle('cart-get'), functionBundle('inventory-get'), STOREFRONT_BUNDLE];
  const recorded = {
    'functions/cart-get': ['functions/cart-get/handler.ts', 'core/cart.ts', 'core/fn.ts'],
    'functions/inventory-get': ['functions/inventory-get/handler.ts', 'core/catalog.ts', 'core/fn.ts'],
    storefront: ['frontend/server.ts', 'frontend/app.ts', 'core/catalog.ts'],
  };

  it('the bundles whose inputs include a changed file, and only those', () => {
    const inputs = new BundleInputs(bundles, recorded);
    expect(inputs.unknown).toEqual([]);
    expect(ids(inputs, change('functions/inventory-get/handler.ts'))).toEqual(['functions/inventory-get']);
    expect(ids(inputs, change('core/fn.ts'))).toEqual(['functions/cart-get', 'functions/inventory-get']);
    expect(ids(inputs, change('core/catalog.ts'))).toEqual(['functions/inventory-get', 'storefront']);
    expect(ids(inputs, change('core/checkout.ts', 'functions/cart-get/handler.test.ts'))).toEqual([]);
  });

  it('a new function, the storefront for its views, a stack.yml change, and bundles it knows nothing of', () => {
    const inputs = new BundleInputs(bundles, { 'functions/cart-get': recorded['functions/cart-get'] });
    expect(inputs.unknown.map((b) => b.id)).toEqual(['functions/inventory-get', 'storefront']);
    expect(ids(inputs, [{ path: 'functions/gift-card/handler.ts', kind: 'add' }])).toEqual(['functions/gift-card']);
    expect(inputs.plan(change('frontend/views/partials/footer.ejs'))).toEqual({ bundles: [STOREFRONT_BUNDLE], assets: true, stack: false });
    expect(inputs.plan(change('stack.yml'))).toEqual({ bundles: [], assets: false, stack: true });
  });

  it('a bundle whose last build failed on any save (it may be its fix), until it builds', () => {
    const inputs = new BundleInputs(bundles, recorded);
    inputs.record({ bundle: functionBundle('cart-get'), ok: false, problems: [{ where: 'functions/cart-get/handler.ts:1:1', text: 'Could not resolve "./missing"' }] });
    expect(ids(inputs, change('functions/cart-get/missing.ts'))).toEqual(['functions/cart-get']);
    inputs.record({ bundle: functionBundle('cart-get'), ok: true, changed: true, inputs: ['functions/cart-get/handler.ts', 'functions/cart-get/missing.ts'] });
    expect(ids(inputs, change('core/fn.ts'))).toEqual(['functions/inventory-get']);
    expect(ids(inputs, change('functions/cart-get/missing.ts'))).toEqual(['functions/cart-get']);
  });
});

describe('watching the files', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'shop-watch-'));
    mkdirSync(join(root, 'functions', 'cart-get'), { recursive: true });
    mkdirSync(join(root, 'core'));
    writeFileSync(join(root, 'functions', 'cart-get', 'handler.ts'), 'export = 1;\n');
    writeFileSync(join(root, 'stack.yml'), 'version: 1.0\n');
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  /** The batches seen, and a promise of the next one. */
  async function watching(quietMs = 50) {
    const batches: FileEvent[][] = [];
    const waiters: ((batch: FileEvent[]) => void)[] = [];
    const watcher = watchFiles(root, (events) => (waiters.shift() ?? ((b: FileEvent[]) => batches.push(b)))(events), quietMs);
    const next = () => new Promise<FileEvent[]>((resolve) => (batches.length > 0 ? resolve(batches.shift() as FileEvent[]) : waiters.push(resolve)));
    return { watcher, next };
  }

  it('sees every save by rename of a file (the second one too)', async () => {
    const { watcher, next } = await watching();
    const file = join(root, 'functions', 'cart-get', 'handler.ts');
    try {
      for (let save = 1; save <= 3; save++) {
        writeFileSync(`${file}~`, `export = ${save};\n`);
        renameSync(`${file}~`, file);
        expect(await next()).toEqual([{ path: 'functions/cart-get/handler.ts', kind: 'change' }]);
      }
    } finally {
      await watcher.close();
    }
  });

  it('gathers a burst of saves into one batch, new folders included, and leaves tests and editors’ side files out', async () => {
    // A quiet period far longer than the writes take, each in a turn of its own.
    const { watcher, next } = await watching(1_000);
    const turn = () => new Promise((resolve) => setTimeout(resolve, 1));
    try {
      mkdirSync(join(root, 'core', 'store'));
      writeFileSync(join(root, 'core', 'store', 'cart.ts'), 'export const a = 1;\n');
      for (const side of ['.handler.ts.swp', 'handler.ts~', '.#handler.ts', 'handler.test.ts']) {
        await turn();
        writeFileSync(join(root, 'functions', 'cart-get', side), 'x');
      }
      await turn();
      writeFileSync(join(root, 'functions', 'cart-get', 'handler.ts'), 'export = 2;\n');
      await turn();
      writeFileSync(join(root, 'stack.yml'), 'version: 1.0\nfunctions: {}\n');
      const batch = await next();
      expect(batch.sort((a, b) => a.path.localeCompare(b.path))).toEqual([
        { path: 'core/store/cart.ts', kind: 'add' },
        { path: 'functions/cart-get/handler.ts', kind: 'change' },
        { path: 'stack.yml', kind: 'change' },
      ]);
    } finally {
      await watcher.close();
    }
  });
});
