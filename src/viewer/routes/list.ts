// The list of errors and the grouped view, the poll for new errors, and the chart and sparkline images.
import type { Router } from 'express';
import { ElmahError } from '../../model/errors.js';
import { isLogName } from '../../model/message.js';
import { IS_VALUES, KEYWORD_FIELDS, TEXT_FIELDS } from '../../model/query.js';
import { NARROW, WIDE, barChart, bucketLabel, chartWindow, mostlyEmpty, rangeLabel, sparkline, withTimeRange } from '../chart.js';
import type { ViewerContext } from '../context.js';
import { deploymentsBetween, deploymentsToShow } from '../deployments.js';
import { baseOf, href } from '../links.js';
import {
  PAGE_SIZES,
  SINCE,
  STATE_FILTERS,
  filterOf,
  listQuery,
  param,
  readListParams,
  statesOf,
  versionQuery,
  withTerm,
  type ListParams,
  type ParamProblem,
  type Since,
} from '../filters.js';

/** The fields of the search language, as the search help lists them. */
const SEARCH_FIELDS = {
  text: [...TEXT_FIELDS, 'message'],
  keyword: KEYWORD_FIELDS.filter((f) => f !== 'dateTime'),
  is: IS_VALUES,
};

/** The occurrences an "ignore for N more" button names (groups view and detail page). */
export const IGNORE_MORE = 100;

/** Points of a sparkline. */
const SPARK_BUCKETS = 28;

/** ERR_ELMAH_QUERY for parameters that the list page would show as problems. */
export function queryError(problems: readonly ParamProblem[]): ElmahError {
  return new ElmahError('ERR_ELMAH_QUERY', problems.map((p) => p.message).join(' '));
}

/** The counts of the chart of a filter: the list's range in its usual buckets, or in finer ones where those are mostly empty. */
async function chartCounts(
  caches: ViewerContext['caches'],
  client: ReturnType<ViewerContext['requests']['of']>['client'],
  filter: ReturnType<typeof filterOf>,
  since: Since | '',
  now: Date,
) {
  const h = await caches.histogram(client, { ...filter, ...chartWindow(since, now) });
  const fine = chartWindow(since, now, true);
  if (fine.buckets === h.counts.length || !mostlyEmpty(h.counts)) return h;
  return caches.histogram(client, { ...filter, ...fine });
}

/** What the groups view says after its buttons changed the state of the ticked groups (`triaged`, `changed`). */
export function triageNotice(triaged: string, changed: string): { ok: boolean; text: string } | undefined {
  if (triaged === 'none') return { ok: false, text: 'No group was ticked: tick the groups to change, then press a button.' };
  if (!/^\d{1,4}$/.test(changed)) return undefined;
  const n = Number(changed);
  const groups = n === 1 ? '1 group' : `${n} groups`;
  if (triaged === 'resolved') return { ok: true, text: `Resolved ${groups}.` };
  if (triaged === 'ignored') return { ok: true, text: `Ignoring ${groups}.` };
  if (triaged === 'open') return { ok: true, text: `Reopened ${groups}.` };
  return undefined;
}

