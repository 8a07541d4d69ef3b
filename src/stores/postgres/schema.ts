// PostgreSQL schema: table names in the chosen schema, and versioned migrations run under an advisory lock
// so that many instances starting together migrate once.
import { ElmahConfigError, ElmahError } from '../../model/errors.js';
import { foldedColumn } from './query.js';

/** Escapes an SQL identifier (a schema name) by doubling quotes. */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

/** Checks a schema name: 1–63 bytes (PostgreSQL silently cuts longer names), no NUL. */
export function checkSchemaName(name: unknown): string {
  if (typeof name !== 'string' || name.length === 0 || Buffer.byteLength(name) > 63 || name.includes('\u0000')) {
    throw new ElmahConfigError('ERR_ELMAH_SCHEMA_NAME', `Invalid PostgreSQL schema name ${JSON.stringify(name)}.`, {
      help: 'Use a name of 1 to 63 bytes, e.g. schema: "elmah" or postgres://…/db?schema=elmah.',
    });
  }
  return name;
}

/** Fully qualified, escaped table names for one schema. */
export interface Tables {
  schema: string;
  messages: string;
  groups: string;
  keys: string;
  tallies: string;
  sessionsEnded: string;
  deployments: string;
  migrations: string;
}

/** The table names of the store in `schema`. */
export function tables(schema: string): Tables {
  const s = quoteIdent(schema);
  return {
    schema: s,
    messages: `${s}.elmah_messages`,
    groups: `${s}.elmah_groups`,
    keys: `${s}.elmah_keys`,
    tallies: `${s}.elmah_tallies`,
    sessionsEnded: `${s}.elmah_sessions_ended`,
    deployments: `${s}.elmah_deployments`,
    migrations: `${s}.elmah_migrations`,
  };
}

/** Advisory lock class of this package ("ELMH"); the second key is hashtext(schema). */
export const LOCK_CLASS = 0x454c4d48;

/** One migration: a version and the statements that take the schema to it. */
export interface Migration {
  version: number;
  description: string;
  statements: (t: Tables) => string[];
}

