// `express-elmah keys create | list | revoke`: API key management, straight on the store (the CLI is its administrator).
import type { Command } from 'commander';
import { ElmahError } from '../model/errors.js';
import { createKey, keyIdOf, parseDuration, type KeyRecord } from '../model/keys.js';
import { isLogName } from '../model/message.js';
import { DEFAULT_PERMISSIONS, parsePermissions, type Permission } from '../model/permissions.js';
import type { KeyStore } from '../stores/types.js';
import { addCommonOptions, outputFor, storeUrlFor, withStore, type CommonOptions } from './context.js';
import { table, type CliIo } from './output.js';

/** The public view of a key that `keys list` shows: never the secret or its hash. */
export interface KeyListing {
  id: string;
  name: string;
  permissions: Permission[];
  /** Empty means every log. */
  logs: string[];
  created: string;
  expires: string | null;
  revoked: string | null;
  status: 'active' | 'expired' | 'revoked';
}

/** A key record without its hash, with its status at `now`. */
export function keyListing(record: KeyRecord, now: Date = new Date()): KeyListing {
  const expired = record.expires !== undefined && Date.parse(record.expires) <= now.getTime();
  return {
    id: record.id,
    name: record.name,
    permissions: [...record.permissions],
    logs: [...record.logs],
    created: record.created,
    expires: record.expires ?? null,
    revoked: record.revoked ?? null,
    status: record.revoked ? 'revoked' : expired ? 'expired' : 'active',
  };
}

/** Log names from repeated and comma-separated `--log` values, checked. */
export function parseLogs(values: readonly string[] | undefined): string[] {
  const logs = [
    ...new Set(
      (values ?? [])
        .flatMap((v) => v.split(','))
        .map((s) => s.trim())
        .filter(Boolean),
    ),
  ];
  for (const log of logs) {
    if (!isLogName(log)) {
      throw new ElmahError('ERR_ELMAH_LOG_NAME', `Invalid log name "${log}".`, {
        help: 'A log name is 1-100 letters, digits, dots, underscores or dashes.',
      });
    }
  }
  return logs;
}

/** An expiry from a duration (`30d`, `12h`, `1w`) or an ISO date, which must lie in the future. */
export function parseExpiry(text: string | undefined, now: Date = new Date()): Date | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  const at = ms !== undefined ? new Date(now.getTime() + ms) : /^\d{4}-\d{2}-\d{2}/.test(text.trim()) ? new Date(text.trim()) : undefined;
  if (at === undefined || Number.isNaN(at.getTime())) {
    throw new ElmahError('ERR_ELMAH_KEY_EXPIRY', `Invalid expiry "${text}".`, {
      help: 'Give a duration such as 30d, 12h or 1w, or an ISO date such as 2027-01-31.',
    });
  }
  if (at.getTime() <= now.getTime()) {
    throw new ElmahError('ERR_ELMAH_KEY_EXPIRY', `The expiry ${at.toISOString()} is not in the future.`, {
      help: 'Give a later date or a duration such as 30d.',
    });
  }
  return at;
}

/** "all logs" or the list. */
export function describeLogs(logs: readonly string[]): string {
  return logs.length === 0 ? 'all logs' : logs.join(', ');
}

/** Creates a key and stores its record (hash only); returns the key string, to be shown once. */
export async function addKey(
  store: KeyStore,
  options: { name: string; permissions: readonly Permission[]; logs: readonly string[]; expires?: Date | undefined },
): Promise<{ key: string; record: KeyRecord }> {
  const made = createKey({ name: options.name, permissions: options.permissions, logs: options.logs, expires: options.expires });
  await store.putKey(made.record);
  return made;
}

