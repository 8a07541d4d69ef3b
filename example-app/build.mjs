// Builds the package (`npm run build`) when dist/ is missing or older than its sources, one build at a time.
// Used by start.mjs and by the example and packaging tests; run directly, it builds if needed and exits
// (0 built or up to date, 1 the build failed, 3 the build did not make a file that package.json names).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (the package). */
export const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Every file under dist/ that package.json promises (main, module, types, exports, bin): what the build must produce. */
export function promisedOutputs(root = ROOT) {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const paths = new Set();
  const walk = (value) => {
    if (typeof value === 'string') {
      if (/^(\.\/)?dist\//.test(value)) paths.add(value.replace(/^\.\//, ''));
    } else if (value && typeof value === 'object') Object.values(value).forEach(walk);
  };
  walk([pkg.main, pkg.module, pkg.types, pkg.exports, pkg.bin]);
  return [...paths].sort();
}
/** What the build reads: a change to any of them makes dist/ stale. */
const INPUTS = ['src', 'tsup.config.ts', 'tsconfig.json'];

function newestMtime(path) {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/** Why dist/ must be built, or undefined when it is up to date. */
export function staleReason(root = ROOT) {
  let oldestOutput = Infinity;
  for (const output of promisedOutputs(root)) {
    const path = join(root, output);
    if (!existsSync(path)) return `${output} is missing`;
    oldestOutput = Math.min(oldestOutput, statSync(path).mtimeMs);
  }
  const newestInput = Math.max(
    ...INPUTS.map((input) => join(root, input))
      .filter(existsSync)
      .map(newestMtime),
  );
  return newestInput > oldestOutput ? 'the sources changed since the last build' : undefined;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Holds a lock (a folder, created atomically) while `work` runs, so two processes never build at once:
 * tsup empties dist/ first, which would pull the files from under the other one. A lock older than
 * ten minutes is left over from a killed build and is taken over.
 */
async function withLock(root, work) {
  const lock = join(root, 'node_modules', '.cache', 'express-elmah-build.lock');
  mkdirSync(dirname(lock), { recursive: true });
  const deadline = Date.now() + 10 * 60_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
      let age;
      try {
        age = Date.now() - statSync(lock).mtimeMs;
      } catch {
        continue; // released in the meantime
      }
      if (age > 10 * 60_000) rmSync(lock, { recursive: true, force: true });
      else if (Date.now() > deadline) throw new Error(`Another build holds ${lock}; remove it if no build is running.`, { cause: err });
      else await sleep(250);
    }
  }
  try {
    return await work();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function runBuild(root, quiet) {
  return new Promise((resolve) => {
    const child = spawn('npm', ['run', 'build'], {
      cwd: root,
      stdio: quiet ? ['ignore', 'pipe', 'pipe'] : 'inherit',
      // npm is npm.cmd on Windows, which only a shell can start.
      shell: process.platform === 'win32',
    });
    let output = '';
    child.stdout?.on('data', (chunk) => (output += chunk));
    child.stderr?.on('data', (chunk) => (output += chunk));
    child.on('error', (err) => resolve({ ok: false, output: `${output}${err.message}\n` }));
    child.on('close', (code) => resolve({ ok: code === 0, output }));
  });
}

/**
 * Builds the package when dist/ is missing or stale. Resolves `{ built, reason }`; rejects with the
 * build's output in the message when the build fails. `quiet` keeps the build's output unless it fails.
 */
export async function ensureBuilt({ root = ROOT, quiet = false, log = console.log } = {}) {
  if (staleReason(root) === undefined) return { built: false, reason: undefined };
  return withLock(root, async () => {
    // Another process may have built while this one waited for the lock.
    const reason = staleReason(root);
    if (reason === undefined) return { built: false, reason: undefined };
    log(`Building express-elmah (${reason}) …`);
    const { ok, output } = await runBuild(root, quiet);
    if (!ok) throw new Error(`npm run build failed${quiet ? `:\n${output}` : ' (see above)'}`);
    const missing = promisedOutputs(root).filter((file) => !existsSync(join(root, file)));
    if (missing.length > 0) {
      const err = new Error(
        `npm run build did not produce ${missing.join(', ')}, which package.json names (main/module/types/exports/bin); tsup.config.ts and package.json disagree.`,
      );
      err.code = 'OUTPUTS_MISSING';
      throw err;
    }
    return { built: true, reason };
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  ensureBuilt({ quiet: process.argv.includes('--quiet') }).then(
    ({ built }) => console.log(built ? 'Built dist/.' : 'dist/ is up to date.'),
    (err) => {
      console.error(err.message);
      // 3: the build ran but package.json names files it did not make (a packaging bug, not a broken build).
      process.exitCode = err.code === 'OUTPUTS_MISSING' ? 3 : 1;
    },
  );
}
