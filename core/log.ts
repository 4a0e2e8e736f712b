/**
 * Structured logs, written by pino: one JSON object per line on stdout (where OpenFaaS collects
 * a function's output), with `time` (ISO 8601), `level` (its name), `msg` and the call's fields.
 * LOG_LEVEL sets the threshold when the process starts: trace, debug, info (the default), warn,
 * error, fatal or silent (tests).
 */
import { pino, type Logger } from 'pino';

export type LogFields = Record<string, unknown>;
export type { Logger };

const LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];
const wanted = process.env.LOG_LEVEL;

export const logger: Logger = pino(
  {
    level: wanted && LEVELS.includes(wanted) ? wanted : 'info',
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  },
  // Through process.stdout rather than straight to fd 1: ordered with everything else written there.
  process.stdout,
);

if (wanted && !LEVELS.includes(wanted)) logger.warn({ LOG_LEVEL: wanted, levels: LEVELS }, 'unknown LOG_LEVEL: logging at info');
