// PostgresStore: many app instances, one shared log (pg, JSONB, tsvector, group aggregate kept by upserts).
import type * as Pg from 'pg';
import { ElmahConfigError, ElmahError, isElmahError } from '../model/errors.js';
import type { KeyRecord } from '../model/keys.js';
import type { ErrorMessage, KeyValue, Severity } from '../model/message.js';
import type { Permission } from '../model/permissions.js';
import { redactUrl, type OpenStoreOptions } from './open.js';
import { EVERYTHING, Params, compileFilter, dec, enc, lexemeList, tokenText, tokensOf } from './postgres-query.js';
import { checkSchemaName, migrate, tables, type Tables } from './postgres-schema.js';
import {
  COUNT_CAP, closedError, cutoff, decodeCursor, encodeCursor, filterLogs, histogramBuckets, pageIndex, pageSize,
} from './shared.js';
import {
  DEFAULT_RETENTION, type AppendResult, type DeleteTarget, type ErrorGroup, type GroupOptions, type GroupResult,
  type HistogramOptions, type HistogramResult, type LogSummary, type MessageFilter, type RetentionOptions,
  type SearchOptions, type SearchResult, type Store,
} from './types.js';

/** A row as pg returns it. */
type Row = Record<string, unknown>;

/** The part of a pg `PoolClient` the store uses. */
export interface PgClientLike {
  query(text: string, values?: unknown[]): Promise<{ rows: Row[]; rowCount: number | null }>;
  release(err?: Error | boolean): void;
}

/** The part of a pg `Pool` the store uses: pass your own `new pg.Pool(…)` to share it. */
export interface PgPoolLike {
  query(text: string, values?: unknown[]): Promise<{ rows: Row[]; rowCount: number | null }>;
  connect(): Promise<PgClientLike>;
  end(): Promise<void>;
}

/** Options of {@link PostgresStore.open}. */
export interface PostgresStoreOptions extends OpenStoreOptions {
  /** Most connections of a pool the store creates itself. Default 10. */
  maxConnections?: number;
  /** Apply retention on append at most this often, ms (the first append applies it); false turns it off. Default 60,000. */
  autoPruneMs?: number | false;
}

/** Default schema when neither the option nor `?schema=` names one. */
export const DEFAULT_SCHEMA = 'public';

/** Tries of a transaction that lost a deadlock or serialization race. */
const TX_TRIES = 5;
/** Largest OFFSET passed to PostgreSQL (keeps absurd page numbers a valid bigint). */
const MAX_OFFSET = Number.MAX_SAFE_INTEGER;

/** Loads pg on demand: it is an optional peer dependency. */
async function loadPg(): Promise<typeof Pg> {
  try {
    return require('pg') as typeof Pg;
  } catch {
    // An ESM build has no require; try an import before giving up.
  }
  try {
    const mod = (await import('pg')) as typeof Pg & { default?: typeof Pg };
    return mod.default ?? mod;
  } catch (err) {
    throw new ElmahError('ERR_ELMAH_DRIVER_MISSING', 'The PostgreSQL store needs the "pg" package, which is not installed.', {
      help: 'install pg (npm install pg) or pass a Pool',
      cause: err,
    });
  }
}

/** True for something shaped like a pg Pool. */
function isPool(value: unknown): value is PgPoolLike {
  if (typeof value !== 'object' || value === null) return false;
  const p = value as Record<string, unknown>;
  return typeof p.query === 'function' && typeof p.connect === 'function' && typeof p.end === 'function';
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED',
]);
/** SQLSTATEs after which the server is (for now) out of reach: shutdown, too many connections, out of resources. */
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300', '53400', '58000', '58030']);
/** SQLSTATEs a retry of the whole transaction cures. */
const RETRY_STATES = new Set(['40001', '40P01']);

/** What was being done, so that a data error names the right culprit. */
type Doing = 'read' | 'write' | 'admin';

/** True when a pg error means the connection is gone (the pool client must be destroyed). */
function isConnectionError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const code = String((err as { code?: unknown }).code ?? '');
  const message = String((err as { message?: unknown }).message ?? '');
  return (
    NETWORK_CODES.has(code) || code.startsWith('08') || UNAVAILABLE_STATES.has(code) ||
    /Connection terminated|connection error|timeout exceeded when trying to connect|Client was closed|not queryable/i.test(message)
  );
}

