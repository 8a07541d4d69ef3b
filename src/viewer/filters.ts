// Reads the list's URL parameters (page, size, search, quick filters) and says plainly what is wrong with them.
import type { Request } from 'express';
import { isElmahError } from '../model/errors.js';
import { isLogName } from '../model/message.js';
import { parseQuery } from '../model/query.js';
import { isGroupStatus, type GroupStatus } from '../model/triage.js';

/** Page sizes offered in the list. */
export const PAGE_SIZES = [10, 15, 25, 50, 100] as const;
/** Largest page size the URL may ask for. */
export const MAX_SIZE = 100;
/** Highest page number accepted (deep offsets are slow; the search narrows faster). */
export const MAX_PAGE = 100_000;

/** Time ranges of the quick filter, with their length in ms. */
export const SINCE = { '1h': 3_600_000, '24h': 86_400_000, '7d': 7 * 86_400_000, '30d': 30 * 86_400_000, '90d': 90 * 86_400_000 } as const;
export type Since = keyof typeof SINCE;

/** Status classes of the quick filter and their query. */
export const STATUS = { '5xx': 'statusCode:[500 TO 599]', '4xx': 'statusCode:[400 TO 499]' } as const;
export type StatusClass = keyof typeof STATUS;

/** The list's parameters after checking. */
export interface ListParams {
  view: 'list' | 'groups';
  /** 1-based. */
  page: number;
  size: number;
  /** The search text as typed. */
  q: string;
  status: StatusClass | '';
  log: string;
  since: Since | '';
  /** The groups view's triage filter: one state, or every state. Open unless asked otherwise. */
  state: GroupStatus | 'all';
}

/** The choices of the groups view's triage filter, in the order the page offers them. */
export const STATE_FILTERS = ['open', 'resolved', 'ignored', 'all'] as const;

/** One thing wrong with the URL, for the page to show next to the field. */
export interface ParamProblem {
  field: 'page' | 'size' | 'q' | 'status' | 'type' | 'log' | 'since' | 'view' | 'limit' | 'state';
  message: string;
  /** For the search text: the 0-based position of the mistake. */
  position?: number | undefined;
}

/** A query-string value as one string ('' when absent; the first when repeated). */
export function param(req: Request, name: string): string {
  const v = (req.query as Record<string, unknown>)[name];
  const one = Array.isArray(v) ? v[0] : v;
  return typeof one === 'string' ? one : '';
}

