// PostgreSQL driver: loading pg on demand, the pool shape the store needs, and turning pg
// and network failures into coded ElmahErrors.
import type * as Pg from 'pg';
import { ElmahError, isElmahError } from '../../model/errors.js';
import { redactUrl } from '../url.js';

/** A row as pg returns it. */
export type Row = Record<string, unknown>;

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

/** Default schema when neither the option nor `?schema=` names one. */
export const DEFAULT_SCHEMA = 'public';

/** Loads pg on demand: it is an optional peer dependency. */
export async function loadPg(): Promise<typeof Pg> {
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
export function isPool(value: unknown): value is PgPoolLike {
  if (typeof value !== 'object' || value === null) return false;
  const p = value as Record<string, unknown>;
  return typeof p.query === 'function' && typeof p.connect === 'function' && typeof p.end === 'function';
}

/** A safe description of a pool passed in: `postgres://user@host:port/db`. */
export function describePool(pool: PgPoolLike, schema: string): string {
  const o =
    (pool as { options?: { connectionString?: string; user?: string; host?: string; port?: number; database?: string } }).options ?? {};
  const base = o.connectionString
    ? redactUrl(o.connectionString)
    : `postgres://${o.user ? `${encodeURIComponent(o.user)}@` : ''}${o.host ?? 'localhost'}${o.port ? `:${o.port}` : ''}/${o.database ?? ''}`;
  return schema === DEFAULT_SCHEMA ? base : `${base} (schema ${schema})`;
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNABORTED',
]);
/** SQLSTATEs after which the server is (for now) out of reach: shutdown, too many connections, out of resources. */
const UNAVAILABLE_STATES = new Set(['57P01', '57P02', '57P03', '53300', '53400', '58000', '58030']);
/** SQLSTATEs a retry of the whole transaction cures. */
export const RETRY_STATES = new Set(['40001', '40P01']);

/** What was being done, so that a data error names the right culprit. */
export type Doing = 'read' | 'write' | 'admin';

/** The SQLSTATE (or Node error code) of a failure, or ''. */
export function errorCode(err: unknown): string {
  return String((err as { code?: unknown } | null)?.code ?? '');
}

/** True when a pg error means the connection is gone (the pool client must be destroyed). */
export function isConnectionError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const code = errorCode(err);
  const message = String((err as { message?: unknown }).message ?? '');
  return (
    NETWORK_CODES.has(code) ||
    code.startsWith('08') ||
    UNAVAILABLE_STATES.has(code) ||
    /Connection terminated|connection error|timeout exceeded when trying to connect|Client was closed|not queryable/i.test(message)
  );
}

/** Turns a pg or network failure into an ElmahError; transient ones say so, so that the shipper retries. */
export function storeError(err: unknown, where: string, doing: Doing): ElmahError {
  if (isElmahError(err)) return err;
  const code = errorCode(err);
  const text = err instanceof Error ? err.message : String(err);
  if (isConnectionError(err)) {
    return new ElmahError('ERR_ELMAH_STORE_UNAVAILABLE', `PostgreSQL at ${where} is unreachable: ${text}`, {
      help: 'Check that PostgreSQL is running and reachable; the call can be retried (appends are idempotent).',
      transient: true,
      cause: err,
    });
  }
  if (RETRY_STATES.has(code) || code === '55P03') {
    return new ElmahError('ERR_ELMAH_STORE_BUSY', `PostgreSQL at ${where} is busy: ${text}`, {
      help: 'Retry the call; many writers hit the same rows at once.',
      transient: true,
      cause: err,
    });
  }
  if (code === '57014') {
    return new ElmahError('ERR_ELMAH_TIMEOUT', `PostgreSQL at ${where} cancelled a statement: ${text}`, {
      help: 'Narrow the search (a time range or a log), or raise statement_timeout.',
      transient: true,
      cause: err,
    });
  }
  if (code === '28P01' || code === '28000' || code === '3D000') {
    return new ElmahError('ERR_ELMAH_STORE_UNAVAILABLE', `PostgreSQL at ${where} refused the login: ${text}`, {
      help: 'Check the user, password and database name in the store URL.',
      cause: err,
    });
  }
  if (code === '42501') {
    return new ElmahError('ERR_ELMAH_STORE_UNAVAILABLE', `PostgreSQL at ${where} denied access: ${text}`, {
      help: 'Grant the database user CREATE on the database (or create the schema for it) and rights on the elmah_* tables.',
      cause: err,
    });
  }
  if (code === '42P01' || code === '42703' || code === '3F000') {
    return new ElmahError('ERR_ELMAH_STORE_CORRUPT', `The express-elmah tables at ${where} are missing or changed: ${text}`, {
      help: 'Reopen the store so it migrates, or check that nothing else altered the elmah_* tables.',
      cause: err,
    });
  }
  if (code.startsWith('22') || code.startsWith('54')) {
    if (doing === 'read')
      return new ElmahError('ERR_ELMAH_QUERY', `PostgreSQL could not run the search: ${text}`, { help: 'Simplify the query.', cause: err });
    if (doing === 'write')
      return new ElmahError('ERR_ELMAH_INVALID_MESSAGE', `PostgreSQL refused a message: ${text}`, {
        help: 'Check the message fields.',
        cause: err,
      });
  }
  return new ElmahError('ERR_ELMAH_STORE_UNAVAILABLE', `PostgreSQL at ${where} failed${code ? ` (${code})` : ''}: ${text}`, {
    help: 'See the PostgreSQL server log for details.',
    cause: err,
  });
}

/** Tries of a transaction that lost a deadlock or serialization race. */
const TX_TRIES = 5;

/** Statements and transactions on a pool, with failures turned into ElmahErrors. */
export class Sql {
  constructor(
    private readonly pool: PgPoolLike,
    /** Where the store connects, safe to show. */
    readonly label: string,
    /** Throws when the store is closed. */
    private readonly check: () => void,
  ) {}

  /** One statement on any pooled connection. */
  async query(text: string, values: unknown[], doing: Doing): Promise<Row[]> {
    this.check();
    try {
      return (await this.pool.query(text, values)).rows;
    } catch (err) {
      throw storeError(err, this.label, doing);
    }
  }

  /** Runs `work` in a transaction on one connection, again when it lost a deadlock or serialization race. */
  async tx<T>(doing: Doing, work: (db: PgClientLike) => Promise<T>): Promise<T> {
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
        if (RETRY_STATES.has(errorCode(err)) && attempt < TX_TRIES) {
          await new Promise((resolve) => setTimeout(resolve, 5 * attempt + Math.random() * 20));
          continue;
        }
        throw storeError(err, this.label, doing);
      }
    }
  }
}
