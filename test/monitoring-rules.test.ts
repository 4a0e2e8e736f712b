/**
 * The shop's Prometheus alert rules and Grafana dashboard (k3s/monitoring/), checked by the
 * Prometheus that Debian ships (2.42, the `prometheus` package brings promtool): the rules load
 * and their unit tests (series in, alerts out) pass; every dashboard query is PromQL Prometheus
 * parses. Which metrics they name is checked against the running shop (monitoring.e2e.test.ts).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QUERIES } from '../frontend/history-prometheus';
import { MONITORING, dashboard, dashboardQueries } from './support/monitoring';

const promtool = (args: string[], cwd = MONITORING) => spawnSync('promtool', args, { cwd, encoding: 'utf8' });

describe('the shop’s alert rules', () => {
  it('load in Prometheus (promtool check rules)', () => {
    const result = promtool(['check', 'rules', 'shop-alerts.yml']);
    expect(result.error).toBeUndefined();
    expect(`${result.stdout}${result.stderr}`).toContain('SUCCESS: 6 rules found');
    expect(result.status).toBe(0);
  });

  it('raise what their unit tests expect, and nothing they must not (promtool test rules)', () => {
    const result = promtool(['test', 'rules', 'shop-alerts.test.yml']);
    expect(`${result.stdout}${result.stderr}`).toContain('SUCCESS');
    expect(result.status).toBe(0);
  });

  it('would be caught breaking: a rule that no longer tells a refusal from an error fails its unit test', () => {
    const dir = mkdtempSync(join(tmpdir(), 'shop-rules-'));
    try {
      writeFileSync(join(dir, 'shop-alerts.yml'), readFileSync(join(MONITORING, 'shop-alerts.yml'), 'utf8').replace(',code!="503"}[5m]', '}[5m]'));
      writeFileSync(join(dir, 'shop-alerts.test.yml'), readFileSync(join(MONITORING, 'shop-alerts.test.yml')));
      const result = promtool(['test', 'rules', 'shop-alerts.test.yml'], dir);
      expect(result.status).not.toBe(0);
      expect(`${result.stdout}${result.stderr}`).toContain('alertname: ShopCheckoutErrors');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the shop’s Grafana dashboard', () => {
  it('imports with the Prometheus the operator picks: every panel and query reads ${DS_PROMETHEUS}', () => {
    const { __inputs, panels } = dashboard();
    expect(__inputs.map((i) => i.name)).toEqual(['DS_PROMETHEUS']);
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    for (const panel of panels) {
      expect(panel.datasource.uid).toBe('${DS_PROMETHEUS}');
      expect(panel.targets.length).toBeGreaterThan(0);
      expect(panel.targets.every((t) => t.datasource.uid === '${DS_PROMETHEUS}')).toBe(true);
      expect(panel.gridPos.x + panel.gridPos.w).toBeLessThanOrEqual(24);
    }
  });

  it('asks only what Prometheus parses, as the operator page’s cluster source does (each query checked by promtool as a recording rule)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'shop-dashboard-'));
    try {
      const rules = [...dashboardQueries(), ...Object.values(QUERIES)].map((expr, i) => ({ record: `shop:dashboard_query:${i}`, expr: expr.replaceAll('$__rate_interval', '1m').replaceAll('$function', '.+') }));
      writeFileSync(join(dir, 'queries.yml'), JSON.stringify({ groups: [{ name: 'dashboard', rules }] }));
      const result = promtool(['check', 'rules', 'queries.yml'], dir);
      expect(`${result.stdout}${result.stderr}`).toContain(`SUCCESS: ${rules.length} rules found`);
      expect(result.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
