/**
 * The local faas-provider: what faas-netes does in the cluster, done with processes. It keeps
 * the deployed functions (FunctionDeployment), runs their replicas (runtime/supervisor.ts),
 * holds them to CE's replica bounds (runtime/scaling.ts), mounts their secrets, and answers
 * every /system call the way faas-netes CE answers it (status and body), so the gateway in front
 * (runtime/gateway.ts) only maps HTTP. A refused call changes nothing.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { z } from '../core/zod';
import { ENV_PROCESS, FunctionDeployment, NAMESPACE, functionStatus, reservedEnvVar, validateDeployment, type FunctionStatus } from './deployments';
import { replicaBounds, type ReplicaBounds } from '../core/replica-bounds';
import { memoryBytes } from './oom';
import { isRuntimeFolder, isSecretName, type SecretFiles } from './secrets';
import { FunctionReplicas, type Replica, type ReplicaSpec, type SupervisorOptions } from './supervisor';

/** An answer for the gateway to send: a status and a text or JSON body. */
export interface Answer {
  status: number;
  body?: string | object;
}

export interface ProviderOptions {
  supervisor: SupervisorOptions;
  secrets: SecretFiles;
  /** dist/functions: a function runs from DIR/NAME/handler.js. */
  bundlesDir: string;
  /** Where the replicas' secret folders go. */
  runDir: string;
  /** Environment every replica gets, before its deployment's own (PATH, DATA_DIR, ...). */
  baseEnv: Record<string, string>;
  /** Environment that overrides the deployment's own (local tuning: LOG_LEVEL, timeouts). */
  overrideEnv: Record<string, string>;
  /** The in-cluster gateway address a function may name, and the local one it stands for. */
  gatewayAliases: Record<string, string>;
  /** Secrets the local runtime stands in for, which need not exist (mongo-url: the embedded store). */
  optionalSecrets: readonly string[];
}

interface Deployed {
  deployment: FunctionDeployment;
  bounds: ReplicaBounds;
  replicas: FunctionReplicas;
  createdAt: Date;
}

const text = (status: number, body = ''): Answer => ({ status, body });
/** The runtime's own secrets (the gateway's password, the cookie secret) are not the functions'. */
const runtimeFolder = (name: string): Answer => text(403, `${name} holds the runtime's own secrets: it cannot be managed through this API\n`);
/** OpenFaaS Community Edition's limit on deployed functions. */
export const CE_MAX_FUNCTIONS = 15;
/** What a change asked for while the runtime stops is answered: nothing is started that would outlive it. */
const STOPPING: Answer = { status: 503, body: 'the runtime is stopping; nothing was changed\n' };

export class LocalProvider {
  private readonly deployed = new Map<string, Deployed>();
  private readonly invocations = new Map<string, number>();
  private stopping = false;

  constructor(private readonly options: ProviderOptions) {}

  // ---- functions ------------------------------------------------------------------------------

  names(): string[] {
    return [...this.deployed.keys()];
  }

  replicasOf(name: string): FunctionReplicas | undefined {
    return this.deployed.get(name)?.replicas;
  }

  bounds(name: string): ReplicaBounds {
    return this.deployed.get(name)?.bounds ?? replicaBounds();
  }

  status(name: string): FunctionStatus | undefined {
    const d = this.deployed.get(name);
    if (!d) return undefined;
    return functionStatus(d.deployment, {
      invocationCount: this.invocations.get(name) ?? 0,
      replicas: d.replicas.desired,
      availableReplicas: d.replicas.available(),
      createdAt: d.createdAt,
      totalMemoryBytes: d.replicas.memoryBytes(),
    });
  }

  /** Every replica of every function (the memory watcher samples them). */
  *allReplicas(): Iterable<Replica> {
    for (const d of this.deployed.values()) yield* d.replicas.instances;
  }

  list(): FunctionStatus[] {
    return this.names().map((name) => this.status(name) as FunctionStatus);
  }

  /** The gateway counts every call (as Prometheus does for the real one's invocationCount). */
  counted(name: string): void {
    this.invocations.set(name, (this.invocations.get(name) ?? 0) + 1);
  }

