/**
 * `npm run build`: bundles with esbuild
 * - every functions/NAME/handler.ts into dist/functions/NAME/, the folder stack.yml's `handler:`
 *   names and faas-cli copies into the node20 template as `function/`:
 *     handler.js    CommonJS, `module.exports = handler`, no node_modules needed
 *     package.json  no dependencies; `npm test` (run by the template's Dockerfile) loads the bundle
 * - the local runtime's replica (watchdog + node20 template, runtime/replica.ts) into
 *   dist/runtime/replica.js: what each replica process runs, the image of the local pods;
 * - the storefront into dist/storefront/ (for its container, and the process `npm start` runs).
 * All in one esbuild run (the bundles share most of their code, parsed once), which also tells
 * each bundle's inputs (its metafile): `npm start`'s watch rebuilds only the bundles whose inputs
 * changed (runtime/watch.ts), through the same `buildBundles`. A new bundle replaces the old
 * file only once it built and, for a function, loads as the template's `npm test` loads it, by
 * a rename, so a replica starting meanwhile reads one or the other whole.
 * A hash of the sources in dist/.build-hash lets `npm start` rebuild only when they changed.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { build, type BuildFailure, type Message, type Metafile } from 'esbuild';

export const ROOT = join(__dirname, '..');
export const FUNCTIONS_DIR = join(ROOT, 'functions');
export const DIST_DIR = join(ROOT, 'dist', 'functions');
const HASH_FILE = join(ROOT, 'dist', '.build-hash');
/** Each bundle's inputs at its last build, by bundle id (what the watch reads at start). */
const INPUTS_FILE = '.build-inputs.json';
export const STOREFRONT_DIR = join(ROOT, 'dist', 'storefront');
export const REPLICA_ENTRY = join(ROOT, 'dist', 'runtime', 'replica.js');
const SOURCES = ['core', 'functions', 'frontend', 'package-lock.json', 'runtime/build.ts', 'runtime/whatwg-url-shim.cjs', 'runtime/replica.ts', 'runtime/node20.ts', 'runtime/watchdog.ts', 'runtime/request-log.ts', 'runtime/request-errors.ts'];
/** What the storefront reads beside its bundle at run time: not esbuild inputs, copied. */
export const STOREFRONT_ASSETS = ['frontend/views', 'frontend/public'];

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

export function functionNames(root = ROOT): string[] {
  const dir = join(root, 'functions');
  return readdirSync(dir)
    .filter((name) => existsSync(join(dir, name, 'handler.ts')))
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
    existsSync(join(STOREFRONT_DIR, 'server.js')) &&
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
  logLevel: 'silent',
} as const;

// ---- bundles ------------------------------------------------------------------------------------

/** A bundle by its id: `functions/NAME`, `runtime/replica` or `storefront`. */
export interface Bundle {
  id: string;
  /** The source it starts from, relative to the root. */
  entry: string;
  /** The file it becomes, relative to dist/, without .js. */
  out: string;
  /** A function's name, for a function's bundle. */
  fn?: string;
}

export const functionBundle = (name: string): Bundle => ({ id: `functions/${name}`, entry: `functions/${name}/handler.ts`, out: `functions/${name}/handler`, fn: name });
export const REPLICA_BUNDLE: Bundle = { id: 'runtime/replica', entry: 'runtime/replica.ts', out: 'runtime/replica' };
export const STOREFRONT_BUNDLE: Bundle = { id: 'storefront', entry: 'frontend/server.ts', out: 'storefront/server' };

export function allBundles(): Bundle[] {
  return [...functionNames().map(functionBundle), REPLICA_BUNDLE, STOREFRONT_BUNDLE];
}

/** A build error or warning with where it is, relative to the root, as an editor links it. */
export interface Problem {
  /** `file:line:column`, or '' when esbuild gives no place. */
  where: string;
  text: string;
}

export type BundleResult =
  | { bundle: Bundle; ok: true; changed: boolean; inputs: string[] }
  /** `inputs` when it built but something else keeps it out. */
  | { bundle: Bundle; ok: false; problems: Problem[]; inputs?: string[] };

