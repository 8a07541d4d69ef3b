// The one behaviour suite every store backend passes: each backend's test file calls storeConformance
// with its own factory (memory, SQLite, PostgreSQL).
import { normalizeDeployment } from '../../src/model/deployment';
import { createKey } from '../../src/model/keys';
import { parseQuery } from '../../src/model/query';
import { matchesQuery } from '../../src/model/query-eval';
import type { ErrorMessage } from '../../src/model/message';
import type { OccurrenceTally } from '../../src/model/tally';
import type { GroupState } from '../../src/model/triage';
import type { GroupOptions, Store } from '../../src/stores/types';
import { makeMessage } from '../helpers/messages';

/** Options of {@link storeConformance}. */
export interface ConformanceOptions {
  /** Skip the whole suite (with the reason printed), e.g. when PostgreSQL is not configured. */
  skip?: string | false;
}

/** Registers the conformance tests for one backend. `factory` returns a fresh, empty store. */
export function storeConformance(name: string, factory: () => Promise<Store>, options: ConformanceOptions = {}): void {
  const run = options.skip ? describe.skip : describe;
  if (options.skip) {
    // Printed so a skipped backend is visible in the run's output.
    console.log(`${name} store conformance skipped: ${options.skip}`);
  }
  run(`${name} store conformance`, () => {
    let store: Store;
    beforeEach(async () => {
      store = await factory();
    });
    afterEach(async () => {
      await store.close();
    });

    describe('append and get', () => {
      it('stores a message and returns it field for field', async () => {
        const m = makeMessage({
          serverVariables: [{ key: 'HTTP_HOST', value: 'example.test' }],
          cookies: [{ key: 'sid', value: '[Filtered]' }],
          form: [{ key: 'q', value: 'x' }],
          queryString: [{ key: 'page', value: '2' }],
          data: [{ key: 'code', value: 'E42' }],
          user: 'alice',
          correlationId: 'abc',
          category: 'http',
          version: '1.2.3',
          application: 'shop',
          source: 'orders.js:10:5',
        });
        const [result] = await store.append([m]);
        expect(result).toEqual({ id: m.id, status: 'created', group: 'new' });
        expect(await store.get('default', m.id)).toEqual(m);
      });

      it('round-trips breadcrumbs, source context and the JSON body, and a message without them has none', async () => {
        const m = makeMessage({
          breadcrumbs: [
            { dateTime: '2026-03-01T10:00:00.000Z', severity: 'Information', action: 'Log', message: 'loading cart 7' },
            {
              dateTime: '2026-03-01T10:00:00.120Z',
              severity: 'Error',
              action: 'Request',
              message: 'GET https://payments.test/charge?[Filtered]',
              data: [
                { key: 'status', value: '502' },
                { key: 'durationMs', value: '118' },
              ],
            },
          ],
          sourceContext: [
            { file: '/app/src/orders.ts', line: 12, startLine: 10, lines: ['a', '  const qty = body.quantity.trim();', 'é\u0000ü'] },
          ],
          jsonBody: '{"quantity":2,"note":null,"tags":["a",true],"nested":{"price":1.5}}',
        });
        const plain = makeMessage();
        await store.append([m, plain]);
        expect(await store.get('default', m.id)).toEqual(m);
        const back = await store.get('default', plain.id);
        expect(back).toEqual(plain);
        expect(back).not.toHaveProperty('breadcrumbs');
        expect(back).not.toHaveProperty('jsonBody');
      });

      it('is idempotent by id: a second append is a duplicate and stores nothing new', async () => {
        const m = makeMessage();
        await store.append([m]);
        const again = await store.append([{ ...m, title: 'changed' }]);
        expect(again).toEqual([{ id: m.id, status: 'duplicate' }]);
        expect((await store.get('default', m.id))?.title).toBe(m.title);
        expect((await store.search({ log: 'default' })).total).toBe(1);
        const groups = await store.groups({ log: 'default' });
        expect(groups.groups[0]?.count).toBe(1);
      });

      it('handles duplicates inside one batch', async () => {
        const m = makeMessage();
        const results = await store.append([m, m]);
        expect(results.map((r) => r.status)).toEqual(['created', 'duplicate']);
        expect((await store.search({})).total).toBe(1);
      });

      it('keeps the same id apart in different logs', async () => {
        const a = makeMessage({ log: 'a' });
        const b = { ...a, log: 'b' };
        await store.append([a, b]);
        expect((await store.get('a', a.id))?.log).toBe('a');
        expect((await store.get('b', a.id))?.log).toBe('b');
      });

      it('returns undefined for an unknown id or log', async () => {
        expect(await store.get('default', 'nope')).toBeUndefined();
        const m = makeMessage();
        await store.append([m]);
        expect(await store.get('other', m.id)).toBeUndefined();
      });

      it('keeps unicode, quotes and SQL-looking text intact', async () => {
        const m = makeMessage({ title: `'; DROP TABLE messages; -- "ünïcødé" 🚀 \u0000 end`, url: "/a?b='c'" });
        await store.append([m]);
        expect((await store.get('default', m.id))?.title).toBe(m.title);
      });
    });

    describe('search', () => {
      it('returns newest first with paging and a total', async () => {
        const ms = Array.from({ length: 7 }, () => makeMessage());
        await store.append(ms);
        const page0 = await store.search({ size: 3 });
        expect(page0.total).toBe(7);
        expect(page0.totalExact).toBe(true);
        expect(page0.messages.map((m) => m.id)).toEqual([ms[6]!.id, ms[5]!.id, ms[4]!.id]);
        const page2 = await store.search({ size: 3, page: 2 });
        expect(page2.messages.map((m) => m.id)).toEqual([ms[0]!.id]);
      });

      it('pages with the after cursor to the end, without repeats', async () => {
        const ms = Array.from({ length: 10 }, () => makeMessage());
        await store.append(ms);
        const seen: string[] = [];
        let after: string | undefined;
        for (let i = 0; i < 10; i++) {
          const r = await store.search({ size: 4, after });
          seen.push(...r.messages.map((m) => m.id));
          after = r.after;
          if (!after) break;
        }
        expect(seen).toEqual(ms.map((m) => m.id).reverse());
      });

      it('orders messages of the same second by id', async () => {
        const t = '2026-02-01T00:00:00.000Z';
        const ms = [makeMessage({ dateTime: t }), makeMessage({ dateTime: t }), makeMessage({ dateTime: t })];
        await store.append(ms);
        const r = await store.search({});
        expect(r.messages.map((m) => m.id)).toEqual(
          ms
            .map((m) => m.id)
            .sort()
            .reverse(),
        );
      });

      it('filters by log, several logs, and time range', async () => {
        const a = makeMessage({ log: 'a', dateTime: '2026-03-01T00:00:00.000Z' });
        const b = makeMessage({ log: 'b', dateTime: '2026-03-02T00:00:00.000Z' });
        const c = makeMessage({ log: 'c', dateTime: '2026-03-03T00:00:00.000Z' });
        await store.append([a, b, c]);
        expect((await store.search({ log: 'a' })).messages.map((m) => m.id)).toEqual([a.id]);
        expect((await store.search({ log: ['a', 'c'] })).messages.map((m) => m.id)).toEqual([c.id, a.id]);
        const ranged = await store.search({ from: '2026-03-02T00:00:00.000Z', to: '2026-03-03T00:00:00.000Z' });
        expect(ranged.messages.map((m) => m.id)).toEqual([b.id]);
      });

      it('agrees with the reference evaluator on a query corpus', async () => {
        const corpus = queryCorpusMessages();
        await store.append(corpus);
        // Some groups triaged, for status: and is: terms.
        await store.setGroupState('default', ['fpA'], { status: 'resolved' }, 'k1', '2025-01-01T00:00:00.000Z');
        await store.append([
          makeMessage({ fingerprint: 'fpA', title: 'Cannot read properties of null', dateTime: '2026-01-07T00:00:00.000Z' }),
        ]);
        await store.setGroupState(
          'shop',
          [corpus.find((m) => m.log === 'shop')!.fingerprint],
          { status: 'ignored' },
          'k1',
          '2026-02-01T00:00:00.000Z',
        );
        corpus.push((await store.search({ query: parseQuery('dateTime:2026-01-07*') })).messages[0]!);
        const states = new Map<string, GroupState | undefined>();
        for (const m of corpus) states.set(`${m.log}\n${m.fingerprint}`, (await store.group(m.log, m.fingerprint))?.state);
        const stateOf = (m: ErrorMessage): GroupState | undefined => states.get(`${m.log}\n${m.fingerprint}`);
        expect([...states.values()].map((s) => s?.status).sort()).toContain('ignored');
        for (const q of QUERY_CORPUS) {
          const tree = parseQuery(q);
          const expected = corpus
            .filter((m) => matchesQuery(tree, m, stateOf))
            .map((m) => m.id)
            .sort();
          const r = await store.search({ query: tree, size: 1000 });
          expect({ q, ids: r.messages.map((m) => m.id).sort() }).toEqual({ q, ids: expected });
          expect({ q, total: r.total }).toEqual({ q, total: expected.length });
        }
      });
    });

    describe('groups', () => {
      it('counts per fingerprint with first and last seen, most recent first', async () => {
        const a1 = makeMessage({ fingerprint: 'fpA', dateTime: '2026-04-01T00:00:00.000Z' });
        const b1 = makeMessage({ fingerprint: 'fpB', dateTime: '2026-04-02T00:00:00.000Z' });
        const a2 = makeMessage({ fingerprint: 'fpA', dateTime: '2026-04-03T00:00:00.000Z', title: 'latest A' });
        await store.append([a1, b1, a2]);
        const r = await store.groups({ log: 'default' });
        expect(r.total).toBe(2);
        expect(r.groups.map((g) => [g.fingerprint, g.count, g.firstSeen, g.lastSeen, g.lastId, g.title])).toEqual([
          ['fpA', 2, a1.dateTime, a2.dateTime, a2.id, 'latest A'],
          ['fpB', 1, b1.dateTime, b1.dateTime, b1.id, b1.title],
        ]);
      });

      it('stays correct after deletes', async () => {
        const a1 = makeMessage({ fingerprint: 'fpA' });
        const a2 = makeMessage({ fingerprint: 'fpA' });
        const b1 = makeMessage({ fingerprint: 'fpB' });
        await store.append([a1, a2, b1]);
        expect(await store.delete('default', { ids: [a2.id, b1.id] })).toBe(2);
        const r = await store.groups({});
        expect(r.groups.map((g) => [g.fingerprint, g.count, g.lastId])).toEqual([['fpA', 1, a1.id]]);
      });

      it('tells whom and which versions a group reached, most recent version first; listings leave it out', async () => {
        const at = (h: number) => `2026-04-0${h}T00:00:00.000Z`;
        await store.append([
          makeMessage({ fingerprint: 'fpA', dateTime: at(1), user: 'ann', version: '1.0.0' }),
          makeMessage({ fingerprint: 'fpA', dateTime: at(2), user: 'bob', version: '1.0.0' }),
          makeMessage({ fingerprint: 'fpA', dateTime: at(3), user: 'ann', version: '1.1.0' }),
          makeMessage({ fingerprint: 'fpA', dateTime: at(4), user: '', version: undefined }),
          makeMessage({ fingerprint: 'fpA', dateTime: at(5), user: undefined, version: '1.1.0' }),
          makeMessage({ fingerprint: 'fpB', dateTime: at(6), user: 'cid', version: '2.0.0' }),
          makeMessage({ fingerprint: 'fpA', log: 'other', dateTime: at(7), user: 'dan', version: '9.0.0' }),
        ]);
        expect((await store.group('default', 'fpA'))!.reach).toEqual({
          users: 2,
          sampled: 5,
          versions: [
            { version: '1.1.0', count: 2, firstSeen: at(3), lastSeen: at(5) },
            { version: '1.0.0', count: 2, firstSeen: at(1), lastSeen: at(2) },
          ],
        });
        expect((await store.group('other', 'fpA'))!.reach).toEqual({
          users: 1,
          sampled: 1,
          versions: [{ version: '9.0.0', count: 1, firstSeen: at(7), lastSeen: at(7) }],
        });
        for (const g of (await store.groups({})).groups) expect(g.reach).toBeUndefined();
      });

      it('filters groups by a query over the matching messages', async () => {
        await store.append([
          makeMessage({ fingerprint: 'fpA', statusCode: 500 }),
          makeMessage({ fingerprint: 'fpA', statusCode: 503 }),
          makeMessage({ fingerprint: 'fpB', statusCode: 404 }),
        ]);
        const r = await store.groups({ query: parseQuery('statusCode:[500 TO 599]') });
        expect(r.groups.map((g) => [g.fingerprint, g.count])).toEqual([['fpA', 2]]);
      });
    });

    describe('histogram', () => {
      it('counts matching messages per bucket', async () => {
        await store.append([
          makeMessage({ dateTime: '2026-05-01T00:10:00.000Z' }),
          makeMessage({ dateTime: '2026-05-01T00:20:00.000Z', statusCode: 404 }),
          makeMessage({ dateTime: '2026-05-01T02:30:00.000Z' }),
          makeMessage({ dateTime: '2026-05-01T05:00:00.000Z' }),
        ]);
        const r = await store.histogram({ from: '2026-05-01T00:00:00.000Z', to: '2026-05-01T04:00:00.000Z', buckets: 4 });
        expect(r.bucketMs).toBe(3_600_000);
        expect(r.counts).toEqual([2, 0, 1, 0]);
        const only500 = await store.histogram({
          from: '2026-05-01T00:00:00.000Z',
          to: '2026-05-01T04:00:00.000Z',
          buckets: 4,
          query: parseQuery('statusCode:500'),
        });
        expect(only500.counts).toEqual([1, 0, 1, 0]);
      });
    });

    describe('counted-only occurrences (tallies)', () => {
      const tally = makeTally;

      it('adds to the group count, last seen and the chart, and says how many were counted only', async () => {
        const m = makeMessage({ fingerprint: 'fpA', dateTime: '2026-05-01T00:05:00.000Z', title: 'boom 1' });
        await store.append([m]);
        const t = tally();
        expect(await store.tally([t])).toEqual([{ id: t.id, status: 'created' }]);
        const [g] = (await store.groups({ log: 'default' })).groups;
        expect(g).toMatchObject({
          fingerprint: 'fpA',
          count: 4,
          countedOnly: 3,
          firstSeen: m.dateTime,
          lastSeen: t.lastSeen,
          lastId: m.id,
          title: 'boom 1',
        });
        // The single group adds its reach, read from the one kept message (the tallied ones carry no user or version).
        expect(await store.group('default', 'fpA')).toEqual({ ...g, reach: { users: 0, versions: [], sampled: 1 } });
        expect(await store.group('default', 'fpNone')).toBeUndefined();
        expect(await store.group('other', 'fpA')).toBeUndefined();
        const h = await store.histogram({ log: 'default', from: '2026-05-01T00:00:00.000Z', to: '2026-05-01T00:20:00.000Z', buckets: 4 });
        expect(h.counts).toEqual([0, 1, 3, 0]);
        // Only stored messages are searchable.
        expect((await store.search({ log: 'default' })).total).toBe(1);
      });

      it('is idempotent by tally id, and keeps logs apart', async () => {
        const t = tally();
        await store.tally([t]);
        expect(await store.tally([t])).toEqual([{ id: t.id, status: 'duplicate' }]);
        await store.tally([{ ...t, log: 'other' }]);
        const groups = await store.groups({});
        expect(groups.groups.map((g) => [g.log, g.count, g.countedOnly]).sort()).toEqual([
          ['default', 3, 3],
          ['other', 3, 3],
        ]);
      });

      it('makes a group of its own when no message of it is stored, named by the newest tally', async () => {
        await store.tally([tally({ fingerprint: 'fpZ', title: 'first', lastSeen: '2026-05-01T00:12:00.000Z' })]);
        await store.tally([
          tally({
            fingerprint: 'fpZ',
            title: 'newer',
            count: 1,
            firstSeen: '2026-05-01T00:13:00.000Z',
            lastSeen: '2026-05-01T00:13:00.000Z',
            minutes: [['2026-05-01T00:13:00.000Z', 1]],
          }),
        ]);
        const r = await store.groups({});
        expect(r.groups).toHaveLength(1);
        expect(r.groups[0]).toMatchObject({
          fingerprint: 'fpZ',
          count: 4,
          countedOnly: 4,
          title: 'newer',
          lastSeen: '2026-05-01T00:13:00.000Z',
          lastId: '',
        });
        // A stored message then names the group.
        const m = makeMessage({ fingerprint: 'fpZ', dateTime: '2026-05-01T00:11:00.000Z', title: 'kept' });
        await store.append([m]);
        expect((await store.groups({})).groups[0]).toMatchObject({
          count: 5,
          countedOnly: 4,
          lastId: m.id,
          title: 'kept',
          lastSeen: '2026-05-01T00:13:00.000Z',
        });
      });

      it('keeps counted-only occurrences when messages of the group are deleted, and leaves filtered views to stored messages', async () => {
        const m = makeMessage({ fingerprint: 'fpA', dateTime: '2026-05-01T00:05:00.000Z' });
        await store.append([m]);
        await store.tally([tally()]);
        const filtered = await store.histogram({
          log: 'default',
          from: '2026-05-01T00:00:00.000Z',
          to: '2026-05-01T00:20:00.000Z',
          buckets: 4,
          query: parseQuery('statusCode:500'),
        });
        expect(filtered.counts).toEqual([0, 1, 0, 0]);
        expect(await store.delete('default', { ids: [m.id] })).toBe(1);
        expect((await store.groups({})).groups.map((g) => [g.fingerprint, g.count, g.countedOnly, g.lastId])).toEqual([['fpA', 3, 3, '']]);
      });

      it('ages out with retention', async () => {
        const now = new Date('2026-06-01T00:00:00.000Z');
        await store.append([makeMessage({ fingerprint: 'fpB', dateTime: '2026-05-31T00:00:00.000Z' })]);
        await store.tally([tally()]);
        await store.prune({ maxAgeDays: 10, now });
        expect((await store.groups({})).groups.map((g) => [g.fingerprint, g.count, g.countedOnly])).toEqual([['fpB', 1, 0]]);
        const h = await store.histogram({ from: '2026-05-01T00:00:00.000Z', to: '2026-05-01T00:20:00.000Z', buckets: 1 });
        expect(h.counts).toEqual([0]);
      });
    });

    describe('bounded retention', () => {
      it('removes at most `limit` messages per call and gets there in steps, keeping groups and logs right', async () => {
        const now = new Date('2026-06-01T00:00:00.000Z');
        const ms = Array.from({ length: 12 }, (_, i) =>
          makeMessage({ fingerprint: i % 2 ? 'fpOdd' : 'fpEven', dateTime: new Date(now.getTime() - (12 - i) * 1000).toISOString() }),
        );
        await store.append(ms);
        const steps: number[] = [];
        for (let i = 0; i < 10; i++) {
          const n = await store.prune({ maxCount: 5, limit: 3, now });
          steps.push(n);
          if (n === 0) break;
        }
        expect(steps).toEqual([3, 3, 1, 0]);
        const left = await store.search({ size: 100 });
        expect(left.messages.map((m) => m.id)).toEqual(
          ms
            .slice(7)
            .map((m) => m.id)
            .reverse(),
        );
        const groups = await store.groups({});
        expect(groups.groups.reduce((n, g) => n + g.count, 0)).toBe(5);
        expect((await store.logs()).map((l) => [l.name, l.count])).toEqual([['default', 5]]);
      });

      it('removes old messages by age in bounded steps too, and treats a non-finite limit as none', async () => {
        const now = new Date('2026-06-01T00:00:00.000Z');
        const old = Array.from({ length: 5 }, (_, i) => makeMessage({ dateTime: `2026-01-0${i + 1}T00:00:00.000Z` }));
        const fresh = makeMessage({ dateTime: '2026-05-31T00:00:00.000Z' });
        await store.append([...old, fresh]);
        expect(await store.prune({ maxAgeDays: Infinity, maxCount: Infinity, now })).toBe(0);
        expect(await store.prune({ maxAgeDays: Number.NaN, now })).toBe(0);
        expect(await store.prune({ maxAgeDays: 30, limit: 2, now })).toBe(2);
        expect(await store.prune({ maxAgeDays: 30, limit: 2, now })).toBe(2);
        expect(await store.prune({ maxAgeDays: 30, limit: 2, now })).toBe(1);
        expect((await store.search({})).messages.map((m) => m.id)).toEqual([fresh.id]);
      });
    });

    describe('neighbours, delete, prune, logs', () => {
      it('finds the newer and older message in the same log', async () => {
        const [a, b, c] = [makeMessage(), makeMessage(), makeMessage()];
        await store.append([a!, b!, c!, makeMessage({ log: 'other' })]);
        expect(await store.neighbours('default', b!.id)).toEqual({ newer: c!.id, older: a!.id });
        const first = await store.neighbours('default', c!.id);
        expect(first.newer).toBeUndefined();
        expect(first.older).toBe(b!.id);
      });

      it('deletes by query within one log only', async () => {
        const a = makeMessage({ statusCode: 404, log: 'x' });
        const b = makeMessage({ statusCode: 500, log: 'x' });
        const c = makeMessage({ statusCode: 404, log: 'y' });
        await store.append([a, b, c]);
        expect(await store.delete('x', { filter: { query: parseQuery('statusCode:404') } })).toBe(1);
        expect(await store.get('x', a.id)).toBeUndefined();
        expect(await store.get('x', b.id)).toBeDefined();
        expect(await store.get('y', c.id)).toBeDefined();
      });

      it('prunes by age and by count per log', async () => {
        const now = new Date('2026-06-01T00:00:00.000Z');
        const old = makeMessage({ dateTime: '2026-01-01T00:00:00.000Z' });
        const recent = Array.from({ length: 5 }, (_, i) =>
          makeMessage({ dateTime: new Date(now.getTime() - (5 - i) * 1000).toISOString() }),
        );
        await store.append([old, ...recent]);
        expect(await store.prune({ maxAgeDays: 30, now })).toBe(1);
        expect(await store.prune({ maxAgeDays: 30, maxCount: 3, now })).toBe(2);
        const left = await store.search({});
        expect(left.messages.map((m) => m.id)).toEqual(
          recent
            .slice(2)
            .map((m) => m.id)
            .reverse(),
        );
        const groups = await store.groups({});
        expect(groups.groups.reduce((n, g) => n + g.count, 0)).toBe(3);
      });

      it('lists logs with counts and newest time', async () => {
        await store.append([
          makeMessage({ log: 'b', dateTime: '2026-07-01T00:00:00.000Z' }),
          makeMessage({ log: 'a' }),
          makeMessage({ log: 'b', dateTime: '2026-07-02T00:00:00.000Z' }),
        ]);
        const logs = await store.logs();
        expect(logs.map((l) => [l.name, l.count])).toEqual([
          ['a', 1],
          ['b', 2],
        ]);
        expect(logs[1]!.lastSeen).toBe('2026-07-02T00:00:00.000Z');
      });
    });

    describe('keys', () => {
      it('keeps ended viewer sessions until their expiry', async () => {
        const later = new Date(Date.now() + 3_600_000).toISOString();
        expect(await store.sessionEnded('sid-aaaaaaaa')).toBe(false);
        await store.endSession('sid-aaaaaaaa', later);
        await store.endSession('sid-expired0', new Date(Date.now() - 1000).toISOString());
        expect(await store.sessionEnded('sid-aaaaaaaa')).toBe(true);
        expect(await store.sessionEnded('sid-expired0')).toBe(false);
        expect(await store.sessionEnded('sid-bbbbbbbb')).toBe(false);
      });

      it('stores, lists and revokes key records, keeping the first revocation time', async () => {
        const { record } = createKey({ name: 'writer', now: new Date('2026-01-01T00:00:00.000Z') });
        await store.putKey(record);
        expect(await store.getKey(record.id)).toEqual(record);
        expect((await store.listKeys()).map((k) => k.id)).toEqual([record.id]);
        expect(await store.revokeKey(record.id, new Date('2026-02-01T00:00:00.000Z'))).toBe(true);
        expect(await store.revokeKey(record.id, new Date('2026-03-01T00:00:00.000Z'))).toBe(true);
        expect((await store.getKey(record.id))?.revoked).toBe('2026-02-01T00:00:00.000Z');
        expect(await store.revokeKey('zzzzzzzz')).toBe(false);
      });

      it('keeps permissions, log scope and expiry', async () => {
        const { record } = createKey({
          name: 'reader',
          permissions: ['messages_read', 'logs_read'],
          logs: ['shop'],
          expires: '2027-01-01T00:00:00.000Z',
        });
        await store.putKey(record);
        expect(await store.getKey(record.id)).toEqual(record);
      });

      it('refuses a second key with the same id', async () => {
        const { record } = createKey({ name: 'a' });
        await store.putKey(record);
        await expect(store.putKey({ ...record, name: 'b' })).rejects.toMatchObject({ code: 'ERR_ELMAH_KEY_EXISTS', status: 409 });
        expect((await store.getKey(record.id))?.name).toBe('a');
      });
    });

    describe('triage', () => {
      const at = '2026-06-01T00:00:00.000Z';
      const later = (n: number): string => new Date(Date.parse('2026-07-01T00:00:00.000Z') + n * 1000).toISOString();
      const occur = (fp: string, overrides: Partial<ErrorMessage> = {}): ErrorMessage =>
        makeMessage({ fingerprint: fp, dateTime: later(Math.floor(Math.random() * 1e6)), ...overrides });

      it('starts groups open and reports the message that made each group new, once', async () => {
        const results = await store.append([
          makeMessage({ fingerprint: 'fa' }),
          makeMessage({ fingerprint: 'fa' }),
          makeMessage({ fingerprint: 'fb' }),
        ]);
        expect(results.map((r) => r.group)).toEqual(['new', undefined, 'new']);
        expect((await store.append([makeMessage({ fingerprint: 'fa' })]))[0]?.group).toBeUndefined();
        const g = await store.group('default', 'fa');
        expect(g?.state).toEqual({ status: 'open', regressed: false });
        const tallied = await store.tally([makeTally({ fingerprint: 'fc' }), makeTally({ fingerprint: 'fa' })]);
        expect(tallied.map((r) => r.group)).toEqual(['new', undefined]);
      });

      it('resolves and ignores groups, records who and when, and filters listings by state', async () => {
        await store.append([makeMessage({ fingerprint: 'fa' }), makeMessage({ fingerprint: 'fb' }), makeMessage({ fingerprint: 'fc' })]);
        expect(await store.setGroupState('default', ['fa', 'nope'], { status: 'resolved' }, 'key1', at)).toBe(1);
        expect(await store.setGroupState('other', ['fb'], { status: 'resolved' }, 'key1', at)).toBe(0);
        expect(await store.setGroupState('default', ['fb'], { status: 'ignored' }, 'key2', at)).toBe(1);
        expect((await store.group('default', 'fa'))?.state).toEqual({
          status: 'resolved',
          changedBy: 'key1',
          changedAt: at,
          regressed: false,
          history: [{ event: 'resolved', at, by: 'key1' }],
        });
        expect((await store.group('default', 'fb'))?.state).toMatchObject({ status: 'ignored', changedBy: 'key2' });
        const fps = async (status: GroupOptions['status'], query?: string): Promise<string[]> =>
          (await store.groups({ log: 'default', status, query: query === undefined ? undefined : parseQuery(query) })).groups
            .map((g) => g.fingerprint)
            .sort();
        expect(await fps(undefined)).toEqual(['fa', 'fb', 'fc']);
        expect(await fps('open')).toEqual(['fc']);
        expect(await fps(['resolved', 'ignored'])).toEqual(['fa', 'fb']);
        expect((await store.groups({ log: 'default', status: 'resolved' })).total).toBe(1);
        expect(await fps('resolved', 'type:Error')).toEqual(['fa']);
        const filtered = await store.groups({ log: 'default', query: parseQuery('type:Error') });
        expect(filtered.groups.find((g) => g.fingerprint === 'fb')?.state.status).toBe('ignored');
        await store.setGroupState('default', ['fa'], { status: 'open' }, 'key3', at);
        expect((await store.group('default', 'fa'))?.state).toEqual({
          status: 'open',
          changedBy: 'key3',
          changedAt: at,
          regressed: false,
          history: [
            { event: 'resolved', at, by: 'key1' },
            { event: 'reopened', at, by: 'key3' },
          ],
        });
      });

      it('reopens a resolved group as regressed on its next occurrence, reported to one message, with when and the version', async () => {
        await store.append([makeMessage({ fingerprint: 'fa', version: '1.0.0' })]);
        await store.setGroupState('default', ['fa'], { status: 'resolved' }, 'key1', at);
        const back = occur('fa', { version: '1.0.1', dateTime: later(5) });
        const results = await store.append([back, occur('fa', { dateTime: later(6) })]);
        expect(results.map((r) => r.group)).toEqual(['regressed', undefined]);
        const g = await store.group('default', 'fa');
        expect(g?.state).toMatchObject({
          status: 'open',
          regressed: true,
          regressedAt: back.dateTime,
          regressedIn: '1.0.1',
          changedBy: 'key1',
          history: [
            { event: 'resolved', at, by: 'key1' },
            { event: 'regressed', at: back.dateTime, version: '1.0.1' },
          ],
        });
        expect((await store.append([occur('fa')]))[0]?.group).toBeUndefined();
        // A late occurrence that happened before the resolution does not reopen it.
        await store.setGroupState('default', ['fa'], { status: 'resolved' }, 'key1', later(100));
        expect((await store.append([occur('fa', { dateTime: later(50) })]))[0]?.group).toBeUndefined();
        expect((await store.group('default', 'fa'))?.state).toMatchObject({ status: 'resolved', regressed: false });
        // A counted-only occurrence regresses it too.
        const [tallied] = await store.tally([makeTally({ fingerprint: 'fa', firstSeen: later(200), lastSeen: later(201) })]);
        expect(tallied?.group).toBe('regressed');
      });

      it('keeps a group resolved in a version against occurrences of older versions (semver order, or seen before)', async () => {
        await store.append([
          makeMessage({ fingerprint: 'fs', version: '1.4.2' }),
          makeMessage({ fingerprint: 'fh', version: 'abc123' }),
          makeMessage({ fingerprint: 'fh', version: 'def456' }),
        ]);
        await store.setGroupState('default', ['fs'], { status: 'resolved', inVersion: '1.5.0' }, 'key1', at);
        await store.setGroupState('default', ['fh'], { status: 'resolved', inVersion: 'fff999' }, 'key1', at);
        expect((await store.group('default', 'fh'))?.state).toMatchObject({ resolvedIn: 'fff999', knownVersions: ['abc123', 'def456'] });
        const old = await store.append([
          occur('fs', { version: '1.4.2' }),
          occur('fs', { version: '1.5.0-beta.1' }),
          occur('fh', { version: 'abc123' }),
        ]);
        expect(old.map((r) => r.group)).toEqual([undefined, undefined, undefined]);
        expect((await store.group('default', 'fs'))?.state.status).toBe('resolved');
        expect((await store.group('default', 'fh'))?.state.status).toBe('resolved');
        const fixed = await store.append([occur('fs', { version: '1.5.0' }), occur('fh', { version: 'zzz000' })]);
        expect(fixed.map((r) => r.group)).toEqual(['regressed', 'regressed']);
        expect((await store.group('default', 'fs'))?.state).toMatchObject({
          status: 'open',
          regressed: true,
          regressedIn: '1.5.0',
          resolvedIn: '1.5.0',
        });
      });

      it('ends an ignore after N more occurrences or after its time, and an ignore for ever never', async () => {
        await store.append([makeMessage({ fingerprint: 'fn' }), makeMessage({ fingerprint: 'ft' }), makeMessage({ fingerprint: 'ff' })]);
        await store.setGroupState('default', ['fn'], { status: 'ignored', occurrences: 3 }, 'key1', at);
        await store.setGroupState('default', ['ft'], { status: 'ignored', until: later(100) }, 'key1', at);
        await store.setGroupState('default', ['ff'], { status: 'ignored' }, 'key1', at);
        await store.append([occur('fn'), occur('fn')]);
        expect((await store.group('default', 'fn'))?.state).toMatchObject({ status: 'ignored', ignoreUntilCount: 4 });
        const reaching = occur('fn');
        const third = await store.append([reaching]);
        expect(third[0]?.group).toBeUndefined();
        expect((await store.group('default', 'fn'))?.state).toEqual({
          status: 'open',
          changedBy: 'key1',
          changedAt: at,
          regressed: false,
          history: [
            { event: 'ignored', at, by: 'key1', untilCount: 4 },
            { event: 'unignored', at: reaching.dateTime },
          ],
        });
        await store.append([occur('ft', { dateTime: later(99) })]);
        expect((await store.group('default', 'ft'))?.state.status).toBe('ignored');
        await store.append([occur('ft', { dateTime: later(100) })]);
        expect((await store.group('default', 'ft'))?.state.status).toBe('open');
        await store.append(Array.from({ length: 5 }, (_, i) => occur('ff', { dateTime: later(1000 + i) })));
        expect((await store.group('default', 'ff'))?.state.status).toBe('ignored');
      });

      it('finds groups and messages by state with status: and is: in a query, in every view that takes one', async () => {
        const day = (d: number): string => `2026-04-0${d}T00:00:00.000Z`;
        await store.append([
          makeMessage({ fingerprint: 'fr', dateTime: day(1) }),
          makeMessage({ fingerprint: 'fi', dateTime: day(2) }),
          makeMessage({ fingerprint: 'fo', dateTime: day(3) }),
        ]);
        await store.setGroupState('default', ['fr'], { status: 'resolved' }, 'k1', at);
        await store.setGroupState('default', ['fi'], { status: 'ignored' }, 'k1', at);
        const groupsOf = async (q: string): Promise<string[]> =>
          (await store.groups({ query: parseQuery(q) })).groups.map((g) => g.fingerprint).sort();
        expect(await groupsOf('status:resolved')).toEqual(['fr']);
        expect(await groupsOf('is:open OR is:ignored')).toEqual(['fi', 'fo']);
        expect(await groupsOf('NOT status:open')).toEqual(['fi', 'fr']);
        const chart = await store.histogram({ from: day(1), to: '2026-04-04T00:00:00.000Z', buckets: 3, query: parseQuery('is:ignored') });
        expect(chart.counts).toEqual([0, 1, 0]);
        expect(await store.delete('default', { filter: { query: parseQuery('is:ignored') } })).toBe(1);
        expect(await groupsOf('')).toEqual(['fo', 'fr']);
      });

      it('keeps a state while the group has occurrences left after a delete or a prune; an emptied group goes with it', async () => {
        const first = makeMessage({ fingerprint: 'fa', dateTime: '2026-01-01T00:00:00.000Z' });
        await store.append([first, makeMessage({ fingerprint: 'fa', dateTime: '2026-02-01T00:00:00.000Z' })]);
        await store.setGroupState('default', ['fa'], { status: 'ignored' }, 'key1', at);
        expect(await store.delete('default', { ids: [first.id] })).toBe(1);
        expect((await store.group('default', 'fa'))?.state.status).toBe('ignored');
        await store.prune({ maxAgeDays: 1, now: new Date('2026-02-03T00:00:00.000Z') });
        expect(await store.group('default', 'fa')).toBeUndefined();
        expect((await store.append([occur('fa')]))[0]?.group).toBe('new');
        expect((await store.group('default', 'fa'))?.state.status).toBe('open');
      });
    });

    describe('deployments', () => {
      const deploy = (input: Record<string, unknown>) => normalizeDeployment(input, new Date('2026-03-01T00:00:00Z'));

      it('stores deployments and lists them newest first, field for field', async () => {
        const a = deploy({
          id: 'd1',
          version: '1.0.0',
          created: '2026-02-01T10:00:00Z',
          description: 'First',
          userName: 'Ada',
          userEmail: 'ada@example.test',
          logId: 'shop',
        });
        const b = deploy({ id: 'd2', version: '1.1.0', created: '2026-02-02T10:00:00Z' });
        const c = deploy({ id: 'd0', version: '1.1.1', created: '2026-02-02T10:00:00Z' });
        for (const d of [a, b, c]) expect(await store.putDeployment(d)).toBe('created');
        expect(await store.deployments()).toEqual([b, c, a]);
        expect((await store.deployments({ size: 1 })).map((d) => d.id)).toEqual(['d2']);
      });

      it('is idempotent by id: a retried deployment is a duplicate and changes nothing', async () => {
        await store.putDeployment(deploy({ id: 'd1', version: '1.0.0' }));
        expect(await store.putDeployment(deploy({ id: 'd1', version: '9.9.9' }))).toBe('duplicate');
        expect((await store.deployments()).map((d) => d.version)).toEqual(['1.0.0']);
      });

      it('lists the deployments of the asked logs together with those of every log', async () => {
        await store.putDeployment(deploy({ id: 'shop', version: '1', created: '2026-02-01T00:00:00Z', logId: 'shop' }));
        await store.putDeployment(deploy({ id: 'billing', version: '2', created: '2026-02-02T00:00:00Z', logId: 'billing' }));
        await store.putDeployment(deploy({ id: 'all', version: '3', created: '2026-02-03T00:00:00Z' }));
        expect((await store.deployments({ log: 'shop' })).map((d) => d.id)).toEqual(['all', 'shop']);
        expect((await store.deployments({ log: ['shop', 'billing'] })).map((d) => d.id)).toEqual(['all', 'billing', 'shop']);
        expect((await store.deployments({ log: [] })).map((d) => d.id)).toEqual(['all']);
      });
    });

    describe('edges', () => {
      it('round-trips a message without optional fields and with empty lists', async () => {
        const m = makeMessage({
          statusCode: undefined,
          detail: undefined,
          source: undefined,
          url: undefined,
          method: undefined,
          hostname: undefined,
          data: [{ key: '', value: '' }],
        });
        await store.append([m]);
        const got = await store.get('default', m.id);
        expect(got).toEqual(m);
        expect(got?.statusCode).toBeUndefined();
        expect(got?.cookies).toEqual([]);
      });

      it('caps the total above COUNT_CAP and says it is not exact', async () => {
        const t0 = Date.UTC(2026, 1, 1);
        const batch = (log: string, n: number): ErrorMessage[] =>
          Array.from({ length: n }, (_, i) =>
            makeMessage({
              log,
              dateTime: new Date(t0 + i * 1000).toISOString(),
              detail: 'Error: same\n    at handler (/app/src/x.js:1:1)',
            }),
          );
        for (const log of ['cap-a', 'cap-b']) {
          const all = batch(log, 5001);
          for (let i = 0; i < all.length; i += 1000) await store.append(all.slice(i, i + 1000));
        }
        const r = await store.search({ size: 3 });
        expect([r.total, r.totalExact, r.messages.length]).toEqual([10_001, false, 3]);
        const one = await store.search({ log: 'cap-a' });
        expect([one.total, one.totalExact]).toEqual([5001, true]);
        const filtered = await store.search({ query: parseQuery('same'), size: 1 });
        expect([filtered.total, filtered.totalExact]).toEqual([10_001, false]);
        const half = await store.search({ query: parseQuery('log:cap-b'), size: 1 });
        expect([half.total, half.totalExact]).toEqual([5001, true]);
      });

      it('returns an empty page past the end, clamps the page size and rejects a bad cursor', async () => {
        const ms = Array.from({ length: 3 }, () => makeMessage());
        await store.append(ms);
        const past = await store.search({ page: 5, size: 2 });
        expect([past.messages.length, past.total, past.after]).toEqual([0, 3, undefined]);
        expect((await store.search({ size: 0 })).messages).toHaveLength(1);
        expect((await store.search({ size: 5000 })).messages).toHaveLength(3);
        await expect(store.search({ after: 'not-a-cursor' })).rejects.toMatchObject({ code: 'ERR_ELMAH_QUERY' });
        const last = await store.search({ size: 3 });
        expect(last.after).toBeUndefined();
      });

      it('combines a query with a time range and several logs', async () => {
        const a = makeMessage({ log: 'a', title: 'disk full', dateTime: '2026-03-01T00:00:00.000Z' });
        const b = makeMessage({ log: 'b', title: 'disk full', dateTime: '2026-03-02T00:00:00.000Z' });
        const c = makeMessage({ log: 'c', title: 'disk full', dateTime: '2026-03-02T12:00:00.000Z' });
        const d = makeMessage({ log: 'b', title: 'other', dateTime: '2026-03-02T06:00:00.000Z' });
        await store.append([a, b, c, d]);
        const r = await store.search({ log: ['a', 'b'], query: parseQuery('disk'), from: '2026-03-01T12:00:00.000Z' });
        expect(r.messages.map((m) => m.id)).toEqual([b.id]);
        expect((await store.search({ log: [], query: parseQuery('disk') })).total).toBe(0);
      });

      it('keeps the newest message as the group representative when an older one arrives late', async () => {
        const newer = makeMessage({ fingerprint: 'fpL', dateTime: '2026-04-02T00:00:00.000Z', title: 'newer', statusCode: 502 });
        const older = makeMessage({ fingerprint: 'fpL', dateTime: '2026-04-01T00:00:00.000Z', title: 'older', statusCode: 500 });
        await store.append([newer]);
        await store.append([older]);
        const [g] = (await store.groups({})).groups;
        expect(g && [g.count, g.firstSeen, g.lastSeen, g.lastId, g.title, g.statusCode]).toEqual([
          2,
          older.dateTime,
          newer.dateTime,
          newer.id,
          'newer',
          502,
        ]);
        await store.delete('default', { ids: [newer.id] });
        const [h] = (await store.groups({})).groups;
        expect(h && [h.count, h.firstSeen, h.lastSeen, h.lastId, h.title, h.statusCode]).toEqual([
          1,
          older.dateTime,
          older.dateTime,
          older.id,
          'older',
          500,
        ]);
      });

      it('pages groups and filters them by several logs', async () => {
        const ms = ['g1', 'g2', 'g3'].flatMap((fp, i) => [
          makeMessage({ log: i === 2 ? 'other' : 'default', fingerprint: fp }),
          makeMessage({ log: 'default', fingerprint: fp }),
        ]);
        await store.append(ms);
        const first = await store.groups({ size: 2 });
        const second = await store.groups({ size: 2, page: 1 });
        expect(first.total).toBe(4);
        expect([...first.groups, ...second.groups].map((g) => `${g.log}/${g.fingerprint}`)).toEqual([
          'default/g3',
          'other/g3',
          'default/g2',
          'default/g1',
        ]);
        expect((await store.groups({ log: ['other'] })).groups.map((g) => g.fingerprint)).toEqual(['g3']);
      });

      it('deletes nothing for unknown ids or logs, and drops a log with its last message', async () => {
        const m = makeMessage({ log: 'solo' });
        await store.append([m]);
        expect(await store.delete('solo', { ids: ['nope'] })).toBe(0);
        expect(await store.delete('nowhere', { ids: [m.id] })).toBe(0);
        expect(await store.neighbours('solo', 'nope')).toEqual({});
        expect(await store.delete('solo', { ids: [m.id, m.id] })).toBe(1);
        expect((await store.logs()).map((l) => l.name)).toEqual([]);
        expect((await store.groups({})).total).toBe(0);
        expect(await store.get('solo', m.id)).toBeUndefined();
      });

      it('prunes only the log it is given', async () => {
        const now = new Date('2026-06-01T00:00:00.000Z');
        const old = '2026-01-01T00:00:00.000Z';
        await store.append([makeMessage({ log: 'p1', dateTime: old }), makeMessage({ log: 'p2', dateTime: old })]);
        expect(await store.prune({ maxAgeDays: 30, log: 'p1', now })).toBe(1);
        expect((await store.logs()).map((l) => [l.name, l.count])).toEqual([['p2', 1]]);
      });

      it('counts a histogram only inside [from, to) and within the filter', async () => {
        await store.append([
          makeMessage({ log: 'h', dateTime: '2026-05-01T00:00:00.000Z' }),
          makeMessage({ log: 'h', dateTime: '2026-05-01T01:59:59.999Z' }),
          makeMessage({ log: 'h', dateTime: '2026-05-01T02:00:00.000Z' }),
          makeMessage({ log: 'other', dateTime: '2026-05-01T00:30:00.000Z' }),
        ]);
        const r = await store.histogram({ log: 'h', from: '2026-05-01T00:00:00.000Z', to: '2026-05-01T02:00:00.000Z', buckets: 2 });
        expect(r.counts).toEqual([1, 1]);
        await expect(
          store.histogram({ from: '2026-05-02T00:00:00.000Z', to: '2026-05-01T00:00:00.000Z', buckets: 2 }),
        ).rejects.toMatchObject({ code: 'ERR_ELMAH_QUERY' });
      });
    });

    it('fails with ERR_ELMAH_STORE_CLOSED after close', async () => {
      await store.close();
      await expect(store.search({})).rejects.toMatchObject({ code: 'ERR_ELMAH_STORE_CLOSED' });
      store = await factory();
    });
  });
}

