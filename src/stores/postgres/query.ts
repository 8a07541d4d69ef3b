// PostgreSQL query compiler: turns a MessageFilter (parsed query tree, logs, time range) into a parameterised
// WHERE clause whose results agree exactly with the reference evaluator (src/model/query-eval.ts).
import { FREE_TEXT_FIELDS, type KeywordField, type QueryNode, type TextField } from '../../model/query.js';
import { asciiLower } from '../../model/query-eval.js';
import { filterLogs } from '../shared.js';
import type { MessageFilter } from '../types.js';
import { EVERYTHING, enc, lexeme, logLexeme } from './codec.js';

/* How text is tokenized and stored (the token strings, the tsvector) is in codec.ts. */

/** The message fields text search reads, with the column holding each one's tokens. */
export const TOKEN_COLUMNS: Record<(typeof FREE_TEXT_FIELDS)[number], string> = {
  title: 'tk_title',
  type: 'tk_type',
  detail: 'tk_detail',
  url: 'tk_url',
  source: 'tk_source',
  user: 'tk_user',
  hostname: 'tk_hostname',
};

/** The column of each keyword field; statusCode compares as text, as the reference evaluator does. */
const KEYWORD_COLUMNS: Record<KeywordField, string> = {
  type: 'type',
  severity: 'severity',
  method: 'method',
  hostname: 'hostname',
  application: 'application',
  version: 'version',
  user: 'user_name',
  correlationId: 'correlation_id',
  category: 'category',
  fingerprint: 'fingerprint',
  log: 'log',
  id: 'id',
  statusCode: 'status_code::text',
  dateTime: 'date_time',
};

const UPPER = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const LOWER = 'abcdefghijklmnopqrstuvwxyz';

/** Keyword columns (NOT NULL, COLLATE "C", in a btree index) whose exact terms also get an index range. */
const RANGED_KEYWORDS = new Set<KeywordField>(['id']);

function asciiUpper(text: string): string {
  return text.replace(/[a-z]+/g, (m) => m.toUpperCase());
}

/** A keyword column with ASCII letters folded to lower case (as asciiLower does); also the form the type index uses. */
export function foldedColumn(field: KeywordField, alias = 'm.'): string {
  return `translate(${alias}${KEYWORD_COLUMNS[field]}, '${UPPER}', '${LOWER}')`;
}

