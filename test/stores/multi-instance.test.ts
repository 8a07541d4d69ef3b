// Many instances, one PostgreSQL log: two apps log straight into PostgreSQL and two ship through collectors,
// all starting together (one migration) and failing at once; then one viewer client reads every message once.
import { join } from 'node:path';
import { createKey } from '../../src/model/keys';
import { PostgresStore } from '../../src/stores/postgres';
import { MIGRATIONS } from '../../src/stores/postgres/schema';
import { expectLine, schemaOfOwn, startProc, type Proc } from '../helpers/procs';

const url = process.env.ELMAH_TEST_POSTGRES_URL;
const run = url ? describe : describe.skip;
if (!url) console.log('multi-instance tests skipped: ELMAH_TEST_POSTGRES_URL is not set');

const FIXTURE = join(__dirname, '..', 'fixtures', 'multi-instance-proc.ts');
const REQUESTS = 120;

function start(role: string, name: string, storeUrl: string): Proc {
  return startProc(FIXTURE, name, {
    args: [role],
    env: { ELMAH_MULTI_URL: storeUrl, ELMAH_MULTI_NAME: name, ELMAH_MULTI_REQUESTS: String(REQUESTS) },
    skip: (line) => 'loggerError' in line,
  });
}

run('several instances on one PostgreSQL database', () => {
  const { storeUrl, cleanUp } = schemaOfOwn(url, 'elmah_multi');
  const procs: Proc[] = [];

  afterAll(() => cleanUp(procs));

  it('stores every message exactly once with matching group counts', async () => {
    // All start together; the four that open the store race to migrate it.
    const direct = [start('app-direct', 'direct-1', storeUrl), start('app-direct', 'direct-2', storeUrl)];
    const collectors = [start('collector', 'collector-1', storeUrl), start('collector', 'collector-2', storeUrl)];
    const remote = [start('app-remote', 'remote-1', storeUrl), start('app-remote', 'remote-2', storeUrl)];
    procs.push(...direct, ...collectors, ...remote);
    const ready = await Promise.all([...direct, ...collectors, ...remote].map((p) => expectLine(p, 'ready')));
    expect(ready.reduce((n, r) => n + Number(r.migrated), 0)).toBe(MIGRATIONS.length);

    // Keys: one write key for every app, one read key for the viewer.
    const admin = await PostgresStore.open(storeUrl, { maxConnections: 2 });
    expect(admin.migrationsApplied).toBe(0);
    const writer = createKey({ name: 'apps', permissions: ['messages_write'] });
    const reader = createKey({ name: 'viewer', permissions: ['messages_read'] });
    await admin.putKey(writer.record);
    await admin.putKey(reader.record);
    await admin.close();

    const ports = ready.slice(2, 4).map((r) => Number(r.port));
    direct.forEach((p) => p.send({ key: writer.key }));
    remote.forEach((p, i) => p.send({ key: writer.key, collector: `http://127.0.0.1:${ports[i]}` }));
    const done = await Promise.all([...direct, ...remote].map((p) => expectLine(p, 'done')));
    for (const d of done) expect(d.stats).toMatchObject({ sent: REQUESTS, dropped: 0, failed: 0, queued: 0 });
    const sent = done.flatMap((d) => d.ids as string[]);
    expect(sent).toHaveLength(4 * REQUESTS);
    collectors.forEach((p) => p.send({ stop: true }));

    const viewer = start('viewer', 'viewer', storeUrl);
    procs.push(viewer);
    viewer.send({ key: reader.key });
    const seen = await expectLine(viewer, 'messages');
    const messages = seen.messages as { id: string; correlationId?: string; fingerprint: string }[];

    // Every message once: no loss, no double.
    expect(messages.map((m) => m.correlationId).sort()).toEqual([...sent].sort());
    expect(new Set(messages.map((m) => m.id)).size).toBe(messages.length);
    expect(seen.total).toBe(4 * REQUESTS);
    expect(seen.logs).toEqual([expect.objectContaining({ name: 'multi', count: 4 * REQUESTS })]);

    // Groups: three throw sites, counts equal to the messages listed for each fingerprint.
    const byFingerprint = new Map<string, number>();
    for (const m of messages) byFingerprint.set(m.fingerprint, (byFingerprint.get(m.fingerprint) ?? 0) + 1);
    const groups = seen.groups as { fingerprint: string; count: number; type: string }[];
    expect(groups).toHaveLength(3);
    expect(new Map(groups.map((g) => [g.fingerprint, g.count]))).toEqual(byFingerprint);
    expect(groups.map((g) => g.type).sort()).toEqual(['Error', 'RangeError', 'TypeError']);
    expect(groups.map((g) => g.count)).toEqual([1, 2, 3].map(() => (4 * REQUESTS) / 3));
  }, 120_000);
});
