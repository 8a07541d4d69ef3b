// PostgreSQL retention and deletes in bounded steps: each transaction removes at most STEP_ROWS rows and
// repairs only the groups it touched, so no step holds its locks for long at any log size; automatic
// retention runs such steps off the append path, one pass at a time.
import { pruneBudget, retentionLimits, tallyCutoff } from '../shared.js';
import type { PruneOptions } from '../types.js';
import type { Doing, Row, Sql } from './driver.js';
import { lossesOf, repairGroups } from './groups.js';
import { LOCK_CLASS, type Tables } from './schema.js';

/** Most rows one retention or delete transaction removes. */
export const STEP_ROWS = 1000;

/** Messages one log holds, from the aggregate (no scan of the messages). */
export async function storedCount(sql: Sql, t: Tables, log: string): Promise<number> {
  const rows = await sql.query(`SELECT coalesce(sum(count - counted_only), 0)::int8 AS n FROM ${t.groups} WHERE log = $1`, [log], 'admin');
  return Number(rows[0]?.n ?? 0);
}

/**
 * Deletes the messages of one log that match `where` (over `m`, parameters from $2 on; $1 is the log) in
 * transactions of at most STEP_ROWS, repairing the touched groups in each. Returns how many went.
 */
export async function deleteInSteps(sql: Sql, t: Tables, log: string, where: string, values: unknown[], doing: Doing): Promise<number> {
  let removed = 0;
  for (;;) {
    const n = await sql.tx(doing, async (db) => {
      const { rows } = await db.query(
        `WITH v AS (SELECT m.id FROM ${t.messages} m WHERE m.log = $1 AND (${where}) LIMIT ${STEP_ROWS}),
           d AS (DELETE FROM ${t.messages} m USING v WHERE m.log = $1 AND m.id = v.id RETURNING m.fingerprint)
         SELECT fingerprint, count(*)::int8 AS n FROM d GROUP BY fingerprint`,
        [log, ...values],
      );
      await repairGroups(db, t, log, lossesOf(rows, 'messages'));
      return sum(rows);
    });
    removed += n;
    if (n < STEP_ROWS) return removed;
  }
}

/** Deletes messages of one log by id, in transactions of at most STEP_ROWS ids. */
export async function deleteIds(sql: Sql, t: Tables, log: string, ids: readonly string[]): Promise<number> {
  const unique = [...new Set(ids)];
  let removed = 0;
  for (let at = 0; at < unique.length; at += STEP_ROWS) {
    const chunk = unique.slice(at, at + STEP_ROWS);
    removed += await sql.tx('read', async (db) => {
      const { rows } = await db.query(
        `WITH d AS (DELETE FROM ${t.messages} m WHERE m.log = $1 AND m.id = ANY($2::text[]) RETURNING m.fingerprint)
         SELECT fingerprint, count(*)::int8 AS n FROM d GROUP BY fingerprint`,
        [log, chunk],
      );
      await repairGroups(db, t, log, lossesOf(rows, 'messages'));
      return sum(rows);
    });
  }
  return removed;
}

function sum(rows: readonly Row[]): number {
  return rows.reduce((n, r) => n + Number(r.n), 0);
}

/**
 * One retention step on one log, in one transaction: removes at most `n` of its oldest messages that are
 * older than the age cut-off or beyond the count limit. A transaction-scoped advisory lock per log makes
 * instances that prune the same log at once take turns, so the count over the limit is read fresh inside
 * the lock and two instances never both remove the same excess.
 */
async function retentionStep(
  sql: Sql,
  t: Tables,
  schema: string,
  log: string,
  n: number,
  ageCutoff: string | undefined,
  keep: number | undefined,
): Promise<number> {
  return sql.tx('admin', async (db) => {
    await db.query(`SELECT pg_advisory_xact_lock(hashtextextended($1, ${LOCK_CLASS}))`, [`retention\n${schema}\n${log}`]);
    let over = 0;
    if (keep !== undefined) {
      const { rows } = await db.query(`SELECT coalesce(sum(count - counted_only), 0)::int8 AS n FROM ${t.groups} WHERE log = $1`, [log]);
      over = Math.max(0, Number(rows[0]?.n ?? 0) - keep);
    }
    if (over === 0 && ageCutoff === undefined) return 0;
    // The oldest n are the candidates; age and count each remove a prefix of them, so the union is a prefix.
    const { rows } = await db.query(
      `WITH c AS (
         SELECT m.id, m.date_time, row_number() OVER (ORDER BY m.date_time, m.id) AS k FROM (
           SELECT id, date_time FROM ${t.messages} WHERE log = $1 ORDER BY date_time, id LIMIT $2
         ) m
       ), d AS (
         DELETE FROM ${t.messages} m USING c
         WHERE m.log = $1 AND m.id = c.id AND (c.k <= $3 OR c.date_time < $4::text COLLATE "C")
         RETURNING m.fingerprint
       )
       SELECT fingerprint, count(*)::int8 AS n FROM d GROUP BY fingerprint`,
      [log, n, over, ageCutoff ?? null],
    );
    await repairGroups(db, t, log, lossesOf(rows, 'messages'));
    return sum(rows);
  });
}

