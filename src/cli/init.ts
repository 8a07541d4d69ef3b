// `express-elmah init`: opens (or creates) the store and makes the two keys an app needs, a write key
// for errorLogger() and a read key for errorViewer(). It never revokes or deletes anything.
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { LocalLogClient } from '../client/local.js';
import { ElmahError, isElmahError } from '../model/errors.js';
import type { KeyRecord } from '../model/keys.js';
import { isLogName } from '../model/message.js';
import { coversLog, hasPermission, type Permission } from '../model/permissions.js';
import type { Store } from '../stores/types.js';
import { addCommonOptions, outputFor, storeUrlFor, withStore, type CommonOptions } from './context.js';
import { checkEnvFileWritable, getEnvValue, octal, readEnvFile, tightenEnvFile, writeEnvFile } from './env-file.js';
import { addKey, describeLogs, keyListing } from './keys.js';
import { usageError, type CliIo, type Output } from './output.js';

interface InitOptions extends CommonOptions {
  log?: string;
  envFile?: string;
  dotenv?: string;
}

/** The two keys init makes: which variable each goes into and what it must carry. */
const ROLES = [
  { role: 'write', variable: 'ELMAH_WRITE_KEY', permission: 'messages_write', use: 'errorLogger() in your app' },
  { role: 'read', variable: 'ELMAH_READ_KEY', permission: 'messages_read', use: 'errorViewer() at /elmah.axd' },
] as const satisfies readonly { role: string; variable: string; permission: Permission; use: string }[];

type Role = (typeof ROLES)[number];

/** Why a key found in the env file cannot be kept (`missing` when there is none), or undefined when it is fine for this store and log. */
async function keyProblem(
  store: Store,
  key: string | undefined,
  role: Role,
  log: string | undefined,
): Promise<string | 'missing' | undefined> {
  if (key === undefined || key === '') return 'missing';
  try {
    // keyCacheMs 0: the answer must reflect the store as it is now.
    const info = await new LocalLogClient(store, key, { keyCacheMs: 0 }).whoami();
    if (!hasPermission(info, role.permission)) return `${role.variable} (key ${info.id}) lacks ${role.permission}`;
    if (log !== undefined && !coversLog(info, log)) return `${role.variable} (key ${info.id}) is limited to ${info.logs.join(', ')}`;
    return undefined;
  } catch (err) {
    if (isElmahError(err) && (err.code === 'ERR_ELMAH_KEY_INVALID' || err.code === 'ERR_ELMAH_KEY_MISSING'))
      return `${role.variable}: ${err.message.replace(/\.$/, '')}`;
    throw err;
  }
}

/** Adds the `init` command to the program. */
export function registerInit(program: Command, io: CliIo): void {
  addCommonOptions(
    program
      .command('init')
      .description('create the store (if needed) and two API keys: a write key for the logger, a read key for the viewer')
      .option('--log <name>', 'limit both keys to this log (default: every log)')
      .option(
        '--env-file <path>',
        'write ELMAH_WRITE_KEY, ELMAH_READ_KEY and ELMAH_STORE (the store by its absolute location) into this dotenv file instead of printing them',
      )
      .option(
        '--dotenv <path>',
        'the same as --env-file (Node.js itself stops with "node: PATH: not found" when --env-file names a file that does not exist yet)',
      )
      .addHelpText(
        'after',
        '\nRunning init again never revokes or deletes anything. With --env-file, keys already in the file that\n' +
          'still work with this store are kept, and no new keys are made.',
      ),
  ).action(async function init(options: InitOptions) {
    const out = outputFor(io, options);
    const log = options.log?.trim();
    if (log !== undefined && !isLogName(log)) {
      throw new ElmahError('ERR_ELMAH_LOG_NAME', `Invalid log name "${options.log}".`, {
        help: 'A log name is 1-100 letters, digits, dots, underscores or dashes.',
      });
    }
    if (options.envFile !== undefined && options.dotenv !== undefined && options.envFile !== options.dotenv) {
      throw usageError('--env-file and --dotenv name different files.', 'Give one of them; they are the same option.');
    }
    const envFile = options.envFile ?? options.dotenv;
    const envPath = envFile === undefined ? undefined : resolve(io.cwd, envFile);
    const envText = envPath === undefined ? undefined : readEnvFile(envPath);
    const fileStore = envText === undefined ? undefined : getEnvValue(envText, 'ELMAH_STORE');
    const url = storeUrlFor(options.store, io, fileStore, envPath && dirname(envPath));
    // Fail before any key is made when the file cannot be written, so no secret is lost.
    if (envPath !== undefined) checkEnvFileWritable(envPath);
    // The file holds (or will hold) keys: nobody but its owner may read it.
    const loosened = envPath === undefined ? undefined : tightenEnvFile(envPath);
    if (loosened !== undefined) out.note(`${envPath} could be read by other users (mode ${octal(loosened)}); it is now 0600.`);

    await withStore(url, out, async (store) => {
      const before = await store.listKeys();
      // Keys in the env file that no longer work (revoked, expired, from another store) are replaced.
      const replaced: string[] = [];
      if (envText !== undefined) {
        let keep = true;
        for (const role of ROLES) {
          const problem = await keyProblem(store, getEnvValue(envText, role.variable), role, log);
          if (problem !== undefined) keep = false;
          if (problem !== undefined && problem !== 'missing') replaced.push(problem);
        }
        if (keep) return keepExisting(out, store, envPath!, envText, storeUrlForFile(url));
      }

      const made = [];
      for (const role of ROLES) {
        const name = `${role.role} key${log ? ` for ${log}` : ''} (init)`;
        made.push({ role, ...(await addKey(store, { name, permissions: [role.permission], logs: log ? [log] : [] })) });
      }

      if (envPath === undefined) {
        out.data({
          store: store.describe(),
          created: true,
          envFile: null,
          keysBefore: before.length,
          keys: made.map((m) => ({ ...keyListing(m.record), variable: m.role.variable, key: m.key })),
        });
        printKeys(out, store, made, options.store, before.length);
        return;
      }

      const values: Record<string, string> = {};
      for (const m of made) values[m.role.variable] = m.key;
      // The file names the store these keys belong to by its absolute location, so an app started from
      // another folder (or reading the file with node --env-file) opens this store, not a new empty one.
      const fileUrl = storeUrlForFile(url);
      if (fileUrl !== undefined) values.ELMAH_STORE = fileUrl;
      let written;
      try {
        written = writeEnvFile(envPath, values);
      } catch (err) {
        throw new ElmahError(
          'ERR_ELMAH_CLI',
          `${(err as Error).message} Keys ${made.map((m) => m.record.id).join(' and ')} were created but not saved.`,
          {
            help: `Revoke them with \`express-elmah keys revoke ID\`, fix the file's permissions and run init again.`,
            cause: err,
          },
        );
      }
      out.data({
        store: store.describe(),
        created: true,
        envFile: envPath,
        keysBefore: before.length,
        replaced,
        keys: made.map((m) => ({ ...keyListing(m.record), variable: m.role.variable })),
      });
      out.line(`Store: ${store.describe()}`);
      for (const p of replaced) out.line(`Replacing a key in ${envPath}: ${p}. (The old key was left as it is in the store.)`);
      for (const m of made)
        out.line(`Created ${m.role.role} key ${m.record.id} (${m.role.permission}, ${describeLogs(m.record.logs)}) for ${m.role.use}.`);
      out.line(
        `Wrote ${Object.keys(values).join(', ')} to ${envPath}${written.created ? ' (new file, mode 0600)' : ''}; the secrets are not shown here.`,
      );
      if (before.length > 0) out.line(`The store already held ${before.length} key${before.length === 1 ? '' : 's'}; none were changed.`);
    });
  });
}

