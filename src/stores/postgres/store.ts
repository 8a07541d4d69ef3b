// PostgresStore: many app instances, one shared log (pg, JSONB, tsvector, group aggregate kept by upserts).
// Driver and errors are in driver.ts, rows in codec.ts, search SQL in query.ts, the aggregate in groups.ts,
// retention and bounded deletes in retention.ts, tables and migrations in schema.ts.
import { deploymentPageSize, type Deployment, type DeploymentQuery } from '../../model/deployment.js';
import { ElmahConfigError } from '../../model/errors.js';
import type { KeyRecord } from '../../model/keys.js';
import type { ErrorMessage } from '../../model/message.js';
import type { OccurrenceTally } from '../../model/tally.js';
import { applyChange, type GroupChange } from '../../model/triage.js';
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
  encodeState,
  statusList,
} from '../shared.js';
import {
  DEFAULT_RETENTION,
  REACH_SAMPLE,
  REACH_VERSIONS,
  type GroupReach,
  type AppendResult,
  type DeleteTarget,
  type GroupOptions,
  type ErrorGroup,
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
import { parsePostgresUrl, redactUrl } from '../url.js';
import {
  INSERT_COLUMNS,
  INSERT_ROWS,
  MESSAGE_COLUMNS,
  byCode,
  dec,
  enc,
  optStr,
  toGroup,
  toKey,
  toMessage,
  tokensOfMessage,
} from './codec.js';
import { DEFAULT_SCHEMA, Sql, describePool, errorCode, isPool, loadPg, storeError, type PgPoolLike, type Row } from './driver.js';
import { addMessages, addTallies } from './groups.js';
import { Params, compileFilter } from './query.js';
import { AutoRetention, deleteIds, deleteInSteps, prune, storedCount } from './retention.js';
import { checkSchemaName, migrate, tables, type Tables } from './schema.js';

/** Options of {@link PostgresStore.open}. */
export interface PostgresStoreOptions extends OpenStoreOptions {
  /** Most connections of a pool the store creates itself. Default 10. */
  maxConnections?: number;
  /**
   * Retention on append, in the background: the age limit is checked at most this often, ms (the first append
   * checks it), the count limit as soon as appends may have passed it; false turns it off. Default 60,000.
   */
  autoPruneMs?: number | false;
}

/** Largest OFFSET passed to PostgreSQL (keeps absurd page numbers a valid bigint). */
const MAX_OFFSET = Number.MAX_SAFE_INTEGER;

/**
 * The PostgreSQL backend: `openStore('postgres://…')` or `PostgresStore.open(pool)`. Tables live in one
 * schema (option `schema` or `?schema=`; default `public`), created and migrated on open.
 */
export class PostgresStore implements Store {
  readonly kind = 'postgres' as const;
  private closed = false;
  private readonly retention: Required<RetentionOptions>;
  private readonly t: Tables;
  private readonly sql: Sql;
  private readonly auto: AutoRetention | undefined;

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
    this.sql = new Sql(pool, label, () => this.check());
    const every = options.autoPruneMs ?? 60_000;
    if (every !== false) {
      const maxCount = options.retention?.maxCount ?? DEFAULT_RETENTION.maxCount;
      this.auto = new AutoRetention(
        every,
        Number.isFinite(maxCount) && maxCount >= 0 ? maxCount : undefined,
        (log, limit) => this.prune({ log, limit }),
        (log) => storedCount(this.sql, this.t, log),
      );
    }
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
      const parsed = parsePostgresUrl(target);
      schema = checkSchemaName(options.schema ?? parsed.schema ?? DEFAULT_SCHEMA);
      label = redactUrl(schema === DEFAULT_SCHEMA ? parsed.connectionString : target);
      const pg = await loadPg();
      const own = new pg.Pool({
        connectionString: parsed.connectionString,
        max: options.maxConnections ?? 10,
        connectionTimeoutMillis: 10_000,
      });
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
    await this.auto?.stop();
    this.closed = true;
    if (this.ownsPool) await this.pool.end().catch(() => undefined);
  }

  private check(): void {
    if (this.closed) throw closedError('postgres');
  }

  /** One statement on any pooled connection. */
  private query(text: string, values: unknown[], doing: 'read' | 'write' | 'admin'): Promise<Row[]> {
    return this.sql.query(text, values, doing);
  }

  /**
   * Resolves when the retention that appends started in the background has finished (at once when none
   * runs); `close()` waits for it too.
   */
  async retentionIdle(): Promise<void> {
    await this.auto?.idle();
  }

  async append(messages: readonly ErrorMessage[]): Promise<AppendResult[]> {
    this.check();
    const { results, firstOf } = firstOfEach(messages);
    if (firstOf.size === 0) return results;
    // A fixed order (log, id) keeps concurrent batches from locking rows in opposite orders.
    const unique = [...firstOf.values()].map((i) => messages[i]!).sort((a, b) => byCode(a.log, b.log) || byCode(a.id, b.id));
    const tokens = unique.map(tokensOfMessage);
    const created = await this.sql.tx('write', async (db) => {
      const inserted: Row[] = [];
      for (let at = 0; at < unique.length; at += INSERT_ROWS) {
        const chunk = unique.slice(at, at + INSERT_ROWS);
        const values = chunk.flatMap((m, i) => INSERT_COLUMNS.map((c) => c.value(m, tokens[at + i]!)));
        inserted.push(...(await db.query(this.insertSql(chunk.length), values)).rows);
      }
      const made = new Set(inserted.map((r) => `${String(r.log)}\n${String(r.id)}`));
      // In input order: the first created message of a group is the one that reports it new.
      const kept = [...firstOf.values()].filter((i) => made.has(`${messages[i]!.log}\n${messages[i]!.id}`));
      const events = await addMessages(
        db,
        this.t,
        kept.map((i) => messages[i]!),
      );
      return { made, events: new Map([...events].map(([k, e]) => [kept[k]!, e])) };
    });
    for (const [key, i] of firstOf) results[i] = withEvent(messages[i]!.id, created.made.has(key), created.events.get(i));
    if (this.auto && created.made.size > 0) {
      const perLog = new Map<string, number>();
      for (const m of unique) if (created.made.has(`${m.log}\n${m.id}`)) perLog.set(m.log, (perLog.get(m.log) ?? 0) + 1);
      this.auto.noteAppend(perLog);
    }
    return results;
  }

  async tally(tallies: readonly OccurrenceTally[]): Promise<AppendResult[]> {
    this.check();
    const { results, firstOf } = firstOfEach(tallies);
    if (firstOf.size === 0) return results;
    const indexes = [...firstOf.values()];
    const unique = indexes.map((i) => tallies[i]!).sort((a, b) => byCode(a.log, b.log) || byCode(a.id, b.id));
    const created = await this.sql.tx('write', async (db) => {
      const { rows } = await db.query(
        `INSERT INTO ${this.t.tallies} AS x (log, id, fingerprint, count, first_seen, last_seen, title, type, status_code,
           minute_at, minute_n, first_minute, last_minute)
         SELECT u.log, u.id, u.fingerprint, u.count, u.first_seen, u.last_seen, u.title, u.type, u.status_code,
           u.minute_at::int8[], u.minute_n::int8[], u.first_minute, u.last_minute
         FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::text[], $6::text[], $7::text[], $8::text[], $9::int4[],
           $10::text[], $11::text[], $12::int8[], $13::int8[])
           AS u(log, id, fingerprint, count, first_seen, last_seen, title, type, status_code, minute_at, minute_n, first_minute, last_minute)
         ON CONFLICT (log, id) DO NOTHING
         RETURNING x.log, x.id`,
        tallyColumns(unique),
      );
      const made = new Set(rows.map((r) => `${String(r.log)}\n${String(r.id)}`));
      // Input order decides which of equal last-seen tallies names a group, as one call per tally would.
      const kept = indexes.filter((i) => made.has(`${tallies[i]!.log}\n${tallies[i]!.id}`));
      const events = await addTallies(
        db,
        this.t,
        kept.map((i) => tallies[i]!),
      );
      return { made, events: new Map([...events].map(([k, e]) => [kept[k]!, e])) };
    });
    for (const [key, i] of firstOf) results[i] = withEvent(tallies[i]!.id, created.made.has(key), created.events.get(i));
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
      countValues,
      'read',
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
      params.values,
      'read',
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

  async group(log: string, fingerprint: string): Promise<ErrorGroup | undefined> {
    this.check();
    const rows = await this.query(`SELECT g.* FROM ${this.t.groups} g WHERE g.log = $1 AND g.fingerprint = $2`, [log, fingerprint], 'read');
    return rows[0] ? { ...toGroup(rows[0]), reach: await this.reachOf(log, fingerprint) } : undefined;
  }

  /** Users and versions of a group's most recent kept messages. */
  private async reachOf(log: string, fingerprint: string): Promise<GroupReach> {
    const recent =
      `SELECT user_name, version, date_time FROM ${this.t.messages} WHERE log = $1 AND fingerprint = $2 ` +
      `ORDER BY date_time DESC LIMIT ${REACH_SAMPLE}`;
    const [totals, versions] = await Promise.all([
      this.query(
        `SELECT count(*)::int AS sampled, count(DISTINCT nullif(user_name, ''))::int AS users FROM (${recent}) r`,
        [log, fingerprint],
        'read',
      ),
      this.query(
        'SELECT version, count(*)::int AS count, min(date_time) AS first_seen, max(date_time) AS last_seen ' +
          `FROM (${recent}) r WHERE version IS NOT NULL GROUP BY version ORDER BY last_seen DESC, version LIMIT ${REACH_VERSIONS}`,
        [log, fingerprint],
        'read',
      ),
    ]);
    return {
      users: Number(totals[0]?.users ?? 0),
      sampled: Number(totals[0]?.sampled ?? 0),
      versions: versions.map((v) => ({
        version: dec(String(v.version)),
        count: Number(v.count),
        firstSeen: String(v.first_seen),
        lastSeen: String(v.last_seen),
      })),
    };
  }

  async setGroupState(log: string, fingerprints: readonly string[], change: GroupChange, by: string, at: string): Promise<number> {
    this.check();
    const fps = [...new Set(fingerprints)].sort(byCode);
    if (fps.length === 0) return 0;
    return this.sql.tx('write', async (db) => {
      // Locked in a fixed order, like the append's upserts, so the two never wait on each other in a cycle.
      const { rows } = await db.query(
        `SELECT fingerprint, count FROM ${this.t.groups} WHERE log = $1 AND fingerprint = ANY($2::text[]) ORDER BY fingerprint FOR UPDATE`,
        [log, fps],
      );
      for (const r of rows) {
        const fp = String(r.fingerprint);
        let versions: string[] = [];
        if (change.status === 'resolved' && change.inVersion !== undefined) {
          const v = await db.query(
            `SELECT DISTINCT version FROM ${this.t.messages} WHERE log = $1 AND fingerprint = $2 AND version IS NOT NULL LIMIT ${MAX_KNOWN_VERSIONS}`,
            [log, fp],
          );
          versions = v.rows.map((x) => dec(String(x.version))).sort();
        }
        const state = applyChange(change, by, at, Number(r.count), versions);
        await db.query(`UPDATE ${this.t.groups} SET status = $3, regressed = $4, triage = $5 WHERE log = $1 AND fingerprint = $2`, [
          log,
          fp,
          state.status,
          state.regressed,
          encodeState(state),
        ]);
      }
      return rows.length;
    });
  }

  async groups(options: GroupOptions): Promise<GroupResult> {
    this.check();
    const size = pageSize(options.size);
    const offset = Math.min(MAX_OFFSET, pageIndex(options.page) * size);
    const params = new Params();
    const statuses = statusList(options.status);
    if (!options.query && options.from === undefined && options.to === undefined) {
      const logs = filterLogs(options.log);
      const where =
        (logs === undefined ? 'TRUE' : `g.log = ANY(${params.add(logs)}::text[])`) +
        (statuses ? ` AND g.status = ANY(${params.add(statuses)}::text[])` : '');
      const countValues = [...params.values];
      const rows = await this.query(
        `SELECT g.* FROM ${this.t.groups} g WHERE ${where} ORDER BY g.last_seen DESC, g.last_id DESC, g.log
         LIMIT ${params.add(size)} OFFSET ${params.add(offset)}`,
        params.values,
        'read',
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
         SELECT f.log, f.fingerprint, count(*) AS count, min(f.date_time) AS first_seen, min(g.triage) AS triage FROM f
         LEFT JOIN ${this.t.groups} g ON g.log = f.log AND g.fingerprint = f.fingerprint
         ${statuses ? `WHERE coalesce(g.status, 'open') = ANY(${params.add(statuses)}::text[])` : ''}
         GROUP BY f.log, f.fingerprint
       ), latest AS (
         SELECT DISTINCT ON (log, fingerprint) log, fingerprint, date_time AS last_seen, id AS last_id, title, type, status_code
         FROM f ORDER BY log, fingerprint, date_time DESC, id DESC
       )
       SELECT (SELECT count(*) FROM agg)::int AS total,
         (SELECT coalesce(json_agg(p), '[]'::json) FROM (
            SELECT agg.log, agg.fingerprint, agg.count, agg.first_seen, latest.last_seen, latest.last_id, latest.title, latest.type, latest.status_code,
              agg.triage
            FROM agg JOIN latest USING (log, fingerprint)
            ORDER BY latest.last_seen DESC, latest.last_id DESC, agg.log
            LIMIT ${params.add(size)} OFFSET ${params.add(offset)}) p) AS groups`,
      params.values,
      'read',
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
      params.values,
      'read',
    );
    const counts = new Array<number>(n).fill(0);
    for (const r of rows) {
      const i = Number(r.i);
      if (i >= 0 && i < n) counts[i] = Number(r.n);
    }
    if (!options.query || options.query.kind === 'all') {
      // Counted-only occurrences carry no searchable text: they join the chart only when no query filters it.
      const logs = filterLogs(options.log);
      const p = new Params();
      const inLogs = logs === undefined ? 'TRUE' : `x.log = ANY(${p.add(logs)}::text[])`;
      const s = p.add(start);
      const e = p.add(end);
      const tallied = await this.query(
        `SELECT floor((u.at - ${s}::int8)::float8 / ${p.add(bucketMs)}::float8)::int8 AS i, sum(u.n)::int8 AS n
         FROM ${this.t.tallies} x CROSS JOIN LATERAL unnest(x.minute_at, x.minute_n) AS u(at, n)
         WHERE ${inLogs} AND x.last_minute >= ${s}::int8 AND x.first_minute < ${e}::int8 AND u.at >= ${s}::int8 AND u.at < ${e}::int8
         GROUP BY 1`,
        p.values,
        'read',
      );
      for (const r of tallied) {
        const i = Number(r.i);
        if (i >= 0 && i < n) counts[i]! += Number(r.n);
      }
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
      [log, id],
      'read',
    );
    const r = rows[0];
    if (!r?.found) return {};
    return { newer: optStr(r.newer), older: optStr(r.older) };
  }

  /** Deletes in transactions of a bounded size (see retention.ts): a delete by query over a huge log never holds its locks long. */
  async delete(log: string, target: DeleteTarget): Promise<number> {
    this.check();
    if ('ids' in target) return deleteIds(this.sql, this.t, log, target.ids);
    const params = new Params();
    params.add(log);
    const where = compileFilter({ ...target.filter, log }, params, this.t.groups);
    return deleteInSteps(this.sql, this.t, log, where, params.values.slice(1), 'read');
  }

  async prune(options: PruneOptions = {}): Promise<number> {
    this.check();
    return prune(this.sql, this.t, this.schema, options, this.retention);
  }

  async logs(): Promise<LogSummary[]> {
    const rows = await this.query(
      `SELECT log, sum(count - counted_only)::int8 AS n, max(last_kept) AS last_seen FROM ${this.t.groups}
       GROUP BY log HAVING sum(count - counted_only) > 0`,
      [],
      'read',
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
        [
          record.id,
          enc(record.name),
          JSON.stringify(record.permissions),
          JSON.stringify(record.logs.map(enc)),
          record.hash,
          record.created,
          record.expires ?? null,
          record.revoked ?? null,
        ],
      );
    } catch (err) {
      if (errorCode(err) === '23505') throw duplicateKeyError(record.id, err);
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

  async endSession(sid: string, until: string): Promise<void> {
    await this.query(`DELETE FROM ${this.t.sessionsEnded} WHERE until <= $1`, [new Date().toISOString()], 'admin');
    await this.query(
      `INSERT INTO ${this.t.sessionsEnded} (sid, until) VALUES ($1, $2) ON CONFLICT (sid) DO UPDATE SET until = excluded.until`,
      [sid, until],
      'admin',
    );
  }

  async sessionEnded(sid: string): Promise<boolean> {
    const rows = await this.query(
      `SELECT 1 FROM ${this.t.sessionsEnded} WHERE sid = $1 AND until > $2`,
      [sid, new Date().toISOString()],
      'read',
    );
    return rows.length > 0;
  }

  async putDeployment(d: Deployment): Promise<'created' | 'duplicate'> {
    const rows = await this.query(
      `INSERT INTO ${this.t.deployments} (id, version, created, description, user_name, user_email, log) VALUES ($1, $2, $3, $4, $5, $6, $7) ` +
        'ON CONFLICT (id) DO NOTHING RETURNING id',
      [d.id, d.version, d.created, d.description ?? null, d.userName ?? null, d.userEmail ?? null, d.log ?? null],
      'write',
    );
    return rows.length > 0 ? 'created' : 'duplicate';
  }

  async deployments(query: DeploymentQuery = {}): Promise<Deployment[]> {
    const logs = query.log === undefined ? undefined : typeof query.log === 'string' ? [query.log] : [...query.log];
    const rows = await this.query(
      `SELECT * FROM ${this.t.deployments} ${logs ? 'WHERE log IS NULL OR log = ANY($2::text[])' : ''} ORDER BY created DESC, id DESC LIMIT $1`,
      logs ? [deploymentPageSize(query.size), logs] : [deploymentPageSize(query.size)],
      'read',
    );
    return rows.map((r) => ({
      id: String(r.id),
      version: String(r.version),
      created: String(r.created),
      description: (r.description as string | null) ?? undefined,
      userName: (r.user_name as string | null) ?? undefined,
      userEmail: (r.user_email as string | null) ?? undefined,
      log: (r.log as string | null) ?? undefined,
    }));
  }

  async revokeKey(id: string, at: Date = new Date()): Promise<boolean> {
    const rows = await this.query(
      `UPDATE ${this.t.keys} SET revoked = coalesce(revoked, $2) WHERE id = $1 RETURNING id`,
      [id, at.toISOString()],
      'admin',
    );
    return rows.length > 0;
  }
}

/** Tallies as the parallel arrays of the insert in {@link PostgresStore.tally}. */
function tallyColumns(xs: readonly OccurrenceTally[]): unknown[] {
  const minutes = xs.map((x) => x.minutes.map(([m, n]) => [Date.parse(m), n] as const));
  return [
    xs.map((x) => x.log),
    xs.map((x) => x.id),
    xs.map((x) => x.fingerprint),
    xs.map((x) => x.count),
    xs.map((x) => x.firstSeen),
    xs.map((x) => x.lastSeen),
    xs.map((x) => enc(x.title)),
    xs.map((x) => enc(x.type)),
    xs.map((x) => x.statusCode ?? null),
    minutes.map((ms) => `{${ms.map(([m]) => m).join(',')}}`),
    minutes.map((ms) => `{${ms.map(([, n]) => n).join(',')}}`),
    minutes.map((ms) => (ms.length === 0 ? 0 : Math.min(...ms.map(([m]) => m)))),
    minutes.map((ms) => (ms.length === 0 ? -1 : Math.max(...ms.map(([m]) => m)))),
  ];
}

/** Results with repeats of a (log, id) inside one batch already marked duplicate, and where each first one is. */
/** One item's result: created (with the group event it caused, if any) or a duplicate. */
function withEvent(id: string, created: boolean, event: 'new' | 'regressed' | undefined): AppendResult {
  if (!created) return { id, status: 'duplicate' };
  return event ? { id, status: 'created', group: event } : { id, status: 'created' };
}

function firstOfEach(items: readonly { log: string; id: string }[]): { results: AppendResult[]; firstOf: Map<string, number> } {
  const results: AppendResult[] = new Array(items.length);
  const firstOf = new Map<string, number>();
  items.forEach((x, i) => {
    const key = `${x.log}\n${x.id}`;
    if (firstOf.has(key)) results[i] = { id: x.id, status: 'duplicate' };
    else firstOf.set(key, i);
  });
  return { results, firstOf };
}
