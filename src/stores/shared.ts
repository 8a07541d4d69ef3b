// Small pieces every backend shares: cursors, paging bounds, retention arithmetic, closed-store errors.
import { ElmahError } from '../model/errors.js';

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

/** ISO cut-off for a max age in days. */
export function cutoff(maxAgeDays: number, now: Date = new Date()): string {
  return new Date(now.getTime() - maxAgeDays * 86_400_000).toISOString();
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
