// SignedInSessions: a sign-in becomes a sealed cookie; a session is refused once signed out here or, as the
// store says, on another instance or before a restart; a session found open is trusted for 5 seconds.
import { SessionCodec } from '../../src/viewer/session';
import { SignedInSessions } from '../../src/viewer/signed-in';
import { mockNow } from '../helpers/clock';

/** The store's side of sign-outs, shared like a store shared by several instances. */
function sharedSignOuts() {
  const ended = new Map<string, string>();
  let asked = 0;
  const client = {
    sessionEnded: async (sid: string) => {
      asked++;
      return ended.has(sid);
    },
    endSession: async (sid: string, expires: string) => void ended.set(sid, expires),
  };
  return { client, ended, asked: () => asked };
}

const KEY = 'elmah_abcdefgh_' + 'k'.repeat(43);
const SECRET = 'x'.repeat(32);

describe('SignedInSessions', () => {
  const clock = mockNow();

  it('opens the session of a cookie it started, and nothing else', async () => {
    const store = sharedSignOuts();
    const sessions = new SignedInSessions(new SessionCodec(SECRET), store.client);
    const cookie = sessions.start(KEY, 60_000);
    expect(cookie).not.toContain('abcdefgh');
    expect(await sessions.open(cookie)).toMatchObject({ key: KEY, exp: clock.now + 60_000 });
    expect(await sessions.open(undefined)).toBeUndefined();
    expect(await sessions.open('forged.value')).toBeUndefined();
    clock.now += 60_000;
    expect(await sessions.open(cookie)).toBeUndefined();
  });

  it('asks the store at most every 5 seconds whether a session was signed out', async () => {
    const store = sharedSignOuts();
    const sessions = new SignedInSessions(new SessionCodec(SECRET), store.client);
    const cookie = sessions.start(KEY, 3_600_000);
    await sessions.open(cookie);
    clock.now += 4999;
    await sessions.open(cookie);
    expect(store.asked()).toBe(1);
    clock.now += 1;
    await sessions.open(cookie);
    expect(store.asked()).toBe(2);
  });

  it('ends a session here and in the store, so another instance refuses it too', async () => {
    const store = sharedSignOuts();
    const codec = new SessionCodec(SECRET);
    const here = new SignedInSessions(codec, store.client);
    const there = new SignedInSessions(codec, store.client);
    const cookie = here.start(KEY, 3_600_000);
    const session = (await here.open(cookie))!;
    expect(await there.open(cookie)).toBeDefined();
    await here.end(session);
    expect([...store.ended]).toEqual([[session.sid, new Date(session.exp).toISOString()]]);
    expect(await here.open(cookie)).toBeUndefined();
    // The other instance trusted it a moment ago; it learns of the sign-out at its next check.
    clock.now += 5000;
    expect(await there.open(cookie)).toBeUndefined();
  });

  it('refuses a session the store says was signed out before a restart', async () => {
    const store = sharedSignOuts();
    const before = new SignedInSessions(new SessionCodec(SECRET), store.client);
    const cookie = before.start(KEY, 3_600_000);
    await before.end((await before.open(cookie))!);
    const after = new SignedInSessions(new SessionCodec(SECRET), store.client);
    expect(await after.open(cookie)).toBeUndefined();
    expect(await after.open(cookie)).toBeUndefined();
    // Once refused, it is refused in memory without asking the store again.
    expect(store.asked()).toBe(2);
  });
});