/**
 * The store URL as the env file should hold it: the URL init opened (a SQLite path already absolute), or
 * undefined for a store in memory, which nothing else can open.
 */
function storeUrlForFile(url: string): string | undefined {
  return url === 'memory:' || url === 'sqlite::memory:' ? undefined : url;
}

/**
 * The env file already holds a working pair: say so and make nothing. Its ELMAH_STORE is set to the store's
 * absolute location when it names none or names it another way (a relative path, from an older init).
 */
function keepExisting(out: Output, store: Store, envPath: string, envText: string, fileUrl: string | undefined): void {
  const storeUpdated = fileUrl !== undefined && getEnvValue(envText, 'ELMAH_STORE') !== fileUrl;
  if (storeUpdated) writeEnvFile(envPath, { ELMAH_STORE: fileUrl });
  const ids = ROLES.map((role) => ({ role, id: /^elmah_([a-z2-7]{8})_/.exec(getEnvValue(envText, role.variable) ?? '')?.[1] ?? '' }));
  out.data({
    store: store.describe(),
    created: false,
    envFile: envPath,
    storeUpdated,
    keys: ids.map(({ role, id }) => ({ id, variable: role.variable })),
  });
  out.line(`Store: ${store.describe()}`);
  out.line(
    `${envPath} already holds a working write key (${ids[0]!.id}) and read key (${ids[1]!.id}) for this store; nothing was created.`,
  );
  if (storeUpdated) out.line(`Set ELMAH_STORE in ${envPath} to ${store.describe()}, where these keys live.`);
}

/** Prints the new keys once, as lines to copy into the app's environment. */
function printKeys(
  out: Output,
  store: Store,
  made: { role: Role; key: string; record: KeyRecord }[],
  storeOption: string | undefined,
  keysBefore: number,
): void {
  out.line(`Store: ${store.describe()}`);
  if (keysBefore > 0) out.line(`It already held ${keysBefore} key${keysBefore === 1 ? '' : 's'}; none were changed.`);
  out.line();
  out.line('Created two API keys. Each is shown this once: copy them now.');
  for (const m of made) {
    out.line();
    out.line(
      `${m.role.role === 'write' ? 'Write' : 'Read'} key ${m.record.id} (${m.role.permission}, ${describeLogs(m.record.logs)}), for ${m.role.use}:`,
    );
    out.line(`  ${m.role.variable}=${m.key}`);
  }
  if (storeOption !== undefined) {
    out.line();
    out.line('Store, for the app to find it:');
    out.line(`  ELMAH_STORE=${storeOption}`);
  }
  out.line();
  out.line("Put these lines in the app's environment, e.g. a .env file kept out of version control");
  out.line('(`express-elmah init --dotenv .env` writes them there for you).');
}
