// A store with one key of each useful kind, for client, capture, viewer and collector tests.
import { createKey } from '../../src/model/keys';
import type { Permission } from '../../src/model/permissions';
import { MemoryStore } from '../../src/stores/memory';
import type { Store } from '../../src/stores/types';

/** Keys made by {@link withKeys}. */
export interface TestKeys {
  write: string;
  read: string;
  del: string;
  admin: string;
}

/** Adds a key with the given permissions to a store and returns the key string. */
export async function addKey(
  store: Store,
  permissions: Permission[],
  extra: { name?: string; logs?: string[]; expires?: string } = {},
): Promise<string> {
  const { key, record } = createKey({
    name: extra.name ?? permissions.join('+'),
    permissions,
    logs: extra.logs ?? [],
    expires: extra.expires,
  });
  await store.putKey(record);
  return key;
}

/** A store (memory unless given) with a write-only key, a read key, a read+delete key and an all-permissions key. */
export async function withKeys<S extends Store = MemoryStore>(store?: S): Promise<{ store: S; keys: TestKeys }> {
  const s = (store ?? new MemoryStore()) as S;
  const keys: TestKeys = {
    write: await addKey(s, ['messages_write']),
    read: await addKey(s, ['messages_read']),
    del: await addKey(s, ['messages_read', 'messages_delete']),
    admin: await addKey(s, ['messages_write', 'messages_read', 'messages_delete', 'logs_read']),
  };
  return { store: s, keys };
}