/** Queries that every backend must answer exactly as the reference evaluator does. */
export const QUERY_CORPUS = [
  '',
  'timeout',
  'Timeout',
  'time',
  '"connection refused"',
  '"refused connection"',
  'type:TypeError',
  'type:typeerror',
  'type:Type*',
  'statusCode:500',
  'statusCode:[500 TO 599]',
  'statusCode:{500 TO 599]',
  'statusCode:[400 TO 499}',
  'statusCode:[* TO 404]',
  'statusCode:5*',
  'timeout AND statusCode:504',
  'timeout OR refused',
  'NOT timeout',
  '-timeout',
  'timeout -statusCode:504',
  '(timeout OR refused) AND method:POST',
  'title:orders',
  'message:"order 42"',
  'url:checkout',
  'detail:handler',
  'source:orders',
  'user:alice',
  'user:ALICE',
  'hostname:web-2',
  'severity:fatal',
  'method:post',
  'log:shop',
  'category:db',
  'dateTime:[2026-01-01 TO 2026-01-02]',
  'dateTime:2026-01-01*',
  'caf',
  'café',
  'cafe',
  'null',
  'ünïcødé',
  '日本',
  'a_b',
  'x.y',
  "O'Brien",
  'correlationId:abc-123',
  'version:1.2*',
  'application:shop',
  'fingerprint:fpA',
  'NOT (statusCode:500 OR statusCode:404)',
  'refused && !POST',
  'timeout || type:RangeError',
  'is:open',
  'status:resolved',
  'NOT status:ignored',
  'is:regressed',
  'status:500 OR is:ignored',
  'is:open AND type:TypeError',
];

