#!/usr/bin/env node
// `npm run example`: builds the package when needed, makes the example's keys on first run, starts the shop.
//
//   node example-app/start.mjs [--data-dir DIR]
//
// PORT (default 3000) and HOST (default 127.0.0.1) choose where it listens; PORT=0 picks a free port.
// The keys live in DIR/.env and the log in DIR/.elmah/elmah.db (DIR defaults to example-app/; both are
// git-ignored). Ctrl-C stops it after the logger has shipped what it holds.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as util from 'node:util';
import { ensureBuilt, ROOT } from './build.mjs';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const ENV_NAMES = ['ELMAH_STORE', 'ELMAH_WRITE_KEY', 'ELMAH_READ_KEY'];

function fail(message, help) {
  console.error(`\n${message}`);
  if (help) console.error(help);
  process.exit(1);
}

function argValue(name) {
  const i = process.argv.indexOf(name);
  return i < 0 ? undefined : process.argv[i + 1];
}

/** A path as a person reads it: relative to the current folder when inside it. */
function shown(path) {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

/** Reads our variables from a dotenv file (util.parseEnv where Node has it, Node 20.12+). */
function readEnv(path) {
  const text = readFileSync(path, 'utf8');
  if (typeof util.parseEnv === 'function') return util.parseEnv(text);
  const values = {};
  for (const line of text.split(/\r?\n/)) {
    const match = /^\s*(?:export\s+)?([A-Z_][A-Z0-9_]*)\s*=\s*(.*?)\s*$/.exec(line);
    if (match) values[match[1]] = match[2].replace(/^(["'])(.*)\1$/, '$2');
  }
  return values;
}

const dataDir = resolve(argValue('--data-dir') ?? HERE);
const envFile = join(dataDir, '.env');
const storeUrl = `sqlite:${join(dataDir, '.elmah', 'elmah.db')}`;
const port = process.env.PORT === undefined || process.env.PORT === '' ? 3000 : Number(process.env.PORT);
const host = process.env.HOST || '127.0.0.1';
if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`PORT must be a port number, got "${process.env.PORT}".`);

// 1. Build the package when dist/ is missing or older than src/ (the app imports the built package).
try {
  await ensureBuilt();
} catch (err) {
  fail(err.message, 'Fix the build (npm run build), then run npm run example again.');
}

// 2. Keys: `express-elmah init` makes a write key and a read key on the first run and keeps them in
//    the env file; later runs find them still working and make nothing.
mkdirSync(dataDir, { recursive: true });
const cli = join(ROOT, JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).bin['express-elmah']);
// --dotenv, not its other name --env-file: Node.js reads `--env-file` itself, even after the script, and
// stops when the file does not exist yet.
const init = spawnSync(process.execPath, [cli, 'init', '--store', storeUrl, '--dotenv', envFile], { stdio: 'inherit' });
if (init.status !== 0)
  fail(
    `express-elmah init failed (exit ${init.status ?? init.signal}).`,
    `Delete ${shown(envFile)} and ${shown(join(dataDir, '.elmah'))} to start afresh.`,
  );

// 3. The logger and the viewer read their keys and store from the environment, as in a real app.
const env = readEnv(envFile);
for (const name of ENV_NAMES) {
  if (!env[name]) fail(`${shown(envFile)} has no ${name}.`, `Delete ${shown(envFile)} and run npm run example again.`);
  process.env[name] = env[name];
}

// 4. Start the shop.
const { createApp } = await import('./app.mjs');
let built;
try {
  built = await createApp();
  await built.logger.ready;
} catch (err) {
  fail(`The example could not start: ${err.code ? `${err.code}: ` : ''}${err.message}`, err.help);
}
const { app, logger, viewer } = built;

const server = app.listen(port, host);
server.on('error', (err) => {
  if (err.code === 'EADDRINUSE') fail(`Port ${port} on ${host} is in use.`, 'Choose another: PORT=3001 npm run example');
  fail(`Could not listen on ${host}:${port}: ${err.message}`);
});
server.on('listening', () => {
  const { port: actual } = server.address();
  // Listening on every interface: a browser on this machine reaches it as localhost.
  const shownHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  const base = `http://${shownHost}:${actual}`;
  console.log('');
  console.log('express-elmah example shop');
  console.log(`  App:        ${base}/`);
  console.log(`  Error log:  ${base}/elmah.axd/`);
  console.log(`  Keys:       ${shown(envFile)}    Log: ${shown(storeUrl.slice('sqlite:'.length))}`);
  console.log('Press Ctrl-C to stop.');
});

let stopping = false;
async function stop(signal) {
  if (stopping) process.exit(130); // a second Ctrl-C does not wait
  stopping = true;
  console.log(`\n${signal}: stopping …`);
  // Never hang on a stuck connection or store.
  setTimeout(() => process.exit(1), 5000).unref();
  server.close();
  server.closeAllConnections();
  const left = await logger.close(2000).catch(() => undefined);
  await viewer.close?.();
  const { sent, dropped, failed } = logger.stats();
  console.log(
    `Stopped. Errors shipped: ${sent}${dropped || failed ? `, dropped: ${dropped}, failed: ${failed}` : ''}.${left === false ? ' Some were still queued.' : ''}`,
  );
  process.exit(0);
}
process.on('SIGINT', () => void stop('SIGINT'));
process.on('SIGTERM', () => void stop('SIGTERM'));