const quoteLexeme = (text: string): string => `'${text.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;

/** A tsquery that every message whose tokens contain the phrase satisfies (a necessary condition only). */
function candidateQuery(tokens: readonly string[], prefix: boolean): string {
  return tokens
    .map((t, i) => {
      const l = lexeme(t);
      return `${quoteLexeme(l.text)}${l.cut || (prefix && i === tokens.length - 1) ? ':*' : ''}`;
    })
    .join(' & ');
}

/** Collects parameters; `add` returns the `$n` placeholder. */
export class Params {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/** What compiling needs besides the tree. */
export interface CompileContext {
  /** The group aggregate table: every (log, fingerprint) that has messages, for exact log and fingerprint terms. */
  groups: string;
  /** When the filter limits the logs: their lexemes, added to every text lookup (the outer log test stays). */
  logLexemes?: string[] | undefined;
}

/** SQL for one query node, over the messages table aliased `m`. Never yields NULL. */
export function compileQuery(node: QueryNode, params: Params, ctx: CompileContext): string {
  switch (node.kind) {
    case 'all':
      return 'TRUE';
    case 'and':
    case 'or':
      return `(${node.children.map((c) => compileQuery(c, params, ctx)).join(node.kind === 'and' ? ' AND ' : ' OR ')})`;
    case 'not':
      return `(NOT ${compileQuery(node.child, params, ctx)})`;
    case 'text': {
      const fields: readonly (TextField | (typeof FREE_TEXT_FIELDS)[number])[] = node.field ? [node.field] : FREE_TEXT_FIELDS;
      const p = params.add(` ${node.tokens.join(' ')}${node.prefix ? '' : ' '}`);
      const exact = `(${fields.map((f) => `strpos(m.${TOKEN_COLUMNS[f]}, ${p}::text) > 0`).join(' OR ')})`;
      const inLogs = ctx.logLexemes && ctx.logLexemes.length > 0 ? ` & (${ctx.logLexemes.map(quoteLexeme).join(' | ')})` : '';
      const q = params.add(`((${candidateQuery(node.tokens, node.prefix)}) | ${quoteLexeme(EVERYTHING)})${inLogs}`);
      if (!node.field && node.tokens.length === 1 && !lexeme(node.tokens[0]!).cut) {
        // One word anywhere: the tsvector holds exactly the tokens of the free-text fields, so the index alone
        // decides, and rows are not read for a recheck; only an EVERYTHING row needs the exact test.
        return `(m.tsv @@ ${q}::tsquery AND (NOT m.tsv_everything OR ${exact}))`;
      }
      return `(m.tsv @@ ${q}::tsquery AND ${exact})`;
    }
    case 'term': {
      // "col IS NOT NULL AND …" is never NULL (so NOT stays right) and, unlike COALESCE, lets an index serve it.
      const column = KEYWORD_COLUMNS[node.field];
      const folded = foldedColumn(node.field);
      const want = params.add(enc(asciiLower(node.value)));
      const test = node.prefix ? `starts_with(${folded}, ${want}::text)` : `${folded} = ${want}::text`;
      if (!node.prefix && (node.field === 'log' || node.field === 'fingerprint')) {
        // The aggregate lists every log and fingerprint in use: the spellings that fold to the value become
        // an array the indexes on (log, …) and (log, fingerprint, …) look up directly.
        const col = node.field === 'log' ? 'log' : 'fingerprint';
        return `(m.${col} = ANY(ARRAY(SELECT DISTINCT g.${col} FROM ${ctx.groups} g WHERE ${foldedColumn(node.field, 'g.')} = ${want}::text)))`;
      }
      if (!node.prefix && RANGED_KEYWORDS.has(node.field)) {
        // Every spelling that folds to the value lies between its upper- and lower-case forms in byte order,
        // a range the btree indexes on log, id and fingerprint can serve.
        const lo = params.add(enc(asciiUpper(node.value)));
        const hi = params.add(enc(asciiLower(node.value)));
        return `(m.${column} >= ${lo}::text COLLATE "C" AND m.${column} <= ${hi}::text COLLATE "C" AND ${test})`;
      }
      return `(m.${column.replace(/::text$/, '')} IS NOT NULL AND ${test})`;
    }
    case 'state': {
      // One primary-key look-up of the message's group per row.
      const test = node.value === 'regressed' ? 'g.regressed' : `g.status = ${params.add(node.value)}::text`;
      return `(EXISTS (SELECT 1 FROM ${ctx.groups} g WHERE g.log = m.log AND g.fingerprint = m.fingerprint AND ${test}))`;
    }
    case 'range': {
      const column = node.field === 'statusCode' ? 'm.status_code' : 'm.date_time';
      const cast = node.field === 'statusCode' ? '::int' : '::text COLLATE "C"';
      const parts = [`${column} IS NOT NULL`];
      if (node.lo !== undefined) parts.push(`${column} ${node.loInclusive ? '>=' : '>'} ${params.add(node.lo)}${cast}`);
      if (node.hi !== undefined) parts.push(`${column} ${node.hiInclusive ? '<=' : '<'} ${params.add(node.hi)}${cast}`);
      return `(${parts.join(' AND ')})`;
    }
  }
}

/** SQL for a whole filter (logs, time range, query) over the messages table aliased `m`. */
export function compileFilter(filter: MessageFilter, params: Params, groups: string): string {
  const parts: string[] = [];
  const logs = filterLogs(filter.log);
  const ctx: CompileContext = { groups, logLexemes: logs?.map(logLexeme) };
  if (logs !== undefined) parts.push(logs.length === 1 ? `m.log = ${params.add(logs[0])}` : `m.log = ANY(${params.add(logs)}::text[])`);
  if (filter.from !== undefined) parts.push(`m.date_time >= ${params.add(filter.from)}::text COLLATE "C"`);
  if (filter.to !== undefined) parts.push(`m.date_time < ${params.add(filter.to)}::text COLLATE "C"`);
  if (filter.query && filter.query.kind !== 'all') parts.push(compileQuery(filter.query, params, ctx));
  return parts.length === 0 ? 'TRUE' : parts.join(' AND ');
}
