// The SQLite schema, versioned in the elmah_meta table and migrated forward on open inside one transaction.
import type BetterSqlite3 from 'better-sqlite3';
import { ElmahError } from '../model/errors.js';

/** The schema version this code writes and reads. */
export const SCHEMA_VERSION = 1;

const TOKENIZER = "tokenize = 'unicode61 remove_diacritics 2'";

/**
 * Migrations, index i brings a database from version i to i + 1. Every table is prefixed `elmah_` so that the
 * store can live in an application's own database; the version lives in elmah_meta, not PRAGMA user_version,
 * which belongs to the application.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE IF NOT EXISTS elmah_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;

  -- title, type, source and detail, stored once per distinct combination: a repeated stack trace costs one row
  -- and one full-text entry. Found again by hkey (48 bits of the SHA-256 in hash); new texts get increasing tids
  -- so that they land at the end of the table and of its indexes. A text no message uses any more is removed.
  CREATE TABLE elmah_texts (
    tid INTEGER PRIMARY KEY,
    hkey INTEGER NOT NULL,
    hash BLOB NOT NULL,
    title TEXT NOT NULL,
    type TEXT NOT NULL,
    source TEXT,
    detail TEXT
  );
  CREATE INDEX elmah_texts_hkey ON elmah_texts (hkey);
  CREATE VIRTUAL TABLE elmah_texts_fts USING fts5(title, type, detail, source, content = '', contentless_delete = 1, ${TOKENIZER});

  CREATE TABLE elmah_messages (
    rid INTEGER PRIMARY KEY,
    log TEXT NOT NULL,
    id TEXT NOT NULL,
    date_time TEXT NOT NULL,
    tid INTEGER NOT NULL,
    type TEXT NOT NULL,
    status_code INTEGER,
    severity TEXT NOT NULL,
    url TEXT,
    method TEXT,
    user_name TEXT,
    hostname TEXT,
    application TEXT,
    version TEXT,
    correlation_id TEXT,
    category TEXT,
    fingerprint TEXT NOT NULL,
    lists TEXT
  );
  CREATE UNIQUE INDEX elmah_messages_id ON elmah_messages (log, id);
  CREATE INDEX elmah_messages_list ON elmah_messages (log, date_time DESC, id DESC);
  CREATE INDEX elmah_messages_group ON elmah_messages (log, fingerprint, date_time);
  -- log second: a field search in one log counts its matches from the index alone.
  CREATE INDEX elmah_messages_status ON elmah_messages (status_code, log, date_time);
  CREATE INDEX elmah_messages_type ON elmah_messages (type COLLATE NOCASE, log, date_time);
  CREATE INDEX elmah_messages_time ON elmah_messages (date_time, id);
  CREATE INDEX elmah_messages_text ON elmah_messages (tid, log, date_time);
  CREATE VIRTUAL TABLE elmah_messages_fts USING fts5(url, user_name, hostname, content = '', contentless_delete = 1, ${TOKENIZER});

  -- Kept current on append, corrected on delete and prune: grouped views never GROUP BY over messages.
  CREATE TABLE elmah_groups (
    log TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    count INTEGER NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    last_id TEXT NOT NULL,
    title TEXT NOT NULL,
    type TEXT NOT NULL,
    status_code INTEGER,
    PRIMARY KEY (log, fingerprint)
  ) WITHOUT ROWID;
  CREATE INDEX elmah_groups_recent ON elmah_groups (last_seen DESC, last_id DESC);

  -- Per-log message counter and newest time, for unfiltered totals and logs().
  CREATE TABLE elmah_logs (log TEXT PRIMARY KEY, count INTEGER NOT NULL, last_seen TEXT) WITHOUT ROWID;

  -- API keys: the SHA-256 of the secret only, never the secret.
  CREATE TABLE elmah_keys (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    permissions TEXT NOT NULL,
    logs TEXT NOT NULL,
    hash TEXT NOT NULL,
    created TEXT NOT NULL,
    expires TEXT,
    revoked TEXT
  ) WITHOUT ROWID;
  `,
];

/** The schema version of a database: 0 when it holds no elmah tables yet. */
export function schemaVersion(db: BetterSqlite3.Database): number {
  const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'elmah_meta'").get();
  if (!table) return 0;
  const row = db.prepare("SELECT value FROM elmah_meta WHERE key = 'schema_version'").get() as { value: string } | undefined;
  return row ? Number(row.value) : 0;
}

function newerError(found: number): ElmahError {
  return new ElmahError('ERR_ELMAH_STORE_VERSION', `The SQLite store has schema version ${found}; this version of express-elmah reads up to ${SCHEMA_VERSION}.`, {
    help: 'Upgrade express-elmah, or point ELMAH_STORE at another file.',
  });
}

/**
 * Brings the database to {@link SCHEMA_VERSION}. Reads the version without a write lock first, so an
 * up-to-date database opens without waiting for writers; migrations run in one IMMEDIATE transaction.
 */
export function migrate(db: BetterSqlite3.Database): void {
  const seen = schemaVersion(db);
  if (seen > SCHEMA_VERSION) throw newerError(seen);
  if (seen === SCHEMA_VERSION) return;
  db.transaction(() => {
    const found = schemaVersion(db);
    if (found > SCHEMA_VERSION) throw newerError(found);
    for (let v = found; v < SCHEMA_VERSION; v++) db.exec(MIGRATIONS[v]!);
    db.prepare("INSERT INTO elmah_meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(
      String(SCHEMA_VERSION),
    );
  }).immediate();
}
