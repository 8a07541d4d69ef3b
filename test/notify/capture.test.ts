// Alerts on the capture path: groups first seen in occurrences that were only counted (a storm filled the
// queue) alert too, through the tally the logger writes; the shipper's counters are untouched by alerts.
import type { Notification } from '../../src/notify/types';
import { closeLoggers, createMemoryLogger } from '../helpers/capture';

afterEach(closeLoggers);

describe('errorLogger({ notify }) in a storm', () => {
  it('alerts on every new group, kept in full or counted only', async () => {
    const got: Notification[] = [];
    const { logger, errors } = await createMemoryLogger({
      queueSize: 1,
      batchSize: 1,
      notify: { handler: (n) => void got.push(n), digestSeconds: 0 },
    });
    await logger.ready;
    const kinds = ['Alpha', 'Beta', 'Gamma', 'Delta', 'Epsilon', 'Zeta'];
    for (const name of kinds) {
      const err = new Error(`${name} failed`);
      err.name = `${name}Error`;
      logger.raise(err);
    }
    expect(await logger.flush(10_000)).toBe(true);
    const stats = logger.stats();
    expect(stats.kept + stats.counted).toBe(kinds.length);
    expect(stats.counted).toBeGreaterThan(0);
    const alerts = got.flatMap((n) => n.alerts);
    expect(alerts.map((a) => a.type).sort()).toEqual(kinds.map((k) => `${k}Error`).sort());
    expect(alerts.every((a) => a.kind === 'new')).toBe(true);
    // Counted-only groups have no message to link to; kept ones do.
    expect(alerts.filter((a) => a.id === undefined)).toHaveLength(stats.counted);
    expect(errors.filter((e) => e.code.startsWith('ERR_ELMAH_NOTIFY'))).toEqual([]);
  });
});
