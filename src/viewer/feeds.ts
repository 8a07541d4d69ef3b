// CSV rows (for /download) and RSS documents (for /rss and /digestrss), escaped for their formats.
import type { ErrorMessage } from '../model/message.js';

/** The CSV columns of /download, in order. */
export const CSV_COLUMNS = [
  'id',
  'log',
  'dateTime',
  'severity',
  'statusCode',
  'type',
  'title',
  'url',
  'method',
  'user',
  'hostname',
  'application',
  'version',
  'source',
  'correlationId',
  'fingerprint',
] as const satisfies readonly (keyof ErrorMessage)[];

/**
 * One CSV cell. Quotes when needed; a cell that a spreadsheet would read as a formula (= + - @, tab,
 * carriage return) gets a leading apostrophe, since message text is attacker-controlled.
 */
export function csvCell(value: unknown): string {
  if (value === undefined || value === null) return '';
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) || text !== text.trim() ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One CSV line (CRLF-terminated, as RFC 4180 asks). */
export function csvRow(values: readonly unknown[]): string {
  return `${values.map(csvCell).join(',')}\r\n`;
}

/** The CSV line of a message. */
export function csvMessage(m: ErrorMessage): string {
  return csvRow(CSV_COLUMNS.map((c) => m[c]));
}

/** Escapes text for XML content and attributes; drops characters XML 1.0 cannot carry. */
export function xml(text: string): string {
  return (
    text
      // eslint-disable-next-line no-control-regex
      .replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '')
      .replace(/&/g, '&amp;')
      .replace(/</g, '&lt;')
      .replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;')
      .replace(/'/g, '&apos;')
  );
}

/** One RSS item. `description` is plain text or HTML; either way it is escaped into the XML. */
export interface FeedItem {
  title: string;
  link: string;
  guid: string;
  date: string;
  description: string;
}

/** An RSS 2.0 document. */
export function rssDocument(channel: { title: string; link: string; description: string }, items: readonly FeedItem[]): string {
  const parts = [
    '<?xml version="1.0" encoding="utf-8"?>',
    '<rss version="2.0">',
    '<channel>',
    `<title>${xml(channel.title)}</title>`,
    `<link>${xml(channel.link)}</link>`,
    `<description>${xml(channel.description)}</description>`,
    '<generator>express-elmah</generator>',
  ];
  for (const it of items) {
    parts.push(
      '<item>',
      `<title>${xml(it.title)}</title>`,
      `<link>${xml(it.link)}</link>`,
      `<guid isPermaLink="false">${xml(it.guid)}</guid>`,
      `<pubDate>${new Date(it.date).toUTCString()}</pubDate>`,
      `<description>${xml(it.description)}</description>`,
      '</item>',
    );
  }
  parts.push('</channel>', '</rss>');
  return parts.join('\n');
}

/** Escapes text for HTML (used inside digest descriptions, which feed readers render as HTML). */
export function html(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}