interface CreateOptions extends CommonOptions {
  name: string;
  permissions?: string;
  log?: string[];
  expires?: string;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Adds the `keys` command and its subcommands to the program. */
export function registerKeys(program: Command, io: CliIo): void {
  const keys = program
    .command('keys')
    .description('create, list and revoke API keys')
    .addHelpText('after', '\nA key is shown once, when it is created; the store keeps only a hash of its secret.');

  addCommonOptions(
    keys
      .command('create')
      .description('create an API key and print it once')
      .requiredOption('--name <name>', 'a name that says who uses the key, e.g. "billing-api writer"')
      .option(
        '--permissions <list>',
        `comma-separated permissions (default: ${DEFAULT_PERMISSIONS.join(',')}); any of messages_write, messages_read, messages_delete, logs_read`,
      )
      .option('--log <name>', 'limit the key to a log (repeat it, or give a comma-separated list; default: every log)', collect)
      .option('--expires <when>', 'expiry: a duration such as 30d, 12h, 1w, or an ISO date (default: never)'),
  ).action(async function keysCreate(options: CreateOptions) {
    const out = outputFor(io, options);
    const name = options.name.trim();
    // eslint-disable-next-line no-control-regex
    if (name === '' || name.length > 100 || /[\u0000-\u001f\u007f]/.test(name)) {
      throw new ElmahError('ERR_ELMAH_KEY_NAME', 'The key name must be 1-100 characters on one line.', {
        help: 'Give --name a few words that say who uses the key.',
      });
    }
    const permissions = options.permissions === undefined ? [...DEFAULT_PERMISSIONS] : parsePermissions(options.permissions);
    const logs = parseLogs(options.log);
    const expires = parseExpiry(options.expires);
    const url = storeUrlFor(options.store, io);
    await withStore(url, out, async (store) => {
      const { key, record } = await addKey(store, { name, permissions, logs, expires });
      out.data({ ...keyListing(record), key, store: store.describe() });
      out.line(`Created key ${record.id} "${record.name}" in ${store.describe()}`);
      out.line(`  permissions: ${record.permissions.join(', ')}`);
      out.line(`  logs:        ${describeLogs(record.logs)}`);
      out.line(`  expires:     ${record.expires ?? 'never'}`);
      out.line();
      out.line('The key is shown this once; copy it now:');
      out.line();
      out.line(`  ${key}`);
    });
  });

  addCommonOptions(keys.command('list').description('list API keys (never their secrets)')).action(async function keysList(
    options: CommonOptions,
  ) {
    const out = outputFor(io, options);
    await withStore(storeUrlFor(options.store, io), out, async (store) => {
      const now = new Date();
      const listing = (await store.listKeys()).map((r) => keyListing(r, now));
      out.data(listing);
      if (listing.length === 0) {
        out.line(`No keys in ${store.describe()}. Create some with \`express-elmah init\` or \`express-elmah keys create\`.`);
        return;
      }
      out.line(
        table(
          ['ID', 'NAME', 'PERMISSIONS', 'LOGS', 'CREATED', 'EXPIRES', 'STATUS'],
          listing.map((k) => [
            k.id,
            k.name,
            k.permissions.join(','),
            k.logs.length ? k.logs.join(',') : '*',
            k.created,
            k.expires ?? '-',
            k.revoked ? `revoked ${k.revoked}` : k.status,
          ]),
        ),
      );
    });
  });

  addCommonOptions(
    keys
      .command('revoke')
      .description('revoke an API key; apps using it are refused from then on')
      .argument('<id>', 'the key id shown by `keys list` (8 characters)'),
  ).action(async function keysRevoke(idArg: string, options: CommonOptions) {
    const out = outputFor(io, options);
    // A whole key string is accepted too; only its public id is used or shown.
    const id = keyIdOf(idArg) ?? idArg.trim();
    await withStore(storeUrlFor(options.store, io), out, async (store) => {
      const before = await store.getKey(id);
      if (!before) {
        throw new ElmahError('ERR_ELMAH_KEY_NOT_FOUND', `No key with id "${id}" in ${store.describe()}.`, {
          help: 'Run `express-elmah keys list` (with the same --store) to see the key ids.',
        });
      }
      if (!before.revoked) await store.revokeKey(id);
      const after = (await store.getKey(id)) ?? before;
      out.data({ ...keyListing(after), alreadyRevoked: Boolean(before.revoked) });
      if (before.revoked) out.line(`Key ${id} "${after.name}" was already revoked on ${before.revoked}; nothing changed.`);
      else out.line(`Revoked key ${id} "${after.name}". Apps using it are refused from now on.`);
    });
  });
}
