// PostgreSQL codecs: how strings, messages, groups and keys become rows and back, and how a message's text
// becomes the tokens and lexemes that search reads.
import { tokenize } from '../../model/query.js';
import type { KeyRecord } from '../../model/keys.js';
import { decodeContext, encodeContext, type ErrorMessage, type KeyValue, type Severity } from '../../model/message.js';
import type { Permission } from '../../model/permissions.js';
import { decodeState } from '../shared.js';
import type { ErrorGroup } from '../types.js';
import type { Row } from './driver.js';

/*
 * Text search works on tokens made in JS with tokenize(), never with PostgreSQL's own parser (which splits
 * words differently). Each searchable field keeps its tokens as one string, " tok1 tok2 … " (tokens never
 * contain a space), so a phrase is an exact substring test:
 *   " a b c "  — the tokens a, b, c side by side;
 *   " a b c"   — the same, with c only a prefix of the last token.
 * A tsvector of all tokens (GIN-indexed) narrows the candidates first; the substring test decides.
 */

/** Longest token kept in the tsvector, in code points (4 bytes each stays under PostgreSQL's 2 KiB lexeme limit). */
export const MAX_LEXEME_CHARS = 500;
/** Above this many bytes of lexemes (PostgreSQL caps a tsvector at 1 MiB) a message is indexed as EVERYTHING: always a candidate. */
export const MAX_TSVECTOR_BYTES = 900_000;

/*
 * PostgreSQL text and JSONB cannot hold U+0000. Every stored string goes through enc(): U+0001 becomes
 * U+0001 "1" and U+0000 becomes U+0001 "0". The mapping is a prefix code that leaves ASCII letters alone,
 * so equality, prefix tests and ASCII case folding give the same answers on encoded text.
 */
const ESC = '\u0001';

/** A lone UTF-16 surrogate, which UTF-8 (and so PostgreSQL) cannot hold. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Makes a string storable in PostgreSQL (see the note above); a lone surrogate becomes U+FFFD, as UTF-8 encoding does. */
export function enc(text: string): string {
  const whole = LONE_SURROGATE.test(text) ? text.replace(new RegExp(LONE_SURROGATE, 'g'), '\uFFFD') : text;
  if (!whole.includes('\u0000') && !whole.includes(ESC)) return whole;
  return whole.replaceAll(ESC, `${ESC}1`).replaceAll('\u0000', `${ESC}0`);
}

/** Reverses {@link enc}. */
export function dec(text: string): string {
  if (!text.includes(ESC)) return text;
  // Every ESC in encoded text starts a code, so the two replacements cannot overlap.
  return text.replaceAll(`${ESC}0`, '\u0000').replaceAll(`${ESC}1`, ESC);
}

const ASCII_ONLY = /^[\x20-\x7e\t\n\r]*$/;

/** tokenize(), with a shortcut for plain ASCII text (most stacks and URLs) that gives the same tokens. */
export function tokensOf(value: string | undefined): string[] {
  if (!value) return [];
  if (ASCII_ONLY.test(value)) return value.toLowerCase().match(/[a-z0-9]+/g) ?? [];
  return tokenize(value);
}

/** The token string of a field's tokens: " tok1 tok2 … " (a single space when there are none). */
export function tokenText(tokens: readonly string[]): string {
  return tokens.length === 0 ? ' ' : ` ${tokens.join(' ')} `;
}

/** A token as the tsvector keeps it: cut to MAX_LEXEME_CHARS code points. */
export function lexeme(token: string): { text: string; cut: boolean } {
  if (token.length <= MAX_LEXEME_CHARS) return { text: token, cut: false };
  const points = Array.from(token);
  if (points.length <= MAX_LEXEME_CHARS) return { text: token, cut: false };
  return { text: points.slice(0, MAX_LEXEME_CHARS).join(''), cut: true };
}

/** The lexeme a message too big for a tsvector gets instead of its tokens; no token can contain "~". */
export const EVERYTHING = '~all~';

/** The lexeme that says which log a message is in, so one GIN lookup serves "words in this log". */
export function logLexeme(log: string): string {
  return `~log~${log}`;
}

