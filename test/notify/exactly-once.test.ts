// Exactly once, everywhere: two app processes write one PostgreSQL database at the same moment, each with
// mail alerts to this test's SMTP server. The store tells exactly one writer that it made each group (and,
// after the groups are resolved, that it reopened each), so the mails name each group once.
import { join } from 'node:path';
import { createKey } from '../../src/model/keys';
import { PostgresStore } from '../../src/stores/postgres';
import { startSmtp, type TestSmtp } from '../helpers/notify';
import { expectLine, schemaOfOwn, startProc, type Proc } from '../helpers/procs';

const url = process.env.ELMAH_TEST_POSTGRES_URL;
const run = url ? describe : describe.skip;
if (!url) console.log('alert exactly-once test skipped: ELMAH_TEST_POSTGRES_URL is not set');

const FIXTURE = join(__dirname, '..', 'fixtures', 'notify-proc.ts');

/** The alerts the mails list, as "<what>: <type>" lines, from each mail's text part. */
function alertsIn(smtp: TestSmtp): string[] {
  return smtp.mails.flatMap((mail) => {
    const out: string[] = [];
    let what = '';
    for (const line of (mail.text ?? '').split('\n')) {
      const head = /^(New error|Regression): /.exec(line);
      if (head) what = head[1]!;
      const type = /^ {2}Type: (.+)$/.exec(line);
      if (type && what) out.push(`${what}: ${type[1]}`);
    }
    return out;
  });
}

run('alerts from two processes on one PostgreSQL database', () => {
  const { storeUrl, cleanUp } = schemaOfOwn(url, 'elmah_alerts');
  const procs: Proc[] = [];
  let smtp: TestSmtp | undefined;

  afterAll(async () => {
    await cleanUp(procs);
    await smtp?.close();
  });

  it('mails each new group once, and each regression once, whichever process wrote first', async () => {
    smtp = await startSmtp();
    const admin = await PostgresStore.open(storeUrl, { maxConnections: 2 });
    const writer = createKey({ name: 'apps', permissions: ['messages_write'] });
    await admin.putKey(writer.record);
    const env = { ELMAH_NOTIFY_STORE: storeUrl, ELMAH_NOTIFY_KEY: writer.key, ELMAH_NOTIFY_SMTP: smtp.url, ELMAH_NOTIFY_REQUESTS: '60' };
    procs.push(...['app-1', 'app-2'].map((name) => startProc(FIXTURE, name, { env: { ...env, ELMAH_NOTIFY_NAME: name } })));
    await Promise.all(procs.map((p) => expectLine(p, 'ready')));

    // Round 1: both fail at once across three throw sites; three groups are made.
    procs.forEach((p) => p.send({ round: 1 }));
    const first = await Promise.all(procs.map((p) => expectLine(p, 'done')));
    for (const d of first)
      expect(d).toMatchObject({ flushed: true, errors: [], stats: { kept: 60, lost: 0, alerts: { failed: 0, dropped: 0 } } });
    const groups = await admin.groups({ log: 'alerts', size: 10 });
    expect(groups.groups).toHaveLength(3);
    expect(groups.total).toBe(3);
    expect(alertsIn(smtp).sort()).toEqual(['New error: Error', 'New error: RangeError', 'New error: TypeError']);
    const mailsAfterFirst = smtp.mails.length;

    // Round 2: the groups are resolved, then both fail again: each group regresses once.
    await admin.setGroupState(
      'alerts',
      groups.groups.map((g) => g.fingerprint),
      { status: 'resolved' },
      'test',
      new Date().toISOString(),
    );
    procs.forEach((p) => p.send({ round: 2 }));
    const second = await Promise.all(procs.map((p) => expectLine(p, 'done')));
    for (const d of second) expect(d).toMatchObject({ flushed: true, stats: { kept: 120, lost: 0 } });
    const regressions = alertsIn(smtp).filter((a) => a.startsWith('Regression'));
    expect(regressions.sort()).toEqual(['Regression: Error', 'Regression: RangeError', 'Regression: TypeError']);
    expect(smtp.mails.length).toBeGreaterThan(mailsAfterFirst);
    procs.forEach((p) => p.send({ stop: true }));
    await admin.close();
  }, 120_000);
});