/** Turns a pg or network failure into an ElmahError; transient ones say so, so that the shipper retries. */
function storeError(err: unknown, where: string, doing: Doing): ElmahError {
  if (isElmahError(err)) return err;
  const code = String((err as { code?: unknown } | null)?.code ?? '');
  const text = err instanceof Error ? err.message : String(err);
  if (isConnectionError(err)) {
    return new ElmahError('ERR_ELMAH_STORE_UNAVAILABLE', `PostgreSQL at ${where} is unreachable: ${text}`, {
      help: 'Check that PostgreSQL is running and reachable; the call can be retried (appends are idempotent).',
      transient: true, cause: err,
    });
  }
  if (RETRY_STATES.has(code) || code === '55P03') {
    return new ElmahError('ERR_ELMAH_STORE_BUSY', `PostgreSQL at ${where} is busy: ${text}`, {
      help: 'Retry the call; many writers hit the same rows at once.', transient: true, cause: err,
    });
  }
  if (code === '57014') {
    return new ElmahError('ERR_ELMAH_TIMEOUT', `PostgreSQL at ${where} cancelled a statement: ${text}`, {
      help: 'Narrow the search (a time range or a log), or raise statement_timeout.', transient: true, cause: err,
    });
  }
  if (code === '28P01' || code === '28000' || code === '3D000') {
    return new ElmahError('ERR_ELMAH_STORE_UNAVAILABLE', `PostgreSQL at ${where} refused the login: ${text}`, {
      help: 'Check the user, password and database name in the store URL.', cause: err,
    });
  }
  if (code === '42501') {
    return new ElmahError('ERR_ELMAH_STORE_UNAVAILABLE', `PostgreSQL at ${where} denied access: ${text}`, {
      help: 'Grant the database user CREATE on the database (or create the schema for it) and rights on the elmah_* tables.', cause: err,
    });
  }
  if (code === '42P01' || code === '42703' || code === '3F000') {
    return new ElmahError('ERR_ELMAH_STORE_CORRUPT', `The express-elmah tables at ${where} are missing or changed: ${text}`, {
      help: 'Reopen the store so it migrates, or check that nothing else altered the elmah_* tables.', cause: err,
    });
  }
  if (code.startsWith('22') || code.startsWith('54')) {
    if (doing === 'read') return new ElmahError('ERR_ELMAH_QUERY', `PostgreSQL could not run the search: ${text}`, { help: 'Simplify the query.', cause: err });
    if (doing === 'write') return new ElmahError('ERR_ELMAH_INVALID_MESSAGE', `PostgreSQL refused a message: ${text}`, { help: 'Check the message fields.', cause: err });
  }
  return new ElmahError('ERR_ELMAH_STORE_UNAVAILABLE', `PostgreSQL at ${where} failed${code ? ` (${code})` : ''}: ${text}`, {
    help: 'See the PostgreSQL server log for details.', cause: err,
  });
}

/** The tokens of a message's free-text fields, made once per append. */
type Tokens = Record<'title' | 'type' | 'detail' | 'url' | 'source' | 'user' | 'hostname', string[]> & { lexemes: string };

function tokensOfMessage(m: ErrorMessage): Tokens {
  const tk = {
    title: tokensOf(m.title), type: tokensOf(m.type), detail: tokensOf(m.detail), url: tokensOf(m.url),
    source: tokensOf(m.source), user: tokensOf(m.user), hostname: tokensOf(m.hostname), lexemes: '',
  };
  tk.lexemes = lexemeList(m.log, [tk.title, tk.type, tk.detail, tk.url, tk.source, tk.user, tk.hostname]);
  return tk;
}

/** One column of the messages table as append fills it. */
interface InsertColumn {
  name: string;
  type: string;
  value: (m: ErrorMessage, tk: Tokens) => unknown;
  /** SQL that turns the parameter `$` into the column's value (default: a cast to `type`). */
  expr?: string;
}

const opt = (v: string | undefined): string | null => (v === undefined ? null : enc(v));
const list = (kv: readonly KeyValue[]): string => JSON.stringify(kv.map((e) => ({ key: enc(e.key), value: enc(e.value) })));

