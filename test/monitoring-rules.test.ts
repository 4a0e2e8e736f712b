/**
 * The shop's Prometheus alert rules (k3s/monitoring/shop-alerts.yml), checked by the Prometheus
 * that Debian ships (2.42, the `prometheus` package brings promtool): the file loads, and the unit
 * tests beside it (series in, alerts out) pass.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from '../runtime/build';

const DIR = join(ROOT, 'k3s', 'monitoring');
const promtool = (args: string[], cwd = DIR) => spawnSync('promtool', args, { cwd, encoding: 'utf8' });

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
      writeFileSync(join(dir, 'shop-alerts.yml'), readFileSync(join(DIR, 'shop-alerts.yml'), 'utf8').replace(',code!="503"}[5m]', '}[5m]'));
      writeFileSync(join(dir, 'shop-alerts.test.yml'), readFileSync(join(DIR, 'shop-alerts.test.yml')));
      const result = promtool(['test', 'rules', 'shop-alerts.test.yml'], dir);
      expect(result.status).not.toBe(0);
      expect(`${result.stdout}${result.stderr}`).toContain('alertname: ShopCheckoutErrors');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
