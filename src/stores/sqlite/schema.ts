// The SQLite schema, versioned in the elmah_meta table and migrated forward on open inside one transaction.
import type BetterSqlite3 from 'better-sqlite3';
import { ElmahError } from '../../model/errors.js';

/** The schema version this code writes and reads. */
export const SCHEMA_VERSION = 5;

const TOKENIZER = "tokenize = 'unicode61 remove_diacritics 2'";

/** The tables of version 2, created on a new database and by the migration from version 1. */
const V2_TABLES = `
  -- Type, source and the frames of a detail, stored once per distinct combination: the part of an error that
  -- repeats across occurrences costs one row and one full-text entry. Found again by hkey (48 bits of the
  -- SHA-256 in hash); a stack no message uses any more is removed.
  CREATE TABLE elmah_stacks (
    sid INTEGER PRIMARY KEY,
    hkey INTEGER NOT NULL,
    hash BLOB NOT NULL,
    type TEXT NOT NULL,
    source TEXT,
    frames TEXT
  );
  CREATE INDEX elmah_stacks_hkey ON elmah_stacks (hkey);
  CREATE INDEX elmah_stacks_type ON elmah_stacks (type COLLATE NOCASE);
  CREATE VIRTUAL TABLE elmah_stacks_fts USING fts5(type, frames, source, content = '', contentless_delete = 1, ${TOKENIZER});

  -- One row per occurrence kept in full. shape says how the head of the detail is kept (see codec.ts);
  -- severity is its index in SEVERITIES; lists holds the five key/value lists (see dictionary.ts).
  CREATE TABLE elmah_messages (
    rid INTEGER PRIMARY KEY,
    log TEXT NOT NULL,
    id TEXT NOT NULL,
    date_time TEXT NOT NULL,
    sid INTEGER NOT NULL,
    shape INTEGER NOT NULL,
    title TEXT NOT NULL,
    head TEXT,
    status_code INTEGER,
    severity INTEGER NOT NULL,
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
  CREATE INDEX elmah_messages_list ON elmah_messages (log, date_time, id);
  CREATE INDEX elmah_messages_group ON elmah_messages (log, fingerprint, date_time);
  CREATE INDEX elmah_messages_stack ON elmah_messages (log, sid);
  CREATE INDEX elmah_messages_time ON elmah_messages (date_time, id);
  -- Every token carries its log's code (see ftsLogText), so a search in one log reads that log's entries only.
  -- Contentless without contentless_delete: a removed message's entries are deleted by giving its text back
  -- ('delete' command), which costs about what the insert did; tombstones made large deletes slow to commit.
  CREATE VIRTUAL TABLE elmah_messages_fts USING fts5(title, head, url, user_name, hostname, content = '', ${TOKENIZER});
  -- Merging is driven by the store in bounded steps (a 'merge' with each append): automatic merging at commit
  -- and the all-at-once crisis merge could hold one append for a long time on a large index.
  INSERT INTO elmah_messages_fts (elmah_messages_fts, rank) VALUES ('automerge', 0);
  INSERT INTO elmah_messages_fts (elmah_messages_fts, rank) VALUES ('crisismerge', 64);
  CREATE TABLE elmah_log_codes (code INTEGER PRIMARY KEY, log TEXT NOT NULL UNIQUE);

  -- Kept current on append, tally, delete and prune: grouped views never GROUP BY over messages. last_msg and
  -- last_id name the newest stored occurrence (NULL and '' when only counted-only occurrences are known).
  CREATE TABLE elmah_groups (
    log TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    count INTEGER NOT NULL,
    counted_only INTEGER NOT NULL DEFAULT 0,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    last_msg TEXT,
    last_id TEXT NOT NULL,
    title TEXT NOT NULL,
    type TEXT NOT NULL,
    status_code INTEGER,
    PRIMARY KEY (log, fingerprint)
  ) WITHOUT ROWID;
  CREATE INDEX elmah_groups_recent ON elmah_groups (last_seen DESC, last_id DESC);

  -- Occurrences counted but not kept in full, one row per tally a sender made.
  CREATE TABLE elmah_tallies (
    log TEXT NOT NULL,
    id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    count INTEGER NOT NULL,
    first_seen TEXT NOT NULL,
    last_seen TEXT NOT NULL,
    minutes TEXT NOT NULL,
    PRIMARY KEY (log, id)
  ) WITHOUT ROWID;
  CREATE INDEX elmah_tallies_seen ON elmah_tallies (log, last_seen);
  CREATE INDEX elmah_tallies_group ON elmah_tallies (log, fingerprint);

  -- Names and name/value pairs of the key/value lists that repeat across messages (header names, a user agent,
  -- [Filtered] cookies): a message's lists refer to them by number (see dictionary.ts). Never removed; bounded.
  CREATE TABLE elmah_names (nid INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
  CREATE TABLE elmah_pairs (pid INTEGER PRIMARY KEY, nid INTEGER NOT NULL, value TEXT NOT NULL, UNIQUE (nid, value));

  -- Per-log message counter and newest time, for unfiltered totals, logs() and retention's cheap check.
  CREATE TABLE elmah_logs (log TEXT PRIMARY KEY, count INTEGER NOT NULL, last_seen TEXT) WITHOUT ROWID;
`;

