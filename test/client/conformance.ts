// The one behaviour suite every LogClient passes — local over a store, remote over a collector, and the worker
// thread's writer (which writes only): test/client/clients.test.ts calls clientConformance with each one's set-up.
import type { LogClient, LogWriter } from '../../src/client/types';
import { createKey } from '../../src/model/keys';
import type { ErrorMessage } from '../../src/model/message';
import type { Permission } from '../../src/model/permissions';
import { TallyBuilder, type OccurrenceTally } from '../../src/model/tally';
import type { Store } from '../../src/stores/types';
import { addKey } from '../helpers/keys';
import { makeMessage } from '../helpers/messages';

/** What a client's set-up gives the suite: the store behind the client, and clients acting with any key. */
export interface ClientHarness {
  /** The store the clients read and write: the suite adds keys to it, seeds it and checks what it holds. */
  store: Store;
  /** A new client acting with `key`; the suite closes it. */
  client(key: string | undefined): Promise<LogWriter>;
  /** Releases the store and whatever serves it (collector, worker). */
  close(): Promise<void>;
}

/** Options of {@link clientConformance}. */
export interface ClientConformanceOptions {
  /** False for a writer without reads (the worker thread's): the read tests become one check that it offers none. */
  reads?: boolean;
}

/** The LogClient methods beyond writing; a writer-only client has none of them. */
const READ_METHODS = [
  'get',
  'search',
  'groups',
  'group',
  'histogram',
  'neighbours',
  'delete',
  'logs',
  'endSession',
  'sessionEnded',
  'deploy',
  'deployments',
  'setGroupState',
] as const;

