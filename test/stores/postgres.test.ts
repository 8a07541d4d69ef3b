// The PostgreSQL backend: the shared conformance suite, plus pools, migrations under a lock, racing appends,
// lost connections, schemas, a missing driver and hostile queries. Needs ELMAH_TEST_POSTGRES_URL.
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import fc from 'fast-check';
import { Pool } from 'pg';
import { isElmahError } from '../../src/model/errors';
import { parseQuery } from '../../src/model/query';
import { matchesQuery } from '../../src/model/query-eval';
import type { ErrorMessage } from '../../src/model/message';
import { openStore } from '../../src/stores/open';
import { PostgresStore } from '../../src/stores/postgres';
import { createKey } from '../../src/model/keys';
import { INSERT_COLUMNS, tokensOfMessage } from '../../src/stores/postgres/codec';
import { STEP_ROWS } from '../../src/stores/postgres/retention';
import { MIGRATIONS, tables } from '../../src/stores/postgres/schema';
import { makeMessage } from '../helpers/messages';
import { QUERY_CORPUS, storeConformance } from './conformance';

const url = process.env.ELMAH_TEST_POSTGRES_URL;
const skip = url ? false : 'ELMAH_TEST_POSTGRES_URL is not set';
const schemas = new Set<string>();
let admin: Pool | undefined;

/** A fresh schema name, dropped after the run. */
function freshSchema(): string {
  const name = `elmah_t_${randomBytes(6).toString('hex')}`;
  schemas.add(name);
  return name;
}

/** A store in a fresh schema with a small pool (the database is shared). Fixtures are dated early 2026, so
 *  automatic retention (90 days) is off here and tested on its own. */
function freshStore(extra: { schema?: string } = {}): Promise<PostgresStore> {
  return PostgresStore.open(url!, { schema: extra.schema ?? freshSchema(), maxConnections: 3, autoPruneMs: false });
}

function adminPool(): Pool {
  admin ??= new Pool({ connectionString: url, max: 2 });
  return admin;
}

afterAll(async () => {
  if (!url) return;
  const pool = adminPool();
  for (const s of schemas) await pool.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  await pool.end();
});

storeConformance('postgres', () => freshStore(), { skip });

const pg = url ? describe : describe.skip;
if (!url) console.log('PostgresStore tests skipped: ELMAH_TEST_POSTGRES_URL is not set');

