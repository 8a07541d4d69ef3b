// ViewerClients: the viewer's own client, and the per-key clients of signed-in and key-header visitors,
// cached per key, bounded, forgotten on request and closed with the viewer.
import type { OpenedLog } from '../../src/client/open-log';
import { LocalLogClient } from '../../src/client/local';
import type { LogClient } from '../../src/client/types';
import { MemoryStore } from '../../src/stores/memory';
import { ViewerClients } from '../../src/viewer/clients';
import { withKeys } from '../helpers/keys';

/** A log that hands out fake clients and records what was opened and closed. */
function fakeLog(kind: OpenedLog['kind'] = 'local') {
  const opened: string[] = [];
  const closed: string[] = [];
  const state = { logClosed: false };
  const log: Pick<OpenedLog, 'kind' | 'client' | 'close'> = {
    kind,
    client: async (key) => {
      opened.push(String(key));
      return { key, close: async () => void closed.push(String(key)) } as unknown as LogClient;
    },
    close: async () => void (state.logClosed = true),
  };
  return { log, opened, closed, state };
}

describe('ViewerClients', () => {
  it('keeps one client per key', async () => {
    const f = fakeLog();
    const clients = new ViewerClients(f.log, {} as LogClient);
    const a = await clients.forKey('key-a');
    expect(await clients.forKey('key-a')).toBe(a);
    expect(await clients.forKey('key-b')).not.toBe(a);
    expect(f.opened).toEqual(['key-a', 'key-b']);
  });

  it('closes the oldest client when the cache is full, and opens it again when asked', async () => {
    const f = fakeLog();
    const clients = new ViewerClients(f.log, {} as LogClient, 2);
    await clients.forKey('a');
    await clients.forKey('b');
    await clients.forKey('c');
    await new Promise((r) => setImmediate(r));
    expect(f.closed).toEqual(['a']);
    await clients.forKey('b');
    await clients.forKey('a');
    expect(f.opened).toEqual(['a', 'b', 'c', 'a']);
  });

  it('forgets the client of a key that stopped working', async () => {
    const f = fakeLog();
    const clients = new ViewerClients(f.log, {} as LogClient);
    const first = await clients.forKey('k');
    clients.forget('k');
    clients.forget(undefined);
    expect(await clients.forKey('k')).not.toBe(first);
    expect(f.opened).toEqual(['k', 'k']);
  });

  it('closes every key client and then the log', async () => {
    const f = fakeLog();
    const clients = new ViewerClients(f.log, {} as LogClient);
    await clients.forKey('a');
    await clients.forKey('b');
    await clients.close();
    expect(f.closed).toEqual(['a', 'b']);
    expect(f.state.logClosed).toBe(true);
    await clients.forKey('a');
    expect(f.opened).toEqual(['a', 'b', 'a']);
  });

  it('has no clients for other keys when the viewer was given a LogClient', async () => {
    const f = fakeLog('client');
    const clients = new ViewerClients(f.log, {} as LogClient);
    expect(await clients.forKey('k')).toBeUndefined();
    expect(f.opened).toEqual([]);
  });

  it("opens its own and other keys' clients over one store", async () => {
    const { store, keys } = await withKeys();
    const clients = await ViewerClients.open(store, keys.read);
    expect((await clients.main.whoami()).permissions).toEqual(['messages_read']);
    const del = await clients.forKey(keys.del);
    expect((await del!.whoami()).permissions).toEqual(['messages_read', 'messages_delete']);
    await clients.close();
    // A Store passed in stays open.
    await expect(store.logs()).resolves.toEqual([]);
    const given = await ViewerClients.open(new LocalLogClient(new MemoryStore(), keys.read), undefined);
    expect(await given.forKey(keys.del)).toBeUndefined();
  });
});
