/**
 * How many replicas OpenFaaS Community Edition runs of a function, from its labels:
 * `com.openfaas.scale.min` (default 1) and `com.openfaas.scale.max` (default 5), never above
 * CE's 5, the minimum never above the maximum. The local runtime holds replicas to these bounds
 * (runtime/scaling.ts); the operator page shows them (frontend/admin.ts).
 */
export const CE_MAX_REPLICAS = 5;

export interface ReplicaBounds {
  min: number;
  max: number;
}

export function replicaBounds(labels: Record<string, string> = {}): ReplicaBounds {
  const read = (key: string, fallback: number) => {
    const n = Number(labels[key]);
    return Number.isInteger(n) && n > 0 ? Math.min(n, CE_MAX_REPLICAS) : fallback;
  };
  const max = read('com.openfaas.scale.max', CE_MAX_REPLICAS);
  return { min: Math.min(read('com.openfaas.scale.min', 1), max), max };
}