/** A port on 127.0.0.1 where nothing listens. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

pg('PostgresStore', () => {
  it('works on a Pool passed in, and leaves that pool open on close', async () => {
    const pool = new Pool({ connectionString: url, max: 2 });
    try {
      const schema = freshSchema();
      const store = await PostgresStore.open(pool, { schema, autoPruneMs: false });
      const m = makeMessage();
      expect(await store.append([m])).toEqual([{ id: m.id, status: 'created', group: 'new' }]);
      expect(await store.get('default', m.id)).toEqual(m);
      expect(store.describe()).toMatch(/^postgres:\/\//);
      await store.close();
      const { rows } = await pool.query(`SELECT count(*)::int AS n FROM "${schema}".elmah_messages`);
      expect(rows[0].n).toBe(1);
    } finally {
      await pool.end();
    }
  });

  it('opens through openStore() with ?schema= and never shows the password', async () => {
    const schema = freshSchema();
    const u = new URL(url!);
    u.password = 's3cret-pw';
    u.searchParams.set('schema', schema);
    const store = await openStore(u.toString());
    try {
      expect(store.kind).toBe('postgres');
      expect(store.describe()).not.toContain('s3cret-pw');
      expect((store as PostgresStore).schema).toBe(schema);
      const { rows } = await adminPool().query('SELECT to_regclass($1) IS NOT NULL AS ok', [`"${schema}".elmah_messages`]);
      expect(rows[0].ok).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('keeps stores in different schemas apart', async () => {
    const a = await freshStore();
    const b = await freshStore();
    try {
      const m = makeMessage();
      await a.append([m]);
      expect(await a.get('default', m.id)).toEqual(m);
      expect(await b.get('default', m.id)).toBeUndefined();
      expect(await b.logs()).toEqual([]);
    } finally {
      await a.close();
      await b.close();
    }
  });

  it('refuses an invalid schema name with ERR_ELMAH_SCHEMA_NAME', async () => {
    await expect(PostgresStore.open(url!, { schema: 'x'.repeat(64) })).rejects.toMatchObject({ code: 'ERR_ELMAH_SCHEMA_NAME' });
    await expect(PostgresStore.open(url!, { schema: '' })).rejects.toMatchObject({ code: 'ERR_ELMAH_SCHEMA_NAME' });
  });

  it('escapes the schema name as an identifier', async () => {
    const schema = `${freshSchema()}"; DROP TABLE x; --`;
    schemas.add(schema.replace(/"/g, '""'));
    const store = await freshStore({ schema });
    try {
      const m = makeMessage();
      await store.append([m]);
      expect((await store.search({})).messages.map((x) => x.id)).toEqual([m.id]);
      const { rows } = await adminPool().query('SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = $1', [schema]);
      expect(rows[0].n).toBe(1);
    } finally {
      await store.close();
      await adminPool().query(`DROP SCHEMA IF EXISTS "${schema.replace(/"/g, '""')}" CASCADE`);
    }
  });

  it('migrates once when several instances open together', async () => {
    const schema = freshSchema();
    const stores = await Promise.all(Array.from({ length: 5 }, () => freshStore({ schema })));
    try {
      expect(stores.reduce((n, s) => n + s.migrationsApplied, 0)).toBe(MIGRATIONS.length);
      const { rows } = await adminPool().query(`SELECT version FROM "${schema}".elmah_migrations ORDER BY version`);
      expect(rows.map((r) => r.version)).toEqual(MIGRATIONS.map((m) => m.version));
      const m = makeMessage();
      await stores[0]!.append([m]);
      expect((await stores[4]!.get('default', m.id))?.id).toBe(m.id);
      const again = await freshStore({ schema });
      expect(again.migrationsApplied).toBe(0);
      await again.close();
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('refuses a schema migrated by a newer version with ERR_ELMAH_STORE_VERSION', async () => {
    const schema = freshSchema();
    await (await freshStore({ schema })).close();
    await adminPool().query(`INSERT INTO "${schema}".elmah_migrations (version, description) VALUES (999, 'from the future')`);
    await expect(freshStore({ schema })).rejects.toMatchObject({ code: 'ERR_ELMAH_STORE_VERSION' });
  });

  it('keeps exact group counts when instances append the same fingerprint at once, with overlapping retries', async () => {
    const schema = freshSchema();
    const stores = await Promise.all(Array.from({ length: 3 }, () => freshStore({ schema })));
    try {
      const batches = Array.from({ length: 12 }, (_, b) =>
        Array.from({ length: 8 }, (_, i) =>
          makeMessage({ fingerprint: 'fpRace', dateTime: new Date(Date.UTC(2026, 1, 1, 0, b, i)).toISOString() }),
        ),
      );
      // Every batch is sent by two instances (a retry after a lost response), all at the same time.
      const results = await Promise.all(batches.flatMap((batch, b) => [stores[b % 3]!.append(batch), stores[(b + 1) % 3]!.append(batch)]));
      const statuses = results.flat().map((r) => r.status);
      expect(statuses.filter((s) => s === 'created')).toHaveLength(96);
      expect(statuses.filter((s) => s === 'duplicate')).toHaveLength(96);
      const groups = await stores[0]!.groups({});
      expect(groups.groups.map((g) => [g.fingerprint, g.count])).toEqual([['fpRace', 96]]);
      const last = batches[11]![7]!;
      expect(groups.groups[0]).toMatchObject({ firstSeen: batches[0]![0]!.dateTime, lastSeen: last.dateTime, lastId: last.id });
      expect((await stores[1]!.search({})).total).toBe(96);
      expect(await stores[2]!.logs()).toEqual([{ name: 'default', count: 96, lastSeen: last.dateTime }]);
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('reports a new group and a regression to exactly one of the instances that append them at once', async () => {
    const schema = freshSchema();
    const stores = await Promise.all(Array.from({ length: 2 }, () => freshStore({ schema })));
    try {
      for (let round = 0; round < 5; round++) {
        const fp = `fpNew${round}`;
        // Different messages of one new fingerprint, sent by both instances at the same moment.
        const batches = stores.map((_, i) => [
          makeMessage({ fingerprint: fp }),
          makeMessage({ fingerprint: i === 0 ? fp : `other${round}` }),
        ]);
        const results = (await Promise.all(stores.map((s, i) => s.append(batches[i]!)))).flat();
        const fpOf = new Map(batches.flat().map((m) => [m.id, m.fingerprint]));
        expect(results.filter((r) => r.group === 'new').map((r) => fpOf.get(r.id))).toEqual(expect.arrayContaining([fp, `other${round}`]));
        expect(results.filter((r) => r.group === 'new')).toHaveLength(2);
        expect((await stores[1]!.group('default', fp))?.count).toBe(3);

        await stores[0]!.setGroupState('default', [fp], { status: 'resolved' }, 'key1', '2026-01-01T00:00:00.000Z');
        const again = stores.map((s) =>
          s.append(Array.from({ length: 3 }, () => makeMessage({ fingerprint: fp, dateTime: '2026-08-01T00:00:00.000Z' }))),
        );
        const regressed = (await Promise.all(again)).flat().filter((r) => r.group === 'regressed');
        expect(regressed).toHaveLength(1);
        expect((await stores[1]!.group('default', fp))?.state).toMatchObject({ status: 'open', regressed: true });
      }
    } finally {
      await Promise.all(stores.map((s) => s.close()));
    }
  });

  it('keeps groups exact when deletes race appends', async () => {
    const schema = freshSchema();
    const [a, b] = await Promise.all([freshStore({ schema }), freshStore({ schema })]);
    try {
      const first = Array.from({ length: 30 }, () => makeMessage({ fingerprint: 'fpDel' }));
      await a!.append(first);
      const more = Array.from({ length: 30 }, () => makeMessage({ fingerprint: 'fpDel' }));
      const [deleted] = await Promise.all([
        b!.delete('default', { ids: first.slice(0, 20).map((m) => m.id) }),
        ...more.map((m) => a!.append([m])),
      ]);
      expect(deleted).toBe(20);
      const g = (await a!.groups({})).groups;
      expect(g.map((x) => [x.fingerprint, x.count])).toEqual([['fpDel', 40]]);
      expect(g[0]!.firstSeen).toBe(first[20]!.dateTime);
    } finally {
      await a!.close();
      await b!.close();
    }
  });

  it('reports connection refused as ERR_ELMAH_STORE_UNAVAILABLE, transient', async () => {
    const port = await closedPort();
    const err = await PostgresStore.open(`postgres://postgres:pw@127.0.0.1:${port}/test`).catch((e: unknown) => e);
    expect(isElmahError(err)).toBe(true);
    expect(err).toMatchObject({ code: 'ERR_ELMAH_STORE_UNAVAILABLE', transient: true, status: 503 });
    expect((err as Error).message).not.toContain(':pw@');
  });

  it('reports a connection lost mid-append as transient; the retried append neither loses nor doubles', async () => {
    const schema = freshSchema();
    const app = `elmah_lost_${randomBytes(4).toString('hex')}`;
    const u = new URL(url!);
    u.searchParams.set('application_name', app);
    const store = await PostgresStore.open(u.toString(), { schema, maxConnections: 1, autoPruneMs: false });
    const lock = await adminPool().connect();
    try {
      const before = makeMessage({ fingerprint: 'fpLost' });
      await store.append([before]);
      const batch = Array.from({ length: 5 }, () => makeMessage({ fingerprint: 'fpLost' }));
      // Hold the group table so the append stops inside its transaction, then cut its connection.
      await lock.query('BEGIN');
      await lock.query(`LOCK TABLE "${schema}".elmah_groups IN ACCESS EXCLUSIVE MODE`);
      const pending = store.append([before, ...batch]).catch((e: unknown) => e);
      for (let i = 0; i < 100; i++) {
        const { rows } = await adminPool().query(
          `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
          [app],
        );
        if (rows[0].n > 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      await adminPool().query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [app]);
      await lock.query('ROLLBACK');
      const err = await pending;
      expect(err).toMatchObject({ code: 'ERR_ELMAH_STORE_UNAVAILABLE', transient: true });
      // The shipper retries: the batch lands once, the message already there stays a duplicate.
      const retried = await store.append([before, ...batch]);
      expect(retried.map((r) => r.status)).toEqual(['duplicate', 'created', 'created', 'created', 'created', 'created']);
      const again = await store.append([before, ...batch]);
      expect(again.every((r) => r.status === 'duplicate')).toBe(true);
      expect((await store.search({})).total).toBe(6);
      expect((await store.groups({})).groups[0]?.count).toBe(6);
    } finally {
      lock.release();
      await store.close();
    }
  });

  it('round-trips NUL and control characters and finds them by keyword', async () => {
    const store = await freshStore();
    try {
      const m = makeMessage({ title: 'a\u0000b\u0001c\u00010', user: 'x\u0000Y', data: [{ key: 'k\u0000', value: '\u0001\u0000' }] });
      await store.append([m]);
      expect(await store.get('default', m.id)).toEqual(m);
      expect((await store.search({ query: parseQuery('user:"X\u0000y"') })).total).toBe(1);
      expect((await store.search({ query: parseQuery('user:"x\u0001"') })).total).toBe(0);
      expect((await store.search({ query: parseQuery('user:x*') })).total).toBe(1);
    } finally {
      await store.close();
    }
  });

  it('searches tokens longer than a tsvector lexeme, and huge details', async () => {
    const store = await freshStore();
    try {
      const long = `tok${'q'.repeat(3000)}end`;
      const big = Array.from({ length: 25_000 }, (_, i) => `w${i}x`).join(' ');
      const a = makeMessage({ title: `before ${long} after` });
      const b = makeMessage({ detail: big });
      await store.append([a, b]);
      const ids = async (q: string): Promise<string[]> => (await store.search({ query: parseQuery(q) })).messages.map((m) => m.id);
      expect(await ids(long)).toEqual([a.id]);
      expect(await ids(`"before ${long} after"`)).toEqual([a.id]);
      expect(await ids(`tok${'q'.repeat(2000)}`)).toEqual([a.id]);
      expect(await ids(`"tok${'q'.repeat(2000)}"`)).toEqual([]);
      expect(await ids('"w24998x w24999x"')).toEqual([b.id]);
      expect(await ids('w2499')).toEqual([b.id]);
      expect(await ids('"w24999x w24998x"')).toEqual([]);
    } finally {
      await store.close();
    }
  });

  it('still finds words in a message with more tokens than a tsvector holds', async () => {
    const store = await freshStore();
    try {
      const huge: ErrorMessage = {
        ...makeMessage({ title: 'huge one' }),
        detail: Array.from({ length: 120_000 }, (_, i) => `k${i.toString(36)}`).join(' '),
      };
      const small = makeMessage({ title: 'k1a alone' });
      await store.append([huge, small]);
      const ids = async (q: string): Promise<string[]> => (await store.search({ query: parseQuery(q) })).messages.map((m) => m.id).sort();
      expect(await ids('k1a')).toEqual([huge.id, small.id].sort());
      expect(await ids('"k1a k1b"')).toEqual([huge.id]);
      expect(await ids('detail:k2bi')).toEqual([huge.id]);
      expect(await ids('zzzz')).toEqual([]);
      expect(await ids('NOT k1b')).toEqual([small.id]);
      expect((await store.get('default', huge.id))?.detail).toBe(huge.detail);
    } finally {
      await store.close();
    }
  });

  it('answers hostile and random queries like the reference evaluator, failing only with ERR_ELMAH_QUERY', async () => {
    const store = await freshStore();
    try {
      const corpus: ErrorMessage[] = [
        makeMessage({
          title: 'Timeout talking to db-1 (ECONNRESET)',
          type: 'TimeoutError',
          statusCode: 504,
          user: 'Ålice',
          method: 'POST',
        }),
        makeMessage({ title: 'café Über straße İstanbul ǅ', type: 'TypeError', statusCode: 500, hostname: 'WEB-2', url: '/a/b?c=d' }),
        makeMessage({ title: 'O\'Brien said "hi" \\ % _ * ? 🚀', type: 'Error', statusCode: 404, category: 'x_y', version: '1.0' }),
        makeMessage({ title: 'timeouts timeout time', type: 'RangeError', severity: 'Warning', detail: undefined, source: undefined }),
        makeMessage({ title: 'ÅLICE alice ALİCE', type: 'string', statusCode: 599, log: 'other', user: 'alice', fingerprint: 'fp_A-1' }),
      ];
      await store.append(corpus);
      const fragments = [
        'timeout',
        'time',
        '"talking to"',
        'type:Type*',
        'type:typeerror',
        'statusCode:[500 TO 599}',
        'statusCode:5*',
        'user:ålice',
        'user:ALICE',
        'alice',
        'ålice',
        'İstanbul',
        'istanbul',
        'straße',
        'strasse',
        'cafe',
        'café',
        'über',
        "O'Brien",
        '%',
        '_',
        '\\*',
        'x_y',
        'category:x_y',
        'category:X_*',
        'version:1*',
        'dateTime:[2026-01-01 TO *]',
        'hostname:web*',
        'url:"a b"',
        'url:b',
        'AND',
        'OR',
        'NOT',
        '(',
        ')',
        '-',
        '!',
        '"',
        ':',
        '[',
        ']',
        '{',
        '}',
        '&&',
        '||',
        '🚀',
        'ǆ',
        'log:other',
        'log:OTHER',
        'log:oth*',
        'id:0*',
        '\u0000',
        'fingerprint:FP_a-1',
        'fingerprint:fp_a',
        'fingerprint:fp*',
      ];
      const query = fc.oneof(
        fc.array(fc.constantFrom(...fragments), { minLength: 1, maxLength: 6 }).map((p) => p.join(' ')),
        fc.string({ maxLength: 40 }),
        fc.constantFrom(...QUERY_CORPUS),
      );
      await fc.assert(
        fc.asyncProperty(query, async (q) => {
          let tree;
          try {
            tree = parseQuery(q);
          } catch (err) {
            expect(err).toMatchObject({ code: 'ERR_ELMAH_QUERY' });
            return;
          }
          const expected = corpus
            .filter((m) => matchesQuery(tree, m))
            .map((m) => m.id)
            .sort();
          const r = await store.search({ query: tree, size: 100 });
          expect({ q, ids: r.messages.map((m) => m.id).sort() }).toEqual({ q, ids: expected });
          const del = await store.groups({ query: tree });
          expect(del.groups.reduce((n, g) => n + g.count, 0)).toBe(expected.length);
        }),
        { numRuns: 150 },
      );
    } finally {
      await store.close();
    }
  });

  it('applies retention on append in the background: the count limit as appends pass it, the age limit at most every autoPruneMs', async () => {
    const schema = freshSchema();
    const store = await PostgresStore.open(url!, { schema, maxConnections: 2, retention: { maxCount: 50 }, autoPruneMs: 3_600_000 });
    try {
      const old = makeMessage({ dateTime: '2020-01-01T00:00:00.000Z' });
      const ms = Array.from({ length: 60 }, (_, i) =>
        makeMessage({ fingerprint: `fp${i % 3}`, dateTime: new Date(Date.now() - 60_000 + i).toISOString() }),
      );
      await store.append([old, ...ms]);
      await store.retentionIdle();
      const r = await store.search({ size: 100 });
      expect(r.total).toBe(50);
      expect(r.messages[49]!.id).toBe(ms[10]!.id);
      expect((await store.groups({})).groups.reduce((n, g) => n + g.count, 0)).toBe(50);
      // Within the window and within a twentieth over the count limit, a later append is left alone…
      await store.append([makeMessage({ dateTime: new Date().toISOString() })]);
      await store.retentionIdle();
      expect((await store.search({})).total).toBe(51);
      // …and past that the count limit applies again without waiting for the window.
      await store.append(Array.from({ length: 5 }, () => makeMessage({ dateTime: new Date().toISOString() })));
      await store.retentionIdle();
      expect((await store.search({})).total).toBe(50);
      expect(await store.logs()).toEqual([expect.objectContaining({ name: 'default', count: 50 })]);
    } finally {
      await store.close();
    }
  });

  describe('bounded steps', () => {
    /** Records, per transaction, how many messages each DELETE statement removed (a statement trigger). */
    async function countDeletes(schema: string): Promise<() => Promise<number[]>> {
      const s = `"${schema}"`;
      const pool = adminPool();
      await pool.query(`CREATE TABLE ${s}.deletes (tx bigint NOT NULL, n int NOT NULL)`);
      await pool.query(`CREATE FUNCTION ${s}.count_deletes() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN INSERT INTO ${s}.deletes SELECT txid_current(), count(*) FROM gone; RETURN NULL; END $$`);
      await pool.query(`CREATE TRIGGER count_deletes AFTER DELETE ON ${s}.elmah_messages REFERENCING OLD TABLE AS gone
        FOR EACH STATEMENT EXECUTE FUNCTION ${s}.count_deletes()`);
      return async () => {
        const { rows } = await pool.query(`SELECT sum(n)::int AS n FROM ${s}.deletes GROUP BY tx HAVING sum(n) > 0 ORDER BY min(tx)`);
        await pool.query(`TRUNCATE ${s}.deletes`);
        return rows.map((r) => r.n as number);
      };
    }

    /** The groups as recomputed from the messages left (what the aggregate must equal). */
    function expectedGroups(left: ErrorMessage[]): unknown[] {
      const map = new Map<string, ErrorMessage[]>();
      for (const m of left) map.set(m.fingerprint, [...(map.get(m.fingerprint) ?? []), m]);
      return [...map.entries()]
        .map(([fp, xs]) => {
          xs.sort((a, b) => (a.dateTime < b.dateTime ? -1 : a.dateTime > b.dateTime ? 1 : a.id < b.id ? -1 : 1));
          return [fp, xs.length, xs[0]!.dateTime, xs[xs.length - 1]!.dateTime, xs[xs.length - 1]!.id];
        })
        .sort();
    }

    it('prunes and deletes by query in transactions of at most STEP_ROWS messages, keeping groups exact', async () => {
      const store = await freshStore();
      try {
        const steps = await countDeletes(store.schema);
        const base = Date.UTC(2026, 0, 1);
        const ms = Array.from({ length: 2600 }, (_, i) =>
          makeMessage({ fingerprint: `fp${i % 7}`, statusCode: i % 2 ? 500 : 404, dateTime: new Date(base + i * 1000).toISOString() }),
        );
        for (let at = 0; at < ms.length; at += 1000) await store.append(ms.slice(at, at + 1000));
        const now = new Date(base + 10 * 86_400_000);

        // A bounded call removes at most its limit, itself in transactions of at most STEP_ROWS.
        expect(await store.prune({ maxCount: 100, limit: 1200, now })).toBe(1200);
        expect(await steps()).toEqual([STEP_ROWS, 200]);
        // An unbounded call finishes the job, still step by step.
        expect(await store.prune({ maxCount: 100, now })).toBe(1300);
        expect(Math.max(...(await steps()))).toBeLessThanOrEqual(STEP_ROWS);
        let left = ms.slice(2500);
        expect((await store.search({ size: 1000 })).messages.map((m) => m.id).sort()).toEqual(left.map((m) => m.id).sort());
        const groups = async (): Promise<unknown[]> =>
          (await store.groups({ size: 100 })).groups.map((g) => [g.fingerprint, g.count, g.firstSeen, g.lastSeen, g.lastId]).sort();
        expect(await groups()).toEqual(expectedGroups(left));

        // A delete by query over more than a step goes in steps too.
        const more = Array.from({ length: 2100 }, (_, i) =>
          makeMessage({
            fingerprint: `fp${i % 5}`,
            statusCode: i % 2 ? 500 : 404,
            dateTime: new Date(base + 5000_000 + i * 1000).toISOString(),
          }),
        );
        for (let at = 0; at < more.length; at += 1000) await store.append(more.slice(at, at + 1000));
        left = [...left, ...more];
        const doomed = left.filter((m) => m.statusCode === 404);
        expect(await store.delete('default', { filter: { query: parseQuery('statusCode:404') } })).toBe(doomed.length);
        const sizes = await steps();
        expect(sizes.length).toBeGreaterThan(1);
        expect(Math.max(...sizes)).toBeLessThanOrEqual(STEP_ROWS);
        left = left.filter((m) => m.statusCode !== 404);
        expect(await groups()).toEqual(expectedGroups(left));
        expect(await store.logs()).toEqual([expect.objectContaining({ name: 'default', count: left.length })]);
      } finally {
        await store.close();
      }
    });
  });

  it('migrates a version 1 schema forward, keeping its messages, groups and keys', async () => {
    const schema = freshSchema();
    const t = tables(schema);
    const pool = adminPool();
    // The schema as version 1 of the store left it, with rows written the way it wrote them.
    await pool.query(`CREATE SCHEMA "${schema}"`);
    await pool.query(
      `CREATE TABLE ${t.migrations} (version integer PRIMARY KEY, description text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    for (const statement of MIGRATIONS.find((m) => m.version === 1)!.statements(t)) await pool.query(statement);
    await pool.query(`INSERT INTO ${t.migrations} (version, description) VALUES (1, 'messages, group aggregate, keys')`);
    const older = makeMessage({ fingerprint: 'fpOld', title: 'older one', dateTime: '2026-03-01T00:00:00.000Z' });
    const newer = makeMessage({ fingerprint: 'fpOld', title: 'newer one', statusCode: 502, dateTime: '2026-03-02T00:00:00.000Z' });
    // Version 1 had no context column (added by version 6).
    const v1Columns = INSERT_COLUMNS.filter((c) => c.name !== 'context');
    for (const m of [older, newer]) {
      const tk = tokensOfMessage(m);
      const exprs = v1Columns.map((c, i) => (c.expr ?? `$::${c.type}`).replace('$', `$${i + 1}`));
      await pool.query(
        `INSERT INTO ${t.messages} (${v1Columns.map((c) => c.name).join(', ')}) VALUES (${exprs.join(', ')})`,
        v1Columns.map((c) => c.value(m, tk)),
      );
    }
    await pool.query(
      `INSERT INTO ${t.groups} (log, fingerprint, count, first_seen, last_seen, last_id, title, type, status_code)
      VALUES ('default', 'fpOld', 2, $1, $2, $3, 'newer one', $4, 502)`,
      [older.dateTime, newer.dateTime, newer.id, newer.type],
    );
    const key = createKey({ name: 'old key', permissions: ['messages_read'] });
    await pool.query(`INSERT INTO ${t.keys} (id, name, permissions, logs, hash, created) VALUES ($1, $2, $3::jsonb, '[]', $4, $5)`, [
      key.record.id,
      key.record.name,
      JSON.stringify(key.record.permissions),
      key.record.hash,
      key.record.created,
    ]);

    const store = await freshStore({ schema });
    try {
      expect(store.migrationsApplied).toBe(MIGRATIONS.length - 1);
      expect(await store.get('default', newer.id)).toEqual(newer);
      expect((await store.search({ query: parseQuery('"older one"') })).messages.map((m) => m.id)).toEqual([older.id]);
      expect((await store.groups({})).groups).toEqual([
        expect.objectContaining({
          fingerprint: 'fpOld',
          count: 2,
          countedOnly: 0,
          firstSeen: older.dateTime,
          lastSeen: newer.dateTime,
          lastId: newer.id,
          title: 'newer one',
          statusCode: 502,
          state: { status: 'open', regressed: false },
        }),
      ]);
      expect(await store.logs()).toEqual([{ name: 'default', count: 2, lastSeen: newer.dateTime }]);
      expect((await store.getKey(key.record.id))?.name).toBe('old key');
      // The migrated representative still wins over a late older message, and the new features work on old groups.
      await store.append([makeMessage({ fingerprint: 'fpOld', title: 'late', dateTime: '2026-02-01T00:00:00.000Z' })]);
      await store.tally([
        {
          id: 'tally1',
          log: 'default',
          fingerprint: 'fpOld',
          count: 2,
          firstSeen: '2026-03-03T00:00:00.000Z',
          lastSeen: '2026-03-03T00:01:00.000Z',
          title: 'counted',
          type: 'Error',
          minutes: [
            ['2026-03-03T00:00:00.000Z', 1],
            ['2026-03-03T00:01:00.000Z', 1],
          ],
        },
      ]);
      expect((await store.groups({})).groups[0]).toMatchObject({
        count: 5,
        countedOnly: 2,
        lastId: newer.id,
        title: 'newer one',
        lastSeen: '2026-03-03T00:01:00.000Z',
      });
      expect(await store.delete('default', { ids: [newer.id] })).toBe(1);
      expect((await store.groups({})).groups[0]).toMatchObject({
        count: 4,
        countedOnly: 2,
        lastId: older.id,
        title: 'older one',
        lastSeen: '2026-03-03T00:01:00.000Z',
      });
    } finally {
      await store.close();
    }
  });
});

describe('PostgresStore without pg', () => {
  it('fails with ERR_ELMAH_DRIVER_MISSING and says how to fix it', async () => {
    let open: typeof PostgresStore.open | undefined;
    jest.isolateModules(() => {
      jest.doMock('pg', () => {
        throw Object.assign(new Error("Cannot find module 'pg'"), { code: 'MODULE_NOT_FOUND' });
      });
      open = (require('../../src/stores/postgres') as typeof import('../../src/stores/postgres')).PostgresStore.open;
    });
    const err = await open!('postgres://postgres@127.0.0.1:5432/none').catch((e: unknown) => e);
    jest.dontMock('pg');
    expect(err).toMatchObject({ code: 'ERR_ELMAH_DRIVER_MISSING' });
    expect((err as { help: string }).help).toBe('install pg (npm install pg) or pass a Pool');
  });
});
