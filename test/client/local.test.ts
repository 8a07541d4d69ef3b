// LocalLogClient: every call checks the key — missing, malformed, unknown, revoked, expired, permission and log scope.
import { LocalLogClient } from '../../src/client/local';
import { createKey } from '../../src/model/keys';
import { MemoryStore } from '../../src/stores/memory';
import { addKey, withKeys } from '../helpers/keys';
import { makeMessage } from '../helpers/messages';

const input = { title: 'boom', type: 'Error', statusCode: 500 };

describe('LocalLogClient', () => {
  it('lets a write-only key append but not read', async () => {
    const { store, keys } = await withKeys();
    const client = new LocalLogClient(store, keys.write, { keyCacheMs: 0 });
    const [result] = await client.append([input]);
    expect(result).toMatchObject({ status: 'created' });
    expect((await store.search({})).total).toBe(1);
    await expect(client.search()).rejects.toMatchObject({ code: 'ERR_ELMAH_PERMISSION', status: 403 });
    await expect(client.get('default', (result as { id: string }).id)).rejects.toMatchObject({ code: 'ERR_ELMAH_PERMISSION' });
    await expect(client.logs()).rejects.toMatchObject({ code: 'ERR_ELMAH_PERMISSION' });
    await expect(client.delete('default', { ids: ['x'] })).rejects.toMatchObject({ code: 'ERR_ELMAH_PERMISSION' });
  });

  it('names the permission needed and the ones the key has', async () => {
    const { store, keys } = await withKeys();
    const client = new LocalLogClient(store, keys.write);
    await expect(client.search()).rejects.toThrow(/lacks messages_read; it has messages_write/);
  });

  it('lets a read key search and get but not append or delete', async () => {
    const { store, keys } = await withKeys();
    const m = makeMessage();
    await store.append([m]);
    const client = new LocalLogClient(store, keys.read);
    expect((await client.search()).messages.map((x) => x.id)).toEqual([m.id]);
    expect((await client.get('default', m.id)).title).toBe(m.title);
    expect((await client.logs()).map((l) => l.name)).toEqual(['default']);
    await expect(client.append([input])).rejects.toMatchObject({ code: 'ERR_ELMAH_PERMISSION' });
    await expect(client.delete('default', { ids: [m.id] })).rejects.toMatchObject({ code: 'ERR_ELMAH_PERMISSION' });
    expect((await store.search({})).total).toBe(1);
  });

  it('deletes only with messages_delete', async () => {
    const { store, keys } = await withKeys();
    const [a, b] = [makeMessage({ statusCode: 404 }), makeMessage({ statusCode: 500 })];
    await store.append([a!, b!]);
    const client = new LocalLogClient(store, keys.del);
    expect(await client.delete('default', { query: 'statusCode:404' })).toBe(1);
    expect((await store.search({})).messages.map((m) => m.id)).toEqual([b!.id]);
  });

  it.each([
    ['missing', undefined, 'ERR_ELMAH_KEY_MISSING'],
    ['empty', '', 'ERR_ELMAH_KEY_MISSING'],
    ['malformed', 'elmah_nope', 'ERR_ELMAH_KEY_INVALID'],
    ['unknown', createKey({ name: 'x' }).key, 'ERR_ELMAH_KEY_INVALID'],
  ])('refuses a %s key with %s (401)', async (_what, key, code) => {
    const { store } = await withKeys();
    const client = new LocalLogClient(store, key);
    await expect(client.whoami()).rejects.toMatchObject({ code, status: 401 });
    await expect(client.append([input])).rejects.toMatchObject({ code });
    expect((await store.search({})).total).toBe(0);
  });

  it('refuses a key whose secret does not match its id', async () => {
    const { store, keys } = await withKeys();
    const forged = keys.write.slice(0, 15) + 'A'.repeat(43);
    await expect(new LocalLogClient(store, forged).whoami()).rejects.toMatchObject({ code: 'ERR_ELMAH_KEY_INVALID' });
  });

  it('refuses a revoked key on the next call', async () => {
    const { store, keys } = await withKeys();
    const client = new LocalLogClient(store, keys.write, { keyCacheMs: 0 });
    await client.append([input]);
    await store.revokeKey(keys.write.slice(6, 14));
    await expect(client.append([input])).rejects.toMatchObject({ code: 'ERR_ELMAH_KEY_INVALID', message: expect.stringMatching(/revoked/) });
    expect((await store.search({})).total).toBe(1);
  });

  it('refuses an expired key', async () => {
    const store = new MemoryStore();
    const key = await addKey(store, ['messages_read'], { expires: '2026-01-01T00:00:00.000Z' });
    const client = new LocalLogClient(store, key, { now: () => new Date('2026-01-02T00:00:00.000Z') });
    await expect(client.whoami()).rejects.toMatchObject({ code: 'ERR_ELMAH_KEY_INVALID', message: expect.stringMatching(/expired/) });
    const early = new LocalLogClient(store, key, { now: () => new Date('2025-12-31T00:00:00.000Z') });
    expect((await early.whoami()).expires).toBe('2026-01-01T00:00:00.000Z');
  });

  it('keeps a log-scoped key to its logs', async () => {
    const store = new MemoryStore();
    const writer = new LocalLogClient(store, await addKey(store, ['messages_write'], { logs: ['shop'] }));
    expect(await writer.append([input], 'shop')).toEqual([expect.objectContaining({ status: 'created' })]);
    await expect(writer.append([input], 'billing')).rejects.toMatchObject({ code: 'ERR_ELMAH_PERMISSION', status: 403 });
    await store.append([makeMessage({ log: 'billing' }), makeMessage({ log: 'shop' })]);
    const reader = new LocalLogClient(store, await addKey(store, ['messages_read'], { logs: ['shop'] }));
    const all = await reader.search();
    expect(new Set(all.messages.map((m) => m.log))).toEqual(new Set(['shop']));
    await expect(reader.search({ log: 'billing' })).rejects.toMatchObject({ code: 'ERR_ELMAH_PERMISSION' });
    expect((await reader.logs()).map((l) => l.name)).toEqual(['shop']);
  });

  it('tells whoami without the secret or hash', async () => {
    const { store, keys } = await withKeys();
    const info = await new LocalLogClient(store, keys.read).whoami();
    expect(info).toEqual({ id: keys.read.slice(6, 14), name: 'messages_read', permissions: ['messages_read'], logs: [] });
    expect(JSON.stringify(info)).not.toContain(keys.read.slice(15));
  });

  it('validates each message on its own and stores the valid ones', async () => {
    const { store, keys } = await withKeys();
    const client = new LocalLogClient(store, keys.write);
    const results = await client.append([input, { title: 42 }, null, { ...input, severity: 'bogus' }]);
    expect(results.map((r) => r.status)).toEqual(['created', 'rejected', 'rejected', 'rejected']);
    expect(results[1]).toMatchObject({ error: { code: 'ERR_ELMAH_INVALID_MESSAGE', details: [{ field: 'title', problem: 'expected a string, got number' }] } });
    expect((await store.search({})).total).toBe(1);
  });

  it('turns a bad query into ERR_ELMAH_QUERY', async () => {
    const { store, keys } = await withKeys();
    await expect(new LocalLogClient(store, keys.read).search({ query: '(' })).rejects.toMatchObject({ code: 'ERR_ELMAH_QUERY', status: 400 });
  });
});
