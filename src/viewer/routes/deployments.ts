// The deployments page: each version, newest first, when and by whom it went out, and how it performed (errors
// and new groups until the next deployment), a page of versions at a time.
import type { Router } from 'express';
import { isLogName } from '../../model/message.js';
import { MAX_DEPLOYMENTS } from '../caches.js';
import type { ViewerContext } from '../context.js';
import {
  DEPLOYMENTS_KEY_COMMAND,
  canReadDeployments,
  deploymentWindows,
  versionPerformance,
  windowQuery,
  type DeploymentWindow,
} from '../deployments.js';
import { listQuery, param, versionQuery } from '../filters.js';
import { baseOf, href } from '../links.js';

/** Versions per page: each costs a count, so a page stays quick on a big log. */
export const DEPLOYMENTS_PER_PAGE = 10;
/** Pages there can be: the viewer reads the newest {@link MAX_DEPLOYMENTS} deployments. */
const MAX_PAGES = Math.ceil(MAX_DEPLOYMENTS / DEPLOYMENTS_PER_PAGE);

/** Adds GET /deployments. */
export function deploymentRoutes(router: Router, v: Pick<ViewerContext, 'o' | 'requests' | 'caches' | 'pages' | 'failures'>): void {
  const { o, requests, caches, pages, failures } = v;

  router.get(
    '/deployments',
    failures.handle('viewerDeployments', async (req, res) => {
      const ctx = requests.of(req);
      const base = baseOf(req);
      const problems: string[] = [];
      let page = 1;
      const pageText = param(req, 'page').trim();
      if (pageText !== '') {
        const n = /^\d{1,9}$/.test(pageText) ? Number(pageText) : 0;
        if (n >= 1 && n <= MAX_PAGES) page = n;
        else problems.push(`Page must be a whole number from 1 to ${MAX_PAGES}; got "${pageText.slice(0, 40)}".`);
      }
      let log = o.log ?? '';
      const logText = param(req, 'log').trim();
      if (!o.log && logText !== '') {
        if (isLogName(logText)) log = logText;
        else problems.push('A log name is 1-100 letters, digits, ".", "_" or "-".');
      }
      const viewedLog = log || undefined;
      const listLink = (query: string, w: Pick<DeploymentWindow, 'log'>, view?: 'groups') =>
        href(base, '/', listQuery({ view: view ?? 'list', q: query, log: w.log ?? '' }, o.pageSize, o.log));
      const locals = {
        pageTitle: 'Deployments',
        nav: 'deployments',
        logs: o.log ? [] : await caches.logsOf(ctx.client),
        log,
        problems,
        allowed: canReadDeployments(ctx.who),
        keyCommand: DEPLOYMENTS_KEY_COMMAND,
        rows: [] as unknown[],
        total: 0,
        totalExact: true,
        first: 0,
        last: 0,
        pages: 0,
        params: { page },
        linkTo: (change: { page: number }) =>
          href(base, '/deployments', {
            ...(viewedLog && !o.log ? { log } : {}),
            ...(change.page > 1 ? { page: String(change.page) } : {}),
          }),
        versionLink: (w: DeploymentWindow, view?: 'groups') => listLink(versionQuery(w.deployment.version), w, view),
        windowLink: (w: DeploymentWindow) => listLink(windowQuery(w), w),
      };
      if (problems.length > 0) {
        await pages.render(req, res, 400, 'deployments', locals);
        return;
      }
      if (!locals.allowed) {
        await pages.render(req, res, 200, 'deployments', locals);
        return;
      }
      const windows = deploymentWindows(await caches.deploymentsOf(ctx.client, viewedLog), viewedLog);
      const offset = (page - 1) * DEPLOYMENTS_PER_PAGE;
      const rows = await versionPerformance(ctx.client, windows.slice(offset, offset + DEPLOYMENTS_PER_PAGE), viewedLog);
      await pages.render(req, res, 200, 'deployments', {
        ...locals,
        rows,
        total: windows.length,
        totalExact: windows.length < MAX_DEPLOYMENTS,
        first: rows.length > 0 ? offset + 1 : 0,
        last: offset + rows.length,
        pages: Math.max(1, Math.ceil(windows.length / DEPLOYMENTS_PER_PAGE)),
      });
    }),
  );
}