/*
 * Text that is ordered or compared by range (log, id, times, fingerprint) uses COLLATE "C" so that it sorts
 * as JavaScript compares strings, whatever the database's locale. Strings are stored through enc() (see
 * codec.ts) because PostgreSQL text cannot hold U+0000.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'messages, group aggregate, keys',
    statements: (t) => [
      `CREATE TABLE ${t.messages} (
        log text COLLATE "C" NOT NULL,
        id text COLLATE "C" NOT NULL,
        date_time text COLLATE "C" NOT NULL,
        at_ms bigint NOT NULL,
        title text NOT NULL,
        type text NOT NULL,
        detail text,
        source text,
        status_code integer,
        severity text NOT NULL,
        url text,
        method text,
        user_name text,
        hostname text,
        application text,
        version text,
        correlation_id text,
        category text,
        fingerprint text COLLATE "C" NOT NULL,
        server_variables jsonb NOT NULL DEFAULT '[]',
        cookies jsonb NOT NULL DEFAULT '[]',
        form jsonb NOT NULL DEFAULT '[]',
        query_string jsonb NOT NULL DEFAULT '[]',
        data jsonb NOT NULL DEFAULT '[]',
        tk_title text COLLATE "C" NOT NULL,
        tk_type text COLLATE "C" NOT NULL,
        tk_detail text COLLATE "C" NOT NULL,
        tk_url text COLLATE "C" NOT NULL,
        tk_source text COLLATE "C" NOT NULL,
        tk_user text COLLATE "C" NOT NULL,
        tk_hostname text COLLATE "C" NOT NULL,
        tsv tsvector NOT NULL,
        tsv_everything boolean NOT NULL,
        PRIMARY KEY (log, id)
      )`,
      // at_ms rides along so that histograms (the viewer's charts and sparklines) are index-only scans.
      `CREATE INDEX elmah_messages_log_time ON ${t.messages} (log, date_time DESC, id DESC) INCLUDE (at_ms)`,
      `CREATE INDEX elmah_messages_time ON ${t.messages} (date_time DESC, id DESC) INCLUDE (at_ms)`,
      `CREATE INDEX elmah_messages_group ON ${t.messages} (log, fingerprint, date_time DESC, id DESC) INCLUDE (at_ms)`,
      `CREATE INDEX elmah_messages_tsv ON ${t.messages} USING gin (tsv)`,
      `CREATE INDEX elmah_messages_type ON ${t.messages} (${foldedColumn('type', '')})`,
      `CREATE TABLE ${t.groups} (
        log text COLLATE "C" NOT NULL,
        fingerprint text COLLATE "C" NOT NULL,
        count bigint NOT NULL,
        first_seen text COLLATE "C" NOT NULL,
        last_seen text COLLATE "C" NOT NULL,
        last_id text COLLATE "C" NOT NULL,
        title text NOT NULL,
        type text NOT NULL,
        status_code integer,
        PRIMARY KEY (log, fingerprint)
      )`,
      `CREATE INDEX elmah_groups_recent ON ${t.groups} (last_seen DESC, last_id DESC)`,
      `CREATE TABLE ${t.keys} (
        id text COLLATE "C" PRIMARY KEY,
        name text NOT NULL,
        permissions jsonb NOT NULL,
        logs jsonb NOT NULL,
        hash text NOT NULL,
        created text COLLATE "C" NOT NULL,
        expires text,
        revoked text
      )`,
    ],
  },
  {
    version: 2,
    description: 'counted-only occurrences (tallies)',
    statements: (t) => [
      // last_kept: the time of the representative (the newest stored message), '' while only tallies name the
      // group; last_seen also counts tallies, so the two differ once a group has any.
      `ALTER TABLE ${t.groups} ADD COLUMN counted_only bigint NOT NULL DEFAULT 0,
        ADD COLUMN last_kept text COLLATE "C" NOT NULL DEFAULT ''`,
      `UPDATE ${t.groups} SET last_kept = last_seen`,
      // The per-minute counts are two parallel arrays (minute start in ms, count): compact, and unnest() reads
      // them without parsing JSON; first_minute and last_minute bound them for the histogram.
      `CREATE TABLE ${t.tallies} (
        log text COLLATE "C" NOT NULL,
        id text COLLATE "C" NOT NULL,
        fingerprint text COLLATE "C" NOT NULL,
        count bigint NOT NULL,
        first_seen text COLLATE "C" NOT NULL,
        last_seen text COLLATE "C" NOT NULL,
        title text NOT NULL,
        type text NOT NULL,
        status_code integer,
        minute_at bigint[] NOT NULL,
        minute_n bigint[] NOT NULL,
        first_minute bigint NOT NULL,
        last_minute bigint NOT NULL,
        PRIMARY KEY (log, id)
      )`,
      `CREATE INDEX elmah_tallies_group ON ${t.tallies} (log, fingerprint, last_seen DESC, id DESC)`,
      `CREATE INDEX elmah_tallies_time ON ${t.tallies} (log, last_seen)`,
    ],
  },
  {
    version: 3,
    description: 'viewer sessions ended before their expiry',
    statements: (t) => [`CREATE TABLE ${t.sessionsEnded} (sid text COLLATE "C" PRIMARY KEY, until text COLLATE "C" NOT NULL)`],
  },
  {
    version: 4,
    description: 'deployments',
    statements: (t) => [
      `CREATE TABLE ${t.deployments} (
        id text COLLATE "C" PRIMARY KEY,
        version text NOT NULL,
        created text COLLATE "C" NOT NULL,
        description text,
        user_name text,
        user_email text,
        log text COLLATE "C"
      )`,
      `CREATE INDEX elmah_deployments_time ON ${t.deployments} (created DESC, id DESC)`,
    ],
  },
  {
    version: 5,
    description: 'group state (triage)',
    // status and regressed are columns for the filters; triage holds the whole state as JSON text (NULL for a
    // group never triaged, which is plain open). Existing groups become open. No index on status: every append
    // would rewrite it (last_seen moves), while a listing by state walks the recent-groups index.
    statements: (t) => [
      `ALTER TABLE ${t.groups} ADD COLUMN status text COLLATE "C" NOT NULL DEFAULT 'open',
        ADD COLUMN regressed boolean NOT NULL DEFAULT false,
        ADD COLUMN triage text`,
    ],
  },
  {
    version: 6,
    description: 'message context (breadcrumbs, source lines, JSON body)',
    // One JSON text (text, not jsonb: kept exactly as written, and never searched): NULL for a message without
    // them, which every message written before is.
    statements: (t) => [`ALTER TABLE ${t.messages} ADD COLUMN context text`],
  },
];

/** The newest schema version this code knows. */
export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** The little of a pg client that migrating needs. */
export interface SqlRunner {
  query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }>;
}

