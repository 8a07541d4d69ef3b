// connect(): the client a face gets from a Store, a store URL, a collector URL or a ready LogClient.
import { connect } from '../../src/client/connect';
import { LocalLogClient } from '../../src/client/local';
import { startCollector } from '../helpers/collector';
import { withKeys } from '../helpers/keys';

describe('connect', () => {
  it('wraps a Store, opens memory:, and rejects unknown URLs', async () => {
    const { store, keys } = await withKeys();
    const client = await connect({ store, key: keys.read });
    expect(client.describe()).toEqual({ kind: 'memory', location: 'memory:' });
    const opened = await connect({ store: 'memory:', key: keys.read });
    await expect(opened.whoami()).rejects.toMatchObject({ code: 'ERR_ELMAH_KEY_INVALID' });
    await opened.close();
    await expect(connect({ store: 'redis://x' })).rejects.toMatchObject({ code: 'ERR_ELMAH_STORE_URL' });
    await expect(connect({ store: 42 as never })).rejects.toMatchObject({ code: 'ERR_ELMAH_OPTION_TYPE' });
  });

  it('returns a LogClient given as the store unchanged', async () => {
    const { store, keys } = await withKeys();
    const client = new LocalLogClient(store, keys.read);
    expect(await connect({ store: client })).toBe(client);
  });

  it('makes a remote client from an http URL; closing it is final', async () => {
    const running = await startCollector();
    try {
      const client = await connect({ store: running.url, key: running.keys.read });
      expect(client.kind).toBe('remote');
      expect((await client.whoami()).permissions).toEqual(['messages_read']);
      await client.close();
      await expect(client.whoami()).rejects.toMatchObject({ code: 'ERR_ELMAH_STORE_CLOSED' });
    } finally {
      await running.close();
    }
  });
});
