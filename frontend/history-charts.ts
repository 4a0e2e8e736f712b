/**
 * The operator's charts of the last minutes, drawn on the server: each function's history
 * becomes three small SVG line charts (calls, latency, replicas) as path strings and labels
 * that views/partials/function-history.ejs prints. No script runs in the page, so the CSP
 * stays strict. A change of the desired replicas is a scaling event, marked on all three.
 */
import type { FunctionHistory, HistoryPoint } from '../core/function-history';

/** The drawing area of one chart, in SVG user units. */
export const CHART = { width: 320, height: 110, left: 56, right: 8, top: 8, bottom: 20 } as const;

export interface ChartLine {
  label: string;
  color: string;
  /** SVG path data; a gap in the data starts a new subpath. Empty when the line has no point. */
  path: string;
  /** The newest value, formatted, or '–' when there is none. */
  latest: string;
}

export interface ScalingEvent {
  x: number;
  label: string;
}

export interface Chart {
  title: string;
  /** The value at the top of the y axis, formatted with its unit. */
  top: string;
  lines: ChartLine[];
  events: ScalingEvent[];
  /** Whether any line has a point: an empty chart says so instead of drawing nothing. */
  hasData: boolean;
}

export interface FunctionCharts {
  name: string;
  charts: Chart[];
}

interface LineSpec {
  label: string;
  color: string;
  value: (p: HistoryPoint) => number | null;
  /** Drawn as steps: a count holds until it changes. */
  steps?: boolean;
}

interface ChartSpec {
  title: string;
  unit: string;
  /** The lowest top of the y axis, so that noise does not fill the chart. */
  floor: number;
  lines: LineSpec[];
}

const ms = (seconds: number | null) => (seconds === null ? null : seconds * 1000);

const SPECS: ChartSpec[] = [
  {
    title: 'Calls per second',
    unit: '/s',
    floor: 1,
    lines: [
      { label: 'calls', color: '#0b5c4a', value: (p) => p.callsPerSecond },
      { label: 'refused', color: '#b45f06', value: (p) => p.refusalsPerSecond },
      { label: 'errors', color: '#a11d1d', value: (p) => p.errorsPerSecond },
    ],
  },
  {
    title: 'Latency',
    unit: ' ms',
    floor: 10,
    lines: [
      { label: 'p50', color: '#1f4e8c', value: (p) => ms(p.p50) },
      { label: 'p95', color: '#7a3e9d', value: (p) => ms(p.p95) },
    ],
  },
  {
    title: 'Replicas',
    unit: '',
    floor: 1,
    lines: [
      { label: 'desired', color: '#1f4e8c', value: (p) => p.replicas, steps: true },
      { label: 'available', color: '#0b5c4a', value: (p) => p.available, steps: true },
    ],
  },
];

/** The smallest 1, 2 or 5 times a power of ten at or above `value`. */
export function niceTop(value: number, floor: number): number {
  const target = Math.max(value, floor);
  const power = 10 ** Math.floor(Math.log10(target));
  return ([1, 2, 5, 10].map((m) => m * power).find((candidate) => candidate >= target - 1e-9) as number);
}

export function formatValue(value: number | null, unit = ''): string {
  if (value === null) return '–';
  const digits = value === 0 || Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2;
  return `${Number(value.toFixed(digits))}${unit}`;
}

const round = (n: number) => Math.round(n * 10) / 10;

function xOf(index: number, count: number): number {
  const plot = CHART.width - CHART.left - CHART.right;
  return round(CHART.left + (count <= 1 ? plot : (plot * index) / (count - 1)));
}

function yOf(value: number, top: number): number {
  const plot = CHART.height - CHART.top - CHART.bottom;
  return round(CHART.top + plot * (1 - Math.min(value, top) / top));
}

function pathOf(values: (number | null)[], top: number, steps: boolean): string {
  const parts: string[] = [];
  let previous: number | null = null;
  values.forEach((value, i) => {
    if (value === null) return void (previous = null);
    const x = xOf(i, values.length);
    const y = yOf(value, top);
    if (previous === null) parts.push(`M${x} ${y}`);
    else parts.push(steps ? `H${x} V${y}` : `L${x} ${y}`);
    previous = value;
  });
  return parts.join(' ');
}

/** Where the desired replicas changed from the last count known before. */
export function scalingEvents(points: readonly HistoryPoint[]): ScalingEvent[] {
  const events: ScalingEvent[] = [];
  let known: number | null = null;
  points.forEach((p, i) => {
    if (p.replicas === null) return;
    if (known !== null && p.replicas !== known) events.push({ x: xOf(i, points.length), label: `scaled from ${known} to ${p.replicas} replicas` });
    known = p.replicas;
  });
  return events;
}

function chartOf(spec: ChartSpec, points: readonly HistoryPoint[], events: ScalingEvent[]): Chart {
  const series = spec.lines.map((line) => points.map(line.value));
  const max = Math.max(0, ...series.flat().filter((v): v is number => v !== null));
  const top = niceTop(max, spec.floor);
  const lines = spec.lines.map((line, i) => {
    const values = series[i] as (number | null)[];
    return { label: line.label, color: line.color, path: pathOf(values, top, !!line.steps), latest: formatValue(values.findLast((v) => v !== null) ?? null, spec.unit) };
  });
  return { title: spec.title, top: formatValue(top, spec.unit), lines, events, hasData: lines.some((l) => l.path !== '') };
}

export function functionCharts(history: FunctionHistory): FunctionCharts[] {
  return history.functions.map((fn) => {
    const events = scalingEvents(fn.points);
    return { name: fn.name, charts: SPECS.map((spec) => chartOf(spec, fn.points, events)) };
  });
}