  /** POST /system/functions: a new function, started at its minimum replicas. */
  deploy(raw: unknown, initialReplicas?: number): Answer {
    if (this.stopping) return STOPPING;
    const parsed = this.parse(raw, 'failed to unmarshal request');
    if ('status' in parsed) return parsed;
    const invalid = validateDeployment(parsed) ?? reservedEnvVar(parsed.envVars);
    if (invalid) return text(400, `validation failed: ${invalid}\n`);
    if (this.deployed.has(parsed.service)) return text(500, `unable create Deployment: deployments.apps "${parsed.service}" already exists\n`);
    if (this.deployed.size >= CE_MAX_FUNCTIONS) return text(400, `the Community Edition of OpenFaaS runs at most ${CE_MAX_FUNCTIONS} functions\n`);
    const refused = this.refuse(parsed);
    if (refused) return refused;
    const bounds = replicaBounds(parsed.labels ?? {});
    const replicas = new FunctionReplicas(parsed.service, this.spec(parsed), this.options.supervisor);
    this.deployed.set(parsed.service, { deployment: parsed, bounds, replicas, createdAt: new Date() });
    void replicas.scaleTo(initialReplicas === undefined ? bounds.min : this.clamp(initialReplicas, bounds));
    return text(202);
  }

  /** PUT /system/functions: a rolling update; replicas go back to the minimum, as every deploy does. */
  update(raw: unknown): Answer {
    if (this.stopping) return STOPPING;
    const parsed = this.parse(raw, 'unable to unmarshal request');
    if ('status' in parsed) return parsed;
    const existing = this.deployed.get(parsed.service);
    if (!existing) return text(404, `unable update Deployment: ${parsed.service}.${NAMESPACE}, error: deployments.apps "${parsed.service}" not found\n`);
    const invalid = validateDeployment(parsed) ?? reservedEnvVar(parsed.envVars);
    if (invalid) return text(400, `validation failed: ${invalid}\n`);
    const refused = this.refuse(parsed);
    if (refused) return refused;
    const bounds = replicaBounds(parsed.labels ?? {});
    Object.assign(existing, { deployment: parsed, bounds });
    void existing.replicas.update(this.spec(parsed), bounds.min);
    return text(202);
  }

  /** DELETE /system/functions: its replicas drain and stop. */
  async remove(raw: unknown): Promise<Answer> {
    const name = raw && typeof raw === 'object' ? (raw as { functionName?: unknown }).functionName : undefined;
    if (typeof name !== 'string' || name === '') return text(400);
    if (this.stopping) return STOPPING;
    const existing = this.deployed.get(name);
    if (!existing) return text(404, `deployments.apps "${name}" not found`);
    this.deployed.delete(name);
    await existing.replicas.stop();
    return text(202);
  }

  /** POST /system/scale-function/NAME, held to the function's bounds. */
  scale(name: string, raw: unknown): Answer {
    const replicas = raw && typeof raw === 'object' ? (raw as { replicas?: unknown }).replicas : undefined;
    if (raw === undefined || (replicas !== undefined && (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0))) {
      return text(400, 'Cannot parse request. Please pass valid JSON.');
    }
    if (!replicas) return text(400, 'replicas cannot be set to 0 in OpenFaaS CE\n');
    if (this.stopping) return STOPPING;
    const existing = this.deployed.get(name);
    if (!existing) return text(500, `Unable to lookup function deployment ${name}`);
    this.setReplicas(name, replicas);
    return text(202);
  }

  /** Sets a function's replicas within its bounds (the scale call, the autoscaler). */
  setReplicas(name: string, replicas: number): void {
    const existing = this.deployed.get(name);
    if (existing && !this.stopping) void existing.replicas.scaleTo(this.clamp(replicas, existing.bounds));
  }

  /** From now on every change (deploy, update, scale, removal) is refused with 503: the runtime is stopping. */
  refuseChanges(): void {
    this.stopping = true;
  }