/**
 * The lexemes of a message, space-separated, for array_to_tsvector: the distinct tokens of its searchable
 * fields (token lists) and its log lexeme. Too many for a tsvector: EVERYTHING and the log lexeme.
 */
export function lexemeList(log: string, fields: readonly (readonly string[])[]): string {
  const set = new Set<string>();
  for (const tokens of fields) for (const t of tokens) set.add(lexeme(t).text);
  let bytes = 0;
  for (const l of set) bytes += Buffer.byteLength(l) + 8;
  return `${bytes > MAX_TSVECTOR_BYTES ? EVERYTHING : [...set].join(' ')} ${logLexeme(log)}`.trim();
}

/** The tokens of a message's free-text fields, made once per append. */
export type Tokens = Record<'title' | 'type' | 'detail' | 'url' | 'source' | 'user' | 'hostname', string[]> & { lexemes: string };

export function tokensOfMessage(m: ErrorMessage): Tokens {
  const tk = {
    title: tokensOf(m.title),
    type: tokensOf(m.type),
    detail: tokensOf(m.detail),
    url: tokensOf(m.url),
    source: tokensOf(m.source),
    user: tokensOf(m.user),
    hostname: tokensOf(m.hostname),
    lexemes: '',
  };
  tk.lexemes = lexemeList(m.log, [tk.title, tk.type, tk.detail, tk.url, tk.source, tk.user, tk.hostname]);
  return tk;
}

/** One column of the messages table as append fills it. */
export interface InsertColumn {
  name: string;
  type: string;
  value: (m: ErrorMessage, tk: Tokens) => unknown;
  /** SQL that turns the parameter `$` into the column's value (default: a cast to `type`). */
  expr?: string;
}

const opt = (v: string | undefined): string | null => (v === undefined ? null : enc(v));
const list = (kv: readonly KeyValue[]): string => JSON.stringify(kv.map((e) => ({ key: enc(e.key), value: enc(e.value) })));

export const INSERT_COLUMNS: InsertColumn[] = [
  { name: 'log', type: 'text', value: (m) => m.log },
  { name: 'id', type: 'text', value: (m) => m.id },
  { name: 'date_time', type: 'text', value: (m) => m.dateTime },
  { name: 'at_ms', type: 'int8', value: (m) => Date.parse(m.dateTime) },
  { name: 'title', type: 'text', value: (m) => enc(m.title) },
  { name: 'type', type: 'text', value: (m) => enc(m.type) },
  { name: 'detail', type: 'text', value: (m) => opt(m.detail) },
  { name: 'source', type: 'text', value: (m) => opt(m.source) },
  { name: 'status_code', type: 'int4', value: (m) => m.statusCode ?? null },
  { name: 'severity', type: 'text', value: (m) => m.severity },
  { name: 'url', type: 'text', value: (m) => opt(m.url) },
  { name: 'method', type: 'text', value: (m) => opt(m.method) },
  { name: 'user_name', type: 'text', value: (m) => opt(m.user) },
  { name: 'hostname', type: 'text', value: (m) => opt(m.hostname) },
  { name: 'application', type: 'text', value: (m) => opt(m.application) },
  { name: 'version', type: 'text', value: (m) => opt(m.version) },
  { name: 'correlation_id', type: 'text', value: (m) => opt(m.correlationId) },
  { name: 'category', type: 'text', value: (m) => opt(m.category) },
  { name: 'fingerprint', type: 'text', value: (m) => m.fingerprint },
  { name: 'server_variables', type: 'text', value: (m) => list(m.serverVariables), expr: '$::jsonb' },
  { name: 'cookies', type: 'text', value: (m) => list(m.cookies), expr: '$::jsonb' },
  { name: 'form', type: 'text', value: (m) => list(m.form), expr: '$::jsonb' },
  { name: 'query_string', type: 'text', value: (m) => list(m.queryString), expr: '$::jsonb' },
  { name: 'data', type: 'text', value: (m) => list(m.data), expr: '$::jsonb' },
  { name: 'context', type: 'text', value: (m) => encodeContext(m) },
  { name: 'tk_title', type: 'text', value: (_, tk) => tokenText(tk.title) },
  { name: 'tk_type', type: 'text', value: (_, tk) => tokenText(tk.type) },
  { name: 'tk_detail', type: 'text', value: (_, tk) => tokenText(tk.detail) },
  { name: 'tk_url', type: 'text', value: (_, tk) => tokenText(tk.url) },
  { name: 'tk_source', type: 'text', value: (_, tk) => tokenText(tk.source) },
  { name: 'tk_user', type: 'text', value: (_, tk) => tokenText(tk.user) },
  { name: 'tk_hostname', type: 'text', value: (_, tk) => tokenText(tk.hostname) },
  {
    name: 'tsv',
    type: 'text',
    value: (_, tk) => tk.lexemes,
    expr: `array_to_tsvector(string_to_array($::text, ' '))`,
  },
  { name: 'tsv_everything', type: 'bool', value: (_, tk) => tk.lexemes.startsWith(`${EVERYTHING} `) },
];

