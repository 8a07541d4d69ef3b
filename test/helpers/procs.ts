// Child processes of the multi-process tests: a fixture run with tsx that talks JSON lines over stdin/stdout
// (see test/fixtures/proc-lines.ts), and a PostgreSQL schema of their own.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { Pool } from 'pg';

/** A running fixture process and its JSON lines. */
export interface Proc {
  name: string;
  child: ChildProcessWithoutNullStreams;
  /** The next JSON line it wrote; `{ fatal }` once it has exited. */
  next(): Promise<Record<string, unknown>>;
  send(value: unknown): void;
  stderr(): string;
}

/**
 * Starts `fixture` (a .ts file) with `args` and `env` over the test's environment, with no store or alerts
 * from the environment. Lines for which `skip` holds are not queued.
 */
export function startProc(
  fixture: string,
  name: string,
  options: { args?: string[]; env?: Record<string, string>; skip?: (line: Record<string, unknown>) => boolean } = {},
): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', fixture, ...(options.args ?? [])], {
    env: { ...process.env, ELMAH_STORE: '', ELMAH_SMTP_URL: '', ELMAH_WEBHOOK_URL: '', ...options.env },
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
    if (options.skip?.(value)) return;
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

/** The next line of `p`, which must carry `key`. */
export async function expectLine(p: Proc, key: string): Promise<Record<string, unknown>> {
  const line = await p.next();
  if (!(key in line)) throw new Error(`${p.name}: expected "${key}", got ${JSON.stringify(line).slice(0, 2000)}`);
  return line;
}

/** A fresh schema name in `url` (empty without a URL), and a function that drops it and ends the processes. */
export function schemaOfOwn(
  url: string | undefined,
  prefix: string,
): { storeUrl: string; cleanUp: (procs: readonly Proc[]) => Promise<void> } {
  const schema = `${prefix}_${randomBytes(5).toString('hex')}`;
  let storeUrl = '';
  if (url) {
    const u = new URL(url);
    u.searchParams.set('schema', schema);
    storeUrl = u.toString();
  }
  return {
    storeUrl,
    cleanUp: async (procs) => {
      for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGTERM');
      if (!url) return;
      const admin = new Pool({ connectionString: url, max: 1 });
      await admin.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await admin.end();
    },
  };
}
