// Many instances, one PostgreSQL log: two apps log straight into PostgreSQL and two ship through collectors,
// all starting together (one migration) and failing at once; then one viewer client reads every message once.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { Pool } from 'pg';
import { createKey } from '../../src/model/keys';
import { PostgresStore } from '../../src/stores/postgres';
import { MIGRATIONS } from '../../src/stores/postgres/schema';

const url = process.env.ELMAH_TEST_POSTGRES_URL;
const run = url ? describe : describe.skip;
if (!url) console.log('multi-instance tests skipped: ELMAH_TEST_POSTGRES_URL is not set');

const FIXTURE = join(__dirname, '..', 'fixtures', 'multi-instance-proc.ts');
const REQUESTS = 120;

/** A running fixture process and its JSON lines. */
interface Proc {
  name: string;
  child: ChildProcessWithoutNullStreams;
  next(): Promise<Record<string, unknown>>;
  send(value: unknown): void;
  stderr(): string;
}

function start(role: string, name: string, storeUrl: string): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, role], {
    env: { ...process.env, ELMAH_MULTI_URL: storeUrl, ELMAH_MULTI_NAME: name, ELMAH_MULTI_REQUESTS: String(REQUESTS), ELMAH_STORE: '' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const queue: Record<string, unknown>[] = [];
  const waiters: ((v: Record<string, unknown>) => void)[] = [];
  createInterface({ input: child.stdout }).on('line', (line) => {
    let value: Record<string, unknown>;
    try {
      value = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    if ('loggerError' in value) return;
    const w = waiters.shift();
    if (w) w(value);
    else queue.push(value);
  });
  child.on('exit', (code) => {
    for (const w of waiters.splice(0)) w({ fatal: `${name} exited with ${code}: ${err.slice(-2000)}` });
  });
  return {
    name,
    child,
    next: () => (queue.length > 0 ? Promise.resolve(queue.shift()!) : new Promise((resolve) => waiters.push(resolve))),
    send: (value) => child.stdin.write(`${JSON.stringify(value)}\n`),
    stderr: () => err,
  };
}

async function expectLine(p: Proc, key: string): Promise<Record<string, unknown>> {
  const line = await p.next();
  if (!(key in line)) throw new Error(`${p.name}: expected "${key}", got ${JSON.stringify(line).slice(0, 2000)}`);
  return line;
}

run('several instances on one PostgreSQL database', () => {
  const schema = `elmah_multi_${randomBytes(5).toString('hex')}`;
  const storeUrl = (() => {
    if (!url) return '';
    const u = new URL(url);
    u.searchParams.set('schema', schema);
    return u.toString();
  })();
  const procs: Proc[] = [];

  afterAll(async () => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGTERM');
    const admin = new Pool({ connectionString: url, max: 1 });
    await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await admin.end();
  });

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
