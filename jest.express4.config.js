// The same suites that touch Express, run against Express 4 (installed as the `express4` alias).
const base = require('./jest.config.js');
/** @type {import('jest').Config} */
module.exports = {
  ...base,
  testMatch: [
    '**/capture/**/*.test.ts',
    '**/viewer/**/*.test.ts',
    '**/collector/**/*.test.ts',
    '**/client/**/*.test.ts',
    '**/notify/**/*.test.ts',
    '**/cli/serve.test.ts',
  ],
  moduleNameMapper: { ...base.moduleNameMapper, '^express$': 'express4' },
  // The main run reports coverage; this one checks behaviour against Express 4 only.
  collectCoverage: false,
};