/** Settles `p`, or fails after `ms` so that a call that never answers fails the test instead of hanging it. */
function within<T>(p: Promise<T>, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

/**
 * A minute ago: what the writing tests store is dated within every store's retention, since a store that a
 * client opened itself (the worker's) prunes by the default retention of 90 days as it appends.
 */
const recently = (): string => new Date(Date.now() - 60_000).toISOString();

/** A tally of `count` occurrences of one group, a second apart from ten minutes ago. */
function makeTally(fingerprint: string, count: number, log: string): OccurrenceTally {
  const b = new TallyBuilder(log, fingerprint);
  const at = Date.now() - 600_000;
  for (let i = 0; i < count; i++) b.add(at + i * 1000, `Counted ${i}`, 'Error', 500);
  return b.take()!;
}

/** Registers the conformance tests for one client. `setup` gives a fresh, empty store and its clients. */
export function clientConformance(name: string, setup: () => Promise<ClientHarness>, options: ClientConformanceOptions = {}): void {
  describe(`${name} client conformance`, () => {
    let h: ClientHarness;
    let open: LogWriter[];
    beforeEach(async () => {
      h = await setup();
      open = [];
    });
    afterEach(async () => {
      await Promise.all(open.map((c) => within(c.close()).catch(() => undefined)));
      await h.close();
    });

    /** A client acting with a new key that has `permissions` (and `logs`, when given). */
    async function clientWith(permissions: Permission[], logs: string[] = []): Promise<LogWriter> {
      return clientFor(await addKey(h.store, permissions, { logs }));
    }
    async function clientFor(key: string | undefined): Promise<LogWriter> {
      const c = await h.client(key);
      open.push(c);
      return c;
    }
    const total = async (log?: string): Promise<number> => (await h.store.search({ log })).total;

    describe('whoami', () => {
      it("tells the key's public view, never its secret", async () => {
        const key = await addKey(h.store, ['messages_write', 'messages_read'], { logs: ['shop'] });
        const info = await (await clientFor(key)).whoami!();
        expect(info).toEqual({
          id: key.slice(6, 14),
          name: 'messages_write+messages_read',
          permissions: ['messages_write', 'messages_read'],
          logs: ['shop'],
        });
        expect(JSON.stringify(info)).not.toContain(key.slice(15));
      });

      it('refuses a missing key with ERR_ELMAH_KEY_MISSING and an unknown one with ERR_ELMAH_KEY_INVALID (401)', async () => {
        await expect((await clientFor(undefined)).whoami!()).rejects.toMatchObject({ code: 'ERR_ELMAH_KEY_MISSING', status: 401 });
        const unknown = await clientFor(createKey({ name: 'not stored' }).key);
        await expect(unknown.whoami!()).rejects.toMatchObject({ code: 'ERR_ELMAH_KEY_INVALID', status: 401 });
        await expect(unknown.append([{ title: 'x' }])).rejects.toMatchObject({ code: 'ERR_ELMAH_KEY_INVALID' });
        expect(await total()).toBe(0);
      });
    });

    describe('append', () => {
      it('stores a message field for field and answers created; the same id again is a duplicate', async () => {
        const c = await clientWith(['messages_write']);
        const m = makeMessage({ log: 'shop', dateTime: recently(), user: 'alice', data: [{ key: 'code', value: 'E42' }] });
        expect(await c.append([m])).toEqual([{ id: m.id, status: 'created', group: 'new' }]);
        expect(await h.store.get('shop', m.id)).toEqual(m);
        expect(await c.append([{ ...m, title: 'changed' }])).toEqual([{ id: m.id, status: 'duplicate' }]);
        expect((await h.store.get('shop', m.id))?.title).toBe(m.title);
        expect(await total()).toBe(1);
      });

      it('makes the id of a message sent without one, in the log the message names, or default', async () => {
        const c = await clientWith(['messages_write']);
        const [named, unnamed] = await c.append([{ title: 'in shop', log: 'shop' }, { title: 'in default' }]);
        expect(named).toEqual({ id: expect.any(String), status: 'created', group: 'new' });
        expect(unnamed).toEqual({ id: expect.any(String), status: 'created', group: 'new' });
        expect((await h.store.get('shop', named!.id!))?.title).toBe('in shop');
        expect((await h.store.get('default', unnamed!.id!))?.title).toBe('in default');
      });

      it('puts messages and tallies without a log into the log given to append and tally', async () => {
        const c = await clientWith(['messages_write']);
        const [r] = await c.append([{ title: 'no log of its own' }], 'billing');
        expect(r).toMatchObject({ status: 'created' });
        const { log: _log, ...tally } = makeTally('fp', 2, 'shop');
        expect(await c.tally([tally], 'billing')).toEqual([{ id: tally.id, status: 'created', group: 'new' }]);
        expect((await h.store.get('billing', r!.id!))?.title).toBe('no log of its own');
        expect(await h.store.group('billing', 'fp')).toMatchObject({ count: 2, countedOnly: 2 });
        expect(await total('default')).toBe(0);
        expect(await h.store.group('default', 'fp')).toBeUndefined();
      });

      it('validates each message on its own: bad ones come back rejected with a coded error and are not stored', async () => {
        const c = await clientWith(['messages_write']);
        const results = await c.append([{ title: 'kept' }, { title: 42 }, null, { title: 'bad severity', severity: 'bogus' }]);
        expect(results.map((r) => r.status)).toEqual(['created', 'rejected', 'rejected', 'rejected']);
        for (const r of results.slice(1))
          expect(r).toMatchObject({ status: 'rejected', error: { code: 'ERR_ELMAH_INVALID_MESSAGE', message: expect.any(String) } });
        expect(results[1]).toMatchObject({ error: { details: [{ field: 'title', problem: 'expected a string, got number' }] } });
        expect((await h.store.search({})).messages.map((m) => m.title)).toEqual(['kept']);
      });

      it('refuses a key without messages_write with ERR_ELMAH_PERMISSION (403) and stores nothing', async () => {
        const c = await clientWith(['messages_read', 'messages_delete']);
        await expect(c.append([{ title: 'x' }])).rejects.toMatchObject({ code: 'ERR_ELMAH_PERMISSION', status: 403 });
        expect(await total()).toBe(0);
      });

      it('keeps a log-limited key to its logs', async () => {
        const c = await clientWith(['messages_write'], ['shop']);
        expect(await c.append([{ title: 'mine', log: 'shop' }])).toEqual([{ id: expect.any(String), status: 'created', group: 'new' }]);
        await expect(c.append([{ title: 'not mine', log: 'billing' }])).rejects.toMatchObject({
          code: 'ERR_ELMAH_PERMISSION',
          status: 403,
        });
        expect(await total('shop')).toBe(1);
        expect(await total('billing')).toBe(0);
      });
    });

    describe('tally', () => {
      it('counts occurrences into their group without storing them; a tally sent again is a duplicate', async () => {
        const c = await clientWith(['messages_write']);
        const m = makeMessage({ log: 'shop', dateTime: recently() });
        await c.append([m]);
        const t = makeTally(m.fingerprint, 3, 'shop');
        expect(await c.tally([t, makeTally('counted-only-group', 2, 'shop')])).toEqual([
          { id: t.id, status: 'created' },
          { id: expect.any(String), status: 'created', group: 'new' },
        ]);
        expect(await c.tally([t])).toEqual([{ id: t.id, status: 'duplicate' }]);
        expect(await h.store.group('shop', m.fingerprint)).toMatchObject({ count: 4, countedOnly: 3 });
        expect(await h.store.group('shop', 'counted-only-group')).toMatchObject({ count: 2, countedOnly: 2, title: 'Counted 1' });
        expect(await total('shop')).toBe(1);
      });

      it('rejects a bad tally with a coded error and counts nothing of it', async () => {
        const c = await clientWith(['messages_write']);
        const good = makeTally('good', 2, 'shop');
        const results = await c.tally([{ ...makeTally('bad', 2, 'shop'), count: 5 }, null, good]);
        expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'created']);
        expect(results[0]).toMatchObject({ error: { code: 'ERR_ELMAH_INVALID_MESSAGE' } });
        expect(await h.store.group('shop', 'bad')).toBeUndefined();
        expect(await h.store.group('shop', 'good')).toMatchObject({ count: 2 });
      });

      it('refuses a key without messages_write with ERR_ELMAH_PERMISSION', async () => {
        const c = await clientWith(['messages_read']);
        await expect(c.tally([makeTally('fp', 1, 'shop')])).rejects.toMatchObject({ code: 'ERR_ELMAH_PERMISSION', status: 403 });
        expect(await h.store.group('shop', 'fp')).toBeUndefined();
      });
    });

    describe('close', () => {
      it('a closed client refuses further calls with ERR_ELMAH_STORE_CLOSED', async () => {
        const c = await clientWith(['messages_write']);
        expect(await c.append([{ title: 'before' }])).toEqual([expect.objectContaining({ status: 'created' })]);
        await c.close();
        await expect(within(c.append([{ title: 'after' }]))).rejects.toMatchObject({ code: 'ERR_ELMAH_STORE_CLOSED' });
        await expect(within(c.whoami!())).rejects.toMatchObject({ code: 'ERR_ELMAH_STORE_CLOSED' });
      });
    });

    if (options.reads === false) {
      it('offers no reads: a writer has only append, tally, whoami and close', async () => {
        const c = (await clientWith(['messages_write', 'messages_read', 'messages_delete', 'logs_read'])) as unknown as Record<
          string,
          unknown
        >;
        for (const method of READ_METHODS) expect({ method, type: typeof c[method] }).toEqual({ method, type: 'undefined' });
        for (const method of ['append', 'tally', 'whoami', 'close'])
          expect({ method, type: typeof c[method] }).toEqual({ method, type: 'function' });
      });
      return;
    }

    describe('reading', () => {
      /** Four messages in log shop (two 500s, two 404s, a day apart from 2026-06-01) and one in billing; oldest first. */
      let shop: ErrorMessage[];
      let billing: ErrorMessage;
      beforeEach(async () => {
        shop = Array.from({ length: 4 }, (_, i) =>
          makeMessage({ log: 'shop', statusCode: i < 2 ? 500 : 404, dateTime: `2026-06-0${i + 1}T00:00:00.000Z` }),
        );
        billing = makeMessage({ log: 'billing', type: 'TypeError', dateTime: '2026-06-09T00:00:00.000Z' });
        await h.store.append([...shop, billing]);
      });
      const reader = async (permissions: Permission[] = ['messages_read'], logs: string[] = []): Promise<LogClient> =>
        (await clientWith(permissions, logs)) as LogClient;
      const ids = (ms: readonly ErrorMessage[]): string[] => ms.map((m) => m.id);

      it('get returns a message field for field; an unknown id is ERR_ELMAH_NOT_FOUND (404)', async () => {
        const c = await reader();
        expect(await c.get('shop', shop[0]!.id)).toEqual(shop[0]);
        await expect(c.get('shop', 'no-such-id')).rejects.toMatchObject({ code: 'ERR_ELMAH_NOT_FOUND', status: 404 });
        await expect(c.get('billing', shop[0]!.id)).rejects.toMatchObject({ code: 'ERR_ELMAH_NOT_FOUND' });
      });

      it('search answers newest first with an exact total, filtered by query, time and log', async () => {
        const c = await reader();
        const all = await c.search({});
        expect({ ids: ids(all.messages), total: all.total, exact: all.totalExact }).toEqual({
          ids: [billing.id, ...ids(shop).reverse()],
          total: 5,
          exact: true,
        });
        expect(ids((await c.search({ log: 'shop', query: 'statusCode:500' })).messages)).toEqual([shop[1]!.id, shop[0]!.id]);
        expect((await c.search({ query: 'type:TypeError' })).total).toBe(1);
        expect(ids((await c.search({ from: '2026-06-02T00:00:00.000Z', to: '2026-06-03T00:00:00.000Z' })).messages)).toEqual([shop[1]!.id]);
        expect((await c.search({ log: ['shop', 'billing'] })).total).toBe(5);
        expect((await c.search({ log: 'nowhere' })).total).toBe(0);
      });

      it('search pages by cursor to the end, without repeats, and by page and size', async () => {
        const c = await reader();
        const seen: string[] = [];
        let after: string | undefined;
        for (let i = 0; i < 10; i++) {
          const page = await c.search({ log: 'shop', size: 3, after });
          expect(page.total).toBe(4);
          seen.push(...ids(page.messages));
          after = page.after;
          if (!after) break;
        }
        expect(seen).toEqual(ids(shop).reverse());
        expect(ids((await c.search({ log: 'shop', size: 3, page: 1 })).messages)).toEqual([shop[0]!.id]);
      });

      it('groups count messages per fingerprint, and group() tells one (undefined when unknown)', async () => {
        const c = await reader();
        const { groups, total: count } = await c.groups({ log: 'shop' });
        expect(count).toBe(groups.length);
        expect(groups.reduce((n, g) => n + g.count, 0)).toBe(4);
        const one = groups.find((g) => g.fingerprint === shop[0]!.fingerprint)!;
        // group() adds whom and which versions the group reached; the listing leaves that out.
        expect(await c.group('shop', one.fingerprint)).toEqual({ ...one, reach: expect.objectContaining({ sampled: one.count }) });
        expect(one.reach).toBeUndefined();
        expect(await c.group('shop', 'no-such-fingerprint')).toBeUndefined();
        expect((await c.groups({ log: 'shop', query: 'statusCode:404' })).groups.reduce((n, g) => n + g.count, 0)).toBe(2);
      });

      it("counted-only occurrences of a tally appear in the group's count", async () => {
        const c = await reader(['messages_write', 'messages_read']);
        await c.tally([makeTally(billing.fingerprint, 3, 'billing')]);
        expect(await c.group('billing', billing.fingerprint)).toMatchObject({ count: 4, countedOnly: 3 });
        expect((await c.groups({ log: 'billing' })).groups.find((g) => g.fingerprint === billing.fingerprint)).toMatchObject({ count: 4 });
        expect((await c.search({ log: 'billing' })).total).toBe(1);
      });

      it('histogram counts messages per bucket', async () => {
        const c = await reader();
        const hist = await c.histogram({ log: 'shop', from: '2026-06-01T00:00:00.000Z', to: '2026-06-05T00:00:00.000Z', buckets: 4 });
        expect(hist.counts).toEqual([1, 1, 1, 1]);
        const errors = await c.histogram({
          query: 'statusCode:500',
          from: '2026-06-01T00:00:00.000Z',
          to: '2026-06-05T00:00:00.000Z',
          buckets: 2,
        });
        expect(errors.counts).toEqual([2, 0]);
      });

      it('neighbours and logs', async () => {
        const c = await reader();
        expect(await c.neighbours('shop', shop[1]!.id)).toEqual({ newer: shop[2]!.id, older: shop[0]!.id });
        expect((await c.logs()).map((l) => l.name).sort()).toEqual(['billing', 'shop']);
      });

      it('delete by ids and by query needs messages_delete; refused, it deletes nothing', async () => {
        await expect((await reader()).delete('shop', { ids: [shop[0]!.id] })).rejects.toMatchObject({
          code: 'ERR_ELMAH_PERMISSION',
          status: 403,
        });
        expect(await total('shop')).toBe(4);
        const c = await reader(['messages_read', 'messages_delete']);
        expect(await c.delete('shop', { ids: [shop[0]!.id, 'no-such-id'] })).toBe(1);
        expect(await c.delete('shop', { query: 'statusCode:404' })).toBe(2);
        expect(ids((await h.store.search({})).messages)).toEqual([billing.id, shop[1]!.id]);
      });

      it('refuses a key without messages_read on every read with ERR_ELMAH_PERMISSION (403)', async () => {
        const c = await reader(['messages_write', 'messages_delete']);
        const reads: Array<[string, () => Promise<unknown>]> = [
          ['get', () => c.get('shop', shop[0]!.id)],
          ['search', () => c.search({})],
          ['groups', () => c.groups({})],
          ['group', () => c.group('shop', shop[0]!.fingerprint)],
          ['histogram', () => c.histogram({ from: '2026-06-01T00:00:00.000Z', to: '2026-06-05T00:00:00.000Z', buckets: 4 })],
          ['neighbours', () => c.neighbours('shop', shop[0]!.id)],
          ['logs', () => c.logs()],
          ['sessionEnded', () => c.sessionEnded('session-1234')],
        ];
        for (const [method, read] of reads) {
          const err = await read().then(
            () => undefined,
            (e: { code?: string; status?: number }) => e,
          );
          expect({ method, code: err?.code, status: err?.status }).toEqual({ method, code: 'ERR_ELMAH_PERMISSION', status: 403 });
        }
      });

      it('a log-limited key reads its own log only', async () => {
        const c = await reader(['messages_read', 'messages_delete'], ['shop']);
        expect(ids((await c.search({})).messages)).toEqual(ids(shop).reverse());
        expect((await c.groups({})).groups.reduce((n, g) => n + g.count, 0)).toBe(4);
        expect((await c.logs()).map((l) => l.name)).toEqual(['shop']);
        const refused: Array<[string, () => Promise<unknown>]> = [
          ['get', () => c.get('billing', billing.id)],
          ['search', () => c.search({ log: 'billing' })],
          ['search of several logs', () => c.search({ log: ['shop', 'billing'] })],
          ['groups', () => c.groups({ log: 'billing' })],
          ['group', () => c.group('billing', billing.fingerprint)],
          [
            'histogram',
            () => c.histogram({ log: 'billing', from: '2026-06-01T00:00:00.000Z', to: '2026-06-10T00:00:00.000Z', buckets: 3 }),
          ],
          ['neighbours', () => c.neighbours('billing', billing.id)],
          ['delete', () => c.delete('billing', { ids: [billing.id] })],
        ];
        for (const [what, read] of refused) {
          const err = await read().then(
            () => undefined,
            (e: { code?: string }) => e,
          );
          expect({ what, code: err?.code }).toEqual({ what, code: 'ERR_ELMAH_PERMISSION' });
        }
        expect(await total('billing')).toBe(1);
      });

      it('a bad query is ERR_ELMAH_QUERY (400)', async () => {
        const c = await reader();
        await expect(c.search({ query: 'statusCode:[5' })).rejects.toMatchObject({ code: 'ERR_ELMAH_QUERY', status: 400 });
        await expect(c.groups({ query: '(' })).rejects.toMatchObject({ code: 'ERR_ELMAH_QUERY', status: 400 });
      });

      it('ended sessions are told to every client of the store', async () => {
        const c = await reader();
        expect(await c.sessionEnded('session-1234')).toBe(false);
        await c.endSession('session-1234', new Date(Date.now() + 60_000).toISOString());
        expect(await c.sessionEnded('session-1234')).toBe(true);
        expect(await (await reader()).sessionEnded('session-1234')).toBe(true);
        await expect(c.endSession('no', new Date(Date.now() + 60_000).toISOString())).rejects.toMatchObject({ code: 'ERR_ELMAH_QUERY' });
      });
    });

    describe('triage', () => {
      const client = async (permissions: Permission[], logs: string[] = []): Promise<LogClient> =>
        (await clientWith(permissions, logs)) as LogClient;

      it('a groups_write key resolves and ignores groups; readers see the state; the writer hears of new groups and regressions', async () => {
        const writer = await client(['messages_write']);
        const first = makeMessage({ log: 'shop', fingerprint: 'fpT', dateTime: '2026-06-01T00:00:00.000Z' });
        expect(
          await writer.append([first, makeMessage({ log: 'shop', fingerprint: 'fpU', dateTime: '2026-06-01T00:00:01.000Z' })]),
        ).toEqual([{ id: first.id, status: 'created', group: 'new' }, expect.objectContaining({ status: 'created', group: 'new' })]);
        const triager = await clientWith(['groups_write'], ['shop']);
        const key = (await triager.whoami!()).id;
        const t = triager as LogClient;
        expect(await t.setGroupState('shop', { fingerprints: ['fpT', 'gone'], status: 'resolved', inVersion: '2.0.0' })).toEqual({
          changed: 1,
        });
        expect(await t.setGroupState('shop', { fingerprints: ['fpU'], status: 'ignored', occurrences: 100 })).toEqual({ changed: 1 });
        const reader = await client(['messages_read']);
        expect((await reader.group('shop', 'fpT'))?.state).toMatchObject({
          status: 'resolved',
          resolvedIn: '2.0.0',
          changedBy: key,
          regressed: false,
        });
        expect((await reader.groups({ status: 'open' })).groups).toEqual([]);
        expect((await reader.groups({ status: ['resolved', 'ignored'] })).groups.map((g) => g.fingerprint).sort()).toEqual(['fpT', 'fpU']);
        expect((await reader.groups({ status: 'ignored', query: 'type:Error' })).groups.map((g) => g.fingerprint)).toEqual(['fpU']);
        await expect(reader.groups({ status: 'closed' as 'open' })).rejects.toMatchObject({ code: 'ERR_ELMAH_QUERY', status: 400 });
        // After the resolution (an occurrence from before it would not reopen the group).
        const back = makeMessage({
          log: 'shop',
          fingerprint: 'fpT',
          version: '2.0.1',
          dateTime: new Date(Date.now() + 1000).toISOString(),
        });
        expect(await writer.append([back])).toEqual([{ id: back.id, status: 'created', group: 'regressed' }]);
        expect((await reader.group('shop', 'fpT'))?.state).toMatchObject({ status: 'open', regressed: true, regressedIn: '2.0.1' });
        expect(await h.store.group('shop', 'fpT')).toEqual(await reader.group('shop', 'fpT'));
      });

      it("refuses without groups_write (a leaked app key cannot hide errors), outside the key's logs, and an invalid change", async () => {
        await h.store.append([makeMessage({ log: 'shop', fingerprint: 'fpT' }), makeMessage({ log: 'billing', fingerprint: 'fpB' })]);
        const change = { fingerprints: ['fpT'], status: 'ignored' };
        for (const permissions of [['messages_write'], ['messages_read', 'messages_delete', 'logs_read']] as Permission[][]) {
          await expect((await client(permissions)).setGroupState('shop', change)).rejects.toMatchObject({
            code: 'ERR_ELMAH_PERMISSION',
            status: 403,
          });
        }
        const scoped = await client(['groups_write'], ['shop']);
        await expect(scoped.setGroupState('billing', { fingerprints: ['fpB'], status: 'ignored' })).rejects.toMatchObject({
          code: 'ERR_ELMAH_PERMISSION',
        });
        await expect(scoped.setGroupState('shop', { fingerprints: ['fpT'], status: 'fixed' })).rejects.toMatchObject({
          code: 'ERR_ELMAH_INVALID_STATE',
          status: 400,
        });
        await expect(scoped.setGroupState('shop', { fingerprints: [], status: 'open' })).rejects.toMatchObject({
          code: 'ERR_ELMAH_INVALID_STATE',
        });
        expect((await h.store.groups({})).groups.map((g) => g.state.status)).toEqual(['open', 'open']);
      });
    });

    describe('deployments', () => {
      const client = async (permissions: Permission[], logs: string[] = []): Promise<LogClient> =>
        (await clientWith(permissions, logs)) as LogClient;

      it('a deployments_write key records a deployment; a retry with its id is a duplicate; a reader lists them newest first', async () => {
        const ci = await client(['deployments_write']);
        const first = await ci.deploy({
          version: '1.4.0',
          description: 'Checkout fix',
          userName: 'ci',
          logId: 'shop',
          created: '2026-06-01T00:00:00.000Z',
        });
        expect(first.status).toBe('created');
        expect(first.deployment).toMatchObject({
          version: '1.4.0',
          description: 'Checkout fix',
          userName: 'ci',
          log: 'shop',
          created: '2026-06-01T00:00:00.000Z',
        });
        expect((await ci.deploy({ id: first.deployment.id, version: '1.4.0', logId: 'shop' })).status).toBe('duplicate');
        await ci.deploy({ version: '1.5.0', created: '2026-06-02T00:00:00.000Z' });
        const reader = await client(['deployments_read']);
        expect((await reader.deployments()).map((d) => d.version)).toEqual(['1.5.0', '1.4.0']);
        expect((await reader.deployments({ log: 'billing', size: 5 })).map((d) => d.version)).toEqual(['1.5.0']);
        expect(await h.store.deployments()).toEqual(await reader.deployments());
      });

      it("refuses without the permission, outside the key's logs, and an invalid deployment (nothing stored)", async () => {
        await expect((await client(['messages_write'])).deploy({ version: '1' })).rejects.toMatchObject({
          code: 'ERR_ELMAH_PERMISSION',
          status: 403,
        });
        await expect((await client(['deployments_write'])).deployments()).rejects.toMatchObject({ code: 'ERR_ELMAH_PERMISSION' });
        const scoped = await client(['deployments_write', 'deployments_read'], ['shop']);
        await expect(scoped.deploy({ version: '1', logId: 'billing' })).rejects.toMatchObject({ code: 'ERR_ELMAH_PERMISSION' });
        await expect(scoped.deploy({ version: '1' })).rejects.toMatchObject({ code: 'ERR_ELMAH_PERMISSION' });
        await expect(scoped.deployments({ log: 'billing' })).rejects.toMatchObject({ code: 'ERR_ELMAH_PERMISSION' });
        const invalid = await scoped.deploy({ version: '', logId: 'shop' }).then(
          () => undefined,
          (e: { code?: string; status?: number; details?: unknown }) => e,
        );
        expect(invalid).toMatchObject({ code: 'ERR_ELMAH_INVALID_DEPLOYMENT', status: 400 });
        expect(await h.store.deployments()).toEqual([]);
        expect((await scoped.deploy({ version: '2', logId: 'shop' })).status).toBe('created');
        expect((await scoped.deployments()).map((d) => d.version)).toEqual(['2']);
      });
    });
  });
}