/** Drops the tallies of one log last seen before `before`, in bounded transactions, repairing their groups. */
async function pruneTallies(sql: Sql, t: Tables, log: string, before: string): Promise<void> {
  for (;;) {
    const n = await sql.tx('admin', async (db) => {
      const { rows } = await db.query(
        `WITH v AS (SELECT id FROM ${t.tallies} WHERE log = $1 AND last_seen < $2::text COLLATE "C" LIMIT ${STEP_ROWS}),
           d AS (DELETE FROM ${t.tallies} x USING v WHERE x.log = $1 AND x.id = v.id RETURNING x.fingerprint, x.count)
         SELECT fingerprint, sum(count)::int8 AS n, count(*)::int AS rows FROM d GROUP BY fingerprint`,
        [log, before],
      );
      await repairGroups(db, t, log, lossesOf(rows, 'tallied'));
      return rows.reduce((k, r) => k + Number(r.rows), 0);
    });
    if (n < STEP_ROWS) return;
  }
}

/**
 * Applies retention (see ErrorStore.prune): per log, oldest first, in steps of at most STEP_ROWS messages,
 * removing at most `options.limit` messages in all; then the log's tallies that aged out with them.
 */
export async function prune(
  sql: Sql,
  t: Tables,
  schema: string,
  options: PruneOptions,
  defaults: { maxAgeDays: number; maxCount: number },
): Promise<number> {
  const { ageCutoff, maxCount } = retentionLimits(options, defaults);
  if (ageCutoff === undefined && maxCount === undefined) return 0;
  let budget = pruneBudget(options.limit);
  const logs =
    options.log !== undefined
      ? [options.log]
      : (await sql.query(`SELECT log FROM ${t.groups} GROUP BY log ORDER BY log`, [], 'admin')).map((r) => String(r.log));
  let removed = 0;
  for (const log of logs) {
    const overAtStart = maxCount !== undefined && (await storedCount(sql, t, log)) > maxCount;
    let fromLog = 0;
    while (budget > 0) {
      const n = Math.min(STEP_ROWS, budget);
      const r = await retentionStep(sql, t, schema, log, n, ageCutoff, maxCount);
      fromLog += r;
      budget -= r;
      if (r < n) break;
    }
    removed += fromLog;
    let oldestKept: string | undefined;
    if (overAtStart && fromLog > 0) {
      const rows = await sql.query(`SELECT date_time FROM ${t.messages} WHERE log = $1 ORDER BY date_time, id LIMIT 1`, [log], 'admin');
      oldestKept = rows[0] === undefined ? undefined : String(rows[0].date_time);
    }
    const before = tallyCutoff(ageCutoff, oldestKept);
    if (before !== undefined) await pruneTallies(sql, t, log, before);
    if (budget <= 0) break;
  }
  return removed;
}

/** Lets other work run between two steps of a long pass. */
const yieldToLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Retention on append, in the background: an append never waits for it. A log is due on its first append,
 * when `everyMs` has passed since the last pass, or when the messages appended since its count was last read
 * may have taken it past the count limit by more than a twentieth (so a log at its limit is trimmed in
 * slices proportional to what was added, not on every append). One pass runs at a time, in bounded steps.
 */
export class AutoRetention {
  private readonly due = new Set<string>();
  private readonly estimate = new Map<string, number>();
  private lastPass = 0;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly everyMs: number,
    private readonly maxCount: number | undefined,
    private readonly pruneStep: (log: string, limit: number) => Promise<number>,
    private readonly count: (log: string) => Promise<number>,
  ) {}

  /** Notes what an append created per log, and starts a pass when one is due. */
  noteAppend(created: ReadonlyMap<string, number>): void {
    if (this.stopped) return;
    const now = Date.now();
    const periodic = now - this.lastPass >= this.everyMs;
    if (periodic) this.lastPass = now;
    const slack = this.maxCount === undefined ? Infinity : this.maxCount + Math.ceil(this.maxCount / 20);
    for (const [log, n] of created) {
      const known = this.estimate.get(log);
      if (known !== undefined) this.estimate.set(log, known + n);
      if (periodic || known === undefined || known + n > slack) this.due.add(log);
    }
    if (this.due.size > 0 && !this.running) this.running = this.pass().finally(() => (this.running = undefined));
  }

  /** Resolves when no pass is running. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Stops after the current step and waits for it. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.idle();
  }

  private async pass(): Promise<void> {
    while (!this.stopped && this.due.size > 0) {
      const log = this.due.values().next().value as string;
      this.due.delete(log);
      try {
        while (!this.stopped && (await this.pruneStep(log, STEP_ROWS)) >= STEP_ROWS) await yieldToLoop();
        if (!this.stopped) this.estimate.set(log, await this.count(log));
      } catch {
        // Best effort: busy or unreachable now, the next due append tries again.
        this.estimate.delete(log);
      }
      await yieldToLoop();
    }
  }
}
