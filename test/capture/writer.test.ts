// The capture writer on its own: the key check at start-up (messages_write required, a broader key reported
// once), refusals that are final, and a store or collector that is not reachable yet, opened again when asked.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { CaptureWriter, type CaptureWriterOptions } from '../../src/capture/writer';
import { collector } from '../../src/collector';
import { ElmahError } from '../../src/model/errors';
import type { Permission } from '../../src/model/permissions';
import { createFakeClient, createdResults } from '../helpers/capture';
import { withKeys } from '../helpers/keys';
import { makeMessage } from '../helpers/messages';

const open: CaptureWriter[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((w) => w.close()));
});

/** A writer whose reports and refusals are kept; closed after the test. */
function createWriter(options: Omit<CaptureWriterOptions, 'report'>) {
  const reports: { code: string; message: string; loud: boolean }[] = [];
  const refusals: unknown[] = [];
  const writer = new CaptureWriter({
    ...options,
    report: (e, loud = false) => reports.push({ code: e.code, message: e.message, loud }),
    onRefused: (err) => refusals.push(err),
  });
  open.push(writer);
  return { writer, reports, refusals };
}

/** A LogClient whose whoami fails with `failures` (in turn) before it answers with `permissions`; counts its calls. */
function flakyClient(failures: unknown[], permissions: Permission[] = ['messages_write']) {
  const client = createFakeClient(async (batch) => createdResults(batch), permissions);
  const answer = client.whoami;
  let calls = 0;
  client.whoami = async () => {
    const failure = failures[calls++];
    if (failure !== undefined) throw failure;
    return answer();
  };
  return { client, calls: () => calls };
}

const unreachable = (): ElmahError =>
  new ElmahError('ERR_ELMAH_STORE_UNAVAILABLE', 'connect ECONNREFUSED 127.0.0.1:5432', { transient: true });

describe('CaptureWriter: the key', () => {
  it('with a write-only key: ready resolves with the key, and the writer appends to the store', async () => {
    const { store, keys } = await withKeys();
    const { writer, reports, refusals } = createWriter({ store, key: keys.write });
    await expect(writer.ready).resolves.toMatchObject({ permissions: ['messages_write'] });
    const w = await writer.writer();
    const message = makeMessage({ title: 'through the writer' });
    expect(await w.append([message])).toEqual([expect.objectContaining({ id: message.id, status: 'created' })]);
    expect((await store.search({})).messages.map((m) => m.title)).toEqual(['through the writer']);
    expect(writer.onWorker).toBe(false);
    expect([reports, refusals]).toEqual([[], []]);
  });

  it('refuses a key without messages_write with ERR_ELMAH_PERMISSION, for good', async () => {
    const { store, keys } = await withKeys();
    const { writer, refusals } = createWriter({ store, key: keys.read });
    await expect(writer.ready).rejects.toMatchObject({
      code: 'ERR_ELMAH_PERMISSION',
      message: expect.stringContaining('lacks messages_write'),
    });
    await expect(writer.writer()).rejects.toMatchObject({ code: 'ERR_ELMAH_PERMISSION' });
    expect(refusals).toEqual([expect.objectContaining({ code: 'ERR_ELMAH_PERMISSION' })]);
  });

  it('does not check a refused key again', async () => {
    const { client, calls } = flakyClient([], ['messages_read']);
    const { writer } = createWriter({ store: client });
    await expect(writer.ready).rejects.toMatchObject({ code: 'ERR_ELMAH_PERMISSION' });
    await expect(writer.writer()).rejects.toMatchObject({ code: 'ERR_ELMAH_PERMISSION' });
    await expect(writer.writer()).rejects.toMatchObject({ code: 'ERR_ELMAH_PERMISSION' });
    expect(calls()).toBe(1);
  });

  it('reports a key that carries more than messages_write once, loudly, and writes with it', async () => {
    const { store, keys } = await withKeys();
    const { writer, reports, refusals } = createWriter({ store, key: keys.admin });
    await expect(writer.ready).resolves.toMatchObject({ permissions: expect.arrayContaining(['messages_read']) });
    for (let i = 0; i < 3; i++) await writer.writer();
    expect(reports).toEqual([
      { code: 'ERR_ELMAH_KEY_TOO_BROAD', message: expect.stringContaining('needs only messages_write'), loud: true },
    ]);
    expect(refusals).toEqual([]);
  });

  it('without a key: ERR_ELMAH_KEY_MISSING; a LogClient passed in needs none', async () => {
    const { store } = await withKeys();
    const missing = createWriter({ store, key: undefined });
    await expect(missing.writer.ready).rejects.toMatchObject({ code: 'ERR_ELMAH_KEY_MISSING' });
    expect(missing.refusals).toHaveLength(1);
    const { client } = flakyClient([]);
    const given = createWriter({ store: client, key: undefined });
    await expect(given.writer.writer()).resolves.toBe(client);
    await given.writer.close();
    expect(client.closed).toBe(false);
  });

  it('refuses a store option that is none when it is made', () => {
    expect(() => createWriter({ store: 42 as never })).toThrow(expect.objectContaining({ code: 'ERR_ELMAH_OPTION_TYPE' }));
  });
});

describe('CaptureWriter: a store that is not reachable yet', () => {
  it('is reported once as not reachable yet, not refused, and opened again when the writer is asked for', async () => {
    const { client, calls } = flakyClient([unreachable(), unreachable()]);
    const { writer, reports, refusals } = createWriter({ store: client });
    await expect(writer.ready).rejects.toMatchObject({ code: 'ERR_ELMAH_STORE_UNAVAILABLE' });
    expect(reports.map((r) => r.code)).toEqual(['ERR_ELMAH_STORE_UNAVAILABLE']);
    // Still unreachable at the first ask: the shipper hears the transient failure and backs off.
    await expect(writer.writer()).rejects.toMatchObject({ code: 'ERR_ELMAH_STORE_UNAVAILABLE', transient: true });
    await expect(writer.writer()).resolves.toBe(client);
    await expect(writer.writer()).resolves.toBe(client);
    expect(calls()).toBe(3);
    expect(refusals).toEqual([]);
  });

  it('a collector that comes up later is reached with the same key', async () => {
    const { store, keys } = await withKeys();
    const app = express().use(collector({ store, rateLimit: false }));
    // Reserve a port and free it, so the writer starts against a collector that is not there yet.
    const probe = app.listen(0, '127.0.0.1') as unknown as Server;
    await new Promise((r) => probe.once('listening', r));
    const { port } = probe.address() as AddressInfo;
    await new Promise((r) => probe.close(r));
    const { writer, refusals } = createWriter({ store: `http://127.0.0.1:${port}`, key: keys.write, timeoutMs: 2000 });
    await expect(writer.ready).rejects.toMatchObject({ transient: true });
    const server = app.listen(port, '127.0.0.1') as unknown as Server;
    await new Promise((r) => server.once('listening', r));
    try {
      const w = await writer.writer();
      await w.append([makeMessage({ title: 'after the collector came up' })], 'default');
      expect((await store.search({})).messages.map((m) => m.title)).toEqual(['after the collector came up']);
      expect(refusals).toEqual([]);
    } finally {
      await writer.close();
      await new Promise((r) => server.close(r));
    }
  });
});
