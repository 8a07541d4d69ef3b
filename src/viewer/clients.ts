// The viewer's clients over the one log openLog() opens from its `store` option: the client of the viewer's
// own key, and a client per signed-in or key-header key, cached and bounded.
import { openLog, type OpenedLog, type StoreOption } from '../client/open-log.js';
import type { LogClient } from '../client/types.js';

/** Most clients kept for signed-in and header keys. */
const MAX_KEY_CLIENTS = 200;

/** Where the viewer gets its clients: the one for its own key, and one per signed-in or header key. */
export class ViewerClients {
  private readonly byKey = new Map<string, LogClient>();

  /** Opens the viewer's log (the store once: every client shares it) and the client of the viewer's key. */
  static async open(store: StoreOption | undefined, key: string | undefined): Promise<ViewerClients> {
    const log = openLog(store, { face: 'errorViewer()' });
    return new ViewerClients(log, await log.client(key));
  }

  constructor(
    private readonly log: Pick<OpenedLog, 'kind' | 'client' | 'close'>,
    /** The client of the viewer's own key. */
    readonly main: LogClient,
    private readonly maxKeys = MAX_KEY_CLIENTS,
  ) {}

  /**
   * A client for a signed-in or header key, cached by key (the oldest is closed when the cache is full);
   * undefined when the viewer was given a LogClient, which acts with its own key only.
   */
  async forKey(key: string): Promise<LogClient | undefined> {
    if (this.log.kind === 'client') return undefined;
    const hit = this.byKey.get(key);
    if (hit) return hit;
    const c = await this.log.client(key);
    if (this.byKey.size >= this.maxKeys) {
      const [oldestKey, oldest] = this.byKey.entries().next().value as [string, LogClient];
      this.byKey.delete(oldestKey);
      void oldest.close().catch(() => undefined);
    }
    this.byKey.set(key, c);
    return c;
  }

  /** Drops the client of a key that stopped working. */
  forget(key: string | undefined): void {
    if (key !== undefined) this.byKey.delete(key);
  }

  /** Closes every client, and the store when the viewer opened it. */
  async close(): Promise<void> {
    for (const c of this.byKey.values()) await c.close().catch(() => undefined);
    this.byKey.clear();
    await this.log.close();
  }
}
