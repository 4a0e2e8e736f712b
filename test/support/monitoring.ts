/** The shop's monitoring files (k3s/monitoring/), read as the tests need them. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ROOT } from '../../runtime/build';

export const MONITORING = join(ROOT, 'k3s', 'monitoring');

export interface DashboardPanel {
  id: number;
  title: string;
  datasource: { uid: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets: { expr: string; datasource: { uid: string } }[];
}

export interface Dashboard {
  uid: string;
  __inputs: { name: string }[];
  panels: DashboardPanel[];
}

export const dashboard = (): Dashboard => JSON.parse(readFileSync(join(MONITORING, 'shop-dashboard.json'), 'utf8')) as Dashboard;

export const dashboardQueries = (): string[] => dashboard().panels.flatMap((p) => p.targets.map((t) => t.expr));

export const alertRuleQueries = (): string[] =>
  (parse(readFileSync(join(MONITORING, 'shop-alerts.yml'), 'utf8')) as { groups: { rules: { expr: string }[] }[] }).groups.flatMap((g) => g.rules.map((r) => r.expr));
