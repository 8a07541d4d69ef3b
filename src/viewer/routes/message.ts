// One message: the detail page (stack split into in-app and library frames), its JSON, deleting one
// message or a whole search result, and the test error.
import type { NextFunction, Request, Response, Router } from 'express';
import { isLogName } from '../../model/message.js';
import { parseFrame, type StackFrame } from '../../model/stack.js';
import type { ViewerContext } from '../context.js';
import { baseOf, href } from '../links.js';
import { filterOf, listQuery, readListParams } from '../filters.js';
import { queryError } from './list.js';

/** The error `/test` raises through `next(err)`, so the app's own error logger records it. */
export class ElmahTestError extends Error {
  constructor() {
    super('This is a test error raised from the error log viewer (express-elmah). If you can see it in the log, logging works.');
    this.name = 'ElmahTestError';
  }
}

/** A part of the stack view: a text line (the message, a cause) or a run of frames, in-app or not. */
export type StackPart =
  | { kind: 'text'; text: string }
  | { kind: 'frames'; inApp: boolean; frames: StackFrame[] };

/** Splits a stack into text lines and runs of frames, so that library and node: frames can fold away. */
export function stackView(detail: string | undefined): StackPart[] {
  const parts: StackPart[] = [];
  if (!detail) return parts;
  for (const line of detail.split('\n')) {
    const frame = parseFrame(line);
    if (!frame) {
      if (line.trim()) parts.push({ kind: 'text', text: line });
      continue;
    }
    const last = parts[parts.length - 1];
    if (last?.kind === 'frames' && last.inApp === frame.inApp) last.frames.push(frame);
    else parts.push({ kind: 'frames', inApp: frame.inApp, frames: [frame] });
  }
  return parts;
}

/** Adds GET /detail/:id, /json/:id, the delete routes and /test. */
export function messageRoutes(router: Router, v: ViewerContext): void {
  const { o } = v;

  router.get('/detail/:id', v.handle('viewerDetail', async (req, res) => {
    const ctx = v.ctxOf(req);
    const id = v.messageId(req);
    const log = await v.logOfMessage(req, ctx.client, id);
    const message = await ctx.client.get(log, id);
    const [near, same, group] = await Promise.all([
      ctx.client.neighbours(log, id),
      ctx.client.search({ log, query: `fingerprint:"${message.fingerprint}"`, size: 1 }),
      // The aggregate, not a filtered search: only it knows the occurrences counted but not kept in full.
      ctx.client.group(log, message.fingerprint),
    ]);
    await v.render(req, res, 200, 'detail', {
      pageTitle: message.title || message.type, nav: 'list', m: message, stack: stackView(message.detail), near,
      sameCount: same.total, sameExact: same.totalExact, countedOnly: group?.countedOnly ?? 0, logQuery: o.log ? {} : { log },
    });
  }));

  router.get('/json/:id', v.handle('viewerJson', async (req, res) => {
    const ctx = v.ctxOf(req);
    const id = v.messageId(req);
    const message = await ctx.client.get(await v.logOfMessage(req, ctx.client, id), id);
    res.type('application/json').send(JSON.stringify(message, null, 2));
  }));

  router.post('/detail/:id/delete', v.parseForm, v.handle('viewerDeleteOne', async (req, res) => {
    v.requireCsrf(req);
    v.requireDelete(req);
    const ctx = v.ctxOf(req);
    const id = v.messageId(req);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const log = o.log ?? (typeof body.log === 'string' && isLogName(body.log) ? body.log : await v.logOfMessage(req, ctx.client, id));
    const n = await ctx.client.delete(log, { ids: [id] });
    v.caches.invalidate();
    res.redirect(303, href(baseOf(req), '/', { deleted: String(n) }));
  }));

  // Deleting a search result: a confirmation page, then the POST.
  router.get('/delete', v.handle('viewerDeleteConfirm', async (req, res) => {
    v.requireDelete(req);
    const ctx = v.ctxOf(req);
    const { params, problems } = readListParams(req, { size: o.pageSize, pinnedLog: o.log });
    if (problems.length > 0) throw queryError(problems);
    const r = await ctx.client.search({ ...filterOf(params, new Date()), size: 1 });
    await v.render(req, res, 200, 'confirm-delete', {
      pageTitle: 'Delete errors', nav: 'list', params, total: r.total, totalExact: r.totalExact,
      fields: listQuery({ ...params, page: 1, view: 'list', size: o.pageSize }, o.pageSize, o.log),
      cancel: href(baseOf(req), '/', listQuery({ ...params, page: 1, view: 'list' }, o.pageSize, o.log)),
    });
  }));

  router.post('/delete', v.parseForm, v.handle('viewerDeleteSearch', async (req, res) => {
    v.requireCsrf(req);
    v.requireDelete(req);
    const ctx = v.ctxOf(req);
    // The filter travels in the form body; it goes through the same checks as the URL.
    const { params, problems } = readListParams({ query: req.body ?? {} } as unknown as Request, { size: o.pageSize, pinnedLog: o.log });
    if (problems.length > 0) throw queryError(problems);
    const f = filterOf(params, new Date());
    const logs = f.log ? [f.log] : (await ctx.client.logs()).map((l) => l.name);
    let n = 0;
    try {
      for (const log of logs) n += await ctx.client.delete(log, { query: f.query, from: f.from });
    } finally {
      // Even a delete that failed part-way may have removed messages.
      v.caches.invalidate();
    }
    res.redirect(303, href(baseOf(req), '/', { deleted: String(n) }));
  }));

  router.get('/test', v.handle('viewerTestPage', async (req, res) => {
    await v.render(req, res, 200, 'test', { pageTitle: 'Test', nav: 'test' });
  }));

  router.post('/test', v.parseForm, function viewerRaiseTestError(req: Request, res: Response, next: NextFunction) {
    try {
      v.requireCsrf(req);
    } catch (err) {
      void v.fail(req, res, err).catch(next);
      return;
    }
    // Through the app's own error handling, so that its errorLogger records it like any other error.
    next(new ElmahTestError());
  });
}
