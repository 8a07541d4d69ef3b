// Data out of the viewer: the CSV download (streamed page by page with the `after` cursor), the RSS
// feeds, and the about page.
import type { Request, Router } from 'express';
import type { ErrorMessage } from '../../model/message.js';
import type { LogSummary } from '../../client/types.js';
import type { ViewerContext } from '../context.js';
import { baseOf, href } from '../links.js';
import { CSV_COLUMNS, csvMessage, csvRow, html, rssDocument, type FeedItem } from '../feeds.js';
import { filterOf, param, readListParams } from '../filters.js';
import { queryError } from './list.js';

/** Rows read from the store per step while streaming CSV. */
const CSV_BATCH = 500;
/** Default and largest number of rows of one download. */
const CSV_DEFAULT_LIMIT = 10_000;
const CSV_MAX_LIMIT = 1_000_000;
/** Days in the digest feed, and most messages read for it. */
const DIGEST_DAYS = 15;
const DIGEST_MAX = 1000;

function absolute(req: Request, path: string): string {
  return `${req.protocol}://${req.get('host') ?? 'localhost'}${path}`;
}

/** Adds GET /download, /rss, /digestrss and /about. */
export function exportRoutes(
  router: Router,
  v: Pick<ViewerContext, 'o' | 'viewerKey' | 'requests' | 'caches' | 'pages' | 'failures'>,
): void {
  const { o, viewerKey, requests, caches, pages, failures } = v;
  const detailLink = (req: Request, m: ErrorMessage): string =>
    absolute(req, href(baseOf(req), `/detail/${m.id}`, o.log ? {} : { log: m.log }));

  router.get(
    '/download',
    failures.handle('viewerDownload', async (req, res) => {
      const ctx = requests.of(req);
      const { params, problems } = readListParams(req, { size: o.pageSize, pinnedLog: o.log });
      const limitText = param(req, 'limit').trim();
      const limit = limitText === '' ? CSV_DEFAULT_LIMIT : /^\d{1,7}$/.test(limitText) ? Number(limitText) : NaN;
      if (!(limit >= 1 && limit <= CSV_MAX_LIMIT))
        problems.push({ field: 'limit', message: `limit must be a whole number from 1 to ${CSV_MAX_LIMIT}.` });
      if (problems.length > 0) throw queryError(problems);
      const filter = filterOf(params, new Date());
      // The first page is read before any header goes out, so that a failure still gets a proper answer.
      let page = await ctx.client.search({ ...filter, size: Math.min(CSV_BATCH, limit) });
      const stamp = new Date().toISOString().slice(0, 16).replace(/[-:]/g, '').replace('T', '-');
      res.status(200);
      res.setHeader('Content-Type', 'text/csv; charset=utf-8');
      res.setHeader('Content-Disposition', `attachment; filename="errors-${stamp}.csv"`);
      let closed = false;
      res.on('close', () => (closed = true));
      const write = async (chunk: string): Promise<void> => {
        if (res.write(chunk) || closed) return;
        await new Promise<void>((resolve) => {
          // Both listeners go once either fires, so a long export does not pile up 'close' listeners.
          const done = (): void => {
            res.off('drain', done);
            res.off('close', done);
            resolve();
          };
          res.once('drain', done);
          res.once('close', done);
        });
      };
      // A byte-order mark, so that spreadsheets read the file as UTF-8.
      await write(`\uFEFF${csvRow(CSV_COLUMNS)}`);
      let sent = 0;
      for (;;) {
        for (const m of page.messages) {
          if (sent >= limit || closed) break;
          await write(csvMessage(m));
          sent++;
        }
        if (sent >= limit || closed || !page.after) break;
        page = await ctx.client.search({ ...filter, size: Math.min(CSV_BATCH, limit - sent), after: page.after });
      }
      res.end();
    }),
  );

  router.get(
    '/rss',
    failures.handle('viewerRss', async (req, res) => {
      const r = await requests.of(req).client.search({ log: o.log, size: 15 });
      const items: FeedItem[] = r.messages.map((m) => ({
        title: `${m.type}: ${m.title}`.slice(0, 300),
        link: detailLink(req, m),
        guid: `${m.log}/${m.id}`,
        date: m.dateTime,
        // Feed readers render the description as HTML: message text is escaped for HTML, then for XML.
        description: `<p>${html(`${m.statusCode ?? ''} ${m.method ?? ''} ${m.url ?? ''}`.trim())}</p><pre>${html((m.detail ?? '').slice(0, 2000))}</pre>`,
      }));
      const channel = {
        title: `${o.title}: latest errors`,
        link: absolute(req, `${baseOf(req)}/`),
        description: 'The newest errors of the log.',
      };
      res.type('application/rss+xml; charset=utf-8').send(rssDocument(channel, items));
    }),
  );

  router.get(
    '/digestrss',
    failures.handle('viewerDigestRss', async (req, res) => {
      const now = new Date();
      const from = new Date(
        Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate()) - (DIGEST_DAYS - 1) * 86_400_000,
      ).toISOString();
      const r = await requests.of(req).client.search({ log: o.log, from, size: DIGEST_MAX });
      const days = new Map<string, ErrorMessage[]>();
      for (const m of r.messages) {
        const day = m.dateTime.slice(0, 10);
        days.set(day, [...(days.get(day) ?? []), m]);
      }
      const items: FeedItem[] = [...days.entries()].map(([day, list]) => ({
        title: `${day}: ${list.length}${list.length === DIGEST_MAX ? '+' : ''} error${list.length === 1 ? '' : 's'}`,
        link: absolute(req, href(baseOf(req), '/', { q: `dateTime:[${day}T00:00:00Z TO ${day}T23:59:59.999Z]` })),
        guid: `digest/${o.log ?? '*'}/${day}`,
        date: `${day}T23:59:59.999Z`,
        // Feed readers render the description as HTML: every piece of message text is escaped into it.
        description:
          `<ul>${list
            .slice(0, 50)
            .map(
              (m) =>
                `<li><a href="${html(detailLink(req, m))}">${html(`${m.type}: ${m.title}`.slice(0, 300))}</a> ${html(m.dateTime.slice(11, 19))} UTC</li>`,
            )
            .join('')}</ul>` + (list.length > 50 ? `<p>and ${list.length - 50} more</p>` : ''),
      }));
      const channel = { title: `${o.title}: daily digest`, link: absolute(req, `${baseOf(req)}/`), description: 'One item per day.' };
      res.type('application/rss+xml; charset=utf-8').send(rssDocument(channel, items));
    }),
  );

  router.get(
    '/about',
    failures.handle('viewerAbout', async (req, res) => {
      const ctx = requests.of(req);
      const logs = await caches.logsOf(ctx.client).catch(() => [] as LogSummary[]);
      await pages.render(req, res, 200, 'about', {
        pageTitle: 'About',
        nav: 'about',
        store: ctx.client.describe(),
        logs,
        key: ctx.who,
        viewerKeyId: viewerKey.id,
        node: process.version,
      });
    }),
  );
}