/** Viewer sessions ended (signed out) before their expiry: a copied cookie stops working everywhere. */
const SESSIONS_TABLE = 'CREATE TABLE IF NOT EXISTS elmah_sessions_ended (sid TEXT PRIMARY KEY, until TEXT NOT NULL) WITHOUT ROWID;';

const KEYS_TABLE = `
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

  ${SESSIONS_TABLE}
`;

/** Version 3: deployments (which version went out when; log NULL for every log). */
const DEPLOYMENTS_TABLE = `
  CREATE TABLE elmah_deployments (
    id TEXT PRIMARY KEY,
    version TEXT NOT NULL,
    created TEXT NOT NULL,
    description TEXT,
    user_name TEXT,
    user_email TEXT,
    log TEXT
  ) WITHOUT ROWID;
  CREATE INDEX elmah_deployments_time ON elmah_deployments (created DESC, id DESC);
`;

/**
 * Version 4: triage. status and regressed are columns for the filters; triage holds the whole state as JSON
 * (NULL for a group never triaged, which is plain open). Existing groups become open. No index on status: it
 * would be rewritten by every append (last_seen moves), while a listing by state walks the recent-groups index.
 */
const TRIAGE_COLUMNS = `
  ALTER TABLE elmah_groups ADD COLUMN status TEXT NOT NULL DEFAULT 'open';
  ALTER TABLE elmah_groups ADD COLUMN regressed INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE elmah_groups ADD COLUMN triage TEXT;
`;

/** Adds the triage columns unless they are there: the copy from version 1 writes through code that needs them. */
function addTriage(db: BetterSqlite3.Database): void {
  const columns = db.prepare('PRAGMA table_info(elmah_groups)').all() as { name: string }[];
  if (!columns.some((c) => c.name === 'status')) db.exec(TRIAGE_COLUMNS);
}

/**
 * Version 5: the structured fields of a message (breadcrumbs, source context, JSON body) as one JSON text,
 * NULL for a message without them (every message written before).
 */
const CONTEXT_COLUMN = 'ALTER TABLE elmah_messages ADD COLUMN context TEXT;';

/** Adds the context column unless it is there: the copy from version 1 writes through code that needs it. */
function addContext(db: BetterSqlite3.Database): void {
  const columns = db.prepare('PRAGMA table_info(elmah_messages)').all() as { name: string }[];
  if (!columns.some((c) => c.name === 'context')) db.exec(CONTEXT_COLUMN);
}

/** A migration step: SQL, or a function for steps that rewrite rows (run inside the migration's transaction). */
type Migration = string | ((db: BetterSqlite3.Database) => void);

/**
 * Brings version-1 data to version 2: the old tables are renamed, the new ones created, rows copied through
 * `copyV1` (given by the store, which knows how to write a message) and the old tables dropped.
 */
