// The Notifier in a process of its own (test/fixtures/notifier-proc.ts): what only a whole process shows. An
// idle process sends its alert without waiting for unrelated work; close() keeps the process alive until it
// settles, even while a retry waits; a send in flight is stopped when close() gives up; an error handler that
// throws does not end the process.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { startReceiver, type TestReceiver } from '../helpers/notify';

const FIXTURE = join(__dirname, '..', 'fixtures', 'notifier-proc.ts');

interface Run {
  status: number | null;
  lines: Array<Record<string, unknown>>;
  stderr: string;
}

/** Runs the fixture in `mode` (async, so that a receiver in this process can answer) and waits for its exit. */
function run(mode: string, args: string[] = []): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', FIXTURE, mode, ...args], {
      env: { ...process.env, NODE_OPTIONS: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const kill = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(kill);
      const lines = out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      resolve({ status, lines, stderr: err });
    });
  });
}

const receivers: TestReceiver[] = [];
afterEach(async () => {
  await Promise.all(receivers.splice(0).map((r) => r.close()));
});

describe('a Notifier in its own process', () => {
  it('sends an alert at once in an idle process, not when some unrelated timer next wakes it', async () => {
    const r = await run('idle');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    // The unrelated timer is due at 4000 ms and is cleared by the send: it never fires.
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]!.sent).toEqual(expect.any(Number));
    expect(r.lines[0]!.sent as number).toBeLessThan(3000);
  }, 40_000);

  it('close() settles while a retry waits: the process stays alive and the alert is reported as dropped', async () => {
    const r = await run('backoff');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.lines).toEqual([
      {
        closed: false,
        stats: expect.objectContaining({ alerts: 1, sent: 0, dropped: 1, queued: 0 }),
        codes: ['ERR_ELMAH_NOTIFY_DROPPED'],
      },
    ]);
  }, 40_000);

  it('close() that gives up stops the request in flight: the process ends long before timeoutMs', async () => {
    const receiver = await startReceiver([{ status: 200, delayMs: 60_000 }]);
    receivers.push(receiver);
    const r = await run('hang', [receiver.url]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(receiver.requests).toHaveLength(1);
    const [closed, exit] = r.lines;
    expect(closed).toMatchObject({ closed: false, stats: expect.objectContaining({ dropped: 1, queued: 0 }) });
    expect(closed!.codes).toEqual(['ERR_ELMAH_NOTIFY_DROPPED']);
    // timeoutMs is 20 000: without the abort the open request would hold the process until then.
    expect(exit!.exit as number).toBeLessThan(10_000);
  }, 40_000);

  it('an error handler that throws does not end the process (no unhandled rejection)', async () => {
    const r = await run('report-throws');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.lines).toEqual([{ survived: true, stats: expect.objectContaining({ alerts: 1, failed: 1 }) }]);
  }, 40_000);
});
