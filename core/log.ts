/** Structured logs: one JSON object per line on stdout, as OpenFaaS collects them. LOG_LEVEL=silent mutes them (tests). */
export type LogFields = Record<string, unknown>;

export function logLine(level: 'info' | 'warn' | 'error', msg: string, fields: LogFields = {}): void {
  if (process.env.LOG_LEVEL === 'silent') return;
  process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level, msg, ...fields })}\n`);
}