function fromV1(copyV1: (db: BetterSqlite3.Database) => void): Migration {
  return (db) => {
    db.exec(`
      ALTER TABLE elmah_messages RENAME TO elmah_v1_messages;
      ALTER TABLE elmah_texts RENAME TO elmah_v1_texts;
      ALTER TABLE elmah_groups RENAME TO elmah_v1_groups;
      ALTER TABLE elmah_logs RENAME TO elmah_v1_logs;
      DROP INDEX IF EXISTS elmah_messages_id;
      DROP INDEX IF EXISTS elmah_messages_list;
      DROP INDEX IF EXISTS elmah_messages_group;
      DROP INDEX IF EXISTS elmah_messages_status;
      DROP INDEX IF EXISTS elmah_messages_type;
      DROP INDEX IF EXISTS elmah_messages_time;
      DROP INDEX IF EXISTS elmah_messages_text;
      DROP INDEX IF EXISTS elmah_texts_hkey;
      DROP INDEX IF EXISTS elmah_groups_recent;
      DROP TABLE elmah_texts_fts;
      DROP TABLE elmah_messages_fts;
    `);
    db.exec(V2_TABLES);
    addTriage(db);
    addContext(db);
    db.exec(SESSIONS_TABLE);
    copyV1(db);
    db.exec('DROP TABLE elmah_v1_messages; DROP TABLE elmah_v1_texts; DROP TABLE elmah_v1_groups; DROP TABLE elmah_v1_logs;');
  };
}

/** Migrations; index i brings a database from version i to i + 1. */
function migrations(copyV1: (db: BetterSqlite3.Database) => void): readonly Migration[] {
  return [
    `CREATE TABLE IF NOT EXISTS elmah_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID; ${V2_TABLES} ${KEYS_TABLE} ${DEPLOYMENTS_TABLE} ${TRIAGE_COLUMNS} ${CONTEXT_COLUMN}`,
    fromV1(copyV1),
    DEPLOYMENTS_TABLE,
    addTriage,
    addContext,
  ];
}

/** The schema version of a database: 0 when it holds no elmah tables yet. */
export function schemaVersion(db: BetterSqlite3.Database): number {
  const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'elmah_meta'").get();
  if (!table) return 0;
  const row = db.prepare("SELECT value FROM elmah_meta WHERE key = 'schema_version'").get() as { value: string } | undefined;
  return row ? Number(row.value) : 0;
}

function newerError(found: number): ElmahError {
  return new ElmahError(
    'ERR_ELMAH_STORE_VERSION',
    `The SQLite store has schema version ${found}; this version of express-elmah reads up to ${SCHEMA_VERSION}.`,
    {
      help: 'Upgrade express-elmah, or point ELMAH_STORE at another file.',
    },
  );
}

/**
 * Brings the database to {@link SCHEMA_VERSION}. Reads the version without a write lock first, so an
 * up-to-date database opens without waiting for writers; migrations run in one IMMEDIATE transaction. A new
 * database gets the current tables at once (step 0 creates the current version directly).
 */
export function migrate(db: BetterSqlite3.Database, copyV1: (db: BetterSqlite3.Database) => void): void {
  const seen = schemaVersion(db);
  if (seen > SCHEMA_VERSION) throw newerError(seen);
  if (seen === SCHEMA_VERSION) return;
  db.transaction(() => {
    const found = schemaVersion(db);
    if (found > SCHEMA_VERSION) throw newerError(found);
    const steps = migrations(copyV1);
    if (found === 0) {
      db.exec(steps[0] as string);
    } else {
      for (let v = found; v < SCHEMA_VERSION; v++) {
        const step = steps[v]!;
        if (typeof step === 'string') db.exec(step);
        else step(db);
      }
    }
    db.prepare(
      "INSERT INTO elmah_meta (key, value) VALUES ('schema_version', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    ).run(String(SCHEMA_VERSION));
  }).immediate();
}
