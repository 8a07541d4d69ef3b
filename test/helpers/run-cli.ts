// Runs the CLI in-process with captured stdout/stderr, and makes throwaway folders for it to work in.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../src/cli/program';

/** What one CLI invocation produced. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `express-elmah …args` in-process. ELMAH_STORE is unset unless `env` gives it. */
export async function runCli(args: string[], options: { cwd?: string; env?: Record<string, string | undefined> } = {}): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await run(args, {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    env: { ...options.env },
    cwd: options.cwd ?? tmpdir(),
  });
  return { code, stdout, stderr };
}

/** The JSON document a `--json` run printed. */
export function cliJson<T = any>(result: CliResult): T {
  return JSON.parse(result.stdout) as T;
}

/** The code of the one `error ERR_…:` line on stderr, checking there is exactly one. */
export function cliErrorCode(result: CliResult): string | undefined {
  const lines = result.stderr.split('\n').filter((l) => l.startsWith('error '));
  expect(lines.length).toBeLessThanOrEqual(1);
  return /^error (ERR_ELMAH_[A-Z_]+): /.exec(lines[0] ?? '')?.[1];
}

/** A fresh temp folder; remove it with {@link removeTempDir}. */
export function tempDir(prefix = 'elmah-cli-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Key strings as init and keys create print them. */
export const KEY_RE = /elmah_[a-z2-7]{8}_[A-Za-z0-9_-]{43}/g;
