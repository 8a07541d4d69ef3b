// SqliteStore: the embedded default backend (better-sqlite3, WAL, FTS5, versioned schema, group aggregate).
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { ElmahError, isElmahError } from '../model/errors.js';
import type { KeyRecord } from '../model/keys.js';
import type { ErrorMessage, KeyValue, Severity } from '../model/message.js';
import type { Permission } from '../model/permissions.js';
import type { QueryNode } from '../model/query.js';
import type { OpenStoreOptions } from './open.js';
import { compileFilter, ftsText, hasTextConjunct } from './sqlite-query.js';
import { migrate } from './sqlite-schema.js';
import {
  COUNT_CAP, closedError, cutoff, decodeCursor, encodeCursor, filterLogs, histogramBuckets, pageIndex, pageSize,
} from './shared.js';
import {
  DEFAULT_RETENTION, type AppendResult, type DeleteTarget, type ErrorGroup, type GroupOptions, type GroupResult,
  type HistogramOptions, type HistogramResult, type LogSummary, type MessageFilter, type RetentionOptions, type SearchOptions,
  type SearchResult, type Store,
} from './types.js';

type Database = BetterSqlite3.Database;
type Statement = BetterSqlite3.Statement;

/** Options of {@link SqliteStore.open}. */
export interface SqliteStoreOptions extends OpenStoreOptions {
  /** How long a write waits for another connection's lock before failing with ERR_ELMAH_STORE_BUSY, in ms. Default 1000. */
  busyTimeout?: number;
  /**
   * Retention is applied on append at most this often, in ms; `false` turns it off (call `prune()` yourself).
   * Default 60,000 (once a minute).
   */
  autoPruneMs?: number | false;
  /** Tuning: a filtered search with at most this many matches sorts them all, above it walks the newest-first index. Default 1000. */
  probeLimit?: number;
}

/** The row shape of elmah_messages joined with elmah_texts. */
interface MessageRow {
  rid: number;
  log: string;
  id: string;
  date_time: string;
  tid: number;
  type: string;
  status_code: number | null;
  severity: string;
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
}

interface TextRow {
  title: string;
  source: string | null;
  detail: string | null;
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

/** What a delete removed, for the bookkeeping that follows it. */
interface RemovedRow {
  rid: number;
  tid: number;
  log: string;
  fingerprint: string;
}

const MESSAGE_COLUMNS =
  'm.rid, m.log, m.id, m.date_time, m.tid, m.type, m.status_code, m.severity, m.url, m.method, m.user_name, m.hostname, ' +
  'm.application, m.version, m.correlation_id, m.category, m.fingerprint, m.lists';

const LIST_ORDER = ['serverVariables', 'cookies', 'form', 'queryString', 'data'] as const;

/** A filtered search with at most this many matches sorts them all; above it, it walks the newest-first index. */
const DEFAULT_PROBE = 1000;

/** Retention deletes this many messages per transaction. */
const PRUNE_CHUNK = 5000;

/** Loads better-sqlite3 on demand, so that a project using another store never needs it. */
async function loadDriver(): Promise<typeof BetterSqlite3> {
  try {
    const mod = (await import('better-sqlite3')) as unknown as { default?: typeof BetterSqlite3 };
    return mod.default ?? (mod as unknown as typeof BetterSqlite3);
  } catch (cause) {
    throw new ElmahError('ERR_ELMAH_DRIVER_MISSING', 'The SQLite store needs the better-sqlite3 package.', {
      cause,
      help: 'install better-sqlite3 (or pass a Database): npm install better-sqlite3',
    });
  }
}

/** Maps a driver failure to a coded ElmahError: locked → BUSY (transient), damaged → CORRUPT, I/O → UNAVAILABLE. */
export function sqliteError(error: unknown, where: string): unknown {
  if (isElmahError(error)) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code !== 'string' || !code.startsWith('SQLITE_')) return error;
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new ElmahError('ERR_ELMAH_STORE_BUSY', `The SQLite store ${where} is locked by another connection.`, {
      cause: error,
      transient: true,
      help: 'Retry shortly; if it persists, look for a long-running process holding the file (raise busyTimeout if needed).',
    });
  }
  if (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB') {
    return new ElmahError('ERR_ELMAH_STORE_CORRUPT', `The SQLite store ${where} is not a database or is damaged.`, {
      cause: error,
      help: 'Point ELMAH_STORE at another file, or move this one away (keep it for inspection) and start afresh.',
    });
  }
  if (/^SQLITE_(CANTOPEN|READONLY|IOERR|FULL|PERM|AUTH|NOLFS)/.test(code)) {
    return new ElmahError('ERR_ELMAH_STORE_UNAVAILABLE', `The SQLite store ${where} cannot be read or written (${code}).`, {
      cause: error,
      transient: code.startsWith('SQLITE_IOERR') || code === 'SQLITE_FULL',
      help: 'Check that the folder exists, is writable by this process and that the disk is not full.',
    });
  }
  return error;
}

