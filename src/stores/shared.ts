// Small pieces every backend shares: cursors, paging bounds, retention arithmetic, closed-store errors.
import { ElmahError } from '../model/errors.js';
import { OPEN_STATE, type GroupState, type GroupStatus } from '../model/triage.js';

/** Largest page a store returns. */
export const MAX_PAGE_SIZE = 1000;
/** Default page size. */
export const DEFAULT_PAGE_SIZE = 15;
/** Counting stops here; above it `total` is a lower bound and `totalExact` is false. */
export const COUNT_CAP = 10_000;

/** Encodes the position after a message (newest-first order) as an opaque URL-safe cursor. */
export function encodeCursor(dateTime: string, id: string): string {
  return Buffer.from(`${dateTime}\n${id}`, 'utf8').toString('base64url');
}

/** Decodes a cursor; ERR_ELMAH_QUERY when it was not made by {@link encodeCursor}. */
export function decodeCursor(cursor: string): { dateTime: string; id: string } {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const nl = text.indexOf('\n');
  const dateTime = text.slice(0, nl);
  const id = text.slice(nl + 1);
  if (nl < 0 || Number.isNaN(Date.parse(dateTime)) || !id) {
    throw new ElmahError('ERR_ELMAH_QUERY', 'Invalid paging cursor.', { help: 'Pass the `after` value of the previous page unchanged.' });
  }
  return { dateTime, id };
}

/** Page size clamped to 1..MAX_PAGE_SIZE. */
export function pageSize(size: number | undefined): number {
  if (size === undefined || !Number.isFinite(size)) return DEFAULT_PAGE_SIZE;
  return Math.min(MAX_PAGE_SIZE, Math.max(1, Math.floor(size)));
}

/** Page index clamped to >= 0. */
export function pageIndex(page: number | undefined): number {
  if (page === undefined || !Number.isFinite(page)) return 0;
  return Math.max(0, Math.floor(page));
}

/** The logs a filter names, as a list, or undefined for all. */
export function filterLogs(log: string | readonly string[] | undefined): string[] | undefined {
  if (log === undefined) return undefined;
  return typeof log === 'string' ? [log] : [...log];
}

/**
 * The retention limits in force for a prune call: the options given, else the store's. A limit that is not a
 * finite positive number (Infinity, NaN, 0 or less) is no limit: undefined.
 */
export function retentionLimits(
  options: { maxAgeDays?: number | undefined; maxCount?: number | undefined; now?: Date | undefined },
  defaults: { maxAgeDays: number; maxCount: number },
): { ageCutoff: string | undefined; maxCount: number | undefined } {
  const age = options.maxAgeDays ?? defaults.maxAgeDays;
  const count = options.maxCount ?? defaults.maxCount;
  return {
    ageCutoff: Number.isFinite(age) && age > 0 ? cutoff(age, options.now) : undefined,
    maxCount: Number.isFinite(count) && count >= 0 ? Math.floor(count) : undefined,
  };
}

/** The most messages one prune call may remove: `limit` when it is a positive number, else no bound. */
export function pruneBudget(limit: number | undefined): number {
  return limit !== undefined && Number.isFinite(limit) && limit >= 1 ? Math.floor(limit) : Infinity;
}

/**
 * Tallies (occurrences counted but not kept in full) live as long as the messages around them: they go when
 * they are older than the age limit, or older than the oldest message a count limit kept.
 */
export function tallyCutoff(ageCutoff: string | undefined, oldestKept: string | undefined): string | undefined {
  if (ageCutoff === undefined) return oldestKept;
  if (oldestKept === undefined) return ageCutoff;
  return ageCutoff > oldestKept ? ageCutoff : oldestKept;
}

/** ISO cut-off for a max age in days. */
export function cutoff(maxAgeDays: number, now: Date = new Date()): string {
  return new Date(now.getTime() - maxAgeDays * 86_400_000).toISOString();
}

/** The error a store gives for a second key with an id that exists (ids are random: a clash means retry). */
export function duplicateKeyError(id: string, cause?: unknown): ElmahError {
  return new ElmahError('ERR_ELMAH_KEY_EXISTS', `Key id ${id} exists.`, { cause, help: 'Create the key again: key ids are random.' });
}

/** The error every call on a closed store throws. */
export function closedError(kind: string): ElmahError {
  return new ElmahError('ERR_ELMAH_STORE_CLOSED', `The ${kind} store is closed.`, {
    help: 'Open a new store; a store cannot be used after close().',
  });
}

/** Checks histogram arguments and returns the bucket width. */
export function histogramBuckets(from: string, to: string, buckets: number): { start: number; end: number; bucketMs: number; n: number } {
  const start = Date.parse(from);
  const end = Date.parse(to);
  const n = Math.floor(buckets);
  if (Number.isNaN(start) || Number.isNaN(end) || end <= start || !(n >= 1 && n <= 500)) {
    throw new ElmahError('ERR_ELMAH_QUERY', 'A histogram needs from < to (ISO dates) and 1 to 500 buckets.');
  }
  return { start, end, bucketMs: Math.ceil((end - start) / n), n };
}

/** Most versions a resolution in a version remembers as seen before it (see GroupState.knownVersions). */
export const MAX_KNOWN_VERSIONS = 200;

/** The states a group listing asks for, as a list, or undefined for every state. */
export function statusList(status: GroupStatus | readonly GroupStatus[] | undefined): readonly GroupStatus[] | undefined {
  if (status === undefined) return undefined;
  return typeof status === 'string' ? [status] : status;
}

/** A group's state as the SQL stores keep it: one JSON text (the status and regressed mark also have columns, for filters). */
export function encodeState(state: GroupState): string {
  return JSON.stringify(state);
}

/** A stored state back; a group never triaged (NULL) is plain open. */
export function decodeState(json: unknown): GroupState {
  if (typeof json === 'string') return JSON.parse(json) as GroupState;
  if (typeof json === 'object' && json !== null) return json as GroupState;
  return { ...OPEN_STATE };
}
