/**
 * Building some bundles, as the watch does: only those asked for, each one's inputs told, an
 * output that did not change left alone, and a bundle that fails to build or to load, or that
 * the gate refuses, keeps its old file.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ROOT, buildBundles, functionBundle, readBuildInputs, type BundleResult } from './build';

let root: string;
const write = (path: string, text: string) => {
  mkdirSync(dirname(join(root, path)), { recursive: true });
  writeFileSync(join(root, path), text);
};
const bundleOf = (name: string) => join(root, 'dist', 'functions', name, 'handler.js');
const HANDLER = (body: string) => `import { greet } from '../../core/greet';\nconst handler = async () => ${body};\nexport = handler;\n`;
const summary = (results: BundleResult[]) => results.map((r) => [r.bundle.id, r.ok ? (r.changed ? 'changed' : 'same') : r.problems.map((p) => `${p.where} ${p.text}`).join('; ')]);

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'shop-build-'));
  symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'), 'dir');
  write('core/greet.ts', `export const greet = (who: string) => 'hello ' + who;\n`);
  write('functions/hello/handler.ts', HANDLER(`greet('you')`));
  write('functions/other/handler.ts', `const handler = async () => 'other';\nexport = handler;\n`);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

describe('building bundles', () => {
  it('builds the bundles asked for, tells their inputs, and leaves an output that did not change alone', async () => {
    const first = await buildBundles([functionBundle('hello')], { root });
    expect(first).toEqual([{ bundle: functionBundle('hello'), ok: true, changed: true, inputs: ['core/greet.ts', 'functions/hello/handler.ts'] }]);
    expect(readBuildInputs(root)).toEqual({ 'functions/hello': ['core/greet.ts', 'functions/hello/handler.ts'] });
    expect(() => statSync(bundleOf('other'))).toThrow();

    const written = statSync(bundleOf('hello')).mtimeMs;
    // A comment is no change to the minified bundle: nothing to roll out.
    write('core/greet.ts', `// greets\nexport const greet = (who: string) => 'hello ' + who;\n`);
    expect(summary(await buildBundles([functionBundle('hello'), functionBundle('other')], { root }))).toEqual([
      ['functions/hello', 'same'],
      ['functions/other', 'changed'],
    ]);
    expect(statSync(bundleOf('hello')).mtimeMs).toBe(written);
  });

  it('keeps the old bundle of one that fails to build, with the error’s file and line, and still builds the others', async () => {
    await buildBundles([functionBundle('hello'), functionBundle('other')], { root });
    const before = readFileSync(bundleOf('hello'));
    write('functions/hello/handler.ts', HANDLER(`greet('you'`));
    write('functions/other/handler.ts', `const handler = async () => 'other 2';\nexport = handler;\n`);
    expect(summary(await buildBundles([functionBundle('hello'), functionBundle('other')], { root }))).toEqual([
      ['functions/hello', expect.stringMatching(/^functions\/hello\/handler\.ts:2:\d+ Expected "\)" but found ";"$/)],
      ['functions/other', 'changed'],
    ]);
    expect(readFileSync(bundleOf('hello'))).toEqual(before);
  });

  it('keeps the old bundle of one that does not load as the template loads it, or that the gate refuses', async () => {
    await buildBundles([functionBundle('hello')], { root });
    const before = readFileSync(bundleOf('hello'));
    write('functions/hello/handler.ts', `throw new Error('no config');\nexport = 1;\n`);
    expect(summary(await buildBundles([functionBundle('hello')], { root }))).toEqual([['functions/hello', expect.stringMatching(/^functions\/hello\/handler\.ts the bundle does not load .*no config/)]]);
    write('functions/hello/handler.ts', `export = { not: 'a function' };\n`);
    expect(summary(await buildBundles([functionBundle('hello')], { root }))).toEqual([['functions/hello', expect.stringMatching(/module\.exports is not a function/)]]);

    write('functions/hello/handler.ts', HANDLER(`greet('gated')`));
    const gate = async (_b: unknown, inputs: string[]) => (inputs.includes('core/greet.ts') ? [{ where: 'core/greet.ts:1:1', text: 'TS2322: no' }] : []);
    expect(summary(await buildBundles([functionBundle('hello')], { root, gate }))).toEqual([['functions/hello', 'core/greet.ts:1:1 TS2322: no']]);
    expect(readFileSync(bundleOf('hello'))).toEqual(before);
  });
});