function wholeNumber(text: string, min: number, max: number): number | undefined {
  if (!/^\d{1,9}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= min && n <= max ? n : undefined;
}

/** Parses the list parameters; `problems` is empty when all are fine. `pinnedLog` overrides `log`. */
export function readListParams(
  req: Request,
  defaults: { size: number; pinnedLog?: string | undefined },
): { params: ListParams; problems: ParamProblem[] } {
  const problems: ParamProblem[] = [];
  const params: ListParams = {
    view: 'list',
    page: 1,
    size: defaults.size,
    q: '',
    status: '',
    log: defaults.pinnedLog ?? '',
    since: '',
    state: 'open',
  };

  const view = param(req, 'view');
  if (view === 'groups') params.view = 'groups';
  else if (view !== '' && view !== 'list') problems.push({ field: 'view', message: `Unknown view "${view}": use list or groups.` });

  const page = param(req, 'page').trim();
  if (page !== '') {
    const n = wholeNumber(page, 1, MAX_PAGE);
    if (n === undefined)
      problems.push({
        field: 'page',
        message: `Page must be a whole number from 1 to ${MAX_PAGE.toLocaleString('en-US')}; got "${page.slice(0, 40)}".`,
      });
    else params.page = n;
  }
  const size = param(req, 'size').trim();
  if (size !== '') {
    const n = wholeNumber(size, 1, MAX_SIZE);
    if (n === undefined)
      problems.push({ field: 'size', message: `Size must be a whole number from 1 to ${MAX_SIZE}; got "${size.slice(0, 40)}".` });
    else params.size = n;
  }

  params.q = param(req, 'q').trim();
  // The type box of earlier versions: `?type=X` links still work, as the term `type:X` of the search.
  const type = param(req, 'type').trim();
  if (type.length > 512) problems.push({ field: 'type', message: 'The type filter is longer than 512 characters.' });
  else if (type) params.q = withTerm(params.q, 'type', type);
  if (params.q) {
    try {
      parseQuery(params.q);
    } catch (err) {
      if (!isElmahError(err)) throw err;
      const position = (err.details as { position?: number } | undefined)?.position;
      problems.push({ field: 'q', message: err.message, position });
    }
  }

  const status = param(req, 'status');
  if (status === '5xx' || status === '4xx') params.status = status;
  else if (status !== '') problems.push({ field: 'status', message: `Unknown status class "${status.slice(0, 20)}": use 5xx or 4xx.` });

  const log = param(req, 'log').trim();
  if (!defaults.pinnedLog && log !== '') {
    if (isLogName(log)) params.log = log;
    else problems.push({ field: 'log', message: 'A log name is 1-100 letters, digits, ".", "_" or "-".' });
  }

  const since = param(req, 'since');
  if (since in SINCE) params.since = since as Since;
  else if (since !== '')
    problems.push({ field: 'since', message: `Unknown time range "${since.slice(0, 20)}": use ${Object.keys(SINCE).join(', ')}.` });

  const state = param(req, 'state');
  if (state === 'all' || isGroupStatus(state)) params.state = state;
  else if (state !== '')
    problems.push({ field: 'state', message: `Unknown group state "${state.slice(0, 20)}": use ${STATE_FILTERS.join(', ')}.` });

  return { params, problems };
}

/** The states a group listing asks the client for: undefined for every state. */
export function statesOf(p: Pick<ListParams, 'state'>): GroupStatus | undefined {
  return p.state === 'all' ? undefined : p.state;
}

function quote(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

/**
 * A search with one more `field:value` term ANDed: `TypeError url:/orders` + type RangeError →
 * `TypeError url:/orders type:RangeError`; a search with OR goes in parentheses first. A term already there is not added twice.
 */
export function withTerm(q: string, field: string, value: string): string {
  const term = `${field}:${/^[\w.$@/-]+$/.test(value) && !/^(AND|OR|NOT)$/.test(value) ? value : quote(value)}`;
  const base = safeEnd(q);
  if (!base) return term;
  // Already there only when the search is a plain chain of terms ANDed: under OR, NOT or parentheses the same
  // term may mean something else, so it is added (ANDed) again.
  const plain = !/\b(OR|NOT)\b|\|\||[()!]|(^|\s)-/.test(base);
  if (plain && base.split(/\s+/).includes(term)) return base;
  return `${plain ? base : `(${base})`} ${term}`;
}

/**
 * A search that more can follow: a trailing unpaired backslash (`foo\`) would escape what comes after it, so
 * it is doubled (a literal backslash, as the search alone read it).
 */
export function safeEnd(q: string): string {
  const trailing = /\\*$/.exec(q)![0].length;
  return trailing % 2 === 1 ? `${q}\\` : q;
}

/** The query text the client runs: the search and the quick filters ANDed. Undefined when nothing filters. */
export function composeQuery(p: Pick<ListParams, 'q' | 'status'>): string | undefined {
  const parts: string[] = [];
  if (p.q) parts.push(`(${safeEnd(p.q)})`);
  if (p.status) parts.push(STATUS[p.status]);
  return parts.length > 0 ? parts.join(' AND ') : undefined;
}

/** The search for the errors of one version: `version:"1.4.2"`. */
export function versionQuery(version: string): string {
  return `version:${quote(version)}`;
}

/** The `from` time of the time-range filter, or undefined. */
export function sinceFrom(since: Since | '', now: Date): string | undefined {
  return since ? new Date(now.getTime() - SINCE[since]).toISOString() : undefined;
}

/** The filter a client takes for list parameters. */
export function filterOf(p: ListParams, now: Date): { log: string | undefined; query: string | undefined; from: string | undefined } {
  return { log: p.log || undefined, query: composeQuery(p), from: sinceFrom(p.since, now) };
}

/** The URL parameters that reproduce a filter (for links), omitting defaults. */
export function listQuery(p: Partial<ListParams>, defaultSize: number, pinnedLog?: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (p.view === 'groups') out.view = 'groups';
  if (p.q) out.q = p.q;
  if (p.status) out.status = p.status;
  if (p.log && !pinnedLog) out.log = p.log;
  if (p.since) out.since = p.since;
  if (p.view === 'groups' && p.state && p.state !== 'open') out.state = p.state;
  if (p.size && p.size !== defaultSize) out.size = String(p.size);
  if (p.page && p.page > 1) out.page = String(p.page);
  return out;
}
