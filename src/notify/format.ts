// How a notification reads in each channel: a mail (subject, text and HTML parts), a generic JSON body, a
// Slack message and a Microsoft Teams Adaptive Card. Everything in an alert is text from the error (already
// redacted, but attacker-controlled): each format escapes it for its own markup, so it renders as text.
import type { Alert, Notification } from './types.js';

/** Most alerts listed in one digest; the rest are counted in `omitted`. */
export const MAX_LISTED = 20;
/** Longest title shown, characters. */
const TITLE_CHARS = 300;

/** One line of at most `max` characters: control characters become spaces. */
export function oneLine(text: string | undefined, max = TITLE_CHARS): string {
  // eslint-disable-next-line no-control-regex
  const flat = (text ?? '').replace(/[\u0000-\u001f\u007f\u2028\u2029]+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** What happened, in a few words. */
export function describeKind(alert: Alert): string {
  switch (alert.kind) {
    case 'new':
      return 'New error';
    case 'regressed':
      return 'Regression';
    case 'spike':
      return `Spike: ${alert.count ?? 0} in ${alert.minutes ?? 0} min`;
    case 'occurrence':
      return 'Error';
  }
}

/** The name of the error: its title, else its type. */
function nameOf(alert: Alert): string {
  return oneLine(alert.title) || oneLine(alert.type) || 'Error';
}

/** The subject of a notification of `alerts` (plain text, one line). */
export function subjectOf(alerts: readonly Alert[], total: number): string {
  const first = alerts[0];
  if (!first) return 'express-elmah';
  if (total === 1) return oneLine(`[${first.log}] ${describeKind(first)}: ${nameOf(first)}`, 200);
  const logs = [...new Set(alerts.map((a) => a.log))];
  return oneLine(`[${logs.length === 1 ? logs[0]! : `${logs.length} logs`}] ${total} alerts: ${nameOf(first)} and more`, 200);
}

/** The facts of an alert, in order, as plain text pairs. */
export function factsOf(alert: Alert): Array<[string, string]> {
  const facts: Array<[string, string | number | undefined]> = [
    ['Log', alert.log],
    ['Type', alert.type],
    ['Status', alert.statusCode],
    ['Severity', alert.severity],
    ['Request', alert.method && alert.url ? `${alert.method} ${alert.url}` : alert.url],
    ['Application', alert.application],
    ['Version', alert.version],
    ['Host', alert.hostname],
    ['Time', alert.dateTime],
  ];
  return facts
    .filter((f): f is [string, string | number] => f[1] !== undefined && f[1] !== '')
    .map(([k, v]) => [k, oneLine(String(v), 500)]);
}

/** The mail's text part. */
export function mailText(n: Notification): string {
  const lines: string[] = [];
  if (n.test) lines.push('This is a test notification from express-elmah.', '');
  for (const alert of n.alerts) {
    lines.push(`${describeKind(alert)}: ${nameOf(alert)}`);
    for (const [k, v] of factsOf(alert)) lines.push(`  ${k}: ${v}`);
    if (alert.link) lines.push(`  View: ${alert.link}`);
    lines.push('');
  }
  if (n.omitted > 0) lines.push(`…and ${n.omitted} more alert(s); see the viewer.`, '');
  lines.push('Sent by express-elmah.');
  return lines.join('\n');
}

/** Escapes text for HTML content and attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The mail's HTML part: inline styles only (mail clients ignore style sheets), every value escaped. */
export function mailHtml(n: Notification): string {
  const e = escapeHtml;
  const parts: string[] = [];
  parts.push(
    '<!doctype html><html><head><meta charset="utf-8"><title>' + e(n.subject) + '</title></head>',
    '<body style="margin:0;padding:16px;background:#f4f4f5;font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#18181b">',
  );
  if (n.test) parts.push('<p style="margin:0 0 12px;color:#52525b">This is a test notification from express-elmah.</p>');
  for (const alert of n.alerts) {
    const colour = alert.kind === 'regressed' || alert.kind === 'spike' ? '#b45309' : '#b91c1c';
    parts.push(
      '<div style="background:#fff;border:1px solid #e4e4e7;border-left:4px solid ' +
        colour +
        ';border-radius:6px;padding:14px 16px;margin:0 0 12px;max-width:720px">',
      `<div style="font-size:12px;font-weight:600;text-transform:uppercase;letter-spacing:.04em;color:${colour}">${e(describeKind(alert))}</div>`,
      `<div style="font-size:17px;font-weight:600;margin:4px 0 10px;word-break:break-word">${e(nameOf(alert))}</div>`,
      '<table style="border-collapse:collapse;font-size:13px">',
    );
    for (const [k, v] of factsOf(alert)) {
      parts.push(
        `<tr><td style="padding:2px 12px 2px 0;color:#71717a;vertical-align:top">${e(k)}</td><td style="padding:2px 0;word-break:break-all">${e(v)}</td></tr>`,
      );
    }
    parts.push('</table>');
    if (alert.link) {
      parts.push(
        `<p style="margin:12px 0 0"><a href="${e(alert.link)}" style="display:inline-block;background:#18181b;color:#fff;text-decoration:none;padding:6px 12px;border-radius:4px;font-size:13px">View in the error log</a></p>`,
      );
    }
    parts.push('</div>');
  }
  if (n.omitted > 0) parts.push(`<p style="color:#52525b">…and ${n.omitted} more alert(s); see the viewer.</p>`);
  parts.push('<p style="font-size:12px;color:#a1a1aa">Sent by express-elmah.</p></body></html>');
  return parts.join('\n');
}

/** The generic JSON body: the notification as data. */
export function jsonBody(n: Notification): string {
  return JSON.stringify({
    type: 'express-elmah.alert',
    id: n.id,
    subject: n.subject,
    test: n.test === true,
    alerts: n.alerts,
    omitted: n.omitted,
  });
}

/** Escapes text for Slack's mrkdwn: `&`, `<` and `>` (Slack's reserved characters) become entities. */
export function escapeSlack(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** A Slack incoming-webhook message: `text` (the fallback for notifications) and `blocks`. */
export function slackBody(n: Notification): string {
  const s = escapeSlack;
  const blocks: unknown[] = [];
  if (n.test) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: 'This is a test notification from express-elmah.' }] });
  for (const alert of n.alerts.slice(0, 10)) {
    const facts = factsOf(alert)
      .map(([k, v]) => `*${s(k)}:* ${s(v)}`)
      .join('\n');
    const link = alert.link ? `\n<${s(alert.link)}|View in the error log>` : '';
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: `*${s(describeKind(alert))}:* ${s(nameOf(alert))}\n${facts}${link}`.slice(0, 3000) },
    });
  }
  const more = n.omitted + Math.max(0, n.alerts.length - 10);
  if (more > 0) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `…and ${more} more alert(s).` }] });
  return JSON.stringify({ text: s(n.subject), blocks });
}

