import type { HistoryPoint } from '../core/function-history';
import { CHART, formatValue, functionCharts, niceTop } from './history-charts';

const empty: HistoryPoint = { t: 0, callsPerSecond: null, errorsPerSecond: null, refusalsPerSecond: null, p50: null, p95: null, replicas: null, available: null };
const point = (i: number, fields: Partial<HistoryPoint> = {}): HistoryPoint => ({ ...empty, t: 1_000 + i * 10, ...fields });

const chartsOf = (points: HistoryPoint[]) => functionCharts({ stepSeconds: 10, functions: [{ name: 'order-create', points }] })[0]?.charts ?? [];
const line = (points: HistoryPoint[], chart: string, label: string) => chartsOf(points).find((c) => c.title === chart)?.lines.find((l) => l.label === label);
/** The points of a path: one per M, L, or H/V pair. */
const vertices = (path = '') => (path.match(/[ML]/g)?.length ?? 0) + (path.match(/H/g)?.length ?? 0);

describe('the operator’s charts', () => {
  it('draws a full window: one vertex per step, from the left edge to the right, scaled to a round top', () => {
    const points = Array.from({ length: 90 }, (_, i) => point(i, { callsPerSecond: i / 10, refusalsPerSecond: 0, errorsPerSecond: 0, p50: 0.02, p95: 0.08, replicas: 1, available: 1 }));
    const calls = chartsOf(points)[0];
    expect(calls).toMatchObject({ title: 'Calls per second', top: '10/s', hasData: true, events: [] });
    const path = line(points, 'Calls per second', 'calls')?.path;
    expect(vertices(path)).toBe(90);
    expect(path).toMatch(new RegExp(`^M${CHART.left} ${CHART.height - CHART.bottom} `));
    // 8.9 calls/s under a top of 10: 11 % of the plot's height below the top.
    expect(path?.endsWith(`L${CHART.width - CHART.right} ${Math.round((CHART.top + (CHART.height - CHART.top - CHART.bottom) * 0.11) * 10) / 10}`)).toBe(true);
    expect(line(points, 'Calls per second', 'calls')?.latest).toBe('8.9/s');
    expect(line(points, 'Latency', 'p95')?.latest).toBe('80 ms');
    expect(chartsOf(points)[1]?.top).toBe('100 ms');
    expect(chartsOf(points)[2]).toMatchObject({ title: 'Replicas', top: '1', hasData: true });
  });

  it('says an empty window is empty instead of drawing a flat line', () => {
    for (const points of [[], Array.from({ length: 90 }, (_, i) => point(i))]) {
      const charts = chartsOf(points);
      expect(charts.map((c) => c.title)).toEqual(['Calls per second', 'Latency', 'Replicas']);
      expect(charts.every((c) => !c.hasData && c.lines.every((l) => l.path === '' && l.latest === '–'))).toBe(true);
    }
  });

  it('leaves a gap where the source has nothing, and draws counts as steps', () => {
    const points = [point(0, { p50: 0.01 }), point(1, { p50: 0.02 }), point(2), point(3, { p50: 0.01, replicas: 1 }), point(4, { replicas: 2 })];
    expect(line(points, 'Latency', 'p50')?.path.match(/M/g)).toHaveLength(2);
    expect(line(points, 'Replicas', 'desired')?.path).toMatch(/^M\S+ \S+ H\S+ V\S+$/);
  });

  it('marks every change of the desired replicas on each chart, with what changed', () => {
    const replicas = [1, 1, 2, 2, null, 4, 4, 1];
    const points = replicas.map((r, i) => point(i, { callsPerSecond: 1, replicas: r, available: r }));
    const charts = chartsOf(points);
    expect(charts.every((c) => c.events.length === 3)).toBe(true);
    expect(charts[0]?.events.map((e) => e.label)).toEqual(['scaled from 1 to 2 replicas', 'scaled from 2 to 4 replicas', 'scaled from 4 to 1 replicas']);
    expect(charts[0]?.events[0]?.x).toBeGreaterThan(CHART.left);
  });

  it('rounds the top of an axis to 1, 2 or 5 times a power of ten, never below its floor', () => {
    expect([0, 0.3, 1, 1.2, 3, 7, 23, 480].map((v) => niceTop(v, 1))).toEqual([1, 1, 1, 2, 5, 10, 50, 500]);
    expect(niceTop(0.002, 10)).toBe(10);
    expect([null, 0, 0.125, 12.34, 1234].map((v) => formatValue(v, ' ms'))).toEqual(['–', '0 ms', '0.13 ms', '12.3 ms', '1234 ms']);
  });
});