const distFile = (bundle: Bundle, root: string) => join(root, 'dist', `${bundle.out}.js`);

export interface BuildOptions {
  root?: string;
  /** Problems that keep a built bundle out (the watch's type errors in its inputs), if any. */
  gate?: (bundle: Bundle, inputs: string[]) => Promise<Problem[]>;
}

/**
 * Builds these bundles in one esbuild run, then puts in place those whose output changed.
 * When the run fails and holds several bundles, each is built alone so that one broken handler
 * does not hold the others back. A function's new bundle must also load (the template's `npm test`)
 * before it replaces the old one.
 */
export async function buildBundles(bundles: Bundle[], { root = ROOT, gate }: BuildOptions = {}): Promise<BundleResult[]> {
  if (bundles.length === 0) return [];
  const together = await esbuildRun(bundles, root);
  const runs = 'failure' in together && bundles.length > 1 ? await Promise.all(bundles.map((b) => esbuildRun([b], root))) : [together];
  const results: BundleResult[] = [];
  const built: { bundle: Bundle; file: string; inputs: string[]; next?: string }[] = [];
  for (const run of runs) {
    if ('failure' in run) {
      for (const bundle of run.bundles) results.push({ bundle, ok: false, problems: run.failure });
      continue;
    }
    for (const bundle of run.bundles) {
      const file = distFile(bundle, root);
      const code = run.outputs.get(file) as Uint8Array;
      const inputs = inputsOf(run.metafile, relative(root, file), root);
      if (existsSync(file) && Buffer.from(code).equals(readFileSync(file))) {
        built.push({ bundle, file, inputs });
        continue;
      }
      mkdirSync(dirname(file), { recursive: true });
      const next = `${file.slice(0, -3)}.next.js`;
      writeFileSync(next, code);
      built.push({ bundle, file, inputs, next });
    }
  }
  // The load check runs while the gate (the watch's type check) may still be working.
  const loads = await loadCheck(built.flatMap((b) => (b.next && b.bundle.fn ? [b.next] : [])));
  for (const { bundle, file, inputs, next } of built) {
    const failed = next && loads.get(next);
    const problems = failed ? [{ where: bundle.entry, text: `the bundle does not load as the template's npm test loads it: ${failed}` }] : ((await gate?.(bundle, inputs)) ?? []);
    if (problems.length > 0) {
      if (next) rmSync(next, { force: true });
      results.push({ bundle, ok: false, problems, inputs });
      continue;
    }
    if (next) renameSync(next, file);
    results.push({ bundle, ok: true, changed: !!next, inputs });
  }
  mkdirSync(join(root, 'dist'), { recursive: true });
  const known = readBuildInputs(root);
  for (const r of results) if (r.ok) known[r.bundle.id] = r.inputs;
  writeFileSync(join(root, 'dist', INPUTS_FILE), JSON.stringify(known));
  return results;
}

/** Each bundle's inputs (relative paths) as its last build told them, by bundle id. */
export function readBuildInputs(root = ROOT): Record<string, string[]> {
  try {
    return JSON.parse(readFileSync(join(root, 'dist', INPUTS_FILE), 'utf8')) as Record<string, string[]>;
  } catch {
    return {};
  }
}

type EsbuildRun = { bundles: Bundle[]; outputs: Map<string, Uint8Array>; metafile: Metafile } | { bundles: Bundle[]; failure: Problem[] };

async function esbuildRun(bundles: Bundle[], root: string): Promise<EsbuildRun> {
  try {
    const result = await build({
      ...BUNDLE_OPTIONS,
      alias: { 'whatwg-url': join(root, 'runtime', 'whatwg-url-shim.cjs') },
      absWorkingDir: root,
      entryPoints: Object.fromEntries(bundles.map((b) => [b.out, join(root, b.entry)])),
      outdir: join(root, 'dist'),
      write: false,
      metafile: true,
    });
    return { bundles, outputs: new Map(result.outputFiles.map((f) => [f.path, f.contents])), metafile: result.metafile };
  } catch (error) {
    const messages = (error as Partial<BuildFailure>).errors;
    if (!messages) throw error;
    return { bundles, failure: messages.map(problem) };
  }
}

