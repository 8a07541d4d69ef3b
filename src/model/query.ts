// The search language (a small Lucene subset, as elmah.io uses): parsed once into a tree that each
// backend compiles (SQL with parameters) or evaluates (memory). Syntax errors are ERR_ELMAH_QUERY with a position.
import { ElmahError } from './errors.js';
import { GROUP_STATUSES, type GroupStatus } from './triage.js';

/** Fields searched word by word (tokenized, prefix match for a bare word). `message` is an alias of `title`. */
export const TEXT_FIELDS = ['title', 'detail', 'url', 'source'] as const;
/** Fields compared whole (case-insensitive), with a trailing `*` for a prefix. */
export const KEYWORD_FIELDS = [
  'type',
  'severity',
  'method',
  'hostname',
  'application',
  'version',
  'user',
  'correlationId',
  'category',
  'fingerprint',
  'log',
  'id',
  'statusCode',
  'dateTime',
] as const;
/** Fields that take `[a TO b]` ranges. */
export const RANGE_FIELDS = ['statusCode', 'dateTime'] as const;
/** Fields that free text searches. */
export const FREE_TEXT_FIELDS = ['title', 'type', 'detail', 'url', 'source', 'user', 'hostname'] as const;

export type TextField = (typeof TEXT_FIELDS)[number];
export type KeywordField = (typeof KEYWORD_FIELDS)[number];
export type RangeField = (typeof RANGE_FIELDS)[number];

/** A parsed query. */
export type QueryNode =
  | { kind: 'all' }
  /** Words in a text field (or, without `field`, in any of FREE_TEXT_FIELDS). `tokens` are lowercased.
   *  `prefix`: the last token matches as a prefix (a bare word); false for a quoted phrase. */
  | { kind: 'text'; field?: TextField | undefined; tokens: string[]; prefix: boolean }
  /** Whole-value comparison, case-insensitive; `prefix` for `value*`. statusCode values are numeric strings. */
  | { kind: 'term'; field: KeywordField; value: string; prefix: boolean }
  /** The message's group is in a state (`status:resolved`, `is:ignored`) or was reopened after a resolution (`is:regressed`). */
  | { kind: 'state'; value: GroupStatus | 'regressed' }
  | { kind: 'range'; field: RangeField; lo?: string | undefined; hi?: string | undefined; loInclusive: boolean; hiInclusive: boolean }
  | { kind: 'and' | 'or'; children: QueryNode[] }
  | { kind: 'not'; child: QueryNode };

/** Longest query text accepted. */
export const MAX_QUERY_LENGTH = 4096;
/** Most terms in one query. */
export const MAX_QUERY_TERMS = 64;
/** Deepest nesting of parentheses and NOT. */
export const MAX_QUERY_DEPTH = 32;

const FIELD_LOOKUP = new Map<string, TextField | KeywordField>([
  ...[...TEXT_FIELDS, ...KEYWORD_FIELDS].map((f) => [f.toLowerCase(), f] as [string, TextField | KeywordField]),
  ['message', 'title'],
  ['statuscode', 'statusCode'],
  ['status', 'statusCode'],
  ['datetime', 'dateTime'],
  ['correlationid', 'correlationId'],
]);

/** Splits text into search tokens the way SQLite FTS5's unicode61 tokenizer does: letters and digits, lowercased, diacritics removed. */
export function tokenize(text: string): string[] {
  const folded = text
    .normalize('NFKD')
    .replace(/\p{M}+/gu, '')
    .toLowerCase();
  return folded.match(/[\p{L}\p{N}\p{Co}]+/gu) ?? [];
}

type Tok =
  | { t: 'word'; v: string; pos: number; quoted: boolean; field?: string; prefix?: boolean }
  | { t: 'range'; field: string; lo: string; hi: string; loInc: boolean; hiInc: boolean; pos: number }
  | { t: '(' | ')' | 'AND' | 'OR' | 'NOT'; pos: number };

function fail(message: string, position: number): never {
  throw new ElmahError('ERR_ELMAH_QUERY', `${message} at position ${position + 1}.`, {
    details: { position },
    help: 'Use words, field:value, field:"a phrase", statusCode:[500 TO 599], AND, OR, NOT and parentheses.',
  });
}

const SPECIAL = new Set(['(', ')', '"', ':', '[', ']', '{', '}']);

