// Alerts on the command line: the flags `serve` and `notify test` share (each overrides its ELMAH_*
// variable), and `express-elmah notify test`, which sends one sample notification through each channel.
import { hostname } from 'node:os';
import { Option, type Command } from 'commander';
import { ElmahError } from '../model/errors.js';
import { newMessageId } from '../model/id.js';
import { Notifier } from '../notify/notifier.js';
import { notifyConfig, notifyFromEnv, type NotifyConfig, type NotifyOptions } from '../notify/options.js';
import type { Notification } from '../notify/types.js';
import { Output, usageError, type CliIo } from './output.js';

/** The alert flags of `serve` and `notify test`. */
export interface NotifyFlags {
  smtpUrl?: string;
  mailTo?: string;
  mailFrom?: string;
  webhookUrl?: string;
  webhookSecret?: string;
  webhookFormat?: string;
  baseUrl?: string;
  /** False with `--no-notify`. */
  notify?: boolean;
}

/** Adds the alert flags to a command. */
export function addNotifyOptions(command: Command): Command {
  return command
    .addOption(new Option('--mail-to <addresses>', 'mail alerts to these addresses, comma-separated (default: ELMAH_MAIL_TO)'))
    .addOption(new Option('--mail-from <address>', 'sender of alert mail (default: ELMAH_MAIL_FROM)'))
    .addOption(
      new Option(
        '--smtp-url <url>',
        'SMTP server for alert mail, smtp://user:pass@host:port (default: ELMAH_SMTP_URL, which keeps the password out of the process list; prefer it)',
      ),
    )
    .addOption(new Option('--webhook-url <url>', 'post alerts to this URL (default: ELMAH_WEBHOOK_URL)'))
    .addOption(
      new Option('--webhook-format <format>', 'json, slack or teams (default: ELMAH_WEBHOOK_FORMAT, else json)').choices([
        'json',
        'slack',
        'teams',
      ]),
    )
    .addOption(new Option('--webhook-secret <secret>', 'sign webhook bodies with this secret (default: ELMAH_WEBHOOK_SECRET; prefer it)'))
    .addOption(new Option('--base-url <url>', "the viewer's address, for the link in each alert (default: ELMAH_VIEWER_URL)"))
    .addOption(new Option('--no-notify', 'send no alerts, whatever the environment says'));
}

/**
 * The notify option the flags and the environment describe (a flag overrides its variable): false with
 * `--no-notify`, undefined when they name no channel.
 */
export function notifyOptionOf(flags: NotifyFlags, env: Readonly<Record<string, string | undefined>>): NotifyOptions | false | undefined {
  if (flags.notify === false) return false;
  const merged: NodeJS.ProcessEnv = {
    ELMAH_SMTP_URL: flags.smtpUrl ?? env.ELMAH_SMTP_URL,
    ELMAH_MAIL_TO: flags.mailTo ?? env.ELMAH_MAIL_TO,
    ELMAH_MAIL_FROM: flags.mailFrom ?? env.ELMAH_MAIL_FROM,
    ELMAH_WEBHOOK_URL: flags.webhookUrl ?? env.ELMAH_WEBHOOK_URL,
    ELMAH_WEBHOOK_SECRET: flags.webhookSecret ?? env.ELMAH_WEBHOOK_SECRET,
    ELMAH_WEBHOOK_FORMAT: flags.webhookFormat ?? env.ELMAH_WEBHOOK_FORMAT,
  };
  if (!merged.ELMAH_SMTP_URL && merged.ELMAH_MAIL_TO) {
    throw usageError(
      '--mail-to (or ELMAH_MAIL_TO) is set, but no SMTP server is.',
      'Set ELMAH_SMTP_URL=smtp://user:pass@host:port, or give --smtp-url.',
    );
  }
  const options = notifyFromEnv(merged);
  if (!options) return undefined;
  const baseUrl = flags.baseUrl ?? env.ELMAH_VIEWER_URL;
  return baseUrl ? { ...options, baseUrl } : options;
}

/** Where alerts go, in a few words, for the line `serve` prints at start (no secrets: origins and addresses only). */
export function describeNotify(option: NotifyOptions): string {
  const parts: string[] = [];
  if (option.mail) parts.push(`mail to ${Array.isArray(option.mail.to) ? option.mail.to.join(', ') : option.mail.to}`);
  const hooks = option.webhook === undefined ? [] : Array.isArray(option.webhook) ? option.webhook : [option.webhook];
  for (const h of hooks) {
    let where = 'an invalid URL';
    try {
      where = new URL(h.url).origin;
    } catch {
      // Refused when the collector checks it.
    }
    parts.push(`${h.format ?? 'json'} webhook ${where}`);
  }
  return parts.join('; ');
}

/** The sample that `notify test` sends. */
export function sampleNotification(config: NotifyConfig): Notification {
  const id = newMessageId();
  const log = 'default';
  const alert = {
    kind: 'new' as const,
    log,
    fingerprint: 'express-elmah-test',
    id,
    title: 'Test notification: express-elmah alerts reach this channel',
    type: 'ElmahTestError',
    statusCode: 500,
    severity: 'Error',
    hostname: hostname(),
    dateTime: new Date().toISOString(),
    ...(config.baseUrl ? { link: `${config.baseUrl}/detail/${id}?log=${log}` } : {}),
  };
  return { id: newMessageId(), subject: `[${log}] Test notification from express-elmah`, alerts: [alert], omitted: 0, test: true };
}

interface TestFlags extends NotifyFlags {
  json?: boolean;
}

/** Adds `express-elmah notify test` to the program. */
export function registerNotify(program: Command, io: CliIo): void {
  const notify = program.command('notify').description('alerts: mail, webhooks (see docs/alerts.md)');
  addNotifyOptions(
    notify
      .command('test')
      .description('send one sample notification through each configured channel, and say how each went')
      .option('--json', 'print the result as JSON'),
  ).action(async function notifyTest(flags: TestFlags) {
    const out = new Output(io, flags.json === true);
    const option = notifyOptionOf(flags, io.env);
    const config = option ? notifyConfig('notify test', option, {}) : undefined;
    if (!config) {
      throw usageError(
        'No alert channel is configured.',
        'Set ELMAH_SMTP_URL and ELMAH_MAIL_TO (mail) or ELMAH_WEBHOOK_URL (webhook), or give --smtp-url/--mail-to or --webhook-url.',
      );
    }
    // One try each: the point is to see what goes wrong, now.
    const notifier = new Notifier({ ...config, maxAttempts: 1 }, { report: () => undefined });
    const results = await notifier.sendNow(sampleNotification(config));
    await notifier.close(0);
    const channels = results.map((r) => ({ channel: r.channel, ok: !r.error, ...(r.error ? { error: r.error.message } : {}) }));
    for (const r of results) out.line(r.error ? `failed  ${r.channel}: ${r.error.message}` : `sent    ${r.channel}`);
    const failed = results.filter((r) => r.error);
    if (failed.length > 0) {
      // In JSON mode the error document is the one output, and carries every channel's result.
      throw new ElmahError('ERR_ELMAH_NOTIFY_FAILED', `${failed.length} of ${results.length} channel(s) failed.`, {
        help: failed[0]!.error!.help,
        details: { channels },
      });
    }
    out.data({ channels });
  });
}