/** Hash of the shared texts of a message; lengths first so that no two different tuples feed the same bytes. */
function textHash(title: string, type: string, source: string | undefined, detail: string | undefined): Buffer {
  return createHash('sha256')
    .update(`${title.length}:${type.length}:${source?.length ?? -1}:${detail?.length ?? -1}\n`)
    .update(title)
    .update(type)
    .update(source ?? '')
    .update(detail ?? '')
    .digest();
}

function encodeLists(m: ErrorMessage): string | null {
  const lists = LIST_ORDER.map((f) => (m[f] ?? []).map((kv) => [kv.key, kv.value]));
  return lists.every((l) => l.length === 0) ? null : JSON.stringify(lists);
}

function decodeLists(text: string | null): Record<(typeof LIST_ORDER)[number], KeyValue[]> {
  const parsed = text ? (JSON.parse(text) as [string, string][][]) : [];
  const out = {} as Record<(typeof LIST_ORDER)[number], KeyValue[]>;
  LIST_ORDER.forEach((f, i) => {
    out[f] = (parsed[i] ?? []).map(([key, value]) => ({ key, value }));
  });
  return out;
}

function opt<T>(v: T | null): T | undefined {
  return v === null ? undefined : v;
}

/** The embedded SQLite backend. Open it with {@link SqliteStore.open}. */
export class SqliteStore implements Store {
  readonly kind = 'sqlite' as const;
  private closed = false;
  private readonly retention: Required<RetentionOptions>;
  private readonly autoPruneMs: number | false;
  private lastAutoPrune = 0;
  private readonly probe: number;
  private readonly stmts: Record<string, Statement>;
  private readonly cache = new Map<string, Statement>();

