// `express-elmah prune`: applies retention now (age and count per log) and says how many messages went.
import type { Command } from 'commander';
import { ElmahError } from '../model/errors.js';
import { isLogName } from '../model/message.js';
import { DEFAULT_RETENTION } from '../stores/types.js';
import { addCommonOptions, outputFor, parseCount, storeUrlFor, withStore, type CommonOptions } from './context.js';
import type { CliIo } from './output.js';

interface PruneOptions extends CommonOptions {
  days?: string;
  max?: string;
  log?: string;
}

/** Adds the `prune` command to the program. */
export function registerPrune(program: Command, io: CliIo): void {
  addCommonOptions(
    program
      .command('prune')
      .description('remove old messages now: older than --days, and beyond --max per log')
      .option('--days <n>', `remove messages older than n days (default: ${DEFAULT_RETENTION.maxAgeDays})`)
      .option('--max <n>', `keep at most n messages per log, the newest (default: ${DEFAULT_RETENTION.maxCount.toLocaleString('en-US')})`)
      .option('--log <name>', 'prune this log only (default: every log)'),
  ).action(async function prune(options: PruneOptions) {
    const out = outputFor(io, options);
    const maxAgeDays = parseCount(options.days, '--days') ?? DEFAULT_RETENTION.maxAgeDays;
    const maxCount = parseCount(options.max, '--max') ?? DEFAULT_RETENTION.maxCount;
    const log = options.log?.trim();
    if (log !== undefined && !isLogName(log)) {
      throw new ElmahError('ERR_ELMAH_LOG_NAME', `Invalid log name "${options.log}".`, {
        help: 'A log name is 1-100 letters, digits, dots, underscores or dashes.',
      });
    }
    await withStore(storeUrlFor(options.store, io), out, async (store) => {
      const removed = await store.prune({ maxAgeDays, maxCount, log });
      out.data({ removed, maxAgeDays, maxCount, log: log ?? null, store: store.describe() });
      const scope = log === undefined ? 'every log' : `log "${log}"`;
      out.line(
        `Removed ${removed.toLocaleString('en-US')} message${removed === 1 ? '' : 's'} from ${scope} in ${store.describe()} ` +
          `(older than ${maxAgeDays} day${maxAgeDays === 1 ? '' : 's'}, or beyond the newest ${maxCount.toLocaleString('en-US')} per log).`,
      );
    });
  });
}
