/**
 * What faas-cli ships: each dist/functions/NAME folder must work inside the node20 template's
 * image, where it becomes /home/app/function with no node_modules of ours. So each bundle is
 * copied into an empty folder and loaded there from a plain CommonJS file, as the template's
 * index.js does, and the folder's own `npm test` (run by the template's Dockerfile) passes.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Node20Handler } from '../core/node20';
import { build } from 'esbuild';
import { BUNDLE_OPTIONS, DIST_DIR, ROOT, functionNames } from '../runtime/build';
import { product, serveHandler, testStore, useFreshShopEnvironment } from './support/fixtures';

const names = functionNames();
let home: string;

beforeAll(() => {
  home = mkdtempSync(join(tmpdir(), 'shop-template-'));
});
afterAll(() => rmSync(home, { recursive: true, force: true }));

describe('function bundles', () => {
  it('exist for all 15 functions', () => {
    expect(names).toHaveLength(15);
  });

  it.each(names)('%s loads with no node_modules and exports the handler with module.exports', (name) => {
    const app = join(home, name);
    cpSync(join(DIST_DIR, name), join(app, 'function'), { recursive: true });
    writeFileSync(
      join(app, 'index.js'),
      `"use strict";\nconst handler = require('./function/handler');\nprocess.stdout.write(typeof handler);\n`,
    );
    const out = execFileSync(process.execPath, ['index.js'], { cwd: app, env: { PATH: process.env.PATH }, encoding: 'utf8' });
    expect(out).toBe('function');
    const pkg = JSON.parse(readFileSync(join(app, 'function', 'package.json'), 'utf8'));
    expect(pkg.dependencies ?? {}).toEqual({});
    expect(pkg.main).toBe('handler.js');
    execFileSync('npm', ['test', '--silent'], { cwd: join(app, 'function'), env: { PATH: process.env.PATH, HOME: home }, stdio: 'pipe' });
  });
});

describe('a bundle in a pod without the mongo-url secret', () => {
  it('answers 503 NOT_CONFIGURED (the embedded store is not in the image), never a 500', () => {
    const app = join(home, 'no-mongo');
    cpSync(join(DIST_DIR, 'inventory-get'), join(app, 'function'), { recursive: true });
    writeFileSync(
      join(app, 'index.js'),
      `"use strict";
       const handler = require('./function/handler');
       let status = 200, body;
       const context = { status(c) { status = c; return this; }, headers() { return this; }, succeed(v) { body = v; }, fail(v) { body = v; } };
       handler({ body: {}, headers: {}, method: 'GET', query: { id: 'test-mug' }, path: '/' }, context).then(() => process.stdout.write(JSON.stringify({ status, body: JSON.parse(body) })));`,
    );
    const out = execFileSync(process.execPath, ['index.js'], { cwd: app, env: { PATH: process.env.PATH, SECRETS_DIR: join(app, 'secrets'), DATA_DIR: join(app, 'data'), LOG_LEVEL: 'silent' }, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ status: 503, body: { error: { code: 'NOT_CONFIGURED', message: expect.stringContaining('mongo-url') } } });
  });
});

describe('a build context assembled as faas-cli does', () => {
  const env = useFreshShopEnvironment();
  afterAll(() => env.cleanup());

  it('answers on the node20 contract from function/, with no source tree around it', async () => {
    // faas-cli build: ./build/NAME/ = the template, with the handler folder copied to function/.
    const context = join(home, 'build', 'inventory-get');
    cpSync(join(DIST_DIR, 'inventory-get'), join(context, 'function'), { recursive: true });
    await (await testStore()).putProduct(product());
    // The template's index.js does require('./function/handler') and serves it.
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- loading the shipped bundle as the template does
    const handler = require(join(context, 'function', 'handler')) as Node20Handler;
    const fn = await serveHandler(handler, { RAW_BODY: 'true', MAX_RAW_SIZE: '1mb' });
    try {
      const res = await fn.call({ query: { id: 'test-mug' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.json).toEqual(product());
    } finally {
      await fn.close();
    }
  });
});

describe('the whatwg-url shim in the bundles', () => {
  it('leaves the MongoDB driver reading connection strings exactly as with the real polyfill', async () => {
    const entry = join(home, 'parse-mongo-url.js');
    writeFileSync(
      entry,
      `const { MongoClient } = require('mongodb');
       const urls = ['mongodb://shop:p%40ss@192.168.122.12:27017/shopdb', 'mongodb://a:b@h1:1,h2:2/db?replicaSet=rs0&authSource=admin&retryWrites=false', 'mongodb://[::1]:27017/x'];
       const out = urls.map((u) => { const o = new MongoClient(u).options; return [o.hosts.map(String), o.credentials?.username, o.credentials?.password, o.dbName, o.replicaSet, o.credentials?.source, o.retryWrites]; });
       process.stdout.write(JSON.stringify(out));`,
    );
    const bundled = join(home, 'parse-mongo-url.bundle.js');
    const withPolyfill = join(home, 'parse-mongo-url.polyfill.js');
    await build({ ...BUNDLE_OPTIONS, entryPoints: [entry], outfile: bundled, nodePaths: [join(ROOT, 'node_modules')] });
    await build({ ...BUNDLE_OPTIONS, alias: {}, entryPoints: [entry], outfile: withPolyfill, nodePaths: [join(ROOT, 'node_modules')] });
    // The shim is in use: the polyfill's Unicode tables are gone from the bundle.
    expect(statSync(withPolyfill).size - statSync(bundled).size).toBeGreaterThan(200_000);
    const run = (file: string) => execFileSync(process.execPath, [file], { cwd: ROOT, env: { PATH: process.env.PATH, NODE_PATH: join(ROOT, 'node_modules') }, encoding: 'utf8' });
    const expected = JSON.parse(run(entry));
    expect(expected[0]).toEqual([['192.168.122.12:27017'], 'shop', 'p@ss', 'shopdb', null, 'shopdb', true]);
    expect(JSON.parse(run(bundled))).toEqual(expected);
  });
});
