// The real entry point (src/cli/main.ts) as a child process in a temp folder: exit codes, stdout and stderr as a user sees them.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { KEY_RE, removeTempDir, tempDir } from '../helpers/run-cli';

const root = join(__dirname, '..', '..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');
const main = join(root, 'src', 'cli', 'main.ts');

/** Runs `express-elmah …args` as its own process, with ELMAH_STORE unset. */
function bin(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = { ...process.env };
  delete env.ELMAH_STORE;
  return new Promise((resolve) => {
    execFile(process.execPath, [tsx, main, ...args], { cwd, env, timeout: 20_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

let dir: string;
beforeAll(() => (dir = tempDir('elmah-bin-')));
afterAll(() => removeTempDir(dir));

describe('express-elmah as a process', () => {
  it('starts with a node shebang', () => {
    expect(readFileSync(main, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
  });

  it('init creates .elmah/elmah.db in the working folder and prints two keys; keys list then shows them', async () => {
    const r = await bin(['init'], dir);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(existsSync(join(dir, '.elmah', 'elmah.db'))).toBe(true);
    const keys = r.stdout.match(KEY_RE) ?? [];
    expect(keys).toHaveLength(2);
    const list = await bin(['keys', 'list', '--json'], dir);
    expect(list.code).toBe(0);
    const listed = JSON.parse(list.stdout) as { id: string; permissions: string[] }[];
    expect(listed.map((k) => k.id).sort()).toEqual(keys.map((k) => k.slice(6, 14)).sort());
    for (const k of keys) expect(list.stdout).not.toContain(k.slice(15));
  });

  it('writes a new env file through --dotenv, which Node.js does not intercept, and reads it back through --env-file', async () => {
    const r = await bin(['init', '--dotenv', 'app.env'], dir);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(KEY_RE);
    expect(statSync(join(dir, 'app.env')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, 'app.env'), 'utf8').match(KEY_RE)).toHaveLength(2);
    // An existing file passes Node.js's own --env-file check untouched and reaches the CLI.
    const again = await bin(['init', '--env-file', 'app.env'], dir);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('already holds a working write key');
  });

  it('exits 2 with one coded line on a usage error, and 1 on a failure', async () => {
    const usage = await bin(['keys', 'create'], dir);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(/^error ERR_ELMAH_CLI: Required option '--name <name>' not specified\.\nhelp: .*\n$/);
    const failure = await bin(['keys', 'revoke', 'zzzzzzzz', '--store', 'memory:'], dir);
    expect(failure.code).toBe(1);
    expect(failure.stderr).toMatch(/^error ERR_ELMAH_KEY_NOT_FOUND: /m);
    expect(failure.stderr).not.toMatch(/\n\s+at /);
  });
});
