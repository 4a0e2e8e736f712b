/**
 * The whole backend on one machine, as the cluster runs it: every function of stack.yml deployed
 * from its bundle, each replica its own process (runtime/supervisor.ts), behind the local gateway
 * (runtime/gateway.ts), scaled like OpenFaaS CE (runtime/scaling.ts), with the async queue and the
 * order-sweep timer the cron-connector stands for; on the embedded store (or MongoDB when
 * configured). `npm start` runs this; the integration tests start it the same way on a free port
 * and a fresh data directory.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { seedCatalog } from '../core/catalog';
import { logger } from '../core/log';
import { SECRET_NAMES } from '../core/secrets';
import { closeStores, openStore, storeTarget, type StoreTarget } from '../core/store/open';
import { readCatalog } from '../seed/catalog';
import { DIST_DIR, REPLICA_ENTRY, ROOT, buildIfStale } from './build';
import { callbackPolicyFromEnv } from './callbacks';
import { deploymentFromStack } from './deployments';
import { Faults } from './faults';
import { startGateway } from './gateway';
import { RuntimeHealth } from './health';
import { importNedbData } from './import-nedb';
import { FunctionLogs } from './logs';
import { MetricsWindow } from './metrics-window';
import { MemoryWatcher } from './oom';
import { probeTimingsFromEnv, type ProbeTimings } from './probes';
import { LocalProvider } from './provider';
import { AsyncQueue } from './queue';
import { retryPolicyFromEnv, type RetryPolicy } from './retries';
import { Autoscaler, CE_AUTOSCALING, type AutoscalerSettings } from './scaling';
import { BASIC_AUTH_FILE, SCALER_PASSWORD_FILE, SecretFiles, ensureLocalSecrets } from './secrets';
import { readStack, type StackFile } from './stack';
import { StoreWriteCheck } from './store-health';
import { replicaNicenessFromEnv, type FunctionReplicas, type SupervisorOptions } from './supervisor';

export interface ShopOptions {
  port?: number;
  dataDir?: string;
  secretsDir?: string;
  stackFile?: string;
  /** Fault injection at /system/faults (reliability tests); also SHOP_FAULT_INJECTION=1. */
  faults?: boolean;
  /** How often the runtime calls order-sweep, as the cron-connector does in the cluster; 0: never. */
  sweepEveryMs?: number;
  /** CE's autoscaling rule (true), with other timings (tests), or off (false; also AUTOSCALE=0). */
  autoscale?: boolean | AutoscalerSettings;
  /** Replicas to start with, per function, instead of its scale.min (held to its bounds). */
  replicas?: Record<string, number>;
  /** Print what the replicas write (their JSON logs) on this process's stdout; on unless LOG_LEVEL=silent. */
  echoFunctionLogs?: boolean;
  /** The first restart delay of a replica that died (REPLICA_RESTART_DELAY_MS, 1000); it doubles each time. */
  restartDelayMs?: number;
  /** Run accepted async calls (the queue-worker); off (QUEUE_WORKER=0), they wait in the store. */
  queueWorker?: boolean;
  /** Environment every replica gets over its deployment's, after the LOCAL_OVERRIDES taken from this process's. */
  functionEnv?: Record<string, string>;
  /** Readiness and liveness probe timings (faas-netes's, or PROBE_* from the environment). */
  probes?: ProbeTimings;
  /** How long a replica asked to stop (drained, or killed by its liveness probe) may take before SIGKILL (15 s). */
  terminationGraceMs?: number;
  /** How often every replica's resident memory is read and held to its limits.memory (1 s). */
  memoryCheckEveryMs?: number;
  /** How often the runtime checks that the store takes writes (STORE_CHECK_EVERY_MS, 2 s). */
  storeCheckEveryMs?: number;
  /** The async queue's retries (QUEUE_MAX_ATTEMPTS...; OpenFaaS Pro's by default) and bound (QUEUE_MAX_PENDING, 1000). */
  queue?: { retry?: Partial<RetryPolicy>; maxPending?: number };
  /** How long a call waits in line for a busy function, and for a replica to become ready (runtime/invoke.ts); GATEWAY_BUSY_WAIT_MS, GATEWAY_REPLICA_WAIT_MS. */
  admission?: Partial<{ busyWaitMs: number; noneReadyWaitMs: number }>;
  /** How many steps of niceness below the runtime replicas run (REPLICA_NICENESS, 5; 0: at its priority). */
  replicaNiceness?: number;
}

