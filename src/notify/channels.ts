// The channels a notification goes out through: mail over SMTP (nodemailer, loaded on first use so that an
// app without mail pays nothing at start), a webhook (signed JSON, Slack or Teams) and a plain function. A
// channel sends once; the Notifier retries. A failure says whether a retry may cure it.
import { ElmahError } from '../model/errors.js';
import { jsonBody, mailHtml, mailText, slackBody, teamsBody } from './format.js';
import type { NotifyConfig } from './options.js';
import { SIGNATURE_HEADER, signBody } from './signature.js';
import type { Notification } from './types.js';

/** One way out. */
export interface Channel {
  /** For messages: `mail`, `webhook https://hooks.example.com` (no path, which may hold a secret), `handler`. */
  readonly name: string;
  /**
   * Sends once; rejects with an ElmahError whose `transient` says whether to try again. `signal` aborts when the
   * notifier closes without waiting any longer: a channel then drops its connection.
   */
  send(notification: Notification, timeoutMs: number, signal?: AbortSignal): Promise<void>;
  close?(): Promise<void>;
}

function failed(message: string, transient: boolean, cause?: unknown, retryAfter?: number): ElmahError {
  return new ElmahError('ERR_ELMAH_NOTIFY_FAILED', message.slice(0, 500), {
    transient,
    cause,
    ...(retryAfter === undefined ? {} : { retryAfter }),
    help: 'Check the channel (SMTP server, webhook URL) and its credentials; alerts that failed are not tried again.',
  });
}

/** Seconds to wait from a `Retry-After` header (seconds or an HTTP date), or undefined. */
export function retryAfterSeconds(value: string | null, now: number = Date.now()): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.ceil((at - now) / 1000));
}

/** Where a URL points, without path or query (a Slack or Teams URL carries its secret there). */
function origin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return 'an invalid URL';
  }
}

interface MailTransport {
  sendMail(mail: Record<string, unknown>): Promise<unknown>;
  close(): void;
}

type Nodemailer = { createTransport(url: string | Record<string, unknown>): MailTransport };

/** Loads nodemailer on first use. */
async function loadNodemailer(): Promise<Nodemailer> {
  try {
    return require('nodemailer') as Nodemailer;
  } catch {
    // An ESM build has no require.
  }
  const mod = (await import('nodemailer')) as unknown as Nodemailer & { default?: Nodemailer };
  return mod.default ?? mod;
}

/** SMTP reply codes 4xx are temporary (RFC 5321); a 5xx is a refusal that a retry will not change. */
function smtpTransient(err: unknown): boolean {
  const e = err as { responseCode?: unknown; code?: unknown };
  if (typeof e.responseCode === 'number') return e.responseCode < 500;
  // EAUTH (credentials refused) and EENVELOPE (addresses refused) will fail the same way again.
  return e.code !== 'EAUTH' && e.code !== 'EENVELOPE';
}

/** Mail over SMTP. */
export function mailChannel(mail: NonNullable<NotifyConfig['mail']>): Channel {
  let transport: MailTransport | undefined;
  let host = 'the SMTP server';
  try {
    const u = new URL(mail.url);
    host = `${u.hostname}:${u.port || (u.protocol === 'smtps:' ? 465 : 587)}`;
  } catch {
    // Checked when resolved; keep the generic name.
  }
  return {
    name: `mail via ${host}`,
    async send(n, timeoutMs, signal) {
      if (!transport) {
        const nodemailer = await loadNodemailer();
        const u = new URL(mail.url);
        transport = nodemailer.createTransport({
          host: u.hostname,
          port: u.port ? Number(u.port) : u.protocol === 'smtps:' ? 465 : 587,
          secure: u.protocol === 'smtps:',
          // The URL's escapes were checked when the option was resolved.
          ...(u.username ? { auth: { user: decodeURIComponent(u.username), pass: decodeURIComponent(u.password) } } : {}),
          connectionTimeout: timeoutMs,
          greetingTimeout: timeoutMs,
          socketTimeout: timeoutMs,
        });
      }
      try {
        await transport.sendMail({
          from: mail.from,
          to: mail.to,
          subject: n.subject,
          text: mailText(n),
          html: mailHtml(n),
          // The notification's id, the same on every retry: a mail system (or reader) can tell a repeat.
          messageId: `<${n.id}@express-elmah>`,
          // Aborting closes the SMTP connection of this send.
          ...(signal ? { signal } : {}),
        });
      } catch (err) {
        if (signal?.aborted) throw failed(`Sending the alert mail via ${host} was stopped: the notifier closed.`, false, err);
        const e = err as { message?: unknown };
        throw failed(`Sending the alert mail via ${host} failed: ${String(e.message ?? err)}`, smtpTransient(err), err);
      }
    },
    async close() {
      transport?.close();
      transport = undefined;
    },
  };
}