/**
 * Escapes text for an Adaptive Card TextBlock, whose text is Markdown (a subset: emphasis, links, lists):
 * the characters of emphasis, links, code and autolinks get a backslash, and so does a list or heading
 * marker at the start. Other punctuation is left alone, so that it does not show as `\.` where a renderer
 * ignores escapes.
 */
export function escapeTeams(text: string): string {
  return text
    .replace(/[\\`*_[\]()~<>&]/g, (c) => `\\${c}`)
    .replace(/^(\s*)([-+#])/, '$1\\$2')
    .replace(/^(\s*\d+)\./, '$1\\.');
}

/** A Microsoft Teams incoming-webhook message carrying an Adaptive Card. */
export function teamsBody(n: Notification): string {
  const t = escapeTeams;
  const body: unknown[] = [{ type: 'TextBlock', size: 'Medium', weight: 'Bolder', wrap: true, text: t(n.subject) }];
  if (n.test) body.push({ type: 'TextBlock', isSubtle: true, wrap: true, text: 'This is a test notification from express-elmah.' });
  const actions: unknown[] = [];
  for (const alert of n.alerts.slice(0, 10)) {
    body.push(
      { type: 'TextBlock', wrap: true, weight: 'Bolder', separator: true, text: `${t(describeKind(alert))}: ${t(nameOf(alert))}` },
      { type: 'FactSet', facts: factsOf(alert).map(([k, v]) => ({ title: t(k), value: t(v) })) },
    );
    if (alert.link && actions.length < 5) actions.push({ type: 'Action.OpenUrl', title: 'View in the error log', url: alert.link });
  }
  const more = n.omitted + Math.max(0, n.alerts.length - 10);
  if (more > 0) body.push({ type: 'TextBlock', isSubtle: true, wrap: true, text: `…and ${more} more alert\\(s\\).` });
  const card = { $schema: 'http://adaptivecards.io/schemas/adaptive-card.json', type: 'AdaptiveCard', version: '1.4', body, actions };
  return JSON.stringify({
    type: 'message',
    attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive', contentUrl: null, content: card }],
  });
}
