// The group aggregate (elmah_groups): one row per (log, fingerprint), kept right by upserts on append and
// tally, and repaired after deletes from a few index lookups per touched group, never a GROUP BY over the log.
import type { ErrorMessage } from '../../model/message.js';
import type { OccurrenceTally } from '../../model/tally.js';
import { replayOccurrences } from '../../model/triage.js';
import { decodeState, encodeState } from '../shared.js';
import { byCode, enc } from './codec.js';
import type { PgClientLike, Row } from './driver.js';
import type { Tables } from './schema.js';

/*
 * A group row holds count (stored messages plus counted-only occurrences), counted_only, first_seen and
 * last_seen over both, and a representative: the newest stored message (last_kept, last_id, title, type,
 * status_code). While no message of the group is stored, last_kept and last_id are '' and the newest tally
 * names the group.
 */

/** What the group upserts return: whether the row was inserted (`xmax = 0`), its count with the write, and its state. */
const UPSERT_RETURNING = 'RETURNING g.log, g.fingerprint, (g.xmax = 0) AS inserted, g.count, g.status, g.triage';

/** How an appended message or tally changed its group, by its index in the write. */
export type GroupEvents = Map<number, 'new' | 'regressed'>;

/**
 * Adds created messages to their groups, in the append's transaction, and reports which message made its group
 * and which reopened a resolved one (see {@link triageWrites}).
 */
export async function addMessages(db: PgClientLike, t: Tables, created: readonly ErrorMessage[]): Promise<GroupEvents> {
  if (created.length === 0) return new Map();
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
  // A fixed order keeps concurrent upserts from locking group rows in opposite orders.
  const rows = [...deltas.values()].sort((a, b) => byCode(a.last.log, b.last.log) || byCode(a.last.fingerprint, b.last.fingerprint));
  const newer = '(EXCLUDED.last_kept, EXCLUDED.last_id) > (g.last_kept, g.last_id)';
  const pick = (c: string): string => `${c} = CASE WHEN ${newer} THEN EXCLUDED.${c} ELSE g.${c} END`;
  const upserted = await db.query(
    `INSERT INTO ${t.groups} AS g (log, fingerprint, count, counted_only, first_seen, last_seen, last_kept, last_id, title, type, status_code)
     SELECT u.log, u.fingerprint, u.n, 0, u.first_seen, u.last_seen, u.last_seen, u.last_id, u.title, u.type, u.status_code
     FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::int4[])
       AS u(log, fingerprint, n, first_seen, last_seen, last_id, title, type, status_code)
     ON CONFLICT (log, fingerprint) DO UPDATE SET
       count = g.count + EXCLUDED.count,
       first_seen = LEAST(g.first_seen, EXCLUDED.first_seen),
       last_seen = GREATEST(g.last_seen, EXCLUDED.last_seen),
       ${['last_kept', 'last_id', 'title', 'type', 'status_code'].map(pick).join(',\n       ')}
     ${UPSERT_RETURNING}`,
    [
      rows.map((d) => d.last.log),
      rows.map((d) => d.last.fingerprint),
      rows.map((d) => d.count),
      rows.map((d) => d.first),
      rows.map((d) => d.last.dateTime),
      rows.map((d) => d.last.id),
      rows.map((d) => enc(d.last.title)),
      rows.map((d) => enc(d.last.type)),
      rows.map((d) => d.last.statusCode ?? null),
    ],
  );
  return triageWrites(db, t, upserted.rows, created, (m) => ({ dateTime: m.dateTime, version: m.version, n: 1 }));
}

/**
 * The triage rules for one write, in its transaction, after the group upserts (which lock the group rows, so
 * a concurrent write of the same group waits and then sees this one's result). An inserted row made its group:
 * the write's first occurrence of it is `new`. A group that is not plain open runs the write's occurrences
 * (in write order) through the rules; its new state is stored by an UPDATE conditional on the state read, and
 * the occurrence that reopened a resolved group is `regressed`. Each event therefore goes to exactly one writer.
 */
