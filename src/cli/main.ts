#!/usr/bin/env node
// The `express-elmah` executable: runs the CLI with this process's arguments and exits with its code.
import { run } from './program.js';

// Output piped into a command that stops reading early (`| head`) is not a failure.
process.stdout.on('error', function onStdoutError(err: NodeJS.ErrnoException) {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

void run(process.argv.slice(2)).then((code) => {
  // exitCode rather than exit(): stdout is flushed first, and a running server (serve) keeps the process alive.
  process.exitCode = code;
});