function problem(message: Message): Problem {
  const at = message.location;
  return { where: at ? `${at.file}:${at.line}:${at.column + 1}` : '', text: message.text };
}

/** The shop's own files a bundle was built from (node_modules left out: they are not watched). */
function inputsOf(metafile: Metafile, output: string, root: string): string[] {
  const inputs = Object.keys(metafile.outputs[output]?.inputs ?? {});
  return inputs.map((input) => relative(root, join(root, input))).filter((input) => !input.startsWith('..') && !input.includes('node_modules')).sort();
}

/**
 * Loads each bundle in a plain `node`, as the template's Dockerfile does with `npm test` (the
 * image build fails when a handler does not load or export a function). One process for all of
 * them: a bundle is self-contained, so loading several side by side is what loading each is.
 * Resolves with the reason each failing file failed.
 */
async function loadCheck(files: string[]): Promise<Map<string, string>> {
  if (files.length === 0) return new Map();
  const script = `
    const failed = {};
    for (const file of JSON.parse(process.argv[1])) {
      try { if (typeof require(file) !== 'function') failed[file] = 'module.exports is not a function (write export = handler)'; }
      catch (error) { failed[file] = String(error && error.stack ? error.stack.split('\\n').slice(0, 2).join(' ') : error); }
    }
    process.stdout.write(JSON.stringify(failed));`;
  const out = await new Promise<string>((resolve) =>
    execFile(process.execPath, ['-e', script, JSON.stringify(files)], { env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'silent' }, timeout: 60_000 }, (error, stdout, stderr) =>
      // A bundle that ends the process while loading leaves no answer: every one checked fails with it.
      resolve(stdout || JSON.stringify(Object.fromEntries(files.map((f) => [f, `loading it ended the process (${error?.message ?? 'no output'}) ${stderr}`.trim()])))),
    ),
  );
  return new Map(Object.entries(JSON.parse(out) as Record<string, string>));
}

/** The storefront's views and stylesheet beside its bundle. */
export function copyStorefrontAssets(root = ROOT): void {
  for (const asset of STOREFRONT_ASSETS) {
    const to = join(root, 'dist', 'storefront', asset.slice('frontend/'.length));
    rmSync(to, { recursive: true, force: true });
    cpSync(join(root, asset), to, { recursive: true });
  }
}

export function writeBundlePackage(name: string, root = ROOT): void {
  const file = join(root, 'dist', 'functions', name, 'package.json');
  const pkg = {
    name: `shop-${name}`,
    version: JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version as string,
    private: true,
    description: `Bundled from functions/${name}/handler.ts by npm run build`,
    main: 'handler.js',
    scripts: { test: `node -e "if (typeof require('./handler.js') !== 'function') process.exit(1)"` },
  };
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, `${JSON.stringify(pkg, null, 2)}\n`);
}

/** Prints a build's problems as `file:line:column: error: text`. */
export const formatProblem = (p: Problem) => `${p.where ? `${p.where}: ` : ''}error: ${p.text}`;

export async function buildFunctions(): Promise<BuiltFunction[]> {
  const hash = sourceHash();
  rmSync(DIST_DIR, { recursive: true, force: true });
  rmSync(STOREFRONT_DIR, { recursive: true, force: true });
  const results = await buildBundles(allBundles());
  const failed = results.filter((r) => !r.ok);
  if (failed.length > 0) {
    const problems = new Set(failed.flatMap((r) => (r.ok ? [] : r.problems.map(formatProblem))));
    throw new Error(`the build failed:\n${[...problems].join('\n')}`);
  }
  for (const name of functionNames()) writeBundlePackage(name);
  copyStorefrontAssets();
  writeFileSync(HASH_FILE, hash);
  return functionNames().map((name) => ({ name, dir: join(DIST_DIR, name), bytes: statSync(join(DIST_DIR, name, 'handler.js')).size }));
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
      console.error(error instanceof Error ? error.message : error);
      process.exit(1);
    });
}
