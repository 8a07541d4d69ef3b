// LocalLogClient's own key checks — malformed, forged, revoked, expired — and its refusal messages. What every
// client does alike (permissions, log scope, reads and writes) is in the conformance suite (clients.test.ts).
import { LocalLogClient } from '../../src/client/local';
import { createKey } from '../../src/model/keys';
import { MemoryStore } from '../../src/stores/memory';
import { addKey, withKeys } from '../helpers/keys';

const input = { title: 'boom', type: 'Error', statusCode: 500 };

describe('LocalLogClient', () => {
  it('names the permission needed and the ones the key has', async () => {
    const { store, keys } = await withKeys();
    const client = new LocalLogClient(store, keys.write);
    await expect(client.search()).rejects.toThrow(/lacks messages_read; it has messages_write/);
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
    await expect(client.append([input])).rejects.toMatchObject({
      code: 'ERR_ELMAH_KEY_INVALID',
      message: expect.stringMatching(/revoked/),
    });
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
});
