/**
 * `npm run bench` (watch figures): the developer's loop of issue 23. `npm start` with the watch
 * on runs as its own process tree in a copy of the repository (the bench saves the copy's
 * sources):
 *   1. a handler saved to its new code serving: from the save to the first answer of the new code
 *   2. a core/ change to all 15 functions serving it: to the last function's first new answer
 *   3. calls that failed (not 2xx, or no answer) while 4 callers in a closed loop called
 *      inventory-get through 5 handler saves and a core/ change
 *   4. memory of the whole tree (runtime, replicas, storefront, type checker) over 100 saves
 * Figures 1, 2 and 4 watch for the new code with one call every 20 ms, so that the rollout, not
 * the load, has the CPU; figure 3 is the load. BENCH_SAVES (100) sets the saves of figure 4;
 * BENCH_HANDLER_SAVES (5) and BENCH_CORE_SAVES (3) those of figures 1 and 2.
 */
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { BASIC_AUTH_FILE } from '../runtime/secrets';
import { copyRepo, startCopy, type StartedCopy } from '../test/support/repo-copy';
import { memoryOf, processTree } from './shop-process';
import { aim, percentile } from './stats';

const SAVES = Number(process.env.BENCH_SAVES ?? 100);
const HANDLER_SAVES = Number(process.env.BENCH_HANDLER_SAVES ?? 5);
const CORE_SAVES = Number(process.env.BENCH_CORE_SAVES ?? 3);
const HANDLER = 'functions/inventory-get/handler.ts';

/**
 * Callers of inventory-get, each calling again `pauseMs` after its last answer (0: a closed
 * loop); the first time each X-Variant header was seen is kept.
 */
function callers(shop: StartedCopy, n: number, pauseMs: number) {
  let stopped = false;
  let ok = 0;
  const failures: string[] = [];
  const seen = new Map<string, number>();
  const loops = Array.from({ length: n }, async () => {
    while (!stopped) {
      try {
        const res = await fetch(`${shop.url}/function/inventory-get?id=gooseneck-kettle`);
        await res.arrayBuffer();
        if (res.status >= 200 && res.status < 300) ok++;
        else failures.push(String(res.status));
        const variant = res.headers.get('x-variant') ?? '';
        if (!seen.has(variant)) seen.set(variant, Date.now());
      } catch (error) {
        failures.push(String(error));
      }
      if (pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
    }
  });
  return {
    ok: () => ok,
    failures,
    /** When an answer with this variant was first seen (waiting for it). */
    async first(variant: string): Promise<number> {
      while (!seen.has(variant)) await new Promise((r) => setTimeout(r, 5));
      return seen.get(variant) as number;
    },
    async stop() {
      stopped = true;
      await Promise.all(loops);
    },
  };
}

function treeMemory(shop: StartedCopy) {
  const pids = processTree(shop.child.pid as number);
  const mem = pids.map((pid) => ({ pid, ...memoryOf(pid) })).filter((m) => m.rss > 0);
  const checker = pids.find((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('typecheck');
    } catch {
      return false;
    }
  });
  const mb = (kb: number) => kb / 1024;
  return {
    processes: mem.length,
    pssMb: mb(mem.reduce((n, m) => n + m.pss, 0)),
    rssMb: mb(mem.reduce((n, m) => n + m.rss, 0)),
    checkerPssMb: mb(mem.find((m) => m.pid === checker)?.pss ?? 0),
  };
}