const INSERT_COLUMNS: InsertColumn[] = [
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
  { name: 'tk_title', type: 'text', value: (_, tk) => tokenText(tk.title) },
  { name: 'tk_type', type: 'text', value: (_, tk) => tokenText(tk.type) },
  { name: 'tk_detail', type: 'text', value: (_, tk) => tokenText(tk.detail) },
  { name: 'tk_url', type: 'text', value: (_, tk) => tokenText(tk.url) },
  { name: 'tk_source', type: 'text', value: (_, tk) => tokenText(tk.source) },
  { name: 'tk_user', type: 'text', value: (_, tk) => tokenText(tk.user) },
  { name: 'tk_hostname', type: 'text', value: (_, tk) => tokenText(tk.hostname) },
  {
    name: 'tsv', type: 'text',
    value: (_, tk) => tk.lexemes,
    expr: `array_to_tsvector(string_to_array($::text, ' '))`,
  },
  { name: 'tsv_everything', type: 'bool', value: (_, tk) => tk.lexemes.startsWith(`${EVERYTHING} `) },
];

/** Messages per INSERT statement (PostgreSQL takes at most 65,535 parameters in one). */
const INSERT_ROWS = Math.floor(65_535 / INSERT_COLUMNS.length);

/** The columns a message is read back from. */
const MESSAGE_COLUMNS = [
  'log', 'id', 'date_time', 'title', 'type', 'detail', 'source', 'status_code', 'severity', 'url', 'method', 'user_name',
  'hostname', 'application', 'version', 'correlation_id', 'category', 'fingerprint', 'server_variables', 'cookies', 'form',
  'query_string', 'data',
].map((c) => `m.${c}`).join(', ');

const str = (v: unknown): string => dec(String(v));
const optStr = (v: unknown): string | undefined => (v === null || v === undefined ? undefined : dec(String(v)));
const kvList = (v: unknown): KeyValue[] =>
  Array.isArray(v) ? v.map((e: { key?: unknown; value?: unknown }) => ({ key: str(e.key), value: str(e.value) })) : [];

/** A messages row back into a message. */
function toMessage(r: Row): ErrorMessage {
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
  };
}

/** A groups row (or a computed group) back into an ErrorGroup. */
function toGroup(r: Row): ErrorGroup {
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
  };
}

/** JavaScript's string order (UTF-16 code units), which COLLATE "C" matches for the ASCII ids and logs. */
function byCode(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Where a URL-configured store connects, without the password, and the schema named by `?schema=`. */
function parseUrl(url: string): { connectionString: string; schema: string | undefined } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ElmahConfigError('ERR_ELMAH_STORE_URL', `Invalid PostgreSQL URL "${redactUrl(url)}".`, {
      help: 'Use postgres://user:password@host:5432/database (with ?schema=name to pick a schema).',
    });
  }
  const schema = u.searchParams.get('schema') ?? undefined;
  u.searchParams.delete('schema');
  return { connectionString: u.toString(), schema };
}

/** A safe description of a pool passed in: `postgres://user@host:port/db`. */
function describePool(pool: PgPoolLike, schema: string): string {
  const o = (pool as { options?: { connectionString?: string; user?: string; host?: string; port?: number; database?: string } }).options ?? {};
  const base = o.connectionString
    ? redactUrl(o.connectionString)
    : `postgres://${o.user ? `${encodeURIComponent(o.user)}@` : ''}${o.host ?? 'localhost'}${o.port ? `:${o.port}` : ''}/${o.database ?? ''}`;
  return schema === DEFAULT_SCHEMA ? base : `${base} (schema ${schema})`;
}

/**
 * The PostgreSQL backend: `openStore('postgres://…')` or `PostgresStore.open(pool)`. Tables live in one
 * schema (option `schema` or `?schema=`; default `public`), created and migrated on open.
 */
