/**
 * `npm run build`: bundles with esbuild
 * - every functions/NAME/handler.ts into dist/functions/NAME/, the folder stack.yml's `handler:`
 *   names and faas-cli copies into the node20 template as `function/`:
 *     handler.js    CommonJS, `module.exports = handler`, no node_modules needed
 *     package.json  no dependencies; `npm test` (run by the template's Dockerfile) loads the bundle
 * - the local runtime's replica (watchdog + node20 template, runtime/replica.ts) into
 *   dist/runtime/replica.js: what each replica process runs, the image of the local pods;
 * - the storefront into dist/storefront/ (for its container).
 * A hash of the sources in dist/.build-hash lets `npm start` rebuild only when they changed.
 */
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';

export const ROOT = join(__dirname, '..');
export const FUNCTIONS_DIR = join(ROOT, 'functions');
export const DIST_DIR = join(ROOT, 'dist', 'functions');
const HASH_FILE = join(ROOT, 'dist', '.build-hash');
export const STOREFRONT_DIR = join(ROOT, 'dist', 'storefront');
export const REPLICA_ENTRY = join(ROOT, 'dist', 'runtime', 'replica.js');
const SOURCES = ['core', 'functions', 'frontend', 'package-lock.json', 'runtime/build.ts', 'runtime/whatwg-url-shim.cjs', 'runtime/replica.ts', 'runtime/node20.ts', 'runtime/watchdog.ts', 'runtime/request-log.ts', 'runtime/request-errors.ts'];

/**
 * Left out of the bundles: the optional drivers the mongodb package may require (never used),
 * and the embedded store's engine (a native module, and mingo), which only the local runtime
 * loads, from node_modules, when no mongo-url is configured.
 */
const EXTERNAL = [
  'kerberos',
  '@mongodb-js/zstd',
  'snappy',
  'socks',
  'gcp-metadata',
  '@aws-sdk/credential-providers',
  'mongodb-client-encryption',
  'better-sqlite3',
  'mingo',
  'mingo/*',
];

export function functionNames(): string[] {
  return readdirSync(FUNCTIONS_DIR)
    .filter((name) => existsSync(join(FUNCTIONS_DIR, name, 'handler.ts')))
    .sort();
}

function sourceFiles(path: string): string[] {
  const full = join(ROOT, path);
  if (!existsSync(full)) return [];
  if (!statSync(full).isDirectory()) return [path];
  return readdirSync(full)
    .flatMap((entry) => sourceFiles(join(path, entry)))
    .filter((file) => !/\.test\.ts$/.test(file));
}

export function sourceHash(): string {
  const hash = createHash('sha256');
  for (const file of SOURCES.flatMap(sourceFiles).sort()) hash.update(file).update('\0').update(readFileSync(join(ROOT, file))).update('\0');
  return hash.digest('hex');
}

export function isBuildCurrent(): boolean {
  return (
    existsSync(HASH_FILE) &&
    readFileSync(HASH_FILE, 'utf8') === sourceHash() &&
    existsSync(REPLICA_ENTRY) &&
    functionNames().every((n) => existsSync(join(DIST_DIR, n, 'handler.js')))
  );
}

export interface BuiltFunction {
  name: string;
  dir: string;
  bytes: number;
}

export const BUNDLE_OPTIONS = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minify: true,
  keepNames: true,
  legalComments: 'none',
  external: EXTERNAL,
  alias: { 'whatwg-url': join(ROOT, 'runtime', 'whatwg-url-shim.cjs') },
  logLevel: 'warning',
} as const;

/** The storefront for its container: one bundle beside its views and stylesheet. */
async function buildStorefront(): Promise<void> {
  rmSync(STOREFRONT_DIR, { recursive: true, force: true });
  await build({ ...BUNDLE_OPTIONS, entryPoints: [join(ROOT, 'frontend', 'server.ts')], outfile: join(STOREFRONT_DIR, 'server.js') });
  cpSync(join(ROOT, 'frontend', 'views'), join(STOREFRONT_DIR, 'views'), { recursive: true });
  cpSync(join(ROOT, 'frontend', 'public'), join(STOREFRONT_DIR, 'public'), { recursive: true });
}

export async function buildFunctions(): Promise<BuiltFunction[]> {
  const hash = sourceHash();
  rmSync(DIST_DIR, { recursive: true, force: true });
  const names = functionNames();
  const built = await Promise.all(
    names.map(async (name) => {
      const dir = join(DIST_DIR, name);
      mkdirSync(dir, { recursive: true });
      await build({ ...BUNDLE_OPTIONS, entryPoints: [join(FUNCTIONS_DIR, name, 'handler.ts')], outfile: join(dir, 'handler.js') });
      writeFileSync(join(dir, 'package.json'), `${JSON.stringify(bundlePackage(name), null, 2)}\n`);
      return { name, dir, bytes: statSync(join(dir, 'handler.js')).size };
    }),
  );
  await build({ ...BUNDLE_OPTIONS, entryPoints: [join(ROOT, 'runtime', 'replica.ts')], outfile: REPLICA_ENTRY });
  await buildStorefront();
  writeFileSync(HASH_FILE, hash);
  return built;
}

function bundlePackage(name: string) {
  return {
    name: `shop-${name}`,
    version: JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version as string,
    private: true,
    description: `Bundled from functions/${name}/handler.ts by npm run build`,
    main: 'handler.js',
    scripts: { test: `node -e "if (typeof require('./handler.js') !== 'function') process.exit(1)"` },
  };
}

export async function buildIfStale(log: (line: string) => void = () => {}): Promise<void> {
  if (isBuildCurrent()) return;
  log('sources changed: building the function bundles');
  await buildFunctions();
}

if (require.main === module) {
  buildFunctions()
    .then((built) => {
      for (const fn of built) console.log(`${relative(ROOT, fn.dir)}/handler.js  ${(fn.bytes / 1024).toFixed(0)} KiB`);
      console.log(`${relative(ROOT, REPLICA_ENTRY)}  ${(statSync(REPLICA_ENTRY).size / 1024).toFixed(0)} KiB`);
      console.log(`${relative(ROOT, STOREFRONT_DIR)}/server.js  ${(statSync(join(STOREFRONT_DIR, 'server.js')).size / 1024).toFixed(0)} KiB`);
    })
    .catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
}
