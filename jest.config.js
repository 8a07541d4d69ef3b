// Test runner: ts-jest over test/**/*.test.ts; Express 5 by default (see jest.express4.config.js). Coverage of
// src/ is collected with V8's own counters (cheap: no instrumented copy of the code) and summarised at the end;
// `coverage/lcov.info` holds the detail for an editor or a CI service.
/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.test.json' }] },
  moduleNameMapper: { '^(\\.{1,2}/.*)\\.js$': '$1' },
  testTimeout: 30000,
  collectCoverage: true,
  coverageProvider: 'v8',
  collectCoverageFrom: ['<rootDir>/src/**/*.ts'],
  coverageReporters: ['text-summary', 'lcov'],
  reporters: ['default', '<rootDir>/test/helpers/postgres-skipped-reporter.js'],
};