async function triageWrites<T extends { log: string; fingerprint: string }>(
  db: PgClientLike,
  t: Tables,
  upserted: readonly Row[],
  items: readonly T[],
  occurrence: (item: T) => { dateTime: string; version?: string | undefined; n: number },
): Promise<GroupEvents> {
  const events: GroupEvents = new Map();
  const byGroup = new Map<string, number[]>();
  items.forEach((x, i) => {
    const k = `${x.log}\n${x.fingerprint}`;
    const list = byGroup.get(k);
    if (list) list.push(i);
    else byGroup.set(k, [i]);
  });
  for (const r of upserted) {
    const indexes = byGroup.get(`${String(r.log)}\n${String(r.fingerprint)}`);
    if (!indexes) continue;
    if (r.inserted === true) {
      events.set(indexes[0]!, 'new');
      continue;
    }
    if (r.status === 'open') continue;
    let count = Number(r.count) - indexes.reduce((sum, i) => sum + occurrence(items[i]!).n, 0);
    const occurrences = indexes.map((i) => {
      const o = occurrence(items[i]!);
      count += o.n;
      return { dateTime: o.dateTime, version: o.version, count };
    });
    const before = decodeState(r.triage);
    const { state, regressedAt } = replayOccurrences(before, occurrences);
    if (state === before) continue;
    const { rows } = await db.query(
      `UPDATE ${t.groups} SET status = $3, regressed = $4, triage = $5 WHERE log = $1 AND fingerprint = $2 AND status = $6 RETURNING 1`,
      [r.log, r.fingerprint, state.status, state.regressed, encodeState(state), r.status],
    );
    if (rows.length > 0 && regressedAt !== undefined) events.set(indexes[regressedAt]!, 'regressed');
  }
  return events;
}

/** Adds created tallies to their groups: counts and times; a tally names its group only while no message of it is stored. */
export async function addTallies(db: PgClientLike, t: Tables, created: readonly OccurrenceTally[]): Promise<GroupEvents> {
  if (created.length === 0) return new Map();
  // Per group: the sums, and the last tally (in order) of the newest last-seen names it, as one by one would.
  const deltas = new Map<string, { count: number; first: string; newest: OccurrenceTally }>();
  for (const x of created) {
    const key = `${x.log}\n${x.fingerprint}`;
    const d = deltas.get(key);
    if (!d) deltas.set(key, { count: x.count, first: x.firstSeen, newest: x });
    else {
      d.count += x.count;
      if (x.firstSeen < d.first) d.first = x.firstSeen;
      if (x.lastSeen >= d.newest.lastSeen) d.newest = x;
    }
  }
  const rows = [...deltas.values()].sort(
    (a, b) => byCode(a.newest.log, b.newest.log) || byCode(a.newest.fingerprint, b.newest.fingerprint),
  );
  const named = (c: string): string =>
    `${c} = CASE WHEN g.last_id = '' AND EXCLUDED.last_seen >= g.last_seen THEN EXCLUDED.${c} ELSE g.${c} END`;
  const upserted = await db.query(
    `INSERT INTO ${t.groups} AS g (log, fingerprint, count, counted_only, first_seen, last_seen, last_kept, last_id, title, type, status_code)
     SELECT u.log, u.fingerprint, u.n, u.n, u.first_seen, u.last_seen, '', '', u.title, u.type, u.status_code
     FROM unnest($1::text[], $2::text[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[], $8::int4[])
       AS u(log, fingerprint, n, first_seen, last_seen, title, type, status_code)
     ON CONFLICT (log, fingerprint) DO UPDATE SET
       count = g.count + EXCLUDED.count,
       counted_only = g.counted_only + EXCLUDED.counted_only,
       first_seen = LEAST(g.first_seen, EXCLUDED.first_seen),
       last_seen = GREATEST(g.last_seen, EXCLUDED.last_seen),
       ${['title', 'type', 'status_code'].map(named).join(',\n       ')}
     ${UPSERT_RETURNING}`,
    [
      rows.map((d) => d.newest.log),
      rows.map((d) => d.newest.fingerprint),
      rows.map((d) => d.count),
      rows.map((d) => d.first),
      rows.map((d) => d.newest.lastSeen),
      rows.map((d) => enc(d.newest.title)),
      rows.map((d) => enc(d.newest.type)),
      rows.map((d) => d.newest.statusCode ?? null),
    ],
  );
  return triageWrites(db, t, upserted.rows, created, (x) => ({ dateTime: x.lastSeen, n: x.count }));
}

