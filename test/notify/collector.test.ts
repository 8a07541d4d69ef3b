// Alerts at the collector: several apps ship to one collector, which alerts once per new group (the apps
// send none); counted-only occurrences (_tally) that make a group alert too; close() sends what is waiting.
import request from 'supertest';
import { errorLogger } from '../../src/capture/logger';
import type { Notification } from '../../src/notify/types';
import { createApp } from '../helpers/app';
import { closeLoggers, trackLogger } from '../helpers/capture';
import { startCollector, type RunningCollector } from '../helpers/collector';

let running: RunningCollector | undefined;
afterEach(async () => {
  await closeLoggers();
  await running?.router.close();
  await running?.close();
  running = undefined;
});

function failing(fn: () => never) {
  return fn;
}
const chargeCard = failing(() => {
  throw new Error('card declined');
});
const loadOrder = failing(() => {
  throw new TypeError('order is undefined');
});

describe('collector({ notify })', () => {
  it('alerts once per new group for every app that ships to it; the apps alert nothing', async () => {
    const got: Notification[] = [];
    running = await startCollector({
      notify: { handler: (n) => void got.push(n), digestSeconds: 0, baseUrl: 'https://ops.example/elmah.axd' },
    });
    const apps = [0, 1].map(() => {
      const logger = trackLogger(errorLogger({ store: running!.url, key: running!.keys.write, log: 'shop', onError: () => undefined }));
      let n = 0;
      const app = createApp({
        logger,
        value: () => {
          try {
            (n++ % 2 === 0 ? chargeCard : loadOrder)();
          } catch (err) {
            return err;
          }
          return undefined;
        },
      });
      return { logger, app };
    });
    for (let round = 0; round < 3; round++) {
      for (const { app } of apps) await request(app).get('/value').expect(500);
    }
    for (const { logger } of apps) {
      expect(await logger.flush(10_000)).toBe(true);
      expect(logger.stats().alerts).toBeUndefined();
    }
    await running.router.close();
    const alerts = got.flatMap((n) => n.alerts);
    expect(alerts.map((a) => a.title).sort()).toEqual(['card declined', 'order is undefined']);
    expect(alerts.every((a) => a.kind === 'new' && a.log === 'shop')).toBe(true);
    expect(alerts[0]!.link).toMatch(/^https:\/\/ops\.example\/elmah\.axd\/detail\/[0-9A-Z]+\?log=shop$/);
  });

  it('alerts on a group made by a tally, and on one message posted alone', async () => {
    const minute = new Date(Math.floor(Date.now() / 60_000) * 60_000).toISOString();
    const got: Notification[] = [];
    running = await startCollector({ notify: { handler: (n) => void got.push(n), digestSeconds: 0 } });
    await request(running.app)
      .post('/v3/messages/shop/_tally')
      .set('api_key', running.keys.write)
      .send([
        {
          id: '01JTALLY00000000000000000A',
          fingerprint: 'f'.repeat(16),
          count: 40,
          firstSeen: minute,
          lastSeen: minute,
          title: 'storm of errors',
          type: 'Error',
          minutes: [[minute, 40]],
        },
      ])
      .expect(200);
    await request(running.app)
      .post('/v3/messages/shop')
      .set('api_key', running.keys.write)
      .send({ title: 'posted alone', type: 'RangeError', detail: 'RangeError: posted alone\n    at x (/app/a.js:1:1)' })
      .expect(201);
    await running.router.close();
    expect(
      got
        .flatMap((n) => n.alerts)
        .map((a) => [a.kind, a.title])
        .sort(),
    ).toEqual([
      ['new', 'posted alone'],
      ['new', 'storm of errors'],
    ]);
  });
});