/** Adds GET /, /poll, /chart.svg and /spark.svg. */
export function listRoutes(router: Router, v: Pick<ViewerContext, 'o' | 'requests' | 'caches' | 'pages' | 'failures'>): void {
  const { o, requests, caches, pages, failures } = v;
  const read = (req: Parameters<typeof readListParams>[0]) => readListParams(req, { size: o.pageSize, pinnedLog: o.log });

  router.get(
    '/',
    failures.handle('viewerList', async (req, res) => {
      const ctx = requests.of(req);
      const now = new Date();
      const base = baseOf(req);
      const { params, problems } = read(req);
      const logs = o.log ? [] : await caches.logsOf(ctx.client);
      const deleted = /^\d{1,9}$/.test(param(req, 'deleted')) ? Number(param(req, 'deleted')) : undefined;
      const triaged = params.view === 'groups' ? triageNotice(param(req, 'triaged'), param(req, 'changed')) : undefined;
      const common = {
        params,
        problems,
        logs,
        deleted,
        triaged,
        pageSizes: PAGE_SIZES,
        defaultSize: o.pageSize,
        searchFields: SEARCH_FIELDS,
        refine: withTerm,
        sinceOptions: Object.keys(SINCE),
        stateFilters: STATE_FILTERS,
        linkTo: (change: Partial<ListParams>) => href(base, '/', listQuery({ ...params, page: 1, ...change }, o.pageSize, o.log)),
        filterQuery: listQuery({ ...params, page: 1, view: 'list' }, o.pageSize, o.log),
        versionLink: (version: string) =>
          href(base, '/', listQuery({ view: params.view, log: params.log, q: versionQuery(version) }, o.pageSize, o.log)),
        chartDeployments: [] as unknown[],
      };
      if (problems.length > 0) {
        await pages.render(req, res, 400, 'list', {
          ...common,
          pageTitle: 'Errors',
          nav: params.view,
          messages: [],
          groups: [],
          total: 0,
          totalExact: true,
          first: 0,
          last: 0,
          pages: 0,
          chart: undefined,
        });
        return;
      }
      const filter = filterOf(params, now);
      const [h, allDeployments] = await Promise.all([
        chartCounts(caches, ctx.client, filter, params.since, now),
        deploymentsToShow(ctx.client, ctx.who, caches, filter.log),
      ]);
      common.chartDeployments = deploymentsBetween(allDeployments, h.from, h.to);
      // A bar links to the list of its time range: the search narrowed by dateTime, the other filters kept.
      const barLink = (from: string, to: string) =>
        href(
          base,
          '/',
          listQuery({ ...params, q: withTimeRange(params.q, from, to), since: '', page: 1, view: 'list' }, o.pageSize, o.log),
        );
      const chart = {
        wide: barChart(h, allDeployments, WIDE, barLink),
        narrow: barChart(h, allDeployments, NARROW, barLink),
        range: rangeLabel(params.since),
        bucket: bucketLabel(h.bucketMs),
      };
      const offset = (params.page - 1) * params.size;
      if (params.view === 'groups') {
        const r = await ctx.client.groups({ ...filter, status: statesOf(params), page: params.page - 1, size: params.size });
        await pages.render(req, res, 200, 'list', {
          ...common,
          pageTitle: 'Error groups',
          nav: 'groups',
          messages: [],
          groups: r.groups,
          returnFields: listQuery({ ...params, view: 'groups' }, o.pageSize, o.log),
          ignoreMore: IGNORE_MORE,
          total: r.total,
          totalExact: true,
          first: r.groups.length > 0 ? offset + 1 : 0,
          last: offset + r.groups.length,
          pages: Math.max(1, Math.ceil(r.total / params.size)),
          chart,
          sparkSrc: (g: { log: string; fingerprint: string }) =>
            href(base, '/spark.svg', { log: g.log, fingerprint: g.fingerprint, ...(params.since ? { since: params.since } : {}) }),
        });
        return;
      }
      const r = await ctx.client.search({ ...filter, page: params.page - 1, size: params.size });
      const refresh = params.page === 1 && o.refreshSeconds > 0;
      await pages.render(req, res, 200, 'list', {
        ...common,
        pageTitle: 'Errors',
        nav: 'list',
        messages: r.messages,
        groups: [],
        total: r.total,
        totalExact: r.totalExact,
        first: r.messages.length > 0 ? offset + 1 : 0,
        last: offset + r.messages.length,
        pages: Math.max(1, Math.ceil(r.total / params.size)),
        chart,
        poll: refresh
          ? {
              url: href(base, '/poll', listQuery({ ...params, page: 1, view: 'list' }, o.pageSize, o.log)),
              newest: r.messages[0]?.id ?? '',
              // A count of new errors is the poll's total minus this one only over a fixed start and an exact
              // count; with `since` old errors leave the window as new ones come, so the notice then names none.
              total: params.since || !r.totalExact ? -1 : r.total,
              seconds: o.refreshSeconds,
            }
          : undefined,
      });
    }),
  );

  // The newest id for the current filter: the page script compares it with the one it shows.
  router.get(
    '/poll',
    failures.handle('viewerPoll', async (req, res) => {
      const { params, problems } = read(req);
      if (problems.length > 0) throw queryError(problems);
      const r = await requests.of(req).client.search({ ...filterOf(params, new Date()), size: 1 });
      res.json({ newest: r.messages[0]?.id ?? null, total: r.total });
    }),
  );

  router.get(
    '/chart.svg',
    failures.handle('viewerChart', async (req, res) => {
      const now = new Date();
      const { params, problems } = read(req);
      if (problems.length > 0) throw queryError(problems);
      const ctx = requests.of(req);
      const filter = filterOf(params, now);
      const [h, deployments] = await Promise.all([
        chartCounts(caches, ctx.client, filter, params.since, now),
        deploymentsToShow(ctx.client, ctx.who, caches, filter.log),
      ]);
      res.type('image/svg+xml').send(await pages.svg('chart', { chart: barChart(h, deployments) }));
    }),
  );

  router.get(
    '/spark.svg',
    failures.handle('viewerSparkline', async (req, res) => {
      const fingerprint = param(req, 'fingerprint');
      const log = o.log ?? param(req, 'log');
      const since = param(req, 'since');
      if (!/^[A-Za-z0-9_-]{1,128}$/.test(fingerprint) || !isLogName(log)) throw new ElmahError('ERR_ELMAH_NOT_FOUND', 'No such group.');
      const w = chartWindow(since in SINCE ? (since as Since) : '', new Date());
      const h = await caches.histogram(requests.of(req).client, {
        log,
        query: `fingerprint:"${fingerprint}"`,
        from: w.from,
        to: w.to,
        buckets: SPARK_BUCKETS,
      });
      res.type('image/svg+xml').send(await pages.svg('spark', { points: sparkline(h.counts), total: h.counts.reduce((a, b) => a + b, 0) }));
    }),
  );
}
