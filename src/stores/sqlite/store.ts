// SqliteStore: the embedded default backend (better-sqlite3, WAL, FTS5, versioned schema, group aggregate).
import { createHash } from 'node:crypto';
import { resolve } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { deploymentPageSize, type Deployment, type DeploymentQuery } from '../../model/deployment.js';
import { ElmahError } from '../../model/errors.js';
import type { KeyRecord } from '../../model/keys.js';
import { SEVERITIES, decodeContext, encodeContext, type ErrorMessage, type Severity } from '../../model/message.js';
import type { Permission } from '../../model/permissions.js';
import type { QueryNode } from '../../model/query.js';
import { textMatches as wordsMatch } from '../../model/query-eval.js';
import type { OccurrenceTally } from '../../model/tally.js';
import { applyChange, replayOccurrences, type GroupChange, type GroupState, type Occurrence } from '../../model/triage.js';
import {
  COUNT_CAP,
  closedError,
  decodeCursor,
  duplicateKeyError,
  encodeCursor,
  filterLogs,
  histogramBuckets,
  pageIndex,
  pageSize,
  MAX_KNOWN_VERSIONS,
  decodeState,
  encodeState,
  pruneBudget,
  retentionLimits,
  statusList,
  tallyCutoff,
} from '../shared.js';
import {
  DEFAULT_RETENTION,
  REACH_SAMPLE,
  REACH_VERSIONS,
  type GroupReach,
  type AppendResult,
  type DeleteTarget,
  type ErrorGroup,
  type GroupOptions,
  type GroupResult,
  type HistogramOptions,
  type HistogramResult,
  type LogSummary,
  type MessageFilter,
  type OpenStoreOptions,
  type PruneOptions,
  type RetentionOptions,
  type SearchOptions,
  type SearchResult,
  type Store,
} from '../types.js';
import { headText, joinDetail, splitDetail } from './codec.js';
import { Checkpointer, DEFAULT_CHECKPOINTER, type CheckpointStats } from './checkpointer.js';
import { ListDictionary } from './dictionary.js';
import { loadDriver, openFile, sqliteError, wrapOpen } from './driver.js';
import { compileFilter, ftsLogText, ftsText, hasTextConjunct, textMatches, textNodes, type TextStyle } from './query.js';
import { migrate } from './schema.js';

type Database = BetterSqlite3.Database;
type Statement = BetterSqlite3.Statement;

/**
 * An open better-sqlite3 `Database`, as {@link SqliteStore.open} takes it. Described by a few of its members
 * rather than by better-sqlite3's own types, so the package's types need no `@types/better-sqlite3`.
 */
export interface SqliteDatabase {
  readonly name: string;
  readonly memory: boolean;
  readonly open: boolean;
  prepare(source: string): unknown;
  exec(source: string): unknown;
  pragma(source: string, options?: { simple?: boolean }): unknown;
  close(): unknown;
}

/** Options of {@link SqliteStore.open}. */
export interface SqliteStoreOptions extends OpenStoreOptions {
  /** How long a write waits for another connection's lock before failing with ERR_ELMAH_STORE_BUSY, in ms. Default 1000. */
  busyTimeout?: number;
  /**
   * How often an append checks whether a log is over its retention limits, in ms; `false` turns automatic
   * retention off (call `prune()` yourself). While a log is over its limits, every append removes a bounded
   * number of the oldest messages (see `pruneStep`), so retention keeps pace with ingest without a pause.
   * Default 1000.
   */
  autoPruneMs?: number | false;
  /** Most messages one automatic retention step removes. Default 500. */
  pruneStep?: number;
  /** Tuning: a filtered search with at most this many matches sorts them all, above it walks the newest-first index. Default 1000. */
  probeLimit?: number;
  /**
   * Tuning: a word or phrase of a message's own text (title, message line, url, user, host) that matches more
   * messages than this is tested row by row while walking newest first, instead of collecting its matches.
   * Default 20,000.
   */
  fullTextLimit?: number;
  /**
   * Copies the WAL back into the database from a second connection on its own thread, so that no write runs
   * a checkpoint (and its syncs) inside its commit; the thread starts with the first write. Only for a file
   * the store opened itself. `false` leaves checkpoints to SQLite (each commit that fills `walRestartPages`
   * runs one). Default true.
   */
  checkpointThread?: boolean;
  /** Tuning: the WAL size, in 4 KiB pages, from which it is written again from its start. Default 4096 (16 MB). */
  walRestartPages?: number;
}

const DEPLOYMENT_PUT =
  'INSERT INTO elmah_deployments (id, version, created, description, user_name, user_email, log) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING';

/** The row shape of elmah_deployments. */
interface DeploymentRow {
  id: string;
  version: string;
  created: string;
  description: string | null;
  user_name: string | null;
  user_email: string | null;
  log: string | null;
}

function toDeployment(r: DeploymentRow): Deployment {
  return {
    id: r.id,
    version: r.version,
    created: r.created,
    description: opt(r.description),
    userName: opt(r.user_name),
    userEmail: opt(r.user_email),
    log: opt(r.log),
  };
}

/** The row shape of elmah_messages. */
interface MessageRow {
  rid: number;
  log: string;
  id: string;
  date_time: string;
  sid: number;
  shape: number;
  title: string;
  head: string | null;
  status_code: number | null;
  severity: number;
  url: string | null;
  method: string | null;
  user_name: string | null;
  hostname: string | null;
  application: string | null;
  version: string | null;
  correlation_id: string | null;
  category: string | null;
  fingerprint: string;
  lists: string | null;
  context: string | null;
}

interface StackRow {
  type: string;
  source: string | null;
  frames: string | null;
}

interface KeyRow {
  id: string;
  name: string;
  permissions: string;
  logs: string;
  hash: string;
  created: string;
  expires: string | null;
  revoked: string | null;
}

/** What a removal needs to know of each removed message. */
interface RemovedRow {
  rid: number;
  sid: number;
  log: string;
  id: string;
  date_time: string;
  fingerprint: string;
  /** The message's own text, to take its full-text entries back out. */
  shape: number;
  title: string;
  head: string | null;
  url: string | null;
  user_name: string | null;
  hostname: string | null;
}

interface GroupRow {
  log: string;
  fingerprint: string;
  count: number;
  counted_only: number;
  first_seen: string;
  last_seen: string;
  last_id: string;
  title: string;
  type: string;
  status_code: number | null;
  status: string;
  triage: string | null;
}

/** What an upsert of a group tells: its count with the write, and whether it needs the triage rules. */
interface UpsertedGroup {
  count: number;
  status: string;
}

const MESSAGE_COLUMNS =
  'm.rid, m.log, m.id, m.date_time, m.sid, m.shape, m.title, m.head, m.status_code, m.severity, m.url, m.method, m.user_name, m.hostname, ' +
  'm.application, m.version, m.correlation_id, m.category, m.fingerprint, m.lists, m.context';
const REMOVED_COLUMNS = 'rid, sid, log, id, date_time, fingerprint, shape, title, head, url, user_name, hostname';

/** A filtered search with at most this many matches sorts them all; above it, it walks the newest-first index. */
const DEFAULT_PROBE = 1000;
/** Messages removed per transaction by delete and prune: each transaction stays well under 100 ms. */
const REMOVE_CHUNK = 500;
/** A per-message word or phrase matching more messages than this is tested row by row while walking, not collected. */
const BIG_TEXT = 20_000;
/** Pages of full-text merge work done with each append (see append). */
const FTS_MERGE_PAGES = 120;
/** Stacks remembered by id, so that a repeated stack costs a map look-up instead of a hash and a query. */
const STACK_CACHE = 4096;
/** The writer's own automatic checkpoint, in pages, while no checkpointer thread runs. */
const WRITER_CHECKPOINT_PAGES = 2000;

const SEVERITY_INDEX = new Map<string, number>(SEVERITIES.map((s, i) => [s, i]));

function opt<T>(v: T | null): T | undefined {
  return v === null ? undefined : v;
}

/** Hash of a stack's parts; lengths first so that no two different tuples feed the same bytes. */
function stackHash(type: string, source: string | undefined, frames: string | null): Buffer {
  return createHash('sha256')
    .update(`${type.length}:${source?.length ?? -1}:${frames?.length ?? -1}\n`)
    .update(type)
    .update(source ?? '')
    .update(frames ?? '')
    .digest();
}

