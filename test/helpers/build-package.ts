// express-elmah as it is published, bundled with esbuild from the TypeScript sources: what the worker-thread
// writes need, since a worker runs compiled JavaScript (dist/worker.cjs) and cannot load the sources.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildSync } from 'esbuild';

const ROOT = join(__dirname, '..', '..');

/** What the bundles leave to the installed dependencies, as the published package does. */
const EXTERNAL = ['better-sqlite3', 'pg', 'express', 'ejs', 'helmet', 'commander'];

/** Bundles `entry` (a path under the repository) into one CommonJS file. */
export function bundle(entry: string, outfile: string, external: string[] = EXTERNAL): void {
  buildSync({
    entryPoints: [join(ROOT, entry)],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external,
    logLevel: 'error',
  });
}

/** A package built by {@link buildPackage}. */
export interface BuiltPackage {
  /** The temp folder that holds `node_modules/express-elmah`; remove it with `remove()`. */
  dir: string;
  /** The package's own folder, `<dir>/node_modules/express-elmah`. */
  pkg: string;
  /** `dist/worker.cjs`, the worker thread's entry. */
  workerEntry: string;
  remove(): void;
}

/**
 * Builds `dist/worker.cjs` and the given other bundles (`{ 'index.cjs': 'src/index.ts' }`) into a package
 * named express-elmah, in a temp folder inside node_modules so that the bundles find better-sqlite3 the way
 * an installed package would.
 */
export function buildPackage(bundles: Record<string, string> = {}): BuiltPackage {
  const dir = mkdtempSync(join(ROOT, 'node_modules', '.elmah-test-worker-'));
  const pkg = join(dir, 'node_modules', 'express-elmah');
  mkdirSync(join(pkg, 'dist'), { recursive: true });
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'express-elmah', main: 'dist/index.cjs' }));
  const workerEntry = join(pkg, 'dist', 'worker.cjs');
  bundle('src/client/worker-entry.ts', workerEntry);
  for (const [file, entry] of Object.entries(bundles)) bundle(entry, join(pkg, 'dist', file));
  return { dir, pkg, workerEntry, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
