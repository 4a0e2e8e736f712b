/**
 * `faas-cli up --watch` on the local runtime: every batch of saves (runtime/watch.ts) is built
 * (runtime/build.ts: only the bundles whose inputs changed) and type checked
 * (runtime/typecheck.ts) at once, and what changed is rolled out through the provider's deploy
 * and update, the very calls behind POST and PUT /system/functions: new replicas start, calls go
 * to them once one is ready, and the old ones finish their calls before they stop, so no call
 * fails. A stack.yml change applies as `faas-cli deploy` of the functions it touched, and
 * `faas-cli remove` of those it dropped. A frontend/ change starts a new storefront process
 * before the old one drains (runtime/storefront.ts).
 *
 * A build error, a type error, or a bundle that does not load keeps that bundle out: the old
 * code keeps serving, each error is printed once (with its file and line) while it lasts, and
 * the next good save rolls out. Unlike faas-cli's watch, which rebuilds after 1.5 s of quiet and
 * exits on a failed build, this rebuilds after 0.1 s and keeps going.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { STOREFRONT_BUNDLE, buildBundles, copyStorefrontAssets, formatProblem, functionBundle, functionNames, readBuildInputs, type Bundle, type BundleResult, type Problem } from './build';
import { deploymentFromStack, type FunctionDeployment } from './deployments';
import type { LocalProvider } from './provider';
import { parseStack, type StackFile } from './stack';
import type { StorefrontProcess } from './storefront';
import { TypeChecker, type FileEvent } from './typecheck';
import { BundleInputs, watchFiles, type Watcher } from './watch';

export interface DevLoopOptions {
  provider: LocalProvider;
  /** The stack as deployed at start. */
  stack: StackFile;
  storefront?: StorefrontProcess;
  /** Progress, one line each. */
  print(line: string): void;
  /** Errors, one line each. */
  printError(line: string): void;
  quietMs?: number;
}

export interface DevLoop {
  stop(): Promise<void>;
}

/**
 * The type checker starts first, so that its first check (the longest) runs while the runtime
 * starts; `start` then watches and rolls out.
 */
export function prepareDevLoop(root: string): { start(options: DevLoopOptions): Promise<DevLoop>; stop(): Promise<void> } {
  const checker = TypeChecker.start(root, checkRoots(root));
  return { start: (options) => startDevLoop(root, checker, options), stop: () => checker.stop() };
}

/** What ships, type checked: each function's handler and the storefront, and what they import. */
const checkRoots = (root: string) => [...functionNames(root).map((n) => `functions/${n}/handler.ts`), STOREFRONT_BUNDLE.entry];

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
const seconds = (since: number) => secs(Date.now() - since);
/** JSON with sorted keys: two deployments that differ only in key order are the same. */
const canonical = (value: unknown): string => JSON.stringify(value, (_k, v: unknown) => (v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v));
/** Where a problem is, as a path relative to the root (without line and column). */
const fileOf = (p: Problem) => p.where.replace(/:\d+:\d+$/, '');