function queryCorpusMessages(): ErrorMessage[] {
  return [
    makeMessage({
      title: 'Request timeout after 30s',
      type: 'TimeoutError',
      statusCode: 504,
      method: 'GET',
      url: '/checkout/pay',
      user: 'alice',
      severity: 'Error',
      dateTime: '2026-01-01T10:00:00.000Z',
      category: 'http',
    }),
    makeMessage({
      title: 'connect ECONNREFUSED: connection refused',
      type: 'Error',
      statusCode: 500,
      method: 'POST',
      url: '/orders',
      hostname: 'web-2',
      dateTime: '2026-01-01T23:59:59.999Z',
      category: 'db',
      correlationId: 'abc-123',
    }),
    makeMessage({
      title: 'Cannot read properties of null',
      type: 'TypeError',
      statusCode: 500,
      method: 'POST',
      url: '/orders/42',
      severity: 'Fatal',
      dateTime: '2026-01-02T00:00:00.000Z',
      fingerprint: 'fpA',
    }),
    makeMessage({
      title: 'Not found: order 42',
      type: 'NotFoundError',
      statusCode: 404,
      method: 'GET',
      url: '/orders/42?x=1',
      user: 'bob',
      dateTime: '2026-01-03T00:00:00.000Z',
      version: '1.2.3',
    }),
    makeMessage({
      title: "Café closed ünïcødé 日本 a_b x.y O'Brien",
      type: 'RangeError',
      statusCode: 503,
      log: 'shop',
      application: 'shop',
      dateTime: '2026-01-04T00:00:00.000Z',
    }),
    makeMessage({
      title: 'timeout in worker',
      type: 'Error',
      statusCode: 599,
      method: 'PUT',
      url: '/jobs',
      severity: 'Warning',
      dateTime: '2026-01-05T00:00:00.000Z',
      version: '2.0.0',
    }),
    makeMessage({
      title: 'plain string thrown',
      type: 'string',
      statusCode: 400,
      detail: undefined,
      source: undefined,
      dateTime: '2026-01-06T00:00:00.000Z',
    }),
  ];
}

/** A tally of fpA in log default (three occurrences in May 2026); `over` wins. */
function makeTally(over: Partial<OccurrenceTally> = {}): OccurrenceTally {
  return {
    id: `t${Math.random().toString(36).slice(2)}`,
    log: 'default',
    fingerprint: 'fpA',
    count: 3,
    firstSeen: '2026-05-01T00:10:00.000Z',
    lastSeen: '2026-05-01T00:12:30.000Z',
    title: 'boom 3',
    type: 'Error',
    statusCode: 500,
    minutes: [
      ['2026-05-01T00:10:00.000Z', 1],
      ['2026-05-01T00:12:00.000Z', 2],
    ],
    ...over,
  };
}
