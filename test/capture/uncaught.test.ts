// captureUncaught in child processes: the fatal message is shipped before the process ends as Node would.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ErrorMessage } from '../../src/model/message';

const fixture = join(__dirname, '..', 'fixtures', 'uncaught-proc.ts');
const dir = mkdtempSync(join(tmpdir(), 'elmah-uncaught-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function run(mode: string, nodeArgs: string[] = []): { status: number | null; stdout: string; stderr: string; messages: ErrorMessage[] } {
  const out = join(dir, `${mode}-${nodeArgs.length}.jsonl`);
  const r = spawnSync(process.execPath, [...nodeArgs, '--import', 'tsx', fixture, mode], {
    env: { ...process.env, OUT_FILE: out, NODE_OPTIONS: '' },
    encoding: 'utf8',
    timeout: 20_000,
  });
  const messages = existsSync(out)
    ? readFileSync(out, 'utf8')
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as ErrorMessage)
    : [];
  return { status: r.status, stdout: r.stdout, stderr: r.stderr, messages };
}

describe('captureUncaught', () => {
  it('an uncaught exception is recorded as Fatal, shipped, printed, and the process exits 1', () => {
    const r = run('throw');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('fatal boom');
    expect(r.stderr).toContain('Node.js v');
    expect(r.messages).toHaveLength(1);
    expect(r.messages[0]).toMatchObject({ title: 'fatal boom', severity: 'Fatal', category: 'uncaughtException', type: 'Error' });
  });

  it('an unhandled rejection is recorded once as Fatal and ends the process like --unhandled-rejections=throw', () => {
    const r = run('reject');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('rejected boom');
    expect(r.messages).toHaveLength(1);
    expect(r.messages[0]).toMatchObject({ title: 'rejected boom', severity: 'Fatal', category: 'unhandledRejection' });
  });

  it('a rejection with a non-Error reason records the reason and prints what Node prints', () => {
    const r = run('reject-string');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('plain reason');
    expect(r.stderr).toContain('ERR_UNHANDLED_REJECTION');
    expect(r.messages.map((m) => [m.title, m.type, m.severity])).toEqual([['plain reason', 'string', 'Fatal']]);
  });

  it('with --unhandled-rejections=warn the process lives on, as Node would let it', () => {
    const r = run('reject', ['--unhandled-rejections=warn']);
    expect(r.status).toBe(0);
    expect(r.messages).toHaveLength(1);
  });

  it("an app's own uncaughtException handler stays in charge", () => {
    const r = run('app-handles');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('app handled: handled by the app');
    expect(r.messages.map((m) => m.title)).toEqual(['handled by the app']);
  });
});
