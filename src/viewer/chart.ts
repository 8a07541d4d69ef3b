// Geometry of the server-rendered SVG charts: the errors-over-time bar chart and the groups' sparklines.
// Only numbers and our own labels come out of here; templates draw them with escaped attributes.
import type { HistogramResult } from '../client/types.js';
import type { Deployment } from '../model/deployment.js';
import { SINCE, type Since } from './filters.js';
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
  /** Up to five labels along the time axis. */
  ticks: { x: number; text: string }[];
  /** The deployments within the window, oldest first. */
  markers: DeploymentMarker[];
  /** Sentence for screen readers. */
  summary: string;
}

const W = 960;
const H = 120;
const LEFT = 36;
const TOP = 8;
const BOTTOM = 96;
/** Longest version label drawn, and the width of one of its characters at the chart's font size. */
const LABEL_CHARS = 16;
const CHAR_PX = 6;

function label(t: number, spanMs: number): string {
  const iso = new Date(t).toISOString();
  const month = MONTHS[new Date(t).getUTCMonth()]!;
  if (spanMs <= 2 * 86_400_000) return iso.slice(11, 16);
  return `${month} ${iso.slice(8, 10)}`;
}

/**
 * Lays out a histogram as bars in a 960×120 view box, with a marker for each deployment (newest first or in any
 * order) whose time falls within the histogram's window.
 */
export function barChart(h: HistogramResult, deployments: readonly Deployment[] = []): BarChart {
  const start = Date.parse(h.from);
  const end = Date.parse(h.to);
  const span = end - start;
  const n = h.counts.length;
  const max = Math.max(0, ...h.counts);
  const total = h.counts.reduce((a, b) => a + b, 0);
  const slot = (W - LEFT) / Math.max(1, n);
  const gap = slot > 4 ? 1 : 0;
  const bars: Bar[] = h.counts.map((count, i) => {
    const hh = max === 0 ? 0 : Math.max(count > 0 ? 2 : 0, Math.round(((BOTTOM - TOP) * count) / max));
    const t0 = start + i * h.bucketMs;
    const t1 = Math.min(end, t0 + h.bucketMs);
    return {
      x: round(LEFT + i * slot),
      y: BOTTOM - hh,
      w: round(Math.max(1, slot - gap)),
      h: hh,
      count,
      label: `${fullLabel(t0)} to ${fullLabel(t1)}: ${count} error${count === 1 ? '' : 's'}`,
    };
  });
  const ticks: { x: number; text: string }[] = [];
  const tickCount = Math.min(5, n);
  for (let i = 0; i < tickCount; i++) {
    const frac = tickCount === 1 ? 0 : i / (tickCount - 1);
    ticks.push({ x: round(LEFT + frac * (W - LEFT)), text: label(start + frac * span, span) });
  }
  const markers = deploymentMarkers(start, end, deployments);
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
    markers,
    summary: `${total} error${total === 1 ? '' : 's'} from ${fullLabel(start)} to ${fullLabel(end)}, at most ${max} in one interval.${deployed}`,
  };
}

/** The x position of a time in the plot area of a window [start, end]. */
export function timeX(t: number, start: number, end: number): number {
  return round(LEFT + ((t - start) / Math.max(1, end - start)) * (W - LEFT));
}

/** Markers of the deployments in [start, end], oldest first; a label is left out where it would overlap the one before. */
function deploymentMarkers(start: number, end: number, deployments: readonly Deployment[]): DeploymentMarker[] {
  const inside = deployments
    .map((d) => ({ d, t: Date.parse(d.created) }))
    .filter(({ t }) => t >= start && t <= end)
    .sort((a, b) => a.t - b.t);
  let free = 0;
  return inside.map(({ d, t }) => {
    const x = timeX(t, start, end);
    const text = d.version.length > LABEL_CHARS ? `${d.version.slice(0, LABEL_CHARS - 1)}…` : d.version;
    const width = text.length * CHAR_PX;
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

/** The chart's time window: the list's range, or the last 7 days, aligned to whole buckets. */
export function chartWindow(since: Since | '', now: Date): { from: string; to: string; buckets: number } {
  const range = since || DEFAULT_CHART_RANGE;
  const buckets = CHART_BUCKETS[range];
  const bucketMs = SINCE[range] / buckets;
  const end = Math.ceil(now.getTime() / bucketMs) * bucketMs;
  return { from: new Date(end - bucketMs * buckets).toISOString(), to: new Date(end).toISOString(), buckets };
}
