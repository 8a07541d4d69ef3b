// Geometry of the server-rendered SVG charts: the errors-over-time bar chart and the groups' sparklines.
// Only numbers and our own labels come out of here; templates draw them with escaped attributes.
import type { HistogramResult } from '../client/types.js';
import type { Deployment } from '../model/deployment.js';
import { SINCE, safeEnd, type Since } from './filters.js';
import { MONTHS } from './render.js';

/** One bar of the chart. */
export interface Bar {
  x: number;
  y: number;
  w: number;
  h: number;
  count: number;
  /** Tooltip: `Jan 01 10:00–11:00 UTC: 3 errors`. */
  label: string;
  /** The bucket's time range, ISO, `from` included and `to` not. */
  from: string;
  to: string;
  /** Where the bar links (the list filtered to its time range), or '' for an empty bar. */
  href: string;
}

/** A deployment on the chart: a vertical line at its time, labelled with its version where there is room. */
export interface DeploymentMarker {
  x: number;
  version: string;
  /** The version as drawn (cut to a few characters), or '' where it would run into the label before it. */
  label: string;
  labelX: number;
  anchor: 'start' | 'end';
  /** Tooltip: `Deployed 1.4.2 at 2026-01-01 10:00 UTC`. */
  title: string;
}

/** Everything the chart template draws. */
export interface BarChart {
  width: number;
  height: number;
  /** Top of the plot area, where the max line sits. */
  top: number;
  /** Bottom of the plot area (the x axis). */
  bottom: number;
  left: number;
  bars: Bar[];
  max: number;
  total: number;
  /** Labels along the time axis, at whole steps of UTC time (midnight for days), equally spaced. */
  ticks: { x: number; text: string; anchor: 'start' | 'middle' | 'end' }[];
  /** The font size of the labels, in view box units. */
  fontSize: number;
  /** The deployments within the window, oldest first. */
  markers: DeploymentMarker[];
  /** Sentence for screen readers. */
  summary: string;
}

/** The geometry of one drawing of the chart: its view box, plot area, font size and how many labels fit. */
export interface ChartSize {
  width: number;
  height: number;
  left: number;
  top: number;
  bottom: number;
  fontSize: number;
  maxTicks: number;
}

/** The chart on a wide screen: 960×120. */
export const WIDE: ChartSize = { width: 960, height: 120, left: 36, top: 8, bottom: 96, fontSize: 10, maxTicks: 8 };
/** The chart on a phone: a narrower view box, so that its labels stay readable when it is drawn 360 px wide. */
export const NARROW: ChartSize = { width: 400, height: 150, left: 30, top: 10, bottom: 124, fontSize: 12, maxTicks: 4 };

/** Longest version label drawn, and the width of one of its characters at the chart's font size. */
const LABEL_CHARS = 16;
const CHAR_EM = 0.6;

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DAY = 86_400_000;
/** The steps between time labels, shortest first: each a divisor of a day or a whole number of days. */
const TICK_STEPS = [5 * MINUTE, 15 * MINUTE, 30 * MINUTE, HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY, 28 * DAY];

function dayLabel(t: number): string {
  const iso = new Date(t).toISOString();
  return `${MONTHS[new Date(t).getUTCMonth()]!} ${iso.slice(8, 10)}`;
}

/**
 * The time labels of a window: the shortest step of TICK_STEPS that gives at most `maxTicks` labels, each at a
 * whole multiple of the step in UTC (so a day step lands on midnight). A label at midnight reads `Nov 22`, any
 * other `06:00`.
 */
export function timeTicks(start: number, end: number, maxTicks: number): { t: number; text: string }[] {
  const span = Math.max(1, end - start);
  const step = TICK_STEPS.find((s) => Math.floor(end / s) - Math.ceil(start / s) + 1 <= maxTicks) ?? Math.ceil(span / maxTicks / DAY) * DAY;
  const out: { t: number; text: string }[] = [];
  for (let t = Math.ceil(start / step) * step; t <= end && out.length < maxTicks; t += step)
    out.push({ t, text: t % DAY === 0 ? dayLabel(t) : new Date(t).toISOString().slice(11, 16) });
  return out;
}

/**
 * Lays out a histogram as bars in the view box of `size` (960×120 by default), with a marker for each deployment
 * (newest first or in any order) whose time falls within the histogram's window. `linkOf` gives each bar with
 * errors a link to its time range.
 */
export function barChart(
  h: HistogramResult,
  deployments: readonly Deployment[] = [],
  size: ChartSize = WIDE,
  linkOf?: (from: string, to: string) => string,
): BarChart {
  const { width: W, height: H, left: LEFT, top: TOP, bottom: BOTTOM, fontSize } = size;
  const charPx = fontSize * CHAR_EM;
  const start = Date.parse(h.from);
  const end = Date.parse(h.to);
  const n = h.counts.length;
  const max = Math.max(0, ...h.counts);
  const total = h.counts.reduce((a, b) => a + b, 0);
  const slot = (W - LEFT) / Math.max(1, n);
  const gap = slot > 4 ? 1 : 0;
  const bars: Bar[] = h.counts.map((count, i) => {
    const hh = max === 0 ? 0 : Math.max(count > 0 ? 2 : 0, Math.round(((BOTTOM - TOP) * count) / max));
    const t0 = start + i * h.bucketMs;
    const t1 = Math.min(end, t0 + h.bucketMs);
    const from = new Date(t0).toISOString();
    const to = new Date(t1).toISOString();
    return {
      x: round(LEFT + i * slot),
      y: BOTTOM - hh,
      w: round(Math.max(1, slot - gap)),
      h: hh,
      count,
      label: `${fullLabel(t0)} to ${fullLabel(t1)}: ${count} error${count === 1 ? '' : 's'}`,
      from,
      to,
      href: count > 0 && linkOf ? linkOf(from, to) : '',
    };
  });
  const ticks = timeTicks(start, end, size.maxTicks).map(({ t, text }) => {
    const x = timeX(t, start, end, size);
    const half = (text.length * charPx) / 2;
    const anchor: 'start' | 'middle' | 'end' = x - half < LEFT ? 'start' : x + half > W ? 'end' : 'middle';
    return { x, text, anchor };
  });
  const markers = deploymentMarkers(start, end, deployments, size);
  const deployed = markers.length > 0 ? ` Deployments: ${markers.map((m) => m.title.replace(/^Deployed /, '')).join('; ')}.` : '';
  return {
    width: W,
    height: H,
    top: TOP,
    bottom: BOTTOM,
    left: LEFT,
    bars,
    max,
    total,
    ticks,
    fontSize,
    markers,
    summary: `${total} error${total === 1 ? '' : 's'} from ${fullLabel(start)} to ${fullLabel(end)}, at most ${max} in one interval.${deployed}`,
  };
}