  /** Refuses every further change, then drains every replica. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.deployed.values()].map((d) => d.replicas.stop()));
  }

  // ---- secrets --------------------------------------------------------------------------------

  listSecrets(): Answer {
    return { status: 200, body: this.options.secrets.names().map((name) => ({ name, namespace: NAMESPACE })) };
  }

  /** POST (create) and PUT (update) /system/secrets, with faas-netes's statuses: 409 exists, 404 missing, 422 bad name. */
  writeSecret(raw: unknown, mode: 'create' | 'update'): Answer {
    const secret = readSecretBody(raw);
    if (!secret || secret.value === undefined) return text(400);
    if (secret.namespace !== NAMESPACE) return text(400, `unable to manage secrets within the ${secret.namespace} namespace`);
    if (!isSecretName(secret.name)) return text(422);
    if (isRuntimeFolder(secret.name)) return runtimeFolder(secret.name);
    const files = this.options.secrets;
    const done = mode === 'create' ? files.create(secret.name, secret.value) : files.update(secret.name, secret.value);
    return text(done ? 202 : mode === 'create' ? 409 : 404);
  }

  deleteSecret(raw: unknown): Answer {
    const secret = readSecretBody(raw);
    if (!secret) return text(400);
    if (secret.namespace !== NAMESPACE) return text(400, `unable to manage secrets within the ${secret.namespace} namespace`);
    if (isRuntimeFolder(secret.name)) return runtimeFolder(secret.name);
    return text(this.options.secrets.remove(secret.name) ? 202 : 404);
  }

  // ---- helpers --------------------------------------------------------------------------------

  private parse(raw: unknown, prefix: string): z.infer<typeof FunctionDeployment> | Answer {
    const parsed = FunctionDeployment.safeParse(raw);
    if (!parsed.success) return text(400, `${prefix}: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}\n`);
    return parsed.data;
  }

  /** Why the provider cannot run a valid deployment (faas-netes's words), if it cannot. */
  private refuse(d: FunctionDeployment): Answer | undefined {
    if (d.namespace && d.namespace !== NAMESPACE) return text(400, `namespace must be: ${NAMESPACE}\n`);
    const missing = (d.secrets ?? []).find((s) => !this.options.optionalSecrets.includes(s) && !this.options.secrets.exists(s));
    if (missing) return text(400, `unable to fetch secrets: secrets "${missing}" not found\n`);
    for (const quantity of [d.limits?.memory, d.requests?.memory]) {
      if (quantity && memoryBytes(quantity) === undefined) return text(400, `failed create Deployment spec: quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'\n`);
    }
    // The image of a function is its bundle here: one that was never built cannot be pulled.
    if (!existsSync(this.handlerFile(d.service))) {
      return text(400, `failed create Deployment spec: unable to pull image ${d.image}: no bundle ${join('dist', 'functions', d.service, 'handler.js')} (run npm run build)\n`);
    }
    return undefined;
  }

  private handlerFile(name: string): string {
    return join(this.options.bundlesDir, name, 'handler.js');
  }

  private spec(d: FunctionDeployment): ReplicaSpec {
    const envVars = Object.fromEntries(Object.entries(d.envVars ?? {}).map(([k, v]) => [k, this.options.gatewayAliases[v] ?? v]));
    const secretsDir = this.options.secrets.mount(join(this.options.runDir, 'secrets', d.service), d.secrets ?? []);
    return {
      handlerFile: this.handlerFile(d.service),
      env: { ...this.options.baseEnv, fprocess: d.envProcess || ENV_PROCESS, ...envVars, ...this.options.overrideEnv, SECRETS_DIR: secretsDir, FUNCTION_HANDLER: this.handlerFile(d.service) },
      memoryLimitBytes: memoryBytes(d.limits?.memory),
    };
  }

  private clamp(replicas: number, bounds: ReplicaBounds): number {
    return Math.max(bounds.min, Math.min(replicas, bounds.max));
  }
}

/** A types.Secret body: name, value or rawValue (base64, as Go encodes []byte), namespace. */
function readSecretBody(raw: unknown): { name: string; namespace: string; value?: Buffer } | undefined {
  if (!raw || typeof raw !== 'object') return undefined;
  const { name, namespace, value, rawValue } = raw as Record<string, unknown>;
  if (typeof name !== 'string' || (namespace !== undefined && typeof namespace !== 'string')) return undefined;
  const ns = (namespace as string | undefined) || NAMESPACE;
  if (typeof rawValue === 'string' && rawValue.length > 0) return { name, namespace: ns, value: Buffer.from(rawValue, 'base64') };
  if (typeof value === 'string') return { name, namespace: ns, value: Buffer.from(value) };
  return { name, namespace: ns };
}
