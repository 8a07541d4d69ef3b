// Compiles a parsed query (QueryNode) and a message filter into a parameterised SQLite WHERE clause,
// and prepares text for the FTS5 indexes so that SQLite matches exactly what src/model/query-eval.ts matches.
import { tokenize, type KeywordField, type QueryNode, type TextField } from '../model/query.js';
import { asciiLower } from '../model/query-eval.js';
import type { MessageFilter } from './types.js';
import { filterLogs } from './shared.js';

/** A WHERE fragment and its parameters, in order. Only `?` placeholders: no user text ever enters `sql`. */
export interface SqlFragment {
  sql: string;
  params: unknown[];
}

/** Message columns per keyword field (alias `m` is the messages table). */
const KEYWORD_COLUMNS: Record<KeywordField, string> = {
  type: 'm.type',
  severity: 'm.severity',
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

/** Text fields live in two FTS tables: the shared texts (deduplicated per distinct title/type/source/detail) and per-message ones. */
const TEXTS_FTS_COLUMNS = new Set<string>(['title', 'type', 'detail', 'source']);
const MESSAGE_FTS_COLUMNS: Record<string, string> = { url: 'url', user: 'user_name', hostname: 'hostname' };

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

/** An FTS5 phrase for the tokens: `"a b c"` with ` *` when the last token is a prefix. Tokens are [a-z0-9ǀ] only after encoding. */
function ftsPhrase(tokens: readonly string[], prefix: boolean): string {
  return `"${tokens.map(encodeToken).join(' ')}"${prefix ? ' *' : ''}`;
}

/** Escapes LIKE wildcards; the pattern uses ESCAPE '\'. */
export function likePrefix(value: string): string {
  return `${value.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/** Compiles a query tree into a WHERE fragment that is always 0 or 1 (never NULL), so NOT behaves as in memory. */
export function compileQuery(node: QueryNode): SqlFragment {
  const params: unknown[] = [];
  const sql = compileNode(node, params);
  return { sql, params };
}

function compileNode(node: QueryNode, params: unknown[]): string {
  switch (node.kind) {
    case 'all':
      return '1';
    case 'and':
    case 'or':
      return `(${node.children.map((c) => compileNode(c, params)).join(node.kind === 'and' ? ' AND ' : ' OR ')})`;
    case 'not':
      return `(NOT ${compileNode(node.child, params)})`;
    case 'text':
      return compileText(node.field, node.tokens, node.prefix, params);
    case 'term':
      return compileTerm(node.field, node.value, node.prefix, params);
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

function compileText(field: TextField | undefined, tokens: string[], prefix: boolean, params: unknown[]): string {
  const phrase = ftsPhrase(tokens, prefix);
  const inTexts = 'm.tid IN (SELECT rowid FROM elmah_texts_fts WHERE elmah_texts_fts MATCH ?)';
  const inMessage = 'm.rid IN (SELECT rowid FROM elmah_messages_fts WHERE elmah_messages_fts MATCH ?)';
  if (field === undefined) {
    params.push(`{title type detail source} : ${phrase}`, `{url user_name hostname} : ${phrase}`);
    return `(${inTexts} OR ${inMessage})`;
  }
  if (TEXTS_FTS_COLUMNS.has(field)) {
    params.push(`${field} : ${phrase}`);
    return `(${inTexts})`;
  }
  params.push(`${MESSAGE_FTS_COLUMNS[field]} : ${phrase}`);
  return `(${inMessage})`;
}

function compileTerm(field: KeywordField, value: string, prefix: boolean, params: unknown[]): string {
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
export function compileFilter(filter: MessageFilter, options: { logIndex?: boolean } = {}): SqlFragment {
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
    const q = compileQuery(filter.query);
    parts.push(q.sql);
    params.push(...q.params);
  }
  return { sql: parts.length > 0 ? parts.join(' AND ') : '1', params };
}