/** The x position of a time in the plot area of a window [start, end]. */
export function timeX(t: number, start: number, end: number, size: ChartSize = WIDE): number {
  return round(size.left + ((t - start) / Math.max(1, end - start)) * (size.width - size.left));
}

/** Markers of the deployments in [start, end], oldest first; a label is left out where it would overlap the one before. */
function deploymentMarkers(start: number, end: number, deployments: readonly Deployment[], size: ChartSize): DeploymentMarker[] {
  const W = size.width;
  const charPx = size.fontSize * CHAR_EM;
  const inside = deployments
    .map((d) => ({ d, t: Date.parse(d.created) }))
    .filter(({ t }) => t >= start && t <= end)
    .sort((a, b) => a.t - b.t);
  let free = 0;
  return inside.map(({ d, t }) => {
    const x = timeX(t, start, end, size);
    const text = d.version.length > LABEL_CHARS ? `${d.version.slice(0, LABEL_CHARS - 1)}…` : d.version;
    const width = text.length * charPx;
    const anchor = x + 3 + width > W ? 'end' : 'start';
    const left = anchor === 'start' ? x + 3 : x - 3 - width;
    const room = left >= free;
    if (room) free = left + width + 6;
    return {
      x,
      version: d.version,
      label: room ? text : '',
      labelX: round(anchor === 'start' ? x + 3 : x - 3),
      anchor,
      title: `Deployed ${d.version} at ${fullLabel(t)}`,
    };
  });
}

function fullLabel(t: number): string {
  const iso = new Date(t).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
}

function round(v: number): number {
  return Math.round(v * 10) / 10;
}

/** Polyline points of a sparkline in a `width`×`height` box (the baseline at the bottom). */
export function sparkline(counts: readonly number[], width = 100, height = 20): string {
  if (counts.length === 0) return '';
  const max = Math.max(1, ...counts);
  const step = counts.length > 1 ? width / (counts.length - 1) : 0;
  return counts.map((c, i) => `${round(i * step)},${round(height - 1 - ((height - 2) * c) / max)}`).join(' ');
}

/** Chart buckets per time range, and the range used when the list has none. */
const CHART_BUCKETS: Record<Since, number> = { '1h': 60, '24h': 48, '7d': 84, '30d': 60, '90d': 90 };
const DEFAULT_CHART_RANGE: Since = '7d';

/** Most buckets of a finer chart. */
const MAX_FINE_BUCKETS = 240;

/**
 * The chart's time window: the list's range, or the last 7 days, aligned to whole buckets. `fine` asks for
 * shorter buckets (whole hours, at most 240 of them), for a window that is mostly empty.
 */
export function chartWindow(since: Since | '', now: Date, fine = false): { from: string; to: string; buckets: number } {
  const range = since || DEFAULT_CHART_RANGE;
  const span = SINCE[range];
  const coarse = span / CHART_BUCKETS[range];
  const bucketMs = fine && coarse > HOUR ? Math.ceil(span / MAX_FINE_BUCKETS / HOUR) * HOUR : coarse;
  const buckets = Math.round(span / bucketMs);
  const end = Math.ceil(now.getTime() / bucketMs) * bucketMs;
  return { from: new Date(end - bucketMs * buckets).toISOString(), to: new Date(end).toISOString(), buckets };
}

/** The label of a chart's range: `the last 7 days`. */
export function rangeLabel(since: Since | ''): string {
  const range = since || DEFAULT_CHART_RANGE;
  const n = parseInt(range, 10);
  const unit = range.endsWith('h') ? 'hour' : 'day';
  return n === 1 ? `the last ${unit}` : `the last ${n} ${unit}s`;
}

/** True when errors fall in fewer than a quarter of the buckets, and finer buckets would show them apart. */
export function mostlyEmpty(counts: readonly number[]): boolean {
  const used = counts.filter((c) => c > 0).length;
  return used > 0 && used * 4 < counts.length;
}

/** A search narrowed to a time range, `from` included and `to` not: `(q) AND dateTime:[from TO to}`. */
export function withTimeRange(q: string, from: string, to: string): string {
  const short = (iso: string) => iso.replace('.000Z', 'Z');
  const range = `dateTime:[${short(from)} TO ${short(to)}}`;
  return q ? `(${safeEnd(q)}) AND ${range}` : range;
}

/** The length of a bucket in words: `30 minutes`, `1 hour`, `2 hours`. */
export function bucketLabel(ms: number): string {
  const [n, unit] = ms % DAY === 0 ? [ms / DAY, 'day'] : ms % HOUR === 0 ? [ms / HOUR, 'hour'] : [Math.round(ms / MINUTE), 'minute'];
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}
