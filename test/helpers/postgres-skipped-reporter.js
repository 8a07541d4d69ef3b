// A jest reporter that ends a run with one line when the PostgreSQL tests were skipped because
// ELMAH_TEST_POSTGRES_URL is not set, so they are never skipped silently.
class PostgresSkippedReporter {
  onRunComplete(_contexts, results) {
    if (process.env.ELMAH_TEST_POSTGRES_URL) return;
    let skipped = 0;
    for (const file of results.testResults) {
      if (/postgres|multi-instance/i.test(file.testFilePath)) skipped += file.numPendingTests;
    }
    if (skipped === 0) return;
    process.stderr.write(
      `\nPostgreSQL: ${skipped} tests skipped, as ELMAH_TEST_POSTGRES_URL is not set. To run them:\n` +
        '  ELMAH_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test npm test\n',
    );
  }
}

module.exports = PostgresSkippedReporter;