async function startDevLoop(root: string, checker: TypeChecker, options: DevLoopOptions): Promise<DevLoop> {
  const { provider, print, printError } = options;
  const inputs = new BundleInputs([...functionNames(root).map(functionBundle), STOREFRONT_BUNDLE], readBuildInputs(root));
  let stack = options.stack;
  /** Errors printed and still there, by what they keep out ('stack.yml' or a bundle id). */
  const problems = new Map<string, string[]>();
  const shown = new Set<string>();
  /** The latest rollout of each function, so that only its own end is reported. */
  const rollouts = new Map<string, number>();
  let rolloutSeq = 0;
  let queue: { events: FileEvent[]; at: number }[] = [];
  let running: Promise<void> | undefined;
  let stopped = false;

  /** Prints the problems not printed yet; forgets those gone, so that they are printed again if they come back. */
  const report = (key: string, now: string[]) => {
    if (now.length > 0) problems.set(key, now);
    else problems.delete(key);
    const current = new Set([...problems.values()].flat());
    for (const line of current) if (!shown.has(line)) printError(line);
    shown.clear();
    for (const line of current) shown.add(line);
  };

  const roll = (name: string, answer: { status: number; body?: unknown }): Promise<string | undefined> => {
    if (answer.status !== 202) {
      report(`deploy ${name}`, [`${name}: refused: ${String(answer.body ?? answer.status).trim()}`]);
      return Promise.resolve(undefined);
    }
    report(`deploy ${name}`, []);
    const seq = ++rolloutSeq;
    rollouts.set(name, seq);
    const replicas = provider.replicasOf(name);
    return (replicas?.rolledOut(replicas.generation, 60_000) ?? Promise.resolve('replaced')).then((rollout) => {
      if (rollouts.get(name) !== seq || rollout === 'replaced') return undefined;
      return rollout === 'ready' ? name : (printError(`${name}: no new replica ready after 60 s; the old ones keep serving (its output is above)`), undefined);
    });
  };

  const deploy = (name: string) => {
    const deployment: FunctionDeployment = deploymentFromStack(name, stack.functions[name] as StackFile['functions'][string]);
    return roll(name, provider.replicasOf(name) ? provider.update(deployment) : provider.deploy(deployment));
  };

  /** stack.yml read again: what to deploy, update and remove, as faas-cli deploy and remove would. */
  const readStack = (): { next: StackFile; touched: Set<string>; removed: string[] } | undefined => {
    let next: StackFile;
    try {
      next = parseStack(readFileSync(join(root, 'stack.yml'), 'utf8'));
    } catch (error) {
      const message = error instanceof Error ? error.message.replace(/\s+/g, ' ') : String(error);
      report('stack.yml', [`stack.yml: ${message} (nothing applied; the functions keep running as they are)`]);
      return undefined;
    }
    report('stack.yml', []);
    const touched = new Set<string>();
    for (const [name, fn] of Object.entries(next.functions)) {
      const before = stack.functions[name];
      if (!before || canonical(deploymentFromStack(name, before)) !== canonical(deploymentFromStack(name, fn))) touched.add(name);
    }
    const removed = Object.keys(stack.functions).filter((name) => !(name in next.functions));
    return { next, touched, removed };
  };

  const round = async (events: FileEvent[], since: number) => {
    const plan = inputs.plan(events);
    const started = Date.now();
    let checked = 0;
    const check = checker.check(events, checkRoots(root)).then((problems) => ((checked = Date.now()), problems));
    const gate = async (_bundle: Bundle, files: string[]) => ((await check) ?? []).filter((p) => files.includes(fileOf(p)));
    const results = await buildBundles(plan.bundles, { root, gate });
    // Waited: the quiet period, and the round of an earlier save if one was running.
    const phases = `waited ${secs(started - since)}, build ${secs(Date.now() - started)}, type check ${checked ? secs(checked - started) : 'skipped'}`;
    const skipped = checker.skipped;
    if (skipped) report('typecheck', [`type errors are not checked: ${skipped}`]);

    const changes = plan.stack ? readStack() : undefined;
    if (changes) stack = changes.next;
    const toRoll = new Set(changes?.touched ?? []);
    const outcomes: string[] = [];
    let storefront = plan.assets;
    for (const result of results) {
      inputs.record(result);
      report(result.bundle.id, result.ok ? [] : result.problems.map(formatProblem));
      const name = result.bundle.fn;
      if (!result.ok) {
        outcomes.push(`${name ?? result.bundle.id}: not rolled out, the old code keeps serving (errors above)`);
        if (result.bundle.id === STOREFRONT_BUNDLE.id) storefront = false;
        continue;
      }
      if (result.changed && name && name in stack.functions) toRoll.add(name);
      if (result.changed && result.bundle.id === STOREFRONT_BUNDLE.id) storefront = true;
      // In stack.yml but not deployed yet (its bundle was missing): deployed now that it built.
      if (name && name in stack.functions && !provider.replicasOf(name)) toRoll.add(name);
    }
    for (const line of outcomes) print(line);

    const removals = (changes?.removed ?? []).map(async (name) => {
      if (provider.replicasOf(name)) await provider.remove({ functionName: name });
      return name;
    });
    const rolled = [...toRoll].map(deploy);
    const restarted = storefront ? restartStorefront() : Promise.resolve(undefined);
    if (removals.length > 0) print(`removed: ${(await Promise.all(removals)).join(', ')} (no longer in stack.yml)`);
    const serving = (await Promise.all([...rolled, restarted])).filter((n): n is string => n !== undefined);
    if (serving.length > 0) print(`new code serving: ${serving.join(', ')}, ${seconds(since)} after the save (${phases})`);
  };

  const restartStorefront = async (): Promise<string | undefined> => {
    if (!options.storefront) return undefined;
    copyStorefrontAssets(root);
    return (await options.storefront.replace()) ? 'storefront' : (printError('storefront: the new one did not start, the old one keeps serving (its output is above)'), undefined);
  };

  const next = () => {
    if (running || stopped || queue.length === 0) return;
    const batch = queue;
    queue = [];
    const events = batch.flatMap((b) => b.events);
    running = round(events, Math.min(...batch.map((b) => b.at)))
      .catch((error: unknown) => printError(`the watch failed on this save: ${error instanceof Error ? error.stack : String(error)}`))
      .finally(() => {
        running = undefined;
        next();
      });
  };

  // Bundles no build told the inputs of: built once (unchanged, so nothing rolls out) to learn them.
  if (inputs.unknown.length > 0) {
    running = buildBundles(inputs.unknown, { root })
      .then((results: BundleResult[]) => results.forEach((r) => inputs.record(r)))
      .finally(() => {
        running = undefined;
        next();
      });
  }
  const watcher: Watcher = watchFiles(root, (events, at) => {
    queue.push({ events, at });
    next();
  }, options.quietMs);

  return {
    async stop() {
      stopped = true;
      await watcher.close();
      await running;
      await checker.stop();
    },
  };
}
