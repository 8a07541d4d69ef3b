// Compiles a parsed query (QueryNode) and a message filter into a parameterised SQLite WHERE clause,
// and prepares text for the FTS5 indexes so that SQLite matches exactly what src/model/query-eval.ts matches.
import { SEVERITIES } from '../../model/message.js';
import { tokenize, type KeywordField, type QueryNode, type TextField } from '../../model/query.js';
import { asciiLower, matchesQuery } from '../../model/query-eval.js';
import type { ErrorMessage } from '../../model/message.js';
import type { MessageFilter } from '../types.js';
import { filterLogs } from '../shared.js';

/** A WHERE fragment and its parameters, in order. Only `?` placeholders: no user text ever enters `sql`. */
export interface SqlFragment {
  sql: string;
  params: unknown[];
}

/** Columns per keyword field (alias `m` is the messages table; type lives with the shared stack as `s.type`). */
const KEYWORD_COLUMNS: Record<Exclude<KeywordField, 'severity'>, string> = {
  type: 's.type',
  method: 'm.method',
  hostname: 'm.hostname',
  application: 'm.application',
  version: 'm.version',
  user: 'm.user_name',
  correlationId: 'm.correlation_id',
  category: 'm.category',
  fingerprint: 'm.fingerprint',
  log: 'm.log',
  id: 'm.id',
  statusCode: 'm.status_code',
  dateTime: 'm.date_time',
};

/**
 * Text lives in two FTS tables: per message (title, the head of the detail, url, user, hostname) and per shared
 * stack (type, the frames of the detail, source). A detail is its head and its frames, so `detail:` looks in both.
 */
const MESSAGE_FTS: Partial<Record<TextField | 'user' | 'hostname' | 'type', string>> = {
  title: 'title',
  detail: 'head',
  url: 'url',
  user: 'user_name',
  hostname: 'hostname',
};
const STACK_FTS: Partial<Record<TextField | 'user' | 'hostname' | 'type', string>> = { type: 'type', detail: 'frames', source: 'source' };

/** A letter (U+01C0, category Lo, no case, no diacritic) that unicode61 keeps inside a token: it brackets escaped code points. */
const ESCAPE = '\u01c0';
const NON_ASCII = /[\u0080-\u{10ffff}]/u;

/**
 * Encodes one token of {@link tokenize} as ASCII letters, digits and ESCAPE, so that FTS5's unicode61 keeps it
 * as one token and compares it byte for byte. The code is prefix-free, so a prefix of a token encodes to a
 * prefix of its encoding: prefix queries keep their meaning.
 */
export function encodeToken(token: string): string {
  if (!NON_ASCII.test(token)) return token;
  return token.replace(/[\u0080-\u{10ffff}]/gu, (c) => `${ESCAPE}${c.codePointAt(0)!.toString(16)}${ESCAPE}`);
}

/**
 * The text handed to an FTS5 index for one field. ASCII text goes as it is: unicode61 splits ASCII exactly as
 * {@link tokenize} does (letters and digits, lowercased). Other text is split by tokenize() itself and its
 * tokens encoded, which keeps SQLite and the reference evaluator in agreement for every Unicode version.
 */
export function ftsText(text: string | undefined | null): string | null {
  if (text === undefined || text === null || text === '') return null;
  if (!NON_ASCII.test(text)) return text;
  return tokenize(text).map(encodeToken).join(' ');
}

/**
 * The text of one field for the per-message index, every token prefixed with its log's code (`3ǀtimeout`):
 * the index is thereby partitioned by log, so a word common in other logs costs nothing in a search of this
 * one, and no search pays for a log it does not look at. ASCII is split as unicode61 and tokenize() split it.
 */
export function ftsLogText(text: string | undefined | null, code: string): string | null {
  if (text === undefined || text === null || text === '') return null;
  const prefix = `${code}${ESCAPE}`;
  if (!NON_ASCII.test(text)) {
    const out = text.match(/[A-Za-z0-9]+/g);
    return out ? out.map((t) => prefix + t.toLowerCase()).join(' ') : null;
  }
  const tokens = tokenize(text);
  return tokens.length > 0 ? tokens.map((t) => prefix + encodeToken(t)).join(' ') : null;
}

/** An FTS5 phrase for the tokens: `"a b c"` with ` *` when the last token is a prefix. Tokens are [a-z0-9ǀ] only after encoding. */
function ftsPhrase(tokens: readonly string[], prefix: boolean, code?: string): string {
  const p = code === undefined ? '' : `${code}${ESCAPE}`;
  return `"${tokens.map((t) => p + encodeToken(t)).join(' ')}"${prefix ? ' *' : ''}`;
}