/** What a delete took from one group: stored messages, and counted-only occurrences (whole tallies). */
export interface GroupLoss {
  messages: number;
  tallied: number;
}

/**
 * Corrects the groups of one log after messages or tallies were deleted in the same transaction: the counts
 * go down by what was deleted; times and the representative come from the newest and oldest rows left (index
 * lookups per group). The group rows are locked first, so a concurrent append either committed before (and
 * is seen here) or adds its own count after this commits. A group left with nothing goes.
 */
export async function repairGroups(db: PgClientLike, t: Tables, log: string, losses: ReadonlyMap<string, GroupLoss>): Promise<void> {
  if (losses.size === 0) return;
  const fps = [...losses.keys()].sort(byCode);
  await db.query(`SELECT 1 FROM ${t.groups} WHERE log = $1 AND fingerprint = ANY($2::text[]) ORDER BY fingerprint FOR UPDATE`, [log, fps]);
  await db.query(
    `UPDATE ${t.groups} g SET
       count = g.count - d.messages - d.tallied,
       counted_only = g.counted_only - d.tallied,
       first_seen = coalesce(LEAST(om.date_time, ta.first_seen), g.first_seen),
       last_seen = coalesce(GREATEST(nm.date_time, ta.last_seen), g.last_seen),
       last_kept = coalesce(nm.date_time, ''),
       last_id = coalesce(nm.id, ''),
       title = coalesce(nm.title, nt.title, g.title),
       type = coalesce(nm.type, nt.type, g.type),
       status_code = CASE WHEN nm.id IS NOT NULL THEN nm.status_code WHEN nt.id IS NOT NULL THEN nt.status_code ELSE g.status_code END
     FROM unnest($2::text[], $3::int8[], $4::int8[]) AS d(fingerprint, messages, tallied)
     LEFT JOIN LATERAL (
       SELECT m.date_time FROM ${t.messages} m WHERE m.log = $1 AND m.fingerprint = d.fingerprint ORDER BY m.date_time, m.id LIMIT 1
     ) om ON TRUE
     LEFT JOIN LATERAL (
       SELECT m.date_time, m.id, m.title, m.type, m.status_code FROM ${t.messages} m
       WHERE m.log = $1 AND m.fingerprint = d.fingerprint ORDER BY m.date_time DESC, m.id DESC LIMIT 1
     ) nm ON TRUE
     LEFT JOIN LATERAL (
       SELECT min(x.first_seen) AS first_seen, max(x.last_seen) AS last_seen FROM ${t.tallies} x WHERE x.log = $1 AND x.fingerprint = d.fingerprint
     ) ta ON TRUE
     LEFT JOIN LATERAL (
       SELECT x.id, x.title, x.type, x.status_code FROM ${t.tallies} x
       WHERE x.log = $1 AND x.fingerprint = d.fingerprint ORDER BY x.last_seen DESC, x.id DESC LIMIT 1
     ) nt ON TRUE
     WHERE g.log = $1 AND g.fingerprint = d.fingerprint`,
    [log, fps, fps.map((f) => losses.get(f)!.messages), fps.map((f) => losses.get(f)!.tallied)],
  );
  await db.query(`DELETE FROM ${t.groups} WHERE log = $1 AND fingerprint = ANY($2::text[]) AND count <= 0`, [log, fps]);
}

/** Reads `fingerprint, n` rows (what a DELETE … RETURNING grouped) into losses. */
export function lossesOf(rows: readonly Record<string, unknown>[], kind: keyof GroupLoss): Map<string, GroupLoss> {
  const out = new Map<string, GroupLoss>();
  for (const r of rows) out.set(String(r.fingerprint), { messages: 0, tallied: 0, [kind]: Number(r.n) });
  return out;
}