export interface RunningShop {
  url: string;
  store: StoreTarget;
  /** The runtime's secrets by file name: the token secrets, and its own (openfaas/basic-auth-password...). */
  secrets: Record<string, string>;
  /** stack.yml as deployed at start. */
  stack: StackFile;
  functions: string[];
  provider: LocalProvider;
  logs: FunctionLogs;
  faults?: Faults;
  health: RuntimeHealth;
  stop(): Promise<void>;
}

/**
 * Function configuration the runtime's own environment overrides when set (a developer or a test
 * tuning timeouts locally); in the cluster these come from stack.yml only.
 */
const LOCAL_OVERRIDES = ['LOG_LEVEL', 'RESERVATION_TTL_SECONDS', 'CART_TTL_DAYS', 'GATEWAY_TIMEOUT_MS', 'SQLITE_BUSY_TIMEOUT_MS', 'max_inflight'];
/** Passed on to every replica, as a pod's image and the cluster provide them. */
const PASSED_ON = ['PATH', 'HOME', 'TZ', 'NODE_OPTIONS', 'MONGO_URL', 'MONGO_DB', 'NODE_EXTRA_CA_CERTS'];
const IN_CLUSTER_GATEWAY = 'http://gateway.openfaas:8080';

const log = (msg: string, fields?: Record<string, unknown>) => logger.info(fields, msg);
const pick = (env: NodeJS.ProcessEnv, names: readonly string[]) =>
  Object.fromEntries(names.filter((n) => env[n] !== undefined && env[n] !== '').map((n) => [n, env[n] as string]));