/** Escapes LIKE wildcards; the pattern uses ESCAPE '\'. */
export function likePrefix(value: string): string {
  return `${value.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * How a per-message full-text match is written: `set` collects the matching row ids from the full-text index
 * once (fast when there are few); `probe` tests each row visited with the reference matcher registered as the
 * SQL function elmah_words (no cost up front: for a word that occurs in most messages, while walking the
 * newest-first index).
 */
export type TextStyle = 'set' | 'probe';

/** How a query compiles: the text style, and the per-message index codes of the logs searched (see ftsLogText). */
export interface CompileOptions {
  style?: TextStyle;
  codes?: readonly string[] | undefined;
  /**
   * When set, a stack match is written as the row ids of the messages with a matching stack in these logs
   * (through the (log, sid) index; `'all'` for every log): a search that collects its matches then reads
   * only those rows. Unset, it is a test of each row's stack (right while walking, or when most rows match).
   */
  stackRows?: readonly string[] | 'all' | undefined;
}

/** Compiles a query tree into a WHERE fragment that is always 0 or 1 (never NULL), so NOT behaves as in memory. */
export function compileQuery(node: QueryNode, options: CompileOptions = {}): SqlFragment {
  const params: unknown[] = [];
  const sql = compileNode(node, params, { style: options.style ?? 'set', codes: options.codes, stackRows: options.stackRows });
  return { sql, params };
}

function compileNode(node: QueryNode, params: unknown[], o: Required<Pick<CompileOptions, 'style'>> & CompileOptions): string {
  const style = o.style;
  switch (node.kind) {
    case 'all':
      return '1';
    case 'and':
    case 'or':
      return `(${node.children.map((c) => compileNode(c, params, o)).join(node.kind === 'and' ? ' AND ' : ' OR ')})`;
    case 'not':
      return `(NOT ${compileNode(node.child, params, o)})`;
    case 'text':
      return compileText(node.field, node.tokens, node.prefix, params, style, o.codes, o.stackRows);
    case 'term':
      if (node.field === 'severity') return severityIn(node);
      if (node.field === 'type') return inStacks(compileTerm(node.field, node.value, node.prefix, params));
      return compileTerm(node.field, node.value, node.prefix, params);
    case 'state':
      return inGroup(node.value, params);
    case 'range': {
      const col = KEYWORD_COLUMNS[node.field];
      const parts = [`${col} IS NOT NULL`];
      const value = (v: string): unknown => (node.field === 'statusCode' ? Number(v) : v);
      if (node.lo !== undefined) {
        parts.push(`${col} ${node.loInclusive ? '>=' : '>'} ?`);
        params.push(value(node.lo));
      }
      if (node.hi !== undefined) {
        parts.push(`${col} ${node.hiInclusive ? '<=' : '<'} ?`);
        params.push(value(node.hi));
      }
      return `(${parts.join(' AND ')})`;
    }
  }
}

/** The message's group is in a state, or was reopened after a resolution (one primary-key look-up per row). */
function inGroup(value: Extract<QueryNode, { kind: 'state' }>['value'], params: unknown[]): string {
  const test = value === 'regressed' ? 'g.regressed = 1' : 'g.status = ?';
  if (value !== 'regressed') params.push(value);
  return `(EXISTS (SELECT 1 FROM elmah_groups g WHERE g.log = m.log AND g.fingerprint = m.fingerprint AND ${test}))`;
}

/** A condition on the shared stack (alias `s`) as a condition on the message. */
function inStacks(condition: string): string {
  return `(m.sid IN (SELECT s.sid FROM elmah_stacks s WHERE ${condition}))`;
}

/** The message columns (as SQL over alias `m`) behind each per-message FTS column, for the row-by-row test. */
const ROW_TEXT: Record<string, string> = {
  title: 'm.title',
  // char(58, 32) is ': ', written without a string literal: no quote ever appears in compiled SQL.
  head: '(CASE m.shape WHEN 1 THEN (SELECT s.type FROM elmah_stacks s WHERE s.sid = m.sid) || char(58, 32) || m.title WHEN 2 THEN m.head END)',
  url: 'm.url',
  user_name: 'm.user_name',
  hostname: 'm.hostname',
};

/**
 * The FTS5 expressions of a text node for each table, or undefined where it has no column (or, for the
 * per-message index, when none of the searched logs has a code yet: nothing there can match). The
 * per-message one asks for the phrase in each searched log's partition (`codes`, see ftsLogText).
 */
export function textMatches(
  field: TextField | undefined,
  tokens: string[],
  prefix: boolean,
  codes: readonly string[] = [],
): { message?: string; stack?: string } {
  const out: { message?: string; stack?: string } = {};
  const columns = field === undefined ? '{title head url user_name hostname}' : MESSAGE_FTS[field];
  if (columns && codes.length > 0) out.message = codes.map((c) => `(${columns} : ${ftsPhrase(tokens, prefix, c)})`).join(' OR ');
  const phrase = ftsPhrase(tokens, prefix);
  const stackColumns = field === undefined ? '{type frames source}' : STACK_FTS[field];
  if (stackColumns) out.stack = `${stackColumns} : ${phrase}`;
  return out;
}

function compileText(
  field: TextField | undefined,
  tokens: string[],
  prefix: boolean,
  params: unknown[],
  style: TextStyle,
  codes: readonly string[] | undefined,
  stackRows: CompileOptions['stackRows'],
): string {
  const { message, stack } = textMatches(field, tokens, prefix, codes);
  const parts: string[] = [];
  if (message !== undefined && style === 'set') {
    params.push(message);
    parts.push('m.rid IN (SELECT rowid FROM elmah_messages_fts WHERE elmah_messages_fts MATCH ?)');
  } else if (field === undefined || MESSAGE_FTS[field] !== undefined) {
    const columns = field === undefined ? Object.keys(ROW_TEXT) : [MESSAGE_FTS[field]!];
    for (const c of columns) {
      params.push(JSON.stringify(tokens), prefix ? 1 : 0);
      parts.push(`elmah_words(${ROW_TEXT[c]}, ?, ?)`);
    }
  }
  if (stack !== undefined) {
    const matching = 'SELECT rowid FROM elmah_stacks_fts WHERE elmah_stacks_fts MATCH ?';
    if (stackRows === undefined) {
      params.push(stack);
      parts.push(`m.sid IN (${matching})`);
    } else {
      const logs = stackRows === 'all' ? 'SELECT log FROM elmah_logs' : stackRows.map(() => '?').join(', ');
      if (stackRows !== 'all') params.push(...stackRows);
      params.push(stack);
      parts.push(`m.rid IN (SELECT x.rid FROM elmah_messages x WHERE x.log IN (${logs}) AND x.sid IN (${matching}))`);
    }
  }
  return `(${parts.join(' OR ')})`;
}

/** Severity is kept as its index in SEVERITIES: the six names are tested here with the reference semantics. */
function severityIn(node: QueryNode): string {
  const hits = SEVERITIES.flatMap((name, i) => (matchesQuery(node, { severity: name } as ErrorMessage) ? [i] : []));
  return hits.length === 0 ? '0' : `(m.severity IN (${hits.join(', ')}))`;
}

function compileTerm(field: Exclude<KeywordField, 'severity'>, value: string, prefix: boolean, params: unknown[]): string {
  const col = KEYWORD_COLUMNS[field];
  if (field === 'statusCode') {
    if (prefix) {
      params.push(likePrefix(value));
      return `(${col} IS NOT NULL AND CAST(${col} AS TEXT) LIKE ? ESCAPE '\\')`;
    }
    params.push(Number(value));
    return `(${col} IS NOT NULL AND ${col} = ?)`;
  }
  if (prefix) {
    params.push(likePrefix(value));
    // LIKE folds ASCII letters only, as asciiLower() does in the reference evaluator.
    return `(${col} IS NOT NULL AND ${col} LIKE ? ESCAPE '\\')`;
  }
  // Every ASCII-case variant of the value lies between its upper- and lower-case forms in binary order: the
  // range lets the binary indexes on log, fingerprint and dateTime serve a case-insensitive comparison.
  params.push(value, asciiUpper(value), asciiLower(value));
  return `(${col} IS NOT NULL AND ${col} = ? COLLATE NOCASE AND ${col} BETWEEN ? AND ?)`;
}

function asciiUpper(text: string): string {
  return text.replace(/[a-z]+/g, (m) => m.toUpperCase());
}

/** Every text node of a query (for estimating how many messages each matches). */
export function textNodes(query: QueryNode | undefined): Extract<QueryNode, { kind: 'text' }>[] {
  if (!query) return [];
  switch (query.kind) {
    case 'text':
      return [query];
    case 'and':
    case 'or':
      return query.children.flatMap(textNodes);
    case 'not':
      return textNodes(query.child);
    default:
      return [];
  }
}

/** True when the query is, or is an AND of, at least one word or phrase: the full-text index can drive it. */
export function hasTextConjunct(query: QueryNode | undefined): boolean {
  if (!query) return false;
  return (query.kind === 'and' ? query.children : [query]).some((n) => n.kind === 'text');
}

/**
 * The WHERE fragment of a whole filter: logs, time range and query. With `logIndex: false` the log test is
 * written `+m.log`, which keeps SQLite from walking a whole log by its index when the full-text index (through
 * `hasTextConjunct`) finds the few candidates faster; without statistics SQLite would pick the log index.
 */
export function compileFilter(
  filter: MessageFilter,
  options: { logIndex?: boolean; style?: TextStyle; codes?: readonly string[]; stackRows?: CompileOptions['stackRows'] } = {},
): SqlFragment {
  const parts: string[] = [];
  const params: unknown[] = [];
  const logs = filterLogs(filter.log);
  const log = options.logIndex === false ? '+m.log' : 'm.log';
  if (logs !== undefined) {
    if (logs.length === 0) parts.push('0');
    else if (logs.length === 1) {
      parts.push(`${log} = ?`);
      params.push(logs[0]);
    } else {
      parts.push(`${log} IN (${logs.map(() => '?').join(', ')})`);
      params.push(...logs);
    }
  }
  if (filter.from !== undefined) {
    parts.push('m.date_time >= ?');
    params.push(filter.from);
  }
  if (filter.to !== undefined) {
    parts.push('m.date_time < ?');
    params.push(filter.to);
  }
  if (filter.query && filter.query.kind !== 'all') {
    const q = compileQuery(filter.query, { style: options.style, codes: options.codes, stackRows: options.stackRows });
    parts.push(q.sql);
    params.push(...q.params);
  }
  return { sql: parts.length > 0 ? parts.join(' AND ') : '1', params };
}