function lex(input: string): Tok[] {
  const toks: Tok[] = [];
  let i = 0;
  const n = input.length;
  const readQuoted = (): string => {
    const start = i;
    i++; // opening quote
    let out = '';
    while (i < n && input[i] !== '"') {
      if (input[i] === '\\' && i + 1 < n) i++;
      out += input[i];
      i++;
    }
    if (i >= n) fail('Unclosed quote', start);
    i++;
    return out;
  };
  const readBare = (): string => {
    let out = '';
    while (i < n && !/\s/.test(input[i]!) && !SPECIAL.has(input[i]!)) {
      if (input[i] === '\\' && i + 1 < n) i++;
      out += input[i];
      i++;
    }
    return out;
  };
  while (i < n) {
    const c = input[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    const pos = i;
    if (c === '(' || c === ')') {
      toks.push({ t: c, pos });
      i++;
      continue;
    }
    if (c === '&' && input[i + 1] === '&') {
      toks.push({ t: 'AND', pos });
      i += 2;
      continue;
    }
    if (c === '|' && input[i + 1] === '|') {
      toks.push({ t: 'OR', pos });
      i += 2;
      continue;
    }
    if ((c === '!' || c === '-') && i + 1 < n && !/\s/.test(input[i + 1]!)) {
      toks.push({ t: 'NOT', pos });
      i++;
      continue;
    }
    if (c === '+' && i + 1 < n && !/\s/.test(input[i + 1]!)) {
      i++;
      continue;
    }
    if (c === '"') {
      toks.push({ t: 'word', v: readQuoted(), pos, quoted: true });
      continue;
    }
    if (SPECIAL.has(c)) fail(`Unexpected "${c}"`, pos);
    const word = readBare();
    if (input[i] === ':') {
      i++;
      const field = word;
      if (!field) fail('Missing field name before ":"', pos);
      const vpos = i;
      const v = input[i];
      if (v === '"') {
        toks.push({ t: 'word', v: readQuoted(), pos, quoted: true, field });
        continue;
      }
      if (v === '[' || v === '{') {
        const close = input.slice(i).search(/[\]}]/);
        if (close < 0) fail('Unclosed range', vpos);
        const body = input.slice(i + 1, i + close);
        const m = /^\s*(\S+)\s+TO\s+(\S+)\s*$/.exec(body);
        if (!m) fail('A range reads [low TO high]', vpos);
        toks.push({ t: 'range', field, lo: m[1]!, hi: m[2]!, loInc: v === '[', hiInc: input[i + close] === ']', pos });
        i += close + 1;
        continue;
      }
      const value = readBare();
      if (!value) fail(`Missing value after "${field}:"`, vpos);
      toks.push({ t: 'word', v: value, pos, quoted: false, field });
      continue;
    }
    if (!word) fail(`Unexpected "${c}"`, pos);
    if (word === 'AND' || word === 'OR' || word === 'NOT') toks.push({ t: word, pos });
    else toks.push({ t: 'word', v: word, pos, quoted: false });
  }
  return toks;
}

/**
 * Parses query text into a tree. Empty text matches everything. Terms side by side are ANDed;
 * `OR` binds looser than `AND`; `NOT`, `-` and `!` negate. Throws ERR_ELMAH_QUERY with the 1-based position.
 */
export function parseQuery(input: string | undefined | null): QueryNode {
  if (input === undefined || input === null) return { kind: 'all' };
  if (typeof input !== 'string') fail('The query must be text', 0);
  if (input.length > MAX_QUERY_LENGTH) fail(`The query is longer than ${MAX_QUERY_LENGTH} characters`, MAX_QUERY_LENGTH);
  const toks = lex(input);
  if (toks.length === 0) return { kind: 'all' };
  let terms = 0;
  let p = 0;
  const peek = (): Tok | undefined => toks[p];

  const parseOr = (depth: number): QueryNode => {
    const children = [parseAnd(depth)];
    while (peek()?.t === 'OR') {
      const op = toks[p++]!;
      if (!peek() || peek()!.t === ')' || peek()!.t === 'OR' || peek()!.t === 'AND') fail('Expected a term after OR', op.pos);
      children.push(parseAnd(depth));
    }
    return children.length === 1 ? children[0]! : { kind: 'or', children };
  };
  const parseAnd = (depth: number): QueryNode => {
    const children = [parseUnary(depth)];
    for (;;) {
      const t = peek();
      if (!t || t.t === ')' || t.t === 'OR') break;
      if (t.t === 'AND') {
        p++;
        if (!peek() || peek()!.t === ')' || peek()!.t === 'OR' || peek()!.t === 'AND') fail('Expected a term after AND', t.pos);
      }
      children.push(parseUnary(depth));
    }
    return children.length === 1 ? children[0]! : { kind: 'and', children };
  };
  const parseUnary = (depth: number): QueryNode => {
    if (depth > MAX_QUERY_DEPTH) fail(`Nested deeper than ${MAX_QUERY_DEPTH} levels`, peek()?.pos ?? input.length);
    const t = peek();
    if (!t) fail('Expected a term', input.length);
    if (t.t === 'NOT') {
      p++;
      if (!peek()) fail('Expected a term after NOT', t.pos);
      return { kind: 'not', child: parseUnary(depth + 1) };
    }
    if (t.t === '(') {
      p++;
      const inner = parseOr(depth + 1);
      if (peek()?.t !== ')') fail('Missing ")"', peek()?.pos ?? input.length);
      p++;
      return inner;
    }
    if (t.t === ')' || t.t === 'AND' || t.t === 'OR') fail(`Unexpected ${t.t === ')' ? '")"' : t.t}`, t.pos);
    p++;
    if (++terms > MAX_QUERY_TERMS) fail(`More than ${MAX_QUERY_TERMS} terms`, t.pos);
    return termNode(t as Exclude<Tok, { t: '(' | ')' | 'AND' | 'OR' | 'NOT' }>);
  };

  const tree = parseOr(0);
  if (p < toks.length) fail(`Unexpected ${toks[p]!.t === ')' ? '")"' : toks[p]!.t}`, toks[p]!.pos);
  return tree;
}