const fmt = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function main(): Promise<void> {
  const copy = copyRepo();
  let shop: StartedCopy | undefined;
  // Interrupted: the copy's npm start (its own process group) stops too.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => void Promise.resolve(shop?.stop()).finally(() => (copy.dispose(), process.exit(130))));
  }
  try {
    const started = Date.now();
    shop = await startCopy(copy, { LOG_LEVEL: 'silent' });
    const s = shop;
    console.log(`watch bench: npm start (watch on) in a copy of the repository, as its own process tree; new code watched for with a call every 20 ms; node ${process.version}, load average ${loadavg().map((l) => l.toFixed(1)).join(" ")}`);
    console.log(`npm start in a fresh copy (bundles built, type checker started) to its ready line: ${fmt(Date.now() - started)}\n`);
    let probe = callers(s, 1, 20);
    let variant = 0;
    /** Saves the handler with a new X-Variant; resolves with the time from the save to the first answer from the new code. */
    const saveHandler = async () => {
      const v = String(++variant);
      const text = copy.read(HANDLER).replace(/, headers: \{ 'X-Variant': '\d+' \}/, '');
      const saved = Date.now();
      copy.save(HANDLER, text.replace('body: await findProduct(await call.store(), id) })', `body: await findProduct(await call.store(), id), headers: { 'X-Variant': '${v}' } })`));
      return (await probe.first(v)) - saved;
    };
    let build = 0;
    /** Saves core/fn.ts with a new X-Core-Build on every answer; resolves with the time until all 15 functions answered with it. */
    const saveCore = async () => {
      const b = String(++build);
      const fn = copy.read('core/fn.ts').replace(/'X-Core-Build': '\d+', /, '');
      const saved = Date.now();
      copy.save('core/fn.ts', fn.replace(`'Cache-Control': 'no-store',`, `'Cache-Control': 'no-store', 'X-Core-Build': '${b}',`));
      const pending = new Set(names);
      while (pending.size > 0) {
        for (const name of [...pending]) {
          const res = await fetch(`${s.url}/function/${name}`);
          await res.arrayBuffer();
          if (res.headers.get('x-core-build') === b) pending.delete(name);
          await new Promise((r) => setTimeout(r, 20 / names.length));
        }
      }
      return Date.now() - saved;
    };
    const names = ((await (await fetch(`${s.url}/system/functions`, { headers: { authorization: basicAuth(copy.root) } })).json()) as { name: string }[]).map((f) => f.name);

    // The first save waits for the type checker's first check of everything (started with npm start).
    const firstSave = await saveHandler();
    const handlerMs: number[] = [];
    for (let i = 0; i < HANDLER_SAVES; i++) handlerMs.push(await saveHandler());
    handlerMs.sort((a, b) => a - b);
    const median = percentile(handlerMs, 50);
    const account = (from: number) => /new code serving: .*\(([^)]*)\)\n/.exec(s.output().slice(from))?.[1] ?? '';
    console.log(`1. a handler saved to its new code serving, ${HANDLER_SAVES} saves: median ${fmt(median)}, max ${fmt(handlerMs.at(-1) as number)}  ${aim(median <= 3_000, '<= 3 s')}`);
    console.log(`   the first save after start: ${fmt(firstSave)} (it waited for the type checker's first full check)`);

    const coreMs: number[] = [];
    let from = 0;
    for (let i = 0; i < CORE_SAVES; i++) {
      from = s.output().length;
      coreMs.push(await saveCore());
    }
    coreMs.sort((a, b) => a - b);
    const coreMedian = percentile(coreMs, 50);
    console.log(`2. a core/ change (core/fn.ts) to all 15 functions serving it, ${CORE_SAVES} saves: median ${fmt(coreMedian)}, max ${fmt(coreMs.at(-1) as number)}  ${aim(coreMedian <= 10_000, '<= 10 s')}`);
    console.log(`   the watch's own account of the last one: ${account(from)}`);
    await probe.stop();

    const load = callers(s, 4, 0);
    probe = load;
    for (let i = 0; i < 5; i++) await saveHandler();
    await saveCore();
    await load.stop();
    console.log(`3. calls that failed, 4 callers in a closed loop through 5 handler saves and a core/ change: ${load.failures.length} of ${load.ok() + load.failures.length}  ${aim(load.failures.length === 0, '0')}${load.failures.length ? ` (${[...new Set(load.failures)].slice(0, 3).join('; ')})` : ''}`);

    probe = callers(s, 1, 20);
    const samples: ReturnType<typeof treeMemory>[] = [];
    for (let i = 1; i <= SAVES; i++) {
      await saveHandler();
      // Both samples are taken when BENCH_SAVES is 10 or fewer (the same save twice), so a short run still prints the figure.
      if (i === Math.min(10, SAVES)) samples.push(treeMemory(s));
      if (i === SAVES) samples.push(treeMemory(s));
    }
    const [early, late] = samples as [ReturnType<typeof treeMemory>, ReturnType<typeof treeMemory>];
    console.log(
      `4. memory of the tree after save ${Math.min(10, SAVES)} / after save ${SAVES}: ${early.pssMb.toFixed(0)} / ${late.pssMb.toFixed(0)} MB PSS (${early.rssMb.toFixed(0)} / ${late.rssMb.toFixed(0)} MB RSS), ${early.processes} / ${late.processes} processes; ratio ${(late.pssMb / early.pssMb).toFixed(2)}  ${aim(late.pssMb / early.pssMb <= 1.1, '<= 1.1')}`,
    );
    console.log(`   of which the type checker: ${early.checkerPssMb.toFixed(0)} / ${late.checkerPssMb.toFixed(0)} MB PSS; calls of the probe that failed meanwhile: ${probe.failures.length}`);
    await probe.stop();
  } finally {
    await shop?.stop();
    copy.dispose();
  }
}

function basicAuth(root: string): string {
  const password = readFileSync(join(root, '.secrets', BASIC_AUTH_FILE), 'utf8').trim();
  return `Basic ${Buffer.from(`admin:${password}`).toString('base64')}`;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
