// errorViewer({ store: 'http://…' }) browsing a collector through RemoteLogClient: its start-up gate and its pages.
import express from 'express';
import request from 'supertest';
import { errorViewer, type ErrorViewer } from '../../src/viewer';
import { makeMessage } from '../helpers/messages';
import { startCollector, type RunningCollector } from '../helpers/collector';

describe('errorViewer over a collector', () => {
  let ctx: RunningCollector;
  let viewer: ErrorViewer | undefined;
  beforeEach(async () => {
    ctx = await startCollector();
  });
  afterEach(async () => {
    await viewer?.close();
    viewer = undefined;
    await ctx.close();
  });

  it('refuses to start with a write-only key (asked through GET /v3/keys/current), and with an unknown one', async () => {
    await expect(errorViewer({ store: ctx.url, key: ctx.keys.write })).rejects.toMatchObject({ code: 'ERR_ELMAH_PERMISSION' });
    await expect(errorViewer({ store: ctx.url, key: `elmah_aaaaaaaa_${'A'.repeat(43)}` })).rejects.toMatchObject({
      code: 'ERR_ELMAH_KEY_INVALID',
      status: 401,
    });
  });

  it('lists, groups, charts, shows and exports messages held by the collector', async () => {
    const ms = [
      makeMessage({ log: 'shop', title: 'Order 1 failed', dateTime: new Date(Date.now() - 3_600_000).toISOString() }),
      makeMessage({ log: 'shop', title: 'Order 2 failed', dateTime: new Date(Date.now() - 1_800_000).toISOString() }),
      makeMessage({ log: 'billing', title: 'Invoice failed', type: 'TypeError', dateTime: new Date(Date.now() - 600_000).toISOString() }),
    ];
    await ctx.store.append(ms);
    viewer = await errorViewer({ store: ctx.url, key: ctx.keys.del });
    const app = express();
    app.use('/elmah.axd', viewer);

    const list = await request(app).get('/elmah.axd/');
    expect(list.status).toBe(200);
    for (const m of ms) expect(list.text).toContain(m.title);

    const filtered = await request(app).get('/elmah.axd/?log=billing');
    expect(filtered.text).toContain('Invoice failed');
    expect(filtered.text).not.toContain('Order 1 failed');

    const groups = await request(app).get('/elmah.axd/?view=groups');
    expect(groups.status).toBe(200);
    expect(groups.text).toContain('Invoice failed');

    const chart = await request(app).get('/elmah.axd/chart.svg');
    expect(chart.status).toBe(200);
    expect(chart.headers['content-type']).toMatch(/svg/);

    const detail = await request(app).get(`/elmah.axd/detail/${ms[1]!.id}`);
    expect(detail.status).toBe(200);
    expect(detail.text).toContain('Order 2 failed');
    expect(detail.text).toContain(ms[0]!.id);

    const json = await request(app).get(`/elmah.axd/json/${ms[2]!.id}`);
    expect(json.status).toBe(200);
    expect(JSON.parse(json.text)).toMatchObject({ id: ms[2]!.id, title: 'Invoice failed' });

    const csv = await request(app).get('/elmah.axd/download');
    expect(csv.status).toBe(200);
    expect(csv.text.split('\n').filter((l) => l.trim()).length).toBeGreaterThanOrEqual(4);

    const missing = await request(app).get('/elmah.axd/detail/NOPE');
    expect(missing.status).toBe(404);
  });
});
