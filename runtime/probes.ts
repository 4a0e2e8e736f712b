/**
 * Readiness and liveness probes, as the kubelet runs them on every function pod faas-netes
 * creates (pkg/k8s/probes.go; chart values faasnetes.readinessProbe / livenessProbe): an HTTP GET
 * on the watchdog's /_/health with User-Agent kube-probe, initialDelaySeconds 2, periodSeconds 2,
 * timeoutSeconds 1, failureThreshold 3, successThreshold 1.
 *
 * A probe that times out, cannot connect or answers outside 200-399 fails. After
 * `failureThreshold` failures in a row the probe reports unhealthy, after `successThreshold`
 * successes in a row healthy again; the supervisor takes an unready replica out of the rotation
 * and kills one that is not live.
 */
import http from 'node:http';

export interface ProbeSettings {
  initialDelayMs: number;
  periodMs: number;
  timeoutMs: number;
  failureThreshold: number;
  successThreshold: number;
}

export interface ProbeTimings {
  readiness: ProbeSettings;
  liveness: ProbeSettings;
}

const FAAS_NETES: ProbeSettings = { initialDelayMs: 2_000, periodMs: 2_000, timeoutMs: 1_000, failureThreshold: 3, successThreshold: 1 };
export const FAAS_NETES_PROBES: ProbeTimings = { readiness: FAAS_NETES, liveness: FAAS_NETES };

/** The kubelet's User-Agent: of-watchdog leaves requests carrying it out of its request log. */
export const PROBE_USER_AGENT = 'kube-probe/1.31';

/**
 * Timings from the runtime's environment: PROBE_INITIAL_DELAY_SECONDS, PROBE_PERIOD_SECONDS,
 * PROBE_TIMEOUT_SECONDS and PROBE_FAILURE_THRESHOLD, for both probes (the chart gives both the
 * same values); unset or invalid ones keep faas-netes's.
 */
export function probeTimingsFromEnv(env: NodeJS.ProcessEnv): ProbeTimings {
  const seconds = (name: string, fallback: number) => {
    const value = Number(env[name]);
    return env[name] && Number.isFinite(value) && value >= 0 ? Math.round(value * 1000) : fallback;
  };
  const threshold = Number(env.PROBE_FAILURE_THRESHOLD);
  const settings: ProbeSettings = {
    initialDelayMs: seconds('PROBE_INITIAL_DELAY_SECONDS', FAAS_NETES.initialDelayMs),
    periodMs: Math.max(1, seconds('PROBE_PERIOD_SECONDS', FAAS_NETES.periodMs)),
    timeoutMs: Math.max(1, seconds('PROBE_TIMEOUT_SECONDS', FAAS_NETES.timeoutMs)),
    failureThreshold: Number.isInteger(threshold) && threshold >= 1 ? threshold : FAAS_NETES.failureThreshold,
    successThreshold: FAAS_NETES.successThreshold,
  };
  return { readiness: settings, liveness: settings };
}

/** One GET of /_/health: undefined when healthy, else why not. */
export function checkHealth(port: number, timeoutMs: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/_/health', agent: false, headers: { 'User-Agent': PROBE_USER_AGENT, Connection: 'close' } }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve(status >= 200 && status < 400 ? undefined : `HTTP probe failed with statuscode: ${status}`);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`context deadline exceeded (Client.Timeout exceeded while awaiting headers)`)));
    req.on('error', (error) => resolve(`Get "http://127.0.0.1:${port}/_/health": ${error.message}`));
  });
}

/**
 * Probes one replica's port every `periodMs` until stopped, calling `onChange` when the result
 * crosses a threshold (false: failed `failureThreshold` times in a row, with the last reason).
 */
export class Probe {
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private failures = 0;
  private successes = 0;
  private healthy = true;

  constructor(
    private readonly port: number,
    private readonly settings: ProbeSettings,
    private readonly onChange: (healthy: boolean, reason?: string) => void,
  ) {}

  start(): void {
    this.timer = setTimeout(() => void this.run(), this.settings.initialDelayMs);
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private async run(): Promise<void> {
    const started = Date.now();
    const failure = await checkHealth(this.port, this.settings.timeoutMs);
    if (this.stopped) return;
    if (failure) {
      this.successes = 0;
      if (++this.failures >= this.settings.failureThreshold && this.healthy) {
        this.healthy = false;
        this.onChange(false, failure);
      }
    } else {
      this.failures = 0;
      if (++this.successes >= this.settings.successThreshold && !this.healthy) {
        this.healthy = true;
        this.onChange(true);
      }
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.run(), Math.max(0, this.settings.periodMs - (Date.now() - started)));
  }
}
