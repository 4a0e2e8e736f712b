/**
 * The functions the local runtime runs, as the provider knows them: FunctionDeployment in
 * (faas-provider types/function_deployment.go; what `faas-cli deploy` sends and stack.yml
 * describes), FunctionStatus out (types/function_status.go; what `faas-cli list/describe` read).
 * Validation follows faas-netes CE (pkg/handlers/validate.go), word for word where it answers.
 */
import { z } from '../core/zod';
import { CE_MAX_REPLICAS } from '../core/replica-bounds';
import type { StackFunction } from './stack';

const Resources = z.object({ memory: z.string().optional(), cpu: z.string().optional() });
const StringMap = z.record(z.string(), z.string());

/** Unknown fields are ignored, as Go's json.Unmarshal ignores them; wrong types are refused. */
export const FunctionDeployment = z.object({
  service: z.string(),
  image: z.string(),
  namespace: z.string().optional(),
  envProcess: z.string().optional(),
  envVars: StringMap.nullish(),
  constraints: z.array(z.string()).nullish(),
  secrets: z.array(z.string()).nullish(),
  labels: StringMap.nullish(),
  annotations: StringMap.nullish(),
  limits: Resources.nullish(),
  requests: Resources.nullish(),
  readOnlyRootFilesystem: z.boolean().optional(),
});
export type FunctionDeployment = z.infer<typeof FunctionDeployment>;

/** faas-provider's FunctionStatus, as /system/functions lists it. */
export interface FunctionStatus {
  name: string;
  image: string;
  namespace: string;
  envProcess: string;
  envVars: Record<string, string>;
  constraints: string[];
  secrets: string[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  limits?: { memory?: string; cpu?: string };
  requests?: { memory?: string; cpu?: string };
  readOnlyRootFilesystem: boolean;
  invocationCount: number;
  replicas: number;
  availableReplicas: number;
  createdAt: string;
  /** Resident memory of every replica (faas-provider's FunctionUsage); left out when not measured. */
  usage?: { totalMemoryBytes: number };
}

/** The one namespace for functions OpenFaaS CE has. */
export const NAMESPACE = 'openfaas-fn';

/** What the node20 template's Dockerfile runs (fprocess). */
export const ENV_PROCESS = 'node index.js';
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** faas-netes's ValidateDeployRequest: the message it answers after "validation failed: ", or undefined. */
export function validateDeployment(d: FunctionDeployment): string | undefined {
  if (d.service === '') return 'service: is required';
  if (!DNS_LABEL.test(d.service)) return `service: (${d.service}) is invalid, must be a valid DNS entry`;
  if (d.image === '') return 'image: is required';
  const labels = d.labels ?? {};
  if (labels['com.openfaas.scale.zero'] === 'true') return 'com.openfaas.scale.zero not available for Community Edition';
  for (const key of ['com.openfaas.scale.zero-duration', 'com.openfaas.scale.target', 'com.openfaas.scale.type']) {
    if (key in labels) return `${key} not available for Community Edition`;
  }
  for (const bound of ['max', 'min']) {
    if (Number(labels[`com.openfaas.scale.${bound}`]) > CE_MAX_REPLICAS) return `com.openfaas.scale.${bound} is set too high for Community Edition`;
  }
  return undefined;
}

/**
 * Environment a deployment may not set, because it decides how the runtime starts a replica
 * rather than how the function behaves: NODE_OPTIONS=--import=data:... or LD_PRELOAD run any code
 * as the runtime's user, PATH picks the programs it runs, and the runtime's own variables
 * (DATA_DIR, SECRETS_DIR, FUNCTION_HANDLER...) would point a replica at another database, other
 * secrets or another file to load. In the cluster a container bounds what these reach; here a
 * replica is a process of the runtime's user, so they are refused (the local runtime's rule).
 * NODE_ENV is allowed: it picks a mode (stack.yml sets `production`, so Express answers errors
 * without a stack trace) and runs nothing.
 */
const RESERVED_ENV_PREFIXES = ['NODE_', 'LD_', 'DYLD_', 'OPENSSL_'];
const ALLOWED_ENV = ['NODE_ENV'];
const RESERVED_ENV = ['PATH', 'HOME', 'TZ', 'DATA_DIR', 'SECRETS_DIR', 'FUNCTION_HANDLER', 'SHOP_FAULT_INJECTION', 'MONGO_URL', 'MONGO_DB'];

/** The first envVar a deployment may not set, with why, as the message after "validation failed: "; or undefined. */
export function reservedEnvVar(envVars: Record<string, string> | null | undefined): string | undefined {
  for (const name of Object.keys(envVars ?? {})) {
    const upper = name.toUpperCase();
    if (ALLOWED_ENV.includes(upper)) continue;
    if (RESERVED_ENV.includes(upper) || RESERVED_ENV_PREFIXES.some((p) => upper.startsWith(p))) {
      return `envVars: ${name} cannot be set by a deployment (reserved: ${RESERVED_ENV_PREFIXES.map((p) => `${p}*`).join(', ')}, ${RESERVED_ENV.join(', ')})`;
    }
  }
  return undefined;
}

/** A function of stack.yml as `faas-cli deploy` sends it. */
export function deploymentFromStack(name: string, fn: StackFunction): FunctionDeployment {
  return {
    service: name,
    image: fn.image,
    namespace: NAMESPACE,
    envProcess: ENV_PROCESS,
    envVars: fn.environment ?? {},
    constraints: fn.constraints ?? [],
    secrets: fn.secrets ?? [],
    labels: fn.labels ?? {},
    annotations: fn.annotations ?? {},
    ...(fn.limits ? { limits: fn.limits } : {}),
    ...(fn.requests ? { requests: fn.requests } : {}),
    readOnlyRootFilesystem: fn.readonly_root_filesystem ?? false,
  };
}

export function functionStatus(d: FunctionDeployment, status: { invocationCount: number; replicas: number; availableReplicas: number; createdAt: Date; totalMemoryBytes?: number }): FunctionStatus {
  return {
    name: d.service,
    image: d.image,
    namespace: NAMESPACE,
    envProcess: d.envProcess || ENV_PROCESS,
    envVars: d.envVars ?? {},
    constraints: d.constraints ?? [],
    secrets: [...(d.secrets ?? [])].sort(),
    labels: d.labels ?? {},
    annotations: d.annotations ?? {},
    ...(d.limits ? { limits: d.limits } : {}),
    ...(d.requests ? { requests: d.requests } : {}),
    readOnlyRootFilesystem: d.readOnlyRootFilesystem ?? false,
    invocationCount: status.invocationCount,
    replicas: status.replicas,
    availableReplicas: status.availableReplicas,
    createdAt: status.createdAt.toISOString(),
    ...(status.totalMemoryBytes ? { usage: { totalMemoryBytes: status.totalMemoryBytes } } : {}),
  };
}
