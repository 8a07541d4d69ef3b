// Lint: typescript-eslint's recommended rules and type-only imports over sources, tests and benchmarks, the layers of DESIGN.md
// (model → stores → client → faces) as import rules.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/** An import rule forbidding the source folders `layers` (at any depth of `../`), each with why. Dynamic import() is not checked. */
function forbid(...layers) {
  const why = {
    stores: 'A face reaches stores only through the client layer (src/client/: openLog, LogClient and the types it re-exports)',
    client: 'The model and the stores know nothing of clients',
    capture: 'Faces do not import each other; rules they share live in src/model/',
    viewer: 'Faces do not import each other',
    collector: 'Faces do not import each other',
    cli: 'Nothing imports the CLI',
    notify: 'Alerts are sent by the writing faces (capture, collector, CLI); the model, stores, client and viewer know nothing of them',
  };
  return [
    'error',
    { patterns: layers.map((layer) => ({ group: [`**/${layer}/**`, `**/${layer}`], message: `${why[layer]} (DESIGN.md, Layers).` })) },
  ];
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', '.elmah/**', 'example-app/.elmah/**', 'bench/results/**', '.scratch/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        require: 'readonly',
        module: 'writable',
        __dirname: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setImmediate: 'readonly',
        URL: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/no-require-imports': 'off',
      // Type-only imports are written as such, so that they vanish from the build and cannot create load-time cycles.
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports', disallowTypeAnnotations: false }],
    },
  },
  {
    files: ['src/model/**'],
    rules: { 'no-restricted-imports': forbid('stores', 'client', 'capture', 'viewer', 'collector', 'cli', 'notify') },
  },
  { files: ['src/stores/**'], rules: { 'no-restricted-imports': forbid('client', 'capture', 'viewer', 'collector', 'cli', 'notify') } },
  { files: ['src/client/**'], rules: { 'no-restricted-imports': forbid('capture', 'viewer', 'collector', 'cli', 'notify') } },
  { files: ['src/capture/**'], rules: { 'no-restricted-imports': forbid('stores', 'viewer', 'collector', 'cli') } },
  { files: ['src/viewer/**'], rules: { 'no-restricted-imports': forbid('stores', 'capture', 'collector', 'cli', 'notify') } },
  // Alerts sit beside the faces: they read the model and the client's types, and no face.
  { files: ['src/notify/**'], rules: { 'no-restricted-imports': forbid('stores', 'capture', 'viewer', 'collector', 'cli') } },
  { files: ['src/collector/**'], rules: { 'no-restricted-imports': forbid('stores', 'capture', 'viewer', 'cli') } },
  {
    files: ['test/**', 'bench/**'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', '@typescript-eslint/no-non-null-assertion': 'off' },
  },
);
