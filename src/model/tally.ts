// Occurrence tallies: occurrences of an error that were counted but not kept in full (a storm filled the
// shipper's queue), folded per group so that group counts, last-seen times and the chart still include them.
import { ElmahError } from './errors.js';
import { newMessageId } from './id.js';
import { LOG_NAME_PATTERN, MAX_FUTURE_SKEW_MS, MESSAGE_ID_PATTERN, STRING_FIELDS } from './message.js';

/** Occurrences of one group (log + fingerprint) that were counted but not kept in full. */
export interface OccurrenceTally {
  /** Made by the sender (time-ordered, like a message id): a second tally with the same id in the same log is ignored. */
  id: string;
  log: string;
  fingerprint: string;
  /** How many occurrences, ≥ 1. */
  count: number;
  /** ISO 8601 UTC times of the first and the last of them. */
  firstSeen: string;
  lastSeen: string;
  /** The newest occurrence's title, type and status code, to name a group that has no stored message yet. */
  title: string;
  type: string;
  statusCode?: number | undefined;
  /** Occurrences per UTC minute, for the chart: `[minute start as ISO, count]`, counts summing to `count`. */
  minutes: [string, number][];
}

/** At most this many minute buckets in one tally (a day). */
export const MAX_TALLY_MINUTES = 1440;

/** The ISO start of the UTC minute of `ms`. */
export function minuteOf(ms: number): string {
  return new Date(Math.floor(ms / 60_000) * 60_000).toISOString();
}

/** Folds occurrences of one group in memory; `take()` yields the tally and starts afresh. */
export class TallyBuilder {
  private count = 0;
  private first = Infinity;
  private last = -Infinity;
  private readonly perMinute = new Map<number, number>();
  private newest: { title: string; type: string; statusCode?: number | undefined } = { title: '', type: '' };

  constructor(
    readonly log: string,
    readonly fingerprint: string,
  ) {}

  /** How many occurrences are folded so far. */
  get size(): number {
    return this.count;
  }

  /** Adds one occurrence at time `ms`. */
  add(ms: number, title: string, type: string, statusCode?: number): void {
    this.count++;
    if (ms < this.first) this.first = ms;
    if (ms >= this.last) {
      this.last = ms;
      this.newest = { title, type, statusCode };
    }
    const minute = Math.floor(ms / 60_000);
    this.perMinute.set(minute, (this.perMinute.get(minute) ?? 0) + 1);
  }

  /** The tally of what was added, or undefined when nothing was. */
  take(): OccurrenceTally | undefined {
    if (this.count === 0) return undefined;
    const minutes = [...this.perMinute.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([m, n]): [string, number] => [new Date(m * 60_000).toISOString(), n]);
    const tally: OccurrenceTally = {
      id: newMessageId(this.last),
      log: this.log,
      fingerprint: this.fingerprint,
      count: this.count,
      firstSeen: new Date(this.first).toISOString(),
      lastSeen: new Date(this.last).toISOString(),
      title: this.newest.title,
      type: this.newest.type,
      statusCode: this.newest.statusCode,
      minutes: mergeMinutes(minutes),
    };
    this.count = 0;
    this.first = Infinity;
    this.last = -Infinity;
    this.perMinute.clear();
    return tally;
  }
}

/** Keeps at most MAX_TALLY_MINUTES buckets: the oldest overflow is folded into the oldest kept bucket. */
function mergeMinutes(minutes: [string, number][]): [string, number][] {
  if (minutes.length <= MAX_TALLY_MINUTES) return minutes;
  const cut = minutes.length - MAX_TALLY_MINUTES;
  const folded = minutes.slice(0, cut + 1).reduce((n, [, c]) => n + c, 0);
  const kept = minutes.slice(cut);
  kept[0] = [kept[0]![0], folded];
  return kept;
}

function invalid(message: string): ElmahError {
  return new ElmahError('ERR_ELMAH_INVALID_MESSAGE', `Invalid tally: ${message}`, {
    status: 400,
    help: 'A tally is { id, fingerprint, count, firstSeen, lastSeen, title, type, statusCode?, minutes: [[isoMinute, count], …] }.',
  });
}

function isoTime(value: unknown, field: string): string {
  if (typeof value !== 'string' || value.length > 40 || Number.isNaN(Date.parse(value)))
    throw invalid(`${field} must be an ISO 8601 time.`);
  return new Date(Date.parse(value)).toISOString();
}

function text(value: unknown, field: string, max: number): string {
  if (typeof value !== 'string') throw invalid(`${field} must be a string.`);
  return value.length > max ? value.slice(0, max) : value;
}

/**
 * Checks and normalizes a tally from any sender for `log` (the log the sender's key was checked for: a log
 * named in the tally itself never overrides it). Times more than
 * MAX_FUTURE_SKEW_MS ahead of `now` are clamped to `now`, as message times are. Fails with ERR_ELMAH_INVALID_MESSAGE.
 */
export function normalizeTally(input: unknown, log: string, now: Date = new Date()): OccurrenceTally {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw invalid('not an object.');
  const t = input as Record<string, unknown>;
  const target = log;
  if (!LOG_NAME_PATTERN.test(target)) throw invalid('log must be a log name.');
  const id = t.id === undefined ? newMessageId(now.getTime()) : t.id;
  if (typeof id !== 'string' || !MESSAGE_ID_PATTERN.test(id)) throw invalid('id must be 1–100 URL-safe characters.');
  if (typeof t.fingerprint !== 'string' || t.fingerprint.length === 0 || t.fingerprint.length > 128)
    throw invalid('fingerprint must be 1–128 characters.');
  const count = t.count;
  if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 1) throw invalid('count must be a positive integer.');
  const limit = now.getTime() + MAX_FUTURE_SKEW_MS;
  const clamp = (iso: string): string => (Date.parse(iso) > limit ? now.toISOString() : iso);
  const firstSeen = clamp(isoTime(t.firstSeen, 'firstSeen'));
  const lastSeen = clamp(isoTime(t.lastSeen, 'lastSeen'));
  if (firstSeen > lastSeen) throw invalid('firstSeen must not be after lastSeen.');
  const statusCode = t.statusCode;
  if (
    statusCode !== undefined &&
    statusCode !== null &&
    (typeof statusCode !== 'number' || !Number.isInteger(statusCode) || statusCode < 100 || statusCode > 999)
  ) {
    throw invalid('statusCode must be an integer 100–999.');
  }
  if (!Array.isArray(t.minutes) || t.minutes.length > MAX_TALLY_MINUTES)
    throw invalid(`minutes must be a list of at most ${MAX_TALLY_MINUTES} [isoMinute, count] pairs.`);
  const perMinute = new Map<string, number>();
  let sum = 0;
  for (const pair of t.minutes as unknown[]) {
    if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[1] !== 'number' || !Number.isSafeInteger(pair[1]) || pair[1] < 1) {
      throw invalid('each minute must be [isoMinute, positive count].');
    }
    const minute = minuteOf(Date.parse(clamp(isoTime(pair[0], 'minute'))));
    perMinute.set(minute, (perMinute.get(minute) ?? 0) + pair[1]);
    sum += pair[1];
  }
  if (sum !== count) throw invalid(`the minute counts sum to ${sum}, not count ${count}.`);
  return {
    id,
    log: target,
    fingerprint: t.fingerprint,
    count,
    firstSeen,
    lastSeen,
    title: text(t.title ?? '', 'title', STRING_FIELDS.title),
    type: text(t.type ?? '', 'type', STRING_FIELDS.type),
    statusCode: typeof statusCode === 'number' ? statusCode : undefined,
    minutes: [...perMinute.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)),
  };
}