export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  private closed = false;
  private lastAutoPrune = 0;
  private readonly autoPruneMs: number | false;
  private readonly retention: Required<RetentionOptions>;
  private readonly t: Tables;

  private constructor(
    private readonly pool: PgPoolLike,
    private readonly ownsPool: boolean,
    /** The schema the tables live in. */
    readonly schema: string,
    private readonly label: string,
    /** How many migrations this instance applied when it opened (0 when another instance had done it). */
    readonly migrationsApplied: number,
    options: PostgresStoreOptions,
  ) {
    this.t = tables(schema);
    this.retention = { ...DEFAULT_RETENTION, ...options.retention };
    this.autoPruneMs = options.autoPruneMs ?? 60_000;
  }

  /**
   * Opens a store on a `postgres://` URL (the store makes and owns a pool; `?schema=name` picks the schema)
   * or on an existing pg `Pool` (left open on close). Creates the schema and migrates it under an advisory
   * lock. Fails with ERR_ELMAH_DRIVER_MISSING without pg, ERR_ELMAH_STORE_UNAVAILABLE (transient) when
   * PostgreSQL cannot be reached.
   */
  static async open(target: string | PgPoolLike, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    let pool: PgPoolLike;
    let schema: string;
    let label: string;
    const owns = typeof target === 'string';
    if (typeof target === 'string') {
      const parsed = parseUrl(target);
      schema = checkSchemaName(options.schema ?? parsed.schema ?? DEFAULT_SCHEMA);
      label = redactUrl(schema === DEFAULT_SCHEMA ? parsed.connectionString : target);
      const pg = await loadPg();
      const own = new pg.Pool({ connectionString: parsed.connectionString, max: options.maxConnections ?? 10, connectionTimeoutMillis: 10_000 });
      // An idle connection that drops emits 'error' on the pool; without a listener Node would exit. The next
      // query simply gets a fresh connection, and a failing one reports ERR_ELMAH_STORE_UNAVAILABLE.
      own.on('error', () => undefined);
      pool = own as unknown as PgPoolLike;
    } else if (isPool(target)) {
      pool = target;
      schema = checkSchemaName(options.schema ?? DEFAULT_SCHEMA);
      label = describePool(target, schema);
    } else {
      throw new ElmahConfigError('ERR_ELMAH_STORE_URL', 'PostgresStore.open() takes a postgres:// URL or a pg Pool.', {
        help: 'Pass "postgres://user@host/db" or new pg.Pool({ connectionString }).',
      });
    }
    let applied: number;
    try {
      const client = await pool.connect().catch((err: unknown) => {
        throw storeError(err, label, 'admin');
      });
      try {
        applied = await migrate(client, schema);
        client.release();
      } catch (err) {
        client.release(err instanceof Error ? err : true);
        throw storeError(err, label, 'admin');
      }
    } catch (err) {
      if (owns) await pool.end().catch(() => undefined);
      throw err;
    }
    return new PostgresStore(pool, owns, schema, label, applied, options);
  }

  describe(): string {
    return this.label;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.ownsPool) await this.pool.end().catch(() => undefined);
  }

  private check(): void {
    if (this.closed) throw closedError('postgres');
  }

  /** One statement on any pooled connection. */
  private async query(text: string, values: unknown[], doing: Doing): Promise<Row[]> {
    this.check();
    try {
      return (await this.pool.query(text, values)).rows;
    } catch (err) {
      throw storeError(err, this.label, doing);
    }
  }

  /** Runs `work` in a transaction on one connection, again when it lost a deadlock or serialization race. */
  private async tx<T>(doing: Doing, work: (db: PgClientLike) => Promise<T>): Promise<T> {
    this.check();
    for (let attempt = 1; ; attempt++) {
      let client: PgClientLike;
      try {
        client = await this.pool.connect();
      } catch (err) {
        throw storeError(err, this.label, doing);
      }
      try {
        await client.query('BEGIN');
        const result = await work(client);
        await client.query('COMMIT');
        client.release();
        return result;
      } catch (err) {
        const broken = isConnectionError(err);
        if (!broken) await client.query('ROLLBACK').catch(() => undefined);
        client.release(broken ? (err as Error) : undefined);
        const code = String((err as { code?: unknown } | null)?.code ?? '');
        if (RETRY_STATES.has(code) && attempt < TX_TRIES) {
          await new Promise((resolve) => setTimeout(resolve, 5 * attempt + Math.random() * 20));
          continue;
        }
        throw storeError(err, this.label, doing);
      }
    }
  }

  async append(messages: readonly ErrorMessage[]): Promise<AppendResult[]> {
    this.check();
    const results: AppendResult[] = new Array(messages.length);
    const firstOf = new Map<string, number>();
    messages.forEach((m, i) => {
      const key = `${m.log}\n${m.id}`;
      if (firstOf.has(key)) results[i] = { id: m.id, status: 'duplicate' };
      else firstOf.set(key, i);
    });
    if (firstOf.size === 0) return results;
    // A fixed order (log, id) keeps concurrent batches from locking rows in opposite orders.
    const unique = [...firstOf.values()].map((i) => messages[i]!).sort((a, b) => byCode(a.log, b.log) || byCode(a.id, b.id));
    const tokens = unique.map(tokensOfMessage);
    const created = await this.tx('write', async (db) => {
      const inserted: Row[] = [];
      for (let at = 0; at < unique.length; at += INSERT_ROWS) {
        const chunk = unique.slice(at, at + INSERT_ROWS);
        const values = chunk.flatMap((m, i) => INSERT_COLUMNS.map((c) => c.value(m, tokens[at + i]!)));
        inserted.push(...(await db.query(this.insertSql(chunk.length), values)).rows);
      }
      const made = new Set(inserted.map((r) => `${String(r.log)}\n${String(r.id)}`));
      await this.upsertGroups(db, unique.filter((m) => made.has(`${m.log}\n${m.id}`)));
      return made;
    });
    for (const [key, i] of firstOf) results[i] = { id: messages[i]!.id, status: created.has(key) ? 'created' : 'duplicate' };
    await this.autoPrune(created.size, [...new Set(unique.map((m) => m.log))]);
    return results;
  }

  /**
   * A multi-row INSERT of `rows` messages. Parameters go one per value: array parameters would make the
   * server parse array literals, which is several times slower for JSON text full of quotes.
   */
  private insertSql(rows: number): string {
    const names = INSERT_COLUMNS.map((c) => c.name).join(', ');
    const tuples: string[] = [];
    let n = 0;
    for (let r = 0; r < rows; r++) {
      tuples.push(`(${INSERT_COLUMNS.map((c) => (c.expr ?? `$::${c.type}`).replace('$', `$${++n}`)).join(', ')})`);
    }
    return `INSERT INTO ${this.t.messages} (${names}) VALUES ${tuples.join(', ')}
      ON CONFLICT (log, id) DO NOTHING
      RETURNING log, id`;
  }

  /** Adds the created messages to the group aggregate, in the append's transaction. */
  private async upsertGroups(db: PgClientLike, created: readonly ErrorMessage[]): Promise<void> {
    if (created.length === 0) return;
    const deltas = new Map<string, { first: string; last: ErrorMessage; count: number }>();
    for (const m of created) {
      const key = `${m.log}\n${m.fingerprint}`;
      const d = deltas.get(key);
      if (!d) deltas.set(key, { first: m.dateTime, last: m, count: 1 });
      else {
        d.count++;
        if (m.dateTime < d.first) d.first = m.dateTime;
        if (m.dateTime > d.last.dateTime || (m.dateTime === d.last.dateTime && m.id > d.last.id)) d.last = m;
      }
    }
    const rows = [...deltas.values()].sort((a, b) => byCode(a.last.log, b.last.log) || byCode(a.last.fingerprint, b.last.fingerprint));
    const newer = '(EXCLUDED.last_seen, EXCLUDED.last_id) > (g.last_seen, g.last_id)';
    const pick = (c: string): string => `${c} = CASE WHEN ${newer} THEN EXCLUDED.${c} ELSE g.${c} END`;
    await db.query(
      `INSERT INTO ${this.t.groups} AS g (log, fingerprint, count, first_seen, last_seen, last_id, title, type, status_code)
       SELECT * FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::int4[])
       ON CONFLICT (log, fingerprint) DO UPDATE SET
         count = g.count + EXCLUDED.count,
         first_seen = LEAST(g.first_seen, EXCLUDED.first_seen),
         ${['last_seen', 'last_id', 'title', 'type', 'status_code'].map(pick).join(',\n         ')}`,
      [
        rows.map((d) => d.last.log), rows.map((d) => d.last.fingerprint), rows.map((d) => d.count), rows.map((d) => d.first),
        rows.map((d) => d.last.dateTime), rows.map((d) => d.last.id), rows.map((d) => enc(d.last.title)), rows.map((d) => enc(d.last.type)),
        rows.map((d) => d.last.statusCode ?? null),
      ],
    );
  }

  /**
   * Recomputes the aggregate of some fingerprints of one log from the messages left, after a delete in the
   * same transaction. The group rows are locked first, so a concurrent append either finished before (and
   * is counted here) or adds its own count after this commits.
   */
  private async regroup(db: PgClientLike, log: string, fingerprints: readonly string[]): Promise<void> {
    if (fingerprints.length === 0) return;
    const fps = [...fingerprints].sort(byCode);
    await db.query(`SELECT 1 FROM ${this.t.groups} WHERE log = $1 AND fingerprint = ANY($2::text[]) ORDER BY fingerprint FOR UPDATE`, [log, fps]);
    await db.query(
      `WITH agg AS (
         SELECT fingerprint, count(*) AS n, min(date_time) AS first_seen FROM ${this.t.messages}
         WHERE log = $1 AND fingerprint = ANY($2::text[]) GROUP BY fingerprint
       ), latest AS (
         SELECT DISTINCT ON (fingerprint) fingerprint, date_time, id, title, type, status_code FROM ${this.t.messages}
         WHERE log = $1 AND fingerprint = ANY($2::text[]) ORDER BY fingerprint, date_time DESC, id DESC
       )
       INSERT INTO ${this.t.groups} AS g (log, fingerprint, count, first_seen, last_seen, last_id, title, type, status_code)
       SELECT $1, agg.fingerprint, agg.n, agg.first_seen, latest.date_time, latest.id, latest.title, latest.type, latest.status_code
       FROM agg JOIN latest USING (fingerprint)
       ON CONFLICT (log, fingerprint) DO UPDATE SET count = EXCLUDED.count, first_seen = EXCLUDED.first_seen,
         last_seen = EXCLUDED.last_seen, last_id = EXCLUDED.last_id, title = EXCLUDED.title, type = EXCLUDED.type,
         status_code = EXCLUDED.status_code`,
      [log, fps],
    );
    await db.query(
      `DELETE FROM ${this.t.groups} g WHERE g.log = $1 AND g.fingerprint = ANY($2::text[])
       AND NOT EXISTS (SELECT 1 FROM ${this.t.messages} m WHERE m.log = g.log AND m.fingerprint = g.fingerprint)`,
      [log, fps],
    );
  }

  /** Retention on append, at most every `autoPruneMs`; best effort: a failed pass never fails the append. */
  private async autoPrune(created: number, logs: string[]): Promise<void> {
    if (this.autoPruneMs === false || created === 0) return;
    const now = Date.now();
    if (now - this.lastAutoPrune < this.autoPruneMs) return;
    this.lastAutoPrune = now;
    for (const log of logs) {
      // Busy or failing: the next window tries again.
      await this.prune({ log }).catch(() => undefined);
    }
  }

  async get(log: string, id: string): Promise<ErrorMessage | undefined> {
    const rows = await this.query(`SELECT ${MESSAGE_COLUMNS} FROM ${this.t.messages} m WHERE m.log = $1 AND m.id = $2`, [log, id], 'read');
    return rows[0] && toMessage(rows[0]);
  }

  async search(options: SearchOptions): Promise<SearchResult> {
    this.check();
    const size = pageSize(options.size);
    const params = new Params();
    const where = compileFilter(options, params, this.t.groups);
    const countValues = [...params.values];
    const counted = await this.query(
      `SELECT count(*)::int AS n FROM (SELECT 1 FROM ${this.t.messages} m WHERE ${where} LIMIT ${COUNT_CAP + 1}) s`,
      countValues, 'read',
    );
    const n = Number(counted[0]?.n ?? 0);
    let position = '';
    let offset = Math.min(MAX_OFFSET, pageIndex(options.page) * size);
    if (options.after !== undefined) {
      const c = decodeCursor(options.after);
      position = ` AND (m.date_time, m.id) < (${params.add(c.dateTime)}::text COLLATE "C", ${params.add(c.id)}::text COLLATE "C")`;
      offset = 0;
    }
    const limit = `LIMIT ${params.add(size + 1)} OFFSET ${params.add(offset)}`;
    // With few matches, walking the time index newest first and testing each row (the plan a LIMIT invites)
    // can read the whole table; collecting the matches first through the other indexes is then far cheaper.
    const few = options.query !== undefined && options.query.kind !== 'all' && n <= COUNT_CAP;
    const page = await this.query(
      few
        ? `WITH hits AS MATERIALIZED (SELECT m.log, m.id, m.date_time FROM ${this.t.messages} m WHERE ${where}${position}),
             top AS (SELECT log, id, date_time FROM hits ORDER BY date_time DESC, id DESC ${limit})
           SELECT ${MESSAGE_COLUMNS} FROM top JOIN ${this.t.messages} m ON m.log = top.log AND m.id = top.id
           ORDER BY m.date_time DESC, m.id DESC`
        : `SELECT ${MESSAGE_COLUMNS} FROM ${this.t.messages} m WHERE ${where}${position}
           ORDER BY m.date_time DESC, m.id DESC ${limit}`,
      params.values, 'read',
    );
    const messages = page.slice(0, size).map(toMessage);
    const last = messages[messages.length - 1];
    return {
      messages,
      total: n,
      totalExact: n <= COUNT_CAP,
      after: page.length > size && last ? encodeCursor(last.dateTime, last.id) : undefined,
    };
  }

  async groups(options: GroupOptions): Promise<GroupResult> {
    this.check();
    const size = pageSize(options.size);
    const offset = Math.min(MAX_OFFSET, pageIndex(options.page) * size);
    const params = new Params();
    if (!options.query && options.from === undefined && options.to === undefined) {
      const logs = filterLogs(options.log);
      const where = logs === undefined ? 'TRUE' : `g.log = ANY(${params.add(logs)}::text[])`;
      const countValues = [...params.values];
      const rows = await this.query(
        `SELECT g.* FROM ${this.t.groups} g WHERE ${where} ORDER BY g.last_seen DESC, g.last_id DESC, g.log
         LIMIT ${params.add(size)} OFFSET ${params.add(offset)}`,
        params.values, 'read',
      );
      const total = await this.query(`SELECT count(*)::int AS n FROM ${this.t.groups} g WHERE ${where}`, countValues, 'read');
      return { groups: rows.map(toGroup), total: Number(total[0]?.n ?? 0) };
    }
    // A filtered view groups the matching messages themselves.
    const where = compileFilter(options, params, this.t.groups);
    const rows = await this.query(
      `WITH f AS (
         SELECT m.log, m.fingerprint, m.date_time, m.id, m.title, m.type, m.status_code FROM ${this.t.messages} m WHERE ${where}
       ), agg AS (
         SELECT log, fingerprint, count(*) AS count, min(date_time) AS first_seen FROM f GROUP BY log, fingerprint
       ), latest AS (
         SELECT DISTINCT ON (log, fingerprint) log, fingerprint, date_time AS last_seen, id AS last_id, title, type, status_code
         FROM f ORDER BY log, fingerprint, date_time DESC, id DESC
       )
       SELECT (SELECT count(*) FROM agg)::int AS total,
         (SELECT coalesce(json_agg(p), '[]'::json) FROM (
            SELECT agg.log, agg.fingerprint, agg.count, agg.first_seen, latest.last_seen, latest.last_id, latest.title, latest.type, latest.status_code
            FROM agg JOIN latest USING (log, fingerprint)
            ORDER BY latest.last_seen DESC, latest.last_id DESC, agg.log
            LIMIT ${params.add(size)} OFFSET ${params.add(offset)}) p) AS groups`,
      params.values, 'read',
    );
    const r = rows[0] ?? {};
    return { groups: (Array.isArray(r.groups) ? (r.groups as Row[]) : []).map(toGroup), total: Number(r.total ?? 0) };
  }

  async histogram(options: HistogramOptions): Promise<HistogramResult> {
    this.check();
    const { start, end, bucketMs, n } = histogramBuckets(options.from, options.to, options.buckets);
    const from = new Date(start).toISOString();
    const to = new Date(end).toISOString();
    const params = new Params();
    const filter: MessageFilter = {
      ...options,
      from: Date.parse(options.from) > start ? options.from : from,
      to: Date.parse(options.to) < end ? options.to : to,
    };
    const where = compileFilter(filter, params, this.t.groups);
    const rows = await this.query(
      `SELECT floor((m.at_ms - ${params.add(start)}::int8)::float8 / ${params.add(bucketMs)}::float8)::int8 AS i, count(*)::int AS n
       FROM ${this.t.messages} m WHERE ${where} GROUP BY 1`,
      params.values, 'read',
    );
    const counts = new Array<number>(n).fill(0);
    for (const r of rows) {
      const i = Number(r.i);
      if (i >= 0 && i < n) counts[i] = Number(r.n);
    }
    return { from, to, bucketMs, counts };
  }

  async neighbours(log: string, id: string): Promise<{ newer?: string | undefined; older?: string | undefined }> {
    const rows = await this.query(
      `WITH me AS (SELECT date_time, id FROM ${this.t.messages} WHERE log = $1 AND id = $2)
       SELECT
         (SELECT m.id FROM ${this.t.messages} m, me WHERE m.log = $1 AND (m.date_time, m.id) > (me.date_time, me.id)
          ORDER BY m.date_time, m.id LIMIT 1) AS newer,
         (SELECT m.id FROM ${this.t.messages} m, me WHERE m.log = $1 AND (m.date_time, m.id) < (me.date_time, me.id)
          ORDER BY m.date_time DESC, m.id DESC LIMIT 1) AS older,
         EXISTS (SELECT 1 FROM me) AS found`,
      [log, id], 'read',
    );
    const r = rows[0];
    if (!r?.found) return {};
    return { newer: optStr(r.newer), older: optStr(r.older) };
  }

  async delete(log: string, target: DeleteTarget): Promise<number> {
    this.check();
    const params = new Params();
    const where = 'ids' in target
      ? `m.log = ${params.add(log)} AND m.id = ANY(${params.add([...target.ids])}::text[])`
      : compileFilter({ ...target.filter, log }, params, this.t.groups);
    return this.deleteWhere(log, where, params.values, 'read');
  }

  /** Deletes the messages of one log matching `where` and corrects their groups, in one transaction. */
  private deleteWhere(log: string, where: string, values: unknown[], doing: Doing): Promise<number> {
    return this.tx(doing, async (db) => {
      const { rows } = await db.query(
        `WITH d AS (DELETE FROM ${this.t.messages} m WHERE ${where} RETURNING m.fingerprint)
         SELECT fingerprint, count(*)::int AS n FROM d GROUP BY fingerprint`,
        values,
      );
      await this.regroup(db, log, rows.map((r) => String(r.fingerprint)));
      return rows.reduce((sum, r) => sum + Number(r.n), 0);
    });
  }

  async prune(options: RetentionOptions & { log?: string | undefined; now?: Date | undefined } = {}): Promise<number> {
    this.check();
    const maxAgeDays = options.maxAgeDays ?? this.retention.maxAgeDays;
    const maxCount = options.maxCount ?? this.retention.maxCount;
    const limit = Number.isFinite(maxAgeDays) ? cutoff(maxAgeDays, options.now) : undefined;
    const logs = options.log !== undefined
      ? [options.log]
      : (await this.query(`SELECT DISTINCT log FROM ${this.t.groups} ORDER BY log`, [], 'admin')).map((r) => String(r.log));
    let removed = 0;
    for (const log of logs) {
      if (limit !== undefined) {
        removed += await this.deleteWhere(log, `m.log = $1 AND m.date_time < $2::text COLLATE "C"`, [log, limit], 'admin');
      }
      if (Number.isFinite(maxCount) && maxCount >= 0) {
        const keep = Math.floor(maxCount);
        const edge = await this.query(
          `SELECT date_time, id FROM ${this.t.messages} WHERE log = $1 ORDER BY date_time DESC, id DESC OFFSET $2 LIMIT 1`,
          [log, keep], 'admin',
        );
        const e = edge[0];
        if (e) {
          removed += await this.deleteWhere(
            log, `m.log = $1 AND (m.date_time, m.id) <= ($2::text COLLATE "C", $3::text COLLATE "C")`, [log, e.date_time, e.id], 'admin',
          );
        }
      }
    }
    return removed;
  }

  async logs(): Promise<LogSummary[]> {
    const rows = await this.query(
      `SELECT log, sum(count)::int8 AS n, max(last_seen) AS last_seen FROM ${this.t.groups} GROUP BY log`, [], 'read',
    );
    return rows
      .map((r) => ({ name: String(r.log), count: Number(r.n), lastSeen: optStr(r.last_seen) }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  async putKey(record: KeyRecord): Promise<void> {
    this.check();
    try {
      await this.pool.query(
        `INSERT INTO ${this.t.keys} (id, name, permissions, logs, hash, created, expires, revoked) VALUES ($1, $2, $3::jsonb, $4::jsonb, $5, $6, $7, $8)`,
        [record.id, enc(record.name), JSON.stringify(record.permissions), JSON.stringify(record.logs.map(enc)), record.hash, record.created,
          record.expires ?? null, record.revoked ?? null],
      );
    } catch (err) {
      if ((err as { code?: unknown } | null)?.code === '23505') {
        throw new ElmahError('ERR_ELMAH_CONFIG', `Key id ${record.id} exists.`, { help: 'Create a new key; key ids are unique.' });
      }
      throw storeError(err, this.label, 'admin');
    }
  }

  async getKey(id: string): Promise<KeyRecord | undefined> {
    const rows = await this.query(`SELECT * FROM ${this.t.keys} WHERE id = $1`, [id], 'read');
    return rows[0] && toKey(rows[0]);
  }

  async listKeys(): Promise<KeyRecord[]> {
    const rows = await this.query(`SELECT * FROM ${this.t.keys}`, [], 'read');
    return rows.map(toKey).sort((a, b) => a.created.localeCompare(b.created) || a.id.localeCompare(b.id));
  }

  async revokeKey(id: string, at: Date = new Date()): Promise<boolean> {
    const rows = await this.query(
      `UPDATE ${this.t.keys} SET revoked = coalesce(revoked, $2) WHERE id = $1 RETURNING id`, [id, at.toISOString()], 'admin',
    );
    return rows.length > 0;
  }
}

function toKey(r: Row): KeyRecord {
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