/** The schema's version, or undefined when it has no migrations table yet. */
async function currentVersion(db: SqlRunner, t: Tables): Promise<number | undefined> {
  const { rows } = await db.query('SELECT to_regclass($1) IS NOT NULL AS present', [t.migrations]);
  if (!rows[0]?.present) return undefined;
  const r = await db.query(`SELECT coalesce(max(version), 0)::int AS v FROM ${t.migrations}`);
  return Number(r.rows[0]?.v ?? 0);
}

/**
 * Brings the schema to {@link SCHEMA_VERSION}: creates it when missing and applies each missing migration
 * in its own transaction, all under a session advisory lock keyed by the schema name, so that instances
 * starting together migrate once. `db` must be one connection (the lock belongs to the session).
 * Returns how many migrations this call applied.
 */
export async function migrate(db: SqlRunner, schema: string): Promise<number> {
  const t = tables(schema);
  const known = await currentVersion(db, t);
  if (known !== undefined) checkNotNewer(known, schema);
  if (known === SCHEMA_VERSION) return 0;
  await db.query('SELECT pg_advisory_lock($1, hashtext($2))', [LOCK_CLASS, schema]);
  try {
    const exists = await db.query('SELECT 1 FROM pg_namespace WHERE nspname = $1', [schema]);
    if (exists.rows.length === 0) await db.query(`CREATE SCHEMA IF NOT EXISTS ${t.schema}`);
    await db.query(`CREATE TABLE IF NOT EXISTS ${t.migrations} (
      version integer PRIMARY KEY,
      description text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
    const current = (await currentVersion(db, t)) ?? 0;
    checkNotNewer(current, schema);
    let applied = 0;
    for (const m of MIGRATIONS) {
      if (m.version <= current) continue;
      await db.query('BEGIN');
      try {
        for (const statement of m.statements(t)) await db.query(statement);
        await db.query(`INSERT INTO ${t.migrations} (version, description) VALUES ($1, $2)`, [m.version, m.description]);
        await db.query('COMMIT');
      } catch (err) {
        await db.query('ROLLBACK').catch(() => undefined);
        throw err;
      }
      applied++;
    }
    return applied;
  } finally {
    await db.query('SELECT pg_advisory_unlock($1, hashtext($2))', [LOCK_CLASS, schema]).catch(() => undefined);
  }
}

function checkNotNewer(version: number, schema: string): void {
  if (version > SCHEMA_VERSION) {
    throw new ElmahError(
      'ERR_ELMAH_STORE_VERSION',
      `The PostgreSQL schema "${schema}" is at version ${version}; this version of express-elmah reads up to ${SCHEMA_VERSION}.`,
      {
        help: 'Upgrade express-elmah on this instance to the version the other instances run.',
      },
    );
  }
}