/** A webhook: POSTs the body in its format; a secret signs it. 5xx, 408, 429 and network failures are retried. */
export function webhookChannel(hook: NotifyConfig['webhooks'][number]): Channel {
  const render = hook.format === 'slack' ? slackBody : hook.format === 'teams' ? teamsBody : jsonBody;
  const where = origin(hook.url);
  return {
    name: `${hook.format} webhook ${where}`,
    async send(n, timeoutMs, signal) {
      const body = render(n);
      const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'express-elmah' };
      // Signed afresh on each try, so that a retry is not refused as a replay.
      if (hook.secret) headers[SIGNATURE_HEADER] = signBody(body, hook.secret);
      const { signal: both, release } = withDeadline(timeoutMs, signal);
      let res: Response;
      try {
        res = await fetch(hook.url, { method: 'POST', headers, body, redirect: 'error', signal: both });
      } catch (err) {
        // Never the error's text: fetch quotes the whole URL, whose path (Slack, Teams) is the secret.
        const [what, transient] = fetchFailure(err, timeoutMs, signal);
        throw failed(`Posting the alert to ${where} failed: ${what}`, transient);
      } finally {
        release();
      }
      // The answer is not needed: its body is not read (it could be of any size), only let go of.
      await res.body?.cancel().catch(() => undefined);
      if (res.ok) return;
      const transient = res.status >= 500 || res.status === 408 || res.status === 429;
      throw failed(
        `The webhook at ${where} answered ${res.status}`,
        transient,
        undefined,
        retryAfterSeconds(res.headers.get('retry-after')),
      );
    },
  };
}

/** A signal that aborts after `ms` (a TimeoutError) or when `outer` aborts; release() clears its timer. */
function withDeadline(ms: number, outer: AbortSignal | undefined): { signal: AbortSignal; release: () => void } {
  const controller = new AbortController();
  const onOuter = (): void => controller.abort(outer?.reason);
  const timer = setTimeout(() => controller.abort(new DOMException(`no answer within ${ms} ms`, 'TimeoutError')), ms);
  timer.unref();
  outer?.addEventListener('abort', onOuter, { once: true });
  if (outer?.aborted) onOuter();
  return {
    signal: controller.signal,
    release: () => {
      clearTimeout(timer);
      outer?.removeEventListener('abort', onOuter);
    },
  };
}

/**
 * What a failed fetch says, and whether a retry may cure it, without its message (which names the URL): the
 * timeout, the close, the network error's code (ECONNREFUSED, ENOTFOUND …), or the error's name.
 */
function fetchFailure(err: unknown, timeoutMs: number, closing: AbortSignal | undefined): [string, boolean] {
  if (closing?.aborted) return ['stopped: the notifier closed', false];
  const e = err as { name?: unknown; cause?: { code?: unknown; message?: unknown } };
  if (e?.name === 'TimeoutError') return [`no answer within ${timeoutMs} ms`, true];
  const code = e?.cause?.code;
  if (typeof code === 'string' && /^[A-Z0-9_]{1,40}$/.test(code)) return [`network error ${code}`, true];
  // A network failure whose cause has no code (a reset, a refused port) may pass; a request fetch would not even
  // build (a TypeError without a cause) will fail the same way again. The cause's text is kept only when it is
  // short and cannot hold a path, a query or credentials ("bad port").
  const name = typeof e?.name === 'string' && /^\w{1,40}$/.test(e.name) ? e.name : 'Error';
  if (e?.cause === undefined) return [`the request could not be made (${name})`, false];
  const text = e.cause.message;
  return [`network error (${typeof text === 'string' && /^[\w .,:-]{1,80}$/.test(text) ? text : name})`, true];
}

/** The `handler` option: a function given each notification. */
export function handlerChannel(handler: NonNullable<NotifyConfig['handler']>): Channel {
  return {
    name: 'handler',
    async send(n) {
      try {
        await handler(n);
      } catch (err) {
        throw failed(`The notify handler threw: ${err instanceof Error ? err.message : String(err)}`, true, err);
      }
    },
  };
}

/** Every channel a config names. */
export function channelsOf(config: NotifyConfig): Channel[] {
  const channels: Channel[] = [];
  if (config.mail) channels.push(mailChannel(config.mail));
  for (const hook of config.webhooks) channels.push(webhookChannel(hook));
  if (config.handler) channels.push(handlerChannel(config.handler));
  return channels;
}
