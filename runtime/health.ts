/**
 * The runtime's own health, as /healthz and /metrics report it: whether it has finished starting
 * (every function it deployed at start has a ready replica) or is stopping, whether the store
 * takes writes (runtime/store-health.ts), and how often replicas were killed or died, and why.
 *
 * /healthz answers 200 "OK" only while the runtime serves and the store can write; otherwise 503
 * with one line saying why (reads may still work while the store cannot write).
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { NAMESPACE } from './deployments';
import type { StoreWriteCheck } from './store-health';
import type { TerminationReason } from './supervisor';

export type Phase = 'starting' | 'serving' | 'stopping';

export class RuntimeHealth {
  phase: Phase = 'starting';
  private terminations?: Counter<'function_name' | 'reason'>;

  constructor(
    private readonly store: StoreWriteCheck,
    /** How many functions have a ready replica, of how many. */
    private readonly functionsReady: () => { ready: number; total: number },
  ) {}

  /** GET /healthz */
  answer(): { status: number; body: string } {
    if (this.phase === 'starting') {
      const { ready, total } = this.functionsReady();
      return { status: 503, body: `starting: ${ready} of ${total} functions have a ready replica\n` };
    }
    if (this.phase === 'stopping') return { status: 503, body: 'stopping\n' };
    const store = this.store.condition();
    if (!store.writable) return { status: 503, body: `the store cannot write since ${store.since}: ${store.code} ${store.reason}\n` };
    return { status: 200, body: 'OK' };
  }

  /** A replica ended without being asked to (it died, or was killed by a probe or for memory). */
  terminated(name: string, reason: TerminationReason): void {
    this.terminations?.inc({ function_name: `${name}.${NAMESPACE}`, reason });
  }

  registerMetrics(registry: Registry): void {
    const store = this.store;
    const serving = () => this.phase === 'serving';
    new Gauge({
      name: 'shop_runtime_serving',
      help: 'Whether the runtime has finished starting and is not stopping (1) or not (0)',
      registers: [registry],
      collect() {
        this.set(serving() ? 1 : 0);
      },
    });
    new Gauge({
      name: 'shop_store_writable',
      help: 'Whether the store takes writes (1) or refuses them: disk full, read-only, file gone (0)',
      registers: [registry],
      collect() {
        this.set(store.condition().writable ? 1 : 0);
      },
    });
    new Gauge({
      name: 'shop_store_write_check_failures',
      help: 'Failed write checks of the store since the runtime started, by the store’s error code',
      labelNames: ['code'],
      registers: [registry],
      collect() {
        this.reset();
        for (const [code, count] of store.failures) this.set({ code }, count);
      },
    });
    this.terminations = new Counter({
      name: 'shop_replica_terminations_total',
      help: 'Replica processes that ended without being asked to, by reason (Error, OOMKilled, Liveness probe failed, Completed)',
      labelNames: ['function_name', 'reason'],
      registers: [registry],
    });
  }
}