function termNode(t: Exclude<Tok, { t: '(' | ')' | 'AND' | 'OR' | 'NOT' }>): QueryNode {
  if (t.t === 'range') {
    const field = FIELD_LOOKUP.get(t.field.toLowerCase());
    if (field !== 'statusCode' && field !== 'dateTime')
      fail(`Field "${t.field}" does not take a range (use statusCode or dateTime)`, t.pos);
    const bound = (v: string): string | undefined => {
      if (v === '*') return undefined;
      if (field === 'statusCode') {
        if (!/^\d{1,3}$/.test(v)) fail(`"${v}" is not a status code`, t.pos);
        return String(Number(v));
      }
      const d = new Date(v);
      if (Number.isNaN(d.getTime())) fail(`"${v}" is not a date`, t.pos);
      return d.toISOString();
    };
    return { kind: 'range', field, lo: bound(t.lo), hi: bound(t.hi), loInclusive: t.loInc, hiInclusive: t.hiInc };
  }
  if (t.field === undefined) {
    const tokens = tokenize(t.v);
    if (tokens.length === 0) return { kind: 'all' };
    return { kind: 'text', tokens, prefix: !t.quoted };
  }
  const state = stateNode(t.field, t.v, t.pos);
  if (state) return state;
  const field = FIELD_LOOKUP.get(t.field.toLowerCase());
  if (!field) fail(`Unknown field "${t.field}"`, t.pos);
  if ((TEXT_FIELDS as readonly string[]).includes(field)) {
    const tokens = tokenize(t.v.replace(/\*$/, ''));
    if (tokens.length === 0) return { kind: 'all' };
    return { kind: 'text', field: field as TextField, tokens, prefix: !t.quoted };
  }
  const prefix = !t.quoted && t.v.endsWith('*') && t.v.length > 1;
  const value = prefix ? t.v.slice(0, -1) : t.v;
  if (field === 'statusCode' && !prefix && !/^\d{1,3}$/.test(value)) fail(`"${value}" is not a status code`, t.pos);
  if (field === 'statusCode' && prefix && !/^\d{1,2}$/.test(value)) fail(`"${value}*" is not a status code prefix`, t.pos);
  return { kind: 'term', field: field as KeywordField, value: field === 'statusCode' && !prefix ? String(Number(value)) : value, prefix };
}

/** What `is:` takes: a group state, or `regressed`. */
export const IS_VALUES = [...GROUP_STATUSES, 'regressed'] as const;

/**
 * `is:open|resolved|ignored|regressed`, and `status:open|resolved|ignored` (a number after `status:` stays a
 * status code, as before): a term on the state of the message's group. Undefined for other fields.
 */
function stateNode(field: string, value: string, pos: number): QueryNode | undefined {
  const name = field.toLowerCase();
  const v = value.toLowerCase();
  if (name === 'is') {
    if (!(IS_VALUES as readonly string[]).includes(v)) fail(`"is:" takes ${IS_VALUES.join(', ')}; not "${value}"`, pos);
    return { kind: 'state', value: v as GroupStatus | 'regressed' };
  }
  if (name === 'status' && (GROUP_STATUSES as readonly string[]).includes(v)) return { kind: 'state', value: v as GroupStatus };
  return undefined;
}

/** Field names the language knows, for help texts. */
export function queryFields(): string[] {
  return [...TEXT_FIELDS, 'message', ...KEYWORD_FIELDS, 'is'];
}
