// Build: the library as ESM (.mjs) and CommonJS (.cjs), each with its own types, plus the CLI and the store
// worker thread's entry (CommonJS; the worker loads only what writes).
import { defineConfig } from 'tsup';

const shared = {
  target: 'node20',
  platform: 'node',
  sourcemap: true,
  shims: true,
  splitting: false,
  external: ['pg', 'better-sqlite3', 'express'],
  outExtension: ({ format }: { format: string }) => ({ js: format === 'esm' ? '.mjs' : '.cjs' }),
} as const;

export default defineConfig([
  { ...shared, entry: { index: 'src/index.ts' }, format: ['esm', 'cjs'], dts: true, clean: true },
  { ...shared, entry: { cli: 'src/cli/main.ts' }, format: ['cjs'], dts: false, clean: false },
  { ...shared, entry: { worker: 'src/client/worker-entry.ts' }, format: ['cjs'], dts: false, clean: false },
]);