  private constructor(
    private readonly db: Database,
    private readonly where: string,
    private readonly ownsDb: boolean,
    options: SqliteStoreOptions,
  ) {
    this.retention = { ...DEFAULT_RETENTION, ...options.retention };
    this.autoPruneMs = options.autoPruneMs ?? 60_000;
    this.probe = Math.max(0, Math.floor(options.probeLimit ?? DEFAULT_PROBE));
    const p = (sql: string): Statement => db.prepare(sql);
    this.stmts = {
      textFind: p('SELECT tid, hash FROM elmah_texts WHERE hkey = ?'),
      textInsert: p('INSERT INTO elmah_texts (hkey, hash, title, type, source, detail) VALUES (?, ?, ?, ?, ?, ?)'),
      textFts: p('INSERT INTO elmah_texts_fts (rowid, title, type, detail, source) VALUES (?, ?, ?, ?, ?)'),
      textUnused: p('DELETE FROM elmah_texts WHERE tid = ? AND NOT EXISTS (SELECT 1 FROM elmah_messages WHERE tid = ?)'),
      textFtsDelete: p('DELETE FROM elmah_texts_fts WHERE rowid = ?'),
      textRead: p('SELECT title, source, detail FROM elmah_texts WHERE tid = ?'),
      insert: p(
        'INSERT OR IGNORE INTO elmah_messages (log, id, date_time, tid, type, status_code, severity, url, method, user_name, hostname, ' +
          'application, version, correlation_id, category, fingerprint, lists) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      messageFts: p('INSERT INTO elmah_messages_fts (rowid, url, user_name, hostname) VALUES (?, ?, ?, ?)'),
      messageFtsDelete: p('DELETE FROM elmah_messages_fts WHERE rowid = ?'),
      groupUpsert: p(
        'INSERT INTO elmah_groups (log, fingerprint, count, first_seen, last_seen, last_id, title, type, status_code) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ' +
          'ON CONFLICT (log, fingerprint) DO UPDATE SET count = count + excluded.count, first_seen = min(first_seen, excluded.first_seen), ' +
          'title = CASE WHEN (excluded.last_seen, excluded.last_id) > (last_seen, last_id) THEN excluded.title ELSE title END, ' +
          'type = CASE WHEN (excluded.last_seen, excluded.last_id) > (last_seen, last_id) THEN excluded.type ELSE type END, ' +
          'status_code = CASE WHEN (excluded.last_seen, excluded.last_id) > (last_seen, last_id) THEN excluded.status_code ELSE status_code END, ' +
          'last_id = CASE WHEN (excluded.last_seen, excluded.last_id) > (last_seen, last_id) THEN excluded.last_id ELSE last_id END, ' +
          'last_seen = max(last_seen, excluded.last_seen)',
      ),
      logUpsert: p(
        'INSERT INTO elmah_logs (log, count, last_seen) VALUES (?, ?, ?) ' +
          'ON CONFLICT (log) DO UPDATE SET count = count + excluded.count, last_seen = max(last_seen, excluded.last_seen)',
      ),
      get: p(`SELECT ${MESSAGE_COLUMNS} FROM elmah_messages m WHERE m.log = ? AND m.id = ?`),
      deleteId: p('DELETE FROM elmah_messages WHERE log = ? AND id = ? RETURNING rid, tid, log, fingerprint'),
      groupCount: p('SELECT count(*) AS n, min(date_time) AS first FROM elmah_messages WHERE log = ? AND fingerprint = ?'),
      groupLast: p(
        'SELECT id, date_time, tid, type, status_code FROM elmah_messages WHERE log = ? AND fingerprint = ? ORDER BY date_time DESC, id DESC LIMIT 1',
      ),
      groupSet: p(
        'UPDATE elmah_groups SET count = ?, first_seen = ?, last_seen = ?, last_id = ?, title = ?, type = ?, status_code = ? WHERE log = ? AND fingerprint = ?',
      ),
      groupDelete: p('DELETE FROM elmah_groups WHERE log = ? AND fingerprint = ?'),
      logCount: p('UPDATE elmah_logs SET count = count - ?, last_seen = (SELECT max(date_time) FROM elmah_messages WHERE log = ?) WHERE log = ?'),
      logClean: p('DELETE FROM elmah_logs WHERE count <= 0'),
      logsAll: p('SELECT log, count, last_seen FROM elmah_logs WHERE count > 0'),
      logCountOf: p('SELECT count FROM elmah_logs WHERE log = ?'),
      keyPut: p('INSERT INTO elmah_keys (id, name, permissions, logs, hash, created, expires, revoked) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      keyGet: p('SELECT * FROM elmah_keys WHERE id = ?'),
      keyList: p('SELECT * FROM elmah_keys ORDER BY created, id'),
      keyRevoke: p('UPDATE elmah_keys SET revoked = coalesce(revoked, ?) WHERE id = ?'),
    };
  }

  /**
   * Opens (creating it and its folder when needed) a SQLite file, `:memory:`, or wraps an existing better-sqlite3
   * `Database` (which the store then does not close). Sets WAL, busy_timeout and synchronous=NORMAL, and migrates
   * the schema forward. Fails with ERR_ELMAH_DRIVER_MISSING, ERR_ELMAH_STORE_CORRUPT, ERR_ELMAH_STORE_BUSY,
   * ERR_ELMAH_STORE_UNAVAILABLE or ERR_ELMAH_STORE_VERSION.
   */
  static async open(pathOrDatabase: string | Database, options: SqliteStoreOptions = {}): Promise<SqliteStore> {
    let db: Database;
    let where: string;
    let owns = true;
    if (typeof pathOrDatabase === 'string') {
      const memory = pathOrDatabase === ':memory:' || pathOrDatabase === '';
      where = memory ? ':memory:' : resolve(pathOrDatabase);
      const Driver = await loadDriver();
      try {
        if (!memory) mkdirSync(dirname(where), { recursive: true });
        db = new Driver(memory ? ':memory:' : where, { timeout: options.busyTimeout ?? 1000 });
      } catch (error) {
        // The package is there but its native addon is not: its install script did not run or was not approved.
        if (/bindings file|better_sqlite3\.node|NODE_MODULE_VERSION|invalid ELF/i.test(String((error as Error | null)?.message))) {
          throw new ElmahError('ERR_ELMAH_DRIVER_MISSING', 'better-sqlite3 is installed but its native addon is missing or was built for another Node.js.', {
            cause: error,
            help: 'Let its install script run: npm install-scripts approve better-sqlite3 && npm rebuild better-sqlite3',
          });
        }
        throw wrapOpen(error, where);
      }
    } else if (pathOrDatabase && typeof (pathOrDatabase as Database).prepare === 'function') {
      db = pathOrDatabase;
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
        // Checkpoint every ~40 MB of WAL instead of 4 MB: hot index pages rewritten by many commits are copied
        // back (and synced) once per checkpoint, which made appends ~40 % faster in wall time here. The WAL file
        // is cut back to 64 MB after a checkpoint.
        db.pragma('wal_autocheckpoint = 10000');
        db.pragma('journal_size_limit = 67108864');
      }
      migrate(db);
      return new SqliteStore(db, where, owns, options);
    } catch (error) {
      if (owns) db.close();
      throw wrapOpen(error, where);
    }
  }

  describe(): string {
    return `sqlite:${this.where}`;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.cache.clear();
    if (!this.ownsDb) return;
    try {
      this.db.pragma('optimize');
    } catch {
      // Best effort: statistics for the query planner; the data is safe either way.
    }
    this.db.close();
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

  /** The tid of a message's shared texts, inserting them (and their full-text entry) when new. */
  private textId(m: ErrorMessage, created: Set<number>, batch: Map<string, number>): number {
    const hash = textHash(m.title, m.type, m.source, m.detail);
    const hex = hash.toString('hex');
    const known = batch.get(hex);
    if (known !== undefined) return known;
    const hkey = hash.readUIntBE(0, 6);
    const found = (this.stmts.textFind!.all(hkey) as { tid: number; hash: Buffer }[]).find((r) => r.hash.equals(hash));
    let tid = found?.tid;
    if (tid === undefined) {
      tid = Number(this.stmts.textInsert!.run(hkey, hash, m.title, m.type, m.source ?? null, m.detail ?? null).lastInsertRowid);
      this.stmts.textFts!.run(tid, ftsText(m.title), ftsText(m.type), ftsText(m.detail), ftsText(m.source));
      created.add(tid);
    }
    batch.set(hex, tid);
    return tid;
  }

  async append(messages: readonly ErrorMessage[]): Promise<AppendResult[]> {
    const results = this.use(() =>
      this.db
        .transaction(() => {
          const out: AppendResult[] = [];
          const used = new Set<number>();
          const created = new Set<number>();
          const texts = new Map<string, number>();
          const groups = new Map<string, { m: ErrorMessage; count: number; first: string }>();
          const logs = new Map<string, { count: number; last: string }>();
          for (const m of messages) {
            const tid = this.textId(m, created, texts);
            const info = this.stmts.insert!.run(
              m.log, m.id, m.dateTime, tid, m.type, m.statusCode ?? null, m.severity, m.url ?? null, m.method ?? null, m.user ?? null,
              m.hostname ?? null, m.application ?? null, m.version ?? null, m.correlationId ?? null, m.category ?? null, m.fingerprint,
              encodeLists(m),
            );
            if (info.changes === 0) {
              out.push({ id: m.id, status: 'duplicate' });
              continue;
            }
            out.push({ id: m.id, status: 'created' });
            used.add(tid);
            const url = ftsText(m.url);
            const user = ftsText(m.user);
            const host = ftsText(m.hostname);
            if (url !== null || user !== null || host !== null) this.stmts.messageFts!.run(info.lastInsertRowid, url, user, host);
            const gk = `${m.log}\n${m.fingerprint}`;
            const g = groups.get(gk);
            if (!g) groups.set(gk, { m, count: 1, first: m.dateTime });
            else {
              g.count++;
              if (m.dateTime < g.first) g.first = m.dateTime;
              if (m.dateTime > g.m.dateTime || (m.dateTime === g.m.dateTime && m.id > g.m.id)) g.m = m;
            }
            const l = logs.get(m.log);
            if (!l) logs.set(m.log, { count: 1, last: m.dateTime });
            else {
              l.count++;
              if (m.dateTime > l.last) l.last = m.dateTime;
            }
          }
          // A duplicate whose texts differ from the stored message's leaves an unused text behind: drop it.
          for (const tid of created) if (!used.has(tid)) this.dropUnusedText(tid);
          for (const { m, count, first } of groups.values()) {
            this.stmts.groupUpsert!.run(m.log, m.fingerprint, count, first, m.dateTime, m.id, m.title, m.type, m.statusCode ?? null);
          }
          for (const [log, { count, last }] of logs) this.stmts.logUpsert!.run(log, count, last);
          return out;
        })
        .immediate(),
    );
    this.maybeAutoPrune();
    return results;
  }

  /** Applies retention now and then on append; a failure here never fails the append that triggered it. */
  private maybeAutoPrune(): void {
    if (this.autoPruneMs === false) return;
    const now = Date.now();
    if (now - this.lastAutoPrune < this.autoPruneMs) return;
    this.lastAutoPrune = now;
    try {
      this.pruneNow({});
      // Keeps planner statistics current as the log grows; does nothing when the tables changed little.
      this.db.pragma('optimize');
    } catch {
      // Busy or failing: the next window tries again; appends must not fail because of retention.
    }
  }

  /** Removes a shared text (and its full-text entry) when no message uses it any more. */
  private dropUnusedText(tid: number): void {
    if (this.stmts.textUnused!.run(tid, tid).changes > 0) this.stmts.textFtsDelete!.run(tid);
  }

  // ---- reading ----

  private toMessage(row: MessageRow, text: TextRow | undefined): ErrorMessage {
    return {
      id: row.id,
      log: row.log,
      dateTime: row.date_time,
      title: text?.title ?? '',
      type: row.type,
      detail: opt(text?.detail ?? null),
      source: opt(text?.source ?? null),
      statusCode: opt(row.status_code),
      severity: row.severity as Severity,
      url: opt(row.url),
      method: opt(row.method),
      user: opt(row.user_name),
      hostname: opt(row.hostname),
      application: opt(row.application),
      version: opt(row.version),
      correlationId: opt(row.correlation_id),
      category: opt(row.category),
      ...decodeLists(row.lists),
      fingerprint: row.fingerprint,
    };
  }

  private hydrate(rows: MessageRow[]): ErrorMessage[] {
    const texts = new Map<number, TextRow | undefined>();
    return rows.map((row) => {
      if (!texts.has(row.tid)) texts.set(row.tid, this.stmts.textRead!.get(row.tid) as TextRow | undefined);
      return this.toMessage(row, texts.get(row.tid));
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
   * A page of matching messages, newest first, and the capped total. Unfiltered pages walk the newest-first
   * index and count from the per-log counters. A filtered search first collects up to COUNT_CAP + 1 matching
   * row ids through the predicate's own index (that is the capped total): a small set (up to probeLimit) is
   * sorted whole, while a larger one is paged by walking the newest-first index, where matches come quickly.
   */
  async search(options: SearchOptions): Promise<SearchResult> {
    return this.use(() => {
      const size = pageSize(options.size);
      const where = compileFilter(options);
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
      let rows: MessageRow[];
      let total: number;
      const order = 'ORDER BY m.date_time DESC, m.id DESC LIMIT ? OFFSET ?';
      let probe: number[] | undefined;
      if (filtered) {
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
        total = probe ? probe.length : this.countLogs(options.log);
        rows = this.prepared(`SELECT ${MESSAGE_COLUMNS} FROM elmah_messages m INDEXED BY ${index} WHERE ${where.sql}${cursorSql} ${order}`).all(
          ...where.params, ...cursorParams, size + 1, offset,
        ) as MessageRow[];
      }
      const more = rows.length > size;
      const messages = this.hydrate(rows.slice(0, size));
      const last = messages[messages.length - 1];
      return {
        messages,
        total,
        totalExact: total <= COUNT_CAP,
        after: more && last ? encodeCursor(last.dateTime, last.id) : undefined,
      };
    });
  }

  /** The filter written so that the predicate's own index finds the matches (see indexHint and hasTextConjunct). */
  private drivenFilter(filter: MessageFilter): { from: string; sql: string; params: unknown[] } {
    const hint = indexHint(filter.query);
    const where = compileFilter(filter, { logIndex: hint === undefined && !hasTextConjunct(filter.query) });
    return { from: `elmah_messages m${hint ? ` INDEXED BY ${hint}` : ''}`, ...where };
  }

  async groups(options: GroupOptions): Promise<GroupResult> {
    return this.use(() => {
      const size = pageSize(options.size);
      const offset = pageIndex(options.page) * size;
      const filtered = (options.query && options.query.kind !== 'all') || options.from !== undefined || options.to !== undefined;
      if (!filtered) {
        const logs = filterLogs(options.log);
        const logSql = logs === undefined ? '1' : logs.length === 0 ? '0' : `log IN (${logs.map(() => '?').join(', ')})`;
        const logParams = logs ?? [];
        const total = Number(this.prepared(`SELECT count(*) FROM elmah_groups WHERE ${logSql}`).pluck().get(...logParams));
        const rows = this.prepared(
          `SELECT * FROM elmah_groups WHERE ${logSql} ORDER BY last_seen DESC, last_id DESC LIMIT ? OFFSET ?`,
        ).all(...logParams, size, offset) as GroupRow[];
        return { groups: rows.map(toGroup), total };
      }
      const where = this.drivenFilter(options);
      // The newest message of each group is its representative: max over "date_time id" (a space sorts below every id character).
      const grouped =
        'SELECT m.log, m.fingerprint, count(*) AS count, min(m.date_time) AS first_seen, max(m.date_time || \' \' || m.id) AS newest ' +
        `FROM ${where.from} WHERE ${where.sql} GROUP BY m.log, m.fingerprint`;
      const total = Number(this.prepared(`SELECT count(*) FROM (${grouped})`).pluck().get(...where.params));
      const rows = this.prepared(`${grouped} ORDER BY newest DESC LIMIT ? OFFSET ?`).all(...where.params, size, offset) as {
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
          const text = this.stmts.textRead!.get(last.tid) as TextRow | undefined;
          return {
            log: r.log,
            fingerprint: r.fingerprint,
            count: r.count,
            firstSeen: r.first_seen,
            lastSeen: last.date_time,
            lastId: last.id,
            title: text?.title ?? '',
            type: last.type,
            statusCode: opt(last.status_code),
          };
        }),
      };
    });
  }

  async histogram(options: HistogramOptions): Promise<HistogramResult> {
    return this.use(() => {
      const { start, end, bucketMs, n } = histogramBuckets(options.from, options.to, options.buckets);
      const from = new Date(start).toISOString();
      const to = new Date(end).toISOString();
      const where = this.drivenFilter({
        ...options,
        from: Date.parse(options.from) > start ? options.from : from,
        to: Date.parse(options.to) < end ? options.to : to,
      });
      const rows = this.prepared(
        `SELECT (CAST(round(unixepoch(m.date_time, 'subsec') * 1000) AS INTEGER) - CAST(? AS INTEGER)) / CAST(? AS INTEGER) AS bucket, count(*) AS n ` +
          `FROM ${where.from} WHERE ${where.sql} GROUP BY bucket`,
      ).all(start, bucketMs, ...where.params) as { bucket: number | null; n: number }[];
      const counts = new Array<number>(n).fill(0);
      for (const r of rows) if (r.bucket !== null && r.bucket >= 0 && r.bucket < n) counts[r.bucket] = r.n;
      return { from, to, bucketMs, counts };
    });
  }

  async neighbours(log: string, id: string): Promise<{ newer?: string | undefined; older?: string | undefined }> {
    return this.use(() => {
      const row = this.stmts.get!.get(log, id) as MessageRow | undefined;
      if (!row) return {};
      const newer = this.prepared(
        'SELECT id FROM elmah_messages WHERE log = ? AND (date_time, id) > (?, ?) ORDER BY date_time ASC, id ASC LIMIT 1',
      )
        .pluck()
        .get(log, row.date_time, row.id) as string | undefined;
      const older = this.prepared(
        'SELECT id FROM elmah_messages WHERE log = ? AND (date_time, id) < (?, ?) ORDER BY date_time DESC, id DESC LIMIT 1',
      )
        .pluck()
        .get(log, row.date_time, row.id) as string | undefined;
      return { newer, older };
    });
  }

  // ---- delete and retention ----

  /** Keeps FTS rows, shared texts, the group aggregate and the log counters right after messages went. */
  private afterRemove(removed: RemovedRow[]): void {
    if (removed.length === 0) return;
    const tids = new Set<number>();
    const touched = new Map<string, { log: string; fingerprint: string }>();
    const perLog = new Map<string, number>();
    for (const r of removed) {
      this.stmts.messageFtsDelete!.run(r.rid);
      tids.add(r.tid);
      touched.set(`${r.log}\n${r.fingerprint}`, { log: r.log, fingerprint: r.fingerprint });
      perLog.set(r.log, (perLog.get(r.log) ?? 0) + 1);
    }
    for (const tid of tids) this.dropUnusedText(tid);
    for (const { log, fingerprint } of touched.values()) {
      const c = this.stmts.groupCount!.get(log, fingerprint) as { n: number; first: string | null };
      if (c.n === 0) {
        this.stmts.groupDelete!.run(log, fingerprint);
        continue;
      }
      const last = this.stmts.groupLast!.get(log, fingerprint) as { id: string; date_time: string; tid: number; type: string; status_code: number | null };
      const text = this.stmts.textRead!.get(last.tid) as TextRow | undefined;
      this.stmts.groupSet!.run(c.n, c.first, last.date_time, last.id, text?.title ?? '', last.type, last.status_code, log, fingerprint);
    }
    for (const [log, n] of perLog) this.stmts.logCount!.run(n, log, log);
    this.stmts.logClean!.run();
  }

  async delete(log: string, target: DeleteTarget): Promise<number> {
    return this.use(() =>
      this.db
        .transaction(() => {
          let removed: RemovedRow[] = [];
          if ('ids' in target) {
            for (const id of new Set(target.ids)) {
              const row = this.stmts.deleteId!.get(log, id) as RemovedRow | undefined;
              if (row) removed.push(row);
            }
          } else {
            const where = this.drivenFilter({ ...target.filter, log });
            removed = this.prepared(
              `DELETE FROM elmah_messages WHERE rid IN (SELECT m.rid FROM ${where.from} WHERE ${where.sql}) RETURNING rid, tid, log, fingerprint`,
            ).all(...where.params) as RemovedRow[];
          }
          this.afterRemove(removed);
          return removed.length;
        })
        .immediate(),
    );
  }

  /**
   * Removes messages older than the age limit, then the oldest beyond the count limit, per log. Deletes go in
   * chunks of PRUNE_CHUNK, one transaction each, so that other writers are never locked out for long.
   */
  private pruneNow(options: RetentionOptions & { log?: string | undefined; now?: Date | undefined }): number {
    const maxAgeDays = options.maxAgeDays ?? this.retention.maxAgeDays;
    const maxCount = options.maxCount ?? this.retention.maxCount;
    const limit = cutoff(maxAgeDays, options.now);
    const logs = options.log !== undefined ? [options.log] : (this.stmts.logsAll!.all() as { log: string }[]).map((r) => r.log);
    const chunked = (sql: string, params: unknown[]): number => {
      const statement = this.prepared(
        `DELETE FROM elmah_messages WHERE rid IN (SELECT rid FROM elmah_messages WHERE ${sql} LIMIT ${PRUNE_CHUNK}) RETURNING rid, tid, log, fingerprint`,
      );
      let removed = 0;
      for (;;) {
        const n = this.db
          .transaction(() => {
            const rows = statement.all(...params) as RemovedRow[];
            this.afterRemove(rows);
            return rows.length;
          })
          .immediate();
        removed += n;
        if (n < PRUNE_CHUNK) return removed;
      }
    };
    let total = 0;
    for (const log of logs) {
      total += chunked('log = ? AND date_time < ?', [log, limit]);
      // The counter says whether the log is over its limit at all, so a log within it costs one look-up.
      const count = this.stmts.logCountOf!.pluck().get(log) as number | undefined;
      if (!Number.isFinite(maxCount) || maxCount < 0 || count === undefined || count <= maxCount) continue;
      const edge = this.prepared('SELECT date_time, id FROM elmah_messages WHERE log = ? ORDER BY date_time DESC, id DESC LIMIT 1 OFFSET ?').get(
        log,
        Math.floor(maxCount),
      ) as { date_time: string; id: string } | undefined;
      if (edge) total += chunked('log = ? AND (date_time, id) <= (?, ?)', [log, edge.date_time, edge.id]);
    }
    return total;
  }

  async prune(options: RetentionOptions & { log?: string | undefined; now?: Date | undefined } = {}): Promise<number> {
    return this.use(() => this.pruneNow(options));
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
          record.id, record.name, JSON.stringify(record.permissions), JSON.stringify(record.logs), record.hash, record.created,
          record.expires ?? null, record.revoked ?? null,
        );
      } catch (error) {
        if ((error as { code?: string }).code?.startsWith('SQLITE_CONSTRAINT')) {
          throw new ElmahError('ERR_ELMAH_CONFIG', `Key id ${record.id} exists.`, { cause: error, help: 'Create the key again: ids are random.' });
        }
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

  async revokeKey(id: string, at: Date = new Date()): Promise<boolean> {
    return this.use(() => this.stmts.keyRevoke!.run(at.toISOString(), id).changes > 0);
  }
}

interface GroupRow {
  log: string;
  fingerprint: string;
  count: number;
  first_seen: string;
  last_seen: string;
  last_id: string;
  title: string;
  type: string;
  status_code: number | null;
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
 * The index that serves a query's top-level conjunct on type or statusCode. Without statistics SQLite prefers
 * `log = ?` on the newest-first index and then reads every message of the log; these indexes hold the log too,
 * so counting a field search in one log reads the index alone.
 */
function indexHint(query: QueryNode | undefined): string | undefined {
  if (!query) return undefined;
  const conjuncts = query.kind === 'and' ? query.children : [query];
  const usable = (n: QueryNode, field: string): boolean =>
    (n.kind === 'term' && n.field === field && !n.prefix) || (n.kind === 'range' && n.field === field && (n.lo !== undefined || n.hi !== undefined));
  if (conjuncts.some((n) => usable(n, 'type'))) return 'elmah_messages_type';
  if (conjuncts.some((n) => usable(n, 'statusCode'))) return 'elmah_messages_status';
  return undefined;
}

function wrapOpen(error: unknown, where: string): unknown {
  const mapped = sqliteError(error, where);
  if (mapped !== error) return mapped;
  if (isElmahError(error)) return error;
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^(EACCES|EPERM|ENOTDIR|EROFS|ENOSPC|EEXIST)$/.test(code)) {
    return new ElmahError('ERR_ELMAH_STORE_UNAVAILABLE', `Cannot create the SQLite store ${where} (${code}).`, {
      cause: error,
      help: 'Check that the folder can be created and written by this process, or set ELMAH_STORE to another path.',
    });
  }
  return error;
}
