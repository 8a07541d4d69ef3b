// The sessions of access 'key': a sign-in becomes a sealed cookie, and a sign-out is kept in the store, so a
// copied cookie stops working here, on every instance that shares the store, and after a restart.
import type { LogClient } from '../client/types.js';
import type { SessionCodec, SessionData } from './session.js';

/** How long a session found open is trusted before the store is asked again whether it was signed out. */
const SESSION_CHECK_MS = 5000;
/** Most sessions remembered as open; past that the memory starts over (the store is asked again). */
const MAX_CHECKED = 10_000;

/** Starts, opens and ends the sessions of signed-in visitors. */
export class SignedInSessions {
  /** Sessions found open in the store, and when: sid → ms. */
  private readonly checked = new Map<string, number>();

  constructor(
    private readonly codec: SessionCodec,
    /** The viewer's own client, which records and answers sign-outs. */
    private readonly client: Pick<LogClient, 'sessionEnded' | 'endSession'>,
  ) {}

  /** A new session for `key`, valid for `ttlMs`: the value of its cookie. */
  start(key: string, ttlMs: number): string {
    return this.codec.seal(key, ttlMs).value;
  }

  /**
   * The session of a request's cookie, or undefined when there is none, it is forged or expired, or it was
   * signed out — here, on another instance sharing the store, or before a restart. A session found open is
   * trusted for a few seconds before the store is asked again.
   */
  async open(cookie: string | undefined): Promise<SessionData | undefined> {
    const session = this.codec.open(cookie);
    if (!session) return undefined;
    const now = Date.now();
    const seen = this.checked.get(session.sid);
    if (seen !== undefined && now - seen < SESSION_CHECK_MS) return session;
    if (await this.client.sessionEnded(session.sid)) {
      this.codec.end(session);
      return undefined;
    }
    if (this.checked.size >= MAX_CHECKED) this.checked.clear();
    this.checked.set(session.sid, now);
    return session;
  }

  /** Ends a session for good: in this process at once, and in the store for every instance. */
  async end(session: SessionData): Promise<void> {
    this.codec.end(session);
    this.checked.delete(session.sid);
    await this.client.endSession(session.sid, new Date(session.exp).toISOString());
  }
}