/** Yields to the event loop between bounded steps of a long delete or prune. */
function yieldLoop(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/** The embedded SQLite backend. Open it with {@link SqliteStore.open}. */
export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  private closed = false;
  private readonly retention: Required<RetentionOptions>;
  private readonly autoPruneMs: number | false;
  private readonly pruneStep: number;
  private nextRetentionCheck = 0;
  /** Messages added since retention last looked: past 5 % of the count limit, it looks again at once. */
  private addedSinceCheck = 0;
  private readonly probe: number;
  private readonly bigText: number;
  private readonly stmts: Record<string, Statement>;
  private readonly cache = new Map<string, Statement>();
  private readonly lists: ListDictionary;
  /** Each log's code in the per-message full-text index (base 36), assigned on its first message. */
  private readonly codes = new Map<string, string>();
  /** Stack key (type, source, frames) → sid, most recently used last. */
  private readonly stacks = new Map<string, number>();
  /** The cache key of each cached sid, so that dropping a stack does not scan the cache. */
  private readonly stackKeys = new Map<number, string>();
  /** The checkpointer thread: 'idle' until the first write starts it, 'off' when not used. */
  private checkpointer: Checkpointer | 'idle' | 'off';
  private readonly walPages: number;

  private constructor(
    private readonly db: Database,
    private readonly where: string,
    private readonly ownsDb: boolean,
    options: SqliteStoreOptions,
  ) {
    this.retention = { ...DEFAULT_RETENTION, ...options.retention };
    this.autoPruneMs = options.autoPruneMs ?? 1000;
    this.pruneStep = Math.max(1, Math.floor(options.pruneStep ?? REMOVE_CHUNK));
    this.probe = Math.max(0, Math.floor(options.probeLimit ?? DEFAULT_PROBE));
    this.bigText = Math.max(0, Math.floor(options.fullTextLimit ?? BIG_TEXT));
    this.lists = new ListDictionary(db);
    this.walPages = Math.max(64, Math.floor(options.walRestartPages ?? DEFAULT_CHECKPOINTER.restartPages));
    this.checkpointer = ownsDb && !db.memory && options.checkpointThread !== false ? 'idle' : 'off';
    const p = (sql: string): Statement => db.prepare(sql);
    this.stmts = {
      stackFind: p('SELECT sid, hash FROM elmah_stacks WHERE hkey = ?'),
      stackExists: p('SELECT 1 FROM elmah_stacks WHERE sid = ?').pluck(),
      stackInsert: p('INSERT INTO elmah_stacks (hkey, hash, type, source, frames) VALUES (?, ?, ?, ?, ?)'),
      stackFts: p('INSERT INTO elmah_stacks_fts (rowid, type, frames, source) VALUES (?, ?, ?, ?)'),
      // Through the (log, sid) index, one look-up per log.
      stackUnused: p(
        'DELETE FROM elmah_stacks WHERE sid = ? AND NOT EXISTS (SELECT 1 FROM elmah_messages WHERE log IN (SELECT log FROM elmah_logs) AND sid = ?)',
      ),
      stackFtsDelete: p('DELETE FROM elmah_stacks_fts WHERE rowid = ?'),
      stackRead: p('SELECT type, source, frames FROM elmah_stacks WHERE sid = ?'),
      insert: p(
        'INSERT OR IGNORE INTO elmah_messages (log, id, date_time, sid, shape, title, head, status_code, severity, url, method, user_name, hostname, ' +
          'application, version, correlation_id, category, fingerprint, lists, context) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      messageFts: p('INSERT INTO elmah_messages_fts (rowid, title, head, url, user_name, hostname) VALUES (?, ?, ?, ?, ?, ?)'),
      ftsMerge: p(`INSERT INTO elmah_messages_fts (elmah_messages_fts, rank) VALUES ('merge', ${FTS_MERGE_PAGES})`),
      codeInsert: p('INSERT INTO elmah_log_codes (log) VALUES (?) ON CONFLICT (log) DO NOTHING RETURNING code').pluck(),
      codeFind: p('SELECT code FROM elmah_log_codes WHERE log = ?').pluck(),
      codesAll: p('SELECT log, code FROM elmah_log_codes'),
      messageFtsDelete: p(
        "INSERT INTO elmah_messages_fts (elmah_messages_fts, rowid, title, head, url, user_name, hostname) VALUES ('delete', ?, ?, ?, ?, ?, ?)",
      ),
      deleteRid: p('DELETE FROM elmah_messages WHERE rid = ?'),
      // The newest stored message names its group; a tally names it only while none is stored (last_msg NULL).
      groupUpsert: p(
        'INSERT INTO elmah_groups (log, fingerprint, count, counted_only, first_seen, last_seen, last_msg, last_id, title, type, status_code) ' +
          'VALUES (?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?) ' +
          'ON CONFLICT (log, fingerprint) DO UPDATE SET count = count + excluded.count, first_seen = min(first_seen, excluded.first_seen), ' +
          'title = CASE WHEN last_msg IS NULL OR (excluded.last_msg, excluded.last_id) > (last_msg, last_id) THEN excluded.title ELSE title END, ' +
          'type = CASE WHEN last_msg IS NULL OR (excluded.last_msg, excluded.last_id) > (last_msg, last_id) THEN excluded.type ELSE type END, ' +
          'status_code = CASE WHEN last_msg IS NULL OR (excluded.last_msg, excluded.last_id) > (last_msg, last_id) THEN excluded.status_code ELSE status_code END, ' +
          'last_id = CASE WHEN last_msg IS NULL OR (excluded.last_msg, excluded.last_id) > (last_msg, last_id) THEN excluded.last_id ELSE last_id END, ' +
          'last_msg = CASE WHEN last_msg IS NULL OR (excluded.last_msg, excluded.last_id) > (last_msg, last_id) THEN excluded.last_msg ELSE last_msg END, ' +
          'last_seen = max(last_seen, excluded.last_seen) RETURNING count, status',
      ),
      groupTally: p(
        'INSERT INTO elmah_groups (log, fingerprint, count, counted_only, first_seen, last_seen, last_msg, last_id, title, type, status_code) ' +
          "VALUES (?, ?, ?, ?, ?, ?, NULL, '', ?, ?, ?) " +
          'ON CONFLICT (log, fingerprint) DO UPDATE SET count = count + excluded.count, counted_only = counted_only + excluded.counted_only, ' +
          'first_seen = min(first_seen, excluded.first_seen), ' +
          'title = CASE WHEN last_msg IS NULL AND excluded.last_seen >= last_seen THEN excluded.title ELSE title END, ' +
          'type = CASE WHEN last_msg IS NULL AND excluded.last_seen >= last_seen THEN excluded.type ELSE type END, ' +
          'status_code = CASE WHEN last_msg IS NULL AND excluded.last_seen >= last_seen THEN excluded.status_code ELSE status_code END, ' +
          'last_seen = max(last_seen, excluded.last_seen) RETURNING count, status',
      ),
      groupState: p('UPDATE elmah_groups SET status = ?, regressed = ?, triage = ? WHERE log = ? AND fingerprint = ?'),
      groupVersions: p(
        'SELECT DISTINCT version FROM elmah_messages INDEXED BY elmah_messages_group WHERE log = ? AND fingerprint = ? AND version IS NOT NULL ' +
          `LIMIT ${MAX_KNOWN_VERSIONS}`,
      ).pluck(),
      tallyInsert: p(
        'INSERT OR IGNORE INTO elmah_tallies (log, id, fingerprint, count, first_seen, last_seen, minutes) VALUES (?, ?, ?, ?, ?, ?, ?)',
      ),
      groupGet: p('SELECT * FROM elmah_groups WHERE log = ? AND fingerprint = ?'),
      // The newest time from the end of the group index, then the newest id among the messages of that time:
      // one ORDER BY over (date_time, id) would sort the whole group, as the index holds no id.
      groupNewest: p(
        'SELECT m.id, m.date_time, m.title, m.sid, m.status_code FROM elmah_messages m INDEXED BY elmah_messages_group ' +
          'WHERE m.log = ? AND m.fingerprint = ? AND m.date_time = ' +
          '(SELECT max(date_time) FROM elmah_messages INDEXED BY elmah_messages_group WHERE log = ? AND fingerprint = ?) ORDER BY m.id DESC LIMIT 1',
      ),
      groupOldest: p('SELECT min(date_time) FROM elmah_messages INDEXED BY elmah_messages_group WHERE log = ? AND fingerprint = ?').pluck(),
      groupTallies: p('SELECT min(first_seen) AS first, max(last_seen) AS last FROM elmah_tallies WHERE log = ? AND fingerprint = ?'),
      groupSet: p(
        'UPDATE elmah_groups SET count = ?, counted_only = ?, first_seen = ?, last_seen = ?, last_msg = ?, last_id = ?, title = ?, type = ?, status_code = ? ' +
          'WHERE log = ? AND fingerprint = ?',
      ),
      groupDelete: p('DELETE FROM elmah_groups WHERE log = ? AND fingerprint = ?'),
      logUpsert: p(
        'INSERT INTO elmah_logs (log, count, last_seen) VALUES (?, ?, ?) ' +
          'ON CONFLICT (log) DO UPDATE SET count = count + excluded.count, last_seen = max(last_seen, excluded.last_seen)',
      ),
      logCount: p(
        'UPDATE elmah_logs SET count = count - ?, last_seen = (SELECT max(date_time) FROM elmah_messages INDEXED BY elmah_messages_list WHERE log = ?) WHERE log = ?',
      ),
      logClean: p('DELETE FROM elmah_logs WHERE log = ? AND count <= 0'),
      logsAll: p('SELECT log, count, last_seen FROM elmah_logs WHERE count > 0'),
      logCountOf: p('SELECT count FROM elmah_logs WHERE log = ?').pluck(),
      logOldest: p(
        'SELECT date_time FROM elmah_messages INDEXED BY elmah_messages_list WHERE log = ? ORDER BY date_time, id LIMIT 1',
      ).pluck(),
      tallyLogs: p('SELECT DISTINCT log FROM elmah_tallies').pluck(),
      talliesBefore: p('DELETE FROM elmah_tallies WHERE log = ? AND last_seen < ? RETURNING fingerprint, count'),
      oldestRows: p(
        `SELECT ${REMOVED_COLUMNS} FROM elmah_messages INDEXED BY elmah_messages_list WHERE log = ? ORDER BY date_time, id LIMIT ?`,
      ),
      olderRows: p(
        `SELECT ${REMOVED_COLUMNS} FROM elmah_messages INDEXED BY elmah_messages_list WHERE log = ? AND date_time < ? ORDER BY date_time, id LIMIT ?`,
      ),
      get: p(`SELECT ${MESSAGE_COLUMNS} FROM elmah_messages m WHERE m.log = ? AND m.id = ?`),
      removedById: p(`SELECT ${REMOVED_COLUMNS} FROM elmah_messages WHERE log = ? AND id = ?`),
      keyPut: p('INSERT INTO elmah_keys (id, name, permissions, logs, hash, created, expires, revoked) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      keyGet: p('SELECT * FROM elmah_keys WHERE id = ?'),
      keyList: p('SELECT * FROM elmah_keys ORDER BY created, id'),
      keyRevoke: p('UPDATE elmah_keys SET revoked = coalesce(revoked, ?) WHERE id = ?'),
      sessionEnd: p('INSERT INTO elmah_sessions_ended (sid, until) VALUES (?, ?) ON CONFLICT (sid) DO UPDATE SET until = excluded.until'),
      sessionsForget: p('DELETE FROM elmah_sessions_ended WHERE until <= ?'),
      sessionEnded: p('SELECT 1 FROM elmah_sessions_ended WHERE sid = ? AND until > ?').pluck(),
    };
  }

  /**
   * Opens (creating it and its folder owner-only when needed) a SQLite file, `:memory:`, or wraps an existing
   * better-sqlite3 `Database` (which the store then does not close). Sets WAL, busy_timeout and
   * synchronous=NORMAL, and migrates the schema forward. Fails with ERR_ELMAH_DRIVER_MISSING,
   * ERR_ELMAH_STORE_CORRUPT, ERR_ELMAH_STORE_BUSY, ERR_ELMAH_STORE_UNAVAILABLE or ERR_ELMAH_STORE_VERSION.
   */
  static async open(pathOrDatabase: string | SqliteDatabase, options: SqliteStoreOptions = {}): Promise<SqliteStore> {
    let db: Database;
    let where: string;
    let owns = true;
    if (typeof pathOrDatabase === 'string') {
      const memory = pathOrDatabase === ':memory:' || pathOrDatabase === '';
      where = memory ? ':memory:' : resolve(pathOrDatabase);
      const Driver = await loadDriver();
      try {
        db = openFile(Driver, where, options.busyTimeout ?? 1000);
      } catch (error) {
        throw wrapOpen(error, where);
      }
    } else if (pathOrDatabase && typeof (pathOrDatabase as Database).prepare === 'function') {
      db = pathOrDatabase as unknown as Database;
      where = db.memory ? ':memory:' : resolve(db.name);
      owns = false;
    } else {
      throw new ElmahError('ERR_ELMAH_OPTION_TYPE', 'SqliteStore.open needs a file path or a better-sqlite3 Database.', {
        help: 'Pass e.g. ".elmah/elmah.db", ":memory:" or new Database(path).',
      });
    }
    try {
      if (!owns && options.busyTimeout !== undefined) db.pragma(`busy_timeout = ${Math.max(0, Math.floor(options.busyTimeout))}`);
      if (!db.memory) db.pragma('journal_mode = WAL');
      if (owns) {
        // synchronous=NORMAL is safe with WAL (a power cut may lose the last commits, never the database); a 32 MB
        // page cache keeps the hot index pages of a large log; sampled statistics keep `PRAGMA optimize` quick.
        db.pragma('synchronous = NORMAL');
        db.pragma('cache_size = -32768');
        db.pragma('analysis_limit = 1000');
        // Until the checkpointer thread runs (or without it), SQLite checkpoints inside the commit that fills
        // the WAL: every ~8 MB keeps each one short while hot pages rewritten by many commits are copied once.
        db.pragma(`wal_autocheckpoint = ${WRITER_CHECKPOINT_PAGES}`);
        db.pragma('journal_size_limit = 67108864');
      }
      registerFunctions(db);
      migrate(db, (d) => {
        const writer = SqliteStore.withStatements(d);
        copyFromV1(d, (batch) => writer.appendNow(batch));
      });
      return new SqliteStore(db, where, owns, options);
    } catch (error) {
      if (owns) db.close();
      throw wrapOpen(error, where);
    }
  }

  /** A store object over `db` for the migration's copy (statements only; never returned to a caller). */
  private static withStatements(db: Database): SqliteStore {
    return new SqliteStore(db, ':migration:', false, { autoPruneMs: false });
  }

  describe(): string {
    return `sqlite:${this.where}`;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cache.clear();
    this.stacks.clear();
    this.stackKeys.clear();
    // The thread copies what is left first, so that closing the last connection has little to checkpoint.
    if (this.checkpointer instanceof Checkpointer) await this.checkpointer.close();
    this.checkpointer = 'off';
    if (!this.ownsDb) return;
    try {
      this.db.pragma('optimize');
    } catch {
      // Best effort: statistics for the query planner; the data is safe either way.
    }
    this.db.close();
  }

  /** What the checkpointer thread has done (undefined when none runs). */
  checkpointStats(): CheckpointStats | undefined {
    return this.checkpointer instanceof Checkpointer ? this.checkpointer.stats : undefined;
  }

  /**
   * Before a write: starts the checkpointer thread on the first one, and waits while the thread holds writes
   * for the last short pass before the WAL restarts (at most its maxHoldMs).
   */
  private writeGate(): Promise<unknown> | undefined {
    const c = this.checkpointer;
    if (c instanceof Checkpointer) return c.gate();
    if (c !== 'idle') return undefined;
    const setPages = (pages: number) => (): void => {
      if (!this.closed) this.use(() => this.db.pragma(`wal_autocheckpoint = ${pages}`));
    };
    // Once the thread runs, the writer's commits never checkpoint; if it ends unexpectedly, they do again.
    const started = Checkpointer.start(
      this.where,
      { ...DEFAULT_CHECKPOINTER, restartPages: this.walPages },
      { onRunning: setPages(0), onLost: setPages(WRITER_CHECKPOINT_PAGES) },
    );
    this.checkpointer = started ?? 'off';
    return undefined;
  }

  /** After a write's commit: tells the checkpointer thread that the WAL grew. */
  private wrote(): void {
    if (this.checkpointer instanceof Checkpointer) this.checkpointer.wrote();
  }

  /** Runs a call against the database, mapping driver failures to coded errors. */
  private use<T>(fn: () => T): T {
    if (this.closed) throw closedError('sqlite');
    try {
      return fn();
    } catch (error) {
      throw sqliteError(error, this.where);
    }
  }

  private prepared(sql: string): Statement {
    let s = this.cache.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      if (this.cache.size > 200) this.cache.clear();
      this.cache.set(sql, s);
    }
    return s;
  }

  // ---- append ----

  /** The sid of a stack (type, source, frames), inserting it and its full-text entry when new. */
  private stackId(type: string, source: string | undefined, frames: string | null, created: Set<number>): number {
    const key = `${type}\u0000${source ?? '\u0001'}\u0000${frames ?? '\u0001'}`;
    const cached = this.stacks.get(key);
    // Another connection may have removed a stack that no message used any more: check it is still there.
    if (cached !== undefined && (created.has(cached) || this.stmts.stackExists!.get(cached) !== undefined)) {
      this.stacks.delete(key);
      this.stacks.set(key, cached);
      return cached;
    }
    const hash = stackHash(type, source, frames);
    const hkey = hash.readUIntBE(0, 6);
    const found = (this.stmts.stackFind!.all(hkey) as { sid: number; hash: Buffer }[]).find((r) => r.hash.equals(hash));
    let sid = found?.sid;
    if (sid === undefined) {
      sid = Number(this.stmts.stackInsert!.run(hkey, hash, type, source ?? null, frames).lastInsertRowid);
      this.stmts.stackFts!.run(sid, ftsText(type), ftsText(frames), ftsText(source));
      created.add(sid);
    }
    this.stacks.set(key, sid);
    this.stackKeys.set(sid, key);
    if (this.stacks.size > STACK_CACHE) {
      const [oldKey, oldSid] = this.stacks.entries().next().value!;
      this.stacks.delete(oldKey);
      this.stackKeys.delete(oldSid);
    }
    return sid;
  }

  /** The code of a log in the per-message full-text index, assigned (in the caller's transaction) when new. */
  private logCode(log: string): string {
    let code = this.codes.get(log);
    if (code === undefined) {
      const n = (this.stmts.codeInsert!.get(log) ?? this.stmts.codeFind!.get(log)) as number;
      code = n.toString(36);
      this.codes.set(log, code);
    }
    return code;
  }

  /** The codes of the logs a filter searches (every log when it names none); a log without one has no messages. */
  private codesOf(log: MessageFilter['log']): string[] {
    const logs = filterLogs(log);
    if (logs === undefined || logs.some((l) => !this.codes.has(l))) {
      for (const r of this.stmts.codesAll!.all() as { log: string; code: number }[]) this.codes.set(r.log, r.code.toString(36));
    }
    if (logs === undefined) return [...new Set(this.codes.values())];
    return logs.flatMap((l) => (this.codes.has(l) ? [this.codes.get(l)!] : []));
  }

  /** Writes a batch in the caller's transaction; returns per message whether it was created. */
  private appendNow(messages: readonly ErrorMessage[]): AppendResult[] {
    const out: AppendResult[] = [];
    const used = new Set<number>();
    const created = new Set<number>();
    const groups = new Map<
      string,
      // all: the group's created messages of this batch, in order, with their places in the results.
      { m: ErrorMessage; count: number; first: string; last: string; all: { m: ErrorMessage; at: number }[] }
    >();
    const logs = new Map<string, { count: number; last: string }>();
    for (const m of messages) {
      const split = splitDetail(m.detail, m.type, m.title);
      const sid = this.stackId(m.type, m.source, split.frames, created);
      const info = this.stmts.insert!.run(
        m.log,
        m.id,
        m.dateTime,
        sid,
        split.shape,
        m.title,
        split.head,
        m.statusCode ?? null,
        SEVERITY_INDEX.get(m.severity) ?? 4,
        m.url ?? null,
        m.method ?? null,
        m.user ?? null,
        m.hostname ?? null,
        m.application ?? null,
        m.version ?? null,
        m.correlationId ?? null,
        m.category ?? null,
        m.fingerprint,
        this.lists.encode(m),
        encodeContext(m),
      );
      if (info.changes === 0) {
        out.push({ id: m.id, status: 'duplicate' });
        continue;
      }
      out.push({ id: m.id, status: 'created' });
      used.add(sid);
      const code = this.logCode(m.log);
      this.stmts.messageFts!.run(
        info.lastInsertRowid,
        ftsLogText(m.title, code),
        ftsLogText(headText(split, m.type, m.title), code),
        ftsLogText(m.url, code),
        ftsLogText(m.user, code),
        ftsLogText(m.hostname, code),
      );
      const gk = `${m.log}\n${m.fingerprint}`;
      const g = groups.get(gk);
      if (!g) groups.set(gk, { m, count: 1, first: m.dateTime, last: m.dateTime, all: [{ m, at: out.length - 1 }] });
      else {
        g.count++;
        g.all.push({ m, at: out.length - 1 });
        if (m.dateTime < g.first) g.first = m.dateTime;
        if (m.dateTime > g.last) g.last = m.dateTime;
        if (m.dateTime > g.m.dateTime || (m.dateTime === g.m.dateTime && m.id > g.m.id)) g.m = m;
      }
      const l = logs.get(m.log);
      if (!l) logs.set(m.log, { count: 1, last: m.dateTime });
      else {
        l.count++;
        if (m.dateTime > l.last) l.last = m.dateTime;
      }
    }
    // A duplicate whose stack differs from the stored message's leaves an unused stack behind: drop it.
    for (const sid of created) if (!used.has(sid)) this.dropUnusedStack(sid);
    for (const { m, count, first, last, all } of groups.values()) {
      const row = this.stmts.groupUpsert!.get(
        m.log,
        m.fingerprint,
        count,
        first,
        last,
        m.dateTime,
        m.id,
        m.title,
        m.type,
        m.statusCode ?? null,
      ) as UpsertedGroup;
      const before = row.count - count;
      if (before === 0) out[all[0]!.at]!.group = 'new';
      // Only a group that is not plain open needs the rules; a write to an open group costs nothing more.
      else if (row.status !== 'open') {
        const regressed = this.triage(
          m.log,
          m.fingerprint,
          all.map((x, i) => ({ dateTime: x.m.dateTime, version: x.m.version, count: before + i + 1 })),
        );
        if (regressed !== undefined) out[all[regressed]!.at]!.group = 'regressed';
      }
    }
    for (const [log, { count, last }] of logs) this.stmts.logUpsert!.run(log, count, last);
    return out;
  }

  async append(messages: readonly ErrorMessage[]): Promise<AppendResult[]> {
    const gate = this.writeGate();
    if (gate) await gate;
    const results = this.use(() => {
      try {
        return this.db
          .transaction(() => {
            const out = this.appendNow(messages);
            // The full-text index merges its segments in bounded steps here rather than all at once at some
            // commit (automerge is off, see schema.ts): a fixed amount of work per append, never a pause.
            if (out.length > 0) this.stmts.ftsMerge!.run();
            return out;
          })
          .immediate();
      } catch (error) {
        // Ids the rolled-back transaction handed out (stacks, names, pairs, log codes) do not exist: forget them.
        this.lists.reset();
        this.stacks.clear();
        this.stackKeys.clear();
        this.codes.clear();
        throw error;
      }
    });
    this.retentionStep(results.length);
    this.wrote();
    return results;
  }

  async tally(tallies: readonly OccurrenceTally[]): Promise<AppendResult[]> {
    const gate = this.writeGate();
    if (gate) await gate;
    const results = this.use(() =>
      this.db
        .transaction(() =>
          tallies.map((t): AppendResult => {
            const info = this.stmts.tallyInsert!.run(
              t.log,
              t.id,
              t.fingerprint,
              t.count,
              t.firstSeen,
              t.lastSeen,
              JSON.stringify(t.minutes),
            );
            if (info.changes === 0) return { id: t.id, status: 'duplicate' };
            const row = this.stmts.groupTally!.get(
              t.log,
              t.fingerprint,
              t.count,
              t.count,
              t.firstSeen,
              t.lastSeen,
              t.title,
              t.type,
              t.statusCode ?? null,
            ) as UpsertedGroup;
            if (row.count === t.count) return { id: t.id, status: 'created', group: 'new' };
            if (row.status !== 'open' && this.triage(t.log, t.fingerprint, [{ dateTime: t.lastSeen, count: row.count }]) !== undefined)
              return { id: t.id, status: 'created', group: 'regressed' };
            return { id: t.id, status: 'created' };
          }),
        )
        .immediate(),
    );
    this.wrote();
    return results;
  }

  /**
   * Runs a group's new occurrences (in write order) through the triage rules and stores the state they leave;
   * returns the index of the occurrence that reopened a resolved group, if one did. In the write's transaction.
   */
  private triage(log: string, fingerprint: string, occurrences: readonly Occurrence[]): number | undefined {
    const row = this.stmts.groupGet!.get(log, fingerprint) as GroupRow;
    const before = decodeState(row.triage);
    const { state, regressedAt } = replayOccurrences(before, occurrences);
    if (state !== before) this.writeState(log, fingerprint, state);
    return regressedAt;
  }

  private writeState(log: string, fingerprint: string, state: GroupState): void {
    this.stmts.groupState!.run(state.status, state.regressed ? 1 : 0, encodeState(state), log, fingerprint);
  }

  async setGroupState(log: string, fingerprints: readonly string[], change: GroupChange, by: string, at: string): Promise<number> {
    await this.writeGate();
    const changed = this.use(() =>
      this.db
        .transaction(() => {
          let n = 0;
          for (const fp of new Set(fingerprints)) {
            const row = this.stmts.groupGet!.get(log, fp) as GroupRow | undefined;
            if (!row) continue;
            const versions =
              change.status === 'resolved' && change.inVersion !== undefined
                ? (this.stmts.groupVersions!.all(log, fp) as string[]).sort()
                : [];
            this.writeState(log, fp, applyChange(change, by, at, row.count, versions, decodeState(row.triage)));
            n++;
          }
          return n;
        })
        .immediate(),
    );
    this.wrote();
    return changed;
  }

  /**
   * Automatic retention, amortized over appends: every `autoPruneMs`, or sooner once 5 % of the count limit
   * was added, an append checks whether a log is over its limits; while one is, each append removes up to
   * `pruneStep` of its oldest messages (one and a half times what it added, at least 50: retention outpaces
   * ingest). A failure never fails the append.
   */
  private retentionStep(added: number): void {
    if (this.autoPruneMs === false) return;
    const now = Date.now();
    this.addedSinceCheck += added;
    if (now < this.nextRetentionCheck && this.addedSinceCheck < this.retention.maxCount / 20) return;
    this.addedSinceCheck = 0;
    try {
      const limit = Math.max(Math.min(this.pruneStep, Math.max(Math.ceil(1.5 * added), 50)), 1);
      const removed = this.pruneNow({ limit });
      // More to do: keep stepping on the next appends; done: look again after autoPruneMs.
      this.nextRetentionCheck = removed >= limit ? 0 : now + this.autoPruneMs;
    } catch {
      // Busy or failing: the next window tries again; appends must not fail because of retention.
      this.nextRetentionCheck = now + this.autoPruneMs;
    }
  }

  /** Removes a stack (and its full-text entry) when no message uses it any more. */
  private dropUnusedStack(sid: number): void {
    if (this.stmts.stackUnused!.run(sid, sid).changes > 0) {
      this.stmts.stackFtsDelete!.run(sid);
      const key = this.stackKeys.get(sid);
      if (key !== undefined) this.stacks.delete(key);
      this.stackKeys.delete(sid);
    }
  }

  // ---- reading ----

  private toMessage(row: MessageRow, stack: StackRow | undefined): ErrorMessage {
    const type = stack?.type ?? '';
    return {
      id: row.id,
      log: row.log,
      dateTime: row.date_time,
      title: row.title,
      type,
      detail: joinDetail(row.shape, row.head, stack?.frames ?? null, type, row.title),
      source: opt(stack?.source ?? null),
      statusCode: opt(row.status_code),
      severity: (SEVERITIES[row.severity] ?? 'Error') as Severity,
      url: opt(row.url),
      method: opt(row.method),
      user: opt(row.user_name),
      hostname: opt(row.hostname),
      application: opt(row.application),
      version: opt(row.version),
      correlationId: opt(row.correlation_id),
      category: opt(row.category),
      ...this.lists.decode(row.lists),
      fingerprint: row.fingerprint,
      ...decodeContext(row.context),
    };
  }

  private hydrate(rows: MessageRow[]): ErrorMessage[] {
    const stacks = new Map<number, StackRow | undefined>();
    return rows.map((row) => {
      if (!stacks.has(row.sid)) stacks.set(row.sid, this.stmts.stackRead!.get(row.sid) as StackRow | undefined);
      return this.toMessage(row, stacks.get(row.sid));
    });
  }

  async get(log: string, id: string): Promise<ErrorMessage | undefined> {
    return this.use(() => {
      const row = this.stmts.get!.get(log, id) as MessageRow | undefined;
      return row ? this.hydrate([row])[0] : undefined;
    });
  }

  /** min(messages in the logs, COUNT_CAP + 1), from the per-log counters. */
  private countLogs(log: SearchOptions['log']): number {
    const logs = filterLogs(log);
    const rows = this.stmts.logsAll!.all() as { log: string; count: number }[];
    const n = rows.filter((r) => !logs || logs.includes(r.log)).reduce((sum, r) => sum + r.count, 0);
    return Math.min(n, COUNT_CAP + 1);
  }

  /**
   * True when a per-message word or phrase of the query matches more than BIG_TEXT messages: collecting its
   * matches would cost more than testing the rows a newest-first walk visits.
   */
  private hasBigText(query: QueryNode | undefined, log: MessageFilter['log']): boolean {
    return textNodes(query).some((n) => {
      const { message } = textMatches(n.field, n.tokens, n.prefix, this.codesOf(log));
      if (message === undefined) return false;
      const sql = `SELECT count(*) FROM (SELECT rowid FROM elmah_messages_fts WHERE elmah_messages_fts MATCH ? LIMIT ${this.bigText + 1})`;
      return (this.prepared(sql).pluck().get(message) as number) > this.bigText;
    });
  }

  /**
   * True when every stack word or phrase of the query matches at most BIG_TEXT messages of the logs (counted
   * through the (log, sid) index): collecting those rows beats scanning for them. A word in most stacks is
   * better found by the scan, which stops at the cap.
   */
  private fewStackRows(query: QueryNode | undefined, logs: string[] | undefined): boolean {
    const nodes = textNodes(query);
    if (nodes.length === 0) return false;
    const logSql = logs === undefined ? 'SELECT log FROM elmah_logs' : logs.length === 0 ? 'NULL' : logs.map(() => '?').join(', ');
    return nodes.every((n) => {
      const { stack } = textMatches(n.field, n.tokens, n.prefix);
      if (stack === undefined) return true;
      const sql =
        `SELECT count(*) FROM (SELECT 1 FROM elmah_messages INDEXED BY elmah_messages_stack WHERE log IN (${logSql}) ` +
        `AND sid IN (SELECT rowid FROM elmah_stacks_fts WHERE elmah_stacks_fts MATCH ?) LIMIT ${this.bigText + 1})`;
      return (
        (this.prepared(sql)
          .pluck()
          .get(...(logs ?? []), stack) as number) <= this.bigText
      );
    });
  }

  /**
   * A page of matching messages, newest first, and the capped total. Unfiltered pages walk the newest-first
   * index and count from the per-log counters. A filtered search first collects up to COUNT_CAP + 1 matching
   * row ids through the predicate's own index (that is the capped total): a small set (up to probeLimit) is
   * sorted whole, while a larger one is paged by walking the newest-first index, where matches come quickly.
   * A word that occurs in very many messages of the logs is not collected: the walk tests it row by row, and
   * the total is only what the walk saw (a lower bound, "16+", except on the last page).
   */
  async search(options: SearchOptions): Promise<SearchResult> {
    return this.use(() => {
      const size = pageSize(options.size);
      let offset = pageIndex(options.page) * size;
      let cursorSql = '';
      const cursorParams: unknown[] = [];
      if (options.after !== undefined) {
        const c = decodeCursor(options.after);
        cursorSql = ' AND (m.date_time, m.id) < (?, ?)';
        cursorParams.push(c.dateTime, c.id);
        offset = 0;
      }
      const logs = filterLogs(options.log);
      const index = logs?.length === 1 ? 'elmah_messages_list' : 'elmah_messages_time';
      const filtered = (options.query && options.query.kind !== 'all') || options.from !== undefined || options.to !== undefined;
      const style: TextStyle = filtered && this.hasBigText(options.query, options.log) ? 'probe' : 'set';
      const where = compileFilter(options, { style, codes: this.codesOf(options.log) });
      let rows: MessageRow[];
      let total: number;
      const order = 'ORDER BY m.date_time DESC, m.id DESC LIMIT ? OFFSET ?';
      let probe: number[] | undefined;
      let lowerBound = false;
      if (filtered && style === 'set') {
        // One pass yields both the capped count and, when small, the whole match set.
        const driven = this.drivenFilter(options);
        probe = this.prepared(`SELECT m.rid FROM ${driven.from} WHERE ${driven.sql} LIMIT ${COUNT_CAP + 1}`)
          .pluck()
          .all(...driven.params) as number[];
      }
      if (probe && probe.length <= this.probe) {
        total = probe.length;
        rows = this.prepared(
          `SELECT ${MESSAGE_COLUMNS} FROM elmah_messages m WHERE m.rid IN (SELECT value FROM json_each(?))${cursorSql} ${order}`,
        ).all(JSON.stringify(probe), ...cursorParams, size + 1, offset) as MessageRow[];
      } else {
        rows = this.prepared(
          `SELECT ${MESSAGE_COLUMNS} FROM elmah_messages m INDEXED BY ${index} WHERE ${where.sql}${cursorSql} ${order}`,
        ).all(...where.params, ...cursorParams, size + 1, offset) as MessageRow[];
        if (probe) total = probe.length;
        else if (!filtered) total = this.countLogs(options.log);
        else {
          // A word in very many messages: the page was found by walking newest first, and counting every match
          // would cost far more than the page. The total is what the walk has seen: exact on the last page.
          total = offset + Math.min(rows.length, size + 1);
          lowerBound = rows.length > size;
        }
      }
      const more = rows.length > size;
      const messages = this.hydrate(rows.slice(0, size));
      const last = messages[messages.length - 1];
      return {
        messages,
        total,
        totalExact: total <= COUNT_CAP && !lowerBound,
        after: more && last ? encodeCursor(last.dateTime, last.id) : undefined,
      };
    });
  }

  /** The filter written so that the predicate's own index finds the matches (see indexHint and hasTextConjunct). */
  private drivenFilter(filter: MessageFilter): { from: string; sql: string; params: unknown[] } {
    const hint = indexHint(filter.query);
    // The (log, sid) index needs the log: every log, when the filter names none.
    if (hint !== undefined && filter.log === undefined)
      filter = { ...filter, log: (this.stmts.logsAll!.all() as { log: string }[]).map((r) => r.log) };
    const logs = filterLogs(filter.log);
    const stackRows = this.fewStackRows(filter.query, logs) ? (logs ?? 'all') : undefined;
    const where = compileFilter(filter, {
      logIndex: hint === undefined && !hasTextConjunct(filter.query),
      codes: this.codesOf(filter.log),
      stackRows,
    });
    return { from: `elmah_messages m${hint ? ` INDEXED BY ${hint}` : ''}`, ...where };
  }

  async groups(options: GroupOptions): Promise<GroupResult> {
    return this.use(() => {
      const size = pageSize(options.size);
      const offset = pageIndex(options.page) * size;
      const filtered = (options.query && options.query.kind !== 'all') || options.from !== undefined || options.to !== undefined;
      const statuses = statusList(options.status);
      if (!filtered) {
        const logs = filterLogs(options.log);
        const logSql =
          (logs === undefined ? '1' : logs.length === 0 ? '0' : `log IN (${logs.map(() => '?').join(', ')})`) +
          (statuses ? ` AND status IN (${statuses.map(() => '?').join(', ') || 'NULL'})` : '');
        const logParams = [...(logs ?? []), ...(statuses ?? [])];
        const total = Number(
          this.prepared(`SELECT count(*) FROM elmah_groups WHERE ${logSql}`)
            .pluck()
            .get(...logParams),
        );
        const rows = this.prepared(`SELECT * FROM elmah_groups WHERE ${logSql} ORDER BY last_seen DESC, last_id DESC LIMIT ? OFFSET ?`).all(
          ...logParams,
          size,
          offset,
        ) as GroupRow[];
        return { groups: rows.map(toGroup), total };
      }
      const style: TextStyle = this.hasBigText(options.query, options.log) ? 'probe' : 'set';
      const where =
        style === 'set'
          ? this.drivenFilter(options)
          : { from: 'elmah_messages m', ...compileFilter(options, { style, codes: this.codesOf(options.log) }) };
      // The newest message of each group is its representative: max over "date_time id" (a space sorts below every id character).
      const all =
        "SELECT m.log, m.fingerprint, count(*) AS count, min(m.date_time) AS first_seen, max(m.date_time || ' ' || m.id) AS newest " +
        `FROM ${where.from} WHERE ${where.sql} GROUP BY m.log, m.fingerprint`;
      const grouped = statuses
        ? `SELECT x.* FROM (${all}) x JOIN elmah_groups g ON g.log = x.log AND g.fingerprint = x.fingerprint ` +
          `WHERE g.status IN (${statuses.map(() => '?').join(', ') || 'NULL'})`
        : all;
      const params = [...where.params, ...(statuses ?? [])];
      const total = Number(
        this.prepared(`SELECT count(*) FROM (${grouped})`)
          .pluck()
          .get(...params),
      );
      const rows = this.prepared(`${grouped} ORDER BY newest DESC LIMIT ? OFFSET ?`).all(...params, size, offset) as {
        log: string;
        fingerprint: string;
        count: number;
        first_seen: string;
        newest: string;
      }[];
      return {
        total,
        groups: rows.map((r) => {
          const cut = r.newest.indexOf(' ');
          const last = this.stmts.get!.get(r.log, r.newest.slice(cut + 1)) as MessageRow;
          const stack = this.stmts.stackRead!.get(last.sid) as StackRow | undefined;
          return {
            log: r.log,
            fingerprint: r.fingerprint,
            count: r.count,
            firstSeen: r.first_seen,
            lastSeen: last.date_time,
            lastId: last.id,
            title: last.title,
            type: stack?.type ?? '',
            statusCode: opt(last.status_code),
            countedOnly: 0,
            state: decodeState((this.stmts.groupGet!.get(r.log, r.fingerprint) as GroupRow | undefined)?.triage),
          };
        }),
      };
    });
  }

  async group(log: string, fingerprint: string): Promise<ErrorGroup | undefined> {
    return this.use(() => {
      const row = this.stmts.groupGet!.get(log, fingerprint) as GroupRow | undefined;
      return row && { ...toGroup(row), reach: this.reachOf(log, fingerprint) };
    });
  }

  /** Users and versions of a group's most recent kept messages, read through the group index. */
  private reachOf(log: string, fingerprint: string): GroupReach {
    const recent =
      'SELECT user_name, version, date_time FROM elmah_messages INDEXED BY elmah_messages_group ' +
      `WHERE log = ? AND fingerprint = ? ORDER BY date_time DESC LIMIT ${REACH_SAMPLE}`;
    const totals = this.prepared(`SELECT count(*) AS sampled, count(DISTINCT nullif(user_name, '')) AS users FROM (${recent})`).get(
      log,
      fingerprint,
    ) as { sampled: number; users: number };
    const versions = this.prepared(
      'SELECT version, count(*) AS count, min(date_time) AS first_seen, max(date_time) AS last_seen ' +
        `FROM (${recent}) WHERE version IS NOT NULL GROUP BY version ORDER BY last_seen DESC, version LIMIT ${REACH_VERSIONS}`,
    ).all(log, fingerprint) as { version: string; count: number; first_seen: string; last_seen: string }[];
    return {
      users: totals.users,
      sampled: totals.sampled,
      versions: versions.map((v) => ({ version: v.version, count: v.count, firstSeen: v.first_seen, lastSeen: v.last_seen })),
    };
  }

  async histogram(options: HistogramOptions): Promise<HistogramResult> {
    return this.use(() => {
      const { start, end, bucketMs, n } = histogramBuckets(options.from, options.to, options.buckets);
      const from = new Date(start).toISOString();
      const to = new Date(end).toISOString();
      const range = {
        ...options,
        from: Date.parse(options.from) > start ? options.from : from,
        to: Date.parse(options.to) < end ? options.to : to,
      };
      const style: TextStyle = this.hasBigText(options.query, options.log) ? 'probe' : 'set';
      const where =
        style === 'set'
          ? this.drivenFilter(range)
          : { from: 'elmah_messages m', ...compileFilter(range, { style, codes: this.codesOf(range.log) }) };
      const rows = this.prepared(
        `SELECT (CAST(round(unixepoch(m.date_time, 'subsec') * 1000) AS INTEGER) - CAST(? AS INTEGER)) / CAST(? AS INTEGER) AS bucket, count(*) AS n ` +
          `FROM ${where.from} WHERE ${where.sql} GROUP BY bucket`,
      ).all(start, bucketMs, ...where.params) as { bucket: number | null; n: number }[];
      const counts = new Array<number>(n).fill(0);
      for (const r of rows) if (r.bucket !== null && r.bucket >= 0 && r.bucket < n) counts[r.bucket] = r.n;
      if (!options.query || options.query.kind === 'all') this.addTallies(counts, options.log, range.from, range.to, start, bucketMs);
      return { from, to, bucketMs, counts };
    });
  }

  /** Adds the per-minute counts of tallies in [from, to) to histogram buckets. */
  private addTallies(counts: number[], log: MessageFilter['log'], from: string, to: string, start: number, bucketMs: number): void {
    const logs = filterLogs(log);
    const logSql = logs === undefined ? '1' : logs.length === 0 ? '0' : `log IN (${logs.map(() => '?').join(', ')})`;
    const rows = this.prepared(`SELECT minutes FROM elmah_tallies WHERE ${logSql} AND last_seen >= ? AND first_seen < ?`)
      .pluck()
      .all(...(logs ?? []), from, to) as string[];
    for (const text of rows) {
      for (const [minute, count] of JSON.parse(text) as [string, number][]) {
        if (minute < from || minute >= to) continue;
        const i = Math.floor((Date.parse(minute) - start) / bucketMs);
        if (i >= 0 && i < counts.length) counts[i]! += count;
      }
    }
  }

  async neighbours(log: string, id: string): Promise<{ newer?: string | undefined; older?: string | undefined }> {
    return this.use(() => {
      const row = this.stmts.get!.get(log, id) as MessageRow | undefined;
      if (!row) return {};
      const newer = this.prepared(
        'SELECT id FROM elmah_messages INDEXED BY elmah_messages_list WHERE log = ? AND (date_time, id) > (?, ?) ORDER BY date_time ASC, id ASC LIMIT 1',
      )
        .pluck()
        .get(log, row.date_time, row.id) as string | undefined;
      const older = this.prepared(
        'SELECT id FROM elmah_messages INDEXED BY elmah_messages_list WHERE log = ? AND (date_time, id) < (?, ?) ORDER BY date_time DESC, id DESC LIMIT 1',
      )
        .pluck()
        .get(log, row.date_time, row.id) as string | undefined;
      return { newer, older };
    });
  }

  // ---- delete and retention ----

  /**
   * Removes the given messages and keeps everything around them right: full-text rows, unused stacks, the log
   * counters and each touched group (count, first and last seen, representative), with work proportional to
   * what was removed — index look-ups, never a scan of a group or a log. Runs in the caller's transaction.
   */
  private removeRows(removed: readonly RemovedRow[]): void {
    if (removed.length === 0) return;
    const sids = new Set<number>();
    const touched = new Map<string, { log: string; fingerprint: string; n: number }>();
    const perLog = new Map<string, number>();
    for (const r of removed) {
      this.stmts.deleteRid!.run(r.rid);
      this.unindex(r);
      sids.add(r.sid);
      const k = `${r.log}\n${r.fingerprint}`;
      const t = touched.get(k) ?? { log: r.log, fingerprint: r.fingerprint, n: 0 };
      t.n++;
      touched.set(k, t);
      perLog.set(r.log, (perLog.get(r.log) ?? 0) + 1);
    }
    for (const sid of sids) this.dropUnusedStack(sid);
    for (const t of touched.values()) this.regroup(t.log, t.fingerprint, t.n, 0);
    for (const [log, n] of perLog) {
      this.stmts.logCount!.run(n, log, log);
      this.stmts.logClean!.run(log);
    }
  }

  /** Takes a removed message's entries out of the per-message full-text index: the same text it was given. */
  private unindex(r: RemovedRow): void {
    const code = this.logCode(r.log);
    const type = r.shape === 1 ? ((this.stmts.stackRead!.get(r.sid) as StackRow | undefined)?.type ?? '') : '';
    const head = headText({ shape: r.shape as 0 | 1 | 2, head: r.head, frames: null }, type, r.title);
    this.stmts.messageFtsDelete!.run(
      r.rid,
      ftsLogText(r.title, code),
      ftsLogText(head, code),
      ftsLogText(r.url, code),
      ftsLogText(r.user_name, code),
      ftsLogText(r.hostname, code),
    );
  }

  /**
   * Corrects one group after `messages` of its stored messages and `counted` of its counted-only occurrences
   * went: counts by arithmetic, times and the representative from the group index and its tallies — a few
   * look-ups, whatever the size of the group.
   */
  private regroup(log: string, fingerprint: string, messages: number, counted: number): void {
    const g = this.stmts.groupGet!.get(log, fingerprint) as GroupRow | undefined;
    if (!g) return;
    const count = g.count - messages - counted;
    const countedOnly = Math.max(0, g.counted_only - counted);
    if (count <= 0) {
      this.stmts.groupDelete!.run(log, fingerprint);
      return;
    }
    const newest = this.stmts.groupNewest!.get(log, fingerprint, log, fingerprint) as
      { id: string; date_time: string; title: string; sid: number; status_code: number | null } | undefined;
    const tallies = this.stmts.groupTallies!.get(log, fingerprint) as { first: string | null; last: string | null };
    const oldest = newest ? (this.stmts.groupOldest!.get(log, fingerprint) as string) : undefined;
    const firsts = [oldest, tallies.first ?? undefined].filter((x): x is string => x !== undefined).sort();
    const lasts = [newest?.date_time, tallies.last ?? undefined].filter((x): x is string => x !== undefined).sort();
    if (firsts.length === 0 || lasts.length === 0) {
      this.stmts.groupDelete!.run(log, fingerprint);
      return;
    }
    const type = newest ? ((this.stmts.stackRead!.get(newest.sid) as StackRow | undefined)?.type ?? g.type) : g.type;
    this.stmts.groupSet!.run(
      count,
      countedOnly,
      firsts[0]!,
      lasts[lasts.length - 1]!,
      newest?.date_time ?? null,
      newest?.id ?? '',
      newest?.title ?? g.title,
      type,
      newest ? newest.status_code : g.status_code,
      log,
      fingerprint,
    );
  }

  async delete(log: string, target: DeleteTarget): Promise<number> {
    if ('ids' in target) {
      const ids = [...new Set(target.ids)];
      let removed = 0;
      for (let i = 0; i < ids.length; i += REMOVE_CHUNK) {
        if (i > 0) await yieldLoop();
        await this.writeGate();
        const chunk = ids.slice(i, i + REMOVE_CHUNK);
        removed += this.use(() =>
          this.db
            .transaction(() => {
              const rows = chunk
                .map((id) => this.stmts.removedById!.get(log, id) as RemovedRow | undefined)
                .filter((r): r is RemovedRow => r !== undefined);
              this.removeRows(rows);
              return rows.length;
            })
            .immediate(),
        );
        this.wrote();
      }
      return removed;
    }
    // By query: bounded transactions, the event loop free between them.
    const where = this.drivenFilter({ ...target.filter, log });
    const columns = REMOVED_COLUMNS.split(', ')
      .map((c) => `m.${c}`)
      .join(', ');
    const select = `SELECT ${columns} FROM ${where.from} WHERE ${where.sql} LIMIT ${REMOVE_CHUNK}`;
    let removed = 0;
    for (;;) {
      await this.writeGate();
      const n = this.use(() =>
        this.db
          .transaction(() => {
            const rows = this.prepared(select).all(...where.params) as RemovedRow[];
            this.removeRows(rows);
            return rows.length;
          })
          .immediate(),
      );
      removed += n;
      this.wrote();
      if (n < REMOVE_CHUNK) return removed;
      await yieldLoop();
    }
  }

  /**
   * One bounded pass of retention: per log, the messages older than the age limit and the oldest beyond the
   * count limit, at most `limit` in all, in transactions of at most REMOVE_CHUNK; then tallies that outlived
   * the messages around them. Returns how many messages went.
   */
  private pruneNow(options: PruneOptions): number {
    const { ageCutoff, maxCount } = retentionLimits(options, this.retention);
    let budget = pruneBudget(options.limit);
    const logs = options.log !== undefined ? [options.log] : (this.stmts.logsAll!.all() as { log: string }[]).map((r) => r.log);
    let total = 0;
    for (const log of logs) {
      if (budget <= 0) break;
      let byCount = false;
      for (;;) {
        const step = Math.min(budget, REMOVE_CHUNK);
        if (step <= 0) break;
        const n = this.db
          .transaction(() => {
            let rows: RemovedRow[] = [];
            if (ageCutoff !== undefined) rows = this.stmts.olderRows!.all(log, ageCutoff, step) as RemovedRow[];
            if (rows.length < step && maxCount !== undefined) {
              const count = (this.stmts.logCountOf!.get(log) as number | undefined) ?? 0;
              const over = Math.min(count - rows.length - maxCount, step - rows.length);
              if (over > 0) {
                byCount = true;
                // The oldest rows: those already picked by age come first in the same order, so skip them.
                const more = this.stmts.oldestRows!.all(log, rows.length + over) as RemovedRow[];
                rows = more;
              }
            }
            this.removeRows(rows);
            return rows.length;
          })
          .immediate();
        total += n;
        budget -= n;
        if (n < step) break;
      }
      const oldest = byCount ? (this.stmts.logOldest!.get(log) as string | undefined) : undefined;
      this.pruneTallies(log, tallyCutoff(ageCutoff, oldest));
    }
    if (options.log === undefined && ageCutoff !== undefined) {
      for (const log of this.stmts.tallyLogs!.all() as string[]) if (!logs.includes(log)) this.pruneTallies(log, ageCutoff);
    }
    return total;
  }

  /** Drops the tallies of a log last seen before `before`, and corrects their groups. */
  private pruneTallies(log: string, before: string | undefined): void {
    if (before === undefined) return;
    this.db
      .transaction(() => {
        const gone = new Map<string, number>();
        for (const r of this.stmts.talliesBefore!.all(log, before) as { fingerprint: string; count: number }[]) {
          gone.set(r.fingerprint, (gone.get(r.fingerprint) ?? 0) + r.count);
        }
        for (const [fp, n] of gone) this.regroup(log, fp, 0, n);
      })
      .immediate();
  }

  async prune(options: PruneOptions = {}): Promise<number> {
    await this.writeGate();
    if (options.limit !== undefined) {
      const n = this.use(() => this.pruneNow(options));
      this.wrote();
      return n;
    }
    // Without a bound, it goes in bounded passes with the event loop free between them.
    let total = 0;
    for (;;) {
      const n = this.use(() => this.pruneNow({ ...options, limit: REMOVE_CHUNK }));
      this.wrote();
      total += n;
      if (n < REMOVE_CHUNK) return total;
      await yieldLoop();
      await this.writeGate();
    }
  }

  async logs(): Promise<LogSummary[]> {
    return this.use(() =>
      (this.stmts.logsAll!.all() as { log: string; count: number; last_seen: string | null }[])
        .map((r) => ({ name: r.log, count: r.count, lastSeen: opt(r.last_seen) }))
        .sort((a, b) => a.name.localeCompare(b.name)),
    );
  }

  // ---- keys ----

  async putKey(record: KeyRecord): Promise<void> {
    this.use(() => {
      try {
        this.stmts.keyPut!.run(
          record.id,
          record.name,
          JSON.stringify(record.permissions),
          JSON.stringify(record.logs),
          record.hash,
          record.created,
          record.expires ?? null,
          record.revoked ?? null,
        );
      } catch (error) {
        if ((error as { code?: string }).code?.startsWith('SQLITE_CONSTRAINT')) throw duplicateKeyError(record.id, error);
        throw error;
      }
    });
  }

  async getKey(id: string): Promise<KeyRecord | undefined> {
    return this.use(() => {
      const row = this.stmts.keyGet!.get(id) as KeyRow | undefined;
      return row && toKey(row);
    });
  }

  async listKeys(): Promise<KeyRecord[]> {
    return this.use(() => (this.stmts.keyList!.all() as KeyRow[]).map(toKey));
  }

  async putDeployment(d: Deployment): Promise<'created' | 'duplicate'> {
    return this.use(() =>
      this.prepared(DEPLOYMENT_PUT).run(
        d.id,
        d.version,
        d.created,
        d.description ?? null,
        d.userName ?? null,
        d.userEmail ?? null,
        d.log ?? null,
      ).changes > 0
        ? 'created'
        : 'duplicate',
    );
  }

  async deployments(query: DeploymentQuery = {}): Promise<Deployment[]> {
    const logs = query.log === undefined ? undefined : typeof query.log === 'string' ? [query.log] : [...query.log];
    const where = logs ? `WHERE log IS NULL OR log IN (${logs.map(() => '?').join(', ') || 'NULL'})` : '';
    return this.use(() =>
      (
        this.prepared(`SELECT * FROM elmah_deployments ${where} ORDER BY created DESC, id DESC LIMIT ?`).all(
          ...(logs ?? []),
          deploymentPageSize(query.size),
        ) as DeploymentRow[]
      ).map(toDeployment),
    );
  }

  async revokeKey(id: string, at: Date = new Date()): Promise<boolean> {
    return this.use(() => this.stmts.keyRevoke!.run(at.toISOString(), id).changes > 0);
  }

  async endSession(sid: string, until: string): Promise<void> {
    this.use(() =>
      this.db
        .transaction(() => {
          this.stmts.sessionsForget!.run(new Date().toISOString());
          this.stmts.sessionEnd!.run(sid, until);
        })
        .immediate(),
    );
  }

  async sessionEnded(sid: string): Promise<boolean> {
    return this.use(() => this.stmts.sessionEnded!.get(sid, new Date().toISOString()) !== undefined);
  }
}

/** Parsed token lists of elmah_words calls, by their JSON text (a query's few phrases, over many rows). */
const TOKEN_CACHE = new Map<string, string[]>();

/** Registers elmah_words(text, tokensJson, prefix): the reference evaluator's phrase test, for row-by-row matching. */
function registerFunctions(db: Database): void {
  db.function('elmah_words', { deterministic: true, varargs: false }, (text: unknown, tokens: unknown, prefix: unknown) => {
    if (typeof text !== 'string' || typeof tokens !== 'string') return 0;
    let list = TOKEN_CACHE.get(tokens);
    if (!list) {
      list = JSON.parse(tokens) as string[];
      if (TOKEN_CACHE.size > 256) TOKEN_CACHE.clear();
      TOKEN_CACHE.set(tokens, list);
    }
    return wordsMatch(text, list, prefix === 1) ? 1 : 0;
  });
}

function toGroup(r: GroupRow): ErrorGroup {
  return {
    log: r.log,
    fingerprint: r.fingerprint,
    count: r.count,
    firstSeen: r.first_seen,
    lastSeen: r.last_seen,
    lastId: r.last_id,
    title: r.title,
    type: r.type,
    statusCode: opt(r.status_code),
    countedOnly: r.counted_only,
    state: decodeState(r.triage),
  };
}

function toKey(row: KeyRow): KeyRecord {
  return {
    id: row.id,
    name: row.name,
    permissions: JSON.parse(row.permissions) as Permission[],
    logs: JSON.parse(row.logs) as string[],
    hash: row.hash,
    created: row.created,
    expires: opt(row.expires),
    revoked: opt(row.revoked),
  };
}

/**
 * The index that serves a query's top-level conjunct: a type through the stacks (few rows) and their messages'
 * sid index. Without statistics SQLite prefers `log = ?` on the newest-first index and then reads every
 * message of the log.
 */
function indexHint(query: QueryNode | undefined): string | undefined {
  if (!query) return undefined;
  const conjuncts = query.kind === 'and' ? query.children : [query];
  if (conjuncts.some((n) => n.kind === 'term' && n.field === 'type' && !n.prefix)) return 'elmah_messages_stack';
  return undefined;
}

/**
 * Copies version-1 rows (messages with shared texts) into the version-2 tables through the normal write
 * path, in the migration's transaction; groups are rebuilt from the messages by that path.
 */
function copyFromV1(db: Database, write: (batch: ErrorMessage[]) => void): void {
  const rows = db.prepare(
    'SELECT m.*, t.title AS t_title, t.source AS t_source, t.detail AS t_detail FROM elmah_v1_messages m LEFT JOIN elmah_v1_texts t ON t.tid = m.tid ORDER BY m.rid',
  );
  let batch: ErrorMessage[] = [];
  for (const r of rows.iterate() as Iterable<Record<string, unknown>>) {
    const lists = r.lists ? (JSON.parse(String(r.lists)) as [string, string][][]) : [];
    const kv = (i: number) => (lists[i] ?? []).map(([key, value]) => ({ key, value }));
    const s = (v: unknown): string | undefined => (v === null || v === undefined ? undefined : String(v));
    batch.push({
      id: String(r.id),
      log: String(r.log),
      dateTime: String(r.date_time),
      title: String(r.t_title ?? ''),
      type: String(r.type),
      detail: s(r.t_detail),
      source: s(r.t_source),
      statusCode: r.status_code === null ? undefined : Number(r.status_code),
      severity: (SEVERITIES.includes(r.severity as Severity) ? r.severity : 'Error') as Severity,
      url: s(r.url),
      method: s(r.method),
      user: s(r.user_name),
      hostname: s(r.hostname),
      application: s(r.application),
      version: s(r.version),
      correlationId: s(r.correlation_id),
      category: s(r.category),
      serverVariables: kv(0),
      cookies: kv(1),
      form: kv(2),
      queryString: kv(3),
      data: kv(4),
      fingerprint: String(r.fingerprint),
    });
    if (batch.length >= 500) {
      write(batch);
      batch = [];
    }
  }
  if (batch.length > 0) write(batch);
}
