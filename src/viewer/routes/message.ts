// One message: the detail page (stack split into in-app and library frames), its JSON, deleting one
// message or a whole search result, and the test error.
import type { NextFunction, Request, Response, Router } from 'express';
import type { LogClient } from '../../client/types.js';
import { ElmahError } from '../../model/errors.js';
import type { KeyInfo } from '../../model/keys.js';
import { MESSAGE_ID_PATTERN, isLogName } from '../../model/message.js';
import { requirePermission } from '../../model/permissions.js';
import { parseFrame, type StackFrame } from '../../model/stack.js';
import { OPEN_STATE } from '../../model/triage.js';
import type { ViewerContext } from '../context.js';
import { contextView } from '../context-view.js';
import { baseOf, href } from '../links.js';
import { filterOf, listQuery, param, readListParams } from '../filters.js';
import { queryError } from './list.js';

/** The error `/test` raises through `next(err)`, so the app's own error logger records it. */
export class ElmahTestError extends Error {
  constructor() {
    super('This is a test error raised from the error log viewer (express-elmah). If you can see it in the log, logging works.');
    this.name = 'ElmahTestError';
  }
}

/** A part of the stack view: a text line (the message, a cause) or a run of frames, in-app or not. */
export type StackPart = { kind: 'text'; text: string } | { kind: 'frames'; inApp: boolean; frames: StackFrame[] };

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

/** The message id of the URL; a malformed one is simply not found. */
function messageId(req: Request): string {
  const id = String(req.params.id);
  if (!MESSAGE_ID_PATTERN.test(id)) throw new ElmahError('ERR_ELMAH_NOT_FOUND', 'No message with that id.');
  return id;
}

/** The log a message lives in: pinned, named in the URL, or found by its id. */
async function logOfMessage(req: Request, client: LogClient, id: string, pinnedLog: string | undefined): Promise<string> {
  if (pinnedLog) return pinnedLog;
  const named = param(req, 'log');
  if (named) {
    if (!isLogName(named)) throw new ElmahError('ERR_ELMAH_NOT_FOUND', `No message ${id}.`);
    return named;
  }
  const r = await client.search({ query: `id:"${id}"`, size: 1 });
  const found = r.messages[0];
  if (!found) throw new ElmahError('ERR_ELMAH_NOT_FOUND', `No message ${id} in the logs this key may read.`);
  return found.log;
}

/** The message a detail page form posts about: its id, the form's fields, and its log (sent with the form, or found). */
async function postedMessage(
  req: Request,
  client: LogClient,
  pinnedLog: string | undefined,
): Promise<{ id: string; body: Record<string, unknown>; log: string }> {
  const id = messageId(req);
  const body = (req.body ?? {}) as Record<string, unknown>;
  const log =
    pinnedLog ?? (typeof body.log === 'string' && isLogName(body.log) ? body.log : await logOfMessage(req, client, id, pinnedLog));
  return { id, body, log };
}

/** Throws ERR_ELMAH_PERMISSION unless the request's key carries messages_delete. */
function requireDelete(who: KeyInfo): void {
  requirePermission(who, 'messages_delete', undefined, { help: 'Deleting needs a key with messages_delete.' });
}

/** Throws ERR_ELMAH_PERMISSION unless the request's key carries groups_write. */
function requireTriage(who: KeyInfo): void {
  requirePermission(who, 'groups_write', undefined, {
    help: 'Changing the state of a group needs a key with groups_write (express-elmah keys create --permissions messages_read,groups_write).',
  });
}

/** The notices the detail page shows after a change of state (the `triaged` parameter of the redirect). */
const TRIAGE_NOTICES: Record<string, string> = {
  resolved: 'Resolved this group.',
  ignored: 'Ignoring this group.',
  open: 'Reopened this group.',
};

/** An ignore lasting a day. */
const DAY_MS = 86_400_000;
/** The occurrences an "ignore for N more" button names. */
const IGNORE_MORE = 100;

/**
 * The change of state a detail page button asks for (`action` of the form), as the client takes it;
 * ERR_ELMAH_INVALID_STATE for an unknown action.
 */
export function changeOfForm(body: Record<string, unknown>, fingerprint: string, now: Date): Record<string, unknown> {
  const fingerprints = [fingerprint];
  switch (body.action) {
    case 'resolve':
      return { fingerprints, status: 'resolved' };
    case 'resolve-version':
      return { fingerprints, status: 'resolved', inVersion: typeof body.version === 'string' ? body.version : undefined };
    case 'ignore':
      return { fingerprints, status: 'ignored' };
    case 'ignore-day':
      return { fingerprints, status: 'ignored', until: new Date(now.getTime() + DAY_MS).toISOString() };
    case 'ignore-more':
      return { fingerprints, status: 'ignored', occurrences: IGNORE_MORE };
    case 'reopen':
      return { fingerprints, status: 'open' };
    default:
      throw new ElmahError('ERR_ELMAH_INVALID_STATE', 'Unknown action on a group.', {
        help: 'Use the buttons of the detail page: resolve, resolve-version, ignore, ignore-day, ignore-more or reopen.',
      });
  }
}

