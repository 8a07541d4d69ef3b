// ViewerCaches: histogram counts reused for 30 s and log lists for 5 s, per client; failures not kept; all
// dropped after a delete, so the chart counts again at once.
import type { ClientHistogramOptions, HistogramResult, LogClient, LogSummary } from '../../src/client/types';
import request from 'supertest';
import { ViewerCaches } from '../../src/viewer/caches';
import { mockNow } from '../helpers/clock';
import { createViewerApp, csrfOf, svg } from '../helpers/viewer-app';

/** A client whose logs() and histogram() answer a running count, so a reused answer shows. */
function countingClient() {
  const calls = { logs: 0, histogram: 0 };
  let failNext = false;
  const client = {
    logs: async (): Promise<LogSummary[]> => [{ name: `call-${++calls.logs}` } as LogSummary],
    histogram: async (o: ClientHistogramOptions): Promise<HistogramResult> => {
      calls.histogram++;
      if (failNext) {
        failNext = false;
        throw new Error('store busy');
      }
      return { from: o.from, to: o.to, bucketMs: 1, counts: [calls.histogram] };
    },
  } as unknown as LogClient;
  return { client, calls, failOnce: () => void (failNext = true) };
}

const WINDOW: ClientHistogramOptions = { from: '2026-01-01T00:00:00.000Z', to: '2026-01-02T00:00:00.000Z', buckets: 24 };

describe('ViewerCaches', () => {
  const clock = mockNow();

  it("reuses a client's log list for 5 seconds", async () => {
    const caches = new ViewerCaches();
    const { client } = countingClient();
    expect((await caches.logsOf(client))[0]!.name).toBe('call-1');
    clock.now += 4999;
    expect((await caches.logsOf(client))[0]!.name).toBe('call-1');
    clock.now += 1;
    expect((await caches.logsOf(client))[0]!.name).toBe('call-2');
  });

  it('keeps log lists apart per client', async () => {
    const caches = new ViewerCaches();
    const a = countingClient();
    const b = countingClient();
    await caches.logsOf(a.client);
    await caches.logsOf(b.client);
    expect([a.calls.logs, b.calls.logs]).toEqual([1, 1]);
  });

  it('reuses histogram counts for 30 seconds per client and window', async () => {
    const caches = new ViewerCaches();
    const a = countingClient();
    const b = countingClient();
    expect((await caches.histogram(a.client, WINDOW)).counts).toEqual([1]);
    clock.now += 29_999;
    expect((await caches.histogram(a.client, WINDOW)).counts).toEqual([1]);
    expect((await caches.histogram(a.client, { ...WINDOW, query: 'type:TypeError' })).counts).toEqual([2]);
    expect((await caches.histogram(b.client, WINDOW)).counts).toEqual([1]);
    clock.now += 1;
    expect((await caches.histogram(a.client, WINDOW)).counts).toEqual([3]);
  });

  it('does not keep a failed histogram', async () => {
    const caches = new ViewerCaches();
    const a = countingClient();
    a.failOnce();
    await expect(caches.histogram(a.client, WINDOW)).rejects.toThrow('store busy');
    expect((await caches.histogram(a.client, WINDOW)).counts).toEqual([2]);
  });

  it('forgets every histogram and log list when invalidated', async () => {
    const caches = new ViewerCaches();
    const a = countingClient();
    const b = countingClient();
    await caches.histogram(a.client, WINDOW);
    await caches.logsOf(a.client);
    await caches.logsOf(b.client);
    caches.invalidate();
    expect((await caches.histogram(a.client, WINDOW)).counts).toEqual([2]);
    expect((await caches.logsOf(a.client))[0]!.name).toBe('call-2');
    expect((await caches.logsOf(b.client))[0]!.name).toBe('call-2');
  });

  it('keeps a log list read across an invalidation out of the cache', async () => {
    const caches = new ViewerCaches();
    const a = countingClient();
    const reading = caches.logsOf(a.client);
    caches.invalidate();
    await reading;
    expect((await caches.logsOf(a.client))[0]!.name).toBe('call-2');
  });
});

describe('the viewer after a delete', () => {
  it('counts the chart again at once, not after 30 seconds', async () => {
    const t = await createViewerApp({ key: 'del' });
    const agent = request.agent(t.app);
    expect((await svg(t.app, '/elmah.axd/chart.svg')).text).toContain('30 errors from');
    const confirm = await agent.get('/elmah.axd/delete?type=RangeError');
    expect(
      (
        await agent
          .post('/elmah.axd/delete')
          .type('form')
          .send({ _csrf: csrfOf(confirm.text), type: 'RangeError' })
      ).status,
    ).toBe(303);
    expect((await svg(t.app, '/elmah.axd/chart.svg')).text).toContain('20 errors from');
    const id = t.messages[1]!.id;
    const page = await agent.get(`/elmah.axd/detail/${id}`);
    expect(
      (
        await agent
          .post(`/elmah.axd/detail/${id}/delete`)
          .type('form')
          .send({ _csrf: csrfOf(page.text), log: 'default' })
      ).status,
    ).toBe(303);
    expect((await svg(t.app, '/elmah.axd/chart.svg')).text).toContain('19 errors from');
  });
});