/** Messages per INSERT statement (PostgreSQL takes at most 65,535 parameters in one). */
export const INSERT_ROWS = Math.floor(65_535 / INSERT_COLUMNS.length);

/** The columns a message is read back from. */
export const MESSAGE_COLUMNS = [
  'log',
  'id',
  'date_time',
  'title',
  'type',
  'detail',
  'source',
  'status_code',
  'severity',
  'url',
  'method',
  'user_name',
  'hostname',
  'application',
  'version',
  'correlation_id',
  'category',
  'fingerprint',
  'server_variables',
  'cookies',
  'form',
  'query_string',
  'data',
  'context',
]
  .map((c) => `m.${c}`)
  .join(', ');

export const str = (v: unknown): string => dec(String(v));
export const optStr = (v: unknown): string | undefined => (v === null || v === undefined ? undefined : dec(String(v)));
const kvList = (v: unknown): KeyValue[] =>
  Array.isArray(v) ? v.map((e: { key?: unknown; value?: unknown }) => ({ key: str(e.key), value: str(e.value) })) : [];

/** A messages row back into a message. */
export function toMessage(r: Row): ErrorMessage {
  return {
    id: String(r.id),
    log: String(r.log),
    dateTime: String(r.date_time),
    title: str(r.title),
    type: str(r.type),
    detail: optStr(r.detail),
    source: optStr(r.source),
    statusCode: r.status_code === null || r.status_code === undefined ? undefined : Number(r.status_code),
    severity: String(r.severity) as Severity,
    url: optStr(r.url),
    method: optStr(r.method),
    user: optStr(r.user_name),
    hostname: optStr(r.hostname),
    application: optStr(r.application),
    version: optStr(r.version),
    correlationId: optStr(r.correlation_id),
    category: optStr(r.category),
    serverVariables: kvList(r.server_variables),
    cookies: kvList(r.cookies),
    form: kvList(r.form),
    queryString: kvList(r.query_string),
    data: kvList(r.data),
    fingerprint: String(r.fingerprint),
    ...decodeContext(r.context),
  };
}

/** A groups row (or a computed group) back into an ErrorGroup. */
export function toGroup(r: Row): ErrorGroup {
  return {
    log: String(r.log),
    fingerprint: String(r.fingerprint),
    count: Number(r.count),
    firstSeen: String(r.first_seen),
    lastSeen: String(r.last_seen),
    lastId: String(r.last_id),
    title: str(r.title),
    type: str(r.type),
    statusCode: r.status_code === null || r.status_code === undefined ? undefined : Number(r.status_code),
    countedOnly: Number(r.counted_only ?? 0),
    state: decodeState(r.triage),
  };
}

/** JavaScript's string order (UTF-16 code units), which COLLATE "C" matches for the ASCII ids and logs. */
export function byCode(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function toKey(r: Row): KeyRecord {
  return {
    id: String(r.id),
    name: str(r.name),
    permissions: (Array.isArray(r.permissions) ? r.permissions : []).map(String) as Permission[],
    logs: (Array.isArray(r.logs) ? r.logs : []).map(str),
    hash: String(r.hash),
    created: String(r.created),
    expires: optStr(r.expires),
    revoked: optStr(r.revoked),
  };
}