/** Adds GET /detail/:id, /json/:id, the delete and group state routes and /test. */
export function messageRoutes(
  router: Router,
  v: Pick<ViewerContext, 'o' | 'requests' | 'caches' | 'csrf' | 'pages' | 'failures' | 'parseForm'>,
): void {
  const { o, requests, caches, csrf, pages, failures, parseForm } = v;

  router.get(
    '/detail/:id',
    failures.handle('viewerDetail', async (req, res) => {
      const ctx = requests.of(req);
      const id = messageId(req);
      const log = await logOfMessage(req, ctx.client, id, o.log);
      const message = await ctx.client.get(log, id);
      const [near, same, group] = await Promise.all([
        ctx.client.neighbours(log, id),
        ctx.client.search({ log, query: `fingerprint:"${message.fingerprint}"`, size: 1 }),
        // The aggregate, not a filtered search: only it knows the occurrences counted but not kept in full.
        ctx.client.group(log, message.fingerprint),
      ]);
      await pages.render(req, res, 200, 'detail', {
        pageTitle: message.title || message.type,
        nav: 'list',
        m: message,
        stack: stackView(message.detail),
        context: contextView(message),
        near,
        sameCount: same.total,
        sameExact: same.totalExact,
        countedOnly: group?.countedOnly ?? 0,
        state: group?.state ?? OPEN_STATE,
        ignoreMore: IGNORE_MORE,
        triaged: TRIAGE_NOTICES[param(req, 'triaged')] ?? '',
        logQuery: o.log ? {} : { log },
      });
    }),
  );

  router.get(
    '/json/:id',
    failures.handle('viewerJson', async (req, res) => {
      const ctx = requests.of(req);
      const id = messageId(req);
      const message = await ctx.client.get(await logOfMessage(req, ctx.client, id, o.log), id);
      res.type('application/json').send(JSON.stringify(message, null, 2));
    }),
  );

  router.post(
    '/detail/:id/delete',
    parseForm,
    failures.handle('viewerDeleteOne', async (req, res) => {
      csrf.require(req);
      const ctx = requests.of(req);
      requireDelete(ctx.who);
      const { id, log } = await postedMessage(req, ctx.client, o.log);
      const n = await ctx.client.delete(log, { ids: [id] });
      caches.invalidate();
      res.redirect(303, href(baseOf(req), '/', { deleted: String(n) }));
    }),
  );

  // Changing the state of the message's group: resolve, ignore or reopen, then back to the page.
  router.post(
    '/detail/:id/state',
    parseForm,
    failures.handle('viewerGroupState', async (req, res) => {
      csrf.require(req);
      const ctx = requests.of(req);
      requireTriage(ctx.who);
      const { id, body, log } = await postedMessage(req, ctx.client, o.log);
      const message = await ctx.client.get(log, id);
      const input = changeOfForm(body, message.fingerprint, new Date());
      await ctx.client.setGroupState(log, input);
      caches.invalidate();
      res.redirect(303, href(baseOf(req), `/detail/${id}`, { ...(o.log ? {} : { log }), triaged: String(input.status) }));
    }),
  );

  // Deleting a search result: a confirmation page, then the POST.
  router.get(
    '/delete',
    failures.handle('viewerDeleteConfirm', async (req, res) => {
      const ctx = requests.of(req);
      requireDelete(ctx.who);
      const { params, problems } = readListParams(req, { size: o.pageSize, pinnedLog: o.log });
      if (problems.length > 0) throw queryError(problems);
      const r = await ctx.client.search({ ...filterOf(params, new Date()), size: 1 });
      await pages.render(req, res, 200, 'confirm-delete', {
        pageTitle: 'Delete errors',
        nav: 'list',
        params,
        total: r.total,
        totalExact: r.totalExact,
        fields: listQuery({ ...params, page: 1, view: 'list', size: o.pageSize }, o.pageSize, o.log),
        cancel: href(baseOf(req), '/', listQuery({ ...params, page: 1, view: 'list' }, o.pageSize, o.log)),
      });
    }),
  );

  router.post(
    '/delete',
    parseForm,
    failures.handle('viewerDeleteSearch', async (req, res) => {
      csrf.require(req);
      const ctx = requests.of(req);
      requireDelete(ctx.who);
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
        caches.invalidate();
      }
      res.redirect(303, href(baseOf(req), '/', { deleted: String(n) }));
    }),
  );

  router.get(
    '/test',
    failures.handle('viewerTestPage', async (req, res) => {
      await pages.render(req, res, 200, 'test', { pageTitle: 'Test', nav: 'test' });
    }),
  );

  router.post('/test', parseForm, function viewerRaiseTestError(req: Request, res: Response, next: NextFunction) {
    try {
      csrf.require(req);
    } catch (err) {
      void failures.fail(req, res, err).catch(next);
      return;
    }
    // Through the app's own error handling, so that its errorLogger records it like any other error.
    next(new ElmahTestError());
  });
}