export async function startShop(options: ShopOptions = {}): Promise<RunningShop> {
  const env = process.env;
  const secretsDir = resolve(options.secretsDir ?? env.SECRETS_DIR ?? join(ROOT, '.secrets'));
  const secrets = ensureLocalSecrets(secretsDir);
  const dataDir = resolve(options.dataDir ?? env.DATA_DIR ?? join(ROOT, 'data'));
  // This process reads the store and the secrets too (seeding, the tests looking at the data).
  Object.assign(process.env, { SECRETS_DIR: secretsDir, DATA_DIR: dataDir });

  await buildIfStale(log);
  const stack = readStack(options.stackFile ?? join(ROOT, 'stack.yml'));
  const target = storeTarget();
  if (target.kind === 'embedded') await importNedbData(target.location, log);
  const store = await openStore(target);
  if ((await store.countProducts()) === 0) log(`seeded the catalog: ${(await seedCatalog(store, readCatalog())).created} products`);

  const runDir = mkdtempSync(join(tmpdir(), 'openfaas-shop-run-'));
  const logs = new FunctionLogs();
  const echo = options.echoFunctionLogs ?? logger.level !== 'silent';
  const faultsOn = options.faults || env.SHOP_FAULT_INJECTION === '1';
  // Replicas ask the runtime before each store operation a fault plan names (runtime/replica.ts).
  const faults = faultsOn
    ? new Faults((operations, memory) => {
        for (const name of provider.names()) {
          provider.replicasOf(name)?.broadcast({ type: 'faults', operations });
          if (memory[name]) provider.replicasOf(name)?.broadcast({ type: 'hold-memory', megabytes: memory[name] });
        }
      })
    : undefined;
  /** Slowed store operations per replica: those of a replica that dies never finish. */
  const slowByReplica = new Map<string, number>();
  const supervisor: SupervisorOptions = {
    replicaEntry: REPLICA_ENTRY,
    restartDelayMs: options.restartDelayMs ?? (Number(env.REPLICA_RESTART_DELAY_MS) || 1_000),
    maxRestartDelayMs: 30_000,
    restartResetMs: 60_000,
    drainTimeoutMs: options.terminationGraceMs ?? 15_000,
    probes: options.probes ?? probeTimingsFromEnv(env),
    replicaNiceness: options.replicaNiceness ?? replicaNicenessFromEnv(env),
    onLine: (name, instance, line) => {
      logs.append(name, instance, line);
      if (echo) process.stdout.write(`${line}\n`);
    },
    onMessage: (replica, message) => {
      if (!faults) return;
      if (message.type === 'ready') replica.send({ type: 'faults', operations: faults.storeOperations() });
      if (message.type === 'store-fault?') {
        const fault = faults.forStoreOperation(message.operation);
        if (fault?.mode === 'slow') slowByReplica.set(replica.instance, (slowByReplica.get(replica.instance) ?? 0) + 1);
        replica.send({ type: 'store-fault', id: message.id, fault });
      }
      if (message.type === 'slow-done') {
        slowByReplica.set(replica.instance, (slowByReplica.get(replica.instance) ?? 1) - 1);
        faults.slowDone();
      }
    },
    onExit: (replica) => {
      faults?.slowDone(slowByReplica.get(replica.instance) ?? 0);
      slowByReplica.delete(replica.instance);
    },
    onTerminated: (replica, reason) => health.terminated(replica.name, reason),
    log,
  };
  const gatewayAliases: Record<string, string> = {};
  const provider = new LocalProvider({
    supervisor,
    secrets: new SecretFiles(secretsDir),
    bundlesDir: DIST_DIR,
    runDir,
    // NODE_ENV=production as in stack.yml: Express then never answers a stack trace. The database is
    // created by this process; a replica never creates one (core/store/open.ts).
    baseEnv: { ...pick(env, PASSED_ON), NODE_ENV: 'production', DATA_DIR: dataDir, SHOP_DATABASE_MUST_EXIST: '1', ...(faultsOn ? { SHOP_FAULT_INJECTION: '1' } : {}) },
    overrideEnv: { ...pick(env, LOCAL_OVERRIDES), ...options.functionEnv },
    gatewayAliases,
    optionalSecrets: [SECRET_NAMES.mongoUrl],
  });
  const autoscale = options.autoscale ?? env.AUTOSCALE !== '0';
  const scaled = { functions: () => provider.names(), bounds: (n: string) => provider.bounds(n), replicas: (n: string) => provider.replicasOf(n)?.desired ?? 0, setReplicas: (n: string, r: number) => provider.setReplicas(n, r) };
  const autoscaler = autoscale ? new Autoscaler(scaled, autoscale === true ? CE_AUTOSCALING : autoscale) : undefined;
  const callbacks = callbackPolicyFromEnv(env);
  const queue = await AsyncQueue.open(target, {
    gatewayUrl: () => gateway.url,
    concurrency: 4,
    leaseMs: 60_000,
    pollMs: 500,
    retry: { ...retryPolicyFromEnv(env), ...options.queue?.retry },
    maxPending: options.queue?.maxPending ?? (Number(env.QUEUE_MAX_PENDING) || 1_000),
    callbacks,
    log,
  });
  const storeCheck = await StoreWriteCheck.open(target, { everyMs: options.storeCheckEveryMs ?? (Number(env.STORE_CHECK_EVERY_MS) || 2_000), log });
  const health = new RuntimeHealth(storeCheck, () => {
    const all = provider.list();
    return { ready: all.filter((fn) => fn.availableReplicas > 0).length, total: all.length };
  });
  const memory = new MemoryWatcher(() => provider.allReplicas(), options.memoryCheckEveryMs ?? 1_000);
  const metricsWindow = new MetricsWindow(() => provider.list());
  const gateway = await startGateway({
    port: options.port ?? Number(env.GATEWAY_PORT ?? 8080),
    basicAuthPassword: secrets[BASIC_AUTH_FILE] as string,
    scalerPassword: secrets[SCALER_PASSWORD_FILE] as string,
    provider,
    logs,
    queue,
    autoscaler,
    window: metricsWindow,
    faults,
    admission: { busyWaitMs: Number(env.GATEWAY_BUSY_WAIT_MS) || 25, noneReadyWaitMs: Number(env.GATEWAY_REPLICA_WAIT_MS) || 5_000, ...options.admission },
    maxAsyncBodyBytes: 1024 * 1024,
    callbacks,
    version: { release: (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version, sha: 'local' },
    logger,
    health: () => health.answer(),
  });
  gatewayAliases[IN_CLUSTER_GATEWAY] = gateway.url;
  health.registerMetrics(gateway.metrics);
  storeCheck.start();
  memory.start();
  metricsWindow.start();

  try {
    // Start-up waits for the rollouts it started: one an update or a removal replaced (the API
    // answers from the moment the gateway listens) is that call's to finish, not start-up's.
    const rollouts: { name: string; replicas: FunctionReplicas; generation: number }[] = [];
    for (const [name, fn] of Object.entries(stack.functions)) {
      const answer = provider.deploy(deploymentFromStack(name, fn), options.replicas?.[name]);
      if (answer.status !== 202) throw new Error(`${name} could not be deployed: ${String(answer.body)}`);
      const replicas = provider.replicasOf(name) as FunctionReplicas;
      rollouts.push({ name, replicas, generation: replicas.generation });
    }
    const outcomes = await Promise.all(rollouts.map((r) => r.replicas.rolledOut(r.generation, 60_000)));
    const late = rollouts.filter((_, i) => outcomes[i] === 'timeout').map((r) => r.name);
    if (late.length) throw new Error(`${late.join(', ')} did not come up within a minute; its output is above`);
  } catch (error) {
    await gateway.close();
    await provider.stop();
    await queue.stop();
    memory.stop();
    metricsWindow.stop();
    await storeCheck.stop();
    throw error;
  }
  if (options.queueWorker ?? env.QUEUE_WORKER !== '0') queue.start();
  autoscaler?.start();
  health.phase = 'serving';

  const sweepEveryMs = options.sweepEveryMs ?? Number(env.SWEEP_EVERY_MS ?? 60_000);
  const sweep = async () => {
    // A backlog larger than one batch (an upgrade's data moved on at start) is swept run after run.
    for (let run = 0; run < 1_000; run++) {
      const res = await fetch(`${gateway.url}/function/order-sweep`, { method: 'POST' });
      const report = (await res.json().catch(() => ({}))) as { more?: boolean };
      if (!report.more) return;
    }
  };
  const sweepNow = () => void sweep().catch((error: unknown) => log('order-sweep could not be called', { error: String(error) }));
  const sweeper = sweepEveryMs > 0 && provider.names().includes('order-sweep') ? setInterval(sweepNow, sweepEveryMs).unref() : undefined;
  if (sweeper) sweepNow();

  return {
    url: gateway.url,
    store: target,
    secrets,
    stack,
    functions: provider.names(),
    provider,
    logs,
    faults,
    health,
    async stop() {
      health.phase = 'stopping';
      provider.refuseChanges();
      clearInterval(sweeper);
      autoscaler?.stop();
      memory.stop();
      metricsWindow.stop();
      await queue.stop();
      await gateway.close();
      await provider.stop();
      await storeCheck.stop();
      await closeStores();
      rmSync(runDir, { recursive: true, force: true });
    },
  };
}
