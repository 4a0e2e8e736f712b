/**
 * Where the operator's charts come from, chosen by configuration: the cluster's Prometheus when
 * PROMETHEUS_URL is set (frontend/history-prometheus.ts), else the local runtime's window through
 * the scaler's credentials. Both give the same FunctionHistory; a source that does not answer
 * leaves the page up with a note, as the replicas do when the gateway is down.
 */
import { isShopError } from '../core/errors';
import type { FunctionHistory } from '../core/function-history';
import { functionCharts, type FunctionCharts } from './history-charts';
import type { SystemClient } from './system-client';

export interface HistorySource {
  /** Named on the page, so the operator knows what the charts show. */
  label: string;
  read(): Promise<FunctionHistory>;
}

export function localHistory(system: SystemClient): HistorySource {
  return { label: 'the local runtime’s window (GET /system/metrics-window)', read: () => system.metricsWindow() };
}

export interface HistoryView {
  source?: string;
  stepSeconds?: number;
  /** How far back the charts go, in whole minutes. */
  minutes?: number;
  functions: FunctionCharts[];
  /** Why there is nothing to chart, when there is not. */
  note?: string;
}

export async function historyView(source: HistorySource | undefined): Promise<HistoryView> {
  if (!source) return { functions: [], note: 'Charts need PROMETHEUS_URL (the cluster’s Prometheus) or the scaler’s credentials (SCALER_PASSWORD_FILE) for the local runtime.' };
  try {
    const history = await source.read();
    const points = Math.max(0, ...history.functions.map((fn) => fn.points.length));
    return { source: source.label, stepSeconds: history.stepSeconds, minutes: Math.round((points * history.stepSeconds) / 60), functions: functionCharts(history) };
  } catch (error) {
    if (!isShopError(error)) throw error;
    return { source: source.label, functions: [], note: `${source.label} did not answer (${error.message}); the page tries again at its next refresh.` };
  }
}
